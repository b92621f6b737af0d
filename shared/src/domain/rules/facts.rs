//! What a rule can look at about one claim, and how the parts that come
//! from the claim, its order and the shop policy are gathered.

use crate::domain::claim::{Claim, ClaimStatus, ClaimType, ReasonCode, SpecialKind};
use crate::domain::money::Money;
use crate::domain::order::{FulfilmentState, MemberTier, Order, ProductKind};
use crate::domain::policy::ShopPolicy;
use crate::domain::standing::{percent, EvidenceFindings, Signals};
use crate::domain::tracking::CourierStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of product among a claim's lines: a set of [`ProductKind`].
/// JSON: a list of kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ProductKinds(
    /// Bit `kind_index(k)` for each kind `k`: the compiled form tests the
    /// set as this mask directly.
    pub(super) u8,
);

impl ProductKinds {
    pub const EMPTY: ProductKinds = ProductKinds(0);

    pub fn insert(&mut self, k: ProductKind) {
        self.0 |= 1 << kind_index(k);
    }
    pub fn contains(self, k: ProductKind) -> bool {
        self.0 & (1 << kind_index(k)) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Every kind in the set is `k` (and there is one).
    pub fn only(self, k: ProductKind) -> bool {
        self.0 == 1 << kind_index(k)
    }
    pub fn iter(self) -> impl Iterator<Item = ProductKind> {
        PRODUCT_KINDS
            .into_iter()
            .filter(move |(k, _)| self.contains(*k))
            .map(|(k, _)| k)
    }
}

impl FromIterator<ProductKind> for ProductKinds {
    fn from_iter<I: IntoIterator<Item = ProductKind>>(iter: I) -> Self {
        let mut s = ProductKinds::EMPTY;
        for k in iter {
            s.insert(k);
        }
        s
    }
}

impl Serialize for ProductKinds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for ProductKinds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<ProductKind>::deserialize(d)?.into_iter().collect())
    }
}

/// Product kinds as the rules name them. Like the compiled form's value
/// tables (and checked with them), a kind's position is its bit in
/// [`ProductKinds`]; it is kept here because the set itself is built on it.
pub(super) const PRODUCT_KINDS: [(ProductKind, &str); 7] = [
    (ProductKind::Physical, "physical"),
    (ProductKind::Fresh, "fresh"),
    (ProductKind::Virtual, "virtual"),
    (ProductKind::Appliance, "appliance"),
    (ProductKind::CrossBorder, "cross_border"),
    (ProductKind::PreSale, "pre_sale"),
    (ProductKind::BundlePart, "bundle_part"),
];
pub(super) fn kind_index(k: ProductKind) -> u8 {
    match k {
        ProductKind::Physical => 0,
        ProductKind::Fresh => 1,
        ProductKind::Virtual => 2,
        ProductKind::Appliance => 3,
        ProductKind::CrossBorder => 4,
        ProductKind::PreSale => 5,
        ProductKind::BundlePart => 6,
    }
}

/// The shop policy's windows, as the rules read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyWindows {
    pub no_reason_return_days: u32,
    pub fresh_claim_window_hours: u32,
    pub virtual_refund_window_days: u32,
}

impl From<&ShopPolicy> for PolicyWindows {
    fn from(p: &ShopPolicy) -> Self {
        PolicyWindows {
            no_reason_return_days: p.no_reason_return_days,
            fresh_claim_window_hours: p.fresh_claim_window_hours,
            virtual_refund_window_days: p.virtual_refund_window_days,
        }
    }
}

/// Everything a rule can look at, computed by the caller (see
/// [`Facts::gather`] for the parts that come from the claim and order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub fulfilment: FulfilmentState,
    pub product_kinds: ProductKinds,
    /// The requested amount, in the order's currency (the `currency` fact).
    pub amount: Money,
    /// Whole hours elapsed; None when it has not happened.
    #[serde(default)]
    /// Seconds since the order was paid (its last payment), exact: time
    /// conditions are compared to the second, never in rounded hours.
    pub seconds_since_payment: Option<i64>,
    #[serde(default)]
    pub seconds_since_shipment: Option<i64>,
    #[serde(default)]
    pub seconds_since_delivery: Option<i64>,
    pub evidence_count: u32,
    pub evidence_complete: bool,
    /// The return parcel's status; None when there is no tracking yet.
    #[serde(default)]
    pub courier: Option<CourierStatus>,
    pub member_tier: MemberTier,
    pub claims_last_90_days: u32,
    pub rejected_last_90_days: u32,
    /// Share of the customer's orders refunded by a claim, whole percent
    /// (see [`crate::domain::standing`]).
    #[serde(default)]
    pub refund_rate_percent: u32,
    #[serde(default)]
    pub claims_without_return: u32,
    /// Recent claims of the customer with this claim's reason.
    #[serde(default)]
    pub same_reason_last_90_days: u32,
    /// A photo of this claim is on another claim.
    #[serde(default)]
    pub evidence_reused: bool,
    /// A photo of this claim was taken before the order was delivered.
    #[serde(default)]
    pub photo_before_delivery: bool,
    /// A pre-sale order whose balance was paid and nothing shipped past
    /// the shop's threshold (see [`crate::domain::presale`]).
    #[serde(default)]
    pub presale_compensation_due: bool,
    /// Every claimed line was installed (per the installer's records kept
    /// on the claim) and the claim came within the policy's
    /// `appliance.fault_window_days` of the installation.
    #[serde(default)]
    pub installed_faulty_within_window: bool,
    /// A cross-border customs claim whose clearance the port reported
    /// failed, or whose parcel it confirmed back with the seller (see
    /// [`crate::domain::crossborder`]).
    #[serde(default)]
    pub customs_refund_confirmed: bool,
    pub windows: PolicyWindows,
    /// A code the claim gives back was redeemed: the issuer said so (the
    /// answer kept on the claim) or the storefront reported it on the
    /// order line (see [`crate::domain::voucher`]).
    #[serde(default)]
    pub voucher_redeemed: bool,
    /// Every code the claim gives back is known unused, none reported
    /// redeemed (true for a claim without codes).
    #[serde(default)]
    pub voucher_unused: bool,
    /// The claim is the virtual part of a bundle, filed with the return of
    /// the bundle's goods (see [`crate::domain::bundle`]).
    #[serde(default)]
    pub with_bundle_return: bool,
    /// A fresh-spoilage claim asking no more than the policy's
    /// `fresh.auto_approve_max` (see [`crate::domain::fresh`]).
    #[serde(default)]
    pub fresh_within_auto_limit: bool,
}

impl Facts {
    /// The facts that come from the claim, its order and the shop policy at
    /// `now`, with the return parcel's status as the courier last reported
    /// it. Evidence completeness and the customer's history are outside
    /// those: they start as false and zero, for the caller to fill in.
    pub fn gather(claim: &Claim, order: &Order, policy: &ShopPolicy, now: DateTime<Utc>) -> Facts {
        // Whole seconds, floored; a timestamp in the future (clock skew
        // between the storefront and us) counts as just now.
        let since = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_seconds().max(0));
        let f = &order.facts;
        let vouchers = crate::domain::voucher::standing(claim, order);
        let product_kinds = claim
            .lines
            .iter()
            .filter_map(|l| order.line_index(&l.line_id))
            .map(|i| f.lines[i].kind)
            .collect();
        Facts {
            claim_type: claim.claim_type,
            reason: claim.reason,
            fulfilment: f.fulfilment.state,
            product_kinds,
            amount: claim.requested_amount,
            // The order counts as paid when its last payment (a pre-sale's
            // balance) landed.
            seconds_since_payment: since(f.payments.iter().map(|p| p.paid_at).max()),
            seconds_since_shipment: since(f.fulfilment.shipped_at),
            seconds_since_delivery: since(f.fulfilment.delivered_at),
            evidence_count: u32::try_from(claim.evidence.len()).unwrap_or(u32::MAX),
            evidence_complete: false,
            courier: claim
                .returns
                .shipment
                .as_ref()
                .and_then(|s| s.rule_status()),
            member_tier: f.member_tier,
            claims_last_90_days: 0,
            rejected_last_90_days: 0,
            refund_rate_percent: 0,
            claims_without_return: 0,
            same_reason_last_90_days: 0,
            evidence_reused: false,
            photo_before_delivery: false,
            presale_compensation_due: crate::domain::presale::compensation_due(
                order,
                &policy.presale,
                now,
            ),
            installed_faulty_within_window: claim.appliance.as_ref().is_some_and(|a| {
                a.installed_and_faulty_within(
                    &claim.lines,
                    claim.created_at,
                    policy.appliance.fault_window_days,
                )
            }),
            customs_refund_confirmed: claim
                .cross_border
                .as_ref()
                .and_then(|x| x.clearance.as_ref())
                .is_some_and(|c| c.status.refund_confirmed()),
            windows: policy.into(),
            voucher_redeemed: vouchers.redeemed,
            voucher_unused: vouchers.unused,
            with_bundle_return: claim
                .bundle
                .as_ref()
                .is_some_and(|b| b.track == crate::domain::bundle::Track::Virtual),
            fresh_within_auto_limit: crate::domain::fresh::within_auto_limit(claim, &policy.fresh),
        }
    }

    /// Everything the rules look at for a claim now: [`Facts::gather`]
    /// with whether its evidence is complete, the customer's history and
    /// what its photos show.
    pub fn of(
        claim: &Claim,
        order: &Order,
        policy: &ShopPolicy,
        history: History,
        evidence: &EvidenceFindings,
        now: DateTime<Utc>,
    ) -> Facts {
        let mut f = Facts::gather(claim, order, policy, now);
        // Fresh spoilage also needs the policy's photos (fruit, waybill).
        f.evidence_complete =
            evidence_complete(claim) && crate::domain::fresh::photos_complete(claim, &policy.fresh);
        f.claims_last_90_days = history.claims;
        f.rejected_last_90_days = history.rejected;
        // The shop's count of paid orders when the order carries it; the
        // orders we saw claims on otherwise (a floor).
        let orders = order
            .facts
            .customer_stats
            .as_ref()
            .map_or(0, |s| s.paid_orders)
            .max(history.orders_seen);
        f.refund_rate_percent = percent(history.refunded_orders, orders);
        f.claims_without_return = history.without_return;
        f.same_reason_last_90_days = history.same_reason;
        f.evidence_reused = !evidence.reused.is_empty();
        f.photo_before_delivery = !evidence.taken_before_delivery.is_empty();
        f
    }

    /// What staff are shown of these facts beside the claim.
    pub fn signals(&self, evidence: &EvidenceFindings) -> Signals {
        Signals {
            refund_rate_percent: self.refund_rate_percent,
            claims_without_return: self.claims_without_return,
            same_reason_claims: self.same_reason_last_90_days,
            evidence: evidence.clone(),
        }
    }

    fn special_kind(&self) -> Option<SpecialKind> {
        match self.claim_type {
            ClaimType::SpecialClaim { kind } => Some(kind),
            _ => None,
        }
    }

    /// Whether the claim is inside the policy window that applies to it:
    /// - fresh produce (a fresh-spoilage claim, or any fresh line): the
    ///   fresh claim window, in hours after delivery;
    /// - virtual goods (a virtual-unused claim, or only virtual lines): the
    ///   virtual refund window, in days after payment;
    /// - anything else: the no-reason return window, in days after delivery.
    ///
    /// A window whose clock has not started (not delivered yet) is open.
    /// A window of N hours closes exactly N hours after its start: open at
    /// N h − 1 s and at N h itself, closed at N h + 1 s.
    pub fn within_policy_window(&self) -> bool {
        let special = self.special_kind();
        let w = &self.windows;
        let (since, limit) = if special == Some(SpecialKind::FreshSpoilage)
            || self.product_kinds.contains(ProductKind::Fresh)
        {
            (
                self.seconds_since_delivery,
                i64::from(w.fresh_claim_window_hours) * HOUR,
            )
        } else if special == Some(SpecialKind::VirtualUnused)
            || self.product_kinds.only(ProductKind::Virtual)
        {
            (
                self.seconds_since_payment,
                i64::from(w.virtual_refund_window_days) * DAY,
            )
        } else {
            (
                self.seconds_since_delivery,
                i64::from(w.no_reason_return_days) * DAY,
            )
        };
        since.is_none_or(|s| s <= limit)
    }
}

/// Seconds in an hour and a day: time facts are held in seconds.
pub(super) const HOUR: i64 = 3600;
pub(super) const DAY: i64 = 24 * HOUR;

/// The customer's recent claims (other than the one being decided), as
/// the rules count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub claims: u32,
    pub rejected: u32,
    /// Orders with money refunded by one of those claims.
    pub refunded_orders: u32,
    /// Orders those claims were on, and this claim's.
    pub orders_seen: u32,
    /// Refund-only claims paid on goods that had shipped.
    pub without_return: u32,
    /// Claims giving this claim's reason.
    pub same_reason: u32,
}

/// Claims of the customer within this many days count as history.
pub const HISTORY_DAYS: i64 = 90;

/// What [`History`] reads of a past claim: a handful of a stored claim's
/// fields, decoded straight from the item without the rest (the timeline
/// is most of a claim's bytes, and a customer's history is read on every
/// decision: decoding whole claims was half the pipeline's CPU).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PastClaim {
    pub claim_id: crate::domain::ids::ClaimId,
    pub order_id: crate::domain::ids::OrderId,
    #[serde(rename = "type")]
    pub kind: PastKind,
    pub reason: ReasonCode,
    pub status: ClaimStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub approved_amount: Option<Money>,
    #[serde(default)]
    pub review: PastReview,
}

/// The claim types history tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PastKind {
    RefundOnly,
    Exchange,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct PastReview {
    #[serde(default)]
    pub shipped: bool,
}

impl PastClaim {
    pub fn of(c: &Claim) -> PastClaim {
        PastClaim {
            claim_id: c.claim_id.clone(),
            order_id: c.order_id.clone(),
            kind: match c.claim_type {
                ClaimType::RefundOnly => PastKind::RefundOnly,
                ClaimType::Exchange => PastKind::Exchange,
                _ => PastKind::Other,
            },
            reason: c.reason,
            status: c.status,
            created_at: c.created_at,
            approved_amount: c.approved_amount,
            review: PastReview {
                shipped: c.review.shipped,
            },
        }
    }
}

impl History {
    /// Counts `recent` claims of the customer (the newest first, as many
    /// as were read) against `claim`: those within [`HISTORY_DAYS`] of it,
    /// not counting itself.
    pub fn of<'a>(claim: &Claim, recent: impl IntoIterator<Item = &'a PastClaim>) -> History {
        let since = claim.created_at - chrono::Duration::days(HISTORY_DAYS);
        let mut h = History::default();
        let mut orders = vec![&claim.order_id];
        let mut refunded = Vec::new();
        for c in recent {
            if c.claim_id == claim.claim_id || c.created_at < since {
                continue;
            }
            h.claims += 1;
            if c.status == ClaimStatus::Rejected {
                h.rejected += 1;
            }
            if c.reason == claim.reason {
                h.same_reason += 1;
            }
            if !orders.contains(&&c.order_id) {
                orders.push(&c.order_id);
            }
            let paid = c.kind != PastKind::Exchange
                && matches!(
                    c.status,
                    ClaimStatus::Refunding | ClaimStatus::RefundFailed | ClaimStatus::Completed
                )
                && c.approved_amount.is_none_or(|a| a.is_positive());
            if paid {
                if !refunded.contains(&&c.order_id) {
                    refunded.push(&c.order_id);
                }
                if c.kind == PastKind::RefundOnly && c.review.shipped {
                    h.without_return += 1;
                }
            }
        }
        h.orders_seen = u32::try_from(orders.len()).unwrap_or(u32::MAX);
        h.refunded_orders = u32::try_from(refunded.len()).unwrap_or(u32::MAX);
        h
    }
}

/// Whether the claim carries the evidence its reason needs: quality
/// problems need at least one photo or video; no-reason claims need none.
/// A claim the shop asked for more evidence is incomplete until it comes.
pub fn evidence_complete(c: &Claim) -> bool {
    if c.status == ClaimStatus::AwaitingEvidence {
        return false;
    }
    !c.reason.is_quality_issue() || !c.evidence.is_empty()
}

#[cfg(test)]
mod history_and_evidence {
    use super::{evidence_complete, History, PastClaim};
    use crate::domain::claim::{ClaimStatus, ClaimType};
    use crate::domain::testkit::{claim_on, order, staff, t};

    #[test]
    fn quality_claims_need_evidence_and_a_request_for_more_reopens_it() {
        let mut rec = order(&[(1, 5_000)]);
        let mut claim = claim_on(&mut rec, ClaimType::RefundOnly);
        assert!(evidence_complete(&claim), "filed with a photo");
        claim.evidence.clear();
        assert!(!evidence_complete(&claim), "a defect needs a photo");
        claim.evidence.push("photo-1.jpg".into());
        claim
            .request_evidence("a photo of the label".into(), staff(), t(10))
            .unwrap();
        assert_eq!(claim.status, ClaimStatus::AwaitingEvidence);
        assert!(!evidence_complete(&claim));
    }

    #[test]
    fn history_counts_other_recent_claims_and_rejections() {
        let mut rec = order(&[(3, 5_000)]);
        let claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let mut rejected = claim.clone();
        rejected.claim_id = "clm-0".into();
        rejected.status = ClaimStatus::Rejected;
        let mut old = claim.clone();
        old.claim_id = "clm-old".into();
        old.created_at = claim.created_at - chrono::Duration::days(91);
        let past = [&claim, &rejected, &old].map(PastClaim::of);
        let h = History::of(&claim, &past);
        assert_eq!(
            h,
            History {
                claims: 1,
                rejected: 1,
                orders_seen: 1,
                same_reason: 1,
                ..History::default()
            }
        );
    }

    /// A past claim decodes from a stored claim's JSON as it is built from
    /// the claim: the names it reads are the claim's own.
    #[test]
    fn past_claim_decodes_from_a_stored_claim() {
        for kind in [
            ClaimType::RefundOnly,
            ClaimType::Exchange,
            ClaimType::ReturnRefund,
        ] {
            let mut rec = order(&[(3, 5_000)]);
            let mut claim = claim_on(&mut rec, kind);
            claim.review.shipped = true;
            claim.status = ClaimStatus::Completed;
            claim.approved_amount = Some(claim.requested_amount);
            let stored = serde_json::to_string(&claim).unwrap();
            let past: PastClaim = serde_json::from_str(&stored).unwrap();
            assert_eq!(past, PastClaim::of(&claim));
            assert!(past.review.shipped);
            assert_eq!(past.approved_amount, Some(claim.requested_amount));
        }
    }
}
