//! The evidence function: S3 ObjectCreated events under `evidence/` record
//! the uploaded file on its claim (checked against the shop's limits), which
//! puts a `claim.evidence_added` event in the outbox for re-evaluation.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    aftersales::lambda_s3::run(services).await
}
