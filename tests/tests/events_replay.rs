//! Replays every sample event in `events/` (API Gateway HTTP API, payload
//! format 2.0) through the Lambda glue and the real router, over a DynamoDB
//! table in moto, in a fixed order: order intake first, so the claims find
//! their order. Each file has an expected status and body; a file without an
//! expectation fails the test, so a new event must be given one here.
//!
//! Before replaying, every event is checked for the shape API Gateway really
//! sends (and `sam local invoke -e` / `cargo lambda invoke --data-file` pass
//! on unchanged): version, routeKey, rawPath, headers, requestContext,
//! authorizer claims as strings, body as a string.
//!
//! The functions that API Gateway does not call have their own replays
//! below: DynamoDB stream batches through the stream glue (notifications),
//! S3 object-created events through the evidence glue, against moto's
//! S3 with the objects really uploaded (evidence-events), and SQS batches
//! from the refund queue through the SQS glue (refund-executor). The
//! functions with several event sources (rule-evaluation, refund-executor,
//! courier-verification) are replayed through `lambda_dispatch::dispatch`
//! with the function's own `Sources`, as their main.rs runs it. The
//! payment webhooks are API Gateway events too, replayed on their own: they
//! are signed at replay time with the test's secret.

use aftersales::api::{router, AppState, ROUTES};
use aftersales::app::Services;
use aftersales::auth::AuthMode;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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

fn error_code(code: &'static str) -> impl Fn(&Value) {
    move |body: &Value| {
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "an error carries a message: {body}"
        );
    }
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
                &json!({"decided": 1, "failed": 1, "results": [
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

/// Moves a claim filed through the use cases to the fixed id a sample event
/// names: the claim item and its order's ledger entry, in one transaction,
/// so the claim can be decided (its money is found under the new id).
async fn rekey_claim(s: &Services, claim_id: &str, fixed_id: &str) {
    use aftersales::repo::{claims, orders};
    use aftersales::store::{Condition, WriteOp};
    let (mut claim, _) = claims::get(&*s.table, claim_id)
        .await
        .unwrap()
        .expect("the claim just filed");
    let (mut rec, ov) = orders::get(&*s.table, &claim.shop_id, &claim.order_id)
        .await
        .unwrap()
        .expect("its order");
    for entry in &mut rec.ledger.entries {
        if entry.claim_id == claim_id {
            entry.claim_id = fixed_id.to_string();
        }
    }
    claim.claim_id = fixed_id.into();
    let (pk, sk) = claims::key(claim_id);
    s.table
        .transact(vec![
            orders::put(&rec, Some(ov)),
            claims::put(&claim, None),
            WriteOp::Delete {
                pk,
                sk,
                condition: Condition::Exists,
            },
        ])
        .await
        .expect("claim moved to the sample id");
}

/// Files a claim through the use cases (a customer's return of one T-shirt,
/// 88.94) on `order_id` of shop-1, then moves it to `fixed_id`.
async fn file_claim_as(s: &Services, customer: &str, order_id: &str, reason: &str, fixed_id: &str) {
    use aftersales::app::{submit_claim, SubmitClaim};
    use aftersales::auth::Principal;
    let body: SubmitClaim = serde_json::from_value(json!({
        "shop_id": "shop-1", "order_id": order_id, "type": "return_refund",
        "reason": reason, "lines": [{"line_id": "L1", "quantity": 1}]}))
    .unwrap();
    let customer = Principal::Customer {
        customer_id: customer.into(),
    };
    let (view, _) = submit_claim(s, &customer, body, None)
        .await
        .expect("claim filed");
    rekey_claim(s, &view.claim_id, fixed_id).await;
}

/// Stores the sample order for `customer` as `order_id` of shop-1.
async fn put_sample_order(s: &Services, customer: &str, order_id: &str) {
    let storefront = aftersales::auth::Principal::Storefront {
        shop_id: "shop-1".into(),
    };
    let order = aftersales_tests::http::sample_order(customer);
    aftersales::app::put_order(
        s,
        &storefront,
        "shop-1",
        order_id,
        serde_json::from_value(order).unwrap(),
    )
    .await
    .expect("order stored");
}

/// The claims the merchant events decide: two returns of one T-shirt each
/// by another customer of shop-1, still `submitted` (the rules consumer does
/// not run in this replay).
async fn seed_desk_claims(s: &Services) {
    put_sample_order(s, "cust-400", "o-400").await;
    file_claim_as(s, "cust-400", "o-400", "wrong_size", DESK_CLAIM).await;
    file_claim_as(s, "cust-400", "o-400", "wrong_size", BATCH_CLAIM).await;
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Every `.json` file under `dir`, as paths relative to `events/` with `/`.
fn json_files(dir: &Path, out: &mut BTreeSet<String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            let rel = path.strip_prefix(events_dir()).expect("under events/");
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.insert(parts.join("/"));
        }
    }
}

fn read_event(file: &str) -> String {
    let path = events_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn str_at<'a>(v: &'a Value, pointer: &str, file: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{file}: {pointer} must be a string"))
}

/// The event is what API Gateway (HTTP API, payload 2.0, JWT authorizer)
/// sends for one of our routes.
fn check_shape(file: &str, text: &str) {
    let ev: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
    assert_eq!(ev["version"], "2.0", "{file}: version");
    let route_key = str_at(&ev, "/routeKey", file);
    assert_eq!(
        str_at(&ev, "/requestContext/routeKey", file),
        route_key,
        "{file}: requestContext.routeKey"
    );
    let (method, template) = route_key
        .split_once(' ')
        .unwrap_or_else(|| panic!("{file}: routeKey {route_key:?} is not 'METHOD /path'"));
    assert!(
        ROUTES
            .iter()
            .any(|r| r.method == method && r.path == template),
        "{file}: routeKey {route_key:?} is not a route of the API"
    );
    assert_eq!(
        str_at(&ev, "/requestContext/http/method", file),
        method,
        "{file}"
    );
    let raw_path = str_at(&ev, "/rawPath", file);
    assert_eq!(
        str_at(&ev, "/requestContext/http/path", file),
        raw_path,
        "{file}"
    );

    // rawPath is the route template with pathParameters filled in.
    let params = ev.get("pathParameters").and_then(Value::as_object);
    let mut expected_path = template.to_string();
    let names: Vec<&str> = template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    for name in &names {
        let value = params
            .and_then(|p| p.get(*name))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{file}: pathParameters.{name} missing"));
        expected_path = expected_path.replace(&format!("{{{name}}}"), value);
    }
    assert_eq!(
        params.map_or(0, |p| p.len()),
        names.len(),
        "{file}: pathParameters"
    );
    assert_eq!(raw_path, expected_path, "{file}: rawPath");

    // rawQueryString and queryStringParameters agree.
    let raw_query = str_at(&ev, "/rawQueryString", file);
    let mut query: Vec<String> = ev
        .get("queryStringParameters")
        .and_then(Value::as_object)
        .map(|q| {
            q.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().expect("query values are strings")))
                .collect()
        })
        .unwrap_or_default();
    let mut raw: Vec<String> = raw_query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    query.sort();
    raw.sort();
    assert_eq!(
        raw, query,
        "{file}: rawQueryString vs queryStringParameters"
    );

    // Headers arrive lower-cased, values as strings.
    let headers = ev["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("{file}: headers"));
    for (k, v) in headers {
        assert_eq!(
            k,
            &k.to_ascii_lowercase(),
            "{file}: header names are lower case"
        );
        assert!(v.is_string(), "{file}: header {k} is a string");
    }
    assert!(headers.contains_key("host"), "{file}: host header");
    let body = ev.get("body");
    assert_eq!(ev["isBase64Encoded"], false, "{file}: isBase64Encoded");
    match body {
        Some(Value::String(b)) => {
            // Kuaidi100 pushes forms; everything else sends JSON.
            let content_type = if is_courier_push(file) {
                "application/x-www-form-urlencoded;charset=UTF-8"
            } else {
                "application/json"
            };
            assert_eq!(
                headers.get("content-type"),
                Some(&json!(content_type)),
                "{file}"
            );
            assert_eq!(
                headers.get("content-length"),
                Some(&json!(b.len().to_string())),
                "{file}: content-length"
            );
        }
        None => assert!(
            !headers.contains_key("content-type"),
            "{file}: content-type without body"
        ),
        Some(other) => panic!("{file}: body must be a string, found {other}"),
    }

    // The request context.
    let ctx = &ev["requestContext"];
    for key in ["accountId", "apiId", "domainName", "requestId", "time"] {
        assert!(ctx[key].is_string(), "{file}: requestContext.{key}");
    }
    assert_eq!(ctx["stage"], "$default", "{file}: stage");
    assert!(
        ctx["timeEpoch"].is_u64(),
        "{file}: requestContext.timeEpoch"
    );
    for key in ["protocol", "sourceIp", "userAgent"] {
        assert!(
            ctx["http"][key].is_string(),
            "{file}: requestContext.http.{key}"
        );
    }
    if let Some(auth) = ctx.get("authorizer") {
        let claims = auth["jwt"]["claims"]
            .as_object()
            .unwrap_or_else(|| panic!("{file}: authorizer.jwt.claims"));
        for (k, v) in claims {
            assert!(
                v.is_string(),
                "{file}: API Gateway passes claim {k} as a string"
            );
        }
        for key in ["sub", "role", "iss", "aud", "exp"] {
            assert!(claims.contains_key(key), "{file}: claim {key}");
        }
        let scopes = &auth["jwt"]["scopes"];
        assert!(
            scopes.is_null()
                || scopes
                    .as_array()
                    .is_some_and(|s| s.iter().all(Value::is_string)),
            "{file}: scopes are null or a list of strings"
        );
        assert!(
            headers.contains_key("authorization"),
            "{file}: the JWT authorizer only runs on a bearer token"
        );
    }
}

async fn body_json(resp: axum::response::Response, file: &str) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("response body");
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{file}: answered non-JSON ({status}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

async fn replay(app: &axum::Router, file: &str) -> (u16, Value) {
    replay_text(app, file, &read_event(file)).await
}

/// Replays `text`, the event of `file` (as read, or as the replay changed it).
async fn replay_text(app: &axum::Router, file: &str, text: &str) -> (u16, Value) {
    let req = lambda_http::request::from_str(text)
        .unwrap_or_else(|e| panic!("{file}: lambda_http cannot read it: {e}"));
    assert!(
        matches!(
            req.request_context_ref(),
            Some(RequestContext::ApiGatewayV2(_))
        ),
        "{file}: lambda_http did not read it as an HTTP API (v2) event"
    );
    let ev: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(
        req.method().as_str(),
        ev["requestContext"]["http"]["method"],
        "{file}"
    );
    assert_eq!(req.uri().path(), ev["rawPath"], "{file}");
    body_json(aftersales::lambda::handle(app.clone(), req).await, file).await
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
        "events without an expectation (add them to REPLAY in tests/tests/events_replay.rs): {unknown:?}"
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

// ------------------------------------------------------------ stream events

/// Folders of functions fed by the table's DynamoDB stream rather than API
/// Gateway: their events are stream batches, replayed through the stream
/// glue below instead of the HTTP checks above.
const STREAM_FOLDERS: &[&str] = &["notifications"];

/// Folders of functions fed by S3 event notifications.
const S3_FOLDERS: &[&str] = &["evidence-events"];

/// The rule-evaluation function: stream batches (claim events) and the
/// review-deadline schedule, replayed by
/// `rule_evaluation_events_replay_on_dynamodb`.
const RULES_FOLDERS: &[&str] = &["rule-evaluation"];

fn in_folders(file: &str, folders: &[&str]) -> bool {
    folders.iter().any(|folder| {
        file.strip_prefix(folder)
            .is_some_and(|r| r.starts_with('/'))
    })
}

fn is_stream_event(file: &str) -> bool {
    in_folders(file, STREAM_FOLDERS)
}

fn is_s3_event(file: &str) -> bool {
    in_folders(file, S3_FOLDERS)
}

/// The refund executor: SQS batches from the refund queue and the
/// reconciliation schedule, replayed by
/// `refund_executor_events_replay_on_dynamodb`.
const REFUND_FOLDERS: &[&str] = &["refund-executor"];

/// The payment-webhooks function: API Gateway events (shape-checked like
/// every other), whose signatures are made at replay time with the test's
/// secret, so no secret is committed; replayed by
/// `payment_webhook_events_replay_through_the_lambda_glue_on_dynamodb`.
const WEBHOOK_FOLDERS: &[&str] = &["payment-webhooks"];

/// The courier-verification function: Kuaidi100 pushes through API
/// Gateway (`push-*.json`, signed at replay time with the test's salt), a
/// stream batch and the polling schedule; replayed by
/// `courier_verification_events_replay_on_dynamodb`.
const COURIER_FOLDERS: &[&str] = &["courier-verification"];

fn is_courier_push(file: &str) -> bool {
    in_folders(file, COURIER_FOLDERS)
        && file
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("push-"))
}

/// An API Gateway event (every folder not listed as another source).
fn is_http_event(file: &str) -> bool {
    (!in_folders(file, COURIER_FOLDERS) || is_courier_push(file))
        && !is_stream_event(file)
        && !is_s3_event(file)
        && !in_folders(file, RULES_FOLDERS)
        && !in_folders(file, REFUND_FOLDERS)
}

/// The claim the sample stream events are about, and its customer.
const STREAM_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b";
const STREAM_CUSTOMER: &str = "cust-300";
const STREAM_PHONE: &str = "+8613800138000";

struct StreamExpect {
    file: &'static str,
    /// The sequence numbers the answer reports as failed.
    failures: &'static [&'static str],
    /// The customer's inbox (newest first) and every SMS sent so far.
    check: fn(&[Value], &[aftersales::adapters::sms_file::SmsLine]),
}

fn inbox_events(inbox: &[Value]) -> Vec<&str> {
    inbox.iter().filter_map(|m| m["event"].as_str()).collect()
}

/// The stream replay, in order. Every `.json` file under a stream folder
/// must be here.
const STREAM_REPLAY: &[StreamExpect] = &[
    StreamExpect {
        file: "notifications/claim-submitted.json",
        failures: &[],
        check: |inbox, sms| {
            assert_eq!(inbox_events(inbox), ["submitted"], "{inbox:?}");
            assert_eq!(inbox[0]["title"], "售后申请已提交");
            let body = inbox[0]["body"].as_str().unwrap_or_default();
            assert!(body.contains("#3E4F5A6B，申请金额 ¥88.94。"), "{body}");
            assert_eq!(sms.len(), 1, "{sms:?}");
            assert_eq!(
                (sms[0].phone.as_str(), sms[0].dedupe_id.as_str()),
                (STREAM_PHONE, "0193a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b")
            );
        },
    },
    StreamExpect {
        // An unfiltered batch: an order event (not for customers), the
        // submission again (a redelivery), a claim item, the cancellation,
        // and the outbox's own deletion.
        file: "notifications/mixed-batch.json",
        failures: &[],
        check: |inbox, sms| {
            assert_eq!(inbox_events(inbox), ["cancelled", "submitted"], "{inbox:?}");
            assert_eq!(inbox[0]["title"], "售后申请已撤销");
            assert_eq!(
                sms.len(),
                1,
                "a cancellation sends no SMS, a redelivery none again"
            );
        },
    },
    StreamExpect {
        // An approval whose amount is not a number, then a rejection: the
        // approval is reported, and the rejection waits behind it.
        file: "notifications/poison-record.json",
        failures: &["4421584500000000017450439500"],
        check: |inbox, sms| {
            assert_eq!(inbox_events(inbox), ["cancelled", "submitted"], "{inbox:?}");
            assert_eq!(sms.len(), 1);
        },
    },
];

#[test]
fn every_stream_event_has_an_expectation() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| is_stream_event(f));
    let expected: BTreeSet<String> = STREAM_REPLAY.iter().map(|e| e.file.to_string()).collect();
    assert_eq!(
        on_disk, expected,
        "stream events on disk vs STREAM_REPLAY in tests/tests/events_replay.rs"
    );
}

/// The order and claim the samples name: filed through the use cases, then
/// the claim stored again under the samples' fixed id.
async fn seed_stream_claim(s: &Services) {
    use aftersales::app::{put_order, submit_claim, SubmitClaim};
    use aftersales::auth::Principal;
    let mut order = aftersales_tests::http::sample_order(STREAM_CUSTOMER);
    order["language"] = json!("zh-CN");
    order["customer_phone"] = json!(STREAM_PHONE);
    let storefront = Principal::Storefront {
        shop_id: "shop-1".into(),
    };
    put_order(
        s,
        &storefront,
        "shop-1",
        "o-300",
        serde_json::from_value(order).unwrap(),
    )
    .await
    .expect("order stored");
    let body: SubmitClaim = serde_json::from_value(json!({
        "shop_id": "shop-1", "order_id": "o-300", "type": "return_refund",
        "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 1}]}))
    .unwrap();
    let customer = Principal::Customer {
        customer_id: STREAM_CUSTOMER.into(),
    };
    let (view, _) = submit_claim(s, &customer, body, None)
        .await
        .expect("claim filed");
    let (mut claim, _) = aftersales::repo::claims::get(&*s.table, &view.claim_id)
        .await
        .unwrap()
        .expect("claim");
    claim.claim_id = STREAM_CLAIM.into();
    s.table
        .transact(vec![aftersales::repo::claims::put(&claim, None)])
        .await
        .expect("claim stored under the sample id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_replay_through_the_stream_glue_on_dynamodb() {
    use aftersales::adapters::sms_file::FileSms;
    use aftersales::app::dispatch::Consumer;
    use aftersales::auth::Principal;
    use lambda_http::aws_lambda_events::event::dynamodb::Event;

    let dir = tempfile::tempdir().unwrap();
    let sms = dir.path().join("sms.jsonl");
    let mut services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    services.sms = Arc::new(FileSms::new(&sms));
    seed_stream_claim(&services).await;
    let customer = Principal::Customer {
        customer_id: STREAM_CUSTOMER.into(),
    };
    for e in STREAM_REPLAY {
        let event: Event = serde_json::from_str(&read_event(e.file))
            .unwrap_or_else(|err| panic!("{}: not a DynamoDB stream event: {err}", e.file));
        let answer =
            aftersales::lambda_stream::handle(&services, Consumer::Notifications, event).await;
        let failed: Vec<&str> = answer
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.as_deref())
            .collect();
        assert_eq!(failed, e.failures, "{}: batchItemFailures", e.file);
        let page = aftersales::app::notify::list_inbox(&services, &customer, Some(100), None)
            .await
            .expect("inbox");
        let inbox = serde_json::to_value(&page).unwrap();
        (e.check)(
            inbox["messages"].as_array().unwrap(),
            &FileSms::read_all(&sms).unwrap(),
        );
    }
}

// ---------------------------------------------------------------- S3 events

/// The bucket the samples name: `${AWS::StackName}-evidence-${AWS::AccountId}`
/// of infra/template.yaml, for the stack `aftersales-dev` of samconfig.toml.
const EVIDENCE_BUCKET: &str = "aftersales-dev-evidence-123456789012";
/// The claim the sample evidence belongs to, and its customer.
const EVIDENCE_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a72";
const EVIDENCE_CUSTOMER: &str = "cust-500";

struct S3Expect {
    file: &'static str,
    /// What became of each record's object, given its key.
    check: fn(&[(String, Recorded)]),
}

/// The S3 replay, in order. Every `.json` file under an S3 folder must be here.
const S3_REPLAY: &[S3Expect] = &[
    S3Expect {
        // A photo uploaded with an upload URL of the claim.
        file: "evidence-events/object-created.json",
        check: |out| {
            assert_eq!(
                out,
                [(
                    out[0].0.clone(),
                    Recorded::Added {
                        claim_id: EVIDENCE_CLAIM.into()
                    }
                )],
                "{out:?}"
            );
        },
    },
    S3Expect {
        // Not an evidence key (the bucket's notification filters on the
        // prefix; this is the function's own check): refused, and the
        // invocation succeeds, so S3 does not retry it.
        file: "evidence-events/object-created-outside-evidence.json",
        check: |out| {
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(out[0].0, "exports/claims-2026-11.csv");
            assert!(
                matches!(&out[0].1, Recorded::Refused(why) if why.contains("not an evidence key")),
                "{out:?}"
            );
        },
    },
];

use aftersales::app::evidence::Recorded;

#[test]
fn every_s3_event_has_an_expectation_and_the_s3_shape() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| is_s3_event(f));
    let expected: BTreeSet<String> = S3_REPLAY.iter().map(|e| e.file.to_string()).collect();
    assert_eq!(
        on_disk, expected,
        "S3 events on disk vs S3_REPLAY in tests/tests/events_replay.rs"
    );
    for file in &on_disk {
        let ev: Value = serde_json::from_str(&read_event(file))
            .unwrap_or_else(|e| panic!("{file}: not JSON: {e}"));
        let records = ev["Records"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: Records"));
        assert!(!records.is_empty(), "{file}: no records");
        for r in records {
            assert_eq!(r["eventSource"], "aws:s3", "{file}");
            assert_eq!(r["s3"]["s3SchemaVersion"], "1.0", "{file}");
            for key in ["eventVersion", "awsRegion", "eventTime", "eventName"] {
                assert!(r[key].is_string(), "{file}: {key}");
            }
            assert!(
                r["eventName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("ObjectCreated:")),
                "{file}: the function subscribes to s3:ObjectCreated:*"
            );
            let bucket = &r["s3"]["bucket"];
            assert_eq!(bucket["name"], EVIDENCE_BUCKET, "{file}");
            assert_eq!(
                bucket["arn"],
                format!("arn:aws:s3:::{EVIDENCE_BUCKET}"),
                "{file}"
            );
            let object = &r["s3"]["object"];
            assert!(
                object["key"].as_str().is_some_and(|k| !k.is_empty()),
                "{file}: object.key"
            );
            assert!(object["size"].is_u64(), "{file}: object.size");
            assert!(object["eTag"].is_string(), "{file}: object.eTag");
        }
        // What the function's runtime reads.
        serde_json::from_value::<lambda_http::aws_lambda_events::event::s3::S3Event>(ev)
            .unwrap_or_else(|e| panic!("{file}: not an S3Event: {e}"));
    }
}

/// An S3 client for moto: path-style addressing, as moto serves buckets
/// under its own host name only.
async fn s3_client() -> aws_sdk_s3::Client {
    let config = aftersales_tests::moto::sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// A content type for an uploaded key, as the upload URL signed it.
fn content_type_of(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("mp4") => "video/mp4",
        Some("csv") => "text/csv",
        _ => "application/octet-stream",
    }
}

/// Uploads every object an event tells of, with the size it says, so the
/// replay finds what the real bucket would hold.
async fn upload_objects_of(s3: &aws_sdk_s3::Client, file: &str) {
    let ev: Value = serde_json::from_str(&read_event(file)).expect("JSON");
    for r in ev["Records"].as_array().expect("Records") {
        let key = r["s3"]["object"]["key"].as_str().expect("key");
        let size = r["s3"]["object"]["size"].as_u64().expect("size") as usize;
        s3.put_object()
            .bucket(EVIDENCE_BUCKET)
            .key(key)
            .content_type(content_type_of(key))
            .body(vec![0xd8u8; size].into())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{file}: PutObject {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_replay_through_the_evidence_glue_on_s3_and_dynamodb() {
    use aftersales::adapters::s3_evidence::S3EvidenceStorage;

    let s3 = s3_client().await;
    match s3.create_bucket().bucket(EVIDENCE_BUCKET).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(e) => panic!(
            "CreateBucket: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        ),
    }
    let mut services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    services.evidence = Some(Arc::new(S3EvidenceStorage::new(
        s3.clone(),
        EVIDENCE_BUCKET,
    )));
    // The claim the photo is for: a damaged T-shirt, waiting for photos.
    put_sample_order(&services, EVIDENCE_CUSTOMER, "o-500").await;
    file_claim_as(
        &services,
        EVIDENCE_CUSTOMER,
        "o-500",
        "damaged",
        EVIDENCE_CLAIM,
    )
    .await;

    for e in S3_REPLAY {
        upload_objects_of(&s3, e.file).await;
        let out = aftersales::lambda_s3::handle(
            &services,
            serde_json::from_str(&read_event(e.file))
                .unwrap_or_else(|err| panic!("{}: not an S3 event: {err}", e.file)),
        )
        .await
        .unwrap_or_else(|err| panic!("{}: the invocation failed: {err}", e.file));
        (e.check)(&out);
    }

    // The photo is on the claim, told on its timeline as the customer's.
    let (claim, _) = aftersales::repo::claims::get(&*services.table, EVIDENCE_CLAIM)
        .await
        .unwrap()
        .expect("the claim");
    let claim = serde_json::to_value(&claim).unwrap();
    let ev: Value =
        serde_json::from_str(&read_event("evidence-events/object-created.json")).unwrap();
    let key = ev["Records"][0]["s3"]["object"]["key"].clone();
    assert_eq!(claim["evidence"], json!([key]), "{claim}");
    let last = claim["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .expect("timeline");
    assert_eq!(
        (&last["event"], &last["evidence"], &last["actor"]),
        (
            &json!("evidence_added"),
            &json!([key]),
            &json!({"kind": "customer", "id": EVIDENCE_CUSTOMER})
        ),
        "{claim}"
    );

    // S3 delivers at least once: the same event again changes nothing.
    let out = aftersales::lambda_s3::handle(&services, serde_json::from_value(ev).unwrap())
        .await
        .expect("a redelivery succeeds");
    assert!(
        matches!(out.as_slice(), [(_, Recorded::AlreadyThere)]),
        "{out:?}"
    );
    let (again, _) = aftersales::repo::claims::get(&*services.table, EVIDENCE_CLAIM)
        .await
        .unwrap()
        .expect("the claim");
    assert_eq!(again.evidence.len(), 1, "recorded once");
    assert_eq!(
        serde_json::to_value(&again).unwrap()["timeline"],
        claim["timeline"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_evaluation_events_replay_on_dynamodb() {
    use aftersales::lambda_dispatch::{dispatch, Sources};

    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, RULES_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            "rule-evaluation/claim-submitted.json".to_string(),
            "rule-evaluation/review-deadlines-schedule.json".to_string(),
        ]),
        "rule-evaluation events on disk vs this test"
    );

    let services = Services::new(Arc::new(aftersales_tests::dynamo_table().await));
    seed_stream_claim(&services).await;
    let claim = || async {
        aftersales::repo::claims::get(&*services.table, STREAM_CLAIM)
            .await
            .unwrap()
            .expect("claim")
            .0
    };
    assert_eq!(claim().await.status.as_str(), "submitted");
    // The stream batch, twice, as the function dispatches it: the claim is
    // decided by the shop's rules once.
    let sources = Sources::rule_evaluation();
    for _ in 0..2 {
        let event: Value =
            serde_json::from_str(&read_event("rule-evaluation/claim-submitted.json")).unwrap();
        let answer = dispatch(&services, &sources, event).await.expect("batch");
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    let decided = claim().await;
    // A return asked 2+ days after shipment, 88.94: no default rule applies,
    // so a person reviews it.
    assert_eq!(decided.status.as_str(), "under_review", "{decided:?}");
    assert_eq!(decided.timeline.len(), 2, "decided once: {decided:?}");

    // The schedule's event carries no records: the function sweeps
    // deadlines (the answer is the sweep's counts).
    let schedule: Value = serde_json::from_str(&read_event(
        "rule-evaluation/review-deadlines-schedule.json",
    ))
    .unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    let swept = dispatch(&services, &sources, schedule)
        .await
        .expect("sweep");
    assert!(swept["escalated"].is_u64(), "{swept}");
}

// ------------------------------------------------------- refund executor

const REFUND_BATCH: &str = "refund-executor/refund-queue-batch.json";
const RECONCILIATION_SCHEDULE: &str = "refund-executor/reconciliation-schedule.json";
/// The queue the batch comes from: `RefundQueue` of infra/template.yaml
/// (`${AWS::StackName}-refunds`) for the stack `aftersales-dev`.
const REFUND_QUEUE_ARN: &str = "arn:aws:sqs:ap-southeast-1:123456789012:aftersales-dev-refunds";
/// The batch's poison message (a body cut off in the middle).
const POISON_MESSAGE: &str = "5a0c1f3e-8d2b-4c6a-9e7f-0b1d2c3e4f51";
/// The claim whose refund the batch executes, and its customer.
const REFUND_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a73";
const REFUND_CUSTOMER: &str = "cust-600";
// What refund-executor's schedule reconciles: refunds left processing for
// over this many hours (the clock is moved past it).
use aftersales::lambda_schedule::RECONCILE_AFTER_HOURS;

/// An approved refund-only claim whose refund is still pending, under a
/// sample's fixed claim id: an unshipped order, the customer's claim for
/// the mug filed through the use cases and moved to `fixed_id`, then
/// decided by the shop's default rules (what the rule-evaluation function
/// does), which approve it and create the refund with its
/// `refund.requested` event. Returns the refund's id.
async fn seed_pending_refund(
    s: &Services,
    customer: &str,
    order_id: &str,
    fixed_id: &str,
) -> String {
    use aftersales::app::{put_order, submit_claim, SubmitClaim};
    use aftersales::auth::Principal;
    use aftersales::domain::refund::RefundStatus;
    let mut order = aftersales_tests::http::sample_order(customer);
    order["fulfilment"] = json!({"state": "paid_unshipped"});
    let storefront = Principal::Storefront {
        shop_id: "shop-1".into(),
    };
    put_order(
        s,
        &storefront,
        "shop-1",
        order_id,
        serde_json::from_value(order).unwrap(),
    )
    .await
    .expect("order stored");
    let body: SubmitClaim = serde_json::from_value(json!({
        "shop_id": "shop-1", "order_id": order_id, "type": "refund_only",
        "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}))
    .unwrap();
    let customer = Principal::Customer {
        customer_id: customer.into(),
    };
    let (view, _) = submit_claim(s, &customer, body, None)
        .await
        .expect("claim filed");
    rekey_claim(s, &view.claim_id, fixed_id).await;
    aftersales::app::review::evaluate_claim(s, fixed_id)
        .await
        .expect("rules ran")
        .expect("the submitted claim was decided");
    assert_eq!(claim_status(s, fixed_id).await, "refunding");
    let refund_id = aftersales::domain::refund::refund_id_for(fixed_id, 1);
    let (refund, _) = refund_of(s, &refund_id).await;
    assert_eq!(refund.status, RefundStatus::Pending, "{refund:?}");
    refund_id.into_string()
}

async fn refund_of(s: &Services, refund_id: &str) -> (aftersales::domain::refund::Refund, u64) {
    aftersales::repo::refunds::get(&*s.table, refund_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("refund {refund_id}"))
}

async fn claim_json(s: &Services, claim_id: &str) -> Value {
    let (claim, _) = aftersales::repo::claims::get(&*s.table, claim_id)
        .await
        .unwrap()
        .expect("the claim");
    serde_json::to_value(&claim).unwrap()
}

async fn claim_status(s: &Services, claim_id: &str) -> String {
    claim_json(s, claim_id).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

/// How often `event` is on the claim's timeline.
fn timeline_count(claim: &Value, event: &str) -> usize {
    claim["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|t| t["event"] == event)
        .count()
}

/// The refund and its claim as stored (with the refund's version), to show
/// that a replay changed nothing.
async fn refund_state(s: &Services, refund_id: &str, claim_id: &str) -> (Value, Value) {
    let (refund, version) = refund_of(s, refund_id).await;
    (
        json!({"version": version, "refund": refund}),
        claim_json(s, claim_id).await,
    )
}

/// The messages a batch answer (`ReportBatchItemFailures`) names for retry.
fn failed_ids(answer: &Value) -> Vec<&str> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch answer: {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("itemIdentifier"))
        .collect()
}

fn refund_batch() -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_str(&read_event(REFUND_BATCH))
        .unwrap_or_else(|e| panic!("{REFUND_BATCH}: not an SQS event: {e}"))
}

/// The batch is what Lambda's SQS event source hands the function for the
/// refund queue, its messages what the EventBridge pipe sends (the pipe has
/// no input template, so a message body is the table stream's record as
/// JSON); the schedule's event carries no records, which is how the
/// function tells it from a batch.
#[test]
fn refund_executor_events_have_the_sqs_and_schedule_shapes() {
    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, REFUND_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            REFUND_BATCH.to_string(),
            RECONCILIATION_SCHEDULE.to_string()
        ]),
        "refund-executor events on disk vs this test"
    );

    let ev: Value = serde_json::from_str(&read_event(REFUND_BATCH)).unwrap();
    let records = ev["Records"].as_array().expect("Records");
    let mut ids = BTreeSet::new();
    let mut refunds = Vec::new();
    for r in records {
        let id = r["messageId"].as_str().expect("messageId");
        assert!(ids.insert(id), "{id}: message ids are unique in a batch");
        assert_eq!(r["eventSource"], "aws:sqs", "{id}");
        assert_eq!(r["eventSourceARN"], REFUND_QUEUE_ARN, "{id}");
        assert_eq!(r["awsRegion"], "ap-southeast-1", "{id}");
        assert!(r["receiptHandle"].is_string(), "{id}: receiptHandle");
        assert!(
            r["md5OfBody"]
                .as_str()
                .is_some_and(|m| m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit())),
            "{id}: md5OfBody"
        );
        for key in [
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        ] {
            assert!(r["attributes"][key].is_string(), "{id}: attributes.{key}");
        }
        let body = r["body"].as_str().expect("body is a string");
        match aftersales::lambda_sqs::refund_id_of(body) {
            Ok(Some(refund_id)) => {
                // The pipe's message: one stream record, an INSERT of a
                // refund.requested outbox item (the pipe's filter).
                let record: Value = serde_json::from_str(body).unwrap();
                assert_eq!(record["eventSource"], "aws:dynamodb", "{id}");
                assert_eq!(record["eventName"], "INSERT", "{id}");
                assert_eq!(record["dynamodb"]["Keys"]["pk"]["S"], "OUTBOX", "{id}");
                assert_eq!(
                    record["dynamodb"]["NewImage"]["body"]["M"]["type"]["S"], "refund.requested",
                    "{id}"
                );
                assert!(
                    record["eventSourceARN"]
                        .as_str()
                        .is_some_and(|a| a.contains(":table/aftersales-dev-AftersalesTable-")
                            && a.contains("/stream/")),
                    "{id}: from the table's stream"
                );
                refunds.push(refund_id);
            }
            Ok(None) => panic!("{id}: a message the executor ignores"),
            Err(_) => assert_eq!(id, POISON_MESSAGE, "only the poison message is undecodable"),
        }
    }
    assert!(
        ids.contains(POISON_MESSAGE),
        "the batch holds the poison message"
    );
    let want = aftersales::domain::refund::refund_id_for(REFUND_CLAIM, 1);
    assert_eq!(
        refunds,
        [want.clone(), want],
        "the same refund, delivered twice"
    );
    // What the function's runtime reads.
    refund_batch();

    let schedule: Value = serde_json::from_str(&read_event(RECONCILIATION_SCHEDULE)).unwrap();
    assert!(schedule.get("Records").is_none(), "{schedule}");
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    assert_eq!(schedule["source"], "aws.scheduler");
    assert!(
        schedule["resources"][0]
            .as_str()
            .is_some_and(|r| r.ends_with("RefundExecutorFunctionReconciliation")),
        "{schedule}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_executor_events_replay_on_dynamodb() {
    use aftersales::domain::refund::RefundStatus;
    use aftersales::lambda_dispatch::{dispatch, Sources};
    use aftersales::providers::{sandbox::Sandbox, ProviderSet};

    let clock = aftersales_tests::http::TestClock::at("2026-11-23T10:15:00Z");
    let sandbox = Arc::new(Sandbox::new());
    let mut services = Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.clock = clock.clock();
    services.providers = ProviderSet::all(sandbox.clone());
    let refund_id = seed_pending_refund(&services, REFUND_CUSTOMER, "o-600", REFUND_CLAIM).await;

    // The sample's message carries the event the approval wrote to the
    // outbox (what the stream gives the pipe): same type, refund and shop,
    // and every payload field the sample names has the value written.
    let written = aftersales::repo::outbox::pending(&*services.table, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "refund.requested")
        .expect("the approval wrote refund.requested");
    let batch = refund_batch();
    let body = batch
        .records
        .iter()
        .filter_map(|m| m.body.as_deref())
        .find(|b| aftersales::lambda_sqs::refund_id_of(b).is_ok())
        .expect("a pipe message");
    let record: aws_lambda_events::event::dynamodb::EventRecord =
        serde_json::from_str(body).expect("a stream record");
    let sample = aftersales::lambda_stream::outbox_event(&record)
        .expect("decodes")
        .expect("an outbox event");
    assert_eq!(
        (&sample.event_type, &sample.subject, &sample.shop_id),
        (&written.event_type, &refund_id, &written.shop_id)
    );
    for (k, v) in sample.payload.as_object().expect("payload") {
        assert_eq!(&written.payload[k], v, "payload.{k}: {}", written.payload);
    }
    assert_eq!(sandbox.total_movements(), 0, "nothing sent yet");

    // The batch: the poison message alone is reported (retried until the
    // DLQ takes it); the refund after it is sent, once for both deliveries.
    // No queue client: the replay does not delay retries.
    let sources = Sources::refund_executor(None);
    let batch_json = || -> Value { serde_json::from_str(&read_event(REFUND_BATCH)).unwrap() };
    let answer = dispatch(&services, &sources, batch_json())
        .await
        .expect("batch");
    assert_eq!(failed_ids(&answer), [POISON_MESSAGE]);
    assert_eq!(sandbox.movements(&refund_id), 1);
    assert_eq!(sandbox.total_movements(), 1);
    let (refund, _) = refund_of(&services, &refund_id).await;
    assert!(
        matches!(
            refund.status,
            RefundStatus::Processing | RefundStatus::Succeeded
        ),
        "the provider took the refund: {refund:?}"
    );

    // The schedule (no records: the function reconciles), an hour and more
    // later: whatever the provider said at first, the refund is settled now.
    let schedule: Value = serde_json::from_str(&read_event(RECONCILIATION_SCHEDULE)).unwrap();
    clock.advance_hours(RECONCILE_AFTER_HOURS + 1);
    let done = dispatch(&services, &sources, schedule.clone())
        .await
        .expect("reconciliation runs");
    let (checked, settled) = (done["checked"].as_u64(), done["settled"].as_u64());
    assert!(settled.is_some() && settled <= checked, "{done}");
    let (refund, _) = refund_of(&services, &refund_id).await;
    assert_eq!(refund.status, RefundStatus::Succeeded, "{refund:?}");
    let claim = claim_json(&services, REFUND_CLAIM).await;
    assert_eq!(claim["status"], "completed", "{claim}");
    assert_eq!(timeline_count(&claim, "refund_succeeded"), 1, "{claim}");
    assert_eq!(sandbox.movements(&refund_id), 1);

    // SQS delivers at least once: the whole batch again moves no money and
    // changes nothing; the poison message is reported again.
    let before = refund_state(&services, &refund_id, REFUND_CLAIM).await;
    let answer = dispatch(&services, &sources, batch_json())
        .await
        .expect("batch");
    assert_eq!(failed_ids(&answer), [POISON_MESSAGE]);
    assert_eq!(sandbox.total_movements(), 1);
    assert_eq!(
        refund_state(&services, &refund_id, REFUND_CLAIM).await,
        before
    );
    // And another reconciliation finds nothing left to do.
    let again = dispatch(&services, &sources, schedule)
        .await
        .expect("reconciliation runs");
    assert_eq!(again["checked"], 0, "{again}");
    assert_eq!(sandbox.total_movements(), 1);
}

// ------------------------------------------------------- payment webhooks

const WEBHOOK_GOOD: &str = "payment-webhooks/sandbox-refund-succeeded.json";
const WEBHOOK_BAD_SIGNATURE: &str = "payment-webhooks/sandbox-bad-signature.json";
const WEBHOOK_UNKNOWN_PROVIDER: &str = "payment-webhooks/unknown-provider.json";
/// The claim whose refund the notifications are about, and its customer.
const WEBHOOK_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a74";
const WEBHOOK_CUSTOMER: &str = "cust-700";

/// What the replay does to a sandbox event's signature header.
enum Signing {
    /// The file holds a placeholder: sign the body now with the test's
    /// secret (`SANDBOX_WEBHOOK_SECRET`), as the provider would.
    WithTestSecret,
    /// Keep the file's signature, with its timestamp moved to now, so the
    /// event is refused for its signature, not for its age.
    KeptButFresh,
}

/// The event of `file` with its `sandbox-signature` header made as `how`
/// says, at `now` (seconds).
fn signed_event(file: &str, how: Signing, now: i64) -> String {
    use aftersales::providers::sandbox::{SandboxNotifications, SIGNATURE_HEADER};
    let mut ev: Value = serde_json::from_str(&read_event(file)).unwrap();
    let body = ev["body"].as_str().expect("body").to_owned();
    let header = &mut ev["headers"][SIGNATURE_HEADER];
    let kept = header
        .as_str()
        .unwrap_or_else(|| panic!("{file}: no {SIGNATURE_HEADER} header"))
        .to_owned();
    *header = json!(match how {
        Signing::WithTestSecret => {
            SandboxNotifications::new(aftersales_tests::http::SANDBOX_WEBHOOK_SECRET)
                .sign(now, body.as_bytes())
        }
        Signing::KeptButFresh => kept
            .split(',')
            .map(|part| match part.split_once('=') {
                Some(("t", _)) => format!("t={now}"),
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(","),
    });
    serde_json::to_string(&ev).unwrap()
}

/// Accepts refunds and moves the money (the sandbox underneath), but only
/// says "processing": the result comes by webhook.
struct SaysProcessing(Arc<aftersales::providers::sandbox::Sandbox>);

#[async_trait::async_trait]
impl aftersales::providers::RefundProvider for SaysProcessing {
    fn channel(&self) -> aftersales::domain::order::PaymentChannel {
        self.0.channel()
    }
    async fn refund(
        &self,
        req: &aftersales::providers::RefundRequest,
    ) -> Result<aftersales::providers::ProviderRefund, aftersales::providers::ProviderError> {
        let mut answer = self.0.refund(req).await?;
        answer.state = aftersales::providers::ProviderState::Processing;
        Ok(answer)
    }
    async fn query(
        &self,
        req: &aftersales::providers::RefundRequest,
    ) -> Result<Option<aftersales::providers::ProviderRefund>, aftersales::providers::ProviderError>
    {
        self.0.query(req).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_webhook_events_replay_through_the_lambda_glue_on_dynamodb() {
    use aftersales::domain::refund::RefundStatus;
    use aftersales::providers::sandbox::{Sandbox, SandboxNotifications};
    use aftersales::providers::ProviderSet;

    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, WEBHOOK_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            WEBHOOK_GOOD.to_string(),
            WEBHOOK_BAD_SIGNATURE.to_string(),
            WEBHOOK_UNKNOWN_PROVIDER.to_string(),
        ]),
        "payment-webhooks events on disk vs this test"
    );

    let sandbox = Arc::new(Sandbox::new());
    let mut services = Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.providers = ProviderSet::all(Arc::new(SaysProcessing(sandbox.clone())));
    services.verifiers.push((
        "sandbox".into(),
        Arc::new(SandboxNotifications::new(
            aftersales_tests::http::SANDBOX_WEBHOOK_SECRET,
        )),
    ));
    let refund_id = seed_pending_refund(&services, WEBHOOK_CUSTOMER, "o-700", WEBHOOK_CLAIM).await;
    for file in [WEBHOOK_GOOD, WEBHOOK_BAD_SIGNATURE] {
        let ev: Value = serde_json::from_str(&read_event(file)).unwrap();
        let news: Value = serde_json::from_str(ev["body"].as_str().unwrap()).unwrap();
        assert_eq!(news["out_refund_no"], refund_id.as_str(), "{file}");
    }
    // The executor sends the refund; the provider moves the money and
    // answers "processing".
    let status = aftersales::app::refunds::execute(&services, &refund_id)
        .await
        .expect("refund sent");
    assert_eq!(status, RefundStatus::Processing);
    assert_eq!(sandbox.movements(&refund_id), 1);

    let app = router(AppState {
        services: services.clone(),
        auth: AuthMode::Gateway,
    });
    let now = || chrono::Utc::now().timestamp();

    // A forged notification saying the refund succeeded: refused before
    // anything is read, nothing changes.
    let before = refund_state(&services, &refund_id, WEBHOOK_CLAIM).await;
    let text = signed_event(WEBHOOK_BAD_SIGNATURE, Signing::KeptButFresh, now());
    let (status, body) = replay_text(&app, WEBHOOK_BAD_SIGNATURE, &text).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["received"], false, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("signature")),
        "{body}"
    );
    assert_eq!(
        refund_state(&services, &refund_id, WEBHOOK_CLAIM).await,
        before
    );

    // The provider's notification, signed with the secret: acknowledged,
    // the refund's result recorded, the claim completed.
    let text = signed_event(WEBHOOK_GOOD, Signing::WithTestSecret, now());
    let (status, body) = replay_text(&app, WEBHOOK_GOOD, &text).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], true, "{body}");
    let (refund, _) = refund_of(&services, &refund_id).await;
    assert_eq!(refund.status, RefundStatus::Succeeded, "{refund:?}");
    assert_eq!(
        refund
            .history
            .iter()
            .filter(|h| h.status == RefundStatus::Succeeded)
            .count(),
        1,
        "{refund:?}"
    );
    let claim = claim_json(&services, WEBHOOK_CLAIM).await;
    assert_eq!(claim["status"], "completed", "{claim}");
    assert_eq!(timeline_count(&claim, "refund_succeeded"), 1, "{claim}");

    // Providers retry notifications: the same one again (signed anew) is
    // acknowledged and changes nothing.
    let after = refund_state(&services, &refund_id, WEBHOOK_CLAIM).await;
    let text = signed_event(WEBHOOK_GOOD, Signing::WithTestSecret, now());
    let (status, body) = replay_text(&app, WEBHOOK_GOOD, &text).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], true, "{body}");
    assert_eq!(
        refund_state(&services, &refund_id, WEBHOOK_CLAIM).await,
        after
    );

    // A provider the deployment does not know: a JSON 404, nothing read.
    let (status, body) = replay(&app, WEBHOOK_UNKNOWN_PROVIDER).await;
    assert_eq!(status, 404, "{body}");
    error_code("not_found")(&body);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("webhook")),
        "{body}"
    );
    assert_eq!(
        refund_state(&services, &refund_id, WEBHOOK_CLAIM).await,
        after
    );
    // Money moved once, by the executor; notifications only told of it.
    assert_eq!(sandbox.total_movements(), 1);
}

// ------------------------------------------------------- courier verification

const COURIER_PUSH: &str = "courier-verification/push-delivered.json";
const COURIER_STREAM: &str = "courier-verification/return-shipped-stream.json";
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
                amount: 9900,
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
            COURIER_STREAM.to_string(),
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

    // The stream batch, twice: the parcel is registered and subscribed once.
    for _ in 0..2 {
        let event: Value = serde_json::from_str(&read_event(COURIER_STREAM)).unwrap();
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
