//! The WeChat Pay adapter against a local double of WeChat Pay API v3 that
//! uses the real cryptography: it checks our request signatures with the
//! merchant public key, keeps refunds by out_refund_no and counts money
//! movements, signs its answers with the platform key, and can be told to
//! fail. Notifications are built the way WeChat builds them (platform
//! signature, AEAD_AES_256_GCM resource) and fed to the verifier. Every key
//! is generated here; none is stored in the repository.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use aftersales::domain::money::{Currency, Money};
use aftersales::providers::wechat::{WechatPay, WechatPayConfig};
use aftersales::providers::{
    Incoming, NoticeAmount, NotificationError, NotificationVerifier, ProviderError, ProviderRefund,
    ProviderState, RefundProvider, RefundRequest,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::{OsRng, RngCore};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const MCHID: &str = "1900000109";
const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0119000001092025010100000001";
const TXN: &str = "4200000001202501010000000001";
const TOTAL: i64 = 8_800;

struct Keys {
    merchant: RsaPrivateKey,
    platform: RsaPrivateKey,
}

/// RSA 2048 generation is slow; one pair of keys serves the whole file.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        merchant: RsaPrivateKey::new(&mut OsRng, 2048).expect("merchant key"),
        platform: RsaPrivateKey::new(&mut OsRng, 2048).expect("platform key"),
    })
}

fn random_chars(n: usize) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| A[(*x as usize) % A.len()] as char)
        .collect()
}

fn public_pem(key: &RsaPrivateKey) -> String {
    RsaPublicKey::from(key)
        .to_public_key_pem(LineEnding::LF)
        .expect("public pem")
}

fn config(base_url: &str, api_v3_key: &str) -> WechatPayConfig {
    WechatPayConfig {
        base_url: base_url.to_string(),
        mchid: MCHID.into(),
        merchant_serial_no: MERCHANT_SERIAL.into(),
        merchant_private_key_pem: keys()
            .merchant
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pkcs8")
            .to_string(),
        platform_public_keys: BTreeMap::from([(
            PLATFORM_SERIAL.to_string(),
            public_pem(&keys().platform),
        )]),
        api_v3_key: api_v3_key.into(),
        notify_url: Some("https://shop.example/wx/refund".into()),
        timeout_ms: 2_000,
    }
}

fn request(out_refund_no: &str, amount: i64) -> RefundRequest {
    RefundRequest {
        out_refund_no: out_refund_no.into(),
        provider_txn_id: TXN.into(),
        amount: Money::from_minor(amount, Currency::Cny),
        payment_total: Money::from_minor(TOTAL, Currency::Cny),
        reason: "退货退款".into(),
        notify_url: None,
        payee: None,
    }
}

fn beijing_now() -> String {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).expect("offset"))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

// ---------------------------------------------------------------------------
// The WeChat Pay double.

#[derive(Clone)]
struct Stored {
    refund_id: String,
    transaction_id: String,
    refund: i64,
    total: i64,
    status: String,
    success_time: Option<String>,
    /// PROCESSING answers left before a query finds it SUCCESS.
    processing_queries: u32,
}

#[derive(Default)]
struct Wx {
    refunds: HashMap<String, Stored>,
    /// Money that actually left the merchant's account, one per refund.
    movements: u32,
    balance: i64,
    requests: u32,
    bad_signatures: u32,
    last_body: Option<Value>,
    /// Errors to answer, in order, before doing any work.
    fail_next: VecDeque<(u16, &'static str, &'static str)>,
    /// A repeat is answered with an error instead of the existing refund.
    repeat_as_error: bool,
    /// Answers are altered after signing.
    tamper: bool,
    /// Answers are signed under this serial instead.
    answer_serial: Option<String>,
    delay: Option<Duration>,
    processing_queries: u32,
}

struct Double {
    base_url: String,
    wx: Arc<Mutex<Wx>>,
}

impl Double {
    async fn start() -> Double {
        let wx = Arc::new(Mutex::new(Wx {
            balance: 1_000_000,
            processing_queries: 1,
            ..Wx::default()
        }));
        let app = axum::Router::new().fallback(handle).with_state(wx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Double {
            base_url: format!("http://{addr}"),
            wx,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Wx) -> R) -> R {
        f(&mut self.wx.lock().expect("double"))
    }

    fn adapter(&self, api_v3_key: &str) -> WechatPay {
        WechatPay::new(&config(&self.base_url, api_v3_key)).expect("adapter")
    }
}

fn sign_platform(message: &[u8]) -> String {
    let key = SigningKey::<Sha256>::new(keys().platform.clone());
    B64.encode(key.sign_with_rng(&mut OsRng, message).to_bytes())
}

fn answer(wx: &Wx, status: u16, body: Value, signed: bool) -> Response {
    let mut body = body.to_string();
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("request-id", random_chars(16));
    if signed {
        let ts = Utc::now().timestamp().to_string();
        let nonce = random_chars(32);
        let signature = sign_platform(format!("{ts}\n{nonce}\n{body}\n").as_bytes());
        let serial = wx
            .answer_serial
            .clone()
            .unwrap_or_else(|| PLATFORM_SERIAL.to_string());
        builder = builder
            .header("wechatpay-timestamp", ts)
            .header("wechatpay-nonce", nonce)
            .header("wechatpay-signature", signature)
            .header("wechatpay-serial", serial)
            .header("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048");
        if wx.tamper {
            // A man in the middle turning "accepted" into "paid".
            body = body.replace("PROCESSING", "SUCCESS");
        }
    }
    builder.body(body.into()).expect("response")
}

fn error(wx: &Wx, status: u16, code: &str, message: &str) -> Response {
    // WeChat's 401 SIGN_ERROR comes without a platform signature.
    let signed = status != 401;
    answer(
        wx,
        status,
        json!({"code": code, "message": message}),
        signed,
    )
}

fn refund_json(out_refund_no: &str, r: &Stored) -> Value {
    json!({
        "refund_id": r.refund_id,
        "out_refund_no": out_refund_no,
        "transaction_id": r.transaction_id,
        "out_trade_no": "O20250101001",
        "channel": "ORIGINAL",
        "user_received_account": if r.status == "SUCCESS" { "招商银行信用卡0403" } else { "" },
        "success_time": r.success_time,
        "create_time": beijing_now(),
        "status": r.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": r.total, "refund": r.refund,
            "from": [],
            "payer_total": r.total, "payer_refund": r.refund,
            "settlement_refund": r.refund, "settlement_total": r.total,
            "discount_refund": 0, "currency": "CNY"
        },
        "promotion_detail": []
    })
}

/// Checks `Authorization` the way WeChat does: scheme, merchant, serial,
/// time window, and the RSA signature over the request as received.
fn authorized(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(params) = value.strip_prefix("WECHATPAY2-SHA256-RSA2048 ") else {
        return false;
    };
    let fields: HashMap<&str, &str> = params
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim_matches('"')))
        .collect();
    let (Some(mchid), Some(nonce), Some(ts), Some(serial), Some(sig)) = (
        fields.get("mchid"),
        fields.get("nonce_str"),
        fields.get("timestamp"),
        fields.get("serial_no"),
        fields.get("signature"),
    ) else {
        return false;
    };
    let fresh = ts
        .parse::<i64>()
        .map(|t| (Utc::now().timestamp() - t).abs() < 300)
        .unwrap_or(false);
    if *mchid != MCHID || *serial != MERCHANT_SERIAL || !fresh || nonce.len() != 32 {
        return false;
    }
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let mut message = format!("{method}\n{path_and_query}\n{ts}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    let Ok(raw) = B64.decode(sig) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(raw.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(RsaPublicKey::from(&keys().merchant))
        .verify(&message, &signature)
        .is_ok()
}

async fn handle(
    State(wx): State<Arc<Mutex<Wx>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = wx.lock().expect("double").delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut wx = wx.lock().expect("double");
    let wx = &mut *wx;
    wx.requests += 1;
    if !authorized(&method, &uri, &headers, &body) {
        wx.bad_signatures += 1;
        return error(wx, 401, "SIGN_ERROR", "签名错误");
    }
    if headers.get("user-agent").is_none() {
        return error(wx, 400, "PARAM_ERROR", "缺少User-Agent");
    }
    if let Some((status, code, message)) = wx.fail_next.pop_front() {
        return error(wx, status, code, message);
    }
    let path = uri.path();
    if method == Method::POST && path == "/v3/refund/domestic/refunds" {
        return create(wx, &body);
    }
    if let Some(no) = path.strip_prefix("/v3/refund/domestic/refunds/") {
        if method == Method::GET {
            return query(wx, &no.replace("%7C", "|"));
        }
    }
    error(wx, 404, "NOT_FOUND", "no such API")
}

fn create(wx: &mut Wx, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(wx, 400, "PARAM_ERROR", "body is not JSON");
    };
    wx.last_body = Some(req.clone());
    let (Some(no), Some(txn), Some(refund), Some(total), Some("CNY")) = (
        req["out_refund_no"].as_str(),
        req["transaction_id"].as_str(),
        req["amount"]["refund"].as_i64(),
        req["amount"]["total"].as_i64(),
        req["amount"]["currency"].as_str(),
    ) else {
        return error(wx, 400, "PARAM_ERROR", "参数错误");
    };
    if let Some(existing) = wx.refunds.get(no).cloned() {
        if wx.repeat_as_error {
            return error(wx, 403, "INVALID_REQUEST", "退款单号已存在");
        }
        if existing.transaction_id != txn || existing.refund != refund {
            return error(wx, 403, "INVALID_REQUEST", "同一退款单号参数不一致");
        }
        let body = refund_json(no, &existing);
        return answer(wx, 200, body, true);
    }
    if txn != TXN || total != TOTAL {
        return error(wx, 404, "RESOURCE_NOT_EXISTS", "订单不存在");
    }
    if refund <= 0 || refund > total {
        return error(wx, 400, "PARAM_ERROR", "退款金额不合法");
    }
    if wx.balance < refund {
        return error(wx, 403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起");
    }
    wx.balance -= refund;
    wx.movements += 1;
    let stored = Stored {
        refund_id: format!("50000000382019052709732678{:03}", wx.movements),
        transaction_id: txn.to_string(),
        refund,
        total,
        status: "PROCESSING".into(),
        success_time: None,
        processing_queries: wx.processing_queries,
    };
    wx.refunds.insert(no.to_string(), stored.clone());
    let body = refund_json(no, &stored);
    answer(wx, 200, body, true)
}

fn query(wx: &mut Wx, no: &str) -> Response {
    let Some(r) = wx.refunds.get_mut(no) else {
        return error(wx, 404, "RESOURCE_NOT_EXISTS", "退款单不存在");
    };
    if r.status == "PROCESSING" {
        if r.processing_queries == 0 {
            r.status = "SUCCESS".into();
            r.success_time = Some(beijing_now());
        } else {
            r.processing_queries -= 1;
        }
    }
    let body = refund_json(no, &r.clone());
    answer(wx, 200, body, true)
}

// ---------------------------------------------------------------------------
// Notifications as WeChat builds them.

struct Note {
    event_type: &'static str,
    resource: Value,
    timestamp: i64,
    serial: String,
    signer: RsaPrivateKey,
    api_v3_key: String,
    nonce: String,
    associated_data: String,
}

impl Note {
    fn refund(api_v3_key: &str, status: &str) -> Note {
        Note {
            event_type: match status {
                "SUCCESS" => "REFUND.SUCCESS",
                "ABNORMAL" => "REFUND.ABNORMAL",
                _ => "REFUND.CLOSED",
            },
            resource: json!({
                "mchid": MCHID,
                "out_trade_no": "O20250101001",
                "transaction_id": TXN,
                "out_refund_no": "R-1001",
                "refund_id": "50000000382019052709732678001",
                "refund_status": status,
                "success_time": "2025-01-01T12:00:05+08:00",
                "user_received_account": "招商银行信用卡0403",
                "amount": {"total": TOTAL, "refund": 500, "payer_total": TOTAL, "payer_refund": 500}
            }),
            timestamp: Utc::now().timestamp(),
            serial: PLATFORM_SERIAL.into(),
            signer: keys().platform.clone(),
            api_v3_key: api_v3_key.into(),
            nonce: random_chars(12),
            associated_data: "refund".into(),
        }
    }

    fn build(&self) -> (Vec<(String, String)>, Vec<u8>) {
        let cipher = Aes256Gcm::new_from_slice(self.api_v3_key.as_bytes()).expect("key");
        let iv: [u8; 12] = self.nonce.as_bytes().try_into().unwrap_or([0u8; 12]);
        let sealed = cipher
            .encrypt(
                &iv.into(),
                Payload {
                    msg: self.resource.to_string().as_bytes(),
                    aad: self.associated_data.as_bytes(),
                },
            )
            .expect("encrypt");
        let body = json!({
            "id": "EV-2018022511223320873",
            "create_time": "2025-01-01T12:00:06+08:00",
            "resource_type": "encrypt-resource",
            "event_type": self.event_type,
            "summary": "退款成功",
            "resource": {
                "original_type": "refund",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": B64.encode(sealed),
                "associated_data": self.associated_data,
                "nonce": self.nonce,
            }
        })
        .to_string();
        let nonce = random_chars(32);
        let key = SigningKey::<Sha256>::new(self.signer.clone());
        let message = format!("{}\n{nonce}\n{body}\n", self.timestamp);
        let signature = B64.encode(key.sign_with_rng(&mut OsRng, message.as_bytes()).to_bytes());
        let headers = vec![
            ("wechatpay-timestamp".into(), self.timestamp.to_string()),
            ("wechatpay-nonce".into(), nonce),
            ("wechatpay-signature".into(), signature),
            ("wechatpay-serial".into(), self.serial.clone()),
            (
                "wechatpay-signature-type".into(),
                "WECHATPAY2-SHA256-RSA2048".into(),
            ),
            ("request-id".into(), random_chars(16)),
        ];
        (headers, body.into_bytes())
    }
}

fn verify(
    pay: &WechatPay,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<ProviderRefund, NotificationError> {
    pay.verify(&Incoming { headers, body }, now)
}

// ---------------------------------------------------------------------------
// Refunds and queries.

#[tokio::test]
async fn a_refund_is_signed_sent_and_accepted() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let got = pay.refund(&request("R-1001", 500)).await.expect("refund");
    assert_eq!(got.out_refund_no, "R-1001");
    assert_eq!(got.state, ProviderState::Processing);
    assert!(got.provider_refund_id.is_some());
    assert_eq!(got.received_account, None);
    let sent = wx.with(|w| w.last_body.clone()).expect("request seen");
    assert_eq!(
        sent,
        json!({
            "transaction_id": TXN,
            "out_refund_no": "R-1001",
            "reason": "退货退款",
            "notify_url": "https://shop.example/wx/refund",
            "amount": {"refund": 500, "total": TOTAL, "currency": "CNY"}
        })
    );
    assert_eq!(wx.with(|w| (w.movements, w.bad_signatures)), (1, 0));
}

#[tokio::test]
async fn a_repeated_refund_returns_the_same_refund_and_moves_money_once() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let req = request("R-1002", 700);
    let first = pay.refund(&req).await.expect("first");
    let (a, b) = tokio::join!(pay.refund(&req), pay.refund(&req));
    assert_eq!(a.expect("second"), first);
    assert_eq!(b.expect("third"), first);
    assert_eq!(wx.with(|w| (w.movements, w.balance)), (1, 1_000_000 - 700));
}

#[tokio::test]
async fn a_repeat_answered_with_an_error_still_yields_the_existing_refund() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let req = request("R-1003", 300);
    let first = pay.refund(&req).await.expect("first");
    wx.with(|w| w.repeat_as_error = true);
    let again = pay.refund(&req).await.expect("repeat");
    assert_eq!(again.provider_refund_id, first.provider_refund_id);
    assert_eq!(wx.with(|w| w.movements), 1);
}

#[tokio::test]
async fn a_query_follows_the_refund_from_processing_to_success() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    // `|` is allowed in out_refund_no but not in a URL path: it goes
    // percent-encoded and the signature covers the encoded form.
    let req = request("R|1004", 500);
    pay.refund(&req).await.expect("refund");
    let q1 = pay.query(&req).await.expect("query").expect("known");
    assert_eq!(q1.state, ProviderState::Processing);
    let q2 = pay.query(&req).await.expect("query").expect("known");
    let ProviderState::Succeeded { at: Some(at) } = q2.state else {
        panic!("expected success with a time, got {:?}", q2.state)
    };
    assert!((Utc::now() - at).num_seconds().abs() < 60);
    assert_eq!(q2.received_account.as_deref(), Some("招商银行信用卡0403"));
    assert_eq!(q2.provider_refund_id, q1.provider_refund_id);
    assert_eq!(wx.with(|w| (w.movements, w.bad_signatures)), (1, 0));
}

#[tokio::test]
async fn an_unknown_refund_queries_as_none() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    assert_eq!(pay.query(&request("R-NOPE", 1)).await, Ok(None));
}

#[tokio::test]
async fn closed_and_abnormal_refunds_are_failures_with_a_reason() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    for (no, status) in [("R-C", "CLOSED"), ("R-A", "ABNORMAL")] {
        let req = request(no, 100);
        pay.refund(&req).await.expect("refund");
        wx.with(|w| w.refunds.get_mut(no).expect("stored").status = status.into());
        let got = pay.query(&req).await.expect("query").expect("known");
        let ProviderState::Failed { reason } = got.state else {
            panic!("{status}: expected failure, got {:?}", got.state)
        };
        assert!(reason.starts_with(status), "{reason}");
    }
}

#[tokio::test]
async fn busy_and_rate_limited_answers_are_transient_and_the_retry_moves_money_once() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let req = request("R-1005", 500);
    wx.with(|w| {
        w.fail_next.push_back((500, "SYSTEM_ERROR", "系统错误"));
        w.fail_next
            .push_back((429, "FREQUENCY_LIMITED", "频率超限"));
        w.fail_next.push_back((503, "", ""));
    });
    for _ in 0..3 {
        let e = pay.refund(&req).await.expect_err("failure");
        assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    }
    pay.refund(&req).await.expect("retry");
    pay.refund(&req).await.expect("retry again");
    assert_eq!(wx.with(|w| w.movements), 1);
}

#[tokio::test]
async fn not_enough_balance_is_permanent_with_wechats_message() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    wx.with(|w| w.balance = 100);
    let e = pay
        .refund(&request("R-1006", 500))
        .await
        .expect_err("refused");
    assert_eq!(
        e,
        ProviderError::Permanent("NOT_ENOUGH: 基本账户余额不足，请充值后重新发起".into())
    );
    assert_eq!(wx.with(|w| w.movements), 0);
}

#[tokio::test]
async fn refusals_for_bad_requests_are_permanent() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let mut unknown_payment = request("R-1007", 500);
    unknown_payment.provider_txn_id = "4200000001202501019999999999".into();
    let e = pay.refund(&unknown_payment).await.expect_err("refused");
    assert_eq!(
        e,
        ProviderError::Permanent("RESOURCE_NOT_EXISTS: 订单不存在".into())
    );
    wx.with(|w| w.fail_next.push_back((400, "PARAM_ERROR", "参数错误")));
    let e = pay
        .refund(&request("R-1008", 500))
        .await
        .expect_err("refused");
    assert_eq!(e, ProviderError::Permanent("PARAM_ERROR: 参数错误".into()));
    assert_eq!(wx.with(|w| w.movements), 0);
}

#[tokio::test]
async fn requests_wechat_would_refuse_are_refused_without_a_call() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let mut usd = request("R-1009", 500);
    usd.amount = Money::from_minor(500, Currency::Usd);
    usd.payment_total = Money::from_minor(TOTAL, Currency::Usd);
    let bad_no = request("R 1009", 500);
    let too_much = request("R-1010", TOTAL + 1);
    // A CNY refund of a payment said to be in another currency.
    let mut mixed = request("R-1012", 500);
    mixed.payment_total = Money::from_minor(TOTAL, Currency::Usd);
    for req in [usd, bad_no, too_much, mixed] {
        let e = pay.refund(&req).await.expect_err("refused");
        assert!(matches!(e, ProviderError::Permanent(_)), "{e:?}");
    }
    assert_eq!(wx.with(|w| w.requests), 0);
}

#[tokio::test]
async fn a_request_signed_with_the_wrong_key_is_refused_and_stays_retryable() {
    let wx = Double::start().await;
    let mut cfg = config(&wx.base_url, &random_chars(32));
    // The platform's private key stands in for a wrong merchant key.
    cfg.merchant_private_key_pem = keys()
        .platform
        .to_pkcs8_pem(LineEnding::LF)
        .expect("pem")
        .to_string();
    let pay = WechatPay::new(&cfg).expect("adapter");
    let e = pay
        .refund(&request("R-1011", 500))
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, ProviderError::Transient(m) if m.contains("SIGN_ERROR")),
        "{e:?}"
    );
    assert_eq!(wx.with(|w| (w.bad_signatures, w.movements)), (1, 0));
}

#[tokio::test]
async fn forged_or_unverifiable_answers_are_not_trusted() {
    let wx = Double::start().await;
    let pay = wx.adapter(&random_chars(32));
    let req = request("R-1012", 500);
    wx.with(|w| w.tamper = true);
    let e = pay.refund(&req).await.expect_err("tampered");
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    wx.with(|w| {
        w.tamper = false;
        w.answer_serial = Some("PUB_KEY_ID_UNKNOWN".into());
    });
    let e = pay.query(&req).await.expect_err("unknown serial");
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    // A refusal that cannot be trusted does not fail the refund for good.
    wx.with(|w| w.fail_next.push_back((403, "NOT_ENOUGH", "余额不足")));
    let e = pay.refund(&req).await.expect_err("unverifiable refusal");
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    wx.with(|w| w.answer_serial = None);
    // The refund the forged answer was about exists once; retrying is safe.
    let got = pay.refund(&req).await.expect("retry");
    assert_eq!(got.state, ProviderState::Processing);
    assert_eq!(wx.with(|w| w.movements), 1);
}

#[tokio::test]
async fn unreachable_and_slow_wechat_are_transient() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let pay =
        WechatPay::new(&config(&format!("http://{addr}"), &random_chars(32))).expect("adapter");
    let e = pay.refund(&request("R-1013", 500)).await.expect_err("down");
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");

    let wx = Double::start().await;
    let mut cfg = config(&wx.base_url, &random_chars(32));
    cfg.timeout_ms = 200;
    let pay = WechatPay::new(&cfg).expect("adapter");
    wx.with(|w| w.delay = Some(Duration::from_millis(1_000)));
    let e = pay.refund(&request("R-1014", 500)).await.expect_err("slow");
    assert!(
        matches!(&e, ProviderError::Transient(m) if m.contains("timeout")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------
// Notifications.

#[tokio::test]
async fn refund_notifications_are_verified_decrypted_and_read() {
    let api_key = random_chars(32);
    let pay = WechatPay::new(&config("http://127.0.0.1:9", &api_key)).expect("adapter");
    let (headers, body) = Note::refund(&api_key, "SUCCESS").build();
    let got = verify(&pay, &headers, &body, Utc::now()).expect("accepted");
    assert_eq!(
        got,
        ProviderRefund {
            out_refund_no: "R-1001".into(),
            provider_refund_id: Some("50000000382019052709732678001".into()),
            state: ProviderState::Succeeded {
                at: Some("2025-01-01T04:00:05Z".parse().expect("time")),
            },
            received_account: Some("招商银行信用卡0403".into()),
            amount: Some(NoticeAmount::Refund(500)),
            account: Some("mchid=1900000109".into()),
        }
    );
    assert_eq!(pay.account().as_deref(), Some("mchid=1900000109"));
    for status in ["ABNORMAL", "CLOSED"] {
        let (headers, body) = Note::refund(&api_key, status).build();
        let got = verify(&pay, &headers, &body, Utc::now()).expect("accepted");
        assert!(
            matches!(&got.state, ProviderState::Failed { reason } if reason.starts_with(status)),
            "{got:?}"
        );
    }
    // Without associated data, as the field allows.
    let mut note = Note::refund(&api_key, "SUCCESS");
    note.associated_data = String::new();
    let (headers, body) = note.build();
    verify(&pay, &headers, &body, Utc::now()).expect("accepted without AAD");
    let ack = pay.ack();
    assert_eq!((ack.status, ack.content_type), (200, "application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&ack.body).expect("json"),
        json!({"code": "SUCCESS", "message": "成功"})
    );
}

#[tokio::test]
async fn a_payment_notification_is_not_a_refund_and_is_acknowledged() {
    let api_key = random_chars(32);
    let pay = WechatPay::new(&config("http://127.0.0.1:9", &api_key)).expect("adapter");
    let mut note = Note::refund(&api_key, "SUCCESS");
    note.event_type = "TRANSACTION.SUCCESS";
    let (headers, body) = note.build();
    let e = verify(&pay, &headers, &body, Utc::now()).expect_err("not a refund");
    assert!(matches!(e, NotificationError::NotARefund(_)), "{e:?}");
    assert_eq!(pay.nack(&e).status, 200);
}

#[tokio::test]
async fn forged_stale_and_unreadable_notifications_are_refused() {
    let api_key = random_chars(32);
    let pay = WechatPay::new(&config("http://127.0.0.1:9", &api_key)).expect("adapter");
    let now = Utc::now();
    let bad_signature = |e: &NotificationError| matches!(e, NotificationError::BadSignature(_));
    let stale = |e: &NotificationError| matches!(e, NotificationError::Stale(_));
    let malformed = |e: &NotificationError| matches!(e, NotificationError::Malformed(_));

    // Body altered after signing.
    let (headers, body) = Note::refund(&api_key, "SUCCESS").build();
    let mut altered = String::from_utf8(body.clone()).expect("utf8");
    altered = altered.replace("REFUND.SUCCESS", "REFUND.CLOSED");
    let e = verify(&pay, &headers, altered.as_bytes(), now).expect_err("tampered");
    assert!(bad_signature(&e), "{e:?}");

    // A header altered after signing (the timestamp is signed too).
    let mut moved = headers.clone();
    moved[0].1 = (now.timestamp() + 1).to_string();
    let e = verify(&pay, &moved, &body, now).expect_err("timestamp altered");
    assert!(bad_signature(&e), "{e:?}");

    // Unknown serial, and the right serial with someone else's key.
    let mut note = Note::refund(&api_key, "SUCCESS");
    note.serial = "PUB_KEY_ID_SOMEONE_ELSE".into();
    let (h, b) = note.build();
    assert!(bad_signature(
        &verify(&pay, &h, &b, now).expect_err("serial")
    ));
    let mut note = Note::refund(&api_key, "SUCCESS");
    note.signer = keys().merchant.clone();
    let (h, b) = note.build();
    assert!(bad_signature(&verify(&pay, &h, &b, now).expect_err("key")));

    // WeChat's deliberate probe, and missing headers.
    let mut probe = headers.clone();
    probe[2].1 = format!("WECHATPAY/SIGNTEST/{}", probe[2].1);
    assert!(bad_signature(
        &verify(&pay, &probe, &body, now).expect_err("probe")
    ));
    let e = verify(&pay, &headers[1..], &body, now).expect_err("no timestamp");
    assert!(bad_signature(&e), "{e:?}");
    assert_eq!(pay.nack(&e).status, 401);

    // Five minutes each way is the window.
    for (offset, ok) in [(-301, false), (301, false), (-299, true), (299, true)] {
        let mut note = Note::refund(&api_key, "SUCCESS");
        note.timestamp = now.timestamp() + offset;
        let (h, b) = note.build();
        match verify(&pay, &h, &b, now) {
            Ok(_) => assert!(ok, "offset {offset} accepted"),
            Err(e) => assert!(!ok && stale(&e), "offset {offset}: {e:?}"),
        }
    }

    // Signed correctly, but not decryptable with our APIv3 key / AAD / nonce.
    let (h, b) = Note::refund(&random_chars(32), "SUCCESS").build();
    let e = verify(&pay, &h, &b, now).expect_err("other APIv3 key");
    assert!(malformed(&e), "{e:?}");
    let nack = pay.nack(&e);
    assert!(nack.status >= 400);
    assert_eq!(
        serde_json::from_str::<Value>(&nack.body).expect("json")["code"],
        "FAIL"
    );
    let mut note = Note::refund(&api_key, "SUCCESS");
    note.nonce = "short".into();
    let (h, b) = note.build();
    assert!(malformed(&verify(&pay, &h, &b, now).expect_err("nonce")));
    // Same plaintext, but the body claims other associated data.
    let (h, b) = Note::refund(&api_key, "SUCCESS").build();
    let mut v: Value = serde_json::from_slice(&b).expect("json");
    v["resource"]["associated_data"] = json!("transaction");
    let resigned = v.to_string();
    let h = resign(&h, resigned.as_bytes());
    assert!(malformed(
        &verify(&pay, &h, resigned.as_bytes(), now).expect_err("aad")
    ));
}

/// New platform signature over a changed body, same timestamp and nonce.
fn resign(headers: &[(String, String)], body: &[u8]) -> Vec<(String, String)> {
    let mut h = headers.to_vec();
    let mut message = format!("{}\n{}\n", h[0].1, h[1].1).into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    h[2].1 = sign_platform(&message);
    h
}

// ---------------------------------------------------------------------------
// Configuration.

#[test]
fn configuration_reads_from_json_and_never_shows_its_secrets() {
    let api_key = random_chars(32);
    let mut doc = json!({
        "mchid": MCHID,
        "merchant_serial_no": MERCHANT_SERIAL,
        "merchant_private_key_pem": config("x", &api_key).merchant_private_key_pem,
        "platform_public_keys": { PLATFORM_SERIAL: public_pem(&keys().platform) },
        "api_v3_key": api_key,
    });
    let cfg: WechatPayConfig = serde_json::from_value(doc.clone()).expect("config");
    assert_eq!(cfg.base_url, "https://api.mch.weixin.qq.com");
    assert_eq!(cfg.notify_url, None);
    let shown = format!("{cfg:?}");
    assert!(
        !shown.contains(&api_key) && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
    let pay = WechatPay::new(&cfg).expect("adapter");
    let shown = format!("{pay:?}");
    assert!(
        !shown.contains(&api_key) && !shown.contains("PRIVATE"),
        "{shown}"
    );

    doc["api_v3_key"] = json!(&api_key[..31]);
    let short: WechatPayConfig = serde_json::from_value(doc.clone()).expect("config");
    let e = WechatPay::new(&short).expect_err("31-byte key").to_string();
    assert!(!e.contains(&api_key[..31]), "{e}");
    doc["api_v3_key"] = json!(api_key);
    doc["merchant_private_key_pem"] = json!("-----BEGIN PRIVATE KEY-----\nnot a key\n");
    let bad: WechatPayConfig = serde_json::from_value(doc.clone()).expect("config");
    let e = WechatPay::new(&bad).expect_err("bad key").to_string();
    assert!(!e.contains("not a key"), "{e}");
    doc["surprise"] = json!(1);
    assert!(serde_json::from_value::<WechatPayConfig>(doc).is_err());
}
