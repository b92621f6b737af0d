//! The service figures: per shop and day over the API (read off the claims'
//! timelines and the dispute entries), and as CloudWatch metrics (EMF) the
//! moment each happens, from the claim events the notifications consumer
//! sees. Events come at least once, so a metric may rarely count twice;
//! the API's figures are exact.

use super::{require_staff, AppError, Services};
use crate::auth::Principal;
use crate::domain::claim::{Claim, ClaimStep};
use crate::domain::events::{EventType, OutboxEvent};
use crate::domain::sla::{self, ClaimTimes, SlaDay};
use crate::ports::Metric;
use crate::repo;
use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;

/// Records the figures an event completes. `claim` is the claim event's
/// subject as it is now.
pub async fn on_event(
    s: &Services,
    event: &OutboxEvent,
    claim: Option<&Claim>,
) -> Result<(), AppError> {
    let EventType::Claim(step) = event.event_type else {
        return Ok(());
    };
    let interesting = matches!(
        step,
        ClaimStep::Submitted
            | ClaimStep::Approved
            | ClaimStep::Rejected
            | ClaimStep::RefundSucceeded
            | ClaimStep::DisputeOpened
            | ClaimStep::DisputeResolved
    );
    if !interesting {
        return Ok(());
    }
    let Some(claim) = claim else {
        return Ok(());
    };
    let times = ClaimTimes::of(claim);
    let count = |name| Metric {
        name,
        unit: "Count",
        value: 1.0,
    };
    let metrics = match step {
        ClaimStep::Submitted => vec![count("ClaimsSubmitted")],
        // The first decision only (a claim approved after inspection, or a
        // second approval, is not a new decision).
        ClaimStep::Approved | ClaimStep::Rejected if times.decided_at == Some(event.at) => {
            let mut m = vec![
                count("ClaimsDecided"),
                Metric {
                    name: "DecidedAutomatically",
                    unit: "Count",
                    value: if times.decided_automatically {
                        1.0
                    } else {
                        0.0
                    },
                },
            ];
            if let Some(secs) = times.seconds_to_decision() {
                m.push(Metric {
                    name: "TimeToDecision",
                    unit: "Seconds",
                    value: secs,
                });
            }
            m
        }
        ClaimStep::RefundSucceeded => times
            .seconds_to_refund()
            .map(|secs| {
                vec![Metric {
                    name: "TimeToRefund",
                    unit: "Seconds",
                    value: secs,
                }]
            })
            .unwrap_or_default(),
        ClaimStep::DisputeOpened => vec![count("DisputesOpened")],
        ClaimStep::DisputeResolved => {
            let mut m = vec![count("DisputesResolved")];
            if let Some(d) = &claim.dispute {
                if let Some(closed) = d.closed_at {
                    m.push(Metric {
                        name: "TimeToDisputeResolution",
                        unit: "Seconds",
                        value: (closed - d.opened_at).num_milliseconds() as f64 / 1000.0,
                    });
                }
            }
            m
        }
        _ => vec![],
    };
    s.metrics.record(&claim.shop_id, event.at, &metrics);
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct SlaReport {
    pub days: Vec<SlaDay>,
    pub disputes: Vec<super::disputes::DisputeDay>,
}

/// The shop's figures per day of submission, `from..=to` (UTC), at most 92
/// days: every claim submitted in those days is read, page by page.
pub async fn report(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<SlaReport, AppError> {
    require_staff(p, shop_id)?;
    if to < from || (to - from).num_days() > 92 {
        return Err(AppError::Invalid {
            code: "invalid_request",
            message: "from..to: from on or before to, at most 92 days".into(),
        });
    }
    let start = from.and_time(NaiveTime::MIN).and_utc();
    let end = to
        .succ_opt()
        .unwrap_or(to)
        .and_time(NaiveTime::MIN)
        .and_utc();
    let mut times = Vec::new();
    let mut cursor = None;
    'pages: loop {
        // Newest first: skip those after `to`, stop at the first before `from`.
        let (page, next) =
            repo::claims::list(&*s.table, repo::claims::Owner::Shop(shop_id), 200, cursor).await?;
        for c in &page {
            if c.created_at < start {
                break 'pages;
            }
            if c.created_at < end {
                times.push(ClaimTimes::of(c));
            }
        }
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let entries = repo::disputes::of_shop(&*s.table, shop_id).await?;
    Ok(SlaReport {
        days: sla::days(&times, from, to),
        disputes: super::disputes::dispute_days(&entries, from, to),
    })
}
