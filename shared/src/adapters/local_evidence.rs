//! Evidence files on one machine: a folder for the files and upload URLs the
//! runner signs itself, standing in for S3 and its presigned PUT URLs.
//!
//! An upload URL is `{base_url}/local-uploads/{key}?expires={unix}&sig={hex}`
//! where `sig` is HMAC-SHA256, with the storage's secret, over the method,
//! the key, the content type, the exact length and the expiry. The runner's
//! upload route ([`crate::api::local_uploads`]) checks it with [`verify`]
//! before it writes a byte, so a URL cannot be reused for another file, type
//! or size, nor after it expired.
//!
//! [`verify`]: LocalEvidenceStorage::verify

use crate::ports::{EvidenceStorage, PortError, StoredObject, UploadTicket};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// Why an upload to a local URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    /// The signature does not match what is sent (key, type or length
    /// changed, or the URL was tampered with).
    #[error("the upload URL's signature does not match this request")]
    BadSignature,
    #[error("the upload URL has expired")]
    Expired,
    /// Not a key this storage hands out.
    #[error("not an evidence key")]
    BadKey,
}

/// Files under one folder; upload URLs signed with a secret.
pub struct LocalEvidenceStorage {
    root: PathBuf,
    base_url: String,
    secret: Vec<u8>,
}

/// What is kept beside each file (S3 keeps the content type with the object).
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    content_type: String,
}

impl LocalEvidenceStorage {
    /// `root`: the files folder; `base_url`: where the runner listens
    /// (`http://127.0.0.1:8080`); `secret`: signs upload URLs (keep it out of
    /// the files folder).
    pub fn new(root: impl Into<PathBuf>, base_url: impl Into<String>, secret: &[u8]) -> Self {
        LocalEvidenceStorage {
            root: root.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret: secret.to_vec(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn mac(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        length: u64,
        expires: i64,
    ) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        // Newlines cannot occur in a checked key, a header value or a number,
        // so the fields cannot run into each other.
        mac.update(format!("{method}\n{key}\n{content_type}\n{length}\n{expires}").as_bytes());
        mac
    }

    /// The signature of an upload of exactly this.
    pub fn sign(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        length: u64,
        expires: i64,
    ) -> String {
        hex::encode(
            self.mac(method, key, content_type, length, expires)
                .finalize()
                .into_bytes(),
        )
    }

    /// Checks an upload request against its URL's `expires` and `sig`:
    /// the method, key, Content-Type and Content-Length must be the ones
    /// signed, and `now` before the expiry. Constant-time comparison.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        length: u64,
        expires: i64,
        sig: &str,
        now: DateTime<Utc>,
    ) -> Result<(), UploadRefused> {
        check_key(key).map_err(|_| UploadRefused::BadKey)?;
        let given = hex::decode(sig).map_err(|_| UploadRefused::BadSignature)?;
        self.mac(method, key, content_type, length, expires)
            .verify_slice(&given)
            .map_err(|_| UploadRefused::BadSignature)?;
        // Checked after the signature, so a forged expiry says "bad signature".
        if now.timestamp() >= expires {
            return Err(UploadRefused::Expired);
        }
        Ok(())
    }

    /// Where the file of `key` lives (the key is checked first).
    pub fn path_of(&self, key: &str) -> Result<PathBuf, PortError> {
        check_key(key).map_err(|e| PortError::Permanent(e.to_string()))?;
        Ok(key.split('/').fold(self.root.clone(), |p, seg| p.join(seg)))
    }

    fn meta_path(file: &Path) -> PathBuf {
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(".meta.json");
        file.with_file_name(name)
    }

    /// Writes one file atomically: the bytes go to a temporary file in the
    /// same folder, then the content type beside it, then a rename makes the
    /// file appear whole. A reader never sees half a file.
    pub async fn write(
        &self,
        key: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<(), PortError> {
        let path = self.path_of(key)?;
        let dir = path.parent().expect("keys have folders").to_path_buf();
        let tmp = dir.join(format!(".upload-{}", uuid::Uuid::new_v4().simple()));
        let meta = serde_json::to_vec(&Meta {
            content_type: content_type.to_owned(),
        })
        .expect("meta serializes");
        let io = |e: std::io::Error| PortError::Transient(format!("writing {key}: {e}"));
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        let meta_tmp = dir.join(format!(".meta-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            tokio::fs::write(&meta_tmp, &meta).await?;
            tokio::fs::rename(&meta_tmp, Self::meta_path(&path)).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            let _ = tokio::fs::remove_file(&meta_tmp).await;
            return Err(io(e));
        }
        Ok(())
    }
}

/// A key the local storage accepts: `/`-separated segments of ASCII
/// letters, digits, `-`, `_` and `.`, none empty or made only of dots, so a
/// key can never leave the files folder.
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() || key.len() > 512 {
        return Err(KeyError::Length);
    }
    for seg in key.split('/') {
        let ok_chars = seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if seg.is_empty() || !ok_chars || seg.bytes().all(|b| b == b'.') || seg.starts_with('.') {
            return Err(KeyError::Segment(key.to_owned()));
        }
    }
    Ok(())
}

/// Why [`check_key`] refuses a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a key has 1 to 512 characters")]
    Length,
    /// An empty segment, a dot segment or a hidden name, or a character
    /// outside `[A-Za-z0-9._-]` (the key is quoted).
    #[error("key {0:?} has a segment that is not allowed")]
    Segment(String),
}

#[async_trait]
impl EvidenceStorage for LocalEvidenceStorage {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<UploadTicket, PortError> {
        check_key(key).map_err(|e| PortError::Permanent(e.to_string()))?;
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|e| PortError::Permanent(format!("ttl: {e}")))?;
        let expires_at = Utc::now() + ttl;
        let expires = expires_at.timestamp();
        let sig = self.sign("PUT", key, content_type, content_length, expires);
        Ok(UploadTicket {
            method: "PUT".into(),
            url: format!(
                "{}/local-uploads/{key}?expires={expires}&sig={sig}",
                self.base_url
            ),
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Content-Length".into(), content_length.to_string()),
            ],
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(expires_at),
        })
    }

    async fn put(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<(), PortError> {
        check_key(key).map_err(|e| PortError::Permanent(e.to_string()))?;
        self.write(key, content_type, bytes).await
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, PortError> {
        let path = self.path_of(key)?;
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PortError::Transient(format!("reading {key}: {e}"))),
        };
        let content_type = tokio::fs::read(Self::meta_path(&path))
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
            .map(|m| m.content_type);
        Ok(Some(StoredObject {
            key: key.to_owned(),
            size: meta.len(),
            content_type,
        }))
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, PortError> {
        let Some(object) = self.head(key).await? else {
            return Ok(None);
        };
        if object.size > max_bytes {
            return Ok(None);
        }
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::Transient(format!("reading {key}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path) -> LocalEvidenceStorage {
        LocalEvidenceStorage::new(dir, "http://127.0.0.1:9/", b"secret")
    }

    #[test]
    fn keys_cannot_leave_the_folder() {
        for bad in [
            "",
            "../x",
            "a/../b",
            "a//b",
            "/a",
            "a/",
            "a/.hidden",
            "a/b c",
            "a\\b",
            "a/%2e%2e",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("evidence/shop-1/clm_1/0190.jpg").is_ok());
        assert_eq!(check_key(&"a".repeat(513)), Err(KeyError::Length));
        assert_eq!(
            check_key("a/../b").unwrap_err().to_string(),
            r#"key "a/../b" has a segment that is not allowed"#
        );
    }

    #[tokio::test]
    async fn signed_urls_bind_key_type_length_and_expiry() {
        let dir = std::env::temp_dir().join(format!("ev-{}", uuid::Uuid::new_v4().simple()));
        let s = storage(&dir);
        let t = s
            .presign_put(
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(t
            .url
            .starts_with("http://127.0.0.1:9/local-uploads/evidence/s/c/a.jpg?expires="));
        let q = t.url.split_once('?').unwrap().1;
        let expires: i64 = q.split('&').next().unwrap()["expires=".len()..]
            .parse()
            .unwrap();
        let sig = &q.split_once("sig=").unwrap().1;
        let now = Utc::now();
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                expires,
                sig,
                now
            ),
            Ok(())
        );
        let bad = UploadRefused::BadSignature;
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/b.jpg",
                "image/jpeg",
                10,
                expires,
                sig,
                now
            ),
            Err(bad.clone())
        );
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/png",
                10,
                expires,
                sig,
                now
            ),
            Err(bad.clone())
        );
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                11,
                expires,
                sig,
                now
            ),
            Err(bad.clone())
        );
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                expires + 1,
                sig,
                now
            ),
            Err(bad.clone())
        );
        assert_eq!(
            s.verify(
                "GET",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                expires,
                sig,
                now
            ),
            Err(bad.clone())
        );
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                expires,
                "zz",
                now
            ),
            Err(bad)
        );
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            s.verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                expires,
                sig,
                later
            ),
            Err(UploadRefused::Expired)
        );
        let other = LocalEvidenceStorage::new(&dir, "http://x", b"other secret");
        assert!(other
            .verify(
                "PUT",
                "evidence/s/c/a.jpg",
                "image/jpeg",
                10,
                expires,
                sig,
                now
            )
            .is_err());
    }

    #[tokio::test]
    async fn written_files_are_seen_with_size_and_type() {
        let dir = std::env::temp_dir().join(format!("ev-{}", uuid::Uuid::new_v4().simple()));
        let s = storage(&dir);
        assert_eq!(s.head("evidence/s/c/a.png").await.unwrap(), None);
        s.write("evidence/s/c/a.png", "image/png", b"12345")
            .await
            .unwrap();
        let o = s.head("evidence/s/c/a.png").await.unwrap().unwrap();
        assert_eq!((o.size, o.content_type.as_deref()), (5, Some("image/png")));
        // Only the file and its meta are left: no temporary files.
        let mut names: Vec<_> = std::fs::read_dir(dir.join("evidence/s/c"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.png", "a.png.meta.json"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
