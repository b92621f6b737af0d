//! The webhook-delivery function (issue 17, points 3 and 4) and the
//! sender it shares with the runner:
//! - on moto, one SQS message as the bus delivers it (the stream record of
//!   a real outbox insert as `detail`) through the function's own entry
//!   point (`lambda_dispatch::dispatch` with `Sources::webhook_delivery`):
//!   a local receiver gets the signed POST (the signature checked here with
//!   HMAC-SHA256 over `{id}.{timestamp}.{body}`, not with the sender's
//!   code), the public event reaches a rule on the bus, the endpoint's
//!   secret is stored sealed with a KMS key (moto's) and opens to the
//!   secret the API showed once;
//! - on both engines, an endpoint failing for three days is disabled and
//!   the shop's admins get a notice, in the same transaction.

use aftersales::adapters::eventbridge::{EventBridgeBus, SOURCE};
use aftersales::adapters::kms_sealer::KmsSealer;
use aftersales::app::Services;
use aftersales::auth::StaffRole;
use aftersales::domain::order::PaymentChannel;
use aftersales::hooks::{self, sender, NewEndpoint};
use aftersales::lambda_dispatch::{dispatch, Sources};
use aftersales::ports::SecretSealer;
use aftersales::repo::outbox;
use aftersales_tests::http::{
    spawn_app_at, spawn_app_with, unshipped_order_paid_with, TestApp, TestClock,
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One POST as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A receiver on 127.0.0.1 that answers `status` and keeps what it got.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::http::HeaderMap;
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/in",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                keep.lock().unwrap().push(Received {
                    id: h("webhook-id"),
                    timestamp: h("webhook-timestamp"),
                    signature: h("webhook-signature"),
                    body,
                });
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{}/in", addr.port()), got)
}

/// Standard Webhooks' check, written out here: one of the `v1,` signatures
/// is the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the
/// secret's bytes.
fn signed_with(secret: &str, r: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.signature.split(' ').any(|s| s == expected)
}

async fn events_api(action: &str, body: Value) -> Value {
    aftersales_tests::moto::json_api("events", "1.1", &format!("AWSEvents.{action}"), body).await
}

/// A bus of its own on moto with a rule as a shop would write it (every
/// public event), its target a queue: what the queue gets reached the bus.
async fn bus_with_subscriber() -> (String, aws_sdk_sqs::Client, String) {
    let bus = aftersales_tests::moto::unique_table_name("public");
    events_api("CreateEventBus", json!({"Name": bus})).await;
    events_api(
        "PutRule",
        json!({"Name": bus, "EventBusName": bus,
               "EventPattern": json!({"source": [SOURCE]}).to_string()}),
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&aftersales_tests::moto::sdk_config().await);
    let url = sqs
        .create_queue()
        .queue_name(&bus)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
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
    (bus, sqs, url)
}

/// Every event the subscriber's queue holds.
async fn subscribed(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            return out;
        }
        for m in got {
            out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("JSON"));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
}

/// The SQS batch the function gets for one outbox insert: the events pipe's
/// event (source `aftersales`, the record as `detail`) as the message body.
fn sqs_batch(record: &Value) -> Value {
    let event_type = record["dynamodb"]["NewImage"]["body"]["M"]["type"]["S"].clone();
    let bus_event = json!({
        "version": "0", "id": "b1", "detail-type": event_type, "source": "aftersales",
        "account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": record,
    });
    json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": bus_event.to_string(),
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }]})
}

async fn kms_key() -> String {
    let out = aftersales_tests::moto::json_api(
        "kms",
        "1.1",
        "TrentService.CreateKey",
        json!({"Description": "webhook secrets (test)"}),
    )
    .await;
    out["KeyMetadata"]["Arn"]
        .as_str()
        .expect("a key arn")
        .to_owned()
}

async fn file_claim(app: &TestApp) -> String {
    app.put_order(
        "shop-1",
        "o-1",
        &unshipped_order_paid_with("alice", PaymentChannel::WechatPay, "T1"),
    )
    .await;
    app.file_claim(
        "alice",
        &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}),
    )
    .await["claim_id"]
        .as_str()
        .expect("claim_id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_message_becomes_a_signed_post_and_a_public_event_with_the_secret_sealed() {
    hooks::allow_loopback(true);
    let config = aftersales_tests::moto::sdk_config().await;
    let table = aftersales_tests::dynamo_table().await;
    let key = kms_key().await;
    let sealer = Arc::new(KmsSealer::from_config(&config, &key));
    let (bus, sqs, queue) = bus_with_subscriber().await;

    let mut services = Services::new(Arc::new(table.clone()));
    services.secret_sealer = Some(sealer.clone());
    services.public_bus = Some(Arc::new(EventBridgeBus::from_config(&config, &bus)));
    let app = spawn_app_with(services.clone()).await;

    // The endpoint, through the API (merchant-api seals its secret).
    let (url, got) = receiver(204).await;
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
    let (status, made) = app
        .call(
            "POST",
            "/v1/shops/shop-1/webhook-endpoints",
            Some(&admin),
            Some(&json!({"url": url, "event_types": ["claim.submitted"]})),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    let endpoint_id = made["endpoint_id"].as_str().unwrap().to_owned();

    // At rest: sealed, the plain secret nowhere in the item; it opens with
    // its endpoint's id only.
    let (pk, sk) = hooks::endpoints::key("shop-1", &endpoint_id);
    let item = aftersales::store::Table::get(&table, &pk, &sk)
        .await
        .unwrap()
        .expect("the endpoint item");
    let stored = format!("{item:?}");
    let secret_b64 = secret.strip_prefix("whsec_").unwrap();
    assert!(!stored.contains(secret_b64), "the plain secret is stored");
    let (e, _) = hooks::endpoints::get(&table, "shop-1", &endpoint_id)
        .await
        .unwrap()
        .unwrap();
    assert!(e.secret.starts_with("kms:"), "{}", e.secret.len());
    assert!(hooks::is_sealed(&e.secret));
    assert_eq!(sealer.open(&e.secret, &endpoint_id).await.unwrap(), secret);
    assert!(
        sealer.open(&e.secret, "ep_another").await.is_err(),
        "a sealed secret opened under another endpoint's id"
    );

    // A claim: its claim.submitted insert, as the stream has it.
    let claim_id = file_claim(&app).await;
    let records = aftersales_tests::streams::records(&table).await;
    let submitted = records
        .iter()
        .find(|r| {
            r["eventName"] == "INSERT"
                && r["dynamodb"]["Keys"]["pk"]["S"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(outbox::SHARD_PREFIX))
                && r["dynamodb"]["NewImage"]["body"]["M"]["type"]["S"] == "claim.submitted"
        })
        .expect("a claim.submitted outbox insert");

    // Through the function's own entry point.
    let answer = dispatch(
        &services,
        &Sources::webhook_delivery(),
        sqs_batch(submitted),
    )
    .await
    .expect("the batch is handled");
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");

    // The receiver got it at once (the batch's sweep), signed with the
    // secret shown at creation.
    let posts = got.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert!(signed_with(&secret, post), "{post:?}");
    assert!(!signed_with(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        post
    ));
    let body: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(body["type"], "claim.submitted");
    assert_eq!(body["claim_id"], claim_id.as_str());
    assert_eq!(body["id"], post.id.as_str());
    let deliveries = hooks::deliveries::of_endpoint(&table, &endpoint_id, 10)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].state, hooks::DeliveryState::Delivered);

    // The same public event on the bus, as the shop's rule sees it.
    let on_bus = subscribed(&sqs, &queue).await;
    let ids: Vec<&Value> = on_bus
        .iter()
        .filter(|e| e["detail-type"] == "claim.submitted")
        .collect();
    assert_eq!(ids.len(), 1, "{on_bus:?}");
    let detail = match &ids[0]["detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        d => d.clone(),
    };
    assert_eq!(ids[0]["source"], SOURCE);
    assert_eq!(detail, body, "the bus's detail is the webhook's body");

    // The message again (at least once): nothing new is sent or recorded.
    let again = dispatch(
        &services,
        &Sources::webhook_delivery(),
        sqs_batch(submitted),
    )
    .await
    .unwrap();
    assert_eq!(again["batchItemFailures"], json!([]));
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(
        hooks::deliveries::of_endpoint(&table, &endpoint_id, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // The minute's schedule: nothing is due.
    let swept = dispatch(
        &services,
        &Sources::webhook_delivery(),
        json!({"source": "aws.scheduler"}),
    )
    .await
    .unwrap();
    assert_eq!(swept, json!({"attempted": 0, "left": 0}));
}

async fn gives_up_and_tells_the_admins(engine: &str) {
    hooks::allow_loopback(true);
    let clock = TestClock::at("2026-12-01T09:00:00Z");
    let app = spawn_app_at(aftersales_tests::engine_table(engine).await, &clock).await;
    let (url, got) = receiver(500).await;
    let (endpoint, _) = hooks::create(
        &*app.table,
        None,
        "shop-1",
        NewEndpoint {
            url,
            event_types: vec!["claim.submitted".into()],
            description: None,
        },
        clock.clock()(),
    )
    .await
    .unwrap();
    file_claim(&app).await;
    app.drain().await;
    let sweep = || {
        sender::sweep(
            app.table.clone(),
            clock.clock(),
            None,
            Duration::from_secs(30),
        )
    };

    // The first attempt fails (500): retried later, nothing disabled.
    assert_eq!(sweep().await.unwrap().attempted, 1);
    assert_eq!(got.lock().unwrap().len(), 1);
    let (e, _) = hooks::endpoints::get(&*app.table, "shop-1", &endpoint.endpoint_id)
        .await
        .unwrap()
        .unwrap();
    assert!(e.enabled);
    assert!(hooks::notices::of_shop(&*app.table, "shop-1", 10)
        .await
        .unwrap()
        .is_empty());

    // Three days on, still failing: given up, the endpoint disabled and the
    // admins told, once.
    clock.advance_hours(72);
    clock.advance_seconds(60);
    assert_eq!(sweep().await.unwrap().attempted, 1);
    let (e, _) = hooks::endpoints::get(&*app.table, "shop-1", &endpoint.endpoint_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!e.enabled);
    assert_eq!(
        e.disabled_reason.as_deref(),
        Some("deliveries failed for 3 days")
    );
    let notices = hooks::notices::of_shop(&*app.table, "shop-1", 10)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n = &notices[0];
    assert_eq!(n.kind, "endpoint_disabled");
    assert_eq!(n.endpoint_id, endpoint.endpoint_id);
    assert_eq!(n.at, clock.clock()());
    assert!(n.en.body.contains(&endpoint.endpoint_id), "{}", n.en.body);
    assert!(n.zh_cn.body.contains(&endpoint.endpoint_id));
    assert!(!format!("{n:?}").contains(e.secret.trim_start_matches("whsec_")));
    let d = hooks::deliveries::of_endpoint(&*app.table, &endpoint.endpoint_id, 10)
        .await
        .unwrap();
    assert_eq!(d[0].state, hooks::DeliveryState::Failed);

    // Nothing more is sent, and no second notice.
    clock.advance_hours(1);
    assert_eq!(sweep().await.unwrap().attempted, 0);
    assert_eq!(got.lock().unwrap().len(), 2);
    assert_eq!(
        hooks::notices::of_shop(&*app.table, "shop-1", 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_three_days_is_disabled_and_the_admins_told_sqlite() {
    gives_up_and_tells_the_admins("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_three_days_is_disabled_and_the_admins_told_dynamodb() {
    gives_up_and_tells_the_admins("dynamodb").await;
}
