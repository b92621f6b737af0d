//! Member perks over HTTP, on both engines (seed: 会员售后权益): a diamond
//! member's claim is first in the merchant queue (reviewed within 1 hour);
//! when the shop misses that deadline the member gets 20 points, once per
//! claim, readable as a balance and history and sent to the shop's loyalty
//! system as an event; an admin can take a grant back, once; returns ship
//! free for the policy's member tiers and for quality issues; coupons and
//! points used on an order come back with its refunds, never as money.

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

/// Paid, not shipped (the rules refund a claim at once): two shirts and a
/// mug, 206.00 paid after a coupon worth 10.00 and 200 points worth 2.00.
fn order_with_benefits() -> Value {
    json!({
        "customer_id": "dora", "member_tier": "gold", "language": "en", "currency": "CNY",
        "placed_at": "2026-11-23T08:00:00Z",
        "lines": [
            {"line_id": "L1", "sku": "TEE-M", "title": "T-shirt", "kind": "physical",
             "quantity": 2, "unit_price": "99.00", "discount": "10.00"},
            {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": 1, "unit_price": "30.00"}
        ],
        "order_discount": "20.00", "shipping_fee": "8.00",
        "coupons_used": [{"coupon_id": "CPN-7", "value": "10.00"}],
        "points_used": {"points": 200, "value": "2.00"},
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000009",
                      "amount": "206.00", "paid_at": "2026-11-23T08:01:00Z"}],
        "fulfilment": {"state": "paid_unshipped"}
    })
}

/// Drains the outbox one event at a time; the events of `types` seen.
async fn drained_watching(app: &TestApp, types: &[&str]) -> Vec<(String, Value)> {
    let mut seen: std::collections::BTreeMap<String, (String, Value)> = Default::default();
    loop {
        for e in aftersales::repo::outbox::pending(&*app.table, 1000)
            .await
            .unwrap()
        {
            if types.contains(&e.event_type.as_str()) {
                seen.insert(e.event_id, (e.event_type.to_string(), e.payload));
            }
        }
        let n = aftersales::app::dispatch::drain_outbox(&app.services, 1)
            .await
            .unwrap();
        if n == 0 {
            return seen.into_values().collect();
        }
    }
}

async fn coupon_and_points_come_back_with_a_full_refund(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    // Benefits worth more than the discounts are refused.
    let mut bad = order_with_benefits();
    bad["coupons_used"][0]["value"] = json!("29.00");
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-9",
            Some(&app.storefront("shop-1")),
            Some(&bad),
            &[],
        )
        .await;
    assert_eq!(s, 422, "{v}");
    app.push_order("o-1", &order_with_benefits()).await;
    let watched = ["points.returned", "coupon.returned", "coupon.voided"];

    // The mug first: its share of the points, no coupon yet.
    let mug = app
        .file_claim(
            "dora",
            &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                    "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}),
        )
        .await;
    let first = drained_watching(&app, &watched).await;
    let mug = app
        .claim_of("dora", mug["claim_id"].as_str().unwrap())
        .await;
    assert_eq!(mug["status"], "completed", "{mug}");
    let refunded_mug = minor_units(&mug["approved_amount"]);
    let points_mug = 200 * refunded_mug / 20_600;
    let step = mug["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "benefits_returned")
        .cloned()
        .expect("benefits on the claim");
    assert_eq!(step["points"], points_mug, "{step}");
    assert_eq!(step["coupons"], json!([]));
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].0, "points.returned");
    assert_eq!(first[0].1["points"], points_mug);

    // The shirts: the rest of the money, the rest of the points, the coupon.
    let shirts = app
        .file_claim(
            "dora",
            &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                    "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 2}]}),
        )
        .await;
    let second = drained_watching(&app, &watched).await;
    let shirts = app
        .claim_of("dora", shirts["claim_id"].as_str().unwrap())
        .await;
    assert_eq!(shirts["status"], "completed", "{shirts}");
    assert_eq!(
        refunded_mug + minor_units(&shirts["approved_amount"]),
        20_600,
        "money: all of it, no more"
    );
    let step = shirts["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "benefits_returned")
        .cloned()
        .expect("benefits on the claim");
    assert_eq!(step["points"], 200 - points_mug, "{step}");
    assert_eq!(step["coupons"], json!(["CPN-7"]));
    let types: Vec<&str> = second.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types.len(), 2, "{second:?}");
    assert!(types.contains(&"points.returned") && types.contains(&"coupon.returned"));
    let (_, order) = app
        .call(
            "GET",
            "/v1/shops/shop-1/orders/o-1",
            Some(&app.storefront("shop-1")),
            None,
            &[],
        )
        .await;
    assert_eq!(minor_units(&order["refundable"]), 0, "{order}");
}

aftersales_tests::on_both_engines!(
    diamond_first_and_compensated,
    returns_ship_free_for_members_and_quality_issues,
    coupon_and_points_come_back_with_a_full_refund,
);
