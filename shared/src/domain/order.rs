//! Order facts, as a shop's storefront reports them: what was bought, what
//! was paid and how, and how far fulfilment has gone. aftersales never sells;
//! it keeps a snapshot of each order to judge claims against.
//!
//! How an order's money is split over its lines and units (the written rule
//! the refund ledger relies on):
//! 1. A line's net amount is `quantity × unit_price − line discount`.
//! 2. The order-level discount is split over the lines in proportion to their
//!    net amounts, and so is the shipping fee, each by the largest-remainder
//!    method in minor units (`money::allocate`). A line's paid amount is
//!    `net − its share of the discount + its share of shipping`.
//! 3. A line's paid amount is split over its units equally, the minor units
//!    left over going one each to the first units.
//!
//! 4. A cross-border order's duties, taxes and international shipping are
//!    split over its cross-border lines like shipping and added to their
//!    paid amounts (see [`super::crossborder`]).
//!
//! So refunding every unit on its own adds up to exactly what was paid.

use super::ids::{CustomerId, OrderId, ShopId};
use super::money::{allocate, checked_sum, Amount, Currency, Money, MoneyError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    Physical,
    Fresh,
    Virtual,
    Appliance,
    CrossBorder,
    PreSale,
    BundlePart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentChannel {
    WechatPay,
    Alipay,
    BankCard,
    Card,
    Balance,
}

/// What a payment paid for: the whole order, or a pre-sale's deposit or balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    #[default]
    Full,
    Deposit,
    Balance,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum MemberTier {
    #[default]
    Regular,
    Silver,
    Gold,
    Platinum,
    /// The top tier (钻石会员).
    Diamond,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Language {
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
    /// Japanese: the claim-progress messages are translated, everything
    /// else falls back to English ([`Language::fallback`]).
    #[serde(rename = "ja")]
    Ja,
}

impl Language {
    /// The language text not written in this one is shown in: itself for
    /// zh-CN and en, English for the others.
    pub fn fallback(self) -> Language {
        match self {
            Language::ZhCn => Language::ZhCn,
            Language::En | Language::Ja => Language::En,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentState {
    PaidUnshipped,
    Shipped,
    Delivered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fulfilment {
    pub state: FulfilmentState,
    #[serde(default)]
    pub shipped_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub line_id: String,
    pub sku: String,
    pub title: String,
    pub kind: ProductKind,
    pub quantity: u32,
    pub unit_price: Amount,
    /// Line-level discount, for the whole line (not per unit).
    #[serde(default)]
    pub discount: Amount,
    /// Sold as final sale: no after-sales claims.
    #[serde(default)]
    pub final_sale: bool,
    /// A virtual line's voucher codes (one per unit at most), with the
    /// storefront's report of each one's redemption.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vouchers: Vec<super::voucher::LineVoucher>,
    /// The weight of one unit, in grams, for goods sold by weight (fresh
    /// produce): such a line may be claimed by a share of its weight
    /// (see [`super::fresh`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub payment_id: String,
    pub channel: PaymentChannel,
    /// The provider's transaction id (WeChat transaction_id, Alipay trade_no, ...).
    pub provider_txn_id: String,
    pub amount: Amount,
    #[serde(default)]
    pub kind: PaymentKind,
    pub paid_at: DateTime<Utc>,
}

/// An order as the storefront sends it (the body of order intake).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDraft {
    pub customer_id: CustomerId,
    #[serde(default)]
    pub customer_phone: Option<String>,
    #[serde(default)]
    pub member_tier: MemberTier,
    #[serde(default)]
    pub language: Language,
    pub currency: Currency,
    pub placed_at: DateTime<Utc>,
    pub lines: Vec<OrderLine>,
    #[serde(default)]
    pub order_discount: Amount,
    #[serde(default)]
    pub shipping_fee: Amount,
    pub payments: Vec<Payment>,
    pub fulfilment: Fulfilment,
    /// What the storefront knows of the customer at the shop: the win-back
    /// tools tell a high-value customer by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_stats: Option<CustomerStats>,
    /// Coupons used on the order (their value is in its discounts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coupons_used: Vec<super::benefits::UsedCoupon>,
    /// Points spent on the order (their value is in its discounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_used: Option<super::benefits::UsedPoints>,
    /// Lines sold together and how the bundle's price splits between them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundles: Vec<super::bundle::Bundle>,
    /// A cross-border order's declaration, duties, taxes and international
    /// shipping (paid with the goods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_border: Option<super::crossborder::CrossBorderCharges>,
}

/// The customer's history at the shop, as the storefront counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerStats {
    /// Paid orders, this one included.
    pub paid_orders: u32,
    /// What they paid in all, in the order's currency.
    pub total_spent: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("{field}: {source}")]
    Money {
        field: String,
        #[source]
        source: MoneyError,
    },
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, OrderError> {
    Err(OrderError::Invalid(msg.into()))
}

/// Most lines and payments one order may hold.
pub const MAX_LINES: usize = 200;
pub const MAX_PAYMENTS: usize = 10;
const MAX_ID_LEN: usize = 128;

/// Why an identifier from outside is refused; the message names the field
/// (`what`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty, or longer than 128 bytes.
    #[error("{what} must be 1 to {max} characters", max = MAX_ID_LEN)]
    Length { what: &'static str },
    /// Holds `#` (our storage key separator), whitespace or a control
    /// character.
    #[error("{what} must not contain '#', spaces or control characters")]
    Characters { what: &'static str },
}

impl From<IdError> for OrderError {
    fn from(e: IdError) -> Self {
        OrderError::Invalid(e.to_string())
    }
}

/// Checks an identifier from outside: non-empty, bounded, printable, and free
/// of the `#` we use to build storage keys.
pub fn check_id(what: &'static str, id: &str) -> Result<(), IdError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(IdError::Length { what });
    }
    if id
        .chars()
        .any(|c| c == '#' || c.is_control() || c.is_whitespace())
    {
        return Err(IdError::Characters { what });
    }
    Ok(())
}

/// A valid order: amounts parsed, payments adding up, money allocated to
/// lines. Only [`Order::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub shop_id: ShopId,
    pub order_id: OrderId,
    #[serde(flatten)]
    pub facts: OrderDraft,
    /// Paid amount per line, in minor units, by the allocation rule above.
    line_paid: Vec<i64>,
}

impl Order {
    pub fn parse(shop_id: &str, order_id: &str, d: OrderDraft) -> Result<Order, OrderError> {
        check_id("shop_id", shop_id)?;
        check_id("order_id", order_id)?;
        check_id("customer_id", &d.customer_id)?;
        let cur = d.currency;
        let minor = |field: String, v: Amount| {
            v.to_minor(cur)
                .map_err(|source| OrderError::Money { field, source })
        };
        // Every sum below is checked: an order whose money leaves the range
        // is refused, so no later sum over its amounts can overflow.
        let too_large = |field: &str| OrderError::Money {
            field: field.to_string(),
            source: MoneyError::Overflow,
        };
        if d.lines.is_empty() || d.lines.len() > MAX_LINES {
            return invalid(format!("an order has 1 to {MAX_LINES} lines"));
        }
        if d.payments.is_empty() || d.payments.len() > MAX_PAYMENTS {
            return invalid(format!("an order has 1 to {MAX_PAYMENTS} payments"));
        }
        let mut nets = Vec::with_capacity(d.lines.len());
        for (i, l) in d.lines.iter().enumerate() {
            check_id("line_id", &l.line_id)?;
            if d.lines[..i].iter().any(|o| o.line_id == l.line_id) {
                return invalid(format!("line_id {} appears twice", l.line_id));
            }
            if l.quantity == 0 || l.quantity > 100_000 {
                return invalid(format!("line {}: quantity must be 1 to 100000", l.line_id));
            }
            if l.sku.is_empty() || l.title.len() > 500 || l.sku.len() > 128 {
                return invalid(format!(
                    "line {}: sku 1 to 128 characters, title at most 500",
                    l.line_id
                ));
            }
            if l.weight_grams
                .is_some_and(|g| g == 0 || g > super::fresh::MAX_UNIT_GRAMS)
            {
                return invalid(format!(
                    "lines[{i}].weight_grams: 1 to {} grams per unit",
                    super::fresh::MAX_UNIT_GRAMS
                ));
            }
            let price = minor(format!("lines[{i}].unit_price"), l.unit_price)?;
            let discount = minor(format!("lines[{i}].discount"), l.discount)?;
            let gross = Money::from_minor(price, cur)
                .checked_mul(l.quantity as i64)
                .map_err(|_| too_large(&format!("lines[{i}].unit_price")))?
                .minor();
            if discount > gross {
                return invalid(format!(
                    "line {}: discount exceeds the line amount",
                    l.line_id
                ));
            }
            nets.push(gross - discount);
        }
        let net_total = checked_sum(nets.iter().copied()).map_err(|_| too_large("lines"))?;
        let order_discount = minor("order_discount".into(), d.order_discount)?;
        let shipping = minor("shipping_fee".into(), d.shipping_fee)?;
        if order_discount > net_total {
            return invalid("order_discount exceeds the amount of the lines");
        }
        let (xb_shares, xb_total) = super::crossborder::split(&d, &nets)?;
        let paid_total = checked_sum([net_total - order_discount, shipping, xb_total])
            .map_err(|_| too_large("shipping_fee"))?;
        let mut pay_total = 0i64;
        for (i, p) in d.payments.iter().enumerate() {
            check_id("payment_id", &p.payment_id)?;
            if d.payments[..i].iter().any(|o| o.payment_id == p.payment_id) {
                return invalid(format!("payment_id {} appears twice", p.payment_id));
            }
            if p.provider_txn_id.is_empty() || p.provider_txn_id.len() > 128 {
                return invalid(format!(
                    "payment {}: provider_txn_id 1 to 128 characters",
                    p.payment_id
                ));
            }
            let field = format!("payments[{i}].amount");
            let amount = minor(field.clone(), p.amount)?;
            pay_total = checked_sum([pay_total, amount]).map_err(|_| too_large(&field))?;
        }
        if pay_total != paid_total {
            return invalid(format!(
                "payments add up to {} but the order comes to {} (lines − discounts + shipping + cross-border charges)",
                super::money::from_minor(pay_total, cur),
                super::money::from_minor(paid_total, cur)
            ));
        }
        if let Some(st) = &d.customer_stats {
            minor("customer_stats.total_spent".into(), st.total_spent)?;
        }
        // Coupons and points are discounts: together they are worth at most
        // what the order was discounted, so no refund can pay them out.
        if d.coupons_used.len() > 10 {
            return invalid("at most 10 coupons_used");
        }
        let mut benefit_value = 0i64;
        for (i, c) in d.coupons_used.iter().enumerate() {
            check_id("coupons_used.coupon_id", &c.coupon_id)?;
            if d.coupons_used[..i]
                .iter()
                .any(|o| o.coupon_id == c.coupon_id)
            {
                return invalid(format!("coupon {} appears twice", c.coupon_id));
            }
            let v = minor(format!("coupons_used[{i}].value"), c.value)?;
            benefit_value =
                checked_sum([benefit_value, v]).map_err(|_| too_large("coupons_used"))?;
        }
        if let Some(p) = &d.points_used {
            if p.points == 0 {
                return invalid("points_used.points must be above 0");
            }
            let v = minor("points_used.value".into(), p.value)?;
            benefit_value =
                checked_sum([benefit_value, v]).map_err(|_| too_large("points_used"))?;
        }
        let line_discounts: i64 = d
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| minor(format!("lines[{i}].discount"), l.discount))
            .sum::<Result<i64, _>>()?;
        let discounts =
            checked_sum([line_discounts, order_discount]).map_err(|_| too_large("discounts"))?;
        if benefit_value > discounts {
            return invalid(
                "coupons_used and points_used are worth more than the order's discounts (line discounts + order_discount)",
            );
        }
        let f = &d.fulfilment;
        match f.state {
            FulfilmentState::PaidUnshipped => {}
            FulfilmentState::Shipped if f.shipped_at.is_none() => {
                return invalid("fulfilment.shipped_at is required once shipped")
            }
            FulfilmentState::Delivered if f.shipped_at.is_none() || f.delivered_at.is_none() => {
                return invalid(
                    "fulfilment.shipped_at and delivered_at are required once delivered",
                )
            }
            _ => {}
        }
        super::voucher::check_lines(&d.lines).map_err(OrderError::Invalid)?;
        super::bundle::check(&d).map_err(OrderError::Invalid)?;
        let disc = allocate(order_discount, &nets);
        let ship = allocate(shipping, &nets);
        let line_paid = nets
            .iter()
            .zip(disc.iter().zip(&ship))
            .zip(&xb_shares)
            .map(|((n, (d, s)), xb)| n - d + s + xb.iter().sum::<i64>())
            .collect();
        Ok(Order {
            shop_id: shop_id.into(),
            order_id: order_id.into(),
            facts: d,
            line_paid,
        })
    }

    pub fn currency(&self) -> Currency {
        self.facts.currency
    }

    /// The customer's paid orders and spend at the shop, when the
    /// storefront said.
    pub fn customer_stats(&self) -> Option<(u32, Money)> {
        let st = self.facts.customer_stats.as_ref()?;
        let spent = st.total_spent.to_minor(self.currency()).ok()?;
        Some((st.paid_orders, Money::from_minor(spent, self.currency())))
    }

    pub fn line_index(&self, line_id: &str) -> Option<usize> {
        self.facts.lines.iter().position(|l| l.line_id == line_id)
    }

    /// Paid amount of line `i` in minor units.
    pub fn line_paid(&self, i: usize) -> i64 {
        self.line_paid[i]
    }

    /// Paid amount of unit `u` (0-based) of line `i`, in minor units.
    pub fn unit_paid(&self, i: usize, u: u32) -> i64 {
        let q = self.facts.lines[i].quantity as i64;
        let paid = self.line_paid[i];
        paid / q + i64::from((u as i64) < paid % q)
    }

    /// Paid amount of units `from..from + n` of line `i`.
    pub fn units_paid(&self, i: usize, from: u32, n: u32) -> i64 {
        let q = self.facts.lines[i].quantity as i64;
        let paid = self.line_paid[i];
        let (base, extra) = (paid / q, paid % q);
        let (from, n) = (from as i64, n as i64);
        // Units below `extra` carry one more minor unit.
        let extra_units = (extra - from).clamp(0, n);
        base * n + extra_units
    }

    pub fn total_paid(&self) -> i64 {
        self.line_paid.iter().sum()
    }

    pub fn payment_minor(&self, j: usize) -> i64 {
        // Validated in `parse`.
        self.facts.payments[j]
            .amount
            .to_minor(self.facts.currency)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn draft() -> OrderDraft {
        serde_json::from_value(serde_json::json!({
            "customer_id": "cust-1",
            "currency": "CNY",
            "placed_at": "2026-11-01T10:00:00Z",
            "lines": [
                {"line_id": "L1", "sku": "TEE-M", "title": "T-shirt", "kind": "physical",
                 "quantity": 3, "unit_price": "33.33", "discount": "0.00"},
                {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
                 "quantity": 1, "unit_price": "20.00"}
            ],
            "order_discount": "10.00",
            "shipping_fee": "8.00",
            "payments": [
                {"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200001",
                 "amount": "117.99", "paid_at": "2026-11-01T10:01:00Z"}
            ],
            "fulfilment": {"state": "paid_unshipped"}
        }))
        .unwrap()
    }

    #[test]
    fn allocation_adds_up_to_what_was_paid() {
        let o = Order::parse("s1", "o1", draft()).unwrap();
        // nets 9999 and 2000; discount 1000 → 833/167; shipping 800 → 667/133
        assert_eq!(o.line_paid(0), 9999 - 833 + 667);
        assert_eq!(o.line_paid(1), 2000 - 167 + 133);
        assert_eq!(o.total_paid(), 11799);
        let units: i64 = (0..3).map(|u| o.unit_paid(0, u)).sum();
        assert_eq!(units, o.line_paid(0));
        assert_eq!(o.units_paid(0, 0, 3), o.line_paid(0));
        assert_eq!(o.units_paid(0, 1, 2), o.unit_paid(0, 1) + o.unit_paid(0, 2));
    }

    #[test]
    fn payments_must_add_up() {
        let mut d = draft();
        d.payments[0].amount = dec!(117.98).into();
        let e = Order::parse("s1", "o1", d).unwrap_err();
        assert!(e.to_string().contains("payments add up to 117.98"), "{e}");
    }

    #[test]
    fn bad_orders_are_refused() {
        let mut d = draft();
        d.lines[0].quantity = 0;
        assert!(Order::parse("s1", "o1", d).is_err());
        let mut d = draft();
        d.lines[1].line_id = "L1".into();
        assert!(Order::parse("s1", "o1", d).is_err());
        let mut d = draft();
        d.lines[0].unit_price = dec!(33.333).into();
        assert!(matches!(
            Order::parse("s1", "o1", d),
            Err(OrderError::Money { .. })
        ));
        let mut d = draft();
        d.fulfilment.state = FulfilmentState::Shipped;
        assert!(Order::parse("s1", "o1", d).is_err());
        assert!(Order::parse("s#1", "o1", draft()).is_err());
        let mut d = draft();
        d.order_discount = dec!(1000).into();
        assert!(Order::parse("s1", "o1", d).is_err());
    }

    #[test]
    fn ids_are_refused_naming_the_field() {
        assert_eq!(check_id("shop_id", "shop-1"), Ok(()));
        let long = "x".repeat(129);
        for (id, why) in [
            ("", IdError::Length { what: "shop_id" }),
            (long.as_str(), IdError::Length { what: "shop_id" }),
        ] {
            assert_eq!(check_id("shop_id", id), Err(why));
        }
        assert_eq!(
            IdError::Length { what: "shop_id" }.to_string(),
            "shop_id must be 1 to 128 characters"
        );
        for id in ["s#1", "s 1", "s\n1"] {
            assert_eq!(
                check_id("order_id", id).unwrap_err().to_string(),
                "order_id must not contain '#', spaces or control characters"
            );
        }
        // An order names the field that is wrong.
        assert_eq!(
            Order::parse("s1", "o 1", draft()),
            Err(OrderError::Invalid(
                "order_id must not contain '#', spaces or control characters".into()
            ))
        );
    }
}

/// Fuzzing order snapshots as storefronts send them (see
/// `crate::fuzzing`): an order is parsed or refused, never a panic, and
/// one that parses pays its lines exactly what its payments took.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{self, cases, json_edits, mutations, DEFAULT_CASES};
    use proptest::prelude::*;
    use serde_json::json;

    const FIELDS: &[&str] = &[
        "customer_id",
        "currency",
        "placed_at",
        "lines",
        "line_id",
        "sku",
        "title",
        "kind",
        "quantity",
        "unit_price",
        "discount",
        "order_discount",
        "shipping_fee",
        "payments",
        "payment_id",
        "channel",
        "provider_txn_id",
        "amount",
        "paid_at",
        "fulfilment",
        "state",
        "shipped_at",
        "coupons_used",
        "points_used",
        "bundles",
        "customer_stats",
    ];

    fn order() -> serde_json::Value {
        json!({
            "customer_id": "cust-1", "currency": "CNY", "placed_at": "2026-02-20T00:00:00Z",
            "lines": [
                {"line_id": "L0", "sku": "S0", "title": "kettle", "kind": "physical",
                 "quantity": 3, "unit_price": "33.33", "discount": "0.99"},
                {"line_id": "L1", "sku": "S1", "title": "tea", "kind": "fresh",
                 "quantity": 1, "unit_price": "12.00"}
            ],
            "order_discount": "1.00", "shipping_fee": "8.00",
            "payments": [
                {"payment_id": "P0", "channel": "wechat_pay", "provider_txn_id": "txn-1",
                 "paid_at": "2026-02-20T00:00:00Z", "amount": "100.00"},
                {"payment_id": "P1", "channel": "alipay", "provider_txn_id": "txn-2",
                 "paid_at": "2026-02-20T00:00:00Z", "amount": "18.00"}
            ],
            "fulfilment": {"state": "paid_unshipped"}
        })
    }

    #[test]
    fn fuzz_orders_parse_or_are_refused_and_add_up() {
        let base = order();
        assert!(Order::parse(
            "shop-1",
            "ord-1",
            serde_json::from_value(base.clone()).unwrap()
        )
        .is_ok());
        let strategy = (
            json_edits(4, FIELDS),
            prop_oneof![3 => Just(Vec::new()), 1 => mutations(3)],
        );
        fuzzing::run(
            "order/parse",
            cases(DEFAULT_CASES),
            strategy,
            |(edits, bytes)| {
                let body = fuzzing::near_json(&base, &edits, &bytes);
                let Ok(draft) = serde_json::from_slice::<OrderDraft>(&body) else {
                    return Ok(());
                };
                if let Ok(o) = Order::parse("shop-1", "ord-1", draft) {
                    let paid: i64 = (0..o.facts.payments.len())
                        .map(|j| o.payment_minor(j))
                        .sum();
                    prop_assert_eq!(o.total_paid(), paid);
                    for (i, l) in o.facts.lines.iter().enumerate() {
                        prop_assert!(o.line_paid(i) >= 0);
                        prop_assert_eq!(o.units_paid(i, 0, l.quantity), o.line_paid(i));
                    }
                }
                Ok(())
            },
        );
    }
}
