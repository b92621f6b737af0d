//! The rule-evaluation function. Two event sources (infra/template.yaml):
//! - its SQS queue, fed by the events bus: `claim.submitted`,
//!   `claim.evidence_added` and the other rule triggers are decided by the
//!   shop's rule set (idempotent: a claim
//!   no longer waiting is left alone);
//! - a schedule: claims past their review deadline escalate, and overdue
//!   refund-only claims approve themselves where the shop's policy says so.

use aftersales::lambda_dispatch::Sources;
use aftersales::lambda_secrets::Partners;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::telemetry::init(true);
    let services = aftersales::lambda::services_from_env().await?;
    // The voucher issuer, installer network and clearance service: from
    // their secrets, at the first event.
    let partners = Partners::from_env(services, |s| (s, Sources::rule_evaluation()))?;
    aftersales::lambda_dispatch::run_with_partners(partners).await
}
