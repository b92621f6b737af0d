//! The webhook-delivery function. Two event sources (infra/template.yaml):
//! - its SQS queue, fed by the events bus with every outbox event that can
//!   make public events: a delivery recorded per endpoint that wants each
//!   public event, every public event put on the bus (for the shop's
//!   AWS-native systems), then the deliveries due sent;
//! - a schedule, every minute: the deliveries due sent (the retries, over
//!   three days; an endpoint failing all that time is disabled and the
//!   shop's admins told).
//!
//! The sender is the runner's ([`aftersales::hooks::sender`]).

use aftersales::adapters::eventbridge::EventBridgeBus;
use aftersales::lambda_dispatch::Sources;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::telemetry::init(true);
    let mut services = aftersales::lambda::services_from_env().await?;
    services.public_bus = Some(Arc::new(EventBridgeBus::from_env().await?));
    aftersales::lambda_dispatch::run(services, Sources::webhook_delivery()).await
}
