//! The inputs to a rule decision that take reads of their own: the
//! customer's history, and what the claim's photos show (their
//! fingerprints, and the same photo on other claims of the shop).

use super::{AppError, Services};
use crate::domain::claim::Claim;
use crate::domain::fingerprint::Fingerprint;
use crate::domain::order::Order;
use crate::domain::rules::{History, PastClaim};
use crate::domain::standing::{EvidenceFindings, Seen};
use crate::repo::{self, claims::Owner};

/// History counts stop here: enough to tell a serial claimant, and the read
/// per evaluation stays small (one page of the customer's newest claims).
pub const HISTORY_CAP: u32 = 50;

/// Files are read for a fingerprint up to this size (a phone photo is a
/// few MB; the shop's own limit is usually lower).
pub const MAX_PHOTO_BYTES: u64 = 25 * 1024 * 1024;

/// The customer's recent claims (other than this one), counted.
pub async fn customer_history(s: &Services, claim: &Claim) -> Result<History, AppError> {
    let (recent, _) = repo::claims::list_as::<PastClaim>(
        &*s.table,
        Owner::Customer(&claim.customer_id),
        HISTORY_CAP + 1,
        None,
    )
    .await?;
    Ok(History::of(claim, &recent))
}

/// A file's fingerprint, computed once and kept: None when it is no photo
/// we can read, or (not kept) when the storage cannot give it now, so
/// that a decision never waits on a photo.
pub async fn fingerprint_of(s: &Services, key: &str) -> Result<Option<Fingerprint>, AppError> {
    if let Some(known) = repo::photos::fingerprint(&*s.table, key).await? {
        return Ok(known);
    }
    let Some(storage) = s.evidence.as_ref() else {
        return Ok(None);
    };
    let bytes = match storage.get(key, MAX_PHOTO_BYTES).await {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(key, error = %e, "evidence not readable for its fingerprint");
            return Ok(None);
        }
    };
    // Decoding a photo is CPU work: off the async workers.
    let fp = tokio::task::spawn_blocking(move || Fingerprint::of(&bytes))
        .await
        .ok()
        .flatten();
    repo::photos::put_fingerprint(&*s.table, key, fp).await?;
    Ok(fp)
}

/// What the claim's photos show: each one is put in the shop's index under
/// this claim first, then looked up, so of two claims with the same photo
/// decided at the same moment at least the later one sees the other.
pub async fn evidence_findings(
    s: &Services,
    claim: &Claim,
    order: &Order,
) -> Result<EvidenceFindings, AppError> {
    let mut mine = Vec::new();
    for key in &claim.evidence {
        if let Some(fp) = fingerprint_of(s, key).await? {
            mine.push((key.clone(), fp));
        }
    }
    if mine.is_empty() {
        return Ok(EvidenceFindings::default());
    }
    for (key, fp) in &mine {
        let me = Seen {
            evidence: key.clone(),
            claim_id: claim.claim_id.clone(),
            customer_id: claim.customer_id.to_string(),
            fingerprint: *fp,
        };
        repo::photos::index(&*s.table, &claim.shop_id, &me).await?;
    }
    let mut seen = Vec::new();
    for (_, fp) in &mine {
        seen.extend(repo::photos::candidates(&*s.table, &claim.shop_id, fp).await?);
    }
    Ok(EvidenceFindings::judge(
        &claim.claim_id,
        &claim.customer_id,
        order.facts.fulfilment.delivered_at,
        &mine,
        &seen,
    ))
}
