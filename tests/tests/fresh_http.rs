//! Fresh produce over HTTP on both engines, with the seed's numbers: a box
//! of 5 jin (2,500 g) of strawberries, 1 jin spoiled → exactly a fifth of
//! what the line paid with its discount and shipping share, to the fen,
//! approved by the default rules without staff inside the window with the
//! policy's two photos; the same claim one second after the window is not
//! approved. Bad lines and weights are refused and nothing is reserved.

use aftersales::domain::fingerprint::sample::jpeg;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};

const NOW: &str = "2026-12-03T10:00:00Z";

/// One box of strawberries (99.99, 10.00 off the line) and a 50.00 bowl,
/// 10.00 shipping: the box paid 89.99 + 6.43 shipping share = 96.42.
fn fresh_order(delivered_at: &str) -> Value {
    json!({
        "customer_id": "alice", "currency": "CNY", "language": "en",
        "placed_at": "2026-12-01T07:00:00Z",
        "lines": [
            {"line_id": "S", "sku": "STRAW-5J", "title": "Strawberries 5 jin", "kind": "fresh",
             "quantity": 1, "unit_price": "99.99", "discount": "10.00", "weight_grams": 2500},
            {"line_id": "P", "sku": "BOWL", "title": "Bowl", "kind": "physical",
             "quantity": 1, "unit_price": "50.00"}],
        "shipping_fee": "10.00",
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000301",
                      "amount": "149.99", "paid_at": "2026-12-01T07:01:00Z"}],
        "fulfilment": {"state": "delivered", "shipped_at": "2026-12-01T12:00:00Z",
                       "delivered_at": delivered_at}
    })
}

async fn file(app: &TestApp, order: &str, lines: Value, evidence: &[String]) -> (u16, Value) {
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer("alice")),
        Some(
            &json!({"shop_id": "shop-1", "order_id": order, "type": "special_claim",
                     "kind": "fresh_spoilage", "reason": "spoiled",
                     "evidence": evidence, "lines": lines}),
        ),
        &[],
    )
    .await
}

async fn photos(app: &TestApp, seed: u32) -> Vec<String> {
    let mut keys = Vec::new();
    for k in 0..2 {
        keys.push(
            app.upload_photo("alice", "shop-1", &jpeg(seed + k, 640, 480, None))
                .await,
        );
    }
    keys
}

fn rule_of(c: &Value, event: &str) -> Option<Value> {
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == event)
        .map(|t| t["actor"]["rule_id"].clone())
}

async fn one_jin_spoiled_is_a_fifth_of_the_line(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    // Delivered 23 h ago: inside the 24 h window.
    app.push_order("o-in", &fresh_order("2026-12-02T11:00:00Z"))
        .await;
    let evidence = photos(&app, 100).await;
    let (s, c) = file(
        &app,
        "o-in",
        json!([{"line_id": "S", "weight_grams": 500}]),
        &evidence,
    )
    .await;
    assert_eq!(s, 201, "{c}");
    // 96.42 / 5 = 19.284 → 19.28.
    assert_eq!(minor_units(&c["requested_amount"]), 1_928, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        app.drain().await;
    }
    let c = app.claim_of("alice", &id).await;
    assert_eq!(
        rule_of(&c, "approved"),
        Some(json!("fresh-spoilage-approve")),
        "no staff: {c}"
    );
    assert_eq!(minor_units(&c["approved_amount"]), 1_928);
    let refunds = app.claim_refunds(&id).await;
    let total: i64 = refunds.iter().map(|r| minor_units(&r["amount"])).sum();
    assert_eq!(total, 1_928, "{refunds:?}");

    // One second after the window: the same claim is not approved.
    app.push_order("o-late", &fresh_order("2026-12-02T09:59:59Z"))
        .await;
    let evidence = photos(&app, 200).await;
    let (s, c) = file(
        &app,
        "o-late",
        json!([{"line_id": "S", "weight_grams": 500}]),
        &evidence,
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        app.drain().await;
    }
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "rejected", "{c}");
    assert_eq!(rule_of(&c, "approved"), None, "{c}");
    assert_eq!(
        rule_of(&c, "rejected"),
        Some(json!("fresh-spoilage-late")),
        "{c}"
    );
}

async fn refundable_s(app: &TestApp, order: &str) -> i64 {
    let (s, o) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/orders/{order}"),
            Some(&app.staff("rita", "shop-1", &[aftersales::auth::StaffRole::Reviewer])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{o}");
    minor_units(&o["refundable"])
}

async fn bad_fresh_claims_are_refused_and_change_nothing(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-bad", &fresh_order("2026-12-02T11:00:00Z"))
        .await;
    let before = refundable_s(&app, "o-bad").await;
    for (lines, code) in [
        (
            json!([{"line_id": "P", "quantity": 1}]),
            "not_fresh_produce",
        ),
        (
            json!([{"line_id": "S", "weight_grams": 2501}]),
            "weight_unavailable",
        ),
        (
            json!([{"line_id": "S", "weight_grams": 0}]),
            "invalid_lines",
        ),
        (
            json!([{"line_id": "S", "weight_grams": 500, "quantity": 1}]),
            "invalid_lines",
        ),
    ] {
        let (s, e) = file(&app, "o-bad", lines.clone(), &[]).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (422, Some(code)),
            "{lines}: {e}"
        );
    }
    for garbage in [json!(-500), json!("half"), json!(1.5)] {
        let (s, e) = file(
            &app,
            "o-bad",
            json!([{"line_id": "S", "weight_grams": garbage}]),
            &[],
        )
        .await;
        assert!((400..500).contains(&s), "{garbage}: {s} {e}");
        assert!(e["error"]["code"].is_string(), "{e}");
    }
    // A weight share is for fresh spoilage only.
    let (s, e) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(
                &json!({"shop_id": "shop-1", "order_id": "o-bad", "type": "refund_only",
                         "reason": "damaged", "lines": [{"line_id": "S", "weight_grams": 500}]}),
            ),
            &[],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("weight_share_not_allowed")),
        "{e}"
    );
    assert_eq!(refundable_s(&app, "o-bad").await, before, "nothing taken");
}

async fn window_messages(app: &TestApp) -> Vec<Value> {
    let (s, inbox) = app
        .call("GET", "/v1/inbox", Some(&app.customer("alice")), None, &[])
        .await;
    assert_eq!(s, 200, "{inbox}");
    inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["event"] == "fresh_window_open")
        .cloned()
        .collect()
}

async fn delivery_tells_the_customer_the_window_once(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    let mut unshipped = fresh_order("2026-12-02T11:00:00Z");
    unshipped["fulfilment"] = json!({"state": "paid_unshipped"});
    app.push_order("o-en", &unshipped).await;
    app.drain().await;
    assert!(window_messages(&app).await.is_empty(), "not delivered yet");
    // Reported delivered, then pushed again with another change.
    app.push_order("o-en", &fresh_order("2026-12-02T11:00:00Z"))
        .await;
    app.drain().await;
    let mut again = fresh_order("2026-12-02T11:00:00Z");
    again["customer_phone"] = json!("13800000000");
    app.push_order("o-en", &again).await;
    app.drain().await;
    let en = window_messages(&app).await;
    assert_eq!(en.len(), 1, "once: {en:?}");
    assert_eq!(en[0]["language"], "en");
    assert!(
        en[0]["body"]
            .as_str()
            .unwrap()
            .contains("report spoiled fruit within 24 hours"),
        "{en:?}"
    );
    let mut zh = fresh_order("2026-12-02T12:00:00Z");
    zh["language"] = json!("zh-CN");
    app.push_order("o-zh", &zh).await;
    app.drain().await;
    let both = window_messages(&app).await;
    assert_eq!(both.len(), 2, "{both:?}");
    let zh = both
        .iter()
        .find(|m| m["language"] == "zh-CN")
        .expect("zh-CN");
    assert!(zh["body"].as_str().unwrap().contains("24 小时内"), "{zh}");
}

aftersales_tests::on_both_engines!(
    delivery_tells_the_customer_the_window_once,
    one_jin_spoiled_is_a_fifth_of_the_line,
    bad_fresh_claims_are_refused_and_change_nothing,
);
