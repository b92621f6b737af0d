//! Fresh produce (seed: 5 jin of strawberries, 1 jin spoiled → 20 % of
//! the line; reported within 24 h of delivery with photos of the spoiled
//! fruit and the waybill).
//!
//! - A `fresh_spoilage` claim names fresh lines only. It takes whole units
//!   (`quantity`) or, on a line sold by weight (the order line's
//!   `weight_grams`, per unit), a weight (`weight_grams` on the claim's
//!   line): the spoiled share of what the line paid, its discounts and
//!   shipping share included, rounded to the fen ([`weight_share`]).
//! - How a weight fits the ledger ([`super::ledger`]): a weight draw takes
//!   grams and money, no units. A line's grams taken are its units taken
//!   times the unit weight plus the grams drawn; a weight claim takes at
//!   most the grams left, a claim by units at most the whole units left
//!   once the grams drawn are rounded up to units ([`units_held`]). The
//!   money of a weight draw is the share at the grams taken after it less
//!   the share at the grams taken before it, each rounded half up, capped
//!   by the money the line still has: weight claims that add up to the
//!   whole line add up to exactly what it paid, and no claim, by units or
//!   by weight, ever takes more grams, units or money than are left.
//! - The window (the policy's `fresh_claim_window_hours` after delivery,
//!   to the second) is the rules' `within_policy_window`: a late claim is
//!   rejected by the default rules with the published reason
//!   `fresh_window_passed`.
//! - Photos: [`FreshPolicy::min_photos`] (the spoiled fruit and the
//!   waybill: 2) make the evidence complete ([`photos_complete`]); the
//!   default rules approve a complete claim inside the window up to
//!   [`FreshPolicy::auto_approve_max`] ([`within_auto_limit`]), ask for the
//!   photos while they are missing, and leave the rest to staff.
//! - At delivery the customer is told the window is open
//!   ([`delivery_notice`]), once per order.

use super::claim::{Claim, ClaimType, SpecialKind};
use super::ledger::LineRequest;
use super::order::{FulfilmentState, Order, ProductKind};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The heaviest unit a line may declare: one tonne.
pub const MAX_UNIT_GRAMS: u32 = 1_000_000;

/// A shop's terms for fresh produce claims (the window itself is the
/// policy's `fresh_claim_window_hours`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshPolicy {
    /// Photos a fresh-spoilage claim needs before the rules may approve it.
    #[serde(default = "default_min_photos")]
    pub min_photos: u32,
    /// The most the default rules approve without staff, in minor units of
    /// the order's currency.
    #[serde(default = "default_auto_approve_max")]
    pub auto_approve_max: i64,
}

fn default_min_photos() -> u32 {
    2
}
fn default_auto_approve_max() -> i64 {
    10_000
}

impl Default for FreshPolicy {
    fn default() -> Self {
        FreshPolicy {
            min_photos: default_min_photos(),
            auto_approve_max: default_auto_approve_max(),
        }
    }
}

impl FreshPolicy {
    /// A policy a shop may send: 1 to 9 photos, 0 to 10,000.00.
    pub fn valid(&self) -> bool {
        (1..=9).contains(&self.min_photos) && (0..=1_000_000).contains(&self.auto_approve_max)
    }
}

/// Why a fresh-spoilage claim cannot be filed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreshRefusal {
    #[error("line {0} is not fresh produce: a fresh_spoilage claim names fresh lines only")]
    NotFresh(String),
    #[error("lines[{0}].weight_grams: only a fresh_spoilage claim takes a weight share")]
    WeightOutsideFresh(usize),
}

fn is_fresh_spoilage(t: ClaimType) -> bool {
    t == ClaimType::SpecialClaim {
        kind: SpecialKind::FreshSpoilage,
    }
}

/// The lines of a claim of type `t`: a fresh-spoilage claim names fresh
/// lines only, and only such a claim claims by weight.
pub fn check_lines(t: ClaimType, order: &Order, lines: &[LineRequest]) -> Result<(), FreshRefusal> {
    if !is_fresh_spoilage(t) {
        return match lines.iter().position(|l| l.weight_grams.is_some()) {
            Some(i) => Err(FreshRefusal::WeightOutsideFresh(i)),
            None => Ok(()),
        };
    }
    for l in lines {
        // An unknown line is the ledger's to refuse.
        if let Some(i) = order.line_index(&l.line_id) {
            if order.facts.lines[i].kind != ProductKind::Fresh {
                return Err(FreshRefusal::NotFresh(l.line_id.clone()));
            }
        }
    }
    Ok(())
}

/// Whether a claim carries the photos the policy asks of fresh spoilage
/// (any other claim: nothing asked here).
pub fn photos_complete(claim: &Claim, policy: &FreshPolicy) -> bool {
    !is_fresh_spoilage(claim.claim_type) || claim.evidence.len() >= policy.min_photos as usize
}

/// Whether a fresh-spoilage claim asks for no more than the rules may
/// approve without staff (false for any other claim).
pub fn within_auto_limit(claim: &Claim, policy: &FreshPolicy) -> bool {
    is_fresh_spoilage(claim.claim_type) && claim.requested_amount.minor() <= policy.auto_approve_max
}

/// Half up, in minor units: `paid × grams / line_grams`.
fn share(paid: i64, line_grams: u64, grams: u64) -> Option<i64> {
    if line_grams == 0 {
        return None;
    }
    let num = i128::from(paid).checked_mul(i128::from(grams))?;
    let den = i128::from(line_grams);
    let q = (num.checked_mul(2)? + den) / (den * 2);
    i64::try_from(q).ok()
}

/// The money of `grams` of a line of `line_grams` that paid `paid` (minor
/// units), when `before` grams of it were taken already: the share at
/// `before + grams` less the share at `before`, so successive weight
/// claims add up to exactly what the line paid. None when the grams are
/// not on the line or the sums overflow.
pub fn weight_share(paid: i64, line_grams: u64, before: u64, grams: u64) -> Option<i64> {
    let after = before.checked_add(grams)?;
    if after > line_grams || paid < 0 {
        return None;
    }
    Some(share(paid, line_grams, after)? - share(paid, line_grams, before)?)
}

/// The whole units that `grams` drawn by weight keep out of reach of a
/// claim by units: rounded up (a unit partly claimed is no longer whole).
pub fn units_held(grams: u64, unit_grams: Option<u32>) -> u32 {
    match unit_grams {
        Some(w) if w > 0 && grams > 0 => {
            u32::try_from(grams.div_ceil(u64::from(w))).unwrap_or(u32::MAX)
        }
        _ => 0,
    }
}

/// What the customer is told when a fresh order is delivered: until when
/// spoiled produce can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryNotice {
    pub window_hours: u32,
    pub closes_at: DateTime<Utc>,
}

/// The notice for `order` as it stands: delivered, with a fresh line.
pub fn delivery_notice(order: &Order, window_hours: u32) -> Option<DeliveryNotice> {
    let f = &order.facts;
    let delivered_at = f.fulfilment.delivered_at?;
    if f.fulfilment.state != FulfilmentState::Delivered
        || !f.lines.iter().any(|l| l.kind == ProductKind::Fresh)
    {
        return None;
    }
    Some(DeliveryNotice {
        window_hours,
        closes_at: delivered_at + Duration::hours(i64::from(window_hours)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::{Ledger, LedgerError};
    use crate::domain::order::OrderDraft;

    /// One box of 5 jin (2,500 g) of strawberries at 99.99, 10.00 off the
    /// line, 10.00 shipping shared with a 50.00 physical line; delivered.
    fn strawberries(delivered: bool) -> Order {
        let fulfilment = if delivered {
            serde_json::json!({"state": "delivered", "shipped_at": "2026-12-01T08:00:00Z",
                               "delivered_at": "2026-12-02T10:00:00Z"})
        } else {
            serde_json::json!({"state": "paid_unshipped"})
        };
        let draft: OrderDraft = serde_json::from_value(serde_json::json!({
            "customer_id": "c", "currency": "CNY", "placed_at": "2026-12-01T07:00:00Z",
            "lines": [
                {"line_id": "S", "sku": "STRAW-5J", "title": "strawberries 5 jin", "kind": "fresh",
                 "quantity": 1, "unit_price": "99.99", "discount": "10.00", "weight_grams": 2500},
                {"line_id": "P", "sku": "BOWL", "title": "bowl", "kind": "physical",
                 "quantity": 1, "unit_price": "50.00"}],
            "shipping_fee": "10.00",
            "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "t",
                          "amount": "149.99", "paid_at": "2026-12-01T07:01:00Z"}],
            "fulfilment": fulfilment}))
        .expect("a draft");
        Order::parse("shop-1", "o-1", draft).expect("an order")
    }

    fn by_weight(line: &str, grams: u32) -> LineRequest {
        LineRequest {
            line_id: line.into(),
            quantity: 0,
            weight_grams: Some(grams),
        }
    }

    fn by_units(line: &str, n: u32) -> LineRequest {
        LineRequest {
            line_id: line.into(),
            quantity: n,
            weight_grams: None,
        }
    }

    #[test]
    fn one_jin_of_five_is_a_fifth_of_what_the_line_paid_to_the_fen() {
        let o = strawberries(true);
        // 89.99 net; shipping 10.00 split 89.99 : 50.00 → 6.43 → 96.42 paid.
        assert_eq!(o.line_paid(0), 9_642);
        let mut ledger = Ledger::default();
        let e = ledger
            .reserve(&o, "clm-1", &[by_weight("S", 500)], None)
            .expect("a fifth");
        // 96.42 / 5 = 19.284 → 19.28.
        assert_eq!(e.lines[0].amount.minor(), 1_928);
        assert_eq!((e.lines[0].units, e.lines[0].grams), (0, 500));
    }

    #[test]
    fn weight_claims_never_take_more_than_is_left() {
        let o = strawberries(true);
        let mut ledger = Ledger::default();
        let mut total = 0;
        for (k, g) in [700, 700, 700].into_iter().enumerate() {
            let e = ledger
                .reserve(&o, &format!("clm-{k}"), &[by_weight("S", g)], None)
                .unwrap();
            total += e.lines[0].amount.minor();
        }
        let over = ledger
            .reserve(&o, "clm-x", &[by_weight("S", 401)], None)
            .unwrap_err();
        assert_eq!(
            over,
            LedgerError::NotEnoughWeight {
                line_id: "S".into(),
                requested: 401,
                free: 400
            }
        );
        // A partly claimed box is no longer a whole unit.
        assert!(matches!(
            ledger.reserve(&o, "clm-u", &[by_units("S", 1)], None),
            Err(LedgerError::NotEnoughUnits { free: 0, .. })
        ));
        let last = ledger
            .reserve(&o, "clm-3", &[by_weight("S", 400)], None)
            .unwrap();
        total += last.lines[0].amount.minor();
        assert_eq!(total, o.line_paid(0), "the whole line, exactly");
        assert_eq!(ledger.line_free(&o, 0).1.minor(), 0);
    }

    #[test]
    fn a_claimed_unit_takes_its_weight_and_bad_weights_are_refused() {
        let o = strawberries(true);
        let mut ledger = Ledger::default();
        ledger
            .reserve(&o, "clm-u", &[by_units("S", 1)], None)
            .unwrap();
        assert!(matches!(
            ledger.reserve(&o, "clm-w", &[by_weight("S", 1)], None),
            Err(LedgerError::NotEnoughWeight { free: 0, .. })
        ));
        let fresh = Ledger::default();
        assert_eq!(
            fresh.refundable(&o, &[by_weight("S", 0)]),
            Err(LedgerError::NoLines)
        );
        assert_eq!(
            fresh.refundable(&o, &[by_weight("P", 100)]),
            Err(LedgerError::NotByWeight("P".into()))
        );
        let both = LineRequest {
            weight_grams: Some(100),
            ..by_units("S", 1)
        };
        assert_eq!(
            fresh.refundable(&o, &[both]),
            Err(LedgerError::WeightAndQuantity("S".into()))
        );
    }

    #[test]
    fn fresh_spoilage_names_fresh_lines_and_weights_are_for_it_alone() {
        let o = strawberries(true);
        let fresh = ClaimType::SpecialClaim {
            kind: SpecialKind::FreshSpoilage,
        };
        assert_eq!(check_lines(fresh, &o, &[by_weight("S", 500)]), Ok(()));
        assert_eq!(
            check_lines(fresh, &o, &[by_units("P", 1)]),
            Err(FreshRefusal::NotFresh("P".into()))
        );
        assert_eq!(
            check_lines(ClaimType::RefundOnly, &o, &[by_weight("S", 500)]),
            Err(FreshRefusal::WeightOutsideFresh(0))
        );
        assert_eq!(
            check_lines(ClaimType::RefundOnly, &o, &[by_units("S", 1)]),
            Ok(())
        );
    }

    #[test]
    fn shares_round_half_up_and_add_up() {
        // 1.00 over three equal thirds: 0.33, 0.34 (0.67 − 0.33), 0.33.
        assert_eq!(weight_share(100, 3, 0, 1), Some(33));
        assert_eq!(weight_share(100, 3, 1, 1), Some(34));
        assert_eq!(weight_share(100, 3, 2, 1), Some(33));
        assert_eq!(weight_share(100, 3, 2, 2), None, "more than the line");
        assert_eq!(weight_share(i64::MAX, 2, 0, 2), Some(i64::MAX));
        assert_eq!(units_held(501, Some(500)), 2);
        assert_eq!(units_held(0, Some(500)), 0);
        assert_eq!(units_held(10, None), 0);
    }

    #[test]
    fn the_window_is_announced_for_delivered_fresh_orders_only() {
        let n = delivery_notice(&strawberries(true), 24).expect("delivered fresh");
        assert_eq!(
            n.closes_at,
            "2026-12-03T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(delivery_notice(&strawberries(false), 24), None);
        let plain = crate::domain::testkit::order(&[(1, 5_000)]);
        assert_eq!(delivery_notice(&plain.order, 24), None);
    }

    #[test]
    fn policies_out_of_range_are_refused() {
        assert!(FreshPolicy::default().valid());
        for bad in [
            FreshPolicy {
                min_photos: 0,
                auto_approve_max: 100,
            },
            FreshPolicy {
                min_photos: 2,
                auto_approve_max: -1,
            },
        ] {
            assert!(!bad.valid(), "{bad:?}");
        }
    }
}
