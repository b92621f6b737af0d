//! Refunds for staff and finance: search, the monthly CSV export, refunds
//! without a claim; and a customer's store balance.

use super::{ApiError, AppState, Body, Params};
use crate::app::refunds::{self, RefundSearch};
use crate::auth::Principal;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/shops/{shop_id}/refunds", get(search))
        .route("/v1/shops/{shop_id}/refunds/export", get(export))
        .route(
            "/v1/shops/{shop_id}/orders/{order_id}/refunds",
            post(refund_without_claim),
        )
        .route("/v1/shops/{shop_id}/balance", get(balance))
        .route("/v1/shops/{shop_id}/balance/debits", post(debit_balance))
        .route("/v1/shops/{shop_id}/points", get(points))
        .route(
            "/v1/shops/{shop_id}/points/{entry_id}/reverse",
            post(reverse_points),
        )
}

async fn refund_without_claim(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, order_id)): Params<(String, String)>,
    headers: HeaderMap,
    super::Body(body): super::Body<crate::app::merchant_refunds::MerchantRefundRequest>,
) -> Result<Response, ApiError> {
    let key = super::idempotency_key(&headers)?;
    let (view, created) = crate::app::merchant_refunds::refund_without_claim(
        &st.services,
        &p,
        &shop_id,
        &order_id,
        body,
        key,
    )
    .await?;
    Ok((super::created_or_replayed(created), Json(view)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceParams {
    customer_id: Option<String>,
}

async fn balance(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<BalanceParams>,
) -> Result<Response, ApiError> {
    let view = refunds::balance(&st.services, &p, &shop_id, q.customer_id.as_deref()).await?;
    Ok(Json(view).into_response())
}

async fn debit_balance(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    headers: HeaderMap,
    Body(body): Body<refunds::DebitRequest>,
) -> Result<Response, ApiError> {
    let key = super::idempotency_key(&headers)?;
    let (view, created) = refunds::debit(&st.services, &p, &shop_id, body, key).await?;
    Ok((super::created_or_replayed(created), Json(view)).into_response())
}

async fn points(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<BalanceParams>,
) -> Result<Response, ApiError> {
    let view =
        crate::app::points::points(&st.services, &p, &shop_id, q.customer_id.as_deref()).await?;
    Ok(Json(view).into_response())
}

async fn reverse_points(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, entry_id)): Params<(String, String)>,
    Body(body): Body<crate::app::points::ReverseRequest>,
) -> Result<Response, ApiError> {
    let view = crate::app::points::reverse(&st.services, &p, &shop_id, &entry_id, body).await?;
    Ok(Json(view).into_response())
}

async fn search(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<RefundSearch>,
) -> Result<Response, ApiError> {
    let found = refunds::search(&st.services, &p, &shop_id, &q).await?;
    Ok(Json(found).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    month: String,
}

async fn export(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<ExportParams>,
) -> Result<Response, ApiError> {
    let stream = refunds::export_month(&st.services, &p, &shop_id, &q.month).await?;
    let filename = format!("attachment; filename=\"refunds-{shop_id}-{}.csv\"", q.month)
        .replace(['\r', '\n'], "");
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
