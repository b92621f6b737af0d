//! The merchant's desk in a real browser: headless Chromium through
//! chromedriver, against the `aftersales-local` binary on a free loopback
//! port with an empty data folder (as `browser_customer.rs`).
//!
//! A storefront pushes shipped orders and customers file return claims over
//! the API; shipped more than 7 days ago, the default rules send them to
//! staff (`late-return-manual`). A reviewer signs in on the sign-in page,
//! opens the desk, previews a batch approval of the gold members' claims
//! (the preview counts them and names each), confirms it, rejects the
//! remaining claim from its page (which shows the rule trace), and dry-runs
//! a changed rule set on the rules page: every claim would be decided
//! differently, and nothing changed. Along the way: every control has a
//! label, no console errors, another shop's claim page is "not found".
//!
//! Needs Chromium and chromedriver, as the customer's browser test.

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the rules and the sandbox provider may take to approve and
/// refund (debug builds on a busy machine).
const PATIENCE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Environment that would point the runner elsewhere.
const FOREIGN_ENV: &[&str] = &[
    "AFTERSALES_ADDR",
    "AFTERSALES_DATA",
    "AFTERSALES_DEV_SECRET",
    "AFTERSALES_PROVIDERS",
    "WECHATPAY_CONFIG",
    "ALIPAY_CONFIG",
    "ALIPAY_PAYOUT_CONFIG",
    "STRIPE_CONFIG",
];

fn runner_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aftersales-local"));
    c.current_dir(dir);
    for v in FOREIGN_ENV {
        c.env_remove(v);
    }
    c
}

/// A child process killed when the test ends, however it ends.
struct Proc {
    child: Child,
    log: PathBuf,
    what: &'static str,
}

impl Proc {
    fn start(what: &'static str, mut cmd: Command, log: PathBuf, addr: &str) -> Proc {
        let out = std::fs::File::create(&log).expect("a log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
        let mut p = Proc { child, log, what };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{what} stopped ({status}):\n{}", p.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on {addr} within 30 s:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} (last lines):\n{}",
            self.what,
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A program named by `var`, else the first of `candidates` found (as a
/// path, or on PATH). The test fails without it.
fn program(var: &str, candidates: &[&str], package: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for c in candidates {
        let direct = PathBuf::from(c);
        if direct.is_absolute() && direct.is_file() {
            return direct;
        }
        if let Some(found) = std::env::split_paths(&path)
            .map(|d| d.join(c))
            .find(|p| p.is_file())
        {
            return found;
        }
    }
    panic!(
        "{} not found: the browser tests need it (Debian: apt-get install {package}; \
         .ci/run installs it), or set {var}",
        candidates.join(" or ")
    );
}

fn token(dir: &Path, args: &[&str]) -> String {
    let out = runner_command(dir)
        .arg("token")
        .args(args)
        .args(["--data", "data"])
        .output()
        .expect("the runner mints a token");
    assert!(out.status.success(), "token {args:?}: {out:?}");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// chromedriver's browser log (console messages, failed loads) since the
/// last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The browser's console errors since the last look.
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.expect("the browser log");
    log.as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["level"] == "SEVERE")
                .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.expect("text"),
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let source = c.source().await.unwrap_or_default();
            panic!("no {css} on {url:?}: {e}\n{source}")
        }
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("type");
}

/// Submits a form and waits for the page it leads to (a click does not
/// wait for the navigation it starts).
async fn submit(c: &Client, form: &str) {
    c.execute("window.__before_submit = 1;", vec![])
        .await
        .expect("mark the page");
    c.find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap_or_else(|e| panic!("no submit button in {form}: {e}"))
        .click()
        .await
        .expect("click");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = c
            .execute(
                "return window.__before_submit === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .unwrap_or(Value::Bool(false));
        if done == Value::Bool(true) {
            break;
        }
        assert!(Instant::now() < deadline, "{form}: no new page in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.expect("url").path().to_owned()
}

fn shipped_order(customer: &str, tier: &str) -> Value {
    json!({
        "customer_id": customer, "member_tier": tier,
        "currency": "CNY", "placed_at": "2026-11-20T08:00:00Z",
        "lines": [{"line_id": "L1", "sku": "TEE-M", "title": "T-shirt", "kind": "physical",
                   "quantity": 2, "unit_price": "99.00"}],
        "shipping_fee": "0.00",
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000001",
                      "amount": "198.00", "paid_at": "2026-11-20T08:01:00Z"}],
        "fulfilment": {"state": "shipped", "shipped_at": "2026-11-21T09:00:00Z"}
    })
}

/// Pushes `order_id` for `customer` to `shop` and files a return of both
/// units; the claim's id.
async fn file_return(
    http: &reqwest::Client,
    dir: &Path,
    base: &str,
    shop: &str,
    order_id: &str,
    customer: &str,
    tier: &str,
) -> String {
    let sf = token(dir, &["storefront", shop]);
    let r = http
        .put(format!("{base}/v1/shops/{shop}/orders/{order_id}"))
        .bearer_auth(&sf)
        .json(&shipped_order(customer, tier))
        .send()
        .await
        .expect("the order is pushed");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let who = token(dir, &["customer", customer]);
    let v: Value = http
        .post(format!("{base}/v1/claims"))
        .bearer_auth(&who)
        .json(
            &json!({"shop_id": shop, "order_id": order_id, "type": "return_refund",
                      "reason": "wrong_size", "lines": [{"line_id": "L1", "quantity": 2}]}),
        )
        .send()
        .await
        .expect("the claim")
        .json()
        .await
        .expect("json");
    v["claim_id"].as_str().expect("a claim id").to_owned()
}

/// Waits until the rules have put every claim with staff.
async fn until_under_review(http: &reqwest::Client, base: &str, staff: &str, ids: &[String]) {
    let deadline = Instant::now() + PATIENCE;
    for id in ids {
        loop {
            let v: Value = http
                .get(format!("{base}/v1/shops/shop-1/desk/claims/{id}"))
                .bearer_auth(staff)
                .send()
                .await
                .expect("the claim")
                .json()
                .await
                .expect("json");
            if v["claim"]["status"] == "under_review" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "claim {id} did not reach under_review: {v}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_work_the_desk_in_a_browser() {
    let chromedriver = program(
        "CHROMEDRIVER",
        &["/usr/bin/chromedriver", "chromedriver"],
        "chromium-driver",
    );
    let chromium = program(
        "CHROMIUM",
        &["/usr/bin/chromium", "chromium", "chromium-browser"],
        "chromium",
    );

    let dir = tempfile::tempdir().expect("a folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{addr}");
    let mut serve = runner_command(dir.path());
    serve
        .args(["serve", "--addr", &addr, "--data", "data"])
        .env("RUST_LOG", "warn");
    let runner = Proc::start("the runner", serve, dir.path().join("runner.log"), &addr);

    aftersales::providers::install_crypto_provider();
    let http = reqwest::Client::new();
    // Three gold members' returns and a regular member's at shop-1; one at shop-2.
    let mut ids = Vec::new();
    for (i, tier) in ["gold", "gold", "gold", "regular"].iter().enumerate() {
        ids.push(
            file_return(
                &http,
                dir.path(),
                &base,
                "shop-1",
                &format!("o-{i}"),
                &format!("cust-{i}"),
                tier,
            )
            .await,
        );
    }
    let foreign = file_return(&http, dir.path(), &base, "shop-2", "o-9", "zoe", "gold").await;
    let staff = token(dir.path(), &["staff", "rev-1", "shop-1", "reviewer"]);
    until_under_review(&http, &base, &staff, &ids).await;

    // The desk's forms without their anti-forgery value are refused, even
    // with a signed-in session, before anything is decided.
    for path in [
        "/desk/batch".to_owned(),
        "/desk/batch/preview".to_owned(),
        "/desk/rules/dry-run".to_owned(),
        format!("/desk/claims/{}/decision", ids[0]),
    ] {
        let r = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "cookie",
                format!("as_session={staff}; as_csrf=0123456789abcdef0123456789abcdef"),
            )
            .body("csrf=fedcba9876543210fedcba9876543210&decision=approve&status=under_review")
            .send()
            .await
            .expect("a forged form");
        assert_eq!(r.status(), 403, "{path}");
    }
    let (_, rules) = {
        let r = http
            .get(format!("{base}/v1/shops/shop-1/rules"))
            .bearer_auth(&staff)
            .send()
            .await
            .expect("the rules");
        (r.status(), r.json::<Value>().await.expect("json"))
    };
    let mut candidate = rules.clone();
    for r in candidate["rules"].as_array_mut().expect("rules") {
        if r["id"] == "late-return-manual" {
            r["then"] = json!({"decision": "reject", "reason": "outside_return_window"});
        }
    }

    let driver_port = free_port();
    let mut driver_cmd = Command::new(&chromedriver);
    driver_cmd.arg(format!("--port={driver_port}"));
    let driver = Proc::start(
        "chromedriver",
        driver_cmd,
        dir.path().join("chromedriver.log"),
        &format!("127.0.0.1:{driver_port}"),
    );
    let profile = dir.path().join("chromium-profile");
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--lang=en-US", format!("--user-data-dir={}", profile.display())]
        },
        "goog:loggingPrefs": {"browser": "ALL"}
    }))
    .expect("capabilities");
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", driver.log_text()));

    let outcome = desk_flow(&c, &base, &ids, &foreign, &candidate).await;
    let _ = c.close().await;
    if let Err(why) = outcome {
        panic!("{why}\n{}\n{}", runner.log_text(), driver.log_text());
    }
    // What the pages did, as the API sees it.
    for (i, id) in ids.iter().enumerate() {
        let v: Value = http
            .get(format!("{base}/v1/shops/shop-1/desk/claims/{id}"))
            .bearer_auth(&staff)
            .send()
            .await
            .expect("the claim")
            .json()
            .await
            .expect("json");
        let want = if i < 3 { "awaiting_return" } else { "rejected" };
        assert_eq!(v["claim"]["status"], want, "{v}");
    }
}

async fn labelled(c: &Client) -> Result<(), String> {
    let unlabelled: Value = c
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
             .filter(e => !e.labels || e.labels.length === 0).map(e => e.name);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    check(
        unlabelled == json!([]),
        &format!("unlabelled controls on {}: {unlabelled}", path_of(c).await),
    )
}

async fn desk_flow(
    c: &Client,
    base: &str,
    ids: &[String],
    foreign: &str,
    candidate: &Value,
) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    c.goto(&format!("{base}/sign-in?lang=en"))
        .await
        .map_err(|e| e.to_string())?;
    c.find(Locator::Css("#role"))
        .await
        .map_err(e)?
        .select_by_value("staff")
        .await
        .map_err(e)?;
    fill(c, "#id", "rev-1").await;
    fill(c, "#shop_id", "shop-1").await;
    submit(c, "form[action='/sign-in']").await;
    check(path_of(c).await == "/", "signed in, the start page")?;
    c.find(Locator::Css("#to-desk"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    check(path_of(c).await == "/desk", "the desk")?;
    labelled(c).await?;
    check(
        text(c, "#queue-total").await.ends_with(": 4"),
        "four claims wait for the shop",
    )?;
    for id in ids {
        check(
            c.find(Locator::Css(&format!("#queue tr[data-claim-id='{id}']")))
                .await
                .is_ok(),
            &format!("{id} is in the queue"),
        )?;
    }

    // Filter on gold members, then preview the batch approval.
    c.find(Locator::Css("#member_tier"))
        .await
        .map_err(e)?
        .select_by_value("gold")
        .await
        .map_err(e)?;
    submit(c, "form[action='/desk']").await;
    check(
        text(c, "#queue-total").await.ends_with(": 3"),
        "three gold members' claims",
    )?;
    submit(c, "form[action='/desk/batch/preview']").await;
    check(
        text(c, "#preview-count").await.ends_with("3"),
        "the preview counts three claims",
    )?;
    for id in &ids[..3] {
        check(
            c.find(Locator::Css(&format!(
                "#preview-claims li[data-claim-id='{id}']"
            )))
            .await
            .is_ok(),
            &format!("the preview names {id}"),
        )?;
    }
    check(
        c.find(Locator::Css(&format!(
            "#preview-claims li[data-claim-id='{}']",
            ids[3]
        )))
        .await
        .is_err(),
        "the preview leaves the regular member's claim out",
    )?;
    submit(c, "form[action='/desk/batch']").await;
    check(
        text(c, "#batch-decided").await.ends_with("3"),
        "the batch decided three claims",
    )?;
    check(
        text(c, "#batch-failed").await.ends_with("0"),
        "and none failed",
    )?;

    // The regular member's claim: the rule trace, then a rejection.
    c.goto(&format!("{base}/desk/claims/{}", ids[3]))
        .await
        .map_err(e)?;
    labelled(c).await?;
    check(
        text(c, "#rule-trace").await.contains("late-return-manual"),
        "the rule trace names the rule that sent the claim to staff",
    )?;
    c.find(Locator::Css("#one-reject"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    c.find(Locator::Css("#one-reason"))
        .await
        .map_err(e)?
        .select_by_value("outside_return_window")
        .await
        .map_err(e)?;
    submit(c, "form[action$='/decision']").await;
    let status = text(c, "#claim-status").await;
    check(
        status == "Rejected" || status.to_lowercase().contains("reject"),
        &format!("the claim is rejected: {status:?}"),
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;

    // The rules page: a changed set dry-run over the last 30 days.
    c.goto(&format!("{base}/desk/rules")).await.map_err(e)?;
    labelled(c).await?;
    c.execute(
        "document.querySelector('#rules').value = arguments[0];",
        vec![json!(serde_json::to_string_pretty(candidate).expect("json"))],
    )
    .await
    .map_err(e)?;
    submit(c, "form[action='/desk/rules/dry-run']").await;
    let differing = text(c, "#dry-run-differing").await;
    check(
        differing == "4",
        &format!("every claim would be decided differently: {differing}"),
    )?;
    check(
        text(c, "#dry-run-claims")
            .await
            .contains("outside_return_window"),
        "the differing claims show the candidate's rejection",
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;

    // Another shop's claim is not found here.
    c.goto(&format!("{base}/desk/claims/{foreign}"))
        .await
        .map_err(e)?;
    check(
        text(c, "h1").await == "Not found",
        "another shop's claim is not found",
    )?;
    check(
        !c.source().await.map_err(e)?.contains("zoe"),
        "and shows nothing of it",
    )?;
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("not so: {what}"))
    }
}
