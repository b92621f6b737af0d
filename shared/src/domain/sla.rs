//! The service figures the seed promises ("1 hour → 10 s"): how long a
//! claim waited for its decision, whether the shop's rules (or its deadline
//! policy) decided it without a person, and how long until the customer had
//! the money — read off each claim's timeline, summed per day.

use super::claim::{Actor, Claim, ClaimEvent};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// One claim's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimTimes {
    pub submitted_at: DateTime<Utc>,
    /// The first approval or rejection.
    pub decided_at: Option<DateTime<Utc>>,
    /// By a rule or by the system (an overdue claim approving itself).
    pub decided_automatically: bool,
    /// Every refund of the claim arrived (`refund_succeeded`).
    pub refunded_at: Option<DateTime<Utc>>,
}

impl ClaimTimes {
    pub fn of(claim: &Claim) -> ClaimTimes {
        let decision = claim.timeline.iter().find(|t| {
            matches!(
                t.event,
                ClaimEvent::Approved { .. } | ClaimEvent::Rejected { .. }
            )
        });
        let refunded_at = claim
            .timeline
            .iter()
            .find(|t| matches!(t.event, ClaimEvent::RefundSucceeded))
            .map(|t| t.at);
        ClaimTimes {
            submitted_at: claim.created_at,
            decided_at: decision.map(|t| t.at),
            decided_automatically: decision
                .is_some_and(|t| matches!(t.actor, Actor::Rule { .. } | Actor::System)),
            refunded_at,
        }
    }

    pub fn seconds_to_decision(&self) -> Option<f64> {
        self.decided_at.map(|d| seconds(d - self.submitted_at))
    }

    pub fn seconds_to_refund(&self) -> Option<f64> {
        self.refunded_at.map(|d| seconds(d - self.submitted_at))
    }
}

fn seconds(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The figures of the claims submitted on one (UTC) day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaDay {
    pub date: NaiveDate,
    pub submitted: u32,
    pub decided: u32,
    pub decided_automatically: u32,
    /// Decided automatically out of decided.
    pub automatic_share: Option<f64>,
    pub seconds_to_decision_p50: Option<f64>,
    pub seconds_to_decision_p90: Option<f64>,
    /// Claims whose money all arrived.
    pub refunded: u32,
    pub seconds_to_refund_p50: Option<f64>,
    pub seconds_to_refund_p90: Option<f64>,
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of `values`.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// The figures per day `from..=to`, by the day each claim was submitted.
pub fn days(claims: &[ClaimTimes], from: NaiveDate, to: NaiveDate) -> Vec<SlaDay> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let of_day: Vec<&ClaimTimes> = claims
            .iter()
            .filter(|c| c.submitted_at.date_naive() == day)
            .collect();
        let mut decision: Vec<f64> = of_day
            .iter()
            .filter_map(|c| c.seconds_to_decision())
            .collect();
        let mut refund: Vec<f64> = of_day
            .iter()
            .filter_map(|c| c.seconds_to_refund())
            .collect();
        let decided = decision.len() as u32;
        let automatic = of_day
            .iter()
            .filter(|c| c.decided_at.is_some() && c.decided_automatically)
            .count() as u32;
        out.push(SlaDay {
            date: day,
            submitted: of_day.len() as u32,
            decided,
            decided_automatically: automatic,
            automatic_share: (decided > 0).then(|| f64::from(automatic) / f64::from(decided)),
            seconds_to_decision_p50: percentile(&mut decision, 50.0),
            seconds_to_decision_p90: percentile(&mut decision, 90.0),
            refunded: refund.len() as u32,
            seconds_to_refund_p50: percentile(&mut refund, 50.0),
            seconds_to_refund_p90: percentile(&mut refund, 90.0),
        });
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimType;
    use crate::domain::review::{apply, Verdict};
    use crate::domain::testkit::{claim_on, order, staff, t};

    #[test]
    fn a_claims_times_come_from_its_timeline() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let rule = Actor::Rule {
            rule_id: "small-refund".into(),
            version: 1,
        };
        apply(
            &mut claim,
            &mut rec,
            &Verdict::approve_requested(),
            rule,
            t(10),
        )
        .unwrap();
        let times = ClaimTimes::of(&claim);
        assert_eq!(times.seconds_to_decision(), Some(10.0));
        assert!(times.decided_automatically);
        assert_eq!(times.seconds_to_refund(), None, "money not arrived yet");
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let reject = Verdict::Reject {
            reason: "used".into(),
        };
        apply(&mut claim, &mut rec, &reject, staff(), t(3_600)).unwrap();
        let times = ClaimTimes::of(&claim);
        assert!(!times.decided_automatically);
        assert_eq!(times.seconds_to_decision(), Some(3_600.0));
    }

    #[test]
    fn days_sum_by_submission_day_with_nearest_rank_percentiles() {
        let at = |s: i64| t(s);
        let c = |sub: i64, dec: Option<i64>, auto: bool, paid: Option<i64>| ClaimTimes {
            submitted_at: at(sub),
            decided_at: dec.map(at),
            decided_automatically: auto,
            refunded_at: paid.map(at),
        };
        let claims = [
            c(0, Some(10), true, Some(70)),
            c(100, Some(110), true, None),
            c(200, Some(3_800), false, Some(4_000)),
            c(300, None, false, None),
            c(86_400 + 5, Some(86_400 + 6), true, None),
        ];
        let d = days(&claims, t(0).date_naive(), t(86_400 * 2).date_naive());
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[0].submitted, d[0].decided, d[0].decided_automatically),
            (4, 3, 2)
        );
        assert_eq!(d[0].automatic_share, Some(2.0 / 3.0));
        assert_eq!(d[0].seconds_to_decision_p50, Some(10.0));
        assert_eq!(d[0].seconds_to_decision_p90, Some(3_600.0));
        assert_eq!((d[0].refunded, d[0].seconds_to_refund_p50), (2, Some(70.0)));
        assert_eq!(d[1].automatic_share, Some(1.0));
        assert_eq!(d[2].submitted, 0);
        assert_eq!(d[2].automatic_share, None);
    }
}
