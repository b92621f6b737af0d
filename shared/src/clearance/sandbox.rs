//! The clearance service of the one-machine runner and the tests: no
//! network, the records a customs broker would report.
//!
//! Tests move a declaration on as customs would
//! ([`SandboxClearance::report`]), which also gives the signed push the
//! service sends about it. A declaration nobody reported on answers
//! `declared`, except declarations starting `FAIL-` (refused entry at
//! customs) and `RET-` (already back with the seller), so a newcomer can
//! try the automatic refund on the runner from the README alone.

use super::{ClearanceError, ClearanceService, Push, Report, Signed};
use crate::domain::crossborder::{Clearance, ClearanceStatus, ReturnShipment};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Declarations starting with this failed clearance from the start.
pub const FAILED_PREFIX: &str = "FAIL-";
/// Declarations starting with this are back with the seller.
pub const RETURNED_PREFIX: &str = "RET-";

type Clock = std::sync::Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct SandboxClearance {
    secret: Vec<u8>,
    clock: Clock,
    known: Mutex<HashMap<String, Clearance>>,
    asked: Mutex<Vec<String>>,
}

impl std::fmt::Debug for SandboxClearance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxClearance").finish_non_exhaustive()
    }
}

impl SandboxClearance {
    /// `secret`: what it signs its pushes with (the one our push route
    /// checks).
    pub fn new(secret: &[u8], clock: Clock) -> Self {
        SandboxClearance {
            secret: secret.to_vec(),
            clock,
            known: Mutex::default(),
            asked: Mutex::default(),
        }
    }

    /// Customs (or the way back) moves `declaration_no` on: later queries
    /// answer this. Returns the push the service sends about it for the
    /// order (`shop_id`, `order_id`): its body and signed headers.
    pub fn report(
        &self,
        shop_id: &str,
        order_id: &str,
        declaration_no: &str,
        clearance: Clearance,
    ) -> (Vec<u8>, Signed) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(declaration_no.to_owned(), clearance.clone());
        let push = Push {
            shop_id: shop_id.to_owned(),
            order_id: order_id.to_owned(),
            report: Report {
                declaration_no: declaration_no.to_owned(),
                status: clearance.status,
                reason: clearance.reason,
                return_shipment: clearance.return_shipment,
                at: clearance.at,
            },
        };
        let body = serde_json::to_vec(&push).expect("a push serializes");
        let signed = Signed::new(&self.secret, &body, (self.clock)());
        (body, signed)
    }

    /// The declarations asked about so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl ClearanceService for SandboxClearance {
    async fn status(&self, declaration_no: &str) -> Result<Clearance, ClearanceError> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(declaration_no.to_owned());
        if let Some(c) = self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(declaration_no)
        {
            return Ok(c.clone());
        }
        let at = (self.clock)();
        let (status, reason, return_shipment) = if declaration_no.starts_with(FAILED_PREFIX) {
            (
                ClearanceStatus::Failed,
                Some("sandbox customs: entry refused".to_owned()),
                None,
            )
        } else if declaration_no.starts_with(RETURNED_PREFIX) {
            (
                ClearanceStatus::Returned,
                None,
                Some(ReturnShipment {
                    carrier: "ems".into(),
                    tracking_number: format!("SBX{}", declaration_no.len()),
                }),
            )
        } else {
            (ClearanceStatus::Declared, None, None)
        };
        Ok(Clearance {
            status,
            reason,
            return_shipment,
            at,
        })
    }
}
