//! Order intake: storefronts push order snapshots; staff read them with what
//! is still refundable.

use super::{retrying, AppError, Services};
use crate::auth::Principal;
use crate::domain::events::EventType;
use crate::domain::ledger::Ledger;
use crate::domain::money::Money;
use crate::domain::order::Order;
use crate::domain::order::OrderDraft;
use crate::repo;
use crate::repo::Commit;
use crate::repo::OrderRecord;
use crate::repo::OutboxEvent;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub shop_id: crate::domain::ids::ShopId,
    pub order_id: crate::domain::ids::OrderId,
    pub version: u64,
    #[serde(flatten)]
    pub facts: OrderDraft,
    pub total_paid: Money,
    pub refundable: Money,
    pub lines_refundable: Vec<LineRefundable>,
}

#[derive(Debug, Serialize)]
pub struct LineRefundable {
    pub line_id: String,
    pub paid: Money,
    pub units_free: u32,
    pub refundable: Money,
}

pub(crate) fn order_view(rec: &OrderRecord, version: u64) -> OrderView {
    let o = &rec.order;
    let cur = o.currency();
    let lines_refundable = o
        .facts
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (units_free, refundable) = rec.ledger.line_free(o, i);
            LineRefundable {
                line_id: l.line_id.clone(),
                paid: Money::from_minor(o.line_paid(i), cur),
                units_free,
                refundable,
            }
        })
        .collect();
    OrderView {
        shop_id: o.shop_id.clone(),
        order_id: o.order_id.clone(),
        version,
        facts: o.facts.clone(),
        total_paid: Money::from_minor(o.total_paid(), cur),
        refundable: rec.ledger.order_free(o),
        lines_refundable,
    }
}

/// The shop's staff or its storefront.
fn require_shop(p: &Principal, shop_id: &str) -> Result<(), AppError> {
    p.acts_for(shop_id, &[], true)
        .map_err(|r| AppError::Forbidden(r.0))
}

/// Creates or replaces an order snapshot. A change that would leave an
/// existing claim without its lines, units or money is refused.
pub async fn put_order(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
    draft: OrderDraft,
) -> Result<(OrderView, bool), AppError> {
    require_shop(p, shop_id)?;
    let order = Order::parse(shop_id, order_id, draft)?;
    let order = &order;
    retrying(|| async move {
        let existing = repo::orders::get(&*s.table, shop_id, order_id).await?;
        let (ledger, prev) = match existing {
            Some((rec, v)) => {
                let identity_changed = rec.order.facts.customer_id != order.facts.customer_id
                    || rec.order.currency() != order.currency();
                if identity_changed && !rec.ledger.entries.is_empty() {
                    return Err(AppError::conflict(
                        "order_conflicts_with_claims",
                        "the customer and currency of an order with claims cannot change",
                    ));
                }
                if rec.order == *order {
                    // Same snapshot again: nothing to write.
                    return Ok((order_view(&rec, v), false));
                }
                rec.ledger.check_against(order)?;
                (rec.ledger, Some(v))
            }
            None => (Ledger::default(), None),
        };
        let rec = OrderRecord {
            order: order.clone(),
            ledger,
        };
        let now = s.now();
        let event = OutboxEvent::new(
            &order.shop_id,
            &order.order_id,
            if prev.is_some() {
                EventType::OrderUpdated
            } else {
                EventType::OrderCreated
            },
            serde_json::json!({"fulfilment": order.facts.fulfilment}),
            now,
        );
        let mut c = Commit::new();
        c.order(&rec, prev).event(&event);
        repo::commit(&*s.table, c).await?;
        let v = prev.map_or(1, |v| v + 1);
        Ok((order_view(&rec, v), prev.is_none()))
    })
    .await
}

pub async fn get_order(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
) -> Result<OrderView, AppError> {
    require_shop(p, shop_id)?;
    let (rec, v) = repo::orders::get(&*s.table, shop_id, order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    Ok(order_view(&rec, v))
}

/// One of the customer's own orders with what each line can still claim
/// (the same view staff read); the shop's staff and storefront read their
/// shop's. Someone else's order looks exactly like a missing one.
pub async fn customer_order(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
) -> Result<OrderView, AppError> {
    let Principal::Customer { customer_id } = p else {
        return get_order(s, p, shop_id, order_id).await;
    };
    let missing = || AppError::NotFound("order");
    crate::domain::order::check_id("shop_id", shop_id).map_err(|_| missing())?;
    crate::domain::order::check_id("order_id", order_id).map_err(|_| missing())?;
    let (rec, v) = repo::orders::get(&*s.table, shop_id, order_id)
        .await?
        .ok_or_else(missing)?;
    if rec.order.facts.customer_id != *customer_id {
        return Err(missing());
    }
    Ok(order_view(&rec, v))
}
