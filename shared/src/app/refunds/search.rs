//! Staff looking up their shop's refunds.

use super::view::{refund_view, RefundView};
use crate::app::{require_staff, AppError, Services};
use crate::auth::Principal;
use crate::domain::refund::{Refund, RefundOrigin, RefundStatus};
use crate::repo;
use serde::Deserialize;

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
