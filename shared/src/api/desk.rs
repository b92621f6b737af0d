//! The merchant desk: queue, claim detail, decisions, batch review.

use super::{ApiError, AppState, Body, Params};
use crate::app::desk::{self, BatchRequest, QueueFilter, StaffDecision};
use crate::auth::Principal;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/shops/{shop_id}/desk/claims", get(queue))
        .route("/v1/shops/{shop_id}/desk/claims/{claim_id}", get(detail))
        .route(
            "/v1/shops/{shop_id}/desk/claims/{claim_id}/decision",
            post(decide),
        )
        .route("/v1/shops/{shop_id}/desk/batch", post(batch))
}

/// Query parameters arrive as strings; the filter's booleans and numbers
/// are read from them here (serde's flatten cannot type them).
fn queue_params(
    pairs: Vec<(String, String)>,
) -> Result<(Option<u32>, Option<String>, QueueFilter), ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", m);
    let (mut limit, mut cursor) = (None, None);
    let mut filter = serde_json::Map::new();
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                limit = Some(
                    v.parse()
                        .map_err(|_| bad(format!("limit: {v:?} is not a number")))?,
                )
            }
            "cursor" => cursor = Some(v),
            "evidence_complete" | "escalated" | "parcel_flagged" => {
                let b = v
                    .parse::<bool>()
                    .map_err(|_| bad(format!("{k}: true or false, not {v:?}")))?;
                filter.insert(k, b.into());
            }
            "min_age_hours" => {
                let n = v
                    .parse::<u32>()
                    .map_err(|_| bad(format!("{k}: {v:?} is not a number of hours")))?;
                filter.insert(k, n.into());
            }
            _ => {
                filter.insert(k, v.into());
            }
        }
    }
    let filter = super::from_json_value(serde_json::Value::Object(filter), "invalid_query")?;
    Ok((limit, cursor, filter))
}

async fn queue(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    q: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let (limit, cursor, filter) = queue_params(q)?;
    let out = desk::queue(
        &st.services,
        &p,
        &shop_id,
        &filter,
        limit,
        cursor.as_deref(),
    )
    .await?;
    Ok(Json(out).into_response())
}

async fn detail(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(desk::detail(&st.services, &p, &shop_id, &claim_id).await?).into_response())
}

async fn decide(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, claim_id)): Params<(String, String)>,
    Body(d): Body<StaffDecision>,
) -> Result<Response, ApiError> {
    Ok(Json(desk::decide(&st.services, &p, &shop_id, &claim_id, d).await?).into_response())
}

async fn batch(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    Body(req): Body<BatchRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(desk::batch(&st.services, &p, &shop_id, req).await?).into_response())
}
