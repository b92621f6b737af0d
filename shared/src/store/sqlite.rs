//! The embedded storage engine: one SQLite table with the same shape and the
//! same semantics as the DynamoDB table (see the conformance suite in
//! `tests/tests/store_conformance.rs`).
//!
//! Writes go through one connection behind a `std::sync::Mutex` (SQLite has
//! one writer at a time anyway); reads of a database file go through a few
//! more connections of their own, which WAL lets read beside the writer, so
//! a request's reads never queue behind the outbox's writes or each other.
//! Every call is a handful of microseconds of work on prepared, cached
//! statements; no lock is ever held across an `.await`, and none is waited
//! for on an async worker.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{
    check_transaction, Body, Condition, Index, IndexKey, Item, Page, Query, StoreError, Table,
    WriteOp, MAX_BATCH_GET,
};

/// DynamoDB's limits, enforced here too so both engines reject the same requests.
const MAX_ITEM_BYTES: usize = 400 * 1024;
const MAX_PK_BYTES: usize = 2048;
const MAX_SK_BYTES: usize = 1024;

// A rowid table with a unique index on the key, not a WITHOUT ROWID table:
// bodies are kilobytes of JSON, and a WITHOUT ROWID table keeps each row in
// its key's b-tree, where a row over ~1 KB spills onto overflow pages that
// SQLite reads whole for every key comparison of a lookup (a third of the
// pipeline's CPU in the profile, BENCHMARKS.md). Here the key index holds
// only keys and each lookup reads its row once.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id         INTEGER PRIMARY KEY,
    pk         TEXT    NOT NULL,
    sk         TEXT    NOT NULL,
    gsi1pk     TEXT,
    gsi1sk     TEXT,
    gsi2pk     TEXT,
    gsi2sk     TEXT,
    ver        INTEGER NOT NULL,
    expires_at INTEGER,
    body       TEXT    NOT NULL,
    gsi3pk     TEXT,
    gsi3sk     TEXT,
    gsi4pk     TEXT,
    gsi4sk     TEXT,
    gsi5pk     TEXT,
    gsi5sk     TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS items_key ON items (pk, sk);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
";

/// Indexes added after the first schema: their columns are added to a
/// database made before them (a runner's ./data), then their indexes.
const LATER_INDEXES: [(&str, &str); 3] = [
    ("gsi3pk", "gsi3sk"),
    ("gsi4pk", "gsi4sk"),
    ("gsi5pk", "gsi5sk"),
];

const COLUMNS: &str =
    "pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, ver, expires_at, body, gsi3pk, gsi3sk, gsi4pk, gsi4sk, gsi5pk, gsi5sk";

const SELECT_ONE: &str = "SELECT pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, ver, expires_at, body, \
     gsi3pk, gsi3sk, gsi4pk, gsi4sk, gsi5pk, gsi5sk FROM items WHERE pk = ?1 AND sk = ?2";
const SELECT_VERSION: &str = "SELECT ver FROM items WHERE pk = ?1 AND sk = ?2";
const INSERT_NEW: &str = "INSERT INTO items \
     (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, ver, expires_at, body, \
     gsi3pk, gsi3sk, gsi4pk, gsi4sk, gsi5pk, gsi5sk) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
     ON CONFLICT (pk, sk) DO NOTHING";
const UPSERT: &str = "INSERT INTO items \
     (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, ver, expires_at, body, \
     gsi3pk, gsi3sk, gsi4pk, gsi4sk, gsi5pk, gsi5sk) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
     ON CONFLICT (pk, sk) DO UPDATE SET \
     gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, \
     gsi2pk = excluded.gsi2pk, gsi2sk = excluded.gsi2sk, \
     gsi3pk = excluded.gsi3pk, gsi3sk = excluded.gsi3sk, \
     gsi4pk = excluded.gsi4pk, gsi4sk = excluded.gsi4sk, \
     gsi5pk = excluded.gsi5pk, gsi5sk = excluded.gsi5sk, \
     ver = excluded.ver, expires_at = excluded.expires_at, body = excluded.body";
const UPDATE_EXISTING: &str = "UPDATE items SET gsi1pk = ?3, gsi1sk = ?4, gsi2pk = ?5, \
     gsi2sk = ?6, ver = ?7, expires_at = ?8, body = ?9, gsi3pk = ?10, gsi3sk = ?11, \
     gsi4pk = ?12, gsi4sk = ?13, gsi5pk = ?14, gsi5sk = ?15 WHERE pk = ?1 AND sk = ?2";
const UPDATE_VERSION: &str = "UPDATE items SET gsi1pk = ?3, gsi1sk = ?4, gsi2pk = ?5, \
     gsi2sk = ?6, ver = ?7, expires_at = ?8, body = ?9, gsi3pk = ?10, gsi3sk = ?11, \
     gsi4pk = ?12, gsi4sk = ?13, gsi5pk = ?14, gsi5sk = ?15 \
     WHERE pk = ?1 AND sk = ?2 AND ver = ?16";
const DELETE: &str = "DELETE FROM items WHERE pk = ?1 AND sk = ?2";
const DELETE_VERSION: &str = "DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND ver = ?3";

/// The SQLite implementation of [`Table`].
///
/// Cloning is cheap and shares the connection. A call runs where it is
/// when its connection is free, else on tokio's blocking threads, so a
/// request waiting for the connection never holds an async worker (which
/// would starve the HTTP accept loop under load).
#[derive(Clone)]
pub struct SqliteTable {
    conn: Arc<Mutex<Connection>>,
    /// Writes waiting for the writer's connection: whoever holds it next
    /// commits them together with its own (`commit_group`).
    waiting: Arc<Mutex<Vec<Waiting>>>,
    /// Read-only connections to the same file (none for an in-memory
    /// database, which only its own connection sees).
    readers: Arc<Vec<Mutex<Connection>>>,
}

/// Read connections of a database file: `AFTERSALES_SQLITE_READERS`, or one
/// per core and two more (a read is short; more would only hold memory).
/// 0 reads on the writer's connection.
fn reader_count() -> usize {
    std::env::var("AFTERSALES_SQLITE_READERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()) + 2)
        .min(64)
}

/// Database pages are read through a memory map of the file, not a read
/// call each: a reader's page cache starts empty after every write by
/// another connection, and refilling it by mapping is cheap.
const MMAP_BYTES: i64 = 1 << 30;

impl std::fmt::Debug for SqliteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTable").finish_non_exhaustive()
    }
}

impl SqliteTable {
    /// Opens (creating if needed) a database file: WAL journal,
    /// `synchronous = NORMAL`, a 5 s busy timeout.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(engine)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(engine)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(engine)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Engine(format!(
                "could not switch {} to WAL (journal_mode is {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(engine)?;
        // 16 MiB of page cache (the default is 2 MiB): the hot orders,
        // claims and index pages stay in memory instead of being re-read on
        // every request (measured: ~70 preads per claim with the default).
        conn.pragma_update(None, "cache_size", -16384)
            .map_err(engine)?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)
            .map_err(engine)?;
        // Checkpoints run on a thread of their own (`checkpoint_in_background`);
        // the writer checkpoints only when that thread falls far behind.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(engine)?;
        let mut table = Self::init(conn)?;
        let mut readers = Vec::new();
        for _ in 0..reader_count() {
            let r = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(engine)?;
            r.busy_timeout(Duration::from_secs(5)).map_err(engine)?;
            r.pragma_update(None, "cache_size", -8192).map_err(engine)?;
            r.pragma_update(None, "mmap_size", MMAP_BYTES)
                .map_err(engine)?;
            r.set_prepared_statement_cache_capacity(64);
            stable_plans(&r)?;
            readers.push(Mutex::new(r));
        }
        table.readers = Arc::new(readers);
        checkpoint_in_background(path, Arc::downgrade(&table.conn))?;
        Ok(table)
    }

    /// A private database that lives as long as this value (tests, tools).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(engine)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        if has_rowless_items(&conn)? {
            migrate(&conn)?;
            give_rows_ids(&conn)?;
        }
        conn.execute_batch(SCHEMA).map_err(engine)?;
        migrate(&conn)?;
        stable_plans(&conn)?;
        // The fixed statements plus the query variants (6 indexes x 2
        // directions x prefix or not x cursor or not), counts and
        // multi-item reads.
        conn.set_prepared_statement_cache_capacity(128);
        Ok(SqliteTable {
            conn: Arc::new(Mutex::new(conn)),
            waiting: Arc::new(Mutex::new(Vec::new())),
            readers: Arc::new(Vec::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied write:
        // every write is one statement or a transaction that rolls back on drop.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The writer's connection if no one holds it.
    fn try_lock(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// A free connection to read with, if there is one now: the writer's
    /// first. Its page cache stays warm, while a reader's is emptied (and
    /// its memory map dropped) by the first read after any write; the
    /// readers are for reads that would otherwise wait for a write.
    fn try_read_lock(&self) -> Option<MutexGuard<'_, Connection>> {
        self.try_lock()
            .or_else(|| self.readers.iter().find_map(|r| r.try_lock().ok()))
    }

    /// A connection to read with: the writer's or a reader if free, else the first reader
    /// (waiting for it), else (in memory) the one connection.
    fn read_lock(&self) -> MutexGuard<'_, Connection> {
        if let Some(guard) = self.try_read_lock() {
            return guard;
        }
        match self.readers.first() {
            Some(r) => r.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
            None => self.lock(),
        }
    }

    fn get_sync(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        check_key(pk, sk)?;
        get_on(&self.read_lock(), pk, sk)
    }

    /// Runs a write (checked already). When the writer's connection is
    /// free it runs here, committed together with every write that was
    /// waiting for the connection; otherwise it waits in line and whoever
    /// takes the connection next commits it, on a blocking thread so no
    /// async worker ever waits for the lock.
    async fn write(&self, write: Write) -> Result<(), StoreError> {
        if let Some(mut conn) = self.try_lock() {
            let waiting = std::mem::take(&mut *self.waiting_lock());
            return commit_group(&mut conn, Some(write), waiting).unwrap_or(Ok(()));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.waiting_lock().push(Waiting { write, reply });
        let this = self.clone();
        // The line may have been taken (with this write in it) by then.
        let _ = blocking(move || {
            let mut conn = this.lock();
            let waiting = std::mem::take(&mut *this.waiting_lock());
            if !waiting.is_empty() {
                commit_group(&mut conn, None, waiting);
            }
            Ok(())
        })
        .await;
        answer
            .await
            .map_err(|_| StoreError::Engine("a write was dropped before it committed".into()))?
    }

    fn waiting_lock(&self) -> MutexGuard<'_, Vec<Waiting>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn query_sync(&self, q: &Query) -> Result<Page, StoreError> {
        let (sql, args) = query_sql(q)?;
        query_on(&self.read_lock(), q, &sql, args)
    }
}

/// Turns on SQLite's query planner stability guarantee. Without it a
/// statement whose plan could depend on a bound value (`LIMIT ?1` does) is
/// compiled again whenever that value changes: in the pipeline's profile,
/// 7% of the CPU went to re-preparing cached statements.
fn stable_plans(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
    .map_err(engine)
}

/// WAL pages after which a commit checkpoints by itself (SQLite's
/// auto-checkpoint, 1,000 by default): only when the background thread has
/// fallen far behind.
const WRITER_CHECKPOINT_PAGES: i64 = 16_000;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Copies the WAL back into the database file on a thread of its own, so
/// no commit waits for a checkpoint's writes and fsync (8% of the
/// pipeline's CPU, on the committing thread, before). A passive checkpoint
/// never blocks the writer or a reader. The thread ends when the table's
/// last clone is dropped.
fn checkpoint_in_background(
    path: &Path,
    writer: std::sync::Weak<Mutex<Connection>>,
) -> Result<(), StoreError> {
    let conn = Connection::open(path).map_err(engine)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(engine)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(engine)?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while writer.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                // Answers (busy, frames in the WAL, frames copied back).
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
        .map(drop)
        .map_err(|e| StoreError::Engine(format!("no checkpoint thread: {e}")))
}

/// One write call: a put, a delete or a transaction, checked and ready.
enum Write {
    Put(Box<Item>, Condition),
    Delete(String, String, Condition),
    Transact(Vec<WriteOp>),
}

impl Write {
    /// Runs it on `conn`, inside the group's transaction.
    fn run(&self, conn: &mut Connection) -> Result<(), StoreError> {
        match self {
            Write::Put(item, condition) => put_on(conn, &Encoded::new(item)?, *condition),
            Write::Delete(pk, sk, condition) => delete_on(conn, pk, sk, *condition),
            Write::Transact(ops) => transact_on(conn, ops, &encode_transaction(ops)?),
        }
    }
}

/// A write waiting for the connection, and where its outcome goes.
struct Waiting {
    write: Write,
    reply: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// Commits `own` (the caller's write, whose outcome is returned) and the
/// `waiting` ones (answered on their channels) in one SQLite transaction,
/// each inside a savepoint of its own: a write whose condition fails is
/// rolled back alone and fails alone, as it would have by itself, and each
/// sees the ones before it. One commit instead of one per write, so pages
/// that several writes touch (the table's last page, hot index pages) go
/// to the WAL once; measured, it helps the intake only (BENCHMARKS.md,
/// fourth readings).
fn commit_group(
    conn: &mut Connection,
    own: Option<Write>,
    waiting: Vec<Waiting>,
) -> Option<Result<(), StoreError>> {
    let mut outcomes: Vec<Result<(), StoreError>> = Vec::with_capacity(waiting.len() + 1);
    let began = run_cached(conn, "BEGIN IMMEDIATE");
    let committed = began.and_then(|()| {
        for write in waiting.iter().map(|w| &w.write).chain(own.as_ref()) {
            outcomes.push(in_savepoint(conn, write)?);
        }
        run_cached(conn, "COMMIT")
    });
    if let Err(e) = committed {
        // Nothing of the group is written: every write fails with it.
        if !conn.is_autocommit() {
            let _ = run_cached(conn, "ROLLBACK");
        }
        outcomes = (0..waiting.len() + own.is_some() as usize)
            .map(|_| Err(StoreError::Engine(format!("the commit failed: {e}"))))
            .collect();
    }
    let mut outcomes = outcomes.into_iter();
    for (w, outcome) in waiting.into_iter().zip(outcomes.by_ref()) {
        // A caller that stopped waiting no longer needs its answer.
        let _ = w.reply.send(outcome);
    }
    own.map(|_| outcomes.next().unwrap_or(Ok(())))
}

/// Runs one write in a savepoint: its own outcome, or an error of the
/// whole group's transaction (a savepoint that could not be rolled back or
/// released, or a transaction SQLite itself rolled back, as it does on some
/// I/O errors): then nothing of the group may be committed, or the writes
/// after it would run outside the transaction.
fn in_savepoint(
    conn: &mut Connection,
    write: &Write,
) -> Result<Result<(), StoreError>, StoreError> {
    run_cached(conn, "SAVEPOINT one_write")?;
    let outcome = write.run(conn);
    if conn.is_autocommit() {
        return Err(StoreError::Engine(
            "the transaction was rolled back by the engine".into(),
        ));
    }
    if outcome.is_err() {
        run_cached(conn, "ROLLBACK TO one_write")?;
    }
    run_cached(conn, "RELEASE one_write")?;
    Ok(outcome)
}

/// A statement without parameters or rows, prepared once per connection.
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(engine)
}

fn get_on(conn: &Connection, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_ONE).map_err(engine)?;
    let row = stmt
        .query_row(params![pk, sk], read_row)
        .optional()
        .map_err(engine)?;
    row.map(Stored::into_item).transpose()
}

fn put_on(conn: &Connection, row: &Encoded<'_>, condition: Condition) -> Result<(), StoreError> {
    let changed = match condition {
        Condition::None => row.execute(conn, UPSERT, None)?,
        Condition::NotExists => row.execute(conn, INSERT_NEW, None)?,
        Condition::Exists => row.execute(conn, UPDATE_EXISTING, None)?,
        Condition::VersionIs(v) => row.execute(conn, UPDATE_VERSION, Some(to_i64(v)?))?,
    };
    if changed == 0 && condition != Condition::None {
        return Err(condition_failed(&row.item.pk, &row.item.sk));
    }
    Ok(())
}

fn delete_on(
    conn: &Connection,
    pk: &str,
    sk: &str,
    condition: Condition,
) -> Result<(), StoreError> {
    let ok = match condition {
        Condition::None => {
            delete_row(conn, pk, sk)?;
            true
        }
        Condition::Exists => delete_row(conn, pk, sk)? == 1,
        Condition::VersionIs(v) => {
            let mut stmt = conn.prepare_cached(DELETE_VERSION).map_err(engine)?;
            stmt.execute(params![pk, sk, to_i64(v)?]).map_err(engine)? == 1
        }
        // Deleting a missing item "if it does not exist" deletes nothing
        // and succeeds; an existing item fails the condition.
        Condition::NotExists => current_version(conn, pk, sk)?.is_none(),
    };
    if ok {
        Ok(())
    } else {
        Err(condition_failed(pk, sk))
    }
}

/// Checks and encodes a transaction's writes before the database is touched.
fn encode_transaction(ops: &[WriteOp]) -> Result<Vec<Option<Encoded<'_>>>, StoreError> {
    check_transaction(ops)?;
    let mut encoded = Vec::with_capacity(ops.len());
    for op in ops {
        encoded.push(match op {
            WriteOp::Put { item, .. } => Some(Encoded::new(item)?),
            WriteOp::Delete { pk, sk, .. } | WriteOp::Check { pk, sk, .. } => {
                check_key(pk, sk)?;
                None
            }
        });
    }
    Ok(encoded)
}

fn transact_on(
    conn: &mut Connection,
    ops: &[WriteOp],
    encoded: &[Option<Encoded<'_>>],
) -> Result<(), StoreError> {
    let mut failed = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (pk, sk) = op.key();
        let condition = match op {
            WriteOp::Put { condition, .. }
            | WriteOp::Delete { condition, .. }
            | WriteOp::Check { condition, .. } => *condition,
        };
        if !holds(condition, current_version(conn, pk, sk)?) {
            failed.push(i);
        }
    }
    if !failed.is_empty() {
        // Nothing was written.
        return Err(StoreError::TransactionCancelled { failed });
    }
    for (op, row) in ops.iter().zip(encoded) {
        match (op, row) {
            (WriteOp::Put { .. }, Some(row)) => {
                row.execute(conn, UPSERT, None)?;
            }
            (WriteOp::Delete { pk, sk, .. }, _) => {
                delete_row(conn, pk, sk)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A query's statement and its arguments (the last is the row limit).
fn query_sql(q: &Query) -> Result<(String, Vec<Value>), StoreError> {
    if q.pk.is_empty() {
        return Err(StoreError::Invalid("empty partition key in query".into()));
    }
    let (pk_col, sk_col) = q.index.attrs();
    let primary = q.index == Index::Primary;
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pk_col} = ?");
    let mut args: Vec<Value> = vec![Value::Text(q.pk.clone())];

    if let Some(prefix) = q.sk_prefix.as_deref().filter(|p| !p.is_empty()) {
        // A range on the sort key (so the index is used):
        // prefix <= sk < the prefix with its last character incremented.
        args.push(Value::Text(prefix.to_owned()));
        match prefix_upper_bound(prefix) {
            Some(upper) => {
                sql.push_str(&format!(" AND {sk_col} >= ? AND {sk_col} < ?"));
                args.push(Value::Text(upper));
            }
            // Only for a prefix made of U+10FFFF characters.
            None => {
                sql.push_str(&format!(
                    " AND {sk_col} >= ? AND substr({sk_col}, 1, ?) = ?"
                ));
                args.push(Value::Integer(prefix.chars().count() as i64));
                args.push(Value::Text(prefix.to_owned()));
            }
        }
    }
    let cmp = if q.forward { ">" } else { "<" };
    if let Some(after) = &q.after {
        if primary {
            sql.push_str(&format!(" AND sk {cmp} ?"));
            args.push(Value::Text(after.sk.clone()));
        } else {
            let index_sk = after.index_sk.clone().ok_or_else(|| {
                StoreError::Invalid("an index query cursor without the index sort key".into())
            })?;
            sql.push_str(&format!(" AND ({sk_col}, pk, sk) {cmp} (?, ?, ?)"));
            args.push(Value::Text(index_sk));
            args.push(Value::Text(after.pk.clone()));
            args.push(Value::Text(after.sk.clone()));
        }
    }
    let dir = if q.forward { "ASC" } else { "DESC" };
    if primary {
        sql.push_str(&format!(" ORDER BY sk {dir} LIMIT ?"));
    } else {
        sql.push_str(&format!(
            " ORDER BY {sk_col} {dir}, pk {dir}, sk {dir} LIMIT ?"
        ));
    }
    // One more than asked for tells whether another page exists.
    let limit = q.limit.map(|n| i64::from(n.max(1)));
    args.push(Value::Integer(limit.map_or(-1, |n| n + 1)));

    Ok((sql, args))
}

fn query_on(conn: &Connection, q: &Query, sql: &str, args: Vec<Value>) -> Result<Page, StoreError> {
    let limit = q.limit.map(|n| i64::from(n.max(1)));
    let mut stmt = conn.prepare_cached(sql).map_err(engine)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), read_row)
        .map_err(engine)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(row.map_err(engine)?.into_item()?);
    }
    let next = match limit {
        Some(n) if items.len() as i64 > n => {
            items.truncate(n as usize);
            items.last().map(|last| last.cursor(q.index))
        }
        _ => None,
    };
    Ok(Page { items, next })
}

fn get_many_on(
    conn: &Connection,
    keys: &[(String, String)],
) -> Result<Vec<Option<Item>>, StoreError> {
    let mut found: std::collections::HashMap<(String, String), Item> =
        std::collections::HashMap::with_capacity(keys.len());
    // One statement per chunk of keys (SQLite binds at most 32766).
    for chunk in keys.chunks(MAX_BATCH_GET) {
        let sql = format!(
            "SELECT {COLUMNS} FROM items WHERE (pk, sk) IN (VALUES {})",
            vec!["(?, ?)"; chunk.len()].join(", ")
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(engine)?;
        let args = chunk.iter().flat_map(|(pk, sk)| [pk.as_str(), sk.as_str()]);
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), read_row)
            .map_err(engine)?;
        for row in rows {
            let item = row.map_err(engine)?.into_item()?;
            found.insert((item.pk.clone(), item.sk.clone()), item);
        }
    }
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

impl SqliteTable {
    fn count_sync(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        if pk.is_empty() {
            return Err(StoreError::Invalid("empty partition key in count".into()));
        }
        let (pk_col, _) = index.attrs();
        let sql = format!("SELECT count(*) FROM items WHERE {pk_col} = ?1");
        let conn = self.read_lock();
        let mut stmt = conn.prepare_cached(&sql).map_err(engine)?;
        let n: i64 = stmt.query_row(params![pk], |r| r.get(0)).map_err(engine)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

/// Whether `items` is the first schema's WITHOUT ROWID table.
fn has_rowless_items(conn: &Connection) -> Result<bool, StoreError> {
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(engine)?;
    Ok(sql.is_some_and(|sql| sql.to_ascii_uppercase().contains("WITHOUT ROWID")))
}

/// Moves every item of a WITHOUT ROWID `items` (whose columns [`migrate`]
/// has completed) into the rowid table of [`SCHEMA`], in one transaction.
fn give_rows_ids(conn: &Connection) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction().map_err(engine)?;
    for n in 1..=5 {
        tx.execute_batch(&format!("DROP INDEX IF EXISTS items_gsi{n}"))
            .map_err(engine)?;
    }
    tx.execute_batch("ALTER TABLE items RENAME TO items_without_rowid")
        .map_err(engine)?;
    tx.execute_batch(SCHEMA).map_err(engine)?;
    tx.execute_batch(&format!(
        "INSERT INTO items ({COLUMNS}) SELECT {COLUMNS} FROM items_without_rowid; \
         DROP TABLE items_without_rowid;"
    ))
    .map_err(engine)?;
    tx.commit().map_err(engine)
}

/// Brings a database made by an earlier version up to the schema: the
/// columns of the later indexes (NULL: in none of them until written
/// again), then their indexes.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let mut have = std::collections::HashSet::new();
    {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('items')")
            .map_err(engine)?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(engine)?;
        for n in names {
            have.insert(n.map_err(engine)?);
        }
    }
    for (pk_col, sk_col) in LATER_INDEXES {
        for col in [pk_col, sk_col] {
            if !have.contains(col) {
                conn.execute_batch(&format!("ALTER TABLE items ADD COLUMN {col} TEXT"))
                    .map_err(engine)?;
            }
        }
        let name = pk_col.trim_end_matches("pk");
        conn.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS items_{name} ON items ({pk_col}, {sk_col}, pk, sk) \
             WHERE {pk_col} IS NOT NULL"
        ))
        .map_err(engine)?;
    }
    Ok(())
}

// Each call first tries to run right where it is: a free connection and a
// few microseconds of work on a prepared statement cost less than handing
// the call to a blocking thread and waking the task again (the hand-off was
// a good share of the pipeline's CPU in the profile, BENCHMARKS.md). Only
// when the connection is busy does the call wait for it, on a blocking
// thread, so an async worker never blocks on the lock.
#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        check_key(pk, sk)?;
        if let Some(conn) = self.try_read_lock() {
            return get_on(&conn, pk, sk);
        }
        let (this, pk, sk) = (self.clone(), pk.to_owned(), sk.to_owned());
        blocking(move || this.get_sync(&pk, &sk)).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        Encoded::new(&item)?;
        self.write(Write::Put(Box::new(item), condition)).await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        check_key(pk, sk)?;
        self.write(Write::Delete(pk.to_owned(), sk.to_owned(), condition))
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        encode_transaction(&ops)?;
        self.write(Write::Transact(ops)).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let (sql, args) = query_sql(&query)?;
        if let Some(conn) = self.try_read_lock() {
            return query_on(&conn, &query, &sql, args);
        }
        let this = self.clone();
        blocking(move || query_on(&this.read_lock(), &query, &sql, args)).await
    }

    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        for (pk, sk) in keys {
            check_key(pk, sk)?;
        }
        if let Some(conn) = self.try_read_lock() {
            return get_many_on(&conn, keys);
        }
        let (this, keys) = (self.clone(), keys.to_vec());
        blocking(move || get_many_on(&this.read_lock(), &keys)).await
    }

    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        let (this, pk) = (self.clone(), pk.to_owned());
        blocking(move || this.count_sync(index, &pk)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Engine(format!("storage task failed: {e}")))?
}

/// An item as bound to the statements.
struct Encoded<'a> {
    item: &'a Item,
    version: i64,
    body: &'a str,
}

impl<'a> Encoded<'a> {
    fn new(item: &'a Item) -> Result<Self, StoreError> {
        check_key(&item.pk, &item.sk)?;
        for key in Index::SECONDARY
            .into_iter()
            .filter_map(|i| item.index_key(i))
        {
            check_key(&key.pk, &key.sk)?;
        }
        if !item.body.is_object() {
            return Err(StoreError::Invalid(format!(
                "the body of {}/{} is not a JSON object",
                item.pk, item.sk
            )));
        }
        let body = item.body.text();
        // An estimate of DynamoDB's item size: names plus values.
        let index_len =
            |k: &Option<IndexKey>| k.as_ref().map_or(0, |k| 12 + k.pk.len() + k.sk.len());
        let size = 4
            + item.pk.len()
            + item.sk.len()
            + index_len(&item.gsi1)
            + index_len(&item.gsi2)
            + index_len(&item.gsi3)
            + index_len(&item.gsi4)
            + index_len(&item.gsi5)
            + 3
            + 8
            + item.expires_at.map_or(0, |_| 10 + 8)
            + 4
            + body.len();
        if size > MAX_ITEM_BYTES {
            return Err(StoreError::Invalid(format!(
                "item {}/{} is {size} bytes; at most {MAX_ITEM_BYTES}",
                item.pk, item.sk
            )));
        }
        Ok(Encoded {
            item,
            version: to_i64(item.version)?,
            body,
        })
    }

    /// Runs one of the write statements (`?1..?15`, plus `?16` when given);
    /// returns the number of rows changed.
    fn execute(
        &self,
        conn: &Connection,
        sql: &str,
        extra: Option<i64>,
    ) -> Result<usize, StoreError> {
        let it = self.item;
        let g = |k: &'a Option<IndexKey>| (k.as_ref().map(|k| &k.pk), k.as_ref().map(|k| &k.sk));
        let (g1, g2, g3, g4, g5) = (
            g(&it.gsi1),
            g(&it.gsi2),
            g(&it.gsi3),
            g(&it.gsi4),
            g(&it.gsi5),
        );
        let mut stmt = conn.prepare_cached(sql).map_err(engine)?;
        let n = match extra {
            None => stmt.execute(params![
                it.pk,
                it.sk,
                g1.0,
                g1.1,
                g2.0,
                g2.1,
                self.version,
                it.expires_at,
                self.body,
                g3.0,
                g3.1,
                g4.0,
                g4.1,
                g5.0,
                g5.1,
            ]),
            Some(v) => stmt.execute(params![
                it.pk,
                it.sk,
                g1.0,
                g1.1,
                g2.0,
                g2.1,
                self.version,
                it.expires_at,
                self.body,
                g3.0,
                g3.1,
                g4.0,
                g4.1,
                g5.0,
                g5.1,
                v,
            ]),
        };
        n.map_err(engine)
    }
}

/// A row as read.
struct Stored {
    pk: String,
    sk: String,
    gsi1pk: Option<String>,
    gsi1sk: Option<String>,
    gsi2pk: Option<String>,
    gsi2sk: Option<String>,
    ver: i64,
    expires_at: Option<i64>,
    body: String,
    gsi3pk: Option<String>,
    gsi3sk: Option<String>,
    gsi4pk: Option<String>,
    gsi4sk: Option<String>,
    gsi5pk: Option<String>,
    gsi5sk: Option<String>,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        pk: row.get(0)?,
        sk: row.get(1)?,
        gsi1pk: row.get(2)?,
        gsi1sk: row.get(3)?,
        gsi2pk: row.get(4)?,
        gsi2sk: row.get(5)?,
        ver: row.get(6)?,
        expires_at: row.get(7)?,
        body: row.get(8)?,
        gsi3pk: row.get(9)?,
        gsi3sk: row.get(10)?,
        gsi4pk: row.get(11)?,
        gsi4sk: row.get(12)?,
        gsi5pk: row.get(13)?,
        gsi5sk: row.get(14)?,
    })
}

impl Stored {
    fn into_item(self) -> Result<Item, StoreError> {
        let pair = |pk: Option<String>, sk: Option<String>| match (pk, sk) {
            (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
            _ => None,
        };
        let body = Body::from_text(self.body);
        let version = u64::try_from(self.ver).map_err(|_| {
            StoreError::Engine(format!("negative version in {}/{}", self.pk, self.sk))
        })?;
        Ok(Item {
            gsi1: pair(self.gsi1pk, self.gsi1sk),
            gsi2: pair(self.gsi2pk, self.gsi2sk),
            gsi3: pair(self.gsi3pk, self.gsi3sk),
            gsi4: pair(self.gsi4pk, self.gsi4sk),
            gsi5: pair(self.gsi5pk, self.gsi5sk),
            pk: self.pk,
            sk: self.sk,
            version,
            expires_at: self.expires_at,
            body,
        })
    }
}

fn current_version(conn: &Connection, pk: &str, sk: &str) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_VERSION).map_err(engine)?;
    stmt.query_row(params![pk, sk], |row| row.get(0))
        .optional()
        .map_err(engine)
}

fn delete_row(conn: &Connection, pk: &str, sk: &str) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(DELETE).map_err(engine)?;
    stmt.execute(params![pk, sk]).map_err(engine)
}

fn holds(condition: Condition, current: Option<i64>) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(v) => current.is_some_and(|c| u64::try_from(c) == Ok(v)),
    }
}

/// The smallest string greater than every string starting with `prefix`:
/// the prefix with its last character replaced by the next one (UTF-8 byte
/// order, which SQLite's BINARY collation uses, is code point order).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn check_key(pk: &str, sk: &str) -> Result<(), StoreError> {
    if pk.is_empty() || sk.is_empty() {
        return Err(StoreError::Invalid("empty key attribute".into()));
    }
    if pk.len() > MAX_PK_BYTES || sk.len() > MAX_SK_BYTES {
        return Err(StoreError::Invalid(format!(
            "key too long ({} / {} bytes; at most {MAX_PK_BYTES} / {MAX_SK_BYTES})",
            pk.len(),
            sk.len()
        )));
    }
    Ok(())
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("version {v} out of range")))
}

fn condition_failed(pk: &str, sk: &str) -> StoreError {
    StoreError::ConditionFailed {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
    }
}

fn engine(e: rusqlite::Error) -> StoreError {
    StoreError::Engine(format!("sqlite: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of the first schema (gsi1 and gsi2 only), as an older
    /// runner left it in ./data, opens: its rows are kept, the later
    /// indexes' columns and indexes are added.
    #[test]
    fn old_database_gains_later_indexes() {
        let dir = std::env::temp_dir().join(format!("aftersales-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, gsi1pk TEXT, \
                 gsi1sk TEXT, gsi2pk TEXT, gsi2sk TEXT, ver INTEGER NOT NULL, \
                 expires_at INTEGER, body TEXT NOT NULL, PRIMARY KEY (pk, sk)) WITHOUT ROWID;
                 INSERT INTO items VALUES ('A', '1', 'G', 's', NULL, NULL, 3, NULL, '{\"a\":1}');",
            )
            .unwrap();
        }
        let t = SqliteTable::open(&path).unwrap();
        assert!(!has_rowless_items(&t.lock()).unwrap());
        let old = t.get_sync("A", "1").unwrap().unwrap();
        assert_eq!(old.version, 3);
        assert_eq!(old.gsi1.as_ref().map(|k| k.pk.as_str()), Some("G"));
        assert!(old.gsi3.is_none());
        let mut new = Item::new("B", "1", serde_json::json!({"b": 2}));
        new.gsi3 = Some(IndexKey {
            pk: "Q".into(),
            sk: "1".into(),
        });
        commit_group(
            &mut t.lock(),
            Some(Write::Put(Box::new(new.clone()), Condition::NotExists)),
            Vec::new(),
        )
        .unwrap()
        .unwrap();
        let page = t.query_sync(&Query::partition(Index::Gsi3, "Q")).unwrap();
        assert_eq!(page.items, vec![new]);
        drop(t);
        // And again: nothing left to add.
        let t = SqliteTable::open(&path).unwrap();
        assert_eq!(t.count_sync(Index::Gsi3, "Q").unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn upper_bound() {
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a#").as_deref(), Some("a$"));
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
    }
}
