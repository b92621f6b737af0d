//! aftersales: the domain, its use cases, the ports to the outside world and
//! their adapters, and the HTTP router shared by the Lambda functions and the
//! one-machine runner.

pub mod domain;
pub mod store;
