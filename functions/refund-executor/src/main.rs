//! The refund executor. Two event sources (infra/template.yaml):
//! - the refund queue (SQS, fed from the table's stream by a pipe): each
//!   message's refund is sent to its provider and the answer recorded;
//!   failures are reported per message and retried with backoff, poison
//!   messages end in the DLQ;
//! - a schedule: refunds left processing for over an hour are looked up at
//!   their provider (reconciliation).

use aftersales::lambda_dispatch::Sources;
use aftersales::lambda_secrets::Partners;
use aftersales::lambda_sqs::Backoff;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    let backoff = Backoff::from_env().await?;
    let sources = Sources::refund_executor(Some(backoff));
    // The providers' keys: from their secrets, at the first event.
    let partners = Partners::from_env(services, move |s| (s, sources.clone()))?;
    aftersales::lambda_dispatch::run_with_partners(partners).await
}
