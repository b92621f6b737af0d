//! The refund executor. Two event sources (infra/template.yaml):
//! - the refund queue (SQS, fed from the table's stream by a pipe): each
//!   message's refund is sent to its provider and the answer recorded;
//!   failures are reported per message and retried with backoff, poison
//!   messages end in the DLQ;
//! - a schedule: refunds left processing for over an hour are looked up at
//!   their provider (reconciliation).

use aftersales::lambda_dispatch::Sources;
use aftersales::lambda_sqs::Backoff;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    let backoff = Backoff::from_env().await?;
    let sources = Sources::refund_executor(Some(backoff));
    aftersales::lambda_dispatch::run(services, sources).await
}
