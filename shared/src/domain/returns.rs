//! Goods going back and forth for a claim: what the customer pays or gets
//! for the return (shipping, restocking fee), how the goods travel (a
//! tracked parcel or a booked pickup), what the shop received and how it
//! inspected it, and the replacement of an exchange. Pure: the claim holds
//! a [`ReturnInfo`]; the use cases decide when each part changes.

use super::claim::{Actor, Claim, ClaimError, ClaimEvent, ClaimStatus, ReasonCode};
use super::money::Money;
use super::order::{MemberTier, ProductKind};
use super::policy::{Payer, PolicyError, ShopPolicy};
use super::tracking::{Carrier, CourierState, CourierStatus, TrackingSnapshot};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Which way a parcel travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// Customer to shop.
    Return,
    /// Shop to customer (exchange).
    Replacement,
}

/// Who pays the return parcel, as promised before the customer submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingPayer {
    Customer,
    /// The shop's fault (a quality issue) or the shop's choice.
    Shop,
    /// A member perk: free for the customer, paid by the shop.
    MemberPerk,
}

/// What a return costs or gives, fixed when the claim is filed and shown to
/// the customer before they submit, in the order's currency. A booked
/// pickup drops the shipping refund: the shop's courier collects the
/// goods, the customer pays no parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnTerms {
    pub shipping_payer: ShippingPayer,
    /// Added to the refund for a shop-paid return the customer sends
    /// (within what the order still has refundable); zero once a pickup
    /// is booked.
    pub shipping_refund: Money,
    /// Deducted: the policy's percentage for no-reason returns of opened
    /// goods.
    pub restocking_fee: Money,
}

/// The terms of a return or exchange claim for `reason`, on goods worth
/// `amount` that the customer says were `opened`, in the currency of
/// `amount`.
pub fn terms(
    policy: &ShopPolicy,
    reason: ReasonCode,
    tier: MemberTier,
    opened: bool,
    amount: Money,
) -> ReturnTerms {
    let currency = amount.currency();
    let r = &policy.returns;
    let shipping_payer = if reason.is_quality_issue() {
        ShippingPayer::Shop
    } else if r.free_return_shipping_tiers.contains(&tier) {
        ShippingPayer::MemberPerk
    } else {
        match policy.non_quality_return_shipping {
            Payer::Shop => ShippingPayer::Shop,
            Payer::Customer => ShippingPayer::Customer,
        }
    };
    // An exchange moves no money: the shop pays its parcels, nothing is
    // added to a refund.
    // The policy's allowance is in minor units of whatever currency the
    // shop's orders are in.
    let shipping_refund = match shipping_payer {
        _ if amount.is_zero() => 0,
        ShippingPayer::Customer => 0,
        ShippingPayer::Shop | ShippingPayer::MemberPerk => r.return_shipping_allowance,
    };
    let restocking_fee = if reason == ReasonCode::NoLongerWanted && opened {
        // Rounded down: the customer never pays a fraction of a fen more.
        amount.minor() * i64::from(r.restocking_fee_percent) / 100
    } else {
        0
    };
    ReturnTerms {
        shipping_payer,
        shipping_refund: Money::from_minor(shipping_refund, currency),
        restocking_fee: Money::from_minor(restocking_fee, currency),
    }
}

/// The return part of a shop's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnPolicy {
    /// Member tiers whose returns ship free (the shop pays).
    #[serde(default)]
    pub free_return_shipping_tiers: Vec<MemberTier>,
    /// Minor units the shop adds to the refund for a return it pays for.
    #[serde(default)]
    pub return_shipping_allowance: i64,
    /// Deducted from no-reason returns of opened goods (0 to 50).
    #[serde(default)]
    pub restocking_fee_percent: u8,
    /// A return parcel not picked up this many days after the return was
    /// approved is flagged for staff.
    #[serde(default = "default_pickup_days")]
    pub ship_within_days: u32,
    /// Door-to-door pickup for returns of these kinds (large items).
    #[serde(default = "default_pickup_kinds")]
    pub pickup_kinds: Vec<ProductKind>,
    /// The pickup windows offered each day, `HH:MM-HH:MM`.
    #[serde(default = "default_pickup_slots")]
    pub pickup_slots: Vec<String>,
    /// Pickups can be booked from tomorrow up to this many days ahead.
    #[serde(default = "default_pickup_days_ahead")]
    pub pickup_days_ahead: u32,
    /// The city of the shop's return address: a return parcel delivered
    /// in another city (by the courier's delivery area) was delivered
    /// elsewhere. None: any delivery counts as reaching the shop.
    #[serde(default)]
    pub return_city: Option<String>,
    /// Read and ignored: policies saved before fast exchange became a rule
    /// outcome (`fast_exchange`) still carry it, and must still load.
    #[serde(default, skip_serializing, rename = "fast_exchange_tiers")]
    pub legacy_fast_exchange_tiers: Option<serde_json::Value>,
}

fn default_pickup_days() -> u32 {
    7
}
fn default_pickup_kinds() -> Vec<ProductKind> {
    vec![ProductKind::Appliance]
}
fn default_pickup_slots() -> Vec<String> {
    vec!["09:00-12:00".into(), "14:00-18:00".into()]
}
fn default_pickup_days_ahead() -> u32 {
    7
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        ReturnPolicy {
            free_return_shipping_tiers: vec![MemberTier::Platinum],
            return_shipping_allowance: 1200,
            restocking_fee_percent: 0,
            ship_within_days: default_pickup_days(),
            pickup_kinds: default_pickup_kinds(),
            pickup_slots: default_pickup_slots(),
            pickup_days_ahead: default_pickup_days_ahead(),
            return_city: None,
            legacy_fast_exchange_tiers: None,
        }
    }
}

impl ReturnPolicy {
    /// Whether a delivery reported in `area` (the courier's words) reached
    /// the shop.
    pub fn delivered_to_shop(&self, area: Option<&str>) -> bool {
        match (&self.return_city, area) {
            (None, _) => true,
            (Some(city), Some(area)) => area.contains(city.as_str()),
            (Some(_), None) => false,
        }
    }

    /// The return part of [`ShopPolicy::validate`].
    pub fn validate(&self) -> Result<(), PolicyError> {
        if !(0..=100_000).contains(&self.return_shipping_allowance) {
            return Err(PolicyError::ReturnShippingAllowance);
        }
        if self.restocking_fee_percent > 50 {
            return Err(PolicyError::RestockingFee);
        }
        if self.ship_within_days == 0 || self.ship_within_days > 60 {
            return Err(PolicyError::ShipWithinDays);
        }
        if self.pickup_days_ahead == 0 || self.pickup_days_ahead > 30 {
            return Err(PolicyError::PickupDaysAhead);
        }
        for s in &self.pickup_slots {
            if parse_slot(s).is_none() {
                return Err(PolicyError::PickupSlot(s.clone()));
            }
        }
        Ok(())
    }
}

fn parse_slot(s: &str) -> Option<(chrono::NaiveTime, chrono::NaiveTime)> {
    let (a, b) = s.split_once('-')?;
    let a = chrono::NaiveTime::parse_from_str(a, "%H:%M").ok()?;
    let b = chrono::NaiveTime::parse_from_str(b, "%H:%M").ok()?;
    (a < b).then_some((a, b))
}

/// A door-to-door pickup the customer booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickupBooking {
    pub date: NaiveDate,
    /// One of the policy's `pickup_slots`.
    pub slot: String,
    pub address: String,
    pub contact_name: String,
    pub contact_phone: String,
}

/// Why a pickup booking is refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    /// Not one of the windows the shop offers (listed).
    #[error("slot: choose one of {}", .offered.join(", "))]
    Slot { offered: Vec<String> },
    /// Not between tomorrow and the last day the shop books.
    #[error("date: from tomorrow to {days_ahead} days ahead")]
    Date { days_ahead: u32 },
    /// `address` or `contact_name` blank or too long.
    #[error("{field}: 1 to {max} characters")]
    Text { field: &'static str, max: usize },
    #[error("contact_phone: a phone number")]
    Phone,
}

impl PickupBooking {
    /// Checks a booking against the policy on `today` (the shop's date).
    pub fn check(&self, policy: &ReturnPolicy, today: NaiveDate) -> Result<(), BookingError> {
        if !policy.pickup_slots.contains(&self.slot) {
            return Err(BookingError::Slot {
                offered: policy.pickup_slots.clone(),
            });
        }
        let ahead = (self.date - today).num_days();
        if ahead < 1 || ahead > i64::from(policy.pickup_days_ahead) {
            return Err(BookingError::Date {
                days_ahead: policy.pickup_days_ahead,
            });
        }
        let text = |field: &'static str, v: &str, max: usize| {
            if v.trim().is_empty() || v.chars().count() > max {
                Err(BookingError::Text { field, max })
            } else {
                Ok(())
            }
        };
        text("address", &self.address, 300)?;
        text("contact_name", &self.contact_name, 64)?;
        let digits = self
            .contact_phone
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        if !(6..=20).contains(&digits)
            || !self
                .contact_phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()".contains(c))
        {
            return Err(BookingError::Phone);
        }
        Ok(())
    }
}

/// A parcel for a claim, as the courier reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: Carrier,
    pub tracking_number: String,
    pub shipped_at: DateTime<Utc>,
    /// None until the courier said anything.
    pub state: Option<CourierState>,
    /// Delivered to the shop's return address (return leg) or the
    /// customer (replacement leg), as far as the courier says.
    pub delivered_to_destination: bool,
    pub updated_at: DateTime<Utc>,
    /// Why staff should look at it (never picked up, delivered elsewhere).
    pub flagged: Option<String>,
}

impl Shipment {
    pub fn new(carrier: Carrier, tracking_number: String, now: DateTime<Utc>) -> Self {
        Shipment {
            carrier,
            tracking_number,
            shipped_at: now,
            state: None,
            delivered_to_destination: false,
            updated_at: now,
            flagged: None,
        }
    }

    /// What the review rules see of it.
    pub fn rule_status(&self) -> Option<CourierStatus> {
        if self.flagged.is_some() && self.state.is_none() {
            return Some(CourierStatus::NotPickedUp);
        }
        self.state
            .map(|s| s.to_rule_status(self.delivered_to_destination))
    }

    /// Whether the parcel is moving (picked up or further, not refused).
    pub fn is_moving(&self) -> bool {
        matches!(
            self.rule_status(),
            Some(
                CourierStatus::PickedUp | CourierStatus::InTransit | CourierStatus::DeliveredToShop
            )
        )
    }
}

/// What arrived of one returned line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptOutcome {
    Received,
    /// Fewer units than claimed.
    ShortShipped,
    /// Something other than the claimed item came back.
    WrongItem,
    /// The courier lost it.
    LostInTransit,
}

/// What happens to the returned units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Sellable: back on sale.
    Restock,
    /// Faulty: defective stock, never back on sale.
    Defective,
    /// Kept off sale for another reason (opened hygiene goods, damage).
    NotRestocked,
}

/// One line of a receipt and inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InspectedLine {
    pub line_id: String,
    /// Units that arrived.
    pub received: u32,
    pub outcome: ReceiptOutcome,
    pub disposition: Disposition,
}

/// What staff decided after inspecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum InspectionDecision {
    /// As claimed: refund (return) or replacement (exchange).
    Accept,
    /// A lower refund than approved, with the report as grounds (in the
    /// claim's currency; returns only).
    Partial { amount: Money },
    /// Nothing, with a catalogue rejection reason and the report.
    Reject { reason: String },
}

/// The receipt and inspection report, kept on the claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    pub lines: Vec<InspectedLine>,
    pub notes: String,
    /// Evidence keys of the inspection photos.
    pub photos: Vec<String>,
    pub decision: InspectionDecision,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// Everything about goods travelling for one claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReturnInfo {
    /// None for refund-only claims.
    #[serde(default)]
    pub terms: Option<ReturnTerms>,
    #[serde(default)]
    pub pickup: Option<PickupBooking>,
    #[serde(default)]
    pub shipment: Option<Shipment>,
    #[serde(default)]
    pub inspection: Option<Inspection>,
    #[serde(default)]
    pub replacement: Option<Shipment>,
    /// The replacement shipped before the return arrived.
    #[serde(default)]
    pub fast_exchange: bool,
    /// A rule granted a fast exchange: the replacement may ship once the
    /// return parcel is moving.
    #[serde(default)]
    pub fast_exchange_granted: bool,
    /// A rule granted a fast refund: the money goes back as soon as the
    /// courier has the return parcel.
    #[serde(default)]
    pub fast_refund_granted: bool,
    /// The refund went before the goods arrived.
    #[serde(default)]
    pub fast_refund: bool,
}

impl ReturnInfo {
    pub fn shipment(&self, leg: Leg) -> Option<&Shipment> {
        match leg {
            Leg::Return => self.shipment.as_ref(),
            Leg::Replacement => self.replacement.as_ref(),
        }
    }
    pub fn shipment_mut(&mut self, leg: Leg) -> Option<&mut Shipment> {
        match leg {
            Leg::Return => self.shipment.as_mut(),
            Leg::Replacement => self.replacement.as_mut(),
        }
    }
}

/// Brings the claim's view of its parcel on `leg` in line with the merged
/// courier snapshot (`changed`: it just moved on) and, with
/// `pickup_window`, flags a return never picked up in time. Returns the claim's new steps, `Some(vec![])`
/// when only the parcel's details changed, `None` when nothing did.
pub fn follow_parcel(
    claim: &mut Claim,
    leg: Leg,
    snap: &TrackingSnapshot,
    policy: &ReturnPolicy,
    changed: bool,
    pickup_window: bool,
    now: DateTime<Utc>,
) -> Result<Option<Vec<ClaimEvent>>, ClaimError> {
    let heard = !snap.events.is_empty() || snap.state != CourierState::NoRecord;
    let Some(sh) = claim.returns.shipment_mut(leg) else {
        return Ok(None);
    };
    let mut touched = false;
    let mut steps = Vec::new();
    let state = snap.state;
    if changed && heard {
        let at_destination = state == CourierState::Delivered
            && match leg {
                Leg::Return => policy.delivered_to_shop(snap.delivered_to.as_deref()),
                // We do not know the customer's city; the courier saying
                // delivered is what there is.
                Leg::Replacement => true,
            };
        let moved = sh.state != Some(state) || sh.delivered_to_destination != at_destination;
        sh.state = Some(state);
        sh.delivered_to_destination = at_destination;
        sh.updated_at = now;
        touched = true;
        if moved {
            steps.push(ClaimEvent::ShipmentUpdated {
                leg,
                state,
                delivered_to_destination: at_destination,
            });
        }
    }
    let going_back = matches!(
        state,
        CourierState::Refused | CourierState::Returning | CourierState::ReturnedToSender
    );
    let flag = if !heard {
        let due = sh.shipped_at + chrono::Duration::days(i64::from(policy.ship_within_days));
        (pickup_window && leg == Leg::Return && now > due).then(|| {
            format!(
                "not picked up by the courier within {} days of being sent",
                policy.ship_within_days
            )
        })
    } else if going_back {
        Some("the courier is sending the parcel back to the sender".to_string())
    } else if leg == Leg::Return && state == CourierState::Delivered && !sh.delivered_to_destination
    {
        Some(format!(
            "delivered somewhere other than the shop's return address ({})",
            snap.delivered_to
                .as_deref()
                .unwrap_or("no delivery area given")
        ))
    } else {
        None
    };
    if let Some(reason) = flag.filter(|_| sh.flagged.is_none()) {
        sh.flagged = Some(reason.clone());
        touched = true;
        steps.push(ClaimEvent::ShipmentFlagged { leg, reason });
    }
    let mut events = Vec::new();
    for step in steps {
        events.push(claim.note_shipment(step, now)?);
    }
    if leg == Leg::Replacement
        && state == CourierState::Delivered
        && claim.status == ClaimStatus::ReplacementShipped
    {
        events.push(claim.replacement_delivered(Actor::System, now)?);
        touched = true;
    }
    Ok((touched || !events.is_empty()).then_some(events))
}

#[cfg(test)]
mod tests {

    mod following {
        use crate::domain::claim::{Actor, ClaimStep, ClaimType};
        use crate::domain::returns::{follow_parcel, Leg, ReturnPolicy, Shipment};
        use crate::domain::testkit::{claim_on, order, staff, t};
        use crate::domain::tracking::{Carrier, CourierState, TrackingSnapshot};

        fn shipped() -> crate::domain::claim::Claim {
            let mut rec = order(&[(1, 5_000)]);
            let mut claim = claim_on(&mut rec, ClaimType::ReturnRefund);
            claim.approve(None, None, staff(), t(10)).unwrap();
            let customer = Actor::Customer {
                id: "cust-1".into(),
            };
            claim
                .ship_return("SF".into(), "SF1".into(), customer, t(20))
                .unwrap();
            claim.returns.shipment = Some(Shipment::new(Carrier::Shunfeng, "SF1".into(), t(20)));
            claim
        }

        fn snapshot(state: CourierState) -> TrackingSnapshot {
            TrackingSnapshot {
                state,
                ..TrackingSnapshot::empty()
            }
        }

        #[test]
        fn a_parcel_going_back_to_the_sender_is_flagged_once() {
            let mut claim = shipped();
            let policy = ReturnPolicy::default();
            let snap = snapshot(CourierState::Returning);
            let steps = follow_parcel(&mut claim, Leg::Return, &snap, &policy, true, false, t(30))
                .unwrap()
                .unwrap();
            let kinds: Vec<ClaimStep> = steps.iter().map(|e| e.step()).collect();
            assert_eq!(
                kinds,
                [ClaimStep::ShipmentUpdated, ClaimStep::ShipmentFlagged]
            );
            // The same news again: nothing new for the claim.
            let again = follow_parcel(&mut claim, Leg::Return, &snap, &policy, true, false, t(40))
                .unwrap()
                .unwrap();
            assert!(again.is_empty());
        }

        #[test]
        fn a_claim_without_the_parcel_is_left_alone() {
            let mut rec = order(&[(1, 5_000)]);
            let mut claim = claim_on(&mut rec, ClaimType::ReturnRefund);
            let snap = snapshot(CourierState::InTransit);
            let out = follow_parcel(
                &mut claim,
                Leg::Return,
                &snap,
                &ReturnPolicy::default(),
                true,
                false,
                t(30),
            )
            .unwrap();
            assert_eq!(out, None);
        }
    }
    use super::*;

    #[test]
    fn who_pays_and_what_is_deducted() {
        let cny = |m| Money::from_minor(m, crate::domain::money::Currency::Cny);
        let mut p = ShopPolicy::default();
        p.returns.restocking_fee_percent = 10;
        p.returns.return_shipping_allowance = 1000;
        let quality = terms(
            &p,
            ReasonCode::Defective,
            MemberTier::Regular,
            true,
            cny(9999),
        );
        assert_eq!(quality.shipping_payer, ShippingPayer::Shop);
        assert_eq!(
            (quality.shipping_refund, quality.restocking_fee),
            (cny(1000), cny(0))
        );
        let no_reason = terms(
            &p,
            ReasonCode::NoLongerWanted,
            MemberTier::Regular,
            true,
            cny(9999),
        );
        assert_eq!(no_reason.shipping_payer, ShippingPayer::Customer);
        assert_eq!(
            (no_reason.shipping_refund, no_reason.restocking_fee),
            (cny(0), cny(999))
        );
        let sealed = terms(
            &p,
            ReasonCode::NoLongerWanted,
            MemberTier::Regular,
            false,
            cny(9999),
        );
        assert_eq!(sealed.restocking_fee, cny(0));
        let perk = terms(
            &p,
            ReasonCode::NoLongerWanted,
            MemberTier::Platinum,
            false,
            cny(9999),
        );
        assert_eq!(perk.shipping_payer, ShippingPayer::MemberPerk);
        assert_eq!(perk.shipping_refund, cny(1000));
        // In the currency of the goods: a yen order's terms are in yen.
        let yen = terms(
            &p,
            ReasonCode::NoLongerWanted,
            MemberTier::Platinum,
            true,
            Money::from_minor(5000, crate::domain::money::Currency::Jpy),
        );
        assert_eq!(
            (yen.shipping_refund, yen.restocking_fee),
            (
                Money::from_minor(1000, crate::domain::money::Currency::Jpy),
                Money::from_minor(500, crate::domain::money::Currency::Jpy)
            )
        );
    }

    #[test]
    fn pickups_are_checked_against_the_offer() {
        let p = ReturnPolicy::default();
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let mut b = PickupBooking {
            date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            slot: "09:00-12:00".into(),
            address: "1 Road, Hangzhou".into(),
            contact_name: "Li".into(),
            contact_phone: "+86 138 0000 0000".into(),
        };
        assert_eq!(b.check(&p, today), Ok(()));
        b.slot = "06:00-07:00".into();
        assert_eq!(
            b.check(&p, today).unwrap_err().to_string(),
            "slot: choose one of 09:00-12:00, 14:00-18:00"
        );
        b.slot = "14:00-18:00".into();
        b.date = today;
        assert_eq!(
            b.check(&p, today).unwrap_err().to_string(),
            "date: from tomorrow to 7 days ahead"
        );
        b.date = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        assert_eq!(
            b.check(&p, today),
            Err(BookingError::Date { days_ahead: 7 })
        );
        b.date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        b.contact_name = " ".into();
        assert_eq!(
            b.check(&p, today).unwrap_err().to_string(),
            "contact_name: 1 to 64 characters"
        );
        b.contact_name = "Li".into();
        b.contact_phone = "call me".into();
        assert_eq!(
            b.check(&p, today).unwrap_err().to_string(),
            "contact_phone: a phone number"
        );
        let bad = ReturnPolicy {
            pickup_slots: vec!["12:00-09:00".into()],
            ..Default::default()
        };
        assert_eq!(
            bad.validate(),
            Err(PolicyError::PickupSlot("12:00-09:00".into()))
        );
    }
}
