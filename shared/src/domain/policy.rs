//! A shop's after-sales policy: the published promises (return window, who
//! pays return shipping, claim windows, review deadlines) that the product
//! pages show and the review rules and deadlines read. One source of truth.

use super::order::MemberTier;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    Customer,
    Shop,
}

/// Hours the shop gives itself to decide a claim, per member tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDeadlines {
    pub regular: u32,
    pub silver: u32,
    pub gold: u32,
    pub platinum: u32,
    /// Left out by policies saved before the tier existed: one hour.
    #[serde(default = "one_hour")]
    pub diamond: u32,
}

fn one_hour() -> u32 {
    1
}

impl ReviewDeadlines {
    pub fn hours_for(&self, tier: MemberTier) -> u32 {
        match tier {
            MemberTier::Regular => self.regular,
            MemberTier::Silver => self.silver,
            MemberTier::Gold => self.gold,
            MemberTier::Platinum => self.platinum,
            MemberTier::Diamond => self.diamond,
        }
    }
}

/// What customers may upload as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceLimits {
    pub max_items: u32,
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
    /// MIME types accepted, e.g. `image/jpeg`, `video/mp4`.
    pub content_types: Vec<String>,
}

impl EvidenceLimits {
    /// The size limit for a content type, or None when the type is refused.
    pub fn max_bytes(&self, content_type: &str) -> Option<u64> {
        if !self.content_types.iter().any(|t| t == content_type) {
            return None;
        }
        if content_type.starts_with("video/") {
            Some(self.max_video_bytes)
        } else {
            Some(self.max_image_bytes)
        }
    }

    /// Whether a file of this type and size (declared, or as it landed) is
    /// taken: the one check for upload URLs, landed files and submissions.
    pub fn accepts(&self, content_type: &str, size: u64) -> Result<(), FileRefusal> {
        match self.max_bytes(content_type) {
            None => Err(FileRefusal::ContentType(content_type.to_owned())),
            Some(max) if size == 0 || size > max => Err(FileRefusal::Size { size, max }),
            Some(_) => Ok(()),
        }
    }
}

/// Why a file is not taken as evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileRefusal {
    #[error("content type {0:?} is not accepted")]
    ContentType(String),
    #[error("{size} bytes is outside 1..={max}")]
    Size { size: u64, max: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopPolicy {
    /// No-reason returns accepted this many days after delivery.
    pub no_reason_return_days: u32,
    /// Who pays return shipping when the return is not the shop's fault.
    pub non_quality_return_shipping: Payer,
    /// Fresh produce claims accepted this many hours after delivery.
    pub fresh_claim_window_hours: u32,
    /// Unused virtual goods refundable this many days after payment.
    pub virtual_refund_window_days: u32,
    pub review_deadline_hours: ReviewDeadlines,
    /// A refund-only claim the shop has not decided by its deadline approves
    /// itself (as the large mini-program platforms do).
    pub auto_approve_overdue_refund_only: bool,
    /// At most this many claims (open or finished) per order line.
    pub max_claims_per_line: u32,
    pub evidence: EvidenceLimits,
    /// Store-balance credits from refunds lapse this many days after they
    /// are credited; None: they never lapse.
    #[serde(default)]
    pub store_balance_expiry_days: Option<u32>,
    /// Return shipping, fees, pickups and fast exchanges.
    #[serde(default)]
    pub returns: super::returns::ReturnPolicy,
    /// The dispute window and the shop's answer deadline.
    #[serde(default)]
    pub disputes: super::dispute::DisputePolicy,
    /// Member perks: compensation points for a missed review deadline.
    #[serde(default)]
    pub perks: super::points::PerksPolicy,
    /// Win-back: coupons when claims end, call-backs for high-value
    /// customers.
    #[serde(default)]
    pub winback: super::winback::WinbackPolicy,
    /// Coupons of a fully refunded order: returned or voided.
    #[serde(default)]
    pub benefits: super::benefits::BenefitsPolicy,
    /// Pre-sale orders: compensation when the shop does not ship in time.
    #[serde(default)]
    pub presale: super::presale::PreSalePolicy,
    /// Large appliances: the installation fault window, pickup capacity.
    #[serde(default)]
    pub appliance: super::appliance::AppliancePolicy,
    /// Fresh produce claims: the photos they need, what the rules approve.
    #[serde(default)]
    pub fresh: super::fresh::FreshPolicy,
}

impl Default for ShopPolicy {
    fn default() -> Self {
        ShopPolicy {
            no_reason_return_days: 7,
            non_quality_return_shipping: Payer::Customer,
            fresh_claim_window_hours: 24,
            virtual_refund_window_days: 7,
            review_deadline_hours: ReviewDeadlines {
                regular: 48,
                silver: 24,
                gold: 4,
                platinum: 1,
                diamond: 1,
            },
            auto_approve_overdue_refund_only: false,
            max_claims_per_line: 3,
            evidence: EvidenceLimits {
                max_items: 9,
                max_image_bytes: 10 * 1024 * 1024,
                max_video_bytes: 100 * 1024 * 1024,
                content_types: [
                    "image/jpeg",
                    "image/png",
                    "image/webp",
                    "image/heic",
                    "video/mp4",
                    "video/quicktime",
                ]
                .map(String::from)
                .to_vec(),
            },
            store_balance_expiry_days: None,
            returns: Default::default(),
            disputes: Default::default(),
            perks: Default::default(),
            winback: Default::default(),
            benefits: Default::default(),
            presale: Default::default(),
            appliance: Default::default(),
            fresh: Default::default(),
        }
    }
}

/// Why a shop policy is refused: a value out of range, or values that do
/// not make sense together. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("review_deadline_hours: each tier between 1 and 720 hours")]
    ReviewDeadlines,
    /// `no_reason_return_days` or `virtual_refund_window_days`.
    #[error("windows in days are at most 365")]
    WindowDays,
    #[error("fresh_claim_window_hours: between 1 and 720")]
    FreshClaimWindow,
    #[error("max_claims_per_line: between 1 and 20")]
    MaxClaimsPerLine,
    #[error("store_balance_expiry_days: between 1 and 3650, or null")]
    BalanceExpiry,
    #[error("evidence.max_items: between 1 and 20")]
    EvidenceItems,
    #[error("evidence.content_types: image/* or video/* types only")]
    EvidenceTypes,
    #[error("evidence sizes: above 0 and at most 5 GiB")]
    EvidenceSizes,
    #[error("returns.return_shipping_allowance: 0 to 100000 (minor units)")]
    ReturnShippingAllowance,
    #[error("returns.restocking_fee_percent: 0 to 50")]
    RestockingFee,
    #[error("returns.ship_within_days: 1 to 60")]
    ShipWithinDays,
    #[error("disputes: window_days 1 to 90, response_hours 1 to 720")]
    Disputes,
    #[error("perks.late_review_points: 0 to 100000 per tier")]
    Perks,
    #[error("winback: coupon value 1 to 1000000, threshold 0 to 100000000 (minor units), valid_days 1 to 365; high_value.callback_within_hours 1 to 720")]
    Winback,
    #[error("presale: compensate_after_days 1 to 90, deposit_multiple 1 to 5")]
    PreSale,
    #[error("fresh: min_photos 1 to 9, auto_approve_max 0 to 1000000 (minor units)")]
    Fresh,
    #[error("returns.pickup_days_ahead: 1 to 30")]
    PickupDaysAhead,
    /// A pickup window that is not `HH:MM-HH:MM` with start before end.
    #[error("returns.pickup_slots: {0:?} is not HH:MM-HH:MM with start before end")]
    PickupSlot(String),
    #[error("appliance: fault_window_days 1 to 90; pickup_capacity at most 50 entries, courier and area 1 to 64 characters, per_slot 1 to 1000")]
    Appliance,
}

impl ShopPolicy {
    /// How long a store-balance credit lasts.
    pub fn balance_lifetime(&self) -> Option<chrono::Duration> {
        self.store_balance_expiry_days
            .map(|d| chrono::Duration::days(i64::from(d)))
    }

    /// Checks the values make sense together; the message names the field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let d = &self.review_deadline_hours;
        if [d.regular, d.silver, d.gold, d.platinum, d.diamond]
            .iter()
            .any(|&h| h == 0 || h > 24 * 30)
        {
            return Err(PolicyError::ReviewDeadlines);
        }
        if self.no_reason_return_days > 365 || self.virtual_refund_window_days > 365 {
            return Err(PolicyError::WindowDays);
        }
        if self.fresh_claim_window_hours == 0 || self.fresh_claim_window_hours > 24 * 30 {
            return Err(PolicyError::FreshClaimWindow);
        }
        if self.max_claims_per_line == 0 || self.max_claims_per_line > 20 {
            return Err(PolicyError::MaxClaimsPerLine);
        }
        if self
            .store_balance_expiry_days
            .is_some_and(|d| d == 0 || d > 3650)
        {
            return Err(PolicyError::BalanceExpiry);
        }
        self.returns.validate()?;
        if !self.disputes.valid() {
            return Err(PolicyError::Disputes);
        }
        if !self.perks.valid() {
            return Err(PolicyError::Perks);
        }
        if !self.winback.valid() {
            return Err(PolicyError::Winback);
        }
        if !self.presale.valid() {
            return Err(PolicyError::PreSale);
        }
        if !self.appliance.valid() {
            return Err(PolicyError::Appliance);
        }
        if !self.fresh.valid() {
            return Err(PolicyError::Fresh);
        }
        let e = &self.evidence;
        if e.max_items == 0 || e.max_items > 20 {
            return Err(PolicyError::EvidenceItems);
        }
        if e.content_types.is_empty()
            || e.content_types
                .iter()
                .any(|t| !(t.starts_with("image/") || t.starts_with("video/")))
        {
            return Err(PolicyError::EvidenceTypes);
        }
        const MAX: u64 = 5 * 1024 * 1024 * 1024;
        if e.max_image_bytes == 0
            || e.max_video_bytes == 0
            || e.max_image_bytes > MAX
            || e.max_video_bytes > MAX
        {
            return Err(PolicyError::EvidenceSizes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_policy_saved_with_fast_exchange_tiers_still_loads() {
        let mut v = serde_json::to_value(ShopPolicy::default()).unwrap();
        v["returns"]["fast_exchange_tiers"] = serde_json::json!(["gold", "platinum"]);
        let p: ShopPolicy = serde_json::from_value(v).expect("an old policy decodes");
        assert_eq!(p.validate(), Ok(()));
        let again = serde_json::to_value(&p).unwrap();
        assert!(
            again["returns"].get("fast_exchange_tiers").is_none(),
            "not written back"
        );
    }

    use super::*;

    #[test]
    fn default_policy_is_valid_and_round_trips() {
        let p = ShopPolicy::default();
        assert_eq!(p.validate(), Ok(()));
        let j = serde_json::to_value(&p).unwrap();
        assert_eq!(serde_json::from_value::<ShopPolicy>(j).unwrap(), p);
        assert_eq!(p.review_deadline_hours.hours_for(MemberTier::Platinum), 1);
        assert_eq!(p.evidence.max_bytes("image/png"), Some(10 * 1024 * 1024));
        assert_eq!(p.evidence.max_bytes("application/pdf"), None);
    }

    #[test]
    fn nonsense_is_refused() {
        let mut p = ShopPolicy::default();
        p.review_deadline_hours.gold = 0;
        assert_eq!(p.validate(), Err(PolicyError::ReviewDeadlines));
        let mut p = ShopPolicy::default();
        p.evidence.content_types = vec!["text/html".into()];
        assert_eq!(p.validate(), Err(PolicyError::EvidenceTypes));
        let p = ShopPolicy {
            store_balance_expiry_days: Some(0),
            ..Default::default()
        };
        assert_eq!(p.validate(), Err(PolicyError::BalanceExpiry));
        let mut p = ShopPolicy::default();
        p.returns.pickup_slots = vec!["9-12".into()];
        assert_eq!(p.validate(), Err(PolicyError::PickupSlot("9-12".into())));
        let j = serde_json::json!({"no_reason_return_days": 7, "surprise": true});
        assert!(serde_json::from_value::<ShopPolicy>(j).is_err());
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(
            PolicyError::ReviewDeadlines.to_string(),
            "review_deadline_hours: each tier between 1 and 720 hours"
        );
        assert_eq!(
            PolicyError::ReturnShippingAllowance.to_string(),
            "returns.return_shipping_allowance: 0 to 100000 (minor units)"
        );
        assert_eq!(
            PolicyError::PickupSlot("12:00-09:00".into()).to_string(),
            "returns.pickup_slots: \"12:00-09:00\" is not HH:MM-HH:MM with start before end"
        );
    }
}
