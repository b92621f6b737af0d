//! Glue between EventBridge schedules and the sweeps. Three functions have a
//! schedule next to their other event sources (infra/template.yaml); the
//! scheduled event's content does not matter, only which function it
//! reaches, so each function names its [`Schedule`] once at cold start.

use crate::app::{AppError, Services};
use serde_json::{json, Value};

/// Refunds left processing this long are looked up at their provider.
pub const RECONCILE_AFTER_HOURS: i64 = 1;
/// Parcels without news this long are asked about (pushes get lost).
pub const QUIET_HOURS: i64 = 6;

/// How long a sweep of due webhook deliveries may go on starting attempts
/// (each takes at most 5 s): well inside the webhook-delivery function's
/// 60 s timeout.
pub const WEBHOOK_SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(40);

/// What a function's schedule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// rule-evaluation: claims past their review deadline escalate, overdue
    /// refund-only claims approve themselves where the policy says so.
    ReviewDeadlines,
    /// refund-executor: refunds left processing are reconciled.
    Reconciliation,
    /// courier-verification: quiet parcels are asked about, lapsed
    /// subscriptions renewed, returns never picked up flagged.
    CourierPolling,
    /// webhook-delivery: the webhook deliveries due now are sent (every
    /// minute: the retries over three days).
    #[cfg(feature = "providers")]
    WebhookDeliveries,
}

/// Runs one scheduled sweep and answers with its counts (what the
/// invocation's log shows; EventBridge ignores the answer).
pub async fn handle(s: &Services, schedule: Schedule) -> Result<Value, AppError> {
    Ok(match schedule {
        Schedule::ReviewDeadlines => {
            let done = crate::app::review::sweep_deadlines(s).await?;
            json!({
                "escalated": done.escalated,
                "disputes_escalated": done.disputes_escalated,
                "auto_approved": done.auto_approved,
                "cleared": done.cleared,
            })
        }
        Schedule::Reconciliation => {
            let older_than = chrono::Duration::hours(RECONCILE_AFTER_HOURS);
            let done = crate::app::refunds::reconcile(s, older_than).await?;
            json!({"checked": done.checked, "settled": done.settled})
        }
        Schedule::CourierPolling => {
            let done = crate::app::couriers::poll(s, chrono::Duration::hours(QUIET_HOURS)).await?;
            json!({
                "checked": done.checked,
                "changed": done.changed,
                "flagged": done.flagged,
                "resubscribed": done.resubscribed,
            })
        }
        #[cfg(feature = "providers")]
        Schedule::WebhookDeliveries => {
            let done = crate::hooks::sender::sweep(
                s.table.clone(),
                s.clock.clone(),
                s.secret_sealer.clone(),
                WEBHOOK_SWEEP_BUDGET,
            )
            .await?;
            json!({"attempted": done.attempted, "left": done.left})
        }
    })
}
