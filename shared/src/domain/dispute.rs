//! Disputes (纠纷调解): a customer who does not accept a decision — a
//! rejection, a partial approval, an inspection outcome — opens a dispute on
//! the claim within the shop's window. It is a thread between customer and
//! shop: messages with photos, the shop's grounds (inspection report, policy
//! clause), and proposals of a resolution that the other side accepts or
//! counters. An accepted proposal executes here (a supplementary refund takes
//! its money from the order's ledger, within what the claim can still get)
//! and closes the dispute. The shop owes an answer by a deadline from its
//! policy; one left unanswered escalates to the shop's admins.
//!
//! Every step is on the claim's timeline (its audit trail, with who did it);
//! the claim's own status does not change: the dispute is about a decision
//! already made.

use super::change::{Change, Refused};
use super::claim::{Actor, Claim, ClaimEvent};
use super::events::{EventType, OutboxEvent};
use super::ledger::{EntryState, OrderRecord};
use super::money::Money;
use super::refund::{plan, standing_refunds, Issue, Refund, RefundOrigin, RefundStatus};
use super::returns::InspectionDecision;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What a shop promises about disputes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputePolicy {
    /// A decision can be disputed this many days after it was made.
    pub window_days: u32,
    /// The shop answers a customer's message or proposal within this many
    /// hours, or the dispute escalates to its admins.
    pub response_hours: u32,
}

impl Default for DisputePolicy {
    fn default() -> Self {
        DisputePolicy {
            window_days: 15,
            response_hours: 48,
        }
    }
}

impl DisputePolicy {
    pub fn valid(&self) -> bool {
        (1..=90).contains(&self.window_days) && (1..=24 * 30).contains(&self.response_hours)
    }
}

/// Why the customer disputes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grounds {
    RejectionNotAccepted,
    AmountDisputed,
    InspectionDisputed,
    Other,
}

/// How a dispute can end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resolution {
    /// More money back, in the claim's currency.
    SupplementaryRefund { amount: Money },
    /// The goods exchanged for the same item.
    Exchange,
    /// The goods sent again (lost, short or never arrived).
    Redelivery,
    /// The decision stands.
    Uphold,
}

impl Resolution {
    pub fn kind(&self) -> &'static str {
        match self {
            Resolution::SupplementaryRefund { .. } => "supplementary_refund",
            Resolution::Exchange => "exchange",
            Resolution::Redelivery => "redelivery",
            Resolution::Uphold => "uphold",
        }
    }
}

/// A side of the dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Customer,
    Shop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Open,
    /// A proposal was accepted.
    Resolved,
    /// The customer withdrew it.
    Withdrawn,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Resolved => "resolved",
            DisputeStatus::Withdrawn => "withdrawn",
        }
    }
}

/// A message, or the shop's grounds for its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    #[default]
    Message,
    /// The shop's grounds: its inspection report, a policy excerpt.
    Grounds,
}

/// One entry of the thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub n: u32,
    pub at: DateTime<Utc>,
    pub by: Party,
    /// The customer's or staff member's id.
    pub author: String,
    pub kind: PostKind,
    pub text: String,
    /// Evidence keys of photos.
    pub attachments: Vec<String>,
    /// The policy clause it refers to, e.g. `no_reason_return_days`.
    pub clause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    /// Waiting for the other side.
    Open,
    Accepted,
    /// The other side proposed something else instead.
    Countered,
    /// The dispute was withdrawn while it stood.
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub n: u32,
    pub at: DateTime<Utc>,
    pub by: Party,
    pub author: String,
    pub resolution: Resolution,
    pub note: String,
    pub state: ProposalState,
}

/// A dispute on one claim (at most one per claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub status: DisputeStatus,
    pub grounds: Grounds,
    pub opened_at: DateTime<Utc>,
    /// When the disputed decision was made.
    pub decided_at: DateTime<Utc>,
    /// While the shop owes an answer: by when.
    pub respond_by: Option<DateTime<Utc>>,
    /// When it escalated to the shop's admins (the shop missed an answer).
    pub escalated_at: Option<DateTime<Utc>>,
    pub posts: Vec<Post>,
    pub proposals: Vec<Proposal>,
    /// The proposal that settled it.
    pub settled_by: Option<u32>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Dispute {
    pub fn open_proposal(&self) -> Option<&Proposal> {
        self.proposals
            .iter()
            .find(|p| p.state == ProposalState::Open)
    }

    /// The resolution it was settled with.
    pub fn resolution(&self) -> Option<&Resolution> {
        let n = self.settled_by?;
        self.proposals
            .iter()
            .find(|p| p.n == n)
            .map(|p| &p.resolution)
    }

    /// Whether the shop missed its answer by `now`.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == DisputeStatus::Open
            && self.escalated_at.is_none()
            && self.respond_by.is_some_and(|d| d <= now)
    }
}

/// Bounds that keep a dispute (stored on its claim, twice: thread and
/// timeline) far below the store's item size.
pub const MAX_TEXT: usize = 1000;
pub const MAX_NOTE: usize = 500;
pub const MAX_ATTACHMENTS: usize = 9;
pub const MAX_POSTS: usize = 20;
pub const MAX_PROPOSALS: usize = 10;
const MAX_CLAUSE: usize = 100;

/// What the customer sends to open a dispute.
#[derive(Debug, Clone)]
pub struct Opening {
    pub grounds: Grounds,
    pub wished: Resolution,
    pub text: String,
    pub attachments: Vec<String>,
}

/// A message or grounds as sent.
#[derive(Debug, Clone)]
pub struct Message {
    pub kind: PostKind,
    pub text: String,
    pub attachments: Vec<String>,
    pub clause: Option<String>,
}

/// The ledger entry a dispute's supplementary refund takes its money in.
pub fn entry_id(claim: &Claim) -> String {
    format!("{}-dispute", claim.claim_id)
}

/// The side an actor speaks for: customers for themselves, staff for the
/// shop. Rules and the system take no part in a dispute.
pub fn party(actor: &Actor) -> Result<Party, Refused> {
    match actor {
        Actor::Customer { .. } => Ok(Party::Customer),
        Actor::Staff { .. } => Ok(Party::Shop),
        Actor::Rule { .. } | Actor::System => Err(Refused::invalid(
            "invalid_request",
            "disputes are between the customer and the shop's staff",
        )),
    }
}

fn author(actor: &Actor) -> String {
    match actor {
        Actor::Customer { id } => id.to_string(),
        Actor::Staff { id } => id.clone(),
        Actor::Rule { rule_id, .. } => rule_id.clone(),
        Actor::System => "system".into(),
    }
}

/// When the decision a dispute would be about was made (the latest
/// rejection, approval or inspection outcome on the timeline). A claim is
/// disputable once its own course is carried out (rejected, refunding or
/// completed) when it did not get everything it asked: rejected, approved
/// for less, or inspected down. Refused for a claim granted in full, one
/// cancelled or closed, or one still in progress (its goods or money still
/// moving: a dispute then would race the claim's own course).
pub fn disputed_decision(claim: &Claim) -> Result<DateTime<Utc>, Refused> {
    use super::claim::ClaimStatus::*;
    match claim.status {
        Cancelled | Closed => {
            return Err(Refused::invalid(
                "not_disputable",
                format!(
                    "the claim was {}: there is no decision to dispute",
                    claim.status.as_str()
                ),
            ))
        }
        Rejected | Refunding | RefundFailed | Completed => {}
        _ => {
            return Err(Refused::not_now(
                "not_decided",
                format!(
                    "the claim is {}: a decision can be disputed once it is carried out",
                    claim.status.as_str()
                ),
            ))
        }
    }
    let approved_less = claim
        .approved_amount
        .is_some_and(|a| a.minor() < claim.requested_amount.minor());
    let inspected_down = claim
        .returns
        .inspection
        .as_ref()
        .is_some_and(|i| !matches!(i.decision, InspectionDecision::Accept));
    if !(claim.status == Rejected || approved_less || inspected_down) {
        return Err(Refused::invalid(
            "not_disputable",
            "the claim was granted in full: there is nothing to dispute",
        ));
    }
    claim
        .timeline
        .iter()
        .rev()
        .find(|t| {
            matches!(
                t.event,
                ClaimEvent::Rejected { .. }
                    | ClaimEvent::Approved { .. }
                    | ClaimEvent::Inspected { .. }
            )
        })
        .map(|t| t.at)
        .ok_or_else(|| {
            Refused::not_now(
                "not_decided",
                "the claim is not decided yet: a dispute is about a decision",
            )
        })
}

/// The most a supplementary refund may still be: what the customer asked
/// for, less what the claim and an earlier supplementary refund took, and
/// never more than the claim's lines have left on the order.
pub fn refundable(claim: &Claim, rec: &OrderRecord) -> Money {
    let currency = claim.currency;
    let taken = |id: &str| {
        rec.ledger
            .entry(id)
            .filter(|e| e.state == EntryState::Reserved)
            .and_then(|e| e.amount(currency).ok())
            .map_or(0, Money::minor)
    };
    let asked = claim.requested_amount.minor() - taken(&claim.claim_id) - taken(&entry_id(claim));
    let lines_free: i64 = claim
        .lines
        .iter()
        .filter_map(|l| rec.order.line_index(&l.line_id))
        .map(|i| rec.ledger.line_free(&rec.order, i).1.minor())
        .sum();
    Money::from_minor(asked.min(lines_free).max(0), currency)
}

fn check_text(text: &str, what: &str, most: usize, empty_ok: bool) -> Result<(), Refused> {
    let n = text.trim().chars().count();
    if (n == 0 && !empty_ok) || text.chars().count() > most {
        return Err(Refused::invalid(
            "invalid_request",
            format!("{what}: {} to {most} characters", u8::from(!empty_ok)),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(Refused::invalid(
            "invalid_request",
            format!("{what}: no control characters but new lines and tabs"),
        ));
    }
    Ok(())
}

fn check_attachments(a: &[String]) -> Result<(), Refused> {
    if a.len() > MAX_ATTACHMENTS {
        return Err(Refused::invalid(
            "invalid_request",
            format!("attachments: at most {MAX_ATTACHMENTS}"),
        ));
    }
    for (i, k) in a.iter().enumerate() {
        if a[..i].contains(k) {
            return Err(Refused::invalid(
                "invalid_request",
                format!("attachments: {k} is named twice"),
            ));
        }
    }
    Ok(())
}

/// A resolution `by` may propose now: a supplementary refund above zero and
/// within [`refundable`]; the customer does not propose to uphold (they
/// withdraw).
fn check_resolution(
    claim: &Claim,
    rec: &OrderRecord,
    by: Party,
    r: &Resolution,
) -> Result<(), Refused> {
    match r {
        Resolution::SupplementaryRefund { amount } => {
            if amount.currency() != claim.currency {
                return Err(Refused::invalid(
                    "invalid_amount",
                    "amount: not in the claim's currency",
                ));
            }
            if !amount.is_positive() {
                return Err(Refused::invalid(
                    "invalid_amount",
                    "amount: a supplementary refund is above zero",
                ));
            }
            let room = refundable(claim, rec);
            if amount.minor() > room.minor() {
                return Err(Refused::invalid(
                    "amount_too_high",
                    format!("amount: {amount} exceeds the refundable {room}"),
                ));
            }
            Ok(())
        }
        Resolution::Uphold if by == Party::Customer => Err(Refused::invalid(
            "invalid_request",
            "a customer who accepts the decision withdraws the dispute",
        )),
        _ => Ok(()),
    }
}

fn open_dispute(claim: &mut Claim) -> Result<&mut Dispute, Refused> {
    match claim.dispute.as_mut() {
        Some(d) if d.status == DisputeStatus::Open => Ok(d),
        Some(d) => Err(Refused::not_now(
            "dispute_closed",
            format!("the dispute is {}", d.status.as_str()),
        )),
        None => Err(Refused::not_now(
            "no_dispute",
            "there is no dispute on this claim",
        )),
    }
}

/// Who owes an answer after `by` acted: the shop after the customer
/// (a deadline, unless one is already running), nobody after the shop.
fn after_turn(d: &mut Dispute, by: Party, policy: &DisputePolicy, now: DateTime<Utc>) {
    match by {
        Party::Customer => {
            if d.respond_by.is_none() {
                d.respond_by = Some(now + Duration::hours(i64::from(policy.response_hours)));
            }
        }
        Party::Shop => d.respond_by = None,
    }
}

/// The customer opens a dispute: within the policy's window after a
/// disputable decision, once per claim. Their wished outcome is the first
/// proposal, and the shop owes an answer.
pub fn open(
    claim: &mut Claim,
    rec: &OrderRecord,
    policy: &DisputePolicy,
    opening: Opening,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    if let Some(d) = &claim.dispute {
        return Err(Refused::not_now(
            "dispute_exists",
            format!(
                "this claim already has a dispute ({}); one per claim",
                d.status.as_str()
            ),
        ));
    }
    let decided_at = disputed_decision(claim)?;
    let closes = decided_at + Duration::days(i64::from(policy.window_days));
    if now > closes {
        return Err(Refused::invalid(
            "dispute_window_closed",
            format!(
                "a decision can be disputed for {} days after it was made; this one closed at {}",
                policy.window_days,
                closes.to_rfc3339()
            ),
        ));
    }
    check_text(&opening.text, "text", MAX_TEXT, false)?;
    check_attachments(&opening.attachments)?;
    check_resolution(claim, rec, Party::Customer, &opening.wished)?;
    let who = author(&actor);
    let mut d = Dispute {
        status: DisputeStatus::Open,
        grounds: opening.grounds,
        opened_at: now,
        decided_at,
        respond_by: None,
        escalated_at: None,
        posts: vec![Post {
            n: 1,
            at: now,
            by: Party::Customer,
            author: who.clone(),
            kind: PostKind::Message,
            text: opening.text.clone(),
            attachments: opening.attachments.clone(),
            clause: None,
        }],
        proposals: vec![Proposal {
            n: 1,
            at: now,
            by: Party::Customer,
            author: who,
            resolution: opening.wished.clone(),
            note: String::new(),
            state: ProposalState::Open,
        }],
        settled_by: None,
        closed_at: None,
    };
    after_turn(&mut d, Party::Customer, policy, now);
    let event = ClaimEvent::DisputeOpened {
        grounds: opening.grounds,
        wished: opening.wished,
        text: opening.text,
        attachments: opening.attachments,
        respond_by: d.respond_by,
    };
    claim.dispute = Some(d);
    claim.note(event.clone(), actor, now);
    Ok(Change::steps(vec![event]))
}

/// A message (or, from the shop, its grounds) in the thread.
pub fn post(
    claim: &mut Claim,
    policy: &DisputePolicy,
    m: Message,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    let by = party(&actor)?;
    check_text(&m.text, "text", MAX_TEXT, false)?;
    check_attachments(&m.attachments)?;
    if m.kind == PostKind::Grounds && by != Party::Shop {
        return Err(Refused::invalid(
            "invalid_request",
            "grounds are the shop's; a customer sends a message",
        ));
    }
    if let Some(c) = &m.clause {
        check_text(c, "clause", MAX_CLAUSE, false)?;
    }
    let d = open_dispute(claim)?;
    if d.posts.len() >= MAX_POSTS {
        return Err(Refused::not_now(
            "thread_full",
            format!("a dispute holds at most {MAX_POSTS} messages: propose a resolution"),
        ));
    }
    let n = d.posts.len() as u32 + 1;
    d.posts.push(Post {
        n,
        at: now,
        by,
        author: author(&actor),
        kind: m.kind,
        text: m.text.clone(),
        attachments: m.attachments.clone(),
        clause: m.clause.clone(),
    });
    after_turn(d, by, policy, now);
    let event = ClaimEvent::DisputeMessage {
        n,
        by,
        kind: m.kind,
        text: m.text,
        attachments: m.attachments,
        clause: m.clause,
    };
    claim.note(event.clone(), actor, now);
    Ok(Change::steps(vec![event]))
}

/// A proposal of a resolution; it counters the one standing, if any.
pub fn propose(
    claim: &mut Claim,
    rec: &OrderRecord,
    policy: &DisputePolicy,
    resolution: Resolution,
    note: String,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    let by = party(&actor)?;
    check_text(&note, "note", MAX_NOTE, true)?;
    if open_dispute(claim)?.proposals.len() >= MAX_PROPOSALS {
        return Err(Refused::not_now(
            "thread_full",
            format!("a dispute holds at most {MAX_PROPOSALS} proposals"),
        ));
    }
    check_resolution(claim, rec, by, &resolution)?;
    let d = open_dispute(claim)?;
    for p in d.proposals.iter_mut() {
        if p.state == ProposalState::Open {
            p.state = ProposalState::Countered;
        }
    }
    let n = d.proposals.len() as u32 + 1;
    d.proposals.push(Proposal {
        n,
        at: now,
        by,
        author: author(&actor),
        resolution: resolution.clone(),
        note: note.clone(),
        state: ProposalState::Open,
    });
    after_turn(d, by, policy, now);
    let event = ClaimEvent::DisputeProposal {
        n,
        by,
        resolution,
        note,
    };
    claim.note(event.clone(), actor, now);
    Ok(Change::steps(vec![event]))
}

/// The other side accepts the standing proposal `n`: it executes and the
/// dispute closes. A supplementary refund takes its money from the order's
/// ledger (within [`refundable`], checked again now) and goes to the route
/// the customer chose for the claim, through the refund executor.
pub fn accept(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    n: u32,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Change, Refused> {
    let by = party(&actor)?;
    let d = open_dispute(claim)?;
    let Some(p) = d.proposals.iter().find(|p| p.n == n).cloned() else {
        return Err(Refused::not_now(
            "no_such_proposal",
            format!("there is no proposal {n}"),
        ));
    };
    if p.state != ProposalState::Open {
        return Err(Refused::not_now(
            "proposal_not_open",
            format!("proposal {n} is no longer open"),
        ));
    }
    if p.by == by {
        return Err(Refused::invalid(
            "own_proposal",
            "a side cannot accept its own proposal; the other side accepts it",
        ));
    }
    let resolution = p.resolution;
    check_resolution(claim, rec, p.by, &resolution)?;
    let mut change = Change::default();
    let settled = ClaimEvent::DisputeResolved {
        proposal: n,
        resolution: resolution.clone(),
    };
    {
        let d = open_dispute(claim)?;
        for q in d.proposals.iter_mut().filter(|q| q.n == n) {
            q.state = ProposalState::Accepted;
        }
        d.status = DisputeStatus::Resolved;
        d.settled_by = Some(n);
        d.respond_by = None;
        d.closed_at = Some(now);
    }
    claim.note(settled.clone(), actor.clone(), now);
    change.events.push(settled);
    if let Resolution::SupplementaryRefund { amount } = resolution {
        let id = entry_id(claim);
        let scope: Vec<String> = claim.lines.iter().map(|l| l.line_id.clone()).collect();
        let entry = rec.ledger.reserve_money(&rec.order, &id, &scope, amount)?;
        let route = claim.refund_to.clone();
        let refunds = plan(
            &rec.order,
            entry,
            &Issue {
                origin: RefundOrigin::Claim {
                    claim_id: claim.claim_id.clone(),
                },
                origin_id: &id,
                route: &route,
                actor: &actor,
                now,
            },
        );
        for r in &refunds {
            let sent = ClaimEvent::RefundSent {
                refund_id: r.refund_id.clone(),
                channel: r.channel,
                amount: r.amount,
                expected_arrival: r.expected_arrival,
                replaces: None,
            };
            claim.note(sent.clone(), Actor::System, now);
            change.events.push(sent);
        }
        change.refunds = refunds;
        change.ledger = true;
    }
    if matches!(resolution, Resolution::Exchange | Resolution::Redelivery) {
        // The goods go out again from the shop's warehouse: it hears of it
        // as an event, with the claim's lines.
        change.notices.push(OutboxEvent::new(
            &claim.shop_id,
            &claim.claim_id,
            EventType::FulfilmentRequested,
            serde_json::json!({
                "claim_id": claim.claim_id,
                "order_id": claim.order_id,
                "customer_id": claim.customer_id,
                "kind": resolution.kind(),
                "lines": claim.lines.iter().map(|l| serde_json::json!({
                    "line_id": l.line_id, "quantity": l.quantity})).collect::<Vec<_>>(),
            }),
            now,
        ));
    }
    Ok(change)
}

/// A supplementary refund failed on a claim whose own course is over (so
/// no retry of the claim's refunds will pick it up): its money goes back to
/// the order's ledger, refundable again, and the failure is on the timeline
/// for the customer and staff. None for any other refund.
pub fn refund_failed(
    claim: &mut Claim,
    rec: &mut OrderRecord,
    r: &Refund,
    now: DateTime<Utc>,
) -> Result<Option<ClaimEvent>, Refused> {
    use super::claim::ClaimStatus::{RefundFailed, Refunding};
    if r.status != RefundStatus::Failed
        || matches!(claim.status, Refunding | RefundFailed)
        || !standing_refunds(claim).contains(&r.refund_id)
    {
        return Ok(None);
    }
    rec.ledger
        .give_back(&entry_id(claim), &r.payment_id, r.amount)?;
    let failed = ClaimEvent::RefundFailed {
        reason: format!(
            "supplementary refund {} failed ({}); its money is refundable again",
            r.refund_id,
            r.failure.as_deref().unwrap_or("refused by the provider")
        ),
    };
    claim.note(failed.clone(), Actor::System, now);
    Ok(Some(failed))
}

/// The customer withdraws the dispute: the decision stands.
pub fn withdraw(claim: &mut Claim, actor: Actor, now: DateTime<Utc>) -> Result<Change, Refused> {
    let d = open_dispute(claim)?;
    for p in d.proposals.iter_mut() {
        if p.state == ProposalState::Open {
            p.state = ProposalState::Withdrawn;
        }
    }
    d.status = DisputeStatus::Withdrawn;
    d.respond_by = None;
    d.closed_at = Some(now);
    let event = ClaimEvent::DisputeWithdrawn;
    claim.note(event.clone(), actor, now);
    Ok(Change::steps(vec![event]))
}

/// The shop missed its answer: the dispute escalates to its admins and the
/// customer is told. Nothing (an empty change) when it is not overdue.
pub fn escalate(claim: &mut Claim, now: DateTime<Utc>) -> Change {
    let Some(d) = claim.dispute.as_mut().filter(|d| d.overdue(now)) else {
        return Change::default();
    };
    let respond_by = d.respond_by.unwrap_or(now);
    d.escalated_at = Some(now);
    let event = ClaimEvent::DisputeEscalated { respond_by };
    claim.note(event.clone(), Actor::System, now);
    Change::steps(vec![event])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::{ClaimStatus, ClaimStep, ClaimType};
    use crate::domain::money::Currency;
    use crate::domain::review::{apply, Verdict};
    use crate::domain::testkit::{claim_on, order, staff, t};

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Cny)
    }

    fn customer() -> Actor {
        Actor::Customer {
            id: "cust-1".into(),
        }
    }

    /// A refund-only claim on 2 × 50.00 decided by staff at `t(60)`.
    fn decided(verdict: Verdict) -> (OrderRecord, Claim) {
        let mut rec = order(&[(2, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        apply(&mut claim, &mut rec, &verdict, staff(), t(60)).unwrap();
        (rec, claim)
    }

    fn rejected() -> (OrderRecord, Claim) {
        decided(Verdict::Reject {
            reason: "used".into(),
        })
    }

    fn partial() -> (OrderRecord, Claim) {
        decided(Verdict::Approve {
            amount: Some(cny(6_000)),
            reason: Some("one unit used".into()),
        })
    }

    fn opening(wished: Resolution) -> Opening {
        Opening {
            grounds: Grounds::AmountDisputed,
            wished,
            text: "both kettles leak".into(),
            attachments: vec![],
        }
    }

    fn refund(minor: i64) -> Resolution {
        Resolution::SupplementaryRefund { amount: cny(minor) }
    }

    fn steps(c: &Claim) -> Vec<ClaimStep> {
        c.timeline.iter().map(|e| e.event.step()).collect()
    }

    #[test]
    fn a_partial_approval_is_disputed_and_settled_by_a_supplementary_refund() {
        let (mut rec, mut claim) = partial();
        let p = DisputePolicy::default();
        assert_eq!(refundable(&claim, &rec), cny(4_000));
        let ch = open(
            &mut claim,
            &rec,
            &p,
            opening(refund(4_000)),
            customer(),
            t(120),
        )
        .unwrap();
        assert_eq!(ch.events.len(), 1);
        let d = claim.dispute.as_ref().unwrap();
        assert_eq!(d.respond_by, Some(t(120) + Duration::hours(48)));
        assert_eq!(d.decided_at, t(60));
        // The shop counters with 5.00 and the customer takes it.
        propose(
            &mut claim,
            &rec,
            &p,
            refund(500),
            "a goodwill 5.00".into(),
            staff(),
            t(200),
        )
        .unwrap();
        let d = claim.dispute.as_ref().unwrap();
        assert_eq!(d.respond_by, None, "the shop answered");
        assert_eq!(d.proposals[0].state, ProposalState::Countered);
        let ch = accept(&mut claim, &mut rec, 2, customer(), t(300)).unwrap();
        assert!(ch.ledger);
        assert_eq!(ch.refunds.len(), 1);
        assert_eq!(ch.refunds[0].amount, cny(500));
        assert_eq!(
            ch.refunds[0].origin,
            RefundOrigin::Claim {
                claim_id: claim.claim_id.clone()
            }
        );
        let entry = rec.ledger.entry(&entry_id(&claim)).unwrap();
        assert_eq!(entry.amount(Currency::Cny).unwrap(), cny(500));
        let d = claim.dispute.as_ref().unwrap();
        assert_eq!(d.status, DisputeStatus::Resolved);
        assert_eq!(d.resolution(), Some(&refund(500)));
        assert_eq!(
            claim.status,
            ClaimStatus::Refunding,
            "the claim's own state stays"
        );
        assert_eq!(
            steps(&claim)[steps(&claim).len() - 4..],
            [
                ClaimStep::DisputeOpened,
                ClaimStep::DisputeProposal,
                ClaimStep::DisputeResolved,
                ClaimStep::RefundSent
            ]
        );
        // What is left to give shrank by what was given.
        assert_eq!(refundable(&claim, &rec), cny(3_500));
    }

    #[test]
    fn a_rejection_can_be_disputed_within_the_window_only() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = rejected();
        let late = t(60) + Duration::days(15) + Duration::seconds(1);
        let before = claim.clone();
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Exchange),
            customer(),
            late,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Invalid {
                    code: "dispute_window_closed",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(claim, before, "nothing changed");
        open(
            &mut claim,
            &rec,
            &p,
            opening(refund(10_000)),
            customer(),
            late - Duration::seconds(1),
        )
        .unwrap();
        // One dispute per claim.
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Exchange),
            customer(),
            late - Duration::seconds(1),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "dispute_exists",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_claim_granted_in_full_or_undecided_is_not_disputable() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = decided(Verdict::approve_requested());
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(refund(100)),
            customer(),
            t(90),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Invalid {
                    code: "not_disputable",
                    ..
                }
            ),
            "{e:?}"
        );
        let mut rec = order(&[(2, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(refund(100)),
            customer(),
            t(90),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "not_decided",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(claim.dispute.is_none());
    }

    #[test]
    fn proposals_above_the_refundable_amount_change_nothing() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = partial();
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(refund(4_001)),
            customer(),
            t(90),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Invalid {
                    code: "amount_too_high",
                    ..
                }
            ),
            "{e:?}"
        );
        open(
            &mut claim,
            &rec,
            &p,
            opening(refund(1_000)),
            customer(),
            t(90),
        )
        .unwrap();
        let before = claim.clone();
        for bad in [refund(4_001), refund(0), refund(-5)] {
            let e = propose(&mut claim, &rec, &p, bad, String::new(), staff(), t(100)).unwrap_err();
            assert!(matches!(e, Refused::Invalid { .. }), "{e:?}");
        }
        let usd = Resolution::SupplementaryRefund {
            amount: Money::from_minor(100, Currency::Usd),
        };
        assert!(propose(&mut claim, &rec, &p, usd, String::new(), staff(), t(100)).is_err());
        assert_eq!(claim, before);
    }

    #[test]
    fn a_side_cannot_accept_its_own_proposal() {
        let p = DisputePolicy::default();
        let (mut rec, mut claim) = rejected();
        open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Redelivery),
            customer(),
            t(90),
        )
        .unwrap();
        let before = (claim.clone(), rec.clone());
        let e = accept(&mut claim, &mut rec, 1, customer(), t(95)).unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Invalid {
                    code: "own_proposal",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = accept(&mut claim, &mut rec, 7, staff(), t(95)).unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "no_such_proposal",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!((claim.clone(), rec.clone()), before);
        // The shop takes it: redelivery, no money.
        let ch = accept(&mut claim, &mut rec, 1, staff(), t(96)).unwrap();
        assert!(ch.refunds.is_empty() && !ch.ledger);
        assert_eq!(
            claim.dispute.as_ref().unwrap().resolution(),
            Some(&Resolution::Redelivery)
        );
        let e = post(
            &mut claim,
            &p,
            Message {
                kind: PostKind::Message,
                text: "thanks".into(),
                attachments: vec![],
                clause: None,
            },
            customer(),
            t(97),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "dispute_closed",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn an_unanswered_dispute_escalates_once_and_an_answer_stops_the_clock() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = rejected();
        open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Exchange),
            customer(),
            t(90),
        )
        .unwrap();
        let due = t(90) + Duration::hours(48);
        assert!(escalate(&mut claim, due - Duration::seconds(1)).is_empty());
        let ch = escalate(&mut claim, due);
        assert_eq!(
            ch.events,
            [ClaimEvent::DisputeEscalated { respond_by: due }]
        );
        assert!(
            escalate(&mut claim, due + Duration::hours(1)).is_empty(),
            "once"
        );
        // The shop answers; the customer writes again: a new deadline.
        let msg = |kind| Message {
            kind,
            text: "see the inspection photos".into(),
            attachments: vec![],
            clause: Some("no_reason_return_days".into()),
        };
        post(&mut claim, &p, msg(PostKind::Grounds), staff(), due).unwrap();
        assert_eq!(claim.dispute.as_ref().unwrap().respond_by, None);
        assert!(post(&mut claim, &p, msg(PostKind::Grounds), customer(), due).is_err());
        post(&mut claim, &p, msg(PostKind::Message), customer(), due).unwrap();
        assert_eq!(
            claim.dispute.as_ref().unwrap().respond_by,
            Some(due + Duration::hours(48))
        );
    }

    #[test]
    fn withdrawing_closes_the_dispute_and_its_proposal() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = rejected();
        open(
            &mut claim,
            &rec,
            &p,
            opening(refund(2_000)),
            customer(),
            t(90),
        )
        .unwrap();
        withdraw(&mut claim, customer(), t(100)).unwrap();
        let d = claim.dispute.as_ref().unwrap();
        assert_eq!(d.status, DisputeStatus::Withdrawn);
        assert_eq!(d.proposals[0].state, ProposalState::Withdrawn);
        assert_eq!(d.respond_by, None);
        assert!(withdraw(&mut claim, customer(), t(101)).is_err());
        assert!(escalate(&mut claim, t(90) + Duration::days(3)).is_empty());
    }

    #[test]
    fn the_customer_does_not_propose_to_uphold() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = rejected();
        assert!(open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Uphold),
            customer(),
            t(90)
        )
        .is_err());
        open(
            &mut claim,
            &rec,
            &p,
            opening(refund(100)),
            customer(),
            t(90),
        )
        .unwrap();
        propose(
            &mut claim,
            &rec,
            &p,
            Resolution::Uphold,
            "policy 4.2".into(),
            staff(),
            t(91),
        )
        .unwrap();
        let mut rec = rec;
        accept(&mut claim, &mut rec, 2, customer(), t(92)).unwrap();
        assert_eq!(
            claim.dispute.as_ref().unwrap().resolution(),
            Some(&Resolution::Uphold)
        );
        assert!(rec.ledger.entry(&entry_id(&claim)).is_none());
    }

    #[test]
    fn a_claim_in_progress_or_closed_is_not_disputable_yet_or_at_all() {
        let p = DisputePolicy::default();
        // A partially approved return still waiting for its goods.
        let mut rec = order(&[(2, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::ReturnRefund);
        apply(
            &mut claim,
            &mut rec,
            &Verdict::Approve {
                amount: Some(cny(6_000)),
                reason: None,
            },
            staff(),
            t(60),
        )
        .unwrap();
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(refund(100)),
            customer(),
            t(90),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "not_decided",
                    ..
                }
            ),
            "{e:?}"
        );
        claim.status = ClaimStatus::Closed;
        let e = open(
            &mut claim,
            &rec,
            &p,
            opening(refund(100)),
            customer(),
            t(90),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Invalid {
                    code: "not_disputable",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_thread_is_bounded_and_plain_text() {
        let p = DisputePolicy::default();
        let (rec, mut claim) = rejected();
        open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Exchange),
            customer(),
            t(90),
        )
        .unwrap();
        let msg = |text: &str| Message {
            kind: PostKind::Message,
            text: text.into(),
            attachments: vec![],
            clause: None,
        };
        for bad in ["", "   ", "a\u{0}b", &"x".repeat(MAX_TEXT + 1)] {
            assert!(
                post(&mut claim, &p, msg(bad), customer(), t(91)).is_err(),
                "{bad:?}"
            );
        }
        post(&mut claim, &p, msg("line one\nline two"), customer(), t(91)).unwrap();
        while claim.dispute.as_ref().unwrap().posts.len() < MAX_POSTS {
            post(&mut claim, &p, msg("more"), customer(), t(92)).unwrap();
        }
        let e = post(&mut claim, &p, msg("one too many"), customer(), t(93)).unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "thread_full",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn an_accepted_redelivery_asks_the_warehouse() {
        let p = DisputePolicy::default();
        let (mut rec, mut claim) = rejected();
        open(
            &mut claim,
            &rec,
            &p,
            opening(Resolution::Redelivery),
            customer(),
            t(90),
        )
        .unwrap();
        let ch = accept(&mut claim, &mut rec, 1, staff(), t(91)).unwrap();
        assert_eq!(ch.notices.len(), 1);
        assert_eq!(ch.notices[0].event_type, EventType::FulfilmentRequested);
        assert_eq!(ch.notices[0].payload["kind"], "redelivery");
        assert_eq!(ch.notices[0].payload["lines"][0]["quantity"], 2);
    }

    #[test]
    fn a_failed_supplementary_refund_gives_its_money_back() {
        let p = DisputePolicy::default();
        let (mut rec, mut claim) = rejected();
        open(
            &mut claim,
            &rec,
            &p,
            opening(refund(700)),
            customer(),
            t(90),
        )
        .unwrap();
        let mut ch = accept(&mut claim, &mut rec, 1, staff(), t(91)).unwrap();
        assert_eq!(refundable(&claim, &rec), cny(10_000 - 700));
        let mut r = ch.refunds.remove(0);
        // Not failed: nothing to do.
        assert_eq!(
            refund_failed(&mut claim, &mut rec, &r, t(92)).unwrap(),
            None
        );
        r.status = RefundStatus::Failed;
        r.failure = Some("ACCOUNT_CLOSED".into());
        let e = refund_failed(&mut claim, &mut rec, &r, t(92))
            .unwrap()
            .unwrap();
        assert!(
            matches!(e, ClaimEvent::RefundFailed { ref reason } if reason.contains("ACCOUNT_CLOSED"))
        );
        assert_eq!(refundable(&claim, &rec), cny(10_000), "refundable again");
        assert_eq!(claim.status, ClaimStatus::Rejected);
    }

    #[test]
    fn policy_bounds() {
        assert!(DisputePolicy::default().valid());
        assert!(!DisputePolicy {
            window_days: 0,
            response_hours: 1
        }
        .valid());
        assert!(!DisputePolicy {
            window_days: 1,
            response_hours: 721
        }
        .valid());
    }
}
