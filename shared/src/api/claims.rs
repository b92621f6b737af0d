//! Claim routes for customers (and staff reading their shop's claims).

use super::{ApiError, AppState, Body, Params};
use crate::app;
use crate::app::SubmitClaim;
use crate::auth::Principal;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/claims", post(submit_claim).get(list_claims))
        .route("/v1/claims/quote", post(quote_claim))
        .route("/v1/claims/{claim_id}", get(get_claim))
        .route("/v1/claims/{claim_id}/cancel", post(cancel_claim))
        .route(
            "/v1/claims/{claim_id}/evidence-uploads",
            post(create_evidence_upload),
        )
        .route("/v1/evidence-uploads", post(create_shop_upload))
}

async fn create_shop_upload(
    State(st): State<AppState>,
    p: Principal,
    Body(body): Body<app::evidence::ShopUploadRequest>,
) -> Result<Response, ApiError> {
    let view = app::evidence::create_shop_upload(&st.services, &p, body).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn create_evidence_upload(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
    Body(body): Body<app::evidence::UploadRequest>,
) -> Result<Response, ApiError> {
    let view = app::evidence::create_upload(&st.services, &p, &claim_id, body).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn quote_claim(
    State(st): State<AppState>,
    p: Principal,
    Body(body): Body<SubmitClaim>,
) -> Result<Response, ApiError> {
    let quote = app::quote_claim(&st.services, &p, body).await?;
    Ok(Json(quote).into_response())
}

async fn submit_claim(
    State(st): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body<SubmitClaim>,
) -> Result<Response, ApiError> {
    let key = super::idempotency_key(&headers)?;
    let (view, created) = app::submit_claim(&st.services, &p, body, key).await?;
    Ok((super::created_or_replayed(created), Json(view)).into_response())
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list_claims(
    State(st): State<AppState>,
    p: Principal,
    super::QueryParams(q): super::QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    Ok(
        Json(app::list_claims(&st.services, &p, q.limit, q.cursor.as_deref()).await?)
            .into_response(),
    )
}

async fn get_claim(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
) -> Result<Response, ApiError> {
    Ok(Json(app::get_claim(&st.services, &p, &claim_id).await?).into_response())
}

async fn cancel_claim(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
) -> Result<Response, ApiError> {
    Ok(Json(app::cancel_claim(&st.services, &p, &claim_id).await?).into_response())
}
