//! Reading a rule set: the JSON language checked part by part, every
//! problem reported with its path, and conditions compiled as they are read
//! so that impossible conditions and unreachable rules are caught here.

use super::compile::{
    fact_names, fact_shape, one_hot, range_has_values, Constraint, Shape, CENT, E_KINDS, N_AMOUNT,
    N_ENUM, N_NUM, UNIVERSE,
};
use super::facts::PRODUCT_KINDS;
use super::{Outcome, Rule, RuleSet};
use crate::domain::rejections::Catalogue;
use crate::strict_json::kind as json_type;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

// ---------------------------------------------------------------------------
// Errors

/// What kind of problem a rule set has, for machines (the message is for
/// people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleErrorKind {
    /// Not JSON at all.
    Syntax,
    /// A value of the wrong JSON type, or a required field missing.
    Shape,
    UnknownField,
    UnknownFact,
    UnknownOperator,
    BadValue,
    BadAmount,
    BadId,
    DuplicateId,
    UnknownReason,
    TooManyRules,
    /// A condition, or a rule's conditions together, can never hold.
    NeverTrue,
    /// An earlier rule already matches every claim this rule would match.
    Unreachable,
}

/// One problem in a rule set, with the path of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// `rules[3].when.amount`; empty for the document as a whole.
    pub path: String,
    /// The rule's id, for problems of a whole rule.
    pub rule_id: Option<String>,
    pub kind: RuleErrorKind,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(id) = &self.rule_id {
            write!(f, " ({id:?})")?;
        }
        if !self.path.is_empty() || self.rule_id.is_some() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleError {}

/// Most rules in one set.
pub const MAX_RULES: usize = 200;
const MAX_ID_LEN: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_NOTE_CHARS: usize = 500;
/// Largest number a count or time condition may name (about 114 years of
/// hours): far beyond any sensible rule, far from overflow once in hours.
const MAX_COUNT: u64 = 1_000_000;
/// Largest amount a condition may name, in major units.
const MAX_AMOUNT_MAJOR: i128 = 1_000_000_000_000;

// ---------------------------------------------------------------------------
// Parsing

/// What [`RuleSet::parse`] reads: JSON text (`str`, `String`) or a JSON
/// value, so callers holding either need no conversion.
pub trait RuleDocument {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error>;
}

impl RuleDocument for str {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error> {
        serde_json::from_str(self).map(std::borrow::Cow::Owned)
    }
}

impl RuleDocument for String {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error> {
        self.as_str().json()
    }
}

impl RuleDocument for Value {
    fn json(&self) -> Result<std::borrow::Cow<'_, Value>, serde_json::Error> {
        Ok(std::borrow::Cow::Borrowed(self))
    }
}

pub(super) struct Parser<'a> {
    pub(super) errors: Vec<RuleError>,
    pub(super) catalogue: &'a Catalogue,
}

/// Whether `id` names a rule: 1 to 64 of `a-z 0-9 - _`, starting with a
/// letter or digit, so ids read well in URLs, logs and timelines.
fn id_is_well_formed(id: &str) -> bool {
    let b = id.as_bytes();
    (1..=MAX_ID_LEN).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// A decimal amount in major units with at most 2 decimals, at the amount
/// scale. Only plain digits: no sign, exponent or spaces.
fn parse_amount(s: &str) -> Option<i128> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if int.is_empty() || int.len() > 13 || !digits(int) || !digits(frac) || frac.len() > 2 {
        return None;
    }
    if s.ends_with('.') {
        return None;
    }
    let major: i128 = int.parse().ok()?;
    if major > MAX_AMOUNT_MAJOR {
        return None;
    }
    let mut hundredths: i128 = frac.parse().unwrap_or(0);
    if frac.len() == 1 {
        hundredths *= 10;
    }
    Some((major * 100 + hundredths) * CENT)
}

/// A condition's operators folded into one constraint on one fact.
enum Piece {
    Mask(usize, u128),
    Range(usize, i128, i128),
}

impl Parser<'_> {
    fn err(&mut self, path: impl Into<String>, kind: RuleErrorKind, message: impl Into<String>) {
        self.errors.push(RuleError {
            path: path.into(),
            rule_id: None,
            kind,
            message: message.into(),
        });
    }

    fn unknown_fields(&mut self, path: &str, obj: &Map<String, Value>, allowed: &[&str]) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    path,
                    RuleErrorKind::UnknownField,
                    format!("unknown field {k:?} (expected {})", allowed.join(", ")),
                );
            }
        }
    }

    pub(super) fn document(&mut self, v: &Value) -> Option<RuleSet> {
        let Some(obj) = v.as_object() else {
            self.err(
                "",
                RuleErrorKind::Shape,
                format!(
                    "a rule set is an object {{\"rules\": [...]}}, not {}",
                    json_type(v)
                ),
            );
            return None;
        };
        self.unknown_fields("", obj, &["version", "rules"]);
        let version = match obj.get("version") {
            None => 0,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => n,
                None => {
                    self.err(
                        "version",
                        RuleErrorKind::Shape,
                        "must be a whole number from 0 to 4294967295",
                    );
                    0
                }
            },
        };
        let rules = match obj.get("rules") {
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.err(
                    "rules",
                    RuleErrorKind::Shape,
                    format!("must be an array, not {}", json_type(other)),
                );
                return None;
            }
            None => {
                self.err("rules", RuleErrorKind::Shape, "is required");
                return None;
            }
        };
        if rules.len() > MAX_RULES {
            self.err(
                "rules",
                RuleErrorKind::TooManyRules,
                format!("at most {MAX_RULES} rules (got {})", rules.len()),
            );
            return None;
        }
        let mut parsed: Vec<Option<(Rule, Constraint)>> = Vec::with_capacity(rules.len());
        // Ids as written, so a duplicate is caught even when either rule
        // has other problems.
        let mut ids: Vec<Option<&str>> = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            parsed.push(self.rule(i, r));
            let id = r.get("id").and_then(Value::as_str);
            if let Some(id) = id {
                if let Some(j) = ids.iter().position(|o| *o == Some(id)) {
                    self.err(
                        format!("rules[{i}].id"),
                        RuleErrorKind::DuplicateId,
                        format!("duplicate id {id:?} (also rules[{j}])"),
                    );
                }
            }
            ids.push(id);
        }
        // Only rules that parsed take part: a broken rule has no meaning to
        // compare with, and its own errors are already reported.
        for (j, later) in parsed.iter().enumerate() {
            let Some((lr, lc)) = later else { continue };
            let cover = parsed[..j].iter().enumerate().find_map(|(i, e)| match e {
                Some((er, ec)) if lc.within(ec) => Some((i, er)),
                _ => None,
            });
            if let Some((i, er)) = cover {
                self.errors.push(RuleError {
                    path: format!("rules[{j}]"),
                    rule_id: Some(lr.id.clone()),
                    kind: RuleErrorKind::Unreachable,
                    message: format!(
                        "unreachable: rule {:?} (rules[{i}]) already matches every claim it would match",
                        er.id
                    ),
                });
            }
        }
        if !self.errors.is_empty() {
            return None;
        }
        let mut set = RuleSet::empty();
        set.version = version;
        for (rule, c) in parsed.into_iter().flatten() {
            let start = set.tests.len() as u32;
            set.tests.extend(c.tests());
            set.spans.push((start, set.tests.len() as u32));
            set.rules.push(rule);
        }
        Some(set)
    }

    fn rule(&mut self, i: usize, v: &Value) -> Option<(Rule, Constraint)> {
        let path = format!("rules[{i}]");
        let Some(obj) = v.as_object() else {
            self.err(
                &path,
                RuleErrorKind::Shape,
                format!("a rule is an object, not {}", json_type(v)),
            );
            return None;
        };
        let before = self.errors.len();
        self.unknown_fields(&path, obj, &["id", "description", "when", "then"]);
        let id = match obj.get("id") {
            Some(Value::String(s)) if id_is_well_formed(s) => Some(s.clone()),
            Some(Value::String(s)) => {
                self.err(
                    format!("{path}.id"),
                    RuleErrorKind::BadId,
                    format!("{s:?} is not a valid rule id: 1 to {MAX_ID_LEN} characters, lowercase letters, digits, '-' and '_', starting with a letter or digit"),
                );
                None
            }
            Some(other) => {
                self.err(
                    format!("{path}.id"),
                    RuleErrorKind::Shape,
                    format!("must be a string, not {}", json_type(other)),
                );
                None
            }
            None => {
                self.err(format!("{path}.id"), RuleErrorKind::Shape, "is required");
                None
            }
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if s.chars().count() <= MAX_DESCRIPTION_CHARS => s.clone(),
            Some(Value::String(_)) => {
                self.err(
                    format!("{path}.description"),
                    RuleErrorKind::BadValue,
                    format!("at most {MAX_DESCRIPTION_CHARS} characters"),
                );
                String::new()
            }
            Some(other) => {
                self.err(
                    format!("{path}.description"),
                    RuleErrorKind::Shape,
                    format!("must be a string, not {}", json_type(other)),
                );
                String::new()
            }
        };
        let empty = Map::new();
        let when = match obj.get("when") {
            None | Some(Value::Null) => Some(&empty),
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.err(
                    format!("{path}.when"),
                    RuleErrorKind::Shape,
                    format!("must be an object of conditions, not {}", json_type(other)),
                );
                None
            }
        };
        let constraint = when.and_then(|w| self.when(&path, w));
        let then = match obj.get("then") {
            Some(t) => self.then(&format!("{path}.then"), t),
            None => {
                self.err(format!("{path}.then"), RuleErrorKind::Shape, "is required");
                None
            }
        };
        if self.errors.len() != before {
            return None;
        }
        Some((
            Rule {
                id: id?,
                description,
                when: when?.clone(),
                then: then?,
            },
            constraint?,
        ))
    }

    fn then(&mut self, path: &str, v: &Value) -> Option<Outcome> {
        let Some(obj) = v.as_object() else {
            self.err(
                path,
                RuleErrorKind::Shape,
                format!(
                    "must be an object such as {{\"decision\": \"approve\"}}, not {}",
                    json_type(v)
                ),
            );
            return None;
        };
        const DECISIONS: &str =
            "approve, reject, manual_review, second_review, request_evidence, fast_refund, fast_exchange";
        let decision = match obj.get("decision") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                self.err(
                    format!("{path}.decision"),
                    RuleErrorKind::Shape,
                    format!("must be a string, not {}", json_type(other)),
                );
                return None;
            }
            None => {
                self.err(
                    format!("{path}.decision"),
                    RuleErrorKind::Shape,
                    format!("is required (one of {DECISIONS})"),
                );
                return None;
            }
        };
        let text = |p: &mut Self, field: &str| -> Option<String> {
            let fpath = format!("{path}.{field}");
            match obj.get(field) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    p.err(
                        fpath,
                        RuleErrorKind::Shape,
                        format!("must be a string, not {}", json_type(other)),
                    );
                    None
                }
                None => {
                    p.err(
                        fpath,
                        RuleErrorKind::Shape,
                        format!("is required for {decision:?}"),
                    );
                    None
                }
            }
        };
        match decision {
            "approve" | "manual_review" | "second_review" | "fast_refund" | "fast_exchange" => {
                self.unknown_fields(path, obj, &["decision"]);
                Some(match decision {
                    "approve" => Outcome::Approve,
                    "manual_review" => Outcome::ManualReview,
                    "fast_refund" => Outcome::FastRefund,
                    "fast_exchange" => Outcome::FastExchange,
                    _ => Outcome::SecondReview,
                })
            }
            "reject" => {
                self.unknown_fields(path, obj, &["decision", "reason"]);
                let reason = text(self, "reason")?;
                if !self.catalogue.contains(&reason) {
                    self.err(
                        format!("{path}.reason"),
                        RuleErrorKind::UnknownReason,
                        format!("unknown rejection reason {reason:?}: not in the shop's catalogue"),
                    );
                    return None;
                }
                Some(Outcome::Reject { reason })
            }
            "request_evidence" => {
                self.unknown_fields(path, obj, &["decision", "note"]);
                let note = text(self, "note")?;
                let bad = if note.trim().is_empty() {
                    Some("must not be empty: it tells the customer what to add".to_string())
                } else if note.chars().count() > MAX_NOTE_CHARS {
                    Some(format!("at most {MAX_NOTE_CHARS} characters"))
                } else {
                    None
                };
                if let Some(m) = bad {
                    self.err(format!("{path}.note"), RuleErrorKind::BadValue, m);
                    return None;
                }
                Some(Outcome::RequestEvidence { note })
            }
            other => {
                self.err(
                    format!("{path}.decision"),
                    RuleErrorKind::BadValue,
                    format!("unknown decision {other:?} (expected one of {DECISIONS})"),
                );
                None
            }
        }
    }

    /// Compiles a rule's conditions; None when any is wrong.
    fn when(&mut self, rule_path: &str, when: &Map<String, Value>) -> Option<Constraint> {
        let before = self.errors.len();
        let mut c = Constraint::any();
        // Which condition keys narrowed each underlying fact, to name them
        // when together they leave nothing.
        let mut enum_keys: [Vec<&str>; N_ENUM] = Default::default();
        let mut num_keys: [Vec<&str>; N_NUM] = Default::default();
        for (key, ops) in when {
            let Some(shape) = fact_shape(key) else {
                self.err(
                    format!("{rule_path}.when"),
                    RuleErrorKind::UnknownFact,
                    format!("unknown fact {key:?} (known facts: {})", fact_names()),
                );
                continue;
            };
            let path = format!("{rule_path}.when.{key}");
            let Some(piece) = self.condition(&path, shape, ops) else {
                continue;
            };
            match piece {
                Piece::Mask(f, m) => {
                    c.masks[f] &= m;
                    enum_keys[f].push(key);
                }
                Piece::Range(f, lo, hi) => {
                    let (olo, ohi) = c.ranges[f].unwrap_or((i128::MIN, i128::MAX));
                    c.ranges[f] = Some((olo.max(lo), ohi.min(hi)));
                    num_keys[f].push(key);
                }
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let mut empty = Vec::new();
        for (f, keys) in enum_keys.iter().enumerate() {
            if keys.len() > 1 && c.masks[f] == 0 {
                empty.push(keys.join(" and "));
            }
        }
        for (f, keys) in num_keys.iter().enumerate() {
            if keys.len() > 1 && !range_has_values(f, c.ranges[f]) {
                empty.push(keys.join(" and "));
            }
        }
        if !empty.is_empty() {
            self.err(
                format!("{rule_path}.when"),
                RuleErrorKind::NeverTrue,
                format!(
                    "no claim can meet these conditions together: {}",
                    empty.join("; ")
                ),
            );
            return None;
        }
        Some(c)
    }

    /// One fact's operator object, folded into one piece.
    fn condition(&mut self, path: &str, shape: Shape, ops: &Value) -> Option<Piece> {
        let Some(obj) = ops.as_object() else {
            self.err(
                path,
                RuleErrorKind::Shape,
                format!(
                    "must be an object of operators such as {{\"eq\": ...}}, not {}",
                    json_type(ops)
                ),
            );
            return None;
        };
        if obj.is_empty() {
            self.err(path, RuleErrorKind::Shape, "names no operator");
            return None;
        }
        let before = self.errors.len();
        let piece = match shape {
            Shape::Enum { fact, table } => {
                let values = table.values();
                let all = UNIVERSE[fact];
                let mut mask = all;
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let m = match op.as_str() {
                        "eq" => self.enum_value(&opath, &values, arg),
                        "ne" => self.enum_value(&opath, &values, arg).map(|m| all & !m),
                        "in" => self.enum_list(&opath, &values, arg),
                        "not_in" => self.enum_list(&opath, &values, arg).map(|m| all & !m),
                        _ => {
                            self.unknown_op(path, op, "eq, ne, in, not_in");
                            None
                        }
                    };
                    mask &= m.unwrap_or(all);
                }
                Piece::Mask(fact, mask)
            }
            Shape::Bool { fact, true_mask } => {
                let t = true_mask();
                let mut mask = UNIVERSE[fact];
                for (op, arg) in obj {
                    if op != "eq" {
                        self.unknown_op(path, op, "eq");
                        continue;
                    }
                    match arg {
                        Value::Bool(true) => mask &= t,
                        Value::Bool(false) => mask &= UNIVERSE[fact] & !t,
                        other => self.err(
                            format!("{path}.eq"),
                            RuleErrorKind::BadValue,
                            format!("must be true or false, not {}", json_type(other)),
                        ),
                    }
                }
                Piece::Mask(fact, mask)
            }
            Shape::Kinds => {
                let values = one_hot(&PRODUCT_KINDS, 0);
                let mut mask = UNIVERSE[E_KINDS];
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let pred: fn(u128, u128) -> bool = match op.as_str() {
                        "any_in" => |set, m| set & m != 0,
                        "all_in" => |set, m| set != 0 && set & !m == 0,
                        "none_in" => |set, m| set & m == 0,
                        _ => {
                            self.unknown_op(path, op, "any_in, all_in, none_in");
                            continue;
                        }
                    };
                    let Some(m) = self.enum_list(&opath, &values, arg) else {
                        continue;
                    };
                    mask &= (0..128u32)
                        .filter(|&set| pred(u128::from(set), m))
                        .fold(0u128, |acc, set| acc | 1 << set);
                }
                Piece::Mask(E_KINDS, mask)
            }
            Shape::Count { fact, unit, eq } => {
                let (mut lo, mut hi) = (i128::MIN, i128::MAX);
                let ops = if eq {
                    "eq, lt, lte, gt, gte, between"
                } else {
                    "lt, lte, gt, gte, between"
                };
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let num = |p: &mut Self, at: &str, v: &Value| -> Option<i128> {
                        match v.as_u64() {
                            Some(n) if n <= MAX_COUNT => Some(i128::from(n) * unit),
                            _ => {
                                p.err(
                                    at,
                                    RuleErrorKind::BadValue,
                                    format!(
                                        "must be a whole number from 0 to {MAX_COUNT}, not {v}"
                                    ),
                                );
                                None
                            }
                        }
                    };
                    let r = self.bounds(&opath, op, arg, num, eq.then_some(unit));
                    match r {
                        Bound::Range(l, h) => {
                            lo = lo.max(l);
                            hi = hi.min(h);
                        }
                        Bound::Failed => {}
                        Bound::UnknownOp => self.unknown_op(path, op, ops),
                    }
                }
                Piece::Range(fact, lo, hi)
            }
            Shape::Amount => {
                let (mut lo, mut hi) = (i128::MIN, i128::MAX);
                for (op, arg) in obj {
                    let opath = format!("{path}.{op}");
                    let num = |p: &mut Self, at: &str, v: &Value| -> Option<i128> {
                        match v {
                            Value::String(s) => match parse_amount(s) {
                                Some(a) => Some(a),
                                None => {
                                    p.err(
                                        at,
                                        RuleErrorKind::BadAmount,
                                        format!("{s:?} is not an amount: digits with at most 2 decimals, such as \"50.00\", at most {MAX_AMOUNT_MAJOR}"),
                                    );
                                    None
                                }
                            },
                            other => {
                                p.err(
                                    at,
                                    RuleErrorKind::BadAmount,
                                    format!(
                                        "amounts are decimal strings such as \"50.00\", not {}",
                                        json_type(other)
                                    ),
                                );
                                None
                            }
                        }
                    };
                    match self.bounds(&opath, op, arg, num, Some(1)) {
                        Bound::Range(l, h) => {
                            lo = lo.max(l);
                            hi = hi.min(h);
                        }
                        Bound::Failed => {}
                        Bound::UnknownOp => {
                            self.unknown_op(path, op, "eq, lt, lte, gt, gte, between")
                        }
                    }
                }
                Piece::Range(N_AMOUNT, lo, hi)
            }
        };
        if self.errors.len() != before {
            return None;
        }
        let holds = match piece {
            Piece::Mask(_, m) => m != 0,
            Piece::Range(f, lo, hi) => range_has_values(f, Some((lo, hi))),
        };
        if !holds {
            self.err(
                path,
                RuleErrorKind::NeverTrue,
                "can never hold: no value satisfies all its operators",
            );
            return None;
        }
        Some(piece)
    }

    fn unknown_op(&mut self, path: &str, op: &str, known: &str) {
        self.err(
            path,
            RuleErrorKind::UnknownOperator,
            format!("unknown operator {op:?} (this fact takes {known})"),
        );
    }

    /// A numeric operator as an inclusive range on the compiled scale.
    fn bounds(
        &mut self,
        path: &str,
        op: &str,
        arg: &Value,
        num: impl Fn(&mut Self, &str, &Value) -> Option<i128>,
        // `eq` is allowed, matching this many compiled units (a whole hour
        // of seconds for `hours_since_* eq 24`: the 25th hour).
        eq_width: Option<i128>,
    ) -> Bound {
        let one = |p: &mut Self| num(p, path, arg);
        // Compiled values are whole numbers, so strict bounds move by one.
        let r = match op {
            "eq" if eq_width.is_some() => {
                let w = eq_width.unwrap_or(1);
                one(self).map(|x| (x, x + w - 1))
            }
            "lt" => one(self).map(|x| (i128::MIN, x - 1)),
            "lte" => one(self).map(|x| (i128::MIN, x)),
            "gt" => one(self).map(|x| (x + 1, i128::MAX)),
            "gte" => one(self).map(|x| (x, i128::MAX)),
            "between" => match arg.as_array().map(Vec::as_slice) {
                Some([a, b]) => {
                    let a = num(self, &format!("{path}[0]"), a);
                    let b = num(self, &format!("{path}[1]"), b);
                    match (a, b) {
                        (Some(a), Some(b)) if a <= b => Some((a, b)),
                        (Some(_), Some(_)) => {
                            self.err(
                                path,
                                RuleErrorKind::BadValue,
                                "the low bound is above the high bound",
                            );
                            None
                        }
                        _ => None,
                    }
                }
                _ => {
                    self.err(
                        path,
                        RuleErrorKind::Shape,
                        format!("must be [low, high], not {arg}"),
                    );
                    None
                }
            },
            _ => return Bound::UnknownOp,
        };
        match r {
            Some((lo, hi)) => Bound::Range(lo, hi),
            None => Bound::Failed,
        }
    }

    fn enum_value(
        &mut self,
        path: &str,
        values: &[(&'static str, u128)],
        v: &Value,
    ) -> Option<u128> {
        let Some(s) = v.as_str() else {
            self.err(
                path,
                RuleErrorKind::BadValue,
                format!("must be a string, not {}", json_type(v)),
            );
            return None;
        };
        match values.iter().find(|(n, _)| *n == s) {
            Some((_, m)) => Some(*m),
            None => {
                let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                self.err(
                    path,
                    RuleErrorKind::BadValue,
                    format!("unknown value {s:?} (expected one of {})", names.join(", ")),
                );
                None
            }
        }
    }

    fn enum_list(
        &mut self,
        path: &str,
        values: &[(&'static str, u128)],
        v: &Value,
    ) -> Option<u128> {
        let Some(items) = v.as_array() else {
            self.err(
                path,
                RuleErrorKind::Shape,
                format!("must be a list of values, not {}", json_type(v)),
            );
            return None;
        };
        if items.is_empty() {
            self.err(path, RuleErrorKind::BadValue, "needs at least one value");
            return None;
        }
        let mut mask = 0;
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            if items[..i].contains(item) {
                self.err(
                    ipath,
                    RuleErrorKind::BadValue,
                    format!("{item} is listed twice"),
                );
                ok = false;
                continue;
            }
            match self.enum_value(&ipath, values, item) {
                Some(m) => mask |= m,
                None => ok = false,
            }
        }
        ok.then_some(mask)
    }
}

enum Bound {
    Range(i128, i128),
    Failed,
    UnknownOp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_amount("50.00"), Some(5000 * CENT));
        assert_eq!(parse_amount("50.1"), Some(5010 * CENT));
        assert_eq!(parse_amount("50"), Some(5000 * CENT));
        assert_eq!(parse_amount("0.01"), Some(CENT));
        for bad in [
            "", ".5", "5.", "5.001", "-1", "+1", "1e3", " 1", "1,00", "abc",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
        assert_eq!(parse_amount("99999999999999"), None);
    }
}
