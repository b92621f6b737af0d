//! Who is calling. In the cloud API Gateway's JWT authorizer has already
//! verified the token and hands us its claims; on one machine we verify the
//! same claims ourselves with an HS256 development secret; where no
//! authorizer runs (the pages' routes: a browser sends a cookie) we verify
//! the issuer's own tokens against its published keys ([`IssuerKeys`]).
//! Every way the router sees one [`Principal`], mapped from the claims in
//! one place ([`Principal::from_claims`]).
//!
//! Token claims (besides iss, aud, exp):
//! - `sub`: the customer, staff member or storefront id;
//! - `role`: `customer`, `staff` or `storefront`;
//! - `shop_id`: for staff and storefronts, the one shop they act for;
//! - `staff_roles`: for staff, space-separated: `reviewer`, `admin`, `finance`.

use crate::domain::ids::{CustomerId, ShopId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Reviewer,
    Admin,
    Finance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Customer {
        customer_id: CustomerId,
    },
    Staff {
        staff_id: String,
        shop_id: ShopId,
        roles: Vec<StaffRole>,
    },
    /// A shop's storefront backend, pushing orders.
    Storefront {
        shop_id: ShopId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_roles: Option<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl Principal {
    /// Builds the principal from verified claims (given as strings, the way
    /// API Gateway passes them on).
    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Principal, AuthError> {
        let get = |k: &str| claims.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let sub = get("sub").ok_or_else(|| AuthError::Invalid("no sub".into()))?;
        let shop = || {
            get("shop_id")
                .map(ShopId::from)
                .ok_or_else(|| AuthError::Invalid("no shop_id for a shop token".into()))
        };
        match get("role") {
            Some("customer") => Ok(Principal::Customer {
                customer_id: sub.into(),
            }),
            Some("storefront") => Ok(Principal::Storefront { shop_id: shop()? }),
            Some("staff") => {
                // API Gateway may pass a list claim as "[a b]".
                let raw = get("staff_roles")
                    .unwrap_or("")
                    .trim_matches(|c| c == '[' || c == ']');
                let roles = raw
                    .split([' ', ','])
                    .filter(|r| !r.is_empty())
                    .map(|r| {
                        serde_json::from_value(serde_json::Value::String(r.to_string()))
                            .map_err(|_| AuthError::Invalid(format!("unknown staff role {r}")))
                    })
                    .collect::<Result<Vec<StaffRole>, _>>()?;
                Ok(Principal::Staff {
                    staff_id: sub.into(),
                    shop_id: shop()?,
                    roles,
                })
            }
            Some(other) => Err(AuthError::Invalid(format!("unknown role {other}"))),
            None => Err(AuthError::Invalid("no role".into())),
        }
    }

    pub fn has_role(&self, role: StaffRole) -> bool {
        matches!(self, Principal::Staff { roles, .. } if roles.contains(&role))
    }

    /// Whether this principal acts for `shop_id`: its staff holding one of
    /// `roles` (any role when empty), or its storefront when `storefront`.
    /// The one rule for a shop's routes and use cases; the refusal says why.
    pub fn acts_for(
        &self,
        shop_id: &str,
        roles: &[StaffRole],
        storefront: bool,
    ) -> Result<(), Refusal> {
        let refuse = |why: String| Err(Refusal(why));
        match self {
            Principal::Customer { .. } if storefront => refuse("only the shop may do this".into()),
            Principal::Customer { .. } => refuse("only the shop's staff may do this".into()),
            Principal::Staff { shop_id: s, .. } | Principal::Storefront { shop_id: s }
                if s != shop_id =>
            {
                refuse("this token is for another shop".into())
            }
            Principal::Storefront { .. } if storefront => Ok(()),
            Principal::Storefront { .. } => refuse("only the shop's staff may do this".into()),
            Principal::Staff { .. }
                if roles.is_empty() || roles.iter().any(|r| self.has_role(*r)) =>
            {
                Ok(())
            }
            Principal::Staff { .. } => {
                let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                refuse(format!("this needs the {} role", names.join(" or ")))
            }
        }
    }
}

/// Why a principal may not act for a shop (a 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl StaffRole {
    pub fn name(self) -> &'static str {
        match self {
            StaffRole::Reviewer => "reviewer",
            StaffRole::Admin => "admin",
            StaffRole::Finance => "finance",
        }
    }
}

/// The roles that may move money without a claim or out of the books:
/// admins and finance staff.
pub const MONEY_ROLES: &[StaffRole] = &[StaffRole::Admin, StaffRole::Finance];

/// How the router learns who is calling.
#[derive(Clone)]
pub enum AuthMode {
    /// Behind API Gateway's JWT authorizer: the Lambda glue puts the
    /// verified claims into the request as [`GatewayClaims`].
    Gateway,
    /// On one machine: verify HS256 bearer tokens ourselves.
    Hs256(Box<DevKeys>),
    /// Without an authorizer in front (the web function: browsers send a
    /// cookie, not a bearer header): verify the issuer's own JWTs against
    /// its published keys, the issuer and audience API Gateway trusts.
    Issuer(std::sync::Arc<IssuerKeys>),
}

/// The environment variable choosing the functions' [`AuthMode`].
pub const AUTH_MODE_ENV: &str = "AUTH_MODE";
/// The environment variable holding the HS256 secret of `AUTH_MODE=token`.
pub const AUTH_DEV_SECRET_ENV: &str = "AUTH_DEV_SECRET";
/// Shortest development secret token mode accepts: a guessable secret would
/// let anyone mint any principal. (The runner makes 64 characters.)
pub const MIN_DEV_SECRET_LEN: usize = 32;

/// Why the functions refuse to start: a wrong auth setting must stop the cold
/// start, never fall back to something more open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("{AUTH_MODE_ENV}={0:?} is not a mode: use `gateway` (API Gateway's JWT authorizer) or `token` (development tokens)")]
    UnknownMode(String),
    #[error("{AUTH_MODE_ENV}=token needs the development secret in {AUTH_DEV_SECRET_ENV}")]
    MissingSecret,
    #[error("{AUTH_DEV_SECRET_ENV} is too short ({0} bytes): token mode needs at least {MIN_DEV_SECRET_LEN}")]
    WeakSecret(usize),
    #[error("{0} is not set: the pages verify the issuer's tokens themselves and need its issuer and audience")]
    MissingIssuerSetting(&'static str),
    #[error("the issuer's keys (JWKS) are unusable: {0}")]
    Jwks(String),
}

impl AuthMode {
    /// The mode the environment asks for (`AUTH_MODE`, `AUTH_DEV_SECRET`).
    pub fn from_env() -> Result<AuthMode, AuthConfigError> {
        let mode = std::env::var(AUTH_MODE_ENV).ok();
        let secret = std::env::var(AUTH_DEV_SECRET_ENV).ok();
        AuthMode::from_settings(mode.as_deref(), secret.as_deref())
    }

    /// `gateway` (also when unset: it is closed by default, a request
    /// without authorizer claims is refused) or `token`, which verifies the
    /// development tokens the runner mints with the same secret. Anything
    /// else is an error, never a guess.
    pub fn from_settings(
        mode: Option<&str>,
        secret: Option<&str>,
    ) -> Result<AuthMode, AuthConfigError> {
        match mode {
            None | Some("gateway") => Ok(AuthMode::Gateway),
            Some("token") => {
                let secret = secret
                    .filter(|s| !s.trim().is_empty())
                    .ok_or(AuthConfigError::MissingSecret)?;
                if secret.len() < MIN_DEV_SECRET_LEN {
                    return Err(AuthConfigError::WeakSecret(secret.len()));
                }
                Ok(AuthMode::Hs256(Box::new(DevKeys::new(secret.as_bytes()))))
            }
            Some(other) => Err(AuthConfigError::UnknownMode(other.to_owned())),
        }
    }

    /// The mode's name, as `AUTH_MODE` spells it (for logs).
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::Gateway => "gateway",
            AuthMode::Hs256(_) => "token",
            AuthMode::Issuer(_) => "issuer",
        }
    }
}

/// Claims API Gateway verified, as the Lambda glue found them in the request context.
#[derive(Debug, Clone, Default)]
pub struct GatewayClaims(pub HashMap<String, String>);

pub const DEV_ISSUER: &str = "aftersales-local";
pub const DEV_AUDIENCE: &str = "aftersales";

#[derive(Clone)]
pub struct DevKeys {
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl DevKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&[DEV_ISSUER]);
        validation.set_audience(&[DEV_AUDIENCE]);
        validation.leeway = 30;
        DevKeys {
            encoding: jsonwebtoken::EncodingKey::from_secret(secret),
            decoding: jsonwebtoken::DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Mints a development token valid for `ttl_seconds`.
    pub fn mint(
        &self,
        role: &str,
        sub: &str,
        shop_id: Option<&str>,
        staff_roles: &[StaffRole],
        ttl_seconds: i64,
    ) -> String {
        let roles = staff_roles
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let claims = TokenClaims {
            sub: sub.into(),
            role: role.into(),
            shop_id: shop_id.map(str::to_string),
            staff_roles: (!roles.is_empty()).then_some(roles),
            iss: DEV_ISSUER.into(),
            aud: DEV_AUDIENCE.into(),
            exp: chrono::Utc::now().timestamp() + ttl_seconds,
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .expect("HS256 signing cannot fail")
    }

    pub fn verify(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Invalid("expected 'Bearer <token>'".into()))?;
        let data = jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(
            token.trim(),
            &self.decoding,
            &self.validation,
        )
        .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Principal::from_claims(&claims_as_strings(data.claims))
    }
}

/// A verified token's claims as API Gateway hands them on (strings; a list
/// as its items joined by spaces), so that every way in maps claims to a
/// [`Principal`] in one place, [`Principal::from_claims`].
fn claims_as_strings(claims: HashMap<String, serde_json::Value>) -> HashMap<String, String> {
    claims
        .into_iter()
        .filter_map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                serde_json::Value::Null => return None,
                other => other.to_string(),
            };
            Some((k, s))
        })
        .collect()
}

/// The environment variables of the issuer the pages trust (the same the
/// HTTP API's JWT authorizer is given) and, optionally, where its keys are.
pub const JWT_ISSUER_ENV: &str = "JWT_ISSUER";
pub const JWT_AUDIENCE_ENV: &str = "JWT_AUDIENCE";
pub const JWKS_URL_ENV: &str = "JWKS_URL";

/// The signing algorithms an issuer's tokens may use. Never HS*: a public
/// key used as an HMAC secret would let anyone sign.
const ISSUER_ALGORITHMS: &[jsonwebtoken::Algorithm] = &[
    jsonwebtoken::Algorithm::RS256,
    jsonwebtoken::Algorithm::ES256,
];

/// An issuer's public keys (its JWKS), with the issuer and audience its
/// tokens must name: what API Gateway's JWT authorizer checks, checked by
/// us where no authorizer runs.
pub struct IssuerKeys {
    keys: Vec<(
        Option<String>,
        jsonwebtoken::Algorithm,
        jsonwebtoken::DecodingKey,
    )>,
    issuer: String,
    /// Any of these (the template passes its audience list comma-separated).
    audiences: Vec<String>,
}

impl IssuerKeys {
    /// The keys of a JWKS document (its RS256 and ES256 signing keys), for
    /// tokens of `issuer` naming one of `audience` (comma-separated).
    /// No usable key, or an empty issuer or audience, is a configuration
    /// error: the function must not start with nothing to verify against.
    pub fn from_jwks(issuer: &str, audience: &str, jwks: &str) -> Result<Self, AuthConfigError> {
        use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
        if issuer.trim().is_empty() {
            return Err(AuthConfigError::MissingIssuerSetting(JWT_ISSUER_ENV));
        }
        let audiences: Vec<String> = audience
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if audiences.is_empty() {
            return Err(AuthConfigError::MissingIssuerSetting(JWT_AUDIENCE_ENV));
        }
        let set: JwkSet =
            serde_json::from_str(jwks).map_err(|e| AuthConfigError::Jwks(e.to_string()))?;
        let keys: Vec<_> = set
            .keys
            .iter()
            .filter(|k| {
                // Keys published for encryption only are not for us.
                !matches!(
                    k.common.public_key_use,
                    Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                )
            })
            .filter_map(|k| {
                let alg = match &k.algorithm {
                    AlgorithmParameters::RSA(_) => jsonwebtoken::Algorithm::RS256,
                    AlgorithmParameters::EllipticCurve(p)
                        if p.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
                    {
                        jsonwebtoken::Algorithm::ES256
                    }
                    _ => return None,
                };
                let key = jsonwebtoken::DecodingKey::from_jwk(k).ok()?;
                Some((k.common.key_id.clone(), alg, key))
            })
            .collect();
        if keys.is_empty() {
            return Err(AuthConfigError::Jwks("no RS256 or ES256 key".into()));
        }
        Ok(IssuerKeys {
            keys,
            issuer: issuer.to_owned(),
            audiences,
        })
    }

    /// The JWKS address: `JWKS_URL` if set, else the issuer's
    /// `/.well-known/jwks.json` (where Cognito and most issuers publish it).
    pub fn jwks_url(issuer: &str, explicit: Option<&str>) -> String {
        match explicit.filter(|u| !u.trim().is_empty()) {
            Some(u) => u.to_owned(),
            None => format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
        }
    }

    /// The principal of one of the issuer's tokens: signed by one of its
    /// keys (the one its `kid` names), not expired, for our audience.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if !ISSUER_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("algorithm {:?}", header.alg)));
        }
        let (_, alg, key) = self
            .keys
            .iter()
            .find(|(kid, alg, _)| {
                *alg == header.alg && (header.kid.is_none() || *kid == header.kid)
            })
            .ok_or_else(|| AuthError::Invalid("no key of the issuer signed this".into()))?;
        let mut validation = jsonwebtoken::Validation::new(*alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        let data =
            jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, key, &validation)
                .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Principal::from_claims(&claims_as_strings(data.claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let k = DevKeys::new(b"test-secret-0123456789");
        let t = k.mint(
            "staff",
            "st-1",
            Some("shop-1"),
            &[StaffRole::Reviewer, StaffRole::Admin],
            60,
        );
        let p = k.verify(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(
            p,
            Principal::Staff {
                staff_id: "st-1".into(),
                shop_id: "shop-1".into(),
                roles: vec![StaffRole::Reviewer, StaffRole::Admin]
            }
        );
        let other = DevKeys::new(b"another-secret-987654321");
        assert!(other.verify(Some(&format!("Bearer {t}"))).is_err());
        assert_eq!(k.verify(None), Err(AuthError::Missing));
        let expired = k.mint("customer", "c1", None, &[], -3600);
        assert!(k.verify(Some(&format!("Bearer {expired}"))).is_err());
        let no_shop = k.mint("storefront", "sf", None, &[], 60);
        assert!(k.verify(Some(&format!("Bearer {no_shop}"))).is_err());
    }

    #[test]
    fn auth_mode_comes_from_the_settings_and_never_opens_by_mistake() {
        let secret = "0123456789abcdef0123456789abcdef";
        let mode = |m, s| AuthMode::from_settings(m, s).map(|a| a.name());
        assert_eq!(mode(None, None), Ok("gateway"));
        assert_eq!(mode(Some("gateway"), Some(secret)), Ok("gateway"));
        assert_eq!(mode(Some("token"), Some(secret)), Ok("token"));
        for unknown in ["", "Token", "none", "off", "hs256", " gateway"] {
            assert_eq!(
                mode(Some(unknown), Some(secret)),
                Err(AuthConfigError::UnknownMode(unknown.into()))
            );
        }
        assert_eq!(
            mode(Some("token"), None),
            Err(AuthConfigError::MissingSecret)
        );
        assert_eq!(
            mode(Some("token"), Some("  ")),
            Err(AuthConfigError::MissingSecret)
        );
        assert_eq!(
            mode(Some("token"), Some("short")),
            Err(AuthConfigError::WeakSecret(5))
        );
    }

    #[test]
    fn token_mode_accepts_the_runners_tokens_for_the_same_secret() {
        let secret = "0123456789abcdef0123456789abcdef";
        let runner = DevKeys::new(secret.as_bytes());
        let token = runner.mint("customer", "alice", None, &[], 60);
        let Ok(AuthMode::Hs256(keys)) = AuthMode::from_settings(Some("token"), Some(secret)) else {
            panic!("token mode with a good secret");
        };
        assert_eq!(
            keys.verify(Some(&format!("Bearer {token}"))),
            Ok(Principal::Customer {
                customer_id: "alice".into()
            })
        );
        let Ok(AuthMode::Hs256(other)) =
            AuthMode::from_settings(Some("token"), Some(&secret.repeat(2)))
        else {
            panic!("token mode with another secret");
        };
        assert!(other.verify(Some(&format!("Bearer {token}"))).is_err());
    }

    #[test]
    fn gateway_claims_with_bracketed_lists_parse() {
        let m = HashMap::from([
            ("sub".to_string(), "st".to_string()),
            ("role".to_string(), "staff".to_string()),
            ("shop_id".to_string(), "s1".to_string()),
            ("staff_roles".to_string(), "[reviewer finance]".to_string()),
        ]);
        let p = Principal::from_claims(&m).unwrap();
        assert!(p.has_role(StaffRole::Finance));
        assert!(!p.has_role(StaffRole::Admin));
    }
}
