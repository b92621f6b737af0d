//! The finance export: a month of a shop's refunds as CSV, streamed.

use crate::app::{require_roles, AppError, Services};
use crate::auth::{Principal, MONEY_ROLES};
use crate::domain::money::{Currency, Money};
use crate::domain::refund::{Refund, RefundOrigin};
use crate::repo::{self, Cursor};
use crate::store::Index;

/// Refunds read per page of the export (one chunk of the body each).
pub const EXPORT_PAGE: u32 = 500;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// One chunk of the export as the HTTP body streams it.
type Chunk = Result<Vec<u8>, std::io::Error>;

/// Per (channel, currency, status) as written: the currency and the sum in
/// its minor units. Keyed by the written names so that the totals come out
/// in a stable order and name things exactly as the rows above them do.
type Totals = BTreeMap<(String, String, &'static str), (Currency, i64)>;

/// The export's columns, the same names as the API's fields.
const HEADER: [&str; 14] = [
    "refund_id",
    "created_at",
    "order_id",
    "claim_id",
    "customer_id",
    "channel",
    "payment_id",
    "provider_txn_id",
    "amount",
    "currency",
    "status",
    "provider_refund_id",
    "succeeded_at",
    "failure",
];

/// How a unit enum is written in JSON (`wechat_pay`, `CNY`): the CSV uses
/// the same names as the API.
fn wire_name<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The finance export of one month (`YYYY-MM`, by creation time, UTC): one
/// CSV row per refund, then totals per channel and status, amounts exact to
/// the minor unit. Produced page by page, so a big month never sits in
/// memory whole. Finance and admins only.
pub async fn export_month(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    month: &str,
) -> Result<impl futures_util::Stream<Item = Chunk>, AppError> {
    require_roles(p, shop_id, MONEY_ROLES)?;
    let (start, end) = month_bounds(month)?;
    let state = Export {
        s: s.clone(),
        shop_id: shop_id.to_owned(),
        start,
        end,
        after: None,
        header_done: false,
        finished: false,
        totals: Totals::default(),
    };
    Ok(futures_util::stream::unfold(state, next_chunk))
}

/// The month's first instant and the next month's, checked before anything
/// streams: once the body has started, a bad month could no longer be
/// answered with a 400.
fn month_bounds(month: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
    let start = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| AppError::invalid("invalid_month", "month is YYYY-MM"))?;
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| AppError::invalid("invalid_month", "month out of range"))?;
    Ok((
        start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        end.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
    ))
}

/// Everything the stream carries from one chunk to the next: the body is
/// sent while the table is still being read, so the totals can only be
/// summed along the way.
struct Export {
    s: Services,
    shop_id: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    after: Option<Cursor>,
    header_done: bool,
    finished: bool,
    totals: Totals,
}

/// One page of refunds becomes one chunk (with the header before the first
/// page's rows and the totals after the last's), so memory holds a page at
/// a time. A failed read ends the stream with an error rather than with
/// totals, so that a cut export cannot pass for a whole one.
async fn next_chunk(mut st: Export) -> Option<(Chunk, Export)> {
    if st.finished {
        return None;
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    if !st.header_done {
        st.header_done = true;
        let _ = w.write_record(HEADER);
    }
    // The month's refunds only: a prefix of the shop index's sort key
    // (`{created}#{refund}`), newest first, every one of them page by page.
    let month = st.start.format("%Y-%m").to_string();
    let page = repo::refunds::page(
        &*st.s.table,
        Index::Gsi2,
        &repo::refunds::shop_partition(&st.shop_id),
        Some(&month),
        EXPORT_PAGE,
        st.after.take(),
    )
    .await;
    let (refunds, next) = match page {
        Ok(p) => p,
        Err(e) => {
            st.finished = true;
            return Some((Err(std::io::Error::other(e.to_string())), st));
        }
    };
    let past_month = write_page(&mut w, &mut st, refunds);
    let mut bytes = w.into_inner().unwrap_or_default();
    match next {
        Some(n) if !past_month => st.after = Some(n),
        _ => {
            st.finished = true;
            bytes = write_totals(bytes, &st.totals);
        }
    }
    Some((Ok(bytes), st))
}

/// Writes the page's refunds of the month and says whether the page
/// reached back before it. Pages come newest first, so later refunds are
/// skipped and the first earlier one ends the export: the shop's older
/// history is never read.
fn write_page(w: &mut csv::Writer<Vec<u8>>, st: &mut Export, refunds: Vec<Refund>) -> bool {
    for r in refunds {
        if r.created_at >= st.end {
            continue;
        }
        if r.created_at < st.start {
            return true;
        }
        write_row(w, &mut st.totals, &r);
    }
    false
}

/// One refund's row, counted into the totals from the same written names
/// and exact minor units, so that the totals add up to the rows.
fn write_row(w: &mut csv::Writer<Vec<u8>>, totals: &mut Totals, r: &Refund) {
    let amount = r.amount.amount().to_string();
    let currency = wire_name(&r.currency());
    let channel = wire_name(&r.channel);
    // Summed in minor units of the currency the row is keyed by.
    totals
        .entry((channel.clone(), currency.clone(), r.status.as_str()))
        .or_insert((r.currency(), 0))
        .1 += r.amount.minor();
    let claim = match &r.origin {
        RefundOrigin::Claim { claim_id } => claim_id.to_string(),
        RefundOrigin::Merchant { .. } => String::new(),
    };
    let _ = w.write_record([
        r.refund_id.as_str(),
        &r.created_at.to_rfc3339(),
        &r.order_id,
        &claim,
        &r.customer_id,
        &channel,
        &r.payment_id,
        &r.provider_txn_id,
        &amount,
        &currency,
        r.status.as_str(),
        r.provider_refund_id.as_deref().unwrap_or(""),
        &r.succeeded_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        r.failure.as_deref().unwrap_or(""),
    ]);
}

/// An empty line, then the totals after the last row. They have columns of
/// their own, and a CSV writer refuses records of another length than its
/// first, hence a writer of their own.
fn write_totals(mut bytes: Vec<u8>, totals: &Totals) -> Vec<u8> {
    bytes.push(b'\n');
    let mut t = csv::Writer::from_writer(bytes);
    let _ = t.write_record(["total", "channel", "currency", "status", "amount"]);
    for ((channel, currency, status), (cur, minor)) in totals {
        let amount = Money::from_minor(*minor, *cur).amount().to_string();
        let _ = t.write_record(["total", channel, currency, status, &amount]);
    }
    t.into_inner().unwrap_or_default()
}
