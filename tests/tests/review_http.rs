//! Review over HTTP, on both engines: the shop's rules decide claims (approve,
//! reject with a reason, second review by an admin, ask for evidence),
//! evidence arrives through an upload URL and the claim is decided again,
//! staff work their queue and decide 200 claims in one batch, and review
//! deadlines escalate or approve overdue claims. The clock is the test's, so
//! the time-based rules do not drift with the calendar.

use aftersales::auth::StaffRole;
use aftersales::store::Table;
use aftersales_tests::http::{sample_order, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};
use std::sync::Arc;

/// Two days after the sample order shipped.
const NOW: &str = "2026-11-23T10:00:00Z";

async fn app_on(engine: &str) -> (TestApp, TestClock) {
    let table: Arc<dyn Table> = match engine {
        "sqlite" => Arc::new(aftersales_tests::sqlite_table()),
        // The outbox is drained by hand here, so the stream is not needed,
        // and moto slows down badly with it (see the function's doc).
        _ => Arc::new(aftersales_tests::dynamo_table_without_stream().await),
    };
    let clock = TestClock::at(NOW);
    (spawn_app_at(table, &clock).await, clock)
}

async fn push(app: &TestApp, order_id: &str, order: &Value) {
    app.push_order(order_id, order).await
}

/// An order of one line of `quantity` units at `price` each.
fn order_of(customer: &str, price: &str, quantity: u32, lines: usize) -> Value {
    let mut o = sample_order(customer);
    let unit: rust_decimal::Decimal = price.parse().unwrap();
    let ls: Vec<Value> = (1..=lines)
        .map(|i| {
            json!({"line_id": format!("L{i}"), "sku": format!("SKU-{i}"), "title": "Jacket",
                   "kind": "physical", "quantity": quantity, "unit_price": price})
        })
        .collect();
    let total = unit * rust_decimal::Decimal::from(quantity) * rust_decimal::Decimal::from(lines);
    o["lines"] = json!(ls);
    o["order_discount"] = json!("0.00");
    o["shipping_fee"] = json!("0.00");
    o["payments"][0]["amount"] = json!(total.to_string());
    o
}

async fn submit(app: &TestApp, customer: &str, body: Value) -> Value {
    let (s, v) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer(customer)),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v
}

fn claim(order: &str, kind: &str, reason: &str, lines: Value) -> Value {
    json!({"shop_id": "shop-1", "order_id": order, "type": kind, "reason": reason, "lines": lines})
}

async fn get(app: &TestApp, customer: &str, claim_id: &str) -> Value {
    app.claim_of(customer, claim_id).await
}

fn last_event(c: &Value) -> &Value {
    c["timeline"].as_array().unwrap().last().unwrap()
}

fn admin(app: &TestApp) -> String {
    app.staff("boss", "shop-1", &[StaffRole::Admin])
}

fn reviewer(app: &TestApp) -> String {
    app.staff("rev-1", "shop-1", &[StaffRole::Reviewer])
}

/// A shop rule set: one rejection rule of the shop's own, then the defaults.
async fn install_rules(app: &TestApp) -> Value {
    let (s, defaults) = app
        .call(
            "GET",
            "/v1/shops/shop-1/rules",
            Some(&reviewer(app)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{defaults}");
    assert_eq!(defaults["version"], 0, "a new shop runs the default set");
    let mut rules = vec![json!({
        "id": "no-reason-after-delivery-window",
        "description": "no-reason returns outside the window",
        "when": {"reason": {"eq": "no_longer_wanted"}, "within_policy_window": {"eq": false}},
        "then": {"decision": "reject", "reason": "outside_return_window"}
    })];
    rules.extend(defaults["rules"].as_array().unwrap().iter().cloned());
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/rules",
            Some(&admin(app)),
            Some(&json!({ "rules": rules })),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 1);
    v
}

async fn rules_decide_claims(engine: &str) {
    let (app, _clock) = app_on(engine).await;
    install_rules(&app).await;

    // Small return inside the window: approved by the default small-refund rule.
    push(&app, "o-1", &sample_order("alice")).await;
    let small = submit(
        &app,
        "alice",
        claim(
            "o-1",
            "return_refund",
            "wrong_size",
            json!([{"line_id": "L2", "quantity": 1}]),
        ),
    )
    .await;
    // Quality complaint without photos: the shop asks for evidence.
    let damaged = submit(
        &app,
        "alice",
        claim(
            "o-1",
            "return_refund",
            "damaged",
            json!([{"line_id": "L1", "quantity": 1}]),
        ),
    )
    .await;

    // Delivered 30 days ago, no longer wanted: rejected by the shop's own rule.
    let mut late = order_of("bob", "120.00", 1, 1);
    late["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-10-20T09:00:00Z",
                                "delivered_at": "2026-10-24T09:00:00Z"});
    push(&app, "o-2", &late).await;
    let rejected = submit(
        &app,
        "bob",
        claim(
            "o-2",
            "return_refund",
            "no_longer_wanted",
            json!([{"line_id": "L1", "quantity": 1}]),
        ),
    )
    .await;

    // Over 500.00: second review.
    push(&app, "o-3", &order_of("carol", "800.00", 1, 1)).await;
    let big = submit(
        &app,
        "carol",
        claim(
            "o-3",
            "return_refund",
            "defective",
            json!([{"line_id": "L1", "quantity": 1}]),
        ),
    )
    .await;

    assert!(app.drain().await >= 4);

    let c = get(&app, "alice", small["claim_id"].as_str().unwrap()).await;
    assert_eq!(c["status"], "awaiting_return", "{c}");
    assert_eq!(last_event(&c)["event"], "approved");
    assert_eq!(
        last_event(&c)["actor"],
        json!({"kind": "rule", "rule_id": "small-refund", "version": 1})
    );

    let c = get(&app, "bob", rejected["claim_id"].as_str().unwrap()).await;
    assert_eq!(c["status"], "rejected", "{c}");
    assert_eq!(last_event(&c)["reason"], "outside_return_window");
    assert_eq!(
        last_event(&c)["actor"]["rule_id"],
        "no-reason-after-delivery-window"
    );
    // The rejection gave the units back.
    let (_, o) = app
        .call(
            "GET",
            "/v1/shops/shop-1/orders/o-2",
            Some(&admin(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(o["refundable"]["amount"], "120.00", "{o}");

    let c = get(&app, "alice", damaged["claim_id"].as_str().unwrap()).await;
    assert_eq!(c["status"], "awaiting_evidence", "{c}");
    assert_eq!(last_event(&c)["event"], "evidence_requested");

    let big_id = big["claim_id"].as_str().unwrap();
    let c = get(&app, "carol", big_id).await;
    assert_eq!(c["status"], "second_review", "{c}");
    // A reviewer may not decide it; an admin does.
    let path = format!("/v1/shops/shop-1/desk/claims/{big_id}/decision");
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&reviewer(&app)),
            Some(&json!({"decision": "approve"})),
            &[],
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&admin(&app)),
            Some(&json!({"decision": "approve", "amount": "700.00", "reason": "partial: scratch"})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "awaiting_return");
    assert_eq!(v["approved_amount"]["amount"], "700.00");
    assert_eq!(
        last_event(&v)["actor"],
        json!({"kind": "staff", "id": "boss"})
    );
    // The partial approval gave the rest back to the order.
    let (_, o) = app
        .call(
            "GET",
            "/v1/shops/shop-1/orders/o-3",
            Some(&admin(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(o["refundable"]["amount"], "100.00", "{o}");

    // Every step reached the customers' inboxes, once, in their language.
    app.drain().await;
    let inbox = |customer: &'static str, claim_id: String| {
        let app = &app;
        async move {
            let (s, v) = app
                .call(
                    "GET",
                    "/v1/inbox?limit=100",
                    Some(&app.customer(customer)),
                    None,
                    &[],
                )
                .await;
            assert_eq!(s, 200, "{v}");
            let mut steps: Vec<String> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["claim_id"] == claim_id.as_str())
                .map(|m| m["event"].as_str().unwrap().to_owned())
                .collect();
            steps.reverse();
            steps
        }
    };
    assert_eq!(
        inbox("alice", small["claim_id"].as_str().unwrap().into()).await,
        ["submitted", "approved"]
    );
    assert_eq!(
        inbox("alice", damaged["claim_id"].as_str().unwrap().into()).await,
        ["submitted", "evidence_requested"]
    );
    assert_eq!(
        inbox("bob", rejected["claim_id"].as_str().unwrap().into()).await,
        ["submitted", "rejected"]
    );
    assert_eq!(
        inbox("carol", big_id.into()).await,
        ["submitted", "second_review_required", "approved"]
    );

    // Redelivering every event decides nothing twice.
    let before = get(&app, "carol", big_id).await["timeline"]
        .as_array()
        .unwrap()
        .len();
    for id in [big_id, small["claim_id"].as_str().unwrap()] {
        aftersales::app::review::evaluate_claim(&app.services, id)
            .await
            .unwrap();
    }
    assert_eq!(
        get(&app, "carol", big_id).await["timeline"]
            .as_array()
            .unwrap()
            .len(),
        before
    );
}

async fn evidence_upload_lands_on_the_claim(engine: &str) {
    let (app, _clock) = app_on(engine).await;
    push(&app, "o-1", &sample_order("alice")).await;
    let c = submit(
        &app,
        "alice",
        claim(
            "o-1",
            "return_refund",
            "damaged",
            json!([{"line_id": "L1", "quantity": 1}]),
        ),
    )
    .await;
    let id = c["claim_id"].as_str().unwrap();
    app.drain().await;
    assert_eq!(get(&app, "alice", id).await["status"], "awaiting_evidence");

    let path = format!("/v1/claims/{id}/evidence-uploads");
    let ask = |ct: &str, len: u64| json!({"content_type": ct, "content_length": len});
    // Someone else's claim: the same 404 as no claim. Staff: 403. Wrong
    // type or size: 422.
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&app.customer("mallory")),
            Some(&ask("image/jpeg", 10)),
            &[],
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = app
        .call(
            "POST",
            &path,
            Some(&reviewer(&app)),
            Some(&ask("image/jpeg", 10)),
            &[],
        )
        .await;
    assert_eq!(s, 403);
    let alice = app.customer("alice");
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&alice),
            Some(&ask("application/pdf", 10)),
            &[],
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unsupported_content_type"))
    );
    let (s, v) = app
        .call(
            "POST",
            &path,
            Some(&alice),
            Some(&ask("image/jpeg", 11 * 1024 * 1024)),
            &[],
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("evidence_too_large"))
    );

    let photo = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes".to_vec();
    let (s, ticket) = app
        .call(
            "POST",
            &path,
            Some(&alice),
            Some(&ask("image/jpeg", photo.len() as u64)),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{ticket}");
    let url = ticket["url"].as_str().unwrap();
    let key = ticket["evidence_key"].as_str().unwrap();
    assert!(key.starts_with(&format!("evidence/{id}/")), "{key}");
    // Another size than signed: refused, nothing stored.
    let resp = app
        .http
        .put(url)
        .header("content-type", "image/jpeg")
        .body(b"short".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(get(&app, "alice", id).await["evidence"]
        .as_array()
        .unwrap()
        .is_empty());
    // The real upload, exactly as the ticket says.
    let mut put = app.http.put(url).body(photo.clone());
    for (k, v) in ticket["headers"].as_object().unwrap() {
        put = put.header(k.as_str(), v.as_str().unwrap());
    }
    let resp = put.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let on_disk = app.files.path().join(key);
    assert_eq!(std::fs::read(on_disk).unwrap(), photo);

    let c = get(&app, "alice", id).await;
    assert_eq!(c["evidence"], json!([key]), "{c}");
    assert_eq!(c["status"], "submitted", "evidence sends it back to review");
    assert_eq!(last_event(&c)["event"], "evidence_added");
    // Recording again (S3 repeats events) changes nothing.
    let again = aftersales::app::evidence::record_upload(&app.services, key)
        .await
        .unwrap();
    assert_eq!(again, aftersales::app::evidence::Recorded::AlreadyThere);
    // Decided again: over 50.00 and with evidence, it goes to a person.
    app.drain().await;
    assert_eq!(get(&app, "alice", id).await["status"], "under_review");
}

async fn queue_and_batch_of_200(engine: &str) {
    let (app, _clock) = app_on(engine).await;
    // 20 orders of 10 lines: 200 claims of 120.00 each, which no default
    // rule decides (more than 50.00, less than 500.00, in time).
    for o in 0..20 {
        let customer = format!("cust-{}", o % 4);
        push(
            &app,
            &format!("b-{o}"),
            &order_of(&customer, "120.00", 1, 10),
        )
        .await;
    }
    let mut ids = Vec::new();
    for o in 0..20 {
        let customer = format!("cust-{}", o % 4);
        for l in 1..=10 {
            let c = submit(
                &app,
                &customer,
                claim(
                    &format!("b-{o}"),
                    "return_refund",
                    "wrong_size",
                    json!([{"line_id": format!("L{l}"), "quantity": 1}]),
                ),
            )
            .await;
            ids.push(c["claim_id"].as_str().unwrap().to_string());
        }
    }
    app.drain().await;
    let rev = reviewer(&app);
    let (s, q) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims?status=under_review&limit=50&min_amount=100.00",
            Some(&rev),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["total"], 200);
    assert_eq!(q["counts"]["under_review"], 200);
    assert_eq!(q["claims"].as_array().unwrap().len(), 50);
    assert!(q["next_cursor"].is_string());
    let (_, none) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims?min_amount=500.00",
            Some(&rev),
            None,
            &[],
        )
        .await;
    assert_eq!(none["total"], 0, "{none}");
    // Another shop's staff sees nothing of it.
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims",
            Some(&app.staff("x", "shop-2", &[StaffRole::Admin])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);

    let mut batch_ids: Vec<Value> = ids.iter().map(|i| json!(i)).collect();
    batch_ids.push(json!("clm_doesnotexist"));
    batch_ids.push(json!("clm_0000"));
    let (s, r) = app
        .call(
            "POST",
            "/v1/shops/shop-1/desk/batch",
            Some(&rev),
            Some(&json!({"decision": "approve", "claim_ids": batch_ids})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["decided"], 200, "{r}");
    assert_eq!(r["failed"], 2);
    let failed: Vec<&Value> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["ok"] == false)
        .collect();
    assert!(failed.iter().all(|f| f["error"]["code"] == "not_found"));
    let (_, q) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims?status=awaiting_return&limit=1",
            Some(&rev),
            None,
            &[],
        )
        .await;
    assert_eq!(q["total"], 200, "{q}");
    // Deciding them again fails each alone, with the reason.
    let (s, r) = app
        .call(
            "POST",
            "/v1/shops/shop-1/desk/batch",
            Some(&rev),
            Some(
                &json!({"decision": "reject", "reason": "evidence_insufficient",
                         "claim_ids": &ids[..3]}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], 3);
    assert_eq!(r["results"][0]["error"]["code"], "illegal_transition");
    // A rejection must name a catalogue reason: refused before anything.
    let (s, r) = app
        .call(
            "POST",
            "/v1/shops/shop-1/desk/batch",
            Some(&rev),
            Some(&json!({"decision": "reject", "reason": "because", "claim_ids": &ids[..1]})),
            &[],
        )
        .await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (422, Some("unknown_rejection_reason"))
    );
    let (s, _) = app
        .call(
            "POST",
            "/v1/shops/shop-1/desk/batch",
            Some(&rev),
            Some(&json!({"decision": "approve", "claim_ids": vec!["x"; 1001]})),
            &[],
        )
        .await;
    assert_eq!(s, 422);
}

async fn settings_are_validated_and_policy_is_public(engine: &str) {
    let (app, _clock) = app_on(engine).await;
    // Public: no token.
    let (s, p) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["no_reason_return_days"], 7);
    let mut changed = p.clone();
    changed["no_reason_return_days"] = json!(15);
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/policy",
            Some(&reviewer(&app)),
            Some(&changed),
            &[],
        )
        .await;
    assert_eq!(s, 403, "reviewers do not edit the policy");
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/policy",
            Some(&admin(&app)),
            Some(&changed),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, p) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    assert_eq!(p["no_reason_return_days"], 15);

    let active = install_rules(&app).await;
    for (bad, code_part) in [
        (
            json!({"rules": [{"id": "x", "when": {"amount": {"lessthan": "5"}}, "then": {"decision": "approve"}}]}),
            "lessthan",
        ),
        (
            json!({"rules": [{"id": "x", "when": {}, "then": {"decision": "approve"}},
                          {"id": "y", "when": {"amount": {"lt": "5.00"}}, "then": {"decision": "approve"}}]}),
            "unreachable",
        ),
        (
            json!({"rules": [{"id": "x", "then": {"decision": "reject", "reason": "nope"}}]}),
            "nope",
        ),
        (json!({"rules": [], "extra": 1}), "extra"),
    ] {
        let (s, v) = app
            .call(
                "PUT",
                "/v1/shops/shop-1/rules",
                Some(&admin(&app)),
                Some(&bad),
                &[],
            )
            .await;
        assert_eq!(s, 422, "{bad} -> {v}");
        assert_eq!(v["error"]["code"], "invalid_rules");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(code_part),
            "{v}"
        );
    }
    let (_, now) = app
        .call(
            "GET",
            "/v1/shops/shop-1/rules",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(now["version"], active["version"], "the active set stays");
    assert_eq!(now["rules"], active["rules"]);

    // The shop's own rejection reasons, public for the apply page.
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/rejection-reasons",
            Some(&admin(&app)),
            Some(&json!({"extras": [{"code": "seal_broken", "text_zh": "商品封条已拆封,不支持无理由退货。",
                                     "text_en": "The seal is broken, so no-reason returns are not possible."}]})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .call("GET", "/v1/shops/shop-1/rejection-reasons", None, None, &[])
        .await;
    assert_eq!(s, 200);
    assert!(v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "seal_broken"));
    assert!(v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["code"] == "outside_return_window"));
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/rejection-reasons",
            Some(&admin(&app)),
            Some(&json!({"extras": [{"code": "outside_return_window", "text_zh": "x", "text_en": "x"}]})),
            &[],
        )
        .await;
    assert_eq!(s, 422, "a built-in code cannot be redefined");
}

async fn deadlines_escalate_and_auto_approve(engine: &str) {
    let (app, clock) = app_on(engine).await;
    let mut policy = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await
        .1;
    policy["auto_approve_overdue_refund_only"] = json!(true);
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/policy",
            Some(&admin(&app)),
            Some(&policy),
            &[],
        )
        .await;
    assert_eq!(s, 200);
    // Gold members: the shop decides within 4 hours.
    push(&app, "o-1", &order_of("alice", "120.00", 1, 3)).await;
    let refund = submit(
        &app,
        "alice",
        claim(
            "o-1",
            "refund_only",
            "not_received",
            json!([{"line_id": "L1", "quantity": 1}]),
        ),
    )
    .await;
    let ret = submit(
        &app,
        "alice",
        claim(
            "o-1",
            "return_refund",
            "wrong_size",
            json!([{"line_id": "L2", "quantity": 1}]),
        ),
    )
    .await;
    let decided = submit(
        &app,
        "alice",
        claim(
            "o-1",
            "return_refund",
            "wrong_size",
            json!([{"line_id": "L3", "quantity": 1}]),
        ),
    )
    .await;
    app.drain().await;
    let (s, _) = app
        .call(
            "POST",
            &format!(
                "/v1/shops/shop-1/desk/claims/{}/decision",
                decided["claim_id"].as_str().unwrap()
            ),
            Some(&reviewer(&app)),
            Some(&json!({"decision": "reject", "reason": "item_used_or_damaged_by_customer"})),
            &[],
        )
        .await;
    assert_eq!(s, 200);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 0, "not due yet");

    clock.advance_hours(5);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(
        (sweep.escalated, sweep.auto_approved, sweep.cleared),
        (2, 1, 1)
    );
    let c = get(&app, "alice", refund["claim_id"].as_str().unwrap()).await;
    // Approved by the deadline, and the refund starts at once.
    assert_eq!(c["status"], "refunding", "{c}");
    let events: Vec<&str> = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events[events.len() - 4..],
        ["escalated", "approved", "refund_started", "refund_sent"]
    );
    app.drain().await;
    let c = get(&app, "alice", refund["claim_id"].as_str().unwrap()).await;
    assert_eq!(c["status"], "completed", "{c}");
    let c = get(&app, "alice", ret["claim_id"].as_str().unwrap()).await;
    assert_eq!(c["status"], "under_review");
    assert_eq!(last_event(&c)["event"], "escalated");
    let (_, q) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims?escalated=true",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(q["total"], 1, "{q}");
    assert_eq!(q["claims"][0]["overdue"], true);
    // Sweeping again does nothing more.
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep, Default::default());
}

/// Every page of the queue, `limit` claims at a time, following cursors.
async fn whole_queue(app: &TestApp, query: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let url = format!(
            "/v1/shops/shop-1/desk/claims?limit=7{query}{}",
            cursor
                .as_deref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default()
        );
        let (s, page) = app.call("GET", &url, Some(&reviewer(app)), None, &[]).await;
        assert_eq!(s, 200, "{page}");
        all.extend(page["claims"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
    panic!("the queue's cursors never end");
}

fn ids_of(claims: &[Value]) -> std::collections::BTreeSet<String> {
    claims
        .iter()
        .map(|c| c["claim_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn queue_cursors_reach_every_claim_and_batch_takes_exactly_the_filter(engine: &str) {
    let (app, _clock) = app_on(engine).await;
    // 24 claims waiting for staff, more than three pages of 7: 12 asking
    // 120.00, 12 asking 200.00.
    let (mut cheap, mut dear) = (Vec::new(), Vec::new());
    for o in 0..4 {
        let price = if o < 2 { "120.00" } else { "200.00" };
        let customer = format!("cust-{o}");
        push(&app, &format!("q-{o}"), &order_of(&customer, price, 1, 6)).await;
        for l in 1..=6 {
            let c = submit(
                &app,
                &customer,
                claim(
                    &format!("q-{o}"),
                    "return_refund",
                    "wrong_size",
                    json!([{"line_id": format!("L{l}"), "quantity": 1}]),
                ),
            )
            .await;
            let id = c["claim_id"].as_str().unwrap().to_string();
            if o < 2 {
                cheap.push(id)
            } else {
                dear.push(id)
            }
        }
    }
    app.drain().await;
    let all = whole_queue(&app, "").await;
    assert_eq!(all.len(), 24, "each claim once");
    let every: std::collections::BTreeSet<String> = cheap.iter().chain(&dear).cloned().collect();
    assert_eq!(ids_of(&all), every, "every waiting claim is reached");
    let dues: Vec<&str> = all.iter().map(|c| c["due_at"].as_str().unwrap()).collect();
    assert!(
        dues.windows(2).all(|w| w[0] <= w[1]),
        "by deadline: {dues:?}"
    );
    // A filter the index does not serve: pages of the matching claims only.
    let dear_seen = whole_queue(&app, "&min_amount=150.00").await;
    assert_eq!(ids_of(&dear_seen), dear.iter().cloned().collect());
    // A cursor this API did not give out.
    let (s, e) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims?cursor=bm90LWEtY3Vyc29y",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (422, &json!("invalid_cursor")),
        "{e}"
    );

    // A batch by filter approves exactly the matching claims.
    let (s, r) = app
        .call(
            "POST",
            "/v1/shops/shop-1/desk/batch",
            Some(&reviewer(&app)),
            Some(&json!({"decision": "approve", "filter": {"min_amount": "150.00"}})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["decided"].clone(), r["failed"].clone()),
        (json!(12), json!(0)),
        "{r}"
    );
    assert_eq!(r["next_cursor"], Value::Null);
    assert_eq!(
        ids_of(r["results"].as_array().unwrap()),
        dear.iter().cloned().collect()
    );
    let left = whole_queue(&app, "").await;
    assert_eq!(
        ids_of(&left),
        cheap.iter().cloned().collect(),
        "the others wait"
    );
    let approved = whole_queue(&app, "&status=awaiting_return").await;
    assert_eq!(ids_of(&approved), dear.iter().cloned().collect());
}

async fn claims_written_before_the_queue_index_are_reached(engine: &str) {
    let (app, _clock) = app_on(engine).await;
    push(&app, "old-1", &order_of("cust-1", "120.00", 1, 3)).await;
    let mut ids = std::collections::BTreeSet::new();
    for l in 1..=3 {
        let c = submit(
            &app,
            "cust-1",
            claim(
                "old-1",
                "return_refund",
                "wrong_size",
                json!([{"line_id": format!("L{l}"), "quantity": 1}]),
            ),
        )
        .await;
        ids.insert(c["claim_id"].as_str().unwrap().to_string());
    }
    app.drain().await;
    // As a version before the queue index wrote them: no queue key.
    let table = app.services.table.clone();
    for id in &ids {
        let (pk, sk) = aftersales::repo::claims::key(id);
        let mut it = table.get(&pk, &sk).await.unwrap().unwrap();
        it.gsi3 = None;
        table
            .put(it, aftersales::store::Condition::None)
            .await
            .unwrap();
    }
    // The first look at the shop's queue gives them their keys.
    assert_eq!(ids_of(&whole_queue(&app, "").await), ids);
    assert_eq!(ids_of(&whole_queue(&app, "").await), ids);
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name("sqlite").await } )* }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("dynamodb").await } )* }
    };
}

on_both_engines!(
    rules_decide_claims,
    evidence_upload_lands_on_the_claim,
    queue_and_batch_of_200,
    queue_cursors_reach_every_claim_and_batch_takes_exactly_the_filter,
    claims_written_before_the_queue_index_are_reached,
    settings_are_validated_and_policy_is_public,
    deadlines_escalate_and_auto_approve,
);
