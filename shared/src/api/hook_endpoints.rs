//! A shop's webhook endpoints (its own systems, told of its events): its
//! admins register, list, change, disable and delete them, and read each
//! one's delivery log. See [`crate::hooks`].

use super::access::{check, Access};
use super::{ApiError, AppState, Params};
use crate::auth::Principal;
use crate::hooks::{self, Delivery, EndpointPatch, HookError, NewEndpoint, Replay};
use crate::repo::RepoError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/shops/{shop_id}/webhook-endpoints",
            get(list).post(create),
        )
        .route(
            "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
            get(get_one).patch(update).delete(delete),
        )
        .route(
            "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}/deliveries",
            get(deliveries),
        )
        .route(
            "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}/rotate-secret",
            post(rotate_secret),
        )
        .route(
            "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}/replay",
            post(replay),
        )
}

/// At most this many deliveries in a log answer, newest first.
const LOG_LIMIT: usize = 100;

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Invalid {
                code,
                message,
                field,
            } => {
                let e = ApiError::new(StatusCode::BAD_REQUEST, code, message);
                match field {
                    Some(f) => e.with_field(f),
                    None => e,
                }
            }
            HookError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            HookError::Repo(RepoError::Conflict { .. }) => ApiError::new(
                StatusCode::CONFLICT,
                "busy",
                "changed concurrently: try again",
            ),
            HookError::Repo(e) => crate::app::AppError::Repo(e).into(),
            HookError::Sealing(e) => crate::app::AppError::Unavailable(e.to_string()).into(),
        }
    }
}

/// The access layer checked this already; the handlers check again, as
/// use cases do, so they stay safe whoever calls them.
fn admin(p: &Principal, shop_id: &str) -> Result<(), ApiError> {
    check(Access::ADMINS, p, Some(shop_id))
}

/// An endpoint with its secret: the answer of a create and of a rotation,
/// the only times the secret is shown.
fn with_secret(view: hooks::EndpointView, secret: String) -> serde_json::Value {
    let mut json = serde_json::to_value(view).expect("an endpoint serializes");
    json["secret"] = secret.into();
    json
}

async fn create(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
    super::Body(body): super::Body<NewEndpoint>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    let now = (st.services.clock)();
    let (view, secret) = hooks::create(
        &*st.services.table,
        st.services.secret_sealer.as_deref(),
        &shop_id,
        body,
        now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(with_secret(view, secret))).into_response())
}

async fn list(
    State(st): State<AppState>,
    p: Principal,
    Params(shop_id): Params<String>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    let endpoints = hooks::list(&*st.services.table, &shop_id).await?;
    Ok(Json(serde_json::json!({ "endpoints": endpoints })).into_response())
}

async fn get_one(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, endpoint_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    Ok(Json(hooks::get(&*st.services.table, &shop_id, &endpoint_id).await?).into_response())
}

async fn update(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, endpoint_id)): Params<(String, String)>,
    super::Body(body): super::Body<EndpointPatch>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    let now = (st.services.clock)();
    let view = hooks::update(&*st.services.table, &shop_id, &endpoint_id, body, now).await?;
    Ok(Json(view).into_response())
}

async fn delete(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, endpoint_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    hooks::delete(&*st.services.table, &shop_id, &endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_secret(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, endpoint_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    let now = (st.services.clock)();
    let (view, secret) = hooks::rotate_secret(
        &*st.services.table,
        st.services.secret_sealer.as_deref(),
        &shop_id,
        &endpoint_id,
        now,
    )
    .await?;
    Ok(Json(with_secret(view, secret)).into_response())
}

async fn replay(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, endpoint_id)): Params<(String, String)>,
    super::Body(body): super::Body<Replay>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    let now = (st.services.clock)();
    let queued = hooks::replay(&*st.services.table, &shop_id, &endpoint_id, body, now).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "replayed": queued })),
    )
        .into_response())
}

async fn deliveries(
    State(st): State<AppState>,
    p: Principal,
    Params((shop_id, endpoint_id)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    admin(&p, &shop_id)?;
    let log = hooks::delivery_log(&*st.services.table, &shop_id, &endpoint_id, LOG_LIMIT).await?;
    let log: Vec<serde_json::Value> = log.iter().map(log_entry).collect();
    Ok(Json(serde_json::json!({ "deliveries": log })).into_response())
}

/// A delivery as its log shows it: its attempts, not its body.
fn log_entry(d: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "webhook_id": d.webhook_id,
        "event_type": d.event_type,
        "created_at": d.created_at,
        "state": d.state,
        "next_at": d.next_at,
        "attempts": d.attempts,
    })
}
