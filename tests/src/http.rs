//! The real API on a loopback port, over a chosen storage engine, and a
//! small client that speaks to it as a storefront, a customer or staff would.

use aftersales::api::AppState;
use aftersales::app::Services;
use aftersales::auth::{AuthMode, DevKeys, StaffRole};
use aftersales::onebox;
use aftersales::store::Table;
use std::sync::Arc;

pub struct TestApp {
    pub base: String,
    /// The services behind the API, for driving consumers (`drain`).
    pub services: Services,
    /// The sandbox payment provider behind every channel (unless the test
    /// brought its own providers): counts money movements.
    pub sandbox: Arc<aftersales::providers::sandbox::Sandbox>,
    /// Where local uploads land; removed with the app.
    pub files: Arc<tempfile::TempDir>,
    pub keys: DevKeys,
    pub http: reqwest::Client,
    pub table: Arc<dyn Table>,
}

/// Serves the router on 127.0.0.1 (a free port) until the test ends.
pub async fn spawn_app(table: Arc<dyn Table>) -> TestApp {
    spawn_app_with(Services::new(table)).await
}

/// The sandbox provider's webhook secret in tests.
pub const SANDBOX_WEBHOOK_SECRET: &[u8] = b"test-sandbox-webhook-secret";

/// Serves the one-machine assembly (API, local uploads) over the given
/// services (their clock, SMS sender...). The outbox is not polled: tests
/// call [`TestApp::drain`] so that what the consumers did is deterministic.
pub async fn spawn_app_with(services: Services) -> TestApp {
    let (listener, _) = bind_loopback().await;
    spawn_app_on(listener, services).await
}

/// A free loopback port for an app not built yet, and the base URL it will
/// serve: for services that must know the app's own URL before it starts
/// (a payment provider adapter's `notify_url` points at its webhook).
pub async fn bind_loopback() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    (listener, format!("http://{addr}"))
}

/// Like [`spawn_app_with`], on a listener from [`bind_loopback`].
pub async fn spawn_app_on(listener: tokio::net::TcpListener, mut services: Services) -> TestApp {
    let table = services.table.clone();
    let sandbox = Arc::new(aftersales::providers::sandbox::Sandbox::new());
    if services.providers.is_empty() {
        services.providers = aftersales::providers::ProviderSet::all(sandbox.clone());
    }
    if services.verifiers.is_empty() {
        services.verifiers.push((
            "sandbox".into(),
            Arc::new(aftersales::providers::sandbox::SandboxNotifications::new(
                SANDBOX_WEBHOOK_SECRET,
            )),
        ));
    }
    let keys = DevKeys::new(b"test-only-secret-not-used-anywhere-else");
    let addr = listener.local_addr().expect("local addr");
    let base = format!("http://{addr}");
    let files = Arc::new(tempfile::tempdir().expect("temp dir"));
    let uploads =
        onebox::with_local_evidence(&mut services, files.path(), &base, b"test-upload-secret");
    let state = AppState {
        services: services.clone(),
        auth: AuthMode::Hs256(Box::new(keys.clone())),
    };
    tokio::spawn(async move {
        axum::serve(listener, onebox::app(state, Some(uploads)))
            .await
            .expect("serve");
    });
    TestApp {
        base,
        services,
        sandbox,
        files,
        keys,
        http: {
            aftersales::providers::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client")
        },
        table,
    }
}

impl TestApp {
    /// Delivers every pending outbox event to every consumer (what the
    /// runner's poller and the cloud's stream do); returns how many.
    pub async fn drain(&self) -> usize {
        let mut total = 0;
        loop {
            let n = aftersales::app::dispatch::drain_outbox(&self.services, 100)
                .await
                .expect("outbox drains");
            if n == 0 {
                return total;
            }
            total += n;
        }
    }
    /// The storefront of shop-1 pushes (creates or replaces) an order.
    pub async fn push_order(&self, order_id: &str, order: &serde_json::Value) {
        let (s, v) = self
            .call(
                "PUT",
                &format!("/v1/shops/shop-1/orders/{order_id}"),
                Some(&self.storefront("shop-1")),
                Some(order),
                &[],
            )
            .await;
        assert!(s == 201 || s == 200, "{v}");
    }

    /// A claim as its customer reads it (must be 200).
    pub async fn claim_of(&self, customer: &str, claim_id: &str) -> serde_json::Value {
        let (s, v) = self
            .call(
                "GET",
                &format!("/v1/claims/{claim_id}"),
                Some(&self.customer(customer)),
                None,
                &[],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// The refunds of a claim of `shop-1`, as its finance staff search
    /// them (`GET /v1/shops/shop-1/refunds?claim_id=`).
    pub async fn claim_refunds(&self, claim_id: &str) -> Vec<serde_json::Value> {
        let finance = self.staff("fay", "shop-1", &[aftersales::auth::StaffRole::Finance]);
        let (s, v) = self
            .call(
                "GET",
                &format!("/v1/shops/shop-1/refunds?claim_id={claim_id}"),
                Some(&finance),
                None,
                &[],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["refunds"].as_array().expect("a refund list").clone()
    }

    pub fn customer(&self, id: &str) -> String {
        self.keys.mint("customer", id, None, &[], 600)
    }
    pub fn storefront(&self, shop: &str) -> String {
        self.keys
            .mint("storefront", &format!("sf-{shop}"), Some(shop), &[], 600)
    }
    pub fn staff(&self, id: &str, shop: &str, roles: &[StaffRole]) -> String {
        self.keys.mint("staff", id, Some(shop), roles, 600)
    }

    /// Puts an order snapshot as the shop's storefront and expects it taken
    /// (201 new, 200 changed); the status.
    pub async fn put_order(&self, shop: &str, order: &str, body: &serde_json::Value) -> u16 {
        let (s, v) = self
            .call(
                "PUT",
                &format!("/v1/shops/{shop}/orders/{order}"),
                Some(&self.storefront(shop)),
                Some(body),
                &[],
            )
            .await;
        assert!(s == 200 || s == 201, "order {order}: {s} {v}");
        s
    }

    /// Files a claim as `customer` and expects it filed (201); the claim.
    pub async fn file_claim(&self, customer: &str, body: &serde_json::Value) -> serde_json::Value {
        let (s, v) = self
            .call(
                "POST",
                "/v1/claims",
                Some(&self.customer(customer)),
                Some(body),
                &[],
            )
            .await;
        assert_eq!(s, 201, "{body} → {v}");
        v
    }

    /// Uploads one photo for a claim `customer` is about to file at `shop`
    /// (`POST /v1/evidence-uploads`, then the PUT); the evidence key. With
    /// `put` false only the URL is asked for and nothing lands.
    pub async fn upload_evidence(&self, customer: &str, shop: &str, put: bool) -> String {
        const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a photo of a torn sleeve";
        self.upload_file(customer, shop, PHOTO, put).await
    }

    /// [`TestApp::upload_evidence`] of these bytes as a JPEG.
    pub async fn upload_photo(&self, customer: &str, shop: &str, photo: &[u8]) -> String {
        self.upload_file(customer, shop, photo, true).await
    }

    async fn upload_file(&self, customer: &str, shop: &str, photo: &[u8], put: bool) -> String {
        let (s, ticket) = self
            .call(
                "POST",
                "/v1/evidence-uploads",
                Some(&self.customer(customer)),
                Some(
                    &serde_json::json!({"shop_id": shop, "content_type": "image/jpeg",
                                         "content_length": photo.len()}),
                ),
                &[],
            )
            .await;
        assert_eq!(s, 201, "{ticket}");
        let key = ticket["evidence_key"].as_str().expect("a key").to_owned();
        if put {
            let mut req = self
                .http
                .put(ticket["url"].as_str().expect("a url"))
                .body(photo.to_vec());
            for (k, v) in ticket["headers"].as_object().expect("headers") {
                req = req.header(k.as_str(), v.as_str().expect("a header value"));
            }
            let r = req.send().await.expect("the upload reaches the app");
            assert_eq!(r.status().as_u16(), 200);
        }
        key
    }

    /// Sends a request; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut rb = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let resp = rb.send().await.expect("request reaches the app");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        let json = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{method} {path} answered non-JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, json)
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request reaches the app");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }
}

/// A sample order: two T-shirts and a mug, order discount and shipping,
/// paid with WeChat Pay.
pub fn sample_order(customer: &str) -> serde_json::Value {
    serde_json::json!({
        "customer_id": customer,
        "member_tier": "gold",
        "language": "en",
        "currency": "CNY",
        "placed_at": "2026-11-20T08:00:00Z",
        "lines": [
            {"line_id": "L1", "sku": "TEE-M", "title": "T-shirt", "kind": "physical",
             "quantity": 2, "unit_price": "99.00", "discount": "10.00"},
            {"line_id": "L2", "sku": "MUG", "title": "Mug", "kind": "physical",
             "quantity": 1, "unit_price": "30.00"},
            {"line_id": "L3", "sku": "GIFT", "title": "Clearance socks", "kind": "physical",
             "quantity": 1, "unit_price": "5.00", "final_sale": true}
        ],
        "order_discount": "20.00",
        "shipping_fee": "8.00",
        "payments": [
            {"payment_id": "P1", "channel": "wechat_pay", "provider_txn_id": "4200000001",
             "amount": "211.00", "paid_at": "2026-11-20T08:01:00Z"}
        ],
        "fulfilment": {"state": "shipped", "shipped_at": "2026-11-21T09:00:00Z"}
    })
}

/// [`sample_order`] paid an hour ago through `channel` (the provider's
/// transaction `txn`) and not shipped: the shop's default rules approve a
/// refund-only claim on it at once.
pub fn unshipped_order_paid_with(
    customer: &str,
    channel: aftersales::domain::order::PaymentChannel,
    txn: &str,
) -> serde_json::Value {
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let mut order = sample_order(customer);
    order["placed_at"] = serde_json::json!(hour_ago);
    order["payments"][0]["channel"] = serde_json::json!(channel);
    order["payments"][0]["provider_txn_id"] = serde_json::json!(txn);
    order["payments"][0]["paid_at"] = serde_json::json!(hour_ago);
    order["fulfilment"] = serde_json::json!({"state": "paid_unshipped"});
    order
}

/// A clock the test moves by hand (whole seconds since the epoch).
#[derive(Clone)]
pub struct TestClock(Arc<std::sync::atomic::AtomicI64>);

impl TestClock {
    pub fn at(rfc3339: &str) -> TestClock {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("a valid time")
            .timestamp();
        TestClock(Arc::new(std::sync::atomic::AtomicI64::new(t)))
    }
    pub fn advance_seconds(&self, s: i64) {
        self.0.fetch_add(s, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance_hours(&self, h: i64) {
        self.0
            .fetch_add(h * 3600, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn clock(&self) -> aftersales::app::Clock {
        let t = self.0.clone();
        Arc::new(move || {
            chrono::DateTime::from_timestamp(t.load(std::sync::atomic::Ordering::SeqCst), 0)
                .expect("in range")
        })
    }
}

/// The app over `table` with a hand-moved clock.
pub async fn spawn_app_at(table: Arc<dyn Table>, clock: &TestClock) -> TestApp {
    let mut services = Services::new(table);
    services.clock = clock.clock();
    spawn_app_with(services).await
}

/// The event names of a claim's timeline, oldest first.
pub fn timeline_events(claim: &serde_json::Value) -> Vec<&str> {
    claim["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|e| e["event"].as_str().expect("an event name"))
        .collect()
}

/// A money object's amount in minor units (two fraction digits).
pub fn minor_units(money: &serde_json::Value) -> i64 {
    let amount: rust_decimal::Decimal = money["amount"]
        .as_str()
        .expect("an amount")
        .parse()
        .expect("a decimal amount");
    (amount * rust_decimal::Decimal::ONE_HUNDRED)
        .try_into()
        .expect("whole minor units")
}
