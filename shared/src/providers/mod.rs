//! Payment providers: where refunds are sent and where their results come
//! back from. One port ([`RefundProvider`] for the calls we make,
//! [`NotificationVerifier`] for the webhooks they post), one adapter per
//! provider, each speaking the provider's real protocol with real
//! cryptography:
//!
//! - `wechat`: WeChat Pay API v3 domestic refunds (WECHATPAY2-SHA256-RSA2048
//!   signed requests, platform-signed and AEAD_AES_256_GCM-encrypted
//!   notifications);
//! - `alipay`: `alipay.trade.refund` / `alipay.trade.fastpay.refund.query`
//!   with RSA2 over the sorted parameters, and its async notifications;
//! - `alipay_payout`: payouts to a bank card the customer confirmed
//!   (`alipay.fund.trans.uni.transfer` / `alipay.fund.trans.common.query`,
//!   `TRANS_BANKCARD_NO_PWD`), signed like `alipay`, and its
//!   `alipay.fund.trans.order.changed` notifications;
//! - `stripe`: card refunds in the Stripe style (Idempotency-Key, refund
//!   statuses, `Stripe-Signature` webhooks with a timestamp tolerance);
//! - `sandbox`: the one-machine stand-in, succeeding (or failing on
//!   request) and posting its own signed notification.
//!
//! Every adapter uses the out-refund number as the provider's idempotency
//! key, so sending the same refund twice moves money once.

use crate::domain::money::{Currency, Money};
use crate::domain::order::PaymentChannel;
use crate::domain::refund::BankCard;
pub use crate::domain::refund::NoticeAmount;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "providers")]
pub mod alipay;
#[cfg(feature = "providers")]
pub mod alipay_payout;
pub mod sandbox;
#[cfg(feature = "providers")]
pub mod stripe;
#[cfg(feature = "providers")]
pub mod wechat;
pub use sandbox::ProviderSet;

/// Webhook signatures in the Stripe style, shared by the Stripe adapter and
/// the sandbox: a header `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "t.body">` (several `v1` while a secret rolls over), accepted within a
/// tolerance of now either way.
pub mod timestamped {
    use super::NotificationError;
    use chrono::{DateTime, Utc};
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// hex(HMAC-SHA256(secret, "t.body")): the `v1` of a header.
    pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    }

    /// The timestamp and every `v1` of a header. Two timestamps, or none,
    /// or no `v1` are refused; a `v1` that is not hex can never match and
    /// is skipped; other schemes (`v0`) are not accepted.
    pub fn parse(header: &str) -> Result<(i64, Vec<Vec<u8>>), NotificationError> {
        let mut t = None;
        let mut v1 = Vec::new();
        for item in header.split(',') {
            let Some((key, value)) = item.trim().split_once('=') else {
                continue;
            };
            match key {
                "t" => {
                    let parsed = value.parse::<i64>().map_err(|_| {
                        NotificationError::BadSignature(format!("timestamp {value} unreadable"))
                    })?;
                    if t.replace(parsed).is_some() {
                        return Err(NotificationError::BadSignature("two timestamps".into()));
                    }
                }
                "v1" => v1.extend(hex::decode(value).ok()),
                _ => {}
            }
        }
        let t = t.ok_or_else(|| NotificationError::BadSignature("no timestamp".into()))?;
        if v1.is_empty() {
            return Err(NotificationError::BadSignature("no v1 signature".into()));
        }
        Ok((t, v1))
    }

    /// Checks a header against `body`: a `v1` must match (compared in
    /// constant time), then the timestamp must be within `tolerance_secs`
    /// of `now`.
    pub fn verify(
        secret: &[u8],
        header: &str,
        body: &[u8],
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), NotificationError> {
        let (t, candidates) = parse(header)?;
        let expected = mac(secret, t, body);
        if !candidates
            .iter()
            .any(|c| expected.clone().verify_slice(c).is_ok())
        {
            return Err(NotificationError::BadSignature(
                "no v1 signature matches".into(),
            ));
        }
        let age = now.timestamp().saturating_sub(t);
        if age.unsigned_abs() > tolerance_secs.unsigned_abs() {
            return Err(NotificationError::Stale(format!(
                "signed at {t}, {age} s from now"
            )));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn header_parsing() {
            let (t, v) = parse("t=12,v1=00ff,v0=abcd,v1=zz,v1=01").unwrap();
            assert_eq!(t, 12);
            assert_eq!(v, vec![vec![0, 255], vec![1]]);
            assert!(parse("v1=00").is_err());
            assert!(parse("t=1,v0=00").is_err());
            assert!(parse("t=x,v1=00").is_err());
            assert!(parse("t=1,t=2,v1=00").is_err());
        }
    }
}

/// reqwest is built here without a TLS crypto provider of its own, so that
/// it uses the aws-lc-rs the AWS SDK already links; that provider has to be
/// the process default before any reqwest client is built. Idempotent.
#[cfg(feature = "providers")]
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A partner API's base URL (http or https, without its trailing slash)
/// and the client the partner adapters (courier, voucher issuer,
/// installer) call it with: TLS from the process-wide provider, 5 s to
/// connect, `timeout` in all. The error is the message of the adapter's
/// configuration error.
#[cfg(feature = "providers")]
pub fn partner_client(
    base_url: &str,
    timeout: std::time::Duration,
) -> Result<(String, reqwest::Client), String> {
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(format!("base_url {base_url:?} is not an http(s) URL"));
    }
    install_crypto_provider();
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    Ok((base_url.trim_end_matches('/').to_string(), http))
}

/// One refund, as a provider needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// Ours, stable across retries: the provider's idempotency key
    /// (WeChat `out_refund_no`, Alipay `out_request_no`, Stripe
    /// `Idempotency-Key`).
    pub out_refund_no: String,
    /// The provider's id of the original payment (WeChat `transaction_id`,
    /// Alipay `trade_no`, Stripe payment intent).
    pub provider_txn_id: String,
    /// What to refund, in the payment's currency.
    pub amount: Money,
    /// The original payment (WeChat requires it).
    pub payment_total: Money,
    /// Shown to the customer by some providers; short.
    pub reason: String,
    /// Where the provider posts its notification, when it takes one per
    /// request (WeChat `notify_url`, Alipay `notify_url`).
    pub notify_url: Option<String>,
    /// The card a bank-card payout goes to (the refund's `payee`); None
    /// on the other routes. Only the payout adapter reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<BankCard>,
}

impl RefundRequest {
    /// The currency of the refund (the payment's).
    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }

    /// The refund and the payment in minor units of the refund's currency,
    /// as providers take them on the wire. A payment in another currency
    /// than its refund is refused for good.
    pub fn minor_units(&self) -> Result<(i64, i64), ProviderError> {
        let total = self
            .payment_total
            .minor_in(self.currency())
            .map_err(|e| ProviderError::Permanent(format!("payment_total: {e}")))?;
        Ok((self.amount.minor(), total))
    }
}

/// Where a refund stands at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ProviderState {
    /// Accepted; the money is on its way (the result comes by notification
    /// or query).
    Processing,
    Succeeded {
        at: Option<DateTime<Utc>>,
    },
    /// Will not happen; `reason` is the provider's, for staff.
    Failed {
        reason: String,
    },
}

/// What a provider said about one refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRefund {
    pub out_refund_no: String,
    /// The provider's own refund id, once it has one.
    pub provider_refund_id: Option<String>,
    pub state: ProviderState,
    /// Where the money goes back, as the provider names it (e.g. WeChat
    /// `user_received_account`: "招商银行信用卡0403"), for the timeline.
    pub received_account: Option<String>,
    /// How much the provider says was refunded, when it says (a
    /// notification always does; see [`NoticeAmount`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<NoticeAmount>,
    /// The merchant account the provider addressed this to, in the form
    /// of [`NotificationVerifier::account`] (e.g. `mchid=1900000109`),
    /// when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Why a call to a provider did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Try again later (network, timeout, 5xx, rate limit, the provider's
    /// "system busy"): the same request with the same out-refund number is
    /// safe to repeat.
    #[error("temporary provider failure: {0}")]
    Transient(String),
    /// The provider refused the request for good (bad parameters, not
    /// enough balance, the payment is too old to refund...). The reason is
    /// the provider's, shown to staff.
    #[error("provider refused: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait RefundProvider: Send + Sync {
    fn channel(&self) -> PaymentChannel;
    /// Asks for the refund. Idempotent by `out_refund_no`.
    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError>;
    /// The refund's state at the provider; None when the provider does not
    /// know this out-refund number.
    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError>;
}

/// A webhook as it arrived: headers (lower-case names) and the raw body.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Incoming<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a notification is refused. Nothing is changed for a refused one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// Missing or wrong signature, unknown key or certificate serial.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Signed too long ago (or in the future): a possible replay.
    #[error("stale notification: {0}")]
    Stale(String),
    /// Signed correctly but not understood (cannot decrypt, bad JSON).
    #[error("malformed notification: {0}")]
    Malformed(String),
    /// A verified notification about something other than a refund result
    /// (e.g. a payment event); acknowledged and ignored.
    #[error("not a refund notification: {0}")]
    NotARefund(String),
}

/// What the provider expects as the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Checks and reads a provider's notifications.
pub trait NotificationVerifier: Send + Sync {
    fn channel(&self) -> PaymentChannel;
    /// The channels whose refunds this provider's notices may settle: its
    /// own (the sandbox stands in for several).
    fn channels(&self) -> Vec<PaymentChannel> {
        vec![self.channel()]
    }
    /// The merchant account this adapter is configured as, in the form
    /// [`verify`](Self::verify) writes a notice's
    /// [`ProviderRefund::account`]: a notice addressed to another account
    /// is authentic but not ours to act on. None: the protocol names no
    /// account for ours (a Stripe platform account, the sandbox).
    fn account(&self) -> Option<String>;
    /// Verifies the signature (and freshness) first, then decrypts/parses.
    /// Whose notice it is and how much it says are read, not judged: the
    /// refund it names decides (`Refund::notice_mismatch`).
    fn verify(
        &self,
        incoming: &Incoming<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError>;
    /// The answer for a notification handled (or safely ignored).
    fn ack(&self) -> Ack;
    /// The answer for a refused one (the provider will retry).
    fn nack(&self, e: &NotificationError) -> Ack;
}

/// Webhook verifiers by provider name (the webhook path's last segment).
pub type Verifiers = Vec<(String, std::sync::Arc<dyn NotificationVerifier>)>;

/// The real providers a deployment is configured with: each provider's
/// JSON configuration ([`wechat::WechatPayConfig`],
/// [`alipay::AlipayConfig`], [`alipay_payout::AlipayPayoutConfig`],
/// [`stripe::StripeConfig`]), from the environment
/// ([`ProviderConfigs::from_env`]; on Lambda also the secrets they name,
/// `crate::lambda_secrets`) or, on the runner, also from a file holding `{"wechat_pay": {...},
/// "alipay": {...}, "alipay_payout": {...}, "stripe": {...}}` (any of them).
/// A provider that is not configured is simply absent.
#[cfg(feature = "providers")]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfigs {
    #[serde(default)]
    pub wechat_pay: Option<wechat::WechatPayConfig>,
    #[serde(default)]
    pub alipay: Option<alipay::AlipayConfig>,
    /// Payouts to bank cards (the `bank_card` refund route).
    #[serde(default)]
    pub alipay_payout: Option<alipay_payout::AlipayPayoutConfig>,
    #[serde(default)]
    pub stripe: Option<stripe::StripeConfig>,
}

/// Why the real providers' configuration cannot be used: the deployment
/// (or the runner) does not start rather than send refunds with keys nobody
/// chose.
#[cfg(feature = "providers")]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds something that is not its provider's JSON
    /// configuration.
    #[error("{var}: {source}")]
    Unreadable {
        var: &'static str,
        source: serde_json::Error,
    },
    /// Both sources configure this provider (see [`ProviderConfigs::merge`]).
    #[error("{0} is configured twice")]
    Twice(&'static str),
    #[error("wechat_pay: {0}")]
    WechatPay(#[source] wechat::ConfigError),
    #[error("alipay: {0}")]
    Alipay(#[source] alipay::ConfigError),
    #[error("alipay_payout: {0}")]
    AlipayPayout(#[source] alipay::ConfigError),
    #[error("stripe: {0}")]
    Stripe(#[source] stripe::ConfigError),
}

#[cfg(feature = "providers")]
impl ProviderConfigs {
    /// The variables, each one provider's JSON: `WECHATPAY_CONFIG`,
    /// `ALIPAY_CONFIG`, `ALIPAY_PAYOUT_CONFIG`, `STRIPE_CONFIG`.
    pub const VARS: [&'static str; 4] = [
        "WECHATPAY_CONFIG",
        "ALIPAY_CONFIG",
        "ALIPAY_PAYOUT_CONFIG",
        "STRIPE_CONFIG",
    ];

    /// [`VARS`](Self::VARS) from the process environment; unset or blank:
    /// that provider is off.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|var| std::env::var(var).ok())
    }

    /// [`VARS`](Self::VARS) as `value` gives them: the environment, or on
    /// Lambda the secrets they name (`crate::lambda_secrets`).
    pub fn from_vars(value: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        fn config<T: serde::de::DeserializeOwned>(
            value: &dyn Fn(&'static str) -> Option<String>,
            var: &'static str,
        ) -> Result<Option<T>, ConfigError> {
            match value(var) {
                Some(v) if !v.trim().is_empty() => serde_json::from_str(&v)
                    .map(Some)
                    .map_err(|source| ConfigError::Unreadable { var, source }),
                _ => Ok(None),
            }
        }
        let [wechat, alipay, payout, stripe] = Self::VARS;
        Ok(ProviderConfigs {
            wechat_pay: config(&value, wechat)?,
            alipay: config(&value, alipay)?,
            alipay_payout: config(&value, payout)?,
            stripe: config(&value, stripe)?,
        })
    }

    /// Both sources together. A provider configured in both is an error:
    /// which one was meant cannot be guessed, and silently preferring one
    /// would send real refunds with keys nobody chose.
    pub fn merge(self, other: ProviderConfigs) -> Result<Self, ConfigError> {
        fn one<T>(
            name: &'static str,
            a: Option<T>,
            b: Option<T>,
        ) -> Result<Option<T>, ConfigError> {
            match (a, b) {
                (Some(_), Some(_)) => Err(ConfigError::Twice(name)),
                (a, b) => Ok(a.or(b)),
            }
        }
        Ok(ProviderConfigs {
            wechat_pay: one("wechat_pay", self.wechat_pay, other.wechat_pay)?,
            alipay: one("alipay", self.alipay, other.alipay)?,
            alipay_payout: one("alipay_payout", self.alipay_payout, other.alipay_payout)?,
            stripe: one("stripe", self.stripe, other.stripe)?,
        })
    }

    /// The adapters: refund providers by channel and webhook verifiers by
    /// name (`/v1/webhooks/{name}`). One configured wrongly is an error at
    /// start, not at the first refund.
    pub fn build(&self) -> Result<(ProviderSet, Verifiers), ConfigError> {
        use std::sync::Arc;
        let mut set = ProviderSet::default();
        let mut verifiers: Verifiers = Vec::new();
        if let Some(c) = &self.wechat_pay {
            let p = Arc::new(wechat::WechatPay::new(c).map_err(ConfigError::WechatPay)?);
            set = set.with(PaymentChannel::WechatPay, p.clone());
            verifiers.push(("wechat_pay".into(), p));
        }
        if let Some(c) = &self.alipay {
            let p = Arc::new(alipay::Alipay::new(c).map_err(ConfigError::Alipay)?);
            set = set.with(PaymentChannel::Alipay, p.clone());
            verifiers.push(("alipay".into(), p));
        }
        if let Some(c) = &self.alipay_payout {
            let p =
                Arc::new(alipay_payout::AlipayPayout::new(c).map_err(ConfigError::AlipayPayout)?);
            set = set.with(PaymentChannel::BankCard, p.clone());
            verifiers.push((alipay_payout::WEBHOOK.into(), p));
        }
        if let Some(c) = &self.stripe {
            let p = Arc::new(stripe::Stripe::new(c).map_err(ConfigError::Stripe)?);
            set = set.with(PaymentChannel::Card, p.clone());
            verifiers.push(("stripe".into(), p));
        }
        Ok((set, verifiers))
    }
}

#[cfg(all(test, feature = "providers"))]
mod tests {
    use super::*;

    fn stripe(secret_key: &str) -> stripe::StripeConfig {
        stripe::StripeConfig {
            api_base: stripe::API_BASE.into(),
            secret_key: secret_key.into(),
            webhook_secret: "whsec_test".into(),
            account: None,
        }
    }

    #[test]
    fn configuration_errors_name_the_provider() {
        let twice = ProviderConfigs {
            stripe: Some(stripe("sk_test_1")),
            ..Default::default()
        }
        .merge(ProviderConfigs {
            stripe: Some(stripe("sk_test_2")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(twice, ConfigError::Twice("stripe")));
        assert_eq!(twice.to_string(), "stripe is configured twice");

        let e = ProviderConfigs {
            stripe: Some(stripe("")),
            ..Default::default()
        }
        .build()
        .err()
        .expect("an empty secret key is refused");
        assert_eq!(
            e.to_string(),
            "stripe: stripe configuration: secret_key is empty"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
