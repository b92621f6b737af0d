//! The courier-verification function. Three event sources
//! (infra/template.yaml):
//! - API Gateway: `POST /v1/couriers/kuaidi100`, Kuaidi100's signed pushes
//!   (the shared router checks the signature before reading anything);
//! - the table's stream: `claim.return_shipped` and
//!   `claim.replacement_shipped` outbox events register the parcel,
//!   subscribe to its pushes and ask about it once;
//! - a schedule: parcels without news for hours are asked about (pushes
//!   get lost), lapsed subscriptions renewed, returns never picked up
//!   within the shop's window flagged.
//!
//! Kuaidi100's credentials and our push salt come from `KUAIDI100_CONFIG`
//! (Secrets Manager); without it the function tracks nothing.

use aftersales::api::{router, AppState};
use aftersales::app::dispatch::Consumer;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_http::{service_fn, Error, LambdaEvent};
use serde_json::Value;

/// Parcels are asked about after this long without news.
const QUIET_HOURS: i64 = 6;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aftersales::telemetry::init(true);
    // Its one route (Kuaidi100's pushes) is checked by signature, but the
    // mode is read all the same: a wrong AUTH_MODE fails every HTTP function.
    let auth = aftersales::lambda::auth_from_env()?;
    let services = aftersales::lambda::services_from_env().await?;
    let api = router(AppState {
        services: services.clone(),
        auth,
    });
    lambda_http::lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| {
        let s = services.clone();
        let api = api.clone();
        async move {
            if ev.payload.get("Records").is_some() {
                let batch: StreamEvent = serde_json::from_value(ev.payload)?;
                let answer = aftersales::lambda_stream::handle(&s, Consumer::Couriers, batch).await;
                Ok::<Value, Error>(serde_json::to_value(answer)?)
            } else if aftersales::lambda::is_http_api_event(&ev.payload) {
                aftersales::lambda::handle_http_api_event(api, ev.payload).await
            } else {
                // EventBridge's scheduled event: its content does not matter.
                let done =
                    aftersales::app::couriers::poll(&s, chrono::Duration::hours(QUIET_HOURS))
                        .await
                        .map_err(|e| e.to_string())?;
                Ok(serde_json::json!({
                    "checked": done.checked,
                    "changed": done.changed,
                    "flagged": done.flagged,
                    "resubscribed": done.resubscribed,
                }))
            }
        }
    }))
    .await
}
