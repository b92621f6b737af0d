//! The store balance (退至商城余额) as money the customer can spend: credits
//! are refunds to the balance (each lapsing by the shop's policy), debits
//! are what the storefront took at checkout. A debit takes from the credits
//! that lapse soonest, so what lapses is only what was left unspent; the
//! balance never goes below zero.

use super::change::Refused;
use super::ids::{CustomerId, OrderId, ShopId};
use super::money::{Currency, Money};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Money put on the balance (a refund that succeeded to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub id: String,
    pub amount: Money,
    pub at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Money the storefront took from the balance at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debit {
    /// The storefront's Idempotency-Key: one debit per key.
    pub debit_id: String,
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub amount: Money,
    pub at: DateTime<Utc>,
}

/// What is left of each credit after the debits, at `now`: (credit, left),
/// and the balance per currency (credits not lapsed).
pub fn remaining(credits: &[Credit], debits: &[Debit], now: DateTime<Utc>) -> Vec<(Credit, Money)> {
    let mut left: Vec<(Credit, i64)> = credits
        .iter()
        .map(|c| (c.clone(), c.amount.minor()))
        .collect();
    let mut debits: Vec<&Debit> = debits.iter().collect();
    debits.sort_by_key(|d| d.at);
    for d in debits {
        let mut due = d.amount.minor();
        // The credits there at the debit, soonest to lapse first (the
        // ones that never lapse last).
        let mut usable: Vec<usize> = (0..left.len())
            .filter(|&i| {
                let c = &left[i].0;
                c.amount.currency() == d.amount.currency()
                    && c.at <= d.at
                    && c.expires_at.is_none_or(|e| e > d.at)
            })
            .collect();
        usable.sort_by_key(|&i| {
            (
                left[i].0.expires_at.is_none(),
                left[i].0.expires_at,
                left[i].0.at,
            )
        });
        for i in usable {
            let take = due.min(left[i].1);
            left[i].1 -= take;
            due -= take;
            if due == 0 {
                break;
            }
        }
    }
    left.into_iter()
        .map(|(c, m)| {
            let cur = c.amount.currency();
            let live = c.expires_at.is_none_or(|e| e > now);
            (c, Money::from_minor(if live { m } else { 0 }, cur))
        })
        .collect()
}

/// The spendable balance in `currency` at `now`.
pub fn available(
    credits: &[Credit],
    debits: &[Debit],
    currency: Currency,
    now: DateTime<Utc>,
) -> Money {
    let minor = remaining(credits, debits, now)
        .iter()
        .filter(|(c, _)| c.amount.currency() == currency && c.at <= now)
        .map(|(_, m)| m.minor())
        .sum();
    Money::from_minor(minor, currency)
}

/// A debit of `amount` at `now`: above zero, and within what is spendable.
pub fn debit(credits: &[Credit], debits: &[Debit], new: Debit) -> Result<Debit, Refused> {
    if !new.amount.is_positive() {
        return Err(Refused::invalid(
            "invalid_amount",
            "amount: a debit is above zero",
        ));
    }
    let have = available(credits, debits, new.amount.currency(), new.at);
    if new.amount.minor() > have.minor() {
        return Err(Refused::invalid(
            "insufficient_balance",
            format!("the balance is {have}; {} cannot be taken", new.amount),
        ));
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::t;

    fn cny(m: i64) -> Money {
        Money::from_minor(m, Currency::Cny)
    }

    fn credit(id: &str, m: i64, at: i64, expires: Option<i64>) -> Credit {
        Credit {
            id: id.into(),
            amount: cny(m),
            at: t(at),
            expires_at: expires.map(t),
        }
    }

    fn debit_of(m: i64, at: i64) -> Debit {
        Debit {
            debit_id: format!("d{at}"),
            shop_id: "shop-1".into(),
            customer_id: "c".into(),
            order_id: "o".into(),
            amount: cny(m),
            at: t(at),
        }
    }

    #[test]
    fn debits_take_from_the_soonest_to_lapse_and_never_below_zero() {
        let credits = [
            credit("a", 5_000, 0, None),
            credit("b", 3_000, 10, Some(1_000)),
        ];
        assert_eq!(available(&credits, &[], Currency::Cny, t(20)), cny(8_000));
        // 20.00 at t(20) comes out of b (lapsing) first: 10.00 of b and 50.00 of a left.
        let d = debit(&credits, &[], debit_of(2_000, 20)).unwrap();
        let debits = [d];
        assert_eq!(
            available(&credits, &debits, Currency::Cny, t(30)),
            cny(6_000)
        );
        // b lapses with only its unspent 10.00.
        assert_eq!(
            available(&credits, &debits, Currency::Cny, t(1_000)),
            cny(5_000)
        );
        // Never below zero.
        let e = debit(&credits, &debits, debit_of(5_001, 1_001)).unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Invalid {
                    code: "insufficient_balance",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(debit(&credits, &debits, debit_of(5_000, 1_001)).is_ok());
        assert!(debit(&credits, &debits, debit_of(0, 1_001)).is_err());
    }

    #[test]
    fn a_credit_counts_only_from_when_it_arrived_and_in_its_currency() {
        let credits = [credit("a", 1_000, 100, None)];
        assert!(
            debit(&credits, &[], debit_of(500, 50)).is_err(),
            "not there yet"
        );
        let mut usd = debit_of(500, 200);
        usd.amount = Money::from_minor(500, Currency::Usd);
        assert!(debit(&credits, &[], usd).is_err());
    }
}
