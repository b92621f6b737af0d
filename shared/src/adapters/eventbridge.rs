//! The public events on the EventBridge bus (`PutEvents`): each event's
//! envelope as `detail`, its public type (`claim.decided`) as
//! `detail-type`, [`SOURCE`] as `source`, so a shop's AWS-native system
//! subscribes with a rule such as
//! `{"source": ["aftersales.public"], "detail-type": ["claim.decided"]}`.
//!
//! The source is not the events pipe's `aftersales`: the consumers' rules
//! match `aftersales` with a stream record as `detail`, and a public event
//! must never reach them (nor come back to the webhook consumer).

use crate::domain::catalogue::PublicEvent;
use crate::ports::{PortError, PublicBus};
use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

/// The `source` of every public event on the bus.
pub const SOURCE: &str = "aftersales.public";
/// PutEvents takes at most this many entries.
pub const MAX_ENTRIES: usize = 10;
/// Entries the bus refused (throttled, an internal failure) are put again
/// this many times within one call before the call fails.
const ATTEMPTS: usize = 3;

pub struct EventBridgeBus {
    client: Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus: bus.into(),
        }
    }

    /// A client from an SDK configuration (tests point it at moto).
    pub fn from_config(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        EventBridgeBus::new(Client::new(config), bus)
    }

    /// The bus named by `EVENT_BUS_NAME`, through the default AWS
    /// configuration chain.
    pub async fn from_env() -> Result<Self, String> {
        let bus = std::env::var("EVENT_BUS_NAME")
            .ok()
            .filter(|b| !b.trim().is_empty())
            .ok_or("EVENT_BUS_NAME is not set")?;
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Ok(EventBridgeBus::from_config(&config, bus))
    }

    fn entry(&self, e: &PublicEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(e.event_type.as_str())
            .detail(crate::hooks::body_of(e))
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                e.occurred_at.timestamp(),
            ))
            .build()
    }

    /// One PutEvents call of at most [`MAX_ENTRIES`], its refused entries
    /// put again up to [`ATTEMPTS`] times.
    async fn put_chunk(&self, chunk: &[PublicEvent]) -> Result<(), PortError> {
        let mut pending: Vec<&PublicEvent> = chunk.iter().collect();
        for _ in 0..ATTEMPTS {
            let out = self
                .client
                .put_events()
                .set_entries(Some(pending.iter().map(|e| self.entry(e)).collect()))
                .send()
                .await
                .map_err(|e| {
                    PortError::Transient(format!("PutEvents: {}", DisplayErrorContext(&e)))
                })?;
            if out.failed_entry_count == 0 {
                return Ok(());
            }
            // The answer's entries are in the request's order; a failed one
            // carries an error code instead of an event id.
            let results = out.entries.unwrap_or_default();
            let mut again = Vec::new();
            for (i, e) in pending.iter().enumerate() {
                let failed = results.get(i).is_none_or(|r| r.error_code.is_some());
                if failed {
                    if let Some(r) = results.get(i) {
                        tracing::warn!(webhook_id = %e.id, event_type = %e.event_type, code = ?r.error_code, message = ?r.error_message, "bus refused a public event");
                    }
                    again.push(*e);
                }
            }
            pending = again;
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(PortError::Transient(format!(
            "the bus refused {} public event(s) {ATTEMPTS} times",
            pending.len()
        )))
    }
}

#[async_trait]
impl PublicBus for EventBridgeBus {
    async fn put(&self, events: &[PublicEvent]) -> Result<(), PortError> {
        for chunk in events.chunks(MAX_ENTRIES) {
            self.put_chunk(chunk).await?;
        }
        Ok(())
    }
}
