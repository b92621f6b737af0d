//! Glue between API Gateway (through lambda_http) and the shared router,
//! and what every function builds at cold start (auth mode, services). The
//! other event sources have their own modules: `lambda_stream` (the table's
//! stream), `lambda_sqs` (the refund queue), `lambda_s3` (evidence uploads),
//! `lambda_schedule` (EventBridge schedules); `lambda_dispatch` tells them
//! apart for the functions that take several.

use crate::auth::GatewayClaims;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tower::ServiceExt;

/// Moves the claims API Gateway's JWT authorizer verified into the request,
/// where the router's auth looks for them (`AUTH_MODE=gateway`). A request
/// without an authorizer context carries no claims and is refused by every
/// protected route; in `AUTH_MODE=token` the router reads the bearer token
/// itself and these claims are not looked at.
pub fn with_gateway_claims(mut req: lambda_http::Request) -> lambda_http::Request {
    let (claims, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| jwt.claims.clone()),
            ctx.request_id.clone(),
        ),
        _ => (None, None),
    };
    // API Gateway's id, the one in its access log, names the request in
    // our answers and logs too.
    if let Some(id) = request_id {
        req.extensions_mut()
            .insert(crate::api::guard::RequestId(id));
    }
    if let Some(c) = claims {
        req.extensions_mut().insert(GatewayClaims(c));
    }
    req
}

/// Handles one API Gateway request with the router (used by the functions
/// and by the tests that replay `events/`).
pub async fn handle(
    router: axum::Router,
    req: lambda_http::Request,
) -> http::Response<axum::body::Body> {
    match router.oneshot(with_gateway_claims(req)).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Runs the router as a Lambda function until the runtime stops it.
pub async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    let svc = tower::ServiceBuilder::new()
        .map_request(with_gateway_claims)
        .service(router);
    lambda_http::run(svc).await
}

/// The whole life of an HTTP API function: logs, AWS clients built once per
/// cold start, then requests until the runtime stops it. Every HTTP function
/// links the same router; API Gateway decides which routes reach which one.
#[cfg(feature = "dynamodb")]
pub async fn run_http_api() -> Result<(), lambda_http::Error> {
    use crate::api::{router, AppState};

    crate::telemetry::init(true);
    // Before anything else: a wrong auth setting stops the cold start.
    let auth = auth_from_env()?;
    let services = services_from_env().await?;
    #[cfg(feature = "secrets")]
    {
        // The payment webhooks verify with the providers' keys, read from
        // their secrets at the first request and re-read after the TTL.
        let partners = crate::lambda_secrets::Partners::from_env(services, move |services| {
            router(AppState {
                services,
                auth: auth.clone(),
            })
        })?;
        serve_with_partners(std::sync::Arc::new(partners)).await
    }
    #[cfg(not(feature = "secrets"))]
    serve(router(AppState { services, auth })).await
}

/// The web function: the pages behind API Gateway on routes without an
/// authorizer (a browser sends its session as a cookie, which the JWT
/// authorizer does not read), so the function verifies the cookie's token
/// itself against the issuer's keys, fetched once at cold start.
#[cfg(all(feature = "dynamodb", feature = "providers"))]
pub async fn run_web() -> Result<(), lambda_http::Error> {
    crate::telemetry::init(true);
    // Before anything else: no issuer to trust stops the cold start.
    let keys = issuer_keys_from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "refusing to start"))?;
    let services = services_from_env().await?;
    serve(crate::web::router(crate::web::WebState {
        services,
        auth: crate::auth::AuthMode::Issuer(std::sync::Arc::new(keys)),
        dev_sign_in: false,
    }))
    .await
}

/// The issuer the HTTP API's JWT authorizer trusts (`JWT_ISSUER`,
/// `JWT_AUDIENCE`) and its keys, read from `JWKS_URL` or the issuer's
/// `/.well-known/jwks.json`.
#[cfg(feature = "providers")]
pub async fn issuer_keys_from_env() -> Result<crate::auth::IssuerKeys, crate::auth::AuthConfigError>
{
    use crate::auth::{
        AuthConfigError, IssuerKeys, JWKS_URL_ENV, JWT_AUDIENCE_ENV, JWT_ISSUER_ENV,
    };
    let setting = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(AuthConfigError::MissingIssuerSetting(name))
    };
    let issuer = setting(JWT_ISSUER_ENV)?;
    let audience = setting(JWT_AUDIENCE_ENV)?;
    let url = IssuerKeys::jwks_url(&issuer, std::env::var(JWKS_URL_ENV).ok().as_deref());
    let jwks = fetch_jwks(&url)
        .await
        .map_err(|e| AuthConfigError::Jwks(format!("{url}: {e}")))?;
    IssuerKeys::from_jwks(&issuer, &audience, &jwks)
}

#[cfg(feature = "providers")]
async fn fetch_jwks(url: &str) -> Result<String, reqwest::Error> {
    // reqwest's rustls needs a process-wide crypto provider.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

/// [`serve`] with the router the partners' current configuration builds.
/// A secret that cannot be read fails that request (logged; API Gateway
/// answers 500 and a provider sends its webhook again), not the function.
#[cfg(all(feature = "secrets", feature = "dynamodb"))]
async fn serve_with_partners(
    partners: std::sync::Arc<crate::lambda_secrets::Partners<axum::Router>>,
) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |req| {
        let partners = partners.clone();
        async move {
            let router = partners
                .current()
                .await
                .inspect_err(|e| tracing::error!(error = %e, "partner configuration"))?;
            Ok::<_, lambda_http::Error>(handle((*router).clone(), req).await)
        }
    }))
    .await
}

/// How the HTTP functions authenticate, from `AUTH_MODE` (see
/// [`crate::auth::AuthMode::from_settings`]). A wrong setting fails the cold
/// start. Token mode is announced in the logs: it is for `sam local` and
/// `cargo lambda watch`, where no JWT authorizer runs.
pub fn auth_from_env() -> Result<crate::auth::AuthMode, crate::auth::AuthConfigError> {
    // Logged as well as returned: `main` would print only the error's Debug form.
    let mode = crate::auth::AuthMode::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "refusing to start"))?;
    if matches!(mode, crate::auth::AuthMode::Hs256(_)) {
        tracing::warn!(
            "AUTH_MODE=token: verifying development tokens (HS256, issuer {}); for local runs only",
            crate::auth::DEV_ISSUER
        );
    }
    Ok(mode)
}

/// Whether a Lambda payload is an API Gateway HTTP API (v2) request, for
/// functions that also have other event sources.
pub fn is_http_api_event(payload: &serde_json::Value) -> bool {
    payload
        .get("requestContext")
        .is_some_and(|c| c.get("http").is_some())
}

/// Handles an API Gateway HTTP API (v2) event given as JSON with the router
/// and answers in the v2 response format: what `lambda_http::run` does, for
/// a function whose other event sources are not HTTP.
pub async fn handle_http_api_event(
    router: axum::Router,
    payload: serde_json::Value,
) -> Result<serde_json::Value, lambda_http::Error> {
    use base64::Engine;
    let req = lambda_http::request::from_str(&payload.to_string())?;
    let (parts, body) = handle(router, req).await.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await?;
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let Ok(value) = value.to_str() else { continue };
        let joined = match headers.get(name.as_str()).and_then(|v| v.as_str()) {
            Some(before) => format!("{before},{value}"),
            None => value.to_owned(),
        };
        headers.insert(name.as_str().to_owned(), joined.into());
    }
    let (body, encoded) = match std::str::from_utf8(&bytes) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&bytes),
            true,
        ),
    };
    Ok(serde_json::json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": encoded,
    }))
}

/// Evidence storage from the environment: S3 when `EVIDENCE_BUCKET` is set.
#[cfg(feature = "s3")]
async fn evidence_from_env() -> Option<std::sync::Arc<dyn crate::ports::EvidenceStorage>> {
    let bucket = std::env::var("EVIDENCE_BUCKET").ok()?;
    let s3 = crate::adapters::s3_evidence::S3EvidenceStorage::from_env(bucket).await;
    Some(std::sync::Arc::new(s3))
}

#[cfg(not(feature = "s3"))]
async fn evidence_from_env() -> Option<std::sync::Arc<dyn crate::ports::EvidenceStorage>> {
    None
}

/// The services every function builds once per cold start: the table from
/// `TABLE_NAME` (warmed up), evidence storage from `EVIDENCE_BUCKET`. The
/// partners' adapters come later, from their secrets
/// (`crate::lambda_secrets`).
#[cfg(feature = "dynamodb")]
pub async fn services_from_env() -> Result<crate::app::Services, lambda_http::Error> {
    use crate::app::Services;
    use crate::store::{dynamodb::DynamoTable, Table};
    use std::sync::Arc;

    let table_name = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let table = DynamoTable::from_env(table_name).await;
    // One cheap read during init opens the TLS connection to DynamoDB, so the
    // first request does not pay for the handshake.
    if let Err(e) = table.get("WARMUP", "WARMUP").await {
        tracing::warn!(error = %e, "warm-up read failed");
    }
    let mut services = Services::new(Arc::new(table));
    // The service figures (refunds, webhook refusals, reconciliation
    // findings...) as CloudWatch metrics through the log stream (EMF).
    services.metrics = Arc::new(crate::adapters::emf::EmfStdout);
    services.evidence = evidence_from_env().await;
    // Set by the template where a payout provider is configured.
    services.bank_payouts = std::env::var("BANK_PAYOUTS").is_ok_and(|v| v == "on");
    // Webhook signing secrets sealed with the template's key, in the two
    // functions that seal or open them.
    #[cfg(feature = "kms")]
    if let Some(sealer) = crate::adapters::kms_sealer::KmsSealer::from_env().await {
        services.secret_sealer = Some(Arc::new(sealer));
    }
    Ok(services)
}
