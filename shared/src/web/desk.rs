//! The merchant's desk pages: the queue by deadline with filters, a claim
//! with its evidence, the customer's standing and the rule trace, staff
//! decisions, batch decisions by filter after a preview, and the rule set
//! with its dry run (the service figures are `sla.rs`'s, the disputes
//! `disputes.rs`'s, refund search and the finance export `refunds.rs`'s). Every page calls
//! the same use cases as the API (`app::desk`, `app::policy`) with the
//! signed-in principal: staff see only their own shop, another shop's
//! claim is "not found".

use super::pages::{csrf, layout, money, when};
use super::{checked_form, Ctx, Form, WebState};
use crate::app::desk::{
    BatchDecision, BatchRequest, ClaimDetail, Queue, QueueFilter, StaffDecision, MAX_BATCH,
};
use crate::app::policy::DryRun;
use crate::app::{self, AppError};
use crate::auth::Principal;
use crate::domain::claim::ClaimStatus;
use crate::domain::rejections::RejectionReason;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

/// The desk's routes, beside the customer's pages.
pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/desk", get(queue_page))
        .route("/desk/claims/{claim_id}", get(claim_page))
        .route("/desk/claims/{claim_id}/decision", post(decide))
        .route("/desk/batch/preview", post(batch_preview))
        .route("/desk/batch", post(batch))
        .route("/desk/rules", get(rules_page))
        .route("/desk/rules/dry-run", post(dry_run))
        .route("/desk/sla", get(super::sla::page))
        .route("/desk/disputes", get(super::disputes::page))
        .route("/desk/refunds", get(super::refunds::page))
        .route("/desk/refunds/export", get(super::refunds::export))
}

/// The desk's words.
pub(super) struct DeskText {
    desk: &'static str,
    queue: &'static str,
    filters: &'static str,
    any: &'static str,
    waiting: &'static str,
    min_amount: &'static str,
    max_amount: &'static str,
    member_tier: &'static str,
    apply_filters: &'static str,
    total: &'static str,
    due: &'static str,
    overdue: &'static str,
    next_page: &'static str,
    no_claims: &'static str,
    batch_title: &'static str,
    batch_hint: &'static str,
    decision: &'static str,
    approve: &'static str,
    reject: &'static str,
    reject_reason: &'static str,
    note: &'static str,
    preview: &'static str,
    preview_title: &'static str,
    will_change: &'static str,
    more_than_batch: &'static str,
    confirm: &'static str,
    batch_done: &'static str,
    decided: &'static str,
    failed: &'static str,
    back_to_queue: &'static str,
    evidence: &'static str,
    no_evidence: &'static str,
    standing: &'static str,
    no_signals: &'static str,
    refund_rate: &'static str,
    without_return: &'static str,
    same_reason: &'static str,
    reused_photo: &'static str,
    photo_before_delivery: &'static str,
    rule_trace: &'static str,
    no_rule: &'static str,
    rule: &'static str,
    version: &'static str,
    why: &'static str,
    timeline: &'static str,
    decide: &'static str,
    submit_decision: &'static str,
    rules_title: &'static str,
    rules_json: &'static str,
    days: &'static str,
    dry_run: &'static str,
    dry_run_title: &'static str,
    examined: &'static str,
    differing: &'static str,
    not_decided: &'static str,
    recorded: &'static str,
    candidate: &'static str,
    staff_only: &'static str,
    customer: &'static str,
    sla: &'static str,
    disputes: &'static str,
    refunds: &'static str,
}

static ZH_CN: DeskText = DeskText {
    desk: "售后工作台",
    queue: "待处理队列",
    filters: "筛选",
    any: "全部",
    waiting: "待商家处理",
    min_amount: "最低金额",
    max_amount: "最高金额",
    member_tier: "会员等级",
    apply_filters: "筛选",
    total: "符合条件的售后单",
    due: "处理时限",
    overdue: "已超时",
    next_page: "下一页",
    no_claims: "没有符合条件的售后单。",
    batch_title: "按筛选条件批量处理",
    batch_hint: "先预览将被处理的售后单,确认后才会执行。",
    decision: "处理结果",
    approve: "同意",
    reject: "拒绝",
    reject_reason: "拒绝原因",
    note: "备注",
    preview: "预览",
    preview_title: "批量处理预览",
    will_change: "将被处理的售后单",
    more_than_batch: "符合条件的售后单超过一次批量上限,本次处理最紧急的部分。",
    confirm: "确认执行",
    batch_done: "批量处理完成",
    decided: "已处理",
    failed: "失败",
    back_to_queue: "返回队列",
    evidence: "凭证",
    no_evidence: "没有凭证。",
    standing: "客户信誉与风险信号",
    no_signals: "规则尚未评估此售后单。",
    refund_rate: "退款率(%)",
    without_return: "未退货仅退款次数",
    same_reason: "相同原因的近期售后",
    reused_photo: "照片在其他售后单中出现过",
    photo_before_delivery: "照片拍摄于签收之前",
    rule_trace: "规则判定",
    no_rule: "没有规则判定此售后单。",
    rule: "规则",
    version: "版本",
    why: "依据",
    timeline: "进度",
    decide: "处理",
    submit_decision: "提交",
    rules_title: "审核规则",
    rules_json: "规则集 (JSON)",
    days: "回放最近天数",
    dry_run: "试运行",
    dry_run_title: "试运行结果(未做任何更改)",
    examined: "回放的售后单",
    differing: "判定不同",
    not_decided: "无规则判定可比较",
    recorded: "当时判定",
    candidate: "新规则判定",
    staff_only: "工作台仅供店铺员工使用。",
    customer: "客户",
    sla: "服务时效",
    disputes: "争议",
    refunds: "退款查询",
};

static EN: DeskText = DeskText {
    desk: "After-sales desk",
    queue: "Queue",
    filters: "Filters",
    any: "Any",
    waiting: "Waiting for the shop",
    min_amount: "Minimum amount",
    max_amount: "Maximum amount",
    member_tier: "Member tier",
    apply_filters: "Filter",
    total: "Matching claims",
    due: "Due",
    overdue: "Overdue",
    next_page: "Next page",
    no_claims: "No claims match.",
    batch_title: "Decide by filter",
    batch_hint: "Preview the claims first; nothing changes until you confirm.",
    decision: "Decision",
    approve: "Approve",
    reject: "Reject",
    reject_reason: "Rejection reason",
    note: "Note",
    preview: "Preview",
    preview_title: "Batch preview",
    will_change: "Claims that will change",
    more_than_batch: "More claims match than one batch takes: the most urgent ones are taken.",
    confirm: "Confirm",
    batch_done: "Batch done",
    decided: "Decided",
    failed: "Failed",
    back_to_queue: "Back to the queue",
    evidence: "Evidence",
    no_evidence: "No evidence.",
    standing: "Customer standing and signals",
    no_signals: "The rules have not looked at this claim yet.",
    refund_rate: "Refund rate (%)",
    without_return: "Refunds without return",
    same_reason: "Recent claims with this reason",
    reused_photo: "Photo seen on another claim",
    photo_before_delivery: "Photo taken before delivery",
    rule_trace: "Rule trace",
    no_rule: "No rule decided this claim.",
    rule: "Rule",
    version: "Version",
    why: "Why",
    timeline: "Timeline",
    decide: "Decide",
    submit_decision: "Submit",
    rules_title: "Review rules",
    rules_json: "Rule set (JSON)",
    days: "Replay the last days",
    dry_run: "Dry run",
    dry_run_title: "Dry run (nothing was changed)",
    examined: "Claims replayed",
    differing: "Decided differently",
    not_decided: "Without a rule decision to compare",
    recorded: "Recorded",
    candidate: "Candidate",
    staff_only: "The desk is for the shop's staff.",
    customer: "Customer",
    sla: "Service levels",
    disputes: "Disputes",
    refunds: "Refunds",
};

fn dt(ctx: &Ctx) -> &'static DeskText {
    match ctx.lang {
        super::Lang::ZhCn => &ZH_CN,
        super::Lang::En => &EN,
    }
}

/// The signed-in staff member's shop, or the answer to give instead.
pub(super) fn staff_shop(ctx: &Ctx) -> Result<(&Principal, String), Box<Response>> {
    let p = ctx.signed_in()?;
    match p {
        Principal::Staff { shop_id, .. } => Ok((p, shop_id.to_string())),
        _ => {
            let t = ctx.t();
            Err(Box::new(ctx.page(
                StatusCode::FORBIDDEN,
                super::pages::message(ctx, t.forbidden_title, dt(ctx).staff_only),
            )))
        }
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn bad_filter(why: String) -> AppError {
    AppError::Invalid {
        code: "invalid_filter",
        message: why,
    }
}

/// The filter fields a queue page, a preview and a batch share.
const FILTER_FIELDS: &[&str] = &["status", "type", "member_tier", "min_amount", "max_amount"];

/// A queue filter from form or query fields, read as the API reads one.
fn filter_of(form: &Form) -> Result<QueueFilter, String> {
    let mut m = serde_json::Map::new();
    for f in FILTER_FIELDS {
        let v = form.get(f).trim();
        if !v.is_empty() {
            m.insert((*f).to_owned(), v.into());
        }
    }
    serde_json::from_value(serde_json::Value::Object(m)).map_err(|e| e.to_string())
}

fn filter_hidden(form: &Form) -> Markup {
    html! {
        @for f in FILTER_FIELDS {
            @let v = form.get(f);
            @if !v.is_empty() { input type="hidden" name=(f) value=(v); }
        }
    }
}

fn select(id: &str, label: &str, any: &str, options: &[(&str, String)], chosen: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        select #(id) name=(id) {
            option value="" selected[chosen.is_empty()] { (any) }
            @for (v, text) in options {
                option value=(v) selected[*v == chosen] { (text) }
            }
        }
    }
}

fn filter_controls(ctx: &Ctx, form: &Form) -> Markup {
    let d = dt(ctx);
    let statuses: Vec<(&str, String)> = ClaimStatus::ALL
        .iter()
        .map(|s| {
            (
                s.as_str(),
                super::i18n::status_label(*s, ctx.lang).to_string(),
            )
        })
        .collect();
    let types: Vec<(&str, String)> = ["refund_only", "return_refund", "exchange", "special_claim"]
        .into_iter()
        .map(|t| (t, t.replace('_', " ")))
        .collect();
    let tiers: Vec<(&str, String)> = ["regular", "silver", "gold", "platinum", "diamond"]
        .into_iter()
        .map(|t| (t, t.to_owned()))
        .collect();
    html! {
        (select("status", ctx.t().status, d.waiting, &statuses, form.get("status")))
        (select("type", ctx.t().claim_type, d.any, &types, form.get("type")))
        (select("member_tier", d.member_tier, d.any, &tiers, form.get("member_tier")))
        label for="min_amount" { (d.min_amount) }
        input #min_amount type="text" inputmode="decimal" name="min_amount" value=(form.get("min_amount"));
        label for="max_amount" { (d.max_amount) }
        input #max_amount type="text" inputmode="decimal" name="max_amount" value=(form.get("max_amount"));
    }
}

fn decision_controls(ctx: &Ctx, prefix: &str, reasons: &[RejectionReason]) -> Markup {
    let d = dt(ctx);
    let id = |s: &str| format!("{prefix}{s}");
    html! {
        fieldset {
            legend { (d.decision) }
            input #(id("approve")) type="radio" name="decision" value="approve" checked;
            label for=(id("approve")) { (d.approve) }
            input #(id("reject")) type="radio" name="decision" value="reject";
            label for=(id("reject")) { (d.reject) }
        }
        label for=(id("reason")) { (d.reject_reason) }
        select #(id("reason")) name="reason" {
            option value="" { "—" }
            @for r in reasons {
                option value=(r.code) { (r.text(ctx.lang.language())) }
            }
        }
        label for=(id("note")) { (d.note) }
        input #(id("note")) type="text" name="note" maxlength="500";
    }
}

// ------------------------------------------------------------------ queue

async fn queue_page(State(st): State<WebState>, ctx: Ctx, uri: Uri) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let q = Form::parse(uri.query().unwrap_or("").as_bytes());
    let filter = match filter_of(&q) {
        Ok(f) => f,
        Err(why) => return ctx.error(&bad_filter(why)),
    };
    let cursor = Some(q.get("cursor")).filter(|c| !c.is_empty());
    let queue = match app::desk::queue(&st.services, p, &shop, &filter, Some(50), cursor).await {
        Ok(q) => q,
        Err(e) => return ctx.error(&e),
    };
    let reasons = match app::review::catalogue_for(&st.services, &shop).await {
        Ok(c) => c.all(),
        Err(e) => return ctx.error(&e),
    };
    ctx.ok(queue_markup(&ctx, &shop, &q, &queue, &reasons))
}

pub(super) fn desk_nav(ctx: &Ctx) -> Markup {
    let d = dt(ctx);
    html! {
        nav.card aria-label=(d.desk) {
            a href="/desk" { (d.queue) } " · " a href="/desk/rules" { (d.rules_title) }
            " · " a #to-sla href="/desk/sla" { (d.sla) }
            " · " a #to-disputes href="/desk/disputes" { (d.disputes) }
            " · " a #to-refunds href="/desk/refunds" { (d.refunds) }
        }
    }
}

fn queue_markup(
    ctx: &Ctx,
    shop: &str,
    q: &Form,
    queue: &Queue,
    reasons: &[RejectionReason],
) -> Markup {
    let d = dt(ctx);
    let t = ctx.t();
    let next = queue.next_cursor.as_ref().map(|c| {
        let mut s: Vec<String> = FILTER_FIELDS
            .iter()
            .filter(|f| !q.get(f).is_empty())
            .map(|f| format!("{f}={}", enc(q.get(f))))
            .collect();
        s.push(format!("cursor={}", enc(c)));
        format!("/desk?{}", s.join("&"))
    });
    layout(
        ctx,
        d.desk,
        html! {
            h1 { (d.desk) " · " (shop) }
            (desk_nav(ctx))
            section.card aria-labelledby="filters-h" {
                h2 #filters-h { (d.filters) }
                form method="get" action="/desk" {
                    (filter_controls(ctx, q))
                    button.secondary type="submit" { (d.apply_filters) }
                }
            }
            section.card aria-labelledby="queue-h" {
                h2 #queue-h { (d.queue) }
                p #queue-total { (d.total) ": " (queue.total.map_or_else(|| "?".to_owned(), |n| n.to_string())) }
                @if queue.claims.is_empty() {
                    p { (d.no_claims) }
                } @else {
                    table #queue {
                        thead { tr {
                            th scope="col" { (t.claim) }
                            th scope="col" { (t.claim_type) }
                            th scope="col" { (t.status) }
                            th scope="col" { (t.requested) }
                            th scope="col" { (d.member_tier) }
                            th scope="col" { (d.due) }
                        } }
                        tbody {
                            @for c in &queue.claims {
                                tr data-claim-id=(c.claim_id) {
                                    td { a href={ "/desk/claims/" (enc(&c.claim_id)) } { (c.claim_id) } }
                                    td { (c.claim_type) br; span.hint { (super::i18n::reason_label(c.reason, ctx.lang)) } }
                                    td { span.status { (super::i18n::status_label(c.status, ctx.lang)) } }
                                    td.money { (money(ctx, c.requested_amount)) }
                                    td { (format!("{:?}", c.member_tier).to_lowercase()) }
                                    td {
                                        @if let Some(due) = &c.due_at { (when(due)) }
                                        @if c.overdue { br; strong { (d.overdue) } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(href) = next { p { a #next-page href=(href) { (d.next_page) } } }
            }
            section.card aria-labelledby="batch-h" {
                h2 #batch-h { (d.batch_title) }
                p.hint { (d.batch_hint) }
                form method="post" action="/desk/batch/preview" {
                    (csrf(ctx))
                    (filter_hidden(q))
                    (decision_controls(ctx, "batch-", reasons))
                    button.primary #batch-preview type="submit" { (d.preview) }
                }
            }
        },
    )
}

// ------------------------------------------------------------------ batch

async fn batch_preview(State(st): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let form = match checked_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let filter = match filter_of(&form) {
        Ok(f) => f,
        Err(why) => return ctx.error(&bad_filter(why)),
    };
    // What the batch takes: the queue's claims under the filter, most
    // urgent first, up to one batch.
    let mut claims = Vec::new();
    let mut cursor: Option<String> = None;
    let mut more = false;
    loop {
        let page = match app::desk::queue(
            &st.services,
            p,
            &shop,
            &filter,
            Some(200),
            cursor.as_deref(),
        )
        .await
        {
            Ok(q) => q,
            Err(e) => return ctx.error(&e),
        };
        claims.extend(page.claims);
        match page.next_cursor {
            Some(c) if claims.len() < MAX_BATCH => cursor = Some(c),
            Some(_) => {
                more = true;
                break;
            }
            None => break,
        }
    }
    if claims.len() > MAX_BATCH {
        claims.truncate(MAX_BATCH);
        more = true;
    }
    let d = dt(&ctx);
    let t = ctx.t();
    let decision = if form.get("decision") == "reject" {
        d.reject
    } else {
        d.approve
    };
    ctx.ok(layout(
        &ctx,
        d.preview_title,
        html! {
            h1 { (d.preview_title) }
            section.card aria-labelledby="preview-h" {
                h2 #preview-h { (d.will_change) }
                p { (d.decision) ": " strong { (decision) }
                    @if !form.get("reason").is_empty() { " (" (form.get("reason")) ")" } }
                p #preview-count { (d.will_change) ": " strong { (claims.len()) } }
                @if more { p.alert { (d.more_than_batch) } }
                ul.plain #preview-claims {
                    @for c in &claims {
                        li data-claim-id=(c.claim_id) {
                            (c.claim_id) " · " (super::i18n::status_label(c.status, ctx.lang))
                            " · " span.money { (money(&ctx, c.requested_amount)) }
                        }
                    }
                }
                @if !claims.is_empty() {
                form method="post" action="/desk/batch" {
                    (csrf(&ctx))
                    (filter_hidden(&form))
                    input type="hidden" name="decision" value=(form.get("decision"));
                    input type="hidden" name="reason" value=(form.get("reason"));
                    input type="hidden" name="note" value=(form.get("note"));
                    // The batch decides exactly the claims previewed.
                    @for c in &claims { input type="hidden" name="claim_id" value=(c.claim_id); }
                    button.primary #batch-confirm type="submit" { (d.confirm) }
                }
                }
                p { a href="/desk" { (d.back_to_queue) } }
                p.hint { (t.signed_in_as) ": " (shop) }
            }
        },
    ))
}

async fn batch(State(st): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let form = match checked_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let filter = match filter_of(&form) {
        Ok(f) => f,
        Err(why) => return ctx.error(&bad_filter(why)),
    };
    let (decision, reason) = match form.get("decision") {
        "reject" => (BatchDecision::Reject, form.get("reason")),
        _ => (BatchDecision::Approve, form.get("note")),
    };
    // The claims the preview showed, each checked again by the use case
    // (one decided meanwhile fails alone); the filter without a preview.
    let previewed: Vec<crate::domain::ids::ClaimId> =
        form.all("claim_id").into_iter().map(Into::into).collect();
    let (claim_ids, filter) = if previewed.is_empty() {
        (None, Some(filter))
    } else {
        (Some(previewed), None)
    };
    let req = BatchRequest {
        decision,
        reason: Some(reason.trim().to_owned()).filter(|r| !r.is_empty()),
        claim_ids,
        filter,
        cursor: None,
    };
    let report = match app::desk::batch(&st.services, p, &shop, req).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let d = dt(&ctx);
    ctx.ok(layout(
        &ctx,
        d.batch_done,
        html! {
            h1 { (d.batch_done) }
            div.card role="status" {
                p #batch-decided { (d.decided) ": " strong { (report.decided) } }
                p #batch-failed { (d.failed) ": " strong { (report.failed) } }
                ul.plain {
                    @for r in report.results.iter().filter(|r| !r.ok) {
                        li { (r.claim_id) ": " (r.error.as_ref().map_or("", |e| e.message.as_str())) }
                    }
                }
            }
            p { a href="/desk" { (d.back_to_queue) } }
        },
    ))
}

// ------------------------------------------------------------------ claim

async fn claim_page(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    render_claim(&st, &ctx, p, &shop, &claim_id, None).await
}

async fn render_claim(
    st: &WebState,
    ctx: &Ctx,
    p: &Principal,
    shop: &str,
    claim_id: &str,
    problem: Option<String>,
) -> Response {
    let detail = match app::desk::detail(&st.services, p, shop, claim_id).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let reasons = match app::review::catalogue_for(&st.services, shop).await {
        Ok(c) => c.all(),
        Err(e) => return ctx.error(&e),
    };
    let rules = match app::policy::load_rules(&st.services, shop).await {
        Ok((r, _)) => r,
        Err(e) => return ctx.error(&e),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    ctx.page(
        status,
        claim_markup(ctx, &detail, &reasons, &rules, problem.as_deref()),
    )
}

fn claim_markup(
    ctx: &Ctx,
    detail: &ClaimDetail,
    reasons: &[RejectionReason],
    rules: &crate::domain::rules::RuleSet,
    problem: Option<&str>,
) -> Markup {
    let d = dt(ctx);
    let t = ctx.t();
    let c = &detail.claim;
    let trace: Vec<&serde_json::Value> = c
        .timeline
        .iter()
        .filter(|e| e["actor"]["kind"] == "rule")
        .collect();
    let open = matches!(
        c.status,
        ClaimStatus::Submitted
            | ClaimStatus::UnderReview
            | ClaimStatus::SecondReview
            | ClaimStatus::AwaitingEvidence
    );
    layout(
        ctx,
        &c.claim_id,
        html! {
            h1 { (t.claim) " " (c.claim_id) }
            (desk_nav(ctx))
            @if let Some(why) = problem { div.alert role="alert" { (why) } }
            section.card aria-labelledby="summary-h" {
                h2 #summary-h { (t.claim) }
                dl {
                    dt { (t.status) } dd #claim-status { span.status { (super::i18n::status_label(c.status, ctx.lang)) } }
                    dt { (t.claim_type) } dd { (c.claim_type.type_name()) }
                    dt { (t.order) } dd { (c.order_id) }
                    dt { (d.customer) } dd { (c.customer_id) }
                    dt { (t.requested) } dd.money { (money(ctx, c.requested_amount)) }
                    dt { (t.filed_at) } dd { (when(&c.created_at)) }
                    @if let Some(due) = &detail.due_at { dt { (d.due) } dd { (when(due)) } }
                }
                @if !c.description.is_empty() { p.desc { (c.description) } }
            }
            section.card aria-labelledby="evidence-h" {
                h2 #evidence-h { (d.evidence) }
                @if c.evidence.is_empty() { p { (d.no_evidence) } }
                @else { ul #evidence { @for e in &c.evidence { li { (e) } } } }
            }
            section.card aria-labelledby="standing-h" {
                h2 #standing-h { (d.standing) }
                @match &detail.signals {
                    None => { p { (d.no_signals) } }
                    Some(s) => {
                        dl #signals {
                            dt { (d.refund_rate) } dd { (s.refund_rate_percent) }
                            dt { (d.without_return) } dd { (s.claims_without_return) }
                            dt { (d.same_reason) } dd { (s.same_reason_claims) }
                            @for r in &s.evidence.reused { dt { (d.reused_photo) } dd { (r.evidence) " → " (r.claim_id) } }
                            @for k in &s.evidence.taken_before_delivery { dt { (d.photo_before_delivery) } dd { (k) } }
                        }
                    }
                }
            }
            section.card aria-labelledby="trace-h" {
                h2 #trace-h { (d.rule_trace) }
                @if trace.is_empty() { p { (d.no_rule) } }
                @else {
                    ol #rule-trace {
                        @for e in &trace {
                            @let id = e["actor"]["rule_id"].as_str().unwrap_or_default();
                            li {
                                (d.rule) " " strong.rule-id { (id) } " · " (d.version) " " (e["actor"]["version"].to_string())
                                " · " (e["event"].as_str().unwrap_or_default())
                                @if let Some(at) = e["at"].as_str() { " · " time { (at) } }
                                @if let Some(r) = rules.rules().iter().find(|r| r.id() == id) {
                                    br; span.hint { (d.why) ": " (r.description()) " " code { (serde_json::Value::Object(r.when().clone()).to_string()) } }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="timeline-h" {
                h2 #timeline-h { (d.timeline) }
                ol.timeline {
                    @for e in &c.timeline {
                        li { time { (e["at"].as_str().unwrap_or_default()) } span.step-title { (e["event"].as_str().unwrap_or_default()) } }
                    }
                }
            }
            @if open {
                section.card aria-labelledby="decide-h" {
                    h2 #decide-h { (d.decide) }
                    form method="post" action={ "/desk/claims/" (enc(&c.claim_id)) "/decision" } {
                        (csrf(ctx))
                        (decision_controls(ctx, "one-", reasons))
                        button.primary #decide type="submit" { (d.submit_decision) }
                    }
                }
            }
        },
    )
}

async fn decide(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = match checked_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let note = Some(form.get("note").trim().to_owned()).filter(|n| !n.is_empty());
    let decision = match form.get("decision") {
        "reject" => StaffDecision::Reject {
            reason: form.get("reason").to_owned(),
        },
        _ => StaffDecision::Approve {
            amount: None,
            reason: note,
        },
    };
    match app::desk::decide(&st.services, p, &shop, &claim_id, decision).await {
        Ok(_) => ctx.redirect(&format!("/desk/claims/{}", enc(&claim_id))),
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_))) => ctx.error(&e),
        Err(e) => render_claim(&st, &ctx, p, &shop, &claim_id, Some(e.answer().1)).await,
    }
}

// ------------------------------------------------------------------ rules

async fn rules_page(State(st): State<WebState>, ctx: Ctx) -> Response {
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let doc = match app::policy::get_rules(&st.services, p, &shop).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    ctx.ok(rules_markup(&ctx, &shop, &text, "30", None, None))
}

async fn dry_run(State(st): State<WebState>, ctx: Ctx, body: Bytes) -> Response {
    let form = match checked_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (p, shop) = match staff_shop(&ctx) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let text = form.get("rules");
    let days_text = form.get("days").trim();
    let unprocessable = |why: String| {
        ctx.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            rules_markup(&ctx, &shop, text, days_text, None, Some(&why)),
        )
    };
    let Ok(days) = days_text.parse::<u32>() else {
        return unprocessable(format!(
            "{}: 1–{}",
            dt(&ctx).days,
            app::policy::DRY_RUN_MAX_DAYS
        ));
    };
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return unprocessable(format!("not valid JSON: {e}")),
    };
    match app::policy::dry_run_rules(&st.services, p, &shop, &doc, days).await {
        Ok(run) => ctx.ok(rules_markup(&ctx, &shop, text, days_text, Some(&run), None)),
        Err(e @ (AppError::NotFound(_) | AppError::Forbidden(_))) => ctx.error(&e),
        Err(e) => unprocessable(e.answer().1),
    }
}

fn outcome_text(d: &crate::domain::rules::SeenDecision) -> String {
    let o = serde_json::to_value(&d.outcome).unwrap_or_default();
    let mut s = o["decision"].as_str().unwrap_or_default().to_owned();
    if let Some(r) = o["reason"].as_str() {
        s.push_str(&format!(" ({r})"));
    }
    s.push_str(" · ");
    s.push_str(d.rule_id.as_deref().unwrap_or("—"));
    s
}

fn rules_markup(
    ctx: &Ctx,
    shop: &str,
    text: &str,
    days: &str,
    run: Option<&DryRun>,
    problem: Option<&str>,
) -> Markup {
    let d = dt(ctx);
    let t = ctx.t();
    layout(
        ctx,
        d.rules_title,
        html! {
            h1 { (d.rules_title) " · " (shop) }
            (desk_nav(ctx))
            @if let Some(why) = problem { div.alert role="alert" #dry-run-error { (why) } }
            @if let Some(run) = run {
                section.card #dry-run aria-labelledby="dry-run-h" {
                    h2 #dry-run-h { (d.dry_run_title) }
                    dl {
                        dt { (d.examined) } dd #dry-run-examined { (run.examined) }
                        dt { (d.differing) } dd #dry-run-differing { (run.differing) }
                        dt { (d.not_decided) } dd { (run.not_decided_by_rules) }
                    }
                    @if !run.claims.is_empty() {
                        table #dry-run-claims {
                            thead { tr {
                                th scope="col" { (t.claim) }
                                th scope="col" { (d.recorded) }
                                th scope="col" { (d.candidate) }
                            } }
                            tbody {
                                @for c in &run.claims {
                                    tr data-claim-id=(c.claim_id) {
                                        td { a href={ "/desk/claims/" (enc(&c.claim_id)) } { (c.claim_id) } }
                                        td { (outcome_text(&c.recorded)) }
                                        td { (outcome_text(&c.candidate)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="rules-h" {
                h2 #rules-h { (d.rules_title) }
                form method="post" action="/desk/rules/dry-run" {
                    (csrf(ctx))
                    label for="rules" { (d.rules_json) }
                    textarea #rules name="rules" rows="20" spellcheck="false" { (text) }
                    label for="days" { (d.days) }
                    input #days type="number" name="days" min="1" max=(app::policy::DRY_RUN_MAX_DAYS) value=(days);
                    button.primary #dry-run-button type="submit" { (d.dry_run) }
                }
            }
        },
    )
}
