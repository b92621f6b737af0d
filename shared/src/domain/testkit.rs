//! Orders and claims for the domain's own unit tests: built with the
//! domain's constructors, no I/O.

use super::change::Change;
use super::claim::{Actor, Claim, ClaimLine, ClaimType, NewClaim, ReasonCode};
use super::ledger::{LineRequest, OrderRecord};
use super::money::{from_minor, Currency, Money};
use super::order::{Order, OrderDraft};
use super::review::{apply, Verdict};
use chrono::{DateTime, TimeZone, Utc};

/// 2026-03-01 00:00 UTC plus `secs`.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn yuan(minor: i64) -> String {
    from_minor(minor, Currency::Cny).to_string()
}

/// A paid CNY order of `lines` (quantity, unit price in fen), lines `L0`,
/// `L1`..., paid in one payment through `channel`, in `fulfilment`.
pub fn order_with(
    lines: &[(u32, i64)],
    channel: &str,
    fulfilment: serde_json::Value,
) -> OrderRecord {
    let total: i64 = lines.iter().map(|(q, p)| i64::from(*q) * p).sum();
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (q, p))| {
            serde_json::json!({"line_id": format!("L{i}"), "sku": "S", "title": "kettle",
                "kind": "physical", "quantity": q, "unit_price": yuan(*p)})
        })
        .collect();
    let draft: OrderDraft = serde_json::from_value(serde_json::json!({
        "customer_id": "cust-1", "currency": "CNY", "placed_at": "2026-02-20T00:00:00Z",
        "lines": lines,
        "payments": [{"payment_id": "P0", "channel": channel, "provider_txn_id": "txn-1",
            "paid_at": "2026-02-20T00:00:00Z", "amount": yuan(total)}],
        "fulfilment": fulfilment
    }))
    .expect("a valid order draft");
    OrderRecord {
        order: Order::parse("shop-1", "ord-1", draft).expect("a valid order"),
        ledger: Default::default(),
    }
}

/// [`order_with`], not shipped yet, paid by WeChat Pay.
pub fn order(lines: &[(u32, i64)]) -> OrderRecord {
    order_with(
        lines,
        "wechat_pay",
        serde_json::json!({"state": "paid_unshipped"}),
    )
}

/// A claim `clm-1` of `claim_type` for all units of line `L0`, filed at
/// `t(0)` with one photo and reserved on the order's ledger at what the
/// line can give back.
pub fn claim_on(rec: &mut OrderRecord, claim_type: ClaimType) -> Claim {
    let units = rec.order.facts.lines[0].quantity;
    let entry = rec
        .ledger
        .reserve(
            &rec.order,
            "clm-1",
            &[LineRequest {
                line_id: "L0".into(),
                quantity: units,
                weight_grams: None,
            }],
            (claim_type == ClaimType::Exchange).then_some(Money::zero(rec.order.currency())),
        )
        .expect("the line is claimable");
    let lines = ClaimLine::of_entry(entry);
    let (claim, _) = Claim::submit(
        NewClaim {
            claim_id: "clm-1".into(),
            shop_id: rec.order.shop_id.clone(),
            order_id: rec.order.order_id.clone(),
            customer_id: rec.order.facts.customer_id.clone(),
            claim_type,
            reason: ReasonCode::Defective,
            description: "does not heat".into(),
            evidence: vec!["photo-1.jpg".into()],
            lines,
            currency: rec.order.currency(),
        },
        Actor::Customer {
            id: "cust-1".into(),
        },
        t(0),
    )
    .expect("a valid claim");
    claim
}

/// A member of staff.
pub fn staff() -> Actor {
    Actor::Staff { id: "stf-1".into() }
}

/// [`claim_on`] all units of an order of 2 × 50.00, approved in full by
/// [`staff`] at `t(60)`: the order, the claim and the change it made.
pub fn approved(claim_type: ClaimType) -> (OrderRecord, Claim, Change) {
    let mut rec = order(&[(2, 5_000)]);
    let mut claim = claim_on(&mut rec, claim_type);
    let change = apply(
        &mut claim,
        &mut rec,
        &Verdict::approve_requested(),
        staff(),
        t(60),
    )
    .expect("an approvable claim");
    (rec, claim, change)
}
