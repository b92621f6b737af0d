//! The whole service in one process, as the runner (`aftersales-local`) and
//! the HTTP scenario tests assemble it: the API router plus the local upload
//! route, local evidence files, and the outbox poller standing in for the
//! DynamoDB stream that drives the consumers in the cloud.

use crate::adapters::local_evidence::LocalEvidenceStorage;
use crate::api::{router, AppState};
use crate::app::dispatch::drain_outbox;
use crate::app::Services;
use crate::couriers::sandbox::SandboxCourier;
use crate::providers::sandbox::{
    loopback_target, HttpSink, LoopbackError, Sandbox, SandboxNotifications,
};
use crate::providers::ProviderSet;
use crate::repo::outbox;
use crate::store::{Condition, Index, Item, Page, Query, StoreError, Table, WriteOp};
use std::sync::Arc;
use std::time::Duration;

/// Adds local evidence storage (files under `files`, upload URLs on
/// `base_url` signed with `secret`) to the services; returns the storage for
/// the upload route.
pub fn with_local_evidence(
    services: &mut Services,
    files: impl Into<std::path::PathBuf>,
    base_url: &str,
    secret: &[u8],
) -> Arc<LocalEvidenceStorage> {
    let storage = Arc::new(LocalEvidenceStorage::new(files, base_url, secret));
    services.evidence = Some(storage.clone());
    storage
}

/// Sends every refund to one sandbox provider that answers "processing"
/// and then posts its signed result to this process's own webhook
/// (`{base_url}/v1/webhooks/sandbox`), as real providers do; installs the
/// matching verifier. Returns the sandbox (tests count its movements).
pub fn with_notifying_sandbox(
    services: &mut Services,
    base_url: &str,
    secret: &[u8],
    delay: Duration,
) -> Result<Arc<Sandbox>, LoopbackError> {
    let signer = Arc::new(SandboxNotifications::new(secret));
    let sink = Arc::new(HttpSink::new(&format!("{base_url}/v1/webhooks/sandbox"))?);
    let sandbox = Arc::new(Sandbox::notifying(sink, signer.clone(), delay));
    services.providers = ProviderSet::all(sandbox.clone());
    services.verifiers.retain(|(name, _)| name != "sandbox");
    services.verifiers.push(("sandbox".into(), signer));
    Ok(sandbox)
}

/// The runner's payment providers: the real ones configured (`real`: see
/// `providers::ProviderConfigs`) for their channels, with their webhook
/// verifiers, so `/v1/webhooks/wechat_pay` and friends verify and settle
/// as on Lambda; every other channel goes to the notifying sandbox (see
/// [`with_notifying_sandbox`]), whose notices settle those channels only.
/// Returns the sandbox.
pub fn with_providers(
    services: &mut Services,
    base_url: &str,
    secret: &[u8],
    delay: Duration,
    real: (ProviderSet, crate::providers::Verifiers),
) -> Result<Arc<Sandbox>, LoopbackError> {
    let (real, verifiers) = real;
    let sandbox = with_notifying_sandbox(services, base_url, secret, delay)?;
    let real_channels = real.channels();
    let mut set = ProviderSet::default();
    for c in crate::providers::sandbox::ALL_CHANNELS {
        set = match real.get(c) {
            Some(p) => set.with(c, p.clone()),
            None => set.with(c, sandbox.clone()),
        };
    }
    services.providers = set;
    let sandbox_channels: Vec<_> = crate::providers::sandbox::ALL_CHANNELS
        .into_iter()
        .filter(|c| !real_channels.contains(c))
        .collect();
    services.verifiers.retain(|(name, _)| name != "sandbox");
    services.verifiers.push((
        "sandbox".into(),
        Arc::new(SandboxNotifications::for_channels(
            secret,
            &sandbox_channels,
        )),
    ));
    for (name, v) in verifiers {
        services.verifiers.retain(|(n, _)| *n != name);
        services.verifiers.push((name, v));
    }
    Ok(sandbox)
}

/// Tracks parcels with the sandbox courier (parcels move one stage every
/// `step`; see [`crate::couriers::sandbox`] for how a number's last digits
/// choose its fate): subscriptions ask for pushes to this process's own
/// `{base_url}/v1/couriers/kuaidi100`, verified with the sandbox's salt.
/// Returns the sandbox, for [`run_sandbox_courier_pushes`] and tests.
pub fn with_sandbox_courier(
    services: &mut Services,
    base_url: &str,
    salt: &str,
    step: Option<Duration>,
) -> Arc<SandboxCourier> {
    // A step too long for chrono never comes due, like no step at all.
    let step = step.and_then(|d| chrono::Duration::from_std(d).ok());
    let courier = Arc::new(SandboxCourier::new(salt, step));
    services.courier = Some(courier.clone());
    services.courier_salt = Some(salt.to_owned());
    services.courier_callback_url = Some(format!("{base_url}/v1/couriers/kuaidi100"));
    courier
}

/// Answers appliance claims' installation questions from the runner's
/// sandbox installer (see [`crate::installers::sandbox`]: lines nobody
/// entered were installed two days before the first question); returns
/// it, for installations entered by hand.
pub fn with_sandbox_installer(
    services: &mut Services,
) -> Arc<crate::installers::sandbox::SandboxInstaller> {
    let clock = services.clock.clone();
    let installer = Arc::new(crate::installers::sandbox::SandboxInstaller::runner(
        Arc::new(move || clock()),
    ));
    services.installer = Some(installer.clone());
    installer
}

/// Plays Kuaidi100's part for the sandbox: every `every`, each subscribed
/// parcel whose snapshot moved on since the last acknowledged push is
/// pushed, signed, to its callback URL over HTTP; a push not acknowledged
/// is sent again next time (as Kuaidi100 re-pushes).
pub async fn run_sandbox_courier_pushes(courier: Arc<SandboxCourier>, every: Duration) {
    let mut acknowledged: std::collections::HashMap<(String, String), Vec<u8>> =
        std::collections::HashMap::new();
    loop {
        tokio::time::sleep(every).await;
        for sub in courier.subscriptions() {
            let Some(body) = courier.push_body(sub.carrier, &sub.number) else {
                continue;
            };
            let key = (
                sub.carrier.code().to_owned(),
                sub.number.as_str().to_owned(),
            );
            if acknowledged.get(&key) == Some(&body) {
                continue;
            }
            match post_form(&sub.callback_url, &body).await {
                Ok(status) if (200..300).contains(&status) => {
                    acknowledged.insert(key, body);
                }
                Ok(status) => {
                    tracing::warn!(number = %sub.number, status, "sandbox courier push not acknowledged")
                }
                Err(e) => {
                    tracing::warn!(number = %sub.number, error = %e, "sandbox courier push not delivered")
                }
            }
        }
    }
}

/// POSTs a form body to a loopback `http://` URL; returns the status.
async fn post_form(url: &str, body: &[u8]) -> Result<u16, LoopbackError> {
    use http_body_util::Full;
    let (authority, path) = loopback_target(url)?;
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|source| LoopbackError::Connect {
            authority: authority.clone(),
            source,
        })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::post(path)
        .header(http::header::HOST, &authority)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Full::new(axum::body::Bytes::copy_from_slice(body)))?;
    let resp = sender.send_request(req).await?;
    Ok(resp.status().as_u16())
}

/// The API and, when given, the local upload route.
pub fn app(state: AppState, uploads: Option<Arc<LocalEvidenceStorage>>) -> axum::Router {
    let services = state.services.clone();
    let api = router(state);
    match uploads {
        // The API router has its guard already; the upload route gets its
        // own (one guard a request: each costs a span and a catch).
        Some(storage) => api.merge(
            crate::api::local_uploads::routes(storage, services)
                .layer(axum::middleware::from_fn(crate::api::guard::guard)),
        ),
        None => api,
    }
}

/// How often the runner looks for overdue claims and unfinished refunds.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// A refund unfinished this long is sent again or asked about.
const RECONCILE_AFTER_MINUTES: i64 = 2;
/// How often the runner asks the courier about parcels, and after how
/// long without news a parcel is asked about (pushes usually come first).
const COURIER_POLL_EVERY: Duration = Duration::from_secs(20);
const COURIER_QUIET_SECONDS: i64 = 15;

/// The table as the runner uses it: every write that adds an outbox event
/// rings a bell the outbox poller waits on, as a table stream wakes its
/// consumers in the cloud, so a quiet runner delivers an event as soon as
/// it is committed instead of at the poller's next look.
pub struct RingingTable {
    inner: Arc<dyn Table>,
    bell: Arc<tokio::sync::Notify>,
}

/// Wraps the services' table in a [`RingingTable`]; returns the bell for
/// [`run_outbox_poller`].
pub fn with_outbox_bell(services: &mut Services) -> Arc<tokio::sync::Notify> {
    let bell = Arc::new(tokio::sync::Notify::new());
    services.table = Arc::new(RingingTable {
        inner: services.table.clone(),
        bell: bell.clone(),
    });
    bell
}

impl RingingTable {
    fn ring_if(&self, wrote_event: bool) {
        if wrote_event {
            self.bell.notify_one();
        }
    }
}

#[async_trait::async_trait]
impl Table for RingingTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let event = outbox::is_outbox_key(&item.pk);
        self.inner.put(item, condition).await?;
        self.ring_if(event);
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        self.inner.delete(pk, sk, condition).await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let event = ops
            .iter()
            .any(|op| matches!(op, WriteOp::Put { item, .. } if outbox::is_outbox_key(&item.pk)));
        self.inner.transact(ops).await?;
        self.ring_if(event);
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }

    async fn count(&self, index: Index, pk: &str) -> Result<u64, StoreError> {
        self.inner.count(index, pk).await
    }
}

/// Delivers outbox events to every consumer until the process ends: drains
/// while there is work, then waits for the `bell` (an event written) or
/// `idle`, whichever comes first. A failing consumer leaves its event for
/// the next round (at least once).
pub async fn run_outbox_poller(services: Services, bell: Arc<tokio::sync::Notify>, idle: Duration) {
    match crate::repo::outbox::adopt_unsharded(&*services.table).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(events = n, "outbox events moved to their shards"),
        Err(e) => tracing::warn!(error = %e, "unsharded outbox events not moved"),
    }
    let mut last_sweep: Option<std::time::Instant> = None;
    let mut last_courier_poll: Option<std::time::Instant> = None;
    loop {
        // Parcels, as the courier function's schedule does in the cloud.
        if last_courier_poll.is_none_or(|t| t.elapsed() >= COURIER_POLL_EVERY) {
            last_courier_poll = Some(std::time::Instant::now());
            match crate::app::couriers::poll(
                &services,
                chrono::Duration::seconds(COURIER_QUIET_SECONDS),
            )
            .await
            {
                Ok(p) if p.changed > 0 || p.flagged > 0 => tracing::info!(?p, "parcels polled"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "parcel polling failed"),
            }
        }
        // Review deadlines, as the scheduled function does in the cloud.
        if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            last_sweep = Some(std::time::Instant::now());
            match crate::app::review::sweep_deadlines(&services).await {
                Ok(done) if done != Default::default() => {
                    tracing::info!(?done, "review deadlines swept")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deadline sweep failed"),
            }
            // Refund reconciliation, as its schedule does in the cloud.
            match crate::app::refunds::reconcile(
                &services,
                chrono::Duration::minutes(RECONCILE_AFTER_MINUTES),
            )
            .await
            {
                Ok(r) if r.checked > 0 => tracing::info!(?r, "refunds reconciled"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "refund reconciliation failed"),
            }
        }
        match drain_outbox(&services, 100).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {
                let _ = tokio::time::timeout(idle, bell.notified()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox poll failed");
                tokio::time::sleep(idle.max(Duration::from_secs(1))).await;
            }
        }
    }
}

/// Checks voucher codes with the sandbox issuer (every code unused until
/// redeemed on it; codes starting `USED-` already redeemed). Returns the
/// sandbox, for tests to redeem codes on.
pub fn with_sandbox_vouchers(
    services: &mut Services,
) -> Arc<crate::vouchers::sandbox::SandboxVouchers> {
    let issuer = Arc::new(crate::vouchers::sandbox::SandboxVouchers::new());
    services.vouchers = Some(issuer.clone());
    issuer
}

/// Answers customs claims from the sandbox clearance service (see
/// [`crate::clearance::sandbox`]: declarations starting `FAIL-` failed
/// clearance, `RET-` are back with the seller, others are declared) and
/// takes its pushes, signed with `secret`, at `/v1/clearance/notify`.
/// Returns the sandbox, for tests to move declarations on.
pub fn with_sandbox_clearance(
    services: &mut Services,
    secret: &[u8],
) -> Arc<crate::clearance::sandbox::SandboxClearance> {
    let clock = services.clock.clone();
    let sandbox = Arc::new(crate::clearance::sandbox::SandboxClearance::new(
        secret,
        Arc::new(move || clock()),
    ));
    services.clearance = Some(sandbox.clone());
    services.clearance_secret = Some(secret.to_vec());
    sandbox
}
