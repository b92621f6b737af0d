//! The Kuaidi100 adapter (PROTOCOLS.md §4): real-time queries
//! (`/poll/query.do`, signed `UPPER(MD5(param + key + customer))`) and push
//! subscriptions (`/poll`, authenticated by the key inside `param`; pushes
//! come back signed with our salt and are read by
//! [`verify_push`](super::verify_push)).
//!
//! Configuration comes from `KUAIDI100_CONFIG` (JSON, see
//! [`Kuaidi100Config`]), filled from Secrets Manager in the cloud; nothing
//! secret is in the repository.

use super::{md5_sign, CourierError, CourierTracker, Record};
use crate::domain::tracking::{Carrier, TrackingNumber, TrackingSnapshot};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

pub const DEFAULT_BASE_URL: &str = "https://poll.kuaidi100.com";
/// The environment variable holding the JSON configuration.
pub const CONFIG_VAR: &str = "KUAIDI100_CONFIG";

/// `KUAIDI100_CONFIG`, e.g.
/// `{"customer":"…","key":"…","salt":"…","callback_url":"https://…/webhooks/kuaidi100"}`.
#[derive(Clone, Deserialize)]
pub struct Kuaidi100Config {
    /// The account's `customer` id (query signing).
    pub customer: String,
    /// The authorisation key (query signing, subscriptions).
    pub key: String,
    /// Ours: Kuaidi100 signs pushes with it. Random, kept secret.
    pub salt: String,
    /// Without the path; tests point it at a local double.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Where pushes should go, for the caller that subscribes.
    #[serde(default)]
    pub callback_url: Option<String>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

impl fmt::Debug for Kuaidi100Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kuaidi100Config")
            .field("customer", &self.customer)
            .field("key", &"<redacted>")
            .field("salt", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("callback_url", &self.callback_url)
            .finish()
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kuaidi100 configuration: {0}")]
pub struct ConfigError(pub String);

/// Why `KUAIDI100_CONFIG` is set but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvConfigError {
    /// Not the JSON of a [`Kuaidi100Config`].
    #[error("{var}: {0}", var = CONFIG_VAR)]
    Unreadable(#[source] serde_json::Error),
    #[error("{var}: {0}", var = CONFIG_VAR)]
    Invalid(#[source] ConfigError),
}

/// The Kuaidi100 adapter.
pub struct Kuaidi100 {
    config: Kuaidi100Config,
    http: reqwest::Client,
}

impl fmt::Debug for Kuaidi100 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kuaidi100")
            .field("config", &self.config)
            .finish()
    }
}

impl Kuaidi100 {
    pub fn new(config: &Kuaidi100Config) -> Result<Self, ConfigError> {
        for (name, value) in [
            ("customer", &config.customer),
            ("key", &config.key),
            ("salt", &config.salt),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError(format!("{name} is empty")));
            }
        }
        let (base_url, http) =
            crate::providers::partner_client(&config.base_url, Duration::from_secs(15))
                .map_err(ConfigError)?;
        let mut config = config.clone();
        config.base_url = base_url;
        Ok(Kuaidi100 { config, http })
    }

    /// The adapter configured by `KUAIDI100_CONFIG`'s text (the variable's
    /// or its secret's, see `crate::lambda_secrets`); None when absent or
    /// blank. A configuration that is present but wrong is an error before
    /// the first parcel.
    pub fn from_config(text: Option<&str>) -> Result<Option<Self>, EnvConfigError> {
        match text {
            Some(v) if !v.trim().is_empty() => {
                let c: Kuaidi100Config =
                    serde_json::from_str(v).map_err(EnvConfigError::Unreadable)?;
                Kuaidi100::new(&c)
                    .map(Some)
                    .map_err(EnvConfigError::Invalid)
            }
            _ => Ok(None),
        }
    }

    /// The salt pushes are signed with, for [`verify_push`](super::verify_push).
    pub fn salt(&self) -> &str {
        &self.config.salt
    }

    /// The configured callback URL, if any.
    pub fn callback_url(&self) -> Option<&str> {
        self.config.callback_url.as_deref()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<String, CourierError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .http
            .post(format!("{}{path}", self.config.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| CourierError::Transient(format!("kuaidi100 unreachable: {e}")))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| CourierError::Transient(format!("kuaidi100 answer unreadable: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(CourierError::Transient(format!(
                "kuaidi100 HTTP {status}: {}",
                clip(&text)
            )));
        }
        if !status.is_success() {
            return Err(CourierError::Permanent(format!(
                "kuaidi100 HTTP {status}: {}",
                clip(&text)
            )));
        }
        Ok(text)
    }
}

/// The query `param`. Field order is the wire order; the signature is over
/// this exact text.
#[derive(Serialize)]
struct QueryParam<'a> {
    com: &'a str,
    num: &'a str,
    phone: &'a str,
    resultv2: &'a str,
    show: &'a str,
    order: &'a str,
}

#[derive(Serialize)]
struct SubscribeParam<'a> {
    company: &'a str,
    number: &'a str,
    key: &'a str,
    parameters: SubscribeParameters<'a>,
}

#[derive(Serialize)]
struct SubscribeParameters<'a> {
    callbackurl: &'a str,
    salt: &'a str,
    resultv2: &'a str,
    phone: &'a str,
}

/// `sign` for a query: UPPER(hex(MD5(param + key + customer))).
pub fn query_sign(param: &str, key: &str, customer: &str) -> String {
    md5_sign(&[param.as_bytes(), key.as_bytes(), customer.as_bytes()])
}

/// A failure answer: `{"result":false,"returnCode":"…","message":"…"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Failure {
    #[serde(default)]
    result: Option<bool>,
    #[serde(default, deserialize_with = "string_or_number")]
    return_code: Option<String>,
    #[serde(default)]
    message: String,
    /// Success answers carry `status` "200" instead.
    #[serde(default, deserialize_with = "string_or_number")]
    status: Option<String>,
}

/// Kuaidi100 writes codes as strings, but tolerate numbers.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// What a query's failure code means [?: codes as PROTOCOLS.md recalls
/// them]: 500 no result yet; 501/502 server error or busy; everything else
/// (400 incomplete, 408 phone check, 503 bad signature, 601 key expired or
/// no balance) is ours to fix.
fn query_failure(code: &str, message: &str) -> CourierError {
    let text = format!("kuaidi100 {code}: {message}");
    match code {
        "500" => CourierError::NotFound(text),
        "501" | "502" => CourierError::Transient(text),
        _ => CourierError::Permanent(text),
    }
}

/// A subscription's failure code: 501 is a duplicate subscription, which
/// is what we wanted [?]; but 501 also means "server error" elsewhere, so
/// only with Kuaidi100's "重复订阅" text. 500 and 502 are server trouble;
/// the rest (600 not a valid subscriber, 601 key expired, 700 bad data,
/// 701 carrier refused...) is ours to fix.
fn subscribe_failure(code: &str, message: &str) -> Result<(), CourierError> {
    let text = format!("kuaidi100 {code}: {message}");
    match code {
        "501" if message.contains("重复") => Ok(()),
        "500" | "501" | "502" => Err(CourierError::Transient(text)),
        _ => Err(CourierError::Permanent(text)),
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[async_trait]
impl CourierTracker for Kuaidi100 {
    async fn query(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        phone_tail: Option<&str>,
    ) -> Result<TrackingSnapshot, CourierError> {
        let param = serde_json::to_string(&QueryParam {
            com: carrier.code(),
            num: number.as_str(),
            phone: phone_tail.map(str::trim).unwrap_or(""),
            resultv2: "1",
            show: "0",
            order: "desc",
        })
        .map_err(|e| CourierError::Permanent(format!("query param: {e}")))?;
        let sign = query_sign(&param, &self.config.key, &self.config.customer);
        let text = self
            .post(
                "/poll/query.do",
                &[
                    ("customer", self.config.customer.as_str()),
                    ("sign", sign.as_str()),
                    ("param", param.as_str()),
                ],
            )
            .await?;
        let head: Failure = serde_json::from_str(&text).map_err(|e| {
            CourierError::Transient(format!(
                "kuaidi100 answer is not JSON ({e}): {}",
                clip(&text)
            ))
        })?;
        if head.result == Some(false) || head.return_code.is_some() {
            let code = head.return_code.unwrap_or_default();
            return Err(query_failure(&code, &head.message));
        }
        if head.status.as_deref() != Some("200") {
            return Err(CourierError::Transient(format!(
                "kuaidi100 answered status {:?}: {}",
                head.status, head.message
            )));
        }
        let record: Record = serde_json::from_str(&text)
            .map_err(|e| CourierError::Transient(format!("kuaidi100 record unreadable: {e}")))?;
        record
            .snapshot()
            .map_err(|e| CourierError::Transient(format!("kuaidi100 record unreadable: {e}")))
    }

    async fn subscribe(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        callback_url: &str,
        phone_tail: Option<&str>,
    ) -> Result<(), CourierError> {
        let param = serde_json::to_string(&SubscribeParam {
            company: carrier.code(),
            number: number.as_str(),
            key: &self.config.key,
            parameters: SubscribeParameters {
                callbackurl: callback_url,
                salt: &self.config.salt,
                resultv2: "1",
                phone: phone_tail.map(str::trim).unwrap_or(""),
            },
        })
        .map_err(|e| CourierError::Permanent(format!("subscribe param: {e}")))?;
        let text = self
            .post("/poll", &[("schema", "json"), ("param", param.as_str())])
            .await?;
        let head: Failure = serde_json::from_str(&text).map_err(|e| {
            CourierError::Transient(format!(
                "kuaidi100 answer is not JSON ({e}): {}",
                clip(&text)
            ))
        })?;
        match (head.result, head.return_code.as_deref()) {
            (Some(true), Some("200") | None) => Ok(()),
            (_, Some(code)) => subscribe_failure(code, &head.message),
            _ => Err(CourierError::Transient(format!(
                "kuaidi100 subscription answer without a code: {}",
                clip(&text)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_test_vector() {
        let param = r#"{"com":"yuantong","num":"YT1234567890123","phone":""}"#;
        assert_eq!(
            query_sign(param, "KEY123", "CUSTOMER456"),
            "254E5FC22D3A6DE7A7BEB636F9E9023A"
        );
    }

    #[test]
    fn query_param_wire_order() {
        let p = serde_json::to_string(&QueryParam {
            com: "yuantong",
            num: "YT1234567890123",
            phone: "",
            resultv2: "1",
            show: "0",
            order: "desc",
        })
        .expect("json");
        assert_eq!(
            p,
            r#"{"com":"yuantong","num":"YT1234567890123","phone":"","resultv2":"1","show":"0","order":"desc"}"#
        );
    }

    #[test]
    fn failure_codes() {
        assert!(matches!(
            query_failure("500", ""),
            CourierError::NotFound(_)
        ));
        assert!(matches!(
            query_failure("501", ""),
            CourierError::Transient(_)
        ));
        assert!(matches!(
            query_failure("502", ""),
            CourierError::Transient(_)
        ));
        assert!(matches!(
            query_failure("503", ""),
            CourierError::Permanent(_)
        ));
        assert!(matches!(
            query_failure("601", ""),
            CourierError::Permanent(_)
        ));
        assert!(matches!(query_failure("", ""), CourierError::Permanent(_)));
        assert_eq!(subscribe_failure("501", "重复订阅"), Ok(()));
        assert!(matches!(
            subscribe_failure("501", "服务器错误"),
            Err(CourierError::Transient(_))
        ));
        assert!(matches!(
            subscribe_failure("701", "拒绝订阅的快递公司"),
            Err(CourierError::Permanent(_))
        ));
    }

    #[test]
    fn config_is_checked_and_redacted() {
        let c: Kuaidi100Config =
            serde_json::from_str(r#"{"customer":"C","key":"K-SECRET","salt":"S-SECRET"}"#)
                .expect("config");
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        let k = Kuaidi100::new(&c).expect("adapter");
        let shown = format!("{k:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let mut bad = c.clone();
        bad.key = " ".into();
        assert!(Kuaidi100::new(&bad).is_err());
        bad = c;
        bad.base_url = "poll.kuaidi100.com".into();
        assert!(Kuaidi100::new(&bad).is_err());
    }
}
