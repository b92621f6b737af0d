//! Ports to the outside world other than the table: where evidence files
//! live and how text messages go out. Each has a cloud adapter and a
//! one-machine adapter.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Worth trying again later (network, throttling).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will fail the same way again (bad configuration, refused input).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Where and how a client uploads one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTicket {
    pub method: String,
    pub url: String,
    /// Headers the client must send exactly (Content-Type, Content-Length).
    pub headers: Vec<(String, String)>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What the storage knows of an uploaded object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    pub content_type: Option<String>,
}

#[async_trait]
pub trait EvidenceStorage: Send + Sync {
    /// A URL to PUT exactly this object to, valid for `ttl`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<UploadTicket, PortError>;
    /// Stores an object the service itself received: the pages' claim
    /// form, which runs no script to PUT to a presigned URL. Everything
    /// else uploads through `presign_put`.
    async fn put(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<(), PortError>;
    /// The object's size and type, or None when nothing is there.
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, PortError>;
    /// The object's bytes, or None when nothing is there or it is larger
    /// than `max_bytes` (then it is not read at all).
    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, PortError>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends one text message. `dedupe_id` is stable across retries of the
    /// same message.
    async fn send(&self, phone: &str, text: &str, dedupe_id: &str) -> Result<(), PortError>;
}

/// Writes messages to the log: for processes with no SMS provider
/// configured, so a missing configuration is visible, not silent.
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, phone: &str, text: &str, dedupe_id: &str) -> Result<(), PortError> {
        let masked: String = phone
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        tracing::info!(phone_tail = %masked, dedupe_id, text, "sms (log only: no provider configured)");
        Ok(())
    }
}

/// One figure for the metrics backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    /// A CloudWatch unit: `Seconds`, `Count`...
    pub unit: &'static str,
    pub value: f64,
}

/// Where the service figures go (time to decision, to refund...): CloudWatch
/// through the embedded metric format on Lambda; nowhere on one machine,
/// where the report API reads them off the claims instead.
pub trait MetricsSink: Send + Sync {
    /// Figures of one shop (also counted service-wide, for the alarms).
    fn record(&self, shop_id: &str, at: chrono::DateTime<chrono::Utc>, metrics: &[Metric]);

    /// Figures that belong to no shop (a refused webhook names none),
    /// service-wide and per `dimension` (name, value) when given. Sinks that
    /// only keep per-shop figures leave them out.
    fn record_service(
        &self,
        _dimension: Option<(&'static str, &str)>,
        _at: chrono::DateTime<chrono::Utc>,
        _metrics: &[Metric],
    ) {
    }
}

impl Metric {
    /// One of something (`Count`).
    pub fn count(name: &'static str) -> Self {
        Metric {
            name,
            unit: "Count",
            value: 1.0,
        }
    }
}

pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn record(&self, _: &str, _: chrono::DateTime<chrono::Utc>, _: &[Metric]) {}
}

/// Where the public events go for the shop's AWS-native systems (the
/// events bus; they subscribe with a rule of their own). Only the cloud
/// has one: the runner's shops get the same events as webhooks.
#[async_trait]
pub trait PublicBus: Send + Sync {
    /// Puts the events on the bus. Ok only once every one was accepted: an
    /// error leaves the caller to try all of them again (a subscriber may
    /// then see one twice; the envelope's `id` tells it so).
    async fn put(&self, events: &[crate::domain::catalogue::PublicEvent]) -> Result<(), PortError>;
}

/// How the webhooks' signing secrets are kept at rest: sealed with a key
/// the table does not hold (KMS in the cloud), so a copy of the table, a
/// backup or a stream record gives no one the means to sign as us. The
/// runner has none: its secrets stay in its own SQLite file, as they are.
#[async_trait]
pub trait SecretSealer: Send + Sync {
    /// The sealed form of `plain`, bound to `context` (an endpoint's id):
    /// it opens only with the same context.
    async fn seal(&self, plain: &str, context: &str) -> Result<String, PortError>;
    /// The plain secret of a sealed one.
    async fn open(&self, sealed: &str, context: &str) -> Result<String, PortError>;
}
