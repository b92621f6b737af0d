//! Delivery of outbox events to their consumers. Every consumer is
//! idempotent: events arrive at least once (DynamoDB Streams in the cloud,
//! the runner's outbox poller on one machine), sometimes twice.

use super::{AppError, Services};
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
}

pub const ALL_CONSUMERS: &[Consumer] = &[
    Consumer::Rules,
    Consumer::Notifications,
    Consumer::Refunds,
    Consumer::Couriers,
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
        Consumer::Notifications => {
            super::notify::on_event(s, event).await?;
            super::winback::on_event(s, event).await?;
            super::sla::on_event(s, event).await
        }
        Consumer::Refunds => super::refunds::on_event(s, event).await,
        Consumer::Couriers => super::couriers::on_event(s, event).await,
    }
}

/// Runs every consumer on the oldest pending events and removes the ones
/// delivered. Returns how many were delivered; an event whose consumer fails
/// stays pending and is tried again on the next round.
pub async fn drain_outbox(s: &Services, batch: u32) -> Result<usize, AppError> {
    let events = repo::outbox::pending(&*s.table, batch).await?;
    let mut delivered = 0;
    for e in &events {
        let mut ok = true;
        for &c in ALL_CONSUMERS {
            if let Err(err) = deliver(s, c, e).await {
                tracing::warn!(event_id = %e.event_id, event_type = %e.event_type, consumer = ?c, error = %err, "outbox delivery failed; will retry");
                ok = false;
                break;
            }
        }
        if ok {
            repo::outbox::delivered(&*s.table, &e.event_id).await?;
            delivered += 1;
        }
    }
    Ok(delivered)
}
