//! Goods going back and forth: the customer's return parcel (a tracking
//! number checked against the carrier's format before anything is stored)
//! or a booked pickup; the shop's receipt and inspection, which restocks
//! or writes off the goods and then refunds, partly refunds or rejects;
//! and an exchange's replacement, shipped after the inspection or at once
//! for members the policy gives a fast exchange.

use super::*;
use crate::domain::claim::ClaimStatus;
use crate::domain::returns::{
    Disposition, InspectedLine, Inspection, InspectionDecision, PickupBooking, Shipment,
};
use crate::domain::tracking::{self, Carrier};

fn carrier_and_number(carrier: &str, number: &str) -> Result<(Carrier, String), AppError> {
    let carrier: Carrier = carrier.parse().map_err(|e: tracking::TrackingError| {
        AppError::invalid("unknown_carrier", e.to_string())
    })?;
    let number = tracking::validate(carrier, number)
        .map_err(|e| AppError::invalid("invalid_tracking_number", e.to_string()))?;
    Ok((carrier, number.into_string()))
}

/// The body of `POST /v1/claims/{id}/return-shipment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentRequest {
    /// Kuaidi100 carrier code (`shunfeng`, `zhongtong`, `yuantong`,
    /// `yunda`, `jd`, `ems`...).
    pub carrier: String,
    pub tracking_number: String,
}

/// The customer (or the shop, for a pickup) gives the return parcel's
/// carrier and tracking number; it must fit the carrier's format.
pub async fn ship_return(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    req: ShipmentRequest,
) -> Result<ClaimView, AppError> {
    let (carrier, number) = carrier_and_number(&req.carrier, &req.tracking_number)?;
    let claim = change_claim(s, claim_id, |claim, _, now| {
        check_party(p, claim)?;
        let ev = claim.ship_return(carrier.code().into(), number.clone(), actor_of(p), now)?;
        claim.returns.shipment = Some(Shipment::new(carrier, number.clone(), now));
        Ok(Change {
            events: vec![ev],
            ..Change::default()
        })
    })
    .await?;
    Ok(claim_view(&claim))
}

/// The customer books a door-to-door pickup for a large item.
pub async fn book_pickup(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    booking: PickupBooking,
) -> Result<ClaimView, AppError> {
    let Some((found, _)) = repo::claims::get(&*s.table, claim_id).await? else {
        return Err(AppError::NotFound("claim"));
    };
    check_party(p, &found)?;
    let policy = super::policy::policy_for(s, &found.shop_id).await?;
    let offered = &policy.returns;
    if !found
        .review
        .product_kinds
        .iter()
        .any(|k| offered.pickup_kinds.contains(k))
    {
        return Err(AppError::invalid(
            "pickup_not_offered",
            "the shop offers pickup for large items only; ship the return and enter its tracking number",
        ));
    }
    // The shop's calendar: China time, where the slots are offered.
    let today = (s.now() + chrono::Duration::hours(8)).date_naive();
    booking
        .check(offered, today)
        .map_err(|m| AppError::invalid("invalid_pickup", m))?;
    let claim = change_claim(s, claim_id, |claim, _, now| {
        check_party(p, claim)?;
        let ev = claim.book_pickup(booking.clone(), actor_of(p), now)?;
        Ok(Change {
            events: vec![ev],
            ..Change::default()
        })
    })
    .await?;
    Ok(claim_view(&claim))
}

/// The body of the desk's inspection report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectionRequest {
    pub lines: Vec<InspectedLine>,
    #[serde(default)]
    pub notes: String,
    /// Evidence keys of the inspection photos.
    #[serde(default)]
    pub photos: Vec<String>,
    pub decision: InspectionDecisionRequest,
}

/// As [`InspectionDecision`], with the partial amount as a decimal string.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum InspectionDecisionRequest {
    Accept,
    Partial {
        amount: crate::domain::money::Amount,
    },
    Reject {
        reason: String,
    },
}

fn check_report(claim: &Claim, req: &InspectionRequest) -> Result<(), AppError> {
    let bad = |m: String| Err(AppError::invalid("invalid_inspection", m));
    if req.lines.is_empty() {
        return bad("lines: report every returned line".into());
    }
    for (k, l) in req.lines.iter().enumerate() {
        let Some(claimed) = claim.lines.iter().find(|c| c.line_id == l.line_id) else {
            return bad(format!("line {} is not on this claim", l.line_id));
        };
        if req.lines[..k].iter().any(|o| o.line_id == l.line_id) {
            return bad(format!("line {} is reported twice", l.line_id));
        }
        if l.received > claimed.quantity {
            return bad(format!(
                "line {}: {} received but {} claimed",
                l.line_id, l.received, claimed.quantity
            ));
        }
    }
    if req.notes.chars().count() > 2000 {
        return bad("notes: at most 2000 characters".into());
    }
    if req.photos.len() > 20 || req.photos.iter().any(|p| p.is_empty() || p.len() > 512) {
        return bad("photos: at most 20 evidence keys".into());
    }
    Ok(())
}

/// The inventory events of an inspection: sellable units back on sale,
/// faulty ones to defective stock (never back on sale). Written with the
/// inspection, which happens once per claim, so each is published once.
fn inventory_events(
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
                Disposition::Restock => "inventory.restock",
                Disposition::Defective => "inventory.defective",
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

/// Staff record what arrived and how it was inspected, and decide: accept
/// (a return is refunded, with the return shipping the shop pays; an
/// exchange may ship its replacement), a partial refund, or a rejection.
pub async fn inspect(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
    req: InspectionRequest,
) -> Result<ClaimView, AppError> {
    require_staff(p, shop_id)?;
    let catalogue = super::review::catalogue_for(s, shop_id).await?;
    if let InspectionDecisionRequest::Reject { reason } = &req.decision {
        if !catalogue.contains(reason) {
            return Err(AppError::invalid(
                "unknown_rejection_reason",
                format!("{reason:?} is not in the shop's rejection reasons"),
            ));
        }
    }
    let staff = match p {
        Principal::Staff { staff_id, .. } => staff_id.clone(),
        _ => String::new(),
    };
    let actor = actor_of(p);
    let claim = change_claim(s, claim_id, |claim, rec, now| {
        if claim.shop_id != shop_id {
            return Err(AppError::NotFound("claim"));
        }
        check_report(claim, &req)?;
        let decision = match &req.decision {
            InspectionDecisionRequest::Accept => InspectionDecision::Accept,
            InspectionDecisionRequest::Partial { amount } => {
                if !claim.claim_type.refunds() {
                    return Err(AppError::invalid(
                        "invalid_inspection",
                        "an exchange moves no money: accept or reject",
                    ));
                }
                let amount = minor_of("decision.amount", *amount, claim.currency)?;
                if amount <= 0 {
                    return Err(AppError::invalid(
                        "invalid_amount",
                        "a partial refund is above zero; reject instead",
                    ));
                }
                InspectionDecision::Partial { amount }
            }
            InspectionDecisionRequest::Reject { reason } => InspectionDecision::Reject {
                reason: reason.clone(),
            },
        };
        let report = Inspection {
            lines: req.lines.clone(),
            notes: req.notes.clone(),
            photos: req.photos.clone(),
            decision: decision.clone(),
            at: now,
            by: staff.clone(),
        };
        let mut change = Change {
            events: claim.inspect(report, actor.clone(), now)?,
            other_events: inventory_events(claim, &rec.order, &req.lines, now),
            ..Change::default()
        };
        match decision {
            // A fast exchange's replacement already went: a failed
            // inspection stays on the claim as the shop's grounds.
            InspectionDecision::Reject { .. } if claim.status != ClaimStatus::ReturnReceived => {}
            InspectionDecision::Reject { reason } => {
                change
                    .events
                    .push(claim.reject_after_inspection(reason, actor.clone(), now)?);
                rec.ledger.release(&claim.claim_id)?;
                change.ledger = true;
            }
            InspectionDecision::Partial { amount } => {
                claim.lower_approved(amount)?;
                rec.ledger
                    .settle(&claim.claim_id, Money::from_minor(amount, claim.currency))?;
                change.ledger = true;
                change.events.push(claim.start_refund(actor.clone(), now)?);
                let id = claim.claim_id.clone();
                change.refunds = super::review::issue_refunds(claim, rec, &id, &actor, now)?;
            }
            InspectionDecision::Accept if claim.claim_type.refunds() => {
                change.events.push(claim.start_refund(actor.clone(), now)?);
                let id = claim.claim_id.clone();
                let mut refunds = super::review::issue_refunds(claim, rec, &id, &actor, now)?;
                // The return parcel the shop pays for. The ledger's limit is
                // what each payment still has: the allowance is capped by
                // what the whole order still has refundable, and what it
                // takes is no longer refundable on the other lines (over
                // all claims, the customer never gets back more than was
                // paid).
                let shipping = claim
                    .returns
                    .terms
                    .as_ref()
                    .map_or(0, |t| t.shipping_refund);
                let shipping = shipping.min(rec.ledger.order_free(&rec.order));
                if shipping > 0 {
                    let extra = format!("{id}S");
                    rec.ledger
                        .reserve_money(&rec.order, &extra, &[], shipping)?;
                    change.ledger = true;
                    refunds.extend(super::review::issue_refunds(
                        claim, rec, &extra, &actor, now,
                    )?);
                }
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
    })
    .await?;
    Ok(claim_view(&claim))
}

/// The desk's replacement shipment for an exchange, with the price
/// difference when the customer takes another variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplacementRequest {
    pub carrier: String,
    pub tracking_number: String,
    #[serde(default)]
    pub price_difference: Option<PriceDifference>,
}

/// Another variant costs less (the difference is refunded) or more (the
/// storefront asks the customer to pay it).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "direction", rename_all = "snake_case", deny_unknown_fields)]
pub enum PriceDifference {
    Refund {
        amount: crate::domain::money::Amount,
    },
    Collect {
        amount: crate::domain::money::Amount,
    },
}

/// Staff ship an exchange's replacement: after the goods passed
/// inspection, or before they arrive (fast exchange) for a member tier the
/// policy names once the return parcel is moving.
pub async fn ship_replacement(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
    req: ReplacementRequest,
) -> Result<ClaimView, AppError> {
    require_staff(p, shop_id)?;
    if matches!(req.price_difference, Some(PriceDifference::Refund { .. }))
        && !crate::auth::MONEY_ROLES.iter().any(|r| p.has_role(*r))
    {
        return Err(AppError::Forbidden(
            "refunding a price difference needs the admin or finance role".into(),
        ));
    }
    let (carrier, number) = carrier_and_number(&req.carrier, &req.tracking_number)?;
    let policy = super::policy::policy_for(s, shop_id).await?;
    let actor = actor_of(p);
    let claim = change_claim(s, claim_id, |claim, rec, now| {
        if claim.shop_id != shop_id {
            return Err(AppError::NotFound("claim"));
        }
        if claim.claim_type != ClaimType::Exchange {
            return Err(AppError::conflict(
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
        ) && policy
            .returns
            .fast_exchange_tiers
            .contains(&claim.review.member_tier)
            && claim
                .returns
                .shipment
                .as_ref()
                .is_some_and(Shipment::is_moving);
        if !inspected_ok && !fast {
            return Err(AppError::conflict(
                "replacement_not_allowed",
                "the replacement ships once the returned goods passed inspection \
                 (or, for a fast exchange, once the return parcel is moving)",
            ));
        }
        claim.returns.fast_exchange = fast;
        let ev =
            claim.ship_replacement(carrier.code().into(), number.clone(), actor.clone(), now)?;
        claim.returns.replacement = Some(Shipment::new(carrier, number.clone(), now));
        let mut change = Change {
            events: vec![ev],
            ..Change::default()
        };
        match &req.price_difference {
            None => {}
            Some(PriceDifference::Refund { amount }) => {
                let amount = minor_of("price_difference.amount", *amount, claim.currency)?;
                let id = format!("{}X", claim.claim_id);
                let lines: Vec<String> = claim.lines.iter().map(|l| l.line_id.clone()).collect();
                let entry = rec
                    .ledger
                    .reserve_money(&rec.order, &id, &lines, amount)?
                    .clone();
                change.ledger = true;
                change.refunds = crate::domain::refund::plan(
                    &rec.order,
                    &entry,
                    &crate::domain::refund::Issue {
                        origin: crate::domain::refund::RefundOrigin::Merchant {
                            merchant_refund_id: id.clone(),
                            reason: crate::domain::refund::MerchantReason::PriceDifference,
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
                let amount = minor_of("price_difference.amount", *amount, claim.currency)?;
                if amount <= 0 {
                    return Err(AppError::invalid("invalid_amount", "above zero"));
                }
                change.other_events.push(OutboxEvent::new(
                    &claim.shop_id,
                    &claim.claim_id,
                    "exchange.payment_requested",
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
    })
    .await?;
    Ok(claim_view(&claim))
}

/// Staff confirm that an exchange's replacement reached the customer when
/// the courier cannot say so (no tracking configured, a parcel shared with
/// another claim, the customer confirmed by phone).
pub async fn confirm_replacement_delivered(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
) -> Result<ClaimView, AppError> {
    require_staff(p, shop_id)?;
    let actor = actor_of(p);
    let claim = change_claim(s, claim_id, |claim, _, now| {
        if claim.shop_id != shop_id {
            return Err(AppError::NotFound("claim"));
        }
        Ok(Change {
            events: vec![claim.replacement_delivered(actor.clone(), now)?],
            ..Change::default()
        })
    })
    .await?;
    Ok(claim_view(&claim))
}
