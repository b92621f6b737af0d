//! Evidence files in S3: presigned PUT URLs for the clients, HeadObject for
//! the event handler. The API sees the bytes only of the photos sent with
//! the pages' claim form (no script there to PUT them): it puts those.
//!
//! The presigned URL signs the Content-Type and the Content-Length headers
//! (`X-Amz-SignedHeaders=content-length;content-type;host`), so S3 refuses an
//! upload of another type or size with 403. A presigned URL acts with the
//! permissions of whoever signed it: the API function holds `s3:PutObject`
//! on `evidence/*` of the bucket and nothing else there.

use crate::ports::{EvidenceStorage, PortError, StoredObject, UploadTicket};
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use std::time::Duration;

pub struct S3EvidenceStorage {
    client: Client,
    bucket: String,
}

impl S3EvidenceStorage {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3EvidenceStorage {
            client,
            bucket: bucket.into(),
        }
    }

    /// A client from the environment (the Lambda's role and region).
    pub async fn from_env(bucket: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        S3EvidenceStorage::new(Client::new(&config), bucket)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn port_error<E, R>(what: &str, e: SdkError<E, R>) -> PortError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = format!("{what}: {}", DisplayErrorContext(&e));
    match e {
        SdkError::ConstructionFailure(_) => PortError::Permanent(message),
        _ => PortError::Transient(message),
    }
}

#[async_trait]
impl EvidenceStorage for S3EvidenceStorage {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<UploadTicket, PortError> {
        let length = i64::try_from(content_length)
            .map_err(|_| PortError::Permanent("content length out of range".into()))?;
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| PortError::Permanent(format!("presigning config: {e}")))?;
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).map_err(|e| PortError::Permanent(e.to_string()))?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|e| port_error("presigning PutObject", e))?;
        // Every header that was signed must be sent as signed; `host` is the
        // URL's own.
        let mut headers: Vec<(String, String)> = req
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (canonical_header_name(name), value.to_owned()))
            .collect();
        for (name, value) in [
            ("Content-Type", content_type.to_owned()),
            ("Content-Length", content_length.to_string()),
        ] {
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                headers.push((name.to_owned(), value));
            }
        }
        Ok(UploadTicket {
            method: req.method().to_owned(),
            url: req.uri().to_owned(),
            headers,
            expires_at,
        })
    }

    async fn put(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| port_error("PutObject", e))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, PortError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(StoredObject {
                key: key.to_owned(),
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: out.content_type().map(str::to_owned),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(e) => Err(port_error("HeadObject", e)),
        }
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, PortError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => return Ok(None),
            Err(e) => return Err(port_error("GetObject", e)),
        };
        let size = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(u64::MAX);
        if size > max_bytes {
            return Ok(None);
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| PortError::Transient(format!("GetObject {key}: {e}")))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }
}

/// `content-type` → `Content-Type`, as clients usually write them.
fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

    /// Presigning is offline: no request is sent.
    #[tokio::test]
    async fn presigned_put_signs_type_and_length() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("ap-southeast-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "static"))
            .build();
        let s = S3EvidenceStorage::new(Client::from_conf(config), "bucket-1");
        let t = s
            .presign_put(
                "evidence/shop-1/clm_1/a.jpg",
                "image/jpeg",
                1234,
                Duration::from_secs(900),
            )
            .await
            .unwrap();
        assert_eq!(t.method, "PUT");
        assert!(t.url.contains("evidence/shop-1/clm_1/a.jpg"), "{}", t.url);
        assert!(t.url.contains("X-Amz-Expires=900"), "{}", t.url);
        assert!(
            t.url
                .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
            "content type and length are signed: {}",
            t.url
        );
        assert!(
            t.headers
                .contains(&("Content-Type".into(), "image/jpeg".into())),
            "{:?}",
            t.headers
        );
        assert!(
            t.headers
                .contains(&("Content-Length".into(), "1234".into())),
            "{:?}",
            t.headers
        );
        assert_eq!(canonical_header_name("x-amz-meta-a"), "X-Amz-Meta-A");
    }
}
