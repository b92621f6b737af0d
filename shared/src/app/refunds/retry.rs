//! Sending a claim's failed refunds again, as new refunds.

use crate::app::{
    actor_of, change_claim, claim_view, require_roles, AppError, ClaimView, Services,
};
use crate::auth::{Principal, MONEY_ROLES};
use crate::domain::refund::{send_again, standing_refunds, RefundRoute, RefundStatus};
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
    let ids = standing_refunds(&found);
    let ids: Vec<&str> = ids.iter().map(|r| r.as_str()).collect();
    let failed: Vec<_> = repo::refunds::get_many(&*s.table, &ids)
        .await?
        .into_iter()
        .flatten()
        .map(|(r, _)| r)
        .filter(|r| r.status == RefundStatus::Failed)
        .collect();
    let actor = actor_of(p);
    let claim = change_claim(s, claim_id, |claim, rec, now| {
        Ok(send_again(claim, rec, &failed, &route, actor.clone(), now)?)
    })
    .await?;
    Ok(claim_view(&claim))
}
