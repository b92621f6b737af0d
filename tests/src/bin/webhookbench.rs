//! The webhook sender's throughput to a local receiver on the embedded
//! engine: `--endpoints` endpoints (default 20, one shop each, all on one
//! receiver on 127.0.0.1 answering 204 at once), `--per-endpoint`
//! deliveries due on each (default 200), then the sender's sweep
//! (`hooks::sender::sweep`, what the runner's loop and the cloud's
//! function run) until none is due. Says the deliveries per second, and
//! checks that every delivery was received once and recorded delivered.
//!
//! ```text
//! cargo run --release -p aftersales-tests --bin webhookbench [-- --endpoints 20 --per-endpoint 200]
//! ```
//!
//! The database is a temporary file (WAL, as the runner uses), not memory.

use aftersales::domain::catalogue::PublicType;
use aftersales::hooks::{self, deliveries, sender, Delivery, DeliveryState, NewEndpoint};
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::Table;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let endpoints = arg("--endpoints", 20);
    let per_endpoint = arg("--per-endpoint", 200);
    hooks::allow_loopback(true);

    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    let app = axum::Router::new().route(
        "/in",
        axum::routing::post(move |_body: String| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/in",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().expect("a temporary folder");
    let table: Arc<dyn Table> =
        Arc::new(SqliteTable::open(&dir.path().join("bench.db")).expect("the database opens"));
    let now = chrono::Utc::now();
    let body = r#"{"type":"claim.submitted","version":1}"#;
    let mut ids = Vec::new();
    for e in 0..endpoints {
        let shop = format!("shop-{e}");
        let (view, _) = hooks::create(
            &*table,
            None,
            &shop,
            NewEndpoint {
                url: url.clone(),
                event_types: vec!["claim.submitted".into()],
                description: None,
            },
            now,
        )
        .await
        .expect("an endpoint");
        for i in 0..per_endpoint {
            let webhook_id = format!("evt-{e:03}-{i:06}");
            let d = Delivery {
                webhook_id: webhook_id.clone(),
                endpoint_id: view.endpoint_id.clone(),
                shop_id: shop.clone(),
                event_type: PublicType::ClaimSubmitted,
                created_at: now,
                state: DeliveryState::Pending,
                next_at: Some(now),
                attempts: Vec::new(),
                body: body.into(),
                replayed_at: None,
            };
            let due = deliveries::Due {
                endpoint_id: view.endpoint_id.clone(),
                shop_id: shop.clone(),
                webhook_id,
                at: now,
            };
            table
                .transact(vec![deliveries::put(&d, None), deliveries::put_due(&due)])
                .await
                .expect("a delivery written");
        }
        ids.push(view.endpoint_id);
    }

    let total = endpoints * per_endpoint;
    let clock: aftersales::app::Clock = Arc::new(chrono::Utc::now);
    let started = Instant::now();
    let mut sweeps = 0;
    loop {
        let swept = sender::sweep(table.clone(), clock.clone(), None, Duration::from_secs(600))
            .await
            .expect("a sweep");
        sweeps += 1;
        if swept.attempted == 0 {
            break;
        }
    }
    let elapsed = started.elapsed();

    let mut delivered = 0;
    for id in &ids {
        delivered += deliveries::all_of_endpoint(&*table, id)
            .await
            .expect("the deliveries")
            .iter()
            .filter(|(d, _)| d.state == DeliveryState::Delivered)
            .count();
    }
    let got = received.load(Ordering::Relaxed);
    println!(
        "{total} deliveries to {endpoints} endpoints in {:.2} s ({sweeps} sweeps): {:.0} deliveries/s; \
         received {got}, recorded delivered {delivered}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(got, total, "every delivery received once");
    assert_eq!(delivered, total, "every delivery recorded delivered");
}
