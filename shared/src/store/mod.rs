//! The table port: the small set of operations every repository is written
//! against, and which each storage engine (DynamoDB, embedded SQLite) provides
//! with the same semantics. The conformance suite in `tests/` proves that.
//!
//! The shape is DynamoDB's single-table design: every item has a partition
//! key `pk` and sort key `sk`, up to five secondary index key pairs, a version
//! number for optimistic concurrency, an optional expiry, and a JSON body.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// The attribute names of the table, shared by both engines and by
/// `infra/template.yaml`.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const GSI2PK: &str = "gsi2pk";
    pub const GSI2SK: &str = "gsi2sk";
    pub const GSI3PK: &str = "gsi3pk";
    pub const GSI3SK: &str = "gsi3sk";
    pub const GSI4PK: &str = "gsi4pk";
    pub const GSI4SK: &str = "gsi4sk";
    pub const GSI5PK: &str = "gsi5pk";
    pub const GSI5SK: &str = "gsi5sk";
    pub const VERSION: &str = "ver";
    pub const EXPIRES: &str = "expires_at";
    pub const BODY: &str = "body";
}

/// Index names, as in `infra/template.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Index {
    /// The table's own primary key.
    Primary,
    /// `gsi1` (gsi1pk, gsi1sk).
    Gsi1,
    /// `gsi2` (gsi2pk, gsi2sk).
    Gsi2,
    /// `gsi3` (gsi3pk, gsi3sk).
    Gsi3,
    /// `gsi4` (gsi4pk, gsi4sk).
    Gsi4,
    /// `gsi5` (gsi5pk, gsi5sk).
    Gsi5,
}

impl Index {
    /// The secondary indexes, in order.
    pub const SECONDARY: [Index; 5] = [
        Index::Gsi1,
        Index::Gsi2,
        Index::Gsi3,
        Index::Gsi4,
        Index::Gsi5,
    ];

    pub fn name(self) -> Option<&'static str> {
        match self {
            Index::Primary => None,
            Index::Gsi1 => Some("gsi1"),
            Index::Gsi2 => Some("gsi2"),
            Index::Gsi3 => Some("gsi3"),
            Index::Gsi4 => Some("gsi4"),
            Index::Gsi5 => Some("gsi5"),
        }
    }

    /// The index's key attribute names (partition, sort).
    pub fn attrs(self) -> (&'static str, &'static str) {
        match self {
            Index::Primary => (attr::PK, attr::SK),
            Index::Gsi1 => (attr::GSI1PK, attr::GSI1SK),
            Index::Gsi2 => (attr::GSI2PK, attr::GSI2SK),
            Index::Gsi3 => (attr::GSI3PK, attr::GSI3SK),
            Index::Gsi4 => (attr::GSI4PK, attr::GSI4SK),
            Index::Gsi5 => (attr::GSI5PK, attr::GSI5SK),
        }
    }
}

/// A secondary index key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

/// One stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    pub gsi3: Option<IndexKey>,
    pub gsi4: Option<IndexKey>,
    pub gsi5: Option<IndexKey>,
    /// Incremented by the repositories on every write; conditions compare it.
    pub version: u64,
    /// Unix seconds after which the item may be deleted (DynamoDB TTL).
    pub expires_at: Option<i64>,
    /// The item's data: always a JSON object.
    pub body: Body,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, body: impl Into<Body>) -> Self {
        Item {
            pk: pk.into(),
            sk: sk.into(),
            gsi1: None,
            gsi2: None,
            gsi3: None,
            gsi4: None,
            gsi5: None,
            version: 1,
            expires_at: None,
            body: body.into(),
        }
    }

    /// The item's key in a secondary index (None for the primary key).
    pub fn index_key(&self, index: Index) -> Option<&IndexKey> {
        match index {
            Index::Primary => None,
            Index::Gsi1 => self.gsi1.as_ref(),
            Index::Gsi2 => self.gsi2.as_ref(),
            Index::Gsi3 => self.gsi3.as_ref(),
            Index::Gsi4 => self.gsi4.as_ref(),
            Index::Gsi5 => self.gsi5.as_ref(),
        }
    }

    /// Sets the item's key in a secondary index (nothing for the primary).
    pub fn set_index_key(&mut self, index: Index, key: Option<IndexKey>) {
        match index {
            Index::Primary => {}
            Index::Gsi1 => self.gsi1 = key,
            Index::Gsi2 => self.gsi2 = key,
            Index::Gsi3 => self.gsi3 = key,
            Index::Gsi4 => self.gsi4 = key,
            Index::Gsi5 => self.gsi5 = key,
        }
    }

    /// Where a query of `index` stands once it has read this item: the
    /// cursor to resume after it.
    pub fn cursor(&self, index: Index) -> Cursor {
        Cursor {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            index_sk: self.index_key(index).map(|k| k.sk.clone()),
        }
    }
}

/// An item's data, a JSON object, held as its text. Types are written
/// straight to text and read straight from it, with no `serde_json::Value`
/// built in between: on the embedded engine the text is what is stored, so
/// an item costs one serialization and one parse (DynamoDB turns the text
/// into attributes at its edge).
#[derive(Debug, Clone)]
pub struct Body(String);

impl Body {
    /// The JSON text of `t`.
    pub fn of<T: Serialize + ?Sized>(t: &T) -> Result<Body, serde_json::Error> {
        serde_json::to_string(t).map(Body)
    }

    /// Stored text, taken as it is: what it holds is checked when it is
    /// read as a type.
    pub fn from_text(text: String) -> Body {
        Body(text)
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    /// Whether the text is a JSON object (the only bodies stored).
    pub fn is_object(&self) -> bool {
        self.0.trim_start().starts_with('{')
    }

    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        self.decode()
    }
}

impl From<serde_json::Value> for Body {
    fn from(v: serde_json::Value) -> Body {
        Body(v.to_string())
    }
}

impl From<&serde_json::Value> for Body {
    fn from(v: &serde_json::Value) -> Body {
        Body(v.to_string())
    }
}

/// The same JSON, whatever the order of keys or spacing of the text (an
/// engine may give the keys back in another order than they were written).
impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.0 == other.0 || matches!((self.to_value(), other.to_value()), (Ok(a), Ok(b)) if a == b)
    }
}

impl PartialEq<serde_json::Value> for Body {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.to_value().is_ok_and(|v| &v == other)
    }
}

/// What must hold for a write to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    None,
    /// No item with this key exists.
    NotExists,
    /// An item exists with exactly this version.
    VersionIs(u64),
    /// An item with this key exists (any version).
    Exists,
}

/// One write of a transaction.
// A put carries its item inline (five index key pairs make it the largest
// variant): transactions are short vectors of mostly puts, so boxing would
// only add an allocation per write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        pk: String,
        sk: String,
        condition: Condition,
    },
    /// Writes nothing; fails the transaction when the condition does not hold.
    Check {
        pk: String,
        sk: String,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> (&str, &str) {
        match self {
            WriteOp::Put { item, .. } => (&item.pk, &item.sk),
            WriteOp::Delete { pk, sk, .. } | WriteOp::Check { pk, sk, .. } => (pk, sk),
        }
    }
}

/// A query on one partition of the table or of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    /// Only sort keys starting with this.
    pub sk_prefix: Option<String>,
    /// Ascending sort key order when true.
    pub forward: bool,
    pub limit: Option<u32>,
    /// Resume after this sort key (and primary key, for indexes): the
    /// `next` of a previous page, or any position (a cursor need not name
    /// an item that exists: the query starts after where it would sort).
    pub after: Option<Cursor>,
}

impl Query {
    pub fn partition(index: Index, pk: impl Into<String>) -> Self {
        Query {
            index,
            pk: pk.into(),
            sk_prefix: None,
            forward: true,
            limit: None,
            after: None,
        }
    }
    pub fn prefix(mut self, p: impl Into<String>) -> Self {
        self.sk_prefix = Some(p.into());
        self
    }
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }
    pub fn after(mut self, c: Option<Cursor>) -> Self {
        self.after = c;
        self
    }
}

/// Where a page ended: the last item's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub pk: String,
    pub sk: String,
    /// The index key of the last item, for index queries.
    pub index_sk: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A single write's condition did not hold.
    #[error("condition failed for {pk}/{sk}")]
    ConditionFailed { pk: String, sk: String },
    /// A transaction was cancelled; `failed` lists the positions of the
    /// operations whose conditions did not hold (may be empty when the
    /// cancellation was a conflict with a concurrent transaction).
    #[error("transaction cancelled (failed operations: {failed:?})")]
    TransactionCancelled { failed: Vec<usize> },
    /// The request itself is not acceptable (too many operations, the same
    /// key twice in a transaction, an oversized item).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// The engine failed (I/O, network, throttling after retries).
    #[error("storage engine error: {0}")]
    Engine(String),
}

/// At most this many operations in one transaction (DynamoDB's limit).
pub const MAX_TRANSACTION_OPS: usize = 100;

/// `get_many` reads keys in requests of at most this many (DynamoDB's
/// BatchGetItem limit); a caller may ask for any number.
pub const MAX_BATCH_GET: usize = 100;

/// The port. Both engines give the same answers for the same calls.
#[async_trait]
pub trait Table: Send + Sync {
    /// Strongly consistent read of one item.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Write one item if `condition` holds.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    /// Delete one item if `condition` holds (deleting nothing is fine with `None`).
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError>;
    /// All or nothing: every condition holds and every write happens, or
    /// nothing is written. At most [`MAX_TRANSACTION_OPS`] operations, each
    /// key at most once.
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Items of one partition in sort key order. Index queries may be
    /// eventually consistent (DynamoDB GSIs are).
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
    /// Strongly consistent reads of several items at once, answered in the
    /// order of `keys` (None: no such item; a key asked twice is answered
    /// twice). Any number of keys: the engine splits them into requests
    /// of [`MAX_BATCH_GET`] and asks again for what it was not given.
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError>;
    /// How many items one partition of an index holds (every one, read
    /// page by page where the engine must).
    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError>;
}

/// Validates the request-level rules both engines enforce the same way.
pub fn check_transaction(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Err(StoreError::Invalid("empty transaction".into()));
    }
    if ops.len() > MAX_TRANSACTION_OPS {
        return Err(StoreError::Invalid(format!(
            "{} operations in one transaction; at most {MAX_TRANSACTION_OPS}",
            ops.len()
        )));
    }
    let mut keys: Vec<(&str, &str)> = ops.iter().map(WriteOp::key).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(StoreError::Invalid(
            "the same key twice in one transaction".into(),
        ));
    }
    Ok(())
}
