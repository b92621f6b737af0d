//! Pre-sale orders (seed: 定金 → 尾款 → 发货): the customer pays a deposit,
//! later the balance, and the goods ship after. What a refund of such an
//! order gives back depends on where it stands:
//!
//! - deposit paid, balance not: the deposit alone (there is nothing else);
//! - both paid, nothing shipped: both, each to its own payment;
//! - both paid and the shop still has not shipped
//!   [`PreSalePolicy::compensate_after_days`] after the balance: the shop's
//!   compensation, a multiple of the deposit in all (the seed: twice the
//!   deposit). The payments come back in full; what the compensation adds
//!   beyond them is never put on a payment (no payment is refunded above
//!   what it paid) but goes the policy's way, the store balance by
//!   default, recorded as compensation.
//!
//! The seed's numbers: 100.00 deposit + 900.00 balance, unshipped 7 days
//! after the balance, twice the deposit → 1,100.00 back: 100.00 and 900.00
//! to their payments, 100.00 compensation to the store balance.

use super::money::{Money, MoneyError};
use super::order::{Order, PaymentKind};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A shop's pre-sale terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreSalePolicy {
    /// Compensation is due once the balance was paid this many days ago
    /// and nothing shipped.
    #[serde(default = "default_days")]
    pub compensate_after_days: u32,
    /// What the customer gets back in all for the deposit, as a multiple
    /// of it (2: the deposit twice).
    #[serde(default = "default_multiple")]
    pub deposit_multiple: u32,
}

fn default_days() -> u32 {
    7
}
fn default_multiple() -> u32 {
    2
}

impl Default for PreSalePolicy {
    fn default() -> Self {
        PreSalePolicy {
            compensate_after_days: default_days(),
            deposit_multiple: default_multiple(),
        }
    }
}

impl PreSalePolicy {
    /// A policy a shop may send: 1 to 90 days, a multiple of 1 to 5.
    pub fn valid(&self) -> bool {
        (1..=90).contains(&self.compensate_after_days) && (1..=5).contains(&self.deposit_multiple)
    }
}

/// Where a pre-sale order stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Not a pre-sale order (no deposit payment).
    NotPreSale,
    /// The deposit is paid, the balance not yet.
    DepositPaid { deposit: Money },
    /// Both paid; `balance_paid_at` starts the compensation clock.
    BalancePaid {
        deposit: Money,
        balance: Money,
        balance_paid_at: DateTime<Utc>,
    },
    /// The goods left: an ordinary return from here on.
    Shipped,
}

/// What a pre-sale refund gives back: each payment's part, and the
/// compensation beyond the payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payback {
    /// (payment id, amount), never above what the payment paid.
    pub payments: Vec<(String, Money)>,
    /// Beyond the payments: the shop's compensation, paid the policy's way.
    pub compensation: Money,
}

impl Payback {
    /// Everything the customer gets back.
    pub fn total(&self) -> Result<Money, MoneyError> {
        let currency = self.compensation.currency();
        Money::checked_sum(
            currency,
            self.payments
                .iter()
                .map(|(_, m)| *m)
                .chain([self.compensation]),
        )
    }
}

/// Why a pre-sale refund or compensation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreSaleRefusal {
    #[error("this order is not a pre-sale order (it has no deposit payment)")]
    NotPreSale,
    #[error("the goods have shipped: return them instead")]
    Shipped,
    #[error("the balance is not paid: there is no delay to compensate")]
    BalanceUnpaid,
    /// Compensation asked for before the shop's threshold.
    #[error("compensation is due from {due_at} ({days} days after the balance was paid)")]
    TooEarly { due_at: DateTime<Utc>, days: u32 },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The stage of `order`: by its payments' kinds and its fulfilment.
pub fn stage(order: &Order) -> Result<Stage, MoneyError> {
    let f = &order.facts;
    let currency = order.currency();
    let of_kind = |k: PaymentKind| f.payments.iter().filter(move |p| p.kind == k);
    let sum = |k: PaymentKind| -> Result<Money, MoneyError> {
        let parts = of_kind(k)
            .map(|p| p.amount.to_money(currency))
            .collect::<Result<Vec<_>, _>>()?;
        Money::checked_sum(currency, parts)
    };
    if of_kind(PaymentKind::Deposit).next().is_none() {
        return Ok(Stage::NotPreSale);
    }
    if f.fulfilment.shipped_at.is_some() {
        return Ok(Stage::Shipped);
    }
    let deposit = sum(PaymentKind::Deposit)?;
    match of_kind(PaymentKind::Balance).map(|p| p.paid_at).max() {
        None => Ok(Stage::DepositPaid { deposit }),
        Some(balance_paid_at) => Ok(Stage::BalancePaid {
            deposit,
            balance: sum(PaymentKind::Balance)?,
            balance_paid_at,
        }),
    }
}

/// When compensation becomes due for an order whose balance was paid.
pub fn compensation_due_at(
    policy: &PreSalePolicy,
    balance_paid_at: DateTime<Utc>,
) -> DateTime<Utc> {
    balance_paid_at + Duration::days(i64::from(policy.compensate_after_days))
}

/// Whether the shop owes compensation at `now` (a rule fact).
pub fn compensation_due(order: &Order, policy: &PreSalePolicy, now: DateTime<Utc>) -> bool {
    matches!(
        stage(order),
        Ok(Stage::BalancePaid { balance_paid_at, .. }) if now >= compensation_due_at(policy, balance_paid_at)
    )
}

/// Everything paid on an unshipped pre-sale order, each payment in full
/// (the deposit alone while the balance is unpaid).
pub fn cancellation(order: &Order) -> Result<Payback, PreSaleRefusal> {
    match stage(order)? {
        Stage::NotPreSale => Err(PreSaleRefusal::NotPreSale),
        Stage::Shipped => Err(PreSaleRefusal::Shipped),
        Stage::DepositPaid { .. } | Stage::BalancePaid { .. } => Ok(Payback {
            payments: paid(order)?,
            compensation: Money::zero(order.currency()),
        }),
    }
}

/// The compensation for a balance paid and nothing shipped past the
/// policy's threshold: every payment back in full, and the deposit's
/// multiple beyond them.
pub fn compensation(
    order: &Order,
    policy: &PreSalePolicy,
    now: DateTime<Utc>,
) -> Result<Payback, PreSaleRefusal> {
    let (deposit, balance_paid_at) = match stage(order)? {
        Stage::NotPreSale => return Err(PreSaleRefusal::NotPreSale),
        Stage::Shipped => return Err(PreSaleRefusal::Shipped),
        Stage::DepositPaid { .. } => return Err(PreSaleRefusal::BalanceUnpaid),
        Stage::BalancePaid {
            deposit,
            balance_paid_at,
            ..
        } => (deposit, balance_paid_at),
    };
    let due_at = compensation_due_at(policy, balance_paid_at);
    if now < due_at {
        return Err(PreSaleRefusal::TooEarly {
            due_at,
            days: policy.compensate_after_days,
        });
    }
    // The deposit comes back with its payment; the rest of its multiple is
    // the compensation.
    let extra = deposit
        .minor()
        .checked_mul(i64::from(policy.deposit_multiple.saturating_sub(1)))
        .ok_or(MoneyError::Overflow)?;
    Ok(Payback {
        payments: paid(order)?,
        compensation: Money::from_minor(extra, order.currency()),
    })
}

fn paid(order: &Order) -> Result<Vec<(String, Money)>, MoneyError> {
    order
        .facts
        .payments
        .iter()
        .map(|p| Ok((p.payment_id.clone(), p.amount.to_money(order.currency())?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{Order, OrderDraft};

    /// The seed's order: 100.00 deposit on 1 Dec, 900.00 balance on 3 Dec.
    fn presale(balance: bool, shipped: bool) -> Order {
        let mut payments = vec![
            serde_json::json!({"payment_id": "DEP", "channel": "wechat_pay",
            "provider_txn_id": "t1", "amount": "100.00", "kind": "deposit",
            "paid_at": "2026-12-01T10:00:00Z"}),
        ];
        if balance {
            payments.push(
                serde_json::json!({"payment_id": "BAL", "channel": "wechat_pay",
                "provider_txn_id": "t2", "amount": "900.00", "kind": "balance",
                "paid_at": "2026-12-03T10:00:00Z"}),
            );
        }
        let fulfilment = if shipped {
            serde_json::json!({"state": "shipped", "shipped_at": "2026-12-05T10:00:00Z"})
        } else {
            serde_json::json!({"state": "paid_unshipped"})
        };
        let draft: OrderDraft = serde_json::from_value(serde_json::json!({
            "customer_id": "c", "currency": "CNY", "placed_at": "2026-12-01T09:00:00Z",
            "lines": [{"line_id": "L1", "sku": "AC", "title": "air conditioner", "kind": "pre_sale",
                       "quantity": 1, "unit_price": if balance { "1000.00" } else { "100.00" }}],
            "payments": payments, "fulfilment": fulfilment}))
        .expect("a draft");
        Order::parse("shop-1", "o-1", draft).expect("an order")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn yuan(minor: i64) -> Money {
        Money::from_minor(minor, crate::domain::money::Currency::Cny)
    }

    #[test]
    fn the_seed_numbers_twice_the_deposit_after_seven_days() {
        let o = presale(true, false);
        let p = PreSalePolicy::default();
        let back = compensation(&o, &p, at("2026-12-10T10:00:00Z")).expect("due");
        assert_eq!(
            back.payments,
            vec![
                ("DEP".to_string(), yuan(10_000)),
                ("BAL".to_string(), yuan(90_000))
            ]
        );
        assert_eq!(back.compensation, yuan(10_000));
        assert_eq!(back.total().unwrap(), yuan(110_000));
        assert!(compensation_due(&o, &p, at("2026-12-10T10:00:00Z")));
    }

    #[test]
    fn compensation_waits_for_the_threshold_to_the_second() {
        let o = presale(true, false);
        let p = PreSalePolicy::default();
        let early = compensation(&o, &p, at("2026-12-10T09:59:59Z")).unwrap_err();
        assert_eq!(
            early,
            PreSaleRefusal::TooEarly {
                due_at: at("2026-12-10T10:00:00Z"),
                days: 7
            }
        );
        assert!(!compensation_due(&o, &p, at("2026-12-10T09:59:59Z")));
        // Three times the deposit: 200.00 beyond the payments.
        let triple = PreSalePolicy {
            deposit_multiple: 3,
            ..p
        };
        let back = compensation(&o, &triple, at("2026-12-11T00:00:00Z")).unwrap();
        assert_eq!(back.compensation, yuan(20_000));
    }

    #[test]
    fn the_deposit_alone_before_the_balance_and_nothing_once_shipped() {
        let o = presale(false, false);
        assert_eq!(
            stage(&o).unwrap(),
            Stage::DepositPaid {
                deposit: yuan(10_000)
            }
        );
        let back = cancellation(&o).unwrap();
        assert_eq!(back.payments, vec![("DEP".to_string(), yuan(10_000))]);
        assert_eq!(back.compensation, yuan(0));
        assert_eq!(
            compensation(&o, &PreSalePolicy::default(), at("2027-01-01T00:00:00Z")),
            Err(PreSaleRefusal::BalanceUnpaid)
        );
        let both = cancellation(&presale(true, false)).unwrap();
        assert_eq!(both.total().unwrap(), yuan(100_000));
        let shipped = presale(true, true);
        assert_eq!(stage(&shipped).unwrap(), Stage::Shipped);
        assert_eq!(cancellation(&shipped), Err(PreSaleRefusal::Shipped));
        assert!(!compensation_due(
            &shipped,
            &PreSalePolicy::default(),
            at("2027-01-01T00:00:00Z")
        ));
    }

    #[test]
    fn an_ordinary_order_is_no_pre_sale() {
        let rec = crate::domain::testkit::order(&[(1, 5_000)]);
        assert_eq!(stage(&rec.order).unwrap(), Stage::NotPreSale);
        assert_eq!(cancellation(&rec.order), Err(PreSaleRefusal::NotPreSale));
    }

    #[test]
    fn policies_out_of_range_are_refused() {
        assert!(PreSalePolicy::default().valid());
        for bad in [
            PreSalePolicy {
                compensate_after_days: 0,
                deposit_multiple: 2,
            },
            PreSalePolicy {
                compensate_after_days: 7,
                deposit_multiple: 6,
            },
        ] {
            assert!(!bad.valid(), "{bad:?}");
        }
    }
}
