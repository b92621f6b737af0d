//! Courier callbacks per second on the one-machine assembly: the runner's
//! router (onebox::app) on a loopback port over the embedded engine (a
//! temporary SQLite file, WAL, as the runner uses), and signed Kuaidi100
//! pushes posted to `POST /v1/couriers/kuaidi100` over HTTP with
//! `--concurrency` in flight.
//!
//! `--parcels` return parcels are registered first (claim + parcel item,
//! written directly). Each parcel then gets four pushes, in order: picked
//! up, in transit, delivered (each moves the parcel and the claim: one
//! transaction with the parcel, the claim and its outbox event) and the
//! delivered one again (verified, merged, nothing written). Every push is
//! verified (MD5 over the form) before anything is read.
//!
//! ```text
//! cargo run --release -p aftersales-tests --bin courierbench [-- --parcels 2000 --concurrency 32]
//! ```

use aftersales::api::AppState;
use aftersales::app::Services;
use aftersales::auth::{AuthMode, DevKeys};
use aftersales::couriers::sandbox::push_form;
use aftersales::domain::claim::{Actor, Claim, ClaimLine, ClaimType, NewClaim, ReasonCode};
use aftersales::domain::ids::ClaimId;
use aftersales::domain::money::{Currency, Money};
use aftersales::domain::returns::{Leg, Shipment};
use aftersales::domain::tracking::{Carrier, CourierState, TrackingEvent, TrackingSnapshot};
use aftersales::repo::{self, shipments::ShipmentRecord};
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::Table;
use chrono::{Duration, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SALT: &str = "bench-salt";

struct Args {
    parcels: usize,
    concurrency: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        parcels: 2000,
        concurrency: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let n: usize = v.parse().map_err(|e| format!("{k} {v}: {e}"))?;
        match k.as_str() {
            "--parcels" => a.parcels = n,
            "--concurrency" => a.concurrency = n,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if a.parcels == 0 || a.concurrency == 0 {
        return Err("--parcels and --concurrency must be at least 1".into());
    }
    Ok(a)
}

fn number(i: usize) -> String {
    format!("YT{:013}", 1_000_000 + i)
}

/// The parcel's snapshot after `stage` (1 picked up, 2 in transit, 3 delivered).
fn snapshot(stage: usize, base: chrono::DateTime<Utc>) -> TrackingSnapshot {
    let all = [
        (CourierState::PickedUp, "【深圳市】已揽收", "广东,深圳市"),
        (
            CourierState::InTransit,
            "【深圳市】快件已发往 杭州",
            "广东,深圳市",
        ),
        (CourierState::Delivered, "【杭州市】已签收", "浙江,杭州市"),
    ];
    let mut events: Vec<TrackingEvent> = all[..stage]
        .iter()
        .enumerate()
        .map(|(k, (_, c, a))| TrackingEvent {
            at: base + Duration::hours(k as i64 + 1),
            context: (*c).into(),
            area: Some((*a).into()),
        })
        .collect();
    events.reverse();
    let state = all[stage - 1].0;
    let delivered = state == CourierState::Delivered;
    TrackingSnapshot {
        state,
        signed: delivered,
        delivered_to: delivered.then(|| "浙江,杭州市".into()),
        events,
    }
}

async fn seed(table: &dyn Table, parcels: usize) {
    let now = Utc::now() - Duration::days(1);
    for i in 0..parcels {
        let claim_id: ClaimId = format!("clm_bench_{i:06}").into();
        let (mut claim, _) = Claim::submit(
            NewClaim {
                claim_id: claim_id.clone(),
                shop_id: "shop-1".into(),
                order_id: format!("o-{i}").into(),
                customer_id: format!("cust-{i}").into(),
                claim_type: ClaimType::ReturnRefund,
                reason: ReasonCode::NoLongerWanted,
                description: String::new(),
                evidence: vec![],
                lines: vec![ClaimLine {
                    line_id: "L1".into(),
                    quantity: 1,
                    amount: Money::from_minor(9900, Currency::Cny),
                    weight_grams: None,
                }],
                currency: Currency::Cny,
            },
            Actor::System,
            now,
        )
        .expect("claim");
        claim
            .approve(None, None, Actor::System, now)
            .expect("approve");
        claim
            .ship_return("yuantong".into(), number(i), Actor::System, now)
            .expect("ship");
        claim.returns.shipment = Some(Shipment::new(Carrier::Yuantong, number(i), now));
        let rec = ShipmentRecord {
            carrier: Carrier::Yuantong,
            tracking_number: number(i),
            claim_id: claim_id.clone(),
            shop_id: "shop-1".into(),
            leg: Leg::Return,
            snapshot: TrackingSnapshot::empty(),
            subscribed: true,
            phone_tail: None,
            stopped: false,
            shipped_at: now,
            created_at: now,
            updated_at: now,
            checked_at: now,
        };
        table
            .transact(vec![
                repo::claims::put(&claim, None),
                repo::shipments::put(&rec, None),
            ])
            .await
            .expect("seed");
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(&dir.path().join("bench.db")).map_err(|e| e.to_string())?);
    seed(&*table, a.parcels).await;

    let mut services = Services::new(table.clone());
    services.courier_salt = Some(SALT.into());
    let state = AppState {
        services,
        auth: AuthMode::Hs256(Box::new(DevKeys::new(b"courier-bench-secret"))),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}/v1/couriers/kuaidi100",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, aftersales::onebox::app(state, None)).await;
    });

    let base = Utc::now() - Duration::days(1);
    let bodies: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        (0..a.parcels)
            .map(|i| {
                let n = number(i);
                let mut b: Vec<Vec<u8>> = (1..=3)
                    .map(|stage| {
                        let status = if stage == 3 { "shutdown" } else { "polling" };
                        push_form("yuantong", &n, status, &snapshot(stage, base), SALT)
                    })
                    .collect();
                b.push(b[2].clone());
                b
            })
            .collect(),
    );
    aftersales::providers::install_crypto_provider();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (http, url, bodies, next, failures) = (
            http.clone(),
            url.clone(),
            bodies.clone(),
            next.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pushes) = bodies.get(i) else {
                    return lat;
                };
                for body in pushes {
                    let t = Instant::now();
                    let ok = match http
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let good = r.status().is_success();
                            let text = r.text().await.unwrap_or_default();
                            good && text.contains("\"result\":true")
                        }
                        Err(_) => false,
                    };
                    lat.push(t.elapsed().as_micros() as u64);
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())?);
    }
    let elapsed = started.elapsed();
    lat.sort_unstable();

    // Every claim must show its parcel delivered, with exactly two steps
    // recorded by the courier (picked up, delivered) or three (with in
    // transit), never a step twice.
    let mut delivered = 0;
    for i in 0..a.parcels {
        let (c, _) = repo::claims::get(&*table, &format!("clm_bench_{i:06}"))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("claim gone")?;
        let sh = c.returns.shipment.as_ref().ok_or("no shipment")?;
        if sh.state == Some(CourierState::Delivered) && sh.delivered_to_destination {
            delivered += 1;
        }
    }
    let pushes = lat.len();
    let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
    println!(
        "courier callbacks: {pushes} signed pushes for {} parcels in {:.2} s with {} in flight: {:.0} pushes/s",
        a.parcels,
        elapsed.as_secs_f64(),
        a.concurrency,
        pushes as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 90.0)),
        ms(percentile(&lat, 99.0)),
        ms(percentile(&lat, 100.0)),
    );
    println!(
        "not acknowledged: {}; claims with the parcel delivered to the shop: {delivered}/{}",
        failures.load(Ordering::Relaxed),
        a.parcels
    );
    if failures.load(Ordering::Relaxed) > 0 || delivered != a.parcels {
        return Err("some pushes were not recorded".into());
    }
    Ok(())
}
