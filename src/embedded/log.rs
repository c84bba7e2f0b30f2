//! Announcements on the embedded backend: one JSON message per line,
//! appended to `DIR/announcements.jsonl`, whatever topic is configured.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use crate::store::{Notifier, StoreError, StoreResult};

pub struct JsonlLog {
    path: PathBuf,
}

impl JsonlLog {
    pub fn new(path: impl Into<PathBuf>) -> JsonlLog {
        JsonlLog { path: path.into() }
    }
}

impl Notifier for JsonlLog {
    /// `user@host`, the embedded stand-in for the STS caller ARN.
    fn caller(&self) -> StoreResult<String> {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Ok(format!("{user}@{host}"))
    }

    fn announce(&self, _topic: Option<&str>, messages: &[serde_json::Value]) -> StoreResult<()> {
        // One write of all lines, so concurrent writers never interleave
        // inside a line (O_APPEND).
        let mut text = String::new();
        for m in messages {
            text.push_str(&m.to_string());
            text.push('\n');
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| StoreError::io(format!("opening {}", self.path.display()), e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| StoreError::io(format!("appending to {}", self.path.display()), e))
    }
}
