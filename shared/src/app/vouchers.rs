//! The issuer's word on a virtual-goods claim's codes, gathered before the
//! rules run: codes without an answer are asked about once, and the answer
//! is kept on the claim (committed with whatever the rules decide), so a
//! re-run or a redelivered event does not ask again. The storefront's
//! report of a redemption is answer enough and is kept the same way.

use super::Services;
use crate::domain::claim::Claim;
use crate::domain::order::Order;
use crate::domain::voucher::{self, Answer, Source};
use crate::vouchers::VoucherError;

/// Fills in what is known of the claim's codes; whether the claim changed.
/// An issuer that cannot answer now leaves the code unknown: the rules
/// then see it neither unused nor redeemed, and a person decides.
pub(super) async fn gather(
    s: &Services,
    claim: &mut Claim,
    order: &Order,
    asked: &super::review::Asked,
) -> bool {
    let now = s.now();
    let mut changed = voucher::record_reports(claim, order, now);
    let Some(issuer) = s.vouchers.as_ref() else {
        return changed;
    };
    let codes: Vec<String> = voucher::to_ask(claim, order).map(str::to_owned).collect();
    for code in codes {
        let known = asked
            .vouchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&code)
            .cloned();
        let answer = match known {
            Some(state) => Ok(state),
            None => issuer.status(&code).await,
        };
        if let Ok(state) = &answer {
            asked
                .vouchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(code.clone(), *state);
        }
        match answer {
            Ok(state) => {
                changed |= voucher::record(
                    claim,
                    &code,
                    Answer {
                        state,
                        source: Source::Issuer,
                        checked_at: now,
                    },
                );
            }
            Err(e @ VoucherError::Transient(_)) => {
                tracing::warn!(claim_id = %claim.claim_id, error = %e, "voucher issuer unavailable");
            }
            Err(e) => {
                tracing::error!(claim_id = %claim.claim_id, error = %e, "voucher issuer gave no answer");
            }
        }
    }
    changed
}
