//! Scenario tests over HTTP: a storefront pushes an order, customers file,
//! read, list and cancel claims, staff look at their shop — on both storage
//! engines (embedded SQLite, and DynamoDB through moto).

use aftersales::auth::StaffRole;
use aftersales::store::Table;
use aftersales_tests::http::{sample_order, spawn_app, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;

async fn app_on(engine: &str) -> TestApp {
    let table: Arc<dyn Table> = match engine {
        "sqlite" => Arc::new(aftersales_tests::sqlite_table()),
        _ => Arc::new(aftersales_tests::dynamo_table().await),
    };
    spawn_app(table).await
}

fn claim_body(order: &str, lines: Value) -> Value {
    json!({"shop_id": "shop-1", "order_id": order, "type": "return_refund",
           "reason": "wrong_size", "description": "Too small", "lines": lines})
}

async fn push_order(app: &TestApp, order: &str, customer: &str) -> Value {
    let sf = app.storefront("shop-1");
    let (s, v) = app
        .call(
            "PUT",
            &format!("/v1/shops/shop-1/orders/{order}"),
            Some(&sf),
            Some(&sample_order(customer)),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v
}

async fn order_refundable(app: &TestApp, order: &str) -> String {
    let sf = app.storefront("shop-1");
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/orders/{order}"),
            Some(&sf),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["refundable"]["amount"].as_str().unwrap().to_string()
}

async fn order_intake_is_idempotent_and_guards_claims(engine: &str) {
    let app = app_on(engine).await;
    let sf = app.storefront("shop-1");
    let v = push_order(&app, "o-1", "alice").await;
    assert_eq!(
        v["total_paid"],
        json!({"amount": "211.00", "currency": "CNY"})
    );
    assert_eq!(v["refundable"]["amount"], "211.00");
    // The same snapshot again changes nothing.
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-1",
            Some(&sf),
            Some(&sample_order("alice")),
            &[],
        )
        .await;
    assert_eq!((s, v["version"].as_u64()), (200, Some(1)));

    // Another shop's storefront and customers cannot push or read it.
    let other = app.storefront("shop-2");
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-1",
            Some(&other),
            Some(&sample_order("alice")),
            &[],
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/orders/o-1",
            Some(&app.customer("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);

    // A claim on L1 blocks a change that would drop L1, but delivery news is fine.
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 2}]),
            )),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let mut dropped = sample_order("alice");
    dropped["lines"].as_array_mut().unwrap().remove(0);
    dropped["payments"][0]["amount"] = json!("23.00");
    let (s, e) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-1",
            Some(&sf),
            Some(&dropped),
            &[],
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "order_conflicts_with_claims");
    let mut delivered = sample_order("alice");
    delivered["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-11-21T09:00:00Z", "delivered_at": "2026-11-22T15:00:00Z"});
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-1",
            Some(&sf),
            Some(&delivered),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["fulfilment"]["state"], "delivered");
    assert_eq!(v["version"], 3);

    // Payments that do not add up are refused and nothing is stored.
    let mut bad = sample_order("alice");
    bad["payments"][0]["amount"] = json!("210.99");
    let (s, e) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-2",
            Some(&sf),
            Some(&bad),
            &[],
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["error"]["code"], "invalid_order");
    let (s, _) = app
        .call("GET", "/v1/shops/shop-1/orders/o-2", Some(&sf), None, &[])
        .await;
    assert_eq!(s, 404);
}

async fn claim_submission_timeline_and_idempotency(engine: &str) {
    let app = app_on(engine).await;
    push_order(&app, "o-1", "alice").await;
    let alice = app.customer("alice");
    let body = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
    let key = [("Idempotency-Key", "submit-0001")];
    let (s, c) = app
        .call("POST", "/v1/claims", Some(&alice), Some(&body), &key)
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["status"], "submitted");
    assert_eq!(c["type"], "return_refund");
    // Line L1 paid 188.00 − its share of the order discount (20 × 188/223 →
    // 16.86) + its share of shipping (8 × 188/223 → 6.74) = 177.88 for two
    // units, 88.94 each.
    assert_eq!(
        c["requested_amount"],
        json!({"amount": "88.94", "currency": "CNY"})
    );
    assert_eq!(c["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(c["timeline"][0]["event"], "submitted");
    assert_eq!(
        c["timeline"][0]["amount"],
        json!({"amount": "88.94", "currency": "CNY"})
    );
    assert_eq!(
        c["timeline"][0]["actor"],
        json!({"kind": "customer", "id": "alice"})
    );
    let id = c["claim_id"].as_str().unwrap().to_string();

    // The same key and body: the same claim, not a second one.
    let (s, again) = app
        .call("POST", "/v1/claims", Some(&alice), Some(&body), &key)
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["claim_id"], id.as_str());
    // The same key with another body: 409, nothing new.
    let other = claim_body("o-1", json!([{"line_id": "L2", "quantity": 1}]));
    let (s, e) = app
        .call("POST", "/v1/claims", Some(&alice), Some(&other), &key)
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "idempotency_key_reused");

    let (s, got) = app
        .call("GET", &format!("/v1/claims/{id}"), Some(&alice), None, &[])
        .await;
    assert_eq!(s, 200);
    assert_eq!(got["claim_id"], id.as_str());
    assert_eq!(got["timeline"][0]["status"], "submitted");
    let (s, list) = app.call("GET", "/v1/claims", Some(&alice), None, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(list["claims"].as_array().unwrap().len(), 1);
    assert_eq!(order_refundable(&app, "o-1").await, "122.06");

    // A partial amount is allowed; more than refundable never.
    let mut partial = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
    partial["amount"] = json!("88.95");
    let (s, e) = app
        .call("POST", "/v1/claims", Some(&alice), Some(&partial), &[])
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["error"]["code"], "amount_exceeds_refundable");
    partial["amount"] = json!("50.00");
    let (s, c2) = app
        .call("POST", "/v1/claims", Some(&alice), Some(&partial), &[])
        .await;
    assert_eq!(s, 201, "{c2}");
    assert_eq!(c2["requested_amount"]["amount"], "50.00");
    // Both units of L1 are now taken.
    let (s, e) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&alice),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 1}]),
            )),
            &[],
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(e["error"]["code"], "quantity_unavailable");
}

async fn customers_and_shops_see_only_their_own(engine: &str) {
    let app = app_on(engine).await;
    push_order(&app, "o-1", "alice").await;
    let (alice, bob) = (app.customer("alice"), app.customer("bob"));
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&alice),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L2", "quantity": 1}]),
            )),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    let id = c["claim_id"].as_str().unwrap();

    // Bob sees nothing of Alice's: not her claim, not her order.
    let (s, _) = app
        .call("GET", &format!("/v1/claims/{id}"), Some(&bob), None, &[])
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            "POST",
            &format!("/v1/claims/{id}/cancel"),
            Some(&bob),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404);
    let (s, list) = app.call("GET", "/v1/claims", Some(&bob), None, &[]).await;
    assert_eq!((s, list["claims"].as_array().unwrap().len()), (200, 0));
    let (s, _) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&bob),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 1}]),
            )),
            &[],
        )
        .await;
    assert_eq!(s, 404);

    // Staff see their shop's claims, never another shop's.
    let staff = app.staff("st-1", "shop-1", &[StaffRole::Reviewer]);
    let (s, got) = app
        .call("GET", &format!("/v1/claims/{id}"), Some(&staff), None, &[])
        .await;
    assert_eq!((s, got["claim_id"].as_str()), (200, Some(id)));
    let (s, list) = app.call("GET", "/v1/claims", Some(&staff), None, &[]).await;
    assert_eq!((s, list["claims"].as_array().unwrap().len()), (200, 1));
    let outsider = app.staff("st-9", "shop-2", &[StaffRole::Admin]);
    let (s, _) = app
        .call(
            "GET",
            &format!("/v1/claims/{id}"),
            Some(&outsider),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404);
    let (s, list) = app
        .call("GET", "/v1/claims", Some(&outsider), None, &[])
        .await;
    assert_eq!((s, list["claims"].as_array().unwrap().len()), (200, 0));
    // Staff do not file claims for customers.
    let (s, _) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&staff),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 1}]),
            )),
            &[],
        )
        .await;
    assert_eq!(s, 403);

    // No token, a forged token: 401.
    let (s, e) = app.call("GET", "/v1/claims", None, None, &[]).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let forged = aftersales::auth::DevKeys::new(b"an-attacker-secret-of-some-length").mint(
        "customer",
        "alice",
        None,
        &[],
        600,
    );
    let (s, _) = app
        .call("GET", "/v1/claims", Some(&forged), None, &[])
        .await;
    assert_eq!(s, 401);
}

async fn cancel_gives_units_and_money_back(engine: &str) {
    let app = app_on(engine).await;
    push_order(&app, "o-1", "alice").await;
    let alice = app.customer("alice");
    let (_, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&alice),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 2}]),
            )),
            &[],
        )
        .await;
    let id = c["claim_id"].as_str().unwrap();
    assert_eq!(order_refundable(&app, "o-1").await, "33.12");
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{id}/cancel"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["timeline"][1]["event"], "cancelled");
    assert_eq!(order_refundable(&app, "o-1").await, "211.00");
    let (s, e) = app
        .call(
            "POST",
            &format!("/v1/claims/{id}/cancel"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("illegal_transition"))
    );
    // The units are free again.
    let (s, _) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&alice),
            Some(&claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 2}]),
            )),
            &[],
        )
        .await;
    assert_eq!(s, 201);
}

async fn bad_input_is_a_clear_4xx_and_writes_nothing(engine: &str) {
    let app = app_on(engine).await;
    push_order(&app, "o-1", "alice").await;
    let alice = app.customer("alice");
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            claim_body("nope", json!([{"line_id": "L1", "quantity": 1}])),
            404,
            "not_found",
        ),
        (
            claim_body("o-1", json!([{"line_id": "L9", "quantity": 1}])),
            422,
            "unknown_line",
        ),
        (
            claim_body("o-1", json!([{"line_id": "L1", "quantity": 3}])),
            422,
            "quantity_unavailable",
        ),
        (
            claim_body("o-1", json!([{"line_id": "L1", "quantity": 0}])),
            422,
            "invalid_lines",
        ),
        (claim_body("o-1", json!([])), 422, "invalid_lines"),
        (
            claim_body(
                "o-1",
                json!([{"line_id": "L1", "quantity": 1}, {"line_id": "L1", "quantity": 1}]),
            ),
            422,
            "invalid_lines",
        ),
        (
            claim_body("o-1", json!([{"line_id": "L3", "quantity": 1}])),
            422,
            "final_sale",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["amount"] = json!("1.005");
                b
            },
            400,
            "invalid_amount",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["amount"] = json!("-1");
                b
            },
            400,
            "invalid_amount",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["amount"] = json!(12.5);
                b
            },
            400,
            "invalid_amount",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["reason"] = json!("because");
                b
            },
            400,
            "malformed_json",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["type"] = json!("exchange");
                b["amount"] = json!("5.00");
                b
            },
            422,
            "invalid_amount",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["description"] = json!("x".repeat(2001));
                b
            },
            422,
            "invalid_claim",
        ),
        (
            {
                let mut b = claim_body("o-1", json!([{"line_id": "L1", "quantity": 1}]));
                b["shop_id"] = json!("a#b");
                b
            },
            422,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let (s, e) = app
            .call("POST", "/v1/claims", Some(&alice), Some(&body), &[])
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} → {e}"
        );
        assert!(e["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (s, e) = app
        .raw(
            "POST",
            "/v1/claims",
            &alice,
            "application/json",
            b"{\"shop_id\": ".to_vec(),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    let (s, e) = app
        .raw(
            "POST",
            "/v1/claims",
            &alice,
            "text/plain",
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = format!("{{\"description\": \"{}\"}}", "x".repeat(300 * 1024));
    let (s, e) = app
        .raw(
            "POST",
            "/v1/claims",
            &alice,
            "application/json",
            huge.into_bytes(),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let (s, e) = app
        .call("GET", "/v1/claims?limit=0", Some(&alice), None, &[])
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_limit"))
    );
    let (s, e) = app
        .call("GET", "/v1/claims?cursor=garbage", Some(&alice), None, &[])
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_cursor"))
    );
    let (s, e) = app
        .call("GET", "/v1/nowhere", Some(&alice), None, &[])
        .await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));

    // Nothing of the above was written.
    let (_, list) = app.call("GET", "/v1/claims", Some(&alice), None, &[]).await;
    assert_eq!(list["claims"].as_array().unwrap().len(), 0);
    assert_eq!(order_refundable(&app, "o-1").await, "211.00");
}

async fn listing_pages_through_every_claim(engine: &str) {
    let app = app_on(engine).await;
    let alice = app.customer("alice");
    for i in 0..5 {
        push_order(&app, &format!("o-{i}"), "alice").await;
        let (s, _) = app
            .call(
                "POST",
                "/v1/claims",
                Some(&alice),
                Some(&claim_body(
                    &format!("o-{i}"),
                    json!([{"line_id": "L2", "quantity": 1}]),
                )),
                &[],
            )
            .await;
        assert_eq!(s, 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/claims?limit=2&cursor={c}"),
            None => "/v1/claims?limit=2".to_string(),
        };
        let (s, page) = app.call("GET", &path, Some(&alice), None, &[]).await;
        assert_eq!(s, 200, "{page}");
        for c in page["claims"].as_array().unwrap() {
            seen.push(c["order_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    // Newest first, each exactly once.
    assert_eq!(seen, vec!["o-4", "o-3", "o-2", "o-1", "o-0"]);
}

async fn concurrent_claims_never_take_the_same_unit(engine: &str) {
    let app = Arc::new(app_on(engine).await);
    push_order(&app, "o-1", "alice").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let alice = app.customer("alice");
            app.call(
                "POST",
                "/v1/claims",
                Some(&alice),
                Some(&claim_body(
                    "o-1",
                    json!([{"line_id": "L1", "quantity": 1}]),
                )),
                &[],
            )
            .await
            .0
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    // L1 has two units: exactly two claims win, the rest are refused.
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        2,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 201 || s == 422 || s == 409),
        "{statuses:?}"
    );
    assert_eq!(order_refundable(&app, "o-1").await, "33.12");
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name("sqlite").await } )* }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("dynamodb").await } )* }
    };
}

on_both_engines!(
    order_intake_is_idempotent_and_guards_claims,
    claim_submission_timeline_and_idempotency,
    customers_and_shops_see_only_their_own,
    cancel_gives_units_and_money_back,
    bad_input_is_a_clear_4xx_and_writes_nothing,
    listing_pages_through_every_claim,
    concurrent_claims_never_take_the_same_unit,
);
