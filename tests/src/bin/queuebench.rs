//! The desk's queue over a busy shop on the embedded engine (release build):
//! seeds `--claims` claims (default 100,000) waiting for staff in one shop,
//! then reads the whole queue page by page following `next_cursor` (the use
//! case the HTTP route calls, `app::desk::queue`), timing every page, and
//! says whether every waiting claim was reached exactly once.
//!
//! ```text
//! cargo run --release -p aftersales-tests --bin queuebench [-- --claims 100000 --limit 50]
//! ```
//!
//! The database is a temporary file (WAL, as the runner uses), not memory.

use aftersales::app::desk::{queue, QueueFilter};
use aftersales::app::{Services, SubmitClaim};
use aftersales::auth::{Principal, StaffRole};
use aftersales::domain::order::OrderDraft;
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::Table;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LINES: usize = 10;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn order(customer: &str, tier: &str) -> OrderDraft {
    let ls: Vec<_> = (1..=LINES)
        .map(|i| {
            json!({"line_id": format!("L{i}"), "sku": format!("S{i}"), "title": "Jacket",
                   "kind": "physical", "quantity": 1, "unit_price": "120.00"})
        })
        .collect();
    serde_json::from_value(json!({
        "customer_id": customer, "member_tier": tier, "language": "en", "currency": "CNY",
        "placed_at": "2026-11-20T08:00:00Z", "lines": ls,
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "42",
                      "amount": format!("{}.00", 120 * LINES), "paid_at": "2026-11-20T08:01:00Z"}],
        "fulfilment": {"state": "shipped", "shipped_at": "2026-11-21T09:00:00Z"}
    }))
    .expect("order")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let claims = arg("--claims", 100_000);
    let limit = arg("--limit", 50) as u32;
    let dir = tempfile::tempdir().expect("temp dir");
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(&dir.path().join("queue.db")).expect("sqlite file"));
    let mut s = Services::new(table);
    // Claims filed over several hours, so deadlines and ages differ.
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let now = Arc::new(std::sync::atomic::AtomicI64::new(start.timestamp()));
    let clock = now.clone();
    s.clock = Arc::new(move || {
        chrono::DateTime::from_timestamp(clock.load(std::sync::atomic::Ordering::Relaxed), 0)
            .unwrap()
    });
    let sf = Principal::Storefront {
        shop_id: "shop-1".into(),
    };
    let t = Instant::now();
    let tiers = ["regular", "silver", "gold", "platinum"];
    let mut filed = HashSet::new();
    for o in 0..claims.div_ceil(LINES) {
        now.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let customer = format!("c{}", o % 500);
        aftersales::app::put_order(
            &s,
            &sf,
            "shop-1",
            &format!("o{o}"),
            order(&customer, tiers[o % tiers.len()]),
        )
        .await
        .expect("order");
        let p = Principal::Customer {
            customer_id: customer.into(),
        };
        for l in 1..=LINES.min(claims - filed.len()) {
            let body: SubmitClaim = serde_json::from_value(json!({
                "shop_id": "shop-1", "order_id": format!("o{o}"), "type": "return_refund",
                "reason": "wrong_size", "lines": [{"line_id": format!("L{l}"), "quantity": 1}]
            }))
            .unwrap();
            let (c, _) = aftersales::app::submit_claim(&s, &p, body, None)
                .await
                .expect("claim");
            filed.insert(c.claim_id.to_string());
        }
    }
    println!(
        "seeded {} waiting claims in one shop in {:.1} s",
        filed.len(),
        t.elapsed().as_secs_f64()
    );
    let staff = Principal::Staff {
        staff_id: "rev".into(),
        shop_id: "shop-1".into(),
        roles: vec![StaffRole::Reviewer],
    };
    let filter = QueueFilter::default();
    let t = Instant::now();
    let first = queue(&s, &staff, "shop-1", &filter, Some(limit), None)
        .await
        .expect("queue");
    println!(
        "first page, first time (the shop's one-off index check): {:.1} ms, total {:?}",
        t.elapsed().as_secs_f64() * 1000.0,
        first.total
    );
    // The first page is what staff open most: it counts the shop's claims
    // per status (15 index counts) before reading its claims.
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        queue(&s, &staff, "shop-1", &filter, Some(limit), None)
            .await
            .expect("queue");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "first page (counts + {limit} claims), 200 times: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        times.last().unwrap().as_secs_f64() * 1000.0,
    );
    let mut times = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        aftersales::repo::claims::count_by_status(&*s.table, "shop-1")
            .await
            .expect("counts");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "of which counting per status, 200 times: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
    );
    for pass in [
        "sorted",
        "with a filter the index does not serve (member_tier=gold)",
    ] {
        let filter: QueueFilter = if pass == "sorted" {
            QueueFilter::default()
        } else {
            serde_json::from_value(json!({"member_tier": "gold"})).unwrap()
        };
        let mut seen = HashSet::new();
        let mut dup = 0usize;
        let mut times = Vec::new();
        // The first page is timed above: here the pages after it.
        let first = queue(&s, &staff, "shop-1", &filter, Some(limit), None)
            .await
            .expect("queue");
        for c in &first.claims {
            seen.insert(c.claim_id.to_string());
        }
        let mut cursor: Option<String> = first.next_cursor.clone();
        let mut last_due = first.claims.last().and_then(|c| c.due_at);
        let mut ordered = true;
        let total = Instant::now();
        while cursor.is_some() {
            let t = Instant::now();
            let page = queue(
                &s,
                &staff,
                "shop-1",
                &filter,
                Some(limit),
                cursor.as_deref(),
            )
            .await
            .expect("queue page");
            times.push(t.elapsed());
            for c in &page.claims {
                if !seen.insert(c.claim_id.to_string()) {
                    dup += 1;
                }
                if last_due.is_some_and(|d| c.due_at.is_some_and(|due| due < d)) {
                    ordered = false;
                }
                last_due = c.due_at;
            }
            cursor = page.next_cursor;
        }
        let all = total.elapsed();
        times.sort();
        let expected = if pass == "sorted" {
            filed.len()
        } else {
            filed.len() / 4
        };
        println!(
            "queue, {pass}: {} pages of {limit} after the first in {:.1} s; page p50 {:.2} ms, p99 {:.2} ms, \
             max {:.2} ms; {} claims reached ({} expected), {dup} twice, in deadline order: {ordered}",
            times.len(),
            all.as_secs_f64(),
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
            times.last().unwrap().as_secs_f64() * 1000.0,
            seen.len(),
            expected,
        );
        if pass == "sorted" {
            println!("every waiting claim reached: {}", seen == filed && dup == 0);
        }
    }
}
