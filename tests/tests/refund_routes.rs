//! Where refund money goes and who starts it, on both engines: the store
//! balance (our own ledger, credited with the refund's success, lapsing by
//! the shop's policy), a bank card the customer confirmed, refunds staff
//! make without a claim (goodwill, price difference, missing item) through
//! the same ledger and executor; and, on the runner's assembly, the sandbox
//! that answers "processing" and posts its own signed notification, so the
//! customer sees "refund sent", then "refund arrived".

use aftersales::auth::StaffRole;
use aftersales::domain::refund::RefundStatus;
use aftersales_tests::engine_table;
use aftersales_tests::http::{
    bind_loopback, minor_units, sample_order, spawn_app_at, spawn_app_on, timeline_events, TestApp,
    TestClock,
};
use serde_json::{json, Value};
use std::sync::Arc;

const NOW: &str = "2026-11-23T10:00:00Z";

/// Paid, not shipped: the default rules approve a refund-only claim.
fn unshipped(customer: &str) -> Value {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "paid_unshipped"});
    o
}

async fn file(app: &TestApp, customer: &str, order: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                          "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer(customer)),
        Some(&body),
        &[],
    )
    .await
}

async fn order_view(app: &TestApp, order: &str) -> Value {
    let (s, o) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/orders/{order}"),
            Some(&app.storefront("shop-1")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{o}");
    o
}

async fn refund(app: &TestApp, id: &str) -> aftersales::domain::refund::Refund {
    aftersales::repo::refunds::get(&*app.table, id)
        .await
        .unwrap()
        .unwrap()
        .0
}

async fn store_balance_is_our_own_ledger(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
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
    app.push_order("o-1", &unshipped("alice")).await;
    let (s, c) = file(
        &app,
        "alice",
        "o-1",
        json!({"refund_to": {"route": "store_balance"}}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["refund_to"]["route"], "store_balance");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    let sent = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "refund_sent")
        .unwrap();
    assert_eq!(sent["channel"], "balance", "{sent}");
    // Instant: expected now.
    assert_eq!(sent["expected_arrival"], NOW, "{sent}");
    // No provider was involved: our ledger is the credit.
    assert_eq!(app.sandbox.total_movements(), 0);
    let rid = aftersales::domain::refund::refund_id_for(&id, 1);
    let r = refund(&app, &rid).await;
    assert_eq!(r.status, RefundStatus::Succeeded);
    assert_eq!(
        r.expires_at.unwrap().to_rfc3339(),
        "2026-12-23T10:00:00+00:00"
    );

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
    assert_eq!(b["available"][0]["amount"].as_str(), Some("88.94"), "{b}");
    assert_eq!(minor_units(&b["available"][0]), r.amount.minor());
    assert_eq!(b["credits"][0]["refund_id"], rid.as_str());
    assert_eq!(b["credits"][0]["expired"], false);
    // Executing it again credits nothing more.
    aftersales::app::refunds::execute(&app.services, &rid)
        .await
        .unwrap();
    let (_, again) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance",
            Some(&app.customer("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(again["available"], b["available"]);
    assert_eq!(again["credits"].as_array().unwrap().len(), 1);

    // Others' balances: not for other customers; for the shop's staff.
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance?customer_id=alice",
            Some(&app.customer("bob")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);
    let (s, seen) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance?customer_id=alice",
            Some(&app.staff("rita", "shop-1", &[StaffRole::Reviewer])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(seen["available"], b["available"]);
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/balance?customer_id=alice",
            Some(&app.staff("eve", "shop-2", &[StaffRole::Admin])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);
}

async fn bank_card_needs_the_customers_confirmation(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &unshipped("alice")).await;
    let card = json!({"route": "bank_card", "bank": "China Merchants Bank", "holder": "Alice",
                      "last4": "0403", "card_token": "tok_alice_1", "confirmed": false});
    let (s, v) = file(&app, "alice", "o-1", json!({ "refund_to": card })).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_refund_route", "{v}");
    let (s, v) = file(
        &app,
        "alice",
        "o-1",
        json!({"refund_to": {"route": "bank_card", "bank": "X", "holder": "A", "last4": "12",
                             "card_token": "t", "confirmed": true}}),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    // Nothing was stored by the refused requests.
    assert_eq!(
        order_view(&app, "o-1").await["lines_refundable"][0]["units_free"],
        2
    );

    let mut confirmed = card.clone();
    confirmed["confirmed"] = json!(true);
    let (s, c) = file(&app, "alice", "o-1", json!({ "refund_to": confirmed })).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    let rid = aftersales::domain::refund::refund_id_for(&id, 1);
    let r = refund(&app, &rid).await;
    assert_eq!(
        r.channel,
        aftersales::domain::order::PaymentChannel::BankCard
    );
    assert_eq!(r.payee.as_ref().unwrap().last4, "0403");
    assert_eq!(app.sandbox.movements(&rid), 1);
    // Staff see the card (masked) on the refund.
    let (_, found) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/refunds?claim_id={id}"),
            Some(&app.staff("fin", "shop-1", &[StaffRole::Finance])),
            None,
            &[],
        )
        .await;
    assert_eq!(found["refunds"][0]["channel"], "bank_card", "{found}");
    assert_eq!(found["refunds"][0]["payee"]["last4"], "0403");
}

async fn merchant_refund(
    app: &TestApp,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    app.call(
        "POST",
        "/v1/shops/shop-1/orders/o-1/refunds",
        Some(token),
        Some(body),
        &headers,
    )
    .await
}

async fn staff_refund_without_a_claim(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
    let before = order_view(&app, "o-1").await;
    let paid = minor_units(&before["refundable"]);

    // Who may, and what must be said.
    let goodwill = json!({"reason": "goodwill", "amount": "10.00", "note": "late delivery"});
    let (s, v) = merchant_refund(
        &app,
        &app.staff("rita", "shop-1", &[StaffRole::Reviewer]),
        Some("k1"),
        &goodwill,
    )
    .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = merchant_refund(&app, &admin, None, &goodwill).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (422, &json!("idempotency_key_required"))
    );
    for bad in [
        json!({"reason": "goodwill", "note": "no amount"}),
        json!({"reason": "goodwill", "amount": "10.00", "note": " "}),
        json!({"reason": "goodwill", "amount": "-1.00", "note": "negative"}),
        json!({"reason": "price_difference", "amount": "5.00", "note": "no line"}),
        json!({"reason": "missing_item", "line_id": "L2", "note": "no quantity"}),
        json!({"reason": "goodwill", "amount": "999.00", "note": "too much"}),
        json!({"reason": "goodwill", "amount": "1.00", "note": "x", "surprise": 1}),
        // A bank card is the customer's to name, never staff's.
        json!({"reason": "goodwill", "amount": "1.00", "note": "x",
               "refund_to": {"route": "bank_card", "bank": "B", "holder": "H", "last4": "1234",
                             "card_token": "tok_staff", "confirmed": true}}),
    ] {
        let (s, v) = merchant_refund(&app, &admin, Some("bad"), &bad).await;
        assert!((400..500).contains(&s), "{bad}: {s} {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    assert_eq!(
        order_view(&app, "o-1").await,
        before,
        "refused requests change nothing"
    );

    // Goodwill: once, however often it is sent.
    let (s, g) = merchant_refund(&app, &admin, Some("k1"), &goodwill).await;
    assert_eq!(s, 201, "{g}");
    let (s, again) = merchant_refund(&app, &admin, Some("k1"), &goodwill).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["merchant_refund_id"], g["merchant_refund_id"]);
    let other = json!({"reason": "goodwill", "amount": "11.00", "note": "late delivery"});
    let (s, v) = merchant_refund(&app, &admin, Some("k1"), &other).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (409, &json!("idempotency_key_reused"))
    );
    app.drain().await;
    let rid = g["refunds"][0]["refund_id"].as_str().unwrap().to_owned();
    assert_eq!(app.sandbox.movements(&rid), 1);
    let r = refund(&app, &rid).await;
    assert_eq!(
        (r.status, r.amount.minor()),
        (RefundStatus::Succeeded, 1000)
    );
    assert_eq!(
        r.history[0].actor,
        aftersales::domain::claim::Actor::Staff { id: "ann".into() }
    );
    let (_, found) = app
        .call(
            "GET",
            "/v1/shops/shop-1/refunds?order_id=o-1",
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(
        found["refunds"][0]["merchant"]["reason"], "goodwill",
        "{found}"
    );
    assert_eq!(found["refunds"][0]["merchant"]["note"], "late delivery");
    assert_eq!(
        minor_units(&order_view(&app, "o-1").await["refundable"]),
        paid - 1000
    );

    // A price drop on the T-shirts: money off line L1, no units.
    let l1_before =
        minor_units(&order_view(&app, "o-1").await["lines_refundable"][0]["refundable"]);
    let (s, p) = merchant_refund(
        &app,
        &admin,
        Some("k2"),
        &json!({"reason": "price_difference", "line_id": "L1", "amount": "20.00",
                "note": "price dropped on 11-24"}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    app.drain().await;
    let o = order_view(&app, "o-1").await;
    assert_eq!(o["lines_refundable"][0]["units_free"], 2, "{o}");
    assert_eq!(
        minor_units(&o["lines_refundable"][0]["refundable"]),
        l1_before - 2000
    );

    // A mug missing from the parcel: its unit is taken, no claim can take it again.
    let (s, m) = merchant_refund(
        &app,
        &admin,
        Some("k3"),
        &json!({"reason": "missing_item", "line_id": "L2", "quantity": 1,
                "note": "mug missing from parcel"}),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    app.drain().await;
    let mut body = json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                          "reason": "missing_parts", "lines": [{"line_id": "L2", "quantity": 1}]});
    let (s, v) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (422, &json!("quantity_unavailable")),
        "{v}"
    );
    // The T-shirt claim can have what is left after the price difference.
    body["lines"] = json!([{"line_id": "L1", "quantity": 2}]);
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(minor_units(&c["requested_amount"]), l1_before - 2000);
}

async fn a_failed_merchant_refund_gives_its_money_back(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
    let before = order_view(&app, "o-1").await;
    // The sandbox declines amounts ending in .13.
    let (s, v) = merchant_refund(
        &app,
        &admin,
        Some("k1"),
        &json!({"reason": "goodwill", "amount": "3.13", "note": "sorry"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_ne!(
        order_view(&app, "o-1").await["refundable"],
        before["refundable"]
    );
    app.drain().await;
    let rid = v["refunds"][0]["refund_id"].as_str().unwrap();
    let r = refund(&app, rid).await;
    assert_eq!(r.status, RefundStatus::Failed);
    assert!(r.failure.unwrap().contains("SANDBOX_DECLINED"));
    assert_eq!(app.sandbox.movements(rid), 0);
    assert_eq!(
        order_view(&app, "o-1").await["refundable"],
        before["refundable"],
        "the money is refundable again"
    );
}

/// The runner's sandbox: "processing" at once, then its own signed
/// notification to our webhook over HTTP. Real clock: the notification is
/// signed now and checked for freshness.
async fn runner_sandbox_notifies_sent_then_arrived(engine: &str) {
    let (listener, base) = bind_loopback().await;
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    let sandbox = aftersales::onebox::with_notifying_sandbox(
        &mut services,
        &base,
        b"runner-test-webhook-secret",
        std::time::Duration::from_millis(50),
    )
    .unwrap();
    let app = spawn_app_on(listener, services).await;
    let mut order = unshipped("alice");
    let now = chrono::Utc::now();
    order["placed_at"] = json!(now - chrono::Duration::hours(1));
    order["payments"][0]["paid_at"] = json!(now - chrono::Duration::hours(1));
    app.push_order("o-1", &order).await;
    let (s, c) = file(&app, "alice", "o-1", json!({})).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    let rid = aftersales::domain::refund::refund_id_for(&id, 1);
    app.drain().await;
    // Sent: the provider accepted it; the customer sees where and by when.
    let c = app.claim_of("alice", &id).await;
    let sent = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "refund_sent")
        .cloned()
        .unwrap();
    assert_eq!(sent["channel"], "wechat_pay");
    assert!(sent["expected_arrival"].is_string(), "{sent}");
    // The sandbox posts its result on its own; wait for it (bounded).
    let mut status = RefundStatus::Pending;
    for _ in 0..200 {
        status = refund(&app, &rid).await.status;
        if status == RefundStatus::Succeeded {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        status,
        RefundStatus::Succeeded,
        "the sandbox's notification arrived"
    );
    let r = refund(&app, &rid).await;
    assert!(
        r.history.iter().any(|h| h.what == "notification"),
        "{:?}",
        r.history
    );
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(
        timeline_events(&c)[timeline_events(&c).len() - 3..],
        ["refund_sent", "refund_arrived", "refund_succeeded"]
    );
    let arrived = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "refund_arrived")
        .unwrap();
    assert_eq!(arrived["channel"], "wechat_pay");
    assert_eq!(arrived["received_account"], "sandbox account");
    assert_eq!(sandbox.movements(&rid), 1);
}

async fn staff_find_refunds_by_the_customers_phone(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    let mut order = sample_order("alice");
    order["customer_phone"] = json!("138-0013-8000");
    app.push_order("o-1", &order).await;
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
    let (s, v) = merchant_refund(
        &app,
        &admin,
        Some("k1"),
        &json!({"reason": "goodwill", "amount": "5.00", "note": "late"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let search = |q: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.call(
                "GET",
                &format!("/v1/shops/shop-1/refunds?customer_phone={q}"),
                Some(&admin),
                None,
                &[],
            )
            .await
        }
    };
    let (s, found) = search("%2B86%20138%200013%208000").await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["refunds"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["refunds"][0]["order_id"], "o-1");
    let (_, none) = search("13800138001").await;
    assert_eq!(none["refunds"].as_array().unwrap().len(), 0, "{none}");
    let (s, v) = search("12").await;
    assert_eq!((s, &v["error"]["code"]), (422, &json!("invalid_phone")));
}

/// A declined refund leaves the claim in refund_failed; admin or finance
/// staff send it again (a new out-refund number), here to the store
/// balance, and the claim completes.
async fn failed_refunds_are_sent_again(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &unshipped("alice")).await;
    // The sandbox declines amounts ending in .13.
    let (s, c) = file(&app, "alice", "o-1", json!({"amount": "50.13"})).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "refund_failed", "{c}");
    let old = aftersales::domain::refund::refund_id_for(&id, 1);
    let retry = |token: String, body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.call(
                "POST",
                &format!("/v1/shops/shop-1/desk/claims/{id}/refund-retry"),
                Some(&token),
                Some(&body),
                &[],
            )
            .await
        }
    };
    let (s, _) = retry(
        app.staff("rita", "shop-1", &[StaffRole::Reviewer]),
        json!({}),
    )
    .await;
    assert_eq!(s, 403);
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
    let (s, v) = retry(
        admin.clone(),
        json!({"refund_to": {"route": "bank_card", "bank": "B", "holder": "H", "last4": "1234",
                             "card_token": "t", "confirmed": true}}),
    )
    .await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (422, &json!("invalid_refund_route"))
    );
    let (s, c) = retry(
        admin.clone(),
        json!({"refund_to": {"route": "store_balance"}}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "refunding");
    let resent = c["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(resent["event"], "refund_sent");
    assert_eq!(resent["replaces"], old.as_str());
    assert_eq!(resent["channel"], "balance");
    // Once: the claim is no longer in refund_failed.
    let (s, _) = retry(admin.clone(), json!({})).await;
    assert_eq!(s, 409);
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    let new_id = resent["refund_id"].as_str().unwrap();
    let r = refund(&app, new_id).await;
    assert_eq!(
        (r.status, r.amount.minor()),
        (RefundStatus::Succeeded, 5013)
    );
    assert_eq!(refund(&app, &old).await.status, RefundStatus::Failed);
    assert_eq!(app.sandbox.total_movements(), 0, "the balance is ours");
    // The money went back once: the ledger still holds exactly the claim.
    let o = order_view(&app, "o-1").await;
    assert_eq!(
        minor_units(&o["total_paid"]) - minor_units(&o["refundable"]),
        5013,
        "{o}"
    );
}

/// Without a payout provider for bank cards, the route is refused at once
/// rather than leaving a refund that could never be sent.
async fn bank_card_needs_a_payout_provider(engine: &str) {
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.providers = aftersales::providers::ProviderSet::default().with(
        aftersales::domain::order::PaymentChannel::WechatPay,
        Arc::new(aftersales::providers::sandbox::Sandbox::new()),
    );
    let app = aftersales_tests::http::spawn_app_with(services).await;
    app.push_order("o-1", &unshipped("alice")).await;
    let card = json!({"route": "bank_card", "bank": "CMB", "holder": "Alice", "last4": "0403",
                      "card_token": "tok_alice_1", "confirmed": true});
    let (s, v) = file(&app, "alice", "o-1", json!({ "refund_to": card })).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (422, &json!("route_unavailable")),
        "{v}"
    );
    assert_eq!(
        order_view(&app, "o-1").await["lines_refundable"][0]["units_free"],
        2
    );

    // The customer-facing function of a deployment with payouts holds no
    // payout key, only the word that payouts are on (BANK_PAYOUTS): the
    // claim is taken, and the refund executor pays it out.
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.bank_payouts = true;
    let app = aftersales_tests::http::spawn_app_with(services).await;
    app.push_order("o-1", &unshipped("alice")).await;
    let (s, v) = file(&app, "alice", "o-1", json!({ "refund_to": card })).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["refund_to"]["route"], "bank_card", "{v}");
}

/// Approved at nothing: the claim completes, no refund is made.
async fn approved_at_zero_completes(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let (s, c) = file(&app, "alice", "o-1", json!({"amount": "80.00"})).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let (s, d) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/decision"),
            Some(&app.staff("rita", "shop-1", &[StaffRole::Reviewer])),
            Some(&json!({"decision": "approve", "amount": "0.00", "reason": "goodwill coupon instead"})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["status"], "completed", "{d}");
    app.drain().await;
    assert_eq!(app.sandbox.total_movements(), 0);
}

/// A missing item whose refund the provider declined gives its units back.
async fn a_declined_missing_item_frees_its_units(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let admin = app.staff("ann", "shop-1", &[StaffRole::Admin]);
    let (s, v) = merchant_refund(
        &app,
        &admin,
        Some("k1"),
        &json!({"reason": "missing_item", "line_id": "L2", "quantity": 1, "amount": "3.13",
                "note": "mug missing"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        order_view(&app, "o-1").await["lines_refundable"][1]["units_free"],
        0
    );
    app.drain().await;
    let o = order_view(&app, "o-1").await;
    assert_eq!(o["lines_refundable"][1]["units_free"], 1, "{o}");
}

/// Reconciliation cannot move a refund whose channel has no provider: it
/// notes why (once) and moves it to the back, so it cannot hold up others.
async fn reconciliation_defers_what_it_cannot_move(engine: &str) {
    let clock = TestClock::at(NOW);
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = clock.clock();
    services.providers = aftersales::providers::ProviderSet::default().with(
        aftersales::domain::order::PaymentChannel::WechatPay,
        Arc::new(aftersales::providers::sandbox::Sandbox::new()),
    );
    let app = aftersales_tests::http::spawn_app_with(services).await;
    let mut order = unshipped("alice");
    order["payments"][0]["channel"] = json!("alipay");
    app.push_order("o-1", &order).await;
    let (s, c) = file(&app, "alice", "o-1", json!({})).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    // Rules approve it; its refund cannot be sent (no Alipay configured).
    let _ = aftersales::app::dispatch::drain_outbox(&app.services, 100).await;
    let rid = aftersales::domain::refund::refund_id_for(&id, 1);
    let before = refund(&app, &rid).await;
    assert_eq!(before.status, RefundStatus::Pending);
    clock.advance_hours(2);
    let r = aftersales::app::refunds::reconcile(&app.services, chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((r.checked, r.settled), (1, 0));
    let after = refund(&app, &rid).await;
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.history.last().unwrap().what, "retry_scheduled");
    let steps = after.history.len();
    clock.advance_hours(2);
    aftersales::app::refunds::reconcile(&app.services, chrono::Duration::hours(1))
        .await
        .unwrap();
    let again = refund(&app, &rid).await;
    assert_eq!(again.history.len(), steps, "the same reason is noted once");
    assert!(again.updated_at > after.updated_at);
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() { super::$name("sqlite").await })*
        }
        mod dynamodb {
            $(#[tokio::test]
            async fn $name() { super::$name("dynamodb").await })*
        }
    };
}

on_both_engines!(
    store_balance_is_our_own_ledger,
    bank_card_needs_the_customers_confirmation,
    staff_refund_without_a_claim,
    a_failed_merchant_refund_gives_its_money_back,
    runner_sandbox_notifies_sent_then_arrived,
    staff_find_refunds_by_the_customers_phone,
    failed_refunds_are_sent_again,
    bank_card_needs_a_payout_provider,
    approved_at_zero_completes,
    a_declined_missing_item_frees_its_units,
    reconciliation_defers_what_it_cannot_move,
);
