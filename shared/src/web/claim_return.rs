//! The return on the claim's page: once the shop waits for the goods, the
//! customer gives the parcel's carrier and tracking number, checked
//! against the carrier's format by the API's use case
//! (`app::returns::ship_return`, `POST /v1/claims/{claim_id}/return-shipment`);
//! after that, the parcel as it was registered.

use super::pages::{csrf, when};
use super::{checked_form, Ctx, WebState};
use crate::app::returns::{self, ShipmentRequest};
use crate::app::{AppError, ClaimView};
use crate::domain::claim::ClaimStatus;
use crate::domain::returns::Shipment;
use crate::domain::tracking::Carrier;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};

pub(super) fn routes() -> Router<WebState> {
    Router::new().route("/claims/{claim_id}/return-shipment", post(ship))
}

struct ReturnText {
    title: &'static str,
    hint: &'static str,
    carrier: &'static str,
    tracking_number: &'static str,
    tracking_hint: &'static str,
    send: &'static str,
    sent: &'static str,
}

static ZH_CN: ReturnText = ReturnText {
    title: "寄回商品",
    hint: "请将商品寄回店铺，并填写快递公司与运单号，我们会自动跟踪包裹。",
    carrier: "快递公司",
    tracking_number: "运单号",
    tracking_hint: "按快递公司的格式填写，例如顺丰 SF1234567890123",
    send: "提交运单号",
    sent: "已寄出",
};

static EN: ReturnText = ReturnText {
    title: "Send the goods back",
    hint: "Send the goods to the shop and give the carrier and tracking number: the parcel is followed from there.",
    carrier: "Carrier",
    tracking_number: "Tracking number",
    tracking_hint: "As the carrier writes it, e.g. SF1234567890123 for SF Express",
    send: "Give the tracking number",
    sent: "Sent",
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
pub(super) fn section(ctx: &Ctx, c: &ClaimView) -> Markup {
    let r = rt(ctx);
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
    if c.status != ClaimStatus::AwaitingReturn {
        return html! {};
    }
    html! {
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
    let form = match checked_form(&ctx, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let p = match ctx.signed_in() {
        Ok(p) => p,
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
