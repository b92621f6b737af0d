//! Installers: who installed a large appliance, when, with what result and
//! test report. One port ([`InstallerRecords`]: the installations of an
//! order line) and two adapters:
//!
//! - `http` (feature `providers`): the installer network's API, queries
//!   signed with HMAC-SHA256 and answers whose signature is checked before
//!   they are believed;
//! - [`sandbox`]: the one-machine and test stand-in, holding the
//!   installations the installer network would report.
//!
//! The signature ([`sign`]) covers the method, path, sorted query,
//! timestamp and nonce of a request, and the timestamp, the request's
//! nonce and the body of an answer, so neither can be replayed onto
//! another question or altered.

use crate::domain::appliance::InstallationRecord;
use async_trait::async_trait;

#[cfg(feature = "providers")]
pub mod http;
pub mod sandbox;

/// Why the installer gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallerError {
    /// Try again later: network, timeout, the installer's server error.
    #[error("temporary installer failure: {0}")]
    Transient(String),
    /// Refused for good (our credentials, the request) or an answer that
    /// does not verify.
    #[error("installer refused: {0}")]
    Permanent(String),
}

/// The installer network's records of installations.
#[async_trait]
pub trait InstallerRecords: Send + Sync {
    /// The installations of one order line (empty: the installer has
    /// none, e.g. the customer installed it themselves).
    async fn installations(
        &self,
        shop_id: &str,
        order_id: &str,
        line_id: &str,
    ) -> Result<Vec<InstallationRecord>, InstallerError>;
}

/// The path the installer network answers queries on.
pub const QUERY_PATH: &str = "/v1/installations";

/// [`crate::partner_signature`] over text parts.
pub fn sign(secret: &str, parts: &[&str]) -> String {
    let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    crate::partner_signature::sign(secret.as_bytes(), &parts)
}

/// Checks a signature made by [`sign`], in constant time.
pub fn verify(secret: &str, parts: &[&str], signature: &str) -> bool {
    let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    crate::partner_signature::verify(secret.as_bytes(), &parts, signature)
}

/// The answer body the installer network sends for a query.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QueryAnswer {
    pub installations: Vec<InstallationRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_every_part() {
        let s = sign("k", &["GET", "/p", "a=1"]);
        assert!(verify("k", &["GET", "/p", "a=1"], &s));
        assert!(!verify("k", &["GET", "/p", "a=2"], &s));
        assert!(!verify("other", &["GET", "/p", "a=1"], &s));
        assert!(!verify("k", &["GET", "/p", "a=1"], "zz"));
        // The known HMAC-SHA256 test vector (RFC 4231 style, key "key").
        assert_eq!(
            sign("key", &["The quick brown fox jumps over the lazy dog"]),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
