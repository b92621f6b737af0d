//! Refunds: money going back along one payment's route. A claim's approved
//! amount becomes one refund per payment it draws on (the ledger says how
//! much from each), each with a stable out-refund number that every
//! provider takes as its idempotency key: whatever is repeated, money moves
//! once.
//!
//! A refund's life: `pending` (created with the approval) → `processing`
//! (the provider accepted it) → `succeeded` or `failed`. A provider's answer
//! can arrive twice or out of order (a late "processing" after "succeeded"
//! from a notification); [`Refund::observe`] only ever moves forward, so
//! the order of arrival does not matter.

use super::change::{Change, Refused};
use super::claim::{Actor, Claim, ClaimError, ClaimEvent, ClaimStatus};
use super::ids::{ClaimId, CustomerId, OrderId, RefundId, ShopId};
use super::ledger::LedgerEntry;
use super::ledger::OrderRecord;
use super::money::{Currency, Money};
use super::order::{Order, PaymentChannel};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Processing,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }
    fn rank(self) -> u8 {
        match self {
            RefundStatus::Pending => 0,
            RefundStatus::Processing => 1,
            RefundStatus::Succeeded | RefundStatus::Failed => 2,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Processing => "processing",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

/// Why money goes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefundOrigin {
    /// An approved claim (by a rule, a person or the deadline).
    Claim { claim_id: ClaimId },
    /// Staff refunding without a claim.
    Merchant {
        /// Its ledger entry on the order (`mrf_...`).
        merchant_refund_id: String,
        reason: MerchantReason,
        note: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MerchantReason {
    Goodwill,
    PriceDifference,
    MissingItem,
}

/// Where a refund's money goes. The original payment route unless the
/// customer chose otherwise when filing (or staff, for a merchant refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum RefundRoute {
    /// Back along each payment's own channel.
    #[default]
    Original,
    /// Credited to the customer's balance with the shop (our own ledger).
    StoreBalance,
    /// Paid out to a bank card the customer named and confirmed.
    BankCard(BankCard),
}

/// A payout card as the customer confirmed it. Only what the payout
/// provider needs to find the card (`card_token`, from the storefront's
/// card vault) and what staff and the customer recognise it by; never the
/// full card number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankCard {
    pub bank: String,
    pub holder: String,
    pub last4: String,
    pub card_token: String,
    /// The customer confirmed this card on the storefront.
    pub confirmed: bool,
}

/// Why a refund route is refused; the message names the field of
/// `refund_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `bank` or `holder` blank or longer than 64 characters.
    #[error("refund_to.{field} must be 1 to 64 characters")]
    Text { field: &'static str },
    #[error("refund_to.last4 must be the card's last 4 digits")]
    Last4,
    #[error("refund_to.card_token must be 1 to 128 of [A-Za-z0-9_-]")]
    CardToken,
    #[error("refund_to.confirmed: the customer must confirm the bank card")]
    Unconfirmed,
}

impl RefundRoute {
    /// Checks what the customer (or staff) sent; the message names the field.
    pub fn validate(&self) -> Result<(), RouteError> {
        let RefundRoute::BankCard(c) = self else {
            return Ok(());
        };
        let text = |field: &'static str, v: &str| {
            if v.trim().is_empty() || v.chars().count() > 64 {
                Err(RouteError::Text { field })
            } else {
                Ok(())
            }
        };
        text("bank", &c.bank)?;
        text("holder", &c.holder)?;
        if c.last4.len() != 4 || !c.last4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RouteError::Last4);
        }
        if c.card_token.is_empty()
            || c.card_token.len() > 128
            || !c
                .card_token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(RouteError::CardToken);
        }
        if !c.confirmed {
            return Err(RouteError::Unconfirmed);
        }
        Ok(())
    }

    /// The channel the money of a payment made through `paid_with` takes.
    pub fn channel_for(&self, paid_with: PaymentChannel) -> PaymentChannel {
        match self {
            RefundRoute::Original => paid_with,
            RefundRoute::StoreBalance => PaymentChannel::Balance,
            RefundRoute::BankCard(_) => PaymentChannel::BankCard,
        }
    }
}

/// How long money takes to reach the customer on a channel, by the
/// providers' own published upper bounds: WeChat Pay and Alipay refunds to
/// a bank card behind the payment take up to 3 working days (their wallet
/// balances are instant), card refunds 5-10 working days, bank payouts up
/// to 3 days; the store balance is ours and instant.
pub fn arrival_window(channel: PaymentChannel) -> chrono::Duration {
    match channel {
        PaymentChannel::WechatPay | PaymentChannel::Alipay | PaymentChannel::BankCard => {
            chrono::Duration::days(3)
        }
        PaymentChannel::Card => chrono::Duration::days(10),
        PaymentChannel::Balance => chrono::Duration::zero(),
    }
}

/// One step of a refund's history: the audit trail (append-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundStep {
    pub at: DateTime<Utc>,
    pub status: RefundStatus,
    pub actor: Actor,
    /// What happened: created, sent, provider_answer, notification,
    /// retry_scheduled, failed.
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Our out-refund number: `[A-Za-z0-9]`, at most 64 characters (the
    /// strictest provider's limit).
    pub refund_id: RefundId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    /// The order's phone, for staff searching by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    pub origin: RefundOrigin,
    pub payment_id: String,
    pub channel: PaymentChannel,
    pub provider_txn_id: String,
    /// The original payment.
    pub payment_total: Money,
    /// What to give back, in the payment's currency.
    pub amount: Money,
    pub status: RefundStatus,
    /// Provider calls made (for backoff and for staff).
    pub attempts: u32,
    pub provider_refund_id: Option<String>,
    pub received_account: Option<String>,
    /// The provider's reason for a failure.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub succeeded_at: Option<DateTime<Utc>>,
    /// When the customer can expect the money, from the channel's window.
    #[serde(default)]
    pub expected_arrival: Option<DateTime<Utc>>,
    /// The payout card, for the bank-card route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<BankCard>,
    /// A store-balance credit lapses then (the shop's policy when it was
    /// credited); None: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub history: Vec<RefundStep>,
}

impl Refund {
    /// The currency the money goes back in (the payment's).
    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }
}

/// The out-refund number of a claim's refund from its `n`th payment.
pub fn refund_id_for(origin_id: &str, n: usize) -> RefundId {
    let core: String = origin_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("RF{core}P{n}").into()
}

/// What a set of refunds is for and where it goes.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub origin: RefundOrigin,
    /// The claim or merchant-refund id the out-refund numbers derive from.
    pub origin_id: &'a str,
    pub route: &'a RefundRoute,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
}

/// The refunds of an approved amount: one per payment the ledger entry
/// draws on (zero-amount draws make no refund).
pub fn plan(order: &Order, entry: &LedgerEntry, issue: &Issue<'_>) -> Vec<Refund> {
    drawn_payments(order, entry)
        .map(|(j, amount)| {
            let p = &order.facts.payments[j];
            let channel = issue.route.channel_for(p.channel);
            let draw = Draw {
                shop_id: order.shop_id.clone(),
                order_id: order.order_id.clone(),
                customer_id: order.facts.customer_id.clone(),
                customer_phone: order.facts.customer_phone.clone(),
                origin: issue.origin.clone(),
                payment_id: p.payment_id.clone(),
                provider_txn_id: p.provider_txn_id.clone(),
                payment_total: Money::from_minor(order.payment_minor(j), order.currency()),
                amount,
                payee: match issue.route {
                    RefundRoute::BankCard(c) => Some(c.clone()),
                    _ => None,
                },
            };
            let detail = match issue.route {
                RefundRoute::Original => None,
                RefundRoute::StoreBalance => Some("to store balance".into()),
                RefundRoute::BankCard(c) => {
                    Some(format!("to bank card {} ****{}", c.bank, c.last4))
                }
            };
            let id = refund_id_for(issue.origin_id, j + 1);
            Refund::created(draw, id, channel, issue.actor, issue.now, detail)
        })
        .collect()
}

/// A claim's compensation beyond the order's payments (a late
/// pre-sale's): credited to the customer's store balance, drawn from no
/// payment (its `payment_id` says `compensation`), so no payment is ever
/// refunded above what it paid.
pub fn compensation(
    order: &Order,
    claim_id: &str,
    amount: Money,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Refund {
    let draw = Draw {
        shop_id: order.shop_id.clone(),
        order_id: order.order_id.clone(),
        customer_id: order.facts.customer_id.clone(),
        customer_phone: order.facts.customer_phone.clone(),
        origin: RefundOrigin::Claim {
            claim_id: claim_id.into(),
        },
        payment_id: COMPENSATION.into(),
        provider_txn_id: String::new(),
        payment_total: amount,
        amount,
        payee: None,
    };
    let core: String = claim_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    Refund::created(
        draw,
        format!("RF{core}C1").into(),
        PaymentChannel::Balance,
        actor,
        now,
        Some("pre-sale compensation to store balance".into()),
    )
}

/// The `payment_id` of a compensation refund.
pub const COMPENSATION: &str = "compensation";

/// What a refund draws on and where its money goes: all of it but its
/// number, channel and life so far, so what a refund sent again keeps.
struct Draw {
    shop_id: ShopId,
    order_id: OrderId,
    customer_id: CustomerId,
    customer_phone: Option<String>,
    origin: RefundOrigin,
    payment_id: String,
    provider_txn_id: String,
    payment_total: Money,
    amount: Money,
    payee: Option<BankCard>,
}

impl Refund {
    /// A refund just created: pending, nothing asked of the provider yet,
    /// its history the one "created" step.
    fn created(
        d: Draw,
        refund_id: RefundId,
        channel: PaymentChannel,
        actor: &Actor,
        now: DateTime<Utc>,
        detail: Option<String>,
    ) -> Refund {
        Refund {
            refund_id,
            shop_id: d.shop_id,
            order_id: d.order_id,
            customer_id: d.customer_id,
            customer_phone: d.customer_phone,
            origin: d.origin,
            payment_id: d.payment_id,
            channel,
            provider_txn_id: d.provider_txn_id,
            payment_total: d.payment_total,
            amount: d.amount,
            status: RefundStatus::Pending,
            attempts: 0,
            provider_refund_id: None,
            received_account: None,
            failure: None,
            created_at: now,
            updated_at: now,
            succeeded_at: None,
            expected_arrival: Some(now + arrival_window(channel)),
            payee: d.payee,
            expires_at: None,
            history: vec![RefundStep {
                at: now,
                status: RefundStatus::Pending,
                actor: actor.clone(),
                what: "created".into(),
                detail,
            }],
        }
    }

    /// A new refund sending this failed one's money again as `refund_id`
    /// through `channel` (the original way or the store balance, never a
    /// card): same payment, amount and origin, a fresh history.
    pub fn again(
        &self,
        refund_id: RefundId,
        channel: PaymentChannel,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Refund {
        let draw = Draw {
            shop_id: self.shop_id.clone(),
            order_id: self.order_id.clone(),
            customer_id: self.customer_id.clone(),
            customer_phone: self.customer_phone.clone(),
            origin: self.origin.clone(),
            payment_id: self.payment_id.clone(),
            provider_txn_id: self.provider_txn_id.clone(),
            payment_total: self.payment_total,
            amount: self.amount,
            payee: None,
        };
        let detail = Some(format!("sent again instead of {}", self.refund_id));
        Refund::created(draw, refund_id, channel, actor, now, detail)
    }
}

/// The payments a ledger entry draws money from: (index in the order's
/// payments, the money drawn). One refund each, numbered by that index.
fn drawn_payments<'a>(
    order: &'a Order,
    entry: &'a LedgerEntry,
) -> impl Iterator<Item = (usize, Money)> + 'a {
    entry
        .payments
        .iter()
        .filter(|d| d.amount.is_positive())
        .filter_map(|d| {
            let j = order
                .facts
                .payments
                .iter()
                .position(|p| p.payment_id == d.payment_id)?;
            Some((j, d.amount))
        })
}

/// The out-refund numbers [`plan`] gives the refunds of this entry.
pub fn refund_ids(order: &Order, entry: &LedgerEntry, origin_id: &str) -> Vec<RefundId> {
    drawn_payments(order, entry)
        .map(|(j, _)| refund_id_for(origin_id, j + 1))
        .collect()
}

/// What a provider (by answer, query or notification) says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    Processing,
    Succeeded { at: DateTime<Utc> },
    Failed { reason: String },
}

impl Refund {
    /// Takes in what the provider says. Returns whether anything changed:
    /// news older than what we know (processing after succeeded, a second
    /// success) changes nothing. A failure after a success is refused too:
    /// money that arrived does not un-arrive; it is logged for staff.
    pub fn observe(
        &mut self,
        o: &Observation,
        provider_refund_id: Option<&str>,
        received_account: Option<&str>,
        source: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let to = match o {
            Observation::Processing => RefundStatus::Processing,
            Observation::Succeeded { .. } => RefundStatus::Succeeded,
            Observation::Failed { .. } => RefundStatus::Failed,
        };
        if self.provider_refund_id.is_none() {
            self.provider_refund_id = provider_refund_id.map(str::to_owned);
        }
        if self.received_account.is_none() {
            self.received_account = received_account.map(str::to_owned);
        }
        if to.rank() <= self.status.rank() {
            return false;
        }
        self.status = to;
        self.updated_at = now;
        let detail = match o {
            Observation::Succeeded { at } => {
                self.succeeded_at = Some(*at);
                None
            }
            Observation::Failed { reason } => {
                self.failure = Some(reason.clone());
                Some(reason.clone())
            }
            Observation::Processing => None,
        };
        self.history.push(RefundStep {
            at: now,
            status: to,
            actor: Actor::System,
            what: source.to_owned(),
            detail,
        });
        true
    }

    /// A provider call is about to be made.
    pub fn attempt(&mut self, now: DateTime<Utc>) {
        self.attempts += 1;
        self.updated_at = now;
    }

    /// A transient failure: noted, retried later. The same reason again
    /// only moves `updated_at` (a refund stuck for days would otherwise
    /// grow its history without bound).
    pub fn note_retry(&mut self, why: &str, now: DateTime<Utc>) {
        self.updated_at = now;
        if self
            .history
            .last()
            .is_some_and(|h| h.what == "retry_scheduled" && h.detail.as_deref() == Some(why))
        {
            return;
        }
        self.history.push(RefundStep {
            at: now,
            status: self.status,
            actor: Actor::System,
            what: "retry_scheduled".into(),
            detail: Some(why.to_owned()),
        });
    }
}

/// How much a provider's notice says was refunded, in minor units of the
/// refund's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "minor", rename_all = "snake_case")]
pub enum NoticeAmount {
    /// This refund alone (WeChat Pay `amount.refund`, Stripe `amount`).
    Refund(i64),
    /// Everything refunded on the payment so far, this refund included
    /// (Alipay's `refund_fee` on a `trade_status_sync` is cumulative), so
    /// only bounds can be checked: at least this refund, at most the
    /// payment.
    RefundedOnPayment(i64),
}

/// What a verified provider notice says about whose refund it is and how
/// much, checked by [`Refund::notice_mismatch`] before it may settle one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFacts<'a> {
    /// The provider that signed it, as its webhook is named (for the
    /// audit trail).
    pub provider: &'a str,
    /// The payment channels whose refunds that provider settles (its own;
    /// the sandbox stands in for several).
    pub channels: &'a [PaymentChannel],
    /// The merchant account the notice is addressed to (WeChat `mchid`,
    /// Alipay `app_id`/`seller_id`, Stripe `account`), as the adapter
    /// writes it; None when the notice names none.
    pub account: Option<&'a str>,
    /// The account the adapter is configured as, in the same form.
    pub our_account: Option<&'a str>,
    pub amount: Option<NoticeAmount>,
}

impl Refund {
    /// Why a validly signed notice must not settle this refund, or None
    /// when it may. A signature proves who sent a notice, not that it is
    /// about this refund: out-refund numbers are ours, but a provider
    /// echoes whatever number the merchant sent it, so a notice from
    /// another channel, another merchant account (two apps sharing a
    /// notify URL, a reused number) or about another amount can name one
    /// of ours. Only a notice that matches the refund's channel, our
    /// account and its amount settles it; one that does not say which
    /// account or how much cannot be shown to match, and is refused too.
    pub fn notice_mismatch(&self, n: &NoticeFacts<'_>) -> Option<String> {
        let channel = serde_json::to_value(self.channel)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if !n.channels.contains(&self.channel) {
            return Some(format!(
                "signed by {}, which does not settle {channel} refunds",
                n.provider
            ));
        }
        if n.account != n.our_account {
            return Some(format!(
                "addressed to {}, not to our {}",
                n.account.unwrap_or("no merchant account"),
                n.our_account.unwrap_or("(no account)")
            ));
        }
        match n.amount {
            None => Some("the notice does not say how much was refunded".into()),
            // A provider says how much in minor units of the refund's
            // currency (its wire format).
            Some(NoticeAmount::Refund(a)) if a != self.amount.minor() => Some(format!(
                "refunded {a} minor units, this refund is {}",
                self.amount.minor()
            )),
            Some(NoticeAmount::RefundedOnPayment(a))
                if a < self.amount.minor() || a > self.payment_total.minor() =>
            {
                Some(format!(
                    "{a} minor units refunded on the payment in all: not possible for a refund of \
                     {} on a payment of {}",
                    self.amount.minor(),
                    self.payment_total.minor()
                ))
            }
            Some(_) => None,
        }
    }

    /// Puts a refused notice on the audit trail, for reconciliation and
    /// finance staff; the refund's state, and when it last changed, stay
    /// as they are. A provider retries the same notice: the same reason is
    /// written once (returns false then).
    pub fn note_refused_notice(&mut self, why: &str, now: DateTime<Utc>) -> bool {
        const WHAT: &str = "notification_refused";
        if self
            .history
            .iter()
            .any(|h| h.what == WHAT && h.detail.as_deref() == Some(why))
        {
            return false;
        }
        self.history.push(RefundStep {
            at: now,
            status: self.status,
            actor: Actor::System,
            what: WHAT.into(),
            detail: Some(why.to_owned()),
        });
        true
    }
}

/// What a claim makes of one of its refunds reaching its end: a failure
/// shows the claim to staff (once); an arrival goes on the timeline, and
/// the claim completes once every refund sent for it has arrived (its own
/// timeline says which were sent). Returns the steps to publish: the
/// completion carries the arrival, so one arrival of several is its own.
pub fn settle_claim(
    claim: &mut Claim,
    r: &Refund,
    now: DateTime<Utc>,
) -> Result<Vec<ClaimEvent>, ClaimError> {
    if !matches!(
        claim.status,
        ClaimStatus::Refunding | ClaimStatus::RefundFailed
    ) {
        return Ok(side_refund_arrived(claim, r, now).into_iter().collect());
    }
    if r.status == RefundStatus::Failed {
        if claim.status != ClaimStatus::Refunding {
            return Ok(vec![]);
        }
        return Ok(vec![claim.refund_failed(
            r.failure.clone().unwrap_or_else(|| "refund failed".into()),
            Actor::System,
            now,
        )?]);
    }
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
    if claim.status == ClaimStatus::Refunding && all_arrived(claim) {
        // The customer hears of the arrival with the completion (the
        // notifications read it off the timeline): no write more.
        Ok(vec![claim.refund_succeeded(Actor::System, now)?])
    } else {
        // One refund of several, or one that arrived after a sibling
        // failed: the arrival is the news, in its own event.
        Ok(vec![arrived])
    }
}

/// A refund sent beside the claim's own course (a dispute's supplementary
/// refund on a claim rejected or completed) arrived: on the timeline, once;
/// the claim's status stays.
fn side_refund_arrived(claim: &mut Claim, r: &Refund, now: DateTime<Utc>) -> Option<ClaimEvent> {
    let noted = claim.timeline.iter().any(|t| {
        matches!(&t.event, ClaimEvent::RefundArrived { refund_id, .. } if *refund_id == r.refund_id)
    });
    if r.status != RefundStatus::Succeeded
        || noted
        || !standing_refunds(claim).contains(&r.refund_id)
    {
        return None;
    }
    let arrived = ClaimEvent::RefundArrived {
        refund_id: r.refund_id.clone(),
        channel: r.channel,
        amount: r.amount,
        arrived_at: r.succeeded_at.unwrap_or(now),
        received_account: r.received_account.clone(),
    };
    claim.note(arrived.clone(), Actor::System, now);
    Some(arrived)
}

/// Sends a claim's failed refunds again, each as a new refund (a new
/// out-refund number: the provider refused the old one for good) on the
/// same payment, the original way or to the store balance. `failed`: the
/// claim's refunds that failed, as read; only those still standing go
/// again. The claim's money stays taken in the ledger throughout.
pub fn send_again(
    claim: &mut Claim,
    rec: &OrderRecord,
    failed: &[Refund],
    route: &RefundRoute,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    if claim.status != ClaimStatus::RefundFailed {
        return Err(Refused::not_now(
            "illegal_transition",
            format!(
                "only a claim whose refund failed is sent again; this one is {}",
                claim.status.as_str()
            ),
        ));
    }
    let standing = standing_refunds(claim);
    let mut change = Change::steps(vec![claim.start_refund(actor.clone(), now)?]);
    for old in failed.iter().filter(|r| standing.contains(&r.refund_id)) {
        let paid_with = rec
            .order
            .facts
            .payments
            .iter()
            .find(|p| p.payment_id == old.payment_id)
            .map_or(old.channel, |p| p.channel);
        let refund_id: RefundId = format!("{}R{}", old.refund_id, claim.timeline.len()).into();
        if refund_id.len() > 64 {
            return Err(Refused::not_now(
                "too_many_retries",
                "this refund was sent again too often; refund it without a claim",
            ));
        }
        let r = old.again(refund_id, route.channel_for(paid_with), &actor, now);
        claim.note_refund(
            ClaimEvent::RefundSent {
                refund_id: r.refund_id.clone(),
                channel: r.channel,
                amount: r.amount,
                expected_arrival: r.expected_arrival,
                replaces: Some(old.refund_id.clone()),
            },
            now,
        )?;
        change.refunds.push(r);
    }
    if change.refunds.is_empty() {
        return Err(Refused::not_now(
            "nothing_to_retry",
            "this claim has no failed refund to send again",
        ));
    }
    Ok(change)
}

/// Whether every refund sent for a claim has arrived, by its timeline (a
/// failed refund sent again counts by its replacement).
pub fn all_arrived(claim: &Claim) -> bool {
    let arrived: Vec<&RefundId> = claim
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
pub fn standing_refunds(claim: &Claim) -> Vec<RefundId> {
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

#[cfg(test)]
mod tests {

    mod settling {
        use crate::domain::claim::{ClaimStatus, ClaimStep, ClaimType};
        use crate::domain::refund::{
            all_arrived, send_again, settle_claim, standing_refunds, RefundStatus,
        };
        use crate::domain::testkit::{approved, staff, t};

        #[test]
        fn the_claim_completes_when_its_refund_arrives() {
            let (_, mut claim, change) = approved(ClaimType::RefundOnly);
            let mut refunds = change.refunds;
            assert_eq!(standing_refunds(&claim), [refunds[0].refund_id.clone()]);
            assert!(!all_arrived(&claim));
            refunds[0].status = RefundStatus::Succeeded;
            refunds[0].succeeded_at = Some(t(120));
            let steps = settle_claim(&mut claim, &refunds[0], t(121)).unwrap();
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].step(), ClaimStep::RefundSucceeded);
            assert!(all_arrived(&claim));
            assert_eq!(claim.status, ClaimStatus::Completed);
            // News of the same refund again changes nothing.
            assert!(settle_claim(&mut claim, &refunds[0], t(122))
                .unwrap()
                .is_empty());
        }

        #[test]
        fn a_failed_refund_goes_again_as_a_new_refund_replacing_it() {
            let (rec, mut claim, change) = approved(ClaimType::RefundOnly);
            let mut refunds = change.refunds;
            refunds[0].status = RefundStatus::Failed;
            settle_claim(&mut claim, &refunds[0], t(70)).unwrap();
            let route = crate::domain::refund::RefundRoute::default();
            let change = send_again(&mut claim, &rec, &refunds, &route, staff(), t(80)).unwrap();
            assert_eq!(change.refunds.len(), 1);
            let again = &change.refunds[0];
            assert_ne!(again.refund_id, refunds[0].refund_id);
            assert_eq!(again.amount, refunds[0].amount);
            assert_eq!(again.status, RefundStatus::Pending);
            assert_eq!(standing_refunds(&claim), vec![again.refund_id.clone()]);
            // Once going again, the claim is no longer one to send again.
            assert!(send_again(&mut claim, &rec, &refunds, &route, staff(), t(90)).is_err());
        }

        #[test]
        fn a_failed_refund_shows_the_claim_to_staff_once() {
            let (_, mut claim, change) = approved(ClaimType::RefundOnly);
            let mut refunds = change.refunds;
            refunds[0].status = RefundStatus::Failed;
            refunds[0].failure = Some("account frozen".into());
            let steps = settle_claim(&mut claim, &refunds[0], t(121)).unwrap();
            assert_eq!(steps[0].step(), ClaimStep::RefundFailed);
            assert_eq!(claim.status, ClaimStatus::RefundFailed);
            assert!(settle_claim(&mut claim, &refunds[0], t(122))
                .unwrap()
                .is_empty());
        }
    }
    use super::*;

    /// A pending refund of 500 on a WeChat Pay payment of 1000, its
    /// history empty (the tests count the steps they add).
    fn refund() -> Refund {
        let draw = Draw {
            shop_id: "s".into(),
            order_id: "o".into(),
            customer_id: "c".into(),
            customer_phone: None,
            origin: RefundOrigin::Claim {
                claim_id: "clm_01ab".into(),
            },
            payment_id: "P1".into(),
            provider_txn_id: "42".into(),
            payment_total: Money::from_minor(1000, Currency::Cny),
            amount: Money::from_minor(500, Currency::Cny),
            payee: None,
        };
        let id = refund_id_for("clm_01ab", 1);
        let actor = Actor::System;
        let created = Refund::created(
            draw,
            id,
            PaymentChannel::WechatPay,
            &actor,
            Utc::now(),
            None,
        );
        Refund {
            history: vec![],
            ..created
        }
    }

    #[test]
    fn ids_are_provider_safe_and_stable() {
        assert_eq!(refund_id_for("clm_01ab", 2), "RFclm01abP2");
        assert!(refund_id_for(&format!("clm_{}", "f".repeat(32)), 10).len() <= 64);
    }

    #[test]
    fn observations_only_move_forward_in_any_order() {
        let now = Utc::now();
        let orders: [&[Observation]; 3] = [
            &[Observation::Processing, Observation::Succeeded { at: now }],
            &[Observation::Succeeded { at: now }, Observation::Processing],
            &[
                Observation::Succeeded { at: now },
                Observation::Succeeded { at: now },
                Observation::Failed {
                    reason: "late".into(),
                },
            ],
        ];
        for seq in orders {
            let mut r = refund();
            for o in seq {
                r.observe(o, Some("wx1"), None, "test", now);
            }
            assert_eq!(r.status, RefundStatus::Succeeded, "{seq:?}");
            assert_eq!(
                r.history.len(),
                1 + usize::from(seq[0] == Observation::Processing)
            );
        }
        let mut r = refund();
        assert!(r.observe(
            &Observation::Failed {
                reason: "NOT_ENOUGH".into()
            },
            None,
            None,
            "answer",
            now
        ));
        assert!(!r.observe(&Observation::Processing, None, None, "late", now));
        assert_eq!(r.failure.as_deref(), Some("NOT_ENOUGH"));
    }

    fn facts<'a>(
        channels: &'a [PaymentChannel],
        account: Option<&'a str>,
        amount: Option<NoticeAmount>,
    ) -> NoticeFacts<'a> {
        NoticeFacts {
            provider: "wechat_pay",
            channels,
            account,
            our_account: Some("mchid=1900000109"),
            amount,
        }
    }

    #[test]
    fn a_notice_settles_only_a_refund_of_its_channel_account_and_amount() {
        // The refund: WeChat Pay, 500 of a 1000 payment.
        let r = refund();
        let wx = [PaymentChannel::WechatPay];
        let ours = Some("mchid=1900000109");
        let exact = Some(NoticeAmount::Refund(500));
        assert_eq!(r.notice_mismatch(&facts(&wx, ours, exact)), None);

        let alipay = NoticeFacts {
            provider: "alipay",
            ..facts(&[PaymentChannel::Alipay], ours, exact)
        };
        let why = r.notice_mismatch(&alipay).expect("other channel");
        assert!(
            why.contains("alipay") && why.contains("wechat_pay"),
            "{why}"
        );
        // The sandbox stands in for several channels, this one among them.
        let several = [PaymentChannel::Alipay, PaymentChannel::WechatPay];
        assert_eq!(r.notice_mismatch(&facts(&several, ours, exact)), None);

        for account in [Some("mchid=1900000002"), None] {
            let why = r
                .notice_mismatch(&facts(&wx, account, exact))
                .expect("other account");
            assert!(why.contains("mchid=1900000109"), "{why}");
        }
        // Neither side names an account (a Stripe platform account): fine.
        let unnamed = NoticeFacts {
            our_account: None,
            ..facts(&wx, None, exact)
        };
        assert_eq!(r.notice_mismatch(&unnamed), None);

        for amount in [
            Some(NoticeAmount::Refund(499)),
            Some(NoticeAmount::Refund(501)),
            None,
        ] {
            assert!(
                r.notice_mismatch(&facts(&wx, ours, amount)).is_some(),
                "{amount:?}"
            );
        }
        // A cumulative amount: this refund and maybe others on the payment.
        for (total, ok) in [
            (500, true),
            (800, true),
            (1000, true),
            (499, false),
            (1001, false),
        ] {
            let amount = Some(NoticeAmount::RefundedOnPayment(total));
            assert_eq!(
                r.notice_mismatch(&facts(&wx, ours, amount)).is_none(),
                ok,
                "{total}"
            );
        }
    }

    #[test]
    fn a_refused_notice_is_on_the_trail_once_and_changes_nothing_else() {
        let mut r = refund();
        let before = r.clone();
        let later = r.updated_at + chrono::Duration::minutes(5);
        assert!(r.note_refused_notice("alipay: signed by alipay", later));
        // The provider's retries of the same notice: written once.
        assert!(!r.note_refused_notice("alipay: signed by alipay", later));
        assert!(r.note_refused_notice("wechat_pay: other amount", later));
        assert_eq!(r.history.len(), 2);
        let step = &r.history[0];
        assert_eq!(
            (step.what.as_str(), step.status, step.detail.as_deref()),
            (
                "notification_refused",
                RefundStatus::Pending,
                Some("alipay: signed by alipay")
            )
        );
        r.history.clear();
        assert_eq!(
            r,
            Refund {
                history: vec![],
                ..before
            }
        );
    }

    #[test]
    fn bank_card_routes_are_refused_naming_the_field() {
        let good = BankCard {
            bank: "招商银行".into(),
            holder: "Li Lei".into(),
            last4: "0403".into(),
            card_token: "tok_1-a".into(),
            confirmed: true,
        };
        assert_eq!(RefundRoute::BankCard(good.clone()).validate(), Ok(()));
        let refused = |change: fn(&mut BankCard)| {
            let mut c = good.clone();
            change(&mut c);
            RefundRoute::BankCard(c).validate().unwrap_err().to_string()
        };
        assert_eq!(
            refused(|c| c.holder = " ".into()),
            "refund_to.holder must be 1 to 64 characters"
        );
        assert_eq!(
            refused(|c| c.bank = "b".repeat(65)),
            "refund_to.bank must be 1 to 64 characters"
        );
        assert_eq!(
            refused(|c| c.last4 = "04a3".into()),
            "refund_to.last4 must be the card's last 4 digits"
        );
        assert_eq!(
            refused(|c| c.card_token = "tok 1".into()),
            "refund_to.card_token must be 1 to 128 of [A-Za-z0-9_-]"
        );
        assert_eq!(
            refused(|c| c.confirmed = false),
            "refund_to.confirmed: the customer must confirm the bank card"
        );
    }
}
