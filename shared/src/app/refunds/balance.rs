//! Store balance: what refunds credited to a customer at a shop, what the
//! storefront took from it at checkout, and what is left to spend.

use crate::app::{check_idempotency_key, money_of, require_staff, retrying, AppError, Services};
use crate::auth::Principal;
use crate::domain::ids::{CustomerId, OrderId, RefundId, ShopId};
use crate::domain::money::{Amount, Currency, Money};
use crate::domain::order::check_id;
use crate::domain::wallet::{self, Credit, Debit};
use crate::repo::{self, Commit, RepoError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A customer's store balance at one shop: the credits refunds made, the
/// debits at checkout, and what is spendable, per currency.
#[derive(Debug, Serialize)]
pub struct BalanceView {
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub available: Vec<Money>,
    pub credits: Vec<CreditView>,
    /// Oldest first.
    pub debits: Vec<Debit>,
}

#[derive(Debug, Serialize)]
pub struct CreditView {
    pub refund_id: RefundId,
    pub order_id: OrderId,
    pub amount: Money,
    /// What debits left of it (nothing once it lapsed).
    pub left: Money,
    pub credited_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
}

/// The customer whose balance: the calling customer's own, or (the shop's
/// staff) `customer_id`'s.
fn whose(p: &Principal, shop_id: &str, customer_id: Option<&str>) -> Result<CustomerId, AppError> {
    match (p, customer_id) {
        (Principal::Customer { customer_id: me }, None) => Ok(me.clone()),
        (Principal::Customer { customer_id: me }, Some(c)) if c == me => Ok(me.clone()),
        (Principal::Customer { .. }, Some(_)) => Err(AppError::Forbidden(
            "customers see their own balance only".into(),
        )),
        (_, Some(c)) => {
            require_staff(p, shop_id)?;
            Ok(c.into())
        }
        (_, None) => Err(AppError::invalid(
            "invalid_query",
            "staff name the customer: ?customer_id=",
        )),
    }
}

/// The credits and debits of a customer at a shop, as read.
async fn ledger(
    s: &Services,
    shop_id: &str,
    customer: &str,
) -> Result<(Vec<(crate::domain::refund::Refund, Credit)>, Vec<Debit>), AppError> {
    let credits = repo::refunds::balance_credits(&*s.table, shop_id, customer)
        .await?
        .into_iter()
        .map(|r| {
            let c = Credit {
                id: r.refund_id.to_string(),
                amount: r.amount,
                at: r.succeeded_at.unwrap_or(r.updated_at),
                expires_at: r.expires_at,
            };
            (r, c)
        })
        .collect();
    let debits = repo::wallet::debits(&*s.table, shop_id, customer).await?;
    Ok((credits, debits))
}

/// The balance of the calling customer, or (for the shop's staff) of
/// `customer_id`.
pub async fn balance(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    customer_id: Option<&str>,
) -> Result<BalanceView, AppError> {
    let customer = whose(p, shop_id, customer_id)?;
    let now = s.now();
    let (read, debits) = ledger(s, shop_id, &customer).await?;
    let credits: Vec<Credit> = read.iter().map(|(_, c)| c.clone()).collect();
    let left = wallet::remaining(&credits, &debits, now);
    let mut currencies: Vec<Currency> = credits.iter().map(|c| c.amount.currency()).collect();
    currencies.dedup();
    currencies.sort_by_key(|c| c.code());
    currencies.dedup();
    let available = currencies
        .into_iter()
        .map(|cur| wallet::available(&credits, &debits, cur, now))
        .collect();
    let credits = read
        .into_iter()
        .zip(left)
        .map(|((r, _), (_, left))| CreditView {
            expired: r.expires_at.is_some_and(|t| t <= now),
            refund_id: r.refund_id,
            order_id: r.order_id,
            amount: r.amount,
            left,
            credited_at: r.succeeded_at,
            expires_at: r.expires_at,
        })
        .collect();
    Ok(BalanceView {
        shop_id: shop_id.into(),
        customer_id: customer,
        available,
        credits,
        debits,
    })
}

/// The body of `POST /v1/shops/{shop}/balance/debits`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebitRequest {
    pub customer_id: String,
    /// The order the balance pays for.
    pub order_id: String,
    pub amount: Amount,
    pub currency: Currency,
}

#[derive(Debug, Serialize)]
pub struct DebitView {
    #[serde(flatten)]
    pub debit: Debit,
    /// Spendable after it, in its currency.
    pub available: Money,
}

/// The storefront takes `amount` from the customer's balance at checkout:
/// at most what is spendable (credits not lapsed, less earlier debits),
/// once per Idempotency-Key (the same key again answers the same debit).
pub async fn debit(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    body: DebitRequest,
    idempotency_key: Option<&str>,
) -> Result<(DebitView, bool), AppError> {
    p.acts_for(shop_id, &[], true)
        .map_err(|r| AppError::Forbidden(r.0))?;
    let key = idempotency_key.ok_or_else(|| {
        AppError::invalid(
            "idempotency_key_required",
            "send an Idempotency-Key header: a debit must not happen twice",
        )
    })?;
    check_idempotency_key(key)?;
    check_id("customer_id", &body.customer_id)
        .map_err(|m| AppError::invalid("invalid_request", m))?;
    check_id("order_id", &body.order_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    let amount = money_of("amount", body.amount, body.currency)?;
    let body = &body;
    retrying(|| async move {
        if let Some(done) = repo::wallet::get(&*s.table, shop_id, &body.customer_id, key).await? {
            return replay(s, done, body, amount).await;
        }
        let (_, v) = repo::wallet::account(&*s.table, shop_id, &body.customer_id).await?;
        let (read, debits) = ledger(s, shop_id, &body.customer_id).await?;
        let credits: Vec<Credit> = read.into_iter().map(|(_, c)| c).collect();
        let now = s.now();
        let d = wallet::debit(
            &credits,
            &debits,
            Debit {
                debit_id: key.to_owned(),
                shop_id: shop_id.into(),
                customer_id: body.customer_id.as_str().into(),
                order_id: body.order_id.as_str().into(),
                amount,
                at: now,
            },
        )?;
        let mut c = Commit::new();
        c.debit(&d, v);
        match repo::commit(&*s.table, c).await {
            Ok(()) => {}
            // The same key won a race meanwhile: answer what it made.
            Err(RepoError::Conflict { duplicate: true }) => {
                let done = repo::wallet::get(&*s.table, shop_id, &body.customer_id, key)
                    .await?
                    .ok_or(AppError::Repo(RepoError::Conflict { duplicate: false }))?;
                return replay(s, done, body, amount).await;
            }
            Err(e) => return Err(e.into()),
        }
        let mut all = debits;
        all.push(d.clone());
        let available = wallet::available(&credits, &all, amount.currency(), now);
        tracing::info!(shop_id, debit_id = %d.debit_id, amount = d.amount.minor(), "balance debited");
        Ok((DebitView { debit: d, available }, true))
    })
    .await
}

/// The answer for a key used before: the same debit, or a refusal when the
/// key came with another request.
async fn replay(
    s: &Services,
    done: Debit,
    body: &DebitRequest,
    amount: Money,
) -> Result<(DebitView, bool), AppError> {
    if done.amount != amount || done.order_id.as_str() != body.order_id {
        return Err(AppError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different debit",
        ));
    }
    let (read, debits) = ledger(s, &done.shop_id, &done.customer_id).await?;
    let credits: Vec<Credit> = read.into_iter().map(|(_, c)| c).collect();
    let available = wallet::available(&credits, &debits, amount.currency(), s.now());
    Ok((
        DebitView {
            debit: done,
            available,
        },
        false,
    ))
}
