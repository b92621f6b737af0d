//! Win-back (售后用户挽回): a coupon for the customer when their claim ends
//! in an outcome the shop chose ("10 CNY, no threshold, 7 days"), once per
//! claim, issued through the coupon port (an event for the shop's marketing
//! system) and readable by the customer; and a call-back task for the staff
//! when a high-value customer files their first claim at the shop.

use super::claim::{Claim, ClaimStatus};
use super::events::{EventType, OutboxEvent};
use super::ids::{ClaimId, CustomerId, OrderId, ShopId};
use super::money::Money;
use super::order::Order;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How a claim ended, as the shop picks which outcomes earn a coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Money back or goods exchanged: the claim completed.
    Completed,
    Rejected,
    Cancelled,
    Closed,
}

impl Outcome {
    pub fn of(status: ClaimStatus) -> Option<Outcome> {
        match status {
            ClaimStatus::Completed => Some(Outcome::Completed),
            ClaimStatus::Rejected => Some(Outcome::Rejected),
            ClaimStatus::Cancelled => Some(Outcome::Cancelled),
            ClaimStatus::Closed => Some(Outcome::Closed),
            _ => None,
        }
    }
}

/// The coupon a shop gives: in minor units of the claim's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponTemplate {
    /// Its value (1000: 10.00).
    pub value: i64,
    /// The least an order must come to for it to apply; 0: no threshold.
    pub threshold: i64,
    pub valid_days: u32,
}

/// Who counts as a high-value customer, and how soon staff call them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighValue {
    /// At least this many paid orders at the shop...
    pub min_paid_orders: u32,
    /// ...or at least this much spent (minor units of the order's currency).
    pub min_total_spent: i64,
    /// Staff call back within this many hours of the first claim.
    pub callback_within_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinbackPolicy {
    /// None: no coupons.
    #[serde(default)]
    pub coupon: Option<CouponTemplate>,
    /// The outcomes that earn the coupon.
    #[serde(default = "completed_only")]
    pub coupon_outcomes: Vec<Outcome>,
    /// None: no call-backs.
    #[serde(default)]
    pub high_value: Option<HighValue>,
}

fn completed_only() -> Vec<Outcome> {
    vec![Outcome::Completed]
}

impl Default for WinbackPolicy {
    fn default() -> Self {
        WinbackPolicy {
            coupon: None,
            coupon_outcomes: completed_only(),
            high_value: Some(HighValue {
                min_paid_orders: 5,
                min_total_spent: 200_000,
                callback_within_hours: 24,
            }),
        }
    }
}

impl WinbackPolicy {
    pub fn valid(&self) -> bool {
        let coupon = self.coupon.as_ref().is_none_or(|c| {
            (1..=1_000_000).contains(&c.value)
                && (0..=100_000_000).contains(&c.threshold)
                && (1..=365).contains(&c.valid_days)
        });
        let high = self.high_value.as_ref().is_none_or(|h| {
            h.min_total_spent >= 0 && (1..=24 * 30).contains(&h.callback_within_hours)
        });
        coupon && high && self.coupon_outcomes.len() <= 4
    }
}

/// A coupon issued to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// `cpn-{claim}`: one per claim.
    pub coupon_id: String,
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub claim_id: ClaimId,
    pub outcome: Outcome,
    pub value: Money,
    pub threshold: Money,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Coupon {
    /// The coupon port: the shop's marketing system creates it in its own
    /// coupon system from this event.
    pub fn event(&self) -> OutboxEvent {
        OutboxEvent::new(
            &self.shop_id,
            &self.claim_id,
            EventType::CouponIssued,
            serde_json::to_value(self).expect("coupons serialize"),
            self.issued_at,
        )
    }
}

/// The coupon a claim that ended earns, if the shop gives one for its
/// outcome. Its id is the claim's, so it is issued once.
pub fn coupon_for(claim: &Claim, policy: &WinbackPolicy, now: DateTime<Utc>) -> Option<Coupon> {
    let template = policy.coupon.as_ref()?;
    let outcome = Outcome::of(claim.status)?;
    if !policy.coupon_outcomes.contains(&outcome) {
        return None;
    }
    Some(Coupon {
        coupon_id: format!("cpn-{}", claim.claim_id),
        shop_id: claim.shop_id.clone(),
        customer_id: claim.customer_id.clone(),
        claim_id: claim.claim_id.clone(),
        outcome,
        value: Money::from_minor(template.value, claim.currency),
        threshold: Money::from_minor(template.threshold, claim.currency),
        issued_at: now,
        expires_at: now + Duration::days(i64::from(template.valid_days)),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackOutcome {
    /// Spoken to; the customer stays.
    Retained,
    /// Spoken to; the customer is unhappy still.
    NotRetained,
    NoAnswer,
    /// The customer did not want to be called.
    Declined,
}

/// A call-back task for staff: a high-value customer's first claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackTask {
    pub claim_id: ClaimId,
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub customer_phone: Option<String>,
    /// Why the customer counts as high-value.
    pub paid_orders: u32,
    pub total_spent: Money,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub outcome: Option<CallbackOutcome>,
    pub note: String,
    pub done_by: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
}

/// The call-back a claim calls for: when the order says its customer is of
/// high value by the policy and this is their first claim at the shop
/// (`earlier_claims`: how many they filed before).
/// Whether the order's customer is one the policy calls back: asked
/// before the customer's earlier claims are counted, which takes reads.
pub fn valuable(order: &Order, policy: &WinbackPolicy) -> bool {
    let (Some(hv), Some((orders, spent))) = (policy.high_value.as_ref(), order.customer_stats())
    else {
        return false;
    };
    orders >= hv.min_paid_orders || spent.minor() >= hv.min_total_spent
}

pub fn callback_for(
    claim: &Claim,
    order: &Order,
    policy: &WinbackPolicy,
    earlier_claims: usize,
    now: DateTime<Utc>,
) -> Option<CallbackTask> {
    let hv = policy.high_value.as_ref()?;
    let (orders, spent) = order.customer_stats()?;
    if !valuable(order, policy) || earlier_claims > 0 {
        return None;
    }
    Some(CallbackTask {
        claim_id: claim.claim_id.clone(),
        shop_id: claim.shop_id.clone(),
        customer_id: claim.customer_id.clone(),
        order_id: claim.order_id.clone(),
        customer_phone: order.facts.customer_phone.clone(),
        paid_orders: orders,
        total_spent: spent,
        created_at: now,
        due_at: now + Duration::hours(i64::from(hv.callback_within_hours)),
        outcome: None,
        note: String::new(),
        done_by: None,
        done_at: None,
    })
}

/// Staff record how the call went, once.
pub fn record_callback(
    task: &mut CallbackTask,
    outcome: CallbackOutcome,
    note: &str,
    staff_id: &str,
    now: DateTime<Utc>,
) -> Result<(), super::change::Refused> {
    use super::change::Refused;
    if task.outcome.is_some() {
        return Err(Refused::not_now(
            "callback_done",
            "this call-back already has its outcome",
        ));
    }
    if note.chars().count() > 1000 || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Refused::invalid(
            "invalid_request",
            "note: at most 1000 characters, plain text",
        ));
    }
    task.outcome = Some(outcome);
    task.note = note.to_owned();
    task.done_by = Some(staff_id.to_owned());
    task.done_at = Some(now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimType;
    use crate::domain::money::Currency;
    use crate::domain::testkit::{approved, claim_on, order, t};

    fn seed_coupon() -> WinbackPolicy {
        WinbackPolicy {
            coupon: Some(CouponTemplate {
                value: 1_000,
                threshold: 0,
                valid_days: 7,
            }),
            ..WinbackPolicy::default()
        }
    }

    #[test]
    fn a_finished_claim_earns_the_shops_coupon_for_its_chosen_outcomes() {
        let (_, mut claim, _) = approved(ClaimType::RefundOnly);
        let p = seed_coupon();
        assert_eq!(coupon_for(&claim, &p, t(100)), None, "still refunding");
        claim.status = ClaimStatus::Completed;
        let c = coupon_for(&claim, &p, t(100)).unwrap();
        assert_eq!(c.value, Money::from_minor(1_000, Currency::Cny));
        assert!(c.threshold.is_zero());
        assert_eq!(c.expires_at, t(100) + Duration::days(7));
        assert_eq!(c.coupon_id, "cpn-clm-1");
        assert_eq!(c.event().event_type, EventType::CouponIssued);
        claim.status = ClaimStatus::Rejected;
        assert_eq!(
            coupon_for(&claim, &p, t(100)),
            None,
            "not an outcome chosen"
        );
        assert_eq!(coupon_for(&claim, &WinbackPolicy::default(), t(100)), None);
    }

    #[test]
    fn a_high_value_customers_first_claim_gets_a_call_back() {
        let mut rec = order(&[(1, 5_000)]);
        let claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let p = WinbackPolicy::default();
        assert_eq!(
            callback_for(&claim, &rec.order, &p, 0, t(1)),
            None,
            "no stats"
        );
        rec.order.facts.customer_stats = Some(crate::domain::order::CustomerStats {
            paid_orders: 6,
            total_spent: "300.00".parse().unwrap(),
        });
        let task = callback_for(&claim, &rec.order, &p, 0, t(1)).unwrap();
        assert_eq!(task.due_at, t(1) + Duration::hours(24));
        assert_eq!(
            callback_for(&claim, &rec.order, &p, 1, t(1)),
            None,
            "not the first"
        );
        rec.order.facts.customer_stats = Some(crate::domain::order::CustomerStats {
            paid_orders: 1,
            total_spent: "2000.00".parse().unwrap(),
        });
        assert!(
            callback_for(&claim, &rec.order, &p, 0, t(1)).is_some(),
            "by spend"
        );
        rec.order.facts.customer_stats = Some(crate::domain::order::CustomerStats {
            paid_orders: 1,
            total_spent: "19.99".parse().unwrap(),
        });
        assert_eq!(callback_for(&claim, &rec.order, &p, 0, t(1)), None);
    }

    #[test]
    fn a_call_back_is_recorded_once() {
        let mut rec = order(&[(1, 5_000)]);
        let claim = claim_on(&mut rec, ClaimType::RefundOnly);
        rec.order.facts.customer_stats = Some(crate::domain::order::CustomerStats {
            paid_orders: 9,
            total_spent: "0".parse().unwrap(),
        });
        let mut task =
            callback_for(&claim, &rec.order, &WinbackPolicy::default(), 0, t(1)).unwrap();
        record_callback(&mut task, CallbackOutcome::Retained, "happy", "stf-1", t(2)).unwrap();
        assert!(record_callback(&mut task, CallbackOutcome::NoAnswer, "", "stf-1", t(3)).is_err());
        assert_eq!(task.outcome, Some(CallbackOutcome::Retained));
    }
}
