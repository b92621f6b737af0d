//! The pages' words in Simplified Chinese and English: every label, button
//! and sentence a page shows, one table per language. Claim steps reuse the
//! inbox's wording ([`crate::domain::messages`]), so a step reads the same
//! on the timeline and in the inbox.

use crate::domain::claim::{ClaimStatus, ClaimType, ReasonCode, SpecialKind};
use crate::domain::order::{FulfilmentState, Language};

/// The languages the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    /// As `?lang=` and the `lang` attribute spell it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// `zh-CN`, `zh`, `en`, `en-GB`... (any case); None for the others.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        let primary = s.split(['-', '_']).next().unwrap_or("");
        match primary {
            "zh" => Some(Lang::ZhCn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header we write in, by
    /// the weights it gives (`q=0` refuses a language).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or("").trim();
            let q = bits
                .filter_map(|b| b.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let Some(lang) = Lang::parse(tag) else {
                continue;
            };
            if q <= 0.0 {
                continue;
            }
            // Highest weight wins; among equals, the first listed.
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l)
    }

    /// The domain's language (messages, money).
    pub fn language(self) -> Language {
        match self {
            Lang::ZhCn => Language::ZhCn,
            Lang::En => Language::En,
        }
    }

    pub fn t(self) -> &'static Text {
        match self {
            Lang::ZhCn => &ZH_CN,
            Lang::En => &EN,
        }
    }
}

/// Every fixed text of the pages.
pub struct Text {
    pub app_name: &'static str,
    pub nav_label: &'static str,
    pub nav_claims: &'static str,
    pub nav_inbox: &'static str,
    pub nav_desk: &'static str,
    pub sign_out: &'static str,
    pub switch_language: &'static str,
    pub other_language: &'static str,
    pub other_language_code: &'static str,
    // sign-in
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub sign_in_as: &'static str,
    pub role_customer: &'static str,
    pub role_storefront: &'static str,
    pub role_staff: &'static str,
    pub customer_id: &'static str,
    pub staff_id: &'static str,
    pub shop_id: &'static str,
    pub staff_roles: &'static str,
    pub staff_role_reviewer: &'static str,
    pub staff_role_admin: &'static str,
    pub staff_role_finance: &'static str,
    pub sign_in_button: &'static str,
    pub sign_in_missing_id: &'static str,
    pub sign_in_missing_shop: &'static str,
    pub sign_in_unavailable: &'static str,
    // home
    pub my_claims: &'static str,
    pub no_claims: &'static str,
    pub signed_in_as: &'static str,
    pub shop_pages_later: &'static str,
    pub open_order: &'static str,
    pub order_id: &'static str,
    pub open_button: &'static str,
    pub claim: &'static str,
    pub order: &'static str,
    pub claim_type: &'static str,
    pub status: &'static str,
    pub requested: &'static str,
    pub approved_amount: &'static str,
    pub filed_at: &'static str,
    // order
    pub order_title: &'static str,
    pub placed_at: &'static str,
    pub fulfilment: &'static str,
    pub lines: &'static str,
    pub item: &'static str,
    pub quantity: &'static str,
    pub paid: &'static str,
    pub can_still_claim: &'static str,
    pub order_refundable: &'static str,
    pub nothing_left: &'static str,
    pub policy_title: &'static str,
    pub policy_no_reason: &'static str,
    pub policy_review: &'static str,
    pub policy_auto_approve: &'static str,
    pub policy_return_shipping_customer: &'static str,
    pub policy_return_shipping_shop: &'static str,
    pub claim_form: &'static str,
    pub reason: &'static str,
    pub line: &'static str,
    pub amount: &'static str,
    pub amount_hint: &'static str,
    pub type_hint: &'static str,
    pub opened: &'static str,
    pub voucher_codes: &'static str,
    pub voucher_codes_hint: &'static str,
    pub description: &'static str,
    pub description_hint: &'static str,
    pub photos: &'static str,
    pub photos_hint: &'static str,
    pub quote_button: &'static str,
    // quote
    pub quote_title: &'static str,
    pub quote_refundable: &'static str,
    pub quote_restocking_fee: &'static str,
    pub quote_refund: &'static str,
    pub quote_return_shipping: &'static str,
    pub quote_shipping_refund: &'static str,
    pub payer_customer: &'static str,
    pub payer_shop: &'static str,
    pub payer_member_perk: &'static str,
    pub submit_button: &'static str,
    pub change_link: &'static str,
    pub form_error: &'static str,
    pub bad_amount: &'static str,
    pub bad_quantity: &'static str,
    // claim
    pub claim_title: &'static str,
    pub timeline: &'static str,
    pub expected_arrival: &'static str,
    pub arrived_at: &'static str,
    pub refund_to_original: &'static str,
    // inbox
    pub inbox_title: &'static str,
    pub unread: &'static str,
    pub no_messages: &'static str,
    pub mark_read: &'static str,
    pub read: &'static str,
    pub view_claim: &'static str,
    // errors
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden: &'static str,
    pub csrf_failed: &'static str,
    pub error_title: &'static str,
    pub error_generic: &'static str,
    pub back_home: &'static str,
}

pub static ZH_CN: Text = Text {
    app_name: "售后服务",
    nav_label: "主导航",
    nav_claims: "我的售后",
    nav_inbox: "消息",
    nav_desk: "售后工作台",
    sign_out: "退出登录",
    switch_language: "切换语言",
    other_language: "English",
    other_language_code: "en",
    sign_in_title: "登录（开发环境）",
    sign_in_intro: "本机运行时使用开发令牌登录：选择身份，令牌保存在仅限本站的 Cookie 中。",
    sign_in_as: "身份",
    role_customer: "顾客",
    role_storefront: "店铺前台",
    role_staff: "店铺员工",
    customer_id: "顾客编号",
    staff_id: "员工编号",
    shop_id: "店铺编号",
    staff_roles: "员工角色",
    staff_role_reviewer: "审核员",
    staff_role_admin: "管理员",
    staff_role_finance: "财务",
    sign_in_button: "登录",
    sign_in_missing_id: "请填写有效的编号（字母、数字、- 和 _）。",
    sign_in_missing_shop: "店铺前台和员工需要填写店铺编号。",
    sign_in_unavailable: "此处不提供开发登录。",
    my_claims: "我的售后申请",
    no_claims: "还没有售后申请。",
    signed_in_as: "当前身份",
    shop_pages_later: "店铺页面尚未开放，请使用 API。",
    open_order: "查看订单",
    order_id: "订单编号",
    open_button: "打开",
    claim: "申请",
    order: "订单",
    claim_type: "类型",
    status: "状态",
    requested: "申请金额",
    approved_amount: "同意金额",
    filed_at: "提交时间",
    order_title: "订单",
    placed_at: "下单时间",
    fulfilment: "发货状态",
    lines: "商品",
    item: "商品",
    quantity: "数量",
    paid: "实付",
    can_still_claim: "仍可申请",
    order_refundable: "整单仍可退",
    nothing_left: "此订单已没有可申请售后的商品。",
    policy_title: "当前售后政策",
    policy_no_reason: "无理由退货（签收后天数）：",
    policy_review: "店铺处理时限（小时）：",
    policy_auto_approve: "仅退款申请超时未处理将自动同意。",
    policy_return_shipping_customer: "非质量问题退货运费由顾客承担。",
    policy_return_shipping_shop: "非质量问题退货运费由店铺承担。",
    claim_form: "申请售后",
    reason: "原因",
    line: "商品",
    amount: "金额（可选）",
    amount_hint: "留空则按可退最高金额申请",
    type_hint: "退货退款与换货需寄回商品；特殊售后按商品类别处理（生鲜、大家电、跨境、虚拟商品、预售、少件）。",
    opened: "商品已拆封",
    voucher_codes: "券码",
    voucher_codes_hint: "虚拟商品：每件一个券码，每行一个",
    description: "问题描述",
    description_hint: "请描述遇到的问题",
    photos: "照片",
    photos_hint: "可选:JPEG 或 PNG,可多选。",
    quote_button: "查看退款金额",
    quote_title: "确认申请",
    quote_refundable: "可退金额",
    quote_restocking_fee: "拆封费",
    quote_refund: "本次申请退款",
    quote_return_shipping: "退货运费",
    quote_shipping_refund: "运费补偿",
    payer_customer: "由您承担",
    payer_shop: "由店铺承担",
    payer_member_perk: "会员权益：免费退货",
    submit_button: "提交申请",
    change_link: "修改",
    form_error: "申请未通过检查：",
    bad_amount: "金额格式不正确。",
    bad_quantity: "数量必须是正整数。",
    claim_title: "售后申请",
    timeline: "进度",
    expected_arrival: "预计到账",
    arrived_at: "到账时间",
    refund_to_original: "原路退回",
    inbox_title: "消息",
    unread: "未读",
    no_messages: "暂无消息。",
    mark_read: "标为已读",
    read: "已读",
    view_claim: "查看申请",
    not_found_title: "未找到",
    not_found: "没有找到该页面，或您无权查看。",
    forbidden_title: "无法完成",
    forbidden: "您无权执行此操作。",
    csrf_failed: "表单已过期，请返回后重试。",
    error_title: "出错了",
    error_generic: "请求未能完成，请稍后重试。",
    back_home: "返回首页",
};

pub static EN: Text = Text {
    app_name: "After-sales",
    nav_label: "Main",
    nav_claims: "My claims",
    nav_inbox: "Inbox",
    nav_desk: "Desk",
    sign_out: "Sign out",
    switch_language: "Language",
    other_language: "中文",
    other_language_code: "zh-CN",
    sign_in_title: "Sign in (development)",
    sign_in_intro: "On one machine you sign in with a development token: choose who you are; the token is kept in a cookie for this site only.",
    sign_in_as: "Sign in as",
    role_customer: "Customer",
    role_storefront: "Storefront",
    role_staff: "Shop staff",
    customer_id: "Customer id",
    staff_id: "Staff id",
    shop_id: "Shop id",
    staff_roles: "Staff roles",
    staff_role_reviewer: "Reviewer",
    staff_role_admin: "Admin",
    staff_role_finance: "Finance",
    sign_in_button: "Sign in",
    sign_in_missing_id: "Enter a valid id (letters, digits, - and _).",
    sign_in_missing_shop: "Storefronts and staff need a shop id.",
    sign_in_unavailable: "Development sign-in is not offered here.",
    my_claims: "My claims",
    no_claims: "No claims yet.",
    signed_in_as: "Signed in as",
    shop_pages_later: "The shop's pages are not there yet; use the API.",
    open_order: "Open an order",
    order_id: "Order id",
    open_button: "Open",
    claim: "Claim",
    order: "Order",
    claim_type: "Type",
    status: "Status",
    requested: "Requested",
    approved_amount: "Approved",
    filed_at: "Filed",
    order_title: "Order",
    placed_at: "Placed",
    fulfilment: "Delivery",
    lines: "Items",
    item: "Item",
    quantity: "Quantity",
    paid: "Paid",
    can_still_claim: "Can still claim",
    order_refundable: "Still refundable on this order",
    nothing_left: "Nothing on this order can be claimed any more.",
    policy_title: "The shop's policy in force",
    policy_no_reason: "No-reason returns (days after delivery): ",
    policy_review: "The shop decides within (hours): ",
    policy_auto_approve: "A refund-only claim not decided in time approves itself.",
    policy_return_shipping_customer: "Returns that are not the shop's fault: you pay the parcel.",
    policy_return_shipping_shop: "Returns that are not the shop's fault: the shop pays the parcel.",
    claim_form: "Ask for a refund, return or exchange",
    reason: "Reason",
    line: "Item",
    amount: "Amount (optional)",
    amount_hint: "Leave empty for the most you can get back",
    type_hint: "A return and refund or an exchange sends the goods back; special claims are for fresh produce, large appliances, cross-border orders, virtual goods, pre-sales and missing items.",
    opened: "I opened the goods",
    voucher_codes: "Voucher codes",
    voucher_codes_hint: "Virtual goods: one code per unit, one per line",
    description: "What happened",
    description_hint: "Tell the shop what went wrong",
    photos: "Photos",
    photos_hint: "Optional: JPEG or PNG, one or more.",
    quote_button: "See the refund",
    quote_title: "Check and submit",
    quote_refundable: "These items can give back",
    quote_restocking_fee: "Restocking fee",
    quote_refund: "You ask for",
    quote_return_shipping: "The return parcel",
    quote_shipping_refund: "Added for the parcel",
    payer_customer: "You pay it",
    payer_shop: "The shop pays it",
    payer_member_perk: "Free for members",
    submit_button: "Submit the claim",
    change_link: "Change",
    form_error: "The claim was not accepted:",
    bad_amount: "The amount is not a valid amount.",
    bad_quantity: "The quantity must be a whole number above zero.",
    claim_title: "Claim",
    timeline: "Progress",
    expected_arrival: "Expected to arrive by",
    arrived_at: "Arrived",
    refund_to_original: "Back the way you paid",
    inbox_title: "Inbox",
    unread: "unread",
    no_messages: "No messages yet.",
    mark_read: "Mark as read",
    read: "Read",
    view_claim: "View the claim",
    not_found_title: "Not found",
    not_found: "There is no such page, or it is not yours to see.",
    forbidden_title: "Not allowed",
    forbidden: "You may not do this.",
    csrf_failed: "This form has expired; go back and try again.",
    error_title: "Something went wrong",
    error_generic: "The request could not be completed; try again later.",
    back_home: "Back to the start",
};

/// How many units of a line can still be claimed.
pub fn units_left(n: u32, lang: Lang) -> String {
    match lang {
        Lang::ZhCn => format!("还可申请 {n} 件"),
        Lang::En => format!("{n} left to claim"),
    }
}

pub fn status_label(s: ClaimStatus, lang: Lang) -> &'static str {
    use ClaimStatus::*;
    match (lang, s) {
        (Lang::ZhCn, Submitted) => "已提交",
        (Lang::ZhCn, UnderReview) => "审核中",
        (Lang::ZhCn, SecondReview) => "复核中",
        (Lang::ZhCn, AwaitingEvidence) => "待补充凭证",
        (Lang::ZhCn, Approved) => "已同意",
        (Lang::ZhCn, AwaitingReturn) => "待寄回",
        (Lang::ZhCn, ReturnShipped) => "已寄回",
        (Lang::ZhCn, ReturnReceived) => "商家已收货",
        (Lang::ZhCn, Refunding) => "退款中",
        (Lang::ZhCn, RefundFailed) => "退款失败",
        (Lang::ZhCn, ReplacementShipped) => "换货已发出",
        (Lang::ZhCn, Rejected) => "已拒绝",
        (Lang::ZhCn, Completed) => "已完成",
        (Lang::ZhCn, Cancelled) => "已撤销",
        (Lang::ZhCn, Closed) => "已关闭",
        (Lang::En, Submitted) => "Submitted",
        (Lang::En, UnderReview) => "Under review",
        (Lang::En, SecondReview) => "Second review",
        (Lang::En, AwaitingEvidence) => "Waiting for your photos",
        (Lang::En, Approved) => "Approved",
        (Lang::En, AwaitingReturn) => "Waiting for the return",
        (Lang::En, ReturnShipped) => "Return on its way",
        (Lang::En, ReturnReceived) => "Return received",
        (Lang::En, Refunding) => "Refund on its way",
        (Lang::En, RefundFailed) => "Refund failed",
        (Lang::En, ReplacementShipped) => "Replacement shipped",
        (Lang::En, Rejected) => "Rejected",
        (Lang::En, Completed) => "Completed",
        (Lang::En, Cancelled) => "Cancelled",
        (Lang::En, Closed) => "Closed",
    }
}

/// The reasons the refund-only form offers, in order.
pub const REASONS: [ReasonCode; 11] = [
    ReasonCode::NoLongerWanted,
    ReasonCode::WrongSize,
    ReasonCode::Damaged,
    ReasonCode::Defective,
    ReasonCode::WrongItem,
    ReasonCode::NotAsDescribed,
    ReasonCode::MissingParts,
    ReasonCode::NotReceived,
    ReasonCode::Spoiled,
    ReasonCode::LateDelivery,
    ReasonCode::Other,
];

/// The claim types the claim form offers: every type the API files for an
/// order line (special claims by kind).
pub const CLAIM_TYPES: [ClaimType; 9] = [
    ClaimType::RefundOnly,
    ClaimType::ReturnRefund,
    ClaimType::Exchange,
    ClaimType::SpecialClaim {
        kind: SpecialKind::FreshSpoilage,
    },
    ClaimType::SpecialClaim {
        kind: SpecialKind::ApplianceRepair,
    },
    ClaimType::SpecialClaim {
        kind: SpecialKind::CrossBorderCustoms,
    },
    ClaimType::SpecialClaim {
        kind: SpecialKind::VirtualUnused,
    },
    ClaimType::SpecialClaim {
        kind: SpecialKind::PreSaleCompensation,
    },
    ClaimType::SpecialClaim {
        kind: SpecialKind::MissingItem,
    },
];

/// A claim type as one form value: the API's `type`, and for special
/// claims `special_claim:` and the `kind`.
pub fn type_value(c: ClaimType) -> String {
    match c {
        ClaimType::SpecialClaim { kind } => format!("special_claim:{}", kind_code(kind)),
        other => other.type_name().to_owned(),
    }
}

/// The claim type a form value names ([`type_value`]'s inverse).
pub fn type_of_value(v: &str) -> Option<ClaimType> {
    CLAIM_TYPES.into_iter().find(|c| type_value(*c) == v)
}

fn kind_code(k: SpecialKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A claim type's name, special claims with their kind.
pub fn claim_type_label(c: ClaimType, lang: Lang) -> &'static str {
    use SpecialKind::*;
    let ClaimType::SpecialClaim { kind } = c else {
        return type_label(c.type_name(), lang);
    };
    match (lang, kind) {
        (Lang::ZhCn, FreshSpoilage) => "特殊售后：生鲜变质",
        (Lang::ZhCn, ApplianceRepair) => "特殊售后：大家电故障",
        (Lang::ZhCn, CrossBorderCustoms) => "特殊售后：跨境清关",
        (Lang::ZhCn, VirtualUnused) => "特殊售后：虚拟商品未使用",
        (Lang::ZhCn, PreSaleCompensation) => "特殊售后：预售延迟补偿",
        (Lang::ZhCn, MissingItem) => "特殊售后：少件漏发",
        (Lang::En, FreshSpoilage) => "Special claim: spoiled fresh produce",
        (Lang::En, ApplianceRepair) => "Special claim: faulty large appliance",
        (Lang::En, CrossBorderCustoms) => "Special claim: cross-border customs",
        (Lang::En, VirtualUnused) => "Special claim: unused virtual goods",
        (Lang::En, PreSaleCompensation) => "Special claim: late pre-sale",
        (Lang::En, MissingItem) => "Special claim: missing item",
    }
}

/// The reason's JSON name (`no_longer_wanted`).
pub fn reason_code(r: ReasonCode) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn reason_label(r: ReasonCode, lang: Lang) -> &'static str {
    use ReasonCode::*;
    match (lang, r) {
        (Lang::ZhCn, NoLongerWanted) => "不想要了",
        (Lang::ZhCn, WrongSize) => "尺码不合适",
        (Lang::ZhCn, Damaged) => "商品破损",
        (Lang::ZhCn, Defective) => "质量问题",
        (Lang::ZhCn, WrongItem) => "发错货",
        (Lang::ZhCn, NotAsDescribed) => "与描述不符",
        (Lang::ZhCn, MissingParts) => "少件/漏发",
        (Lang::ZhCn, NotReceived) => "未收到货",
        (Lang::ZhCn, Spoiled) => "商品变质",
        (Lang::ZhCn, LateDelivery) => "发货太慢",
        (Lang::ZhCn, Other) => "其他",
        (Lang::En, NoLongerWanted) => "No longer wanted",
        (Lang::En, WrongSize) => "Wrong size",
        (Lang::En, Damaged) => "Arrived damaged",
        (Lang::En, Defective) => "Does not work",
        (Lang::En, WrongItem) => "Wrong item",
        (Lang::En, NotAsDescribed) => "Not as described",
        (Lang::En, MissingParts) => "Parts missing",
        (Lang::En, NotReceived) => "Not received",
        (Lang::En, Spoiled) => "Spoiled",
        (Lang::En, LateDelivery) => "Delivered late",
        (Lang::En, Other) => "Other",
    }
}

pub fn type_label(type_name: &str, lang: Lang) -> &'static str {
    match (lang, type_name) {
        (Lang::ZhCn, "refund_only") => "仅退款",
        (Lang::ZhCn, "return_refund") => "退货退款",
        (Lang::ZhCn, "exchange") => "换货",
        (Lang::ZhCn, _) => "特殊售后",
        (Lang::En, "refund_only") => "Refund only",
        (Lang::En, "return_refund") => "Return and refund",
        (Lang::En, "exchange") => "Exchange",
        (Lang::En, _) => "Special claim",
    }
}

pub fn fulfilment_label(s: FulfilmentState, lang: Lang) -> &'static str {
    match (lang, s) {
        (Lang::ZhCn, FulfilmentState::PaidUnshipped) => "已付款，未发货",
        (Lang::ZhCn, FulfilmentState::Shipped) => "已发货",
        (Lang::ZhCn, FulfilmentState::Delivered) => "已签收",
        (Lang::En, FulfilmentState::PaidUnshipped) => "Paid, not shipped yet",
        (Lang::En, FulfilmentState::Shipped) => "Shipped",
        (Lang::En, FulfilmentState::Delivered) => "Delivered",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_claim_type_is_one_form_value_the_api_reads() {
        for c in super::CLAIM_TYPES {
            let v = super::type_value(c);
            assert_eq!(super::type_of_value(&v), Some(c), "{v}");
            // The value is the API's `type` (and `kind`).
            let api = serde_json::to_value(c).expect("json");
            let mut parts = v.splitn(2, ':');
            assert_eq!(api["type"], parts.next().expect("type"));
            if let Some(kind) = parts.next() {
                assert_eq!(api["kind"], kind);
            }
            for lang in [super::Lang::ZhCn, super::Lang::En] {
                assert!(!super::claim_type_label(c, lang).is_empty());
            }
        }
        assert_eq!(super::type_of_value("special_claim:nothing"), None);
    }

    use super::*;

    #[test]
    fn the_language_comes_from_accept_language_by_weight() {
        let l = Lang::from_accept_language;
        assert_eq!(l("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(l("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::ZhCn));
        assert_eq!(l("fr-FR, en;q=0.5, zh;q=0.7"), Some(Lang::ZhCn));
        assert_eq!(l("de, en;q=0"), None);
        assert_eq!(l(""), None);
        assert_eq!(Lang::parse("ZH-cn"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("ja"), None);
    }
}
