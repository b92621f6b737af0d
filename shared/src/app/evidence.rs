//! Evidence files: upload URLs handed to the claim's customer, and the
//! recording of an uploaded file on its claim (from S3's object-created
//! event in the cloud, from the runner's upload route on one machine).
//!
//! The bytes never pass through our functions: the client PUTs them to the
//! storage with a URL signed for exactly one key, type and size. Recording
//! then checks what actually landed against the shop's limits, because a
//! URL says what may be uploaded, not what was. The one exception is the
//! pages' claim form, which has no script to PUT with: its photos come
//! with the form and the service puts them (`upload_from_form`), through
//! the same hand-out and recording.

use super::{retrying, AppError, Services};
use crate::auth::Principal;
use crate::domain::claim::Actor;
use crate::domain::claim::Claim;
use crate::domain::order::check_id;
use crate::ports::{PortError, UploadTicket};
use crate::repo;
use crate::repo::Commit;
use crate::repo::RepoError;
use chrono::DateTime;
use chrono::Utc;
use serde::Deserialize;
use serde::Serialize;
use std::time::Duration;

/// Upload URLs are valid this long: enough for a video on a slow mobile
/// connection, short enough that a leaked URL is soon useless.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);

/// Every evidence key starts with this; the bucket's event notification
/// filters on it.
pub const KEY_PREFIX: &str = "evidence/";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub content_type: String,
    pub content_length: u64,
}

#[derive(Debug, Serialize)]
pub struct UploadView {
    /// The evidence reference the claim will carry once the file landed.
    pub evidence_key: String,
    pub method: String,
    pub url: String,
    /// Send exactly these headers with the PUT.
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        t if t.starts_with("video/") => "video",
        _ => "img",
    }
}

/// The claim an evidence key belongs to: `evidence/{claim_id}/{file}`.
pub fn claim_of_key(key: &str) -> Option<&str> {
    owner_of_key(key, "clm_")
}

/// Whether a key is one of a pre-claim upload: `evidence/upl_{id}/{file}`.
pub fn is_upload_key(key: &str) -> bool {
    owner_of_key(key, "upl_").is_some()
}

fn owner_of_key<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (claim_id, file) = rest.split_once('/')?;
    let ok = claim_id.starts_with(prefix)
        && claim_id.len() <= 64
        && claim_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !file.is_empty()
        && file.len() <= 64
        && !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then_some(claim_id)
}

fn port_failure(e: PortError) -> AppError {
    match e {
        PortError::Transient(m) | PortError::Permanent(m) => AppError::Unavailable(m),
    }
}

/// Can this claim still take evidence? (Same rule as the state machine.)
fn accepts_evidence(c: &Claim) -> bool {
    use crate::domain::claim::ClaimStatus::*;
    c.status.is_open() && !matches!(c.status, Refunding | Completed)
}

/// An upload URL for one file of the caller's own claim.
pub async fn create_upload(
    s: &Services,
    p: &Principal,
    claim_id: &str,
    req: UploadRequest,
) -> Result<UploadView, AppError> {
    let Principal::Customer { customer_id } = p else {
        return Err(AppError::Forbidden(
            "evidence is uploaded by the claim's customer".into(),
        ));
    };
    check_id("claim_id", claim_id).map_err(|_| AppError::NotFound("claim"))?;
    let (claim, _) = repo::claims::get(&*s.table, claim_id)
        .await?
        .ok_or(AppError::NotFound("claim"))?;
    if claim.customer_id != *customer_id {
        // Someone else's claim looks exactly like a missing one.
        return Err(AppError::NotFound("claim"));
    }
    if !accepts_evidence(&claim) {
        return Err(AppError::conflict(
            "claim_closed_for_evidence",
            format!(
                "a claim that is {} takes no more evidence",
                claim.status.as_str()
            ),
        ));
    }
    let limits = super::policy::policy_for(s, &claim.shop_id).await?.evidence;
    check_declared(&limits, &req.content_type, req.content_length)?;
    let cap = cap(&limits);
    if claim.evidence.len() >= cap {
        return Err(AppError::conflict(
            "evidence_limit_reached",
            format!("a claim holds at most {cap} evidence files"),
        ));
    }
    let key = format!(
        "{KEY_PREFIX}{}/{}.{}",
        claim.claim_id,
        uuid::Uuid::new_v4().simple(),
        extension(&req.content_type)
    );
    presign(s, key, &req.content_type, req.content_length).await
}

/// How many files one claim may carry: the shop's limit, within what a
/// claim holds at all.
pub(crate) fn cap(limits: &crate::domain::policy::EvidenceLimits) -> usize {
    (limits.max_items as usize).min(crate::domain::claim::MAX_EVIDENCE)
}

/// What a customer asks for to upload evidence before filing the claim.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopUploadRequest {
    pub shop_id: crate::domain::ids::ShopId,
    pub content_type: String,
    pub content_length: u64,
}

/// Checks one file's declared type and size against the shop's limits.
fn check_declared(
    limits: &crate::domain::policy::EvidenceLimits,
    content_type: &str,
    content_length: u64,
) -> Result<(), AppError> {
    use crate::domain::policy::FileRefusal;
    limits
        .accepts(content_type, content_length)
        .map_err(|r| match r {
            FileRefusal::ContentType(_) => AppError::invalid(
                "unsupported_content_type",
                format!(
                    "evidence may be one of: {}",
                    limits.content_types.join(", ")
                ),
            ),
            FileRefusal::Size { max, .. } => AppError::invalid(
                "evidence_too_large",
                format!("a {content_type} file must be 1 to {max} bytes"),
            ),
        })
}

async fn presign(
    s: &Services,
    key: String,
    content_type: &str,
    content_length: u64,
) -> Result<UploadView, AppError> {
    let storage = s
        .evidence
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("evidence uploads are not configured".into()))?;
    let UploadTicket {
        method,
        url,
        headers,
        expires_at,
    } = storage
        .presign_put(&key, content_type, content_length, UPLOAD_TTL)
        .await
        .map_err(port_failure)?;
    Ok(UploadView {
        evidence_key: key,
        method,
        url,
        headers: headers.into_iter().collect(),
        expires_at,
    })
}

/// An upload URL for one file of a claim the customer is about to file
/// (the apply page takes photos first). The claim names the returned
/// `evidence_key` once the file has landed; it cannot name anyone else's.
pub async fn create_shop_upload(
    s: &Services,
    p: &Principal,
    req: ShopUploadRequest,
) -> Result<UploadView, AppError> {
    use crate::domain::evidence::{Upload, UploadState};
    let Principal::Customer { customer_id } = p else {
        return Err(AppError::Forbidden(
            "evidence is uploaded by the customer filing the claim".into(),
        ));
    };
    check_id("shop_id", &req.shop_id).map_err(|m| AppError::invalid("invalid_request", m))?;
    let limits = super::policy::policy_for(s, &req.shop_id).await?.evidence;
    check_declared(&limits, &req.content_type, req.content_length)?;
    let key = format!(
        "{KEY_PREFIX}upl_{}/{}.{}",
        uuid::Uuid::now_v7().simple(),
        uuid::Uuid::new_v4().simple(),
        extension(&req.content_type)
    );
    let view = presign(s, key.clone(), &req.content_type, req.content_length).await?;
    let upload = Upload {
        key,
        customer_id: customer_id.clone(),
        shop_id: req.shop_id,
        created_at: s.now(),
        state: UploadState::Pending,
    };
    let mut c = Commit::new();
    c.upload(&upload, None);
    repo::commit(&*s.table, c).await?;
    Ok(view)
}

/// A photo sent with the pages' claim form (no script there to PUT it to
/// an upload URL): handed out, stored and recorded exactly as one sent
/// through its URL, so the same checks apply. The key the submission
/// names.
pub async fn upload_from_form(
    s: &Services,
    p: &Principal,
    shop_id: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<String, AppError> {
    let req = ShopUploadRequest {
        shop_id: shop_id.into(),
        content_type: content_type.to_owned(),
        content_length: bytes.len() as u64,
    };
    let key = create_shop_upload(s, p, req).await?.evidence_key;
    let storage = s
        .evidence
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("evidence uploads are not configured".into()))?;
    storage
        .put(&key, content_type, bytes)
        .await
        .map_err(port_failure)?;
    match record_upload(s, &key).await? {
        Recorded::Refused(why) => Err(AppError::invalid("evidence_refused", why)),
        _ => Ok(key),
    }
}

/// Records a pre-claim upload that landed, after checking what landed
/// against the shop's limits. Idempotent.
async fn record_shop_upload(
    s: &Services,
    key: &str,
    object: &crate::ports::StoredObject,
) -> Result<Recorded, AppError> {
    use crate::domain::evidence::UploadState;
    let Some((mut upload, v)) = repo::uploads::get(&*s.table, key).await? else {
        return Ok(Recorded::Refused(format!(
            "{key}: no upload was handed out for it"
        )));
    };
    if upload.state != UploadState::Pending {
        return Ok(Recorded::AlreadyThere);
    }
    upload.state = UploadState::Landed {
        size: object.size,
        content_type: object.content_type.clone().unwrap_or_default(),
    };
    let limits = super::policy::policy_for(s, &upload.shop_id)
        .await?
        .evidence;
    if let Err(why) = upload.landed(&limits) {
        return Ok(Recorded::Refused(format!("{key}: {why}")));
    }
    let mut c = Commit::new();
    c.upload(&upload, Some(v));
    match repo::commit(&*s.table, c).await {
        // A twin event recorded it first.
        Ok(()) | Err(RepoError::Conflict { .. }) => Ok(Recorded::Landed),
        Err(e) => Err(e.into()),
    }
}

/// The pre-claim uploads a submission names, as stored (None where there
/// is none), for [`crate::domain::evidence::check_named`].
pub(crate) async fn named_uploads(
    s: &Services,
    keys: &[String],
) -> Result<Vec<Option<(crate::domain::evidence::Upload, u64)>>, AppError> {
    use crate::domain::evidence::UploadState;
    // Only well-formed upload keys are looked up at all, in one read.
    let wanted: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| is_upload_key(k))
        .collect();
    let mut stored = repo::uploads::get_many(&*s.table, &wanted)
        .await?
        .into_iter();
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let mut found = if is_upload_key(k) {
            stored.next().flatten()
        } else {
            None
        };
        // The customer may submit before the storage's event reached us:
        // what the storage holds is what landed.
        if let (Some((u, _)), Some(storage)) = (found.as_mut(), s.evidence.as_ref()) {
            if u.state == UploadState::Pending {
                if let Some(object) = storage.head(k).await.map_err(port_failure)? {
                    u.state = UploadState::Landed {
                        size: object.size,
                        content_type: object.content_type.unwrap_or_default(),
                    };
                }
            }
        }
        out.push(found);
    }
    Ok(out)
}

/// What became of an uploaded object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// On the claim now, with a `claim.evidence_added` event.
    Added {
        claim_id: crate::domain::ids::ClaimId,
    },
    /// Already on the claim: a repeated event.
    AlreadyThere,
    /// A file for a claim not filed yet landed; the claim may name it.
    Landed,
    /// Not recorded, and never will be (the reason says why); the bucket's
    /// lifecycle rule removes the object.
    Refused(String),
}

/// Records an uploaded object on its claim after checking it, and takes
/// its fingerprint while nobody waits (the rules would otherwise read the
/// photo when they decide). Idempotent: S3 delivers events at least once.
pub async fn record_upload(s: &Services, key: &str) -> Result<Recorded, AppError> {
    let recorded = record(s, key).await?;
    if matches!(recorded, Recorded::Added { .. } | Recorded::Landed) {
        if let Err(e) = super::facts::fingerprint_of(s, key).await {
            tracing::warn!(key, error = %e, "evidence fingerprint not taken; the rules will take it");
        }
    }
    Ok(recorded)
}

async fn record(s: &Services, key: &str) -> Result<Recorded, AppError> {
    let claim_id = claim_of_key(key);
    if claim_id.is_none() && !is_upload_key(key) {
        return Ok(Recorded::Refused(format!("{key:?} is not an evidence key")));
    }
    let storage = s
        .evidence
        .as_ref()
        .ok_or_else(|| AppError::Unavailable("evidence storage is not configured".into()))?;
    let Some(object) = storage.head(key).await.map_err(port_failure)? else {
        return Ok(Recorded::Refused(format!("{key} is not in the storage")));
    };
    let Some(claim_id) = claim_id else {
        return record_shop_upload(s, key, &object).await;
    };
    let object = &object;
    retrying(|| async move {
        let Some((mut claim, v)) = repo::claims::get(&*s.table, claim_id).await? else {
            return Ok(Recorded::Refused(format!(
                "claim {claim_id} does not exist"
            )));
        };
        if claim.evidence.iter().any(|e| e == key) {
            return Ok(Recorded::AlreadyThere);
        }
        let limits = super::policy::policy_for(s, &claim.shop_id).await?.evidence;
        let content_type = object.content_type.as_deref().unwrap_or("");
        if let Err(why) = limits.accepts(content_type, object.size) {
            return Ok(Recorded::Refused(format!("{key}: {why}")));
        }
        if claim.evidence.len() >= limits.max_items as usize {
            return Ok(Recorded::Refused(format!(
                "{key}: the claim already holds {} files",
                claim.evidence.len()
            )));
        }
        let now = s.now();
        // Only the claim's customer is handed upload URLs for it.
        let actor = Actor::Customer {
            id: claim.customer_id.clone(),
        };
        let event = match claim.add_evidence(vec![key.to_owned()], actor, now) {
            Ok(e) => e,
            Err(e) => return Ok(Recorded::Refused(format!("{key}: {e}"))),
        };
        let mut c = Commit::new();
        c.claim(&claim, Some(v)).claim_events(&claim, [&event], now);
        repo::commit(&*s.table, c).await?;
        Ok(Recorded::Added {
            claim_id: claim.claim_id,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_keys_name_their_claim() {
        assert_eq!(
            claim_of_key("evidence/clm_0190abc/4f2a.jpg"),
            Some("clm_0190abc")
        );
        for bad in [
            "evidence/clm_1",
            "evidence/clm_1/",
            "evidence/clm_1/../x.jpg",
            "evidence/other/x.jpg",
            "uploads/clm_1/x.jpg",
            "evidence/clm_1/a/b.jpg",
            "evidence/clm_1/.hidden",
            "evidence/clm%201/x.jpg",
        ] {
            assert_eq!(claim_of_key(bad), None, "{bad}");
        }
    }
}
