//! Goods going back and forth: the customer's return parcel or pickup, the
//! desk's inspection and an exchange's replacement.

use super::{ApiError, AppState, Body, Params};
use crate::app::returns;
use crate::auth::Principal;
use crate::domain::returns::PickupBooking;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/claims/{claim_id}/return-shipment",
            post(return_shipment),
        )
        .route("/v1/claims/{claim_id}/pickup", post(pickup))
        .route(
            "/v1/shops/{shop_id}/desk/claims/{claim_id}/inspection",
            post(inspection),
        )
        .route(
            "/v1/shops/{shop_id}/desk/claims/{claim_id}/replacement",
            post(replacement),
        )
        .route(
            "/v1/shops/{shop_id}/desk/claims/{claim_id}/replacement-delivered",
            post(replacement_delivered),
        )
        .route(
            "/v1/shops/{shop_id}/desk/claims/{claim_id}/refund-retry",
            post(refund_retry),
        )
}

async fn replacement_delivered(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    let view =
        returns::confirm_replacement_delivered(&st.services, &p, &shop_id, &claim_id).await?;
    Ok(Json(view).into_response())
}

async fn refund_retry(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
    Body(body): Body<crate::app::refunds::RetryRequest>,
) -> Result<Response, ApiError> {
    let view =
        crate::app::refunds::retry_failed(&st.services, &p, &shop_id, &claim_id, body).await?;
    Ok(Json(view).into_response())
}

async fn return_shipment(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
    Body(body): Body<returns::ShipmentRequest>,
) -> Result<Response, ApiError> {
    let view = returns::ship_return(&st.services, &p, &claim_id, body).await?;
    Ok(Json(view).into_response())
}

async fn pickup(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
    Body(body): Body<PickupBooking>,
) -> Result<Response, ApiError> {
    let view = returns::book_pickup(&st.services, &p, &claim_id, body).await?;
    Ok(Json(view).into_response())
}

async fn inspection(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
    Body(body): Body<returns::InspectionRequest>,
) -> Result<Response, ApiError> {
    let view = returns::inspect(&st.services, &p, &shop_id, &claim_id, body).await?;
    Ok(Json(view).into_response())
}

async fn replacement(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
    Body(body): Body<returns::ReplacementRequest>,
) -> Result<Response, ApiError> {
    let view = returns::ship_replacement(&st.services, &p, &shop_id, &claim_id, body).await?;
    Ok(Json(view).into_response())
}
