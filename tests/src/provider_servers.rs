//! Local stand-ins for the real payment providers, for scenarios that run
//! the real adapters (`aftersales::providers::{wechat, alipay,
//! alipay_payout, stripe}`) end to end: WeChat Pay API v3, the Alipay
//! open-platform gateway (trade refunds; fund transfers to bank cards) and
//! a Stripe-style card refunds API, each on a loopback port.
//!
//! Each one checks our requests the way the provider does (WeChat's
//! `WECHATPAY2-SHA256-RSA2048` signature, Alipay's RSA2 over the sorted
//! parameters, Stripe's secret key), refuses what does not check out, keeps
//! refunds by the idempotency key (so the same out-refund number moves money
//! once) and answers per protocol, signed where the provider signs. A refund
//! is accepted as "processing" first; [`ProviderServer::succeed`] settles it
//! and builds the notification the provider then posts, signed for real
//! (WeChat: platform RSA over `timestamp\nnonce\nbody\n`, resource under
//! AEAD_AES_256_GCM with the APIv3 key; Alipay: RSA2-signed
//! `trade_status_sync` form; Stripe: `Stripe-Signature: t=,v1=` HMAC).
//!
//! Every key is generated at test start (RSA 2048, what WeChat and Alipay
//! require); none is stored in the repository. The checks mirror the
//! protocol tests in `shared/tests/{wechat_pay,alipay,stripe}.rs`, kept to
//! what a scenario needs (those tests also inject failures).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use aftersales::domain::order::PaymentChannel;
use aftersales::providers::alipay::{Alipay, AlipayConfig};
use aftersales::providers::alipay_payout::{AlipayPayout, AlipayPayoutConfig};
use aftersales::providers::stripe::{Stripe, StripeConfig};
use aftersales::providers::wechat::{WechatPay, WechatPayConfig};
use aftersales::providers::{NotificationVerifier, RefundProvider};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::{OsRng, RngCore};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// A refund request the server accepted as ours (signature or key checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRefund {
    /// What the provider deduplicates on, as sent: WeChat `out_refund_no`,
    /// Alipay `out_request_no`, Stripe's `Idempotency-Key` header.
    pub idempotency_key: String,
    /// Our out-refund number as the request names it (for Stripe,
    /// `metadata[out_refund_no]`; for the others the key itself).
    pub out_refund_no: String,
    /// The payment refunded (WeChat `transaction_id`, Alipay `trade_no`,
    /// Stripe `payment_intent`).
    pub provider_txn_id: String,
    /// Minor units.
    pub amount: i64,
    /// Where the provider is told to post its notification, when the
    /// protocol carries one per request (WeChat, Alipay).
    pub notify_url: Option<String>,
}

/// What a provider's refund notification says, to build one by hand: the
/// scenarios of notices that do not match the refund they name take the
/// facts of a real one and change one thing.
#[derive(Debug, Clone)]
pub struct NoticeFacts {
    pub out_refund_no: String,
    /// The payment (WeChat `transaction_id`, Alipay `trade_no`, Stripe
    /// `payment_intent`).
    pub provider_txn_id: String,
    /// The provider's refund id (Alipay: our number again).
    pub provider_refund_id: String,
    /// Minor units of this refund.
    pub amount: i64,
    /// Minor units refunded on the payment in all, this refund included.
    pub refunded_on_payment: i64,
    /// Minor units of the payment.
    pub payment_total: i64,
    pub succeeded_at: DateTime<Utc>,
    /// Whose notice it is: WeChat `mchid`, Alipay `app_id`, Stripe
    /// `account` (None: the platform's own).
    pub merchant: Option<String>,
}

/// A notification exactly as the provider posts it.
#[derive(Debug, Clone)]
pub struct Notification {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How the provider reads the webhook's answer: delivered, or to retry.
    acknowledged: fn(u16, &str) -> bool,
}

/// The webhook's answer to one notification.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: u16,
    pub body: String,
    /// Whether the provider takes the answer as "received" (and stops
    /// retrying), by its own rule.
    pub acknowledged: bool,
}

impl Notification {
    /// POSTs the notification to `url` (our webhook) and reads the answer.
    pub async fn post(&self, url: &str) -> Delivery {
        let mut request = client().post(url).body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.expect("the webhook answers");
        let status = response.status().as_u16();
        let body = response.text().await.expect("webhook answer body");
        Delivery {
            acknowledged: (self.acknowledged)(status, &body),
            status,
            body,
        }
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        aftersales::providers::install_crypto_provider();
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("HTTP client")
    })
}

/// The real adapter for a server: one object, both ports (as
/// `ProviderConfigs::build` wires it).
pub struct Adapter {
    pub provider: Arc<dyn RefundProvider>,
    pub verifier: Arc<dyn NotificationVerifier>,
}

/// What a scenario needs from any of the three servers.
pub trait ProviderServer: Send + Sync {
    /// The payment channel the provider serves.
    fn channel(&self) -> PaymentChannel;
    /// The provider's name in our webhook path (`/v1/webhooks/{name}`).
    fn webhook_name(&self) -> &'static str;
    /// The real adapter configured for this server; `notify_url` is where
    /// it asks the provider to post notifications (when the protocol
    /// carries one; Stripe's endpoint is set in its dashboard instead).
    fn adapter(&self, notify_url: &str) -> Adapter;
    /// The server's records (payments, refunds, requests, money moved).
    fn books(&self) -> &Mutex<Books>;
    /// A payment the provider knows: refunds against it are accepted up to
    /// `total` (minor units) in all.
    fn paid(&self, provider_txn_id: &str, total: i64) {
        lock(self.books())
            .payments
            .insert(provider_txn_id.into(), total);
    }
    /// Refund requests accepted as ours, in order (repeats included).
    fn refund_requests(&self) -> Vec<SeenRefund> {
        lock(self.books()).seen.clone()
    }
    /// Requests refused for a bad signature or key.
    fn refused_requests(&self) -> u32 {
        lock(self.books()).refused
    }
    /// How often money left for this out-refund number.
    fn movements(&self, out_refund_no: &str) -> u32 {
        let books = lock(self.books());
        books.movements.get(out_refund_no).copied().unwrap_or(0)
    }
    /// The provider's own id of the refund (Alipay has none).
    fn provider_refund_id(&self, out_refund_no: &str) -> Option<String> {
        Some(
            lock(self.books())
                .by_out_refund_no(out_refund_no)
                .id
                .clone(),
        )
    }
    /// The money arrived: the refund is settled at the provider, and this
    /// is the notification it posts about it. Panics for a refund it never
    /// accepted (a test mistake).
    fn succeed(&self, out_refund_no: &str) -> Notification {
        let facts = self.facts(out_refund_no, true);
        self.notice(&facts)
    }
    /// What the provider's notification about a refund it accepted says
    /// (`settle`: settled in the books first; otherwise only claimed).
    fn facts(&self, out_refund_no: &str, settle: bool) -> NoticeFacts {
        let mut books = lock(self.books());
        let r = books.succeeded(out_refund_no, settle);
        NoticeFacts {
            out_refund_no: r.out_refund_no.clone(),
            provider_txn_id: r.txn.clone(),
            provider_refund_id: r.id.clone(),
            amount: r.amount,
            refunded_on_payment: books
                .refunds
                .values()
                .filter(|x| x.txn == r.txn)
                .map(|x| x.amount)
                .sum(),
            payment_total: books.payments.get(&r.txn).copied().unwrap_or_default(),
            succeeded_at: r.succeeded_at.unwrap_or_else(Utc::now),
            merchant: self.merchant(),
        }
    }
    /// The merchant account this server's adapter is configured as, as
    /// its notifications name it.
    fn merchant(&self) -> Option<String>;
    /// A refund notification saying `facts`, signed for real by the
    /// provider, whatever the books say.
    fn notice(&self, facts: &NoticeFacts) -> Notification;
    /// The same notification with a signature that does not verify (made
    /// with a key or secret other than the provider's).
    fn forged(&self, out_refund_no: &str) -> Notification;
}

// ---------------------------------------------------------------------------
// What all three keep: payments, refunds by idempotency key, money moved.

#[derive(Debug, Clone)]
struct Refund {
    id: String,
    out_refund_no: String,
    txn: String,
    amount: i64,
    succeeded_at: Option<DateTime<Utc>>,
}

/// What a provider server keeps: payments, refunds by idempotency key,
/// the refund requests it accepted, and money moved per out-refund number.
#[derive(Default)]
pub struct Books {
    payments: HashMap<String, i64>,
    refunds: HashMap<String, Refund>,
    seen: Vec<SeenRefund>,
    refused: u32,
    movements: HashMap<String, u32>,
}

/// Why a refund is not made, in the provider's words.
enum Refusal {
    UnknownPayment,
    TooMuch,
    KeyReusedWithOtherParameters,
}

impl Books {
    /// Makes the refund once per idempotency key: a repeat with the same
    /// parameters gets the refund made the first time, no money moves.
    fn refund(
        &mut self,
        key: &str,
        out_refund_no: &str,
        txn: &str,
        amount: i64,
        id: impl FnOnce() -> String,
    ) -> Result<Refund, Refusal> {
        if let Some(existing) = self.refunds.get(key) {
            if existing.txn != txn || existing.amount != amount {
                return Err(Refusal::KeyReusedWithOtherParameters);
            }
            return Ok(existing.clone());
        }
        let total = *self.payments.get(txn).ok_or(Refusal::UnknownPayment)?;
        let refunded: i64 = self
            .refunds
            .values()
            .filter(|r| r.txn == txn)
            .map(|r| r.amount)
            .sum();
        if amount <= 0 || refunded + amount > total {
            return Err(Refusal::TooMuch);
        }
        let refund = Refund {
            id: id(),
            out_refund_no: out_refund_no.to_owned(),
            txn: txn.to_owned(),
            amount,
            succeeded_at: None,
        };
        *self.movements.entry(out_refund_no.to_owned()).or_default() += 1;
        self.refunds.insert(key.to_owned(), refund.clone());
        Ok(refund)
    }

    fn by_out_refund_no(&mut self, out_refund_no: &str) -> &mut Refund {
        self.refunds
            .values_mut()
            .find(|r| r.out_refund_no == out_refund_no)
            .unwrap_or_else(|| panic!("the provider never accepted refund {out_refund_no}"))
    }

    /// The refund, settled at the provider (`settle`) or only claimed to
    /// be (a forgery: the books stay as they are).
    fn succeeded(&mut self, out_refund_no: &str, settle: bool) -> Refund {
        let r = self.by_out_refund_no(out_refund_no);
        if !settle {
            let mut lie = r.clone();
            lie.succeeded_at.get_or_insert_with(Utc::now);
            return lie;
        }
        r.succeeded_at.get_or_insert_with(Utc::now);
        r.clone()
    }
}

type Shared = Arc<Mutex<Books>>;

fn lock(books: &Mutex<Books>) -> MutexGuard<'_, Books> {
    // A panic while holding the lock is a failed test already; the books
    // are still readable for its message.
    books.lock().unwrap_or_else(|e| e.into_inner())
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn random_chars(n: usize) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| A[(*x as usize) % A.len()] as char)
        .collect()
}

fn rsa_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA 2048 key")
}

fn public_pem(key: &RsaPrivateKey) -> String {
    RsaPublicKey::from(key)
        .to_public_key_pem(LineEnding::LF)
        .expect("public key PEM")
}

fn private_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF)
        .expect("PKCS#8 PEM")
        .to_string()
}

fn rsa_sign(key: &RsaPrivateKey, message: &[u8]) -> String {
    let signer = SigningKey::<Sha256>::new(key.clone());
    B64.encode(signer.sign_with_rng(&mut OsRng, message).to_bytes())
}

fn rsa_verifies(key: &RsaPrivateKey, message: &[u8], signature_b64: &str) -> bool {
    let Ok(raw) = B64.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(raw.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(RsaPublicKey::from(key))
        .verify(message, &signature)
        .is_ok()
}

fn beijing(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
}

// ---------------------------------------------------------------------------
// WeChat Pay API v3.

const WX_MCHID: &str = "1900000109";
const WX_MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const WX_PLATFORM_SERIAL: &str = "PUB_KEY_ID_0119000001092026010100000001";
const WX_REFUNDS: &str = "/v3/refund/domestic/refunds";

struct WxKeys {
    merchant: RsaPrivateKey,
    platform: RsaPrivateKey,
}

/// RSA 2048 generation takes a moment: one pair per test binary.
fn wx_keys() -> &'static WxKeys {
    static KEYS: OnceLock<WxKeys> = OnceLock::new();
    KEYS.get_or_init(|| WxKeys {
        merchant: rsa_key(),
        platform: rsa_key(),
    })
}

/// WeChat Pay API v3 domestic refunds.
pub struct WechatPayServer {
    pub base_url: String,
    api_v3_key: String,
    books: Shared,
}

impl WechatPayServer {
    pub async fn start() -> WechatPayServer {
        let books = Shared::default();
        let app = axum::Router::new()
            .fallback(wx_handle)
            .with_state(books.clone());
        WechatPayServer {
            base_url: serve(app).await,
            api_v3_key: random_chars(32),
            books,
        }
    }

    /// The adapter's configuration for this server (keys as the merchant
    /// platform hands them out).
    pub fn config(&self, notify_url: &str) -> WechatPayConfig {
        WechatPayConfig {
            base_url: self.base_url.clone(),
            mchid: WX_MCHID.into(),
            merchant_serial_no: WX_MERCHANT_SERIAL.into(),
            merchant_private_key_pem: private_pem(&wx_keys().merchant),
            platform_public_keys: BTreeMap::from([(
                WX_PLATFORM_SERIAL.to_owned(),
                public_pem(&wx_keys().platform),
            )]),
            api_v3_key: self.api_v3_key.clone(),
            notify_url: Some(notify_url.to_owned()),
            timeout_ms: 10_000,
        }
    }

    /// [`config`](Self::config) as the JSON document a deployment (or the
    /// runner's `WECHATPAY_CONFIG`) holds.
    pub fn config_json(&self, notify_url: &str) -> Value {
        let c = self.config(notify_url);
        json!({
            "base_url": c.base_url,
            "mchid": c.mchid,
            "merchant_serial_no": c.merchant_serial_no,
            "merchant_private_key_pem": c.merchant_private_key_pem,
            "platform_public_keys": c.platform_public_keys,
            "api_v3_key": c.api_v3_key,
            "notify_url": c.notify_url,
            "timeout_ms": c.timeout_ms,
        })
    }

    /// A `REFUND.SUCCESS` notification as WeChat posts it to the notify_url.
    ///
    /// `genuine`: signed with the platform key and settled in the books;
    /// otherwise signed with the merchant's own key, books untouched.
    fn notification(&self, f: &NoticeFacts, genuine: bool) -> Notification {
        let signer = match genuine {
            true => &wx_keys().platform,
            false => &wx_keys().merchant,
        };
        let (total, refund) = (f.payment_total, f.amount);
        let resource = json!({
            "mchid": f.merchant,
            "transaction_id": f.provider_txn_id,
            "out_trade_no": format!("O{}", f.provider_txn_id),
            "out_refund_no": f.out_refund_no,
            "refund_id": f.provider_refund_id,
            "refund_status": "SUCCESS",
            "success_time": beijing(f.succeeded_at).to_rfc3339(),
            "user_received_account": "招商银行信用卡0403",
            "amount": {"total": total, "refund": refund,
                       "payer_total": total, "payer_refund": refund}
        });
        let cipher = Aes256Gcm::new_from_slice(self.api_v3_key.as_bytes()).expect("APIv3 key");
        let nonce = random_chars(12);
        let iv: [u8; 12] = nonce.as_bytes().try_into().expect("12-byte nonce");
        let sealed = cipher
            .encrypt(
                &iv.into(),
                Payload {
                    msg: resource.to_string().as_bytes(),
                    aad: b"refund",
                },
            )
            .expect("AES-256-GCM");
        let body = json!({
            "id": format!("EV-{}", random_chars(20)),
            "create_time": beijing(Utc::now()).to_rfc3339(),
            "resource_type": "encrypt-resource",
            "event_type": "REFUND.SUCCESS",
            "summary": "退款成功",
            "resource": {
                "original_type": "refund",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": B64.encode(sealed),
                "associated_data": "refund",
                "nonce": nonce,
            }
        })
        .to_string();
        let timestamp = Utc::now().timestamp().to_string();
        let sig_nonce = random_chars(32);
        let signature = rsa_sign(
            signer,
            format!("{timestamp}\n{sig_nonce}\n{body}\n").as_bytes(),
        );
        Notification {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("wechatpay-timestamp".into(), timestamp),
                ("wechatpay-nonce".into(), sig_nonce),
                ("wechatpay-signature".into(), signature),
                ("wechatpay-serial".into(), WX_PLATFORM_SERIAL.into()),
                (
                    "wechatpay-signature-type".into(),
                    "WECHATPAY2-SHA256-RSA2048".into(),
                ),
            ],
            body: body.into_bytes(),
            // WeChat takes 200 or 204 as received; anything else is retried.
            acknowledged: |status, _| status == 200 || status == 204,
        }
    }
}

/// A WeChat answer, signed with the platform key over
/// `timestamp\nnonce\nbody\n` (its 401 for a bad signature comes unsigned).
fn wx_answer(status: u16, body: Value) -> Response {
    let body = body.to_string();
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("request-id", random_chars(16));
    if status != 401 {
        let ts = Utc::now().timestamp().to_string();
        let nonce = random_chars(32);
        let signature = rsa_sign(
            &wx_keys().platform,
            format!("{ts}\n{nonce}\n{body}\n").as_bytes(),
        );
        response = response
            .header("wechatpay-timestamp", ts)
            .header("wechatpay-nonce", nonce)
            .header("wechatpay-signature", signature)
            .header("wechatpay-serial", WX_PLATFORM_SERIAL)
            .header("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048");
    }
    response.body(body.into()).expect("response")
}

fn wx_error(status: u16, code: &str, message: &str) -> Response {
    wx_answer(status, json!({"code": code, "message": message}))
}

fn wx_refund_json(books: &Books, r: &Refund) -> Value {
    let total = books.payments.get(&r.txn).copied().unwrap_or_default();
    let succeeded = r.succeeded_at.is_some();
    json!({
        "refund_id": r.id,
        "out_refund_no": r.out_refund_no,
        "transaction_id": r.txn,
        "out_trade_no": format!("O{}", r.txn),
        "channel": "ORIGINAL",
        "user_received_account": if succeeded { "招商银行信用卡0403" } else { "" },
        "success_time": r.succeeded_at.map(|t| beijing(t).to_rfc3339()),
        "create_time": beijing(Utc::now()).to_rfc3339(),
        "status": if succeeded { "SUCCESS" } else { "PROCESSING" },
        "funds_account": "AVAILABLE",
        "amount": {"total": total, "refund": r.amount, "from": [],
                   "payer_total": total, "payer_refund": r.amount,
                   "settlement_refund": r.amount, "settlement_total": total,
                   "discount_refund": 0, "currency": "CNY"},
        "promotion_detail": []
    })
}

/// `Authorization` checked as WeChat does: scheme, merchant, certificate
/// serial, a five-minute window, and the merchant key's RSA signature over
/// `METHOD\nPATH?QUERY\ntimestamp\nnonce\nbody\n` as received.
fn wx_authorized(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(params) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("WECHATPAY2-SHA256-RSA2048 "))
    else {
        return false;
    };
    let fields: HashMap<&str, &str> = params
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim_matches('"')))
        .collect();
    let field = |k: &str| fields.get(k).copied().unwrap_or("");
    let fresh = field("timestamp")
        .parse::<i64>()
        .is_ok_and(|t| (Utc::now().timestamp() - t).abs() < 300);
    if field("mchid") != WX_MCHID
        || field("serial_no") != WX_MERCHANT_SERIAL
        || !fresh
        || field("nonce_str").len() != 32
    {
        return false;
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let mut message = format!(
        "{method}\n{path}\n{}\n{}\n",
        field("timestamp"),
        field("nonce_str")
    )
    .into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    rsa_verifies(&wx_keys().merchant, &message, field("signature"))
}

async fn wx_handle(
    State(books): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut books = lock(&books);
    if !wx_authorized(&method, &uri, &headers, &body) {
        books.refused += 1;
        return wx_error(401, "SIGN_ERROR", "签名错误");
    }
    if method == Method::POST && uri.path() == WX_REFUNDS {
        let req: Value = serde_json::from_slice(&body).unwrap_or_default();
        let (Some(no), Some(txn), Some(amount), Some(total)) = (
            req["out_refund_no"].as_str(),
            req["transaction_id"].as_str(),
            req["amount"]["refund"].as_i64(),
            req["amount"]["total"].as_i64(),
        ) else {
            return wx_error(400, "PARAM_ERROR", "参数错误");
        };
        books.seen.push(SeenRefund {
            idempotency_key: no.to_owned(),
            out_refund_no: no.to_owned(),
            provider_txn_id: txn.to_owned(),
            amount,
            notify_url: req["notify_url"].as_str().map(str::to_owned),
        });
        if req["amount"]["currency"] != "CNY" || books.payments.get(txn) != Some(&total) {
            return wx_error(404, "RESOURCE_NOT_EXISTS", "订单不存在");
        }
        let id = || format!("5030000{}", 1_000_000_000 + OsRng.next_u32() as u64);
        return match books.refund(no, no, txn, amount, id) {
            Ok(r) => wx_answer(200, wx_refund_json(&books, &r)),
            Err(Refusal::KeyReusedWithOtherParameters) => {
                wx_error(403, "INVALID_REQUEST", "同一退款单号参数不一致")
            }
            Err(Refusal::TooMuch) => wx_error(400, "PARAM_ERROR", "退款金额不合法"),
            Err(Refusal::UnknownPayment) => wx_error(404, "RESOURCE_NOT_EXISTS", "订单不存在"),
        };
    }
    if let Some(no) = uri.path().strip_prefix(&format!("{WX_REFUNDS}/")) {
        if method == Method::GET {
            return match books.refunds.get(&no.replace("%7C", "|")) {
                Some(r) => wx_answer(200, wx_refund_json(&books, r)),
                None => wx_error(404, "RESOURCE_NOT_EXISTS", "退款单不存在"),
            };
        }
    }
    wx_error(404, "NOT_FOUND", "no such API")
}

impl ProviderServer for WechatPayServer {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::WechatPay
    }
    fn webhook_name(&self) -> &'static str {
        "wechat_pay"
    }
    fn adapter(&self, notify_url: &str) -> Adapter {
        let a = Arc::new(WechatPay::new(&self.config(notify_url)).expect("WeChat Pay adapter"));
        Adapter {
            provider: a.clone(),
            verifier: a,
        }
    }
    fn books(&self) -> &Mutex<Books> {
        &self.books
    }
    fn merchant(&self) -> Option<String> {
        Some(WX_MCHID.into())
    }
    fn notice(&self, facts: &NoticeFacts) -> Notification {
        self.notification(facts, true)
    }
    fn forged(&self, out_refund_no: &str) -> Notification {
        self.notification(&self.facts(out_refund_no, false), false)
    }
}

// ---------------------------------------------------------------------------
// Alipay open platform.

const ALI_APP_ID: &str = "2021000123456789";
const ALI_SELLER: &str = "2088101122136241";

struct AliKeys {
    app: RsaPrivateKey,
    alipay: RsaPrivateKey,
}

fn ali_keys() -> &'static AliKeys {
    static KEYS: OnceLock<AliKeys> = OnceLock::new();
    KEYS.get_or_init(|| AliKeys {
        app: rsa_key(),
        alipay: rsa_key(),
    })
}

/// The Alipay gateway: `alipay.trade.refund` and
/// `alipay.trade.fastpay.refund.query`.
pub struct AlipayServer {
    pub gateway_url: String,
    books: Shared,
}

impl AlipayServer {
    pub async fn start() -> AlipayServer {
        let books = Shared::default();
        let app = axum::Router::new()
            .route("/gateway.do", axum::routing::post(ali_gateway))
            .with_state(books.clone());
        AlipayServer {
            gateway_url: format!("{}/gateway.do", serve(app).await),
            books,
        }
    }

    pub fn config(&self, notify_url: &str) -> AlipayConfig {
        AlipayConfig {
            gateway_url: self.gateway_url.clone(),
            app_id: ALI_APP_ID.into(),
            app_private_key: private_pem(&ali_keys().app),
            alipay_public_key: public_pem(&ali_keys().alipay),
            notify_url: Some(notify_url.to_owned()),
            seller_id: Some(ALI_SELLER.into()),
        }
    }

    /// [`config`](Self::config) as the JSON document a deployment (or the
    /// runner's `ALIPAY_CONFIG`) holds.
    pub fn config_json(&self, notify_url: &str) -> Value {
        let c = self.config(notify_url);
        json!({
            "gateway_url": c.gateway_url,
            "app_id": c.app_id,
            "app_private_key": c.app_private_key,
            "alipay_public_key": c.alipay_public_key,
            "notify_url": c.notify_url,
            "seller_id": c.seller_id,
        })
    }

    /// The `trade_status_sync` Alipay posts to the payment's notify_url
    /// once a refund touched the trade; RSA2 over every parameter but
    /// `sign` and `sign_type`, sorted, empty values kept.
    ///
    /// `genuine`: signed with Alipay's key and settled in the books;
    /// otherwise signed with the app's own key, books untouched.
    fn notification(&self, f: &NoticeFacts, genuine: bool) -> Notification {
        let signer = match genuine {
            true => &ali_keys().alipay,
            false => &ali_keys().app,
        };
        let (total, refunded, at) = (f.payment_total, f.refunded_on_payment, f.succeeded_at);
        let params: BTreeMap<&str, String> = BTreeMap::from([
            ("notify_time", ali_time(Utc::now())),
            ("notify_type", "trade_status_sync".into()),
            ("notify_id", random_chars(34).to_lowercase()),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("app_id", f.merchant.clone().unwrap_or_default()),
            ("seller_id", ALI_SELLER.into()),
            ("buyer_id", "2088102122524333".into()),
            ("trade_no", f.provider_txn_id.clone()),
            ("out_trade_no", format!("O{}", f.provider_txn_id)),
            (
                "trade_status",
                if refunded == total {
                    "TRADE_CLOSED"
                } else {
                    "TRADE_SUCCESS"
                }
                .into(),
            ),
            ("total_amount", yuan(total)),
            ("out_biz_no", f.out_refund_no.clone()),
            ("refund_fee", yuan(refunded)),
            ("gmt_refund", format!("{}.000", ali_time(at))),
            ("subject", "夏季 T恤 & 短裤=套装".into()),
            ("body", String::new()),
        ]);
        let content = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let sign = rsa_sign(signer, content.as_bytes());
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .append_pair("sign_type", "RSA2")
            .append_pair("sign", &sign)
            .finish();
        Notification {
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: body.into_bytes(),
            // Alipay stops only on a body of exactly "success".
            acknowledged: |_, body| body.trim() == "success",
        }
    }
}

fn ali_time(at: DateTime<Utc>) -> String {
    beijing(at).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn yuan(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn parse_yuan(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 2
        || !(int.to_owned() + frac).bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(int.parse::<i64>().ok()? * 100 + format!("{frac:0<2}").parse::<i64>().ok()?)
}

/// `{"<node>":<node>,"sign":"<RSA2 over that exact text>"}`.
fn ali_answer(node_name: &str, node: &Value) -> Response {
    let text = node.to_string();
    let sign = rsa_sign(&ali_keys().alipay, text.as_bytes());
    (
        [("content-type", "application/json;charset=utf-8")],
        format!(r#"{{"{node_name}":{text},"sign":"{sign}"}}"#),
    )
        .into_response()
}

fn ali_error(code: &str, msg: &str, sub_code: &str, sub_msg: &str) -> Value {
    json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg})
}

async fn ali_gateway(
    State(books): State<Shared>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let mut params = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(&body)) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return (StatusCode::BAD_REQUEST, "duplicate parameter").into_response();
        }
    }
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let node_name = format!("{}_response", param("method").replace('.', "_"));
    // Every non-empty parameter but `sign` (sign_type included), sorted.
    let content = params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let fresh = NaiveDateTime::parse_from_str(param("timestamp"), "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|n| {
            beijing(Utc::now())
                .timezone()
                .from_local_datetime(&n)
                .single()
        })
        .is_some_and(|t| (Utc::now() - t.with_timezone(&Utc)).num_seconds().abs() < 300);
    let mut books = lock(&books);
    if !rsa_verifies(&ali_keys().app, content.as_bytes(), param("sign"))
        || param("app_id") != ALI_APP_ID
        || param("sign_type") != "RSA2"
        || !fresh
    {
        books.refused += 1;
        let node = ali_error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            "验签出错",
        );
        return ali_answer("error_response", &node);
    }
    let biz: Value = serde_json::from_str(param("biz_content")).unwrap_or_default();
    let field = |k: &str| biz[k].as_str().unwrap_or("").to_owned();
    let (txn, no) = (field("trade_no"), field("out_request_no"));
    let node = match param("method") {
        "alipay.trade.refund" => {
            let Some(amount) = parse_yuan(&field("refund_amount")) else {
                let node = ali_error(
                    "40002",
                    "Invalid Arguments",
                    "isv.invalid-refund-amount",
                    "",
                );
                return ali_answer(&node_name, &node);
            };
            books.seen.push(SeenRefund {
                idempotency_key: no.clone(),
                out_refund_no: no.clone(),
                provider_txn_id: txn.clone(),
                amount,
                notify_url: params.get("notify_url").cloned(),
            });
            // Alipay has no refund id of its own; the key is the refund.
            match books.refund(&no, &no, &txn, amount, || no.clone()) {
                // Accepted; fund_change "N": the money is on its way (the
                // same answer a repeat gets), the notification says when.
                Ok(_) => json!({"code": "10000", "msg": "Success", "trade_no": txn,
                    "out_trade_no": format!("O{txn}"), "buyer_logon_id": "159****5620",
                    "fund_change": "N", "refund_fee": field("refund_amount")}),
                Err(Refusal::UnknownPayment) => ali_error(
                    "40004",
                    "Business Failed",
                    "ACQ.TRADE_NOT_EXIST",
                    "交易不存在",
                ),
                Err(Refusal::TooMuch) => ali_error(
                    "40004",
                    "Business Failed",
                    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                    "退款金额超限",
                ),
                Err(Refusal::KeyReusedWithOtherParameters) => ali_error(
                    "40004",
                    "Business Failed",
                    "ACQ.DISCORDANT_REPEAT_REQUEST",
                    "请求信息不一致",
                ),
            }
        }
        "alipay.trade.fastpay.refund.query" => match books.refunds.get(&no) {
            Some(r) if r.txn == txn => {
                let mut node = json!({"code": "10000", "msg": "Success", "trade_no": txn,
                    "out_request_no": no, "refund_amount": yuan(r.amount)});
                if let Some(at) = r.succeeded_at {
                    node["refund_status"] = json!("REFUND_SUCCESS");
                    node["gmt_refund_pay"] = json!(ali_time(at));
                }
                node
            }
            // Unknown: success without refund fields.
            _ => json!({"code": "10000", "msg": "Success", "trade_no": txn}),
        },
        _ => ali_error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        ),
    };
    ali_answer(&node_name, &node)
}

impl ProviderServer for AlipayServer {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Alipay
    }
    fn webhook_name(&self) -> &'static str {
        "alipay"
    }
    fn adapter(&self, notify_url: &str) -> Adapter {
        let a = Arc::new(Alipay::new(&self.config(notify_url)).expect("Alipay adapter"));
        Adapter {
            provider: a.clone(),
            verifier: a,
        }
    }
    fn books(&self) -> &Mutex<Books> {
        &self.books
    }
    fn provider_refund_id(&self, _: &str) -> Option<String> {
        None
    }
    fn merchant(&self) -> Option<String> {
        Some(ALI_APP_ID.into())
    }
    fn notice(&self, facts: &NoticeFacts) -> Notification {
        self.notification(facts, true)
    }
    fn forged(&self, out_refund_no: &str) -> Notification {
        self.notification(&self.facts(out_refund_no, false), false)
    }
}

// ---------------------------------------------------------------------------
// Alipay fund transfers to bank cards.

/// A transfer request the payout gateway accepted as ours (signature
/// checked), as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenTransfer {
    pub out_biz_no: String,
    /// Minor units.
    pub amount: i64,
    pub product_code: String,
    pub biz_scene: String,
    /// `payee_info`: identity, identity_type, name and
    /// `bankcard_ext_info.inst_name`.
    pub identity: String,
    pub identity_type: String,
    pub name: String,
    pub inst_name: String,
    pub notify_url: Option<String>,
}

#[derive(Debug, Clone)]
struct Transfer {
    order_id: String,
    amount: i64,
    status: &'static str,
    paid_at: Option<DateTime<Utc>>,
}

/// What the payout gateway keeps: transfers by out_biz_no, the transfer
/// requests it accepted, and how often money left per out_biz_no.
#[derive(Default)]
struct Payouts {
    transfers: HashMap<String, Transfer>,
    seen: Vec<SeenTransfer>,
    refused: u32,
    movements: HashMap<String, u32>,
}

type SharedPayouts = Arc<Mutex<Payouts>>;

fn payouts(p: &Mutex<Payouts>) -> MutexGuard<'_, Payouts> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Alipay gateway for `alipay.fund.trans.uni.transfer` and
/// `alipay.fund.trans.common.query` (product `TRANS_BANKCARD_NO_PWD`):
/// one transfer per out_biz_no, accepted as `DEALING` until
/// [`succeed`](Self::succeed) pays it and builds the signed
/// `alipay.fund.trans.order.changed` Alipay then posts. Same app and
/// Alipay keys as [`AlipayServer`].
pub struct AlipayPayoutServer {
    pub gateway_url: String,
    books: SharedPayouts,
}

impl AlipayPayoutServer {
    pub async fn start() -> AlipayPayoutServer {
        let books = SharedPayouts::default();
        let app = axum::Router::new()
            .route("/gateway.do", axum::routing::post(payout_gateway))
            .with_state(books.clone());
        AlipayPayoutServer {
            gateway_url: format!("{}/gateway.do", serve(app).await),
            books,
        }
    }

    pub fn config(&self, notify_url: &str) -> AlipayPayoutConfig {
        AlipayPayoutConfig {
            gateway_url: self.gateway_url.clone(),
            app_id: ALI_APP_ID.into(),
            app_private_key: private_pem(&ali_keys().app),
            alipay_public_key: public_pem(&ali_keys().alipay),
            notify_url: Some(notify_url.to_owned()),
        }
    }

    /// The real payout adapter configured for this server.
    pub fn adapter(&self, notify_url: &str) -> Adapter {
        let a =
            Arc::new(AlipayPayout::new(&self.config(notify_url)).expect("Alipay payout adapter"));
        Adapter {
            provider: a.clone(),
            verifier: a,
        }
    }

    /// Transfer requests accepted as ours, in order (repeats included).
    pub fn transfer_requests(&self) -> Vec<SeenTransfer> {
        payouts(&self.books).seen.clone()
    }

    /// Requests refused for a bad signature, app or timestamp.
    pub fn refused_requests(&self) -> u32 {
        payouts(&self.books).refused
    }

    /// How many transfers the gateway made for this out_biz_no.
    pub fn movements(&self, out_biz_no: &str) -> u32 {
        payouts(&self.books)
            .movements
            .get(out_biz_no)
            .copied()
            .unwrap_or(0)
    }

    /// Alipay's id of the transfer (`order_id`).
    pub fn order_id(&self, out_biz_no: &str) -> Option<String> {
        payouts(&self.books)
            .transfers
            .get(out_biz_no)
            .map(|t| t.order_id.clone())
    }

    /// The bank credited the card: the transfer is paid in the books, and
    /// this is the notification Alipay posts about it. Panics for a
    /// transfer it never made (a test mistake).
    pub fn succeed(&self, out_biz_no: &str) -> Notification {
        {
            let mut books = payouts(&self.books);
            let t = books
                .transfers
                .get_mut(out_biz_no)
                .unwrap_or_else(|| panic!("no transfer {out_biz_no}"));
            t.status = "SUCCESS";
            t.paid_at.get_or_insert_with(Utc::now);
        }
        self.changed(out_biz_no, "SUCCESS", ALI_APP_ID, true)
    }

    /// A notification saying the transfer is now `status`, whatever the
    /// books say, addressed to `app_id`, signed by Alipay (`genuine`) or
    /// by someone else (the app's own key).
    pub fn changed(
        &self,
        out_biz_no: &str,
        status: &str,
        app_id: &str,
        genuine: bool,
    ) -> Notification {
        let t = payouts(&self.books)
            .transfers
            .get(out_biz_no)
            .cloned()
            .unwrap_or_else(|| panic!("no transfer {out_biz_no}"));
        let biz = json!({
            "out_biz_no": out_biz_no,
            "order_id": t.order_id,
            "status": status,
            "trans_amount": yuan(t.amount),
            "pay_date": ali_time(t.paid_at.unwrap_or_else(Utc::now)),
            "biz_scene": "DIRECT_TRANSFER",
            "product_code": "TRANS_BANKCARD_NO_PWD",
            "error_code": "",
            "fail_reason": "",
        });
        let params: BTreeMap<&str, String> = BTreeMap::from([
            ("msg_method", "alipay.fund.trans.order.changed".into()),
            ("app_id", app_id.to_owned()),
            ("notify_id", random_chars(34).to_lowercase()),
            ("utc_timestamp", Utc::now().timestamp_millis().to_string()),
            ("version", "1.1".into()),
            ("charset", "utf-8".into()),
            ("biz_content", biz.to_string()),
        ]);
        // RSA2 over every parameter but sign and sign_type, sorted.
        let content = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let signer = if genuine {
            &ali_keys().alipay
        } else {
            &ali_keys().app
        };
        let sign = rsa_sign(signer, content.as_bytes());
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .append_pair("sign_type", "RSA2")
            .append_pair("sign", &sign)
            .finish();
        Notification {
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: body.into_bytes(),
            acknowledged: |_, body| body.trim() == "success",
        }
    }
}

fn transfer_node(no: &str, t: &Transfer) -> Value {
    let mut node = json!({"code": "10000", "msg": "Success", "out_biz_no": no,
        "order_id": t.order_id, "pay_fund_order_id": format!("{}F", t.order_id),
        "status": t.status});
    if let Some(at) = t.paid_at {
        node["trans_date"] = json!(ali_time(at));
        node["pay_date"] = json!(ali_time(at));
    }
    node
}

async fn payout_gateway(
    State(books): State<SharedPayouts>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let mut params = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(&body)) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return (StatusCode::BAD_REQUEST, "duplicate parameter").into_response();
        }
    }
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let node_name = format!("{}_response", param("method").replace('.', "_"));
    let content = params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut books = payouts(&books);
    if !rsa_verifies(&ali_keys().app, content.as_bytes(), param("sign"))
        || param("app_id") != ALI_APP_ID
        || param("sign_type") != "RSA2"
    {
        books.refused += 1;
        let node = ali_error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            "验签出错",
        );
        return ali_answer("error_response", &node);
    }
    let biz: Value = serde_json::from_str(param("biz_content")).unwrap_or_default();
    let field = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    let no = field(&biz, "out_biz_no");
    if field(&biz, "product_code") != "TRANS_BANKCARD_NO_PWD" {
        let node = ali_error(
            "40004",
            "Business Failed",
            "PRODUCT_NOT_SIGNED",
            "产品未签约",
        );
        return ali_answer(&node_name, &node);
    }
    let node = match param("method") {
        "alipay.fund.trans.uni.transfer" => {
            let Some(amount) = parse_yuan(&field(&biz, "trans_amount")) else {
                let node = ali_error("40004", "Business Failed", "INVALID_PARAMETER", "金额");
                return ali_answer(&node_name, &node);
            };
            let payee = &biz["payee_info"];
            books.seen.push(SeenTransfer {
                out_biz_no: no.clone(),
                amount,
                product_code: field(&biz, "product_code"),
                biz_scene: field(&biz, "biz_scene"),
                identity: field(payee, "identity"),
                identity_type: field(payee, "identity_type"),
                name: field(payee, "name"),
                inst_name: field(&payee["bankcard_ext_info"], "inst_name"),
                notify_url: params.get("notify_url").cloned(),
            });
            match books.transfers.get(&no) {
                // One transfer per out_biz_no: a repeat gets the first.
                Some(t) if t.amount == amount => transfer_node(&no, t),
                Some(_) => ali_error(
                    "40004",
                    "Business Failed",
                    "PAYMENT_INFO_INCONSISTENCY",
                    "两次请求商户单号一样，但是参数信息不一致",
                ),
                None => {
                    let t = Transfer {
                        order_id: format!("2026{}", random_chars(20)),
                        amount,
                        status: "DEALING",
                        paid_at: None,
                    };
                    let node = transfer_node(&no, &t);
                    books.transfers.insert(no.clone(), t);
                    *books.movements.entry(no.clone()).or_default() += 1;
                    node
                }
            }
        }
        "alipay.fund.trans.common.query" => match books.transfers.get(&no) {
            Some(t) => transfer_node(&no, t),
            None => ali_error(
                "40004",
                "Business Failed",
                "ORDER_NOT_EXIST",
                "转账订单不存在",
            ),
        },
        _ => ali_error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        ),
    };
    ali_answer(&node_name, &node)
}

// ---------------------------------------------------------------------------
// Stripe-style card refunds.

/// `POST /v1/refunds` (Idempotency-Key) and `GET /v1/refunds`.
pub struct StripeServer {
    pub api_base: String,
    secret_key: String,
    webhook_secret: String,
    books: Shared,
}

struct StripeState {
    secret_key: String,
    books: Shared,
}

impl StripeServer {
    pub async fn start() -> StripeServer {
        let books = Shared::default();
        let secret_key = format!("sk_test_{}", random_chars(24));
        let state = Arc::new(StripeState {
            secret_key: secret_key.clone(),
            books: books.clone(),
        });
        let app = axum::Router::new()
            .route(
                "/v1/refunds",
                axum::routing::post(stripe_create).get(stripe_list),
            )
            .with_state(state);
        StripeServer {
            api_base: serve(app).await,
            secret_key,
            webhook_secret: format!("whsec_{}", random_chars(32)),
            books,
        }
    }

    /// Stripe has no per-request notify URL: the webhook endpoint (ours)
    /// is registered with it, and its secret comes from there.
    pub fn config(&self) -> StripeConfig {
        StripeConfig {
            api_base: self.api_base.clone(),
            secret_key: self.secret_key.clone(),
            webhook_secret: self.webhook_secret.clone(),
            account: None,
        }
    }

    /// A `refund.updated` event, `Stripe-Signature: t=<unix>,v1=<hex
    /// HMAC-SHA256(secret, "t.body")>`.
    ///
    /// `genuine`: signed with the endpoint's secret and settled in the
    /// books; otherwise signed with another secret, books untouched.
    fn notification(&self, f: &NoticeFacts, genuine: bool) -> Notification {
        let secret = match genuine {
            true => self.webhook_secret.clone(),
            false => format!("whsec_{}", random_chars(32)),
        };
        let r = Refund {
            id: f.provider_refund_id.clone(),
            out_refund_no: f.out_refund_no.clone(),
            txn: f.provider_txn_id.clone(),
            amount: f.amount,
            succeeded_at: Some(f.succeeded_at),
        };
        let mut event = json!({
            "id": format!("evt_{}", random_chars(24)),
            "object": "event",
            "api_version": "2024-06-20",
            "created": Utc::now().timestamp(),
            "type": "refund.updated",
            "livemode": false,
            "data": {"object": stripe_refund_json(&r)},
        });
        if let Some(account) = &f.merchant {
            event["account"] = json!(account);
        }
        let body = event.to_string();
        let t = Utc::now().timestamp();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC key");
        mac.update(format!("{t}.{body}").as_bytes());
        let v1 = hex::encode(mac.finalize().into_bytes());
        Notification {
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("stripe-signature".into(), format!("t={t},v1={v1}")),
            ],
            body: body.into_bytes(),
            // Stripe counts any 2xx as delivered.
            acknowledged: |status, _| (200..300).contains(&status),
        }
    }
}

fn stripe_refund_json(r: &Refund) -> Value {
    json!({
        "id": r.id,
        "object": "refund",
        "amount": r.amount,
        "currency": "cny",
        "payment_intent": r.txn,
        "created": Utc::now().timestamp(),
        // Card refunds are pending until the issuer confirms.
        "status": if r.succeeded_at.is_some() { "succeeded" } else { "pending" },
        "failure_reason": null,
        "metadata": {"out_refund_no": r.out_refund_no},
        "reason": null,
    })
}

fn stripe_reply(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn stripe_error(status: u16, kind: &str, code: &str, message: &str) -> Response {
    stripe_reply(
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn stripe_authorized(st: &StripeState, headers: &HeaderMap) -> bool {
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {}", st.secret_key).as_str());
    if !ok {
        lock(&st.books).refused += 1;
    }
    ok
}

async fn stripe_create(
    State(st): State<Arc<StripeState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !stripe_authorized(&st, &headers) {
        return stripe_error(401, "invalid_request_error", "", "Invalid API Key provided");
    }
    let params: HashMap<String, String> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let param = |k: &str| params.get(k).cloned().unwrap_or_default();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (no, txn) = (param("metadata[out_refund_no]"), param("payment_intent"));
    let amount = param("amount").parse::<i64>().unwrap_or(0);
    let mut books = lock(&st.books);
    books.seen.push(SeenRefund {
        idempotency_key: key.clone().unwrap_or_default(),
        out_refund_no: no.clone(),
        provider_txn_id: txn.clone(),
        amount,
        notify_url: None,
    });
    // Without a key every request is a new refund: exactly the double
    // payment the key exists to prevent, counted as such.
    let key = key.unwrap_or_else(|| random_chars(24));
    let id = || format!("re_{}", random_chars(24));
    match books.refund(&key, &no, &txn, amount, id) {
        Ok(r) => stripe_reply(200, stripe_refund_json(&r)),
        Err(Refusal::UnknownPayment) => stripe_error(
            404,
            "invalid_request_error",
            "resource_missing",
            "No such payment_intent",
        ),
        Err(Refusal::TooMuch) => stripe_error(
            400,
            "invalid_request_error",
            "amount_too_large",
            "Refund amount is greater than unrefunded amount on charge",
        ),
        Err(Refusal::KeyReusedWithOtherParameters) => stripe_error(
            400,
            "idempotency_error",
            "",
            "Keys for idempotent requests can only be used with the same parameters they were first used with.",
        ),
    }
}

async fn stripe_list(
    State(st): State<Arc<StripeState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !stripe_authorized(&st, &headers) {
        return stripe_error(401, "invalid_request_error", "", "Invalid API Key provided");
    }
    let intent = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "payment_intent")
        .map(|(_, v)| v.to_string());
    let books = lock(&st.books);
    let data: Vec<Value> = books
        .refunds
        .values()
        .filter(|r| intent.as_deref().is_none_or(|i| r.txn == i))
        .map(stripe_refund_json)
        .collect();
    // A scenario makes a handful of refunds: one page holds them all.
    stripe_reply(
        200,
        json!({"object": "list", "url": "/v1/refunds", "has_more": false, "data": data}),
    )
}

impl ProviderServer for StripeServer {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Card
    }
    fn webhook_name(&self) -> &'static str {
        "stripe"
    }
    fn adapter(&self, _notify_url: &str) -> Adapter {
        let a = Arc::new(Stripe::new(&self.config()).expect("Stripe adapter"));
        Adapter {
            provider: a.clone(),
            verifier: a,
        }
    }
    fn books(&self) -> &Mutex<Books> {
        &self.books
    }
    fn merchant(&self) -> Option<String> {
        None
    }
    fn notice(&self, facts: &NoticeFacts) -> Notification {
        self.notification(facts, true)
    }
    fn forged(&self, out_refund_no: &str) -> Notification {
        self.notification(&self.facts(out_refund_no, false), false)
    }
}
