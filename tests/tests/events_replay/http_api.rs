//! The HTTP functions' API Gateway events (order-intake, claims-api,
//! merchant-api): each has an expectation and the shape API Gateway sends,
//! and they replay in order through the Lambda glue.

use super::helpers::{
    check_shape, error_code, events_dir, file_claim_as, in_folders, is_http_event, json_files,
    put_sample_order, read_event, replay, COURIER_FOLDERS, WEBHOOK_FOLDERS,
};
use aftersales::api::{router, AppState};
use aftersales::app::Services;
use aftersales::auth::AuthMode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the replay remembers between events (the claim made by one event
/// is looked for by the next ones).
#[derive(Default)]
struct Seen {
    claim_id: Option<String>,
}

impl Seen {
    fn claim_id(&self) -> &str {
        self.claim_id
            .as_deref()
            .expect("claims-api/submit-claim.json is replayed before this event")
    }
}

struct Expect {
    /// Path under `events/`, with `/` separators.
    file: &'static str,
    status: u16,
    check: fn(&Value, &mut Seen),
}

fn cny(amount: &str) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

/// The replay, in order. Every `.json` file under `events/` must be here.
const REPLAY: &[Expect] = &[
    Expect {
        file: "order-intake/put-order.json",
        status: 201,
        check: |b, _| {
            assert_eq!(
                (&b["shop_id"], &b["order_id"], &b["customer_id"]),
                (&json!("shop-1"), &json!("o-100"), &json!("cust-100")),
                "{b}"
            );
            assert_eq!(b["version"], 1, "{b}");
            assert_eq!(b["total_paid"], cny("211.00"), "{b}");
            assert_eq!(b["refundable"], cny("211.00"), "{b}");
        },
    },
    Expect {
        file: "order-intake/put-order-bad-payments.json",
        status: 422,
        check: |b, _| {
            error_code("invalid_order")(b);
            let message = b["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("payments add up to 210.99"), "{b}");
        },
    },
    Expect {
        file: "order-intake/get-order.json",
        status: 200,
        check: |b, _| {
            // The refused update above wrote nothing.
            assert_eq!(b["version"], 1, "{b}");
            assert_eq!(b["payments"][0]["amount"], "211.00", "{b}");
            assert_eq!(b["customer_id"], "cust-100", "{b}");
            assert_eq!(b["refundable"], cny("211.00"), "{b}");
            assert_eq!(
                b["lines_refundable"].as_array().map(Vec::len),
                Some(3),
                "{b}"
            );
        },
    },
    Expect {
        file: "claims-api/submit-claim.json",
        status: 201,
        check: |b, seen| {
            assert_eq!(b["status"], "submitted", "{b}");
            assert_eq!(b["type"], "return_refund", "{b}");
            assert_eq!(
                (&b["shop_id"], &b["order_id"], &b["customer_id"]),
                (&json!("shop-1"), &json!("o-100"), &json!("cust-100")),
                "{b}"
            );
            // One T-shirt of L1: 88.94 (see claims_http.rs for the arithmetic).
            assert_eq!(b["requested_amount"], cny("88.94"), "{b}");
            assert_eq!(
                b["lines"],
                json!([{"line_id": "L1", "quantity": 1, "amount": cny("88.94")}])
            );
            assert_eq!(
                b["timeline"][0]["actor"],
                json!({"kind": "customer", "id": "cust-100"})
            );
            let id = b["claim_id"].as_str().expect("claim_id").to_string();
            assert!(id.starts_with("clm_"), "{b}");
            seen.claim_id = Some(id);
        },
    },
    Expect {
        file: "claims-api/submit-claim-malformed.json",
        status: 400,
        check: |b, _| error_code("malformed_json")(b),
    },
    Expect {
        file: "claims-api/submit-claim-other-customers-order.json",
        status: 404,
        // Someone else's order looks exactly like a missing one.
        check: |b, _| error_code("not_found")(b),
    },
    Expect {
        file: "claims-api/get-claim-unknown.json",
        status: 404,
        check: |b, _| error_code("not_found")(b),
    },
    Expect {
        file: "claims-api/list-claims.json",
        status: 200,
        check: |b, seen| {
            let claims = b["claims"].as_array().expect("claims");
            assert_eq!(claims.len(), 1, "only the one submitted claim: {b}");
            assert_eq!(claims[0]["claim_id"], seen.claim_id(), "{b}");
            assert_eq!(claims[0]["status"], "submitted", "{b}");
            assert_eq!(claims[0]["requested_amount"], cny("88.94"), "{b}");
            assert_eq!(b["next_cursor"], Value::Null, "{b}");
        },
    },
    Expect {
        file: "claims-api/list-claims-staff.json",
        status: 200,
        check: |b, seen| {
            let ids: Vec<&str> = b["claims"]
                .as_array()
                .expect("claims")
                .iter()
                .filter_map(|c| c["claim_id"].as_str())
                .collect();
            assert_eq!(
                ids,
                vec![seen.claim_id()],
                "staff of shop-1 see the claim: {b}"
            );
        },
    },
    Expect {
        file: "claims-api/no-authorizer-context.json",
        status: 401,
        // The Authorization header it carries is not looked at: behind API
        // Gateway only the authorizer's claims count.
        check: |b, _| error_code("unauthorized")(b),
    },
    // The merchant events: replayed after [`seed_desk_claims`] filed the
    // claims they name (see there).
    Expect {
        file: "merchant-api/get-policy-public.json",
        status: 200,
        // No token, no authorizer: the policy is public.
        check: |b, _| {
            let default = aftersales::domain::policy::ShopPolicy::default();
            assert_eq!(b, &serde_json::to_value(default).unwrap(), "{b}");
        },
    },
    Expect {
        file: "merchant-api/desk-queue.json",
        status: 200,
        check: |b, seen| {
            let ids: BTreeSet<&str> = b["claims"]
                .as_array()
                .expect("claims")
                .iter()
                .filter_map(|c| c["claim_id"].as_str())
                .collect();
            assert_eq!(
                ids,
                BTreeSet::from([seen.claim_id(), DESK_CLAIM, BATCH_CLAIM]),
                "the shop's submitted claims: {b}"
            );
            assert_eq!(b["total"], 3, "{b}");
            assert_eq!(b["counts"], json!({"submitted": 3}), "{b}");
            for c in b["claims"].as_array().unwrap() {
                assert_eq!(c["status"], "submitted", "{b}");
                assert_eq!(c["requested_amount"], cny("88.94"), "{b}");
            }
        },
    },
    Expect {
        file: "merchant-api/desk-queue-bad-filter.json",
        status: 400,
        check: |b, _| error_code("invalid_query")(b),
    },
    Expect {
        file: "merchant-api/decide-claim.json",
        status: 200,
        check: |b, _| {
            assert_eq!(b["claim_id"], DESK_CLAIM, "{b}");
            assert_eq!(b["status"], "awaiting_return", "{b}");
            assert_eq!(b["approved_amount"], cny("60.00"), "{b}");
            let last = b["timeline"]
                .as_array()
                .and_then(|t| t.last())
                .expect("timeline");
            assert_eq!(
                (&last["event"], &last["actor"], &last["reason"]),
                (
                    &json!("approved"),
                    &json!({"kind": "staff", "id": "staff-7"}),
                    &json!("Worn once: partial refund as agreed with the customer")
                ),
                "{b}"
            );
        },
    },
    Expect {
        file: "merchant-api/batch-reject.json",
        status: 200,
        check: |b, _| {
            assert_eq!(
                b,
                &json!({"decided": 1, "failed": 1, "next_cursor": null, "results": [
                    {"claim_id": BATCH_CLAIM, "ok": true, "status": "rejected"},
                    {"claim_id": "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5aff", "ok": false,
                     "error": {"code": "not_found", "message": "claim not found"}}
                ]}),
            );
        },
    },
];

/// The claims the merchant events decide, by the fixed ids the events name.
const DESK_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a70";
const BATCH_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a71";

/// The claims the merchant events decide: two returns of one T-shirt each
/// by another customer of shop-1, still `submitted` (the rules consumer does
/// not run in this replay).
async fn seed_desk_claims(s: &Services) {
    put_sample_order(s, "cust-400", "o-400").await;
    file_claim_as(s, "cust-400", "o-400", "wrong_size", DESK_CLAIM).await;
    file_claim_as(s, "cust-400", "o-400", "wrong_size", BATCH_CLAIM).await;
}

#[test]
fn every_event_file_has_an_expectation() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    // The webhooks are checked by their own replay (signed at replay time).
    on_disk.retain(|f| {
        is_http_event(f) && !in_folders(f, WEBHOOK_FOLDERS) && !in_folders(f, COURIER_FOLDERS)
    });
    let expected: BTreeSet<String> = REPLAY.iter().map(|e| e.file.to_string()).collect();
    assert_eq!(
        REPLAY.len(),
        expected.len(),
        "an event is listed twice in REPLAY"
    );
    let unknown: Vec<_> = on_disk.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&on_disk).collect();
    assert!(
        unknown.is_empty(),
        "events without an expectation (add them to REPLAY in tests/tests/events_replay/http_api.rs): {unknown:?}"
    );
    assert!(
        missing.is_empty(),
        "REPLAY names events that do not exist: {missing:?}"
    );
}

#[test]
fn every_event_has_api_gateway_v2_shape() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| is_http_event(f));
    assert!(!on_disk.is_empty(), "no events found under events/");
    for file in &on_disk {
        check_shape(file, &read_event(file));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_replay_through_the_lambda_glue_on_dynamodb() {
    let table = aftersales_tests::dynamo_table().await;
    let services = Services::new(Arc::new(table));
    let app = router(AppState {
        services: services.clone(),
        auth: AuthMode::Gateway,
    });
    let mut seen = Seen::default();
    let mut seeded = false;
    for e in REPLAY {
        if e.file.starts_with("merchant-api/") && !seeded {
            seed_desk_claims(&services).await;
            seeded = true;
        }
        let (status, body) = replay(&app, e.file).await;
        assert_eq!(status, e.status, "{}: {body}", e.file);
        (e.check)(&body, &mut seen);
    }

    // Invoking submit-claim.json again (same Idempotency-Key, same body)
    // gives the same claim back, not a second one.
    let (status, again) = replay(&app, "claims-api/submit-claim.json").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["claim_id"], seen.claim_id());
    // And the order now holds that claim's money.
    let (status, order) = replay(&app, "order-intake/get-order.json").await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["refundable"], cny("122.06"), "{order}");
}
