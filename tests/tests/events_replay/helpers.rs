//! What the replays share: the sample events on disk and which function
//! each folder feeds, an API Gateway event replayed through the Lambda
//! glue, and the orders, claims and refunds the samples name, seeded
//! through the use cases.

use aftersales::api::ROUTES;
use aftersales::app::Services;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) fn error_code(code: &'static str) -> impl Fn(&Value) {
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
pub(crate) async fn file_claim_as(
    s: &Services,
    customer: &str,
    order_id: &str,
    reason: &str,
    fixed_id: &str,
) {
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
pub(crate) async fn put_sample_order(s: &Services, customer: &str, order_id: &str) {
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

pub(crate) fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Every `.json` file under `dir`, as paths relative to `events/` with `/`.
pub(crate) fn json_files(dir: &Path, out: &mut BTreeSet<String>) {
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

pub(crate) fn read_event(file: &str) -> String {
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
pub(crate) fn check_shape(file: &str, text: &str) {
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

pub(crate) async fn replay(app: &axum::Router, file: &str) -> (u16, Value) {
    replay_text(app, file, &read_event(file)).await
}

/// Replays `text`, the event of `file` (as read, or as the replay changed it).
pub(crate) async fn replay_text(app: &axum::Router, file: &str, text: &str) -> (u16, Value) {
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

/// Folders of functions fed by outbox events rather than API Gateway: their
/// events are batches of the consumer's queue (the events bus's events,
/// whose detail is the stream record), replayed through the consumer glue
/// (`notifications`) instead of the HTTP checks (`http_api`).
const STREAM_FOLDERS: &[&str] = &["notifications"];

/// Folders of functions fed by S3 event notifications.
const S3_FOLDERS: &[&str] = &["evidence-events"];

/// The rule-evaluation function: queue batches (claim events) and the
/// review-deadline schedule, replayed by
/// `rule_evaluation_events_replay_on_dynamodb`.
pub(crate) const RULES_FOLDERS: &[&str] = &["rule-evaluation"];

pub(crate) fn in_folders(file: &str, folders: &[&str]) -> bool {
    folders.iter().any(|folder| {
        file.strip_prefix(folder)
            .is_some_and(|r| r.starts_with('/'))
    })
}

pub(crate) fn is_stream_event(file: &str) -> bool {
    in_folders(file, STREAM_FOLDERS)
}

pub(crate) fn is_s3_event(file: &str) -> bool {
    in_folders(file, S3_FOLDERS)
}

/// The refund executor: SQS batches from the refund queue and the
/// reconciliation schedule, replayed by
/// `refund_executor_events_replay_on_dynamodb`.
pub(crate) const REFUND_FOLDERS: &[&str] = &["refund-executor"];

/// The payment-webhooks function: API Gateway events (shape-checked like
/// every other), whose signatures are made at replay time with the test's
/// secret, so no secret is committed; replayed by
/// `payment_webhook_events_replay_through_the_lambda_glue_on_dynamodb`.
pub(crate) const WEBHOOK_FOLDERS: &[&str] = &["payment-webhooks"];

/// The courier-verification function: Kuaidi100 pushes through API
/// Gateway (`push-*.json`, signed at replay time with the test's salt), a
/// stream batch and the polling schedule; replayed by
/// `courier_verification_events_replay_on_dynamodb`.
pub(crate) const COURIER_FOLDERS: &[&str] = &["courier-verification"];

/// The webhook-delivery function: a queue batch (a claim event) and the
/// sweep's schedule, replayed by `webhook_delivery_events_replay_on_dynamodb`.
pub(crate) const WEBHOOK_DELIVERY_FOLDERS: &[&str] = &["webhook-delivery"];

fn is_courier_push(file: &str) -> bool {
    in_folders(file, COURIER_FOLDERS)
        && file
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("push-"))
}

/// An API Gateway event (every folder not listed as another source).
pub(crate) fn is_http_event(file: &str) -> bool {
    (!in_folders(file, COURIER_FOLDERS) || is_courier_push(file))
        && !is_stream_event(file)
        && !is_s3_event(file)
        && !in_folders(file, RULES_FOLDERS)
        && !in_folders(file, REFUND_FOLDERS)
        && !in_folders(file, WEBHOOK_DELIVERY_FOLDERS)
}

/// The claim the sample stream events are about, and its customer.
pub(crate) const STREAM_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b";
pub(crate) const STREAM_CUSTOMER: &str = "cust-300";
pub(crate) const STREAM_PHONE: &str = "+8613800138000";

/// The order and claim the samples name: filed through the use cases, then
/// the claim stored again under the samples' fixed id.
pub(crate) async fn seed_stream_claim(s: &Services) {
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

/// An approved refund-only claim whose refund is still pending, under a
/// sample's fixed claim id: an unshipped order, the customer's claim for
/// the mug filed through the use cases and moved to `fixed_id`, then
/// decided by the shop's default rules (what the rule-evaluation function
/// does), which approve it and create the refund with its
/// `refund.requested` event. Returns the refund's id.
pub(crate) async fn seed_pending_refund(
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

pub(crate) async fn refund_of(
    s: &Services,
    refund_id: &str,
) -> (aftersales::domain::refund::Refund, u64) {
    aftersales::repo::refunds::get(&*s.table, refund_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("refund {refund_id}"))
}

pub(crate) async fn claim_json(s: &Services, claim_id: &str) -> Value {
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
pub(crate) fn timeline_count(claim: &Value, event: &str) -> usize {
    claim["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|t| t["event"] == event)
        .count()
}

/// The refund and its claim as stored (with the refund's version), to show
/// that a replay changed nothing.
pub(crate) async fn refund_state(s: &Services, refund_id: &str, claim_id: &str) -> (Value, Value) {
    let (refund, version) = refund_of(s, refund_id).await;
    (
        json!({"version": version, "refund": refund}),
        claim_json(s, claim_id).await,
    )
}
