//! Who may call which route, in one table ([`super::ROUTES`]), enforced by
//! one layer before any handler runs: a caller who may not use a route
//! learns so before the body is read (a bad body never answers 400 to
//! someone who would get 403), and a claim that is not the caller's
//! answers the same 404 as a claim that does not exist.
//!
//! What depends on the data beyond the claim's owner (a second review is
//! an admin's; refunding an exchange's price difference needs finance) is
//! still decided by the use case, which also checks everything here again:
//! the use cases stay safe whoever calls them.

use super::{ApiError, AppState};
use crate::auth::{AuthError, AuthMode, GatewayClaims, Principal, StaffRole};
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: what the shop promises publicly.
    Public,
    /// No token: the sender's signature over the body authenticates it
    /// (payment providers, couriers), checked before the body is read.
    Signed,
    /// Any caller with a token; the use case shows each only their own (a
    /// customer their claims, staff and storefronts their shop's).
    SignedIn,
    /// A customer.
    Customer,
    /// A customer, on a claim of theirs (`{claim_id}` in the path).
    CustomerClaim,
    /// A claim's customer or its shop's staff (`{claim_id}` in the path).
    ClaimParty,
    /// The shop in the path: its staff holding one of `roles` (any role
    /// when empty), or its storefront when `storefront`.
    Shop {
        roles: &'static [StaffRole],
        storefront: bool,
    },
    /// The shop's staff (any role), or a customer (who sees only their own).
    ShopStaffOrCustomer,
}

/// Staff of the shop, whatever their role.
pub const ANY_ROLE: &[StaffRole] = &[];
pub const ADMIN: &[StaffRole] = &[StaffRole::Admin];
pub const MONEY: &[StaffRole] = crate::auth::MONEY_ROLES;
pub const REVIEW: &[StaffRole] = &[StaffRole::Admin, StaffRole::Reviewer];

impl Access {
    /// The shop's staff, whatever their role.
    pub const STAFF: Access = Access::Shop {
        roles: ANY_ROLE,
        storefront: false,
    };
    /// The shop's admins.
    pub const ADMINS: Access = Access::Shop {
        roles: ADMIN,
        storefront: false,
    };
    /// The shop's admins and reviewers: the review rules tried out.
    pub const REVIEWERS: Access = Access::Shop {
        roles: REVIEW,
        storefront: false,
    };
    /// The shop's admins and finance staff: money out of the books.
    pub const MONEY_STAFF: Access = Access::Shop {
        roles: MONEY,
        storefront: false,
    };
    /// The shop's staff or its storefront (orders).
    pub const SHOP: Access = Access::Shop {
        roles: ANY_ROLE,
        storefront: true,
    };

    /// Needs no token.
    pub fn is_public(self) -> bool {
        matches!(self, Access::Public | Access::Signed)
    }
}

/// Who is calling, from the token API Gateway verified or, on one machine
/// and in token mode, the one we verify ourselves.
pub(super) fn authenticate(parts: &Parts, auth: &AuthMode) -> Result<Principal, AuthError> {
    match auth {
        AuthMode::Gateway => {
            let claims = parts
                .extensions
                .get::<GatewayClaims>()
                .ok_or(AuthError::Missing)?;
            Principal::from_claims(&claims.0)
        }
        AuthMode::Hs256(keys) => {
            let h = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            keys.verify(h)
        }
        AuthMode::Issuer(keys) => {
            let token = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(AuthError::Missing)?;
            let token = token
                .strip_prefix("Bearer ")
                .or_else(|| token.strip_prefix("bearer "))
                .ok_or_else(|| AuthError::Invalid("expected 'Bearer <token>'".into()))?;
            keys.verify(token.trim())
        }
    }
}

fn forbidden(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
}

/// Decides a route's access for a principal, given the path's shop (if
/// any). Claim ownership is checked afterwards, with the claim loaded.
pub fn check(access: Access, p: &Principal, path_shop: Option<&str>) -> Result<(), ApiError> {
    let for_shop = |roles, storefront| {
        p.acts_for(path_shop.unwrap_or_default(), roles, storefront)
            .map_err(|r| forbidden(r.0))
    };
    match access {
        Access::Public | Access::Signed | Access::SignedIn => Ok(()),
        Access::Customer | Access::CustomerClaim => match p {
            Principal::Customer { .. } => Ok(()),
            _ => Err(forbidden("only customers may do this")),
        },
        Access::ClaimParty => match p {
            Principal::Customer { .. } | Principal::Staff { .. } => Ok(()),
            Principal::Storefront { .. } => Err(forbidden(
                "a claim's customer or its shop's staff may do this, not a storefront",
            )),
        },
        Access::ShopStaffOrCustomer => match p {
            Principal::Customer { .. } => Ok(()),
            _ => for_shop(ANY_ROLE, false),
        },
        Access::Shop { roles, storefront } => for_shop(roles, storefront),
    }
}

/// The layer: finds the route's access in [`super::ROUTES`], authenticates
/// the caller, checks the access and, on a claim's route, that the claim
/// is theirs; hands the principal on to the handler.
pub async fn authorize(
    State(st): State<AppState>,
    matched: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    let method = match req.method().as_str() {
        // axum answers HEAD with the GET route.
        "HEAD" => "GET",
        m => m,
    };
    let path = matched.as_ref().map_or("", |m| m.as_str());
    let Some(route) = super::ROUTES
        .iter()
        .find(|r| r.path == path && r.method == method)
    else {
        // Not in the table: never served unchecked.
        let allowed: Vec<&str> = super::ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method)
            .collect();
        if allowed.is_empty() {
            return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
                .into_response();
        }
        let mut r = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route takes {}", allowed.join(", ")),
        )
        .into_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&allowed.join(", ")) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    };
    if route.access.is_public() {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let p = match authenticate(&parts, &st.auth) {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let param = |name: &str| {
        params.as_ref().ok().and_then(|ps| {
            ps.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
    };
    if let Err(e) = check(route.access, &p, param("shop_id").as_deref()) {
        return e.into_response();
    }
    // A claim in the path is the caller's (or, on a desk route, the
    // shop's) before its body is read; anyone else's is the same 404 as
    // none. Only routes with a body pay for the read.
    let claim = match (route.access, param("claim_id")) {
        (Access::CustomerClaim | Access::ClaimParty, Some(id)) => {
            Some(crate::app::claim_party(&st.services, &p, &id).await)
        }
        (Access::Shop { .. }, Some(id)) if route.method != "GET" => {
            let shop = param("shop_id").unwrap_or_default();
            Some(
                crate::app::shop_claim(&st.services, &shop, &id)
                    .await
                    .map(drop),
            )
        }
        _ => None,
    };
    if let Some(Err(e)) = claim {
        return ApiError::from(e).into_response();
    }
    parts.extensions.insert(p);
    next.run(Request::from_parts(parts, body)).await
}
