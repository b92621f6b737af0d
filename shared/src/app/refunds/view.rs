//! A refund as staff and finance see it, apart from the use cases because
//! search and merchant refunds both answer with it.

use crate::domain::ids::{ClaimId, CustomerId, OrderId, RefundId};
use crate::domain::money::Money;
use crate::domain::refund::{Refund, RefundOrigin, RefundStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A refund as staff and finance see it: money as money, the audit trail.
#[derive(Debug, Serialize)]
pub struct RefundView {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    /// The claim it pays back; None for merchant-initiated refunds.
    pub claim_id: Option<ClaimId>,
    pub customer_id: CustomerId,
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
        amount: r.amount,
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
