//! The webhook sender, the same on both engines: reads the due
//! deliveries, sends each endpoint's in its own task (one attempt at a time
//! per endpoint, every endpoint side by side: a slow or dead one never
//! delays another), 5 s per attempt, no redirects followed, and records
//! every attempt with the next one's time in one transaction.
//!
//! The runner calls [`run`] (a round every 200 ms, in-process); the cloud's
//! webhook-delivery function calls [`sweep`] after each batch of its queue
//! and on its one-minute schedule, which carries the retries over the
//! three days. Two sweeps at once (a batch and the schedule) may both send
//! a delivery (at least once, as the specification allows: the receiver
//! keys on `webhook-id`); only one of them records its attempt (the
//! delivery's write is version-checked).

use super::{
    deliveries, endpoints, notices, random_jitter, refused_address, retry_delay, AdminNotice,
    Attempt, Delivery, DeliveryState, Endpoint, GIVE_UP_AFTER_SECS,
};
use crate::ports::SecretSealer;
use crate::repo::{RepoError, Table};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One attempt's time limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// What opens sealed signing secrets (KMS in the cloud; None on the
/// runner, whose secrets are stored plain).
pub type Sealer = Option<Arc<dyn SecretSealer>>;

/// Looks for due deliveries every `every`, forever.
pub async fn run(table: Arc<dyn Table>, clock: crate::app::Clock, sealer: Sealer, every: Duration) {
    crate::providers::install_crypto_provider();
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        if let Err(e) = round(&table, &clock, &sealer, &busy).await {
            tracing::warn!(error = %e, "webhook sender: reading due deliveries failed");
        }
        tokio::time::sleep(every).await;
    }
}

/// Starts a task for each endpoint with due deliveries that has none
/// running.
async fn round(
    table: &Arc<dyn Table>,
    clock: &crate::app::Clock,
    sealer: &Sealer,
    busy: &Arc<Mutex<HashSet<String>>>,
) -> Result<(), RepoError> {
    let due = deliveries::due(&**table, clock(), 1000).await?;
    for (endpoint_id, dues) in by_endpoint(due) {
        {
            let mut b = busy.lock().expect("sender's set");
            if !b.insert(endpoint_id.clone()) {
                continue;
            }
        }
        let (table, clock, sealer, busy) =
            (table.clone(), clock.clone(), sealer.clone(), busy.clone());
        tokio::spawn(async move {
            for due in dues {
                if let Err(e) = attempt(&*table, &clock, sealer.as_deref(), &due).await {
                    tracing::warn!(endpoint_id = %due.endpoint_id, webhook_id = %due.webhook_id, error = %e, "webhook attempt not recorded");
                }
            }
            busy.lock().expect("sender's set").remove(&endpoint_id);
        });
    }
    Ok(())
}

/// The due deliveries by endpoint, each endpoint's soonest first: one
/// task per endpoint sends them in that order.
fn by_endpoint(due: Vec<deliveries::Due>) -> HashMap<String, Vec<deliveries::Due>> {
    let mut out: HashMap<String, Vec<deliveries::Due>> = HashMap::new();
    for d in due {
        out.entry(d.endpoint_id.clone()).or_default().push(d);
    }
    out
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    /// Attempts made (and recorded, or logged when the record failed).
    pub attempted: usize,
    /// Due deliveries left for the next sweep: their endpoint's turn came
    /// after the time budget.
    pub left: usize,
}

/// Sends the deliveries due now, every endpoint's side by side, and waits
/// for them: no attempt starts after `budget` (a Lambda invocation has a
/// timeout; what is left stays due for the next sweep).
pub async fn sweep(
    table: Arc<dyn Table>,
    clock: crate::app::Clock,
    sealer: Sealer,
    budget: Duration,
) -> Result<Swept, RepoError> {
    crate::providers::install_crypto_provider();
    let deadline = std::time::Instant::now() + budget;
    let due = deliveries::due(&*table, clock(), 1000).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for dues in by_endpoint(due).into_values() {
        let (table, clock, sealer) = (table.clone(), clock.clone(), sealer.clone());
        tasks.spawn(async move {
            let mut swept = Swept::default();
            for due in dues {
                if std::time::Instant::now() >= deadline {
                    swept.left += 1;
                    continue;
                }
                swept.attempted += 1;
                if let Err(e) = attempt(&*table, &clock, sealer.as_deref(), &due).await {
                    tracing::warn!(endpoint_id = %due.endpoint_id, webhook_id = %due.webhook_id, error = %e, "webhook attempt not recorded");
                }
            }
            swept
        });
    }
    let mut total = Swept::default();
    while let Some(done) = tasks.join_next().await {
        // A task that panicked is as good as one whose attempts failed:
        // its deliveries stay due.
        if let Ok(s) = done {
            total.attempted += s.attempted;
            total.left += s.left;
        }
    }
    Ok(total)
}

/// One attempt at one due delivery, recorded.
async fn attempt(
    t: &dyn Table,
    clock: &crate::app::Clock,
    sealer: Option<&dyn SecretSealer>,
    due: &deliveries::Due,
) -> Result<(), RepoError> {
    let Some((mut d, v)) = deliveries::get(t, &due.endpoint_id, &due.webhook_id).await? else {
        // The delivery is gone: so is its due item.
        t.transact(vec![deliveries::delete_due(due)]).await?;
        return Ok(());
    };
    let endpoint = endpoints::get(t, &due.shop_id, &due.endpoint_id).await?;
    let Some((endpoint, ev)) = endpoint.filter(|(e, _)| e.enabled) else {
        // Deleted or disabled: nothing more is sent.
        d.state = DeliveryState::Failed;
        d.next_at = None;
        t.transact(vec![
            deliveries::put(&d, Some(v)),
            deliveries::delete_due(due),
        ])
        .await?;
        return Ok(());
    };
    if d.state != DeliveryState::Pending {
        t.transact(vec![deliveries::delete_due(due)]).await?;
        return Ok(());
    }
    // Signed with the secrets opened; what is written back below is the
    // endpoint as stored (sealed). A key service that fails leaves the
    // delivery due as it is: our outage is no failed attempt of theirs.
    let signing = match endpoint.clone().opened(sealer).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(endpoint_id = %due.endpoint_id, webhook_id = %due.webhook_id, error = %e, "signing secret not opened; the delivery stays due");
            return Ok(());
        }
    };
    let started = std::time::Instant::now();
    let now = clock();
    let result = send(&signing, &d, now).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status, error) = match result {
        Ok(s) if (200..300).contains(&s) => (Some(s), None),
        Ok(s) => (Some(s), Some(format!("answered {s}"))),
        Err(e) => (None, Some(e)),
    };
    d.attempts.push(Attempt {
        at: now,
        status,
        error: error.clone(),
        latency_ms,
    });
    let mut ops = vec![deliveries::delete_due(due)];
    let mut give_up = false;
    if error.is_none() {
        d.state = DeliveryState::Delivered;
        d.next_at = None;
    } else if (now - d.trying_since()).num_seconds() >= GIVE_UP_AFTER_SECS {
        d.state = DeliveryState::Failed;
        d.next_at = None;
        give_up = true;
    } else {
        let next = now + retry_delay(d.attempts.len() as u32, random_jitter());
        d.next_at = Some(next);
        ops.push(deliveries::put_due(&deliveries::Due {
            at: next,
            ..due.clone()
        }));
    }
    tracing::info!(endpoint_id = %d.endpoint_id, webhook_id = %d.webhook_id, event_type = %d.event_type, status = ?status, latency_ms, state = ?d.state, "webhook attempt");
    ops.push(deliveries::put(&d, Some(v)));
    if give_up {
        let mut e = endpoint;
        e.enabled = false;
        e.disabled_reason = Some(format!(
            "deliveries failed for {} days",
            GIVE_UP_AFTER_SECS / 86400
        ));
        e.updated_at = now;
        // The shop's admins are told in the same transaction.
        ops.push(notices::put(&AdminNotice::endpoint_disabled(&e, now)));
        ops.push(endpoints::put(&e, Some(ev)));
    }
    t.transact(ops).await?;
    Ok(())
}

/// Sends one delivery: the receiver's status, or why there was none. The
/// host is resolved here and every address it resolves to checked (so a
/// name cannot lead to a private or metadata address); the request goes to
/// the checked address. Signed with every secret that signs at `now` (two
/// for a day after a rotation).
async fn send(endpoint: &Endpoint, d: &Delivery, now: DateTime<Utc>) -> Result<u16, String> {
    let url = endpoint.url.as_str();
    let allow_loopback = super::loopback_allowed();
    let target = super::check_url(url, allow_loopback)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(format!("{} resolves to no address", target.host));
    };
    if let Some(why) = addrs
        .iter()
        .find_map(|a| refused_address(a.ip(), allow_loopback))
    {
        return Err(format!("{} resolves to {why}", target.host));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .resolve(&target.host, first)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let timestamp = now.timestamp();
    let signature = endpoint
        .signature(&d.webhook_id, timestamp, d.body.as_bytes(), now)
        .ok_or("unusable secret")?;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            }
        })?;
    Ok(answer.status().as_u16())
}
