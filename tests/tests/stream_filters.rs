//! The filters between the table's stream and the consumers, tested on the
//! stream's real records: the app writes claims, orders, refunds and
//! outbox events into a table with a stream (moto), the records come from
//! the DynamoDB Streams API, and each pattern, read from
//! `infra/template.yaml`, is evaluated by EventBridge's own matcher on the
//! emulator (a rule with the pattern on a bus of its own, its target a
//! queue: what reaches the queue matched).
//!
//! A pipe's filter is matched against the record itself; here the record
//! is an event's `detail` and the pattern is nested under `detail`, which
//! matches the same records. The bus rules see what the events pipe sends:
//! the template's `Source`, the `DetailType` its JSON path picks from the
//! record, and the record as `detail` (the pipe has no input template).
//!
//! Besides the records the app wrote, each event type there is comes once
//! in a real outbox insert with its type replaced, and each consumer is
//! asked which of those types it acts on (it reads the table or fails on an
//! event of that type): a type a consumer handles that its pattern drops,
//! or one it ignores that the pattern routes to it, fails the test.

use aftersales::app::dispatch::{deliver, Consumer};
use aftersales::app::Services;
use aftersales::domain::events::{EventType, OutboxEvent};
use aftersales::domain::order::PaymentChannel;
use aftersales::repo::outbox;
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::{Condition, Index, Item, Page, Query, StoreError, Table, WriteOp};
use aftersales_tests::http::{spawn_app_with, unshipped_order_paid_with, TestApp};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

// ------------------------------------------------------------ the template

fn template() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("read the template"))
        .expect("the template is YAML")
}

fn resource<'a>(t: &'a serde_yaml::Value, name: &str) -> &'a serde_yaml::Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "no {name} in the template");
    r
}

/// A pipe's one filter pattern.
fn pipe_pattern(t: &serde_yaml::Value, pipe: &str) -> Value {
    let filters = resource(t, pipe)["Properties"]["SourceParameters"]["FilterCriteria"]["Filters"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{pipe}: no filters"));
    assert_eq!(filters.len(), 1, "{pipe}: one filter expected");
    serde_json::from_str(filters[0]["Pattern"].as_str().expect("a JSON pattern"))
        .expect("the pattern is JSON")
}

/// The bus rules on the events bus, by resource name, with their patterns.
fn bus_rules(t: &serde_yaml::Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| {
            r["Type"].as_str() == Some("AWS::Events::Rule")
                && serde_yaml::to_string(&r["Properties"]["EventBusName"])
                    .is_ok_and(|b| b.contains("EventBus"))
        })
        .map(|(name, r)| {
            let pattern = r["Properties"]["EventPattern"]
                .as_str()
                .expect("a JSON pattern");
            (
                name.as_str().expect("a name").to_owned(),
                serde_json::from_str(pattern).expect("the pattern is JSON"),
            )
        })
        .collect()
}

/// What the events pipe makes of a record: (source, detail-type, detail).
fn as_bus_event(t: &serde_yaml::Value, record: &Value) -> (String, String, Value) {
    let target = &resource(t, "EventsPipe")["Properties"]["TargetParameters"];
    assert!(
        target["InputTemplate"].is_null(),
        "the consumers read the record as detail: no input template"
    );
    let bus = &target["EventBridgeEventBusParameters"];
    let path = bus["DetailType"].as_str().expect("a DetailType path");
    let detail_type = path
        .strip_prefix("$.")
        .expect("a JSON path")
        .split('.')
        .fold(record, |v, k| &v[k])
        .as_str()
        .unwrap_or_else(|| panic!("{path} picks nothing from {record}"))
        .to_owned();
    let source = bus["Source"].as_str().expect("a Source").to_owned();
    (source, detail_type, record.clone())
}

// ------------------------------------------------------------ EventBridge on moto

async fn events_api(action: &str, body: Value) -> Value {
    aftersales_tests::moto::json_api("events", "1.1", &format!("AWSEvents.{action}"), body).await
}

/// One pattern as a rule on a bus of its own, routing to a queue.
struct Matcher {
    bus: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Matcher {
    async fn new(name: &str, pattern: &Value) -> Matcher {
        let bus = aftersales_tests::moto::unique_table_name(name);
        events_api("CreateEventBus", json!({"Name": bus})).await;
        events_api(
            "PutRule",
            json!({"Name": bus, "EventBusName": bus, "EventPattern": pattern.to_string()}),
        )
        .await;
        let sqs = aws_sdk_sqs::Client::new(&aftersales_tests::moto::sdk_config().await);
        let queue_url = sqs
            .create_queue()
            .queue_name(&bus)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        events_api(
            "PutTargets",
            json!({"Rule": bus, "EventBusName": bus, "Targets": [{"Id": "q", "Arn": arn}]}),
        )
        .await;
        Matcher {
            bus,
            sqs,
            queue_url,
        }
    }

    /// The `eventID`s of the events (source, detail-type, detail: a stream
    /// record) the pattern matched.
    async fn matched(&self, events: &[(String, String, Value)]) -> BTreeSet<String> {
        for chunk in events.chunks(10) {
            let entries: Vec<Value> = chunk
                .iter()
                .map(|(source, detail_type, detail)| {
                    json!({"EventBusName": self.bus, "Source": source,
                           "DetailType": detail_type, "Detail": detail.to_string()})
                })
                .collect();
            let out = events_api("PutEvents", json!({"Entries": entries})).await;
            assert_eq!(out["FailedEntryCount"], 0, "{out}");
        }
        let mut ids = BTreeSet::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage")
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return ids;
            }
            for m in got {
                let event: Value =
                    serde_json::from_str(m.body().unwrap_or_default()).expect("JSON");
                let detail = match &event["detail"] {
                    Value::String(s) => serde_json::from_str(s).expect("detail JSON"),
                    d => d.clone(),
                };
                ids.insert(detail["eventID"].as_str().expect("eventID").to_owned());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
}

/// Matches a pipe's filter against records (see the module's note).
async fn pipe_passes(name: &str, pattern: &Value, records: &[Value]) -> BTreeSet<String> {
    let m = Matcher::new(name, &json!({"detail": pattern})).await;
    let events: Vec<_> = records
        .iter()
        .map(|r| ("stream-test".to_owned(), "record".to_owned(), r.clone()))
        .collect();
    m.matched(&events).await
}

// ------------------------------------------------------------ the consumers

/// A table that counts the calls made to it (empty: nothing is found).
struct Probe {
    inner: SqliteTable,
    calls: AtomicUsize,
}

impl Probe {
    fn touch(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for Probe {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.touch();
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.touch();
        self.inner.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.touch();
        self.inner.delete(pk, sk, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.touch();
        self.inner.transact(ops).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.touch();
        self.inner.query(query).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        self.touch();
        self.inner.get_many(keys).await
    }
    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        self.touch();
        self.inner.count(index, pk).await
    }
}

/// Whether `consumer` acts on events of type `t`: it reads or writes the
/// table for one, or fails on it (an event it skips leaves the table alone
/// and succeeds). The payload names a valid parcel, so the courier
/// consumer reaches its table too.
async fn handles(consumer: Consumer, t: EventType) -> bool {
    let probe = Arc::new(Probe {
        inner: aftersales_tests::sqlite_table(),
        calls: AtomicUsize::new(0),
    });
    let mut s = Services::new(probe.clone());
    // Parcels are tracked only where a tracker is configured: give the
    // courier consumer one, or it would (rightly) do nothing with anything.
    s.courier = Some(Arc::new(
        aftersales::couriers::sandbox::SandboxCourier::new("probe-salt", None),
    ));
    let e = OutboxEvent::new(
        &"shop-1".into(),
        "clm_probe",
        t,
        json!({"carrier": "yuantong", "tracking_number": "YT1234567890123"}),
        chrono::Utc::now(),
    );
    let failed = deliver(&s, consumer, &e).await.is_err();
    failed || probe.calls.load(Ordering::SeqCst) > 0
}

/// The consumer behind each bus rule (its queue's function).
fn consumer_of(rule: &str) -> Consumer {
    match rule {
        "RuleEvaluationBusRule" => Consumer::Rules,
        "NotificationsBusRule" => Consumer::Notifications,
        "CourierVerificationBusRule" => Consumer::Couriers,
        "WebhookDeliveryBusRule" => Consumer::Webhooks,
        other => panic!("a bus rule this test does not know: {other} (add its consumer)"),
    }
}

// ------------------------------------------------------------ the records

/// Orders put and changed, one claim approved and refunded (drained: its
/// refund executed, the outbox items removed), one claim cancelled.
async fn write_through_the_app(app: &TestApp) {
    let put = |order: &'static str, body: Value| async move {
        app.put_order("shop-1", order, &body).await;
    };
    let claim = |customer: &'static str, order: &'static str| async move {
        app.file_claim(
            customer,
            &json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                    "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}),
        )
        .await["claim_id"]
            .as_str()
            .expect("claim_id")
            .to_owned()
    };
    put(
        "o-1",
        unshipped_order_paid_with("alice", PaymentChannel::WechatPay, "T1"),
    )
    .await;
    claim("alice", "o-1").await;
    let mut o2 = unshipped_order_paid_with("bob", PaymentChannel::Alipay, "T2");
    put("o-2", o2.clone()).await;
    o2["shipping_fee"] = json!("9.00");
    o2["payments"][0]["amount"] = json!("212.00");
    put("o-2", o2).await;
    let cancelled = claim("bob", "o-2").await;
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{cancelled}/cancel"),
            Some(&app.customer("bob")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.drain().await;
}

fn pk(r: &Value) -> &str {
    r["dynamodb"]["Keys"]["pk"]["S"]
        .as_str()
        .unwrap_or_default()
}
fn event_type(r: &Value) -> &str {
    r["dynamodb"]["NewImage"]["body"]["M"]["type"]["S"]
        .as_str()
        .unwrap_or_default()
}
fn id(r: &Value) -> String {
    r["eventID"].as_str().expect("eventID").to_owned()
}
fn is_outbox_insert(r: &Value) -> bool {
    r["eventName"] == "INSERT" && pk(r).starts_with(outbox::SHARD_PREFIX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipes_and_bus_rules_pass_exactly_what_their_consumers_handle() {
    let table = aftersales_tests::dynamo_table().await;
    let app = spawn_app_with(Services::new(Arc::new(table.clone()))).await;
    write_through_the_app(&app).await;
    let real = aftersales_tests::streams::records(&table).await;

    // The stream holds more than outbox inserts: what the filters must drop.
    let kinds: BTreeSet<(String, &str)> = real
        .iter()
        .map(|r| {
            let p = pk(r);
            let kind = p.split('#').next().unwrap_or_default();
            (r["eventName"].as_str().unwrap().to_owned(), kind)
        })
        .collect();
    for expected in [
        ("INSERT", "ORDER"),
        ("MODIFY", "ORDER"),
        ("INSERT", "CLAIM"),
        ("MODIFY", "CLAIM"),
        ("INSERT", "REFUND"),
        ("MODIFY", "REFUND"),
        ("INSERT", "OUTBOX"),
        ("REMOVE", "OUTBOX"),
    ] {
        assert!(
            kinds.contains(&(expected.0.to_owned(), expected.1)),
            "no {expected:?} record in {kinds:?}"
        );
    }
    // Outbox items are sharded by subject: OUTBOX#00..15, the shard the
    // repository computes, in the record's keys as in the table.
    let inserts: Vec<&Value> = real.iter().filter(|r| is_outbox_insert(r)).collect();
    for r in &inserts {
        let subject = r["dynamodb"]["NewImage"]["body"]["M"]["subject"]["S"]
            .as_str()
            .expect("subject");
        assert_eq!(pk(r), outbox::partition(outbox::shard_of(subject)), "{r}");
    }
    let real_types: BTreeSet<&str> = inserts.iter().map(|r| event_type(r)).collect();
    for t in [
        "order.created",
        "order.updated",
        "claim.submitted",
        "claim.approved",
        "claim.cancelled",
        "refund.requested",
    ] {
        assert!(real_types.contains(t), "no {t} in {real_types:?}");
    }

    // Every event type, once, in a real outbox insert.
    let model = inserts[0];
    let synthetic: Vec<Value> = EventType::all()
        .map(|t| {
            let mut r = model.clone();
            r["eventID"] = json!(format!("synthetic-{t}"));
            r["dynamodb"]["NewImage"]["body"]["M"]["type"]["S"] = json!(t.as_str());
            r
        })
        .collect();
    let all: Vec<Value> = real.iter().cloned().chain(synthetic.clone()).collect();
    let type_of_synthetic = |id: &str| id.strip_prefix("synthetic-").map(str::to_owned);

    let t = template();

    // The refund pipe: refund.requested inserts into the outbox, nothing
    // else (not the refund item, not the outbox item's removal).
    let refund_pipe = pipe_passes("refund-pipe", &pipe_pattern(&t, "RefundPipe"), &all).await;
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|r| is_outbox_insert(r) && event_type(r) == "refund.requested")
        .map(id)
        .collect();
    assert_eq!(refund_pipe, expected);
    let refund_types: BTreeSet<String> = refund_pipe
        .iter()
        .filter_map(|i| type_of_synthetic(i))
        .collect();
    let mut refund_handles = BTreeSet::new();
    for et in EventType::all() {
        if handles(Consumer::Refunds, et).await {
            refund_handles.insert(et.as_str().to_owned());
        }
    }
    assert_eq!(
        refund_types, refund_handles,
        "refund pipe vs the refund executor"
    );

    // The events pipe: every outbox insert, nothing else.
    let events_pipe = pipe_passes("events-pipe", &pipe_pattern(&t, "EventsPipe"), &all).await;
    let expected: BTreeSet<String> = all.iter().filter(|r| is_outbox_insert(r)).map(id).collect();
    assert_eq!(events_pipe, expected);

    // Each bus rule routes to its consumer exactly the types it handles, of
    // what the events pipe put on the bus.
    let on_bus: Vec<_> = all
        .iter()
        .filter(|r| events_pipe.contains(&id(r)))
        .map(|r| as_bus_event(&t, r))
        .collect();
    let rules = bus_rules(&t);
    assert_eq!(
        rules.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "CourierVerificationBusRule",
            "NotificationsBusRule",
            "RuleEvaluationBusRule",
            "WebhookDeliveryBusRule"
        ]
    );
    for (rule, pattern) in &rules {
        let consumer = consumer_of(rule);
        let routed = Matcher::new(&rule.to_lowercase(), pattern)
            .await
            .matched(&on_bus)
            .await;
        let mut handled = BTreeSet::new();
        for et in EventType::all() {
            if handles(consumer, et).await {
                handled.insert(et.as_str().to_owned());
            }
        }
        assert!(!handled.is_empty(), "{rule}: its consumer handles nothing?");
        let routed_types: BTreeSet<String> =
            routed.iter().filter_map(|i| type_of_synthetic(i)).collect();
        assert_eq!(routed_types, handled, "{rule} vs what {consumer:?} handles");
        // The app's own records: routed exactly when their type is handled.
        for (_, detail_type, r) in &on_bus {
            if type_of_synthetic(&id(r)).is_none() {
                assert_eq!(
                    routed.contains(&id(r)),
                    handled.contains(detail_type),
                    "{rule}: {detail_type}"
                );
            }
        }
    }
}
