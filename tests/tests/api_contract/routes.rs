//! The router's `ROUTES` and the OpenAPI document list the same routes
//! (with their path parameters and security), and the router really serves
//! each of them.

use super::helpers::{
    assert_same_routes, openapi, operations, path_param_names, resolve, routes, Route,
};
use aftersales::api::{is_public, ROUTES};
use aftersales_tests::http::spawn_app;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

#[test]
fn openapi_describes_exactly_the_routes() {
    let spec = openapi();
    assert_eq!(spec["openapi"], "3.0.3");
    let ops = operations(&spec);
    let found: BTreeSet<Route> = ops.keys().cloned().collect();
    assert_same_routes(&found, "infra/openapi.yaml", &routes());

    let mut operation_ids = BTreeSet::new();
    for ((method, path), op) in &ops {
        let at = format!("openapi {method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: operationId"));
        assert!(
            operation_ids.insert(id),
            "{at}: operationId {id} used twice"
        );

        // Its path parameters are declared, required, and nothing else is.
        let item = &spec["paths"][path.as_str()];
        let declared: BTreeSet<String> = [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| resolve(&spec, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{at}: path parameter {} must be required",
                    p["name"]
                );
                p["name"].as_str().expect("parameter name").to_string()
            })
            .collect();
        assert_eq!(declared, path_param_names(path), "{at}: path parameters");

        // Health is open; everything else needs the bearer token and says
        // what happens without one.
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: responses"));
        if is_public(method, path) {
            assert_eq!(op["security"], json!([]), "{at}: public, needs no token");
        } else {
            let security = op.get("security").unwrap_or(&spec["security"]);
            assert_eq!(security, &json!([{"bearerAuth": []}]), "{at}: security");
            assert!(responses.contains_key("401"), "{at}: documents 401");
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}),
    );
    let submit = &ops[&("POST".to_string(), "/v1/claims".to_string())];
    let has_idempotency_key = submit["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(&spec, p))
        .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
    assert!(
        has_idempotency_key,
        "POST /v1/claims documents the Idempotency-Key header"
    );
    for schema in ["Money", "Order", "Claim", "Error"] {
        assert!(
            spec["components"]["schemas"].get(schema).is_some(),
            "components/schemas/{schema}"
        );
    }
}

/// The router's fallback (no such path) or a 405 (path known, method not):
/// either way the route is not there.
fn is_missing_route(status: u16, body: &Value) -> bool {
    status == 405
        || (status == 404
            && body["error"]["code"] == "not_found"
            && body["error"]["message"] == "no such route")
}

fn with_placeholders(path: &str) -> String {
    path.split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("placeholder-{}", name.replace('_', "-")),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_answers_through_the_router() {
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;

    // The probe can tell a missing route from a present one.
    let (s, b) = app.call("GET", "/v1/no-such-route", None, None, &[]).await;
    assert!(is_missing_route(s, &b), "fallback: {s} {b}");
    let (s, b) = app.call("DELETE", "/v1/claims", None, None, &[]).await;
    assert!(
        is_missing_route(s, &b),
        "a method the path does not serve: {s} {b}"
    );

    for &aftersales::api::Route { method, path, .. } in ROUTES {
        let url = with_placeholders(path);
        let (status, body) = app.call(method, &url, None, None, &[]).await;
        assert!(
            !is_missing_route(status, &body),
            "{method} {path} is in ROUTES but the router does not serve it ({method} {url} → {status} {body})"
        );
        if path == "/v1/health" {
            assert_eq!(
                (status, &body),
                (200, &json!({"status": "ok"})),
                "{method} {path}"
            );
        } else if path.starts_with("/v1/webhooks/") {
            // Signed by the provider instead of a token: an unknown provider
            // is not found, never unauthorized.
            assert_eq!(status, 404, "{method} {path} without a token: {body}");
            assert_eq!(body["error"]["message"], "webhook not found", "{body}");
        } else if path.starts_with("/v1/couriers/") {
            // Signed by the courier aggregator instead of a token; this app
            // tracks no parcels, so there is no salt to check against.
            assert_eq!(status, 404, "{method} {path} without a token: {body}");
            assert_eq!(
                body["error"]["message"], "courier callback not found",
                "{body}"
            );
        } else if path.starts_with("/v1/clearance/") {
            // Signed by the clearance service; this app has none configured.
            assert_eq!(status, 404, "{method} {path} without a token: {body}");
            assert_eq!(
                body["error"]["message"], "clearance callback not found",
                "{body}"
            );
        } else if is_public(method, path) {
            assert_eq!(
                status, 200,
                "public {method} {path} without a token: {body}"
            );
        } else {
            assert_eq!(status, 401, "{method} {path} without a token: {body}");
            assert_eq!(
                body["error"]["code"], "unauthorized",
                "{method} {path}: {body}"
            );
        }
    }
}
