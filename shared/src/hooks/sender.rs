//! The runner's webhook sender: reads the due deliveries, sends each
//! endpoint's in its own task (one endpoint at a time per endpoint, every
//! endpoint side by side: a slow or dead one never delays another), 5 s per
//! attempt, no redirects followed, and records every attempt with the next
//! one's time in one transaction.

use super::{
    deliveries, endpoints, random_jitter, refused_address, retry_delay, Attempt, Delivery,
    DeliveryState, Endpoint, GIVE_UP_AFTER_SECS,
};
use crate::repo::{RepoError, Table};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One attempt's time limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Looks for due deliveries every `every`, forever.
pub async fn run(table: Arc<dyn Table>, clock: crate::app::Clock, every: Duration) {
    crate::providers::install_crypto_provider();
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        if let Err(e) = round(&table, &clock, &busy).await {
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
    busy: &Arc<Mutex<HashSet<String>>>,
) -> Result<(), RepoError> {
    let due = deliveries::due(&**table, clock(), 1000).await?;
    let mut by_endpoint: HashMap<String, Vec<deliveries::Due>> = HashMap::new();
    for d in due {
        by_endpoint
            .entry(d.endpoint_id.clone())
            .or_default()
            .push(d);
    }
    for (endpoint_id, dues) in by_endpoint {
        {
            let mut b = busy.lock().expect("sender's set");
            if !b.insert(endpoint_id.clone()) {
                continue;
            }
        }
        let (table, clock, busy) = (table.clone(), clock.clone(), busy.clone());
        tokio::spawn(async move {
            for due in dues {
                if let Err(e) = attempt(&*table, &clock, &due).await {
                    tracing::warn!(endpoint_id = %due.endpoint_id, webhook_id = %due.webhook_id, error = %e, "webhook attempt not recorded");
                }
            }
            busy.lock().expect("sender's set").remove(&endpoint_id);
        });
    }
    Ok(())
}

/// One attempt at one due delivery, recorded.
async fn attempt(
    t: &dyn Table,
    clock: &crate::app::Clock,
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
    let started = std::time::Instant::now();
    let now = clock();
    let result = send(&endpoint, &d, now).await;
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
