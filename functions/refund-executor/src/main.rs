//! The refund executor. Two event sources (infra/template.yaml):
//! - the refund queue (SQS, fed from the table's stream by a pipe): each
//!   message's refund is sent to its provider and the answer recorded;
//!   failures are reported per message and retried with backoff, poison
//!   messages end in the DLQ;
//! - a schedule: refunds left processing for over an hour are looked up at
//!   their provider (reconciliation).

use aftersales::lambda_sqs::{handle_refund_messages, Backoff};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    let queue_url = std::env::var("REFUND_QUEUE_URL").map_err(|_| "REFUND_QUEUE_URL is not set")?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let backoff = Arc::new(Backoff {
        client: aws_sdk_sqs::Client::new(&config),
        queue_url,
    });
    lambda_http::lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let s = services.clone();
        let backoff = backoff.clone();
        async move {
            if ev.payload.get("Records").is_some() {
                let batch: SqsEvent = serde_json::from_value(ev.payload)?;
                let answer = handle_refund_messages(&s, batch, Some(&backoff)).await;
                Ok::<Value, Error>(serde_json::to_value(answer)?)
            } else {
                let done = aftersales::app::refunds::reconcile(&s, chrono::Duration::hours(1))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(serde_json::json!({"checked": done.checked, "settled": done.settled}))
            }
        }
    }))
    .await
}
