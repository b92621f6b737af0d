//! Evaluating one claim against a shop's rules, the work done on every new
//! or changed claim. Target: well under 2 µs for 50 rules.
//!
//! `cargo bench -p aftersales --bench rules` (a few seconds: short warm-up
//! and measurement). Medians are in `target/criterion/*/new/estimates.json`.

use aftersales::domain::claim::{ClaimType, ReasonCode};
use aftersales::domain::money::{Currency, Money};
use aftersales::domain::order::{FulfilmentState, MemberTier, ProductKind};
use aftersales::domain::rejections::Catalogue;
use aftersales::domain::rules::{default_rules, CourierStatus, Facts, PolicyWindows, RuleSet};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Duration;

/// A delivered 320.00 CNY return of a defective appliance with photos.
fn claim() -> Facts {
    Facts {
        claim_type: ClaimType::ReturnRefund,
        reason: ReasonCode::Defective,
        fulfilment: FulfilmentState::Delivered,
        product_kinds: [ProductKind::Appliance].into_iter().collect(),
        amount: Money::from_minor(32_000, Currency::Cny),
        seconds_since_payment: Some(200 * 3600),
        seconds_since_shipment: Some(150 * 3600),
        seconds_since_delivery: Some(100 * 3600),
        evidence_count: 3,
        evidence_complete: true,
        courier: Some(CourierStatus::InTransit),
        member_tier: MemberTier::Silver,
        claims_last_90_days: 1,
        rejected_last_90_days: 0,
        refund_rate_percent: 0,
        claims_without_return: 0,
        same_reason_last_90_days: 0,
        evidence_reused: false,
        photo_before_delivery: false,
        presale_compensation_due: false,
        installed_faulty_within_window: false,
        customs_refund_confirmed: false,
        fresh_within_auto_limit: false,
        windows: PolicyWindows {
            no_reason_return_days: 7,
            fresh_claim_window_hours: 24,
            virtual_refund_window_days: 7,
        },
        voucher_redeemed: false,
        voucher_unused: false,
        with_bundle_return: false,
    }
}

/// 50 rules of the kinds shops write. Most agree with the claim on their
/// first conditions (claim type, reason) and part ways on a later one
/// (amount band, tier, history), so each costs several tests, as in a
/// real set; the 50th matches.
fn fifty_rules() -> RuleSet {
    let reasons = ["damaged", "defective", "wrong_item", "not_as_described"];
    let tiers = ["regular", "gold", "platinum"];
    let mut rules: Vec<Value> = Vec::new();
    for i in 0..49u32 {
        let reason = reasons[(i as usize / 4) % reasons.len()];
        let band = format!("{}.00", i * 5);
        let band_end = format!("{}.99", i * 5 + 4);
        let when = match i % 4 {
            0 => json!({
                "claim_type": {"in": ["return_refund", "exchange"]},
                "reason": {"eq": reason},
                "amount": {"between": [band, band_end]}
            }),
            1 => json!({
                "claim_type": {"eq": "return_refund"},
                "reason": {"in": [reason, "wrong_size"]},
                "member_tier": {"eq": tiers[i as usize % tiers.len()]},
                "hours_since_delivery": {"lte": 24 * (i + 1)},
                "amount": {"lte": band}
            }),
            2 => json!({
                "quality_issue": {"eq": true},
                "product_kinds": {"any_in": ["appliance", "physical"]},
                "claims_last_90_days": {"eq": 3 + i},
                "amount": {"gte": band}
            }),
            _ => json!({
                "fulfilment": {"in": ["shipped", "delivered"]},
                "evidence_complete": {"eq": true},
                "courier": {"in": ["delivered_to_shop", "delivered_elsewhere"]},
                "days_since_shipment": {"between": [i, i + 1]}
            }),
        };
        rules.push(json!({
            "id": format!("rule-{i:02}"),
            "description": "generated",
            "when": when,
            "then": {"decision": "manual_review"}
        }));
    }
    rules.push(json!({
        "id": "appliance-defect-with-photos",
        "when": {
            "claim_type": {"eq": "return_refund"},
            "quality_issue": {"eq": true},
            "product_kinds": {"all_in": ["appliance"]},
            "evidence_complete": {"eq": true},
            "amount": {"between": ["100.00", "500.00"]},
            "days_since_delivery": {"lte": 15}
        },
        "then": {"decision": "approve"}
    }));
    let set = RuleSet::parse(&json!({ "rules": rules }), &Catalogue::builtin())
        .unwrap_or_else(|e| panic!("bench rules: {e:?}"));
    assert_eq!(set.rules().len(), 50);
    set
}

fn bench(c: &mut Criterion) {
    let set = fifty_rules();
    let facts = claim();
    assert_eq!(
        set.evaluate(&facts).rule_id.as_deref(),
        Some("appliance-defect-with-photos")
    );
    c.bench_function("evaluate one claim against 50 rules", |b| {
        b.iter(|| set.evaluate(black_box(&facts)))
    });
    c.bench_function("first_match against 50 rules (no allocation)", |b| {
        b.iter(|| set.first_match(black_box(&facts)).map(|(i, _)| i))
    });

    let defaults = default_rules();
    // Falls through every default rule to manual review.
    let mut through = claim();
    through.evidence_count = 1;
    assert_eq!(defaults.evaluate(&through).rule_id, None);
    c.bench_function("evaluate one claim against the default rules", |b| {
        b.iter(|| defaults.evaluate(black_box(&through)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
