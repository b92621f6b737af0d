//! Cross-border orders over HTTP on both engines: duties, taxes and
//! international shipping come in with the order and ride on its
//! cross-border line; a `cross_border_customs` claim shows what it gives
//! back in parts (adding up to what the units paid) and waits with staff
//! while no clearance outcome is confirmed; a customs claim on a line or an
//! order that is not cross-border is refused and nothing is reserved.

use aftersales::auth::StaffRole;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};

const NOW: &str = "2026-11-10T10:00:00Z";

fn xb_order() -> Value {
    json!({
        "customer_id": "alice", "currency": "CNY", "language": "en",
        "placed_at": "2026-11-01T08:00:00Z",
        "lines": [
            {"line_id": "L1", "sku": "SERUM-1", "title": "Serum", "kind": "cross_border",
             "quantity": 2, "unit_price": "150.00"},
            {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": 1, "unit_price": "20.00"}
        ],
        "cross_border": {"declaration_no": "DEC2026110100014444", "duties": "12.00",
                         "taxes": "27.30", "international_shipping": "40.00"},
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000201",
                      "amount": "399.30", "paid_at": "2026-11-01T08:01:00Z"}],
        "fulfilment": {"state": "shipped", "shipped_at": "2026-11-02T08:00:00Z"}
    })
}

async fn file(app: &TestApp, order: &str, line: &str, quantity: u32) -> (u16, Value) {
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer("alice")),
        Some(
            &json!({"shop_id": "shop-1", "order_id": order, "type": "special_claim",
                     "kind": "cross_border_customs", "reason": "not_received",
                     "lines": [{"line_id": line, "quantity": quantity}]}),
        ),
        &[],
    )
    .await
}

async fn units_free(app: &TestApp, order: &str, line: usize) -> Value {
    let (s, o) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/orders/{order}"),
            Some(&app.staff("rita", "shop-1", &[StaffRole::Reviewer])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{o}");
    o["lines_refundable"][line]["units_free"].clone()
}

async fn customs_claim_shows_its_parts_and_waits(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-xb", &xb_order()).await;
    let (s, c) = file(&app, "o-xb", "L1", 2).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    let due = &c["cross_border"]["due_back"];
    let parts: Vec<i64> = ["goods", "duties", "taxes", "international_shipping"]
        .iter()
        .map(|k| minor_units(&due[*k]))
        .collect();
    // The serum line alone carries the charges: 300.00 + 12.00 + 27.30 + 40.00.
    assert_eq!(parts, [30_000, 1_200, 2_730, 4_000], "{c}");
    assert_eq!(minor_units(&due["total"]), 37_930);
    assert_eq!(minor_units(&c["requested_amount"]), 37_930);
    for _ in 0..3 {
        app.drain().await;
    }
    // No clearance outcome confirmed: with staff, no money moved.
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "under_review", "{c}");
    assert_eq!(app.claim_refunds(&id).await.len(), 0);
    // The units (and their duties) are held: a second claim gets nothing.
    let (s, e) = file(&app, "o-xb", "L1", 1).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("quantity_unavailable")),
        "{e}"
    );
}

async fn customs_claims_out_of_place_are_refused(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-xb", &xb_order()).await;
    let (s, e) = file(&app, "o-xb", "L2", 1).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("not_cross_border")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("lines[0].line_id"),
        "names the field: {e}"
    );
    assert_eq!(units_free(&app, "o-xb", 1).await, 1, "nothing reserved");
    app.push_order("o-plain", &aftersales_tests::http::sample_order("alice"))
        .await;
    let (s, e) = file(&app, "o-plain", "L1", 1).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("no_cross_border_charges")),
        "{e}"
    );
    // Charges on an order without a cross-border line: refused, naming it.
    let mut bad = xb_order();
    bad["lines"][0]["kind"] = json!("physical");
    let (s, e) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-bad",
            Some(&app.storefront("shop-1")),
            Some(&bad),
            &[],
        )
        .await;
    assert!((400..500).contains(&s), "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cross_border"),
        "{e}"
    );
}

aftersales_tests::on_both_engines!(
    customs_claim_shows_its_parts_and_waits,
    customs_claims_out_of_place_are_refused,
);
