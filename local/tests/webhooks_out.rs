//! Webhooks to a shop's own systems, end to end on `aftersales-local`
//! (started with `--webhooks-allow-loopback` on a free port, empty data
//! folder): a receiver in this test records what it is sent; a claim filed
//! reaches the shop's endpoint as the public events `claim.submitted` and
//! `claim.decided`, valid against the event catalogue's schemas
//! (`infra/asyncapi.yaml`) and in increasing `sequence`, with headers that
//! the Standard Webhooks reference library verifies, in Python
//! (`standardwebhooks`, PyPI) and in TypeScript (the npm package, the
//! README's verifier compiled with `tsc --strict` and run with node);
//! a receiver answering 500 then 200 gets the same `webhook-id` twice and
//! the delivery log shows both attempts; another shop's endpoint gets
//! nothing; customers and other shops' staff are refused; bad URLs and
//! event types answer 400 and change nothing. A rotated secret is shown
//! once and, for the day after, deliveries carry both signatures (each
//! library verifies with the old secret and with the new); a replay, of
//! one delivery or of everything since a time, sends the same `webhook-id`
//! again; bad replays answer 4xx. Thirty concurrent creates on a shop make
//! exactly 20 endpoints.
//!
//! The library lives in a virtualenv of its own: `$STANDARDWEBHOOKS_PYTHON`
//! (its Python), else the one `.ci/run` installs at
//! `$TMPDIR/aftersales-standardwebhooks-<VERSION>` (TMPDIR defaults to
//! /tmp); the TypeScript tools where `common::typescript` finds them. Without
//! them the test fails and says how to install them.

mod common;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::typescript::Verifier;
use common::{free_port, token, Proc};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The version of the reference library; `.ci/run` installs the same.
const VERSION: &str = "1.1.0";

fn library_python() -> PathBuf {
    let python = match std::env::var_os("STANDARDWEBHOOKS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("TMPDIR")
            .filter(|t| !t.is_empty())
            .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
            .join(format!("aftersales-standardwebhooks-{VERSION}"))
            .join("bin")
            .join("python"),
    };
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('standardwebhooks'))",
        ])
        .output();
    let printed = out
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        printed,
        VERSION,
        "standardwebhooks {VERSION} is not installed at {} ({:?}); run .ci/run, or: \
         python3 -m venv VENV && VENV/bin/pip install standardwebhooks=={VERSION} and set \
         STANDARDWEBHOOKS_PYTHON=VENV/bin/python",
        python.display(),
        out.as_ref().err()
    );
    python
}

#[test]
fn ci_installs_this_version() {
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/run"))
        .expect(".ci/run");
    assert!(ci.contains(&format!("STANDARDWEBHOOKS_VERSION={VERSION}")));
}

// ------------------------------------------------------------------ the runner

// ------------------------------------------------------------------ the receiver

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

type Log = Arc<Mutex<Vec<Received>>>;

/// `/flaky` answers 500 to a webhook-id's first request, 200 after; every
/// other path 200.
async fn receive(
    State(log): State<Log>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut log = log.lock().unwrap();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let id = headers
        .iter()
        .find(|(k, _)| k == "webhook-id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let seen = log
        .iter()
        .any(|r| r.path == path && r.header("webhook-id") == id);
    let status = if path == "flaky" && !seen { 500 } else { 200 };
    log.push(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: status,
    });
    StatusCode::from_u16(status).unwrap()
}

async fn start_receiver() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/{path}", post(receive))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

// ------------------------------------------------------------------ the test

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let answer = r.send().await.expect("the runner answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn wait_for<T>(what: &str, patience: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "waited {patience:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Verifies a received request with the reference library, in Python and
/// in TypeScript; each also checks that it refuses the request with one
/// byte of the body changed.
fn verify_with_library(python: &Path, ts: &Verifier, secret: &str, r: &Received) {
    let headers: Vec<(&str, &str)> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|h| (*h, r.header(h)))
        .collect();
    assert_eq!(ts.verify(secret, &headers, &r.body), r.json());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("request.json");
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| (h.to_string(), json!(r.header(h))))
            .collect();
    std::fs::write(
        &input,
        json!({"secret": secret, "headers": headers, "body": r.body}).to_string(),
    )
    .unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
r = json.load(open(sys.argv[1]))
wh = Webhook(r["secret"])
payload = wh.verify(r["body"], r["headers"])
print(json.dumps(payload))
try:
    wh.verify(r["body"] + " ", r["headers"])
    sys.exit("a changed body verified")
except WebhookVerificationError:
    pass
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(&input)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "standardwebhooks refused the request: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let payload: Value = serde_json::from_slice(&out.stdout).expect("the verified payload");
    assert_eq!(payload, r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shops_endpoints_get_its_events_signed_to_the_standard() {
    let python = library_python();
    let dir = tempfile::tempdir().expect("a folder for the runner");
    let ts = Verifier::compile(&dir.path().join("verifier"));
    let addr = format!("127.0.0.1:{}", free_port());
    let runner = Proc::runner_with(dir.path(), &addr, &["--webhooks-allow-loopback"]);
    let (receiver, log) = start_receiver().await;
    let sf = token(dir.path(), &["storefront", "shop-1"]);
    let alice = token(dir.path(), &["customer", "alice"]);
    let admin = token(
        dir.path(),
        &["staff", "st-1", "shop-1", "reviewer", "admin"],
    );
    let reviewer = token(dir.path(), &["staff", "st-2", "shop-1", "reviewer"]);
    let admin2 = token(dir.path(), &["staff", "st-9", "shop-2", "admin"]);
    // reqwest is built without a TLS provider of its own.
    aftersales::providers::install_crypto_provider();
    let api = Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    };
    const EPS: &str = "/v1/shops/shop-1/webhook-endpoints";

    // Who may not.
    let wanted = json!({"url": format!("{receiver}/ok"), "event_types": ["claim.submitted"]});
    for (who, t) in [
        ("a customer", &alice),
        ("a reviewer", &reviewer),
        ("shop-2's admin", &admin2),
    ] {
        let (s, b) = api.call("GET", EPS, t, None).await;
        assert_eq!(s, 403, "{who}: {b}");
        assert_eq!(b["error"]["code"], "forbidden", "{who}: {b}");
        let (s, _) = api.call("POST", EPS, t, Some(wanted.clone())).await;
        assert_eq!(s, 403, "{who}");
    }

    // Bad input: 400, nothing written.
    for (body, code) in [
        (
            json!({"url": "ftp://example.com/in", "event_types": ["claim.submitted"]}),
            "invalid_url",
        ),
        (
            json!({"url": "http://10.0.0.7/in", "event_types": ["claim.submitted"]}),
            "invalid_url",
        ),
        (
            json!({"url": "http://169.254.169.254/latest", "event_types": ["claim.submitted"]}),
            "invalid_url",
        ),
        (
            json!({"url": "http://[fe80::1]/in", "event_types": ["claim.submitted"]}),
            "invalid_url",
        ),
        (
            json!({"url": format!("{receiver}/ok"), "event_types": ["claim.teleported"]}),
            "unknown_event_type",
        ),
        (
            json!({"url": format!("{receiver}/ok"), "event_types": []}),
            "invalid_event_types",
        ),
        (
            json!({"url": format!("{receiver}/ok"), "event_types": ["claim.submitted"], "colour": 1}),
            "malformed_json",
        ),
    ] {
        let (s, b) = api.call("POST", EPS, &admin, Some(body.clone())).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {b}"
        );
    }
    let (s, b) = api.call("GET", EPS, &admin, None).await;
    assert_eq!((s, &b), (200, &json!({"endpoints": []})));

    // Register: the secret once.
    let (s, ok) = api
        .call(
            "POST",
            EPS,
            &admin,
            Some(json!({"url": format!("{receiver}/ok"),
                        "event_types": ["claim.submitted", "claim.decided"],
                        "description": "ERP"})),
        )
        .await;
    assert_eq!(s, 201, "{ok}");
    let secret = ok["secret"].as_str().expect("a secret").to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let ok_id = ok["endpoint_id"].as_str().unwrap().to_string();
    let (s, flaky) = api
        .call(
            "POST",
            EPS,
            &admin,
            Some(json!({"url": format!("{receiver}/flaky"), "event_types": ["claim.submitted"]})),
        )
        .await;
    assert_eq!(s, 201, "{flaky}");
    let flaky_id = flaky["endpoint_id"].as_str().unwrap().to_string();
    let (s, other) = api
        .call(
            "POST",
            "/v1/shops/shop-2/webhook-endpoints",
            &admin2,
            Some(json!({"url": format!("{receiver}/other"), "event_types": ["claim.submitted"]})),
        )
        .await;
    assert_eq!(s, 201, "{other}");
    let (s, b) = api.call("GET", EPS, &admin, None).await;
    assert_eq!(s, 200);
    assert_eq!(b["endpoints"].as_array().map(Vec::len), Some(2), "{b}");
    assert!(
        !b.to_string().contains("whsec_"),
        "the secret is shown once: {b}"
    );
    let (s, b) = api
        .call("GET", &format!("{EPS}/{ok_id}"), &admin, None)
        .await;
    assert_eq!((s, b.get("secret")), (200, None), "{b}");
    // Another shop's endpoint is not found from this shop.
    let other_id = other["endpoint_id"].as_str().unwrap();
    let (s, _) = api
        .call("GET", &format!("{EPS}/{other_id}"), &admin, None)
        .await;
    assert_eq!(s, 404);

    // A claim (the README's tour).
    let (s, b) = api
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-1001",
            &sf,
            Some(json!({
                "customer_id": "alice", "customer_phone": "+8613800138000",
                "currency": "CNY", "placed_at": "2026-11-20T08:00:00Z",
                "lines": [{"line_id": "L1", "sku": "TEE-M", "title": "T-shirt", "kind": "physical",
                           "quantity": 2, "unit_price": "99.00"}],
                "shipping_fee": "8.00",
                "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000001",
                              "amount": "206.00", "paid_at": "2026-11-20T08:01:00Z"}],
                "fulfilment": {"state": "paid_unshipped"}})),
        )
        .await;
    assert!(s == 200 || s == 201, "order: {s} {b}");
    let (s, claim) = api
        .call(
            "POST",
            "/v1/claims",
            &alice,
            Some(json!({
                "shop_id": "shop-1", "order_id": "o-1001", "type": "refund_only",
                "reason": "no_longer_wanted", "description": "Ordered twice by mistake",
                "lines": [{"line_id": "L1", "quantity": 1}]})),
        )
        .await;
    assert_eq!(s, 201, "claim: {claim}");
    let claim_id = claim["claim_id"].as_str().unwrap().to_string();

    // The endpoint gets claim.submitted, then claim.decided, verified by
    // the reference library.
    let of = |path: &'static str, t: &'static str| {
        let log = log.clone();
        let claim_id = claim_id.clone();
        move || {
            log.lock()
                .unwrap()
                .iter()
                .find(|r| {
                    r.path == path
                        && r.json()["type"] == t
                        && r.json()["claim_id"] == claim_id.as_str()
                })
                .cloned()
        }
    };
    let submitted = wait_for(
        "claim.submitted at /ok",
        Duration::from_secs(30),
        of("ok", "claim.submitted"),
    )
    .await;
    assert_eq!(submitted.header("content-type"), "application/json");
    assert_eq!(submitted.json()["shop_id"], "shop-1");
    assert_eq!(submitted.json()["order_id"], "o-1001");
    verify_with_library(&python, &ts, &secret, &submitted);
    let approved = wait_for(
        "claim.decided at /ok",
        Duration::from_secs(30),
        of("ok", "claim.decided"),
    )
    .await;
    verify_with_library(&python, &ts, &secret, &approved);
    assert_ne!(
        submitted.header("webhook-id"),
        approved.header("webhook-id")
    );
    assert_eq!(approved.json()["data"]["outcome"], "approved");
    assert_eq!(approved.header("webhook-id"), approved.json()["id"]);

    // What came over HTTP is what the catalogue describes, one claim's
    // events in increasing sequence in the order they arrived.
    let catalogue = aftersales_tests::catalogue::Catalogue::load();
    let at_ok: Vec<Value> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "ok")
        .map(Received::json)
        .collect();
    assert!(at_ok.len() >= 2, "{at_ok:?}");
    for body in &at_ok {
        catalogue.check(body).unwrap_or_else(|e| panic!("{e}"));
    }
    let sequence: Vec<u64> = at_ok
        .iter()
        .filter(|b| b["claim_id"] == claim_id.as_str())
        .map(|b| b["sequence"].as_u64().unwrap())
        .collect();
    assert!(
        sequence.windows(2).all(|w| w[0] < w[1]),
        "sequence in arrival order: {sequence:?}"
    );

    // 500 then 200: the same webhook-id twice, the first retry within 10 s.
    let (first, second) = wait_for("a retry at /flaky", Duration::from_secs(30), || {
        let log = log.lock().unwrap();
        let tries: Vec<&Received> = log.iter().filter(|r| r.path == "flaky").collect();
        (tries.len() >= 2).then(|| (tries[0].clone(), tries[1].clone()))
    })
    .await;
    assert_eq!((first.answered, second.answered), (500, 200));
    assert_eq!(first.header("webhook-id"), second.header("webhook-id"));
    assert_eq!(first.body, second.body);
    let gap = second.header("webhook-timestamp").parse::<i64>().unwrap()
        - first.header("webhook-timestamp").parse::<i64>().unwrap();
    assert!((0..=10).contains(&gap), "first retry after {gap} s");
    verify_with_library(&python, &ts, flaky["secret"].as_str().unwrap(), &second);

    // The delivery log shows both attempts.
    let (s, b) = api
        .call("GET", &format!("{EPS}/{flaky_id}/deliveries"), &admin, None)
        .await;
    assert_eq!(s, 200, "{b}");
    let d = &b["deliveries"][0];
    assert_eq!(d["webhook_id"], first.header("webhook-id"), "{b}");
    assert_eq!(d["state"], "delivered", "{b}");
    assert_eq!(d["attempts"][0]["status"], 500, "{b}");
    assert_eq!(d["attempts"][1]["status"], 200, "{b}");
    assert!(d["attempts"][1]["latency_ms"].is_u64(), "{b}");

    // Rotation: the new secret once; the old one still signs for a day.
    let rotate = format!("{EPS}/{ok_id}/rotate-secret");
    for (who, t) in [("a reviewer", &reviewer), ("shop-2's admin", &admin2)] {
        let (s, _) = api.call("POST", &rotate, t, None).await;
        assert_eq!(s, 403, "{who}");
    }
    let (s, _) = api
        .call(
            "POST",
            &format!("{EPS}/{other_id}/rotate-secret"),
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 404, "another shop's endpoint");
    let (s, rotated) = api.call("POST", &rotate, &admin, None).await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["secret"]
        .as_str()
        .expect("the new secret")
        .to_string();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let (_, shown) = api
        .call("GET", &format!("{EPS}/{ok_id}"), &admin, None)
        .await;
    assert!(!shown.to_string().contains("whsec_"), "{shown}");

    // Replay one delivery: the same webhook-id and body, both signatures.
    let replay = format!("{EPS}/{ok_id}/replay");
    let submitted_id = submitted.header("webhook-id").to_string();
    let (s, b) = api
        .call(
            "POST",
            &replay,
            &admin,
            Some(json!({"webhook_id": submitted_id})),
        )
        .await;
    assert_eq!((s, &b), (202, &json!({"replayed": 1})), "{b}");
    let again = wait_for(
        "the replayed claim.submitted",
        Duration::from_secs(30),
        || {
            let log = log.lock().unwrap();
            let same: Vec<&Received> = log
                .iter()
                .filter(|r| r.path == "ok" && r.header("webhook-id") == submitted_id)
                .collect();
            (same.len() >= 2).then(|| same[1].clone())
        },
    )
    .await;
    assert_eq!(again.body, submitted.body);
    let timestamp: i64 = again.header("webhook-timestamp").parse().unwrap();
    let body = again.body.as_bytes();
    assert_eq!(
        again.header("webhook-signature"),
        format!(
            "{} {}",
            aftersales::hooks::sign(&new_secret, &submitted_id, timestamp, body).unwrap(),
            aftersales::hooks::sign(&secret, &submitted_id, timestamp, body).unwrap()
        )
    );
    verify_with_library(&python, &ts, &new_secret, &again);
    verify_with_library(&python, &ts, &secret, &again);

    // Replay everything since a time, once the log shows it all delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let all = loop {
        let (_, b) = api
            .call("GET", &format!("{EPS}/{ok_id}/deliveries"), &admin, None)
            .await;
        let ds = b["deliveries"].as_array().cloned().unwrap_or_default();
        if !ds.is_empty() && ds.iter().all(|d| d["state"] == "delivered") {
            break ds;
        }
        assert!(Instant::now() < deadline, "not all delivered: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(all.len() >= 2, "{all:?}");
    let now = chrono::Utc::now().to_rfc3339();
    let (s, b) = api
        .call("POST", &replay, &admin, Some(json!({"since": now})))
        .await;
    assert_eq!(
        (s, &b),
        (202, &json!({"replayed": 0})),
        "nothing since now: {b}"
    );
    let (s, b) = api
        .call(
            "POST",
            &replay,
            &admin,
            Some(json!({"since": "2000-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["replayed"].as_u64(), Some(all.len() as u64), "{b}");
    let approved_id = approved.header("webhook-id").to_string();
    let again = wait_for(
        "the replayed claim.approved",
        Duration::from_secs(30),
        || {
            let log = log.lock().unwrap();
            let same: Vec<&Received> = log
                .iter()
                .filter(|r| r.path == "ok" && r.header("webhook-id") == approved_id)
                .collect();
            (same.len() >= 2).then(|| same[1].clone())
        },
    )
    .await;
    verify_with_library(&python, &ts, &new_secret, &again);
    verify_with_library(&python, &ts, &secret, &again);

    // Bad replays: 4xx, nothing queued.
    for (body, status, code) in [
        (json!({}), 400, Some("invalid_replay")),
        (
            json!({"webhook_id": submitted_id, "since": "2026-01-01T00:00:00Z"}),
            400,
            Some("invalid_replay"),
        ),
        (
            json!({"since": "2999-01-01T00:00:00Z"}),
            400,
            Some("invalid_replay"),
        ),
        (json!({"since": "yesterday"}), 400, None),
        (json!({"webhook_id": "evt_none"}), 404, Some("not_found")),
        (json!({"webhook_id": submitted_id, "colour": 1}), 400, None),
    ] {
        let (s, b) = api.call("POST", &replay, &admin, Some(body.clone())).await;
        assert_eq!(s, status, "{body}: {b}");
        if let Some(code) = code {
            assert_eq!(b["error"]["code"], code, "{body}: {b}");
        }
    }
    let (s, _) = api
        .call(
            "POST",
            &replay,
            &reviewer,
            Some(json!({"webhook_id": submitted_id})),
        )
        .await;
    assert_eq!(s, 403);

    // Shop-2's endpoint got none of shop-1's events.
    assert!(
        !log.lock().unwrap().iter().any(|r| r.path == "other"),
        "shop-2's endpoint got shop-1's events"
    );

    // Change, disable, delete.
    let (s, b) = api
        .call(
            "PATCH",
            &format!("{EPS}/{ok_id}"),
            &admin,
            Some(json!({"enabled": false, "description": "off"})),
        )
        .await;
    assert_eq!(
        (s, &b["enabled"], &b["description"]),
        (200, &json!(false), &json!("off")),
        "{b}"
    );
    let (s, b) = api
        .call(
            "POST",
            &replay,
            &admin,
            Some(json!({"webhook_id": submitted_id})),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("endpoint_disabled")),
        "{b}"
    );
    let (s, b) = api
        .call(
            "PATCH",
            &format!("{EPS}/{ok_id}"),
            &admin,
            Some(json!({"url": "http://192.168.0.1/"})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = api
        .call("DELETE", &format!("{EPS}/{flaky_id}"), &admin, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = api
        .call("GET", &format!("{EPS}/{flaky_id}"), &admin, None)
        .await;
    assert_eq!(s, 404);

    // At most 20 per shop.
    for i in 1..20 {
        let (s, b) = api
            .call(
                "POST",
                EPS,
                &admin,
                Some(json!({"url": format!("{receiver}/n{i}"), "event_types": ["refund.sent"]})),
            )
            .await;
        assert_eq!(s, 201, "endpoint {i}: {b}");
    }
    let (s, b) = api
        .call(
            "POST",
            EPS,
            &admin,
            Some(json!({"url": format!("{receiver}/n21"), "event_types": ["refund.sent"]})),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("too_many_endpoints")),
        "{b}"
    );

    // Thirty creates at once on an empty shop: exactly 20 made, the rest
    // refused; a delete makes room for exactly one more.
    let admin3 = token(dir.path(), &["staff", "st-3", "shop-3", "admin"]);
    const EPS3: &str = "/v1/shops/shop-3/webhook-endpoints";
    let creates: Vec<_> = (0..30)
        .map(|i| {
            let api = Api {
                base: api.base.clone(),
                http: api.http.clone(),
            };
            let (admin3, receiver) = (admin3.clone(), receiver.clone());
            tokio::spawn(async move {
                api.call(
                    "POST",
                    EPS3,
                    &admin3,
                    Some(
                        json!({"url": format!("{receiver}/c{i}"), "event_types": ["refund.sent"]}),
                    ),
                )
                .await
            })
        })
        .collect();
    let mut made = Vec::new();
    let mut refused = 0;
    for c in creates {
        let (s, b) = c.await.expect("a create");
        match (s, b["error"]["code"].as_str()) {
            (201, _) => made.push(b["endpoint_id"].as_str().unwrap().to_string()),
            (400, Some("too_many_endpoints")) => refused += 1,
            other => panic!("a concurrent create answered {other:?}: {b}"),
        }
    }
    assert_eq!((made.len(), refused), (20, 10));
    let (_, b) = api.call("GET", EPS3, &admin3, None).await;
    assert_eq!(b["endpoints"].as_array().map(Vec::len), Some(20), "{b}");
    let (s, _) = api
        .call("DELETE", &format!("{EPS3}/{}", made[0]), &admin3, None)
        .await;
    assert_eq!(s, 204);
    let one_more = json!({"url": format!("{receiver}/c30"), "event_types": ["refund.sent"]});
    let (s, b) = api
        .call("POST", EPS3, &admin3, Some(one_more.clone()))
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = api.call("POST", EPS3, &admin3, Some(one_more)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("too_many_endpoints")),
        "{b}"
    );
    drop(runner);
}
