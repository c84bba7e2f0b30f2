//! Stored backups read as a restore reads them, and `backup verify`.
//!
//! Each stored object is downloaded into a temporary file while its size
//! and sha256 are compared with what its sidecar recorded at backup time,
//! and decrypted (age) into another, so a full backup is never held in
//! memory. An increment's chain is replayed as a stream ([`replay`]): the
//! increments' changes are held (they change few names), the full base is
//! read one package name at a time and the merged full backup written to
//! another temporary file.
//!
//! `backup verify` does everything a restore of the backup would do before
//! its first write: follow the chain to its full base (every link present
//! and complete, each increment naming the stored digest of its base),
//! check every object's digest, decrypt, and validate every item and the
//! configuration with the same scan `restore` uses.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use anyhow::{bail, Context, Result};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::chain::Increment;
use super::crypt::{self, Identities};
#[cfg(test)]
use super::pyjson::Style;
use super::restore::{missing_lists, Input};
use super::stored::{self, StoredBackup};
use super::stream::{KeySet, ScanError};
use super::validate::{decompress, GZIP_MAGIC};
use crate::catalog::Catalog;
use crate::store::BlobStore;

/// A temporary file that hashes and counts what is written to it.
struct Download {
    file: File,
    sha: Sha256,
    size: u64,
}

impl Write for Download {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Downloads a complete stored backup into a temporary file, checked
/// against its sidecar's size and sha256.
fn download(blobs: &dyn BlobStore, b: &StoredBackup) -> Result<File> {
    let Some(info) = &b.info else {
        bail!(
            "{}: incomplete (its sidecar .info was never written): not a restore point",
            b.key
        );
    };
    let mut d = Download {
        file: tempfile::tempfile().context("creating a temporary file")?,
        sha: Sha256::new(),
        size: 0,
    };
    blobs
        .read(&b.key, &mut d)
        .with_context(|| format!("{}: cannot be read from {}", b.key, blobs.describe()))?;
    let sha = hex::encode(d.sha.finalize());
    if sha != info.sha256 || d.size != info.size {
        bail!(
            "{}: the stored backup does not match its sidecar (sha256 {sha}, {} bytes; expected {}, {} bytes)",
            b.key,
            d.size,
            info.sha256,
            info.size
        );
    }
    let mut f = d.file;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// The file's plain (gzip) bytes: itself, or decrypted into another
/// temporary file when it is age-encrypted.
fn decrypted(ids: Option<&Identities>, mut f: File, what: &str) -> Result<File> {
    let mut head = vec![0u8; crypt::MAGIC.len()];
    let n = read_up_to(&mut f, &mut head)?;
    f.seek(SeekFrom::Start(0))?;
    if !crypt::is_encrypted(&head[..n]) {
        return Ok(f);
    }
    let mut out = tempfile::tempfile().context("creating a temporary file")?;
    crypt::decrypt_stream(ids, &f, &mut out, what)?;
    out.seek(SeekFrom::Start(0))?;
    Ok(out)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A downloaded object's decompressed bytes (an increment, or the base of
/// a chain that is replayed in memory).
fn plain_bytes(f: File, what: &str) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    BufReader::new(f)
        .read_to_end(&mut raw)
        .with_context(|| format!("reading {what}"))?;
    decompress(&raw).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// A stored backup as restore input: a full backup downloaded (checked,
/// decrypted) into a temporary file; an increment's chain replayed into the
/// full backup of its point. `given` is as `backup list` shows it, or
/// `latest`. Returns the input and the backup's key.
pub fn open(cat: &Catalog, given: &str, ids: Option<&Identities>) -> Result<(Input, String)> {
    let all = stored::stored(cat)?;
    match stored::find(&all, cat.backend_name(), given) {
        Ok(b) if b.complete() => {
            let chain = stored::chain_of(&all, &b.key)?;
            Ok((
                Input::File(replay(cat.blobs(), &chain, ids)?),
                b.key.clone(),
            ))
        }
        // Incomplete, or a key of another shape: as the store reads it.
        _ => {
            let (raw, key) = stored::load(cat, given, ids)?;
            Ok((Input::spool(&raw[..])?, key))
        }
    }
}

/// The full backup a chain (full backup first) restores, in a temporary
/// file: each object downloaded and checked against its sidecar,
/// decrypted, each increment checked against its base's key and stored
/// sha256; then the increments' changes merged into the full backup read
/// one package name at a time (its names must be in order, as `backup`
/// writes them). A full backup alone is its own file.
pub fn replay(
    blobs: &dyn BlobStore,
    chain: &[&StoredBackup],
    ids: Option<&Identities>,
) -> Result<File> {
    let (full, increments) = chain.split_first().context("an empty chain")?;
    let base = decrypted(ids, download(blobs, full)?, &full.key)?;
    if increments.is_empty() {
        return Ok(base);
    }
    // Each name's newest subtree, or `None` when removed; the names removed
    // that no earlier increment had, which the base must have.
    let mut changes: BTreeMap<String, Option<Value>> = BTreeMap::new();
    let mut from_base: BTreeMap<String, &str> = BTreeMap::new();
    let mut metadata = Value::Null;
    let mut base_sha = full.info.as_ref().map(|i| i.sha256.clone());
    for link in increments {
        let json = plain_bytes(
            decrypted(ids, download(blobs, link)?, &link.key)?,
            &link.key,
        )?;
        let inc = Increment::parse(&json)
            .with_context(|| format!("{}: not a valid increment", link.key))?;
        if Some(inc.base.as_str()) != link.base() || Some(&inc.base_sha256) != base_sha.as_ref() {
            bail!(
                "{}: its base is not the stored {} (the base was replaced, or the sidecar does not belong to it)",
                link.key,
                link.base().unwrap_or("?")
            );
        }
        for name in inc.removed {
            match changes.get(&name) {
                Some(Some(_)) => {}
                Some(None) => bail!(
                    "{}: cannot be applied to its base: removes package {name:?}, which its base does not have",
                    link.key
                ),
                None => {
                    from_base.insert(name.clone(), &link.key);
                }
            }
            changes.insert(name, None);
        }
        for (name, subtree) in inc.packages {
            changes.insert(name, Some(subtree));
        }
        metadata = inc.metadata;
        base_sha = link.info.as_ref().map(|i| i.sha256.clone());
    }
    let mut out = BufWriter::new(tempfile::tempfile().context("creating a temporary file")?);
    out.write_all(b"{\"metadata\": ")?;
    serde_json::to_writer(&mut out, &metadata)?;
    out.write_all(b", \"packages\": {")?;
    let mut merge = Merge {
        out: &mut out,
        changes: changes.into_iter().peekable(),
        from_base,
        first: true,
        last: None,
    };
    let mut base = BufReader::with_capacity(1 << 16, base);
    let plain: Box<dyn Read> = if base.fill_buf()?.starts_with(&GZIP_MAGIC) {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(base)))
    } else {
        Box::new(base)
    };
    let mut de = serde_json::Deserializer::from_reader(plain);
    let read = de
        .deserialize_map(FullBackup { merge: &mut merge })
        .and_then(|()| de.end());
    if let Some(e) = merge.failed() {
        bail!("{}: {e}", full.key);
    }
    if let Err(e) = read {
        bail!("{}: not a valid backup: {e}", full.key);
    }
    while let Some((name, change)) = merge.changes.next() {
        merge.unmatched(&name, change)?;
    }
    out.write_all(b"}}\n")?;
    let mut f = out.into_inner().map_err(|e| e.into_error())?;
    f.seek(SeekFrom::Start(0))?;
    Ok(f)
}

/// The merged `packages` being written.
struct Merge<'a, W: Write> {
    out: &'a mut W,
    changes: std::iter::Peekable<std::collections::btree_map::IntoIter<String, Option<Value>>>,
    /// Names removed that no earlier increment had (so the base must), and
    /// the increment removing each.
    from_base: BTreeMap<String, &'a str>,
    first: bool,
    /// The base's previous name, or the error that stopped the merge.
    last: Option<std::result::Result<String, String>>,
}

impl<W: Write> Merge<'_, W> {
    fn emit(&mut self, name: &str, subtree: &Value) -> Result<()> {
        if !self.first {
            self.out.write_all(b", ")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, name)?;
        self.out.write_all(b": ")?;
        serde_json::to_writer(&mut *self.out, subtree)?;
        Ok(())
    }

    /// One package name of the base, in order: the changes before it, then
    /// it (changed, removed or as it is).
    fn base(&mut self, name: String, subtree: Value) -> Result<()> {
        if let Some(Ok(last)) = &self.last {
            if *last >= name {
                bail!("package names are not in order ({name:?} after {last:?}), so increments cannot be applied to it");
            }
        }
        while let Some((n, _)) = self.changes.peek() {
            if *n >= name {
                break;
            }
            let (n, change) = self.changes.next().expect("peeked");
            self.unmatched(&n, change)?;
        }
        match self.changes.peek() {
            Some((n, _)) if *n == name => {
                if let Some((_, Some(v))) = self.changes.next() {
                    self.emit(&name, &v)?;
                }
            }
            _ => self.emit(&name, &subtree)?,
        }
        self.last = Some(Ok(name));
        Ok(())
    }

    /// A change of a name the base does not have: a package added, or one
    /// added by an increment and removed by a later one. A removal of a
    /// package the base must have had is an error.
    fn unmatched(&mut self, name: &str, change: Option<Value>) -> Result<()> {
        if let Some(inc) = self.from_base.get(name) {
            bail!(
                "{inc}: cannot be applied to its base: removes package {name:?}, which its base does not have"
            );
        }
        match change {
            Some(v) => self.emit(name, &v),
            None => Ok(()),
        }
    }

    fn failed(&self) -> Option<&str> {
        match &self.last {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// A full backup's top-level object: `packages` read one name at a time.
struct FullBackup<'a, 'b, W: Write> {
    merge: &'a mut Merge<'b, W>,
}

impl<'de, W: Write> Visitor<'de> for FullBackup<'_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a backup object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "packages" {
                map.next_value_seed(Packages {
                    merge: &mut *self.merge,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Packages<'a, 'b, W: Write> {
    merge: &'a mut Merge<'b, W>,
}

impl<'de, W: Write> DeserializeSeed<'de> for Packages<'_, '_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, W: Write> Visitor<'de> for Packages<'_, '_, W> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object keyed by package name")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let subtree: Value = map.next_value()?;
            if let Err(e) = self.merge.base(name, subtree) {
                self.merge.last = Some(Err(format!("{e:#}")));
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// What `backup verify` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The backup's key.
    pub key: String,
    /// Its chain, the full backup first, the backup itself last.
    pub chain: Vec<String>,
    /// Items of the state it restores.
    pub items: u64,
}

/// `backup verify`: fails with one line naming the backup and the first
/// problem.
pub fn verify(cat: &Catalog, given: &str, ids: Option<&Identities>) -> Result<Verified> {
    let all = stored::stored(cat)?;
    let b = stored::find(&all, cat.backend_name(), given)?;
    if !b.complete() {
        bail!(
            "{}: incomplete (its sidecar .info was never written): not a restore point",
            b.key
        );
    }
    let chain = stored::chain_of(&all, &b.key)?;
    let mut input = Input::File(replay(cat.blobs(), &chain, ids)?);
    let mut items = 0u64;
    let mut keys = KeySet::new();
    let scan = match input.scan(Some(&mut keys), &mut |_| {
        items += 1;
        Ok(())
    }) {
        Ok(s) => s,
        Err(ScanError::Invalid(p)) => {
            let more = match p.0.len() {
                1 => String::new(),
                n => format!(" (and {} more problems)", n - 1),
            };
            bail!("{}: not a valid backup: {}{more}", b.key, p.0[0])
        }
        Err(ScanError::Stopped(e)) => return Err(e),
    };
    let missing = missing_lists(&scan.metadata);
    if !missing.is_empty() {
        bail!(
            "{}: its configuration has no {}: restore refuses it without --allow-missing-config",
            b.key,
            missing.join(", ")
        );
    }
    if let (None, Some(info)) = (b.base(), &b.info) {
        if info.items != items {
            bail!(
                "{}: holds {items} items, its sidecar recorded {}",
                b.key,
                info.items
            );
        }
    }
    Ok(Verified {
        key: b.key.clone(),
        chain: chain.iter().map(|l| l.key.clone()).collect(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::chain::State;
    use crate::backup::stored::{gzip, list, store, Contents};
    use crate::digest::sha256_hex;
    use crate::embedded::bucket::DirBucket;
    use crate::store::PutOptions;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(s: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, s).unwrap()
    }

    /// Stores a full backup and increments (each given as its packages and
    /// removed names) and returns the bucket.
    fn chain(dir: &std::path::Path, full: &str, incs: &[(Value, Vec<&str>)]) -> DirBucket {
        let b = DirBucket::new(dir);
        let gz = gzip(full.as_bytes()).unwrap();
        let mut base = store(
            &b,
            "local",
            &gz,
            false,
            Contents::default(),
            at(0),
            &PutOptions::default(),
        )
        .unwrap();
        let mut sha = sha256_hex(&gz);
        for (i, (packages, removed)) in incs.iter().enumerate() {
            let doc = json!({"format": crate::backup::chain::FORMAT, "base": base,
                             "base_sha256": sha, "metadata": {"dists": [format!("d{i}")]},
                             "packages": packages, "removed": removed});
            let gz = gzip(doc.to_string().as_bytes()).unwrap();
            let contents = Contents {
                base: Some(base.clone()),
                ..Contents::default()
            };
            base = store(
                &b,
                "local",
                &gz,
                false,
                contents,
                at(i as u32 + 1),
                &PutOptions::default(),
            )
            .unwrap();
            sha = sha256_hex(&gz);
        }
        b
    }

    fn replayed(b: &DirBucket) -> Result<Value> {
        let all = list(b, "local").unwrap();
        let chain = stored::chain_of(&all, &all.last().unwrap().key).unwrap();
        let mut text = String::new();
        replay(b, &chain, None)?.read_to_string(&mut text)?;
        Ok(serde_json::from_str(&text)?)
    }

    #[test]
    fn a_chain_replays_as_a_stream_to_what_the_whole_state_replays_to() {
        let dir = tempfile::tempdir().unwrap();
        let full = r#"{"metadata": {}, "packages": {"b": {"x": 1}, "d": {"x": 1}, "f": {"x": 1}}}"#;
        let incs = [
            (json!({"a": {"x": 2}, "d": {"x": 2}}), vec!["f"]),
            (json!({"g": {"x": 3}}), vec!["a", "b"]),
        ];
        let b = chain(dir.path(), full, &incs);
        let mut state = State::from_full(full.as_bytes()).unwrap();
        let all = list(&b, "local").unwrap();
        for s in &all[1..] {
            let raw =
                crate::backup::validate::decompress(&b.get(&s.key).unwrap().unwrap()).unwrap();
            state.apply(&raw).unwrap();
        }
        let want: Value = serde_json::from_slice(&state.render(Style::Compact)).unwrap();
        let got = replayed(&b).unwrap();
        assert_eq!(got, want);
        assert_eq!(
            got["packages"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["d", "g"]
        );
        assert_eq!(got["metadata"], json!({"dists": ["d1"]}));
    }

    #[test]
    fn removals_of_what_the_base_lacks_and_unordered_bases_are_refused() {
        for (full, incs, why) in [
            (
                r#"{"metadata": {}, "packages": {"b": {}}}"#,
                vec![(json!({}), vec!["zz"])],
                "which its base does not have",
            ),
            (
                r#"{"metadata": {}, "packages": {"b": {}}}"#,
                vec![(json!({}), vec!["a"])],
                "which its base does not have",
            ),
            (
                r#"{"metadata": {}, "packages": {"b": {}}}"#,
                vec![(json!({}), vec!["b"]), (json!({}), vec!["b"])],
                "which its base does not have",
            ),
            (
                r#"{"metadata": {}, "packages": {"b": {}}}"#,
                vec![(json!({}), vec!["a"]), (json!({"a": {}}), vec![])],
                "which its base does not have",
            ),
            (
                r#"{"metadata": {}, "packages": {"c": {}, "b": {}}}"#,
                vec![(json!({"a": {}}), vec![])],
                "not in order",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let b = chain(dir.path(), full, &incs);
            let e = format!("{:#}", replayed(&b).unwrap_err());
            assert!(e.contains(why), "{why}: {e}");
        }
    }
}
