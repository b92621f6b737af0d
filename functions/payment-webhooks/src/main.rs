//! The payment-webhook function: `POST /v1/webhooks/{provider}` from WeChat
//! Pay, Alipay, Stripe-style card providers (and the sandbox). The shared
//! router verifies the provider's signature before reading anything, then
//! records the refund result idempotently. API Gateway sends only the
//! webhook route here (infra/template.yaml).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::lambda::run_http_api().await
}
