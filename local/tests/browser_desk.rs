//! The merchant's desk in a real browser: headless Chromium through
//! chromedriver, against the `aftersales-local` binary on a free loopback
//! port with an empty data folder, on both engines (as `browser_customer.rs`).
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
//! Then the service figures: a refund-only claim the rules approve at
//! once (the sandbox refunds it), and `/desk/sla` draws four charts whose
//! tables hold exactly the numbers the API's report gives for the same
//! range, the other shop's claim counted nowhere. Last, money: the
//! rejected claim's customer disputes it and `/desk/disputes` lists it;
//! `/desk/refunds` finds the refund by order and by the customer's phone
//! (written differently), and its monthly export is the API's CSV, for
//! finance only. The queue, a claim and
//! the figures are photographed at a desktop width (written to
//! `$AFTERSALES_SCREENSHOTS` when set).
//!
//! Needs Chromium and chromedriver, as the customer's browser test.

mod common;

use common::browser::{
    check, chromium_and_driver, console_errors, fill, open, path_of, screenshot, submit, text,
    DESKTOP,
};
use common::{free_port, token, Proc};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the rules and the sandbox provider may take to approve and
/// refund (debug builds on a busy machine).
const PATIENCE: Duration = Duration::from_secs(60);

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

async fn staff_work_the_desk_in_a_browser(engine: &str) {
    let browser = chromium_and_driver();

    let dir = tempfile::tempdir().expect("a folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{addr}");
    let runner = Proc::runner_on(engine, dir.path(), &addr).await;

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
    // The figures are for staff: a customer signed in is refused them.
    let customer = token(dir.path(), &["customer", "cust-0"]);
    let r = http
        .get(format!("{base}/desk/sla"))
        .header("cookie", format!("as_session={customer}"))
        .send()
        .await
        .expect("the figures page");
    assert_eq!(r.status(), 403);
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

    let (driver, c) = open(dir.path(), &browser, "1280,900").await;

    let mut outcome = desk_flow(&c, engine, &base, &ids, &foreign, &candidate).await;
    if outcome.is_ok() {
        // A claim the rules decide (and the sandbox refunds) for the figures.
        let auto = refund_only_claim(&http, dir.path(), &base).await;
        until_completed(&http, dir.path(), &base, &auto).await;
        outcome = sla_flow(&c, engine, &base, &http, &staff).await;
    }
    if outcome.is_ok() {
        // The rejected claim's customer disputes the rejection.
        let cust = token(dir.path(), &["customer", "cust-3"]);
        let r = http
            .post(format!("{base}/v1/claims/{}/dispute", ids[3]))
            .bearer_auth(&cust)
            .json(
                &json!({"grounds": "rejection_not_accepted", "wished": {"kind": "exchange"},
                          "text": "<i>It was too small</i>"}),
            )
            .send()
            .await
            .expect("the dispute");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        outcome = money_flow(&c, engine, &base, &http, dir.path(), &ids[3]).await;
    }
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
    engine: &str,
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
    screenshot(c, engine, "desk-queue", DESKTOP, Some("#queue-h")).await?;
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
    screenshot(c, engine, "desk-claim", DESKTOP, None).await?;
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

/// An unshipped order at shop-1 and a refund-only claim on it, which the
/// default rules approve without staff; the claim's id.
async fn refund_only_claim(http: &reqwest::Client, dir: &Path, base: &str) -> String {
    let sf = token(dir, &["storefront", "shop-1"]);
    let mut order = shipped_order("amy", "regular");
    order["fulfilment"] = json!({"state": "paid_unshipped"});
    // Written as people write it: the search compares digits only.
    order["customer_phone"] = json!("+86 138-0013-8000");
    let r = http
        .put(format!("{base}/v1/shops/shop-1/orders/o-auto"))
        .bearer_auth(&sf)
        .json(&order)
        .send()
        .await
        .expect("the order is pushed");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let amy = token(dir, &["customer", "amy"]);
    let v: Value = http
        .post(format!("{base}/v1/claims"))
        .bearer_auth(&amy)
        .json(
            &json!({"shop_id": "shop-1", "order_id": "o-auto", "type": "refund_only",
                      "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]}),
        )
        .send()
        .await
        .expect("the claim")
        .json()
        .await
        .expect("json");
    v["claim_id"].as_str().expect("a claim id").to_owned()
}

/// Waits until amy's claim is approved by the rules and refunded.
async fn until_completed(http: &reqwest::Client, dir: &Path, base: &str, id: &str) {
    let amy = token(dir, &["customer", "amy"]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v: Value = http
            .get(format!("{base}/v1/claims/{id}"))
            .bearer_auth(&amy)
            .send()
            .await
            .expect("the claim")
            .json()
            .await
            .expect("json");
        if v["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "claim {id} did not complete: {v}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A number as the figures' tables write it: one decimal, a dash for none.
fn one_decimal(v: &Value, factor: f64) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_owned(), |x| format!("{:.1}", x * factor))
}

/// The rows the page's table `id` should hold: `cells` of each day of the
/// API's report.
fn expected_rows(days: &Value, cells: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    days.as_array()
        .expect("days")
        .iter()
        .map(|d| {
            let mut row = vec![d["date"].as_str().expect("a date").to_owned()];
            row.extend(cells(d));
            row
        })
        .collect()
}

async fn table_rows(c: &Client, id: &str) -> Result<Vec<Vec<String>>, String> {
    let rows = c
        .execute(
            "return [...document.querySelectorAll('#' + arguments[0] + ' tbody tr')]\
             .map(r => [...r.cells].map(c => c.textContent.trim()));",
            vec![json!(id)],
        )
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_value(rows).map_err(|e| e.to_string())
}

async fn sla_flow(
    c: &Client,
    engine: &str,
    base: &str,
    http: &reqwest::Client,
    staff: &str,
) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    // The log so far ends with the other shop's claim's 404: read it away.
    console_errors(c).await;
    c.goto(&format!("{base}/desk?lang=en")).await.map_err(e)?;
    c.find(Locator::Css("#to-sla"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    check(
        path_of(c).await == "/desk/sla",
        "the desk links the figures",
    )?;
    labelled(c).await?;
    let titles: Value = c
        .execute(
            "return [...document.querySelectorAll('main svg')].map(s => \
             [s.querySelector(':scope > title')?.textContent, \
              s.querySelector(':scope > desc')?.textContent]);",
            vec![],
        )
        .await
        .map_err(e)?;
    let titles = titles.as_array().cloned().unwrap_or_default();
    check(titles.len() == 4, &format!("four charts: {titles:?}"))?;
    for t in &titles {
        check(
            t[0].as_str().is_some_and(|s| !s.is_empty())
                && t[1].as_str().is_some_and(|s| !s.is_empty()),
            &format!("each chart has a title and a description: {t}"),
        )?;
    }
    // The same range over the API.
    let from = c
        .find(Locator::Css("#from"))
        .await
        .map_err(e)?
        .prop("value")
        .await
        .map_err(e)?
        .unwrap_or_default();
    let to = c
        .find(Locator::Css("#to"))
        .await
        .map_err(e)?
        .prop("value")
        .await
        .map_err(e)?
        .unwrap_or_default();
    let r = http
        .get(format!(
            "{base}/v1/shops/shop-1/reports/sla?from={from}&to={to}"
        ))
        .bearer_auth(staff)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(
        r.status() == 200,
        &format!("the API's report: {}", r.status()),
    )?;
    let api: Value = r.json().await.map_err(|e| e.to_string())?;
    let days = &api["days"];
    check(
        days.as_array().is_some_and(|d| d.len() == 30),
        &format!("the default range is 30 days: {from}..{to}"),
    )?;
    let n = |v: &Value| v.as_u64().map_or_else(|| "?".to_owned(), |n| n.to_string());
    let tables = [
        (
            "sla-decision-table",
            expected_rows(days, |d| {
                vec![
                    n(&d["submitted"]),
                    n(&d["decided"]),
                    one_decimal(&d["seconds_to_decision_p50"], 1.0),
                    one_decimal(&d["seconds_to_decision_p90"], 1.0),
                ]
            }),
        ),
        (
            "sla-automatic-table",
            expected_rows(days, |d| {
                vec![
                    n(&d["decided"]),
                    n(&d["decided_automatically"]),
                    one_decimal(&d["automatic_share"], 100.0),
                ]
            }),
        ),
        (
            "sla-refund-table",
            expected_rows(days, |d| {
                vec![
                    n(&d["refunded"]),
                    one_decimal(&d["seconds_to_refund_p50"], 1.0),
                    one_decimal(&d["seconds_to_refund_p90"], 1.0),
                ]
            }),
        ),
        (
            "sla-disputes-table",
            expected_rows(&api["disputes"], |d| {
                vec![
                    n(&d["opened"]),
                    n(&d["resolved"]),
                    n(&d["withdrawn"]),
                    one_decimal(&d["resolution_rate"], 100.0),
                    one_decimal(&d["median_seconds_to_resolution"], 1.0),
                ]
            }),
        ),
    ];
    for (id, want) in &tables {
        let got = table_rows(c, id).await?;
        check(
            &got == want,
            &format!("{id} holds the API's numbers:\n{got:?}\n{want:?}"),
        )?;
    }
    // What the shop did: five claims of its own (the other shop's not
    // counted), all decided, one by the rules, its refund arrived.
    let sum = |k: &str| -> u64 {
        days.as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d[k].as_u64())
            .sum()
    };
    check(
        (
            sum("submitted"),
            sum("decided"),
            sum("decided_automatically"),
            sum("refunded"),
        ) == (5, 5, 1, 1),
        &format!("the figures count shop-1's five claims: {days}"),
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;
    screenshot(c, engine, "desk-sla", DESKTOP, None).await?;

    // In Chinese, and a range the use case refuses (more than 92 days).
    c.goto(&format!("{base}/desk/sla?lang=zh-CN"))
        .await
        .map_err(e)?;
    check(
        text(c, "h1").await.contains("服务时效"),
        "the figures speak zh-CN when asked",
    )?;
    c.goto(&format!(
        "{base}/desk/sla?lang=en&from=2026-01-01&to=2026-12-31"
    ))
    .await
    .map_err(e)?;
    check(
        text(c, "#sla-error").await.contains("92 days"),
        "a range longer than the API allows is refused as there",
    )?;
    Ok(())
}

/// The disputes list and the refunds: search by order and by phone, and
/// the month's finance export (the API's own bytes, finance only).
async fn money_flow(
    c: &Client,
    engine: &str,
    base: &str,
    http: &reqwest::Client,
    dir: &Path,
    disputed: &str,
) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    console_errors(c).await;
    c.goto(&format!("{base}/desk?lang=en")).await.map_err(e)?;
    c.find(Locator::Css("#to-disputes"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    check(path_of(c).await == "/desk/disputes", "the disputes list")?;
    labelled(c).await?;
    let rows = c
        .find_all(Locator::Css("#disputes tbody tr"))
        .await
        .map_err(e)?;
    check(rows.len() == 1, "one open dispute")?;
    let row = text(c, &format!("#disputes tr[data-claim-id='{disputed}']")).await;
    check(
        row.contains("rejection_not_accepted") && row.contains("Open") && row.contains("cust-3"),
        &format!("the disputed claim, open: {row:?}"),
    )?;
    screenshot(c, engine, "desk-disputes", DESKTOP, None).await?;
    c.find(Locator::Css("#dispute-status"))
        .await
        .map_err(e)?
        .select_by_value("resolved")
        .await
        .map_err(e)?;
    submit(c, "form[action='/desk/disputes']").await;
    check(
        c.find(Locator::Css("#no-disputes")).await.is_ok(),
        "no dispute is resolved yet",
    )?;

    // The refunds: by order, then by the phone written another way.
    c.find(Locator::Css("#to-refunds"))
        .await
        .map_err(e)?
        .click()
        .await
        .map_err(e)?;
    check(path_of(c).await == "/desk/refunds", "the refunds page")?;
    labelled(c).await?;
    fill(c, "#search-order", "o-auto").await;
    submit(c, "#refund-search").await;
    let by_order: Vec<String> = {
        let mut ids = Vec::new();
        for tr in c
            .find_all(Locator::Css("#refunds tbody tr"))
            .await
            .map_err(e)?
        {
            ids.push(
                tr.attr("data-refund-id")
                    .await
                    .map_err(e)?
                    .unwrap_or_default(),
            );
        }
        ids
    };
    check(
        by_order.len() == 1,
        &format!("order o-auto has one refund: {by_order:?}"),
    )?;
    let row = text(c, "#refunds tbody tr").await;
    check(
        row.contains("succeeded") && row.contains("CNY 99.00") && row.contains("wechat_pay"),
        &format!("the refund as the API has it: {row:?}"),
    )?;
    fill(c, "#search-order", "").await;
    fill(c, "#search-phone", "13800138000").await;
    submit(c, "#refund-search").await;
    let by_phone = text(c, "#refunds tbody tr").await;
    check(
        by_phone.contains(&by_order[0]),
        &format!("the same refund by the customer's phone: {by_phone:?}"),
    )?;
    screenshot(c, engine, "desk-refunds", DESKTOP, None).await?;
    fill(c, "#search-phone", "13900000000").await;
    submit(c, "#refund-search").await;
    check(
        c.find(Locator::Css("#no-refunds")).await.is_ok(),
        "another phone finds nothing",
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;

    // The export: the month's CSV as the API gives it, for finance; a
    // reviewer is refused it, as over the API.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let finance = token(dir, &["staff", "fin-1", "shop-1", "finance"]);
    let reviewer = token(dir, &["staff", "rev-1", "shop-1", "reviewer"]);
    let page = |who: &str, month: &str| {
        http.get(format!("{base}/desk/refunds/export?month={month}"))
            .header("cookie", format!("as_session={who}"))
    };
    let r = page(&reviewer, &month)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(
        r.status() == 403,
        &format!("a reviewer is refused the export: {}", r.status()),
    )?;
    let r = page(&finance, &month)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(r.status() == 200, &format!("the export: {}", r.status()))?;
    let disposition = r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    check(
        disposition == format!("attachment; filename=\"refunds-shop-1-{month}.csv\""),
        &format!("a download: {disposition}"),
    )?;
    let csv = r.text().await.map_err(|e| e.to_string())?;
    let api = http
        .get(format!(
            "{base}/v1/shops/shop-1/refunds/export?month={month}"
        ))
        .bearer_auth(&finance)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    check(
        csv == api && csv.contains(&by_order[0]),
        &format!("the page's export is the API's:\n{csv}\n{api}"),
    )?;
    let r = page(&finance, "2026-13")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(
        r.status() == 422,
        &format!("a month that is none is refused: {}", r.status()),
    )?;
    // Both pages in Chinese when asked.
    for (path, title) in [("/desk/disputes", "争议"), ("/desk/refunds", "退款查询")] {
        c.goto(&format!("{base}{path}?lang=zh-CN"))
            .await
            .map_err(e)?;
        check(
            text(c, "h1").await.contains(title),
            &format!("{path} speaks zh-CN when asked"),
        )?;
    }
    Ok(())
}

// Both engines: the runner's embedded store, and DynamoDB (moto).
aftersales_tests::on_both_engines!(staff_work_the_desk_in_a_browser);
