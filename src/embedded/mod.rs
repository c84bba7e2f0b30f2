//! The embedded backend: SQLite for the state, a local directory for the
//! bucket, a JSON-lines file for announcements. It lets the tool run, and be
//! tested, with no cloud at all.
//!
//! Layout of a local directory `DIR`:
//! `DIR/repoman.sqlite`, `DIR/bucket/` (pool/, dists/), `DIR/announcements.jsonl`.

pub mod bucket;
pub mod log;
pub mod meta;

use std::path::Path;

use crate::store::{Backend, StoreError, StoreResult};

/// The domain name used inside the SQLite file when none is configured.
pub const DEFAULT_DOMAIN: &str = "repoman";

/// Creates `dir` (and its parents) for the embedded files; a path that is
/// a file already is one plain error naming it.
pub fn ensure_dir(dir: &Path) -> StoreResult<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(StoreError::Backend(format!(
            "{}: not a directory (the embedded repository is a directory)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))
}

pub fn open(dir: &Path, domain: Option<&str>) -> StoreResult<Backend> {
    ensure_dir(dir)?;
    let meta = meta::SqliteMeta::open(
        &dir.join("repoman.sqlite"),
        domain.unwrap_or(DEFAULT_DOMAIN),
    )?;
    Ok(Backend {
        meta: Box::new(meta),
        blobs: Box::new(bucket::DirBucket::new(dir.join("bucket"))),
        notifier: Box::new(log::JsonlLog::new(dir.join("announcements.jsonl"))),
        name: "local".into(),
    })
}
