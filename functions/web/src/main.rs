//! The pages (server-rendered HTML, zh-CN and en) behind API Gateway, on
//! routes without an authorizer: the function verifies the session cookie's
//! token against the issuer's keys itself. Which routes reach it is set in
//! infra/template.yaml.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::lambda::run_web().await
}
