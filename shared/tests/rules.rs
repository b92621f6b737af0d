//! The review rule engine: the JSON language, its validation (paths,
//! unreachable rules), evaluation of every fact and operator, the default
//! set, and the rejection catalogue.

use aftersales::domain::claim::{ClaimType, ReasonCode, SpecialKind};
use aftersales::domain::money::{Currency, Money};
use aftersales::domain::order::{FulfilmentState, Language, MemberTier, ProductKind};
use aftersales::domain::rejections::{Catalogue, RejectionReason};
use aftersales::domain::rules::{
    default_rules, CourierStatus, Decision, Facts, Outcome, PolicyWindows, ProductKinds,
    RuleErrorKind, RuleSet,
};
use serde_json::{json, Value};

/// A delivered 100.00 CNY refund-only claim of a physical item, no evidence.
fn facts() -> Facts {
    Facts {
        claim_type: ClaimType::RefundOnly,
        reason: ReasonCode::NoLongerWanted,
        fulfilment: FulfilmentState::Delivered,
        product_kinds: [ProductKind::Physical].into_iter().collect(),
        amount: Money::from_minor(10_000, Currency::Cny),
        seconds_since_payment: Some(72 * 3600),
        seconds_since_shipment: Some(48 * 3600),
        seconds_since_delivery: Some(24 * 3600),
        evidence_count: 0,
        evidence_complete: false,
        courier: None,
        member_tier: MemberTier::Regular,
        claims_last_90_days: 0,
        rejected_last_90_days: 0,
        refund_rate_percent: 0,
        claims_without_return: 0,
        same_reason_last_90_days: 0,
        evidence_reused: false,
        photo_before_delivery: false,
        presale_compensation_due: false,
        installed_faulty_within_window: false,
        customs_refund_confirmed: false,
        fresh_within_auto_limit: false,
        windows: PolicyWindows {
            no_reason_return_days: 7,
            fresh_claim_window_hours: 24,
            virtual_refund_window_days: 7,
        },
        voucher_redeemed: false,
        voucher_unused: false,
        with_bundle_return: false,
    }
}

fn builtin() -> Catalogue {
    Catalogue::builtin()
}

fn parse(doc: Value) -> RuleSet {
    RuleSet::parse(&doc, &builtin()).unwrap_or_else(|e| panic!("{doc}: {e:?}"))
}

/// A set of one approving rule with these conditions.
fn one(when: Value) -> RuleSet {
    parse(json!({"rules": [{"id": "r", "when": when, "then": {"decision": "approve"}}]}))
}

fn hits(when: Value, f: &Facts) -> bool {
    one(when).evaluate(f).rule_id.is_some()
}

/// Asserts a condition holds for `yes` and not for `no`.
fn splits(when: Value, yes: &Facts, no: &Facts) {
    let set = one(when.clone());
    assert!(set.evaluate(yes).rule_id.is_some(), "{when} should hold");
    assert!(set.evaluate(no).rule_id.is_none(), "{when} should not hold");
}

fn errors(doc: Value) -> Vec<String> {
    match RuleSet::parse(&doc, &builtin()) {
        Ok(_) => panic!("{doc} should not parse"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

/// The errors of a one-rule set with these conditions.
fn when_errors(when: Value) -> Vec<String> {
    errors(json!({"rules": [{"id": "r", "when": when, "then": {"decision": "approve"}}]}))
}

fn with(f: impl FnOnce(&mut Facts)) -> Facts {
    let mut x = facts();
    f(&mut x);
    x
}

// ------------------------------------------------------------------ parsing

#[test]
fn the_documented_example_parses() {
    let set = parse(json!({"rules": [
        {"id": "unshipped-refund", "description": "refund only before shipping",
         "when": {"claim_type": {"in": ["refund_only"]}, "fulfilment": {"eq": "paid_unshipped"},
                  "amount": {"lte": "50.00"}},
         "then": {"decision": "approve"}}
    ]}));
    assert_eq!(set.version, 0);
    assert_eq!(set.rules().len(), 1);
    assert_eq!(set.rules()[0].id(), "unshipped-refund");
    assert_eq!(set.rules()[0].description(), "refund only before shipping");
    assert_eq!(set.rules()[0].then(), &Outcome::Approve);
    // Text parses the same as a value.
    let text = r#"{"rules": [{"id": "a", "then": {"decision": "manual_review"}}]}"#;
    assert_eq!(
        RuleSet::parse(text, &builtin()).unwrap(),
        parse(serde_json::from_str(text).unwrap())
    );
}

#[test]
fn an_empty_rule_list_is_allowed_and_sends_everything_to_a_person() {
    let set = parse(json!({"rules": []}));
    let d = set.evaluate(&facts());
    assert_eq!(
        d,
        Decision {
            rule_id: None,
            rule_version: 0,
            outcome: Outcome::ManualReview
        }
    );
}

#[test]
fn errors_name_the_path_and_the_problem() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"amount": {"lessthan": "50.00"}}),
            r#"rules[0].when.amount: unknown operator "lessthan" (this fact takes eq, lt, lte, gt, gte, between)"#,
        ),
        (
            json!({"claim_type": {"in": ["refund_only", "refund"]}}),
            r#"rules[0].when.claim_type.in[1]: unknown value "refund" (expected one of refund_only, return_refund, exchange, special_claim)"#,
        ),
        (
            json!({"claim_type": {"lt": "refund_only"}}),
            r#"rules[0].when.claim_type: unknown operator "lt" (this fact takes eq, ne, in, not_in)"#,
        ),
        (
            json!({"amount": {"lte": "50.001"}}),
            r#"rules[0].when.amount.lte: "50.001" is not an amount: digits with at most 2 decimals, such as "50.00", at most 1000000000000"#,
        ),
        (
            json!({"amount": {"lte": 50}}),
            r#"rules[0].when.amount.lte: amounts are decimal strings such as "50.00", not a number"#,
        ),
        (
            json!({"amount": {"gt": "-1"}}),
            r#"rules[0].when.amount.gt: "-1" is not an amount: digits with at most 2 decimals, such as "50.00", at most 1000000000000"#,
        ),
        (
            json!({"amount": {"between": ["10.00"]}}),
            r#"rules[0].when.amount.between: must be [low, high], not ["10.00"]"#,
        ),
        (
            json!({"amount": {"between": ["20.00", "10.00"]}}),
            "rules[0].when.amount.between: the low bound is above the high bound",
        ),
        (
            json!({"amount": {"between": ["1.00", "x"]}}),
            r#"rules[0].when.amount.between[1]: "x" is not an amount: digits with at most 2 decimals, such as "50.00", at most 1000000000000"#,
        ),
        (
            json!({"hours_since_shipment": {"gt": -1}}),
            "rules[0].when.hours_since_shipment.gt: must be a whole number from 0 to 1000000, not -1",
        ),
        (
            json!({"evidence_count": {"gte": 1.5}}),
            "rules[0].when.evidence_count.gte: must be a whole number from 0 to 1000000, not 1.5",
        ),
        (
            json!({"days_since_shipment": {"eq": 7}}),
            r#"rules[0].when.days_since_shipment: unknown operator "eq" (this fact takes lt, lte, gt, gte, between)"#,
        ),
        (
            json!({"evidence_complete": {"eq": "yes"}}),
            "rules[0].when.evidence_complete.eq: must be true or false, not a string",
        ),
        (
            json!({"evidence_complete": {"ne": true}}),
            r#"rules[0].when.evidence_complete: unknown operator "ne" (this fact takes eq)"#,
        ),
        (
            json!({"product_kinds": {"in": ["fresh"]}}),
            r#"rules[0].when.product_kinds: unknown operator "in" (this fact takes any_in, all_in, none_in)"#,
        ),
        (
            json!({"product_kinds": {"any_in": ["fruit"]}}),
            r#"rules[0].when.product_kinds.any_in[0]: unknown value "fruit" (expected one of physical, fresh, virtual, appliance, cross_border, pre_sale, bundle_part)"#,
        ),
        (
            json!({"member_tier": {"in": []}}),
            "rules[0].when.member_tier.in: needs at least one value",
        ),
        (
            json!({"member_tier": {"in": ["gold", "gold"]}}),
            r#"rules[0].when.member_tier.in[1]: "gold" is listed twice"#,
        ),
        (
            json!({"member_tier": {"in": "gold"}}),
            "rules[0].when.member_tier.in: must be a list of values, not a string",
        ),
        (
            json!({"member_tier": "gold"}),
            r#"rules[0].when.member_tier: must be an object of operators such as {"eq": ...}, not a string"#,
        ),
        (
            json!({"member_tier": {}}),
            "rules[0].when.member_tier: names no operator",
        ),
        (
            json!({"reason": {"eq": "damaged", "ne": "damaged"}}),
            "rules[0].when.reason: can never hold: no value satisfies all its operators",
        ),
        (
            json!({"courier": {"not_in": ["none", "picked_up", "in_transit", "delivered_to_shop",
                                           "delivered_elsewhere", "not_picked_up"]}}),
            "rules[0].when.courier: can never hold: no value satisfies all its operators",
        ),
        (
            json!({"amount": {"gt": "5.00", "lt": "5.01"}}),
            "rules[0].when.amount: can never hold: no value satisfies all its operators",
        ),
        (
            json!({"claim_type": {"eq": "refund_only"}, "special_kind": {"eq": "fresh_spoilage"}}),
            "rules[0].when: no claim can meet these conditions together: claim_type and special_kind",
        ),
        (
            json!({"hours_since_delivery": {"lt": 24}, "days_since_delivery": {"gt": 2}}),
            "rules[0].when: no claim can meet these conditions together: days_since_delivery and hours_since_delivery",
        ),
        (
            json!({"reason": {"eq": "wrong_size"}, "quality_issue": {"eq": true}}),
            "rules[0].when: no claim can meet these conditions together: quality_issue and reason",
        ),
    ];
    for (when, want) in cases {
        let got = when_errors(when.clone());
        assert_eq!(got, vec![want.to_string()], "for {when}");
    }
    let unknown = when_errors(json!({"colour": {"eq": "red"}}));
    assert_eq!(unknown.len(), 1);
    assert!(
        unknown[0].starts_with(r#"rules[0].when: unknown fact "colour" (known facts: claim_type, special_kind, reason, quality_issue,"#),
        "{}",
        unknown[0]
    );
    assert!(
        unknown[0].ends_with(
            "presale_compensation_due, voucher_redeemed, voucher_unused, with_bundle_return, installed_faulty_within_window, customs_refund_confirmed, fresh_within_auto_limit)"
        ),
        "{}",
        unknown[0]
    );
}

#[test]
fn rule_and_document_shape_errors() {
    let approve = json!({"decision": "approve"});
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), r#"a rule set is an object {"rules": [...]}, not an array"#),
        (json!({}), "rules: is required"),
        (json!({"rules": {}}), "rules: must be an array, not an object"),
        (
            json!({"rules": [], "rule": []}),
            r#"unknown field "rule" (expected version, rules)"#,
        ),
        (
            json!({"rules": [], "version": -1}),
            "version: must be a whole number from 0 to 4294967295",
        ),
        (json!({"rules": [1]}), "rules[0]: a rule is an object, not a number"),
        (
            json!({"rules": [{"id": "a", "whenn": {}, "then": approve}]}),
            r#"rules[0]: unknown field "whenn" (expected id, description, when, then)"#,
        ),
        (
            json!({"rules": [{"then": approve}]}),
            "rules[0].id: is required",
        ),
        (
            json!({"rules": [{"id": 7, "then": approve}]}),
            "rules[0].id: must be a string, not a number",
        ),
        (
            json!({"rules": [{"id": "Big Rule", "then": approve}]}),
            r#"rules[0].id: "Big Rule" is not a valid rule id: 1 to 64 characters, lowercase letters, digits, '-' and '_', starting with a letter or digit"#,
        ),
        (
            json!({"rules": [{"id": "-a", "then": approve}]}),
            r#"rules[0].id: "-a" is not a valid rule id: 1 to 64 characters, lowercase letters, digits, '-' and '_', starting with a letter or digit"#,
        ),
        (
            json!({"rules": [{"id": "a", "description": 3, "then": approve}]}),
            "rules[0].description: must be a string, not a number",
        ),
        (
            json!({"rules": [{"id": "a", "description": "x".repeat(501), "then": approve}]}),
            "rules[0].description: at most 500 characters",
        ),
        (
            json!({"rules": [{"id": "a", "when": [], "then": approve}]}),
            "rules[0].when: must be an object of conditions, not an array",
        ),
        (json!({"rules": [{"id": "a"}]}), "rules[0].then: is required"),
        (
            json!({"rules": [{"id": "a", "then": "approve"}]}),
            r#"rules[0].then: must be an object such as {"decision": "approve"}, not a string"#,
        ),
        (
            json!({"rules": [{"id": "a", "then": {}}]}),
            "rules[0].then.decision: is required (one of approve, reject, manual_review, second_review, request_evidence, fast_refund, fast_exchange)",
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "refund"}}]}),
            r#"rules[0].then.decision: unknown decision "refund" (expected one of approve, reject, manual_review, second_review, request_evidence, fast_refund, fast_exchange)"#,
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "approve", "amount": "10.00"}}]}),
            r#"rules[0].then: unknown field "amount" (expected decision)"#,
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "reject"}}]}),
            r#"rules[0].then.reason: is required for "reject""#,
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "reject", "reason": "too_ugly"}}]}),
            r#"rules[0].then.reason: unknown rejection reason "too_ugly": not in the shop's catalogue"#,
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "request_evidence", "note": "  "}}]}),
            "rules[0].then.note: must not be empty: it tells the customer what to add",
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "request_evidence"}}]}),
            r#"rules[0].then.note: is required for "request_evidence""#,
        ),
        (
            json!({"rules": [{"id": "a", "then": {"decision": "request_evidence", "note": "x".repeat(501)}}]}),
            "rules[0].then.note: at most 500 characters",
        ),
        (
            json!({"rules": [
                {"id": "a", "when": {"member_tier": {"eq": "gold"}}, "then": approve},
                {"id": "b", "when": {"member_tier": {"eq": "silver"}}, "then": approve},
                {"id": "a", "when": {"member_tier": {"eq": "regular"}}, "then": approve}
            ]}),
            r#"rules[2].id: duplicate id "a" (also rules[0])"#,
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(errors(doc.clone()), vec![want.to_string()], "for {doc}");
    }
    let e = RuleSet::parse("{\"rules\": [", &builtin()).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, RuleErrorKind::Syntax);
    assert!(e[0].to_string().starts_with("not valid JSON: "), "{}", e[0]);
}

#[test]
fn too_many_rules_are_refused_but_200_are_fine() {
    let rule = |i: usize| {
        json!({"id": format!("r{i}"), "when": {"amount": {"eq": format!("{i}.00")}},
               "then": {"decision": "approve"}})
    };
    let ok: Vec<Value> = (0..200).map(rule).collect();
    assert_eq!(parse(json!({ "rules": ok })).rules().len(), 200);
    let too_many: Vec<Value> = (0..201).map(rule).collect();
    let e = RuleSet::parse(&json!({ "rules": too_many }), &builtin()).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, RuleErrorKind::TooManyRules);
    assert_eq!(e[0].to_string(), "rules: at most 200 rules (got 201)");
}

#[test]
fn every_problem_is_reported_at_once_with_its_kind() {
    let e = RuleSet::parse(
        &json!({"rules": [
            {"id": "a", "when": {"amount": {"lte": "x"}, "colour": {}}, "then": {"decision": "approve"}},
            {"id": "B", "then": {"decision": "reject", "reason": "nope"}},
            {"id": "a", "then": {"decision": "approve"}}
        ]}),
        &builtin(),
    )
    .unwrap_err();
    let kinds: Vec<RuleErrorKind> = e.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            RuleErrorKind::BadAmount,
            RuleErrorKind::UnknownFact,
            RuleErrorKind::BadId,
            RuleErrorKind::UnknownReason,
            RuleErrorKind::DuplicateId,
        ],
        "{e:?}"
    );
    // Errors serialise for the API.
    let j = serde_json::to_value(&e[0]).unwrap();
    assert_eq!(j["kind"], "bad_amount");
    assert_eq!(j["path"], "rules[0].when.amount.lte");
}

// ------------------------------------------------------------ unreachable

fn two(first: Value, second: Value) -> Result<RuleSet, Vec<String>> {
    RuleSet::parse(
        &json!({"rules": [
            {"id": "first", "when": first, "then": {"decision": "manual_review"}},
            {"id": "second", "when": second, "then": {"decision": "approve"}}
        ]}),
        &builtin(),
    )
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

const SHADOWED: &str = r#"rules[1] ("second"): unreachable: rule "first" (rules[0]) already matches every claim it would match"#;

#[test]
fn a_rule_after_a_catch_all_is_unreachable() {
    assert_eq!(
        two(json!({}), json!({"amount": {"lte": "1.00"}})),
        Err(vec![SHADOWED.to_string()])
    );
    let e = RuleSet::parse(
        &json!({"rules": [
            {"id": "x", "then": {"decision": "manual_review"}},
            {"id": "y", "when": {"member_tier": {"eq": "gold"}}, "then": {"decision": "approve"}},
            {"id": "z", "then": {"decision": "approve"}}
        ]}),
        &builtin(),
    )
    .unwrap_err();
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|e| e.kind == RuleErrorKind::Unreachable));
    assert_eq!(e[0].rule_id.as_deref(), Some("y"));
    assert_eq!(e[1].path, "rules[2]");
    assert_eq!(
        e[1].to_string(),
        r#"rules[2] ("z"): unreachable: rule "x" (rules[0]) already matches every claim it would match"#
    );
}

#[test]
fn a_rule_narrower_than_an_earlier_one_is_unreachable() {
    let shadowed = [
        // Enum sets: a subset of the earlier values.
        (
            json!({"claim_type": {"in": ["refund_only", "return_refund"]}}),
            json!({"claim_type": {"eq": "return_refund"}}),
        ),
        (
            json!({"member_tier": {"ne": "regular"}}),
            json!({"member_tier": {"in": ["gold", "platinum"]}}),
        ),
        // The same conditions again.
        (
            json!({"reason": {"eq": "damaged"}}),
            json!({"reason": {"eq": "damaged"}}),
        ),
        // More conditions than the earlier rule.
        (
            json!({"fulfilment": {"eq": "paid_unshipped"}}),
            json!({"fulfilment": {"eq": "paid_unshipped"}, "amount": {"lte": "10.00"}}),
        ),
        // Numeric ranges inside the earlier range.
        (
            json!({"amount": {"lte": "100.00"}}),
            json!({"amount": {"lt": "50.00"}}),
        ),
        (
            json!({"amount": {"between": ["10.00", "20.00"]}}),
            json!({"amount": {"gte": "12.00", "lte": "15.00"}}),
        ),
        (
            json!({"evidence_count": {"gte": 1}}),
            json!({"evidence_count": {"gt": 3}}),
        ),
        // Days and hours are the same fact.
        (
            json!({"hours_since_shipment": {"gt": 100}}),
            json!({"days_since_shipment": {"gt": 7}}),
        ),
        // special_claim covers every special kind; quality_issue covers damaged.
        (
            json!({"claim_type": {"eq": "special_claim"}}),
            json!({"special_kind": {"eq": "fresh_spoilage"}}),
        ),
        (
            json!({"quality_issue": {"eq": true}}),
            json!({"reason": {"in": ["damaged", "defective"]}}),
        ),
        // Only physical lines means no fresh line.
        (
            json!({"product_kinds": {"none_in": ["fresh"]}}),
            json!({"product_kinds": {"all_in": ["physical"]}}),
        ),
        (
            json!({"product_kinds": {"any_in": ["fresh", "virtual"]}}),
            json!({"product_kinds": {"all_in": ["fresh"]}}),
        ),
    ];
    for (first, second) in shadowed {
        assert_eq!(
            two(first.clone(), second.clone()),
            Err(vec![SHADOWED.to_string()]),
            "{first} then {second}"
        );
    }
}

#[test]
fn rules_that_can_still_match_something_new_are_reachable() {
    let reachable = [
        // Wider than the earlier rule.
        (
            json!({"amount": {"lte": "50.00"}}),
            json!({"amount": {"lte": "100.00"}}),
        ),
        // One fen beyond it.
        (
            json!({"amount": {"lte": "50.00"}}),
            json!({"amount": {"lte": "50.01"}}),
        ),
        // Overlapping ranges.
        (
            json!({"amount": {"between": ["10.00", "20.00"]}}),
            json!({"amount": {"between": ["15.00", "25.00"]}}),
        ),
        // Different facts.
        (
            json!({"claim_type": {"eq": "exchange"}}),
            json!({"amount": {"lte": "10.00"}}),
        ),
        // The earlier rule asks for something the later does not.
        (
            json!({"fulfilment": {"eq": "paid_unshipped"}, "amount": {"lte": "10.00"}}),
            json!({"fulfilment": {"eq": "paid_unshipped"}}),
        ),
        // Overlapping enum sets.
        (
            json!({"member_tier": {"in": ["gold", "silver"]}}),
            json!({"member_tier": {"in": ["gold", "platinum"]}}),
        ),
        (
            json!({"product_kinds": {"any_in": ["fresh"]}}),
            json!({"product_kinds": {"none_in": ["virtual"]}}),
        ),
        // "none" is its own value: not covered by a list of statuses.
        (
            json!({"courier": {"in": ["picked_up", "in_transit"]}}),
            json!({"courier": {"ne": "picked_up"}}),
        ),
        // A time condition needs the event: "less than 24 hours" does not
        // cover claims not shipped at all.
        (
            json!({"hours_since_shipment": {"lt": 24}}),
            json!({"fulfilment": {"eq": "paid_unshipped"}}),
        ),
    ];
    for (first, second) in reachable {
        let set = two(first.clone(), second.clone());
        assert!(set.is_ok(), "{first} then {second}: {set:?}");
    }
}

// ---------------------------------------------------------- evaluation

#[test]
fn the_first_matching_rule_wins() {
    let set = parse(json!({"version": 4, "rules": [
        {"id": "gold", "when": {"member_tier": {"eq": "gold"}}, "then": {"decision": "approve"}},
        {"id": "big", "when": {"amount": {"gt": "500.00"}}, "then": {"decision": "second_review"}},
        {"id": "damaged", "when": {"reason": {"eq": "damaged"}},
         "then": {"decision": "reject", "reason": "evidence_insufficient"}}
    ]}));
    assert_eq!(set.version, 4);
    let gold_big = with(|f| {
        f.member_tier = MemberTier::Gold;
        f.amount = Money::from_minor(60_000, f.amount.currency());
    });
    let d = set.evaluate(&gold_big);
    assert_eq!(d.rule_id.as_deref(), Some("gold"));
    assert_eq!(d.rule_version, 4);
    assert_eq!(d.outcome, Outcome::Approve);
    let big_damaged = with(|f| {
        f.amount = Money::from_minor(60_000, f.amount.currency());
        f.reason = ReasonCode::Damaged;
    });
    assert_eq!(set.evaluate(&big_damaged).rule_id.as_deref(), Some("big"));
    let damaged = with(|f| f.reason = ReasonCode::Damaged);
    let d = set.evaluate(&damaged);
    assert_eq!(
        d.outcome,
        Outcome::Reject {
            reason: "evidence_insufficient".into()
        }
    );
    assert_eq!(set.first_match(&damaged).map(|(i, _)| i), Some(2));
    let none = set.evaluate(&facts());
    assert_eq!(none.rule_id, None);
    assert_eq!(none.rule_version, 4);
    assert_eq!(none.outcome, Outcome::ManualReview);
}

#[test]
fn enum_facts_and_their_operators() {
    let f = facts();
    // claim_type
    let ret = with(|f| f.claim_type = ClaimType::ReturnRefund);
    let fresh_claim = with(|f| {
        f.claim_type = ClaimType::SpecialClaim {
            kind: SpecialKind::FreshSpoilage,
        }
    });
    splits(json!({"claim_type": {"eq": "refund_only"}}), &f, &ret);
    splits(json!({"claim_type": {"ne": "refund_only"}}), &ret, &f);
    splits(
        json!({"claim_type": {"in": ["return_refund", "exchange"]}}),
        &ret,
        &f,
    );
    splits(
        json!({"claim_type": {"not_in": ["return_refund", "exchange"]}}),
        &f,
        &ret,
    );
    splits(
        json!({"claim_type": {"eq": "special_claim"}}),
        &fresh_claim,
        &f,
    );
    // special_kind
    splits(json!({"special_kind": {"eq": "none"}}), &f, &fresh_claim);
    splits(
        json!({"special_kind": {"eq": "fresh_spoilage"}}),
        &fresh_claim,
        &f,
    );
    let repair = with(|f| {
        f.claim_type = ClaimType::SpecialClaim {
            kind: SpecialKind::ApplianceRepair,
        }
    });
    splits(
        json!({"special_kind": {"ne": "fresh_spoilage"}}),
        &repair,
        &fresh_claim,
    );
    splits(
        json!({"special_kind": {"not_in": ["none", "fresh_spoilage"]}}),
        &repair,
        &f,
    );
    // reason and quality_issue
    let damaged = with(|f| f.reason = ReasonCode::Damaged);
    splits(json!({"reason": {"eq": "damaged"}}), &damaged, &f);
    splits(
        json!({"reason": {"in": ["no_longer_wanted", "wrong_size"]}}),
        &f,
        &damaged,
    );
    splits(json!({"reason": {"ne": "damaged"}}), &f, &damaged);
    splits(json!({"reason": {"not_in": ["damaged"]}}), &f, &damaged);
    splits(json!({"quality_issue": {"eq": true}}), &damaged, &f);
    splits(json!({"quality_issue": {"eq": false}}), &f, &damaged);
    for (r, quality) in [
        (ReasonCode::Spoiled, true),
        (ReasonCode::MissingParts, true),
        (ReasonCode::NotReceived, false),
        (ReasonCode::LateDelivery, false),
        (ReasonCode::Other, false),
    ] {
        let x = with(|f| f.reason = r);
        assert_eq!(
            hits(json!({"quality_issue": {"eq": true}}), &x),
            quality,
            "{r:?}"
        );
    }
    // fulfilment
    let unshipped = with(|f| f.fulfilment = FulfilmentState::PaidUnshipped);
    splits(
        json!({"fulfilment": {"eq": "paid_unshipped"}}),
        &unshipped,
        &f,
    );
    splits(
        json!({"fulfilment": {"in": ["shipped", "delivered"]}}),
        &f,
        &unshipped,
    );
    // currency
    let usd = with(|f| f.amount = Money::from_minor(f.amount.minor(), Currency::Usd));
    splits(json!({"currency": {"eq": "CNY"}}), &f, &usd);
    splits(json!({"currency": {"not_in": ["CNY", "HKD"]}}), &usd, &f);
    // member_tier
    let plat = with(|f| f.member_tier = MemberTier::Platinum);
    splits(
        json!({"member_tier": {"in": ["gold", "platinum"]}}),
        &plat,
        &f,
    );
    splits(json!({"member_tier": {"ne": "platinum"}}), &f, &plat);
    // courier, with "none" for no tracking
    let picked = with(|f| f.courier = Some(CourierStatus::PickedUp));
    let elsewhere = with(|f| f.courier = Some(CourierStatus::DeliveredElsewhere));
    splits(json!({"courier": {"eq": "none"}}), &f, &picked);
    splits(json!({"courier": {"eq": "picked_up"}}), &picked, &f);
    splits(
        json!({"courier": {"in": ["delivered_elsewhere", "not_picked_up"]}}),
        &elsewhere,
        &picked,
    );
    splits(json!({"courier": {"ne": "none"}}), &picked, &f);
    // evidence_complete
    let complete = with(|f| f.evidence_complete = true);
    splits(json!({"evidence_complete": {"eq": true}}), &complete, &f);
    splits(json!({"evidence_complete": {"eq": false}}), &f, &complete);
}

#[test]
fn product_kind_sets() {
    let phys = facts();
    let fresh = with(|f| f.product_kinds = [ProductKind::Fresh].into_iter().collect());
    let mixed = with(|f| {
        f.product_kinds = [ProductKind::Fresh, ProductKind::Physical]
            .into_iter()
            .collect()
    });
    splits(
        json!({"product_kinds": {"any_in": ["fresh"]}}),
        &mixed,
        &phys,
    );
    splits(
        json!({"product_kinds": {"all_in": ["fresh"]}}),
        &fresh,
        &mixed,
    );
    splits(
        json!({"product_kinds": {"all_in": ["fresh", "physical"]}}),
        &mixed,
        &with(|f| f.product_kinds = [ProductKind::Virtual].into_iter().collect()),
    );
    splits(
        json!({"product_kinds": {"none_in": ["fresh"]}}),
        &phys,
        &mixed,
    );
    // "every line" needs a line.
    let none = with(|f| f.product_kinds = ProductKinds::EMPTY);
    assert!(!hits(
        json!({"product_kinds": {"all_in": ["fresh"]}}),
        &none
    ));
    assert!(hits(
        json!({"product_kinds": {"none_in": ["fresh"]}}),
        &none
    ));
    // Operators on one fact all hold.
    splits(
        json!({"product_kinds": {"any_in": ["fresh"], "none_in": ["virtual"]}}),
        &mixed,
        &with(|f| {
            f.product_kinds = [ProductKind::Fresh, ProductKind::Virtual]
                .into_iter()
                .collect()
        }),
    );
}

#[test]
fn numeric_facts_and_their_operators() {
    // hours: 48 since shipment in the base facts.
    let f = facts();
    let h = |n: i64| with(|f| f.seconds_since_shipment = Some(n * 3600));
    splits(json!({"hours_since_shipment": {"eq": 48}}), &f, &h(47));
    splits(json!({"hours_since_shipment": {"lt": 48}}), &h(47), &f);
    splits(json!({"hours_since_shipment": {"lte": 48}}), &f, &h(49));
    splits(json!({"hours_since_shipment": {"gt": 48}}), &h(49), &f);
    splits(json!({"hours_since_shipment": {"gte": 48}}), &f, &h(47));
    splits(
        json!({"hours_since_shipment": {"between": [48, 50]}}),
        &h(50),
        &h(51),
    );
    splits(
        json!({"hours_since_shipment": {"gte": 10, "lt": 48}}),
        &h(10),
        &f,
    );
    // Not shipped: every time condition on shipment is false, even "lt".
    let unshipped = with(|f| f.seconds_since_shipment = None);
    for op in [
        json!({"lt": 1000}),
        json!({"gte": 0}),
        json!({"between": [0, 10]}),
    ] {
        assert!(!hits(json!({ "hours_since_shipment": op }), &unshipped));
        assert!(!hits(json!({ "days_since_shipment": op }), &unshipped));
    }
    // Days are 24 hours: "more than 7 days" holds from the 169th hour.
    splits(json!({"days_since_shipment": {"gt": 7}}), &h(169), &h(168));
    splits(json!({"days_since_shipment": {"gte": 7}}), &h(168), &h(167));
    splits(json!({"days_since_shipment": {"lt": 7}}), &h(167), &h(168));
    splits(json!({"days_since_shipment": {"lte": 7}}), &h(168), &h(169));
    splits(
        json!({"days_since_shipment": {"between": [1, 2]}}),
        &h(24),
        &h(49),
    );
    // payment and delivery
    let p = |n: i64| with(|f| f.seconds_since_payment = Some(n * 3600));
    splits(json!({"hours_since_payment": {"gt": 72}}), &p(73), &f);
    splits(json!({"days_since_payment": {"lte": 3}}), &f, &p(73));
    let d = |n: Option<i64>| with(|f| f.seconds_since_delivery = n.map(|h| h * 3600));
    splits(
        json!({"hours_since_delivery": {"lte": 24}}),
        &f,
        &d(Some(25)),
    );
    splits(json!({"days_since_delivery": {"lt": 1}}), &d(Some(23)), &f);
    assert!(!hits(json!({"hours_since_delivery": {"gte": 0}}), &d(None)));
    // counts
    let ev = |n: u32| with(|f| f.evidence_count = n);
    splits(json!({"evidence_count": {"eq": 0}}), &f, &ev(1));
    splits(json!({"evidence_count": {"gte": 3}}), &ev(3), &ev(2));
    let claims = |n: u32| with(|f| f.claims_last_90_days = n);
    splits(
        json!({"claims_last_90_days": {"gt": 5}}),
        &claims(6),
        &claims(5),
    );
    splits(
        json!({"claims_last_90_days": {"between": [1, 3]}}),
        &claims(1),
        &f,
    );
    let rej = |n: u32| with(|f| f.rejected_last_90_days = n);
    splits(
        json!({"rejected_last_90_days": {"gte": 2}}),
        &rej(2),
        &rej(1),
    );
    splits(json!({"rejected_last_90_days": {"lt": 1}}), &f, &rej(1));
    // standing and fraud signals
    let rate = |n: u32| with(|f| f.refund_rate_percent = n);
    splits(
        json!({"refund_rate_percent": {"gt": 50}}),
        &rate(51),
        &rate(50),
    );
    let kept = |n: u32| with(|f| f.claims_without_return = n);
    splits(
        json!({"claims_without_return": {"gte": 2}}),
        &kept(2),
        &kept(1),
    );
    let same = |n: u32| with(|f| f.same_reason_last_90_days = n);
    splits(json!({"same_reason_last_90_days": {"eq": 0}}), &f, &same(1));
    let reused = with(|f| f.evidence_reused = true);
    splits(json!({"evidence_reused": {"eq": true}}), &reused, &f);
    splits(json!({"evidence_reused": {"eq": false}}), &f, &reused);
    let old = with(|f| f.photo_before_delivery = true);
    splits(json!({"photo_before_delivery": {"eq": true}}), &old, &f);
    let due = with(|f| f.presale_compensation_due = true);
    splits(json!({"presale_compensation_due": {"eq": true}}), &due, &f);
    let redeemed = with(|f| f.voucher_redeemed = true);
    splits(json!({"voucher_redeemed": {"eq": true}}), &redeemed, &f);
    let unused = with(|f| f.voucher_unused = true);
    splits(json!({"voucher_unused": {"eq": true}}), &unused, &f);
    let bundled = with(|f| f.with_bundle_return = true);
    splits(json!({"with_bundle_return": {"eq": true}}), &bundled, &f);
    let installed = with(|f| f.installed_faulty_within_window = true);
    splits(
        json!({"installed_faulty_within_window": {"eq": true}}),
        &installed,
        &f,
    );
    let confirmed = with(|f| f.customs_refund_confirmed = true);
    splits(
        json!({"customs_refund_confirmed": {"eq": true}}),
        &confirmed,
        &f,
    );
}

#[test]
fn fast_outcomes_parse_and_take_nothing_else() {
    let set = RuleSet::parse(
        r#"{"rules": [
          {"id": "a", "when": {"member_tier": {"eq": "gold"}}, "then": {"decision": "fast_refund"}},
          {"id": "b", "when": {"claim_type": {"eq": "exchange"}}, "then": {"decision": "fast_exchange"}}
        ]}"#,
        &builtin(),
    )
    .expect("valid");
    let gold = with(|f| f.member_tier = MemberTier::Gold);
    assert_eq!(set.evaluate(&gold).outcome, Outcome::FastRefund);
    let stray = RuleSet::parse(
        r#"{"rules": [{"id": "a", "then": {"decision": "fast_refund", "note": "x"}}]}"#,
        &builtin(),
    )
    .expect_err("an extra field");
    assert!(format!("{stray:?}").contains("note"), "{stray:?}");
}

#[test]
fn amounts_are_exact_to_the_fen() {
    let a = |minor: i64| with(|f| f.amount = Money::from_minor(minor, f.amount.currency()));
    splits(json!({"amount": {"lte": "50.00"}}), &a(5000), &a(5001));
    splits(json!({"amount": {"lt": "50.00"}}), &a(4999), &a(5000));
    splits(json!({"amount": {"gt": "500.00"}}), &a(50001), &a(50000));
    splits(json!({"amount": {"gte": "500.00"}}), &a(50000), &a(49999));
    splits(json!({"amount": {"eq": "0.01"}}), &a(1), &a(0));
    splits(json!({"amount": {"eq": "99.9"}}), &a(9990), &a(9999));
    splits(
        json!({"amount": {"between": ["10.00", "20.00"]}}),
        &a(2000),
        &a(2001),
    );
    splits(json!({"amount": {"lte": "50"}}), &a(5000), &a(5001));
    // A currency without minor units compares in whole yen.
    let jpy = |n: i64| {
        with(|f| {
            f.amount = Money::from_minor(n, Currency::Jpy);
        })
    };
    splits(json!({"amount": {"lte": "50.50"}}), &jpy(50), &jpy(51));
    splits(json!({"amount": {"gt": "50.50"}}), &jpy(51), &jpy(50));
    assert!(!hits(json!({"amount": {"eq": "50.50"}}), &jpy(50)));
    assert!(!hits(json!({"amount": {"eq": "50.50"}}), &jpy(51)));
    splits(json!({"amount": {"lte": "50"}}), &jpy(50), &jpy(5000));
    // Large amounts stay exact.
    splits(
        json!({"amount": {"lte": "1000000000000.00"}}),
        &a(100_000_000_000_000),
        &a(100_000_000_000_001),
    );
}

#[test]
fn the_policy_window_follows_the_goods() {
    let w = json!({"within_policy_window": {"eq": true}});
    let out = json!({"within_policy_window": {"eq": false}});
    // Ordinary goods: the no-reason window, 7 days after delivery.
    let d = |h: Option<i64>| with(|f| f.seconds_since_delivery = h.map(|h| h * 3600));
    splits(w.clone(), &d(Some(168)), &d(Some(169)));
    splits(out.clone(), &d(Some(169)), &d(Some(168)));
    assert!(
        hits(w.clone(), &d(None)),
        "not delivered: the window has not started"
    );
    // Fresh: the fresh claim window in hours after delivery, for a fresh
    // line or a fresh-spoilage claim.
    let fresh = |h: i64| {
        with(|f| {
            f.product_kinds = [ProductKind::Fresh, ProductKind::Physical]
                .into_iter()
                .collect();
            f.seconds_since_delivery = Some(h * 3600);
        })
    };
    splits(w.clone(), &fresh(24), &fresh(25));
    let spoil = |h: i64| {
        with(|f| {
            f.claim_type = ClaimType::SpecialClaim {
                kind: SpecialKind::FreshSpoilage,
            };
            f.seconds_since_delivery = Some(h * 3600);
        })
    };
    splits(w.clone(), &spoil(24), &spoil(25));
    // Virtual: the virtual refund window in days after payment.
    let virt = |paid: i64| {
        with(|f| {
            f.product_kinds = [ProductKind::Virtual].into_iter().collect();
            f.seconds_since_payment = Some(paid * 3600);
            f.seconds_since_delivery = Some(1000 * 3600);
        })
    };
    splits(w.clone(), &virt(168), &virt(169));
    let unused = |paid: i64| {
        with(|f| {
            f.claim_type = ClaimType::SpecialClaim {
                kind: SpecialKind::VirtualUnused,
            };
            f.seconds_since_payment = Some(paid * 3600);
        })
    };
    splits(w.clone(), &unused(100), &unused(200));
    // The shop's own windows count.
    let longer = with(|f| {
        f.windows.no_reason_return_days = 15;
        f.seconds_since_delivery = Some(300 * 3600);
    });
    assert!(longer.within_policy_window());
    assert!(hits(w, &longer));
}

#[test]
fn all_conditions_of_a_rule_must_hold() {
    let when = json!({"claim_type": {"eq": "refund_only"}, "amount": {"lte": "100.00"},
                      "member_tier": {"eq": "regular"}});
    assert!(hits(when.clone(), &facts()));
    assert!(!hits(
        when.clone(),
        &with(|f| f.amount = Money::from_minor(10_001, f.amount.currency()))
    ));
    assert!(!hits(
        when.clone(),
        &with(|f| f.member_tier = MemberTier::Gold)
    ));
    assert!(!hits(when, &with(|f| f.claim_type = ClaimType::Exchange)));
    assert!(hits(json!({}), &facts()));
    let no_when = parse(json!({"rules": [{"id": "all", "then": {"decision": "approve"}}]}));
    assert_eq!(no_when.evaluate(&facts()).rule_id.as_deref(), Some("all"));
}

// -------------------------------------------------------------- default set

#[test]
fn the_default_set_validates_and_decides_the_seed_examples() {
    let set = default_rules();
    assert_eq!(set.version, 0);
    // It re-parses from its own JSON.
    let j = serde_json::to_value(&set).unwrap();
    assert_eq!(RuleSet::parse(&j, &builtin()).unwrap(), set);
    let decide = |f: Facts| {
        let d = set.evaluate(&f);
        (d.rule_id, d.outcome)
    };
    let id = |s: &str| Some(s.to_string());

    // "未发货订单申请仅退款,自动审核通过", whatever the amount.
    let unshipped = |amount| {
        with(|f| {
            f.fulfilment = FulfilmentState::PaidUnshipped;
            f.seconds_since_shipment = None;
            f.seconds_since_delivery = None;
            f.amount = Money::from_minor(amount, f.amount.currency());
        })
    };
    assert_eq!(
        decide(unshipped(80_000)),
        (id("unshipped-refund-only"), Outcome::Approve)
    );
    // "单笔退款金额≤50 元,自动审核通过": exactly 50.00 yes, 50.01 not.
    let small = |amount| with(|f| f.amount = Money::from_minor(amount, f.amount.currency()));
    assert_eq!(decide(small(5000)), (id("small-refund"), Outcome::Approve));
    assert_eq!(decide(small(5001)), (None, Outcome::ManualReview));
    // ... but not exchanges (they move no money) and not outside the window.
    assert_eq!(
        decide(with(|f| {
            f.claim_type = ClaimType::Exchange;
            f.amount = Money::from_minor(0, f.amount.currency());
        })),
        (None, Outcome::ManualReview)
    );
    assert_eq!(
        decide(with(|f| {
            f.amount = Money::from_minor(3000, f.amount.currency());
            f.seconds_since_delivery = Some((24 * 30) * 3600);
            f.seconds_since_shipment = Some((24 * 31) * 3600);
        })),
        (None, Outcome::ManualReview)
    );
    // "超 500 元需管理员二次审核": 500.00 is not over, 500.01 is.
    let big = |amount| {
        with(|f| {
            f.claim_type = ClaimType::ReturnRefund;
            f.amount = Money::from_minor(amount, f.amount.currency());
        })
    };
    assert_eq!(
        decide(big(50_001)),
        (id("large-amount-second-review"), Outcome::SecondReview)
    );
    assert_eq!(decide(big(50_000)), (None, Outcome::ManualReview));
    // "已发货超 7 天申请退货,需人工审核": 169 hours yes, 168 not.
    let late = |hours: i64| {
        with(|f| {
            f.claim_type = ClaimType::ReturnRefund;
            f.amount = Money::from_minor(3000, f.amount.currency());
            f.seconds_since_shipment = Some(hours * 3600);
        })
    };
    assert_eq!(
        decide(late(169)),
        (id("late-return-manual"), Outcome::ManualReview)
    );
    assert_eq!(decide(late(168)), (id("small-refund"), Outcome::Approve));
    // "虚拟商品未使用,申请退款自动通过", inside the window.
    let coupon = |paid: i64| {
        with(|f| {
            f.claim_type = ClaimType::SpecialClaim {
                kind: SpecialKind::VirtualUnused,
            };
            f.product_kinds = [ProductKind::Virtual].into_iter().collect();
            f.fulfilment = FulfilmentState::Delivered;
            f.seconds_since_payment = Some(paid * 3600);
            f.voucher_unused = true;
        })
    };
    assert_eq!(
        decide(coupon(24)),
        (id("virtual-unused-refund"), Outcome::Approve)
    );
    assert_eq!(decide(coupon(24 * 8)), (None, Outcome::ManualReview));
    // Unknown to the issuer (not asked, or no answer): a person decides.
    let mut unknown = coupon(24);
    unknown.voucher_unused = false;
    assert_eq!(decide(unknown), (None, Outcome::ManualReview));
    // "已使用的券码不退": redeemed, inside the window or not.
    let mut used = coupon(24);
    (used.voucher_unused, used.voucher_redeemed) = (false, true);
    assert_eq!(
        decide(used),
        (
            id("virtual-redeemed-reject"),
            Outcome::Reject {
                reason: "virtual_goods_consumed".into()
            }
        )
    );
    // The insurance goes with the phone: past the virtual window, an unused
    // bundle part filed with its goods' return approves.
    let mut with_phone = coupon(24 * 8);
    with_phone.with_bundle_return = true;
    assert_eq!(
        decide(with_phone),
        (id("bundle-virtual-with-return"), Outcome::Approve)
    );
    // "生鲜商品申请坏果理赔,需审核凭证后通过".
    let spoiled = |hours: i64, complete| {
        with(|f| {
            f.claim_type = ClaimType::SpecialClaim {
                kind: SpecialKind::FreshSpoilage,
            };
            f.reason = ReasonCode::Spoiled;
            f.product_kinds = [ProductKind::Fresh].into_iter().collect();
            f.seconds_since_delivery = Some(hours * 3600);
            f.evidence_count = u32::from(complete) * 2;
            f.evidence_complete = complete;
        })
    };
    assert_eq!(
        decide(spoiled(30, true)),
        (
            id("fresh-spoilage-late"),
            Outcome::Reject {
                reason: "fresh_window_passed".into()
            }
        )
    );
    assert!(matches!(
        decide(spoiled(5, false)),
        (Some(r), Outcome::RequestEvidence { .. }) if r == "fresh-spoilage-evidence"
    ));
    assert_eq!(decide(spoiled(5, true)), (None, Outcome::ManualReview));
    // A quality complaint without a photo asks for one.
    let broken = |evidence| {
        with(|f| {
            f.claim_type = ClaimType::ReturnRefund;
            f.reason = ReasonCode::Defective;
            f.amount = Money::from_minor(20_000, f.amount.currency());
            f.evidence_count = evidence;
        })
    };
    assert!(matches!(
        decide(broken(0)),
        (Some(r), Outcome::RequestEvidence { .. }) if r == "quality-issue-evidence"
    ));
    assert_eq!(decide(broken(1)), (None, Outcome::ManualReview));
}

// ---------------------------------------------------------------- serde

#[test]
fn a_rule_set_serialises_to_the_shape_it_was_parsed_from() {
    let doc = json!({"version": 3, "rules": [
        {"id": "a", "description": "small", "when": {"amount": {"lte": "50.00"},
         "claim_type": {"in": ["refund_only", "return_refund"]}},
         "then": {"decision": "approve"}},
        {"id": "b", "description": "", "when": {"product_kinds": {"any_in": ["fresh"]},
         "days_since_delivery": {"gt": 1}, "within_policy_window": {"eq": false}},
         "then": {"decision": "reject", "reason": "fresh_window_passed"}},
        {"id": "c", "description": "", "when": {"evidence_count": {"between": [0, 1]}},
         "then": {"decision": "request_evidence", "note": "请上传照片"}},
        {"id": "d", "description": "", "when": {"courier": {"eq": "not_picked_up"}},
         "then": {"decision": "second_review"}},
        {"id": "e", "description": "", "when": {}, "then": {"decision": "manual_review"}}
    ]});
    let set = parse(doc.clone());
    assert_eq!(serde_json::to_value(&set).unwrap(), doc);
    assert_eq!(parse(serde_json::to_value(&set).unwrap()), set);
    // Missing description and when come back as their defaults.
    let short = parse(json!({"rules": [{"id": "x", "then": {"decision": "approve"}}]}));
    assert_eq!(
        serde_json::to_value(&short).unwrap(),
        json!({"version": 0, "rules": [{"id": "x", "description": "", "when": {},
                "then": {"decision": "approve"}}]})
    );
}

#[test]
fn decisions_and_facts_have_a_json_form() {
    let d = Decision {
        rule_id: Some("small-refund".into()),
        rule_version: 2,
        outcome: Outcome::Reject {
            reason: "other".into(),
        },
    };
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(
        j,
        json!({"rule_id": "small-refund", "rule_version": 2,
               "outcome": {"decision": "reject", "reason": "other"}})
    );
    assert_eq!(serde_json::from_value::<Decision>(j).unwrap(), d);
    assert!(matches!(
        d.actor(),
        aftersales::domain::claim::Actor::Rule { rule_id, version: 2 } if rule_id == "small-refund"
    ));
    assert_eq!(
        serde_json::to_value(Outcome::ManualReview).unwrap(),
        json!({"decision": "manual_review"})
    );
    assert!(serde_json::from_value::<Outcome>(json!({"decision": "approve", "x": 1})).is_err());

    let f = facts();
    let j = serde_json::to_value(&f).unwrap();
    assert_eq!(j["product_kinds"], json!(["physical"]));
    assert_eq!(serde_json::from_value::<Facts>(j.clone()).unwrap(), f);
    let mut extra = j;
    extra["colour"] = json!("red");
    assert!(serde_json::from_value::<Facts>(extra).is_err());
}

#[test]
fn facts_gather_what_the_claim_and_order_say() {
    use aftersales::domain::claim::{Actor, Claim, ClaimLine, NewClaim};
    use aftersales::domain::order::{Order, OrderDraft};
    use aftersales::domain::policy::ShopPolicy;
    let draft: OrderDraft = serde_json::from_value(json!({
        "customer_id": "c1", "currency": "CNY", "placed_at": "2026-11-01T10:00:00Z",
        "member_tier": "gold",
        "lines": [
            {"line_id": "L1", "sku": "APPLE", "title": "Apples", "kind": "fresh",
             "quantity": 1, "unit_price": "30.00"},
            {"line_id": "L2", "sku": "CARD", "title": "Gift card", "kind": "virtual",
             "quantity": 1, "unit_price": "20.00"}
        ],
        "payments": [
            {"payment_id": "P1", "channel": "alipay", "provider_txn_id": "t1",
             "amount": "50.00", "paid_at": "2026-11-01T10:00:00Z"}
        ],
        "fulfilment": {"state": "delivered", "shipped_at": "2026-11-02T10:00:00Z",
                       "delivered_at": "2026-11-03T10:30:00Z"}
    }))
    .unwrap();
    let order = Order::parse("s1", "o1", draft).unwrap();
    let now = "2026-11-04T10:00:00Z".parse().unwrap();
    let (claim, _) = Claim::submit(
        NewClaim {
            claim_id: "k1".into(),
            shop_id: "s1".into(),
            order_id: "o1".into(),
            customer_id: "c1".into(),
            claim_type: ClaimType::SpecialClaim {
                kind: SpecialKind::FreshSpoilage,
            },
            reason: ReasonCode::Spoiled,
            description: String::new(),
            evidence: vec!["e1".into(), "e2".into()],
            lines: vec![ClaimLine {
                line_id: "L1".into(),
                quantity: 1,
                amount: aftersales::domain::money::Money::from_minor(3000, Currency::Cny),
                weight_grams: None,
            }],
            currency: Currency::Cny,
        },
        Actor::Customer { id: "c1".into() },
        now,
    )
    .unwrap();
    let f = Facts::gather(&claim, &order, &ShopPolicy::default(), now);
    assert_eq!(f.product_kinds, [ProductKind::Fresh].into_iter().collect());
    assert_eq!(f.amount, Money::from_minor(3000, Currency::Cny));
    assert_eq!(f.seconds_since_payment, Some(72 * 3600));
    assert_eq!(f.seconds_since_shipment, Some(48 * 3600));
    // 23.5 hours are 23.5 hours: time is never rounded to the hour.
    assert_eq!(f.seconds_since_delivery, Some(23 * 3600 + 1800));
    assert_eq!(f.evidence_count, 2);
    assert_eq!(f.member_tier, MemberTier::Gold);
    assert!(!f.evidence_complete);
    assert!(f.within_policy_window());
}

// ------------------------------------------------------------ catalogue

fn extra(code: &str, zh: &str, en: &str) -> RejectionReason {
    RejectionReason {
        code: code.into(),
        text_zh: zh.into(),
        text_en: en.into(),
    }
}

#[test]
fn the_builtin_catalogue_speaks_both_languages() {
    let c = Catalogue::builtin();
    let codes: Vec<&str> = Catalogue::builtin_codes().collect();
    for code in [
        "outside_return_window",
        "item_used_or_damaged_by_customer",
        "missing_parts_or_packaging",
        "evidence_insufficient",
        "final_sale_item",
        "not_received_by_courier",
        "duplicate_claim",
        "virtual_goods_consumed",
        "fresh_window_passed",
        "other",
    ] {
        assert!(codes.contains(&code), "{code}");
        let r = c.lookup(code).unwrap();
        assert_eq!(r.code, code);
        assert_eq!(c.text(code, Language::ZhCn), Some(r.text_zh.as_str()));
        assert_eq!(c.text(code, Language::En), Some(r.text_en.as_str()));
        assert!(r
            .text_zh
            .chars()
            .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)));
        assert!(r.text_en.is_ascii());
    }
    assert_eq!(c.lookup("nope"), None);
    assert_eq!(c.text("nope", Language::En), None);
    assert_eq!(c.all().len(), codes.len());
    assert_eq!(
        c.text("final_sale_item", Language::ZhCn),
        Some("该商品为特价/清仓商品,购买时已注明不支持退换。")
    );
}

#[test]
fn shop_reasons_are_checked_and_then_usable_by_rules() {
    let c = Catalogue::with_extras(vec![extra(
        "size_chart_followed",
        "商品尺码与详情页尺码表一致,不属于质量问题。",
        "The size matches the size chart on the product page; this is not a quality problem.",
    )])
    .unwrap();
    assert!(c.contains("size_chart_followed"));
    assert!(c.contains("other"));
    assert_eq!(
        c.text("size_chart_followed", Language::En),
        Some("The size matches the size chart on the product page; this is not a quality problem.")
    );
    assert_eq!(c.all().len(), Catalogue::builtin_codes().count() + 1);
    let doc = json!({"rules": [{"id": "size", "when": {"reason": {"eq": "wrong_size"}},
                                "then": {"decision": "reject", "reason": "size_chart_followed"}}]});
    assert!(RuleSet::parse(&doc, &Catalogue::builtin()).is_err());
    let set = RuleSet::parse(&doc, &c).unwrap();
    let d = set.evaluate(&with(|f| f.reason = ReasonCode::WrongSize));
    assert_eq!(
        d.outcome,
        Outcome::Reject {
            reason: "size_chart_followed".into()
        }
    );

    let bad = |r: RejectionReason| {
        Catalogue::with_extras(vec![r])
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let code_msg = |c: &str| {
        format!("extras[0].code: {c:?} is not a valid code: 2 to 48 characters, lowercase letters, digits and '_', starting with a letter")
    };
    for code in [
        "A_code",
        "a",
        "1abc",
        "with-dash",
        "with space",
        &"a".repeat(49),
        "",
    ] {
        assert_eq!(bad(extra(code, "中文", "English")), vec![code_msg(code)]);
    }
    assert!(
        Catalogue::with_extras(vec![extra(&"a".repeat(48), "中文", "English")]).is_ok(),
        "48 characters are fine"
    );
    assert_eq!(
        bad(extra("other", "中文", "English")),
        vec![r#"extras[0].code: "other" is a built-in reason"#.to_string()]
    );
    assert_eq!(
        bad(extra("mine", " ", "")),
        vec![
            "extras[0].text_zh: must not be empty".to_string(),
            "extras[0].text_en: must not be empty".to_string()
        ]
    );
    assert_eq!(
        bad(extra("mine", &"长".repeat(201), "ok")),
        vec!["extras[0].text_zh: at most 200 characters".to_string()]
    );
    assert!(Catalogue::with_extras(vec![extra("mine", &"长".repeat(200), "ok")]).is_ok());
    assert_eq!(
        bad(extra("mine", "好", "line\nbreak")),
        vec!["extras[0].text_en: must not contain control characters".to_string()]
    );
    let dup = Catalogue::with_extras(vec![extra("mine", "好", "ok"), extra("mine", "好", "ok")])
        .unwrap_err();
    assert_eq!(
        dup[0].to_string(),
        r#"extras[1].code: duplicate code "mine" (also extras[0])"#
    );
    let many: Vec<_> = (0..101)
        .map(|i| extra(&format!("c{i}"), "好", "ok"))
        .collect();
    assert_eq!(
        Catalogue::with_extras(many).unwrap_err()[0].to_string(),
        "extras: at most 100 reasons (got 101)"
    );
}

#[test]
fn the_catalogue_json_holds_the_shops_part_only() {
    let c = Catalogue::with_extras(vec![extra("mine", "我的原因", "My reason")]).unwrap();
    let j = serde_json::to_value(&c).unwrap();
    assert_eq!(
        j,
        json!({"extras": [{"code": "mine", "text_zh": "我的原因", "text_en": "My reason"}]})
    );
    assert_eq!(serde_json::from_value::<Catalogue>(j).unwrap(), c);
    assert_eq!(
        serde_json::from_value::<Catalogue>(json!({})).unwrap(),
        Catalogue::builtin()
    );
    let e = serde_json::from_value::<Catalogue>(json!({"extras": [], "more": 1})).unwrap_err();
    assert!(e.to_string().contains("unknown field `more`"), "{e}");
    let e = serde_json::from_value::<Catalogue>(
        json!({"extras": [{"code": "mine", "text_zh": "a", "text_en": "b", "x": 1}]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `x`"), "{e}");
    let e = serde_json::from_value::<Catalogue>(
        json!({"extras": [{"code": "Other", "text_zh": "", "text_en": "b"}]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("extras[0].code"), "{e}");
    assert!(
        e.to_string()
            .contains("extras[0].text_zh: must not be empty"),
        "{e}"
    );
}

// ------------------------------------------------------------- properties

mod props {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};

    const CLAIM_TYPES: [&str; 4] = ["refund_only", "return_refund", "exchange", "special_claim"];
    const SPECIAL: [&str; 7] = [
        "none",
        "fresh_spoilage",
        "appliance_repair",
        "cross_border_customs",
        "virtual_unused",
        "pre_sale_compensation",
        "missing_item",
    ];
    const REASONS: [&str; 11] = [
        "no_longer_wanted",
        "wrong_size",
        "damaged",
        "defective",
        "wrong_item",
        "not_as_described",
        "missing_parts",
        "not_received",
        "spoiled",
        "late_delivery",
        "other",
    ];
    const KINDS: [&str; 7] = [
        "physical",
        "fresh",
        "virtual",
        "appliance",
        "cross_border",
        "pre_sale",
        "bundle_part",
    ];
    const TIERS: [&str; 4] = ["regular", "silver", "gold", "platinum"];
    const COURIER: [&str; 6] = [
        "none",
        "picked_up",
        "in_transit",
        "delivered_to_shop",
        "delivered_elsewhere",
        "not_picked_up",
    ];
    const AMOUNTS: [&str; 7] = ["0", "0.01", "10.00", "49.99", "50.00", "50.5", "500.00"];

    fn enum_cond(values: &'static [&'static str]) -> impl Strategy<Value = Value> {
        (
            select(vec!["eq", "ne", "in", "not_in"]),
            subsequence(values.to_vec(), 1..=values.len().min(3)),
        )
            .prop_map(|(op, vals)| match op {
                "eq" | "ne" => json!({ op: vals[0] }),
                _ => json!({ op: vals }),
            })
    }

    fn num_cond(values: Vec<Value>, eq: bool) -> impl Strategy<Value = Value> {
        let mut ops = vec!["lt", "lte", "gt", "gte", "between"];
        if eq {
            ops.push("eq");
        }
        (select(ops), select(values.clone()), select(values)).prop_map(|(op, a, b)| {
            if op == "between" {
                json!({ "between": [a, b] })
            } else {
                json!({ op: a })
            }
        })
    }

    fn condition() -> impl Strategy<Value = (String, Value)> {
        let hours: Vec<Value> = [0, 1, 24, 48, 168, 169].iter().map(|n| json!(n)).collect();
        let days: Vec<Value> = [0, 1, 2, 7].iter().map(|n| json!(n)).collect();
        let counts: Vec<Value> = [0, 1, 2, 5].iter().map(|n| json!(n)).collect();
        let amounts: Vec<Value> = AMOUNTS.iter().map(|a| json!(a)).collect();
        prop_oneof![
            enum_cond(&CLAIM_TYPES).prop_map(|c| ("claim_type".to_string(), c)),
            enum_cond(&SPECIAL).prop_map(|c| ("special_kind".to_string(), c)),
            enum_cond(&REASONS).prop_map(|c| ("reason".to_string(), c)),
            enum_cond(&TIERS).prop_map(|c| ("member_tier".to_string(), c)),
            enum_cond(&COURIER).prop_map(|c| ("courier".to_string(), c)),
            (
                select(vec!["any_in", "all_in", "none_in"]),
                subsequence(KINDS.to_vec(), 1..3)
            )
                .prop_map(|(op, v)| ("product_kinds".to_string(), json!({ op: v }))),
            (
                select(vec![
                    "quality_issue",
                    "evidence_complete",
                    "within_policy_window"
                ]),
                any::<bool>()
            )
                .prop_map(|(k, b)| (k.to_string(), json!({ "eq": b }))),
            num_cond(amounts, true).prop_map(|c| ("amount".to_string(), c)),
            (
                select(vec![
                    "hours_since_payment",
                    "hours_since_shipment",
                    "hours_since_delivery"
                ]),
                num_cond(hours, true)
            )
                .prop_map(|(k, c)| (k.to_string(), c)),
            (
                select(vec![
                    "days_since_payment",
                    "days_since_shipment",
                    "days_since_delivery"
                ]),
                num_cond(days, false)
            )
                .prop_map(|(k, c)| (k.to_string(), c)),
            (
                select(vec![
                    "evidence_count",
                    "claims_last_90_days",
                    "rejected_last_90_days"
                ]),
                num_cond(counts, true)
            )
                .prop_map(|(k, c)| (k.to_string(), c)),
        ]
    }

    fn when() -> impl Strategy<Value = Value> {
        proptest::collection::vec(condition(), 0..4).prop_map(|cs| {
            let mut m = serde_json::Map::new();
            for (k, v) in cs {
                m.insert(k, v);
            }
            Value::Object(m)
        })
    }

    fn then() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!({"decision": "approve"})),
            Just(json!({"decision": "manual_review"})),
            Just(json!({"decision": "second_review"})),
            Just(json!({"decision": "reject", "reason": "other"})),
            Just(json!({"decision": "request_evidence", "note": "请补充照片"})),
        ]
    }

    fn special_kind() -> impl Strategy<Value = SpecialKind> {
        select(vec![
            SpecialKind::FreshSpoilage,
            SpecialKind::ApplianceRepair,
            SpecialKind::CrossBorderCustoms,
            SpecialKind::VirtualUnused,
            SpecialKind::PreSaleCompensation,
            SpecialKind::MissingItem,
        ])
    }

    fn any_facts() -> impl Strategy<Value = Facts> {
        let claim_type = prop_oneof![
            Just(ClaimType::RefundOnly),
            Just(ClaimType::ReturnRefund),
            Just(ClaimType::Exchange),
            special_kind().prop_map(|kind| ClaimType::SpecialClaim { kind }),
        ];
        let reason = select(vec![
            ReasonCode::NoLongerWanted,
            ReasonCode::WrongSize,
            ReasonCode::Damaged,
            ReasonCode::Defective,
            ReasonCode::WrongItem,
            ReasonCode::NotAsDescribed,
            ReasonCode::MissingParts,
            ReasonCode::NotReceived,
            ReasonCode::Spoiled,
            ReasonCode::LateDelivery,
            ReasonCode::Other,
        ]);
        let kinds = subsequence(
            vec![
                ProductKind::Physical,
                ProductKind::Fresh,
                ProductKind::Virtual,
                ProductKind::Appliance,
                ProductKind::CrossBorder,
                ProductKind::PreSale,
                ProductKind::BundlePart,
            ],
            0..3,
        );
        let fulfilment = select(vec![
            FulfilmentState::PaidUnshipped,
            FulfilmentState::Shipped,
            FulfilmentState::Delivered,
        ]);
        let currency = select(vec![Currency::Cny, Currency::Usd, Currency::Jpy]);
        let hours = proptest::option::of(prop_oneof![0i64..400, any::<i64>()]);
        let courier = proptest::option::of(select(vec![
            CourierStatus::PickedUp,
            CourierStatus::InTransit,
            CourierStatus::DeliveredToShop,
            CourierStatus::DeliveredElsewhere,
            CourierStatus::NotPickedUp,
        ]));
        let tier = select(vec![
            MemberTier::Regular,
            MemberTier::Silver,
            MemberTier::Gold,
            MemberTier::Platinum,
        ]);
        (
            (claim_type, reason, fulfilment, kinds, currency),
            (
                prop_oneof![0i64..60_000, any::<i64>()],
                hours.clone(),
                hours.clone(),
                hours,
            ),
            (0u32..4, any::<bool>(), courier, tier, 0u32..4, 0u32..3),
            (any::<u32>(), any::<u32>(), any::<u32>()),
            (0u32..=100, 0u32..4, 0u32..4, any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |(
                    (claim_type, reason, fulfilment, kinds, currency),
                    (amount, paid, shipped, delivered),
                    (evidence_count, evidence_complete, courier, member_tier, claims, rejected),
                    (nr, fh, vd),
                    (rate, without_return, same_reason, reused, before_delivery),
                )| Facts {
                    claim_type,
                    reason,
                    fulfilment,
                    product_kinds: kinds.into_iter().collect(),
                    amount: Money::from_minor(amount, currency),
                    seconds_since_payment: paid,
                    seconds_since_shipment: shipped,
                    seconds_since_delivery: delivered,
                    evidence_count,
                    evidence_complete,
                    courier,
                    member_tier,
                    claims_last_90_days: claims,
                    rejected_last_90_days: rejected,
                    refund_rate_percent: rate,
                    claims_without_return: without_return,
                    same_reason_last_90_days: same_reason,
                    evidence_reused: reused,
                    photo_before_delivery: before_delivery,
                    presale_compensation_due: reused && before_delivery,
                    installed_faulty_within_window: reused || before_delivery,
                    customs_refund_confirmed: reused || before_delivery,
                    windows: PolicyWindows {
                        no_reason_return_days: nr % 400,
                        fresh_claim_window_hours: fh,
                        virtual_refund_window_days: vd,
                    },
                    voucher_redeemed: reused && !before_delivery,
                    voucher_unused: !reused && before_delivery,
                    with_bundle_return: reused || before_delivery,
                    fresh_within_auto_limit: reused || before_delivery,
                },
            )
    }

    fn doc(whens: &[Value], thens: &[Value]) -> Value {
        let rules: Vec<Value> = whens
            .iter()
            .zip(thens)
            .enumerate()
            .map(|(i, (w, t))| json!({"id": format!("r{i}"), "when": w, "then": t}))
            .collect();
        json!({ "rules": rules })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the rules and the facts: a decision, never a panic, and
        /// the decision is the first rule whose conditions all hold alone.
        #[test]
        fn evaluation_is_total_and_first_match(
            whens in proptest::collection::vec(when(), 0..6),
            thens in proptest::collection::vec(then(), 6),
            facts in any_facts(),
        ) {
            let Ok(set) = RuleSet::parse(&doc(&whens, &thens), &Catalogue::builtin()) else {
                // Contradictory or shadowed rules are refused; nothing to evaluate.
                return Ok(());
            };
            let d = set.evaluate(&facts);
            let expected = whens.iter().position(|w| {
                let alone = RuleSet::parse(&doc(std::slice::from_ref(w), &thens[..1]), &Catalogue::builtin())
                    .expect("a rule of a valid set is valid alone");
                alone.evaluate(&facts).rule_id.is_some()
            });
            prop_assert_eq!(d.rule_id, expected.map(|i| format!("r{i}")));
        }

        /// parse → serialise → parse gives the same rule set, and the same JSON.
        #[test]
        fn parse_serialise_parse_is_identity(
            whens in proptest::collection::vec(when(), 0..6),
            thens in proptest::collection::vec(then(), 6),
            version in any::<u32>(),
        ) {
            let mut d = doc(&whens, &thens);
            d["version"] = json!(version);
            if let Ok(set) = RuleSet::parse(&d, &Catalogue::builtin()) {
                let j = serde_json::to_value(&set).unwrap();
                let again = RuleSet::parse(&j, &Catalogue::builtin()).unwrap();
                prop_assert_eq!(serde_json::to_value(&again).unwrap(), j);
                prop_assert_eq!(again, set);
            }
        }

        /// A rule reported unreachable really is: whenever it would match,
        /// the rule named as covering it matches too.
        #[test]
        fn unreachable_means_covered(
            first in when(),
            second in when(),
            samples in proptest::collection::vec(any_facts(), 64),
        ) {
            let approve = json!({"decision": "approve"});
            let pair = doc(&[first.clone(), second.clone()], &[approve.clone(), approve.clone()]);
            let Err(errors) = RuleSet::parse(&pair, &Catalogue::builtin()) else {
                return Ok(());
            };
            if !errors.iter().all(|e| e.kind == RuleErrorKind::Unreachable) {
                return Ok(());
            }
            let alone = |w: &Value| RuleSet::parse(&doc(std::slice::from_ref(w), std::slice::from_ref(&approve)), &Catalogue::builtin()).unwrap();
            let (a, b) = (alone(&first), alone(&second));
            for f in &samples {
                if b.evaluate(f).rule_id.is_some() {
                    prop_assert!(a.evaluate(f).rule_id.is_some(), "{} covers {} but not {:?}", first, second, f);
                }
            }
        }
    }
}

// ------------------------------------------------------------ windows to the second

/// Each of the policy's windows (and a rule's time conditions) at one
/// second before, exactly at and one second after its end: a 24-hour
/// window is open at 23:59:59 and 24:00:00 and closed at 24:00:01, where
/// rounding to whole hours kept it open until 24:59:59.
#[test]
fn every_window_closes_to_the_second() {
    use aftersales::domain::policy::ShopPolicy;
    let policy = ShopPolicy::default();
    let fresh_h = i64::from(policy.fresh_claim_window_hours);
    let virtual_d = i64::from(policy.virtual_refund_window_days);
    let return_d = i64::from(policy.no_reason_return_days);
    type SetElapsed = Box<dyn Fn(&mut Facts, i64)>;
    let cases: Vec<(&str, i64, SetElapsed)> = vec![
        (
            "fresh produce window after delivery",
            fresh_h * 3600,
            Box::new(|f: &mut Facts, s| {
                f.claim_type = ClaimType::SpecialClaim {
                    kind: SpecialKind::FreshSpoilage,
                };
                f.seconds_since_delivery = Some(s);
            }),
        ),
        (
            "virtual goods window after payment",
            virtual_d * 86400,
            Box::new(|f: &mut Facts, s| {
                f.claim_type = ClaimType::SpecialClaim {
                    kind: SpecialKind::VirtualUnused,
                };
                f.seconds_since_payment = Some(s);
            }),
        ),
        (
            "no-reason return window after delivery",
            return_d * 86400,
            Box::new(|f: &mut Facts, s| {
                f.claim_type = ClaimType::ReturnRefund;
                f.seconds_since_delivery = Some(s);
            }),
        ),
    ];
    for (what, end, set) in cases {
        assert!(end > 0, "{what}");
        for (at, open) in [
            (end - 1, true),
            (end, true),
            (end + 1, false),
            (end + 3599, false),
        ] {
            let f = with(|f| {
                f.windows = (&policy).into();
                set(f, at)
            });
            assert_eq!(
                f.within_policy_window(),
                open,
                "{what} at {at} s (ends at {end} s)"
            );
        }
    }
    // Rule conditions on time, at the same edges.
    let at = |s: i64| with(|f| f.seconds_since_delivery = Some(s));
    let day = 24 * 3600;
    splits(
        json!({"hours_since_delivery": {"lte": 24}}),
        &at(day),
        &at(day + 1),
    );
    splits(
        json!({"hours_since_delivery": {"lt": 24}}),
        &at(day - 1),
        &at(day),
    );
    splits(
        json!({"hours_since_delivery": {"gt": 24}}),
        &at(day + 1),
        &at(day),
    );
    splits(
        json!({"hours_since_delivery": {"gte": 24}}),
        &at(day),
        &at(day - 1),
    );
    splits(
        json!({"days_since_delivery": {"lte": 7}}),
        &at(7 * day),
        &at(7 * day + 1),
    );
    splits(
        json!({"days_since_delivery": {"gt": 7}}),
        &at(7 * day + 1),
        &at(7 * day),
    );
    // `eq 24` is the 25th hour.
    splits(
        json!({"hours_since_delivery": {"eq": 24}}),
        &at(day + 3599),
        &at(day + 3600),
    );
    splits(
        json!({"hours_since_delivery": {"eq": 24}}),
        &at(day),
        &at(day - 1),
    );
}
