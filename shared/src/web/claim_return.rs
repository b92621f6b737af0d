//! The return on the claim's page: once the shop waits for the goods, the
//! customer gives the parcel's carrier and tracking number, checked
//! against the carrier's format by the API's use case
//! (`app::returns::ship_return`, `POST /v1/claims/{claim_id}/return-shipment`),
//! or, for goods the shop picks up (large items), books a pickup in one of
//! the shop's windows (`app::returns::book_pickup`, `POST
//! /v1/claims/{claim_id}/pickup`, which keeps the couriers' capacity);
//! after that, the parcel or the pickup as it was registered.

use super::pages::{csrf, when};
use super::{signed_form, Ctx, WebState};
use crate::app::returns::{self, ShipmentRequest};
use crate::app::{self, AppError, ClaimView};
use crate::auth::Principal;
use crate::domain::claim::ClaimStatus;
use crate::domain::returns::{PickupBooking, Shipment};
use crate::domain::tracking::Carrier;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/claims/{claim_id}/return-shipment", post(ship))
        .route("/claims/{claim_id}/pickup", post(pickup))
}

/// The pickup the shop offers for a return: its windows, and how many
/// days ahead it books.
pub(super) struct PickupOffer {
    slots: Vec<String>,
    days_ahead: u32,
}

/// Whether the shop picks up this return's goods (a claimed line of a kind
/// it collects, as the use case decides), for the customer while the shop
/// waits for them.
pub(super) async fn pickup_offer(
    st: &WebState,
    p: &Principal,
    c: &ClaimView,
) -> Result<Option<PickupOffer>, AppError> {
    if c.status != ClaimStatus::AwaitingReturn || !matches!(p, Principal::Customer { .. }) {
        return Ok(None);
    }
    let order = app::customer_order(&st.services, p, &c.shop_id, &c.order_id).await?;
    let policy = app::policy::policy_for(&st.services, &c.shop_id).await?;
    let collected = c.lines.iter().any(|l| {
        order
            .facts
            .lines
            .iter()
            .any(|o| o.line_id == l.line_id && policy.returns.pickup_kinds.contains(&o.kind))
    });
    Ok(collected.then(|| PickupOffer {
        slots: policy.returns.pickup_slots.clone(),
        days_ahead: policy.returns.pickup_days_ahead,
    }))
}

struct ReturnText {
    title: &'static str,
    hint: &'static str,
    carrier: &'static str,
    tracking_number: &'static str,
    tracking_hint: &'static str,
    send: &'static str,
    sent: &'static str,
    pickup_title: &'static str,
    pickup_hint: &'static str,
    date: &'static str,
    window: &'static str,
    address: &'static str,
    contact_name: &'static str,
    contact_phone: &'static str,
    book: &'static str,
    booked: &'static str,
}

static ZH_CN: ReturnText = ReturnText {
    title: "寄回商品",
    hint: "请将商品寄回店铺，并填写快递公司与运单号，我们会自动跟踪包裹。",
    carrier: "快递公司",
    tracking_number: "运单号",
    tracking_hint: "按快递公司的格式填写，例如顺丰 SF1234567890123",
    send: "提交运单号",
    sent: "已寄出",
    pickup_title: "预约上门取件",
    pickup_hint: "大件商品可预约快递上门取件，日期从明天起，最多可提前",
    date: "取件日期",
    window: "取件时段",
    address: "取件地址",
    contact_name: "联系人",
    contact_phone: "联系电话",
    book: "预约取件",
    booked: "已预约上门取件",
};

static EN: ReturnText = ReturnText {
    title: "Send the goods back",
    hint: "Send the goods to the shop and give the carrier and tracking number: the parcel is followed from there.",
    carrier: "Carrier",
    tracking_number: "Tracking number",
    tracking_hint: "As the carrier writes it, e.g. SF1234567890123 for SF Express",
    send: "Give the tracking number",
    sent: "Sent",
    pickup_title: "Book a pickup",
    pickup_hint: "Large items are collected at your door: from tomorrow, days ahead at most:",
    date: "Pickup date",
    window: "Time window",
    address: "Address",
    contact_name: "Contact name",
    contact_phone: "Contact phone",
    book: "Book the pickup",
    booked: "Pickup booked",
};

fn rt(ctx: &Ctx) -> &'static ReturnText {
    match ctx.lang {
        super::Lang::ZhCn => &ZH_CN,
        super::Lang::En => &EN,
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The return's section of the claim's page: the form while the shop
/// waits for the goods, the parcel once it is on its way.
pub(super) fn section(ctx: &Ctx, c: &ClaimView, pickup: Option<&PickupOffer>) -> Markup {
    let r = rt(ctx);
    let booked: Option<PickupBooking> = c
        .returns
        .get("pickup")
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let shipment: Option<Shipment> = c
        .returns
        .get("shipment")
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    if let Some(s) = shipment {
        return html! {
            section.card #return aria-labelledby="return-h" {
                h2 #return-h { (r.title) }
                dl {
                    dt { (r.carrier) } dd #return-carrier { (s.carrier.name()) }
                    dt { (r.tracking_number) } dd #return-number { (s.tracking_number) }
                    dt { (r.sent) } dd { time datetime=(s.shipped_at.to_rfc3339()) { (when(&s.shipped_at)) } }
                }
            }
        };
    }
    if let Some(b) = booked {
        return html! {
            section.card #return aria-labelledby="return-h" {
                h2 #return-h { (r.booked) }
                dl {
                    dt { (r.date) } dd #pickup-date { (b.date.to_string()) }
                    dt { (r.window) } dd #pickup-slot { (b.slot) }
                    dt { (r.address) } dd.desc { (b.address) }
                    dt { (r.contact_name) } dd { (b.contact_name) }
                }
            }
        };
    }
    if c.status != ClaimStatus::AwaitingReturn {
        return html! {};
    }
    html! {
        @if let Some(offer) = pickup {
            form.card #pickup-form method="post" action={ "/claims/" (enc(&c.claim_id)) "/pickup" } {
                h2 #pickup-h { (r.pickup_title) }
                p.hint { (r.pickup_hint) " " (offer.days_ahead) }
                (csrf(ctx))
                label for="pickup-date-input" { (r.date) }
                input #pickup-date-input type="date" name="date" required;
                label for="pickup-window" { (r.window) }
                select #pickup-window name="slot" {
                    @for s in &offer.slots { option value=(s) { (s) } }
                }
                label for="pickup-address" { (r.address) }
                textarea #pickup-address name="address" maxlength="300" rows="2" autocomplete="street-address" required {}
                label for="pickup-name" { (r.contact_name) }
                input #pickup-name type="text" name="contact_name" maxlength="64" autocomplete="name" required;
                label for="pickup-phone" { (r.contact_phone) }
                input #pickup-phone type="tel" name="contact_phone" maxlength="32" autocomplete="tel" required;
                button.primary type="submit" { (r.book) }
            }
        }
        form.card #return-form method="post" action={ "/claims/" (enc(&c.claim_id)) "/return-shipment" } {
            h2 #return-h { (r.title) }
            p.hint { (r.hint) }
            (csrf(ctx))
            label for="carrier" { (r.carrier) }
            select #carrier name="carrier" {
                @for k in Carrier::CHECKED { option value=(k.code()) { (k.name()) } }
            }
            label for="tracking-number" { (r.tracking_number) }
            input #tracking-number type="text" name="tracking_number" maxlength="32"
                autocomplete="off" aria-describedby="tracking-hint" required;
            p.hint #tracking-hint { (r.tracking_hint) }
            button.primary type="submit" { (r.send) }
        }
    }
}

async fn ship(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let (form, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let request = ShipmentRequest {
        carrier: form.get("carrier").to_owned(),
        tracking_number: form.get("tracking_number").trim().to_owned(),
    };
    match returns::ship_return(&st.services, p, &claim_id, request).await {
        Ok(_) => ctx.redirect(&format!("/claims/{}#return", enc(&claim_id))),
        Err(AppError::NotFound(w)) => ctx.error(&AppError::NotFound(w)),
        Err(e) => super::render_claim(&st, &ctx, &claim_id, Some(e.answer().1)).await,
    }
}

async fn pickup(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(claim_id): Path<String>,
    body: Bytes,
) -> Response {
    let (form, p) = match signed_form(&ctx, &body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    // Read as the API reads its body: the date as `YYYY-MM-DD`.
    let booking = serde_json::from_value::<PickupBooking>(serde_json::json!({
        "date": form.get("date").trim(),
        "slot": form.get("slot"),
        "address": form.get("address"),
        "contact_name": form.get("contact_name"),
        "contact_phone": form.get("contact_phone"),
    }));
    let done = match booking {
        Ok(b) => returns::book_pickup(&st.services, p, &claim_id, b).await,
        Err(e) => Err(AppError::Invalid {
            code: "invalid_pickup",
            message: e.to_string(),
        }),
    };
    match done {
        Ok(_) => ctx.redirect(&format!("/claims/{}#return", enc(&claim_id))),
        Err(AppError::NotFound(w)) => ctx.error(&AppError::NotFound(w)),
        Err(e) => super::render_claim(&st, &ctx, &claim_id, Some(e.answer().1)).await,
    }
}
