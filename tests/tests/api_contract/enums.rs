//! The document's closed vocabularies are the code's: each enum lists the
//! variants of its Rust type, and the rule language is the parser's.

use super::helpers::{openapi, resolve};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The variants of a Rust enum, read from serde's "unknown variant"
/// message for `probe` (a value naming a variant that does not exist).
fn rust_variants<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    probe: Value,
) -> BTreeSet<String> {
    let e = serde_json::from_value::<T>(probe.clone())
        .expect_err("the probe names no variant")
        .to_string();
    let expected = e
        .split_once("expected")
        .unwrap_or_else(|| panic!("unexpected serde message for {probe}: {e}"))
        .1;
    let names: BTreeSet<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!names.is_empty(), "no variants in {e:?}");
    names
}

/// Every enum in the document lists exactly the variants of its Rust type,
/// so a new status, reason or event cannot slip past the document.
#[test]
fn openapi_enums_are_the_rust_enums() {
    use aftersales::app::desk::{BatchDecision, StaffDecision};
    use aftersales::domain::claim::{
        Actor, ClaimEvent, ClaimStatus, ClaimType, ReasonCode, SpecialKind,
    };
    use aftersales::domain::money::Currency;
    use aftersales::domain::order::{
        FulfilmentState, Language, MemberTier, PaymentChannel, PaymentKind, ProductKind,
    };
    use aftersales::domain::policy::Payer;
    use aftersales::domain::rules::{CourierStatus, Outcome};

    let spec = openapi();
    let zzz = json!("zzz");
    let cases: Vec<(&str, BTreeSet<String>)> = vec![
        (
            "/components/schemas/Currency",
            rust_variants::<Currency>(zzz.clone()),
        ),
        (
            "/components/schemas/ProductKind",
            rust_variants::<ProductKind>(zzz.clone()),
        ),
        (
            "/components/schemas/PaymentChannel",
            rust_variants::<PaymentChannel>(zzz.clone()),
        ),
        (
            "/components/schemas/Payment/properties/kind",
            rust_variants::<PaymentKind>(zzz.clone()),
        ),
        (
            "/components/schemas/MemberTier",
            rust_variants::<MemberTier>(zzz.clone()),
        ),
        (
            "/components/schemas/OrderDraft/properties/language",
            rust_variants::<Language>(zzz.clone()),
        ),
        (
            "/components/schemas/Order/properties/language",
            rust_variants::<Language>(zzz.clone()),
        ),
        (
            "/components/schemas/FulfilmentState",
            rust_variants::<FulfilmentState>(zzz.clone()),
        ),
        (
            "/components/schemas/ClaimType",
            rust_variants::<ClaimType>(json!({"type": "zzz"})),
        ),
        (
            "/components/schemas/SpecialKind",
            rust_variants::<SpecialKind>(zzz.clone()),
        ),
        (
            "/components/schemas/ReasonCode",
            rust_variants::<ReasonCode>(zzz.clone()),
        ),
        (
            "/components/schemas/ClaimStatus",
            rust_variants::<ClaimStatus>(zzz.clone()),
        ),
        (
            "/components/schemas/ClaimEvent",
            rust_variants::<ClaimEvent>(json!({"event": "zzz"})),
        ),
        (
            "/components/schemas/Actor/properties/kind",
            rust_variants::<Actor>(json!({"kind": "zzz"})),
        ),
        (
            "/components/schemas/Payer",
            rust_variants::<Payer>(zzz.clone()),
        ),
        (
            "/components/schemas/BatchDecision",
            rust_variants::<BatchDecision>(zzz.clone()),
        ),
        // The rule language's values: the Rust enums plus "none".
        (
            "/components/schemas/RuleSpecialKind",
            with_none(rust_variants::<SpecialKind>(zzz.clone())),
        ),
        (
            "/components/schemas/RuleCourierStatus",
            with_none(rust_variants::<CourierStatus>(zzz.clone())),
        ),
    ];
    for (pointer, rust) in cases {
        let documented: BTreeSet<String> = spec
            .pointer(&format!("{pointer}/enum"))
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("openapi: no enum at {pointer}"))
            .iter()
            .map(|v| v.as_str().expect("enum values are strings").to_string())
            .collect();
        assert_eq!(
            documented, rust,
            "openapi enum at {pointer} vs the Rust type"
        );
    }

    // Tagged unions: the `decision` of each oneOf member, and the
    // discriminator's mapping, are the Rust variants.
    for (pointer, rust) in [
        (
            "/components/schemas/StaffDecision",
            rust_variants::<StaffDecision>(json!({"decision": "zzz"})),
        ),
        (
            "/components/schemas/RuleOutcome",
            rust_variants::<Outcome>(json!({"decision": "zzz"})),
        ),
    ] {
        let union = &spec.pointer(pointer).expect(pointer);
        let tags: BTreeSet<String> = union["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("openapi: {pointer} is a oneOf"))
            .iter()
            .flat_map(|member| {
                resolve(&spec, member)["properties"]["decision"]["enum"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|v| v.as_str().expect("a tag").to_string())
            .collect();
        assert_eq!(tags, rust, "openapi {pointer}: decisions vs the Rust type");
        let mapped: BTreeSet<String> = union["discriminator"]["mapping"]
            .as_object()
            .unwrap_or_else(|| panic!("openapi: {pointer} has a discriminator mapping"))
            .keys()
            .cloned()
            .collect();
        assert_eq!(mapped, rust, "openapi {pointer}: discriminator mapping");
    }

    // The queue counts claims per status, by the status's name.
    let counts: BTreeSet<String> = spec["components"]["schemas"]["QueueCounts"]["properties"]
        .as_object()
        .expect("QueueCounts properties")
        .keys()
        .cloned()
        .collect();
    assert_eq!(counts, rust_variants::<ClaimStatus>(zzz), "QueueCounts");

    // The event types a webhook endpoint may ask for are the public
    // catalogue's.
    let hook_types: BTreeSet<String> = spec["components"]["schemas"]["WebhookEventType"]["enum"]
        .as_array()
        .expect("WebhookEventType enum")
        .iter()
        .map(|v| v.as_str().expect("a name").to_string())
        .collect();
    let all: BTreeSet<String> = aftersales::domain::catalogue::PublicType::ALL
        .iter()
        .map(|t| t.as_str().to_string())
        .collect();
    assert_eq!(hook_types, all, "WebhookEventType vs PublicType::ALL");
    let states: BTreeSet<String> = spec["components"]["schemas"]["WebhookDelivery"]["properties"]
        ["state"]["enum"]
        .as_array()
        .expect("WebhookDelivery state enum")
        .iter()
        .map(|v| v.as_str().expect("a state").to_string())
        .collect();
    assert_eq!(
        states,
        rust_variants::<aftersales::hooks::DeliveryState>(json!("zzz")),
        "WebhookDelivery state"
    );
}

fn with_none(mut values: BTreeSet<String>) -> BTreeSet<String> {
    values.insert("none".into());
    values
}

/// The rule language in the document is the parser's: the facts a
/// condition may name, each fact's operators and values, and the
/// decisions, all read from the parser's own error messages.
#[test]
fn openapi_rule_language_is_the_parsers() {
    use aftersales::domain::rejections::Catalogue;
    use aftersales::domain::rules::RuleSet;

    let spec = openapi();
    // The message of the one problem of a one-rule set.
    let problem = |when: Value, then: Value| -> String {
        let doc = json!({"rules": [{"id": "probe", "when": when, "then": then}]});
        let errors =
            RuleSet::from_value(&doc, &Catalogue::builtin()).expect_err("the probe is refused");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].message.clone()
    };
    // "... (<marker> a, b, c)" → {a, b, c}
    let listed = |message: &str, marker: &str| -> BTreeSet<String> {
        let rest = message
            .split_once(marker)
            .unwrap_or_else(|| panic!("{marker:?} not in {message:?}"))
            .1;
        rest.split_once(')')
            .map_or(rest, |(list, _)| list)
            .split(", ")
            .map(str::to_string)
            .collect()
    };
    let approve = json!({"decision": "approve"});

    let conditions = &spec["components"]["schemas"]["RuleConditions"]["properties"];
    let documented: BTreeSet<String> = conditions
        .as_object()
        .expect("RuleConditions properties")
        .keys()
        .cloned()
        .collect();
    let m = problem(json!({"zzz": {"eq": 1}}), approve.clone());
    assert_eq!(documented, listed(&m, "known facts: "), "the facts");

    for fact in &documented {
        let schema = resolve(&spec, &conditions[fact]);
        let ops: BTreeSet<String> = schema["properties"]
            .as_object()
            .expect("operators")
            .keys()
            .cloned()
            .collect();
        let m = problem(json!({ fact: {"zzz": 1} }), approve.clone());
        assert_eq!(ops, listed(&m, "this fact takes "), "operators of {fact}");

        // Enumerated facts: the values of their operators.
        let op = if ops.contains("eq") { "eq" } else { "any_in" };
        let value_schema = match op {
            "eq" => resolve(&spec, &schema["properties"]["eq"]),
            _ => resolve(&spec, &schema["properties"][op]["items"]),
        };
        let Some(values) = value_schema["enum"].as_array() else {
            continue;
        };
        if values.iter().all(Value::is_boolean) {
            continue;
        }
        let values: BTreeSet<String> = values
            .iter()
            .map(|v| v.as_str().expect("a value").to_string())
            .collect();
        let arg = if op == "eq" {
            json!("zzz")
        } else {
            json!(["zzz"])
        };
        let m = problem(json!({ fact: { op: arg } }), approve.clone());
        assert_eq!(values, listed(&m, "expected one of "), "values of {fact}");
    }

    let outcomes: BTreeSet<String> = spec["components"]["schemas"]["RuleOutcome"]["discriminator"]
        ["mapping"]
        .as_object()
        .expect("RuleOutcome mapping")
        .keys()
        .cloned()
        .collect();
    let m = problem(json!({}), json!({"decision": "zzz"}));
    assert_eq!(outcomes, listed(&m, "expected one of "), "the decisions");
}
