//! Dispute routes: the thread on a claim for its customer and its shop's
//! staff, and the desk's list; the dispute and service figures.

use super::{ApiError, AppState, Body, Params};
use crate::app::disputes::{self, MessageRequest, OpenRequest, ProposalRequest};
use crate::auth::Principal;
use crate::domain::dispute::DisputeStatus;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/claims/{claim_id}/dispute",
            post(open_dispute).get(get_dispute),
        )
        .route("/v1/claims/{claim_id}/dispute/messages", post(message))
        .route("/v1/claims/{claim_id}/dispute/proposals", post(propose))
        .route(
            "/v1/claims/{claim_id}/dispute/proposals/{n}/accept",
            post(accept),
        )
        .route("/v1/claims/{claim_id}/dispute/withdraw", post(withdraw))
        .route("/v1/shops/{shop_id}/desk/disputes", get(desk_list))
        .route("/v1/shops/{shop_id}/reports/disputes", get(report))
        .route("/v1/shops/{shop_id}/reports/sla", get(sla_report))
}

async fn open_dispute(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
    Body(body): Body<OpenRequest>,
) -> Result<Response, ApiError> {
    let v = disputes::open(&st.services, &p, &claim_id, body).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn get_dispute(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
) -> Result<Response, ApiError> {
    Ok(Json(disputes::get(&st.services, &p, &claim_id).await?).into_response())
}

async fn message(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
    Body(body): Body<MessageRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(disputes::message(&st.services, &p, &claim_id, body).await?).into_response())
}

async fn propose(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
    Body(body): Body<ProposalRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(disputes::propose(&st.services, &p, &claim_id, body).await?).into_response())
}

async fn accept(
    State(st): State<AppState>,
    p: Principal,
    Params((claim_id, n)): Params<(String, u32)>,
) -> Result<Response, ApiError> {
    Ok(Json(disputes::accept(&st.services, &p, &claim_id, n).await?).into_response())
}

async fn withdraw(
    State(st): State<AppState>,
    p: Principal,
    Params(claim_id): Params<String>,
) -> Result<Response, ApiError> {
    Ok(Json(disputes::withdraw(&st.services, &p, &claim_id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// `open` (the default), `resolved`, `withdrawn` or `all`.
    status: Option<String>,
}

async fn desk_list(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        "open" => Some(DisputeStatus::Open),
        "resolved" => Some(DisputeStatus::Resolved),
        "withdrawn" => Some(DisputeStatus::Withdrawn),
        other => {
            return Err(crate::app::AppError::Invalid {
                code: "invalid_request",
                message: format!("status: {other:?} is not one of open, resolved, withdrawn, all"),
            }
            .into())
        }
    };
    Ok(Json(disputes::desk_list(&st.services, &p, &shop_id, status).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
}

async fn report(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<ReportParams>,
) -> Result<Response, ApiError> {
    Ok(Json(disputes::report(&st.services, &p, &shop_id, q.from, q.to).await?).into_response())
}

async fn sla_report(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::QueryParams(q): super::QueryParams<ReportParams>,
) -> Result<Response, ApiError> {
    Ok(
        Json(crate::app::sla::report(&st.services, &p, &shop_id, q.from, q.to).await?)
            .into_response(),
    )
}
