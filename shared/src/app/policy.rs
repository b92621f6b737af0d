//! Shop settings: the after-sales policy and the review rule set. Admins
//! edit them; the policy is public (product pages, the apply page); the
//! rules and deadlines read the same stored values.

use super::*;
use crate::domain::policy::ShopPolicy;
use crate::store::{Condition, Item};

pub fn policy_key(shop_id: &str) -> (String, String) {
    (format!("SHOP#{shop_id}"), "POLICY".into())
}

/// The shop's policy and its stored version (0: never saved, the default).
pub async fn load_policy(s: &Services, shop_id: &str) -> Result<(ShopPolicy, u64), AppError> {
    let (pk, sk) = policy_key(shop_id);
    match s.table.get(&pk, &sk).await? {
        Some(item) => {
            let v = item.version;
            let p = serde_json::from_value(item.body)
                .map_err(|source| AppError::Repo(RepoError::Corrupt { pk, sk, source }))?;
            Ok((p, v))
        }
        None => Ok((ShopPolicy::default(), 0)),
    }
}

/// The shop's policy (the default until an admin saves one).
pub async fn policy_for(s: &Services, shop_id: &str) -> Result<ShopPolicy, AppError> {
    Ok(load_policy(s, shop_id).await?.0)
}

fn require_admin(p: &Principal, shop_id: &str) -> Result<(), AppError> {
    match p {
        Principal::Staff { shop_id: s, .. } if s == shop_id && p.has_role(StaffRole::Admin) => {
            Ok(())
        }
        Principal::Staff { shop_id: s, .. } if s == shop_id => Err(AppError::Forbidden(
            "only a shop admin may change this".into(),
        )),
        _ => Err(AppError::Forbidden(
            "this token is not for this shop's staff".into(),
        )),
    }
}

/// Replaces the policy. A policy that does not validate is refused and the
/// stored one stays.
pub async fn put_policy(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    policy: ShopPolicy,
) -> Result<ShopPolicy, AppError> {
    require_admin(p, shop_id)?;
    check_id("shop_id", shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    policy
        .validate()
        .map_err(|m| AppError::invalid("invalid_policy", m))?;
    let (_, v) = load_policy(s, shop_id).await?;
    let (pk, sk) = policy_key(shop_id);
    let mut item = Item::new(
        pk,
        sk,
        serde_json::to_value(&policy).expect("policy serializes"),
    );
    item.version = v + 1;
    let cond = if v == 0 {
        Condition::NotExists
    } else {
        Condition::VersionIs(v)
    };
    match s.table.put(item, cond).await {
        Ok(()) => Ok(policy),
        Err(StoreError::ConditionFailed { .. }) => Err(AppError::conflict(
            "busy",
            "the policy changed meanwhile; try again",
        )),
        Err(e) => Err(e.into()),
    }
}
