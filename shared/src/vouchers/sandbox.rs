//! The runner's and the tests' voucher issuer: every code is unused until
//! it is redeemed here ([`SandboxVouchers::redeem`], as a customer using
//! it at the issuer would), except codes starting with `USED-`, which the
//! sandbox issuer already saw redeemed (for trying the refusal by hand).
//! It counts the questions it was asked, so tests can tell that a kept
//! answer is not asked for again.

use super::{VoucherError, VoucherIssuer};
use crate::domain::voucher::VoucherState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Codes starting with this are redeemed from the start.
pub const USED_PREFIX: &str = "USED-";

#[derive(Debug, Default)]
pub struct SandboxVouchers {
    redeemed: Mutex<HashMap<String, DateTime<Utc>>>,
    asked: Mutex<Vec<String>>,
}

impl SandboxVouchers {
    pub fn new() -> Self {
        Self::default()
    }

    /// The customer redeems `code` at `at`.
    pub fn redeem(&self, code: &str, at: DateTime<Utc>) {
        self.redeemed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(code.to_owned(), at);
    }

    /// The codes asked about so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl VoucherIssuer for SandboxVouchers {
    async fn status(&self, code: &str) -> Result<VoucherState, VoucherError> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(code.to_owned());
        if let Some(at) = self
            .redeemed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(code)
        {
            return Ok(VoucherState::Redeemed { at: Some(*at) });
        }
        if code.starts_with(USED_PREFIX) {
            return Ok(VoucherState::Redeemed { at: None });
        }
        Ok(VoucherState::Unused)
    }
}
