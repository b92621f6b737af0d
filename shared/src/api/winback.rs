//! Win-back routes: a customer's coupons, the staff's call-backs.

use super::{ApiError, AppState, Body, Params};
use crate::app::winback::{self, CallbackResult};
use crate::auth::Principal;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/shops/{shop_id}/coupons", get(coupons))
        .route("/v1/shops/{shop_id}/desk/callbacks", get(callbacks))
        .route(
            "/v1/shops/{shop_id}/desk/callbacks/{claim_id}",
            post(record_callback),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CouponParams {
    customer_id: Option<String>,
}

async fn coupons(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<CouponParams>,
) -> Result<Response, ApiError> {
    let v = winback::coupons(&st.services, &p, &shop_id, q.customer_id.as_deref()).await?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackParams {
    /// `open` (the default) or `all`.
    status: Option<String>,
}

async fn callbacks(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<CallbackParams>,
) -> Result<Response, ApiError> {
    let all = match q.status.as_deref().unwrap_or("open") {
        "open" => false,
        "all" => true,
        other => {
            return Err(crate::app::AppError::Invalid {
                code: "invalid_request",
                message: format!("status: {other:?} is not open or all"),
            }
            .into())
        }
    };
    Ok(Json(winback::callbacks(&st.services, &p, &shop_id, all).await?).into_response())
}

async fn record_callback(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
    Body(body): Body<CallbackResult>,
) -> Result<Response, ApiError> {
    let v = winback::record_callback(&st.services, &p, &shop_id, &claim_id, body).await?;
    Ok(Json(v).into_response())
}
