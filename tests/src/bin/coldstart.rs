//! Cold-start meter: a minimal Lambda Runtime API emulator on 127.0.0.1 that
//! starts a function binary again and again and times, for each start,
//!
//! - init: process spawn → the function's first `GET .../invocation/next`
//!   (what Lambda reports as Init Duration), and
//! - first response: process spawn → the response to the first event posted.
//!
//! ```text
//! coldstart --function target/release/claims-api [--runs 20]
//!           [--event list-claims|health] [--memory 128] [--no-table]
//! ```
//!
//! The function reaches DynamoDB at a moto server (`AFTERSALES_MOTO_URL`, or
//! one started here on a free loopback port, see `aftersales_tests::moto`),
//! in a table created from `infra/template.yaml` (or, with `--no-table`, a
//! table that does not exist: the warm-up read at init then fails, and so does
//! a list-claims event). The environment of the function is cleared and set as
//! Lambda sets it (no HOME, so no ~/.aws files are read).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const USAGE: &str = "usage: coldstart --function PATH [--runs 20] [--event list-claims|health] \
[--memory 128] [--no-table]";

struct Args {
    function: PathBuf,
    runs: usize,
    event: String,
    memory: u32,
    table: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        function: PathBuf::new(),
        runs: 20,
        event: "list-claims".into(),
        memory: 128,
        table: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--function" => a.function = PathBuf::from(val()?),
            "--runs" => a.runs = val()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--event" => a.event = val()?,
            "--memory" => a.memory = val()?.parse().map_err(|e| format!("--memory: {e}"))?,
            "--no-table" => a.table = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.function.as_os_str().is_empty() {
        return Err("--function is required".into());
    }
    if !matches!(a.event.as_str(), "list-claims" | "health") {
        return Err(format!("unknown event {}", a.event));
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(a)
}

/// An API Gateway HTTP API (payload 2.0) event; `list-claims` carries the
/// JWT authorizer's claims of a customer, as the gateway passes them.
fn event(kind: &str, request_id: &str) -> Value {
    let (path, auth) = match kind {
        "health" => ("/v1/health", Value::Null),
        _ => (
            "/v1/claims",
            json!({"jwt": {"claims": {"sub": "coldstart-customer", "role": "customer",
                                      "iss": "https://issuer.example", "aud": "aftersales"},
                           "scopes": null}}),
        ),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut ctx = json!({
        "accountId": "123456789012",
        "apiId": "coldstart",
        "domainName": "coldstart.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "coldstart",
        "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                 "sourceIp": "127.0.0.1", "userAgent": "coldstart"},
        "requestId": request_id,
        "routeKey": format!("GET {path}"),
        "stage": "$default",
        "time": "25/Nov/2026:12:00:00 +0000",
        "timeEpoch": now
    });
    if !auth.is_null() {
        ctx["authorizer"] = auth;
    }
    json!({
        "version": "2.0",
        "routeKey": format!("GET {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": "coldstart.execute-api.us-east-1.amazonaws.com",
                    "user-agent": "coldstart"},
        "requestContext": ctx,
        "isBase64Encoded": false
    })
}

/// What the emulator saw, in order.
#[derive(Debug)]
enum Seen {
    Next(Instant),
    Response(Instant, Bytes),
    Error(Bytes),
    InitError(Bytes),
}

/// The invocation handed out to the process started last.
struct Invocation {
    request_id: String,
    event: Vec<u8>,
    handed_out: bool,
}

#[derive(Clone)]
struct Emulator {
    current: Arc<Mutex<Option<Invocation>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn next(State(em): State<Emulator>) -> axum::response::Response {
    let at = Instant::now();
    let _ = em.seen.send(Seen::Next(at));
    let handout = {
        let mut cur = em.current.lock().unwrap_or_else(|p| p.into_inner());
        match cur.as_mut() {
            Some(inv) if !inv.handed_out => {
                inv.handed_out = true;
                Some((inv.request_id.clone(), inv.event.clone()))
            }
            _ => None,
        }
    };
    let Some((id, body)) = handout else {
        // One event per process: later polls wait until the process is stopped.
        return std::future::pending().await;
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).expect("header value"));
    };
    set("content-type", "application/json".into());
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:claims-api".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    (StatusCode::OK, headers, body).into_response()
}

async fn response(State(em): State<Emulator>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = em.seen.send(Seen::Response(Instant::now(), body));
    StatusCode::ACCEPTED
}

async fn error(State(em): State<Emulator>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = em.seen.send(Seen::Error(body));
    StatusCode::ACCEPTED
}

async fn init_error(State(em): State<Emulator>, body: Bytes) -> StatusCode {
    let _ = em.seen.send(Seen::InitError(body));
    StatusCode::ACCEPTED
}

struct Sample {
    init: Duration,
    first_response: Duration,
    status: i64,
    hwm_kb: Option<u64>,
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn quantile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[allow(clippy::too_many_arguments)]
async fn one_run(
    a: &Args,
    i: usize,
    api: &str,
    endpoint: &str,
    table: &str,
    em: &Emulator,
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    log: &std::fs::File,
) -> Result<Sample, String> {
    let request_id = format!("coldstart-{}-{i}", std::process::id());
    let body = serde_json::to_vec(&event(&a.event, &request_id)).map_err(|e| e.to_string())?;
    *em.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Invocation {
        request_id,
        event: body,
        handed_out: false,
    });
    while seen.try_recv().is_ok() {}

    let mut cmd = Command::new(&a.function);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "claims-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", a.memory.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("2026/11/25/[$LATEST]coldstart{i}"),
        )
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/claims-api")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("TABLE_NAME", table)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log.try_clone().map_err(|e| e.to_string())?);

    let spawned = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", a.function.display()))?;
    let pid = child.id();

    let mut first_next = None;
    let mut result = Err("the function posted nothing within 20 s".to_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(s)) = tokio::time::timeout_at(deadline, seen.recv()).await {
        match s {
            Seen::Next(at) => {
                first_next.get_or_insert(at);
            }
            Seen::Response(at, body) => {
                let status = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("statusCode").and_then(Value::as_i64))
                    .unwrap_or(-1);
                result = match first_next {
                    Some(n) => Ok(Sample {
                        init: n - spawned,
                        first_response: at - spawned,
                        status,
                        hwm_kb: vm_hwm_kb(pid),
                    }),
                    None => Err("a response before any /next".into()),
                };
                break;
            }
            Seen::Error(body) => {
                result = Err(format!(
                    "invocation error: {}",
                    String::from_utf8_lossy(&body)
                ));
                break;
            }
            Seen::InitError(body) => {
                result = Err(format!("init error: {}", String::from_utf8_lossy(&body)));
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn run(a: Args) -> Result<(), String> {
    let function =
        std::fs::canonicalize(&a.function).map_err(|e| format!("{}: {e}", a.function.display()))?;

    // DynamoDB: moto (started here unless AFTERSALES_MOTO_URL is set).
    let endpoint = aftersales_tests::moto::endpoint();
    let table = aftersales_tests::moto::unique_table_name("coldstart");
    if a.table {
        let client = aftersales_tests::moto::dynamodb_client().await;
        aftersales_tests::moto::create_table_from_template(&client, &table, "AftersalesTable")
            .await;
    }

    // The Runtime API.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let em = Emulator {
        current: Arc::new(Mutex::new(None)),
        seen: tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(em.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let api = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let log_path = std::env::temp_dir().join(format!("coldstart-{}.log", std::process::id()));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;

    println!(
        "function {} ({:.1} MB on disk), event {}, runtime API {api}, DynamoDB {endpoint}, table {} ({}), {} runs; function output in {}",
        function.display(),
        std::fs::metadata(&function).map_or(0.0, |m| m.len() as f64 / 1e6),
        a.event,
        table,
        if a.table { "created" } else { "not created" },
        a.runs,
        log_path.display()
    );
    let a = Args { function, ..a };
    let mut samples = Vec::new();
    for i in 0..a.runs {
        match one_run(&a, i, &api, &endpoint, &table, &em, &mut rx, &log).await {
            Ok(s) => {
                println!(
                    "run {i:2}: init {:>9}  first response {:>9}  status {}  peak RSS {}",
                    ms(s.init),
                    ms(s.first_response),
                    s.status,
                    s.hwm_kb
                        .map_or("-".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
                );
                samples.push(s);
            }
            Err(e) => println!("run {i:2}: FAILED: {e}"),
        }
    }
    if samples.is_empty() {
        return Err(format!("no run succeeded; see {}", log_path.display()));
    }
    let mut init: Vec<Duration> = samples.iter().map(|s| s.init).collect();
    let mut first: Vec<Duration> = samples.iter().map(|s| s.first_response).collect();
    init.sort();
    first.sort();
    let statuses: std::collections::BTreeMap<i64, usize> =
        samples.iter().fold(Default::default(), |mut m, s| {
            *m.entry(s.status).or_default() += 1;
            m
        });
    println!(
        "init (spawn → first /next):           median {}  p90 {}  min {}  max {}",
        ms(quantile(&init, 50.0)),
        ms(quantile(&init, 90.0)),
        ms(init[0]),
        ms(init[init.len() - 1])
    );
    println!(
        "first response (spawn → response):    median {}  p90 {}  min {}  max {}",
        ms(quantile(&first, 50.0)),
        ms(quantile(&first, 90.0)),
        ms(first[0]),
        ms(first[first.len() - 1])
    );
    println!(
        "RESULT runs={}/{} init_median_ms={:.2} init_p90_ms={:.2} first_response_median_ms={:.2} first_response_p90_ms={:.2} statuses={statuses:?}",
        samples.len(),
        a.runs,
        quantile(&init, 50.0).as_secs_f64() * 1000.0,
        quantile(&init, 90.0).as_secs_f64() * 1000.0,
        quantile(&first, 50.0).as_secs_f64() * 1000.0,
        quantile(&first, 90.0).as_secs_f64() * 1000.0,
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(a)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
