//! Large appliances over HTTP on both engines, with the seed's case: an
//! air conditioner installed 8 days ago (the installer's record: when,
//! who, passed, test report) that does not cool is taken back on its
//! installation record by the default rules without staff, without a
//! restocking fee, the record on the claim for customer and staff; its
//! pickup is booked into a slot with a capacity per courier and area (the
//! shop's courier collects: no return shipping added to the refund); on
//! the courier's pickup scan, pushed by the tracking aggregator, the
//! money for the appliance goes back once (a redelivered scan or event
//! moves nothing more) and the claim completes; the goods received and
//! inspected later as defective move no money. A full slot is refused
//! naming the next free ones, and a re-booked or cancelled pickup frees
//! its place. Wrong kinds and lines not marked large are refused and
//! change nothing.

use aftersales::auth::StaffRole;
use aftersales::domain::appliance::{InstallResult, InstallationRecord};
use aftersales::installers::sandbox::SandboxInstaller;
use aftersales_tests::courier_server::{random_salt, CourierServer, Parcel};
use aftersales_tests::engine_table;
use aftersales_tests::http::{
    bind_loopback, minor_units, spawn_app_on, timeline_events, TestApp, TestClock,
};
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
    let shop = shop_on(engine).await;
    (shop.app, shop.installer)
}

/// The app with its installer network, the courier aggregator it tracks
/// parcels at (a local Kuaidi100 pushing signed news to the app's
/// callback), and the clock the test moves.
struct Shop {
    app: TestApp,
    installer: Arc<SandboxInstaller>,
    courier: CourierServer,
    clock: TestClock,
}

async fn shop_on(engine: &str) -> Shop {
    let clock = TestClock::at(NOW);
    let courier = CourierServer::start().await;
    let (listener, base) = bind_loopback().await;
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = clock.clock();
    courier.install(&mut services, &base, &random_salt());
    let installer = Arc::new(SandboxInstaller::new());
    services.installer = Some(installer.clone());
    let app = spawn_app_on(listener, services).await;
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
    Shop {
        app,
        installer,
        courier,
        clock,
    }
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
    let Shop {
        app,
        installer,
        courier,
        clock,
    } = shop_on(engine).await;
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
    // A fault: the shop pays the return.
    assert_eq!(c["returns"]["terms"]["shipping_payer"], "shop", "{c}");
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
    // The shop's courier collects it: no parcel for Alice to be paid back.
    assert_eq!(c["returns"]["terms"]["shipping_payer"], "shop", "{c}");
    assert_eq!(
        minor_units(&c["returns"]["terms"]["shipping_refund"]),
        0,
        "{c}"
    );
    // Re-runs on later facts use the record the claim keeps.
    aftersales::app::review::evaluate_claim(&app.services, &id)
        .await
        .unwrap();
    assert_eq!(installer.queries(), 1, "not asked again");
    assert_eq!(app.claim_of("alice", &id).await["installations"], record);
    app.drain().await;

    // The pickup day, 15:00 in Hangzhou: JD's courier takes the air
    // conditioner at the door and leaves Alice the waybill, which she
    // enters on her claim.
    clock.advance_hours(45);
    let waybill = "JDAB12345678901";
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/claims/{id}/return-shipment"),
            Some(&app.customer("alice")),
            Some(&json!({"carrier": "jd", "tracking_number": waybill})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "return_shipped", "{c}");
    // The parcel is registered and subscribed at the aggregator, which
    // has no scan of it yet: no money before the courier has the goods.
    app.drain().await;
    assert_eq!(courier.subscribe_calls(waybill), 1);
    assert!(app.claim_refunds(&id).await.is_empty(), "not before pickup");
    let c = app.claim_of("alice", &id).await;
    assert_eq!(
        (&c["status"], &c["returns"]["fast_refund"]),
        (&json!("return_shipped"), &json!(false)),
        "{c}"
    );

    // JD's pickup scan reaches the app as a signed Kuaidi100 push.
    let picked = Parcel::picked_up("jd", at(25, 7), "浙江,杭州市");
    courier.set_parcel(waybill, picked.clone());
    acked(&courier.push("jd", waybill).await);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["returns"]["shipment"]["state"], "picked_up", "{c}");
    // Every event the consumers see from here, to hand them again later.
    let news = drain_keeping(&app).await;
    let kinds: Vec<&str> = news.iter().map(|e| e.event_type.as_str()).collect();
    for kind in ["claim.shipment_updated", "claim.refund_started"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }

    // The fast refund: the money for the air conditioner, once, back to
    // the WeChat Pay payment, without fee and before anyone inspects it.
    let order = ac_order("alice");
    let ac = &order["lines"][0];
    let ac_paid =
        minor_units(&json!({"amount": ac["unit_price"]})) * ac["quantity"].as_i64().unwrap();
    let refunds = app.claim_refunds(&id).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let refund = &refunds[0];
    assert_eq!(minor_units(&refund["amount"]), ac_paid, "{refund}");
    assert_eq!(refund["amount"]["currency"], "CNY", "{refund}");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    assert_eq!(refund["channel"], "wechat_pay", "{refund}");
    assert_eq!(refund["payment_id"], "P1", "{refund}");
    let rid = refund["refund_id"].as_str().unwrap().to_owned();
    assert_eq!(app.sandbox.movements(&rid), 1, "money moved once");
    assert_eq!(app.sandbox.total_movements(), 1);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(c["returns"]["fast_refund"], true, "{c}");
    assert_eq!(minor_units(&c["approved_amount"]), ac_paid, "{c}");
    let ev = timeline_events(&c);
    for step in [
        "refund_started",
        "refund_sent",
        "refund_arrived",
        "refund_succeeded",
    ] {
        assert_eq!(
            ev.iter().filter(|e| **e == step).count(),
            1,
            "{step} once in {ev:?}"
        );
    }
    assert!(!ev.contains(&"return_received"), "before the goods: {ev:?}");
    let step = |name: &str| {
        c["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["event"] == name)
            .cloned()
            .unwrap()
    };
    let sent = step("refund_sent");
    assert_eq!(
        (&sent["refund_id"], &sent["channel"]),
        (&json!(rid), &json!("wechat_pay")),
        "{sent}"
    );
    assert_eq!(minor_units(&sent["amount"]), ac_paid, "{sent}");
    assert!(sent["expected_arrival"].is_string(), "{sent}");
    let arrived = step("refund_arrived");
    assert_eq!(arrived["refund_id"], json!(rid), "{arrived}");
    assert_eq!(minor_units(&arrived["amount"]), ac_paid, "{arrived}");
    assert!(arrived["arrived_at"].is_string(), "{arrived}");
    // The air conditioner is refunded; the mug is untouched.
    let free = units_free(&app, "o-ac").await;
    assert_eq!(line(&free, "AC1")["units_free"], 0, "{free}");
    assert_eq!(minor_units(&line(&free, "AC1")["refundable"]), 0, "{free}");
    assert_eq!(line(&free, "L2"), line(&before, "L2"), "{free}");

    // The same scan pushed again, and the events that sent the money
    // handed to every consumer again: nothing more moves.
    acked(&courier.push("jd", waybill).await);
    for e in &news {
        for &consumer in aftersales::app::dispatch::ALL_CONSUMERS {
            aftersales::app::dispatch::deliver(&app.services, consumer, e)
                .await
                .unwrap();
        }
    }
    app.drain().await;
    assert_eq!(app.claim_refunds(&id).await.len(), 1);
    assert_eq!(app.sandbox.total_movements(), 1);

    // The parcel reaches the shop two days later; staff receive it and
    // find the compressor dead: defective stock, and no more money.
    clock.advance_hours(48);
    courier.set_parcel(waybill, picked.delivered(at(27, 6), "浙江,杭州市"));
    acked(&courier.push("jd", waybill).await);
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/inspection"),
            Some(&app.staff("rita", "shop-1", &[StaffRole::Reviewer])),
            Some(
                &json!({"lines": [{"line_id": "AC1", "received": 1, "outcome": "received",
                                    "disposition": "defective"}],
                         "notes": "Compressor does not start; blows warm air",
                         "decision": {"decision": "accept"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "completed", "{c}");
    let ev = timeline_events(&c);
    assert_eq!(
        ev[ev.len() - 2..],
        ["return_received", "inspected"],
        "{ev:?}"
    );
    let inventory: Vec<_> = aftersales::repo::outbox::pending(&*app.table, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type.as_str().starts_with("inventory."))
        .map(|e| (e.event_type.to_string(), e.payload))
        .collect();
    assert_eq!(inventory.len(), 1, "{inventory:?}");
    assert_eq!(inventory[0].0, "inventory.defective");
    assert_eq!(
        (&inventory[0].1["sku"], &inventory[0].1["quantity"]),
        (&json!("AC-1.5P"), &json!(1))
    );
    app.drain().await;
    app.drain().await;
    let refunds = app.claim_refunds(&id).await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["refund_id"], json!(rid));
    assert_eq!(app.sandbox.total_movements(), 1);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(
        timeline_events(&c)
            .iter()
            .filter(|e| **e == "refund_started")
            .count(),
        1
    );
    assert_eq!(units_free(&app, "o-ac").await, free, "the ledger stays");
}

/// Drains the outbox one round at a time like [`TestApp::drain`], keeping
/// every event delivered.
async fn drain_keeping(app: &TestApp) -> Vec<aftersales::repo::OutboxEvent> {
    let mut seen = Vec::new();
    loop {
        let round = aftersales::repo::outbox::pending(&*app.table, 1000)
            .await
            .unwrap();
        if round.is_empty() {
            return seen;
        }
        let n = aftersales::app::dispatch::drain_outbox(&app.services, 1000)
            .await
            .unwrap();
        assert_eq!(n, round.len(), "every pending event delivered");
        seen.extend(round);
    }
}

fn line<'a>(lines: &'a Value, id: &str) -> &'a Value {
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["line_id"] == id)
        .unwrap()
}

fn at(day: u32, hour: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .unwrap()
}

fn acked(replies: &[(u16, Value)]) {
    assert!(!replies.is_empty(), "the parcel was subscribed");
    for (s, v) in replies {
        assert_eq!(*s, 200, "{v}");
        assert_eq!(v["returnCode"], "200", "{v}");
    }
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
