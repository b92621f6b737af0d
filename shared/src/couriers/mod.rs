//! Couriers: where return parcels are tracked. One port
//! ([`CourierTracker`]: query a parcel, subscribe to its pushes), the push
//! verifier ([`verify_push`]) and two adapters:
//!
//! - `kuaidi100` (feature `providers`): the Kuaidi100 API, MD5-signed
//!   queries and subscriptions;
//! - [`sandbox`]: the one-machine and test stand-in, parcels that move by
//!   themselves and pushes signed like Kuaidi100's.
//!
//! Kuaidi100 answers queries and pushes with the same record (`lastResult`
//! in a push); both become a [`TrackingSnapshot`], merged with
//! [`TrackingSnapshot::merge`].

use crate::domain::tracking::{
    Carrier, CourierState, TrackingError, TrackingEvent, TrackingNumber, TrackingSnapshot,
};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use md5::{Digest, Md5};
use serde::Deserialize;

#[cfg(feature = "providers")]
pub mod kuaidi100;
pub mod sandbox;

/// Why a courier call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CourierError {
    /// Try again later: network, timeout, the courier's "busy" or server
    /// error. Queries and subscriptions are safe to repeat.
    #[error("temporary courier failure: {0}")]
    Transient(String),
    /// Refused for good: our credentials (bad signature, expired key, no
    /// balance) or the request itself. Retrying changes nothing.
    #[error("courier refused: {0}")]
    Permanent(String),
    /// The courier has no record of this number (yet): a parcel not
    /// scanned so far, or a wrong number / carrier.
    #[error("no tracking record yet: {0}")]
    NotFound(String),
}

/// Tracks parcels at a courier aggregator.
#[async_trait]
pub trait CourierTracker: Send + Sync {
    /// The parcel's current snapshot. `phone_tail`: the last four digits of
    /// the sender's or recipient's phone, which some carriers (SF) require.
    async fn query(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        phone_tail: Option<&str>,
    ) -> Result<TrackingSnapshot, CourierError>;

    /// Asks for snapshots to be pushed to `callback_url` as the parcel
    /// moves, signed with the tracker's salt (checked by [`verify_push`]).
    /// Subscribing twice is not an error.
    async fn subscribe(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        callback_url: &str,
        phone_tail: Option<&str>,
    ) -> Result<(), CourierError>;
}

// ---------------------------------------------------------------------------
// Pushes

/// The answer Kuaidi100 expects for a push handled; anything else makes it
/// push again about 30 minutes later.
pub const PUSH_ACK: &str = r#"{"result":true,"returnCode":"200","message":"成功"}"#;
/// The answer for a push whose signature does not verify.
pub const PUSH_NACK_BAD_SIGNATURE: &str =
    r#"{"result":false,"returnCode":"500","message":"签名错误"}"#;
/// The answer for a signed push we could not read (so it comes again,
/// perhaps after a fix).
pub const PUSH_NACK_MALFORMED: &str = r#"{"result":false,"returnCode":"500","message":"数据错误"}"#;

/// The reply body for a refused push.
pub fn push_nack(e: &PushError) -> &'static str {
    match e {
        PushError::BadSignature(_) => PUSH_NACK_BAD_SIGNATURE,
        PushError::Malformed(_) => PUSH_NACK_MALFORMED,
    }
}

/// Why a push was refused; nothing is recorded for a refused push. Kept
/// apart from [`CourierError`] (like the payment providers'
/// `NotificationError`): a push is not a call that can be retried by us.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No `sign`, or not MD5(param + salt). Checked before the JSON is read.
    #[error("bad push signature: {0}")]
    BadSignature(String),
    /// Signed correctly but not understood.
    #[error("malformed push: {0}")]
    Malformed(String),
}

/// The push's `status`: why Kuaidi100 pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    /// Still tracking; the snapshot changed.
    Polling,
    /// Tracking ended: delivered (or returned and signed for).
    Shutdown,
    /// Tracking given up ("3天查询无记录": nothing in 3 days, "60天无变化":
    /// no change in 60 days). With the right carrier and number, subscribe
    /// again about 30 minutes later.
    Abort,
    /// A re-push of everything after a carrier-code correction.
    UpdateAll,
    /// A status this code does not know; the snapshot is still usable.
    Other(String),
}

/// A verified push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotice {
    /// The carrier code the record is under: Kuaidi100's corrected code
    /// (`comNew`) when it corrected ours, else `lastResult.com`. A code we
    /// do not know stays readable here; [`PushNotice::carrier`] parses it.
    pub carrier_code: String,
    /// The code we subscribed with, when Kuaidi100 corrected it.
    pub corrected_from: Option<String>,
    /// `lastResult.nu` as Kuaidi100 sends it (we subscribe normalised
    /// numbers, so it matches ours).
    pub number: String,
    pub status: PushStatus,
    /// Kuaidi100's `message` (e.g. the reason of an abort).
    pub message: String,
    pub snapshot: TrackingSnapshot,
}

impl PushNotice {
    pub fn carrier(&self) -> Result<Carrier, TrackingError> {
        self.carrier_code.parse()
    }
}

/// Checks and reads a Kuaidi100 push: the form body (`param`, `sign`) as
/// it arrived, `salt` as given when subscribing. The signature is checked
/// (in constant time, case-insensitively) before the JSON is parsed.
pub fn verify_push(form_body: &[u8], salt: &str) -> Result<PushNotice, PushError> {
    let mut param = None;
    let mut sign = None;
    for (k, v) in form_urlencoded::parse(form_body) {
        let slot = match k.as_ref() {
            "param" => &mut param,
            "sign" => &mut sign,
            _ => continue,
        };
        // Two of either would leave open which one was signed.
        if slot.replace(v).is_some() {
            return Err(PushError::BadSignature(format!("{k} appears twice")));
        }
    }
    let sign = sign.ok_or_else(|| PushError::BadSignature("no sign".into()))?;
    let param = param.ok_or_else(|| PushError::BadSignature("no param".into()))?;
    if !sign_matches(&sign, &[param.as_bytes(), salt.as_bytes()]) {
        return Err(PushError::BadSignature(
            "sign is not MD5(param + salt)".into(),
        ));
    }
    parse_push(&param)
}

fn parse_push(param: &str) -> Result<PushNotice, PushError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Push {
        #[serde(default)]
        status: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        auto_check: Option<String>,
        #[serde(default)]
        com_old: Option<String>,
        #[serde(default)]
        com_new: Option<String>,
        #[serde(default, deserialize_with = "crate::strict_json::object")]
        last_result: Option<Record>,
    }
    let push: Push = crate::strict_json::from_str(param)
        .map_err(|e| PushError::Malformed(format!("param is not the push JSON: {e}")))?;
    let status = match push.status.as_str() {
        "polling" => PushStatus::Polling,
        "shutdown" => PushStatus::Shutdown,
        "abort" => PushStatus::Abort,
        "updateall" => PushStatus::UpdateAll,
        other => PushStatus::Other(other.to_string()),
    };
    let record = push.last_result.unwrap_or_default();
    let snapshot = record
        .snapshot()
        .map_err(|e| PushError::Malformed(e.to_string()))?;
    let corrected = push.auto_check.as_deref() == Some("1")
        && push.com_new.as_deref().is_some_and(|c| !c.is_empty());
    let (carrier_code, corrected_from) = match (corrected, push.com_new) {
        (true, Some(new)) => (new, push.com_old.filter(|c| !c.is_empty())),
        _ => (record.com.clone(), None),
    };
    Ok(PushNotice {
        carrier_code,
        corrected_from,
        number: record.nu,
        status,
        message: push.message,
        snapshot,
    })
}

// ---------------------------------------------------------------------------
// The Kuaidi100 record (query answer, push `lastResult`)

/// Kuaidi100's tracking record. Values are strings on the wire, numbers
/// included.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Record {
    #[serde(default)]
    pub com: String,
    #[serde(default)]
    pub nu: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub ischeck: Option<String>,
    #[serde(default)]
    pub data: Vec<RecordEvent>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecordEvent {
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub ftime: String,
    #[serde(default)]
    pub context: String,
    #[serde(default)]
    pub area_name: Option<String>,
}

/// A record event whose time (`time`, or else `ftime`) is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event time {0:?} is not yyyy-MM-dd HH:mm:ss")]
pub(crate) struct EventTimeError(String);

impl Record {
    pub(crate) fn snapshot(&self) -> Result<TrackingSnapshot, EventTimeError> {
        let mut events = Vec::with_capacity(self.data.len());
        for e in &self.data {
            let at = china_time(&e.time)
                .or_else(|| china_time(&e.ftime))
                .ok_or_else(|| EventTimeError(e.time.clone()))?;
            events.push(TrackingEvent {
                at,
                context: e.context.clone(),
                area: e.area_name.clone().filter(|a| !a.is_empty()),
            });
        }
        // Newest first whatever order was asked for; stable, so events of
        // the same second keep the courier's order.
        events.sort_by_key(|e| std::cmp::Reverse(e.at));
        let signed = self.ischeck.as_deref() == Some("1");
        let state = match self.state.as_deref().map(CourierState::from_kuaidi100) {
            Some(Some(s)) => s,
            // A state code we do not know (or none): the events are kept
            // verbatim for people, and the parcel reads as moving if it
            // has any history.
            _ if signed => CourierState::Delivered,
            _ if events.is_empty() => CourierState::NoRecord,
            _ => CourierState::InTransit,
        };
        let delivered_to = if signed || state == CourierState::Delivered {
            events.first().and_then(|e| e.area.clone())
        } else {
            None
        };
        Ok(TrackingSnapshot {
            state,
            signed,
            events,
            delivered_to,
        })
    }
}

/// A snapshot as Kuaidi100 writes it (`lastResult`, newest first, times in
/// China time), for the sandbox's pushes and query answers.
pub fn kuaidi100_record(
    carrier_code: &str,
    number: &str,
    snapshot: &TrackingSnapshot,
) -> serde_json::Value {
    let data: Vec<serde_json::Value> = snapshot
        .events
        .iter()
        .map(|e| {
            let t = china_format(e.at);
            serde_json::json!({
                "time": t, "ftime": t, "context": e.context,
                "areaName": e.area.clone().unwrap_or_default(),
            })
        })
        .collect();
    serde_json::json!({
        "message": "ok", "status": "200", "state": snapshot.state.kuaidi100_code(),
        "ischeck": if snapshot.signed { "1" } else { "0" },
        "com": carrier_code, "nu": number, "data": data,
    })
}

fn china() -> FixedOffset {
    // Kuaidi100 writes China Standard Time, UTC+8, no daylight saving.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// "yyyy-MM-dd HH:mm:ss" in China time, as UTC.
pub fn china_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    china()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The inverse of [`china_time`].
pub fn china_format(at: DateTime<Utc>) -> String {
    at.with_timezone(&china())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

// ---------------------------------------------------------------------------
// Signatures

/// UPPER(hex(MD5(concatenation of `parts`))), Kuaidi100's signature form,
/// without allocating.
pub fn md5_upper_hex(parts: &[&[u8]]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    let digest = h.finalize();
    let mut out = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
    out
}

/// The signature as a String, for forms we send.
pub fn md5_sign(parts: &[&[u8]]) -> String {
    md5_upper_hex(parts)
        .iter()
        .map(|&b| char::from(b))
        .collect()
}

/// Whether `given` is the signature of `parts`, ignoring case, in time
/// independent of where they differ.
pub fn sign_matches(given: &str, parts: &[&[u8]]) -> bool {
    let expected = md5_upper_hex(parts);
    let given = given.trim().as_bytes();
    if given.len() != expected.len() {
        return false;
    }
    let diff = given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (g, e)| acc | (g.to_ascii_uppercase() ^ e));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &str = "s4lt";

    pub(super) fn form(param: &str, sign: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("param", param)
            .append_pair("sign", sign)
            .finish()
            .into_bytes()
    }

    const PUSH: &str = r#"{"status":"polling","billstatus":"got","message":"","autoCheck":"0","comOld":"","comNew":"","lastResult":{"message":"ok","state":"0","status":"200","condition":"F00","ischeck":"0","com":"yuantong","nu":"YT1234567890123","data":[{"context":"【深圳市】快件已发往 杭州","time":"2025-01-02 08:30:00","ftime":"2025-01-02 08:30:00","areaName":"广东,深圳市","status":"在途"},{"context":"【深圳市】已揽收","time":"2025-01-01 20:00:00","ftime":"2025-01-01 20:00:00","areaName":"","status":"揽收"}]}}"#;

    #[test]
    fn md5_signature() {
        // PROTOCOLS.md §4's vector (query signing: param + key + customer).
        let param = r#"{"com":"yuantong","num":"YT1234567890123","phone":""}"#;
        assert_eq!(
            md5_sign(&[param.as_bytes(), b"KEY123", b"CUSTOMER456"]),
            "254E5FC22D3A6DE7A7BEB636F9E9023A"
        );
        assert!(sign_matches(
            "254e5fc22d3a6de7a7beb636f9e9023a",
            &[param.as_bytes(), b"KEY123CUSTOMER456"]
        ));
        assert!(!sign_matches(
            "254E5FC22D3A6DE7A7BEB636F9E9023B",
            &[param.as_bytes(), b"KEY123CUSTOMER456"]
        ));
        assert!(!sign_matches("", &[param.as_bytes()]));
    }

    #[test]
    fn a_signed_push_is_read() {
        let sign = md5_sign(&[PUSH.as_bytes(), SALT.as_bytes()]);
        let n = verify_push(&form(PUSH, &sign.to_lowercase()), SALT).expect("verifies");
        assert_eq!(n.status, PushStatus::Polling);
        assert_eq!(n.carrier_code, "yuantong");
        assert_eq!(n.carrier(), Ok(Carrier::Yuantong));
        assert_eq!(n.corrected_from, None);
        assert_eq!(n.number, "YT1234567890123");
        let s = &n.snapshot;
        assert_eq!(s.state, CourierState::InTransit);
        assert!(!s.signed);
        assert_eq!(s.events.len(), 2);
        // 08:30 in China is 00:30 UTC.
        assert_eq!(s.events[0].at.to_rfc3339(), "2025-01-02T00:30:00+00:00");
        assert_eq!(s.events[0].area.as_deref(), Some("广东,深圳市"));
        assert_eq!(s.events[1].at.to_rfc3339(), "2025-01-01T12:00:00+00:00");
        assert_eq!(s.events[1].area, None);
        assert_eq!(s.delivered_to, None);
    }

    #[test]
    fn bad_signatures_are_refused_before_parsing() {
        let sign = md5_sign(&[PUSH.as_bytes(), SALT.as_bytes()]);
        let bad = |body: Vec<u8>, salt: &str| match verify_push(&body, salt) {
            Err(PushError::BadSignature(_)) => {}
            other => panic!("expected a bad signature, got {other:?}"),
        };
        bad(form(PUSH, &sign), "other salt");
        bad(form(&PUSH.replace("\"0\"", "\"3\""), &sign), SALT);
        bad(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("param", PUSH)
                .finish()
                .into_bytes(),
            SALT,
        );
        let mut twice = form(PUSH, &sign);
        twice.extend_from_slice(b"&param=%7B%7D");
        bad(twice, SALT);
        // Garbage signed correctly is malformed, not a bad signature.
        let sign = md5_sign(&[b"not json", SALT.as_bytes()]);
        assert!(matches!(
            verify_push(&form("not json", &sign), SALT),
            Err(PushError::Malformed(_))
        ));
        assert_eq!(
            push_nack(&PushError::BadSignature(String::new())),
            PUSH_NACK_BAD_SIGNATURE
        );
    }

    #[test]
    fn corrected_carrier_and_abort() {
        let p = r#"{"status":"abort","message":"3天查询无记录","autoCheck":"1","comOld":"yunda","comNew":"zhongtong","lastResult":{"state":"0","ischeck":"0","com":"zhongtong","nu":"73123456789012","data":[]}}"#;
        let sign = md5_sign(&[p.as_bytes(), SALT.as_bytes()]);
        let n = verify_push(&form(p, &sign), SALT).expect("verifies");
        assert_eq!(n.status, PushStatus::Abort);
        assert_eq!(n.carrier_code, "zhongtong");
        assert_eq!(n.corrected_from.as_deref(), Some("yunda"));
        assert_eq!(n.message, "3天查询无记录");
        assert!(n.snapshot.events.is_empty());
    }

    #[test]
    fn records_round_trip() {
        let sign = md5_sign(&[PUSH.as_bytes(), SALT.as_bytes()]);
        let n = verify_push(&form(PUSH, &sign), SALT).expect("verifies");
        let mut delivered = n.snapshot.clone();
        delivered.state = CourierState::Delivered;
        delivered.signed = true;
        let json = kuaidi100_record("yuantong", "YT1234567890123", &delivered);
        let back: Record = serde_json::from_value(json).expect("record");
        let s = back.snapshot().expect("snapshot");
        assert_eq!(s.delivered_to.as_deref(), Some("广东,深圳市"));
        delivered.delivered_to = s.delivered_to.clone();
        assert_eq!(s, delivered);
    }

    #[test]
    fn bad_event_times_are_malformed() {
        let p = PUSH.replace("2025-01-02 08:30:00", "yesterday");
        let sign = md5_sign(&[p.as_bytes(), SALT.as_bytes()]);
        assert_eq!(
            verify_push(&form(&p, &sign), SALT),
            Err(PushError::Malformed(
                r#"event time "yesterday" is not yyyy-MM-dd HH:mm:ss"#.into()
            ))
        );
    }
}

/// Fuzzing pushes (see `crate::fuzzing`): forms signed with the salt (MD5,
/// cheap enough to sign every input), altered before or after signing. Not
/// signed with our salt: refused as a bad signature before the JSON is
/// read; signed: read as the JSON says (its number, every event, newest
/// first) or refused as malformed, never a panic.
#[cfg(test)]
mod fuzz {
    use super::tests::form;
    use super::*;
    use crate::fuzzing::{self, cases, json_edits, mutations, DEFAULT_CASES};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const SALT: &str = "s4lt";
    const FIELDS: &[&str] = &[
        "status",
        "message",
        "autoCheck",
        "comOld",
        "comNew",
        "lastResult",
        "state",
        "ischeck",
        "com",
        "nu",
        "data",
        "time",
        "ftime",
        "context",
        "areaName",
    ];

    fn push() -> impl Strategy<Value = Value> {
        let time = prop_oneof![
            "20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
            Just("+262143-12-31 23:59:59".to_string()),
            Just("-262144-01-01 00:00:00".to_string()),
            ".{0,20}",
        ];
        let event = (time, ".{0,30}", "[\\PC]{0,8}")
            .prop_map(|(t, c, a)| json!({"time": t, "ftime": t, "context": c, "areaName": a}));
        (
            prop::sample::select(&["polling", "shutdown", "abort", "updateall", "other"][..]),
            prop::sample::select(&["0", "1", "3", "301", "14", "x", ""][..]),
            prop::sample::select(&["0", "1"][..]),
            "[A-Za-z0-9]{1,20}",
            prop::collection::vec(event, 0..6),
            any::<bool>(),
        )
            .prop_map(|(status, state, ischeck, nu, data, corrected)| {
                json!({
                    "status": status, "billstatus": "got", "message": "",
                    "autoCheck": if corrected { "1" } else { "0" },
                    "comOld": if corrected { "yuantong" } else { "" },
                    "comNew": if corrected { "zhongtong" } else { "" },
                    "lastResult": {"message": "ok", "state": state, "status": "200",
                        "condition": "F00", "ischeck": ischeck, "com": "yuantong",
                        "nu": nu, "data": data}
                })
            })
    }

    #[derive(Debug, Clone)]
    enum Sign {
        Ours,
        Lowercase,
        OtherSalt,
        Text(String),
    }

    #[test]
    fn fuzz_pushes_are_verified_then_read_as_sent() {
        let strategy = (
            push(),
            prop_oneof![2 => Just(Vec::new()), 1 => json_edits(3, FIELDS)],
            prop_oneof![3 => Just(Vec::new()), 1 => mutations(3)],
            prop_oneof![
                6 => Just(Sign::Ours),
                1 => Just(Sign::Lowercase),
                1 => Just(Sign::OtherSalt),
                1 => ".{0,40}".prop_map(Sign::Text),
            ],
            prop_oneof![6 => Just(Vec::new()), 1 => mutations(2)],
            prop_oneof![8 => Just(None), 1 => fuzzing::bytes().prop_map(Some)],
        );
        fuzzing::run(
            "kuaidi100/verify_push",
            cases(DEFAULT_CASES),
            strategy,
            |(push, edits, bytes, sign, tamper, raw)| {
                let param = String::from_utf8_lossy(&fuzzing::near_json(&push, &edits, &bytes))
                    .into_owned();
                let ours = md5_sign(&[param.as_bytes(), SALT.as_bytes()]);
                let s = match &sign {
                    Sign::Ours => ours.clone(),
                    Sign::Lowercase => ours.to_ascii_lowercase(),
                    Sign::OtherSalt => md5_sign(&[param.as_bytes(), b"other"]),
                    Sign::Text(t) => t.clone(),
                };
                let body = raw.unwrap_or_else(|| form(&param, &s));
                let sent = fuzzing::mutate(&body, &tamper);
                let result = verify_push(&sent, SALT);
                // What arrived, read apart from the verifier.
                let fields: Vec<(String, String)> =
                    form_urlencoded::parse(&sent).into_owned().collect();
                let one = |k: &str| {
                    let mut v = fields.iter().filter(|(n, _)| n == k);
                    match (v.next(), v.next()) {
                        (Some((_, x)), None) => Some(x.clone()),
                        _ => None,
                    }
                };
                let authentic = match (one("param"), one("sign")) {
                    (Some(p), Some(s)) => s
                        .trim()
                        .eq_ignore_ascii_case(&md5_sign(&[p.as_bytes(), SALT.as_bytes()])),
                    _ => false,
                };
                if !authentic {
                    prop_assert!(
                        matches!(result, Err(PushError::BadSignature(_))),
                        "{result:?}"
                    );
                    return Ok(());
                }
                prop_assert!(
                    !matches!(result, Err(PushError::BadSignature(_))),
                    "{result:?}"
                );
                if let Ok(n) = result {
                    let v: Value = serde_json::from_str(&one("param").unwrap()).unwrap();
                    let last = &v["lastResult"];
                    prop_assert_eq!(n.number.as_str(), last["nu"].as_str().unwrap_or(""));
                    let data = last["data"].as_array().map_or(0, Vec::len);
                    prop_assert_eq!(n.snapshot.events.len(), data);
                    prop_assert!(n.snapshot.events.windows(2).all(|w| w[0].at >= w[1].at));
                }
                Ok(())
            },
        );
    }
}
