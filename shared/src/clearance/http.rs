//! The clearance service's HTTP API: `GET {base_url}/v1/declarations/{no}`
//! with `merchant_id` in the query, signed (`x-clearance-signature`:
//! [`crate::partner_signature`] over the method, the path, the query,
//! `x-clearance-timestamp` and `x-clearance-nonce`). The service answers
//! with the [`Report`] of the declaration, signed over its own timestamp,
//! the query's nonce and the body ([`Signed`]); an answer that does not
//! verify, or is about another declaration, is not believed.
//!
//! Configuration comes from `CLEARANCE_CONFIG` (JSON, see
//! [`ClearanceConfig`]), read from Secrets Manager in the cloud; nothing
//! secret is in the repository. The same secret checks the service's
//! pushes.

use super::{
    ClearanceError, ClearanceService, Report, Signed, NONCE_HEADER, QUERY_PATH, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use crate::domain::crossborder::Clearance;
use async_trait::async_trait;
use chrono::Utc;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The environment variable holding the JSON configuration.
pub const CONFIG_VAR: &str = "CLEARANCE_CONFIG";

/// `CLEARANCE_CONFIG`, e.g.
/// `{"base_url":"https://broker.example","merchant_id":"…","secret":"…"}`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearanceConfig {
    pub base_url: String,
    pub merchant_id: String,
    /// Shared with the service: signs our queries, its answers and pushes.
    pub secret: String,
}

impl fmt::Debug for ClearanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClearanceConfig")
            .field("base_url", &self.base_url)
            .field("merchant_id", &self.merchant_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A configuration that cannot work, or `CLEARANCE_CONFIG` unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("clearance service configuration: {0}")]
pub struct ConfigError(pub String);

pub struct HttpClearance {
    config: ClearanceConfig,
    http: reqwest::Client,
}

impl fmt::Debug for HttpClearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClearance")
            .field("config", &self.config)
            .finish()
    }
}

impl HttpClearance {
    pub fn new(config: &ClearanceConfig) -> Result<Self, ConfigError> {
        if config.merchant_id.trim().is_empty() || config.secret.trim().is_empty() {
            return Err(ConfigError("merchant_id and secret must be set".into()));
        }
        let (base_url, http) =
            crate::providers::partner_client(&config.base_url, Duration::from_secs(10))
                .map_err(ConfigError)?;
        let mut config = config.clone();
        config.base_url = base_url;
        Ok(HttpClearance { config, http })
    }

    /// The adapter configured by `CLEARANCE_CONFIG`'s text (the variable's or its
    /// secret's, see `crate::lambda_secrets`); None when absent or blank. A
    /// configuration present but wrong is an error before the first call.
    pub fn from_config(text: Option<&str>) -> Result<Option<Self>, ConfigError> {
        match text {
            Some(v) if !v.trim().is_empty() => {
                let c: ClearanceConfig = serde_json::from_str(v)
                    .map_err(|e| ConfigError(format!("{CONFIG_VAR}: {e}")))?;
                HttpClearance::new(&c).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The secret the service's pushes are signed with.
    pub fn push_secret(&self) -> &[u8] {
        self.config.secret.as_bytes()
    }
}

#[async_trait]
impl ClearanceService for HttpClearance {
    async fn status(&self, declaration_no: &str) -> Result<Clearance, ClearanceError> {
        // It becomes a path segment: nothing that could leave it.
        if declaration_no.is_empty()
            || declaration_no.len() > 64
            || !declaration_no
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ClearanceError::Permanent(format!(
                "not a declaration number: {declaration_no:?}"
            )));
        }
        let path = format!("{QUERY_PATH}{declaration_no}");
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("merchant_id", &self.config.merchant_id)
            .finish();
        let secret = self.config.secret.as_bytes();
        let asked = Signed::new(
            secret,
            format!("GET\n{path}\n{query}").as_bytes(),
            Utc::now(),
        );
        let resp = self
            .http
            .get(format!("{}{path}?{query}", self.config.base_url))
            .header(TIMESTAMP_HEADER, &asked.timestamp)
            .header(NONCE_HEADER, &asked.nonce)
            .header(SIGNATURE_HEADER, &asked.signature)
            .send()
            .await
            .map_err(|e| ClearanceError::Transient(format!("service unreachable: {e}")))?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let answer = Signed {
            timestamp: header(TIMESTAMP_HEADER),
            nonce: asked.nonce.clone(),
            signature: header(SIGNATURE_HEADER),
        };
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClearanceError::Transient(format!("answer unreadable: {e}")))?;
        match status.as_u16() {
            200 => {}
            404 => return Err(ClearanceError::Unknown(declaration_no.to_owned())),
            408 | 429 | 500..=599 => {
                return Err(ClearanceError::Transient(format!("service HTTP {status}")))
            }
            _ => return Err(ClearanceError::Permanent(format!("service HTTP {status}"))),
        }
        // The answer must be the service's, to this query.
        answer
            .check(secret, &body, Utc::now())
            .map_err(|e| ClearanceError::Permanent(format!("answer: {e}")))?;
        let report: Report = serde_json::from_slice(&body)
            .map_err(|e| ClearanceError::Permanent(format!("answer unreadable: {e}")))?;
        report
            .clearance(Some(declaration_no))
            .map_err(|e| ClearanceError::Permanent(format!("answer: {e}")))
    }
}
