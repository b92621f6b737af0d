//! The whole service in one process, as the runner (`aftersales-local`) and
//! the HTTP scenario tests assemble it: the API router plus the local upload
//! route, local evidence files, and the outbox poller standing in for the
//! DynamoDB stream that drives the consumers in the cloud.

use crate::adapters::local_evidence::LocalEvidenceStorage;
use crate::api::{router, AppState};
use crate::app::dispatch::drain_outbox;
use crate::app::Services;
use crate::providers::sandbox::{HttpSink, Sandbox, SandboxNotifications};
use crate::providers::ProviderSet;
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
) -> Result<Arc<Sandbox>, String> {
    let signer = Arc::new(SandboxNotifications::new(secret));
    let sink = Arc::new(HttpSink::new(&format!("{base_url}/v1/webhooks/sandbox"))?);
    let sandbox = Arc::new(Sandbox::notifying(sink, signer.clone(), delay));
    services.providers = ProviderSet::all(sandbox.clone());
    services.verifiers.retain(|(name, _)| name != "sandbox");
    services.verifiers.push(("sandbox".into(), signer));
    Ok(sandbox)
}

/// The API and, when given, the local upload route.
pub fn app(state: AppState, uploads: Option<Arc<LocalEvidenceStorage>>) -> axum::Router {
    let services = state.services.clone();
    let api = router(state);
    match uploads {
        Some(storage) => api.merge(crate::api::local_uploads::routes(storage, services)),
        None => api,
    }
}

/// How often the runner looks for overdue claims and unfinished refunds.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// A refund unfinished this long is sent again or asked about.
const RECONCILE_AFTER_MINUTES: i64 = 2;

/// Delivers outbox events to every consumer until the process ends: drains
/// while there is work, then looks again every `idle` interval. A failing
/// consumer leaves its event for the next round (at least once).
pub async fn run_outbox_poller(services: Services, idle: Duration) {
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
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
            Ok(_) => tokio::time::sleep(idle).await,
            Err(e) => {
                tracing::warn!(error = %e, "outbox poll failed");
                tokio::time::sleep(idle.max(Duration::from_secs(1))).await;
            }
        }
    }
}
