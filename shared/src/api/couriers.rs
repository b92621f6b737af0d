//! Courier pushes: `POST /v1/couriers/kuaidi100`. No token: Kuaidi100 signs
//! each push with the salt we gave it when subscribing, and the signature
//! is checked before anything is read. Kuaidi100 reads only its own JSON
//! reply: success stops it pushing, anything else makes it push again later.

use super::{ApiError, AppState};
use crate::app::couriers::pushed;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/couriers/kuaidi100", post(push))
}

/// The form body is read as it arrived (not through a form extractor):
/// the signature is over the `param` text exactly as Kuaidi100 sent it.
async fn push(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let reply = pushed(&st.services, &body).await?;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        axum::Extension(super::guard::ProtocolAnswer),
        reply.body,
    )
        .into_response())
}
