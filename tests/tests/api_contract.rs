//! The API's three descriptions agree: the router's `ROUTES`, the OpenAPI
//! document (`infra/openapi.yaml`) and the SAM template's HttpApi events
//! (`infra/template.yaml`). And the OpenAPI document tells the truth about
//! bodies: its examples parse as the Rust types, and real responses of the
//! router match its schemas for the status they came with.

use aftersales::api::{is_public, ROUTES};
use aftersales::app::SubmitClaim;
use aftersales::auth::StaffRole;
use aftersales::domain::money::Money;
use aftersales::domain::order::OrderDraft;
use aftersales_tests::http::{sample_order, spawn_app, spawn_app_at, TestApp, TestClock};
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
        .map(|r| (r.method.to_string(), r.path.to_string()))
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
        if is_public(method, path) {
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

    for &aftersales::api::Route { method, path, .. } in ROUTES {
        let url = with_placeholders(path);
        let (status, body) = app.call(method, &url, None, None, &[]).await;
        assert!(
            !is_missing_route(status, &body),
            "{method} {path} is in ROUTES but the router does not serve it ({method} {url} → {status} {body})"
        );
        if path == "/v1/health" {
            assert_eq!(
                (status, &body),
                (200, &json!({"status": "ok"})),
                "{method} {path}"
            );
        } else if path.starts_with("/v1/webhooks/") {
            // Signed by the provider instead of a token: an unknown provider
            // is not found, never unauthorized.
            assert_eq!(status, 404, "{method} {path} without a token: {body}");
            assert_eq!(body["error"]["message"], "webhook not found", "{body}");
        } else if path.starts_with("/v1/couriers/") {
            // Signed by the courier aggregator instead of a token; this app
            // tracks no parcels, so there is no salt to check against.
            assert_eq!(status, 404, "{method} {path} without a token: {body}");
            assert_eq!(
                body["error"]["message"], "courier callback not found",
                "{body}"
            );
        } else if is_public(method, path) {
            assert_eq!(
                status, 200,
                "public {method} {path} without a token: {body}"
            );
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
    /// Its other event sources (S3, DynamoDB, Schedule...).
    sources: Vec<Source>,
}

/// An event source of a function other than API Gateway.
struct Source {
    /// The SAM event type: `S3`, `DynamoDB`, `SQS`, `Schedule`, `ScheduleV2`...
    kind: String,
    /// S3: the event types subscribed to (`s3:ObjectCreated:*`).
    s3_events: Vec<String>,
    /// S3: the bucket's name as the template writes it (a literal, or a
    /// `!Sub` pattern such as `${AWS::StackName}-evidence-${AWS::AccountId}`).
    s3_bucket: Option<String>,
}

/// A string, or the string of a `!Sub`.
fn literal_or_sub(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Tagged(t) if t.tag == "!Sub" => t.value.as_str().map(str::to_string),
        _ => None,
    }
}

/// The bucket name an S3 event source refers to (`Bucket: !Ref X` → the
/// `BucketName` of resource X).
fn s3_bucket_name(resources: &serde_yaml::Mapping, bucket: &Yaml) -> Option<String> {
    let Yaml::Tagged(t) = bucket else {
        return None;
    };
    if t.tag != "!Ref" {
        return None;
    }
    let id = t.value.as_str()?;
    let res = resources.get(id)?;
    literal_or_sub(yfield(yfield(res, "Properties")?, "BucketName")?)
}

/// Whether `name` is what the (`!Sub`) pattern makes with some non-empty
/// values for its `${...}` variables.
fn matches_sub(pattern: &str, name: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = pattern;
    while let Some((lit, after)) = rest.split_once("${") {
        literals.push(lit);
        rest = after.split_once('}').map_or("", |(_, r)| r);
    }
    literals.push(rest);
    let (first, last) = (literals[0], literals[literals.len() - 1]);
    if literals.len() == 1 {
        return name == first;
    }
    let Some(mut left) = name.strip_prefix(first) else {
        return false;
    };
    for lit in &literals[1..literals.len() - 1] {
        match left.get(1..).and_then(|l| l.find(lit)) {
            Some(i) => left = &left[1 + i + lit.len()..],
            None => return false,
        }
    }
    left.len() > last.len() && left.ends_with(last)
}

/// Every AWS::Serverless::Function of the template with its HttpApi events
/// and its other event sources.
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
        let mut sources = Vec::new();
        let events = yfield(res, "Properties").and_then(|p| yfield(p, "Events"));
        for (name, ev) in events
            .and_then(|e| untag(e).as_mapping())
            .into_iter()
            .flatten()
        {
            let name = ystr(name, &format!("{id}.Events"));
            let at = format!("{id}.Events.{name}");
            let kind = yfield(ev, "Type")
                .map(|t| ystr(t, &at))
                .unwrap_or_else(|| panic!("{at}: no Type"));
            if kind != "HttpApi" {
                let props = yfield(ev, "Properties");
                let s3_events = match props.and_then(|p| yfield(p, "Events")).map(untag) {
                    Some(Yaml::Sequence(list)) => list
                        .iter()
                        .map(|e| ystr(e, &format!("{at}.Properties.Events")))
                        .collect(),
                    Some(one) => vec![ystr(one, &format!("{at}.Properties.Events"))],
                    None => vec![],
                };
                let s3_bucket = props
                    .and_then(|p| yfield(p, "Bucket"))
                    .and_then(|b| s3_bucket_name(resources, b));
                sources.push(Source {
                    kind,
                    s3_events,
                    s3_bucket,
                });
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
            let listed_public = is_public(&method.to_uppercase(), &path);
            assert_eq!(
                public, listed_public,
                "{at}: the JWT authorizer is off exactly for the public routes of aftersales::api::ROUTES"
            );
            routes.push(((method.to_uppercase(), path), at));
        }
        functions.push(Function {
            logical_id: id,
            binary,
            routes,
            sources,
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
/// `<binary>`, so `sam local invoke <Function> -e events/<binary>/x.json` is
/// the real thing: an API Gateway event's routeKey is one of that function's
/// HttpApi events; a batch of records comes from one of its other event
/// sources (an S3 record names the template's bucket and an event type the
/// function subscribes to); an event without records is for a scheduled
/// function. (events_replay.rs replays them all.)
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
        for file in std::fs::read_dir(&folder).expect("events folder") {
            let file = file.expect("entry").path();
            if file.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let at = format!("{} (for {})", file.display(), f.logical_id);
            let ev: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).expect("read event"))
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Some(key) = ev.get("routeKey") {
                let key = key.as_str().unwrap_or_default();
                let (m, p) = key.split_once(' ').unwrap_or_default();
                assert!(
                    f.routes.iter().any(|((rm, rp), _)| rm == m && rp == p),
                    "{at}: routeKey {key:?} is not one of its HttpApi events"
                );
            } else if let Some(records) = ev.get("Records") {
                let records = records.as_array().expect("Records is a list");
                assert!(!records.is_empty(), "{at}: no records");
                for r in records {
                    check_record(f, r, &at);
                }
            } else {
                assert!(
                    f.sources
                        .iter()
                        .any(|s| s.kind == "Schedule" || s.kind == "ScheduleV2"),
                    "{at}: neither an API Gateway event nor records, and no schedule invokes it"
                );
            }
        }
    }
    assert!(folders > 0, "no event folders under events/");
}

/// One record of a sample batch comes from one of the function's sources.
fn check_record(f: &Function, r: &Value, at: &str) {
    let origin = r["eventSource"].as_str().unwrap_or_default();
    let kind = match origin {
        "aws:s3" => "S3",
        "aws:dynamodb" => "DynamoDB",
        "aws:sqs" => "SQS",
        "aws:kinesis" => "Kinesis",
        other => panic!("{at}: a record from {other:?}"),
    };
    let sources: Vec<&Source> = f.sources.iter().filter(|s| s.kind == kind).collect();
    assert!(
        !sources.is_empty(),
        "{at}: a record from {origin}, but the function has no {kind} event source"
    );
    if kind != "S3" {
        return;
    }
    let name = r["eventName"].as_str().unwrap_or_default();
    let bucket = r["s3"]["bucket"]["name"].as_str().unwrap_or_default();
    let subscribed = sources.iter().any(|s| {
        let events_ok = s.s3_events.iter().any(|pattern| {
            let pattern = pattern.strip_prefix("s3:").unwrap_or(pattern);
            match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == pattern,
            }
        });
        let bucket_ok = s
            .s3_bucket
            .as_deref()
            .is_none_or(|pattern| matches_sub(pattern, bucket));
        events_ok && bucket_ok
    });
    assert!(
        subscribed,
        "{at}: {name} in bucket {bucket:?} is not what its S3 event source subscribes to"
    );
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
    let photo = app.upload_evidence("cust-100", "shop-1", true).await;
    let special = json!({"shop_id": "shop-1", "order_id": "o-100", "type": "special_claim",
                         "kind": "missing_item", "reason": "missing_parts", "evidence": [photo],
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

/// The merchant routes (shop settings and the desk) and evidence upload
/// URLs, each in success and in its main errors, against the document. The
/// clock is the test's, so ages and deadlines do not depend on the day.
#[tokio::test]
async fn merchant_responses_match_the_openapi_schemas() {
    let spec = openapi();
    let clock = TestClock::at("2026-11-23T10:00:00Z");
    let app = spawn_app_at(Arc::new(aftersales_tests::sqlite_table()), &clock).await;
    let (sf, alice) = (app.storefront("shop-1"), app.customer("cust-100"));
    let admin = app.staff("boss", "shop-1", &[StaffRole::Admin]);
    let reviewer = app.staff("rev-1", "shop-1", &[StaffRole::Reviewer]);
    let other_admin = app.staff("boss-2", "shop-2", &[StaffRole::Admin]);
    let (admin, reviewer, other_admin) = (
        Some(admin.as_str()),
        Some(reviewer.as_str()),
        Some(other_admin.as_str()),
    );
    let (sf, alice) = (Some(sf.as_str()), Some(alice.as_str()));
    let example = |pointer: &str| -> Value {
        spec.pointer(pointer)
            .unwrap_or_else(|| panic!("openapi: no example at {pointer}"))
            .clone()
    };

    // ---------------------------------------------------------- policy
    const POLICY: &str = "/v1/shops/{shop_id}/policy";
    let policy = "/v1/shops/shop-1/policy";
    let p = checked(&spec, &app, ("GET", POLICY, policy), None, None, 200).await;
    assert_eq!(
        p,
        example("/components/examples/DefaultShopPolicy/value"),
        "a new shop has the default policy"
    );
    checked(
        &spec,
        &app,
        ("GET", POLICY, "/v1/shops/shop%201/policy"),
        None,
        None,
        400,
    )
    .await;
    let new_policy = example(
        "/paths/~1v1~1shops~1{shop_id}~1policy/put/requestBody/content/application~1json/example",
    );
    let put = |token, body: &Value, status| {
        let body = body.clone();
        let (spec, app) = (&spec, &app);
        async move {
            checked(
                spec,
                app,
                ("PUT", POLICY, policy),
                token,
                Some(&body),
                status,
            )
            .await
        }
    };
    put(reviewer, &new_policy, 403).await;
    put(other_admin, &new_policy, 403).await;
    put(None, &new_policy, 401).await;
    let mut bad = new_policy.clone();
    bad["max_claims_per_line"] = json!(0);
    let e = put(admin, &bad, 422).await;
    assert_eq!(e["error"]["code"], "invalid_policy");
    bad["max_claims_per_line"] = json!(3);
    bad["surprise"] = json!(true);
    put(admin, &bad, 400).await;
    assert_eq!(put(admin, &new_policy, 200).await, new_policy);
    let p = checked(&spec, &app, ("GET", POLICY, policy), None, None, 200).await;
    assert_eq!(p, new_policy, "the saved policy is the public one");

    // ---------------------------------------------------------- rejection reasons
    const REASONS: &str = "/v1/shops/{shop_id}/rejection-reasons";
    let reasons = "/v1/shops/shop-1/rejection-reasons";
    let r = checked(&spec, &app, ("GET", REASONS, reasons), None, None, 200).await;
    assert_eq!(r["extras"], json!([]), "{r}");
    checked(
        &spec,
        &app,
        ("GET", REASONS, "/v1/shops/shop%231/rejection-reasons"),
        None,
        None,
        400,
    )
    .await;
    let extras = example(
        "/paths/~1v1~1shops~1{shop_id}~1rejection-reasons/put/requestBody/content/application~1json/example",
    );
    for (token, status) in [(reviewer, 403), (None, 401)] {
        checked(
            &spec,
            &app,
            ("PUT", REASONS, reasons),
            token,
            Some(&extras),
            status,
        )
        .await;
    }
    let builtin_again =
        json!({"extras": [{"code": "other", "text_zh": "其他", "text_en": "Other"}]});
    let e = checked(
        &spec,
        &app,
        ("PUT", REASONS, reasons),
        admin,
        Some(&builtin_again),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_rejection_reasons");
    let r = checked(
        &spec,
        &app,
        ("PUT", REASONS, reasons),
        admin,
        Some(&extras),
        200,
    )
    .await;
    assert_eq!(r["extras"], extras["extras"]);
    let r = checked(&spec, &app, ("GET", REASONS, reasons), None, None, 200).await;
    assert_eq!(
        r,
        example("/components/examples/RejectionReasons/value"),
        "the example is the built-ins plus the PUT example"
    );

    // ---------------------------------------------------------- rules (read)
    const RULES: &str = "/v1/shops/{shop_id}/rules";
    let rules = "/v1/shops/shop-1/rules";
    let r = checked(&spec, &app, ("GET", RULES, rules), reviewer, None, 200).await;
    assert_eq!(
        r,
        example("/components/examples/DefaultRuleSet/value"),
        "a new shop runs the default rule set"
    );
    checked(&spec, &app, ("GET", RULES, rules), alice, None, 403).await;
    checked(&spec, &app, ("GET", RULES, rules), sf, None, 403).await;
    checked(&spec, &app, ("GET", RULES, rules), None, None, 401).await;

    // ---------------------------------------------------------- claims to review
    // Under the default rules: a damaged item without photos waits for
    // evidence, a missing part of a 1200.00 order goes to an admin, a wrong
    // size goes to a person, a small refund is approved.
    let (s, _) = app
        .call(
            "PUT",
            "/v1/shops/shop-1/orders/o-100",
            sf,
            Some(&sample_order("cust-100")),
            &[],
        )
        .await;
    assert_eq!(s, 201);
    let mut big = sample_order("cust-100");
    big["lines"][0]["unit_price"] = json!("600.00");
    big["payments"][0]["amount"] = json!("1213.00");
    let (s, _) = app
        .call("PUT", "/v1/shops/shop-1/orders/o-200", sf, Some(&big), &[])
        .await;
    assert_eq!(s, 201);
    let mut ids = Vec::new();
    let photo = app.upload_evidence("cust-100", "shop-1", true).await;
    for body in [
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "return_refund",
               "reason": "damaged", "lines": [{"line_id": "L1", "quantity": 1}]}),
        json!({"shop_id": "shop-1", "order_id": "o-200", "type": "special_claim",
               "kind": "missing_item", "reason": "missing_parts", "evidence": [photo],
               "lines": [{"line_id": "L1", "quantity": 1}]}),
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "return_refund",
               "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 1}]}),
        json!({"shop_id": "shop-1", "order_id": "o-100", "type": "refund_only",
               "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}]}),
    ] {
        let (s, c) = app
            .call("POST", "/v1/claims", alice, Some(&body), &[])
            .await;
        assert_eq!(s, 201, "{c}");
        ids.push(c["claim_id"].as_str().expect("claim_id").to_string());
    }
    let [damaged, missing, wrong_size, small] = <[String; 4]>::try_from(ids).unwrap();
    assert!(app.drain().await >= 4);
    clock.advance_hours(5);

    // ---------------------------------------------------------- evidence upload URLs
    const UPLOADS: &str = "/v1/claims/{claim_id}/evidence-uploads";
    let uploads = format!("/v1/claims/{damaged}/evidence-uploads");
    let jpeg = json!({"content_type": "image/jpeg", "content_length": 482113});
    let t = checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&jpeg),
        201,
    )
    .await;
    assert!(
        t["evidence_key"]
            .as_str()
            .is_some_and(|k| k.starts_with(&format!("evidence/{damaged}/"))),
        "{t}"
    );
    checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        reviewer,
        Some(&jpeg),
        403,
    )
    .await;
    checked(
        &spec,
        &app,
        ("POST", UPLOADS, "/v1/claims/clm_nope/evidence-uploads"),
        alice,
        Some(&jpeg),
        404,
    )
    .await;
    let pdf = json!({"content_type": "application/pdf", "content_length": 1000});
    let e = checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&pdf),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "unsupported_content_type");
    checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&json!({"content_type": "image/jpeg"})),
        400,
    )
    .await;

    // ---------------------------------------------------------- the queue
    const QUEUE: &str = "/v1/shops/{shop_id}/desk/claims";
    let q = checked(
        &spec,
        &app,
        ("GET", QUEUE, "/v1/shops/shop-1/desk/claims"),
        reviewer,
        None,
        200,
    )
    .await;
    let statuses: BTreeMap<&str, &str> = q["claims"]
        .as_array()
        .expect("claims")
        .iter()
        .map(|c| {
            (
                c["claim_id"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        BTreeMap::from([
            (damaged.as_str(), "awaiting_evidence"),
            (missing.as_str(), "second_review"),
            (wrong_size.as_str(), "under_review"),
        ]),
        "the waiting claims: {q}"
    );
    let counted: u64 = q["counts"]
        .as_object()
        .expect("counts")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(counted, 4, "counts cover every claim of the shop: {q}");
    assert_eq!(q["claims"][0]["age_hours"], 5, "{q}");
    let page = checked(
        &spec,
        &app,
        (
            "GET",
            QUEUE,
            "/v1/shops/shop-1/desk/claims?limit=1&type=return_refund",
        ),
        reviewer,
        None,
        200,
    )
    .await;
    assert_eq!(page["total"], 2, "{page}");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    checked(
        &spec,
        &app,
        (
            "GET",
            QUEUE,
            &format!("/v1/shops/shop-1/desk/claims?limit=1&type=return_refund&cursor={cursor}"),
        ),
        reviewer,
        None,
        200,
    )
    .await;
    let q = checked(
        &spec,
        &app,
        (
            "GET",
            QUEUE,
            "/v1/shops/shop-1/desk/claims?status=second_review&product_kind=physical\
             &evidence_complete=true&min_amount=500&max_amount=600.00&min_age_hours=5\
             &member_tier=gold&escalated=false",
        ),
        reviewer,
        None,
        200,
    )
    .await;
    assert_eq!(q["total"], 1, "every filter at once: {q}");
    for bad in [
        "?colour=red",
        "?limit=abc",
        "?escalated=yes",
        "?status=pending",
    ] {
        let path = format!("/v1/shops/shop-1/desk/claims{bad}");
        let e = checked(&spec, &app, ("GET", QUEUE, &path), reviewer, None, 400).await;
        assert_eq!(e["error"]["code"], "invalid_query", "{bad}: {e}");
    }
    // Amounts in a query are read like amounts anywhere else.
    for bad in ["?min_amount=lots", "?max_amount=1e3", "?min_amount=-5"] {
        let path = format!("/v1/shops/shop-1/desk/claims{bad}");
        let e = checked(&spec, &app, ("GET", QUEUE, &path), reviewer, None, 400).await;
        assert_eq!(e["error"]["code"], "invalid_amount", "{bad}: {e}");
        assert!(
            e["error"]["field"].as_str().unwrap().ends_with("_amount"),
            "{e}"
        );
    }
    for bad in ["?limit=0", "?limit=201", "?cursor=nonsense"] {
        let path = format!("/v1/shops/shop-1/desk/claims{bad}");
        checked(&spec, &app, ("GET", QUEUE, &path), reviewer, None, 422).await;
    }
    let queue = "/v1/shops/shop-1/desk/claims";
    for (token, status) in [(alice, 403), (sf, 403), (other_admin, 403), (None, 401)] {
        checked(&spec, &app, ("GET", QUEUE, queue), token, None, status).await;
    }

    // ---------------------------------------------------------- one claim
    const DETAIL: &str = "/v1/shops/{shop_id}/desk/claims/{claim_id}";
    let detail = format!("/v1/shops/shop-1/desk/claims/{missing}");
    let d = checked(&spec, &app, ("GET", DETAIL, &detail), reviewer, None, 200).await;
    assert_eq!(
        (&d["claim"]["claim_id"], &d["order"]["order_id"]),
        (&json!(missing), &json!("o-200")),
        "{d}"
    );
    checked(
        &spec,
        &app,
        ("GET", DETAIL, "/v1/shops/shop-1/desk/claims/clm_nope"),
        reviewer,
        None,
        404,
    )
    .await;
    checked(&spec, &app, ("GET", DETAIL, &detail), alice, None, 403).await;
    checked(&spec, &app, ("GET", DETAIL, &detail), None, None, 401).await;

    // ---------------------------------------------------------- decisions
    const DECIDE: &str = "/v1/shops/{shop_id}/desk/claims/{claim_id}/decision";
    let decide = |id: &str| format!("/v1/shops/shop-1/desk/claims/{id}/decision");
    let call = |path: String, token, body: Value, status| {
        let (spec, app) = (&spec, &app);
        async move {
            checked(
                spec,
                app,
                ("POST", DECIDE, &path),
                token,
                Some(&body),
                status,
            )
            .await
        }
    };
    let e = call(
        decide(&missing),
        reviewer,
        json!({"decision": "approve"}),
        403,
    )
    .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("second review")),
        "{e}"
    );
    call(
        decide(&missing),
        reviewer,
        json!({"decision": "maybe"}),
        400,
    )
    .await;
    call(
        decide(&missing),
        reviewer,
        json!({"decision": "reject", "reason": "other", "note": "x"}),
        400,
    )
    .await;
    for (body, code) in [
        (
            json!({"decision": "reject", "reason": "nah"}),
            "unknown_rejection_reason",
        ),
        (
            json!({"decision": "request_evidence", "note": " "}),
            "invalid_decision",
        ),
        (
            json!({"decision": "approve", "amount": "1000.00"}),
            "invalid_claim",
        ),
    ] {
        let e = call(decide(&wrong_size), reviewer, body, 422).await;
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    // An amount that is not money in the claim's currency is unreadable.
    let e = call(
        decide(&wrong_size),
        reviewer,
        json!({"decision": "approve", "amount": "1.001"}),
        400,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_amount", "{e}");
    assert_eq!(e["error"]["field"], "amount", "{e}");
    let c = call(
        decide(&wrong_size),
        reviewer,
        json!({"decision": "approve", "amount": "50.00", "reason": "Only one sleeve"}),
        200,
    )
    .await;
    assert_eq!(
        (&c["status"], &c["approved_amount"]),
        (
            &json!("awaiting_return"),
            &json!({"amount": "50.00", "currency": "CNY"})
        )
    );
    let e = call(
        decide(&wrong_size),
        reviewer,
        json!({"decision": "reject", "reason": "other"}),
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "illegal_transition");
    let c = call(decide(&missing), admin, json!({"decision": "approve"}), 200).await;
    assert_eq!(c["status"], "refunding", "money goes back at once: {c}");
    call(
        decide("clm_nope"),
        reviewer,
        json!({"decision": "approve"}),
        404,
    )
    .await;
    call(decide(&damaged), alice, json!({"decision": "approve"}), 403).await;
    call(decide(&damaged), None, json!({"decision": "approve"}), 401).await;
    for ex in ["approve", "reject", "request_evidence", "second_review"] {
        let body = example(&format!(
            "/paths/~1v1~1shops~1{{shop_id}}~1desk~1claims~1{{claim_id}}~1decision/post/requestBody/content/application~1json/examples/{ex}/value"
        ));
        let path = decide("clm_nope");
        let (status, got) = app.call("POST", &path, reviewer, Some(&body), &[]).await;
        assert_eq!(status, 404, "the {ex} example is a decision: {got}");
    }

    // ---------------------------------------------------------- batch
    const BATCH: &str = "/v1/shops/{shop_id}/desk/batch";
    let batch = "/v1/shops/shop-1/desk/batch";
    let body = json!({"decision": "reject", "reason": "seal_broken",
                      "claim_ids": [damaged, small, "clm_nope", damaged]});
    let r = checked(
        &spec,
        &app,
        ("POST", BATCH, batch),
        reviewer,
        Some(&body),
        200,
    )
    .await;
    assert_eq!((&r["decided"], &r["failed"]), (&json!(1), &json!(2)), "{r}");
    let codes: Vec<&Value> = r["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| {
            if x["ok"] == true {
                &x["status"]
            } else {
                &x["error"]["code"]
            }
        })
        .collect();
    assert_eq!(
        codes,
        [
            &json!("rejected"),
            &json!("illegal_transition"),
            &json!("not_found")
        ],
        "in the order given, repeats once: {r}"
    );
    for (body, status, code) in [
        (json!({"decision": "approve"}), 422, "invalid_batch"),
        (
            json!({"decision": "approve", "claim_ids": []}),
            422,
            "invalid_batch",
        ),
        (
            json!({"decision": "reject", "claim_ids": [small]}),
            422,
            "invalid_batch",
        ),
        (
            json!({"decision": "reject", "reason": "because", "claim_ids": [small]}),
            422,
            "unknown_rejection_reason",
        ),
        (
            json!({"decision": "maybe", "claim_ids": [small]}),
            400,
            "malformed_json",
        ),
        (
            json!({"decision": "approve", "filter": {"min_age_hours": "3"}}),
            400,
            "malformed_json",
        ),
    ] {
        let e = checked(
            &spec,
            &app,
            ("POST", BATCH, batch),
            reviewer,
            Some(&body),
            status,
        )
        .await;
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
    }
    let by_filter = example(
        "/paths/~1v1~1shops~1{shop_id}~1desk~1batch/post/requestBody/content/application~1json/examples/by_filter/value",
    );
    let e = checked(
        &spec,
        &app,
        ("POST", BATCH, batch),
        reviewer,
        Some(&by_filter),
        200,
    )
    .await;
    assert_eq!(
        (&e["decided"], &e["failed"], &e["results"]),
        (&json!(0), &json!(0), &json!([])),
        "the filter selects nothing: {e}"
    );
    checked(&spec, &app, ("POST", BATCH, batch), alice, Some(&body), 403).await;
    checked(&spec, &app, ("POST", BATCH, batch), None, Some(&body), 401).await;
    // A rejected claim takes no more evidence.
    let e = checked(
        &spec,
        &app,
        ("POST", UPLOADS, &uploads),
        alice,
        Some(&jpeg),
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "claim_closed_for_evidence", "{e}");

    // ---------------------------------------------------------- rules (write)
    let new_rules = example(
        "/paths/~1v1~1shops~1{shop_id}~1rules/put/requestBody/content/application~1json/example",
    );
    for (token, status) in [(reviewer, 403), (None, 401)] {
        checked(
            &spec,
            &app,
            ("PUT", RULES, rules),
            token,
            Some(&new_rules),
            status,
        )
        .await;
    }
    let broken = json!({"rules": [
        {"id": "a", "when": {"amount": {"lessthan": "5"}}, "then": {"decision": "approve"}},
        {"id": "b", "then": {"decision": "manual_review"}},
        {"id": "c", "when": {"colour": {"eq": "red"}}, "then": {"decision": "reject", "reason": "nope"}}
    ]});
    let e = checked(
        &spec,
        &app,
        ("PUT", RULES, rules),
        admin,
        Some(&broken),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_rules");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    for part in [
        "rules[0].when.amount",
        "rules[2].when",
        "rules[2].then.reason",
    ] {
        assert!(
            message.contains(part),
            "every problem is named ({part}): {message}"
        );
    }
    let (status, e) = app
        .raw(
            "PUT",
            rules,
            admin.unwrap(),
            "application/json",
            b"{\"rules\": [".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    assert_valid(
        &spec,
        response_schema(&spec, "PUT", RULES, 400),
        &e,
        "PUT rules → 400",
    );
    let r = checked(
        &spec,
        &app,
        ("PUT", RULES, rules),
        admin,
        Some(&new_rules),
        200,
    )
    .await;
    assert_eq!(
        (&r["version"], &r["rules"][1]["description"]),
        (&json!(1), &json!("")),
        "{r}"
    );
    let mut sent_back = r.clone();
    sent_back["rules"][0]["then"]["reason"] = json!("seal_broken");
    let r = checked(
        &spec,
        &app,
        ("PUT", RULES, rules),
        admin,
        Some(&sent_back),
        200,
    )
    .await;
    assert_eq!(r["version"], 2, "the version sent is ignored: {r}");
    let r = checked(&spec, &app, ("GET", RULES, rules), reviewer, None, 200).await;
    assert_eq!(r["rules"][0]["then"]["reason"], "seal_broken");
    // The active rules reject with seal_broken: it cannot go.
    let e = checked(
        &spec,
        &app,
        ("PUT", REASONS, reasons),
        admin,
        Some(&json!({})),
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "reason_in_use", "{e}");
}

/// The payment webhook answers what the document says: this API's error
/// shape for an unknown provider, the provider's own answers otherwise
/// (here the sandbox provider's, signed as the runner and the tests
/// configure it).
#[tokio::test]
async fn webhook_responses_match_the_openapi_schemas() {
    use aftersales::providers::sandbox::{SandboxNotifications, SIGNATURE_HEADER};
    use aftersales::providers::{ProviderRefund, ProviderState};
    use aftersales_tests::http::SANDBOX_WEBHOOK_SECRET;

    let spec = openapi();
    let app = spawn_app(Arc::new(aftersales_tests::sqlite_table())).await;
    const HOOK: &str = "/v1/webhooks/{provider}";
    let sandbox = "/v1/webhooks/sandbox";
    let notice = serde_json::to_value(ProviderRefund {
        out_refund_no: "rf_not_one_of_ours".into(),
        provider_refund_id: Some("sbx_0001".into()),
        state: ProviderState::Succeeded { at: None },
        received_account: None,
        amount: None,
        account: None,
    })
    .unwrap();
    // What the client sends is exactly these bytes (reqwest's JSON).
    let bytes = serde_json::to_vec(&notice).unwrap();
    let signer = SandboxNotifications::new(SANDBOX_WEBHOOK_SECRET);
    let now = chrono::Utc::now().timestamp();
    let send = |path: &'static str, signature: Option<String>, expect: u16| {
        let (spec, app, notice) = (&spec, &app, &notice);
        async move {
            let headers: Vec<(&str, &str)> = signature
                .as_deref()
                .map(|s| (SIGNATURE_HEADER, s))
                .into_iter()
                .collect();
            let (status, got) = app.call("POST", path, None, Some(notice), &headers).await;
            assert_eq!(status, expect, "POST {path}: {got}");
            let schema = response_schema(spec, "POST", HOOK, status);
            assert_valid(spec, schema, &got, &format!("POST {HOOK} → {status}"));
            got
        }
    };

    let e = send("/v1/webhooks/paypal", None, 404).await;
    assert_eq!(e["error"]["message"], "webhook not found", "{e}");
    for signature in [
        None,
        Some(format!("t={now},v1={}", "00".repeat(32))),
        Some(signer.sign(now - 3600, &bytes)),
    ] {
        let got = send(sandbox, signature, 400).await;
        assert_eq!(got["received"], false, "refused: {got}");
    }
    // Verified, about a refund this service did not make: acknowledged.
    let got = send(sandbox, Some(signer.sign(now, &bytes)), 200).await;
    assert_eq!(got, json!({"received": true}));
}
