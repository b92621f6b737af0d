//! Pickup slot counters: one item per courier, area, day and slot, holding
//! the claims that booked it. Every booking writes it conditional on the
//! version read, so two bookings of the last place cannot both commit.

use super::{decode, encode, RepoError};
use crate::domain::appliance::{SlotLoad, SlotPlace};
use crate::store::{Item, Table, WriteOp};

pub fn key(p: &SlotPlace, shop_id: &str) -> (String, String) {
    (
        format!("PICKUPSLOT#{shop_id}#{}#{}", p.courier, p.area),
        format!("{}#{}", p.date, p.slot),
    )
}

/// The slot's load and the version read (0: no booking yet).
pub async fn get(
    t: &dyn Table,
    shop_id: &str,
    p: &SlotPlace,
) -> Result<(SlotLoad, u64), RepoError> {
    let (pk, sk) = key(p, shop_id);
    Ok(t.get(&pk, &sk)
        .await?
        .map(decode)
        .transpose()?
        .unwrap_or_default())
}

/// Several slots' loads and versions at once, in the order asked.
pub async fn get_many(
    t: &dyn Table,
    shop_id: &str,
    places: &[SlotPlace],
) -> Result<Vec<(SlotLoad, u64)>, RepoError> {
    let keys: Vec<(String, String)> = places.iter().map(|p| key(p, shop_id)).collect();
    Ok(super::get_many_decoded(t, &keys)
        .await?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// The slot's load as changed; `prev` the version read (0: none yet).
pub fn put(shop_id: &str, p: &SlotPlace, load: &SlotLoad, prev: u64) -> WriteOp {
    let (pk, sk) = key(p, shop_id);
    super::versioned_put(Item::new(pk, sk, encode(load)), (prev > 0).then_some(prev))
}
