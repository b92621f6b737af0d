//! Refund execution: a refund created with its approval is sent to its
//! provider, and the provider's answer — in the call's response, a later
//! query or a webhook — is recorded once, in any order. Providers take our
//! out-refund number as their idempotency key, so a refund sent twice (a
//! crash between the call and the record, a redelivered message) moves
//! money once; recording is conditional on the version read, and
//! [`Refund::observe`] only moves forward, so repeats and reordering change
//! nothing.

use super::*;
use crate::domain::claim::{ClaimEvent, ClaimStatus};
use crate::domain::order::PaymentChannel;
use crate::domain::refund::{NoticeFacts, Observation, Refund, RefundOrigin, RefundStatus};
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
            out_refund_no: r.refund_id.clone(),
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
                out_refund_no: r.refund_id.clone(),
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
async fn record_from(
    s: &Services,
    mut read: Option<(Refund, u64)>,
    answer: &ProviderRefund,
    source: &str,
) -> Result<RefundStatus, AppError> {
    for _ in 0..MAX_ATTEMPTS {
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
            let policy = super::policy::policy_for(s, &r.shop_id).await?;
            r.expires_at = policy.balance_lifetime().map(|d| now + d);
        }
        let mut ops = vec![repo::refunds::put(&r, Some(v))];
        if r.status.is_final() {
            ops.extend(match &r.origin {
                RefundOrigin::Claim { claim_id } => settle_claim(s, &r, claim_id, now).await?,
                RefundOrigin::Merchant {
                    merchant_refund_id, ..
                } => settle_merchant(s, &r, merchant_refund_id).await?,
            });
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

/// When a claim's refund reaches its end: its arrival goes on the claim's
/// timeline, and the claim completes once every refund sent for it has
/// arrived (the claim's own timeline says which were sent, and the claim
/// write is conditional, so two refunds arriving at once cannot both miss
/// the other). A failure shows the claim to staff. The ledger needs no
/// write: a completed claim keeps its entry for good.
async fn settle_claim(
    s: &Services,
    r: &Refund,
    claim_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<WriteOp>, AppError> {
    let Some((mut claim, cv)) = repo::claims::get(&*s.table, claim_id).await? else {
        return Ok(vec![]);
    };
    if !matches!(
        claim.status,
        ClaimStatus::Refunding | ClaimStatus::RefundFailed
    ) {
        return Ok(vec![]);
    }
    let mut events = Vec::new();
    if r.status == RefundStatus::Failed {
        if claim.status == ClaimStatus::Refunding {
            events.push(claim.refund_failed(
                r.failure.clone().unwrap_or_else(|| "refund failed".into()),
                Actor::System,
                now,
            )?);
        }
    } else {
        let arrived = claim.note_refund(
            ClaimEvent::RefundArrived {
                refund_id: r.refund_id.clone(),
                channel: r.channel,
                amount: r.amount,
                arrived_at: r.succeeded_at.unwrap_or(now),
                received_account: r.received_account.clone(),
            },
            now,
        )?;
        if claim.status == ClaimStatus::Refunding && all_arrived(&claim) {
            // The customer hears of the arrival with the completion (the
            // notifications read it off the timeline): no write more.
            events.push(claim.refund_succeeded(Actor::System, now)?);
        } else {
            // One refund of several, or one that arrived after a sibling
            // failed: the arrival is the news, in its own event (this
            // refund's third write, as the completion is the last one's).
            events.push(arrived);
        }
    }
    let mut ops = vec![repo::claims::put(&claim, Some(cv))];
    ops.extend(
        events
            .iter()
            .map(|e| repo::outbox::put(&OutboxEvent::for_claim(&claim, e, now))),
    );
    Ok(ops)
}

/// Whether every refund sent for a claim has arrived, by its timeline (a
/// failed refund sent again counts by its replacement).
fn all_arrived(claim: &Claim) -> bool {
    let arrived: Vec<&String> = claim
        .timeline
        .iter()
        .filter_map(|t| match &t.event {
            ClaimEvent::RefundArrived { refund_id, .. } => Some(refund_id),
            _ => None,
        })
        .collect();
    standing_refunds(claim)
        .iter()
        .all(|id| arrived.contains(&id))
}

/// The refunds a claim sent that are still standing (not replaced).
fn standing_refunds(claim: &Claim) -> Vec<String> {
    let mut sent = Vec::new();
    let mut replaced = Vec::new();
    for t in &claim.timeline {
        if let ClaimEvent::RefundSent {
            refund_id,
            replaces,
            ..
        } = &t.event
        {
            sent.push(refund_id.clone());
            replaced.extend(replaces.clone());
        }
    }
    sent.retain(|id| !replaced.contains(id));
    sent
}

/// Where staff send a claim's failed refunds again.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// `original` (default) or `store_balance`: a bank card is the
    /// customer's to name.
    #[serde(default)]
    pub refund_to: Option<crate::domain::refund::RefundRoute>,
}

/// Staff with the admin or finance role send a claim's failed refunds
/// again, each as a new refund (a new out-refund number: the provider
/// refused the old one for good) on the same payment, back the original
/// way or to the store balance. The claim's money stays taken in the ledger
/// throughout; the claim completes when the new refunds arrive.
pub async fn retry_failed(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
    req: RetryRequest,
) -> Result<ClaimView, AppError> {
    use crate::domain::refund::{RefundRoute, RefundStep};
    require_staff(p, shop_id)?;
    if !(p.has_role(StaffRole::Admin) || p.has_role(StaffRole::Finance)) {
        return Err(AppError::Forbidden(
            "sending refunds again needs the admin or finance role".into(),
        ));
    }
    let route = req.refund_to.unwrap_or_default();
    if matches!(route, RefundRoute::BankCard(_)) {
        return Err(AppError::invalid(
            "invalid_refund_route",
            "send it again the original way or to the store balance",
        ));
    }
    let Some((found, _)) = repo::claims::get(&*s.table, claim_id).await? else {
        return Err(AppError::NotFound("claim"));
    };
    if found.shop_id != shop_id {
        return Err(AppError::NotFound("claim"));
    }
    // Failed refunds are final: reading them before the claim's
    // conditional write is safe.
    let mut failed = Vec::new();
    for id in standing_refunds(&found) {
        if let Some((r, _)) = repo::refunds::get(&*s.table, &id).await? {
            if r.status == RefundStatus::Failed {
                failed.push(r);
            }
        }
    }
    let actor = actor_of(p);
    let claim = change_claim(s, claim_id, |claim, rec, now| {
        if claim.status != ClaimStatus::RefundFailed {
            return Err(AppError::conflict(
                "illegal_transition",
                format!(
                    "only a claim whose refund failed is sent again; this one is {}",
                    claim.status.as_str()
                ),
            ));
        }
        let standing = standing_refunds(claim);
        let mut change = Change {
            events: vec![claim.start_refund(actor.clone(), now)?],
            ..Change::default()
        };
        for old in failed.iter().filter(|r| standing.contains(&r.refund_id)) {
            let paid_with = rec
                .order
                .facts
                .payments
                .iter()
                .find(|p| p.payment_id == old.payment_id)
                .map_or(old.channel, |p| p.channel);
            let refund_id = format!("{}R{}", old.refund_id, claim.timeline.len());
            if refund_id.len() > 64 {
                return Err(AppError::conflict(
                    "too_many_retries",
                    "this refund was sent again too often; refund it without a claim",
                ));
            }
            let channel = route.channel_for(paid_with);
            let r = Refund {
                refund_id: refund_id.clone(),
                channel,
                status: RefundStatus::Pending,
                attempts: 0,
                provider_refund_id: None,
                received_account: None,
                failure: None,
                created_at: now,
                updated_at: now,
                succeeded_at: None,
                expected_arrival: Some(now + crate::domain::refund::arrival_window(channel)),
                payee: None,
                expires_at: None,
                history: vec![RefundStep {
                    at: now,
                    status: RefundStatus::Pending,
                    actor: actor.clone(),
                    what: "created".into(),
                    detail: Some(format!("sent again instead of {}", old.refund_id)),
                }],
                ..old.clone()
            };
            claim.note_refund(
                ClaimEvent::RefundSent {
                    refund_id,
                    channel,
                    amount: r.amount,
                    expected_arrival: r.expected_arrival,
                    replaces: Some(old.refund_id.clone()),
                },
                now,
            )?;
            change.refunds.push(r);
        }
        if change.refunds.is_empty() {
            return Err(AppError::conflict(
                "nothing_to_retry",
                "this claim has no failed refund to send again",
            ));
        }
        Ok(change)
    })
    .await?;
    Ok(claim_view(&claim))
}

/// A merchant refund that failed gives its payment's share back to the
/// order's ledger, so the money can be refunded again; one that succeeded
/// keeps it (no write).
async fn settle_merchant(
    s: &Services,
    r: &Refund,
    merchant_refund_id: &str,
) -> Result<Vec<WriteOp>, AppError> {
    if r.status != RefundStatus::Failed {
        return Ok(vec![]);
    }
    let (mut rec, ov) = repo::orders::get(&*s.table, &r.shop_id, &r.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    rec.ledger.give_back(
        merchant_refund_id,
        &r.payment_id,
        Money::from_minor(r.amount, r.currency),
    )?;
    Ok(vec![repo::orders::put(&rec, Some(ov))])
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
    pub expected_arrival: Option<DateTime<Utc>>,
    /// Why a refund without a claim was made (goodwill, price difference,
    /// missing item), with the staff note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant: Option<MerchantInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee: Option<crate::domain::refund::BankCard>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Every step, oldest first (append-only).
    pub history: Vec<crate::domain::refund::RefundStep>,
}

#[derive(Debug, Serialize)]
pub struct MerchantInfo {
    pub merchant_refund_id: String,
    pub reason: crate::domain::refund::MerchantReason,
    pub note: String,
}

pub fn refund_view(r: Refund) -> RefundView {
    RefundView {
        merchant: match &r.origin {
            RefundOrigin::Merchant {
                merchant_refund_id,
                reason,
                note,
            } => Some(MerchantInfo {
                merchant_refund_id: merchant_refund_id.clone(),
                reason: *reason,
                note: note.clone(),
            }),
            RefundOrigin::Claim { .. } => None,
        },
        expected_arrival: r.expected_arrival,
        payee: r.payee.clone(),
        expires_at: r.expires_at,
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
    /// Verified, but about a refund of another channel, merchant account or
    /// amount than the one it names: not applied, written on that refund's
    /// audit trail, and acknowledged (see [`notified`] for why).
    Mismatched(crate::providers::Ack),
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

/// Writes a refused notice on its refund's audit trail (once per reason),
/// conditional on the version read like every refund write.
async fn note_refused_notice(
    s: &Services,
    mut read: (Refund, u64),
    why: &str,
) -> Result<(), AppError> {
    for _ in 0..MAX_ATTEMPTS {
        let (mut r, v) = read;
        if !r.note_refused_notice(why, s.now()) {
            return Ok(());
        }
        match s
            .table
            .transact(vec![repo::refunds::put(&r, Some(v))])
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::TransactionCancelled { .. }) => {
                read = repo::refunds::get(&*s.table, &r.refund_id)
                    .await?
                    .ok_or(AppError::NotFound("refund"))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict("busy", "the refund kept changing"))
}

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
        match status {
            Ok(st) if st.is_final() => out.settled += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(refund_id = %r.refund_id, error = %e, "reconciliation left it for the next round");
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
    match s
        .table
        .transact(vec![repo::refunds::put(&r, Some(v))])
        .await
    {
        // Someone else moved it meanwhile: that is news enough.
        Ok(()) | Err(StoreError::TransactionCancelled { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Staff search their shop's refunds: by order, claim, customer or the
/// customer's phone (the order's, compared digit by digit so that spaces,
/// dashes and a +86 prefix do not matter).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundSearch {
    pub order_id: Option<String>,
    pub claim_id: Option<String>,
    pub customer_id: Option<String>,
    pub customer_phone: Option<String>,
    pub status: Option<RefundStatus>,
    pub limit: Option<u32>,
}

/// A phone number's digits, without a +86 / 0086 country prefix.
fn phone_digits(p: &str) -> String {
    let d: String = p.chars().filter(char::is_ascii_digit).collect();
    match d.strip_prefix("0086").or_else(|| d.strip_prefix("86")) {
        Some(rest) if rest.len() == 11 => rest.to_owned(),
        _ => d,
    }
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
    let phone = q.customer_phone.as_deref().map(phone_digits);
    if phone.as_ref().is_some_and(|p| p.len() < 6) {
        return Err(AppError::invalid(
            "invalid_phone",
            "customer_phone: at least 6 digits",
        ));
    }
    let matches = |r: &Refund| {
        phone.as_deref().is_none_or(|p| {
            r.customer_phone
                .as_deref()
                .is_some_and(|have| phone_digits(have) == p)
        }) && q.order_id.as_deref().is_none_or(|o| r.order_id == o)
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

/// A customer's store balance at one shop: the credits refunds made, the
/// ones still good summed per currency.
#[derive(Debug, Serialize)]
pub struct BalanceView {
    pub shop_id: String,
    pub customer_id: String,
    pub available: Vec<Money>,
    pub credits: Vec<CreditView>,
}

#[derive(Debug, Serialize)]
pub struct CreditView {
    pub refund_id: String,
    pub order_id: String,
    pub amount: Money,
    pub credited_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
}

/// The balance of the calling customer, or (for the shop's staff) of
/// `customer_id`.
pub async fn balance(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    customer_id: Option<&str>,
) -> Result<BalanceView, AppError> {
    let customer = match (p, customer_id) {
        (Principal::Customer { customer_id: me }, None) => me.clone(),
        (Principal::Customer { customer_id: me }, Some(c)) if c == me => me.clone(),
        (Principal::Customer { .. }, Some(_)) => {
            return Err(AppError::Forbidden(
                "customers see their own balance only".into(),
            ))
        }
        (_, Some(c)) => {
            require_staff(p, shop_id)?;
            c.to_owned()
        }
        (_, None) => {
            return Err(AppError::invalid(
                "invalid_query",
                "staff name the customer: ?customer_id=",
            ))
        }
    };
    let now = s.now();
    let mut available: Vec<Money> = Vec::new();
    let mut credits = Vec::new();
    for r in repo::refunds::balance_credits(&*s.table, shop_id, &customer).await? {
        let expired = r.expires_at.is_some_and(|t| t <= now);
        let amount = Money::from_minor(r.amount, r.currency);
        if !expired {
            match available.iter_mut().find(|m| m.currency() == r.currency) {
                Some(m) => *m = Money::from_minor(m.minor() + r.amount, r.currency),
                None => available.push(amount),
            }
        }
        credits.push(CreditView {
            refund_id: r.refund_id,
            order_id: r.order_id,
            amount,
            credited_at: r.succeeded_at,
            expires_at: r.expires_at,
            expired,
        });
    }
    Ok(BalanceView {
        shop_id: shop_id.to_owned(),
        customer_id: customer,
        available,
        credits,
    })
}
