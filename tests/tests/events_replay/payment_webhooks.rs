//! The payment-webhooks function's API Gateway events, signed at replay
//! time with the test's secret, replayed through the Lambda glue.

use super::helpers::{
    claim_json, error_code, events_dir, in_folders, json_files, read_event, refund_of,
    refund_state, replay, replay_text, seed_pending_refund, timeline_count, WEBHOOK_FOLDERS,
};
use aftersales::api::{router, AppState};
use aftersales::app::Services;
use aftersales::auth::AuthMode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

const WEBHOOK_GOOD: &str = "payment-webhooks/sandbox-refund-succeeded.json";
const WEBHOOK_BAD_SIGNATURE: &str = "payment-webhooks/sandbox-bad-signature.json";
const WEBHOOK_UNKNOWN_PROVIDER: &str = "payment-webhooks/unknown-provider.json";
/// The claim whose refund the notifications are about, and its customer.
const WEBHOOK_CLAIM: &str = "clm_0193a1b2c3d47e8f9a0b1c2d3e4f5a74";
const WEBHOOK_CUSTOMER: &str = "cust-700";

/// What the replay does to a sandbox event's signature header.
enum Signing {
    /// The file holds a placeholder: sign the body now with the test's
    /// secret (`SANDBOX_WEBHOOK_SECRET`), as the provider would.
    WithTestSecret,
    /// Keep the file's signature, with its timestamp moved to now, so the
    /// event is refused for its signature, not for its age.
    KeptButFresh,
}

/// The event of `file` with its `sandbox-signature` header made as `how`
/// says, at `now` (seconds).
fn signed_event(file: &str, how: Signing, now: i64) -> String {
    use aftersales::providers::sandbox::{SandboxNotifications, SIGNATURE_HEADER};
    let mut ev: Value = serde_json::from_str(&read_event(file)).unwrap();
    let body = ev["body"].as_str().expect("body").to_owned();
    let header = &mut ev["headers"][SIGNATURE_HEADER];
    let kept = header
        .as_str()
        .unwrap_or_else(|| panic!("{file}: no {SIGNATURE_HEADER} header"))
        .to_owned();
    *header = json!(match how {
        Signing::WithTestSecret => {
            SandboxNotifications::new(aftersales_tests::http::SANDBOX_WEBHOOK_SECRET)
                .sign(now, body.as_bytes())
        }
        Signing::KeptButFresh => kept
            .split(',')
            .map(|part| match part.split_once('=') {
                Some(("t", _)) => format!("t={now}"),
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(","),
    });
    serde_json::to_string(&ev).unwrap()
}

/// Accepts refunds and moves the money (the sandbox underneath), but only
/// says "processing": the result comes by webhook.
struct SaysProcessing(Arc<aftersales::providers::sandbox::Sandbox>);

#[async_trait::async_trait]
impl aftersales::providers::RefundProvider for SaysProcessing {
    fn channel(&self) -> aftersales::domain::order::PaymentChannel {
        self.0.channel()
    }
    async fn refund(
        &self,
        req: &aftersales::providers::RefundRequest,
    ) -> Result<aftersales::providers::ProviderRefund, aftersales::providers::ProviderError> {
        let mut answer = self.0.refund(req).await?;
        answer.state = aftersales::providers::ProviderState::Processing;
        Ok(answer)
    }
    async fn query(
        &self,
        req: &aftersales::providers::RefundRequest,
    ) -> Result<Option<aftersales::providers::ProviderRefund>, aftersales::providers::ProviderError>
    {
        self.0.query(req).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_webhook_events_replay_through_the_lambda_glue_on_dynamodb() {
    use aftersales::domain::refund::RefundStatus;
    use aftersales::providers::sandbox::{Sandbox, SandboxNotifications};
    use aftersales::providers::ProviderSet;

    let mut on_disk = BTreeSet::new();
    json_files(&events_dir(), &mut on_disk);
    on_disk.retain(|f| in_folders(f, WEBHOOK_FOLDERS));
    assert_eq!(
        on_disk,
        BTreeSet::from([
            WEBHOOK_GOOD.to_string(),
            WEBHOOK_BAD_SIGNATURE.to_string(),
            WEBHOOK_UNKNOWN_PROVIDER.to_string(),
        ]),
        "payment-webhooks events on disk vs this test"
    );

    let sandbox = Arc::new(Sandbox::new());
    let mut services = Services::new(Arc::new(
        aftersales_tests::dynamo_table_without_stream().await,
    ));
    services.providers = ProviderSet::all(Arc::new(SaysProcessing(sandbox.clone())));
    services.verifiers.push((
        "sandbox".into(),
        Arc::new(SandboxNotifications::new(
            aftersales_tests::http::SANDBOX_WEBHOOK_SECRET,
        )),
    ));
    let refund_id = seed_pending_refund(&services, WEBHOOK_CUSTOMER, "o-700", WEBHOOK_CLAIM).await;
    for file in [WEBHOOK_GOOD, WEBHOOK_BAD_SIGNATURE] {
        let ev: Value = serde_json::from_str(&read_event(file)).unwrap();
        let news: Value = serde_json::from_str(ev["body"].as_str().unwrap()).unwrap();
        assert_eq!(news["out_refund_no"], refund_id.as_str(), "{file}");
    }
    // The executor sends the refund; the provider moves the money and
    // answers "processing".
    let status = aftersales::app::refunds::execute(&services, &refund_id)
        .await
        .expect("refund sent");
    assert_eq!(status, RefundStatus::Processing);
    assert_eq!(sandbox.movements(&refund_id), 1);

    let app = router(AppState {
        services: services.clone(),
        auth: AuthMode::Gateway,
    });
    let now = || chrono::Utc::now().timestamp();

    // A forged notification saying the refund succeeded: refused before
    // anything is read, nothing changes.
    let before = refund_state(&services, &refund_id, WEBHOOK_CLAIM).await;
    let text = signed_event(WEBHOOK_BAD_SIGNATURE, Signing::KeptButFresh, now());
    let (status, body) = replay_text(&app, WEBHOOK_BAD_SIGNATURE, &text).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["received"], false, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("signature")),
        "{body}"
    );
    assert_eq!(
        refund_state(&services, &refund_id, WEBHOOK_CLAIM).await,
        before
    );

    // The provider's notification, signed with the secret: acknowledged,
    // the refund's result recorded, the claim completed.
    let text = signed_event(WEBHOOK_GOOD, Signing::WithTestSecret, now());
    let (status, body) = replay_text(&app, WEBHOOK_GOOD, &text).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], true, "{body}");
    let (refund, _) = refund_of(&services, &refund_id).await;
    assert_eq!(refund.status, RefundStatus::Succeeded, "{refund:?}");
    assert_eq!(
        refund
            .history
            .iter()
            .filter(|h| h.status == RefundStatus::Succeeded)
            .count(),
        1,
        "{refund:?}"
    );
    let claim = claim_json(&services, WEBHOOK_CLAIM).await;
    assert_eq!(claim["status"], "completed", "{claim}");
    assert_eq!(timeline_count(&claim, "refund_succeeded"), 1, "{claim}");

    // Providers retry notifications: the same one again (signed anew) is
    // acknowledged and changes nothing.
    let after = refund_state(&services, &refund_id, WEBHOOK_CLAIM).await;
    let text = signed_event(WEBHOOK_GOOD, Signing::WithTestSecret, now());
    let (status, body) = replay_text(&app, WEBHOOK_GOOD, &text).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], true, "{body}");
    assert_eq!(
        refund_state(&services, &refund_id, WEBHOOK_CLAIM).await,
        after
    );

    // A provider the deployment does not know: a JSON 404, nothing read.
    let (status, body) = replay(&app, WEBHOOK_UNKNOWN_PROVIDER).await;
    assert_eq!(status, 404, "{body}");
    error_code("not_found")(&body);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("webhook")),
        "{body}"
    );
    assert_eq!(
        refund_state(&services, &refund_id, WEBHOOK_CLAIM).await,
        after
    );
    // Money moved once, by the executor; notifications only told of it.
    assert_eq!(sandbox.total_movements(), 1);
}
