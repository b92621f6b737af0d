//! Deciding a claim. A rule, a reviewer, a batch and the deadline sweep all
//! decide through [`apply`], so a claim and its order's ledger change in
//! exactly the same way whoever decides.

use super::change::{Change, Refused};
use super::claim::{Actor, Claim, ClaimEvent, ClaimStatus};
use super::ledger::OrderRecord;
use super::money::Money;
use super::refund::{plan, Issue, Refund, RefundOrigin};
use super::rules::Outcome;
use chrono::{DateTime, Utc};

/// What a reviewer (a rule or a person) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `amount` in the claim's currency; None approves what was requested.
    Approve {
        amount: Option<Money>,
        reason: Option<String>,
    },
    /// `reason`: a rejection code of the shop's catalogue.
    Reject {
        reason: String,
    },
    RequestEvidence {
        note: String,
    },
    SecondReview {
        reason: String,
    },
    /// Leave it to a person.
    ManualReview,
}

impl Verdict {
    /// Approves what was requested, with no reason given.
    pub fn approve_requested() -> Verdict {
        Verdict::Approve {
            amount: None,
            reason: None,
        }
    }

    /// The verdict of a rule outcome; the fast outcomes approve (what else
    /// they grant is [`crate::domain::fast_track`]'s).
    pub fn from_outcome(o: &Outcome) -> Verdict {
        match o {
            Outcome::Approve | Outcome::FastRefund | Outcome::FastExchange => {
                Verdict::approve_requested()
            }
            Outcome::Reject { reason } => Verdict::Reject {
                reason: reason.clone(),
            },
            Outcome::ManualReview => Verdict::ManualReview,
            Outcome::SecondReview => Verdict::SecondReview {
                reason: "rule".into(),
            },
            Outcome::RequestEvidence { note } => Verdict::RequestEvidence { note: note.clone() },
        }
    }
}

/// Applies a verdict to a claim and its order's ledger. An approved refund
/// that needs no goods back starts at once: its refunds are in the change,
/// committed with the approval. Nothing happens (an empty change) on manual
/// review of a claim already under review.
pub fn apply(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    verdict: &Verdict,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    let ev = match verdict {
        Verdict::Approve { amount, reason } => {
            let ev = claim.approve(*amount, reason.clone(), actor.clone(), now)?;
            let approved = claim.approved_amount.unwrap_or(claim.requested_amount);
            rec.ledger.settle(&claim.claim_id, approved)?;
            let mut change = Change {
                events: vec![ev],
                ledger: true,
                ..Change::default()
            };
            // Money goes back at once when no goods travel back; returns
            // refund once received (and exchanges move no money).
            if claim.claim_type.refunds() && !claim.claim_type.needs_return() {
                change.events.push(claim.start_refund(actor.clone(), now)?);
                if approved.is_zero() {
                    // Approved at nothing: there is no money to wait for.
                    change
                        .events
                        .push(claim.refund_succeeded(Actor::System, now)?);
                } else {
                    let entry_id = claim.claim_id.clone();
                    change.refunds = issue_refunds(claim, rec, &entry_id, &actor, now)?;
                }
                // A late pre-sale's compensation, with a full approval only.
                if let Some(extra) = claim
                    .compensation
                    .filter(|_| approved == claim.requested_amount)
                {
                    let r = crate::domain::refund::compensation(
                        &rec.order,
                        &claim.claim_id,
                        extra,
                        &actor,
                        now,
                    );
                    claim.note_refund(
                        ClaimEvent::RefundSent {
                            refund_id: r.refund_id.clone(),
                            channel: r.channel,
                            amount: r.amount,
                            expected_arrival: r.expected_arrival,
                            replaces: None,
                        },
                        now,
                    )?;
                    rec.ledger
                        .compensations
                        .push(crate::domain::ledger::Compensation {
                            claim_id: claim.claim_id.to_string(),
                            amount: extra,
                        });
                    change.refunds.push(r);
                }
            }
            return Ok(change);
        }
        Verdict::Reject { reason } => {
            let ev = claim.reject(reason.clone(), actor, now)?;
            rec.ledger.release(&claim.claim_id)?;
            return Ok(Change {
                events: vec![ev],
                ledger: true,
                ..Change::default()
            });
        }
        Verdict::RequestEvidence { note } => claim.request_evidence(note.clone(), actor, now)?,
        Verdict::SecondReview { reason } => {
            claim.require_second_review(reason.clone(), actor, now)?
        }
        Verdict::ManualReview => {
            if claim.status != ClaimStatus::Submitted {
                return Ok(Change::default());
            }
            claim.start_review(actor, now)?
        }
    };
    Ok(Change::steps(vec![ev]))
}

/// The refunds of a claim's ledger entry `entry_id` (the claim's own, or
/// an extra one such as the return shipping the shop pays), to the route
/// the customer chose, each noted on the timeline as sent: where the money
/// goes and by when. The claim completes when every one of them arrived.
pub fn issue_refunds(
    claim: &mut Claim,
    rec: &OrderRecord,
    entry_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Refund>, Refused> {
    let Some(entry) = rec.ledger.entry(entry_id) else {
        return Ok(vec![]);
    };
    let route = claim.refund_to.clone();
    let refunds = plan(
        &rec.order,
        entry,
        &Issue {
            origin: RefundOrigin::Claim {
                claim_id: claim.claim_id.clone(),
            },
            origin_id: entry_id,
            route: &route,
            actor,
            now,
        },
    );
    for r in &refunds {
        claim.note_refund(
            ClaimEvent::RefundSent {
                refund_id: r.refund_id.clone(),
                channel: r.channel,
                amount: r.amount,
                expected_arrival: r.expected_arrival,
                replaces: None,
            },
            now,
        )?;
    }
    Ok(refunds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::{ClaimStep, ClaimType};
    use crate::domain::ledger::LedgerError;
    use crate::domain::testkit::{approved, claim_on, order, staff, t};

    fn steps(c: &Change) -> Vec<ClaimStep> {
        c.events.iter().map(ClaimEvent::step).collect()
    }

    #[test]
    fn approving_a_refund_only_claim_sends_its_money_in_the_same_change() {
        let (_, claim, change) = approved(ClaimType::RefundOnly);
        assert_eq!(
            steps(&change),
            [ClaimStep::Approved, ClaimStep::RefundStarted]
        );
        assert!(change.ledger);
        assert_eq!(change.refunds.len(), 1);
        assert_eq!(
            change.refunds[0].amount,
            Money::from_minor(10_000, claim.currency)
        );
        assert_eq!(claim.status, ClaimStatus::Refunding);
        // The refund is on the timeline as sent, where the customer sees it.
        assert!(claim
            .timeline
            .iter()
            .any(|e| e.event.step() == ClaimStep::RefundSent));
    }

    #[test]
    fn approving_nothing_completes_without_a_refund() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let approve = Verdict::Approve {
            amount: Some(Money::zero(claim.currency)),
            reason: Some("goodwill only".into()),
        };
        let change = apply(&mut claim, &mut rec, &approve, staff(), t(60)).unwrap();
        assert!(change.refunds.is_empty());
        assert_eq!(
            steps(&change),
            [
                ClaimStep::Approved,
                ClaimStep::RefundStarted,
                ClaimStep::RefundSucceeded
            ]
        );
    }

    #[test]
    fn a_return_waits_for_the_goods_before_money_moves() {
        let (_, _, change) = approved(ClaimType::ReturnRefund);
        assert_eq!(steps(&change), [ClaimStep::Approved]);
        assert!(change.refunds.is_empty());
    }

    #[test]
    fn rejecting_gives_the_units_back_to_the_order() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let line = [crate::domain::ledger::LineRequest {
            line_id: "L0".into(),
            quantity: 1,
            weight_grams: None,
        }];
        assert!(
            rec.ledger.refundable(&rec.order, &line).is_err(),
            "reserved by the claim"
        );
        let reject = Verdict::Reject {
            reason: "not_as_described".into(),
        };
        let change = apply(&mut claim, &mut rec, &reject, staff(), t(60)).unwrap();
        assert_eq!(steps(&change), [ClaimStep::Rejected]);
        assert!(change.ledger);
        assert_eq!(
            rec.ledger.refundable(&rec.order, &line).unwrap(),
            [Money::from_minor(5_000, claim.currency)]
        );
    }

    #[test]
    fn manual_review_of_a_claim_already_in_review_changes_nothing() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let first = apply(&mut claim, &mut rec, &Verdict::ManualReview, staff(), t(1)).unwrap();
        assert_eq!(steps(&first), [ClaimStep::ReviewStarted]);
        let again = apply(&mut claim, &mut rec, &Verdict::ManualReview, staff(), t(2)).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn approving_more_than_is_left_is_refused() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let approve = Verdict::Approve {
            amount: Some(Money::from_minor(5_001, claim.currency)),
            reason: None,
        };
        let refused = apply(&mut claim, &mut rec, &approve, staff(), t(60)).unwrap_err();
        assert!(
            matches!(
                refused,
                Refused::Claim(_) | Refused::Ledger(LedgerError::AmountTooHigh { .. })
            ),
            "{refused:?}"
        );
    }
}
