//! The service figures for a day of claims, on both engines: the report API
//! (time to decision, share decided automatically, time to the money, the
//! dispute figures) and the metrics recorded as the events happen (what the
//! notifications function sends to CloudWatch as EMF).

use aftersales::app::Services;
use aftersales::auth::StaffRole;
use aftersales::ports::{Metric, MetricsSink};
use aftersales_tests::engine_table;
use aftersales_tests::http::{sample_order, spawn_app_with, TestApp, TestClock};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const NOW: &str = "2026-11-23T10:00:00Z";

/// The metrics recorded, as (shop, name, value).
#[derive(Default)]
struct Captured(Mutex<Vec<(String, &'static str, f64)>>);

impl MetricsSink for Captured {
    fn record(&self, shop_id: &str, _: chrono::DateTime<chrono::Utc>, metrics: &[Metric]) {
        let mut all = self.0.lock().unwrap();
        for m in metrics {
            all.push((shop_id.to_owned(), m.name, m.value));
        }
    }
}

impl Captured {
    fn values(&self, name: &str) -> Vec<f64> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, n, _)| *n == name)
            .map(|(_, _, v)| *v)
            .collect()
    }
}

async fn file(app: &TestApp, customer: &str, order: &str) -> String {
    let c = app
        .file_claim(
            customer,
            &json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                    "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 2}]}),
        )
        .await;
    c["claim_id"].as_str().unwrap().to_owned()
}

async fn a_days_figures(engine: &str) {
    let clock = TestClock::at(NOW);
    let captured = Arc::new(Captured::default());
    let mut services = Services::new(engine_table(engine).await);
    services.clock = clock.clock();
    services.metrics = captured.clone();
    let app = spawn_app_with(services).await;
    let staff = app.staff("rita", "shop-1", &[StaffRole::Reviewer]);
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);

    // 1. Paid, not shipped: the rules approve it at once, the money arrives.
    let mut unshipped = sample_order("ann");
    unshipped["fulfilment"] = json!({"state": "paid_unshipped"});
    app.push_order("o-1", &unshipped).await;
    file(&app, "ann", "o-1").await;
    for _ in 0..3 {
        app.drain().await;
    }
    // 2. Shipped: staff decide it two hours later, for less; disputed and
    //    settled with 5.00 half an hour after that.
    app.push_order("o-2", &sample_order("bea")).await;
    let second = file(&app, "bea", "o-2").await;
    app.drain().await;
    clock.advance_hours(2);
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{second}/decision"),
            Some(&staff),
            Some(&json!({"decision": "approve", "amount": "100.00", "reason": "worn"})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.drain().await;
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{second}/dispute"),
            Some(&app.customer("bea")),
            Some(&json!({"grounds": "amount_disputed", "text": "Not worn.",
                         "wished": {"kind": "supplementary_refund", "amount": "5.00"}})),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    clock.advance_seconds(1800);
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{second}/dispute/proposals/1/accept"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.drain().await;
    // 3. Still waiting.
    app.push_order("o-3", &sample_order("cat")).await;
    file(&app, "cat", "o-3").await;
    app.drain().await;

    let (s, r) = app
        .call(
            "GET",
            "/v1/shops/shop-1/reports/sla?from=2026-11-23&to=2026-11-24",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let day = &r["days"][0];
    assert_eq!(day["date"], "2026-11-23");
    assert_eq!(day["submitted"], 3, "{day}");
    assert_eq!(day["decided"], 2);
    assert_eq!(day["decided_automatically"], 1);
    assert_eq!(day["automatic_share"], 0.5);
    // Nearest rank of [0 s, 7200 s]: the rule decided at once.
    assert_eq!(day["seconds_to_decision_p50"], 0.0);
    assert_eq!(day["seconds_to_decision_p90"], 7200.0);
    assert_eq!(day["refunded"], 2, "both decided claims have their money");
    assert_eq!(r["days"][1]["submitted"], 0);
    assert_eq!(r["disputes"][0]["opened"], 1);
    assert_eq!(r["disputes"][0]["resolved"], 1);
    assert_eq!(r["disputes"][0]["resolution_rate"], 1.0);
    assert_eq!(r["disputes"][0]["median_seconds_to_resolution"], 1800);

    // The same figures went out as metrics when they happened.
    assert_eq!(captured.values("ClaimsSubmitted").len(), 3);
    assert_eq!(captured.values("DecidedAutomatically"), [1.0, 0.0]);
    assert_eq!(captured.values("TimeToDecision"), [0.0, 7200.0]);
    assert_eq!(captured.values("TimeToRefund").len(), 2);
    assert_eq!(captured.values("DisputesResolved"), [1.0]);
    assert_eq!(captured.values("TimeToDisputeResolution"), [1800.0]);

    // Staff of the shop only; a bounded range.
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/reports/sla?from=2026-11-23&to=2026-11-24",
            Some(&app.customer("ann")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);
    let (s, v): (u16, Value) = app
        .call(
            "GET",
            "/v1/shops/shop-1/reports/sla?from=2026-11-24&to=2026-11-23",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 422, "{v}");
}

#[tokio::test]
async fn a_days_figures_on_sqlite() {
    a_days_figures("sqlite").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_days_figures_on_dynamodb() {
    a_days_figures("dynamodb").await
}
