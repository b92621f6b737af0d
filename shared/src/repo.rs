//! Repositories: how orders, claims, idempotency records and outbox events
//! are laid out in the single table. Written once, on the table port, so both
//! engines store exactly the same items.
//!
//! | item            | pk                         | sk          | gsi1 (pk / sk)                      | gsi2 (pk / sk)                 |
//! |-----------------|----------------------------|-------------|-------------------------------------|--------------------------------|
//! | order + ledger  | `ORDER#{shop}#{order}`     | `ORDER`     | –                                   | –                              |
//! | claim           | `CLAIM#{claim}`            | `CLAIM`     | `CUSTOMER#{customer}` / `{created}#{claim}` | `SHOP#{shop}` / `{created}#{claim}` |
//!
//! Claims are also in gsi3, the desk's queue: `QUEUE#{shop}#{status}` /
//! `{review deadline, or ~ without one}#{created}#{claim}` (one partition
//! per shop and status, in the queue's order). Refunds are in gsi3 by
//! status (`RFSTATUS#{shop}#{status}` / `{created}#{refund}`), gsi4 by order
//! (`RFORDER#{shop}#{order}`) and gsi5 by the order's phone digits
//! (`RFPHONE#{shop}#{digits}`), both sorted by `{created}#{refund}`. Every
//! index key is derived from the item on every write, so it cannot disagree
//! with it. Items written before an index existed get their keys from
//! [`indexes::ensure`] (once per shop).
//!
//! | idempotency     | `IDEM#{customer}#{key}`    | `IDEM`      | –                                   | –                              |
//! | outbox event    | `OUTBOX#{shard 00-15}`     | `{event id}`| –                                   | –                              |
//! | inbox message   | `INBOX#{customer}`         | `MSG#{message id}` | –                            | –                              |
//! | unread count    | `INBOX#{customer}`         | `UNREAD`    | –                                   | –                              |
//! | SMS sent marker | `NOTIFY#{event id}`        | `SMS`       | –                                   | –                              |
//! | refund          | `REFUND#{refund}`          | `REFUND`    | unfinished: `REFUNDS_OPEN` / `{updated}#{refund}`; store-balance credit: `BALANCE#{shop}#{customer}` / `{expires}#{refund}` | `SHOPREFUNDS#{shop}` / `{created}#{refund}` |
//! | photo fingerprint | `FINGERPRINT#{evidence key}` | `FINGERPRINT` | –                                | –                              |
//! | photo on a claim | `PHOTOS#{shop}#{band}`    | `{claim}#{evidence key}` | –                      | –                              |
//! | courier parcel  | `SHIPMENT#{carrier}#{number}` | `SHIPMENT` | still moving: `SHIPMENTS_MOVING` / `{checked}#{carrier}#{number}` | –                      |

use crate::domain::claim::{Claim, ClaimEvent};
use crate::domain::ids::{ClaimId, CustomerId, ShopId};
use crate::domain::policy::ShopPolicy;
use crate::domain::rejections::Catalogue;
use crate::store::{Body, Condition, Index, IndexKey, Item, Query, StoreError, WriteOp};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

mod commit;
pub mod pickup_slots;
/// The table port and its page cursor, as use cases hold them: they reach
/// the table only through this module's functions and [`Commit`].
pub use crate::store::{Cursor, Table};
pub use commit::{commit, Commit};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored item {pk}/{sk} does not decode: {source}")]
    Corrupt {
        pk: String,
        sk: String,
        #[source]
        source: serde_json::Error,
    },
    /// Stored data that decodes but no longer makes sense.
    #[error("{0}")]
    Invalid(String),
    /// Someone else wrote an item a commit was conditional on: decide
    /// again on fresh state. `duplicate`: the commit's once-only record
    /// (an idempotency key, a delivered message) was among them, so the
    /// change itself was made before (a twin request, a redelivery).
    #[error("changed concurrently")]
    Conflict { duplicate: bool },
}

pub(crate) fn decode<T: DeserializeOwned>(item: Item) -> Result<(T, u64), RepoError> {
    let v = item.version;
    item.body
        .decode()
        .map(|t| (t, v))
        .map_err(|source| RepoError::Corrupt {
            pk: item.pk,
            sk: item.sk,
            source,
        })
}

/// Reads `keys` at once and decodes each found item, in the order asked.
async fn get_many_decoded<T: DeserializeOwned>(
    t: &dyn Table,
    keys: &[(String, String)],
) -> Result<Vec<Option<(T, u64)>>, RepoError> {
    t.get_many(keys)
        .await?
        .into_iter()
        .map(|i| i.map(decode).transpose())
        .collect()
}

pub(crate) fn encode<T: Serialize>(t: &T) -> Body {
    // Our own types always serialize (no maps with non-string keys).
    Body::of(t).expect("domain types serialize to JSON")
}

/// Every item of a (small) partition of the table, in sort key order, read
/// page by page.
async fn whole_partition<T: DeserializeOwned>(
    t: &dyn Table,
    pk: &str,
) -> Result<Vec<T>, RepoError> {
    partition_items(t, Index::Primary, pk, None, usize::MAX)
        .await?
        .into_iter()
        .map(|i| decode::<T>(i).map(|(v, _)| v))
        .collect()
}

/// The items of one partition of the table or an index, in sort key order,
/// page by page: at most `limit`, and only those whose sort key (the
/// index's, for an index) sorts before `before` when it is given.
pub(crate) async fn partition_items(
    t: &dyn Table,
    index: Index,
    pk: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<Item>, RepoError> {
    // No bigger pages than the caller can use.
    let page_size = u32::try_from(limit.clamp(1, 500)).unwrap_or(500);
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = t
            .query(Query::partition(index, pk).limit(page_size).after(after))
            .await?;
        for i in page.items {
            let sk = match index {
                Index::Primary => Some(&i.sk),
                _ => i.index_key(index).map(|k| &k.sk),
            };
            let late = before.is_some_and(|b| sk.is_some_and(|sk| sk.as_str() >= b));
            if late || out.len() >= limit {
                return Ok(out);
            }
            out.push(i);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// The write of a versioned item: `prev` is the version read, `None` for a
/// new one (which must not exist yet). Every item that changes by
/// read-modify-write is written through here.
pub(crate) fn versioned_put(mut item: Item, prev: Option<u64>) -> WriteOp {
    item.version = prev.map_or(1, |v| v + 1);
    WriteOp::Put {
        item,
        condition: prev.map_or(Condition::NotExists, Condition::VersionIs),
    }
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub use crate::domain::events::OutboxEvent;
pub use crate::domain::ledger::OrderRecord;

pub mod orders {
    use super::{decode, encode, versioned_put, Item, OrderRecord, RepoError, Table, WriteOp};

    pub fn key(shop_id: &str, order_id: &str) -> (String, String) {
        (format!("ORDER#{shop_id}#{order_id}"), "ORDER".into())
    }

    pub async fn get(
        t: &dyn Table,
        shop_id: &str,
        order_id: &str,
    ) -> Result<Option<(OrderRecord, u64)>, RepoError> {
        let (pk, sk) = key(shop_id, order_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// Several orders of a shop at once, in the order asked.
    pub async fn get_many(
        t: &dyn Table,
        shop_id: &str,
        order_ids: &[&str],
    ) -> Result<Vec<Option<(OrderRecord, u64)>>, RepoError> {
        let keys: Vec<(String, String)> = order_ids.iter().map(|o| key(shop_id, o)).collect();
        super::get_many_decoded(t, &keys).await
    }

    /// The write of a record: `prev` is the version read, `None` for a new one.
    pub fn put(rec: &OrderRecord, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&rec.order.shop_id, &rec.order.order_id);
        let item = Item::new(pk, sk, encode(rec));
        versioned_put(item, prev)
    }
}

pub mod claims {
    use super::{
        decode, encode, ts, versioned_put, Claim, Cursor, DateTime, Index, IndexKey, Item, Query,
        RepoError, Table, WriteOp,
    };
    use crate::domain::claim::ClaimStatus;
    use std::collections::VecDeque;

    pub fn key(claim_id: &str) -> (String, String) {
        (format!("CLAIM#{claim_id}"), "CLAIM".into())
    }

    pub async fn get(t: &dyn Table, claim_id: &str) -> Result<Option<(Claim, u64)>, RepoError> {
        let (pk, sk) = key(claim_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    pub fn put(c: &Claim, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&c.claim_id);
        let mut item = Item::new(pk, sk, encode(c));
        let sort = list_sort(c);
        item.gsi1 = Some(IndexKey {
            pk: format!("CUSTOMER#{}", c.customer_id),
            sk: sort.clone(),
        });
        item.gsi2 = Some(IndexKey {
            pk: format!("SHOP#{}", c.shop_id),
            sk: sort,
        });
        item.gsi3 = Some(IndexKey {
            pk: queue_partition(&c.shop_id, c.status),
            sk: queue_position(c),
        });
        versioned_put(item, prev)
    }

    /// The gsi3 partition of a shop's claims in one status.
    pub fn queue_partition(shop_id: &str, status: ClaimStatus) -> String {
        format!("QUEUE#{shop_id}#{}", status.as_str())
    }

    /// A claim's place in the queue (its gsi3 sort key): the review
    /// deadline (claims without one last), then the filing time, then the
    /// id, so every claim has a place of its own.
    pub fn queue_position(c: &Claim) -> String {
        format!(
            "{}#{}#{}",
            c.review.due_at.map_or_else(|| NO_DEADLINE.to_owned(), ts),
            ts(c.created_at),
            c.claim_id
        )
    }

    /// Sorts after every time.
    const NO_DEADLINE: &str = "~";

    /// Whether `p` has the shape of a queue position (a client hands one
    /// back inside a cursor).
    pub fn is_queue_position(p: &str) -> bool {
        let mut parts = p.splitn(3, '#');
        let time = |t: Option<&str>| t.is_some_and(|t| DateTime::parse_from_rfc3339(t).is_ok());
        let due = parts.next();
        (due == Some(NO_DEADLINE) || time(due))
            && time(parts.next())
            && parts
                .next()
                .is_some_and(|id| crate::domain::order::check_id("claim_id", id).is_ok())
    }

    /// A query position just after `position` in any queue partition.
    fn queue_cursor(position: &str) -> Cursor {
        let id = position.rsplit('#').next().unwrap_or_default();
        let (pk, sk) = key(id);
        Cursor {
            pk,
            sk,
            index_sk: Some(position.to_owned()),
        }
    }

    /// The claims of several queue partitions of a shop (statuses), merged
    /// in queue order, read a chunk at a time from each: what the desk's
    /// queue and batch review walk, to the end if they must.
    pub struct QueueWalk<'a> {
        t: &'a dyn Table,
        parts: Vec<Part>,
        chunk: u32,
        /// Items read so far (the work done).
        pub read: usize,
    }

    struct Part {
        pk: String,
        buf: VecDeque<(String, Item)>,
        after: Option<Cursor>,
        done: bool,
    }

    impl<'a> QueueWalk<'a> {
        /// Starts after `after` (a queue position) or at the beginning.
        pub fn new(
            t: &'a dyn Table,
            shop_id: &str,
            statuses: &[ClaimStatus],
            after: Option<&str>,
            chunk: u32,
        ) -> Self {
            QueueWalk {
                t,
                parts: statuses
                    .iter()
                    .map(|st| Part {
                        pk: queue_partition(shop_id, *st),
                        buf: VecDeque::new(),
                        after: after.map(queue_cursor),
                        done: false,
                    })
                    .collect(),
                chunk: chunk.max(1),
                read: 0,
            }
        }

        /// The next claim in queue order with its position, None at the end.
        pub async fn next(&mut self) -> Result<Option<(String, Claim)>, RepoError> {
            let (t, chunk) = (self.t, self.chunk);
            let fills = self
                .parts
                .iter_mut()
                .filter(|p| p.buf.is_empty() && !p.done)
                .map(|p| async move {
                    let page = t
                        .query(
                            Query::partition(Index::Gsi3, p.pk.clone())
                                .limit(chunk)
                                .after(p.after.take()),
                        )
                        .await?;
                    for i in page.items {
                        let pos = i.gsi3.as_ref().map(|k| k.sk.clone()).unwrap_or_default();
                        p.buf.push_back((pos, i));
                    }
                    p.done = page.next.is_none();
                    p.after = page.next;
                    Ok::<_, RepoError>(())
                });
            futures_util::future::try_join_all(fills).await?;
            let best = self
                .parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.buf.front().map(|(pos, _)| (pos, i)))
                .min()
                .map(|(_, i)| i);
            // Decoded only when taken: a page reads ahead in every partition
            // but uses what sorts first.
            match best.and_then(|i| self.parts[i].buf.pop_front()) {
                Some((pos, item)) => {
                    self.read += 1;
                    Ok(Some((pos, decode::<Claim>(item)?.0)))
                }
                None => Ok(None),
            }
        }

        /// Whether claims may follow (read or not yet read).
        pub fn more(&self) -> bool {
            self.parts.iter().any(|p| !p.buf.is_empty() || !p.done)
        }
    }

    /// How many claims of the shop are in each status (counted on the
    /// queue index, every one).
    pub async fn count_by_status(
        t: &dyn Table,
        shop_id: &str,
    ) -> Result<Vec<(ClaimStatus, u64)>, RepoError> {
        let counts = ClaimStatus::ALL.iter().map(|st| async move {
            let n = t.count(Index::Gsi3, &queue_partition(shop_id, *st)).await?;
            Ok::<_, RepoError>((*st, n))
        });
        futures_util::future::try_join_all(counts).await
    }

    /// Several claims by id at once, in the order asked (None: no such claim).
    pub async fn get_many(
        t: &dyn Table,
        claim_ids: &[&str],
    ) -> Result<Vec<Option<(Claim, u64)>>, RepoError> {
        let keys: Vec<(String, String)> = claim_ids.iter().map(|id| key(id)).collect();
        super::get_many_decoded(t, &keys).await
    }

    /// Where a claim stands in its customer's list: listing after it gives
    /// the customer's claims filed before it.
    pub fn customer_cursor(c: &Claim) -> Cursor {
        let (pk, sk) = key(&c.claim_id);
        Cursor {
            pk,
            sk,
            index_sk: Some(list_sort(c)),
        }
    }

    /// A claim's place in its customer's and its shop's lists: filing time.
    fn list_sort(c: &Claim) -> String {
        format!("{}#{}", ts(c.created_at), c.claim_id)
    }

    /// Whose claims to list.
    pub enum Owner<'a> {
        Customer(&'a str),
        Shop(&'a str),
    }

    /// Newest first.
    pub async fn list(
        t: &dyn Table,
        owner: Owner<'_>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<(Vec<Claim>, Option<Cursor>), RepoError> {
        list_as(t, owner, limit, after).await
    }

    /// [`list`], each claim decoded as `T` (a part of a claim's fields,
    /// where decoding the whole claim would be wasted).
    pub async fn list_as<T: serde::de::DeserializeOwned>(
        t: &dyn Table,
        owner: Owner<'_>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<(Vec<T>, Option<Cursor>), RepoError> {
        let q = match owner {
            Owner::Customer(c) => Query::partition(Index::Gsi1, format!("CUSTOMER#{c}")),
            Owner::Shop(s) => Query::partition(Index::Gsi2, format!("SHOP#{s}")),
        };
        let page = t.query(q.backward().limit(limit).after(after)).await?;
        let claims = page
            .items
            .into_iter()
            .map(|i| decode::<T>(i).map(|(c, _)| c))
            .collect::<Result<_, _>>()?;
        Ok((claims, page.next))
    }
}

/// What an idempotent request left behind: the hash of its body and the
/// resource it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub resource_id: String,
}

/// Evidence uploaded before its claim was filed
/// ([`crate::domain::evidence::Upload`]), under its evidence key.
pub mod uploads {
    use super::{decode, encode, versioned_put, Item, RepoError, Table, WriteOp};
    use crate::domain::evidence::Upload;

    /// Upload records are forgotten after a week (a claim keeps its own
    /// keys); the files follow the evidence bucket's retention rule.
    pub const TTL_SECONDS: i64 = 7 * 24 * 3600;

    pub fn key(evidence_key: &str) -> (String, String) {
        (format!("UPLOAD#{evidence_key}"), "UPLOAD".into())
    }

    pub async fn get(
        t: &dyn Table,
        evidence_key: &str,
    ) -> Result<Option<(Upload, u64)>, RepoError> {
        let (pk, sk) = key(evidence_key);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// Several uploads at once, in the order asked (None: no such upload).
    pub async fn get_many(
        t: &dyn Table,
        evidence_keys: &[&str],
    ) -> Result<Vec<Option<(Upload, u64)>>, RepoError> {
        let keys: Vec<(String, String)> = evidence_keys.iter().map(|k| key(k)).collect();
        super::get_many_decoded(t, &keys).await
    }

    pub fn put(u: &Upload, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&u.key);
        let mut item = Item::new(pk, sk, encode(u));
        item.expires_at = Some(u.created_at.timestamp() + TTL_SECONDS);
        versioned_put(item, prev)
    }
}

pub mod idempotency {
    use super::{
        decode, encode, Condition, DateTime, IdempotencyRecord, Item, RepoError, Table, Utc,
        WriteOp,
    };

    /// Keys are kept for a day, as payment providers do.
    pub const TTL_SECONDS: i64 = 24 * 3600;

    pub fn key(scope: &str, key: &str) -> (String, String) {
        (format!("IDEM#{scope}#{key}"), "IDEM".into())
    }

    pub async fn get(
        t: &dyn Table,
        scope: &str,
        key_: &str,
    ) -> Result<Option<IdempotencyRecord>, RepoError> {
        let (pk, sk) = key(scope, key_);
        Ok(t.get(&pk, &sk)
            .await?
            .map(decode)
            .transpose()?
            .map(|(r, _)| r))
    }

    pub fn put(scope: &str, key_: &str, rec: &IdempotencyRecord, now: DateTime<Utc>) -> WriteOp {
        let (pk, sk) = key(scope, key_);
        let mut item = Item::new(pk, sk, encode(rec));
        item.expires_at = Some(now.timestamp() + TTL_SECONDS);
        WriteOp::Put {
            item,
            condition: Condition::NotExists,
        }
    }
}

pub mod outbox {
    use super::{
        decode, encode, Condition, Index, Item, OutboxEvent, Query, RepoError, Table, WriteOp,
    };

    /// The partition of the first runners' outbox, before it was sharded:
    /// [`adopt_unsharded`] moves what is left there.
    pub const PARTITION: &str = "OUTBOX";
    /// The shards' partitions are `OUTBOX#00` .. `OUTBOX#15`: writes spread
    /// over them instead of all landing on one partition key.
    pub const SHARDS: u32 = 16;
    pub const SHARD_PREFIX: &str = "OUTBOX#";
    /// Delivered events are deleted; undelivered ones expire after a week.
    pub const TTL_SECONDS: i64 = 7 * 24 * 3600;

    /// The shard of a subject: every event of one claim or refund is in one
    /// shard, in the order written (event ids sort by time).
    pub fn shard_of(subject: &str) -> u32 {
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        let mut h: u32 = 0x811c_9dc5;
        for b in subject.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h % SHARDS
    }

    pub fn partition(shard: u32) -> String {
        format!("{SHARD_PREFIX}{shard:02}")
    }

    /// Whether an item's partition key is the outbox's (a stream record).
    pub fn is_outbox_key(pk: &str) -> bool {
        pk.starts_with(SHARD_PREFIX) || pk == PARTITION
    }

    pub fn put(e: &OutboxEvent) -> WriteOp {
        let mut item = Item::new(
            partition(shard_of(&e.subject)),
            e.event_id.clone(),
            encode(e),
        );
        item.expires_at = Some(e.at.timestamp() + TTL_SECONDS);
        WriteOp::Put {
            item,
            condition: Condition::NotExists,
        }
    }

    /// The oldest pending events (of all shards), oldest first.
    pub async fn pending(t: &dyn Table, limit: u32) -> Result<Vec<OutboxEvent>, RepoError> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            out.extend(pending_in(t, shard, limit).await?);
        }
        // Event ids sort by the time they were made (UUID v7).
        out.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        out.truncate(limit as usize);
        Ok(out)
    }

    /// The oldest pending events of one shard.
    pub async fn pending_in(
        t: &dyn Table,
        shard: u32,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, RepoError> {
        let page = t
            .query(Query::partition(Index::Primary, partition(shard)).limit(limit))
            .await?;
        page.items
            .into_iter()
            .map(|i| decode(i).map(|(e, _)| e))
            .collect()
    }

    /// Moves events left in the unsharded partition (a runner's database
    /// from before sharding) to their shards; how many were moved.
    pub async fn adopt_unsharded(t: &dyn Table) -> Result<usize, RepoError> {
        let mut moved = 0;
        loop {
            let page = t
                .query(Query::partition(Index::Primary, PARTITION).limit(50))
                .await?;
            if page.items.is_empty() {
                return Ok(moved);
            }
            let mut ops = Vec::new();
            for item in page.items {
                let (e, _): (OutboxEvent, u64) = decode(item)?;
                ops.push(WriteOp::Delete {
                    pk: PARTITION.into(),
                    sk: e.event_id.clone(),
                    condition: Condition::Exists,
                });
                ops.push(put(&e));
                moved += 1;
            }
            t.transact(ops).await?;
        }
    }

    /// The event an outbox item holds (a stream record's new image).
    pub fn from_item(item: Item) -> Result<OutboxEvent, RepoError> {
        decode(item).map(|(e, _)| e)
    }

    /// Removes delivered events, as few transactions as the table allows.
    pub async fn delivered_all(t: &dyn Table, events: &[OutboxEvent]) -> Result<(), RepoError> {
        for chunk in events.chunks(crate::store::MAX_TRANSACTION_OPS) {
            let ops = chunk
                .iter()
                .map(|e| WriteOp::Delete {
                    pk: partition(shard_of(&e.subject)),
                    sk: e.event_id.clone(),
                    condition: Condition::None,
                })
                .collect();
            t.transact(ops).await?;
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn shards_are_stable_and_spread() {
            // Fixed values: a change of hash would strand pending events.
            assert_eq!(partition(shard_of("clm_a")), partition(shard_of("clm_a")));
            let mut seen = std::collections::HashSet::new();
            for i in 0..1000 {
                let s = shard_of(&format!("clm_{i:04}"));
                assert!(s < SHARDS);
                seen.insert(s);
            }
            assert_eq!(seen.len(), SHARDS as usize, "every shard takes events");
            assert!(is_outbox_key(&partition(3)) && is_outbox_key(PARTITION));
            assert!(!is_outbox_key("ORDER#x"));
        }
    }
}

/// A shop's settings: its after-sales policy, its rejection reasons and its
/// review rule set, one item each under the shop, versioned (0: never
/// saved, the built-in default applies). Every saved rule set also stays
/// under its version, for the audit trail of rule decisions.
pub mod settings {
    use super::{
        decode, encode, Catalogue, Condition, DeserializeOwned, Item, RepoError, Serialize,
        ShopPolicy, Table, WriteOp,
    };

    pub fn policy_key(shop_id: &str) -> (String, String) {
        (format!("SHOP#{shop_id}"), "POLICY".into())
    }

    pub fn catalogue_key(shop_id: &str) -> (String, String) {
        (format!("SHOP#{shop_id}"), "REASONS".into())
    }

    pub fn rules_key(shop_id: &str) -> (String, String) {
        (format!("SHOP#{shop_id}"), "RULES".into())
    }

    pub fn rules_history_key(shop_id: &str, version: u64) -> (String, String) {
        (format!("SHOP#{shop_id}"), format!("RULES#v{version:08}"))
    }

    async fn get<T: DeserializeOwned>(
        t: &dyn Table,
        (pk, sk): (String, String),
    ) -> Result<Option<(T, u64)>, RepoError> {
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// The shop's saved policy and its version.
    pub async fn policy(
        t: &dyn Table,
        shop_id: &str,
    ) -> Result<Option<(ShopPolicy, u64)>, RepoError> {
        get(t, policy_key(shop_id)).await
    }

    /// The shop's saved rejection reasons and their version.
    pub async fn catalogue(
        t: &dyn Table,
        shop_id: &str,
    ) -> Result<Option<(Catalogue, u64)>, RepoError> {
        get(t, catalogue_key(shop_id)).await
    }

    /// The shop's active rule set as saved (a document the domain parses
    /// against the reasons), with its version.
    pub async fn rules(
        t: &dyn Table,
        shop_id: &str,
    ) -> Result<Option<(serde_json::Value, u64)>, RepoError> {
        get(t, rules_key(shop_id)).await
    }

    /// "Still at the version read" (0: never written).
    pub(super) fn at_version(v: u64) -> Condition {
        if v == 0 {
            Condition::NotExists
        } else {
            Condition::VersionIs(v)
        }
    }

    /// A settings item replacing the one at version `prev` (0: none).
    pub(super) fn put<T: Serialize>(key: (String, String), doc: &T, prev: u64) -> WriteOp {
        let mut item = Item::new(key.0, key.1, encode(doc));
        item.version = prev + 1;
        WriteOp::Put {
            item,
            condition: at_version(prev),
        }
    }
}

/// A shop's disputes, one small item each beside its claim (which holds
/// the thread): what the desk's dispute list and the dispute figures read
/// without loading every claim.
pub mod disputes {
    use super::{
        encode, partition_items, ts, Claim, Condition, DateTime, Deserialize, Index, Item,
        RepoError, Serialize, Table, Utc, WriteOp,
    };
    use crate::domain::dispute::{DisputeStatus, Grounds};
    use crate::domain::ids::{ClaimId, CustomerId, OrderId};
    use crate::domain::money::Money;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct DisputeEntry {
        pub claim_id: ClaimId,
        pub order_id: OrderId,
        pub customer_id: CustomerId,
        pub member_tier: crate::domain::order::MemberTier,
        pub status: DisputeStatus,
        pub grounds: Grounds,
        pub opened_at: DateTime<Utc>,
        pub respond_by: Option<DateTime<Utc>>,
        pub escalated_at: Option<DateTime<Utc>>,
        pub closed_at: Option<DateTime<Utc>>,
        /// How it was settled (`supplementary_refund`, `uphold`...).
        pub resolution: Option<String>,
        /// A supplementary refund's amount.
        pub refunded: Option<Money>,
    }

    impl DisputeEntry {
        /// The entry of a claim's dispute, if it has one.
        pub fn of(c: &Claim) -> Option<DisputeEntry> {
            let d = c.dispute.as_ref()?;
            let resolution = d.resolution();
            Some(DisputeEntry {
                claim_id: c.claim_id.clone(),
                order_id: c.order_id.clone(),
                customer_id: c.customer_id.clone(),
                member_tier: c.review.member_tier,
                status: d.status,
                grounds: d.grounds,
                opened_at: d.opened_at,
                respond_by: d.respond_by,
                escalated_at: d.escalated_at,
                closed_at: d.closed_at,
                resolution: resolution.map(|r| r.kind().to_owned()),
                refunded: match resolution {
                    Some(crate::domain::dispute::Resolution::SupplementaryRefund { amount }) => {
                        Some(*amount)
                    }
                    _ => None,
                },
            })
        }
    }

    pub fn partition(shop_id: &str) -> String {
        format!("DISPUTES#{shop_id}")
    }

    /// Written with every change of the claim (whose write is the
    /// conditional one), so it is never behind.
    pub fn put(c: &Claim) -> Option<WriteOp> {
        let e = DisputeEntry::of(c)?;
        let item = Item::new(
            partition(&c.shop_id),
            format!("{}#{}", ts(e.opened_at), e.claim_id),
            encode(&e),
        );
        Some(WriteOp::Put {
            item,
            condition: Condition::None,
        })
    }

    /// A shop's disputes, oldest first, every one (page by page).
    pub async fn of_shop(t: &dyn Table, shop_id: &str) -> Result<Vec<DisputeEntry>, RepoError> {
        partition_items(t, Index::Primary, &partition(shop_id), None, usize::MAX)
            .await?
            .into_iter()
            .map(|i| super::decode::<DisputeEntry>(i).map(|(e, _)| e))
            .collect()
    }
}

/// Member points: one partition per customer and shop, one item per entry
/// under its stable id (a grant for a claim is written once whatever
/// retries; a reversal must not exist yet).
pub mod points {
    use super::{encode, whole_partition, Condition, Item, RepoError, Table, WriteOp};
    use crate::domain::points::PointsEntry;

    pub fn partition(shop_id: &str, customer_id: &str) -> String {
        format!("POINTS#{shop_id}#{customer_id}")
    }

    pub fn put(e: &PointsEntry, new_only: bool) -> WriteOp {
        WriteOp::Put {
            item: Item::new(
                partition(&e.shop_id, &e.customer_id),
                e.entry_id.clone(),
                encode(e),
            ),
            condition: if new_only {
                Condition::NotExists
            } else {
                Condition::None
            },
        }
    }

    /// Every entry, oldest first.
    pub async fn of_customer(
        t: &dyn Table,
        shop_id: &str,
        customer_id: &str,
    ) -> Result<Vec<PointsEntry>, RepoError> {
        let mut all: Vec<PointsEntry> =
            whole_partition(t, &partition(shop_id, customer_id)).await?;
        all.sort_by(|a, b| (a.at, &a.entry_id).cmp(&(b.at, &b.entry_id)));
        Ok(all)
    }
}

/// Win-back coupons: one partition per customer and shop, one item per
/// coupon under its id (one per claim: a second issue fails).
pub mod coupons {
    use super::{encode, whole_partition, Condition, Item, RepoError, Table, WriteOp};
    use crate::domain::winback::Coupon;

    pub fn partition(shop_id: &str, customer_id: &str) -> String {
        format!("COUPONS#{shop_id}#{customer_id}")
    }

    pub fn put_new(c: &Coupon) -> WriteOp {
        WriteOp::Put {
            item: Item::new(
                partition(&c.shop_id, &c.customer_id),
                c.coupon_id.clone(),
                encode(c),
            ),
            condition: Condition::NotExists,
        }
    }

    /// Newest first.
    pub async fn of_customer(
        t: &dyn Table,
        shop_id: &str,
        customer_id: &str,
    ) -> Result<Vec<Coupon>, RepoError> {
        let mut all: Vec<Coupon> = whole_partition(t, &partition(shop_id, customer_id)).await?;
        all.sort_by_key(|c| std::cmp::Reverse(c.issued_at));
        Ok(all)
    }
}

/// Evidence photos: each file's fingerprint (computed once, when it landed
/// or when a rule first needed it), and per shop an index of the photos on
/// claims by the four 16-bit bands of their hash, so that the same photo
/// on another claim is found with four small queries.
pub mod photos {
    use super::{decode, encode, partition_items, Condition, Index, Item, RepoError, Table};
    use crate::domain::fingerprint::Fingerprint;
    use crate::domain::ids::ClaimId;
    use crate::domain::standing::Seen;
    use serde::{Deserialize, Serialize};

    /// Candidates read per band: a band value shared by this many photos
    /// is noise (a flat picture), not evidence of re-use.
    const PER_BAND: usize = 100;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        /// None: the file is no photo we can read (a video, a broken file).
        fingerprint: Option<Fingerprint>,
    }

    #[derive(Serialize, Deserialize)]
    struct Entry {
        evidence: String,
        claim_id: ClaimId,
        customer_id: String,
        fingerprint: Fingerprint,
    }

    fn key(evidence: &str) -> (String, &'static str) {
        (format!("FINGERPRINT#{evidence}"), "FINGERPRINT")
    }

    /// The stored fingerprint of a file: None when none was computed yet,
    /// Some(None) when the file is no readable photo.
    pub async fn fingerprint(
        t: &dyn Table,
        evidence: &str,
    ) -> Result<Option<Option<Fingerprint>>, RepoError> {
        let (pk, sk) = key(evidence);
        Ok(t.get(&pk, sk)
            .await?
            .map(decode::<Stored>)
            .transpose()?
            .map(|(s, _)| s.fingerprint))
    }

    /// Records a file's fingerprint (the same file always gives the same
    /// one, so a second write changes nothing).
    pub async fn put_fingerprint(
        t: &dyn Table,
        evidence: &str,
        fingerprint: Option<Fingerprint>,
    ) -> Result<(), RepoError> {
        let (pk, sk) = key(evidence);
        t.put(
            Item::new(pk, sk, encode(&Stored { fingerprint })),
            Condition::None,
        )
        .await?;
        Ok(())
    }

    fn band_partition(shop_id: &str, band: &str) -> String {
        format!("PHOTOS#{shop_id}#{band}")
    }

    /// Puts a claim's photo in the shop's index (idempotent).
    pub async fn index(t: &dyn Table, shop_id: &str, seen: &Seen) -> Result<(), RepoError> {
        let entry = Entry {
            evidence: seen.evidence.clone(),
            claim_id: seen.claim_id.clone(),
            customer_id: seen.customer_id.clone(),
            fingerprint: seen.fingerprint,
        };
        let body = encode(&entry);
        for band in seen.fingerprint.bands() {
            let item = Item::new(
                band_partition(shop_id, &band),
                format!("{}#{}", seen.claim_id, seen.evidence),
                body.clone(),
            );
            t.put(item, Condition::None).await?;
        }
        Ok(())
    }

    /// The shop's photos sharing a band with `fp` (any claim, this one's
    /// included: the caller tells them apart).
    pub async fn candidates(
        t: &dyn Table,
        shop_id: &str,
        fp: &Fingerprint,
    ) -> Result<Vec<Seen>, RepoError> {
        let mut out: Vec<Seen> = Vec::new();
        for band in fp.bands() {
            let items = partition_items(
                t,
                Index::Primary,
                &band_partition(shop_id, &band),
                None,
                PER_BAND,
            )
            .await?;
            for i in items {
                let (e, _) = decode::<Entry>(i)?;
                if !out
                    .iter()
                    .any(|s| s.claim_id == e.claim_id && s.evidence == e.evidence)
                {
                    out.push(Seen {
                        evidence: e.evidence,
                        claim_id: e.claim_id,
                        customer_id: e.customer_id,
                        fingerprint: e.fingerprint,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// Call-back tasks of a shop's staff, one per claim that called for one.
pub mod callbacks {
    use super::{decode, encode, versioned_put, whole_partition, Item, RepoError, Table, WriteOp};
    use crate::domain::winback::CallbackTask;

    pub fn key(shop_id: &str, claim_id: &str) -> (String, String) {
        (format!("CALLBACKS#{shop_id}"), claim_id.to_owned())
    }

    /// A task as changed; `prev` the version read (None: a new one, which
    /// must not exist yet).
    pub fn put(task: &CallbackTask, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&task.shop_id, &task.claim_id);
        let item = Item::new(pk, sk, encode(task));
        versioned_put(item, prev)
    }

    pub async fn get(
        t: &dyn Table,
        shop_id: &str,
        claim_id: &str,
    ) -> Result<Option<(CallbackTask, u64)>, RepoError> {
        let (pk, sk) = key(shop_id, claim_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    pub async fn of_shop(t: &dyn Table, shop_id: &str) -> Result<Vec<CallbackTask>, RepoError> {
        whole_partition(t, &key(shop_id, "").0).await
    }
}

/// Store-balance debits: one partition per customer and shop, one item per
/// debit under its Idempotency-Key; beside it a small account item whose
/// version every debit bumps, so two debits at once cannot both spend the
/// same money.
pub mod wallet {
    use super::{
        decode, encode, whole_partition, Condition, Deserialize, Item, RepoError, Serialize, Table,
        WriteOp,
    };
    use crate::domain::wallet::Debit;

    pub fn partition(shop_id: &str, customer_id: &str) -> String {
        format!("WALLET#{shop_id}#{customer_id}")
    }

    fn account_key(shop_id: &str, customer_id: &str) -> (String, String) {
        (
            format!("WALLETACCT#{shop_id}#{customer_id}"),
            "ACCOUNT".into(),
        )
    }

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct Account {
        pub debits: u64,
    }

    /// The account and its version (0: none yet).
    pub async fn account(
        t: &dyn Table,
        shop_id: &str,
        customer_id: &str,
    ) -> Result<(Account, u64), RepoError> {
        let (pk, sk) = account_key(shop_id, customer_id);
        Ok(t.get(&pk, &sk)
            .await?
            .map(decode)
            .transpose()?
            .unwrap_or_default())
    }

    pub fn put_account(shop_id: &str, customer_id: &str, a: &Account, prev: u64) -> WriteOp {
        let (pk, sk) = account_key(shop_id, customer_id);
        let mut item = Item::new(pk, sk, encode(a));
        item.version = prev + 1;
        WriteOp::Put {
            item,
            condition: if prev == 0 {
                Condition::NotExists
            } else {
                Condition::VersionIs(prev)
            },
        }
    }

    pub fn put_new(d: &Debit) -> WriteOp {
        WriteOp::Put {
            item: Item::new(
                partition(&d.shop_id, &d.customer_id),
                format!("DEBIT#{}", d.debit_id),
                encode(d),
            ),
            condition: Condition::NotExists,
        }
    }

    pub async fn get(
        t: &dyn Table,
        shop_id: &str,
        customer_id: &str,
        debit_id: &str,
    ) -> Result<Option<Debit>, RepoError> {
        Ok(t.get(
            &partition(shop_id, customer_id),
            &format!("DEBIT#{debit_id}"),
        )
        .await?
        .map(decode::<Debit>)
        .transpose()?
        .map(|(d, _)| d))
    }

    pub async fn debits(
        t: &dyn Table,
        shop_id: &str,
        customer_id: &str,
    ) -> Result<Vec<Debit>, RepoError> {
        let mut all: Vec<Debit> = whole_partition(t, &partition(shop_id, customer_id)).await?;
        all.sort_by(|a, b| (a.at, &a.debit_id).cmp(&(b.at, &b.debit_id)));
        Ok(all)
    }
}

/// Review deadlines as timers: one item per undecided claim, in a partition
/// per hour of its deadline, so the sweeper reads only the hours that have
/// come (a few small queries) instead of scanning claims.
pub mod deadlines {
    use super::{
        decode, encode, ts, whole_partition, ClaimId, Condition, DateTime, Deserialize, Item,
        RepoError, Serialize, StoreError, Table, Utc, WriteOp,
    };

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Timer {
        pub claim_id: ClaimId,
        pub due_at: DateTime<Utc>,
    }

    pub fn bucket(at: DateTime<Utc>) -> String {
        format!("DUE#{}", at.format("%Y%m%d%H"))
    }

    pub fn put(claim_id: &ClaimId, due_at: DateTime<Utc>) -> WriteOp {
        let item = Item::new(
            bucket(due_at),
            format!("{}#{claim_id}", ts(due_at)),
            encode(&Timer {
                claim_id: claim_id.clone(),
                due_at,
            }),
        );
        WriteOp::Put {
            item,
            condition: Condition::None,
        }
    }

    /// The timers of one hour, in deadline order.
    pub async fn in_bucket(t: &dyn Table, bucket: &str) -> Result<Vec<Timer>, RepoError> {
        whole_partition(t, bucket).await
    }

    pub async fn done(t: &dyn Table, timer: &Timer) -> Result<(), RepoError> {
        Ok(t.delete(
            &bucket(timer.due_at),
            &format!("{}#{}", ts(timer.due_at), timer.claim_id),
            Condition::None,
        )
        .await?)
    }

    pub const CURSOR: (&str, &str) = ("SWEEP", "DEADLINES");

    #[derive(Serialize, Deserialize)]
    struct SweepCursor {
        next_hour: DateTime<Utc>,
    }

    /// The first hour not yet swept completely.
    pub async fn cursor(t: &dyn Table) -> Result<Option<(DateTime<Utc>, u64)>, RepoError> {
        match t.get(CURSOR.0, CURSOR.1).await? {
            Some(i) => Ok(Some(
                decode::<SweepCursor>(i).map(|(c, v)| (c.next_hour, v))?,
            )),
            None => Ok(None),
        }
    }

    pub async fn set_cursor(
        t: &dyn Table,
        hour: DateTime<Utc>,
        prev: Option<u64>,
    ) -> Result<(), RepoError> {
        let mut item = Item::new(CURSOR.0, CURSOR.1, encode(&SweepCursor { next_hour: hour }));
        item.version = prev.map_or(1, |v| v + 1);
        let condition = prev.map_or(Condition::NotExists, Condition::VersionIs);
        match t.put(item, condition).await {
            // Another sweeper moved it: fine, the work is idempotent.
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// One message in a customer's in-app inbox: one step of one of their
/// claims, rendered in their language when it was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMessage {
    pub message_id: String,
    pub customer_id: CustomerId,
    pub shop_id: ShopId,
    pub claim_id: ClaimId,
    /// The claim event's name (`submitted`, `approved`, ...).
    pub event: String,
    /// The outbox event it was made from.
    pub event_id: String,
    pub language: crate::domain::order::Language,
    pub title: String,
    pub body: String,
    /// When the step happened.
    pub at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

pub mod inbox {
    use super::{
        decode, encode, versioned_put, ClaimEvent, ClaimId, Cursor, CustomerId, Deserialize,
        InboxMessage, Index, Item, OutboxEvent, Query, RepoError, Serialize, Table, WriteOp,
    };

    const COUNTER_SK: &str = "UNREAD";
    const MESSAGE_PREFIX: &str = "MSG#";

    fn partition(customer_id: &CustomerId) -> String {
        format!("INBOX#{customer_id}")
    }

    /// The message id of an outbox event: the time of the step, then the
    /// event id. Derived from the event alone, so a redelivered event maps
    /// to the same message; fixed width up front, so ids sort by time.
    pub fn message_id(event: &OutboxEvent) -> String {
        format!(
            "msg_{}_{}",
            event.at.format("%Y%m%dT%H%M%S%6fZ"),
            event.event_id
        )
    }

    /// The message id of a refund's progress (`refund_sent`,
    /// `refund_arrived`), which is a step of the claim's timeline without
    /// an outbox event of its own (see `app::notify`): derived from the
    /// claim and the step's place on its timeline, so whichever event
    /// carries it maps to the same message. The time in the id keeps the
    /// inbox in the timeline's order: a refund sent is noted just after the
    /// `refund_started` of its transaction (one microsecond later), an
    /// arrival just before the `refund_succeeded` it may cause (one
    /// microsecond earlier); both share their transaction's time.
    pub fn step_message_id(
        claim_id: &ClaimId,
        step: &crate::domain::claim::TimelineEntry,
    ) -> String {
        let at = match step.event {
            ClaimEvent::RefundArrived { .. } => step.at - chrono::Duration::microseconds(1),
            _ => step.at + chrono::Duration::microseconds(1),
        };
        format!(
            "msg_{}_{}",
            at.format("%Y%m%dT%H%M%S%6fZ"),
            step_key(claim_id, step.seq)
        )
    }

    /// What identifies one timeline step of a claim for the customer's
    /// notifications (its text message's "sent" marker and dedupe id).
    pub fn step_key(claim_id: &ClaimId, seq: u32) -> String {
        format!("{claim_id}.{seq:04}")
    }

    pub fn key(customer_id: &CustomerId, message_id: &str) -> (String, String) {
        (
            partition(customer_id),
            format!("{MESSAGE_PREFIX}{message_id}"),
        )
    }

    pub async fn get(
        t: &dyn Table,
        customer_id: &CustomerId,
        message_id: &str,
    ) -> Result<Option<(InboxMessage, u64)>, RepoError> {
        let (pk, sk) = key(customer_id, message_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// The write of a message: `prev` is the version read, `None` for a new
    /// one (which fails if the message is already there).
    pub fn put(m: &InboxMessage, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&m.customer_id, &m.message_id);
        let item = Item::new(pk, sk, encode(m));
        versioned_put(item, prev)
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    struct Counter {
        unread: u64,
    }

    /// The customer's unread count and the counter's version (`None`: no
    /// message yet).
    pub async fn unread(
        t: &dyn Table,
        customer_id: &CustomerId,
    ) -> Result<(u64, Option<u64>), RepoError> {
        Ok(
            match t
                .get(&partition(customer_id), COUNTER_SK)
                .await?
                .map(decode::<Counter>)
                .transpose()?
            {
                Some((c, v)) => (c.unread, Some(v)),
                None => (0, None),
            },
        )
    }

    /// The write of the unread count, conditional on the version read.
    pub fn put_unread(customer_id: &CustomerId, unread: u64, prev: Option<u64>) -> WriteOp {
        let item = Item::new(
            partition(customer_id),
            COUNTER_SK,
            encode(&Counter { unread }),
        );
        versioned_put(item, prev)
    }

    /// Newest first.
    pub async fn list(
        t: &dyn Table,
        customer_id: &CustomerId,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<(Vec<InboxMessage>, Option<Cursor>), RepoError> {
        let q = Query::partition(Index::Primary, partition(customer_id))
            .prefix(MESSAGE_PREFIX)
            .backward()
            .limit(limit)
            .after(after);
        let page = t.query(q).await?;
        let messages = page
            .items
            .into_iter()
            .map(|i| decode::<InboxMessage>(i).map(|(m, _)| m))
            .collect::<Result<_, _>>()?;
        Ok((messages, page.next))
    }

    /// Whether a cursor belongs to this customer's inbox (a cursor is
    /// opaque to clients, but they could hand in one from elsewhere).
    pub fn owns_cursor(customer_id: &CustomerId, c: &Cursor) -> bool {
        c.pk == partition(customer_id) && c.sk.starts_with(MESSAGE_PREFIX) && c.index_sk.is_none()
    }
}

/// What became of the text message of one outbox event. Written once the
/// provider answered, so a redelivered event does not text again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsRecord {
    pub status: SmsStatus,
    pub at: DateTime<Utc>,
    /// The provider's refusal, for a failed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsStatus {
    Sent,
    /// Refused for good (a number the provider does not take): not retried.
    Failed,
}

pub mod sms_sent {
    use super::{decode, encode, Condition, Item, RepoError, SmsRecord, StoreError, Table};

    /// Longer than any redelivery can come: the outbox keeps an event a
    /// week, the notifications DLQ keeps a failed record 14 days.
    pub const TTL_SECONDS: i64 = 30 * 24 * 3600;

    pub fn key(event_id: &str) -> (String, String) {
        (format!("NOTIFY#{event_id}"), "SMS".into())
    }

    pub async fn get(t: &dyn Table, event_id: &str) -> Result<Option<SmsRecord>, RepoError> {
        let (pk, sk) = key(event_id);
        Ok(t.get(&pk, &sk)
            .await?
            .map(decode)
            .transpose()?
            .map(|(r, _)| r))
    }

    /// Records the outcome; a record already there (a concurrent delivery
    /// that also sent) is left as it is.
    pub async fn put(t: &dyn Table, event_id: &str, rec: &SmsRecord) -> Result<(), RepoError> {
        let (pk, sk) = key(event_id);
        let mut item = Item::new(pk, sk, encode(rec));
        item.expires_at = Some(rec.at.timestamp() + TTL_SECONDS);
        match t.put(item, Condition::NotExists).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

pub mod refunds {
    use super::{
        decode, encode, partition_items, ts, versioned_put, Cursor, DateTime, Index, IndexKey,
        Item, OutboxEvent, Query, RepoError, Table, Utc, WriteOp,
    };
    use crate::domain::order::PaymentChannel;
    use crate::domain::refund::{Refund, RefundStatus};

    pub fn key(refund_id: &str) -> (String, String) {
        (format!("REFUND#{refund_id}"), "REFUND".into())
    }

    pub async fn get(t: &dyn Table, refund_id: &str) -> Result<Option<(Refund, u64)>, RepoError> {
        let (pk, sk) = key(refund_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// The shop's refunds, newest first, for staff search and the finance
    /// export (gsi2, partitioned per shop).
    pub fn shop_partition(shop_id: &str) -> String {
        format!("SHOPREFUNDS#{shop_id}")
    }

    /// gsi1 holds a refund in one of two small partitions, or in neither:
    /// while unfinished, in [`OPEN`] by last change (what reconciliation
    /// reads, oldest first); once a store-balance credit, in the customer's
    /// balance partition by expiry. So no marker item is written beside the
    /// refund: every step of a refund is one item write.
    pub fn put(r: &Refund, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&r.refund_id);
        let mut item = Item::new(pk, sk, encode(r));
        let created = format!("{}#{}", ts(r.created_at), r.refund_id);
        item.gsi2 = Some(IndexKey {
            pk: shop_partition(&r.shop_id),
            sk: created.clone(),
        });
        item.gsi3 = Some(IndexKey {
            pk: status_partition(&r.shop_id, r.status),
            sk: created.clone(),
        });
        item.gsi4 = Some(IndexKey {
            pk: order_partition(&r.shop_id, &r.order_id),
            sk: created.clone(),
        });
        item.gsi5 = r
            .customer_phone
            .as_deref()
            .map(phone_digits)
            .filter(|d| !d.is_empty())
            .map(|d| IndexKey {
                pk: phone_partition(&r.shop_id, &d),
                sk: created,
            });
        item.gsi1 = if !r.status.is_final() {
            Some(IndexKey {
                pk: OPEN.into(),
                sk: format!("{}#{}", ts(r.updated_at), r.refund_id),
            })
        } else if r.status == RefundStatus::Succeeded && r.channel == PaymentChannel::Balance {
            Some(IndexKey {
                pk: balance_partition(&r.shop_id, &r.customer_id),
                sk: format!(
                    "{}#{}",
                    r.expires_at.map_or_else(|| "never".into(), ts),
                    r.refund_id
                ),
            })
        } else {
            None
        };
        versioned_put(item, prev)
    }

    /// The gsi3 partition of a shop's refunds in one status, newest last.
    pub fn status_partition(shop_id: &str, status: RefundStatus) -> String {
        format!("RFSTATUS#{shop_id}#{}", status.as_str())
    }

    /// The gsi4 partition of the refunds of one order.
    pub fn order_partition(shop_id: &str, order_id: &str) -> String {
        format!("RFORDER#{shop_id}#{order_id}")
    }

    /// The gsi5 partition of the refunds of orders with one phone number
    /// (its digits, see [`phone_digits`]).
    pub fn phone_partition(shop_id: &str, digits: &str) -> String {
        format!("RFPHONE#{shop_id}#{digits}")
    }

    /// A phone number's digits, without a +86 / 0086 country prefix: how
    /// phones are indexed and compared.
    pub fn phone_digits(p: &str) -> String {
        let d: String = p.chars().filter(char::is_ascii_digit).collect();
        match d.strip_prefix("0086").or_else(|| d.strip_prefix("86")) {
            Some(rest) if rest.len() == 11 => rest.to_owned(),
            _ => d,
        }
    }

    /// Several refunds by id at once, in the order asked.
    pub async fn get_many(
        t: &dyn Table,
        refund_ids: &[&str],
    ) -> Result<Vec<Option<(Refund, u64)>>, RepoError> {
        let keys: Vec<(String, String)> = refund_ids.iter().map(|id| key(id)).collect();
        super::get_many_decoded(t, &keys).await
    }

    /// One page of refunds from a partition of one of the refund indexes
    /// (gsi2 by shop, gsi3 by status, gsi4 by order, gsi5 by phone), newest
    /// first; a month is a `prefix` (`2026-03`) of their sort keys.
    pub async fn page(
        t: &dyn Table,
        index: Index,
        partition: &str,
        prefix: Option<&str>,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<(Vec<Refund>, Option<Cursor>), RepoError> {
        let mut q = Query::partition(index, partition)
            .backward()
            .limit(limit)
            .after(after);
        if let Some(p) = prefix {
            q = q.prefix(p);
        }
        let page = t.query(q).await?;
        let refunds = page
            .items
            .into_iter()
            .map(|i| decode::<Refund>(i).map(|(r, _)| r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((refunds, page.next))
    }

    /// A refund's position in any of the refund indexes (they share the
    /// sort key `{created}#{refund}`): a cursor to go on after it.
    pub fn position(r: &Refund) -> Cursor {
        let (pk, sk) = key(&r.refund_id);
        Cursor {
            pk,
            sk,
            index_sk: Some(format!("{}#{}", ts(r.created_at), r.refund_id)),
        }
    }

    /// Whether a cursor a client handed back can be a position in a refund
    /// index (it only ever positions a query of the caller's own shop).
    pub fn is_refund_cursor(c: &Cursor) -> bool {
        c.pk.starts_with("REFUND#") && c.sk == "REFUND" && c.index_sk.is_some()
    }

    /// The outbox event that gets a refund executed.
    pub fn requested(r: &Refund, at: DateTime<Utc>) -> OutboxEvent {
        OutboxEvent::new(
            &r.shop_id,
            &r.refund_id,
            crate::domain::events::EventType::RefundRequested,
            serde_json::json!({"refund_id": r.refund_id, "amount": r.amount,
                               "channel": r.channel}),
            at,
        )
    }

    /// The gsi1 partition of unfinished (pending or processing) refunds.
    pub const OPEN: &str = "REFUNDS_OPEN";

    /// The gsi1 partition of a customer's store-balance credits.
    pub fn balance_partition(shop_id: &str, customer_id: &str) -> String {
        format!("BALANCE#{shop_id}#{customer_id}")
    }

    /// Unfinished refunds whose last change is before `before`, oldest
    /// first, at most `limit`.
    pub async fn open_since(
        t: &dyn Table,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Refund>, RepoError> {
        partition_items(t, Index::Gsi1, OPEN, Some(&ts(before)), limit)
            .await?
            .into_iter()
            .map(|i| decode::<Refund>(i).map(|(r, _)| r))
            .collect()
    }

    /// A customer's store-balance credits at one shop, soonest to lapse
    /// first (those that never lapse last).
    pub async fn balance_credits(
        t: &dyn Table,
        shop_id: &str,
        customer_id: &str,
    ) -> Result<Vec<Refund>, RepoError> {
        let pk = balance_partition(shop_id, customer_id);
        partition_items(t, Index::Gsi1, &pk, None, usize::MAX)
            .await?
            .into_iter()
            .map(|i| decode::<Refund>(i).map(|(r, _)| r))
            .collect()
    }

    /// A page of the shop's refunds, newest first.
    pub async fn list(
        t: &dyn Table,
        shop_id: &str,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<(Vec<Refund>, Option<Cursor>), RepoError> {
        let page = t
            .query(
                Query::partition(Index::Gsi2, shop_partition(shop_id))
                    .backward()
                    .limit(limit)
                    .after(after),
            )
            .await?;
        let refunds = page
            .items
            .into_iter()
            .map(|i| decode::<Refund>(i).map(|(r, _)| r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((refunds, page.next))
    }
}

/// Parcels tracked at the courier aggregator, one item per carrier and
/// number (the key a push names), pointing back at its claim and leg.
pub mod shipments {
    use super::{
        decode, encode, partition_items, ts, versioned_put, ClaimId, DateTime, Deserialize, Index,
        IndexKey, Item, RepoError, Serialize, ShopId, Table, Utc, WriteOp,
    };
    use crate::domain::returns::Leg;
    use crate::domain::tracking::{Carrier, TrackingSnapshot};

    /// What we know of one parcel: the merged courier snapshot (a maximum,
    /// so pushes and queries in any order end in the same place), whether
    /// the aggregator pushes to us, and when we last heard or asked.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ShipmentRecord {
        pub carrier: Carrier,
        /// Normalised, as validated when the parcel was registered.
        pub tracking_number: String,
        pub claim_id: ClaimId,
        pub shop_id: ShopId,
        pub leg: Leg,
        pub snapshot: TrackingSnapshot,
        /// The aggregator accepted our subscription (pushes will come).
        pub subscribed: bool,
        /// The last four digits of the customer's phone, for carriers
        /// that want them with every query (SF).
        #[serde(default)]
        pub phone_tail: Option<String>,
        /// Set when the claim no longer wants news (gone, or no longer
        /// holding this number): the parcel leaves the polling partition.
        #[serde(default)]
        pub stopped: bool,
        /// When the customer (or shop) said it was sent.
        pub shipped_at: DateTime<Utc>,
        pub created_at: DateTime<Utc>,
        /// The last time the snapshot changed.
        pub updated_at: DateTime<Utc>,
        /// The last time the courier was asked or pushed: what polling
        /// goes by, oldest first.
        pub checked_at: DateTime<Utc>,
    }

    impl ShipmentRecord {
        /// Still worth asking about: the courier is not done with it and
        /// its claim still wants to know.
        pub fn is_moving(&self) -> bool {
            !self.stopped && !self.snapshot.state.is_final()
        }
    }

    pub fn key(carrier: Carrier, number: &str) -> (String, String) {
        (
            format!("SHIPMENT#{}#{number}", carrier.code()),
            "SHIPMENT".into(),
        )
    }

    /// The gsi1 partition of parcels still moving, by when they were last
    /// checked: polling reads the stalest few instead of scanning.
    pub const MOVING: &str = "SHIPMENTS_MOVING";

    pub async fn get(
        t: &dyn Table,
        carrier: Carrier,
        number: &str,
    ) -> Result<Option<(ShipmentRecord, u64)>, RepoError> {
        let (pk, sk) = key(carrier, number);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// The write of a record: `prev` is the version read, `None` for a new
    /// one (which fails if the parcel is already registered). gsi1 holds
    /// it only while it is moving, so finished parcels cost polling nothing.
    pub fn put(r: &ShipmentRecord, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(r.carrier, &r.tracking_number);
        let mut item = Item::new(pk, sk, encode(r));
        if r.is_moving() {
            item.gsi1 = Some(IndexKey {
                pk: MOVING.into(),
                sk: format!(
                    "{}#{}#{}",
                    ts(r.checked_at),
                    r.carrier.code(),
                    r.tracking_number
                ),
            });
        }
        versioned_put(item, prev)
    }

    /// Moving parcels last checked before `before`, stalest first, at most
    /// `limit`, with their versions.
    pub async fn moving_since(
        t: &dyn Table,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(ShipmentRecord, u64)>, RepoError> {
        partition_items(t, Index::Gsi1, MOVING, Some(&ts(before)), limit)
            .await?
            .into_iter()
            .map(decode::<ShipmentRecord>)
            .collect()
    }
}

/// Index keys for items written before their index existed: a shop's
/// claims and refunds are written again once (same body, next version),
/// which gives them every key of today's layout; a marker item under the
/// shop records how far that got after every page (a request cut short
/// leaves the next one to go on) and then that the shop is done, so the
/// check costs one read afterwards.
pub mod indexes {
    use super::{
        claims, decode, encode, refunds, Claim, Condition, Cursor, Deserialize, Index, Item, Query,
        RepoError, Serialize, Table, WriteOp,
    };
    use crate::domain::refund::Refund;
    use crate::store::StoreError;

    /// Bumped when a layout change needs old items written again.
    const LAYOUT: u32 = 1;

    fn marker_key(shop_id: &str) -> (String, String) {
        (format!("SHOP#{shop_id}"), format!("INDEXES#v{LAYOUT}"))
    }

    /// How far the shop's items were written again.
    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Progress {
        done: bool,
        /// 0: claims, 1: refunds.
        stage: u8,
        after: Option<Cursor>,
    }

    /// Makes sure every claim and refund of the shop carries today's index
    /// keys (a no-op, one read, once done).
    pub async fn ensure(t: &dyn Table, shop_id: &str) -> Result<(), RepoError> {
        let (pk, sk) = marker_key(shop_id);
        let mut progress: Progress = match t.get(&pk, &sk).await? {
            Some(i) => decode::<Progress>(i)?.0,
            None => Progress::default(),
        };
        if progress.done {
            return Ok(());
        }
        let save = |p: &Progress| {
            t.put(
                Item::new(pk.clone(), sk.clone(), encode(p)),
                Condition::None,
            )
        };
        loop {
            let partition = match progress.stage {
                0 => format!("SHOP#{shop_id}"),
                _ => refunds::shop_partition(shop_id),
            };
            let page = t
                .query(
                    Query::partition(Index::Gsi2, partition)
                        .limit(500)
                        .after(progress.after.take()),
                )
                .await?;
            for i in page.items {
                let op = match progress.stage {
                    0 if i.gsi3.is_none() => {
                        let (c, v) = decode::<Claim>(i)?;
                        claims::put(&c, Some(v))
                    }
                    1 if i.gsi3.is_none() || i.gsi4.is_none() => {
                        let (r, v) = decode::<Refund>(i)?;
                        refunds::put(&r, Some(v))
                    }
                    _ => continue,
                };
                if let WriteOp::Put { item, condition } = op {
                    // Lost to a newer write: that one carried the keys.
                    match t.put(item, condition).await {
                        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            match page.next {
                Some(n) => progress.after = Some(n),
                None if progress.stage == 0 => progress.stage = 1,
                None => progress.done = true,
            }
            save(&progress).await?;
            if progress.done {
                return Ok(());
            }
        }
    }
}
