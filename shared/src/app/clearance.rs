//! The clearance service's news taken onto cross-border customs claims:
//! asked for when the rules are about to read a claim whose outcome is not
//! confirmed yet ([`ask`]), and pushed by the service when it moves on
//! ([`pushed`]). Either way the news becomes a `claim.customs_updated`
//! step, and that step runs the rules again: a failed clearance or a
//! parcel back with the seller approves the claim without staff (the
//! default rule `xborder-customs-confirmed`).

use super::{retrying, AppError, Services};
use crate::clearance::{verify_push, ClearanceError, PushError, Signed};
use crate::domain::claim::{Claim, ClaimEvent};
use crate::repo::{self, Commit};
use chrono::{DateTime, Utc};

/// Asks the service about a customs claim whose clearance has not
/// confirmed the refund yet; the news, when it moves the clearance on, is
/// taken onto the claim and its step returned for the caller's commit. A
/// service that cannot answer now leaves the claim waiting (its push, or
/// the next rule run, brings the news).
pub(super) async fn ask(
    s: &Services,
    claim: &mut Claim,
    now: DateTime<Utc>,
    asked: &super::review::Asked,
) -> Option<ClaimEvent> {
    let xb = claim.cross_border.as_ref()?;
    if xb
        .clearance
        .as_ref()
        .is_some_and(|c| c.status.refund_confirmed())
        || !claim.status.is_open()
    {
        return None;
    }
    let service = s.clearance.as_ref()?;
    let declaration_no = xb.declaration_no.clone();
    let known = asked
        .clearance
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let answer = match known {
        Some(c) => Ok(c),
        None => service.status(&declaration_no).await,
    };
    if let Ok(c) = &answer {
        *asked.clearance.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
    }
    match answer {
        Ok(news) => match claim.note_customs(news, now) {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(claim_id = %claim.claim_id, error = %e, "clearance news not taken");
                None
            }
        },
        Err(e @ (ClearanceError::Transient(_) | ClearanceError::Unknown(_))) => {
            tracing::info!(claim_id = %claim.claim_id, error = %e, "no clearance outcome yet");
            None
        }
        Err(e @ ClearanceError::Permanent(_)) => {
            tracing::error!(claim_id = %claim.claim_id, error = %e, "clearance service gave no answer");
            None
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Customs claims of the order the news moved on.
    pub claims_updated: usize,
}

/// A push from the clearance service (`POST /v1/clearance/notify`): the
/// signature is checked before the body is read; the news goes onto every
/// open customs claim of the order under that declaration.
pub async fn pushed(
    s: &Services,
    signed: Option<Signed>,
    body: &[u8],
) -> Result<Pushed, PushRefusal> {
    let Some(secret) = s.clearance_secret.as_deref() else {
        return Err(PushRefusal::App(AppError::NotFound("clearance callback")));
    };
    let push = verify_push(secret, signed, body, s.now()).map_err(PushRefusal::Push)?;
    let rec = repo::orders::get(&*s.table, &push.shop_id, &push.order_id)
        .await
        .map_err(|e| PushRefusal::App(e.into()))?
        .ok_or(PushRefusal::App(AppError::NotFound("order")))?
        .0;
    let declared = rec
        .order
        .facts
        .cross_border
        .as_ref()
        .map(|x| x.declaration_no.as_str());
    if declared != Some(push.report.declaration_no.as_str()) {
        return Err(PushRefusal::App(AppError::invalid(
            "declaration_mismatch",
            format!(
                "declaration_no: order {} is not declared as {}",
                push.order_id, push.report.declaration_no
            ),
        )));
    }
    let mut ids: Vec<&str> = rec
        .ledger
        .entries
        .iter()
        .map(|e| e.claim_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut claims_updated = 0;
    for id in ids {
        let news = push.report.clone();
        let moved = retrying(|| {
            let news = news.clone();
            async move {
                let Some((mut claim, cv)) = repo::claims::get(&*s.table, id).await? else {
                    return Ok(false);
                };
                let ours = claim
                    .cross_border
                    .as_ref()
                    .is_some_and(|x| x.declaration_no == news.declaration_no);
                if !ours || !claim.status.is_open() {
                    return Ok(false);
                }
                let now = s.now();
                let clearance = news
                    .clearance(None)
                    .map_err(|m| AppError::invalid("malformed_push", m))?;
                let Some(ev) = claim.note_customs(clearance, now)? else {
                    return Ok(false);
                };
                let mut c = Commit::new();
                c.claim(&claim, Some(cv)).claim_events(&claim, [&ev], now);
                repo::commit(&*s.table, c).await?;
                Ok(true)
            }
        })
        .await
        .map_err(PushRefusal::App)?;
        claims_updated += usize::from(moved);
    }
    tracing::info!(
        shop_id = %push.shop_id,
        order_id = %push.order_id,
        status = push.report.status.as_str(),
        claims_updated,
        "clearance push"
    );
    Ok(Pushed { claims_updated })
}

/// Why a push was not taken.
#[derive(Debug)]
pub enum PushRefusal {
    /// Unsigned or unreadable: nothing was read or changed.
    Push(PushError),
    App(AppError),
}
