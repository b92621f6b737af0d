//! The voucher issuer adapter against a local issuer on a loopback port
//! that speaks the protocol: it checks each query's HMAC-SHA256 signature
//! (method, path, sorted query) with the secret it was given, refuses a bad
//! one with 401, answers 404 for codes it does not know and signs its
//! answers (timestamp, body). Its signing is written here, independently
//! of the adapter's.

use aftersales::domain::voucher::VoucherState;
use aftersales::vouchers::http::{HttpVouchers, IssuerConfig};
use aftersales::vouchers::{VoucherError, VoucherIssuer};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;

fn hmac_hex(secret: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Clone)]
struct Issuer {
    secret: String,
    /// What the issuer signs its answers with (the same secret, unless a
    /// test makes it a forger).
    answer_secret: String,
    merchant_id: String,
    /// code → (status, redeemed_at)
    codes: Arc<HashMap<String, (&'static str, Option<&'static str>)>>,
    busy: bool,
}

async fn voucher(
    State(i): State<Issuer>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> axum::response::Response {
    if i.busy {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let query = query.unwrap_or_default();
    let sig = headers
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = hmac_hex(&i.secret, &format!("GET\n/v1/vouchers/{code}\n{query}"));
    let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let keys: Vec<&str> = query
        .split('&')
        .filter_map(|p| p.split('=').next())
        .collect();
    if sig != expected
        || keys != ["merchant_id", "nonce", "timestamp"]
        || pairs.get("merchant_id") != Some(&i.merchant_id)
        || pairs.get("nonce").is_none_or(|n| n.len() < 16)
    {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let Some((status, at)) = i.codes.get(&code) else {
        return (StatusCode::NOT_FOUND, "no such code").into_response();
    };
    let mut body = serde_json::json!({"code": code, "status": status});
    if let Some(at) = at {
        body["redeemed_at"] = serde_json::json!(at);
    }
    let body = body.to_string();
    let ts = Utc::now().timestamp().to_string();
    let sig = hmac_hex(&i.answer_secret, &format!("{ts}\n{body}"));
    (
        [("x-timestamp", ts), ("x-signature", sig)],
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

async fn issuer(answer_with: Option<&str>, busy: bool) -> (String, String) {
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let state = Issuer {
        secret: secret.clone(),
        answer_secret: answer_with.map_or(secret.clone(), str::to_owned),
        merchant_id: "m-1".into(),
        codes: Arc::new(HashMap::from([
            ("FRESH-1".to_string(), ("unused", None)),
            (
                "GONE-1".to_string(),
                ("redeemed", Some("2026-11-20T08:30:00Z")),
            ),
        ])),
        busy,
    };
    let app = axum::Router::new()
        .route("/v1/vouchers/{code}", axum::routing::get(voucher))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, secret)
}

fn adapter(base: &str, secret: &str) -> HttpVouchers {
    HttpVouchers::new(&IssuerConfig {
        base_url: base.into(),
        merchant_id: "m-1".into(),
        secret: secret.into(),
    })
    .unwrap()
}

#[tokio::test]
async fn signed_queries_get_signed_answers() {
    let (base, secret) = issuer(None, false).await;
    let a = adapter(&base, &secret);
    assert_eq!(a.status("FRESH-1").await, Ok(VoucherState::Unused));
    assert_eq!(
        a.status("GONE-1").await,
        Ok(VoucherState::Redeemed {
            at: Some(Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap())
        })
    );
    assert!(matches!(
        a.status("NOPE-1").await,
        Err(VoucherError::Unknown(_))
    ));
    // Not a code: never sent.
    assert!(matches!(
        a.status("a/../b").await,
        Err(VoucherError::Permanent(_))
    ));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_a_forged_answer_not_believed() {
    let (base, _) = issuer(None, false).await;
    let e = adapter(&base, "not-the-secret").status("FRESH-1").await;
    assert!(
        matches!(&e, Err(VoucherError::Permanent(m)) if m.contains("401")),
        "{e:?}"
    );
    // The answer signed with another secret (someone in the middle).
    let (base, secret) = issuer(Some("forger"), false).await;
    let e = adapter(&base, &secret).status("GONE-1").await;
    assert!(
        matches!(&e, Err(VoucherError::Permanent(m)) if m.contains("signature")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_busy_issuer_is_asked_again_later() {
    let (base, secret) = issuer(None, true).await;
    assert!(matches!(
        adapter(&base, &secret).status("FRESH-1").await,
        Err(VoucherError::Transient(_))
    ));
    assert!(matches!(
        adapter("http://127.0.0.1:9", &secret)
            .status("FRESH-1")
            .await,
        Err(VoucherError::Transient(_))
    ));
}

#[test]
fn configuration_is_checked_and_redacted() {
    let bad = IssuerConfig {
        base_url: "ftp://x".into(),
        merchant_id: "m".into(),
        secret: "s3cr3t".into(),
    };
    assert!(HttpVouchers::new(&bad).is_err());
    let ok = IssuerConfig {
        base_url: "https://issuer.example/".into(),
        ..bad
    };
    assert!(!format!("{ok:?}").contains("s3cr3t"));
    assert!(HttpVouchers::new(&ok).is_ok());
}
