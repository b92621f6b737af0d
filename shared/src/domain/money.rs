//! Money: decimal amounts in a currency, never floats.
//!
//! Rounding rules (the only places where money is divided):
//! - Amounts are held exactly as `Decimal`s and must have no more fraction
//!   digits than the currency's minor unit (CNY: 2, to the fen; JPY: 0).
//!   Input with more digits is refused, never rounded silently.
//! - When an amount is split over parts (order discounts and shipping over
//!   lines, a line over its units, a refund over payments) it is split in
//!   minor units by the largest-remainder method ([`allocate`]): each part gets
//!   the floor of its proportional share, and the minor units left over go one
//!   each to the parts with the largest remainders (ties to the earlier part).
//!   The parts always add up to exactly the whole.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Cny,
    Hkd,
    Usd,
    Eur,
    Gbp,
    Jpy,
}

impl Currency {
    /// Digits after the decimal point of the currency's minor unit.
    pub fn minor_digits(self) -> u32 {
        match self {
            Currency::Jpy => 0,
            _ => 2,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Hkd => "HKD",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{amount} has more fraction digits than {currency} allows ({digits})")]
    TooPrecise {
        amount: Decimal,
        currency: &'static str,
        digits: u32,
    },
    #[error("amount {0} must not be negative")]
    Negative(Decimal),
    #[error("amount {0} is too large")]
    TooLarge(Decimal),
}

/// The largest amount we accept in minor units (about 10^15 yuan): far above
/// any order, far below i64 overflow when summed.
const MAX_MINOR: i64 = 100_000_000_000_000_000 / 100;

/// Converts a non-negative decimal amount to minor units, refusing extra digits.
pub fn to_minor(amount: Decimal, currency: Currency) -> Result<i64, MoneyError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(MoneyError::Negative(amount));
    }
    let digits = currency.minor_digits();
    let normalized = amount.normalize();
    if normalized.scale() > digits {
        return Err(MoneyError::TooPrecise {
            amount,
            currency: currency.code(),
            digits,
        });
    }
    let scaled = normalized * Decimal::from(10i64.pow(digits));
    let minor: i64 = scaled
        .try_into()
        .map_err(|_| MoneyError::TooLarge(amount))?;
    if minor > MAX_MINOR {
        return Err(MoneyError::TooLarge(amount));
    }
    Ok(minor)
}

/// Converts minor units back to a decimal amount with the currency's scale.
pub fn from_minor(minor: i64, currency: Currency) -> Decimal {
    Decimal::new(minor, currency.minor_digits())
}

/// An amount in a currency, held in minor units (fen for CNY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn parse(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        Ok(Money {
            minor: to_minor(amount, currency)?,
            currency,
        })
    }
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }
    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }
    pub fn minor(self) -> i64 {
        self.minor
    }
    pub fn currency(self) -> Currency {
        self.currency
    }
    pub fn amount(self) -> Decimal {
        from_minor(self.minor, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount(), self.currency.code())
    }
}

/// The JSON shape of money: `{"amount": "12.30", "currency": "CNY"}`, the
/// amount a string so no client parses it as a float.
#[derive(Serialize, Deserialize)]
struct MoneyJson {
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyJson {
            amount: self.amount(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = MoneyJson::deserialize(d)?;
        Money::parse(m.amount, m.currency).map_err(serde::de::Error::custom)
    }
}

/// Splits `total` minor units over parts in proportion to `weights` by the
/// largest-remainder method. When every weight is zero the split is equal.
/// The result has one entry per weight and sums to exactly `total`.
///
/// Weights and total must be non-negative; an empty `weights` returns an
/// empty vector (and `total` must then be zero for the sum to hold: callers
/// never split over nothing).
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|&w| w as i128).sum();
    let (weights, sum): (Vec<i128>, i128) = if sum == 0 {
        (vec![1; weights.len()], weights.len() as i128)
    } else {
        (weights.iter().map(|&w| w as i128).collect(), sum)
    };
    let total = total as i128;
    let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let num = total * w;
        parts.push(num / sum);
        remainders.push((num % sum, i));
    }
    let mut left = total - parts.iter().sum::<i128>();
    // Largest remainder first; ties go to the earlier part.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts.into_iter().map(|p| p as i64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn cny_is_held_to_the_fen() {
        assert_eq!(to_minor(dec!(12.30), Currency::Cny), Ok(1230));
        assert_eq!(to_minor(dec!(12.3), Currency::Cny), Ok(1230));
        assert_eq!(to_minor(dec!(0), Currency::Cny), Ok(0));
        assert!(matches!(
            to_minor(dec!(12.305), Currency::Cny),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            to_minor(dec!(-1), Currency::Cny),
            Err(MoneyError::Negative(_))
        ));
        assert_eq!(to_minor(dec!(1200), Currency::Jpy), Ok(1200));
        assert!(to_minor(dec!(1.5), Currency::Jpy).is_err());
        assert!(matches!(
            to_minor(dec!(1e20), Currency::Cny),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn money_json_uses_string_amounts_and_refuses_floats() {
        let m = Money::parse(dec!(9.9), Currency::Cny).unwrap();
        let j = serde_json::to_value(m).unwrap();
        assert_eq!(j, serde_json::json!({"amount": "9.90", "currency": "CNY"}));
        let back: Money = serde_json::from_value(j).unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_value::<Money>(
            serde_json::json!({"amount": 9.9, "currency": "CNY"})
        )
        .is_err());
    }

    #[test]
    fn allocate_splits_exactly_with_largest_remainder() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(1000, &[3000, 1000]), vec![750, 250]);
        assert_eq!(allocate(5, &[0, 0]), vec![3, 2]);
        assert_eq!(allocate(0, &[5, 7]), vec![0, 0]);
        assert_eq!(allocate(7, &[1, 2, 4]), vec![1, 2, 4]);
        // The remainder goes to the part with the largest fractional share.
        assert_eq!(allocate(10, &[1, 2]), vec![3, 7]);
    }

    proptest::proptest! {
        #[test]
        fn allocate_sums_to_total_and_stays_proportional(
            total in 0i64..10_000_000,
            weights in proptest::collection::vec(0i64..1_000_000, 1..20)
        ) {
            let parts = allocate(total, &weights);
            proptest::prop_assert_eq!(parts.len(), weights.len());
            proptest::prop_assert_eq!(parts.iter().sum::<i64>(), total);
            let sum: i128 = weights.iter().map(|&w| w as i128).sum();
            for (p, w) in parts.iter().zip(&weights) {
                proptest::prop_assert!(*p >= 0);
                if sum > 0 {
                    let exact = total as i128 * *w as i128;
                    // Within one minor unit of the exact share.
                    proptest::prop_assert!((*p as i128) * sum >= exact - sum);
                    proptest::prop_assert!((*p as i128) * sum <= exact + sum);
                }
            }
        }
    }
}
