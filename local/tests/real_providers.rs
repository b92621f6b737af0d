//! The runner with real payment providers, as someone runs it: the
//! `aftersales-local` binary, WeChat Pay configured through
//! `WECHATPAY_CONFIG` (the variable Lambda reads) and Alipay through a
//! `--providers` file, both pointing at the local provider servers of the
//! test harness, with keys generated here. A claim paid with each provider
//! is approved and its refund sent to that provider; the provider's
//! notification, signed with the test keys, is posted to the runner's
//! webhook, verified, and the claim's refund arrives.

use aftersales::auth::DevKeys;
use aftersales_tests::http::{minor_units, timeline_events, unshipped_order_paid_with};
use aftersales_tests::provider_servers::{AlipayServer, ProviderServer, WechatPayServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The runner on a free port; killed when the test ends, however it ends.
struct Runner {
    base: String,
    _process: tokio::process::Child,
    http: reqwest::Client,
    keys: DevKeys,
    _data: tempfile::TempDir,
}

impl Runner {
    async fn start(wx: &WechatPayServer, ali: &AlipayServer) -> Runner {
        // The providers must know the webhook URLs before the runner
        // starts: take a free port and hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let data = tempfile::tempdir().expect("data folder");
        let providers = data.path().join("providers.json");
        let file = json!({"alipay": ali.config_json(&format!("{base}/v1/webhooks/alipay"))});
        std::fs::write(&providers, file.to_string()).expect("providers file");
        let secret = format!(
            "dev-secret-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        );
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_aftersales-local"))
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data"])
            .arg(data.path().join("data"))
            .arg("--providers")
            .arg(&providers)
            .env(
                "WECHATPAY_CONFIG",
                wx.config_json(&format!("{base}/v1/webhooks/wechat_pay"))
                    .to_string(),
            )
            .env("AFTERSALES_DEV_SECRET", &secret)
            .env_remove("ALIPAY_CONFIG")
            .env_remove("ALIPAY_PAYOUT_CONFIG")
            .env_remove("STRIPE_CONFIG")
            .env_remove("AFTERSALES_PROVIDERS")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the runner starts");
        let mut lines = BufReader::new(process.stdout.take().expect("stdout")).lines();
        let mut said = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !said
            .iter()
            .any(|l: &String| l.starts_with("real payment providers"))
        {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .expect("the runner says it is listening")
                .expect("stdout readable")
                .unwrap_or_else(|| panic!("the runner stopped: {said:?}"));
            said.push(line);
        }
        assert!(
            said.iter().any(|l| l.contains(&base)),
            "listening on {base}: {said:?}"
        );
        assert!(
            said.iter()
                .any(|l| l.contains("wechat_pay") && l.contains("alipay")),
            "{said:?}"
        );
        // The rest of its output is not needed, but must not fill the pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        aftersales::providers::install_crypto_provider();
        Runner {
            base,
            _process: process,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            keys: DevKeys::new(secret.as_bytes()),
            _data: data,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the runner answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    fn token(&self, kind: &str, id: &str, shop: Option<&str>) -> String {
        self.keys.mint(kind, id, shop, &[], 3600)
    }

    /// The claim, once `done` says it is as awaited (the runner's own
    /// poller moves it on), or a failure with what it was.
    async fn claim_when(
        &self,
        customer: &str,
        claim_id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let token = self.token("customer", customer, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (s, claim) = self
                .call("GET", &format!("/v1/claims/{claim_id}"), &token, None)
                .await;
            assert_eq!(s, 200, "{claim}");
            if done(&claim) {
                return claim;
            }
            assert!(Instant::now() < deadline, "still waiting: {claim}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An order paid with `server`'s provider, a refund-only claim the shop's
/// rules approve; its refund goes to the provider, whose signed
/// notification to the runner's webhook makes it arrive.
async fn refund_arrives(runner: &Runner, server: &dyn ProviderServer, txn: &str) {
    let name = server.webhook_name();
    let (customer, order_id) = (format!("cust-{name}"), format!("ord-{name}"));
    let order = unshipped_order_paid_with(&customer, server.channel(), txn);
    server.paid(
        txn,
        minor_units(&json!({"amount": order["payments"][0]["amount"]})),
    );
    let storefront = runner.token("storefront", "storefront-shop-1", Some("shop-1"));
    let (s, v) = runner
        .call(
            "PUT",
            &format!("/v1/shops/shop-1/orders/{order_id}"),
            &storefront,
            Some(order),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {v}");
    let (s, submitted) = runner
        .call(
            "POST",
            "/v1/claims",
            &runner.token("customer", &customer, None),
            Some(
                json!({"shop_id": "shop-1", "order_id": order_id, "type": "refund_only",
                        "reason": "no_longer_wanted", "lines": [{"line_id": "L1", "quantity": 1}]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{submitted}");
    let claim_id = submitted["claim_id"].as_str().expect("claim id").to_owned();
    let refund_id = aftersales::domain::refund::refund_id_for(&claim_id, 1);

    // Approved by the rules and sent to the real provider (not the
    // sandbox): it holds the refund, "processing" until it says more.
    let sent = runner
        .claim_when(&customer, &claim_id, |c| {
            timeline_events(c).contains(&"refund_sent")
        })
        .await;
    assert_eq!(sent["status"], "refunding", "{sent}");
    // The decision notes the refund as sent; the runner's outbox poller
    // then hands it to the provider, a moment later.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.movements(&refund_id) == 0 {
        assert!(
            Instant::now() < deadline,
            "{name}: the refund never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        server.movements(&refund_id),
        1,
        "{name}: the provider moved the money"
    );
    let webhook = format!("{}/v1/webhooks/{name}", runner.base);
    assert_eq!(
        server.refund_requests()[0].notify_url.as_deref(),
        Some(webhook.as_str())
    );

    // Signed with a key that is not the provider's: refused, the provider
    // would retry; nothing arrives.
    let forged = server.forged(&refund_id).post(&webhook).await;
    assert!(!forged.acknowledged, "{forged:?}");
    assert!(forged.status >= 400, "{forged:?}");

    // The provider's own notification: verified and acknowledged as its
    // protocol asks, and the refund arrives.
    let news = server.succeed(&refund_id).post(&webhook).await;
    assert!(news.acknowledged, "{name}: {news:?}");
    let done = runner
        .claim_when(&customer, &claim_id, |c| c["status"] == "completed")
        .await;
    let events = timeline_events(&done);
    assert_eq!(
        events.iter().filter(|e| **e == "refund_arrived").count(),
        1,
        "{done}"
    );
    assert_eq!(events.last().copied(), Some("refund_succeeded"), "{done}");
    assert_eq!(server.movements(&refund_id), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_verifies_real_provider_notifications_and_settles_refunds() {
    let wx = WechatPayServer::start().await;
    let ali = AlipayServer::start().await;
    let runner = Runner::start(&wx, &ali).await;
    refund_arrives(&runner, &wx, "4200002026112500000000000101").await;
    refund_arrives(&runner, &ali, "2026112522001412345678900101").await;
}
