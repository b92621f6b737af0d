//! The installer network's HTTP API: `GET /v1/installations?shop_id=…&
//! order_id=…&line_id=…`, signed with the shared secret
//! (`X-Installer-Signature`: HMAC-SHA256 over method, path, the sorted
//! query, `X-Installer-Timestamp` and `X-Installer-Nonce`); the answer is
//! signed the same way over its own timestamp, the request's nonce and its
//! body, and is not believed unless it verifies.
//!
//! Configuration comes from `INSTALLER_CONFIG` (JSON, see
//! [`InstallerConfig`]), filled from Secrets Manager in the cloud; nothing
//! secret is in the repository.

use super::{sign, verify, InstallerError, InstallerRecords, QueryAnswer, QUERY_PATH};
use crate::domain::appliance::InstallationRecord;
use async_trait::async_trait;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The environment variable holding the JSON configuration.
pub const CONFIG_VAR: &str = "INSTALLER_CONFIG";

/// `INSTALLER_CONFIG`, e.g. `{"app_id":"…","secret":"…","base_url":"https://…"}`.
#[derive(Clone, Deserialize)]
pub struct InstallerConfig {
    pub app_id: String,
    /// Shared with the installer network: signs both ways.
    pub secret: String,
    /// Without the path; tests point it at a local double.
    pub base_url: String,
}

impl fmt::Debug for InstallerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallerConfig")
            .field("app_id", &self.app_id)
            .field("secret", &"<redacted>")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("installer configuration: {0}")]
pub struct ConfigError(pub String);

/// The HTTP adapter.
pub struct HttpInstaller {
    config: InstallerConfig,
    http: reqwest::Client,
}

impl fmt::Debug for HttpInstaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpInstaller")
            .field("config", &self.config)
            .finish()
    }
}

/// The query string as signed: keys sorted, values form-encoded.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort_unstable();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(sorted)
        .finish()
}

impl HttpInstaller {
    pub fn new(config: &InstallerConfig) -> Result<Self, ConfigError> {
        for (name, value) in [("app_id", &config.app_id), ("secret", &config.secret)] {
            if value.trim().is_empty() {
                return Err(ConfigError(format!("{name} is empty")));
            }
        }
        let (base_url, http) =
            crate::providers::partner_client(&config.base_url, Duration::from_secs(15))
                .map_err(ConfigError)?;
        let mut config = config.clone();
        config.base_url = base_url;
        Ok(HttpInstaller { config, http })
    }

    /// The adapter configured by `INSTALLER_CONFIG`'s text (the variable's or its
    /// secret's, see `crate::lambda_secrets`); None when absent or blank. A
    /// configuration present but wrong is an error before the first call.
    pub fn from_config(text: Option<&str>) -> Result<Option<Self>, ConfigError> {
        match text {
            Some(v) if !v.trim().is_empty() => {
                let c: InstallerConfig = serde_json::from_str(v)
                    .map_err(|e| ConfigError(format!("{CONFIG_VAR}: {e}")))?;
                HttpInstaller::new(&c).map(Some)
            }
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl InstallerRecords for HttpInstaller {
    async fn installations(
        &self,
        shop_id: &str,
        order_id: &str,
        line_id: &str,
    ) -> Result<Vec<InstallationRecord>, InstallerError> {
        let query = canonical_query(&[
            ("line_id", line_id),
            ("order_id", order_id),
            ("shop_id", shop_id),
        ]);
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = sign(
            &self.config.secret,
            &["GET", QUERY_PATH, &query, &timestamp, &nonce],
        );
        let resp = self
            .http
            .get(format!("{}{QUERY_PATH}?{query}", self.config.base_url))
            .header("x-installer-app", &self.config.app_id)
            .header("x-installer-timestamp", &timestamp)
            .header("x-installer-nonce", &nonce)
            .header("x-installer-signature", signature)
            .send()
            .await
            .map_err(|e| InstallerError::Transient(format!("installer unreachable: {e}")))?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (answer_ts, answer_sig) = (
            header("x-installer-timestamp"),
            header("x-installer-signature"),
        );
        let body = resp
            .text()
            .await
            .map_err(|e| InstallerError::Transient(format!("installer answer unreadable: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(InstallerError::Transient(format!(
                "installer HTTP {status}"
            )));
        }
        if status.as_u16() == 404 {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            return Err(InstallerError::Permanent(format!(
                "installer HTTP {status}"
            )));
        }
        // The answer must be the network's, for this request.
        if !verify(
            &self.config.secret,
            &[&answer_ts, &nonce, &body],
            &answer_sig,
        ) {
            return Err(InstallerError::Permanent(
                "installer answer signature does not verify".into(),
            ));
        }
        let answer: QueryAnswer = serde_json::from_str(&body)
            .map_err(|e| InstallerError::Permanent(format!("installer answer: {e}")))?;
        // Only what was asked for: another line's record is no evidence.
        Ok(answer
            .installations
            .into_iter()
            .filter(|r| r.line_id == line_id)
            .collect())
    }
}
