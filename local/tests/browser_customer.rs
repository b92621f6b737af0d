//! The customer's pages in a real browser: headless Chromium, driven
//! through chromedriver (WebDriver), against the `aftersales-local` binary
//! started on a free loopback port with an empty data folder, once on its
//! embedded store and once on a DynamoDB table (moto): `sqlite::` and
//! `dynamodb::` (the screenshots come from the first).
//!
//! A storefront pushes an unshipped order over the API (as in the README's
//! tour); the customer signs in on the sign-in page, opens the order from
//! the home page, sees what each line can still claim and the policy in
//! force, asks for a refund through the form (with a description holding
//! markup and a photo, a real JPEG, sent with the form), checks the quote,
//! submits, and watches the claim's timeline
//! until the shop's rules approved it and the sandbox provider's refund
//! arrived. Then she asks to return a delivered jacket: the form offers
//! every claim type, the quote says who pays the parcel. The shop rejects
//! the return; she disputes it on the claim's page, rejects the shop's
//! first proposal with one of her own, writes to the shop and accepts its
//! second (more money back). Last, returns the shop approved: for a coat
//! she gives the parcel's carrier and tracking number on the claim's page,
//! for a microwave she books a pickup in one of the shop's windows. Along
//! the way: no console errors, the typed markup is shown as
//! text, another customer's claim page is "not found", the inbox has the
//! steps, and a form without its anti-forgery value is refused. The claim
//! form and the timeline are photographed at a phone's width (written to
//! `$AFTERSALES_SCREENSHOTS` when set: the README's pictures).
//!
//! Needs Chromium and chromedriver (Debian: `chromium`, `chromium-driver`;
//! `.ci/run` installs them when missing). Without them the test fails and
//! says so; it never skips. `CHROMEDRIVER` and `CHROMIUM` name other
//! binaries.

mod common;

use common::browser::{
    check, chromium_and_driver, console_errors, fill, open, path_of, screenshot, submit, text,
    PHONE,
};
use common::{free_port, token, Proc};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long the rules and the sandbox provider may take to approve and
/// refund (debug builds on a busy machine).
const PATIENCE: Duration = Duration::from_secs(60);

fn order(customer: &str, line_title: &str) -> Value {
    json!({
        "customer_id": customer, "customer_phone": "+8613800138000",
        "currency": "CNY", "placed_at": "2026-11-20T08:00:00Z",
        "lines": [{"line_id": "L1", "sku": "TEE-M", "title": line_title, "kind": "physical",
                   "quantity": 2, "unit_price": "99.00"}],
        "shipping_fee": "8.00",
        "payments": [{"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000001",
                      "amount": "206.00", "paid_at": "2026-11-20T08:01:00Z"}],
        "fulfilment": {"state": "paid_unshipped"}
    })
}

async fn a_customer_files_a_claim_and_follows_it_to_the_refund_in_a_browser(engine: &str) {
    let browser = chromium_and_driver();

    let dir = tempfile::tempdir().expect("a folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{addr}");
    let runner = Proc::runner_on(engine, dir.path(), &addr).await;

    // The storefront pushes alice's unshipped order and bob's; bob files a
    // claim of his own over the API.
    aftersales::providers::install_crypto_provider();
    let http = reqwest::Client::new();
    let sf = token(dir.path(), &["storefront", "shop-1"]);
    // Alice's second order was delivered yesterday: its goods can go back.
    let mut delivered = order("alice", "Jacket");
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    delivered["fulfilment"] = json!({"state": "delivered",
        "shipped_at": (yesterday - chrono::Duration::days(1)).to_rfc3339(),
        "delivered_at": yesterday.to_rfc3339()});
    for (order_id, body) in [
        ("o-2001", order("alice", "T-shirt")),
        ("o-2002", order("bob", "T-shirt")),
        ("o-2003", delivered),
    ] {
        let r = http
            .put(format!("{base}/v1/shops/shop-1/orders/{order_id}"))
            .bearer_auth(&sf)
            .json(&body)
            .send()
            .await
            .expect("the order is pushed");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
    }
    let bob = token(dir.path(), &["customer", "bob"]);
    let bobs: Value = http
        .post(format!("{base}/v1/claims"))
        .bearer_auth(&bob)
        .json(
            &json!({"shop_id": "shop-1", "order_id": "o-2002", "type": "refund_only",
                      "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]}),
        )
        .send()
        .await
        .expect("bob's claim")
        .json()
        .await
        .expect("json");
    let bobs_claim = bobs["claim_id"]
        .as_str()
        .expect("bob's claim id")
        .to_owned();

    // A form without its anti-forgery value is refused, with or without
    // the cookie.
    let r = http
        .post(format!("{base}/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("role=customer&id=alice")
        .send()
        .await
        .expect("a forged sign-in");
    assert_eq!(r.status(), 403);
    assert!(r
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap_or("").starts_with("as_session=")));
    let r = http
        .post(format!("{base}/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "as_csrf=0123456789abcdef0123456789abcdef")
        .body("csrf=fedcba9876543210fedcba9876543210&role=customer&id=alice")
        .send()
        .await
        .expect("a forged sign-in");
    assert_eq!(r.status(), 403);

    // The claim form with a photo (multipart): refused without its
    // anti-forgery value; with it, a file that is no photo is refused by
    // the evidence use case and nothing is quoted.
    let alice = token(dir.path(), &["customer", "alice"]);
    let multipart = |csrf: &str, content_type: &str, file: &[u8]| {
        let mut body = Vec::new();
        for (name, value) in [
            ("csrf", csrf),
            ("type", "refund_only"),
            ("reason", "no_longer_wanted"),
            ("line_id", "L1"),
            ("quantity", "1"),
        ] {
            body.extend_from_slice(
                format!(
                    "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        http.post(format!("{base}/orders/shop-1/o-2001/quote"))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .header(
                "cookie",
                format!("as_session={alice}; as_csrf=0123456789abcdef0123456789abcdef"),
            )
            .body(body)
    };
    let r = multipart(
        "fedcba9876543210fedcba9876543210",
        "image/jpeg",
        b"\xff\xd8",
    )
    .send()
    .await
    .expect("a forged claim form");
    assert_eq!(r.status(), 403);
    let r = multipart(
        "0123456789abcdef0123456789abcdef",
        "text/plain",
        b"not a photo",
    )
    .send()
    .await
    .expect("a claim form with a text file");
    assert_eq!(r.status(), 422);
    let page = r.text().await.expect("the order page");
    assert!(page.contains("evidence may be one of"), "{page}");
    assert!(!page.contains("id=\"quote-refund\""), "{page}");
    // A photo larger than an ordinary form's limit (2 MiB) is taken: the
    // form's limit is the photos'.
    let r = multipart(
        "0123456789abcdef0123456789abcdef",
        "image/jpeg",
        &vec![0xAB; 3 << 20],
    )
    .send()
    .await
    .expect("a claim form with a large photo");
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("the quote");
    assert!(page.contains("id=\"quote-photos\""), "{page}");

    // The browser.
    let (driver, c) = open(dir.path(), &browser, "390,844").await;

    // A real photo to send with the claim form.
    let photo = dir.path().join("photo.jpg");
    std::fs::write(
        &photo,
        aftersales::domain::fingerprint::sample::jpeg(7, 640, 480, None),
    )
    .expect("the photo is written");

    let mut outcome = customer_flow(&c, engine, &base, &bobs_claim, &photo).await;
    if let Ok(returned) = &outcome {
        outcome = dispute_flow(&c, engine, &base, &http, dir.path(), returned)
            .await
            .map(|()| returned.clone());
    }
    if outcome.is_ok() {
        outcome = return_flow(&c, engine, &base, &http, dir.path())
            .await
            .map(|()| String::new());
    }
    if outcome.is_ok() {
        outcome = pickup_flow(&c, engine, &base, &http, dir.path())
            .await
            .map(|()| String::new());
    }
    let _ = c.close().await;
    if let Err(why) = outcome {
        panic!("{why}\n{}\n{}", runner.log_text(), driver.log_text());
    }
}

/// The inbox page's messages (id, unread) and its unread count.
async fn inbox(c: &Client) -> Result<(Vec<(String, bool)>, usize), String> {
    let listed: Vec<(String, bool)> = serde_json::from_value(
        c.execute(
            "return [...document.querySelectorAll('#messages li')]\
             .map(li => [li.dataset.messageId, li.classList.contains('unread')]);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let count = text(c, "#unread-count").await;
    let unread = count
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .map_err(|_| format!("no count in {count:?}"))?;
    Ok((listed, unread))
}

async fn customer_flow(
    c: &Client,
    engine: &str,
    base: &str,
    bobs_claim: &str,
    photo: &std::path::Path,
) -> Result<String, String> {
    // Signed out, the start page leads to the sign-in page.
    c.goto(&format!("{base}/?lang=zh-CN"))
        .await
        .map_err(|e| e.to_string())?;
    check(path_of(c).await == "/sign-in", "/ leads to /sign-in")?;
    check(
        text(c, "h1").await.contains("登录"),
        "the sign-in page speaks zh-CN when asked",
    )?;
    c.goto(&format!("{base}/sign-in?lang=en"))
        .await
        .map_err(|e| e.to_string())?;
    check(
        text(c, "h1").await.contains("Sign in"),
        "the sign-in page speaks English when asked",
    )?;
    // Every form control has a label.
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
        &format!("unlabelled controls: {unlabelled}"),
    )?;

    fill(c, "#id", "alice").await;
    submit(c, "form[action='/sign-in']").await;
    check(path_of(c).await == "/", "signed in, the start page")?;
    check(
        text(c, "main").await.contains("No claims yet"),
        "alice has no claims yet",
    )?;

    // She opens her order from the start page.
    fill(c, "#open-shop", "shop-1").await;
    fill(c, "#open-order", "o-2001").await;
    submit(c, "form[action='/orders']").await;
    check(
        path_of(c).await == "/orders/shop-1/o-2001",
        "the order's page",
    )?;
    let line = text(c, "tr[data-line-id='L1'] .refundable").await;
    check(
        line.contains("CNY 206.00") && line.contains("2 left to claim"),
        &format!("line L1 can still claim everything: {line:?}"),
    )?;
    check(
        text(c, "#policy").await.contains("decides within"),
        "the policy in force is shown",
    )?;
    screenshot(c, engine, "customer-claim-form", PHONE, Some("#claim-form")).await?;

    // The claim form: reason, line, one unit, a description with markup.
    let typed = "<script>alert('hi')</script> & <b>ordered twice</b>";
    c.find(Locator::Css("#reason"))
        .await
        .map_err(|e| e.to_string())?
        .select_by_value("no_longer_wanted")
        .await
        .map_err(|e| e.to_string())?;
    fill(c, "#quantity", "1").await;
    fill(c, "#description", typed).await;
    // The photo goes with the form (a file input; no script on the page).
    c.find(Locator::Css("#photos"))
        .await
        .map_err(|e| e.to_string())?
        .send_keys(&photo.display().to_string())
        .await
        .map_err(|e| e.to_string())?;
    submit(c, "#claim-form").await;

    // The quote, before anything is filed.
    let refund = text(c, "#quote-refund").await;
    check(
        refund == "CNY 103.00",
        &format!("the quote asks for one unit with its shipping share: {refund:?}"),
    )?;
    check(
        text(c, "#quote-description").await == typed,
        "the typed description is shown as text on the quote",
    )?;
    check(
        text(c, "#quote-photos").await == "1",
        "the quote counts the photo, stored already",
    )?;
    check(
        text(c, "#policy").await.contains("decides within"),
        "the policy is shown before submitting",
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;
    submit(c, "#confirm-form").await;

    // The claim's page: the timeline fills in as the rules approve and
    // the sandbox refunds.
    let path = path_of(c).await;
    check(
        path.starts_with("/claims/clm_"),
        &format!("after submitting, the claim's page: {path}"),
    )?;
    let deadline = Instant::now() + PATIENCE;
    let steps = loop {
        let steps: Vec<String> = {
            let mut out = Vec::new();
            for li in c
                .find_all(Locator::Css("#timeline li"))
                .await
                .map_err(|e| e.to_string())?
            {
                out.push(
                    li.attr("data-step")
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                );
            }
            out
        };
        if steps.iter().any(|s| s == "refund_succeeded") {
            break steps;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the timeline did not reach refund_succeeded in {PATIENCE:?}: {steps:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.refresh().await.map_err(|e| e.to_string())?;
    };
    for step in [
        "submitted",
        "approved",
        "refund_started",
        "refund_sent",
        "refund_arrived",
        "refund_succeeded",
    ] {
        check(
            steps.iter().any(|s| s == step),
            &format!("the timeline shows {step}: {steps:?}"),
        )?;
    }
    screenshot(c, engine, "customer-timeline", PHONE, Some("#timeline-h")).await?;
    let status = c
        .find(Locator::Css("#claim-status"))
        .await
        .map_err(|e| e.to_string())?
        .attr("data-status")
        .await
        .map_err(|e| e.to_string())?;
    check(
        status.as_deref() == Some("completed"),
        &format!("the claim is completed: {status:?}"),
    )?;
    check(
        text(c, "#expected-arrival").await.contains("UTC"),
        "the refund's expected arrival is shown",
    )?;
    check(
        text(c, "#refund-arrived").await.contains("UTC"),
        "the refund's arrival is shown",
    )?;
    check(
        text(c, "#approved-amount").await == "CNY 103.00",
        "the approved amount",
    )?;
    check(
        text(c, "#claim-description").await == typed,
        "the typed description is shown as text on the claim",
    )?;
    // The photo itself, loaded from the page's own address.
    let shown = c
        .execute(
            "return [...document.querySelectorAll('#claim-evidence img')]\
             .map(i => i.complete ? i.naturalWidth : -1);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    check(
        shown == json!([640]),
        &format!("the claim shows the 640-pixel photo: {shown}"),
    )?;
    let source = c.source().await.map_err(|e| e.to_string())?;
    check(
        source.contains("&lt;script&gt;") && !source.contains("<script>"),
        "the page source has the markup escaped",
    )?;

    // The inbox has the steps; reading one leaves one fewer unread (more
    // steps may still be arriving: those are counted in).
    c.goto(&format!("{base}/inbox"))
        .await
        .map_err(|e| e.to_string())?;
    let (before, unread_before) = inbox(c).await?;
    check(
        before.len() >= 3,
        &format!("the inbox lists the claim's messages: {before:?}"),
    )?;
    let Some((read, _)) = before.iter().find(|(_, unread)| *unread) else {
        return Err(format!("no unread message: {before:?}"));
    };
    submit(c, &format!("#messages li[data-message-id='{read}'] form")).await;
    let (after, unread_after) = inbox(c).await?;
    check(
        after.iter().any(|(id, unread)| id == read && !unread),
        &format!("the message is read: {after:?}"),
    )?;
    let arrived = after
        .iter()
        .filter(|(id, unread)| *unread && !before.iter().any(|(b, _)| b == id))
        .count();
    check(
        unread_after + 1 == unread_before + arrived,
        &format!(
            "reading a message leaves one fewer unread: {unread_before} → {unread_after} \
             ({arrived} arrived)"
        ),
    )?;

    // The order now has less to claim.
    c.goto(&format!("{base}/orders/shop-1/o-2001"))
        .await
        .map_err(|e| e.to_string())?;
    let line = text(c, "tr[data-line-id='L1'] .refundable").await;
    check(
        line.contains("CNY 103.00") && line.contains("1 left to claim"),
        &format!("line L1 after the refund: {line:?}"),
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;

    // A return of the delivered jacket: the form offers every type the
    // API files; the quote says who pays the parcel before anything is
    // filed, and the claim is filed as a return.
    c.goto(&format!("{base}/orders/shop-1/o-2003"))
        .await
        .map_err(|e| e.to_string())?;
    let offered: Value = c
        .execute(
            "return [...document.querySelectorAll('#claim-type option')].map(o => o.value);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    for kind in [
        "refund_only",
        "return_refund",
        "exchange",
        "special_claim:fresh_spoilage",
        "special_claim:missing_item",
        "special_claim:virtual_unused",
    ] {
        check(
            offered
                .as_array()
                .is_some_and(|o| o.iter().any(|v| v == kind)),
            &format!("the form offers {kind}: {offered}"),
        )?;
    }
    c.find(Locator::Css("#claim-type"))
        .await
        .map_err(|e| e.to_string())?
        .select_by_value("return_refund")
        .await
        .map_err(|e| e.to_string())?;
    c.find(Locator::Css("#reason"))
        .await
        .map_err(|e| e.to_string())?
        .select_by_value("wrong_size")
        .await
        .map_err(|e| e.to_string())?;
    fill(c, "#quantity", "1").await;
    submit(c, "#claim-form").await;
    check(
        text(c, "#quote-type").await == "Return and refund",
        "the quote names the type",
    )?;
    let payer = c
        .find(Locator::Css("#quote-return-shipping"))
        .await
        .map_err(|e| e.to_string())?
        .attr("data-payer")
        .await
        .map_err(|e| e.to_string())?;
    check(
        payer.as_deref() == Some("customer"),
        &format!("a change of mind: the customer pays the parcel ({payer:?})"),
    )?;
    check(
        text(c, "#quote-return-shipping").await == "You pay it",
        "the quote says who pays the parcel",
    )?;
    check(
        text(c, "#policy").await.contains("decides within"),
        "the policy is shown before submitting the return",
    )?;
    screenshot(c, engine, "customer-return-quote", PHONE, Some("#quote")).await?;
    submit(c, "#confirm-form").await;
    let path = path_of(c).await;
    check(
        path.starts_with("/claims/clm_"),
        &format!("the return's page: {path}"),
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;
    let filed = c
        .find(Locator::Css("#claim-type-name"))
        .await
        .map_err(|e| e.to_string())?
        .attr("data-type")
        .await
        .map_err(|e| e.to_string())?;
    check(
        filed.as_deref() == Some("return_refund"),
        &format!("the claim is a return: {filed:?}"),
    )?;
    let returned = path.trim_start_matches("/claims/").to_owned();

    // Bob's claim and bob's order are not alice's to see.
    for other in [
        format!("/claims/{bobs_claim}"),
        format!("/claims/{bobs_claim}/photos/0"),
        "/orders/shop-1/o-2002".into(),
    ] {
        c.goto(&format!("{base}{other}"))
            .await
            .map_err(|e| e.to_string())?;
        check(
            text(c, "h1").await == "Not found",
            &format!("{other} is not found for alice"),
        )?;
        check(
            !c.source().await.map_err(|e| e.to_string())?.contains("bob"),
            &format!("{other} shows nothing of bob's"),
        )?;
    }
    // The only console errors now are those pages' 404s.
    let errors = console_errors(c).await;
    check(
        errors.iter().all(|e| e.contains("404")),
        &format!("console errors beside the 404s: {errors:?}"),
    )?;
    Ok(returned)
}

/// The return, rejected by the shop, disputed from its page: alice opens
/// the dispute wishing for an exchange (proposal 1), rejects the shop's
/// answer (2: the decision stands) by proposing an exchange again (3),
/// writes to the shop, and accepts its offer of money back (4); the API
/// sees the dispute settled by it.
async fn dispute_flow(
    c: &Client,
    engine: &str,
    base: &str,
    http: &reqwest::Client,
    dir: &std::path::Path,
    claim: &str,
) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    let reviewer = token(dir, &["staff", "rev-1", "shop-1", "reviewer"]);
    let admin = token(dir, &["staff", "boss", "shop-1", "admin"]);
    let staff_post = |who: &str, tail: &str, body: Value| {
        http.post(format!("{base}/v1/{tail}"))
            .bearer_auth(who)
            .json(&body)
            .send()
    };
    // The return waits for staff (no rule decides it); they reject it.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v: Value = http
            .get(format!("{base}/v1/shops/shop-1/desk/claims/{claim}"))
            .bearer_auth(&reviewer)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if v["claim"]["status"] == "under_review" {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the return did not reach under_review: {v}"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let r = staff_post(
        &reviewer,
        &format!("shops/shop-1/desk/claims/{claim}/decision"),
        json!({"decision": "reject", "reason": "evidence_insufficient"}),
    )
    .await
    .map_err(|e| e.to_string())?;
    check(r.status() == 200, &format!("the rejection: {}", r.status()))?;

    // Alice disputes it from the claim's page.
    c.goto(&format!("{base}/claims/{claim}")).await.map_err(e)?;
    let typed = "<b>It fits</b> & I never wore it";
    c.find(Locator::Css("#grounds"))
        .await
        .map_err(e)?
        .select_by_value("rejection_not_accepted")
        .await
        .map_err(e)?;
    c.find(Locator::Css("#wished-kind"))
        .await
        .map_err(e)?
        .select_by_value("exchange")
        .await
        .map_err(e)?;
    fill(c, "#dispute-text", typed).await;
    submit(c, "#open-dispute").await;
    check(
        path_of(c).await == format!("/claims/{claim}"),
        "back on the claim's page",
    )?;
    let status = |c: &Client| {
        let c = c.clone();
        async move {
            c.find(Locator::Css("#dispute"))
                .await
                .map_err(e)?
                .attr("data-status")
                .await
                .map_err(e)
        }
    };
    check(
        status(c).await?.as_deref() == Some("open"),
        "the dispute is open",
    )?;
    check(
        text(c, "#dispute-posts li").await.contains(typed),
        "the customer's words, shown as text",
    )?;

    // The shop proposes that its decision stands; alice rejects that by
    // proposing an exchange.
    let r = staff_post(
        &reviewer,
        &format!("claims/{claim}/dispute/proposals"),
        json!({"resolution": {"kind": "uphold"}, "note": "The tag was removed"}),
    )
    .await
    .map_err(|e| e.to_string())?;
    check(
        r.status().is_success(),
        &format!("proposal 1: {}", r.status()),
    )?;
    c.refresh().await.map_err(e)?;
    // Proposal 1 is alice's wish, countered by the shop's (2).
    let first = text(c, "#proposals li[data-n='2']").await;
    check(
        first.contains("The decision stands") && first.contains("The tag was removed"),
        &format!("the shop's proposal is shown: {first:?}"),
    )?;
    c.find(Locator::Css("#counter-kind"))
        .await
        .map_err(e)?
        .select_by_value("exchange")
        .await
        .map_err(e)?;
    fill(c, "#counter-note", "Another size, please").await;
    submit(c, "#counter-form").await;
    let state = |n: u32| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(&format!("#proposals li[data-n='{n}']")))
                .await
                .map_err(e)?
                .attr("data-state")
                .await
                .map_err(e)
        }
    };
    check(
        state(2).await?.as_deref() == Some("countered"),
        "the shop's proposal is rejected by the counter-proposal",
    )?;
    check(
        state(3).await?.as_deref() == Some("open"),
        "alice's proposal waits for the shop",
    )?;
    fill(c, "#message-text", "Photos of the tag are on the claim").await;
    submit(c, "#message-form").await;
    check(
        c.find_all(Locator::Css("#dispute-posts li"))
            .await
            .map_err(e)?
            .len()
            == 2,
        "the message is in the thread",
    )?;

    // The shop's admin offers money back instead; alice accepts it.
    let r = staff_post(
        &admin,
        &format!("claims/{claim}/dispute/proposals"),
        json!({"resolution": {"kind": "supplementary_refund", "amount": "10.00"}}),
    )
    .await
    .map_err(|e| e.to_string())?;
    check(
        r.status().is_success(),
        &format!("proposal 4: {}", r.status()),
    )?;
    c.refresh().await.map_err(e)?;
    check(
        text(c, "#proposals li[data-n='4']")
            .await
            .contains("CNY 10.00"),
        "the offer's amount is shown",
    )?;
    screenshot(c, engine, "customer-dispute", PHONE, Some("#dispute-h")).await?;
    submit(c, "#proposals li[data-n='4'] form").await;
    check(
        status(c).await?.as_deref() == Some("resolved"),
        "accepted: the dispute is resolved",
    )?;
    check(
        state(4).await?.as_deref() == Some("accepted"),
        "the offer is accepted",
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;
    let alice = token(dir, &["customer", "alice"]);
    let d: Value = http
        .get(format!("{base}/v1/claims/{claim}/dispute"))
        .bearer_auth(&alice)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    check(
        d["status"] == "resolved" && d["settled_by"] == 4,
        &format!("the API sees the dispute settled by the offer: {d}"),
    )?;
    Ok(())
}

/// A return the shop approved: alice gives the parcel's carrier and
/// tracking number on the claim's page; a number that does not fit the
/// carrier is refused there, as by the API.
async fn return_flow(
    c: &Client,
    engine: &str,
    base: &str,
    http: &reqwest::Client,
    dir: &std::path::Path,
) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    let claim = approved_return(
        base,
        http,
        dir,
        "o-2004",
        json!([{"line_id": "L1", "sku": "COAT-M", "title": "Coat", "kind": "physical",
                "quantity": 1, "unit_price": "199.00"}]),
        "199.00",
    )
    .await?;
    c.goto(&format!("{base}/claims/{claim}")).await.map_err(e)?;
    check(
        c.find(Locator::Css("#pickup-form")).await.is_err(),
        "no pickup for a coat",
    )?;
    labelled(c).await?;
    screenshot(c, engine, "customer-return", PHONE, Some("#return-h")).await?;
    c.find(Locator::Css("#carrier"))
        .await
        .map_err(e)?
        .select_by_value("shunfeng")
        .await
        .map_err(e)?;
    fill(c, "#tracking-number", "NONE").await;
    submit(c, "#return-form").await;
    check(
        text(c, "#form-error").await.contains("SF"),
        "a number that is not SF's is refused on the page",
    )?;
    // The refusal's 422 is the one console error.
    let errors = console_errors(c).await;
    check(
        errors.iter().all(|e| e.contains("422")),
        &format!("console errors beside the refusal: {errors:?}"),
    )?;
    c.find(Locator::Css("#carrier"))
        .await
        .map_err(e)?
        .select_by_value("shunfeng")
        .await
        .map_err(e)?;
    fill(c, "#tracking-number", "SF1234567890123").await;
    submit(c, "#return-form").await;
    check(
        path_of(c).await == format!("/claims/{claim}"),
        "back on the claim's page",
    )?;
    check(
        text(c, "#return-number").await == "SF1234567890123",
        "the parcel as registered",
    )?;
    check(
        text(c, "#return-carrier").await == "SF Express",
        "the carrier by name",
    )?;
    let status = c
        .find(Locator::Css("#claim-status"))
        .await
        .map_err(e)?
        .attr("data-status")
        .await
        .map_err(e)?;
    check(
        status.as_deref() == Some("return_shipped"),
        &format!("the claim waits for the parcel: {status:?}"),
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;
    Ok(())
}

/// Pushes alice's order `order_id` (delivered yesterday) with `lines`,
/// files a return of its first line over the API and has a reviewer
/// approve it once the rules passed it on: the claim's id.
async fn approved_return(
    base: &str,
    http: &reqwest::Client,
    dir: &std::path::Path,
    order_id: &str,
    lines: Value,
    paid: &str,
) -> Result<String, String> {
    let sf = token(dir, &["storefront", "shop-1"]);
    let mut delivered = order("alice", "-");
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    delivered["fulfilment"] = json!({"state": "delivered",
        "shipped_at": (yesterday - chrono::Duration::days(1)).to_rfc3339(),
        "delivered_at": yesterday.to_rfc3339()});
    let line = lines[0]["line_id"].clone();
    delivered["lines"] = lines;
    delivered["shipping_fee"] = json!("0.00");
    delivered["payments"][0]["amount"] = json!(paid);
    let r = http
        .put(format!("{base}/v1/shops/shop-1/orders/{order_id}"))
        .bearer_auth(&sf)
        .json(&delivered)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(r.status() == 201, &format!("the order: {}", r.status()))?;
    let alice = token(dir, &["customer", "alice"]);
    let v: Value = http
        .post(format!("{base}/v1/claims"))
        .bearer_auth(&alice)
        .json(
            &json!({"shop_id": "shop-1", "order_id": order_id, "type": "return_refund",
                      "reason": "wrong_size", "lines": [{"line_id": line, "quantity": 1}]}),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let claim = v["claim_id"]
        .as_str()
        .ok_or(format!("no claim: {v}"))?
        .to_owned();
    let reviewer = token(dir, &["staff", "rev-1", "shop-1", "reviewer"]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let r = http
            .post(format!(
                "{base}/v1/shops/shop-1/desk/claims/{claim}/decision"
            ))
            .bearer_auth(&reviewer)
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        // The rules look first; staff decide once they passed it on.
        if r.status() == 200 {
            return Ok(claim);
        }
        if Instant::now() > deadline {
            return Err(format!("the return was never approved: {}", r.status()));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A microwave goes back by pickup: the claim's page offers the shop's
/// windows instead of a tracking number; a booking the use case refuses
/// (a day in the past) is refused there, a good one is shown as booked.
async fn pickup_flow(
    c: &Client,
    engine: &str,
    base: &str,
    http: &reqwest::Client,
    dir: &std::path::Path,
) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    let claim = approved_return(
        base,
        http,
        dir,
        "o-2005",
        json!([{"line_id": "M1", "sku": "MW-20L", "title": "Microwave", "kind": "appliance",
                "quantity": 1, "unit_price": "399.00"}]),
        "399.00",
    )
    .await?;
    c.goto(&format!("{base}/claims/{claim}")).await.map_err(e)?;
    check(
        c.find(Locator::Css("#pickup-form")).await.is_ok(),
        "a pickup is offered for the microwave",
    )?;
    labelled(c).await?;
    // The shop's calendar is China time.
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let set_date = |day: chrono::NaiveDate| {
        let c = c.clone();
        async move {
            c.execute(
                "document.querySelector('#pickup-date-input').value = arguments[0];",
                vec![json!(day.to_string())],
            )
            .await
            .map_err(e)
        }
    };
    set_date(today - chrono::Duration::days(1)).await?;
    fill(c, "#pickup-address", "8 Wensan Road, <Xihu>, Hangzhou").await;
    fill(c, "#pickup-name", "Alice").await;
    fill(c, "#pickup-phone", "138 0000 0000").await;
    submit(c, "#pickup-form").await;
    check(
        text(c, "#form-error").await.contains("date"),
        "a day in the past is refused on the page",
    )?;
    console_errors(c).await;
    screenshot(c, engine, "customer-pickup", PHONE, Some("#pickup-h")).await?;
    let day = today + chrono::Duration::days(2);
    set_date(day).await?;
    let slot = c
        .find(Locator::Css("#pickup-window option"))
        .await
        .map_err(e)?
        .attr("value")
        .await
        .map_err(e)?
        .unwrap_or_default();
    fill(c, "#pickup-address", "8 Wensan Road, <Xihu>, Hangzhou").await;
    fill(c, "#pickup-name", "Alice").await;
    fill(c, "#pickup-phone", "138 0000 0000").await;
    submit(c, "#pickup-form").await;
    check(
        text(c, "#pickup-date").await == day.to_string(),
        "the pickup's day",
    )?;
    check(
        !slot.is_empty() && text(c, "#pickup-slot").await == slot,
        &format!("the pickup's window: {slot}"),
    )?;
    check(
        c.find(Locator::Css("#timeline li[data-step='pickup_booked']"))
            .await
            .is_ok(),
        "the timeline has the booking",
    )?;
    let errors = console_errors(c).await;
    check(errors.is_empty(), &format!("console errors: {errors:?}"))?;
    c.goto(&format!("{base}/claims/{claim}?lang=zh-CN"))
        .await
        .map_err(e)?;
    check(
        text(c, "#return-h").await == "已预约上门取件",
        "the booking speaks zh-CN when asked",
    )?;
    Ok(())
}

/// Every form control on the page has a label.
async fn labelled(c: &Client) -> Result<(), String> {
    let unlabelled: Value = c
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
             .filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name);",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    check(
        unlabelled == json!([]),
        &format!("unlabelled controls: {unlabelled}"),
    )
}

// Both engines: the runner's embedded store, and DynamoDB (moto).
aftersales_tests::on_both_engines!(
    a_customer_files_a_claim_and_follows_it_to_the_refund_in_a_browser
);
