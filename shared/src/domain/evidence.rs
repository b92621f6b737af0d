//! Evidence a customer uploads before filing a claim (the apply page takes
//! the photos first, then submits), and the rule that decides whether a
//! claim may carry it: only files that really landed, uploaded by the same
//! customer for the same shop, within the shop's limits, each on one claim.

use super::ids::{ClaimId, CustomerId, ShopId};
use super::policy::{EvidenceLimits, FileRefusal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a pre-claim upload stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UploadState {
    /// An upload URL was handed out; nothing has landed yet.
    Pending,
    /// The file landed and passed the shop's limits when it did.
    Landed { size: u64, content_type: String },
    /// A claim carries it; it cannot be named by another one.
    Attached {
        claim_id: ClaimId,
        size: u64,
        content_type: String,
    },
}

/// One file uploaded for a claim not filed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The evidence key (`evidence/upl_…/…`): what the claim names.
    pub key: String,
    pub customer_id: CustomerId,
    pub shop_id: ShopId,
    pub created_at: DateTime<Utc>,
    pub state: UploadState,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Not an upload of this customer for this shop that landed and is
    /// free: all of these look the same, so nobody learns of another's.
    #[error("evidence {0} is not a finished upload of yours for this shop")]
    Unknown(String),
    #[error("evidence {0} is named twice")]
    Duplicate(String),
    #[error("a claim carries at most {0} evidence files")]
    TooMany(usize),
    /// It landed, but the shop's limits changed since.
    #[error("evidence {key}: {why}")]
    NotAccepted { key: String, why: UploadRefusal },
}

/// Why an upload's file cannot be carried as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// An upload URL was handed out, nothing came of it (yet).
    #[error("nothing has landed yet")]
    NotLanded,
    /// It landed, but the shop's limits do not take it.
    #[error(transparent)]
    File(#[from] FileRefusal),
}

impl Upload {
    /// The size and type of a file that landed, checked against `limits`.
    pub fn landed(&self, limits: &EvidenceLimits) -> Result<(u64, &str), UploadRefusal> {
        let (size, content_type) = match &self.state {
            UploadState::Pending => return Err(UploadRefusal::NotLanded),
            UploadState::Landed { size, content_type }
            | UploadState::Attached {
                size, content_type, ..
            } => (*size, content_type.as_str()),
        };
        limits.accepts(content_type, size)?;
        Ok((size, content_type))
    }

    /// This upload, now carried by `claim_id`.
    pub fn attach(&self, claim_id: &ClaimId) -> Upload {
        let mut u = self.clone();
        if let UploadState::Landed { size, content_type } = &self.state {
            u.state = UploadState::Attached {
                claim_id: claim_id.clone(),
                size: *size,
                content_type: content_type.clone(),
            };
        }
        u
    }
}

/// What can be said of the keys a claim names before any is looked up:
/// at most `cap`, none twice. (Checked first, so a body naming thousands
/// of keys costs no reads.)
pub fn check_count(named: &[String], cap: usize) -> Result<(), EvidenceError> {
    if named.len() > cap {
        return Err(EvidenceError::TooMany(cap));
    }
    for (i, key) in named.iter().enumerate() {
        if named[..i].contains(key) {
            return Err(EvidenceError::Duplicate(key.clone()));
        }
    }
    Ok(())
}

/// Decides whether a claim of `customer_id` at `shop_id` may carry the
/// evidence it names: `found` holds, in the order named, each key with the
/// upload stored under it (None where there is none). At most `cap` files.
pub fn check_named(
    named: &[String],
    found: &[Option<Upload>],
    customer_id: &CustomerId,
    shop_id: &ShopId,
    limits: &EvidenceLimits,
    cap: usize,
) -> Result<(), EvidenceError> {
    check_count(named, cap)?;
    for (i, key) in named.iter().enumerate() {
        let upload = match found.get(i) {
            Some(Some(u))
                if u.key == *key
                    && u.customer_id == *customer_id
                    && u.shop_id == *shop_id
                    && matches!(u.state, UploadState::Landed { .. }) =>
            {
                u
            }
            _ => return Err(EvidenceError::Unknown(key.clone())),
        };
        upload
            .landed(limits)
            .map_err(|why| EvidenceError::NotAccepted {
                key: key.clone(),
                why,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> EvidenceLimits {
        crate::domain::policy::ShopPolicy::default().evidence
    }

    fn upload(key: &str, customer: &str, shop: &str, state: UploadState) -> Upload {
        Upload {
            key: key.into(),
            customer_id: customer.into(),
            shop_id: shop.into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            state,
        }
    }

    fn landed(size: u64, ct: &str) -> UploadState {
        UploadState::Landed {
            size,
            content_type: ct.into(),
        }
    }

    #[test]
    fn only_landed_uploads_of_the_same_customer_and_shop_are_carried() {
        let k = |n: u8| format!("evidence/upl_{n}/f.jpg");
        let mine = upload(&k(1), "alice", "shop-1", landed(1000, "image/jpeg"));
        let (alice, shop) = (CustomerId::from("alice"), ShopId::from("shop-1"));
        let check = |u: Option<Upload>| check_named(&[k(1)], &[u], &alice, &shop, &limits(), 9);
        assert_eq!(check(Some(mine.clone())), Ok(()));
        for other in [
            None,
            Some(upload(&k(1), "bob", "shop-1", landed(1000, "image/jpeg"))),
            Some(upload(&k(1), "alice", "shop-2", landed(1000, "image/jpeg"))),
            Some(upload(&k(1), "alice", "shop-1", UploadState::Pending)),
            Some(mine.attach(&ClaimId::from("clm_1"))),
            Some(upload(&k(2), "alice", "shop-1", landed(1000, "image/jpeg"))),
        ] {
            assert_eq!(
                check(other.clone()),
                Err(EvidenceError::Unknown(k(1))),
                "{other:?}"
            );
        }
        // The shop no longer takes what landed.
        assert!(matches!(
            check(Some(upload(
                &k(1),
                "alice",
                "shop-1",
                landed(1000, "image/gif")
            ))),
            Err(EvidenceError::NotAccepted { .. })
        ));
        assert!(matches!(
            check(Some(upload(
                &k(1),
                "alice",
                "shop-1",
                landed(11 << 20, "image/jpeg")
            ))),
            Err(EvidenceError::NotAccepted { .. })
        ));
    }

    #[test]
    fn the_cap_and_duplicates() {
        let keys: Vec<String> = (0..10).map(|n| format!("evidence/upl_{n}/f.jpg")).collect();
        let ups: Vec<Option<Upload>> = keys
            .iter()
            .map(|k| Some(upload(k, "alice", "shop-1", landed(10, "image/png"))))
            .collect();
        let (alice, shop) = (CustomerId::from("alice"), ShopId::from("shop-1"));
        assert_eq!(
            check_named(&keys[..9], &ups[..9], &alice, &shop, &limits(), 9),
            Ok(())
        );
        assert_eq!(
            check_named(&keys, &ups, &alice, &shop, &limits(), 9),
            Err(EvidenceError::TooMany(9))
        );
        let twice = vec![keys[0].clone(), keys[0].clone()];
        assert_eq!(
            check_named(
                &twice,
                &[ups[0].clone(), ups[0].clone()],
                &alice,
                &shop,
                &limits(),
                9
            ),
            Err(EvidenceError::Duplicate(keys[0].clone()))
        );
    }

    #[test]
    fn refusals_say_what_is_wrong_with_the_file() {
        let pending = upload("k", "a", "s", UploadState::Pending);
        assert_eq!(pending.landed(&limits()), Err(UploadRefusal::NotLanded));
        assert_eq!(
            UploadRefusal::NotLanded.to_string(),
            "nothing has landed yet"
        );
        let gif = upload("k", "a", "s", landed(5, "image/gif"));
        assert_eq!(
            check_named(
                &["k".into()],
                &[Some(gif)],
                &"a".into(),
                &"s".into(),
                &limits(),
                9
            )
            .unwrap_err()
            .to_string(),
            "evidence k: content type \"image/gif\" is not accepted"
        );
    }

    #[test]
    fn attaching_keeps_what_landed() {
        let u = upload("k", "a", "s", landed(5, "image/png"));
        assert_eq!(
            u.attach(&ClaimId::from("clm_9")).state,
            UploadState::Attached {
                claim_id: "clm_9".into(),
                size: 5,
                content_type: "image/png".into()
            }
        );
    }
}
