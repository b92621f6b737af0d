//! Every window of the policy, over HTTP, one second either side of its
//! end: a 24-hour window closes at exactly 24 h (not at 24 h 59 min, as
//! whole hours rounded down used to make it).
//!
//! - the fresh-produce claim window after delivery (the default rules
//!   reject spoilage reported after it);
//! - the no-reason return window after delivery (the default rules approve
//!   a small refund inside it);
//! - the days-since-shipment condition of the default rules (a return asked
//!   more than 7 days after shipment goes to a person);
//! - the review deadline (the sweep escalates a claim past it).

use aftersales_tests::http::{sample_order, spawn_app_at, TestApp, TestClock};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

const DELIVERED: &str = "2026-11-22T10:00:00Z";

fn at(base: &str, offset: Duration) -> String {
    let t: DateTime<Utc> = base.parse().unwrap();
    (t + offset).to_rfc3339()
}

async fn app_at(now: &str) -> (TestApp, TestClock) {
    let clock = TestClock::at(now);
    let table = Arc::new(aftersales_tests::sqlite_table());
    (spawn_app_at(table, &clock).await, clock)
}

fn delivered_order(kind: &str) -> Value {
    let mut o = sample_order("alice");
    o["lines"][0]["kind"] = json!(kind);
    o["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-11-21T09:00:00Z",
                             "delivered_at": DELIVERED});
    o
}

async fn file(app: &TestApp, body: Value) -> Value {
    let v = app.file_claim("alice", &body).await;
    app.drain().await;
    app.claim_of("alice", v["claim_id"].as_str().unwrap()).await
}

#[tokio::test]
async fn the_fresh_produce_window_closes_at_exactly_24_hours() {
    for (offset, late) in [
        (Duration::hours(24) - Duration::seconds(1), false),
        (Duration::hours(24) + Duration::seconds(1), true),
    ] {
        let (app, _) = app_at(&at(DELIVERED, offset)).await;
        app.push_order("o-fresh", &delivered_order("fresh")).await;
        let c = file(
            &app,
            json!({"shop_id": "shop-1", "order_id": "o-fresh", "type": "special_claim",
                   "kind": "fresh_spoilage", "reason": "spoiled",
                   "lines": [{"line_id": "L1", "quantity": 1}]}),
        )
        .await;
        let rejected_late =
            c["status"] == "rejected" && c.to_string().contains("fresh_window_passed");
        assert_eq!(rejected_late, late, "at delivery + {offset}: {c}");
        if !late {
            assert_eq!(c["status"], "awaiting_evidence", "inside the window: {c}");
        }
    }
}

#[tokio::test]
async fn the_no_reason_return_window_closes_at_exactly_7_days() {
    for (offset, inside) in [
        (Duration::days(7) - Duration::seconds(1), true),
        (Duration::days(7), true),
        (Duration::days(7) + Duration::seconds(1), false),
    ] {
        let (app, _) = app_at(&at(DELIVERED, offset)).await;
        app.push_order("o-1", &delivered_order("physical")).await;
        // 20.00 of the mug: a small refund, approved inside the window.
        let c = file(
            &app,
            json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                   "reason": "no_longer_wanted", "amount": "20.00",
                   "lines": [{"line_id": "L2", "quantity": 1}]}),
        )
        .await;
        let approved = c["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "approved");
        assert_eq!(approved, inside, "at delivery + {offset}: {c}");
        if !inside {
            assert_eq!(c["status"], "under_review", "{c}");
        }
    }
}

#[tokio::test]
async fn days_since_shipment_counts_to_the_second() {
    const SHIPPED: &str = "2026-11-21T09:00:00Z";
    for (offset, manual) in [
        (Duration::days(7), false),
        (Duration::days(7) + Duration::seconds(1), true),
    ] {
        let (app, _) = app_at(&at(SHIPPED, offset)).await;
        let mut o = sample_order("alice");
        o["fulfilment"] = json!({"state": "shipped", "shipped_at": SHIPPED});
        app.push_order("o-1", &o).await;
        let c = file(
            &app,
            json!({"shop_id": "shop-1", "order_id": "o-1", "type": "return_refund",
                   "reason": "wrong_size", "amount": "20.00",
                   "lines": [{"line_id": "L2", "quantity": 1}]}),
        )
        .await;
        let late_rule = c.to_string().contains("late-return-manual");
        assert_eq!(late_rule, manual, "at shipment + {offset}: {c}");
    }
}

#[tokio::test]
async fn a_review_deadline_passes_at_the_second_it_is_due() {
    let (app, clock) = app_at("2026-11-23T10:00:00Z").await;
    app.push_order("o-1", &sample_order("alice")).await;
    // A large return waits for a person.
    let c = file(
        &app,
        json!({"shop_id": "shop-1", "order_id": "o-1", "type": "return_refund",
               "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 2}]}),
    )
    .await;
    assert_eq!(c["status"], "under_review", "{c}");
    let id = c["claim_id"].as_str().unwrap();
    let staff = app.staff("st-1", "shop-1", &[aftersales::auth::StaffRole::Reviewer]);
    let (_, d) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/desk/claims/{id}"),
            Some(&staff),
            None,
            &[],
        )
        .await;
    let due: DateTime<Utc> = d["due_at"]
        .as_str()
        .or(d["review"]["due_at"].as_str())
        .unwrap_or_else(|| panic!("a deadline: {d}"))
        .parse()
        .unwrap();
    let now: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    let to_due = (due - now).num_seconds();
    assert!(to_due > 1, "{d}");
    clock.advance_seconds(to_due - 1);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 0, "one second before the deadline");
    clock.advance_seconds(2);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 1, "one second after the deadline");
}
