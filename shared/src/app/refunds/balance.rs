//! Store balance: what refunds credited to a customer at a shop.

use crate::app::{require_staff, AppError, Services};
use crate::auth::Principal;
use crate::domain::ids::{CustomerId, OrderId, RefundId, ShopId};
use crate::domain::money::Money;
use crate::repo;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A customer's store balance at one shop: the credits refunds made, the
/// ones still good summed per currency.
#[derive(Debug, Serialize)]
pub struct BalanceView {
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub available: Vec<Money>,
    pub credits: Vec<CreditView>,
}

#[derive(Debug, Serialize)]
pub struct CreditView {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    pub amount: Money,
    pub credited_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
}

/// The balance of the calling customer, or (for the shop's staff) of
/// `customer_id`.
pub async fn balance(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    customer_id: Option<&str>,
) -> Result<BalanceView, AppError> {
    let customer = match (p, customer_id) {
        (Principal::Customer { customer_id: me }, None) => me.clone(),
        (Principal::Customer { customer_id: me }, Some(c)) if c == me => me.clone(),
        (Principal::Customer { .. }, Some(_)) => {
            return Err(AppError::Forbidden(
                "customers see their own balance only".into(),
            ))
        }
        (_, Some(c)) => {
            require_staff(p, shop_id)?;
            c.into()
        }
        (_, None) => {
            return Err(AppError::invalid(
                "invalid_query",
                "staff name the customer: ?customer_id=",
            ))
        }
    };
    let now = s.now();
    let mut available: Vec<Money> = Vec::new();
    let mut credits = Vec::new();
    for r in repo::refunds::balance_credits(&*s.table, shop_id, &customer).await? {
        let expired = r.expires_at.is_some_and(|t| t <= now);
        let amount = r.amount;
        if !expired {
            match available
                .iter_mut()
                .find(|m| m.currency() == amount.currency())
            {
                // Summed in minor units of the currency just matched.
                Some(m) => *m = Money::from_minor(m.minor() + amount.minor(), m.currency()),
                None => available.push(amount),
            }
        }
        credits.push(CreditView {
            refund_id: r.refund_id,
            order_id: r.order_id,
            amount,
            credited_at: r.succeeded_at,
            expires_at: r.expires_at,
            expired,
        });
    }
    Ok(BalanceView {
        shop_id: shop_id.into(),
        customer_id: customer,
        available,
        credits,
    })
}
