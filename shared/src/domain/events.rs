//! Events: what a state change tells the rest of the system and the shop's
//! own systems (through the transactional outbox), and the kinds they come
//! in.

use super::claim::{Claim, ClaimEvent, ClaimStep, TimelineEntry};
use super::ids::ShopId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of an event. On the wire (stored events, queue messages, the
/// shop's webhooks) it is a dotted name: `claim.approved`,
/// `refund.requested`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A step on a claim's timeline (`claim.<step>`).
    Claim(ClaimStep),
    OrderCreated,
    OrderUpdated,
    /// A refund is planned and waits for the executor to send it.
    RefundRequested,
    /// Returned goods passed inspection and go back on sale.
    InventoryRestock,
    /// Returned goods are defective and do not go back on sale.
    InventoryDefective,
    /// An exchange for a dearer item waits for the customer to pay the
    /// difference.
    ExchangePaymentRequested,
    /// Member points granted to a customer (for the shop's loyalty system).
    PointsGranted,
    /// A points grant taken back.
    PointsReversed,
    /// A dispute settled by an exchange or a redelivery: the warehouse sends
    /// the claim's goods again.
    FulfilmentRequested,
    /// A win-back coupon for a customer (the coupon port: the shop's
    /// marketing system issues it).
    CouponIssued,
    /// A high-value customer's first claim: staff are to call them back.
    CallbackRequested,
    /// Points spent on an order go back to the customer with its refund.
    PointsReturned,
    /// A coupon used on a fully refunded order is the customer's again.
    CouponReturned,
    /// A coupon used on a fully refunded order is voided (shop policy).
    CouponVoided,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Claim(step) => step.event_type(),
            EventType::OrderCreated => "order.created",
            EventType::OrderUpdated => "order.updated",
            EventType::RefundRequested => "refund.requested",
            EventType::InventoryRestock => "inventory.restock",
            EventType::InventoryDefective => "inventory.defective",
            EventType::ExchangePaymentRequested => "exchange.payment_requested",
            EventType::PointsGranted => "points.granted",
            EventType::PointsReversed => "points.reversed",
            EventType::FulfilmentRequested => "fulfilment.requested",
            EventType::CouponIssued => "coupon.issued",
            EventType::CallbackRequested => "callback.requested",
            EventType::PointsReturned => "points.returned",
            EventType::CouponReturned => "coupon.returned",
            EventType::CouponVoided => "coupon.voided",
        }
    }

    /// Every event type there is.
    pub fn all() -> impl Iterator<Item = EventType> {
        ClaimStep::ALL.iter().map(|s| EventType::Claim(*s)).chain([
            EventType::OrderCreated,
            EventType::OrderUpdated,
            EventType::RefundRequested,
            EventType::InventoryRestock,
            EventType::InventoryDefective,
            EventType::ExchangePaymentRequested,
            EventType::PointsGranted,
            EventType::PointsReversed,
            EventType::FulfilmentRequested,
            EventType::CouponIssued,
            EventType::CallbackRequested,
            EventType::PointsReturned,
            EventType::CouponReturned,
            EventType::CouponVoided,
        ])
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = UnknownEventType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::all()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl PartialEq<&str> for EventType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// An event waiting to be delivered (transactional outbox): written in the
/// same commit as the change it tells of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub shop_id: ShopId,
    /// The claim, order or refund it is about.
    pub subject: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub payload: serde_json::Value,
}

impl OutboxEvent {
    /// A new event (its own id) of `event_type` about `subject`.
    pub fn new(
        shop_id: &ShopId,
        subject: &str,
        event_type: EventType,
        payload: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        OutboxEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            at,
            shop_id: shop_id.clone(),
            subject: subject.to_owned(),
            event_type,
            payload,
        }
    }

    /// A step of a claim's timeline, as its event.
    pub fn for_claim(claim: &Claim, event: &ClaimEvent, at: DateTime<Utc>) -> Self {
        Self::new(
            &claim.shop_id,
            &claim.claim_id,
            EventType::Claim(event.step()),
            serde_json::to_value(event).expect("claim events serialize to JSON"),
            at,
        )
    }
}

/// Whether a step is a refund's progress (`refund_sent`, `refund_arrived`):
/// a step of the claim's timeline that usually has no outbox event of its
/// own (see [`carried_steps`]).
pub fn is_refund_progress(e: &ClaimEvent) -> bool {
    matches!(
        e,
        ClaimEvent::RefundSent { .. } | ClaimEvent::RefundArrived { .. }
    )
}

/// The claim event's own step on the timeline: found by its content, the
/// one written at the event's time (or the latest, under a clock that does
/// not move).
pub fn own_step<'c>(
    claim: &'c Claim,
    event: &OutboxEvent,
    step: &ClaimEvent,
) -> Option<&'c TimelineEntry> {
    own_step_at(claim, event, step).map(|at| &claim.timeline[at])
}

fn own_step_at(claim: &Claim, event: &OutboxEvent, step: &ClaimEvent) -> Option<usize> {
    let t = &claim.timeline;
    t.iter()
        .rposition(|e| e.event == *step && e.at == event.at)
        .or_else(|| t.iter().rposition(|e| e.event == *step))
}

/// The refund progress steps a claim event carries. A refund's progress is
/// written on the claim's timeline in the transaction of another step,
/// without an outbox event of its own, so that the refund path writes no
/// more (see BENCHMARKS.md):
/// - `refund_started` is followed on the timeline by the refunds it sent
///   (approval, inspection, or sending failed refunds again);
/// - `refund_succeeded` is preceded by the arrival that completed the
///   claim;
/// - an arrival that moves the claim nowhere (one refund of several, or one
///   after a sibling failed) comes with its own `claim.refund_arrived`
///   event, which costs that refund no more writes than the last one's
///   `refund_succeeded` (the refund, the claim, one event).
///
/// Its readers (the customer's notifications, the shop's public events)
/// have read the claim already: this costs no read.
pub fn carried_steps<'c>(
    claim: &'c Claim,
    event: &OutboxEvent,
    step: &ClaimEvent,
) -> Vec<&'c TimelineEntry> {
    let t = &claim.timeline;
    let Some(at) = own_step_at(claim, event, step) else {
        return Vec::new();
    };
    match step {
        ClaimEvent::RefundStarted => t[at + 1..]
            .iter()
            .take_while(|e| matches!(e.event, ClaimEvent::RefundSent { .. }))
            .collect(),
        ClaimEvent::RefundSucceeded => t[..at]
            .last()
            .filter(|e| matches!(e.event, ClaimEvent::RefundArrived { .. }))
            .into_iter()
            .collect(),
        e if is_refund_progress(e) => vec![&t[at]],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_name() {
        let all: Vec<EventType> = EventType::all().collect();
        assert!(all.len() > 20, "{all:?}");
        for t in all {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, serde_json::json!(t.as_str()));
            assert_eq!(serde_json::from_value::<EventType>(json).unwrap(), t);
        }
    }

    #[test]
    fn names_are_the_published_ones() {
        assert_eq!(
            EventType::Claim(ClaimStep::Approved).as_str(),
            "claim.approved"
        );
        assert_eq!(
            EventType::Claim(ClaimStep::ReturnShipped).as_str(),
            "claim.return_shipped"
        );
        assert_eq!(EventType::RefundRequested.as_str(), "refund.requested");
        assert_eq!(
            "exchange.payment_requested".parse::<EventType>(),
            Ok(EventType::ExchangePaymentRequested)
        );
    }

    #[test]
    fn an_unknown_name_is_refused() {
        assert!("claim.teleported".parse::<EventType>().is_err());
        assert!("claim.".parse::<EventType>().is_err());
        assert!(serde_json::from_value::<EventType>(serde_json::json!("refund")).is_err());
    }

    #[test]
    fn a_claim_step_event_names_its_step() {
        let names: Vec<&str> = ClaimStep::ALL.iter().map(|s| s.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for s in ClaimStep::ALL {
            assert_eq!(s.event_type(), format!("claim.{}", s.as_str()));
        }
    }
}
