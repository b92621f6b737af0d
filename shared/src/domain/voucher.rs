//! Virtual goods: voucher codes sold on an order's virtual lines, and what
//! is known of each code a claim gives back (unused, or redeemed when).
//!
//! Two sources tell a redemption: the issuer, asked through the voucher
//! port (its answer is kept on the claim as evidence, so a re-run never
//! depends on asking again), and the storefront, which reports it on the
//! order line (`vouchers[].redeemed_at`) with the next order snapshot. A
//! redemption from either counts, whenever it was reported.

use super::claim::Claim;
use super::ledger::{EntryState, Ledger, LineRequest};
use super::order::{Order, OrderLine, ProductKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most codes one order line may carry.
pub const MAX_CODES_PER_LINE: usize = 100;
const MAX_CODE_LEN: usize = 64;

/// A code sold on a virtual line, as the storefront reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineVoucher {
    pub code: String,
    /// Set by the storefront once the customer used the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed_at: Option<DateTime<Utc>>,
}

/// What is known of one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VoucherState {
    Unused,
    Redeemed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    },
}

/// Who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The voucher issuer, through the voucher port.
    Issuer,
    /// The storefront, on the order line.
    Storefront,
}

/// An answer about a code, kept on the claim as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    #[serde(flatten)]
    pub state: VoucherState,
    pub source: Source,
    pub checked_at: DateTime<Utc>,
}

/// A code a claim gives back, with the answer about it once there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimVoucher {
    pub line_id: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

/// Why a claim's codes are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherRefusal {
    #[error("line {line_id} is not a virtual line (kind {kind}): a virtual_unused claim is for virtual goods")]
    NotVirtual { line_id: String, kind: String },
    #[error("voucher_codes[{index}]: code {code} is not on the claimed lines of this order")]
    NotOnOrder { index: usize, code: String },
    #[error("voucher_codes[{index}]: code {code} is named twice")]
    Twice { index: usize, code: String },
    #[error("voucher_codes: line {line_id} gives back {units} unit(s), so name {units} of its codes (named {named})")]
    Count {
        line_id: String,
        units: u32,
        named: usize,
    },
    #[error("voucher_codes: only a claim on virtual goods names codes")]
    Unexpected,
    #[error("voucher_codes[{index}]: code {code} is already given back by claim {claim_id}")]
    Taken {
        index: usize,
        code: String,
        claim_id: String,
    },
}

impl VoucherRefusal {
    /// The error code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            VoucherRefusal::NotVirtual { .. } => "not_virtual",
            VoucherRefusal::NotOnOrder { .. } => "voucher_not_on_order",
            VoucherRefusal::Twice { .. } => "invalid_request",
            VoucherRefusal::Count { .. } => "voucher_codes_required",
            VoucherRefusal::Unexpected => "voucher_codes_unexpected",
            VoucherRefusal::Taken { .. } => "voucher_already_claimed",
        }
    }
}

/// Checks the codes of the order's lines (at intake): only virtual lines
/// carry them, at most one per unit, each code once on the order. The
/// message names the field.
pub fn check_lines(lines: &[OrderLine]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, l) in lines.iter().enumerate() {
        if l.vouchers.is_empty() {
            continue;
        }
        if l.kind != ProductKind::Virtual {
            return Err(format!(
                "lines[{i}].vouchers: only virtual lines carry voucher codes"
            ));
        }
        if l.vouchers.len() > MAX_CODES_PER_LINE || l.vouchers.len() > l.quantity as usize {
            return Err(format!(
                "lines[{i}].vouchers: at most one code per unit ({})",
                l.quantity
            ));
        }
        for (j, v) in l.vouchers.iter().enumerate() {
            if v.code.is_empty()
                || v.code.len() > MAX_CODE_LEN
                || !v
                    .code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "lines[{i}].vouchers[{j}].code: 1 to {MAX_CODE_LEN} letters, digits, '-' or '_'"
                ));
            }
            if !seen.insert(v.code.as_str()) {
                return Err(format!(
                    "lines[{i}].vouchers[{j}].code: {} appears twice on the order",
                    v.code
                ));
            }
        }
    }
    Ok(())
}

/// The codes a virtual-goods claim on `lines` gives back: every line
/// virtual; for a line that carries codes, one named code per unit claimed
/// (a unit given back is its code given back), each on that line.
pub fn claim_vouchers(
    order: &Order,
    lines: &[LineRequest],
    codes: &[String],
) -> Result<Vec<ClaimVoucher>, VoucherRefusal> {
    let mut out: Vec<ClaimVoucher> = Vec::with_capacity(codes.len());
    for l in lines {
        if let Some(i) = order.line_index(&l.line_id) {
            let line = &order.facts.lines[i];
            if line.kind != ProductKind::Virtual {
                return Err(VoucherRefusal::NotVirtual {
                    line_id: line.line_id.clone(),
                    kind: serde_json::to_value(line.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                });
            }
        }
    }
    for (index, code) in codes.iter().enumerate() {
        if codes[..index].contains(code) {
            return Err(VoucherRefusal::Twice {
                index,
                code: code.clone(),
            });
        }
        let line = lines
            .iter()
            .filter_map(|l| order.line_index(&l.line_id))
            .map(|i| &order.facts.lines[i])
            .find(|l| l.vouchers.iter().any(|v| &v.code == code))
            .ok_or_else(|| VoucherRefusal::NotOnOrder {
                index,
                code: code.clone(),
            })?;
        out.push(ClaimVoucher {
            line_id: line.line_id.clone(),
            code: code.clone(),
            answer: None,
        });
    }
    for l in lines {
        let Some(i) = order.line_index(&l.line_id) else {
            continue;
        };
        if order.facts.lines[i].vouchers.is_empty() {
            continue;
        }
        let named = out.iter().filter(|v| v.line_id == l.line_id).count();
        if named != l.quantity as usize {
            return Err(VoucherRefusal::Count {
                line_id: l.line_id.clone(),
                units: l.quantity,
                named,
            });
        }
    }
    Ok(out)
}

/// A code a claim gives back, kept with the order's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakenCode {
    pub code: String,
    pub claim_id: String,
}

/// Records the codes a claim gives back on the order's ledger (written
/// with the order, so two claims cannot both take a code). A code another
/// claim holds is refused while that claim's entry is live (open, or
/// refunded); a rejected or cancelled claim's codes are free again.
pub fn take(
    ledger: &mut Ledger,
    claim_id: &str,
    codes: &[ClaimVoucher],
) -> Result<(), VoucherRefusal> {
    for (index, c) in codes.iter().enumerate() {
        let held = ledger.voucher_codes.iter().find(|t| {
            t.code == c.code
                && ledger
                    .entry(&t.claim_id)
                    .is_some_and(|e| e.state != EntryState::Released)
        });
        if let Some(t) = held {
            return Err(VoucherRefusal::Taken {
                index,
                code: c.code.clone(),
                claim_id: t.claim_id.clone(),
            });
        }
    }
    ledger.voucher_codes.extend(codes.iter().map(|c| TakenCode {
        code: c.code.clone(),
        claim_id: claim_id.to_owned(),
    }));
    Ok(())
}

/// The storefront's report of a code's redemption, if it made one.
pub fn reported(order: &Order, line_id: &str, code: &str) -> Option<DateTime<Utc>> {
    let i = order.line_index(line_id)?;
    order.facts.lines[i]
        .vouchers
        .iter()
        .find(|v| v.code == code)
        .and_then(|v| v.redeemed_at)
}

/// The codes of a claim that still need asking: no answer kept, and no
/// redemption reported by the storefront (which is answer enough).
pub fn to_ask<'a>(claim: &'a Claim, order: &'a Order) -> impl Iterator<Item = &'a str> + 'a {
    claim
        .vouchers
        .iter()
        .filter(|v| v.answer.is_none() && reported(order, &v.line_id, &v.code).is_none())
        .map(|v| v.code.as_str())
}

/// Keeps an answer on the claim (the first one for a code stays).
pub fn record(claim: &mut Claim, code: &str, answer: Answer) -> bool {
    match claim
        .vouchers
        .iter_mut()
        .find(|v| v.code == code && v.answer.is_none())
    {
        Some(v) => {
            v.answer = Some(answer);
            true
        }
        None => false,
    }
}

/// Keeps the storefront's reports on the claim as its evidence for codes
/// with no answer yet.
pub fn record_reports(claim: &mut Claim, order: &Order, now: DateTime<Utc>) -> bool {
    let mut changed = false;
    for v in claim.vouchers.iter_mut().filter(|v| v.answer.is_none()) {
        if let Some(at) = reported(order, &v.line_id, &v.code) {
            v.answer = Some(Answer {
                state: VoucherState::Redeemed { at: Some(at) },
                source: Source::Storefront,
                checked_at: now,
            });
            changed = true;
        }
    }
    changed
}

/// What the rules see of a claim's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// Some code was redeemed, by the issuer's answer or the storefront's
    /// report (made before or after the answer).
    pub redeemed: bool,
    /// Every code is known unused and none reported redeemed (true for a
    /// claim without codes).
    pub unused: bool,
}

/// The claim's codes as known now.
pub fn standing(claim: &Claim, order: &Order) -> Standing {
    let redeemed_one = |v: &ClaimVoucher| {
        reported(order, &v.line_id, &v.code).is_some()
            || matches!(
                v.answer.as_ref().map(|a| a.state),
                Some(VoucherState::Redeemed { .. })
            )
    };
    let redeemed = claim.vouchers.iter().any(redeemed_one);
    let unused = !redeemed
        && claim.vouchers.iter().all(|v| {
            matches!(
                v.answer.as_ref().map(|a| a.state),
                Some(VoucherState::Unused)
            )
        });
    Standing { redeemed, unused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::ClaimType;
    use crate::domain::order::OrderDraft;
    use crate::domain::testkit::{claim_on, order as plain_order, t};

    fn order(redeemed: Option<&str>) -> Order {
        let mut v = serde_json::json!({"code": "C-1"});
        if let Some(at) = redeemed {
            v["redeemed_at"] = serde_json::json!(at);
        }
        let d: OrderDraft = serde_json::from_value(serde_json::json!({
            "customer_id": "cust-1", "currency": "CNY", "placed_at": "2026-02-20T00:00:00Z",
            "lines": [
                {"line_id": "V", "sku": "CPN", "title": "coupon", "kind": "virtual",
                 "quantity": 2, "unit_price": "10.00", "vouchers": [v, {"code": "C-2"}]},
                {"line_id": "P", "sku": "MUG", "title": "mug", "kind": "physical",
                 "quantity": 1, "unit_price": "5.00"}],
            "payments": [{"payment_id": "P0", "channel": "wechat_pay", "provider_txn_id": "t",
                "paid_at": "2026-02-20T00:00:00Z", "amount": "25.00"}],
            "fulfilment": {"state": "paid_unshipped"}
        }))
        .unwrap();
        Order::parse("shop-1", "ord-1", d).unwrap()
    }

    fn req(line: &str, q: u32) -> Vec<LineRequest> {
        vec![LineRequest {
            weight_grams: None,
            line_id: line.into(),
            quantity: q,
        }]
    }

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_claim_names_one_code_per_unit_of_its_virtual_lines() {
        let o = order(None);
        let got = claim_vouchers(&o, &req("V", 1), &codes(&["C-2"])).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].line_id.as_str(), got[0].code.as_str()),
            ("V", "C-2")
        );
        let e = claim_vouchers(&o, &req("V", 2), &codes(&["C-2"])).unwrap_err();
        assert_eq!(e.code(), "voucher_codes_required", "{e}");
        let e = claim_vouchers(&o, &req("V", 1), &codes(&["NOPE"])).unwrap_err();
        assert_eq!(e.code(), "voucher_not_on_order");
        assert!(e.to_string().starts_with("voucher_codes[0]"), "{e}");
        let e = claim_vouchers(&o, &req("P", 1), &[]).unwrap_err();
        assert_eq!(e.code(), "not_virtual");
        assert!(e.to_string().contains("physical"), "{e}");
        let e = claim_vouchers(&o, &req("V", 2), &codes(&["C-1", "C-1"])).unwrap_err();
        assert!(matches!(e, VoucherRefusal::Twice { index: 1, .. }), "{e}");
    }

    #[test]
    fn a_code_is_given_back_once_while_its_claim_holds_it() {
        let o = order(None);
        let mut rec = crate::domain::ledger::OrderRecord {
            order: o.clone(),
            ledger: Default::default(),
        };
        let a = claim_vouchers(&o, &req("V", 1), &codes(&["C-1"])).unwrap();
        rec.ledger.reserve(&o, "clm-1", &req("V", 1), None).unwrap();
        take(&mut rec.ledger, "clm-1", &a).unwrap();
        rec.ledger.reserve(&o, "clm-2", &req("V", 1), None).unwrap();
        let e = take(&mut rec.ledger, "clm-2", &a).unwrap_err();
        assert_eq!(e.code(), "voucher_already_claimed");
        assert!(e.to_string().contains("clm-1"), "{e}");
        // Rejected: the code is free for another claim.
        rec.ledger.release("clm-1").unwrap();
        take(&mut rec.ledger, "clm-2", &a).unwrap();
    }

    #[test]
    fn intake_keeps_codes_on_virtual_lines_once_each() {
        let o = order(None);
        assert_eq!(check_lines(&o.facts.lines), Ok(()));
        let mut lines = o.facts.lines.clone();
        lines[1].vouchers = vec![LineVoucher {
            code: "X".into(),
            redeemed_at: None,
        }];
        assert!(check_lines(&lines)
            .unwrap_err()
            .starts_with("lines[1].vouchers"));
        let mut lines = o.facts.lines.clone();
        lines[0].vouchers[1].code = "C-1".into();
        assert!(check_lines(&lines).unwrap_err().contains("appears twice"));
        let mut lines = o.facts.lines.clone();
        lines[0].quantity = 1;
        assert!(check_lines(&lines)
            .unwrap_err()
            .contains("one code per unit"));
        let mut lines = o.facts.lines.clone();
        lines[0].vouchers[0].code = "bad code".into();
        assert!(check_lines(&lines)
            .unwrap_err()
            .starts_with("lines[0].vouchers[0].code"));
    }

    #[test]
    fn redeemed_by_either_source_and_unused_only_when_the_issuer_says_so() {
        let o = order(None);
        let mut c = claim_on(&mut plain_order(&[(1, 100)]), ClaimType::RefundOnly);
        c.vouchers = claim_vouchers(&o, &req("V", 1), &codes(&["C-1"])).unwrap();
        assert_eq!(standing(&c, &o), Standing::default(), "nothing known yet");
        assert_eq!(to_ask(&c, &o).collect::<Vec<_>>(), ["C-1"]);
        let unused = Answer {
            state: VoucherState::Unused,
            source: Source::Issuer,
            checked_at: t(0),
        };
        assert!(record(&mut c, "C-1", unused.clone()));
        assert!(!record(&mut c, "C-1", unused), "the first answer stays");
        assert_eq!(to_ask(&c, &o).count(), 0);
        assert_eq!(
            standing(&c, &o),
            Standing {
                redeemed: false,
                unused: true
            }
        );
        // The storefront reports the redemption after the issuer's answer.
        let later = order(Some("2026-02-21T00:00:00Z"));
        assert_eq!(
            standing(&c, &later),
            Standing {
                redeemed: true,
                unused: false
            }
        );
        // Reported before anyone asked: not asked, kept as the evidence.
        let mut c2 = claim_on(&mut plain_order(&[(1, 100)]), ClaimType::RefundOnly);
        c2.vouchers = claim_vouchers(&later, &req("V", 1), &codes(&["C-1"])).unwrap();
        assert_eq!(to_ask(&c2, &later).count(), 0);
        assert!(record_reports(&mut c2, &later, t(1)));
        assert_eq!(
            c2.vouchers[0].answer.as_ref().map(|a| a.source),
            Some(Source::Storefront)
        );
        assert!(standing(&c2, &later).redeemed);
    }
}
