//! The one-machine stand-in for S3's presigned PUT: `PUT /local-uploads/{key}`
//! with the `expires` and `sig` the runner signed (see
//! [`LocalEvidenceStorage`]). After the bytes are stored, the file is
//! recorded on its claim at once, as S3's object-created event does in the
//! cloud. Not an API Gateway route: only the runner mounts it.

use super::ApiError;
use crate::adapters::local_evidence::{LocalEvidenceStorage, UploadRefused};
use crate::app::evidence::{record_upload, Recorded};
use crate::app::Services;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Clone)]
struct UploadState {
    storage: Arc<LocalEvidenceStorage>,
    services: Services,
}

pub fn routes(storage: Arc<LocalEvidenceStorage>, services: Services) -> Router {
    Router::new()
        .route("/local-uploads/{*key}", put(upload))
        // The signed Content-Length bounds the body, checked before reading.
        .layer(DefaultBodyLimit::disable())
        .with_state(UploadState { storage, services })
}

#[derive(Deserialize)]
struct Signed {
    expires: i64,
    sig: String,
}

fn bad(status: StatusCode, code: &'static str, m: impl Into<String>) -> ApiError {
    ApiError::new(status, code, m)
}

async fn upload(
    State(st): State<UploadState>,
    Path(key): Path<String>,
    q: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|_| {
        bad(
            StatusCode::FORBIDDEN,
            "bad_signature",
            "an upload URL carries expires and sig",
        )
    })?;
    let header_str = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header_str(header::CONTENT_TYPE).ok_or_else(|| {
        bad(
            StatusCode::BAD_REQUEST,
            "missing_header",
            "send the signed Content-Type",
        )
    })?;
    let length: u64 = header_str(header::CONTENT_LENGTH)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            bad(
                StatusCode::LENGTH_REQUIRED,
                "missing_header",
                "send the signed Content-Length",
            )
        })?;
    let now = (st.services.clock)();
    st.storage
        .verify("PUT", &key, content_type, length, q.expires, &q.sig, now)
        .map_err(|e| {
            let code = match e {
                UploadRefused::Expired => "expired",
                UploadRefused::BadSignature | UploadRefused::BadKey => "bad_signature",
            };
            bad(StatusCode::FORBIDDEN, code, e.to_string())
        })?;
    let limit = usize::try_from(length).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        bad(
            StatusCode::BAD_REQUEST,
            "length_mismatch",
            "the body is longer than the signed Content-Length",
        )
    })?;
    if bytes.len() as u64 != length {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            "length_mismatch",
            "the body is shorter than the signed Content-Length",
        ));
    }
    st.storage
        .write(&key, content_type, &bytes)
        .await
        .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    // The file is stored either way (as in S3); whether it counts as
    // evidence is the claim's business, reported here for convenience.
    let (recorded, reason) = match record_upload(&st.services, &key).await {
        Ok(Recorded::Added { .. } | Recorded::AlreadyThere | Recorded::Landed) => (true, None),
        Ok(Recorded::Refused(why)) => (false, Some(why)),
        Err(e) => {
            tracing::warn!(%key, error = %e, "recording the upload failed");
            (false, Some(e.to_string()))
        }
    };
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({"evidence_key": key, "recorded": recorded, "reason": reason})),
    )
        .into_response())
}
