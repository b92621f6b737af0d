//! Staff looking up their shop's refunds.

use super::view::{refund_view, RefundView};
use crate::app::claims::{decode_cursor, encode_cursor};
use crate::app::{require_staff, AppError, Services};
use crate::auth::Principal;
use crate::domain::order::check_id;
use crate::domain::refund::{Refund, RefundOrigin, RefundStatus};
use crate::repo;
use crate::repo::refunds::phone_digits;
use crate::store::Index;
use serde::{Deserialize, Serialize};

/// Staff search their shop's refunds: by order, claim, customer or the
/// customer's phone (the order's, compared digit by digit so that spaces,
/// dashes and a +86 prefix do not matter), newest first, a page at a time.
/// The narrowest filter is served by an index (order, a claim through its
/// order, phone, status; else the shop's refunds by time), the others are
/// checked on the refunds read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundSearch {
    pub order_id: Option<String>,
    pub claim_id: Option<String>,
    pub customer_id: Option<String>,
    pub customer_phone: Option<String>,
    pub status: Option<RefundStatus>,
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (same filters).
    pub cursor: Option<String>,
}

/// The order of one of the shop's claims (None: no such claim of the shop).
async fn claim_order(
    s: &Services,
    shop_id: &str,
    claim_id: &str,
) -> Result<Option<String>, AppError> {
    if check_id("claim_id", claim_id).is_err() {
        return Ok(None);
    }
    Ok(repo::claims::get(&*s.table, claim_id)
        .await?
        .filter(|(c, _)| c.shop_id == shop_id)
        .map(|(c, _)| c.order_id.to_string()))
}

/// A search page reads at most this many refunds (matching or not): a
/// search the indexes serve only in part may come back short, with
/// `next_cursor` to go on from where it stopped. Nothing is left out.
pub const SEARCH_PAGE_SCAN: usize = 2_000;

/// A page of the search.
#[derive(Debug, Serialize)]
pub struct SearchPage {
    pub refunds: Vec<RefundView>,
    /// Pass as `cursor` (with the same filters) for more; null at the end.
    pub next_cursor: Option<String>,
}

pub async fn search(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    q: &RefundSearch,
) -> Result<SearchPage, AppError> {
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
    let mut after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    if after
        .as_ref()
        .is_some_and(|c| !repo::refunds::is_refund_cursor(c))
    {
        return Err(AppError::invalid(
            "invalid_cursor",
            "cursor is not one this API gave out",
        ));
    }
    repo::indexes::ensure(&*s.table, shop_id).await?;
    // The narrowest index the filters name: an order (a claim's own
    // order), a phone, a status; else every refund of the shop.
    let none = || SearchPage {
        refunds: vec![],
        next_cursor: None,
    };
    let order_id = match (&q.order_id, &q.claim_id) {
        // An id no order can have names no partition of ours.
        (Some(o), _) if check_id("order_id", o).is_err() => return Ok(none()),
        (Some(o), _) => Some(o.clone()),
        (None, Some(c)) => match claim_order(s, shop_id, c).await? {
            Some(o) => Some(o),
            // No such claim of this shop: no refund of it either.
            None => return Ok(none()),
        },
        (None, None) => None,
    };
    let (index, partition) = if let Some(o) = &order_id {
        (Index::Gsi4, repo::refunds::order_partition(shop_id, o))
    } else if let Some(ph) = &phone {
        (Index::Gsi5, repo::refunds::phone_partition(shop_id, ph))
    } else if let Some(st) = q.status {
        (Index::Gsi3, repo::refunds::status_partition(shop_id, st))
    } else {
        (Index::Gsi2, repo::refunds::shop_partition(shop_id))
    };
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
    let mut scanned = 0;
    let mut next_cursor = None;
    'pages: loop {
        // The first read asks for what the page needs (plus one, to know
        // whether more follow); later ones for more at a time.
        let page_size = if scanned == 0 { limit + 1 } else { 500 };
        let (page, next) =
            repo::refunds::page(&*s.table, index, &partition, None, page_size, after.take())
                .await?;
        let n = page.len();
        for (i, r) in page.into_iter().enumerate() {
            scanned += 1;
            let stop_after = repo::refunds::position(&r);
            if matches(&r) {
                out.push(r);
            }
            if out.len() == limit as usize || scanned >= SEARCH_PAGE_SCAN {
                // More may follow: go on after this refund next time.
                if i + 1 < n || next.is_some() {
                    next_cursor = Some(encode_cursor(&stop_after));
                }
                break 'pages;
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(SearchPage {
        refunds: out.into_iter().map(refund_view).collect(),
        next_cursor,
    })
}
