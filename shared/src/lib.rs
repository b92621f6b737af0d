//! aftersales: the domain, its use cases, the ports to the outside world and
//! their adapters, and the HTTP router shared by the Lambda functions and the
//! one-machine runner.

pub mod adapters;
pub mod api;
pub mod app;
pub mod auth;
pub mod clearance;
pub mod couriers;
pub mod domain;
#[cfg(test)]
pub(crate) mod fuzzing;
pub mod hooks;
pub mod installers;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(all(feature = "lambda", feature = "dynamodb"))]
pub mod lambda_bus;
#[cfg(all(feature = "lambda", feature = "dynamodb"))]
pub mod lambda_dispatch;
#[cfg(feature = "lambda")]
pub mod lambda_s3;
#[cfg(feature = "lambda")]
pub mod lambda_schedule;
#[cfg(all(feature = "secrets", feature = "dynamodb"))]
pub mod lambda_secrets;
#[cfg(all(feature = "lambda", feature = "dynamodb"))]
pub mod lambda_sqs;
#[cfg(all(feature = "lambda", feature = "dynamodb"))]
pub mod lambda_stream;
pub mod onebox;
pub mod partner_signature;
pub mod ports;
pub mod providers;
pub mod repo;
pub mod store;
pub mod strict_json;
pub mod telemetry;
pub mod vouchers;
pub mod web;
