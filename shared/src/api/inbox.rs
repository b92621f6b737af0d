//! The customer's in-app inbox: the notifications of their claims' steps.

use super::{ApiError, AppState, Params};
use crate::app::notify;
use crate::auth::Principal;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/inbox", get(list_inbox))
        .route("/v1/inbox/{message_id}/read", post(mark_read))
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list_inbox(
    State(st): State<AppState>,
    p: Principal,
    super::QueryParams(q): super::QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    let page = notify::list_inbox(&st.services, &p, q.limit, q.cursor.as_deref()).await?;
    Ok(Json(page).into_response())
}

async fn mark_read(
    State(st): State<AppState>,
    p: Principal,
    Params(message_id): Params<String>,
) -> Result<Response, ApiError> {
    Ok(Json(notify::mark_read(&st.services, &p, &message_id).await?).into_response())
}
