//! The API's three descriptions agree: the router's `ROUTES`, the OpenAPI
//! document (`infra/openapi.yaml`) and the SAM template's HttpApi events
//! (`infra/template.yaml`). And the OpenAPI document tells the truth about
//! bodies: its examples parse as the Rust types, and real responses of the
//! router match its schemas for the status they came with.

mod dispute_responses;
mod enums;
mod examples;
mod generator_friendly;
mod helpers;
mod merchant_responses;
mod responses;
mod routes;
mod template;
mod virtual_responses;
