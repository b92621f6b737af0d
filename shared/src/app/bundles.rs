//! Filing a claim on virtual goods and bundles: the codes a virtual-goods
//! claim gives back, and a return naming a bundle's goods and its virtual
//! part filed as two linked claims (see [`crate::domain::bundle`]).

use super::claims::SubmitClaim;
use super::AppError;
use crate::domain::bundle::{BundleLink, Split, Track};
use crate::domain::claim::{Actor, Claim, ClaimEvent, ClaimType, SpecialKind};
use crate::domain::filing::{self, Asked, Priced};
use crate::domain::ledger::OrderRecord;
use crate::domain::order::Order;
use crate::domain::policy::ShopPolicy;
use crate::domain::voucher::{self, ClaimVoucher, VoucherRefusal};
use chrono::{DateTime, Utc};

const VIRTUAL_UNUSED: ClaimType = ClaimType::SpecialClaim {
    kind: SpecialKind::VirtualUnused,
};

fn refused(e: VoucherRefusal) -> AppError {
    AppError::invalid(e.code(), e)
}

/// A return naming a bundle's goods and its virtual part, as two tracks.
pub(crate) fn split(order: &Order, body: &SubmitClaim) -> Option<Split> {
    crate::domain::bundle::split(
        order,
        body.claim_type == ClaimType::ReturnRefund,
        &body.lines,
    )
}

/// The goods' price when a return is split: everything their lines give
/// back (an amount would not say which part it is for).
pub(crate) fn price_goods(
    policy: &ShopPolicy,
    rec: &OrderRecord,
    body: &SubmitClaim,
    sp: &Split,
) -> Result<Priced, AppError> {
    if body.amount.is_some() {
        return Err(AppError::invalid(
            "bundle_amount",
            format!(
                "amount: a return of bundle {}'s goods with its virtual part takes everything both give back; leave amount out",
                sp.bundle_id
            ),
        ));
    }
    Ok(filing::price(
        policy,
        rec,
        &Asked {
            claim_type: body.claim_type,
            reason: body.reason,
            opened: body.opened,
            lines: &sp.goods,
            amount: None,
        },
    )?)
}

/// What a split return would give back in all: the goods (with their
/// return terms) and the virtual part, each everything its lines give.
pub(crate) fn quote_both(
    policy: &ShopPolicy,
    rec: &OrderRecord,
    body: &SubmitClaim,
    sp: &Split,
) -> Result<Priced, AppError> {
    let goods = price_goods(policy, rec, body, sp)?;
    let part = filing::price(
        policy,
        rec,
        &Asked {
            claim_type: VIRTUAL_UNUSED,
            reason: body.reason,
            opened: false,
            lines: &sp.virtual_part,
            amount: None,
        },
    )?;
    let cur = rec.order.currency();
    let sum = |a, b| {
        crate::domain::money::Money::checked_sum(cur, [a, b])
            .map_err(|e| AppError::from(crate::domain::ledger::LedgerError::from(e)))
    };
    Ok(Priced {
        requested: sum(goods.requested, part.requested)?,
        refundable: sum(goods.refundable, part.refundable)?,
        terms: goods.terms,
    })
}

/// The codes the claim as filed gives back: a virtual-goods claim names
/// them; any other claim names none (a split return's go to its virtual
/// part).
pub(crate) fn codes_of(
    order: &Order,
    body: &SubmitClaim,
    sp: Option<&Split>,
) -> Result<Vec<ClaimVoucher>, AppError> {
    if body.claim_type == VIRTUAL_UNUSED {
        return voucher::claim_vouchers(order, &body.lines, &body.voucher_codes).map_err(refused);
    }
    if !body.voucher_codes.is_empty() && sp.is_none() {
        return Err(refused(VoucherRefusal::Unexpected));
    }
    Ok(Vec::new())
}

/// Files the virtual part of a split return as its own virtual-goods
/// claim, on the same order record, and links the two claims.
#[allow(clippy::too_many_arguments)]
pub(crate) fn file_virtual_part(
    rec: &mut OrderRecord,
    policy: &ShopPolicy,
    body: &SubmitClaim,
    sp: &Split,
    goods: &mut Claim,
    customer_id: &crate::domain::ids::CustomerId,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(Claim, ClaimEvent), AppError> {
    let codes = voucher::claim_vouchers(&rec.order, &sp.virtual_part, &body.voucher_codes)
        .map_err(refused)?;
    let priced = filing::price(
        policy,
        rec,
        &Asked {
            claim_type: VIRTUAL_UNUSED,
            reason: body.reason,
            opened: false,
            lines: &sp.virtual_part,
            amount: None,
        },
    )?;
    let claim_id =
        crate::domain::ids::ClaimId::from(format!("clm_{}", uuid::Uuid::now_v7().simple()));
    let (mut part, event) = filing::file(
        rec,
        policy,
        filing::Filing {
            claim_id: claim_id.clone(),
            customer_id,
            claim_type: VIRTUAL_UNUSED,
            reason: body.reason,
            description: &body.description,
            evidence: &[],
            lines: &sp.virtual_part,
            refund_to: &body.refund_to,
            priced,
        },
        actor,
        now,
    )?;
    voucher::take(&mut rec.ledger, &claim_id, &codes).map_err(refused)?;
    part.vouchers = codes;
    part.bundle = Some(BundleLink {
        bundle_id: sp.bundle_id.clone(),
        track: Track::Virtual,
        partner_claim_id: goods.claim_id.clone(),
    });
    goods.bundle = Some(BundleLink {
        bundle_id: sp.bundle_id.clone(),
        track: Track::Goods,
        partner_claim_id: claim_id,
    });
    Ok((part, event))
}
