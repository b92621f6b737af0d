//! The merchant desk: queue, claim detail, decisions, batch review.

use super::{ApiError, AppState, Body, Params};
use crate::app::desk::{self, BatchRequest, QueueFilter, StaffDecision};
use crate::auth::Principal;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

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

/// The queue's query: paging and the filter's fields, typed as the filter
/// types them. (The filter is also a batch body, where serde's flatten
/// would read these from JSON; a query string has only strings, so the
/// fields are named here and handed over whole.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueParams {
    limit: Option<u32>,
    cursor: Option<String>,
    status: Option<crate::domain::claim::ClaimStatus>,
    #[serde(rename = "type")]
    claim_type: Option<String>,
    product_kind: Option<crate::domain::order::ProductKind>,
    evidence_complete: Option<bool>,
    min_amount: Option<crate::domain::money::Amount>,
    max_amount: Option<crate::domain::money::Amount>,
    min_age_hours: Option<u32>,
    member_tier: Option<crate::domain::order::MemberTier>,
    escalated: Option<bool>,
    parcel_flagged: Option<bool>,
}

impl QueueParams {
    fn filter(&self) -> QueueFilter {
        QueueFilter {
            status: self.status,
            claim_type: self.claim_type.clone(),
            product_kind: self.product_kind,
            evidence_complete: self.evidence_complete,
            min_amount: self.min_amount,
            max_amount: self.max_amount,
            min_age_hours: self.min_age_hours,
            member_tier: self.member_tier,
            escalated: self.escalated,
            parcel_flagged: self.parcel_flagged,
        }
    }
}

async fn queue(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<QueueParams>,
) -> Result<Response, ApiError> {
    let out = desk::queue(
        &st.services,
        &p,
        &shop_id,
        &q.filter(),
        q.limit,
        q.cursor.as_deref(),
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
