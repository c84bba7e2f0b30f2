//! Backups kept in the repository's own bucket:
//! `backups/<backend name>/<UTC timestamp YYYYMMDDTHHMMSSZ>.json.gz`, each
//! with a small sidecar `<same stem>.info` (JSON: item count, size, sha256
//! of the .gz) written after it, so `backup list` needs no decompression
//! and a restore can check it read the bytes that were stored.
//! Only keys of exactly this shape are ever listed or deleted.
//!
//! A backup is either full (the original's JSON) or an increment on a base
//! (see [`chain`](super::chain)); the sidecar says which and names the
//! base. The sidecar is written last and is the backup's commit record: a
//! data object without one (a crash in between) is incomplete, never a
//! restore point nor a base.

use std::io::Write;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::chain::{Increment, State};
use super::crypt::{decrypt, encrypt, Identities};
use super::dump::{dump, retrying, DumpStats, ATTEMPTS, RETRY_PAUSE};
use super::pyjson::Style;
use super::validate::decompress;
use crate::catalog::{Catalog, Filter};
use crate::digest::sha256_hex;
use crate::store::{BlobStore, PutMode, PutOptions, StoreError};
use age::x25519::Recipient;

/// Where a backend's backups live.
pub fn prefix(backend_name: &str) -> String {
    format!("backups/{backend_name}/")
}

const GZ: &str = ".json.gz";
/// The suffix of a backup encrypted with age (`age(gzip(json))`).
const AGE: &str = ".age";
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
    /// An increment's base (its key); none for a full backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// How many package names an increment removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
}

/// What a new stored backup holds, for its sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub items: u64,
    pub names: u64,
    pub base: Option<String>,
    pub removed: Option<u64>,
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

impl StoredBackup {
    /// Its sidecar was written: a restore point (and a possible base).
    pub fn complete(&self) -> bool {
        self.info.is_some()
    }

    /// The key of the backup this one is an increment on.
    pub fn base(&self) -> Option<&str> {
        self.info.as_ref().and_then(|i| i.base.as_deref())
    }

    /// `full`, `incremental`, or `incomplete` (no sidecar).
    pub fn kind(&self) -> &'static str {
        match (&self.info, self.base()) {
            (None, _) => "incomplete",
            (Some(_), None) => "full",
            (Some(_), Some(_)) => "incremental",
        }
    }
}

/// Compresses a backup document for the bucket.
pub fn gzip(json: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json)?;
    Ok(gz.finish()?)
}

/// Parses `<ts>.json.gz` or `<ts>-<n>.json.gz`, each optionally followed
/// by `.age` (a file name, no prefix).
fn parse_name(file: &str) -> Option<(String, u32)> {
    let stem = file.strip_suffix(AGE).unwrap_or(file).strip_suffix(GZ)?;
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

/// `<stem>.info` for `<stem>.json.gz[.age]`.
fn info_key(key: &str) -> String {
    format!("{}{INFO}", stem(key))
}

/// A backup's key without `.json.gz[.age]`.
fn stem(key: &str) -> &str {
    let k = key.strip_suffix(AGE).unwrap_or(key);
    k.strip_suffix(GZ).unwrap_or(k)
}

/// Stores a compressed (and maybe encrypted: `encrypted` picks the
/// `.age` suffix) backup made at `now`, create-only (a backup is never
/// overwritten; a second one in the same second gets `-1`, `-2`...), then
/// its sidecar, create-only too. Returns the key.
///
/// Both are conditional creates (`If-None-Match: *` on S3), the only kind
/// of write a principal with `iam-policy --backup-only` may make: a second
/// backup never replaces the first. Both get `opts`' server-side
/// encryption; the storage class is the data object's only (the sidecar,
/// which `backup list` reads, stays readable at once and costs no minimum
/// size).
pub fn store(
    blobs: &dyn BlobStore,
    backend_name: &str,
    gz: &[u8],
    encrypted: bool,
    contents: Contents,
    now: chrono::DateTime<chrono::Utc>,
    opts: &PutOptions,
) -> Result<String> {
    let sidecar_opts = PutOptions {
        storage_class: None,
        ..opts.clone()
    };
    let ts = now.format("%Y%m%dT%H%M%SZ").to_string();
    let info = BackupInfo {
        items: contents.items,
        names: contents.names,
        size: gz.len() as u64,
        sha256: sha256_hex(gz),
        created: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        base: contents.base,
        removed: contents.removed,
    };
    for seq in 0..1000u32 {
        let stem = if seq == 0 {
            ts.clone()
        } else {
            format!("{ts}-{seq}")
        };
        let suffix = if encrypted { AGE } else { "" };
        let key = format!("{}{stem}{GZ}{suffix}", prefix(backend_name));
        match blobs.put_bytes_with(&key, gz, PutMode::Create, opts) {
            Ok(()) => {
                let sidecar = serde_json::to_vec(&info)?;
                blobs
                    .put_bytes_with(&info_key(&key), &sidecar, PutMode::Create, &sidecar_opts)
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

/// Deletes the stored backups `backup clean keep` would; returns the
/// deleted keys.
pub fn clean(blobs: &dyn BlobStore, backend_name: &str, keep: usize) -> Result<Vec<String>> {
    delete(blobs, &to_clean(blobs, backend_name, keep)?)
}

/// The stored backups `clean` with `keep` would delete, newest first (so
/// an interruption never leaves an increment whose base is gone): all but
/// the newest `keep` restore points and the bases they need. Incomplete
/// backups go too, unless newer than every restore point (one may still be
/// being written).
pub fn to_clean(
    blobs: &dyn BlobStore,
    backend_name: &str,
    keep: usize,
) -> Result<Vec<StoredBackup>> {
    let all = list(blobs, backend_name)?;
    let points: Vec<&StoredBackup> = all.iter().filter(|b| b.complete()).collect();
    let kept = &points[points.len().saturating_sub(keep)..];
    let mut needed: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for p in kept {
        for b in chain_of(&all, &p.key)? {
            needed.insert(&b.key);
        }
    }
    let newest_point = points.last().map(|p| (&p.timestamp, p.seq));
    let mut doomed: Vec<StoredBackup> = all
        .iter()
        .filter(|b| !needed.contains(b.key.as_str()))
        .filter(|b| b.complete() || newest_point.is_some_and(|n| (&b.timestamp, b.seq) < n))
        .cloned()
        .collect();
    doomed.reverse();
    Ok(doomed)
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
    let file = if given.ends_with(GZ) || given.ends_with(&format!("{GZ}{AGE}")) {
        given.to_string()
    } else {
        format!("{given}{GZ}")
    };
    format!("{}{file}", prefix(backend_name))
}

/// The stored backup given as a key, a file name
/// (`20260102T030405Z.json.gz`), a bare timestamp, or `latest` (the newest
/// restore point).
pub fn find<'a>(
    all: &'a [StoredBackup],
    backend_name: &str,
    given: &str,
) -> Result<&'a StoredBackup> {
    if given == "latest" {
        return all
            .iter()
            .rev()
            .find(|b| b.complete())
            .with_context(|| format!("no complete backup stored under {}", prefix(backend_name)));
    }
    let key = resolve_key(backend_name, given);
    all.iter()
        .find(|b| b.key == key || stem(&b.key) == stem(&key))
        .with_context(|| format!("{key}: no such backup"))
}

/// The chain that restores `key`: its full backup first, `key` last.
pub fn chain_of<'a>(all: &'a [StoredBackup], key: &str) -> Result<Vec<&'a StoredBackup>> {
    let mut chain = Vec::new();
    let mut cur = key;
    loop {
        let b = all.iter().find(|b| b.key == cur).with_context(|| {
            format!(
                "{cur}: missing, but {} needs it",
                chain.last().map_or(key, |b: &&StoredBackup| b.key.as_str())
            )
        })?;
        if chain.iter().any(|c: &&StoredBackup| c.key == b.key) || chain.len() > all.len() {
            bail!("{key}: its chain of bases loops");
        }
        chain.push(b);
        match b.base() {
            Some(base) => cur = base,
            None => break,
        }
    }
    chain.reverse();
    Ok(chain)
}

/// The state a stored backup restores: its chain read (each object checked
/// against its sidecar, each increment against its base's digest) and
/// replayed.
pub fn state_at(
    blobs: &dyn BlobStore,
    all: &[StoredBackup],
    key: &str,
    ids: Option<&Identities>,
) -> Result<State> {
    let chain = chain_of(all, key)?;
    let mut state = State::default();
    let mut prev_sha: Option<String> = None;
    for b in chain {
        let raw = fetch(blobs, &b.key)?;
        let gz = decrypt(ids, &raw, &b.key)?;
        let json = decompress(&gz).map_err(|e| anyhow::anyhow!("{}: {e}", b.key))?;
        match b.base() {
            None => {
                state = State::from_full(&json)
                    .with_context(|| format!("{}: not a valid backup", b.key))?
            }
            Some(base) => {
                let inc = super::chain::Increment::parse(&json)
                    .with_context(|| format!("{}: not a valid increment", b.key))?;
                if inc.base != base || Some(&inc.base_sha256) != prev_sha.as_ref() {
                    bail!(
                        "{}: its base is not the stored {base} (the base was replaced, or the sidecar does not belong to it)",
                        b.key
                    );
                }
                state
                    .apply(&json)
                    .with_context(|| format!("{}: cannot be applied to its base", b.key))?;
            }
        }
        prev_sha = Some(sha256_hex(&raw));
    }
    Ok(state)
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
/// and stores it (create-only) with its sidecar. Returns the key. A dump
/// the state changed under is made again (see [`retrying`]).
pub fn save(
    cat: &Catalog,
    filter: &Filter,
    style: Style,
    to: &[Recipient],
    opts: &PutOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<(String, DumpStats)> {
    cat.blobs().check_put_options(opts)?;
    let (gz, stats) = retrying(ATTEMPTS, RETRY_PAUSE, &mut || {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let stats = dump(cat, filter, style, &mut gz, &mut *progress)?;
        Ok((gz.finish()?, stats))
    })?;
    let bytes = seal(to, gz)?;
    let contents = Contents {
        items: stats.items,
        names: stats.names,
        ..Contents::default()
    };
    let key = store(
        cat.blobs(),
        cat.backend_name(),
        &bytes,
        !to.is_empty(),
        contents,
        chrono::Utc::now(),
        opts,
    )?;
    Ok((key, stats))
}

/// What `backup --to-bucket --incremental` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub key: String,
    pub base: String,
    pub contents: Contents,
}

/// `backup --to-bucket --incremental`: the whole state compared with the
/// newest restore point (its chain replayed), and what changed stored as
/// an increment on it. Data first, sidecar last.
pub fn save_incremental(
    cat: &Catalog,
    to: &[Recipient],
    ids: Option<&Identities>,
    opts: &PutOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Saved> {
    let blobs = cat.blobs();
    blobs.check_put_options(opts)?;
    let all = stored(cat)?;
    let base = all.iter().rev().find(|b| b.complete()).with_context(|| {
        format!(
            "no complete backup under {} to base an increment on: make a full one first (backup --to-bucket)",
            location(cat)
        )
    })?;
    let base_state = state_at(blobs, &all, &base.key, ids)?;
    let base_sha = base
        .info
        .as_ref()
        .map(|i| i.sha256.clone())
        .unwrap_or_default();
    let now = retrying(ATTEMPTS, RETRY_PAUSE, &mut || {
        let mut now = Vec::new();
        dump(
            cat,
            &Filter::default(),
            Style::Compact,
            &mut now,
            &mut *progress,
        )?;
        Ok(now)
    })?;
    let now = State::from_full(&now)?;
    let inc = Increment::between(&base_state, &now, &base.key, &base_sha);
    let contents = Contents {
        items: inc.items(),
        names: inc.packages.len() as u64,
        base: Some(base.key.clone()),
        removed: Some(inc.removed.len() as u64),
    };
    let gz = seal(to, gzip(&inc.to_json())?)?;
    let key = store(
        blobs,
        cat.backend_name(),
        &gz,
        !to.is_empty(),
        contents.clone(),
        chrono::Utc::now(),
        opts,
    )?;
    Ok(Saved {
        key,
        base: base.key.clone(),
        contents,
    })
}

/// The stored bytes: `gz` encrypted when there are recipients.
fn seal(to: &[Recipient], gz: Vec<u8>) -> Result<Vec<u8>> {
    if to.is_empty() {
        Ok(gz)
    } else {
        encrypt(to, &gz)
    }
}

/// The catalog's stored backups, oldest first.
pub fn stored(cat: &Catalog) -> Result<Vec<StoredBackup>> {
    list(cat.blobs(), cat.backend_name())
}

/// The stored backups `backup clean keep` would delete, newest first.
pub fn cleanable(cat: &Catalog, keep: usize) -> Result<Vec<StoredBackup>> {
    to_clean(cat.blobs(), cat.backend_name(), keep)
}

/// Deletes the given stored backups of the catalog; returns their keys.
pub fn remove(cat: &Catalog, backups: &[StoredBackup]) -> Result<Vec<String>> {
    delete(cat.blobs(), backups)
}

/// The bytes of the full backup a stored backup restores, given as
/// `backup list` shows it (a key, file name or timestamp) or `latest`, and
/// its key. A full backup's bytes are the stored ones (checked against the
/// sidecar); an increment's chain is replayed into the full backup of that
/// point.
pub fn load(cat: &Catalog, given: &str, ids: Option<&Identities>) -> Result<(Vec<u8>, String)> {
    let all = stored(cat)?;
    let key = match find(&all, cat.backend_name(), given) {
        Ok(b) => b.key.clone(),
        // Not listed (say, another shape of key): read it as given.
        Err(_) if given != "latest" => resolve_key(cat.backend_name(), given),
        Err(e) => return Err(e),
    };
    match all.iter().find(|b| b.key == key).and_then(|b| b.base()) {
        Some(_) => Ok((
            state_at(cat.blobs(), &all, &key, ids)?.render(Style::Compact),
            key,
        )),
        None => Ok((decrypt(ids, &fetch(cat.blobs(), &key)?, &key)?, key)),
    }
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
        let k1 = store(
            &b,
            "local",
            &gz,
            false,
            Contents::default(),
            at(5),
            &PutOptions::default(),
        )
        .unwrap();
        let k2 = store(
            &b,
            "local",
            &gz,
            false,
            Contents::default(),
            at(5),
            &PutOptions::default(),
        )
        .unwrap();
        let k3 = store(
            &b,
            "local",
            &gz,
            false,
            Contents {
                items: 7,
                names: 2,
                ..Contents::default()
            },
            at(9),
            &PutOptions::default(),
        )
        .unwrap();
        assert_eq!(k1, "backups/local/20260102T030405Z.json.gz");
        assert_eq!(k2, "backups/local/20260102T030405Z-1.json.gz");
        let all = list(&b, "local").unwrap();
        let keys: Vec<&str> = all.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, [k1.as_str(), k2.as_str(), k3.as_str()]);
        assert_eq!(all[2].info.as_ref().unwrap().items, 7);
        assert_eq!(fetch(&b, &k3).unwrap(), gz);
        assert_eq!(resolve_key("local", "20260102T030409Z"), k3);

        let deleted = clean(&b, "local", 1).unwrap();
        assert_eq!(deleted, [k2.clone(), k1.clone()]);
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
    fn a_directory_bucket_refuses_server_side_options_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        let gz = gzip(b"{}").unwrap();
        for opts in [
            PutOptions::parse(Some("aws:kms"), None, None, None).unwrap(),
            PutOptions::parse(None, None, Some("standard_ia"), None).unwrap(),
        ] {
            let e = store(&b, "local", &gz, false, Contents::default(), at(1), &opts).unwrap_err();
            let e = format!("{e:#}");
            assert!(e.contains("apply to an S3 bucket only"), "{e}");
        }
        assert!(b.list("").unwrap().is_empty());
        // A rate limit has nothing to cap on a directory: the backup is stored.
        let paced = PutOptions::parse(None, None, None, Some("300k")).unwrap();
        store(&b, "local", &gz, false, Contents::default(), at(1), &paced).unwrap();
    }

    #[test]
    fn put_options_are_validated_with_one_line_errors() {
        let ok = PutOptions::parse(
            Some("AWS:KMS"),
            Some("alias/backups"),
            Some("standard_ia"),
            Some("2M"),
        )
        .unwrap();
        assert_eq!(
            ok,
            PutOptions {
                sse: Some(crate::store::Sse::Kms {
                    key_id: Some("alias/backups".into())
                }),
                storage_class: Some("STANDARD_IA".into()),
                rate_limit: Some(2 << 20),
            }
        );
        assert_eq!(
            PutOptions::parse(Some("aes256"), None, None, None)
                .unwrap()
                .sse,
            Some(crate::store::Sse::Aes256)
        );
        for (sse, key, class, rate, why) in [
            (Some("kms"), None, None, None, "backup-sse \"kms\""),
            (
                Some("AES256"),
                Some("k"),
                None,
                None,
                "needs backup-sse aws:kms",
            ),
            (None, Some("k"), None, None, "needs backup-sse aws:kms"),
            (
                Some("aws:kms"),
                Some("a key"),
                None,
                None,
                "backup-sse-kms-key-id",
            ),
            (
                None,
                None,
                Some("COLD"),
                None,
                "backup-storage-class \"COLD\"",
            ),
            (None, None, None, Some("fast"), "backup-rate-limit \"fast\""),
        ] {
            let e = PutOptions::parse(sse, key, class, rate).unwrap_err();
            assert!(e.contains(why) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_tampered_backup_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        let gz = gzip(b"{}").unwrap();
        let k = store(
            &b,
            "local",
            &gz,
            false,
            Contents::default(),
            at(1),
            &PutOptions::default(),
        )
        .unwrap();
        b.put_bytes(&k, &gzip(b"[]").unwrap(), PutMode::Overwrite)
            .unwrap();
        let e = fetch(&b, &k).unwrap_err().to_string();
        assert!(e.contains("does not match its sidecar"), "{e}");
    }
}
