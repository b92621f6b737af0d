//! One state change's writes, committed together or not at all.
//!
//! A use case loads aggregates with their versions, lets the domain decide,
//! then names what to write here. Every write of an aggregate it read is
//! conditional on the version it read, every new item on not existing yet,
//! so the commit fails as a whole when anyone else wrote one of them
//! meanwhile ([`RepoError::Conflict`]) and the use case decides again on
//! fresh state (`app::retrying`).

use super::{
    callbacks, claims, coupons, deadlines, disputes, idempotency, inbox, orders, outbox, points,
    refunds, settings, shipments, uploads, IdempotencyRecord, InboxMessage, OrderRecord,
    OutboxEvent, RepoError,
};
use crate::domain::claim::{Claim, ClaimEvent};
use crate::domain::evidence::Upload;
use crate::domain::ids::{ClaimId, CustomerId};
use crate::domain::policy::ShopPolicy;
use crate::domain::refund::Refund;
use crate::domain::rejections::Catalogue;
use crate::store::{Condition, Item, StoreError, Table, WriteOp, MAX_TRANSACTION_OPS};
use chrono::{DateTime, Utc};

/// The writes of one state change, in one conditional transaction.
#[derive(Debug, Default)]
pub struct Commit {
    ops: Vec<WriteOp>,
    /// Where the once-only record sits (an idempotency key, a delivered
    /// message): its condition failing means the change was made before.
    once_at: Option<usize>,
}

impl Commit {
    pub fn new() -> Self {
        Self::default()
    }

    /// A claim as decided; `prev` is the version it was read at (None for
    /// a new claim).
    pub fn claim(&mut self, c: &Claim, prev: Option<u64>) -> &mut Self {
        self.ops.push(claims::put(c, prev));
        self
    }

    /// An order and its ledger; `prev` as for [`Commit::claim`].
    pub fn order(&mut self, rec: &OrderRecord, prev: Option<u64>) -> &mut Self {
        self.ops.push(orders::put(rec, prev));
        self
    }

    /// An event for the outbox.
    pub fn event(&mut self, e: &OutboxEvent) -> &mut Self {
        self.ops.push(outbox::put(e));
        self
    }

    /// Steps of a claim's timeline, published to the outbox.
    pub fn claim_events<'a>(
        &mut self,
        claim: &Claim,
        events: impl IntoIterator<Item = &'a ClaimEvent>,
        at: DateTime<Utc>,
    ) -> &mut Self {
        for e in events {
            self.event(&OutboxEvent::for_claim(claim, e, at));
        }
        self
    }

    /// New refunds, each with the event that gets it executed.
    pub fn new_refunds<'a>(
        &mut self,
        rs: impl IntoIterator<Item = &'a Refund>,
        at: DateTime<Utc>,
    ) -> &mut Self {
        for r in rs {
            self.ops.push(refunds::put(r, None));
            self.event(&refunds::requested(r, at));
        }
        self
    }

    /// A refund as changed; `prev` as for [`Commit::claim`].
    pub fn refund(&mut self, r: &Refund, prev: Option<u64>) -> &mut Self {
        self.ops.push(refunds::put(r, prev));
        self
    }

    /// The record that makes a request idempotent: only one commit can
    /// write it ([`RepoError::Conflict`] tells whether it was there).
    pub fn idempotency(
        &mut self,
        scope: &str,
        key: &str,
        rec: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> &mut Self {
        self.once_at = Some(self.ops.len());
        self.ops.push(idempotency::put(scope, key, rec, now));
        self
    }

    /// A review deadline timer for a claim.
    pub fn deadline(&mut self, claim_id: &ClaimId, due_at: DateTime<Utc>) -> &mut Self {
        self.ops.push(deadlines::put(claim_id, due_at));
        self
    }

    /// A claim's dispute entry for the desk (when it has a dispute).
    pub fn dispute(&mut self, c: &Claim) -> &mut Self {
        self.ops.extend(disputes::put(c));
        self
    }

    /// A points entry with its event for the shop's loyalty system; a
    /// `new_only` one fails the commit if it exists ([`RepoError::Conflict`]).
    pub fn points(&mut self, e: &crate::domain::points::PointsEntry, new_only: bool) -> &mut Self {
        self.ops.push(points::put(e, new_only));
        self.event(&e.event());
        self
    }

    /// A new win-back coupon with its event for the coupon port; it is
    /// the once-only record (issued before: [`RepoError::Conflict`]).
    pub fn new_coupon(&mut self, c: &crate::domain::winback::Coupon) -> &mut Self {
        self.once_at = Some(self.ops.len());
        self.ops.push(coupons::put_new(c));
        self.event(&c.event());
        self
    }

    /// A call-back task; `prev` as for [`Commit::claim`] (a new one is the
    /// once-only record).
    pub fn callback(
        &mut self,
        task: &crate::domain::winback::CallbackTask,
        prev: Option<u64>,
    ) -> &mut Self {
        if prev.is_none() {
            self.once_at = Some(self.ops.len());
        }
        self.ops.push(callbacks::put(task, prev));
        self
    }

    /// A store-balance debit (the once-only record: its key was used
    /// before if it fails) and its customer's account at version `prev`.
    pub fn debit(&mut self, d: &crate::domain::wallet::Debit, prev: u64) -> &mut Self {
        self.once_at = Some(self.ops.len());
        self.ops.push(super::wallet::put_new(d));
        self.ops.push(super::wallet::put_account(
            &d.shop_id,
            &d.customer_id,
            &super::wallet::Account { debits: prev + 1 },
            prev,
        ));
        self
    }

    /// An evidence upload as changed; `prev` as for [`Commit::claim`].
    pub fn upload(&mut self, u: &Upload, prev: Option<u64>) -> &mut Self {
        self.ops.push(uploads::put(u, prev));
        self
    }

    /// A message in a customer's inbox; `prev` as for [`Commit::claim`].
    pub fn inbox_message(&mut self, m: &InboxMessage, prev: Option<u64>) -> &mut Self {
        self.ops.push(inbox::put(m, prev));
        self
    }

    /// A new message in a customer's inbox that must not be there yet:
    /// [`RepoError::Conflict`] tells whether it was (delivered before).
    pub fn new_inbox_message(&mut self, m: &InboxMessage) -> &mut Self {
        self.once_at = Some(self.ops.len());
        self.ops.push(inbox::put(m, None));
        self
    }

    /// A customer's unread count; `prev` as for [`Commit::claim`].
    pub fn unread(
        &mut self,
        customer_id: &CustomerId,
        unread: u64,
        prev: Option<u64>,
    ) -> &mut Self {
        self.ops.push(inbox::put_unread(customer_id, unread, prev));
        self
    }

    /// A tracked parcel; `prev` as for [`Commit::claim`].
    pub fn shipment(&mut self, r: &shipments::ShipmentRecord, prev: Option<u64>) -> &mut Self {
        self.ops.push(shipments::put(r, prev));
        self
    }

    /// The shop's policy, replacing the one at version `prev` (0: none).
    pub fn policy(&mut self, shop_id: &str, p: &ShopPolicy, prev: u64) -> &mut Self {
        self.ops
            .push(settings::put(settings::policy_key(shop_id), p, prev));
        self
    }

    /// The shop's rejection reasons, replacing version `prev` (0: none).
    pub fn catalogue(&mut self, shop_id: &str, c: &Catalogue, prev: u64) -> &mut Self {
        self.ops
            .push(settings::put(settings::catalogue_key(shop_id), c, prev));
        self
    }

    /// The shop's active rule set (a validated document), replacing the one
    /// at version `prev` (0: none), and kept under its new version for good.
    pub fn rules(&mut self, shop_id: &str, doc: &serde_json::Value, prev: u64) -> &mut Self {
        self.ops
            .push(settings::put(settings::rules_key(shop_id), doc, prev));
        let (pk, sk) = settings::rules_history_key(shop_id, prev + 1);
        self.ops.push(WriteOp::Put {
            item: Item::new(pk, sk, doc),
            condition: Condition::NotExists,
        });
        self
    }

    /// Only if the shop's rejection reasons are still at version `v` (0:
    /// never saved): a change validated against them.
    pub fn catalogue_unchanged(&mut self, shop_id: &str, v: u64) -> &mut Self {
        let (pk, sk) = settings::catalogue_key(shop_id);
        self.ops.push(WriteOp::Check {
            pk,
            sk,
            condition: settings::at_version(v),
        });
        self
    }

    /// Only if the shop's rule set is still at version `v` (0: never saved).
    pub fn rules_unchanged(&mut self, shop_id: &str, v: u64) -> &mut Self {
        let (pk, sk) = settings::rules_key(shop_id);
        self.ops.push(WriteOp::Check {
            pk,
            sk,
            condition: settings::at_version(v),
        });
        self
    }

    /// A pickup slot's load; `prev` the version read (0: none yet).
    pub fn pickup_slot(
        &mut self,
        shop_id: &str,
        place: &crate::domain::appliance::SlotPlace,
        load: &crate::domain::appliance::SlotLoad,
        prev: u64,
    ) -> &mut Self {
        self.ops
            .push(super::pickup_slots::put(shop_id, place, load, prev));
        self
    }

    /// Adds another change's writes (several small changes committed as
    /// one, e.g. a batch decision over claims of different orders).
    pub fn append(&mut self, other: Commit) -> &mut Self {
        if let Some(at) = other.once_at {
            self.once_at = Some(self.ops.len() + at);
        }
        self.ops.extend(other.ops);
        self
    }

    /// Whether `other` can join this commit within one transaction.
    pub fn has_room_for(&self, other: &Commit) -> bool {
        self.ops.len() + other.ops.len() <= MAX_TRANSACTION_OPS
    }

    /// Whether this commit fits in one transaction at all.
    pub fn fits(&self) -> bool {
        self.ops.len() <= MAX_TRANSACTION_OPS
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Writes a commit in one transaction: all of it, or nothing and
/// [`RepoError::Conflict`] when a condition did not hold.
pub async fn commit(t: &dyn Table, c: Commit) -> Result<(), RepoError> {
    if c.ops.is_empty() {
        return Ok(());
    }
    match t.transact(c.ops).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCancelled { failed }) => Err(RepoError::Conflict {
            duplicate: c.once_at.is_some_and(|at| failed.contains(&at)),
        }),
        Err(StoreError::ConditionFailed { .. }) => Err(RepoError::Conflict { duplicate: false }),
        Err(e) => Err(e.into()),
    }
}
