//! The soak's checks, against the store and the provider's own journal:
//! exactly one provider refund per refund record, for its amount; every
//! refund final; every claim's ledger entry equal to what was refunded and
//! no payment refunded beyond what was paid.

use super::setup::World;
use aftersales::domain::claim::ClaimStatus;
use aftersales::domain::refund::{refund_id_for, NoticeAmount, RefundStatus};
use aftersales::providers::ProviderRefund;
use aftersales::repo;
use std::collections::HashMap;

pub struct Checked {
    /// Refunds the provider took (its journal's entries).
    pub provider_refunds: usize,
    pub violations: Vec<String>,
}

/// The provider's refunds by out-refund number, each with every answer it
/// wrote down for it (more than one is money moved twice). A torn last
/// line (a kill mid-write) was never answered and is not a refund.
fn provider_refunds(world: &World) -> HashMap<String, Vec<ProviderRefund>> {
    let text = std::fs::read_to_string(&world.journal).unwrap_or_default();
    let mut out: HashMap<String, Vec<ProviderRefund>> = HashMap::new();
    for line in text.lines() {
        if let Ok(r) = serde_json::from_str::<ProviderRefund>(line) {
            out.entry(r.out_refund_no.clone()).or_default().push(r);
        }
    }
    out
}

pub async fn check(world: &World) -> Checked {
    let mut provider = provider_refunds(world);
    let provider_refunds = provider.values().map(Vec::len).sum();
    let mut violations = Vec::new();
    let t = world.table.as_ref();
    for claim_id in &world.claims {
        let Some((claim, _)) = repo::claims::get(t, claim_id).await.expect("read a claim") else {
            violations.push(format!("{claim_id}: claim missing"));
            continue;
        };
        if claim.status != ClaimStatus::Completed {
            violations.push(format!(
                "{claim_id}: {} after every refund arrived",
                claim.status.as_str()
            ));
        }
        let mut refunded = 0i64;
        let mut by_payment: HashMap<String, i64> = HashMap::new();
        for n in 1.. {
            let refund_id = refund_id_for(claim_id, n).into_string();
            let Some((refund, _)) = repo::refunds::get(t, &refund_id).await.expect("a refund")
            else {
                break;
            };
            if refund.status != RefundStatus::Succeeded {
                violations.push(format!("{refund_id}: {:?}, not succeeded", refund.status));
            }
            let taken = provider.remove(&refund_id).unwrap_or_default();
            if taken.len() != 1 {
                violations.push(format!(
                    "{refund_id}: {} provider refunds for one refund record",
                    taken.len()
                ));
            }
            for r in &taken {
                if r.amount != Some(NoticeAmount::Refund(refund.amount.minor())) {
                    violations.push(format!(
                        "{refund_id}: provider refunded {:?}, the record says {}",
                        r.amount,
                        refund.amount.minor()
                    ));
                }
            }
            refunded += refund.amount.minor();
            *by_payment.entry(refund.payment_id.clone()).or_default() += refund.amount.minor();
        }
        if refunded == 0 {
            violations.push(format!("{claim_id}: no refund"));
        }
        let Some((rec, _)) = repo::orders::get(t, &claim.shop_id, &claim.order_id)
            .await
            .expect("read an order")
        else {
            violations.push(format!("{claim_id}: order missing"));
            continue;
        };
        if let Err(e) = rec.ledger.check_against(&rec.order) {
            violations.push(format!("{claim_id}: ledger over the order: {e}"));
        }
        match rec.ledger.entry(claim_id) {
            None => violations.push(format!("{claim_id}: no ledger entry")),
            Some(entry) => {
                let drawn: HashMap<String, i64> = entry
                    .payments
                    .iter()
                    .map(|p| (p.payment_id.clone(), p.amount.minor()))
                    .collect();
                if drawn != by_payment {
                    violations.push(format!(
                        "{claim_id}: ledger took {drawn:?}, refunds paid {by_payment:?}"
                    ));
                }
            }
        }
    }
    for (out_refund_no, taken) in provider {
        violations.push(format!(
            "{out_refund_no}: {} provider refunds without a refund record",
            taken.len()
        ));
    }
    Checked {
        provider_refunds,
        violations,
    }
}
