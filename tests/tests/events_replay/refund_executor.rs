//! The refund executor's SQS batch from the refund queue and its
//! reconciliation schedule, replayed through `lambda_dispatch::dispatch`.

use super::helpers::{
    claim_json, events_dir, in_folders, json_files, read_event, refund_of, refund_state,
    seed_pending_refund, timeline_count, REFUND_FOLDERS,
};
use aftersales::app::Services;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

const REFUND_BATCH: &str = "refund-executor/refund-queue-batch.json";
const RECONCILIATION_SCHEDULE: &str = "refund-executor/reconciliation-schedule.json";
/// The queue the batch comes from: `RefundQueue` of infra/template.yaml
/// (`${AWS::StackName}-refunds`) for the stack `aftersales-dev`.
const REFUND_QUEUE_ARN: &str = "arn:aws:sqs:ap-southeast-1:123456789012:aftersales-dev-refunds";
/// The batch's poison message (a body cut off in the middle).
const POISON_MESSAGE: &str = "5a0c1f3e-8d2b-4c6a-9e7f-0b1d2c3e4f51";
/// The claim whose refund the batch executes, and its customer.
const REFUND_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a73";
const REFUND_CUSTOMER: &str = "cust-600";
// What refund-executor's schedule reconciles: refunds left processing for
// over this many hours (the clock is moved past it).
use aftersales::lambda_schedule::RECONCILE_AFTER_HOURS;

/// The messages a batch answer (`ReportBatchItemFailures`) names for retry.
fn failed_ids(answer: &Value) -> Vec<&str> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch answer: {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("itemIdentifier"))
        .collect()
}

fn refund_batch() -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_str(&read_event(REFUND_BATCH))
        .unwrap_or_else(|e| panic!("{REFUND_BATCH}: not an SQS event: {e}"))
}

/// The batch is what Lambda's SQS event source hands the function for the
/// refund queue, its messages what the EventBridge pipe sends (the pipe has
/// no input template, so a message body is the table stream's record as
/// JSON); the schedule's event carries no records, which is how the
/// function tells it from a batch.
#[test]
fn refund_executor_events_have_the_sqs_and_schedule_shapes() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, REFUND_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            REFUND_BATCH.to_string(),
            RECONCILIATION_SCHEDULE.to_string()
        ]),
        "refund-executor events on disk vs this test"
    );

    let ev: Value = serde_json::from_str(&read_event(REFUND_BATCH)).unwrap();
    let records = ev["Records"].as_array().expect("Records");
    let mut ids = BTreeSet::new();
    let mut refunds = Vec::new();
    for r in records {
        let id = r["messageId"].as_str().expect("messageId");
        assert!(ids.insert(id), "{id}: message ids are unique in a batch");
        assert_eq!(r["eventSource"], "aws:sqs", "{id}");
        assert_eq!(r["eventSourceARN"], REFUND_QUEUE_ARN, "{id}");
        assert_eq!(r["awsRegion"], "ap-southeast-1", "{id}");
        assert!(r["receiptHandle"].is_string(), "{id}: receiptHandle");
        assert!(
            r["md5OfBody"]
                .as_str()
                .is_some_and(|m| m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit())),
            "{id}: md5OfBody"
        );
        for key in [
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        ] {
            assert!(r["attributes"][key].is_string(), "{id}: attributes.{key}");
        }
        let body = r["body"].as_str().expect("body is a string");
        match aftersales::lambda_sqs::refund_id_of(body) {
            Ok(Some(refund_id)) => {
                // The pipe's message: one stream record, an INSERT of a
                // refund.requested outbox item (the pipe's filter).
                let record: Value = serde_json::from_str(body).unwrap();
                assert_eq!(record["eventSource"], "aws:dynamodb", "{id}");
                assert_eq!(record["eventName"], "INSERT", "{id}");
                let subject = record["dynamodb"]["NewImage"]["body"]["M"]["subject"]["S"]
                    .as_str()
                    .unwrap_or_default();
                assert_eq!(
                    record["dynamodb"]["Keys"]["pk"]["S"],
                    aftersales::repo::outbox::partition(aftersales::repo::outbox::shard_of(
                        subject
                    )),
                    "{id}: the outbox shard of the record's subject"
                );
                assert_eq!(
                    record["dynamodb"]["NewImage"]["body"]["M"]["type"]["S"], "refund.requested",
                    "{id}"
                );
                assert!(
                    record["eventSourceARN"]
                        .as_str()
                        .is_some_and(|a| a.contains(":table/aftersales-dev-AftersalesTable-")
                            && a.contains("/stream/")),
                    "{id}: from the table's stream"
                );
                refunds.push(refund_id);
            }
            Ok(None) => panic!("{id}: a message the executor ignores"),
            Err(_) => assert_eq!(id, POISON_MESSAGE, "only the poison message is undecodable"),
        }
    }
    assert!(
        ids.contains(POISON_MESSAGE),
        "the batch holds the poison message"
    );
    let want = aftersales::domain::refund::refund_id_for(REFUND_CLAIM, 1);
    assert_eq!(
        refunds,
        [want.clone(), want],
        "the same refund, delivered twice"
    );
    // What the function's runtime reads.
    refund_batch();

    let schedule: Value = serde_json::from_str(&read_event(RECONCILIATION_SCHEDULE)).unwrap();
    assert!(schedule.get("Records").is_none(), "{schedule}");
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    assert_eq!(schedule["source"], "aws.scheduler");
    assert!(
        schedule["resources"][0]
            .as_str()
            .is_some_and(|r| r.ends_with("RefundExecutorFunctionReconciliation")),
        "{schedule}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_executor_events_replay_on_dynamodb() {
    use aftersales::domain::refund::RefundStatus;
    use aftersales::lambda_dispatch::{dispatch, Sources};
    use aftersales::providers::{sandbox::Sandbox, ProviderSet};

    let clock = aftersales_tests::http::TestClock::at("2026-11-23T10:15:00Z");
    let sandbox = Arc::new(Sandbox::new());
    let mut services = Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.clock = clock.clock();
    services.providers = ProviderSet::all(sandbox.clone());
    let refund_id = seed_pending_refund(&services, REFUND_CUSTOMER, "o-600", REFUND_CLAIM).await;

    // The sample's message carries the event the approval wrote to the
    // outbox (what the stream gives the pipe): same type, refund and shop,
    // and every payload field the sample names has the value written.
    let written = aftersales::repo::outbox::pending(&*services.table, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "refund.requested")
        .expect("the approval wrote refund.requested");
    let batch = refund_batch();
    let body = batch
        .records
        .iter()
        .filter_map(|m| m.body.as_deref())
        .find(|b| aftersales::lambda_sqs::refund_id_of(b).is_ok())
        .expect("a pipe message");
    let record: aws_lambda_events::event::dynamodb::EventRecord =
        serde_json::from_str(body).expect("a stream record");
    let sample = aftersales::lambda_stream::outbox_event(&record)
        .expect("decodes")
        .expect("an outbox event");
    assert_eq!(
        (&sample.event_type, &sample.subject, &sample.shop_id),
        (&written.event_type, &refund_id, &written.shop_id)
    );
    for (k, v) in sample.payload.as_object().expect("payload") {
        assert_eq!(&written.payload[k], v, "payload.{k}: {}", written.payload);
    }
    assert_eq!(sandbox.total_movements(), 0, "nothing sent yet");

    // The batch: the poison message alone is reported (retried until the
    // DLQ takes it); the refund after it is sent, once for both deliveries.
    // No queue client: the replay does not delay retries.
    let sources = Sources::refund_executor(None);
    let batch_json = || -> Value { serde_json::from_str(&read_event(REFUND_BATCH)).unwrap() };
    let answer = dispatch(&services, &sources, batch_json())
        .await
        .expect("batch");
    assert_eq!(failed_ids(&answer), [POISON_MESSAGE]);
    assert_eq!(sandbox.movements(&refund_id), 1);
    assert_eq!(sandbox.total_movements(), 1);
    let (refund, _) = refund_of(&services, &refund_id).await;
    assert!(
        matches!(
            refund.status,
            RefundStatus::Processing | RefundStatus::Succeeded
        ),
        "the provider took the refund: {refund:?}"
    );

    // The schedule (no records: the function reconciles), an hour and more
    // later: whatever the provider said at first, the refund is settled now.
    let schedule: Value = serde_json::from_str(&read_event(RECONCILIATION_SCHEDULE)).unwrap();
    clock.advance_hours(RECONCILE_AFTER_HOURS + 1);
    let done = dispatch(&services, &sources, schedule.clone())
        .await
        .expect("reconciliation runs");
    let (checked, settled) = (done["checked"].as_u64(), done["settled"].as_u64());
    assert!(settled.is_some() && settled <= checked, "{done}");
    let (refund, _) = refund_of(&services, &refund_id).await;
    assert_eq!(refund.status, RefundStatus::Succeeded, "{refund:?}");
    let claim = claim_json(&services, REFUND_CLAIM).await;
    assert_eq!(claim["status"], "completed", "{claim}");
    assert_eq!(timeline_count(&claim, "refund_succeeded"), 1, "{claim}");
    assert_eq!(sandbox.movements(&refund_id), 1);

    // SQS delivers at least once: the whole batch again moves no money and
    // changes nothing; the poison message is reported again.
    let before = refund_state(&services, &refund_id, REFUND_CLAIM).await;
    let answer = dispatch(&services, &sources, batch_json())
        .await
        .expect("batch");
    assert_eq!(failed_ids(&answer), [POISON_MESSAGE]);
    assert_eq!(sandbox.total_movements(), 1);
    assert_eq!(
        refund_state(&services, &refund_id, REFUND_CLAIM).await,
        before
    );
    // And another reconciliation finds nothing left to do.
    let again = dispatch(&services, &sources, schedule)
        .await
        .expect("reconciliation runs");
    assert_eq!(again["checked"], 0, "{again}");
    assert_eq!(sandbox.total_movements(), 1);
}
