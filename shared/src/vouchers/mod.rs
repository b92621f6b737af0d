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

/// The issuer API's signature ([`crate::partner_signature`]): a query
/// signs method, path and its sorted query string; an answer signs its
/// timestamp and body.
pub use crate::partner_signature::{sign, verify};
