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
use std::cmp::Ordering;
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
    #[error("amount {0} is too large (at most {MAX_MAJOR} in the major unit)")]
    TooLarge(Decimal),
    /// Not a plain decimal string: a number, an exponent, a sign, NaN...
    #[error("{0}")]
    Malformed(String),
    /// A sum or difference left the range money may take.
    #[error("amount out of range")]
    Overflow,
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(&'static str, &'static str),
}

/// The largest amount we accept, in minor units: 10^13 (100 billion yuan),
/// far above any order and far enough below i64's range that the sums the
/// ledger makes over one order's amounts can never overflow.
pub const MAX_MINOR: i64 = 10_000_000_000_000;
/// The same bound as it is shown to callers (for two-digit currencies).
const MAX_MAJOR: i64 = MAX_MINOR / 100;

/// Converts a non-negative decimal amount to minor units, refusing extra
/// digits and amounts above [`MAX_MINOR`]. Never panics: every step that
/// could overflow a `Decimal` is checked.
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
    let scaled = normalized
        .checked_mul(Decimal::from(10i64.pow(digits)))
        .ok_or(MoneyError::TooLarge(amount))?;
    let minor: i64 = scaled
        .try_into()
        .map_err(|_| MoneyError::TooLarge(amount))?;
    if minor > MAX_MINOR {
        return Err(MoneyError::TooLarge(amount));
    }
    Ok(minor)
}

/// Marks the message of every serde error an [`Amount`] raises, so that the
/// HTTP layer can answer `invalid_amount` naming the field, whichever body
/// the amount sat in.
pub const AMOUNT_ERROR_TAG: &str = "invalid amount: ";

/// An amount as callers send it, in major units: a JSON string of digits
/// with at most one decimal point ("12.30"), no sign, exponent, spaces or
/// NaN, at most 13 digits before the point. Parsed once at the edge; it
/// becomes money with the currency's scale through [`Amount::to_minor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    pub fn parse(s: &str) -> Result<Amount, MoneyError> {
        const SHAPE: &str =
            "write amounts as strings of digits with at most one decimal point, such as \"12.30\"";
        let malformed = || MoneyError::Malformed(format!("{s:?} is not an amount: {SHAPE}"));
        if s.len() > 64 {
            return Err(MoneyError::Malformed(format!(
                "an amount of {} characters: {SHAPE}",
                s.len()
            )));
        }
        if let Some(rest) = s.strip_prefix('-').filter(|r| !r.starts_with('-')) {
            return match Amount::parse(rest) {
                // Minus zero is zero (and orders stored before amounts were
                // parsed this strictly may hold "-0.00").
                Ok(a) if a.is_zero() => Ok(a),
                Ok(_) => Err(MoneyError::Malformed(format!(
                    "{s:?} is negative: amounts are never below zero"
                ))),
                Err(e) => Err(e),
            };
        }
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(malformed());
        }
        let significant = int.trim_start_matches('0');
        // 14 digits: the bound below is for new amounts (to_minor); orders
        // stored under the old, higher bound (10^13) still read back.
        if significant.len() > 14 {
            return Err(MoneyError::Malformed(format!(
                "{s:?} is too large: at most {MAX_MAJOR} in the major unit"
            )));
        }
        if frac.trim_end_matches('0').len() > 4 {
            return Err(MoneyError::Malformed(format!(
                "{s:?} has too many decimals: at most 2 (0 for JPY)"
            )));
        }
        // Keep the scale the caller wrote ("99.00" stays "99.00"), unless
        // they padded it with more zeros than a Decimal holds.
        let frac = if frac.len() <= 8 {
            frac
        } else {
            frac.trim_end_matches('0')
        };
        let int = if significant.is_empty() {
            "0"
        } else {
            significant
        };
        let text = if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        };
        text.parse::<Decimal>().map(Amount).map_err(|_| malformed())
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// Minor units of `currency`; more decimals than it has are refused.
    pub fn to_minor(self, currency: Currency) -> Result<i64, MoneyError> {
        to_minor(self.0, currency)
    }

    /// Money in `currency`; more decimals than it has are refused.
    pub fn to_money(self, currency: Currency) -> Result<Money, MoneyError> {
        Money::parse(self.0, currency)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// For amounts with no currency of their own (a filter over claims in
    /// any currency): no more decimals than any currency has, and within
    /// the bound.
    pub fn check_any_currency(self) -> Result<(), MoneyError> {
        to_minor(self.0, Currency::Cny).map(|_| ())
    }
}

impl From<Decimal> for Amount {
    /// For amounts we made ourselves (tests, stored facts); outside input
    /// goes through [`Amount::parse`].
    fn from(d: Decimal) -> Self {
        Amount(d)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Amount {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount as a string, such as \"12.30\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                Amount::parse(v).map_err(|e| E::custom(format!("{AMOUNT_ERROR_TAG}{e}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "{AMOUNT_ERROR_TAG}{v} is a JSON number: send amounts as strings, such as \"12.30\""
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                self.visit_f64(v as f64)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "{AMOUNT_ERROR_TAG}{v} is not an amount: send a string such as \"12.30\""
                )))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Amount, A::Error> {
                Err(serde::de::Error::custom(format!(
                    "{AMOUNT_ERROR_TAG}an object is not an amount: send a string such as \"12.30\""
                )))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Amount, A::Error> {
                Err(serde::de::Error::custom(format!(
                    "{AMOUNT_ERROR_TAG}a list is not an amount: send a string such as \"12.30\""
                )))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Amount, E> {
                Err(E::custom(format!(
                    "{AMOUNT_ERROR_TAG}null is not an amount: leave the field out or send a string such as \"12.30\""
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
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
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }
    pub const fn zero(currency: Currency) -> Self {
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

    /// The sum, in range and in one currency, or why not.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        in_range(self.minor.checked_add(other.minor)).map(|m| Money::from_minor(m, self.currency))
    }

    /// The difference, in range and in one currency, or why not.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        in_range(self.minor.checked_sub(other.minor)).map(|m| Money::from_minor(m, self.currency))
    }

    /// `n` times the amount (a unit price times a quantity), in range.
    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        in_range(self.minor.checked_mul(n)).map(|m| Money::from_minor(m, self.currency))
    }

    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    pub fn is_negative(self) -> bool {
        self.minor < 0
    }

    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// How this compares with `other`, when both are in one currency:
    /// amounts in two currencies have no order.
    pub fn checked_cmp(self, other: Money) -> Result<Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.minor.cmp(&other.minor))
    }

    /// The smaller of the two, in one currency.
    pub fn checked_min(self, other: Money) -> Result<Money, MoneyError> {
        Ok(match self.checked_cmp(other)? {
            Ordering::Greater => other,
            _ => self,
        })
    }

    /// Whether this is between zero and `most`, both included (an amount
    /// approved out of what was asked); money in another currency is not.
    pub fn within(self, most: Money) -> Result<bool, MoneyError> {
        Ok(!self.is_negative() && self.checked_cmp(most)? != Ordering::Greater)
    }

    /// Minor units, if this is money in `currency` (where a caller works in
    /// minor units of one currency, such as the ledger of an order).
    pub fn minor_in(self, currency: Currency) -> Result<i64, MoneyError> {
        self.same_currency(Money::zero(currency))?;
        Ok(self.minor)
    }

    /// The sum of `parts`, every one in `currency` (zero for none), in
    /// range.
    pub fn checked_sum(
        currency: Currency,
        parts: impl IntoIterator<Item = Money>,
    ) -> Result<Money, MoneyError> {
        parts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(
                self.currency.code(),
                other.currency.code(),
            ))
        }
    }
}

/// Sums minor units of one order's amounts, refusing a total above
/// [`MAX_MINOR`] instead of overflowing.
pub fn checked_sum(parts: impl IntoIterator<Item = i64>) -> Result<i64, MoneyError> {
    parts
        .into_iter()
        .try_fold(0i64, |acc, p| in_range(acc.checked_add(p)))
}

/// A result of i64 arithmetic on minor units, if it neither overflowed nor
/// left the range money may take.
fn in_range(minor: Option<i64>) -> Result<i64, MoneyError> {
    minor
        .filter(|m| m.abs() <= MAX_MINOR)
        .ok_or(MoneyError::Overflow)
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
    fn the_largest_decimal_is_too_large_not_a_panic() {
        let d: Decimal = "79228162514264337593543950335".parse().unwrap();
        assert!(matches!(
            to_minor(d, Currency::Cny),
            Err(MoneyError::TooLarge(_))
        ));
    }

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
    fn amounts_from_outside_are_plain_decimal_strings() {
        assert_eq!(Amount::parse("12.30").unwrap().to_string(), "12.30");
        assert_eq!(Amount::parse("0").unwrap(), Amount::from(dec!(0)));
        assert_eq!(Amount::parse("007.5").unwrap().decimal(), dec!(7.5));
        for bad in [
            "",
            ".5",
            "5.",
            "1e3",
            "1E3",
            "NaN",
            "inf",
            "-1",
            "-0.01",
            "+1",
            " 1",
            "1 ",
            "1,00",
            "1.2.3",
            "0x10",
            "١٢",
            "79228162514264337593543950335",
            "999999999999999.00",
            "1.00001",
            "--0",
            "-",
            "-x",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} accepted");
        }
        // Minus zero is zero.
        let z = Amount::parse("-0.00").unwrap();
        assert!(z.is_zero());
        assert_eq!(z.to_minor(Currency::Cny), Ok(0));
        // Read back under the old bound, refused as new money by the new one.
        let old = Amount::parse("10000000000000.00").unwrap();
        assert!(matches!(
            old.to_minor(Currency::Cny),
            Err(MoneyError::TooLarge(_))
        ));
        // Accepted in shape, refused with the currency's scale or bound.
        let a = Amount::parse("1.001").unwrap();
        assert!(matches!(
            a.to_minor(Currency::Cny),
            Err(MoneyError::TooPrecise { .. })
        ));
        let big = Amount::parse("9999999999999").unwrap();
        assert!(matches!(
            big.to_minor(Currency::Cny),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(
            Amount::parse("100000000000")
                .unwrap()
                .to_minor(Currency::Cny),
            Ok(MAX_MINOR)
        );
    }

    #[test]
    fn amount_json_errors_are_tagged_for_the_http_layer() {
        for bad in [
            serde_json::json!(12.3),
            serde_json::json!(12),
            serde_json::json!(null),
            serde_json::json!(true),
            serde_json::json!("1e400"),
            serde_json::json!("NaN"),
            serde_json::json!({"amount": "1.00"}),
            serde_json::json!(["1.00"]),
        ] {
            let e = serde_json::from_value::<Amount>(bad.clone()).unwrap_err();
            assert!(e.to_string().starts_with(AMOUNT_ERROR_TAG), "{bad}: {e}");
        }
        let a: Amount = serde_json::from_value(serde_json::json!("5.00")).unwrap();
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!("5.00"));
    }

    #[test]
    fn money_arithmetic_is_checked() {
        let cny = |m| Money::from_minor(m, Currency::Cny);
        assert_eq!(cny(5).checked_add(cny(7)), Ok(cny(12)));
        assert_eq!(
            cny(MAX_MINOR).checked_add(cny(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(cny(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(cny(3).checked_sub(cny(5)), Ok(cny(-2)));
        assert!(matches!(
            cny(1).checked_add(Money::from_minor(1, Currency::Usd)),
            Err(MoneyError::CurrencyMismatch(..))
        ));
        assert_eq!(checked_sum([MAX_MINOR, 1]), Err(MoneyError::Overflow));
        assert_eq!(checked_sum([1, 2, 3]), Ok(6));
    }

    proptest::proptest! {
        #[test]
        fn no_string_makes_amount_parsing_or_conversion_panic(s in "\\PC{0,40}") {
            if let Ok(a) = Amount::parse(&s) {
                let _ = a.to_minor(Currency::Cny);
                let _ = a.to_minor(Currency::Jpy);
            }
        }

        #[test]
        fn no_decimal_makes_to_minor_panic(mantissa in proptest::num::i128::ANY, scale in 0u32..=28) {
            if let Ok(d) = Decimal::try_from_i128_with_scale(mantissa % 79_228_162_514_264_337_593_543_950_335i128, scale) {
                let _ = to_minor(d, Currency::Cny);
            }
        }
    }

    #[test]
    fn money_in_two_currencies_is_never_compared_or_summed() {
        let cny = |m| Money::from_minor(m, Currency::Cny);
        let usd = Money::from_minor(500, Currency::Usd);
        assert_eq!(cny(5).checked_cmp(cny(7)), Ok(Ordering::Less));
        assert_eq!(cny(7).checked_cmp(cny(7)), Ok(Ordering::Equal));
        assert_eq!(
            cny(500).checked_cmp(usd),
            Err(MoneyError::CurrencyMismatch("CNY", "USD"))
        );
        assert_eq!(cny(3).checked_min(cny(2)), Ok(cny(2)));
        assert!(cny(3).checked_min(usd).is_err());
        assert_eq!(cny(0).within(cny(0)), Ok(true));
        assert_eq!(cny(5).within(cny(5)), Ok(true));
        assert_eq!(cny(6).within(cny(5)), Ok(false));
        assert_eq!(cny(-1).within(cny(5)), Ok(false));
        assert!(usd.within(cny(1000)).is_err());
        assert_eq!(cny(12).minor_in(Currency::Cny), Ok(12));
        assert_eq!(
            usd.minor_in(Currency::Cny),
            Err(MoneyError::CurrencyMismatch("USD", "CNY"))
        );
        assert_eq!(
            Money::checked_sum(Currency::Cny, [cny(1), cny(2), cny(3)]),
            Ok(cny(6))
        );
        assert_eq!(
            Money::checked_sum(Currency::Jpy, []),
            Ok(Money::zero(Currency::Jpy))
        );
        assert!(Money::checked_sum(Currency::Cny, [cny(1), usd]).is_err());
        assert!(Money::checked_sum(Currency::Usd, [cny(1)]).is_err());
        assert_eq!(
            Money::checked_sum(Currency::Cny, [cny(MAX_MINOR), cny(1)]),
            Err(MoneyError::Overflow)
        );
        assert!(cny(0).is_zero() && cny(1).is_positive() && cny(-1).is_negative());
        let a = Amount::parse("12.30").unwrap();
        assert_eq!(a.to_money(Currency::Cny), Ok(cny(1230)));
        assert!(matches!(
            a.to_money(Currency::Jpy),
            Err(MoneyError::TooPrecise { .. })
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

/// Fuzzing (see `crate::fuzzing`): amounts as callers write them and money
/// as JSON, checked against an oracle written apart from the parser.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{self, cases, mutate_str, mutations, DEFAULT_CASES};
    use proptest::prelude::*;

    const CURRENCIES: [Currency; 6] = [
        Currency::Cny,
        Currency::Hkd,
        Currency::Usd,
        Currency::Eur,
        Currency::Gbp,
        Currency::Jpy,
    ];

    /// What `Amount::parse` documents, computed without it: an optional
    /// minus (only for zero), digits, at most one point with digits after
    /// it, at most 14 significant whole digits and 4 significant decimals,
    /// at most 64 characters.
    fn oracle(s: &str) -> Option<Decimal> {
        if s.len() > 64 {
            return None;
        }
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) if !f.is_empty() => (i, f),
            Some(_) => return None,
            None => (body, ""),
        };
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        if int.len() > 14 || frac.len() > 4 {
            return None;
        }
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let part: i128 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        let scale = frac.len() as u32;
        let value = whole * 10i128.pow(scale) + part;
        if negative && value != 0 {
            return None;
        }
        Decimal::try_from_i128_with_scale(value, scale).ok()
    }

    fn amount_text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "-?[0-9]{0,20}(\\.[0-9]{0,12})?",
            2 => ("-?[0-9]{1,16}(\\.[0-9]{1,10})?", mutations(3))
                .prop_map(|(s, m)| mutate_str(&s, &m)),
            1 => "0{0,70}[0-9]{0,3}\\.?[0-9]{0,3}0{0,70}",
            1 => "\\PC{0,70}",
            1 => any::<String>(),
        ]
    }

    #[test]
    fn fuzz_amount_parsing_matches_its_grammar_and_round_trips() {
        fuzzing::run(
            "money/amount_parse",
            cases(DEFAULT_CASES),
            amount_text(),
            |s| {
                let parsed = Amount::parse(&s);
                let expected = oracle(&s);
                prop_assert_eq!(
                    parsed.as_ref().ok().map(|a| a.decimal()),
                    expected,
                    "{:?}",
                    s
                );
                if let Ok(a) = parsed {
                    // parse → format → parse keeps the value (and the scale).
                    let again = Amount::parse(&a.to_string());
                    prop_assert_eq!(
                        again.map(|b| (b.decimal(), b.decimal().scale())),
                        Ok((a.decimal(), a.decimal().scale()))
                    );
                    let json = serde_json::to_string(&a).unwrap();
                    let back: Amount = serde_json::from_str(&json).unwrap();
                    prop_assert_eq!(back.decimal(), a.decimal());
                    for c in CURRENCIES {
                        let unit = Decimal::from(10i64.pow(c.minor_digits()));
                        let exact = a.decimal() * unit;
                        match a.to_minor(c) {
                            Ok(m) => {
                                prop_assert_eq!(Decimal::from(m), exact);
                                prop_assert!((0..=MAX_MINOR).contains(&m));
                                prop_assert_eq!(from_minor(m, c), a.decimal());
                            }
                            Err(MoneyError::TooPrecise { .. }) => {
                                prop_assert!(!exact.fract().is_zero())
                            }
                            Err(MoneyError::TooLarge(_)) => {
                                prop_assert!(exact > Decimal::from(MAX_MINOR))
                            }
                            Err(e) => prop_assert!(false, "{s:?} in {c:?}: {e}"),
                        }
                    }
                }
                Ok(())
            },
        );
    }

    fn money_json() -> impl Strategy<Value = Vec<u8>> {
        let valid = (0i64..=MAX_MINOR, 0..CURRENCIES.len())
            .prop_map(|(m, c)| serde_json::to_value(Money::from_minor(m, CURRENCIES[c])).unwrap());
        prop_oneof![
            (
                valid,
                fuzzing::json_edits(2, &["amount", "currency"]),
                mutations(2)
            )
                .prop_map(|(v, e, m)| fuzzing::near_json(&v, &e, &m)),
            (amount_text(), "[A-Z]{3}|CNY|JPY|cny|").prop_map(|(a, c)| {
                serde_json::json!({"amount": a, "currency": c})
                    .to_string()
                    .into_bytes()
            }),
            fuzzing::bytes(),
        ]
    }

    #[test]
    fn fuzz_money_json_never_changes_value() {
        fuzzing::run(
            "money/money_json",
            cases(DEFAULT_CASES),
            money_json(),
            |body| {
                let Ok(m) = serde_json::from_slice::<Money>(&body) else {
                    return Ok(());
                };
                prop_assert!((0..=MAX_MINOR).contains(&m.minor()), "{m:?}");
                // What was written, read on its own, is the same amount.
                // Read apart (a lone surrogate in a field Money ignores stops it).
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return Ok(());
                };
                let written = v["amount"].as_str();
                // Money's JSON takes what a Decimal reads (longer than an Amount may
                // be, e.g. zero-padded): the value must still be what was written.
                let read = written.and_then(|w| oracle(w).or_else(|| w.parse::<Decimal>().ok()));
                prop_assert_eq!(read, Some(m.amount()), "{:?}", written);
                let text = serde_json::to_string(&m).unwrap();
                prop_assert_eq!(serde_json::from_str::<Money>(&text).unwrap(), m);
                Ok(())
            },
        );
    }

    #[test]
    fn fuzz_money_from_minor_round_trips() {
        fuzzing::run(
            "money/minor_round_trip",
            cases(DEFAULT_CASES),
            (0i64..=MAX_MINOR, 0..CURRENCIES.len()),
            |(minor, c)| {
                let m = Money::from_minor(minor, CURRENCIES[c]);
                let text = m.amount().to_string();
                let a = Amount::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(a.to_money(m.currency()), Ok(m));
                let json = serde_json::to_string(&m).unwrap();
                prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
                Ok(())
            },
        );
    }
}
