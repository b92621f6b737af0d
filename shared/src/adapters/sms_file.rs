//! Text messages on one machine: each message becomes one JSON line
//! appended to a file (the runner's `data/sms.jsonl`), standing in for the
//! SMS provider. `tail -f data/sms.jsonl` shows what customers would get.
//!
//! The sink writes every message it is given, like a provider without
//! idempotency: sending once per step is the notifications use case's job,
//! and this file shows whether it did.

use crate::ports::{PortError, SmsSender};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsLine {
    pub at: DateTime<Utc>,
    pub phone: String,
    pub text: String,
    pub dedupe_id: String,
}

pub struct FileSms {
    path: PathBuf,
    /// One writer at a time, so lines never interleave.
    lock: Arc<std::sync::Mutex<()>>,
}

impl FileSms {
    /// Appends to `path` (made, with its folder, on the first message).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSms {
            path: path.into(),
            lock: Arc::new(std::sync::Mutex::new(())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message in the file, oldest first (none when there is no file).
    pub fn read_all(path: &Path) -> Result<Vec<SmsLine>, PortError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(PortError::Transient(format!(
                    "reading {}: {e}",
                    path.display()
                )))
            }
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    PortError::Permanent(format!(
                        "{}: a line is not a message: {e}",
                        path.display()
                    ))
                })
            })
            .collect()
    }
}

fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write of the whole line: with O_APPEND it lands in one piece.
    f.write_all(line)?;
    f.flush()
}

#[async_trait]
impl SmsSender for FileSms {
    async fn send(&self, phone: &str, text: &str, dedupe_id: &str) -> Result<(), PortError> {
        let line = SmsLine {
            at: Utc::now(),
            phone: phone.to_owned(),
            text: text.to_owned(),
            dedupe_id: dedupe_id.to_owned(),
        };
        let mut bytes = serde_json::to_vec(&line).expect("an SMS line serializes");
        bytes.push(b'\n');
        let path = self.path.clone();
        let lock = self.lock.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            append(&path, &bytes)
                .map_err(|e| PortError::Transient(format!("writing {}: {e}", path.display())))
        })
        .await
        .map_err(|e| PortError::Transient(format!("sms sink task: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_one_line_per_message() {
        let dir = std::env::temp_dir().join(format!("sms-file-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("nested").join("sms.jsonl");
        let sink = FileSms::new(&path);
        assert!(FileSms::read_all(&path).unwrap().is_empty());
        sink.send("+8613800138000", "你好\n第二行", "e-1")
            .await
            .unwrap();
        sink.send("+15555550100", "hello", "e-2").await.unwrap();
        let lines = FileSms::read_all(sink.path()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (&*lines[0].phone, &*lines[0].text, &*lines[0].dedupe_id),
            ("+8613800138000", "你好\n第二行", "e-1")
        );
        assert_eq!(lines[1].dedupe_id, "e-2");
        let _ = std::fs::remove_dir_all(dir);
    }
}
