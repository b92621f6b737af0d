//! Win-back over HTTP, on both engines (seed: 售后用户挽回): when a claim
//! ends in an outcome the shop chose, the shop's coupon ("10 CNY, no
//! threshold, 7 days") is issued to the customer once (however often the
//! event comes), as an event for the marketing system and readable by the
//! customer; a high-value customer's first claim puts a call-back task in
//! the staff queue, with its deadline and, once recorded, its outcome.

use aftersales::app::dispatch::{deliver, Consumer};
use aftersales::auth::StaffRole;
use aftersales::domain::claim::ClaimStep;
use aftersales::domain::events::{EventType, OutboxEvent};
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, sample_order, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";

/// Paid, not shipped: the default rules approve a refund-only claim at once.
fn unshipped(customer: &str, stats: Value) -> Value {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "paid_unshipped"});
    o["customer_stats"] = stats;
    o
}

async fn with_coupon_policy(app: &TestApp) {
    let (s, mut policy) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    assert_eq!(s, 200);
    policy["winback"]["coupon"] = json!({"value": 1000, "threshold": 0, "valid_days": 7});
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/policy",
            Some(&admin),
            Some(&policy),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn file(app: &TestApp, customer: &str, order: &str) -> String {
    let c = app
        .file_claim(
            customer,
            &json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                    "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}),
        )
        .await;
    c["claim_id"].as_str().unwrap().to_owned()
}

async fn pending(app: &TestApp, t: &str) -> Vec<Value> {
    aftersales::repo::outbox::pending(&*app.table, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == t)
        .map(|e| e.payload)
        .collect()
}

async fn coupon_once_after_a_finished_claim(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    with_coupon_policy(&app).await;
    app.push_order("o-1", &unshipped("alice", json!(null)))
        .await;
    let id = file(&app, "alice", "o-1").await;
    // Rules approve, the refund goes out and arrives: the claim completes.
    for _ in 0..3 {
        app.drain().await;
    }
    let claim = app.claim_of("alice", &id).await;
    assert_eq!(claim["status"], "completed", "{claim}");
    let alice = app.customer("alice");
    let (s, v) = app
        .call("GET", "/v1/shops/shop-1/coupons", Some(&alice), None, &[])
        .await;
    assert_eq!(s, 200, "{v}");
    let coupons = v["coupons"].as_array().unwrap();
    assert_eq!(coupons.len(), 1, "{v}");
    assert_eq!(coupons[0]["claim_id"], json!(id));
    assert_eq!(minor_units(&coupons[0]["value"]), 1000);
    assert_eq!(minor_units(&coupons[0]["threshold"]), 0);
    assert_eq!(coupons[0]["outcome"], "completed");
    assert_eq!(coupons[0]["expired"], false);
    let issued =
        chrono::DateTime::parse_from_rfc3339(coupons[0]["issued_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(coupons[0]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - issued, chrono::Duration::days(7));

    // The same news again (a stream redelivers): still one coupon, one event.
    let again = OutboxEvent::new(
        &"shop-1".into(),
        &id,
        EventType::Claim(ClaimStep::Completed),
        json!({"event": "completed"}),
        chrono::Utc::now(),
    );
    deliver(&app.services, Consumer::Notifications, &again)
        .await
        .unwrap();
    deliver(&app.services, Consumer::Notifications, &again)
        .await
        .unwrap();
    let (_, v) = app
        .call("GET", "/v1/shops/shop-1/coupons", Some(&alice), None, &[])
        .await;
    assert_eq!(v["coupons"].as_array().unwrap().len(), 1, "{v}");

    // Expired after seven days, as the customer reads it.
    clock.advance_hours(7 * 24);
    let (_, v) = app
        .call("GET", "/v1/shops/shop-1/coupons", Some(&alice), None, &[])
        .await;
    assert_eq!(v["coupons"][0]["expired"], true);

    // Staff read it; another customer may not.
    let staff = app.staff("rita", "shop-1", &[StaffRole::Reviewer]);
    let (s, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/coupons?customer_id=alice",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!((s, v["coupons"].as_array().unwrap().len()), (200, 1));
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/coupons?customer_id=alice",
            Some(&app.customer("mallory")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);
}

async fn a_coupon_goes_out_as_an_event_for_chosen_outcomes_only(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    with_coupon_policy(&app).await;
    app.push_order("o-1", &unshipped("alice", json!(null)))
        .await;
    let id = file(&app, "alice", "o-1").await;
    // One event at a time, watching the outbox: the coupon event is
    // written once, when the claim completed.
    let mut seen: std::collections::BTreeMap<String, Value> = Default::default();
    loop {
        for e in aftersales::repo::outbox::pending(&*app.table, 1000)
            .await
            .unwrap()
        {
            if e.event_type == "coupon.issued" {
                seen.insert(e.event_id, e.payload);
            }
        }
        let n = aftersales::app::dispatch::drain_outbox(&app.services, 1)
            .await
            .unwrap();
        if n == 0 {
            break;
        }
    }
    let seen: Vec<Value> = seen.into_values().collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["claim_id"], json!(id));
    assert_eq!(seen[0]["customer_id"], "alice");
    // A cancelled claim is not an outcome this shop chose.
    app.push_order("o-2", &sample_order("bob")).await;
    let bobs = file(&app, "bob", "o-2").await;
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{bobs}/cancel"),
            Some(&app.customer("bob")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.drain().await;
    let (_, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/coupons",
            Some(&app.customer("bob")),
            None,
            &[],
        )
        .await;
    assert_eq!(v["coupons"], json!([]));
}

async fn a_valued_customers_first_claim_gets_a_call_back(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let staff = app.staff("rita", "shop-1", &[StaffRole::Reviewer]);
    let valued = json!({"paid_orders": 8, "total_spent": "1500.00"});
    app.push_order("o-1", &unshipped("alice", valued.clone()))
        .await;
    app.push_order("o-2", &unshipped("alice", valued)).await;
    app.push_order(
        "o-3",
        &unshipped("bob", json!({"paid_orders": 1, "total_spent": "211.00"})),
    )
    .await;
    let first = file(&app, "alice", "o-1").await;
    file(&app, "bob", "o-3").await;
    app.drain().await;
    clock.advance_seconds(60);
    file(&app, "alice", "o-2").await;
    app.drain().await;

    let (s, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/callbacks",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let tasks = v["callbacks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "alice's first claim only: {v}");
    assert_eq!(tasks[0]["claim_id"], json!(first));
    assert_eq!(tasks[0]["paid_orders"], 8);
    assert_eq!(tasks[0]["due_at"], "2026-11-24T10:00:00Z");
    assert_eq!(tasks[0]["overdue"], false);
    assert_eq!(
        pending(&app, "callback.requested").await.len(),
        0,
        "delivered"
    );

    // Past its deadline it shows as overdue; the outcome is recorded once.
    clock.advance_hours(25);
    let (_, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/callbacks",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(v["callbacks"][0]["overdue"], true);
    let path = format!("/v1/shops/shop-1/desk/callbacks/{first}");
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&app.customer("alice")),
            Some(&json!({"outcome": "retained"})),
            &[],
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&staff),
            Some(&json!({"outcome": "retained", "note": "happy"})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "retained");
    assert_eq!(v["done_by"], "rita");
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&staff),
            Some(&json!({"outcome": "no_answer"})),
            &[],
        )
        .await;
    assert_eq!(s, 409, "{v}");
    let (_, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/callbacks",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(v["callbacks"], json!([]), "done");
    let (_, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/callbacks?status=all",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(v["callbacks"][0]["outcome"], "retained");
    let (s, _) = app
        .call(
            "POST",
            "/v1/shops/shop-1/desk/callbacks/clm_nope",
            Some(&staff),
            Some(&json!({"outcome": "retained"})),
            &[],
        )
        .await;
    assert_eq!(s, 404);
}

aftersales_tests::on_both_engines!(
    coupon_once_after_a_finished_claim,
    a_coupon_goes_out_as_an_event_for_chosen_outcomes_only,
    a_valued_customers_first_claim_gets_a_call_back,
);
