//! Real responses of the merchant routes (shop settings and the desk) and
//! of evidence upload URLs match the document's schemas.

use super::helpers::{assert_valid, checked, openapi, response_schema};
use aftersales::auth::StaffRole;
use aftersales_tests::http::{sample_order, spawn_app_at, TestClock};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The merchant routes (shop settings and the desk) and evidence upload
/// URLs, each in success and in its main errors, against the document. The
/// clock is the test's, so ages and deadlines do not depend on the day.
#[tokio::test]
async fn merchant_responses_match_the_openapi_schemas() {
    let spec = openapi();
    let clock = TestClock::at("2026-11-23T10:00:00Z");
    let app = spawn_app_at(Arc::new(aftersales_tests::sqlite_table()), &clock).await;
    let (sf, alice) = (app.storefront("shop-1"), app.customer("cust-100"));
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    let reviewer = app.staff("rev-1", "shop-1", &[StaffRole::Reviewer]);
    let other_admin = app.staff("boss-2", "shop-2", &[StaffRole::Admin]);
    let (admin, reviewer, other_admin) = (
        Some(admin.as_str()),
        Some(reviewer.as_str()),
        Some(other_admin.as_str()),
    );
    let (sf, alice) = (Some(sf.as_str()), Some(alice.as_str()));
    let example = |pointer: &str| -> Value {
        spec.pointer(pointer)
            .unwrap_or_else(|| panic!("openapi: no example at {pointer}"))
            .clone()
    };

    // ---------------------------------------------------------- policy
    const POLICY: &str = "/v1/shops/{shop_id}/policy";
    let policy = "/v1/shops/shop-1/policy";
    let p = checked(&spec, &app, ("GET", POLICY, policy), None, None, 200).await;
    assert_eq!(
        p,
        example("/components/examples/DefaultShopPolicy/value"),
        "a new shop has the default policy"
    );
    checked(
        &spec,
        &app,
        ("GET", POLICY, "/v1/shops/shop%201/policy"),
        None,
        None,
        400,
    )
    .await;
    let new_policy = example(
        "/paths/~1v1~1shops~1{shop_id}~1policy/put/requestBody/content/application~1json/example",
    );
    let put = |token, body: &Value, status| {
        let body = body.clone();
        let (spec, app) = (&spec, &app);
        async move {
            checked(
                spec,
                app,
                ("PUT", POLICY, policy),
                token,
                Some(&body),
                status,
            )
            .await
        }
    };
    put(reviewer, &new_policy, 403).await;
    put(other_admin, &new_policy, 403).await;
    put(None, &new_policy, 401).await;
    let mut bad = new_policy.clone();
    bad["max_claims_per_line"] = json!(0);
    let e = put(admin, &bad, 422).await;
    assert_eq!(e["error"]["code"], "invalid_policy");
    bad["max_claims_per_line"] = json!(3);
    bad["surprise"] = json!(true);
    put(admin, &bad, 400).await;
    assert_eq!(put(admin, &new_policy, 200).await, new_policy);
    let p = checked(&spec, &app, ("GET", POLICY, policy), None, None, 200).await;
    assert_eq!(p, new_policy, "the saved policy is the public one");

    // ---------------------------------------------------------- rejection reasons
    const REASONS: &str = "/v1/shops/{shop_id}/rejection-reasons";
    let reasons = "/v1/shops/shop-1/rejection-reasons";
    let r = checked(&spec, &app, ("GET", REASONS, reasons), None, None, 200).await;
    assert_eq!(r["extras"], json!([]), "{r}");
    checked(
        &spec,
        &app,
        ("GET", REASONS, "/v1/shops/shop%231/rejection-reasons"),
        None,
        None,
        400,
    )
    .await;
    let extras = example(
        "/paths/~1v1~1shops~1{shop_id}~1rejection-reasons/put/requestBody/content/application~1json/example",
    );
    for (token, status) in [(reviewer, 403), (None, 401)] {
        checked(
            &spec,
            &app,
            ("PUT", REASONS, reasons),
            token,
            Some(&extras),
            status,
        )
        .await;
    }
    let builtin_again =
        json!({"extras": [{"code": "other", "text_zh": "其他", "text_en": "Other"}]});
    let e = checked(
        &spec,
        &app,
        ("PUT", REASONS, reasons),
        admin,
        Some(&builtin_again),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_rejection_reasons");
    let r = checked(
        &spec,
        &app,
        ("PUT", REASONS, reasons),
        admin,
        Some(&extras),
        200,
    )
    .await;
    assert_eq!(r["extras"], extras["extras"]);
    let r = checked(&spec, &app, ("GET", REASONS, reasons), None, None, 200).await;
    assert_eq!(
        r,
        example("/components/examples/RejectionReasons/value"),
        "the example is the built-ins plus the PUT example"
    );

    // ---------------------------------------------------------- rules (read)
    const RULES: &str = "/v1/shops/{shop_id}/rules";
    let rules = "/v1/shops/shop-1/rules";
    let r = checked(&spec, &app, ("GET", RULES, rules), reviewer, None, 200).await;
    assert_eq!(
        r,
        example("/components/examples/DefaultRuleSet/value"),
        "a new shop runs the default rule set"
    );
    checked(&spec, &app, ("GET", RULES, rules), alice, None, 403).await;
    checked(&spec, &app, ("GET", RULES, rules), sf, None, 403).await;
    checked(&spec, &app, ("GET", RULES, rules), None, None, 401).await;

    // ---------------------------------------------------------- claims to review
    // Under the default rules: a damaged item without photos waits for
    // evidence, a missing part of a 1200.00 order goes to an admin, a wrong
    // size goes to a person, a small refund is approved.
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-100",
            sf,
            Some(&sample_order("cust-100")),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    let mut big = sample_order("cust-100");
    big["lines"][0]["unit_price"] = json!("600.00");
    big["payments"][0]["amount"] = json!("1213.00");
    let (s, _) = app
        .call("PUT", "/v1/shops/shop-1/orders/o-200", sf, Some(&big), &[])
        .await;
    assert_eq!(s, 201);
    let mut ids = Vec::new();
    let photo = app.upload_evidence("cust-100", "shop-1", true).await;
    for body in [
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "return_refund",
               "reason": "damaged", "lines": [{"line_id": "L1", "quantity": 1}]}),
        json!({"shop_id": "shop-1", "order_id": "o-200", "type": "special_claim",
               "kind": "missing_item", "reason": "missing_parts", "evidence": [photo],
               "lines": [{"line_id": "L1", "quantity": 1}]}),
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "return_refund",
               "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 1}]}),
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "refund_only",
               "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}),
    ] {
        let (s, c) = app
            .call("POST", "/v1/claims", alice, Some(&body), &[])
            .await;
        assert_eq!(s, 201, "{c}");
        ids.push(c["claim_id"].as_str().expect("claim_id").to_string());
    }
    let [damaged, missing, wrong_size, small] = <[String; 4]>::try_from(ids).unwrap();
    assert!(app.drain().await >= 4);
    clock.advance_hours(5);

    // ---------------------------------------------------------- evidence upload URLs
    const UPLOADS: &str = "/v1/claims/{claim_id}/evidence-uploads";
    let uploads = format!("/v1/claims/{damaged}/evidence-uploads");
    let jpeg = json!({"content_type": "image/jpeg", "content_length": 482113});
    let t = checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&jpeg),
        201,
    )
    .await;
    assert!(
        t["evidence_key"]
            .as_str()
            .is_some_and(|k| k.starts_with(&format!("evidence/{damaged}/"))),
        "{t}"
    );
    checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        reviewer,
        Some(&jpeg),
        403,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", UPLOADS, "/v1/claims/clm_nope/evidence-uploads"),
        alice,
        Some(&jpeg),
        404,
    )
    .await;
    let pdf = json!({"content_type": "application/pdf", "content_length": 1000});
    let e = checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&pdf),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "unsupported_content_type");
    checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&json!({"content_type": "image/jpeg"})),
        400,
    )
    .await;

    // ---------------------------------------------------------- the queue
    const QUEUE: &str = "/v1/shops/{shop_id}/desk/claims";
    let q = checked(
        &spec,
        &app,
        ("GET", QUEUE, "/v1/shops/shop-1/desk/claims"),
        reviewer,
        None,
        200,
    )
    .await;
    let statuses: BTreeMap<&str, &str> = q["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .map(|c| {
            (
                c["claim_id"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        BTreeMap::from([
            (damaged.as_str(), "awaiting_evidence"),
            (missing.as_str(), "second_review"),
            (wrong_size.as_str(), "under_review"),
        ]),
        "the waiting claims: {q}"
    );
    let counted: u64 = q["counts"]
        .as_object()
        .expect("counts")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(counted, 4, "counts cover every claim of the shop: {q}");
    assert_eq!(q["claims"][0]["age_hours"], 5, "{q}");
    let page = checked(
        &spec,
        &app,
        (
            "GET",
            QUEUE,
            "/v1/shops/shop-1/desk/claims?limit=1&type=return_refund",
        ),
        reviewer,
        None,
        200,
    )
    .await;
    assert_eq!(page["total"], 2, "{page}");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    checked(
        &spec,
        &app,
        (
            "GET",
            QUEUE,
            &format!("/v1/shops/shop-1/desk/claims?limit=1&type=return_refund&cursor={cursor}"),
        ),
        reviewer,
        None,
        200,
    )
    .await;
    let q = checked(
        &spec,
        &app,
        (
            "GET",
            QUEUE,
            "/v1/shops/shop-1/desk/claims?status=second_review&product_kind=physical\
             &evidence_complete=true&min_amount=500&max_amount=600.00&min_age_hours=5\
             &member_tier=gold&escalated=false",
        ),
        reviewer,
        None,
        200,
    )
    .await;
    assert_eq!(q["total"], 1, "every filter at once: {q}");
    for bad in [
        "?colour=red",
        "?limit=abc",
        "?escalated=yes",
        "?status=pending",
    ] {
        let path = format!("/v1/shops/shop-1/desk/claims{bad}");
        let e = checked(&spec, &app, ("GET", QUEUE, &path), reviewer, None, 400).await;
        assert_eq!(e["error"]["code"], "invalid_query", "{bad}: {e}");
    }
    // Amounts in a query are read like amounts anywhere else.
    for bad in ["?min_amount=lots", "?max_amount=1e3", "?min_amount=-5"] {
        let path = format!("/v1/shops/shop-1/desk/claims{bad}");
        let e = checked(&spec, &app, ("GET", QUEUE, &path), reviewer, None, 400).await;
        assert_eq!(e["error"]["code"], "invalid_amount", "{bad}: {e}");
        assert!(
            e["error"]["field"].as_str().unwrap().ends_with("_amount"),
            "{e}"
        );
    }
    for bad in ["?limit=0", "?limit=201", "?cursor=nonsense"] {
        let path = format!("/v1/shops/shop-1/desk/claims{bad}");
        checked(&spec, &app, ("GET", QUEUE, &path), reviewer, None, 422).await;
    }
    let queue = "/v1/shops/shop-1/desk/claims";
    for (token, status) in [(alice, 403), (sf, 403), (other_admin, 403), (None, 401)] {
        checked(&spec, &app, ("GET", QUEUE, queue), token, None, status).await;
    }

    // ---------------------------------------------------------- one claim
    const DETAIL: &str = "/v1/shops/{shop_id}/desk/claims/{claim_id}";
    let detail = format!("/v1/shops/shop-1/desk/claims/{missing}");
    let d = checked(&spec, &app, ("GET", DETAIL, &detail), reviewer, None, 200).await;
    assert_eq!(
        (&d["claim"]["claim_id"], &d["order"]["order_id"]),
        (&json!(missing), &json!("o-200")),
        "{d}"
    );
    checked(
        &spec,
        &app,
        ("GET", DETAIL, "/v1/shops/shop-1/desk/claims/clm_nope"),
        reviewer,
        None,
        404,
    )
    .await;
    checked(&spec, &app, ("GET", DETAIL, &detail), alice, None, 403).await;
    checked(&spec, &app, ("GET", DETAIL, &detail), None, None, 401).await;

    // ---------------------------------------------------------- decisions
    const DECIDE: &str = "/v1/shops/{shop_id}/desk/claims/{claim_id}/decision";
    let decide = |id: &str| format!("/v1/shops/shop-1/desk/claims/{id}/decision");
    let call = |path: String, token, body: Value, status| {
        let (spec, app) = (&spec, &app);
        async move {
            checked(
                spec,
                app,
                ("POST", DECIDE, &path),
                token,
                Some(&body),
                status,
            )
            .await
        }
    };
    let e = call(
        decide(&missing),
        reviewer,
        json!({"decision": "approve"}),
        403,
    )
    .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("second review")),
        "{e}"
    );
    call(
        decide(&missing),
        reviewer,
        json!({"decision": "maybe"}),
        400,
    )
    .await;
    call(
        decide(&missing),
        reviewer,
        json!({"decision": "reject", "reason": "other", "note": "x"}),
        400,
    )
    .await;
    for (body, code) in [
        (
            json!({"decision": "reject", "reason": "nah"}),
            "unknown_rejection_reason",
        ),
        (
            json!({"decision": "request_evidence", "note": " "}),
            "invalid_decision",
        ),
        (
            json!({"decision": "approve", "amount": "1000.00"}),
            "invalid_claim",
        ),
    ] {
        let e = call(decide(&wrong_size), reviewer, body, 422).await;
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    // An amount that is not money in the claim's currency is unreadable.
    let e = call(
        decide(&wrong_size),
        reviewer,
        json!({"decision": "approve", "amount": "1.001"}),
        400,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_amount", "{e}");
    assert_eq!(e["error"]["field"], "amount", "{e}");
    let c = call(
        decide(&wrong_size),
        reviewer,
        json!({"decision": "approve", "amount": "50.00", "reason": "Only one sleeve"}),
        200,
    )
    .await;
    assert_eq!(
        (&c["status"], &c["approved_amount"]),
        (
            &json!("awaiting_return"),
            &json!({"amount": "50.00", "currency": "CNY"})
        )
    );
    let e = call(
        decide(&wrong_size),
        reviewer,
        json!({"decision": "reject", "reason": "other"}),
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "illegal_transition");
    let c = call(decide(&missing), admin, json!({"decision": "approve"}), 200).await;
    assert_eq!(c["status"], "refunding", "money goes back at once: {c}");
    call(
        decide("clm_nope"),
        reviewer,
        json!({"decision": "approve"}),
        404,
    )
    .await;
    call(decide(&damaged), alice, json!({"decision": "approve"}), 403).await;
    call(decide(&damaged), None, json!({"decision": "approve"}), 401).await;
    for ex in ["approve", "reject", "request_evidence", "second_review"] {
        let body = example(&format!(
            "/paths/~1v1~1shops~1{{shop_id}}~1desk~1claims~1{{claim_id}}~1decision/post/requestBody/content/application~1json/examples/{ex}/value"
        ));
        let path = decide("clm_nope");
        let (status, got) = app.call("POST", &path, reviewer, Some(&body), &[]).await;
        assert_eq!(status, 404, "the {ex} example is a decision: {got}");
    }

    // ---------------------------------------------------------- batch
    const BATCH: &str = "/v1/shops/{shop_id}/desk/batch";
    let batch = "/v1/shops/shop-1/desk/batch";
    let body = json!({"decision": "reject", "reason": "seal_broken",
                      "claim_ids": [damaged, small, "clm_nope", damaged]});
    let r = checked(
        &spec,
        &app,
        ("POST", BATCH, batch),
        reviewer,
        Some(&body),
        200,
    )
    .await;
    assert_eq!((&r["decided"], &r["failed"]), (&json!(1), &json!(2)), "{r}");
    let codes: Vec<&Value> = r["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| {
            if x["ok"] == true {
                &x["status"]
            } else {
                &x["error"]["code"]
            }
        })
        .collect();
    assert_eq!(
        codes,
        [
            &json!("rejected"),
            &json!("illegal_transition"),
            &json!("not_found")
        ],
        "in the order given, repeats once: {r}"
    );
    for (body, status, code) in [
        (json!({"decision": "approve"}), 422, "invalid_batch"),
        (
            json!({"decision": "approve", "claim_ids": []}),
            422,
            "invalid_batch",
        ),
        (
            json!({"decision": "reject", "claim_ids": [small]}),
            422,
            "invalid_batch",
        ),
        (
            json!({"decision": "reject", "reason": "because", "claim_ids": [small]}),
            422,
            "unknown_rejection_reason",
        ),
        (
            json!({"decision": "maybe", "claim_ids": [small]}),
            400,
            "malformed_json",
        ),
        (
            json!({"decision": "approve", "filter": {"min_age_hours": "3"}}),
            400,
            "malformed_json",
        ),
    ] {
        let e = checked(
            &spec,
            &app,
            ("POST", BATCH, batch),
            reviewer,
            Some(&body),
            status,
        )
        .await;
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
    }
    let by_filter = example(
        "/paths/~1v1~1shops~1{shop_id}~1desk~1batch/post/requestBody/content/application~1json/examples/by_filter/value",
    );
    let e = checked(
        &spec,
        &app,
        ("POST", BATCH, batch),
        reviewer,
        Some(&by_filter),
        200,
    )
    .await;
    assert_eq!(
        (&e["decided"], &e["failed"], &e["results"]),
        (&json!(0), &json!(0), &json!([])),
        "the filter selects nothing: {e}"
    );
    checked(&spec, &app, ("POST", BATCH, batch), alice, Some(&body), 403).await;
    checked(&spec, &app, ("POST", BATCH, batch), None, Some(&body), 401).await;
    // A rejected claim takes no more evidence.
    let e = checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&jpeg),
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "claim_closed_for_evidence", "{e}");

    // ---------------------------------------------------------- rules (write)
    let new_rules = example(
        "/paths/~1v1~1shops~1{shop_id}~1rules/put/requestBody/content/application~1json/example",
    );
    for (token, status) in [(reviewer, 403), (None, 401)] {
        checked(
            &spec,
            &app,
            ("PUT", RULES, rules),
            token,
            Some(&new_rules),
            status,
        )
        .await;
    }
    let broken = json!({"rules": [
        {"id": "a", "when": {"amount": {"lessthan": "5"}}, "then": {"decision": "approve"}},
        {"id": "b", "then": {"decision": "manual_review"}},
        {"id": "c", "when": {"colour": {"eq": "red"}}, "then": {"decision": "reject", "reason": "nope"}}
    ]});
    let e = checked(
        &spec,
        &app,
        ("PUT", RULES, rules),
        admin,
        Some(&broken),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_rules");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    for part in [
        "rules[0].when.amount",
        "rules[2].when",
        "rules[2].then.reason",
    ] {
        assert!(
            message.contains(part),
            "every problem is named ({part}): {message}"
        );
    }
    let (status, e) = app
        .raw(
            "PUT",
            rules,
            admin.unwrap(),
            "application/json",
            b"{\"rules\": [".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert_valid(
        &spec,
        response_schema(&spec, "PUT", RULES, 400),
        &e,
        "PUT rules → 400",
    );
    let r = checked(
        &spec,
        &app,
        ("PUT", RULES, rules),
        admin,
        Some(&new_rules),
        200,
    )
    .await;
    assert_eq!(
        (&r["version"], &r["rules"][1]["description"]),
        (&json!(1), &json!("")),
        "{r}"
    );
    let mut sent_back = r.clone();
    sent_back["rules"][0]["then"]["reason"] = json!("seal_broken");
    let r = checked(
        &spec,
        &app,
        ("PUT", RULES, rules),
        admin,
        Some(&sent_back),
        200,
    )
    .await;
    assert_eq!(r["version"], 2, "the version sent is ignored: {r}");
    let r = checked(&spec, &app, ("GET", RULES, rules), reviewer, None, 200).await;
    assert_eq!(r["rules"][0]["then"]["reason"], "seal_broken");
    // The active rules reject with seal_broken: it cannot go.
    let e = checked(
        &spec,
        &app,
        ("PUT", REASONS, reasons),
        admin,
        Some(&json!({})),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "reason_in_use", "{e}");
}
