//! What the rules see of a claim: the facts gathered from the claim, its
//! order, the shop's policy and the customer's history, computed once per
//! evaluation so the rule engine itself stays pure.

use super::*;

/// Claims of the customer within this many days count as history.
pub const HISTORY_DAYS: i64 = 90;

/// History counts stop here: enough to tell a serial claimant, and the read
/// per evaluation stays small (one page of the customer's newest claims).
pub const HISTORY_CAP: u32 = 50;

/// The customer's recent claims (other than this one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub claims: u32,
    pub rejected: u32,
}

/// Whether the claim carries the evidence its reason needs: quality
/// problems need at least one photo or video; no-reason claims need none.
/// A claim the shop asked for more evidence is incomplete until it comes.
pub fn evidence_complete(c: &Claim) -> bool {
    use crate::domain::claim::ClaimStatus;
    if c.status == ClaimStatus::AwaitingEvidence {
        return false;
    }
    !c.reason.is_quality_issue() || !c.evidence.is_empty()
}

pub async fn customer_history(s: &Services, claim: &Claim) -> Result<History, AppError> {
    let since = claim.created_at - chrono::Duration::days(HISTORY_DAYS);
    let (recent, _) = repo::claims::list(
        &*s.table,
        Owner::Customer(&claim.customer_id),
        HISTORY_CAP + 1,
        None,
    )
    .await?;
    let mut h = History::default();
    for c in recent {
        if c.claim_id == claim.claim_id || c.created_at < since {
            continue;
        }
        h.claims += 1;
        if c.status == crate::domain::claim::ClaimStatus::Rejected {
            h.rejected += 1;
        }
    }
    Ok(h)
}

/// Everything the rules look at for this claim now.
pub fn facts(
    claim: &Claim,
    order: &Order,
    policy: &crate::domain::policy::ShopPolicy,
    history: History,
    now: DateTime<Utc>,
) -> crate::domain::rules::Facts {
    let mut f = crate::domain::rules::Facts::gather(claim, order, policy, now);
    f.evidence_complete = evidence_complete(claim);
    f.claims_last_90_days = history.claims;
    f.rejected_last_90_days = history.rejected;
    f
}
