//! The claim state machine, driven from the outside.
//!
//! Every claim here is built the way production builds it: `Claim::submit`
//! and then legal commands only (the one exception, `forced_status_table`,
//! says so). The heart of the file is the transition table: for every claim
//! type, every status that type can reach and every command, the command is
//! either legal (and then it moves the claim exactly as the rules in
//! `claim.rs` say, appending one timeline entry) or illegal (and then it
//! returns `ClaimError::IllegalTransition` and leaves the claim exactly as it
//! was).

use aftersales::domain::claim::*;
use aftersales::domain::money::{Currency, Money};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A fixed clock: minute `n` after the claim was filed.
fn t(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + Duration::minutes(n)
}

/// The time of the next step of `c`: one minute per timeline entry, so every
/// entry has its own, strictly increasing, time.
fn next_time(c: &Claim) -> DateTime<Utc> {
    t(c.timeline.len() as i64)
}

fn customer() -> Actor {
    Actor::Customer {
        id: "cust-1".into(),
    }
}
fn staff() -> Actor {
    Actor::Staff {
        id: "staff-7".into(),
    }
}
fn admin() -> Actor {
    Actor::Staff {
        id: "admin-1".into(),
    }
}
fn rule() -> Actor {
    Actor::Rule {
        rule_id: "auto-approve-small".into(),
        version: 3,
    }
}
fn system() -> Actor {
    Actor::System
}

const REFUND_ONLY: ClaimType = ClaimType::RefundOnly;
const RETURN_REFUND: ClaimType = ClaimType::ReturnRefund;
const EXCHANGE: ClaimType = ClaimType::Exchange;
const SPECIAL: ClaimType = ClaimType::SpecialClaim {
    kind: SpecialKind::FreshSpoilage,
};
const TYPES: [ClaimType; 4] = [REFUND_ONLY, RETURN_REFUND, EXCHANGE, SPECIAL];

const ALL_SPECIAL_KINDS: [SpecialKind; 6] = [
    SpecialKind::FreshSpoilage,
    SpecialKind::ApplianceRepair,
    SpecialKind::CrossBorderCustoms,
    SpecialKind::VirtualUnused,
    SpecialKind::PreSaleCompensation,
    SpecialKind::MissingItem,
];

/// What a refund-type claim asks for in the fixtures: 100.00 CNY.
const REQUESTED: Money = cny(10_000);

/// `minor` fen.
const fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Cny)
}

/// What claim.rs does today: `Rejected` is not final, so `close` accepts a
/// rejected claim. Looks like a bug (see
/// `closing_a_rejected_claim_releases_the_ledger_twice`); if claim.rs is
/// changed to refuse it, flip this and the whole table follows.
const REJECTED_CAN_BE_CLOSED: bool = false;

const ALL_STATUSES: [ClaimStatus; 15] = [
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

/// Fails to compile when a status is added without being added to
/// `ALL_STATUSES` (and so to the transition table).
#[allow(dead_code)]
fn all_statuses_is_exhaustive(s: ClaimStatus) -> usize {
    match s {
        ClaimStatus::Submitted => 0,
        ClaimStatus::UnderReview => 1,
        ClaimStatus::SecondReview => 2,
        ClaimStatus::AwaitingEvidence => 3,
        ClaimStatus::Approved => 4,
        ClaimStatus::AwaitingReturn => 5,
        ClaimStatus::ReturnShipped => 6,
        ClaimStatus::ReturnReceived => 7,
        ClaimStatus::Refunding => 8,
        ClaimStatus::RefundFailed => 9,
        ClaimStatus::ReplacementShipped => 10,
        ClaimStatus::Rejected => 11,
        ClaimStatus::Completed => 12,
        ClaimStatus::Cancelled => 13,
        ClaimStatus::Closed => 14,
    }
}

fn lines_for(ty: ClaimType) -> Vec<ClaimLine> {
    // An exchange moves no money; everything else asks for 60.00 + 40.00.
    let (a, b) = if ty == EXCHANGE {
        (0, 0)
    } else {
        (6_000, 4_000)
    };
    vec![
        ClaimLine {
            line_id: "L1".into(),
            quantity: 2,
            amount: cny(a),
            weight_grams: None,
        },
        ClaimLine {
            line_id: "L2".into(),
            quantity: 1,
            amount: cny(b),
            weight_grams: None,
        },
    ]
}

fn new_claim(ty: ClaimType) -> NewClaim {
    NewClaim {
        claim_id: "clm-1".into(),
        shop_id: "shop-1".into(),
        order_id: "ord-1".into(),
        customer_id: "cust-1".into(),
        claim_type: ty,
        reason: ReasonCode::Defective,
        description: "the kettle does not heat".into(),
        evidence: vec!["photo-1.jpg".into()],
        lines: lines_for(ty),
        currency: Currency::Cny,
    }
}

fn submitted(ty: ClaimType) -> Claim {
    let (c, ev) =
        Claim::submit(new_claim(ty), customer(), t(0)).expect("a valid claim is accepted");
    assert_eq!(
        ev,
        ClaimEvent::Submitted {
            amount: c.requested_amount
        }
    );
    c
}

fn expected_requested(ty: ClaimType) -> Money {
    if ty == EXCHANGE {
        cny(0)
    } else {
        REQUESTED
    }
}

// ---------------------------------------------------------------------------
// Commands, as data
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    StartReview,
    RequireSecondReview,
    RequestEvidence,
    AddEvidence,
    Approve,
    Reject,
    Cancel,
    ShipReturn,
    ReceiveReturn,
    StartRefund,
    RefundFailed,
    RefundSucceeded,
    ShipReplacement,
    ReplacementDelivered,
    Close,
}

const ALL_CMDS: [Cmd; 15] = [
    Cmd::StartReview,
    Cmd::RequireSecondReview,
    Cmd::RequestEvidence,
    Cmd::AddEvidence,
    Cmd::Approve,
    Cmd::Reject,
    Cmd::Cancel,
    Cmd::ShipReturn,
    Cmd::ReceiveReturn,
    Cmd::StartRefund,
    Cmd::RefundFailed,
    Cmd::RefundSucceeded,
    Cmd::ShipReplacement,
    Cmd::ReplacementDelivered,
    Cmd::Close,
];

/// Who would typically issue each command.
fn actor_for(cmd: Cmd) -> Actor {
    match cmd {
        Cmd::AddEvidence | Cmd::Cancel | Cmd::ShipReturn => customer(),
        Cmd::RequireSecondReview => rule(),
        Cmd::StartRefund | Cmd::RefundFailed | Cmd::RefundSucceeded | Cmd::ReplacementDelivered => {
            system()
        }
        _ => staff(),
    }
}

/// Runs `cmd` with fixed, valid arguments (approve: the full requested
/// amount; reject: a non-blank reason; one evidence item).
fn apply(
    c: &mut Claim,
    cmd: Cmd,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<ClaimEvent, ClaimError> {
    match cmd {
        Cmd::StartReview => c.start_review(actor, now),
        Cmd::RequireSecondReview => c.require_second_review("amount above 500".into(), actor, now),
        Cmd::RequestEvidence => {
            c.request_evidence("please send a photo of the label".into(), actor, now)
        }
        Cmd::AddEvidence => c.add_evidence(vec!["label.jpg".into()], actor, now),
        Cmd::Approve => c.approve(None, None, actor, now),
        Cmd::Reject => c.reject("outside the return window".into(), actor, now),
        Cmd::Cancel => c.cancel(actor, now),
        Cmd::ShipReturn => c.ship_return("SF".into(), "SF1234567890".into(), actor, now),
        Cmd::ReceiveReturn => c.receive_return(actor, now),
        Cmd::StartRefund => c.start_refund(actor, now),
        Cmd::RefundFailed => c.refund_failed("provider declined".into(), actor, now),
        Cmd::RefundSucceeded => c.refund_succeeded(actor, now),
        Cmd::ShipReplacement => c.ship_replacement("ZTO".into(), "ZTO987".into(), actor, now),
        Cmd::ReplacementDelivered => c.replacement_delivered(actor, now),
        Cmd::Close => c.close("no reply from the customer for 7 days".into(), actor, now),
    }
}

/// The event `apply` must produce when `cmd` is legal on `before`.
fn expected_event(cmd: Cmd, before: &Claim) -> ClaimEvent {
    match cmd {
        Cmd::StartReview => ClaimEvent::ReviewStarted,
        Cmd::RequireSecondReview => ClaimEvent::SecondReviewRequired {
            reason: "amount above 500".into(),
        },
        Cmd::RequestEvidence => ClaimEvent::EvidenceRequested {
            note: "please send a photo of the label".into(),
        },
        Cmd::AddEvidence => ClaimEvent::EvidenceAdded {
            evidence: vec!["label.jpg".into()],
        },
        Cmd::Approve => ClaimEvent::Approved {
            amount: before.requested_amount,
            reason: None,
        },
        Cmd::Reject => ClaimEvent::Rejected {
            reason: "outside the return window".into(),
        },
        Cmd::Cancel => ClaimEvent::Cancelled,
        Cmd::ShipReturn => ClaimEvent::ReturnShipped {
            carrier: "SF".into(),
            tracking_number: "SF1234567890".into(),
        },
        Cmd::ReceiveReturn => ClaimEvent::ReturnReceived,
        Cmd::StartRefund => ClaimEvent::RefundStarted,
        Cmd::RefundFailed => ClaimEvent::RefundFailed {
            reason: "provider declined".into(),
        },
        Cmd::RefundSucceeded => ClaimEvent::RefundSucceeded,
        Cmd::ShipReplacement => ClaimEvent::ReplacementShipped {
            carrier: "ZTO".into(),
            tracking_number: "ZTO987".into(),
        },
        Cmd::ReplacementDelivered => ClaimEvent::Completed,
        Cmd::Close => ClaimEvent::Closed {
            reason: "no reply from the customer for 7 days".into(),
        },
    }
}

/// The `action` an illegal `cmd` reports in `ClaimError::IllegalTransition`.
fn action_of(cmd: Cmd) -> &'static str {
    match cmd {
        Cmd::StartReview => "start review of",
        Cmd::RequireSecondReview => "send to second review",
        Cmd::RequestEvidence => "request evidence for",
        Cmd::AddEvidence => "add evidence to",
        Cmd::Approve => "approve",
        Cmd::Reject => "reject",
        Cmd::Cancel => "cancel",
        Cmd::ShipReturn => "ship the return of",
        Cmd::ReceiveReturn => "receive the return of",
        Cmd::StartRefund => "refund",
        Cmd::RefundFailed => "fail the refund of",
        Cmd::RefundSucceeded => "complete the refund of",
        Cmd::ShipReplacement => "ship a replacement for",
        Cmd::ReplacementDelivered => "complete",
        Cmd::Close => "close",
    }
}

// ---------------------------------------------------------------------------
// The rules, written out independently of claim.rs
// ---------------------------------------------------------------------------

/// Where `cmd` takes a claim of type `ty` in status `from`, or `None` when
/// the command is illegal there.
fn expected(ty: ClaimType, from: ClaimStatus, cmd: Cmd) -> Option<ClaimStatus> {
    use ClaimStatus::*;
    let deciding = matches!(
        from,
        Submitted | UnderReview | SecondReview | AwaitingEvidence
    );
    match cmd {
        Cmd::StartReview => (from == Submitted).then_some(UnderReview),
        Cmd::RequireSecondReview => matches!(from, Submitted | UnderReview).then_some(SecondReview),
        Cmd::RequestEvidence => {
            matches!(from, Submitted | UnderReview | SecondReview).then_some(AwaitingEvidence)
        }
        // Evidence may be added while the claim is alive and money is not
        // moving; a claim waiting for it goes back to be decided again.
        Cmd::AddEvidence => match from {
            Rejected | Completed | Cancelled | Closed | Refunding => None,
            AwaitingEvidence => Some(Submitted),
            other => Some(other),
        },
        Cmd::Approve => deciding.then_some(if ty == RETURN_REFUND || ty == EXCHANGE {
            AwaitingReturn
        } else {
            Approved
        }),
        Cmd::Reject => deciding.then_some(Rejected),
        Cmd::Cancel => (deciding || matches!(from, Approved | AwaitingReturn)).then_some(Cancelled),
        Cmd::ShipReturn => (from == AwaitingReturn).then_some(ReturnShipped),
        Cmd::ReceiveReturn => {
            matches!(from, AwaitingReturn | ReturnShipped).then_some(ReturnReceived)
        }
        Cmd::StartRefund => {
            let ok = match ty {
                ClaimType::Exchange => false,
                ClaimType::ReturnRefund => matches!(from, ReturnReceived | RefundFailed),
                ClaimType::RefundOnly | ClaimType::SpecialClaim { .. } => {
                    matches!(from, Approved | RefundFailed)
                }
            };
            ok.then_some(Refunding)
        }
        Cmd::RefundFailed => (from == Refunding).then_some(RefundFailed),
        Cmd::RefundSucceeded => (from == Refunding).then_some(Completed),
        Cmd::ShipReplacement => (ty == EXCHANGE
            && matches!(from, AwaitingReturn | ReturnShipped | ReturnReceived))
        .then_some(ReplacementShipped),
        Cmd::ReplacementDelivered => (from == ReplacementShipped).then_some(Completed),
        Cmd::Close => {
            let ok = match from {
                Completed | Cancelled | Closed | Refunding => false,
                Rejected => REJECTED_CAN_BE_CLOSED,
                _ => true,
            };
            ok.then_some(Closed)
        }
    }
}

/// The statuses a claim of type `ty` can reach from submission.
fn reachable(ty: ClaimType) -> BTreeSet<&'static str> {
    use ClaimStatus::*;
    let common = [
        Submitted,
        UnderReview,
        SecondReview,
        AwaitingEvidence,
        Rejected,
        Completed,
        Cancelled,
        Closed,
    ];
    let specific: &[ClaimStatus] = match ty {
        ClaimType::RefundOnly | ClaimType::SpecialClaim { .. } => {
            &[Approved, Refunding, RefundFailed]
        }
        ClaimType::ReturnRefund => &[
            AwaitingReturn,
            ReturnShipped,
            ReturnReceived,
            Refunding,
            RefundFailed,
        ],
        ClaimType::Exchange => &[
            AwaitingReturn,
            ReturnShipped,
            ReturnReceived,
            ReplacementShipped,
        ],
    };
    common.iter().chain(specific).map(|s| s.as_str()).collect()
}

/// A legal route from submission to `target` for a claim of type `ty`, or
/// `None` when that type never gets there.
fn route(ty: ClaimType, target: ClaimStatus) -> Option<Vec<Cmd>> {
    use ClaimStatus::*;
    use Cmd::*;
    let returns = ty == RETURN_REFUND || ty == EXCHANGE;
    let r = match target {
        Submitted => vec![],
        UnderReview => vec![StartReview],
        SecondReview => vec![StartReview, RequireSecondReview],
        AwaitingEvidence => vec![StartReview, RequestEvidence],
        Approved if !returns => vec![StartReview, Approve],
        AwaitingReturn if returns => vec![Approve],
        ReturnShipped if returns => vec![Approve, ShipReturn],
        ReturnReceived if returns => vec![Approve, ShipReturn, ReceiveReturn],
        Refunding if ty == RETURN_REFUND => vec![Approve, ShipReturn, ReceiveReturn, StartRefund],
        Refunding if !returns => vec![Approve, StartRefund],
        ClaimStatus::RefundFailed if ty == RETURN_REFUND => {
            vec![
                Approve,
                ShipReturn,
                ReceiveReturn,
                StartRefund,
                Cmd::RefundFailed,
            ]
        }
        ClaimStatus::RefundFailed if !returns => vec![Approve, StartRefund, Cmd::RefundFailed],
        ReplacementShipped if ty == EXCHANGE => {
            vec![Approve, ShipReturn, ReceiveReturn, ShipReplacement]
        }
        Rejected => vec![StartReview, Reject],
        Completed if ty == EXCHANGE => vec![
            Approve,
            ShipReturn,
            ReceiveReturn,
            ShipReplacement,
            ReplacementDelivered,
        ],
        Completed if ty == RETURN_REFUND => vec![
            Approve,
            ShipReturn,
            ReceiveReturn,
            StartRefund,
            RefundSucceeded,
        ],
        Completed => vec![Approve, StartRefund, RefundSucceeded],
        Cancelled => vec![Cancel],
        Closed => vec![StartReview, Close],
        _ => return None,
    };
    Some(r)
}

/// Submits a claim of type `ty` and drives it to `target` by legal commands,
/// checking every step.
fn drive(ty: ClaimType, target: ClaimStatus) -> Claim {
    let cmds =
        route(ty, target).unwrap_or_else(|| panic!("{ty:?} never reaches {}", target.as_str()));
    let mut c = submitted(ty);
    for cmd in cmds {
        let now = next_time(&c);
        apply(&mut c, cmd, actor_for(cmd), now)
            .unwrap_or_else(|e| panic!("{ty:?}: {cmd:?} on the way to {}: {e}", target.as_str()));
    }
    assert_eq!(c.status, target, "{ty:?}: route to {}", target.as_str());
    c
}

/// Runs `cmd` on a copy of `before` and checks the outcome against the rules.
/// Returns whether it was legal.
fn check_command(before: &Claim, cmd: Cmd) -> bool {
    let ty = before.claim_type;
    let from = before.status;
    let ctx = format!("{ty:?} in {}: {cmd:?}", from.as_str());
    let mut c = before.clone();
    let now = next_time(before);
    let actor = actor_for(cmd);
    let res = apply(&mut c, cmd, actor.clone(), now);
    match expected(ty, from, cmd) {
        Some(to) => {
            let ev = res.unwrap_or_else(|e| panic!("{ctx}: expected legal, got {e:?}"));
            assert_eq!(ev, expected_event(cmd, before), "{ctx}: event");
            assert_eq!(c.status, to, "{ctx}: status");
            assert_eq!(
                Claim::releases_ledger(&ev),
                matches!(
                    to,
                    ClaimStatus::Rejected | ClaimStatus::Cancelled | ClaimStatus::Closed
                ),
                "{ctx}: releases_ledger agrees with the status reached"
            );
            // Exactly one entry appended, the history untouched.
            let n = before.timeline.len();
            assert_eq!(c.timeline.len(), n + 1, "{ctx}: one timeline entry");
            assert_eq!(c.timeline[..n], before.timeline[..], "{ctx}: history kept");
            let entry = TimelineEntry {
                seq: n as u32 + 1,
                at: now,
                actor,
                status: to,
                event: ev.clone(),
            };
            assert_eq!(c.timeline[n], entry, "{ctx}: timeline entry");
            // Nothing else moved but what the command is about.
            let mut want = before.clone();
            want.status = to;
            want.updated_at = now;
            want.timeline.push(entry);
            match cmd {
                Cmd::Approve => want.approved_amount = Some(before.requested_amount),
                Cmd::AddEvidence => want.evidence.push("label.jpg".into()),
                _ => {}
            }
            assert_eq!(c, want, "{ctx}: whole claim");
            true
        }
        None => {
            assert_eq!(
                res,
                Err(ClaimError::IllegalTransition {
                    action: action_of(cmd),
                    status: from,
                }),
                "{ctx}: expected illegal"
            );
            assert_eq!(
                &c, before,
                "{ctx}: an illegal command leaves the claim as it was"
            );
            false
        }
    }
}

fn statuses(c: &Claim) -> Vec<ClaimStatus> {
    c.timeline.iter().map(|e| e.status).collect()
}

fn event_names(c: &Claim) -> Vec<&'static str> {
    c.timeline.iter().map(|e| e.event.name()).collect()
}

/// Seqs run 1, 2, 3, …; times never go back; `updated_at` is the last step;
/// the status is the last recorded one.
fn assert_timeline_consistent(c: &Claim) {
    assert!(!c.timeline.is_empty());
    for (i, e) in c.timeline.iter().enumerate() {
        assert_eq!(e.seq, i as u32 + 1, "seq of entry {i}");
    }
    for w in c.timeline.windows(2) {
        assert!(w[0].at <= w[1].at, "timeline times never go back");
    }
    assert_eq!(
        c.timeline[0].event,
        ClaimEvent::Submitted {
            amount: c.requested_amount
        }
    );
    assert_eq!(c.timeline[0].at, c.created_at);
    assert_eq!(c.timeline.last().unwrap().at, c.updated_at);
    assert_eq!(c.timeline.last().unwrap().status, c.status);
}

fn assert_illegal(c: &mut Claim, cmd: Cmd) {
    let before = c.clone();
    let now = next_time(c);
    let res = apply(c, cmd, actor_for(cmd), now);
    assert_eq!(
        res,
        Err(ClaimError::IllegalTransition {
            action: action_of(cmd),
            status: before.status,
        }),
        "{cmd:?} on {}",
        before.status.as_str()
    );
    assert_eq!(*c, before);
}

fn assert_invalid(res: Result<ClaimEvent, ClaimError>, c: &Claim, before: &Claim, needle: &str) {
    match res {
        Err(ClaimError::Invalid(msg)) => assert!(
            msg.contains(needle),
            "message {msg:?} should mention {needle:?}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(c, before, "an invalid command leaves the claim as it was");
}

// ---------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------

#[test]
fn submit_records_the_claim_and_its_first_timeline_entry() {
    for ty in TYPES {
        let n = new_claim(ty);
        let (c, ev) = Claim::submit(n.clone(), customer(), t(0)).unwrap();
        let amount = expected_requested(ty);
        assert_eq!(ev, ClaimEvent::Submitted { amount });
        assert_eq!(c.claim_id, n.claim_id);
        assert_eq!(c.shop_id, n.shop_id);
        assert_eq!(c.order_id, n.order_id);
        assert_eq!(c.customer_id, n.customer_id);
        assert_eq!(c.claim_type, ty);
        assert_eq!(c.reason, ReasonCode::Defective);
        assert_eq!(c.description, n.description);
        assert_eq!(c.evidence, n.evidence);
        assert_eq!(c.lines, n.lines);
        assert_eq!(c.currency, Currency::Cny);
        assert_eq!(c.requested_amount, amount, "the sum of the lines");
        assert_eq!(c.approved_amount, None);
        assert_eq!(c.status, ClaimStatus::Submitted);
        assert_eq!(c.created_at, t(0));
        assert_eq!(c.updated_at, t(0));
        assert_eq!(
            c.timeline,
            vec![TimelineEntry {
                seq: 1,
                at: t(0),
                actor: customer(),
                status: ClaimStatus::Submitted,
                event: ev,
            }]
        );
        assert!(c.status.is_open());
        assert_timeline_consistent(&c);
    }
}

#[test]
fn submit_accepts_the_limits_exactly() {
    // Characters, not bytes: 2000 three-byte characters are fine.
    let mut n = new_claim(REFUND_ONLY);
    n.description = "坏".repeat(MAX_DESCRIPTION);
    assert!(n.description.len() > MAX_DESCRIPTION);
    n.evidence = (0..MAX_EVIDENCE).map(|i| format!("e{i}.jpg")).collect();
    let (c, _) = Claim::submit(n, customer(), t(0)).unwrap();
    assert_eq!(c.description.chars().count(), MAX_DESCRIPTION);
    assert_eq!(c.evidence.len(), MAX_EVIDENCE);

    // Empty description and no evidence are fine too.
    let mut n = new_claim(REFUND_ONLY);
    n.description.clear();
    n.evidence.clear();
    assert!(Claim::submit(n, customer(), t(0)).is_ok());
}

#[test]
fn submit_refuses_a_too_long_description() {
    for desc in [
        "x".repeat(MAX_DESCRIPTION + 1),
        "坏".repeat(MAX_DESCRIPTION + 1),
    ] {
        let mut n = new_claim(RETURN_REFUND);
        n.description = desc;
        match Claim::submit(n, customer(), t(0)) {
            Err(ClaimError::Invalid(msg)) => assert!(msg.contains("description"), "{msg}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn submit_refuses_too_many_evidence_items() {
    let mut n = new_claim(REFUND_ONLY);
    n.evidence = (0..=MAX_EVIDENCE).map(|i| format!("e{i}.jpg")).collect();
    match Claim::submit(n, customer(), t(0)) {
        Err(ClaimError::Invalid(msg)) => assert!(msg.contains("evidence"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn submit_refuses_a_claim_without_lines() {
    for ty in TYPES {
        let mut n = new_claim(ty);
        n.lines.clear();
        match Claim::submit(n, customer(), t(0)) {
            Err(ClaimError::Invalid(msg)) => assert!(msg.contains("line"), "{msg}"),
            other => panic!("{ty:?}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn submit_refuses_an_exchange_that_moves_money() {
    let mut n = new_claim(EXCHANGE);
    n.lines[1].amount = cny(1);
    match Claim::submit(n, customer(), t(0)) {
        Err(ClaimError::Invalid(msg)) => assert!(msg.contains("exchange"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // The same lines with money are fine for every other type.
    for ty in [REFUND_ONLY, RETURN_REFUND, SPECIAL] {
        let mut n = new_claim(ty);
        n.lines = lines_for(REFUND_ONLY);
        assert_eq!(
            Claim::submit(n, customer(), t(0))
                .unwrap()
                .0
                .requested_amount,
            REQUESTED
        );
    }
    // And an exchange with no money is fine.
    let c = submitted(EXCHANGE);
    assert_eq!(c.requested_amount, cny(0));
}

// ---------------------------------------------------------------------------
// Happy paths
// ---------------------------------------------------------------------------

#[test]
fn refund_only_happy_path() {
    let mut c = submitted(REFUND_ONLY);
    assert_eq!(
        c.approve(None, None, rule(), t(1)).unwrap(),
        ClaimEvent::Approved {
            amount: REQUESTED,
            reason: None
        }
    );
    assert_eq!(c.status, ClaimStatus::Approved);
    assert_eq!(c.approved_amount, Some(REQUESTED));
    assert_eq!(
        c.start_refund(system(), t(2)).unwrap(),
        ClaimEvent::RefundStarted
    );
    assert_eq!(c.status, ClaimStatus::Refunding);
    assert_eq!(
        c.refund_succeeded(system(), t(3)).unwrap(),
        ClaimEvent::RefundSucceeded
    );
    assert_eq!(c.status, ClaimStatus::Completed);
    assert!(c.status.is_final());
    assert!(!c.status.is_open());

    use ClaimStatus::*;
    assert_eq!(statuses(&c), [Submitted, Approved, Refunding, Completed]);
    assert_eq!(
        event_names(&c),
        [
            "submitted",
            "approved",
            "refund_started",
            "refund_succeeded"
        ]
    );
    let actors: Vec<Actor> = c.timeline.iter().map(|e| e.actor.clone()).collect();
    assert_eq!(actors, [customer(), rule(), system(), system()]);
    let seqs: Vec<u32> = c.timeline.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let ats: Vec<_> = c.timeline.iter().map(|e| e.at).collect();
    assert_eq!(ats, [t(0), t(1), t(2), t(3)]);
    assert_eq!(c.created_at, t(0));
    assert_eq!(c.updated_at, t(3));
    assert_timeline_consistent(&c);
}

#[test]
fn return_refund_happy_path() {
    let mut c = submitted(RETURN_REFUND);
    c.approve(
        None,
        Some("defect confirmed from photos".into()),
        staff(),
        t(1),
    )
    .unwrap();
    assert_eq!(
        c.status,
        ClaimStatus::AwaitingReturn,
        "a return waits for the goods"
    );
    assert_eq!(c.approved_amount, Some(REQUESTED));
    assert_eq!(
        c.ship_return("SF".into(), "SF1".into(), customer(), t(2))
            .unwrap(),
        ClaimEvent::ReturnShipped {
            carrier: "SF".into(),
            tracking_number: "SF1".into()
        }
    );
    assert_eq!(c.status, ClaimStatus::ReturnShipped);
    assert_eq!(
        c.receive_return(staff(), t(3)).unwrap(),
        ClaimEvent::ReturnReceived
    );
    assert_eq!(c.status, ClaimStatus::ReturnReceived);
    c.start_refund(system(), t(4)).unwrap();
    assert_eq!(c.status, ClaimStatus::Refunding);
    c.refund_succeeded(system(), t(5)).unwrap();
    assert_eq!(c.status, ClaimStatus::Completed);

    use ClaimStatus::*;
    assert_eq!(
        statuses(&c),
        [
            Submitted,
            AwaitingReturn,
            ReturnShipped,
            ReturnReceived,
            Refunding,
            Completed
        ]
    );
    assert_eq!(
        event_names(&c),
        [
            "submitted",
            "approved",
            "return_shipped",
            "return_received",
            "refund_started",
            "refund_succeeded"
        ]
    );
    let actors: Vec<Actor> = c.timeline.iter().map(|e| e.actor.clone()).collect();
    assert_eq!(
        actors,
        [customer(), staff(), customer(), staff(), system(), system()]
    );
    assert_eq!(
        c.timeline[1].event,
        ClaimEvent::Approved {
            amount: REQUESTED,
            reason: Some("defect confirmed from photos".into())
        }
    );
    assert_timeline_consistent(&c);
}

#[test]
fn return_refund_cannot_refund_before_the_goods_are_back() {
    let mut c = drive(RETURN_REFUND, ClaimStatus::AwaitingReturn);
    assert_illegal(&mut c, Cmd::StartRefund);
    c.ship_return("SF".into(), "SF1".into(), customer(), next_time(&c))
        .unwrap();
    assert_illegal(&mut c, Cmd::StartRefund);
    // The shop may record the goods as received without a tracking number.
    let mut c = drive(RETURN_REFUND, ClaimStatus::AwaitingReturn);
    c.receive_return(staff(), next_time(&c)).unwrap();
    assert_eq!(c.status, ClaimStatus::ReturnReceived);
    c.start_refund(system(), next_time(&c)).unwrap();
    assert_eq!(c.status, ClaimStatus::Refunding);
}

#[test]
fn exchange_happy_path() {
    let mut c = submitted(EXCHANGE);
    assert_eq!(
        c.approve(None, None, staff(), t(1)).unwrap(),
        ClaimEvent::Approved {
            amount: cny(0),
            reason: None
        }
    );
    assert_eq!(c.status, ClaimStatus::AwaitingReturn);
    assert_eq!(c.approved_amount, Some(cny(0)));
    c.ship_return("SF".into(), "SF1".into(), customer(), t(2))
        .unwrap();
    c.receive_return(staff(), t(3)).unwrap();
    assert_illegal(&mut c, Cmd::StartRefund);
    assert_eq!(
        c.ship_replacement("ZTO".into(), "ZTO1".into(), staff(), t(4))
            .unwrap(),
        ClaimEvent::ReplacementShipped {
            carrier: "ZTO".into(),
            tracking_number: "ZTO1".into()
        }
    );
    assert_eq!(c.status, ClaimStatus::ReplacementShipped);
    assert_eq!(
        c.replacement_delivered(system(), t(5)).unwrap(),
        ClaimEvent::Completed
    );
    assert_eq!(c.status, ClaimStatus::Completed);

    use ClaimStatus::*;
    assert_eq!(
        statuses(&c),
        [
            Submitted,
            AwaitingReturn,
            ReturnShipped,
            ReturnReceived,
            ReplacementShipped,
            Completed
        ]
    );
    assert_eq!(
        event_names(&c),
        [
            "submitted",
            "approved",
            "return_shipped",
            "return_received",
            "replacement_shipped",
            "completed"
        ]
    );
    let actors: Vec<Actor> = c.timeline.iter().map(|e| e.actor.clone()).collect();
    assert_eq!(
        actors,
        [customer(), staff(), customer(), staff(), staff(), system()]
    );
    assert_timeline_consistent(&c);
}

#[test]
fn exchange_replacement_may_ship_once_the_return_is_on_its_way() {
    let mut c = drive(EXCHANGE, ClaimStatus::ReturnShipped);
    c.ship_replacement("ZTO".into(), "ZTO1".into(), staff(), next_time(&c))
        .unwrap();
    assert_eq!(c.status, ClaimStatus::ReplacementShipped);
    c.replacement_delivered(system(), next_time(&c)).unwrap();
    assert_eq!(c.status, ClaimStatus::Completed);
    assert_timeline_consistent(&c);
}

#[test]
fn fast_exchange_ships_the_replacement_before_the_goods_come_back() {
    let mut c = submitted(EXCHANGE);
    c.approve(None, None, staff(), t(1)).unwrap();
    c.ship_replacement("ZTO".into(), "ZTO1".into(), staff(), t(2))
        .unwrap();
    assert_eq!(c.status, ClaimStatus::ReplacementShipped);
    // Once the replacement is out, the claim can no longer be withdrawn.
    assert_illegal(&mut c, Cmd::Cancel);
    c.replacement_delivered(customer(), t(3)).unwrap();
    assert_eq!(c.status, ClaimStatus::Completed);

    use ClaimStatus::*;
    assert_eq!(
        statuses(&c),
        [Submitted, AwaitingReturn, ReplacementShipped, Completed]
    );
    assert_eq!(c.timeline[3].actor, customer());
    assert_timeline_consistent(&c);
}

#[test]
fn only_an_exchange_ships_a_replacement() {
    for ty in [REFUND_ONLY, RETURN_REFUND, SPECIAL] {
        for s in ALL_STATUSES {
            if route(ty, s).is_some() {
                assert_illegal(&mut drive(ty, s), Cmd::ShipReplacement);
            }
        }
    }
    let mut c = drive(RETURN_REFUND, ClaimStatus::ReturnReceived);
    assert_illegal(&mut c, Cmd::ShipReplacement);
}

#[test]
fn special_claim_happy_path_is_like_refund_only() {
    // An appliance fault claim sends the appliance back (taken back on its
    // installation record); every other special claim moves money only.
    assert!(ClaimType::SpecialClaim {
        kind: SpecialKind::ApplianceRepair
    }
    .needs_return());
    for kind in ALL_SPECIAL_KINDS
        .into_iter()
        .filter(|k| *k != SpecialKind::ApplianceRepair)
    {
        let ty = ClaimType::SpecialClaim { kind };
        assert!(!ty.needs_return());
        assert!(ty.refunds());
        let mut c = submitted(ty);
        c.approve(None, None, rule(), t(1)).unwrap();
        assert_eq!(c.status, ClaimStatus::Approved, "{kind:?}");
        c.start_refund(system(), t(2)).unwrap();
        c.refund_succeeded(system(), t(3)).unwrap();
        use ClaimStatus::*;
        assert_eq!(
            statuses(&c),
            [Submitted, Approved, Refunding, Completed],
            "{kind:?}"
        );
        assert_eq!(c.claim_type, ty);
        assert_timeline_consistent(&c);
        // No goods travel for a special claim.
        let mut a = drive(ty, Approved);
        assert_illegal(&mut a, Cmd::ShipReturn);
        assert_illegal(&mut a, Cmd::ReceiveReturn);
    }
}

#[test]
fn claim_type_flags() {
    assert!(!REFUND_ONLY.needs_return() && REFUND_ONLY.refunds());
    assert!(RETURN_REFUND.needs_return() && RETURN_REFUND.refunds());
    assert!(EXCHANGE.needs_return() && !EXCHANGE.refunds());
    assert!(!SPECIAL.needs_return() && SPECIAL.refunds());
}

// ---------------------------------------------------------------------------
// Review routing
// ---------------------------------------------------------------------------

#[test]
fn review_second_review_evidence_and_back() {
    let mut c = submitted(REFUND_ONLY);
    assert_eq!(
        c.start_review(staff(), t(1)).unwrap(),
        ClaimEvent::ReviewStarted
    );
    assert_eq!(c.status, ClaimStatus::UnderReview);
    assert_eq!(
        c.require_second_review("above the staff limit".into(), staff(), t(2))
            .unwrap(),
        ClaimEvent::SecondReviewRequired {
            reason: "above the staff limit".into()
        }
    );
    assert_eq!(c.status, ClaimStatus::SecondReview);
    assert_eq!(
        c.request_evidence("a photo of the serial number".into(), admin(), t(3))
            .unwrap(),
        ClaimEvent::EvidenceRequested {
            note: "a photo of the serial number".into()
        }
    );
    assert_eq!(c.status, ClaimStatus::AwaitingEvidence);
    assert_eq!(
        c.add_evidence(
            vec!["serial.jpg".into(), "box.jpg".into()],
            customer(),
            t(4)
        )
        .unwrap(),
        ClaimEvent::EvidenceAdded {
            evidence: vec!["serial.jpg".into(), "box.jpg".into()]
        }
    );
    assert_eq!(
        c.status,
        ClaimStatus::Submitted,
        "new evidence sends the claim back to be decided"
    );
    assert_eq!(c.evidence, ["photo-1.jpg", "serial.jpg", "box.jpg"]);
    c.start_review(staff(), t(5)).unwrap();
    c.approve(Some(cny(8_000)), Some("partial".into()), admin(), t(6))
        .unwrap();
    assert_eq!(c.status, ClaimStatus::Approved);

    use ClaimStatus::*;
    assert_eq!(
        statuses(&c),
        [
            Submitted,
            UnderReview,
            SecondReview,
            AwaitingEvidence,
            Submitted,
            UnderReview,
            Approved
        ]
    );
    assert_eq!(
        event_names(&c),
        [
            "submitted",
            "review_started",
            "second_review_required",
            "evidence_requested",
            "evidence_added",
            "review_started",
            "approved"
        ]
    );
    let actors: Vec<Actor> = c.timeline.iter().map(|e| e.actor.clone()).collect();
    assert_eq!(
        actors,
        [
            customer(),
            staff(),
            staff(),
            admin(),
            customer(),
            staff(),
            admin()
        ]
    );
    assert_timeline_consistent(&c);
}

#[test]
fn rules_can_route_a_fresh_claim_directly() {
    // Straight to second review, or straight to asking for evidence.
    let mut c = submitted(RETURN_REFUND);
    c.require_second_review("high value".into(), rule(), t(1))
        .unwrap();
    assert_eq!(c.status, ClaimStatus::SecondReview);
    assert_eq!(c.timeline[1].actor, rule());
    assert_illegal(&mut c, Cmd::StartReview);
    assert_illegal(&mut c, Cmd::RequireSecondReview);

    let mut c = submitted(RETURN_REFUND);
    c.request_evidence("photo please".into(), rule(), t(1))
        .unwrap();
    assert_eq!(c.status, ClaimStatus::AwaitingEvidence);
    assert_illegal(&mut c, Cmd::StartReview);
    assert_illegal(&mut c, Cmd::RequestEvidence);
    // A claim waiting for evidence can still be decided right away.
    c.approve(None, None, staff(), t(2)).unwrap();
    assert_eq!(c.status, ClaimStatus::AwaitingReturn);
}

#[test]
fn add_evidence_outside_awaiting_evidence_keeps_the_status() {
    for (ty, s) in [
        (REFUND_ONLY, ClaimStatus::Submitted),
        (REFUND_ONLY, ClaimStatus::UnderReview),
        (REFUND_ONLY, ClaimStatus::SecondReview),
        (REFUND_ONLY, ClaimStatus::Approved),
        (REFUND_ONLY, ClaimStatus::RefundFailed),
        (RETURN_REFUND, ClaimStatus::AwaitingReturn),
        (RETURN_REFUND, ClaimStatus::ReturnShipped),
        (RETURN_REFUND, ClaimStatus::ReturnReceived),
        (EXCHANGE, ClaimStatus::ReplacementShipped),
    ] {
        let mut c = drive(ty, s);
        let n = c.timeline.len();
        c.add_evidence(vec!["more.jpg".into()], customer(), next_time(&c))
            .unwrap();
        assert_eq!(c.status, s);
        assert_eq!(c.evidence.last().unwrap(), "more.jpg");
        assert_eq!(c.timeline.len(), n + 1);
        assert_eq!(c.timeline[n].status, s);
    }
    for (ty, s) in [
        (REFUND_ONLY, ClaimStatus::Refunding),
        (REFUND_ONLY, ClaimStatus::Rejected),
        (REFUND_ONLY, ClaimStatus::Completed),
        (REFUND_ONLY, ClaimStatus::Cancelled),
        (REFUND_ONLY, ClaimStatus::Closed),
    ] {
        assert_illegal(&mut drive(ty, s), Cmd::AddEvidence);
    }
}

#[test]
fn add_evidence_respects_the_evidence_limit() {
    let mut c = drive(REFUND_ONLY, ClaimStatus::AwaitingEvidence);
    // 1 item from submission; fill up to exactly the limit.
    let fill: Vec<String> = (1..MAX_EVIDENCE).map(|i| format!("e{i}.jpg")).collect();
    let mut almost = c.clone();
    almost
        .add_evidence(fill[..fill.len() - 1].to_vec(), customer(), t(10))
        .unwrap();
    assert_eq!(almost.evidence.len(), MAX_EVIDENCE - 1);

    // One too many, all at once: refused, nothing changes (still waiting).
    let before = c.clone();
    let mut too_many = fill.clone();
    too_many.push("extra.jpg".into());
    let res = c.add_evidence(too_many, customer(), t(10));
    assert_invalid(res, &c, &before, "evidence");
    assert_eq!(c.status, ClaimStatus::AwaitingEvidence);

    // Exactly the limit: fine.
    c.add_evidence(fill, customer(), t(10)).unwrap();
    assert_eq!(c.evidence.len(), MAX_EVIDENCE);
    assert_eq!(c.status, ClaimStatus::Submitted);

    // Full: one more is refused, nothing changes.
    let before = c.clone();
    let res = c.add_evidence(vec!["one-more.jpg".into()], customer(), t(11));
    assert_invalid(res, &c, &before, "evidence");
}

// ---------------------------------------------------------------------------
// Approve and reject
// ---------------------------------------------------------------------------

#[test]
fn approve_a_partial_amount() {
    let mut c = drive(REFUND_ONLY, ClaimStatus::UnderReview);
    let ev = c
        .approve(
            Some(cny(6_000)),
            Some("one of two items used".into()),
            staff(),
            t(5),
        )
        .unwrap();
    assert_eq!(
        ev,
        ClaimEvent::Approved {
            amount: cny(6_000),
            reason: Some("one of two items used".into())
        }
    );
    assert_eq!(c.approved_amount, Some(cny(6_000)));
    assert_eq!(c.requested_amount, REQUESTED, "what was asked for is kept");
    assert_eq!(c.status, ClaimStatus::Approved);
    assert_eq!(c.timeline.last().unwrap().event, ev);
    assert_eq!(c.timeline.last().unwrap().actor, staff());

    // The partial amount survives the rest of the way.
    c.start_refund(system(), t(6)).unwrap();
    c.refund_succeeded(system(), t(7)).unwrap();
    assert_eq!(c.approved_amount, Some(cny(6_000)));

    // A partial return: goods back, part of the money.
    let mut r = submitted(RETURN_REFUND);
    r.approve(Some(cny(9_999)), None, staff(), t(1)).unwrap();
    assert_eq!(r.status, ClaimStatus::AwaitingReturn);
    assert_eq!(r.approved_amount, Some(cny(9_999)));
}

#[test]
fn approve_boundaries() {
    // Zero and exactly what was requested are both fine.
    for amount in [cny(0), REQUESTED] {
        let mut c = submitted(REFUND_ONLY);
        c.approve(Some(amount), None, staff(), t(1)).unwrap();
        assert_eq!(c.approved_amount, Some(amount));
    }
    // None means everything requested.
    let mut c = submitted(SPECIAL);
    c.approve(None, None, staff(), t(1)).unwrap();
    assert_eq!(c.approved_amount, Some(REQUESTED));
}

#[test]
fn approve_above_requested_or_negative_is_refused_and_changes_nothing() {
    for s in [
        ClaimStatus::Submitted,
        ClaimStatus::UnderReview,
        ClaimStatus::SecondReview,
        ClaimStatus::AwaitingEvidence,
    ] {
        for ty in [REFUND_ONLY, RETURN_REFUND, SPECIAL] {
            for amount in [REQUESTED.minor() + 1, i64::MAX, -1, i64::MIN] {
                let mut c = drive(ty, s);
                let before = c.clone();
                let res = c.approve(Some(cny(amount)), Some("x".into()), staff(), next_time(&c));
                // The message names the requested amount in the currency.
                assert_invalid(res, &c, &before, "100.00");
                assert_eq!(c.approved_amount, None);
            }
        }
    }
    // An exchange requested nothing, so any money is too much.
    let mut c = submitted(EXCHANGE);
    let before = c.clone();
    let res = c.approve(Some(cny(1)), None, staff(), t(1));
    assert_invalid(res, &c, &before, "between 0");
}

#[test]
fn money_in_another_currency_is_refused_and_changes_nothing() {
    let usd = |minor| Money::from_minor(minor, Currency::Usd);
    for ty in [REFUND_ONLY, RETURN_REFUND, SPECIAL] {
        let mut c = drive(ty, ClaimStatus::UnderReview);
        let before = c.clone();
        // Less than what was requested, in its number: still not approvable.
        let res = c.approve(Some(usd(1)), None, staff(), next_time(&c));
        assert_invalid(res, &c, &before, "cannot combine USD with CNY");
        assert_eq!(c.approved_amount, None);
    }
    // Nor lowered after inspection to another currency's money.
    let mut c = submitted(RETURN_REFUND);
    c.approve(None, None, staff(), t(1)).unwrap();
    let before = c.clone();
    match c.lower_approved(usd(1)) {
        Err(ClaimError::Invalid(msg)) => assert!(msg.contains("USD"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(c, before);
    c.lower_approved(cny(2_500)).unwrap();
    assert_eq!(c.approved_amount, Some(cny(2_500)));
    // Nor filed with a line in another currency.
    let mut n = new_claim(REFUND_ONLY);
    n.lines[1].amount = usd(4_000);
    match Claim::submit(n, customer(), t(0)) {
        Err(ClaimError::Invalid(msg)) => assert!(msg.contains("USD"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn reject_needs_a_reason() {
    for blank in ["", " ", "\t\n  "] {
        let mut c = drive(RETURN_REFUND, ClaimStatus::UnderReview);
        let before = c.clone();
        let res = c.reject(blank.into(), staff(), next_time(&c));
        assert_invalid(res, &c, &before, "reason");
    }
    let mut c = drive(RETURN_REFUND, ClaimStatus::UnderReview);
    let ev = c.reject("worn and washed".into(), staff(), t(5)).unwrap();
    assert_eq!(
        ev,
        ClaimEvent::Rejected {
            reason: "worn and washed".into()
        }
    );
    assert_eq!(c.status, ClaimStatus::Rejected);
    assert!(!c.status.is_open());
    assert!(!c.status.is_final());
    assert!(Claim::releases_ledger(&ev));
    assert_eq!(c.timeline.last().unwrap().status, ClaimStatus::Rejected);
    assert_eq!(c.timeline.last().unwrap().actor, staff());
    assert_eq!(c.approved_amount, None);

    // A rejected claim is decided: no approving, cancelling or new evidence.
    for cmd in [
        Cmd::Approve,
        Cmd::Reject,
        Cmd::Cancel,
        Cmd::AddEvidence,
        Cmd::StartReview,
    ] {
        assert_illegal(&mut c, cmd);
    }
}

#[test]
fn reject_from_every_deciding_status() {
    for s in [
        ClaimStatus::Submitted,
        ClaimStatus::UnderReview,
        ClaimStatus::SecondReview,
        ClaimStatus::AwaitingEvidence,
    ] {
        for ty in TYPES {
            let mut c = drive(ty, s);
            c.reject("no".into(), staff(), next_time(&c)).unwrap();
            assert_eq!(c.status, ClaimStatus::Rejected);
        }
    }
    // Once approved, it is too late to reject.
    assert_illegal(&mut drive(REFUND_ONLY, ClaimStatus::Approved), Cmd::Reject);
    assert_illegal(
        &mut drive(EXCHANGE, ClaimStatus::AwaitingReturn),
        Cmd::Reject,
    );
}

#[test]
fn approve_twice_is_illegal() {
    let mut c = drive(REFUND_ONLY, ClaimStatus::Approved);
    assert_illegal(&mut c, Cmd::Approve);
    let mut c = drive(RETURN_REFUND, ClaimStatus::AwaitingReturn);
    assert_illegal(&mut c, Cmd::Approve);
}

// ---------------------------------------------------------------------------
// Cancel
// ---------------------------------------------------------------------------

#[test]
fn cancel_until_money_or_goods_move() {
    use ClaimStatus::*;
    let allowed = [
        (REFUND_ONLY, Submitted),
        (REFUND_ONLY, UnderReview),
        (REFUND_ONLY, SecondReview),
        (REFUND_ONLY, AwaitingEvidence),
        (REFUND_ONLY, Approved),
        (SPECIAL, Approved),
        (RETURN_REFUND, AwaitingReturn),
        (EXCHANGE, AwaitingReturn),
    ];
    for (ty, s) in allowed {
        let mut c = drive(ty, s);
        let now = next_time(&c);
        let ev = c.cancel(customer(), now).unwrap();
        assert_eq!(ev, ClaimEvent::Cancelled);
        assert_eq!(c.status, Cancelled);
        assert!(c.status.is_final());
        assert!(Claim::releases_ledger(&ev));
        assert_eq!(
            *c.timeline.last().unwrap(),
            TimelineEntry {
                seq: c.timeline.len() as u32,
                at: now,
                actor: customer(),
                status: Cancelled,
                event: ClaimEvent::Cancelled,
            }
        );
    }
    let refused = [
        (REFUND_ONLY, Refunding),
        (REFUND_ONLY, RefundFailed),
        (REFUND_ONLY, Completed),
        (REFUND_ONLY, Rejected),
        (REFUND_ONLY, Cancelled),
        (REFUND_ONLY, Closed),
        (RETURN_REFUND, ReturnShipped),
        (RETURN_REFUND, ReturnReceived),
        (RETURN_REFUND, Refunding),
        (RETURN_REFUND, Completed),
        (EXCHANGE, ReturnShipped),
        (EXCHANGE, ReplacementShipped),
        (EXCHANGE, Completed),
    ];
    for (ty, s) in refused {
        assert_illegal(&mut drive(ty, s), Cmd::Cancel);
    }
}

// ---------------------------------------------------------------------------
// Refund failure and retry
// ---------------------------------------------------------------------------

#[test]
fn refund_failed_then_retry() {
    for ty in [REFUND_ONLY, RETURN_REFUND, SPECIAL] {
        let mut c = drive(ty, ClaimStatus::Refunding);
        let n = c.timeline.len();
        let ev = c
            .refund_failed("card closed".into(), system(), next_time(&c))
            .unwrap();
        assert_eq!(
            ev,
            ClaimEvent::RefundFailed {
                reason: "card closed".into()
            }
        );
        assert_eq!(c.status, ClaimStatus::RefundFailed);
        assert!(c.status.is_open(), "a failed refund still holds its money");
        // Staff may not cancel it, but may retry (more than once).
        assert_illegal(&mut c, Cmd::Cancel);
        assert_illegal(&mut c, Cmd::RefundSucceeded);
        assert_illegal(&mut c, Cmd::RefundFailed);
        c.start_refund(staff(), next_time(&c)).unwrap();
        assert_eq!(c.status, ClaimStatus::Refunding);
        c.refund_failed("timeout".into(), system(), next_time(&c))
            .unwrap();
        c.start_refund(staff(), next_time(&c)).unwrap();
        c.refund_succeeded(system(), next_time(&c)).unwrap();
        assert_eq!(c.status, ClaimStatus::Completed);

        use ClaimStatus::*;
        assert_eq!(
            statuses(&c)[n..],
            [RefundFailed, Refunding, RefundFailed, Refunding, Completed],
            "{ty:?}"
        );
        assert_eq!(c.timeline[n + 1].actor, staff());
        assert_timeline_consistent(&c);
    }
}

#[test]
fn refund_results_only_while_refunding() {
    for (ty, s) in [
        (REFUND_ONLY, ClaimStatus::Approved),
        (REFUND_ONLY, ClaimStatus::RefundFailed),
        (REFUND_ONLY, ClaimStatus::Completed),
        (RETURN_REFUND, ClaimStatus::ReturnReceived),
        (EXCHANGE, ClaimStatus::ReturnReceived),
    ] {
        let mut c = drive(ty, s);
        assert_illegal(&mut c, Cmd::RefundFailed);
        assert_illegal(&mut c, Cmd::RefundSucceeded);
    }
    // A refund cannot start twice.
    assert_illegal(
        &mut drive(REFUND_ONLY, ClaimStatus::Refunding),
        Cmd::StartRefund,
    );
    // Nor for an exchange, whatever its status.
    for s in ALL_STATUSES {
        if route(EXCHANGE, s).is_some() {
            assert_illegal(&mut drive(EXCHANGE, s), Cmd::StartRefund);
        }
    }
}

// ---------------------------------------------------------------------------
// Close
// ---------------------------------------------------------------------------

#[test]
fn close_from_non_final_states() {
    let mut n = 0;
    for ty in TYPES {
        for s in ALL_STATUSES {
            if route(ty, s).is_none() || expected(ty, s, Cmd::Close).is_none() {
                continue;
            }
            let mut c = drive(ty, s);
            let now = next_time(&c);
            let ev = c.close("abandoned".into(), staff(), now).unwrap();
            assert_eq!(
                ev,
                ClaimEvent::Closed {
                    reason: "abandoned".into()
                }
            );
            assert_eq!(c.status, ClaimStatus::Closed, "{ty:?} from {}", s.as_str());
            assert!(c.status.is_final());
            assert!(Claim::releases_ledger(&ev));
            let last = c.timeline.last().unwrap();
            assert_eq!(
                (last.status, &last.actor, last.at),
                (ClaimStatus::Closed, &staff(), now)
            );
            n += 1;
        }
    }
    // refund_only 6, return_refund 8, exchange 8, special_claim 6, each
    // plus Rejected while that is closable.
    assert_eq!(n, 6 + 8 + 8 + 6 + 4 * usize::from(REJECTED_CAN_BE_CLOSED));
}

#[test]
fn close_refused_from_final_states_and_while_refunding() {
    for ty in TYPES {
        for s in [
            ClaimStatus::Completed,
            ClaimStatus::Cancelled,
            ClaimStatus::Closed,
            ClaimStatus::Refunding,
        ] {
            if route(ty, s).is_some() {
                let mut c = drive(ty, s);
                assert_illegal(&mut c, Cmd::Close);
            }
        }
    }
    let mut c = drive(REFUND_ONLY, ClaimStatus::Refunding);
    let err = c.close("x".into(), system(), t(9)).unwrap_err();
    assert_eq!(err.to_string(), "cannot close a claim that is refunding");
}

#[test]
fn final_statuses_accept_no_command() {
    for ty in TYPES {
        for s in [
            ClaimStatus::Completed,
            ClaimStatus::Cancelled,
            ClaimStatus::Closed,
        ] {
            let mut c = drive(ty, s);
            for cmd in ALL_CMDS {
                assert_illegal(&mut c, cmd);
            }
        }
    }
}

#[test]
fn a_rejected_claim_accepts_nothing_but_close() {
    for ty in TYPES {
        let c = drive(ty, ClaimStatus::Rejected);
        let legal: Vec<Cmd> = ALL_CMDS
            .into_iter()
            .filter(|&cmd| check_command(&c, cmd))
            .collect();
        let want: &[Cmd] = if REJECTED_CAN_BE_CLOSED {
            &[Cmd::Close]
        } else {
            &[]
        };
        assert_eq!(legal, want, "{ty:?}");
    }
}

/// A claim's ledger entry can be released only once (`Ledger::release` needs
/// a `Reserved` entry). Rejecting releases it; closing the rejected claim is
/// accepted and emits `Closed`, which `releases_ledger` also says releases
/// it, so a use case following `releases_ledger` fails with `NoOpenEntry`.
/// Kept as a record of the inconsistency in claim.rs; remove `ignore` once
/// `close` refuses claims that are no longer open (or the event says so).
#[test]
fn closing_a_rejected_claim_releases_the_ledger_twice() {
    for ty in TYPES {
        let mut c = drive(ty, ClaimStatus::Rejected);
        let _ = c.close("tidy up".into(), staff(), next_time(&c));
        let releases = c
            .timeline
            .iter()
            .filter(|e| Claim::releases_ledger(&e.event))
            .count();
        assert!(
            releases <= 1,
            "{ty:?}: the ledger is released {releases} times"
        );
    }
}

// ---------------------------------------------------------------------------
// The transition table
// ---------------------------------------------------------------------------

/// For every claim type, every status it can reach (reached by legal
/// commands) and every command: legal commands move the claim exactly as the
/// rules say; illegal ones return `IllegalTransition` and change nothing.
#[test]
fn transition_table_for_every_reachable_status_and_command() {
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let (mut legal, mut illegal) = (0, 0);
    for ty in TYPES {
        for s in ALL_STATUSES {
            let Some(_) = route(ty, s) else {
                assert!(
                    !reachable(ty).contains(s.as_str()),
                    "{ty:?} has no route to {}",
                    s.as_str()
                );
                continue;
            };
            covered.insert(s.as_str());
            let c = drive(ty, s);
            assert_timeline_consistent(&c);
            for cmd in ALL_CMDS {
                if check_command(&c, cmd) {
                    legal += 1;
                } else {
                    illegal += 1;
                }
            }
        }
    }
    let all: BTreeSet<&str> = ALL_STATUSES.iter().map(|s| s.as_str()).collect();
    assert_eq!(covered, all, "every status is exercised by some claim type");
    // 11 + 13 + 12 + 11 reachable (type, status) pairs, 15 commands each.
    assert_eq!(legal + illegal, (11 + 13 + 12 + 11) * 15);
    assert!(legal > 0 && illegal > legal);
}

/// The same statuses reached along other routes behave the same: the table
/// depends only on type and status, not on history.
#[test]
fn transition_table_is_history_independent() {
    use ClaimStatus::*;
    use Cmd::*;
    let routes: &[(ClaimType, &[Cmd])] = &[
        // Submitted again after evidence.
        (REFUND_ONLY, &[RequestEvidence, AddEvidence]),
        // Approved straight after second review / evidence.
        (REFUND_ONLY, &[RequireSecondReview, Approve]),
        (SPECIAL, &[RequestEvidence, Approve]),
        // Refunding again after a failure.
        (
            RETURN_REFUND,
            &[
                Approve,
                ReceiveReturn,
                StartRefund,
                Cmd::RefundFailed,
                StartRefund,
            ],
        ),
        // Fast exchange.
        (
            EXCHANGE,
            &[StartReview, RequireSecondReview, Approve, ShipReplacement],
        ),
        // Closed from a failed refund, cancelled after approval.
        (
            REFUND_ONLY,
            &[Approve, StartRefund, Cmd::RefundFailed, Close],
        ),
        (EXCHANGE, &[Approve, Cancel]),
        // Evidence added while awaiting a return.
        (
            RETURN_REFUND,
            &[Approve, AddEvidence, ShipReturn, AddEvidence],
        ),
    ];
    for (ty, cmds) in routes {
        let mut c = submitted(*ty);
        for &cmd in cmds.iter() {
            let from = c.status;
            assert!(
                check_command(&c, cmd),
                "{ty:?}: {cmd:?} from {}",
                from.as_str()
            );
            let now = next_time(&c);
            apply(&mut c, cmd, actor_for(cmd), now).unwrap();
        }
        assert_timeline_consistent(&c);
        for cmd in ALL_CMDS {
            check_command(&c, cmd);
        }
    }
    // Sanity: these routes end where expected.
    let end = |ty: ClaimType, cmds: &[Cmd]| {
        let mut c = submitted(ty);
        for &cmd in cmds {
            let now = next_time(&c);
            apply(&mut c, cmd, actor_for(cmd), now).unwrap();
        }
        c.status
    };
    assert_eq!(end(REFUND_ONLY, routes[0].1), Submitted);
    assert_eq!(end(EXCHANGE, routes[4].1), ReplacementShipped);
    assert_eq!(end(RETURN_REFUND, routes[7].1), ReturnShipped);
}

/// Explores every status reachable by legal commands, from submission, and
/// checks the set is exactly the expected one for each type.
#[test]
fn reachable_statuses_per_claim_type() {
    for ty in TYPES {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let start = submitted(ty);
        seen.insert(start.status.as_str());
        let mut queue = vec![start];
        while let Some(c) = queue.pop() {
            for cmd in ALL_CMDS {
                let mut next = c.clone();
                let now = next_time(&c);
                if apply(&mut next, cmd, actor_for(cmd), now).is_ok()
                    && seen.insert(next.status.as_str())
                {
                    queue.push(next);
                }
            }
        }
        assert_eq!(seen, reachable(ty), "{ty:?}");
        for s in ALL_STATUSES {
            assert_eq!(
                route(ty, s).is_some(),
                seen.contains(s.as_str()),
                "{ty:?}: route to {}",
                s.as_str()
            );
        }
    }
}

/// Every (type, status) pair, including those a type never reaches, put in
/// place by hand (the fields are public): the type guards hold on their own,
/// e.g. only an exchange ships a replacement and an exchange never refunds.
#[test]
fn forced_status_table() {
    for ty in TYPES {
        for s in ALL_STATUSES {
            let mut c = submitted(ty);
            c.status = s;
            for cmd in ALL_CMDS {
                check_command(&c, cmd);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Timeline, errors, and the rest of the surface
// ---------------------------------------------------------------------------

#[test]
fn timeline_seq_status_and_actor_after_every_step() {
    use ClaimStatus::*;
    let steps: [(Cmd, Actor, ClaimStatus); 8] = [
        (Cmd::StartReview, staff(), UnderReview),
        (Cmd::RequestEvidence, staff(), AwaitingEvidence),
        (Cmd::AddEvidence, customer(), Submitted),
        (Cmd::RequireSecondReview, rule(), SecondReview),
        (Cmd::Approve, admin(), AwaitingReturn),
        (Cmd::ShipReturn, customer(), ReturnShipped),
        (Cmd::ReceiveReturn, staff(), ReturnReceived),
        (Cmd::StartRefund, system(), Refunding),
    ];
    let mut c = submitted(RETURN_REFUND);
    for (i, (cmd, actor, status)) in steps.into_iter().enumerate() {
        let now = t(100 + i as i64 * 7);
        let ev = apply(&mut c, cmd, actor.clone(), now).unwrap();
        let last = c.timeline.last().unwrap();
        assert_eq!(last.seq, i as u32 + 2);
        assert_eq!(last.status, status);
        assert_eq!(c.status, status);
        assert_eq!(last.actor, actor);
        assert_eq!(last.at, now);
        assert_eq!(last.event, ev);
        assert_eq!(c.updated_at, now);
        assert_eq!(c.created_at, t(0), "created_at never moves");
        // Refused commands in between add nothing.
        let len = c.timeline.len();
        assert!(c.replacement_delivered(system(), now).is_err());
        assert!(c
            .ship_replacement("X".into(), "1".into(), staff(), now)
            .is_err());
        assert_eq!(c.timeline.len(), len);
        assert_eq!(c.status, status);
    }
    c.refund_succeeded(system(), t(200)).unwrap();
    assert_eq!(c.timeline.len(), 10);
    let seqs: Vec<u32> = c.timeline.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_timeline_consistent(&c);
}

#[test]
fn errors_read_well() {
    let mut c = drive(REFUND_ONLY, ClaimStatus::Completed);
    let before = c.clone();
    assert_eq!(
        c.cancel(customer(), t(9)).unwrap_err().to_string(),
        "cannot cancel a claim that is completed"
    );
    assert_eq!(
        c.start_review(staff(), t(9)).unwrap_err().to_string(),
        "cannot start review of a claim that is completed"
    );
    assert_eq!(c, before);
    let mut e = drive(EXCHANGE, ClaimStatus::ReturnReceived);
    assert_eq!(
        e.start_refund(system(), t(9)).unwrap_err().to_string(),
        "cannot refund a claim that is return_received"
    );
}

#[test]
fn status_names_and_flags() {
    let names: Vec<&str> = ALL_STATUSES.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "submitted",
            "under_review",
            "second_review",
            "awaiting_evidence",
            "approved",
            "awaiting_return",
            "return_shipped",
            "return_received",
            "refunding",
            "refund_failed",
            "replacement_shipped",
            "rejected",
            "completed",
            "cancelled",
            "closed"
        ]
    );
    for s in ALL_STATUSES {
        // as_str is the serde name.
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!(s.as_str())
        );
        let fin = matches!(
            s,
            ClaimStatus::Completed | ClaimStatus::Cancelled | ClaimStatus::Closed
        );
        assert_eq!(s.is_final(), fin, "{}", s.as_str());
        assert_eq!(
            s.is_open(),
            !fin && s != ClaimStatus::Rejected,
            "{}",
            s.as_str()
        );
    }
}

#[test]
fn releases_ledger_only_for_cancel_reject_close() {
    let c = submitted(REFUND_ONLY);
    for cmd in ALL_CMDS {
        let ev = expected_event(cmd, &c);
        assert_eq!(
            Claim::releases_ledger(&ev),
            matches!(cmd, Cmd::Cancel | Cmd::Reject | Cmd::Close),
            "{}",
            ev.name()
        );
    }
    assert!(!Claim::releases_ledger(&ClaimEvent::Submitted {
        amount: cny(1)
    }));
}

#[test]
fn line_requests_follow_the_claimed_lines() {
    let c = submitted(RETURN_REFUND);
    let req = c.line_requests();
    assert_eq!(req.len(), 2);
    assert_eq!((req[0].line_id.as_str(), req[0].quantity), ("L1", 2));
    assert_eq!((req[1].line_id.as_str(), req[1].quantity), ("L2", 1));
}

#[test]
fn a_claim_survives_json_round_trip_at_every_step() {
    for ty in TYPES {
        for s in ALL_STATUSES {
            if route(ty, s).is_none() {
                continue;
            }
            let c = drive(ty, s);
            let json = serde_json::to_value(&c).unwrap();
            assert_eq!(json["status"], s.as_str());
            assert_eq!(json["timeline"][0]["event"], "submitted");
            let back: Claim = serde_json::from_value(json).unwrap();
            assert_eq!(back, c, "{ty:?} in {}", s.as_str());
        }
    }
    let json = serde_json::to_value(submitted(SPECIAL)).unwrap();
    assert_eq!(json["type"], "special_claim");
    assert_eq!(json["kind"], "fresh_spoilage");
}

/// Refund progress goes on the timeline while money moves, and still when a
/// sibling refund arrives after another one failed; never on a claim whose
/// money is not moving.
#[test]
fn refund_progress_is_noted_while_money_moves() {
    use aftersales::domain::order::PaymentChannel;
    let arrived = |id: &str| ClaimEvent::RefundArrived {
        refund_id: id.into(),
        channel: PaymentChannel::WechatPay,
        amount: cny(100),
        arrived_at: t(3),
        received_account: None,
    };
    let mut c = submitted(REFUND_ONLY);
    assert!(matches!(
        c.note_refund(arrived("R1"), t(1)),
        Err(ClaimError::IllegalTransition { .. })
    ));
    c.approve(None, None, staff(), t(1)).unwrap();
    c.start_refund(Actor::System, t(1)).unwrap();
    c.note_refund(arrived("R1"), t(2)).unwrap();
    assert_eq!(c.status, ClaimStatus::Refunding);
    c.refund_failed("declined".into(), Actor::System, t(2))
        .unwrap();
    c.note_refund(arrived("R2"), t(3)).unwrap();
    assert_eq!(c.status, ClaimStatus::RefundFailed);
    assert!(matches!(
        c.note_refund(ClaimEvent::Cancelled, t(3)),
        Err(ClaimError::Invalid(_))
    ));
}
