//! Vouchers: the issuer of the codes sold on virtual lines, asked whether a
//! code is unused or was redeemed. One port ([`VoucherIssuer`]), the
//! signing both sides share ([`sign`]) and two adapters:
//!
//! - `http` (feature `providers`): the issuer's HTTP API, signed queries
//!   and signed answers;
//! - [`sandbox`]: the one-machine and test stand-in.
//!
//! The rules' facts are gathered with it (`app::vouchers`); the answer is
//! kept on the claim, so a re-run or a redelivered event never asks again.

use crate::domain::voucher::VoucherState;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[cfg(feature = "providers")]
pub mod http;
pub mod sandbox;

/// Why the issuer gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// Network, timeout, the issuer's server error: ask again later.
    #[error("temporary voucher issuer failure: {0}")]
    Transient(String),
    /// Our credentials or the request were refused, or the answer was not
    /// signed by the issuer: asking again changes nothing.
    #[error("voucher issuer refused: {0}")]
    Permanent(String),
    /// The issuer does not know the code.
    #[error("voucher code unknown to the issuer: {0}")]
    Unknown(String),
}

/// The issuer of voucher codes.
#[async_trait]
pub trait VoucherIssuer: Send + Sync {
    /// Whether `code` is unused or was redeemed (and when, if the issuer
    /// says).
    async fn status(&self, code: &str) -> Result<VoucherState, VoucherError>;
}

/// The issuer API's signature: hex HMAC-SHA256 with the shared secret over
/// the lines of `parts` joined by `\n`. A query signs method, path and its
/// sorted query string; an answer signs its timestamp and body.
pub fn sign(secret: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a signature made by [`sign`], in constant time.
pub fn verify(secret: &[u8], parts: &[&[u8]], signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(p);
    }
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_part_and_its_boundaries() {
        let s = sign(b"k", &[b"GET", b"/v1/vouchers/A"]);
        assert!(verify(b"k", &[b"GET", b"/v1/vouchers/A"], &s));
        assert!(!verify(b"other", &[b"GET", b"/v1/vouchers/A"], &s));
        assert!(!verify(b"k", &[b"GET/v1", b"/vouchers/A"], &s));
        assert!(!verify(b"k", &[b"GET", b"/v1/vouchers/A"], "zz"));
    }
}
