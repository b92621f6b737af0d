//! The evidence function: S3 ObjectCreated events under `evidence/` record
//! the uploaded file on its claim (checked against the shop's limits), which
//! puts a `claim.evidence_added` event in the outbox for re-evaluation.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    let services = &services;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<S3Event>| async move {
        let recorded = aftersales::lambda::handle_s3_event(services, e.payload).await?;
        Ok::<_, lambda_runtime::Error>(serde_json::json!({ "recorded": recorded.len() }))
    }))
    .await
}
