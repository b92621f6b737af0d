//! The installer HTTP adapter against a local double of the installer
//! network that checks each query's HMAC-SHA256 signature with the secret
//! generated here, per test, refuses a bad one with 401, and signs its
//! answers over their timestamp, the request's nonce and the body. The
//! double's signing is written here with the hmac crate, independently of
//! the adapter's.

use aftersales::domain::appliance::InstallResult;
use aftersales::installers::http::{HttpInstaller, InstallerConfig};
use aftersales::installers::{InstallerError, InstallerRecords};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::{Arc, Mutex};

fn hmac_hex(secret: &str, text: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(text.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

#[derive(Clone)]
struct Double {
    secret: String,
    /// Signs its answers with this instead (a forged answer).
    answer_secret: String,
    /// Answer with this status instead of the records.
    status: Arc<Mutex<u16>>,
    bad_signatures: Arc<Mutex<u32>>,
}

async fn installations(
    State(d): State<Double>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> axum::response::Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let query = query.unwrap_or_default();
    let (ts, nonce) = (h("x-installer-timestamp"), h("x-installer-nonce"));
    // The query must come sorted by key, as signed.
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let sorted = {
        let mut p = pairs.clone();
        p.sort();
        p
    };
    let expected = hmac_hex(
        &d.secret,
        &format!("GET\n/v1/installations\n{query}\n{ts}\n{nonce}"),
    );
    if pairs != sorted
        || h("x-installer-signature") != expected
        || h("x-installer-app") != "shop-app"
    {
        *d.bad_signatures.lock().unwrap() += 1;
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let status = *d.status.lock().unwrap();
    if status != 200 {
        return (StatusCode::from_u16(status).unwrap(), "").into_response();
    }
    let line = pairs
        .drain(..)
        .find(|(k, _)| k == "line_id")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let body = json!({"installations": [
        {"line_id": line, "installed_at": "2026-11-15T06:00:00Z",
         "installer": "Cool Install Co., technician Wang", "result": "failed",
         "test_report": "TR-20261115-88"},
        {"line_id": "OTHER", "installed_at": "2026-11-15T06:00:00Z",
         "installer": "x", "result": "passed", "test_report": "TR-0"}
    ]})
    .to_string();
    let answer_ts = "1764000000";
    let sig = hmac_hex(&d.answer_secret, &format!("{answer_ts}\n{nonce}\n{body}"));
    (
        [
            ("x-installer-timestamp", answer_ts.to_owned()),
            ("x-installer-signature", sig),
            ("content-type", "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn start(secret: &str, answer_secret: &str) -> (String, Double) {
    let d = Double {
        secret: secret.into(),
        answer_secret: answer_secret.into(),
        status: Arc::new(Mutex::new(200)),
        bad_signatures: Arc::new(Mutex::new(0)),
    };
    let app = axum::Router::new()
        .route("/v1/installations", axum::routing::get(installations))
        .with_state(d.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, d)
}

fn adapter(base: &str, secret: &str) -> HttpInstaller {
    HttpInstaller::new(&InstallerConfig {
        app_id: "shop-app".into(),
        secret: secret.into(),
        base_url: base.into(),
    })
    .unwrap()
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn signed_queries_get_the_lines_records() {
    let secret = random_secret();
    let (base, d) = start(&secret, &secret).await;
    let a = adapter(&base, &secret);
    let rs = a.installations("shop 1", "o-ac", "AC1").await.unwrap();
    assert_eq!(rs.len(), 1, "only the line asked for: {rs:?}");
    assert_eq!(rs[0].line_id, "AC1");
    assert_eq!(rs[0].result, InstallResult::Failed);
    assert_eq!(rs[0].test_report, "TR-20261115-88");
    assert_eq!(*d.bad_signatures.lock().unwrap(), 0);

    *d.status.lock().unwrap() = 404;
    assert!(a
        .installations("shop 1", "o-ac", "AC1")
        .await
        .unwrap()
        .is_empty());
    *d.status.lock().unwrap() = 503;
    assert!(matches!(
        a.installations("shop 1", "o-ac", "AC1").await,
        Err(InstallerError::Transient(_))
    ));
}

#[tokio::test]
async fn a_wrong_secret_or_a_forged_answer_is_refused() {
    let secret = random_secret();
    let (base, d) = start(&secret, &secret).await;
    let wrong = adapter(&base, &random_secret());
    assert!(matches!(
        wrong.installations("s", "o", "AC1").await,
        Err(InstallerError::Permanent(_))
    ));
    assert_eq!(*d.bad_signatures.lock().unwrap(), 1);

    let (base, _) = start(&secret, &random_secret()).await;
    let forged = adapter(&base, &secret).installations("s", "o", "AC1").await;
    assert!(
        matches!(&forged, Err(InstallerError::Permanent(m)) if m.contains("signature")),
        "{forged:?}"
    );
}
