//! The browser tests' part: Chromium and chromedriver found (the tests fail
//! without them), the browser's console, and a person's actions on a page.
#![allow(dead_code)]

use super::{free_port, Proc};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A program named by `var`, else the first of `candidates` found (as a
/// path, or on PATH). The test fails without it.
pub fn program(var: &str, candidates: &[&str], package: &str) -> PathBuf {
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

/// chromedriver's browser log (console messages, failed loads) since the
/// last read.
#[derive(Debug)]
pub struct BrowserLog;

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
pub async fn console_errors(c: &Client) -> Vec<String> {
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

pub async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.expect("text"),
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let source = c.source().await.unwrap_or_default();
            panic!("no {css} on {url:?}: {e}\n{source}")
        }
    }
}

pub async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("type");
}

/// Submits a form and waits for the page it leads to (a click does not
/// wait for the navigation it starts).
pub async fn submit(c: &Client, form: &str) {
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

pub async fn path_of(c: &Client) -> String {
    c.current_url().await.expect("url").path().to_owned()
}

pub fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("not so: {what}"))
    }
}

/// Chromium and chromedriver: `$CHROMIUM` / `$CHROMEDRIVER`, else Debian's
/// (the test fails without them).
pub fn chromium_and_driver() -> (PathBuf, PathBuf) {
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
    (chromium, chromedriver)
}

/// chromedriver on a free port and a headless Chromium session through it
/// (a fresh profile in `dir`, a window of `window` = "W,H", the browser's
/// console log kept for [`console_errors`]).
pub async fn open(
    dir: &Path,
    (chromium, chromedriver): &(PathBuf, PathBuf),
    window: &str,
) -> (Proc, Client) {
    let driver_port = free_port();
    let mut driver_cmd = Command::new(chromedriver);
    driver_cmd.arg(format!("--port={driver_port}"));
    let driver = Proc::start(
        "chromedriver",
        driver_cmd,
        dir.join("chromedriver.log"),
        &format!("127.0.0.1:{driver_port}"),
    );
    let profile = dir.join("chromium-profile");
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", format!("--window-size={window}"),
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
    (driver, c)
}

/// The engine whose run's screenshots are written.
pub const KEPT_ENGINE: &str = "sqlite";

/// The phone and desktop widths the pages are shown at (CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);
pub const DESKTOP: (u32, u32) = (1280, 900);

/// A PNG's width and height, read from its header; None if `bytes` is not
/// a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(MAGIC) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some((be(16), be(20)))
}

/// A screenshot of the page at `size` (the window resized to it first),
/// scrolled to `scroll_to` if given: checked to be a PNG of that size,
/// and, if `engine` is the one whose pictures are kept, written to
/// `$AFTERSALES_SCREENSHOTS/{name}.png` when that folder is set (a
/// relative folder is taken from the repository root).
pub async fn screenshot(
    c: &Client,
    engine: &str,
    name: &str,
    size: (u32, u32),
    scroll_to: Option<&str>,
) -> Result<Vec<u8>, String> {
    // The window is the page plus the browser's frame: size it so that
    // the page itself gets `size`.
    c.set_window_size(size.0, size.1)
        .await
        .map_err(|e| format!("window size: {e}"))?;
    let inner: (u32, u32) = serde_json::from_value(
        c.execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .map_err(|e| format!("page size: {e}"))?,
    )
    .map_err(|e| format!("page size: {e}"))?;
    if inner != size {
        c.set_window_size(2 * size.0 - inner.0, 2 * size.1 - inner.1)
            .await
            .map_err(|e| format!("window size: {e}"))?;
    }
    let scroll = match scroll_to {
        Some(css) => format!("document.querySelector({css:?}).scrollIntoView();"),
        None => "window.scrollTo(0, 0);".to_owned(),
    };
    c.execute(&scroll, vec![])
        .await
        .map_err(|e| format!("scroll: {e}"))?;
    let png = c
        .screenshot()
        .await
        .map_err(|e| format!("screenshot: {e}"))?;
    let Some(got) = png_size(&png) else {
        return Err(format!("{name}: the screenshot is not a PNG"));
    };
    check(
        got == size,
        &format!("{name}: the screenshot is {got:?} pixels, not {size:?}"),
    )?;
    // The pages are the same on both engines: one run writes the pictures,
    // so two runs at once never write the same file.
    if let Some(dir) = std::env::var_os("AFTERSALES_SCREENSHOTS").filter(|_| engine == KEPT_ENGINE)
    {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = dir.join(format!("{name}.png"));
        std::fs::write(&file, &png).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(png)
}
