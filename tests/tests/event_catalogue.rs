//! The public event catalogue (issue 17, point 1): the Rust catalogue and
//! `infra/asyncapi.yaml` name the same types at the same versions, and the
//! events real use cases emit (a return restocked and refunded, a defective
//! line, an exchange shipped, a refund declined, a rejection disputed and
//! escalated, another settled, a claim cancelled) are valid against their schemas as the
//! shop's endpoint would receive them, each claim's in strictly increasing
//! `sequence` in the order they are delivered.

use aftersales::auth::StaffRole;
use aftersales::domain::catalogue::PublicType;
use aftersales::hooks::{self, NewEndpoint};
use aftersales_tests::catalogue::Catalogue;
use aftersales_tests::engine_table;
use aftersales_tests::http::{sample_order, spawn_app_at, TestApp, TestClock};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const NOW: &str = "2026-11-23T10:00:00Z";

#[test]
fn the_document_and_the_rust_catalogue_name_the_same_events() {
    let cat = Catalogue::load();
    let doc = &cat.doc;
    assert_eq!(doc["asyncapi"], "3.0.0");
    let rust: BTreeSet<String> = PublicType::ALL
        .iter()
        .map(|t| t.as_str().to_string())
        .collect();
    let published: BTreeSet<String> = cat.messages().into_iter().collect();
    assert_eq!(
        published, rust,
        "asyncapi.yaml's messages vs PublicType::ALL"
    );
    for t in PublicType::ALL {
        let name = t.as_str();
        let payload = &doc["components"]["messages"][name]["payload"];
        assert_eq!(payload["properties"]["type"]["const"], name);
        assert_eq!(
            payload["properties"]["version"]["const"],
            json!(t.version()),
            "{name}'s version"
        );
        // Every type has its channel and an operation that sends it.
        let channel = &doc["channels"][name];
        assert_eq!(
            channel["messages"][name]["$ref"],
            format!("#/components/messages/{name}"),
            "{name}'s channel"
        );
        let sent = doc["operations"].as_object().unwrap().values().any(|op| {
            op["action"] == "send" && op["channel"]["$ref"] == format!("#/channels/{name}")
        });
        assert!(sent, "no operation sends {name}");
    }
    assert_eq!(
        doc["channels"].as_object().unwrap().len(),
        PublicType::ALL.len()
    );
}

#[test]
fn the_schemas_refuse_what_a_receiver_could_not_read() {
    let cat = Catalogue::load();
    let good = json!({
        "type": "return.shipped", "version": 1, "id": "0193-x", "occurred_at": NOW,
        "shop_id": "shop-1", "claim_id": "clm-1", "order_id": "o-1", "sequence": 9000,
        "data": {"carrier": "yuantong", "tracking_number": "YT1234567890123"}});
    cat.check(&good).unwrap();
    let mut bad = Vec::new();
    let mut e = good.clone();
    e["data"].as_object_mut().unwrap().remove("tracking_number");
    bad.push(("a required field missing", e));
    let mut e = good.clone();
    e["data"]["colour"] = json!("red");
    bad.push(("a field not in the schema", e));
    let mut e = good.clone();
    e["sequence"] = json!("9000");
    bad.push(("a sequence that is not a number", e));
    let mut e = good.clone();
    e["version"] = json!(2);
    bad.push(("another version", e));
    let mut e = good.clone();
    e.as_object_mut().unwrap().remove("order_id");
    bad.push(("no order", e));
    let mut e = good.clone();
    e["type"] = json!("claim.teleported");
    bad.push(("an unknown type", e));
    for (what, e) in bad {
        assert!(cat.check(&e).is_err(), "{what} passed: {e}");
    }
}

// ------------------------------------------------------------------ emitted events

fn reviewer(app: &TestApp) -> String {
    app.staff("rita", "shop-1", &[StaffRole::Reviewer])
}

fn delivered(customer: &str) -> Value {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-11-20T09:00:00Z",
                             "delivered_at": "2026-11-21T09:00:00Z"});
    o
}

async fn ok(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (s, v) = app
        .call(method, path, Some(token), body.as_ref(), &[])
        .await;
    assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
    v
}

/// Files a claim; its id.
async fn file(app: &TestApp, order: &str, ty: &str, reason: &str, lines: Value) -> String {
    let c = ok(
        app,
        "POST",
        "/v1/claims",
        &app.customer("alice"),
        Some(
            json!({"shop_id": "shop-1", "order_id": order, "type": ty, "reason": reason,
               "lines": lines}),
        ),
    )
    .await;
    c["claim_id"].as_str().unwrap().to_owned()
}

/// Files a return or exchange, approved by the rules or else by staff, and
/// ships the goods back.
async fn returned(app: &TestApp, order: &str, ty: &str, lines: Value) -> String {
    let id = file(app, order, ty, "wrong_size", lines).await;
    app.drain().await;
    if app.claim_of("alice", &id).await["status"] != "awaiting_return" {
        ok(
            app,
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/decision"),
            &reviewer(app),
            Some(json!({"decision": "approve"})),
        )
        .await;
    }
    ok(
        app,
        "POST",
        &format!("/v1/claims/{id}/return-shipment"),
        &app.customer("alice"),
        Some(json!({"carrier": "zhongtong", "tracking_number": "73123456789012"})),
    )
    .await;
    id
}

async fn inspect(app: &TestApp, id: &str, lines: Value) {
    ok(
        app,
        "POST",
        &format!("/v1/shops/shop-1/desk/claims/{id}/inspection"),
        &reviewer(app),
        Some(json!({"lines": lines, "notes": "checked", "decision": {"decision": "accept"}})),
    )
    .await;
}

#[tokio::test]
async fn events_emitted_by_real_use_cases_match_their_schemas_in_sequence() {
    let cat = Catalogue::load();
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table("sqlite").await, &clock).await;
    let all: Vec<String> = PublicType::ALL
        .iter()
        .map(|t| t.as_str().to_string())
        .collect();
    let (endpoint, _) = hooks::create(
        &*app.table,
        None,
        "shop-1",
        NewEndpoint {
            url: "https://hooks.example.com/in".into(),
            event_types: all,
            description: None,
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap();

    // A return: one line back on sale, one defective; refunded.
    app.push_order("o-1", &delivered("alice")).await;
    let ret = returned(
        &app,
        "o-1",
        "return_refund",
        json!([{"line_id": "L1", "quantity": 1}, {"line_id": "L2", "quantity": 1}]),
    )
    .await;
    inspect(
        &app,
        &ret,
        json!([{"line_id": "L1", "received": 1, "outcome": "received", "disposition": "restock"},
               {"line_id": "L2", "received": 1, "outcome": "received", "disposition": "defective"}]),
    )
    .await;
    app.drain().await;
    assert_eq!(app.claim_of("alice", &ret).await["status"], "completed");

    // An exchange: the replacement ships after inspection.
    app.push_order("o-2", &delivered("alice")).await;
    let exchange = returned(
        &app,
        "o-2",
        "exchange",
        json!([{"line_id": "L1", "quantity": 1}]),
    )
    .await;
    inspect(
        &app,
        &exchange,
        json!([{"line_id": "L1", "received": 1, "outcome": "received", "disposition": "restock"}]),
    )
    .await;
    ok(
        &app,
        "POST",
        &format!("/v1/shops/shop-1/desk/claims/{exchange}/replacement"),
        &reviewer(&app),
        Some(json!({"carrier": "shunfeng", "tracking_number": "SF7654321098765"})),
    )
    .await;
    app.drain().await;

    // A refund the provider declines (the sandbox declines amounts ending
    // in .13), approved by the shop's default rules.
    let mut unshipped = sample_order("alice");
    unshipped["fulfilment"] = json!({"state": "paid_unshipped"});
    app.push_order("o-3", &unshipped).await;
    let c = ok(
        &app,
        "POST",
        "/v1/claims",
        &app.customer("alice"),
        Some(
            json!({"shop_id": "shop-1", "order_id": "o-3", "type": "refund_only",
               "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}],
               "amount": "50.13"}),
        ),
    )
    .await;
    let failed = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    assert_eq!(
        app.claim_of("alice", &failed).await["status"],
        "refund_failed"
    );

    // A rejection, disputed, escalated when the shop does not answer, then
    // withdrawn.
    app.push_order("o-4", &sample_order("alice")).await;
    let rejected = file(
        &app,
        "o-4",
        "refund_only",
        "wrong_size",
        json!([{"line_id": "L1", "quantity": 2}]),
    )
    .await;
    app.drain().await;
    ok(
        &app,
        "POST",
        &format!("/v1/shops/shop-1/desk/claims/{rejected}/decision"),
        &reviewer(&app),
        Some(json!({"decision": "reject", "reason": "evidence_insufficient"})),
    )
    .await;
    app.drain().await;
    ok(
        &app,
        "POST",
        &format!("/v1/claims/{rejected}/dispute"),
        &app.customer("alice"),
        Some(
            json!({"grounds": "rejection_not_accepted", "wished": {"kind": "exchange"},
               "text": "The shirts are the wrong size as delivered."}),
        ),
    )
    .await;
    clock.advance_hours(49);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.disputes_escalated, 1);
    ok(
        &app,
        "POST",
        &format!("/v1/claims/{rejected}/dispute/withdraw"),
        &app.customer("alice"),
        None,
    )
    .await;
    app.drain().await;

    // A rejection disputed and settled: the shop's admin accepts the
    // exchange the customer asked for.
    app.push_order("o-6", &sample_order("alice")).await;
    let settled = file(
        &app,
        "o-6",
        "refund_only",
        "wrong_size",
        json!([{"line_id": "L1", "quantity": 2}]),
    )
    .await;
    app.drain().await;
    ok(
        &app,
        "POST",
        &format!("/v1/shops/shop-1/desk/claims/{settled}/decision"),
        &reviewer(&app),
        Some(json!({"decision": "reject", "reason": "evidence_insufficient"})),
    )
    .await;
    app.drain().await;
    ok(
        &app,
        "POST",
        &format!("/v1/claims/{settled}/dispute"),
        &app.customer("alice"),
        Some(
            json!({"grounds": "rejection_not_accepted", "wished": {"kind": "exchange"},
               "text": "Both are the wrong size."}),
        ),
    )
    .await;
    ok(
        &app,
        "POST",
        &format!("/v1/claims/{settled}/dispute/proposals/1/accept"),
        &app.staff("boss", "shop-1", &[StaffRole::Admin]),
        None,
    )
    .await;
    app.drain().await;

    // A claim cancelled before anyone decided it.
    app.push_order("o-5", &sample_order("alice")).await;
    let cancelled = file(
        &app,
        "o-5",
        "refund_only",
        "wrong_size",
        json!([{"line_id": "L2", "quantity": 1}]),
    )
    .await;
    ok(
        &app,
        "POST",
        &format!("/v1/claims/{cancelled}/cancel"),
        &app.customer("alice"),
        None,
    )
    .await;
    // Kept to deliver again at the end.
    let redelivered = aftersales::repo::outbox::pending(&*app.table, 1000)
        .await
        .unwrap();
    assert!(!redelivered.is_empty());
    app.drain().await;

    // What the endpoint is to be sent, in the order it is sent (the log is
    // newest first).
    let mut log = hooks::deliveries::of_endpoint(&*app.table, &endpoint.endpoint_id, 10_000)
        .await
        .unwrap();
    log.reverse();
    let mut seen: BTreeMap<String, Vec<(String, u64, Value)>> = BTreeMap::new();
    for d in &log {
        let body: Value = serde_json::from_str(&d.body).expect("a JSON body");
        cat.check(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            body["id"],
            d.webhook_id.as_str(),
            "the webhook-id is the event's id"
        );
        assert_eq!(body["type"], d.event_type.as_str());
        assert_eq!(body["shop_id"], "shop-1");
        seen.entry(body["claim_id"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                body["type"].as_str().unwrap().to_owned(),
                body["sequence"].as_u64().unwrap(),
                body,
            ));
    }
    // Each claim's events: its order, strictly increasing sequence numbers.
    for (claim, order) in [
        (&ret, "o-1"),
        (&exchange, "o-2"),
        (&failed, "o-3"),
        (&rejected, "o-4"),
        (&cancelled, "o-5"),
        (&settled, "o-6"),
    ] {
        let events = seen
            .get(claim.as_str())
            .unwrap_or_else(|| panic!("no events for {claim}"));
        assert!(
            events.iter().all(|(_, _, b)| b["order_id"] == order),
            "{events:?}"
        );
        let seqs: Vec<u64> = events.iter().map(|(_, s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{claim}: sequence {seqs:?} in delivery order {:?}",
            events.iter().map(|(t, _, _)| t).collect::<Vec<_>>()
        );
    }
    let types =
        |claim: &str| -> Vec<String> { seen[claim].iter().map(|(t, _, _)| t.clone()).collect() };
    assert_eq!(
        types(&ret),
        [
            "claim.submitted",
            "claim.decided",
            "return.shipped",
            "inventory.restock",
            "inventory.defective",
            "return.received",
            "refund.sent",
            "refund.succeeded"
        ],
        "{:?}",
        seen[&ret]
    );
    let received = &seen[&ret][5].2["data"];
    assert_eq!(
        received["lines"][1]["disposition"], "defective",
        "{received}"
    );
    assert_eq!(received["lines"][1]["units"], 1, "{received}");
    assert!(types(&exchange).contains(&"exchange.shipped".to_string()));
    let f = types(&failed);
    assert!(
        f.ends_with(&["refund.sent".into(), "refund.failed".into()]),
        "{f:?}"
    );
    let decided = &seen[&failed][1].2["data"];
    assert_eq!(decided["outcome"], "approved", "{decided}");
    assert_eq!(decided["decided_by"]["kind"], "rule", "{decided}");
    assert_eq!(
        types(&rejected),
        [
            "claim.submitted",
            "claim.decided",
            "dispute.opened",
            "dispute.escalated",
            "dispute.withdrawn"
        ]
    );
    let decided = &seen[&rejected][1].2["data"];
    assert_eq!(
        (
            &decided["outcome"],
            &decided["decided_by"]["kind"],
            &decided["reason"]
        ),
        (
            &json!("rejected"),
            &json!("staff"),
            &json!("evidence_insufficient")
        ),
        "{decided}"
    );
    assert_eq!(types(&cancelled), ["claim.submitted", "claim.cancelled"]);
    assert_eq!(
        types(&settled),
        [
            "claim.submitted",
            "claim.decided",
            "dispute.opened",
            "dispute.resolved"
        ]
    );
    assert_eq!(
        seen[&settled][3].2["data"]["resolution"],
        json!({"kind": "exchange"})
    );
    assert_eq!(
        seen[&cancelled][1].2["data"]["cancelled_by"]["kind"],
        "customer"
    );

    // Every public type was emitted.
    let emitted: BTreeSet<&str> = seen
        .values()
        .flatten()
        .map(|(t, _, _)| t.as_str())
        .collect();
    let missing: Vec<&str> = PublicType::ALL
        .iter()
        .map(|t| t.as_str())
        .filter(|t| !emitted.contains(t))
        .collect();
    assert!(missing.is_empty(), "never emitted: {missing:?}");

    // Events delivered again (at least once) write nothing new.
    let before = log.len();
    for e in &redelivered {
        hooks::on_event(&*app.table, None, e).await.unwrap();
    }
    let again = hooks::deliveries::of_endpoint(&*app.table, &endpoint.endpoint_id, 10_000)
        .await
        .unwrap();
    assert_eq!(again.len(), before);
}
