//! Use cases: one function per thing a user does. They load through the
//! table port, decide with the domain, and save state and events in one
//! transaction. They know no HTTP and no AWS.

use crate::auth::Principal;
use crate::domain::claim::{Actor, Claim, ClaimError, ClaimLine, ClaimType, NewClaim, ReasonCode};
use crate::domain::ledger::{Ledger, LedgerError, LineRequest};
use crate::domain::money::{to_minor, Money};
use crate::domain::order::{check_id, Order, OrderDraft, OrderError};
use crate::repo::{self, claims::Owner, IdempotencyRecord, OrderRecord, OutboxEvent, RepoError};
use crate::store::{Cursor, StoreError, Table, WriteOp};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// What went wrong, in terms the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller sent something unacceptable (4xx): nothing was written.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Our fault (5xx).
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl AppError {
    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            code,
            message: message.into(),
        }
    }
    fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Repo(RepoError::Store(e))
    }
}

impl From<ClaimError> for AppError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::IllegalTransition { .. } => {
                AppError::conflict("illegal_transition", e.to_string())
            }
            ClaimError::Invalid(m) => AppError::invalid("invalid_claim", m),
        }
    }
}

impl From<LedgerError> for AppError {
    fn from(e: LedgerError) -> Self {
        let code = match &e {
            LedgerError::UnknownLine(_) => "unknown_line",
            LedgerError::NotEnoughUnits { .. } => "quantity_unavailable",
            LedgerError::DuplicateLine(_) | LedgerError::NoLines => "invalid_lines",
            LedgerError::FinalSale(_) => "final_sale",
            LedgerError::AmountTooHigh { .. } => "amount_exceeds_refundable",
            LedgerError::Conflict(_) => {
                return AppError::conflict("order_conflicts_with_claims", e.to_string())
            }
            LedgerError::DuplicateClaim(_) | LedgerError::NoOpenEntry(_) => {
                return AppError::conflict("ledger_conflict", e.to_string())
            }
        };
        AppError::invalid(code, e.to_string())
    }
}

impl From<OrderError> for AppError {
    fn from(e: OrderError) -> Self {
        AppError::invalid("invalid_order", e.to_string())
    }
}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything a use case needs from the outside.
#[derive(Clone)]
pub struct Services {
    pub table: Arc<dyn Table>,
    pub clock: Clock,
}

impl Services {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Services {
            table,
            clock: Arc::new(Utc::now),
        }
    }
    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

/// Concurrent writers to one order retry this often before giving up.
const MAX_ATTEMPTS: usize = 8;

fn actor_of(p: &Principal) -> Actor {
    match p {
        Principal::Customer { customer_id } => Actor::Customer {
            id: customer_id.clone(),
        },
        Principal::Staff { staff_id, .. } => Actor::Staff {
            id: staff_id.clone(),
        },
        Principal::Storefront { shop_id } => Actor::Staff {
            id: format!("storefront:{shop_id}"),
        },
    }
}

// ---------------------------------------------------------------- orders

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub shop_id: String,
    pub order_id: String,
    pub version: u64,
    #[serde(flatten)]
    pub facts: OrderDraft,
    pub total_paid: Money,
    pub refundable: Money,
    pub lines_refundable: Vec<LineRefundable>,
}

#[derive(Debug, Serialize)]
pub struct LineRefundable {
    pub line_id: String,
    pub paid: Money,
    pub units_free: u32,
    pub refundable: Money,
}

fn order_view(rec: &OrderRecord, version: u64) -> OrderView {
    let o = &rec.order;
    let cur = o.currency();
    let lines_refundable = o
        .facts
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (units, amount) = rec.ledger.line_taken(&l.line_id);
            LineRefundable {
                line_id: l.line_id.clone(),
                paid: Money::from_minor(o.line_paid(i), cur),
                units_free: l.quantity - units,
                refundable: Money::from_minor(o.line_paid(i) - amount, cur),
            }
        })
        .collect();
    OrderView {
        shop_id: o.shop_id.clone(),
        order_id: o.order_id.clone(),
        version,
        facts: o.facts.clone(),
        total_paid: Money::from_minor(o.total_paid(), cur),
        refundable: Money::from_minor(rec.ledger.order_free(o), cur),
        lines_refundable,
    }
}

fn require_shop(p: &Principal, shop_id: &str) -> Result<(), AppError> {
    match p {
        Principal::Staff { shop_id: s, .. } | Principal::Storefront { shop_id: s }
            if s == shop_id =>
        {
            Ok(())
        }
        Principal::Customer { .. } => {
            Err(AppError::Forbidden("customers cannot manage orders".into()))
        }
        _ => Err(AppError::Forbidden("this token is for another shop".into())),
    }
}

/// Creates or replaces an order snapshot. A change that would leave an
/// existing claim without its lines, units or money is refused.
pub async fn put_order(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
    draft: OrderDraft,
) -> Result<(OrderView, bool), AppError> {
    require_shop(p, shop_id)?;
    let order = Order::parse(shop_id, order_id, draft)?;
    for _ in 0..MAX_ATTEMPTS {
        let existing = repo::orders::get(&*s.table, shop_id, order_id).await?;
        let (ledger, prev) = match existing {
            Some((rec, v)) => {
                let identity_changed = rec.order.facts.customer_id != order.facts.customer_id
                    || rec.order.currency() != order.currency();
                if identity_changed && !rec.ledger.entries.is_empty() {
                    return Err(AppError::conflict(
                        "order_conflicts_with_claims",
                        "the customer and currency of an order with claims cannot change",
                    ));
                }
                if rec.order == order {
                    // Same snapshot again: nothing to write.
                    return Ok((order_view(&rec, v), false));
                }
                rec.ledger.check_against(&order)?;
                (rec.ledger, Some(v))
            }
            None => (Ledger::default(), None),
        };
        let rec = OrderRecord {
            order: order.clone(),
            ledger,
        };
        let now = s.now();
        let event = OutboxEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            at: now,
            shop_id: shop_id.to_string(),
            subject: order_id.to_string(),
            event_type: if prev.is_some() {
                "order.updated"
            } else {
                "order.created"
            }
            .into(),
            payload: serde_json::json!({"fulfilment": order.facts.fulfilment}),
        };
        match s
            .table
            .transact(vec![
                repo::orders::put(&rec, prev),
                repo::outbox::put(&event),
            ])
            .await
        {
            Ok(()) => {
                let v = prev.map_or(1, |v| v + 1);
                return Ok((order_view(&rec, v), prev.is_none()));
            }
            Err(StoreError::TransactionCancelled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict(
        "busy",
        "the order is being changed by others; try again",
    ))
}

pub async fn get_order(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    order_id: &str,
) -> Result<OrderView, AppError> {
    require_shop(p, shop_id)?;
    let (rec, v) = repo::orders::get(&*s.table, shop_id, order_id)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    Ok(order_view(&rec, v))
}

// ---------------------------------------------------------------- claims

/// The body of a claim submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitClaim {
    pub shop_id: String,
    pub order_id: String,
    #[serde(flatten)]
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub lines: Vec<LineRequest>,
    /// Defaults to everything the lines can give back.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub amount: Option<Decimal>,
}

/// What a caller sees of a claim: money as `{amount, currency}` objects.
#[derive(Debug, Serialize)]
pub struct ClaimView {
    pub claim_id: String,
    pub shop_id: String,
    pub order_id: String,
    pub customer_id: String,
    #[serde(flatten)]
    pub claim_type: ClaimType,
    pub reason: ReasonCode,
    pub description: String,
    pub evidence: Vec<String>,
    pub lines: Vec<ClaimLineJson>,
    pub requested_amount: Money,
    pub approved_amount: Option<Money>,
    pub status: crate::domain::claim::ClaimStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Each step as stored, with event amounts shown as money.
    pub timeline: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct ClaimLineJson {
    pub line_id: String,
    pub quantity: u32,
    pub amount: Money,
}

pub fn claim_view(c: &Claim) -> ClaimView {
    let m = |v: i64| Money::from_minor(v, c.currency);
    ClaimView {
        claim_id: c.claim_id.clone(),
        shop_id: c.shop_id.clone(),
        order_id: c.order_id.clone(),
        customer_id: c.customer_id.clone(),
        claim_type: c.claim_type,
        reason: c.reason,
        description: c.description.clone(),
        evidence: c.evidence.clone(),
        lines: c
            .lines
            .iter()
            .map(|l| ClaimLineJson {
                line_id: l.line_id.clone(),
                quantity: l.quantity,
                amount: m(l.amount),
            })
            .collect(),
        requested_amount: m(c.requested_amount),
        approved_amount: c.approved_amount.map(m),
        status: c.status,
        created_at: c.created_at,
        updated_at: c.updated_at,
        timeline: c
            .timeline
            .iter()
            .map(|e| timeline_json(e, c.currency))
            .collect(),
    }
}

/// Events keep amounts in minor units; callers see them as money.
fn timeline_json(
    e: &crate::domain::claim::TimelineEntry,
    currency: crate::domain::money::Currency,
) -> serde_json::Value {
    let mut v = serde_json::to_value(e).expect("timeline entries serialize");
    if let Some(minor) = v.get("amount").and_then(serde_json::Value::as_i64) {
        v["amount"] =
            serde_json::to_value(Money::from_minor(minor, currency)).expect("money serializes");
    }
    v
}

fn request_hash(body: &SubmitClaim) -> String {
    // Hash the parsed request, not its bytes: the same claim sent with other
    // whitespace or key order is the same request.
    let canonical = serde_json::to_vec(body).expect("request serializes");
    hex::encode(Sha256::digest(canonical))
}

fn check_idempotency_key(k: &str) -> Result<(), AppError> {
    check_id("Idempotency-Key", k).map_err(|m| AppError::invalid("invalid_idempotency_key", m))
}

/// Files a claim against one of the customer's orders.
///
/// Returns the claim and whether it was made now (false: a replay of an
/// earlier request with the same Idempotency-Key and body).
pub async fn submit_claim(
    s: &Services,
    p: &Principal,
    body: SubmitClaim,
    idempotency_key: Option<&str>,
) -> Result<(ClaimView, bool), AppError> {
    let Principal::Customer { customer_id } = p else {
        return Err(AppError::Forbidden("only customers file claims".into()));
    };
    check_id("shop_id", &body.shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    check_id("order_id", &body.order_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    if let Some(k) = idempotency_key {
        check_idempotency_key(k)?;
    }
    let hash = request_hash(&body);
    if let Some(k) = idempotency_key {
        if let Some(found) = replay(s, customer_id, k, &hash).await? {
            return Ok((found, false));
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        let Some((mut rec, v)) =
            repo::orders::get(&*s.table, &body.shop_id, &body.order_id).await?
        else {
            return Err(AppError::NotFound("order"));
        };
        // Someone else's order looks exactly like a missing one.
        if rec.order.facts.customer_id != *customer_id {
            return Err(AppError::NotFound("order"));
        }
        let requested = body
            .amount
            .map(|a| to_minor(a, rec.order.currency()))
            .transpose()
            .map_err(|e| AppError::invalid("invalid_amount", e.to_string()))?;
        let requested = if body.claim_type == ClaimType::Exchange {
            if requested.is_some_and(|a| a != 0) {
                return Err(AppError::invalid(
                    "invalid_amount",
                    "an exchange moves no money: leave amount out",
                ));
            }
            Some(0)
        } else {
            requested
        };
        let claim_id = format!("clm_{}", uuid::Uuid::now_v7().simple());
        let entry = rec
            .ledger
            .reserve(&rec.order, &claim_id, &body.lines, requested)?;
        let lines = entry
            .lines
            .iter()
            .map(|l| ClaimLine {
                line_id: l.line_id.clone(),
                quantity: l.units,
                amount: l.amount,
            })
            .collect();
        let now = s.now();
        let (claim, event) = Claim::submit(
            NewClaim {
                claim_id: claim_id.clone(),
                shop_id: body.shop_id.clone(),
                order_id: body.order_id.clone(),
                customer_id: customer_id.clone(),
                claim_type: body.claim_type,
                reason: body.reason,
                description: body.description.clone(),
                evidence: body.evidence.clone(),
                lines,
                currency: rec.order.currency(),
            },
            actor_of(p),
            now,
        )?;
        let mut ops: Vec<WriteOp> = vec![
            repo::orders::put(&rec, Some(v)),
            repo::claims::put(&claim, None),
            repo::outbox::put(&OutboxEvent::for_claim(&claim, &event, now)),
        ];
        if let Some(k) = idempotency_key {
            ops.push(repo::idempotency::put(
                customer_id,
                k,
                &IdempotencyRecord {
                    request_hash: hash.clone(),
                    resource_id: claim_id.clone(),
                },
                now,
            ));
        }
        match s.table.transact(ops).await {
            Ok(()) => return Ok((claim_view(&claim), true)),
            Err(StoreError::TransactionCancelled { failed }) => {
                // The idempotency record (last op) lost a race with a twin request.
                if let Some(k) = idempotency_key {
                    if failed.contains(&3) {
                        if let Some(found) = replay(s, customer_id, k, &hash).await? {
                            return Ok((found, false));
                        }
                    }
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict(
        "busy",
        "the order is being changed by others; try again",
    ))
}

async fn replay(
    s: &Services,
    customer_id: &str,
    key: &str,
    hash: &str,
) -> Result<Option<ClaimView>, AppError> {
    let Some(rec) = repo::idempotency::get(&*s.table, customer_id, key).await? else {
        return Ok(None);
    };
    if rec.request_hash != hash {
        return Err(AppError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    let (claim, _) = repo::claims::get(&*s.table, &rec.resource_id)
        .await?
        .ok_or(AppError::NotFound("claim"))?;
    Ok(Some(claim_view(&claim)))
}

/// Loads a claim the principal may see; others' claims are "not found".
async fn visible_claim(
    s: &Services,
    p: &Principal,
    claim_id: &str,
) -> Result<(Claim, u64), AppError> {
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("claim"))?;
    let (c, v) = repo::claims::get(&*s.table, claim_id)
        .await?
        .ok_or(AppError::NotFound("claim"))?;
    let visible = match p {
        Principal::Customer { customer_id } => c.customer_id == *customer_id,
        Principal::Staff { shop_id, .. } | Principal::Storefront { shop_id } => {
            c.shop_id == *shop_id
        }
    };
    if visible {
        Ok((c, v))
    } else {
        Err(AppError::NotFound("claim"))
    }
}

pub async fn get_claim(s: &Services, p: &Principal, claim_id: &str) -> Result<ClaimView, AppError> {
    Ok(claim_view(&visible_claim(s, p, claim_id).await?.0))
}

#[derive(Debug, Serialize)]
pub struct ClaimList {
    pub claims: Vec<ClaimView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn encode_cursor(c: &Cursor) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).expect("cursor serializes"))
}

pub fn decode_cursor(s: &str) -> Result<Cursor, AppError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AppError::invalid("invalid_cursor", "cursor is not one this API gave out"))
}

/// A customer's own claims, or a shop's, newest first.
pub async fn list_claims(
    s: &Services,
    p: &Principal,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<ClaimList, AppError> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("invalid_limit", "limit must be 1 to 100"));
    }
    let after = cursor.map(decode_cursor).transpose()?;
    let owner = match p {
        Principal::Customer { customer_id } => Owner::Customer(customer_id),
        Principal::Staff { shop_id, .. } | Principal::Storefront { shop_id } => {
            Owner::Shop(shop_id)
        }
    };
    let (claims, next) = repo::claims::list(&*s.table, owner, limit, after).await?;
    Ok(ClaimList {
        claims: claims.iter().map(claim_view).collect(),
        next_cursor: next.as_ref().map(encode_cursor),
    })
}

/// The customer withdraws a claim; its units and money go back to the order.
pub async fn cancel_claim(
    s: &Services,
    p: &Principal,
    claim_id: &str,
) -> Result<ClaimView, AppError> {
    if !matches!(p, Principal::Customer { .. }) {
        return Err(AppError::Forbidden(
            "only the customer cancels a claim; staff reject or close it".into(),
        ));
    }
    for _ in 0..MAX_ATTEMPTS {
        let (mut claim, cv) = visible_claim(s, p, claim_id).await?;
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let now = s.now();
        let event = claim.cancel(actor_of(p), now)?;
        rec.ledger.release(&claim.claim_id)?;
        let ops = vec![
            repo::claims::put(&claim, Some(cv)),
            repo::orders::put(&rec, Some(ov)),
            repo::outbox::put(&OutboxEvent::for_claim(&claim, &event, now)),
        ];
        match s.table.transact(ops).await {
            Ok(()) => return Ok(claim_view(&claim)),
            Err(StoreError::TransactionCancelled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::conflict(
        "busy",
        "the claim is being changed by others; try again",
    ))
}
