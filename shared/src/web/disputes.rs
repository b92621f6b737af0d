//! The desk's disputes (`/desk/disputes`): the shop's disputes of its
//! decisions, escalated first, then by the shop's answer deadline, as
//! `app::disputes::desk_list` orders them for the API
//! (`GET /v1/shops/{shop_id}/desk/disputes`), filtered by status the same
//! way (open unless asked).

use super::desk::{desk_nav, staff_shop};
use super::pages::{layout, money, when};
use super::{Ctx, Form, WebState};
use crate::app::disputes::{self, DeskDisputes};
use crate::app::AppError;
use crate::domain::dispute::DisputeStatus;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use maud::{html, Markup};

/// The page's words.
struct DisputesText {
    title: &'static str,
    status: &'static str,
    all: &'static str,
    open: &'static str,
    resolved: &'static str,
    withdrawn: &'static str,
    show: &'static str,
    none: &'static str,
    claim: &'static str,
    order: &'static str,
    customer: &'static str,
    grounds: &'static str,
    opened: &'static str,
    respond_by: &'static str,
    overdue: &'static str,
    escalated: &'static str,
    outcome: &'static str,
}

static ZH_CN: DisputesText = DisputesText {
    title: "争议",
    status: "状态",
    all: "全部",
    open: "处理中",
    resolved: "已解决",
    withdrawn: "已撤回",
    show: "查看",
    none: "没有符合条件的争议。",
    claim: "售后单",
    order: "订单",
    customer: "顾客",
    grounds: "争议理由",
    opened: "发起时间",
    respond_by: "答复期限",
    overdue: "已超时",
    escalated: "已升级",
    outcome: "结果",
};

static EN: DisputesText = DisputesText {
    title: "Disputes",
    status: "Status",
    all: "All",
    open: "Open",
    resolved: "Resolved",
    withdrawn: "Withdrawn",
    show: "Show",
    none: "No disputes match.",
    claim: "Claim",
    order: "Order",
    customer: "Customer",
    grounds: "Grounds",
    opened: "Opened",
    respond_by: "Answer by",
    overdue: "overdue",
    escalated: "escalated",
    outcome: "Outcome",
};

fn dt(ctx: &Ctx) -> &'static DisputesText {
    match ctx.lang {
        super::Lang::ZhCn => &ZH_CN,
        super::Lang::En => &EN,
    }
}

/// The statuses a list may be filtered by, as the API names them (`all`:
/// no filter).
const STATUSES: [&str; 4] = ["open", "resolved", "withdrawn", "all"];

/// The filter a `status` names, as the API reads it (open when empty).
fn status_of(v: &str) -> Result<Option<DisputeStatus>, AppError> {
    match v {
        "" | "open" => Ok(Some(DisputeStatus::Open)),
        "resolved" => Ok(Some(DisputeStatus::Resolved)),
        "withdrawn" => Ok(Some(DisputeStatus::Withdrawn)),
        "all" => Ok(None),
        other => Err(AppError::Invalid {
            code: "invalid_request",
            message: format!("status: {other:?} is not one of open, resolved, withdrawn, all"),
        }),
    }
}

pub(super) async fn page(State(st): State<WebState>, ctx: Ctx, uri: Uri) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let q = Form::parse(uri.query().unwrap_or("").as_bytes());
    let status = match status_of(q.get("status")) {
        Ok(s) => s,
        Err(e) => return ctx.error(&e),
    };
    match disputes::desk_list(&st.services, p, &shop, status).await {
        Ok(list) => ctx.ok(markup(&ctx, &shop, q.get("status"), &list)),
        Err(e) => ctx.error(&e),
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A unit enum as the API spells it (`rejection_not_accepted`).
fn wire<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn markup(ctx: &Ctx, shop: &str, chosen: &str, list: &DeskDisputes) -> Markup {
    let d = dt(ctx);
    let chosen = if chosen.is_empty() { "open" } else { chosen };
    let label = |s: &str| match s {
        "open" => d.open,
        "resolved" => d.resolved,
        "withdrawn" => d.withdrawn,
        _ => d.all,
    };
    layout(
        ctx,
        d.title,
        html! {
            h1 { (d.title) " · " (shop) }
            (desk_nav(ctx))
            section.card aria-labelledby="disputes-h" {
                h2 #disputes-h { (d.title) }
                form.range method="get" action="/desk/disputes" {
                    div {
                        label for="dispute-status" { (d.status) }
                        select #dispute-status name="status" {
                            @for s in STATUSES {
                                option value=(s) selected[s == chosen] { (label(s)) }
                            }
                        }
                    }
                    button.secondary type="submit" { (d.show) }
                }
                @if list.disputes.is_empty() {
                    p #no-disputes { (d.none) }
                } @else {
                    table #disputes {
                        thead { tr {
                            th scope="col" { (d.claim) }
                            th scope="col" { (d.order) }
                            th scope="col" { (d.customer) }
                            th scope="col" { (d.grounds) }
                            th scope="col" { (d.status) }
                            th scope="col" { (d.opened) }
                            th scope="col" { (d.respond_by) }
                            th scope="col" { (d.outcome) }
                        } }
                        tbody {
                            @for x in &list.disputes {
                                @let e = &x.entry;
                                tr data-claim-id=(e.claim_id) data-status=(e.status.as_str()) {
                                    td { a href={ "/desk/claims/" (enc(&e.claim_id)) } { (e.claim_id) } }
                                    td { (e.order_id) }
                                    td { (e.customer_id) }
                                    td { (wire(&e.grounds)) }
                                    td {
                                        (label(e.status.as_str()))
                                        @if e.escalated_at.is_some() { " · " strong.escalated { (d.escalated) } }
                                    }
                                    td { time datetime=(e.opened_at.to_rfc3339()) { (when(&e.opened_at)) } }
                                    td {
                                        @if let Some(by) = e.respond_by {
                                            time datetime=(by.to_rfc3339()) { (when(&by)) }
                                            @if x.overdue { " · " strong.overdue { (d.overdue) } }
                                        }
                                    }
                                    td {
                                        @if let Some(r) = &e.resolution { (r) }
                                        @if let Some(m) = e.refunded { " " span.money { (money(ctx, m)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
