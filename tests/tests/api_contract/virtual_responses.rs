//! Real responses about virtual goods and bundles match the schemas: an
//! order with a bundle and voucher codes, one refused for a split that does
//! not add up, a return of both parts (two linked claims) with the
//! issuer's answer on the virtual part's claim, a claim on the wrong kind
//! of line refused.

use super::helpers::{checked, openapi};
use aftersales::auth::StaffRole;
use aftersales_tests::http::spawn_app_with;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn virtual_goods_and_bundle_responses_match_the_schemas() {
    let spec = openapi();
    let mut services = aftersales::app::Services::new(Arc::new(aftersales_tests::sqlite_table()));
    aftersales::onebox::with_sandbox_vouchers(&mut services);
    let app = spawn_app_with(services).await;
    let (sf, alice) = (app.storefront("shop-1"), app.customer("alice"));
    let staff = app.staff("staff-7", "shop-1", &[StaffRole::Reviewer]);
    const ORDER: &str = "/v1/shops/{shop_id}/orders/{order_id}";
    const CLAIM: &str = "/v1/claims/{claim_id}";
    let path = "/v1/shops/shop-1/orders/o-b";
    let now = chrono::Utc::now().to_rfc3339();
    let order = json!({
        "customer_id": "alice", "currency": "CNY", "placed_at": now,
        "lines": [
            {"line_id": "PHONE", "sku": "PH-1", "title": "Phone", "kind": "bundle_part",
             "quantity": 1, "unit_price": "3999.00"},
            {"line_id": "INS", "sku": "INS", "title": "Screen insurance", "kind": "virtual",
             "quantity": 1, "unit_price": "199.00", "vouchers": [{"code": "INS-1"}]}],
        "payments": [{"payment_id": "P1", "channel": "alipay", "provider_txn_id": "2026000001",
                      "amount": "4198.00", "paid_at": now}],
        "fulfilment": {"state": "delivered", "shipped_at": now, "delivered_at": now},
        "bundles": [{"bundle_id": "B1", "price": "4198.00", "parts": [
            {"line_id": "PHONE", "share": "3999.00"}, {"line_id": "INS", "share": "199.00"}]}]
    });
    let mut short = order.clone();
    short["bundles"][0]["price"] = json!("4000.00");
    checked(
        &spec,
        &app,
        ("PUT", ORDER, path),
        Some(&sf),
        Some(&short),
        422,
    )
    .await;
    checked(
        &spec,
        &app,
        ("PUT", ORDER, path),
        Some(&sf),
        Some(&order),
        201,
    )
    .await;
    let o = checked(&spec, &app, ("GET", ORDER, path), Some(&staff), None, 200).await;
    assert_eq!(o["bundles"][0]["bundle_id"], "B1", "{o}");

    let claims = ("POST", "/v1/claims", "/v1/claims");
    checked(
        &spec,
        &app,
        claims,
        Some(&alice),
        Some(
            &json!({"shop_id": "shop-1", "order_id": "o-b", "type": "special_claim",
                     "kind": "virtual_unused", "reason": "no_longer_wanted",
                     "lines": [{"line_id": "PHONE", "quantity": 1}]}),
        ),
        422,
    )
    .await;
    let goods = checked(
        &spec,
        &app,
        claims,
        Some(&alice),
        Some(
            &json!({"shop_id": "shop-1", "order_id": "o-b", "type": "return_refund",
                     "reason": "no_longer_wanted", "voucher_codes": ["INS-1"],
                     "lines": [{"line_id": "PHONE", "quantity": 1},
                               {"line_id": "INS", "quantity": 1}]}),
        ),
        201,
    )
    .await;
    app.drain().await;
    let part = goods["bundle"]["partner_claim_id"].as_str().unwrap();
    let v = checked(
        &spec,
        &app,
        ("GET", CLAIM, &format!("/v1/claims/{part}")),
        Some(&alice),
        None,
        200,
    )
    .await;
    assert_eq!(v["vouchers"][0]["answer"]["source"], "issuer", "{v}");
    let id = goods["claim_id"].as_str().unwrap();
    checked(
        &spec,
        &app,
        ("GET", CLAIM, &format!("/v1/claims/{id}")),
        Some(&alice),
        None,
        200,
    )
    .await;
}
