//! `migrate --from-export`: a SimpleDB domain export (SimpleDB v2's
//! `start-domain-export`) read from a bucket, checked as a whole as a
//! restore checks a backup, then written into the state store the way
//! `migrate --to` writes.
//!
//! The layout (AWS's SimpleDB developer guide, "Understanding Exported
//! Data in Amazon S3"), under `AWSSimpleDB/<exportId>/<domain>/`:
//! `_started`; `data/dataFile_<ids>.json`, each a JSON array of
//! `{"itemName": .., "attributes": [{"name": .., "values": [..]}]}`;
//! `manifest-file.json`, per data file its `md5Checksum` (base64),
//! `dataFileS3Key` and `dataFileItemCount`; and `manifest-summary.json`
//! (`domainName`, `s3ExportPrefix`, `itemsCount`, ...), written last, so an
//! export without it is incomplete.
//!
//! Nothing in it is trusted. Before anything is written:
//! * the summary and the manifest exist and agree with the directory
//!   (domain, prefix) and with each other (item counts);
//! * every data file the manifest lists is a plain name under the export's
//!   `data/`, present and listed once, and the export holds nothing else;
//! * each data file's MD5 and item count match the manifest;
//! * item names are unique across the files;
//! * `meta` passes restore's checks of a backup's metadata and has the
//!   three lists; every other item is a package item that passes restore's
//!   checks of a backup item (`backup::validate`, which applies `rules`),
//!   and its name is the key its attributes give;
//! * `publish-generations` (publish's per-distribution counters) is
//!   checked (distribution names, one decimal number each) but not
//!   imported: the counters order the publishes made against one store,
//!   and the target keeps its own; `published-releases` (what publish last
//!   wrote to the bucket) is not imported either.
//!
//! Data files are downloaded once into a private temporary directory
//! (memory holds one file at a time), checked file by file, then read
//! again and written file by file: package items, then deletions of the
//! items the export lacks, the configuration (`meta`) last. Only what
//! differs is written, so a re-run converges; at the end the store is read
//! again and compared with the export item by item.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::{canonical_line, digest, item_change, read_all, write, Migration};
use crate::backup::jvalue::JValue;
use crate::backup::restore::missing_config;
use crate::backup::validate::{parse_backup, seg, Backup};
use crate::model::{Attrs, RepoConfig, META_ITEM};
use crate::publish::GENERATIONS_ITEM;
use crate::rules::{check_setting, Setting};
use crate::store::{BlobStore, Change, MetaStore, ObjectInfo};

/// The summary version this reader knows.
pub const SUMMARY_VERSION: &str = "2025-11-01";
pub const SUMMARY: &str = "manifest-summary.json";
pub const MANIFEST: &str = "manifest-file.json";
pub const STARTED: &str = "_started";
/// Larger manifests are refused rather than read into memory.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Larger data files are refused (one is parsed in memory at a time).
const MAX_DATA_FILE_BYTES: u64 = 1 << 30;
/// Problems kept for the report; the rest are counted.
const MAX_PROBLEMS: usize = 1000;

/// An export refused: every problem found, each `KEY: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `s3://BUCKET/PREFIX` as given.
    pub source: String,
    pub problems: Vec<String>,
    /// Problems found beyond those kept.
    pub more: usize,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let first = self.problems.first().map(String::as_str).unwrap_or("?");
        let rest = self.problems.len() + self.more - 1;
        write!(f, "{}: not a valid SimpleDB export: {first}", self.source)?;
        if rest > 0 {
            write!(f, " (and {rest} more problem(s))")?;
        }
        write!(f, "; nothing was written")
    }
}

impl std::error::Error for Refusal {}

#[derive(Default)]
struct Problems {
    list: Vec<String>,
    more: usize,
}

impl Problems {
    fn add(&mut self, at: &str, reason: impl fmt::Display) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(format!("{at}: {reason}"));
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn refusal(self, source: &str) -> Refusal {
        Refusal {
            source: source.to_string(),
            problems: self.list,
            more: self.more,
        }
    }
}

/// `s3://BUCKET/PREFIX` as the bucket's URL (`s3://BUCKET`) and the prefix
/// (without leading or trailing `/`; empty for the whole bucket).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("export URL {url:?}: expected s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("export URL {url:?}: no bucket"));
    }
    Ok((
        format!("s3://{bucket}"),
        prefix.trim_matches('/').to_string(),
    ))
}

/// One data file the manifest lists.
#[derive(Debug, Clone)]
struct DataFile {
    key: String,
    md5: Vec<u8>,
    count: u64,
    size: u64,
}

/// An export that passed every check, ready to be written.
pub struct Checked {
    /// `s3://BUCKET/DIR`, for messages and the announcement.
    pub source: String,
    /// The export's directory in the bucket.
    pub dir: String,
    pub domain: String,
    /// Package items.
    pub packages: usize,
    /// Things the user should know (items skipped, re-split, hidden).
    pub notes: Vec<String>,
    /// Each data file's key and its checked copy.
    files: Vec<(String, PathBuf)>,
    _spool: tempfile::TempDir,
}

/// What an item of the export is, once checked.
enum Entry {
    Meta(Attrs),
    Generations,
    Package { attrs: Attrs, repacked: bool },
}

/// Finds the export under `prefix` of `blobs`, and checks all of it.
/// `Err` holds a [`Refusal`] when the export is at fault.
pub fn check(blobs: &dyn BlobStore, prefix: &str) -> Result<Checked> {
    let shown = format!("{}/{prefix}", blobs.describe());
    let listing = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let objects = blobs
        .list(&listing)
        .with_context(|| format!("listing {shown}"))?;
    let dir = locate(&objects, prefix).map_err(|why| Refusal {
        source: shown.clone(),
        problems: vec![why],
        more: 0,
    })?;
    let source = format!("{}/{dir}", blobs.describe());
    let domain = dir.rsplit('/').next().unwrap_or_default().to_string();
    let own: Vec<&ObjectInfo> = objects
        .iter()
        .filter(|o| o.key.starts_with(&format!("{dir}/")))
        .collect();
    let mut p = Problems::default();
    let files = manifests(blobs, &dir, &domain, &own, &mut p)?;
    if !p.is_empty() {
        return Err(p.refusal(&source).into());
    }

    let spool = tempfile::tempdir().context("creating a temporary directory")?;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut meta = None;
    let mut packages = 0;
    let mut repacked = 0;
    let mut skipped = Vec::new();
    let mut places: Vec<[String; 3]> = Vec::new();
    let mut spooled = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let path = spool.path().join(format!("{i}.json"));
        if !download(blobs, f, &path, &mut p)? {
            continue;
        }
        let Some(items) = read_items(&f.key, &path, &mut p)? else {
            continue;
        };
        if items.len() as u64 != f.count {
            p.add(
                &f.key,
                format!("holds {} items, {MANIFEST} says {}", items.len(), f.count),
            );
        }
        for (n, v) in items.iter().enumerate() {
            let Some((name, entry)) = check_item(&mut p, &f.key, n, v) else {
                continue;
            };
            if let Some(other) = names.get(&name) {
                p.add(
                    &f.key,
                    format!("item {name:?} is also in {other} (item names are unique)"),
                );
                continue;
            }
            names.insert(name.clone(), f.key.clone());
            match entry {
                Entry::Meta(m) => meta = Some(m),
                Entry::Generations => skipped.push(name),
                Entry::Package { attrs, repacked: r } => {
                    packages += 1;
                    repacked += usize::from(r);
                    places.push(["distribution", "component", "architecture"].map(|a| {
                        attrs
                            .get(a)
                            .and_then(|v| v.first())
                            .cloned()
                            .unwrap_or_default()
                    }));
                }
            }
        }
        spooled.push((f.key.clone(), path));
    }
    let mut notes = Vec::new();
    match &meta {
        None => p.add(
            &dir,
            format!("no `{META_ITEM}` item: the export holds no repository configuration"),
        ),
        Some(m) => {
            let missing = missing_config(&Backup {
                metadata: m.clone(),
                ..Backup::default()
            });
            if !missing.is_empty() {
                p.add(
                    &format!("{}: item {META_ITEM:?}", names[META_ITEM]),
                    format!("the configuration has no {}", missing.join(", ")),
                );
            }
            let config = RepoConfig::from_attrs(m);
            let hidden = places
                .iter()
                .filter(|[d, c, a]| {
                    !(config.has_dist(d) && config.has_comp(c) && config.has_arch(a))
                })
                .count();
            if hidden > 0 {
                notes.push(format!(
                    "{hidden} package item(s) are in a distribution, component or architecture the configuration does not serve (hidden from queries and publish; see them with -H)"
                ));
            }
        }
    }
    if !p.is_empty() {
        return Err(p.refusal(&source).into());
    }
    for name in skipped {
        let what = match name == GENERATIONS_ITEM {
            true => "publish's counters",
            false => "publish's record of what it wrote",
        };
        notes.push(format!(
            "item {name:?} ({what}) is not imported: the store keeps its own"
        ));
    }
    if repacked > 0 {
        notes.push(format!(
            "{repacked} item(s) had control text re-split into larger fragments to fit SimpleDB's limits"
        ));
    }
    Ok(Checked {
        source,
        dir,
        domain,
        packages,
        notes,
        files: spooled,
        _spool: spool,
    })
}

/// The export directory: `prefix` itself, or the one export below it.
fn locate(objects: &[ObjectInfo], prefix: &str) -> Result<String, String> {
    let mut dirs = BTreeSet::new();
    for o in objects {
        let k = o.key.as_str();
        let dir = [SUMMARY, MANIFEST, STARTED]
            .iter()
            .find_map(|f| k.strip_suffix(f).and_then(|d| d.strip_suffix('/')))
            .or_else(|| k.rsplit_once("/data/").map(|(d, _)| d));
        if let Some(d) = dir {
            dirs.insert(d);
        }
    }
    let at = if prefix.is_empty() {
        "the bucket".to_string()
    } else {
        format!("{prefix:?}")
    };
    match dirs.len() {
        0 => Err(format!(
            "no SimpleDB export under {at} (no {SUMMARY}, {MANIFEST} or data/)"
        )),
        1 => Ok(dirs.into_iter().next().expect("one").to_string()),
        n => Err(format!(
            "{n} SimpleDB exports under {at} ({}): name one of them",
            dirs.into_iter().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Reads and checks both manifests against the directory's objects;
/// returns the data files.
fn manifests(
    blobs: &dyn BlobStore,
    dir: &str,
    domain: &str,
    own: &[&ObjectInfo],
    p: &mut Problems,
) -> Result<Vec<DataFile>> {
    let sizes: BTreeMap<&str, u64> = own.iter().map(|o| (o.key.as_str(), o.size)).collect();
    let summary_key = format!("{dir}/{SUMMARY}");
    let manifest_key = format!("{dir}/{MANIFEST}");
    let Some(summary) = read_json(blobs, &summary_key, sizes.get(summary_key.as_str()), p)? else {
        if !sizes.contains_key(summary_key.as_str()) {
            p.add(
                &summary_key,
                "missing: the export is incomplete (AWS writes it last)",
            );
        }
        return Ok(Vec::new());
    };
    let items_count = check_summary(&summary_key, &summary, dir, domain, p);
    let Some(manifest) = read_json(blobs, &manifest_key, sizes.get(manifest_key.as_str()), p)?
    else {
        if !sizes.contains_key(manifest_key.as_str()) {
            p.add(&manifest_key, "missing: the export lists no data files");
        }
        return Ok(Vec::new());
    };
    let files = check_manifest(&manifest_key, &manifest, dir, &sizes, p);
    let listed: u64 = files.iter().map(|f| f.count).sum();
    if let Some(n) = items_count {
        if n != listed {
            p.add(
                &summary_key,
                format!("itemsCount is {n}, but {MANIFEST} lists {listed} items"),
            );
        }
    }
    let expected: BTreeSet<&str> = files.iter().map(|f| f.key.as_str()).collect();
    for o in own {
        let k = o.key.as_str();
        if k != summary_key
            && k != manifest_key
            && k != format!("{dir}/{STARTED}")
            && !expected.contains(k)
        {
            p.add(
                k,
                format!("not part of the export (not listed in {MANIFEST})"),
            );
        }
    }
    Ok(files)
}

/// A small JSON object of the export, or `None` (with a problem when it
/// exists but cannot be read as JSON).
fn read_json(
    blobs: &dyn BlobStore,
    key: &str,
    size: Option<&u64>,
    p: &mut Problems,
) -> Result<Option<JValue>> {
    let Some(&size) = size else { return Ok(None) };
    if size > MAX_MANIFEST_BYTES {
        p.add(key, format!("{size} bytes: too large for a manifest"));
        return Ok(None);
    }
    let Some(bytes) = blobs.get(key).with_context(|| format!("reading {key}"))? else {
        p.add(key, "listed, but gone when read");
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            p.add(key, format!("not valid JSON: {e}"));
            Ok(None)
        }
    }
}

/// An object's fields, with a problem for each duplicate.
fn fields<'a>(p: &mut Problems, at: &str, v: &'a JValue) -> Option<HashMap<&'a str, &'a JValue>> {
    let JValue::Object(entries) = v else {
        p.add(at, format!("expected an object, found {}", v.kind()));
        return None;
    };
    let mut out = HashMap::new();
    let mut ok = true;
    for (k, v) in entries {
        if out.insert(k.as_str(), v).is_some() {
            p.add(at, format!("duplicate key {k:?}"));
            ok = false;
        }
    }
    ok.then_some(out)
}

/// A JSON number that is a whole count.
fn count_of(v: &JValue) -> Option<u64> {
    match v {
        JValue::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 9e15 => Some(*n as u64),
        _ => None,
    }
}

fn string_of<'a>(v: Option<&&'a JValue>) -> Option<&'a str> {
    match v {
        Some(JValue::String(s)) => Some(s),
        _ => None,
    }
}

/// The summary's checks; returns its `itemsCount`.
fn check_summary(key: &str, v: &JValue, dir: &str, domain: &str, p: &mut Problems) -> Option<u64> {
    let f = fields(p, key, v)?;
    match string_of(f.get("version")) {
        Some(SUMMARY_VERSION) => {}
        other => p.add(
            key,
            format!("version {other:?}: this reads version {SUMMARY_VERSION:?}"),
        ),
    }
    if string_of(f.get("domainName")) != Some(domain) {
        p.add(
            key,
            format!(
                "domainName {:?} is not the export's directory name {domain:?}",
                string_of(f.get("domainName"))
            ),
        );
    }
    let prefix = string_of(f.get("s3ExportPrefix")).map(|s| s.trim_matches('/'));
    if prefix != Some(dir) {
        p.add(
            key,
            format!("s3ExportPrefix {prefix:?} is not where the export is ({dir:?})"),
        );
    }
    let arn = string_of(f.get("exportArn")).unwrap_or_default();
    if !arn.starts_with("arn:") || !arn.contains(&format!(":domain/{domain}/export/")) {
        p.add(
            key,
            format!("exportArn {arn:?} is not an export of domain {domain:?}"),
        );
    }
    let n = f.get("itemsCount").and_then(|v| count_of(v));
    if n.is_none() {
        p.add(key, "itemsCount is not a count");
    }
    n
}

/// The manifest's checks; returns the data files it lists that pass.
fn check_manifest(
    key: &str,
    v: &JValue,
    dir: &str,
    sizes: &BTreeMap<&str, u64>,
    p: &mut Problems,
) -> Vec<DataFile> {
    let JValue::Array(entries) = v else {
        p.add(key, format!("expected a list, found {}", v.kind()));
        return Vec::new();
    };
    let data_dir = format!("{dir}/data/");
    let mut out: Vec<DataFile> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{key}: entry #{i}");
        let Some(f) = fields(p, &at, e) else { continue };
        let mut ok = true;
        for k in f.keys() {
            if !matches!(*k, "md5Checksum" | "dataFileS3Key" | "dataFileItemCount") {
                p.add(&at, format!("unexpected key {k:?}"));
                ok = false;
            }
        }
        let file = string_of(f.get("dataFileS3Key"));
        let md5 = string_of(f.get("md5Checksum"))
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .filter(|d| d.len() == 16);
        let count = f.get("dataFileItemCount").and_then(|v| count_of(v));
        let Some(file) = file else {
            p.add(&at, "dataFileS3Key is not a string");
            continue;
        };
        let name = file.strip_prefix(&data_dir);
        if !name.is_some_and(|n| !n.is_empty() && !n.contains('/') && n != "." && n != "..") {
            p.add(
                &at,
                format!("dataFileS3Key {file:?} is not a file under the export's {data_dir}"),
            );
            continue;
        }
        if md5.is_none() {
            p.add(file, "md5Checksum is not a base64 MD5 digest");
            ok = false;
        }
        if count.is_none() {
            p.add(file, "dataFileItemCount is not a count");
            ok = false;
        }
        let Some(&size) = sizes.get(file) else {
            p.add(file, format!("listed in {MANIFEST} but not in the bucket"));
            continue;
        };
        if out.iter().any(|d| d.key == file) {
            p.add(file, format!("listed twice in {MANIFEST}"));
            continue;
        }
        if let (true, Some(md5), Some(count)) = (ok, md5, count) {
            out.push(DataFile {
                key: file.to_string(),
                md5,
                count,
                size,
            });
        }
    }
    out
}

/// Copies a data file to `path`, checking its MD5; `false` (and a
/// problem) when it does not match.
fn download(
    blobs: &dyn BlobStore,
    f: &DataFile,
    path: &std::path::Path,
    p: &mut Problems,
) -> Result<bool> {
    if f.size > MAX_DATA_FILE_BYTES {
        p.add(
            &f.key,
            format!(
                "{} bytes: larger than the {MAX_DATA_FILE_BYTES} bytes read",
                f.size
            ),
        );
        return Ok(false);
    }
    struct Hashing<W> {
        out: W,
        md5: Md5,
        len: u64,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.len += buf.len() as u64;
            if self.len > MAX_DATA_FILE_BYTES {
                return Err(std::io::Error::other("larger than listed"));
            }
            self.md5.update(buf);
            self.out.write_all(buf)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.out.flush()
        }
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut h = Hashing {
        out: BufWriter::new(file),
        md5: Md5::new(),
        len: 0,
    };
    blobs
        .read(&f.key, &mut h)
        .with_context(|| format!("reading {}", f.key))?;
    h.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    let got = h.md5.finalize();
    if got.as_slice() != f.md5.as_slice() {
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        p.add(
            &f.key,
            format!(
                "MD5 {} does not match {MANIFEST} ({})",
                b64(&got),
                b64(&f.md5)
            ),
        );
        return Ok(false);
    }
    Ok(true)
}

/// A data file's items (a JSON array), or `None` with a problem.
fn read_items(key: &str, path: &std::path::Path, p: &mut Problems) -> Result<Option<Vec<JValue>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_slice::<JValue>(&bytes) {
        Ok(JValue::Array(items)) => Ok(Some(items)),
        Ok(other) => {
            p.add(
                key,
                format!("expected a list of items, found {}", other.kind()),
            );
            Ok(None)
        }
        Err(e) => {
            p.add(key, format!("not valid JSON: {e}"));
            Ok(None)
        }
    }
}

/// One item of a data file, checked: its name and what it is.
fn check_item(p: &mut Problems, key: &str, index: usize, v: &JValue) -> Option<(String, Entry)> {
    let at = format!("{key}: item #{index}");
    let f = fields(p, &at, v)?;
    for k in f.keys() {
        if !matches!(*k, "itemName" | "attributes") {
            p.add(&at, format!("unexpected key {k:?}"));
            return None;
        }
    }
    let Some(name) = string_of(f.get("itemName")).filter(|n| !n.is_empty()) else {
        p.add(&at, "itemName is missing or not a non-empty string");
        return None;
    };
    let at = format!("{key}: item {name:?}");
    let Some(JValue::Array(list)) = f.get("attributes") else {
        p.add(&at, "attributes is missing or not a list");
        return None;
    };
    // The attributes as a backup writes them: `{name: [values]}`, so the
    // backup's checks apply as they are (duplicate names included).
    let mut attrs: Vec<(String, JValue)> = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let aat = format!("{at}: attribute #{i}");
        let af = fields(p, &aat, a)?;
        if let Some(k) = af.keys().find(|k| !matches!(**k, "name" | "values")) {
            p.add(&aat, format!("unexpected key {k:?}"));
            return None;
        }
        let Some(n) = string_of(af.get("name")) else {
            p.add(&aat, "name is missing or not a string");
            return None;
        };
        let Some(values @ JValue::Array(_)) = af.get("values").copied() else {
            p.add(&aat, "values is missing or not a list");
            return None;
        };
        attrs.push((n.to_string(), values.clone()));
    }
    let entry = if name == META_ITEM {
        check_meta(p, &at, attrs)
    } else if name == GENERATIONS_ITEM {
        check_generations(p, &at, &attrs)
    } else if name == crate::publish::changes::RECORD_ITEM {
        // What the last publish wrote to the bucket: only ever compared
        // with the bucket, so not imported either (the next publish then
        // writes every index).
        Some(Entry::Generations)
    } else {
        check_package(p, &at, name, attrs)
    }?;
    Some((name.to_string(), entry))
}

/// Runs the backup checks on a one-entry backup document, reporting its
/// problems relative to `base` (the entry's path in the document).
fn check_doc(p: &mut Problems, at: &str, doc: JValue, base: &str) -> Option<Backup> {
    let bytes = serde_json::to_vec(&doc).expect("a JSON value serializes");
    match parse_backup(&bytes) {
        Ok(b) => Some(b),
        Err(problems) => {
            for problem in problems.0 {
                let rel = problem
                    .path
                    .strip_prefix(base)
                    .map(|r| r.trim_start_matches('.'))
                    .unwrap_or(&problem.path);
                if rel.is_empty() {
                    p.add(at, &problem.message);
                } else {
                    p.add(at, format!("{rel}: {}", problem.message));
                }
            }
            None
        }
    }
}

fn object(entries: Vec<(&str, JValue)>) -> JValue {
    JValue::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn check_meta(p: &mut Problems, at: &str, attrs: Vec<(String, JValue)>) -> Option<Entry> {
    let doc = object(vec![
        ("metadata", JValue::Object(attrs)),
        ("packages", JValue::Object(Vec::new())),
    ]);
    check_doc(p, at, doc, "metadata").map(|b| Entry::Meta(b.metadata))
}

/// Publish's counters: one decimal number per distribution name.
fn check_generations(p: &mut Problems, at: &str, attrs: &[(String, JValue)]) -> Option<Entry> {
    let mut ok = true;
    for (name, values) in attrs {
        if let Err(e) = check_setting(Setting::Dists, name) {
            p.add(at, e);
            ok = false;
        }
        let number = match values {
            JValue::Array(v) if v.len() == 1 => match &v[0] {
                JValue::String(s) => s.parse::<u64>().is_ok() && !s.starts_with('+'),
                _ => false,
            },
            _ => false,
        };
        if !number {
            p.add(at, format!("{name}: not one decimal number"));
            ok = false;
        }
    }
    ok.then_some(Entry::Generations)
}

fn check_package(
    p: &mut Problems,
    at: &str,
    name: &str,
    attrs: Vec<(String, JValue)>,
) -> Option<Entry> {
    // The item's place in the backup's tree, from its own attributes (the
    // checks then report missing or repeated coordinates).
    let place = ["name", "distribution", "component", "architecture"].map(|c| {
        attrs
            .iter()
            .find(|(k, _)| k == c)
            .and_then(|(_, v)| match v {
                JValue::Array(vs) => match vs.first() {
                    Some(JValue::String(s)) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_default()
    });
    let mut base = "packages".to_string();
    for level in &place {
        base = seg(&base, level);
    }
    base.push_str("[0]");
    let mut tree = JValue::Array(vec![JValue::Object(attrs)]);
    for level in place.iter().rev() {
        tree = JValue::Object(vec![(level.clone(), tree)]);
    }
    let doc = object(vec![
        ("metadata", JValue::Object(Vec::new())),
        ("packages", tree),
    ]);
    let mut b = check_doc(p, at, doc, &base)?;
    let item = b.items.pop()?;
    if item.key != name {
        p.add(
            at,
            format!(
                "the item name is not the key of its name, version, distribution, component and architecture ({})",
                item.key
            ),
        );
        return None;
    }
    Some(Entry::Package {
        attrs: item.attrs,
        repacked: !b.repacked.is_empty(),
    })
}

/// Writes a checked export into `target` (see the module's doc): package
/// items file by file, deletions, `meta` last; then reads the target back
/// and compares. `progress(files_done, files)` after each data file.
pub fn import(
    checked: &Checked,
    target: &dyn MetaStore,
    dry_run: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Migration> {
    let exists = target
        .domain_exists()
        .with_context(|| format!("checking {}", target.describe()))?;
    let current = if exists {
        read_all(target)?
    } else {
        BTreeMap::new()
    };
    if !exists && !dry_run {
        target
            .create_domain()
            .with_context(|| format!("creating {}", target.describe()))?;
    }
    let mut m = Migration::default();
    // Every imported item's canonical form, hashed, for the final check.
    let mut expected: BTreeMap<String, [u8; 32]> = BTreeMap::new();
    let mut meta: Option<Attrs> = None;
    for (i, (key, path)) in checked.files.iter().enumerate() {
        let mut p = Problems::default();
        let items = read_items(key, path, &mut p)?.unwrap_or_default();
        let mut changes: Vec<Change> = Vec::new();
        for (n, v) in items.iter().enumerate() {
            match check_item(&mut p, key, n, v) {
                Some((name, Entry::Package { attrs, .. })) => {
                    expected.insert(
                        name.clone(),
                        Sha256::digest(canonical_line(&name, &attrs)).into(),
                    );
                    m.items += 1;
                    match item_change(&name, &attrs, current.get(&name)) {
                        Some(c) => changes.push(c),
                        None => m.unchanged += 1,
                    }
                }
                Some((_, Entry::Meta(attrs))) => meta = Some(attrs),
                Some((_, Entry::Generations)) | None => {}
            }
        }
        if !p.is_empty() {
            // The copy is private and was checked: it cannot change.
            bail!("{key}: changed after it was checked: {}", p.list.join("; "));
        }
        m.written += changes.len();
        if !dry_run {
            write(target, &changes, &mut |_| {})?;
        }
        progress(i + 1, checked.files.len());
    }
    let meta = meta.context("the checked export lost its configuration")?;
    expected.insert(
        META_ITEM.to_string(),
        Sha256::digest(canonical_line(META_ITEM, &meta)).into(),
    );
    m.items += 1;
    let stale: Vec<Change> = current
        .keys()
        .filter(|n| !expected.contains_key(*n) && n.as_str() != GENERATIONS_ITEM)
        .map(|n| Change::Delete { item: n.clone() })
        .collect();
    m.deleted = stale.len();
    let meta_change = item_change(META_ITEM, &meta, current.get(META_ITEM));
    match &meta_change {
        Some(_) => m.written += 1,
        None => m.unchanged += 1,
    }
    if dry_run {
        return Ok(m);
    }
    write(target, &stale, &mut |_| {})?;
    write(target, meta_change.as_slice(), &mut |_| {})?;

    // Read back as stored, not as sent.
    let mut after = read_all(target)?;
    after.remove(GENERATIONS_ITEM);
    let differs = after
        .iter()
        .find(|(n, a)| expected.get(*n) != Some(&Sha256::digest(canonical_line(n, a)).into()))
        .map(|(n, _)| n.clone())
        .or_else(|| expected.keys().find(|n| !after.contains_key(*n)).cloned());
    if let Some(name) = differs {
        bail!(
            "after the import {} holds {} items where {} has {}, item {name:?} differing: another writer changed the store meanwhile, or a write was lost; run the import again",
            target.describe(),
            after.len(),
            checked.source,
            expected.len()
        );
    }
    m.digest = Some(digest(&after).1);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_url("s3://b/AWSSimpleDB/x/dom/").unwrap(),
            ("s3://b".to_string(), "AWSSimpleDB/x/dom".to_string())
        );
        assert_eq!(parse_url("s3://b").unwrap(), ("s3://b".into(), "".into()));
        assert!(parse_url("b/x").is_err());
        assert!(parse_url("s3:///x").is_err());
    }

    fn objects(keys: &[&str]) -> Vec<ObjectInfo> {
        keys.iter()
            .map(|k| ObjectInfo {
                key: k.to_string(),
                size: 1,
                modified: None,
            })
            .collect()
    }

    #[test]
    fn the_export_directory_is_found_once_or_refused() {
        let one = objects(&[
            "AWSSimpleDB/e1/dom/_started",
            "AWSSimpleDB/e1/dom/data/dataFile_1.json",
            "AWSSimpleDB/e1/dom/manifest-file.json",
        ]);
        assert_eq!(locate(&one, "AWSSimpleDB").unwrap(), "AWSSimpleDB/e1/dom");
        assert_eq!(
            locate(&one, "AWSSimpleDB/e1/dom").unwrap(),
            "AWSSimpleDB/e1/dom"
        );
        let mut two = one.clone();
        two.extend(objects(&["AWSSimpleDB/e2/dom/manifest-summary.json"]));
        let e = locate(&two, "AWSSimpleDB").unwrap_err();
        assert!(
            e.contains("2 SimpleDB exports") && e.contains("AWSSimpleDB/e2/dom"),
            "{e}"
        );
        let e = locate(&objects(&["x/y.json"]), "x").unwrap_err();
        assert!(e.starts_with("no SimpleDB export under \"x\""), "{e}");
    }

    fn item(name: &str, attrs: &[(&str, &[&str])]) -> JValue {
        let v = serde_json::json!({
            "itemName": name,
            "attributes": attrs.iter().map(|(n, vs)| serde_json::json!({"name": n, "values": vs})).collect::<Vec<_>>(),
        });
        serde_json::from_value(v).unwrap()
    }

    fn binary(filename: &str, control: &str) -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("name", vec!["hello".into()]),
            ("version", vec!["1.0".into()]),
            ("distribution", vec!["stable".into()]),
            ("component", vec!["main".into()]),
            ("architecture", vec!["amd64".into()]),
            ("filename", vec![filename.into()]),
            ("md5", vec!["0".repeat(32)]),
            ("sha1", vec!["1".repeat(40)]),
            ("sha256", vec!["2".repeat(64)]),
            ("size", vec!["42".into()]),
            ("controltxt0", vec![control.into()]),
        ]
    }

    fn check_binary(name: &str, filename: &str, control: &str) -> (Option<String>, Vec<String>) {
        let attrs = binary(filename, control);
        let pairs: Vec<(&str, Vec<&str>)> = attrs
            .iter()
            .map(|(k, v)| (*k, v.iter().map(String::as_str).collect()))
            .collect();
        let pairs: Vec<(&str, &[&str])> = pairs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let mut p = Problems::default();
        let got = check_item(&mut p, "data/f.json", 0, &item(name, &pairs)).map(|(n, _)| n);
        (got, p.list)
    }

    const CONTROL: &str = "Package: hello\nVersion: 1.0\nArchitecture: amd64\n";

    #[test]
    fn package_items_pass_the_backup_checks_and_their_key() {
        let key = crate::model::item_key("hello", "1.0", "stable", "main", "amd64");
        let (got, problems) = check_binary(&key, "hello_1.0_amd64.deb", CONTROL);
        assert_eq!((got, problems), (Some(key.clone()), vec![]));

        let (got, problems) = check_binary("not-the-key", "hello_1.0_amd64.deb", CONTROL);
        assert!(got.is_none());
        assert!(
            problems[0].contains("item name is not the key"),
            "{problems:?}"
        );

        let (_, problems) = check_binary(&key, "../../etc/passwd", CONTROL);
        assert!(
            problems.iter().any(|l| l.starts_with(&format!(
                "data/f.json: item {key:?}: filename: \"../../etc/passwd\" is not a file name"
            ))),
            "{problems:?}"
        );
        let injected = format!("{CONTROL}\nPackage: evil\nVersion: 6\n");
        let (_, problems) = check_binary(&key, "hello_1.0_amd64.deb", &injected);
        assert!(
            problems
                .iter()
                .any(|l| l.contains("more than one paragraph")),
            "{problems:?}"
        );
    }

    #[test]
    fn odd_items_are_refused_with_their_place() {
        let mut p = Problems::default();
        let dup: JValue = serde_json::from_str(
            r#"{"itemName": "meta", "attributes": [{"name": "dists", "values": ["a"]}, {"name": "dists", "values": ["b"]}]}"#,
        )
        .unwrap();
        assert!(check_item(&mut p, "k", 3, &dup).is_none());
        assert!(
            p.list[0].starts_with("k: item \"meta\": dists: duplicate key"),
            "{:?}",
            p.list
        );
        let mut p = Problems::default();
        let extra: JValue =
            serde_json::from_str(r#"{"itemName": "x", "attributes": [], "more": 1}"#).unwrap();
        assert!(check_item(&mut p, "k", 3, &extra).is_none());
        assert_eq!(p.list, ["k: item #3: unexpected key \"more\""]);
        let mut p = Problems::default();
        let gens = item(GENERATIONS_ITEM, &[("stable", &["12"]), ("../x", &["1"])]);
        assert!(check_item(&mut p, "k", 0, &gens).is_none());
        assert!(p.list[0].contains("not a valid name"), "{:?}", p.list);
        let mut p = Problems::default();
        let gens = item(GENERATIONS_ITEM, &[("stable", &["12"])]);
        assert!(matches!(
            check_item(&mut p, "k", 0, &gens),
            Some((_, Entry::Generations))
        ));
    }
}
