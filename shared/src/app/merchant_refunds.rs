//! Refunds staff make without a customer claim: goodwill, the difference
//! after a price drop, an item missing from the parcel. They take their
//! money through the same order ledger as claims (so nothing is ever
//! refunded twice), go to the same executor and leave the same audit trail.

use super::{
    actor_of, check_idempotency_key, money_of, recorded_resource, require_roles, retrying,
    AppError, Services,
};
use crate::auth::Principal;
use crate::domain::ledger::Ledger;
use crate::domain::ledger::LedgerEntry;
use crate::domain::ledger::LedgerError;
use crate::domain::ledger::LineRequest;
use crate::domain::money::Money;
use crate::domain::order::check_id;
use crate::domain::order::Order;
use crate::domain::refund::{self, Issue, MerchantReason, RefundOrigin, RefundRoute};
use crate::repo;
use crate::repo::Commit;
use crate::repo::IdempotencyRecord;
use crate::repo::OrderRecord;
use crate::repo::RepoError;
use serde::Deserialize;
use serde::Serialize;
use sha2::Digest;
use sha2::Sha256;

/// The body of `POST /v1/shops/{shop}/orders/{order}/refunds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantRefundRequest {
    pub reason: MerchantReason,
    /// Required for goodwill and price differences; for a missing item it
    /// defaults to what the missing units were paid.
    #[serde(default)]
    pub amount: Option<crate::domain::money::Amount>,
    /// The line a price difference or a missing item is about.
    #[serde(default)]
    pub line_id: Option<String>,
    /// Missing units (missing item only).
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Why, for the audit trail (and shown to some providers' customers).
    pub note: String,
    #[serde(default)]
    pub refund_to: RefundRoute,
}

/// What a merchant refund became: its refunds, one per payment drawn on.
#[derive(Debug, Serialize)]
pub struct MerchantRefundView {
    pub merchant_refund_id: String,
    pub order_id: crate::domain::ids::OrderId,
    pub reason: MerchantReason,
    pub amount: Money,
    pub refunds: Vec<super::refunds::RefundView>,
}

const MAX_NOTE: usize = 500;

/// Refunds money on an order without a claim. Staff with the admin or
/// finance role only: this moves money on a person's word alone. The
/// Idempotency-Key is required, so a double click refunds once.
pub async fn refund_without_claim(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
    body: MerchantRefundRequest,
    idempotency_key: Option<&str>,
) -> Result<(MerchantRefundView, bool), AppError> {
    require_roles(p, shop_id, crate::auth::MONEY_ROLES)?;
    let key = idempotency_key.ok_or_else(|| {
        AppError::invalid(
            "idempotency_key_required",
            "send an Idempotency-Key header: a refund must not happen twice",
        )
    })?;
    check_idempotency_key(key)?;
    check_id("order_id", order_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    check_request(&body)?;
    let scope = format!("shop:{shop_id}");
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&(order_id, &body)).expect("request serializes"),
    ));
    if let Some(found) = replay(s, &scope, key, &hash, shop_id, order_id).await? {
        return Ok((found, false));
    }
    let (body, scope, hash) = (&body, &scope, &hash);
    retrying(|| async move {
        let (mut rec, v) = repo::orders::get(&*s.table, shop_id, order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let amount = body
            .amount
            .map(|a| money_of("amount", a, rec.order.currency()))
            .transpose()?;
        let id = format!("mrf_{}", uuid::Uuid::now_v7().simple());
        let entry = take(&mut rec.ledger, &rec.order, &id, body, amount)?.clone();
        let now = s.now();
        let actor = actor_of(p);
        let refunds = refund::plan(
            &rec.order,
            &entry,
            &Issue {
                origin: RefundOrigin::Merchant {
                    merchant_refund_id: id.clone(),
                    reason: body.reason,
                    note: body.note.clone(),
                },
                origin_id: &id,
                route: &body.refund_to,
                actor: &actor,
                now,
            },
        );
        let mut c = Commit::new();
        c.order(&rec, Some(v)).new_refunds(&refunds, now).idempotency(
            scope,
            key,
            &IdempotencyRecord {
                request_hash: hash.clone(),
                resource_id: id.clone(),
            },
            now,
        );
        match repo::commit(&*s.table, c).await {
            Ok(()) => {
                let view = view(&id, &rec, &entry, body.reason, refunds)?;
                tracing::info!(merchant_refund_id = %id, order_id, amount = view.amount.minor(), "merchant refund issued");
                Ok((view, true))
            }
            // A twin request with the same key won: answer what it made.
            Err(
                e @ RepoError::Conflict {
                    duplicate: true,
                },
            ) => match replay(s, scope, key, hash, shop_id, order_id).await? {
                Some(found) => Ok((found, false)),
                None => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    })
    .await
}

fn check_request(b: &MerchantRefundRequest) -> Result<(), AppError> {
    let bad = |m: &str| Err(AppError::invalid("invalid_request", m));
    if b.note.trim().is_empty() || b.note.chars().count() > MAX_NOTE {
        return bad("note: say why, in 1 to 500 characters");
    }
    // A bank card is the customer's to name and confirm, never staff's: a
    // refund staff start goes back the way the money came, or to the
    // customer's store balance.
    if matches!(b.refund_to, RefundRoute::BankCard(_)) {
        return Err(AppError::invalid(
            "invalid_refund_route",
            "refunds without a claim go to the original route or the store balance",
        ));
    }
    match b.reason {
        MerchantReason::Goodwill if b.line_id.is_some() || b.quantity.is_some() => {
            bad("a goodwill refund is for the whole order: leave line_id and quantity out")
        }
        MerchantReason::Goodwill | MerchantReason::PriceDifference if b.amount.is_none() => {
            bad("amount is required")
        }
        MerchantReason::PriceDifference if b.line_id.is_none() || b.quantity.is_some() => {
            bad("a price difference names line_id (and no quantity)")
        }
        MerchantReason::MissingItem if b.line_id.is_none() || b.quantity.is_none() => {
            bad("a missing item names line_id and quantity")
        }
        _ => Ok(()),
    }
}

/// Takes the money (and, for a missing item, the units) from the ledger.
fn take<'l>(
    ledger: &'l mut Ledger,
    order: &Order,
    id: &str,
    b: &MerchantRefundRequest,
    amount: Option<Money>,
) -> Result<&'l LedgerEntry, AppError> {
    let entry = match (b.reason, amount) {
        (MerchantReason::MissingItem, _) => {
            let lines = [LineRequest {
                line_id: b.line_id.clone().unwrap_or_default(),
                quantity: b.quantity.unwrap_or(0),
                weight_grams: None,
            }];
            ledger.reserve(order, id, &lines, amount)?
        }
        (_, Some(a)) => {
            let scope: Vec<String> = b.line_id.iter().cloned().collect();
            ledger.reserve_money(order, id, &scope, a)?
        }
        (_, None) => return Err(AppError::invalid("invalid_request", "amount is required")),
    };
    if entry
        .amount(order.currency())
        .map_err(LedgerError::from)?
        .is_zero()
    {
        return Err(AppError::invalid(
            "invalid_amount",
            "nothing to refund: the amount is zero",
        ));
    }
    Ok(entry)
}

fn view(
    id: &str,
    rec: &OrderRecord,
    entry: &LedgerEntry,
    reason: MerchantReason,
    refunds: Vec<crate::domain::refund::Refund>,
) -> Result<MerchantRefundView, AppError> {
    Ok(MerchantRefundView {
        merchant_refund_id: id.to_owned(),
        order_id: rec.order.order_id.clone(),
        reason,
        amount: entry
            .amount(rec.order.currency())
            .map_err(LedgerError::from)?,
        refunds: refunds
            .into_iter()
            .map(super::refunds::refund_view)
            .collect(),
    })
}

/// The answer of an earlier request with this key, read back as it is now.
async fn replay(
    s: &Services,
    scope: &str,
    key: &str,
    hash: &str,
    shop_id: &str,
    order_id: &str,
) -> Result<Option<MerchantRefundView>, AppError> {
    let Some(id) = recorded_resource(s, scope, key, hash).await? else {
        return Ok(None);
    };
    let (rec, _) = repo::orders::get(&*s.table, shop_id, order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    let Some(entry) = rec.ledger.entry(&id) else {
        return Err(AppError::NotFound("merchant refund"));
    };
    let ids = refund::refund_ids(&rec.order, entry, &id);
    let ids: Vec<&str> = ids.iter().map(|r| r.as_str()).collect();
    let refunds: Vec<_> = repo::refunds::get_many(&*s.table, &ids)
        .await?
        .into_iter()
        .flatten()
        .map(|(r, _)| r)
        .collect();
    let reason = refunds
        .iter()
        .find_map(|r| match &r.origin {
            RefundOrigin::Merchant { reason, .. } => Some(*reason),
            RefundOrigin::Claim { .. } => None,
        })
        .unwrap_or(MerchantReason::Goodwill);
    Ok(Some(view(&id, &rec, entry, reason, refunds)?))
}
