//! An exchange's replacement going out: when it may ship (after the goods
//! passed inspection, or at once for a fast-exchange member whose return is
//! moving) and the price difference of another variant.

use super::change::{Change, Refused};
use super::claim::{Actor, Claim, ClaimStatus, ClaimType};
use super::events::{EventType, OutboxEvent};
use super::ledger::OrderRecord;
use super::money::Amount;
use super::refund::{plan, Issue, MerchantReason, RefundOrigin};
use super::returns::{InspectionDecision, Shipment};
use super::tracking::Carrier;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Another variant costs less (the difference is refunded) or more (the
/// storefront asks the customer to pay it), in the claim's currency.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "direction", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceDifference {
    Refund { amount: Amount },
    Collect { amount: Amount },
}

/// The replacement parcel, its carrier's format already checked.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub carrier: Carrier,
    pub tracking_number: String,
    pub price_difference: Option<PriceDifference>,
}

/// Ships an exchange's replacement and settles a price difference: a
/// cheaper variant refunds the difference (from what the order still has),
/// a dearer one asks the storefront to collect it.
pub fn ship_replacement(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    r: &Replacement,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    if claim.claim_type != ClaimType::Exchange {
        return Err(Refused::not_now(
            "not_an_exchange",
            "only an exchange ships a replacement",
        ));
    }
    let inspected_ok = claim.status == ClaimStatus::ReturnReceived
        && claim
            .returns
            .inspection
            .as_ref()
            .is_some_and(|i| i.decision == InspectionDecision::Accept);
    let fast = matches!(
        claim.status,
        ClaimStatus::AwaitingReturn | ClaimStatus::ReturnShipped
    ) && claim.returns.fast_exchange_granted
        && claim
            .returns
            .shipment
            .as_ref()
            .is_some_and(Shipment::is_moving);
    if !inspected_ok && !fast {
        return Err(Refused::not_now(
            "replacement_not_allowed",
            "the replacement ships once the returned goods passed inspection \
             (or, for a fast exchange, once the return parcel is moving)",
        ));
    }
    claim.returns.fast_exchange = fast;
    let ev = claim.ship_replacement(
        r.carrier.code().into(),
        r.tracking_number.clone(),
        actor.clone(),
        now,
    )?;
    claim.returns.replacement = Some(Shipment::new(r.carrier, r.tracking_number.clone(), now));
    let mut change = Change::steps(vec![ev]);
    let money = |amount: &Amount| {
        amount
            .to_money(claim.currency)
            .map_err(|reason| Refused::Amount {
                field: "price_difference.amount".into(),
                reason,
            })
    };
    match &r.price_difference {
        None => {}
        Some(PriceDifference::Refund { amount }) => {
            let amount = money(amount)?;
            let id = format!("{}X", claim.claim_id);
            let lines: Vec<String> = claim.lines.iter().map(|l| l.line_id.clone()).collect();
            let entry = rec
                .ledger
                .reserve_money(&rec.order, &id, &lines, amount)?
                .clone();
            change.ledger = true;
            change.refunds = plan(
                &rec.order,
                &entry,
                &Issue {
                    origin: RefundOrigin::Merchant {
                        merchant_refund_id: id.clone(),
                        reason: MerchantReason::PriceDifference,
                        note: format!("exchange {} for a cheaper variant", claim.claim_id),
                    },
                    origin_id: &id,
                    route: &claim.refund_to,
                    actor: &actor,
                    now,
                },
            );
        }
        Some(PriceDifference::Collect { amount }) => {
            let amount = money(amount)?;
            if !amount.is_positive() {
                return Err(Refused::invalid("invalid_amount", "above zero"));
            }
            change.notices.push(OutboxEvent::new(
                &claim.shop_id,
                &claim.claim_id,
                EventType::ExchangePaymentRequested,
                serde_json::json!({
                    "claim_id": claim.claim_id, "order_id": claim.order_id,
                    "customer_id": claim.customer_id, "amount": amount,
                    "currency": claim.currency,
                }),
                now,
            ));
        }
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimStep;
    use crate::domain::returns::{Disposition, InspectedLine, Inspection, ReceiptOutcome};
    use crate::domain::testkit::{claim_on, order, staff, t};

    fn replacement(price_difference: Option<PriceDifference>) -> Replacement {
        Replacement {
            carrier: Carrier::Shunfeng,
            tracking_number: "SF1234567890".into(),
            price_difference,
        }
    }

    fn amount(s: &str) -> Amount {
        serde_json::from_value(serde_json::json!(s)).unwrap()
    }

    /// An exchange whose returned goods passed inspection.
    fn inspected() -> (Claim, OrderRecord) {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::Exchange);
        claim.approve(None, None, staff(), t(10)).unwrap();
        claim.receive_return(staff(), t(20)).unwrap();
        claim
            .inspect(
                Inspection {
                    lines: vec![InspectedLine {
                        line_id: "L0".into(),
                        received: 1,
                        outcome: ReceiptOutcome::Received,
                        disposition: Disposition::Restock,
                    }],
                    notes: String::new(),
                    photos: vec![],
                    decision: InspectionDecision::Accept,
                    at: t(30),
                    by: "stf-1".into(),
                },
                staff(),
                t(30),
            )
            .unwrap();
        (claim, rec)
    }

    /// [`inspected`], then its replacement shipped with `difference`.
    fn shipped(difference: PriceDifference) -> (Claim, Change) {
        let (mut claim, mut rec) = inspected();
        let r = replacement(Some(difference));
        let change = ship_replacement(&mut claim, &mut rec, &r, staff(), t(40)).unwrap();
        (claim, change)
    }

    /// Ships `replacement(None)` for `claim` at `t(40)`, expecting a refusal.
    fn refused_shipping(mut claim: Claim, mut rec: OrderRecord) -> Refused {
        let r = replacement(None);
        ship_replacement(&mut claim, &mut rec, &r, staff(), t(40)).unwrap_err()
    }

    #[test]
    fn the_replacement_ships_after_inspection_and_a_cheaper_variant_refunds_the_difference() {
        let (claim, change) = shipped(PriceDifference::Refund {
            amount: amount("12.00"),
        });
        assert_eq!(change.events[0].step(), ClaimStep::ReplacementShipped);
        assert_eq!(change.refunds.len(), 1);
        assert_eq!(
            change.refunds[0].amount,
            crate::domain::money::Money::from_minor(1_200, claim.currency)
        );
        assert!(change.ledger);
    }

    #[test]
    fn a_dearer_variant_asks_the_storefront_to_collect() {
        let (_, change) = shipped(PriceDifference::Collect {
            amount: amount("8.50"),
        });
        assert_eq!(
            change.notices[0].event_type,
            EventType::ExchangePaymentRequested
        );
        assert_eq!(
            change.notices[0].payload["amount"],
            serde_json::json!({"amount": "8.50", "currency": "CNY"})
        );
        assert_eq!(change.notices[0].payload["currency"], "CNY");
        assert!(change.refunds.is_empty());
    }

    #[test]
    fn before_inspection_only_a_fast_exchange_ships() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::Exchange);
        claim.approve(None, None, staff(), t(10)).unwrap();
        let refused = refused_shipping(claim, rec);
        assert!(
            matches!(
                refused,
                Refused::NotNow {
                    code: "replacement_not_allowed",
                    ..
                }
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn only_an_exchange_ships_a_replacement() {
        let mut rec = order(&[(1, 5_000)]);
        let claim = claim_on(&mut rec, ClaimType::ReturnRefund);
        let refused = refused_shipping(claim, rec);
        assert!(matches!(
            refused,
            Refused::NotNow {
                code: "not_an_exchange",
                ..
            }
        ));
    }
}
