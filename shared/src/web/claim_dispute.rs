//! The customer's dispute on the claim's page: open one against a decision
//! (the grounds, what they wish for, why), the thread with the shop, and
//! the proposals: accept the shop's, or reject it by proposing something
//! else; write to the shop; withdraw. Each form calls the API's use case
//! (`app::disputes::{open, message, propose, accept, withdraw}`, behind
//! `/v1/claims/{claim_id}/dispute...`) with the signed-in customer, and
//! comes back to the claim's page; a refusal is shown there.

use super::pages::{csrf, money, when};
use super::{signed_form, Ctx, Form, WebState};
use crate::app::disputes::{self, MessageRequest, OpenRequest, ProposalRequest, ResolutionRequest};
use crate::app::{AppError, ClaimView};
use crate::domain::claim::ClaimStatus;
use crate::domain::dispute::{Dispute, Party, ProposalState, Resolution};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};

/// The forms' routes, beside the claim's page.
pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/claims/{claim_id}/dispute", post(open))
        .route("/claims/{claim_id}/dispute/messages", post(message))
        .route("/claims/{claim_id}/dispute/proposals", post(propose))
        .route(
            "/claims/{claim_id}/dispute/proposals/{n}/accept",
            post(accept),
        )
        .route("/claims/{claim_id}/dispute/withdraw", post(withdraw))
}

/// The section's words.
struct DisputeText {
    title: &'static str,
    open_title: &'static str,
    open_hint: &'static str,
    grounds: &'static str,
    wished: &'static str,
    amount: &'static str,
    amount_hint: &'static str,
    why: &'static str,
    open_button: &'static str,
    status: &'static str,
    answer_by: &'static str,
    escalated: &'static str,
    thread: &'static str,
    you: &'static str,
    shop: &'static str,
    proposals: &'static str,
    no_proposals: &'static str,
    accept: &'static str,
    counter_title: &'static str,
    counter_hint: &'static str,
    note: &'static str,
    counter_button: &'static str,
    write: &'static str,
    send: &'static str,
    withdraw: &'static str,
}

static ZH_CN: DisputeText = DisputeText {
    title: "申诉",
    open_title: "对处理结果申诉",
    open_hint: "不同意店铺的处理？说明理由和您希望的解决方式，店铺需在时限内答复。",
    grounds: "申诉理由",
    wished: "希望的解决方式",
    amount: "补退金额",
    amount_hint: "仅补退款时填写",
    why: "说明",
    open_button: "提交申诉",
    status: "状态",
    answer_by: "店铺答复期限",
    escalated: "已升级至店铺管理员",
    thread: "沟通记录",
    you: "您",
    shop: "店铺",
    proposals: "解决方案",
    no_proposals: "还没有解决方案。",
    accept: "接受此方案",
    counter_title: "拒绝并提出其他方案",
    counter_hint: "提出您的方案即拒绝店铺当前的方案。",
    note: "备注",
    counter_button: "提出方案",
    write: "给店铺留言",
    send: "发送",
    withdraw: "撤回申诉",
};

static EN: DisputeText = DisputeText {
    title: "Dispute",
    open_title: "Dispute the decision",
    open_hint: "Not happy with the shop's decision? Say why and what you wish for; the shop must answer in time.",
    grounds: "Grounds",
    wished: "What you wish for",
    amount: "Amount back",
    amount_hint: "For more money back only",
    why: "Why",
    open_button: "Open the dispute",
    status: "Status",
    answer_by: "The shop answers by",
    escalated: "Escalated to the shop's admins",
    thread: "Messages",
    you: "You",
    shop: "The shop",
    proposals: "Proposals",
    no_proposals: "No proposals yet.",
    accept: "Accept this proposal",
    counter_title: "Reject, and propose something else",
    counter_hint: "Proposing your own rejects the shop's open proposal.",
    note: "Note",
    counter_button: "Propose",
    write: "Write to the shop",
    send: "Send",
    withdraw: "Withdraw the dispute",
};

fn dt(ctx: &Ctx) -> &'static DisputeText {
    match ctx.lang {
        super::Lang::ZhCn => &ZH_CN,
        super::Lang::En => &EN,
    }
}

const GROUNDS: [(&str, &str, &str); 4] = [
    (
        "rejection_not_accepted",
        "不接受拒绝",
        "I do not accept the rejection",
    ),
    ("amount_disputed", "金额有异议", "The amount is wrong"),
    (
        "inspection_disputed",
        "验货结果有异议",
        "The inspection is wrong",
    ),
    ("other", "其他", "Something else"),
];

const RESOLUTIONS: [(&str, &str, &str); 4] = [
    ("supplementary_refund", "补退款", "More money back"),
    ("exchange", "换货", "An exchange"),
    ("redelivery", "重新发货", "Send it again"),
    ("uphold", "维持原处理", "The decision stands"),
];

/// Dispute statuses and proposal states, by the API's name.
const STATES: [(&str, &str, &str); 5] = [
    ("open", "处理中", "open"),
    ("resolved", "已解决", "resolved"),
    ("withdrawn", "已撤回", "withdrawn"),
    ("accepted", "已接受", "accepted"),
    (
        "countered",
        "已拒绝（另有方案）",
        "rejected, another proposed",
    ),
];

fn label(list: &[(&'static str, &'static str, &'static str)], code: &str, ctx: &Ctx) -> String {
    list.iter().find(|(c, _, _)| *c == code).map_or_else(
        || code.to_owned(),
        |(_, zh, en)| match ctx.lang {
            super::Lang::ZhCn => (*zh).to_owned(),
            super::Lang::En => (*en).to_owned(),
        },
    )
}

fn resolution_text(ctx: &Ctx, r: &Resolution) -> String {
    let name = label(&RESOLUTIONS, r.kind(), ctx);
    match r {
        Resolution::SupplementaryRefund { amount } => format!("{name}: {}", money(ctx, *amount)),
        _ => name,
    }
}

/// A unit enum as the API spells it.
fn wire<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The kind and amount fields a form names, as the API reads a resolution.
fn resolution_of(form: &Form, kind: &str, amount: &str) -> Result<ResolutionRequest, String> {
    let mut v = serde_json::json!({"kind": form.get(kind)});
    let a = form.get(amount).trim();
    if !a.is_empty() {
        v["amount"] = a.into();
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn resolution_controls(ctx: &Ctx, prefix: &str) -> Markup {
    let d = dt(ctx);
    let id = |s: &str| format!("{prefix}-{s}");
    html! {
        label for=(id("kind")) { (d.wished) }
        select #(id("kind")) name=(id("kind")) {
            @for (code, _, _) in RESOLUTIONS {
                option value=(code) { (label(&RESOLUTIONS, code, ctx)) }
            }
        }
        label for=(id("amount")) { (d.amount) }
        input #(id("amount")) type="text" inputmode="decimal" name=(id("amount")) aria-describedby=(id("amount-hint"));
        p.hint #(id("amount-hint")) { (d.amount_hint) }
    }
}

/// The dispute's section of the claim's page: the form to open one, or
/// the dispute with its thread and the customer's forms.
pub(super) fn section(ctx: &Ctx, c: &ClaimView) -> Markup {
    let d = dt(ctx);
    let base = format!("/claims/{}/dispute", enc(&c.claim_id));
    let Some(dispute) = &c.dispute else {
        // Only a decision carried out can be disputed; the use case says
        // whether this one can.
        let decided = matches!(
            c.status,
            ClaimStatus::Rejected
                | ClaimStatus::Refunding
                | ClaimStatus::RefundFailed
                | ClaimStatus::Completed
        );
        if !decided {
            return html! {};
        }
        return html! {
            form.card #open-dispute method="post" action=(base) {
                h2 { (d.open_title) }
                p.hint { (d.open_hint) }
                (csrf(ctx))
                label for="grounds" { (d.grounds) }
                select #grounds name="grounds" {
                    @for (code, _, _) in GROUNDS { option value=(code) { (label(&GROUNDS, code, ctx)) } }
                }
                (resolution_controls(ctx, "wished"))
                label for="dispute-text" { (d.why) }
                textarea #dispute-text name="text" maxlength="2000" required {}
                button.primary type="submit" { (d.open_button) }
            }
        };
    };
    thread(ctx, dispute, &base)
}

fn thread(ctx: &Ctx, dispute: &Dispute, base: &str) -> Markup {
    let d = dt(ctx);
    let open = dispute.status == crate::domain::dispute::DisputeStatus::Open;
    let side = |p: Party| match p {
        Party::Customer => d.you,
        Party::Shop => d.shop,
    };
    html! {
        section.card #dispute aria-labelledby="dispute-h" data-status=(dispute.status.as_str()) {
            h2 #dispute-h { (d.title) }
            dl {
                dt { (d.status) } dd #dispute-status { (label(&STATES, dispute.status.as_str(), ctx)) }
                dt { (d.grounds) } dd { (label(&GROUNDS, &wire(&dispute.grounds), ctx)) }
                @if let (true, Some(by)) = (open, dispute.respond_by) {
                    dt { (d.answer_by) } dd { time datetime=(by.to_rfc3339()) { (when(&by)) } }
                }
                @if dispute.escalated_at.is_some() { dt { (d.status) } dd { (d.escalated) } }
            }
            h3 { (d.thread) }
            ol.plain #dispute-posts {
                @for p in &dispute.posts {
                    li data-by=(wire(&p.by)) {
                        strong { (side(p.by)) } " · " time datetime=(p.at.to_rfc3339()) { (when(&p.at)) }
                        p.desc { (p.text) }
                    }
                }
            }
            h3 { (d.proposals) }
            @if dispute.proposals.is_empty() {
                p { (d.no_proposals) }
            } @else {
                ul.plain #proposals {
                    @for q in &dispute.proposals {
                        li data-n=(q.n) data-state=(wire(&q.state)) data-by=(wire(&q.by)) {
                            strong { (side(q.by)) } ": " (resolution_text(ctx, &q.resolution))
                            " · " span.status { (label(&STATES, &wire(&q.state), ctx)) }
                            @if !q.note.is_empty() { p.desc { (q.note) } }
                            @if open && q.state == ProposalState::Open && q.by == Party::Shop {
                                form method="post" action={ (base) "/proposals/" (q.n) "/accept" } {
                                    (csrf(ctx))
                                    button.primary type="submit" { (d.accept) }
                                }
                            }
                        }
                    }
                }
            }
            @if open {
                form #counter-form method="post" action={ (base) "/proposals" } {
                    h3 { (d.counter_title) }
                    p.hint { (d.counter_hint) }
                    (csrf(ctx))
                    (resolution_controls(ctx, "counter"))
                    label for="counter-note" { (d.note) }
                    input #counter-note type="text" name="note" maxlength="500";
                    button.secondary type="submit" { (d.counter_button) }
                }
                form #message-form method="post" action={ (base) "/messages" } {
                    (csrf(ctx))
                    label for="message-text" { (d.write) }
                    textarea #message-text name="text" maxlength="2000" required {}
                    button.secondary type="submit" { (d.send) }
                }
                form #withdraw-form method="post" action={ (base) "/withdraw" } {
                    (csrf(ctx))
                    button.secondary type="submit" { (d.withdraw) }
                }
            }
        }
    }
}

/// After a form: back to the claim's page, or the page with the refusal.
async fn answer(
    st: &WebState,
    ctx: &Ctx,
    claim_id: &str,
    done: Result<disputes::DisputeView, AppError>,
) -> Response {
    match done {
        Ok(_) => ctx.redirect(&format!("/claims/{}#dispute", enc(claim_id))),
        Err(AppError::NotFound(w)) => ctx.error(&AppError::NotFound(w)),
        Err(e) => {
            let why = e.answer().1;
            super::render_claim(st, ctx, claim_id, Some(why)).await
        }
    }
}

async fn open(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let (form, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let request = resolution_of(&form, "wished-kind", "wished-amount").and_then(|wished| {
        serde_json::from_value::<crate::domain::dispute::Grounds>(form.get("grounds").into())
            .map_err(|e| e.to_string())
            .map(|grounds| OpenRequest {
                grounds,
                wished,
                text: form.get("text").to_owned(),
                attachments: Vec::new(),
            })
    });
    let done = match request {
        Ok(r) => disputes::open(&st.services, p, &claim_id, r).await,
        Err(message) => Err(AppError::Invalid {
            code: "invalid_request",
            message,
        }),
    };
    answer(&st, &ctx, &claim_id, done).await
}

async fn message(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let (form, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let request = MessageRequest {
        kind: Default::default(),
        text: form.get("text").to_owned(),
        attachments: Vec::new(),
        clause: None,
    };
    let done = disputes::message(&st.services, p, &claim_id, request).await;
    answer(&st, &ctx, &claim_id, done).await
}

async fn propose(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let (form, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let done = match resolution_of(&form, "counter-kind", "counter-amount") {
        Ok(resolution) => {
            let request = ProposalRequest {
                resolution,
                note: form.get("note").to_owned(),
            };
            disputes::propose(&st.services, p, &claim_id, request).await
        }
        Err(message) => Err(AppError::Invalid {
            code: "invalid_request",
            message,
        }),
    };
    answer(&st, &ctx, &claim_id, done).await
}

async fn accept(
    State(st): State<WebState>,
    ctx: Ctx,
    Path((claim_id, n)): Path<(String, u32)>,
    body: Bytes,
) -> Response {
    let (_, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let done = disputes::accept(&st.services, p, &claim_id, n).await;
    answer(&st, &ctx, &claim_id, done).await
}

async fn withdraw(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let (_, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let done = disputes::withdraw(&st.services, p, &claim_id).await;
    answer(&st, &ctx, &claim_id, done).await
}
