//! Customer notifications end to end: claims change over HTTP, the outbox
//! is delivered to the notifications consumer (more than once, as at-least-
//! once delivery may), and the customer reads each step once, in the
//! order's language, in their inbox; the SMS sink gets one text per step
//! that sends one. On both storage engines; plus the SNS adapter against
//! moto and the stream glue on records moto's DynamoDB stream produced.

use aftersales::adapters::sms_file::FileSms;
use aftersales::adapters::sms_sns::SnsSms;
use aftersales::app::dispatch::{deliver, drain_outbox, Consumer};
use aftersales::app::Services;
use aftersales::ports::{PortError, SmsSender};
use aftersales::repo;
use aftersales::store::Table;
use aftersales_tests::http::{sample_order, spawn_app, TestApp};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

struct World {
    app: TestApp,
    /// What the consumers run with: the app's table, SMS into `sms`.
    services: Services,
    sms: PathBuf,
    _dir: tempfile::TempDir,
}

async fn world_on(engine: &str) -> World {
    let table: Arc<dyn Table> = match engine {
        "sqlite" => Arc::new(aftersales_tests::sqlite_table()),
        _ => Arc::new(aftersales_tests::dynamo_table().await),
    };
    let app = spawn_app(table.clone()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let sms = dir.path().join("sms.jsonl");
    let mut services = Services::new(table);
    services.sms = Arc::new(FileSms::new(&sms));
    World {
        app,
        services,
        sms,
        _dir: dir,
    }
}

async fn push_order(app: &TestApp, order: &str, customer: &str, lang: &str, phone: Option<&str>) {
    let mut body = sample_order(customer);
    body["language"] = json!(lang);
    if let Some(p) = phone {
        body["customer_phone"] = json!(p);
    }
    assert_eq!(app.put_order("shop-1", order, &body).await, 201);
}

/// One T-shirt of L1 back: 88.94 (see claims_http.rs for the arithmetic).
async fn file_claim(app: &TestApp, customer: &str, order: &str) -> String {
    let body = json!({"shop_id": "shop-1", "order_id": order, "type": "return_refund",
                      "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 1}]});
    let (s, v) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer(customer)),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["claim_id"].as_str().expect("claim_id").to_string()
}

async fn cancel(app: &TestApp, customer: &str, claim: &str) {
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{claim}/cancel"),
            Some(&app.customer(customer)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

fn short(claim_id: &str) -> String {
    let tail: String = claim_id.chars().skip(claim_id.len() - 8).collect();
    format!("#{}", tail.to_uppercase())
}

/// Every pending event to the notifications consumer twice (what a
/// redelivery does), then the regular drain (a third delivery, to every
/// consumer), then drains until nothing is left (the rules consumer may
/// decide a claim, which makes more events).
async fn deliver_with_redeliveries(s: &Services) -> Vec<repo::OutboxEvent> {
    let pending = repo::outbox::pending(&*s.table, 100)
        .await
        .expect("pending");
    for e in &pending {
        for _ in 0..2 {
            deliver(s, Consumer::Notifications, e)
                .await
                .unwrap_or_else(|err| panic!("{} ({}): {err}", e.event_id, e.event_type));
        }
    }
    assert_eq!(drain_outbox(s, 100).await.expect("drain"), pending.len());
    for _ in 0..10 {
        if drain_outbox(s, 100).await.expect("drain") == 0 {
            return pending;
        }
    }
    panic!("the outbox does not run dry")
}

async fn inbox(app: &TestApp, customer: &str, query: &str) -> Value {
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/inbox{query}"),
            Some(&app.customer(customer)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn events_of(page: &Value) -> Vec<&str> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["event"].as_str().expect("event"))
        .collect()
}

async fn every_step_reaches_the_inbox_once_in_the_orders_language(engine: &str) {
    let w = world_on(engine).await;
    let app = &w.app;
    push_order(app, "o-en", "alice", "en", Some("+15555550101")).await;
    push_order(app, "o-zh", "bob", "zh-CN", Some("+8613800138000")).await;
    push_order(app, "o-nophone", "dave", "en", None).await;
    let a = file_claim(app, "alice", "o-en").await;
    cancel(app, "alice", &a).await;
    let b = file_claim(app, "bob", "o-zh").await;
    cancel(app, "bob", &b).await;
    let d = file_claim(app, "dave", "o-nophone").await;

    let events = deliver_with_redeliveries(&w.services).await;
    let submitted: Vec<&repo::OutboxEvent> = events
        .iter()
        .filter(|e| e.event_type == "claim.submitted")
        .collect();
    assert_eq!(submitted.len(), 3);

    // Alice: both steps once, newest first, in English.
    let page = inbox(app, "alice", "").await;
    assert_eq!(events_of(&page), ["cancelled", "submitted"], "{page}");
    assert_eq!(page["unread"], 2, "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
    let msgs = page["messages"].as_array().unwrap();
    for m in msgs {
        assert_eq!(
            (&m["claim_id"], &m["shop_id"], &m["language"], &m["read_at"]),
            (&json!(a), &json!("shop-1"), &json!("en"), &Value::Null),
            "{m}"
        );
        assert!(m["body"].as_str().unwrap().contains(&short(&a)), "{m}");
    }
    assert_eq!(msgs[0]["title"], "Claim cancelled");
    assert_eq!(msgs[1]["title"], "Claim received");
    assert!(
        msgs[1]["body"].as_str().unwrap().starts_with(&format!(
            "We have received your claim {} for CNY 88.94.",
            short(&a)
        )),
        "{}",
        msgs[1]["body"]
    );

    // Bob: the same steps in Chinese.
    let page = inbox(app, "bob", "").await;
    assert_eq!(events_of(&page), ["cancelled", "submitted"], "{page}");
    let msgs = page["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["title"], "售后申请已撤销");
    assert_eq!(msgs[1]["title"], "售后申请已提交");
    assert!(
        msgs[1]["body"]
            .as_str()
            .unwrap()
            .contains(&format!("{}，申请金额 ¥88.94。", short(&b))),
        "{}",
        msgs[1]["body"]
    );
    assert!(msgs
        .iter()
        .all(|m| m["language"] == "zh-CN" && m["claim_id"] == b));

    // Pages of one, newest first.
    let first = inbox(app, "alice", "?limit=1").await;
    assert_eq!(events_of(&first), ["cancelled"]);
    assert_eq!(first["unread"], 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let second = inbox(app, "alice", &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(events_of(&second), ["submitted"]);
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    // Alice's cursor does not open Bob's inbox.
    let (s, e) = app
        .call(
            "GET",
            &format!("/v1/inbox?cursor={cursor}"),
            Some(&app.customer("bob")),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (422, &json!("invalid_cursor")),
        "{e}"
    );

    // Mark read: once counts, twice changes nothing.
    let id = msgs_id(&inbox(app, "alice", "").await, 1);
    let read = format!("/v1/inbox/{id}/read");
    let (s, r) = app
        .call("POST", &read, Some(&app.customer("alice")), None, &[])
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["unread"], 1, "{r}");
    assert_eq!(r["message"]["message_id"], id);
    let read_at = r["message"]["read_at"]
        .as_str()
        .expect("read_at")
        .to_string();
    let (s, again) = app
        .call("POST", &read, Some(&app.customer("alice")), None, &[])
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        (&again["unread"], &again["message"]["read_at"]),
        (&json!(1), &json!(read_at))
    );
    let page = inbox(app, "alice", "").await;
    assert_eq!(page["unread"], 1);
    assert_eq!(page["messages"][1]["read_at"], json!(read_at));
    assert_eq!(page["messages"][0]["read_at"], Value::Null);

    // Nobody else sees or touches Alice's messages.
    let (s, e) = app
        .call("POST", &read, Some(&app.customer("bob")), None, &[])
        .await;
    assert_eq!((s, &e["error"]["code"]), (404, &json!("not_found")), "{e}");
    let bobs = inbox(app, "bob", "").await;
    assert!(!bobs.to_string().contains(&a), "{bobs}");
    assert_eq!(bobs["unread"], 2, "Alice's read did not touch Bob's count");
    let carol = inbox(app, "carol", "").await;
    assert_eq!(
        carol,
        json!({"messages": [], "unread": 0, "next_cursor": null})
    );
    let staff = app.staff("st-1", "shop-1", &[]);
    for (method, path) in [("GET", "/v1/inbox"), ("POST", read.as_str())] {
        let (s, e) = app.call(method, path, Some(&staff), None, &[]).await;
        assert_eq!((s, &e["error"]["code"]), (403, &json!("forbidden")), "{e}");
        let (s, _) = app.call(method, path, None, None, &[]).await;
        assert_eq!(s, 401);
    }

    // Dave has no phone: his inbox has the steps (submitted, and whatever
    // the shop's rules decided since), no text went out.
    let page = inbox(app, "dave", "").await;
    assert_eq!(events_of(&page).last(), Some(&"submitted"), "{page}");
    let msgs = page["messages"].as_array().unwrap();
    assert!(msgs.iter().all(|m| m["claim_id"] == json!(d)), "{page}");

    // One text per SMS-worthy step (submitted; a cancellation is the
    // customer's own act), in spite of three deliveries each.
    let sent = FileSms::read_all(&w.sms).expect("sms sink");
    let mut got: Vec<(&str, &str)> = sent
        .iter()
        .map(|l| (l.phone.as_str(), l.dedupe_id.as_str()))
        .collect();
    got.sort_unstable();
    let alice_event = submitted.iter().find(|e| e.subject == a).unwrap();
    let bob_event = submitted.iter().find(|e| e.subject == b).unwrap();
    let mut want = vec![
        ("+15555550101", alice_event.event_id.as_str()),
        ("+8613800138000", bob_event.event_id.as_str()),
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{sent:?}");
    let alice_text = &sent
        .iter()
        .find(|l| l.phone == "+15555550101")
        .unwrap()
        .text;
    assert!(
        alice_text.starts_with("[After-sales] Claim received: We have received your claim"),
        "{alice_text}"
    );
    let bob_text = &sent
        .iter()
        .find(|l| l.phone == "+8613800138000")
        .unwrap()
        .text;
    assert!(
        bob_text.starts_with("【售后服务】售后申请已提交："),
        "{bob_text}"
    );
}

fn msgs_id(page: &Value, i: usize) -> String {
    page["messages"][i]["message_id"]
        .as_str()
        .expect("message_id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_reaches_the_inbox_once_on_sqlite() {
    every_step_reaches_the_inbox_once_in_the_orders_language("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_reaches_the_inbox_once_on_dynamodb() {
    every_step_reaches_the_inbox_once_in_the_orders_language("dynamodb").await;
}

/// An SMS provider that fails its first calls, then works; counts calls.
struct Flaky {
    failures_left: AtomicUsize,
    permanent: bool,
    calls: AtomicUsize,
    sent: Mutex<Vec<String>>,
}

impl Flaky {
    fn new(failures: usize, permanent: bool) -> Arc<Self> {
        Arc::new(Flaky {
            failures_left: AtomicUsize::new(failures),
            permanent,
            calls: AtomicUsize::new(0),
            sent: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait::async_trait]
impl SmsSender for Flaky {
    async fn send(&self, _phone: &str, _text: &str, dedupe_id: &str) -> Result<(), PortError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let left = self.failures_left.load(Ordering::SeqCst);
        if left > 0 {
            self.failures_left.store(left - 1, Ordering::SeqCst);
            return Err(if self.permanent {
                PortError::Permanent("not a number we deliver to".into())
            } else {
                PortError::Transient("provider timed out".into())
            });
        }
        self.sent.lock().unwrap().push(dedupe_id.to_string());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_delays_the_text_but_never_doubles_the_message() {
    let mut w = world_on("sqlite").await;
    let flaky = Flaky::new(2, false);
    w.services.sms = flaky.clone();
    push_order(&w.app, "o-1", "alice", "en", Some("+15555550102")).await;
    let claim = file_claim(&w.app, "alice", "o-1").await;
    let event = repo::outbox::pending(&*w.services.table, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.subject == claim)
        .expect("claim.submitted is pending");

    // The delivery fails (and would be retried) while the provider fails.
    let notify = || deliver(&w.services, Consumer::Notifications, &event);
    assert!(notify().await.is_err());
    assert!(notify().await.is_err());
    let page = inbox(&w.app, "alice", "").await;
    assert_eq!(
        events_of(&page),
        ["submitted"],
        "the inbox did not wait for the SMS"
    );
    assert_eq!(page["unread"], 1);
    notify().await.expect("the provider is back");
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    assert_eq!(*flaky.sent.lock().unwrap(), vec![event.event_id.clone()]);

    // A late redelivery sends nothing and adds nothing.
    notify().await.unwrap();
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    let page = inbox(&w.app, "alice", "").await;
    assert_eq!((events_of(&page).len(), &page["unread"]), (1, &json!(1)));
    let marker = repo::sms_sent::get(&*w.services.table, &event.event_id)
        .await
        .unwrap()
        .expect("marker");
    assert_eq!(marker.status, repo::SmsStatus::Sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_number_is_recorded_and_not_retried() {
    let mut w = world_on("sqlite").await;
    let flaky = Flaky::new(1, true);
    w.services.sms = flaky.clone();
    push_order(&w.app, "o-1", "alice", "zh-CN", Some("+15555550103")).await;
    let claim = file_claim(&w.app, "alice", "o-1").await;
    let submitted = repo::outbox::pending(&*w.services.table, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.subject == claim)
        .expect("claim.submitted is pending");
    for _ in 0..3 {
        deliver(&w.services, Consumer::Notifications, &submitted)
            .await
            .expect("a refused number is not an error to retry");
    }
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
    let marker = repo::sms_sent::get(&*w.services.table, &submitted.event_id)
        .await
        .unwrap()
        .expect("marker");
    assert_eq!(marker.status, repo::SmsStatus::Failed);
    assert_eq!(marker.error.as_deref(), Some("not a number we deliver to"));
    assert_eq!(events_of(&inbox(&w.app, "alice", "").await), ["submitted"]);
}

// ------------------------------------------------------------------ SNS

/// A phone number no other test uses, as the emulator keeps every SMS.
fn unique_phone() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 10_000_000;
    format!("+1555{n:07}")
}

async fn sms_in_moto(phone: &str) -> Vec<String> {
    let url = format!("{}/moto-api/data.json", aftersales_tests::moto::endpoint());
    aftersales::providers::install_crypto_provider();
    let data: Value = reqwest::get(&url)
        .await
        .expect("moto answers")
        .json()
        .await
        .expect("moto's data is JSON");
    data["sns"]["SMS"]
        .as_array()
        .unwrap_or_else(|| panic!("moto's data has no sns.SMS list: {data}"))
        .iter()
        .filter(|m| m["phone_number"] == phone)
        .map(|m| m["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn sns_adapter_publishes_to_the_phone_number() {
    let config = aftersales_tests::moto::sdk_config().await;
    let sns = SnsSms::from_config(&config, Some("AfterSales".into()));
    let phone = unique_phone();
    let text = "【售后服务】售后申请已提交：我们已收到您的售后申请 #3E4F5A6B。";
    sns.send(&phone, text, "evt-1").await.expect("published");
    assert_eq!(sms_in_moto(&phone).await, vec![text.to_string()]);

    // A number SNS would refuse is refused before any request, for good.
    let err = sns
        .send("13800138000", "hello", "evt-2")
        .await
        .expect_err("not E.164");
    assert!(matches!(err, PortError::Permanent(_)), "{err}");
    // The emulator refusing (message over its 1600 limit) is permanent too.
    let err = sns
        .send(&phone, &"x".repeat(1700), "evt-3")
        .await
        .expect_err("too long");
    assert!(matches!(err, PortError::Permanent(_)), "{err}");
    assert_eq!(sms_in_moto(&phone).await.len(), 1);
}

// ------------------------------------------------------------ the stream

/// Every record of the table's stream so far, as Lambda hands them over.
async fn stream_event(table: &aftersales::store::dynamodb::DynamoTable) -> Value {
    json!({ "Records": aftersales_tests::streams::records(table).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_records_from_dynamodb_reach_the_consumer_once() {
    use aftersales::lambda_stream;
    use lambda_http::aws_lambda_events::event::dynamodb::Event;

    let table = aftersales_tests::dynamo_table().await;
    let app = spawn_app(Arc::new(table.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let sms = dir.path().join("sms.jsonl");
    let mut services = Services::new(Arc::new(table.clone()));
    services.sms = Arc::new(FileSms::new(&sms));
    push_order(&app, "o-1", "alice", "en", Some("+15555550104")).await;
    let claim = file_claim(&app, "alice", "o-1").await;
    cancel(&app, "alice", &claim).await;

    // Orders, claims and outbox items, inserted and modified: the stream as
    // it is before any filter.
    let raw = stream_event(&table).await;
    let names: Vec<&str> = raw["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"MODIFY") && names.len() > 3, "{names:?}");
    let event: Event = serde_json::from_value(raw.clone()).expect("a Lambda DynamoDB event");
    let outbox: Vec<_> = event
        .records
        .iter()
        .filter_map(|r| lambda_stream::outbox_event(r).expect("decodes"))
        .collect();
    let types: Vec<&str> = outbox.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["order.created", "claim.submitted", "claim.cancelled"]
    );
    // The stream's image reads exactly as the table port reads the item.
    let pending = repo::outbox::pending(&*services.table, 10).await.unwrap();
    assert_eq!(outbox, pending);

    for _ in 0..2 {
        let answer = lambda_stream::handle(&services, Consumer::Notifications, event.clone()).await;
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    }
    let page = inbox(&app, "alice", "").await;
    assert_eq!(events_of(&page), ["cancelled", "submitted"], "{page}");
    assert_eq!(page["unread"], 2);
    assert_eq!(FileSms::read_all(&sms).unwrap().len(), 1);

    // A record that should be an event and is not: reported alone, by its
    // sequence number, and nothing after it in the batch is tried.
    let mut bad = raw.clone();
    let records = bad["Records"].as_array_mut().unwrap();
    let at = records
        .iter()
        .position(|r| {
            r["dynamodb"]["Keys"]["pk"]["S"]
                .as_str()
                .is_some_and(|pk| pk.starts_with("OUTBOX#"))
                && r["eventName"] == "INSERT"
        })
        .unwrap();
    records[at]["dynamodb"]["NewImage"]["body"]["M"]["payload"] = json!({"M": {}});
    records[at]["dynamodb"]["NewImage"]["body"]["M"]["type"] = json!({"S": "claim.submitted"});
    let seq = records[at]["dynamodb"]["SequenceNumber"].clone();
    let event: Event = serde_json::from_value(bad).unwrap();
    let answer = lambda_stream::handle(&services, Consumer::Notifications, event).await;
    let failed: Vec<_> = answer
        .batch_item_failures
        .iter()
        .map(|f| json!(f.item_identifier))
        .collect();
    assert_eq!(failed, vec![seq]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_reads_as_the_catalogue_text_in_the_customers_language() {
    use aftersales::domain::claim::Actor;
    use aftersales::domain::order::Language;
    use aftersales::domain::rejections::Catalogue;

    let w = world_on("sqlite").await;
    push_order(&w.app, "o-1", "bob", "zh-CN", Some("+8613800138001")).await;
    let claim_id = file_claim(&w.app, "bob", "o-1").await;
    // A reviewer rejects with a code of the catalogue (as the desk and the
    // rules do): claim, order ledger and event in one transaction.
    let t = &*w.services.table;
    let (mut claim, cv) = repo::claims::get(t, &claim_id).await.unwrap().unwrap();
    let (mut rec, ov) = repo::orders::get(t, "shop-1", "o-1")
        .await
        .unwrap()
        .unwrap();
    let now = (w.services.clock)();
    let ev = claim
        .reject(
            "outside_return_window".into(),
            Actor::Staff { id: "st-1".into() },
            now,
        )
        .unwrap();
    rec.ledger.release(&claim_id).unwrap();
    let event = repo::OutboxEvent::for_claim(&claim, &ev, now);
    t.transact(vec![
        repo::claims::put(&claim, Some(cv)),
        repo::orders::put(&rec, Some(ov)),
        repo::outbox::put(&event),
    ])
    .await
    .unwrap();
    deliver(&w.services, Consumer::Notifications, &event)
        .await
        .unwrap();

    let page = inbox(&w.app, "bob", "").await;
    let rejected = &page["messages"][0];
    assert_eq!(rejected["event"], "rejected", "{page}");
    assert_eq!(rejected["title"], "售后申请未通过");
    let text = Catalogue::builtin()
        .text("outside_return_window", Language::ZhCn)
        .unwrap()
        .to_string();
    let body = rejected["body"].as_str().unwrap();
    assert!(body.contains(&format!("原因：{text}")), "{body}");
    assert!(!body.contains("outside_return_window"), "{body}");
    let sms = FileSms::read_all(&w.sms).unwrap();
    assert!(
        sms.iter()
            .any(|l| l.dedupe_id == event.event_id && l.text.contains("未通过")),
        "{sms:?}"
    );
}

/// A runner's database from before the outbox was sharded: events left in
/// the one `OUTBOX` partition move to their shards when the poller starts,
/// and are delivered from there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsharded_outbox_events_are_adopted_and_delivered() {
    let w = world_on("sqlite").await;
    push_order(&w.app, "o-legacy", "alice", "en", None).await;
    file_claim(&w.app, "alice", "o-legacy").await;
    // Move every pending event back to the old partition, as an old
    // runner left them.
    let pending = repo::outbox::pending(&*w.services.table, 100)
        .await
        .unwrap();
    assert!(!pending.is_empty());
    for e in &pending {
        let shard = repo::outbox::partition(repo::outbox::shard_of(&e.subject));
        let item = w
            .services
            .table
            .get(&shard, &e.event_id)
            .await
            .unwrap()
            .unwrap();
        w.services
            .table
            .delete(&shard, &e.event_id, aftersales::store::Condition::Exists)
            .await
            .unwrap();
        let mut old = item.clone();
        old.pk = repo::outbox::PARTITION.into();
        w.services
            .table
            .put(old, aftersales::store::Condition::NotExists)
            .await
            .unwrap();
    }
    assert!(repo::outbox::pending(&*w.services.table, 100)
        .await
        .unwrap()
        .is_empty());

    let moved = repo::outbox::adopt_unsharded(&*w.services.table)
        .await
        .unwrap();
    assert_eq!(moved, pending.len());
    assert_eq!(
        repo::outbox::adopt_unsharded(&*w.services.table)
            .await
            .unwrap(),
        0
    );
    let again = repo::outbox::pending(&*w.services.table, 100)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|e| &e.event_id).collect::<Vec<_>>(),
        pending.iter().map(|e| &e.event_id).collect::<Vec<_>>()
    );
    let delivered = drain_outbox(&w.services, 100).await.unwrap();
    assert!(
        delivered >= pending.len(),
        "{delivered} of {}",
        pending.len()
    );
    let page = inbox(&w.app, "alice", "").await;
    let submitted = events_of(&page)
        .iter()
        .filter(|e| **e == "submitted")
        .count();
    assert_eq!(submitted, 1, "{page}");
}
