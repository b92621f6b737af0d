//! The Stripe adapter against a local double of the Stripe refunds API that
//! behaves like Stripe where it matters for money: it checks the secret key,
//! keeps each Idempotency-Key's first answer and replays it (500s included,
//! as Stripe does), refuses a key reused with other parameters, can prune its
//! keys the way Stripe does after 24 hours, counts money movements, pages its
//! refund lists, and can be told to fail. Webhooks are signed the way Stripe
//! signs them (HMAC-SHA256 over "t.body") with a secret generated here.

use aftersales::domain::money::{Currency, Money};
use aftersales::providers::stripe::{self, Stripe, StripeConfig};
use aftersales::providers::{
    Incoming, NoticeAmount, NotificationError, NotificationVerifier, ProviderError, ProviderRefund,
    ProviderState, RefundProvider, RefundRequest,
};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rsa::rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

const INTENT: &str = "pi_3OaBcDeFgHiJkLmN0aBcDeFg";
/// 88.00 USD, in cents.
const TOTAL: i64 = 8_800;

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[derive(Debug, Clone)]
enum Failure {
    /// 500 api_error; saved under the key and replayed, as Stripe does.
    ServerError,
    /// 429 before the endpoint runs: nothing saved.
    RateLimited,
    /// 402 card_error.
    CardError,
    /// The refund is created with this status (and failure reason).
    Status(&'static str, Option<&'static str>),
}

#[derive(Default)]
struct Account {
    refunds: Vec<Value>,
    /// key -> (parameters, status, body) of the first answer.
    keys: HashMap<String, (BTreeMap<String, String>, u16, Value)>,
    movements: u32,
    creates: u32,
    lists: u32,
    unauthorized: u32,
    failures: VecDeque<Failure>,
    page_cap: usize,
}

struct Api {
    secret_key: String,
    account: Mutex<Account>,
}

type Shared = Arc<Api>;

impl Api {
    fn account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.account.lock().expect("account")
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn reply(status: u16, body: Value, replayed: bool) -> Response {
    let mut response = (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn authorized(api: &Api, headers: &HeaderMap) -> bool {
    let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {}", api.secret_key).as_str());
    if !ok {
        api.account().unauthorized += 1;
    }
    ok
}

async fn create(State(api): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&api, &headers) {
        let (s, b) = error(401, "invalid_request_error", "", "Invalid API Key provided");
        return reply(s, b, false);
    }
    let params: BTreeMap<String, String> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut account = api.account();
    if let Some(key) = key.as_deref() {
        if let Some((first, status, body)) = account.keys.get(key) {
            if *first != params {
                let (s, b) = error(
                    400,
                    "idempotency_error",
                    "",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
                return reply(s, b, false);
            }
            return reply(*status, body.clone(), true);
        }
    }
    let failure = account.failures.pop_front();
    if let Some(Failure::RateLimited) = failure {
        let (s, b) = error(429, "rate_limit_error", "rate_limit", "Too many requests");
        return reply(s, b, false);
    }
    account.creates += 1;
    let (status, body) = match failure {
        Some(Failure::ServerError) => error(500, "api_error", "", "An unknown error occurred"),
        Some(Failure::CardError) => error(
            402,
            "card_error",
            "expired_card",
            "The card has expired; the refund cannot be made to it.",
        ),
        other => {
            let intent = params.get("payment_intent").map(String::as_str);
            let amount = params
                .get("amount")
                .and_then(|a| a.parse::<i64>().ok())
                .unwrap_or(0);
            let refunded: i64 = account
                .refunds
                .iter()
                .filter(|r| r["status"] != "failed" && r["status"] != "canceled")
                .filter_map(|r| r["amount"].as_i64())
                .sum();
            if intent != Some(INTENT) {
                error(
                    404,
                    "invalid_request_error",
                    "resource_missing",
                    "No such payment_intent",
                )
            } else if amount <= 0 || refunded + amount > TOTAL {
                error(
                    400,
                    "invalid_request_error",
                    "amount_too_large",
                    "Refund amount is greater than unrefunded amount on charge",
                )
            } else {
                let (status, failure_reason) = match other {
                    Some(Failure::Status(s, r)) => (s, r),
                    _ => ("succeeded", None),
                };
                let metadata: BTreeMap<&str, &str> = params
                    .iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix("metadata[")
                            .and_then(|k| k.strip_suffix(']'))
                            .map(|k| (k, v.as_str()))
                    })
                    .collect();
                let refund = json!({
                    "id": format!("re_{}", random_hex(12)),
                    "object": "refund",
                    "amount": amount,
                    "currency": "usd",
                    "payment_intent": INTENT,
                    "charge": "ch_3OaBcDeFgHiJkLmN0",
                    "created": Utc::now().timestamp(),
                    "status": status,
                    "failure_reason": failure_reason,
                    "metadata": metadata,
                    "reason": null,
                });
                if status != "failed" && status != "canceled" {
                    account.movements += 1;
                }
                account.refunds.push(refund.clone());
                (200, refund)
            }
        }
    };
    if let Some(key) = key {
        account.keys.insert(key, (params, status, body.clone()));
    }
    reply(status, body, false)
}

async fn list(State(api): State<Shared>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    if !authorized(&api, &headers) {
        let (s, b) = error(401, "invalid_request_error", "", "Invalid API Key provided");
        return reply(s, b, false);
    }
    let q: HashMap<String, String> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut account = api.account();
    account.lists += 1;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .min(account.page_cap);
    // Newest first, as Stripe lists.
    let mut all: Vec<&Value> = account
        .refunds
        .iter()
        .rev()
        .filter(|r| {
            q.get("payment_intent")
                .is_none_or(|pi| r["payment_intent"] == pi.as_str())
        })
        .collect();
    if let Some(after) = q.get("starting_after") {
        let Some(at) = all.iter().position(|r| r["id"] == after.as_str()) else {
            let (s, b) = error(
                400,
                "invalid_request_error",
                "resource_missing",
                "No such refund",
            );
            return reply(s, b, false);
        };
        all.drain(..=at);
    }
    let has_more = all.len() > limit;
    all.truncate(limit);
    reply(
        200,
        json!({"object": "list", "url": "/v1/refunds", "has_more": has_more, "data": all}),
        false,
    )
}

struct Double {
    api: Shared,
    base: String,
    webhook_secret: String,
}

impl Double {
    async fn start() -> Double {
        let api = Arc::new(Api {
            secret_key: format!("sk_test_{}", random_hex(24)),
            account: Mutex::new(Account {
                page_cap: 100,
                ..Account::default()
            }),
        });
        let app = axum::Router::new()
            .route("/v1/refunds", axum::routing::post(create).get(list))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Double {
            api,
            base,
            webhook_secret: format!("whsec_{}", random_hex(24)),
        }
    }

    fn config(&self) -> StripeConfig {
        StripeConfig {
            api_base: self.base.clone(),
            secret_key: self.api.secret_key.clone(),
            webhook_secret: self.webhook_secret.clone(),
            account: None,
        }
    }

    fn client(&self) -> Stripe {
        Stripe::new(&self.config()).expect("stripe")
    }

    fn fail_next(&self, failures: impl IntoIterator<Item = Failure>) {
        self.api.account().failures.extend(failures);
    }

    fn movements(&self) -> u32 {
        self.api.account().movements
    }

    /// Stripe forgets keys once they are at least 24 hours old.
    fn prune_keys(&self) {
        self.api.account().keys.clear();
    }

    fn refund_json(&self, id: &str) -> Value {
        self.api
            .account()
            .refunds
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .expect("refund")
    }

    fn set_status(&self, id: &str, status: &str) {
        for r in self.api.account().refunds.iter_mut() {
            if r["id"] == id {
                r["status"] = status.into();
            }
        }
    }
}

fn request(no: &str, amount: i64) -> RefundRequest {
    RefundRequest {
        out_refund_no: no.into(),
        provider_txn_id: INTENT.into(),
        amount: Money::from_minor(amount, Currency::Usd),
        payment_total: Money::from_minor(TOTAL, Currency::Usd),
        reason: "Arrived damaged".into(),
        notify_url: None,
        payee: None,
    }
}

fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn event(kind: &str, object: &Value) -> String {
    json!({
        "id": format!("evt_{}", random_hex(12)),
        "object": "event",
        "api_version": "2024-06-20",
        "created": Utc::now().timestamp(),
        "type": kind,
        "livemode": false,
        "data": {"object": object},
    })
    .to_string()
}

fn deliver(
    verifier: &Stripe,
    signature: Option<&str>,
    body: &str,
    now: DateTime<Utc>,
) -> Result<ProviderRefund, NotificationError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(s) = signature {
        headers.push(("stripe-signature".to_string(), s.to_string()));
    }
    verifier.verify(
        &Incoming {
            headers: &headers,
            body: body.as_bytes(),
        },
        now,
    )
}

#[tokio::test]
async fn a_refund_is_created_once_and_found_again_by_our_number() {
    let d = Double::start().await;
    let stripe = d.client();
    let first = stripe.refund(&request("R1-1", 1234)).await.expect("refund");
    assert_eq!(first.out_refund_no, "R1-1");
    assert_eq!(first.state, ProviderState::Succeeded { at: None });
    let id = first.provider_refund_id.clone().expect("re_ id");
    let stored = d.refund_json(&id);
    assert_eq!(stored["amount"], 1234);
    assert_eq!(stored["metadata"]["out_refund_no"], "R1-1");
    assert_eq!(stored["metadata"]["reason"], "Arrived damaged");

    let again = stripe.refund(&request("R1-1", 1234)).await.expect("repeat");
    assert_eq!(again, first);
    assert_eq!(d.movements(), 1);
    assert_eq!(d.api.account().creates, 1);

    let queried = stripe.query(&request("R1-1", 1234)).await.expect("query");
    assert_eq!(queried, Some(first));
    assert_eq!(
        stripe.query(&request("R1-2", 1)).await.expect("query"),
        None
    );
}

#[tokio::test]
async fn concurrent_first_attempts_move_money_once_by_idempotency_key() {
    let d = Double::start().await;
    let (a, b) = (d.client(), d.client());
    let req = request("R2-1", 500);
    let (x, y) = tokio::join!(a.refund(&req), b.refund(&req));
    let (x, y) = (x.expect("first"), y.expect("second"));
    assert_eq!(x.provider_refund_id, y.provider_refund_id);
    assert_eq!(d.movements(), 1);
}

#[tokio::test]
async fn a_retry_after_the_key_was_pruned_finds_the_refund_instead_of_paying_twice() {
    let d = Double::start().await;
    let stripe = d.client();
    let first = stripe.refund(&request("R3-1", 700)).await.expect("refund");
    d.prune_keys();
    let later = stripe
        .refund(&request("R3-1", 700))
        .await
        .expect("a day later");
    assert_eq!(later.provider_refund_id, first.provider_refund_id);
    assert_eq!(d.movements(), 1);
}

#[tokio::test]
async fn the_key_is_refused_with_other_parameters() {
    let d = Double::start().await;
    let stripe = d.client();
    // The 500 is saved under the key with amount 300; the same key with
    // another amount must be refused, never run as a second refund.
    d.fail_next([Failure::ServerError]);
    assert!(matches!(
        stripe.refund(&request("R4-1", 300)).await,
        Err(ProviderError::Transient(_))
    ));
    match stripe.refund(&request("R4-1", 301)).await {
        Err(ProviderError::Permanent(m)) => assert!(m.contains("idempotency_error"), "{m}"),
        other => panic!("expected idempotency_error, got {other:?}"),
    }
    assert_eq!(d.movements(), 0);
}

#[tokio::test]
async fn pending_and_requires_action_are_processing_until_the_query_says_more() {
    let d = Double::start().await;
    let stripe = d.client();
    d.fail_next([
        Failure::Status("pending", None),
        Failure::Status("requires_action", None),
    ]);
    let pending = stripe.refund(&request("R5-1", 100)).await.expect("refund");
    assert_eq!(pending.state, ProviderState::Processing);
    let action = stripe.refund(&request("R5-2", 100)).await.expect("refund");
    assert_eq!(action.state, ProviderState::Processing);

    d.set_status(
        pending.provider_refund_id.as_deref().expect("id"),
        "succeeded",
    );
    let done = stripe.query(&request("R5-1", 100)).await.expect("query");
    assert_eq!(
        done.map(|r| r.state),
        Some(ProviderState::Succeeded { at: None })
    );
}

#[tokio::test]
async fn failed_and_canceled_refunds_are_failed_with_stripes_reason() {
    let d = Double::start().await;
    let stripe = d.client();
    d.fail_next([
        Failure::Status("failed", Some("expired_or_canceled_card")),
        Failure::Status("canceled", None),
    ]);
    assert_eq!(
        stripe
            .refund(&request("R6-1", 100))
            .await
            .expect("refund")
            .state,
        ProviderState::Failed {
            reason: "expired_or_canceled_card".into()
        }
    );
    assert_eq!(
        stripe
            .refund(&request("R6-2", 100))
            .await
            .expect("refund")
            .state,
        ProviderState::Failed {
            reason: "canceled".into()
        }
    );
    assert_eq!(d.movements(), 0);
}

#[tokio::test]
async fn server_errors_rate_limits_and_lost_connections_are_transient() {
    let d = Double::start().await;
    let stripe = d.client();
    // Stripe replays a 500 for the same key until the key is pruned.
    d.fail_next([Failure::RateLimited, Failure::ServerError]);
    for _ in 0..3 {
        assert!(matches!(
            stripe.refund(&request("R7-1", 100)).await,
            Err(ProviderError::Transient(_))
        ));
    }
    assert_eq!(
        d.api.account().creates,
        1,
        "the 500 was replayed, not re-run"
    );
    d.prune_keys();
    let done = stripe.refund(&request("R7-1", 100)).await.expect("refund");
    assert_eq!(done.state, ProviderState::Succeeded { at: None });
    assert_eq!(d.movements(), 1);

    let mut gone = d.config();
    gone.api_base = "http://127.0.0.1:9".into();
    assert!(matches!(
        Stripe::new(&gone)
            .expect("stripe")
            .refund(&request("R7-2", 1))
            .await,
        Err(ProviderError::Transient(_))
    ));
}

#[tokio::test]
async fn card_request_and_authentication_errors_are_permanent() {
    let d = Double::start().await;
    let stripe = d.client();
    d.fail_next([Failure::CardError]);
    assert!(matches!(
        stripe.refund(&request("R8-1", 100)).await,
        Err(ProviderError::Permanent(m)) if m.contains("card_error") && m.contains("expired_card")
    ));
    assert!(matches!(
        stripe.refund(&request("R8-2", TOTAL + 1)).await,
        Err(ProviderError::Permanent(m)) if m.contains("amount_too_large")
    ));
    let mut other_intent = request("R8-3", 100);
    other_intent.provider_txn_id = "pi_unknown".into();
    assert!(matches!(
        stripe.refund(&other_intent).await,
        Err(ProviderError::Permanent(m)) if m.contains("resource_missing")
    ));
    let mut wrong_key = d.config();
    wrong_key.secret_key = "sk_test_wrong".into();
    assert!(matches!(
        Stripe::new(&wrong_key).expect("stripe").refund(&request("R8-4", 100)).await,
        // Our configuration, not the refund: retried until fixed.
        Err(ProviderError::Transient(m)) if m.contains("401")
    ));
    assert!(d.api.account().unauthorized >= 1);
    assert_eq!(d.movements(), 0);
}

#[tokio::test]
async fn the_query_pages_through_the_intents_refunds_and_ignores_foreign_ones() {
    let d = Double::start().await;
    let stripe = d.client();
    d.api.account().page_cap = 2;
    for i in 1..=5 {
        stripe
            .refund(&request(&format!("R9-{i}"), 100))
            .await
            .expect("refund");
    }
    // A Dashboard refund: no out_refund_no in its metadata.
    d.api.account().refunds.push(json!({
        "id": "re_dashboard", "object": "refund", "amount": 100, "payment_intent": INTENT,
        "status": "succeeded", "metadata": {}
    }));
    let lists_before = d.api.account().lists;
    let oldest = stripe.query(&request("R9-1", 100)).await.expect("query");
    assert_eq!(oldest.map(|r| r.out_refund_no), Some("R9-1".to_string()));
    assert!(d.api.account().lists - lists_before >= 3, "paged");
    assert_eq!(
        stripe.query(&request("R9-9", 100)).await.expect("query"),
        None
    );
}

#[tokio::test]
async fn signed_refund_events_verify_and_map_to_refund_states() {
    let d = Double::start().await;
    let stripe = d.client();
    let done = stripe.refund(&request("R10-1", 100)).await.expect("refund");
    let mut refund = d.refund_json(done.provider_refund_id.as_deref().expect("id"));
    let now = Utc::now();
    let t = now.timestamp();

    for (kind, status, expected) in [
        ("refund.created", "pending", ProviderState::Processing),
        (
            "refund.updated",
            "succeeded",
            ProviderState::Succeeded { at: None },
        ),
        (
            "charge.refund.updated",
            "succeeded",
            ProviderState::Succeeded { at: None },
        ),
        (
            "refund.failed",
            "failed",
            ProviderState::Failed {
                reason: "lost_or_stolen_card".into(),
            },
        ),
    ] {
        refund["status"] = status.into();
        refund["failure_reason"] = if status == "failed" {
            "lost_or_stolen_card".into()
        } else {
            Value::Null
        };
        let body = event(kind, &refund);
        let header = format!("t={t},v1={}", sign(&d.webhook_secret, t, &body));
        let got = deliver(&stripe, Some(&header), &body, now).expect(kind);
        assert_eq!(got.out_refund_no, "R10-1", "{kind}");
        assert_eq!(got.provider_refund_id, done.provider_refund_id, "{kind}");
        assert_eq!(got.state, expected, "{kind}");
        // What the matching rule needs: how much, and (none named) whose.
        assert_eq!(got.amount, Some(NoticeAmount::Refund(100)), "{kind}");
        assert_eq!((got.account, stripe.account()), (None, None), "{kind}");
    }
    // A Connect event names the connected account it happened on: read onto
    // the notice, so that it is not taken for the platform's own refund.
    let mut connect: Value = serde_json::from_str(&event("refund.updated", &refund)).expect("json");
    connect["account"] = json!("acct_1OtherMerchant");
    let body = connect.to_string();
    let header = format!("t={t},v1={}", sign(&d.webhook_secret, t, &body));
    let got = deliver(&stripe, Some(&header), &body, now).expect("connect event");
    assert_eq!(got.account.as_deref(), Some("account=acct_1OtherMerchant"));
    let ack = stripe.ack();
    assert_eq!(
        (ack.status, ack.content_type, ack.body.as_str()),
        (200, "application/json", r#"{"received":true}"#)
    );
}

#[tokio::test]
async fn any_of_several_v1_signatures_may_match_while_a_secret_rolls() {
    let d = Double::start().await;
    let stripe = d.client();
    let refund = json!({"id":"re_1","object":"refund","status":"succeeded","metadata":{"out_refund_no":"R11-1"}});
    let body = event("refund.updated", &refund);
    let now = Utc::now();
    let t = now.timestamp();
    let old_secret = format!("whsec_{}", random_hex(24));
    let header = format!(
        "t={t},v1={},v0={},v1={}",
        sign(&old_secret, t, &body),
        random_hex(32),
        sign(&d.webhook_secret, t, &body)
    );
    assert!(deliver(&stripe, Some(&header), &body, now).is_ok());
}

#[tokio::test]
async fn tampered_foreign_stale_future_and_unsigned_webhooks_are_refused() {
    let d = Double::start().await;
    let stripe = d.client();
    let refund = json!({"id":"re_1","object":"refund","amount":100,"status":"succeeded","metadata":{"out_refund_no":"R12-1"}});
    let body = event("refund.updated", &refund);
    let now = Utc::now();
    let t = now.timestamp();
    let good = format!("t={t},v1={}", sign(&d.webhook_secret, t, &body));
    assert!(deliver(&stripe, Some(&good), &body, now).is_ok());

    let bad = |sig: Option<&str>, body: &str, now: DateTime<Utc>| {
        let e = deliver(&stripe, sig, body, now).expect_err("refused");
        assert_ne!(stripe.nack(&e).status, 200, "{e:?}");
        e
    };
    let tampered = body.replace("\"amount\":100", "\"amount\":8800");
    assert!(matches!(
        bad(Some(&good), &tampered, now),
        NotificationError::BadSignature(_)
    ));
    let foreign = format!(
        "t={t},v1={}",
        sign(&format!("whsec_{}", random_hex(24)), t, &body)
    );
    assert!(matches!(
        bad(Some(&foreign), &body, now),
        NotificationError::BadSignature(_)
    ));
    // The signature binds the timestamp: moving t breaks it.
    let moved = format!("t={},v1={}", t + 1, sign(&d.webhook_secret, t, &body));
    assert!(matches!(
        bad(Some(&moved), &body, now),
        NotificationError::BadSignature(_)
    ));
    let v0_only = format!("t={t},v0={}", sign(&d.webhook_secret, t, &body));
    assert!(matches!(
        bad(Some(&v0_only), &body, now),
        NotificationError::BadSignature(_)
    ));
    assert!(matches!(
        bad(None, &body, now),
        NotificationError::BadSignature(_)
    ));
    assert!(matches!(
        bad(Some("garbage"), &body, now),
        NotificationError::BadSignature(_)
    ));

    // Correctly signed, but 301 s old (a replay) or from 301 s ahead.
    let old_t = t - 301;
    let old = format!("t={old_t},v1={}", sign(&d.webhook_secret, old_t, &body));
    assert!(matches!(
        bad(Some(&old), &body, now),
        NotificationError::Stale(_)
    ));
    let at_edge = format!(
        "t={},v1={}",
        t - 300,
        sign(&d.webhook_secret, t - 300, &body)
    );
    assert!(deliver(&stripe, Some(&at_edge), &body, now).is_ok());
    let ahead_t = t + 301;
    let ahead = format!("t={ahead_t},v1={}", sign(&d.webhook_secret, ahead_t, &body));
    assert!(matches!(
        bad(Some(&ahead), &body, now),
        NotificationError::Stale(_)
    ));

    // Signed, but not JSON.
    let junk = "not json";
    let junk_sig = format!("t={t},v1={}", sign(&d.webhook_secret, t, junk));
    assert!(matches!(
        bad(Some(&junk_sig), junk, now),
        NotificationError::Malformed(_)
    ));
}

#[tokio::test]
async fn other_events_and_refunds_not_ours_are_acknowledged_and_ignored() {
    let d = Double::start().await;
    let stripe = d.client();
    let now = Utc::now();
    let t = now.timestamp();
    let dashboard = json!({"id":"re_2","object":"refund","status":"succeeded","metadata":{}});
    let charge = json!({"id":"ch_1","object":"charge","amount_refunded":100});
    let intent = json!({"id":INTENT,"object":"payment_intent"});
    for body in [
        event("refund.updated", &dashboard),
        event("charge.refunded", &charge),
        event("payment_intent.succeeded", &intent),
    ] {
        let header = format!("t={t},v1={}", sign(&d.webhook_secret, t, &body));
        let e = deliver(&stripe, Some(&header), &body, now).expect_err("ignored");
        assert!(matches!(e, NotificationError::NotARefund(_)), "{e:?}");
        assert_eq!(stripe.nack(&e), stripe.ack());
    }
}

/// PROTOCOLS.md §3: secret `whsec_test_secret`, t 1700000000, body
/// `{"id":"evt_1","object":"event"}` gives 0c8670ed…6edd.
#[tokio::test]
async fn the_protocols_vector_verifies() {
    let body = r#"{"id":"evt_1","object":"event"}"#;
    let vector = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";
    assert_eq!(sign("whsec_test_secret", 1_700_000_000, body), vector);
    assert_eq!(
        stripe::signature("whsec_test_secret", 1_700_000_000, body.as_bytes()),
        vector
    );
    let verifier = Stripe::new(&StripeConfig {
        api_base: stripe::API_BASE.into(),
        secret_key: "sk_test_x".into(),
        webhook_secret: "whsec_test_secret".into(),
        account: None,
    })
    .expect("stripe");
    let now = DateTime::from_timestamp(1_700_000_000, 0).expect("t");
    let header = format!("t=1700000000,v1={vector}");
    // Signed correctly; an event with no type is not one we can act on.
    assert!(matches!(
        deliver(&verifier, Some(&header), body, now),
        Err(NotificationError::Malformed(_))
    ));
}

#[test]
fn secrets_are_never_printed() {
    let config = StripeConfig {
        api_base: stripe::API_BASE.into(),
        secret_key: "sk_live_0123456789abcdef".into(),
        webhook_secret: "whsec_0123456789abcdef".into(),
        account: None,
    };
    let shown = format!("{config:?} {:?}", Stripe::new(&config).expect("stripe"));
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(Stripe::new(&StripeConfig {
        secret_key: String::new(),
        ..config
    })
    .is_err());
}
