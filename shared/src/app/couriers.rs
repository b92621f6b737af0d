//! Courier verification: a parcel a claim names (the customer's return, the
//! shop's replacement) is registered once, subscribed to at the tracking
//! aggregator (Kuaidi100, or the sandbox) and asked about; what the courier
//! says — in a signed push, a poll or the first query — is merged into the
//! parcel's item and, when it changed, onto the claim in the same
//! transaction.
//!
//! Snapshots merge as a maximum ([`TrackingSnapshot::merge`]) and the claim
//! follows the merged snapshot, so duplicate and out-of-order news change
//! nothing. The claim learns: the courier state (a `shipment_updated` step
//! when it changed), a flag for staff once (delivered somewhere other than
//! the shop, going back to the sender, never picked up within the policy's
//! window), and for an exchange, that the replacement arrived (completed).

use super::{retrying, AppError, Services};
use crate::couriers::{push_nack, verify_push, CourierError, PushNotice, PushStatus, PUSH_ACK};
use crate::domain::claim::Claim;
use crate::domain::claim::ClaimStep;
use crate::domain::events::EventType;
use crate::domain::returns::{follow_parcel, Leg, ReturnPolicy};
use crate::domain::tracking::{validate, Carrier, TrackingSnapshot};
use crate::repo;
use crate::repo::shipments::{self, ShipmentRecord};
use crate::repo::Commit;
use crate::repo::OutboxEvent;
use crate::repo::RepoError;
use chrono::DateTime;
use chrono::Utc;

/// The answer for a push verified but not recorded (our storage failed):
/// anything but the success body makes Kuaidi100 push again later.
pub const PUSH_NACK_RETRY: &str =
    r#"{"result":false,"returnCode":"500","message":"暂时无法处理，请稍后重推"}"#;

/// Polling asks about at most this many parcels per round.
pub const POLL_ROUND: usize = 200;

// ---------------------------------------------------------------------------
// Registration: the outbox consumer

/// The couriers consumer: `claim.return_shipped` and
/// `claim.replacement_shipped` get their parcel registered, subscribed and
/// asked about. Safe to deliver any number of times: the parcel item is
/// written "must not exist" and subscribing waits for its flag. A courier
/// that is busy fails the delivery (it comes again); one that refuses for
/// good is logged and left to polling, so one bad number cannot hold up
/// the outbox.
pub async fn on_event(s: &Services, event: &OutboxEvent) -> Result<(), AppError> {
    let leg = match event.event_type {
        EventType::Claim(ClaimStep::ReturnShipped) => Leg::Return,
        EventType::Claim(ClaimStep::ReplacementShipped) => Leg::Replacement,
        _ => return Ok(()),
    };
    let code = event.payload["carrier"].as_str().unwrap_or_default();
    let raw = event.payload["tracking_number"]
        .as_str()
        .unwrap_or_default();
    let parsed = code
        .parse::<Carrier>()
        .map_err(|e| e.to_string())
        .and_then(|c| validate(c, raw).map(|n| (c, n)).map_err(|e| e.to_string()));
    let (carrier, number) = match parsed {
        Ok(p) => p,
        Err(why) => {
            // Checked before the claim took it; an event that fails now
            // would fail forever.
            tracing::warn!(event_id = %event.event_id, claim_id = %event.subject, why, "shipment event with an unusable parcel; ignored");
            return Ok(());
        }
    };
    register(s, &event.subject, leg, carrier, number.as_str(), event.at).await
}

/// Registers a claim's parcel and starts tracking it: subscription (once),
/// then a first query. A number the courier does not know yet is normal: a
/// parcel is often registered before its first scan.
pub async fn register(
    s: &Services,
    claim_id: &str,
    leg: Leg,
    carrier: Carrier,
    number: &str,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(tracker) = s.courier.clone() else {
        tracing::info!(claim_id, %carrier, number, "no courier tracker configured; parcel not tracked");
        return Ok(());
    };
    let Some((claim, _)) = repo::claims::get(&*s.table, claim_id).await? else {
        tracing::warn!(claim_id, "shipment event for an unknown claim; ignored");
        return Ok(());
    };
    let rec = match shipments::get(&*s.table, carrier, number).await? {
        Some((rec, _)) => rec,
        None => {
            let shipped_at = claim
                .returns
                .shipment(leg)
                .filter(|sh| sh.carrier == carrier && sh.tracking_number == number)
                .map_or(at, |sh| sh.shipped_at);
            let phone_tail = if carrier.needs_phone() {
                phone_tail_of(s, &claim).await?
            } else {
                None
            };
            let now = s.now();
            let rec = ShipmentRecord {
                carrier,
                tracking_number: number.to_owned(),
                claim_id: claim.claim_id.clone(),
                shop_id: claim.shop_id.clone(),
                leg,
                snapshot: TrackingSnapshot::empty(),
                subscribed: false,
                phone_tail,
                stopped: false,
                shipped_at,
                created_at: now,
                updated_at: now,
                checked_at: now,
            };
            let mut c = Commit::new();
            c.shipment(&rec, None);
            match repo::commit(&*s.table, c).await {
                Ok(()) => rec,
                // Registered meanwhile by a concurrent delivery.
                Err(RepoError::Conflict { .. }) => {
                    shipments::get(&*s.table, carrier, number)
                        .await?
                        .ok_or(AppError::NotFound("shipment"))?
                        .0
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if rec.claim_id != claim_id {
        tracing::warn!(claim_id, other_claim = %rec.claim_id, %carrier, number, "parcel already tracked for another claim; left with it");
        return Ok(());
    }
    let phone = rec.phone_tail.as_deref();
    if !rec.subscribed && rec.is_moving() {
        match s.courier_callback_url.as_deref() {
            Some(url) => match tracker
                .subscribe(carrier, &number_of(&rec)?, url, phone)
                .await
            {
                Ok(()) => {
                    update(s, carrier, number, News::subscribed(true)).await?;
                    tracing::info!(claim_id, %carrier, number, "subscribed to courier pushes");
                }
                Err(CourierError::Transient(m)) => return Err(AppError::Unavailable(m)),
                Err(e) => {
                    tracing::warn!(claim_id, %carrier, number, error = %e, "courier refused the subscription; polling only")
                }
            },
            None => tracing::info!(claim_id, "no courier callback URL configured; polling only"),
        }
    }
    if rec.snapshot.events.is_empty() {
        match tracker.query(carrier, &number_of(&rec)?, phone).await {
            Ok(snapshot) => {
                update(s, carrier, number, News::snapshot(snapshot)).await?;
            }
            Err(CourierError::NotFound(m)) => {
                tracing::info!(claim_id, %carrier, number, reason = %m, "courier has no record yet")
            }
            Err(e) => {
                tracing::warn!(claim_id, %carrier, number, error = %e, "first courier query failed; polling will ask again")
            }
        }
    }
    Ok(())
}

fn number_of(rec: &ShipmentRecord) -> Result<crate::domain::tracking::TrackingNumber, AppError> {
    validate(rec.carrier, &rec.tracking_number)
        .map_err(|e| AppError::Repo(RepoError::Invalid(format!("stored parcel: {e}"))))
}

/// The last four digits of the order's phone (SF wants them with every
/// query and subscription).
async fn phone_tail_of(s: &Services, claim: &Claim) -> Result<Option<String>, AppError> {
    let Some((rec, _)) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id).await?
    else {
        return Ok(None);
    };
    let digits: Vec<char> = rec
        .order
        .facts
        .customer_phone
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    Ok((digits.len() >= 4).then(|| digits[digits.len() - 4..].iter().collect()))
}

// ---------------------------------------------------------------------------
// Recording news

/// What one piece of courier news brings to a parcel.
#[derive(Debug, Clone, Default)]
struct News {
    snapshot: Option<TrackingSnapshot>,
    /// The courier was asked now (polling): `checked_at` moves on.
    checked: bool,
    subscribed: Option<bool>,
    /// Also look at the pickup window (polling).
    pickup_window: bool,
}

impl News {
    fn snapshot(s: TrackingSnapshot) -> Self {
        News {
            snapshot: Some(s),
            ..News::default()
        }
    }
    fn subscribed(yes: bool) -> Self {
        News {
            subscribed: Some(yes),
            ..News::default()
        }
    }
}

/// What recording did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The parcel is one we track.
    pub known: bool,
    /// The snapshot moved on (else the news was old or a repeat).
    pub changed: bool,
    /// The claim events it produced (`shipment_updated`, `shipment_flagged`,
    /// `completed`).
    pub claim_events: Vec<&'static str>,
}

/// Records a snapshot (a verified push, a query answer) for a parcel.
/// Idempotent and order-independent. Writes on a change: the parcel item,
/// the claim and one outbox event per claim step, in one transaction.
pub async fn record_news(
    s: &Services,
    carrier: Carrier,
    number: &str,
    snapshot: TrackingSnapshot,
) -> Result<Recorded, AppError> {
    update(s, carrier, number, News::snapshot(snapshot)).await
}

async fn update(
    s: &Services,
    carrier: Carrier,
    number: &str,
    news: News,
) -> Result<Recorded, AppError> {
    let news = &news;
    retrying(|| async move {
        let Some((mut rec, v)) = shipments::get(&*s.table, carrier, number).await? else {
            return Ok(Recorded::default());
        };
        let now = s.now();
        let changed = news
            .snapshot
            .clone()
            .is_some_and(|snap| rec.snapshot.merge(snap));
        let mut dirty = changed;
        if changed {
            rec.updated_at = now;
        }
        if let Some(sub) = news.subscribed.filter(|sub| *sub != rec.subscribed) {
            rec.subscribed = sub;
            dirty = true;
        }
        if news.checked {
            rec.checked_at = now;
            dirty = true;
        }
        // The claim's part of the commit, written after the parcel's.
        let mut claim_part = Commit::new();
        let mut names = Vec::new();
        if (changed || news.pickup_window) && !rec.stopped {
            match repo::claims::get(&*s.table, &rec.claim_id).await? {
                Some((mut claim, cv)) if claim.status.is_open() && holds(&claim, &rec) => {
                    let policy = if rec.leg == Leg::Return {
                        super::policy::policy_for(s, &rec.shop_id).await?.returns
                    } else {
                        ReturnPolicy::default()
                    };
                    if let Some(events) =
                        follow_parcel(
                            &mut claim,
                            rec.leg,
                            &rec.snapshot,
                            &policy,
                            changed,
                            news.pickup_window,
                            now,
                        )?
                    {
                        names.extend(events.iter().map(|e| e.name()));
                        claim_part
                            .claim(&claim, Some(cv))
                            .claim_events(&claim, &events, now);
                    }
                }
                // The claim went on without this parcel (finished, gone,
                // another number given): stop asking about it.
                _ => {
                    rec.stopped = true;
                    dirty = true;
                }
            }
        }
        if !dirty && claim_part.is_empty() {
            return Ok(Recorded {
                known: true,
                ..Recorded::default()
            });
        }
        let mut c = Commit::new();
        c.shipment(&rec, Some(v)).append(claim_part);
        // The parcel or the claim changed meanwhile: both are read again.
        repo::commit(&*s.table, c).await?;
        if changed || !names.is_empty() {
            tracing::info!(claim_id = %rec.claim_id, %carrier, number, state = ?rec.snapshot.state, events = ?names, "courier news recorded");
        }
        Ok(Recorded {
            known: true,
            changed,
            claim_events: names,
        })
    })
    .await
}

/// Whether the claim still names this parcel on its leg.
fn holds(claim: &Claim, rec: &ShipmentRecord) -> bool {
    claim
        .returns
        .shipment(rec.leg)
        .is_some_and(|sh| sh.carrier == rec.carrier && sh.tracking_number == rec.tracking_number)
}

// ---------------------------------------------------------------------------
// Pushes

/// The reply to a push: HTTP status and Kuaidi100's JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushReply {
    pub status: u16,
    pub body: &'static str,
}

/// A Kuaidi100 push (`POST /v1/couriers/kuaidi100`, the form body as it
/// arrived). The signature is checked before anything is read; a refused
/// push changes nothing and is answered with Kuaidi100's failure body
/// (400). A verified push is recorded and acknowledged — also when it is
/// about a parcel we do not track, so the aggregator stops pushing it. A
/// push we could not record is answered 500, so it is pushed again.
pub async fn pushed(s: &Services, form_body: &[u8]) -> Result<PushReply, AppError> {
    let Some(salt) = s.courier_salt.as_deref() else {
        return Err(AppError::NotFound("courier callback"));
    };
    let notice = match verify_push(form_body, salt) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "courier push refused");
            return Ok(PushReply {
                status: 400,
                body: push_nack(&e),
            });
        }
    };
    match record_push(s, &notice).await {
        Ok(r) if !r.known => {
            tracing::info!(carrier = %notice.carrier_code, number = %notice.number, "push about a parcel we do not track; acknowledged");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(carrier = %notice.carrier_code, number = %notice.number, error = %e, "push verified but not recorded; Kuaidi100 will push again");
            return Ok(PushReply {
                status: 500,
                body: PUSH_NACK_RETRY,
            });
        }
    }
    Ok(PushReply {
        status: 200,
        body: PUSH_ACK,
    })
}

/// Records a verified push. The parcel is looked for under the carrier
/// Kuaidi100 names and, when it corrected ours, under the one we gave. An
/// `abort` (nothing found for days, or no change for 60) ends the
/// subscription: polling subscribes again.
pub async fn record_push(s: &Services, notice: &PushNotice) -> Result<Recorded, AppError> {
    let number = crate::domain::tracking::normalize(&notice.number);
    let codes =
        std::iter::once(notice.carrier_code.as_str()).chain(notice.corrected_from.as_deref());
    for code in codes {
        let Ok(carrier) = code.parse::<Carrier>() else {
            continue;
        };
        let news = News {
            snapshot: Some(notice.snapshot.clone()),
            subscribed: (notice.status == PushStatus::Abort).then_some(false),
            ..News::default()
        };
        let r = update(s, carrier, &number, news).await?;
        if r.known {
            return Ok(r);
        }
    }
    Ok(Recorded::default())
}

// ---------------------------------------------------------------------------
// Polling

/// What a polling round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Parcels looked at.
    pub checked: usize,
    /// Parcels whose snapshot moved on.
    pub changed: usize,
    /// Parcels flagged for staff in this round.
    pub flagged: usize,
    /// Subscriptions made again (after an abort or a failed first try).
    pub resubscribed: usize,
}

/// Looks after parcels still moving that were not checked for
/// `older_than`, stalest first (pushes can be lost; a courier may have
/// given up pushing): asks the courier, records the answer, subscribes
/// again where the subscription lapsed, and flags a return never picked up
/// within the shop's window. Runs on a schedule in the cloud and with the
/// runner's sweeps locally.
pub async fn poll(s: &Services, older_than: chrono::Duration) -> Result<Polled, AppError> {
    let mut out = Polled::default();
    let due = shipments::moving_since(&*s.table, s.now() - older_than, POLL_ROUND).await?;
    for (rec, _) in due {
        out.checked += 1;
        let mut news = News {
            checked: true,
            pickup_window: true,
            ..News::default()
        };
        if let Some(tracker) = s.courier.clone() {
            let number = number_of(&rec)?;
            let phone = rec.phone_tail.as_deref();
            if let (false, Some(url)) = (rec.subscribed, s.courier_callback_url.as_deref()) {
                match tracker.subscribe(rec.carrier, &number, url, phone).await {
                    Ok(()) => {
                        news.subscribed = Some(true);
                        out.resubscribed += 1;
                    }
                    Err(e) => {
                        tracing::warn!(claim_id = %rec.claim_id, carrier = %rec.carrier, number = %rec.tracking_number, error = %e, "subscription failed; next round")
                    }
                }
            }
            match tracker.query(rec.carrier, &number, phone).await {
                Ok(snap) => news.snapshot = Some(snap),
                Err(CourierError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(claim_id = %rec.claim_id, carrier = %rec.carrier, number = %rec.tracking_number, error = %e, "courier query failed; next round")
                }
            }
        }
        match update(s, rec.carrier, &rec.tracking_number, news).await {
            Ok(r) => {
                out.changed += usize::from(r.changed);
                out.flagged += r
                    .claim_events
                    .iter()
                    .filter(|e| **e == "shipment_flagged")
                    .count();
            }
            Err(e) => {
                tracing::warn!(claim_id = %rec.claim_id, error = %e, "parcel not recorded; next round")
            }
        }
    }
    Ok(out)
}
