//! The notifications function's queue batches (SQS messages whose body is
//! the events bus's event, its detail the outbox item's stream record),
//! replayed through the glue its main.rs runs (`lambda_stream::handle_records`).

use super::helpers::{
    events_dir, is_stream_event, json_files, read_event, seed_stream_claim, STREAM_CUSTOMER,
    STREAM_PHONE,
};
use aftersales::app::Services;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

struct StreamExpect {
    file: &'static str,
    /// The message ids the answer reports as failed.
    failures: &'static [&'static str],
    /// The customer's inbox (newest first) and every SMS sent so far.
    check: fn(&[Value], &[aftersales::adapters::sms_file::SmsLine]),
}

fn inbox_events(inbox: &[Value]) -> Vec<&str> {
    inbox.iter().filter_map(|m| m["event"].as_str()).collect()
}

/// The stream replay, in order. Every `.json` file under a stream folder
/// must be here.
const STREAM_REPLAY: &[StreamExpect] = &[
    StreamExpect {
        file: "notifications/claim-submitted.json",
        failures: &[],
        check: |inbox, sms| {
            assert_eq!(inbox_events(inbox), ["submitted"], "{inbox:?}");
            assert_eq!(inbox[0]["title"], "售后申请已提交");
            let body = inbox[0]["body"].as_str().unwrap_or_default();
            assert!(body.contains("#3E4F5A6B，申请金额 ¥88.94。"), "{body}");
            assert_eq!(sms.len(), 1, "{sms:?}");
            assert_eq!(
                (sms[0].phone.as_str(), sms[0].dedupe_id.as_str()),
                (STREAM_PHONE, "0193a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b")
            );
        },
    },
    StreamExpect {
        // An unfiltered batch: an order event (not for customers), the
        // submission again (a redelivery), a claim item, the cancellation,
        // and the outbox's own deletion (the pipe's and the rule's filters
        // keep the last two and the order event out; the glue skips them
        // all the same).
        file: "notifications/mixed-batch.json",
        failures: &[],
        check: |inbox, sms| {
            assert_eq!(inbox_events(inbox), ["cancelled", "submitted"], "{inbox:?}");
            assert_eq!(inbox[0]["title"], "售后申请已撤销");
            assert_eq!(
                sms.len(),
                1,
                "a cancellation sends no SMS, a redelivery none again"
            );
        },
    },
    StreamExpect {
        // An approval whose amount is not money (a bare string, not an
        // amount with its currency), then a rejection of the same claim:
        // the approval is reported, and the rejection, held back behind
        // it, with it.
        file: "notifications/poison-record.json",
        failures: &[
            "da8b0b1d-5b05-5f65-9ea4-c3c5dc2029dd",
            "e10f18bb-c483-5f86-acf0-12ba5befcc98",
        ],
        check: |inbox, sms| {
            assert_eq!(inbox_events(inbox), ["cancelled", "submitted"], "{inbox:?}");
            assert_eq!(sms.len(), 1);
        },
    },
];

#[test]
fn every_stream_event_has_an_expectation() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| is_stream_event(f));
    let expected: BTreeSet<String> = STREAM_REPLAY.iter().map(|e| e.file.to_string()).collect();
    assert_eq!(
        on_disk, expected,
        "stream events on disk vs STREAM_REPLAY in tests/tests/events_replay/notifications.rs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_replay_through_the_stream_glue_on_dynamodb() {
    use aftersales::adapters::sms_file::FileSms;
    use aftersales::app::dispatch::Consumer;
    use aftersales::auth::Principal;

    let dir = tempfile::tempdir().unwrap();
    let sms = dir.path().join("sms.jsonl");
    let mut services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    services.sms = Arc::new(FileSms::new(&sms));
    seed_stream_claim(&services).await;
    let customer = Principal::Customer {
        customer_id: STREAM_CUSTOMER.into(),
    };
    for e in STREAM_REPLAY {
        let event: Value = serde_json::from_str(&read_event(e.file))
            .unwrap_or_else(|err| panic!("{}: not JSON: {err}", e.file));
        assert_eq!(
            event["Records"][0]["eventSource"], "aws:sqs",
            "{}: a batch of the notifications queue",
            e.file
        );
        let answer =
            aftersales::lambda_stream::handle_records(&services, Consumer::Notifications, event)
                .await
                .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .expect("batchItemFailures")
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        assert_eq!(failed, e.failures, "{}: batchItemFailures", e.file);
        let page = aftersales::app::notify::list_inbox(&services, &customer, Some(100), None)
            .await
            .expect("inbox");
        let inbox = serde_json::to_value(&page).unwrap();
        (e.check)(
            inbox["messages"].as_array().unwrap(),
            &FileSms::read_all(&sms).unwrap(),
        );
    }
}
