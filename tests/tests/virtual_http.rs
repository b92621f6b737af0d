//! Virtual goods and bundles over HTTP on both engines, with the seed's
//! cases: an unused coupon inside the virtual refund window is approved by
//! the default rules and refunded without staff; a redeemed one (per the
//! voucher issuer, or reported by the storefront on the order line) is
//! rejected by the rules with the catalogue's reason the customer reads;
//! the issuer's answer is on the claim. A phone sold with a
//! screen-insurance e-voucher: the insurance refunded while the phone is
//! kept; then phone and insurance returned together, as two linked claims
//! (the insurance refunded at once, the phone through return and
//! inspection). Bad input is refused and changes nothing.

use aftersales::auth::StaffRole;
use aftersales::vouchers::sandbox::SandboxVouchers;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, spawn_app_with, TestApp, TestClock};
use chrono::TimeZone;
use serde_json::{json, Value};
use std::sync::Arc;

const NOW: &str = "2026-11-23T10:00:00Z";

async fn app_on(engine: &str) -> (TestApp, Arc<SandboxVouchers>) {
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = TestClock::at(NOW).clock();
    let issuer = aftersales::onebox::with_sandbox_vouchers(&mut services);
    (spawn_app_with(services).await, issuer)
}

/// Two coupons (50.00 each, codes CPN-A and CPN-B) and a mug, paid and
/// delivered on `paid`.
fn coupon_order(paid: &str) -> Value {
    json!({
        "customer_id": "alice", "currency": "CNY", "language": "en", "placed_at": paid,
        "lines": [
            {"line_id": "V1", "sku": "CPN-50", "title": "Coupon 50", "kind": "virtual",
             "quantity": 2, "unit_price": "50.00",
             "vouchers": [{"code": "CPN-A"}, {"code": "CPN-B"}]},
            {"line_id": "M1", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": 1, "unit_price": "20.00"}],
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000201",
                      "amount": "120.00", "paid_at": paid}],
        "fulfilment": {"state": "delivered", "shipped_at": paid, "delivered_at": paid}
    })
}

/// A phone (3,999.00) with a screen-insurance e-voucher (199.00, code
/// `code`) sold as bundle B1 for 4,198.00; paid on `paid`, delivered on 21 Nov.
fn phone_order(paid: &str, code: &str) -> Value {
    json!({
        "customer_id": "alice", "currency": "CNY", "language": "en", "placed_at": paid,
        "lines": [
            {"line_id": "PHONE", "sku": "PH-1", "title": "Phone", "kind": "bundle_part",
             "quantity": 1, "unit_price": "3999.00"},
            {"line_id": "INS", "sku": "INS-SCR", "title": "Screen insurance", "kind": "virtual",
             "quantity": 1, "unit_price": "199.00", "vouchers": [{"code": code}]}],
        "payments": [{"payment_id": "P1", "channel": "alipay", "provider_txn_id": "2026112200001",
                      "amount": "4198.00", "paid_at": paid}],
        "fulfilment": {"state": "delivered", "shipped_at": paid,
                       "delivered_at": "2026-11-21T09:00:00Z"},
        "bundles": [{"bundle_id": "B1", "price": "4198.00", "parts": [
            {"line_id": "PHONE", "share": "3999.00"}, {"line_id": "INS", "share": "199.00"}]}]
    })
}

async fn file(app: &TestApp, body: Value) -> (u16, Value) {
    let mut body = body;
    body["shop_id"] = json!("shop-1");
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer("alice")),
        Some(&body),
        &[],
    )
    .await
}

fn coupon_claim(order: &str, line: &str, codes: &[&str]) -> Value {
    json!({"order_id": order, "type": "special_claim", "kind": "virtual_unused",
           "reason": "no_longer_wanted", "lines": [{"line_id": line, "quantity": codes.len().max(1)}],
           "voucher_codes": codes})
}

async fn units_free(app: &TestApp, order: &str) -> Vec<(String, u64)> {
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
    o["lines_refundable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line_id"].as_str().unwrap().to_owned(),
                l["units_free"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn settle(app: &TestApp) {
    for _ in 0..3 {
        app.drain().await;
    }
}

fn decided_by(c: &Value, event: &str) -> Value {
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == event)
        .map(|t| t["actor"]["rule_id"].clone())
        .unwrap_or(Value::Null)
}

async fn refunded(app: &TestApp, id: &str) -> i64 {
    app.claim_refunds(id)
        .await
        .iter()
        .filter(|r| r["status"] == "succeeded")
        .map(|r| minor_units(&r["amount"]))
        .sum()
}

async fn inbox_bodies(app: &TestApp, claim_id: &str) -> Vec<(String, String)> {
    let (s, v) = app
        .call("GET", "/v1/inbox", Some(&app.customer("alice")), None, &[])
        .await;
    assert_eq!(s, 200, "{v}");
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["claim_id"] == claim_id)
        .map(|m| {
            (
                m["event"].as_str().unwrap().to_owned(),
                m["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn coupons_unused_refund_and_redeemed_are_rejected(engine: &str) {
    let (app, issuer) = app_on(engine).await;
    // Paid three days ago: inside the 7-day virtual refund window.
    app.push_order("o-cpn", &coupon_order("2026-11-20T08:00:00Z"))
        .await;
    let before = units_free(&app, "o-cpn").await;

    // Bad input: the wrong kind of line, a code not on the order, a unit
    // without its code. Each refused, nothing reserved.
    for (body, code, field) in [
        (coupon_claim("o-cpn", "M1", &[]), "not_virtual", "line M1"),
        (
            coupon_claim("o-cpn", "V1", &["CPN-Z"]),
            "voucher_not_on_order",
            "voucher_codes[0]",
        ),
        (
            json!({"order_id": "o-cpn", "type": "special_claim", "kind": "virtual_unused",
                   "reason": "no_longer_wanted", "lines": [{"line_id": "V1", "quantity": 2}],
                   "voucher_codes": ["CPN-A"]}),
            "voucher_codes_required",
            "voucher_codes",
        ),
        (
            json!({"order_id": "o-cpn", "type": "refund_only", "reason": "no_longer_wanted",
                   "lines": [{"line_id": "M1", "quantity": 1}], "voucher_codes": ["CPN-A"]}),
            "voucher_codes_unexpected",
            "voucher_codes",
        ),
    ] {
        let (s, e) = file(&app, body).await;
        assert_eq!((s, e["error"]["code"].as_str()), (422, Some(code)), "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "names {field}: {e}"
        );
    }
    assert_eq!(units_free(&app, "o-cpn").await, before, "nothing changed");
    assert!(issuer.asked().is_empty());

    // Unused: approved by the default rules and refunded, no staff.
    let (s, c) = file(&app, coupon_claim("o-cpn", "V1", &["CPN-A"])).await;
    assert_eq!(s, 201, "{c}");
    let unused = c["claim_id"].as_str().unwrap().to_owned();
    // Redeemed at the issuer yesterday.
    issuer.redeem(
        "CPN-B",
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 12, 0, 0)
            .unwrap(),
    );
    let (s, c) = file(&app, coupon_claim("o-cpn", "V1", &["CPN-B"])).await;
    assert_eq!(s, 201, "{c}");
    let used = c["claim_id"].as_str().unwrap().to_owned();
    settle(&app).await;

    let c = app.claim_of("alice", &unused).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(decided_by(&c, "approved"), json!("virtual-unused-refund"));
    assert_eq!(refunded(&app, &unused).await, 5_000);
    // The issuer's answer is the claim's evidence.
    assert_eq!(c["vouchers"][0]["code"], "CPN-A", "{c}");
    assert_eq!(c["vouchers"][0]["answer"]["state"], "unused", "{c}");
    assert_eq!(c["vouchers"][0]["answer"]["source"], "issuer", "{c}");

    let c = app.claim_of("alice", &used).await;
    assert_eq!(c["status"], "rejected", "{c}");
    assert_eq!(decided_by(&c, "rejected"), json!("virtual-redeemed-reject"));
    assert_eq!(c["vouchers"][0]["answer"]["state"], "redeemed", "{c}");
    assert_eq!(
        c["vouchers"][0]["answer"]["at"], "2026-11-22T12:00:00Z",
        "{c}"
    );
    assert_eq!(refunded(&app, &used).await, 0);
    let told = inbox_bodies(&app, &used).await;
    assert!(
        told.iter()
            .any(|(e, b)| e == "rejected" && b.contains("This voucher code has already been used")),
        "the customer reads the catalogue's reason: {told:?}"
    );
    // Each code asked once, however often the events came.
    assert_eq!(issuer.asked(), ["CPN-A", "CPN-B"]);
    // The coupon refunded is gone; the rejected one is free again.
    assert_eq!(
        units_free(&app, "o-cpn").await,
        [("V1".to_string(), 1), ("M1".to_string(), 1)]
    );
    // A code already given back cannot be given back again, even on the
    // unit left free.
    let (s, e) = file(&app, coupon_claim("o-cpn", "V1", &["CPN-A"])).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("voucher_already_claimed")),
        "{e}"
    );
    assert_eq!(
        units_free(&app, "o-cpn").await,
        [("V1".to_string(), 1), ("M1".to_string(), 1)]
    );

    // The storefront reports a redemption on the order line: the rules
    // reject without asking the issuer, the report kept as the evidence.
    let mut reported = coupon_order("2026-11-20T08:00:00Z");
    reported["lines"][0]["vouchers"] = json!([
        {"code": "CPN-C", "redeemed_at": "2026-11-21T18:00:00Z"}, {"code": "CPN-D"}]);
    app.push_order("o-rep", &reported).await;
    let (s, c) = file(&app, coupon_claim("o-rep", "V1", &["CPN-C"])).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    settle(&app).await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "rejected", "{c}");
    assert_eq!(decided_by(&c, "rejected"), json!("virtual-redeemed-reject"));
    assert_eq!(c["vouchers"][0]["answer"]["source"], "storefront", "{c}");
    assert_eq!(issuer.asked(), ["CPN-A", "CPN-B"], "not asked");
}

async fn a_redemption_reported_after_the_answer_is_seen_by_the_rules(engine: &str) {
    let (app, issuer) = app_on(engine).await;
    // Paid long ago: past the virtual window, so the claim waits for staff.
    app.push_order("o-old", &coupon_order("2026-11-01T08:00:00Z"))
        .await;
    let (s, c) = file(&app, coupon_claim("o-old", "V1", &["CPN-A"])).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    settle(&app).await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "under_review", "{c}");
    assert_eq!(c["vouchers"][0]["answer"]["state"], "unused", "{c}");
    // The storefront then reports the code used: when the rules run again
    // they see it redeemed, without asking the issuer again. (A re-run
    // never rejects a claim staff hold: it stays with them, who now see
    // the report beside the issuer's earlier answer.)
    let mut o = coupon_order("2026-11-01T08:00:00Z");
    o["lines"][0]["vouchers"][0]["redeemed_at"] = json!("2026-11-22T08:00:00Z");
    app.push_order("o-old", &o).await;
    let decision = aftersales::app::review::evaluate_claim(&app.services, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decision.rule_id.as_deref(), Some("virtual-redeemed-reject"));
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "under_review", "{c}");
    assert_eq!(c["vouchers"][0]["answer"]["source"], "issuer", "kept: {c}");
    assert_eq!(c["vouchers"][0]["answer"]["state"], "unused", "kept: {c}");
    assert_eq!(issuer.asked(), ["CPN-A"]);
    // A new claim on the other code of that line, reported redeemed from
    // the start, is rejected by the first decision.
    let mut o = o.clone();
    o["lines"][0]["vouchers"][1]["redeemed_at"] = json!("2026-11-22T09:00:00Z");
    app.push_order("o-old", &o).await;
    let (s, c) = file(&app, coupon_claim("o-old", "V1", &["CPN-B"])).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    settle(&app).await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "rejected", "{c}");
    assert_eq!(issuer.asked(), ["CPN-A"]);
}

async fn bundle_parts_take_their_own_tracks(engine: &str) {
    let (app, issuer) = app_on(engine).await;
    let admin = app.staff("ada", "shop-1", &[StaffRole::Reviewer, StaffRole::Admin]);

    // Intake: a bundle naming a line not on the order, or a split that does
    // not add up, is refused and nothing is stored.
    let mut bad = phone_order("2026-11-20T08:00:00Z", "INS-0");
    bad["bundles"][0]["parts"][1]["line_id"] = json!("CASE");
    let mut short = phone_order("2026-11-20T08:00:00Z", "INS-0");
    short["bundles"][0]["price"] = json!("4200.00");
    for (body, field) in [
        (bad, "bundles[0].parts[1].line_id"),
        (short, "bundles[0].price"),
    ] {
        let (s, e) = app
            .call(
                "PUT",
                "/v1/shops/shop-1/orders/o-bad",
                Some(&app.storefront("shop-1")),
                Some(&body),
                &[],
            )
            .await;
        assert_eq!(s, 422, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "names {field}: {e}"
        );
    }
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/orders/o-bad",
            Some(&app.staff("rita", "shop-1", &[StaffRole::Reviewer])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404, "nothing stored");

    // Only the insurance: refunded the virtual-goods way, the phone kept.
    app.push_order("o-keep", &phone_order("2026-11-20T08:00:00Z", "INS-1"))
        .await;
    let (s, c) = file(&app, coupon_claim("o-keep", "INS", &["INS-1"])).await;
    assert_eq!(s, 201, "{c}");
    let ins = c["claim_id"].as_str().unwrap().to_owned();
    settle(&app).await;
    let c = app.claim_of("alice", &ins).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(refunded(&app, &ins).await, 19_900);
    assert_eq!(
        units_free(&app, "o-keep").await,
        [("PHONE".to_string(), 1), ("INS".to_string(), 0)],
        "the phone is kept"
    );

    // Both returned, ten days after paying (past the 7-day virtual window,
    // inside the return window: delivered two days ago).
    app.push_order("o-both", &phone_order("2026-11-13T08:00:00Z", "INS-2"))
        .await;
    let both = json!({"order_id": "o-both", "type": "return_refund", "reason": "no_longer_wanted",
                      "lines": [{"line_id": "PHONE", "quantity": 1}, {"line_id": "INS", "quantity": 1}],
                      "voucher_codes": ["INS-2"]});
    // An amount would not say which part it is for.
    let mut with_amount = both.clone();
    with_amount["amount"] = json!("100.00");
    let (s, e) = file(&app, with_amount).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("bundle_amount")),
        "{e}"
    );
    assert_eq!(
        units_free(&app, "o-both").await,
        [("PHONE".to_string(), 1), ("INS".to_string(), 1)]
    );
    // The quote gives both parts back in all.
    let mut quote = both.clone();
    quote["shop_id"] = json!("shop-1");
    let (s, q) = app
        .call(
            "POST",
            "/v1/claims/quote",
            Some(&app.customer("alice")),
            Some(&quote),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(minor_units(&q["refund"]), 419_800, "{q}");
    let (s, phone) = file(&app, both).await;
    assert_eq!(s, 201, "{phone}");
    let phone_id = phone["claim_id"].as_str().unwrap().to_owned();
    assert_eq!(minor_units(&phone["requested_amount"]), 399_900, "{phone}");
    assert_eq!(phone["bundle"]["track"], "goods", "{phone}");
    let ins_id = phone["bundle"]["partner_claim_id"]
        .as_str()
        .unwrap()
        .to_owned();
    settle(&app).await;

    // The insurance goes with the phone: refunded at once by the rule, past
    // its own window; the phone waits for a person (over 500.00).
    let ins = app.claim_of("alice", &ins_id).await;
    assert_eq!(ins["status"], "completed", "{ins}");
    assert_eq!(ins["type"], "special_claim");
    assert_eq!(ins["bundle"]["track"], "virtual");
    assert_eq!(ins["bundle"]["partner_claim_id"], json!(phone_id));
    assert_eq!(
        decided_by(&ins, "approved"),
        json!("bundle-virtual-with-return")
    );
    assert_eq!(refunded(&app, &ins_id).await, 19_900);
    let phone = app.claim_of("alice", &phone_id).await;
    assert_eq!(phone["status"], "second_review", "{phone}");
    assert_eq!(refunded(&app, &phone_id).await, 0);
    // Each part's progress reaches the customer's inbox on its own claim.
    let told: Vec<String> = inbox_bodies(&app, &ins_id)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert!(told.iter().any(|e| e == "approved"), "{told:?}");
    let told: Vec<String> = inbox_bodies(&app, &phone_id)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert!(told.iter().any(|e| e == "submitted"), "{told:?}");
    assert!(!told.iter().any(|e| e == "approved"), "{told:?}");

    let (s, d) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{phone_id}/decision"),
            Some(&admin),
            Some(&json!({"decision": "approve"})),
            &[],
        )
        .await;
    assert_eq!(
        (s, d["status"].as_str()),
        (200, Some("awaiting_return")),
        "{d}"
    );
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/claims/{phone_id}/return-shipment"),
            Some(&app.customer("alice")),
            Some(&json!({"carrier": "zhongtong", "tracking_number": "73123456789012"})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{phone_id}/inspection"),
            Some(&admin),
            Some(
                &json!({"lines": [{"line_id": "PHONE", "received": 1, "outcome": "received",
                                    "disposition": "restock"}],
                         "decision": {"decision": "accept"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    settle(&app).await;
    let phone = app.claim_of("alice", &phone_id).await;
    assert_eq!(phone["status"], "completed", "{phone}");
    assert_eq!(refunded(&app, &phone_id).await, 399_900);
    assert_eq!(
        units_free(&app, "o-both").await,
        [("PHONE".to_string(), 0), ("INS".to_string(), 0)]
    );
    // The customer's list shows each part's claim.
    let (s, list) = app
        .call("GET", "/v1/claims", Some(&app.customer("alice")), None, &[])
        .await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list["claims"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["claim_id"].as_str())
        .collect();
    assert!(
        ids.contains(&phone_id.as_str()) && ids.contains(&ins_id.as_str()),
        "{list}"
    );
    assert_eq!(issuer.asked(), ["INS-1", "INS-2"]);
}

aftersales_tests::on_both_engines!(
    coupons_unused_refund_and_redeemed_are_rejected,
    a_redemption_reported_after_the_answer_is_seen_by_the_rules,
    bundle_parts_take_their_own_tracks,
);
