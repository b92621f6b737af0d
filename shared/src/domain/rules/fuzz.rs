//! Fuzzing the rule language (see `crate::fuzzing`): rule sets a merchant
//! might send, near-valid and broken, as JSON values and as text. A set
//! that parses must mean the same after a round trip through its JSON, and
//! evaluate without panicking on any claim.

use super::compile::{fact_names, fact_shape, Shape};
use super::facts::PRODUCT_KINDS;
use super::{CourierStatus, Facts, PolicyWindows, ProductKinds, RuleSet, MAX_RULES};
use crate::domain::claim::{ClaimType, ReasonCode, SpecialKind};
use crate::domain::money::{Currency, Money, MAX_MINOR};
use crate::domain::order::{FulfilmentState, MemberTier};
use crate::domain::rejections::Catalogue;
use crate::fuzzing::{self, cases, json_edits, mutations, DEFAULT_CASES};
use proptest::prelude::*;
use serde_json::{json, Value};

const OPS: &[&str] = &[
    "eq", "ne", "in", "not_in", "any_in", "all_in", "none_in", "lt", "lte", "gt", "gte", "between",
    "EQ", "",
];
const DECISIONS: &[&str] = &[
    "approve",
    "reject",
    "manual_review",
    "second_review",
    "request_evidence",
    "fast_refund",
    "fast_exchange",
    "refund",
];
const NAMES: &[&str] = &[
    "version",
    "rules",
    "id",
    "description",
    "when",
    "then",
    "decision",
    "reason",
    "note",
    "amount",
    "eq",
    "between",
];

/// Draws from a list of random numbers, so that one generated vector
/// drives a whole document (and shrinks with it).
struct Draw<'a>(&'a [u32], usize);

impl Draw<'_> {
    fn next(&mut self) -> u32 {
        let v = self
            .0
            .get(self.1 % self.0.len().max(1))
            .copied()
            .unwrap_or(0);
        self.1 += 1;
        v.rotate_left(self.1 as u32 % 32)
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }
    fn pick<'s, T>(&mut self, from: &'s [T]) -> &'s T {
        &from[self.below(from.len())]
    }
    fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 < percent
    }
}

fn facts_list() -> Vec<String> {
    fact_names().split(", ").map(String::from).collect()
}

fn number(d: &mut Draw) -> Value {
    match d.below(8) {
        0 => json!(d.below(100)),
        1 => json!(1_000_000),
        2 => json!(1_000_001),
        3 => json!(-1),
        4 => json!(u64::MAX),
        5 => json!(2.5),
        6 => json!(d.next()),
        _ => json!(0),
    }
}

fn amount(d: &mut Draw) -> Value {
    match d.below(9) {
        0 => json!(format!("{}.{:02}", d.below(100_000), d.below(100))),
        1 => json!(format!("{}", d.below(1000))),
        2 => json!("1000000000000.00"),
        3 => json!("1000000000000.01"),
        4 => json!("0.001"),
        5 => json!("-1.00"),
        6 => json!(12.5),
        7 => json!("9999999999999"),
        _ => json!(format!("{}.{}", d.below(10), d.below(10))),
    }
}

/// A value for one operator of one fact: mostly what its shape takes,
/// sometimes another fact's value.
fn operand(d: &mut Draw, shape: Shape, op: &str) -> Value {
    let scalar = |d: &mut Draw| -> Value {
        match shape {
            Shape::Enum { table, .. } => {
                let values = table.values();
                json!(d.pick(&values).0)
            }
            Shape::Bool { .. } => json!(d.chance(50)),
            Shape::Kinds => json!(d.pick(&PRODUCT_KINDS).1),
            Shape::Count { .. } => number(d),
            Shape::Amount => amount(d),
        }
    };
    if d.chance(10) {
        return fuzzing_value(d);
    }
    match op {
        "in" | "not_in" | "any_in" | "all_in" | "none_in" => {
            let n = d.below(4);
            Value::Array((0..n).map(|_| scalar(d)).collect())
        }
        "between" => {
            if d.chance(80) {
                json!([scalar(d), scalar(d)])
            } else {
                Value::Array((0..d.below(4)).map(|_| scalar(d)).collect())
            }
        }
        _ => scalar(d),
    }
}

fn fuzzing_value(d: &mut Draw) -> Value {
    match d.below(6) {
        0 => Value::Null,
        1 => json!({}),
        2 => json!([]),
        3 => json!("regular"),
        4 => json!(true),
        _ => json!(d.next()),
    }
}

fn condition(d: &mut Draw, facts: &[String]) -> (String, Value) {
    let name = if d.chance(95) {
        d.pick(facts).clone()
    } else {
        "no_such_fact".to_string()
    };
    let Some(shape) = fact_shape(&name) else {
        return (name, json!({"eq": 1}));
    };
    let mut ops = serde_json::Map::new();
    for _ in 0..1 + d.below(2) {
        let op = match shape {
            _ if d.chance(10) => *d.pick(OPS),
            Shape::Enum { .. } => *d.pick(&["eq", "ne", "in", "not_in"]),
            Shape::Bool { .. } => "eq",
            Shape::Kinds => *d.pick(&["any_in", "all_in", "none_in"]),
            Shape::Count { eq, .. } if eq => *d.pick(&["eq", "lt", "lte", "gt", "gte", "between"]),
            Shape::Count { .. } => *d.pick(&["lt", "lte", "gt", "gte", "between"]),
            Shape::Amount => *d.pick(&["eq", "lt", "lte", "gt", "gte", "between"]),
        };
        let v = operand(d, shape, op);
        ops.insert(op.to_string(), v);
    }
    (name, Value::Object(ops))
}

/// A rule set drawn from `seed`: ids, conditions, decisions, mostly valid.
fn document(seed: &[u32], facts: &[String], reasons: &[&str]) -> Value {
    let mut d = Draw(seed, 0);
    let n = d.below(7);
    let rules: Vec<Value> = (0..n)
        .map(|i| {
            let mut when = serde_json::Map::new();
            for _ in 0..d.below(4) {
                let (k, v) = condition(&mut d, facts);
                when.insert(k, v);
            }
            let decision = *d.pick(DECISIONS);
            let mut then = json!({ "decision": decision });
            match decision {
                "reject" => {
                    then["reason"] = if d.chance(85) {
                        json!(d.pick(reasons))
                    } else {
                        json!("NOT_A_REASON")
                    }
                }
                "request_evidence" => {
                    then["note"] = json!(if d.chance(85) {
                        "a photo of the label"
                    } else {
                        ""
                    })
                }
                _ => {}
            }
            let id = match d.below(10) {
                0 => "Bad Id".to_string(),
                1 => "r0".to_string(),
                2 => "x".repeat(65),
                _ => format!("r{i}-{}", d.below(1000)),
            };
            json!({ "id": id, "description": "fuzz", "when": when, "then": then })
        })
        .collect();
    let mut doc = json!({ "rules": rules });
    if d.chance(30) {
        doc["version"] = json!(d.next());
    }
    doc
}

fn facts_from(seed: &[u32]) -> Facts {
    let mut d = Draw(seed, 7);
    let claim_types = [
        ClaimType::RefundOnly,
        ClaimType::ReturnRefund,
        ClaimType::Exchange,
        ClaimType::SpecialClaim {
            kind: SpecialKind::FreshSpoilage,
        },
        ClaimType::SpecialClaim {
            kind: SpecialKind::MissingItem,
        },
    ];
    let reasons = [
        ReasonCode::NoLongerWanted,
        ReasonCode::Damaged,
        ReasonCode::Defective,
        ReasonCode::Other,
    ];
    let seconds = |d: &mut Draw| match d.below(5) {
        0 => None,
        1 => Some(i64::MAX),
        2 => Some(-1),
        3 => Some(i64::MIN),
        _ => Some(i64::from(d.next())),
    };
    let count = |d: &mut Draw| match d.below(3) {
        0 => u32::MAX,
        1 => d.next() % 20,
        _ => 0,
    };
    let mut kinds = ProductKinds::default();
    for _ in 0..d.below(3) {
        kinds.insert(d.pick(&PRODUCT_KINDS).0);
    }
    Facts {
        claim_type: *d.pick(&claim_types),
        reason: *d.pick(&reasons),
        fulfilment: *d.pick(&[
            FulfilmentState::PaidUnshipped,
            FulfilmentState::Shipped,
            FulfilmentState::Delivered,
        ]),
        product_kinds: kinds,
        amount: Money::from_minor(
            *d.pick(&[0, 1, 5_000, MAX_MINOR, -1, i64::MAX]),
            *d.pick(&[Currency::Cny, Currency::Jpy, Currency::Usd]),
        ),
        seconds_since_payment: seconds(&mut d),
        seconds_since_shipment: seconds(&mut d),
        seconds_since_delivery: seconds(&mut d),
        evidence_count: count(&mut d),
        evidence_complete: d.chance(50),
        courier: *d.pick(&[
            None,
            Some(CourierStatus::PickedUp),
            Some(CourierStatus::DeliveredElsewhere),
        ]),
        member_tier: *d.pick(&[MemberTier::Regular, MemberTier::Diamond]),
        claims_last_90_days: count(&mut d),
        rejected_last_90_days: count(&mut d),
        refund_rate_percent: count(&mut d),
        claims_without_return: count(&mut d),
        same_reason_last_90_days: count(&mut d),
        evidence_reused: d.chance(50),
        photo_before_delivery: d.chance(50),
        presale_compensation_due: d.chance(50),
        installed_faulty_within_window: d.chance(50),
        customs_refund_confirmed: d.chance(50),
        fresh_within_auto_limit: d.chance(50),
        windows: PolicyWindows {
            no_reason_return_days: count(&mut d),
            fresh_claim_window_hours: count(&mut d),
            virtual_refund_window_days: count(&mut d),
        },
        voucher_redeemed: d.chance(50),
        voucher_unused: d.chance(50),
        with_bundle_return: d.chance(50),
    }
}

#[derive(Debug, Clone)]
enum Input {
    /// A drawn document, changed structurally.
    Value(Vec<u32>, Vec<fuzzing::JsonEdit>),
    /// Its text, changed byte by byte.
    Text(Vec<u32>, Vec<fuzzing::Mutation>),
    /// Anything at all.
    Bytes(Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    let seed = || prop::collection::vec(any::<u32>(), 1..64);
    prop_oneof![
        4 => seed().prop_map(|s| Input::Value(s, Vec::new())),
        3 => (seed(), json_edits(3, NAMES)).prop_map(|(s, e)| Input::Value(s, e)),
        2 => (seed(), mutations(4)).prop_map(|(s, m)| Input::Text(s, m)),
        1 => fuzzing::bytes().prop_map(Input::Bytes),
    ]
}

#[test]
fn fuzz_rule_sets_parse_or_are_refused_and_round_trip() {
    let catalogue = Catalogue::builtin();
    let reasons: Vec<&str> = Catalogue::builtin_codes().collect();
    let facts = facts_list();
    fuzzing::run("rules/parse", cases(DEFAULT_CASES), input(), |input| {
        let (parsed, seed) = match &input {
            Input::Value(seed, edits) => {
                let doc = fuzzing::edit_json(&document(seed, &facts, &reasons), edits);
                let by_value = RuleSet::parse(&doc, &catalogue);
                // The same document as text reads the same, unless it
                // nests deeper than the JSON reader takes (a syntax error).
                let by_text = RuleSet::parse(doc.to_string().as_str(), &catalogue);
                let too_deep =
                    matches!(&by_text, Err(e) if e[0].message.contains("recursion limit"));
                if !too_deep {
                    // Errors may word a number differently (a float
                    // written out and read back); the verdict may not.
                    prop_assert_eq!(by_text.is_ok(), by_value.is_ok());
                    if let (Ok(a), Ok(b)) = (&by_text, &by_value) {
                        prop_assert_eq!(a, b);
                    }
                }
                (by_value, seed.clone())
            }
            Input::Text(seed, m) => {
                let text = document(seed, &facts, &reasons).to_string();
                let text = fuzzing::mutate_str(&text, m);
                (RuleSet::parse(text.as_str(), &catalogue), seed.clone())
            }
            Input::Bytes(b) => {
                let text = String::from_utf8_lossy(b);
                (RuleSet::parse(&*text, &catalogue), vec![1])
            }
        };
        match parsed {
            Err(errors) => prop_assert!(!errors.is_empty()),
            Ok(set) => {
                prop_assert!(set.rules().len() <= MAX_RULES);
                let again = RuleSet::parse(&serde_json::to_value(&set).unwrap(), &catalogue);
                prop_assert_eq!(again.as_ref(), Ok(&set));
                for salt in 0..4u32 {
                    let s: Vec<u32> = seed.iter().map(|x| x.wrapping_mul(salt + 1)).collect();
                    let f = facts_from(&s);
                    let decision = set.evaluate(&f);
                    if let Some(id) = &decision.rule_id {
                        prop_assert!(set.rules().iter().any(|r| r.id() == id));
                    }
                }
            }
        }
        Ok(())
    });
}
