//! Glue between the evidence bucket's S3 ObjectCreated events (under
//! `evidence/`) and evidence recording: each uploaded file is recorded on
//! its claim, checked against the shop's limits, which puts a
//! `claim.evidence_added` event in the outbox for re-evaluation.

use crate::app::evidence::{record_upload, Recorded};
use crate::app::{AppError, Services};
use aws_lambda_events::event::s3::S3Event;

/// Records the evidence objects of one S3 event batch. A record whose
/// recording fails for a reason worth retrying fails the invocation, so S3's
/// asynchronous invocation retries it (recording is idempotent, so the
/// records that did succeed are harmless to repeat).
pub async fn handle(s: &Services, event: S3Event) -> Result<Vec<(String, Recorded)>, AppError> {
    let mut out = Vec::new();
    let mut failure = None;
    for r in event.records {
        if !r
            .event_name
            .as_deref()
            .is_some_and(|n| n.starts_with("ObjectCreated:"))
        {
            continue;
        }
        let Some(key) = r.s3.object.key else { continue };
        match record_upload(s, &key).await {
            Ok(rec) => {
                match &rec {
                    Recorded::Refused(why) => tracing::warn!(%key, why, "evidence not recorded"),
                    other => tracing::info!(%key, outcome = ?other, "evidence event"),
                }
                out.push((key, rec));
            }
            Err(e) => {
                tracing::error!(%key, error = %e, "evidence recording failed; the event will be retried");
                failure = Some(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// What the function answers: how many objects it looked at. S3 invokes it
/// asynchronously and ignores the answer; it is there for the logs.
pub fn answer(recorded: &[(String, Recorded)]) -> serde_json::Value {
    serde_json::json!({ "recorded": recorded.len() })
}

/// Runs the evidence function until the runtime stops it. A failed
/// recording fails the invocation (see [`handle`]).
pub async fn run(services: Services) -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
    run(service_fn(move |e: LambdaEvent<S3Event>| {
        let s = services.clone();
        async move {
            let recorded = handle(&s, e.payload).await?;
            Ok::<_, Error>(answer(&recorded))
        }
    }))
    .await
}
