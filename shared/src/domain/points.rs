//! Member points (积分) a shop gives a customer for after-sales: the
//! compensation its policy promises when it misses a member's review
//! deadline (once per claim), and reversals of a grant made in error. A
//! per-customer, per-shop ledger of entries; the balance is their sum. Each
//! entry also goes to the shop's loyalty system as an event.

use super::change::Refused;
use super::claim::{Actor, Claim};
use super::events::{EventType, OutboxEvent};
use super::ids::{ClaimId, CustomerId, ShopId};
use super::order::MemberTier;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Points per member tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPoints {
    pub regular: u32,
    pub silver: u32,
    pub gold: u32,
    pub platinum: u32,
    pub diamond: u32,
}

impl TierPoints {
    pub fn for_tier(&self, tier: MemberTier) -> u32 {
        match tier {
            MemberTier::Regular => self.regular,
            MemberTier::Silver => self.silver,
            MemberTier::Gold => self.gold,
            MemberTier::Platinum => self.platinum,
            MemberTier::Diamond => self.diamond,
        }
    }
}

/// The member perks of a shop's policy that are not about returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerksPolicy {
    /// Points granted when the shop misses the review deadline of a claim
    /// (会员售后延迟补偿), by the customer's tier; 0: none.
    pub late_review_points: TierPoints,
}

impl Default for PerksPolicy {
    fn default() -> Self {
        PerksPolicy {
            late_review_points: TierPoints {
                regular: 0,
                silver: 20,
                gold: 20,
                platinum: 20,
                diamond: 20,
            },
        }
    }
}

impl PerksPolicy {
    pub fn valid(&self) -> bool {
        let p = &self.late_review_points;
        [p.regular, p.silver, p.gold, p.platinum, p.diamond]
            .iter()
            .all(|&n| n <= 100_000)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointsReason {
    /// The shop missed the claim's review deadline.
    LateReview,
    /// A grant taken back.
    Reversal,
}

/// One entry of a customer's points at a shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsEntry {
    /// Stable: `late-{claim}` for a deadline compensation (so it is granted
    /// once), `rev-{entry}` for its reversal.
    pub entry_id: String,
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    /// Positive for a grant, negative for a reversal.
    pub points: i64,
    pub reason: PointsReason,
    pub claim_id: Option<ClaimId>,
    /// The entry a reversal takes back.
    pub reverses: Option<String>,
    pub note: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

impl PointsEntry {
    /// The event for the shop's loyalty system.
    pub fn event(&self) -> OutboxEvent {
        let t = if self.points >= 0 {
            EventType::PointsGranted
        } else {
            EventType::PointsReversed
        };
        OutboxEvent::new(
            &self.shop_id,
            &self.customer_id,
            t,
            serde_json::to_value(self).expect("points entries serialize"),
            self.at,
        )
    }
}

/// The sum of the entries.
pub fn balance(entries: &[PointsEntry]) -> i64 {
    entries.iter().map(|e| e.points).sum()
}

/// The compensation a claim earns when the shop missed its review deadline
/// (the sweep found it undecided past `due_at`): the tier's points, once per
/// claim (its entry id is the claim's). None when the tier gets none.
pub fn late_review(claim: &Claim, perks: &PerksPolicy, now: DateTime<Utc>) -> Option<PointsEntry> {
    let points = perks.late_review_points.for_tier(claim.review.member_tier);
    if points == 0 {
        return None;
    }
    Some(PointsEntry {
        entry_id: format!("late-{}", claim.claim_id),
        shop_id: claim.shop_id.clone(),
        customer_id: claim.customer_id.clone(),
        points: i64::from(points),
        reason: PointsReason::LateReview,
        claim_id: Some(claim.claim_id.clone()),
        reverses: None,
        note: "the shop missed the review deadline".into(),
        at: now,
        actor: Actor::System,
    })
}

/// Takes back grant `entry_id` (staff, with a note), once.
pub fn reverse(
    entries: &[PointsEntry],
    entry_id: &str,
    note: &str,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<PointsEntry, Refused> {
    if note.trim().is_empty() || note.chars().count() > 500 {
        return Err(Refused::invalid(
            "invalid_request",
            "note: say why, in 1 to 500 characters",
        ));
    }
    let Some(grant) = entries.iter().find(|e| e.entry_id == entry_id) else {
        return Err(Refused::not_now(
            "no_such_entry",
            format!("there is no points entry {entry_id}"),
        ));
    };
    if grant.points <= 0 {
        return Err(Refused::invalid(
            "not_a_grant",
            "only a grant can be reversed",
        ));
    }
    if entries
        .iter()
        .any(|e| e.reverses.as_deref() == Some(entry_id))
    {
        return Err(Refused::not_now(
            "already_reversed",
            format!("{entry_id} was already reversed"),
        ));
    }
    Ok(PointsEntry {
        entry_id: format!("rev-{entry_id}"),
        shop_id: grant.shop_id.clone(),
        customer_id: grant.customer_id.clone(),
        points: -grant.points,
        reason: PointsReason::Reversal,
        claim_id: grant.claim_id.clone(),
        reverses: Some(entry_id.to_owned()),
        note: note.to_owned(),
        at: now,
        actor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimType;
    use crate::domain::testkit::{claim_on, order, staff, t};

    #[test]
    fn a_missed_deadline_earns_the_tiers_points_once_per_claim() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let perks = PerksPolicy::default();
        assert_eq!(late_review(&claim, &perks, t(10)), None, "regular: none");
        claim.review.member_tier = MemberTier::Diamond;
        let g = late_review(&claim, &perks, t(10)).unwrap();
        assert_eq!(g.points, 20);
        assert_eq!(g.entry_id, "late-clm-1");
        assert_eq!(
            late_review(&claim, &perks, t(99)).unwrap().entry_id,
            g.entry_id
        );
        assert_eq!(g.event().event_type, EventType::PointsGranted);
        assert_eq!(g.event().payload["points"], 20);
    }

    #[test]
    fn a_grant_is_reversed_once() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        claim.review.member_tier = MemberTier::Gold;
        let g = late_review(&claim, &PerksPolicy::default(), t(10)).unwrap();
        let mut all = vec![g];
        assert!(reverse(&all, "late-clm-1", " ", staff(), t(20)).is_err());
        assert!(reverse(&all, "late-x", "oops", staff(), t(20)).is_err());
        let r = reverse(&all, "late-clm-1", "granted twice by hand", staff(), t(20)).unwrap();
        assert_eq!(r.points, -20);
        assert_eq!(r.event().event_type, EventType::PointsReversed);
        all.push(r.clone());
        assert_eq!(balance(&all), 0);
        let e = reverse(&all, "late-clm-1", "again", staff(), t(30)).unwrap_err();
        assert!(
            matches!(
                e,
                Refused::NotNow {
                    code: "already_reversed",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(reverse(&all, &r.entry_id, "reverse the reversal", staff(), t(30)).is_err());
    }

    #[test]
    fn policy_bounds() {
        assert!(PerksPolicy::default().valid());
        let mut p = PerksPolicy::default();
        p.late_review_points.gold = 100_001;
        assert!(!p.valid());
    }
}
