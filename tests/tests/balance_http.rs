//! The store balance as money to spend, over HTTP on both engines: a refund
//! credits it, the storefront debits it at checkout (idempotent by its key,
//! never below zero even with two debits at once, lapsed credits honoured),
//! and balance paid on an order goes back to the balance when refunded.

use aftersales::auth::StaffRole;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, sample_order, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";

async fn available(app: &TestApp, customer: &str) -> i64 {
    let (s, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance",
            Some(&app.customer(customer)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["available"]
        .as_array()
        .unwrap()
        .iter()
        .map(minor_units)
        .sum()
}

/// A refund-only claim on the unshipped mug, refunded to the store balance
/// (the rules approve it at once): the credit's amount.
async fn credit_by_refund(app: &TestApp, customer: &str, order: &str) -> i64 {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "paid_unshipped"});
    app.push_order(order, &o).await;
    let c = app
        .file_claim(
            customer,
            &json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                    "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}],
                    "refund_to": {"route": "store_balance"}}),
        )
        .await;
    for _ in 0..3 {
        app.drain().await;
    }
    let c = app
        .claim_of(customer, c["claim_id"].as_str().unwrap())
        .await;
    assert_eq!(c["status"], "completed", "{c}");
    minor_units(&c["approved_amount"])
}

async fn debit(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    app.call(
        "POST",
        "/v1/shops/shop-1/balance/debits",
        Some(token),
        Some(body),
        &headers,
    )
    .await
}

fn yuan(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

async fn debit_and_refund_back(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let sf = app.storefront("shop-1");
    let credit = credit_by_refund(&app, "alice", "o-1").await;
    assert!(credit > 1_200, "{credit}");
    assert_eq!(available(&app, "alice").await, credit);

    // The storefront takes 12.00 at checkout of o-2.
    let body =
        json!({"customer_id": "alice", "order_id": "o-2", "amount": "12.00", "currency": "CNY"});
    let (s, v) = debit(&app, &sf, None, &body).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (422, json!("idempotency_key_required")),
        "{v}"
    );
    let (s, v) = debit(&app, &app.customer("alice"), Some("k-1"), &body).await;
    assert_eq!(s, 403, "customers do not debit themselves: {v}");
    let (s, v) = debit(&app, &app.storefront("shop-2"), Some("k-1"), &body).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = debit(&app, &sf, Some("k-1"), &body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(minor_units(&v["amount"]), 1_200);
    assert_eq!(minor_units(&v["available"]), credit - 1_200);
    // Again with the same key: the same debit, nothing more taken.
    let (s, again) = debit(&app, &sf, Some("k-1"), &body).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["debit_id"], v["debit_id"]);
    let mut other = body.clone();
    other["amount"] = json!("13.00");
    let (s, e) = debit(&app, &sf, Some("k-1"), &other).await;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (409, json!("idempotency_key_reused"))
    );
    assert_eq!(available(&app, "alice").await, credit - 1_200);

    // Never below zero.
    let mut too_much = body.clone();
    too_much["amount"] = json!(yuan(credit - 1_200 + 1));
    let (s, e) = debit(&app, &sf, Some("k-2"), &too_much).await;
    assert_eq!(
        (s, e["error"]["code"].clone()),
        (422, json!("insufficient_balance")),
        "{e}"
    );
    for bad in ["0", "-1", "1.001"] {
        let mut b = body.clone();
        b["amount"] = json!(bad);
        let (s, e) = debit(&app, &sf, Some("k-3"), &b).await;
        assert!(s == 400 || s == 422, "{bad}: {s} {e}");
    }
    assert_eq!(available(&app, "alice").await, credit - 1_200);

    // Balance paid on an order goes back to the balance when refunded.
    app.push_order(
        "o-2",
        &json!({"customer_id": "alice", "currency": "CNY", "placed_at": "2026-11-23T10:00:00Z",
                "lines": [{"line_id": "L1", "sku": "CAP", "title": "Cap", "kind": "physical",
                           "quantity": 1, "unit_price": "12.00"}],
                "payments": [{"payment_id": "P1", "channel": "balance", "provider_txn_id": "k-1",
                              "amount": "12.00", "paid_at": "2026-11-23T10:00:00Z"}],
                "fulfilment": {"state": "paid_unshipped"}}),
    )
    .await;
    let c = app
        .file_claim(
            "alice",
            &json!({"shop_id": "shop-1", "order_id": "o-2", "type": "refund_only",
                    "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]}),
        )
        .await;
    for _ in 0..3 {
        app.drain().await;
    }
    let c = app.claim_of("alice", c["claim_id"].as_str().unwrap()).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(available(&app, "alice").await, credit, "the 12.00 is back");
    let staff = app.staff("rita", "shop-1", &[StaffRole::Reviewer]);
    let (_, v) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance?customer_id=alice",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(v["debits"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["credits"].as_array().unwrap().len(), 2, "{v}");
}

async fn two_debits_at_once_spend_the_money_once(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let sf = app.storefront("shop-1");
    let credit = credit_by_refund(&app, "bob", "o-1").await;
    let all =
        json!({"customer_id": "bob", "order_id": "o-8", "amount": yuan(credit), "currency": "CNY"});
    let (a, b) = tokio::join!(
        debit(&app, &sf, Some("k-a"), &all),
        debit(&app, &sf, Some("k-b"), &all)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [201, 422], "{a:?} {b:?}");
    assert_eq!(available(&app, "bob").await, 0);
}

async fn lapsed_credits_cannot_be_spent(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    let (_, mut policy) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    policy["store_balance_expiry_days"] = json!(30);
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
    let credit = credit_by_refund(&app, "cat", "o-1").await;
    let sf = app.storefront("shop-1");
    let half =
        json!({"customer_id": "cat", "order_id": "o-5", "amount": "10.00", "currency": "CNY"});
    let (s, v) = debit(&app, &sf, Some("k-1"), &half).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(available(&app, "cat").await, credit - 1_000);
    clock.advance_hours(30 * 24 + 1);
    assert_eq!(available(&app, "cat").await, 0, "the rest lapsed");
    let (s, v) = debit(&app, &sf, Some("k-2"), &half).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (422, json!("insufficient_balance"))
    );
}

aftersales_tests::on_both_engines!(
    debit_and_refund_back,
    two_debits_at_once_spend_the_money_once,
    lapsed_credits_cannot_be_spent,
);
