//! Courier verification over HTTP, on both engines, against the local
//! Kuaidi100 (tests/src/courier_server.rs: signed queries and subscriptions
//! checked with credentials it made up, pushes signed with our salt): a
//! return parcel is subscribed once however often its event comes; signed
//! pushes move the claim's parcel and timeline; repeated and reordered
//! pushes change nothing; a forged push is refused and changes nothing; a
//! parcel delivered elsewhere flags the claim once; one never picked up is
//! flagged by polling once; an exchange completes when its replacement is
//! delivered.

use aftersales::app::dispatch::{deliver, Consumer};
use aftersales::auth::StaffRole;
use aftersales::domain::claim::ClaimStep;
use aftersales::domain::events::EventType;
use aftersales::repo::OutboxEvent;
use aftersales_tests::courier_server::{
    push_param, random_salt, signed_form, CourierServer, Parcel,
};
use aftersales_tests::engine_table;
use aftersales_tests::http::{bind_loopback, sample_order, spawn_app_on, TestApp, TestClock};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

const NOW: &str = "2026-11-23T10:00:00Z";
const YTO: &str = "YT1234567890123";
const ZTO: &str = "73123456789012";

struct World {
    app: TestApp,
    courier: CourierServer,
    clock: TestClock,
    salt: String,
}

/// The app tracking parcels at a fresh local Kuaidi100 that pushes to the
/// app's own callback.
async fn world(engine: &str) -> World {
    let courier = CourierServer::start().await;
    let clock = TestClock::at(NOW);
    let (listener, base) = bind_loopback().await;
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = clock.clock();
    let salt = random_salt();
    courier.install(&mut services, &base, &salt);
    let app = spawn_app_on(listener, services).await;
    World {
        app,
        courier,
        clock,
        salt,
    }
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("time")
}

/// Delivered two days ago: returns are inside the no-reason window.
fn delivered_order(customer: &str) -> Value {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "delivered", "shipped_at": "2026-11-20T09:00:00Z",
                             "delivered_at": "2026-11-21T09:00:00Z"});
    o
}

fn reviewer(app: &TestApp) -> String {
    app.staff("rita", "shop-1", &[StaffRole::Reviewer])
}

/// Files a claim and has it approved; returns its id.
async fn approved(app: &TestApp, ty: &str, reason: &str) -> String {
    app.push_order("o-1", &delivered_order("alice")).await;
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(&json!({"shop_id": "shop-1", "order_id": "o-1", "type": ty,
                         "reason": reason, "lines": [{"line_id": "L1", "quantity": 1}]})),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap().to_owned();
    app.drain().await;
    if app.claim_of("alice", &id).await["status"] != "awaiting_return" {
        let (s, d) = app
            .call(
                "POST",
                &format!("/v1/shops/shop-1/desk/claims/{id}/decision"),
                Some(&reviewer(app)),
                Some(&json!({"decision": "approve"})),
                &[],
            )
            .await;
        assert_eq!(s, 200, "{d}");
    }
    assert_eq!(
        app.claim_of("alice", &id).await["status"],
        "awaiting_return"
    );
    id
}

async fn ship_return(app: &TestApp, id: &str, carrier: &str, number: &str) {
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/claims/{id}/return-shipment"),
            Some(&app.customer("alice")),
            Some(&json!({"carrier": carrier, "tracking_number": number})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

async fn set_return_city(app: &TestApp, city: &str) {
    let (_, mut policy) = app
        .call("GET", "/v1/shops/shop-1/policy", None, None, &[])
        .await;
    policy["returns"]["return_city"] = json!(city);
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
}

fn count(c: &Value, event: &str) -> usize {
    c["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event)
        .count()
}

fn acked(replies: &[(u16, Value)]) {
    assert!(!replies.is_empty(), "nobody subscribed");
    for (s, v) in replies {
        assert_eq!(*s, 200, "{v}");
        assert_eq!(
            v,
            &json!({"result": true, "returnCode": "200", "message": "成功"})
        );
    }
}

/// The claim as stored (its version included), to prove nothing changed.
async fn stored(app: &TestApp, id: &str) -> (Value, u64) {
    let (c, v) = aftersales::repo::claims::get(&*app.table, id)
        .await
        .unwrap()
        .unwrap();
    (serde_json::to_value(c).unwrap(), v)
}

async fn return_parcel_is_verified_by_signed_pushes(engine: &str) {
    let w = world(engine).await;
    let app = &w.app;
    set_return_city(app, "杭州").await;
    let id = approved(app, "return_refund", "no_longer_wanted").await;
    ship_return(app, &id, "yuantong", YTO).await;
    app.drain().await;

    // Subscribed once, with our callback and salt; the first query found no
    // record yet, which is normal.
    let subs = w.courier.subscriptions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0].company, "yuantong");
    assert_eq!(subs[0].number, YTO);
    assert_eq!(
        subs[0].callback_url,
        format!("{}/v1/couriers/kuaidi100", app.base)
    );
    assert_eq!(subs[0].salt, w.salt);
    assert_eq!(w.courier.queries(YTO), 1);
    assert_eq!(w.courier.bad_signatures(), 0);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["returns"]["shipment"]["state"], Value::Null, "{c}");

    // The event again, three times (at-least-once delivery): no second
    // subscription.
    let event = OutboxEvent {
        event_id: "ev-again".into(),
        at: at(23, 10),
        shop_id: "shop-1".into(),
        subject: id.clone(),
        event_type: EventType::Claim(ClaimStep::ReturnShipped),
        payload: json!({"event": "return_shipped", "carrier": "yuantong", "tracking_number": YTO}),
    };
    for _ in 0..3 {
        deliver(&app.services, Consumer::Couriers, &event)
            .await
            .unwrap();
    }
    assert_eq!(w.courier.subscribe_calls(YTO), 1);

    // Three moments of the parcel, each pushed as Kuaidi100 would.
    let picked = Parcel::picked_up("yuantong", at(23, 12), "广东,深圳市");
    w.courier.set_parcel(YTO, picked.clone());
    let first = w.courier.push_bodies("yuantong", YTO);
    acked(&w.courier.push("yuantong", YTO).await);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["returns"]["shipment"]["state"], "picked_up", "{c}");
    assert_eq!(count(&c, "shipment_updated"), 1, "{c}");
    let moving = picked.scan(at(24, 1), "快件已发往 杭州", "广东,深圳市", "0");
    w.courier.set_parcel(YTO, moving.clone());
    let second = w.courier.push_bodies("yuantong", YTO);
    w.courier
        .set_parcel(YTO, moving.delivered(at(25, 9), "浙江,杭州市"));
    let third = w.courier.push_bodies("yuantong", YTO);

    // Newest first, then older ones and repeats: the end is the newest.
    for (url, body) in third.iter().chain(&second).chain(&first).chain(&third) {
        acked(&[w.courier.post(url, body.clone()).await]);
    }
    let c = app.claim_of("alice", &id).await;
    let sh = &c["returns"]["shipment"];
    assert_eq!(sh["state"], "delivered", "{c}");
    assert_eq!(sh["delivered_to_destination"], true, "{c}");
    assert_eq!(sh["flagged"], Value::Null, "{c}");
    // picked_up, then delivered: the late in-transit push added nothing.
    assert_eq!(count(&c, "shipment_updated"), 2, "{c}");
    let before = stored(app, &id).await;
    for (url, body) in second.iter().chain(&third) {
        acked(&[w.courier.post(url, body.clone()).await]);
    }
    assert_eq!(stored(app, &id).await, before);

    // Forged: signed with a salt that is not ours; tampered after signing;
    // unsigned. Refused with Kuaidi100's failure body; nothing changes.
    let refund = push_param(
        YTO,
        &Parcel::picked_up("yuantong", at(26, 1), "广东,深圳市").delivered(at(26, 2), "北京"),
    );
    let url = format!("{}/v1/couriers/kuaidi100", app.base);
    let (s, v) = w
        .courier
        .post(&url, signed_form(&refund, "not-our-salt"))
        .await;
    assert_eq!((s, &v["result"]), (400, &json!(false)), "{v}");
    let genuine = String::from_utf8(third[0].1.clone()).unwrap();
    let tampered = genuine.replacen("%E6%9D%AD%E5%B7%9E", "%E5%8C%97%E4%BA%AC", 1);
    assert_ne!(genuine, tampered);
    let (s, v) = w.courier.post(&url, tampered.into_bytes()).await;
    assert_eq!((s, &v["result"]), (400, &json!(false)), "{v}");
    let unsigned = form_urlencoded::Serializer::new(String::new())
        .append_pair("param", &refund)
        .finish();
    let (s, _) = w.courier.post(&url, unsigned.into_bytes()).await;
    assert_eq!(s, 400);
    assert_eq!(stored(app, &id).await, before);

    // A correctly signed push about a parcel nobody here tracks is
    // acknowledged (so Kuaidi100 stops) and changes nothing.
    let stranger = push_param(
        "YT9999999999999",
        &Parcel::picked_up("yuantong", at(26, 1), "上海"),
    );
    let (s, v) = w.courier.post(&url, signed_form(&stranger, &w.salt)).await;
    assert_eq!((s, &v["result"]), (200, &json!(true)), "{v}");
    assert_eq!(stored(app, &id).await, before);
    // Everything was told once to the customer.
    app.drain().await;
}

async fn delivered_elsewhere_is_flagged_once(engine: &str) {
    let w = world(engine).await;
    let app = &w.app;
    set_return_city(app, "杭州").await;
    let id = approved(app, "return_refund", "no_longer_wanted").await;
    ship_return(app, &id, "yuantong", YTO).await;
    app.drain().await;
    let parcel = Parcel::picked_up("yuantong", at(23, 12), "广东,深圳市")
        .delivered(at(24, 9), "广东,深圳市");
    w.courier.set_parcel(YTO, parcel.clone());
    acked(&w.courier.push("yuantong", YTO).await);
    acked(&w.courier.push("yuantong", YTO).await);
    // The courier adds a later line (still delivered there): no new flag.
    w.courier.set_parcel(
        YTO,
        parcel.scan(at(24, 10), "快递柜取件提醒", "广东,深圳市", "3"),
    );
    acked(&w.courier.push("yuantong", YTO).await);
    let c = app.claim_of("alice", &id).await;
    let sh = &c["returns"]["shipment"];
    assert_eq!(sh["state"], "delivered", "{c}");
    assert_eq!(sh["delivered_to_destination"], false, "{c}");
    assert!(
        sh["flagged"].as_str().is_some_and(|f| f.contains("深圳")),
        "{c}"
    );
    assert_eq!(count(&c, "shipment_flagged"), 1, "{c}");
    // Polling asks again later: still once.
    w.clock.advance_hours(2);
    aftersales::app::couriers::poll(&app.services, chrono::Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(
        count(&app.claim_of("alice", &id).await, "shipment_flagged"),
        1
    );
    // Staff find it on the desk: flagged parcels, whatever the status.
    let desk = |q: &'static str| async move {
        let (s, v) = app
            .call(
                "GET",
                &format!("/v1/shops/shop-1/desk/claims?{q}"),
                Some(&reviewer(app)),
                None,
                &[],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    };
    let flagged = desk("parcel_flagged=true").await;
    assert_eq!(flagged["claims"].as_array().unwrap().len(), 1, "{flagged}");
    assert_eq!(flagged["claims"][0]["claim_id"], id.as_str());
    assert!(flagged["claims"][0]["parcel_flagged"]
        .as_str()
        .is_some_and(|f| f.contains("深圳")));
    let calm = desk("parcel_flagged=false&status=return_shipped").await;
    assert_eq!(calm["claims"].as_array().unwrap().len(), 0, "{calm}");
}

async fn never_picked_up_is_flagged_by_polling(engine: &str) {
    let w = world(engine).await;
    let app = &w.app;
    let id = approved(app, "return_refund", "no_longer_wanted").await;
    ship_return(app, &id, "zhongtong", ZTO).await;
    app.drain().await;
    let poll = || aftersales::app::couriers::poll(&app.services, chrono::Duration::hours(1));
    // Within the policy's window (7 days): asked about, not flagged.
    w.clock.advance_hours(24 * 3);
    let p = poll().await.unwrap();
    assert_eq!((p.checked, p.flagged), (1, 0), "{p:?}");
    assert_eq!(w.courier.queries(ZTO), 2);
    // Past it: flagged, once.
    w.clock.advance_hours(24 * 5);
    let p = poll().await.unwrap();
    assert_eq!(p.flagged, 1, "{p:?}");
    w.clock.advance_hours(2);
    assert_eq!(poll().await.unwrap().flagged, 0);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(count(&c, "shipment_flagged"), 1, "{c}");
    assert!(
        c["returns"]["shipment"]["flagged"]
            .as_str()
            .is_some_and(|f| f.contains("7 days")),
        "{c}"
    );
    // A parcel that starts moving late is still recorded, by polling alone
    // (its pushes lost); the flag stays for staff to judge.
    w.courier.set_parcel(
        ZTO,
        Parcel::picked_up("zhongtong", at(30, 20), "浙江,杭州市"),
    );
    w.clock.advance_hours(2);
    let p = poll().await.unwrap();
    assert_eq!((p.changed, p.flagged), (1, 0), "{p:?}");
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["returns"]["shipment"]["state"], "picked_up", "{c}");
    assert_eq!(count(&c, "shipment_flagged"), 1, "{c}");
}

async fn replacement_delivered_completes_the_exchange(engine: &str) {
    let w = world(engine).await;
    let app = &w.app;
    let id = approved(app, "exchange", "wrong_size").await;
    ship_return(app, &id, "yuantong", YTO).await;
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/inspection"),
            Some(&reviewer(app)),
            Some(
                &json!({"lines": [{"line_id": "L1", "received": 1, "outcome": "received",
                                    "disposition": "restock"}],
                         "decision": {"decision": "accept"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let (s, c) = app
        .call(
            "POST",
            &format!("/v1/shops/shop-1/desk/claims/{id}/replacement"),
            Some(&reviewer(app)),
            Some(&json!({"carrier": "zhongtong", "tracking_number": ZTO})),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "replacement_shipped");
    app.drain().await;
    assert_eq!(w.courier.subscribe_calls(ZTO), 1);
    // Out for delivery, then delivered to the customer.
    let out = Parcel::picked_up("zhongtong", at(24, 8), "浙江,杭州市").scan(
        at(25, 8),
        "派件中",
        "上海",
        "5",
    );
    w.courier.set_parcel(ZTO, out.clone());
    acked(&w.courier.push("zhongtong", ZTO).await);
    assert_eq!(
        app.claim_of("alice", &id).await["status"],
        "replacement_shipped"
    );
    w.courier.set_parcel(ZTO, out.delivered(at(25, 15), "上海"));
    acked(&w.courier.push("zhongtong", ZTO).await);
    acked(&w.courier.push("zhongtong", ZTO).await);
    let c = app.claim_of("alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(count(&c, "completed"), 1, "{c}");
    let rep = &c["returns"]["replacement"];
    assert_eq!(rep["state"], "delivered", "{c}");
    assert_eq!(rep["delivered_to_destination"], true, "{c}");
    // The customer hears of it: the completed step reaches the inbox.
    app.drain().await;
    let (_, inbox) = app
        .call("GET", "/v1/inbox", Some(&app.customer("alice")), None, &[])
        .await;
    assert!(
        inbox["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["event"] == "completed"),
        "{inbox}"
    );
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name("sqlite").await } )* }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("dynamodb").await } )* }
    };
}

on_both_engines!(
    return_parcel_is_verified_by_signed_pushes,
    delivered_elsewhere_is_flagged_once,
    never_picked_up_is_flagged_by_polling,
    replacement_delivered_completes_the_exchange,
);
