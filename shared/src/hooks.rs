//! Webhooks to the shop's own systems (issue 17, point 2), to the Standard
//! Webhooks specification (<https://www.standardwebhooks.com>): a shop's
//! admins register endpoints (a URL, the public event types wanted, see
//! [`crate::domain::catalogue`]), each with its own signing secret; every
//! public event of the shop that an enabled endpoint wants becomes one
//! delivery per endpoint, sent at least once with `webhook-id` (the public
//! event's id), `webhook-timestamp` and `webhook-signature`.
//!
//! | item            | pk                        | sk                                  |
//! |-----------------|---------------------------|-------------------------------------|
//! | endpoint        | `WHENDPOINTS#{shop}`      | `{endpoint id}`                     |
//! | endpoint count  | `WHCOUNT#{shop}`          | `endpoints`                         |
//! | delivery        | `WHDELIVERIES#{endpoint}` | `{event id}`                        |
//! | due delivery    | `WHDUE`                   | `{due at}#{endpoint id}#{event id}` |
//! | admins' notice  | `WHNOTICES#{shop}`        | `{at}#{endpoint id}`                |
//!
//! A delivery is written once per event and endpoint (its key is the pair:
//! a redelivered event writes nothing new) together with its due item; the
//! sender ([`sender`]) reads the due items, sends, records the attempt and
//! moves the due item to the next try, all in one transaction. After
//! [`GIVE_UP_AFTER_SECS`] of failures the delivery is given up, its
//! endpoint disabled and the shop's admins told ([`AdminNotice`]), in that
//! same transaction.
//!
//! The count item keeps the 20-endpoint limit under concurrent creates: an
//! endpoint is written in one transaction with the count it was checked
//! against (conditional on its version), so two creates can never both take
//! the 20th place. Rotating a secret keeps the old one signing beside the
//! new for [`ROTATION_OVERLAP_SECS`] (two `v1,` signatures, as the
//! specification allows), so receivers can switch without losing a
//! delivery. A replay queues delivered or failed deliveries again, with
//! their `webhook-id` and body unchanged.
//!
//! Both engines run the same code. On the runner the outbox poller feeds
//! [`on_event`] and [`sender::run`] sends in-process; secrets are stored
//! as they are, in the runner's own file. In the cloud the events bus feeds
//! the webhook-delivery function's queue: [`on_event`] records the
//! deliveries and puts every public event on the bus (for the shop's
//! AWS-native systems, `crate::adapters::eventbridge`), then
//! [`sender::sweep`] sends, after each batch and every minute on a
//! schedule; secrets are sealed with a KMS key
//! (`crate::adapters::kms_sealer`, [`crate::ports::SecretSealer`]): the
//! API function may only seal, the sender only open, and a secret is never
//! logged (the endpoint's Debug hides it).

use crate::domain::catalogue::{self, PublicEvent, PublicType};
use crate::domain::events::OutboxEvent;
use crate::ports::SecretSealer;
use crate::repo::{decode, encode, partition_items, versioned_put, RepoError, Table};
use crate::store::{Condition, Index, Item, StoreError, WriteOp};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "providers")]
pub mod sender;

/// At most this many endpoints per shop.
pub const MAX_ENDPOINTS_PER_SHOP: usize = 20;
/// A description longer than this is refused.
pub const MAX_DESCRIPTION: usize = 500;
/// A URL longer than this is refused.
pub const MAX_URL: usize = 2000;
/// After this long without a successful attempt a delivery is given up and
/// its endpoint disabled.
pub const GIVE_UP_AFTER_SECS: i64 = 3 * 24 * 3600;
/// After a rotation the old secret signs beside the new one this long.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;

/// Whether loopback URLs (127.0.0.1, ::1, `localhost`) may be registered
/// and sent to: only on a runner started with `--webhooks-allow-loopback`
/// (tests). Private, link-local and metadata addresses never may.
static ALLOW_LOOPBACK: AtomicBool = AtomicBool::new(false);

pub fn allow_loopback(yes: bool) {
    ALLOW_LOOPBACK.store(yes, Ordering::SeqCst);
}

pub fn loopback_allowed() -> bool {
    ALLOW_LOOPBACK.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------- errors

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The request is not acceptable (400): nothing was written.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The secret could not be sealed (the key service failed): nothing
    /// was written.
    #[error("sealing the signing secret: {0}")]
    Sealing(#[source] crate::ports::PortError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for HookError {
    fn from(e: StoreError) -> Self {
        HookError::Repo(e.into())
    }
}

fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> HookError {
    HookError::Invalid {
        code,
        message: message.into(),
        field: Some(field),
    }
}

// ---------------------------------------------------------------- domain

/// A shop's endpoint as stored: the secret with it, never shown again after
/// creation and never logged (its Debug hides it).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    pub endpoint_id: String,
    pub shop_id: String,
    pub url: String,
    /// Read leniently: an endpoint stored before the public catalogue named
    /// internal outbox types (`claim.approved`); those it no longer gets,
    /// rather than the shop's every event failing on an unreadable item.
    #[serde(deserialize_with = "known_types")]
    pub event_types: Vec<PublicType>,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// Why it was disabled by us (deliveries given up), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub secret: String,
    /// The secret before the last rotation: it signs beside `secret` until
    /// `previous_until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn known_types<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PublicType>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("endpoint_id", &self.endpoint_id)
            .field("shop_id", &self.shop_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("secret", &"<hidden>")
            .field("previous_until", &self.previous_until)
            .finish()
    }
}

/// An endpoint as the API shows it: no secret.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    pub endpoint_id: String,
    pub shop_id: String,
    pub url: String,
    pub event_types: Vec<PublicType>,
    pub description: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    pub fn view(&self) -> EndpointView {
        EndpointView {
            endpoint_id: self.endpoint_id.clone(),
            shop_id: self.shop_id.clone(),
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            previous_secret_expires_at: self.previous_until,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn wants(&self, t: PublicType) -> bool {
        self.enabled && self.event_types.contains(&t)
    }

    /// A new secret signs from now on; the current one goes on signing
    /// beside it for [`ROTATION_OVERLAP_SECS`] (a secret rotated out
    /// earlier stops at once).
    pub fn rotate(&mut self, new_secret: String, now: DateTime<Utc>) {
        let old = std::mem::replace(&mut self.secret, new_secret);
        self.previous_secret = Some(old);
        self.previous_until = Some(now + chrono::Duration::seconds(ROTATION_OVERLAP_SECS));
        self.updated_at = now;
    }

    /// The secrets that sign at `now`: the current one first.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_until) {
            if now < until {
                out.push(old);
            }
        }
        out
    }

    /// The `webhook-signature` header at `now`: one `v1,` signature per
    /// signing secret, space-separated (receivers accept any that
    /// matches). None when a secret is unusable.
    pub fn signature(
        &self,
        webhook_id: &str,
        timestamp: i64,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Option<String> {
        let signatures: Option<Vec<String>> = self
            .signing_secrets(now)
            .into_iter()
            .map(|s| sign(s, webhook_id, timestamp, body))
            .collect();
        Some(signatures?.join(" "))
    }
}

/// A message to the shop's admins about its webhooks: an endpoint we
/// disabled, and why. The service has no staff inbox of its own (the inbox
/// is the customer's), so the webhooks keep one beside their endpoints
/// (`WHNOTICES#{shop}`); the notice is written in the transaction that
/// disables the endpoint, so neither happens without the other. In zh-CN
/// and en, as the customer's messages are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminNotice {
    pub shop_id: String,
    pub endpoint_id: String,
    /// `endpoint_disabled`.
    pub kind: String,
    pub at: DateTime<Utc>,
    pub zh_cn: NoticeText,
    pub en: NoticeText,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeText {
    pub title: String,
    pub body: String,
}

impl AdminNotice {
    /// Every delivery to `e` failed for [`GIVE_UP_AFTER_SECS`]: it is
    /// disabled (no secret in the text, only the URL the admins gave).
    pub fn endpoint_disabled(e: &Endpoint, now: DateTime<Utc>) -> AdminNotice {
        let days = GIVE_UP_AFTER_SECS / 86400;
        AdminNotice {
            shop_id: e.shop_id.clone(),
            endpoint_id: e.endpoint_id.clone(),
            kind: "endpoint_disabled".into(),
            at: now,
            zh_cn: NoticeText {
                title: "Webhook 端点已停用".into(),
                body: format!(
                    "端点 {}（{}）连续 {days} 天投递失败，已停用。修复接收端后请重新启用，并按需重放失败的投递。",
                    e.endpoint_id, e.url
                ),
            },
            en: NoticeText {
                title: "Webhook endpoint disabled".into(),
                body: format!(
                    "Deliveries to endpoint {} ({}) failed for {days} days, so it was disabled. Fix the receiver, enable it again and replay the failed deliveries if needed.",
                    e.endpoint_id, e.url
                ),
            },
        }
    }
}

/// What a new endpoint is made of.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A change to an endpoint: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// What to send again: one delivery by its `webhook-id`, or every delivery
/// of events since a time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    pub webhook_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no 2xx answer (timeout, connection refused, status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// Given up after [`GIVE_UP_AFTER_SECS`].
    Failed,
}

/// One event for one endpoint: the exact body sent on every attempt (the
/// same `webhook-id`, the event's id, so the receiver can deduplicate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// The `webhook-id`: the event's id.
    pub webhook_id: String,
    pub endpoint_id: String,
    pub shop_id: String,
    pub event_type: PublicType,
    pub created_at: DateTime<Utc>,
    pub state: DeliveryState,
    /// When the next attempt is due (pending only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_at: Option<DateTime<Utc>>,
    pub attempts: Vec<Attempt>,
    /// The JSON body, byte for byte as signed and sent.
    pub body: String,
    /// When it was last queued again by a replay: the give-up clock runs
    /// from here (a replayed old event is not given up at its first
    /// failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// Since when it has been trying (for [`GIVE_UP_AFTER_SECS`]).
    pub fn trying_since(&self) -> DateTime<Utc> {
        self.replayed_at.unwrap_or(self.created_at)
    }

    /// Queued again by a replay at `now`: pending, due now, its earlier
    /// attempts kept in its log. False (nothing changes) when it is still
    /// pending: it is queued already.
    pub fn requeue(&mut self, now: DateTime<Utc>) -> bool {
        if self.state == DeliveryState::Pending {
            return false;
        }
        self.state = DeliveryState::Pending;
        self.next_at = Some(now);
        self.replayed_at = Some(now);
        true
    }
}

/// The body sent for a public event: its envelope (`type`, `version`,
/// `id`, `occurred_at`, the shop, claim and order, `sequence`, `data`), as
/// `infra/asyncapi.yaml` describes it.
pub fn body_of(event: &PublicEvent) -> String {
    serde_json::to_string(event).expect("public events serialize to JSON")
}

// ---------------------------------------------------------------- secrets and signatures

/// A new signing secret: `whsec_` and the base64 of 32 random bytes (from
/// two v4 UUIDs' random bits; 244 of the 256 bits are random).
pub fn new_secret() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `webhook-signature` header's value: `v1,` and the base64 of
/// HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the secret's
/// bytes (the base64 after `whsec_`). None for a secret that is not one.
pub fn sign(secret: &str, webhook_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The secret as stored: sealed where there is a sealer (the cloud),
/// plain on the runner.
async fn seal(
    sealer: Option<&dyn SecretSealer>,
    plain: &str,
    endpoint_id: &str,
) -> Result<String, HookError> {
    match sealer {
        Some(s) => s.seal(plain, endpoint_id).await.map_err(HookError::Sealing),
        None => Ok(plain.to_owned()),
    }
}

impl Endpoint {
    /// The endpoint with its secrets opened for signing: the sealed ones
    /// through `sealer`, plain ones (the runner's, and any stored before
    /// secrets were sealed) as they are. A sealed secret without a sealer
    /// is an error, never a signature with the sealed text.
    pub async fn opened(
        mut self,
        sealer: Option<&dyn SecretSealer>,
    ) -> Result<Endpoint, crate::ports::PortError> {
        let id = self.endpoint_id.clone();
        self.secret = open(sealer, std::mem::take(&mut self.secret), &id).await?;
        if let Some(old) = self.previous_secret.take() {
            self.previous_secret = Some(open(sealer, old, &id).await?);
        }
        Ok(self)
    }
}

/// One stored secret opened (a plain one as it is).
async fn open(
    sealer: Option<&dyn SecretSealer>,
    stored: String,
    endpoint_id: &str,
) -> Result<String, crate::ports::PortError> {
    if !is_sealed(&stored) {
        return Ok(stored);
    }
    match sealer {
        Some(sealer) => sealer.open(&stored, endpoint_id).await,
        None => Err(crate::ports::PortError::Permanent(
            "a sealed secret and no key to open it".into(),
        )),
    }
}

/// Whether a stored secret is sealed (a plain one starts with `whsec_`).
pub fn is_sealed(stored: &str) -> bool {
    !stored.starts_with("whsec_")
}

// ---------------------------------------------------------------- addresses

/// Why an address may not receive webhooks, or None when it may. Loopback
/// only when `allow_loopback`; private, shared (CGNAT), link-local (the
/// cloud metadata service at 169.254.169.254), unspecified, broadcast,
/// multicast and documentation addresses never.
pub fn refused_address(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4, allow_loopback);
            }
            let seg0 = v6.segments()[0];
            if v6.is_loopback() {
                (!allow_loopback).then_some("a loopback address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if seg0 & 0xfe00 == 0xfc00 {
                Some("a private (unique local) address")
            } else if seg0 & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if seg0 == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("a documentation address")
            } else if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
                Some("the metadata service")
            } else {
                None
            }
        }
    }
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        (!allow_loopback).then_some("a loopback address")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the metadata service.
        Some("a link-local or metadata address")
    } else if ip.is_private() {
        Some("a private address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("the unspecified address")
    } else if ip.is_broadcast() || ip.is_multicast() || o[0] >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if ip.is_documentation() {
        Some("a documentation address")
    } else {
        None
    }
}

/// The parts of a webhook URL the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host as written, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

/// Reads and checks a webhook URL: http or https, a host, no user or
/// password, a port if any; a literal address (or `localhost`) must pass
/// [`refused_address`]. Names are checked again at each send, on what they
/// resolve to.
pub fn check_url(url: &str, allow_loopback: bool) -> Result<Target, String> {
    if url.len() > MAX_URL {
        return Err(format!("a URL is at most {MAX_URL} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL has no spaces or control characters".into());
    }
    let lower = url.to_ascii_lowercase();
    let (https, rest) = if let Some(r) = lower.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = lower.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("the URL must start with https:// or http://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("the URL may not carry a user or password".into());
    }
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or("an IPv6 address in a URL is closed with ]")?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let port = match port {
        None => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("the URL's port is not a port")?,
    };
    let literal: Option<IpAddr> = host.parse().ok();
    if let Some(ip) = literal {
        if let Some(why) = refused_address(ip, allow_loopback) {
            return Err(format!("webhooks are never sent to {why}"));
        }
    } else {
        let ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !host.starts_with('.')
            && !host.starts_with('-');
        if !ok {
            return Err("the URL's host is not a host name".into());
        }
        let name = host.trim_end_matches('.');
        if (name == "localhost" || name.ends_with(".localhost")) && !allow_loopback {
            return Err("webhooks are never sent to a loopback address".into());
        }
        // Decimal, hex and octal spellings of addresses (`2130706433`,
        // `0x7f.1`) are not names: refused rather than interpreted.
        if name
            .split('.')
            .next_back()
            .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()) || l.starts_with("0x"))
        {
            return Err("the URL's host is not a host name or a dotted address".into());
        }
    }
    Ok(Target { https, host, port })
}

fn event_types(names: &[String]) -> Result<Vec<PublicType>, HookError> {
    if names.is_empty() {
        return Err(invalid(
            "invalid_event_types",
            "event_types",
            "name at least one event type",
        ));
    }
    let mut out = Vec::new();
    for n in names {
        let t: PublicType = n.parse().map_err(|_| {
            invalid(
                "unknown_event_type",
                "event_types",
                format!("unknown event type {n:?}"),
            )
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn description(d: Option<String>) -> Result<String, HookError> {
    let d = d.unwrap_or_default();
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(
            "invalid_description",
            "description",
            format!("a description is at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(d)
}

fn url(u: &str) -> Result<String, HookError> {
    check_url(u, loopback_allowed()).map_err(|m| invalid("invalid_url", "url", m))?;
    Ok(u.to_owned())
}

// ---------------------------------------------------------------- repository

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The items of one partition, in sort key order (see [`partition_items`]).
async fn partition(
    t: &dyn Table,
    pk: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<Item>, RepoError> {
    partition_items(t, Index::Primary, pk, before, limit).await
}

/// A lost race on a conditional write: [`RepoError::Conflict`].
fn conflict_or(e: StoreError) -> RepoError {
    match e {
        StoreError::TransactionCancelled { .. } | StoreError::ConditionFailed { .. } => {
            RepoError::Conflict { duplicate: false }
        }
        e => e.into(),
    }
}

pub mod endpoints {
    use super::*;

    pub fn key(shop_id: &str, endpoint_id: &str) -> (String, String) {
        (format!("WHENDPOINTS#{shop_id}"), endpoint_id.to_owned())
    }

    pub fn put(e: &Endpoint, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&e.shop_id, &e.endpoint_id);
        versioned_put(Item::new(pk, sk, encode(e)), prev)
    }

    pub fn count_key(shop_id: &str) -> (String, String) {
        (format!("WHCOUNT#{shop_id}"), "endpoints".to_owned())
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Count {
        endpoints: usize,
    }

    /// How many endpoints the shop has, with the count item's version
    /// (None: no count item yet, the endpoints counted one by one).
    pub async fn count(t: &dyn Table, shop_id: &str) -> Result<(usize, Option<u64>), RepoError> {
        let (pk, sk) = count_key(shop_id);
        match t.get(&pk, &sk).await? {
            Some(item) => decode::<Count>(item).map(|(c, v)| (c.endpoints, Some(v))),
            None => Ok((of_shop(t, shop_id).await?.len(), None)),
        }
    }

    /// The count as changed; `prev` the version read (None: a new one).
    pub fn put_count(shop_id: &str, n: usize, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = count_key(shop_id);
        versioned_put(Item::new(pk, sk, encode(&Count { endpoints: n })), prev)
    }

    pub async fn get(
        t: &dyn Table,
        shop_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<(Endpoint, u64)>, RepoError> {
        let (pk, sk) = key(shop_id, endpoint_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// A shop's endpoints, oldest first (ids sort by time).
    pub async fn of_shop(t: &dyn Table, shop_id: &str) -> Result<Vec<Endpoint>, RepoError> {
        partition(t, &key(shop_id, "").0, None, usize::MAX)
            .await?
            .into_iter()
            .map(|i| decode(i).map(|(e, _)| e))
            .collect()
    }
}

pub mod deliveries {
    use super::*;

    pub fn key(endpoint_id: &str, webhook_id: &str) -> (String, String) {
        (format!("WHDELIVERIES#{endpoint_id}"), webhook_id.to_owned())
    }

    pub fn due_key(at: DateTime<Utc>, endpoint_id: &str, webhook_id: &str) -> (String, String) {
        (
            "WHDUE".into(),
            format!("{}#{endpoint_id}#{webhook_id}", ts(at)),
        )
    }

    /// A due item: which delivery is to be tried.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Due {
        pub endpoint_id: String,
        pub shop_id: String,
        pub webhook_id: String,
        pub at: DateTime<Utc>,
    }

    pub fn put(d: &Delivery, prev: Option<u64>) -> WriteOp {
        let (pk, sk) = key(&d.endpoint_id, &d.webhook_id);
        versioned_put(Item::new(pk, sk, encode(d)), prev)
    }

    pub fn put_due(d: &Due) -> WriteOp {
        let (pk, sk) = due_key(d.at, &d.endpoint_id, &d.webhook_id);
        WriteOp::Put {
            item: Item::new(pk, sk, encode(d)),
            condition: Condition::None,
        }
    }

    pub fn delete_due(d: &Due) -> WriteOp {
        let (pk, sk) = due_key(d.at, &d.endpoint_id, &d.webhook_id);
        WriteOp::Delete {
            pk,
            sk,
            condition: Condition::None,
        }
    }

    pub async fn get(
        t: &dyn Table,
        endpoint_id: &str,
        webhook_id: &str,
    ) -> Result<Option<(Delivery, u64)>, RepoError> {
        let (pk, sk) = key(endpoint_id, webhook_id);
        t.get(&pk, &sk).await?.map(decode).transpose()
    }

    /// Every delivery of an endpoint, in `webhook-id` order.
    pub async fn all_of_endpoint(
        t: &dyn Table,
        endpoint_id: &str,
    ) -> Result<Vec<(Delivery, u64)>, RepoError> {
        partition(t, &key(endpoint_id, "").0, None, usize::MAX)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// An endpoint's deliveries, newest first, at most `limit`.
    pub async fn of_endpoint(
        t: &dyn Table,
        endpoint_id: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, RepoError> {
        let mut all: Vec<Delivery> = partition(t, &key(endpoint_id, "").0, None, usize::MAX)
            .await?
            .into_iter()
            .map(|i| decode(i).map(|(d, _)| d))
            .collect::<Result<_, _>>()?;
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }

    /// Deliveries due by `now`, soonest first, at most `limit`.
    pub async fn due(
        t: &dyn Table,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>, RepoError> {
        // `~` sorts after every `#…` that follows the timestamp.
        let before = format!("{}~", ts(now));
        partition(t, "WHDUE", Some(&before), limit)
            .await?
            .into_iter()
            .map(|i| decode(i).map(|(d, _)| d))
            .collect()
    }
}

pub mod notices {
    use super::*;

    /// The shop's notices for its admins, oldest first by key.
    pub fn partition_key(shop_id: &str) -> String {
        format!("WHNOTICES#{shop_id}")
    }

    pub fn key(n: &AdminNotice) -> (String, String) {
        (
            partition_key(&n.shop_id),
            format!("{}#{}", ts(n.at), n.endpoint_id),
        )
    }

    pub fn put(n: &AdminNotice) -> WriteOp {
        let (pk, sk) = key(n);
        WriteOp::Put {
            item: Item::new(pk, sk, encode(n)),
            condition: Condition::None,
        }
    }

    /// The shop's notices, newest first, at most `limit`.
    pub async fn of_shop(
        t: &dyn Table,
        shop_id: &str,
        limit: usize,
    ) -> Result<Vec<AdminNotice>, RepoError> {
        let mut all: Vec<AdminNotice> = partition(t, &partition_key(shop_id), None, usize::MAX)
            .await?
            .into_iter()
            .map(|i| decode(i).map(|(n, _)| n))
            .collect::<Result<_, _>>()?;
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }
}

// ---------------------------------------------------------------- use cases

/// Registers an endpoint; the answer is the endpoint and its secret (the
/// only time the secret is shown).
pub async fn create(
    t: &dyn Table,
    sealer: Option<&dyn SecretSealer>,
    shop_id: &str,
    new: NewEndpoint,
    now: DateTime<Utc>,
) -> Result<(EndpointView, String), HookError> {
    let url = url(&new.url)?;
    let event_types = event_types(&new.event_types)?;
    let description = description(new.description)?;
    let endpoint_id = format!("ep_{}", uuid::Uuid::now_v7().simple());
    let secret = new_secret();
    let e = Endpoint {
        secret: seal(sealer, &secret, &endpoint_id).await?,
        endpoint_id,
        shop_id: shop_id.to_owned(),
        url,
        event_types,
        description,
        enabled: true,
        disabled_reason: None,
        previous_secret: None,
        previous_until: None,
        created_at: now,
        updated_at: now,
    };
    // Each lost race is another create or delete that won, so the bound
    // is only met when the shop is being changed by more than its limit.
    for _ in 0..COUNT_ATTEMPTS {
        let (n, v) = endpoints::count(t, shop_id).await?;
        if n >= MAX_ENDPOINTS_PER_SHOP {
            return Err(HookError::Invalid {
                code: "too_many_endpoints",
                message: format!("a shop has at most {MAX_ENDPOINTS_PER_SHOP} webhook endpoints"),
                field: None,
            });
        }
        let ops = vec![
            endpoints::put(&e, None),
            endpoints::put_count(shop_id, n + 1, v),
        ];
        match t.transact(ops).await.map_err(conflict_or) {
            Ok(()) => return Ok((e.view(), secret)),
            Err(RepoError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RepoError::Conflict { duplicate: false }.into())
}

/// How many times a create or delete reads the count again after losing a
/// race for it.
const COUNT_ATTEMPTS: usize = MAX_ENDPOINTS_PER_SHOP + 10;

pub async fn list(t: &dyn Table, shop_id: &str) -> Result<Vec<EndpointView>, HookError> {
    Ok(endpoints::of_shop(t, shop_id)
        .await?
        .iter()
        .map(Endpoint::view)
        .collect())
}

pub async fn get(
    t: &dyn Table,
    shop_id: &str,
    endpoint_id: &str,
) -> Result<EndpointView, HookError> {
    endpoints::get(t, shop_id, endpoint_id)
        .await?
        .map(|(e, _)| e.view())
        .ok_or(HookError::NotFound("webhook endpoint"))
}

pub async fn update(
    t: &dyn Table,
    shop_id: &str,
    endpoint_id: &str,
    patch: EndpointPatch,
    now: DateTime<Utc>,
) -> Result<EndpointView, HookError> {
    let (mut e, v) = endpoints::get(t, shop_id, endpoint_id)
        .await?
        .ok_or(HookError::NotFound("webhook endpoint"))?;
    if let Some(u) = patch.url {
        e.url = url(&u)?;
    }
    if let Some(ts) = patch.event_types {
        e.event_types = event_types(&ts)?;
    }
    if patch.description.is_some() {
        e.description = description(patch.description)?;
    }
    if let Some(on) = patch.enabled {
        e.enabled = on;
        if on {
            e.disabled_reason = None;
        }
    }
    e.updated_at = now;
    t.transact(vec![endpoints::put(&e, Some(v))])
        .await
        .map_err(conflict_or)?;
    Ok(e.view())
}

/// A new signing secret for the endpoint, shown this once; the old one
/// signs beside it for [`ROTATION_OVERLAP_SECS`].
pub async fn rotate_secret(
    t: &dyn Table,
    sealer: Option<&dyn SecretSealer>,
    shop_id: &str,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> Result<(EndpointView, String), HookError> {
    let (mut e, v) = endpoints::get(t, shop_id, endpoint_id)
        .await?
        .ok_or(HookError::NotFound("webhook endpoint"))?;
    let secret = new_secret();
    e.rotate(seal(sealer, &secret, endpoint_id).await?, now);
    t.transact(vec![endpoints::put(&e, Some(v))])
        .await
        .map_err(conflict_or)?;
    Ok((e.view(), secret))
}

pub async fn delete(t: &dyn Table, shop_id: &str, endpoint_id: &str) -> Result<(), HookError> {
    let (pk, sk) = endpoints::key(shop_id, endpoint_id);
    let gone = || HookError::NotFound("webhook endpoint");
    for _ in 0..COUNT_ATTEMPTS {
        let (n, v) = endpoints::count(t, shop_id).await?;
        let Some(v) = v else {
            // No count item yet (endpoints made before it): the next
            // create counts them one by one.
            return match t.delete(&pk, &sk, Condition::Exists).await {
                Ok(()) => Ok(()),
                Err(StoreError::ConditionFailed { .. }) => Err(gone()),
                Err(e) => Err(e.into()),
            };
        };
        let ops = vec![
            WriteOp::Delete {
                pk: pk.clone(),
                sk: sk.clone(),
                condition: Condition::Exists,
            },
            endpoints::put_count(shop_id, n.saturating_sub(1), Some(v)),
        ];
        match t.transact(ops).await {
            Ok(()) => return Ok(()),
            Err(StoreError::TransactionCancelled { failed }) if failed.contains(&0) => {
                return Err(gone())
            }
            Err(StoreError::TransactionCancelled { .. } | StoreError::ConditionFailed { .. }) => {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RepoError::Conflict { duplicate: false }.into())
}

/// Queues deliveries of the endpoint again (delivered or failed ones; a
/// pending one is queued already): the one with `webhook_id`, or every one
/// of an event at or after `since`. Same `webhook-id`, same body; each
/// keeps its earlier attempts. The answer is how many were queued.
pub async fn replay(
    t: &dyn Table,
    shop_id: &str,
    endpoint_id: &str,
    what: Replay,
    now: DateTime<Utc>,
) -> Result<usize, HookError> {
    let one_of = "name either `webhook_id` or `since`";
    let (e, _) = endpoints::get(t, shop_id, endpoint_id)
        .await?
        .ok_or(HookError::NotFound("webhook endpoint"))?;
    let ids: Vec<String> = match (what.webhook_id, what.since) {
        (Some(id), None) => {
            deliveries::get(t, endpoint_id, &id)
                .await?
                .ok_or(HookError::NotFound("delivery"))?;
            vec![id]
        }
        (None, Some(since)) => {
            if since > now {
                return Err(invalid(
                    "invalid_replay",
                    "since",
                    "`since` is in the future",
                ));
            }
            deliveries::all_of_endpoint(t, endpoint_id)
                .await?
                .into_iter()
                .filter(|(d, _)| d.created_at >= since)
                .map(|(d, _)| d.webhook_id)
                .collect()
        }
        (Some(_), Some(_)) => return Err(invalid("invalid_replay", "since", one_of)),
        (None, None) => return Err(invalid("invalid_replay", "webhook_id", one_of)),
    };
    if !e.enabled {
        return Err(HookError::Invalid {
            code: "endpoint_disabled",
            message: "the endpoint is disabled: enable it first".into(),
            field: None,
        });
    }
    let mut queued = 0;
    for id in ids {
        if requeue(t, &e, &id, now).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// One delivery queued again (see [`Delivery::requeue`]), in one
/// transaction with its due item; read again after a lost race with the
/// sender.
async fn requeue(
    t: &dyn Table,
    e: &Endpoint,
    webhook_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    for _ in 0..COUNT_ATTEMPTS {
        let Some((mut d, v)) = deliveries::get(t, &e.endpoint_id, webhook_id).await? else {
            return Ok(false);
        };
        if !d.requeue(now) {
            return Ok(false);
        }
        let due = deliveries::Due {
            endpoint_id: e.endpoint_id.clone(),
            shop_id: e.shop_id.clone(),
            webhook_id: webhook_id.to_owned(),
            at: now,
        };
        let ops = vec![deliveries::put(&d, Some(v)), deliveries::put_due(&due)];
        match t.transact(ops).await.map_err(conflict_or) {
            Ok(()) => return Ok(true),
            Err(RepoError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(RepoError::Conflict { duplicate: false })
}

/// An endpoint's deliveries, newest first (the endpoint must be the shop's).
pub async fn delivery_log(
    t: &dyn Table,
    shop_id: &str,
    endpoint_id: &str,
    limit: usize,
) -> Result<Vec<Delivery>, HookError> {
    endpoints::get(t, shop_id, endpoint_id)
        .await?
        .ok_or(HookError::NotFound("webhook endpoint"))?;
    Ok(deliveries::of_endpoint(t, endpoint_id, limit).await?)
}

/// The outbox consumer: the public events an outbox event makes
/// ([`catalogue::public_events`], read against its claim), and for each one
/// delivery (and its due item) per enabled endpoint of the shop that wants
/// its type; in the cloud, every public event also goes on the events bus
/// (`bus`), for the shop's AWS-native systems. No HTTP to endpoints here: a
/// dead endpoint never holds up the pipeline. Idempotent: a delivery
/// already written for the public event and endpoint is left as it is.
///
/// The deliveries are written before the events go on the bus: when the
/// bus fails, the event comes again and finds its deliveries written (the
/// bus may see an event twice only when it failed part of a batch; the
/// envelope's `id` tells a subscriber so).
pub async fn on_event(
    t: &dyn Table,
    bus: Option<&dyn crate::ports::PublicBus>,
    event: &OutboxEvent,
) -> Result<(), crate::app::AppError> {
    if !catalogue::may_publish(event.event_type) {
        return Ok(());
    }
    let endpoints: Vec<Endpoint> = endpoints::of_shop(t, &event.shop_id)
        .await?
        .into_iter()
        .filter(|e| e.enabled)
        .collect();
    if endpoints.is_empty() && bus.is_none() {
        return Ok(());
    }
    // Only a shop with endpoints (or a bus to feed) pays for reading the
    // claim.
    let Some((claim, _)) = crate::repo::claims::get(t, &event.subject).await? else {
        return Ok(());
    };
    let public = catalogue::public_events(event, &claim);
    record_deliveries(t, event, &endpoints, &public).await?;
    if let Some(bus) = bus.filter(|_| !public.is_empty()) {
        bus.put(&public).await.map_err(|e| {
            crate::app::AppError::Unavailable(format!("public events onto the bus: {e}"))
        })?;
    }
    Ok(())
}

/// One delivery and its due item per public event and endpoint that wants
/// it; those written before are left alone.
async fn record_deliveries(
    t: &dyn Table,
    event: &OutboxEvent,
    endpoints: &[Endpoint],
    public: &[PublicEvent],
) -> Result<(), RepoError> {
    for public in public {
        let body = body_of(public);
        for e in endpoints.iter().filter(|e| e.wants(public.event_type)) {
            let d = Delivery {
                webhook_id: public.id.clone(),
                endpoint_id: e.endpoint_id.clone(),
                shop_id: e.shop_id.clone(),
                event_type: public.event_type,
                created_at: event.at,
                state: DeliveryState::Pending,
                next_at: Some(event.at),
                attempts: Vec::new(),
                body: body.clone(),
                replayed_at: None,
            };
            let due = deliveries::Due {
                endpoint_id: e.endpoint_id.clone(),
                shop_id: e.shop_id.clone(),
                webhook_id: public.id.clone(),
                at: event.at,
            };
            match t
                .transact(vec![deliveries::put(&d, None), deliveries::put_due(&due)])
                .await
            {
                Ok(()) => {}
                // Written before (a redelivered event).
                Err(StoreError::TransactionCancelled { failed }) if failed.contains(&0) => {}
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// When to try again after `failures` failed attempts (1 or more): 5 s
/// after the first (the first retry within 10 s), then doubling up to an
/// hour, each with ±20 % jitter.
pub fn retry_delay(failures: u32, jitter: f64) -> chrono::Duration {
    let base = 5.0 * 2f64.powi(failures.saturating_sub(1).min(20) as i32);
    let base = base.min(3600.0);
    let j = jitter.clamp(-1.0, 1.0) * 0.2;
    chrono::Duration::milliseconds((base * (1.0 + j) * 1000.0) as i64)
}

/// A jitter in [-1, 1] from fresh random bits.
pub fn random_jitter() -> f64 {
    let b = uuid::Uuid::new_v4().as_u128();
    ((b & 0xffff_ffff) as f64 / u32::MAX as f64) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_test_vector() {
        // From the Standard Webhooks reference libraries' tests.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn a_new_secret_is_whsec_and_32_bytes() {
        let s = new_secret();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(s, new_secret());
    }

    #[test]
    fn addresses_that_are_never_sent_to() {
        let refused = |s: &str, lo: bool| refused_address(s.parse().unwrap(), lo);
        for a in [
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fe80::1",
            "fd00::1",
            "fd00:ec2::254",
            "::",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
        ] {
            assert!(refused(a, true).is_some(), "{a}");
        }
        for a in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(refused(a, false).is_some(), "{a}");
            assert!(refused(a, true).is_none(), "{a}");
        }
        for a in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(refused(a, false).is_none(), "{a}");
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:9000/x", true).unwrap().port,
            9000
        );
        for bad in [
            "ftp://example.com/",
            "example.com",
            "https://",
            "https://user:pw@example.com/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://[fe80::1]/",
            "http://127.0.0.1/",
            "http://localhost:8080/",
            "http://2130706433/",
            "http://0x7f.1/",
            "https://exa mple.com/",
            "https://example.com:0/",
            "https://example.com:99999/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://localhost:8080/", true).is_ok());
        assert!(check_url("http://[::1]:8080/", true).is_ok());
    }

    #[test]
    fn retries_start_within_ten_seconds_and_grow() {
        assert!(retry_delay(1, 1.0) <= chrono::Duration::seconds(10));
        assert!(retry_delay(1, -1.0) >= chrono::Duration::seconds(1));
        assert!(retry_delay(3, 0.0) > retry_delay(2, 0.0));
        assert!(retry_delay(40, 1.0) <= chrono::Duration::seconds(4400));
        let j = random_jitter();
        assert!((-1.0..=1.0).contains(&j));
    }

    fn endpoint(now: DateTime<Utc>) -> Endpoint {
        Endpoint {
            endpoint_id: "ep_1".into(),
            shop_id: "s".into(),
            url: "https://example.com/".into(),
            event_types: vec![PublicType::RefundSent],
            description: String::new(),
            enabled: true,
            disabled_reason: None,
            secret: new_secret(),
            previous_secret: None,
            previous_until: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
        let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let mut e = endpoint(t0);
        let body = br#"{"type":"claim.submitted"}"#;
        let old = e.secret.clone();
        let only_old = e.signature("msg_1", 1, body, t0).unwrap();
        assert_eq!(only_old, sign(&old, "msg_1", 1, body).unwrap());
        assert!(!only_old.contains(' '));

        let new = new_secret();
        e.rotate(new.clone(), t0);
        assert_eq!(e.secret, new);
        let both = |at| e.signature("msg_1", 1, body, at).unwrap();
        let expected = format!(
            "{} {}",
            sign(&new, "msg_1", 1, body).unwrap(),
            sign(&old, "msg_1", 1, body).unwrap()
        );
        assert_eq!(both(t0), expected);
        let almost = t0 + chrono::Duration::seconds(ROTATION_OVERLAP_SECS - 1);
        assert_eq!(both(almost), expected);
        let after = t0 + chrono::Duration::seconds(ROTATION_OVERLAP_SECS);
        assert_eq!(both(after), sign(&new, "msg_1", 1, body).unwrap());
        assert_eq!(e.view().previous_secret_expires_at, Some(after));

        // Rotating again: the secret rotated out first stops at once.
        let newer = new_secret();
        e.rotate(newer.clone(), almost);
        assert_eq!(
            e.signing_secrets(almost),
            vec![newer.as_str(), new.as_str()]
        );
    }

    #[test]
    fn a_replay_queues_a_finished_delivery_again_and_restarts_the_give_up_clock() {
        let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let mut d = Delivery {
            webhook_id: "evt_1".into(),
            endpoint_id: "ep_1".into(),
            shop_id: "s".into(),
            event_type: PublicType::RefundSent,
            created_at: t0,
            state: DeliveryState::Pending,
            next_at: Some(t0),
            attempts: Vec::new(),
            body: "{}".into(),
            replayed_at: None,
        };
        let later = t0 + chrono::Duration::days(5);
        assert!(!d.requeue(later), "a pending delivery is queued already");
        assert_eq!((d.next_at, d.trying_since()), (Some(t0), t0));
        for state in [DeliveryState::Delivered, DeliveryState::Failed] {
            d.state = state;
            d.next_at = None;
            assert!(d.requeue(later), "{state:?}");
            assert_eq!(d.state, DeliveryState::Pending);
            assert_eq!((d.next_at, d.trying_since()), (Some(later), later));
            assert_eq!((d.webhook_id.as_str(), d.body.as_str()), ("evt_1", "{}"));
        }
    }

    #[test]
    fn a_stored_endpoint_keeps_the_public_types_it_names() {
        let now = Utc::now();
        let mut stored = serde_json::json!({
            "endpoint_id": "ep_1", "shop_id": "s", "url": "https://example.com/",
            "event_types": ["claim.approved", "claim.decided", "refund.sent"],
            "enabled": true, "secret": "whsec_c2VjcmV0", "created_at": now, "updated_at": now,
        });
        let e: Endpoint = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(
            e.event_types,
            [PublicType::ClaimDecided, PublicType::RefundSent]
        );
        stored["event_types"] = serde_json::json!("claim.decided");
        assert!(serde_json::from_value::<Endpoint>(stored).is_err());
        // Asked for over the API, an unknown type is refused.
        assert!(matches!(
            event_types(&["claim.approved".into()]),
            Err(HookError::Invalid {
                code: "unknown_event_type",
                ..
            })
        ));
    }

    #[test]
    fn the_secret_is_not_in_debug() {
        let now = Utc::now();
        let e = Endpoint {
            endpoint_id: "ep_1".into(),
            shop_id: "s".into(),
            url: "https://example.com/".into(),
            event_types: vec![PublicType::RefundSent],
            description: String::new(),
            enabled: true,
            disabled_reason: None,
            secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0".into(),
            previous_secret: Some("whsec_b2xkb2xkb2xkb2xkb2xkb2xk".into()),
            previous_until: Some(now),
            created_at: now,
            updated_at: now,
        };
        assert!(!format!("{e:?}").contains("whsec_"));
        assert!(!serde_json::to_string(&e.view()).unwrap().contains("whsec_"));
    }
}
