//! Every endpoint that takes money, fed amounts that are not money: huge,
//! negative, too precise, with exponents, NaN and infinity, JSON numbers,
//! and whatever else proptest makes up. Each answers 400 `invalid_amount`
//! naming the field, nothing changes, and the server stays up (the
//! amount that used to overflow a Decimal multiplication and panic is among
//! them).

use aftersales::auth::StaffRole;
use aftersales::domain::money::{Amount, Currency};
use aftersales_tests::http::{sample_order, spawn_app, TestApp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::sync::Arc;

/// The amount that used to panic: Decimal::MAX.
const DECIMAL_MAX: &str = "79228162514264337593543950335";

/// Whether `v` is not money in CNY (what every case below must be).
fn not_money(v: &Value) -> bool {
    match v.as_str().map(Amount::parse) {
        Some(Ok(a)) => a.to_minor(Currency::Cny).is_err(),
        Some(Err(_)) | None => true,
    }
}

/// Amounts that are not money, in every shape a caller might send (`null`
/// is not among them: on an optional amount it means "left out").
fn bad_amount() -> impl Strategy<Value = Value> {
    let digits = "[1-9][0-9]{13,40}";
    prop_oneof![
        Just(json!(DECIMAL_MAX)),
        Just(json!(format!("{DECIMAL_MAX}.99"))),
        Just(json!("NaN")),
        Just(json!("nan")),
        Just(json!("Infinity")),
        Just(json!("-inf")),
        Just(json!("")),
        Just(json!(" 1.00")),
        Just(json!(true)),
        Just(json!({"amount": "1.00"})),
        Just(json!(["1.00"])),
        digits.prop_map(|d| json!(d)),
        digits.prop_map(|d| json!(format!("-{d}"))),
        (1u32..1_000_000, 0u32..100).prop_map(|(a, b)| json!(format!("-{a}.{b:02}"))),
        (0u32..1000, 1u32..999).prop_map(|(a, b)| json!(format!("{a}.{b:03}"))),
        (0u32..1000, 1u64..u64::MAX).prop_map(|(a, b)| json!(format!("{a}.{b}1"))),
        (1u32..100, -40i32..40).prop_map(|(m, e)| json!(format!("{m}e{e}"))),
        (1u32..100, 0i32..40).prop_map(|(m, e)| json!(format!("{m}.5E+{e}"))),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC{0,24}".prop_map(|s| json!(s)),
    ]
    .prop_filter("not money", not_money)
}

struct World {
    rt: tokio::runtime::Runtime,
    app: TestApp,
    /// A claim waiting for a person.
    review_claim: String,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, review_claim) = rt.block_on(async {
        let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
        app.push_order("o-1", &sample_order("alice")).await;
        let c = app
            .file_claim(
                "alice",
                &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "return_refund",
                        "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 2}]}),
            )
            .await;
        app.drain().await;
        let id = c["claim_id"].as_str().unwrap().to_owned();
        assert_eq!(app.claim_of("alice", &id).await["status"], "under_review");
        (app, id)
    });
    World {
        rt,
        app,
        review_claim,
    }
}

/// One endpoint: how to send a body with `amount` at `field`.
struct Endpoint {
    name: &'static str,
    method: &'static str,
    path: String,
    token: String,
    field: &'static str,
    body: Box<dyn Fn(Value) -> Value>,
    /// Only amounts that are unreadable as such: whether a readable one
    /// has too many decimals for the claim's currency is decided after
    /// the claim's state (a claim not inspected yet is a 409 first).
    unreadable_only: bool,
}

fn endpoints(w: &World) -> Vec<Endpoint> {
    let app = &w.app;
    let alice = app.customer("alice");
    let storefront = app.storefront("shop-1");
    let admin = app.staff(
        "st-1",
        "shop-1",
        &[StaffRole::Admin, StaffRole::Finance, StaffRole::Reviewer],
    );
    let order = |f: &'static str| -> Box<dyn Fn(Value) -> Value> {
        Box::new(move |a| {
            let mut o = sample_order("alice");
            match f {
                "lines[0].unit_price" => o["lines"][0]["unit_price"] = a,
                "lines[1].discount" => o["lines"][1]["discount"] = a,
                "order_discount" => o["order_discount"] = a,
                "shipping_fee" => o["shipping_fee"] = a,
                "payments[0].amount" => o["payments"][0]["amount"] = a,
                _ => unreachable!(),
            }
            o
        })
    };
    let claim = |a: Value| {
        json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
               "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}],
               "amount": a})
    };
    let mut out: Vec<Endpoint> = [
        "lines[0].unit_price",
        "lines[1].discount",
        "order_discount",
        "shipping_fee",
        "payments[0].amount",
    ]
    .into_iter()
    .map(|f| Endpoint {
        name: "order intake",
        method: "PUT",
        path: "/v1/shops/shop-1/orders/o-1".into(),
        token: storefront.clone(),
        field: f,
        body: order(f),
        unreadable_only: false,
    })
    .collect();
    out.extend([
        Endpoint {
            name: "claim submission",
            method: "POST",
            path: "/v1/claims".into(),
            token: alice.clone(),
            field: "amount",
            body: Box::new(claim),
            unreadable_only: false,
        },
        Endpoint {
            name: "claim quote",
            method: "POST",
            path: "/v1/claims/quote".into(),
            token: alice.clone(),
            field: "amount",
            body: Box::new(claim),
            unreadable_only: false,
        },
        Endpoint {
            name: "merchant refund",
            method: "POST",
            path: "/v1/shops/shop-1/orders/o-1/refunds".into(),
            token: admin.clone(),
            field: "amount",
            body: Box::new(|a| json!({"reason": "goodwill", "amount": a, "note": "sorry"})),
            unreadable_only: false,
        },
        Endpoint {
            name: "staff decision",
            method: "POST",
            path: format!("/v1/shops/shop-1/desk/claims/{}/decision", w.review_claim),
            token: admin.clone(),
            field: "amount",
            body: Box::new(|a| json!({"decision": "approve", "amount": a})),
            unreadable_only: false,
        },
        Endpoint {
            name: "batch filter",
            method: "POST",
            path: "/v1/shops/shop-1/desk/batch".into(),
            token: admin.clone(),
            field: "filter.max_amount",
            body: Box::new(|a| {
                json!({"decision": "approve", "filter": {"status": "under_review", "max_amount": a}})
            }),
            unreadable_only: false,
        },
        Endpoint {
            name: "inspection",
            method: "POST",
            path: format!("/v1/shops/shop-1/desk/claims/{}/inspection", w.review_claim),
            token: admin.clone(),
            field: "decision.amount",
            body: Box::new(|a| {
                json!({"lines": [{"line_id": "L1", "received": 2, "outcome": "received",
                                  "disposition": "defective"}],
                       "decision": {"decision": "partial", "amount": a}})
            }),
            unreadable_only: true,
        },
        Endpoint {
            name: "replacement",
            method: "POST",
            path: format!("/v1/shops/shop-1/desk/claims/{}/replacement", w.review_claim),
            token: admin.clone(),
            field: "price_difference.amount",
            body: Box::new(|a| {
                json!({"carrier": "shunfeng", "tracking_number": "SF1234567890123",
                       "price_difference": {"direction": "refund", "amount": a}})
            }),
            unreadable_only: true,
        },
    ]);
    out
}

/// The state every refused request must leave as it was.
async fn snapshot(app: &TestApp, review_claim: &str) -> Value {
    let sf = app.storefront("shop-1");
    let (_, order) = app
        .call("GET", "/v1/shops/shop-1/orders/o-1", Some(&sf), None, &[])
        .await;
    let (_, claims) = app
        .call("GET", "/v1/claims", Some(&app.customer("alice")), None, &[])
        .await;
    let claim = app.claim_of("alice", review_claim).await;
    json!({"order": order, "claims": claims["claims"].as_array().map(Vec::len),
           "claim": claim["status"], "timeline": claim["timeline"].as_array().map(Vec::len)})
}

#[test]
fn amounts_that_are_not_money_are_refused_by_every_endpoint() {
    let w = world();
    let before = w.rt.block_on(snapshot(&w.app, &w.review_claim));
    for e in endpoints(&w) {
        let mut runner = TestRunner::new(Config {
            cases: 48,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&bad_amount(), |amount| {
                if e.unreadable_only && serde_json::from_value::<Amount>(amount.clone()).is_ok() {
                    return Ok(());
                }
                let body = (e.body)(amount.clone());
                let (s, v) = w.rt.block_on(w.app.call(
                    e.method,
                    &e.path,
                    Some(&e.token),
                    Some(&body),
                    &[("idempotency-key", "money-prop")],
                ));
                prop_assert_eq!(
                    (s, v["error"]["code"].as_str()),
                    (400, Some("invalid_amount")),
                    "{} with {}: {}",
                    e.name,
                    amount,
                    v
                );
                prop_assert_eq!(
                    v["error"]["field"].as_str(),
                    Some(e.field),
                    "{}: {}",
                    e.name,
                    v
                );
                Ok(())
            })
            .unwrap_or_else(|f| panic!("{}: {f}", e.name));
    }
    let after = w.rt.block_on(snapshot(&w.app, &w.review_claim));
    assert_eq!(before, after, "refused requests changed nothing");
    let (s, _) =
        w.rt.block_on(w.app.call("GET", "/v1/health", None, None, &[]));
    assert_eq!(s, 200, "still serving");
}

#[test]
fn amounts_in_query_filters_are_refused_the_same_way() {
    let w = world();
    let staff = w.app.staff("st-1", "shop-1", &[StaffRole::Reviewer]);
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let strings = bad_amount().prop_filter_map("a string", |v| v.as_str().map(str::to_owned));
    runner
        .run(&(strings, prop::bool::ANY), |(a, min)| {
            let name = if min { "min_amount" } else { "max_amount" };
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair(name, &a)
                .finish();
            let (s, v) = w.rt.block_on(w.app.call(
                "GET",
                &format!("/v1/shops/shop-1/desk/claims?{q}"),
                Some(&staff),
                None,
                &[],
            ));
            prop_assert_eq!(
                (s, v["error"]["code"].as_str()),
                (400, Some("invalid_amount")),
                "{:?}: {}",
                a,
                v
            );
            prop_assert_eq!(v["error"]["field"].as_str(), Some(name));
            Ok(())
        })
        .unwrap();
}

#[test]
fn money_that_is_money_still_goes_through() {
    // The filter above must not make every test vacuous: the same
    // endpoints take real amounts.
    let w = world();
    let (s, v) = w.rt.block_on(w.app.call(
        "POST",
        "/v1/claims/quote",
        Some(&w.app.customer("alice")),
        Some(
            &json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                     "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}],
                     "amount": "1.50"}),
        ),
        &[],
    ));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["refund"]["amount"], "1.50");
    for ok in ["0.01", "12", "12.3", "12.30", "100000000000"] {
        assert!(!not_money(&json!(ok)), "{ok}");
    }
    assert!(not_money(&json!("100000000000.01")));
}
