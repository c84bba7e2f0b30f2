//! Backups kept in the repository's own bucket:
//! `backups/<backend name>/<UTC timestamp YYYYMMDDTHHMMSSZ>.json.gz`, each
//! with a small sidecar `<same stem>.info` (JSON: item count, size, sha256
//! of the .gz) written after it, so `backup list` needs no decompression
//! and a restore can check it read the bytes that were stored.
//! Only keys of exactly this shape are ever listed or deleted.

use std::io::Write;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::dump::{dump, DumpStats};
use super::pyjson::Style;
use crate::catalog::{Catalog, Filter};
use crate::digest::sha256_hex;
use crate::store::{BlobStore, PutMode, StoreError};

/// Where a backend's backups live.
pub fn prefix(backend_name: &str) -> String {
    format!("backups/{backend_name}/")
}

const GZ: &str = ".json.gz";
const INFO: &str = ".info";

/// What the sidecar records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupInfo {
    pub items: u64,
    pub names: u64,
    /// Size of the .json.gz in bytes.
    pub size: u64,
    /// sha256 of the .json.gz.
    pub sha256: String,
    /// Creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
}

/// A stored backup, as `backup list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackup {
    pub key: String,
    /// `YYYYMMDDTHHMMSSZ`
    pub timestamp: String,
    /// Disambiguates backups made in the same second (0 for the first).
    pub seq: u32,
    pub size: u64,
    pub info: Option<BackupInfo>,
}

/// Compresses a backup document for the bucket.
pub fn gzip(json: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json)?;
    Ok(gz.finish()?)
}

/// Parses `<ts>.json.gz` or `<ts>-<n>.json.gz` (a file name, no prefix).
fn parse_name(file: &str) -> Option<(String, u32)> {
    let stem = file.strip_suffix(GZ)?;
    let (ts, seq) = match stem.split_once('-') {
        Some((ts, n)) => (ts, n.parse::<u32>().ok().filter(|n| *n > 0)?),
        None => (stem, 0),
    };
    let ok = ts.len() == 16
        && ts.as_bytes()[8] == b'T'
        && ts.ends_with('Z')
        && ts[..8].bytes().all(|b| b.is_ascii_digit())
        && ts[9..15].bytes().all(|b| b.is_ascii_digit());
    ok.then(|| (ts.to_string(), seq))
}

fn info_key(gz_key: &str) -> String {
    format!("{}{INFO}", gz_key.strip_suffix(GZ).unwrap_or(gz_key))
}

/// Stores a compressed backup made at `now`, create-only (a backup is
/// never overwritten; a second one in the same second gets `-1`, `-2`...),
/// then its sidecar. Returns the key.
pub fn store(
    blobs: &dyn BlobStore,
    backend_name: &str,
    gz: &[u8],
    items: u64,
    names: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String> {
    let ts = now.format("%Y%m%dT%H%M%SZ").to_string();
    let info = BackupInfo {
        items,
        names,
        size: gz.len() as u64,
        sha256: sha256_hex(gz),
        created: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    for seq in 0..1000u32 {
        let stem = if seq == 0 {
            ts.clone()
        } else {
            format!("{ts}-{seq}")
        };
        let key = format!("{}{stem}{GZ}", prefix(backend_name));
        match blobs.put_bytes(&key, gz, PutMode::Create) {
            Ok(()) => {
                let sidecar = serde_json::to_vec(&info)?;
                blobs
                    .put_bytes(&info_key(&key), &sidecar, PutMode::Overwrite)
                    .with_context(|| format!("storing {}", info_key(&key)))?;
                return Ok(key);
            }
            Err(StoreError::Exists(_)) => continue,
            Err(e) => return Err(e).with_context(|| format!("storing {key}")),
        }
    }
    bail!("too many backups with timestamp {ts}")
}

/// The stored backups, oldest first.
pub fn list(blobs: &dyn BlobStore, backend_name: &str) -> Result<Vec<StoredBackup>> {
    let pre = prefix(backend_name);
    let objects = blobs
        .list(&pre)
        .with_context(|| format!("listing {pre} in {}", blobs.describe()))?;
    let mut out = Vec::new();
    for o in objects {
        let Some(file) = o.key.strip_prefix(&pre) else {
            continue;
        };
        if file.contains('/') {
            continue;
        }
        let Some((timestamp, seq)) = parse_name(file) else {
            continue;
        };
        let info = match blobs.get(&info_key(&o.key))? {
            Some(bytes) => serde_json::from_slice(&bytes).ok(),
            None => None,
        };
        out.push(StoredBackup {
            key: o.key,
            timestamp,
            seq,
            size: o.size,
            info,
        });
    }
    out.sort_by(|a, b| (&a.timestamp, a.seq).cmp(&(&b.timestamp, b.seq)));
    Ok(out)
}

/// Deletes all stored backups but the newest `keep`; returns the deleted
/// keys. The sidecar goes first, so an interruption leaves at worst a
/// listed backup without its count, never an orphan nobody lists.
pub fn clean(blobs: &dyn BlobStore, backend_name: &str, keep: usize) -> Result<Vec<String>> {
    delete(blobs, &to_clean(blobs, backend_name, keep)?)
}

/// The stored backups `clean` with `keep` would delete, oldest first.
pub fn to_clean(
    blobs: &dyn BlobStore,
    backend_name: &str,
    keep: usize,
) -> Result<Vec<StoredBackup>> {
    let mut all = list(blobs, backend_name)?;
    let cut = all.len().saturating_sub(keep);
    all.truncate(cut);
    Ok(all)
}

/// Deletes the given stored backups (sidecar first); returns their keys.
pub fn delete(blobs: &dyn BlobStore, backups: &[StoredBackup]) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for b in backups {
        match blobs.delete(&info_key(&b.key)) {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e).with_context(|| format!("deleting {}", info_key(&b.key))),
        }
        blobs
            .delete(&b.key)
            .with_context(|| format!("deleting {}", b.key))?;
        deleted.push(b.key.clone());
    }
    Ok(deleted)
}

/// The full key of a stored backup given as a full key, a file name
/// (`20260102T030405Z.json.gz`) or a bare timestamp.
pub fn resolve_key(backend_name: &str, given: &str) -> String {
    if given.contains('/') {
        return given.to_string();
    }
    let file = if given.ends_with(GZ) {
        given.to_string()
    } else {
        format!("{given}{GZ}")
    };
    format!("{}{file}", prefix(backend_name))
}

/// Reads a stored backup, checking it against its sidecar when there is
/// one.
pub fn fetch(blobs: &dyn BlobStore, key: &str) -> Result<Vec<u8>> {
    let bytes = blobs
        .get(key)
        .with_context(|| format!("reading {key} from {}", blobs.describe()))?
        .with_context(|| format!("{key}: no such backup in {}", blobs.describe()))?;
    if let Some(raw) = blobs.get(&info_key(key))? {
        if let Ok(info) = serde_json::from_slice::<BackupInfo>(&raw) {
            let sha = sha256_hex(&bytes);
            if sha != info.sha256 || bytes.len() as u64 != info.size {
                bail!(
                    "{key}: the stored backup does not match its sidecar (sha256 {sha}, {} bytes; expected {}, {} bytes)",
                    bytes.len(),
                    info.sha256,
                    info.size
                );
            }
        }
    }
    Ok(bytes)
}

// Operations on a catalog's own backups, as the commands use them.

/// Where a catalog's backups are, for messages: `backups/<name>/ in <bucket>`.
pub fn location(cat: &Catalog) -> String {
    format!(
        "{} in {}",
        prefix(cat.backend_name()),
        cat.blobs().describe()
    )
}

/// `backup --to-bucket`: dumps the items `filter` selects, gzips the JSON
/// and stores it (create-only) with its sidecar. Returns the key.
pub fn save(
    cat: &Catalog,
    filter: &Filter,
    style: Style,
    progress: &mut dyn FnMut(u64),
) -> Result<(String, DumpStats)> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let stats = dump(cat, filter, style, &mut gz, progress)?;
    let bytes = gz.finish()?;
    let key = store(
        cat.blobs(),
        cat.backend_name(),
        &bytes,
        stats.items,
        stats.names,
        chrono::Utc::now(),
    )?;
    Ok((key, stats))
}

/// The catalog's stored backups, oldest first.
pub fn stored(cat: &Catalog) -> Result<Vec<StoredBackup>> {
    list(cat.blobs(), cat.backend_name())
}

/// The stored backups `backup clean keep` would delete, oldest first.
pub fn cleanable(cat: &Catalog, keep: usize) -> Result<Vec<StoredBackup>> {
    to_clean(cat.blobs(), cat.backend_name(), keep)
}

/// Deletes the given stored backups of the catalog; returns their keys.
pub fn remove(cat: &Catalog, backups: &[StoredBackup]) -> Result<Vec<String>> {
    delete(cat.blobs(), backups)
}

/// The bytes of a stored backup given as `backup list` shows it (a key,
/// file name or timestamp), checked against its sidecar, and its key.
pub fn load(cat: &Catalog, given: &str) -> Result<(Vec<u8>, String)> {
    let key = resolve_key(cat.backend_name(), given);
    Ok((fetch(cat.blobs(), &key)?, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::bucket::DirBucket;
    use chrono::TimeZone;

    fn at(s: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, s).unwrap()
    }

    #[test]
    fn names_parse_only_in_the_exact_shape() {
        assert_eq!(
            parse_name("20260102T030405Z.json.gz"),
            Some(("20260102T030405Z".into(), 0))
        );
        assert_eq!(
            parse_name("20260102T030405Z-3.json.gz"),
            Some(("20260102T030405Z".into(), 3))
        );
        for bad in [
            "20260102T030405Z.json",
            "x.json.gz",
            "20260102T030405Z-0.json.gz",
            "2026010XT030405Z.json.gz",
            "20260102T030405Z-a.json.gz",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn store_list_fetch_and_clean() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        b.put_bytes("backups/local/notes.txt", b"keep me", PutMode::Create)
            .unwrap();
        b.put_bytes("pool/x/y", b"package", PutMode::Create)
            .unwrap();
        let gz = gzip(b"{\"metadata\": {}, \"packages\": {}}\n").unwrap();
        let k1 = store(&b, "local", &gz, 0, 0, at(5)).unwrap();
        let k2 = store(&b, "local", &gz, 0, 0, at(5)).unwrap();
        let k3 = store(&b, "local", &gz, 7, 2, at(9)).unwrap();
        assert_eq!(k1, "backups/local/20260102T030405Z.json.gz");
        assert_eq!(k2, "backups/local/20260102T030405Z-1.json.gz");
        let all = list(&b, "local").unwrap();
        let keys: Vec<&str> = all.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, [k1.as_str(), k2.as_str(), k3.as_str()]);
        assert_eq!(all[2].info.as_ref().unwrap().items, 7);
        assert_eq!(fetch(&b, &k3).unwrap(), gz);
        assert_eq!(resolve_key("local", "20260102T030409Z"), k3);

        let deleted = clean(&b, "local", 1).unwrap();
        assert_eq!(deleted, [k1.clone(), k2.clone()]);
        let left: Vec<String> = b.list("").unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(
            left,
            [
                "backups/local/20260102T030409Z.info",
                k3.as_str(),
                "backups/local/notes.txt",
                "pool/x/y"
            ]
        );
    }

    #[test]
    fn a_tampered_backup_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        let gz = gzip(b"{}").unwrap();
        let k = store(&b, "local", &gz, 0, 0, at(1)).unwrap();
        b.put_bytes(&k, &gzip(b"[]").unwrap(), PutMode::Overwrite)
            .unwrap();
        let e = fetch(&b, &k).unwrap_err().to_string();
        assert!(e.contains("does not match its sidecar"), "{e}");
    }
}
