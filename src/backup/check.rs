//! Stored backups read as a restore reads them, and `backup verify`.
//!
//! Each stored object is downloaded into a temporary file while its size
//! and sha256 are compared with what its sidecar recorded at backup time,
//! and decrypted (age) into another, so a full backup is never held in
//! memory. An increment's chain is replayed (`chain::State`, in memory:
//! an increment changes few names, but the replayed base is whole).
//!
//! `backup verify` does everything a restore of the backup would do before
//! its first write: follow the chain to its full base (every link present
//! and complete, each increment naming the stored digest of its base),
//! check every object's digest, decrypt, and validate every item and the
//! configuration with the same scan `restore` uses.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::chain::{Increment, State};
use super::crypt::{self, Identities};
use super::pyjson::Style;
use super::restore::{missing_lists, Input};
use super::stored::{self, StoredBackup};
use super::stream::{KeySet, ScanError};
use super::validate::decompress;
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
        Ok(b) if b.complete() && b.base().is_none() => {
            let f = decrypted(ids, download(cat.blobs(), b)?, &b.key)?;
            Ok((Input::File(f), b.key.clone()))
        }
        // An increment, or a key of another shape: as the store reads it.
        _ => {
            let (raw, key) = stored::load(cat, given, ids)?;
            Ok((Input::spool(&raw[..])?, key))
        }
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
    let mut state: Option<State> = None;
    let mut full: Option<File> = None;
    let mut base_sha: Option<String> = None;
    for link in &chain {
        let f = decrypted(ids, download(cat.blobs(), link)?, &link.key)?;
        match link.base() {
            None if chain.len() == 1 => full = Some(f),
            None => {
                let json = plain_bytes(f, &link.key)?;
                state = Some(
                    State::from_full(&json)
                        .with_context(|| format!("{}: not a valid backup", link.key))?,
                );
            }
            Some(base) => {
                let json = plain_bytes(f, &link.key)?;
                let inc = Increment::parse(&json)
                    .with_context(|| format!("{}: not a valid increment", link.key))?;
                if inc.base != base || Some(&inc.base_sha256) != base_sha.as_ref() {
                    bail!(
                        "{}: its base is not the stored {base} (the base was replaced, or the sidecar does not belong to it)",
                        link.key
                    );
                }
                state
                    .as_mut()
                    .context("an increment without a base")?
                    .apply(&json)
                    .with_context(|| format!("{}: cannot be applied to its base", link.key))?;
            }
        }
        base_sha = link.info.as_ref().map(|i| i.sha256.clone());
    }
    let mut input = match (state, full) {
        (Some(s), _) => Input::spool(&s.render(Style::Compact)[..])?,
        (None, Some(f)) => Input::File(f),
        (None, None) => bail!("{}: empty chain", b.key),
    };
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
