//! Provider webhooks: verified notices recorded like any other news, unless
//! they do not match the refund they name.

use super::execution::record_from;
use crate::app::{retrying, AppError, First, Services};
use crate::domain::refund::{NoticeFacts, Refund};
use crate::providers::{Ack, Incoming, NotificationError};
use crate::repo::{self, Commit};

/// What became of a webhook call.
pub enum Notified {
    /// Verified and recorded (or already known, or about a refund we never
    /// made: logged, acknowledged so the provider stops retrying).
    Handled(Ack),
    /// Verified, but about a refund of another channel, merchant account or
    /// amount than the one it names: not applied, written on that refund's
    /// audit trail, and acknowledged (see [`notified`] for why).
    Mismatched(Ack),
    /// Refused (bad signature, stale, malformed): nothing changed.
    Refused(Ack),
    /// Verified, but recording failed on our side: the provider retries.
    Failed(Ack),
}

/// A provider's webhook: signature first, then an idempotent, order-free
/// state update. `provider` names the verifier (the webhook path).
pub async fn notified(
    s: &Services,
    provider: &str,
    incoming: &Incoming<'_>,
) -> Result<Notified, AppError> {
    let Some((_, verifier)) = s.verifiers.iter().find(|(n, _)| n == provider) else {
        return Err(AppError::NotFound("webhook"));
    };
    let notice = match verifier.verify(incoming, s.now()) {
        Ok(n) => n,
        Err(NotificationError::NotARefund(what)) => {
            tracing::info!(
                provider,
                what,
                "notification about something else; acknowledged"
            );
            return Ok(Notified::Handled(verifier.ack()));
        }
        Err(e) => {
            tracing::warn!(provider, error = %e, "notification refused");
            refused(s, provider);
            return Ok(Notified::Refused(verifier.nack(&e)));
        }
    };
    let failed = |e: AppError| {
        tracing::error!(provider, error = %e, "notification verified but not recorded; the provider will retry");
        Ok(Notified::Failed(verifier.nack(
            &NotificationError::Malformed("temporarily unable to record".into()),
        )))
    };
    let found = match repo::refunds::get(&*s.table, &notice.out_refund_no).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            tracing::warn!(provider, out_refund_no = %notice.out_refund_no, "notification about an unknown refund; acknowledged");
            return Ok(Notified::Handled(verifier.ack()));
        }
        Err(e) => return failed(e.into()),
    };
    let channels = verifier.channels();
    let our_account = verifier.account();
    let facts = NoticeFacts {
        provider,
        channels: &channels,
        account: notice.account.as_deref(),
        our_account: our_account.as_deref(),
        amount: notice.amount,
    };
    if let Some(why) = found.0.notice_mismatch(&facts) {
        // Acknowledged, not answered with the protocol's failure: the
        // notice is authentic, and the provider would only post the same
        // signed bytes again (WeChat for a day, Alipay 8 times), which
        // this rule refuses the same way each time; retries would bring
        // nothing but noise. The refund keeps waiting for its own
        // provider's notice, and reconciliation asks that provider; staff
        // see the refused notice on the refund's audit trail.
        tracing::warn!(provider, out_refund_no = %notice.out_refund_no, why, "notification does not match its refund; refused");
        refused(s, provider);
        return match note_refused_notice(s, found, &format!("{provider}: {why}")).await {
            Ok(()) => Ok(Notified::Mismatched(verifier.ack())),
            Err(e) => failed(e),
        };
    }
    match record_from(s, Some(found), &notice, "notification").await {
        Ok(_) | Err(AppError::NotFound(_)) => Ok(Notified::Handled(verifier.ack())),
        Err(e) => failed(e),
    }
}

/// Counts a refused webhook (`WebhookRefusals`, per provider): a burst of
/// them is an attack, or a provider key that no longer matches ours.
fn refused(s: &Services, provider: &str) {
    s.metrics.record_service(
        Some(("Provider", provider)),
        s.now(),
        &[crate::ports::Metric::count("WebhookRefusals")],
    );
}

/// Writes a refused notice on its refund's audit trail (once per reason),
/// conditional on the version read like every refund write.
async fn note_refused_notice(s: &Services, read: (Refund, u64), why: &str) -> Result<(), AppError> {
    let refund_id = read.0.refund_id.clone();
    let read = &First::new(Some(read));
    let refund_id = &refund_id;
    retrying(|| async move {
        let (mut r, v) = match read.take() {
            Some(found) => found,
            None => repo::refunds::get(&*s.table, refund_id)
                .await?
                .ok_or(AppError::NotFound("refund"))?,
        };
        if !r.note_refused_notice(why, s.now()) {
            return Ok(());
        }
        let mut c = Commit::new();
        c.refund(&r, Some(v));
        Ok(repo::commit(&*s.table, c).await?)
    })
    .await
}
