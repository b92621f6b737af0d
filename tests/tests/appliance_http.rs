//! Large appliances over HTTP on both engines, with the seed's case: an
//! air conditioner installed 8 days ago (the installer's record: when,
//! who, passed, test report) that does not cool is taken back on its
//! installation record by the default rules without staff, without a
//! restocking fee, the record on the claim for customer and staff; its
//! pickup is booked into a slot with a capacity per courier and area, a
//! full slot is refused naming the next free ones, and a re-booked or
//! cancelled pickup frees its place. Wrong kinds and lines not marked
//! large are refused and change nothing.

use aftersales::auth::StaffRole;
use aftersales::domain::appliance::{InstallResult, InstallationRecord};
use aftersales::installers::sandbox::SandboxInstaller;
use aftersales_tests::engine_table;
use aftersales_tests::http::{minor_units, spawn_app_with, TestApp, TestClock};
use serde_json::{json, Value};
use std::sync::Arc;

const NOW: &str = "2026-11-23T10:00:00Z";

fn ac_order(customer: &str) -> Value {
    json!({
        "customer_id": customer, "currency": "CNY", "language": "en",
        "placed_at": "2026-11-12T08:00:00Z",
        "lines": [
            {"line_id": "AC1", "sku": "AC-1.5P", "title": "Air conditioner", "kind": "appliance",
             "quantity": 1, "unit_price": "3999.00"},
            {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": 1, "unit_price": "30.00"}],
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000201",
                      "amount": "4029.00", "paid_at": "2026-11-12T08:01:00Z"}],
        "fulfilment": {"state": "delivered", "shipped_at": "2026-11-13T09:00:00Z",
                       "delivered_at": "2026-11-14T09:00:00Z"}
    })
}

fn installed(line: &str) -> InstallationRecord {
    InstallationRecord {
        line_id: line.into(),
        installed_at: "2026-11-15T06:00:00Z".parse().unwrap(),
        installer: "Cool Install Co., technician Wang".into(),
        result: InstallResult::Passed,
        test_report: "TR-20261115-88".into(),
    }
}

async fn app_on(engine: &str) -> (TestApp, Arc<SandboxInstaller>) {
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = TestClock::at(NOW).clock();
    let installer = Arc::new(SandboxInstaller::new());
    services.installer = Some(installer.clone());
    let app = spawn_app_with(services).await;
    // Pickups in Xihu by JD: one per slot.
    let (_, mut policy) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    policy["appliance"] = json!({"fault_window_days": 15,
        "pickup_capacity": [{"courier": "jd", "area": "Xihu", "per_slot": 1}]});
    let admin = app.staff("ada", "shop-1", &[StaffRole::Admin]);
    let (s, v) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/policy",
            Some(&admin),
            Some(&policy),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    (app, installer)
}

async fn file(app: &TestApp, customer: &str, order: &str, body: Value) -> (u16, Value) {
    let mut b = json!({"shop_id": "shop-1", "order_id": order});
    for (k, v) in body.as_object().unwrap() {
        b[k] = v.clone();
    }
    app.call(
        "POST",
        "/v1/claims",
        Some(&app.customer(customer)),
        Some(&b),
        &[],
    )
    .await
}

fn repair(line: &str) -> Value {
    json!({"type": "special_claim", "kind": "appliance_repair", "reason": "defective",
           "description": "Installed last week, blows warm air, does not cool",
           "lines": [{"line_id": line, "quantity": 1}]})
}

async fn book(app: &TestApp, customer: &str, id: &str, date: &str, slot: &str) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/v1/claims/{id}/pickup"),
        Some(&app.customer(customer)),
        Some(&json!({"date": date, "slot": slot,
                     "address": "8 Wensan Road, Xihu District, Hangzhou",
                     "contact_name": "Alice", "contact_phone": "138 0000 0000"})),
        &[],
    )
    .await
}

async fn units_free(app: &TestApp, order: &str) -> Value {
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
    o["lines_refundable"].clone()
}

async fn air_conditioner_not_cooling_goes_back_on_its_installation_record(engine: &str) {
    let (app, installer) = app_on(engine).await;
    app.push_order("o-ac", &ac_order("alice")).await;
    installer.install("shop-1", "o-ac", installed("AC1"));
    let before = units_free(&app, "o-ac").await;

    // A mug is no appliance.
    let (s, e) = file(&app, "alice", "o-ac", repair("L2")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("wrong_kind")),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("L2"),
        "{e}"
    );
    assert_eq!(units_free(&app, "o-ac").await, before, "nothing reserved");

    let (s, c) = file(&app, "alice", "o-ac", repair("AC1")).await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    assert_eq!(
        minor_units(&c["returns"]["terms"]["restocking_fee"]),
        0,
        "{c}"
    );
    app.drain().await;
    app.drain().await;
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "awaiting_return", "{c}");
    let approved = c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "approved")
        .cloned()
        .expect("approved");
    assert_eq!(
        approved["actor"]["rule_id"], "appliance-installation-fault",
        "decided by the default rules, no staff: {c}"
    );
    assert_eq!(c["returns"]["fast_refund_granted"], true, "{c}");
    let record = json!([{"line_id": "AC1", "installed_at": "2026-11-15T06:00:00Z",
        "installer": "Cool Install Co., technician Wang", "result": "passed",
        "test_report": "TR-20261115-88"}]);
    assert_eq!(c["installations"], record, "customer view: {c}");
    let (s, d) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/desk/claims/{id}"),
            Some(&app.staff("rita", "shop-1", &[StaffRole::Reviewer])),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["claim"]["installations"], record, "staff view: {d}");
    assert_eq!(installer.queries(), 1);

    // The pickup is booked into a slot.
    let (s, c) = book(&app, "alice", &id, "2026-11-25", "14:00-18:00").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["returns"]["pickup"]["slot"], "14:00-18:00");
    // Re-runs on later facts use the record the claim keeps.
    aftersales::app::review::evaluate_claim(&app.services, &id)
        .await
        .unwrap();
    assert_eq!(installer.queries(), 1, "not asked again");
    assert_eq!(app.claim_of("alice", &id).await["installations"], record);
}

async fn a_full_pickup_slot_names_the_next_free_ones(engine: &str) {
    let (app, installer) = app_on(engine).await;
    let mut ids = Vec::new();
    for who in ["alice", "bob", "carol"] {
        let order = format!("o-{who}");
        app.push_order(&order, &ac_order(who)).await;
        installer.install("shop-1", &order, installed("AC1"));
        let (s, c) = file(&app, who, &order, repair("AC1")).await;
        assert_eq!(s, 201, "{c}");
        ids.push(c["claim_id"].as_str().unwrap().to_owned());
    }
    app.drain().await;
    app.drain().await;
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let (s, v) = book(&app, "alice", a, "2026-11-25", "14:00-18:00").await;
    assert_eq!(s, 200, "{v}");
    let (s, e) = book(&app, "bob", b, "2026-11-25", "14:00-18:00").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("pickup_slot_full")),
        "{e}"
    );
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "next free: 2026-11-26 09:00-12:00, 2026-11-26 14:00-18:00, 2026-11-27 09:00-12:00"
        ),
        "{msg}"
    );
    assert_eq!(
        app.claim_of("bob", b).await["returns"]["pickup"],
        Value::Null
    );
    // Bad slots: not offered, in the past.
    for (date, slot) in [("2026-11-25", "20:00-22:00"), ("2026-11-22", "09:00-12:00")] {
        let (s, e) = book(&app, "bob", b, date, slot).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (422, Some("invalid_pickup")),
            "{e}"
        );
    }
    // Alice moves to the next morning: her afternoon place is free again.
    let (s, v) = book(&app, "alice", a, "2026-11-26", "09:00-12:00").await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = book(&app, "bob", b, "2026-11-25", "14:00-18:00").await;
    assert_eq!(s, 200, "{v}");
    let (s, e) = book(&app, "carol", c, "2026-11-26", "09:00-12:00").await;
    assert_eq!(s, 409, "{e}");
    // Alice cancels: her place goes to Carol.
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{a}/cancel"),
            Some(&app.customer("alice")),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = book(&app, "carol", c, "2026-11-26", "09:00-12:00").await;
    assert_eq!(s, 200, "{v}");
}

/// Bookings racing for the last places: the slot's count holds.
async fn concurrent_bookings_never_overfill_a_slot(engine: &str) {
    let (app, installer) = app_on(engine).await;
    let who = ["u1", "u2", "u3", "u4"];
    let mut ids = Vec::new();
    for w in who {
        let order = format!("o-{w}");
        app.push_order(&order, &ac_order(w)).await;
        installer.install("shop-1", &order, installed("AC1"));
        let (s, c) = file(&app, w, &order, repair("AC1")).await;
        assert_eq!(s, 201, "{c}");
        ids.push(c["claim_id"].as_str().unwrap().to_owned());
    }
    app.drain().await;
    app.drain().await;
    let slot = ("2026-11-27", "09:00-12:00");
    let (r1, r2, r3, r4) = tokio::join!(
        book(&app, who[0], &ids[0], slot.0, slot.1),
        book(&app, who[1], &ids[1], slot.0, slot.1),
        book(&app, who[2], &ids[2], slot.0, slot.1),
        book(&app, who[3], &ids[3], slot.0, slot.1),
    );
    let results = [r1, r2, r3, r4];
    let booked = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(booked, 1, "{results:?}");
    for (s, v) in &results {
        assert!(*s == 200 || *s == 409, "{v}");
    }
}

/// A pickup for a line the policy does not mark large.
async fn no_pickup_for_small_goods(engine: &str) {
    let (app, _) = app_on(engine).await;
    app.push_order("o-ac", &ac_order("alice")).await;
    let (s, c) = file(
        &app,
        "alice",
        "o-ac",
        json!({"type": "return_refund", "reason": "defective",
               "lines": [{"line_id": "L2", "quantity": 1}]}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    let (s, e) = book(&app, "alice", &id, "2026-11-25", "14:00-18:00").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("pickup_not_offered")),
        "{e}"
    );
}

aftersales_tests::on_both_engines!(
    air_conditioner_not_cooling_goes_back_on_its_installation_record,
    a_full_pickup_slot_names_the_next_free_ones,
    concurrent_bookings_never_overfill_a_slot,
    no_pickup_for_small_goods,
);
