//! Shop settings: the after-sales policy and the review rule set. Admins
//! edit them; the policy is public (product pages, the apply page); the
//! rules and deadlines read the same stored values.

use super::{require_roles, require_staff, AppError, Services};
use crate::auth::Principal;
use crate::auth::StaffRole;
use crate::domain::order::check_id;
use crate::domain::policy::ShopPolicy;
use crate::domain::rejections::Catalogue;
use crate::domain::rules::{
    default_rules, recorded_decision, replay, Facts, RuleSet, SeenDecision,
};
use crate::repo;
use crate::repo::Commit;
use crate::repo::RepoError;

/// The shop's policy and its stored version (0: never saved, the default).
pub async fn load_policy(s: &Services, shop_id: &str) -> Result<(ShopPolicy, u64), AppError> {
    Ok(repo::settings::policy(&*s.table, shop_id)
        .await?
        .unwrap_or_default())
}

/// The shop's policy (the default until an admin saves one).
pub async fn policy_for(s: &Services, shop_id: &str) -> Result<ShopPolicy, AppError> {
    Ok(load_policy(s, shop_id).await?.0)
}

fn require_admin(p: &Principal, shop_id: &str) -> Result<(), AppError> {
    require_roles(p, shop_id, &[StaffRole::Admin])
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
    let mut c = Commit::new();
    c.policy(shop_id, &policy, v);
    match repo::commit(&*s.table, c).await {
        Ok(()) => Ok(policy),
        Err(RepoError::Conflict { .. }) => Err(AppError::conflict(
            "busy",
            "the policy changed meanwhile; try again",
        )),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------ rejection reasons

/// The shop's rejection catalogue and its stored version (0: built-ins only).
pub async fn load_catalogue(s: &Services, shop_id: &str) -> Result<(Catalogue, u64), AppError> {
    Ok(repo::settings::catalogue(&*s.table, shop_id)
        .await?
        .unwrap_or_else(|| (Catalogue::builtin(), 0)))
}

/// Replaces the shop's own rejection reasons. Refused when invalid, or when
/// the active rule set rejects with a code the new catalogue drops.
pub async fn put_catalogue(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    body: serde_json::Value,
) -> Result<Catalogue, AppError> {
    require_admin(p, shop_id)?;
    let catalogue: Catalogue = serde_json::from_value(body)
        .map_err(|e| AppError::invalid("invalid_rejection_reasons", e.to_string()))?;
    let (rules, rules_version) = load_rules(s, shop_id).await?;
    if rules_version > 0 {
        let doc = serde_json::to_value(&rules).expect("rule sets serialize");
        if let Err(errors) = RuleSet::parse(&doc, &catalogue) {
            return Err(AppError::invalid(
                "reason_in_use",
                format!(
                    "the active rule set would no longer be valid: {}",
                    join_errors(&errors)
                ),
            ));
        }
    }
    let (_, v) = load_catalogue(s, shop_id).await?;
    // The rule set checked above must still be the active one: otherwise a
    // rule saved meanwhile could name a reason this write removes.
    let mut c = Commit::new();
    c.catalogue(shop_id, &catalogue, v)
        .rules_unchanged(shop_id, rules_version);
    match repo::commit(&*s.table, c).await {
        Ok(()) => Ok(catalogue),
        Err(RepoError::Conflict { .. }) => Err(AppError::conflict(
            "busy",
            "the reasons or the rules changed meanwhile; try again",
        )),
        Err(e) => Err(e.into()),
    }
}

fn join_errors<E: std::fmt::Display>(errors: &[E]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

// ------------------------------------------------------------------ rule sets

/// The active rule set and its version (0: the default set, never saved).
pub async fn load_rules(s: &Services, shop_id: &str) -> Result<(RuleSet, u64), AppError> {
    let Some((doc, v)) = repo::settings::rules(&*s.table, shop_id).await? else {
        return Ok((default_rules(), 0));
    };
    let catalogue = load_catalogue(s, shop_id).await?.0;
    let mut rules = RuleSet::parse(&doc, &catalogue).map_err(|errors| {
        AppError::Repo(RepoError::Invalid(format!(
            "stored rule set of shop {shop_id} (version {v}) no longer validates: {}",
            join_errors(&errors)
        )))
    })?;
    rules.version = u32::try_from(v).unwrap_or(u32::MAX);
    Ok((rules, v))
}

/// Staff read the active rule set (as JSON, with its version).
pub async fn get_rules(
    s: &Services,
    p: &Principal,
    shop_id: &str,
) -> Result<serde_json::Value, AppError> {
    require_staff(p, shop_id)?;
    let (rules, v) = load_rules(s, shop_id).await?;
    let mut doc = serde_json::to_value(&rules).expect("rule sets serialize");
    doc["version"] = v.into();
    Ok(doc)
}

/// Replaces the active rule set. A set that does not parse or validate is
/// refused with every problem named, and the active one stays.
pub async fn put_rules(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, AppError> {
    require_admin(p, shop_id)?;
    check_id("shop_id", shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    let (catalogue, catalogue_version) = load_catalogue(s, shop_id).await?;
    let mut rules = RuleSet::parse(&body, &catalogue)
        .map_err(|errors| AppError::invalid("invalid_rules", join_errors(&errors)))?;
    let (_, v) = load_rules(s, shop_id).await?;
    let next = v + 1;
    rules.version = u32::try_from(next).unwrap_or(u32::MAX);
    let doc = serde_json::to_value(&rules).expect("rule sets serialize");
    let mut c = Commit::new();
    // The reasons validated against must still be the shop's.
    c.rules(shop_id, &doc, v)
        .catalogue_unchanged(shop_id, catalogue_version);
    match repo::commit(&*s.table, c).await {
        Ok(()) => {
            let mut out = doc;
            out["version"] = next.into();
            Ok(out)
        }
        Err(RepoError::Conflict { .. }) => Err(AppError::conflict(
            "busy",
            "the rule set changed meanwhile; try again",
        )),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------ dry run

/// How far back a rule dry-run may look.
pub const DRY_RUN_MAX_DAYS: u32 = 90;

/// Claims read per page of the shop's list during a dry run.
const DRY_RUN_PAGE: u32 = 200;

/// One claim the candidate rule set would decide differently.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRunClaim {
    pub claim_id: crate::domain::ids::ClaimId,
    /// What the rules decided when the claim was filed (its timeline).
    pub recorded: SeenDecision,
    /// What the candidate set decides on the same facts.
    pub candidate: SeenDecision,
}

/// What a candidate rule set would have changed over a shop's recent claims.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRun {
    pub days: u32,
    /// Claims filed from this time on were looked at.
    pub since: chrono::DateTime<chrono::Utc>,
    /// Claims filed in the period, every one read.
    pub examined: u64,
    /// Of those, claims the rules had not decided (still filed, or decided
    /// by a person first): nothing to compare.
    pub not_decided_by_rules: u64,
    /// Claims the candidate decides differently.
    pub differing: u64,
    /// Each of them, newest first.
    pub claims: Vec<DryRunClaim>,
}

/// Replays `candidate` (a rule set as `PUT .../rules` takes it) over the
/// shop's claims filed in the last `days` days, changing nothing: each
/// claim's first rule decision from its timeline against the candidate's on
/// the facts as they are gathered again, at the time of that decision. The
/// customer's history is read again; the photo findings are those the rules
/// saw (kept on the claim), not looked up anew, so nothing is written.
pub async fn dry_run_rules(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    candidate: &serde_json::Value,
    days: u32,
) -> Result<DryRun, AppError> {
    require_roles(p, shop_id, &[StaffRole::Admin, StaffRole::Reviewer])?;
    check_id("shop_id", shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    if !(1..=DRY_RUN_MAX_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "invalid_days",
            format!("days must be 1 to {DRY_RUN_MAX_DAYS}"),
        ));
    }
    let catalogue = load_catalogue(s, shop_id).await?.0;
    let rules = RuleSet::parse(candidate, &catalogue)
        .map_err(|errors| AppError::invalid("invalid_rules", join_errors(&errors)))?;
    let policy = policy_for(s, shop_id).await?;
    let since = s.now() - chrono::Duration::days(i64::from(days));
    let mut out = DryRun {
        days,
        since,
        examined: 0,
        not_decided_by_rules: 0,
        differing: 0,
        claims: Vec::new(),
    };
    let mut after = None;
    'pages: loop {
        let (page, next) = repo::claims::list(
            &*s.table,
            repo::claims::Owner::Shop(shop_id),
            DRY_RUN_PAGE,
            after,
        )
        .await?;
        for claim in page {
            // Newest first: the first one filed before the period ends it.
            if claim.created_at < since {
                break 'pages;
            }
            out.examined += 1;
            let Some((at, recorded)) = recorded_decision(&claim) else {
                out.not_decided_by_rules += 1;
                continue;
            };
            let Some((rec, _)) =
                repo::orders::get(&*s.table, &claim.shop_id, &claim.order_id).await?
            else {
                out.not_decided_by_rules += 1;
                continue;
            };
            let history = super::facts::customer_history(s, &claim).await?;
            let evidence = claim
                .review
                .signals
                .as_ref()
                .map(|sig| sig.evidence.clone())
                .unwrap_or_default();
            let facts = Facts::of(&claim, &rec.order, &policy, history, &evidence, at);
            let (candidate, differs) = replay(&rules, &facts, &recorded);
            if differs {
                out.differing += 1;
                out.claims.push(DryRunClaim {
                    claim_id: claim.claim_id.clone(),
                    recorded,
                    candidate,
                });
            }
        }
        match next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    Ok(out)
}
