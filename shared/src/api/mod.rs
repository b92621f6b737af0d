//! The HTTP API: one axum router, served by the Lambda functions (through
//! lambda_http) and by the one-machine runner (through hyper), so the two
//! cannot drift. Paths, auth and JSON errors live here; decisions live in
//! the use cases.

use crate::app::{AppError, Services};
use crate::auth::{AuthError, AuthMode, GatewayClaims, Principal};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;

mod claims;
mod couriers;
mod desk;
mod finance;
mod inbox;
pub mod local_uploads;
mod orders;
mod returns;
mod shop;
mod webhooks;

/// Every route the API serves, as (method, path) in OpenAPI's path syntax.
/// `infra/openapi.yaml` and the SAM template's HttpApi events are checked
/// against this list by tests.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/health"),
    ("PUT", "/v1/shops/{shop_id}/orders/{order_id}"),
    ("GET", "/v1/shops/{shop_id}/orders/{order_id}"),
    ("POST", "/v1/claims"),
    ("GET", "/v1/claims"),
    ("GET", "/v1/claims/{claim_id}"),
    ("POST", "/v1/claims/{claim_id}/cancel"),
    ("GET", "/v1/inbox"),
    ("POST", "/v1/inbox/{message_id}/read"),
    ("POST", "/v1/claims/{claim_id}/evidence-uploads"),
    ("GET", "/v1/shops/{shop_id}/policy"),
    ("PUT", "/v1/shops/{shop_id}/policy"),
    ("GET", "/v1/shops/{shop_id}/rules"),
    ("PUT", "/v1/shops/{shop_id}/rules"),
    ("GET", "/v1/shops/{shop_id}/rejection-reasons"),
    ("PUT", "/v1/shops/{shop_id}/rejection-reasons"),
    ("GET", "/v1/shops/{shop_id}/desk/claims"),
    ("GET", "/v1/shops/{shop_id}/desk/claims/{claim_id}"),
    (
        "POST",
        "/v1/shops/{shop_id}/desk/claims/{claim_id}/decision",
    ),
    ("POST", "/v1/shops/{shop_id}/desk/batch"),
    ("POST", "/v1/webhooks/{provider}"),
    ("POST", "/v1/couriers/kuaidi100"),
    ("GET", "/v1/shops/{shop_id}/refunds"),
    ("GET", "/v1/shops/{shop_id}/refunds/export"),
    ("POST", "/v1/shops/{shop_id}/orders/{order_id}/refunds"),
    ("GET", "/v1/shops/{shop_id}/balance"),
    ("POST", "/v1/claims/quote"),
    ("POST", "/v1/claims/{claim_id}/return-shipment"),
    ("POST", "/v1/claims/{claim_id}/pickup"),
    (
        "POST",
        "/v1/shops/{shop_id}/desk/claims/{claim_id}/inspection",
    ),
    (
        "POST",
        "/v1/shops/{shop_id}/desk/claims/{claim_id}/replacement",
    ),
    (
        "POST",
        "/v1/shops/{shop_id}/desk/claims/{claim_id}/replacement-delivered",
    ),
    (
        "POST",
        "/v1/shops/{shop_id}/desk/claims/{claim_id}/refund-retry",
    ),
];

/// Routes served without a token: what the shop promises publicly (product
/// pages and the apply page read them). Every other route needs one; the
/// template's authorizer and the OpenAPI `security` agree (checked by tests).
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/health"),
    ("GET", "/v1/shops/{shop_id}/policy"),
    ("GET", "/v1/shops/{shop_id}/rejection-reasons"),
    // Authenticated by the provider's signature instead.
    ("POST", "/v1/webhooks/{provider}"),
    // Kuaidi100's pushes, authenticated by their signature.
    ("POST", "/v1/couriers/kuaidi100"),
];

/// The request's Idempotency-Key header, if any.
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_idempotency_key",
                    "Idempotency-Key must be visible ASCII",
                )
            })
        })
        .transpose()
}

/// 201 for something made now, 200 for the replay of an earlier request.
fn created_or_replayed(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub auth: AuthMode,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .merge(orders::routes())
        .merge(claims::routes())
        .merge(couriers::routes())
        .merge(inbox::routes())
        .merge(shop::routes())
        .merge(desk::routes())
        .merge(webhooks::routes())
        .merge(finance::routes())
        .merge(returns::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

// ---------------------------------------------------------------- errors

/// The one error shape: `{"error": {"code": "...", "message": "..."}}`.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            AppError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            AppError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            AppError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            AppError::Unavailable(m) => {
                tracing::error!(error = %m, "dependency unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            AppError::Repo(e) => {
                tracing::error!(error = %e, "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; try again",
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

// ---------------------------------------------------------------- extractors

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match &state.auth {
            AuthMode::Gateway => {
                let claims = parts
                    .extensions
                    .get::<GatewayClaims>()
                    .ok_or(AuthError::Missing)?;
                Ok(Principal::from_claims(&claims.0)?)
            }
            AuthMode::Hs256(keys) => {
                let h = parts
                    .headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                Ok(keys.verify(h)?)
            }
        }
    }
}

/// A JSON body whose every failure is a JSON 4xx.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))
    }
}

/// Path parameters whose failures are JSON errors too.
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Params(p.0))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))
    }
}

// ---------------------------------------------------------------- handlers

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}
