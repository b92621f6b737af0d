//! The OpenAPI document's examples match their schemas and read as the
//! Rust types.

use super::helpers::{assert_valid, openapi, operations, resolve};
use aftersales::app::SubmitClaim;
use aftersales::domain::money::Money;
use aftersales::domain::order::OrderDraft;
use aftersales_tests::http::sample_order;
use serde_json::{json, Value};

/// Every example in the document, with the schema it illustrates.
fn examples(spec: &Value) -> Vec<(String, &Value, &Value)> {
    let mut out = Vec::new();
    for ((method, path), op) in operations(spec) {
        let mut contents: Vec<(String, &Value)> = Vec::new();
        if let Some(c) = op.pointer("/requestBody/content/application~1json") {
            contents.push((format!("{method} {path} request"), c));
        }
        for (status, r) in op["responses"].as_object().into_iter().flatten() {
            if let Some(c) = resolve(spec, r).pointer("/content/application~1json") {
                contents.push((format!("{method} {path} {status}"), c));
            }
        }
        for (at, c) in contents {
            if let Some(e) = c.get("example") {
                out.push((at.clone(), &c["schema"], e));
            }
            for (name, e) in c["examples"].as_object().into_iter().flatten() {
                out.push((
                    format!("{at} ({name})"),
                    &c["schema"],
                    &resolve(spec, e)["value"],
                ));
            }
        }
    }
    for (name, s) in spec["components"]["schemas"].as_object().expect("schemas") {
        if let Some(e) = s.get("example") {
            out.push((format!("components/schemas/{name}"), s, e));
        }
    }
    out
}

#[test]
fn openapi_examples_match_their_schemas_and_the_rust_types() {
    let spec = openapi();
    let all = examples(&spec);
    assert!(all.len() > 10, "the document has its examples");
    for (at, schema, example) in &all {
        assert_valid(&spec, schema, example, &format!("example {at}"));
    }
    let body_example = |method: &str, path: &str| -> Value {
        spec["paths"][path][method]["requestBody"]["content"]["application/json"]["example"].clone()
    };
    let draft: OrderDraft =
        serde_json::from_value(body_example("put", "/v1/shops/{shop_id}/orders/{order_id}"))
            .unwrap_or_else(|e| panic!("the PUT order example is not an OrderDraft: {e}"));
    assert_eq!(draft.customer_id, "cust-100");
    // It is the sample order the tests use.
    assert_eq!(serde_json::to_value(&draft).unwrap(), {
        let d: OrderDraft = serde_json::from_value(sample_order("cust-100")).unwrap();
        serde_json::to_value(d).unwrap()
    });
    let claim: SubmitClaim = serde_json::from_value(body_example("post", "/v1/claims"))
        .unwrap_or_else(|e| panic!("the POST claim example is not a SubmitClaim: {e}"));
    assert_eq!(claim.lines.len(), 1);
    let money: Money =
        serde_json::from_value(spec["components"]["schemas"]["Money"]["example"].clone())
            .expect("the Money example is Money");
    assert_eq!(money.minor(), 8894);
    merchant_examples_are_the_rust_types(&spec);
}

/// The merchant routes' examples read as the Rust types, and the examples
/// of defaults are the defaults.
fn merchant_examples_are_the_rust_types(spec: &Value) {
    use aftersales::app::desk::{BatchRequest, StaffDecision};
    use aftersales::domain::policy::ShopPolicy;
    use aftersales::domain::rejections::Catalogue;
    use aftersales::domain::rules::{default_rules, RuleSet};

    let at = |pointer: &str| -> Value {
        spec.pointer(pointer)
            .unwrap_or_else(|| panic!("openapi: nothing at {pointer}"))
            .clone()
    };
    let body = |path: &str, method: &str| {
        format!(
            "/paths/{}/{method}/requestBody/content/application~1json",
            path.replace('/', "~1")
        )
    };

    let policy: ShopPolicy = serde_json::from_value(at(&format!(
        "{}/example",
        body("/v1/shops/{shop_id}/policy", "put")
    )))
    .expect("the PUT policy example is a ShopPolicy");
    assert_eq!(policy.validate(), Ok(()), "the PUT policy example is valid");
    assert_eq!(
        at("/components/examples/DefaultShopPolicy/value"),
        serde_json::to_value(ShopPolicy::default()).unwrap(),
        "the default policy example"
    );

    let extras: Catalogue = serde_json::from_value(at(&format!(
        "{}/example",
        body("/v1/shops/{shop_id}/rejection-reasons", "put")
    )))
    .expect("the PUT rejection reasons example is a catalogue");
    assert_eq!(
        at("/components/examples/RejectionReasons/value"),
        json!({"reasons": extras.all(), "extras": extras.extras()}),
        "the rejection reasons example: the built-ins and the PUT example"
    );

    let rules = at(&format!(
        "{}/example",
        body("/v1/shops/{shop_id}/rules", "put")
    ));
    RuleSet::parse(&rules, &Catalogue::builtin())
        .unwrap_or_else(|e| panic!("the PUT rules example does not validate: {e:?}"));
    let mut defaults = serde_json::to_value(default_rules()).unwrap();
    defaults["version"] = json!(0);
    assert_eq!(
        at("/components/examples/DefaultRuleSet/value"),
        defaults,
        "the default rule set example"
    );
    let when = at("/components/schemas/RuleConditions/example");
    let one = json!({"rules": [{"id": "x", "when": when, "then": {"decision": "approve"}}]});
    RuleSet::parse(&one, &Catalogue::builtin())
        .unwrap_or_else(|e| panic!("the RuleConditions example does not validate: {e:?}"));

    let decisions = at(&format!(
        "{}/examples",
        body(
            "/v1/shops/{shop_id}/desk/claims/{claim_id}/decision",
            "post"
        )
    ));
    for (name, e) in decisions.as_object().expect("decision examples") {
        serde_json::from_value::<StaffDecision>(e["value"].clone())
            .unwrap_or_else(|err| panic!("decision example {name}: {err}"));
    }
    let batches = at(&format!(
        "{}/examples",
        body("/v1/shops/{shop_id}/desk/batch", "post")
    ));
    for (name, e) in batches.as_object().expect("batch examples") {
        serde_json::from_value::<BatchRequest>(e["value"].clone())
            .unwrap_or_else(|err| panic!("batch example {name}: {err}"));
    }
}
