//! Clearance: the customs and international-logistics side of a
//! cross-border order, which reports where its parcel is with customs
//! (declared, inspecting, cleared, failed) and its way back to the seller
//! (returning, returned, with the return waybill). One port
//! ([`ClearanceService`]: ask about a declaration), the signed push it
//! sends when the status moves ([`verify_push`], at
//! `POST /v1/clearance/notify`) and two adapters:
//!
//! - `http` (feature `providers`): the clearance service's HTTP API,
//!   signed queries and signed answers;
//! - [`sandbox`]: the one-machine and test stand-in.
//!
//! Both ways carry the same record ([`Report`]). Its news is taken onto the
//! customs claims of the order ([`crate::domain::claim::Claim::note_customs`]),
//! which moves forward only, so a push repeated, replayed or crossing a
//! query changes nothing twice. The signature is
//! [`crate::partner_signature`] over the timestamp, the nonce and the body
//! of a push or an answer.

use crate::domain::crossborder::{Clearance, ClearanceStatus, ReturnShipment};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "providers")]
pub mod http;
pub mod sandbox;

/// Where the service's queries go: `{base_url}{QUERY_PATH}{declaration_no}`.
pub const QUERY_PATH: &str = "/v1/declarations/";
/// Where the service pushes to (our side).
pub const PUSH_PATH: &str = "/v1/clearance/notify";
/// Headers of a push and of an answer.
pub const TIMESTAMP_HEADER: &str = "x-clearance-timestamp";
pub const NONCE_HEADER: &str = "x-clearance-nonce";
pub const SIGNATURE_HEADER: &str = "x-clearance-signature";
/// How far a push's or an answer's timestamp may be from our clock.
pub const SKEW_SECS: i64 = 300;

/// Why the clearance service gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClearanceError {
    /// Network, timeout, the service's server error: ask again later.
    #[error("temporary clearance service failure: {0}")]
    Transient(String),
    /// Our credentials or the request were refused, or the answer was not
    /// the service's: asking again changes nothing.
    #[error("clearance service refused: {0}")]
    Permanent(String),
    /// The service does not know the declaration (yet).
    #[error("declaration unknown to the clearance service: {0}")]
    Unknown(String),
}

/// The customs and international-logistics service.
#[async_trait]
pub trait ClearanceService: Send + Sync {
    /// Where the parcel of `declaration_no` is now.
    async fn status(&self, declaration_no: &str) -> Result<Clearance, ClearanceError>;
}

/// The clearance record, as the service sends it in answers and pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub declaration_no: String,
    pub status: ClearanceStatus,
    /// Customs' reason, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The parcel's way back, once it has a waybill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_shipment: Option<ReturnShipment>,
    /// When it happened, by the service's clock.
    pub at: DateTime<Utc>,
}

/// Longest reason kept (customs' texts are a sentence or two).
const MAX_REASON_CHARS: usize = 500;

fn short_text(field: &str, v: &str, max: usize) -> Result<(), String> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(format!(
            "{field}: must be 1 to {max} characters without control characters"
        ));
    }
    Ok(())
}

impl Report {
    /// The record as a [`Clearance`], checked: a report that is not about
    /// `declaration_no` (when given) or has unusable text is refused.
    pub fn clearance(self, declaration_no: Option<&str>) -> Result<Clearance, String> {
        if let Some(d) = declaration_no {
            if self.declaration_no != d {
                return Err(format!(
                    "declaration_no: the report is about {}, not {d}",
                    self.declaration_no
                ));
            }
        }
        if let Some(r) = &self.reason {
            short_text("reason", r, MAX_REASON_CHARS)?;
        }
        if let Some(r) = &self.return_shipment {
            short_text("return_shipment.carrier", &r.carrier, 32)?;
            short_text("return_shipment.tracking_number", &r.tracking_number, 40)?;
        }
        Ok(Clearance {
            status: self.status,
            reason: self.reason,
            return_shipment: self.return_shipment,
            at: self.at,
        })
    }
}

/// A push: the record and the order it belongs to (the e-commerce order
/// number is part of every cross-border declaration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub shop_id: String,
    pub order_id: String,
    #[serde(flatten)]
    pub report: Report,
}

/// Why a push was refused; nothing is recorded for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Missing headers, a signature that does not verify or a timestamp
    /// too far from ours. Checked before the body is read.
    #[error("bad clearance push signature: {0}")]
    BadSignature(String),
    /// Signed correctly but not understood.
    #[error("malformed clearance push: {0}")]
    Malformed(String),
}

/// The headers of a signed push or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl Signed {
    /// Signs `body` at `now` with a new nonce.
    pub fn new(secret: &[u8], body: &[u8], now: DateTime<Utc>) -> Self {
        Self::with_nonce(
            secret,
            body,
            now,
            &uuid::Uuid::new_v4().simple().to_string(),
        )
    }

    /// Signs `body` at `now` with `nonce` (an answer carries its query's).
    pub fn with_nonce(secret: &[u8], body: &[u8], now: DateTime<Utc>, nonce: &str) -> Self {
        let timestamp = now.timestamp().to_string();
        let signature =
            crate::partner_signature::sign(secret, &[timestamp.as_bytes(), nonce.as_bytes(), body]);
        Signed {
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        }
    }

    /// Whether this signs `body` with `secret` at a time within
    /// [`SKEW_SECS`] of `now`.
    pub fn check(&self, secret: &[u8], body: &[u8], now: DateTime<Utc>) -> Result<(), String> {
        if !crate::partner_signature::verify(
            secret,
            &[self.timestamp.as_bytes(), self.nonce.as_bytes(), body],
            &self.signature,
        ) {
            return Err("signature does not verify".into());
        }
        let fresh = self
            .timestamp
            .parse::<i64>()
            // Checked: a signed timestamp far from any clock (i64::MIN)
            // overflowed the subtraction and panicked (found by fuzzing).
            .is_ok_and(|t| {
                now.timestamp()
                    .checked_sub(t)
                    .is_some_and(|d| d.abs() <= SKEW_SECS)
            });
        if !fresh {
            return Err("timestamp out of range".into());
        }
        Ok(())
    }
}

/// Checks a push's signature, then reads it. A replayed push within the
/// time window carries news already taken, which changes nothing.
pub fn verify_push(
    secret: &[u8],
    signed: Option<Signed>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Push, PushError> {
    let signed = signed.ok_or_else(|| {
        PushError::BadSignature(format!(
            "{TIMESTAMP_HEADER}, {NONCE_HEADER} and {SIGNATURE_HEADER} are required"
        ))
    })?;
    signed
        .check(secret, body, now)
        .map_err(PushError::BadSignature)?;
    let push: Push =
        serde_json::from_slice(body).map_err(|e| PushError::Malformed(e.to_string()))?;
    push.report
        .clone()
        .clearance(None)
        .map_err(PushError::Malformed)?;
    Ok(push)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-20T10:00:00Z".parse().unwrap()
    }

    fn body() -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "shop_id": "s1", "order_id": "o1", "declaration_no": "DEC1",
            "status": "failed", "reason": "restricted goods",
            "at": "2026-11-20T09:00:00Z"
        }))
        .unwrap()
    }

    /// Found by fuzzing: a push signed with the right secret at
    /// `i64::MIN` overflowed the freshness check.
    #[test]
    fn a_timestamp_at_the_end_of_i64_is_refused_not_a_panic() {
        let b = body();
        for t in [i64::MIN, i64::MAX] {
            let timestamp = t.to_string();
            let signature = crate::partner_signature::sign(b"k", &[timestamp.as_bytes(), b"n", &b]);
            let s = Signed {
                timestamp,
                nonce: "n".into(),
                signature,
            };
            assert!(matches!(
                verify_push(b"k", Some(s), &b, now()),
                Err(PushError::BadSignature(_))
            ));
        }
    }

    #[test]
    fn a_signed_push_is_read_and_anything_else_is_refused() {
        let b = body();
        let s = Signed::new(b"k", &b, now());
        let p = verify_push(b"k", Some(s.clone()), &b, now()).unwrap();
        assert_eq!(p.report.status, ClearanceStatus::Failed);
        assert_eq!(p.order_id, "o1");
        for (secret, body, at) in [
            (b"x".as_slice(), b.clone(), now()),
            (b"k", [b.clone(), b" ".to_vec()].concat(), now()),
            (
                b"k",
                b.clone(),
                now() + chrono::Duration::seconds(SKEW_SECS + 1),
            ),
        ] {
            assert!(matches!(
                verify_push(secret, Some(s.clone()), &body, at),
                Err(PushError::BadSignature(_))
            ));
        }
        assert!(matches!(
            verify_push(b"k", None, &b, now()),
            Err(PushError::BadSignature(_))
        ));
        let mut other_nonce = s.clone();
        other_nonce.nonce = "n2".into();
        assert!(verify_push(b"k", Some(other_nonce), &b, now()).is_err());
    }

    #[test]
    fn signed_nonsense_is_malformed() {
        for b in [
            b"not json".to_vec(),
            br#"{"shop_id":"s1","order_id":"o1","declaration_no":"D","status":"lost","at":"2026-11-20T09:00:00Z"}"#.to_vec(),
            br#"{"shop_id":"s1","order_id":"o1","declaration_no":"D","status":"failed","reason":"","at":"2026-11-20T09:00:00Z"}"#.to_vec(),
        ] {
            let s = Signed::new(b"k", &b, now());
            assert!(
                matches!(verify_push(b"k", Some(s), &b, now()), Err(PushError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn a_report_about_another_declaration_is_refused() {
        let r: Report = serde_json::from_slice(&body()).unwrap();
        assert!(r.clone().clearance(Some("DEC1")).is_ok());
        assert!(r
            .clearance(Some("DEC2"))
            .unwrap_err()
            .starts_with("declaration_no"));
    }
}

/// Fuzzing pushes (see `crate::fuzzing`): bodies signed with the shared
/// secret, altered before or after signing, at any timestamp. Not signed
/// with our secret, or signed too far from now: refused before the body is
/// read; signed and fresh: read as the body says or refused as malformed,
/// never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{self, cases, json_edits, mutations, DEFAULT_CASES};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const SECRET: &[u8] = b"clearance-secret";
    const NOW: i64 = 1_764_000_000;
    const FIELDS: &[&str] = &[
        "shop_id",
        "order_id",
        "declaration_no",
        "status",
        "reason",
        "return_shipment",
        "carrier",
        "tracking_number",
        "at",
    ];

    fn push() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(
                &[
                    "declared",
                    "inspecting",
                    "cleared",
                    "failed",
                    "returning",
                    "returned",
                    "lost",
                ][..],
            ),
            prop_oneof![Just(None), ".{0,40}".prop_map(Some)],
            prop_oneof![
                Just("2026-11-20T09:00:00Z".to_string()),
                Just("+262142-12-31T23:59:59Z".to_string()),
                ".{0,25}",
            ],
            any::<bool>(),
        )
            .prop_map(|(status, reason, at, back)| {
                let mut v = json!({"shop_id": "s1", "order_id": "o1", "declaration_no": "DEC1",
                    "status": status, "at": at});
                if let Some(r) = reason {
                    v["reason"] = json!(r);
                }
                if back {
                    v["return_shipment"] =
                        json!({"carrier": "sf", "tracking_number": "SF1234567890"});
                }
                v
            })
    }

    #[test]
    fn fuzz_pushes_are_verified_then_read_as_sent() {
        let strategy = (
            push(),
            prop_oneof![2 => Just(Vec::new()), 1 => json_edits(3, FIELDS)],
            prop_oneof![3 => Just(Vec::new()), 1 => mutations(3)],
            prop_oneof![
                6 => (-300i64..=300).prop_map(|d| (NOW + d).to_string()),
                1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(|t| t.to_string()),
                1 => ".{0,20}",
            ],
            prop_oneof![6 => Just(true), 1 => Just(false)],
            prop_oneof![6 => Just(Vec::new()), 1 => mutations(2)],
        );
        let now = DateTime::from_timestamp(NOW, 0).unwrap();
        fuzzing::run(
            "clearance/verify_push",
            cases(DEFAULT_CASES),
            strategy,
            |(push, edits, bytes, ts, ours, tamper)| {
                let body = fuzzing::near_json(&push, &edits, &bytes);
                let secret: &[u8] = if ours { SECRET } else { b"other" };
                let signature =
                    crate::partner_signature::sign(secret, &[ts.as_bytes(), b"n1", &body]);
                let signed = Signed {
                    timestamp: ts.clone(),
                    nonce: "n1".into(),
                    signature,
                };
                let sent = fuzzing::mutate(&body, &tamper);
                let result = verify_push(SECRET, Some(signed), &sent, now);
                let fresh = ts
                    .parse::<i64>()
                    .ok()
                    .and_then(|t| t.checked_sub(NOW))
                    .is_some_and(|d| d.abs() <= SKEW_SECS);
                if !ours || sent != body || !fresh {
                    prop_assert!(
                        matches!(result, Err(PushError::BadSignature(_))),
                        "{result:?}"
                    );
                    return Ok(());
                }
                prop_assert!(
                    !matches!(result, Err(PushError::BadSignature(_))),
                    "{result:?}"
                );
                if let Ok(p) = result {
                    let v: Value = serde_json::from_slice(&sent).unwrap();
                    prop_assert_eq!(Some(p.order_id.as_str()), v["order_id"].as_str());
                    prop_assert_eq!(
                        Some(p.report.declaration_no.as_str()),
                        v["declaration_no"].as_str()
                    );
                }
                Ok(())
            },
        );
    }
}
