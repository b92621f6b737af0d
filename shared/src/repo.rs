//! Repositories: how orders, claims, idempotency records and outbox events
//! are laid out in the single table. Written once, on the table port, so both
//! engines store exactly the same items.
//!
//! | item            | pk                         | sk          | gsi1 (pk / sk)                      | gsi2 (pk / sk)                 |
//! |-----------------|----------------------------|-------------|-------------------------------------|--------------------------------|
//! | order + ledger  | `ORDER#{shop}#{order}`     | `ORDER`     | –                                   | –                              |
//! | claim           | `CLAIM#{claim}`            | `CLAIM`     | `CUSTOMER#{customer}` / `{created}#{claim}` | `SHOP#{shop}` / `{created}#{claim}` |
//! | idempotency     | `IDEM#{customer}#{key}`    | `IDEM`      | –                                   | –                              |
//! | outbox event    | `OUTBOX`                   | `{event id}`| –                                   | –                              |

use crate::domain::claim::{Claim, ClaimEvent};
use crate::domain::ledger::Ledger;
use crate::domain::order::Order;
use crate::store::{Condition, Cursor, Index, IndexKey, Item, Query, StoreError, Table, WriteOp};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

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
}

fn decode<T: DeserializeOwned>(item: Item) -> Result<(T, u64), RepoError> {
    let v = item.version;
    serde_json::from_value(item.body)
        .map(|t| (t, v))
        .map_err(|source| RepoError::Corrupt {
            pk: item.pk,
            sk: item.sk,
            source,
        })
}

fn encode<T: Serialize>(t: &T) -> serde_json::Value {
    // Our own types always serialize (no maps with non-string keys).
    serde_json::to_value(t).expect("domain types serialize to JSON")
}

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The order snapshot together with its refund ledger: one item, so every
/// claim change and the ledger move together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order: Order,
    pub ledger: Ledger,
}

pub mod orders {
    use super::*;

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

    /// The write of a record: `prev` is the version read, `None` for a new one.
    pub fn put(rec: &OrderRecord, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&rec.order.shop_id, &rec.order.order_id);
        let mut item = Item::new(pk, sk, encode(rec));
        item.version = prev.map_or(1, |v| v + 1);
        WriteOp::Put {
            item,
            condition: prev.map_or(Condition::NotExists, Condition::VersionIs),
        }
    }
}

pub mod claims {
    use super::*;

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
        let sort = format!("{}#{}", ts(c.created_at), c.claim_id);
        item.gsi1 = Some(IndexKey {
            pk: format!("CUSTOMER#{}", c.customer_id),
            sk: sort.clone(),
        });
        item.gsi2 = Some(IndexKey {
            pk: format!("SHOP#{}", c.shop_id),
            sk: sort,
        });
        item.version = prev.map_or(1, |v| v + 1);
        WriteOp::Put {
            item,
            condition: prev.map_or(Condition::NotExists, Condition::VersionIs),
        }
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
        let q = match owner {
            Owner::Customer(c) => Query::partition(Index::Gsi1, format!("CUSTOMER#{c}")),
            Owner::Shop(s) => Query::partition(Index::Gsi2, format!("SHOP#{s}")),
        };
        let page = t.query(q.backward().limit(limit).after(after)).await?;
        let claims = page
            .items
            .into_iter()
            .map(|i| decode::<Claim>(i).map(|(c, _)| c))
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

pub mod idempotency {
    use super::*;

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

/// A domain event waiting to be delivered (transactional outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub shop_id: String,
    /// The claim or order it is about.
    pub subject: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub payload: serde_json::Value,
}

impl OutboxEvent {
    pub fn for_claim(claim: &Claim, event: &ClaimEvent, at: DateTime<Utc>) -> Self {
        OutboxEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            at,
            shop_id: claim.shop_id.clone(),
            subject: claim.claim_id.clone(),
            event_type: format!("claim.{}", event.name()),
            payload: encode(event),
        }
    }
}

pub mod outbox {
    use super::*;

    pub const PARTITION: &str = "OUTBOX";
    /// Delivered events are deleted; undelivered ones expire after a week.
    pub const TTL_SECONDS: i64 = 7 * 24 * 3600;

    pub fn put(e: &OutboxEvent) -> WriteOp {
        let mut item = Item::new(PARTITION, e.event_id.clone(), encode(e));
        item.expires_at = Some(e.at.timestamp() + TTL_SECONDS);
        WriteOp::Put {
            item,
            condition: Condition::NotExists,
        }
    }

    /// The oldest pending events.
    pub async fn pending(t: &dyn Table, limit: u32) -> Result<Vec<OutboxEvent>, RepoError> {
        let page = t
            .query(Query::partition(Index::Primary, PARTITION).limit(limit))
            .await?;
        page.items
            .into_iter()
            .map(|i| decode(i).map(|(e, _)| e))
            .collect()
    }

    pub async fn delivered(t: &dyn Table, event_id: &str) -> Result<(), RepoError> {
        Ok(t.delete(PARTITION, event_id, Condition::None).await?)
    }
}
