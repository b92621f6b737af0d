//! The refund executor's glue to its SQS queue. A message names one refund:
//! either `{"refund_id": "..."}` (what operators replay from the DLQ) or a
//! DynamoDB stream record of a `refund.requested` outbox event (what the
//! EventBridge pipe from the table's stream delivers). Each message is
//! executed on its own; the ones that failed for a reason worth retrying
//! are reported (`ReportBatchItemFailures`) and, with a queue client, made
//! visible again only after an exponential backoff. After the queue's
//! maxReceiveCount a message goes to the DLQ, where operators see it.

use crate::app::refunds::execute;
use crate::app::{AppError, Services};
use crate::domain::events::EventType;
use crate::lambda_stream::RecordError;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// Why a message failed and is reported for a retry: it names no refund
/// (a poison message, retried until the DLQ takes it), or executing the
/// refund failed.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("not a stream record: {0}")]
    NotARecord(#[source] serde_json::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("neither {{\"refund_id\"}} nor a stream record")]
    Unrecognised,
    #[error(transparent)]
    Execution(#[from] AppError),
}

/// The refund a message is about; None for messages that are not ours to
/// act on (another outbox event), an error for undecodable ones.
pub fn refund_id_of(body: &str) -> Result<Option<String>, MessageError> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(MessageError::NotJson)?;
    if let Some(id) = v.get("refund_id").and_then(|i| i.as_str()) {
        return Ok(Some(id.to_owned()));
    }
    if v.get("dynamodb").is_some() {
        let record: EventRecord = serde_json::from_value(v).map_err(MessageError::NotARecord)?;
        return match crate::lambda_stream::outbox_event(&record)? {
            Some(e) if e.event_type == EventType::RefundRequested => Ok(Some(e.subject)),
            _ => Ok(None),
        };
    }
    Err(MessageError::Unrecognised)
}

/// Seconds before a failed message is tried again: 10 s, doubling per
/// receive, at most 15 minutes.
pub fn backoff_seconds(receive_count: u32) -> i32 {
    let exp = receive_count.saturating_sub(1).min(7);
    (10i32 << exp).min(900)
}

/// Changes a message's visibility (the queue's client and URL).
#[cfg(feature = "sqs")]
pub struct Backoff {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

#[cfg(feature = "sqs")]
impl Backoff {
    /// The refund queue of `REFUND_QUEUE_URL`, reached with the default AWS
    /// configuration; a missing URL fails the cold start.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let queue_url =
            std::env::var("REFUND_QUEUE_URL").map_err(|_| "REFUND_QUEUE_URL is not set")?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Backoff {
            client: aws_sdk_sqs::Client::new(&config),
            queue_url,
        })
    }
}

/// Executes a batch; reports the messages to retry (the answer Lambda's SQS
/// event source expects with `ReportBatchItemFailures`).
pub async fn handle(
    s: &Services,
    event: SqsEvent,
    #[cfg(feature = "sqs")] backoff: Option<&Backoff>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for m in event.records {
        let id = m.message_id.clone().unwrap_or_default();
        let body = m.body.as_deref().unwrap_or("");
        let outcome: Result<(), MessageError> = match refund_id_of(body) {
            Ok(None) => Ok(()),
            Ok(Some(refund_id)) => match execute(s, &refund_id).await {
                Ok(status) => {
                    tracing::info!(refund_id, status = status.as_str(), "refund message done");
                    Ok(())
                }
                // Nothing to execute: a message for a refund that does not
                // exist will never succeed; keep it out of the retries.
                Err(AppError::NotFound(_)) => {
                    tracing::error!(refund_id, "refund message for an unknown refund; dropped");
                    Ok(())
                }
                Err(e) => Err(e.into()),
            },
            // A poison message: retried until the DLQ takes it.
            Err(why) => Err(why),
        };
        if let Err(why) = outcome {
            tracing::warn!(message_id = %id, error = %why, "refund message failed; will retry");
            #[cfg(feature = "sqs")]
            if let (Some(b), Some(handle)) = (backoff, m.receipt_handle.as_deref()) {
                let count: u32 = m
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                if let Err(e) = b
                    .client
                    .change_message_visibility()
                    .queue_url(&b.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(backoff_seconds(count))
                    .send()
                    .await
                {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "could not delay the retry");
                }
            }
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            response.batch_item_failures.push(f);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(
            (1..=9).map(backoff_seconds).collect::<Vec<_>>(),
            vec![10, 20, 40, 80, 160, 320, 640, 900, 900]
        );
    }

    #[test]
    fn messages_name_their_refund() {
        assert_eq!(
            refund_id_of(r#"{"refund_id":"RFclm1P1"}"#).unwrap(),
            Some("RFclm1P1".into())
        );
        let garbage = refund_id_of("garbage").unwrap_err();
        assert!(matches!(garbage, MessageError::NotJson(_)), "{garbage}");
        assert!(garbage.to_string().starts_with("not JSON: "), "{garbage}");
        let other = refund_id_of(r#"{"something":"else"}"#).unwrap_err();
        assert_eq!(
            other.to_string(),
            r#"neither {"refund_id"} nor a stream record"#
        );
    }
}
