//! The courier-verification function's Kuaidi100 push (an API Gateway
//! event signed at replay time), queue batch and polling schedule,
//! replayed through `lambda_dispatch::dispatch`.

use super::helpers::{
    check_shape, events_dir, in_folders, json_files, read_event, COURIER_FOLDERS,
};
use aftersales::api::{router, AppState};
use aftersales::app::Services;
use aftersales::auth::AuthMode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

const COURIER_PUSH: &str = "courier-verification/push-delivered.json";
const COURIER_QUEUE: &str = "courier-verification/return-shipped-queue.json";
const COURIER_SCHEDULE: &str = "courier-verification/parcel-polling-schedule.json";
const COURIER_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a80";
const COURIER_NUMBER: &str = "YT1234567890123";

/// A claim waiting for its return parcel, as the return-shipment endpoint
/// leaves it (written directly: the replay is about the courier function).
async fn seed_return_claim(s: &Services) {
    use aftersales::domain::claim::{Actor, Claim, ClaimLine, ClaimType, NewClaim, ReasonCode};
    use aftersales::domain::returns::Shipment;
    use aftersales::domain::tracking::Carrier;
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:05:00Z")
        .unwrap()
        .to_utc();
    let (mut claim, _) = Claim::submit(
        NewClaim {
            claim_id: COURIER_CLAIM.into(),
            shop_id: "shop-1".into(),
            order_id: "o-800".into(),
            customer_id: "cust-800".into(),
            claim_type: ClaimType::ReturnRefund,
            reason: ReasonCode::NoLongerWanted,
            description: String::new(),
            evidence: vec![],
            lines: vec![ClaimLine {
                line_id: "L1".into(),
                quantity: 1,
                amount: aftersales::domain::money::Money::from_minor(
                    9900,
                    aftersales::domain::money::Currency::Cny,
                ),
                weight_grams: None,
            }],
            currency: aftersales::domain::money::Currency::Cny,
        },
        Actor::System,
        at,
    )
    .unwrap();
    claim.approve(None, None, Actor::System, at).unwrap();
    claim
        .ship_return("yuantong".into(), COURIER_NUMBER.into(), Actor::System, at)
        .unwrap();
    claim.returns.shipment = Some(Shipment::new(Carrier::Yuantong, COURIER_NUMBER.into(), at));
    s.table
        .transact(vec![aftersales::repo::claims::put(&claim, None)])
        .await
        .unwrap();
}

/// The push event with its form body made now: the sandbox courier's
/// record of the parcel, signed with `salt`.
fn courier_push_event(body: &[u8]) -> String {
    let mut ev: Value = serde_json::from_str(&read_event(COURIER_PUSH)).unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    ev["headers"]["content-length"] = json!(text.len().to_string());
    ev["body"] = json!(text);
    serde_json::to_string(&ev).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_verification_events_replay_on_dynamodb() {
    use aftersales::domain::tracking::{validate, Carrier, CourierState};
    use aftersales::lambda_dispatch::{dispatch, Sources};

    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, COURIER_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            COURIER_PUSH.to_string(),
            COURIER_QUEUE.to_string(),
            COURIER_SCHEDULE.to_string(),
        ]),
        "courier-verification events on disk vs this test"
    );
    check_shape(COURIER_PUSH, &read_event(COURIER_PUSH));

    // A salt made by the test; nothing secret is committed.
    let salt = aftersales_tests::courier_server::random_salt();
    let mut services = Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    let sandbox = aftersales::onebox::with_sandbox_courier(
        &mut services,
        "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        &salt,
        None,
    );
    seed_return_claim(&services).await;
    let claim = || async {
        aftersales::repo::claims::get(&*services.table, COURIER_CLAIM)
            .await
            .unwrap()
            .expect("claim")
            .0
    };

    // Every event goes through the function's own dispatch, its router
    // (for Kuaidi100's pushes) built as its main.rs builds it.
    let sources = Sources::courier_verification(router(AppState {
        services: services.clone(),
        auth: AuthMode::Gateway,
    }));

    // The queue batch (the bus's event of claim.return_shipped), twice: the
    // parcel is registered and subscribed once.
    for _ in 0..2 {
        let event: Value = serde_json::from_str(&read_event(COURIER_QUEUE)).unwrap();
        let answer = dispatch(&services, &sources, event).await.expect("batch");
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    let subs = sandbox.subscriptions();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert!(subs[0].callback_url.ends_with("/v1/couriers/kuaidi100"));
    let (rec, _) =
        aftersales::repo::shipments::get(&*services.table, Carrier::Yuantong, COURIER_NUMBER)
            .await
            .unwrap()
            .expect("parcel registered");
    assert_eq!(rec.claim_id, COURIER_CLAIM);
    // The first query found it picked up (the sandbox's first stage).
    assert_eq!(
        claim().await.returns.shipment.unwrap().state,
        Some(CourierState::PickedUp)
    );

    // Kuaidi100's push once the parcel is delivered, through the function's
    // HTTP branch: acknowledged, the claim's parcel delivered.
    let number = validate(Carrier::Yuantong, COURIER_NUMBER).unwrap();
    sandbox.advance(Carrier::Yuantong, &number, 3);
    let body = sandbox.push_body(Carrier::Yuantong, &number).expect("push");
    let text = courier_push_event(&body);
    let payload: Value = serde_json::from_str(&text).unwrap();
    let answer = dispatch(&services, &sources, payload.clone())
        .await
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let reply: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(reply["result"], true, "{answer}");
    let after = claim().await;
    let sh = after.returns.shipment.clone().unwrap();
    assert_eq!(sh.state, Some(CourierState::Delivered));
    assert!(sh.delivered_to_destination);
    // Pushed again (Kuaidi100 retries): acknowledged, nothing changes.
    let again = dispatch(&services, &sources, payload).await.unwrap();
    assert_eq!(again["statusCode"], 200, "{again}");
    assert_eq!(claim().await, after);
    // Signed with another salt: refused, nothing changes.
    let forged = aftersales::couriers::sandbox::push_form(
        "yuantong",
        COURIER_NUMBER,
        "shutdown",
        &sandbox.snapshot(Carrier::Yuantong, &number),
        "not-the-salt",
    );
    let payload: Value = serde_json::from_str(&courier_push_event(&forged)).unwrap();
    let refused = dispatch(&services, &sources, payload).await.unwrap();
    assert_eq!(refused["statusCode"], 400, "{refused}");
    assert_eq!(claim().await, after);

    // The schedule's event carries no records and no request: the function
    // polls parcels quiet for hours (none here: this one is delivered).
    let schedule: Value = serde_json::from_str(&read_event(COURIER_SCHEDULE)).unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let polled = dispatch(&services, &sources, schedule).await.expect("poll");
    assert_eq!(polled["checked"], 0, "{polled}");
}
