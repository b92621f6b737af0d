//! The HTTP API: one axum router, served by the Lambda functions (through
//! lambda_http) and by the one-machine runner (through hyper), so the two
//! cannot drift. Paths, auth and JSON errors live here; decisions live in
//! the use cases.

use crate::app::{AppError, Services};
use crate::auth::{AuthError, AuthMode, Principal};
use crate::repo::RepoError;
pub use access::Access;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;

pub mod access;
mod claims;
mod clearance;
mod couriers;
mod desk;
mod disputes;
mod finance;
pub mod guard;
mod hook_endpoints;
mod inbox;
pub mod local_uploads;
mod orders;
mod returns;
mod shop;
mod webhooks;
mod winback;

/// One route: method, path in OpenAPI's syntax, and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Every route the API serves, and who may call it: the one place access
/// is declared, enforced by [`access::authorize`] before any handler runs.
/// `infra/openapi.yaml` (paths and `security`) and the SAM template's
/// HttpApi events are checked against this list by tests.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/v1/health",
        access: Access::Public,
    },
    Route {
        method: "PUT",
        path: "/v1/shops/{shop_id}/orders/{order_id}",
        access: Access::SHOP,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/orders/{order_id}",
        access: Access::SHOP,
    },
    Route {
        method: "POST",
        path: "/v1/claims",
        access: Access::Customer,
    },
    Route {
        method: "GET",
        path: "/v1/claims",
        access: Access::SignedIn,
    },
    Route {
        method: "GET",
        path: "/v1/claims/{claim_id}",
        access: Access::SignedIn,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/cancel",
        access: Access::CustomerClaim,
    },
    Route {
        method: "GET",
        path: "/v1/inbox",
        access: Access::Customer,
    },
    Route {
        method: "POST",
        path: "/v1/inbox/{message_id}/read",
        access: Access::Customer,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/evidence-uploads",
        access: Access::CustomerClaim,
    },
    Route {
        method: "POST",
        path: "/v1/evidence-uploads",
        access: Access::Customer,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/policy",
        access: Access::Public,
    },
    Route {
        method: "PUT",
        path: "/v1/shops/{shop_id}/policy",
        access: Access::ADMINS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/rules",
        access: Access::STAFF,
    },
    Route {
        method: "PUT",
        path: "/v1/shops/{shop_id}/rules",
        access: Access::ADMINS,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/rules/dry-run",
        access: Access::REVIEWERS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/rejection-reasons",
        access: Access::Public,
    },
    Route {
        method: "PUT",
        path: "/v1/shops/{shop_id}/rejection-reasons",
        access: Access::ADMINS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/desk/claims",
        access: Access::STAFF,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/desk/claims/{claim_id}",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/claims/{claim_id}/decision",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/batch",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/{provider}",
        access: Access::Signed,
    },
    Route {
        method: "POST",
        path: "/v1/couriers/kuaidi100",
        access: Access::Signed,
    },
    Route {
        method: "POST",
        path: "/v1/clearance/notify",
        access: Access::Signed,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/refunds",
        access: Access::STAFF,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/refunds/export",
        access: Access::MONEY_STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/orders/{order_id}/refunds",
        access: Access::MONEY_STAFF,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/balance",
        access: Access::ShopStaffOrCustomer,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/balance/debits",
        access: Access::SHOP,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/points",
        access: Access::ShopStaffOrCustomer,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/points/{entry_id}/reverse",
        access: Access::ADMINS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/coupons",
        access: Access::ShopStaffOrCustomer,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/desk/callbacks",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/callbacks/{claim_id}",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/claims/quote",
        access: Access::Customer,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/return-shipment",
        access: Access::ClaimParty,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/pickup",
        access: Access::ClaimParty,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/claims/{claim_id}/inspection",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/claims/{claim_id}/replacement",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/claims/{claim_id}/replacement-delivered",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/desk/claims/{claim_id}/refund-retry",
        access: Access::MONEY_STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/dispute",
        access: Access::CustomerClaim,
    },
    Route {
        method: "GET",
        path: "/v1/claims/{claim_id}/dispute",
        access: Access::ClaimParty,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/dispute/messages",
        access: Access::ClaimParty,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/dispute/proposals",
        access: Access::ClaimParty,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/dispute/proposals/{n}/accept",
        access: Access::ClaimParty,
    },
    Route {
        method: "POST",
        path: "/v1/claims/{claim_id}/dispute/withdraw",
        access: Access::CustomerClaim,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/desk/disputes",
        access: Access::STAFF,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/reports/disputes",
        access: Access::STAFF,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/reports/sla",
        access: Access::STAFF,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/webhook-endpoints",
        access: Access::ADMINS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/webhook-endpoints",
        access: Access::ADMINS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
        access: Access::ADMINS,
    },
    Route {
        method: "PATCH",
        path: "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
        access: Access::ADMINS,
    },
    Route {
        method: "DELETE",
        path: "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}",
        access: Access::ADMINS,
    },
    Route {
        method: "GET",
        path: "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}/deliveries",
        access: Access::ADMINS,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}/rotate-secret",
        access: Access::ADMINS,
    },
    Route {
        method: "POST",
        path: "/v1/shops/{shop_id}/webhook-endpoints/{endpoint_id}/replay",
        access: Access::ADMINS,
    },
];

/// Whether a route is served without a token (public, or authenticated by
/// a signature instead): the template's authorizer and the OpenAPI
/// `security` agree (checked by tests).
pub fn is_public(method: &str, path: &str) -> bool {
    ROUTES
        .iter()
        .any(|r| r.method == method && r.path == path && r.access.is_public())
}

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
        .merge(clearance::routes())
        .merge(inbox::routes())
        .merge(shop::routes())
        .merge(desk::routes())
        .merge(disputes::routes())
        .merge(winback::routes())
        .merge(webhooks::routes())
        .merge(finance::routes())
        .merge(returns::routes())
        .merge(hook_endpoints::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(guard::guard))
        .with_state(state)
}

// ---------------------------------------------------------------- errors

/// The one error shape: `{"error": {"code": "...", "message": "..."}}`.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The request field at fault, where there is one (`lines[0].unit_price`).
    field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `invalid_amount` for the amount in `field`.
    pub fn invalid_amount(field: &str, why: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_amount",
            format!("{field}: {why}"),
        )
        .with_field(field)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            error["field"] = f.into();
        }
        (self.status, Json(serde_json::json!({ "error": error }))).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        if let AppError::InvalidAmount { field, reason } = &e {
            return ApiError::invalid_amount(field, reason);
        }
        let status = match &e {
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict { .. } | AppError::Repo(RepoError::Conflict { .. }) => {
                StatusCode::CONFLICT
            }
            AppError::InvalidAmount { .. } => StatusCode::BAD_REQUEST,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Repo(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let (code, message) = e.answer();
        ApiError::new(status, code, message)
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

    /// The principal the access layer authenticated (every route that
    /// needs one has passed it), taken rather than copied: a handler reads
    /// it once. Authenticates here only as a fallback.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.remove::<Principal>() {
            return Ok(p);
        }
        Ok(access::authenticate(parts, &state.auth)?)
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
        parse_json(&bytes).map(Body)
    }
}

/// Parses a JSON body. An amount anywhere in it that is not money answers
/// 400 `invalid_amount` naming its field (the amount type tags its own
/// errors), so every body with money is covered by construction; anything
/// else unreadable answers 400 `malformed_json`, also naming the field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The happy path parses once, plainly; only a body that fails is read
    // again with the path tracked (which allocates for every key it passes).
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let e = unreadable(e, "malformed_json");
        // Inside an internally tagged enum (a decision's `amount`) serde
        // buffers the body and the path stops at the enum: find the amount
        // itself.
        let named = e
            .field
            .as_deref()
            .is_some_and(|f| AMOUNT_FIELDS.contains(&f.rsplit(['.', '[']).next().unwrap_or(f)));
        if e.code != "invalid_amount" || named {
            return e;
        }
        match serde_json::from_slice(bytes)
            .ok()
            .and_then(|v: serde_json::Value| first_bad_amount(&v, ""))
        {
            Some((path, why)) => ApiError::invalid_amount(&path, why),
            None => e,
        }
    })?;
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    Ok(value)
}

/// The names amounts go by in request bodies.
const AMOUNT_FIELDS: &[&str] = &[
    "amount",
    "unit_price",
    "discount",
    "order_discount",
    "shipping_fee",
    "min_amount",
    "max_amount",
];

/// The path of the first value under an amount's name that is not an
/// amount (written as serde_path_to_error writes paths), and why not.
fn first_bad_amount(v: &serde_json::Value, at: &str) -> Option<(String, String)> {
    use serde_json::Value;
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            let why = (AMOUNT_FIELDS.contains(&k.as_str()) && !v.is_null())
                .then(|| serde_json::from_value::<crate::domain::money::Amount>(v.clone()).err())
                .flatten()
                .map(|e| amount_reason(&e.to_string()).unwrap_or_default().to_owned());
            match why {
                Some(why) => Some((path, why)),
                None => first_bad_amount(v, &path),
            }
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_bad_amount(v, &format!("{at}[{i}]"))),
        _ => None,
    }
}

/// What an amount's own error says, if `message` is one (see
/// [`crate::domain::money::AMOUNT_ERROR_TAG`]).
fn amount_reason(message: &str) -> Option<&str> {
    message
        .split_once(crate::domain::money::AMOUNT_ERROR_TAG)
        .map(|(_, why)| why)
}

fn unreadable<E: std::fmt::Display>(
    e: serde_path_to_error::Error<E>,
    code: &'static str,
) -> ApiError {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    // serde_json appends the position; the field says more.
    let why = inner
        .rsplit_once(" at line ")
        .map_or(inner.as_str(), |(m, _)| m);
    match amount_reason(why) {
        Some(why) => ApiError::invalid_amount(&path, why),
        None if path == "." || path == "?" => ApiError::new(StatusCode::BAD_REQUEST, code, why),
        None => {
            ApiError::new(StatusCode::BAD_REQUEST, code, format!("{path}: {why}")).with_field(path)
        }
    }
}

/// Query parameters, read into `T` (no unknown names where `T` denies
/// them): the one way a handler reads a query string. Failures answer 400
/// `invalid_query` naming the parameter, or `invalid_amount` for an amount.
pub(crate) struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryParams)
            .map_err(|e| unreadable(e, "invalid_query"))
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
