//! Pre-sale orders over HTTP on both engines, with the seed's numbers: a
//! 100.00 deposit and a 900.00 balance, nothing shipped 7 days after the
//! balance → 1,100.00 back in all, decided by the default rules without
//! staff: each payment exactly what it paid, the 100.00 beyond them as
//! compensation to the store balance. Asked for before the threshold, or
//! for part of the order, it is refused and nothing changes.

use aftersales::auth::StaffRole;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";

/// Deposit on 10 Nov; the balance on `balance_at`; not shipped.
fn presale_order(customer: &str, balance_at: &str) -> Value {
    json!({
        "customer_id": customer, "currency": "CNY", "language": "en",
        "placed_at": "2026-11-10T08:00:00Z",
        "lines": [{"line_id": "L1", "sku": "AC-1", "title": "Air conditioner", "kind": "pre_sale",
                   "quantity": 1, "unit_price": "1000.00"}],
        "payments": [
            {"payment_id": "DEP", "channel": "wechat_pay", "provider_txn_id": "4200000101",
             "kind": "deposit", "amount": "100.00", "paid_at": "2026-11-10T08:01:00Z"},
            {"payment_id": "BAL", "channel": "wechat_pay", "provider_txn_id": "4200000102",
             "kind": "balance", "amount": "900.00", "paid_at": balance_at}
        ],
        "fulfilment": {"state": "paid_unshipped"}
    })
}

async fn file(app: &TestApp, order: &str, lines: Value) -> (u16, Value) {
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer("alice")),
        Some(
            &json!({"shop_id": "shop-1", "order_id": order, "type": "special_claim",
                     "kind": "pre_sale_compensation", "reason": "late_delivery",
                     "lines": lines}),
        ),
        &[],
    )
    .await
}

async fn units_free(app: &TestApp, order: &str) -> Value {
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
    o["lines_refundable"][0]["units_free"].clone()
}

async fn late_presale_is_compensated_twice_the_deposit(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    // Balance paid 7 days and 1 hour ago.
    app.push_order("o-late", &presale_order("alice", "2026-11-16T09:00:00Z"))
        .await;
    // Balance paid 3 days ago: not due yet.
    app.push_order("o-early", &presale_order("alice", "2026-11-20T09:00:00Z"))
        .await;
    let whole = json!([{"line_id": "L1", "quantity": 1}]);

    let (s, e) = file(&app, "o-early", whole.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("compensation_not_due")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-11-27"),
        "says when: {e}"
    );
    assert_eq!(units_free(&app, "o-early").await, 1, "nothing reserved");

    let (s, c) = file(&app, "o-late", whole).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    assert_eq!(minor_units(&c["requested_amount"]), 100_000);
    assert_eq!(minor_units(&c["compensation"]), 10_000, "{c}");
    for _ in 0..3 {
        app.drain().await;
    }
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    let decided_by = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "approved")
        .map(|t| t["actor"].clone());
    assert_eq!(
        decided_by.as_ref().map(|a| a["rule_id"].clone()),
        Some(json!("presale-compensation")),
        "no staff: {c}"
    );

    let refunds = app.claim_refunds(&id).await;
    let mut by_payment: Vec<(String, String, i64)> = refunds
        .iter()
        .map(|r| {
            (
                r["payment_id"].as_str().unwrap().to_owned(),
                r["channel"].as_str().unwrap().to_owned(),
                minor_units(&r["amount"]),
            )
        })
        .collect();
    by_payment.sort();
    assert_eq!(
        by_payment,
        [
            ("BAL".to_string(), "wechat_pay".to_string(), 90_000),
            ("DEP".to_string(), "wechat_pay".to_string(), 10_000),
            ("compensation".to_string(), "balance".to_string(), 10_000),
        ],
        "{refunds:?}"
    );
    let total: i64 = by_payment.iter().map(|(_, _, m)| m).sum();
    assert_eq!(total, 110_000, "1,100.00 back in all");
    assert!(
        refunds.iter().all(|r| r["status"] == "succeeded"),
        "{refunds:?}"
    );

    // The compensation is on the customer's store balance.
    let (s, b) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance",
            Some(&app.customer("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(minor_units(&b["available"][0]), 10_000, "{b}");

    // Asked again: nothing is left to give.
    let (s, e) = file(&app, "o-late", json!([{"line_id": "L1", "quantity": 1}])).await;
    assert!((400..500).contains(&s), "{e}");
    assert_eq!(app.claim_refunds(&id).await.len(), 3);
}

/// Compensation is for the whole order; an ordinary order has none.
async fn compensation_claims_out_of_place_are_refused(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    let mut two = presale_order("alice", "2026-11-10T09:00:00Z");
    two["lines"][0]["quantity"] = json!(2);
    two["lines"][0]["unit_price"] = json!("500.00");
    app.push_order("o-two", &two).await;
    let (s, e) = file(&app, "o-two", json!([{"line_id": "L1", "quantity": 1}])).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("whole_order_required")),
        "{e}"
    );
    assert_eq!(units_free(&app, "o-two").await, 2);
    app.push_order("o-plain", &aftersales_tests::http::sample_order("alice"))
        .await;
    let (s, e) = file(&app, "o-plain", json!([{"line_id": "L1", "quantity": 2}])).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("not_a_pre_sale")),
        "{e}"
    );
}

aftersales_tests::on_both_engines!(
    late_presale_is_compensated_twice_the_deposit,
    compensation_claims_out_of_place_are_refused,
);
