//! The sandbox provider of the one-machine runner and the tests. It moves
//! money idempotently by out-refund number and counts every movement, so a
//! test can prove that money moved once. An amount ending in .13 (13 minor
//! units modulo 100) is declined for good, so a newcomer can see a failure
//! too.
//!
//! Two ways to answer, as real providers do:
//! - [`Sandbox::new`]: the refund's result comes in the call's answer
//!   (synchronous providers; the fast path of the tests);
//! - [`Sandbox::notifying`]: the call answers "processing", and a moment
//!   later the sandbox posts its own signed notification to the webhook
//!   (`POST /v1/webhooks/sandbox`), re-posting until it is acknowledged, as
//!   WeChat Pay and Alipay do. The runner uses this one, so a newcomer sees
//!   "refund sent", then "refund arrived".
//!
//! The runner's sandbox also remembers its refunds across restarts
//! ([`Sandbox::remember_in`]: one JSON line per refund, written before it
//! answers), as a real provider knows every out-refund number it ever
//! took: a refund sent again after a restart learns its old result, and
//! money never moves twice.

use super::{
    timestamped, Ack, Incoming, NoticeAmount, NotificationError, NotificationVerifier,
    ProviderError, ProviderRefund, ProviderState, RefundProvider, RefundRequest,
};
use crate::domain::order::PaymentChannel;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Sandbox {
    refunds: Mutex<HashMap<String, ProviderRefund>>,
    movements: Mutex<HashMap<String, u32>>,
    notify: Option<Notify>,
    /// Where new refunds are appended, when they are remembered.
    journal: Mutex<Option<std::fs::File>>,
}

/// Where and how the notifying sandbox posts its results.
struct Notify {
    sink: Arc<dyn NotificationSink>,
    signer: Arc<SandboxNotifications>,
    delay: Duration,
}

/// Delivers a signed notification (headers, body); returns the HTTP status
/// the webhook answered.
#[async_trait]
pub trait NotificationSink: Send + Sync {
    async fn deliver(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<u16, LoopbackError>;
}

/// Why a post to a loopback `http://` URL (the sandbox's notifications,
/// the sandbox courier's pushes) was not made.
#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    #[error("{url}: {source}")]
    BadUrl {
        url: String,
        source: http::uri::InvalidUri,
    },
    /// No TLS on loopback: `https://` and other schemes are refused.
    #[error("{0}: the sandbox posts to http:// URLs only")]
    NotHttp(String),
    #[error("{0}: no host")]
    NoHost(String),
    #[error("connect {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    /// The HTTP exchange failed (handshake, sending, the answer).
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// The request could not be built (a header that is not one).
    #[error(transparent)]
    Request(#[from] http::Error),
}

/// The authority and path of a loopback `http://` URL.
pub(crate) fn loopback_target(url: &str) -> Result<(String, String), LoopbackError> {
    let uri: http::Uri = url.parse().map_err(|source| LoopbackError::BadUrl {
        url: url.to_owned(),
        source,
    })?;
    if uri.scheme_str() != Some("http") {
        return Err(LoopbackError::NotHttp(url.to_owned()));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| LoopbackError::NoHost(url.to_owned()))?
        .to_string();
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".into(), |p| p.to_string());
    Ok((authority, path))
}

/// Posts notifications over HTTP/1.1 to a plain `http://host:port/path`
/// URL: the runner's own webhook on 127.0.0.1.
pub struct HttpSink {
    authority: String,
    path: String,
}

impl HttpSink {
    /// `url`: `http://host:port/path` (no TLS: loopback only).
    pub fn new(url: &str) -> Result<Self, LoopbackError> {
        let (authority, path) = loopback_target(url)?;
        Ok(HttpSink { authority, path })
    }
}

#[async_trait]
impl NotificationSink for HttpSink {
    async fn deliver(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<u16, LoopbackError> {
        use http_body_util::{BodyExt, Full};
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|source| LoopbackError::Connect {
                authority: self.authority.clone(),
                source,
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut req = http::Request::post(&self.path)
            .header(http::header::HOST, &self.authority)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Full::new(axum::body::Bytes::copy_from_slice(body)))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        // Read the answer to the end so the connection closes cleanly.
        let _ = resp.into_body().collect().await;
        Ok(status)
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sandbox that answers "processing" and posts each result, signed
    /// by `signer`, to `sink` after `delay`.
    pub fn notifying(
        sink: Arc<dyn NotificationSink>,
        signer: Arc<SandboxNotifications>,
        delay: Duration,
    ) -> Self {
        Sandbox {
            notify: Some(Notify {
                sink,
                signer,
                delay,
            }),
            ..Self::default()
        }
    }

    /// Remembers refunds in `path` (JSON lines): those already there are
    /// known from now on, new ones are appended before they are answered.
    /// A torn last line (a crash mid-write) is skipped: that refund was
    /// never answered, so it is asked for again.
    pub fn remember_in(&self, path: &std::path::Path) -> std::io::Result<usize> {
        use std::io::BufRead;
        let mut known = 0;
        if let Ok(f) = std::fs::File::open(path) {
            let mut refunds = self.refunds.lock().unwrap_or_else(|e| e.into_inner());
            let mut movements = self.movements.lock().unwrap_or_else(|e| e.into_inner());
            for line in std::io::BufReader::new(f).lines() {
                let Ok(r) = serde_json::from_str::<ProviderRefund>(&line?) else {
                    tracing::warn!(path = %path.display(), "unreadable sandbox refund line skipped");
                    continue;
                };
                if matches!(r.state, ProviderState::Succeeded { .. }) {
                    *movements.entry(r.out_refund_no.clone()).or_default() += 1;
                }
                refunds.insert(r.out_refund_no.clone(), r);
                known += 1;
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        // A torn last line is ended, so the next refund starts a line.
        let torn = std::fs::read(path)?.last().is_some_and(|&b| b != b'\n');
        if torn {
            std::io::Write::write_all(&mut file, b"\n")?;
        }
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        Ok(known)
    }

    /// Appends a new refund to the journal, if there is one.
    fn write_down(&self, r: &ProviderRefund) -> Result<(), ProviderError> {
        use std::io::Write;
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let Some(f) = journal.as_mut() else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(r)
            .map_err(|e| ProviderError::Transient(format!("sandbox journal: {e}")))?;
        line.push(b'\n');
        // The page cache is enough: a killed process loses nothing.
        f.write_all(&line)
            .map_err(|e| ProviderError::Transient(format!("sandbox journal: {e}")))
    }

    /// How many times money moved for this out-refund number.
    pub fn movements(&self, out_refund_no: &str) -> u32 {
        self.movements
            .lock()
            .map(|m| m.get(out_refund_no).copied().unwrap_or(0))
            .unwrap_or(0)
    }
    pub fn total_movements(&self) -> u32 {
        self.movements.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// The result of a new refund request (money moves here, once).
    fn decide(&self, req: &RefundRequest) -> ProviderRefund {
        let state = if req.amount.minor() % 100 == 13 {
            ProviderState::Failed {
                reason: "SANDBOX_DECLINED: amounts ending in .13 are declined".into(),
            }
        } else {
            if let Ok(mut m) = self.movements.lock() {
                *m.entry(req.out_refund_no.clone()).or_default() += 1;
            }
            ProviderState::Succeeded {
                at: Some(Utc::now()),
            }
        };
        ProviderRefund {
            out_refund_no: req.out_refund_no.clone(),
            provider_refund_id: Some(format!("sbx-{}", req.out_refund_no)),
            received_account: matches!(state, ProviderState::Succeeded { .. })
                .then(|| "sandbox account".into()),
            state,
            amount: Some(NoticeAmount::Refund(req.amount.minor())),
            account: None,
        }
    }
}

/// Posts `result` until the webhook acknowledges it (2xx), backing off
/// like a real provider; gives up after a few tries (reconciliation then
/// finds the refund through [`Sandbox::query`]).
async fn post_until_acknowledged(n: &Notify, result: ProviderRefund) {
    let Ok(body) = serde_json::to_vec(&result) else {
        return;
    };
    tokio::time::sleep(n.delay).await;
    let mut wait = Duration::from_millis(200);
    for _ in 0..6 {
        let headers = [(
            SIGNATURE_HEADER.to_owned(),
            n.signer.sign(Utc::now().timestamp(), &body),
        )];
        match n.sink.deliver(&headers, &body).await {
            Ok(status) if (200..300).contains(&status) => return,
            Ok(status) => {
                tracing::warn!(out_refund_no = %result.out_refund_no, status, "sandbox notification not acknowledged")
            }
            Err(e) => {
                tracing::warn!(out_refund_no = %result.out_refund_no, error = %e, "sandbox notification not delivered")
            }
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

#[async_trait]
impl RefundProvider for Sandbox {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Balance
    }

    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let (result, new) = {
            let mut refunds = self
                .refunds
                .lock()
                .map_err(|_| ProviderError::Transient("sandbox poisoned".into()))?;
            match refunds.get(&req.out_refund_no) {
                Some(known) => (known.clone(), false),
                None => {
                    let bounded = req
                        .minor_units()
                        .is_ok_and(|(amount, total)| amount > 0 && amount <= total);
                    if !bounded {
                        return Err(ProviderError::Permanent("SANDBOX_BAD_AMOUNT".into()));
                    }
                    let result = self.decide(req);
                    // Written down before it is answered or known: a
                    // refund answered is never forgotten.
                    self.write_down(&result)?;
                    refunds.insert(req.out_refund_no.clone(), result.clone());
                    (result, true)
                }
            }
        };
        // A repeated request learns the result, as at real providers.
        let (Some(n), true) = (&self.notify, new) else {
            return Ok(result);
        };
        let n = Notify {
            sink: n.sink.clone(),
            signer: n.signer.clone(),
            delay: n.delay,
        };
        let posted = result.clone();
        tokio::spawn(async move { post_until_acknowledged(&n, posted).await });
        Ok(ProviderRefund {
            state: ProviderState::Processing,
            received_account: None,
            ..result
        })
    }

    async fn query(&self, req: &RefundRequest) -> Result<Option<ProviderRefund>, ProviderError> {
        Ok(self
            .refunds
            .lock()
            .map_err(|_| ProviderError::Transient("sandbox poisoned".into()))?
            .get(&req.out_refund_no)
            .cloned())
    }
}

/// The providers of a deployment, by payment channel.
#[derive(Clone, Default)]
pub struct ProviderSet {
    by_channel: Vec<(PaymentChannel, std::sync::Arc<dyn RefundProvider>)>,
}

impl ProviderSet {
    pub fn with(mut self, channel: PaymentChannel, p: std::sync::Arc<dyn RefundProvider>) -> Self {
        self.by_channel.retain(|(c, _)| *c != channel);
        self.by_channel.push((channel, p));
        self
    }
    /// One provider for every channel (the runner's sandbox).
    pub fn all(p: std::sync::Arc<dyn RefundProvider>) -> Self {
        ALL_CHANNELS
            .into_iter()
            .fold(ProviderSet::default(), |s, c| s.with(c, p.clone()))
    }
    /// The channels that have a provider.
    pub fn channels(&self) -> Vec<PaymentChannel> {
        self.by_channel.iter().map(|(c, _)| *c).collect()
    }
    pub fn is_empty(&self) -> bool {
        self.by_channel.is_empty()
    }
    pub fn get(&self, channel: PaymentChannel) -> Option<&std::sync::Arc<dyn RefundProvider>> {
        self.by_channel
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|(_, p)| p)
    }
}

/// The sandbox's notifications, signed like Stripe's: header
/// `Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`, five
/// minutes of tolerance. The body is a [`ProviderRefund`] as JSON.
pub struct SandboxNotifications {
    secret: Vec<u8>,
    /// The channels the sandbox stands in for: its notices settle refunds
    /// of these only.
    channels: Vec<PaymentChannel>,
}

/// Every channel: the sandbox alone behind a runner or a test.
pub const ALL_CHANNELS: [PaymentChannel; 5] = [
    PaymentChannel::WechatPay,
    PaymentChannel::Alipay,
    PaymentChannel::BankCard,
    PaymentChannel::Card,
    PaymentChannel::Balance,
];

pub const SIGNATURE_HEADER: &str = "sandbox-signature";
const TOLERANCE_SECS: i64 = 300;

impl SandboxNotifications {
    /// Notices for refunds of every channel.
    pub fn new(secret: &[u8]) -> Self {
        Self::for_channels(secret, &ALL_CHANNELS)
    }

    /// Notices for refunds of `channels` only (the others have real
    /// providers, whose notices alone settle them).
    pub fn for_channels(secret: &[u8], channels: &[PaymentChannel]) -> Self {
        SandboxNotifications {
            secret: secret.to_vec(),
            channels: channels.to_vec(),
        }
    }

    /// The signature header value for `body` sent at `t`.
    pub fn sign(&self, t: i64, body: &[u8]) -> String {
        format!("t={t},v1={}", timestamped::signature(&self.secret, t, body))
    }
}

impl NotificationVerifier for SandboxNotifications {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Balance
    }

    fn channels(&self) -> Vec<PaymentChannel> {
        self.channels.clone()
    }

    fn account(&self) -> Option<String> {
        None
    }

    fn verify(
        &self,
        incoming: &Incoming<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        let header = incoming
            .header(SIGNATURE_HEADER)
            .ok_or_else(|| NotificationError::BadSignature("no Sandbox-Signature".into()))?;
        timestamped::verify(&self.secret, header, incoming.body, now, TOLERANCE_SECS)?;
        serde_json::from_slice(incoming.body)
            .map_err(|e| NotificationError::Malformed(e.to_string()))
    }

    fn ack(&self) -> Ack {
        Ack {
            status: 200,
            content_type: "application/json",
            body: r#"{"received":true}"#.into(),
        }
    }

    fn nack(&self, e: &NotificationError) -> Ack {
        Ack {
            status: 400,
            content_type: "application/json",
            body: serde_json::json!({"received": false, "error": e.to_string()}).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(out_refund_no: &str, amount: i64) -> RefundRequest {
        serde_json::from_value(serde_json::json!({
            "out_refund_no": out_refund_no, "provider_txn_id": "T1",
            "amount": {"amount": format!("{}.{:02}", amount / 100, amount % 100), "currency": "CNY"},
            "payment_total": {"amount": "100.00", "currency": "CNY"},
            "reason": "test"
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_restarted_sandbox_remembers_its_refunds() {
        let path = std::env::temp_dir().join(format!("sbx-{}.jsonl", uuid::Uuid::new_v4()));
        let first = Sandbox::new();
        assert_eq!(first.remember_in(&path).unwrap(), 0);
        let r1 = first.refund(&request("R1", 3000)).await.unwrap();
        first.refund(&request("R2", 1013)).await.unwrap();
        assert_eq!(first.total_movements(), 1);
        drop(first);
        // A torn line from a crash mid-write is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"out_refund_no\":\"R"))
            .unwrap();

        let again = Sandbox::new();
        assert_eq!(again.remember_in(&path).unwrap(), 2);
        // R1 sent again after the restart: its old result, no new movement.
        assert_eq!(again.refund(&request("R1", 3000)).await.unwrap(), r1);
        assert_eq!(again.movements("R1"), 1);
        assert_eq!(again.total_movements(), 1);
        assert!(matches!(
            again
                .query(&request("R2", 1013))
                .await
                .unwrap()
                .unwrap()
                .state,
            ProviderState::Failed { .. }
        ));
        // A new one moves money and is remembered too.
        again.refund(&request("R3", 500)).await.unwrap();
        assert_eq!(again.total_movements(), 2);
        let third = Sandbox::new();
        assert_eq!(third.remember_in(&path).unwrap(), 3);
        assert_eq!(third.movements("R3"), 1);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn sinks_take_loopback_http_urls_only() {
        assert!(HttpSink::new("http://127.0.0.1:8080/v1/webhooks/sandbox").is_ok());
        let refused = |url: &str| HttpSink::new(url).err().expect(url).to_string();
        assert_eq!(
            refused("https://127.0.0.1/hook"),
            "https://127.0.0.1/hook: the sandbox posts to http:// URLs only"
        );
        assert_eq!(
            refused("/v1/webhooks/sandbox"),
            "/v1/webhooks/sandbox: the sandbox posts to http:// URLs only"
        );
        assert!(refused("http://exa mple/").starts_with("http://exa mple/: "));
    }
}
