//! What the customer is told at each step of a claim: a title and a body for
//! the in-app inbox, and for some steps a text message, in Simplified
//! Chinese or English (the order's language).
//!
//! Every [`ClaimEvent`] has a message, the internal ones included, worded for
//! the customer: the reason a claim went to second review or why a refund
//! failed at the provider is staff business, so those messages say what it
//! means for the customer and nothing more.
//!
//! Which steps also go out by SMS ([`sends_sms`]): those where the customer
//! must act or money or goods move their way — submitted (a receipt, with
//! the review promise), evidence requested (they must act), approved (a
//! return must be shipped; money is coming), rejected and closed (an outcome
//! they did not choose), pickup booked (a courier comes to the door),
//! inspected (the outcome of the return), refund arrived (the money is
//! there: how much, and where) and replacement shipped (goods are coming,
//! with tracking). The rest stays in the inbox: steps the customer took
//! themselves (cancelled, return shipped, evidence added), steps between
//! two texts (review started, second review, return received, refund
//! started, parcel updates, escalated, completed), and what staff must fix
//! and the customer cannot (a failed refund, a flagged parcel).
//!
//! Two refund steps are inbox-only on purpose. Refund sent (channel,
//! amount, expected arrival) happens in the same moment as the approval or
//! inspection that was just texted with the amount; a second text a second
//! later would add only the date, which the inbox has. Refund succeeded
//! (the claim completes) follows the arrival of its last refund in the
//! same write, so texting it too would tell the customer twice that the
//! money came; a claim that completes without a refund arriving (approved
//! at nothing) moved no money and its approval was texted.

use super::claim::{ClaimEvent, ClaimType};
use super::dispute::{Party, Resolution};
use super::money::{Currency, Money};
use super::order::Language;

/// The longest SMS we send, in characters: a few concatenated segments of
/// UCS-2 (Chinese) text, far below the providers' limits (SNS: 1600 bytes).
pub const MAX_SMS_CHARS: usize = 280;

/// One rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub body: String,
    /// The text message, for the steps that send one.
    pub sms: Option<String>,
}

/// The claim facts a message may mention, taken from the claim when the
/// event is delivered (they do not change after submission, except the
/// approved amount, which is set once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFacts<'a> {
    pub claim_id: &'a str,
    pub claim_type: ClaimType,
    /// In the claim's currency.
    pub requested_amount: Money,
    /// Once approved.
    pub approved_amount: Option<Money>,
    /// How long the shop has to decide, counted from submission.
    pub review_within: Option<chrono::Duration>,
    /// The rejection reason's customer text in the message's language, as
    /// the caller resolved it from the shop's rejection catalogue. `None`
    /// shows the stored reason as it is.
    pub rejection_text: Option<&'a str>,
}

/// Whether a step also goes out by SMS (see the module documentation).
/// Exhaustive on purpose: a new event must be decided here.
pub fn sends_sms(event: &ClaimEvent) -> bool {
    match event {
        ClaimEvent::Submitted { .. }
        | ClaimEvent::EvidenceRequested { .. }
        | ClaimEvent::Approved { .. }
        | ClaimEvent::Rejected { .. }
        | ClaimEvent::RefundArrived { .. }
        | ClaimEvent::PickupBooked { .. }
        | ClaimEvent::Inspected { .. }
        | ClaimEvent::ReplacementShipped { .. }
        | ClaimEvent::Closed { .. }
        | ClaimEvent::DisputeResolved { .. }
        | ClaimEvent::DisputeEscalated { .. } => true,
        ClaimEvent::ReviewStarted
        | ClaimEvent::SecondReviewRequired { .. }
        | ClaimEvent::EvidenceAdded { .. }
        | ClaimEvent::Cancelled
        | ClaimEvent::ReturnShipped { .. }
        | ClaimEvent::ReturnReceived
        | ClaimEvent::RefundStarted
        | ClaimEvent::ShipmentUpdated { .. }
        | ClaimEvent::ShipmentFlagged { .. }
        | ClaimEvent::RefundSent { .. }
        | ClaimEvent::RefundSucceeded
        | ClaimEvent::RefundFailed { .. }
        | ClaimEvent::Completed
        | ClaimEvent::Escalated { .. }
        | ClaimEvent::DisputeOpened { .. }
        | ClaimEvent::DisputeMessage { .. }
        | ClaimEvent::DisputeProposal { .. }
        | ClaimEvent::DisputeWithdrawn
        | ClaimEvent::BenefitsReturned { .. }
        | ClaimEvent::CustomsUpdated { .. } => false,
    }
}

/// The claim id as customers read it: the last eight characters of the id,
/// upper case, after `#` (`clm_0193…5a6b` → `#3E4F5A6B`). The tail of a
/// UUIDv7 is its random part; the head is a timestamp shared by claims filed
/// in the same minute.
pub fn short_id(claim_id: &str) -> String {
    let id = claim_id.strip_prefix("clm_").unwrap_or(claim_id);
    let chars: Vec<char> = id.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(8)..].iter().collect();
    format!("#{}", tail.to_uppercase())
}

/// Money as the customer reads it: thousands grouped with commas, exactly
/// the currency's minor digits. Chinese text writes yuan as `¥1,234.50`;
/// everything else carries the ISO code (`CNY 1,234.50`, `JPY 1,200`), so
/// an English reader of a Chinese shop knows which currency it is.
pub fn format_money(money: Money, lang: Language) -> String {
    let (minor, currency) = (money.minor(), money.currency());
    let digits = currency.minor_digits();
    let scale = 10u64.pow(digits);
    let abs = minor.unsigned_abs();
    let (units, fraction) = (abs / scale, abs % scale);
    let grouped = group_thousands(units);
    let number = if digits == 0 {
        grouped
    } else {
        format!("{grouped}.{fraction:0width$}", width = digits as usize)
    };
    let sign = if minor < 0 { "-" } else { "" };
    match (lang, currency) {
        (Language::ZhCn, Currency::Cny) => format!("{sign}¥{number}"),
        _ => format!("{sign}{} {number}", currency.code()),
    }
}

fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration as a promise ("within 2 hours"), rounded up to whole minutes,
/// hours or days so the promise is never shorter than the real one. None
/// for nothing or for more than a month, which is no promise worth making.
pub fn format_duration(d: chrono::Duration, lang: Language) -> Option<String> {
    let minutes = d.num_seconds().checked_add(59)? / 60;
    if minutes <= 0 || minutes > 31 * 24 * 60 {
        return None;
    }
    let (n, unit) = if minutes < 60 {
        (minutes, Unit::Minute)
    } else if minutes <= 48 * 60 {
        ((minutes + 59) / 60, Unit::Hour)
    } else {
        ((minutes + 24 * 60 - 1) / (24 * 60), Unit::Day)
    };
    Some(match lang {
        Language::Ja => {
            let word = match unit {
                Unit::Minute => "分",
                Unit::Hour => "時間",
                Unit::Day => "日",
            };
            format!("{n}{word}")
        }
        Language::En => {
            let word = match unit {
                Unit::Minute => "minute",
                Unit::Hour => "hour",
                Unit::Day => "day",
            };
            format!("{n} {word}{}", if n == 1 { "" } else { "s" })
        }
        Language::ZhCn => {
            let word = match unit {
                Unit::Minute => "分钟",
                Unit::Hour => "小时",
                Unit::Day => "天",
            };
            format!("{n} {word}")
        }
    })
}

enum Unit {
    Minute,
    Hour,
    Day,
}

/// Free text (a staff note, a reason) as one sentence: trimmed, with a full
/// stop added when it has none, so the sentence after it does not run on.
fn sentence(text: &str, lang: Language) -> String {
    let t = text.trim();
    let ends = t.ends_with(['.', '!', '?', '。', '！', '？', '…']);
    match (ends, lang) {
        (true, _) => t.to_string(),
        (false, Language::En) => format!("{t}."),
        (false, Language::ZhCn | Language::Ja) => format!("{t}。"),
    }
}

/// The message for one step of a claim, in `lang`.
pub fn render(event: &ClaimEvent, f: &ClaimFacts<'_>, lang: Language) -> Message {
    let (title, body) = match lang {
        Language::En => english(event, f),
        Language::ZhCn => chinese(event, f),
        Language::Ja => japanese(event, f).unwrap_or_else(|| english(event, f)),
    };
    let sms = sends_sms(event).then(|| sms_text(&title, &body, lang));
    Message { title, body, sms }
}

/// Where a parcel is, as the customer reads it.
fn courier_text(s: crate::domain::tracking::CourierState, lang: Language) -> &'static str {
    use crate::domain::tracking::CourierState::*;
    match (s, lang) {
        (NoRecord, Language::En | Language::Ja) => "registered with the courier",
        (NoRecord, Language::ZhCn) => "已在快递公司登记",
        (PickedUp, Language::En | Language::Ja) => "picked up by the courier",
        (PickedUp, Language::ZhCn) => "已揽收",
        (InTransit, Language::En | Language::Ja) => "on its way",
        (InTransit, Language::ZhCn) => "运输中",
        (OutForDelivery, Language::En | Language::Ja) => "out for delivery",
        (OutForDelivery, Language::ZhCn) => "派送中",
        (Delivered, Language::En | Language::Ja) => "delivered",
        (Delivered, Language::ZhCn) => "已签收",
        (Problem, Language::En | Language::Ja) => "held up at the courier",
        (Problem, Language::ZhCn) => "出现异常",
        (Refused | Returning | ReturnedToSender, Language::En | Language::Ja) => {
            "on its way back to the sender"
        }
        (Refused | Returning | ReturnedToSender, Language::ZhCn) => "正在退回寄件人",
    }
}

/// A cross-border parcel's clearance as the customer reads it.
fn customs_text(s: crate::domain::crossborder::ClearanceStatus, lang: Language) -> &'static str {
    use crate::domain::crossborder::ClearanceStatus::*;
    match (s, lang) {
        (Declared, Language::En | Language::Ja) => "declared to customs.",
        (Declared, Language::ZhCn) => "已向海关申报。",
        (Inspecting, Language::En | Language::Ja) => "held by customs for inspection.",
        (Inspecting, Language::ZhCn) => "海关查验中。",
        (Cleared, Language::En | Language::Ja) => "cleared by customs.",
        (Cleared, Language::ZhCn) => "已清关放行。",
        (Failed, Language::En | Language::Ja) => {
            "customs refused the parcel; the goods, duties, taxes and international shipping are refunded."
        }
        (Failed, Language::ZhCn) => "清关失败，货款、关税、税费及国际运费将退还给您。",
        (Returning, Language::En | Language::Ja) => "the parcel is on its way back to the seller.",
        (Returning, Language::ZhCn) => "包裹正在退回商家。",
        (Returned, Language::En | Language::Ja) => {
            "the parcel is back with the seller; the goods, duties, taxes and international shipping are refunded."
        }
        (Returned, Language::ZhCn) => "包裹已退回商家，货款、关税、税费及国际运费将退还给您。",
    }
}

/// A payment channel as the customer knows it.
pub fn channel_name(c: crate::domain::order::PaymentChannel, lang: Language) -> &'static str {
    use crate::domain::order::PaymentChannel::*;
    match (c, lang) {
        (WechatPay, Language::En | Language::Ja) => "WeChat Pay",
        (WechatPay, Language::ZhCn) => "微信支付",
        (Alipay, Language::En | Language::Ja) => "Alipay",
        (Alipay, Language::ZhCn) => "支付宝",
        (BankCard, Language::En | Language::Ja) => "your bank card",
        (BankCard, Language::ZhCn) => "银行卡",
        (Card, Language::En | Language::Ja) => "your card",
        (Card, Language::ZhCn) => "银行卡（国际卡）",
        (Balance, Language::En | Language::Ja) => "your store balance",
        (Balance, Language::ZhCn) => "店铺余额",
    }
}

/// The account a refund arrived in, as the provider named it (a bank card,
/// the wallet's balance), when it says more than the channel: a store
/// balance is its own account.
fn account_shown(
    channel: crate::domain::order::PaymentChannel,
    account: &Option<String>,
) -> Option<&str> {
    account
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty() && channel != crate::domain::order::PaymentChannel::Balance)
}

fn sms_text(title: &str, body: &str, lang: Language) -> String {
    let full = match lang {
        Language::Ja => format!("【アフターサービス】{title}：{body}"),
        Language::En => format!("[After-sales] {title}: {body}"),
        Language::ZhCn => format!("【售后服务】{title}：{body}"),
    };
    if full.chars().count() <= MAX_SMS_CHARS {
        return full;
    }
    let mut cut: String = full.chars().take(MAX_SMS_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A dispute's resolution as the customer reads it.
fn resolution_text(r: &Resolution, lang: Language) -> String {
    let lang = lang.fallback();
    match (r, lang) {
        (Resolution::SupplementaryRefund { amount }, Language::En) => {
            format!("a further refund of {}", format_money(*amount, lang))
        }
        (Resolution::SupplementaryRefund { amount }, _) => {
            format!("补退款 {}", format_money(*amount, lang))
        }
        (Resolution::Exchange, Language::En) => "an exchange".into(),
        (Resolution::Exchange, _) => "换货".into(),
        (Resolution::Redelivery, Language::En) => "sending the goods again".into(),
        (Resolution::Redelivery, _) => "补发商品".into(),
        (Resolution::Uphold, Language::En) => "the decision stands".into(),
        (Resolution::Uphold, _) => "维持原处理结果".into(),
    }
}

fn english(event: &ClaimEvent, f: &ClaimFacts<'_>) -> (String, String) {
    let lang = Language::En;
    let id = short_id(f.claim_id);
    let money = |m: Money| format_money(m, lang);
    let approved = f.approved_amount.map(money);
    let (title, body) = match event {
        ClaimEvent::Submitted { amount } => {
            let first = if f.claim_type == ClaimType::Exchange {
                format!("We have received your exchange request {id}.")
            } else {
                format!("We have received your claim {id} for {}.", money(*amount))
            };
            let review = match f.review_within.and_then(|d| format_duration(d, lang)) {
                Some(d) => format!("The shop will review it within {d}."),
                None => "The shop will review it soon.".to_string(),
            };
            (
                "Claim received",
                format!("{first} {review} We will keep you posted at every step."),
            )
        }
        ClaimEvent::ReviewStarted => (
            "Claim under review",
            format!("The shop has started reviewing your claim {id}."),
        ),
        ClaimEvent::SecondReviewRequired { .. } => (
            "Additional review",
            format!(
                "Your claim {id} needs a second review by a senior staff member. \
                 This may take a little longer; you do not need to do anything."
            ),
        ),
        ClaimEvent::EvidenceRequested { note } => {
            let asked = if note.trim().is_empty() {
                String::new()
            } else {
                format!(" \"{}\"", note.trim())
            };
            (
                "More information needed",
                format!(
                    "The shop needs more information to decide on your claim {id}.{asked} \
                     Please add photos or details to the claim."
                ),
            )
        }
        ClaimEvent::EvidenceAdded { evidence } => {
            let n = evidence.len();
            let files = if n == 1 { "file was" } else { "files were" };
            (
                "Evidence received",
                format!(
                    "{n} {files} added to your claim {id}. The shop will take them into account."
                ),
            )
        }
        ClaimEvent::Approved { amount, reason } => {
            let mut body = match f.claim_type {
                ClaimType::Exchange => format!(
                    "Your exchange {id} was approved. Please send the item back and enter the \
                     carrier and tracking number in the claim; the shop then sends you a replacement."
                ),
                t if t.needs_return() => format!(
                    "Your claim {id} was approved for a refund of {}. Please send the goods back \
                     and enter the carrier and tracking number in the claim; your refund follows \
                     once the shop has received them.",
                    money(*amount)
                ),
                _ => format!(
                    "Your claim {id} was approved. A refund of {} will be sent to you.",
                    money(*amount)
                ),
            };
            if f.claim_type.refunds()
                && amount.checked_cmp(f.requested_amount) == Ok(std::cmp::Ordering::Less)
            {
                body.push_str(&format!(
                    " You asked for {}; the shop approved {}.",
                    money(f.requested_amount),
                    money(*amount)
                ));
                if let Some(r) = reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    body.push_str(&format!(" Reason: {}", sentence(r, lang)));
                }
            }
            ("Claim approved", body)
        }
        ClaimEvent::Rejected { reason } => {
            let why = f.rejection_text.unwrap_or(reason);
            (
                "Claim not approved",
                format!(
                    "We are sorry: your claim {id} was not approved. Reason: {} \
                     If you disagree, you can dispute the decision from the claim.",
                    sentence(why, lang)
                ),
            )
        }
        ClaimEvent::Cancelled => (
            "Claim cancelled",
            format!(
                "Your claim {id} was cancelled. If you need to, you can file a new claim on the order."
            ),
        ),
        ClaimEvent::ReturnShipped {
            carrier,
            tracking_number,
        } => (
            "Return on its way",
            format!(
                "We recorded your return for claim {id}: {carrier}, tracking number \
                 {tracking_number}. The shop will check the goods when they arrive."
            ),
        ),
        ClaimEvent::ReturnReceived => {
            let next = match (&approved, f.claim_type.refunds()) {
                (_, false) => " Your replacement is prepared next.".to_string(),
                (Some(a), true) => format!(" Your refund of {a} comes next."),
                (None, true) => " Your refund comes next.".to_string(),
            };
            (
                "Return received",
                format!("The shop has received the goods for your claim {id}.{next}"),
            )
        }
        ClaimEvent::RefundStarted => (
            "Refund started",
            match &approved {
                Some(a) => format!(
                    "The refund of {a} for your claim {id} is on its way. \
                     We will tell you when it has arrived."
                ),
                None => format!(
                    "The refund for your claim {id} is on its way. \
                     We will tell you when it has arrived."
                ),
            },
        ),
        ClaimEvent::PickupBooked { date, slot } => (
            "Pickup booked",
            format!(
                "A courier will collect the return of your claim {id} on {} between {}. \
                 Please have the goods packed and ready.",
                date.format("%Y-%m-%d"),
                slot.replace('-', " and ")
            ),
        ),
        ClaimEvent::ShipmentUpdated { leg, state, .. } => (
            "Parcel update",
            format!(
                "The {} for your claim {id} is {}.",
                match leg {
                    crate::domain::returns::Leg::Return => "return parcel",
                    crate::domain::returns::Leg::Replacement => "replacement",
                },
                courier_text(*state, lang)
            ),
        ),
        ClaimEvent::ShipmentFlagged { .. } => (
            "Parcel being checked",
            format!(
                "The shop is checking on the parcel for your claim {id} with the courier; \
                 you do not need to do anything for now."
            ),
        ),
        ClaimEvent::Inspected { decision, .. } => (
            "Goods inspected",
            match decision {
                crate::domain::returns::InspectionDecision::Accept => format!(
                    "The shop has received and checked the goods of your claim {id}; \
                     everything is in order."
                ),
                crate::domain::returns::InspectionDecision::Partial { amount } => format!(
                    "The shop has received and checked the goods of your claim {id} and will \
                     refund {}. The inspection report is on the claim; if you disagree, you can \
                     dispute it from the claim.",
                    money(*amount)
                ),
                crate::domain::returns::InspectionDecision::Reject { .. } => format!(
                    "The shop has received and checked the goods of your claim {id} and could \
                     not accept the return. The inspection report is on the claim; if you \
                     disagree, you can dispute it from the claim."
                ),
            },
        ),
        ClaimEvent::RefundSent {
            channel,
            amount,
            expected_arrival,
            ..
        } => (
            "Refund sent",
            format!(
                "The refund of {} for your claim {id} was sent to {}{}.",
                money(*amount),
                channel_name(*channel, lang),
                match expected_arrival {
                    Some(t) => format!("; expect it by {}", t.format("%Y-%m-%d")),
                    None => String::new(),
                }
            ),
        ),
        ClaimEvent::RefundArrived {
            channel,
            amount,
            received_account,
            ..
        } => (
            "Refund arrived",
            format!(
                "The refund of {} for your claim {id} has arrived in {}{}.",
                money(*amount),
                channel_name(*channel, lang),
                match account_shown(*channel, received_account) {
                    Some(a) => format!(" (account: {a})"),
                    None => String::new(),
                }
            ),
        ),
        ClaimEvent::RefundFailed { .. } => (
            "Refund delayed",
            format!(
                "The refund for your claim {id} could not be completed yet. The shop has been \
                 told and is taking care of it; you do not need to do anything."
            ),
        ),
        ClaimEvent::RefundSucceeded => (
            "Refund completed",
            match &approved {
                Some(a) => format!(
                    "Your refund of {a} for claim {id} has arrived. Thank you for your patience."
                ),
                None => format!(
                    "Your refund for claim {id} has arrived. Thank you for your patience."
                ),
            },
        ),
        ClaimEvent::ReplacementShipped {
            carrier,
            tracking_number,
        } => (
            "Replacement shipped",
            format!(
                "The replacement for your claim {id} is on its way: {carrier}, tracking number \
                 {tracking_number}."
            ),
        ),
        ClaimEvent::Completed => (
            "Claim completed",
            format!("Your claim {id} is complete. Thank you for shopping with us."),
        ),
        ClaimEvent::Closed { reason } => (
            "Claim closed",
            if reason.trim().is_empty() {
                format!("Your claim {id} was closed.")
            } else {
                format!(
                    "Your claim {id} was closed. Reason: {}",
                    sentence(reason, lang)
                )
            },
        ),
        ClaimEvent::Escalated { .. } => (
            "Your claim is taking longer",
            format!(
                "The shop has not decided on your claim {id} within the promised time. \
                 We have escalated it so that it is handled with priority."
            ),
        ),
        ClaimEvent::DisputeOpened { respond_by, .. } => (
            "Dispute opened",
            match respond_by {
                Some(_) => format!(
                    "Your dispute of the decision on claim {id} has been opened. The shop will \
                     answer within the promised time; you can follow and reply in the dispute."
                ),
                None => format!("Your dispute of the decision on claim {id} has been opened."),
            },
        ),
        ClaimEvent::DisputeMessage { by, .. } => match by {
            Party::Shop => (
                "The shop replied to your dispute",
                format!("The shop has replied in the dispute on claim {id}. Open it to read and answer."),
            ),
            Party::Customer => (
                "Message sent",
                format!("Your message was added to the dispute on claim {id}."),
            ),
        },
        ClaimEvent::DisputeProposal { by, resolution, .. } => match by {
            Party::Shop => (
                "The shop proposes a solution",
                format!(
                    "The shop proposes {} to settle the dispute on claim {id}. You can accept \
                     it or propose something else.",
                    resolution_text(resolution, lang)
                ),
            ),
            Party::Customer => (
                "Proposal sent",
                format!(
                    "You proposed {} to settle the dispute on claim {id}. The shop will answer.",
                    resolution_text(resolution, lang)
                ),
            ),
        },
        ClaimEvent::DisputeResolved { resolution, .. } => (
            "Dispute settled",
            format!(
                "The dispute on claim {id} is settled: {}.",
                resolution_text(resolution, lang)
            ),
        ),
        ClaimEvent::DisputeWithdrawn => (
            "Dispute withdrawn",
            format!("You withdrew the dispute on claim {id}; the decision stands."),
        ),
        ClaimEvent::BenefitsReturned {
            points,
            coupons,
            voided,
        } => (
            "Points and coupons returned",
            {
                let mut parts = Vec::new();
                if *points > 0 {
                    parts.push(format!("{points} points"));
                }
                if !coupons.is_empty() {
                    parts.push(format!("coupon {}", coupons.join(", ")));
                }
                let back = if parts.is_empty() {
                    String::new()
                } else {
                    format!(" {} went back to your account.", parts.join(" and "))
                };
                let void = if voided.is_empty() {
                    String::new()
                } else {
                    format!(" Coupon {} used on the order is void.", voided.join(", "))
                };
                format!("With the refund for claim {id}:{back}{void}")
            },
        ),
        ClaimEvent::DisputeEscalated { .. } => (
            "Your dispute was escalated",
            format!(
                "The shop did not answer your dispute on claim {id} in time. It has been \
                 escalated to the shop's managers, who will handle it with priority."
            ),
        ),
        ClaimEvent::CustomsUpdated { clearance, .. } => (
            "Customs update",
            format!(
                "Customs news for your claim {id}: {}",
                customs_text(*clearance, lang)
            ),
        ),
    };
    (title.to_string(), body)
}

fn chinese(event: &ClaimEvent, f: &ClaimFacts<'_>) -> (String, String) {
    let lang = Language::ZhCn;
    let id = short_id(f.claim_id);
    let money = |m: Money| format_money(m, lang);
    let approved = f.approved_amount.map(money);
    let (title, body) = match event {
        ClaimEvent::Submitted { amount } => {
            let first = if f.claim_type == ClaimType::Exchange {
                format!("我们已收到您的换货申请 {id}。")
            } else {
                format!("我们已收到您的售后申请 {id}，申请金额 {}。", money(*amount))
            };
            let review = match f.review_within.and_then(|d| format_duration(d, lang)) {
                Some(d) => format!("商家将在 {d}内完成审核。"),
                None => "商家将尽快审核。".to_string(),
            };
            (
                "售后申请已提交",
                format!("{first}{review}每一步进展我们都会通知您。"),
            )
        }
        ClaimEvent::ReviewStarted => (
            "售后申请审核中",
            format!("商家已开始审核您的售后申请 {id}。"),
        ),
        ClaimEvent::SecondReviewRequired { .. } => (
            "申请复核中",
            format!("您的售后申请 {id} 需要由主管复核，处理时间可能稍长，您无需进行任何操作。"),
        ),
        ClaimEvent::EvidenceRequested { note } => {
            let asked = if note.trim().is_empty() {
                String::new()
            } else {
                format!("“{}”", note.trim())
            };
            (
                "请补充凭证",
                format!(
                    "商家需要更多信息来处理您的售后申请 {id}。{asked}请在申请中补充照片或说明。"
                ),
            )
        }
        ClaimEvent::EvidenceAdded { evidence } => (
            "凭证已上传",
            format!(
                "已为您的售后申请 {id} 添加 {} 份凭证，商家将一并审核。",
                evidence.len()
            ),
        ),
        ClaimEvent::Approved { amount, reason } => {
            let mut body = match f.claim_type {
                ClaimType::Exchange => format!(
                    "您的换货申请 {id} 已通过。请将商品寄回，并在申请中填写快递公司和运单号，\
                     商家收到后将为您发出新商品。"
                ),
                t if t.needs_return() => format!(
                    "您的售后申请 {id} 已通过，退款金额 {}。请将商品寄回，并在申请中填写快递公司和运单号，\
                     商家收货后即为您退款。",
                    money(*amount)
                ),
                _ => format!(
                    "您的售后申请 {id} 已通过，将为您退款 {}。",
                    money(*amount)
                ),
            };
            if f.claim_type.refunds()
                && amount.checked_cmp(f.requested_amount) == Ok(std::cmp::Ordering::Less)
            {
                body.push_str(&format!(
                    "您申请的金额为 {}，商家同意退款 {}。",
                    money(f.requested_amount),
                    money(*amount)
                ));
                if let Some(r) = reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    body.push_str(&format!("说明：{}", sentence(r, lang)));
                }
            }
            ("售后申请已通过", body)
        }
        ClaimEvent::Rejected { reason } => {
            let why = f.rejection_text.unwrap_or(reason);
            (
                "售后申请未通过",
                format!(
                    "很抱歉，您的售后申请 {id} 未通过。原因：{}如有异议，可在申请中发起申诉。",
                    sentence(why, lang)
                ),
            )
        }
        ClaimEvent::Cancelled => (
            "售后申请已撤销",
            format!("您的售后申请 {id} 已撤销。如有需要，您可以针对该订单重新发起申请。"),
        ),
        ClaimEvent::ReturnShipped {
            carrier,
            tracking_number,
        } => (
            "退货已寄出",
            format!(
                "已记录您的售后申请 {id} 的退货物流：{carrier}，运单号 {tracking_number}。\
                 商家收货后会尽快验收。"
            ),
        ),
        ClaimEvent::ReturnReceived => {
            let next = match (&approved, f.claim_type.refunds()) {
                (_, false) => "接下来将为您安排换货。".to_string(),
                (Some(a), true) => format!("接下来将为您退款 {a}。"),
                (None, true) => "接下来将为您退款。".to_string(),
            };
            (
                "商家已收货",
                format!("商家已收到您的售后申请 {id} 寄回的商品。{next}"),
            )
        }
        ClaimEvent::RefundStarted => (
            "退款已发起",
            match &approved {
                Some(a) => format!("您的售后申请 {id} 的退款 {a} 已发起，到账后我们会再通知您。"),
                None => format!("您的售后申请 {id} 的退款已发起，到账后我们会再通知您。"),
            },
        ),
        ClaimEvent::PickupBooked { date, slot } => (
            "已预约上门取件",
            format!(
                "快递员将于 {} {} 上门取回您的售后申请 {id} 的商品，请提前打包好。",
                date.format("%Y-%m-%d"),
                slot
            ),
        ),
        ClaimEvent::ShipmentUpdated { leg, state, .. } => (
            "物流更新",
            format!(
                "您的售后申请 {id} 的{}{}。",
                match leg {
                    crate::domain::returns::Leg::Return => "退货包裹",
                    crate::domain::returns::Leg::Replacement => "换货包裹",
                },
                courier_text(*state, lang)
            ),
        ),
        ClaimEvent::ShipmentFlagged { .. } => (
            "包裹核查中",
            format!("商家正在与快递公司核查您的售后申请 {id} 的包裹，您暂时无需任何操作。"),
        ),
        ClaimEvent::Inspected { decision, .. } => (
            "商品已验收",
            match decision {
                crate::domain::returns::InspectionDecision::Accept => {
                    format!("商家已收到并检验您的售后申请 {id} 的商品，一切正常。")
                }
                crate::domain::returns::InspectionDecision::Partial { amount } => format!(
                    "商家已收到并检验您的售后申请 {id} 的商品，将退款 {}。验收报告已附在申请中，如有异议可在申请中发起争议。",
                    money(*amount)
                ),
                crate::domain::returns::InspectionDecision::Reject { .. } => format!(
                    "商家已收到并检验您的售后申请 {id} 的商品，未能接受此次退货。验收报告已附在申请中，如有异议可在申请中发起争议。"
                ),
            },
        ),
        ClaimEvent::RefundSent {
            channel,
            amount,
            expected_arrival,
            ..
        } => (
            "退款已发出",
            format!(
                "您的售后申请 {id} 的退款 {} 已退回{}{}。",
                money(*amount),
                channel_name(*channel, lang),
                match expected_arrival {
                    Some(t) => format!("，预计 {} 前到账", t.format("%Y-%m-%d")),
                    None => String::new(),
                }
            ),
        ),
        ClaimEvent::RefundArrived {
            channel,
            amount,
            received_account,
            ..
        } => (
            "退款已到账",
            format!(
                "您的售后申请 {id} 的退款 {} 已到账（{}{}）。",
                money(*amount),
                channel_name(*channel, lang),
                match account_shown(*channel, received_account) {
                    Some(a) => format!("，收款账户：{a}"),
                    None => String::new(),
                }
            ),
        ),
        ClaimEvent::RefundFailed { .. } => (
            "退款处理中",
            format!(
                "您的售后申请 {id} 的退款暂未成功，商家已收到通知并正在处理，您无需进行任何操作。"
            ),
        ),
        ClaimEvent::RefundSucceeded => (
            "退款成功",
            match &approved {
                Some(a) => format!("您的售后申请 {id} 的退款 {a} 已到账，感谢您的耐心等待。"),
                None => format!("您的售后申请 {id} 的退款已到账，感谢您的耐心等待。"),
            },
        ),
        ClaimEvent::ReplacementShipped {
            carrier,
            tracking_number,
        } => (
            "换货商品已发出",
            format!("您的售后申请 {id} 的换货商品已发出：{carrier}，运单号 {tracking_number}。"),
        ),
        ClaimEvent::Completed => (
            "售后已完成",
            format!("您的售后申请 {id} 已完成，感谢您的支持。"),
        ),
        ClaimEvent::Closed { reason } => (
            "售后申请已关闭",
            if reason.trim().is_empty() {
                format!("您的售后申请 {id} 已关闭。")
            } else {
                format!("您的售后申请 {id} 已关闭。原因：{}", sentence(reason, lang))
            },
        ),
        ClaimEvent::Escalated { .. } => (
            "申请已加急处理",
            format!("商家未能在承诺时间内处理您的售后申请 {id}，我们已为您加急催办，请耐心等待。"),
        ),
        ClaimEvent::DisputeOpened { .. } => (
            "纠纷已提交",
            format!("您对售后申请 {id} 处理结果的纠纷已提交，商家将在承诺时间内答复，您可在纠纷中查看和回复。"),
        ),
        ClaimEvent::DisputeMessage { by, .. } => match by {
            Party::Shop => (
                "商家回复了您的纠纷",
                format!("商家已在售后申请 {id} 的纠纷中回复，请查看并答复。"),
            ),
            Party::Customer => (
                "留言已发送",
                format!("您的留言已添加到售后申请 {id} 的纠纷中。"),
            ),
        },
        ClaimEvent::DisputeProposal { by, resolution, .. } => match by {
            Party::Shop => (
                "商家提出了解决方案",
                format!(
                    "商家提出以{}解决售后申请 {id} 的纠纷，您可以接受或提出其他方案。",
                    resolution_text(resolution, lang)
                ),
            ),
            Party::Customer => (
                "方案已提交",
                format!(
                    "您提出以{}解决售后申请 {id} 的纠纷，商家将给予答复。",
                    resolution_text(resolution, lang)
                ),
            ),
        },
        ClaimEvent::DisputeResolved { resolution, .. } => (
            "纠纷已解决",
            format!("售后申请 {id} 的纠纷已解决：{}。", resolution_text(resolution, lang)),
        ),
        ClaimEvent::DisputeWithdrawn => (
            "纠纷已撤回",
            format!("您已撤回售后申请 {id} 的纠纷，原处理结果保持不变。"),
        ),
        ClaimEvent::BenefitsReturned {
            points,
            coupons,
            voided,
        } => (
            "积分和优惠券已退回",
            {
                let mut parts = Vec::new();
                if *points > 0 {
                    parts.push(format!("{points} 积分"));
                }
                if !coupons.is_empty() {
                    parts.push(format!("优惠券 {}", coupons.join("、")));
                }
                let back = if parts.is_empty() {
                    String::new()
                } else {
                    format!("{}已退回您的账户。", parts.join("和"))
                };
                let void = if voided.is_empty() {
                    String::new()
                } else {
                    format!("订单使用的优惠券 {} 已作废。", voided.join("、"))
                };
                format!("随售后申请 {id} 的退款，{back}{void}")
            },
        ),
        ClaimEvent::DisputeEscalated { .. } => (
            "纠纷已升级处理",
            format!("商家未在承诺时间内答复您对售后申请 {id} 的纠纷，已升级至商家管理人员优先处理。"),
        ),
        ClaimEvent::CustomsUpdated { clearance, .. } => (
            "清关进度更新",
            format!("您的售后申请 {id} 清关进度：{}", customs_text(*clearance, lang)),
        ),
    };
    (title.to_string(), body)
}

/// The claim-progress steps a customer of a cross-border order sees, in
/// Japanese; None for the rest, which the caller shows in English.
fn japanese(event: &ClaimEvent, f: &ClaimFacts<'_>) -> Option<(String, String)> {
    let lang = Language::Ja;
    let id = short_id(f.claim_id);
    let money = |m: Money| format_money(m, lang);
    let (title, body) = match event {
        ClaimEvent::Submitted { amount } => {
            let review = match f.review_within.and_then(|d| format_duration(d, lang)) {
                Some(d) => format!("ショップが{d}以内に確認します。"),
                None => "ショップがまもなく確認します。".to_string(),
            };
            (
                "申請を受け付けました",
                format!(
                    "返金申請 {id}（{}）を受け付けました。{review}",
                    money(*amount)
                ),
            )
        }
        ClaimEvent::ReviewStarted => (
            "審査中",
            format!("ショップが申請 {id} の審査を開始しました。"),
        ),
        ClaimEvent::Approved { amount, .. } if !f.claim_type.needs_return() => (
            "申請が承認されました",
            format!(
                "申請 {id} が承認されました。{} を返金します。",
                money(*amount)
            ),
        ),
        ClaimEvent::RefundSent {
            channel, amount, ..
        } => (
            "返金手続き中",
            format!(
                "申請 {id} の返金 {} を{}へ送金しました。",
                money(*amount),
                match channel {
                    crate::domain::order::PaymentChannel::WechatPay => "WeChat Pay",
                    crate::domain::order::PaymentChannel::Alipay => "Alipay",
                    crate::domain::order::PaymentChannel::Balance => "ストア残高",
                    _ => "お支払い時のカード",
                }
            ),
        ),
        ClaimEvent::RefundArrived { amount, .. } => (
            "返金が完了しました",
            format!("申請 {id} の返金 {} が着金しました。", money(*amount)),
        ),
        ClaimEvent::RefundSucceeded | ClaimEvent::Completed => (
            "申請が完了しました",
            format!("申請 {id} の手続きはすべて完了しました。"),
        ),
        ClaimEvent::CustomsUpdated { clearance, .. } => {
            use crate::domain::crossborder::ClearanceStatus::*;
            let text = match clearance {
                Declared => "税関に申告されました。",
                Inspecting => "税関で検査中です。",
                Cleared => "通関が完了しました。",
                Failed => "通関できませんでした。商品代金・関税・税金・国際送料を返金します。",
                Returning => "荷物は販売者へ返送中です。",
                Returned => {
                    "荷物が販売者に戻りました。商品代金・関税・税金・国際送料を返金します。"
                }
            };
            ("通関状況のお知らせ", format!("申請 {id}：{text}"))
        }
        _ => return None,
    };
    Some((title.to_string(), body))
}

/// What a customer is told when a fresh order is delivered: the window to
/// report spoiled produce is open ([`super::fresh::delivery_notice`]).
pub fn fresh_window_open(n: &super::fresh::DeliveryNotice, lang: Language) -> Message {
    // Japanese falls back to English here, as for every untranslated message.
    let (title, body) = match lang {
        Language::En | Language::Ja => (
            "Your fresh produce was delivered".to_string(),
            format!(
                "You can report spoiled fruit within {} hours (until {} UTC), with photos of the spoiled fruit and the waybill.",
                n.window_hours,
                n.closes_at.format("%Y-%m-%d %H:%M")
            ),
        ),
        Language::ZhCn => (
            "您的生鲜商品已签收".to_string(),
            format!(
                "如有坏果,请在签收后 {} 小时内(UTC {} 前)上传坏果照片及快递面单照片申请理赔。",
                n.window_hours,
                n.closes_at.format("%Y-%m-%d %H:%M")
            ),
        ),
    };
    Message {
        title,
        body,
        sms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::claim::{ClaimStep, SpecialKind};
    use crate::domain::dispute::{Grounds, PostKind};
    use chrono::{TimeZone, Utc};

    fn cny(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Cny)
    }

    const CLAIM: &str = "clm_01936f0c2e7d7b3a9c4e5f6a3e4f5a6b";

    fn facts(claim_type: ClaimType) -> ClaimFacts<'static> {
        ClaimFacts {
            claim_id: CLAIM,
            claim_type,
            requested_amount: cny(10300),
            approved_amount: Some(cny(10300)),
            review_within: Some(chrono::Duration::hours(2)),
            rejection_text: None,
        }
    }

    /// One of every event, with facts worth showing.
    fn every_event() -> Vec<ClaimEvent> {
        let s = |t: &str| t.to_string();
        vec![
            ClaimEvent::Submitted { amount: cny(10300) },
            ClaimEvent::ReviewStarted,
            ClaimEvent::SecondReviewRequired {
                reason: s("amount above 500"),
            },
            ClaimEvent::EvidenceRequested {
                note: s("a photo of the label"),
            },
            ClaimEvent::EvidenceAdded {
                evidence: vec![s("a.jpg"), s("b.jpg")],
            },
            ClaimEvent::Approved {
                amount: cny(10300),
                reason: None,
            },
            ClaimEvent::Rejected {
                reason: s("outside_return_window"),
            },
            ClaimEvent::Cancelled,
            ClaimEvent::ReturnShipped {
                carrier: s("SF Express"),
                tracking_number: s("SF1234567890"),
            },
            ClaimEvent::ReturnReceived,
            ClaimEvent::PickupBooked {
                date: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
                slot: s("09:00-12:00"),
            },
            ClaimEvent::ShipmentUpdated {
                leg: crate::domain::returns::Leg::Return,
                state: crate::domain::tracking::CourierState::InTransit,
                delivered_to_destination: false,
            },
            ClaimEvent::ShipmentFlagged {
                leg: crate::domain::returns::Leg::Return,
                reason: s("not picked up within 7 days"),
            },
            ClaimEvent::Inspected {
                decision: crate::domain::returns::InspectionDecision::Partial { amount: cny(500) },
                notes: s("scratched"),
                photos: vec![],
            },
            ClaimEvent::RefundStarted,
            ClaimEvent::RefundSent {
                refund_id: "RF1P1".into(),
                channel: crate::domain::order::PaymentChannel::WechatPay,
                amount: cny(1000),
                expected_arrival: Some(chrono::Utc::now()),
                replaces: None,
            },
            ClaimEvent::RefundArrived {
                refund_id: "RF1P1".into(),
                channel: crate::domain::order::PaymentChannel::Alipay,
                amount: cny(1000),
                arrived_at: chrono::Utc::now(),
                received_account: None,
            },
            ClaimEvent::RefundFailed {
                reason: s("provider: NOT_ENOUGH_BALANCE"),
            },
            ClaimEvent::RefundSucceeded,
            ClaimEvent::ReplacementShipped {
                carrier: s("ZTO"),
                tracking_number: s("ZT7788"),
            },
            ClaimEvent::Completed,
            ClaimEvent::Closed {
                reason: s("return not shipped within 7 days"),
            },
            ClaimEvent::Escalated {
                due_at: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
            },
            ClaimEvent::DisputeOpened {
                grounds: Grounds::AmountDisputed,
                wished: Resolution::SupplementaryRefund { amount: cny(500) },
                text: s("both leak"),
                attachments: vec![],
                respond_by: Some(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()),
            },
            ClaimEvent::DisputeMessage {
                n: 2,
                by: Party::Shop,
                kind: PostKind::Grounds,
                text: s("see the report"),
                attachments: vec![],
                clause: None,
            },
            ClaimEvent::DisputeProposal {
                n: 2,
                by: Party::Shop,
                resolution: Resolution::SupplementaryRefund { amount: cny(500) },
                note: s("goodwill"),
            },
            ClaimEvent::DisputeResolved {
                proposal: 2,
                resolution: Resolution::Redelivery,
            },
            ClaimEvent::DisputeWithdrawn,
            ClaimEvent::DisputeEscalated {
                respond_by: Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap(),
            },
            ClaimEvent::BenefitsReturned {
                points: 49,
                coupons: vec![s("CPN-9")],
                voided: vec![],
            },
            ClaimEvent::CustomsUpdated {
                clearance: crate::domain::crossborder::ClearanceStatus::Failed,
                reason: Some(s("prohibited ingredient")),
                return_tracking: None,
            },
        ]
    }

    fn has_cjk(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn every_event_renders_in_both_languages() {
        let all = every_event();
        // Guards the list above: one of each variant (names are unique).
        let mut names: Vec<&str> = all.iter().map(ClaimEvent::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            ClaimStep::ALL.len(),
            "every ClaimEvent variant once"
        );
        let types = [
            ClaimType::RefundOnly,
            ClaimType::ReturnRefund,
            ClaimType::Exchange,
            ClaimType::SpecialClaim {
                kind: SpecialKind::FreshSpoilage,
            },
        ];
        for t in types {
            for e in &all {
                let f = facts(t);
                let en = render(e, &f, Language::En);
                let zh = render(e, &f, Language::ZhCn);
                for m in [&en, &zh] {
                    assert!(!m.title.trim().is_empty(), "{e:?}");
                    assert!(m.body.contains("#3E4F5A6B"), "{e:?}: {}", m.body);
                    assert!(!m.body.contains('{') && !m.body.contains('}'), "{}", m.body);
                    assert!(!m.body.contains("  "), "double space: {}", m.body);
                    assert_eq!(m.sms.is_some(), sends_sms(e), "{e:?}");
                }
                assert!(!has_cjk(&en.title) && !has_cjk(&en.body), "{}", en.body);
                assert!(has_cjk(&zh.title) && has_cjk(&zh.body), "{}", zh.body);
                assert_ne!(en.body, zh.body);
            }
        }
    }

    #[test]
    fn internal_reasons_stay_internal() {
        let f = facts(ClaimType::RefundOnly);
        for lang in [Language::En, Language::ZhCn] {
            let m = render(
                &ClaimEvent::SecondReviewRequired {
                    reason: "amount above 500".into(),
                },
                &f,
                lang,
            );
            assert!(!m.body.contains("500"), "{}", m.body);
            let m = render(
                &ClaimEvent::RefundFailed {
                    reason: "NOT_ENOUGH_BALANCE".into(),
                },
                &f,
                lang,
            );
            assert!(!m.body.contains("BALANCE"), "{}", m.body);
        }
    }

    #[test]
    fn messages_carry_the_claim_facts() {
        let f = facts(ClaimType::RefundOnly);
        let m = render(
            &ClaimEvent::Submitted { amount: cny(10300) },
            &f,
            Language::En,
        );
        assert_eq!(m.title, "Claim received");
        assert_eq!(
            m.body,
            "We have received your claim #3E4F5A6B for CNY 103.00. The shop will review it \
             within 2 hours. We will keep you posted at every step."
        );
        let m = render(
            &ClaimEvent::Submitted { amount: cny(10300) },
            &f,
            Language::ZhCn,
        );
        assert_eq!(m.title, "售后申请已提交");
        assert_eq!(
            m.body,
            "我们已收到您的售后申请 #3E4F5A6B，申请金额 ¥103.00。商家将在 2 小时内完成审核。每一步进展我们都会通知您。"
        );
        let shipped = ClaimEvent::ReplacementShipped {
            carrier: "SF Express".into(),
            tracking_number: "SF1234567890".into(),
        };
        for lang in [Language::En, Language::ZhCn] {
            let m = render(&shipped, &facts(ClaimType::Exchange), lang);
            assert!(m.body.contains("SF Express") && m.body.contains("SF1234567890"));
        }
        let asked = ClaimEvent::EvidenceRequested {
            note: "A photo of the label".into(),
        };
        let m = render(&asked, &f, Language::En);
        assert!(m.body.contains("\"A photo of the label\""), "{}", m.body);
        // No promise without a deadline.
        let mut no_due = f.clone();
        no_due.review_within = None;
        let m = render(
            &ClaimEvent::Submitted { amount: cny(1) },
            &no_due,
            Language::En,
        );
        assert!(m.body.contains("review it soon"), "{}", m.body);
    }

    #[test]
    fn refund_sent_and_arrived_say_where_how_much_and_when() {
        use crate::domain::order::PaymentChannel;
        let f = facts(ClaimType::RefundOnly);
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let sent = ClaimEvent::RefundSent {
            refund_id: "RF1P1".into(),
            channel: PaymentChannel::WechatPay,
            amount: cny(10300),
            expected_arrival: Some(at("2026-12-07T15:57:03Z")),
            replaces: None,
        };
        let m = render(&sent, &f, Language::En);
        assert_eq!(
            (m.title.as_str(), m.body.as_str(), m.sms),
            (
                "Refund sent",
                "The refund of CNY 103.00 for your claim #3E4F5A6B was sent to WeChat Pay; \
                 expect it by 2026-12-07.",
                None
            )
        );
        let m = render(&sent, &f, Language::ZhCn);
        assert_eq!(
            m.body,
            "您的售后申请 #3E4F5A6B 的退款 ¥103.00 已退回微信支付，预计 2026-12-07 前到账。"
        );
        let arrived = |channel, account: Option<&str>| ClaimEvent::RefundArrived {
            refund_id: "RF1P1".into(),
            channel,
            amount: cny(10300),
            arrived_at: at("2026-12-04T15:57:04Z"),
            received_account: account.map(String::from),
        };
        let m = render(
            &arrived(PaymentChannel::WechatPay, Some("招商银行信用卡0403")),
            &f,
            Language::ZhCn,
        );
        assert_eq!(m.title, "退款已到账");
        assert_eq!(
            m.body,
            "您的售后申请 #3E4F5A6B 的退款 ¥103.00 已到账（微信支付，收款账户：招商银行信用卡0403）。"
        );
        assert_eq!(
            m.sms.as_deref(),
            Some("【售后服务】退款已到账：您的售后申请 #3E4F5A6B 的退款 ¥103.00 已到账（微信支付，收款账户：招商银行信用卡0403）。")
        );
        let m = render(
            &arrived(PaymentChannel::Alipay, Some(" ")),
            &f,
            Language::En,
        );
        assert_eq!(
            m.body,
            "The refund of CNY 103.00 for your claim #3E4F5A6B has arrived in Alipay."
        );
        let m = render(
            &arrived(PaymentChannel::Balance, Some("store balance")),
            &f,
            Language::En,
        );
        assert!(
            m.body.ends_with("has arrived in your store balance."),
            "{}",
            m.body
        );
    }

    #[test]
    fn partial_approval_says_what_was_asked_and_why() {
        let f = facts(ClaimType::RefundOnly);
        let e = ClaimEvent::Approved {
            amount: cny(5000),
            reason: Some("one of two items was fine".into()),
        };
        let m = render(&e, &f, Language::En);
        assert_eq!(
            m.body,
            "Your claim #3E4F5A6B was approved. A refund of CNY 50.00 will be sent to you. You \
             asked for CNY 103.00; the shop approved CNY 50.00. Reason: one of two items was fine."
        );
        let m = render(&e, &f, Language::ZhCn);
        assert!(
            m.body.contains("¥103.00") && m.body.contains("¥50.00"),
            "{}",
            m.body
        );
        // A full approval does not repeat the amount nor show the rule's reason.
        let full = ClaimEvent::Approved {
            amount: cny(10300),
            reason: Some("rule r-1".into()),
        };
        let m = render(&full, &f, Language::En);
        assert!(!m.body.contains("rule r-1") && !m.body.contains("asked for"));
    }

    #[test]
    fn rejections_show_the_catalogue_text_when_given() {
        let e = ClaimEvent::Rejected {
            reason: "outside_return_window".into(),
        };
        let mut f = facts(ClaimType::ReturnRefund);
        let m = render(&e, &f, Language::En);
        assert!(
            m.body.contains("Reason: outside_return_window."),
            "{}",
            m.body
        );
        f.rejection_text = Some("The after-sales window has closed.");
        let m = render(&e, &f, Language::En);
        assert!(
            m.body
                .contains("Reason: The after-sales window has closed. If you disagree"),
            "{}",
            m.body
        );
        f.rejection_text = Some("已超出售后期限。");
        let m = render(&e, &f, Language::ZhCn);
        assert!(
            m.body.contains("原因：已超出售后期限。如有异议"),
            "{}",
            m.body
        );
    }

    #[test]
    fn japanese_for_the_claim_progress_english_for_the_rest() {
        let f = facts(ClaimType::SpecialClaim {
            kind: SpecialKind::CrossBorderCustoms,
        });
        let failed = ClaimEvent::CustomsUpdated {
            clearance: crate::domain::crossborder::ClearanceStatus::Failed,
            reason: None,
            return_tracking: None,
        };
        let m = render(&failed, &f, Language::Ja);
        assert!(m.body.contains("関税"), "{m:?}");
        let m = render(
            &ClaimEvent::Submitted { amount: cny(37930) },
            &f,
            Language::Ja,
        );
        assert!(m.title.contains("受け付け"), "{m:?}");
        assert!(m.sms.unwrap().starts_with("【アフターサービス】"));
        // Not translated: the English text, never an empty or Chinese one.
        let e = ClaimEvent::DisputeWithdrawn;
        assert_eq!(render(&e, &f, Language::Ja), render(&e, &f, Language::En));
    }

    #[test]
    fn money_is_formatted_exactly() {
        use Currency::*;
        use Language::*;
        assert_eq!(
            format_money(Money::from_minor(10300, Cny), En),
            "CNY 103.00"
        );
        assert_eq!(format_money(Money::from_minor(10300, Cny), ZhCn), "¥103.00");
        assert_eq!(format_money(Money::from_minor(5, Cny), En), "CNY 0.05");
        assert_eq!(format_money(Money::from_minor(0, Cny), ZhCn), "¥0.00");
        assert_eq!(
            format_money(Money::from_minor(123_456_789, Cny), En),
            "CNY 1,234,567.89"
        );
        assert_eq!(
            format_money(Money::from_minor(123_456_789, Cny), ZhCn),
            "¥1,234,567.89"
        );
        assert_eq!(
            format_money(Money::from_minor(100_000, Usd), ZhCn),
            "USD 1,000.00"
        );
        assert_eq!(format_money(Money::from_minor(1200, Jpy), En), "JPY 1,200");
        assert_eq!(format_money(Money::from_minor(999, Jpy), ZhCn), "JPY 999");
        assert_eq!(
            format_money(Money::from_minor(1_000_000, Jpy), En),
            "JPY 1,000,000"
        );
        assert_eq!(format_money(Money::from_minor(-250, Eur), En), "-EUR 2.50");
        assert_eq!(
            format_money(Money::from_minor(i64::MIN, Cny), En),
            "-CNY 92,233,720,368,547,758.08"
        );
    }

    #[test]
    fn short_ids_and_durations() {
        assert_eq!(short_id(CLAIM), "#3E4F5A6B");
        assert_eq!(short_id("abc"), "#ABC");
        assert_eq!(short_id("clm_"), "#");
        assert_eq!(short_id("ünïcødé-id"), "#ÏCØDÉ-ID");
        let d = chrono::Duration::minutes;
        assert_eq!(format_duration(d(120), Language::En).unwrap(), "2 hours");
        assert_eq!(format_duration(d(61), Language::En).unwrap(), "2 hours");
        assert_eq!(format_duration(d(60), Language::En).unwrap(), "1 hour");
        assert_eq!(format_duration(d(30), Language::ZhCn).unwrap(), "30 分钟");
        assert_eq!(format_duration(d(1), Language::En).unwrap(), "1 minute");
        assert_eq!(
            format_duration(d(48 * 60), Language::En).unwrap(),
            "48 hours"
        );
        assert_eq!(format_duration(d(72 * 60), Language::ZhCn).unwrap(), "3 天");
        assert_eq!(
            format_duration(chrono::Duration::seconds(1), Language::En).unwrap(),
            "1 minute"
        );
        assert_eq!(format_duration(d(0), Language::En), None);
        assert_eq!(format_duration(d(-5), Language::En), None);
        assert_eq!(format_duration(chrono::Duration::MAX, Language::En), None);
    }

    #[test]
    fn sms_goes_out_for_the_chosen_steps_only_and_stays_short() {
        let sent: Vec<&str> = every_event()
            .iter()
            .filter(|e| sends_sms(e))
            .map(ClaimEvent::name)
            .collect();
        assert_eq!(
            sent,
            [
                "submitted",
                "evidence_requested",
                "approved",
                "rejected",
                "pickup_booked",
                "inspected",
                "refund_arrived",
                "replacement_shipped",
                "closed",
                "dispute_resolved",
                "dispute_escalated"
            ]
        );
        let f = facts(ClaimType::RefundOnly);
        let m = render(
            &ClaimEvent::Submitted { amount: cny(10300) },
            &f,
            Language::ZhCn,
        );
        assert!(m
            .sms
            .as_deref()
            .unwrap()
            .starts_with("【售后服务】售后申请已提交："));
        let long = ClaimEvent::EvidenceRequested {
            note: "x".repeat(5000),
        };
        for lang in [Language::En, Language::ZhCn] {
            let sms = render(&long, &f, lang).sms.unwrap();
            assert_eq!(sms.chars().count(), MAX_SMS_CHARS);
            assert!(sms.ends_with('…'));
        }
    }
}
