//! The sandbox provider of the one-machine runner and the tests: refunds
//! succeed at once, idempotently by out-refund number, and every money
//! movement is counted, so a test can prove that money moved once. An
//! amount ending in .13 (13 minor units modulo 100) is declined for good,
//! so a newcomer can see a failure too.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Sandbox {
    refunds: Mutex<HashMap<String, ProviderRefund>>,
    movements: Mutex<HashMap<String, u32>>,
}

impl Sandbox {
    pub fn new() -> Self {
        Self::default()
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
}

#[async_trait]
impl RefundProvider for Sandbox {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Balance
    }

    async fn refund(&self, req: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let mut refunds = self
            .refunds
            .lock()
            .map_err(|_| ProviderError::Transient("sandbox poisoned".into()))?;
        if let Some(known) = refunds.get(&req.out_refund_no) {
            return Ok(known.clone());
        }
        if req.amount <= 0 || req.amount > req.payment_total {
            return Err(ProviderError::Permanent("SANDBOX_BAD_AMOUNT".into()));
        }
        let answer = if req.amount % 100 == 13 {
            ProviderRefund {
                out_refund_no: req.out_refund_no.clone(),
                provider_refund_id: Some(format!("sbx-{}", req.out_refund_no)),
                state: ProviderState::Failed {
                    reason: "SANDBOX_DECLINED: amounts ending in .13 are declined".into(),
                },
                received_account: None,
            }
        } else {
            if let Ok(mut m) = self.movements.lock() {
                *m.entry(req.out_refund_no.clone()).or_default() += 1;
            }
            ProviderRefund {
                out_refund_no: req.out_refund_no.clone(),
                provider_refund_id: Some(format!("sbx-{}", req.out_refund_no)),
                state: ProviderState::Succeeded {
                    at: Some(Utc::now()),
                },
                received_account: Some("sandbox balance".into()),
            }
        };
        refunds.insert(req.out_refund_no.clone(), answer.clone());
        Ok(answer)
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
        use PaymentChannel::*;
        [WechatPay, Alipay, BankCard, Card, Balance]
            .into_iter()
            .fold(ProviderSet::default(), |s, c| s.with(c, p.clone()))
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
}

pub const SIGNATURE_HEADER: &str = "sandbox-signature";
const TOLERANCE_SECS: i64 = 300;

impl SandboxNotifications {
    pub fn new(secret: &[u8]) -> Self {
        SandboxNotifications {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, t: i64, body: &[u8]) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret)
            .expect("HMAC takes any key length");
        m.update(t.to_string().as_bytes());
        m.update(b".");
        m.update(body);
        m
    }

    /// The signature header value for `body` sent at `t`.
    pub fn sign(&self, t: i64, body: &[u8]) -> String {
        use hmac::Mac;
        format!(
            "t={t},v1={}",
            hex::encode(self.mac(t, body).finalize().into_bytes())
        )
    }
}

impl NotificationVerifier for SandboxNotifications {
    fn channel(&self) -> PaymentChannel {
        PaymentChannel::Balance
    }

    fn verify(
        &self,
        incoming: &Incoming<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProviderRefund, NotificationError> {
        use hmac::Mac;
        let header = incoming
            .header(SIGNATURE_HEADER)
            .ok_or_else(|| NotificationError::BadSignature("no Sandbox-Signature".into()))?;
        let mut t = None;
        let mut sigs = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v1", v)) => sigs.push(v.to_owned()),
                _ => {}
            }
        }
        let t = t.ok_or_else(|| NotificationError::BadSignature("no timestamp".into()))?;
        let good = sigs.iter().any(|s| {
            hex::decode(s)
                .ok()
                .is_some_and(|raw| self.mac(t, incoming.body).verify_slice(&raw).is_ok())
        });
        if !good {
            return Err(NotificationError::BadSignature(
                "signature does not match".into(),
            ));
        }
        if (now.timestamp() - t).abs() > TOLERANCE_SECS {
            return Err(NotificationError::Stale(format!(
                "signed at {t}, more than {TOLERANCE_SECS} s away"
            )));
        }
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
