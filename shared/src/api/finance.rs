//! Refunds for staff and finance: search, and the monthly CSV export.

use super::{ApiError, AppState, Params};
use crate::app::refunds::{self, RefundSearch};
use crate::auth::Principal;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/shops/{shop_id}/refunds", get(search))
        .route("/v1/shops/{shop_id}/refunds/export", get(export))
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text())
}

async fn search(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    q: Result<Query<RefundSearch>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let found = refunds::search(&st.services, &p, &shop_id, &q).await?;
    Ok(Json(serde_json::json!({ "refunds": found })).into_response())
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
    q: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
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
