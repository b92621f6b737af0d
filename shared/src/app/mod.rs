//! Use cases: one function per thing a user does. They load through the
//! table port, decide with the domain, and save state and events in one
//! transaction. They know no HTTP and no AWS.

use crate::auth::{Principal, StaffRole};
use crate::domain::change::Change;
use crate::domain::claim::{Actor, Claim, ClaimError};
use crate::domain::ledger::LedgerError;
use crate::domain::order::{check_id, OrderError};
use crate::repo::{self, Commit, OrderRecord, RepoError, Table};
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub mod appliance;
mod bundles;
mod claims;
pub mod clearance;
pub mod couriers;
pub mod desk;
pub mod dispatch;
pub mod disputes;
pub mod evidence;
mod facts;
pub mod merchant_refunds;
pub mod notify;
mod orders;
pub mod points;
pub mod policy;
pub mod refunds;
pub mod returns;
pub mod review;
pub mod sla;
mod vouchers;
pub mod winback;
pub use claims::*;
pub use orders::*;

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
    /// An amount the caller sent cannot be money here (400
    /// `invalid_amount`, naming the field): nothing was written.
    #[error("{field}: {reason}")]
    InvalidAmount {
        field: String,
        reason: crate::domain::money::MoneyError,
    },
    /// A dependency is missing or failing (503): try again later.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault (5xx).
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl AppError {
    /// The machine-readable code callers see.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { code, .. } | AppError::Conflict { code, .. } => code,
            AppError::NotFound(_) => "not_found",
            AppError::Forbidden(_) => "forbidden",
            AppError::InvalidAmount { .. } => "invalid_amount",
            AppError::Unavailable(_) => "unavailable",
            AppError::Repo(RepoError::Conflict { .. }) => "busy",
            AppError::Repo(_) => "internal",
        }
    }

    /// What callers are told: the code and a message. Our own failures are
    /// logged here and shown only as "try again", never with their details.
    pub fn answer(&self) -> (&'static str, String) {
        match self {
            AppError::Repo(RepoError::Conflict { .. }) => (
                self.code(),
                "others are changing this right now; try again".into(),
            ),
            AppError::Repo(e) => {
                tracing::error!(error = %e, "storage failure");
                (self.code(), "internal error; try again".into())
            }
            AppError::Unavailable(m) => {
                tracing::error!(error = %m, "dependency unavailable");
                (self.code(), m.clone())
            }
            e => (e.code(), e.to_string()),
        }
    }

    fn invalid(code: &'static str, message: impl ToString) -> Self {
        AppError::Invalid {
            code,
            message: message.to_string(),
        }
    }
    fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// Money in `currency` for an amount the caller sent in `field`.
pub(crate) fn money_of(
    field: &str,
    amount: crate::domain::money::Amount,
    currency: crate::domain::money::Currency,
) -> Result<crate::domain::money::Money, AppError> {
    amount
        .to_money(currency)
        .map_err(|reason| AppError::InvalidAmount {
            field: field.to_string(),
            reason,
        })
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
            LedgerError::NotByWeight(_) | LedgerError::WeightAndQuantity(_) => "invalid_lines",
            LedgerError::NotEnoughWeight { .. } => "weight_unavailable",
            LedgerError::AmountTooHigh { .. } => "amount_exceeds_refundable",
            LedgerError::NothingToRefund | LedgerError::Money(_) => "invalid_amount",
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

impl From<crate::domain::evidence::EvidenceError> for AppError {
    fn from(e: crate::domain::evidence::EvidenceError) -> Self {
        use crate::domain::evidence::EvidenceError as E;
        let code = match &e {
            E::Unknown(_) | E::Duplicate(_) => "unknown_evidence",
            E::TooMany(_) => "evidence_limit_reached",
            E::NotAccepted { .. } => "evidence_not_accepted",
        };
        AppError::invalid(code, e.to_string())
    }
}

impl From<crate::domain::change::Refused> for AppError {
    fn from(e: crate::domain::change::Refused) -> Self {
        use crate::domain::change::Refused;
        match e {
            Refused::Claim(e) => e.into(),
            Refused::Ledger(e) => e.into(),
            Refused::Invalid { code, message } => AppError::Invalid { code, message },
            Refused::NotNow { code, message } => AppError::Conflict { code, message },
            Refused::Amount { field, reason } => AppError::InvalidAmount { field, reason },
        }
    }
}

impl From<crate::domain::filing::PriceError> for AppError {
    fn from(e: crate::domain::filing::PriceError) -> Self {
        use crate::domain::filing::PriceError;
        match e {
            PriceError::Ledger(e) => e.into(),
            PriceError::ExchangeWithAmount | PriceError::Nothing(_) => {
                AppError::invalid("invalid_amount", e.to_string())
            }
            PriceError::TooMuch { .. } => {
                AppError::invalid("amount_exceeds_refundable", e.to_string())
            }
        }
    }
}

impl From<OrderError> for AppError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Money { field, source } => AppError::InvalidAmount {
                field,
                reason: source,
            },
            OrderError::Invalid(m) => AppError::invalid("invalid_order", m),
        }
    }
}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything a use case needs from the outside.
#[derive(Clone)]
pub struct Services {
    pub table: Arc<dyn Table>,
    pub clock: Clock,
    /// Evidence files; None where uploads are not configured.
    pub evidence: Option<Arc<dyn crate::ports::EvidenceStorage>>,
    pub sms: Arc<dyn crate::ports::SmsSender>,
    /// Where refunds go, by payment channel.
    pub providers: crate::providers::ProviderSet,
    /// Webhook verifiers by provider name (`wechat_pay`, `alipay`,
    /// `stripe`, `sandbox`): the name is the webhook path's last segment.
    pub verifiers: crate::providers::Verifiers,
    /// The courier tracking aggregator (Kuaidi100, or the sandbox); None
    /// where parcels are not tracked.
    pub courier: Option<Arc<dyn crate::couriers::CourierTracker>>,
    /// The salt the aggregator signs its pushes with (given with every
    /// subscription); pushes are refused without it.
    pub courier_salt: Option<String>,
    /// Where the aggregator pushes: our public `/v1/couriers/kuaidi100`.
    /// None: parcels are polled only.
    pub courier_callback_url: Option<String>,
    /// Where the service figures go (EMF on Lambda).
    pub metrics: Arc<dyn crate::ports::MetricsSink>,
    /// Bank-card payouts are configured for this deployment, though not in
    /// this process: the customer-facing function takes bank-card claims
    /// without holding the payout key (the refund executor has it).
    pub bank_payouts: bool,
    /// The issuer of voucher codes (its HTTP API, or the sandbox); None
    /// where no virtual goods are checked (their claims go to staff).
    pub vouchers: Option<Arc<dyn crate::vouchers::VoucherIssuer>>,
    /// The installer network (or the sandbox), asked for an appliance
    /// claim's installation records; None where it is not configured.
    pub installer: Option<Arc<dyn crate::installers::InstallerRecords>>,
    /// The customs and international-logistics service (its HTTP API, or
    /// the sandbox), asked about customs claims; None where it is not
    /// configured (those claims wait with staff).
    pub clearance: Option<Arc<dyn crate::clearance::ClearanceService>>,
    /// The secret its pushes are signed with; pushes are refused without.
    pub clearance_secret: Option<Vec<u8>>,
    /// The events bus the public events go on (the webhook-delivery
    /// function's); None on the runner and in the other functions.
    pub public_bus: Option<Arc<dyn crate::ports::PublicBus>>,
    /// What seals the webhooks' signing secrets at rest (KMS in the
    /// functions that make or use them); None on the runner.
    pub secret_sealer: Option<Arc<dyn crate::ports::SecretSealer>>,
}

impl Services {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Services {
            table,
            clock: Arc::new(Utc::now),
            evidence: None,
            sms: Arc::new(crate::ports::LogSms),
            providers: crate::providers::ProviderSet::default(),
            verifiers: Vec::new(),
            courier: None,
            courier_salt: None,
            courier_callback_url: None,
            metrics: Arc::new(crate::ports::NoMetrics),
            bank_payouts: false,
            vouchers: None,
            installer: None,
            clearance: None,
            clearance_secret: None,
            public_bus: None,
            secret_sealer: None,
        }
    }
    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}

fn check_idempotency_key(k: &str) -> Result<(), AppError> {
    check_id("Idempotency-Key", k).map_err(|m| AppError::invalid("invalid_idempotency_key", m))
}

/// What an earlier request with this Idempotency-Key made (its resource
/// id), if there was one; the same key with another request is refused.
async fn recorded_resource(
    s: &Services,
    scope: &str,
    key: &str,
    hash: &str,
) -> Result<Option<String>, AppError> {
    let Some(done) = repo::idempotency::get(&*s.table, scope, key).await? else {
        return Ok(None);
    };
    if done.request_hash != hash {
        return Err(AppError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    Ok(Some(done.resource_id))
}

/// A state change that keeps losing races gives up after this many tries.
const MAX_ATTEMPTS: usize = 8;

/// Runs one attempt of a state change (load, let the domain decide, commit)
/// again while its commit loses a race to another writer
/// ([`RepoError::Conflict`]): each try decides anew on fresh state. The one
/// retry loop of the use cases.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, AppError>
where
    // Not an async closure: axum needs the use cases' futures to be Send,
    // which the compiler cannot yet prove through `AsyncFnMut`.
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(AppError::Repo(RepoError::Conflict { .. })) => continue,
            done => return done,
        }
    }
    Err(AppError::conflict(
        "busy",
        "others are changing this right now; try again",
    ))
}

/// What the first attempt of a [`retrying`] change starts from (a read the
/// caller just made); later attempts read afresh.
pub(crate) struct First<T>(std::sync::Mutex<Option<T>>);

impl<T> First<T> {
    pub(crate) fn new(first: Option<T>) -> Self {
        First(std::sync::Mutex::new(first))
    }
    pub(crate) fn take(&self) -> Option<T> {
        self.0.lock().ok().and_then(|mut first| first.take())
    }
}

/// Staff of this shop (any role); storefront tokens and customers are not.
fn require_staff(p: &Principal, shop_id: &str) -> Result<(), AppError> {
    require_roles(p, shop_id, &[])
}

/// Staff of this shop holding one of `roles` (any role when empty).
fn require_roles(p: &Principal, shop_id: &str, roles: &[StaffRole]) -> Result<(), AppError> {
    p.acts_for(shop_id, roles, false)
        .map_err(|r| AppError::Forbidden(r.0))
}

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

/// Loads a claim and its order, lets `decide` change them, and commits it
/// all at once, conditional on both versions (again on fresh state when
/// someone else changed either meanwhile).
pub(crate) async fn change_claim<F>(
    s: &Services,
    claim_id: &str,
    decide: F,
) -> Result<Claim, AppError>
where
    F: Fn(&mut Claim, &mut OrderRecord, DateTime<Utc>) -> Result<Change, AppError>,
{
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("claim"))?;
    let decide = &decide;
    retrying(|| async move {
        let (mut claim, cv) = repo::claims::get(&*s.table, claim_id)
            .await?
            .ok_or(AppError::NotFound("claim"))?;
        let (mut rec, ov) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id)
            .await?
            .ok_or(AppError::NotFound("order"))?;
        let now = s.now();
        let change = decide(&mut claim, &mut rec, now)?;
        let mut c = Commit::new();
        c.claim(&claim, Some(cv));
        if change.ledger {
            c.order(&rec, Some(ov));
        }
        c.claim_events(&claim, &change.events, now);
        for e in &change.notices {
            c.event(e);
        }
        c.new_refunds(&change.refunds, now);
        repo::commit(&*s.table, c).await?;
        Ok(claim)
    })
    .await
}
