//! The merchant API function (shop policy, review rules, rejection reasons,
//! the after-sales desk and batch review): the shared router behind API
//! Gateway. Which routes reach it is set in infra/template.yaml.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::lambda::run_http_api().await
}
