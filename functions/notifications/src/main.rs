//! The notifications function: outbox events from its SQS queue (fed by the
//! events bus's rule from the table's stream) become inbox messages and text
//! messages (through SNS). The queue, the rule and the retry policy are in
//! infra/template.yaml.

use aftersales::adapters::sms_sns::SnsSms;
use aftersales::app::dispatch::Consumer;
use aftersales::app::Services;
use aftersales::store::dynamodb::DynamoTable;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::telemetry::init(true);
    let table_name = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let mut services = Services::new(Arc::new(DynamoTable::from_env(table_name).await));
    services.sms = Arc::new(SnsSms::from_env().await);
    services.metrics = Arc::new(aftersales::adapters::emf::EmfStdout);
    aftersales::lambda_stream::run(services, Consumer::Notifications).await
}
