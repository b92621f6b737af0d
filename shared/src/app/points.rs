//! Member points at a shop: a customer reads their own balance and
//! history; staff read any customer's; admins reverse a grant.

use super::{actor_of, require_roles, require_staff, retrying, AppError, Services};
use crate::auth::{Principal, StaffRole};
use crate::domain::ids::{CustomerId, ShopId};
use crate::domain::order::check_id;
use crate::domain::points::{self, PointsEntry};
use crate::repo::{self, Commit};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct PointsView {
    pub shop_id: ShopId,
    pub customer_id: CustomerId,
    pub balance: i64,
    /// Oldest first.
    pub entries: Vec<PointsEntry>,
}

/// Whose points: the calling customer's, or (staff) `customer_id`'s.
pub(crate) fn whose(
    p: &Principal,
    shop_id: &str,
    customer_id: Option<&str>,
) -> Result<CustomerId, AppError> {
    match (p, customer_id) {
        (Principal::Customer { customer_id: me }, None) => Ok(me.clone()),
        (Principal::Customer { customer_id: me }, Some(c)) if c == me => Ok(me.clone()),
        (Principal::Customer { .. }, Some(_)) => Err(AppError::Forbidden(
            "customers see their own points only".into(),
        )),
        (_, Some(c)) => {
            require_staff(p, shop_id)?;
            check_id("customer_id", c).map_err(|m| AppError::invalid("invalid_query", m))?;
            Ok(c.into())
        }
        (_, None) => Err(AppError::invalid(
            "invalid_query",
            "staff name the customer: ?customer_id=",
        )),
    }
}

pub async fn points(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    customer_id: Option<&str>,
) -> Result<PointsView, AppError> {
    let customer = whose(p, shop_id, customer_id)?;
    let entries = repo::points::of_customer(&*s.table, shop_id, &customer).await?;
    Ok(PointsView {
        shop_id: shop_id.into(),
        customer_id: customer,
        balance: points::balance(&entries),
        entries,
    })
}

/// The body of `POST /v1/shops/{shop}/points/{entry}/reverse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseRequest {
    pub customer_id: String,
    pub note: String,
}

/// An admin takes a grant back, once (with its event to the loyalty
/// system).
pub async fn reverse(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    entry_id: &str,
    body: ReverseRequest,
) -> Result<PointsView, AppError> {
    require_roles(p, shop_id, &[StaffRole::Admin])?;
    check_id("customer_id", &body.customer_id)
        .map_err(|m| AppError::invalid("invalid_request", m))?;
    let body = &body;
    retrying(|| async move {
        let entries = repo::points::of_customer(&*s.table, shop_id, &body.customer_id).await?;
        let r = points::reverse(&entries, entry_id, &body.note, actor_of(p), s.now())?;
        let mut c = Commit::new();
        c.points(&r, true);
        repo::commit(&*s.table, c).await?;
        Ok(())
    })
    .await?;
    points(s, p, shop_id, Some(&body.customer_id)).await
}
