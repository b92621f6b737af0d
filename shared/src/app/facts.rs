//! The customer's history as the rules count it: the one input to a rule
//! decision that takes a read of its own.

use super::{AppError, Services};
use crate::domain::claim::Claim;
use crate::domain::rules::History;
use crate::repo::{self, claims::Owner};

/// History counts stop here: enough to tell a serial claimant, and the read
/// per evaluation stays small (one page of the customer's newest claims).
pub const HISTORY_CAP: u32 = 50;

/// The customer's recent claims (other than this one), counted.
pub async fn customer_history(s: &Services, claim: &Claim) -> Result<History, AppError> {
    let (recent, _) = repo::claims::list(
        &*s.table,
        Owner::Customer(&claim.customer_id),
        HISTORY_CAP + 1,
        None,
    )
    .await?;
    Ok(History::of(claim, &recent))
}
