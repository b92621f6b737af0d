//! Refund execution: a refund created with its approval is sent to its
//! provider, and the provider's answer — in the call's response, a later
//! query or a webhook — is recorded once, in any order. Providers take our
//! out-refund number as their idempotency key, so a refund sent twice (a
//! crash between the call and the record, a redelivered message) moves
//! money once; recording is conditional on the version read, and
//! [`Refund::observe`] only moves forward, so repeats and reordering change
//! nothing.

use super::*;
use crate::domain::claim::ClaimStatus;
use crate::domain::refund::{Observation, Refund, RefundOrigin, RefundStatus};
use crate::providers::{ProviderError, ProviderRefund, ProviderState, RefundRequest};

/// The refunds consumer: `refund.requested` events get their refund sent.
/// A transient provider failure fails the delivery, so the event comes again
/// (outbox poller locally, SQS with backoff in the cloud).
pub async fn on_event(s: &Services, event: &OutboxEvent) -> Result<(), AppError> {
    if event.event_type != "refund.requested" {
        return Ok(());
    }
    execute(s, &event.subject).await.map(|_| ())
}

fn request(r: &Refund) -> RefundRequest {
    RefundRequest {
        out_refund_no: r.refund_id.clone(),
        provider_txn_id: r.provider_txn_id.clone(),
        amount: r.amount,
        payment_total: r.payment_total,
        currency: r.currency,
        reason: match &r.origin {
            RefundOrigin::Claim { .. } => "after-sales refund".into(),
            RefundOrigin::Merchant { note, .. } => note.chars().take(80).collect(),
        },
        notify_url: None,
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
pub async fn execute(s: &Services, refund_id: &str) -> Result<RefundStatus, AppError> {
    let Some((r, _)) = repo::refunds::get(&*s.table, refund_id).await? else {
        return Err(AppError::NotFound("refund"));
    };
    if r.status.is_final() {
        return Ok(r.status);
    }
    let provider = s.providers.get(r.channel).ok_or_else(|| {
        AppError::Unavailable(format!("no refund provider configured for {:?}", r.channel))
    })?;
    match provider.refund(&request(&r)).await {
        Ok(answer) => record(s, &answer, "provider_answer").await,
        Err(ProviderError::Transient(m)) => {
            tracing::warn!(refund_id, error = %m, "refund: transient provider failure; will retry");
            Err(AppError::Unavailable(m))
        }
        Err(ProviderError::Permanent(reason)) => {
            let answer = ProviderRefund {
                out_refund_no: r.refund_id.clone(),
                provider_refund_id: None,
                state: ProviderState::Failed { reason },
                received_account: None,
            };
            record(s, &answer, "provider_refused").await
        }
    }
}

/// Records what a provider says about a refund (an answer, a query or a
/// verified notification). Unknown out-refund numbers are ignored (logged):
/// a provider retrying a notification for something we never sent must not
/// be told to keep retrying.
pub async fn record(
    s: &Services,
    answer: &ProviderRefund,
    source: &str,
) -> Result<RefundStatus, AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some((mut r, v)) = repo::refunds::get(&*s.table, &answer.out_refund_no).await? else {
            tracing::warn!(out_refund_no = %answer.out_refund_no, source, "news about an unknown refund; ignored");
            return Err(AppError::NotFound("refund"));
        };
        let now = s.now();
        let was_processing = r.status == RefundStatus::Processing;
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
        let mut ops = vec![repo::refunds::put(&r, Some(v))];
        match r.status {
            RefundStatus::Processing => ops.push(repo::refunds::processing_marker(&r)),
            RefundStatus::Succeeded | RefundStatus::Failed if was_processing => {
                ops.push(repo::refunds::clear_processing(&r))
            }
            RefundStatus::Succeeded | RefundStatus::Failed => {}
            RefundStatus::Pending => {}
        }
        if r.status.is_final() {
            if let RefundOrigin::Claim { claim_id } = &r.origin {
                ops.extend(settle_claim(s, &r, claim_id, now).await?);
            }
        }
        match s.table.transact(ops).await {
            Ok(()) => {
                tracing::info!(refund_id = %r.refund_id, status = r.status.as_str(), source, "refund recorded");
                return Ok(r.status);
            }
            Err(StoreError::TransactionCancelled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("busy", "the refund kept changing"))
}

/// When a claim's refund reaches its end: the claim completes once all its
/// refunds succeeded (the ledger marks the money as refunded for good), or
/// shows the failure to staff when one failed.
async fn settle_claim(
    s: &Services,
    r: &Refund,
    claim_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<WriteOp>, AppError> {
    let Some((mut claim, cv)) = repo::claims::get(&*s.table, claim_id).await? else {
        return Ok(vec![]);
    };
    if claim.status != ClaimStatus::Refunding {
        return Ok(vec![]);
    }
    let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    let event = if r.status == RefundStatus::Failed {
        claim.refund_failed(
            r.failure.clone().unwrap_or_else(|| "refund failed".into()),
            Actor::System,
            now,
        )?
    } else {
        // The claim's other refunds, named by its ledger entry's payments.
        let siblings: Vec<String> = rec
            .ledger
            .entry(claim_id)
            .map(|e| crate::domain::refund::refund_ids(&rec.order, e, claim_id))
            .unwrap_or_default()
            .into_iter()
            .filter(|id| *id != r.refund_id)
            .collect();
        for id in siblings {
            let done = repo::refunds::get(&*s.table, &id)
                .await?
                .is_some_and(|(o, _)| o.status == RefundStatus::Succeeded);
            if !done {
                return Ok(vec![]);
            }
        }
        rec.ledger.mark_refunded(claim_id)?;
        claim.refund_succeeded(Actor::System, now)?
    };
    let mut ops = vec![
        repo::claims::put(&claim, Some(cv)),
        repo::outbox::put(&OutboxEvent::for_claim(&claim, &event, now)),
    ];
    if r.status == RefundStatus::Succeeded {
        ops.push(repo::orders::put(&rec, Some(ov)));
    }
    Ok(ops)
}

/// A refund as staff and finance see it: money as money, the audit trail.
#[derive(Debug, Serialize)]
pub struct RefundView {
    pub refund_id: String,
    pub order_id: String,
    /// The claim it pays back; None for merchant-initiated refunds.
    pub claim_id: Option<String>,
    pub customer_id: String,
    pub channel: crate::domain::order::PaymentChannel,
    pub payment_id: String,
    pub provider_txn_id: String,
    pub amount: Money,
    pub status: RefundStatus,
    pub attempts: u32,
    pub provider_refund_id: Option<String>,
    pub received_account: Option<String>,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub succeeded_at: Option<DateTime<Utc>>,
    /// Every step, oldest first (append-only).
    pub history: Vec<crate::domain::refund::RefundStep>,
}

pub fn refund_view(r: Refund) -> RefundView {
    RefundView {
        claim_id: match &r.origin {
            RefundOrigin::Claim { claim_id } => Some(claim_id.clone()),
            RefundOrigin::Merchant { .. } => None,
        },
        amount: Money::from_minor(r.amount, r.currency),
        refund_id: r.refund_id,
        order_id: r.order_id,
        customer_id: r.customer_id,
        channel: r.channel,
        payment_id: r.payment_id,
        provider_txn_id: r.provider_txn_id,
        status: r.status,
        attempts: r.attempts,
        provider_refund_id: r.provider_refund_id,
        received_account: r.received_account,
        failure: r.failure,
        created_at: r.created_at,
        updated_at: r.updated_at,
        succeeded_at: r.succeeded_at,
        history: r.history,
    }
}

/// What became of a webhook call.
pub enum Notified {
    /// Verified and recorded (or already known, or about a refund we never
    /// made: logged, acknowledged so the provider stops retrying).
    Handled(crate::providers::Ack),
    /// Refused (bad signature, stale, malformed): nothing changed.
    Refused(crate::providers::Ack),
    /// Verified, but recording failed on our side: the provider retries.
    Failed(crate::providers::Ack),
}

/// A provider's webhook: signature first, then an idempotent, order-free
/// state update. `provider` names the verifier (the webhook path).
pub async fn notified(
    s: &Services,
    provider: &str,
    incoming: &crate::providers::Incoming<'_>,
) -> Result<Notified, AppError> {
    use crate::providers::NotificationError;
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
            return Ok(Notified::Refused(verifier.nack(&e)));
        }
    };
    match record(s, &notice, "notification").await {
        Ok(_) | Err(AppError::NotFound(_)) => Ok(Notified::Handled(verifier.ack())),
        Err(e) => {
            tracing::error!(provider, error = %e, "notification verified but not recorded; the provider will retry");
            Ok(Notified::Failed(verifier.nack(
                &NotificationError::Malformed("temporarily unable to record".into()),
            )))
        }
    }
}

/// What a reconciliation round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub checked: usize,
    pub settled: usize,
}

/// Asks the providers about refunds left processing longer than `older_than`
/// (a lost notification, a provider that never calls back) and records what
/// they say. Runs on a schedule in the cloud and in tests.
pub async fn reconcile(s: &Services, older_than: chrono::Duration) -> Result<Reconciled, AppError> {
    let now = s.now();
    let mut out = Reconciled::default();
    for (refund_id, since) in repo::refunds::processing(&*s.table).await? {
        if now - since < older_than {
            continue;
        }
        let Some((r, _)) = repo::refunds::get(&*s.table, &refund_id).await? else {
            continue;
        };
        let Some(provider) = s.providers.get(r.channel) else {
            continue;
        };
        out.checked += 1;
        match provider.query(&request(&r)).await {
            Ok(Some(answer)) => {
                let status = record(s, &answer, "reconciliation").await?;
                if status.is_final() {
                    out.settled += 1;
                }
            }
            // The provider never heard of it: send it again (idempotent).
            Ok(None) => {
                if execute(s, &refund_id).await?.is_final() {
                    out.settled += 1;
                }
            }
            Err(e) => tracing::warn!(refund_id, error = %e, "reconciliation query failed"),
        }
    }
    Ok(out)
}

/// Staff search their shop's refunds: by order, claim or customer (phone
/// numbers live on orders, so a phone search is an order search upstream).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundSearch {
    pub order_id: Option<String>,
    pub claim_id: Option<String>,
    pub customer_id: Option<String>,
    pub status: Option<RefundStatus>,
    pub limit: Option<u32>,
}

/// Searching reads at most this many of the shop's newest refunds.
pub const SEARCH_SCAN_LIMIT: usize = 20_000;

pub async fn search(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    q: &RefundSearch,
) -> Result<Vec<RefundView>, AppError> {
    require_staff(p, shop_id)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("invalid_limit", "limit must be 1 to 200"));
    }
    let matches = |r: &Refund| {
        q.order_id.as_deref().is_none_or(|o| r.order_id == o)
            && q.customer_id.as_deref().is_none_or(|c| r.customer_id == c)
            && q.status.is_none_or(|st| r.status == st)
            && q.claim_id.as_deref().is_none_or(
                |c| matches!(&r.origin, RefundOrigin::Claim { claim_id } if claim_id == c),
            )
    };
    let mut out = Vec::new();
    let mut after = None;
    let mut scanned = 0;
    loop {
        let (page, next) = repo::refunds::list(&*s.table, shop_id, 500, after).await?;
        scanned += page.len();
        out.extend(page.into_iter().filter(|r| matches(r)).map(refund_view));
        match next {
            Some(n) if out.len() < limit as usize && scanned < SEARCH_SCAN_LIMIT => after = Some(n),
            _ => break,
        }
    }
    out.truncate(limit as usize);
    Ok(out)
}

/// How a unit enum is written in JSON (`wechat_pay`, `CNY`): the CSV uses
/// the same names as the API.
fn wire_name<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The finance export of one month (`YYYY-MM`, by creation time, UTC): one
/// CSV row per refund, then totals per channel and status, amounts exact to
/// the minor unit. Produced page by page, so a big month never sits in
/// memory whole. Finance and admins only.
pub async fn export_month(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    month: &str,
) -> Result<impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>>, AppError> {
    use crate::auth::StaffRole;
    require_staff(p, shop_id)?;
    if !(p.has_role(StaffRole::Finance) || p.has_role(StaffRole::Admin)) {
        return Err(AppError::Forbidden(
            "the finance export is for finance staff and admins".into(),
        ));
    }
    let start = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| AppError::invalid("invalid_month", "month is YYYY-MM"))?;
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::invalid("invalid_month", "month out of range"))?;
    let (start, end) = (
        start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        end.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
    );
    struct State {
        s: Services,
        shop_id: String,
        after: Option<crate::store::Cursor>,
        header_done: bool,
        finished: bool,
        /// Per (channel, currency, status) as written: the currency and
        /// the sum in its minor units.
        totals: std::collections::BTreeMap<
            (String, String, &'static str),
            (crate::domain::money::Currency, i64),
        >,
    }
    let state = State {
        s: s.clone(),
        shop_id: shop_id.to_owned(),
        after: None,
        header_done: false,
        finished: false,
        totals: Default::default(),
    };
    Ok(futures_util::stream::unfold(
        state,
        move |mut st| async move {
            if st.finished {
                return None;
            }
            let mut w = csv::Writer::from_writer(Vec::new());
            if !st.header_done {
                st.header_done = true;
                let _ = w.write_record([
                    "refund_id",
                    "created_at",
                    "order_id",
                    "claim_id",
                    "customer_id",
                    "channel",
                    "payment_id",
                    "provider_txn_id",
                    "amount",
                    "currency",
                    "status",
                    "provider_refund_id",
                    "succeeded_at",
                    "failure",
                ]);
            }
            let page = repo::refunds::list(&*st.s.table, &st.shop_id, 500, st.after.take()).await;
            let (refunds, next) = match page {
                Ok(p) => p,
                Err(e) => {
                    st.finished = true;
                    return Some((Err(std::io::Error::other(e.to_string())), st));
                }
            };
            let mut past_month = false;
            for r in refunds {
                if r.created_at >= end {
                    continue;
                }
                if r.created_at < start {
                    past_month = true;
                    break;
                }
                let amount = Money::from_minor(r.amount, r.currency).amount().to_string();
                let currency = wire_name(&r.currency);
                let channel = wire_name(&r.channel);
                st.totals
                    .entry((channel.clone(), currency.clone(), r.status.as_str()))
                    .or_insert((r.currency, 0))
                    .1 += r.amount;
                let claim = match &r.origin {
                    RefundOrigin::Claim { claim_id } => claim_id.clone(),
                    RefundOrigin::Merchant { .. } => String::new(),
                };
                let _ = w.write_record([
                    r.refund_id.as_str(),
                    &r.created_at.to_rfc3339(),
                    &r.order_id,
                    &claim,
                    &r.customer_id,
                    &channel,
                    &r.payment_id,
                    &r.provider_txn_id,
                    &amount,
                    &currency,
                    r.status.as_str(),
                    r.provider_refund_id.as_deref().unwrap_or(""),
                    &r.succeeded_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    r.failure.as_deref().unwrap_or(""),
                ]);
            }
            let mut bytes = w.into_inner().unwrap_or_default();
            match next {
                Some(n) if !past_month => st.after = Some(n),
                _ => {
                    st.finished = true;
                    // An empty line, then the totals (their own columns).
                    bytes.push(b'\n');
                    let mut t = csv::Writer::from_writer(bytes);
                    let _ = t.write_record(["total", "channel", "currency", "status", "amount"]);
                    for ((channel, currency, status), (cur, minor)) in &st.totals {
                        let amount = Money::from_minor(*minor, *cur).amount().to_string();
                        let _ = t.write_record(["total", channel, currency, status, &amount]);
                    }
                    bytes = t.into_inner().unwrap_or_default();
                }
            }
            Some((Ok(bytes), st))
        },
    ))
}
