//! The sandbox courier of the one-machine runner and the tests: no network,
//! parcels that move by themselves, pushes signed exactly like Kuaidi100's
//! (so the runner can post them to its own callback and go through
//! [`verify_push`](super::verify_push)).
//!
//! What a parcel does is decided by the end of its tracking number, so a
//! newcomer can pick an outcome by typing a number:
//!
//! | number ends in | the parcel |
//! |---|---|
//! | `0000` | is never picked up: queries answer [`CourierError::NotFound`], nothing is pushed |
//! | `9999` | is picked up, travels, and is delivered somewhere else ([`ELSEWHERE`]) |
//! | `2222` | is picked up, travels, then gets stuck ([`CourierState::Problem`]) |
//! | anything else | is picked up, travels, goes out for delivery and is delivered to the shop ([`SHOP`]) |
//!
//! The first stage (picked up, or nothing for `0000`) is reached when the
//! sandbox first hears of the number (a query or a subscription); each next
//! one a `step` later (one minute by default), or at once when a test
//! calls [`SandboxCourier::advance`]. Event times only move forward, so
//! successive snapshots merge like real ones.
//!
//! Like Kuaidi100, SF Express numbers need the phone's last digits.

use super::{kuaidi100_record, md5_sign, CourierError, CourierTracker};
use crate::domain::tracking::{
    Carrier, CourierState, TrackingEvent, TrackingNumber, TrackingSnapshot,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Where ordinary sandbox parcels are delivered: the shop's returns desk.
pub const SHOP: &str = "Sandbox shop, returns desk";
/// Where `…9999` parcels are delivered instead.
pub const ELSEWHERE: &str = "Sandbox city, parcel locker";
/// The sandbox's push salt unless another is given.
pub const DEFAULT_SALT: &str = "sandbox-salt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NeverPickedUp,
    ToShop,
    Elsewhere,
    Stuck,
}

impl Kind {
    fn of(number: &str) -> Kind {
        if number.ends_with("0000") {
            Kind::NeverPickedUp
        } else if number.ends_with("9999") {
            Kind::Elsewhere
        } else if number.ends_with("2222") {
            Kind::Stuck
        } else {
            Kind::ToShop
        }
    }

    /// The stages in order: state, courier text, area.
    fn stages(self) -> &'static [(CourierState, &'static str, Option<&'static str>)] {
        const PICKED_UP: (CourierState, &str, Option<&str>) = (
            CourierState::PickedUp,
            "[sandbox] Picked up from the customer",
            Some("Sandbox city"),
        );
        const IN_TRANSIT: (CourierState, &str, Option<&str>) = (
            CourierState::InTransit,
            "[sandbox] Left the sorting centre",
            Some("Sandbox sorting centre"),
        );
        match self {
            Kind::NeverPickedUp => &[],
            Kind::ToShop => &[
                PICKED_UP,
                IN_TRANSIT,
                (
                    CourierState::OutForDelivery,
                    "[sandbox] Out for delivery",
                    Some("Sandbox city"),
                ),
                (
                    CourierState::Delivered,
                    "[sandbox] Delivered, signed for by the shop",
                    Some(SHOP),
                ),
            ],
            Kind::Elsewhere => &[
                PICKED_UP,
                IN_TRANSIT,
                (
                    CourierState::Delivered,
                    "[sandbox] Delivered to a parcel locker",
                    Some(ELSEWHERE),
                ),
            ],
            Kind::Stuck => &[
                PICKED_UP,
                IN_TRANSIT,
                (
                    CourierState::Problem,
                    "[sandbox] Address problem, held at the depot",
                    Some("Sandbox sorting centre"),
                ),
            ],
        }
    }
}

#[derive(Debug, Clone)]
struct Parcel {
    kind: Kind,
    first_seen: DateTime<Utc>,
    /// When each stage reached so far was reached.
    reached: Vec<DateTime<Utc>>,
}

impl Parcel {
    fn new(number: &str, now: DateTime<Utc>) -> Parcel {
        let kind = Kind::of(number);
        let reached = if kind.stages().is_empty() {
            Vec::new()
        } else {
            vec![now]
        };
        Parcel {
            kind,
            first_seen: now,
            reached,
        }
    }

    /// Reaches every stage whose time has come.
    fn catch_up(&mut self, now: DateTime<Utc>, step: Option<Duration>) {
        let Some(step) = step else { return };
        while self.reached.len() < self.kind.stages().len() {
            let due = i32::try_from(self.reached.len())
                .ok()
                .and_then(|n| step.checked_mul(n))
                .and_then(|d| self.first_seen.checked_add_signed(d));
            let last = self.reached.last().copied().unwrap_or(self.first_seen);
            // A step too long to add up never comes due.
            let Some(due) = due.filter(|d| *d <= now) else {
                break;
            };
            self.reached.push(due.max(last + Duration::seconds(1)));
        }
    }

    fn advance(&mut self, steps: usize, now: DateTime<Utc>) {
        for _ in 0..steps {
            if self.reached.len() >= self.kind.stages().len() {
                break;
            }
            let at = match self.reached.last() {
                Some(last) => now.max(*last + Duration::seconds(1)),
                None => now,
            };
            self.reached.push(at);
        }
    }

    fn snapshot(&self) -> TrackingSnapshot {
        let stages = self.kind.stages();
        let mut events: Vec<TrackingEvent> = self
            .reached
            .iter()
            .zip(stages)
            .map(|(at, (_, context, area))| TrackingEvent {
                // Kuaidi100 has whole seconds only; so does the sandbox, so
                // that a snapshot survives a trip through the wire format.
                at: truncate(*at),
                context: (*context).to_string(),
                area: area.map(str::to_string),
            })
            .collect();
        events.reverse();
        let state = match self.reached.len() {
            0 => CourierState::NoRecord,
            n => stages[n - 1].0,
        };
        let delivered = state == CourierState::Delivered;
        TrackingSnapshot {
            state,
            signed: delivered,
            delivered_to: if delivered {
                events.first().and_then(|e| e.area.clone())
            } else {
                None
            },
            events,
        }
    }
}

fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// A subscription the sandbox holds, for the runner to post pushes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSubscription {
    pub carrier: Carrier,
    pub number: TrackingNumber,
    pub callback_url: String,
}

type Key = (&'static str, String);

/// See the module documentation for how parcels behave.
pub struct SandboxCourier {
    salt: String,
    step: Option<Duration>,
    parcels: Mutex<HashMap<Key, Parcel>>,
    subscriptions: Mutex<HashMap<Key, SandboxSubscription>>,
}

impl Default for SandboxCourier {
    fn default() -> Self {
        SandboxCourier::new(DEFAULT_SALT, Some(Duration::minutes(1)))
    }
}

impl SandboxCourier {
    /// `step`: how long each stage takes; None for parcels that move only
    /// when [`advance`](Self::advance)d (tests).
    pub fn new(salt: &str, step: Option<Duration>) -> Self {
        SandboxCourier {
            salt: salt.to_string(),
            step,
            parcels: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
        }
    }

    /// The salt pushes are signed with (give it to `verify_push`).
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// Moves the parcel `steps` stages on now (it is seen first if new).
    pub fn advance(&self, carrier: Carrier, number: &TrackingNumber, steps: usize) {
        let now = Utc::now();
        let _ = self.with_parcel(carrier, number, now, |p| p.advance(steps, now));
    }

    /// The parcel's snapshot as it stands, without the courier rules of
    /// [`CourierTracker::query`] (phone, not found).
    pub fn snapshot(&self, carrier: Carrier, number: &TrackingNumber) -> TrackingSnapshot {
        self.with_parcel(carrier, number, Utc::now(), |p| p.snapshot())
            .unwrap_or_default()
    }

    pub fn subscriptions(&self) -> Vec<SandboxSubscription> {
        self.subscriptions
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The form body Kuaidi100 would push for the parcel now, signed with
    /// the sandbox's salt: `shutdown` once delivered, else `polling`. None
    /// while there is nothing to tell (never picked up).
    pub fn push_body(&self, carrier: Carrier, number: &TrackingNumber) -> Option<Vec<u8>> {
        let snapshot = self.snapshot(carrier, number);
        if snapshot.events.is_empty() {
            return None;
        }
        let status = if snapshot.state.is_final() {
            "shutdown"
        } else {
            "polling"
        };
        Some(push_form(
            carrier.code(),
            number.as_str(),
            status,
            &snapshot,
            &self.salt,
        ))
    }

    fn with_parcel<T>(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut Parcel) -> T,
    ) -> Option<T> {
        let mut parcels = self.parcels.lock().ok()?;
        let parcel = parcels
            .entry((carrier.code(), number.as_str().to_string()))
            .or_insert_with(|| Parcel::new(number.as_str(), now));
        parcel.catch_up(now, self.step);
        Some(f(parcel))
    }
}

/// A push form body as Kuaidi100 sends it: `param` (the push JSON with the
/// snapshot as `lastResult`) and `sign = UPPER(MD5(param + salt))`.
pub fn push_form(
    carrier_code: &str,
    number: &str,
    status: &str,
    snapshot: &TrackingSnapshot,
    salt: &str,
) -> Vec<u8> {
    let param = serde_json::json!({
        "status": status,
        "billstatus": "got",
        "message": "",
        "autoCheck": "0",
        "comOld": "",
        "comNew": "",
        "lastResult": kuaidi100_record(carrier_code, number, snapshot),
    })
    .to_string();
    let sign = md5_sign(&[param.as_bytes(), salt.as_bytes()]);
    form_urlencoded::Serializer::new(String::new())
        .append_pair("param", &param)
        .append_pair("sign", &sign)
        .finish()
        .into_bytes()
}

#[async_trait]
impl CourierTracker for SandboxCourier {
    async fn query(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        phone_tail: Option<&str>,
    ) -> Result<TrackingSnapshot, CourierError> {
        if carrier.needs_phone() && phone_tail.is_none_or(|p| p.trim().is_empty()) {
            return Err(CourierError::Permanent(format!(
                "{} needs the phone number's last digits",
                carrier.name()
            )));
        }
        let snapshot = self.snapshot(carrier, number);
        if snapshot.events.is_empty() {
            return Err(CourierError::NotFound(format!(
                "sandbox: {number} is never picked up (ends in 0000)"
            )));
        }
        Ok(snapshot)
    }

    async fn subscribe(
        &self,
        carrier: Carrier,
        number: &TrackingNumber,
        callback_url: &str,
        _phone_tail: Option<&str>,
    ) -> Result<(), CourierError> {
        if !(callback_url.starts_with("http://") || callback_url.starts_with("https://")) {
            return Err(CourierError::Permanent(format!(
                "callback URL {callback_url:?} is not http(s)"
            )));
        }
        let now = Utc::now();
        self.with_parcel(carrier, number, now, |_| ())
            .ok_or_else(|| CourierError::Transient("sandbox poisoned".into()))?;
        self.subscriptions
            .lock()
            .map_err(|_| CourierError::Transient("sandbox poisoned".into()))?
            .insert(
                (carrier.code(), number.as_str().to_string()),
                SandboxSubscription {
                    carrier,
                    number: number.clone(),
                    callback_url: callback_url.to_string(),
                },
            );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::couriers::{verify_push, PushStatus};
    use crate::domain::rules::CourierStatus;
    use crate::domain::tracking::validate;

    fn num(c: Carrier, n: &str) -> TrackingNumber {
        validate(c, n).expect("valid")
    }

    #[tokio::test]
    async fn an_ordinary_parcel_reaches_the_shop() {
        let s = SandboxCourier::new("salt", None);
        let c = Carrier::Yuantong;
        let n = num(c, "YT1234567890123");
        let first = s.query(c, &n, None).await.expect("picked up");
        assert_eq!(first.state, CourierState::PickedUp);
        let mut seen = first.clone();
        let mut states = vec![first.state];
        for _ in 0..5 {
            s.advance(c, &n, 1);
            let snap = s.query(c, &n, None).await.expect("moving");
            if seen.merge(snap.clone()) {
                states.push(snap.state);
            }
        }
        assert_eq!(
            states,
            [
                CourierState::PickedUp,
                CourierState::InTransit,
                CourierState::OutForDelivery,
                CourierState::Delivered
            ]
        );
        assert!(seen.signed);
        assert_eq!(seen.delivered_to.as_deref(), Some(SHOP));
        assert_eq!(seen.events.len(), 4);
        assert_eq!(
            seen.state
                .to_rule_status(seen.delivered_to.as_deref() == Some(SHOP)),
            CourierStatus::DeliveredToShop
        );
    }

    #[tokio::test]
    async fn numbers_choose_the_outcome() {
        let s = SandboxCourier::new("salt", None);
        let c = Carrier::Zhongtong;
        let never = num(c, "73123456780000");
        assert!(matches!(
            s.query(c, &never, None).await,
            Err(CourierError::NotFound(_))
        ));
        s.advance(c, &never, 10);
        assert!(s.push_body(c, &never).is_none());

        let elsewhere = num(c, "73123456789999");
        s.advance(c, &elsewhere, 10);
        let snap = s.query(c, &elsewhere, None).await.expect("delivered");
        assert_eq!(snap.state, CourierState::Delivered);
        assert_eq!(snap.delivered_to.as_deref(), Some(ELSEWHERE));

        let stuck = num(c, "73123456782222");
        s.advance(c, &stuck, 10);
        let snap = s.query(c, &stuck, None).await.expect("stuck");
        assert_eq!(snap.state, CourierState::Problem);
        assert!(!snap.signed);
    }

    #[tokio::test]
    async fn sf_needs_a_phone() {
        let s = SandboxCourier::default();
        let c = Carrier::Shunfeng;
        let n = num(c, "SF1234567890123");
        assert!(matches!(
            s.query(c, &n, None).await,
            Err(CourierError::Permanent(_))
        ));
        assert!(s.query(c, &n, Some("1234")).await.is_ok());
    }

    #[tokio::test]
    async fn parcels_move_with_time() {
        let s = SandboxCourier::new("salt", Some(Duration::zero()));
        let c = Carrier::Jd;
        let n = num(c, "JDVA12345678901");
        let snap = s.query(c, &n, None).await.expect("seen");
        // Every step is due at once; times still strictly increase.
        assert_eq!(snap.state, CourierState::Delivered);
        assert!(snap.events.windows(2).all(|w| w[0].at > w[1].at));
    }

    #[tokio::test]
    async fn pushes_verify_and_merge() {
        let s = SandboxCourier::new("salt", None);
        let c = Carrier::Yunda;
        let n = num(c, "312345678901234");
        s.subscribe(c, &n, "http://127.0.0.1:1/couriers/kuaidi100", None)
            .await
            .expect("subscribed");
        assert_eq!(s.subscriptions().len(), 1);
        let early = s.push_body(c, &n).expect("picked up");
        s.advance(c, &n, 3);
        let late = s.push_body(c, &n).expect("delivered");
        let mut cur = TrackingSnapshot::empty();
        let late_notice = verify_push(&late, s.salt()).expect("verifies");
        assert_eq!(late_notice.status, PushStatus::Shutdown);
        assert_eq!(late_notice.number, "312345678901234");
        assert!(cur.merge(late_notice.snapshot.clone()));
        let early_notice = verify_push(&early, s.salt()).expect("verifies");
        assert!(!cur.merge(early_notice.snapshot));
        assert_eq!(cur, s.snapshot(c, &n));
        assert!(verify_push(&late, "other").is_err());
    }
}
