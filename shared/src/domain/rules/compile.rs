//! The compiled form of a rule set: the value tables that give each fact's
//! values their bits, the constraint one rule compiles to, and the tests
//! evaluation runs on a claim's facts.

use super::facts::{Facts, DAY, HOUR};
use crate::domain::claim::{ClaimType, ReasonCode, SpecialKind};
use crate::domain::money::Currency;
use crate::domain::order::{FulfilmentState, MemberTier};
use crate::domain::tracking::CourierStatus;

// ---------------------------------------------------------------------------
// The value tables. The position in each table is the bit a value takes in
// the compiled masks; `*_index` are exhaustive matches so that a new variant
// fails to compile here instead of silently matching nothing. A unit test
// checks that tables, indexes and serde names agree.

const SPECIAL_KINDS: [(SpecialKind, &str); 6] = [
    (SpecialKind::FreshSpoilage, "fresh_spoilage"),
    (SpecialKind::ApplianceRepair, "appliance_repair"),
    (SpecialKind::CrossBorderCustoms, "cross_border_customs"),
    (SpecialKind::VirtualUnused, "virtual_unused"),
    (SpecialKind::PreSaleCompensation, "pre_sale_compensation"),
    (SpecialKind::MissingItem, "missing_item"),
];
fn special_index(k: SpecialKind) -> u8 {
    match k {
        SpecialKind::FreshSpoilage => 0,
        SpecialKind::ApplianceRepair => 1,
        SpecialKind::CrossBorderCustoms => 2,
        SpecialKind::VirtualUnused => 3,
        SpecialKind::PreSaleCompensation => 4,
        SpecialKind::MissingItem => 5,
    }
}
/// Claim types and special kinds share one fact: bits 0-2 are the plain
/// types, bits 3-8 the special kinds.
fn claim_index(t: ClaimType) -> u8 {
    match t {
        ClaimType::RefundOnly => 0,
        ClaimType::ReturnRefund => 1,
        ClaimType::Exchange => 2,
        ClaimType::SpecialClaim { kind } => 3 + special_index(kind),
    }
}
const PLAIN_CLAIMS: u128 = 0b111;
const SPECIAL_CLAIMS: u128 = 0b11_1111 << 3;

const REASONS: [(ReasonCode, &str); 11] = [
    (ReasonCode::NoLongerWanted, "no_longer_wanted"),
    (ReasonCode::WrongSize, "wrong_size"),
    (ReasonCode::Damaged, "damaged"),
    (ReasonCode::Defective, "defective"),
    (ReasonCode::WrongItem, "wrong_item"),
    (ReasonCode::NotAsDescribed, "not_as_described"),
    (ReasonCode::MissingParts, "missing_parts"),
    (ReasonCode::NotReceived, "not_received"),
    (ReasonCode::Spoiled, "spoiled"),
    (ReasonCode::LateDelivery, "late_delivery"),
    (ReasonCode::Other, "other"),
];
fn reason_index(r: ReasonCode) -> u8 {
    match r {
        ReasonCode::NoLongerWanted => 0,
        ReasonCode::WrongSize => 1,
        ReasonCode::Damaged => 2,
        ReasonCode::Defective => 3,
        ReasonCode::WrongItem => 4,
        ReasonCode::NotAsDescribed => 5,
        ReasonCode::MissingParts => 6,
        ReasonCode::NotReceived => 7,
        ReasonCode::Spoiled => 8,
        ReasonCode::LateDelivery => 9,
        ReasonCode::Other => 10,
    }
}
/// The reasons that are the shop's fault, by the claim module's definition.
fn quality_mask() -> u128 {
    REASONS
        .iter()
        .filter(|(r, _)| r.is_quality_issue())
        .fold(0, |m, (r, _)| m | 1 << reason_index(*r))
}

const FULFILMENTS: [(FulfilmentState, &str); 3] = [
    (FulfilmentState::PaidUnshipped, "paid_unshipped"),
    (FulfilmentState::Shipped, "shipped"),
    (FulfilmentState::Delivered, "delivered"),
];
fn fulfilment_index(s: FulfilmentState) -> u8 {
    match s {
        FulfilmentState::PaidUnshipped => 0,
        FulfilmentState::Shipped => 1,
        FulfilmentState::Delivered => 2,
    }
}

const CURRENCIES: [(Currency, &str); 6] = [
    (Currency::Cny, "CNY"),
    (Currency::Hkd, "HKD"),
    (Currency::Usd, "USD"),
    (Currency::Eur, "EUR"),
    (Currency::Gbp, "GBP"),
    (Currency::Jpy, "JPY"),
];
fn currency_index(c: Currency) -> u8 {
    match c {
        Currency::Cny => 0,
        Currency::Hkd => 1,
        Currency::Usd => 2,
        Currency::Eur => 3,
        Currency::Gbp => 4,
        Currency::Jpy => 5,
    }
}

const TIERS: [(MemberTier, &str); 5] = [
    (MemberTier::Regular, "regular"),
    (MemberTier::Silver, "silver"),
    (MemberTier::Gold, "gold"),
    (MemberTier::Platinum, "platinum"),
    (MemberTier::Diamond, "diamond"),
];
fn tier_index(t: MemberTier) -> u8 {
    match t {
        MemberTier::Regular => 0,
        MemberTier::Silver => 1,
        MemberTier::Gold => 2,
        MemberTier::Platinum => 3,
        MemberTier::Diamond => 4,
    }
}

/// Bit 0 is "none" (no tracking), the statuses follow.
const COURIERS: [(CourierStatus, &str); 5] = [
    (CourierStatus::PickedUp, "picked_up"),
    (CourierStatus::InTransit, "in_transit"),
    (CourierStatus::DeliveredToShop, "delivered_to_shop"),
    (CourierStatus::DeliveredElsewhere, "delivered_elsewhere"),
    (CourierStatus::NotPickedUp, "not_picked_up"),
];
fn courier_index(c: Option<CourierStatus>) -> u8 {
    match c {
        None => 0,
        Some(CourierStatus::PickedUp) => 1,
        Some(CourierStatus::InTransit) => 2,
        Some(CourierStatus::DeliveredToShop) => 3,
        Some(CourierStatus::DeliveredElsewhere) => 4,
        Some(CourierStatus::NotPickedUp) => 5,
    }
}

// The underlying facts a compiled rule tests.
const E_CLAIM: usize = 0;
const E_REASON: usize = 1;
const E_FULFILMENT: usize = 2;
pub(super) const E_KINDS: usize = 3;
const E_CURRENCY: usize = 4;
const E_TIER: usize = 5;
const E_COURIER: usize = 6;
const E_EVIDENCE_COMPLETE: usize = 7;
const E_WINDOW: usize = 8;
const E_REUSED: usize = 9;
const E_BEFORE_DELIVERY: usize = 10;
const E_PRESALE_DUE: usize = 11;
const E_VOUCHER_REDEEMED: usize = 12;
const E_VOUCHER_UNUSED: usize = 13;
const E_BUNDLE_RETURN: usize = 14;
const E_INSTALLED_FAULTY: usize = 15;
const E_CUSTOMS_CONFIRMED: usize = 16;
const E_FRESH_AUTO: usize = 17;
pub(super) const N_ENUM: usize = 18;

const fn low_bits(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

/// Every value each enumerated fact can take. Product kinds are a set of 7
/// kinds, so their values are the 128 subsets.
pub(super) const UNIVERSE: [u128; N_ENUM] = [
    low_bits(9),
    low_bits(11),
    low_bits(3),
    low_bits(128),
    low_bits(6),
    low_bits(5),
    low_bits(6),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
    low_bits(2),
];

pub(super) const N_AMOUNT: usize = 0;
const N_PAYMENT: usize = 1;
const N_SHIPMENT: usize = 2;
const N_DELIVERY: usize = 3;
const N_EVIDENCE_COUNT: usize = 4;
const N_CLAIMS_90: usize = 5;
const N_REJECTED_90: usize = 6;
const N_REFUND_RATE: usize = 7;
const N_WITHOUT_RETURN: usize = 8;
const N_SAME_REASON: usize = 9;
pub(super) const N_NUM: usize = 10;

/// Amounts are compared at 10^-4 of the major unit: rule amounts have at
/// most 2 decimals and every currency at most 4 minor digits, so both sides
/// are whole numbers there and comparisons are exact.
const AMOUNT_SCALE_DIGITS: u32 = 4;
/// One fen (0.01) at the amount scale.
pub(super) const CENT: i128 = 100;

#[derive(Clone, Copy)]
pub(super) enum Table {
    ClaimType,
    SpecialKind,
    Reason,
    Fulfilment,
    Currency,
    Tier,
    Courier,
}

pub(super) fn one_hot<T>(table: &[(T, &'static str)], offset: u32) -> Vec<(&'static str, u128)> {
    table
        .iter()
        .enumerate()
        .map(|(i, (_, n))| (*n, 1u128 << (i as u32 + offset)))
        .collect()
}

impl Table {
    /// Each accepted name and the bits it stands for.
    pub(super) fn values(self) -> Vec<(&'static str, u128)> {
        match self {
            Table::ClaimType => vec![
                ("refund_only", 1),
                ("return_refund", 1 << 1),
                ("exchange", 1 << 2),
                ("special_claim", SPECIAL_CLAIMS),
            ],
            Table::SpecialKind => {
                let mut v = vec![("none", PLAIN_CLAIMS)];
                v.extend(one_hot(&SPECIAL_KINDS, 3));
                v
            }
            Table::Reason => one_hot(&REASONS, 0),
            Table::Fulfilment => one_hot(&FULFILMENTS, 0),
            Table::Currency => one_hot(&CURRENCIES, 0),
            Table::Tier => one_hot(&TIERS, 0),
            Table::Courier => {
                let mut v = vec![("none", 1)];
                v.extend(one_hot(&COURIERS, 1));
                v
            }
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Shape {
    Enum {
        fact: usize,
        table: Table,
    },
    Bool {
        fact: usize,
        true_mask: fn() -> u128,
    },
    Kinds,
    /// Whole numbers of `unit` (1 for counts; seconds per hour or day for
    /// the time facts, which are held in seconds so that "within 24 hours"
    /// ends at exactly 24 h).
    Count {
        fact: usize,
        unit: i128,
        eq: bool,
    },
    Amount,
}

const fn bit1() -> u128 {
    0b10
}

/// The facts a condition may name, in the order the docs list them.
const FACTS: &[(&str, Shape)] = &[
    (
        "claim_type",
        Shape::Enum {
            fact: E_CLAIM,
            table: Table::ClaimType,
        },
    ),
    (
        "special_kind",
        Shape::Enum {
            fact: E_CLAIM,
            table: Table::SpecialKind,
        },
    ),
    (
        "reason",
        Shape::Enum {
            fact: E_REASON,
            table: Table::Reason,
        },
    ),
    (
        "quality_issue",
        Shape::Bool {
            fact: E_REASON,
            true_mask: quality_mask,
        },
    ),
    (
        "fulfilment",
        Shape::Enum {
            fact: E_FULFILMENT,
            table: Table::Fulfilment,
        },
    ),
    ("product_kinds", Shape::Kinds),
    (
        "currency",
        Shape::Enum {
            fact: E_CURRENCY,
            table: Table::Currency,
        },
    ),
    (
        "member_tier",
        Shape::Enum {
            fact: E_TIER,
            table: Table::Tier,
        },
    ),
    (
        "courier",
        Shape::Enum {
            fact: E_COURIER,
            table: Table::Courier,
        },
    ),
    (
        "evidence_complete",
        Shape::Bool {
            fact: E_EVIDENCE_COMPLETE,
            true_mask: bit1,
        },
    ),
    (
        "within_policy_window",
        Shape::Bool {
            fact: E_WINDOW,
            true_mask: bit1,
        },
    ),
    ("amount", Shape::Amount),
    (
        "hours_since_payment",
        Shape::Count {
            fact: N_PAYMENT,
            unit: HOUR as i128,
            eq: true,
        },
    ),
    (
        "hours_since_shipment",
        Shape::Count {
            fact: N_SHIPMENT,
            unit: HOUR as i128,
            eq: true,
        },
    ),
    (
        "hours_since_delivery",
        Shape::Count {
            fact: N_DELIVERY,
            unit: HOUR as i128,
            eq: true,
        },
    ),
    (
        "days_since_payment",
        Shape::Count {
            fact: N_PAYMENT,
            unit: DAY as i128,
            eq: false,
        },
    ),
    (
        "days_since_shipment",
        Shape::Count {
            fact: N_SHIPMENT,
            unit: DAY as i128,
            eq: false,
        },
    ),
    (
        "days_since_delivery",
        Shape::Count {
            fact: N_DELIVERY,
            unit: DAY as i128,
            eq: false,
        },
    ),
    (
        "evidence_count",
        Shape::Count {
            fact: N_EVIDENCE_COUNT,
            unit: 1,
            eq: true,
        },
    ),
    (
        "claims_last_90_days",
        Shape::Count {
            fact: N_CLAIMS_90,
            unit: 1,
            eq: true,
        },
    ),
    (
        "rejected_last_90_days",
        Shape::Count {
            fact: N_REJECTED_90,
            unit: 1,
            eq: true,
        },
    ),
    (
        "refund_rate_percent",
        Shape::Count {
            fact: N_REFUND_RATE,
            unit: 1,
            eq: true,
        },
    ),
    (
        "claims_without_return",
        Shape::Count {
            fact: N_WITHOUT_RETURN,
            unit: 1,
            eq: true,
        },
    ),
    (
        "same_reason_last_90_days",
        Shape::Count {
            fact: N_SAME_REASON,
            unit: 1,
            eq: true,
        },
    ),
    (
        "evidence_reused",
        Shape::Bool {
            fact: E_REUSED,
            true_mask: bit1,
        },
    ),
    (
        "photo_before_delivery",
        Shape::Bool {
            fact: E_BEFORE_DELIVERY,
            true_mask: bit1,
        },
    ),
    (
        "presale_compensation_due",
        Shape::Bool {
            fact: E_PRESALE_DUE,
            true_mask: bit1,
        },
    ),
    (
        "voucher_redeemed",
        Shape::Bool {
            fact: E_VOUCHER_REDEEMED,
            true_mask: bit1,
        },
    ),
    (
        "voucher_unused",
        Shape::Bool {
            fact: E_VOUCHER_UNUSED,
            true_mask: bit1,
        },
    ),
    (
        "with_bundle_return",
        Shape::Bool {
            fact: E_BUNDLE_RETURN,
            true_mask: bit1,
        },
    ),
    (
        "installed_faulty_within_window",
        Shape::Bool {
            fact: E_INSTALLED_FAULTY,
            true_mask: bit1,
        },
    ),
    (
        "customs_refund_confirmed",
        Shape::Bool {
            fact: E_CUSTOMS_CONFIRMED,
            true_mask: bit1,
        },
    ),
    (
        "fresh_within_auto_limit",
        Shape::Bool {
            fact: E_FRESH_AUTO,
            true_mask: bit1,
        },
    ),
];

pub(super) fn fact_shape(name: &str) -> Option<Shape> {
    FACTS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

pub(super) fn fact_names() -> String {
    FACTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// Compiled form

/// What one rule accepts, per underlying fact: a mask of accepted values for
/// the enumerated facts (the universe when unconstrained) and an inclusive
/// range for the numbers (None when unconstrained; a number that is absent
/// never lies in a range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Constraint {
    pub(super) masks: [u128; N_ENUM],
    pub(super) ranges: [Option<(i128, i128)>; N_NUM],
}

impl Constraint {
    pub(super) fn any() -> Constraint {
        Constraint {
            masks: UNIVERSE,
            ranges: [None; N_NUM],
        }
    }

    /// Every claim `self` accepts, `other` accepts too.
    pub(super) fn within(&self, other: &Constraint) -> bool {
        let masks = self
            .masks
            .iter()
            .zip(&other.masks)
            .all(|(mine, theirs)| mine & !theirs == 0);
        let ranges =
            self.ranges
                .iter()
                .zip(&other.ranges)
                .all(|(mine, theirs)| match (mine, theirs) {
                    (_, None) => true,
                    (None, Some(_)) => false,
                    (Some((lo, hi)), Some((tlo, thi))) => tlo <= lo && hi <= thi,
                });
        masks && ranges
    }

    pub(super) fn tests(&self) -> Vec<Test> {
        let mut t = Vec::new();
        for (fact, (&mask, &all)) in self.masks.iter().zip(&UNIVERSE).enumerate() {
            if mask != all {
                t.push(Test::Mask {
                    fact: fact as u8,
                    mask,
                });
            }
        }
        for (fact, r) in self.ranges.iter().enumerate() {
            if let Some((lo, hi)) = *r {
                t.push(Test::Range {
                    fact: fact as u8,
                    lo,
                    hi,
                });
            }
        }
        t
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Test {
    Mask { fact: u8, mask: u128 },
    Range { fact: u8, lo: i128, hi: i128 },
}

/// The facts of one claim in the compiled form: the bit index of each
/// enumerated fact's value, and each number.
pub(super) struct Values {
    e: [u8; N_ENUM],
    n: [Option<i128>; N_NUM],
}

impl Values {
    pub(super) fn of(f: &Facts) -> Values {
        let mut e = [0u8; N_ENUM];
        e[E_CLAIM] = claim_index(f.claim_type);
        e[E_REASON] = reason_index(f.reason);
        e[E_FULFILMENT] = fulfilment_index(f.fulfilment);
        e[E_KINDS] = f.product_kinds.0;
        e[E_CURRENCY] = currency_index(f.amount.currency());
        e[E_TIER] = tier_index(f.member_tier);
        e[E_COURIER] = courier_index(f.courier);
        e[E_EVIDENCE_COMPLETE] = u8::from(f.evidence_complete);
        e[E_WINDOW] = u8::from(f.within_policy_window());
        e[E_REUSED] = u8::from(f.evidence_reused);
        e[E_BEFORE_DELIVERY] = u8::from(f.photo_before_delivery);
        e[E_PRESALE_DUE] = u8::from(f.presale_compensation_due);
        e[E_VOUCHER_REDEEMED] = u8::from(f.voucher_redeemed);
        e[E_VOUCHER_UNUSED] = u8::from(f.voucher_unused);
        e[E_BUNDLE_RETURN] = u8::from(f.with_bundle_return);
        e[E_INSTALLED_FAULTY] = u8::from(f.installed_faulty_within_window);
        e[E_CUSTOMS_CONFIRMED] = u8::from(f.customs_refund_confirmed);
        e[E_FRESH_AUTO] = u8::from(f.fresh_within_auto_limit);
        let mut n = [None; N_NUM];
        n[N_AMOUNT] = AMOUNT_SCALE_DIGITS
            .checked_sub(f.amount.currency().minor_digits())
            .map(|d| i128::from(f.amount.minor()) * 10i128.pow(d));
        n[N_PAYMENT] = f.seconds_since_payment.map(i128::from);
        n[N_SHIPMENT] = f.seconds_since_shipment.map(i128::from);
        n[N_DELIVERY] = f.seconds_since_delivery.map(i128::from);
        n[N_EVIDENCE_COUNT] = Some(f.evidence_count.into());
        n[N_CLAIMS_90] = Some(f.claims_last_90_days.into());
        n[N_REJECTED_90] = Some(f.rejected_last_90_days.into());
        n[N_REFUND_RATE] = Some(f.refund_rate_percent.into());
        n[N_WITHOUT_RETURN] = Some(f.claims_without_return.into());
        n[N_SAME_REASON] = Some(f.same_reason_last_90_days.into());
        Values { e, n }
    }
}

impl Test {
    #[inline]
    pub(super) fn holds(&self, v: &Values) -> bool {
        match *self {
            Test::Mask { fact, mask } => (mask >> v.e[fact as usize]) & 1 == 1,
            Test::Range { fact, lo, hi } => {
                matches!(v.n[fact as usize], Some(x) if lo <= x && x <= hi)
            }
        }
    }
}

/// Whether a compiled range holds any value a fact can take. Amounts come
/// in whole fen at the finest (the currencies we take have at most 2 minor
/// digits), so a range strictly between two fen is empty.
pub(super) fn range_has_values(fact: usize, r: Option<(i128, i128)>) -> bool {
    let Some((lo, hi)) = r else { return true };
    if fact == N_AMOUNT {
        // The first whole fen at or above `lo`.
        let first = lo.saturating_add((CENT - lo.rem_euclid(CENT)) % CENT);
        first <= hi
    } else {
        lo <= hi
    }
}

#[cfg(test)]
mod tests {
    use super::super::facts::{kind_index, PRODUCT_KINDS};
    use super::*;
    use serde::Serialize;
    use serde_json::Value;

    fn serde_name<T: Serialize>(v: T) -> String {
        match serde_json::to_value(v) {
            Ok(Value::String(s)) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn tables_agree_with_indexes_and_serde_names() {
        for (i, (v, n)) in SPECIAL_KINDS.iter().enumerate() {
            assert_eq!(special_index(*v) as usize, i);
            assert_eq!(serde_name(v), *n);
        }
        for (i, (v, n)) in REASONS.iter().enumerate() {
            assert_eq!(reason_index(*v) as usize, i);
            assert_eq!(serde_name(v), *n);
        }
        for (i, (v, n)) in FULFILMENTS.iter().enumerate() {
            assert_eq!(fulfilment_index(*v) as usize, i);
            assert_eq!(serde_name(v), *n);
        }
        for (i, (v, n)) in PRODUCT_KINDS.iter().enumerate() {
            assert_eq!(kind_index(*v) as usize, i);
            assert_eq!(serde_name(v), *n);
        }
        for (i, (v, n)) in CURRENCIES.iter().enumerate() {
            assert_eq!(currency_index(*v) as usize, i);
            assert_eq!(serde_name(v), *n);
        }
        for (i, (v, n)) in TIERS.iter().enumerate() {
            assert_eq!(tier_index(*v) as usize, i);
            assert_eq!(serde_name(v), *n);
        }
        for (i, (v, n)) in COURIERS.iter().enumerate() {
            assert_eq!(courier_index(Some(*v)) as usize, i + 1);
            assert_eq!(serde_name(v), *n);
        }
        for (name, shape) in FACTS {
            if let Shape::Enum { fact, table } = shape {
                let all = table.values().iter().fold(0, |m, (_, b)| m | b);
                assert_eq!(all, UNIVERSE[*fact], "{name} covers its fact");
            }
        }
        assert_eq!(
            claim_index(ClaimType::SpecialClaim {
                kind: SpecialKind::MissingItem
            }),
            8
        );
        assert_eq!(quality_mask().count_ones(), 6);
    }

    #[test]
    fn amount_ranges_know_the_fen_grid() {
        // gt 5.00 and lt 5.01: nothing in whole fen.
        assert!(!range_has_values(
            N_AMOUNT,
            Some((500 * CENT + 1, 501 * CENT - 1))
        ));
        assert!(range_has_values(N_AMOUNT, Some((500 * CENT, 500 * CENT))));
        assert!(range_has_values(N_SHIPMENT, Some((3, 3))));
    }
}
