//! Returned goods received and inspected: the shop's report decides the
//! money (the refund with the return shipping the shop pays, a partial
//! refund, or a rejection) and where each unit goes (back on sale, to
//! defective stock).

use super::change::{Change, Refused};
use super::claim::{Actor, Claim, ClaimStatus};
use super::events::{EventType, OutboxEvent};
use super::ledger::{LedgerError, OrderRecord};
use super::money::{Amount, Money};
use super::order::Order;
use super::returns::{Disposition, InspectedLine, Inspection, InspectionDecision};
use super::review::issue_refunds;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The most characters of an inspection's notes.
pub const MAX_NOTES: usize = 2000;
/// The most photos of an inspection.
pub const MAX_PHOTOS: usize = 20;

/// The decision as staff send it, the partial amount as a decimal string
/// in the claim's currency.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum DecisionAsked {
    Accept,
    Partial { amount: Amount },
    Reject { reason: String },
}

/// What staff report of the returned goods.
#[derive(Debug, Clone)]
pub struct Report {
    pub lines: Vec<InspectedLine>,
    pub notes: String,
    /// Evidence keys of the inspection photos.
    pub photos: Vec<String>,
    pub decision: DecisionAsked,
    /// The member of staff who inspected.
    pub by: String,
}

/// Whether a report fits the claim: every line on it, once, no more units
/// than claimed; notes and photos within bounds; a partial refund only
/// for a claim that refunds, above zero. Returns the decision with its
/// amount as money in the claim's currency.
fn check_report(claim: &Claim, report: &Report) -> Result<InspectionDecision, Refused> {
    let bad = |m: String| Err(Refused::invalid("invalid_inspection", m));
    if report.lines.is_empty() {
        return bad("lines: report every returned line".into());
    }
    for (k, l) in report.lines.iter().enumerate() {
        let Some(claimed) = claim.lines.iter().find(|c| c.line_id == l.line_id) else {
            return bad(format!("line {} is not on this claim", l.line_id));
        };
        if report.lines[..k].iter().any(|o| o.line_id == l.line_id) {
            return bad(format!("line {} is reported twice", l.line_id));
        }
        if l.received > claimed.quantity {
            return bad(format!(
                "line {}: {} received but {} claimed",
                l.line_id, l.received, claimed.quantity
            ));
        }
    }
    if report.notes.chars().count() > MAX_NOTES {
        return bad(format!("notes: at most {MAX_NOTES} characters"));
    }
    if report.photos.len() > MAX_PHOTOS
        || report.photos.iter().any(|p| p.is_empty() || p.len() > 512)
    {
        return bad(format!("photos: at most {MAX_PHOTOS} evidence keys"));
    }
    Ok(match &report.decision {
        DecisionAsked::Accept => InspectionDecision::Accept,
        DecisionAsked::Partial { amount } => {
            if !claim.claim_type.refunds() {
                return bad("an exchange moves no money: accept or reject".into());
            }
            let amount = amount
                .to_money(claim.currency)
                .map_err(|reason| Refused::Amount {
                    field: "decision.amount".into(),
                    reason,
                })?;
            if !amount.is_positive() {
                return Err(Refused::invalid(
                    "invalid_amount",
                    "a partial refund is above zero; reject instead",
                ));
            }
            InspectionDecision::Partial { amount }
        }
        DecisionAsked::Reject { reason } => InspectionDecision::Reject {
            reason: reason.clone(),
        },
    })
}

/// Records the inspection on the claim and settles it: a rejection gives
/// the units back to the order; a partial refund lowers the approval and
/// sends that; an accepted return sends its refund and the return shipping
/// the shop pays. Every unit received goes to stock or defective stock.
pub fn settle(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    report: Report,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    let decision = check_report(claim, &report)?;
    let notices = inventory_events(claim, &rec.order, &report.lines, now);
    let inspection = Inspection {
        lines: report.lines,
        notes: report.notes,
        photos: report.photos,
        decision: decision.clone(),
        at: now,
        by: report.by,
    };
    let mut change = Change {
        events: claim.inspect(inspection, actor.clone(), now)?,
        notices,
        ..Change::default()
    };
    match decision {
        // A fast refund's money already went: whatever the inspection
        // found stays on the claim as the shop's grounds.
        _ if claim.returns.fast_refund => {}
        // A fast exchange's replacement already went: a failed inspection
        // stays on the claim as the shop's grounds.
        InspectionDecision::Reject { .. } if claim.status != ClaimStatus::ReturnReceived => {}
        InspectionDecision::Reject { reason } => {
            change
                .events
                .push(claim.reject_after_inspection(reason, actor, now)?);
            rec.ledger.release(&claim.claim_id)?;
            change.ledger = true;
        }
        InspectionDecision::Partial { amount } => {
            claim.lower_approved(amount)?;
            rec.ledger.settle(&claim.claim_id, amount)?;
            change.ledger = true;
            change.events.push(claim.start_refund(actor.clone(), now)?);
            let id = claim.claim_id.clone();
            change.refunds = issue_refunds(claim, rec, &id, &actor, now)?;
        }
        InspectionDecision::Accept if claim.claim_type.refunds() => {
            change.events.push(claim.start_refund(actor.clone(), now)?);
            let refunds = accepted_return_refunds(claim, rec, &actor, now, &mut change.ledger)?;
            if refunds.is_empty() {
                // Nothing to pay back (approved at zero): done.
                change
                    .events
                    .push(claim.refund_succeeded(Actor::System, now)?);
            }
            change.refunds = refunds;
        }
        InspectionDecision::Accept => {}
    }
    Ok(change)
}

/// The inventory events of an inspection: sellable units back on sale,
/// faulty ones to defective stock (never back on sale). An inspection
/// happens once per claim, so each is published once.
pub fn inventory_events(
    claim: &Claim,
    order: &Order,
    lines: &[InspectedLine],
    now: DateTime<Utc>,
) -> Vec<OutboxEvent> {
    lines
        .iter()
        .filter(|l| l.received > 0)
        .filter_map(|l| {
            let kind = match l.disposition {
                Disposition::Restock => EventType::InventoryRestock,
                Disposition::Defective => EventType::InventoryDefective,
                Disposition::NotRestocked => return None,
            };
            let sku = order
                .line_index(&l.line_id)
                .map(|i| order.facts.lines[i].sku.clone())
                .unwrap_or_default();
            Some(OutboxEvent::new(
                &claim.shop_id,
                &claim.claim_id,
                kind,
                serde_json::json!({
                    "shop_id": claim.shop_id, "order_id": claim.order_id,
                    "claim_id": claim.claim_id, "line_id": l.line_id, "sku": sku,
                    "quantity": l.received,
                }),
                now,
            ))
        })
        .collect()
}

/// The refunds of an accepted return: the claim's approved amount and the
/// return shipping the shop pays. The ledger's limit is what each payment
/// still has: the allowance is capped by what the whole order still has
/// refundable, and what it takes is no longer refundable on the other
/// lines (over all claims, the customer never gets back more than was
/// paid). Used when the goods passed inspection, and by a fast refund
/// before they arrive.
pub fn accepted_return_refunds(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    actor: &Actor,
    now: DateTime<Utc>,
    ledger_changed: &mut bool,
) -> Result<Vec<crate::domain::refund::Refund>, Refused> {
    let id = claim.claim_id.clone();
    let mut refunds = issue_refunds(claim, rec, &id, actor, now)?;
    let shipping = claim
        .returns
        .terms
        .as_ref()
        .map_or(Money::zero(claim.currency), |t| t.shipping_refund);
    let shipping = shipping
        .checked_min(rec.ledger.order_free(&rec.order))
        .map_err(LedgerError::from)?;
    if shipping.is_positive() {
        let extra = format!("{id}S");
        rec.ledger
            .reserve_money(&rec.order, &extra, &[], shipping)?;
        *ledger_changed = true;
        refunds.extend(issue_refunds(claim, rec, &extra, actor, now)?);
    }
    Ok(refunds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::{ClaimStep, ClaimType};
    use crate::domain::returns::ReceiptOutcome;
    use crate::domain::testkit::{claim_on, order, staff, t};

    fn received(claim_type: ClaimType) -> (Claim, OrderRecord) {
        let mut rec = order(&[(2, 5_000)]);
        let mut claim = claim_on(&mut rec, claim_type);
        claim.approve(None, None, staff(), t(10)).unwrap();
        claim.receive_return(staff(), t(20)).unwrap();
        (claim, rec)
    }

    fn report(decision: DecisionAsked, received: u32, disposition: Disposition) -> Report {
        Report {
            lines: vec![InspectedLine {
                line_id: "L0".into(),
                received,
                outcome: ReceiptOutcome::Received,
                disposition,
            }],
            notes: "checked".into(),
            photos: vec![],
            decision,
            by: "stf-1".into(),
        }
    }

    #[test]
    fn accepted_goods_are_refunded_and_go_back_on_sale() {
        let (mut claim, mut rec) = received(ClaimType::ReturnRefund);
        let change = settle(
            &mut claim,
            &mut rec,
            report(DecisionAsked::Accept, 2, Disposition::Restock),
            staff(),
            t(30),
        )
        .unwrap();
        let refunded: i64 = change.refunds.iter().map(|r| r.amount.minor()).sum();
        assert!(refunded >= 10_000, "{refunded}");
        assert!(change
            .events
            .iter()
            .any(|e| e.step() == ClaimStep::RefundStarted));
        assert_eq!(change.notices.len(), 1);
        assert_eq!(change.notices[0].event_type, EventType::InventoryRestock);
        assert_eq!(change.notices[0].payload["quantity"], 2);
    }

    #[test]
    fn a_partial_refund_sends_that_amount() {
        let (mut claim, mut rec) = received(ClaimType::ReturnRefund);
        let asked = DecisionAsked::Partial {
            amount: serde_json::from_value(serde_json::json!("30.00")).unwrap(),
        };
        let change = settle(
            &mut claim,
            &mut rec,
            report(asked, 2, Disposition::Defective),
            staff(),
            t(30),
        )
        .unwrap();
        assert_eq!(
            Money::checked_sum(claim.currency, change.refunds.iter().map(|r| r.amount)),
            Ok(Money::from_minor(3_000, claim.currency))
        );
        assert_eq!(
            claim.approved_amount,
            Some(Money::from_minor(3_000, claim.currency))
        );
        assert_eq!(change.notices[0].event_type, EventType::InventoryDefective);
    }

    #[test]
    fn a_bad_report_is_refused_and_changes_nothing() {
        let (mut claim, mut rec) = received(ClaimType::ReturnRefund);
        let before = (claim.clone(), rec.clone());
        let too_many = report(DecisionAsked::Accept, 3, Disposition::Restock);
        assert!(matches!(
            settle(&mut claim, &mut rec, too_many, staff(), t(30)),
            Err(Refused::Invalid {
                code: "invalid_inspection",
                ..
            })
        ));
        let bad_amount = DecisionAsked::Partial {
            amount: serde_json::from_value(serde_json::json!("0.001")).unwrap(),
        };
        assert!(matches!(
            settle(
                &mut claim,
                &mut rec,
                report(bad_amount, 2, Disposition::Restock),
                staff(),
                t(30)
            ),
            Err(Refused::Amount { .. })
        ));
        assert_eq!((claim, rec), before);
    }

    #[test]
    fn an_exchange_takes_no_partial_refund() {
        let (mut claim, mut rec) = received(ClaimType::Exchange);
        let asked = DecisionAsked::Partial {
            amount: serde_json::from_value(serde_json::json!("10.00")).unwrap(),
        };
        assert!(matches!(
            settle(
                &mut claim,
                &mut rec,
                report(asked, 2, Disposition::Restock),
                staff(),
                t(30)
            ),
            Err(Refused::Invalid {
                code: "invalid_inspection",
                ..
            })
        ));
    }
}
