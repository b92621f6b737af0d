//! Glue between API Gateway (through lambda_http) and the shared router.

use crate::auth::GatewayClaims;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tower::ServiceExt;

/// Moves the claims API Gateway's JWT authorizer verified into the request,
/// where the router's auth looks for them. A request without an authorizer
/// context carries no claims and is refused by every protected route.
pub fn with_gateway_claims(mut req: lambda_http::Request) -> lambda_http::Request {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| jwt.claims.clone()),
        _ => None,
    };
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
    use crate::app::Services;
    use crate::auth::AuthMode;
    use crate::store::{dynamodb::DynamoTable, Table};
    use std::sync::Arc;

    crate::telemetry::init(true);
    let table_name = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let table = DynamoTable::from_env(table_name).await;
    // One cheap read during init opens the TLS connection to DynamoDB, so the
    // first customer request does not pay for the handshake.
    if let Err(e) = table.get("WARMUP", "WARMUP").await {
        tracing::warn!(error = %e, "warm-up read failed");
    }
    let state = AppState {
        services: Services::new(Arc::new(table)),
        auth: AuthMode::Gateway,
    };
    serve(router(state)).await
}
