//! Order intake routes.

use super::{ApiError, AppState, Body, Params};
use crate::app;
use crate::auth::Principal;
use crate::domain::order::OrderDraft;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/shops/{shop_id}/orders/{order_id}",
        put(put_order).get(get_order),
    )
}

async fn put_order(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, order_id)): Params<(String, String)>,
    Body(draft): Body<OrderDraft>,
) -> Result<Response, ApiError> {
    let (view, created) = app::put_order(&st.services, &p, &shop_id, &order_id, draft).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

async fn get_order(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, order_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(app::get_order(&st.services, &p, &shop_id, &order_id).await?).into_response())
}
