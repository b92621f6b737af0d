//! Cross-border orders: duties, import taxes and international shipping
//! paid with the goods, the customs clearance as the clearance port reports
//! it, and what a `cross_border_customs` claim gives back.
//!
//! How the charges fit the money split (the rule [`super::order`] and the
//! ledger rely on):
//! 1. The storefront sends them as their own amounts (`cross_border`:
//!    `duties`, `taxes`, `international_shipping`); the payments add up to
//!    lines − discounts + shipping + those three.
//! 2. Each charge is split over the order's `cross_border` lines in
//!    proportion to their net amounts, by the largest remainder
//!    (`money::allocate`); lines of other kinds carry none. A line's paid
//!    amount is its goods (as for any line) plus its share of the three.
//! 3. From there they are ordinary paid money: split over units, taken by
//!    the ledger unit by unit and drawn from the payments. So a claim on a
//!    cross-border unit gives back its duties, taxes and international
//!    shipping with the goods, the sum of every refund never exceeds what
//!    the payments paid, and a unit taken once (its duties with it) cannot
//!    be taken by a second claim.
//!
//! What a claim takes of a line ([`due_back`]) is shown split into goods,
//! duties, taxes and international shipping: the line's draw allocated over
//! those four parts of the line, by the largest remainder, so the parts add
//! up to the draw exactly.
//!
//! The clearance (declared, inspecting, cleared, failed, returning,
//! returned) only moves forward ([`Clearance::follows`]); a failed
//! clearance or a parcel confirmed back with the seller is what lets the
//! default rules approve a customs claim without staff
//! ([`ClearanceStatus::refund_confirmed`]).

use super::ledger::LedgerEntry;
use super::money::{allocate, Money, MoneyError};
use super::order::{check_id, Order, OrderDraft, OrderError, ProductKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The cross-border part of an order, as the storefront sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossBorderCharges {
    /// The customs declaration the clearance port knows the parcel by.
    pub declaration_no: String,
    #[serde(default)]
    pub duties: super::money::Amount,
    #[serde(default)]
    pub taxes: super::money::Amount,
    #[serde(default)]
    pub international_shipping: super::money::Amount,
}

/// Each line's share of duties, taxes and international shipping, in minor
/// units (zero for lines that are not cross-border), by the split above.
/// `nets`: the lines' net amounts. The total of the three comes second.
pub fn split(d: &OrderDraft, nets: &[i64]) -> Result<(Vec<[i64; 3]>, i64), OrderError> {
    let Some(c) = &d.cross_border else {
        return Ok((vec![[0; 3]; d.lines.len()], 0));
    };
    check_id("cross_border.declaration_no", &c.declaration_no)?;
    let cur = d.currency;
    let mut charges = [0i64; 3];
    for (k, (field, a)) in [
        ("cross_border.duties", c.duties),
        ("cross_border.taxes", c.taxes),
        (
            "cross_border.international_shipping",
            c.international_shipping,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        charges[k] = a.to_minor(cur).map_err(|source| OrderError::Money {
            field: field.into(),
            source,
        })?;
    }
    let total = super::money::checked_sum(charges).map_err(|source| OrderError::Money {
        field: "cross_border".into(),
        source,
    })?;
    let xb: Vec<usize> = (0..d.lines.len())
        .filter(|&i| d.lines[i].kind == ProductKind::CrossBorder)
        .collect();
    if xb.is_empty() {
        return Err(OrderError::Invalid(
            "cross_border: the order has no line of kind cross_border to carry duties, taxes and international shipping".into(),
        ));
    }
    let weights: Vec<i64> = xb.iter().map(|&i| nets[i]).collect();
    let mut shares = vec![[0i64; 3]; d.lines.len()];
    for (k, &charge) in charges.iter().enumerate() {
        for (j, part) in allocate(charge, &weights).into_iter().enumerate() {
            shares[xb[j]][k] = part;
        }
    }
    Ok((shares, total))
}

/// What one line of an order paid, in its four parts (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineParts {
    pub goods: i64,
    pub duties: i64,
    pub taxes: i64,
    pub international_shipping: i64,
}

/// Line `i`'s paid amount in its parts.
pub fn line_parts(order: &Order, i: usize) -> LineParts {
    let f = &order.facts;
    let nets: Vec<i64> = f
        .lines
        .iter()
        .map(|l| {
            let price = l.unit_price.to_minor(f.currency).unwrap_or(0);
            let disc = l.discount.to_minor(f.currency).unwrap_or(0);
            price.saturating_mul(i64::from(l.quantity)) - disc
        })
        .collect();
    // The order was parsed: the split succeeded then and gives the same now.
    let shares = split(f, &nets).map(|(s, _)| s[i]).unwrap_or([0; 3]);
    let paid = order.line_paid(i);
    LineParts {
        goods: paid - shares.iter().sum::<i64>(),
        duties: shares[0],
        taxes: shares[1],
        international_shipping: shares[2],
    }
}

/// What a claim gives back, in its parts; the parts add up to `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueBack {
    pub goods: Money,
    pub duties: Money,
    pub taxes: Money,
    pub international_shipping: Money,
    pub total: Money,
}

/// The parts of what a ledger entry takes of the order (see the module
/// notes): each line's draw allocated over the line's four parts.
pub fn due_back(order: &Order, entry: &LedgerEntry) -> Result<DueBack, MoneyError> {
    let cur = order.currency();
    let mut sums = [0i64; 4];
    for draw in &entry.lines {
        let Some(i) = order.line_index(&draw.line_id) else {
            continue;
        };
        let p = line_parts(order, i);
        let parts = allocate(
            draw.amount.minor(),
            &[p.goods, p.duties, p.taxes, p.international_shipping],
        );
        for (s, v) in sums.iter_mut().zip(parts) {
            *s = super::money::checked_sum([*s, v])?;
        }
    }
    let m = |v: i64| Money::from_minor(v, cur);
    Ok(DueBack {
        goods: m(sums[0]),
        duties: m(sums[1]),
        taxes: m(sums[2]),
        international_shipping: m(sums[3]),
        total: m(super::money::checked_sum(sums)?),
    })
}

/// Why a `cross_border_customs` claim cannot be filed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomsRefusal {
    /// The order carries no duties, taxes or international shipping.
    #[error("cross_border: order {0} has no duties, taxes or international shipping to claim (not a cross-border order)")]
    NoCharges(String),
    /// A claimed line is not a cross-border line.
    #[error("lines[{index}].line_id: line {line_id} is of kind {kind}, not cross_border")]
    NotCrossBorder {
        index: usize,
        line_id: String,
        kind: String,
    },
}

impl CustomsRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            CustomsRefusal::NoCharges(_) => "no_cross_border_charges",
            CustomsRefusal::NotCrossBorder { .. } => "not_cross_border",
        }
    }
}

/// Checks a `cross_border_customs` claim: a cross-border order, and only
/// its cross-border lines.
pub fn check_claim(
    order: &Order,
    lines: &[super::ledger::LineRequest],
) -> Result<(), CustomsRefusal> {
    if order.facts.cross_border.is_none() {
        return Err(CustomsRefusal::NoCharges(order.order_id.to_string()));
    }
    for (index, l) in lines.iter().enumerate() {
        // An unknown line is the ledger's to refuse.
        let Some(i) = order.line_index(&l.line_id) else {
            continue;
        };
        let kind = order.facts.lines[i].kind;
        if kind != ProductKind::CrossBorder {
            let kind = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(CustomsRefusal::NotCrossBorder {
                index,
                line_id: l.line_id.clone(),
                kind,
            });
        }
    }
    Ok(())
}

/// Where a cross-border parcel is with customs, as the clearance port says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearanceStatus {
    /// Declared to customs, nothing decided.
    Declared,
    /// Held for inspection.
    Inspecting,
    /// Released into the country.
    Cleared,
    /// Refused entry: the goods never reach the customer.
    Failed,
    /// On its way back to the seller (refused at customs or by the customer).
    Returning,
    /// Back with the seller, confirmed by the logistics side.
    Returned,
}

impl ClearanceStatus {
    /// The order in which statuses follow each other; news of a lower
    /// rank than what is known is old news.
    fn rank(self) -> u8 {
        match self {
            ClearanceStatus::Declared => 0,
            ClearanceStatus::Inspecting => 1,
            ClearanceStatus::Cleared | ClearanceStatus::Failed => 2,
            ClearanceStatus::Returning => 3,
            ClearanceStatus::Returned => 4,
        }
    }

    /// Confirmed that the goods will not reach the customer: the clearance
    /// failed, or the parcel is back with the seller. What lets a customs
    /// claim be refunded without staff.
    pub fn refund_confirmed(self) -> bool {
        matches!(self, ClearanceStatus::Failed | ClearanceStatus::Returned)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClearanceStatus::Declared => "declared",
            ClearanceStatus::Inspecting => "inspecting",
            ClearanceStatus::Cleared => "cleared",
            ClearanceStatus::Failed => "failed",
            ClearanceStatus::Returning => "returning",
            ClearanceStatus::Returned => "returned",
        }
    }
}

/// The parcel's way back, as the logistics side reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnShipment {
    pub carrier: String,
    pub tracking_number: String,
}

/// What the clearance port last said, kept on the claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clearance {
    pub status: ClearanceStatus,
    /// Customs' reason, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_shipment: Option<ReturnShipment>,
    /// When the port says it happened.
    pub at: DateTime<Utc>,
}

impl Clearance {
    /// Whether `news` moves the clearance on from `known`: a later status,
    /// or the same one with a return shipment learnt. Duplicates and old
    /// news do not, so pushes and polls in any order end the same.
    pub fn follows(known: Option<&Clearance>, news: &Clearance) -> bool {
        match known {
            None => true,
            Some(k) => {
                news.status.rank() > k.status.rank()
                    || (news.status == k.status
                        && k.return_shipment.is_none()
                        && news.return_shipment.is_some())
            }
        }
    }
}

/// A customs claim's cross-border part: what it gives back, in parts, and
/// the clearance as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomsClaim {
    pub declaration_no: String,
    pub due_back: DueBack,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearance: Option<Clearance>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::{Ledger, LineRequest};

    fn order(
        lines: serde_json::Value,
        xb: serde_json::Value,
        paid: &str,
    ) -> Result<Order, OrderError> {
        let d: OrderDraft = serde_json::from_value(serde_json::json!({
            "customer_id": "c1", "currency": "CNY", "placed_at": "2026-11-01T10:00:00Z",
            "lines": lines,
            "shipping_fee": "0.00",
            "cross_border": xb,
            "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "42",
                          "amount": paid, "paid_at": "2026-11-01T10:01:00Z"}],
            "fulfilment": {"state": "shipped", "shipped_at": "2026-11-02T10:00:00Z"}
        }))
        .unwrap();
        Order::parse("s1", "o1", d)
    }

    fn two_lines() -> serde_json::Value {
        serde_json::json!([
            {"line_id": "L1", "sku": "SERUM", "title": "Serum", "kind": "cross_border",
             "quantity": 3, "unit_price": "100.00"},
            {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": 1, "unit_price": "20.00"},
            {"line_id": "L3", "sku": "CREAM", "title": "Cream", "kind": "cross_border",
             "quantity": 1, "unit_price": "50.00"}
        ])
    }

    fn charges() -> serde_json::Value {
        serde_json::json!({"declaration_no": "DEC001", "duties": "10.00", "taxes": "31.85",
                           "international_shipping": "35.01"})
    }

    #[test]
    fn charges_ride_on_the_cross_border_lines_only() {
        // goods 370.00 + 76.86 of charges
        let o = order(two_lines(), charges(), "446.86").unwrap();
        // duties 1000 over nets 30000/5000 → 857/143
        let p1 = line_parts(&o, 0);
        let p2 = line_parts(&o, 1);
        let p3 = line_parts(&o, 2);
        assert_eq!(
            p2,
            LineParts {
                goods: 2000,
                ..Default::default()
            }
        );
        assert_eq!((p1.duties, p3.duties), (857, 143));
        assert_eq!(p1.taxes + p3.taxes, 3185);
        assert_eq!(p1.international_shipping + p3.international_shipping, 3501);
        assert_eq!((p1.goods, p3.goods), (30000, 5000));
        assert_eq!(o.total_paid(), 44686);
    }

    #[test]
    fn payments_must_cover_the_charges() {
        let e = order(two_lines(), charges(), "370.00").unwrap_err();
        assert!(e.to_string().contains("payments add up to"), "{e}");
    }

    #[test]
    fn charges_need_a_cross_border_line_and_good_amounts() {
        let lines = serde_json::json!([{"line_id": "L2", "sku": "MUG", "title": "Mug",
            "kind": "physical", "quantity": 1, "unit_price": "20.00"}]);
        let e = order(lines, charges(), "96.86").unwrap_err();
        assert!(e.to_string().starts_with("cross_border:"), "{e}");
        let mut bad = charges();
        bad["taxes"] = serde_json::json!("1.001");
        match order(two_lines(), bad, "446.86") {
            Err(OrderError::Money { field, .. }) => assert_eq!(field, "cross_border.taxes"),
            other => panic!("{other:?}"),
        }
        let mut bad = charges();
        bad["declaration_no"] = serde_json::json!("D#1");
        assert!(order(two_lines(), bad, "446.86").is_err());
    }

    #[test]
    fn every_claim_on_the_units_adds_up_to_what_was_paid_once() {
        let o = order(two_lines(), charges(), "446.86").unwrap();
        let mut ledger = Ledger::default();
        let mut parts = Vec::new();
        for (id, q) in [("c1", 1), ("c2", 2)] {
            let e = ledger
                .reserve(
                    &o,
                    id,
                    &[LineRequest {
                        weight_grams: None,
                        line_id: "L1".into(),
                        quantity: q,
                    }],
                    None,
                )
                .unwrap()
                .clone();
            let d = due_back(&o, &e).unwrap();
            assert_eq!(
                d.goods.minor()
                    + d.duties.minor()
                    + d.taxes.minor()
                    + d.international_shipping.minor(),
                d.total.minor()
            );
            assert_eq!(d.total, e.amount(o.currency()).unwrap());
            parts.push(d);
        }
        let line = line_parts(&o, 0);
        let total: i64 = parts.iter().map(|d| d.total.minor()).sum();
        assert_eq!(total, o.line_paid(0), "both claims: the line exactly");
        let duties: i64 = parts.iter().map(|d| d.duties.minor()).sum();
        assert!(
            (duties - line.duties).abs() <= 1,
            "{duties} vs {}",
            line.duties
        );
        // Nothing is left for a third claim: the duties cannot go twice.
        assert!(ledger
            .reserve(
                &o,
                "c3",
                &[LineRequest {
                    weight_grams: None,
                    line_id: "L1".into(),
                    quantity: 1
                }],
                None
            )
            .is_err());
    }

    #[test]
    fn customs_claims_are_for_cross_border_lines_of_cross_border_orders() {
        let o = order(two_lines(), charges(), "446.86").unwrap();
        let req = |id: &str| {
            vec![LineRequest {
                weight_grams: None,
                line_id: id.into(),
                quantity: 1,
            }]
        };
        assert_eq!(check_claim(&o, &req("L1")), Ok(()));
        let e = check_claim(&o, &req("L2")).unwrap_err();
        assert_eq!(e.code(), "not_cross_border");
        assert!(
            e.to_string()
                .starts_with("lines[0].line_id: line L2 is of kind physical"),
            "{e}"
        );
        let plain = order(
            serde_json::json!([{"line_id": "L1", "sku": "X", "title": "X", "kind": "physical",
                                "quantity": 1, "unit_price": "5.00"}]),
            serde_json::Value::Null,
            "5.00",
        )
        .unwrap();
        assert_eq!(
            check_claim(&plain, &req("L1")).unwrap_err().code(),
            "no_cross_border_charges"
        );
    }

    #[test]
    fn clearance_moves_forward_only() {
        let at = |s: ClearanceStatus| Clearance {
            status: s,
            reason: None,
            return_shipment: None,
            at: "2026-11-05T00:00:00Z".parse().unwrap(),
        };
        use ClearanceStatus::*;
        assert!(Clearance::follows(None, &at(Declared)));
        assert!(Clearance::follows(Some(&at(Declared)), &at(Failed)));
        assert!(!Clearance::follows(Some(&at(Failed)), &at(Inspecting)));
        assert!(!Clearance::follows(Some(&at(Failed)), &at(Failed)));
        assert!(!Clearance::follows(Some(&at(Failed)), &at(Cleared)));
        assert!(Clearance::follows(Some(&at(Cleared)), &at(Returning)));
        let mut with_parcel = at(Returning);
        with_parcel.return_shipment = Some(ReturnShipment {
            carrier: "ems".into(),
            tracking_number: "EE1".into(),
        });
        assert!(Clearance::follows(Some(&at(Returning)), &with_parcel));
        assert!(!Clearance::follows(Some(&with_parcel), &at(Returning)));
        assert!(Failed.refund_confirmed() && Returned.refund_confirmed());
        assert!(!Cleared.refund_confirmed() && !Returning.refund_confirmed());
        assert!(!Declared.refund_confirmed() && !Inspecting.refund_confirmed());
    }
}
