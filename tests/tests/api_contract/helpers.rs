//! What the checks share: the workspace's files, the router's routes, the
//! OpenAPI document, a validator for its schemas and a call to the app
//! checked against them.

use aftersales::api::ROUTES;
use aftersales::domain::money::Money;
use aftersales_tests::http::TestApp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub(crate) type Route = (String, String);

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

pub(crate) fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub(crate) fn read(rel: &str) -> String {
    let path = workspace_file(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub(crate) fn routes() -> BTreeSet<Route> {
    let set: BTreeSet<Route> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(set.len(), ROUTES.len(), "ROUTES lists a route twice");
    set
}

pub(crate) fn show(routes: &[&Route]) -> String {
    routes
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Asserts two route sets are equal, naming what is missing on each side.
pub(crate) fn assert_same_routes(
    found: &BTreeSet<Route>,
    found_in: &str,
    expected: &BTreeSet<Route>,
) {
    let extra: Vec<_> = found.difference(expected).collect();
    let missing: Vec<_> = expected.difference(found).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{found_in} and aftersales::api::ROUTES differ.\n  only in {found_in}: [{}]\n  only in ROUTES: [{}]",
        show(&extra),
        show(&missing)
    );
}

pub(crate) fn path_param_names(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

pub(crate) fn openapi() -> Value {
    serde_yaml::from_str(&read("infra/openapi.yaml"))
        .unwrap_or_else(|e| panic!("infra/openapi.yaml is not valid YAML: {e}"))
}

/// Follows a local `$ref` (`#/components/...`).
pub(crate) fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r
                .strip_prefix('#')
                .and_then(|p| spec.pointer(p))
                .unwrap_or_else(|| panic!("openapi: unresolvable $ref {r}"));
            resolve(spec, target)
        }
        None => v,
    }
}

/// (METHOD, path) → operation object.
pub(crate) fn operations(spec: &Value) -> BTreeMap<Route, &Value> {
    let paths = spec["paths"].as_object().expect("openapi: paths");
    let mut ops = BTreeMap::new();
    for (path, item) in paths {
        for (key, op) in item.as_object().expect("openapi: path item") {
            if HTTP_METHODS.contains(&key.as_str()) {
                ops.insert((key.to_uppercase(), path.clone()), op);
            }
        }
    }
    ops
}

/// A small validator for the OpenAPI 3.0 schema subset the document uses:
/// $ref, type, nullable, enum, properties, required, additionalProperties
/// (false: nothing undocumented), items, min/max items and length,
/// minimum/maximum, allOf, oneOf. Formats and patterns are not checked;
/// instead every value documented as Money must parse as the Rust Money.
fn validate(spec: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if r == "#/components/schemas/Money" {
            if let Err(e) = serde_json::from_value::<Money>(v.clone()) {
                errors.push(format!("{at}: not Money: {e}"));
            }
        }
        return validate(spec, resolve(spec, schema), v, at, errors);
    }
    if v.is_null() {
        if schema["nullable"] != true {
            errors.push(format!("{at}: null is not allowed"));
        }
        return;
    }
    for sub in schema["allOf"].as_array().into_iter().flatten() {
        validate(spec, sub, v, at, errors);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(spec, o, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of the oneOf schemas, not 1"
            ));
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            errors.push(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    let type_ok = match schema["type"].as_str() {
        None => true,
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some(other) => panic!("{at}: schema type {other} not handled"),
    };
    if !type_ok {
        errors.push(format!("{at}: {v} is not of type {}", schema["type"]));
        return;
    }
    if let Some(n) = v.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|min| n < min) {
            errors.push(format!(
                "{at}: {n} is below the minimum {}",
                schema["minimum"]
            ));
        }
        if schema["maximum"].as_f64().is_some_and(|max| n > max) {
            errors.push(format!(
                "{at}: {n} is above the maximum {}",
                schema["maximum"]
            ));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| len < min)
            || schema["maxLength"].as_u64().is_some_and(|max| len > max)
        {
            errors.push(format!("{at}: length {len} out of bounds"));
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if schema["minItems"].as_u64().is_some_and(|min| n < min)
            || schema["maxItems"].as_u64().is_some_and(|max| n > max)
        {
            errors.push(format!("{at}: {n} items, out of bounds"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(spec, item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().expect("required names");
            if !obj.contains_key(key) {
                errors.push(format!("{at}: required property {key} is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (key, value) in obj {
            match props.and_then(|p| p.get(key)) {
                Some(s) => validate(spec, s, value, &format!("{at}.{key}"), errors),
                None if schema["additionalProperties"] == false => {
                    errors.push(format!("{at}: property {key} is not documented"))
                }
                None => {}
            }
        }
    }
}

pub(crate) fn assert_valid(spec: &Value, schema: &Value, v: &Value, what: &str) {
    let mut errors = Vec::new();
    validate(spec, schema, v, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{what} does not match infra/openapi.yaml:\n  {}\nvalue: {v:#}",
        errors.join("\n  ")
    );
}

/// The JSON schema of `status` for `method path`, which must be documented.
pub(crate) fn response_schema<'a>(
    spec: &'a Value,
    method: &str,
    path: &str,
    status: u16,
) -> &'a Value {
    let op = &spec["paths"][path][method.to_lowercase()];
    let response = op["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("openapi: {method} {path} does not document status {status}"));
    &resolve(spec, response)["content"]["application/json"]["schema"]
}

/// Calls the app and checks the answer against the document: the status is
/// documented for the route and the body matches its schema.
pub(crate) async fn checked(
    spec: &Value,
    app: &TestApp,
    (method, template, path): (&str, &str, &str),
    token: Option<&str>,
    body: Option<&Value>,
    expect: u16,
) -> Value {
    let (status, got) = app.call(method, path, token, body, &[]).await;
    assert_eq!(status, expect, "{method} {path}: {got}");
    let schema = response_schema(spec, method, template, status);
    assert_valid(
        spec,
        schema,
        &got,
        &format!("{method} {template} → {status}"),
    );
    got
}
