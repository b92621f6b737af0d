//! Load generator for claim submission against a running local runner
//! (`aftersales-local`). It mints nothing itself: tokens come in as
//! arguments (`aftersales-local token storefront shop-1`, `... token customer ID`).
//!
//! ```text
//! loadgen --base http://127.0.0.1:PORT --storefront-token T --customer-token T
//!         [--customer bench-customer] [--orders 5000] [--requests 20000]
//!         [--concurrency 32] [--pid RUNNER_PID] [--threads 1] [--run ID]
//!         [--pipeline-wait 0] [--pause-ms 0]
//! ```
//!
//! Phase 1 seeds `--orders` orders for the customer (PUT, concurrency as
//! given). Phase 2 fires `--requests` claim submissions (POST /v1/claims,
//! each with its own Idempotency-Key, one unit of one line) spread round-robin
//! over the orders and their lines, with `--concurrency` requests in flight.
//! Every answer other than 201 counts as an error. It prints throughput,
//! latency percentiles (sorted samples, exact), the runner's RSS and
//! high-water mark and the CPU time the runner and the load generator used.
//!
//! With `--pipeline-wait SECS` (the runner must be fresh: the customer's
//! claims are this run's), the orders are not shipped yet, so the default
//! rules approve their refund-only claims at once, and phase 3 then waits up to SECS for the pipeline
//! behind the intake — rules, refunds — to finish every claim, polling the
//! customer's claim list, and reports from the claims' own timelines the
//! time from submission to decision and to the refund sent (percentiles
//! over all claims) and the pipeline's rate end to end: claims whose refund
//! was sent, divided by the time from the first submission to the last
//! refund sent.
//!
//! `--pause-ms MS` waits that long after each claim a worker files: with
//! `--concurrency 1` and a pause longer than a claim's pipeline, every claim
//! meets an idle runner (the quiet submitted → decided figure).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Units of every line of a seeded order: the most claims one order can take.
const UNITS_PER_LINE: u64 = 10;
const LINES: [&str; 3] = ["L1", "L2", "L3"];

const USAGE: &str = "usage: loadgen --base URL --storefront-token T --customer-token T \
[--customer ID] [--shop shop-1] [--orders N] [--requests R] [--concurrency C] [--pid P] \
[--threads 1] [--run ID] [--pipeline-wait SECS] [--pause-ms MS]";

struct Args {
    base: String,
    storefront_token: String,
    customer_token: String,
    customer: String,
    shop: String,
    orders: usize,
    requests: usize,
    concurrency: usize,
    pid: Option<u32>,
    threads: usize,
    run: String,
    /// Seconds to wait for the pipeline to finish every claim; 0: no wait.
    pipeline_wait: u64,
    /// Milliseconds a worker waits after each claim it files.
    pause_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        base: String::new(),
        storefront_token: String::new(),
        customer_token: String::new(),
        customer: "bench-customer".into(),
        shop: "shop-1".into(),
        orders: 5000,
        requests: 20_000,
        concurrency: 32,
        pid: None,
        threads: 1,
        pipeline_wait: 0,
        pause_ms: 0,
        run: format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        ),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--base" => a.base = val()?.trim_end_matches('/').to_owned(),
            "--storefront-token" => a.storefront_token = val()?,
            "--customer-token" => a.customer_token = val()?,
            "--customer" => a.customer = val()?,
            "--shop" => a.shop = val()?,
            "--orders" => a.orders = num(val()?)?,
            "--requests" => a.requests = num(val()?)?,
            "--concurrency" => a.concurrency = num(val()?)?,
            "--pid" => a.pid = Some(val()?.parse().map_err(|e| format!("--pid: {e}"))?),
            "--threads" => a.threads = num(val()?)?,
            "--run" => a.run = val()?,
            "--pipeline-wait" => a.pipeline_wait = num(val()?)? as u64,
            "--pause-ms" => a.pause_ms = num(val()?)? as u64,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.base.is_empty() || a.storefront_token.is_empty() || a.customer_token.is_empty() {
        return Err("--base, --storefront-token and --customer-token are required".into());
    }
    if a.orders == 0 || a.concurrency == 0 || a.threads == 0 {
        return Err("--orders, --concurrency and --threads must be at least 1".into());
    }
    let per_order = a.requests.div_ceil(a.orders) as u64;
    if per_order > UNITS_PER_LINE * LINES.len() as u64 {
        return Err(format!(
            "{} requests over {} orders is {per_order} claims per order; an order has only {} units: \
             raise --orders",
            a.requests,
            a.orders,
            UNITS_PER_LINE * LINES.len() as u64
        ));
    }
    Ok(a)
}

/// An order with three lines of `UNITS_PER_LINE` units each, paid in full.
fn order_body(customer: &str) -> Value {
    let q = UNITS_PER_LINE;
    // 10 × 99.00 − 10.00 + 10 × 30.00 + 10 × 15.00 − 20.00 + 8.00 = 1418.00
    json!({
        "customer_id": customer,
        "member_tier": "gold",
        "language": "en",
        "currency": "CNY",
        "placed_at": "2026-11-20T08:00:00Z",
        "lines": [
            {"line_id": "L1", "sku": "TEE-M", "title": "T-shirt", "kind": "physical",
             "quantity": q, "unit_price": "99.00", "discount": "10.00"},
            {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": q, "unit_price": "30.00"},
            {"line_id": "L3", "sku": "CAP", "title": "Cap", "kind": "physical",
             "quantity": q, "unit_price": "15.00"}
        ],
        "order_discount": "20.00",
        "shipping_fee": "8.00",
        "payments": [
            {"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000001",
             "amount": "1418.00", "paid_at": "2026-11-20T08:01:00Z"}
        ],
        "fulfilment": {"state": "shipped", "shipped_at": "2026-11-21T09:00:00Z"}
    })
}

/// For the pipeline: the same order not shipped yet, whose refund-only
/// claims the default rules approve at once (`unshipped-refund-only`).
fn unshipped_order_body(customer: &str) -> Value {
    let mut o = order_body(customer);
    o["fulfilment"] = json!({"state": "paid_unshipped"});
    o
}

fn order_id(run: &str, i: usize) -> String {
    format!("o-{run}-{i}")
}

/// Claim `i`: order `i mod N`, then the next line of that order each time
/// round (so consecutive claims hit different orders and one order's lines
/// are used evenly).
fn claim_body(a: &Args, i: usize) -> Value {
    let order = i % a.orders;
    let round = i / a.orders;
    // The pipeline's claims are refund-only on unshipped orders, decided
    // and refunded without staff; the intake's are returns.
    let (kind, reason) = if a.pipeline_wait > 0 {
        ("refund_only", "no_longer_wanted")
    } else {
        ("return_refund", "wrong_size")
    };
    json!({
        "shop_id": a.shop,
        "order_id": order_id(&a.run, order),
        "type": kind,
        "reason": reason,
        "description": "Too small",
        "lines": [{"line_id": LINES[round % LINES.len()], "quantity": 1}]
    })
}

#[derive(Default)]
struct Outcome {
    /// Latency of each request, microseconds.
    latencies_us: Vec<u64>,
    /// Count per HTTP status; 0 is a transport error.
    statuses: BTreeMap<u16, usize>,
    /// A few error bodies, to show why.
    samples: Vec<String>,
    /// `claim_id` of each created claim, by request number (pipeline mode).
    created: Vec<(usize, String)>,
}

/// Runs `total` requests with `concurrency` in flight; `make(i)` builds request `i`.
async fn run_phase<F>(
    concurrency: usize,
    pause: Duration,
    total: usize,
    expect: &'static [u16],
    make: F,
) -> (Outcome, Duration)
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let merged = Arc::new(Mutex::new(Outcome::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.min(total.max(1)) {
        let next = next.clone();
        let make = make.clone();
        let merged = merged.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Outcome::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let rb = make(i);
                let t0 = Instant::now();
                let (status, body) = match rb.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.bytes().await {
                            Ok(b) => (status, b),
                            Err(e) => (0, e.to_string().into_bytes().into()),
                        }
                    }
                    Err(e) => (0, e.to_string().into_bytes().into()),
                };
                mine.latencies_us.push(t0.elapsed().as_micros() as u64);
                *mine.statuses.entry(status).or_default() += 1;
                if status == 201 {
                    if let Some(id) = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["claim_id"].as_str().map(str::to_owned))
                    {
                        mine.created.push((i, id));
                    }
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                if !expect.contains(&status) && mine.samples.len() < 3 {
                    mine.samples
                        .push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                }
            }
            let mut all = merged.lock().unwrap_or_else(|p| p.into_inner());
            all.latencies_us.extend(mine.latencies_us);
            all.created.extend(mine.created);
            for (s, n) in mine.statuses {
                *all.statuses.entry(s).or_default() += n;
            }
            for s in mine.samples {
                if all.samples.len() < 5 {
                    all.samples.push(s);
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker task");
    }
    let elapsed = started.elapsed();
    let outcome = std::mem::take(&mut *merged.lock().unwrap_or_else(|p| p.into_inner()));
    (outcome, elapsed)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// `VmHWM` and `VmRSS` of a process, in kB.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// User + system CPU time of a process (`self` or a pid), in seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after `) `.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux this runs on (x86_64, aarch64).
    100.0
}

fn report(name: &str, o: &mut Outcome, elapsed: Duration, expect: &[u16]) -> usize {
    o.latencies_us.sort_unstable();
    let n = o.latencies_us.len();
    let errors: usize = o
        .statuses
        .iter()
        .filter(|(s, _)| !expect.contains(s))
        .map(|(_, n)| n)
        .sum();
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "{name}: {n} requests in {:.3} s = {rate:.0} req/s; errors {errors}; statuses {:?}",
        elapsed.as_secs_f64(),
        o.statuses
    );
    let l = &o.latencies_us;
    println!(
        "{name} latency: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        ms(percentile(l, 50.0)),
        ms(percentile(l, 90.0)),
        ms(percentile(l, 99.0)),
        ms(percentile(l, 99.9)),
        ms(l.last().copied().unwrap_or(0))
    );
    for s in &o.samples {
        let cut: String = s.chars().take(300).collect();
        println!("{name} error sample: {cut}");
    }
    errors
}

async fn run(a: Args) -> Result<usize, String> {
    aftersales::providers::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| e.to_string())?;
    let mem_before = a.pid.and_then(memory_kb);

    println!(
        "run {}: {} orders, {} claims, concurrency {}, loadgen threads {}",
        a.run, a.orders, a.requests, a.concurrency, a.threads
    );
    let a = Arc::new(a);

    // Phase 1: orders.
    let order = if a.pipeline_wait > 0 {
        unshipped_order_body(&a.customer)
    } else {
        order_body(&a.customer)
    };
    let body = Arc::new(serde_json::to_vec(&order).map_err(|e| e.to_string())?);
    let (mut seeded, elapsed) = {
        let (a, client, body) = (a.clone(), client.clone(), body.clone());
        run_phase(a.concurrency, Duration::ZERO, a.orders, &[201], move |i| {
            client
                .put(format!(
                    "{}/v1/shops/{}/orders/{}",
                    a.base,
                    a.shop,
                    order_id(&a.run, i)
                ))
                .bearer_auth(&a.storefront_token)
                .header("content-type", "application/json")
                .body((*body).clone())
        })
        .await
    };
    let seed_errors = report("seed orders (PUT)", &mut seeded, elapsed, &[201]);
    if seed_errors > 0 {
        return Err(format!(
            "{seed_errors} orders could not be seeded; not submitting claims"
        ));
    }
    let mem_seeded = a.pid.and_then(memory_kb);

    // Phase 2: claims.
    let runner_cpu0 = a.pid.and_then(|p| cpu_seconds(&p.to_string()));
    let self_cpu0 = cpu_seconds("self");
    let (mut claims, elapsed) = {
        let (a, client) = (a.clone(), client.clone());
        run_phase(
            a.concurrency,
            Duration::from_millis(a.pause_ms),
            a.requests,
            &[201],
            move |i| {
                let body = serde_json::to_vec(&claim_body(&a, i)).expect("claim body");
                client
                    .post(format!("{}/v1/claims", a.base))
                    .bearer_auth(&a.customer_token)
                    .header("content-type", "application/json")
                    .header("idempotency-key", format!("lg-{}-{i}", a.run))
                    .body(body)
            },
        )
        .await
    };
    let runner_cpu1 = a.pid.and_then(|p| cpu_seconds(&p.to_string()));
    let self_cpu1 = cpu_seconds("self");
    let errors = report("submit claims (POST)", &mut claims, elapsed, &[201]);

    let secs = elapsed.as_secs_f64();
    if let (Some(r0), Some(r1)) = (runner_cpu0, runner_cpu1) {
        let n = claims.latencies_us.len().max(1) as f64;
        println!(
            "runner CPU during claims: {:.2} s = {:.2} cores busy, {:.0} µs CPU per claim",
            r1 - r0,
            (r1 - r0) / secs,
            (r1 - r0) * 1e6 / n
        );
    }
    if let (Some(s0), Some(s1)) = (self_cpu0, self_cpu1) {
        println!(
            "loadgen CPU during claims: {:.2} s = {:.2} cores busy",
            s1 - s0,
            (s1 - s0) / secs
        );
    }
    if let Some(pid) = a.pid {
        let show = |label: &str, m: Option<(u64, u64)>| match m {
            Some((hwm, rss)) => println!(
                "runner memory {label}: VmRSS {:.1} MB, VmHWM {:.1} MB",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            ),
            None => println!("runner memory {label}: /proc/{pid}/status not readable"),
        };
        show("at start", mem_before);
        show("after seeding", mem_seeded);
        show("at end", memory_kb(pid));
    }
    let mut l = claims.latencies_us.clone();
    l.sort_unstable();
    let mem = a.pid.and_then(memory_kb);
    println!(
        "RESULT concurrency={} requests={} errors={} rps={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} rss_mb={} hwm_mb={}",
        a.concurrency,
        l.len(),
        errors,
        l.len() as f64 / secs,
        percentile(&l, 50.0) as f64 / 1000.0,
        percentile(&l, 90.0) as f64 / 1000.0,
        percentile(&l, 99.0) as f64 / 1000.0,
        l.last().copied().unwrap_or(0) as f64 / 1000.0,
        mem.map_or("-".into(), |m| format!("{:.1}", m.1 as f64 / 1024.0)),
        mem.map_or("-".into(), |m| format!("{:.1}", m.0 as f64 / 1024.0)),
    );
    if a.pipeline_wait > 0 {
        let last = claims
            .created
            .iter()
            .max_by_key(|(i, _)| *i)
            .map(|(_, id)| id.clone());
        pipeline(&client, &a, l.len(), last).await?;
    }
    Ok(errors)
}

/// When a claim reached each step (the first time), from its timeline.
fn step_at(claim: &Value, event: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    claim["timeline"]
        .as_array()?
        .iter()
        .find(|t| t["event"] == event)
        .and_then(|t| t["at"].as_str()?.parse().ok())
}

/// Every claim of the customer, through the paged list.
async fn all_claims(client: &reqwest::Client, a: &Args) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/claims?limit=100", a.base);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(&a.customer_token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        out.extend(page["claims"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

/// Phase 3: waits for the pipeline to decide every claim and send its
/// refund, then reports its latencies and rate from the timelines.
async fn pipeline(
    client: &reqwest::Client,
    a: &Args,
    submitted: usize,
    last: Option<String>,
) -> Result<(), String> {
    let started = Instant::now();
    let finished = |c: &Value| {
        step_at(c, "refund_sent").is_some()
            || step_at(c, "rejected").is_some()
            || c["status"] == "under_review"
    };
    // A cheap probe first: the last claim submitted, whose events are the
    // outbox's newest, until it is finished (listing thousands of claims
    // every poll would load the runner it measures); then the whole list.
    if let Some(id) = last {
        while started.elapsed().as_secs() < a.pipeline_wait {
            let claim: Value = client
                .get(format!("{}/v1/claims/{id}", a.base))
                .bearer_auth(&a.customer_token)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if finished(&claim) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let claims = loop {
        let claims = all_claims(client, a).await?;
        let done = claims.iter().filter(|c| finished(c)).count();
        if done >= submitted && claims.len() >= submitted {
            break claims;
        }
        if started.elapsed().as_secs() >= a.pipeline_wait {
            println!(
                "pipeline: {done} of {submitted} claims finished after {} s; reporting those",
                a.pipeline_wait
            );
            break claims;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let mut decided = Vec::new();
    let mut refunded = Vec::new();
    let mut first_submit = None;
    let mut last_refund = None;
    let mut with_staff = 0;
    for c in &claims {
        let Some(sub) = step_at(c, "submitted") else {
            continue;
        };
        first_submit =
            Some(first_submit.map_or(sub, |f: chrono::DateTime<chrono::Utc>| f.min(sub)));
        let decision = step_at(c, "approved").or_else(|| step_at(c, "rejected"));
        match decision {
            Some(d) => decided.push((d - sub).num_microseconds().unwrap_or(0).max(0) as u64),
            None => with_staff += 1,
        }
        if let Some(r) = step_at(c, "refund_sent") {
            refunded.push((r - sub).num_microseconds().unwrap_or(0).max(0) as u64);
            last_refund = Some(last_refund.map_or(r, |l: chrono::DateTime<chrono::Utc>| l.max(r)));
        }
    }
    decided.sort_unstable();
    refunded.sort_unstable();
    let span = match (first_submit, last_refund) {
        (Some(f), Some(l)) => (l - f).num_microseconds().unwrap_or(0) as f64 / 1e6,
        _ => 0.0,
    };
    let line = |name: &str, v: &[u64]| {
        println!(
            "pipeline {name}: {} claims, p50 {}, p90 {}, p99 {}, max {}",
            v.len(),
            ms(percentile(v, 50.0)),
            ms(percentile(v, 90.0)),
            ms(percentile(v, 99.0)),
            ms(v.last().copied().unwrap_or(0))
        )
    };
    line("submitted -> decided", &decided);
    line("submitted -> refund sent", &refunded);
    println!(
        "PIPELINE claims={} decided={} with_staff={} refunds_sent={} span_s={:.2} refunds_per_s={:.0} decided_p50_ms={:.2} decided_p99_ms={:.2} refund_sent_p99_ms={:.2}",
        claims.len(),
        decided.len(),
        with_staff,
        refunded.len(),
        span,
        if span > 0.0 { refunded.len() as f64 / span } else { 0.0 },
        percentile(&decided, 50.0) as f64 / 1000.0,
        percentile(&decided, 99.0) as f64 / 1000.0,
        percentile(&refunded, 99.0) as f64 / 1000.0,
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
    let rt = if a.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(a.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(a)) {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
