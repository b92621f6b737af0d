//! Real responses of the dispute routes match the document's schemas: the
//! thread, proposals, acceptance with its refund, the claim carrying its
//! dispute, the desk's list, the figures, and the refusals.

use super::helpers::{checked, openapi};
use aftersales::auth::StaffRole;
use aftersales_tests::http::{sample_order, spawn_app};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn dispute_responses_match_the_openapi_schemas() {
    let spec = openapi();
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    let alice = app.customer("alice");
    let rita = app.staff("rita", "shop-1", &[StaffRole::Reviewer]);
    let boss = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    app.push_order("o-1", &sample_order("alice")).await;
    let c = app
        .file_claim(
            "alice",
            &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                    "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 2}]}),
        )
        .await;
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    const DISPUTE: &str = "/v1/claims/{claim_id}/dispute";
    let dispute = format!("/v1/claims/{id}/dispute");
    let opening = json!({"grounds": "amount_disputed",
        "wished": {"kind": "supplementary_refund", "amount": "20.00"}, "text": "Both are unworn."});
    // Not decided yet.
    checked(
        &spec,
        &app,
        ("POST", DISPUTE, &dispute),
        Some(&alice),
        Some(&opening),
        409,
    )
    .await;
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/decision"),
            Some(&rita),
            Some(&json!({"decision": "approve", "amount": "100.00", "reason": "worn"})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.drain().await;
    checked(
        &spec,
        &app,
        ("POST", DISPUTE, &dispute),
        Some(&rita),
        Some(&opening),
        403,
    )
    .await;
    checked(
        &spec,
        &app,
        ("GET", DISPUTE, &dispute),
        Some(&alice),
        None,
        404,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", DISPUTE, &dispute),
        Some(&alice),
        Some(&json!({"text": 1})),
        400,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", DISPUTE, &dispute),
        Some(&alice),
        Some(&opening),
        201,
    )
    .await;
    checked(
        &spec,
        &app,
        ("GET", DISPUTE, &dispute),
        Some(&rita),
        None,
        200,
    )
    .await;
    const MESSAGES: &str = "/v1/claims/{claim_id}/dispute/messages";
    checked(
        &spec,
        &app,
        ("POST", MESSAGES, &format!("{dispute}/messages")),
        Some(&rita),
        Some(
            &json!({"kind": "grounds", "text": "Worn collar.", "clause": "no_reason_return_days"}),
        ),
        200,
    )
    .await;
    const PROPOSALS: &str = "/v1/claims/{claim_id}/dispute/proposals";
    checked(
        &spec,
        &app,
        ("POST", PROPOSALS, &format!("{dispute}/proposals")),
        Some(&rita),
        Some(&json!({"resolution": {"kind": "supplementary_refund", "amount": "5.00"}})),
        403,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", PROPOSALS, &format!("{dispute}/proposals")),
        Some(&boss),
        Some(&json!({"resolution": {"kind": "supplementary_refund", "amount": "9999.00"}})),
        422,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", PROPOSALS, &format!("{dispute}/proposals")),
        Some(&boss),
        Some(&json!({"resolution": {"kind": "supplementary_refund", "amount": "5.00"}, "note": "goodwill"})),
        200,
    )
    .await;
    const ACCEPT: &str = "/v1/claims/{claim_id}/dispute/proposals/{n}/accept";
    checked(
        &spec,
        &app,
        ("POST", ACCEPT, &format!("{dispute}/proposals/2/accept")),
        Some(&boss),
        None,
        422,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", ACCEPT, &format!("{dispute}/proposals/9/accept")),
        Some(&alice),
        None,
        409,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", ACCEPT, &format!("{dispute}/proposals/2/accept")),
        Some(&alice),
        None,
        200,
    )
    .await;
    const WITHDRAW: &str = "/v1/claims/{claim_id}/dispute/withdraw";
    checked(
        &spec,
        &app,
        ("POST", WITHDRAW, &format!("{dispute}/withdraw")),
        Some(&alice),
        None,
        409,
    )
    .await;
    app.drain().await;
    checked(
        &spec,
        &app,
        ("GET", "/v1/claims/{claim_id}", &format!("/v1/claims/{id}")),
        Some(&alice),
        None,
        200,
    )
    .await;
    const DESK: &str = "/v1/shops/{shop_id}/desk/disputes";
    let list = checked(
        &spec,
        &app,
        ("GET", DESK, "/v1/shops/shop-1/desk/disputes?status=all"),
        Some(&rita),
        None,
        200,
    )
    .await;
    assert_eq!(list["disputes"].as_array().unwrap().len(), 1);
    checked(
        &spec,
        &app,
        ("GET", DESK, "/v1/shops/shop-1/desk/disputes"),
        Some(&alice),
        None,
        403,
    )
    .await;
    const SLA: &str = "/v1/shops/{shop_id}/reports/sla";
    let today = chrono::Utc::now().date_naive();
    let sla = checked(
        &spec,
        &app,
        (
            "GET",
            SLA,
            &format!("/v1/shops/shop-1/reports/sla?from={today}&to={today}"),
        ),
        Some(&rita),
        None,
        200,
    )
    .await;
    assert_eq!(sla["days"][0]["submitted"], 1, "{sla}");
    checked(
        &spec,
        &app,
        (
            "GET",
            SLA,
            "/v1/shops/shop-1/reports/sla?from=2026-01-02&to=2026-01-01",
        ),
        Some(&rita),
        None,
        422,
    )
    .await;
    const REPORT: &str = "/v1/shops/{shop_id}/reports/disputes";
    checked(
        &spec,
        &app,
        (
            "GET",
            REPORT,
            "/v1/shops/shop-1/reports/disputes?from=2026-01-01&to=2026-01-03",
        ),
        Some(&rita),
        None,
        200,
    )
    .await;
    checked(
        &spec,
        &app,
        (
            "GET",
            REPORT,
            "/v1/shops/shop-1/reports/disputes?from=2026-01-01&to=2026-12-31",
        ),
        Some(&rita),
        None,
        422,
    )
    .await;
}
