//! The clearance HTTP adapter against a local double of the clearance
//! service that checks each query's HMAC-SHA256 signature with the secret
//! generated here, per test, refuses a bad one with 401, and signs its
//! answers over their timestamp, the query's nonce and the body. The
//! double's signing is written here with the hmac crate, independently of
//! the adapter's.

use aftersales::clearance::http::{ClearanceConfig, HttpClearance};
use aftersales::clearance::{ClearanceError, ClearanceService};
use aftersales::domain::crossborder::ClearanceStatus;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::{Arc, Mutex};

fn hmac_hex(secret: &str, text: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(text);
    hex::encode(m.finalize().into_bytes())
}

#[derive(Clone)]
struct Double {
    secret: String,
    /// Signs its answers with this instead (a forged answer).
    answer_secret: String,
    /// Answer with this status instead of the record.
    status: Arc<Mutex<u16>>,
    /// Answer about this declaration instead of the one asked.
    about: Arc<Mutex<Option<String>>>,
    /// Seconds to shift the answer's timestamp by.
    skew: Arc<Mutex<i64>>,
    bad_signatures: Arc<Mutex<u32>>,
}

async fn declaration(
    State(d): State<Double>,
    Path(no): Path<String>,
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
    let (ts, nonce) = (h("x-clearance-timestamp"), h("x-clearance-nonce"));
    let signed = format!("{ts}\n{nonce}\nGET\n/v1/declarations/{no}\n{query}");
    if h("x-clearance-signature") != hmac_hex(&d.secret, signed.as_bytes())
        || query != "merchant_id=shop-broker-7"
    {
        *d.bad_signatures.lock().unwrap() += 1;
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let status = *d.status.lock().unwrap();
    if status != 200 {
        return (StatusCode::from_u16(status).unwrap(), "").into_response();
    }
    let about = d.about.lock().unwrap().clone().unwrap_or(no);
    let body = json!({"declaration_no": about, "status": "returned",
        "return_shipment": {"carrier": "ems", "tracking_number": "EE123456789CN"},
        "at": "2026-11-20T08:00:00Z", "broker_ref": "B-77"})
    .to_string();
    let answer_ts = (chrono::Utc::now().timestamp() + *d.skew.lock().unwrap()).to_string();
    let sig = hmac_hex(
        &d.answer_secret,
        format!("{answer_ts}\n{nonce}\n{body}").as_bytes(),
    );
    (
        [
            ("x-clearance-timestamp", answer_ts),
            ("x-clearance-signature", sig),
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
        about: Arc::new(Mutex::new(None)),
        skew: Arc::new(Mutex::new(0)),
        bad_signatures: Arc::new(Mutex::new(0)),
    };
    let app = axum::Router::new()
        .route("/v1/declarations/{no}", axum::routing::get(declaration))
        .with_state(d.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, d)
}

fn adapter(base: &str, secret: &str) -> HttpClearance {
    HttpClearance::new(&ClearanceConfig {
        base_url: base.into(),
        merchant_id: "shop-broker-7".into(),
        secret: secret.into(),
    })
    .unwrap()
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn a_signed_query_gets_the_declarations_record() {
    let secret = random_secret();
    let (base, d) = start(&secret, &secret).await;
    let a = adapter(&base, &secret);
    let c = a.status("DEC2026110100014444").await.unwrap();
    assert_eq!(c.status, ClearanceStatus::Returned);
    assert_eq!(c.return_shipment.unwrap().tracking_number, "EE123456789CN");
    assert_eq!(*d.bad_signatures.lock().unwrap(), 0);

    *d.status.lock().unwrap() = 404;
    assert!(matches!(
        a.status("DEC1").await,
        Err(ClearanceError::Unknown(_))
    ));
    *d.status.lock().unwrap() = 503;
    assert!(matches!(
        a.status("DEC1").await,
        Err(ClearanceError::Transient(_))
    ));
}

#[tokio::test]
async fn a_wrong_secret_a_forged_stale_or_misdirected_answer_is_refused() {
    let secret = random_secret();
    let (base, d) = start(&secret, &secret).await;
    let wrong = adapter(&base, &random_secret());
    assert!(matches!(
        wrong.status("DEC1").await,
        Err(ClearanceError::Permanent(_))
    ));
    assert_eq!(*d.bad_signatures.lock().unwrap(), 1);

    let a = adapter(&base, &secret);
    *d.about.lock().unwrap() = Some("DEC-OTHER".into());
    let r = a.status("DEC1").await;
    assert!(
        matches!(&r, Err(ClearanceError::Permanent(m)) if m.contains("DEC-OTHER")),
        "{r:?}"
    );
    *d.about.lock().unwrap() = None;
    *d.skew.lock().unwrap() = -3_600;
    let r = a.status("DEC1").await;
    assert!(
        matches!(&r, Err(ClearanceError::Permanent(m)) if m.contains("timestamp")),
        "{r:?}"
    );

    let (base, _) = start(&secret, &random_secret()).await;
    let forged = adapter(&base, &secret).status("DEC1").await;
    assert!(
        matches!(&forged, Err(ClearanceError::Permanent(m)) if m.contains("signature")),
        "{forged:?}"
    );
}

#[tokio::test]
async fn a_declaration_that_could_leave_its_path_segment_is_not_sent() {
    let secret = random_secret();
    let (base, d) = start(&secret, &secret).await;
    let a = adapter(&base, &secret);
    for bad in ["../admin", "DEC 1", "DEC?x=1", ""] {
        assert!(matches!(
            a.status(bad).await,
            Err(ClearanceError::Permanent(_))
        ));
    }
    assert_eq!(*d.bad_signatures.lock().unwrap(), 0, "nothing was sent");
}
