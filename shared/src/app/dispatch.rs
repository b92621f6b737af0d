//! Delivery of outbox events to their consumers. Every consumer is
//! idempotent: events arrive at least once (DynamoDB Streams in the cloud,
//! the runner's outbox poller on one machine), sometimes twice.

use super::{AppError, Services};
use crate::domain::claim::Claim;
use crate::domain::events::EventType;
use crate::repo;
use crate::repo::OutboxEvent;

/// Who consumes outbox events. In the cloud each is its own function on
/// the table's stream; on one machine the poller runs them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// Automatic review: decides submitted claims by the shop's rules.
    Rules,
    /// Customer notifications: inbox and SMS.
    Notifications,
    /// Refund execution (locally; in the cloud the stream feeds SQS and
    /// the refund executor).
    Refunds,
    /// Courier verification: parcels named by `claim.return_shipped` and
    /// `claim.replacement_shipped` are registered, subscribed, queried.
    Couriers,
    /// The shop's own webhook endpoints: a delivery recorded per endpoint
    /// that wants the event (no HTTP here: [`crate::hooks::sender`] sends,
    /// in-process on the runner, in the webhook-delivery function in the
    /// cloud), and in the cloud every public event onto the events bus.
    Webhooks,
}

pub const ALL_CONSUMERS: &[Consumer] = &[
    Consumer::Rules,
    Consumer::Notifications,
    Consumer::Refunds,
    Consumer::Couriers,
    Consumer::Webhooks,
];

/// Hands one event to one consumer.
pub async fn deliver(
    s: &Services,
    consumer: Consumer,
    event: &OutboxEvent,
) -> Result<(), AppError> {
    match consumer {
        Consumer::Rules => super::review::on_event(s, event).await,
        // The customer is told, then won back (a coupon once the claim
        // ended, a call-back for a valued customer's first claim), and the
        // service figures are recorded.
        // The claim is read once for the three (a claim event's subject).
        Consumer::Notifications => {
            let claim = subject_claim(s, event).await?;
            super::notify::on_event(s, event, claim.as_ref()).await?;
            super::winback::on_event(s, event, claim.as_ref()).await?;
            super::sla::on_event(s, event, claim.as_ref()).await
        }
        Consumer::Refunds => super::refunds::on_event(s, event).await,
        Consumer::Couriers => super::couriers::on_event(s, event).await,
        Consumer::Webhooks => {
            crate::hooks::on_event(&*s.table, s.public_bus.as_deref(), event).await
        }
    }
}

/// The claim a claim event is about, as it is now; `None` for other events
/// or a claim that is not there.
async fn subject_claim(s: &Services, event: &OutboxEvent) -> Result<Option<Claim>, AppError> {
    if !matches!(event.event_type, EventType::Claim(_)) {
        return Ok(None);
    }
    Ok(repo::claims::get(&*s.table, &event.subject)
        .await?
        .map(|(claim, _)| claim))
}

/// How many subjects' events are delivered side by side: 1, or
/// `AFTERSALES_SUBJECTS_IN_FLIGHT` (1 to 256). One by default: on the
/// runner's single SQLite connection more in flight took the connection
/// from the intake (2,000 claims at 32 in flight: 554 claims/s with 16,
/// 1,387/s with 1; BENCHMARKS.md) without removing the pipeline's own
/// bottleneck.
fn subjects_in_flight() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("AFTERSALES_SUBJECTS_IN_FLIGHT")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(1, |n| n.clamp(1, 256))
    })
}

/// Runs every consumer on the oldest pending events and removes the ones
/// delivered. Returns how many were delivered; an event whose consumer fails
/// stays pending and is tried again on the next round.
///
/// The events of one subject (a claim, a refund) are delivered in the order
/// they were written, as the stream delivers a partition's records; events
/// of different subjects may go side by side ([`subjects_in_flight`]), as
/// parallel invocations do on Lambda.
pub async fn drain_outbox(s: &Services, batch: u32) -> Result<usize, AppError> {
    use futures_util::stream::{self, StreamExt};
    // Up to `batch` of each shard's oldest events.
    let mut events = Vec::new();
    for shard in 0..repo::outbox::SHARDS {
        events.extend(repo::outbox::pending_in(&*s.table, shard, batch).await?);
    }
    // Oldest first across shards too (event ids sort by time), as before
    // the outbox was sharded.
    events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let mut subjects: Vec<Vec<OutboxEvent>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for e in events {
        let i = *index.entry(e.subject.clone()).or_insert_with(|| {
            subjects.push(Vec::new());
            subjects.len() - 1
        });
        subjects[i].push(e);
    }
    let delivered: Vec<OutboxEvent> = stream::iter(subjects)
        .map(|events| deliver_in_order(s, events))
        .buffer_unordered(subjects_in_flight())
        .flat_map(stream::iter)
        .collect()
        .await;
    // One transaction removes the round's delivered events (a crash before
    // it delivers them again: consumers are idempotent).
    repo::outbox::delivered_all(&*s.table, &delivered).await?;
    Ok(delivered.len())
}

/// Delivers one subject's events in order, up to the first that a consumer
/// fails (it and the rest stay pending, in order); those delivered.
async fn deliver_in_order(s: &Services, events: Vec<OutboxEvent>) -> Vec<OutboxEvent> {
    let mut delivered = Vec::new();
    for e in events {
        for &c in ALL_CONSUMERS {
            let started = std::time::Instant::now();
            let result = deliver(s, c, &e).await;
            tracing::debug!(event_type = %e.event_type, consumer = ?c, micros = started.elapsed().as_micros() as u64, "delivered");
            if let Err(err) = result {
                tracing::warn!(event_id = %e.event_id, event_type = %e.event_type, consumer = ?c, error = %err, "outbox delivery failed; will retry");
                return delivered;
            }
        }
        delivered.push(e);
    }
    delivered
}
