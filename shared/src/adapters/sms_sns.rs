//! Text messages through Amazon SNS: a direct publish to a phone number
//! (no topic), as a transactional message.
//!
//! SNS has no idempotency key for direct SMS (`MessageDeduplicationId` is
//! for FIFO topics only), so `dedupe_id` only goes to the log; the
//! notifications use case keeps its own "sent" marker.

use crate::ports::{PortError, SmsSender};
use async_trait::async_trait;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

pub struct SnsSms {
    client: Client,
    /// The sender name shown where carriers support it (`SMS_SENDER_ID`).
    sender_id: Option<String>,
}

impl SnsSms {
    pub fn new(client: Client, sender_id: Option<String>) -> Self {
        SnsSms { client, sender_id }
    }

    /// A client from an SDK configuration (tests point it at moto).
    pub fn from_config(config: &aws_config::SdkConfig, sender_id: Option<String>) -> Self {
        SnsSms::new(Client::new(config), sender_id)
    }

    /// A client from the default AWS configuration chain; the sender id
    /// from `SMS_SENDER_ID` when set.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let sender_id = std::env::var("SMS_SENDER_ID")
            .ok()
            .filter(|s| !s.trim().is_empty());
        SnsSms::from_config(&config, sender_id)
    }
}

/// E.164: `+`, then 8 to 15 digits, the first not 0. SNS refuses anything
/// else; checking first keeps a bad number from costing a request.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, PortError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::Permanent(format!("sns message attribute: {e}")))
}

/// Refusals that will not change on a retry; everything else (throttling,
/// service errors, the network) is worth trying again.
fn port_error<E, R>(err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let permanent = matches!(
        err.as_service_error().and_then(|e| e.code()),
        Some(
            "InvalidParameter"
                | "InvalidParameterValue"
                | "ValidationError"
                | "AuthorizationError"
                | "OptedOut"
        )
    );
    let message = format!("sns: {}", DisplayErrorContext(&err));
    if permanent {
        PortError::Permanent(message)
    } else {
        PortError::Transient(message)
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send(&self, phone: &str, text: &str, dedupe_id: &str) -> Result<(), PortError> {
        if !is_e164(phone) {
            return Err(PortError::Permanent(
                "the phone number is not in E.164 form (+ and 8 to 15 digits)".into(),
            ));
        }
        let mut req = self
            .client
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(id) = &self.sender_id {
            req = req.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(id)?);
        }
        let out = req.send().await.map_err(port_error)?;
        tracing::info!(dedupe_id, message_id = ?out.message_id(), "sms published");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn e164_numbers_only() {
        assert!(is_e164("+8613800138000"));
        assert!(is_e164("+15555550100"));
        for bad in [
            "13800138000",
            "+0123456789",
            "+86 138 0013 8000",
            "+123",
            "+1234567890123456",
            "+86138001380O0",
            "",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
