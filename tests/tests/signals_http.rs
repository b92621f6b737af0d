//! Customer standing and fraud signals as rule facts, and rules that run
//! again on later facts, over HTTP on both engines:
//! - a photo already on another customer's claim (the same picture,
//!   resized and recompressed) is found by its perceptual hash, the
//!   default rules send the claim to a person, and staff see why (the
//!   customer does not);
//! - a photo whose EXIF date is before the delivery is flagged;
//! - the customer's refund rate and claims without return are facts;
//! - a trusted customer's return is refunded on the courier's pickup scan
//!   (a `fast_refund` rule), before the goods arrive; the inspection later
//!   moves no more money.

use aftersales::auth::StaffRole;
use aftersales::domain::fingerprint::sample::jpeg;
use aftersales_tests::courier_server::{random_salt, CourierServer, Parcel};
use aftersales_tests::engine_table;
use aftersales_tests::http::{
    bind_loopback, minor_units, sample_order, spawn_app_at, spawn_app_on, timeline_events, TestApp,
    TestClock,
};
use chrono::TimeZone;
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";

/// Delivered two days before [`NOW`].
fn delivered(customer: &str) -> Value {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-11-20T09:00:00Z",
                             "delivered_at": "2026-11-21T09:00:00Z"});
    o
}

fn reviewer(app: &TestApp) -> String {
    app.staff("rita", "shop-1", &[StaffRole::Reviewer])
}

/// Files a claim for the mug (28.39: the default rules approve that much
/// by themselves, unless something is wrong).
async fn file(app: &TestApp, customer: &str, order: &str, ty: &str, evidence: &[String]) -> String {
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer(customer)),
            Some(&json!({"shop_id": "shop-1", "order_id": order, "type": ty,
                         "reason": "defective", "description": "seam torn",
                         "evidence": evidence,
                         "lines": [{"line_id": "L2", "quantity": 1}]})),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    id
}

async fn desk_detail(app: &TestApp, id: &str) -> Value {
    let (s, d) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/desk/claims/{id}"),
            Some(&reviewer(app)),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{d}");
    d
}

/// Bob's photo of his torn shirt; Alice sends the same picture, smaller
/// and recompressed, with her own claim. Her claim goes to a person with
/// the reason on the desk; Bob's own claim is unaffected; a claim with a
/// different photo is not flagged.
async fn a_reused_photo_is_flagged_and_sent_to_a_person(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    for (order, customer) in [("o-1", "bob"), ("o-2", "alice"), ("o-3", "carol")] {
        app.push_order(order, &delivered(customer)).await;
    }
    let bobs_photo = app
        .upload_photo("bob", "shop-1", &jpeg(42, 800, 600, None))
        .await;
    let bobs = file(
        &app,
        "bob",
        "o-1",
        "return_refund",
        std::slice::from_ref(&bobs_photo),
    )
    .await;
    let b = desk_detail(&app, &bobs).await;
    assert_eq!(b["signals"]["reused"], Value::Null, "{b}");
    assert_eq!(b["claim"]["status"], "awaiting_return", "{b}");

    let same_again = app
        .upload_photo("alice", "shop-1", &jpeg(42, 400, 300, None))
        .await;
    let alices = file(
        &app,
        "alice",
        "o-2",
        "return_refund",
        std::slice::from_ref(&same_again),
    )
    .await;
    let d = desk_detail(&app, &alices).await;
    assert_eq!(d["claim"]["status"], "under_review", "{d}");
    assert_eq!(
        d["signals"]["reused"],
        json!([{"evidence": same_again, "claim_id": bobs, "other_customer": true}]),
        "{d}"
    );
    let timeline = d["claim"]["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|t| t["event"] == "review_started"
                && t["actor"]["rule_id"] == "reused-photo-manual"),
        "{timeline:?}"
    );
    // The queue shows it too; the customer sees none of it.
    let (_, q) = app
        .call(
            "GET",
            "/v1/shops/shop-1/desk/claims?status=under_review",
            Some(&reviewer(&app)),
            None,
            &[],
        )
        .await;
    let item = q["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["claim_id"] == alices.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("in the queue: {q}"));
    assert_eq!(item["signals"]["reused"][0]["claim_id"], bobs.as_str());
    let mine = app.claim_of("alice", &alices).await;
    assert!(!mine.to_string().contains("signals"), "{mine}");
    assert!(!mine.to_string().contains(&bobs), "{mine}");

    // A different photo is not someone else's.
    let own = app
        .upload_photo("carol", "shop-1", &jpeg(7, 800, 600, None))
        .await;
    let carols = file(&app, "carol", "o-3", "return_refund", &[own]).await;
    let c = desk_detail(&app, &carols).await;
    assert_eq!(c["signals"]["reused"], Value::Null, "{c}");
    assert_eq!(c["claim"]["status"], "awaiting_return", "{c}");
}

/// A photo the camera dated before the parcel was delivered cannot show
/// what the delivery did: flagged, to a person.
async fn a_photo_older_than_the_delivery_is_flagged(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    app.push_order("o-1", &delivered("alice")).await;
    // 2026-11-20 12:00 in China: the day before delivery (21st, 09:00 UTC).
    let old = app
        .upload_photo(
            "alice",
            "shop-1",
            &jpeg(9, 640, 480, Some(("2026:11:20 12:00:00", Some("+08:00")))),
        )
        .await;
    let id = file(
        &app,
        "alice",
        "o-1",
        "return_refund",
        std::slice::from_ref(&old),
    )
    .await;
    let d = desk_detail(&app, &id).await;
    assert_eq!(d["claim"]["status"], "under_review", "{d}");
    assert_eq!(d["signals"]["taken_before_delivery"], json!([old]), "{d}");
}

/// The customer's standing: after two paid refund-only claims on shipped
/// goods, a shop rule on `claims_without_return` and `refund_rate_percent`
/// sends the third to a person, and staff see the counts.
async fn standing_counts_what_the_customer_kept(engine: &str) {
    let app = spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await;
    put_rules(
        &app,
        json!([
            {"id": "serial-keeper", "when": {"claims_without_return": {"gte": 2},
                                             "refund_rate_percent": {"gte": 50}},
             "then": {"decision": "manual_review"}},
            {"id": "refund-only-ok", "when": {"claim_type": {"in": ["refund_only"]}},
             "then": {"decision": "approve"}}
        ]),
    )
    .await;
    for order in ["o-1", "o-2", "o-3"] {
        let mut o = delivered("alice");
        o["customer_stats"] = json!({"paid_orders": 4, "total_spent": "800.00"});
        app.push_order(order, &o).await;
    }
    let photo = app.upload_evidence("alice", "shop-1", true).await;
    let first = file(&app, "alice", "o-1", "refund_only", &[photo]).await;
    let photo = app.upload_evidence("alice", "shop-1", true).await;
    let second = file(&app, "alice", "o-2", "refund_only", &[photo]).await;
    for id in [&first, &second] {
        let c = app.claim_of("alice", id).await;
        assert!(
            matches!(c["status"].as_str(), Some("refunding" | "completed")),
            "{c}"
        );
    }
    let photo = app.upload_evidence("alice", "shop-1", true).await;
    let third = file(&app, "alice", "o-3", "refund_only", &[photo]).await;
    let d = desk_detail(&app, &third).await;
    assert_eq!(d["claim"]["status"], "under_review", "{d}");
    assert_eq!(d["signals"]["claims_without_return"], 2, "{d}");
    // Two of four paid orders.
    assert_eq!(d["signals"]["refund_rate_percent"], 50, "{d}");
    assert_eq!(d["signals"]["same_reason_claims"], 2, "{d}");
}

async fn put_rules(app: &TestApp, rules: Value) {
    let admin = app.staff("ada", "shop-1", &[StaffRole::Admin]);
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/rules",
            Some(&admin),
            Some(&json!({ "rules": rules })),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

fn at(day: u32, hour: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .unwrap()
}

/// A gold member's return, approved by the rules, is refunded the moment
/// the courier scans the parcel at pickup: the rules ran again on the
/// courier's news. The goods arrive later and pass inspection; no second
/// refund. A regular customer's return on the same scan waits for the
/// goods as usual.
async fn a_trusted_customer_is_refunded_on_the_pickup_scan(engine: &str) {
    let courier = CourierServer::start().await;
    let (listener, base) = bind_loopback().await;
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = TestClock::at(NOW).clock();
    courier.install(&mut services, &base, &random_salt());
    let app = spawn_app_on(listener, services).await;
    put_rules(
        &app,
        json!([
            {"id": "trusted-fast-refund",
             "when": {"member_tier": {"in": ["gold", "platinum", "diamond"]},
                      "claim_type": {"in": ["return_refund"]},
                      "refund_rate_percent": {"lte": 30},
                      "evidence_reused": {"eq": false},
                      "courier": {"in": ["picked_up", "in_transit"]}},
             "then": {"decision": "fast_refund"}},
            {"id": "returns-approve", "when": {"claim_type": {"in": ["return_refund"]}},
             "then": {"decision": "approve"}}
        ]),
    )
    .await;
    app.push_order("o-1", &delivered("alice")).await;
    let mut regular = delivered("rick");
    regular["member_tier"] = json!("regular");
    app.push_order("o-2", &regular).await;
    let id = file(&app, "alice", "o-1", "return_refund", &[]).await;
    let other = file(&app, "rick", "o-2", "return_refund", &[]).await;
    for (who, claim, number) in [
        ("alice", &id, "YT1234567890123"),
        ("rick", &other, "YT1234567890124"),
    ] {
        assert_eq!(app.claim_of(who, claim).await["status"], "awaiting_return");
        let (s, v) = app
            .call(
                "POST",
                &format!("/v1/claims/{claim}/return-shipment"),
                Some(&app.customer(who)),
                Some(&json!({"carrier": "yuantong", "tracking_number": number})),
                &[],
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    app.drain().await;
    assert!(app.claim_refunds(&id).await.is_empty(), "not before pickup");

    for number in ["YT1234567890123", "YT1234567890124"] {
        courier.set_parcel(
            number,
            Parcel::picked_up("yuantong", at(23, 9), "广东,深圳市"),
        );
        let replies = courier.push("yuantong", number).await;
        assert!(!replies.is_empty());
    }
    app.drain().await;
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(c["returns"]["fast_refund"], true, "{c}");
    let refunds = app.claim_refunds(&id).await;
    let paid: i64 = refunds.iter().map(|r| minor_units(&r["amount"])).sum();
    assert!(paid >= minor_units(&c["approved_amount"]), "{refunds:?}");
    let ev = timeline_events(&c);
    assert!(!ev.contains(&"return_received"), "before the goods: {ev:?}");
    // Rick is no trusted member: his money waits for the goods.
    let r = app.claim_of("rick", &other).await;
    assert_eq!(r["status"], "return_shipped", "{r}");
    assert!(app.claim_refunds(&other).await.is_empty());

    // The goods arrive and fail inspection: the money already went, the
    // finding stays on the claim, nothing more moves.
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/inspection"),
            Some(&reviewer(&app)),
            Some(
                &json!({"lines": [{"line_id": "L2", "received": 1, "outcome": "received",
                                    "disposition": "restock"}],
                         "decision": {"decision": "partial", "amount": "10.00"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "completed");
    app.drain().await;
    assert_eq!(app.claim_refunds(&id).await.len(), refunds.len());
    let ev = timeline_events(&c);
    assert_eq!(ev[ev.len() - 2..], ["return_received", "inspected"]);
}

aftersales_tests::on_both_engines!(
    a_reused_photo_is_flagged_and_sent_to_a_person,
    a_photo_older_than_the_delivery_is_flagged,
    standing_counts_what_the_customer_kept,
    a_trusted_customer_is_refunded_on_the_pickup_scan,
);
