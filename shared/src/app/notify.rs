//! Customer notifications: every step of a claim becomes a message in the
//! customer's in-app inbox, and the steps that warrant it also a text
//! message (which ones: [`crate::domain::messages`]), in the language of
//! the claim's order.
//!
//! Delivery is at least once (the outbox, through the table's stream or the
//! runner's poller); what the customer sees is de-duplicated:
//! - the inbox message's key is derived from the outbox event (its time and
//!   id), or for a refund's progress, which has no event of its own, from
//!   the claim and the step's place on its timeline; it is written with
//!   "must not exist" in the same transaction as the unread count, so a
//!   redelivered event changes nothing;
//! - a text message is sent only when no "sent" marker exists for the
//!   event, and the marker is written once the provider accepted it.
//!   Between the provider's acceptance and the marker's write there is a
//!   window: if the function dies or the write fails right there, the
//!   redelivery sends the text a second time. Providers offer no
//!   idempotency key for direct SMS (SNS has none), so this window cannot
//!   be closed from our side; it is a crash between two calls, not a retry
//!   policy. The provider also gets the event id as `dedupe_id`, for those
//!   that can use it. Two deliveries of one event at the same moment would
//!   both find no marker; neither transport does that (a stream shard is
//!   handed out one batch at a time, the poller is one loop).

use super::{decode_cursor, encode_cursor, retrying, AppError, Services};
use crate::auth::Principal;
use crate::domain::claim::Claim;
use crate::domain::claim::ClaimEvent;
use crate::domain::events::{carried_steps, is_refund_progress, EventType};
use crate::domain::messages::{self, ClaimFacts};
use crate::domain::order::check_id;
use crate::domain::order::Language;
use crate::ports::PortError;
use crate::repo;
use crate::repo::Commit;
use crate::repo::OutboxEvent;
use crate::repo::RepoError;
use crate::repo::{inbox, sms_sent, InboxMessage, SmsRecord, SmsStatus};
use chrono::DateTime;
use chrono::Utc;
use serde::Serialize;

/// The notifications consumer: one outbox event in, the customer's inbox
/// messages and text messages out: the event's own step, and the refund
/// progress it carries ([`carried_steps`]). Events other than `claim.*`
/// are not for customers. `claim` is the claim event's subject as it is now.
pub async fn on_event(
    s: &Services,
    event: &OutboxEvent,
    claim: Option<&Claim>,
) -> Result<(), AppError> {
    if matches!(
        event.event_type,
        EventType::OrderCreated | EventType::OrderUpdated
    ) {
        return order_delivered(s, event).await;
    }
    if !matches!(event.event_type, EventType::Claim(_)) {
        return Ok(());
    }
    let step: ClaimEvent =
        serde_json::from_value(event.payload.clone()).map_err(|source| RepoError::Corrupt {
            pk: repo::outbox::partition(repo::outbox::shard_of(&event.subject)),
            sk: event.event_id.clone(),
            source,
        })?;
    let claim = claim.ok_or(AppError::NotFound("claim"))?;
    let (rec, _) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    let customer = &rec.order.facts;
    let lang = customer.language;
    let rejection = match &step {
        ClaimEvent::Rejected { reason } => rejection_text(s, &claim.shop_id, reason, lang).await?,
        _ => None,
    };
    let facts = ClaimFacts {
        claim_id: &claim.claim_id,
        claim_type: claim.claim_type,
        requested_amount: claim.requested_amount,
        approved_amount: claim.approved_amount,
        review_within: claim.review.due_at.map(|due| due - claim.created_at),
        rejection_text: rejection.as_deref(),
    };
    let phone = customer
        .customer_phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    // One message per step: the event's own (a progress event's own step
    // is among those it carries), then the progress it carries, each with
    // its key (inbox message id, text message marker).
    let mut steps: Vec<(String, String, &ClaimEvent, DateTime<Utc>)> = Vec::new();
    if !is_refund_progress(&step) {
        steps.push((
            inbox::message_id(event),
            event.event_id.clone(),
            &step,
            event.at,
        ));
    }
    for t in carried_steps(claim, event, &step) {
        steps.push((
            inbox::step_message_id(&claim.claim_id, t),
            inbox::step_key(&claim.claim_id, t.seq),
            &t.event,
            t.at,
        ));
    }
    let mut messages = Vec::with_capacity(steps.len());
    for (message_id, key, e, at) in steps {
        let msg = messages::render(e, &facts, lang);
        let message = InboxMessage {
            message_id,
            customer_id: claim.customer_id.clone(),
            shop_id: claim.shop_id.clone(),
            claim_id: claim.claim_id.clone(),
            event: e.name().to_string(),
            event_id: event.event_id.clone(),
            language: lang,
            title: msg.title,
            body: msg.body,
            at,
            read_at: None,
        };
        messages.push((message, key, e.name(), msg.sms));
    }
    let inbox: Vec<&InboxMessage> = messages.iter().map(|(m, ..)| m).collect();
    let added = add_all_to_inbox(s, &inbox).await?;
    for ((message, key, step, sms), added) in messages.iter().zip(added) {
        tracing::info!(
            event_id = %event.event_id,
            claim_id = %claim.claim_id,
            message_id = %message.message_id,
            step,
            added,
            "inbox message"
        );
        if let (Some(text), Some(phone)) = (sms.as_deref(), phone) {
            text_once(s, phone, text, key, &claim.claim_id).await?;
        }
    }
    Ok(())
}

/// A fresh order reported delivered: the customer is told the window to
/// report spoiled produce is open, once per order and delivery (the
/// message's key is the order's and the delivery time's, written "must not
/// exist", so a re-PUT of the order changes nothing).
async fn order_delivered(s: &Services, event: &OutboxEvent) -> Result<(), AppError> {
    let Some((rec, _)) = repo::orders::get(&*s.table, &event.shop_id, &event.subject).await? else {
        return Ok(());
    };
    let policy = super::policy::policy_for(s, &event.shop_id).await?;
    let order = &rec.order;
    let Some(n) = crate::domain::fresh::delivery_notice(order, policy.fresh_claim_window_hours)
    else {
        return Ok(());
    };
    let lang = order.facts.language;
    let msg = messages::fresh_window_open(&n, lang);
    let at = order.facts.fulfilment.delivered_at.unwrap_or(event.at);
    let message = InboxMessage {
        message_id: format!(
            "msg_{}_delivered_{}_{}",
            at.format("%Y%m%dT%H%M%S%6fZ"),
            order.shop_id,
            order.order_id
        ),
        customer_id: order.facts.customer_id.clone(),
        shop_id: order.shop_id.clone(),
        // Not about a claim: the order's id stands in its place.
        claim_id: order.order_id.to_string().into(),
        event: "fresh_window_open".to_string(),
        event_id: event.event_id.clone(),
        language: lang,
        title: msg.title,
        body: msg.body,
        at,
        read_at: None,
    };
    let added = add_to_inbox(s, &message).await?;
    tracing::info!(event_id = %event.event_id, order_id = %order.order_id, added, "fresh delivery message");
    Ok(())
}

/// The customer-facing text of a rejection reason code in `lang`, from the
/// shop's rejection catalogue; `None` (a code the catalogue no longer has,
/// or free text from before codes) shows the reason as stored.
async fn rejection_text(
    s: &Services,
    shop_id: &str,
    code: &str,
    lang: Language,
) -> Result<Option<String>, AppError> {
    let (catalogue, _) = super::policy::load_catalogue(s, shop_id).await?;
    Ok(catalogue.text(code, lang).map(str::to_string))
}

/// Writes one event's messages (all the same customer's) and counts them
/// unread in one transaction; whether each was added now. An event that
/// carries refund progress has two or three: one commit instead of one per
/// message (BENCHMARKS.md, "Fifth readings"). When that commit conflicts —
/// some are there already (a redelivery) or the count moved — they are
/// written one at a time, each de-duplicated on its own.
async fn add_all_to_inbox(s: &Services, messages: &[&InboxMessage]) -> Result<Vec<bool>, AppError> {
    if let [first, _, ..] = messages {
        let (unread, cv) = inbox::unread(&*s.table, &first.customer_id).await?;
        let mut c = Commit::new();
        for m in messages {
            c.new_inbox_message(m);
        }
        c.unread(&first.customer_id, unread + messages.len() as u64, cv);
        match repo::commit(&*s.table, c).await {
            Ok(()) => return Ok(vec![true; messages.len()]),
            Err(RepoError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut added = Vec::with_capacity(messages.len());
    for m in messages {
        added.push(add_to_inbox(s, m).await?);
    }
    Ok(added)
}

/// Writes the message and counts it unread, unless it is already there.
/// Returns whether it was added now.
async fn add_to_inbox(s: &Services, m: &InboxMessage) -> Result<bool, AppError> {
    retrying(|| async move {
        let (unread, cv) = inbox::unread(&*s.table, &m.customer_id).await?;
        let mut c = Commit::new();
        c.new_inbox_message(m)
            .unread(&m.customer_id, unread + 1, cv);
        match repo::commit(&*s.table, c).await {
            Ok(()) => Ok(true),
            // The event was delivered before.
            Err(RepoError::Conflict { duplicate: true }) => Ok(false),
            // The count moved (another message, a read): count again.
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// Sends the text of one event unless a marker says it went out before.
async fn text_once(
    s: &Services,
    phone: &str,
    text: &str,
    event_id: &str,
    claim_id: &str,
) -> Result<(), AppError> {
    if let Some(done) = sms_sent::get(&*s.table, event_id).await? {
        tracing::info!(event_id, claim_id, status = ?done.status, "sms already handled");
        return Ok(());
    }
    let (status, error) = match s.sms.send(phone, text, event_id).await {
        Ok(()) => (SmsStatus::Sent, None),
        Err(PortError::Permanent(why)) => {
            // Retrying cannot help (a number the provider refuses); the
            // inbox message is there, so the customer still learns of it.
            tracing::error!(event_id, claim_id, error = %why, "sms refused; not retried");
            (SmsStatus::Failed, Some(why))
        }
        Err(PortError::Transient(why)) => {
            return Err(AppError::Unavailable(format!("sending sms: {why}")));
        }
    };
    let rec = SmsRecord {
        status,
        at: s.now(),
        error,
    };
    sms_sent::put(&*s.table, event_id, &rec).await?;
    Ok(())
}

// ------------------------------------------------------------------ inbox

/// What a customer sees of one message.
#[derive(Debug, Serialize)]
pub struct InboxMessageView {
    pub message_id: String,
    pub claim_id: crate::domain::ids::ClaimId,
    pub shop_id: crate::domain::ids::ShopId,
    pub event: String,
    pub language: Language,
    pub title: String,
    pub body: String,
    pub at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

fn view(m: InboxMessage) -> InboxMessageView {
    InboxMessageView {
        message_id: m.message_id,
        claim_id: m.claim_id,
        shop_id: m.shop_id,
        event: m.event,
        language: m.language,
        title: m.title,
        body: m.body,
        at: m.at,
        read_at: m.read_at,
    }
}

#[derive(Debug, Serialize)]
pub struct InboxPage {
    pub messages: Vec<InboxMessageView>,
    /// Unread messages in the whole inbox, not only this page.
    pub unread: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MarkedRead {
    pub message: InboxMessageView,
    pub unread: u64,
}

fn inbox_owner(p: &Principal) -> Result<&crate::domain::ids::CustomerId, AppError> {
    match p {
        Principal::Customer { customer_id } => Ok(customer_id),
        _ => Err(AppError::Forbidden("only customers have an inbox".into())),
    }
}

/// The customer's own messages, newest first, with the unread count.
pub async fn list_inbox(
    s: &Services,
    p: &Principal,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<InboxPage, AppError> {
    let customer_id = inbox_owner(p)?;
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("invalid_limit", "limit must be 1 to 100"));
    }
    let after = cursor.map(decode_cursor).transpose()?;
    if after
        .as_ref()
        .is_some_and(|c| !inbox::owns_cursor(customer_id, c))
    {
        return Err(AppError::invalid(
            "invalid_cursor",
            "cursor is not one this API gave out",
        ));
    }
    let (messages, next) = inbox::list(&*s.table, customer_id, limit, after).await?;
    let (unread, _) = inbox::unread(&*s.table, customer_id).await?;
    Ok(InboxPage {
        messages: messages.into_iter().map(view).collect(),
        unread,
        next_cursor: next.as_ref().map(encode_cursor),
    })
}

/// Marks one of the customer's messages read; marking it again changes
/// nothing. Someone else's message is "not found".
pub async fn mark_read(
    s: &Services,
    p: &Principal,
    message_id: &str,
) -> Result<MarkedRead, AppError> {
    let customer_id = inbox_owner(p)?;
    check_id("message_id", message_id).map_err(|_| AppError::NotFound("message"))?;
    retrying(|| async move {
        let (mut m, mv) = inbox::get(&*s.table, customer_id, message_id)
            .await?
            .ok_or(AppError::NotFound("message"))?;
        let (unread, cv) = inbox::unread(&*s.table, customer_id).await?;
        if m.read_at.is_some() {
            return Ok(MarkedRead {
                message: view(m),
                unread,
            });
        }
        m.read_at = Some(s.now());
        let left = unread.saturating_sub(1);
        let mut c = Commit::new();
        c.inbox_message(&m, Some(mv)).unread(customer_id, left, cv);
        repo::commit(&*s.table, c).await?;
        Ok(MarkedRead {
            message: view(m),
            unread: left,
        })
    })
    .await
}
