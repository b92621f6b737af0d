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
//! | `member_tier` | eq ne in not_in | regular silver gold platinum diamond |
//! | `courier` | eq ne in not_in | none (no return tracking yet), picked_up, in_transit, delivered_to_shop, delivered_elsewhere, not_picked_up |
//! | `evidence_complete` | eq | true/false, as judged by evidence verification |
//! | `within_policy_window` | eq | true/false, see [`Facts::within_policy_window`] |
//! | `amount` | eq lt lte gt gte between | decimal strings in the order currency's major unit, e.g. "50.00" |
//! | `hours_since_payment`, `hours_since_shipment`, `hours_since_delivery` | eq lt lte gt gte between | whole hours |
//! | `days_since_payment`, `days_since_shipment`, `days_since_delivery` | lt lte gt gte between | days of 24 hours |
//! | `evidence_count`, `claims_last_90_days`, `rejected_last_90_days` | eq lt lte gt gte between | whole numbers |
//! | `refund_rate_percent` | eq lt lte gt gte between | whole percent of the customer's orders refunded by a claim (of their paid orders as the order says, or the orders they claimed on) |
//! | `claims_without_return`, `same_reason_last_90_days` | eq lt lte gt gte between | recent refund-only claims paid on goods that had shipped; recent claims with this claim's reason |
//! | `evidence_reused` | eq | true/false: a photo of the claim is on another claim of the shop (the same photo by its perceptual hash, even resized or recompressed) |
//! | `presale_compensation_due` | eq | true/false: a pre-sale order's balance was paid and nothing shipped for the policy's `presale.compensate_after_days` |
//! | `voucher_redeemed`, `voucher_unused` | eq | true/false: a code the claim gives back was redeemed (the issuer's answer or the storefront's report); every code is known unused |
//! | `with_bundle_return` | eq | true/false: the claim is a bundle's virtual part, filed with the return of the bundle's goods |
//! | `installed_faulty_within_window` | eq | true/false: every claimed line was installed (the installer's records on the claim) and the claim came within the policy's `appliance.fault_window_days` of it |
//! | `customs_refund_confirmed` | eq | true/false: the clearance port reported a cross-border claim's clearance failed or its parcel back with the seller |
//! | `fresh_within_auto_limit` | eq | true/false: a fresh-spoilage claim asking at most the policy's `fresh.auto_approve_max` |
//! | `photo_before_delivery` | eq | true/false: a photo's EXIF capture time is before the order's delivery for certain |
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
//! admin), `{"decision": "request_evidence", "note": "<to the customer>"}`,
//! `{"decision": "fast_refund"}` (approve; a return's money goes back as
//! soon as the courier has the parcel), `{"decision": "fast_exchange"}`
//! (approve an exchange; its replacement may ship once the return parcel
//! moves).
//!
//! Rules run when a claim is filed and again whenever its facts change
//! later (courier news on the return parcel, the goods received, new
//! evidence); what an outcome does then depends on where the claim is, see
//! [`crate::domain::fast_track`]. A rule such as
//! `{"member_tier": {"in": ["gold", "platinum", "diamond"]}, "courier": {"in": ["picked_up", "in_transit"]}}`
//! → `fast_refund` refunds a trusted customer on the courier's pickup scan.
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
//!
//! Each part holds one idea so it can be read alone: `facts` (what a rule
//! looks at), `parse` (the JSON language and its errors), `compile` (the
//! masks and ranges above), `defaults` (the set a new shop starts with).
//! Callers use only this module's paths, so the parts can move freely.

mod compile;
mod defaults;
mod facts;
#[cfg(test)]
mod fuzz;
mod parse;
mod replay;

// The courier's news belongs to tracking; rules name it as one of their facts.
pub use crate::domain::tracking::CourierStatus;
pub use defaults::default_rules;
pub use facts::{evidence_complete, Facts, History, PastClaim, PolicyWindows, ProductKinds};
pub use parse::{RuleDocument, RuleError, RuleErrorKind, MAX_RULES};
pub use replay::{recorded_decision, replay, SeenDecision};

use crate::domain::claim::Actor;
use crate::domain::rejections::Catalogue;
use compile::{Test, Values};
use parse::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Approve a refund, and for a return send the money as soon as the
    /// courier has the parcel (see [`crate::domain::fast_track`]).
    FastRefund,
    /// Approve an exchange whose replacement may ship once the return
    /// parcel is moving.
    FastExchange,
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
    FastRefund {},
    FastExchange {},
}

impl From<OutcomeDoc> for Outcome {
    fn from(d: OutcomeDoc) -> Self {
        match d {
            OutcomeDoc::Approve {} => Outcome::Approve,
            OutcomeDoc::Reject { reason } => Outcome::Reject { reason },
            OutcomeDoc::ManualReview {} => Outcome::ManualReview,
            OutcomeDoc::SecondReview {} => Outcome::SecondReview,
            OutcomeDoc::RequestEvidence { note } => Outcome::RequestEvidence { note },
            OutcomeDoc::FastRefund {} => Outcome::FastRefund,
            OutcomeDoc::FastExchange {} => Outcome::FastExchange,
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
