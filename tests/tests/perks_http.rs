//! Member perks over HTTP, on both engines (seed: 会员售后权益): a diamond
//! member's claim is first in the merchant queue (reviewed within 1 hour);
//! when the shop misses that deadline the member gets 20 points, once per
//! claim, readable as a balance and history and sent to the shop's loyalty
//! system as an event; an admin can take a grant back, once; returns ship
//! free for the policy's member tiers and for quality issues.

use aftersales::auth::StaffRole;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, sample_order, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";

fn order_of(customer: &str, tier: &str) -> Value {
    let mut o = sample_order(customer);
    o["member_tier"] = json!(tier);
    o["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-11-20T09:00:00Z",
                             "delivered_at": "2026-11-21T09:00:00Z"});
    o
}

/// Files a claim on both T-shirts that no default rule decides.
async fn file(app: &TestApp, customer: &str, order: &str, ty: &str, reason: &str) -> Value {
    app.file_claim(
        customer,
        &json!({"shop_id": "shop-1", "order_id": order, "type": ty, "reason": reason,
                "lines": [{"line_id": "L1", "quantity": 2}]}),
    )
    .await
}

async fn points_of(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    app.call(
        "GET",
        &format!("/v1/shops/shop-1/points{query}"),
        Some(token),
        None,
        &[],
    )
    .await
}

async fn diamond_first_and_compensated(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let staff = app.staff("rita", "shop-1", &[StaffRole::Reviewer]);
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    app.push_order("o-1", &order_of("bob", "regular")).await;
    app.push_order("o-2", &order_of("alice", "diamond")).await;
    let bobs = file(&app, "bob", "o-1", "refund_only", "wrong_size").await;
    clock.advance_seconds(60);
    let alices = file(&app, "alice", "o-2", "refund_only", "wrong_size").await;
    app.drain().await;

    // Filed later, reviewed first: the diamond member's deadline is 1 hour.
    let (s, q) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{q}");
    let ids: Vec<&Value> = q["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["claim_id"])
        .collect();
    assert_eq!(ids, [&alices["claim_id"], &bobs["claim_id"]], "{q}");
    assert_eq!(q["claims"][0]["member_tier"], "diamond");

    // Nothing before the deadline passes.
    let alice = app.customer("alice");
    let (s, p) = points_of(&app, &alice, "").await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["balance"], 0);

    // The shop misses it: escalated, and 20 points for the member.
    clock.advance_hours(2);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 1, "only alice's deadline passed");
    let granted: Vec<Value> = aftersales::repo::outbox::pending(&*app.table, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "points.granted")
        .map(|e| e.payload)
        .collect();
    assert_eq!(
        granted.len(),
        1,
        "one event for the loyalty system: {granted:?}"
    );
    assert_eq!(granted[0]["customer_id"], "alice");
    assert_eq!(granted[0]["points"], 20);
    aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    app.drain().await;
    let (_, p) = points_of(&app, &alice, "").await;
    assert_eq!(p["balance"], 20, "once per claim: {p}");
    assert_eq!(p["entries"][0]["reason"], "late_review");
    assert_eq!(p["entries"][0]["claim_id"], alices["claim_id"]);

    // Bob's deadline (48 hours for a regular customer) passes too: no points.
    clock.advance_hours(48);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 1);
    let (_, p) = points_of(&app, &app.customer("bob"), "").await;
    assert_eq!(p["balance"], 0, "{p}");

    // Tenancy: a customer sees their own points; staff name the customer.
    let (s, _) = points_of(&app, &app.customer("bob"), "?customer_id=alice").await;
    assert_eq!(s, 403);
    let (s, p) = points_of(&app, &staff, "?customer_id=alice").await;
    assert_eq!((s, p["balance"].clone()), (200, json!(20)));
    let other = app.staff("eve", "shop-2", &[StaffRole::Admin]);
    let (s, _) = points_of(&app, &other, "?customer_id=alice").await;
    assert_eq!(s, 403);

    // An admin takes the grant back, once; a reviewer may not.
    let entry = p["entries"][0]["entry_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/shops/shop-1/points/{entry}/reverse");
    let body = json!({"customer_id": "alice", "note": "compensated by phone instead"});
    let (s, _) = app
        .call("POST", &path, Some(&staff), Some(&body), &[])
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .call("POST", &path, Some(&admin), Some(&body), &[])
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["balance"], 0);
    let (s, v) = app
        .call("POST", &path, Some(&admin), Some(&body), &[])
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "already_reversed");
    let (_, p) = points_of(&app, &alice, "").await;
    assert_eq!(p["entries"].as_array().unwrap().len(), 2);
    assert_eq!(p["entries"][1]["points"], -20);
}

async fn returns_ship_free_for_members_and_quality_issues(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    app.push_order("o-1", &order_of("bob", "regular")).await;
    app.push_order("o-2", &order_of("alice", "platinum")).await;
    app.push_order("o-3", &order_of("carol", "regular")).await;
    let terms = |c: &Value| c["returns"]["terms"].clone();
    // A regular customer's change of mind: the customer pays the parcel.
    let c = file(&app, "bob", "o-1", "return_refund", "wrong_size").await;
    assert_eq!(terms(&c)["shipping_payer"], "customer", "{c}");
    assert_eq!(minor_units(&terms(&c)["shipping_refund"]), 0);
    // A platinum member's: free, the shop pays the 12.00 allowance.
    let c = file(&app, "alice", "o-2", "return_refund", "wrong_size").await;
    assert_eq!(terms(&c)["shipping_payer"], "member_perk", "{c}");
    assert_eq!(minor_units(&terms(&c)["shipping_refund"]), 1200);
    // A quality issue: the shop's fault, whatever the tier.
    let c = file(&app, "carol", "o-3", "return_refund", "defective").await;
    assert_eq!(terms(&c)["shipping_payer"], "shop", "{c}");
    assert_eq!(minor_units(&terms(&c)["shipping_refund"]), 1200);
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() { super::$name("sqlite").await })*
        }
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name("dynamodb").await })*
        }
    };
}

on_both_engines!(
    diamond_first_and_compensated,
    returns_ship_free_for_members_and_quality_issues,
);
