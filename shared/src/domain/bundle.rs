//! Bundles of physical and virtual parts (a phone sold with a
//! screen-insurance e-voucher): which order lines form a bundle and how the
//! bundle's price splits between them, and how a claim naming both parts
//! becomes two tracks.
//!
//! Each part is an order line of its own, so the ledger, the refunds and
//! the claim lines work per part as for any line; the bundle says which
//! lines belong together and checks that the split the storefront gives
//! (`share` per part) is exactly what each line costs and adds up to the
//! bundle's price. A return naming the goods and the virtual part files
//! two claims in one commit: the goods follow return and inspection, the
//! virtual part goes the virtual-goods way at once (a `virtual_unused`
//! claim), each linked to the other so the customer sees both.

use super::ids::ClaimId;
use super::ledger::LineRequest;
use super::money::{checked_sum, Amount, Money};
use super::order::{check_id, Order, OrderDraft, ProductKind};
use serde::{Deserialize, Serialize};

/// Most bundles on one order, and parts in one bundle.
pub const MAX_BUNDLES: usize = 50;
pub const MAX_PARTS: usize = 10;

/// Lines sold together, as the storefront reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub bundle_id: String,
    /// What the bundle was sold for: the parts' shares add up to it.
    pub price: Amount,
    pub parts: Vec<BundlePart>,
}

/// One line of a bundle and its share of the bundle's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePart {
    pub line_id: String,
    /// The line's amount (quantity × unit_price − discount).
    pub share: Amount,
}

/// Checks an order's bundles at intake; the message names the field.
pub fn check(d: &OrderDraft) -> Result<(), String> {
    let cur = d.currency;
    if d.bundles.len() > MAX_BUNDLES {
        return Err(format!("bundles: at most {MAX_BUNDLES}"));
    }
    let mut taken: Vec<&str> = Vec::new();
    for (i, b) in d.bundles.iter().enumerate() {
        check_id("bundle_id", &b.bundle_id).map_err(|e| format!("bundles[{i}].{e}"))?;
        if d.bundles[..i].iter().any(|o| o.bundle_id == b.bundle_id) {
            return Err(format!(
                "bundles[{i}].bundle_id: {} appears twice",
                b.bundle_id
            ));
        }
        if b.parts.len() < 2 || b.parts.len() > MAX_PARTS {
            return Err(format!("bundles[{i}].parts: 2 to {MAX_PARTS} parts"));
        }
        let price = b
            .price
            .to_minor(cur)
            .map_err(|e| format!("bundles[{i}].price: {e}"))?;
        let mut shares = Vec::with_capacity(b.parts.len());
        for (j, p) in b.parts.iter().enumerate() {
            let field = format!("bundles[{i}].parts[{j}]");
            let Some(line) = d.lines.iter().find(|l| l.line_id == p.line_id) else {
                return Err(format!(
                    "{field}.line_id: line {} is not on the order",
                    p.line_id
                ));
            };
            if taken.contains(&p.line_id.as_str()) {
                return Err(format!(
                    "{field}.line_id: line {} is already part of a bundle",
                    p.line_id
                ));
            }
            taken.push(&p.line_id);
            let share = p
                .share
                .to_minor(cur)
                .map_err(|e| format!("{field}.share: {e}"))?;
            let net = line_net(line, cur)
                .ok_or_else(|| format!("{field}.share: line {} has no amount", p.line_id))?;
            if share != net {
                return Err(format!(
                    "{field}.share: {} is not line {}'s amount {} (quantity × unit_price − discount)",
                    Money::from_minor(share, cur),
                    p.line_id,
                    Money::from_minor(net, cur)
                ));
            }
            shares.push(share);
        }
        let sum = checked_sum(shares).map_err(|e| format!("bundles[{i}].parts: {e}"))?;
        if sum != price {
            return Err(format!(
                "bundles[{i}].price: the parts' shares add up to {}, not the bundle price {}",
                Money::from_minor(sum, cur),
                Money::from_minor(price, cur)
            ));
        }
    }
    if let Some((i, l)) =
        d.lines.iter().enumerate().find(|(_, l)| {
            l.kind == ProductKind::BundlePart && !taken.contains(&l.line_id.as_str())
        })
    {
        return Err(format!(
            "lines[{i}]: line {} is a bundle_part but in no bundle",
            l.line_id
        ));
    }
    Ok(())
}

fn line_net(l: &super::order::OrderLine, cur: super::money::Currency) -> Option<i64> {
    let price = l.unit_price.to_minor(cur).ok()?;
    let discount = l.discount.to_minor(cur).ok()?;
    price
        .checked_mul(i64::from(l.quantity))?
        .checked_sub(discount)
}

/// The bundle a line belongs to.
pub fn bundle_of<'a>(order: &'a Order, line_id: &str) -> Option<&'a Bundle> {
    order
        .facts
        .bundles
        .iter()
        .find(|b| b.parts.iter().any(|p| p.line_id == line_id))
}

fn is_virtual(order: &Order, line_id: &str) -> bool {
    order
        .line_index(line_id)
        .is_some_and(|i| order.facts.lines[i].kind == ProductKind::Virtual)
}

/// A return naming the goods and the virtual part of a bundle, as two
/// tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub bundle_id: String,
    /// What goes back by parcel (the claim as filed, less the virtual part).
    pub goods: Vec<LineRequest>,
    /// The virtual part: refunded the virtual-goods way.
    pub virtual_part: Vec<LineRequest>,
}

/// Splits a return's lines when they name a bundle's goods and its virtual
/// part; None otherwise (one claim as usual).
pub fn split(order: &Order, returns: bool, lines: &[LineRequest]) -> Option<Split> {
    if !returns {
        return None;
    }
    let named = |b: &Bundle, want_virtual: bool| {
        lines.iter().any(|l| {
            b.parts.iter().any(|p| p.line_id == l.line_id)
                && is_virtual(order, &l.line_id) == want_virtual
        })
    };
    let bundle = order
        .facts
        .bundles
        .iter()
        .find(|b| named(b, true) && named(b, false))?;
    let (virtual_part, goods): (Vec<_>, Vec<_>) = lines.iter().cloned().partition(|l| {
        is_virtual(order, &l.line_id) && bundle.parts.iter().any(|p| p.line_id == l.line_id)
    });
    Some(Split {
        bundle_id: bundle.bundle_id.clone(),
        goods,
        virtual_part,
    })
}

/// Which track of a bundle a claim is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// The goods: return and inspection.
    Goods,
    /// The virtual part, filed with the goods' return.
    Virtual,
}

/// A claim's place in a bundle's two tracks: which one it is, and the
/// claim that carries the other part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleLink {
    pub bundle_id: String,
    pub track: Track,
    pub partner_claim_id: ClaimId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(share_phone: &str, price: &str) -> OrderDraft {
        serde_json::from_value(serde_json::json!({
            "customer_id": "cust-1", "currency": "CNY", "placed_at": "2026-02-20T00:00:00Z",
            "lines": [
                {"line_id": "PHONE", "sku": "P", "title": "phone", "kind": "bundle_part",
                 "quantity": 1, "unit_price": "3999.00"},
                {"line_id": "INS", "sku": "I", "title": "screen insurance", "kind": "virtual",
                 "quantity": 1, "unit_price": "199.00", "vouchers": [{"code": "INS-1"}]},
                {"line_id": "CASE", "sku": "C", "title": "case", "kind": "physical",
                 "quantity": 1, "unit_price": "20.00"}],
            "payments": [{"payment_id": "P0", "channel": "wechat_pay", "provider_txn_id": "t",
                "paid_at": "2026-02-20T00:00:00Z", "amount": "4218.00"}],
            "fulfilment": {"state": "paid_unshipped"},
            "bundles": [{"bundle_id": "B1", "price": price, "parts": [
                {"line_id": "PHONE", "share": share_phone}, {"line_id": "INS", "share": "199.00"}]}]
        }))
        .unwrap()
    }

    fn req(ids: &[&str]) -> Vec<LineRequest> {
        ids.iter()
            .map(|id| LineRequest {
                weight_grams: None,
                line_id: id.to_string(),
                quantity: 1,
            })
            .collect()
    }

    #[test]
    fn the_split_must_be_the_lines_and_add_up_to_the_price() {
        assert_eq!(check(&draft("3999.00", "4198.00")), Ok(()));
        let e = check(&draft("3999.00", "4200.00")).unwrap_err();
        assert!(
            e.starts_with("bundles[0].price: the parts' shares add up to 4198.00"),
            "{e}"
        );
        let e = check(&draft("3900.00", "4099.00")).unwrap_err();
        assert!(e.starts_with("bundles[0].parts[0].share: 3900.00"), "{e}");
        let mut d = draft("3999.00", "4198.00");
        d.bundles[0].parts[1].line_id = "NOPE".into();
        let e = check(&d).unwrap_err();
        assert!(e.starts_with("bundles[0].parts[1].line_id"), "{e}");
        let mut d = draft("3999.00", "4198.00");
        d.bundles[0].parts[1].line_id = "PHONE".into();
        assert!(check(&d).unwrap_err().contains("already part of a bundle"));
        let mut d = draft("3999.00", "4198.00");
        d.bundles.clear();
        assert!(check(&d).unwrap_err().starts_with("lines[0]"));
        // The order refuses it the same way.
        let e = Order::parse("s", "o", draft("3999.00", "4200.00")).unwrap_err();
        assert!(e.to_string().contains("bundles[0].price"), "{e}");
    }

    #[test]
    fn a_return_of_both_parts_splits_the_virtual_one_off() {
        let o = Order::parse("s", "o", draft("3999.00", "4198.00")).unwrap();
        let s = split(&o, true, &req(&["PHONE", "INS", "CASE"])).unwrap();
        assert_eq!(s.bundle_id, "B1");
        assert_eq!(s.goods, req(&["PHONE", "CASE"]));
        assert_eq!(s.virtual_part, req(&["INS"]));
        assert_eq!(split(&o, true, &req(&["PHONE"])), None, "the phone alone");
        assert_eq!(split(&o, true, &req(&["INS"])), None, "the insurance alone");
        assert_eq!(split(&o, false, &req(&["PHONE", "INS"])), None);
        assert_eq!(
            bundle_of(&o, "INS").map(|b| b.bundle_id.as_str()),
            Some("B1")
        );
        assert!(bundle_of(&o, "CASE").is_none());
    }
}
