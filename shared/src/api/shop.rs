//! A shop's settings: the after-sales policy (public: product pages and the
//! apply page show it), the review rule set and the rejection reasons.

use super::{ApiError, AppState, Params};
use crate::app::policy;
use crate::auth::Principal;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/shops/{shop_id}/policy",
            get(get_policy).put(put_policy),
        )
        .route("/v1/shops/{shop_id}/rules", get(get_rules).put(put_rules))
        .route(
            "/v1/shops/{shop_id}/rules/dry-run",
            axum::routing::post(dry_run_rules),
        )
        .route(
            "/v1/shops/{shop_id}/rejection-reasons",
            get(get_reasons).put(put_reasons),
        )
}

/// A shop id in the path of a route anyone may read: checked here, as no
/// principal's shop is compared with it.
fn public_shop(shop_id: &str) -> Result<(), ApiError> {
    crate::domain::order::check_id("shop_id", shop_id).map_err(|m| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_path",
            m.to_string(),
        )
    })
}

/// No token needed: the policy is what the shop promises publicly.
async fn get_policy(
    State(st): State<AppState>,
    Params(shop_id): Params<String>,
) -> Result<Response, ApiError> {
    public_shop(&shop_id)?;
    Ok(Json(policy::policy_for(&st.services, &shop_id).await?).into_response())
}

async fn put_policy(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::Body(body): super::Body<crate::domain::policy::ShopPolicy>,
) -> Result<Response, ApiError> {
    Ok(Json(policy::put_policy(&st.services, &p, &shop_id, body).await?).into_response())
}

async fn get_rules(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
) -> Result<Response, ApiError> {
    Ok(Json(policy::get_rules(&st.services, &p, &shop_id).await?).into_response())
}

async fn put_rules(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::Body(body): super::Body<serde_json::Value>,
) -> Result<Response, ApiError> {
    Ok(Json(policy::put_rules(&st.services, &p, &shop_id, body).await?).into_response())
}

/// A rule set to try over the shop's recent claims, changing nothing.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRunBody {
    rules: serde_json::Value,
    days: u32,
}

async fn dry_run_rules(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::Body(body): super::Body<DryRunBody>,
) -> Result<Response, ApiError> {
    let out = policy::dry_run_rules(&st.services, &p, &shop_id, &body.rules, body.days).await?;
    Ok(Json(out).into_response())
}

/// Public, like the policy: the apply page explains possible outcomes.
async fn get_reasons(
    State(st): State<AppState>,
    Params(shop_id): Params<String>,
) -> Result<Response, ApiError> {
    public_shop(&shop_id)?;
    let c = crate::app::review::catalogue_for(&st.services, &shop_id).await?;
    Ok(Json(serde_json::json!({ "reasons": c.all(), "extras": c.extras() })).into_response())
}

async fn put_reasons(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::Body(body): super::Body<serde_json::Value>,
) -> Result<Response, ApiError> {
    let c = policy::put_catalogue(&st.services, &p, &shop_id, body).await?;
    Ok(Json(serde_json::json!({ "reasons": c.all(), "extras": c.extras() })).into_response())
}
