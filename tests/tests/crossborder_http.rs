//! Cross-border orders over HTTP on both engines: duties, taxes and
//! international shipping come in with the order and ride on its
//! cross-border line; a `cross_border_customs` claim shows what it gives
//! back in parts (adding up to what the units paid) and waits with staff
//! while no clearance outcome is confirmed; a customs claim on a line or an
//! order that is not cross-border is refused and nothing is reserved.
//!
//! The seed's case through the clearance port: customs refuse the parcel,
//! the clearance service pushes it (signed), and the claim is approved by
//! the default rules without staff and refunded with its duties, taxes and
//! international shipping, the customer told in Japanese; a clearance
//! already failed when the claim is filed is found by asking the service.
//! Pushes unsigned, tampered, replayed or about another declaration change
//! nothing.

use aftersales::auth::StaffRole;
use aftersales::clearance::sandbox::SandboxClearance;
use aftersales::clearance::Signed;
use aftersales::domain::crossborder::{Clearance, ClearanceStatus, ReturnShipment};
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, spawn_app_at, spawn_app_with, TestApp, TestClock};
use serde_json::{json, Value};
use std::sync::Arc;

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

const DECLARATION: &str = "DEC2026110100014444";

/// The app with the sandbox clearance service, its push secret made here.
async fn app_with_clearance(engine: &str) -> (TestApp, Arc<SandboxClearance>, Vec<u8>) {
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = TestClock::at(NOW).clock();
    let secret = uuid::Uuid::new_v4().as_bytes().to_vec();
    let sandbox = aftersales::onebox::with_sandbox_clearance(&mut services, &secret);
    (spawn_app_with(services).await, sandbox, secret)
}

async fn push(app: &TestApp, body: &[u8], signed: Option<&Signed>) -> (u16, Value) {
    let mut rb = app
        .http
        .post(format!("{}/v1/clearance/notify", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signed {
        rb = rb
            .header("x-clearance-timestamp", &s.timestamp)
            .header("x-clearance-nonce", &s.nonce)
            .header("x-clearance-signature", &s.signature);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn news(status: ClearanceStatus) -> Clearance {
    Clearance {
        status,
        reason: (status == ClearanceStatus::Failed)
            .then(|| "restricted ingredient: import licence missing".to_owned()),
        return_shipment: None,
        at: "2026-11-10T09:30:00Z".parse().unwrap(),
    }
}

fn approving_rule(c: &Value) -> Option<String> {
    c["timeline"]
        .as_array()?
        .iter()
        .find(|t| t["event"] == "approved")
        .and_then(|t| t["actor"]["rule_id"].as_str().map(str::to_owned))
}

async fn customs_refusal_pushed_refunds_duties_and_shipping_without_staff(engine: &str) {
    let (app, sandbox, _) = app_with_clearance(engine).await;
    let mut order = xb_order();
    order["language"] = json!("ja");
    app.push_order("o-xb", &order).await;
    let (s, c) = file(&app, "o-xb", "L1", 2).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    // Asked the service: only declared, so the claim waits.
    assert!(sandbox.asked().iter().any(|d| d == DECLARATION));
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "under_review", "{c}");
    assert_eq!(c["cross_border"]["clearance"]["status"], "declared", "{c}");
    assert_eq!(app.claim_refunds(&id).await.len(), 0);

    // Customs refuse the parcel; the service pushes, signed.
    let (body, signed) =
        sandbox.report("shop-1", "o-xb", DECLARATION, news(ClearanceStatus::Failed));
    // Unsigned, tampered or signed with another secret: refused, nothing changes.
    let (s, e) = push(&app, &body, None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("bad_signature")),
        "{e}"
    );
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("shop-1", "shop-2");
    let (s, _) = push(&app, tampered.as_bytes(), Some(&signed)).await;
    assert_eq!(s, 401);
    let forged = Signed::new(b"not the secret", &body, TestClock::at(NOW).clock()());
    let (s, _) = push(&app, &body, Some(&forged)).await;
    assert_eq!(s, 401);
    app.drain().await;
    assert_eq!(app.claim_of("alice", &id).await["status"], "under_review");

    let (s, r) = push(&app, &body, Some(&signed)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["claims_updated"], 1, "{r}");
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(
        approving_rule(&c).as_deref(),
        Some("xborder-customs-confirmed"),
        "decided by the default rules, no staff: {c}"
    );
    assert_eq!(c["cross_border"]["clearance"]["status"], "failed", "{c}");
    assert_eq!(
        c["cross_border"]["clearance"]["reason"],
        "restricted ingredient: import licence missing"
    );
    // Goods 300.00 + duties 12.00 + taxes 27.30 + international shipping 40.00.
    let refunds = app.claim_refunds(&id).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(minor_units(&refunds[0]["amount"]), 37_930, "{refunds:?}");
    assert_eq!(refunds[0]["status"], "succeeded", "{refunds:?}");
    assert_eq!(app.sandbox.total_movements(), 1);

    // The same push again (a replay, or the service retrying): old news.
    let (s, r) = push(&app, &body, Some(&signed)).await;
    assert_eq!((s, r["claims_updated"].as_u64()), (200, Some(0)), "{r}");
    app.drain().await;
    assert_eq!(app.claim_refunds(&id).await.len(), 1);
    assert_eq!(app.sandbox.total_movements(), 1, "no money moved twice");

    // The customer was told in the order's language.
    let (s, inbox) = app
        .call("GET", "/v1/inbox", Some(&app.customer("alice")), None, &[])
        .await;
    assert_eq!(s, 200, "{inbox}");
    let bodies: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("通関できませんでした")),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("税関に申告されました")),
        "{bodies:?}"
    );
}

async fn pushes_that_do_not_belong_are_refused(engine: &str) {
    let (app, sandbox, secret) = app_with_clearance(engine).await;
    app.push_order("o-xb", &xb_order()).await;
    let now = TestClock::at(NOW).clock()();
    let signed_push = |v: Value| {
        let body = serde_json::to_vec(&v).unwrap();
        let s = Signed::new(&secret, &body, now);
        (body, s)
    };
    // Another declaration than the order's.
    let (b, s) = signed_push(json!({"shop_id": "shop-1", "order_id": "o-xb",
        "declaration_no": "DEC-OTHER", "status": "failed", "at": "2026-11-10T09:00:00Z"}));
    let (st, e) = push(&app, &b, Some(&s)).await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (422, Some("declaration_mismatch")),
        "{e}"
    );
    // An order that does not exist.
    let (b, s) = signed_push(json!({"shop_id": "shop-1", "order_id": "o-none",
        "declaration_no": DECLARATION, "status": "failed", "at": "2026-11-10T09:00:00Z"}));
    assert_eq!(push(&app, &b, Some(&s)).await.0, 404);
    // Signed but not a push.
    for v in [
        json!({"shop_id": "shop-1"}),
        json!({"shop_id": "shop-1", "order_id": "o-xb", "declaration_no": DECLARATION,
               "status": "vanished", "at": "2026-11-10T09:00:00Z"}),
    ] {
        let (b, s) = signed_push(v);
        let (st, e) = push(&app, &b, Some(&s)).await;
        assert_eq!(
            (st, e["error"]["code"].as_str()),
            (400, Some("malformed_push")),
            "{e}"
        );
    }
    // A stale push (signed 10 minutes ago) is refused like a forged one.
    let (body, _) = sandbox.report("shop-1", "o-xb", DECLARATION, news(ClearanceStatus::Failed));
    let old = Signed::new(&secret, &body, now - chrono::Duration::minutes(10));
    assert_eq!(push(&app, &body, Some(&old)).await.0, 401);
    // A push about an order without customs claims is taken (nothing to move).
    let (body, signed) =
        sandbox.report("shop-1", "o-xb", DECLARATION, news(ClearanceStatus::Failed));
    let (st, r) = push(&app, &body, Some(&signed)).await;
    assert_eq!((st, r["claims_updated"].as_u64()), (200, Some(0)), "{r}");
}

async fn a_parcel_already_back_is_found_by_asking_and_refunded(engine: &str) {
    let (app, sandbox, _) = app_with_clearance(engine).await;
    app.push_order("o-xb", &xb_order()).await;
    // Refused by the customer, back with the seller before the claim.
    let mut back = news(ClearanceStatus::Returned);
    back.return_shipment = Some(ReturnShipment {
        carrier: "ems".into(),
        tracking_number: "EE123456789CN".into(),
    });
    sandbox.report("shop-1", "o-xb", DECLARATION, back);
    let (s, c) = file(&app, "o-xb", "L1", 1).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(
        approving_rule(&c).as_deref(),
        Some("xborder-customs-confirmed"),
        "{c}"
    );
    assert_eq!(
        c["cross_border"]["clearance"]["return_shipment"]["tracking_number"],
        "EE123456789CN"
    );
    // One serum of two: half the goods, duties, taxes and shipping of the line.
    let refunds = app.claim_refunds(&id).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(minor_units(&refunds[0]["amount"]), 18_965, "{refunds:?}");
    assert_eq!(sandbox.asked(), [DECLARATION], "asked once");
}

aftersales_tests::on_both_engines!(
    customs_claim_shows_its_parts_and_waits,
    customs_claims_out_of_place_are_refused,
    customs_refusal_pushed_refunds_duties_and_shipping_without_staff,
    pushes_that_do_not_belong_are_refused,
    a_parcel_already_back_is_found_by_asking_and_refunded,
);
