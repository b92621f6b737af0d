//! The courier-verification function. Three event sources
//! (infra/template.yaml):
//! - API Gateway: `POST /v1/couriers/kuaidi100`, Kuaidi100's signed pushes
//!   (the shared router checks the signature before reading anything);
//! - its SQS queue, fed by the events bus: `claim.return_shipped` and
//!   `claim.replacement_shipped` outbox events register the parcel,
//!   subscribe to its pushes and ask about it once;
//! - a schedule: parcels without news for hours are asked about (pushes
//!   get lost), lapsed subscriptions renewed, returns never picked up
//!   within the shop's window flagged.
//!
//! Kuaidi100's credentials and our push salt come from the secret
//! `KUAIDI100_SECRET_ID` names (`aftersales::lambda_secrets`); without it
//! the function tracks nothing.

use aftersales::api::{router, AppState};
use aftersales::lambda_dispatch::Sources;
use aftersales::lambda_secrets::Partners;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::telemetry::init(true);
    // Its one route (Kuaidi100's pushes) is checked by signature, but the
    // mode is read all the same: a wrong AUTH_MODE fails every HTTP function.
    let auth = aftersales::lambda::auth_from_env()?;
    let services = aftersales::lambda::services_from_env().await?;
    // Kuaidi100's and the clearance service's keys: from their secrets, at
    // the first event; the router checks pushes with them.
    let partners = Partners::from_env(services, move |services| {
        let api = router(AppState {
            services: services.clone(),
            auth: auth.clone(),
        });
        (services, Sources::courier_verification(api))
    })?;
    aftersales::lambda_dispatch::run_with_partners(partners).await
}
