//! WeChat Pay API v3 domestic refunds.
//!
//! Requests are signed `WECHATPAY2-SHA256-RSA2048` with the merchant's API
//! key; answers and notifications are trusted only after their platform
//! signature (`Wechatpay-*` headers) checks out against a key configured for
//! the `Wechatpay-Serial` they name. Notification resources are
//! AEAD_AES_256_GCM-encrypted with the APIv3 key.
//!
//! The out-refund number is WeChat's idempotency key: a repeat with the same
//! number and parameters refunds once, which is what makes every retry here
//! safe. Facts and sources: `PROTOCOLS.md` §1.

use super::{
    Ack, Incoming, NoticeAmount, NotificationError, NotificationVerifier, ProviderError,
    ProviderRefund, ProviderState, RefundProvider, RefundRequest,
};
use crate::domain::money::Currency;
use crate::domain::order::PaymentChannel;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, AeadCore, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::rand_core::{OsRng, RngCore};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// The only signature type APIv3 uses, in `Authorization` and in
/// `Wechatpay-Signature-Type`.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// Both official SDKs (Go, PHP) refuse answers and notifications signed more
/// than five minutes away from the local clock.
pub const MAX_SKEW_SECS: i64 = 300;
const REFUNDS_PATH: &str = "/v3/refund/domestic/refunds";
/// WeChat deliberately posts notifications signed with this prefix to check
/// that merchants really verify; they must be refused.
const PROBE_SIGNATURE_PREFIX: &str = "WECHATPAY/SIGNTEST/";
/// `reason` is `string[1,80]`; cut in bytes so that it also fits if WeChat
/// counts bytes rather than characters.
const MAX_REASON_BYTES: usize = 80;

/// The adapter's configuration (e.g. one JSON document in a secret store).
/// Deserialize only: it holds secrets and is never written back; `Debug`
/// redacts them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatPayConfig {
    /// `https://api.mch.weixin.qq.com` unless told otherwise (backup host
    /// `api2.mch.weixin.qq.com`, or a local double in tests).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Merchant id (`mchid`).
    pub mchid: String,
    /// Serial number of the merchant API certificate (`apiclient_cert.pem`),
    /// sent as `serial_no` so WeChat knows which key signed.
    pub merchant_serial_no: String,
    /// The merchant API private key (`apiclient_key.pem`): RSA 2048,
    /// PKCS#8 PEM (PKCS#1 PEM is accepted too). Secret.
    pub merchant_private_key_pem: String,
    /// The keys WeChat signs with, by the value it puts in
    /// `Wechatpay-Serial`: a platform certificate serial, or the WeChat Pay
    /// public key id (`PUB_KEY_ID_…`). Public keys as PEM (`BEGIN PUBLIC
    /// KEY`, or `BEGIN RSA PUBLIC KEY`); for a platform certificate,
    /// `openssl x509 -in cert.pem -pubkey -noout` gives it. Several at once
    /// during a rotation.
    pub platform_public_keys: BTreeMap<String, String>,
    /// The APIv3 key: 32 ASCII bytes, the AES-256-GCM key of notification
    /// resources. Secret.
    pub api_v3_key: String,
    /// Default `notify_url` of refund requests (HTTPS, no query string);
    /// without one, WeChat uses the URL set on the merchant platform.
    #[serde(default)]
    pub notify_url: Option<String>,
    /// Whole-call timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl fmt::Debug for WechatPayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPayConfig")
            .field("base_url", &self.base_url)
            .field("mchid", &self.mchid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("merchant_private_key_pem", &"<redacted>")
            .field(
                "platform_public_keys",
                &self.platform_public_keys.keys().collect::<Vec<_>>(),
            )
            .field("api_v3_key", &"<redacted>")
            .field("notify_url", &self.notify_url)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Why a configuration cannot be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("wechat pay configuration: {0}")]
pub struct ConfigError(String);

/// Why a platform signature, on an answer or a notification, is not
/// trusted. The last two are about freshness (a notification refused for
/// them is stale, not forged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SignatureError {
    #[error("Wechatpay-* signature headers missing")]
    HeadersMissing,
    /// WeChat's deliberate check that merchants verify
    /// (`WECHATPAY/SIGNTEST/`).
    #[error("WeChat signature probe")]
    Probe,
    #[error("unknown Wechatpay-Serial {0:?}")]
    UnknownSerial(String),
    #[error("signature is not base64")]
    NotBase64,
    #[error("signature is malformed")]
    Malformed,
    #[error("signature does not verify")]
    Mismatch,
    #[error("Wechatpay-Timestamp {0:?} is not a number")]
    Timestamp(String),
    /// Signed more than [`MAX_SKEW_SECS`] away from our clock.
    #[error("signed {0} s away from now")]
    Skewed(i64),
}

impl From<SignatureError> for NotificationError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Timestamp(_) | SignatureError::Skewed(_) => {
                NotificationError::Stale(e.to_string())
            }
            _ => NotificationError::BadSignature(e.to_string()),
        }
    }
}

/// Why a notification's resource cannot be decrypted
/// (AEAD_AES_256_GCM with the APIv3 key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum DecryptError {
    #[error("nonce is {0} bytes, not 12")]
    Nonce(usize),
    #[error("ciphertext is not base64")]
    NotBase64,
    #[error("ciphertext shorter than its tag")]
    Short,
    #[error("cannot decrypt (wrong APIv3 key or altered)")]
    Failed,
}

/// A refund status WeChat Pay documents no meaning for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown refund status {0:?}")]
struct UnknownStatus(String);

/// The WeChat Pay adapter: refunds, queries and notification checks.
pub struct WechatPay {
    base_url: String,
    mchid: String,
    merchant_serial_no: String,
    signing_key: SigningKey<Sha256>,
    platform_keys: BTreeMap<String, VerifyingKey<Sha256>>,
    cipher: Aes256Gcm,
    notify_url: Option<String>,
    client: reqwest::Client,
}

impl fmt::Debug for WechatPay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatPay")
            .field("base_url", &self.base_url)
            .field("mchid", &self.mchid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field(
                "platform_keys",
                &self.platform_keys.keys().collect::<Vec<_>>(),
            )
            .field("notify_url", &self.notify_url)
            .finish_non_exhaustive()
    }
}

impl WechatPay {
    /// Builds the adapter with its own HTTPS client (connect timeout 5 s,
    /// the configured whole-call timeout).
    pub fn new(config: &WechatPayConfig) -> Result<Self, ConfigError> {
        Self::with_client(config, http_client(config.timeout_ms)?)
    }

    /// Builds the adapter on a given client (shared connection pool, custom
    /// timeouts or proxy).
    pub fn with_client(
        config: &WechatPayConfig,
        client: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let base_url = config.base_url.trim_end_matches('/').to_string();
        if reqwest::Url::parse(&base_url).is_err() {
            return Err(ConfigError("base_url is not a URL".into()));
        }
        if config.mchid.is_empty() || config.merchant_serial_no.is_empty() {
            return Err(ConfigError(
                "mchid and merchant_serial_no are required".into(),
            ));
        }
        let key = RsaPrivateKey::from_pkcs8_pem(&config.merchant_private_key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&config.merchant_private_key_pem))
            .map_err(|_| {
                ConfigError("merchant_private_key_pem: not an RSA private key PEM".into())
            })?;
        if config.platform_public_keys.is_empty() {
            return Err(ConfigError(
                "platform_public_keys: at least one key is needed to trust answers".into(),
            ));
        }
        let mut platform_keys = BTreeMap::new();
        for (serial, pem) in &config.platform_public_keys {
            let public = RsaPublicKey::from_public_key_pem(pem)
                .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
                .map_err(|_| {
                    ConfigError(format!(
                        "platform_public_keys[{serial}]: not an RSA public key PEM"
                    ))
                })?;
            platform_keys.insert(serial.clone(), VerifyingKey::<Sha256>::new(public));
        }
        // WeChat's key is 32 printable characters used as raw bytes, not
        // hex or base64.
        if config.api_v3_key.len() != 32 {
            return Err(ConfigError("api_v3_key: must be 32 bytes".into()));
        }
        let cipher = Aes256Gcm::new_from_slice(config.api_v3_key.as_bytes())
            .map_err(|_| ConfigError("api_v3_key: must be 32 bytes".into()))?;
        Ok(Self {
            base_url,
            mchid: config.mchid.clone(),
            merchant_serial_no: config.merchant_serial_no.clone(),
            signing_key: SigningKey::<Sha256>::new(key),
            platform_keys,
            cipher,
            notify_url: config.notify_url.clone(),
            client,
        })
    }

    /// The `Authorization` header value for one request. `uri` is the path
    /// with its query string, exactly as sent.
    fn authorization(&self, method: &str, uri: &str, body: &[u8]) -> String {
        let timestamp = Utc::now().timestamp();
        let nonce = nonce_str();
        let message = request_message(method, uri, timestamp, &nonce, body);
        // Blinded (randomized) signing: the merchant key must not leak
        // through timing.
        let signature = self.signing_key.sign_with_rng(&mut OsRng, &message);
        format!(
            r#"{SIGNATURE_TYPE} mchid="{}",nonce_str="{nonce}",signature="{}",timestamp="{timestamp}",serial_no="{}""#,
            self.mchid,
            B64.encode(signature.to_bytes()),
            self.merchant_serial_no
        )
    }

    /// Checks a platform signature over `TIMESTAMP\nNONCE\nBODY\n` with the
    /// key `serial` names; freshness is the caller's.
    fn check_platform_signature(
        &self,
        timestamp: &str,
        nonce: &str,
        signature: &str,
        serial: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        if signature.starts_with(PROBE_SIGNATURE_PREFIX) {
            return Err(SignatureError::Probe);
        }
        let key = self
            .platform_keys
            .get(serial)
            .ok_or_else(|| SignatureError::UnknownSerial(serial.to_owned()))?;
        let raw = B64
            .decode(signature)
            .map_err(|_| SignatureError::NotBase64)?;
        let signature =
            Signature::try_from(raw.as_slice()).map_err(|_| SignatureError::Malformed)?;
        let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
        message.extend_from_slice(timestamp.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(nonce.as_bytes());
        message.push(b'\n');
        message.extend_from_slice(body);
        message.push(b'\n');
        key.verify(&message, &signature)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// One signed call. 2xx answers come back only with a valid, fresh
    /// platform signature; anything else is classified into a provider
    /// error (or passed on as `Refused` for the caller to interpret).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ProviderError> {
        let url = reqwest::Url::parse(&format!("{}{}", self.base_url, path))
            .map_err(|_| ProviderError::Permanent(format!("bad request URL for {path}")))?;
        // Signed exactly as the client will send it: the parsed URL's path
        // and query, not our input.
        let uri = match url.query() {
            Some(q) => format!("{}?{}", url.path(), q),
            None => url.path().to_string(),
        };
        let body = body.unwrap_or_default();
        let authorization = self.authorization(method.as_str(), &uri, &body);
        let mut request = self
            .client
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::ACCEPT, "application/json")
            // WeChat's guidelines ask for one and may refuse requests
            // without it.
            .header(
                reqwest::header::USER_AGENT,
                concat!("aftersales/", env!("CARGO_PKG_VERSION")),
            );
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("request-id").unwrap_or_default();
        let signed = SignedHeaders {
            timestamp: header("wechatpay-timestamp"),
            nonce: header("wechatpay-nonce"),
            signature: header("wechatpay-signature"),
            serial: header("wechatpay-serial"),
        };
        let bytes = response.bytes().await.map_err(transport_error)?;

        if (200..300).contains(&status) {
            // An unverified 2xx might be a forgery or a corruption; the
            // request is idempotent, so asking again is the safe answer.
            self.check_answer(&signed, &bytes, Utc::now())
                .map_err(|e| {
                    tracing::warn!(request_id, error = %e, "wechat pay answer not trusted");
                    ProviderError::Transient(format!("WeChat Pay answer not trusted: {e}"))
                })?;
            return Ok(Answer::Ok(bytes.to_vec()));
        }
        // The official Go SDK classifies error answers before (and without)
        // checking their signature, so unsigned ones must be expected; a
        // signature that is present must still be right.
        if signed.signature.is_some() {
            if let Err(e) = self.check_answer(&signed, &bytes, Utc::now()) {
                tracing::warn!(request_id, status, error = %e, "wechat pay error answer not trusted");
                return Err(ProviderError::Transient(format!(
                    "WeChat Pay HTTP {status} answer not trusted: {e}"
                )));
            }
        }
        let error: WechatError = serde_json::from_slice(&bytes).unwrap_or_default();
        tracing::warn!(
            request_id,
            status,
            code = %error.code,
            message = %error.message,
            "wechat pay refused"
        );
        Ok(Answer::Refused {
            status,
            code: error.code,
            message: error.message,
        })
    }

    fn check_answer(
        &self,
        h: &SignedHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let (Some(ts), Some(nonce), Some(sig), Some(serial)) =
            (&h.timestamp, &h.nonce, &h.signature, &h.serial)
        else {
            return Err(SignatureError::HeadersMissing);
        };
        self.check_platform_signature(ts, nonce, sig, serial, body)?;
        fresh(ts, now)
    }

    async fn fetch(&self, out_refund_no: &str) -> Result<Option<ProviderRefund>, ProviderError> {
        let path = format!("{REFUNDS_PATH}/{}", encode_path_segment(out_refund_no));
        match self.call(reqwest::Method::GET, &path, None).await? {
            Answer::Ok(body) => parse_refund(&body, out_refund_no).map(Some),
            Answer::Refused { code, .. } if code == "RESOURCE_NOT_EXISTS" => Ok(None),
            Answer::Refused {
                status,
                code,
                message,
            } => Err(classify(status, &code, &message)),
        }
    }
}

struct SignedHeaders {
    timestamp: Option<String>,
    nonce: Option<String>,
    signature: Option<String>,
    serial: Option<String>,
}

enum Answer {
    /// 2xx, platform signature checked.
    Ok(Vec<u8>),
    /// Non-2xx with WeChat's `{code, message}` (empty when absent).
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
struct WechatError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Serialize)]
struct CreateRefund<'a> {
    transaction_id: &'a str,
    out_refund_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notify_url: Option<&'a str>,
    amount: CreateAmount,
}

#[derive(Serialize)]
struct CreateAmount {
    refund: i64,
    total: i64,
    currency: &'static str,
}

/// The Refund object of create and query answers, and the decrypted
/// resource of a notification (which names the status `refund_status`).
#[derive(Deserialize)]
struct RefundObject {
    out_refund_no: String,
    #[serde(default)]
    refund_id: Option<String>,
    #[serde(alias = "refund_status")]
    status: String,
    #[serde(default)]
    user_received_account: Option<String>,
    #[serde(default)]
    success_time: Option<String>,
    /// The merchant (notifications; create and query answers omit it).
    #[serde(default)]
    mchid: Option<String>,
    /// The service provider's merchant, in partner mode (not supported
    /// here: such a notice is for an account other than ours).
    #[serde(default)]
    sp_mchid: Option<String>,
    #[serde(default, deserialize_with = "crate::strict_json::object")]
    amount: Option<RefundAmount>,
}

#[derive(Deserialize)]
struct RefundAmount {
    /// Fen refunded by this refund.
    refund: i64,
}

/// How a notice's merchant is written, here and in [`WechatPay::account`].
fn account_of(mchid: &str) -> String {
    format!("mchid={mchid}")
}

impl RefundObject {
    fn into_refund(self) -> Result<ProviderRefund, UnknownStatus> {
        let state = match self.status.as_str() {
            "PROCESSING" => ProviderState::Processing,
            "SUCCESS" => ProviderState::Succeeded {
                at: self.success_time.as_deref().and_then(parse_time),
            },
            "CLOSED" => ProviderState::Failed {
                reason: "CLOSED: WeChat Pay closed the refund; it will not be paid".into(),
            },
            "ABNORMAL" => ProviderState::Failed {
                reason: "ABNORMAL: the customer's account cannot receive it (card cancelled \
                         or frozen); refund by other means"
                    .into(),
            },
            other => return Err(UnknownStatus(other.to_owned())),
        };
        Ok(ProviderRefund {
            out_refund_no: self.out_refund_no,
            provider_refund_id: self.refund_id.filter(|s| !s.is_empty()),
            state,
            received_account: self.user_received_account.filter(|s| !s.is_empty()),
            amount: self.amount.map(|a| NoticeAmount::Refund(a.refund)),
            account: match (self.mchid, self.sp_mchid) {
                (Some(m), _) => Some(account_of(&m)),
                (None, Some(sp)) => Some(format!("sp_mchid={sp}")),
                (None, None) => None,
            },
        })
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            // The refund's state matters more than its timestamp: keep it.
            tracing::warn!(success_time = s, "wechat pay success_time not RFC 3339");
            None
        }
    }
}

fn parse_refund(body: &[u8], out_refund_no: &str) -> Result<ProviderRefund, ProviderError> {
    let object: RefundObject = crate::strict_json::from_slice(body).map_err(|e| {
        ProviderError::Transient(format!("WeChat Pay refund answer not understood: {e}"))
    })?;
    if object.out_refund_no != out_refund_no {
        return Err(ProviderError::Transient(format!(
            "WeChat Pay answered about refund {:?}, not {out_refund_no:?}",
            object.out_refund_no
        )));
    }
    object
        .into_refund()
        .map_err(|e| ProviderError::Transient(format!("WeChat Pay: {e}")))
}

/// Transient: repeating the same request (same out-refund number) may
/// succeed. Permanent: it will not, until someone changes something.
fn classify(status: u16, code: &str, message: &str) -> ProviderError {
    let text = match (code.is_empty(), message.is_empty()) {
        (true, _) => format!("HTTP {status}"),
        (false, true) => code.to_string(),
        (false, false) => format!("{code}: {message}"),
    };
    let transient = matches!(code, "SYSTEM_ERROR" | "FREQUENCY_LIMITED")
        // A signature refused is ours to fix (clock, key rotation), not a
        // verdict on the refund: keep it pending rather than failed.
        || code == "SIGN_ERROR"
        || status == 401
        || status == 408
        || status == 429
        || status >= 500
        || !(400..500).contains(&status);
    if transient {
        ProviderError::Transient(format!("WeChat Pay {text}"))
    } else {
        ProviderError::Permanent(text)
    }
}

fn transport_error(e: reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    ProviderError::Transient(format!("WeChat Pay {kind}: {e}"))
}

fn fresh(timestamp: &str, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Timestamp(timestamp.to_owned()))?;
    let skew = now.timestamp().saturating_sub(ts);
    if skew.abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Skewed(skew));
    }
    Ok(())
}

/// `METHOD\nREQUEST_URI\nTIMESTAMP\nNONCE\nBODY\n`, the string a request
/// signature covers; the final newline stays when the body is empty.
pub fn request_message(
    method: &str,
    uri: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = format!("{method}\n{uri}\n{timestamp}\n{nonce}\n").into_bytes();
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// 32 random characters from `[0-9A-Za-z]`.
fn nonce_str() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(32);
    let mut buf = [0u8; 64];
    while out.len() < 32 {
        OsRng.fill_bytes(&mut buf);
        // Rejecting 248..=255 keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == 32 {
                break;
            }
            out.push(ALPHABET[(*b % 62) as usize] as char);
        }
    }
    out
}

/// `out_refund_no` allows `[0-9A-Za-z_\-|*@]`; of those only `|` is not a
/// path character.
fn encode_path_segment(s: &str) -> String {
    s.replace('|', "%7C")
}

fn valid_out_refund_no(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
}

fn check_request(req: &RefundRequest) -> Result<(), ProviderError> {
    if req.currency() != Currency::Cny {
        return Err(ProviderError::Permanent(format!(
            "WeChat Pay refunds only CNY, not {:?}",
            req.currency()
        )));
    }
    if !valid_out_refund_no(&req.out_refund_no) {
        return Err(ProviderError::Permanent(format!(
            "out_refund_no {:?}: 1-64 of [0-9A-Za-z_-|*@]",
            req.out_refund_no
        )));
    }
    if req.provider_txn_id.is_empty() {
        return Err(ProviderError::Permanent(
            "no WeChat Pay transaction_id".into(),
        ));
    }
    let (amount, total) = req.minor_units()?;
    if amount <= 0 || amount > total {
        return Err(ProviderError::Permanent(format!(
            "refund amount {amount} not within 1..={total}"
        )));
    }
    Ok(())
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn http_client(timeout_ms: u64) -> Result<reqwest::Client, ConfigError> {
    // reqwest has no TLS crypto provider of its own here: it takes the
    // process default, which must be the aws-lc-rs the AWS SDK links already
    // (installing it twice is harmless).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_millis(timeout_ms.max(1)))
        .build()
        .map_err(|e| ConfigError(format!("HTTP client: {e}")))
}

#[async_trait]
impl RefundProvider for WechatPay {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::WechatPay
    }

    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        check_request(req)?;
        let reason = truncate_bytes(req.reason.trim(), MAX_REASON_BYTES);
        let body = serde_json::to_vec(&CreateRefund {
            transaction_id: &req.provider_txn_id,
            out_refund_no: &req.out_refund_no,
            reason: (!reason.is_empty()).then_some(reason),
            notify_url: req.notify_url.as_deref().or(self.notify_url.as_deref()),
            amount: CreateAmount {
                refund: req.amount.minor(),
                total: req.payment_total.minor(),
                currency: "CNY",
            },
        })
        .map_err(|e| ProviderError::Permanent(format!("request body: {e}")))?;
        match self
            .call(reqwest::Method::POST, REFUNDS_PATH, Some(body))
            .await?
        {
            Answer::Ok(body) => parse_refund(&body, &req.out_refund_no),
            Answer::Refused {
                status,
                code,
                message,
            } => match classify(status, &code, &message) {
                // WeChat documents that a repeated out_refund_no refunds
                // once, not what the repeat answers. Before calling a refusal
                // final, ask whether the refund exists after all: if it does,
                // its state is the answer.
                ProviderError::Permanent(reason) => match self.fetch(&req.out_refund_no).await {
                    Ok(Some(existing)) => Ok(existing),
                    Ok(None) | Err(ProviderError::Permanent(_)) => {
                        Err(ProviderError::Permanent(reason))
                    }
                    Err(e @ ProviderError::Transient(_)) => Err(e),
                },
                transient => Err(transient),
            },
        }
    }

    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        if !valid_out_refund_no(&req.out_refund_no) {
            // WeChat cannot know a number it could never have accepted.
            return Ok(None);
        }
        self.fetch(&req.out_refund_no).await
    }
}

#[derive(Deserialize)]
struct Notification {
    event_type: String,
    #[serde(default)]
    resource: Option<EncryptedResource>,
}

#[derive(Deserialize)]
struct EncryptedResource {
    algorithm: String,
    ciphertext: String,
    #[serde(default)]
    associated_data: Option<String>,
    nonce: String,
}

const REFUND_EVENTS: [&str; 3] = ["REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"];

/// AEAD_AES_256_GCM as WeChat uses it: the nonce string's bytes (12) as IV,
/// `associated_data` as AAD, base64 ciphertext with the 16-byte tag last.
fn open<C: Aead + AeadCore<NonceSize = U12>>(
    cipher: &C,
    nonce: &str,
    associated_data: &str,
    ciphertext_b64: &str,
) -> Result<Vec<u8>, DecryptError> {
    let iv: [u8; 12] = nonce
        .as_bytes()
        .try_into()
        .map_err(|_| DecryptError::Nonce(nonce.len()))?;
    let sealed = B64
        .decode(ciphertext_b64)
        .map_err(|_| DecryptError::NotBase64)?;
    if sealed.len() < 16 {
        return Err(DecryptError::Short);
    }
    cipher
        .decrypt(
            &iv.into(),
            Payload {
                msg: &sealed,
                aad: associated_data.as_bytes(),
            },
        )
        .map_err(|_| DecryptError::Failed)
}

impl WechatPay {
    /// A notification whose signature checked out: the event, then its
    /// resource decrypted with the APIv3 key and read.
    fn read_notification(&self, body: &[u8]) -> Result<ProviderRefund, NotificationError> {
        let notification: Notification = serde_json::from_slice(body)
            .map_err(|e| NotificationError::Malformed(format!("body: {e}")))?;
        if !REFUND_EVENTS.contains(&notification.event_type.as_str()) {
            return Err(NotificationError::NotARefund(notification.event_type));
        }
        let resource = notification
            .resource
            .ok_or_else(|| NotificationError::Malformed("no resource".into()))?;
        if resource.algorithm != "AEAD_AES_256_GCM" {
            return Err(NotificationError::Malformed(format!(
                "algorithm {:?}",
                resource.algorithm
            )));
        }
        let plain = open(
            &self.cipher,
            &resource.nonce,
            resource.associated_data.as_deref().unwrap_or(""),
            &resource.ciphertext,
        )
        .map_err(|e| NotificationError::Malformed(e.to_string()))?;
        let object: RefundObject = crate::strict_json::from_slice(&plain)
            .map_err(|e| NotificationError::Malformed(format!("resource: {e}")))?;
        // Whose it is (`mchid`) is judged against the refund it names, so
        // that a notice for another merchant lands on that refund's audit
        // trail instead of being retried by WeChat for a day.
        object
            .into_refund()
            .map_err(|e| NotificationError::Malformed(e.to_string()))
    }
}

impl NotificationVerifier for WechatPay {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::WechatPay
    }

    fn account(&self) -> Option<String> {
        Some(account_of(&self.mchid))
    }

    fn verify(
        &self,
        incoming: &Incoming<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        let header = |name: &str| {
            incoming
                .header(name)
                .ok_or_else(|| NotificationError::BadSignature(format!("{name} missing")))
        };
        let timestamp = header("wechatpay-timestamp")?;
        let nonce = header("wechatpay-nonce")?;
        let signature = header("wechatpay-signature")?;
        let serial = header("wechatpay-serial")?;
        if let Some(kind) = incoming.header("wechatpay-signature-type") {
            if kind != SIGNATURE_TYPE {
                return Err(NotificationError::BadSignature(format!(
                    "signature type {kind:?}"
                )));
            }
        }
        self.check_platform_signature(timestamp, nonce, signature, serial, incoming.body)?;
        fresh(timestamp, now)?;
        self.read_notification(incoming.body)
    }

    fn ack(&self) -> Ack {
        Ack {
            status: 200,
            content_type: "application/json",
            body: r#"{"code":"SUCCESS","message":"成功"}"#.into(),
        }
    }

    fn nack(&self, e: &NotificationError) -> Ack {
        let (status, message) = match e {
            // Acknowledged so that WeChat stops posting what we ignore.
            NotificationError::NotARefund(_) => return self.ack(),
            NotificationError::BadSignature(_) => (401, "签名验证失败"),
            NotificationError::Stale(_) => (400, "通知已过期"),
            // Most likely our APIv3 key is not the current one: fixable on
            // our side, so ask for the retries to keep coming.
            NotificationError::Malformed(_) => (500, "通知解析失败"),
        };
        Ack {
            status,
            content_type: "application/json",
            body: serde_json::json!({ "code": "FAIL", "message": message }).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_message_keeps_the_final_newline_for_an_empty_body() {
        let m = request_message(
            "GET",
            "/v3/refund/domestic/refunds/R1",
            1_700_000_000,
            "n0",
            b"",
        );
        assert_eq!(
            m,
            b"GET\n/v3/refund/domestic/refunds/R1\n1700000000\nn0\n\n"
        );
    }

    #[test]
    fn aes_gcm_construction_matches_the_official_sdk_vector() {
        // wechatpay-go utils/aes_test.go (PROTOCOLS.md §1): a 16-byte key,
        // so AES-128, but the same nonce/AAD/tag-last construction.
        let cipher = aes_gcm::Aes128Gcm::new_from_slice(b"testAPIv3Key0000").unwrap();
        let plain = open(
            &cipher,
            "wCq51qZv4Yfg",
            "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
            "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
        )
        .unwrap();
        assert_eq!(plain, b"Hello World");
        assert!(open(
            &cipher,
            "wCq51qZv4Yfg",
            "other",
            "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
        )
        .is_err());
        assert_eq!(
            open(&cipher, "short", "", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"),
            Err(DecryptError::Nonce(5))
        );
        assert_eq!(
            open(&cipher, "wCq51qZv4Yfg", "", "AAAA"),
            Err(DecryptError::Short)
        );
    }

    #[test]
    fn stale_or_unreadable_timestamps_are_stale_other_failures_bad_signatures() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(fresh("1700000299", now), Ok(()));
        let late = fresh("1699999000", now).unwrap_err();
        assert_eq!(
            NotificationError::from(late),
            NotificationError::Stale("signed 1000 s away from now".into())
        );
        assert_eq!(
            NotificationError::from(fresh("soon", now).unwrap_err()),
            NotificationError::Stale(r#"Wechatpay-Timestamp "soon" is not a number"#.into())
        );
        assert_eq!(
            NotificationError::from(SignatureError::UnknownSerial("PUB_KEY_ID_1".into())),
            NotificationError::BadSignature(r#"unknown Wechatpay-Serial "PUB_KEY_ID_1""#.into())
        );
        assert_eq!(
            NotificationError::from(SignatureError::Probe),
            NotificationError::BadSignature("WeChat signature probe".into())
        );
    }

    #[test]
    fn nonces_are_32_alphanumerics_and_differ() {
        let a = nonce_str();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, nonce_str());
    }

    #[test]
    fn errors_are_classified_by_code_then_status() {
        let t = |s, c| matches!(classify(s, c, "m"), ProviderError::Transient(_));
        assert!(t(500, "SYSTEM_ERROR"));
        assert!(t(403, "SYSTEM_ERROR"));
        assert!(t(429, "FREQUENCY_LIMITED"));
        assert!(t(502, ""));
        assert!(t(401, "SIGN_ERROR"));
        assert!(!t(403, "NOT_ENOUGH"));
        assert!(!t(400, "PARAM_ERROR"));
        assert!(!t(403, "INVALID_REQUEST"));
        assert!(!t(404, "RESOURCE_NOT_EXISTS"));
        assert_eq!(
            classify(403, "NOT_ENOUGH", "基本账户余额不足"),
            ProviderError::Permanent("NOT_ENOUGH: 基本账户余额不足".into())
        );
    }

    #[test]
    fn out_refund_numbers_follow_wechat_rules() {
        assert!(valid_out_refund_no("R-1_a|b*c@d"));
        assert!(!valid_out_refund_no(""));
        assert!(!valid_out_refund_no("R 1"));
        assert!(!valid_out_refund_no(&"x".repeat(65)));
        assert_eq!(encode_path_segment("a|b"), "a%7Cb");
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        let long = "退".repeat(40);
        let cut = truncate_bytes(&long, MAX_REASON_BYTES);
        assert!(cut.len() <= MAX_REASON_BYTES);
        assert_eq!(cut.chars().count(), 26);
    }
}

/// Fuzzing notifications (see `crate::fuzzing`), with real keys generated
/// here: whatever the headers and body, a notification is verified or
/// refused, never a panic; one not signed by the platform key is refused
/// as a bad signature; one signed but altered inside (the encrypted
/// resource) reads as exactly what was encrypted, or is refused.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{self, cases, json_edits, mutations, signed_cases, DEFAULT_CASES};
    use proptest::prelude::*;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use serde_json::{json, Value};

    const SERIAL: &str = "PUB_KEY_ID_0119000001092025010100000001";
    const API_V3_KEY: &str = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
    const NOW: i64 = 1_764_000_000;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(NOW, 0).unwrap()
    }

    fn adapter() -> &'static WechatPay {
        static ADAPTER: std::sync::OnceLock<WechatPay> = std::sync::OnceLock::new();
        ADAPTER.get_or_init(|| {
            let key = fuzzing::rsa_key();
            WechatPay::new(&WechatPayConfig {
                base_url: DEFAULT_BASE_URL.into(),
                mchid: "1900000109".into(),
                merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
                merchant_private_key_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                platform_public_keys: BTreeMap::from([(
                    SERIAL.to_string(),
                    key.to_public_key()
                        .to_public_key_pem(LineEnding::LF)
                        .unwrap(),
                )]),
                api_v3_key: API_V3_KEY.into(),
                notify_url: None,
                timeout_ms: 1_000,
            })
            .unwrap()
        })
    }

    const RESOURCE_FIELDS: &[&str] = &[
        "mchid",
        "out_trade_no",
        "transaction_id",
        "out_refund_no",
        "refund_id",
        "refund_status",
        "status",
        "success_time",
        "user_received_account",
        "amount",
        "refund",
        "total",
        "sp_mchid",
    ];
    const ENVELOPE_FIELDS: &[&str] = &[
        "id",
        "event_type",
        "resource",
        "algorithm",
        "ciphertext",
        "nonce",
        "associated_data",
    ];

    /// A refund result as WeChat encrypts it.
    fn resource() -> impl Strategy<Value = Value> {
        (
            "[A-Za-z0-9_|*@-]{1,64}",
            prop::sample::select(&["SUCCESS", "CLOSED", "ABNORMAL", "PROCESSING", "OTHER"][..]),
            prop_oneof![Just(0i64), 1i64..100_000_000, any::<i64>()],
            prop_oneof![
                Just("2026-11-25T10:31:00+08:00".to_string()),
                Just("+262143-12-31T23:59:59+08:00".to_string()),
                ".{0,30}"
            ],
        )
            .prop_map(|(out_refund_no, status, refund, time)| {
                json!({
                    "mchid": "1900000109", "out_trade_no": "T1",
                    "transaction_id": "4200000001202501010000000001",
                    "out_refund_no": out_refund_no, "refund_id": "50000000382019052709732678859",
                    "refund_status": status, "success_time": time,
                    "user_received_account": "招商银行信用卡0403",
                    "amount": {"total": 8800, "refund": refund, "payer_total": 8800, "payer_refund": refund}
                })
            })
    }

    fn seal(plain: &[u8], nonce: &str, aad: &str) -> String {
        let iv: [u8; 12] = nonce.as_bytes().try_into().unwrap();
        let sealed = adapter()
            .cipher
            .encrypt(
                &iv.into(),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        B64.encode(sealed)
    }

    fn envelope(ciphertext: &str, nonce: &str, event: &str) -> Value {
        json!({
            "id": "EV-2018022511223320873", "create_time": "2026-11-25T10:31:00+08:00",
            "resource_type": "encrypt-resource", "event_type": event,
            "summary": "退款成功",
            "resource": {"original_type": "refund", "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": ciphertext, "associated_data": "refund", "nonce": nonce}
        })
    }

    #[derive(Debug, Clone)]
    struct Case {
        resource: Value,
        /// Changes to the plaintext before it is encrypted.
        inner: Vec<fuzzing::JsonEdit>,
        inner_bytes: Vec<fuzzing::Mutation>,
        event: &'static str,
        /// Changes to the notification around the sealed resource.
        outer: Vec<fuzzing::JsonEdit>,
        outer_bytes: Vec<fuzzing::Mutation>,
    }

    fn case() -> impl Strategy<Value = Case> {
        let few =
            |s: BoxedStrategy<Vec<fuzzing::Mutation>>| prop_oneof![2 => Just(Vec::new()), 1 => s];
        (
            resource(),
            prop_oneof![Just(Vec::new()), json_edits(3, RESOURCE_FIELDS)],
            few(mutations(3).boxed()),
            prop::sample::select(
                &[
                    "REFUND.SUCCESS",
                    "REFUND.ABNORMAL",
                    "REFUND.CLOSED",
                    "TRANSACTION.SUCCESS",
                ][..],
            ),
            prop_oneof![3 => Just(Vec::new()), 1 => json_edits(2, ENVELOPE_FIELDS)],
            prop_oneof![4 => Just(Vec::new()), 1 => mutations(3)],
        )
            .prop_map(
                |(resource, inner, inner_bytes, event, outer, outer_bytes)| Case {
                    resource,
                    inner,
                    inner_bytes,
                    event,
                    outer,
                    outer_bytes,
                },
            )
    }

    /// The plaintext and the notification body of a case.
    fn build(c: &Case, nonce: &str) -> (Vec<u8>, Vec<u8>) {
        let plain = fuzzing::near_json(&c.resource, &c.inner, &c.inner_bytes);
        let sealed = seal(&plain, nonce, "refund");
        let body = fuzzing::near_json(&envelope(&sealed, nonce, c.event), &c.outer, &c.outer_bytes);
        (plain, body)
    }

    /// A notice read from `plain` says what `plain` says: its out-refund
    /// number and amount, never another's.
    fn same_meaning(r: &ProviderRefund, plain: &[u8]) -> Result<(), TestCaseError> {
        // Read apart, as any JSON reader would: the notice is read strictly
        // (`strict_json`), so what a Value refuses must have been refused.
        let p = match serde_json::from_slice::<Value>(plain) {
            Ok(p) => p,
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "read {r:?} from a resource that is not JSON ({e})"
                )))
            }
        };
        prop_assert_eq!(Some(r.out_refund_no.as_str()), p["out_refund_no"].as_str());
        let refund = p["amount"]["refund"].as_i64().map(NoticeAmount::Refund);
        prop_assert_eq!(&r.amount, &refund);
        Ok(())
    }

    fn check_read(
        c: &Case,
        result: &Result<ProviderRefund, NotificationError>,
        plain: &[u8],
    ) -> Result<(), TestCaseError> {
        let untouched = c.inner.is_empty()
            && c.inner_bytes.is_empty()
            && c.outer.is_empty()
            && c.outer_bytes.is_empty();
        match result {
            Ok(r) => same_meaning(r, plain)?,
            Err(e) if untouched => {
                let valid =
                    c.event.starts_with("REFUND.") && c.resource["refund_status"] != "OTHER";
                prop_assert!(!valid, "a valid notification was refused: {e}");
            }
            Err(_) => {}
        }
        Ok(())
    }

    #[test]
    fn fuzz_decrypted_resources_read_as_encrypted_or_are_refused() {
        fuzzing::run(
            "wechat_pay/read_notification",
            cases(DEFAULT_CASES),
            case(),
            |c| {
                let (plain, body) = build(&c, "46ffbf9e8c5d");
                let result = adapter().read_notification(&body);
                check_read(&c, &result, &plain)
            },
        );
    }

    #[test]
    fn fuzz_unsigned_notifications_are_refused_as_bad_signatures() {
        let header = prop_oneof![
            Just(None),
            Just(Some(NOW.to_string())),
            ".{0,20}".prop_map(Some),
        ];
        let strategy = (
            case(),
            header,
            prop_oneof![
                Just(Some("n".repeat(32))),
                Just(None),
                ".{0,40}".prop_map(Some)
            ],
            prop_oneof![
                4 => fuzzing::forged_signature().prop_map(Some),
                1 => Just(Some(format!("{PROBE_SIGNATURE_PREFIX}abc"))),
                1 => Just(None),
            ],
            prop_oneof![3 => Just(Some(SERIAL.to_string())), 1 => Just(None), 1 => ".{0,40}".prop_map(Some)],
            prop_oneof![
                Just(None),
                Just(Some(SIGNATURE_TYPE.to_string())),
                ".{0,30}".prop_map(Some)
            ],
            prop_oneof![3 => Just(None), 1 => fuzzing::bytes().prop_map(Some)],
        );
        fuzzing::run(
            "wechat_pay/verify_unsigned",
            cases(DEFAULT_CASES),
            strategy,
            |(c, ts, nonce, signature, serial, kind, raw)| {
                let body = raw.unwrap_or_else(|| build(&c, "46ffbf9e8c5d").1);
                let mut headers = Vec::new();
                for (name, v) in [
                    ("Wechatpay-Timestamp", ts),
                    ("Wechatpay-Nonce", nonce),
                    ("Wechatpay-Signature", signature),
                    ("Wechatpay-Serial", serial),
                    ("Wechatpay-Signature-Type", kind),
                ] {
                    if let Some(v) = v {
                        headers.push((name.to_string(), v));
                    }
                }
                let result = adapter().verify(
                    &Incoming {
                        headers: &headers,
                        body: &body,
                    },
                    now(),
                );
                prop_assert!(
                    matches!(result, Err(NotificationError::BadSignature(_))),
                    "{result:?}"
                );
                Ok(())
            },
        );
    }

    #[test]
    fn fuzz_signed_notifications_are_read_whole_or_refused() {
        let signer = SigningKey::<Sha256>::new(fuzzing::rsa_key().clone());
        let strategy = (
            case(),
            prop_oneof![
                4 => (-300i64..=300).prop_map(|d| (NOW + d).to_string()),
                1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(|t| t.to_string()),
                1 => ".{0,20}",
            ],
            // Bytes changed after signing: what was signed is not what came.
            prop_oneof![4 => Just(Vec::new()), 1 => mutations(2)],
        );
        fuzzing::run(
            "wechat_pay/verify_signed",
            signed_cases(32),
            strategy,
            |(c, ts, tamper)| {
                let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
                let (plain, body) = build(&c, "46ffbf9e8c5d");
                let message =
                    [ts.as_bytes(), b"\n", nonce.as_bytes(), b"\n", &body, b"\n"].concat();
                let signature = B64.encode(signer.sign_with_rng(&mut OsRng, &message).to_bytes());
                let headers = vec![
                    ("wechatpay-timestamp".to_string(), ts.clone()),
                    ("wechatpay-nonce".to_string(), nonce.to_string()),
                    ("wechatpay-signature".to_string(), signature),
                    ("wechatpay-serial".to_string(), SERIAL.to_string()),
                ];
                let sent = fuzzing::mutate(&body, &tamper);
                let result = adapter().verify(
                    &Incoming {
                        headers: &headers,
                        body: &sent,
                    },
                    now(),
                );
                if sent != body {
                    prop_assert!(
                        matches!(result, Err(NotificationError::BadSignature(_))),
                        "{result:?}"
                    );
                    return Ok(());
                }
                let fresh = ts
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|t| t.checked_sub(NOW))
                    .is_some_and(|d| d.abs() <= MAX_SKEW_SECS);
                if !fresh {
                    prop_assert!(
                        matches!(result, Err(NotificationError::Stale(_))),
                        "{result:?}"
                    );
                    return Ok(());
                }
                prop_assert!(
                    !matches!(
                        result,
                        Err(NotificationError::BadSignature(_) | NotificationError::Stale(_))
                    ),
                    "{result:?}"
                );
                check_read(&c, &result, &plain)
            },
        );
    }
}
