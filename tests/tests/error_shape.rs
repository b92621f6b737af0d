//! One error shape, whatever goes wrong and wherever it is served: unknown
//! routes, wrong methods, wrong content types, bodies too large (also on
//! the routes that take raw bodies: webhooks and courier pushes), and a
//! panic, which answers 500 in the same shape with the request id while the
//! server goes on serving, on the runner's assembly as under Lambda.

use aftersales::api::guard;
use aftersales_tests::http::spawn_app;
use axum::routing::get;
use serde_json::{json, Value};
use std::sync::Arc;

fn assert_shape(what: &str, status: u16, content_type: &str, body: &[u8]) -> Value {
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {status} answered {content_type}: {}",
        String::from_utf8_lossy(body)
    );
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: {e}"));
    let error = v["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {v}"));
    assert!(
        error["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{what}: {v}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {v}"
    );
    v
}

async fn send(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>, Option<String>) {
    let mut rb = http.request(method.parse().unwrap(), url).body(body);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    let r = rb.send().await.expect("the server answers");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, ct, r.bytes().await.unwrap().to_vec(), id)
}

#[tokio::test]
async fn every_error_is_json_in_one_shape() {
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    let base = &app.base;
    let big = vec![b'x'; 10 * 1024 * 1024];
    let alice = app.customer("alice");
    // (what, method, url, content type, body, status, code)
    type Case<'a> = (
        &'a str,
        &'a str,
        String,
        Option<&'a str>,
        Vec<u8>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "10 MB to the sandbox webhook",
            "POST",
            format!("{base}/v1/webhooks/sandbox"),
            Some("application/json"),
            big.clone(),
            413,
            "body_too_large",
        ),
        (
            "10 MB to the courier push",
            "POST",
            format!("{base}/v1/couriers/kuaidi100"),
            Some("application/x-www-form-urlencoded"),
            big.clone(),
            413,
            "body_too_large",
        ),
        (
            "unknown route",
            "GET",
            format!("{base}/v1/nothing-here"),
            None,
            vec![],
            404,
            "not_found",
        ),
        (
            "wrong method",
            "DELETE",
            format!("{base}/v1/health"),
            None,
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            "wrong method on a webhook",
            "GET",
            format!("{base}/v1/webhooks/sandbox"),
            None,
            vec![],
            405,
            "method_not_allowed",
        ),
    ];
    for (what, method, url, ct, body, status, code) in cases {
        let (s, got_ct, bytes, id) = send(&app.http, method, &url, ct, body).await;
        assert_eq!(s, status, "{what}: {}", String::from_utf8_lossy(&bytes));
        let v = assert_shape(what, s, &got_ct, &bytes);
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(id.is_some(), "{what}: every answer names its request");
    }
    // With a token: a wrong content type and a body too large.
    let r = app
        .http
        .post(format!("{base}/v1/claims"))
        .bearer_auth(&alice)
        .header("content-type", "text/plain")
        .body("shop_id=shop-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let v = assert_shape("text/plain claim", 415, &ct, &r.bytes().await.unwrap());
    assert_eq!(v["error"]["code"], "unsupported_media_type");
    let r = app
        .http
        .post(format!("{base}/v1/claims"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_shape("10 MB claim", 413, &ct, &r.bytes().await.unwrap());
    // The server is still there.
    let (s, _) = app.call("GET", "/v1/health", None, None, &[]).await;
    assert_eq!(s, 200);
}

async fn storage_failed() -> (axum::http::StatusCode, axum::Json<Value>) {
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"error": {"code": "internal", "message": "internal error; try again"}})),
    )
}

async fn boom() -> &'static str {
    panic!("a bug we did not see")
}

/// A route that panics, behind the same guard the API has.
fn panicking() -> axum::Router {
    axum::Router::new()
        .route("/boom", get(boom))
        .route("/storage-failed", get(storage_failed))
        .route("/fine", get(|| async { axum::Json(json!({"ok": true})) }))
        .layer(axum::middleware::from_fn(guard::guard))
}

#[tokio::test]
async fn a_panic_answers_500_with_the_request_id_and_the_server_stays_up() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, panicking()).await.unwrap() });
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let (s, ct, body, id) = send(&http, "GET", &format!("{base}/boom"), None, vec![]).await;
        assert_eq!(s, 500);
        let v = assert_shape("panic", s, &ct, &body);
        assert_eq!(v["error"]["code"], "internal");
        let id = id.expect("x-request-id");
        assert_eq!(v["error"]["request_id"], id.as_str(), "{v}");
        assert!(
            !v.to_string().contains("a bug we did not see"),
            "no internals: {v}"
        );
        let (s, _, _, _) = send(&http, "GET", &format!("{base}/fine"), None, vec![]).await;
        assert_eq!(s, 200, "served on after a panic");
    }
    // Every 5xx names its request, not only a panic.
    let (s, ct, body, id) = send(
        &http,
        "GET",
        &format!("{base}/storage-failed"),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, 500);
    let v = assert_shape("storage failure", s, &ct, &body);
    assert_eq!(
        v["error"]["request_id"],
        id.expect("x-request-id").as_str(),
        "{v}"
    );
    // A caller's own request id is kept when it is sane.
    let r = http
        .get(format!("{base}/boom"))
        .header("x-request-id", "req-from-the-caller-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-from-the-caller-42");
}

#[tokio::test]
async fn under_lambda_a_panic_answers_500_with_api_gateways_request_id() {
    let event = json!({
        "version": "2.0",
        "routeKey": "GET /boom",
        "rawPath": "/boom",
        "rawQueryString": "",
        "headers": {"host": "example.execute-api.eu-west-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "example.com",
            "domainPrefix": "example",
            "http": {"method": "GET", "path": "/boom", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "test"},
            "requestId": "gw-req-77", "routeKey": "GET /boom", "stage": "$default",
            "time": "04/Dec/2026:10:00:00 +0000", "timeEpoch": 1796378400000i64
        },
        "isBase64Encoded": false
    });
    let answer = aftersales::lambda::handle_http_api_event(panicking(), event)
        .await
        .expect("an answer, not a crashed function");
    assert_eq!(answer["statusCode"], 500, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["request_id"], "gw-req-77", "{body}");
    assert_eq!(answer["headers"]["x-request-id"], "gw-req-77");
}
