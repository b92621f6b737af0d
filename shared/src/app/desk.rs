//! The merchant's after-sales desk: the queue of claims waiting for the
//! shop, a claim's full detail, manual decisions and batch review.

use super::review::{apply, decide_one, Verdict};
use super::{
    actor_of, claim_view, money_of, require_staff, shop_claim, AppError, ClaimView, Services,
};
use crate::auth::Principal;
use crate::domain::claim::Claim;
use crate::domain::claim::ClaimStatus;
use crate::domain::claim::ReasonCode;
use crate::domain::money::Money;
use crate::domain::order::check_id;
use crate::domain::order::{MemberTier, ProductKind};
use crate::domain::rules::evidence_complete;
use crate::repo;
use crate::repo::Commit;
use crate::repo::RepoError;
use chrono::DateTime;
use chrono::Utc;
use serde::Deserialize;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Claims waiting for the shop: what the queue shows by default.
pub const WAITING: &[ClaimStatus] = &[
    ClaimStatus::Submitted,
    ClaimStatus::UnderReview,
    ClaimStatus::SecondReview,
    ClaimStatus::AwaitingEvidence,
];

/// A queue page reads at most this many claims (matching the filter or
/// not): a page of a rare filter over a big shop may come back short, with
/// `next_cursor` to go on from where it stopped. Nothing is left out.
pub const QUEUE_PAGE_SCAN: usize = 2_000;

/// With filters the index cannot serve, `total` is counted when the
/// statuses asked hold at most this many claims (read whole), else null.
pub const TOTAL_COUNT_LIMIT: u64 = 1_000;

/// At most this many claims per batch.
pub const MAX_BATCH: usize = 1000;

/// Which claims: every field given must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueFilter {
    /// Default: the claims waiting for the shop.
    pub status: Option<ClaimStatus>,
    #[serde(rename = "type")]
    pub claim_type: Option<String>,
    pub product_kind: Option<ProductKind>,
    pub evidence_complete: Option<bool>,
    #[serde(default)]
    pub min_amount: Option<crate::domain::money::Amount>,
    #[serde(default)]
    pub max_amount: Option<crate::domain::money::Amount>,
    /// Claims at least this old (hours since submission).
    pub min_age_hours: Option<u32>,
    pub member_tier: Option<MemberTier>,
    pub escalated: Option<bool>,
    /// Claims whose return or replacement parcel the courier verification
    /// flagged (never picked up, delivered elsewhere); with no status, in
    /// any open status.
    pub parcel_flagged: Option<bool>,
}

/// Why a claim's parcel needs staff, if it does.
fn parcel_flag(c: &Claim) -> Option<&str> {
    [&c.returns.shipment, &c.returns.replacement]
        .into_iter()
        .flatten()
        .find_map(|s| s.flagged.as_deref())
}

impl QueueFilter {
    /// The statuses the filter asks for: each is one partition of the
    /// queue index.
    fn statuses(&self) -> Vec<ClaimStatus> {
        match (self.status, self.parcel_flagged) {
            (Some(st), _) => vec![st],
            (None, Some(true)) => ClaimStatus::ALL
                .into_iter()
                .filter(|s| s.is_open())
                .collect(),
            (None, _) => WAITING.to_vec(),
        }
    }

    /// Whether the filter asks for more than statuses (checked on the
    /// claims themselves, not served by the index key).
    fn filters_claims(&self) -> bool {
        let QueueFilter {
            status: _,
            claim_type,
            product_kind,
            evidence_complete,
            min_amount,
            max_amount,
            min_age_hours,
            member_tier,
            escalated,
            parcel_flagged,
        } = self;
        claim_type.is_some()
            || product_kind.is_some()
            || evidence_complete.is_some()
            || min_amount.is_some()
            || max_amount.is_some()
            || min_age_hours.is_some()
            || member_tier.is_some()
            || escalated.is_some()
            || parcel_flagged.is_some()
    }

    /// The amounts are money in no currency of their own: no more
    /// decimals than any currency has (`field_prefix` names where the
    /// filter sat: `filter.` in a batch).
    fn check(&self, field_prefix: &str) -> Result<(), AppError> {
        for (name, a) in [
            ("min_amount", self.min_amount),
            ("max_amount", self.max_amount),
        ] {
            if let Some(a) = a {
                a.check_any_currency()
                    .map_err(|reason| AppError::InvalidAmount {
                        field: format!("{field_prefix}{name}"),
                        reason,
                    })?;
            }
        }
        Ok(())
    }

    fn matches(&self, c: &Claim, now: DateTime<Utc>) -> bool {
        let status_ok = match (self.status, self.parcel_flagged) {
            (Some(st), _) => c.status == st,
            (None, Some(true)) => c.status.is_open(),
            (None, _) => WAITING.contains(&c.status),
        };
        let type_name = c.claim_type.type_name();
        let amount = c.requested_amount.amount();
        status_ok
            && self.claim_type.as_deref().is_none_or(|t| t == type_name)
            && self
                .product_kind
                .is_none_or(|k| c.review.product_kinds.contains(&k))
            && self
                .evidence_complete
                .is_none_or(|e| e == evidence_complete(c))
            && self.min_amount.is_none_or(|m| amount >= m.decimal())
            && self.max_amount.is_none_or(|m| amount <= m.decimal())
            && self
                .min_age_hours
                .is_none_or(|h| (now - c.created_at).num_hours() >= i64::from(h))
            && self.member_tier.is_none_or(|t| c.review.member_tier == t)
            && self.escalated.is_none_or(|e| c.review.escalated == e)
            && self
                .parcel_flagged
                .is_none_or(|f| f == parcel_flag(c).is_some())
    }
}

/// One line of the queue.
#[derive(Debug, Serialize)]
pub struct QueueItem {
    pub claim_id: crate::domain::ids::ClaimId,
    pub order_id: crate::domain::ids::OrderId,
    pub customer_id: crate::domain::ids::CustomerId,
    #[serde(rename = "type")]
    pub claim_type: &'static str,
    pub reason: ReasonCode,
    pub status: ClaimStatus,
    pub requested_amount: Money,
    pub created_at: DateTime<Utc>,
    pub age_hours: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub escalated: bool,
    pub member_tier: MemberTier,
    pub product_kinds: Vec<ProductKind>,
    pub evidence_count: usize,
    pub evidence_complete: bool,
    /// Why the courier verification flagged the claim's parcel.
    pub parcel_flagged: Option<String>,
    /// What the rules last saw of the customer and the evidence.
    pub signals: Option<crate::domain::standing::Signals>,
}

fn queue_item(c: &Claim, now: DateTime<Utc>) -> QueueItem {
    QueueItem {
        claim_id: c.claim_id.clone(),
        order_id: c.order_id.clone(),
        customer_id: c.customer_id.clone(),
        claim_type: c.claim_type.type_name(),
        reason: c.reason,
        status: c.status,
        requested_amount: c.requested_amount,
        created_at: c.created_at,
        age_hours: (now - c.created_at).num_hours(),
        due_at: c.review.due_at,
        overdue: c.review.due_at.is_some_and(|d| d <= now),
        escalated: c.review.escalated,
        member_tier: c.review.member_tier,
        product_kinds: c.review.product_kinds.clone(),
        evidence_count: c.evidence.len(),
        evidence_complete: evidence_complete(c),
        parcel_flagged: parcel_flag(c).map(str::to_owned),
        signals: c.review.signals.clone(),
    }
}

#[derive(Debug, Serialize)]
pub struct Queue {
    pub claims: Vec<QueueItem>,
    /// Claims matching the filter, over all pages; None when that would
    /// mean reading more than [`TOTAL_COUNT_LIMIT`] claims. Counted for the
    /// first page; later pages repeat it (their cursor carries it).
    pub total: Option<u64>,
    /// The shop's claims per status (all of them, not only the filtered),
    /// counted for the first page as `total` is.
    pub counts: BTreeMap<&'static str, u64>,
    pub next_cursor: Option<String>,
}

/// A batch's cursor is the queue position (index sort key) of the last
/// claim it took, base64url: opaque to clients, checked when it comes back.
fn encode_position(p: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("q1:{p}"))
}

fn decode_position(s: &str) -> Result<String, AppError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix("q1:").map(str::to_owned))
        .filter(|p| repo::claims::is_queue_position(p))
        .ok_or_else(|| AppError::invalid("invalid_cursor", "cursor is not one this API gave out"))
}

/// One stretch of the queue: up to `limit` claims matching `filter` after
/// `after`, reading at most `scan` claims; the position to go on from when
/// more may follow.
async fn walk_queue(
    s: &Services,
    shop_id: &str,
    filter: &QueueFilter,
    after: Option<&str>,
    limit: usize,
    scan: usize,
) -> Result<(Vec<Claim>, Option<String>), AppError> {
    let now = s.now();
    // Without filters of their own every claim read is shown: read no more
    // than the page needs (plus one, to know whether more follow).
    let chunk = if filter.filters_claims() {
        200
    } else {
        u32::try_from(limit.saturating_add(1).min(500)).unwrap_or(500)
    };
    let statuses = filter.statuses();
    let mut walk = repo::claims::QueueWalk::new(&*s.table, shop_id, &statuses, after, chunk);
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < limit && walk.read < scan {
        let Some((pos, c)) = walk.next().await? else {
            return Ok((out, None));
        };
        if filter.matches(&c, now) {
            out.push(c);
        }
        last = Some(pos);
    }
    Ok((out, last.filter(|_| walk.more())))
}

/// A queue page's cursor: where the last page stopped, and the figures
/// counted when the first page was read (a walk through the queue shows
/// them as they were then instead of counting the shop's claims again for
/// every page). Opaque to clients (base64url of this JSON), checked when
/// it comes back; a client that edits the figures only misleads itself.
#[derive(Debug, Serialize, Deserialize)]
struct QueueCursor {
    /// The queue position of the last claim looked at.
    p: String,
    /// `total`.
    t: Option<u64>,
    /// The shop's claims per status, in [`ClaimStatus::ALL`]'s order.
    c: Vec<u64>,
}

fn encode_queue_cursor(c: &QueueCursor) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).expect("cursor serializes"))
}

fn decode_queue_cursor(s: &str) -> Result<QueueCursor, AppError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice::<QueueCursor>(&b).ok())
        .filter(|c| repo::claims::is_queue_position(&c.p) && c.c.len() == ClaimStatus::ALL.len())
        .ok_or_else(|| AppError::invalid("invalid_cursor", "cursor is not one this API gave out"))
}

pub async fn queue(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    filter: &QueueFilter,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<Queue, AppError> {
    require_staff(p, shop_id)?;
    filter.check("")?;
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("invalid_limit", "limit must be 1 to 200"));
    }
    let after = cursor.map(decode_queue_cursor).transpose()?;
    let (total, by_status) = match &after {
        Some(c) => (c.t, c.c.clone()),
        None => {
            repo::indexes::ensure(&*s.table, shop_id).await?;
            let by_status = repo::claims::count_by_status(&*s.table, shop_id).await?;
            let statuses = filter.statuses();
            let candidates: u64 = by_status
                .iter()
                .filter(|(st, _)| statuses.contains(st))
                .map(|(_, n)| n)
                .sum();
            let total = if !filter.filters_claims() {
                Some(candidates)
            } else if candidates <= TOTAL_COUNT_LIMIT {
                let (all, _) = walk_queue(s, shop_id, filter, None, usize::MAX, usize::MAX).await?;
                Some(all.len() as u64)
            } else {
                None
            };
            (total, by_status.into_iter().map(|(_, n)| n).collect())
        }
    };
    let counts: BTreeMap<&'static str, u64> = ClaimStatus::ALL
        .iter()
        .zip(&by_status)
        .filter(|(_, n)| **n > 0)
        .map(|(st, n)| (st.as_str(), *n))
        .collect();
    let (page, next) = walk_queue(
        s,
        shop_id,
        filter,
        after.as_ref().map(|c| c.p.as_str()),
        limit as usize,
        QUEUE_PAGE_SCAN,
    )
    .await?;
    let now = s.now();
    Ok(Queue {
        claims: page.iter().map(|c| queue_item(c, now)).collect(),
        total,
        counts,
        next_cursor: next.map(|p| {
            encode_queue_cursor(&QueueCursor {
                p,
                t: total,
                c: by_status.clone(),
            })
        }),
    })
}

#[derive(Debug, Serialize)]
pub struct ClaimDetail {
    pub claim: ClaimView,
    pub order: super::OrderView,
    pub due_at: Option<DateTime<Utc>>,
    pub escalated: bool,
    pub evidence_complete: bool,
    /// The customer's standing and the evidence signals, as the rules last
    /// saw them (none before the rules ran).
    pub signals: Option<crate::domain::standing::Signals>,
}

/// A claim with its order, for the reviewer.
pub async fn detail(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
) -> Result<ClaimDetail, AppError> {
    require_staff(p, shop_id)?;
    let claim = shop_claim(s, shop_id, claim_id).await?;
    let (rec, v) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    Ok(ClaimDetail {
        due_at: claim.review.due_at,
        escalated: claim.review.escalated,
        evidence_complete: evidence_complete(&claim),
        signals: claim.review.signals.clone(),
        order: super::orders::order_view(&rec, v),
        claim: claim_view(&claim),
    })
}

/// A person's decision on one claim.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum StaffDecision {
    Approve {
        /// Partial approval; default: what was requested.
        #[serde(default)]
        amount: Option<crate::domain::money::Amount>,
        #[serde(default)]
        reason: Option<String>,
    },
    /// `reason`: a code of the shop's rejection catalogue.
    Reject {
        reason: String,
    },
    RequestEvidence {
        note: String,
    },
    /// Hand the claim to an admin.
    SecondReview {
        reason: String,
    },
}

const MAX_NOTE: usize = 500;

fn check_text(what: &str, t: &str) -> Result<(), AppError> {
    if t.trim().is_empty() || t.chars().count() > MAX_NOTE {
        return Err(AppError::invalid(
            "invalid_decision",
            format!("{what} must be 1 to {MAX_NOTE} characters"),
        ));
    }
    Ok(())
}

/// Turns a staff decision into a verdict for this claim, checking what can
/// be checked without the claim's current state.
fn staff_verdict(
    d: &StaffDecision,
    currency: crate::domain::money::Currency,
    catalogue: &crate::domain::rejections::Catalogue,
) -> Result<Verdict, AppError> {
    Ok(match d {
        StaffDecision::Approve { amount, reason } => {
            let amount = amount
                .map(|a| money_of("amount", a, currency))
                .transpose()?;
            approval(amount, reason.as_deref())?
        }
        StaffDecision::Reject { reason } => rejection(reason, catalogue)?,
        StaffDecision::RequestEvidence { note } => {
            check_text("note", note)?;
            Verdict::RequestEvidence { note: note.clone() }
        }
        StaffDecision::SecondReview { reason } => {
            check_text("reason", reason)?;
            Verdict::SecondReview {
                reason: reason.clone(),
            }
        }
    })
}

/// An approval at `amount` (in the claim's currency; None: what was
/// requested), with an optional note.
fn approval(amount: Option<Money>, reason: Option<&str>) -> Result<Verdict, AppError> {
    if let Some(r) = reason {
        check_text("reason", r)?;
    }
    Ok(Verdict::Approve {
        amount,
        reason: reason.map(str::to_owned),
    })
}

/// A rejection for a reason of the shop's catalogue.
fn rejection(
    reason: &str,
    catalogue: &crate::domain::rejections::Catalogue,
) -> Result<Verdict, AppError> {
    if !catalogue.contains(reason) {
        return Err(AppError::invalid(
            "unknown_rejection_reason",
            format!("{reason:?} is not in the shop's rejection reasons"),
        ));
    }
    Ok(Verdict::Reject {
        reason: reason.to_owned(),
    })
}

/// Claims in second review are decided by an admin only.
fn check_authority(p: &Principal, claim: &Claim, v: &Verdict) -> Result<(), AppError> {
    let deciding = matches!(v, Verdict::Approve { .. } | Verdict::Reject { .. });
    if claim.status == ClaimStatus::SecondReview
        && deciding
        && !p.has_role(crate::auth::StaffRole::Admin)
    {
        return Err(AppError::Forbidden(
            "this claim is in second review: an admin decides it".into(),
        ));
    }
    Ok(())
}

/// What `decide_one` checks on the freshly loaded claim: still this shop's,
/// and the person may decide it in its current status.
fn check_decidable(p: &Principal, shop_id: &str, c: &Claim, v: &Verdict) -> Result<(), AppError> {
    if c.shop_id != shop_id {
        return Err(AppError::NotFound("claim"));
    }
    check_authority(p, c, v)
}

/// A person decides one claim.
pub async fn decide(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
    d: StaffDecision,
) -> Result<ClaimView, AppError> {
    require_staff(p, shop_id)?;
    let claim = shop_claim(s, shop_id, claim_id).await?;
    let catalogue = super::review::catalogue_for(s, shop_id).await?;
    let verdict = staff_verdict(&d, claim.currency, &catalogue)?;
    let check = |c: &Claim| check_decidable(p, shop_id, c, &verdict);
    let claim = decide_one(s, claim_id, &verdict, &actor_of(p), &check).await?;
    Ok(claim_view(&claim))
}

/// Which claims a batch decides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// `approve` or `reject`.
    pub decision: BatchDecision,
    /// For reject: a rejection code. For approve: an optional note.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub claim_ids: Option<Vec<crate::domain::ids::ClaimId>>,
    #[serde(default)]
    pub filter: Option<QueueFilter>,
    /// With `filter`: the `next_cursor` of a previous batch's report, to go
    /// on after the claims it took.
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchDecision {
    Approve,
    Reject,
}

#[derive(Debug, Serialize)]
pub struct BatchResult {
    pub claim_id: crate::domain::ids::ClaimId,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ClaimStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BatchError>,
}

#[derive(Debug, Serialize)]
pub struct BatchError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct BatchReport {
    pub decided: usize,
    pub failed: usize,
    pub results: Vec<BatchResult>,
    /// A batch by filter that matched more than [`MAX_BATCH`] claims took
    /// the most urgent ones: the same request with this `cursor` goes on
    /// after them. None when every matching claim was taken.
    pub next_cursor: Option<String>,
}

impl BatchResult {
    /// A claim the batch could not decide, told as the API tells any error.
    fn failed(claim_id: &str, e: AppError) -> Self {
        let (code, message) = e.answer();
        BatchResult {
            claim_id: claim_id.into(),
            ok: false,
            status: None,
            error: Some(BatchError { code, message }),
        }
    }
}

/// Loads claims (one multi-item read per hundred); missing ones are None.
async fn load_claims(
    s: &Services,
    ids: &[crate::domain::ids::ClaimId],
) -> Result<Vec<Option<(Claim, u64)>>, AppError> {
    // Ids that cannot name a claim are not asked for.
    let valid: Vec<&str> = ids
        .iter()
        .map(|i| i.as_str())
        .filter(|i| check_id("claim_id", i).is_ok())
        .collect();
    let mut found = repo::claims::get_many(&*s.table, &valid).await?.into_iter();
    Ok(ids
        .iter()
        .map(|i| {
            if check_id("claim_id", i).is_ok() {
                found.next().flatten()
            } else {
                None
            }
        })
        .collect())
}

/// Decides up to [`MAX_BATCH`] claims at once. Each claim is checked and
/// decided on its own; one that cannot be decided fails alone and is
/// reported. Writes go in few transactions (claims of one order together,
/// with one ledger update), not one round trip per claim.
pub async fn batch(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    req: BatchRequest,
) -> Result<BatchReport, AppError> {
    require_staff(p, shop_id)?;
    if let Some(f) = &req.filter {
        f.check("filter.")?;
    }
    let catalogue = super::review::catalogue_for(s, shop_id).await?;
    if req.cursor.is_some() && req.filter.is_none() {
        return Err(AppError::invalid(
            "invalid_batch",
            "a cursor continues a batch by filter: give the filter too",
        ));
    }
    let mut next_cursor = None;
    let ids: Vec<crate::domain::ids::ClaimId> = match (&req.claim_ids, &req.filter) {
        (Some(ids), None) => {
            if ids.len() > MAX_BATCH {
                return Err(AppError::invalid(
                    "batch_too_large",
                    format!("a batch decides 1 to {MAX_BATCH} claims"),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            ids.iter().filter(|i| seen.insert(*i)).cloned().collect()
        }
        (None, Some(f)) => {
            let after = req.cursor.as_deref().map(decode_position).transpose()?;
            repo::indexes::ensure(&*s.table, shop_id).await?;
            // Every matching claim, most urgent first, through the queue
            // index: at most MAX_BATCH, and where to go on when more match.
            let (claims, next) =
                walk_queue(s, shop_id, f, after.as_deref(), MAX_BATCH, usize::MAX).await?;
            next_cursor = next.as_deref().map(encode_position);
            claims.into_iter().map(|c| c.claim_id).collect()
        }
        _ => {
            return Err(AppError::invalid(
                "invalid_batch",
                "give either claim_ids or filter",
            ))
        }
    };
    if ids.is_empty() {
        if req.filter.is_some() {
            // Nothing matches the filter: nothing to do, not an error.
            return Ok(BatchReport {
                decided: 0,
                failed: 0,
                results: vec![],
                next_cursor: None,
            });
        }
        return Err(AppError::invalid(
            "invalid_batch",
            "claim_ids names no claim",
        ));
    }
    if req.decision == BatchDecision::Reject
        && req.reason.as_deref().is_none_or(|r| r.trim().is_empty())
    {
        return Err(AppError::invalid(
            "invalid_batch",
            "a rejection needs a reason: a code of the shop's rejection reasons",
        ));
    }
    // Checked once: the same for every claim. A batch names no amount
    // (each claim is approved at what it asked, in its own currency).
    let verdict = match req.decision {
        BatchDecision::Approve => approval(None, req.reason.as_deref())?,
        BatchDecision::Reject => rejection(req.reason.as_deref().unwrap_or_default(), &catalogue)?,
    };
    let actor = actor_of(p);
    let loaded = load_claims(s, &ids).await?;
    let mut results: HashMap<crate::domain::ids::ClaimId, BatchResult> = HashMap::new();
    // Claims grouped by order, so each order's ledger is written once.
    let mut groups: BTreeMap<crate::domain::ids::OrderId, Vec<(Claim, u64)>> = BTreeMap::new();
    for (id, found) in ids.iter().zip(loaded) {
        match found {
            Some((c, v)) if c.shop_id == shop_id => match check_authority(p, &c, &verdict) {
                Ok(()) => groups.entry(c.order_id.clone()).or_default().push((c, v)),
                Err(e) => {
                    results.insert(id.clone(), BatchResult::failed(id, e));
                }
            },
            _ => {
                results.insert(
                    id.clone(),
                    BatchResult::failed(id, AppError::NotFound("claim")),
                );
            }
        }
    }
    // Decide in memory, then write order groups in transactions of at most
    // MAX_TRANSACTION_OPS operations.
    let now = s.now();
    let mut pending: Vec<(Commit, Vec<Claim>)> = Vec::new();
    let mut fallback: Vec<crate::domain::ids::ClaimId> = Vec::new();
    // Every order of the batch in one multi-item read.
    let order_ids: Vec<&str> = groups.keys().map(|o| o.as_str()).collect();
    let orders = repo::orders::get_many(&*s.table, shop_id, &order_ids).await?;
    for ((_, claims), order) in groups.into_iter().zip(orders) {
        let Some((mut rec, ov)) = order else {
            for (c, _) in claims {
                results.insert(
                    c.claim_id.clone(),
                    BatchResult::failed(&c.claim_id, AppError::NotFound("order")),
                );
            }
            continue;
        };
        let mut commit = Commit::new();
        let mut decided = Vec::new();
        for (mut c, cv) in claims {
            let before = (c.clone(), rec.ledger.clone());
            match apply(&mut c, &mut rec, &verdict, actor.clone(), now) {
                Ok(d) => {
                    commit
                        .claim(&c, Some(cv))
                        .claim_events(&c, &d.events, now)
                        .new_refunds(&d.refunds, now);
                    decided.push(c);
                }
                Err(e) => {
                    rec.ledger = before.1;
                    results.insert(
                        before.0.claim_id.clone(),
                        BatchResult::failed(&before.0.claim_id, e.into()),
                    );
                }
            }
        }
        if decided.is_empty() {
            continue;
        }
        commit.order(&rec, Some(ov));
        if !commit.fits() {
            // One order with very many claims: decide them one by one.
            fallback.extend(decided.into_iter().map(|c| c.claim_id));
            continue;
        }
        match pending.last_mut() {
            Some((batch, batch_claims)) if batch.has_room_for(&commit) => {
                batch.append(commit);
                batch_claims.extend(decided);
            }
            _ => pending.push((commit, decided)),
        }
    }
    for (commit, claims) in pending {
        match repo::commit(&*s.table, commit).await {
            Ok(()) => {
                for c in claims {
                    results.insert(
                        c.claim_id.clone(),
                        BatchResult {
                            claim_id: c.claim_id.clone(),
                            ok: true,
                            status: Some(c.status),
                            error: None,
                        },
                    );
                }
            }
            // Someone changed one of them meanwhile: decide each on its own.
            Err(RepoError::Conflict { .. }) => {
                fallback.extend(claims.into_iter().map(|c| c.claim_id))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for id in fallback {
        let check = |c: &Claim| check_decidable(p, shop_id, c, &verdict);
        let r = match decide_one(s, &id, &verdict, &actor, &check).await {
            Ok(c) => BatchResult {
                claim_id: id.clone(),
                ok: true,
                status: Some(c.status),
                error: None,
            },
            Err(e) => BatchResult::failed(&id, e),
        };
        results.insert(id, r);
    }
    let results: Vec<BatchResult> = ids.iter().filter_map(|id| results.remove(id)).collect();
    let decided = results.iter().filter(|r| r.ok).count();
    Ok(BatchReport {
        decided,
        failed: results.len() - decided,
        results,
        next_cursor,
    })
}
