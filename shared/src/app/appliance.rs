//! Large appliances: the installer's records taken onto a fault claim
//! before the rules read it (once: a re-run uses what the claim keeps),
//! and pickups booked into slots with a capacity per courier and area,
//! each booking taking a place in the slot's counter item in the same
//! transaction as the claim, and giving back the place it held before.

use super::{actor_of, check_party, retrying, AppError, Services};
use crate::auth::Principal;
use crate::domain::appliance::{full_message, slots_after, SlotLoad, SlotPlace};
use crate::domain::claim::{Claim, ClaimType, SpecialKind};
use crate::domain::policy::ShopPolicy;
use crate::domain::returns::PickupBooking;
use crate::installers::InstallerError;
use crate::repo::{self, pickup_slots, Commit};
use chrono::{DateTime, NaiveDate, Utc};

/// How many free slots a refusal names.
const NEXT_FREE: usize = 3;

/// Asks the installer network about an appliance fault claim's lines, once;
/// the records (or that there are none) stay on the claim. A temporary
/// failure is the caller's to retry (the event comes again); a permanent
/// one leaves the claim without records, for staff.
pub(super) async fn ask_installer(
    s: &Services,
    claim: &mut Claim,
    now: DateTime<Utc>,
    asked: &super::review::Asked,
) -> Result<(), AppError> {
    let appliance = ClaimType::SpecialClaim {
        kind: SpecialKind::ApplianceRepair,
    };
    if claim.claim_type != appliance
        || claim
            .appliance
            .as_ref()
            .is_some_and(|a| a.asked_at.is_some())
    {
        return Ok(());
    }
    let Some(installer) = s.installer.as_ref() else {
        return Ok(());
    };
    let mut found = Vec::new();
    for l in &claim.lines {
        let known = asked
            .installations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&l.line_id)
            .cloned();
        let answer = match known {
            Some(rs) => Ok(rs),
            None => {
                installer
                    .installations(claim.shop_id.as_str(), claim.order_id.as_str(), &l.line_id)
                    .await
            }
        };
        if let Ok(rs) = &answer {
            asked
                .installations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(l.line_id.clone(), rs.clone());
        }
        match answer {
            Ok(rs) => found.extend(rs),
            Err(InstallerError::Transient(m)) => return Err(AppError::Unavailable(m)),
            Err(e @ InstallerError::Permanent(_)) => {
                tracing::warn!(claim_id = %claim.claim_id, error = %e, "installer records not available; staff decide");
                return Ok(());
            }
        }
    }
    let info = claim.appliance.get_or_insert_with(Default::default);
    info.installations = found;
    info.asked_at = Some(now);
    Ok(())
}

/// Books a checked pickup for the claim: where the policy gives the
/// address's area a capacity, a place in the first of its couriers' slots
/// with room (409 `pickup_slot_full` naming the next free slots when
/// none has), and the place of an earlier booking given back.
pub(super) async fn book_pickup(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    booking: &PickupBooking,
    policy: &ShopPolicy,
    today: NaiveDate,
) -> Result<Claim, AppError> {
    retrying(|| async move {
        let (mut claim, cv) = repo::claims::get(&*s.table, claim_id)
            .await?
            .ok_or(AppError::NotFound("claim"))?;
        check_party(p, &claim)?;
        let shop = claim.shop_id.to_string();
        let couriers = policy.appliance.couriers_for(&booking.address);
        let place_of = |courier: &str, area: &str, date: NaiveDate, slot: &str| SlotPlace {
            courier: courier.to_owned(),
            area: area.to_owned(),
            date,
            slot: slot.to_owned(),
        };
        let mut chosen: Option<(SlotPlace, SlotLoad, u64)> = None;
        // Every courier's place in the slot asked for, in one read; the
        // first with room takes the claim.
        let places: Vec<SlotPlace> = couriers
            .iter()
            .map(|c| place_of(&c.courier, &c.area, booking.date, &booking.slot))
            .collect();
        let loads = pickup_slots::get_many(&*s.table, &shop, &places).await?;
        for ((c, place), (mut load, v)) in couriers.iter().zip(places).zip(loads) {
            if load.take(claim_id, c.per_slot) {
                chosen = Some((place, load, v));
                break;
            }
        }
        if !couriers.is_empty() && chosen.is_none() {
            let last = today + chrono::Duration::days(i64::from(policy.returns.pickup_days_ahead));
            let mut free = Vec::new();
            for (date, slot) in slots_after(
                booking.date,
                &booking.slot,
                &policy.returns.pickup_slots,
                last,
            ) {
                let places: Vec<SlotPlace> = couriers
                    .iter()
                    .map(|c| place_of(&c.courier, &c.area, date, &slot))
                    .collect();
                let loads = pickup_slots::get_many(&*s.table, &shop, &places).await?;
                if couriers
                    .iter()
                    .zip(&loads)
                    .any(|(c, (load, _))| load.has_room_for(claim_id, c.per_slot))
                {
                    free.push((date, slot.clone()));
                }
                if free.len() == NEXT_FREE {
                    break;
                }
            }
            return Err(AppError::conflict(
                "pickup_slot_full",
                full_message(booking.date, &booking.slot, &free),
            ));
        }
        let now = s.now();
        let ev = claim.book_pickup(booking.clone(), actor_of(p), now)?;
        let mut c = Commit::new();
        let held = claim
            .appliance
            .as_ref()
            .and_then(|a| a.pickup_place.clone());
        if let Some(old) = held.filter(|o| chosen.as_ref().map(|(pl, _, _)| pl) != Some(o)) {
            free_place(s, &claim, &old, &mut c).await?;
        }
        if let Some((place, load, v)) = &chosen {
            c.pickup_slot(&shop, place, load, *v);
        }
        if chosen.is_some() || claim.appliance.is_some() {
            claim
                .appliance
                .get_or_insert_with(Default::default)
                .pickup_place = chosen.map(|(pl, _, _)| pl);
        }
        c.claim(&claim, Some(cv)).claim_events(&claim, [&ev], now);
        repo::commit(&*s.table, c).await?;
        Ok(claim)
    })
    .await
}

/// Gives back the claim's place in `place` within commit `c`.
async fn free_place(
    s: &Services,
    claim: &Claim,
    place: &SlotPlace,
    c: &mut Commit,
) -> Result<(), AppError> {
    let shop = claim.shop_id.as_str();
    let (mut load, v) = pickup_slots::get(&*s.table, shop, place).await?;
    if load.free(claim.claim_id.as_str()) {
        c.pickup_slot(shop, place, &load, v);
    }
    Ok(())
}

/// A cancelled claim gives back its pickup place within commit `c`.
pub(super) async fn release_pickup(
    s: &Services,
    claim: &Claim,
    c: &mut Commit,
) -> Result<(), AppError> {
    match claim
        .appliance
        .as_ref()
        .and_then(|a| a.pickup_place.as_ref())
    {
        Some(place) => free_place(s, claim, place, c).await,
        None => Ok(()),
    }
}
