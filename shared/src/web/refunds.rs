//! The desk's refunds (`/desk/refunds`): the shop's refunds found by order
//! or by the customer's phone, a page at a time, and the month's finance
//! export as a CSV download (`/desk/refunds/export`). Both call the API's
//! use cases (`app::refunds::search`, `app::refunds::export_month`; `GET
//! /v1/shops/{shop_id}/refunds` and `.../refunds/export`) with the
//! signed-in staff member: the export is for finance and admins, as there.

use super::desk::{desk_nav, staff_shop};
use super::pages::{layout, money, when};
use super::{Ctx, Form, WebState};
use crate::app::refunds::{self, RefundSearch, SearchPage};
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

/// The page's words.
struct RefundsText {
    title: &'static str,
    search: &'static str,
    search_hint: &'static str,
    order_id: &'static str,
    phone: &'static str,
    find: &'static str,
    none_found: &'static str,
    refund: &'static str,
    claim: &'static str,
    channel: &'static str,
    amount: &'static str,
    status: &'static str,
    created: &'static str,
    next_page: &'static str,
    export: &'static str,
    export_hint: &'static str,
    month: &'static str,
    download: &'static str,
    bad_month: &'static str,
}

static ZH_CN: RefundsText = RefundsText {
    title: "退款查询",
    search: "查找退款",
    search_hint: "按订单号或顾客手机号查找（手机号至少 6 位数字，空格、横线与 +86 不影响）。",
    order_id: "订单号",
    phone: "顾客手机号",
    find: "查找",
    none_found: "没有符合条件的退款。",
    refund: "退款单",
    claim: "售后单",
    channel: "渠道",
    amount: "金额",
    status: "状态",
    created: "创建时间",
    next_page: "下一页",
    export: "月度财务导出",
    export_hint:
        "下载某月（按创建时间，UTC）全部退款的 CSV，含按渠道与状态的合计。仅限财务与管理员。",
    month: "月份（YYYY-MM）",
    download: "下载 CSV",
    bad_month: "月份格式应为 YYYY-MM。",
};

static EN: RefundsText = RefundsText {
    title: "Refunds",
    search: "Find refunds",
    search_hint: "By order or by the customer's phone (at least 6 digits; spaces, dashes and +86 do not matter).",
    order_id: "Order",
    phone: "Customer's phone",
    find: "Find",
    none_found: "No refunds match.",
    refund: "Refund",
    claim: "Claim",
    channel: "Channel",
    amount: "Amount",
    status: "Status",
    created: "Created",
    next_page: "Next page",
    export: "Monthly finance export",
    export_hint: "Download every refund of a month (by creation, UTC) as CSV, with totals per channel and status. Finance and admins only.",
    month: "Month (YYYY-MM)",
    download: "Download CSV",
    bad_month: "Months are written YYYY-MM.",
};

fn rt(ctx: &Ctx) -> &'static RefundsText {
    match ctx.lang {
        super::Lang::ZhCn => &ZH_CN,
        super::Lang::En => &EN,
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The search a query asks for, as the API reads its query: empty fields
/// are not filters.
fn search_of(q: &Form) -> RefundSearch {
    let field = |name: &str| Some(q.get(name).trim().to_owned()).filter(|v| !v.is_empty());
    RefundSearch {
        order_id: field("order_id"),
        customer_phone: field("customer_phone"),
        cursor: field("cursor"),
        limit: Some(50),
        ..RefundSearch::default()
    }
}

pub(super) async fn page(State(st): State<WebState>, ctx: Ctx, uri: Uri) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let q = Form::parse(uri.query().unwrap_or("").as_bytes());
    let search = search_of(&q);
    // Nothing asked yet: the forms alone.
    let asked = search.order_id.is_some() || search.customer_phone.is_some();
    let found = if asked {
        match refunds::search(&st.services, p, &shop, &search).await {
            Ok(f) => Some(f),
            Err(e) => return ctx.error(&e),
        }
    } else {
        None
    };
    ctx.ok(markup(&ctx, &shop, &q, found.as_ref(), None))
}

fn markup(
    ctx: &Ctx,
    shop: &str,
    q: &Form,
    found: Option<&SearchPage>,
    problem: Option<&str>,
) -> Markup {
    let r = rt(ctx);
    let next = found.and_then(|f| f.next_cursor.as_ref()).map(|c| {
        format!(
            "/desk/refunds?order_id={}&customer_phone={}&cursor={}",
            enc(q.get("order_id")),
            enc(q.get("customer_phone")),
            enc(c)
        )
    });
    layout(
        ctx,
        r.title,
        html! {
            h1 { (r.title) " · " (shop) }
            (desk_nav(ctx))
            @if let Some(p) = problem { div.alert role="alert" #export-error { (p) } }
            section.card aria-labelledby="search-h" {
                h2 #search-h { (r.search) }
                p.hint { (r.search_hint) }
                form #refund-search method="get" action="/desk/refunds" {
                    label for="search-order" { (r.order_id) }
                    input #search-order type="text" name="order_id" value=(q.get("order_id"));
                    label for="search-phone" { (r.phone) }
                    input #search-phone type="text" name="customer_phone" inputmode="tel" value=(q.get("customer_phone"));
                    button.secondary type="submit" { (r.find) }
                }
                @if let Some(f) = found {
                    @if f.refunds.is_empty() {
                        p #no-refunds { (r.none_found) }
                    } @else {
                        table #refunds {
                            thead { tr {
                                th scope="col" { (r.refund) }
                                th scope="col" { (r.order_id) }
                                th scope="col" { (r.claim) }
                                th scope="col" { (r.channel) }
                                th scope="col" { (r.amount) }
                                th scope="col" { (r.status) }
                                th scope="col" { (r.created) }
                            } }
                            tbody {
                                @for v in &f.refunds {
                                    tr data-refund-id=(v.refund_id) data-status=(v.status.as_str()) {
                                        td { (v.refund_id) }
                                        td { (v.order_id) }
                                        td {
                                            @if let Some(c) = &v.claim_id {
                                                a href={ "/desk/claims/" (enc(c)) } { (c) }
                                            }
                                        }
                                        td { (wire(&v.channel)) }
                                        td.money { (money(ctx, v.amount)) }
                                        td { (v.status.as_str()) }
                                        td { time datetime=(v.created_at.to_rfc3339()) { (when(&v.created_at)) } }
                                    }
                                }
                            }
                        }
                        @if let Some(n) = next { p { a #next-refunds href=(n) { (r.next_page) } } }
                    }
                }
            }
            section.card aria-labelledby="export-h" {
                h2 #export-h { (r.export) }
                p.hint { (r.export_hint) }
                form #export-form method="get" action="/desk/refunds/export" {
                    label for="export-month" { (r.month) }
                    input #export-month type="text" name="month" pattern="[0-9]{4}-[0-9]{2}"
                        value=(chrono::Utc::now().format("%Y-%m").to_string()) required;
                    button.secondary type="submit" { (r.download) }
                }
            }
        },
    )
}

/// A unit enum as the API spells it (`wechat_pay`).
fn wire<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The month's CSV, as the API's export streams it: refused (finance and
/// admins only, a month that is no month) with a page before anything is
/// streamed.
pub(super) async fn export(State(st): State<WebState>, ctx: Ctx, uri: Uri) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let q = Form::parse(uri.query().unwrap_or("").as_bytes());
    let month = q.get("month").trim();
    let stream = match refunds::export_month(&st.services, p, &shop, month).await {
        Ok(s) => s,
        Err(crate::app::AppError::Invalid { .. }) => {
            return ctx.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                markup(
                    &ctx,
                    &shop,
                    &Form(Vec::new()),
                    None,
                    Some(rt(&ctx).bad_month),
                ),
            )
        }
        Err(e) => return ctx.error(&e),
    };
    // The month was checked by the use case (YYYY-MM), the shop is an id.
    let filename =
        format!("attachment; filename=\"refunds-{shop}-{month}.csv\"").replace(['\r', '\n'], "");
    ctx.finish(
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, filename),
            ],
            axum::body::Body::from_stream(stream),
        )
            .into_response(),
    )
}
