//! The rule-evaluation function's queue batch (the bus's event of
//! claim.submitted) and review-deadline schedule, replayed through
//! `lambda_dispatch::dispatch`.

use super::helpers::{
    events_dir, in_folders, json_files, read_event, seed_stream_claim, RULES_FOLDERS, STREAM_CLAIM,
};
use aftersales::app::Services;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_evaluation_events_replay_on_dynamodb() {
    use aftersales::lambda_dispatch::{dispatch, Sources};

    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, RULES_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            "rule-evaluation/claim-submitted.json".to_string(),
            "rule-evaluation/review-deadlines-schedule.json".to_string(),
        ]),
        "rule-evaluation events on disk vs this test"
    );

    let services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    seed_stream_claim(&services).await;
    let claim = || async {
        aftersales::repo::claims::get(&*services.table, STREAM_CLAIM)
            .await
            .unwrap()
            .expect("claim")
            .0
    };
    assert_eq!(claim().await.status.as_str(), "submitted");
    // The queue batch, twice, as the function dispatches it: the claim is
    // decided by the shop's rules once.
    let sources = Sources::rule_evaluation();
    for _ in 0..2 {
        let event: Value =
            serde_json::from_str(&read_event("rule-evaluation/claim-submitted.json")).unwrap();
        let answer = dispatch(&services, &sources, event).await.expect("batch");
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    let decided = claim().await;
    // A return asked 2+ days after shipment, 88.94: no default rule applies,
    // so a person reviews it.
    assert_eq!(decided.status.as_str(), "under_review", "{decided:?}");
    assert_eq!(decided.timeline.len(), 2, "decided once: {decided:?}");

    // The schedule's event carries no records: the function sweeps
    // deadlines (the answer is the sweep's counts).
    let schedule: Value = serde_json::from_str(&read_event(
        "rule-evaluation/review-deadlines-schedule.json",
    ))
    .unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let swept = dispatch(&services, &sources, schedule)
        .await
        .expect("sweep");
    assert!(swept["escalated"].is_u64(), "{swept}");
}
