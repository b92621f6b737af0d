//! The document stays in the form client generators read without losing
//! anything (issue 17): no `$ref` points into another schema's
//! properties (openapi-python-client, for one, cannot resolve those and
//! drops every schema and operation built on them; a shared enum or object
//! is a component schema of its own), and no `nullable` sits beside an
//! `allOf` or a `$ref` (a nullable reference is written
//! `oneOf: [{$ref: ...}]` with `nullable: true`). The Python client
//! generated from the document is checked for real by
//! `local/tests/python_client.rs`.

use super::helpers::openapi;
use serde_json::Value;

fn walk(v: &Value, at: &str, problems: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                if r.contains("/properties/") {
                    problems.push(format!(
                        "{at}: $ref {r} points into another schema's properties; \
                         make what it names a component schema of its own"
                    ));
                }
            }
            if map.contains_key("nullable") {
                for beside in ["allOf", "$ref"] {
                    if map.contains_key(beside) {
                        problems.push(format!(
                            "{at}: `nullable` beside `{beside}`; write a nullable \
                             reference as `oneOf: [{{$ref: ...}}]` with `nullable: true`"
                        ));
                    }
                }
            }
            for (key, child) in map {
                walk(
                    child,
                    &format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")),
                    problems,
                );
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}

/// The problems of a document, as `pointer: what`.
fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(doc, "#", &mut out);
    out
}

#[test]
fn openapi_has_no_refs_into_properties_nor_nullable_beside_a_reference() {
    let found = problems(&openapi());
    assert!(
        found.is_empty(),
        "infra/openapi.yaml is not generator-friendly:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_check_finds_what_it_looks_for() {
    let doc = serde_json::json!({"components": {"schemas": {
        "A": {"type": "object", "properties": {"t": {"type": "string", "enum": ["x"]}}},
        "B": {"type": "object", "properties": {
            "t": {"$ref": "#/components/schemas/A/properties/t"},
            "a": {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": true},
            "b": {"$ref": "#/components/schemas/A", "nullable": true},
            "ok": {"oneOf": [{"$ref": "#/components/schemas/A"}], "nullable": true}
        }}
    }}});
    let mut found = problems(&doc);
    found.sort();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("#/components/schemas/B/properties/a: `nullable` beside `allOf`"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("#/components/schemas/B/properties/b: `nullable` beside `$ref`"),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with(
            "#/components/schemas/B/properties/t: $ref #/components/schemas/A/properties/t"
        ),
        "{found:#?}"
    );
}
