//! The rule-evaluation function. Two event sources (infra/template.yaml):
//! - the table's stream: `claim.submitted` and `claim.evidence_added`
//!   outbox events are decided by the shop's rule set (idempotent: a claim
//!   no longer waiting is left alone);
//! - a schedule: claims past their review deadline escalate, and overdue
//!   refund-only claims approve themselves where the shop's policy says so.

use aftersales::app::dispatch::Consumer;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_http::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let s = services.clone();
        async move {
            if ev.payload.get("Records").is_some() {
                let batch: StreamEvent = serde_json::from_value(ev.payload)?;
                let answer = aftersales::lambda_stream::handle(&s, Consumer::Rules, batch).await;
                Ok::<Value, Error>(serde_json::to_value(answer)?)
            } else {
                // EventBridge's scheduled event: its content does not matter.
                let done = aftersales::app::review::sweep_deadlines(&s)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(serde_json::json!({
                    "escalated": done.escalated,
                    "auto_approved": done.auto_approved,
                    "cleared": done.cleared,
                }))
            }
        }
    }))
    .await
}
