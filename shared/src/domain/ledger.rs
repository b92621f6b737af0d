//! The refund ledger of one order: what every claim has taken (reserved or
//! refunded) per line, per unit and per payment, and so what is still
//! refundable. It lives with the order snapshot and is written in the same
//! transaction as every claim change, so two claims can never both take the
//! same money.
//!
//! Rules:
//! - A claim takes whole units of lines, the next free ones in unit order,
//!   at most their paid value (`Order::units_paid`) and never more than the
//!   line still has.
//! - A claim's amount is split over its lines in proportion to the most each
//!   line could give, and over the order's payments in proportion to what
//!   each payment still has, both by the largest-remainder method. Because
//!   lines and payments always lose the same total, what the payments still
//!   have equals what the lines still have, so no payment is ever overdrawn.
//! - A cancelled, rejected or closed claim releases what it took. A claim
//!   whose money went back keeps it for good: it is completed, and nothing
//!   leaves that state, so its entry is never released and needs no write
//!   when the money arrives.
//! - A merchant refund (goodwill, price difference) takes money without
//!   units, from one line or spread over all; a refund that failed gives its
//!   payment's share back.
//! - A fresh line sold by weight may be claimed by weight: the draw takes
//!   grams and money, no units; grams and units hold each other out of
//!   reach (the rule is written down in [`super::fresh`]).
//! - Every draw is money in the order's currency; money in another currency
//!   is refused ([`LedgerError::Money`]). The sums and splits are worked out
//!   in minor units of that currency.

use super::money::{allocate, Currency, Money, MoneyError};
use super::order::Order;
use serde::{Deserialize, Serialize};

/// The order snapshot together with its refund ledger: stored as one item,
/// so every claim change and the ledger move together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order: Order,
    pub ledger: Ledger,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDraw {
    pub line_id: String,
    pub units: u32,
    pub amount: Money,
    /// Grams taken by weight (a fresh line's spoiled share, see
    /// [`super::fresh`]); such a draw takes no units.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grams: u32,
}

fn is_zero(g: &u32) -> bool {
    *g == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDraw {
    pub payment_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Taken by a claim or merchant refund: open, on its way, or paid back.
    /// (Entries written while "paid back" was a state of its own read as
    /// taken.)
    #[serde(alias = "refunded")]
    Reserved,
    /// Given back by a cancelled, rejected or closed claim (or a merchant
    /// refund that failed).
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub claim_id: String,
    pub lines: Vec<LineDraw>,
    pub payments: Vec<PaymentDraw>,
    pub state: EntryState,
}

impl LedgerEntry {
    /// What the entry takes (the sum of its lines), in `currency`: its
    /// order's.
    pub fn amount(&self, currency: Currency) -> Result<Money, MoneyError> {
        Money::checked_sum(currency, self.lines.iter().map(|l| l.amount))
    }

    /// Minor units it takes, in the currency of its draws.
    fn minor(&self) -> i64 {
        self.lines.iter().map(|l| l.amount.minor()).sum()
    }

    /// The currency of its draws (all in one: the ledger makes them).
    fn currency(&self) -> Option<Currency> {
        self.lines.first().map(|l| l.amount.currency())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("line {0} is not on this order")]
    UnknownLine(String),
    #[error("line {line_id}: {requested} units requested but only {free} left to claim")]
    NotEnoughUnits {
        line_id: String,
        requested: u32,
        free: u32,
    },
    #[error("line {0} is named twice")]
    DuplicateLine(String),
    #[error("a claim names at least one line with at least one unit")]
    NoLines,
    #[error("line {0} was sold as final sale")]
    FinalSale(String),
    #[error("requested {requested} exceeds the refundable {refundable}")]
    AmountTooHigh { requested: Money, refundable: Money },
    #[error("claim {0} already has a ledger entry")]
    DuplicateClaim(String),
    #[error("the amount must be above zero")]
    NothingToRefund,
    #[error("claim {0} has no open ledger entry")]
    NoOpenEntry(String),
    #[error("line {0} is not sold by weight: claim it by quantity")]
    NotByWeight(String),
    #[error("line {0}: name quantity or weight_grams, not both")]
    WeightAndQuantity(String),
    #[error("line {line_id}: {requested} g requested but only {free} g left to claim")]
    NotEnoughWeight {
        line_id: String,
        requested: u64,
        free: u64,
    },
    #[error("the order change conflicts with existing claims: {0}")]
    Conflict(String),
    /// Money in another currency than the order's, or out of range.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// One line of a claim: which line, how many units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRequest {
    pub line_id: String,
    /// Whole units; 0 (or left out) with `weight_grams`.
    #[serde(default)]
    pub quantity: u32,
    /// A weight share of a line sold by weight, in grams, instead of units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    /// The order's coupons and points given back so far.
    #[serde(default, skip_serializing_if = "super::benefits::Returned::is_none")]
    pub benefits: super::benefits::Returned,
    /// Compensation paid beyond the payments (a late pre-sale's), by
    /// claim: never drawn from a payment, so never in what is refundable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensations: Vec<Compensation>,
    /// Voucher codes given back, by claim (see
    /// [`super::voucher::take`]): a code counts as given back while its
    /// claim's entry is live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub voucher_codes: Vec<super::voucher::TakenCode>,
}

/// Compensation a claim paid beyond the order's payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compensation {
    pub claim_id: String,
    pub amount: Money,
}

impl Ledger {
    fn live(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.entries
            .iter()
            .filter(|e| e.state != EntryState::Released)
    }

    /// Units and minor units of line `line_id` taken by live entries.
    fn line_taken(&self, line_id: &str) -> (u32, i64) {
        self.live()
            .flat_map(|e| &e.lines)
            .filter(|l| l.line_id == line_id)
            .fold((0, 0), |(u, a), l| (u + l.units, a + l.amount.minor()))
    }

    /// Grams of line `line_id` taken by weight by live entries.
    fn line_grams(&self, line_id: &str) -> u64 {
        self.live()
            .flat_map(|e| &e.lines)
            .filter(|l| l.line_id == line_id)
            .map(|l| u64::from(l.grams))
            .sum()
    }

    /// Units of line `i` out of reach of a claim by units: those taken, and
    /// those partly taken by weight.
    fn units_held(&self, order: &Order, i: usize) -> (u32, i64) {
        let line = &order.facts.lines[i];
        let (units, amount) = self.line_taken(&line.line_id);
        let grams = self.line_grams(&line.line_id);
        let held = units.saturating_add(super::fresh::units_held(grams, line.weight_grams));
        (held.min(line.quantity), amount)
    }

    /// Minor units of payment `payment_id` taken by live entries.
    fn payment_taken(&self, payment_id: &str) -> i64 {
        self.live()
            .flat_map(|e| &e.payments)
            .filter(|p| p.payment_id == payment_id)
            .map(|p| p.amount.minor())
            .sum()
    }

    /// Units and money of the order's line `i` that no live entry has
    /// taken.
    pub fn line_free(&self, order: &Order, i: usize) -> (u32, Money) {
        let line = &order.facts.lines[i];
        let (units, amount) = self.units_held(order, i);
        (
            line.quantity - units,
            Money::from_minor(order.line_paid(i) - amount, order.currency()),
        )
    }

    /// Still refundable on the whole order.
    pub fn order_free(&self, order: &Order) -> Money {
        Money::from_minor(self.order_free_minor(order), order.currency())
    }

    fn order_free_minor(&self, order: &Order) -> i64 {
        let taken: i64 = self.live().map(LedgerEntry::minor).sum();
        order.total_paid() - taken
    }

    /// The most each requested line can give for its units.
    pub fn refundable(
        &self,
        order: &Order,
        req: &[LineRequest],
    ) -> Result<Vec<Money>, LedgerError> {
        let max = self.refundable_minor(order, req)?;
        Ok(max
            .into_iter()
            .map(|m| Money::from_minor(m, order.currency()))
            .collect())
    }

    /// [`Ledger::refundable`] in minor units of the order's currency.
    fn refundable_minor(
        &self,
        order: &Order,
        req: &[LineRequest],
    ) -> Result<Vec<i64>, LedgerError> {
        if req.is_empty()
            || req
                .iter()
                .any(|r| r.quantity == 0 && r.weight_grams.unwrap_or(0) == 0)
        {
            return Err(LedgerError::NoLines);
        }
        let mut out = Vec::with_capacity(req.len());
        for (k, r) in req.iter().enumerate() {
            if req[..k].iter().any(|o| o.line_id == r.line_id) {
                return Err(LedgerError::DuplicateLine(r.line_id.clone()));
            }
            let i = order
                .line_index(&r.line_id)
                .ok_or_else(|| LedgerError::UnknownLine(r.line_id.clone()))?;
            let line = &order.facts.lines[i];
            if line.final_sale {
                return Err(LedgerError::FinalSale(r.line_id.clone()));
            }
            let (units, amount) = self.units_held(order, i);
            if let Some(grams) = r.weight_grams {
                out.push(self.weight_value(order, i, r, grams, amount)?);
                continue;
            }
            let free = line.quantity - units;
            if r.quantity > free {
                return Err(LedgerError::NotEnoughUnits {
                    line_id: r.line_id.clone(),
                    requested: r.quantity,
                    free,
                });
            }
            let value = order.units_paid(i, units, r.quantity);
            out.push(value.min(order.line_paid(i) - amount));
        }
        Ok(out)
    }

    /// What `grams` of line `i` can give (see [`super::fresh`]).
    fn weight_value(
        &self,
        order: &Order,
        i: usize,
        r: &LineRequest,
        grams: u32,
        amount: i64,
    ) -> Result<i64, LedgerError> {
        let line = &order.facts.lines[i];
        if r.quantity != 0 {
            return Err(LedgerError::WeightAndQuantity(r.line_id.clone()));
        }
        let Some(unit) = line.weight_grams else {
            return Err(LedgerError::NotByWeight(r.line_id.clone()));
        };
        let unit = u64::from(unit);
        let total = unit * u64::from(line.quantity);
        let (units, _) = self.line_taken(&r.line_id);
        let before = (unit * u64::from(units)).saturating_add(self.line_grams(&r.line_id));
        let free = total.saturating_sub(before);
        if u64::from(grams) > free {
            return Err(LedgerError::NotEnoughWeight {
                line_id: r.line_id.clone(),
                requested: grams.into(),
                free,
            });
        }
        let paid = order.line_paid(i);
        let value = super::fresh::weight_share(paid, total, before, grams.into())
            .ok_or(LedgerError::Money(MoneyError::Overflow))?;
        Ok(value.min(paid - amount))
    }

    /// Takes units and money for a new claim. `requested` (in the order's
    /// currency) defaults to everything the lines can give.
    pub fn reserve(
        &mut self,
        order: &Order,
        claim_id: &str,
        req: &[LineRequest],
        requested: Option<Money>,
    ) -> Result<&LedgerEntry, LedgerError> {
        if self.entries.iter().any(|e| e.claim_id == claim_id) {
            return Err(LedgerError::DuplicateClaim(claim_id.to_string()));
        }
        let max = self.refundable_minor(order, req)?;
        let refundable: i64 = max.iter().sum();
        let requested = requested
            .map(|m| m.minor_in(order.currency()))
            .transpose()?;
        let amount = requested.unwrap_or(refundable);
        if amount > refundable || amount < 0 {
            return Err(LedgerError::AmountTooHigh {
                requested: Money::from_minor(amount, order.currency()),
                refundable: Money::from_minor(refundable, order.currency()),
            });
        }
        let line_amounts = allocate(amount, &max);
        let lines = req
            .iter()
            .zip(line_amounts)
            .map(|(r, a)| LineDraw {
                line_id: r.line_id.clone(),
                units: r.quantity,
                amount: Money::from_minor(a, order.currency()),
                grams: r.weight_grams.unwrap_or(0),
            })
            .collect();
        let payments = self.split_over_payments(order, amount);
        self.entries.push(LedgerEntry {
            claim_id: claim_id.to_string(),
            lines,
            payments,
            state: EntryState::Reserved,
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    fn split_over_payments(&self, order: &Order, amount: i64) -> Vec<PaymentDraw> {
        let free: Vec<i64> = order
            .facts
            .payments
            .iter()
            .enumerate()
            .map(|(j, p)| order.payment_minor(j) - self.payment_taken(&p.payment_id))
            .collect();
        order
            .facts
            .payments
            .iter()
            .zip(allocate(amount, &free))
            .filter(|(_, a)| *a > 0)
            .map(|(p, a)| PaymentDraw {
                payment_id: p.payment_id.clone(),
                amount: Money::from_minor(a, order.currency()),
            })
            .collect()
    }

    fn open_entry(&mut self, claim_id: &str) -> Result<&mut LedgerEntry, LedgerError> {
        self.entries
            .iter_mut()
            .find(|e| e.claim_id == claim_id && e.state == EntryState::Reserved)
            .ok_or_else(|| LedgerError::NoOpenEntry(claim_id.to_string()))
    }

    /// Lowers an open claim's amount to what was approved (never raises it):
    /// lines and payments shrink in proportion to what they gave.
    pub fn settle(&mut self, claim_id: &str, approved: Money) -> Result<(), LedgerError> {
        let e = self.open_entry(claim_id)?;
        let current = e.minor();
        let currency = e.currency().unwrap_or(approved.currency());
        let approved = approved.minor_in(currency)?;
        if approved > current || approved < 0 {
            return Err(LedgerError::AmountTooHigh {
                requested: Money::from_minor(approved, currency),
                refundable: Money::from_minor(current, currency),
            });
        }
        let lw: Vec<i64> = e.lines.iter().map(|l| l.amount.minor()).collect();
        for (l, a) in e.lines.iter_mut().zip(allocate(approved, &lw)) {
            l.amount = Money::from_minor(a, currency);
        }
        let pw: Vec<i64> = e.payments.iter().map(|p| p.amount.minor()).collect();
        for (p, a) in e.payments.iter_mut().zip(allocate(approved, &pw)) {
            p.amount = Money::from_minor(a, currency);
        }
        e.payments.retain(|p| p.amount.is_positive());
        Ok(())
    }

    /// Gives back what an open claim took.
    pub fn release(&mut self, claim_id: &str) -> Result<(), LedgerError> {
        self.open_entry(claim_id)?.state = EntryState::Released;
        Ok(())
    }

    /// Takes money without units: from the lines in `scope` (a price
    /// difference, a return's shipping) or, when it is empty, from the whole
    /// order (goodwill), split over those lines by what each still has and
    /// over the payments as for claims.
    pub fn reserve_money(
        &mut self,
        order: &Order,
        entry_id: &str,
        scope: &[String],
        amount: Money,
    ) -> Result<&LedgerEntry, LedgerError> {
        if self.entries.iter().any(|e| e.claim_id == entry_id) {
            return Err(LedgerError::DuplicateClaim(entry_id.to_string()));
        }
        let amount = amount.minor_in(order.currency())?;
        if amount <= 0 {
            return Err(LedgerError::NothingToRefund);
        }
        let scope: Vec<usize> = if scope.is_empty() {
            (0..order.facts.lines.len()).collect()
        } else {
            scope
                .iter()
                .map(|id| {
                    order
                        .line_index(id)
                        .ok_or_else(|| LedgerError::UnknownLine(id.to_string()))
                })
                .collect::<Result<_, _>>()?
        };
        let free: Vec<i64> = scope
            .iter()
            .map(|&i| order.line_paid(i) - self.line_taken(&order.facts.lines[i].line_id).1)
            .collect();
        let refundable: i64 = free.iter().sum();
        if amount > refundable {
            return Err(LedgerError::AmountTooHigh {
                requested: Money::from_minor(amount, order.currency()),
                refundable: Money::from_minor(refundable, order.currency()),
            });
        }
        let lines = scope
            .iter()
            .zip(allocate(amount, &free))
            .filter(|(_, a)| *a > 0)
            .map(|(&i, a)| LineDraw {
                line_id: order.facts.lines[i].line_id.clone(),
                units: 0,
                amount: Money::from_minor(a, order.currency()),
                grams: 0,
            })
            .collect();
        let payments = self.split_over_payments(order, amount);
        self.entries.push(LedgerEntry {
            claim_id: entry_id.to_string(),
            lines,
            payments,
            state: EntryState::Reserved,
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Gives back what a failed refund was to take from one payment: the
    /// payment's draw and the lines shrink by `amount` (the lines in
    /// proportion to what they took); an entry left with no money is
    /// released, units and all (a missing item refunded for nothing has
    /// taken nothing).
    pub fn give_back(
        &mut self,
        entry_id: &str,
        payment_id: &str,
        amount: Money,
    ) -> Result<(), LedgerError> {
        let e = self.open_entry(entry_id)?;
        let currency = e.currency().unwrap_or(amount.currency());
        let amount = amount.minor_in(currency)?;
        let Some(p) = e.payments.iter_mut().find(|p| p.payment_id == payment_id) else {
            return Err(LedgerError::NoOpenEntry(format!(
                "{entry_id} (payment {payment_id})"
            )));
        };
        let drawn = p.amount.minor();
        if amount <= 0 || amount > drawn {
            return Err(LedgerError::AmountTooHigh {
                requested: Money::from_minor(amount, currency),
                refundable: Money::from_minor(drawn, currency),
            });
        }
        p.amount = Money::from_minor(drawn - amount, currency);
        e.payments.retain(|p| p.amount.is_positive());
        let lw: Vec<i64> = e.lines.iter().map(|l| l.amount.minor()).collect();
        for (l, a) in e.lines.iter_mut().zip(allocate(amount, &lw)) {
            l.amount = Money::from_minor(l.amount.minor() - a, currency);
        }
        if e.minor() == 0 {
            e.state = EntryState::Released;
        }
        Ok(())
    }

    pub fn entry(&self, claim_id: &str) -> Option<&LedgerEntry> {
        self.entries.iter().find(|e| e.claim_id == claim_id)
    }

    /// Whether the ledger still fits a changed order: every line and payment
    /// a live claim drew on still exists and still covers what was taken.
    pub fn check_against(&self, order: &Order) -> Result<(), LedgerError> {
        let conflict = |m: String| Err(LedgerError::Conflict(m));
        let mut line_ids: Vec<&str> = self
            .live()
            .flat_map(|e| &e.lines)
            .map(|l| l.line_id.as_str())
            .collect();
        line_ids.sort_unstable();
        line_ids.dedup();
        for id in line_ids {
            let Some(i) = order.line_index(id) else {
                return conflict(format!("line {id} has claims and cannot be removed"));
            };
            let (units, amount) = self.line_taken(id);
            if units > order.facts.lines[i].quantity || amount > order.line_paid(i) {
                return conflict(format!(
                    "line {id} would be worth less than its claims take"
                ));
            }
        }
        let mut pay_ids: Vec<&str> = self
            .live()
            .flat_map(|e| &e.payments)
            .map(|p| p.payment_id.as_str())
            .collect();
        pay_ids.sort_unstable();
        pay_ids.dedup();
        for id in pay_ids {
            let Some(j) = order.facts.payments.iter().position(|p| p.payment_id == id) else {
                return conflict(format!("payment {id} has claims and cannot be removed"));
            };
            if self.payment_taken(id) > order.payment_minor(j) {
                return conflict(format!(
                    "payment {id} would be smaller than its claims take"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{Order, OrderDraft};
    use proptest::prelude::*;

    fn order(qtys: &[(u32, i64, i64)], discount: i64, shipping: i64, payments: usize) -> Order {
        // qtys: (quantity, unit price minor, line discount minor)
        let lines: Vec<serde_json::Value> = qtys
            .iter()
            .enumerate()
            .map(|(i, (q, p, d))| {
                serde_json::json!({"line_id": format!("L{i}"), "sku": "S", "title": "t",
                    "kind": "physical", "quantity": q,
                    "unit_price": crate::domain::money::from_minor(*p, crate::domain::money::Currency::Cny).to_string(),
                    "discount": crate::domain::money::from_minor(*d, crate::domain::money::Currency::Cny).to_string()})
            })
            .collect();
        let total: i64 =
            qtys.iter().map(|(q, p, d)| *q as i64 * p - d).sum::<i64>() - discount + shipping;
        let parts = allocate(total, &vec![1; payments]);
        let pays: Vec<serde_json::Value> = parts
            .iter()
            .enumerate()
            .map(|(j, a)| serde_json::json!({"payment_id": format!("P{j}"), "channel": "alipay",
                "provider_txn_id": "t", "paid_at": "2026-01-01T00:00:00Z",
                "amount": crate::domain::money::from_minor(*a, crate::domain::money::Currency::Cny).to_string()}))
            .collect();
        let d: OrderDraft = serde_json::from_value(serde_json::json!({
            "customer_id": "c", "currency": "CNY", "placed_at": "2026-01-01T00:00:00Z",
            "lines": lines, "payments": pays,
            "order_discount": crate::domain::money::from_minor(discount, crate::domain::money::Currency::Cny).to_string(),
            "shipping_fee": crate::domain::money::from_minor(shipping, crate::domain::money::Currency::Cny).to_string(),
            "fulfilment": {"state": "paid_unshipped"}
        }))
        .unwrap();
        Order::parse("s", "o", d).unwrap()
    }

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Cny)
    }

    fn req(line: &str, q: u32) -> Vec<LineRequest> {
        vec![LineRequest {
            line_id: line.into(),
            quantity: q,
            weight_grams: None,
        }]
    }

    #[test]
    fn default_amount_is_the_refundable_value_and_more_is_refused() {
        let o = order(&[(3, 1000, 1), (1, 500, 0)], 100, 0, 1);
        let mut l = Ledger::default();
        let max = l.refundable(&o, &req("L0", 1)).unwrap()[0];
        assert_eq!(max, cny(o.unit_paid(0, 0)));
        let e = l.reserve(&o, "c1", &req("L0", 1), None).unwrap();
        assert_eq!(e.amount(Currency::Cny), Ok(max));
        assert!(e
            .payments
            .iter()
            .all(|d| d.amount.currency() == Currency::Cny));
        let next = l.refundable(&o, &req("L0", 2)).unwrap()[0];
        assert!(matches!(
            l.reserve(&o, "c2", &req("L0", 2), Some(cny(next.minor() + 1))),
            Err(LedgerError::AmountTooHigh { .. })
        ));
        assert!(matches!(
            l.reserve(&o, "c2", &req("L0", 3), None),
            Err(LedgerError::NotEnoughUnits { free: 2, .. })
        ));
        assert!(matches!(
            l.reserve(&o, "c2", &req("L9", 1), None),
            Err(LedgerError::UnknownLine(_))
        ));
        assert!(matches!(
            l.reserve(&o, "c1", &req("L1", 1), None),
            Err(LedgerError::DuplicateClaim(_))
        ));
    }

    #[test]
    fn release_gives_back_and_paid_back_keeps() {
        let o = order(&[(2, 1000, 0)], 0, 0, 2);
        let mut l = Ledger::default();
        l.reserve(&o, "a", &req("L0", 2), Some(cny(1500))).unwrap();
        assert_eq!(l.order_free(&o), cny(500));
        l.release("a").unwrap();
        assert_eq!(l.order_free(&o), cny(2000));
        assert!(l.release("a").is_err());
        l.reserve(&o, "b", &req("L0", 1), None).unwrap();
        l.settle("b", Money::from_minor(400, o.currency())).unwrap();
        assert_eq!(l.order_free(&o), cny(1600));
        assert_eq!(l.line_free(&o, 0), (1, cny(1600)));
        assert_eq!(l.payment_taken("P0") + l.payment_taken("P1"), 400);
    }

    #[test]
    fn money_in_another_currency_than_the_orders_is_refused() {
        let o = order(&[(2, 1000, 0)], 0, 0, 1);
        let usd = Money::from_minor(500, Currency::Usd);
        let mut l = Ledger::default();
        let mismatch = |e| matches!(e, Err(LedgerError::Money(MoneyError::CurrencyMismatch(..))));
        assert!(mismatch(
            l.reserve(&o, "a", &req("L0", 1), Some(usd)).map(|_| ())
        ));
        assert!(mismatch(l.reserve_money(&o, "g", &[], usd).map(|_| ())));
        assert!(l.entries.is_empty(), "nothing taken");
        l.reserve(&o, "a", &req("L0", 2), None).unwrap();
        let before = l.clone();
        assert!(mismatch(l.settle("a", usd)));
        assert!(mismatch(l.give_back("a", "P0", usd)));
        assert_eq!(l, before, "nothing changed");
        l.settle("a", cny(1500)).unwrap();
        assert_eq!(l.entry("a").unwrap().amount(Currency::Cny), Ok(cny(1500)));
        assert!(l.entry("a").unwrap().amount(Currency::Usd).is_err());
    }

    #[test]
    fn order_changes_that_break_claims_are_conflicts() {
        let o = order(&[(2, 1000, 0), (1, 10, 0)], 0, 0, 1);
        let mut l = Ledger::default();
        l.reserve(&o, "a", &req("L0", 2), None).unwrap();
        assert!(l.check_against(&o).is_ok());
        let smaller = order(&[(1, 1000, 0), (1, 10, 0)], 0, 0, 1);
        assert!(matches!(
            l.check_against(&smaller),
            Err(LedgerError::Conflict(_))
        ));
        let gone = order(&[(1, 10, 0)], 0, 0, 1);
        assert!(l.check_against(&gone).is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Claim { line: usize, units: u32, share: u8 },
        Cancel(usize),
        Money { line: Option<usize>, share: u8 },
        GiveBack(usize, u8),
        Settle(usize, u8),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                (0usize..4, 1u32..4, 0u8..=100).prop_map(|(line, units, share)| Op::Claim {
                    line,
                    units,
                    share
                }),
                (0usize..10).prop_map(Op::Cancel),
                (prop::option::of(0usize..4), 0u8..=100)
                    .prop_map(|(line, share)| Op::Money { line, share }),
                (0usize..10, 0u8..=100).prop_map(|(c, s)| Op::GiveBack(c, s)),
                (0usize..10, 0u8..=100).prop_map(|(c, s)| Op::Settle(c, s)),
            ],
            0..40,
        )
    }

    proptest! {
        /// No sequence of claims, cancellations, settlements and refunds can
        /// take more than was paid, per line, per payment or per order.
        #[test]
        fn refunds_never_exceed_what_was_paid(
            lines in prop::collection::vec((1u32..5, 0i64..100_000, 0i64..500), 1..4),
            discount_pct in 0i64..50, shipping in 0i64..2_000, payments in 1usize..4,
            ops in ops(),
        ) {
            let lines: Vec<(u32, i64, i64)> = lines.into_iter().map(|(q, p, d)| (q, p, d.min(q as i64 * p))).collect();
            let net: i64 = lines.iter().map(|(q, p, d)| *q as i64 * p - d).sum();
            let o = order(&lines, net * discount_pct / 100, shipping, payments);
            let mut l = Ledger::default();
            let mut claims: Vec<String> = Vec::new();
            for op in ops {
                match op {
                    Op::Claim { line, units, share } => {
                        let id = format!("c{}", claims.len());
                        let r = req(&format!("L{}", line % lines.len()), units);
                        if let Ok(max) = l.refundable(&o, &r) {
                            let amount = max[0].minor() * share as i64 / 100;
                            if l.reserve(&o, &id, &r, Some(Money::from_minor(amount, o.currency()))).is_ok() { claims.push(id); }
                        }
                    }
                    Op::Cancel(i) => if let Some(c) = claims.get(i) { let _ = l.release(c); },
                    Op::Money { line, share } => {
                        let id = format!("c{}", claims.len());
                        let scope: Vec<String> = line.map(|i| format!("L{}", i % lines.len())).into_iter().collect();
                        let free = l.order_free(&o).minor();
                        let amount = Money::from_minor(free * share as i64 / 100, o.currency());
                        if l.reserve_money(&o, &id, &scope, amount).is_ok() { claims.push(id); }
                    }
                    Op::GiveBack(i, s) => if let Some(c) = claims.get(i) {
                        if let Some(p) = l.entry(c).and_then(|e| e.payments.first()).cloned() {
                            let _ = l.give_back(c, &p.payment_id, Money::from_minor((p.amount.minor() * s as i64 / 100).max(1), o.currency()));
                        }
                    },
                    Op::Settle(i, s) => if let Some(c) = claims.get(i) {
                        if let Some(e) = l.entry(c) { let a = e.minor() * s as i64 / 100; let _ = l.settle(c, Money::from_minor(a, o.currency())); }
                    },
                }
                let mut lines_taken = 0;
                for (i, line) in o.facts.lines.iter().enumerate() {
                    let (u, a) = l.line_taken(&line.line_id);
                    prop_assert!(u <= line.quantity);
                    prop_assert!(a <= o.line_paid(i));
                    lines_taken += a;
                }
                let mut pays_taken = 0;
                for (j, p) in o.facts.payments.iter().enumerate() {
                    let t = l.payment_taken(&p.payment_id);
                    prop_assert!(t >= 0 && t <= o.payment_minor(j), "payment {} overdrawn", p.payment_id);
                    pays_taken += t;
                }
                prop_assert_eq!(lines_taken, pays_taken);
                prop_assert!(!l.order_free(&o).is_negative());
                for e in &l.entries {
                    prop_assert_eq!(
                        e.amount(o.currency()),
                        Money::checked_sum(o.currency(), e.payments.iter().map(|p| p.amount))
                    );
                }
            }
        }

        /// Refunding every unit on its own, in full, adds up to exactly what
        /// was paid, per line and per payment, to the fen.
        #[test]
        fn unit_by_unit_refunds_add_up_to_the_order(
            lines in prop::collection::vec((1u32..6, 0i64..100_000, 0i64..500), 1..4),
            discount_pct in 0i64..60, shipping in 0i64..3_000, payments in 1usize..4,
        ) {
            let lines: Vec<(u32, i64, i64)> = lines.into_iter().map(|(q, p, d)| (q, p, d.min(q as i64 * p))).collect();
            let net: i64 = lines.iter().map(|(q, p, d)| *q as i64 * p - d).sum();
            let o = order(&lines, net * discount_pct / 100, shipping, payments);
            let mut l = Ledger::default();
            let mut n = 0;
            for line in &o.facts.lines {
                for _ in 0..line.quantity {
                    l.reserve(&o, &format!("c{n}"), &req(&line.line_id, 1), None).unwrap();
                    n += 1;
                }
            }
            prop_assert!(l.order_free(&o).is_zero());
            for (j, p) in o.facts.payments.iter().enumerate() {
                prop_assert_eq!(l.payment_taken(&p.payment_id), o.payment_minor(j));
            }
        }
    }
}
