//! The refund executor against a real SQS queue (moto): messages name
//! refunds, a transient provider failure is reported for retry and hidden
//! for the backoff, a poison message is reported (the DLQ takes it after
//! maxReceiveCount), and a refund left processing is settled by
//! reconciliation when its notification never comes.

use aftersales::domain::refund::RefundStatus;
use aftersales::lambda_sqs::Backoff;
use aftersales::providers::sandbox::Sandbox;
use aftersales::providers::{
    ProviderError, ProviderRefund, ProviderSet, ProviderState, RefundProvider, RefundRequest,
};
use aftersales_tests::http::{sample_order, spawn_app_with, TestApp, TestClock};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Fails the first `fail_first` calls transiently, then answers as the
/// sandbox does, or "processing" when `processing` is set.
struct Flaky {
    inner: Arc<Sandbox>,
    fail_first: u32,
    processing: bool,
    calls: AtomicU32,
}

#[async_trait]
impl RefundProvider for Flaky {
    fn channel(&self) -> aftersales::domain::order::PaymentChannel {
        self.inner.channel()
    }
    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(ProviderError::Transient("503 from the provider".into()));
        }
        let mut a = self.inner.refund(req).await?;
        if self.processing {
            a.state = ProviderState::Processing;
        }
        Ok(a)
    }
    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        self.inner.query(req).await
    }
}

async fn app_with(provider: Arc<dyn RefundProvider>, clock: &TestClock) -> TestApp {
    let mut services = aftersales::app::Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.clock = clock.clock();
    services.providers = ProviderSet::all(provider);
    spawn_app_with(services).await
}

/// An approved refund-only claim; returns its refund id.
async fn approved_refund(app: &TestApp, order: &str) -> String {
    let mut o = sample_order("alice");
    o["fulfilment"] = json!({"state": "paid_unshipped"});
    let (s, v) = app
        .call(
            "PUT",
            &format!("/v1/shops/shop-1/orders/{order}"),
            Some(&app.storefront("shop-1")),
            Some(&o),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let body = json!({"shop_id": "shop-1", "order_id": order, "type": "refund_only",
                      "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]});
    let (s, c) = app
        .call(
            "POST",
            "/v1/claims",
            Some(&app.customer("alice")),
            Some(&body),
            &[],
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let id = c["claim_id"].as_str().unwrap();
    aftersales::app::review::evaluate_claim(&app.services, id)
        .await
        .unwrap();
    aftersales::domain::refund::refund_id_for(id, 1).into_string()
}

async fn queue() -> (aws_sdk_sqs::Client, String) {
    let client = aws_sdk_sqs::Client::new(&aftersales_tests::moto::sdk_config().await);
    let name = aftersales_tests::moto::unique_table_name("refunds");
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url");
    (client, url)
}

/// Receives what is visible now, as Lambda's event source would hand it over.
async fn receive(client: &aws_sdk_sqs::Client, url: &str) -> SqsEvent {
    let out = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage");
    let mut event = SqsEvent::default();
    for m in out.messages.unwrap_or_default() {
        let mut msg = SqsMessage::default();
        msg.message_id = m.message_id.clone();
        msg.receipt_handle = m.receipt_handle.clone();
        msg.body = m.body.clone();
        msg.attributes = m
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect();
        event.records.push(msg);
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_back_off_and_poison_is_reported() {
    let clock = TestClock::at("2026-11-23T10:00:00Z");
    let sandbox = Arc::new(Sandbox::new());
    let flaky = Arc::new(Flaky {
        inner: sandbox.clone(),
        fail_first: 1,
        processing: false,
        calls: AtomicU32::new(0),
    });
    let app = app_with(flaky, &clock).await;
    let rid = approved_refund(&app, "q-1").await;
    let (client, url) = queue().await;
    let backoff = Backoff {
        client: client.clone(),
        queue_url: url.clone(),
    };
    for body in [json!({"refund_id": rid}).to_string(), "garbage".to_string()] {
        client
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let event = receive(&client, &url).await;
    assert_eq!(event.records.len(), 2);
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();
    let answer = aftersales::lambda_sqs::handle(&app.services, event, Some(&backoff)).await;
    // Both failed: the provider's 503 and the poison message.
    let mut failed: Vec<String> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(failed, all);
    // The backoff hides them well beyond the queue's 1 s visibility timeout.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        receive(&client, &url).await.records.is_empty(),
        "backed off"
    );
    assert_eq!(sandbox.total_movements(), 0);

    // After the backoff the message comes again and the retry succeeds.
    let mut retry = SqsEvent::default();
    let mut m = SqsMessage::default();
    m.message_id = Some(ids[0].clone());
    m.body = Some(json!({"refund_id": rid}).to_string());
    retry.records.push(m);
    let answer = aftersales::lambda_sqs::handle(&app.services, retry, None).await;
    assert!(answer.batch_item_failures.is_empty());
    let (r, _) = aftersales::repo::refunds::get(&*app.table, &rid)
        .await
        .unwrap()
        .unwrap();
    let s = r.status;
    assert_eq!(s, RefundStatus::Succeeded);
    assert_eq!(sandbox.movements(&rid), 1);
    // A redelivered message for a finished refund is simply done.
    let mut event = SqsEvent::default();
    let mut m = SqsMessage::default();
    m.message_id = Some("redelivered".into());
    m.body = Some(json!({"refund_id": rid}).to_string());
    event.records.push(m);
    let answer = aftersales::lambda_sqs::handle(&app.services, event, None).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(sandbox.movements(&rid), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_settles_a_refund_whose_notification_never_came() {
    let clock = TestClock::at("2026-11-23T10:00:00Z");
    let sandbox = Arc::new(Sandbox::new());
    let app = app_with(
        Arc::new(Flaky {
            inner: sandbox.clone(),
            fail_first: 0,
            processing: true,
            calls: AtomicU32::new(0),
        }),
        &clock,
    )
    .await;
    let rid = approved_refund(&app, "r-1").await;
    let s = aftersales::app::refunds::execute(&app.services, &rid)
        .await
        .unwrap();
    assert_eq!(s, RefundStatus::Processing);
    let none = aftersales::app::refunds::reconcile(&app.services, chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(none.checked, 0, "not overdue yet");
    clock.advance_hours(3);
    let done = aftersales::app::refunds::reconcile(&app.services, chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!((done.checked, done.settled), (1, 1));
    let (r, _) = aftersales::repo::refunds::get(&*app.table, &rid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, RefundStatus::Succeeded);
    assert_eq!(sandbox.movements(&rid), 1);
    let again = aftersales::app::refunds::reconcile(&app.services, chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(again.checked, 0, "nothing left processing");
}
