//! The public event catalogue (issue 17, point 1): the events a shop's own
//! systems receive, each with a stable dotted type and a version, in one
//! envelope. Their JSON Schemas are in `infra/asyncapi.yaml`; tests check
//! that every type here has its message there (and no other), and validate
//! the events actually emitted against them.
//!
//! The outbox's own events (`claim.<step>`, `refund.requested`...) are the
//! internal contract between our consumers and may change with them; a
//! public event is what [`public_events`] makes of one, read against the
//! claim it is about. Every public event comes from an outbox event, so
//! from the same committed change as the state: none lost, none for a
//! change that did not commit.
//!
//! `sequence` orders a claim's public events: the position of the timeline
//! step it tells of, times [`SEQUENCE_STEP`] (gaps are normal: most steps
//! are not public). The stock events of an inspection are not on the
//! timeline; they sit just before the inspection's `return.received`
//! (`(step - 1) × SEQUENCE_STEP + 1 + the line's place in the report`),
//! which is also the order they are written and delivered in.

use super::claim::{Actor, Claim, ClaimEvent, TimelineEntry};
use super::events::{carried_steps, is_refund_progress, own_step, EventType, OutboxEvent};
use super::ids::{ClaimId, OrderId, ShopId};
use super::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;

/// A timeline step's span of sequence numbers (see the module's notes).
pub const SEQUENCE_STEP: u64 = 1000;

/// Defines [`PublicType`] from one list: its name and version each once.
macro_rules! public_types {
    ($($variant:ident => $name:literal v $version:literal: $doc:literal),* $(,)?) => {
        /// The type of a public event, on the wire its dotted name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum PublicType {
            $(#[doc = $doc] $variant),*
        }

        impl PublicType {
            pub const ALL: &[PublicType] = &[$(PublicType::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(PublicType::$variant => $name),*
                }
            }

            /// The version of its payload's schema: raised on a change a
            /// receiver could trip over (a field removed or retyped).
            pub fn version(self) -> u32 {
                match self {
                    $(PublicType::$variant => $version),*
                }
            }
        }
    };
}

public_types! {
    ClaimSubmitted => "claim.submitted" v 1: "A customer filed a claim.",
    ClaimDecided => "claim.decided" v 1:
        "The claim was approved (in full or in part) or rejected, and by whom.",
    ClaimCancelled => "claim.cancelled" v 1: "The claim was withdrawn.",
    ReturnShipped => "return.shipped" v 1: "The customer sent the goods back.",
    ReturnReceived => "return.received" v 1:
        "The goods arrived and were inspected: per line, units, outcome, disposition.",
    RefundSent => "refund.sent" v 1: "One refund went to its payment channel.",
    RefundSucceeded => "refund.succeeded" v 1: "One refund's money reached the customer.",
    RefundFailed => "refund.failed" v 1: "A refund was refused by its provider.",
    ExchangeShipped => "exchange.shipped" v 1: "An exchange's replacement was shipped.",
    InventoryRestock => "inventory.restock" v 1: "Returned units go back on sale.",
    InventoryDefective => "inventory.defective" v 1: "Returned units go to defective stock.",
    DisputeOpened => "dispute.opened" v 1: "The customer disputes the decision.",
    DisputeResolved => "dispute.resolved" v 1: "A proposal was accepted: the dispute is settled.",
    DisputeWithdrawn => "dispute.withdrawn" v 1: "The customer withdrew the dispute.",
    DisputeEscalated => "dispute.escalated" v 1:
        "The shop did not answer the dispute in time: its admins take it over.",
}

impl fmt::Display for PublicType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown public event type {0:?}")]
pub struct UnknownPublicType(pub String);

impl std::str::FromStr for PublicType {
    type Err = UnknownPublicType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownPublicType(s.to_owned()))
    }
}

impl Serialize for PublicType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PublicType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A public event: the envelope every type shares, its payload in `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicEvent {
    #[serde(rename = "type")]
    pub event_type: PublicType,
    pub version: u32,
    /// Stable across redeliveries: the outbox event's id, with `.{n}` for
    /// the further public events one outbox event makes (the refunds a
    /// `refund_started` sent). Ids sort in the order events were written.
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    pub shop_id: ShopId,
    pub claim_id: ClaimId,
    pub order_id: OrderId,
    /// Strictly increasing over a claim's public events (module notes).
    pub sequence: u64,
    pub data: Value,
}

/// Whether an outbox event of this type can make public events: only
/// these need their claim read.
pub fn may_publish(t: EventType) -> bool {
    matches!(
        t,
        EventType::Claim(_) | EventType::InventoryRestock | EventType::InventoryDefective
    )
}

/// The public events an outbox event makes, read against `claim`, the
/// claim it is about as it is now (a timeline only grows, so the answer is
/// the same whenever it is asked). None for events that are not public,
/// or whose claim or step is not there.
pub fn public_events(event: &OutboxEvent, claim: &Claim) -> Vec<PublicEvent> {
    let envelope =
        |t: PublicType, id: String, at: DateTime<Utc>, sequence: u64, data: Value| PublicEvent {
            event_type: t,
            version: t.version(),
            id,
            occurred_at: at,
            shop_id: claim.shop_id.clone(),
            claim_id: claim.claim_id.clone(),
            order_id: claim.order_id.clone(),
            sequence,
            data,
        };
    match event.event_type {
        EventType::Claim(_) => {
            let Ok(step) = serde_json::from_value::<ClaimEvent>(event.payload.clone()) else {
                return Vec::new();
            };
            // The event's own step (a refund's progress is among those it
            // carries), then the steps it carries.
            let mut entries: Vec<&TimelineEntry> = Vec::new();
            if !is_refund_progress(&step) {
                entries.extend(own_step(claim, event, &step));
            }
            entries.extend(carried_steps(claim, event, &step));
            entries
                .into_iter()
                .enumerate()
                .filter_map(|(n, entry)| {
                    let (t, data) = of_step(claim, entry)?;
                    let id = match n {
                        0 => event.event_id.clone(),
                        n => format!("{}.{n}", event.event_id),
                    };
                    Some(envelope(
                        t,
                        id,
                        entry.at,
                        u64::from(entry.seq) * SEQUENCE_STEP,
                        data,
                    ))
                })
                .collect()
        }
        EventType::InventoryRestock | EventType::InventoryDefective => {
            let t = if event.event_type == EventType::InventoryRestock {
                PublicType::InventoryRestock
            } else {
                PublicType::InventoryDefective
            };
            let p = &event.payload;
            let line_id = p["line_id"].as_str().unwrap_or_default();
            let Some(inspected) = claim
                .timeline
                .iter()
                .rfind(|e| matches!(e.event, ClaimEvent::Inspected { .. }))
            else {
                return Vec::new();
            };
            let place = claim
                .returns
                .inspection
                .as_ref()
                .and_then(|i| i.lines.iter().position(|l| l.line_id == line_id))
                .unwrap_or(0) as u64;
            let sequence = u64::from(inspected.seq.saturating_sub(1)) * SEQUENCE_STEP
                + 1
                + place.min(SEQUENCE_STEP - 2);
            vec![envelope(
                t,
                event.event_id.clone(),
                event.at,
                sequence,
                json!({"line_id": line_id, "sku": p["sku"], "quantity": p["quantity"]}),
            )]
        }
        _ => Vec::new(),
    }
}

/// Who did it, as the public events say.
fn actor(a: &Actor) -> Value {
    match a {
        Actor::Customer { id } => json!({"kind": "customer", "customer_id": id}),
        Actor::Staff { id } => json!({"kind": "staff", "staff_id": id}),
        Actor::Rule { rule_id, version } => {
            json!({"kind": "rule", "rule_id": rule_id, "rule_version": version})
        }
        // The service itself: the review deadline's automatic approval.
        Actor::System => json!({"kind": "system"}),
    }
}

/// A timeline step's public event, if it has one.
fn of_step(claim: &Claim, entry: &TimelineEntry) -> Option<(PublicType, Value)> {
    Some(match &entry.event {
        ClaimEvent::Submitted { amount } => (
            PublicType::ClaimSubmitted,
            json!({
                "claim_type": claim.claim_type.type_name(),
                "reason": claim.reason,
                "customer_id": claim.customer_id,
                "amount": amount,
                "lines": claim.lines.iter().map(|l| json!({
                    "line_id": l.line_id, "quantity": l.quantity, "amount": l.amount,
                })).collect::<Vec<_>>(),
            }),
        ),
        ClaimEvent::Approved { amount, reason } => {
            let outcome = if *amount == claim.requested_amount {
                "approved"
            } else {
                "partially_approved"
            };
            (
                PublicType::ClaimDecided,
                decided(outcome, *amount, claim, reason.as_deref(), &entry.actor),
            )
        }
        ClaimEvent::Rejected { reason } => (
            PublicType::ClaimDecided,
            decided(
                "rejected",
                Money::zero(claim.currency),
                claim,
                Some(reason),
                &entry.actor,
            ),
        ),
        ClaimEvent::Cancelled => (
            PublicType::ClaimCancelled,
            json!({"cancelled_by": actor(&entry.actor)}),
        ),
        ClaimEvent::ReturnShipped {
            carrier,
            tracking_number,
        } => (
            PublicType::ReturnShipped,
            json!({"carrier": carrier, "tracking_number": tracking_number}),
        ),
        ClaimEvent::Inspected { decision, .. } => {
            let lines = claim.returns.inspection.as_ref().map_or(Vec::new(), |i| {
                i.lines
                    .iter()
                    .map(|l| {
                        json!({"line_id": l.line_id, "units": l.received,
                               "outcome": l.outcome, "disposition": l.disposition})
                    })
                    .collect()
            });
            (
                PublicType::ReturnReceived,
                json!({"decision": decision, "lines": lines,
                       "inspected_by": actor(&entry.actor)}),
            )
        }
        ClaimEvent::RefundSent {
            refund_id,
            channel,
            amount,
            expected_arrival,
            replaces,
        } => (
            PublicType::RefundSent,
            json!({"refund_id": refund_id, "channel": channel, "amount": amount,
                   "expected_arrival": expected_arrival, "replaces": replaces}),
        ),
        ClaimEvent::RefundArrived {
            refund_id,
            channel,
            amount,
            arrived_at,
            ..
        } => (
            PublicType::RefundSucceeded,
            json!({"refund_id": refund_id, "channel": channel, "amount": amount,
                   "arrived_at": arrived_at}),
        ),
        ClaimEvent::RefundFailed { reason } => {
            (PublicType::RefundFailed, json!({"reason": reason}))
        }
        ClaimEvent::ReplacementShipped {
            carrier,
            tracking_number,
        } => (
            PublicType::ExchangeShipped,
            json!({"carrier": carrier, "tracking_number": tracking_number}),
        ),
        ClaimEvent::DisputeOpened {
            grounds,
            wished,
            respond_by,
            ..
        } => (
            PublicType::DisputeOpened,
            json!({"grounds": grounds, "wished": wished, "respond_by": respond_by}),
        ),
        ClaimEvent::DisputeResolved { resolution, .. } => (
            PublicType::DisputeResolved,
            json!({"resolution": resolution}),
        ),
        ClaimEvent::DisputeWithdrawn => (PublicType::DisputeWithdrawn, json!({})),
        ClaimEvent::DisputeEscalated { respond_by } => (
            PublicType::DisputeEscalated,
            json!({"respond_by": respond_by}),
        ),
        _ => return None,
    })
}

fn decided(outcome: &str, amount: Money, claim: &Claim, reason: Option<&str>, by: &Actor) -> Value {
    json!({"outcome": outcome, "amount": amount, "requested_amount": claim.requested_amount,
           "reason": reason, "decided_by": actor(by)})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimType;
    use crate::domain::testkit;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = PublicType::ALL.iter().map(|t| t.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PublicType::ALL.len());
        for t in PublicType::ALL {
            assert_eq!(t.as_str().parse::<PublicType>(), Ok(*t));
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
            assert!(t.version() >= 1);
        }
        assert!("claim.approved".parse::<PublicType>().is_err());
    }

    #[test]
    fn an_approval_is_decided_with_its_decider_and_the_refunds_it_sent() {
        let (_, claim, change) = testkit::approved(ClaimType::RefundOnly);
        let submitted = &claim.timeline[0];
        let out = OutboxEvent::for_claim(&claim, &submitted.event, submitted.at);
        let first = public_events(&out, &claim);
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!(first[0].event_type, PublicType::ClaimSubmitted);
        assert_eq!(first[0].id, out.event_id);
        assert_eq!(first[0].order_id, claim.order_id);
        assert_eq!(first[0].sequence, SEQUENCE_STEP);

        let mut all = first;
        for e in &change.events {
            all.extend(public_events(
                &OutboxEvent::for_claim(&claim, e, testkit::t(60)),
                &claim,
            ));
        }
        let types: Vec<PublicType> = all.iter().map(|p| p.event_type).collect();
        assert_eq!(
            types,
            [
                PublicType::ClaimSubmitted,
                PublicType::ClaimDecided,
                PublicType::RefundSent
            ],
            "{all:?}"
        );
        let decided = &all[1];
        assert_eq!(decided.data["outcome"], "approved");
        assert_eq!(
            decided.data["decided_by"],
            json!({"kind": "staff", "staff_id": "stf-1"})
        );
        assert!(
            all.windows(2).all(|w| w[0].sequence < w[1].sequence),
            "{all:?}"
        );
        // The carried refund has an id of its own, after its event's.
        assert!(all[2].id.ends_with(".1"), "{all:?}");
        assert!(all[1].id < all[2].id, "{all:?}");
    }

    #[test]
    fn internal_only_events_make_none() {
        let (_, claim, _) = testkit::approved(ClaimType::RefundOnly);
        let e = OutboxEvent::new(
            &claim.shop_id,
            &claim.claim_id,
            EventType::Claim(crate::domain::claim::ClaimStep::ReviewStarted),
            json!({"event": "review_started"}),
            claim.created_at,
        );
        assert!(public_events(&e, &claim).is_empty());
        let r = OutboxEvent::new(
            &claim.shop_id,
            "r-1",
            EventType::RefundRequested,
            json!({}),
            claim.created_at,
        );
        assert!(public_events(&r, &claim).is_empty());
        assert!(!may_publish(EventType::RefundRequested));
    }
}
