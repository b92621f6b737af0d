//! Claims as customers file, read, list and cancel them.

use super::{
    actor_of, check_idempotency_key, money_of, recorded_resource, retrying, AppError, Services,
};
use crate::auth::Principal;
use crate::domain::claim::Claim;
use crate::domain::claim::ClaimType;
use crate::domain::claim::ReasonCode;
use crate::domain::filing::{self, Asked, Priced};
use crate::domain::ledger::LineRequest;
use crate::domain::money::Money;
use crate::domain::order::check_id;
use crate::domain::policy::ShopPolicy;
use crate::repo;
use crate::repo::claims::Owner;
use crate::repo::Commit;
use crate::repo::Cursor;
use crate::repo::IdempotencyRecord;
use crate::repo::OrderRecord;
use crate::repo::RepoError;
use chrono::DateTime;
use chrono::Utc;
use serde::Deserialize;
use serde::Serialize;
use sha2::Digest;
use sha2::Sha256;

/// The body of a claim submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitClaim {
    pub shop_id: crate::domain::ids::ShopId,
    pub order_id: crate::domain::ids::OrderId,
    #[serde(flatten)]
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub lines: Vec<LineRequest>,
    /// Defaults to everything the lines can give back.
    #[serde(default)]
    pub amount: Option<crate::domain::money::Amount>,
    /// Where approved money goes: the original payment route unless the
    /// customer picks their store balance or confirms a bank card.
    #[serde(default)]
    pub refund_to: crate::domain::refund::RefundRoute,
    /// The customer opened the goods (a no-reason return of opened goods
    /// may carry the shop's restocking fee).
    #[serde(default)]
    pub opened: bool,
    /// The voucher codes a claim on virtual goods gives back, one per unit
    /// of each claimed line that carries codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub voucher_codes: Vec<String>,
}

/// What a caller sees of a claim: money as `{amount, currency}` objects.
#[derive(Debug, Serialize)]
pub struct ClaimView {
    pub claim_id: crate::domain::ids::ClaimId,
    pub shop_id: crate::domain::ids::ShopId,
    pub order_id: crate::domain::ids::OrderId,
    pub customer_id: crate::domain::ids::CustomerId,
    #[serde(flatten)]
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub description: String,
    pub evidence: Vec<String>,
    pub lines: Vec<ClaimLineJson>,
    pub requested_amount: Money,
    pub approved_amount: Option<Money>,
    pub status: crate::domain::claim::ClaimStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub refund_to: crate::domain::refund::RefundRoute,
    /// Goods travelling: return terms, pickup, parcels, inspection report.
    pub returns: serde_json::Value,
    /// Each step as stored, with event amounts shown as money.
    pub timeline: Vec<serde_json::Value>,
    /// The customer's dispute of the decision, once opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispute: Option<crate::domain::dispute::Dispute>,
    /// A late pre-sale's compensation beyond the payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Money>,
    /// The codes a virtual-goods claim gives back, with the issuer's (or
    /// the storefront's) word on each: the claim's evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vouchers: Vec<crate::domain::voucher::ClaimVoucher>,
    /// A bundle's track this claim is, and the claim with the other part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<crate::domain::bundle::BundleLink>,
    /// An appliance fault claim's installation records, as the installer
    /// network reported them: evidence for the customer and staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installations: Option<Vec<crate::domain::appliance::InstallationRecord>>,
    /// A cross-border customs claim: what it gives back in parts (goods,
    /// duties, taxes, international shipping) and the clearance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_border: Option<crate::domain::crossborder::CustomsClaim>,
}

#[derive(Debug, Serialize)]
pub struct ClaimLineJson {
    pub line_id: String,
    pub quantity: u32,
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
}

pub fn claim_view(c: &Claim) -> ClaimView {
    ClaimView {
        claim_id: c.claim_id.clone(),
        shop_id: c.shop_id.clone(),
        order_id: c.order_id.clone(),
        customer_id: c.customer_id.clone(),
        claim_type: c.claim_type,
        reason: c.reason,
        description: c.description.clone(),
        evidence: c.evidence.clone(),
        lines: c
            .lines
            .iter()
            .map(|l| ClaimLineJson {
                line_id: l.line_id.clone(),
                quantity: l.quantity,
                amount: l.amount,
                weight_grams: l.weight_grams,
            })
            .collect(),
        requested_amount: c.requested_amount,
        approved_amount: c.approved_amount,
        status: c.status,
        created_at: c.created_at,
        updated_at: c.updated_at,
        refund_to: c.refund_to.clone(),
        returns: serde_json::to_value(&c.returns).expect("return info serializes"),
        timeline: c
            .timeline
            .iter()
            .map(|e| serde_json::to_value(e).expect("timeline entries serialize"))
            .collect(),
        dispute: c.dispute.clone(),
        compensation: c.compensation,
        vouchers: c.vouchers.clone(),
        bundle: c.bundle.clone(),
        installations: c
            .appliance
            .as_ref()
            .filter(|a| a.asked_at.is_some())
            .map(|a| a.installations.clone()),
        cross_border: c.cross_border.clone(),
    }
}

fn request_hash(body: &SubmitClaim) -> String {
    // Hash the parsed request, not its bytes: the same claim sent with other
    // whitespace or key order is the same request.
    let canonical = serde_json::to_vec(body).expect("request serializes");
    hex::encode(Sha256::digest(canonical))
}

/// Files a claim against one of the customer's orders.
///
/// Returns the claim and whether it was made now (false: a replay of an
/// earlier request with the same Idempotency-Key and body).
pub async fn submit_claim(
    s: &Services,
    p: &Principal,
    body: SubmitClaim,
    idempotency_key: Option<&str>,
) -> Result<(ClaimView, bool), AppError> {
    let Principal::Customer { customer_id } = p else {
        return Err(AppError::Forbidden("only customers file claims".into()));
    };
    check_id("shop_id", &body.shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    check_id("order_id", &body.order_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    if let Some(k) = idempotency_key {
        check_idempotency_key(k)?;
    }
    body.refund_to
        .validate()
        .map_err(|m| AppError::invalid("invalid_refund_route", m))?;
    // A bank card needs a payout provider; without one the refund could
    // never be sent.
    if matches!(
        body.refund_to,
        crate::domain::refund::RefundRoute::BankCard(_)
    ) && !s.bank_payouts
        && s.providers
            .get(crate::domain::order::PaymentChannel::BankCard)
            .is_none()
    {
        return Err(AppError::invalid(
            "route_unavailable",
            "this shop cannot pay refunds out to bank cards; choose the original route or the store balance",
        ));
    }
    let hash = request_hash(&body);
    if let Some(k) = idempotency_key {
        if let Some(found) = replay(s, customer_id, k, &hash).await? {
            return Ok((found, false));
        }
    }
    let policy = &super::policy::policy_for(s, &body.shop_id).await?;
    let (body, hash) = (&body, &hash);
    retrying(|| async move {
        let Some((mut rec, v)) =
            repo::orders::get(&*s.table, &body.shop_id, &body.order_id).await?
        else {
            return Err(AppError::NotFound("order"));
        };
        // Someone else's order looks exactly like a missing one.
        if rec.order.facts.customer_id != *customer_id {
            return Err(AppError::NotFound("order"));
        }
        let split = super::bundles::split(&rec.order, body);
        let priced = match &split {
            Some(sp) => super::bundles::price_goods(policy, &rec, body, sp)?,
            None => price(policy, &rec, body)?,
        };
        let codes = super::bundles::codes_of(&rec.order, body, split.as_ref())?;
        // Evidence named at submission: uploads of this customer for this
        // shop that landed and no claim carries yet (counted first: a body
        // naming thousands of keys costs no reads).
        let cap = super::evidence::cap(&policy.evidence);
        crate::domain::evidence::check_count(&body.evidence, cap)?;
        let uploads = super::evidence::named_uploads(s, &body.evidence).await?;
        crate::domain::evidence::check_named(
            &body.evidence,
            &uploads
                .iter()
                .map(|u| u.as_ref().map(|(u, _)| u.clone()))
                .collect::<Vec<_>>(),
            customer_id,
            &body.shop_id,
            &policy.evidence,
            cap,
        )?;
        let claim_id =
            crate::domain::ids::ClaimId::from(format!("clm_{}", uuid::Uuid::now_v7().simple()));
        let filing = filing::Filing {
            claim_id: claim_id.clone(),
            customer_id,
            claim_type: body.claim_type,
            reason: body.reason,
            description: &body.description,
            evidence: &body.evidence,
            lines: split.as_ref().map_or(&body.lines, |sp| &sp.goods),
            refund_to: &body.refund_to,
            priced,
        };
        let now = s.now();
        let (mut claim, event) = filing::file(&mut rec, policy, filing, actor_of(p), now)?;
        crate::domain::voucher::take(&mut rec.ledger, &claim.claim_id, &codes)
            .map_err(|e| AppError::invalid(e.code(), e))?;
        claim.vouchers = codes;
        let part = match &split {
            Some(sp) => Some(super::bundles::file_virtual_part(
                &mut rec,
                policy,
                body,
                sp,
                &mut claim,
                customer_id,
                actor_of(p),
                now,
            )?),
            None => None,
        };
        let mut c = Commit::new();
        if let Some((part, ev)) = &part {
            c.claim(part, None).claim_events(part, [ev], now);
            if let Some(due) = part.review.due_at {
                c.deadline(&part.claim_id, due);
            }
        }
        c.order(&rec, Some(v))
            .claim(&claim, None)
            .claim_events(&claim, [&event], now);
        if let Some(k) = idempotency_key {
            c.idempotency(
                customer_id,
                k,
                &IdempotencyRecord {
                    request_hash: hash.clone(),
                    resource_id: claim_id.to_string(),
                },
                now,
            );
        }
        if let Some(due) = claim.review.due_at {
            c.deadline(&claim.claim_id, due);
        }
        // Each upload goes to this claim only: a twin submission naming it
        // loses the race on its version.
        for (u, v) in uploads.iter().flatten() {
            c.upload(&u.attach(&claim_id), Some(*v));
        }
        match repo::commit(&*s.table, c).await {
            Ok(()) => Ok((claim_view(&claim), true)),
            // A twin request with the same key won: answer what it made.
            Err(RepoError::Conflict { duplicate: true }) => {
                match replay(s, customer_id, idempotency_key.unwrap_or_default(), hash).await? {
                    Some(found) => Ok((found, false)),
                    None => Err(RepoError::Conflict { duplicate: true }.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// The amount a submission asks for, priced by the domain against the
/// order's ledger and the shop's policy (the amount sent is read in the
/// order's currency first).
fn price(policy: &ShopPolicy, rec: &OrderRecord, body: &SubmitClaim) -> Result<Priced, AppError> {
    let asked = body
        .amount
        .map(|a| money_of("amount", a, rec.order.currency()))
        .transpose()?;
    Ok(filing::price(
        policy,
        rec,
        &Asked {
            claim_type: body.claim_type,
            reason: body.reason,
            opened: body.opened,
            lines: &body.lines,
            amount: asked,
        },
    )?)
}

/// What filing a claim would give and cost, shown before submitting.
#[derive(Debug, Serialize)]
pub struct ClaimQuote {
    /// What the lines can give back.
    pub refundable: Money,
    /// Deducted for a no-reason return of opened goods.
    pub restocking_fee: Money,
    /// What the claim would ask for (the amount given, or the most).
    pub refund: Money,
    /// For goods going back: who pays the parcel, and what the shop adds to
    /// the refund for it.
    pub return_shipping: Option<ReturnShippingQuote>,
}

#[derive(Debug, Serialize)]
pub struct ReturnShippingQuote {
    pub payer: crate::domain::returns::ShippingPayer,
    pub shipping_refund: Money,
}

/// Prices a submission without filing it: same checks, nothing written.
pub async fn quote_claim(
    s: &Services,
    p: &Principal,
    body: SubmitClaim,
) -> Result<ClaimQuote, AppError> {
    let Principal::Customer { customer_id } = p else {
        return Err(AppError::Forbidden("only customers file claims".into()));
    };
    check_id("shop_id", &body.shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    check_id("order_id", &body.order_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    let Some((rec, _)) = repo::orders::get(&*s.table, &body.shop_id, &body.order_id).await? else {
        return Err(AppError::NotFound("order"));
    };
    if rec.order.facts.customer_id != *customer_id {
        return Err(AppError::NotFound("order"));
    }
    let policy = super::policy::policy_for(s, &body.shop_id).await?;
    let priced = match super::bundles::split(&rec.order, &body) {
        Some(sp) => super::bundles::quote_both(&policy, &rec, &body, &sp)?,
        None => price(&policy, &rec, &body)?,
    };
    Ok(ClaimQuote {
        refundable: priced.refundable,
        restocking_fee: priced
            .terms
            .as_ref()
            .map_or(Money::zero(rec.order.currency()), |t| t.restocking_fee),
        refund: priced.requested,
        return_shipping: priced.terms.map(|t| ReturnShippingQuote {
            payer: t.shipping_payer,
            shipping_refund: t.shipping_refund,
        }),
    })
}

async fn replay(
    s: &Services,
    customer_id: &str,
    key: &str,
    hash: &str,
) -> Result<Option<ClaimView>, AppError> {
    let Some(claim_id) = recorded_resource(s, customer_id, key, hash).await? else {
        return Ok(None);
    };
    let (claim, _) = repo::claims::get(&*s.table, &claim_id)
        .await?
        .ok_or(AppError::NotFound("claim"))?;
    Ok(Some(claim_view(&claim)))
}

/// Loads a claim the principal may see; others' claims are "not found".
pub(crate) async fn visible_claim(
    s: &Services,
    p: &Principal,
    claim_id: &str,
) -> Result<(Claim, u64), AppError> {
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("claim"))?;
    let (c, v) = repo::claims::get(&*s.table, claim_id)
        .await?
        .ok_or(AppError::NotFound("claim"))?;
    let visible = match p {
        Principal::Customer { customer_id } => c.customer_id == *customer_id,
        Principal::Staff { shop_id, .. } | Principal::Storefront { shop_id } => {
            c.shop_id == *shop_id
        }
    };
    if visible {
        Ok((c, v))
    } else {
        Err(AppError::NotFound("claim"))
    }
}

/// The caller may act on this claim: its customer, or its shop's staff.
/// Anyone else's claim looks exactly like a missing one.
pub(crate) fn check_party(p: &Principal, claim: &Claim) -> Result<(), AppError> {
    match p {
        Principal::Customer { customer_id } if *customer_id == claim.customer_id => Ok(()),
        Principal::Staff { shop_id, .. } if *shop_id == claim.shop_id => Ok(()),
        _ => Err(AppError::NotFound("claim")),
    }
}

/// The shop's claim (the desk's); a claim of another shop looks exactly
/// like a missing one.
pub async fn shop_claim(s: &Services, shop_id: &str, claim_id: &str) -> Result<Claim, AppError> {
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("claim"))?;
    match repo::claims::get(&*s.table, claim_id).await? {
        Some((c, _)) if c.shop_id == shop_id => Ok(c),
        _ => Err(AppError::NotFound("claim")),
    }
}

/// [`check_party`] for a claim by id, before anything else about the
/// request is read (the HTTP access layer).
pub async fn claim_party(s: &Services, p: &Principal, claim_id: &str) -> Result<(), AppError> {
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("claim"))?;
    let (c, _) = repo::claims::get(&*s.table, claim_id)
        .await?
        .ok_or(AppError::NotFound("claim"))?;
    check_party(p, &c)
}

pub async fn get_claim(s: &Services, p: &Principal, claim_id: &str) -> Result<ClaimView, AppError> {
    Ok(claim_view(&visible_claim(s, p, claim_id).await?.0))
}

#[derive(Debug, Serialize)]
pub struct ClaimList {
    pub claims: Vec<ClaimView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn encode_cursor(c: &Cursor) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).expect("cursor serializes"))
}

pub fn decode_cursor(s: &str) -> Result<Cursor, AppError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AppError::invalid("invalid_cursor", "cursor is not one this API gave out"))
}

/// A customer's own claims, or a shop's, newest first.
pub async fn list_claims(
    s: &Services,
    p: &Principal,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<ClaimList, AppError> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("invalid_limit", "limit must be 1 to 100"));
    }
    let after = cursor.map(decode_cursor).transpose()?;
    let owner = match p {
        Principal::Customer { customer_id } => Owner::Customer(customer_id),
        Principal::Staff { shop_id, .. } | Principal::Storefront { shop_id } => {
            Owner::Shop(shop_id)
        }
    };
    let (claims, next) = repo::claims::list(&*s.table, owner, limit, after).await?;
    Ok(ClaimList {
        claims: claims.iter().map(claim_view).collect(),
        next_cursor: next.as_ref().map(encode_cursor),
    })
}

/// The customer withdraws a claim; its units and money go back to the order.
pub async fn cancel_claim(
    s: &Services,
    p: &Principal,
    claim_id: &str,
) -> Result<ClaimView, AppError> {
    if !matches!(p, Principal::Customer { .. }) {
        return Err(AppError::Forbidden(
            "only the customer cancels a claim; staff reject or close it".into(),
        ));
    }
    retrying(|| async move {
        let (mut claim, cv) = visible_claim(s, p, claim_id).await?;
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let now = s.now();
        let event = claim.cancel(actor_of(p), now)?;
        rec.ledger.release(&claim.claim_id)?;
        let mut c = Commit::new();
        super::appliance::release_pickup(s, &claim, &mut c).await?;
        c.claim(&claim, Some(cv))
            .order(&rec, Some(ov))
            .claim_events(&claim, [&event], now);
        repo::commit(&*s.table, c).await?;
        Ok(claim_view(&claim))
    })
    .await
}
