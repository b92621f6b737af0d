//! Glue between the table's DynamoDB stream records and the outbox
//! consumers (the runner's poller plays the stream's part on one machine):
//! a batch of stream records comes in, the outbox events among them go to
//! the consumer, and the answer names the first record that failed
//! (`ReportBatchItemFailures`). As deployed, the consumers read their own
//! SQS queue, fed by the events bus, whose messages carry these same
//! records ([`crate::lambda_bus`]); [`handle_records`] takes either.
//!
//! Only INSERTs into the outbox partition are events; the event source's
//! filter already drops everything else (claims, orders, the outbox's own
//! deletions), and this code skips it again so a missing filter costs an
//! invocation, not a wrong delivery. The record's new image is decoded
//! with the DynamoDB engine's own item mapping, so an event reads the same
//! here as through the table port.

use crate::app::dispatch::{deliver, Consumer};
use crate::app::Services;
use crate::repo::{self, OutboxEvent, RepoError};
use crate::store::{attr, StoreError};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Why a record that should be an outbox event does not decode (a poison
/// record: it fails until the DLQ takes it).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A stream without new images (KEYS_ONLY) cannot feed consumers.
    #[error("the record has no new image with a pk")]
    NoImage,
    /// The image is not an item as the DynamoDB engine maps them.
    #[error(transparent)]
    Item(#[from] StoreError),
    /// The item is not an outbox event.
    #[error(transparent)]
    Event(#[from] RepoError),
}

/// The outbox event a stream record carries; `None` for records that are
/// not new outbox events. An error is a record that should be one and does
/// not decode.
pub fn outbox_event(record: &EventRecord) -> Result<Option<OutboxEvent>, RecordError> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let image: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
    match image.get(attr::PK) {
        Some(AttributeValue::S(pk)) if pk == repo::outbox::PARTITION => {}
        Some(_) => return Ok(None),
        // A stream without new images (KEYS_ONLY) cannot feed consumers.
        None => return Err(RecordError::NoImage),
    }
    let item = crate::store::dynamodb::from_attributes(image)?;
    Ok(Some(repo::outbox::from_item(item)?))
}

/// Delivers a batch's outbox events to `consumer`, in order, and reports
/// the first record that failed. Lambda resumes the shard from the lowest
/// failed sequence number, so the records after a failure come again
/// anyway: delivering them now would only deliver them twice, out of order.
pub async fn handle(s: &Services, consumer: Consumer, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        let outcome = match outbox_event(record) {
            Ok(Some(e)) => deliver(s, consumer, &e)
                .await
                .map(|()| {
                    tracing::info!(event_id = %e.event_id, event_type = %e.event_type, claim_id = %e.subject, ?consumer, "delivered");
                })
                .map_err(|err| format!("event {} ({}): {err}", e.event_id, e.event_type)),
            Ok(None) => Ok(()),
            Err(why) => Err(format!("undecodable record: {why}")),
        };
        if let Err(why) = outcome {
            tracing::warn!(sequence, stream_event_id = %record.event_id, ?consumer, error = %why, "stream record failed; reported for retry");
            // An empty identifier makes Lambda retry the whole batch,
            // which is right for a record it did not number.
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence);
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

/// Handles one invocation's `Records` for `consumer`: stream records (the
/// function as a stream reader) or, as deployed, an SQS batch of the
/// consumer's queue, fed from the events bus ([`crate::lambda_bus`]).
/// Answers the partial batch failures of the one or the other.
pub async fn handle_records(
    s: &Services,
    consumer: Consumer,
    payload: serde_json::Value,
) -> Result<serde_json::Value, lambda_http::Error> {
    Ok(if crate::lambda_bus::is_sqs_batch(&payload) {
        let batch = serde_json::from_value(payload)?;
        serde_json::to_value(crate::lambda_bus::handle(s, consumer, batch).await)?
    } else {
        let batch = serde_json::from_value(payload)?;
        serde_json::to_value(handle(s, consumer, batch).await)?
    })
}

/// Runs `consumer` as a Lambda function on its queue (or the stream) until
/// the runtime stops it.
pub async fn run(services: Services, consumer: Consumer) -> Result<(), lambda_http::Error> {
    use lambda_http::{service_fn, LambdaEvent};
    lambda_http::lambda_runtime::run(service_fn(move |ev: LambdaEvent<serde_json::Value>| {
        let s = services.clone();
        async move { handle_records(&s, consumer, ev.payload).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_outbox_images_are_events() {
        let mut record = EventRecord::default();
        record.event_name = "MODIFY".into();
        assert!(matches!(outbox_event(&record), Ok(None)));
        // An insert without a new image: the stream is KEYS_ONLY.
        record.event_name = "INSERT".into();
        let e = outbox_event(&record).unwrap_err();
        assert!(matches!(e, RecordError::NoImage), "{e}");
        assert_eq!(e.to_string(), "the record has no new image with a pk");
    }
}
