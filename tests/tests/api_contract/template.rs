//! The SAM template (`infra/template.yaml`) routes every route to a
//! function, and the sample events in `events/` belong to the function of
//! their folder.

use super::helpers::{read, routes, show, workspace_file, Route};
use aftersales::api::is_public;
use serde_json::Value;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

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

/// The function serving the pages (`aftersales::web`), and its routes: the
/// home page and everything under it that no API route takes (API Gateway
/// picks the most specific route, a greedy path last).
const WEB_BINARY: &str = "web";
const WEB_ROUTES: &[(&str, &str)] = &[("GET", "/"), ("GET", "/{page+}"), ("POST", "/{page+}")];

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
        let mut pages = Vec::new();
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
            if binary.as_deref() == Some(WEB_BINARY) {
                // The pages: outside /v1 (every API route stays more
                // specific than `/{page+}`), read by the browser's cookie,
                // so no authorizer: the function verifies the session.
                assert!(
                    public,
                    "{at}: the pages' routes have no authorizer (the web function verifies the cookie)"
                );
                assert!(
                    WEB_ROUTES.contains(&(method.as_str(), path.as_str())),
                    "{at}: {method} {path} is not one of the pages' routes {WEB_ROUTES:?}"
                );
                pages.push((method.to_uppercase(), path));
                continue;
            }
            let listed_public = is_public(&method.to_uppercase(), &path);
            assert_eq!(
                public, listed_public,
                "{at}: the JWT authorizer is off exactly for the public routes of aftersales::api::ROUTES"
            );
            routes.push(((method.to_uppercase(), path), at));
        }
        if binary.as_deref() == Some(WEB_BINARY) {
            pages.sort();
            let mut all: Vec<(String, String)> = WEB_ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string()))
                .collect();
            all.sort();
            assert_eq!(pages, all, "{id}: the pages' routes");
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
/// function. (The events_replay tests replay them all.)
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
