//! Webhook signing secrets sealed with a KMS key (direct `Encrypt` /
//! `Decrypt`: a secret is 50 bytes, far below KMS's 4 KB, so no data key
//! is needed). The endpoint's id is the encryption context: a sealed
//! secret copied onto another endpoint does not open. The stored form is
//! [`PREFIX`] and the base64 ciphertext (which names the key itself, so a
//! rotated key still opens the old ones).
//!
//! Only the two functions that need it hold a permission: merchant-api
//! `kms:Encrypt` (endpoints made, secrets rotated), webhook-delivery
//! `kms:Decrypt` (signing); infra/template.yaml.

use crate::ports::{PortError, SecretSealer};
use async_trait::async_trait;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use base64::Engine as _;

/// What a sealed secret starts with in the table.
pub const PREFIX: &str = "kms:";
/// The encryption context's one key.
const CONTEXT_KEY: &str = "webhook_endpoint";

pub struct KmsSealer {
    client: Client,
    key_id: String,
}

impl KmsSealer {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        KmsSealer {
            client,
            key_id: key_id.into(),
        }
    }

    /// A client from an SDK configuration (tests point it at moto).
    pub fn from_config(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        KmsSealer::new(Client::new(config), key_id)
    }

    /// The key named by `WEBHOOK_SECRETS_KEY_ID`, None where it is not set.
    pub async fn from_env() -> Option<Self> {
        let key_id = std::env::var("WEBHOOK_SECRETS_KEY_ID")
            .ok()
            .filter(|k| !k.trim().is_empty())?;
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Some(KmsSealer::from_config(&config, key_id))
    }
}

/// KMS's refusals that will not change on a retry (a key disabled or
/// deleted, a context that does not match, a ciphertext that is not
/// ours); everything else (throttling, the service, the network) is worth
/// trying again. The error's text names no secret (KMS never echoes the
/// plaintext).
fn port_error<E, R>(what: &str, err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let permanent = matches!(
        err.as_service_error().and_then(|e| e.code()),
        Some(
            "DisabledException"
                | "NotFoundException"
                | "InvalidCiphertextException"
                | "IncorrectKeyException"
                | "InvalidKeyUsageException"
                | "KMSInvalidStateException"
                | "AccessDeniedException"
        )
    );
    let message = format!("{what}: {}", DisplayErrorContext(&err));
    if permanent {
        PortError::Permanent(message)
    } else {
        PortError::Transient(message)
    }
}

#[async_trait]
impl SecretSealer for KmsSealer {
    async fn seal(&self, plain: &str, context: &str) -> Result<String, PortError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plain.as_bytes()))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| port_error("kms encrypt", e))?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| PortError::Transient("kms encrypt: no ciphertext".into()))?;
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
        ))
    }

    async fn open(&self, sealed: &str, context: &str) -> Result<String, PortError> {
        let b64 = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| PortError::Permanent("not a sealed secret".into()))?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| PortError::Permanent("a sealed secret that is not base64".into()))?;
        let out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| port_error("kms decrypt", e))?;
        let plain = out
            .plaintext
            .ok_or_else(|| PortError::Transient("kms decrypt: no plaintext".into()))?;
        String::from_utf8(plain.into_inner())
            .map_err(|_| PortError::Permanent("a sealed secret that is not text".into()))
    }
}
