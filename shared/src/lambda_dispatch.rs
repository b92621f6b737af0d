//! One entry point for the functions with several event sources: each
//! invocation's payload is told apart by its shape and handed to that
//! source's own `handle`. The functions' main.rs and the replay of `events/`
//! (tests/tests/events_replay/) both go through [`dispatch`], so what is
//! replayed is what runs.
//!
//! The shapes, in the order they are tried:
//! - `Records`: a batch of outbox events, from the consumer's queue (SQS
//!   messages whose body is the events bus's event, as deployed) or from the
//!   table's stream, or a batch of the refund queue (a function takes
//!   outbox events or refunds, never both);
//! - an API Gateway HTTP API (v2) request, for a function with a route;
//! - anything else is EventBridge's scheduled event, whose content does not
//!   matter.

use crate::app::dispatch::Consumer;
use crate::app::Services;
use crate::lambda_schedule::Schedule;
use lambda_http::Error;
use serde_json::Value;

/// Where a function's `Records` batches come from.
#[derive(Clone)]
pub enum Records {
    /// Outbox events for this consumer: from its queue (fed by the events
    /// bus) or straight from the table's stream.
    Stream(Consumer),
    /// The refund queue; with a queue client, failed messages come back
    /// only after a backoff (without one, after the visibility timeout).
    #[cfg(feature = "sqs")]
    RefundQueue(Option<std::sync::Arc<crate::lambda_sqs::Backoff>>),
}

/// A function's event sources.
#[derive(Clone)]
pub struct Sources {
    pub records: Records,
    /// The router, for a function API Gateway sends requests to.
    pub http: Option<axum::Router>,
    pub schedule: Schedule,
}

impl Sources {
    /// rule-evaluation: the claim steps after which rules run
    /// ([`crate::app::review::RULE_TRIGGERS`]) from its queue; review
    /// deadlines on a schedule.
    pub fn rule_evaluation() -> Self {
        Sources {
            records: Records::Stream(Consumer::Rules),
            http: None,
            schedule: Schedule::ReviewDeadlines,
        }
    }

    /// refund-executor: the refund queue; reconciliation on a schedule.
    #[cfg(feature = "sqs")]
    pub fn refund_executor(backoff: Option<crate::lambda_sqs::Backoff>) -> Self {
        Sources {
            records: Records::RefundQueue(backoff.map(std::sync::Arc::new)),
            http: None,
            schedule: Schedule::Reconciliation,
        }
    }

    /// courier-verification: Kuaidi100's pushes through `api` (the shared
    /// router checks their signature), shipment events from its queue,
    /// parcel polling on a schedule.
    pub fn courier_verification(api: axum::Router) -> Self {
        Sources {
            records: Records::Stream(Consumer::Couriers),
            http: Some(api),
            schedule: Schedule::CourierPolling,
        }
    }
}

impl Sources {
    /// webhook-delivery: outbox events from its queue (deliveries recorded,
    /// public events onto the bus), then the deliveries due sent; the same
    /// sweep on a schedule, for the retries.
    #[cfg(feature = "providers")]
    pub fn webhook_delivery() -> Self {
        Sources {
            records: Records::Stream(Consumer::Webhooks),
            http: None,
            schedule: Schedule::WebhookDeliveries,
        }
    }
}

/// Handles one invocation's payload with the source its shape names and
/// answers what that source expects (partial batch failures for a batch,
/// the v2 response for a request, the sweep's counts for a schedule).
pub async fn dispatch(s: &Services, sources: &Sources, payload: Value) -> Result<Value, Error> {
    if payload.get("Records").is_some() {
        let answer = match &sources.records {
            Records::Stream(consumer) => {
                let answer = crate::lambda_stream::handle_records(s, *consumer, payload).await?;
                // The deliveries just recorded go out now rather than at
                // the next minute's sweep. The batch's answer does not
                // depend on it: what is not sent stays due.
                #[cfg(feature = "providers")]
                if *consumer == Consumer::Webhooks {
                    let budget = crate::lambda_schedule::WEBHOOK_SWEEP_BUDGET;
                    match crate::hooks::sender::sweep(
                        s.table.clone(),
                        s.clock.clone(),
                        s.secret_sealer.clone(),
                        budget,
                    )
                    .await
                    {
                        Ok(done) => tracing::info!(
                            attempted = done.attempted,
                            left = done.left,
                            "webhook sweep"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "webhook sweep failed; the schedule sweeps again")
                        }
                    }
                }
                answer
            }
            #[cfg(feature = "sqs")]
            Records::RefundQueue(backoff) => {
                let batch = serde_json::from_value(payload)?;
                let answer = crate::lambda_sqs::handle(s, batch, backoff.as_deref()).await;
                serde_json::to_value(answer)?
            }
        };
        return Ok(answer);
    }
    if let Some(api) = &sources.http {
        if crate::lambda::is_http_api_event(&payload) {
            return crate::lambda::handle_http_api_event(api.clone(), payload).await;
        }
    }
    // The error's text, as the sweeps word it, is what the runtime reports.
    crate::lambda_schedule::handle(s, sources.schedule)
        .await
        .map_err(|e| e.to_string().into())
}

/// Runs a function with several event sources until the runtime stops it.
pub async fn run(services: Services, sources: Sources) -> Result<(), Error> {
    use lambda_http::lambda_runtime::{run, service_fn, LambdaEvent};
    run(service_fn(move |ev: LambdaEvent<Value>| {
        let s = services.clone();
        let sources = sources.clone();
        async move { dispatch(&s, &sources, ev.payload).await }
    }))
    .await
}

/// [`run`] with the services and sources the partners' current
/// configuration builds (`crate::lambda_secrets`): secrets are read at the
/// first event and re-read after their TTL. One that cannot be read fails
/// that event (logged; the batch comes back, the schedule runs again).
#[cfg(feature = "secrets")]
pub async fn run_with_partners(
    partners: crate::lambda_secrets::Partners<(Services, Sources)>,
) -> Result<(), Error> {
    use lambda_http::lambda_runtime::{run, service_fn, LambdaEvent};
    let partners = std::sync::Arc::new(partners);
    run(service_fn(move |ev: LambdaEvent<Value>| {
        let partners = partners.clone();
        async move {
            let current = partners
                .current()
                .await
                .inspect_err(|e| tracing::error!(error = %e, "partner configuration"))?;
            let (services, sources) = &*current;
            dispatch(services, sources, ev.payload).await
        }
    }))
    .await
}
