//! The automatic review rules: a shop's ordered list of "when these facts
//! hold, decide this", evaluated on every new or changed claim.
//!
//! Staff edit a rule set as JSON:
//!
//! ```json
//! {"rules": [
//!   {"id": "unshipped-refund-only",
//!    "description": "Refund only on an unshipped order: nothing left the warehouse",
//!    "when": {"claim_type": {"in": ["refund_only"]}, "fulfilment": {"eq": "paid_unshipped"}},
//!    "then": {"decision": "approve"}},
//!   {"id": "large-amount",
//!    "when": {"amount": {"gt": "500.00"}},
//!    "then": {"decision": "second_review"}}
//! ]}
//! ```
//!
//! The first rule whose conditions all hold decides; when none does, the
//! claim goes to manual review. A missing or empty `when` matches every
//! claim. Each key under `when` names a fact, each value is an object of
//! operators, all of which must hold:
//!
//! | fact | operators | values |
//! | --- | --- | --- |
//! | `claim_type` | eq ne in not_in | refund_only return_refund exchange special_claim |
//! | `special_kind` | eq ne in not_in | none (not a special claim), fresh_spoilage, appliance_repair, cross_border_customs, virtual_unused, pre_sale_compensation, missing_item |
//! | `reason` | eq ne in not_in | the customer's reason code (no_longer_wanted, damaged, ...) |
//! | `quality_issue` | eq | true/false: the reason is the shop's fault (damaged, defective, wrong_item, not_as_described, missing_parts, spoiled) |
//! | `fulfilment` | eq ne in not_in | paid_unshipped shipped delivered |
//! | `product_kinds` | any_in all_in none_in | kinds of the claimed lines: some / every (and at least one) / no line is of these kinds |
//! | `currency` | eq ne in not_in | CNY HKD USD EUR GBP JPY |
//! | `member_tier` | eq ne in not_in | regular silver gold platinum |
//! | `courier` | eq ne in not_in | none (no return tracking yet), picked_up, in_transit, delivered_to_shop, delivered_elsewhere, not_picked_up |
//! | `evidence_complete` | eq | true/false, as judged by evidence verification |
//! | `within_policy_window` | eq | true/false, see [`Facts::within_policy_window`] |
//! | `amount` | eq lt lte gt gte between | decimal strings in the order currency's major unit, e.g. "50.00" |
//! | `hours_since_payment`, `hours_since_shipment`, `hours_since_delivery` | eq lt lte gt gte between | whole hours |
//! | `days_since_payment`, `days_since_shipment`, `days_since_delivery` | lt lte gt gte between | days of 24 hours |
//! | `evidence_count`, `claims_last_90_days`, `rejected_last_90_days` | eq lt lte gt gte between | whole numbers |
//!
//! `between` takes `[low, high]`, both included. A time condition on
//! something that has not happened (no shipment yet) is false. Time is
//! compared to the second: `"hours_since_delivery": {"lte": 24}` holds up to
//! exactly 24 h after delivery and not one second later, `{"gt": 24}` from
//! 24 h 1 s on, and `"days_since_shipment": {"gt": 7}` from 7 × 24 h 1 s on.
//! `{"eq": 24}` on hours means the 25th hour (24 h to 24 h 59 min 59 s);
//! `eq` is not offered for days because "exactly 7 days" is an instant.
//!
//! Amounts are never floats: the decimal string is compared exactly with the
//! claim's amount in minor units (to the fen for CNY), so `{"lte": "50.00"}`
//! approves 50.00 and not 50.01.
//!
//! Outcomes (`then`): `{"decision": "approve"}` (the requested amount),
//! `{"decision": "reject", "reason": "<code in the rejection catalogue>"}`,
//! `{"decision": "manual_review"}`, `{"decision": "second_review"}` (an
//! admin), `{"decision": "request_evidence", "note": "<to the customer>"}`.
//!
//! Parsing checks everything and reports every problem with its path
//! (`rules[3].when.amount: unknown operator "lessthan" ...`), including
//! conditions that can never hold and rules that can never fire because an
//! earlier rule already matches every claim they would match.
//!
//! Conditions are compiled at parse time: every enumerated fact (booleans
//! and the set of product kinds included) becomes a bitmask of the values it
//! accepts, every number an inclusive range, and conditions that read the
//! same underlying fact (`claim_type` and `special_kind`, `reason` and
//! `quality_issue`, hours and days) are merged. Evaluation is then a few
//! mask tests and comparisons per rule, with no allocation, and the same
//! representation makes "rule B can only match what rule A matches" an exact
//! subset test.

use super::claim::{Actor, Claim, ClaimType, ReasonCode, SpecialKind};
use super::money::Currency;
use super::order::{FulfilmentState, MemberTier, Order, ProductKind};
use super::policy::ShopPolicy;
use super::rejections::Catalogue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

// ---------------------------------------------------------------------------
// Facts

/// Where a return parcel is, as the courier reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourierStatus {
    PickedUp,
    InTransit,
    DeliveredToShop,
    DeliveredElsewhere,
    NotPickedUp,
}

/// The kinds of product among a claim's lines: a set of [`ProductKind`].
/// JSON: a list of kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProductKinds(u8);

impl ProductKinds {
    pub const EMPTY: ProductKinds = ProductKinds(0);

    pub fn insert(&mut self, k: ProductKind) {
        self.0 |= 1 << kind_index(k);
    }
    pub fn contains(self, k: ProductKind) -> bool {
        self.0 & (1 << kind_index(k)) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Every kind in the set is `k` (and there is one).
    pub fn only(self, k: ProductKind) -> bool {
        self.0 == 1 << kind_index(k)
    }
    pub fn iter(self) -> impl Iterator<Item = ProductKind> {
        PRODUCT_KINDS
            .into_iter()
            .filter(move |(k, _)| self.contains(*k))
            .map(|(k, _)| k)
    }
}

impl FromIterator<ProductKind> for ProductKinds {
    fn from_iter<I: IntoIterator<Item = ProductKind>>(iter: I) -> Self {
        let mut s = ProductKinds::EMPTY;
        for k in iter {
            s.insert(k);
        }
        s
    }
}

impl Serialize for ProductKinds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ProductKinds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<ProductKind>::deserialize(d)?.into_iter().collect())
    }
}

/// The shop policy's windows, as the rules read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyWindows {
    pub no_reason_return_days: u32,
    pub fresh_claim_window_hours: u32,
    pub virtual_refund_window_days: u32,
}

impl From<&ShopPolicy> for PolicyWindows {
    fn from(p: &ShopPolicy) -> Self {
        PolicyWindows {
            no_reason_return_days: p.no_reason_return_days,
            fresh_claim_window_hours: p.fresh_claim_window_hours,
            virtual_refund_window_days: p.virtual_refund_window_days,
        }
    }
}

/// Everything a rule can look at, computed by the caller (see
/// [`Facts::gather`] for the parts that come from the claim and order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub fulfilment: FulfilmentState,
    pub product_kinds: ProductKinds,
    /// Requested amount in minor units of `currency`.
    pub amount: i64,
    pub currency: Currency,
    /// Whole hours elapsed; None when it has not happened.
    #[serde(default)]
    /// Seconds since the order was paid (its last payment), exact: time
    /// conditions are compared to the second, never in rounded hours.
    pub seconds_since_payment: Option<i64>,
    #[serde(default)]
    pub seconds_since_shipment: Option<i64>,
    #[serde(default)]
    pub seconds_since_delivery: Option<i64>,
    pub evidence_count: u32,
    pub evidence_complete: bool,
    /// The return parcel's status; None when there is no tracking yet.
    #[serde(default)]
    pub courier: Option<CourierStatus>,
    pub member_tier: MemberTier,
    pub claims_last_90_days: u32,
    pub rejected_last_90_days: u32,
    pub windows: PolicyWindows,
}

impl Facts {
    /// The facts that come from the claim, its order and the shop policy at
    /// `now`, with the return parcel's status as the courier last reported
    /// it. Evidence completeness and the customer's history are outside
    /// those: they start as false and zero, for the caller to fill in.
    pub fn gather(claim: &Claim, order: &Order, policy: &ShopPolicy, now: DateTime<Utc>) -> Facts {
        // Whole seconds, floored; a timestamp in the future (clock skew
        // between the storefront and us) counts as just now.
        let since = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_seconds().max(0));
        let f = &order.facts;
        let product_kinds = claim
            .lines
            .iter()
            .filter_map(|l| order.line_index(&l.line_id))
            .map(|i| f.lines[i].kind)
            .collect();
        Facts {
            claim_type: claim.claim_type,
            reason: claim.reason,
            fulfilment: f.fulfilment.state,
            product_kinds,
            amount: claim.requested_amount,
            currency: claim.currency,
            // The order counts as paid when its last payment (a pre-sale's
            // balance) landed.
            seconds_since_payment: since(f.payments.iter().map(|p| p.paid_at).max()),
            seconds_since_shipment: since(f.fulfilment.shipped_at),
            seconds_since_delivery: since(f.fulfilment.delivered_at),
            evidence_count: u32::try_from(claim.evidence.len()).unwrap_or(u32::MAX),
            evidence_complete: false,
            courier: claim
                .returns
                .shipment
                .as_ref()
                .and_then(|s| s.rule_status()),
            member_tier: f.member_tier,
            claims_last_90_days: 0,
            rejected_last_90_days: 0,
            windows: policy.into(),
        }
    }

    fn special_kind(&self) -> Option<SpecialKind> {
        match self.claim_type {
            ClaimType::SpecialClaim { kind } => Some(kind),
            _ => None,
        }
    }

    /// Whether the claim is inside the policy window that applies to it:
    /// - fresh produce (a fresh-spoilage claim, or any fresh line): the
    ///   fresh claim window, in hours after delivery;
    /// - virtual goods (a virtual-unused claim, or only virtual lines): the
    ///   virtual refund window, in days after payment;
    /// - anything else: the no-reason return window, in days after delivery.
    ///
    /// A window whose clock has not started (not delivered yet) is open.
    /// A window of N hours closes exactly N hours after its start: open at
    /// N h − 1 s and at N h itself, closed at N h + 1 s.
    pub fn within_policy_window(&self) -> bool {
        let special = self.special_kind();
        let w = &self.windows;
        let (since, limit) = if special == Some(SpecialKind::FreshSpoilage)
            || self.product_kinds.contains(ProductKind::Fresh)
        {
            (
                self.seconds_since_delivery,
                i64::from(w.fresh_claim_window_hours) * HOUR,
            )
        } else if special == Some(SpecialKind::VirtualUnused)
            || self.product_kinds.only(ProductKind::Virtual)
        {
            (
                self.seconds_since_payment,
                i64::from(w.virtual_refund_window_days) * DAY,
            )
        } else {
            (
                self.seconds_since_delivery,
                i64::from(w.no_reason_return_days) * DAY,
            )
        };
        since.is_none_or(|s| s <= limit)
    }
}

/// Seconds in an hour and a day: time facts are held in seconds.
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

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

const PRODUCT_KINDS: [(ProductKind, &str); 7] = [
    (ProductKind::Physical, "physical"),
    (ProductKind::Fresh, "fresh"),
    (ProductKind::Virtual, "virtual"),
    (ProductKind::Appliance, "appliance"),
    (ProductKind::CrossBorder, "cross_border"),
    (ProductKind::PreSale, "pre_sale"),
    (ProductKind::BundlePart, "bundle_part"),
];
fn kind_index(k: ProductKind) -> u8 {
    match k {
        ProductKind::Physical => 0,
        ProductKind::Fresh => 1,
        ProductKind::Virtual => 2,
        ProductKind::Appliance => 3,
        ProductKind::CrossBorder => 4,
        ProductKind::PreSale => 5,
        ProductKind::BundlePart => 6,
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

const TIERS: [(MemberTier, &str); 4] = [
    (MemberTier::Regular, "regular"),
    (MemberTier::Silver, "silver"),
    (MemberTier::Gold, "gold"),
    (MemberTier::Platinum, "platinum"),
];
fn tier_index(t: MemberTier) -> u8 {
    match t {
        MemberTier::Regular => 0,
        MemberTier::Silver => 1,
        MemberTier::Gold => 2,
        MemberTier::Platinum => 3,
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
const E_KINDS: usize = 3;
const E_CURRENCY: usize = 4;
const E_TIER: usize = 5;
const E_COURIER: usize = 6;
const E_EVIDENCE_COMPLETE: usize = 7;
const E_WINDOW: usize = 8;
const N_ENUM: usize = 9;

const fn low_bits(n: u32) -> u128 {
    if n >= 128 {
        u128::MAX
    } else {
        (1u128 << n) - 1
    }
}

/// Every value each enumerated fact can take. Product kinds are a set of 7
/// kinds, so their values are the 128 subsets.
const UNIVERSE: [u128; N_ENUM] = [
    low_bits(9),
    low_bits(11),
    low_bits(3),
    low_bits(128),
    low_bits(6),
    low_bits(4),
    low_bits(6),
    low_bits(2),
    low_bits(2),
];

const N_AMOUNT: usize = 0;
const N_PAYMENT: usize = 1;
const N_SHIPMENT: usize = 2;
const N_DELIVERY: usize = 3;
const N_EVIDENCE_COUNT: usize = 4;
const N_CLAIMS_90: usize = 5;
const N_REJECTED_90: usize = 6;
const N_NUM: usize = 7;

/// Amounts are compared at 10^-4 of the major unit: rule amounts have at
/// most 2 decimals and every currency at most 4 minor digits, so both sides
/// are whole numbers there and comparisons are exact.
const AMOUNT_SCALE_DIGITS: u32 = 4;
/// One fen (0.01) at the amount scale.
const CENT: i128 = 100;

#[derive(Clone, Copy)]
enum Table {
    ClaimType,
    SpecialKind,
    Reason,
    Fulfilment,
    Currency,
    Tier,
    Courier,
}

fn one_hot<T>(table: &[(T, &'static str)], offset: u32) -> Vec<(&'static str, u128)> {
    table
        .iter()
        .enumerate()
        .map(|(i, (_, n))| (*n, 1u128 << (i as u32 + offset)))
        .collect()
}

impl Table {
    /// Each accepted name and the bits it stands for.
    fn values(self) -> Vec<(&'static str, u128)> {
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
enum Shape {
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
];

fn fact_shape(name: &str) -> Option<Shape> {
    FACTS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

fn fact_names() -> String {
    FACTS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// Outcomes and decisions

/// What a rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", from = "OutcomeDoc")]
pub enum Outcome {
    /// Approve the requested amount.
    Approve,
    /// Reject with a code from the rejection catalogue.
    Reject { reason: String },
    /// A staff member decides.
    ManualReview,
    /// An admin decides.
    SecondReview,
    /// Ask the customer for more evidence; `note` is shown to them.
    RequestEvidence { note: String },
}

/// How an outcome reads from JSON: serde ignores extra fields next to the
/// tag of a unit variant, so the unit variants are empty structs here and
/// an outcome with stray fields is refused.
#[derive(Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
enum OutcomeDoc {
    Approve {},
    Reject { reason: String },
    ManualReview {},
    SecondReview {},
    RequestEvidence { note: String },
}

impl From<OutcomeDoc> for Outcome {
    fn from(d: OutcomeDoc) -> Self {
        match d {
            OutcomeDoc::Approve {} => Outcome::Approve,
            OutcomeDoc::Reject { reason } => Outcome::Reject { reason },
            OutcomeDoc::ManualReview {} => Outcome::ManualReview,
            OutcomeDoc::SecondReview {} => Outcome::SecondReview,
            OutcomeDoc::RequestEvidence { note } => Outcome::RequestEvidence { note },
        }
    }
}

/// The result of evaluating a claim: what to do, and which rule (of which
/// version of the rule set) said so. No rule matching means manual review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub rule_id: Option<String>,
    pub rule_version: u32,
    pub outcome: Outcome,
}

impl Decision {
    /// Who decided, for the claim's timeline.
    pub fn actor(&self) -> Actor {
        match &self.rule_id {
            Some(id) => Actor::Rule {
                rule_id: id.clone(),
                version: self.rule_version,
            },
            None => Actor::System,
        }
    }
}

// ---------------------------------------------------------------------------
// Errors

/// What kind of problem a rule set has, for machines (the message is for
/// people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleErrorKind {
    /// Not JSON at all.
    Syntax,
    /// A value of the wrong JSON type, or a required field missing.
    Shape,
    UnknownField,
    UnknownFact,
    UnknownOperator,
    BadValue,
    BadAmount,
    BadId,
    DuplicateId,
    UnknownReason,
    TooManyRules,
    /// A condition, or a rule's conditions together, can never hold.
    NeverTrue,
    /// An earlier rule already matches every claim this rule would match.
    Unreachable,
}

/// One problem in a rule set, with the path of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// `rules[3].when.amount`; empty for the document as a whole.
    pub path: String,
    /// The rule's id, for problems of a whole rule.
    pub rule_id: Option<String>,
    pub kind: RuleErrorKind,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(id) = &self.rule_id {
            write!(f, " ({id:?})")?;
        }
        if !self.path.is_empty() || self.rule_id.is_some() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

// ---------------------------------------------------------------------------
// Compiled form

/// What one rule accepts, per underlying fact: a mask of accepted values for
/// the enumerated facts (the universe when unconstrained) and an inclusive
/// range for the numbers (None when unconstrained; a number that is absent
/// never lies in a range).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Constraint {
    masks: [u128; N_ENUM],
    ranges: [Option<(i128, i128)>; N_NUM],
}

impl Constraint {
    fn any() -> Constraint {
        Constraint {
            masks: UNIVERSE,
            ranges: [None; N_NUM],
        }
    }

    /// Every claim `self` accepts, `other` accepts too.
    fn within(&self, other: &Constraint) -> bool {
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

    fn tests(&self) -> Vec<Test> {
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
enum Test {
    Mask { fact: u8, mask: u128 },
    Range { fact: u8, lo: i128, hi: i128 },
}

/// The facts of one claim in the compiled form: the bit index of each
/// enumerated fact's value, and each number.
struct Values {
    e: [u8; N_ENUM],
    n: [Option<i128>; N_NUM],
}

impl Values {
    fn of(f: &Facts) -> Values {
        let mut e = [0u8; N_ENUM];
        e[E_CLAIM] = claim_index(f.claim_type);
        e[E_REASON] = reason_index(f.reason);
        e[E_FULFILMENT] = fulfilment_index(f.fulfilment);
        e[E_KINDS] = f.product_kinds.0;
        e[E_CURRENCY] = currency_index(f.currency);
        e[E_TIER] = tier_index(f.member_tier);
        e[E_COURIER] = courier_index(f.courier);
        e[E_EVIDENCE_COMPLETE] = u8::from(f.evidence_complete);
        e[E_WINDOW] = u8::from(f.within_policy_window());
        let mut n = [None; N_NUM];
        n[N_AMOUNT] = AMOUNT_SCALE_DIGITS
            .checked_sub(f.currency.minor_digits())
            .map(|d| i128::from(f.amount) * 10i128.pow(d));
        n[N_PAYMENT] = f.seconds_since_payment.map(i128::from);
        n[N_SHIPMENT] = f.seconds_since_shipment.map(i128::from);
        n[N_DELIVERY] = f.seconds_since_delivery.map(i128::from);
        n[N_EVIDENCE_COUNT] = Some(f.evidence_count.into());
        n[N_CLAIMS_90] = Some(f.claims_last_90_days.into());
        n[N_REJECTED_90] = Some(f.rejected_last_90_days.into());
        Values { e, n }
    }
}

impl Test {
    #[inline]
    fn holds(&self, v: &Values) -> bool {
        match *self {
            Test::Mask { fact, mask } => (mask >> v.e[fact as usize]) & 1 == 1,
            Test::Range { fact, lo, hi } => {
                matches!(v.n[fact as usize], Some(x) if lo <= x && x <= hi)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Rules

/// One validated rule as staff wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    id: String,
    description: String,
    when: Map<String, Value>,
    then: Outcome,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The conditions, as written (validated).
    pub fn when(&self) -> &Map<String, Value> {
        &self.when
    }
    pub fn then(&self) -> &Outcome {
        &self.then
    }
}

/// Most rules in one set.
pub const MAX_RULES: usize = 200;
const MAX_ID_LEN: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_NOTE_CHARS: usize = 500;
/// Largest number a count or time condition may name (about 114 years of
/// hours): far beyond any sensible rule, far from overflow once in hours.
const MAX_COUNT: u64 = 1_000_000;
/// Largest amount a condition may name, in major units.
const MAX_AMOUNT_MAJOR: i128 = 1_000_000_000_000;

/// A shop's validated, compiled rule set. Only [`RuleSet::parse`] and
/// [`RuleSet::from_value`] make one.
///
/// Serialises to the JSON it was parsed from (`{"version": .., "rules": [..]}`);
/// `version` is the storage's: parse accepts it so a rule set read from the
/// API can be sent back unchanged, and the store overwrites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSet {
    pub version: u32,
    rules: Vec<Rule>,
    /// Every rule's tests, back to back; rule `i` owns `tests[spans[i].0..spans[i].1]`.
    #[serde(skip)]
    tests: Vec<Test>,
    #[serde(skip)]
    spans: Vec<(u32, u32)>,
}

impl RuleSet {
    /// A set with no rules: every claim goes to manual review.
    pub fn empty() -> RuleSet {
        RuleSet {
            version: 0,
            rules: Vec::new(),
            tests: Vec::new(),
            spans: Vec::new(),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Parses and validates a rule set from JSON text or an already parsed
    /// JSON value. Reject outcomes must name a code in `catalogue`.
    pub fn parse<D: RuleDocument + ?Sized>(
        doc: &D,
        catalogue: &Catalogue,
    ) -> Result<RuleSet, Vec<RuleError>> {
        match doc.json() {
            Ok(v) => RuleSet::from_value(&v, catalogue),
            Err(e) => Err(vec![RuleError {
                path: String::new(),
                rule_id: None,
                kind: RuleErrorKind::Syntax,
                message: format!("not valid JSON: {e}"),
            }]),
        }
    }

    /// Parses and validates a rule set from a JSON value.
    pub fn from_value(v: &Value, catalogue: &Catalogue) -> Result<RuleSet, Vec<RuleError>> {
        let mut p = Parser {
            errors: Vec::new(),
            catalogue,
        };
        let set = p.document(v);
        match set {
            Some(s) if p.errors.is_empty() => Ok(s),
            _ => Err(p.errors),
        }
    }

    /// The index and rule of the first rule that matches, without
    /// allocating.
    pub fn first_match(&self, facts: &Facts) -> Option<(usize, &Rule)> {
        let v = Values::of(facts);
        self.spans
            .iter()
            .position(|&(a, b)| {
                self.tests[a as usize..b as usize]
                    .iter()
                    .all(|t| t.holds(&v))
            })
            .map(|i| (i, &self.rules[i]))
    }

    /// Decides a claim: the first matching rule's outcome, or manual review
    /// when none matches. Matching allocates nothing; the decision copies
    /// the winning rule's id and outcome so it can outlive the rule set.
    pub fn evaluate(&self, facts: &Facts) -> Decision {
        match self.first_match(facts) {
            Some((_, r)) => Decision {
                rule_id: Some(r.id.clone()),
                rule_version: self.version,
                outcome: r.then.clone(),
            },
            None => Decision {
                rule_id: None,
                rule_version: self.version,
                outcome: Outcome::ManualReview,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing

/// What [`RuleSet::parse`] reads: JSON text (`str`, `String`) or a JSON
/// value, so callers holding either need no conversion.
pub trait RuleDocument {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error>;
}

impl RuleDocument for str {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error> {
        serde_json::from_str(self).map(std::borrow::Cow::Owned)
    }
}

impl RuleDocument for String {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error> {
        self.as_str().json()
    }
}

impl RuleDocument for Value {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error> {
        Ok(std::borrow::Cow::Borrowed(self))
    }
}

struct Parser<'a> {
    errors: Vec<RuleError>,
    catalogue: &'a Catalogue,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `id` names a rule: 1 to 64 of `a-z 0-9 - _`, starting with a
/// letter or digit, so ids read well in URLs, logs and timelines.
fn id_is_well_formed(id: &str) -> bool {
    let b = id.as_bytes();
    (1..=MAX_ID_LEN).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// A decimal amount in major units with at most 2 decimals, at the amount
/// scale. Only plain digits: no sign, exponent or spaces.
fn parse_amount(s: &str) -> Option<i128> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if int.is_empty() || int.len() > 13 || !digits(int) || !digits(frac) || frac.len() > 2 {
        return None;
    }
    if s.ends_with('.') {
        return None;
    }
    let major: i128 = int.parse().ok()?;
    if major > MAX_AMOUNT_MAJOR {
        return None;
    }
    let mut hundredths: i128 = frac.parse().unwrap_or(0);
    if frac.len() == 1 {
        hundredths *= 10;
    }
    Some((major * 100 + hundredths) * CENT)
}

/// A condition's operators folded into one constraint on one fact.
enum Piece {
    Mask(usize, u128),
    Range(usize, i128, i128),
}

impl Parser<'_> {
    fn err(&mut self, path: impl Into<String>, kind: RuleErrorKind, message: impl Into<String>) {
        self.errors.push(RuleError {
            path: path.into(),
            rule_id: None,
            kind,
            message: message.into(),
        });
    }

    fn unknown_fields(&mut self, path: &str, obj: &Map<String, Value>, allowed: &[&str]) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    path,
                    RuleErrorKind::UnknownField,
                    format!("unknown field {k:?} (expected {})", allowed.join(", ")),
                );
            }
        }
    }

    fn document(&mut self, v: &Value) -> Option<RuleSet> {
        let Some(obj) = v.as_object() else {
            self.err(
                "",
                RuleErrorKind::Shape,
                format!(
                    "a rule set is an object {{\"rules\": [...]}}, not {}",
                    json_type(v)
                ),
            );
            return None;
        };
        self.unknown_fields("", obj, &["version", "rules"]);
        let version = match obj.get("version") {
            None => 0,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => n,
                None => {
                    self.err(
                        "version",
                        RuleErrorKind::Shape,
                        "must be a whole number from 0 to 4294967295",
                    );
                    0
                }
            },
        };
        let rules = match obj.get("rules") {
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.err(
                    "rules",
                    RuleErrorKind::Shape,
                    format!("must be an array, not {}", json_type(other)),
                );
                return None;
            }
            None => {
                self.err("rules", RuleErrorKind::Shape, "is required");
                return None;
            }
        };
        if rules.len() > MAX_RULES {
            self.err(
                "rules",
                RuleErrorKind::TooManyRules,
                format!("at most {MAX_RULES} rules (got {})", rules.len()),
            );
            return None;
        }
        let mut parsed: Vec<Option<(Rule, Constraint)>> = Vec::with_capacity(rules.len());
        // Ids as written, so a duplicate is caught even when either rule
        // has other problems.
        let mut ids: Vec<Option<&str>> = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            parsed.push(self.rule(i, r));
            let id = r.get("id").and_then(Value::as_str);
            if let Some(id) = id {
                if let Some(j) = ids.iter().position(|o| *o == Some(id)) {
                    self.err(
                        format!("rules[{i}].id"),
                        RuleErrorKind::DuplicateId,
                        format!("duplicate id {id:?} (also rules[{j}])"),
                    );
                }
            }
            ids.push(id);
        }
        // Only rules that parsed take part: a broken rule has no meaning to
        // compare with, and its own errors are already reported.
        for (j, later) in parsed.iter().enumerate() {
            let Some((lr, lc)) = later else { continue };
            let cover = parsed[..j].iter().enumerate().find_map(|(i, e)| match e {
                Some((er, ec)) if lc.within(ec) => Some((i, er)),
                _ => None,
            });
            if let Some((i, er)) = cover {
                self.errors.push(RuleError {
                    path: format!("rules[{j}]"),
                    rule_id: Some(lr.id.clone()),
                    kind: RuleErrorKind::Unreachable,
                    message: format!(
                        "unreachable: rule {:?} (rules[{i}]) already matches every claim it would match",
                        er.id
                    ),
                });
            }
        }
        if !self.errors.is_empty() {
            return None;
        }
        let mut set = RuleSet::empty();
        set.version = version;
        for (rule, c) in parsed.into_iter().flatten() {
            let start = set.tests.len() as u32;
            set.tests.extend(c.tests());
            set.spans.push((start, set.tests.len() as u32));
            set.rules.push(rule);
        }
        Some(set)
    }

    fn rule(&mut self, i: usize, v: &Value) -> Option<(Rule, Constraint)> {
        let path = format!("rules[{i}]");
        let Some(obj) = v.as_object() else {
            self.err(
                &path,
                RuleErrorKind::Shape,
                format!("a rule is an object, not {}", json_type(v)),
            );
            return None;
        };
        let before = self.errors.len();
        self.unknown_fields(&path, obj, &["id", "description", "when", "then"]);
        let id = match obj.get("id") {
            Some(Value::String(s)) if id_is_well_formed(s) => Some(s.clone()),
            Some(Value::String(s)) => {
                self.err(
                    format!("{path}.id"),
                    RuleErrorKind::BadId,
                    format!("{s:?} is not a valid rule id: 1 to {MAX_ID_LEN} characters, lowercase letters, digits, '-' and '_', starting with a letter or digit"),
                );
                None
            }
            Some(other) => {
                self.err(
                    format!("{path}.id"),
                    RuleErrorKind::Shape,
                    format!("must be a string, not {}", json_type(other)),
                );
                None
            }
            None => {
                self.err(format!("{path}.id"), RuleErrorKind::Shape, "is required");
                None
            }
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.chars().count() <= MAX_DESCRIPTION_CHARS => s.clone(),
            Some(Value::String(_)) => {
                self.err(
                    format!("{path}.description"),
                    RuleErrorKind::BadValue,
                    format!("at most {MAX_DESCRIPTION_CHARS} characters"),
                );
                String::new()
            }
            Some(other) => {
                self.err(
                    format!("{path}.description"),
                    RuleErrorKind::Shape,
                    format!("must be a string, not {}", json_type(other)),
                );
                String::new()
            }
        };
        let empty = Map::new();
        let when = match obj.get("when") {
            None | Some(Value::Null) => Some(&empty),
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.err(
                    format!("{path}.when"),
                    RuleErrorKind::Shape,
                    format!("must be an object of conditions, not {}", json_type(other)),
                );
                None
            }
        };
        let constraint = when.and_then(|w| self.when(&path, w));
        let then = match obj.get("then") {
            Some(t) => self.then(&format!("{path}.then"), t),
            None => {
                self.err(format!("{path}.then"), RuleErrorKind::Shape, "is required");
                None
            }
        };
        if self.errors.len() != before {
            return None;
        }
        Some((
            Rule {
                id: id?,
                description,
                when: when?.clone(),
                then: then?,
            },
            constraint?,
        ))
    }

    fn then(&mut self, path: &str, v: &Value) -> Option<Outcome> {
        let Some(obj) = v.as_object() else {
            self.err(
                path,
                RuleErrorKind::Shape,
                format!(
                    "must be an object such as {{\"decision\": \"approve\"}}, not {}",
                    json_type(v)
                ),
            );
            return None;
        };
        const DECISIONS: &str = "approve, reject, manual_review, second_review, request_evidence";
        let decision = match obj.get("decision") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                self.err(
                    format!("{path}.decision"),
                    RuleErrorKind::Shape,
                    format!("must be a string, not {}", json_type(other)),
                );
                return None;
            }
            None => {
                self.err(
                    format!("{path}.decision"),
                    RuleErrorKind::Shape,
                    format!("is required (one of {DECISIONS})"),
                );
                return None;
            }
        };
        let text = |p: &mut Self, field: &str| -> Option<String> {
            let fpath = format!("{path}.{field}");
            match obj.get(field) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    p.err(
                        fpath,
                        RuleErrorKind::Shape,
                        format!("must be a string, not {}", json_type(other)),
                    );
                    None
                }
                None => {
                    p.err(
                        fpath,
                        RuleErrorKind::Shape,
                        format!("is required for {decision:?}"),
                    );
                    None
                }
            }
        };
        match decision {
            "approve" | "manual_review" | "second_review" => {
                self.unknown_fields(path, obj, &["decision"]);
                Some(match decision {
                    "approve" => Outcome::Approve,
                    "manual_review" => Outcome::ManualReview,
                    _ => Outcome::SecondReview,
                })
            }
            "reject" => {
                self.unknown_fields(path, obj, &["decision", "reason"]);
                let reason = text(self, "reason")?;
                if !self.catalogue.contains(&reason) {
                    self.err(
                        format!("{path}.reason"),
                        RuleErrorKind::UnknownReason,
                        format!("unknown rejection reason {reason:?}: not in the shop's catalogue"),
                    );
                    return None;
                }
                Some(Outcome::Reject { reason })
            }
            "request_evidence" => {
                self.unknown_fields(path, obj, &["decision", "note"]);
                let note = text(self, "note")?;
                let bad = if note.trim().is_empty() {
                    Some("must not be empty: it tells the customer what to add".to_string())
                } else if note.chars().count() > MAX_NOTE_CHARS {
                    Some(format!("at most {MAX_NOTE_CHARS} characters"))
                } else {
                    None
                };
                if let Some(m) = bad {
                    self.err(format!("{path}.note"), RuleErrorKind::BadValue, m);
                    return None;
                }
                Some(Outcome::RequestEvidence { note })
            }
            other => {
                self.err(
                    format!("{path}.decision"),
                    RuleErrorKind::BadValue,
                    format!("unknown decision {other:?} (expected one of {DECISIONS})"),
                );
                None
            }
        }
    }

    /// Compiles a rule's conditions; None when any is wrong.
    fn when(&mut self, rule_path: &str, when: &Map<String, Value>) -> Option<Constraint> {
        let before = self.errors.len();
        let mut c = Constraint::any();
        // Which condition keys narrowed each underlying fact, to name them
        // when together they leave nothing.
        let mut enum_keys: [Vec<&str>; N_ENUM] = Default::default();
        let mut num_keys: [Vec<&str>; N_NUM] = Default::default();
        for (key, ops) in when {
            let Some(shape) = fact_shape(key) else {
                self.err(
                    format!("{rule_path}.when"),
                    RuleErrorKind::UnknownFact,
                    format!("unknown fact {key:?} (known facts: {})", fact_names()),
                );
                continue;
            };
            let path = format!("{rule_path}.when.{key}");
            let Some(piece) = self.condition(&path, shape, ops) else {
                continue;
            };
            match piece {
                Piece::Mask(f, m) => {
                    c.masks[f] &= m;
                    enum_keys[f].push(key);
                }
                Piece::Range(f, lo, hi) => {
                    let (olo, ohi) = c.ranges[f].unwrap_or((i128::MIN, i128::MAX));
                    c.ranges[f] = Some((olo.max(lo), ohi.min(hi)));
                    num_keys[f].push(key);
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let mut empty = Vec::new();
        for (f, keys) in enum_keys.iter().enumerate() {
            if keys.len() > 1 && c.masks[f] == 0 {
                empty.push(keys.join(" and "));
            }
        }
        for (f, keys) in num_keys.iter().enumerate() {
            if keys.len() > 1 && !range_has_values(f, c.ranges[f]) {
                empty.push(keys.join(" and "));
            }
        }
        if !empty.is_empty() {
            self.err(
                format!("{rule_path}.when"),
                RuleErrorKind::NeverTrue,
                format!(
                    "no claim can meet these conditions together: {}",
                    empty.join("; ")
                ),
            );
            return None;
        }
        Some(c)
    }

    /// One fact's operator object, folded into one piece.
    fn condition(&mut self, path: &str, shape: Shape, ops: &Value) -> Option<Piece> {
        let Some(obj) = ops.as_object() else {
            self.err(
                path,
                RuleErrorKind::Shape,
                format!(
                    "must be an object of operators such as {{\"eq\": ...}}, not {}",
                    json_type(ops)
                ),
            );
            return None;
        };
        if obj.is_empty() {
            self.err(path, RuleErrorKind::Shape, "names no operator");
            return None;
        }
        let before = self.errors.len();
        let piece = match shape {
            Shape::Enum { fact, table } => {
                let values = table.values();
                let all = UNIVERSE[fact];
                let mut mask = all;
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let m = match op.as_str() {
                        "eq" => self.enum_value(&opath, &values, arg),
                        "ne" => self.enum_value(&opath, &values, arg).map(|m| all & !m),
                        "in" => self.enum_list(&opath, &values, arg),
                        "not_in" => self.enum_list(&opath, &values, arg).map(|m| all & !m),
                        _ => {
                            self.unknown_op(path, op, "eq, ne, in, not_in");
                            None
                        }
                    };
                    mask &= m.unwrap_or(all);
                }
                Piece::Mask(fact, mask)
            }
            Shape::Bool { fact, true_mask } => {
                let t = true_mask();
                let mut mask = UNIVERSE[fact];
                for (op, arg) in obj {
                    if op != "eq" {
                        self.unknown_op(path, op, "eq");
                        continue;
                    }
                    match arg {
                        Value::Bool(true) => mask &= t,
                        Value::Bool(false) => mask &= UNIVERSE[fact] & !t,
                        other => self.err(
                            format!("{path}.eq"),
                            RuleErrorKind::BadValue,
                            format!("must be true or false, not {}", json_type(other)),
                        ),
                    }
                }
                Piece::Mask(fact, mask)
            }
            Shape::Kinds => {
                let values = one_hot(&PRODUCT_KINDS, 0);
                let mut mask = UNIVERSE[E_KINDS];
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let pred: fn(u128, u128) -> bool = match op.as_str() {
                        "any_in" => |set, m| set & m != 0,
                        "all_in" => |set, m| set != 0 && set & !m == 0,
                        "none_in" => |set, m| set & m == 0,
                        _ => {
                            self.unknown_op(path, op, "any_in, all_in, none_in");
                            continue;
                        }
                    };
                    let Some(m) = self.enum_list(&opath, &values, arg) else {
                        continue;
                    };
                    mask &= (0..128u32)
                        .filter(|&set| pred(u128::from(set), m))
                        .fold(0u128, |acc, set| acc | 1 << set);
                }
                Piece::Mask(E_KINDS, mask)
            }
            Shape::Count { fact, unit, eq } => {
                let (mut lo, mut hi) = (i128::MIN, i128::MAX);
                let ops = if eq {
                    "eq, lt, lte, gt, gte, between"
                } else {
                    "lt, lte, gt, gte, between"
                };
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let num = |p: &mut Self, at: &str, v: &Value| -> Option<i128> {
                        match v.as_u64() {
                            Some(n) if n <= MAX_COUNT => Some(i128::from(n) * unit),
                            _ => {
                                p.err(
                                    at,
                                    RuleErrorKind::BadValue,
                                    format!(
                                        "must be a whole number from 0 to {MAX_COUNT}, not {v}"
                                    ),
                                );
                                None
                            }
                        }
                    };
                    let r = self.bounds(&opath, op, arg, num, eq.then_some(unit));
                    match r {
                        Bound::Range(l, h) => {
                            lo = lo.max(l);
                            hi = hi.min(h);
                        }
                        Bound::Failed => {}
                        Bound::UnknownOp => self.unknown_op(path, op, ops),
                    }
                }
                Piece::Range(fact, lo, hi)
            }
            Shape::Amount => {
                let (mut lo, mut hi) = (i128::MIN, i128::MAX);
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let num = |p: &mut Self, at: &str, v: &Value| -> Option<i128> {
                        match v {
                            Value::String(s) => match parse_amount(s) {
                                Some(a) => Some(a),
                                None => {
                                    p.err(
                                        at,
                                        RuleErrorKind::BadAmount,
                                        format!("{s:?} is not an amount: digits with at most 2 decimals, such as \"50.00\", at most {MAX_AMOUNT_MAJOR}"),
                                    );
                                    None
                                }
                            },
                            other => {
                                p.err(
                                    at,
                                    RuleErrorKind::BadAmount,
                                    format!(
                                        "amounts are decimal strings such as \"50.00\", not {}",
                                        json_type(other)
                                    ),
                                );
                                None
                            }
                        }
                    };
                    match self.bounds(&opath, op, arg, num, Some(1)) {
                        Bound::Range(l, h) => {
                            lo = lo.max(l);
                            hi = hi.min(h);
                        }
                        Bound::Failed => {}
                        Bound::UnknownOp => {
                            self.unknown_op(path, op, "eq, lt, lte, gt, gte, between")
                        }
                    }
                }
                Piece::Range(N_AMOUNT, lo, hi)
            }
        };
        if self.errors.len() != before {
            return None;
        }
        let holds = match piece {
            Piece::Mask(_, m) => m != 0,
            Piece::Range(f, lo, hi) => range_has_values(f, Some((lo, hi))),
        };
        if !holds {
            self.err(
                path,
                RuleErrorKind::NeverTrue,
                "can never hold: no value satisfies all its operators",
            );
            return None;
        }
        Some(piece)
    }

    fn unknown_op(&mut self, path: &str, op: &str, known: &str) {
        self.err(
            path,
            RuleErrorKind::UnknownOperator,
            format!("unknown operator {op:?} (this fact takes {known})"),
        );
    }

    /// A numeric operator as an inclusive range on the compiled scale.
    fn bounds(
        &mut self,
        path: &str,
        op: &str,
        arg: &Value,
        num: impl Fn(&mut Self, &str, &Value) -> Option<i128>,
        // `eq` is allowed, matching this many compiled units (a whole hour
        // of seconds for `hours_since_* eq 24`: the 25th hour).
        eq_width: Option<i128>,
    ) -> Bound {
        let one = |p: &mut Self| num(p, path, arg);
        // Compiled values are whole numbers, so strict bounds move by one.
        let r = match op {
            "eq" if eq_width.is_some() => {
                let w = eq_width.unwrap_or(1);
                one(self).map(|x| (x, x + w - 1))
            }
            "lt" => one(self).map(|x| (i128::MIN, x - 1)),
            "lte" => one(self).map(|x| (i128::MIN, x)),
            "gt" => one(self).map(|x| (x + 1, i128::MAX)),
            "gte" => one(self).map(|x| (x, i128::MAX)),
            "between" => match arg.as_array().map(Vec::as_slice) {
                Some([a, b]) => {
                    let a = num(self, &format!("{path}[0]"), a);
                    let b = num(self, &format!("{path}[1]"), b);
                    match (a, b) {
                        (Some(a), Some(b)) if a <= b => Some((a, b)),
                        (Some(_), Some(_)) => {
                            self.err(
                                path,
                                RuleErrorKind::BadValue,
                                "the low bound is above the high bound",
                            );
                            None
                        }
                        _ => None,
                    }
                }
                _ => {
                    self.err(
                        path,
                        RuleErrorKind::Shape,
                        format!("must be [low, high], not {arg}"),
                    );
                    None
                }
            },
            _ => return Bound::UnknownOp,
        };
        match r {
            Some((lo, hi)) => Bound::Range(lo, hi),
            None => Bound::Failed,
        }
    }

    fn enum_value(
        &mut self,
        path: &str,
        values: &[(&'static str, u128)],
        v: &Value,
    ) -> Option<u128> {
        let Some(s) = v.as_str() else {
            self.err(
                path,
                RuleErrorKind::BadValue,
                format!("must be a string, not {}", json_type(v)),
            );
            return None;
        };
        match values.iter().find(|(n, _)| *n == s) {
            Some((_, m)) => Some(*m),
            None => {
                let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                self.err(
                    path,
                    RuleErrorKind::BadValue,
                    format!("unknown value {s:?} (expected one of {})", names.join(", ")),
                );
                None
            }
        }
    }

    fn enum_list(
        &mut self,
        path: &str,
        values: &[(&'static str, u128)],
        v: &Value,
    ) -> Option<u128> {
        let Some(items) = v.as_array() else {
            self.err(
                path,
                RuleErrorKind::Shape,
                format!("must be a list of values, not {}", json_type(v)),
            );
            return None;
        };
        if items.is_empty() {
            self.err(path, RuleErrorKind::BadValue, "needs at least one value");
            return None;
        }
        let mut mask = 0;
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            if items[..i].contains(item) {
                self.err(
                    ipath,
                    RuleErrorKind::BadValue,
                    format!("{item} is listed twice"),
                );
                ok = false;
                continue;
            }
            match self.enum_value(&ipath, values, item) {
                Some(m) => mask |= m,
                None => ok = false,
            }
        }
        ok.then_some(mask)
    }
}

enum Bound {
    Range(i128, i128),
    Failed,
    UnknownOp,
}

/// Whether a compiled range holds any value a fact can take. Amounts come
/// in whole fen at the finest (the currencies we take have at most 2 minor
/// digits), so a range strictly between two fen is empty.
fn range_has_values(fact: usize, r: Option<(i128, i128)>) -> bool {
    let Some((lo, hi)) = r else { return true };
    if fact == N_AMOUNT {
        // The first whole fen at or above `lo`.
        let first = lo.saturating_add((CENT - lo.rem_euclid(CENT)) % CENT);
        first <= hi
    } else {
        lo <= hi
    }
}

// ---------------------------------------------------------------------------
// The default set

/// The rules a new shop starts with (the seed article's examples and a few
/// more), in the order they are tried:
/// 1. Refund only on an unshipped order approves, whatever the amount:
///    nothing left the warehouse, so nothing can be lost but the sale.
/// 2. More than 500.00 goes to an admin's second review.
/// 3. A return asked for more than 7 days after shipment goes to a person.
/// 4. An unused virtual coupon inside the virtual refund window approves.
/// 5. Fresh spoilage reported after the fresh claim window is rejected with
///    the published reason; inside the window but without complete photos,
///    the customer is asked for them (bad fruit and the waybill).
/// 6. Refund only and return-and-refund of at most 50.00 inside the policy
///    window approve. Exchanges are left out (they move no money, so every
///    exchange would count as "at most 50.00") and so are special claims,
///    which have their own checks above.
/// 7. A quality complaint without any photo asks for one.
///
/// Everything else goes to manual review.
pub fn default_rules() -> RuleSet {
    RuleSet::parse(DEFAULT_RULES, &Catalogue::builtin())
        .expect("the default rules validate (tested)")
}

const DEFAULT_RULES: &str = r#"{"rules": [
  {"id": "unshipped-refund-only",
   "description": "未发货订单申请仅退款,自动通过 (refund only on an unshipped order)",
   "when": {"claim_type": {"in": ["refund_only"]}, "fulfilment": {"eq": "paid_unshipped"}},
   "then": {"decision": "approve"}},
  {"id": "large-amount-second-review",
   "description": "退款超过 500 元需管理员二次审核 (over 500.00: an admin decides)",
   "when": {"amount": {"gt": "500.00"}},
   "then": {"decision": "second_review"}},
  {"id": "late-return-manual",
   "description": "已发货超 7 天申请退货,需人工审核 (return asked for more than 7 days after shipment)",
   "when": {"claim_type": {"in": ["return_refund"]}, "days_since_shipment": {"gt": 7}},
   "then": {"decision": "manual_review"}},
  {"id": "virtual-unused-refund",
   "description": "虚拟商品未使用,在退款期限内申请退款自动通过 (unused virtual goods inside the window)",
   "when": {"special_kind": {"eq": "virtual_unused"}, "within_policy_window": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "fresh-spoilage-late",
   "description": "生鲜坏果超出理赔时限 (fresh spoilage reported after the claim window)",
   "when": {"special_kind": {"eq": "fresh_spoilage"}, "within_policy_window": {"eq": false}},
   "then": {"decision": "reject", "reason": "fresh_window_passed"}},
  {"id": "fresh-spoilage-evidence",
   "description": "生鲜坏果理赔需审核凭证 (fresh spoilage needs photos first)",
   "when": {"special_kind": {"eq": "fresh_spoilage"}, "evidence_complete": {"eq": false}},
   "then": {"decision": "request_evidence", "note": "请上传坏果照片及快递面单照片,以便我们尽快为您理赔。"}},
  {"id": "small-refund",
   "description": "单笔退款金额不超过 50 元,自动通过 (at most 50.00 inside the policy window)",
   "when": {"claim_type": {"in": ["refund_only", "return_refund"]}, "amount": {"lte": "50.00"},
            "within_policy_window": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "quality-issue-evidence",
   "description": "质量问题未上传凭证,请用户补充 (quality complaint without photos)",
   "when": {"quality_issue": {"eq": true}, "evidence_count": {"eq": 0}},
   "then": {"decision": "request_evidence", "note": "请上传能清楚显示商品问题的照片或视频,以便我们尽快处理。"}}
]}"#;

#[cfg(test)]
mod tests {
    use super::*;

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
    fn amounts_parse_exactly() {
        assert_eq!(parse_amount("50.00"), Some(5000 * CENT));
        assert_eq!(parse_amount("50.1"), Some(5010 * CENT));
        assert_eq!(parse_amount("50"), Some(5000 * CENT));
        assert_eq!(parse_amount("0.01"), Some(CENT));
        for bad in [
            "", ".5", "5.", "5.001", "-1", "+1", "1e3", " 1", "1,00", "abc",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
        assert_eq!(parse_amount("99999999999999"), None);
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
