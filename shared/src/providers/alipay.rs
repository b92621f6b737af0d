//! Alipay open platform: `alipay.trade.refund`, `alipay.trade.fastpay.refund.query`
//! and the asynchronous notifications, signed RSA2 (SHA256withRSA, PKCS#1 v1.5).
//!
//! **Requests.** The system parameters and `sign` travel in the query string,
//! `biz_content` in the form body, as Alipay's own SDKs do: the gateway reads
//! `charset` before it decodes the body, so `charset` must not be hidden in it.
//! The signed content is every non-empty parameter except `sign` (`sign_type`
//! included), sorted by key, joined `k=v&...` with raw (not URL-encoded) values.
//!
//! **Responses.** `{"alipay_trade_refund_response":{...},"sign":"..."}`. The
//! signature covers the exact text of the response node as it appears in the
//! body, so the node is cut out of the body (never re-serialized), and a body
//! carrying the node twice is refused (the SDK's `SignContentExtractor` does the
//! same: which of the two was signed is not knowable). A response whose
//! signature does not verify is a [`ProviderError::Transient`]: the refund may
//! have happened, so only a retry or a query may decide. An unsigned error
//! response (the gateway does not sign some of its own failures) is classified by
//! its code like a signed one, as the SDK does; an unsigned *success* is refused.
//!
//! **Idempotency.** `out_request_no` is our out-refund number: it makes each
//! partial refund distinct and makes a repeat refund once. A repeat of an
//! already-processed number answers 10000 with `fund_change=N`, indistinguishable
//! from "accepted, not yet moved", so it maps to [`ProviderState::Processing`] and
//! the query confirms.
//!
//! **Notifications.** Alipay has no refund callback for this API; the payment's
//! `notify_url` receives a `trade_status_sync` with `out_biz_no` (our
//! `out_request_no`), `refund_fee` and `gmt_refund` when a refund touched the
//! trade. The signed content is every parameter but `sign` and `sign_type`,
//! sorted, empty values kept. Unlike WeChat, nothing binds a notification to
//! the moment it was sent: `notify_time` is signed but Alipay resends the same
//! notification (same `notify_id`) for about 25 hours. What makes a replay
//! harmless is that a notification only repeats a fact Alipay signed (this
//! refund succeeded), and the consumer applies refund states forward only and
//! idempotently (deduplicated on `notify_id` / out-refund number); on top of that
//! a `notify_time` older than [`NOTIFY_MAX_AGE`] is refused as stale, which
//! bounds how long a captured notification stays usable without refusing any of
//! Alipay's own retries.

use super::{
    Ack, Incoming, NoticeAmount, NotificationError, NotificationVerifier, ProviderError,
    ProviderRefund, ProviderState, RefundProvider, RefundRequest,
};
use crate::domain::money::Currency;
use crate::domain::order::PaymentChannel;
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
pub const SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";

const REFUND_METHOD: &str = "alipay.trade.refund";
const QUERY_METHOD: &str = "alipay.trade.fastpay.refund.query";

/// Alipay retries a notification for about 25 hours (4m, 10m, 10m, 1h, 2h, 6h,
/// 15h); three days leaves room for a `notify_time` that is kept from the
/// first attempt and for clock differences.
pub const NOTIFY_MAX_AGE: chrono::Duration = chrono::Duration::days(3);
/// A `notify_time` this far ahead of our clock is not Alipay's.
const NOTIFY_MAX_AHEAD: chrono::Duration = chrono::Duration::minutes(10);

/// What is needed to talk to Alipay as one app.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipayConfig {
    /// `https://openapi.alipay.com/gateway.do` ([`PRODUCTION_GATEWAY`]).
    pub gateway_url: String,
    pub app_id: String,
    /// The app's RSA2048 private key: PEM (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1
    /// `BEGIN RSA PRIVATE KEY`) or the bare base64 the Alipay key tool prints.
    pub app_private_key: String,
    /// Alipay's public key for this app (not the app's own): PEM or the bare
    /// base64 the open platform console shows.
    pub alipay_public_key: String,
    /// Default `notify_url` when the request carries none.
    #[serde(default)]
    pub notify_url: Option<String>,
    /// The merchant's PID (`2088...`); when set, notifications for another
    /// seller are refused.
    #[serde(default)]
    pub seller_id: Option<String>,
}

impl fmt::Debug for AlipayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlipayConfig")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .field("app_private_key", &"<redacted>")
            .field("alipay_public_key", &"<set>")
            .field("notify_url", &self.notify_url)
            .field("seller_id", &self.seller_id)
            .finish()
    }
}

/// A configuration that cannot work (unreadable key, too short a key...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alipay configuration: {0}")]
pub struct ConfigError(pub String);

/// The Alipay adapter: [`RefundProvider`] and [`NotificationVerifier`].
pub struct Alipay {
    gateway: Gateway,
    notify_url: Option<String>,
    seller_id: Option<String>,
}

impl fmt::Debug for Alipay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alipay")
            .field("gateway_url", &self.gateway.url)
            .field("app_id", &self.gateway.app_id)
            .field("app_private_key", &"<redacted>")
            .field("notify_url", &self.notify_url)
            .field("seller_id", &self.seller_id)
            .finish()
    }
}

impl Alipay {
    pub fn new(config: &AlipayConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            gateway: Gateway::new(
                &config.gateway_url,
                &config.app_id,
                &config.app_private_key,
                &config.alipay_public_key,
            )?,
            notify_url: config.notify_url.clone().filter(|u| !u.is_empty()),
            seller_id: config.seller_id.clone().filter(|s| !s.is_empty()),
        })
    }
}

/// One application at the Alipay open-platform gateway: its keys, the
/// HTTP client, signed calls and verified notifications. The trade-refund
/// adapter ([`Alipay`]) and the bank-card payout adapter
/// (`alipay_payout`) each hold one.
pub(crate) struct Gateway {
    url: String,
    app_id: String,
    signing_key: SigningKey<Sha256>,
    verifying_key: VerifyingKey<Sha256>,
    http: reqwest::Client,
}

/// A gateway's answer to a call whose response verified: the method's
/// node (code 10000), or its refusal (any other code) for the caller to
/// read or [`classify`].
pub(crate) enum Reply {
    Done(Value),
    Refused(Answer),
}

impl Gateway {
    pub(crate) fn new(
        url: &str,
        app_id: &str,
        app_private_key: &str,
        alipay_public_key: &str,
    ) -> Result<Self, ConfigError> {
        let private = parse_private_key(app_private_key)?;
        let public = parse_public_key(alipay_public_key)?;
        // RSA2 is defined for 2048-bit keys; a shorter key is a configuration
        // mistake that Alipay would answer with an invalid-signature error.
        if private.size() < 256 || public.size() < 256 {
            return Err(ConfigError("RSA2 needs keys of at least 2048 bits".into()));
        }
        let http = http_client()?;
        Ok(Self {
            url: url.to_owned(),
            app_id: app_id.to_owned(),
            signing_key: SigningKey::new(private),
            verifying_key: VerifyingKey::new(public),
            http,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The signed request parameters of one call, `sign` included.
    fn signed_params(
        &self,
        method: &str,
        biz_content: String,
        notify_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> BTreeMap<&'static str, String> {
        let mut params: BTreeMap<&'static str, String> = BTreeMap::new();
        params.insert("app_id", self.app_id.clone());
        params.insert("method", method.to_string());
        params.insert("format", "JSON".into());
        params.insert("charset", "utf-8".into());
        params.insert("sign_type", "RSA2".into());
        params.insert("timestamp", format_timestamp(now));
        params.insert("version", "1.0".into());
        if let Some(url) = notify_url.filter(|u| !u.is_empty()) {
            params.insert("notify_url", url.to_string());
        }
        params.insert("biz_content", biz_content);
        let content = sign_content(params.iter().map(|(k, v)| (*k, v.as_str())));
        // Blinded: the private-key operation's timing must not depend on the key
        // (RUSTSEC-2023-0071); PKCS#1 v1.5 signatures come out the same.
        let signature = self
            .signing_key
            .sign_with_rng(&mut rsa::rand_core::OsRng, content.as_bytes());
        params.insert("sign", B64.encode(signature.to_bytes()));
        params
    }

    /// Sends one call and returns the verified response node; a refusal
    /// is classified ([`classify`]).
    pub(crate) async fn call(
        &self,
        method: &str,
        biz_content: String,
        notify_url: Option<&str>,
    ) -> Result<Value, ProviderError> {
        match self.reply(method, biz_content, notify_url).await? {
            Reply::Done(node) => Ok(node),
            Reply::Refused(answer) => Err(classify(&answer)),
        }
    }

    /// Sends one call and returns the verified answer, success or refusal.
    pub(crate) async fn reply(
        &self,
        method: &str,
        biz_content: String,
        notify_url: Option<&str>,
    ) -> Result<Reply, ProviderError> {
        let mut params = self.signed_params(method, biz_content, notify_url, Utc::now());
        let biz = params.remove("biz_content").unwrap_or_default();
        let query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = self
            .http
            .post(&self.url)
            .query(&query)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form_encode(&[("biz_content", biz.as_str())]))
            .send()
            .await
            .map_err(|e| ProviderError::Transient(format!("alipay gateway unreachable: {e}")))?;
        let status = response.status();
        // The exact bytes: the signature covers them, so no charset guessing.
        let body = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transient(format!("alipay response unreadable: {e}")))?;
        let body = std::str::from_utf8(&body)
            .map_err(|_| ProviderError::Transient("alipay response is not UTF-8".into()))?;
        if !status.is_success() {
            let text = format!("alipay gateway answered HTTP {status}");
            // Retrying is safe (same idempotency key); only an answer that
            // can never change is permanent.
            return Err(
                if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                    ProviderError::Transient(text)
                } else {
                    ProviderError::Permanent(text)
                },
            );
        }
        let node = response_node(method);
        let opened = open_response(body, &node, &self.verifying_key)
            .map_err(|e| ProviderError::Transient(format!("alipay response refused: {e}")))?;
        let answer: Answer = serde_json::from_str(opened.content)
            .map_err(|e| ProviderError::Transient(format!("alipay response unreadable: {e}")))?;
        if answer.code == "10000" {
            if !opened.signed {
                return Err(ProviderError::Transient(
                    "alipay success response without signature refused".into(),
                ));
            }
            return serde_json::from_str(opened.content)
                .map(Reply::Done)
                .map_err(|e| ProviderError::Transient(format!("alipay response unreadable: {e}")));
        }
        Ok(Reply::Refused(answer))
    }

    /// The parameters of a form-encoded notification whose RSA2 signature
    /// (over every parameter but `sign` and `sign_type`, sorted, empty
    /// values kept) verifies with Alipay's public key. A parameter sent
    /// twice, a charset other than UTF-8 or a `sign_type` other than RSA2
    /// is refused before the signature is checked.
    pub(crate) fn verified_notification(
        &self,
        body: &[u8],
    ) -> Result<BTreeMap<String, String>, NotificationError> {
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            // Which of two values was signed cannot be known.
            if params.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(NotificationError::BadSignature(format!(
                    "parameter {k} appears twice"
                )));
            }
        }
        if let Some(charset) = params.get("charset") {
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(NotificationError::Malformed(format!(
                    "charset {charset} is not supported (the app must be set to utf-8)"
                )));
            }
        }
        let sign = params
            .get("sign")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| NotificationError::BadSignature("no sign".into()))?;
        match params.get("sign_type").map(String::as_str) {
            None | Some("RSA2") => {}
            Some(other) => {
                return Err(NotificationError::BadSignature(format!(
                    "sign_type {other} is not accepted"
                )))
            }
        }
        let content =
            notification_sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        verify_rsa2(&self.verifying_key, &content, sign)
            .map_err(|e| NotificationError::BadSignature(e.to_string()))?;
        Ok(params)
    }
}

/// Whether a notification's send time is within what Alipay's retries
/// allow: at most [`NOTIFY_MAX_AGE`] old, at most a few minutes ahead.
pub(crate) fn notify_time_acceptable(sent: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - sent <= NOTIFY_MAX_AGE && sent - now <= NOTIFY_MAX_AHEAD
}

/// What Alipay takes as "received": exactly `success`.
pub(crate) fn ack() -> Ack {
    Ack {
        status: 200,
        content_type: "text/plain",
        body: "success".into(),
    }
}

/// The answer to a refused notification (`fail`: Alipay retries). A
/// verified notification about something else is acknowledged instead:
/// Alipay retries on any body but "success", so an ignored one must be
/// acknowledged or it keeps coming for a day.
pub(crate) fn nack(e: &NotificationError) -> Ack {
    if matches!(e, NotificationError::NotARefund(_)) {
        return ack();
    }
    Ack {
        status: 400,
        content_type: "text/plain",
        body: "fail".into(),
    }
}

pub(crate) type Value = serde_json::Map<String, serde_json::Value>;

pub(crate) fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(|x| x.as_str())
        .filter(|s| !s.is_empty())
}

/// The common part of every answer: its code and, for a refusal, why.
#[derive(Debug, Deserialize)]
pub(crate) struct Answer {
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) msg: Option<String>,
    #[serde(default)]
    pub(crate) sub_code: Option<String>,
    #[serde(default)]
    pub(crate) sub_msg: Option<String>,
}

/// Error codes (common to every method): 20000 is the gateway's "service
/// unavailable"; sub-codes ending in SYSTEM_ERROR and the `isp.` family are
/// Alipay's own failures, which its documentation says to retry with the same
/// parameters. The 4xxxx families are refusals of this request (missing or bad
/// parameters, business rules, permissions) that a retry will not change.
pub(crate) fn classify(a: &Answer) -> ProviderError {
    let sub = a.sub_code.as_deref().unwrap_or("");
    let text = format!(
        "{} {}: {}",
        a.code,
        if sub.is_empty() { "-" } else { sub },
        a.sub_msg
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(a.msg.as_deref())
            .unwrap_or("")
    );
    if a.code == "20000" || sub.ends_with("SYSTEM_ERROR") || sub.starts_with("isp.") {
        return ProviderError::Transient(text);
    }
    // Our own configuration (keys, app id, permissions) refused: nothing is
    // wrong with the refund. Retried until operators fix the configuration
    // (then replay the dead-letter queue) instead of failing customers'
    // refunds for good.
    if a.code == "20001"
        || a.code == "40006"
        || matches!(
            sub,
            "isv.invalid-signature"
                | "isv.missing-signature"
                | "isv.invalid-signature-type"
                | "isv.invalid-app-id"
                | "isv.insufficient-isv-permissions"
        )
    {
        return ProviderError::Transient(format!("configuration: {text}"));
    }
    match a.code.as_str() {
        "40001" | "40002" | "40003" | "40004" => ProviderError::Permanent(text),
        // An unknown code says nothing about whether money moved: retry/query.
        _ => ProviderError::Transient(text),
    }
}

fn response_node(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Why a signature does not check out against Alipay's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum SignatureError {
    #[error("signature is not base64")]
    NotBase64,
    #[error("signature malformed")]
    Malformed,
    #[error("signature does not verify")]
    Mismatch,
}

/// Why a gateway response is refused before its content is read.
#[derive(Debug, thiserror::Error)]
enum ResponseError {
    #[error("not a JSON object: {0}")]
    NotAnObject(#[source] serde_json::Error),
    /// Which of the two was signed cannot be known.
    #[error("member {0} appears twice")]
    Twice(String),
    #[error("no {0} in the response")]
    NoNode(String),
    #[error("sign is not a string")]
    SignNotAString,
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The signed response node, as text, and whether a signature covered it.
#[derive(Debug)]
struct Opened<'a> {
    content: &'a str,
    signed: bool,
}

/// The top-level members of a JSON object with their values as raw text.
struct TopLevel<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(TopLevel(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Cuts the response node out of the body exactly as sent and verifies the
/// `sign` over it. `error_response` stands in for the node when the gateway
/// refused the call before reaching the method.
fn open_response<'a>(
    body: &'a str,
    node: &str,
    key: &VerifyingKey<Sha256>,
) -> Result<Opened<'a>, ResponseError> {
    let top: TopLevel<'a> = serde_json::from_str(body).map_err(ResponseError::NotAnObject)?;
    let mut content = None;
    let mut sign = None;
    for (name, raw) in &top.0 {
        let slot = match name.as_str() {
            n if n == node || n == "error_response" => &mut content,
            "sign" => &mut sign,
            _ => continue,
        };
        if slot.replace(*raw).is_some() {
            return Err(ResponseError::Twice(name.clone()));
        }
    }
    let content = content.ok_or_else(|| ResponseError::NoNode(node.to_owned()))?;
    let content = content.get();
    match sign {
        None => Ok(Opened {
            content,
            signed: false,
        }),
        Some(raw) => {
            let sign: String =
                serde_json::from_str(raw.get()).map_err(|_| ResponseError::SignNotAString)?;
            verify_rsa2(key, content, &sign)?;
            Ok(Opened {
                content,
                signed: true,
            })
        }
    }
}

fn verify_rsa2(
    key: &VerifyingKey<Sha256>,
    content: &str,
    sign: &str,
) -> Result<(), SignatureError> {
    let bytes = B64
        .decode(sign.trim())
        .map_err(|_| SignatureError::NotBase64)?;
    let signature = Signature::try_from(bytes.as_slice()).map_err(|_| SignatureError::Malformed)?;
    key.verify(content.as_bytes(), &signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// The text Alipay signs for a request: non-empty parameters except `sign`,
/// sorted by key (ASCII), `k=v` joined with `&`, values raw.
pub fn sign_content<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let sorted: BTreeMap<&str, &str> = params
        .into_iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    join_pairs(sorted)
}

/// The text Alipay signs for a notification: every parameter except `sign`
/// and `sign_type`, sorted, empty values kept (the SDK's
/// `getSignCheckContentV1`).
pub fn notification_sign_content<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let sorted: BTreeMap<&str, &str> = params
        .into_iter()
        .filter(|(k, _)| *k != "sign" && *k != "sign_type")
        .collect();
    join_pairs(sorted)
}

fn join_pairs(sorted: BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

// China has kept UTC+8 without daylight saving since 1991, so Asia/Shanghai
// needs no time-zone database.
const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

fn shanghai() -> FixedOffset {
    SHANGHAI
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time, as the gateway expects.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&shanghai())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Alipay's times (`gmt_refund_pay`, `gmt_refund`, `notify_time`): Beijing
/// time, sometimes with milliseconds.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    shanghai()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Minor units to Alipay's decimal amount ("12.34").
pub fn format_amount(minor: i64, currency: Currency) -> String {
    let digits = currency.minor_digits();
    if digits == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale as u64,
        abs % scale as u64,
        width = digits as usize
    )
}

fn parse_private_key(text: &str) -> Result<RsaPrivateKey, ConfigError> {
    let text = text.trim();
    if text.contains("-----BEGIN") {
        return RsaPrivateKey::from_pkcs8_pem(text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(text))
            .map_err(|_| {
                ConfigError("app private key: not a PKCS#8 or PKCS#1 PEM RSA key".into())
            });
    }
    let der = decode_bare(text)
        .ok_or_else(|| ConfigError("app private key: not PEM or base64".into()))?;
    RsaPrivateKey::from_pkcs8_der(&der)
        .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
        .map_err(|_| ConfigError("app private key: not a PKCS#8 or PKCS#1 RSA key".into()))
}

fn parse_public_key(text: &str) -> Result<RsaPublicKey, ConfigError> {
    let text = text.trim();
    if text.contains("-----BEGIN") {
        return RsaPublicKey::from_public_key_pem(text)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(text))
            .map_err(|_| ConfigError("alipay public key: not an RSA public key PEM".into()));
    }
    let der = decode_bare(text)
        .ok_or_else(|| ConfigError("alipay public key: not PEM or base64".into()))?;
    RsaPublicKey::from_public_key_der(&der)
        .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
        .map_err(|_| ConfigError("alipay public key: not an RSA public key".into()))
}

fn decode_bare(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(compact).ok()
}

fn http_client() -> Result<reqwest::Client, ConfigError> {
    // reqwest is built without a TLS crypto provider of its own so that it uses
    // the aws-lc-rs the AWS SDK already links; it has to be the process default.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| ConfigError(format!("HTTP client: {e}")))
}

#[async_trait]
impl RefundProvider for Alipay {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Alipay
    }

    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let (amount, _) = req.minor_units()?;
        if amount <= 0 {
            return Err(ProviderError::Permanent(format!(
                "refund amount must be positive, got {amount}"
            )));
        }
        let mut biz = serde_json::json!({
            "trade_no": req.provider_txn_id,
            "refund_amount": format_amount(amount, req.currency()),
            "out_request_no": req.out_refund_no,
        });
        if !req.reason.is_empty() {
            biz["refund_reason"] = req.reason.as_str().into();
        }
        // refund_amount is in the trade's currency; only a foreign-currency
        // trade needs to name it.
        if req.currency() != Currency::Cny {
            biz["refund_currency"] = req.currency().code().into();
        }
        let notify = req.notify_url.as_deref().or(self.notify_url.as_deref());
        let node = self
            .gateway
            .call(REFUND_METHOD, biz.to_string(), notify)
            .await?;
        if let Some(trade_no) = str_field(&node, "trade_no") {
            if trade_no != req.provider_txn_id {
                return Err(ProviderError::Transient(format!(
                    "alipay answered for trade {trade_no}, not {}",
                    req.provider_txn_id
                )));
            }
        }
        let state = if str_field(&node, "fund_change") == Some("Y") {
            ProviderState::Succeeded {
                at: str_field(&node, "gmt_refund_pay").and_then(parse_time),
            }
        } else {
            ProviderState::Processing
        };
        Ok(ProviderRefund {
            out_refund_no: req.out_refund_no.clone(),
            // Alipay has no refund id of its own: out_request_no is the key.
            provider_refund_id: None,
            state,
            received_account: None,
            amount: None,
            account: None,
        })
    }

    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        let biz = serde_json::json!({
            "trade_no": req.provider_txn_id,
            "out_request_no": req.out_refund_no,
            "query_options": ["gmt_refund_pay"],
        });
        let node = self
            .gateway
            .call(QUERY_METHOD, biz.to_string(), None)
            .await?;
        if let Some(no) = str_field(&node, "out_request_no") {
            if no != req.out_refund_no {
                return Err(ProviderError::Transient(format!(
                    "alipay answered for refund {no}, not {}",
                    req.out_refund_no
                )));
            }
        }
        // Only REFUND_SUCCESS is a result. Without it Alipay either has not
        // received the request or refused it: "unknown here", which tells the
        // caller to send the same out_request_no again (safe: it refunds once).
        match str_field(&node, "refund_status") {
            Some("REFUND_SUCCESS") => Ok(Some(ProviderRefund {
                out_refund_no: req.out_refund_no.clone(),
                provider_refund_id: None,
                state: ProviderState::Succeeded {
                    at: str_field(&node, "gmt_refund_pay").and_then(parse_time),
                },
                received_account: None,
                amount: None,
                account: None,
            })),
            _ => Ok(None),
        }
    }
}

impl Alipay {
    /// How a notice's account is written, here and in
    /// [`NotificationVerifier::account`]: the app, and the seller when
    /// this adapter is configured with ours (without one, any seller of
    /// the app is ours).
    /// The account a notice names. A notice that leaves `seller_id` out
    /// (Alipay does not always send it) is judged by its `app_id` alone:
    /// the signature already ties it to our application key.
    fn account_of(&self, app_id: &str, seller_id: Option<&str>) -> String {
        match &self.seller_id {
            Some(ours) => format!("app_id={app_id},seller_id={}", seller_id.unwrap_or(ours)),
            None => format!("app_id={app_id}"),
        }
    }
}

/// Yuan with at most two decimals (`12.34`, `12.3`, `12`) in fen.
pub(crate) fn parse_yuan(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || frac.len() > 2
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    int.parse::<i64>().ok()?.checked_mul(100)?.checked_add(frac)
}

impl NotificationVerifier for Alipay {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Alipay
    }

    fn account(&self) -> Option<String> {
        Some(self.account_of(&self.gateway.app_id, self.seller_id.as_deref()))
    }

    fn verify(
        &self,
        incoming: &Incoming<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        let params = self.gateway.verified_notification(incoming.body)?;
        self.read_notice(&params, now)
    }

    fn ack(&self) -> Ack {
        ack()
    }

    fn nack(&self, e: &NotificationError) -> Ack {
        nack(e)
    }
}

impl Alipay {
    /// A notification whose signature checked out, read: when it was sent,
    /// then the refund it reports.
    fn read_notice(
        &self,
        params: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        let get = |name: &str| {
            params
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        // Whose it is (`app_id`, `seller_id`) is read onto the notice and
        // judged against the refund it names (`Refund::notice_mismatch`):
        // signed by Alipay but for another app or seller, it is refused
        // there and lands on that refund's audit trail.
        let notify_time = get("notify_time")
            .ok_or_else(|| NotificationError::Malformed("no notify_time".into()))?;
        let sent = parse_time(notify_time).ok_or_else(|| {
            NotificationError::Malformed(format!("notify_time {notify_time} unreadable"))
        })?;
        if !notify_time_acceptable(sent, now) {
            return Err(NotificationError::Stale(format!(
                "notify_time {notify_time} is too far from now"
            )));
        }

        let out_biz_no = get("out_biz_no");
        let refunded = get("refund_fee").is_some() || get("gmt_refund").is_some();
        let Some(out_refund_no) = out_biz_no.filter(|_| refunded) else {
            return Err(NotificationError::NotARefund(format!(
                "{} {}",
                get("notify_type").unwrap_or("notification"),
                get("trade_status").unwrap_or("")
            )));
        };
        // The notification reports a refund that was made: TRADE_SUCCESS after
        // a partial refund, TRADE_CLOSED after the last of the money went back.
        // `refund_fee` is what the trade has had refunded in all (yuan),
        // not this refund alone.
        let amount = match get("refund_fee") {
            None => None,
            Some(fee) => Some(NoticeAmount::RefundedOnPayment(
                parse_yuan(fee).ok_or_else(|| {
                    NotificationError::Malformed(format!("refund_fee {fee} unreadable"))
                })?,
            )),
        };
        Ok(ProviderRefund {
            out_refund_no: out_refund_no.to_string(),
            provider_refund_id: None,
            state: ProviderState::Succeeded {
                at: get("gmt_refund").and_then(parse_time),
            },
            received_account: None,
            amount,
            account: get("app_id").map(|app| self.account_of(app, get("seller_id"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_amounts_read_as_fen() {
        assert_eq!(parse_yuan("12.34"), Some(1234));
        assert_eq!(parse_yuan("12.3"), Some(1230));
        assert_eq!(parse_yuan("12"), Some(1200));
        assert_eq!(parse_yuan("0.01"), Some(1));
        for bad in [
            "",
            ".5",
            "1.234",
            "-1.00",
            "1,00",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad}");
        }
    }

    #[test]
    fn sign_content_drops_sign_and_empty_values_keeps_sign_type() {
        let params = [
            ("sign", "xxx"),
            ("method", "alipay.trade.refund"),
            ("app_id", "2021000000000000"),
            ("notify_url", ""),
            ("sign_type", "RSA2"),
            ("biz_content", r#"{"a":"b c&d"}"#),
        ];
        assert_eq!(
            sign_content(params),
            r#"app_id=2021000000000000&biz_content={"a":"b c&d"}&method=alipay.trade.refund&sign_type=RSA2"#
        );
    }

    #[test]
    fn notification_content_drops_sign_and_sign_type_keeps_empty_values() {
        let params = [
            ("sign", "xxx"),
            ("sign_type", "RSA2"),
            ("trade_status", "TRADE_SUCCESS"),
            ("body", ""),
            ("app_id", "1"),
        ];
        assert_eq!(
            notification_sign_content(params),
            "app_id=1&body=&trade_status=TRADE_SUCCESS"
        );
    }

    #[test]
    fn amounts_and_times() {
        assert_eq!(format_amount(1234, Currency::Cny), "12.34");
        assert_eq!(format_amount(5, Currency::Cny), "0.05");
        assert_eq!(format_amount(100, Currency::Cny), "1.00");
        assert_eq!(format_amount(1234, Currency::Jpy), "1234");
        let t = parse_time("2024-01-02 08:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-02T00:00:00+00:00");
        let t = parse_time("2024-01-02 08:00:00.320").unwrap();
        assert_eq!(t.timestamp_subsec_millis(), 320);
        assert_eq!(format_timestamp(t), "2024-01-02 08:00:00");
        assert!(parse_time("02/01/2024").is_none());
    }

    #[test]
    fn codes_map_to_transient_or_permanent() {
        let a = |code: &str, sub: &str| Answer {
            code: code.into(),
            msg: Some("m".into()),
            sub_code: Some(sub.into()),
            sub_msg: Some("sm".into()),
        };
        assert!(matches!(
            classify(&a("20000", "isp.unknow-error")),
            ProviderError::Transient(_)
        ));
        assert!(matches!(
            classify(&a("40004", "ACQ.SYSTEM_ERROR")),
            ProviderError::Transient(_)
        ));
        assert!(matches!(
            classify(&a("40004", "ACQ.TRADE_HAS_FINISHED")),
            ProviderError::Permanent(m) if m.contains("ACQ.TRADE_HAS_FINISHED") && m.contains("sm")
        ));
        // Our keys refused: configuration, retried until fixed.
        assert!(matches!(
            classify(&a("40002", "isv.invalid-signature")),
            ProviderError::Transient(m) if m.starts_with("configuration")
        ));
        assert!(matches!(
            classify(&a("40002", "isv.invalid-refund-amount")),
            ProviderError::Permanent(_)
        ));
        assert!(matches!(
            classify(&a("99999", "")),
            ProviderError::Transient(_)
        ));
    }

    #[test]
    fn response_node_is_cut_out_verbatim_and_duplicates_refused() {
        use rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let signer = SigningKey::<Sha256>::new(private.clone());
        let key = VerifyingKey::<Sha256>::new(private.to_public_key());
        // Spacing and member order as sent: re-serializing would change both.
        let node = r#"{ "code":"10000","msg":"Success", "fund_change":"Y" }"#;
        let sign = B64.encode(signer.sign_with_rng(&mut OsRng, node.as_bytes()).to_bytes());
        let body = format!(r#"{{"alipay_trade_refund_response":{node},"sign":"{sign}"}}"#);
        let opened = open_response(&body, "alipay_trade_refund_response", &key).unwrap();
        assert_eq!(opened.content, node);
        assert!(opened.signed);
        let twice = format!(
            r#"{{"alipay_trade_refund_response":{node},"alipay_trade_refund_response":{node},"sign":"{sign}"}}"#
        );
        let e = open_response(&twice, "alipay_trade_refund_response", &key).unwrap_err();
        assert!(matches!(e, ResponseError::Twice(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "member alipay_trade_refund_response appears twice"
        );
        let tampered = body.replace("\"Y\"", "\"N\"");
        let e = open_response(&tampered, "alipay_trade_refund_response", &key).unwrap_err();
        assert!(
            matches!(e, ResponseError::Signature(SignatureError::Mismatch)),
            "{e}"
        );
        assert_eq!(e.to_string(), "signature does not verify");
        let e =
            open_response(&body, "alipay_trade_fastpay_refund_query_response", &key).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no alipay_trade_fastpay_refund_query_response in the response"
        );
    }
}

/// Fuzzing notifications (see `crate::fuzzing`) with a key generated here:
/// a form not signed by Alipay's key is refused before anything in it is
/// read; a signed one reads as what it says (its `out_biz_no`, its
/// `refund_fee` to the fen) or is refused, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{self, cases, mutate_str, mutations, signed_cases, DEFAULT_CASES};
    use proptest::prelude::*;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::rand_core::OsRng;
    use rust_decimal::Decimal;

    const APP_ID: &str = "2021000000000001";
    const NOTIFY_TIME: &str = "2026-11-25 10:31:00";

    fn now() -> DateTime<Utc> {
        parse_time(NOTIFY_TIME).unwrap() + chrono::Duration::minutes(2)
    }

    fn adapter() -> &'static Alipay {
        static ADAPTER: std::sync::OnceLock<Alipay> = std::sync::OnceLock::new();
        ADAPTER.get_or_init(|| {
            let key = fuzzing::rsa_key();
            Alipay::new(&AlipayConfig {
                gateway_url: PRODUCTION_GATEWAY.into(),
                app_id: APP_ID.into(),
                app_private_key: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                alipay_public_key: key
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap(),
                notify_url: None,
                seller_id: Some("2088101117955611".into()),
            })
            .unwrap()
        })
    }

    fn base() -> Vec<(String, String)> {
        [
            ("notify_time", NOTIFY_TIME),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("app_id", APP_ID),
            ("trade_no", "2013112011001004330000121536"),
            ("out_trade_no", "6823789339978248"),
            ("seller_id", "2088101117955611"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "88.00"),
            ("subject", "夏季 T恤 & 短裤=套装"),
            ("body", ""),
            ("out_biz_no", "RF-1"),
            ("refund_fee", "12.34"),
            ("gmt_refund", "2026-11-25 10:30:59.320"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// A change to one parameter.
    #[derive(Debug, Clone)]
    enum Change {
        Value(prop::sample::Index, String),
        Mutate(prop::sample::Index, Vec<fuzzing::Mutation>),
        Remove(prop::sample::Index),
        Add(String, String),
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,20}(\\.[0-9]{0,4})?",
            "-?[0-9]{0,3}\\.?[0-9]{0,3}",
            Just("9223372036854775807".to_string()),
            Just("92233720368547758.07".to_string()),
            Just("+262143-12-31 23:59:59".to_string()),
            Just("-262144-01-01 00:00:00".to_string()),
            "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?",
            Just(String::new()),
            ".{0,20}",
        ]
    }

    fn changes() -> impl Strategy<Value = Vec<Change>> {
        let i = any::<prop::sample::Index>;
        let change = prop_oneof![
            (i(), value()).prop_map(|(i, v)| Change::Value(i, v)),
            (i(), mutations(2)).prop_map(|(i, m)| Change::Mutate(i, m)),
            i().prop_map(Change::Remove),
            (
                prop::sample::select(
                    &[
                        "refund_fee",
                        "gmt_refund",
                        "out_biz_no",
                        "sign_type",
                        "charset",
                        "notify_time"
                    ][..]
                )
                .prop_map(String::from),
                value()
            )
                .prop_map(|(k, v)| Change::Add(k, v)),
        ];
        prop::collection::vec(change, 0..4)
    }

    fn apply(changes: &[Change]) -> Vec<(String, String)> {
        let mut p = base();
        for c in changes {
            match c {
                Change::Value(i, v) if !p.is_empty() => {
                    let k = i.index(p.len());
                    p[k].1 = v.clone();
                }
                Change::Mutate(i, m) if !p.is_empty() => {
                    let k = i.index(p.len());
                    p[k].1 = mutate_str(&p[k].1, m);
                }
                Change::Remove(i) if !p.is_empty() => {
                    p.remove(i.index(p.len()));
                }
                Change::Add(k, v) => p.push((k.clone(), v.clone())),
                _ => {}
            }
        }
        p
    }

    /// What `refund_fee` documents, computed apart: yuan with at most two
    /// decimals, in fen.
    fn fen(fee: &str) -> Option<i64> {
        let ok = fee.split_once('.').map_or(
            !fee.is_empty() && fee.bytes().all(|b| b.is_ascii_digit()),
            |(i, f)| {
                !i.is_empty()
                    && f.len() <= 2
                    && i.bytes().chain(f.bytes()).all(|b| b.is_ascii_digit())
            },
        );
        if !ok {
            return None;
        }
        let d: Decimal = fee.parse().ok()?;
        i64::try_from(d * Decimal::from(100)).ok()
    }

    /// A notice read from `params` says what they say.
    fn check(
        params: &BTreeMap<String, String>,
        result: &Result<ProviderRefund, NotificationError>,
    ) -> Result<(), TestCaseError> {
        let Ok(r) = result else { return Ok(()) };
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        prop_assert_eq!(Some(r.out_refund_no.as_str()), get("out_biz_no"));
        match get("refund_fee") {
            Some(fee) => {
                let expected = fen(fee).map(NoticeAmount::RefundedOnPayment);
                prop_assert!(expected.is_some(), "refund_fee {fee:?} accepted");
                prop_assert_eq!(&r.amount, &expected);
            }
            None => prop_assert_eq!(&r.amount, &None),
        }
        let sent = get("notify_time").and_then(parse_time);
        prop_assert!(sent.is_some_and(|t| notify_time_acceptable(t, now())));
        Ok(())
    }

    #[test]
    fn fuzz_notice_parameters_read_as_written_or_are_refused() {
        fuzzing::run(
            "alipay/read_notice",
            cases(DEFAULT_CASES),
            changes(),
            |changes| {
                let params: BTreeMap<String, String> = apply(&changes).into_iter().collect();
                let result = adapter().read_notice(&params, now());
                if changes.is_empty() {
                    prop_assert!(result.is_ok(), "{result:?}");
                }
                check(&params, &result)
            },
        );
    }

    fn form(params: &[(String, String)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
            .into_bytes()
    }

    #[test]
    fn fuzz_unsigned_notifications_are_refused_before_reading() {
        let strategy = (
            changes(),
            prop_oneof![
                3 => fuzzing::forged_signature().prop_map(Some),
                1 => Just(None),
            ],
            prop_oneof![3 => Just(Vec::new()), 1 => mutations(3)],
            prop_oneof![4 => Just(None), 1 => fuzzing::bytes().prop_map(Some)],
        );
        fuzzing::run(
            "alipay/verify_unsigned",
            cases(DEFAULT_CASES),
            strategy,
            |(changes, sign, bytes, raw)| {
                let mut params = apply(&changes);
                if let Some(s) = sign {
                    params.push(("sign".into(), s));
                }
                let body = raw.unwrap_or_else(|| fuzzing::mutate(&form(&params), &bytes));
                let result = adapter().verify(
                    &Incoming {
                        headers: &[],
                        body: &body,
                    },
                    now(),
                );
                prop_assert!(
                    matches!(&result, Err(NotificationError::BadSignature(_)))
                        || matches!(&result, Err(NotificationError::Malformed(m)) if m.starts_with("charset")),
                    "{result:?}"
                );
                Ok(())
            },
        );
    }

    #[test]
    fn fuzz_signed_notifications_read_as_signed_or_are_refused() {
        let signer = SigningKey::<Sha256>::new(fuzzing::rsa_key().clone());
        let strategy = (
            changes(),
            prop_oneof![4 => Just(Vec::new()), 1 => mutations(2)],
        );
        fuzzing::run(
            "alipay/verify_signed",
            signed_cases(32),
            strategy,
            |(changes, tamper)| {
                let mut params = apply(&changes);
                let content =
                    notification_sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let sign = B64.encode(
                    signer
                        .sign_with_rng(&mut OsRng, content.as_bytes())
                        .to_bytes(),
                );
                params.push(("sign".into(), sign));
                let body = form(&params);
                let sent = fuzzing::mutate(&body, &tamper);
                let result = adapter().verify(
                    &Incoming {
                        headers: &[],
                        body: &sent,
                    },
                    now(),
                );
                let read: BTreeMap<String, String> =
                    form_urlencoded::parse(&sent).into_owned().collect();
                let distinct = read.len() == form_urlencoded::parse(&sent).count();
                if sent == body && distinct {
                    let charset_ok = read.get("charset").is_none_or(|c| {
                        c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8")
                    });
                    let type_ok = read.get("sign_type").is_none_or(|t| t == "RSA2");
                    if charset_ok && type_ok {
                        prop_assert_eq!(&result, &adapter().read_notice(&read, now()));
                    }
                }
                check(&read, &result)
            },
        );
    }
}
