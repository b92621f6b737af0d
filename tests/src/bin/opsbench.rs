//! Benchmarks of whole use cases on the embedded engine (release build):
//!
//! - batch review: 1,000 claims waiting for a person, approved in one batch
//!   request, with the number of table calls it made (the same calls go to
//!   DynamoDB in the cloud: one transaction is one TransactWriteItems);
//! - refund execution: N approved refunds sent through the sandbox provider
//!   with 32 in flight, refunds per second, and table calls per refund;
//! - the pipeline: N refund-only claims submitted, then every outbox event
//!   delivered to every consumer, one at a time, until none is left (decided
//!   and refunded): the table calls per claim of the intake and of each
//!   consumer, and the bytes written.
//!
//! ```text
//! cargo run --release -p aftersales-tests --bin opsbench [-- --claims 1000 --refunds 5000 --pipeline 1000]
//! ```
//!
//! The database is a temporary file (WAL, as the runner uses), not memory.

use aftersales::app::desk::{batch, BatchDecision, BatchRequest};
use aftersales::app::{Services, SubmitClaim};
use aftersales::auth::{Principal, StaffRole};
use aftersales::domain::ids::{ClaimId, RefundId};
use aftersales::domain::order::OrderDraft;
use aftersales::providers::sandbox::Sandbox;
use aftersales::providers::ProviderSet;
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::{Condition, Index, Item, Page, Query, StoreError, Table, WriteOp};
use async_trait::async_trait;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Counts calls per kind on the way to the real engine.
struct Counting {
    inner: Arc<dyn Table>,
    gets: AtomicU64,
    puts: AtomicU64,
    deletes: AtomicU64,
    transacts: AtomicU64,
    transact_items: AtomicU64,
    queries: AtomicU64,
    batch_gets: AtomicU64,
    /// Bytes of item bodies written (puts and transactions).
    bytes: AtomicU64,
}

impl Counting {
    fn new(inner: Arc<dyn Table>) -> Self {
        Counting {
            inner,
            gets: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            transacts: AtomicU64::new(0),
            transact_items: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            batch_gets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
    fn calls(&self) -> [u64; 8] {
        let g = |c: &AtomicU64| c.load(Ordering::SeqCst);
        [
            g(&self.gets),
            g(&self.batch_gets),
            g(&self.puts),
            g(&self.deletes),
            g(&self.queries),
            g(&self.transacts),
            g(&self.transact_items),
            g(&self.bytes),
        ]
    }
    fn reset(&self) {
        for c in [
            &self.gets,
            &self.puts,
            &self.deletes,
            &self.transacts,
            &self.transact_items,
            &self.queries,
            &self.batch_gets,
            &self.bytes,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }
    fn report(&self, per: u64, what: &str) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::SeqCst);
        let calls = g(&self.gets)
            + g(&self.puts)
            + g(&self.deletes)
            + g(&self.transacts)
            + g(&self.queries)
            + g(&self.batch_gets);
        format!(
            "table calls: {calls} ({:.2} per {what}): GetItem {}, BatchGetItem {} (100 keys a request), PutItem {}, DeleteItem {}, Query {}, TransactWriteItems {} carrying {} writes ({:.2} writes per {what})",
            calls as f64 / per as f64,
            g(&self.gets),
            g(&self.batch_gets),
            g(&self.puts),
            g(&self.deletes),
            g(&self.queries),
            g(&self.transacts),
            g(&self.transact_items),
            (g(&self.transact_items) + g(&self.puts) + g(&self.deletes)) as f64 / per as f64,
        )
    }
}

#[async_trait]
impl Table for Counting {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(pk, sk).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(item.body.text().len() as u64, Ordering::Relaxed);
        self.inner.put(item, condition).await
    }
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.deletes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(pk, sk, condition).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.transacts.fetch_add(1, Ordering::Relaxed);
        self.transact_items
            .fetch_add(ops.len() as u64, Ordering::Relaxed);
        let bytes: usize = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { item, .. } => item.body.text().len(),
                _ => 0,
            })
            .sum();
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.inner.transact(ops).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.inner.query(query).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        // One BatchGetItem per 100 keys on DynamoDB.
        self.batch_gets
            .fetch_add(keys.len().div_ceil(100) as u64, Ordering::Relaxed);
        self.inner.get_many(keys).await
    }
    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.inner.count(index, pk).await
    }
}

fn order(customer: &str, lines: usize, fulfilment: serde_json::Value) -> OrderDraft {
    let ls: Vec<_> = (1..=lines)
        .map(|i| {
            json!({"line_id": format!("L{i}"), "sku": format!("S{i}"), "title": "Jacket",
                        "kind": "physical", "quantity": 1, "unit_price": "120.00"})
        })
        .collect();
    serde_json::from_value(json!({
        "customer_id": customer, "member_tier": "gold", "language": "en", "currency": "CNY",
        "placed_at": "2026-11-20T08:00:00Z", "lines": ls,
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "42",
                      "amount": format!("{}.00", 120 * lines), "paid_at": "2026-11-20T08:01:00Z"}],
        "fulfilment": fulfilment
    }))
    .expect("order")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn services(dir: &std::path::Path, name: &str) -> (Services, Arc<Counting>, Arc<Sandbox>) {
    let table: Arc<dyn Table> = Arc::new(SqliteTable::open(&dir.join(name)).expect("sqlite file"));
    let counting = Arc::new(Counting::new(table));
    let mut s = Services::new(counting.clone());
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    s.clock = Arc::new(move || at);
    let sandbox = Arc::new(Sandbox::new());
    s.providers = ProviderSet::all(sandbox.clone());
    (s, counting, sandbox)
}

async fn file_claims(
    s: &Services,
    orders: usize,
    lines: usize,
    fulfilment: serde_json::Value,
    kind: &str,
) -> Vec<ClaimId> {
    let sf = Principal::Storefront {
        shop_id: "shop-1".into(),
    };
    let mut ids = Vec::new();
    for o in 0..orders {
        let customer = format!("c{}", o % 50);
        aftersales::app::put_order(
            s,
            &sf,
            "shop-1",
            &format!("o{o}"),
            order(&customer, lines, fulfilment.clone()),
        )
        .await
        .expect("order");
        let p = Principal::Customer {
            customer_id: customer.into(),
        };
        for l in 1..=lines {
            let body: SubmitClaim = serde_json::from_value(json!({
                "shop_id": "shop-1", "order_id": format!("o{o}"), "type": kind,
                "reason": "wrong_size", "lines": [{"line_id": format!("L{l}"), "quantity": 1}]
            }))
            .unwrap();
            let (c, _) = aftersales::app::submit_claim(s, &p, body, None)
                .await
                .expect("claim");
            ids.push(c.claim_id);
        }
    }
    ids
}

async fn bench_batch(dir: &std::path::Path, claims: usize) {
    let (s, counting, _) = services(dir, "batch.db").await;
    let lines = 10;
    let ids = file_claims(
        &s,
        claims / lines,
        lines,
        json!({"state": "shipped", "shipped_at": "2026-11-21T09:00:00Z"}),
        "return_refund",
    )
    .await;
    for id in &ids {
        aftersales::app::review::evaluate_claim(&s, id)
            .await
            .expect("rules");
    }
    let staff = Principal::Staff {
        staff_id: "rev".into(),
        shop_id: "shop-1".into(),
        roles: vec![StaffRole::Reviewer],
    };
    counting.reset();
    let t = Instant::now();
    let report = batch(
        &s,
        &staff,
        "shop-1",
        BatchRequest {
            decision: BatchDecision::Approve,
            reason: None,
            claim_ids: Some(ids.clone()),
            filter: None,
            cursor: None,
        },
    )
    .await
    .expect("batch");
    let took = t.elapsed();
    assert_eq!(report.decided, ids.len(), "every claim decided");
    println!(
        "batch review: {} claims approved in {:.1} ms ({:.0} claims/s)",
        ids.len(),
        took.as_secs_f64() * 1e3,
        ids.len() as f64 / took.as_secs_f64()
    );
    println!("  {}", counting.report(ids.len() as u64, "claim"));
}

async fn bench_refunds(dir: &std::path::Path, refunds: usize) {
    let (s, counting, sandbox) = services(dir, "refunds.db").await;
    let lines = 10;
    let ids = file_claims(
        &s,
        refunds / lines,
        lines,
        json!({"state": "paid_unshipped"}),
        "refund_only",
    )
    .await;
    for id in &ids {
        aftersales::app::review::evaluate_claim(&s, id)
            .await
            .expect("rules");
    }
    let refund_ids: Vec<RefundId> = ids
        .iter()
        .map(|c| aftersales::domain::refund::refund_id_for(c, 1))
        .collect();
    counting.reset();
    let t = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(refund_ids.clone()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let s = s.clone();
        let q = queue.clone();
        workers.spawn(async move {
            loop {
                let next = q.lock().unwrap().pop();
                let Some(id) = next else { return };
                aftersales::app::refunds::execute(&s, &id)
                    .await
                    .expect("refund");
            }
        });
    }
    while let Some(r) = workers.join_next().await {
        r.expect("worker");
    }
    let took = t.elapsed();
    assert_eq!(sandbox.total_movements() as usize, refund_ids.len());
    println!(
        "refund execution: {} refunds in {:.1} ms ({:.0} refunds/s, 32 in flight)",
        refund_ids.len(),
        took.as_secs_f64() * 1e3,
        refund_ids.len() as f64 / took.as_secs_f64()
    );
    println!("  {}", counting.report(refund_ids.len() as u64, "refund"));
}

/// What one part of the pipeline cost, per claim.
fn per_claim(name: &str, d: [u64; 8], claims: usize) -> String {
    let n = claims as f64;
    let [gets, batch_gets, puts, deletes, queries, transacts, writes, bytes] = d;
    let calls = gets + batch_gets + puts + deletes + queries + transacts;
    format!(
        "  {name:<32} {:>6.2} calls/claim (get {:.2}, batch-get {:.2}, put {:.2}, delete {:.2}, query {:.2}, transact {:.2} with {:.2} writes), {:>6.0} bytes written/claim",
        calls as f64 / n,
        gets as f64 / n,
        batch_gets as f64 / n,
        puts as f64 / n,
        deletes as f64 / n,
        queries as f64 / n,
        transacts as f64 / n,
        writes as f64 / n,
        bytes as f64 / n,
    )
}

fn minus(a: [u64; 8], b: [u64; 8]) -> [u64; 8] {
    std::array::from_fn(|i| a[i] - b[i])
}

/// Intake and the pipeline behind it, counted per consumer: the same work
/// the runner's poller does (and, on Lambda, the stream's functions), one
/// event and one consumer at a time so every call is put down to the part
/// that made it.
async fn bench_pipeline(dir: &std::path::Path, claims: usize) {
    use aftersales::app::dispatch::{deliver, ALL_CONSUMERS};
    use aftersales::repo::outbox;
    let (s, counting, sandbox) = services(dir, "pipeline.db").await;
    let sf = Principal::Storefront {
        shop_id: "shop-1".into(),
    };
    for o in 0..claims {
        aftersales::app::put_order(
            &s,
            &sf,
            "shop-1",
            &format!("o{o}"),
            order(&format!("c{o}"), 1, json!({"state": "paid_unshipped"})),
        )
        .await
        .expect("order");
    }
    // The orders' own events are not the claims' pipeline.
    loop {
        let mut events = Vec::new();
        for shard in 0..outbox::SHARDS {
            events.extend(
                outbox::pending_in(&*s.table, shard, 1000)
                    .await
                    .expect("outbox"),
            );
        }
        if events.is_empty() {
            break;
        }
        outbox::delivered_all(&*s.table, &events)
            .await
            .expect("delivered");
    }
    counting.reset();
    let t = Instant::now();
    for o in 0..claims {
        let p = Principal::Customer {
            customer_id: format!("c{o}").into(),
        };
        let body: SubmitClaim = serde_json::from_value(json!({
            "shop_id": "shop-1", "order_id": format!("o{o}"), "type": "refund_only",
            "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]
        }))
        .unwrap();
        aftersales::app::submit_claim(&s, &p, body, None)
            .await
            .expect("claim");
    }
    let intake = counting.calls();
    let intake_took = t.elapsed();
    let mut by_consumer: std::collections::BTreeMap<String, [u64; 8]> = Default::default();
    let mut by_type: std::collections::BTreeMap<String, usize> = Default::default();
    let mut outbox_calls = [0u64; 8];
    let t = Instant::now();
    loop {
        let before = counting.calls();
        let mut events = Vec::new();
        for shard in 0..outbox::SHARDS {
            events.extend(
                outbox::pending_in(&*s.table, shard, 100)
                    .await
                    .expect("outbox"),
            );
        }
        events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        outbox_calls = std::array::from_fn(|i| outbox_calls[i] + counting.calls()[i] - before[i]);
        if events.is_empty() {
            break;
        }
        for e in &events {
            *by_type.entry(e.event_type.to_string()).or_default() += 1;
            for &c in ALL_CONSUMERS {
                let before = counting.calls();
                deliver(&s, c, e).await.expect("delivered");
                let d = minus(counting.calls(), before);
                for key in [format!("{c:?}"), format!("{c:?} on {}", e.event_type)] {
                    let sum = by_consumer.entry(key).or_insert([0; 8]);
                    *sum = std::array::from_fn(|i| sum[i] + d[i]);
                }
            }
        }
        let before = counting.calls();
        outbox::delivered_all(&*s.table, &events)
            .await
            .expect("delivered");
        outbox_calls = std::array::from_fn(|i| outbox_calls[i] + counting.calls()[i] - before[i]);
    }
    let took = t.elapsed();
    assert_eq!(
        sandbox.total_movements() as usize,
        claims,
        "every claim refunded once"
    );
    println!(
        "pipeline: {claims} refund-only claims, intake {:.1} ms, then decided and refunded in {:.1} ms ({:.0} claims/s, one event at a time)",
        intake_took.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e3,
        claims as f64 / took.as_secs_f64()
    );
    println!(
        "  events per claim: {}",
        by_type
            .iter()
            .map(|(t, n)| format!("{t} {:.2}", *n as f64 / claims as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("{}", per_claim("intake (submit)", intake, claims));
    println!(
        "{}",
        per_claim("outbox (read + remove)", outbox_calls, claims)
    );
    // Each consumer, then what it spent on each event type.
    for (c, d) in by_consumer.iter().filter(|(_, d)| d.iter().any(|n| *n > 0)) {
        let name = match c.split_once(" on ") {
            Some((_, t)) => format!("  on {t}"),
            None => format!("consumer {c}"),
        };
        println!("{}", per_claim(&name, *d, claims));
    }
    // Since the reset: the intake and the whole drain.
    println!("{}", per_claim("all", counting.calls(), claims));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let pipeline = arg("--pipeline", 0);
    if pipeline > 0 {
        bench_pipeline(dir.path(), pipeline).await;
        if arg("--claims", 0) == 0 && arg("--refunds", 0) == 0 {
            return;
        }
    }
    bench_batch(dir.path(), arg("--claims", 1000)).await;
    bench_refunds(dir.path(), arg("--refunds", 5000)).await;
}
