//! Sending a refund and recording what its provider says about it. Every
//! source of news (the call's answer, a query, a webhook) records through
//! here, so a refund's status moves in one place, whoever brings the news.

use crate::app::policy::policy_for;
use crate::app::{retrying, AppError, First, Services};
use crate::domain::events::EventType;
use crate::domain::order::PaymentChannel;
use crate::domain::refund::{settle_claim, Observation, Refund, RefundOrigin, RefundStatus};
use crate::providers::{ProviderError, ProviderRefund, ProviderState, RefundRequest};
use crate::repo::{self, Commit, OutboxEvent};
use chrono::{DateTime, Utc};

/// The refunds consumer: `refund.requested` events get their refund sent.
/// A transient provider failure fails the delivery, so the event comes again
/// (outbox poller locally, SQS with backoff in the cloud).
pub async fn on_event(s: &Services, event: &OutboxEvent) -> Result<(), AppError> {
    if event.event_type != EventType::RefundRequested {
        return Ok(());
    }
    execute(s, &event.subject).await.map(|_| ())
}

pub(super) fn request(r: &Refund) -> RefundRequest {
    RefundRequest {
        out_refund_no: r.refund_id.to_string(),
        provider_txn_id: r.provider_txn_id.clone(),
        amount: r.amount,
        payment_total: r.payment_total,
        reason: match &r.origin {
            RefundOrigin::Claim { .. } => "after-sales refund".into(),
            RefundOrigin::Merchant { note, .. } => note.chars().take(80).collect(),
        },
        notify_url: None,
        payee: r.payee.clone(),
    }
}

fn observation(state: &ProviderState, now: DateTime<Utc>) -> Observation {
    match state {
        ProviderState::Processing => Observation::Processing,
        ProviderState::Succeeded { at } => Observation::Succeeded {
            at: at.unwrap_or(now),
        },
        ProviderState::Failed { reason } => Observation::Failed {
            reason: reason.clone(),
        },
    }
}

/// Sends one refund to its provider and records the answer. Returns the
/// refund's status afterwards. Safe to run any number of times, at once.
/// A store-balance refund needs no provider: the shop's balance ledger is
/// ours, and the refund item's success is the credit (see
/// `repo::refunds::put`), so credit and success are one write.
pub async fn execute(s: &Services, refund_id: &str) -> Result<RefundStatus, AppError> {
    let Some((r, v)) = repo::refunds::get(&*s.table, refund_id).await? else {
        return Err(AppError::NotFound("refund"));
    };
    if r.status.is_final() {
        return Ok(r.status);
    }
    // The refund as read here is where recording starts: if it changed
    // during the provider call, the conditional write fails and the
    // recording reads it again.
    let read = Some((r.clone(), v));
    if r.channel == PaymentChannel::Balance {
        let credit = ProviderRefund {
            out_refund_no: r.refund_id.to_string(),
            provider_refund_id: Some(format!("balance-{}", r.refund_id)),
            state: ProviderState::Succeeded { at: None },
            received_account: Some("store balance".into()),
            amount: None,
            account: None,
        };
        return record_from(s, read, &credit, "store_balance_credited").await;
    }
    let provider = s.providers.get(r.channel).ok_or_else(|| {
        AppError::Unavailable(format!("no refund provider configured for {:?}", r.channel))
    })?;
    match provider.refund(&request(&r)).await {
        Ok(answer) => record_from(s, read, &answer, "provider_answer").await,
        Err(ProviderError::Transient(m)) => {
            tracing::warn!(refund_id, error = %m, "refund: transient provider failure; will retry");
            Err(AppError::Unavailable(m))
        }
        Err(ProviderError::Permanent(reason)) => {
            let answer = ProviderRefund {
                out_refund_no: r.refund_id.to_string(),
                provider_refund_id: None,
                state: ProviderState::Failed { reason },
                received_account: None,
                amount: None,
                account: None,
            };
            record_from(s, read, &answer, "provider_refused").await
        }
    }
}

/// Records what a provider says about a refund (an answer, a query or a
/// verified notification). Unknown out-refund numbers are ignored (logged):
/// a provider retrying a notification for something we never sent must not
/// be told to keep retrying.
///
/// Writes on the happy path: the refund item, and when its money arrived,
/// the claim (its timeline) and one outbox event that tells the customer
/// (`claim.refund_succeeded` when it completes the claim, which carries the
/// arrival; `claim.refund_arrived` otherwise): at most three.
pub async fn record(
    s: &Services,
    answer: &ProviderRefund,
    source: &str,
) -> Result<RefundStatus, AppError> {
    record_from(s, None, answer, source).await
}

/// [`record`], starting from the refund as the caller just read it (with
/// its version) instead of reading it again.
pub(super) async fn record_from(
    s: &Services,
    read: Option<(Refund, u64)>,
    answer: &ProviderRefund,
    source: &str,
) -> Result<RefundStatus, AppError> {
    let read = &First::new(read);
    retrying(|| async move {
        let found = match read.take() {
            Some(r) => Some(r),
            None => repo::refunds::get(&*s.table, &answer.out_refund_no).await?,
        };
        let Some((mut r, v)) = found else {
            tracing::warn!(out_refund_no = %answer.out_refund_no, source, "news about an unknown refund; ignored");
            return Err(AppError::NotFound("refund"));
        };
        let now = s.now();
        let changed = r.observe(
            &observation(&answer.state, now),
            answer.provider_refund_id.as_deref(),
            answer.received_account.as_deref(),
            source,
            now,
        );
        if !changed {
            return Ok(r.status);
        }
        if r.status == RefundStatus::Succeeded && r.channel == PaymentChannel::Balance {
            // Credits lapse by the shop's policy at the time they are made.
            let policy = policy_for(s, &r.shop_id).await?;
            r.expires_at = policy.balance_lifetime().map(|d| now + d);
        }
        let mut c = Commit::new();
        c.refund(&r, Some(v));
        if r.status.is_final() {
            match &r.origin {
                RefundOrigin::Claim { claim_id } => settle(s, &r, claim_id, now, &mut c).await?,
                RefundOrigin::Merchant {
                    merchant_refund_id, ..
                } => settle_merchant(s, &r, merchant_refund_id, &mut c).await?,
            }
        }
        repo::commit(&*s.table, c).await?;
        tracing::info!(refund_id = %r.refund_id, status = r.status.as_str(), source, "refund recorded");
        let metric = match r.status {
            RefundStatus::Pending => None,
            RefundStatus::Processing => Some("RefundsSent"),
            RefundStatus::Succeeded => Some("RefundsSucceeded"),
            RefundStatus::Failed => Some("RefundsFailed"),
        };
        if let Some(name) = metric {
            s.metrics
                .record(&r.shop_id, now, &[crate::ports::Metric::count(name)]);
        }
        Ok(r.status)
    })
    .await
}

/// When a claim's refund reaches its end, the claim settles it
/// ([`settle_claim`]). The claim write is conditional, so two refunds
/// arriving at once cannot both miss the other. The ledger needs no write:
/// a completed claim keeps its entry for good.
async fn settle(
    s: &Services,
    r: &Refund,
    claim_id: &str,
    now: DateTime<Utc>,
    c: &mut Commit,
) -> Result<(), AppError> {
    let Some((mut claim, cv)) = repo::claims::get(&*s.table, claim_id).await? else {
        return Ok(());
    };
    let mut events = settle_claim(&mut claim, r, now)?;
    if r.status == RefundStatus::Succeeded && claim.review.order_benefits {
        // The order's coupons and points go back with its money (only
        // orders that carried some are read here).
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let policy = policy_for(s, &claim.shop_id).await?;
        if let Some((e, notices)) = crate::domain::benefits::on_refund(
            &mut claim,
            &mut rec,
            &policy.benefits,
            r.amount.minor(),
            now,
        ) {
            c.order(&rec, Some(ov));
            for n in &notices {
                c.event(n);
            }
            events.push(e);
        }
    }
    if r.status == RefundStatus::Failed && events.is_empty() {
        // A dispute's supplementary refund on a claim whose course is over.
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        if let Some(e) = crate::domain::dispute::refund_failed(&mut claim, &mut rec, r, now)? {
            c.order(&rec, Some(ov));
            events.push(e);
        }
    }
    if !events.is_empty() {
        c.claim(&claim, Some(cv)).claim_events(&claim, &events, now);
    }
    Ok(())
}

/// A merchant refund that failed gives its payment's share back to the
/// order's ledger, so the money can be refunded again; one that succeeded
/// keeps it (no write).
async fn settle_merchant(
    s: &Services,
    r: &Refund,
    merchant_refund_id: &str,
    c: &mut Commit,
) -> Result<(), AppError> {
    if r.status != RefundStatus::Failed {
        return Ok(());
    }
    let (mut rec, ov) = repo::orders::get(&*s.table, &r.shop_id, &r.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    rec.ledger
        .give_back(merchant_refund_id, &r.payment_id, r.amount)?;
    c.order(&rec, Some(ov));
    Ok(())
}
