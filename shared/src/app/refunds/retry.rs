//! Sending a claim's failed refunds again, as new refunds.

use super::execution::standing_refunds;
use crate::app::{
    actor_of, change_claim, claim_view, require_roles, AppError, Change, ClaimView, Services,
};
use crate::auth::{Principal, MONEY_ROLES};
use crate::domain::claim::{ClaimEvent, ClaimStatus};
use crate::domain::refund::{Refund, RefundRoute, RefundStatus, RefundStep};
use crate::repo;
use serde::Deserialize;

/// Where staff send a claim's failed refunds again.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// `original` (default) or `store_balance`: a bank card is the
    /// customer's to name.
    #[serde(default)]
    pub refund_to: Option<RefundRoute>,
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
    require_roles(p, shop_id, MONEY_ROLES)?;
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
            let refund_id: crate::domain::ids::RefundId =
                format!("{}R{}", old.refund_id, claim.timeline.len()).into();
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
