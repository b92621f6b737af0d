//! Coupons and points the customer used on an order: they are discounts, not
//! money, so a refund never pays them out. Instead, as the order's money goes
//! back, the spent points go back in proportion (cumulatively, so the last
//! refund that empties the order returns exactly what is left), and once the
//! whole order is refunded its coupons are returned (or voided, by the
//! shop's policy). Both show on the claim whose refund moved them, and go to
//! the shop's loyalty and marketing systems as events.

use super::claim::{Actor, Claim, ClaimEvent};
use super::events::{EventType, OutboxEvent};
use super::ledger::OrderRecord;
use super::money::Amount;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A coupon used on the order; its value is part of the order's discounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsedCoupon {
    pub coupon_id: String,
    pub value: Amount,
}

/// Points spent on the order; their value is part of the order's discounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsedPoints {
    pub points: u32,
    pub value: Amount,
}

/// What becomes of the coupons of a fully refunded order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CouponOnRefund {
    /// Back to the customer, usable again.
    #[default]
    Return,
    /// Gone.
    Void,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BenefitsPolicy {
    #[serde(default)]
    pub coupons_on_full_refund: CouponOnRefund,
}

/// What of the order's coupons and points went back so far (kept with the
/// ledger, written with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Returned {
    /// Minor units refunded so far (refunds that succeeded).
    pub refunded: i64,
    pub points: u32,
    pub coupons_settled: bool,
}

impl Returned {
    pub fn is_none(&self) -> bool {
        *self == Returned::default()
    }
}

/// Whether an order carries coupons or points.
pub fn any(rec: &OrderRecord) -> bool {
    !rec.order.facts.coupons_used.is_empty() || rec.order.facts.points_used.is_some()
}

/// A refund of `refunded` minor units for `claim` succeeded: the points due
/// back in proportion to the money refunded so far, and the coupons once the
/// whole order is refunded. Noted on the claim's timeline, with the events;
/// None when nothing moves.
pub fn on_refund(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    policy: &BenefitsPolicy,
    refunded: i64,
    now: DateTime<Utc>,
) -> Option<(ClaimEvent, Vec<OutboxEvent>)> {
    if !any(rec) || refunded <= 0 {
        return None;
    }
    let total = rec.order.total_paid();
    let r = &mut rec.ledger.benefits;
    r.refunded = (r.refunded + refunded).min(total);
    let spent = rec.order.facts.points_used.as_ref().map_or(0, |p| p.points);
    // floor(spent × refunded / total), in i128 so no product overflows.
    let due = if total > 0 {
        (i128::from(spent) * i128::from(r.refunded) / i128::from(total)) as u32
    } else {
        spent
    };
    let points = due.saturating_sub(r.points);
    r.points = r.points.max(due);
    let settle =
        !r.coupons_settled && r.refunded >= total && !rec.order.facts.coupons_used.is_empty();
    if settle {
        r.coupons_settled = true;
    }
    if points == 0 && !settle {
        return None;
    }
    let coupons: Vec<String> = if settle {
        rec.order
            .facts
            .coupons_used
            .iter()
            .map(|c| c.coupon_id.clone())
            .collect()
    } else {
        vec![]
    };
    let voided = policy.coupons_on_full_refund == CouponOnRefund::Void;
    let mut notices = Vec::new();
    let base = |extra: serde_json::Value| {
        let mut v = serde_json::json!({
            "customer_id": claim.customer_id,
            "order_id": claim.order_id,
            "claim_id": claim.claim_id,
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    };
    if points > 0 {
        notices.push(OutboxEvent::new(
            &claim.shop_id,
            &claim.claim_id,
            EventType::PointsReturned,
            base(serde_json::json!({ "points": points })),
            now,
        ));
    }
    for c in &coupons {
        notices.push(OutboxEvent::new(
            &claim.shop_id,
            &claim.claim_id,
            if voided {
                EventType::CouponVoided
            } else {
                EventType::CouponReturned
            },
            base(serde_json::json!({ "coupon_id": c })),
            now,
        ));
    }
    let (returned, void) = if voided {
        (vec![], coupons)
    } else {
        (coupons, vec![])
    };
    let event = ClaimEvent::BenefitsReturned {
        points,
        coupons: returned,
        voided: void,
    };
    claim.note(event.clone(), Actor::System, now);
    Some((event, notices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimType;
    use crate::domain::testkit::t;
    use crate::domain::testkit::{claim_on, order};

    /// An order of 2 × 50.00 paid 100.00, with a coupon and 150 points.
    fn with_benefits() -> OrderRecord {
        let mut rec = order(&[(2, 5_000)]);
        rec.order.facts.coupons_used = vec![UsedCoupon {
            coupon_id: "CPN-9".into(),
            value: "10.00".parse().unwrap(),
        }];
        rec.order.facts.points_used = Some(UsedPoints {
            points: 150,
            value: "1.50".parse().unwrap(),
        });
        rec
    }

    #[test]
    fn points_go_back_in_proportion_and_coupons_with_the_last_refund() {
        let mut rec = with_benefits();
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let p = BenefitsPolicy::default();
        // 33.33 of 100.00: floor(150 × 0.3333) = 49 points, no coupon yet.
        let (e, n) = on_refund(&mut claim, &mut rec, &p, 3_333, t(1)).unwrap();
        assert_eq!(
            e,
            ClaimEvent::BenefitsReturned {
                points: 49,
                coupons: vec![],
                voided: vec![]
            }
        );
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].event_type, EventType::PointsReturned);
        assert_eq!(n[0].payload["points"], 49);
        // The rest: exactly what is left (101), and the coupon, once.
        let (e, n) = on_refund(&mut claim, &mut rec, &p, 6_667, t(2)).unwrap();
        assert_eq!(
            e,
            ClaimEvent::BenefitsReturned {
                points: 101,
                coupons: vec!["CPN-9".into()],
                voided: vec![]
            }
        );
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].event_type, EventType::CouponReturned);
        assert_eq!(rec.ledger.benefits.points, 150);
        assert_eq!(
            on_refund(&mut claim, &mut rec, &p, 100, t(3)),
            None,
            "nothing left"
        );
    }

    #[test]
    fn coupons_are_voided_when_the_shop_says_so() {
        let mut rec = with_benefits();
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let p = BenefitsPolicy {
            coupons_on_full_refund: CouponOnRefund::Void,
        };
        let (e, n) = on_refund(&mut claim, &mut rec, &p, 10_000, t(1)).unwrap();
        assert_eq!(
            e,
            ClaimEvent::BenefitsReturned {
                points: 150,
                coupons: vec![],
                voided: vec!["CPN-9".into()]
            }
        );
        assert_eq!(n[1].event_type, EventType::CouponVoided);
    }

    #[test]
    fn an_order_without_benefits_moves_nothing() {
        let mut rec = order(&[(2, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        assert_eq!(
            on_refund(
                &mut claim,
                &mut rec,
                &BenefitsPolicy::default(),
                10_000,
                t(1)
            ),
            None
        );
        assert!(rec.ledger.benefits.is_none());
    }
}
