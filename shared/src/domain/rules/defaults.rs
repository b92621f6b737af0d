//! The rule set a new shop starts with, kept as the JSON staff would write
//! so that it goes through the same parser and checks as theirs.

use super::RuleSet;
use crate::domain::rejections::Catalogue;

/// The rules a new shop starts with (the seed article's examples and a few
/// more), in the order they are tried:
/// 0. A photo already on another claim, or taken before the order was
///    delivered, goes to a person whatever else holds.
/// 0b. A pre-sale compensation claim once the compensation is due (the
///    balance paid and nothing shipped for the policy's days) approves,
///    whatever the amount: the payments back and the deposit's multiple
///    beyond them (the amount is the shop's own rule, not a risk).
/// 0c. A virtual-goods claim whose code was redeemed (the issuer's answer
///    or the storefront's report) is rejected with the published reason;
///    the virtual part of a bundle filed with the return of its goods
///    approves once its code is known unused, even past the virtual
///    window (the insurance goes with the phone).
/// 0c. An appliance fault claim on lines the installer installed within
///    the policy's fault window (15 days) is a fast refund: the appliance
///    goes back by pickup without fees and the money follows as soon as
///    the courier has it, without waiting for an inspection.
/// 0c. A cross-border customs claim approves once the clearance port
///    confirmed the clearance failed or the parcel back with the seller
///    (goods, duties, taxes and international shipping back); before that
///    it waits with staff (manual review, never a second review, so the
///    port's news can still decide it).
/// 1. Refund only on an unshipped order approves, whatever the amount:
///    nothing left the warehouse, so nothing can be lost but the sale.
/// 2. More than 500.00 goes to an admin's second review.
/// 3. A return asked for more than 7 days after shipment goes to a person.
/// 4. A virtual coupon the issuer says is unused, inside the virtual refund
///    window, approves.
/// 5. Fresh spoilage reported after the fresh claim window is rejected with
///    the published reason; inside the window but without complete photos,
///    the customer is asked for them (bad fruit and the waybill: the
///    policy's `fresh.min_photos`); with them, up to the policy's
///    `fresh.auto_approve_max`, it approves.
/// 6. Refund only and return-and-refund of at most 50.00 inside the policy
///    window approve. Exchanges are left out (they move no money, so every
///    exchange would count as "at most 50.00") and so are special claims,
///    which have their own checks above.
/// 7. A quality complaint without any photo asks for one.
/// 8. A gold, platinum or diamond member's exchange inside the policy
///    window is a fast exchange: the replacement may ship once the return
///    parcel is moving.
///
/// Everything else goes to manual review.
pub fn default_rules() -> RuleSet {
    // Parsed once: a shop without its own set runs these on every decision.
    static PARSED: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| {
            RuleSet::parse(DEFAULT_RULES, &Catalogue::builtin())
                .expect("the default rules validate (tested)")
        })
        .clone()
}

const DEFAULT_RULES: &str = r#"{"rules": [
  {"id": "reused-photo-manual",
   "description": "凭证照片在其他售后单中出现过,转人工审核 (a photo already used on another claim)",
   "when": {"evidence_reused": {"eq": true}},
   "then": {"decision": "manual_review"}},
  {"id": "photo-before-delivery-manual",
   "description": "凭证照片拍摄于签收之前,转人工审核 (a photo taken before delivery)",
   "when": {"photo_before_delivery": {"eq": true}},
   "then": {"decision": "manual_review"}},
  {"id": "presale-compensation",
   "description": "预售尾款付清后逾期未发货,按规则赔付定金 (pre-sale not shipped in time: compensation)",
   "when": {"special_kind": {"eq": "pre_sale_compensation"}, "presale_compensation_due": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "virtual-redeemed-reject",
   "description": "电子券码已使用,不支持退款 (a redeemed voucher code)",
   "when": {"special_kind": {"eq": "virtual_unused"}, "voucher_redeemed": {"eq": true}},
   "then": {"decision": "reject", "reason": "virtual_goods_consumed"}},
  {"id": "bundle-virtual-with-return",
   "description": "套装退货时,未使用的电子权益随主商品一并退款 (an unused virtual part goes with its bundle's return)",
   "when": {"special_kind": {"eq": "virtual_unused"}, "with_bundle_return": {"eq": true},
            "voucher_unused": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "appliance-installation-fault",
   "description": "大家电安装后 15 天内故障,凭安装记录免检测退货 (installed and faulty within the window: return without inspection)",
   "when": {"special_kind": {"eq": "appliance_repair"}, "installed_faulty_within_window": {"eq": true}},
   "then": {"decision": "fast_refund"}},
  {"id": "xborder-customs-confirmed",
   "description": "跨境清关失败或包裹已退回,退还货款、关税及国际运费 (customs refused or parcel back: refund with duties)",
   "when": {"special_kind": {"eq": "cross_border_customs"}, "customs_refund_confirmed": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "xborder-customs-wait",
   "description": "跨境清关结果未确认,等待海关/物流回执 (customs outcome not confirmed yet: wait)",
   "when": {"special_kind": {"eq": "cross_border_customs"}},
   "then": {"decision": "manual_review"}},
  {"id": "unshipped-refund-only",
   "description": "未发货订单申请仅退款,自动通过 (refund only on an unshipped order)",
   "when": {"claim_type": {"in": ["refund_only"]}, "fulfilment": {"eq": "paid_unshipped"}},
   "then": {"decision": "approve"}},
  {"id": "large-amount-second-review",
   "description": "退款超过 500 元需管理员二次审核 (over 500.00: an admin decides)",
   "when": {"amount": {"gt": "500.00"}},
   "then": {"decision": "second_review"}},
  {"id": "late-return-manual",
   "description": "已发货超 7 天申请退货,需人工审核 (return asked for more than 7 days after shipment)",
   "when": {"claim_type": {"in": ["return_refund"]}, "days_since_shipment": {"gt": 7}},
   "then": {"decision": "manual_review"}},
  {"id": "virtual-unused-refund",
   "description": "虚拟商品未使用,在退款期限内申请退款自动通过 (unused virtual goods inside the window)",
   "when": {"special_kind": {"eq": "virtual_unused"}, "within_policy_window": {"eq": true},
            "voucher_unused": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "fresh-spoilage-late",
   "description": "生鲜坏果超出理赔时限 (fresh spoilage reported after the claim window)",
   "when": {"special_kind": {"eq": "fresh_spoilage"}, "within_policy_window": {"eq": false}},
   "then": {"decision": "reject", "reason": "fresh_window_passed"}},
  {"id": "fresh-spoilage-evidence",
   "description": "生鲜坏果理赔需审核凭证 (fresh spoilage needs photos first)",
   "when": {"special_kind": {"eq": "fresh_spoilage"}, "evidence_complete": {"eq": false}},
   "then": {"decision": "request_evidence", "note": "请上传坏果照片及快递面单照片,以便我们尽快为您理赔。"}},
  {"id": "fresh-spoilage-approve",
   "description": "生鲜坏果在时限内凭证齐全,限额内自动理赔 (fresh spoilage in the window with the photos, up to the policy amount)",
   "when": {"special_kind": {"eq": "fresh_spoilage"}, "within_policy_window": {"eq": true},
            "evidence_complete": {"eq": true}, "fresh_within_auto_limit": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "small-refund",
   "description": "单笔退款金额不超过 50 元,自动通过 (at most 50.00 inside the policy window)",
   "when": {"claim_type": {"in": ["refund_only", "return_refund"]}, "amount": {"lte": "50.00"},
            "within_policy_window": {"eq": true}},
   "then": {"decision": "approve"}},
  {"id": "quality-issue-evidence",
   "description": "质量问题未上传凭证,请用户补充 (quality complaint without photos)",
   "when": {"quality_issue": {"eq": true}, "evidence_count": {"eq": 0}},
   "then": {"decision": "request_evidence", "note": "请上传能清楚显示商品问题的照片或视频,以便我们尽快处理。"}},
  {"id": "member-fast-exchange",
   "description": "黄金及以上会员换货,寄回包裹揽收后即可先发新品 (fast exchange for gold members and above)",
   "when": {"claim_type": {"in": ["exchange"]}, "member_tier": {"in": ["gold", "platinum", "diamond"]},
            "within_policy_window": {"eq": true}},
   "then": {"decision": "fast_exchange"}}
]}"#;
