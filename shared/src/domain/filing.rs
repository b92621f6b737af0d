//! Filing a claim: what it asks for and costs against its order's ledger
//! and the shop's policy, and what the merchant queue needs of it.

use super::change::Refused;
use super::claim::{
    Actor, Claim, ClaimEvent, ClaimLine, ClaimType, NewClaim, ReasonCode, ReviewInfo, SpecialKind,
};
use super::ids::{ClaimId, CustomerId};
use super::ledger::{LedgerError, LineRequest, OrderRecord};
use super::money::{Currency, Money};
use super::order::Order;
use super::policy::ShopPolicy;
use super::refund::RefundRoute;
use super::returns::{terms, ReturnTerms};
use chrono::{DateTime, Utc};

/// What a submission asks for.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    /// The customer opened the goods (a no-reason return of opened goods
    /// may carry the shop's restocking fee).
    pub opened: bool,
    pub lines: &'a [LineRequest],
    /// In the order's currency; None asks for everything the lines can give
    /// back.
    pub amount: Option<Money>,
}

/// What a claim would take and cost, before it is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// What the claim asks for.
    pub requested: Money,
    /// Everything the lines could give back, before any fee.
    pub refundable: Money,
    /// For goods going back: who pays the parcel, the restocking fee.
    pub terms: Option<ReturnTerms>,
}

/// Why a submission cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("an exchange moves no money: leave amount out")]
    ExchangeWithAmount,
    /// A claim for nothing would only take the lines out of reach of a
    /// real one; an exchange is the way to ask for goods, not money.
    #[error("a claim asks for more than {}", Money::from_minor(0, *.0))]
    Nothing(Currency),
    #[error("requested {requested} exceeds the refundable {most}{}", fee_note(*.fee))]
    TooMuch {
        requested: Money,
        most: Money,
        fee: Money,
    },
}

fn fee_note(fee: Money) -> String {
    if fee.is_positive() {
        format!(" after the restocking fee of {fee}")
    } else {
        String::new()
    }
}

/// The amount a submission asks for and, for goods going back, who pays the
/// parcel and the restocking fee (deducted from what the lines can give).
pub fn price(policy: &ShopPolicy, rec: &OrderRecord, asked: &Asked) -> Result<Priced, PriceError> {
    let currency = rec.order.currency();
    let money = |minor: i64| Money::from_minor(minor, currency);
    let refundable = rec.ledger.refundable(&rec.order, asked.lines)?;
    let refundable = Money::checked_sum(currency, refundable).map_err(LedgerError::from)?;
    let exchange = asked.claim_type == ClaimType::Exchange;
    if exchange && asked.amount.is_some_and(|a| !a.is_zero()) {
        return Err(PriceError::ExchangeWithAmount);
    }
    let terms = asked.claim_type.needs_return().then(|| {
        terms(
            policy,
            asked.reason,
            rec.order.facts.member_tier,
            asked.opened,
            if exchange { money(0) } else { refundable },
        )
    });
    // A faulty appliance is never a restocking case, whatever reason was
    // picked.
    let terms = terms.map(|mut t| {
        if asked.claim_type
            == (ClaimType::SpecialClaim {
                kind: SpecialKind::ApplianceRepair,
            })
        {
            t.restocking_fee = money(0);
        }
        t
    });
    if exchange {
        return Ok(Priced {
            requested: money(0),
            refundable,
            terms,
        });
    }
    // Worked out in minor units of the order's currency.
    let fee = terms.as_ref().map_or(0, |t| t.restocking_fee.minor());
    let most = refundable.minor() - fee;
    let requested = match asked.amount {
        Some(a) => a.minor_in(currency).map_err(LedgerError::from)?,
        None => most,
    };
    if requested <= 0 {
        return Err(PriceError::Nothing(currency));
    }
    if requested > most {
        return Err(PriceError::TooMuch {
            requested: money(requested),
            most: money(most),
            fee: money(fee),
        });
    }
    Ok(Priced {
        requested: money(requested),
        refundable,
        terms,
    })
}

/// What the desk sorts and filters by, and the deadline from the shop's
/// policy for the customer's tier.
pub fn review_info(
    order: &Order,
    claim: &Claim,
    policy: &ShopPolicy,
    now: DateTime<Utc>,
) -> ReviewInfo {
    let mut kinds: Vec<_> = claim
        .lines
        .iter()
        .filter_map(|l| order.line_index(&l.line_id))
        .map(|i| order.facts.lines[i].kind)
        .collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    kinds.dedup();
    let tier = order.facts.member_tier;
    let hours = policy.review_deadline_hours.hours_for(tier);
    ReviewInfo {
        member_tier: tier,
        product_kinds: kinds,
        due_at: Some(now + chrono::Duration::hours(i64::from(hours))),
        escalated: false,
        order_benefits: !order.facts.coupons_used.is_empty() || order.facts.points_used.is_some(),
        shipped: order.facts.fulfilment.shipped_at.is_some(),
        signals: None,
    }
}

/// A claim as its customer files it, priced by [`price`].
#[derive(Debug, Clone)]
pub struct Filing<'a> {
    pub claim_id: ClaimId,
    pub customer_id: &'a CustomerId,
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub description: &'a str,
    /// Evidence keys, already checked against the customer's uploads.
    pub evidence: &'a [String],
    pub lines: &'a [LineRequest],
    pub refund_to: &'a RefundRoute,
    pub priced: Priced,
}

/// Files a claim on its order: within the shop's cap of claims per line,
/// its lines reserved on the order's ledger (changed in `rec`) at the
/// priced amount, its review deadline and return terms set. The claim and
/// its first event.
pub fn file(
    rec: &mut OrderRecord,
    policy: &ShopPolicy,
    f: Filing<'_>,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<(Claim, ClaimEvent), Refused> {
    // A cap per line stops endless re-filing after rejections.
    for l in f.lines {
        let filed = rec
            .ledger
            .entries
            .iter()
            .filter(|e| e.lines.iter().any(|d| d.line_id == l.line_id))
            .count();
        if filed >= policy.max_claims_per_line as usize {
            return Err(Refused::not_now(
                "claim_limit_reached",
                format!(
                    "line {} already had {filed} claims; this shop allows {}",
                    l.line_id, policy.max_claims_per_line
                ),
            ));
        }
    }
    if let ClaimType::SpecialClaim { kind } = f.claim_type {
        let ids: Vec<&str> = f.lines.iter().map(|l| l.line_id.as_str()).collect();
        super::appliance::check_lines(kind, &rec.order, &ids)
            .map_err(|e| Refused::invalid("wrong_kind", e.to_string()))?;
    }
    super::fresh::check_lines(f.claim_type, &rec.order, f.lines).map_err(|e| {
        let code = match e {
            super::fresh::FreshRefusal::NotFresh(_) => "not_fresh_produce",
            super::fresh::FreshRefusal::WeightOutsideFresh(_) => "weight_share_not_allowed",
        };
        Refused::invalid(code, e.to_string())
    })?;
    let compensation = match f.claim_type {
        ClaimType::SpecialClaim {
            kind: SpecialKind::PreSaleCompensation,
        } => Some(presale_compensation(rec, policy, &f, now)?),
        _ => None,
    };
    let customs = f.claim_type
        == ClaimType::SpecialClaim {
            kind: SpecialKind::CrossBorderCustoms,
        };
    if customs {
        super::crossborder::check_claim(&rec.order, f.lines)
            .map_err(|e| Refused::invalid(e.code(), e.to_string()))?;
    }
    let entry = rec
        .ledger
        .reserve(&rec.order, &f.claim_id, f.lines, Some(f.priced.requested))?;
    let cross_border = match (customs, &rec.order.facts.cross_border) {
        (true, Some(c)) => Some(super::crossborder::CustomsClaim {
            declaration_no: c.declaration_no.clone(),
            due_back: super::crossborder::due_back(&rec.order, entry)
                .map_err(|e| Refused::invalid("invalid_amount", e.to_string()))?,
            clearance: None,
        }),
        _ => None,
    };
    let lines = ClaimLine::of_entry(entry);
    let (mut claim, event) = Claim::submit(
        NewClaim {
            claim_id: f.claim_id,
            shop_id: rec.order.shop_id.clone(),
            order_id: rec.order.order_id.clone(),
            customer_id: f.customer_id.clone(),
            claim_type: f.claim_type,
            reason: f.reason,
            description: f.description.to_owned(),
            evidence: f.evidence.to_vec(),
            lines,
            currency: rec.order.currency(),
        },
        actor,
        now,
    )?;
    claim.review = review_info(&rec.order, &claim, policy, now);
    claim.refund_to = f.refund_to.clone();
    claim.returns.terms = f.priced.terms;
    claim.compensation = compensation.filter(|m| m.is_positive());
    claim.cross_border = cross_border;
    Ok((claim, event))
}

/// A pre-sale compensation claim: the whole order, everything still
/// refundable, once the shop's threshold passed. The compensation beyond
/// the payments.
fn presale_compensation(
    rec: &OrderRecord,
    policy: &ShopPolicy,
    f: &Filing<'_>,
    now: DateTime<Utc>,
) -> Result<Money, Refused> {
    use super::presale::{compensation, PreSaleRefusal};
    let back = compensation(&rec.order, &policy.presale, now).map_err(|e| {
        let code = match e {
            PreSaleRefusal::NotPreSale => "not_a_pre_sale",
            PreSaleRefusal::Shipped => "already_shipped",
            PreSaleRefusal::BalanceUnpaid => "balance_unpaid",
            PreSaleRefusal::TooEarly { .. } => "compensation_not_due",
            PreSaleRefusal::Money(_) => "invalid_amount",
        };
        Refused::invalid(code, e.to_string())
    })?;
    let whole = rec.order.facts.lines.iter().all(|l| {
        f.lines
            .iter()
            .filter(|r| r.line_id == l.line_id)
            .map(|r| r.quantity)
            .sum::<u32>()
            == l.quantity
    });
    if !whole || f.priced.requested != f.priced.refundable {
        return Err(Refused::invalid(
            "whole_order_required",
            "a pre-sale compensation claim is for every unit of every line and everything paid",
        ));
    }
    if !rec.ledger.entries.is_empty() {
        return Err(Refused::invalid(
            "whole_order_required",
            "this order already has claims: compensation is for an order nothing was refunded on",
        ));
    }
    Ok(back.compensation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::{claim_on, order, t};

    fn asked(claim_type: ClaimType, lines: &[LineRequest], amount: Option<i64>) -> Asked<'_> {
        Asked {
            claim_type,
            reason: ReasonCode::Defective,
            opened: false,
            lines,
            amount: amount.map(cny),
        }
    }

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Cny)
    }

    fn line(q: u32) -> Vec<LineRequest> {
        vec![LineRequest {
            line_id: "L0".into(),
            quantity: q,
            weight_grams: None,
        }]
    }

    #[test]
    fn a_refund_asks_for_everything_the_lines_give_unless_told() {
        let rec = order(&[(2, 5_000)]);
        let p = price(
            &ShopPolicy::default(),
            &rec,
            &asked(ClaimType::RefundOnly, &line(1), None),
        )
        .unwrap();
        assert_eq!(
            (p.requested, p.refundable, p.terms),
            (cny(5_000), cny(5_000), None)
        );
        let p = price(
            &ShopPolicy::default(),
            &rec,
            &asked(ClaimType::RefundOnly, &line(2), Some(7_000)),
        )
        .unwrap();
        assert_eq!((p.requested, p.refundable), (cny(7_000), cny(10_000)));
    }

    #[test]
    fn more_than_the_lines_give_is_refused_with_the_amounts() {
        let rec = order(&[(1, 5_000)]);
        let e = price(
            &ShopPolicy::default(),
            &rec,
            &asked(ClaimType::RefundOnly, &line(1), Some(5_001)),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "requested 50.01 CNY exceeds the refundable 50.00 CNY"
        );
    }

    #[test]
    fn nothing_asked_and_money_for_an_exchange_are_refused() {
        let rec = order(&[(1, 5_000)]);
        let policy = ShopPolicy::default();
        assert_eq!(
            price(
                &policy,
                &rec,
                &asked(ClaimType::RefundOnly, &line(1), Some(0))
            ),
            Err(PriceError::Nothing(Currency::Cny))
        );
        assert_eq!(
            price(
                &policy,
                &rec,
                &asked(ClaimType::Exchange, &line(1), Some(100))
            ),
            Err(PriceError::ExchangeWithAmount)
        );
        let p = price(&policy, &rec, &asked(ClaimType::Exchange, &line(1), None)).unwrap();
        assert_eq!(p.requested, cny(0));
        assert!(p.terms.is_some(), "the goods go back for an exchange");
    }

    #[test]
    fn an_amount_in_another_currency_than_the_orders_is_refused() {
        let rec = order(&[(1, 5_000)]);
        let lines = line(1);
        let mut usd = asked(ClaimType::RefundOnly, &lines, None);
        usd.amount = Some(Money::from_minor(100, Currency::Usd));
        assert_eq!(
            price(&ShopPolicy::default(), &rec, &usd),
            Err(PriceError::Ledger(LedgerError::Money(
                crate::domain::money::MoneyError::CurrencyMismatch("USD", "CNY")
            )))
        );
    }

    #[test]
    fn unknown_lines_are_the_ledgers_to_refuse() {
        let rec = order(&[(1, 5_000)]);
        let lines = vec![LineRequest {
            line_id: "nope".into(),
            quantity: 1,
            weight_grams: None,
        }];
        assert!(matches!(
            price(
                &ShopPolicy::default(),
                &rec,
                &asked(ClaimType::RefundOnly, &lines, None)
            ),
            Err(PriceError::Ledger(LedgerError::UnknownLine(_)))
        ));
    }

    #[test]
    fn the_review_deadline_follows_the_tier_policy() {
        let mut rec = order(&[(1, 5_000)]);
        let claim = claim_on(&mut rec, ClaimType::RefundOnly);
        let policy = ShopPolicy::default();
        let info = review_info(&rec.order, &claim, &policy, t(0));
        let hours = policy
            .review_deadline_hours
            .hours_for(rec.order.facts.member_tier);
        assert_eq!(
            info.due_at,
            Some(t(0) + chrono::Duration::hours(i64::from(hours)))
        );
        assert_eq!(info.product_kinds.len(), 1);
        assert!(!info.escalated);
    }

    /// Files one unit of `L0` of `rec` as claim `id`, priced first.
    fn file_one(rec: &mut OrderRecord, policy: &ShopPolicy, id: &str) -> Result<Claim, Refused> {
        let lines = line(1);
        let priced = price(policy, rec, &asked(ClaimType::RefundOnly, &lines, None)).unwrap();
        let customer = CustomerId::from("cust-1");
        let f = Filing {
            claim_id: id.into(),
            customer_id: &customer,
            claim_type: ClaimType::RefundOnly,
            reason: ReasonCode::Defective,
            description: "does not heat",
            evidence: &[],
            lines: &lines,
            refund_to: &RefundRoute::Original,
            priced,
        };
        let actor = Actor::Customer {
            id: "cust-1".into(),
        };
        file(rec, policy, f, actor, t(5)).map(|(claim, _)| claim)
    }

    #[test]
    fn filing_reserves_the_lines_and_sets_the_review_deadline() {
        let mut rec = order(&[(2, 5_000)]);
        let policy = ShopPolicy::default();
        let claim = file_one(&mut rec, &policy, "clm-1").unwrap();
        assert_eq!(claim.requested_amount, cny(5_000));
        assert_eq!(claim.shop_id, rec.order.shop_id);
        assert!(claim.review.due_at.is_some());
        assert_eq!(rec.ledger.entries.len(), 1);
        assert_eq!(rec.ledger.entries[0].claim_id, claim.claim_id.to_string());
    }

    #[test]
    fn a_line_is_claimed_at_most_as_often_as_the_policy_allows() {
        let mut rec = order(&[(20, 5_000)]);
        let policy = ShopPolicy {
            max_claims_per_line: 2,
            ..ShopPolicy::default()
        };
        file_one(&mut rec, &policy, "clm-1").unwrap();
        file_one(&mut rec, &policy, "clm-2").unwrap();
        let before = rec.ledger.clone();
        let refused = file_one(&mut rec, &policy, "clm-3").unwrap_err();
        assert!(
            matches!(
                refused,
                Refused::NotNow {
                    code: "claim_limit_reached",
                    ..
                }
            ),
            "{refused:?}"
        );
        assert_eq!(rec.ledger, before, "a refused filing reserves nothing");
    }
}
