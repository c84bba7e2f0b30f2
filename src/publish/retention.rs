//! by-hash retention: which old by-hash files a publish deletes.
//!
//! A by-hash file stays while a Release naming it may still be in a
//! client's hands: every file the current Release names stays, and a file
//! an earlier Release named stays for the retention window after that
//! Release was replaced (36 hours by default, as Debian's archive keeps
//! them). To know when that was, each distribution keeps a small record
//! beside its Release, `dists/DIST/by-hash-superseded`: one line per
//! by-hash file no longer current, `<unix seconds> <path below dists/DIST>`,
//! the time it stopped being current. The record lives in the tree it
//! describes, so on the directory bucket it is switched with the tree.
//!
//! A by-hash file that is neither current, nor named by the Release being
//! replaced, nor in the record (written by a publish still in progress, or
//! by a version without retention) is recorded as of now and kept for a
//! whole window: it is never deleted by the publish that first sees it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, Context as _, Result};
use chrono::{DateTime, Duration, Utc};

use crate::layout::is_by_hash;
use crate::parallel::parallel;
use crate::store::{BlobStore, PutMode, StoreError};

/// The record's name inside `dists/DIST/`.
pub const RECORD: &str = "by-hash-superseded";

/// How long by-hash files of a replaced Release stay, by default.
pub fn default_window() -> Duration {
    Duration::hours(36)
}

/// The by-hash paths (below `dists/DIST/`) of every index a Release text
/// lists, under each digest section. Used only to recognise names in the
/// bucket's listing, so a malformed line simply matches nothing.
pub fn named_by(release: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut algo: Option<&str> = None;
    for line in release.lines() {
        if let Some(entry) = line.strip_prefix(' ') {
            let fields: Vec<&str> = entry.split_whitespace().collect();
            let (Some(a), [digest, _size, path]) = (algo, &fields[..]) else {
                continue;
            };
            // Leaf Release files are listed too, but never by hash.
            if let Some((dir, name)) = path.rsplit_once('/') {
                if name == "Release" {
                    continue;
                }
                out.insert(format!("{dir}/by-hash/{a}/{digest}"));
            }
        } else {
            algo = match line.trim_end() {
                "MD5Sum:" => Some("MD5Sum"),
                "SHA1:" => Some("SHA1"),
                "SHA256:" => Some("SHA256"),
                "SHA512:" => Some("SHA512"),
                _ => None,
            };
        }
    }
    out
}

fn parse_record(key: &str, bytes: &[u8]) -> Result<BTreeMap<String, i64>> {
    let broken = |n: usize| {
        anyhow!(
            "{key} line {n} is not `<unix seconds> <path>`; deleting {key} is safe (old by-hash \
             files are then kept one more retention window)"
        )
    };
    let text = std::str::from_utf8(bytes).map_err(|_| broken(1))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let (t, path) = line.split_once(' ').ok_or_else(|| broken(i + 1))?;
        let t: i64 = t.parse().map_err(|_| broken(i + 1))?;
        if !is_by_hash(&format!("/{path}")) {
            return Err(broken(i + 1));
        }
        out.insert(path.to_string(), t);
    }
    Ok(out)
}

/// What a publish does to old by-hash files: the record to write before
/// its Release, and the files to delete once the new Release is in place.
#[derive(Debug)]
pub struct Pruning {
    /// The record's key and text.
    pub record: (String, String),
    /// Keys to delete.
    pub doomed: Vec<String>,
}

/// Decides which by-hash files of distribution tree `home` no Release a
/// client may hold needs any more. `base` is where this publish writes
/// the tree (`home` itself, or its staged copy); `current` holds the
/// by-hash paths (below `home`) the new Release names. The Release being
/// replaced, the record and the tree's listing are read at once (three
/// requests in flight, one round trip on S3).
pub fn plan(
    blobs: &dyn BlobStore,
    home: &str,
    base: &str,
    current: &BTreeSet<String>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Pruning> {
    let record_key = format!("{base}/{RECORD}");
    let shown = format!("{home}/{RECORD}");
    let (replaced, recorded, listed) = std::thread::scope(|s| {
        let replaced = s.spawn(|| blobs.get(&format!("{base}/Release")));
        let recorded = s.spawn(|| blobs.get(&record_key));
        let listed = blobs
            .list(&format!("{home}/"))
            .with_context(|| format!("listing {home}/"));
        let join = |h: std::thread::ScopedJoinHandle<'_, _>| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        (join(replaced), join(recorded), listed)
    });
    let since = match recorded? {
        Some(bytes) => parse_record(&shown, &bytes)?,
        None => BTreeMap::new(),
    };
    let previous = match replaced? {
        Some(bytes) => named_by(&String::from_utf8_lossy(&bytes)),
        None => BTreeSet::new(),
    };
    let listed = listed?;
    let now_s = now.timestamp();
    let mut record = BTreeMap::new();
    let mut doomed = Vec::new();
    for o in listed {
        let Some(rel) = o.key.strip_prefix(&format!("{home}/")) else {
            continue;
        };
        if !is_by_hash(&o.key) || current.contains(rel) {
            continue;
        }
        // Named by the Release being replaced: current until now, whatever
        // an earlier (failed) publish recorded. Otherwise the recorded
        // time, or, not known to be superseded at all, now: a whole window.
        let since = match since.get(rel) {
            Some(&t) if !previous.contains(rel) => t,
            _ => now_s,
        };
        let expired =
            now_s - since >= window.num_seconds() && (since < now_s || previous.contains(rel));
        if expired {
            doomed.push(format!("{base}/{rel}"));
        } else {
            record.insert(rel.to_string(), since);
        }
    }
    let text = record
        .iter()
        .map(|(path, t)| format!("{t} {path}\n"))
        .collect();
    Ok(Pruning {
        record: (record_key, text),
        doomed,
    })
}

impl Pruning {
    /// Writes the record (before the Release: nobody reads it but the next
    /// publish, and a publish killed after it only keeps files longer).
    pub fn write_record(&self, blobs: &dyn BlobStore) -> Result<()> {
        let (key, text) = &self.record;
        Ok(blobs.put_bytes(key, text.as_bytes(), PutMode::Overwrite)?)
    }

    /// Deletes the expired files (after the new Release is in place),
    /// `workers` at a time.
    pub fn delete(&self, blobs: &dyn BlobStore, workers: usize) -> Result<usize> {
        parallel(&self.doomed, workers.max(1), |key| {
            match blobs.delete(key) {
                Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })?;
        Ok(self.doomed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_every_algorithm() {
        let text = "Origin: x\nMD5Sum:\n 0a 12 main/binary-amd64/Packages\n 0b 9 main/binary-amd64/Release\nSHA512:\n ff 3 main/source/Sources.gz\n bad\nDate: y\n";
        let got: Vec<String> = named_by(text).into_iter().collect();
        assert_eq!(
            got,
            [
                "main/binary-amd64/by-hash/MD5Sum/0a",
                "main/source/by-hash/SHA512/ff"
            ]
        );
    }

    #[test]
    fn a_broken_record_is_named() {
        let e = parse_record(
            "dists/d/by-hash-superseded",
            b"12 main/by-hash/SHA1/a\nzz\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("dists/d/by-hash-superseded line 2"), "{e}");
        assert!(parse_record("r", b"1 ../../pool/x\n").is_err());
    }
}
