//! Replaying a candidate rule set over claims already decided (the rule
//! dry-run): what the rules decided when each claim was filed, as its
//! timeline recorded it, against what the candidate set would decide on
//! the same facts. Pure: the caller gathers the facts.

use super::{Facts, Outcome, RuleSet};
use crate::domain::claim::{Actor, Claim, ClaimEvent};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A decision as a rule set takes it: the outcome and the rule that gave it
/// (none: no rule matched, or the rule's outcome could not apply and the
/// claim went to a person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenDecision {
    pub outcome: Outcome,
    pub rule_id: Option<String>,
}

/// The first decision the rules took on a claim, from its timeline, with
/// when it was taken; None when they have not decided it (still filed) or
/// a person decided before them.
pub fn recorded_decision(claim: &Claim) -> Option<(DateTime<Utc>, SeenDecision)> {
    claim.timeline.iter().find_map(|e| {
        let rule_id = match &e.actor {
            Actor::Rule { rule_id, .. } => Some(rule_id.clone()),
            Actor::System => None,
            _ => return None,
        };
        let outcome = match &e.event {
            ClaimEvent::Approved { .. } => Outcome::Approve,
            ClaimEvent::Rejected { reason } => Outcome::Reject {
                reason: reason.clone(),
            },
            ClaimEvent::ReviewStarted => Outcome::ManualReview,
            ClaimEvent::SecondReviewRequired { .. } => Outcome::SecondReview,
            ClaimEvent::EvidenceRequested { note } => {
                Outcome::RequestEvidence { note: note.clone() }
            }
            _ => return None,
        };
        Some((e.at, SeenDecision { outcome, rule_id }))
    })
}

/// What a decision does to a claim, for comparing: the fast outcomes
/// approve (the timeline records an approval for them), and the note of an
/// evidence request is wording, not a different decision.
fn effect(o: &Outcome) -> (&'static str, Option<&str>) {
    match o {
        Outcome::Approve | Outcome::FastRefund | Outcome::FastExchange => ("approve", None),
        Outcome::Reject { reason } => ("reject", Some(reason)),
        Outcome::ManualReview => ("manual_review", None),
        Outcome::SecondReview => ("second_review", None),
        Outcome::RequestEvidence { .. } => ("request_evidence", None),
    }
}

/// The candidate's decision on `facts`, and whether it differs from the
/// recorded one (by what it does to the claim: a different rule giving the
/// same outcome is the same decision).
pub fn replay(candidate: &RuleSet, facts: &Facts, recorded: &SeenDecision) -> (SeenDecision, bool) {
    let d = candidate.evaluate(facts);
    let seen = SeenDecision {
        outcome: d.outcome,
        rule_id: d.rule_id,
    };
    let differs = effect(&seen.outcome) != effect(&recorded.outcome);
    (seen, differs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_refund_is_an_approval_and_reject_reasons_count() {
        let a = SeenDecision {
            outcome: Outcome::Approve,
            rule_id: Some("a".into()),
        };
        assert_eq!(effect(&Outcome::FastRefund), effect(&a.outcome));
        assert_ne!(
            effect(&Outcome::Reject { reason: "x".into() }),
            effect(&Outcome::Reject { reason: "y".into() })
        );
        assert_eq!(
            effect(&Outcome::RequestEvidence { note: "x".into() }),
            effect(&Outcome::RequestEvidence { note: "y".into() })
        );
    }
}
