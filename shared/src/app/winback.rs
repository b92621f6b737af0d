//! Win-back, as a consumer of claim events (beside the notifications): a
//! claim that ended in an outcome the shop chose earns its coupon, once; a
//! high-value customer's first claim puts a call-back task in the staff
//! queue. Customers read their coupons; staff work the call-backs.

use super::{require_staff, retrying, AppError, Services};
use crate::auth::Principal;
use crate::domain::claim::{Claim, ClaimStep};
use crate::domain::events::{EventType, OutboxEvent};
use crate::domain::ids::{CustomerId, ShopId};
use crate::domain::order::check_id;
use crate::domain::winback::{self, CallbackOutcome, CallbackTask, Coupon};
use crate::repo::{self, Commit, RepoError};
use serde::{Deserialize, Serialize};

/// The steps after which a claim may have ended.
fn may_end(step: ClaimStep) -> bool {
    matches!(
        step,
        ClaimStep::Rejected
            | ClaimStep::Cancelled
            | ClaimStep::Closed
            | ClaimStep::Completed
            | ClaimStep::RefundSucceeded
            | ClaimStep::RefundArrived
            | ClaimStep::Inspected
    )
}

/// `claim` is the claim event's subject as it is now.
pub async fn on_event(
    s: &Services,
    event: &OutboxEvent,
    claim: Option<&Claim>,
) -> Result<(), AppError> {
    let Some(claim) = claim else {
        return Ok(());
    };
    match event.event_type {
        EventType::Claim(ClaimStep::Submitted) => call_back_if_valuable(s, claim).await,
        EventType::Claim(step) if may_end(step) => coupon_if_earned(s, claim).await,
        _ => Ok(()),
    }
}

/// Commits `c`; a once-only record already there means it was done before.
async fn once(s: &Services, c: Commit) -> Result<bool, AppError> {
    match repo::commit(&*s.table, c).await {
        Ok(()) => Ok(true),
        Err(RepoError::Conflict { duplicate: true }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn coupon_if_earned(s: &Services, claim: &Claim) -> Result<(), AppError> {
    let claim_id: &str = &claim.claim_id;
    let policy = super::policy::policy_for(s, &claim.shop_id).await?;
    let Some(coupon) = winback::coupon_for(claim, &policy.winback, s.now()) else {
        return Ok(());
    };
    let mut c = Commit::new();
    c.new_coupon(&coupon);
    let issued = once(s, c).await?;
    tracing::info!(claim_id, coupon_id = %coupon.coupon_id, issued, "win-back coupon");
    Ok(())
}

async fn call_back_if_valuable(s: &Services, claim: &Claim) -> Result<(), AppError> {
    let claim_id: &str = &claim.claim_id;
    let policy = super::policy::policy_for(s, &claim.shop_id).await?;
    if policy.winback.high_value.is_none() {
        return Ok(());
    }
    let Some((rec, _)) = repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id).await?
    else {
        return Ok(());
    };
    if !winback::valuable(&rec.order, &policy.winback) {
        return Ok(());
    }
    let earlier = earlier_claims_at_shop(s, claim).await?;
    let Some(task) = winback::callback_for(claim, &rec.order, &policy.winback, earlier, s.now())
    else {
        return Ok(());
    };
    let mut c = Commit::new();
    c.callback(&task, None).event(&OutboxEvent::new(
        &task.shop_id,
        &task.claim_id,
        EventType::CallbackRequested,
        serde_json::to_value(&task).expect("tasks serialize"),
        task.created_at,
    ));
    let created = once(s, c).await?;
    tracing::info!(
        claim_id,
        created,
        "call-back task for a high-value customer"
    );
    Ok(())
}

/// Whether the customer filed any claim at this shop before this one (0 or
/// 1: it stops at the first found). The list starts at this claim, so
/// claims filed after it are never read.
async fn earlier_claims_at_shop(s: &Services, claim: &Claim) -> Result<usize, AppError> {
    #[derive(serde::Deserialize)]
    struct Filed {
        shop_id: crate::domain::ids::ShopId,
    }
    let mut cursor = Some(repo::claims::customer_cursor(claim));
    loop {
        let (page, next) = repo::claims::list_as::<Filed>(
            &*s.table,
            repo::claims::Owner::Customer(&claim.customer_id),
            100,
            cursor,
        )
        .await?;
        if page.iter().any(|c| c.shop_id == claim.shop_id) {
            return Ok(1);
        }
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok(0),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CouponsView {
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    /// Newest first.
    pub coupons: Vec<CouponView>,
}

#[derive(Debug, Serialize)]
pub struct CouponView {
    #[serde(flatten)]
    pub coupon: Coupon,
    pub expired: bool,
}

/// The calling customer's coupons at the shop, or (staff) `customer_id`'s.
pub async fn coupons(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    customer_id: Option<&str>,
) -> Result<CouponsView, AppError> {
    let customer = super::points::whose(p, shop_id, customer_id)?;
    let now = s.now();
    let coupons = repo::coupons::of_customer(&*s.table, shop_id, &customer)
        .await?
        .into_iter()
        .map(|c| CouponView {
            expired: c.expires_at <= now,
            coupon: c,
        })
        .collect();
    Ok(CouponsView {
        shop_id: shop_id.into(),
        customer_id: customer,
        coupons,
    })
}

#[derive(Debug, Serialize)]
pub struct Callbacks {
    pub callbacks: Vec<CallbackView>,
}

#[derive(Debug, Serialize)]
pub struct CallbackView {
    #[serde(flatten)]
    pub task: CallbackTask,
    /// Not done, and past its deadline.
    pub overdue: bool,
}

/// The shop's call-backs: the open ones (or `all`), soonest due first.
pub async fn callbacks(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    all: bool,
) -> Result<Callbacks, AppError> {
    require_staff(p, shop_id)?;
    let now = s.now();
    let mut tasks: Vec<CallbackView> = repo::callbacks::of_shop(&*s.table, shop_id)
        .await?
        .into_iter()
        .filter(|t| all || t.outcome.is_none())
        .map(|t| CallbackView {
            overdue: t.outcome.is_none() && t.due_at <= now,
            task: t,
        })
        .collect();
    tasks.sort_by(|a, b| (a.task.due_at, &a.task.claim_id).cmp(&(b.task.due_at, &b.task.claim_id)));
    Ok(Callbacks { callbacks: tasks })
}

/// The body of `POST /v1/shops/{shop}/desk/callbacks/{claim}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackResult {
    pub outcome: CallbackOutcome,
    #[serde(default)]
    pub note: String,
}

/// Staff record how a call-back went, once.
pub async fn record_callback(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    claim_id: &str,
    body: CallbackResult,
) -> Result<CallbackView, AppError> {
    require_staff(p, shop_id)?;
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("call-back"))?;
    let staff = match p {
        Principal::Staff { staff_id, .. } => staff_id.clone(),
        _ => return Err(AppError::Forbidden("staff record call-backs".into())),
    };
    let body = &body;
    let staff = &staff;
    retrying(|| async move {
        let (mut task, v) = repo::callbacks::get(&*s.table, shop_id, claim_id)
            .await?
            .ok_or(AppError::NotFound("call-back"))?;
        let now = s.now();
        winback::record_callback(&mut task, body.outcome, &body.note, staff, now)?;
        let mut c = Commit::new();
        c.callback(&task, Some(v));
        repo::commit(&*s.table, c).await?;
        Ok(CallbackView {
            overdue: false,
            task,
        })
    })
    .await
}
