//! The sweep that finishes refunds whose news never came.

use super::execution::{execute, record, request};
use crate::app::{AppError, Services};
use crate::domain::order::PaymentChannel;
use crate::domain::refund::RefundStatus;
use crate::repo;

/// What a reconciliation round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub checked: usize,
    pub settled: usize,
}

/// Looks after refunds left unfinished longer than `older_than`: a pending
/// one (its queue message lost, or still failing) is sent again, which is
/// idempotent; a processing one (a lost notification, a provider that never
/// calls back) is asked about, and what the provider says is recorded.
/// Runs on a schedule in the cloud and with the runner's sweeps locally.
pub async fn reconcile(s: &Services, older_than: chrono::Duration) -> Result<Reconciled, AppError> {
    const ROUND: usize = 500;
    let mut out = Reconciled::default();
    for r in repo::refunds::open_since(&*s.table, s.now() - older_than, ROUND).await? {
        out.checked += 1;
        let status = if r.status == RefundStatus::Pending || r.channel == PaymentChannel::Balance {
            execute(s, &r.refund_id).await
        } else {
            let Some(provider) = s.providers.get(r.channel) else {
                continue;
            };
            match provider.query(&request(&r)).await {
                Ok(Some(answer)) => record(s, &answer, "reconciliation").await,
                // The provider never heard of it: send it again (idempotent).
                Ok(None) => execute(s, &r.refund_id).await,
                Err(e) => Err(AppError::Unavailable(e.to_string())),
            }
        };
        // A finding: a refund whose news never came (settled here), or one
        // reconciliation cannot move on. Operators are alarmed on these.
        let finding = crate::ports::Metric::count("ReconciliationFindings");
        match status {
            Ok(st) if st.is_final() => {
                out.settled += 1;
                s.metrics.record(&r.shop_id, s.now(), &[finding]);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(refund_id = %r.refund_id, error = %e, "reconciliation left it for the next round");
                s.metrics.record(&r.shop_id, s.now(), &[finding]);
                defer(s, &r.refund_id, &e.to_string()).await?;
            }
        }
    }
    Ok(out)
}

/// Sends a refund that reconciliation could not move on to the back of the
/// unfinished partition (its last change becomes now), so that a few
/// hopeless refunds (no provider for their channel, a configuration the
/// provider refuses) cannot keep each round from the others. The reason is
/// on its history for staff.
async fn defer(s: &Services, refund_id: &str, why: &str) -> Result<(), AppError> {
    let Some((mut r, v)) = repo::refunds::get(&*s.table, refund_id).await? else {
        return Ok(());
    };
    if r.status.is_final() {
        return Ok(());
    }
    r.note_retry(why, s.now());
    let mut c = repo::Commit::new();
    c.refund(&r, Some(v));
    match repo::commit(&*s.table, c).await {
        // Someone else moved it meanwhile: that is news enough.
        Ok(()) | Err(repo::RepoError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
