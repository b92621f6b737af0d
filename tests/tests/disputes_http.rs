//! Disputes over HTTP, on both engines: a partial approval disputed and
//! settled by a 5.00 CNY supplementary refund that goes through the refund
//! executor and the ledger; a rejection disputed and left unanswered by the
//! shop, which escalates to its admins and tells the customer; the bad
//! inputs (after the window, a claim granted in full, above the refundable
//! amount, accepting one's own proposal, someone else's claim) answered
//! with a 4xx and nothing changed; the desk's list and the day's figures.

use aftersales::auth::StaffRole;
use aftersales_tests::engine_table;
use aftersales_tests::http::{
    minor_units, sample_order, spawn_app_at, timeline_events, TestApp, TestClock,
};
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";

fn reviewer(app: &TestApp) -> String {
    app.staff("rita", "shop-1", &[StaffRole::Reviewer])
}

fn admin(app: &TestApp) -> String {
    app.staff("boss", "shop-1", &[StaffRole::Admin])
}

/// A refund-only claim on both T-shirts (no rule decides it), decided by a
/// reviewer with `decision`, its money (if any) sent and arrived.
async fn decided(app: &TestApp, decision: Value) -> String {
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
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/decision"),
            Some(&reviewer(app)),
            Some(&decision),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.drain().await;
    id
}

async fn dispute_call(
    app: &TestApp,
    token: &str,
    id: &str,
    tail: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/v1/claims/{id}/dispute{tail}"),
        Some(token),
        body.as_ref(),
        &[],
    )
    .await
}

async fn dispute_of(app: &TestApp, token: &str, id: &str) -> Value {
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/claims/{id}/dispute"),
            Some(token),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// The claim's refunds as finance sees them: (amount in fen, status).
async fn refunds_of(app: &TestApp, id: &str) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = app
        .claim_refunds(id)
        .await
        .iter()
        .map(|r| {
            (
                minor_units(&r["amount"]),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn settled_by_a_supplementary_refund(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let alice = app.customer("alice");
    let id = decided(
        &app,
        json!({"decision": "approve", "amount": "100.00", "reason": "one shirt was worn"}),
    )
    .await;
    let claim = app.claim_of("alice", &id).await;
    assert_eq!(claim["status"], "completed", "{claim}");
    let requested = minor_units(&claim["requested_amount"]);
    let rest = requested - 10_000;
    assert_eq!(refunds_of(&app, &id).await, [(10_000, "succeeded".into())]);

    // Only the claim's customer opens a dispute, and only a sound one.
    let opening = json!({"grounds": "amount_disputed",
        "wished": {"kind": "supplementary_refund", "amount": minor_to_yuan(rest)},
        "text": "Neither shirt was worn; I want the rest back."});
    let (s, v) = dispute_call(&app, &reviewer(&app), &id, "", Some(opening.clone())).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = dispute_call(
        &app,
        &app.customer("mallory"),
        &id,
        "",
        Some(opening.clone()),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    let mut too_much = opening.clone();
    too_much["wished"]["amount"] = json!(minor_to_yuan(rest + 1));
    let (s, v) = dispute_call(&app, &alice, &id, "", Some(too_much)).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "amount_too_high");
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/claims/{id}/dispute"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404, "nothing was opened: {v}");

    clock.advance_hours(2);
    let (s, d) = dispute_call(&app, &alice, &id, "", Some(opening)).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["status"], "open");
    assert_eq!(minor_units(&d["refundable"]), rest);
    assert_eq!(d["proposals"][0]["state"], "open");
    assert!(d["respond_by"].is_string(), "{d}");
    // A second dispute on the same claim is refused.
    let (s, v) = dispute_call(
        &app,
        &alice,
        &id,
        "",
        Some(json!({"grounds": "other", "wished": {"kind": "exchange"}, "text": "again"})),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "dispute_exists");

    // The customer cannot accept her own proposal.
    let (s, v) = dispute_call(&app, &alice, &id, "/proposals/1/accept", None).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "own_proposal");

    // The shop gives its grounds and counters with 5.00.
    let (s, v) = dispute_call(
        &app,
        &reviewer(&app),
        &id,
        "/messages",
        Some(
            json!({"kind": "grounds", "text": "The returned photo shows a worn collar.",
                    "clause": "no_reason_return_days"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["respond_by"].is_null(), "the shop answered: {v}");
    // Money out of the books: a reviewer may not offer it, nor accept the
    // customer's wish; an admin (or finance) may.
    let five = json!({"resolution": {"kind": "supplementary_refund", "amount": "5.00"},
                      "note": "A goodwill refund for the trouble."});
    let (s, v) = dispute_call(&app, &reviewer(&app), &id, "/proposals", Some(five.clone())).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = dispute_call(&app, &reviewer(&app), &id, "/proposals/1/accept", None).await;
    assert_eq!(s, 403, "{v}");
    let too_much = minor_to_yuan(rest + 1);
    let (s, v) = dispute_call(
        &app,
        &admin(&app),
        &id,
        "/proposals",
        Some(json!({"resolution": {"kind": "supplementary_refund", "amount": too_much}})),
    )
    .await;
    assert_eq!(s, 422, "above the refundable amount: {v}");
    let (s, v) = dispute_call(
        &app,
        &admin(&app),
        &id,
        "/proposals",
        Some(json!({"resolution": {"kind": "exchange", "amount": "5.00"}})),
    )
    .await;
    assert_eq!(s, 422, "only a refund has an amount: {v}");
    let (s, v) = dispute_call(&app, &admin(&app), &id, "/proposals", Some(five)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["proposals"][0]["state"], "countered");
    let (s, v) = dispute_call(&app, &admin(&app), &id, "/proposals/2/accept", None).await;
    assert_eq!(s, 422, "the shop cannot accept its own proposal: {v}");

    // She takes it: the 5.00 goes back through the executor.
    let (s, d) = dispute_call(&app, &alice, &id, "/proposals/2/accept", None).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["status"], "resolved");
    assert_eq!(d["settled_by"], 2);
    assert_eq!(minor_units(&d["refundable"]), rest - 500);
    app.drain().await;
    assert_eq!(
        refunds_of(&app, &id).await,
        [(500, "succeeded".into()), (10_000, "succeeded".into())]
    );
    let claim = app.claim_of("alice", &id).await;
    assert_eq!(claim["status"], "completed", "the claim's own state stays");
    let ev = timeline_events(&claim);
    assert_eq!(
        ev[ev.len() - 6..],
        [
            "dispute_opened",
            "dispute_message",
            "dispute_proposal",
            "dispute_resolved",
            "refund_sent",
            "refund_arrived"
        ],
        "{ev:?}"
    );
    // Every step names who took it: the audit trail.
    let actors: Vec<&Value> = claim["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .skip(2)
        .take(4)
        .map(|t| &t["actor"])
        .collect();
    assert_eq!(actors[0], &json!({"kind": "customer", "id": "alice"}));
    assert_eq!(actors[1], &json!({"kind": "staff", "id": "boss"}));
    // The customer heard of the proposal and the settlement.
    let (_, inbox) = app.call("GET", "/v1/inbox", Some(&alice), None, &[]).await;
    let events: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"dispute_proposal") && events.contains(&"dispute_resolved"),
        "{events:?}"
    );
    // Closed: nothing more happens in it.
    let (s, v) = dispute_call(&app, &alice, &id, "/withdraw", None).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "dispute_closed");

    // The desk and the figures.
    let (s, list) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/disputes?status=resolved",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["disputes"][0]["claim_id"], json!(id));
    assert_eq!(list["disputes"][0]["resolution"], "supplementary_refund");
    assert_eq!(minor_units(&list["disputes"][0]["refunded"]), 500);
    let (s, open) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/disputes",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(open["disputes"], json!([]));
    let (s, rep) = app
        .call(
            "GET",
            "/v1/shops/shop-1/reports/disputes?from=2026-11-22&to=2026-11-23",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{rep}");
    assert_eq!(rep["days"][0]["opened"], 0);
    let day = &rep["days"][1];
    assert_eq!(
        (day["opened"].clone(), day["resolved"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(day["resolution_rate"], 1.0);
    assert_eq!(
        day["median_seconds_to_resolution"], 0,
        "settled at once on a still clock"
    );
}

fn minor_to_yuan(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

async fn unanswered_dispute_escalates(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let alice = app.customer("alice");
    let id = decided(
        &app,
        json!({"decision": "reject", "reason": "evidence_insufficient"}),
    )
    .await;
    assert_eq!(app.claim_of("alice", &id).await["status"], "rejected");
    let (s, d) = dispute_call(
        &app,
        &alice,
        &id,
        "",
        Some(
            json!({"grounds": "rejection_not_accepted", "wished": {"kind": "exchange"},
                    "text": "The shirts are the wrong size as delivered."}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let (_, list) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/disputes",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(list["disputes"][0]["overdue"], false);

    // 47 hours: still the shop's to answer.
    clock.advance_hours(47);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.disputes_escalated, 0);
    clock.advance_hours(2);
    let sweep = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(sweep.disputes_escalated, 1);
    let again = aftersales::app::review::sweep_deadlines(&app.services)
        .await
        .unwrap();
    assert_eq!(again.disputes_escalated, 0, "once");
    app.drain().await;

    let d = dispute_of(&app, &alice, &id).await;
    assert!(d["escalated_at"].is_string(), "{d}");
    let claim = app.claim_of("alice", &id).await;
    assert_eq!(timeline_events(&claim).last(), Some(&"dispute_escalated"));
    let (_, inbox) = app.call("GET", "/v1/inbox", Some(&alice), None, &[]).await;
    assert!(
        inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["event"] == "dispute_escalated"),
        "the customer is told: {inbox}"
    );
    let (_, list) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/disputes",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    assert_eq!(list["disputes"][0]["overdue"], true);
    assert!(list["disputes"][0]["escalated_at"].is_string());

    // The shop's admins have it now: a reviewer may no longer answer.
    let grounds =
        json!({"kind": "grounds", "text": "Measured: both shirts are size M as ordered."});
    let before = dispute_of(&app, &alice, &id).await;
    let (s, v) = dispute_call(
        &app,
        &reviewer(&app),
        &id,
        "/messages",
        Some(grounds.clone()),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(
        dispute_of(&app, &alice, &id).await,
        before,
        "nothing changed"
    );
    let (s, v) = dispute_call(&app, &admin(&app), &id, "/messages", Some(grounds)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = dispute_call(
        &app,
        &admin(&app),
        &id,
        "/proposals",
        Some(json!({"resolution": {"kind": "uphold"}, "note": "Sizes match the order."})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // She withdraws instead of accepting: the decision stands, no money.
    let (s, v) = dispute_call(&app, &alice, &id, "/withdraw", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "withdrawn");
    assert_eq!(v["proposals"][1]["state"], "withdrawn");
    assert!(refunds_of(&app, &id).await.is_empty());
}

async fn only_sound_disputes_are_opened(engine: &str) {
    let clock = TestClock::at(NOW);
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let alice = app.customer("alice");
    // Granted in full: nothing to dispute.
    let id = decided(&app, json!({"decision": "approve"})).await;
    let body = json!({"grounds": "other", "wished": {"kind": "redelivery"}, "text": "hm"});
    let (s, v) = dispute_call(&app, &alice, &id, "", Some(body.clone())).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "not_disputable");
    let app = spawn_app_at(engine_table(engine).await, &clock).await;
    let id = decided(
        &app,
        json!({"decision": "reject", "reason": "evidence_insufficient"}),
    )
    .await;
    let before = app.claim_of("alice", &id).await;
    // Bad bodies.
    for (bad, status) in [
        (
            json!({"grounds": "other", "wished": {"kind": "exchange"}, "text": ""}),
            422,
        ),
        (
            json!({"grounds": "other", "wished": {"kind": "exchange"}, "text": "x", "mood": 1}),
            400,
        ),
        (
            json!({"grounds": "other", "wished": {"kind": "supplementary_refund", "amount": "1.001"}, "text": "x"}),
            400,
        ),
        (
            json!({"grounds": "other", "wished": {"kind": "uphold"}, "text": "x"}),
            422,
        ),
        (
            json!({"grounds": "other", "wished": {"kind": "exchange"}, "text": "x",
                "attachments": ["evidence/upl_1/not-mine.jpg"]}),
            422,
        ),
    ] {
        let (s, v) = dispute_call(&app, &alice, &id, "", Some(bad.clone())).await;
        assert_eq!(s, status, "{bad} → {v}");
    }
    // After the window (15 days by default).
    clock.advance_hours(15 * 24 + 1);
    let (s, v) = dispute_call(&app, &alice, &id, "", Some(body)).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "dispute_window_closed");
    assert_eq!(app.claim_of("alice", &id).await, before, "nothing changed");
}

aftersales_tests::on_both_engines!(
    settled_by_a_supplementary_refund,
    unanswered_dispute_escalates,
    only_sound_disputes_are_opened,
);
