//! Rule outcomes over a claim's life. The shop's rules decide a claim when
//! it is filed, and run again whenever its facts change later — the return
//! parcel picked up or moving by the courier's news, the goods received,
//! new evidence. What an outcome does depends on where the claim is:
//!
//! - waiting for its first decision: every outcome decides it;
//!   `fast_refund` approves a return and grants that its money goes back
//!   as soon as the courier has the parcel, `fast_exchange` approves an
//!   exchange and lets its replacement ship once the return parcel moves;
//! - waiting for staff (a rule sent it there before): a decisive outcome
//!   (approve, reject, second review, the fast ones) decides it now that
//!   the facts changed; "manual review" and "request evidence" leave it
//!   with staff;
//! - approved, goods on their way back: only `fast_refund` and
//!   `fast_exchange` do anything (grant the fast way);
//! - anything later: nothing.
//!
//! A granted fast refund is carried out by [`refund_if_due`] the moment the
//! parcel is moving (or the goods arrived), whichever fact came last.

use super::change::{Change, Refused};
use super::claim::{Actor, Claim, ClaimStatus, ClaimType};
use super::ledger::OrderRecord;
use super::review::{apply, Verdict};
use super::rules::Outcome;
use chrono::{DateTime, Utc};

/// The first decision of a claim by a rule outcome.
pub fn decide(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    outcome: &Outcome,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    match outcome {
        Outcome::FastRefund => {
            if !claim.claim_type.refunds() {
                return Err(not_for(claim, "a fast refund"));
            }
            let mut change = apply(
                claim,
                rec,
                &Verdict::approve_requested(),
                actor.clone(),
                now,
            )?;
            if claim.claim_type.needs_return() {
                claim.returns.fast_refund_granted = true;
                change.merge(refund_if_due(claim, rec, actor, now)?);
            }
            Ok(change)
        }
        Outcome::FastExchange => {
            if claim.claim_type != ClaimType::Exchange {
                return Err(not_for(claim, "a fast exchange"));
            }
            let change = apply(claim, rec, &Verdict::approve_requested(), actor, now)?;
            claim.returns.fast_exchange_granted = true;
            Ok(change)
        }
        other => apply(claim, rec, &Verdict::from_outcome(other), actor, now),
    }
}

fn not_for(claim: &Claim, what: &str) -> Refused {
    Refused::not_now(
        "outcome_not_applicable",
        format!(
            "{what} does not apply to a {} claim",
            claim.claim_type.type_name()
        ),
    )
}

/// A rule outcome on a claim whose facts changed after its first decision
/// (see the module notes). An empty change: nothing to do.
pub fn rerun(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    outcome: &Outcome,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    use ClaimStatus::*;
    match claim.status {
        Submitted => decide(claim, rec, outcome, actor, now),
        UnderReview if !claim.review.escalated => match outcome {
            // A re-run never rejects a claim staff hold: its time facts are
            // measured now, not when it was filed.
            Outcome::ManualReview | Outcome::RequestEvidence { .. } | Outcome::Reject { .. } => {
                Ok(Change::default())
            }
            // Not applicable to this claim: it stays with staff.
            Outcome::FastRefund | Outcome::FastExchange if !applies(claim, outcome) => {
                Ok(Change::default())
            }
            decisive => decide(claim, rec, decisive, actor, now),
        },
        AwaitingReturn | ReturnShipped | ReturnReceived => {
            match outcome {
                Outcome::FastRefund if applies(claim, outcome) => {
                    claim.returns.fast_refund_granted = true;
                }
                Outcome::FastExchange if applies(claim, outcome) => {
                    claim.returns.fast_exchange_granted = true;
                }
                // The facts changed and the rules no longer grant it (a
                // re-used photo came in, say): the money waits for the goods.
                _ => claim.returns.fast_refund_granted = false,
            }
            refund_if_due(claim, rec, actor, now)
        }
        _ => Ok(Change::default()),
    }
}

fn applies(claim: &Claim, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::FastRefund => claim.claim_type.refunds(),
        Outcome::FastExchange => claim.claim_type == ClaimType::Exchange,
        _ => true,
    }
}

/// Sends a granted fast refund once the courier has the parcel (picked up,
/// moving or delivered to the shop) or the goods arrived, before anyone
/// inspects them. Nothing when not granted or not due yet.
pub fn refund_if_due(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    let moving = claim
        .returns
        .shipment
        .as_ref()
        .is_some_and(super::returns::Shipment::is_moving);
    let due = claim.returns.fast_refund_granted
        && !claim.returns.fast_refund
        && claim.returns.inspection.is_none()
        && match claim.status {
            ClaimStatus::ReturnReceived => true,
            ClaimStatus::AwaitingReturn | ClaimStatus::ReturnShipped => moving,
            _ => false,
        };
    if !due {
        return Ok(Change::default());
    }
    let mut change = Change::steps(vec![claim.start_fast_refund(actor.clone(), now)?]);
    let refunds =
        super::inspection::accepted_return_refunds(claim, rec, &actor, now, &mut change.ledger)?;
    if refunds.is_empty() {
        change
            .events
            .push(claim.refund_succeeded(Actor::System, now)?);
    }
    change.refunds = refunds;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimStatus;
    use crate::domain::testkit::{approved, claim_on, order, t};

    fn rule() -> Actor {
        Actor::Rule {
            rule_id: "r".into(),
            version: 1,
        }
    }

    #[test]
    fn a_fast_refund_approves_a_return_and_waits_for_the_parcel() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::ReturnRefund);
        let change = decide(&mut claim, &mut rec, &Outcome::FastRefund, rule(), t(1)).unwrap();
        assert_eq!(claim.status, ClaimStatus::AwaitingReturn);
        assert!(claim.returns.fast_refund_granted);
        assert!(change.refunds.is_empty(), "no parcel yet");
        // Courier news without a moving parcel: still nothing.
        let again = rerun(&mut claim, &mut rec, &Outcome::Approve, rule(), t(2)).unwrap();
        assert!(again.is_empty());
        assert!(!claim.returns.fast_refund);
    }

    #[test]
    fn a_fast_outcome_that_does_not_fit_the_claim_is_refused_first_and_ignored_later() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let refused =
            decide(&mut claim, &mut rec, &Outcome::FastExchange, rule(), t(1)).unwrap_err();
        assert!(refused.to_string().contains("fast exchange"), "{refused}");
        // With staff: a fast exchange of a refund leaves it there.
        apply(&mut claim, &mut rec, &Verdict::ManualReview, rule(), t(1)).unwrap();
        let later = rerun(&mut claim, &mut rec, &Outcome::FastExchange, rule(), t(2)).unwrap();
        assert!(later.is_empty());
        assert_eq!(claim.status, ClaimStatus::UnderReview);
    }

    #[test]
    fn later_facts_decide_a_claim_with_staff_only_by_a_decisive_outcome() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        apply(&mut claim, &mut rec, &Verdict::ManualReview, rule(), t(1)).unwrap();
        for quiet in [
            Outcome::ManualReview,
            Outcome::RequestEvidence { note: "x".into() },
        ] {
            assert!(rerun(&mut claim, &mut rec, &quiet, rule(), t(2))
                .unwrap()
                .is_empty());
            assert_eq!(claim.status, ClaimStatus::UnderReview);
        }
        let change = rerun(&mut claim, &mut rec, &Outcome::Approve, rule(), t(3)).unwrap();
        assert_eq!(claim.status, ClaimStatus::Refunding);
        assert_eq!(change.refunds.len(), 1);
    }

    /// A fast refund on the pickup scan of an approved return on a 3,999.00
    /// appliance of an order that also has a 30.00 mug, with the shop
    /// paying the return (12.00 allowance); `pickup`: the customer booked a
    /// pickup before the courier came.
    fn fast_refund_on_the_scan(pickup: bool) -> (OrderRecord, Change) {
        use crate::domain::money::{Currency, Money};
        use crate::domain::returns::{PickupBooking, ReturnTerms, Shipment, ShippingPayer};
        use crate::domain::tracking::{Carrier, CourierState};
        let cny = |m| Money::from_minor(m, Currency::Cny);
        let mut rec = order(&[(1, 399_900), (1, 3_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::ReturnRefund);
        claim.returns.terms = Some(ReturnTerms {
            shipping_payer: ShippingPayer::Shop,
            shipping_refund: cny(1_200),
            restocking_fee: cny(0),
        });
        decide(&mut claim, &mut rec, &Outcome::FastRefund, rule(), t(1)).unwrap();
        if pickup {
            let booking = PickupBooking {
                date: chrono::NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
                slot: "14:00-18:00".into(),
                address: "8 Wensan Road, Hangzhou".into(),
                contact_name: "Li".into(),
                contact_phone: "138 0000 0000".into(),
            };
            claim.book_pickup(booking, rule(), t(2)).unwrap();
            let terms = claim.returns.terms.as_ref().unwrap();
            assert_eq!(terms.shipping_refund, cny(0));
            assert_eq!(terms.shipping_payer, ShippingPayer::Shop);
        }
        claim
            .ship_return("jd".into(), "JDAB12345678901".into(), rule(), t(3))
            .unwrap();
        let mut sh = Shipment::new(Carrier::Jd, "JDAB12345678901".into(), t(3));
        sh.state = Some(CourierState::PickedUp);
        claim.returns.shipment = Some(sh);
        let change = rerun(&mut claim, &mut rec, &Outcome::FastRefund, rule(), t(4)).unwrap();
        assert!(claim.returns.fast_refund);
        (rec, change)
    }

    #[test]
    fn a_picked_up_return_is_refunded_without_return_shipping() {
        let (rec, change) = fast_refund_on_the_scan(true);
        let amounts: Vec<i64> = change.refunds.iter().map(|r| r.amount.minor()).collect();
        assert_eq!(amounts, [399_900], "the goods alone");
        assert_eq!(
            rec.ledger.order_free(&rec.order).minor(),
            3_000,
            "the mug keeps its money"
        );
        // A parcel the customer sent and paid for: the allowance comes
        // out of what the order has left.
        let (rec, change) = fast_refund_on_the_scan(false);
        let amounts: Vec<i64> = change.refunds.iter().map(|r| r.amount.minor()).collect();
        assert_eq!(amounts, [399_900, 1_200]);
        assert_eq!(rec.ledger.order_free(&rec.order).minor(), 1_800);
    }

    #[test]
    fn an_approved_return_takes_only_the_fast_outcomes() {
        let (mut rec, mut claim, _) = approved(ClaimType::ReturnRefund);
        for o in [
            Outcome::Approve,
            Outcome::Reject { reason: "x".into() },
            Outcome::SecondReview,
        ] {
            assert!(rerun(&mut claim, &mut rec, &o, rule(), t(70))
                .unwrap()
                .is_empty());
            assert_eq!(claim.status, ClaimStatus::AwaitingReturn);
        }
        rerun(&mut claim, &mut rec, &Outcome::FastRefund, rule(), t(71)).unwrap();
        assert!(claim.returns.fast_refund_granted);
    }
}
