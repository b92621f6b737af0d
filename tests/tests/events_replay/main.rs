//! Replays every sample event in `events/` (API Gateway HTTP API, payload
//! format 2.0) through the Lambda glue and the real router, over a DynamoDB
//! table in moto, in a fixed order: order intake first, so the claims find
//! their order. Each file has an expected status and body; a file without an
//! expectation fails the test, so a new event must be given one in the
//! module of its function.
//!
//! Before replaying, every event is checked for the shape API Gateway really
//! sends (and `sam local invoke -e` / `cargo lambda invoke --data-file` pass
//! on unchanged): version, routeKey, rawPath, headers, requestContext,
//! authorizer claims as strings, body as a string.
//!
//! The functions that API Gateway does not call have their own replays,
//! one module each: queue batches of outbox events (SQS messages carrying
//! the events bus's event of a stream record) through the consumer glue (notifications),
//! S3 object-created events through the evidence glue, against moto's
//! S3 with the objects really uploaded (evidence-events), and SQS batches
//! from the refund queue through the SQS glue (refund-executor). The
//! functions with several event sources (rule-evaluation, refund-executor,
//! courier-verification, webhook-delivery) are replayed through `lambda_dispatch::dispatch`
//! with the function's own `Sources`, as their main.rs runs it. The
//! payment webhooks are API Gateway events too, replayed on their own: they
//! are signed at replay time with the test's secret.

mod courier_verification;
mod evidence_events;
mod helpers;
mod http_api;
mod notifications;
mod payment_webhooks;
mod refund_executor;
mod rule_evaluation;
mod webhook_delivery;
