//! The customer's standing and the fraud signals of a claim: what the
//! rules can test beyond the claim itself (see [`crate::domain::rules`]),
//! and what staff see beside the claim in their queue.
//!
//! - standing, from the customer's recent claims ([`History`]): how many
//!   of their orders had money back, how often they kept the goods (a
//!   refund-only claim on goods that had shipped), how often they gave
//!   this claim's reason;
//! - evidence, from the photos' [fingerprints](super::fingerprint): a photo
//!   already on another claim (theirs or someone else's), a photo taken
//!   before the order was delivered.
//!
//! [`History`]: crate::domain::rules::History

use super::fingerprint::Fingerprint;
use super::ids::ClaimId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A photo of this claim that is also on another claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reuse {
    /// The evidence key on this claim.
    pub evidence: String,
    /// The other claim (of the same shop) carrying the same photo.
    pub claim_id: ClaimId,
    /// The other claim is another customer's.
    pub other_customer: bool,
}

/// Another claim's photo with the same look, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub evidence: String,
    pub claim_id: ClaimId,
    pub customer_id: String,
    pub fingerprint: Fingerprint,
}

/// What the evidence of a claim shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFindings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reused: Vec<Reuse>,
    /// Evidence keys of photos taken before the order was delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken_before_delivery: Vec<String>,
}

impl EvidenceFindings {
    /// Judges a claim's photos: `mine` are (key, fingerprint) of the claim's
    /// evidence, `seen` the store's candidates sharing a band with them.
    /// A candidate counts when it is the same photo on another claim.
    pub fn judge(
        claim_id: &str,
        customer_id: &str,
        delivered_at: Option<DateTime<Utc>>,
        mine: &[(String, Fingerprint)],
        seen: &[Seen],
    ) -> EvidenceFindings {
        let mut out = EvidenceFindings::default();
        for (key, fp) in mine {
            for s in seen {
                if s.claim_id.as_str() == claim_id || !fp.same_photo(&s.fingerprint) {
                    continue;
                }
                let reuse = Reuse {
                    evidence: key.clone(),
                    claim_id: s.claim_id.clone(),
                    other_customer: s.customer_id != customer_id,
                };
                if !out.reused.contains(&reuse) {
                    out.reused.push(reuse);
                }
            }
            if delivered_at.is_some_and(|d| fp.taken_before(d)) {
                out.taken_before_delivery.push(key.clone());
            }
        }
        out
    }
}

/// The signals of one claim as the rules last saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// Share of the customer's orders with money refunded by a claim, in
    /// whole percent.
    pub refund_rate_percent: u32,
    /// Refund-only claims paid on goods that had shipped (recent claims).
    pub claims_without_return: u32,
    /// Recent claims giving this claim's reason.
    pub same_reason_claims: u32,
    #[serde(flatten)]
    pub evidence: EvidenceFindings,
}

/// Whole percent of `part` in `whole` (0 of nothing), capped at 100.
pub fn percent(part: u32, whole: u32) -> u32 {
    if whole == 0 {
        return 0;
    }
    (u64::from(part) * 100 / u64::from(whole)).min(100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(hash: u64, taken: Option<&str>) -> Fingerprint {
        Fingerprint {
            hash,
            taken_by: taken.map(|t| t.parse().unwrap()),
        }
    }

    #[test]
    fn a_photo_on_another_claim_is_reused_and_an_old_one_is_flagged() {
        let mine = vec![
            ("evidence/upl_a/1.jpg".to_string(), fp(0xff00, None)),
            (
                "evidence/upl_a/2.jpg".to_string(),
                fp(0x1234_0000_0000, Some("2026-04-01T00:00:00Z")),
            ),
        ];
        let seen = vec![
            // Same photo, two bits off, another customer's claim.
            Seen {
                evidence: "evidence/upl_b/9.jpg".into(),
                claim_id: "clm_b".into(),
                customer_id: "bob".into(),
                fingerprint: fp(0xff03, None),
            },
            // The claim's own photo, found again: not a reuse.
            Seen {
                evidence: "evidence/upl_a/1.jpg".into(),
                claim_id: "clm_a".into(),
                customer_id: "alice".into(),
                fingerprint: fp(0xff00, None),
            },
            // Shares a band but differs in many bits: another photo.
            Seen {
                evidence: "evidence/upl_c/1.jpg".into(),
                claim_id: "clm_c".into(),
                customer_id: "alice".into(),
                fingerprint: fp(0xff00 | 0xffff << 48, None),
            },
        ];
        let delivered = "2026-05-01T00:00:00Z".parse().ok();
        let f = EvidenceFindings::judge("clm_a", "alice", delivered, &mine, &seen);
        assert_eq!(
            f.reused,
            vec![Reuse {
                evidence: "evidence/upl_a/1.jpg".into(),
                claim_id: "clm_b".into(),
                other_customer: true,
            }]
        );
        assert_eq!(f.taken_before_delivery, vec!["evidence/upl_a/2.jpg"]);
        // Not delivered yet: nothing can be "before delivery".
        let f = EvidenceFindings::judge("clm_a", "alice", None, &mine, &seen);
        assert!(f.taken_before_delivery.is_empty());
    }

    #[test]
    fn percent_is_whole_and_capped() {
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(5, 4), 100);
    }
}
