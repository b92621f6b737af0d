//! Review: the shop's rules decide claims automatically; staff decide the
//! rest from their queue, one by one or in batches. Every decision goes
//! through the domain's [`apply`], so a rule and a person change a claim and
//! its order's ledger in exactly the same way.

use super::{retrying, AppError, Services};
use crate::domain::change::Change;
use crate::domain::claim::Actor;
use crate::domain::claim::Claim;
use crate::domain::claim::{ClaimStatus, ClaimStep};
use crate::domain::events::EventType;
use crate::domain::rejections::Catalogue;
pub use crate::domain::review::{apply, issue_refunds, Verdict};
use crate::domain::rules::{Decision, Facts, Outcome};
use crate::repo;
use crate::repo::Commit;
use crate::repo::OrderRecord;
use crate::repo::OutboxEvent;
use chrono::DateTime;
use chrono::Timelike;
use chrono::Utc;

/// The commit of one decided claim: the claim, its order (ledger), its
/// events and new refunds.
pub(crate) fn decision_commit(
    claim: &Claim,
    claim_version: u64,
    rec: &OrderRecord,
    order_version: u64,
    decided: &Change,
    now: DateTime<Utc>,
) -> Commit {
    let mut c = Commit::new();
    c.claim(claim, Some(claim_version))
        .order(rec, Some(order_version))
        .claim_events(claim, &decided.events, now)
        .new_refunds(&decided.refunds, now);
    c
}

/// Loads a claim and its order, applies the verdict, writes all of it in one
/// transaction; retries when someone else changed the claim or the order
/// meanwhile. `check` runs on the freshly loaded claim before deciding.
pub(crate) async fn decide_one(
    s: &Services,
    claim_id: &str,
    verdict: &Verdict,
    actor: &Actor,
    check: &(dyn Fn(&Claim) -> Result<(), AppError> + Send + Sync),
) -> Result<Claim, AppError> {
    retrying(|| async move {
        let (mut claim, cv) = repo::claims::get(&*s.table, claim_id)
            .await?
            .ok_or(AppError::NotFound("claim"))?;
        check(&claim)?;
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let now = s.now();
        let decided = apply(&mut claim, &mut rec, verdict, actor.clone(), now)?;
        if decided.is_empty() {
            return Ok(claim);
        }
        repo::commit(
            &*s.table,
            decision_commit(&claim, cv, &rec, ov, &decided, now),
        )
        .await?;
        Ok(claim)
    })
    .await
}

/// The shop's rejection catalogue (built-ins plus the shop's own codes).
pub async fn catalogue_for(s: &Services, shop_id: &str) -> Result<Catalogue, AppError> {
    Ok(super::policy::load_catalogue(s, shop_id).await?.0)
}

/// Rule evaluation, triggered by claim events: a claim filed
/// (`claim.submitted`) is decided by the shop's active rule set, and the
/// rules run again whenever the claim's facts change later — courier news
/// on the return parcel (`claim.return_shipped`, `claim.shipment_updated`),
/// the goods received (`claim.return_received`), new evidence
/// (`claim.evidence_added`); what an outcome does then is
/// [`crate::domain::fast_track`]'s. Idempotent: a redelivered event finds
/// the claim already moved on and changes nothing.
pub async fn on_event(s: &Services, event: &OutboxEvent) -> Result<(), AppError> {
    if !matches!(event.event_type, EventType::Claim(step) if RULE_TRIGGERS.contains(&step)) {
        return Ok(());
    }
    let first_only = event.event_type == EventType::Claim(ClaimStep::Submitted);
    evaluate(s, &event.subject, first_only).await.map(|_| ())
}

/// The claim steps after which the rules run (see [`on_event`]); the
/// template's event filter for the rule-evaluation function lists the same.
pub const RULE_TRIGGERS: &[ClaimStep] = &[
    ClaimStep::Submitted,
    ClaimStep::EvidenceAdded,
    ClaimStep::ReturnShipped,
    ClaimStep::ShipmentUpdated,
    ClaimStep::ReturnReceived,
    ClaimStep::CustomsUpdated,
];

/// Runs the rules on one claim, if it is at a stage they act on; returns
/// the decision they took (None when the claim is past them).
pub async fn evaluate_claim(s: &Services, claim_id: &str) -> Result<Option<Decision>, AppError> {
    evaluate(s, claim_id, false).await
}

/// [`evaluate_claim`]; `first_only`: only a claim still waiting for its
/// first decision (a redelivered `claim.submitted` changes nothing).
async fn evaluate(
    s: &Services,
    claim_id: &str,
    first_only: bool,
) -> Result<Option<Decision>, AppError> {
    use crate::domain::fast_track;
    let asked = &Asked::default();
    retrying(|| async move {
        let Some((mut claim, cv)) = repo::claims::get(&*s.table, claim_id).await? else {
            tracing::warn!(claim_id, "rule evaluation for a claim that does not exist");
            return Ok(None);
        };
        let first = claim.status == ClaimStatus::Submitted;
        let later = !first_only
            && matches!(
            claim.status,
            ClaimStatus::UnderReview
                | ClaimStatus::AwaitingReturn
                | ClaimStatus::ReturnShipped
                | ClaimStatus::ReturnReceived
        );
        if !first && !later {
            return Ok(None);
        }
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let policy = super::policy::policy_for(s, &claim.shop_id).await?;
        let (rules, _) = super::policy::load_rules(s, &claim.shop_id).await?;
        let history = super::facts::customer_history(s, &claim).await?;
        let evidence = super::facts::evidence_findings(s, &claim, &rec.order).await?;
        // The issuer's answer is kept even when the rules change nothing.
        let answered = super::vouchers::gather(s, &mut claim, &rec.order, asked).await;
        let now = s.now();
        let loaded = claim.clone();
        super::appliance::ask_installer(s, &mut claim, now, asked).await?;
        // Customs news is a step of its own, committed with the decision.
        let customs = super::clearance::ask(s, &mut claim, now, asked).await;
        let facts = Facts::of(&claim, &rec.order, &policy, history, &evidence, now);
        claim.review.signals = Some(facts.signals(&evidence));
        let decision = rules.evaluate(&facts);
        let actor = decision.actor();
        let outcome = match &decision.outcome {
            // A second review names the rule that asked for it.
            Outcome::SecondReview => None,
            o => Some(o),
        };
        // A refused outcome may have changed the loaded copies halfway.
        let (claim_before, rec_before) = (claim.clone(), rec.clone());
        let mut decided = if first {
            let tried = match outcome {
                Some(o) => fast_track::decide(&mut claim, &mut rec, o, actor, now),
                None => apply(
                    &mut claim,
                    &mut rec,
                    &Verdict::SecondReview {
                        reason: second_review_reason(&decision),
                    },
                    actor,
                    now,
                ),
            };
            match tried {
                Ok(ev) => ev,
                // A rule that cannot apply (e.g. approving more than is
                // left) sends the claim to a person instead of failing
                // forever.
                Err(refused) => {
                    tracing::warn!(claim_id, rule = ?decision.rule_id, error = %refused, "rule outcome not applicable; manual review");
                    (claim, rec) = (claim_before, rec_before);
                    apply(
                        &mut claim,
                        &mut rec,
                        &Verdict::ManualReview,
                        Actor::System,
                        now,
                    )?
                }
            }
        } else {
            let tried = match outcome {
                Some(o) => fast_track::rerun(&mut claim, &mut rec, o, actor, now),
                None if claim.status == ClaimStatus::UnderReview && !claim.review.escalated => {
                    apply(
                        &mut claim,
                        &mut rec,
                        &Verdict::SecondReview {
                            reason: second_review_reason(&decision),
                        },
                        actor,
                        now,
                    )
                }
                None => Ok(Change::default()),
            };
            match tried {
                Ok(ev) => ev,
                // Later, an outcome that cannot apply leaves the claim where
                // it is: it is with staff or on its normal course.
                Err(refused) => {
                    tracing::warn!(claim_id, rule = ?decision.rule_id, error = %refused, "rule outcome on later facts not applicable; unchanged");
                    (claim, rec) = (claim_before, rec_before);
                    Change::default()
                }
            }
        };
        if decided.is_empty() {
            // Signals or a fast-track grant may have changed alone.
            if claim != loaded || answered {
                let mut c = Commit::new();
                c.claim(&claim, Some(cv)).claim_events(&claim, &customs, now);
                repo::commit(&*s.table, c).await?;
            }
            return Ok(Some(decision));
        }
        decided.events.splice(0..0, customs);
        repo::commit(&*s.table, decision_commit(&claim, cv, &rec, ov, &decided, now)).await?;
        Ok(Some(decision))
    })
    .await
}

/// What the outside services (voucher issuer, installer network,
/// clearance service) answered during one rule evaluation, kept across its
/// commit retries: a retry after losing a race (another claim of the same
/// order decided meanwhile) decides on fresh state without asking again.
#[derive(Default)]
pub(super) struct Asked {
    pub vouchers:
        std::sync::Mutex<std::collections::HashMap<String, crate::domain::voucher::VoucherState>>,
    /// By line id.
    pub installations: std::sync::Mutex<
        std::collections::HashMap<String, Vec<crate::domain::appliance::InstallationRecord>>,
    >,
    pub clearance: std::sync::Mutex<Option<crate::domain::crossborder::Clearance>>,
}

fn second_review_reason(d: &Decision) -> String {
    d.rule_id
        .clone()
        .map_or_else(|| "rule".into(), |id| format!("rule {id}"))
}

/// What the deadline sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub escalated: usize,
    /// Disputes the shop left unanswered past their deadline.
    pub disputes_escalated: usize,
    pub auto_approved: usize,
    /// Timers of claims decided in time (or withdrawn), removed.
    pub cleared: usize,
}

/// How far back a first sweep looks (later sweeps resume at their cursor).
const FIRST_SWEEP_HOURS: i64 = 24 * 31;

/// Claims the shop did not decide by their deadline escalate, and so do
/// disputes it did not answer in time; an overdue
/// refund-only claim approves itself when the shop's policy says so. Runs on
/// a schedule in the cloud and in the runner's poller locally. Idempotent:
/// a claim already escalated or decided is left as it is.
pub async fn sweep_deadlines(s: &Services) -> Result<Sweep, AppError> {
    let now = s.now();
    let hour = |t: DateTime<Utc>| {
        t.date_naive()
            .and_hms_opt(t.hour(), 0, 0)
            .map(|n| n.and_utc())
            .unwrap_or(t)
    };
    let cursor = repo::deadlines::cursor(&*s.table).await?;
    let mut at = cursor.as_ref().map_or_else(
        || hour(now - chrono::Duration::hours(FIRST_SWEEP_HOURS)),
        |(c, _)| *c,
    );
    let mut out = Sweep::default();
    let current = hour(now);
    while at <= current {
        for timer in repo::deadlines::in_bucket(&*s.table, &repo::deadlines::bucket(at)).await? {
            if timer.due_at > now {
                continue;
            }
            // The timer may be a dispute's answer deadline. One claim that
            // cannot be written must not stop the sweep for every shop.
            match super::disputes::escalate_overdue(s, &timer.claim_id).await {
                Ok(true) => out.disputes_escalated += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(claim_id = %timer.claim_id, error = %e, "dispute escalation failed")
                }
            }
            match overdue(s, &timer.claim_id).await? {
                Overdue::Cleared => out.cleared += 1,
                Overdue::Escalated => out.escalated += 1,
                Overdue::AutoApproved => {
                    out.escalated += 1;
                    out.auto_approved += 1;
                }
            }
            repo::deadlines::done(&*s.table, &timer).await?;
        }
        at += chrono::Duration::hours(1);
    }
    // The current hour may still get timers due later in it.
    repo::deadlines::set_cursor(&*s.table, current, cursor.map(|(_, v)| v)).await?;
    Ok(out)
}

/// What the sweep did with one timer.
enum Overdue {
    /// The claim was decided in time, withdrawn or already escalated.
    Cleared,
    Escalated,
    AutoApproved,
}

async fn overdue(s: &Services, claim_id: &str) -> Result<Overdue, AppError> {
    use crate::domain::claim::ClaimType;
    retrying(|| async move {
        let Some((mut claim, cv)) = repo::claims::get(&*s.table, claim_id).await? else {
            return Ok(Overdue::Cleared);
        };
        let waiting = matches!(
            claim.status,
            ClaimStatus::Submitted | ClaimStatus::UnderReview | ClaimStatus::SecondReview
        );
        if !waiting || claim.review.escalated {
            return Ok(Overdue::Cleared);
        }
        let policy = super::policy::policy_for(s, &claim.shop_id).await?;
        let now = s.now();
        let mut decided = Change::steps(vec![claim.escalate(Actor::System, now)?]);
        // The member's compensation for the missed deadline, once per claim.
        let points = crate::domain::points::late_review(&claim, &policy.perks, now);
        let auto = policy.auto_approve_overdue_refund_only
            && claim.claim_type == ClaimType::RefundOnly
            && claim.status != ClaimStatus::SecondReview;
        // Only an approval touches the order's ledger; an escalation alone
        // neither reads nor writes the order.
        let mut c = Commit::new();
        if auto {
            let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
                .await?
                .ok_or(AppError::NotFound("order"))?;
            let verdict = Verdict::Approve {
                amount: None,
                reason: Some("overdue".into()),
            };
            let more = apply(&mut claim, &mut rec, &verdict, Actor::System, now)?;
            decided.events.extend(more.events);
            decided.refunds.extend(more.refunds);
            c.order(&rec, Some(ov));
        }
        c.claim(&claim, Some(cv))
            .claim_events(&claim, &decided.events, now)
            .new_refunds(&decided.refunds, now);
        if let Some(p) = &points {
            c.points(p, false);
        }
        repo::commit(&*s.table, c).await?;
        Ok(if auto {
            Overdue::AutoApproved
        } else {
            Overdue::Escalated
        })
    })
    .await
}
