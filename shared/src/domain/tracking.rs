//! Return parcels: carriers, tracking numbers and what the courier says.
//!
//! - [`Carrier`]: the couriers a customer can pick for a return, by their
//!   Kuaidi100 code (the code is also the JSON form).
//! - [`validate`]: normalises a tracking number as typed by a customer and
//!   checks it against the carrier's known shape, so that a typo is answered
//!   at once (a 4xx naming the expected shape) instead of surfacing days
//!   later as a parcel the courier never heard of.
//! - [`CourierState`]: Kuaidi100's `state` codes folded into what the product
//!   acts on, and [`CourierState::to_rule_status`] for the review rules
//!   (their [`CourierStatus`]).
//! - [`TrackingSnapshot`] and [`TrackingSnapshot::merge`]: Kuaidi100 pushes
//!   a full snapshot each time, at least once and in any order; merging keeps
//!   the newest and is idempotent and order-independent.
//!
//! The number shapes are community heuristics, not published by the
//! carriers (see PROTOCOLS.md §4); they err on the side of accepting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------
// Carriers

/// Kuaidi100 codes we accept without a number shape of our own: the
/// carriers PROTOCOLS.md lists beyond the six with a table entry. Any other
/// code is refused rather than passed through: an unknown code is far more
/// often a typo than a new courier, and Kuaidi100 bills a query that can
/// only come back empty. Adding a carrier is one line here.
const OTHER_CARRIERS: [(&str, &str); 5] = [
    ("shentong", "STO Express"),
    ("youzhengguonei", "China Post"),
    ("jtexpress", "J&T Express"),
    ("huitongkuaidi", "Best Express"),
    ("zhaijisong", "ZJS Express"),
];

/// A Kuaidi100 code from [`OTHER_CARRIERS`]. The field is private so that
/// an `Other` carrier can only come from parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OtherCarrier(usize);

impl OtherCarrier {
    pub fn code(self) -> &'static str {
        OTHER_CARRIERS[self.0].0
    }
    pub fn name(self) -> &'static str {
        OTHER_CARRIERS[self.0].1
    }
}

/// A courier, serialised as its lowercase Kuaidi100 code (`"shunfeng"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// SF Express, `shunfeng`. Kuaidi100 needs the phone number (its last
    /// four digits) to answer for SF.
    Shunfeng,
    /// ZTO Express, `zhongtong`.
    Zhongtong,
    /// YTO Express, `yuantong`.
    Yuantong,
    /// Yunda Express, `yunda`.
    Yunda,
    /// JD Logistics, `jd`.
    Jd,
    /// EMS (China Post express), `ems`.
    Ems,
    /// A known carrier without a number shape: generic check only.
    Other(OtherCarrier),
}

impl Carrier {
    /// The carriers with their own number shape.
    pub const CHECKED: [Carrier; 6] = [
        Carrier::Shunfeng,
        Carrier::Zhongtong,
        Carrier::Yuantong,
        Carrier::Yunda,
        Carrier::Jd,
        Carrier::Ems,
    ];

    /// The Kuaidi100 company code (`com` / `company`).
    pub fn code(self) -> &'static str {
        match self {
            Carrier::Shunfeng => "shunfeng",
            Carrier::Zhongtong => "zhongtong",
            Carrier::Yuantong => "yuantong",
            Carrier::Yunda => "yunda",
            Carrier::Jd => "jd",
            Carrier::Ems => "ems",
            Carrier::Other(o) => o.code(),
        }
    }

    /// The name customers know, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Carrier::Shunfeng => "SF Express",
            Carrier::Zhongtong => "ZTO Express",
            Carrier::Yuantong => "YTO Express",
            Carrier::Yunda => "Yunda Express",
            Carrier::Jd => "JD Logistics",
            Carrier::Ems => "EMS",
            Carrier::Other(o) => o.name(),
        }
    }

    /// Every accepted code, for error messages and API documentation.
    pub fn codes() -> impl Iterator<Item = &'static str> {
        Carrier::CHECKED
            .into_iter()
            .map(Carrier::code)
            .chain(OTHER_CARRIERS.iter().map(|(c, _)| *c))
    }

    /// Whether Kuaidi100 needs the phone number to answer for this carrier.
    pub fn needs_phone(self) -> bool {
        matches!(self, Carrier::Shunfeng)
    }

    /// The expected shape, in words, for error messages.
    fn expected(self) -> &'static str {
        match self {
            Carrier::Shunfeng => {
                "SF, one letter or digit and 12 digits (SF1234567890123), or 12 digits for older waybills"
            }
            Carrier::Zhongtong => "14 digits starting with 73, 74, 75, 76 or 78",
            Carrier::Yuantong => "YT and 13 digits (YT1234567890123)",
            Carrier::Yunda => "15 digits starting with 3 or 4, or 13 digits starting with 5",
            Carrier::Jd => "JD, two letters or digits and 11 digits (JDVA12345678901)",
            Carrier::Ems => {
                "13 digits starting with 1, 8 or 9, P with a letter and 11 digits, or an international number like EA123456789CN"
            }
            Carrier::Other(_) => GENERIC_SHAPE,
        }
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Carrier {
    type Err = TrackingError;

    /// Exact lowercase codes only: the code travels in JSON written by
    /// programs (our own front end), so case slack would only hide bugs.
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let known = match code {
            "shunfeng" => Carrier::Shunfeng,
            "zhongtong" => Carrier::Zhongtong,
            "yuantong" => Carrier::Yuantong,
            "yunda" => Carrier::Yunda,
            "jd" => Carrier::Jd,
            "ems" => Carrier::Ems,
            _ => match OTHER_CARRIERS.iter().position(|(c, _)| *c == code) {
                Some(i) => Carrier::Other(OtherCarrier(i)),
                None => {
                    return Err(TrackingError::UnknownCarrier {
                        code: clip(code, 40),
                    })
                }
            },
        };
        Ok(known)
    }
}

impl Serialize for Carrier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Carrier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Tracking numbers

/// Kuaidi100 takes numbers of at most 32 characters (`num`).
pub const MAX_LEN: usize = 32;
/// Generic check: the shortest number we accept for a carrier without a
/// shape of its own.
pub const GENERIC_MIN_LEN: usize = 6;
/// Generic check: digits a number needs at least. Every Chinese carrier's
/// numbers (and UPU S10's nine) are mostly digits, so this refuses words
/// typed into the field ("NONE", "TEST", "UNKNOWN") and short fragments
/// without refusing any real format we know of.
pub const GENERIC_MIN_DIGITS: usize = 6;
const GENERIC_SHAPE: &str = "6 to 32 letters and digits, at least 6 of them digits";

/// Input longer than this is refused before anything is allocated: even
/// with spaces and dashes between groups no real number gets near it.
const MAX_INPUT_BYTES: usize = 256;

/// A tracking number that passed [`validate`]: upper-case ASCII letters and
/// digits, at most [`MAX_LEN`] characters, no spaces.
///
/// Deserialising checks only the generic character set and length, not the
/// carrier's shape (the carrier is not known here): a stored number was
/// validated when it was accepted and must keep loading if the shapes are
/// tightened later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TrackingNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TrackingNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let n = normalize(&raw);
        if n.is_empty() || n.len() > MAX_LEN || !n.bytes().all(is_upper_alnum) {
            return Err(serde::de::Error::custom(
                "a tracking number is 1 to 32 letters and digits",
            ));
        }
        Ok(TrackingNumber(n))
    }
}

/// Why a carrier code or tracking number was refused. The messages are
/// shown to customers as they are (4xx answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingError {
    #[error("unknown carrier code \"{code}\"; use one of: {}", Carrier::codes().collect::<Vec<_>>().join(", "))]
    UnknownCarrier { code: String },
    #[error("the {carrier} tracking number is empty")]
    Empty { carrier: &'static str },
    #[error("the {carrier} tracking number is too long: at most {MAX_LEN} characters")]
    TooLong { carrier: &'static str },
    #[error("the {carrier} tracking number may contain only letters and digits")]
    Characters { carrier: &'static str },
    #[error("\"{number}\" is not a {carrier} tracking number: expected {expected}")]
    Shape {
        carrier: &'static str,
        number: String,
        expected: &'static str,
    },
}

/// A number as a customer types it, made canonical: surrounding and inner
/// whitespace and dashes dropped (apps and receipts group digits, "SF 1234
/// 5678 9012 3"), full-width forms folded to ASCII (Chinese input methods
/// produce "ＳＦ１２３…"), ASCII letters upper-cased. Other characters are
/// kept so that [`validate`] can refuse them. Idempotent.
pub fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_INPUT_BYTES));
    for c in raw.chars() {
        // U+FF01..=U+FF5E are the full-width twins of ASCII 0x21..=0x7E.
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace() || c == '-' {
            continue;
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Normalises `raw` (see [`normalize`]) and checks it against `carrier`'s
/// shape.
pub fn validate(carrier: Carrier, raw: &str) -> Result<TrackingNumber, TrackingError> {
    let name = carrier.name();
    if raw.len() > MAX_INPUT_BYTES {
        return Err(TrackingError::TooLong { carrier: name });
    }
    let n = normalize(raw);
    if n.is_empty() {
        return Err(TrackingError::Empty { carrier: name });
    }
    if !n.bytes().all(is_upper_alnum) {
        return Err(TrackingError::Characters { carrier: name });
    }
    if n.len() > MAX_LEN {
        return Err(TrackingError::TooLong { carrier: name });
    }
    if shape_ok(carrier, n.as_bytes()) {
        Ok(TrackingNumber(n))
    } else {
        Err(TrackingError::Shape {
            carrier: name,
            number: n,
            expected: carrier.expected(),
        })
    }
}

fn is_upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

fn digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// The PROTOCOLS.md table, written out by hand. `n` is already upper-case
/// ASCII letters and digits.
fn shape_ok(carrier: Carrier, n: &[u8]) -> bool {
    match carrier {
        // ^SF[A-Z0-9]\d{12}$ | ^\d{12}$
        Carrier::Shunfeng => match n {
            [b'S', b'F', _, rest @ ..] => rest.len() == 12 && digits(rest),
            _ => n.len() == 12 && digits(n),
        },
        // ^7[3-68]\d{12}$
        Carrier::Zhongtong => match n {
            [b'7', b'3'..=b'6' | b'8', rest @ ..] => rest.len() == 12 && digits(rest),
            _ => false,
        },
        // ^YT\d{13}$
        Carrier::Yuantong => match n {
            [b'Y', b'T', rest @ ..] => rest.len() == 13 && digits(rest),
            _ => false,
        },
        // ^[34]\d{14}$ | ^5\d{12}$
        Carrier::Yunda => match n {
            [b'3' | b'4', rest @ ..] => rest.len() == 14 && digits(rest),
            [b'5', rest @ ..] => rest.len() == 12 && digits(rest),
            _ => false,
        },
        // ^JD[A-Z0-9]{2}\d{11}$
        Carrier::Jd => match n {
            [b'J', b'D', _, _, rest @ ..] => rest.len() == 11 && digits(rest),
            _ => false,
        },
        // ^[981]\d{12}$ | ^P[A-Z]\d{11}$, plus UPU S10 ^[A-Z]{2}\d{9}[A-Z]{2}$:
        // EMS also carries China Post's international items, and refusing a
        // real number costs more than accepting a doubtful one.
        Carrier::Ems => match n {
            [b'9' | b'8' | b'1', rest @ ..] => rest.len() == 12 && digits(rest),
            [b'P', l, rest @ ..] if l.is_ascii_uppercase() && rest.len() == 11 && digits(rest) => {
                true
            }
            [a, b, mid @ .., c, d] if n.len() == 13 => {
                [a, b, c, d].iter().all(|x| x.is_ascii_uppercase()) && digits(mid)
            }
            _ => false,
        },
        Carrier::Other(_) => {
            n.len() >= GENERIC_MIN_LEN
                && n.iter().filter(|b| b.is_ascii_digit()).count() >= GENERIC_MIN_DIGITS
        }
    }
}

/// At most `max` characters of `s`, for echoing input in messages.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Courier state

/// Where a parcel is, folded from Kuaidi100's `state` codes into what the
/// product acts on:
///
/// | Kuaidi100 `state` | meaning | here |
/// |---|---|---|
/// | (none: query answered "no result yet") | waybill made, not scanned | `NoRecord` |
/// | 1 | picked up (揽收) | `PickedUp` |
/// | 0, 7, 10, 11, 12 | in transit, forwarded, customs pending / in progress / cleared | `InTransit` |
/// | 5 | out for delivery (派件) | `OutForDelivery` |
/// | 3 | delivered, signed for (签收) | `Delivered` |
/// | 2, 13 | problem (疑难), customs exception | `Problem` |
/// | 14 | refused by the recipient (拒签) | `Refused` |
/// | 6 | on its way back to the sender (退回) | `Returning` |
/// | 4 | back with the sender and signed for (退签) | `ReturnedToSender` |
///
/// Customs get no states of their own: returns are domestic, and the one
/// customs outcome that needs a person (13) is a problem like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourierState {
    NoRecord,
    PickedUp,
    InTransit,
    OutForDelivery,
    Delivered,
    Problem,
    Refused,
    Returning,
    ReturnedToSender,
}

/// Where a return parcel is, as the courier reports it: the review rules'
/// `courier` fact, folded from a [`CourierState`] by
/// [`CourierState::to_rule_status`]. It lives with the courier's states
/// rather than with the rules so that the parcel types need nothing from the
/// rule engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CourierStatus {
    PickedUp,
    InTransit,
    DeliveredToShop,
    DeliveredElsewhere,
    NotPickedUp,
}

impl CourierState {
    /// The state for a Kuaidi100 `state` code; None for a code not known.
    ///
    /// With `resultv2` Kuaidi100 may send sub-states (three digits, the
    /// first being the main state, e.g. 301 signed in person; 10xx in
    /// transit) [?: from memory of its documentation, not checked]; they
    /// fold into their main state, except 101/102 (order placed / waiting
    /// for pickup), which mean the courier does not have the parcel yet.
    pub fn from_kuaidi100(code: &str) -> Option<CourierState> {
        let n: u32 = code.trim().parse().ok()?;
        Some(match n {
            0 | 7 | 10..=12 => CourierState::InTransit,
            1 => CourierState::PickedUp,
            2 | 13 => CourierState::Problem,
            3 => CourierState::Delivered,
            4 => CourierState::ReturnedToSender,
            5 => CourierState::OutForDelivery,
            6 => CourierState::Returning,
            14 => CourierState::Refused,
            101 | 102 => CourierState::NoRecord,
            1000..=1099 => CourierState::InTransit,
            100..=999 => CourierState::from_kuaidi100(&(n / 100).to_string())?,
            _ => return None,
        })
    }

    /// The Kuaidi100 code that reads back as this state (101, "order
    /// placed", for `NoRecord`: the main states have none).
    pub fn kuaidi100_code(self) -> &'static str {
        match self {
            CourierState::NoRecord => "101",
            CourierState::PickedUp => "1",
            CourierState::InTransit => "0",
            CourierState::OutForDelivery => "5",
            CourierState::Delivered => "3",
            CourierState::Problem => "2",
            CourierState::Refused => "14",
            CourierState::Returning => "6",
            CourierState::ReturnedToSender => "4",
        }
    }

    /// Whether the courier is done with the parcel.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CourierState::Delivered | CourierState::ReturnedToSender
        )
    }

    /// What the review rules see (`courier` fact). `delivered_to_shop`
    /// says whether the delivery was at the shop's return address; only
    /// `Delivered` reads it.
    ///
    /// The rule language has no value for a parcel coming back, so
    /// `Refused`, `Returning` and `ReturnedToSender` read as
    /// `delivered_elsewhere`: like that, the parcel will not reach the
    /// shop, and no rule written for "on its way" or "arrived" may
    /// approve on it. `Problem` reads as `in_transit`: the courier has the
    /// parcel and has not given up on it.
    pub fn to_rule_status(self, delivered_to_shop: bool) -> CourierStatus {
        match self {
            CourierState::NoRecord => CourierStatus::NotPickedUp,
            CourierState::PickedUp => CourierStatus::PickedUp,
            CourierState::InTransit | CourierState::OutForDelivery | CourierState::Problem => {
                CourierStatus::InTransit
            }
            CourierState::Delivered if delivered_to_shop => CourierStatus::DeliveredToShop,
            CourierState::Delivered
            | CourierState::Refused
            | CourierState::Returning
            | CourierState::ReturnedToSender => CourierStatus::DeliveredElsewhere,
        }
    }

    /// How far along a parcel is, to break ties between snapshots whose
    /// newest events are equally old. Distinct for every state so that the
    /// order of snapshots is total.
    fn rank(self) -> u8 {
        match self {
            CourierState::NoRecord => 0,
            CourierState::PickedUp => 1,
            CourierState::InTransit => 2,
            CourierState::Problem => 3,
            CourierState::OutForDelivery => 4,
            CourierState::Refused => 5,
            CourierState::Returning => 6,
            CourierState::ReturnedToSender => 7,
            CourierState::Delivered => 8,
        }
    }
}

// ---------------------------------------------------------------------------
// Snapshots

/// One line of a parcel's history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub at: DateTime<Utc>,
    /// The courier's text ("【深圳市】快件已到达…").
    pub context: String,
    /// Where, when the courier says (Kuaidi100 `areaName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
}

/// Everything known about a parcel at one moment: Kuaidi100 sends a full
/// snapshot with every push and query answer, never a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingSnapshot {
    pub state: CourierState,
    /// Kuaidi100 `ischeck`: the parcel was signed for.
    pub signed: bool,
    /// Newest first, as Kuaidi100 sends them with `order=desc`.
    pub events: Vec<TrackingEvent>,
    /// Where it was delivered, when it was (the area of the delivery
    /// event); whether that is the shop is the caller's judgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_to: Option<String>,
}

impl TrackingSnapshot {
    /// Nothing known yet.
    pub fn empty() -> Self {
        TrackingSnapshot {
            state: CourierState::NoRecord,
            signed: false,
            events: Vec::new(),
            delivered_to: None,
        }
    }

    /// The time of the newest event. Computed rather than taken from the
    /// first event so that a snapshot in any order compares correctly.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.events.iter().map(|e| e.at).max()
    }

    /// Takes `incoming` if it is newer than `self`; returns whether `self`
    /// changed.
    ///
    /// "Newer" is a total order on snapshots: the newest event's time
    /// first (so a stale push never wins), then, for equally recent ones,
    /// signed over not, further along over less, more events over fewer,
    /// and finally the content itself. Merging is therefore taking the
    /// maximum: applying the same snapshot again changes nothing, and any
    /// set of pushes ends in the same state whatever order they arrive in.
    ///
    /// A courier that withdraws an event without adding a newer one is not
    /// seen until its next event; that is the price of order independence.
    pub fn merge(&mut self, incoming: TrackingSnapshot) -> bool {
        if compare(&incoming, self) == Ordering::Greater {
            *self = incoming;
            true
        } else {
            false
        }
    }
}

impl Default for TrackingSnapshot {
    fn default() -> Self {
        TrackingSnapshot::empty()
    }
}

/// The total order [`TrackingSnapshot::merge`] takes the maximum of.
fn compare(a: &TrackingSnapshot, b: &TrackingSnapshot) -> Ordering {
    a.newest()
        .cmp(&b.newest())
        .then(a.signed.cmp(&b.signed))
        .then(a.state.rank().cmp(&b.state.rank()))
        .then(a.events.len().cmp(&b.events.len()))
        .then_with(|| a.events.cmp(&b.events))
        .then_with(|| a.delivered_to.cmp(&b.delivered_to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn ok(c: Carrier, n: &str) {
        if let Err(e) = validate(c, n) {
            panic!("{c} {n:?} should pass: {e}");
        }
    }
    fn bad(c: Carrier, n: &str) {
        if let Ok(t) = validate(c, n) {
            panic!("{c} {n:?} should fail, got {t}");
        }
    }
    fn other(code: &str) -> Carrier {
        code.parse().expect("known code")
    }

    #[test]
    fn carrier_codes_round_trip() {
        for code in Carrier::codes() {
            let c: Carrier = code.parse().expect("parses");
            assert_eq!(c.code(), code);
            let json = serde_json::to_string(&c).expect("json");
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<Carrier>(&json).expect("back"), c);
        }
        assert_eq!(Carrier::codes().count(), 11);
    }

    #[test]
    fn unknown_carrier_codes_are_refused() {
        for code in ["", "SF", "Shunfeng", "shunfeng ", "debangwuliu", "jdx"] {
            let e = code.parse::<Carrier>().expect_err(code);
            assert!(matches!(e, TrackingError::UnknownCarrier { .. }), "{code}");
        }
        let e = "x".repeat(1000).parse::<Carrier>().expect_err("long");
        let msg = e.to_string();
        assert!(msg.len() < 400, "{msg}");
        assert!(msg.contains("shunfeng, zhongtong"), "{msg}");
        assert!(serde_json::from_str::<Carrier>("\"nope\"").is_err());
    }

    #[test]
    fn sf_express() {
        let c = Carrier::Shunfeng;
        ok(c, "SF1234567890123");
        ok(c, "SFA123456789012");
        ok(c, "sf1234567890123");
        ok(c, "123456789012");
        ok(c, "  SF 1234 5678 9012 3 ");
        bad(c, "SF123456789012"); // one digit short
        bad(c, "SF12345678901234");
        bad(c, "SFA12345678901X");
        bad(c, "12345678901");
        bad(c, "1234567890123");
        bad(c, "YT1234567890123");
    }

    #[test]
    fn zto() {
        let c = Carrier::Zhongtong;
        for p in ["73", "74", "75", "76", "78"] {
            ok(c, &format!("{p}123456789012"));
        }
        bad(c, "77123456789012");
        bad(c, "72123456789012");
        bad(c, "7312345678901");
        bad(c, "731234567890123");
        bad(c, "7312345678901A");
    }

    #[test]
    fn yto() {
        let c = Carrier::Yuantong;
        ok(c, "YT1234567890123");
        ok(c, "yt1234567890123");
        bad(c, "YT123456789012");
        bad(c, "YT12345678901234");
        bad(c, "YX1234567890123");
        bad(c, "1234567890123");
    }

    #[test]
    fn yunda() {
        let c = Carrier::Yunda;
        ok(c, "312345678901234");
        ok(c, "412345678901234");
        ok(c, "5123456789012");
        bad(c, "512345678901234");
        bad(c, "31234567890123");
        bad(c, "612345678901234");
        bad(c, "3123456789012");
    }

    #[test]
    fn jd() {
        let c = Carrier::Jd;
        ok(c, "JDVA12345678901");
        ok(c, "JD0112345678901");
        ok(c, "jdvb12345678901");
        bad(c, "JDVA1234567890");
        bad(c, "JDVA123456789012");
        bad(c, "JVA12345678901");
        bad(c, "JDVA1234567890A");
    }

    #[test]
    fn ems() {
        let c = Carrier::Ems;
        ok(c, "9123456789012");
        ok(c, "8123456789012");
        ok(c, "1123456789012");
        ok(c, "PA12345678901");
        ok(c, "EA123456789CN");
        ok(c, "PA123456789CN");
        bad(c, "2123456789012");
        bad(c, "912345678901");
        bad(c, "P112345678901");
        bad(c, "PA1234567890");
        bad(c, "EA12345678CN");
        bad(c, "E1123456789CN");
    }

    #[test]
    fn generic_carriers() {
        let c = other("shentong");
        ok(c, "773012345678901");
        ok(c, "123456");
        ok(c, "JT1234567890123");
        bad(c, "12345");
        bad(c, "ABCDE12345");
        bad(c, "UNKNOWN");
        bad(c, &"1".repeat(33));
        ok(c, &"1".repeat(32));
    }

    #[test]
    fn errors_name_carrier_and_shape() {
        let e = validate(Carrier::Yuantong, "yt12").expect_err("short");
        assert_eq!(
            e.to_string(),
            "\"YT12\" is not a YTO Express tracking number: expected YT and 13 digits (YT1234567890123)"
        );
        let e = validate(Carrier::Shunfeng, "   ").expect_err("empty");
        assert_eq!(e.to_string(), "the SF Express tracking number is empty");
        let e = validate(Carrier::Jd, "JD12?34").expect_err("chars");
        assert_eq!(
            e.to_string(),
            "the JD Logistics tracking number may contain only letters and digits"
        );
        let e = validate(Carrier::Ems, &"9".repeat(300)).expect_err("long");
        assert!(matches!(e, TrackingError::TooLong { .. }));
        let e = validate(Carrier::Ems, &"9".repeat(40)).expect_err("long");
        assert!(matches!(e, TrackingError::TooLong { .. }));
    }

    #[test]
    fn full_width_and_grouping_are_normalised() {
        let n =
            validate(Carrier::Shunfeng, "ＳＦ１２３４ ５６７８-９０１２　３").expect("full width");
        assert_eq!(n.as_str(), "SF1234567890123");
        bad(Carrier::Shunfeng, "SF1234567890１2é");
    }

    #[test]
    fn tracking_numbers_deserialise_generically() {
        let n: TrackingNumber = serde_json::from_str("\"yt1234567890123\"").expect("ok");
        assert_eq!(n.as_str(), "YT1234567890123");
        assert_eq!(
            serde_json::to_string(&n).expect("json"),
            "\"YT1234567890123\""
        );
        assert!(serde_json::from_str::<TrackingNumber>("\"\"").is_err());
        assert!(serde_json::from_str::<TrackingNumber>("\"a/b\"").is_err());
    }

    #[test]
    fn kuaidi100_states() {
        use CourierState::*;
        let table = [
            ("0", InTransit),
            ("1", PickedUp),
            ("2", Problem),
            ("3", Delivered),
            ("4", ReturnedToSender),
            ("5", OutForDelivery),
            ("6", Returning),
            ("7", InTransit),
            ("10", InTransit),
            ("11", InTransit),
            ("12", InTransit),
            ("13", Problem),
            ("14", Refused),
            ("101", NoRecord),
            ("103", PickedUp),
            ("301", Delivered),
            ("1002", InTransit),
        ];
        for (code, state) in table {
            assert_eq!(CourierState::from_kuaidi100(code), Some(state), "{code}");
        }
        for code in ["", "x", "-1", "8", "9", "15", "999999"] {
            assert_eq!(CourierState::from_kuaidi100(code), None, "{code}");
        }
        for s in [
            NoRecord,
            PickedUp,
            InTransit,
            OutForDelivery,
            Delivered,
            Problem,
            Refused,
            Returning,
            ReturnedToSender,
        ] {
            assert_eq!(CourierState::from_kuaidi100(s.kuaidi100_code()), Some(s));
        }
    }

    #[test]
    fn rule_statuses() {
        use CourierState::*;
        assert_eq!(NoRecord.to_rule_status(true), CourierStatus::NotPickedUp);
        assert_eq!(PickedUp.to_rule_status(true), CourierStatus::PickedUp);
        assert_eq!(
            OutForDelivery.to_rule_status(true),
            CourierStatus::InTransit
        );
        assert_eq!(Problem.to_rule_status(true), CourierStatus::InTransit);
        assert_eq!(
            Delivered.to_rule_status(true),
            CourierStatus::DeliveredToShop
        );
        assert_eq!(
            Delivered.to_rule_status(false),
            CourierStatus::DeliveredElsewhere
        );
        for s in [Refused, Returning, ReturnedToSender] {
            assert_eq!(s.to_rule_status(true), CourierStatus::DeliveredElsewhere);
        }
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 4, minute, 0)
            .single()
            .expect("time")
    }

    fn snap(state: CourierState, minutes: &[u32]) -> TrackingSnapshot {
        TrackingSnapshot {
            state,
            signed: state == CourierState::Delivered,
            events: minutes
                .iter()
                .rev()
                .map(|m| TrackingEvent {
                    at: at(*m),
                    context: format!("event at {m}"),
                    area: None,
                })
                .collect(),
            delivered_to: None,
        }
    }

    #[test]
    fn merge_keeps_the_newest() {
        let s1 = snap(CourierState::PickedUp, &[0]);
        let s2 = snap(CourierState::InTransit, &[0, 10]);
        let s3 = snap(CourierState::Delivered, &[0, 10, 20]);
        let mut cur = TrackingSnapshot::empty();
        assert!(cur.merge(s2.clone()));
        assert!(!cur.merge(s2.clone()), "the same push again");
        assert!(!cur.merge(s1.clone()), "an older push");
        assert!(cur.merge(s3.clone()));
        assert!(!cur.merge(s2));
        assert!(!cur.merge(TrackingSnapshot::empty()));
        assert_eq!(cur, s3);
        // Same newest event, but now signed for: that wins.
        let mut a = snap(CourierState::OutForDelivery, &[0, 10]);
        let mut b = a.clone();
        b.state = CourierState::Delivered;
        b.signed = true;
        assert!(a.merge(b.clone()));
        assert!(!a.merge(snap(CourierState::OutForDelivery, &[0, 10])));
        assert_eq!(a, b);
    }

    fn arb_state() -> impl Strategy<Value = CourierState> {
        prop_oneof![
            Just(CourierState::NoRecord),
            Just(CourierState::PickedUp),
            Just(CourierState::InTransit),
            Just(CourierState::Delivered),
            Just(CourierState::Problem),
            Just(CourierState::Returning),
        ]
    }

    fn arb_snapshot() -> impl Strategy<Value = TrackingSnapshot> {
        (
            arb_state(),
            any::<bool>(),
            proptest::collection::vec((0u32..4, 0u8..3), 0..4),
            proptest::option::of("[ab]"),
        )
            .prop_map(|(state, signed, evs, delivered_to)| TrackingSnapshot {
                state,
                signed,
                events: evs
                    .into_iter()
                    .map(|(m, c)| TrackingEvent {
                        at: at(m),
                        context: format!("c{c}"),
                        area: None,
                    })
                    .collect(),
                delivered_to,
            })
    }

    proptest! {
        #[test]
        fn validation_never_panics(carrier in 0usize..8, raw in "\\PC{0,80}") {
            let c = match carrier {
                0..=5 => Carrier::CHECKED[carrier],
                6 => other("jtexpress"),
                _ => other("youzhengguonei"),
            };
            if let Ok(n) = validate(c, &raw) {
                prop_assert!(n.as_str().len() <= MAX_LEN);
                prop_assert!(n.as_str().bytes().all(is_upper_alnum));
                // A valid number stays valid as it is.
                prop_assert_eq!(validate(c, n.as_str()), Ok(n.clone()));
            }
        }

        #[test]
        fn normalisation_is_idempotent(raw in "[a-zA-Z0-9 \\-ａ-ｚＡ-Ｚ０-９　é]{0,40}") {
            let once = normalize(&raw);
            prop_assert_eq!(normalize(&once), once.clone());
        }

        #[test]
        fn merge_is_idempotent_and_order_independent(
            snaps in proptest::collection::vec(arb_snapshot(), 1..6),
            seed in any::<u64>(),
        ) {
            let mut forward = TrackingSnapshot::empty();
            for s in &snaps {
                forward.merge(s.clone());
            }
            // A shuffled order with duplicates ends in the same place.
            let mut order: Vec<usize> = (0..snaps.len()).chain(0..snaps.len()).collect();
            let mut x = seed | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut shuffled = TrackingSnapshot::empty();
            for i in order {
                shuffled.merge(snaps[i].clone());
            }
            prop_assert_eq!(&forward, &shuffled);
            // Nothing seen again changes anything.
            for s in &snaps {
                prop_assert!(!shuffled.merge(s.clone()));
            }
        }
    }
}
