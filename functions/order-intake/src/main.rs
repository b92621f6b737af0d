//! The order intake function (storefronts push order snapshots): the shared router behind API Gateway. Which routes
//! reach it is set in infra/template.yaml.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    aftersales::lambda::run_http_api().await
}
