//! The API's three descriptions agree: the router's `ROUTES`, the OpenAPI
//! document (`infra/openapi.yaml`) and the SAM template's HttpApi events
//! (`infra/template.yaml`). And the OpenAPI document tells the truth about
//! bodies: its examples parse as the Rust types, and real responses of the
//! router match its schemas for the status they came with.

use aftersales::api::{PUBLIC_ROUTES, ROUTES};
use aftersales::app::SubmitClaim;
use aftersales::auth::StaffRole;
use aftersales::domain::money::Money;
use aftersales::domain::order::OrderDraft;
use aftersales_tests::http::{sample_order, spawn_app, TestApp};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Route = (String, String);

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn read(rel: &str) -> String {
    let path = workspace_file(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn routes() -> BTreeSet<Route> {
    let set: BTreeSet<Route> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(set.len(), ROUTES.len(), "ROUTES lists a route twice");
    set
}

fn show(routes: &[&Route]) -> String {
    routes
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Asserts two route sets are equal, naming what is missing on each side.
fn assert_same_routes(found: &BTreeSet<Route>, found_in: &str, expected: &BTreeSet<Route>) {
    let extra: Vec<_> = found.difference(expected).collect();
    let missing: Vec<_> = expected.difference(found).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{found_in} and aftersales::api::ROUTES differ.\n  only in {found_in}: [{}]\n  only in ROUTES: [{}]",
        show(&extra),
        show(&missing)
    );
}

fn path_param_names(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------------ OpenAPI

fn openapi() -> Value {
    serde_yaml::from_str(&read("infra/openapi.yaml"))
        .unwrap_or_else(|e| panic!("infra/openapi.yaml is not valid YAML: {e}"))
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
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
fn operations(spec: &Value) -> BTreeMap<Route, &Value> {
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

#[test]
fn openapi_describes_exactly_the_routes() {
    let spec = openapi();
    assert_eq!(spec["openapi"], "3.0.3");
    let ops = operations(&spec);
    let found: BTreeSet<Route> = ops.keys().cloned().collect();
    assert_same_routes(&found, "infra/openapi.yaml", &routes());

    let mut operation_ids = BTreeSet::new();
    for ((method, path), op) in &ops {
        let at = format!("openapi {method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: operationId"));
        assert!(
            operation_ids.insert(id),
            "{at}: operationId {id} used twice"
        );

        // Its path parameters are declared, required, and nothing else is.
        let item = &spec["paths"][path.as_str()];
        let declared: BTreeSet<String> = [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| resolve(&spec, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{at}: path parameter {} must be required",
                    p["name"]
                );
                p["name"].as_str().expect("parameter name").to_string()
            })
            .collect();
        assert_eq!(declared, path_param_names(path), "{at}: path parameters");

        // Health is open; everything else needs the bearer token and says
        // what happens without one.
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: responses"));
        if PUBLIC_ROUTES.contains(&(method.as_str(), path.as_str())) {
            assert_eq!(op["security"], json!([]), "{at}: public, needs no token");
        } else {
            let security = op.get("security").unwrap_or(&spec["security"]);
            assert_eq!(security, &json!([{"bearerAuth": []}]), "{at}: security");
            assert!(responses.contains_key("401"), "{at}: documents 401");
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}),
    );
    let submit = &ops[&("POST".to_string(), "/v1/claims".to_string())];
    let has_idempotency_key = submit["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(&spec, p))
        .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
    assert!(
        has_idempotency_key,
        "POST /v1/claims documents the Idempotency-Key header"
    );
    for schema in ["Money", "Order", "Claim", "Error"] {
        assert!(
            spec["components"]["schemas"].get(schema).is_some(),
            "components/schemas/{schema}"
        );
    }
}

// ------------------------------------------------------------------ router

/// The router's fallback (no such path) or a 405 (path known, method not):
/// either way the route is not there.
fn is_missing_route(status: u16, body: &Value) -> bool {
    status == 405
        || (status == 404
            && body["error"]["code"] == "not_found"
            && body["error"]["message"] == "no such route")
}

fn with_placeholders(path: &str) -> String {
    path.split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("placeholder-{}", name.replace('_', "-")),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_answers_through_the_router() {
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;

    // The probe can tell a missing route from a present one.
    let (s, b) = app.call("GET", "/v1/no-such-route", None, None, &[]).await;
    assert!(is_missing_route(s, &b), "fallback: {s} {b}");
    let (s, b) = app.call("DELETE", "/v1/claims", None, None, &[]).await;
    assert!(
        is_missing_route(s, &b),
        "a method the path does not serve: {s} {b}"
    );

    for (method, path) in ROUTES {
        let url = with_placeholders(path);
        let (status, body) = app.call(method, &url, None, None, &[]).await;
        assert!(
            !is_missing_route(status, &body),
            "{method} {path} is in ROUTES but the router does not serve it ({method} {url} → {status} {body})"
        );
        if *path == "/v1/health" {
            assert_eq!(
                (status, &body),
                (200, &json!({"status": "ok"})),
                "{method} {path}"
            );
        } else if PUBLIC_ROUTES.contains(&(method, path)) {
            assert_eq!(status, 200, "public {method} {path} without a token: {body}");
        } else {
            assert_eq!(status, 401, "{method} {path} without a token: {body}");
            assert_eq!(
                body["error"]["code"], "unauthorized",
                "{method} {path}: {body}"
            );
        }
    }
}

// ------------------------------------------------------------------ template

/// Looks through tags on mappings and sequences (`!If` and friends are not
/// expected where routes are declared; tagged scalars are reported).
fn untag(v: &Yaml) -> &Yaml {
    match v {
        Yaml::Tagged(t) if matches!(t.value, Yaml::Mapping(_) | Yaml::Sequence(_)) => {
            untag(&t.value)
        }
        v => v,
    }
}

fn yfield<'a>(v: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    untag(v).as_mapping().and_then(|m| m.get(key))
}

fn ystr(v: &Yaml, at: &str) -> String {
    match untag(v) {
        Yaml::String(s) => s.clone(),
        Yaml::Tagged(t) => panic!(
            "{at}: expected a literal, found the intrinsic function {} (routes must be literal so they can be checked)",
            t.tag
        ),
        other => panic!("{at}: expected a string, found {other:?}"),
    }
}

struct Function {
    logical_id: String,
    binary: Option<String>,
    routes: Vec<(Route, String)>,
}

/// Every AWS::Serverless::Function of the template with its HttpApi events.
fn template_functions() -> Vec<Function> {
    let template: Yaml = serde_yaml::from_str(&read("infra/template.yaml"))
        .unwrap_or_else(|e| panic!("infra/template.yaml is not valid YAML: {e}"));
    let resources = yfield(&template, "Resources")
        .and_then(|r| untag(r).as_mapping())
        .expect("infra/template.yaml: Resources");
    let mut functions = Vec::new();
    for (id, res) in resources {
        let id = ystr(id, "Resources");
        if yfield(res, "Type").map(|t| ystr(t, &id)).as_deref() != Some("AWS::Serverless::Function")
        {
            continue;
        }
        let binary = yfield(res, "Metadata")
            .and_then(|m| yfield(m, "BuildProperties"))
            .and_then(|b| yfield(b, "Binary"))
            .map(|b| ystr(b, &format!("{id}.Metadata.BuildProperties.Binary")));
        let mut routes = Vec::new();
        let events = yfield(res, "Properties").and_then(|p| yfield(p, "Events"));
        for (name, ev) in events
            .and_then(|e| untag(e).as_mapping())
            .into_iter()
            .flatten()
        {
            let name = ystr(name, &format!("{id}.Events"));
            let at = format!("{id}.Events.{name}");
            if yfield(ev, "Type").map(|t| ystr(t, &at)).as_deref() != Some("HttpApi") {
                continue;
            }
            let props = yfield(ev, "Properties").unwrap_or_else(|| {
                panic!("{at}: an HttpApi event without Properties is the catch-all route; name Method and Path")
            });
            let method = yfield(props, "Method")
                .map(|m| ystr(m, &format!("{at}.Method")))
                .unwrap_or_else(|| panic!("{at}: no Method (that means ANY)"));
            let path = yfield(props, "Path")
                .map(|p| ystr(p, &format!("{at}.Path")))
                .unwrap_or_else(|| panic!("{at}: no Path"));
            let public = yfield(props, "Auth")
                .and_then(|a| yfield(a, "Authorizer"))
                .is_some_and(|a| ystr(a, &format!("{at}.Auth.Authorizer")) == "NONE");
            let listed_public = PUBLIC_ROUTES
                .iter()
                .any(|(m, p)| m.eq_ignore_ascii_case(&method) && *p == path);
            assert_eq!(
                public, listed_public,
                "{at}: the JWT authorizer is off exactly for aftersales::api::PUBLIC_ROUTES"
            );
            routes.push(((method.to_uppercase(), path), at));
        }
        functions.push(Function {
            logical_id: id,
            binary,
            routes,
        });
    }
    functions
}

#[test]
fn template_routes_every_route_to_a_function() {
    let functions = template_functions();
    let mut routed: BTreeMap<Route, String> = BTreeMap::new();
    for f in &functions {
        for (route, at) in &f.routes {
            if let Some(before) = routed.insert(route.clone(), at.clone()) {
                panic!("{} {} is routed twice: {before} and {at}", route.0, route.1);
            }
        }
    }
    assert!(
        !routed.is_empty(),
        "infra/template.yaml has no HttpApi events (functions: {:?})",
        functions.iter().map(|f| &f.logical_id).collect::<Vec<_>>()
    );
    let all = routes();
    for (route, at) in &routed {
        assert!(
            all.contains(route),
            "{at}: {} {} is not in ROUTES",
            route.0,
            route.1
        );
    }
    // Health is for the one-machine runner: API Gateway answers for itself.
    let needed: BTreeSet<Route> = all
        .into_iter()
        .filter(|(m, p)| !(m == "GET" && p == "/v1/health"))
        .collect();
    let unrouted: Vec<_> = needed.iter().filter(|r| !routed.contains_key(*r)).collect();
    assert!(
        unrouted.is_empty(),
        "routes no function in infra/template.yaml serves: [{}]",
        show(&unrouted)
    );
}

/// `events/<binary>/x.json` is an event for the function built from
/// `<binary>`: its routeKey is one of that function's HttpApi events, so
/// `sam local invoke <Function> -e events/<binary>/x.json` is the real thing.
#[test]
fn sample_events_belong_to_the_function_of_their_folder() {
    let functions = template_functions();
    let dir = workspace_file("events");
    let mut folders = 0;
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let folder = entry.expect("entry").path();
        if !folder.is_dir() {
            continue;
        }
        folders += 1;
        let binary = folder.file_name().unwrap().to_string_lossy().into_owned();
        let f = functions
            .iter()
            .find(|f| f.binary.as_deref() == Some(binary.as_str()))
            .unwrap_or_else(|| panic!("events/{binary}/: no function in infra/template.yaml builds the binary {binary}"));
        // Stream consumers get stream batches, not HTTP events (checked by
        // events_replay.rs).
        if f.routes.is_empty() {
            continue;
        }
        for file in std::fs::read_dir(&folder).expect("events folder") {
            let file = file.expect("entry").path();
            if file.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let ev: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("read event"))
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let key = ev["routeKey"].as_str().unwrap_or_default();
            let (m, p) = key.split_once(' ').unwrap_or_default();
            assert!(
                f.routes.iter().any(|((rm, rp), _)| rm == m && rp == p),
                "{}: routeKey {key:?} is not an HttpApi event of {}",
                file.display(),
                f.logical_id
            );
        }
    }
    assert!(folders > 0, "no event folders under events/");
}

// ------------------------------------------------------------------ schemas

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

fn assert_valid(spec: &Value, schema: &Value, v: &Value, what: &str) {
    let mut errors = Vec::new();
    validate(spec, schema, v, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{what} does not match infra/openapi.yaml:\n  {}\nvalue: {v:#}",
        errors.join("\n  ")
    );
}

/// The JSON schema of `status` for `method path`, which must be documented.
fn response_schema<'a>(spec: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let op = &spec["paths"][path][method.to_lowercase()];
    let response = op["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("openapi: {method} {path} does not document status {status}"));
    &resolve(spec, response)["content"]["application/json"]["schema"]
}

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
}

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
    use aftersales::domain::claim::{
        Actor, ClaimEvent, ClaimStatus, ClaimType, ReasonCode, SpecialKind,
    };
    use aftersales::domain::money::Currency;
    use aftersales::domain::order::{
        FulfilmentState, Language, MemberTier, PaymentChannel, PaymentKind, ProductKind,
    };

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
            "/components/schemas/OrderDraft/properties/member_tier",
            rust_variants::<MemberTier>(zzz.clone()),
        ),
        (
            "/components/schemas/Order/properties/member_tier",
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
            "/components/schemas/Fulfilment/properties/state",
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
            "/components/schemas/TimelineEntry/properties/event",
            rust_variants::<ClaimEvent>(json!({"event": "zzz"})),
        ),
        (
            "/components/schemas/Actor/properties/kind",
            rust_variants::<Actor>(json!({"kind": "zzz"})),
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
}

/// Calls the app and checks the answer against the document: the status is
/// documented for the route and the body matches its schema.
async fn checked(
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

#[tokio::test]
async fn real_responses_match_the_openapi_schemas() {
    let spec = openapi();
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    let (sf, alice, bob) = (
        app.storefront("shop-1"),
        app.customer("cust-100"),
        app.customer("cust-200"),
    );
    let staff = app.staff("staff-7", "shop-1", &[StaffRole::Reviewer]);
    const ORDER: &str = "/v1/shops/{shop_id}/orders/{order_id}";
    const CLAIMS: &str = "/v1/claims";
    let o100 = "/v1/shops/shop-1/orders/o-100";

    checked(
        &spec,
        &app,
        ("GET", "/v1/health", "/v1/health"),
        None,
        None,
        200,
    )
    .await;
    let order = sample_order("cust-100");
    checked(
        &spec,
        &app,
        ("PUT", ORDER, o100),
        Some(&sf),
        Some(&order),
        201,
    )
    .await;
    checked(
        &spec,
        &app,
        ("PUT", ORDER, o100),
        Some(&sf),
        Some(&order),
        200,
    )
    .await;
    checked(&spec, &app, ("GET", ORDER, o100), Some(&staff), None, 200).await;
    checked(&spec, &app, ("GET", ORDER, o100), Some(&alice), None, 403).await;
    checked(
        &spec,
        &app,
        ("GET", ORDER, "/v1/shops/shop-1/orders/o-9"),
        Some(&sf),
        None,
        404,
    )
    .await;
    let mut bad = order.clone();
    bad["payments"][0]["amount"] = json!("210.99");
    checked(
        &spec,
        &app,
        ("PUT", ORDER, o100),
        Some(&sf),
        Some(&bad),
        422,
    )
    .await;
    let mut unknown_field = order.clone();
    unknown_field["colour"] = json!("red");
    checked(
        &spec,
        &app,
        ("PUT", ORDER, o100),
        Some(&sf),
        Some(&unknown_field),
        400,
    )
    .await;

    let submit = |lines: Value| {
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "return_refund",
               "reason": "wrong_size", "lines": lines})
    };
    let c = checked(
        &spec,
        &app,
        ("POST", CLAIMS, CLAIMS),
        Some(&alice),
        Some(&submit(json!([{"line_id": "L1", "quantity": 1}]))),
        201,
    )
    .await;
    let special = json!({"shop_id": "shop-1", "order_id": "o-100", "type": "special_claim",
                         "kind": "missing_item", "reason": "missing_parts", "evidence": ["upload/123.jpg"],
                         "lines": [{"line_id": "L2", "quantity": 1}], "amount": "10.00"});
    let s = checked(
        &spec,
        &app,
        ("POST", CLAIMS, CLAIMS),
        Some(&alice),
        Some(&special),
        201,
    )
    .await;
    assert_eq!(
        (&s["type"], &s["kind"]),
        (&json!("special_claim"), &json!("missing_item"))
    );
    checked(
        &spec,
        &app,
        ("POST", CLAIMS, CLAIMS),
        Some(&staff),
        Some(&submit(json!([{"line_id": "L1", "quantity": 1}]))),
        403,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", CLAIMS, CLAIMS),
        Some(&bob),
        Some(&submit(json!([{"line_id": "L1", "quantity": 1}]))),
        404,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", CLAIMS, CLAIMS),
        Some(&alice),
        Some(&submit(json!([{"line_id": "L3", "quantity": 1}]))),
        422,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", CLAIMS, CLAIMS),
        None,
        Some(&submit(json!([{"line_id": "L1", "quantity": 1}]))),
        401,
    )
    .await;
    let (status, e) = app
        .raw("POST", CLAIMS, &alice, "text/plain", b"hello".to_vec())
        .await;
    assert_eq!(status, 415);
    assert_valid(
        &spec,
        response_schema(&spec, "POST", CLAIMS, 415),
        &e,
        "POST /v1/claims → 415",
    );

    let list = checked(
        &spec,
        &app,
        ("GET", CLAIMS, "/v1/claims?limit=1"),
        Some(&alice),
        None,
        200,
    )
    .await;
    assert!(
        list["next_cursor"].is_string(),
        "two claims, one per page: {list}"
    );
    checked(
        &spec,
        &app,
        ("GET", CLAIMS, CLAIMS),
        Some(&staff),
        None,
        200,
    )
    .await;
    checked(
        &spec,
        &app,
        ("GET", CLAIMS, "/v1/claims?limit=abc"),
        Some(&alice),
        None,
        400,
    )
    .await;
    checked(
        &spec,
        &app,
        ("GET", CLAIMS, "/v1/claims?limit=0"),
        Some(&alice),
        None,
        422,
    )
    .await;

    let id = c["claim_id"].as_str().expect("claim_id");
    let one = format!("/v1/claims/{id}");
    let cancel = format!("/v1/claims/{id}/cancel");
    checked(
        &spec,
        &app,
        ("GET", "/v1/claims/{claim_id}", &one),
        Some(&staff),
        None,
        200,
    )
    .await;
    checked(
        &spec,
        &app,
        ("GET", "/v1/claims/{claim_id}", &one),
        Some(&bob),
        None,
        404,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", "/v1/claims/{claim_id}/cancel", &cancel),
        Some(&staff),
        None,
        403,
    )
    .await;
    let done = checked(
        &spec,
        &app,
        ("POST", "/v1/claims/{claim_id}/cancel", &cancel),
        Some(&alice),
        None,
        200,
    )
    .await;
    assert_eq!(done["timeline"][1]["event"], "cancelled");
    checked(
        &spec,
        &app,
        ("POST", "/v1/claims/{claim_id}/cancel", &cancel),
        Some(&alice),
        None,
        409,
    )
    .await;
}

#[tokio::test]
async fn inbox_responses_match_the_openapi_schemas() {
    let spec = openapi();
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    let (sf, alice, bob) = (
        app.storefront("shop-1"),
        app.customer("cust-100"),
        app.customer("cust-200"),
    );
    let staff = app.staff("staff-7", "shop-1", &[StaffRole::Reviewer]);
    const INBOX: &str = "/v1/inbox";
    const READ: &str = "/v1/inbox/{message_id}/read";
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-100",
            Some(&sf),
            Some(&sample_order("cust-100")),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    let claim = json!({"shop_id": "shop-1", "order_id": "o-100", "type": "refund_only",
                       "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]});
    let (s, _) = app
        .call("POST", "/v1/claims", Some(&alice), Some(&claim), &[])
        .await;
    assert_eq!(s, 201);
    let services = aftersales::app::Services::new(app.table.clone());
    // Until dry: the rules consumer may decide the claim, a step of its own.
    while aftersales::app::dispatch::drain_outbox(&services, 100)
        .await
        .expect("outbox drains")
        > 0
    {}

    let page = checked(&spec, &app, ("GET", INBOX, INBOX), Some(&alice), None, 200).await;
    let unread = page["unread"].as_u64().expect("unread");
    assert!(unread >= 1, "{page}");
    let id = page["messages"][0]["message_id"]
        .as_str()
        .expect("a message");
    let read = format!("/v1/inbox/{id}/read");
    checked(&spec, &app, ("GET", INBOX, INBOX), Some(&bob), None, 200).await;
    checked(&spec, &app, ("GET", INBOX, INBOX), Some(&staff), None, 403).await;
    checked(&spec, &app, ("GET", INBOX, INBOX), None, None, 401).await;
    checked(
        &spec,
        &app,
        ("GET", INBOX, "/v1/inbox?limit=x"),
        Some(&alice),
        None,
        400,
    )
    .await;
    checked(
        &spec,
        &app,
        ("GET", INBOX, "/v1/inbox?cursor=nonsense"),
        Some(&alice),
        None,
        422,
    )
    .await;
    let done = checked(&spec, &app, ("POST", READ, &read), Some(&alice), None, 200).await;
    assert_eq!(done["unread"], unread - 1, "{done}");
    checked(&spec, &app, ("POST", READ, &read), Some(&bob), None, 404).await;
    checked(&spec, &app, ("POST", READ, &read), Some(&staff), None, 403).await;
}
