//! Goods going back and forth: the customer's return parcel (a tracking
//! number checked against the carrier's format before anything is stored)
//! or a booked pickup; the shop's receipt and inspection, which restocks
//! or writes off the goods and then refunds, partly refunds or rejects;
//! and an exchange's replacement, shipped after the inspection or at once
//! for members the policy gives a fast exchange.

use super::{
    actor_of, change_claim, check_party, claim_view, require_staff, AppError, ClaimView, Services,
};
use crate::auth::Principal;
use crate::domain::change::Change;
use crate::domain::exchange::{self, Replacement};
use crate::domain::inspection::{self, Report};
use crate::domain::returns::{InspectedLine, PickupBooking, Shipment};
use crate::domain::tracking::{self, Carrier};
use crate::repo;
use serde::Deserialize;

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
    let claim = super::appliance::book_pickup(s, p, claim_id, &booking, &policy, today).await?;
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

pub use crate::domain::inspection::DecisionAsked as InspectionDecisionRequest;

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
        let report = Report {
            lines: req.lines.clone(),
            notes: req.notes.clone(),
            photos: req.photos.clone(),
            decision: req.decision.clone(),
            by: staff.clone(),
        };
        Ok(inspection::settle(claim, rec, report, actor.clone(), now)?)
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

pub use crate::domain::exchange::PriceDifference;

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
    let actor = actor_of(p);
    let replacement = Replacement {
        carrier,
        tracking_number: number,
        price_difference: req.price_difference.clone(),
    };
    let claim = change_claim(s, claim_id, |claim, rec, now| {
        if claim.shop_id != shop_id {
            return Err(AppError::NotFound("claim"));
        }
        Ok(exchange::ship_replacement(
            claim,
            rec,
            &replacement,
            actor.clone(),
            now,
        )?)
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
