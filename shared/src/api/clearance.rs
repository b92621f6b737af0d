//! Clearance pushes: `POST /v1/clearance/notify`. No token: the clearance
//! service signs each push (timestamp, nonce, body) with the secret we
//! share, and the signature is checked before the body is read. Answers
//! are JSON: 200 taken (also when it was old news), 401 unsigned, 400 not
//! a push, 404 no such order, 422 a declaration the order does not carry;
//! the service pushes again after anything but 200.

use super::{ApiError, AppState};
use crate::app::clearance::{pushed, PushRefusal};
use crate::clearance::{PushError, Signed, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(crate::clearance::PUSH_PATH, post(push))
}

async fn push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signed = match (h(TIMESTAMP_HEADER), h(NONCE_HEADER), h(SIGNATURE_HEADER)) {
        (Some(timestamp), Some(nonce), Some(signature)) => Some(Signed {
            timestamp,
            nonce,
            signature,
        }),
        _ => None,
    };
    match pushed(&st.services, signed, &body).await {
        Ok(p) => Ok(Json(
            json!({"received": true, "claims_updated": p.claims_updated}),
        )),
        Err(PushRefusal::Push(e @ PushError::BadSignature(_))) => {
            tracing::warn!(error = %e, "clearance push refused");
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                e.to_string(),
            ))
        }
        Err(PushRefusal::Push(e @ PushError::Malformed(_))) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_push",
            e.to_string(),
        )),
        Err(PushRefusal::App(e)) => Err(e.into()),
    }
}
