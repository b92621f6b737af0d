//! The pages' templates (maud: every `(value)` is escaped; nothing a
//! customer typed is ever inserted unescaped). Mobile first: one column,
//! large touch targets, a wider layout only on wide screens.

use super::i18n::{
    self, claim_type_label, fulfilment_label, reason_code, reason_label, status_label, type_value,
    units_left,
};
use super::{Ctx, Form, CSRF_FIELD};
use crate::app::notify::InboxPage;
use crate::app::{ClaimQuote, ClaimView, OrderView};
use crate::auth::Principal;
use crate::domain::claim::{ClaimEvent, TimelineEntry};
use crate::domain::messages::{self, ClaimFacts};
use crate::domain::money::Money;
use crate::domain::policy::{Payer, ShopPolicy};
use crate::domain::returns::ShippingPayer;
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

pub const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1d2329;background:#f4f5f7}
header{background:#16324f;color:#fff;padding:.75rem 1rem}
header a,header button{color:#fff}
.brand{font-weight:600;margin:0 0 .25rem;font-size:1.1rem}
nav ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.75rem;align-items:center}
nav form{display:inline;margin:0}
nav button{background:none;border:1px solid #fff;border-radius:4px;padding:.25rem .5rem;font:inherit;cursor:pointer}
main{padding:1rem;max-width:48rem;margin:0 auto}
h1{font-size:1.4rem;margin:.5rem 0 1rem}
h2{font-size:1.15rem;margin:1.25rem 0 .5rem}
.card{background:#fff;border-radius:8px;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-x:auto}
ul.plain,ol.plain{list-style:none;margin:0;padding:0}
ul.plain>li,ol.plain>li{border-bottom:1px solid #e3e6ea;padding:.6rem 0}
ul.plain>li:last-child,ol.plain>li:last-child{border-bottom:0}
h3{font-size:1rem;margin:1rem 0 .25rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dt{color:#5a6570}
dd{margin:0}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=number],input[type=date],input[type=tel],select,textarea{width:100%;font:inherit;padding:.6rem;border:1px solid #9aa5b1;border-radius:6px;background:#fff}
textarea{min-height:6rem}
fieldset{border:1px solid #d5dae0;border-radius:6px;margin:.75rem 0;padding:.5rem .75rem}
fieldset label,label.inline{display:inline;font-weight:400;margin:0 1rem 0 .25rem}
.hint{color:#5a6570;font-size:.9rem;margin:.25rem 0 0}
.check{margin:.75rem 0 0}
button.primary,a.button{display:inline-block;margin-top:1rem;padding:.75rem 1.25rem;font:inherit;font-weight:600;border:0;border-radius:6px;background:#1f6feb;color:#fff;text-decoration:none;cursor:pointer;min-height:44px}
button.secondary{margin-top:.5rem;padding:.4rem .8rem;font:inherit;border:1px solid #1f6feb;border-radius:6px;background:#fff;color:#1f6feb;cursor:pointer}
.alert{background:#fdecea;border:1px solid #e5534b;border-radius:6px;padding:.75rem;margin:0 0 1rem}
.status{display:inline-block;padding:.1rem .5rem;border-radius:999px;background:#e7f0fd;color:#16324f;font-size:.9rem}
ol.timeline{list-style:none;margin:0;padding:0 0 0 1rem;border-left:3px solid #1f6feb}
ol.timeline li{margin:0 0 1rem;padding-left:.75rem}
ol.timeline time{color:#5a6570;font-size:.9rem;display:block}
.step-title{font-weight:600}
.unread{font-weight:600}
.money{font-variant-numeric:tabular-nums}
.desc{white-space:pre-wrap;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse}
.range{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-end}
.range input{font:inherit;padding:.5rem;border:1px solid #9aa5b1;border-radius:6px}
.range button.secondary{padding:.55rem .9rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(26rem,1fr));gap:0 1rem}
details{margin-top:.5rem}
summary{cursor:pointer;color:#1f6feb}
img.photo{max-width:10rem;height:auto;border-radius:6px;margin:.25rem .5rem .25rem 0;vertical-align:top}
th,td{text-align:left;padding:.4rem .25rem;border-bottom:1px solid #e3e6ea;vertical-align:top}
@media (min-width:48rem){main{padding:1.5rem}}
@media (min-width:72rem){main{max-width:64rem}}
"#;

pub const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#16324f"/><path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>"##;

pub(super) fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub(super) fn money(ctx: &Ctx, m: Money) -> String {
    messages::format_money(m, ctx.lang.language())
}

pub(super) fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(ctx.csrf); }
}

/// The frame of every page: language, navigation, the content.
pub(super) fn layout(ctx: &Ctx, title: &str, content: Markup) -> Markup {
    let t = ctx.t();
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t.app_name) }
                link rel="stylesheet" href="/assets/app.css";
                link rel="icon" href="/favicon.ico" type="image/svg+xml";
            }
            body {
                header {
                    p.brand { (t.app_name) }
                    nav aria-label=(t.nav_label) {
                        ul {
                            @if matches!(ctx.who, Some(Principal::Customer { .. })) {
                                li { a href="/" { (t.nav_claims) } }
                                li { a href="/inbox" { (t.nav_inbox) } }
                            }
                            @if matches!(ctx.who, Some(Principal::Staff { .. })) {
                                li { a href="/desk" { (t.nav_desk) } }
                            }
                            li {
                                a href={ "?lang=" (t.other_language_code) }
                                    hreflang=(t.other_language_code)
                                    lang=(t.other_language_code)
                                    aria-label={ (t.switch_language) ": " (t.other_language) } {
                                    (t.other_language)
                                }
                            }
                            @if ctx.who.is_some() {
                                li {
                                    form method="post" action="/sign-out" {
                                        (csrf(ctx))
                                        button type="submit" { (t.sign_out) }
                                    }
                                }
                            }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// A page that only says something (errors, refusals).
pub fn message(ctx: &Ctx, title: &str, text: &str) -> Markup {
    let t = ctx.t();
    layout(
        ctx,
        title,
        html! {
            h1 { (title) }
            div.card role="alert" { p { (text) } }
            p { a href="/" { (t.back_home) } }
        },
    )
}

pub fn sign_in(ctx: &Ctx, problem: Option<&str>) -> Markup {
    let t = ctx.t();
    layout(
        ctx,
        t.sign_in_title,
        html! {
            h1 { (t.sign_in_title) }
            @if let Some(p) = problem { div.alert role="alert" { (p) } }
            form.card method="post" action="/sign-in" {
                (csrf(ctx))
                p.hint { (t.sign_in_intro) }
                label for="role" { (t.sign_in_as) }
                select #role name="role" {
                    option value="customer" selected { (t.role_customer) }
                    option value="storefront" { (t.role_storefront) }
                    option value="staff" { (t.role_staff) }
                }
                label for="id" { (t.customer_id) " / " (t.staff_id) }
                input #id type="text" name="id" autocomplete="username" value="alice";
                label for="shop_id" { (t.shop_id) }
                input #shop_id type="text" name="shop_id" value="shop-1";
                fieldset {
                    legend { (t.staff_roles) }
                    input #role-reviewer type="checkbox" name="staff_roles" value="reviewer";
                    label for="role-reviewer" { (t.staff_role_reviewer) }
                    input #role-admin type="checkbox" name="staff_roles" value="admin";
                    label for="role-admin" { (t.staff_role_admin) }
                    input #role-finance type="checkbox" name="staff_roles" value="finance";
                    label for="role-finance" { (t.staff_role_finance) }
                }
                button.primary type="submit" { (t.sign_in_button) }
            }
        },
    )
}

fn open_order_form(ctx: &Ctx) -> Markup {
    let t = ctx.t();
    html! {
        form.card method="get" action="/orders" {
            h2 { (t.open_order) }
            label for="open-shop" { (t.shop_id) }
            input #open-shop type="text" name="shop_id" value="shop-1" required;
            label for="open-order" { (t.order_id) }
            input #open-order type="text" name="order_id" required;
            button.primary type="submit" { (t.open_button) }
        }
    }
}

pub fn home(ctx: &Ctx, claims: &[ClaimView]) -> Markup {
    let t = ctx.t();
    layout(
        ctx,
        t.my_claims,
        html! {
            h1 { (t.my_claims) }
            section.card aria-labelledby="claims-h" {
                h2 #claims-h { (t.my_claims) }
                @if claims.is_empty() {
                    p { (t.no_claims) }
                } @else {
                    ul.plain #claims {
                        @for c in claims {
                            li data-claim-id=(c.claim_id) {
                                a href={ "/claims/" (c.claim_id) } {
                                    (t.claim) " " (messages::short_id(&c.claim_id))
                                }
                                " · " (claim_type_label(c.claim_type, ctx.lang))
                                " · " span.status data-status=(c.status.as_str()) { (status_label(c.status, ctx.lang)) }
                                br;
                                span.money { (money(ctx, c.requested_amount)) }
                                " · " (t.order) " " (c.order_id)
                                " · " time datetime=(c.created_at.to_rfc3339()) { (when(&c.created_at)) }
                            }
                        }
                    }
                }
            }
            (open_order_form(ctx))
        },
    )
}

pub fn shop_home(ctx: &Ctx, p: &Principal) -> Markup {
    let t = ctx.t();
    let who = match p {
        Principal::Customer { customer_id } => customer_id.to_string(),
        Principal::Staff {
            staff_id, shop_id, ..
        } => format!("{} {staff_id} · {} {shop_id}", t.role_staff, t.shop_id),
        Principal::Storefront { shop_id } => {
            format!("{} · {} {shop_id}", t.role_storefront, t.shop_id)
        }
    };
    layout(
        ctx,
        t.app_name,
        html! {
            h1 { (t.app_name) }
            div.card {
                p { (t.signed_in_as) ": " (who) }
                @if matches!(p, Principal::Staff { .. }) {
                    p { a #to-desk href="/desk" { (t.nav_desk) } }
                } @else {
                    p { (t.shop_pages_later) }
                }
            }
        },
    )
}

fn policy_panel(ctx: &Ctx, order: &OrderView, policy: &ShopPolicy) -> Markup {
    let t = ctx.t();
    let hours = policy
        .review_deadline_hours
        .hours_for(order.facts.member_tier);
    html! {
        section.card #policy aria-labelledby="policy-h" {
            h2 #policy-h { (t.policy_title) }
            ul {
                li { (t.policy_review) (hours) }
                li { (t.policy_no_reason) (policy.no_reason_return_days) }
                @if policy.auto_approve_overdue_refund_only { li { (t.policy_auto_approve) } }
                li {
                    @match policy.non_quality_return_shipping {
                        Payer::Customer => { (t.policy_return_shipping_customer) }
                        Payer::Shop => { (t.policy_return_shipping_shop) }
                    }
                }
            }
        }
    }
}

fn order_summary(ctx: &Ctx, order: &OrderView) -> Markup {
    let t = ctx.t();
    html! {
        section.card aria-labelledby="lines-h" {
            dl {
                dt { (t.order_id) } dd { (order.order_id) }
                dt { (t.shop_id) } dd { (order.shop_id) }
                dt { (t.placed_at) } dd { (when(&order.facts.placed_at)) }
                dt { (t.fulfilment) } dd { (fulfilment_label(order.facts.fulfilment.state, ctx.lang)) }
                dt { (t.order_refundable) } dd.money #order-refundable { (money(ctx, order.refundable)) }
            }
            h2 #lines-h { (t.lines) }
            table {
                thead {
                    tr {
                        th scope="col" { (t.item) }
                        th scope="col" { (t.paid) }
                        th scope="col" { (t.can_still_claim) }
                    }
                }
                tbody {
                    @for (line, free) in order.facts.lines.iter().zip(&order.lines_refundable) {
                        tr data-line-id=(line.line_id) {
                            td { (line.title) br; span.hint { (line.sku) " × " (line.quantity) } }
                            td.money { (money(ctx, free.paid)) }
                            td.money.refundable {
                                (money(ctx, free.refundable)) br;
                                span.hint { (units_left(free.units_free, ctx.lang)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn order(
    ctx: &Ctx,
    order: &OrderView,
    policy: &ShopPolicy,
    form: &Form,
    problem: Option<&str>,
) -> Markup {
    let t = ctx.t();
    let claimable: Vec<_> = order
        .facts
        .lines
        .iter()
        .zip(&order.lines_refundable)
        .filter(|(_, f)| f.units_free > 0)
        .collect();
    let chosen_reason = form.get("reason");
    let chosen_type = match form.get("type") {
        "" => "refund_only",
        v => v,
    };
    let chosen_line = form.get("line_id");
    let quantity = match form.get("quantity") {
        "" => "1",
        q => q,
    };
    let title = format!("{} {}", t.order_title, order.order_id);
    layout(
        ctx,
        &title,
        html! {
            h1 { (title) }
            @if let Some(p) = problem {
                div.alert role="alert" #form-error { (t.form_error) " " (p) }
            }
            (order_summary(ctx, order))
            (policy_panel(ctx, order, policy))
            @if claimable.is_empty() {
                div.card { p { (t.nothing_left) } }
            } @else {
                form.card #claim-form method="post" enctype="multipart/form-data"
                    action={ "/orders/" (enc(&order.shop_id)) "/" (enc(&order.order_id)) "/quote" } {
                    h2 { (t.claim_form) }
                    (csrf(ctx))
                    label for="claim-type" { (t.claim_type) }
                    select #claim-type name="type" aria-describedby="type-hint" {
                        @for c in i18n::CLAIM_TYPES {
                            @let v = type_value(c);
                            option value=(v) selected[v == chosen_type] { (claim_type_label(c, ctx.lang)) }
                        }
                    }
                    p.hint #type-hint { (t.type_hint) }
                    label for="reason" { (t.reason) }
                    select #reason name="reason" required {
                        @for r in i18n::REASONS {
                            @let code = reason_code(r);
                            option value=(code) selected[code == chosen_reason] { (reason_label(r, ctx.lang)) }
                        }
                    }
                    label for="line" { (t.line) }
                    select #line name="line_id" required {
                        @for (line, free) in &claimable {
                            option value=(line.line_id) selected[line.line_id == chosen_line] {
                                (line.title) " (" (units_left(free.units_free, ctx.lang)) ", " (money(ctx, free.refundable)) ")"
                            }
                        }
                    }
                    label for="quantity" { (t.quantity) }
                    input #quantity type="number" name="quantity" min="1" step="1" inputmode="numeric" value=(quantity) required;
                    label for="amount" { (t.amount) }
                    input #amount type="text" name="amount" inputmode="decimal" aria-describedby="amount-hint" value=(form.get("amount"));
                    p.hint #amount-hint { (t.amount_hint) }
                    div.check {
                        input #opened type="checkbox" name="opened" value="yes" checked[form.get("opened") == "yes"];
                        label.inline for="opened" { (t.opened) }
                    }
                    label for="voucher-codes" { (t.voucher_codes) }
                    textarea #voucher-codes name="voucher_codes" rows="2" aria-describedby="voucher-codes-hint" { (form.get("voucher_codes")) }
                    p.hint #voucher-codes-hint { (t.voucher_codes_hint) }
                    label for="description" { (t.description) }
                    textarea #description name="description" maxlength="2000" aria-describedby="description-hint" { (form.get("description")) }
                    p.hint #description-hint { (t.description_hint) }
                    label for="photos" { (t.photos) }
                    input #photos type="file" name="photo" accept="image/jpeg,image/png" multiple aria-describedby="photos-hint";
                    p.hint #photos-hint { (t.photos_hint) }
                    button.primary type="submit" { (t.quote_button) }
                }
            }
        },
    )
}

/// The payer as the API spells it (`customer`, `shop`, `member_perk`).
fn payer_code(p: ShippingPayer) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn confirm(
    ctx: &Ctx,
    order: &OrderView,
    policy: &ShopPolicy,
    form: &Form,
    quote: &ClaimQuote,
    idempotency_key: &str,
    evidence: &[String],
) -> Markup {
    let t = ctx.t();
    let line = order
        .facts
        .lines
        .iter()
        .find(|l| l.line_id == form.get("line_id"));
    let reason = i18n::REASONS
        .into_iter()
        .find(|r| reason_code(*r) == form.get("reason"));
    let base = format!("/orders/{}/{}", enc(&order.shop_id), enc(&order.order_id));
    layout(
        ctx,
        t.quote_title,
        html! {
            h1 { (t.quote_title) }
            section.card #quote aria-labelledby="quote-h" {
                h2 #quote-h { (t.claim_form) }
                dl {
                    dt { (t.order) } dd { (order.order_id) }
                    dt { (t.claim_type) }
                    dd #quote-type data-type=(form.get("type")) {
                        (i18n::type_of_value(form.get("type")).map_or("", |c| claim_type_label(c, ctx.lang)))
                    }
                    dt { (t.line) } dd { (line.map_or(form.get("line_id"), |l| l.title.as_str())) " × " (form.get("quantity")) }
                    dt { (t.reason) } dd { (reason.map_or(form.get("reason"), |r| reason_label(r, ctx.lang))) }
                    dt { (t.description) } dd.desc #quote-description { (form.get("description")) }
                    dt { (t.quote_refundable) } dd.money { (money(ctx, quote.refundable)) }
                    @if !quote.restocking_fee.is_zero() {
                        dt { (t.quote_restocking_fee) } dd.money { (money(ctx, quote.restocking_fee)) }
                    }
                    dt { (t.quote_refund) } dd.money #quote-refund { (money(ctx, quote.refund)) }
                    @if let Some(r) = &quote.return_shipping {
                        dt { (t.quote_return_shipping) }
                        dd #quote-return-shipping data-payer=(payer_code(r.payer)) {
                            @match r.payer {
                                ShippingPayer::Customer => { (t.payer_customer) }
                                ShippingPayer::Shop => { (t.payer_shop) }
                                ShippingPayer::MemberPerk => { (t.payer_member_perk) }
                            }
                        }
                        @if !r.shipping_refund.is_zero() {
                            dt { (t.quote_shipping_refund) } dd.money #quote-shipping-refund { (money(ctx, r.shipping_refund)) }
                        }
                    }
                    @if !evidence.is_empty() {
                        dt { (t.photos) } dd #quote-photos { (evidence.len()) }
                    }
                }
            }
            (policy_panel(ctx, order, policy))
            form.card #confirm-form method="post" action={ (base) "/claims" } {
                (csrf(ctx))
                input type="hidden" name="idempotency_key" value=(idempotency_key);
                @for name in ["type", "reason", "line_id", "quantity", "amount", "description", "opened", "voucher_codes"] {
                    input type="hidden" name=(name) value=(form.get(name));
                }
                // The photos are stored already; the claim names them.
                @for key in evidence { input type="hidden" name="evidence" value=(key); }
                button.primary type="submit" { (t.submit_button) }
                p { a href=(base) { (t.change_link) } }
            }
        },
    )
}

pub fn claim(
    ctx: &Ctx,
    c: &ClaimView,
    problem: Option<&str>,
    pickup: Option<&super::claim_return::PickupOffer>,
) -> Markup {
    let t = ctx.t();
    let lang = ctx.lang.language();
    let steps: Vec<TimelineEntry> = c
        .timeline
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    let facts = ClaimFacts {
        claim_id: &c.claim_id,
        claim_type: c.claim_type,
        requested_amount: c.requested_amount,
        approved_amount: c.approved_amount,
        review_within: None,
        rejection_text: None,
    };
    let expected = steps.iter().rev().find_map(|s| match &s.event {
        ClaimEvent::RefundSent {
            expected_arrival: Some(at),
            ..
        } => Some(*at),
        _ => None,
    });
    let arrived = steps.iter().rev().find_map(|s| match &s.event {
        ClaimEvent::RefundArrived { arrived_at, .. } => Some(*arrived_at),
        _ => None,
    });
    let title = format!("{} {}", t.claim_title, messages::short_id(&c.claim_id));
    layout(
        ctx,
        &title,
        html! {
            h1 { (title) }
            @if let Some(p) = problem {
                div.alert role="alert" #form-error { (t.form_error) " " (p) }
            }
            section.card {
                dl {
                    dt { (t.status) }
                    dd { span.status #claim-status data-status=(c.status.as_str()) { (status_label(c.status, ctx.lang)) } }
                    dt { (t.claim_type) } dd #claim-type-name data-type=(c.claim_type.type_name()) { (claim_type_label(c.claim_type, ctx.lang)) }
                    dt { (t.reason) } dd { (reason_label(c.reason, ctx.lang)) }
                    dt { (t.order) } dd { a href={ "/orders/" (enc(&c.shop_id)) "/" (enc(&c.order_id)) } { (c.order_id) } }
                    dt { (t.requested) } dd.money { (money(ctx, c.requested_amount)) }
                    @if let Some(a) = c.approved_amount {
                        dt { (t.approved_amount) } dd.money #approved-amount { (money(ctx, a)) }
                    }
                    @if let Some(at) = expected {
                        dt { (t.expected_arrival) } dd #expected-arrival { time datetime=(at.to_rfc3339()) { (when(&at)) } }
                    }
                    @if let Some(at) = arrived {
                        dt { (t.arrived_at) } dd #refund-arrived { time datetime=(at.to_rfc3339()) { (when(&at)) } }
                    }
                    dt { (t.filed_at) } dd { time datetime=(c.created_at.to_rfc3339()) { (when(&c.created_at)) } }
                    @if !c.description.is_empty() {
                        dt { (t.description) } dd.desc #claim-description { (c.description) }
                    }
                    @if !c.evidence.is_empty() {
                        dt { (t.photos) }
                        dd #claim-evidence {
                            @for i in 0..c.evidence.len() {
                                @let src = format!("/claims/{}/photos/{i}", enc(&c.claim_id));
                                a href=(src) { img.photo src=(src) alt={ (t.photos) " " (i + 1) } width="160"; }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="timeline-h" {
                h2 #timeline-h { (t.timeline) }
                ol.timeline #timeline {
                    @for s in &steps {
                        @let m = messages::render(&s.event, &facts, lang);
                        li data-step=(s.event.step().as_str()) {
                            time datetime=(s.at.to_rfc3339()) { (when(&s.at)) }
                            span.step-title { (m.title) }
                            p { (m.body) }
                        }
                    }
                }
            }
            (super::claim_return::section(ctx, c, pickup))
            (super::claim_dispute::section(ctx, c))
        },
    )
}

pub fn inbox(ctx: &Ctx, page: &InboxPage) -> Markup {
    let t = ctx.t();
    layout(
        ctx,
        t.inbox_title,
        html! {
            h1 { (t.inbox_title) " " span #unread-count { "(" (page.unread) " " (t.unread) ")" } }
            section.card {
                @if page.messages.is_empty() {
                    p { (t.no_messages) }
                } @else {
                    ul.plain #messages {
                        @for m in &page.messages {
                            li.unread[m.read_at.is_none()] data-event=(m.event) data-message-id=(m.message_id) {
                                time datetime=(m.at.to_rfc3339()) { (when(&m.at)) }
                                div.step-title { (m.title) }
                                p { (m.body) }
                                a href={ "/claims/" (enc(&m.claim_id)) } { (t.view_claim) }
                                @if m.read_at.is_none() {
                                    form method="post" action={ "/inbox/" (enc(&m.message_id)) "/read" } {
                                        (csrf(ctx))
                                        button.secondary type="submit" { (t.mark_read) }
                                    }
                                } @else {
                                    " · " span.hint { (t.read) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
