//! Refunds exactly once, on both engines: an approved refund-only claim
//! gets its money back through the sandbox provider ("refund sent", then
//! "refund arrived"), a pre-sale order refunds deposit and balance as two
//! payments, a declined refund shows its reason, and — the proof — refund
//! execution run many times at once, with crashes injected between "the
//! provider moved the money" and "we recorded it", plus duplicated and
//! reordered provider news, moves every refund's money exactly once.

use aftersales::domain::refund::RefundStatus;
use aftersales::providers::sandbox::Sandbox;
use aftersales::providers::{
    ProviderError, ProviderRefund, ProviderSet, ProviderState, RefundProvider, RefundRequest,
};
use aftersales_tests::engine_table;
use aftersales_tests::http::{sample_order, spawn_app_at, timeline_events, TestApp, TestClock};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const NOW: &str = "2026-11-23T10:00:00Z";

async fn app_on(engine: &str) -> TestApp {
    spawn_app_at(engine_table(engine).await, &TestClock::at(NOW)).await
}

/// Paid, not shipped: the default rules approve a refund-only claim.
fn unshipped(customer: &str) -> Value {
    let mut o = sample_order(customer);
    o["fulfilment"] = json!({"state": "paid_unshipped"});
    o
}

async fn push(app: &TestApp, order_id: &str, order: &Value) {
    app.push_order(order_id, order).await
}

async fn refund_only(app: &TestApp, customer: &str, order: &str, amount: Option<&str>) -> String {
    let mut body = json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                          "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 2}]});
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    let (s, v) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer(customer)),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["claim_id"].as_str().unwrap().to_owned()
}

async fn claim(app: &TestApp, customer: &str, id: &str) -> Value {
    app.claim_of(customer, id).await
}

async fn approved_claim_is_refunded_once(engine: &str) {
    let app = app_on(engine).await;
    push(&app, "o-1", &unshipped("alice")).await;
    let id = refund_only(&app, "alice", "o-1", None).await;
    app.drain().await;
    let c = claim(&app, "alice", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(
        timeline_events(&c)[1..],
        [
            "approved",
            "refund_started",
            "refund_sent",
            "refund_arrived",
            "refund_succeeded"
        ]
    );
    let refund_id = aftersales::domain::refund::refund_id_for(&id, 1);
    // Where the money went and by when, then that it arrived.
    let sent = &c["timeline"][3];
    assert_eq!(sent["channel"], "wechat_pay", "{sent}");
    assert_eq!(sent["refund_id"], refund_id.as_str());
    assert_eq!(sent["expected_arrival"], "2026-11-26T10:00:00Z", "{sent}");
    let arrived = &c["timeline"][4];
    assert_eq!(arrived["channel"], "wechat_pay", "{arrived}");
    assert_eq!(arrived["amount"], sent["amount"]);
    assert_eq!(app.sandbox.movements(&refund_id), 1);
    let (r, _) = aftersales::repo::refunds::get(&*app.table, &refund_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, RefundStatus::Succeeded);
    assert_eq!(
        r.amount.minor(),
        c["approved_amount"]["amount"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse::<i64>()
            .unwrap()
    );
    // Everything again: nothing moves twice.
    aftersales::app::refunds::execute(&app.services, &refund_id)
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(app.sandbox.movements(&refund_id), 1);
    // The ledger keeps the refunded units for good.
    let (_, o) = app
        .call(
            "GET",
            "/v1/shops/shop-1/orders/o-1",
            Some(&app.storefront("shop-1")),
            None,
            &[],
        )
        .await;
    assert_eq!(o["lines_refundable"][0]["units_free"], 0, "{o}");

    // Staff find it by order, with its audit trail.
    let staff = app.staff("st", "shop-1", &[aftersales::auth::StaffRole::Reviewer]);
    let (s, found) = app
        .call(
            "GET",
            "/v1/shops/shop-1/refunds?order_id=o-1",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{found}");
    let r = &found["refunds"][0];
    assert_eq!(found["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(r["refund_id"], refund_id.as_str());
    assert_eq!(r["claim_id"], id.as_str());
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["amount"], c["approved_amount"]);
    let steps: Vec<&str> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["what"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["created", "provider_answer"]);
    let (_, none) = app
        .call(
            "GET",
            "/v1/shops/shop-1/refunds?order_id=o-2",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(none["refunds"], json!([]));

    // Finance exports the month, exact to the fen; reviewers may not.
    let finance = app.staff("fi", "shop-1", &[aftersales::auth::StaffRole::Finance]);
    let (s, _) = app
        .call(
            "GET",
            "/v1/shops/shop-1/refunds/export?month=2026-11",
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 403);
    let (s, e) = app
        .call(
            "GET",
            "/v1/shops/shop-1/refunds/export?month=11-2026",
            Some(&finance),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_month"))
    );
    let resp = app
        .http
        .get(format!(
            "{}/v1/shops/shop-1/refunds/export?month=2026-11",
            app.base
        ))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("refund_id,created_at,order_id,claim_id"),
        "{csv}"
    );
    let amount = c["approved_amount"]["amount"].as_str().unwrap();
    assert!(lines[1].starts_with(&format!("{refund_id},")), "{csv}");
    assert!(
        lines[1].contains(&format!(",{amount},CNY,succeeded,")),
        "{csv}"
    );
    assert!(
        lines.contains(&format!("total,wechat_pay,CNY,succeeded,{amount}").as_str()),
        "{csv}"
    );
    let resp = app
        .http
        .get(format!(
            "{}/v1/shops/shop-1/refunds/export?month=2026-10",
            app.base
        ))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    let october = resp.text().await.unwrap();
    assert_eq!(
        october.lines().filter(|l| l.starts_with("RF")).count(),
        0,
        "{october}"
    );
}

async fn presale_refunds_deposit_and_balance_separately(engine: &str) {
    let app = app_on(engine).await;
    let mut o = unshipped("bob");
    o["payments"] = json!([
        {"payment_id": "DEP", "channel": "alipay", "provider_txn_id": "2026112022001",
         "amount": "50.00", "kind": "deposit", "paid_at": "2026-11-01T08:00:00Z"},
        {"payment_id": "BAL", "channel": "wechat_pay", "provider_txn_id": "4200000002",
         "amount": "161.00", "kind": "balance", "paid_at": "2026-11-20T08:01:00Z"}
    ]);
    push(&app, "o-2", &o).await;
    let id = refund_only(&app, "bob", "o-2", None).await;
    app.drain().await;
    assert_eq!(claim(&app, "bob", &id).await["status"], "completed");
    let mut total = 0;
    for n in 1..=2 {
        let rid = aftersales::domain::refund::refund_id_for(&id, n);
        let (r, _) = aftersales::repo::refunds::get(&*app.table, &rid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, RefundStatus::Succeeded);
        assert_eq!(r.amount.within(r.payment_total), Ok(true), "{r:?}");
        assert_eq!(app.sandbox.movements(&rid), 1);
        total += r.amount.minor();
    }
    let c = claim(&app, "bob", &id).await;
    let approved: rust_decimal::Decimal = c["approved_amount"]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rust_decimal::Decimal::new(total, 2), approved);

    // Bob reads every step once: each refund sent (to its channel) and
    // arrived, the first arrival by its own event, the second with the
    // completion it caused.
    let inbox = bob_inbox(&app).await;
    let mut steps = inbox_events(&inbox);
    steps.sort_unstable();
    assert_eq!(
        steps,
        [
            "approved",
            "refund_arrived",
            "refund_arrived",
            "refund_sent",
            "refund_sent",
            "refund_started",
            "refund_succeeded",
            "submitted"
        ],
        "{inbox}"
    );
    let bodies = inbox.to_string();
    for channel in ["Alipay", "WeChat Pay"] {
        assert!(
            bodies.contains(&format!("was sent to {channel}")),
            "{inbox}"
        );
        assert!(
            bodies.contains(&format!("has arrived in {channel}")),
            "{inbox}"
        );
    }
    // The completion delivered again (the same step, at its time) adds no
    // second arrival.
    let (done, _) = aftersales::repo::claims::get(&*app.table, &id)
        .await
        .unwrap()
        .unwrap();
    let last = done.timeline.last().unwrap();
    let again = aftersales::repo::OutboxEvent::for_claim(&done, &last.event, last.at);
    aftersales::app::notify::on_event(&app.services, &again, Some(&done))
        .await
        .unwrap();
    let steps = inbox_events(&bob_inbox(&app).await);
    assert_eq!(
        steps.iter().filter(|e| **e == "refund_arrived").count(),
        2,
        "{steps:?}"
    );
}

async fn bob_inbox(app: &TestApp) -> Value {
    let (s, v) = app
        .call("GET", "/v1/inbox", Some(&app.customer("bob")), None, &[])
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn inbox_events(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["event"].as_str().unwrap().to_string())
        .collect()
}

async fn declined_refund_shows_its_reason(engine: &str) {
    let app = app_on(engine).await;
    push(&app, "o-3", &unshipped("carol")).await;
    let id = refund_only(&app, "carol", "o-3", Some("20.13")).await;
    app.drain().await;
    let c = claim(&app, "carol", &id).await;
    assert_eq!(c["status"], "refund_failed", "{c}");
    let last = c["timeline"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("SANDBOX_DECLINED"),
        "{last}"
    );
    assert_eq!(app.sandbox.total_movements(), 0);
}

/// Calls the real (sandbox) provider, then "crashes" before the answer is
/// recorded every other time: the provider moved the money, we never heard.
struct CrashAfterCall {
    inner: Arc<Sandbox>,
    calls: AtomicU64,
}

#[async_trait]
impl RefundProvider for CrashAfterCall {
    fn channel(&self) -> aftersales::domain::order::PaymentChannel {
        self.inner.channel()
    }
    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let answer = self.inner.refund(req).await?;
        if self.calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            return Err(ProviderError::Transient(
                "crashed after the provider call".into(),
            ));
        }
        Ok(answer)
    }
    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        self.inner.query(req).await
    }
}

async fn concurrent_retries_crashes_and_reordered_news_move_money_once(engine: &str) {
    let sandbox = Arc::new(Sandbox::new());
    let crashing = Arc::new(CrashAfterCall {
        inner: sandbox.clone(),
        calls: AtomicU64::new(0),
    });
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    services.clock = TestClock::at(NOW).clock();
    services.providers = ProviderSet::all(crashing);
    let app = aftersales_tests::http::spawn_app_with(services).await;

    const CLAIMS: usize = 6;
    let mut claims = Vec::new();
    for i in 0..CLAIMS {
        let customer = format!("c{i}");
        push(&app, &format!("x-{i}"), &unshipped(&customer)).await;
        claims.push((
            customer.clone(),
            refund_only(&app, &customer, &format!("x-{i}"), None).await,
        ));
    }
    // Rules only: the refunds are created, none executed yet.
    for (_, id) in &claims {
        aftersales::app::review::evaluate_claim(&app.services, id)
            .await
            .unwrap();
    }
    let refund_ids: Vec<aftersales::domain::ids::RefundId> = claims
        .iter()
        .map(|(_, id)| aftersales::domain::refund::refund_id_for(id, 1))
        .collect();

    // Every refund message delivered 4 times, all at once.
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0u32..4 {
        for rid in &refund_ids {
            let s = app.services.clone();
            let rid = rid.clone();
            tasks.spawn(async move {
                if !round.is_multiple_of(2) {
                    tokio::task::yield_now().await;
                }
                aftersales::app::refunds::execute(&s, &rid).await
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        // Crashes and lost races are errors the queue would retry.
        let _ = r.unwrap();
    }
    // Duplicated and reordered provider news (as webhooks would bring):
    // success, success again, then a stale "processing".
    for rid in &refund_ids {
        for state in [
            ProviderState::Succeeded { at: None },
            ProviderState::Succeeded { at: None },
            ProviderState::Processing,
        ] {
            let news = ProviderRefund {
                out_refund_no: rid.to_string(),
                provider_refund_id: Some(format!("sbx-{rid}")),
                state,
                received_account: None,
                amount: None,
                account: None,
            };
            aftersales::app::refunds::record(&app.services, &news, "notification")
                .await
                .unwrap();
        }
    }
    // The queue retries whatever is left until nothing is.
    for _ in 0..10 {
        for rid in &refund_ids {
            let _ = aftersales::app::refunds::execute(&app.services, rid).await;
        }
        app.drain().await;
    }

    for ((customer, id), rid) in claims.iter().zip(&refund_ids) {
        assert_eq!(sandbox.movements(rid), 1, "{rid}: money moved once");
        let (r, _) = aftersales::repo::refunds::get(&*app.table, rid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, RefundStatus::Succeeded, "{rid} is not stuck");
        let c = claim(&app, customer, id).await;
        assert_eq!(c["status"], "completed", "{c}");
        assert_eq!(
            timeline_events(&c)
                .iter()
                .filter(|e| **e == "refund_succeeded")
                .count(),
            1
        );
    }
    assert_eq!(sandbox.total_movements() as usize, CLAIMS);
    // No order refunded more than was paid.
    for i in 0..CLAIMS {
        let (o, _) = aftersales::repo::orders::get(&*app.table, "shop-1", &format!("x-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert!(!o.ledger.order_free(&o.order).is_negative());
    }
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name("sqlite").await } )* }
        mod dynamodb { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name("dynamodb").await } )* }
    };
}

on_both_engines!(
    approved_claim_is_refunded_once,
    presale_refunds_deposit_and_balance_separately,
    declined_refund_shows_its_reason,
    concurrent_retries_crashes_and_reordered_news_move_money_once,
);

/// Accepts refunds and moves the money, but only says "processing": the
/// result comes by webhook.
struct SaysProcessing(Arc<Sandbox>);

#[async_trait]
impl RefundProvider for SaysProcessing {
    fn channel(&self) -> aftersales::domain::order::PaymentChannel {
        self.0.channel()
    }
    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let mut a = self.0.refund(req).await?;
        a.state = ProviderState::Processing;
        Ok(a)
    }
    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        self.0.query(req).await
    }
}

async fn webhooks_are_verified_then_recorded_once(engine: &str) {
    use aftersales::providers::sandbox::SandboxNotifications;
    let sandbox = Arc::new(Sandbox::new());
    let mut services = aftersales::app::Services::new(engine_table(engine).await);
    let clock = TestClock::at(NOW);
    services.clock = clock.clock();
    services.providers = ProviderSet::all(Arc::new(SaysProcessing(sandbox.clone())));
    let app = aftersales_tests::http::spawn_app_with(services).await;
    push(&app, "w-1", &unshipped("dora")).await;
    let id = refund_only(&app, "dora", "w-1", None).await;
    app.drain().await;
    assert_eq!(claim(&app, "dora", &id).await["status"], "refunding");
    let rid = aftersales::domain::refund::refund_id_for(&id, 1);

    let signer = SandboxNotifications::new(aftersales_tests::http::SANDBOX_WEBHOOK_SECRET);
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    let amount = aftersales::repo::refunds::get(&*app.table, &rid)
        .await
        .unwrap()
        .expect("the refund")
        .0
        .amount
        .minor();
    let news = |out: &str| {
        serde_json::to_vec(&json!({"out_refund_no": out, "provider_refund_id": "sbx-1",
                                   "state": {"state": "succeeded", "at": NOW},
                                   "received_account": "sandbox balance",
                                   "amount": {"kind": "refund", "minor": amount}}))
        .unwrap()
    };
    let post = |sig: String, body: Vec<u8>| {
        app.http
            .post(format!("{}/v1/webhooks/sandbox", app.base))
            .header("sandbox-signature", sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Tampered body, wrong key, stale: refused, nothing changes.
    let body = news(&rid);
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let forged = SandboxNotifications::new(b"not the secret").sign(now, &body);
    for (sig, b) in [
        (signer.sign(now, &body), tampered),
        (forged, body.clone()),
        (signer.sign(now - 3600, &body), body.clone()),
        (String::new(), body.clone()),
    ] {
        let r = post(sig, b).await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
    }
    assert_eq!(claim(&app, "dora", &id).await["status"], "refunding");
    // The real one, twice: recorded once; the claim completes.
    for _ in 0..2 {
        let r = post(signer.sign(now, &body), body.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    app.drain().await;
    let c = claim(&app, "dora", &id).await;
    assert_eq!(c["status"], "completed", "{c}");
    assert_eq!(
        timeline_events(&c)
            .iter()
            .filter(|e| **e == "refund_succeeded")
            .count(),
        1
    );
    assert_eq!(sandbox.movements(&rid), 1);
    // News about a refund we never made: acknowledged, nothing written.
    let unknown = news("RFnothingP1");
    let r = post(signer.sign(now, &unknown), unknown).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(aftersales::repo::refunds::get(&*app.table, "RFnothingP1")
        .await
        .unwrap()
        .is_none());
}

mod webhooks {
    #[tokio::test]
    async fn sqlite() {
        super::webhooks_are_verified_then_recorded_once("sqlite").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dynamodb() {
        super::webhooks_are_verified_then_recorded_once("dynamodb").await
    }
}
