//! The real API on a loopback port, over a chosen storage engine, and a
//! small client that speaks to it as a storefront, a customer or staff would.

use aftersales::api::{router, AppState};
use aftersales::app::Services;
use aftersales::auth::{AuthMode, DevKeys, StaffRole};
use aftersales::store::Table;
use std::sync::Arc;

pub struct TestApp {
    pub base: String,
    pub keys: DevKeys,
    pub http: reqwest::Client,
    pub table: Arc<dyn Table>,
}

/// Serves the router on 127.0.0.1 (a free port) until the test ends.
pub async fn spawn_app(table: Arc<dyn Table>) -> TestApp {
    let keys = DevKeys::new(b"test-only-secret-not-used-anywhere-else");
    let state = AppState {
        services: Services::new(table.clone()),
        auth: AuthMode::Hs256(Box::new(keys.clone())),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum_serve(listener, state).await;
    });
    TestApp {
        base: format!("http://{addr}"),
        keys,
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client"),
        table,
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, state: AppState) {
    axum::serve(listener, router(state)).await.expect("serve");
}

impl TestApp {
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
