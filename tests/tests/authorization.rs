//! Every route of `infra/openapi.yaml`, walked as every kind of caller that
//! is not its owner: another customer, the other shop's staff (every
//! role) and storefront, and each role of the right shop. Nobody learns
//! anything of another tenant: an outsider gets 401, 403 or 404 (never a
//! 400 for a body they had no right to send, never another tenant's data),
//! and a role the route does not allow gets 403 before its body is read.
//!
//! The routes come from the OpenAPI document, so a new route is walked
//! without touching this file; its expectations come from what each route
//! is documented to be for (`security` and its 403/404 answers), not from
//! the router's own access table.

use aftersales::auth::StaffRole;
use aftersales_tests::http::{sample_order, spawn_app, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;

const SHOP: &str = "shop-1";
const OTHER_SHOP: &str = "shop-2";
/// What identifies tenant A; none of it may appear in an outsider's answer.
const ALICE: &str = "alice-7d1e";
const ALICE_PHONE: &str = "13800138000";
const ORDER: &str = "o-secret-4711";

struct Walk {
    app: TestApp,
    claim_id: String,
    message_id: String,
}

async fn setup() -> Walk {
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    let mut order = sample_order(ALICE);
    order["customer_phone"] = json!(format!("+86{ALICE_PHONE}"));
    app.push_order(ORDER, &order).await;
    let alice = app.customer(ALICE);
    let (s, claim) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&alice),
            Some(
                &json!({"shop_id": SHOP, "order_id": ORDER, "type": "return_refund",
                         "reason": "defective", "description": "broken",
                         "lines": [{"line_id": "L2", "quantity": 1}]}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{claim}");
    app.drain().await;
    let (_, inbox) = app.call("GET", "/v1/inbox", Some(&alice), None, &[]).await;
    let message_id = inbox["messages"][0]["message_id"]
        .as_str()
        .unwrap_or_else(|| panic!("alice has a message: {inbox}"))
        .to_owned();
    Walk {
        claim_id: claim["claim_id"].as_str().unwrap().to_owned(),
        message_id,
        app,
    }
}

/// (method, path template, operation) for every operation in the spec.
fn operations() -> Vec<(String, String, Value)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("infra/openapi.yaml")).expect("openapi");
    let spec: Value = serde_yaml::from_str(&text).expect("openapi parses");
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    assert!(out.len() > 30, "the spec lists the API: {}", out.len());
    out
}

fn concrete(w: &Walk, path: &str) -> String {
    path.replace("{shop_id}", SHOP)
        .replace("{order_id}", ORDER)
        .replace("{claim_id}", &w.claim_id)
        .replace("{message_id}", &w.message_id)
        .replace("{provider}", "sandbox")
}

fn public(op: &Value) -> bool {
    op["security"] == json!([])
}

/// A body that the route's own example (or an empty object) gives, and one
/// that no route accepts.
fn bodies(op: &Value) -> Vec<Value> {
    if op.get("requestBody").is_none() {
        return vec![Value::Null];
    }
    let content = &op["requestBody"]["content"]["application/json"];
    let example = content
        .get("example")
        .cloned()
        .or_else(|| {
            content["examples"]
                .as_object()
                .and_then(|m| m.values().next())
                .map(|e| e["value"].clone())
        })
        .unwrap_or_else(|| json!({}));
    vec![
        example,
        json!({"amount": "not money", "lines": "nonsense", "decision": 7}),
    ]
}

fn leaks(body: &Value) -> Option<&'static str> {
    let text = body.to_string();
    [ALICE, ALICE_PHONE, ORDER]
        .into_iter()
        .find(|secret| text.contains(secret))
}

/// Routes where any signed-in caller of the right kind is served, each
/// seeing only their own (their claims, inbox, balance, points, coupons) or naming in the
/// body what they act on (a claim's order).
fn self_scoped(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("GET", "/v1/claims")
            | ("GET", "/v1/inbox")
            | ("POST", "/v1/claims")
            | ("POST", "/v1/claims/quote")
            | ("POST", "/v1/evidence-uploads")
            | ("GET", "/v1/shops/{shop_id}/balance")
            | ("GET", "/v1/shops/{shop_id}/points")
            | ("GET", "/v1/shops/{shop_id}/coupons")
    )
}

async fn send(w: &Walk, method: &str, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let body = (!body.is_null()).then_some(body);
    w.app
        .call(
            method,
            url,
            Some(token),
            body,
            &[("idempotency-key", "walk-1")],
        )
        .await
}

#[tokio::test]
async fn outsiders_learn_nothing_of_another_tenant() {
    let w = setup().await;
    let app = &w.app;
    let all_roles = [StaffRole::Reviewer, StaffRole::Admin, StaffRole::Finance];
    let outsiders = [
        ("customer B", app.customer("bob-0b2c")),
        (
            "other shop's staff",
            app.staff("st-9", OTHER_SHOP, &all_roles),
        ),
        ("other shop's storefront", app.storefront(OTHER_SHOP)),
    ];
    let mut walked = 0;
    for (method, path, op) in operations() {
        if public(&op) {
            continue;
        }
        let url = concrete(&w, &path);
        for (who, token) in &outsiders {
            for body in bodies(&op) {
                let (status, answer) = send(&w, &method, &url, token, &body).await;
                walked += 1;
                if let Some(secret) = leaks(&answer) {
                    panic!("{who}: {method} {path} shows {secret:?}: {answer}");
                }
                if self_scoped(&method, &path) {
                    assert!(status < 500, "{who}: {method} {path} → {status} {answer}");
                    continue;
                }
                assert!(
                    [401, 403, 404].contains(&status),
                    "{who}: {method} {path} with {body} → {status} {answer}: an outsider is refused before the body is read"
                );
                assert!(
                    answer["error"]["code"].is_string(),
                    "{who}: {method} {path}: the error shape: {answer}"
                );
            }
        }
    }
    assert!(walked > 100, "walked {walked} requests");
    // Nothing an outsider sent changed Alice's claim.
    let claim = app.claim_of(ALICE, &w.claim_id).await;
    assert_eq!(claim["status"], "under_review", "{claim}");
}

/// The answer each caller of the right shop gets: which roles a route is
/// documented for is read from its 403 answer's description.
#[tokio::test]
async fn the_right_shop_gets_in_only_with_the_right_role() {
    let w = setup().await;
    let app = &w.app;
    let callers = [
        ("customer A", app.customer(ALICE), "customer"),
        ("storefront", app.storefront(SHOP), "storefront"),
        (
            "reviewer",
            app.staff("st-r", SHOP, &[StaffRole::Reviewer]),
            "reviewer",
        ),
        (
            "finance",
            app.staff("st-f", SHOP, &[StaffRole::Finance]),
            "finance",
        ),
        (
            "admin",
            app.staff("st-a", SHOP, &[StaffRole::Admin]),
            "admin",
        ),
    ];
    for (method, path, op) in operations() {
        if public(&op) {
            continue;
        }
        let url = concrete(&w, &path);
        let forbidden_text = op["responses"]["403"]["description"]
            .as_str()
            .or_else(|| {
                op["responses"]["403"]["$ref"]
                    .as_str()
                    .map(|_| "documented by reference")
            })
            .unwrap_or("");
        let shop_route = path.starts_with("/v1/shops/{shop_id}") && !self_scoped(&method, &path);
        for (who, token, kind) in &callers {
            // The body no route accepts: whoever is refused is refused
            // before it is read.
            let garbage = json!({"amount": "not money", "lines": "nonsense", "decision": 7});
            let body = (op.get("requestBody").is_some()).then_some(&garbage);
            let (status, answer) = app
                .call(
                    &method,
                    &url,
                    Some(token),
                    body,
                    &[("idempotency-key", "walk-2")],
                )
                .await;
            assert!(status < 500, "{who}: {method} {path} → {status} {answer}");
            assert_ne!(status, 401, "{who}: {method} {path}: signed in: {answer}");
            if shop_route && *kind == "customer" {
                assert_eq!(
                    status, 403,
                    "{who}: {method} {path}: a customer is not the shop: {answer}"
                );
            }
            if status == 403 {
                assert!(
                    !forbidden_text.is_empty(),
                    "{who}: {method} {path} answers 403 but documents no 403: {answer}"
                );
            }
        }
    }
    // The role checks that matter most, stated outright.
    let admin_only = [
        ("PUT", format!("/v1/shops/{SHOP}/policy")),
        ("PUT", format!("/v1/shops/{SHOP}/rules")),
        ("PUT", format!("/v1/shops/{SHOP}/rejection-reasons")),
    ];
    let reviewer = app.staff("st-r", SHOP, &[StaffRole::Reviewer]);
    let finance = app.staff("st-f", SHOP, &[StaffRole::Finance]);
    let storefront = app.storefront(SHOP);
    for (method, url) in &admin_only {
        for (who, t) in [
            ("reviewer", &reviewer),
            ("finance", &finance),
            ("storefront", &storefront),
        ] {
            let (s, b) = app
                .call(method, url, Some(t), Some(&json!({"not": "valid"})), &[])
                .await;
            assert_eq!(
                s, 403,
                "{who} {method} {url}: refused before the body is read: {b}"
            );
        }
    }
    let money = [
        ("POST", format!("/v1/shops/{SHOP}/orders/{ORDER}/refunds")),
        (
            "GET",
            format!("/v1/shops/{SHOP}/refunds/export?month=2026-11"),
        ),
        (
            "POST",
            format!("/v1/shops/{SHOP}/desk/claims/{}/refund-retry", w.claim_id),
        ),
    ];
    for (method, url) in &money {
        let body = (*method == "POST").then(|| json!({"nonsense": true}));
        let (s, b) = app
            .call(
                method,
                url,
                Some(&reviewer),
                body.as_ref(),
                &[("idempotency-key", "k")],
            )
            .await;
        assert_eq!(s, 403, "a reviewer moves no money: {method} {url}: {b}");
    }
}

#[tokio::test]
async fn someone_elses_claim_is_the_same_404_as_no_claim() {
    let w = setup().await;
    let app = &w.app;
    let bob = app.customer("bob-0b2c");
    let upload = json!({"content_type": "image/jpeg", "content_length": 1000});
    let theirs = format!("/v1/claims/{}/evidence-uploads", w.claim_id);
    let missing = "/v1/claims/clm_00000000000000000000000000000000/evidence-uploads";
    let (s1, b1) = app
        .call("POST", &theirs, Some(&bob), Some(&upload), &[])
        .await;
    let (s2, b2) = app
        .call("POST", missing, Some(&bob), Some(&upload), &[])
        .await;
    assert_eq!((s1, &b1), (s2, &b2), "theirs vs none");
    assert_eq!(s1, 404);
    // A bad body changes nothing about that.
    let (s3, b3) = app
        .call(
            "POST",
            &theirs,
            Some(&bob),
            Some(&json!({"content_type": 5})),
            &[],
        )
        .await;
    assert_eq!((s3, &b3), (s2, &b2), "bad body on someone else's claim");
    // The desk's claim routes: another shop's claim is a 404 before the
    // body is read, as a missing one is.
    let other_staff = app.staff("st-9", OTHER_SHOP, &[StaffRole::Admin]);
    for action in ["decision", "inspection", "replacement", "refund-retry"] {
        for body in [json!({"nonsense": true}), json!({"decision": "approve"})] {
            let (s, b) = app
                .call(
                    "POST",
                    &format!("/v1/shops/{OTHER_SHOP}/desk/claims/{}/{action}", w.claim_id),
                    Some(&other_staff),
                    Some(&body),
                    &[],
                )
                .await;
            assert_eq!(s, 404, "{action} with {body}: {b}");
            assert_eq!(b["error"]["message"], "claim not found", "{action}: {b}");
        }
    }
    for action in ["cancel", "return-shipment", "pickup"] {
        let (s, b) = app
            .call(
                "POST",
                &format!("/v1/claims/{}/{action}", w.claim_id),
                Some(&bob),
                Some(&json!({})),
                &[],
            )
            .await;
        assert_eq!(s, 404, "{action}: {b}");
        assert_eq!(b["error"]["message"], "claim not found", "{action}: {b}");
    }
}
