//! The customer's pages in a real browser: headless Chromium, driven
//! through chromedriver (WebDriver), against the `aftersales-local` binary
//! started on a free loopback port with an empty data folder.
//!
//! A storefront pushes an unshipped order over the API (as in the README's
//! tour); the customer signs in on the sign-in page, opens the order from
//! the home page, sees what each line can still claim and the policy in
//! force, asks for a refund through the form (with a description holding
//! markup and a photo, a real JPEG, sent with the form), checks the quote,
//! submits, and watches the claim's timeline
//! until the shop's rules approved it and the sandbox provider's refund
//! arrived. Along the way: no console errors, the typed markup is shown as
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_files_a_claim_and_follows_it_to_the_refund_in_a_browser() {
    let browser = chromium_and_driver();

    let dir = tempfile::tempdir().expect("a folder");
    let addr = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{addr}");
    let runner = Proc::runner(dir.path(), &addr);

    // The storefront pushes alice's unshipped order and bob's; bob files a
    // claim of his own over the API.
    aftersales::providers::install_crypto_provider();
    let http = reqwest::Client::new();
    let sf = token(dir.path(), &["storefront", "shop-1"]);
    for (order_id, customer) in [("o-2001", "alice"), ("o-2002", "bob")] {
        let r = http
            .put(format!("{base}/v1/shops/shop-1/orders/{order_id}"))
            .bearer_auth(&sf)
            .json(&order(customer, "T-shirt"))
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

    let outcome = customer_flow(&c, &base, &bobs_claim, &photo).await;
    let _ = c.close().await;
    if let Err(why) = outcome {
        panic!("{why}\n{}\n{}", runner.log_text(), driver.log_text());
    }
}

async fn customer_flow(
    c: &Client,
    base: &str,
    bobs_claim: &str,
    photo: &std::path::Path,
) -> Result<(), String> {
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
    screenshot(c, "customer-claim-form", PHONE, Some("#claim-form")).await?;

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
    screenshot(c, "customer-timeline", PHONE, Some("#timeline-h")).await?;
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

    // The inbox has the steps; reading one leaves one fewer unread.
    c.goto(&format!("{base}/inbox"))
        .await
        .map_err(|e| e.to_string())?;
    let before = text(c, "#unread-count").await;
    check(
        c.find_all(Locator::Css("#messages li"))
            .await
            .map_err(|e| e.to_string())?
            .len()
            >= 3,
        "the inbox lists the claim's messages",
    )?;
    submit(c, "#messages li:first-child form").await;
    let after = text(c, "#unread-count").await;
    check(
        before != after,
        &format!("reading a message changes the unread count: {before} → {after}"),
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
    Ok(())
}
