//! The after-sales claim and its state machine.
//!
//! Every change is a method that takes the command's facts and returns the
//! events it produced (the claim is updated in place only when the
//! transition is legal), or a typed error that leaves the claim untouched.
//! The timeline a customer sees is the list of those events.

use super::ids::{ClaimId, CustomerId, OrderId, RefundId, ShopId};
use super::ledger::{LedgerEntry, LineRequest};
use super::money::{Money, MoneyError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialKind {
    FreshSpoilage,
    ApplianceRepair,
    CrossBorderCustoms,
    VirtualUnused,
    PreSaleCompensation,
    MissingItem,
}

/// What the customer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClaimType {
    /// Money back, goods not returned (not shipped, or not received).
    RefundOnly,
    /// Goods go back, money comes back.
    ReturnRefund,
    /// Goods go back, the same item comes again.
    Exchange,
    /// An industry-specific claim.
    SpecialClaim { kind: SpecialKind },
}

impl ClaimType {
    /// The `type` as it appears in JSON.
    pub fn type_name(self) -> &'static str {
        match self {
            ClaimType::RefundOnly => "refund_only",
            ClaimType::ReturnRefund => "return_refund",
            ClaimType::Exchange => "exchange",
            ClaimType::SpecialClaim { .. } => "special_claim",
        }
    }
    /// Whether goods travel back to the shop.
    pub fn needs_return(self) -> bool {
        matches!(
            self,
            ClaimType::ReturnRefund
                | ClaimType::Exchange
                // A faulty appliance goes back (by pickup) before the money.
                | ClaimType::SpecialClaim {
                    kind: SpecialKind::ApplianceRepair
                }
        )
    }
    /// Whether money goes back to the customer.
    pub fn refunds(self) -> bool {
        !matches!(self, ClaimType::Exchange)
    }
}

/// The preset reasons a customer picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    NoLongerWanted,
    WrongSize,
    Damaged,
    Defective,
    WrongItem,
    NotAsDescribed,
    MissingParts,
    NotReceived,
    Spoiled,
    LateDelivery,
    Other,
}

impl ReasonCode {
    /// Quality reasons: the shop's fault, the shop pays return shipping.
    pub fn is_quality_issue(self) -> bool {
        matches!(
            self,
            ReasonCode::Damaged
                | ReasonCode::Defective
                | ReasonCode::WrongItem
                | ReasonCode::NotAsDescribed
                | ReasonCode::MissingParts
                | ReasonCode::Spoiled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Filed; the shop's rules have not decided yet.
    Submitted,
    /// Waiting for a staff member.
    UnderReview,
    /// Waiting for an admin's second review.
    SecondReview,
    /// The customer was asked for more evidence.
    AwaitingEvidence,
    /// Approved; money not moving yet (refund only) or goods to send back.
    Approved,
    /// Approved return or exchange: the customer is to send the goods.
    AwaitingReturn,
    ReturnShipped,
    ReturnReceived,
    /// Money is on its way.
    Refunding,
    /// The provider refused the refund; staff must act.
    RefundFailed,
    /// Exchange: the replacement is on its way.
    ReplacementShipped,
    Rejected,
    Completed,
    Cancelled,
    Closed,
}

impl ClaimStatus {
    /// Every status, in declaration order.
    pub const ALL: [ClaimStatus; 15] = [
        ClaimStatus::Submitted,
        ClaimStatus::UnderReview,
        ClaimStatus::SecondReview,
        ClaimStatus::AwaitingEvidence,
        ClaimStatus::Approved,
        ClaimStatus::AwaitingReturn,
        ClaimStatus::ReturnShipped,
        ClaimStatus::ReturnReceived,
        ClaimStatus::Refunding,
        ClaimStatus::RefundFailed,
        ClaimStatus::ReplacementShipped,
        ClaimStatus::Rejected,
        ClaimStatus::Completed,
        ClaimStatus::Cancelled,
        ClaimStatus::Closed,
    ];

    pub fn is_final(self) -> bool {
        matches!(
            self,
            ClaimStatus::Completed | ClaimStatus::Cancelled | ClaimStatus::Closed
        )
    }
    /// Still holding units and money in the ledger.
    pub fn is_open(self) -> bool {
        !self.is_final() && self != ClaimStatus::Rejected
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Submitted => "submitted",
            ClaimStatus::UnderReview => "under_review",
            ClaimStatus::SecondReview => "second_review",
            ClaimStatus::AwaitingEvidence => "awaiting_evidence",
            ClaimStatus::Approved => "approved",
            ClaimStatus::AwaitingReturn => "awaiting_return",
            ClaimStatus::ReturnShipped => "return_shipped",
            ClaimStatus::ReturnReceived => "return_received",
            ClaimStatus::Refunding => "refunding",
            ClaimStatus::RefundFailed => "refund_failed",
            ClaimStatus::ReplacementShipped => "replacement_shipped",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::Completed => "completed",
            ClaimStatus::Cancelled => "cancelled",
            ClaimStatus::Closed => "closed",
        }
    }
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    Customer { id: CustomerId },
    Staff { id: String },
    Rule { rule_id: String, version: u32 },
    System,
}

/// A claimed line with what it takes, as recorded at submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimLine {
    pub line_id: String,
    pub quantity: u32,
    pub amount: Money,
    /// A weight share instead of units (fresh produce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<u32>,
}

impl ClaimLine {
    /// The lines a claim takes, as its ledger entry reserved them.
    pub fn of_entry(entry: &LedgerEntry) -> Vec<ClaimLine> {
        entry
            .lines
            .iter()
            .map(|l| ClaimLine {
                line_id: l.line_id.clone(),
                quantity: l.units,
                amount: l.amount,
                weight_grams: (l.grams > 0).then_some(l.grams),
            })
            .collect()
    }
}

/// What happened to a claim. Stored on its timeline and in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClaimEvent {
    Submitted {
        amount: Money,
    },
    ReviewStarted,
    SecondReviewRequired {
        reason: String,
    },
    EvidenceRequested {
        note: String,
    },
    EvidenceAdded {
        evidence: Vec<String>,
    },
    Approved {
        amount: Money,
        reason: Option<String>,
    },
    Rejected {
        reason: String,
    },
    Cancelled,
    ReturnShipped {
        carrier: String,
        tracking_number: String,
    },
    ReturnReceived,
    /// A door-to-door pickup was booked for the return.
    PickupBooked {
        date: chrono::NaiveDate,
        slot: String,
    },
    /// The courier moved a parcel of this claim on (picked up, delivered...).
    ShipmentUpdated {
        leg: super::returns::Leg,
        state: super::tracking::CourierState,
        delivered_to_destination: bool,
    },
    /// A parcel needs staff: never picked up, delivered somewhere else.
    ShipmentFlagged {
        leg: super::returns::Leg,
        reason: String,
    },
    /// The goods were received and inspected; the report is on the claim.
    Inspected {
        decision: super::returns::InspectionDecision,
        notes: String,
        photos: Vec<String>,
    },
    RefundStarted,
    /// One refund issued to its channel (the out-refund number is fixed and
    /// queued to the provider): the customer sees where the money goes and
    /// by when to expect it.
    RefundSent {
        refund_id: RefundId,
        channel: super::order::PaymentChannel,
        amount: Money,
        expected_arrival: Option<DateTime<Utc>>,
        /// The failed refund this one is sent instead of.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<RefundId>,
    },
    /// One refund's money reached the customer, as its provider confirmed.
    RefundArrived {
        refund_id: RefundId,
        channel: super::order::PaymentChannel,
        amount: Money,
        arrived_at: DateTime<Utc>,
        received_account: Option<String>,
    },
    RefundFailed {
        reason: String,
    },
    RefundSucceeded,
    ReplacementShipped {
        carrier: String,
        tracking_number: String,
    },
    Completed,
    Closed {
        reason: String,
    },
    /// The shop missed its review deadline.
    Escalated {
        due_at: DateTime<Utc>,
    },
    /// The customer disputes the decision (see [`super::dispute`]).
    DisputeOpened {
        grounds: super::dispute::Grounds,
        wished: super::dispute::Resolution,
        text: String,
        attachments: Vec<String>,
        respond_by: Option<DateTime<Utc>>,
    },
    /// A message, or the shop's grounds, in the dispute's thread.
    DisputeMessage {
        n: u32,
        by: super::dispute::Party,
        kind: super::dispute::PostKind,
        text: String,
        attachments: Vec<String>,
        clause: Option<String>,
    },
    /// A side proposes how to settle the dispute.
    DisputeProposal {
        n: u32,
        by: super::dispute::Party,
        resolution: super::dispute::Resolution,
        note: String,
    },
    /// The other side accepted proposal `proposal`: the dispute is settled.
    DisputeResolved {
        proposal: u32,
        resolution: super::dispute::Resolution,
    },
    DisputeWithdrawn,
    /// The shop did not answer the dispute by `respond_by`: its admins take
    /// it over.
    DisputeEscalated {
        respond_by: DateTime<Utc>,
    },
    /// The refund gave back points spent on the order, and (the order fully
    /// refunded) its coupons, returned or voided by the shop's policy.
    BenefitsReturned {
        points: u32,
        coupons: Vec<String>,
        voided: Vec<String>,
    },
    /// The clearance port reported news of a cross-border parcel (see
    /// [`super::crossborder`]).
    CustomsUpdated {
        /// Named apart from the timeline entry's own `status`.
        clearance: super::crossborder::ClearanceStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        return_tracking: Option<String>,
    },
}

impl ClaimEvent {
    /// Its name, as in `claim.<name>` events and on the timeline.
    pub fn name(&self) -> &'static str {
        self.step().as_str()
    }

    /// Which kind of step it is.
    pub fn step(&self) -> ClaimStep {
        match self {
            ClaimEvent::Submitted { .. } => ClaimStep::Submitted,
            ClaimEvent::ReviewStarted => ClaimStep::ReviewStarted,
            ClaimEvent::SecondReviewRequired { .. } => ClaimStep::SecondReviewRequired,
            ClaimEvent::EvidenceRequested { .. } => ClaimStep::EvidenceRequested,
            ClaimEvent::EvidenceAdded { .. } => ClaimStep::EvidenceAdded,
            ClaimEvent::Approved { .. } => ClaimStep::Approved,
            ClaimEvent::Rejected { .. } => ClaimStep::Rejected,
            ClaimEvent::Cancelled => ClaimStep::Cancelled,
            ClaimEvent::ReturnShipped { .. } => ClaimStep::ReturnShipped,
            ClaimEvent::ReturnReceived => ClaimStep::ReturnReceived,
            ClaimEvent::PickupBooked { .. } => ClaimStep::PickupBooked,
            ClaimEvent::ShipmentUpdated { .. } => ClaimStep::ShipmentUpdated,
            ClaimEvent::ShipmentFlagged { .. } => ClaimStep::ShipmentFlagged,
            ClaimEvent::Inspected { .. } => ClaimStep::Inspected,
            ClaimEvent::RefundStarted => ClaimStep::RefundStarted,
            ClaimEvent::RefundSent { .. } => ClaimStep::RefundSent,
            ClaimEvent::RefundArrived { .. } => ClaimStep::RefundArrived,
            ClaimEvent::RefundFailed { .. } => ClaimStep::RefundFailed,
            ClaimEvent::RefundSucceeded => ClaimStep::RefundSucceeded,
            ClaimEvent::ReplacementShipped { .. } => ClaimStep::ReplacementShipped,
            ClaimEvent::Completed => ClaimStep::Completed,
            ClaimEvent::Closed { .. } => ClaimStep::Closed,
            ClaimEvent::Escalated { .. } => ClaimStep::Escalated,
            ClaimEvent::DisputeOpened { .. } => ClaimStep::DisputeOpened,
            ClaimEvent::DisputeMessage { .. } => ClaimStep::DisputeMessage,
            ClaimEvent::DisputeProposal { .. } => ClaimStep::DisputeProposal,
            ClaimEvent::DisputeResolved { .. } => ClaimStep::DisputeResolved,
            ClaimEvent::DisputeWithdrawn => ClaimStep::DisputeWithdrawn,
            ClaimEvent::DisputeEscalated { .. } => ClaimStep::DisputeEscalated,
            ClaimEvent::BenefitsReturned { .. } => ClaimStep::BenefitsReturned,
            ClaimEvent::CustomsUpdated { .. } => ClaimStep::CustomsUpdated,
        }
    }
}

/// Defines [`ClaimStep`] and its names from one list, so a step's name and
/// its event type (`claim.<name>`) cannot drift apart.
macro_rules! claim_steps {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The kind of a [`ClaimEvent`], without its details.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ClaimStep {
            $($variant),*
        }

        impl ClaimStep {
            pub const ALL: &[ClaimStep] = &[$(ClaimStep::$variant),*];

            /// Its name on the timeline: `approved`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ClaimStep::$variant => $name),*
                }
            }

            /// The type of its event: `claim.approved`.
            pub fn event_type(self) -> &'static str {
                match self {
                    $(ClaimStep::$variant => concat!("claim.", $name)),*
                }
            }
        }
    };
}

claim_steps! {
    Submitted => "submitted",
    ReviewStarted => "review_started",
    SecondReviewRequired => "second_review_required",
    EvidenceRequested => "evidence_requested",
    EvidenceAdded => "evidence_added",
    Approved => "approved",
    Rejected => "rejected",
    Cancelled => "cancelled",
    ReturnShipped => "return_shipped",
    ReturnReceived => "return_received",
    PickupBooked => "pickup_booked",
    ShipmentUpdated => "shipment_updated",
    ShipmentFlagged => "shipment_flagged",
    Inspected => "inspected",
    RefundStarted => "refund_started",
    RefundSent => "refund_sent",
    RefundArrived => "refund_arrived",
    RefundFailed => "refund_failed",
    RefundSucceeded => "refund_succeeded",
    ReplacementShipped => "replacement_shipped",
    Completed => "completed",
    Closed => "closed",
    Escalated => "escalated",
    DisputeOpened => "dispute_opened",
    DisputeMessage => "dispute_message",
    DisputeProposal => "dispute_proposal",
    DisputeResolved => "dispute_resolved",
    DisputeWithdrawn => "dispute_withdrawn",
    DisputeEscalated => "dispute_escalated",
    BenefitsReturned => "benefits_returned",
    CustomsUpdated => "customs_updated",
}

/// One step of a claim's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub seq: u32,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub status: ClaimStatus,
    #[serde(flatten)]
    pub event: ClaimEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("cannot {action} a claim that is {}", status.as_str())]
    IllegalTransition {
        action: &'static str,
        status: ClaimStatus,
    },
    #[error("{0}")]
    Invalid(String),
}

impl From<MoneyError> for ClaimError {
    /// Money that cannot be combined with the claim's (another currency,
    /// out of range): the claim is left as it was.
    fn from(e: MoneyError) -> Self {
        ClaimError::Invalid(e.to_string())
    }
}

/// A claim as filed, before it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    pub claim_id: ClaimId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub description: String,
    pub evidence: Vec<String>,
    pub lines: Vec<ClaimLine>,
    pub currency: super::money::Currency,
}

pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_EVIDENCE: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub claim_id: ClaimId,
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    #[serde(flatten)]
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub description: String,
    pub evidence: Vec<String>,
    pub lines: Vec<ClaimLine>,
    pub currency: super::money::Currency,
    /// What the customer asked for, in the claim's currency.
    pub requested_amount: Money,
    /// What was approved, once approved.
    pub approved_amount: Option<Money>,
    pub status: ClaimStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub timeline: Vec<TimelineEntry>,
    /// What the merchant queue sorts and filters by, fixed at submission.
    #[serde(default)]
    pub review: ReviewInfo,
    /// Where approved money goes (the customer's choice when filing).
    #[serde(default)]
    pub refund_to: super::refund::RefundRoute,
    /// Goods travelling for a return or an exchange.
    #[serde(default)]
    pub returns: super::returns::ReturnInfo,
    /// The customer's dispute of the decision, once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<super::dispute::Dispute>,
    /// A pre-sale's compensation beyond the payments (see
    /// [`super::presale`]), paid to the store balance with the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Money>,
    /// The voucher codes a virtual-goods claim gives back, each with what
    /// the issuer (or the storefront) said of it: the claim's evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vouchers: Vec<super::voucher::ClaimVoucher>,
    /// A bundle's track this claim is, and the claim with the other part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<super::bundle::BundleLink>,
    /// An appliance claim's installation records and pickup slot place
    /// (see [`super::appliance`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance: Option<super::appliance::ApplianceInfo>,
    /// A cross-border customs claim: what it gives back in parts, and the
    /// clearance as the port last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_border: Option<super::crossborder::CustomsClaim>,
}

/// A snapshot of the order facts the merchant queue needs, and the review
/// deadline, so the queue never has to load every order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReviewInfo {
    pub member_tier: super::order::MemberTier,
    pub product_kinds: Vec<super::order::ProductKind>,
    /// When the shop must have decided, from its policy and the tier.
    pub due_at: Option<DateTime<Utc>>,
    /// Set once the deadline passed undecided.
    pub escalated: bool,
    /// The order carried coupons or points (a refund gives some back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub order_benefits: bool,
    /// The goods had left the warehouse when the claim was filed (a
    /// refund-only claim then refunds goods the customer keeps).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shipped: bool,
    /// What the rules saw about the customer and the evidence when they
    /// last ran, for staff (never shown to the customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals: Option<super::standing::Signals>,
}

impl Claim {
    /// Files a claim. The ledger has already checked lines and amounts.
    pub fn submit(
        n: NewClaim,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(Claim, ClaimEvent), ClaimError> {
        if n.description.chars().count() > MAX_DESCRIPTION {
            return Err(ClaimError::Invalid(format!(
                "description is longer than {MAX_DESCRIPTION} characters"
            )));
        }
        if n.evidence.len() > MAX_EVIDENCE {
            return Err(ClaimError::Invalid(format!(
                "at most {MAX_EVIDENCE} evidence items"
            )));
        }
        if n.lines.is_empty() {
            return Err(ClaimError::Invalid(
                "a claim names at least one line".into(),
            ));
        }
        if n.lines
            .iter()
            .any(|l| l.amount.is_negative() || (l.quantity == 0 && l.weight_grams.is_none()))
        {
            return Err(ClaimError::Invalid(
                "claim lines need units and a non-negative amount".into(),
            ));
        }
        // Every line in the claim's currency.
        let amount = Money::checked_sum(n.currency, n.lines.iter().map(|l| l.amount))?;
        if n.claim_type == ClaimType::Exchange && !amount.is_zero() {
            return Err(ClaimError::Invalid(
                "an exchange moves no money: amount must be 0".into(),
            ));
        }
        let mut c = Claim {
            claim_id: n.claim_id,
            shop_id: n.shop_id,
            order_id: n.order_id,
            customer_id: n.customer_id,
            claim_type: n.claim_type,
            reason: n.reason,
            description: n.description,
            evidence: n.evidence,
            lines: n.lines,
            currency: n.currency,
            requested_amount: amount,
            approved_amount: None,
            status: ClaimStatus::Submitted,
            created_at: now,
            updated_at: now,
            timeline: Vec::new(),
            review: ReviewInfo::default(),
            refund_to: Default::default(),
            returns: Default::default(),
            dispute: None,
            compensation: None,
            vouchers: Vec::new(),
            bundle: None,
            appliance: None,
            cross_border: None,
        };
        let ev = ClaimEvent::Submitted { amount };
        c.record(ev.clone(), actor, now);
        Ok((c, ev))
    }

    fn record(&mut self, event: ClaimEvent, actor: Actor, now: DateTime<Utc>) {
        self.updated_at = now;
        self.timeline.push(TimelineEntry {
            seq: self.timeline.len() as u32 + 1,
            at: now,
            actor,
            status: self.status,
            event,
        });
    }

    /// A step beside the claim's own course (a dispute, a supplementary
    /// refund): on the timeline, the status as it is.
    pub(crate) fn note(&mut self, event: ClaimEvent, actor: Actor, now: DateTime<Utc>) {
        self.record(event, actor, now);
    }

    fn go(
        &mut self,
        action: &'static str,
        allowed: &[ClaimStatus],
        to: ClaimStatus,
        event: ClaimEvent,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        if !allowed.contains(&self.status) {
            return Err(ClaimError::IllegalTransition {
                action,
                status: self.status,
            });
        }
        self.status = to;
        self.record(event.clone(), actor, now);
        Ok(event)
    }

    pub fn start_review(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "start review of",
            &[Submitted],
            UnderReview,
            ClaimEvent::ReviewStarted,
            actor,
            now,
        )
    }

    pub fn require_second_review(
        &mut self,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "send to second review",
            &[Submitted, UnderReview],
            SecondReview,
            ClaimEvent::SecondReviewRequired { reason },
            actor,
            now,
        )
    }

    pub fn request_evidence(
        &mut self,
        note: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "request evidence for",
            &[Submitted, UnderReview, SecondReview],
            AwaitingEvidence,
            ClaimEvent::EvidenceRequested { note },
            actor,
            now,
        )
    }

    /// New evidence: a claim waiting for it goes back to be decided again.
    pub fn add_evidence(
        &mut self,
        evidence: Vec<String>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        if !self.status.is_open() || matches!(self.status, Refunding | Completed) {
            return Err(ClaimError::IllegalTransition {
                action: "add evidence to",
                status: self.status,
            });
        }
        if evidence.is_empty() {
            return Err(ClaimError::Invalid("no evidence given".into()));
        }
        if self.evidence.len() + evidence.len() > MAX_EVIDENCE {
            return Err(ClaimError::Invalid(format!(
                "at most {MAX_EVIDENCE} evidence items"
            )));
        }
        self.evidence.extend(evidence.iter().cloned());
        if self.status == AwaitingEvidence {
            self.status = Submitted;
        }
        let ev = ClaimEvent::EvidenceAdded { evidence };
        self.record(ev.clone(), actor, now);
        Ok(ev)
    }

    /// Approves `amount` (in the claim's currency, at most what was
    /// requested). Returns and exchanges then wait for the goods; refunds
    /// wait for the executor.
    pub fn approve(
        &mut self,
        amount: Option<Money>,
        reason: Option<String>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        const FROM: &[ClaimStatus] = &[Submitted, UnderReview, SecondReview, AwaitingEvidence];
        if !FROM.contains(&self.status) {
            return Err(ClaimError::IllegalTransition {
                action: "approve",
                status: self.status,
            });
        }
        let amount = amount.unwrap_or(self.requested_amount);
        if !amount.within(self.requested_amount)? {
            return Err(ClaimError::Invalid(format!(
                "approved amount must be between 0 and the requested {}",
                self.requested_amount.amount()
            )));
        }
        let to = if self.claim_type.needs_return() {
            AwaitingReturn
        } else {
            Approved
        };
        let ev = self.go(
            "approve",
            &[Submitted, UnderReview, SecondReview, AwaitingEvidence],
            to,
            ClaimEvent::Approved { amount, reason },
            actor,
            now,
        )?;
        self.approved_amount = Some(amount);
        Ok(ev)
    }

    pub fn reject(
        &mut self,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        const FROM: &[ClaimStatus] = &[Submitted, UnderReview, SecondReview, AwaitingEvidence];
        if !FROM.contains(&self.status) {
            return Err(ClaimError::IllegalTransition {
                action: "reject",
                status: self.status,
            });
        }
        if reason.trim().is_empty() {
            return Err(ClaimError::Invalid("a rejection needs a reason".into()));
        }
        self.go(
            "reject",
            FROM,
            Rejected,
            ClaimEvent::Rejected { reason },
            actor,
            now,
        )
    }

    /// The customer withdraws the claim: possible until money or goods move.
    pub fn cancel(&mut self, actor: Actor, now: DateTime<Utc>) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "cancel",
            &[
                Submitted,
                UnderReview,
                SecondReview,
                AwaitingEvidence,
                Approved,
                AwaitingReturn,
            ],
            Cancelled,
            ClaimEvent::Cancelled,
            actor,
            now,
        )
    }

    pub fn ship_return(
        &mut self,
        carrier: String,
        tracking_number: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "ship the return of",
            &[AwaitingReturn],
            ReturnShipped,
            ClaimEvent::ReturnShipped {
                carrier,
                tracking_number,
            },
            actor,
            now,
        )
    }

    pub fn receive_return(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "receive the return of",
            &[AwaitingReturn, ReturnShipped],
            ReturnReceived,
            ClaimEvent::ReturnReceived,
            actor,
            now,
        )
    }

    /// Money starts moving: a refund-type claim once approved, a return once
    /// its goods are received.
    /// A fast refund: the money of an approved return starts back before
    /// the goods arrive (see [`crate::domain::fast_track`]).
    pub fn start_fast_refund(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        if !(self.claim_type.refunds() && self.claim_type.needs_return()) {
            return Err(ClaimError::IllegalTransition {
                action: "refund early",
                status: self.status,
            });
        }
        let ev = self.go(
            "refund early",
            &[AwaitingReturn, ReturnShipped, ReturnReceived],
            Refunding,
            ClaimEvent::RefundStarted,
            actor,
            now,
        )?;
        self.returns.fast_refund = true;
        Ok(ev)
    }

    pub fn start_refund(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        if !self.claim_type.refunds() {
            return Err(ClaimError::IllegalTransition {
                action: "refund",
                status: self.status,
            });
        }
        let from: &[ClaimStatus] = if self.claim_type.needs_return() {
            &[ReturnReceived, RefundFailed]
        } else {
            &[Approved, RefundFailed]
        };
        self.go(
            "refund",
            from,
            Refunding,
            ClaimEvent::RefundStarted,
            actor,
            now,
        )
    }

    /// Books the return's door-to-door pickup (while the goods are still
    /// with the customer); rebooking replaces the earlier booking. The
    /// shop's courier collects the goods at the shop's cost, so the
    /// customer has no parcel to be paid back for: the return terms keep
    /// who pays, but add no return shipping to the refund.
    pub fn book_pickup(
        &mut self,
        booking: super::returns::PickupBooking,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        let ev = self.go(
            "book a pickup for",
            &[ClaimStatus::AwaitingReturn],
            ClaimStatus::AwaitingReturn,
            ClaimEvent::PickupBooked {
                date: booking.date,
                slot: booking.slot.clone(),
            },
            actor,
            now,
        )?;
        self.returns.pickup = Some(booking);
        if let Some(terms) = self.returns.terms.as_mut() {
            terms.shipping_refund = Money::zero(terms.shipping_refund.currency());
        }
        Ok(ev)
    }

    /// Notes what the courier said about a parcel ([`ClaimEvent::ShipmentUpdated`]
    /// or [`ClaimEvent::ShipmentFlagged`]); the status stays.
    pub fn note_shipment(
        &mut self,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        if !matches!(
            event,
            ClaimEvent::ShipmentUpdated { .. } | ClaimEvent::ShipmentFlagged { .. }
        ) {
            return Err(ClaimError::Invalid(format!(
                "{} is not courier news",
                event.name()
            )));
        }
        if !self.status.is_open() {
            return Err(ClaimError::IllegalTransition {
                action: "note a parcel on",
                status: self.status,
            });
        }
        let from = self.status;
        self.go("note a parcel on", &[from], from, event, Actor::System, now)
    }

    /// Notes the clearance port's news of a customs claim's parcel when it
    /// moves the clearance on (a [`ClaimEvent::CustomsUpdated`] step, the
    /// status staying); None for old or repeated news.
    pub fn note_customs(
        &mut self,
        news: super::crossborder::Clearance,
        now: DateTime<Utc>,
    ) -> Result<Option<ClaimEvent>, ClaimError> {
        let Some(xb) = self.cross_border.as_ref() else {
            return Err(ClaimError::Invalid(
                "not a cross-border customs claim".into(),
            ));
        };
        if !super::crossborder::Clearance::follows(xb.clearance.as_ref(), &news) {
            return Ok(None);
        }
        if !self.status.is_open() {
            return Err(ClaimError::IllegalTransition {
                action: "note customs news on",
                status: self.status,
            });
        }
        let event = ClaimEvent::CustomsUpdated {
            clearance: news.status,
            reason: news.reason.clone(),
            return_tracking: news
                .return_shipment
                .as_ref()
                .map(|r| format!("{} {}", r.carrier, r.tracking_number)),
        };
        let from = self.status;
        let ev = self.go(
            "note customs news on",
            &[from],
            from,
            event,
            Actor::System,
            now,
        )?;
        if let Some(xb) = self.cross_border.as_mut() {
            xb.clearance = Some(news);
        }
        Ok(Some(ev))
    }

    /// Records the receipt and inspection of returned goods (receiving them
    /// first if nobody has yet). A fast exchange's goods arrive after its
    /// replacement left (or arrived): they are received and inspected
    /// without changing its status.
    pub fn inspect(
        &mut self,
        report: super::returns::Inspection,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimEvent>, ClaimError> {
        use ClaimStatus::*;
        if self.returns.inspection.is_some() {
            return Err(ClaimError::Invalid(
                "this claim's goods were already inspected".into(),
            ));
        }
        let from = self.status;
        let early = (self.returns.fast_exchange && matches!(from, ReplacementShipped | Completed))
            || (self.returns.fast_refund && matches!(from, Refunding | RefundFailed | Completed));
        if early {
            let received = self.go(
                "receive the return of",
                &[from],
                from,
                ClaimEvent::ReturnReceived,
                actor.clone(),
                now,
            )?;
            let inspected = self.go(
                "inspect",
                &[from],
                from,
                ClaimEvent::Inspected {
                    decision: report.decision.clone(),
                    notes: report.notes.clone(),
                    photos: report.photos.clone(),
                },
                actor,
                now,
            )?;
            self.returns.inspection = Some(report);
            return Ok(vec![received, inspected]);
        }
        let mut events = Vec::new();
        if self.status != ReturnReceived {
            events.push(self.receive_return(actor.clone(), now)?);
        }
        events.push(self.go(
            "inspect",
            &[ReturnReceived],
            ReturnReceived,
            ClaimEvent::Inspected {
                decision: report.decision.clone(),
                notes: report.notes.clone(),
                photos: report.photos.clone(),
            },
            actor,
            now,
        )?);
        self.returns.inspection = Some(report);
        Ok(events)
    }

    /// Rejects returned goods that failed inspection.
    pub fn reject_after_inspection(
        &mut self,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "reject",
            &[ReturnReceived],
            Rejected,
            ClaimEvent::Rejected { reason },
            actor,
            now,
        )
    }

    /// Lowers the approved amount after an inspection (never raises it).
    pub fn lower_approved(&mut self, amount: Money) -> Result<(), ClaimError> {
        let approved = self.approved_amount.unwrap_or(self.requested_amount);
        if !amount.within(approved)? {
            return Err(ClaimError::Invalid(format!(
                "the amount must be between 0 and the approved {}",
                approved.amount()
            )));
        }
        self.approved_amount = Some(amount);
        Ok(())
    }

    /// Notes a refund's progress ([`ClaimEvent::RefundSent`] or
    /// [`ClaimEvent::RefundArrived`]) on the timeline of a claim whose money
    /// is moving (or one of whose refunds failed); the status stays.
    pub fn note_refund(
        &mut self,
        event: ClaimEvent,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        if !matches!(
            event,
            ClaimEvent::RefundSent { .. } | ClaimEvent::RefundArrived { .. }
        ) {
            return Err(ClaimError::Invalid(format!(
                "{} is not refund progress",
                event.name()
            )));
        }
        // A sibling refund can still arrive after another one failed.
        let from = self.status;
        let allowed: &[ClaimStatus] = match from {
            ClaimStatus::Refunding | ClaimStatus::RefundFailed => &[from],
            _ => &[],
        };
        self.go("note a refund on", allowed, from, event, Actor::System, now)
    }

    pub fn refund_failed(
        &mut self,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "fail the refund of",
            &[Refunding],
            RefundFailed,
            ClaimEvent::RefundFailed { reason },
            actor,
            now,
        )
    }

    /// The money arrived: the claim is done.
    pub fn refund_succeeded(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "complete the refund of",
            &[Refunding],
            Completed,
            ClaimEvent::RefundSucceeded,
            actor,
            now,
        )
    }

    pub fn ship_replacement(
        &mut self,
        carrier: String,
        tracking_number: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        if self.claim_type != ClaimType::Exchange {
            return Err(ClaimError::IllegalTransition {
                action: "ship a replacement for",
                status: self.status,
            });
        }
        // From AwaitingReturn only as a fast exchange, before the goods come back.
        self.go(
            "ship a replacement for",
            &[AwaitingReturn, ReturnShipped, ReturnReceived],
            ReplacementShipped,
            ClaimEvent::ReplacementShipped {
                carrier,
                tracking_number,
            },
            actor,
            now,
        )
    }

    pub fn replacement_delivered(
        &mut self,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        self.go(
            "complete",
            &[ReplacementShipped],
            Completed,
            ClaimEvent::Completed,
            actor,
            now,
        )
    }

    /// Staff or the system close a claim that will go no further.
    pub fn close(
        &mut self,
        reason: String,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<ClaimEvent, ClaimError> {
        // A rejected claim already gave its ledger entry back; closing it
        // would give it back twice.
        if !self.status.is_open() || self.status == ClaimStatus::Refunding {
            return Err(ClaimError::IllegalTransition {
                action: "close",
                status: self.status,
            });
        }
        let from = self.status;
        self.go(
            "close",
            &[from],
            ClaimStatus::Closed,
            ClaimEvent::Closed { reason },
            actor,
            now,
        )
    }

    /// Marks an undecided claim as past its review deadline (once).
    pub fn escalate(&mut self, actor: Actor, now: DateTime<Utc>) -> Result<ClaimEvent, ClaimError> {
        use ClaimStatus::*;
        let Some(due_at) = self.review.due_at else {
            return Err(ClaimError::Invalid(
                "this claim has no review deadline".into(),
            ));
        };
        if self.review.escalated || due_at > now {
            return Err(ClaimError::Invalid(
                "not overdue, or already escalated".into(),
            ));
        }
        let from = self.status;
        let ev = self.go(
            "escalate",
            &[Submitted, UnderReview, SecondReview],
            from,
            ClaimEvent::Escalated { due_at },
            actor,
            now,
        )?;
        self.review.escalated = true;
        Ok(ev)
    }

    /// Whether this claim still holds its ledger entry after `status`.
    pub fn releases_ledger(event: &ClaimEvent) -> bool {
        matches!(
            event,
            ClaimEvent::Cancelled | ClaimEvent::Rejected { .. } | ClaimEvent::Closed { .. }
        )
    }

    pub fn line_requests(&self) -> Vec<LineRequest> {
        self.lines
            .iter()
            .map(|l| LineRequest {
                line_id: l.line_id.clone(),
                quantity: l.quantity,
                weight_grams: l.weight_grams,
            })
            .collect()
    }
}
