//! From claim to "refund arrived" over HTTP, once per real payment provider
//! (WeChat Pay API v3, Alipay, Stripe-style cards): the real adapter talks
//! to a local server that speaks the provider's protocol with real
//! cryptography (`aftersales_tests::provider_servers`), and the provider's
//! signed notification comes back through our webhook.
//!
//! Per provider: the approved refund is sent once, correctly signed, with
//! our out-refund number as the idempotency key; the claim waits in
//! `refunding` while the provider says "processing"; a forged notification
//! is refused with the provider's failure answer and changes nothing; the
//! real one is acknowledged the way the provider expects and completes the
//! claim; the same notification again changes nothing.
//!
//! A claim whose money goes to a bank card the customer confirmed is paid
//! out through Alipay's fund transfer API (`alipay_payout`), on both
//! engines: the transfer carries the card, moves money once however often
//! the executor sends it, and Alipay's signed
//! `alipay.fund.trans.order.changed` settles it.

use aftersales::app::Services;
use aftersales::auth::StaffRole;
use aftersales::providers::ProviderSet;
use aftersales_tests::http::{
    bind_loopback, minor_units, spawn_app_on, timeline_events, unshipped_order_paid_with, TestApp,
};
use aftersales_tests::provider_servers::{
    AlipayPayoutServer, AlipayServer, NoticeFacts, ProviderServer, SeenRefund, SeenTransfer,
    StripeServer, WechatPayServer,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// What our webhook answers each provider, as its documentation asks:
/// (status, body) for a handled notification and for a refused one.
struct Answers {
    ok: (u16, &'static str),
    refused: (u16, &'static str),
}

/// The staff refund search for the order: its only refund.
async fn staff_view(app: &TestApp, order_id: &str) -> Value {
    let staff = app.staff("st-1", "shop-1", &[StaffRole::Reviewer]);
    let (s, found) = app
        .call(
            "GET",
            &format!("/v1/shops/shop-1/refunds?order_id={order_id}"),
            Some(&staff),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200, "{found}");
    let refunds = found["refunds"].as_array().expect("a refund list");
    assert_eq!(refunds.len(), 1, "{found}");
    refunds[0].clone()
}

async fn claim_to_refund_arrived(server: Box<dyn ProviderServer>, txn: &str, answers: Answers) {
    let name = server.webhook_name();
    // The adapter must know our webhook URL before the app starts.
    let (listener, base) = bind_loopback().await;
    let webhook = format!("{base}/v1/webhooks/{name}");
    let adapter = server.adapter(&webhook);
    let mut services = Services::new(Arc::new(aftersales_tests::sqlite_table()));
    // Only this provider: a refund routed anywhere else fails loudly.
    services.providers = ProviderSet::default().with(server.channel(), adapter.provider);
    services.verifiers.push((name.to_owned(), adapter.verifier));
    let app = spawn_app_on(listener, services).await;

    // Paid an hour ago with this provider, not shipped: the shop's default
    // rules approve a refund-only claim at once.
    let customer = format!("cust-{name}");
    let order_id = format!("ord-{name}");
    let order = unshipped_order_paid_with(&customer, server.channel(), txn);
    server.paid(
        txn,
        minor_units(&json!({"amount": order["payments"][0]["amount"]})),
    );
    app.push_order(&order_id, &order).await;

    let (s, submitted) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer(&customer)),
            Some(&json!({"shop_id": "shop-1", "order_id": order_id, "type": "refund_only",
                         "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 2}]})),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{submitted}");
    let claim_id = submitted["claim_id"]
        .as_str()
        .expect("a claim id")
        .to_owned();

    // Rules approve, the executor sends the refund; the provider accepts
    // it as processing.
    app.drain().await;
    let claim = app.claim_of(&customer, &claim_id).await;
    assert_eq!(claim["status"], "refunding", "{claim}");
    assert!(timeline_events(&claim).contains(&"approved"), "{claim}");
    let refund_id = aftersales::domain::refund::refund_id_for(&claim_id, 1).into_string();
    let amount = minor_units(&claim["approved_amount"]);
    assert!(amount > 0, "{claim}");
    assert_eq!(
        server.refund_requests(),
        [SeenRefund {
            idempotency_key: refund_id.clone(),
            out_refund_no: refund_id.clone(),
            provider_txn_id: txn.to_owned(),
            amount,
            // Stripe's endpoint is registered, not sent per request.
            notify_url: (name != "stripe").then(|| webhook.clone()),
        }],
        "one correctly signed refund request"
    );
    assert_eq!(server.refused_requests(), 0, "every request verified");
    assert_eq!(server.movements(&refund_id), 1);
    let before = staff_view(&app, &order_id).await;
    assert_eq!(before["status"], "processing", "{before}");

    // The refund message delivered again (the queue is at-least-once):
    // the same out-refund number goes out, no more money moves.
    aftersales::app::refunds::execute(&app.services, &refund_id)
        .await
        .expect("a repeat is answered");
    let sent = server.refund_requests();
    assert!(sent.iter().all(|r| *r == sent[0]), "{sent:?}");
    assert_eq!(server.movements(&refund_id), 1);
    assert_eq!(server.refused_requests(), 0);
    assert_eq!(app.claim_of(&customer, &claim_id).await, claim);

    // A notification the provider did not sign: refused, nothing changes
    // (were it believed, the claim would complete without the money).
    let forged = server.forged(&refund_id).post(&webhook).await;
    assert_eq!(
        (forged.status, forged.body.contains(answers.refused.1)),
        (answers.refused.0, true),
        "{forged:?}"
    );
    assert!(!forged.acknowledged, "the provider would retry: {forged:?}");
    app.drain().await;
    assert_eq!(app.claim_of(&customer, &claim_id).await, claim);
    assert_eq!(staff_view(&app, &order_id).await, before);

    // The money arrives; the provider says so, signed.
    let news = server.succeed(&refund_id);
    let delivered = news.post(&webhook).await;
    assert_eq!(
        (delivered.status, delivered.body.contains(answers.ok.1)),
        (answers.ok.0, true),
        "{delivered:?}"
    );
    assert!(delivered.acknowledged, "{delivered:?}");
    app.drain().await;
    let done = app.claim_of(&customer, &claim_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let names = timeline_events(&done);
    assert_eq!(
        names.iter().filter(|e| **e == "refund_succeeded").count(),
        1,
        "{done}"
    );
    assert_eq!(names.last().copied(), Some("refund_succeeded"));
    let settled = staff_view(&app, &order_id).await;
    assert_eq!(settled["refund_id"], refund_id.as_str(), "{settled}");
    assert_eq!(settled["claim_id"], claim_id.as_str(), "{settled}");
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(minor_units(&settled["amount"]), amount, "{settled}");
    assert_eq!(
        settled["provider_refund_id"].as_str(),
        server.provider_refund_id(&refund_id).as_deref(),
        "{settled}"
    );

    // The provider retries the same notification: acknowledged again,
    // nothing moves or changes.
    let again = news.post(&webhook).await;
    assert!(again.acknowledged, "{again:?}");
    app.drain().await;
    assert_eq!(app.claim_of(&customer, &claim_id).await, done);
    assert_eq!(staff_view(&app, &order_id).await, settled);
    assert_eq!(server.movements(&refund_id), 1);
    assert_eq!(server.refund_requests().len(), sent.len());
}

#[tokio::test]
async fn wechat_pay_claim_to_refund_arrived() {
    claim_to_refund_arrived(
        Box::new(WechatPayServer::start().await),
        "4200002026112500000000000001",
        Answers {
            ok: (200, r#""code":"SUCCESS""#),
            refused: (401, r#""code":"FAIL""#),
        },
    )
    .await
}

#[tokio::test]
async fn alipay_claim_to_refund_arrived() {
    claim_to_refund_arrived(
        Box::new(AlipayServer::start().await),
        "2026112522001412345678901234",
        Answers {
            ok: (200, "success"),
            refused: (400, "fail"),
        },
    )
    .await
}

#[tokio::test]
async fn stripe_claim_to_refund_arrived() {
    claim_to_refund_arrived(
        Box::new(StripeServer::start().await),
        "pi_3QaBcDeFgHiJkLmN0aBcDeFg",
        Answers {
            ok: (200, r#""received":true"#),
            refused: (400, "error"),
        },
    )
    .await
}

/// A notice settles only a refund of its own channel, merchant account and
/// amount. A claim paid with WeChat Pay has its refund sent; then, each
/// signed for real by its provider: Alipay's notice naming the WeChat
/// refund's out-refund number, WeChat's notice for another merchant, and
/// WeChat's notice for another amount are each acknowledged (the provider
/// would only repeat them) but change nothing, and are on the refund's
/// audit trail, once each however often they come; the right one settles
/// the claim once.
async fn only_a_matching_notice_settles_a_refund(engine: &str) {
    let wx = WechatPayServer::start().await;
    let ali = AlipayServer::start().await;
    let (listener, base) = bind_loopback().await;
    let wx_hook = format!("{base}/v1/webhooks/wechat_pay");
    let ali_hook = format!("{base}/v1/webhooks/alipay");
    let (wx_adapter, ali_adapter) = (wx.adapter(&wx_hook), ali.adapter(&ali_hook));
    let mut services = Services::new(aftersales_tests::engine_table(engine).await);
    services.providers = ProviderSet::default()
        .with(wx.channel(), wx_adapter.provider)
        .with(ali.channel(), ali_adapter.provider);
    services
        .verifiers
        .push(("wechat_pay".into(), wx_adapter.verifier));
    services
        .verifiers
        .push(("alipay".into(), ali_adapter.verifier));
    let app = spawn_app_on(listener, services).await;

    let txn = "4200002026112500000000000777";
    let order = unshipped_order_paid_with(
        "cust-match",
        aftersales::domain::order::PaymentChannel::WechatPay,
        txn,
    );
    wx.paid(
        txn,
        minor_units(&json!({"amount": order["payments"][0]["amount"]})),
    );
    app.push_order("ord-match", &order).await;
    let (s, submitted) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("cust-match")),
            Some(&json!({"shop_id": "shop-1", "order_id": "ord-match", "type": "refund_only",
                         "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]})),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{submitted}");
    let claim_id = submitted["claim_id"].as_str().expect("claim id").to_owned();
    app.drain().await;
    let claim = app.claim_of("cust-match", &claim_id).await;
    assert_eq!(claim["status"], "refunding", "{claim}");
    let refund_id = aftersales::domain::refund::refund_id_for(&claim_id, 1);
    assert_eq!(wx.movements(&refund_id), 1);
    let before = staff_view(&app, "ord-match").await;
    assert_eq!(before["status"], "processing", "{before}");

    // What WeChat will say once the money arrived, and three notices that
    // differ from it in one thing each.
    let right = wx.facts(&refund_id, true);
    let from_alipay = ali.notice(&NoticeFacts {
        merchant: ali.merchant(),
        ..right.clone()
    });
    let other_merchant = wx.notice(&NoticeFacts {
        merchant: Some("1900000999".into()),
        ..right.clone()
    });
    let other_amount = wx.notice(&NoticeFacts {
        amount: right.amount - 1,
        ..right.clone()
    });
    let wrong = [
        (
            &ali_hook,
            from_alipay,
            "alipay: signed by alipay, which does not settle wechat_pay refunds",
        ),
        (
            &wx_hook,
            other_merchant,
            "wechat_pay: addressed to mchid=1900000999",
        ),
        (&wx_hook, other_amount, "wechat_pay: refunded"),
    ];
    // Each twice: a provider posts again what it was not sure we got.
    for _ in 0..2 {
        for (hook, notice, _) in &wrong {
            let answer = notice.post(hook).await;
            assert!(answer.acknowledged, "{answer:?}");
            app.drain().await;
            assert_eq!(app.claim_of("cust-match", &claim_id).await, claim);
        }
    }
    let trail = staff_view(&app, "ord-match").await;
    assert_eq!(trail["status"], "processing", "{trail}");
    assert_eq!(trail["succeeded_at"], before["succeeded_at"], "{trail}");
    assert_eq!(trail["updated_at"], before["updated_at"], "{trail}");
    let refused: Vec<&str> = trail["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["what"] == "notification_refused")
        .map(|h| h["detail"].as_str().expect("a reason"))
        .collect();
    assert_eq!(refused.len(), wrong.len(), "once each: {trail}");
    for ((_, _, why), got) in wrong.iter().zip(&refused) {
        assert!(got.starts_with(why), "{got} / {why}");
    }
    let mut without_refusals = trail.clone();
    without_refusals["history"] = json!(trail["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["what"] != "notification_refused")
        .collect::<Vec<_>>());
    assert_eq!(without_refusals, before);

    // The right one settles it, once.
    for _ in 0..2 {
        let answer = wx.notice(&right).post(&wx_hook).await;
        assert!(answer.acknowledged, "{answer:?}");
    }
    app.drain().await;
    let done = app.claim_of("cust-match", &claim_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        timeline_events(&done)
            .iter()
            .filter(|e| **e == "refund_arrived")
            .count(),
        1,
        "{done}"
    );
    assert_eq!(staff_view(&app, "ord-match").await["status"], "succeeded");
    assert_eq!(wx.movements(&refund_id), 1);
}

mod matching {
    #[tokio::test]
    async fn sqlite() {
        super::only_a_matching_notice_settles_a_refund("sqlite").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dynamodb() {
        super::only_a_matching_notice_settles_a_refund("dynamodb").await
    }
}

/// The bank-card route, paid out for real: a claim on an Alipay order asks
/// for its money on a confirmed card; the rules approve it and the
/// executor sends the transfer to the local Alipay gateway, which accepts
/// it as DEALING (the refund is "processing", the claim `refunding`). The
/// executor sending it again and reconciliation asking about it move no
/// more money. A notification not signed by Alipay, and one signed by
/// Alipay for another application, change nothing; Alipay's own
/// `alipay.fund.trans.order.changed` SUCCESS settles it (refund succeeded,
/// claim completed, on the timeline); the same notification again changes
/// nothing.
async fn bank_card_payout_through_alipay(engine: &str) {
    let server = AlipayPayoutServer::start().await;
    let (listener, base) = bind_loopback().await;
    let webhook = format!("{base}/v1/webhooks/alipay_payout");
    let adapter = server.adapter(&webhook);
    let mut services = Services::new(aftersales_tests::engine_table(engine).await);
    // Only the payout provider: nothing may go back along the payment.
    services.providers = ProviderSet::default().with(
        aftersales::domain::order::PaymentChannel::BankCard,
        adapter.provider,
    );
    services
        .verifiers
        .push(("alipay_payout".into(), adapter.verifier));
    let app = spawn_app_on(listener, services).await;

    let order = unshipped_order_paid_with(
        "cust-card",
        aftersales::domain::order::PaymentChannel::Alipay,
        "2026112522001499999999990001",
    );
    app.push_order("ord-card", &order).await;
    let card = json!({"route": "bank_card", "bank": "招商银行", "holder": "李雷",
                      "last4": "0403", "card_token": "tok_vault_4f9a0403", "confirmed": true});
    let (s, submitted) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("cust-card")),
            Some(
                &json!({"shop_id": "shop-1", "order_id": "ord-card", "type": "refund_only",
                         "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}],
                         "refund_to": card}),
            ),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{submitted}");
    let claim_id = submitted["claim_id"].as_str().expect("claim id").to_owned();

    app.drain().await;
    let claim = app.claim_of("cust-card", &claim_id).await;
    assert_eq!(claim["status"], "refunding", "{claim}");
    assert!(timeline_events(&claim).contains(&"refund_sent"), "{claim}");
    let refund_id = aftersales::domain::refund::refund_id_for(&claim_id, 1).into_string();
    let amount = minor_units(&claim["approved_amount"]);
    assert!(amount > 0, "{claim}");
    let transfer = SeenTransfer {
        out_biz_no: refund_id.clone(),
        amount,
        product_code: "TRANS_BANKCARD_NO_PWD".into(),
        biz_scene: "DIRECT_TRANSFER".into(),
        identity: "tok_vault_4f9a0403".into(),
        identity_type: "BANKCARD_ACCOUNT".into(),
        name: "李雷".into(),
        inst_name: "招商银行".into(),
        notify_url: Some(webhook.clone()),
    };
    assert_eq!(server.transfer_requests(), std::slice::from_ref(&transfer));
    assert_eq!(server.refused_requests(), 0, "every request verified");
    assert_eq!(server.movements(&refund_id), 1);
    let before = staff_view(&app, "ord-card").await;
    assert_eq!(
        (&before["status"], &before["channel"]),
        (&json!("processing"), &json!("bank_card")),
        "{before}"
    );

    // The refund message delivered again, and reconciliation asking about
    // the refund still processing: the same out_biz_no, no more money.
    aftersales::app::refunds::execute(&app.services, &refund_id)
        .await
        .expect("a repeat is answered");
    let reconciled = aftersales::app::refunds::reconcile(&app.services, chrono::Duration::zero())
        .await
        .expect("reconciliation runs");
    assert_eq!(reconciled.settled, 0, "{reconciled:?}");
    let sent = server.transfer_requests();
    assert!(
        sent.len() >= 2 && sent.iter().all(|t| *t == transfer),
        "{sent:?}"
    );
    assert_eq!(server.movements(&refund_id), 1);
    app.drain().await;
    assert_eq!(app.claim_of("cust-card", &claim_id).await, claim);

    // Not signed by Alipay: refused with Alipay's failure answer.
    let forged = server
        .changed(&refund_id, "SUCCESS", &app_id(&server), false)
        .post(&webhook)
        .await;
    assert_eq!((forged.status, forged.body.as_str()), (400, "fail"));
    assert!(!forged.acknowledged);
    // Signed by Alipay, for another application: acknowledged, refused,
    // on the refund's history.
    let other_app = server
        .changed(&refund_id, "SUCCESS", "2021000999999999", true)
        .post(&webhook)
        .await;
    assert!(other_app.acknowledged, "{other_app:?}");
    app.drain().await;
    assert_eq!(app.claim_of("cust-card", &claim_id).await, claim);
    let refused = staff_view(&app, "ord-card").await;
    assert_eq!(refused["status"], "processing", "{refused}");
    assert!(
        refused["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|h| h["what"] == "notification_refused"
                && h["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("app_id=2021000999999999"))),
        "{refused}"
    );

    // The bank credited the card; Alipay says so.
    let news = server.succeed(&refund_id);
    let delivered = news.post(&webhook).await;
    assert_eq!(
        (delivered.status, delivered.body.as_str()),
        (200, "success")
    );
    app.drain().await;
    let done = app.claim_of("cust-card", &claim_id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let names = timeline_events(&done);
    for step in ["refund_arrived", "refund_succeeded"] {
        assert_eq!(
            names.iter().filter(|e| **e == step).count(),
            1,
            "{step}: {done}"
        );
    }
    assert_eq!(names.last().copied(), Some("refund_succeeded"));
    let settled = staff_view(&app, "ord-card").await;
    assert_eq!(settled["status"], "succeeded", "{settled}");
    assert_eq!(minor_units(&settled["amount"]), amount, "{settled}");
    assert_eq!(
        settled["provider_refund_id"].as_str(),
        server.order_id(&refund_id).as_deref(),
        "{settled}"
    );
    assert_eq!(settled["payee"]["last4"], "0403", "{settled}");

    // Alipay posts it again: acknowledged, nothing changes or moves.
    let again = news.post(&webhook).await;
    assert!(again.acknowledged, "{again:?}");
    app.drain().await;
    assert_eq!(app.claim_of("cust-card", &claim_id).await, done);
    assert_eq!(staff_view(&app, "ord-card").await, settled);
    assert_eq!(server.movements(&refund_id), 1);
    assert_eq!(server.transfer_requests().len(), sent.len());
    assert_eq!(server.refused_requests(), 0);
}

/// The app id the payout server's adapter is configured with.
fn app_id(server: &AlipayPayoutServer) -> String {
    server.config("").app_id
}

mod payout {
    #[tokio::test]
    async fn sqlite() {
        super::bank_card_payout_through_alipay("sqlite").await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dynamodb() {
        super::bank_card_payout_through_alipay("dynamodb").await
    }
}
