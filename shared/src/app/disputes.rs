//! Disputes over HTTP: the customer opens one on their claim, both sides
//! write in its thread and propose resolutions, the other side accepts;
//! staff see their shop's disputes by urgency, and what disputes came to.
//! Each change is decided by `domain::dispute` and committed with the claim,
//! its order (when money moves), the desk's dispute entry and the shop's
//! answer deadline.

use super::{actor_of, claims::visible_claim, money_of, retrying, AppError, Services};
use crate::auth::{Principal, StaffRole};
use crate::domain::change::Change;
use crate::domain::claim::Claim;
use crate::domain::dispute::{
    self, Dispute, DisputePolicy, DisputeStatus, Grounds, Message, Opening, Party, PostKind,
    Resolution,
};
use crate::domain::evidence::check_named;
use crate::domain::money::{Amount, Currency, Money};
use crate::repo::disputes::DisputeEntry;
use crate::repo::{self, Commit, OrderRecord};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of [`Resolution`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    SupplementaryRefund,
    Exchange,
    Redelivery,
    Uphold,
}

/// A resolution as callers send it: `amount` (a string, in the claim's
/// currency) for a supplementary refund and for nothing else.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionRequest {
    pub kind: ResolutionKind,
    #[serde(default)]
    pub amount: Option<Amount>,
}

impl ResolutionRequest {
    fn to_resolution(&self, field: &str, currency: Currency) -> Result<Resolution, AppError> {
        let no_amount = |r: Resolution| match self.amount {
            Some(_) => Err(AppError::invalid(
                "invalid_request",
                format!("{field}.amount: only a supplementary refund has an amount"),
            )),
            None => Ok(r),
        };
        match self.kind {
            ResolutionKind::SupplementaryRefund => {
                let amount = self.amount.ok_or_else(|| {
                    AppError::invalid(
                        "invalid_request",
                        format!("{field}.amount: a supplementary refund names its amount"),
                    )
                })?;
                Ok(Resolution::SupplementaryRefund {
                    amount: money_of(&format!("{field}.amount"), amount, currency)?,
                })
            }
            ResolutionKind::Exchange => no_amount(Resolution::Exchange),
            ResolutionKind::Redelivery => no_amount(Resolution::Redelivery),
            ResolutionKind::Uphold => no_amount(Resolution::Uphold),
        }
    }
}

/// Money out of the shop's books on a person's word needs a money role
/// (admin or finance), as a refund without a claim does.
fn check_money_role(p: &Principal, claim: &Claim, r: &Resolution) -> Result<(), AppError> {
    match (p, r) {
        (Principal::Staff { .. }, Resolution::SupplementaryRefund { .. }) => {
            super::require_roles(p, &claim.shop_id, crate::auth::MONEY_ROLES)
        }
        _ => Ok(()),
    }
}

/// The body of `POST /v1/claims/{claim}/dispute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    pub grounds: Grounds,
    pub wished: ResolutionRequest,
    pub text: String,
    /// Evidence keys of photos uploaded through `POST /v1/evidence-uploads`.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// The body of `POST /v1/claims/{claim}/dispute/messages`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    #[serde(default)]
    pub kind: PostKind,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub clause: Option<String>,
}

/// The body of `POST /v1/claims/{claim}/dispute/proposals`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    pub resolution: ResolutionRequest,
    #[serde(default)]
    pub note: String,
}

/// A dispute as both sides see it.
#[derive(Debug, Serialize)]
pub struct DisputeView {
    pub claim_id: crate::domain::ids::ClaimId,
    #[serde(flatten)]
    pub dispute: Dispute,
    /// The most a supplementary refund may still be.
    pub refundable: Money,
}

fn party_of(p: &Principal, claim: &Claim) -> Result<Party, AppError> {
    match p {
        Principal::Customer { .. } => Ok(Party::Customer),
        Principal::Staff { .. } => {
            let escalated = claim
                .dispute
                .as_ref()
                .is_some_and(|d| d.escalated_at.is_some());
            // Escalated: the shop's admins have it now.
            let roles: &[StaffRole] = if escalated {
                &[StaffRole::Admin]
            } else {
                &[StaffRole::Reviewer, StaffRole::Admin]
            };
            super::require_roles(p, &claim.shop_id, roles)?;
            Ok(Party::Shop)
        }
        Principal::Storefront { .. } => Err(AppError::Forbidden(
            "disputes are between the customer and the shop's staff".into(),
        )),
    }
}

fn view(claim: &Claim, rec: &OrderRecord) -> Result<DisputeView, AppError> {
    let d = claim.dispute.clone().ok_or(AppError::NotFound("dispute"))?;
    Ok(DisputeView {
        claim_id: claim.claim_id.clone(),
        dispute: d,
        refundable: dispute::refundable(claim, rec),
    })
}

/// Photos named in a post: the customer's own finished uploads (then on
/// this claim), or, from staff, files already on the claim (its evidence,
/// inspection photos, earlier attachments).
async fn attachments(
    s: &Services,
    claim: &Claim,
    party: Party,
    keys: &[String],
    c: &mut Commit,
) -> Result<(), AppError> {
    if keys.is_empty() {
        return Ok(());
    }
    match party {
        Party::Customer => {
            // Counted before anything is looked up.
            crate::domain::evidence::check_count(keys, dispute::MAX_ATTACHMENTS)?;
            let found = super::evidence::named_uploads(s, keys).await?;
            let uploads: Vec<_> = found
                .iter()
                .map(|f| f.as_ref().map(|(u, _)| u.clone()))
                .collect();
            let limits = super::policy::policy_for(s, &claim.shop_id).await?.evidence;
            check_named(
                keys,
                &uploads,
                &claim.customer_id,
                &claim.shop_id,
                &limits,
                dispute::MAX_ATTACHMENTS,
            )?;
            for (u, v) in found.into_iter().flatten() {
                c.upload(&u.attach(&claim.claim_id), Some(v));
            }
            Ok(())
        }
        Party::Shop => {
            let on_claim = |k: &String| {
                claim.evidence.contains(k)
                    || claim
                        .returns
                        .inspection
                        .as_ref()
                        .is_some_and(|i| i.photos.contains(k))
                    || claim
                        .dispute
                        .as_ref()
                        .is_some_and(|d| d.posts.iter().any(|p| p.attachments.contains(k)))
            };
            match keys.iter().find(|k| !on_claim(k)) {
                Some(k) => Err(AppError::invalid(
                    "unknown_evidence",
                    format!("{k} is not a file on this claim"),
                )),
                None => Ok(()),
            }
        }
    }
}

/// Loads the caller's claim and its order, lets `decide` change them, and
/// commits it all with the dispute's entry, the shop's answer deadline
/// (when a new one started) and attached uploads.
async fn change<F>(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    attached: &[String],
    decide: F,
) -> Result<DisputeView, AppError>
where
    F: Fn(&mut Claim, &mut OrderRecord, &DisputePolicy, DateTime<Utc>) -> Result<Change, AppError>,
{
    let decide = &decide;
    retrying(|| async move {
        let (mut claim, cv) = visible_claim(s, p, claim_id).await?;
        let party = party_of(p, &claim)?;
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let due_before = claim.dispute.as_ref().and_then(|d| d.respond_by);
        let policy = super::policy::policy_for(s, &claim.shop_id).await?.disputes;
        let now = s.now();
        let mut c = Commit::new();
        attachments(s, &claim, party, attached, &mut c).await?;
        let change = decide(&mut claim, &mut rec, &policy, now)?;
        let due = claim.dispute.as_ref().and_then(|d| d.respond_by);
        if let Some(due) = due.filter(|d| Some(*d) != due_before) {
            c.deadline(&claim.claim_id, due);
        }
        c.claim(&claim, Some(cv)).dispute(&claim);
        if change.ledger {
            c.order(&rec, Some(ov));
        }
        c.claim_events(&claim, &change.events, now)
            .new_refunds(&change.refunds, now);
        for e in &change.notices {
            c.event(e);
        }
        repo::commit(&*s.table, c).await?;
        view(&claim, &rec)
    })
    .await
}

/// The customer disputes the decision on their claim.
pub async fn open(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    body: OpenRequest,
) -> Result<DisputeView, AppError> {
    if !matches!(p, Principal::Customer { .. }) {
        return Err(AppError::Forbidden(
            "only the claim's customer opens a dispute".into(),
        ));
    }
    let actor = actor_of(p);
    let body = &body;
    change(
        s,
        p,
        claim_id,
        &body.attachments,
        |claim, rec, policy, now| {
            let opening = Opening {
                grounds: body.grounds,
                wished: body.wished.to_resolution("wished", claim.currency)?,
                text: body.text.clone(),
                attachments: body.attachments.clone(),
            };
            Ok(dispute::open(
                claim,
                rec,
                policy,
                opening,
                actor.clone(),
                now,
            )?)
        },
    )
    .await
}

/// The dispute on a claim, for its customer or its shop's staff.
pub async fn get(s: &Services, p: &Principal, claim_id: &str) -> Result<DisputeView, AppError> {
    let (claim, _) = visible_claim(s, p, claim_id).await?;
    if matches!(p, Principal::Storefront { .. }) {
        return Err(AppError::Forbidden(
            "disputes are between the customer and the shop's staff".into(),
        ));
    }
    if claim.dispute.is_none() {
        return Err(AppError::NotFound("dispute"));
    }
    let (rec, _) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    view(&claim, &rec)
}

/// A message in the thread, or (staff) the shop's grounds.
pub async fn message(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    body: MessageRequest,
) -> Result<DisputeView, AppError> {
    let actor = actor_of(p);
    let body = &body;
    change(
        s,
        p,
        claim_id,
        &body.attachments,
        |claim, _, policy, now| {
            let m = Message {
                kind: body.kind,
                text: body.text.clone(),
                attachments: body.attachments.clone(),
                clause: body.clause.clone(),
            };
            Ok(dispute::post(claim, policy, m, actor.clone(), now)?)
        },
    )
    .await
}

/// A proposal of a resolution (countering the one standing).
pub async fn propose(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    body: ProposalRequest,
) -> Result<DisputeView, AppError> {
    let actor = actor_of(p);
    let body = &body;
    change(s, p, claim_id, &[], |claim, rec, policy, now| {
        let r = body
            .resolution
            .to_resolution("resolution", claim.currency)?;
        check_money_role(p, claim, &r)?;
        Ok(dispute::propose(
            claim,
            rec,
            policy,
            r,
            body.note.clone(),
            actor.clone(),
            now,
        )?)
    })
    .await
}

/// The other side accepts proposal `n`: it executes and the dispute closes.
pub async fn accept(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    n: u32,
) -> Result<DisputeView, AppError> {
    let actor = actor_of(p);
    change(s, p, claim_id, &[], |claim, rec, _, now| {
        let proposed = claim
            .dispute
            .as_ref()
            .and_then(|d| d.proposals.iter().find(|q| q.n == n))
            .map(|q| q.resolution.clone());
        if let Some(r) = &proposed {
            check_money_role(p, claim, r)?;
        }
        Ok(dispute::accept(claim, rec, n, actor.clone(), now)?)
    })
    .await
}

/// The customer withdraws the dispute; the decision stands.
pub async fn withdraw(
    s: &Services,
    p: &Principal,
    claim_id: &str,
) -> Result<DisputeView, AppError> {
    if !matches!(p, Principal::Customer { .. }) {
        return Err(AppError::Forbidden(
            "only the claim's customer withdraws a dispute".into(),
        ));
    }
    let actor = actor_of(p);
    change(s, p, claim_id, &[], |claim, _, _, now| {
        Ok(dispute::withdraw(claim, actor.clone(), now)?)
    })
    .await
}

/// The sweep found the shop's answer overdue: escalate (once). Whether it
/// did.
pub(crate) async fn escalate_overdue(s: &Services, claim_id: &str) -> Result<bool, AppError> {
    retrying(|| async move {
        let Some((mut claim, cv)) = repo::claims::get(&*s.table, claim_id).await? else {
            return Ok(false);
        };
        let now = s.now();
        let change = dispute::escalate(&mut claim, now);
        if change.is_empty() {
            return Ok(false);
        }
        let mut c = Commit::new();
        c.claim(&claim, Some(cv))
            .dispute(&claim)
            .claim_events(&claim, &change.events, now);
        repo::commit(&*s.table, c).await?;
        tracing::warn!(
            claim_id,
            "dispute unanswered: escalated to the shop's admins"
        );
        Ok(true)
    })
    .await
}

/// One dispute in the desk's list.
#[derive(Debug, Serialize)]
pub struct DeskDispute {
    #[serde(flatten)]
    pub entry: DisputeEntry,
    pub age_seconds: i64,
    /// The shop's answer is late.
    pub overdue: bool,
}

#[derive(Debug, Serialize)]
pub struct DeskDisputes {
    pub disputes: Vec<DeskDispute>,
}

/// The shop's disputes with `status` (all when None): escalated first, then
/// by the shop's answer deadline, then oldest first.
pub async fn desk_list(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    status: Option<DisputeStatus>,
) -> Result<DeskDisputes, AppError> {
    super::require_staff(p, shop_id)?;
    let now = s.now();
    let mut disputes: Vec<DeskDispute> = repo::disputes::of_shop(&*s.table, shop_id)
        .await?
        .into_iter()
        .filter(|e| status.is_none_or(|st| e.status == st))
        .map(|e| DeskDispute {
            age_seconds: (e.closed_at.unwrap_or(now) - e.opened_at).num_seconds(),
            overdue: e.status == DisputeStatus::Open && e.respond_by.is_some_and(|d| d <= now),
            entry: e,
        })
        .collect();
    disputes.sort_by_key(|d| {
        (
            d.entry.escalated_at.is_none(),
            d.entry.respond_by.map_or(i64::MAX, |t| t.timestamp()),
            d.entry.opened_at,
        )
    });
    Ok(DeskDisputes { disputes })
}

/// What a day's disputes came to.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct DisputeDay {
    pub date: NaiveDate,
    pub opened: u32,
    pub resolved: u32,
    pub withdrawn: u32,
    pub open: u32,
    pub escalated: u32,
    /// Resolved (settled by an accepted proposal) out of those closed.
    pub resolution_rate: Option<f64>,
    /// Median seconds from opening to settlement, of those resolved.
    pub median_seconds_to_resolution: Option<i64>,
}

/// The shop's disputes per day of opening, `from..=to` (UTC days).
pub fn dispute_days(entries: &[DisputeEntry], from: NaiveDate, to: NaiveDate) -> Vec<DisputeDay> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let of_day: Vec<&DisputeEntry> = entries
            .iter()
            .filter(|e| e.opened_at.date_naive() == day)
            .collect();
        let count = |st: DisputeStatus| of_day.iter().filter(|e| e.status == st).count() as u32;
        let (resolved, withdrawn) = (
            count(DisputeStatus::Resolved),
            count(DisputeStatus::Withdrawn),
        );
        let mut times: Vec<i64> = of_day
            .iter()
            .filter(|e| e.status == DisputeStatus::Resolved)
            .filter_map(|e| e.closed_at.map(|c| (c - e.opened_at).num_seconds()))
            .collect();
        times.sort_unstable();
        out.push(DisputeDay {
            date: day,
            opened: of_day.len() as u32,
            resolved,
            withdrawn,
            open: count(DisputeStatus::Open),
            escalated: of_day.iter().filter(|e| e.escalated_at.is_some()).count() as u32,
            resolution_rate: (resolved + withdrawn > 0)
                .then(|| f64::from(resolved) / f64::from(resolved + withdrawn)),
            median_seconds_to_resolution: (!times.is_empty()).then(|| times[times.len() / 2]),
        });
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

#[derive(Debug, Serialize)]
pub struct DisputeReport {
    pub days: Vec<DisputeDay>,
}

/// The shop's dispute figures per day, at most 92 days.
pub async fn report(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<DisputeReport, AppError> {
    super::require_staff(p, shop_id)?;
    if to < from || (to - from).num_days() > 92 {
        return Err(AppError::invalid(
            "invalid_request",
            "from..to: from on or before to, at most 92 days",
        ));
    }
    let entries = repo::disputes::of_shop(&*s.table, shop_id).await?;
    Ok(DisputeReport {
        days: dispute_days(&entries, from, to),
    })
}
