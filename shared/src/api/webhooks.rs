//! Payment providers' webhooks: `POST /v1/webhooks/{provider}`. No token:
//! the provider's signature is the authentication, checked before anything
//! is read, and a refused notification changes nothing.

use super::{ApiError, AppState, Params};
use crate::app::refunds::{notified, Notified};
use crate::providers::Incoming;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/webhooks/{provider}", post(webhook))
}

async fn webhook(
    State(st): State<AppState>,
    Params(provider): Params<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let incoming = Incoming {
        headers: &headers,
        body: &body,
    };
    let (Notified::Handled(ack)
    | Notified::Mismatched(ack)
    | Notified::Refused(ack)
    | Notified::Failed(ack)) = notified(&st.services, &provider, &incoming).await?;
    let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::BAD_REQUEST);
    // The provider's protocol sets this answer's shape (Alipay's `fail`).
    Ok((
        status,
        [(header::CONTENT_TYPE, ack.content_type)],
        axum::Extension(super::guard::ProtocolAnswer),
        ack.body,
    )
        .into_response())
}
