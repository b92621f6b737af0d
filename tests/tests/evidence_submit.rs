//! Evidence named in a claim is real: the customer's own finished uploads
//! for the same shop, each on one claim, within the shop's limits (type,
//! size and the seed's "up to 9 photos"), at upload and at submission; and
//! the per-line claim cap. Over HTTP, on both engines. Every refusal
//! changes nothing.

use aftersales::store::Table;
use aftersales_tests::http::{sample_order, spawn_app, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;

async fn app_on(engine: &str) -> TestApp {
    let table: Arc<dyn Table> = match engine {
        "sqlite" => Arc::new(aftersales_tests::sqlite_table()),
        _ => Arc::new(aftersales_tests::dynamo_table_without_stream().await),
    };
    spawn_app(table).await
}

/// Asks for an upload URL; `put` says whether to upload the file too.
async fn upload(app: &TestApp, customer: &str, shop: &str, put: bool) -> String {
    app.upload_evidence(customer, shop, put).await
}

fn claim(evidence: &[String]) -> Value {
    json!({"shop_id": "shop-1", "order_id": "o-1", "type": "return_refund",
           "reason": "defective", "description": "torn sleeve", "evidence": evidence,
           "lines": [{"line_id": "L1", "quantity": 1}]})
}

async fn submit(app: &TestApp, customer: &str, body: &Value) -> (u16, Value) {
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer(customer)),
        Some(body),
        &[],
    )
    .await
}

async fn claim_count(app: &TestApp, customer: &str) -> usize {
    let (_, v) = app
        .call(
            "GET",
            "/v1/claims",
            Some(&app.customer(customer)),
            None,
            &[],
        )
        .await;
    v["claims"].as_array().unwrap().len()
}

async fn evidence_must_be_the_customers_finished_uploads(engine: &str) {
    let app = app_on(engine).await;
    app.push_order("o-1", &sample_order("alice")).await;

    let mine = upload(&app, "alice", "shop-1", true).await;
    let bobs = upload(&app, "bob", "shop-1", true).await;
    let other_shop = upload(&app, "alice", "shop-2", true).await;
    let not_landed = upload(&app, "alice", "shop-1", false).await;
    let refusals = [
        ("bob's upload", bobs.clone()),
        ("an upload for another shop", other_shop),
        ("a URL asked for but nothing uploaded", not_landed),
        (
            "a key never handed out",
            "evidence/upl_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa/f.jpg".to_owned(),
        ),
        ("free text", "upload/123.jpg".to_owned()),
        ("a claim's own key", "evidence/clm_1/x.jpg".to_owned()),
    ];
    for (what, key) in refusals {
        let (s, e) = submit(&app, "alice", &claim(std::slice::from_ref(&key))).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (422, Some("unknown_evidence")),
            "{what}: {e}"
        );
        assert!(
            !e.to_string().contains("bob"),
            "{what}: nothing of bob's: {e}"
        );
    }
    assert_eq!(claim_count(&app, "alice").await, 0, "nothing was written");

    // Her own finished upload is carried.
    let (s, c) = submit(&app, "alice", &claim(std::slice::from_ref(&mine))).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["evidence"], json!([mine]));
    // Once: another claim cannot name it.
    let mut again = claim(std::slice::from_ref(&mine));
    again["lines"] = json!([{"line_id": "L2", "quantity": 1}]);
    let (s, e) = submit(&app, "alice", &again).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("unknown_evidence")),
        "{e}"
    );
    // Named twice in one claim.
    let fresh = upload(&app, "alice", "shop-1", true).await;
    again["evidence"] = json!([fresh, fresh]);
    let (s, e) = submit(&app, "alice", &again).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("unknown_evidence")),
        "{e}"
    );
    assert_eq!(claim_count(&app, "alice").await, 1);
    // Bob's upload is still his to use.
    assert!(bobs.starts_with("evidence/upl_"));
}

async fn the_policy_limits_hold_at_upload_and_at_submission(engine: &str) {
    let app = app_on(engine).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let alice = app.customer("alice");
    for (body, code) in [
        (
            json!({"shop_id": "shop-1", "content_type": "application/pdf", "content_length": 10}),
            "unsupported_content_type",
        ),
        (
            json!({"shop_id": "shop-1", "content_type": "image/jpeg", "content_length": 11 << 20}),
            "evidence_too_large",
        ),
        (
            json!({"shop_id": "shop-1", "content_type": "image/jpeg", "content_length": 0}),
            "evidence_too_large",
        ),
        (
            json!({"shop_id": "a#b", "content_type": "image/jpeg", "content_length": 10}),
            "invalid_request",
        ),
    ] {
        let (s, e) = app
            .call(
                "POST",
                "/v1/evidence-uploads",
                Some(&alice),
                Some(&body),
                &[],
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}: {e}"
        );
    }
    // Staff and storefronts do not upload a customer's evidence.
    let staff = app.staff("st-1", "shop-1", &[aftersales::auth::StaffRole::Admin]);
    let (s, _) = app
        .call(
            "POST",
            "/v1/evidence-uploads",
            Some(&staff),
            Some(&json!({"shop_id": "shop-1", "content_type": "image/jpeg", "content_length": 10})),
            &[],
        )
        .await;
    assert_eq!(s, 403);

    // Thousands of made-up keys are refused by their count, before any is
    // looked up.
    let many: Vec<String> = (0..4000)
        .map(|n| format!("evidence/upl_{n:020}/f.jpg"))
        .collect();
    let (s, e) = submit(&app, "alice", &claim(&many)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("evidence_limit_reached")),
        "{e}"
    );

    // "Up to 9 photos": ten are refused, nine are carried.
    let mut keys = Vec::new();
    for _ in 0..10 {
        keys.push(upload(&app, "alice", "shop-1", true).await);
    }
    let (s, e) = submit(&app, "alice", &claim(&keys)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("evidence_limit_reached")),
        "{e}"
    );
    assert_eq!(claim_count(&app, "alice").await, 0);
    let (s, c) = submit(&app, "alice", &claim(&keys[..9])).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["evidence"].as_array().unwrap().len(), 9);

    // A shop that tightens its limits refuses what no longer fits, even
    // though it landed before.
    let late = upload(&app, "alice", "shop-1", true).await;
    let (_, policy) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    let mut policy = policy;
    policy["evidence"]["content_types"] = json!(["image/png"]);
    if let Some(o) = policy.as_object_mut() {
        o.remove("version");
        o.remove("shop_id");
    }
    let (s, e) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/policy",
            Some(&staff),
            Some(&policy),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{e}");
    let mut body = claim(&[late]);
    body["lines"] = json!([{"line_id": "L2", "quantity": 1}]);
    let (s, e) = submit(&app, "alice", &body).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("evidence_not_accepted")),
        "{e}"
    );
    assert_eq!(claim_count(&app, "alice").await, 1);
}

async fn a_line_takes_at_most_the_policys_claims(engine: &str) {
    let app = app_on(engine).await;
    app.push_order("o-1", &sample_order("alice")).await;
    let (_, policy) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    let cap = policy["max_claims_per_line"].as_u64().unwrap();
    assert_eq!(cap, 3, "the default policy");
    let body = json!({"shop_id": "shop-1", "order_id": "o-1", "type": "return_refund",
                      "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 1}]});
    // File and withdraw up to the cap: each withdrawal frees the unit,
    // but the line remembers how often it was claimed.
    for n in 0..cap {
        let (s, c) = submit(&app, "alice", &body).await;
        assert_eq!(s, 201, "claim {n}: {c}");
        let id = c["claim_id"].as_str().unwrap();
        let (s, c) = app
            .call(
                "POST",
                &format!("/v1/claims/{id}/cancel"),
                Some(&app.customer("alice")),
                None,
                &[],
            )
            .await;
        assert_eq!(s, 200, "{c}");
    }
    let (s, e) = submit(&app, "alice", &body).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("claim_limit_reached")),
        "{e}"
    );
    assert_eq!(
        claim_count(&app, "alice").await,
        cap as usize,
        "nothing written"
    );
    // Another line is not affected.
    let mut other = body.clone();
    other["lines"] = json!([{"line_id": "L2", "quantity": 1}]);
    let (s, e) = submit(&app, "alice", &other).await;
    assert_eq!(s, 201, "{e}");
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name("sqlite").await } )* }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("dynamodb").await } )* }
    };
}

on_both_engines!(
    evidence_must_be_the_customers_finished_uploads,
    the_policy_limits_hold_at_upload_and_at_submission,
    a_line_takes_at_most_the_policys_claims,
);
