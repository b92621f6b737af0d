//! Glue between a consumer's SQS queue and the outbox consumers. In the
//! cloud the table's stream has two readers (AWS advises at most two): the
//! refund pipe, and one pipe that puts every new outbox event on the events
//! bus; a bus rule per consumer sends the events it cares about to that
//! consumer's queue (infra/template.yaml). So a message's body is the
//! EventBridge event, whose `detail` is the DynamoDB stream record of the
//! outbox item: the stream glue ([`crate::lambda_stream::outbox_event`])
//! decodes it as it decodes the records it reads itself.
//!
//! Messages are independent (each is deleted or retried on its own), but
//! the events of one subject should not overtake each other: after a
//! message fails, the later messages of the same subject in the batch are
//! reported too, so they come back with it instead of being delivered
//! ahead of it. Consumers are idempotent and read the subject's current
//! state, so the order across batches does not matter to them.

use crate::app::dispatch::{deliver, Consumer};
use crate::app::Services;
use crate::lambda_stream::RecordError;
use crate::repo::OutboxEvent;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;
use std::collections::HashSet;

/// Why a message does not decode (a poison message: retried until the
/// queue's DLQ takes it).
#[derive(Debug, thiserror::Error)]
pub enum BusMessageError {
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("not an EventBridge event with a detail")]
    NoDetail,
    #[error("the detail is not a stream record: {0}")]
    NotARecord(#[source] serde_json::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The outbox event a queue message carries: the body is the EventBridge
/// event the events pipe put on the bus, its `detail` the stream record.
/// `None` for a record that is not a new outbox event (the pipe's filter
/// already drops those).
pub fn outbox_event_of(body: &str) -> Result<Option<OutboxEvent>, BusMessageError> {
    let mut event: Value = serde_json::from_str(body).map_err(BusMessageError::NotJson)?;
    let detail = match event.get_mut("detail") {
        Some(d) if d.is_object() => d.take(),
        _ => return Err(BusMessageError::NoDetail),
    };
    let record: EventRecord =
        serde_json::from_value(detail).map_err(BusMessageError::NotARecord)?;
    Ok(crate::lambda_stream::outbox_event(&record)?)
}

/// Delivers a batch of queue messages to `consumer` and reports the ones to
/// retry (`ReportBatchItemFailures`): those that failed, and the later ones
/// of a subject that failed.
pub async fn handle(s: &Services, consumer: Consumer, batch: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut held_back: HashSet<String> = HashSet::new();
    for m in batch.records {
        let id = m.message_id.clone().unwrap_or_default();
        let outcome = match outbox_event_of(m.body.as_deref().unwrap_or("")) {
            Ok(Some(e)) if held_back.contains(&e.subject) => {
                Err((Some(e.subject), "an earlier event of its subject failed".to_owned()))
            }
            Ok(Some(e)) => deliver(s, consumer, &e)
                .await
                .map(|()| {
                    tracing::info!(event_id = %e.event_id, event_type = %e.event_type, claim_id = %e.subject, ?consumer, "delivered");
                })
                .map_err(|err| {
                    let why = format!("event {} ({}): {err}", e.event_id, e.event_type);
                    (Some(e.subject.clone()), why)
                }),
            Ok(None) => Ok(()),
            Err(why) => Err((None, format!("undecodable message: {why}"))),
        };
        if let Err((subject, why)) = outcome {
            tracing::warn!(message_id = %id, ?consumer, error = %why, "queue message failed; reported for retry");
            if let Some(subject) = subject {
                held_back.insert(subject);
            }
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            response.batch_item_failures.push(f);
        }
    }
    response
}

/// Whether a `Records` payload is an SQS batch (rather than stream records).
pub fn is_sqs_batch(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource"))
        .and_then(|s| s.as_str())
        == Some("aws:sqs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bus_event(detail: Value) -> String {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "claim.submitted",
            "source": "aftersales",
            "account": "123456789012",
            "time": "2026-11-21T09:30:01Z",
            "region": "ap-southeast-1",
            "resources": [],
            "detail": detail,
        })
        .to_string()
    }

    #[test]
    fn a_message_carries_the_outbox_event_of_its_detail() {
        let record = json!({
            "eventID": "1",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "awsRegion": "ap-southeast-1",
            "dynamodb": {
                "Keys": {"pk": {"S": "OUTBOX"}, "sk": {"S": "e-1"}},
                "NewImage": {
                    "pk": {"S": "OUTBOX"}, "sk": {"S": "e-1"}, "ver": {"N": "1"},
                    "body": {"M": {
                        "event_id": {"S": "e-1"},
                        "at": {"S": "2026-11-21T09:30:00Z"},
                        "shop_id": {"S": "shop-1"},
                        "subject": {"S": "clm_1"},
                        "type": {"S": "claim.submitted"},
                        "payload": {"M": {"event": {"S": "submitted"}}}
                    }}
                },
                "SequenceNumber": "100",
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                "SizeBytes": 200
            }
        });
        let e = outbox_event_of(&bus_event(record.clone()))
            .unwrap()
            .expect("an outbox event");
        assert_eq!((e.event_id.as_str(), e.subject.as_str()), ("e-1", "clm_1"));
        assert_eq!(e.event_type.to_string(), "claim.submitted");

        // Another item's record is no event; a body without a detail and a
        // detail that is no record are poison.
        let mut claim_item = record;
        claim_item["dynamodb"]["NewImage"]["pk"] = json!({"S": "CLAIM#clm_1"});
        assert!(outbox_event_of(&bus_event(claim_item)).unwrap().is_none());
        let e = outbox_event_of(r#"{"refund_id":"RF1"}"#).unwrap_err();
        assert_eq!(e.to_string(), "not an EventBridge event with a detail");
        let e = outbox_event_of(&bus_event(json!({"dynamodb": 7}))).unwrap_err();
        assert!(matches!(e, BusMessageError::NotARecord(_)), "{e}");
        assert!(matches!(
            outbox_event_of("nope").unwrap_err(),
            BusMessageError::NotJson(_)
        ));
    }

    #[test]
    fn sqs_batches_are_told_from_stream_batches() {
        assert!(is_sqs_batch(
            &json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})
        ));
        assert!(!is_sqs_batch(
            &json!({"Records": [{"eventSource": "aws:dynamodb"}]})
        ));
        assert!(!is_sqs_batch(&json!({"Records": []})));
    }
}
