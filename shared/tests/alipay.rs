//! The Alipay adapter against a local double of the Alipay open-platform
//! gateway that uses the real cryptography: it verifies our RSA2 request
//! signatures with the app public key (and refuses a bad one the way the
//! gateway does), keeps refunds by (trade_no, out_request_no) and counts money
//! movements, signs each answer's response node with the Alipay key, and can be
//! told to fail. Notifications are built the way Alipay builds a
//! `trade_status_sync` and fed to the verifier. Every key is generated here;
//! none is stored in the repository.

use aftersales::domain::money::{Currency, Money};
use aftersales::providers::alipay::{self, Alipay, AlipayConfig};
use aftersales::providers::{
    Incoming, NoticeAmount, NotificationError, NotificationVerifier, ProviderError, ProviderState,
    RefundProvider, RefundRequest,
};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

const APP_ID: &str = "2021000123456789";
const SELLER: &str = "2088101122136241";
const TRADE: &str = "2025010122001412345678901234";
const OUT_TRADE: &str = "O20250101-0001";
/// 88.00 CNY, in fen.
const TOTAL: i64 = 8_800;

struct Keys {
    app: RsaPrivateKey,
    alipay: RsaPrivateKey,
    stranger: RsaPrivateKey,
}

/// RSA 2048 generation is slow; one set of keys serves the whole file.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        app: RsaPrivateKey::new(&mut OsRng, 2048).expect("app key"),
        alipay: RsaPrivateKey::new(&mut OsRng, 2048).expect("alipay key"),
        stranger: RsaPrivateKey::new(&mut OsRng, 2048).expect("stranger key"),
    })
}

fn public_pem(key: &RsaPrivateKey) -> String {
    RsaPublicKey::from(key)
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem")
}

fn private_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).expect("pkcs8").to_string()
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+8")
}

fn beijing_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn rsa2(key: &RsaPrivateKey, content: &str) -> String {
    B64.encode(
        SigningKey::<Sha256>::new(key.clone())
            .sign(content.as_bytes())
            .to_bytes(),
    )
}

/// The gateway's own rendering of the signing rule, written independently of
/// the adapter's: sorted by key, `sign` and empty values out.
fn request_content(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What the double should do with the next call instead of its business.
#[derive(Debug, Clone)]
enum Failure {
    /// code 20000, "Service Currently Unavailable".
    Unavailable,
    /// code 40004 / ACQ.SYSTEM_ERROR.
    SystemError,
    /// code 40004 / ACQ.TRADE_HAS_FINISHED.
    TradeFinished,
    Http(u16),
    /// Do the business, then change the signed node (fund_change Y -> N).
    TamperAnswer,
    /// Do the business, then send the node twice.
    DuplicateNode,
    /// Answer 10000 with no sign.
    UnsignedSuccess,
    /// Answer a 40004 error with no sign.
    UnsignedError,
}

#[derive(Debug, Clone)]
struct Refund {
    amount: i64,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct Ledger {
    refunded: i64,
    refunds: HashMap<String, Refund>,
    movements: u32,
    calls: u32,
    bad_signatures: u32,
    failures: VecDeque<Failure>,
    last_params: BTreeMap<String, String>,
}

struct Gateway {
    app_public: VerifyingKey<Sha256>,
    alipay: RsaPrivateKey,
    ledger: Mutex<Ledger>,
}

type Shared = Arc<Gateway>;

impl Gateway {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger")
    }

    /// `{"<node>":<node JSON>,"sign":"<RSA2 over that exact text>"}`. The node
    /// text keeps Alipay's habits (Chinese text unescaped, `:` spacing in one
    /// place) so that only a verbatim cut verifies.
    fn answer(&self, node_name: &str, node: &Value) -> String {
        let text =
            serde_json::to_string(node)
                .expect("json")
                .replacen("\"code\":", "\"code\" : ", 1);
        let sign = rsa2(&self.alipay, &text);
        format!(r#"{{"{node_name}":{text},"sign":"{sign}"}}"#)
    }
}

fn error_node(code: &str, msg: &str, sub_code: &str, sub_msg: &str) -> Value {
    json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg})
}

fn parse_yuan(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 2
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(int.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

async fn gateway(State(gw): State<Shared>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let mut params = BTreeMap::new();
    let query = query.unwrap_or_default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(&body)) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return (StatusCode::BAD_REQUEST, "duplicate parameter").into_response();
        }
    }
    let method = params.get("method").cloned().unwrap_or_default();
    let node_name = format!("{}_response", method.replace('.', "_"));
    let signature_ok = params
        .get("sign")
        .and_then(|s| B64.decode(s).ok())
        .and_then(|b| Signature::try_from(b.as_slice()).ok())
        .is_some_and(|sig| {
            gw.app_public
                .verify(request_content(&params).as_bytes(), &sig)
                .is_ok()
        });
    {
        let mut ledger = gw.ledger();
        ledger.calls += 1;
        ledger.last_params = params.clone();
        if !signature_ok {
            ledger.bad_signatures += 1;
        }
    }
    if !signature_ok {
        let node = error_node(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            "验签出错",
        );
        return gw.answer("error_response", &node).into_response();
    }
    // The system parameters the gateway insists on.
    let fixed = [
        ("app_id", APP_ID),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("version", "1.0"),
    ];
    for (k, v) in fixed {
        if params.get(k).map(String::as_str) != Some(v) {
            let node = error_node("40002", "Invalid Arguments", &format!("isv.invalid-{k}"), k);
            return gw.answer(&node_name, &node).into_response();
        }
    }
    // The timestamp is Beijing time and must be close to now.
    let fresh = params
        .get("timestamp")
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
        .and_then(|n| beijing().from_local_datetime(&n).single())
        .is_some_and(|t| (Utc::now() - t.with_timezone(&Utc)).num_seconds().abs() < 60);
    if !fresh {
        let node = error_node(
            "40002",
            "Invalid Arguments",
            "isv.invalid-timestamp",
            "时间戳错误",
        );
        return gw.answer(&node_name, &node).into_response();
    }
    let biz: Value = match params.get("biz_content").map(|b| serde_json::from_str(b)) {
        Some(Ok(v)) => v,
        _ => {
            let node = error_node(
                "40001",
                "Missing Required Arguments",
                "isv.missing-biz-content",
                "",
            );
            return gw.answer(&node_name, &node).into_response();
        }
    };

    let failure = gw.ledger().failures.pop_front();
    match &failure {
        Some(Failure::Unavailable) => {
            let node = error_node(
                "20000",
                "Service Currently Unavailable",
                "isp.unknow-error",
                "系统繁忙",
            );
            return gw.answer(&node_name, &node).into_response();
        }
        Some(Failure::SystemError) => {
            let node = error_node("40004", "Business Failed", "ACQ.SYSTEM_ERROR", "系统错误");
            return gw.answer(&node_name, &node).into_response();
        }
        Some(Failure::TradeFinished) => {
            let node = error_node(
                "40004",
                "Business Failed",
                "ACQ.TRADE_HAS_FINISHED",
                "交易已完结",
            );
            return gw.answer(&node_name, &node).into_response();
        }
        Some(Failure::Http(status)) => {
            return (StatusCode::from_u16(*status).expect("status"), "busy").into_response();
        }
        Some(Failure::UnsignedSuccess) => {
            let node = json!({"code":"10000","msg":"Success","fund_change":"Y","trade_no":TRADE});
            return format!(r#"{{"{node_name}":{node}}}"#).into_response();
        }
        Some(Failure::UnsignedError) => {
            let node = error_node(
                "40004",
                "Business Failed",
                "ACQ.TRADE_NOT_ALLOW_REFUND",
                "不允许退款",
            );
            return format!(r#"{{"{node_name}":{node}}}"#).into_response();
        }
        _ => {}
    }

    let node = match method.as_str() {
        "alipay.trade.refund" => do_refund(&gw, &biz),
        "alipay.trade.fastpay.refund.query" => do_query(&gw, &biz),
        _ => error_node(
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        ),
    };
    let body = gw.answer(&node_name, &node);
    match failure {
        Some(Failure::TamperAnswer) => {
            body.replacen("\"fund_change\":\"Y\"", "\"fund_change\":\"N\"", 1)
        }
        Some(Failure::DuplicateNode) => {
            let text = serde_json::to_string(&node).expect("json");
            body.replacen('{', &format!("{{\"{node_name}\":{text},"), 1)
        }
        _ => body,
    }
    .into_response()
}

fn do_refund(gw: &Gateway, biz: &Value) -> Value {
    let field = |name: &str| biz.get(name).and_then(Value::as_str).unwrap_or("");
    if field("trade_no") != TRADE {
        return error_node(
            "40004",
            "Business Failed",
            "ACQ.TRADE_NOT_EXIST",
            "交易不存在",
        );
    }
    let Some(amount) = parse_yuan(field("refund_amount")).filter(|a| *a > 0) else {
        return error_node(
            "40002",
            "Invalid Arguments",
            "isv.invalid-refund-amount",
            "金额错误",
        );
    };
    let out_request_no = field("out_request_no").to_string();
    let mut ledger = gw.ledger();
    let now = Utc::now();
    if let Some(done) = ledger.refunds.get(&out_request_no) {
        if done.amount != amount {
            return error_node(
                "40004",
                "Business Failed",
                "ACQ.DISCORDANT_REPEAT_REQUEST",
                "请求信息不一致",
            );
        }
        // A processed out_request_no: success, but no money moved this time.
        return json!({"code":"10000","msg":"Success","trade_no":TRADE,"out_trade_no":OUT_TRADE,
            "buyer_logon_id":"159****5620","fund_change":"N",
            "refund_fee": format!("{:.2}", ledger.refunded as f64 / 100.0)});
    }
    if ledger.refunded + amount > TOTAL {
        return error_node(
            "40004",
            "Business Failed",
            "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
            "退款金额超限",
        );
    }
    ledger.refunded += amount;
    ledger.movements += 1;
    ledger
        .refunds
        .insert(out_request_no, Refund { amount, at: now });
    json!({"code":"10000","msg":"Success","trade_no":TRADE,"out_trade_no":OUT_TRADE,
        "buyer_logon_id":"159****5620","fund_change":"Y",
        "refund_fee": format!("{:.2}", ledger.refunded as f64 / 100.0),
        "gmt_refund_pay": beijing_time(now)})
}

fn do_query(gw: &Gateway, biz: &Value) -> Value {
    let field = |name: &str| biz.get(name).and_then(Value::as_str).unwrap_or("");
    if field("trade_no") != TRADE {
        return error_node(
            "40004",
            "Business Failed",
            "ACQ.TRADE_NOT_EXIST",
            "交易不存在",
        );
    }
    let ledger = gw.ledger();
    match ledger.refunds.get(field("out_request_no")) {
        // An unknown refund: success without refund fields.
        None => json!({"code":"10000","msg":"Success","trade_no":TRADE,"out_trade_no":OUT_TRADE}),
        Some(r) => json!({"code":"10000","msg":"Success","trade_no":TRADE,"out_trade_no":OUT_TRADE,
            "out_request_no": field("out_request_no"),
            "total_amount":"88.00",
            "refund_amount": format!("{:.2}", r.amount as f64 / 100.0),
            "refund_status":"REFUND_SUCCESS",
            "gmt_refund_pay": beijing_time(r.at)}),
    }
}

struct Double {
    gw: Shared,
    url: String,
}

impl Double {
    async fn start() -> Double {
        let gw = Arc::new(Gateway {
            app_public: VerifyingKey::new(RsaPublicKey::from(&keys().app)),
            alipay: keys().alipay.clone(),
            ledger: Mutex::new(Ledger::default()),
        });
        let app = axum::Router::new()
            .route("/gateway.do", axum::routing::post(gateway))
            .with_state(gw.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/gateway.do", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Double { gw, url }
    }

    fn config(&self) -> AlipayConfig {
        AlipayConfig {
            gateway_url: self.url.clone(),
            app_id: APP_ID.into(),
            app_private_key: private_pem(&keys().app),
            alipay_public_key: public_pem(&keys().alipay),
            notify_url: Some("https://shop.example/alipay/notify".into()),
            seller_id: Some(SELLER.into()),
        }
    }

    fn client(&self) -> Alipay {
        Alipay::new(&self.config()).expect("alipay")
    }

    fn fail_next(&self, failures: impl IntoIterator<Item = Failure>) {
        self.gw.ledger().failures.extend(failures);
    }

    fn movements(&self) -> u32 {
        self.gw.ledger().movements
    }
}

fn request(no: &str, amount: i64) -> RefundRequest {
    RefundRequest {
        out_refund_no: no.into(),
        provider_txn_id: TRADE.into(),
        amount: Money::from_minor(amount, Currency::Cny),
        payment_total: Money::from_minor(TOTAL, Currency::Cny),
        reason: "尺码不合适 & 退货".into(),
        notify_url: None,
        payee: None,
    }
}

#[tokio::test]
async fn refund_is_signed_verified_and_moves_money_once() {
    let d = Double::start().await;
    let alipay = d.client();
    let first = alipay.refund(&request("R1-1", 1234)).await.expect("refund");
    assert_eq!(first.out_refund_no, "R1-1");
    assert!(
        matches!(first.state, ProviderState::Succeeded { at: Some(_) }),
        "{first:?}"
    );
    {
        let ledger = d.gw.ledger();
        let p = &ledger.last_params;
        assert_eq!(p["method"], "alipay.trade.refund");
        assert_eq!(p["notify_url"], "https://shop.example/alipay/notify");
        let biz: Value = serde_json::from_str(&p["biz_content"]).expect("biz");
        assert_eq!(biz["refund_amount"], "12.34");
        assert_eq!(biz["out_request_no"], "R1-1");
        assert_eq!(biz["trade_no"], TRADE);
        assert_eq!(biz["refund_reason"], "尺码不合适 & 退货");
    }

    // The answer to the first call was lost, say: the same number again.
    let again = alipay.refund(&request("R1-1", 1234)).await.expect("repeat");
    assert_eq!(
        again.state,
        ProviderState::Processing,
        "fund_change=N: confirm by query"
    );
    assert_eq!(d.movements(), 1);

    let queried = alipay.query(&request("R1-1", 1234)).await.expect("query");
    let queried = queried.expect("known refund");
    assert!(matches!(
        queried.state,
        ProviderState::Succeeded { at: Some(_) }
    ));
    assert_eq!(d.movements(), 1);
    assert_eq!(d.gw.ledger().bad_signatures, 0);
}

#[tokio::test]
async fn partial_refunds_are_distinct_and_the_total_is_capped() {
    let d = Double::start().await;
    let alipay = d.client();
    alipay
        .refund(&request("R2-1", 3000))
        .await
        .expect("first part");
    alipay
        .refund(&request("R2-2", 5000))
        .await
        .expect("second part");
    assert_eq!(d.movements(), 2);
    match alipay.refund(&request("R2-3", 1000)).await {
        Err(ProviderError::Permanent(m)) => {
            assert!(
                m.contains("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL") && m.contains("退款金额超限"),
                "{m}"
            )
        }
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    // Same number, other amount: Alipay refuses rather than refunding again.
    assert!(matches!(
        alipay.refund(&request("R2-1", 100)).await,
        Err(ProviderError::Permanent(m)) if m.contains("ACQ.DISCORDANT_REPEAT_REQUEST")
    ));
    assert_eq!(d.movements(), 2);
}

#[tokio::test]
async fn query_of_an_unknown_refund_is_none() {
    let d = Double::start().await;
    let alipay = d.client();
    assert_eq!(
        alipay.query(&request("R3-1", 100)).await.expect("query"),
        None
    );
    let mut other_trade = request("R3-1", 100);
    other_trade.provider_txn_id = "2025010122009999".into();
    assert!(matches!(
        alipay.query(&other_trade).await,
        Err(ProviderError::Permanent(m)) if m.contains("ACQ.TRADE_NOT_EXIST")
    ));
}

#[tokio::test]
async fn system_failures_are_transient_and_a_retry_moves_money_once() {
    let d = Double::start().await;
    let alipay = d.client();
    d.fail_next([
        Failure::Unavailable,
        Failure::SystemError,
        Failure::Http(502),
        Failure::Http(429),
    ]);
    for _ in 0..4 {
        match alipay.refund(&request("R4-1", 500)).await {
            Err(ProviderError::Transient(_)) => {}
            other => panic!("expected transient, got {other:?}"),
        }
    }
    assert_eq!(d.movements(), 0);
    let done = alipay.refund(&request("R4-1", 500)).await.expect("retry");
    assert!(matches!(done.state, ProviderState::Succeeded { .. }));
    assert_eq!(d.movements(), 1);

    // Nobody listening: transient too.
    let mut gone = d.config();
    gone.gateway_url = "http://127.0.0.1:9/gateway.do".into();
    assert!(matches!(
        Alipay::new(&gone)
            .expect("alipay")
            .refund(&request("R4-2", 1))
            .await,
        Err(ProviderError::Transient(_))
    ));
}

#[tokio::test]
async fn business_refusals_are_permanent_with_the_sub_message() {
    let d = Double::start().await;
    let alipay = d.client();
    d.fail_next([Failure::TradeFinished]);
    match alipay.refund(&request("R5-1", 500)).await {
        Err(ProviderError::Permanent(m)) => {
            assert!(
                m.contains("ACQ.TRADE_HAS_FINISHED") && m.contains("交易已完结"),
                "{m}"
            )
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    d.fail_next([Failure::UnsignedError]);
    assert!(matches!(
        alipay.refund(&request("R5-1", 500)).await,
        Err(ProviderError::Permanent(m)) if m.contains("ACQ.TRADE_NOT_ALLOW_REFUND")
    ));
    assert!(matches!(
        alipay.refund(&request("R5-2", 0)).await,
        Err(ProviderError::Permanent(_))
    ));
    assert_eq!(d.movements(), 0);
}

#[tokio::test]
async fn the_gateway_refuses_a_request_signed_with_another_key() {
    let d = Double::start().await;
    let mut config = d.config();
    config.app_private_key = private_pem(&keys().stranger);
    let impostor = Alipay::new(&config).expect("alipay");
    match impostor.refund(&request("R6-1", 500)).await {
        // Our configuration, not the refund: retried until fixed.
        Err(ProviderError::Transient(m)) => assert!(m.contains("isv.invalid-signature"), "{m}"),
        other => panic!("expected the gateway's refusal, got {other:?}"),
    }
    assert_eq!(d.gw.ledger().bad_signatures, 1);
    assert_eq!(d.movements(), 0);
}

#[tokio::test]
async fn answers_that_do_not_verify_are_transient_and_resolved_by_retry_or_query() {
    let d = Double::start().await;
    let alipay = d.client();

    // Changed in transit: the money moved, but the answer cannot be believed.
    d.fail_next([Failure::TamperAnswer]);
    assert!(matches!(
        alipay.refund(&request("R7-1", 700)).await,
        Err(ProviderError::Transient(m)) if m.contains("does not verify")
    ));
    assert_eq!(d.movements(), 1);
    let retried = alipay.refund(&request("R7-1", 700)).await.expect("retry");
    assert_eq!(retried.state, ProviderState::Processing);
    assert!(alipay
        .query(&request("R7-1", 700))
        .await
        .expect("query")
        .is_some());
    assert_eq!(d.movements(), 1);

    // Which of two nodes was signed is unknowable.
    d.fail_next([Failure::DuplicateNode]);
    assert!(matches!(
        alipay.refund(&request("R7-2", 100)).await,
        Err(ProviderError::Transient(m)) if m.contains("twice")
    ));

    // A success nobody signed.
    d.fail_next([Failure::UnsignedSuccess]);
    assert!(matches!(
        alipay.refund(&request("R7-3", 100)).await,
        Err(ProviderError::Transient(m)) if m.contains("without signature")
    ));

    // Configured with the wrong Alipay public key: nothing verifies.
    let mut config = d.config();
    config.alipay_public_key = public_pem(&keys().stranger);
    let misconfigured = Alipay::new(&config).expect("alipay");
    assert!(matches!(
        misconfigured.query(&request("R7-1", 700)).await,
        Err(ProviderError::Transient(_))
    ));
}

#[test]
fn keys_are_read_in_every_form_alipay_hands_out_and_never_printed() {
    let k = keys();
    let pkcs1 = k
        .app
        .to_pkcs1_pem(LineEnding::LF)
        .expect("pkcs1")
        .to_string();
    let bare_private = B64.encode(k.app.to_pkcs8_der().expect("der").as_bytes());
    let bare_public = B64.encode(
        RsaPublicKey::from(&k.alipay)
            .to_public_key_der()
            .expect("der")
            .as_bytes(),
    );
    let base = AlipayConfig {
        gateway_url: alipay::PRODUCTION_GATEWAY.into(),
        app_id: APP_ID.into(),
        app_private_key: private_pem(&k.app),
        alipay_public_key: public_pem(&k.alipay),
        notify_url: None,
        seller_id: None,
    };
    for (private, public) in [
        (private_pem(&k.app), public_pem(&k.alipay)),
        (pkcs1.clone(), bare_public.clone()),
        (bare_private.clone(), bare_public.clone()),
    ] {
        let config = AlipayConfig {
            app_private_key: private,
            alipay_public_key: public,
            ..base.clone()
        };
        Alipay::new(&config).expect("key form accepted");
    }
    let broken = AlipayConfig {
        app_private_key: "not a key".into(),
        ..base.clone()
    };
    assert!(Alipay::new(&broken).is_err());

    let shown = format!("{base:?} {:?}", Alipay::new(&base).expect("alipay"));
    let secret_line = private_pem(&k.app)
        .lines()
        .nth(1)
        .expect("body")
        .to_string();
    assert!(
        !shown.contains(&secret_line) && !shown.contains(&bare_private[..40]),
        "{shown}"
    );
    assert!(shown.contains("<redacted>"));
}

/// A `trade_status_sync` as Alipay posts it to the payment's notify_url after
/// a refund, signed with `key`.
fn notification(
    key: &RsaPrivateKey,
    out_biz_no: Option<&str>,
    sent: DateTime<Utc>,
) -> Vec<(String, String)> {
    let mut params: BTreeMap<&str, String> = BTreeMap::from([
        ("notify_time", beijing_time(sent)),
        ("notify_type", "trade_status_sync".into()),
        ("notify_id", "ac05099524730693a8b330c5ecf72da9786".into()),
        ("charset", "utf-8".into()),
        ("version", "1.0".into()),
        ("app_id", APP_ID.into()),
        ("trade_no", TRADE.into()),
        ("out_trade_no", OUT_TRADE.into()),
        ("buyer_id", "2088102122524333".into()),
        ("seller_id", SELLER.into()),
        ("trade_status", "TRADE_SUCCESS".into()),
        ("total_amount", "88.00".into()),
        ("receipt_amount", "88.00".into()),
        ("subject", "夏季 T恤 & 短裤=套装".into()),
        ("body", String::new()),
        ("gmt_create", "2025-01-01 10:00:00".into()),
        ("gmt_payment", "2025-01-01 10:00:05".into()),
    ]);
    if let Some(no) = out_biz_no {
        params.insert("out_biz_no", no.into());
        params.insert("refund_fee", "12.34".into());
        params.insert("gmt_refund", format!("{}.320", beijing_time(sent)));
    }
    // Alipay's rule for notifications: sign and sign_type out, empties in.
    let content = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let sign = rsa2(key, &content);
    let mut out: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.push(("sign_type".into(), "RSA2".into()));
    out.push(("sign".into(), sign));
    out
}

fn encode(params: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
        .into_bytes()
}

fn verify(
    alipay: &Alipay,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<aftersales::providers::ProviderRefund, NotificationError> {
    let headers = [(
        "content-type".to_string(),
        "application/x-www-form-urlencoded; charset=utf-8".to_string(),
    )];
    alipay.verify(
        &Incoming {
            headers: &headers,
            body,
        },
        now,
    )
}

#[tokio::test]
async fn a_signed_refund_notification_verifies_and_is_acknowledged() {
    let d = Double::start().await;
    let alipay = d.client();
    let now = Utc::now();
    let body = encode(&notification(&keys().alipay, Some("R8-1"), now));
    let refund = verify(&alipay, &body, now).expect("verified");
    assert_eq!(refund.out_refund_no, "R8-1");
    // refund_fee: what the trade had refunded in all, in fen.
    assert_eq!(refund.amount, Some(NoticeAmount::RefundedOnPayment(1234)));
    assert_eq!(refund.account, alipay.account());
    match refund.state {
        ProviderState::Succeeded { at: Some(at) } => {
            assert!(
                (at - now).num_seconds().abs() <= 1,
                "gmt_refund is Beijing time"
            )
        }
        other => panic!("{other:?}"),
    }
    // Alipay's retries (same notify_id) within its ~25 h schedule still verify.
    assert!(verify(&alipay, &body, now + chrono::Duration::hours(25)).is_ok());
    let ack = alipay.ack();
    assert_eq!(
        (ack.status, ack.content_type, ack.body.as_str()),
        (200, "text/plain", "success")
    );
}

#[tokio::test]
async fn tampered_unsigned_foreign_and_stale_notifications_are_refused() {
    let d = Double::start().await;
    let alipay = d.client();
    let now = Utc::now();
    let good = notification(&keys().alipay, Some("R9-1"), now);

    let mut tampered = good.clone();
    for (k, v) in tampered.iter_mut() {
        if k == "refund_fee" {
            *v = "88.00".into();
        }
    }
    let unsigned: Vec<_> = good.iter().filter(|(k, _)| k != "sign").cloned().collect();
    let mut repeated = good.clone();
    repeated.push(("out_biz_no".into(), "R9-2".into()));
    let forged = notification(&keys().stranger, Some("R9-1"), now);
    let mut md5 = good.clone();
    for (k, v) in md5.iter_mut() {
        if k == "sign_type" {
            *v = "RSA".into();
        }
    }

    for (name, params) in [
        ("tampered", tampered),
        ("unsigned", unsigned),
        ("repeated parameter", repeated),
        ("signed by another key", forged),
        ("old sign type", md5),
    ] {
        let e = verify(&alipay, &encode(&params), now).expect_err(name);
        assert!(
            matches!(e, NotificationError::BadSignature(_)),
            "{name}: {e:?}"
        );
        let nack = alipay.nack(&e);
        assert_eq!((nack.body.as_str(), nack.status), ("fail", 400), "{name}");
    }
    assert!(matches!(
        verify(&alipay, b"%%%", now),
        Err(NotificationError::BadSignature(_))
    ));

    // Alipay-signed, but for another app: authentic, so it verifies, and
    // says whose it is; the refund it names refuses it
    // (`Refund::notice_mismatch`) and keeps it on its audit trail.
    let mut config = d.config();
    config.app_id = "2021000999999999".into();
    let other_app = Alipay::new(&config).expect("alipay");
    let foreign = verify(&other_app, &encode(&good), now).expect("authentic");
    assert_eq!(
        foreign.account.as_deref(),
        Some(format!("app_id={APP_ID},seller_id={SELLER}").as_str())
    );
    assert_eq!(
        other_app.account().as_deref(),
        Some(format!("app_id=2021000999999999,seller_id={SELLER}").as_str())
    );

    // A capture replayed days later.
    let old = notification(
        &keys().alipay,
        Some("R9-1"),
        now - chrono::Duration::days(4),
    );
    assert!(matches!(
        verify(&alipay, &encode(&old), now),
        Err(NotificationError::Stale(_))
    ));

    // A payment notification: verified, acknowledged, ignored.
    let paid = encode(&notification(&keys().alipay, None, now));
    let e = verify(&alipay, &paid, now).expect_err("not a refund");
    assert!(matches!(e, NotificationError::NotARefund(_)), "{e:?}");
    assert_eq!(alipay.nack(&e).body, "success");
}
