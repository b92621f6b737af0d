//! Why a claim was rejected, in words the customer reads.
//!
//! A rejection always names a code from the [`Catalogue`] rather than free
//! text: the customer gets a fixed, reviewed sentence in their language, the
//! shop's statistics can count rejections by reason, and a rule can only
//! reject with a reason that exists. The catalogue is the built-in reasons
//! plus the codes a shop defines for itself.

use super::order::Language;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One rejection reason: a stable code and its customer-facing texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectionReason {
    pub code: String,
    pub text_zh: String,
    pub text_en: String,
}

impl RejectionReason {
    pub fn text(&self, lang: Language) -> &str {
        match lang {
            Language::ZhCn => &self.text_zh,
            Language::En | Language::Ja => &self.text_en,
        }
    }
}

/// The built-in reasons: (code, Simplified Chinese, English).
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "outside_return_window",
        "您的申请已超出本店售后期限,暂无法受理。如有疑问,请联系客服。",
        "Your request was made after this shop's after-sales window closed, so we cannot accept it. Please contact customer service if you have questions.",
    ),
    (
        "item_used_or_damaged_by_customer",
        "商品已使用或存在非质量问题导致的损坏,影响二次销售,不符合退换条件。",
        "The item has been used or was damaged after delivery, so it can no longer be resold and is not eligible for return or exchange.",
    ),
    (
        "missing_parts_or_packaging",
        "退回的商品缺少配件、赠品或原包装,请补齐后重新申请。",
        "The returned item is missing parts, free gifts or its original packaging. Please complete it and apply again.",
    ),
    (
        "evidence_insufficient",
        "您提供的凭证不足以确认商品问题,请补充清晰的照片或视频后重新申请。",
        "The evidence provided is not enough to confirm the problem. Please add clear photos or videos and apply again.",
    ),
    (
        "final_sale_item",
        "该商品为特价/清仓商品,购买时已注明不支持退换。",
        "This item was sold as final sale, as stated at purchase, and cannot be returned or exchanged.",
    ),
    (
        "not_received_by_courier",
        "快递公司未查询到您的退货揽收记录,请核对退货单号后重新提交。",
        "The courier has no record of picking up your return. Please check the tracking number and submit it again.",
    ),
    (
        "duplicate_claim",
        "该商品已有处理中或已完成的售后申请,请勿重复提交。",
        "There is already an open or completed after-sales request for this item.",
    ),
    (
        "virtual_goods_consumed",
        "该电子券码已使用,按本店规则不支持退款。",
        "This voucher code has already been used and, under this shop's policy, cannot be refunded.",
    ),
    (
        "fresh_window_passed",
        "生鲜商品需在签收后规定时间内反馈问题,您的申请已超出理赔时限。",
        "Problems with fresh produce must be reported within the claim window after delivery, and this window has passed.",
    ),
    (
        "other",
        "经审核,您的申请不符合售后条件。如有疑问,请联系客服。",
        "After review, your request does not meet the after-sales conditions. Please contact customer service if you have questions.",
    ),
];

/// Most reasons a shop may add.
pub const MAX_EXTRAS: usize = 100;
/// Longest customer-facing text, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// A problem with a shop's extra reasons; `path` names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CatalogueError {
    pub path: String,
    pub message: String,
}

/// The built-in reasons plus a shop's own. Only [`Catalogue::with_extras`]
/// (or deserialising, which calls it) admits extras, so every code in a
/// catalogue is well formed and unique.
///
/// Its JSON is the shop's part only: `{"extras": [{"code": ..., "text_zh": ...,
/// "text_en": ...}]}`; the built-ins are not stored, so improving their
/// wording reaches every shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CatalogueDoc", into = "CatalogueDoc")]
pub struct Catalogue {
    extras: Vec<RejectionReason>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueDoc {
    #[serde(default)]
    extras: Vec<RejectionReason>,
}

impl TryFrom<CatalogueDoc> for Catalogue {
    type Error = CatalogueErrors;
    fn try_from(d: CatalogueDoc) -> Result<Self, Self::Error> {
        Catalogue::with_extras(d.extras).map_err(CatalogueErrors)
    }
}

impl From<Catalogue> for CatalogueDoc {
    fn from(c: Catalogue) -> Self {
        CatalogueDoc { extras: c.extras }
    }
}

/// All the problems found in a catalogue, one per line (serde reports one
/// error, so the list is joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueErrors(pub Vec<CatalogueError>);

impl fmt::Display for CatalogueErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue::builtin()
    }
}

/// Whether `code` may name a shop's reason: `[a-z][a-z0-9_]{1,47}`.
fn code_is_well_formed(code: &str) -> bool {
    let b = code.as_bytes();
    (2..=48).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn check_text(path: String, text: &str, errors: &mut Vec<CatalogueError>) {
    let message = if text.trim().is_empty() {
        "must not be empty".to_string()
    } else if text.chars().count() > MAX_TEXT_CHARS {
        format!("at most {MAX_TEXT_CHARS} characters")
    } else if text.chars().any(char::is_control) {
        // Texts go into SMS and push messages, where a stray newline or
        // escape breaks the template.
        "must not contain control characters".to_string()
    } else {
        return;
    };
    errors.push(CatalogueError { path, message });
}

impl Catalogue {
    /// The built-in reasons only.
    pub fn builtin() -> Catalogue {
        Catalogue { extras: Vec::new() }
    }

    /// The built-ins plus a shop's reasons, every problem reported with its
    /// path (`extras[2].code: ...`).
    pub fn with_extras(extras: Vec<RejectionReason>) -> Result<Catalogue, Vec<CatalogueError>> {
        let mut errors = Vec::new();
        if extras.len() > MAX_EXTRAS {
            errors.push(CatalogueError {
                path: "extras".into(),
                message: format!("at most {MAX_EXTRAS} reasons (got {})", extras.len()),
            });
            return Err(errors);
        }
        for (i, r) in extras.iter().enumerate() {
            let path = format!("extras[{i}].code");
            if !code_is_well_formed(&r.code) {
                errors.push(CatalogueError {
                    path,
                    message: format!(
                        "{:?} is not a valid code: 2 to 48 characters, lowercase letters, digits and '_', starting with a letter",
                        r.code
                    ),
                });
            } else if BUILTIN.iter().any(|(c, _, _)| *c == r.code) {
                errors.push(CatalogueError {
                    path,
                    message: format!("{:?} is a built-in reason", r.code),
                });
            } else if let Some(j) = extras[..i].iter().position(|o| o.code == r.code) {
                errors.push(CatalogueError {
                    path,
                    message: format!("duplicate code {:?} (also extras[{j}])", r.code),
                });
            }
            check_text(format!("extras[{i}].text_zh"), &r.text_zh, &mut errors);
            check_text(format!("extras[{i}].text_en"), &r.text_en, &mut errors);
        }
        if errors.is_empty() {
            Ok(Catalogue { extras })
        } else {
            Err(errors)
        }
    }

    /// The shop's own reasons.
    pub fn extras(&self) -> &[RejectionReason] {
        &self.extras
    }

    pub fn contains(&self, code: &str) -> bool {
        BUILTIN.iter().any(|(c, _, _)| *c == code) || self.extras.iter().any(|r| r.code == code)
    }

    pub fn is_builtin(code: &str) -> bool {
        BUILTIN.iter().any(|(c, _, _)| *c == code)
    }

    /// The reason with this code.
    pub fn lookup(&self, code: &str) -> Option<RejectionReason> {
        if let Some((c, zh, en)) = BUILTIN.iter().find(|(c, _, _)| *c == code) {
            return Some(RejectionReason {
                code: (*c).into(),
                text_zh: (*zh).into(),
                text_en: (*en).into(),
            });
        }
        self.extras.iter().find(|r| r.code == code).cloned()
    }

    /// The customer-facing text of a code in a language, without copying.
    pub fn text(&self, code: &str, lang: Language) -> Option<&str> {
        if let Some((_, zh, en)) = BUILTIN.iter().find(|(c, _, _)| *c == code) {
            return Some(match lang {
                Language::ZhCn => zh,
                Language::En | Language::Ja => en,
            });
        }
        self.extras
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.text(lang))
    }

    /// Every reason, built-ins first, for pick lists.
    pub fn all(&self) -> Vec<RejectionReason> {
        BUILTIN
            .iter()
            .map(|(c, zh, en)| RejectionReason {
                code: (*c).into(),
                text_zh: (*zh).into(),
                text_en: (*en).into(),
            })
            .chain(self.extras.iter().cloned())
            .collect()
    }

    /// The built-in codes.
    pub fn builtin_codes() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(c, _, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_well_formed_and_within_limits() {
        let mut errors = Vec::new();
        for (i, (code, zh, en)) in BUILTIN.iter().enumerate() {
            assert!(code_is_well_formed(code), "{code}");
            assert!(
                !BUILTIN[..i].iter().any(|(c, _, _)| c == code),
                "duplicate {code}"
            );
            check_text(format!("{code}.zh"), zh, &mut errors);
            check_text(format!("{code}.en"), en, &mut errors);
        }
        assert_eq!(errors, vec![]);
    }
}
