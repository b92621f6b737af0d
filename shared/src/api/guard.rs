//! What every answer goes through, on Lambda as on the runner: a request
//! id, one error shape, and no panic ever reaching the caller as a dropped
//! connection.
//!
//! - The request id is API Gateway's (the Lambda glue passes it as
//!   [`RequestId`]), else a caller's `x-request-id` when it is short and
//!   printable, else a new one. It is on every answer (`x-request-id`) and
//!   on every log line of the request.
//! - A panic while serving answers 500 in the JSON error shape with the
//!   request id, and is logged with it; the process goes on serving.
//! - An error answer that is not JSON (axum's own rejections: wrong method,
//!   body too large, unreadable body) is rewritten into
//!   `{"error": {"code", "message"}}`, except where a provider's protocol
//!   dictates the answer: those responses carry [`ProtocolAnswer`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use tracing::Instrument;

/// The id API Gateway gave the request, put into the request by the Lambda
/// glue.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Marks a response whose shape a provider's protocol dictates (Alipay's
/// `fail`, WeChat Pay's `{code, message}`, Kuaidi100's `{result,
/// returnCode}`): left as it is.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolAnswer;

const HEADER: &str = "x-request-id";

fn request_id(req: &Request) -> String {
    if let Some(RequestId(id)) = req.extensions().get::<RequestId>() {
        return id.clone();
    }
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_id, str::to_owned)
}

/// A new request id: this process's random prefix and a counter, unique
/// without asking the OS for randomness on every request.
fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The middleware: see the module's documentation.
pub async fn guard(mut req: Request, next: Next) -> Response {
    let id = request_id(&req);
    // Anything nested inside (another guard) keeps this id.
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let served = AssertUnwindSafe(next.run(req).instrument(span.clone()))
        .catch_unwind()
        .await;
    let mut response = match served {
        Ok(r) => one_error_shape(r, &id).await,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            span.in_scope(|| tracing::error!(request_id = %id, panic = %what, "panic while serving a request"));
            let body = serde_json::json!({"error": {
                "code": "internal",
                "message": format!("internal error; try again, or quote request {id}"),
                "request_id": id,
            }});
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

fn is_json(r: &Response) -> bool {
    r.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Rewrites an error answer that is not JSON into the one error shape, and
/// names the request in every 5xx (what a caller quotes to support).
async fn one_error_shape(r: Response, id: &str) -> Response {
    let status = r.status();
    if !(status.is_client_error() || status.is_server_error())
        || r.extensions().get::<ProtocolAnswer>().is_some()
    {
        return r;
    }
    if is_json(&r) {
        return if status.is_server_error() {
            with_request_id(r, id).await
        } else {
            r
        };
    }
    let (mut parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, default) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!(
                "request bodies are limited to {} bytes",
                super::MAX_BODY_BYTES
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as application/json".to_owned(),
        ),
        StatusCode::NOT_FOUND => ("not_found", "no such route".to_owned()),
        s if s.is_server_error() => ("internal", "internal error; try again".to_owned()),
        _ => ("bad_request", "the request cannot be read".to_owned()),
    };
    let message = match status {
        // axum's texts for these say less than ours.
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::PAYLOAD_TOO_LARGE => default,
        _ if text.is_empty() => default,
        _ => text,
    };
    let mut error = serde_json::json!({"code": code, "message": message});
    if status.is_server_error() {
        error["request_id"] = id.into();
    }
    let body = serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Adds `request_id` to a JSON error answer's `error` object.
async fn with_request_id(r: Response, id: &str) -> Response {
    let (mut parts, body) = r.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut v: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    if let Some(error) = v.get_mut("error").and_then(|e| e.as_object_mut()) {
        error.insert("request_id".into(), id.into());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&v).unwrap_or_default()),
    )
}
