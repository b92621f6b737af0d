//! The webhook-delivery function's queue batch (the bus's event of
//! claim.submitted) and its sweep's schedule, replayed through
//! `lambda_dispatch::dispatch` with a shop endpoint on a local receiver
//! and the public events put on a bus on moto.

use super::helpers::{
    events_dir, in_folders, json_files, read_event, seed_stream_claim, STREAM_CLAIM,
    WEBHOOK_DELIVERY_FOLDERS,
};
use aftersales::adapters::eventbridge::EventBridgeBus;
use aftersales::app::Services;
use aftersales::hooks::{self, NewEndpoint};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

const QUEUE: &str = "webhook-delivery/claim-submitted.json";
const SCHEDULE: &str = "webhook-delivery/delivery-sweep-schedule.json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_delivery_events_replay_on_dynamodb() {
    use aftersales::lambda_dispatch::{dispatch, Sources};

    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, WEBHOOK_DELIVERY_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([QUEUE.to_string(), SCHEDULE.to_string()]),
        "webhook-delivery events on disk vs this test"
    );

    // A receiver that keeps the webhook ids it got.
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = got.clone();
    let receiver = axum::Router::new().route(
        "/in",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let keep = keep.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                keep.lock().unwrap().push(id.to_owned());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/in",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    hooks::allow_loopback(true);

    let bus = aftersales_tests::moto::unique_table_name("replay-bus");
    aftersales_tests::moto::json_api(
        "events",
        "1.1",
        "AWSEvents.CreateEventBus",
        json!({"Name": bus}),
    )
    .await;
    let config = aftersales_tests::moto::sdk_config().await;
    let mut services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    services.public_bus = Some(Arc::new(EventBridgeBus::from_config(&config, &bus)));
    seed_stream_claim(&services).await;
    hooks::create(
        &*services.table,
        None,
        "shop-1",
        NewEndpoint {
            url,
            event_types: vec!["claim.submitted".into()],
            description: None,
        },
        chrono::Utc::now(),
    )
    .await
    .expect("an endpoint");

    // The queue batch, twice, as the function dispatches it: one delivery,
    // sent once, its webhook-id the outbox event's id.
    let sources = Sources::webhook_delivery();
    for _ in 0..2 {
        let event: Value = serde_json::from_str(&read_event(QUEUE)).unwrap();
        let answer = dispatch(&services, &sources, event).await.expect("batch");
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    assert_eq!(
        *got.lock().unwrap(),
        ["0193a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b"],
        "about {STREAM_CLAIM}"
    );

    // The schedule's event carries no records: the function sweeps what is
    // due (nothing: it went out with the batch).
    let schedule: Value = serde_json::from_str(&read_event(SCHEDULE)).unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let answer = dispatch(&services, &sources, schedule)
        .await
        .expect("sweep");
    assert_eq!(answer, json!({"attempted": 0, "left": 0}));
}
