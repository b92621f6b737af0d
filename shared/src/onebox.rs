//! The whole service in one process, as the runner (`aftersales-local`) and
//! the HTTP scenario tests assemble it: the API router plus the local upload
//! route, local evidence files, and the outbox poller standing in for the
//! DynamoDB stream that drives the consumers in the cloud.

use crate::adapters::local_evidence::LocalEvidenceStorage;
use crate::api::{router, AppState};
use crate::app::dispatch::drain_outbox;
use crate::app::Services;
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

/// The API and, when given, the local upload route.
pub fn app(state: AppState, uploads: Option<Arc<LocalEvidenceStorage>>) -> axum::Router {
    let services = state.services.clone();
    let api = router(state);
    match uploads {
        Some(storage) => api.merge(crate::api::local_uploads::routes(storage, services)),
        None => api,
    }
}

/// How often the runner looks for overdue claims.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

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
