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

use super::claim::Actor;
use super::ledger::LedgerEntry;
use super::money::Currency;
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
    Claim { claim_id: String },
    /// Staff refunding without a claim.
    Merchant {
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
    pub refund_id: String,
    pub shop_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub origin: RefundOrigin,
    pub payment_id: String,
    pub channel: PaymentChannel,
    pub provider_txn_id: String,
    /// Minor units of the original payment.
    pub payment_total: i64,
    /// Minor units to give back.
    pub amount: i64,
    pub currency: Currency,
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
    pub history: Vec<RefundStep>,
}

/// The out-refund number of a claim's refund from its `n`th payment.
pub fn refund_id_for(origin_id: &str, n: usize) -> String {
    let core: String = origin_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("RF{core}P{n}")
}

/// The refunds of an approved amount: one per payment the ledger entry
/// draws on (zero-amount draws make no refund).
pub fn plan(
    order: &Order,
    entry: &LedgerEntry,
    origin: RefundOrigin,
    origin_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Vec<Refund> {
    drawn_payments(order, entry)
        .map(|(j, amount)| {
            let p = &order.facts.payments[j];
            Refund {
                refund_id: refund_id_for(origin_id, j + 1),
                shop_id: order.shop_id.clone(),
                order_id: order.order_id.clone(),
                customer_id: order.facts.customer_id.clone(),
                origin: origin.clone(),
                payment_id: p.payment_id.clone(),
                channel: p.channel,
                provider_txn_id: p.provider_txn_id.clone(),
                payment_total: order.payment_minor(j),
                amount,
                currency: order.currency(),
                status: RefundStatus::Pending,
                attempts: 0,
                provider_refund_id: None,
                received_account: None,
                failure: None,
                created_at: now,
                updated_at: now,
                succeeded_at: None,
                history: vec![RefundStep {
                    at: now,
                    status: RefundStatus::Pending,
                    actor: actor.clone(),
                    what: "created".into(),
                    detail: None,
                }],
            }
        })
        .collect()
}

/// The payments a ledger entry draws money from: (index in the order's
/// payments, minor units). One refund each, numbered by that index.
fn drawn_payments<'a>(
    order: &'a Order,
    entry: &'a LedgerEntry,
) -> impl Iterator<Item = (usize, i64)> + 'a {
    entry
        .payments
        .iter()
        .filter(|d| d.amount > 0)
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
pub fn refund_ids(order: &Order, entry: &LedgerEntry, origin_id: &str) -> Vec<String> {
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

    /// A transient failure: noted, retried later.
    pub fn note_retry(&mut self, why: &str, now: DateTime<Utc>) {
        self.updated_at = now;
        self.history.push(RefundStep {
            at: now,
            status: self.status,
            actor: Actor::System,
            what: "retry_scheduled".into(),
            detail: Some(why.to_owned()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refund() -> Refund {
        let now = Utc::now();
        Refund {
            refund_id: refund_id_for("clm_01ab", 1),
            shop_id: "s".into(),
            order_id: "o".into(),
            customer_id: "c".into(),
            origin: RefundOrigin::Claim {
                claim_id: "clm_01ab".into(),
            },
            payment_id: "P1".into(),
            channel: PaymentChannel::WechatPay,
            provider_txn_id: "42".into(),
            payment_total: 1000,
            amount: 500,
            currency: Currency::Cny,
            status: RefundStatus::Pending,
            attempts: 0,
            provider_refund_id: None,
            received_account: None,
            failure: None,
            created_at: now,
            updated_at: now,
            succeeded_at: None,
            history: vec![],
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
}
