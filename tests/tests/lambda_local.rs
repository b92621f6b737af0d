//! The local loop of the README ("Test locally with sam local and
//! LocalStack"), without Docker: `infra/local_aws.py` creates the table,
//! bucket and queues on moto; the claims-api, merchant-api and order-intake
//! binaries run under `cargo lambda watch --only-lambda-apis` (the Lambda
//! Runtime API emulator) with the environment the script wrote; a storefront,
//! a customer and staff member then go through the functions' URLs with
//! development tokens, and sample events from `events/` are replayed with
//! `cargo lambda invoke`.
//!
//! The binaries are the functions' own `main.rs`, built with the tests (see
//! tests/Cargo.toml). Needs python3 with boto3 (moto brings it) and
//! `pip install cargo-lambda`; without them this fails, it never skips.

use aftersales::auth::{DevKeys, StaffRole};
use aftersales_tests::procs::{free_port, Tied};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const INSTALL_CARGO_LAMBDA: &str = "install it with `pip install cargo-lambda` (or run .ci/run)";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn describe(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------- bootstrap

/// Runs `infra/local_aws.py` against the emulator; returns its stdout and
/// the variables it wrote for `cargo lambda watch --env-file`.
fn bootstrap(
    endpoint: &str,
    stack: &str,
    data: &Path,
    secret: &str,
) -> (String, Vec<(String, String)>) {
    let out = Command::new("python3")
        .arg(workspace_root().join("infra/local_aws.py"))
        .args(["--stack-name", stack, "--region", "us-east-1", "--data"])
        .arg(data)
        .current_dir(workspace_root())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AFTERSALES_DEV_SECRET", secret)
        .output()
        .expect("python3 runs infra/local_aws.py (needs boto3: pip install 'moto[server]')");
    assert!(
        out.status.success(),
        "infra/local_aws.py failed\n{}",
        describe(&out)
    );
    let env_file = data.join("local-aws.env");
    let text = std::fs::read_to_string(&env_file)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", env_file.display()));
    let vars = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), vars)
}

// ---------------------------------------------------------------- emulator

struct Emulator {
    port: u16,
    _watch: Tied,
}

impl Emulator {
    fn start() -> Emulator {
        let version = Command::new("cargo-lambda")
            .args(["lambda", "--version"])
            .output();
        match version {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "cargo-lambda does not run; {INSTALL_CARGO_LAMBDA}\n{}",
                describe(&out)
            ),
            Err(e) => panic!("cargo-lambda is not on PATH ({e}); {INSTALL_CARGO_LAMBDA}"),
        }
        let port = free_port();
        let mut watch = Tied::spawn(
            "cargo lambda watch",
            "cargo-lambda",
            &[
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ],
            &workspace_root(),
            std::iter::empty::<(&str, &str)>(),
        );
        watch.wait_listening(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(30),
        );
        Emulator {
            port,
            _watch: watch,
        }
    }

    /// Starts `binary` as function `name`: it polls the emulator's Runtime
    /// API for its invocations, as it would Lambda's.
    fn function(&self, name: &str, binary: &str, env: &[(String, String)]) -> Tied {
        let runtime_api = format!("http://127.0.0.1:{}/.rt/{name}", self.port);
        let lambda_env = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("RUST_LOG", "info"),
        ];
        let envs = env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(lambda_env);
        Tied::spawn(name, binary, &[], &workspace_root(), envs)
    }

    fn url(&self, function: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/{function}{path}", self.port)
    }

    /// `cargo lambda invoke NAME --data-file events/FILE`: the function's
    /// API Gateway answer (status, JSON body).
    fn invoke(&self, function: &str, event: &str) -> (u16, Value) {
        let out = Command::new("cargo-lambda")
            .args([
                "lambda",
                "invoke",
                function,
                "--invoke-address",
                "127.0.0.1",
            ])
            .args([
                "--invoke-port",
                &self.port.to_string(),
                "--output-format",
                "json",
            ])
            .arg("--data-file")
            .arg(workspace_root().join("events").join(event))
            .current_dir(workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("cargo-lambda invoke: {e}; {INSTALL_CARGO_LAMBDA}"));
        assert!(
            out.status.success(),
            "invoking {function} with {event} failed\n{}",
            describe(&out)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{event}: the answer is not JSON ({e})\n{}", describe(&out))
        });
        let status = answer["statusCode"]
            .as_u64()
            .expect("an API Gateway answer") as u16;
        let body = answer["body"].as_str().expect("a body");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// Sends a request through a function URL; returns status and JSON body.
async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut rb = http.request(method.parse().expect("a method"), url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(b).header("idempotency-key", "lambda-local-1");
    }
    let resp = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("a body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_under_cargo_lambda_watch_serve_a_claim_from_order_to_desk() {
    let endpoint = aftersales_tests::moto::endpoint();
    let data = tempfile::tempdir().expect("a data folder");
    let stack = aftersales_tests::moto::unique_table_name("ll");
    let secret = new_secret();

    // The script creates everything once; a second run finds it all there.
    let (first, env) = bootstrap(&endpoint, &stack, data.path(), &secret);
    for made in ["table", "bucket", "queue"] {
        assert!(first.contains(&format!("{made} {stack}")), "{first}");
    }
    assert!(
        first.contains(": created") && !first.contains(": exists"),
        "{first}"
    );
    let (second, env_again) = bootstrap(&endpoint, &stack, data.path(), &secret);
    assert!(
        second.contains(": exists") && !second.contains(": created"),
        "{second}"
    );
    assert_eq!(env, env_again);
    let vars: BTreeMap<_, _> = env.iter().cloned().collect();
    assert_eq!(vars["AUTH_MODE"], "token");
    assert_eq!(
        vars["AUTH_DEV_SECRET"], secret,
        "the runner's secret reaches the functions"
    );
    assert_eq!(vars["AWS_ENDPOINT_URL"], endpoint);
    assert!(
        vars["REFUND_QUEUE_URL"].ends_with(&format!("/{stack}-refunds")),
        "{vars:?}"
    );
    let sam: Value = serde_json::from_str(
        &std::fs::read_to_string(data.path().join("sam-local-env.json"))
            .expect("sam env-vars file"),
    )
    .expect("JSON");
    assert_eq!(sam["Parameters"]["TABLE_NAME"], vars["TABLE_NAME"].as_str());
    assert_eq!(sam["Parameters"]["AUTH_DEV_SECRET"], secret.as_str());
    // There the AuthMode parameter decides (samconfig.toml): token for
    // start-api, gateway for `sam local invoke -e events/...`.
    assert!(sam["Parameters"].get("AUTH_MODE").is_none(), "{sam}");
    assert!(
        sam["Parameters"]["AWS_ENDPOINT_URL"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://host.docker.internal:")),
        "sam local's containers reach the emulator through the host: {sam}"
    );

    let lambda = Emulator::start();
    let gateway_env: Vec<_> = env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "AUTH_MODE" => (k.clone(), "gateway".to_owned()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let mut running = vec![
        lambda.function(
            "order-intake",
            env!("CARGO_BIN_EXE_lambda-order-intake"),
            &env,
        ),
        lambda.function("claims-api", env!("CARGO_BIN_EXE_lambda-claims-api"), &env),
        lambda.function(
            "merchant-api",
            env!("CARGO_BIN_EXE_lambda-merchant-api"),
            &env,
        ),
        // As API Gateway deploys them: the events carry the authorizer's claims.
        lambda.function(
            "lambda-order-intake",
            env!("CARGO_BIN_EXE_lambda-order-intake"),
            &gateway_env,
        ),
        lambda.function(
            "lambda-claims-api",
            env!("CARGO_BIN_EXE_lambda-claims-api"),
            &gateway_env,
        ),
    ];
    let outputs = |running: &mut Vec<Tied>| {
        running
            .iter_mut()
            .map(Tied::output)
            .collect::<Vec<_>>()
            .join("\n")
    };

    let keys = DevKeys::new(secret.as_bytes());
    let storefront = keys.mint("storefront", "sf-shop-1", Some("shop-1"), &[], 600);
    let alice = keys.mint("customer", "alice", None, &[], 600);
    let staff = keys.mint("staff", "st-1", Some("shop-1"), &[StaffRole::Reviewer], 600);
    aftersales::providers::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");

    let order = aftersales_tests::http::sample_order("alice");
    let order_url = lambda.url("order-intake", "/v1/shops/shop-1/orders/o-ll-1");
    let (s, b) = call(&http, "PUT", &order_url, Some(&storefront), Some(&order)).await;
    assert_eq!(
        s,
        201,
        "the storefront pushes an order: {b}\n{}",
        outputs(&mut running)
    );
    assert_eq!(
        b["refundable"],
        json!({"amount": "211.00", "currency": "CNY"}),
        "{b}"
    );

    let claim = json!({"shop_id": "shop-1", "order_id": "o-ll-1", "type": "return_refund",
        "reason": "wrong_size", "description": "Too small", "lines": [{"line_id": "L1", "quantity": 1}]});
    let claims_url = lambda.url("claims-api", "/v1/claims");
    let (s, submitted) = call(&http, "POST", &claims_url, Some(&alice), Some(&claim)).await;
    assert_eq!(
        s,
        201,
        "alice files a claim: {submitted}\n{}",
        outputs(&mut running)
    );
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    let id = submitted["claim_id"]
        .as_str()
        .expect("a claim id")
        .to_owned();
    // The same Idempotency-Key gives the same claim back.
    let (s, again) = call(&http, "POST", &claims_url, Some(&alice), Some(&claim)).await;
    assert_eq!((s, &again["claim_id"]), (200, &json!(id)), "{again}");

    let (s, read) = call(
        &http,
        "GET",
        &format!("{claims_url}/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(
        (&read["customer_id"], &read["order_id"]),
        (&json!("alice"), &json!("o-ll-1")),
        "{read}"
    );
    assert_eq!(
        aftersales_tests::http::timeline_events(&read),
        ["submitted"],
        "{read}"
    );

    let desk = lambda.url(
        "merchant-api",
        &format!("/v1/shops/shop-1/desk/claims/{id}"),
    );
    let (s, seen) = call(&http, "GET", &desk, Some(&staff), None).await;
    assert_eq!(s, 200, "staff read the claim at the desk: {seen}");
    assert_eq!(seen["claim"]["claim_id"], json!(id), "{seen}");

    // Token mode verifies, it does not trust: no token, a token made with
    // another secret, someone else's claim.
    let (s, b) = call(&http, "GET", &claims_url, None, None).await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (401, &json!("unauthorized")),
        "{b}"
    );
    let forged = DevKeys::new(new_secret().as_bytes()).mint("customer", "alice", None, &[], 600);
    let (s, _) = call(&http, "GET", &claims_url, Some(&forged), None).await;
    assert_eq!(s, 401);
    let bob = keys.mint("customer", "bob", None, &[], 600);
    let (s, _) = call(
        &http,
        "GET",
        &format!("{claims_url}/{id}"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let other_shop = keys.mint("staff", "st-2", Some("shop-2"), &[StaffRole::Reviewer], 600);
    let (s, _) = call(&http, "GET", &desk, Some(&other_shop), None).await;
    assert_eq!(s, 403, "staff of another shop are refused");

    // Under the Lambda runtime as on the runner: an amount that is not
    // money is a 400 naming the field (the one that used to panic), a wrong
    // method is a JSON 405, and the function goes on serving.
    let bad = json!({"shop_id": "shop-1", "order_id": "o-1", "type": "refund_only",
                     "reason": "no_longer_wanted", "lines": [{"line_id": "L2", "quantity": 1}],
                     "amount": "79228162514264337593543950335"});
    let (s, b) = call(&http, "POST", &claims_url, Some(&alice), Some(&bad)).await;
    assert_eq!(
        (s, &b["error"]["code"], &b["error"]["field"]),
        (400, &json!("invalid_amount"), &json!("amount")),
        "{b}"
    );
    let (s, b) = call(&http, "DELETE", &claims_url, Some(&alice), None).await;
    assert_eq!(
        (s, &b["error"]["code"]),
        (405, &json!("method_not_allowed")),
        "{b}"
    );
    let (s, _) = call(
        &http,
        "GET",
        &format!("{claims_url}/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(s, 200, "still serving");

    // Sample events, replayed as `sam local invoke -e` would: the gateway
    // functions take the authorizer's claims the events carry...
    let (s, b) = lambda.invoke("lambda-order-intake", "order-intake/put-order.json");
    assert_eq!(
        (s, &b["order_id"]),
        (201, &json!("o-100")),
        "{b}\n{}",
        outputs(&mut running)
    );
    let (s, b) = lambda.invoke("lambda-claims-api", "claims-api/submit-claim.json");
    assert_eq!(
        (s, &b["status"], &b["customer_id"]),
        (201, &json!("submitted"), &json!("cust-100")),
        "{b}"
    );
    let (s, b) = lambda.invoke("lambda-claims-api", "claims-api/no-authorizer-context.json");
    assert_eq!(
        (s, &b["error"]["code"]),
        (401, &json!("unauthorized")),
        "{b}"
    );
    let (s, b) = lambda.invoke("lambda-claims-api", "claims-api/get-claim-unknown.json");
    assert_eq!(s, 404, "{b}");
    // ...while a token-mode function ignores claims it did not verify: the
    // sample's bearer token is not signed with the development secret.
    let (s, b) = lambda.invoke("claims-api", "claims-api/submit-claim.json");
    assert_eq!(
        (s, &b["error"]["code"]),
        (401, &json!("unauthorized")),
        "{b}"
    );

    for f in running.iter_mut() {
        assert!(
            f.exited().is_none(),
            "a function ended early\n{}",
            f.output()
        );
    }
}

/// A wrong auth setting stops the cold start with a message naming it; the
/// function never starts serving.
#[test]
fn a_wrong_auth_setting_stops_the_cold_start() {
    let cases = [
        (vec![("AUTH_MODE", "tokens")], "is not a mode"),
        (
            vec![("AUTH_MODE", "token")],
            "needs the development secret in AUTH_DEV_SECRET",
        ),
        (
            vec![("AUTH_MODE", "token"), ("AUTH_DEV_SECRET", "short")],
            "too short",
        ),
    ];
    for (env, expected) in cases {
        let mut f = Tied::spawn(
            "claims-api",
            env!("CARGO_BIN_EXE_lambda-claims-api"),
            &[],
            &workspace_root(),
            env.into_iter().chain([
                // Nowhere to go: the check must come before any of these is used.
                ("TABLE_NAME", "unused"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
            ]),
        );
        let status = f.wait_exit(Duration::from_secs(20));
        let output = f.output();
        assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{output}");
        assert!(output.contains(expected), "expected {expected:?}\n{output}");
    }
}
