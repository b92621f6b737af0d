//! The voucher issuer's HTTP API: `GET {base_url}/v1/vouchers/{code}` with
//! `merchant_id`, `nonce` and `timestamp` in the query, signed in the
//! `X-Signature` header ([`super::sign`] over the method, the path and the
//! sorted query string). The issuer answers
//! `{"code": "…", "status": "unused" | "redeemed", "redeemed_at": "…"}`,
//! signed the same way over `X-Timestamp` and the body; an answer whose
//! signature does not verify is not believed.
//!
//! Configuration comes from `VOUCHER_ISSUER_CONFIG` (JSON, see
//! [`IssuerConfig`]), filled from Secrets Manager in the cloud; nothing
//! secret is in the repository.

use super::{sign, verify, VoucherError, VoucherIssuer};
use crate::domain::voucher::VoucherState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The environment variable holding the JSON configuration.
pub const CONFIG_VAR: &str = "VOUCHER_ISSUER_CONFIG";
/// How far an answer's timestamp may be from our clock.
const ANSWER_SKEW_SECS: i64 = 300;

/// `VOUCHER_ISSUER_CONFIG`, e.g.
/// `{"base_url":"https://issuer.example","merchant_id":"…","secret":"…"}`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    pub base_url: String,
    pub merchant_id: String,
    /// Shared with the issuer: signs our queries and its answers.
    pub secret: String,
}

impl fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerConfig")
            .field("base_url", &self.base_url)
            .field("merchant_id", &self.merchant_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A configuration that cannot work, or `VOUCHER_ISSUER_CONFIG` unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("voucher issuer configuration: {0}")]
pub struct ConfigError(pub String);

pub struct HttpVouchers {
    config: IssuerConfig,
    http: reqwest::Client,
}

impl fmt::Debug for HttpVouchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpVouchers")
            .field("config", &self.config)
            .finish()
    }
}

#[derive(Deserialize)]
struct Answer {
    code: String,
    status: String,
    #[serde(default)]
    redeemed_at: Option<DateTime<Utc>>,
}

impl HttpVouchers {
    pub fn new(config: &IssuerConfig) -> Result<Self, ConfigError> {
        if config.merchant_id.trim().is_empty() || config.secret.trim().is_empty() {
            return Err(ConfigError("merchant_id and secret must be set".into()));
        }
        let (base_url, http) =
            crate::providers::partner_client(&config.base_url, Duration::from_secs(10))
                .map_err(ConfigError)?;
        let mut config = config.clone();
        config.base_url = base_url;
        Ok(HttpVouchers { config, http })
    }

    /// The adapter configured by `VOUCHER_ISSUER_CONFIG`'s text (the variable's or its
    /// secret's, see `crate::lambda_secrets`); None when absent or blank. A
    /// configuration present but wrong is an error before the first call.
    pub fn from_config(text: Option<&str>) -> Result<Option<Self>, ConfigError> {
        match text {
            Some(v) if !v.trim().is_empty() => {
                let c: IssuerConfig = serde_json::from_str(v)
                    .map_err(|e| ConfigError(format!("{CONFIG_VAR}: {e}")))?;
                HttpVouchers::new(&c).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// The query string, keys sorted: the signature is over this exact text.
pub fn query_string(merchant_id: &str, nonce: &str, timestamp: i64) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("merchant_id", merchant_id)
        .append_pair("nonce", nonce)
        .append_pair("timestamp", &timestamp.to_string())
        .finish()
}

#[async_trait]
impl VoucherIssuer for HttpVouchers {
    async fn status(&self, code: &str) -> Result<VoucherState, VoucherError> {
        if code.is_empty()
            || !code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(VoucherError::Permanent(format!(
                "not a voucher code: {code:?}"
            )));
        }
        let path = format!("/v1/vouchers/{code}");
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let query = query_string(&self.config.merchant_id, &nonce, Utc::now().timestamp());
        let secret = self.config.secret.as_bytes();
        let signature = sign(secret, &[b"GET", path.as_bytes(), query.as_bytes()]);
        let resp = self
            .http
            .get(format!("{}{path}?{query}", self.config.base_url))
            .header("x-signature", signature)
            .send()
            .await
            .map_err(|e| VoucherError::Transient(format!("issuer unreachable: {e}")))?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (ts, sig) = (header("x-timestamp"), header("x-signature"));
        let body = resp
            .bytes()
            .await
            .map_err(|e| VoucherError::Transient(format!("issuer answer unreadable: {e}")))?;
        match status.as_u16() {
            200 => {}
            404 => return Err(VoucherError::Unknown(code.to_owned())),
            408 | 429 | 500..=599 => {
                return Err(VoucherError::Transient(format!("issuer HTTP {status}")))
            }
            _ => return Err(VoucherError::Permanent(format!("issuer HTTP {status}"))),
        }
        let (Some(ts), Some(sig)) = (ts, sig) else {
            return Err(VoucherError::Permanent("answer without a signature".into()));
        };
        if !verify(secret, &[ts.as_bytes(), &body], &sig) {
            return Err(VoucherError::Permanent(
                "answer signature does not verify".into(),
            ));
        }
        let fresh = ts
            .parse::<i64>()
            .is_ok_and(|t| (Utc::now().timestamp() - t).abs() <= ANSWER_SKEW_SECS);
        if !fresh {
            return Err(VoucherError::Permanent(
                "answer timestamp out of range".into(),
            ));
        }
        let a: Answer = serde_json::from_slice(&body)
            .map_err(|e| VoucherError::Permanent(format!("answer unreadable: {e}")))?;
        if a.code != code {
            return Err(VoucherError::Permanent(format!(
                "answer about {} for {code}",
                a.code
            )));
        }
        match a.status.as_str() {
            "unused" => Ok(VoucherState::Unused),
            "redeemed" => Ok(VoucherState::Redeemed { at: a.redeemed_at }),
            other => Err(VoucherError::Permanent(format!("unknown status {other:?}"))),
        }
    }
}
