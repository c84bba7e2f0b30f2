//! `add`: .deb and .dsc files into distributions and components.
//!
//! Everything is read and checked before anything is written: every input
//! parsed and verified, every pool key compared with what the bucket holds.
//! Then pool files are uploaded (create-only), then all items are written in
//! one batch, then the changes are announced. Re-adding identical bytes is a
//! success that writes nothing new, so a retried CI job does not fail.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context as _, Result};
use serde_json::json;

use super::purge::purge_changes;
use super::{object_sha256, Catalog, Filter};
use crate::debian::deb::{read_deb, DebInfo};
use crate::debian::dsc::{read_dsc_verified, DscInfo, Keyring};
use crate::debian::names::validate_file_name;
use crate::model::{Package, Payload, RepoConfig};
use crate::parallel::parallel;
use crate::rules::check_package;
use crate::store::{Change, PutMode, StoreError};

#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    pub dists: Vec<String>,
    pub comps: Vec<String>,
    pub overwrite: bool,
    pub auto_purge: Option<usize>,
    /// A keyring every .dsc must be signed with (`--verify-signatures`).
    pub verify_keyring: Option<PathBuf>,
}

/// What `add` did.
#[derive(Debug, Default)]
pub struct AddReport {
    /// Items written (new, or changed with --overwrite).
    pub added: Vec<Package>,
    /// Items that were already present and identical.
    pub unchanged: Vec<Package>,
    /// Pool files uploaded.
    pub uploaded: Vec<String>,
    /// Items removed by --auto-purge.
    pub purged: Vec<Package>,
}

/// One input file, parsed and verified.
enum Input {
    Deb(PathBuf, DebInfo),
    Source(DscInfo),
}

impl Input {
    fn read(path: &Path, keyring: Option<&Keyring>) -> Result<Input> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("deb") | Some("udeb") | Some("ddeb") => {
                Ok(Input::Deb(path.to_path_buf(), read_deb(path)?))
            }
            Some("dsc") => Ok(Input::Source(read_dsc_verified(path, keyring)?)),
            _ => bail!("{}: neither a .deb nor a .dsc file", path.display()),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Input::Deb(path, _) => path,
            Input::Source(s) => &s.path,
        }
    }

    /// The package this input becomes in `dist`/`comp`.
    fn package(&self, dist: &str, comp: &str) -> Result<Package> {
        Ok(match self {
            Input::Deb(path, d) => Package {
                name: d.package.clone(),
                version: d.version.clone(),
                distribution: dist.into(),
                component: comp.into(),
                architecture: d.architecture.clone(),
                payload: Payload::Binary {
                    filename: base_name(path)?,
                    md5: d.md5.clone(),
                    sha1: d.sha1.clone(),
                    sha256: d.sha256.clone(),
                    size: d.size,
                },
                control: d.control.clone(),
            },
            Input::Source(s) => Package {
                name: s.source.clone(),
                version: s.version.clone(),
                distribution: dist.into(),
                component: comp.into(),
                architecture: "source".into(),
                payload: Payload::Source {
                    files: s.file_names(),
                },
                control: s.control.clone(),
            },
        })
    }

    /// Local files to put in the pool: (base name, path, sha256 if known).
    fn files(&self) -> Result<Vec<(String, PathBuf, Option<String>)>> {
        match self {
            Input::Deb(path, d) => Ok(vec![(
                base_name(path)?,
                path.clone(),
                Some(d.sha256.clone()),
            )]),
            Input::Source(s) => {
                let mut out = Vec::new();
                for (name, path) in s.file_names().into_iter().zip(s.paths()) {
                    let sha = s
                        .files
                        .iter()
                        .find(|f| f.name == name)
                        .and_then(|f| f.sha256.clone());
                    out.push((name, path, sha));
                }
                Ok(out)
            }
        }
    }
}

fn base_name(path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: file name is not valid UTF-8", path.display()))?;
    validate_file_name(name).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(name.to_string())
}

/// Checks that every named distribution and component is served.
pub fn check_targets(config: &RepoConfig, dists: &[String], comps: &[String]) -> Result<()> {
    for d in dists {
        config.require_dist(d)?;
    }
    for c in comps {
        config.require_comp(c)?;
    }
    Ok(())
}

pub fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none; run setup first".into()
    } else {
        v.join(", ")
    }
}

/// What to do with one pool key.
enum PoolAction {
    Upload {
        key: String,
        path: PathBuf,
        mode: PutMode,
    },
    Identical,
}

/// Pool files uploaded at once by one add. The more syncs wait together,
/// the more of them one journal commit covers: adding 2,000 small files
/// took 0.6-0.7 s with 8, 0.5 s with 16 and no less with 32. On S3 each
/// upload is a round trip, and more in flight means fewer rounds.
const UPLOAD_WORKERS: usize = 32;
/// Pool keys compared with the bucket at once (a HEAD each on S3).
const POOL_CHECKS: usize = 32;
/// Files at least this large are uploaded one at a time (S3 sends them in
/// parts, a few held in memory at once).
const LARGE_FILE: u64 = 16 << 20;

/// A pool file to write, and whether another writer created it first.
struct Upload {
    key: String,
    path: PathBuf,
    mode: PutMode,
    raced: AtomicBool,
}

pub fn add(
    cat: &Catalog,
    files: &[PathBuf],
    opts: &AddOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<AddReport> {
    let config = cat.config()?;
    check_targets(&config, &opts.dists, &opts.comps)?;

    // 1. Read and verify every input.
    let keyring = opts
        .verify_keyring
        .as_deref()
        .map(Keyring::open)
        .transpose()?;
    let mut inputs = Vec::new();
    for f in files {
        progress(&format!("reading {}", f.display()));
        let input = Input::read(f, keyring.as_ref())?;
        if let Input::Deb(path, d) = &input {
            if let Err(e) = config.require_arch(&d.architecture) {
                bail!(
                    "{}: {e}; add it with `repoman-cli repo add-architecture {}`",
                    path.display(),
                    d.architecture
                );
            }
        }
        inputs.push(input);
    }

    // 2. The pool keys to write, and the items.
    let mut wanted = Vec::new();
    for input in &inputs {
        let name = match input {
            Input::Deb(_, d) => &d.package,
            Input::Source(s) => &s.source,
        };
        for dist in &opts.dists {
            for (file, path, sha) in input.files()? {
                let key = format!("{}/{file}", crate::model::pool_dir(dist, name));
                wanted.push((key, path, sha));
            }
        }
    }
    let mut report = AddReport::default();
    let mut packages = Vec::new();
    for input in &inputs {
        for dist in &opts.dists {
            for comp in &opts.comps {
                let p = input.package(dist, comp)?;
                let problems = check_package(&p);
                if !problems.is_empty() {
                    bail!("{}: {}", input.path().display(), problems.join("; "));
                }
                packages.push(p);
            }
        }
    }

    // 3. Decide every write before making any. The questions are
    // independent and each is a round trip on AWS, so they are asked
    // together: every pool key compared with the bucket (many at once),
    // the items' current state, and who is acting (for the announcements).
    let (actions, existing) = std::thread::scope(|s| {
        let items = s.spawn(|| cat.find_keys(&packages));
        let caller = s.spawn(|| cat.caller().map(drop));
        let actions = crate::parallel::map(&wanted, POOL_CHECKS, |(key, path, sha)| {
            pool_action(cat, key.clone(), path.clone(), sha.clone(), opts.overwrite)
        });
        // A failure to learn the caller is reported by the announcement
        // that needs it, after the writes, as before.
        let _ = caller.join();
        let existing = items
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (actions, existing)
    });
    let actions: Vec<PoolAction> = actions.into_iter().collect::<Result<_>>()?;
    let existing = existing?;
    let mut changes = Vec::new();
    for p in packages {
        let attrs = p
            .to_attrs()
            .with_context(|| format!("{} {}", p.name, p.version))?;
        match existing.get(&p.key()) {
            Some(old) if *old == attrs => report.unchanged.push(p),
            old => {
                let remove = old
                    .map(|o| {
                        o.keys()
                            .filter(|k| !attrs.contains_key(*k))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                changes.push(Change::Put {
                    item: p.key(),
                    attrs,
                    remove,
                });
                report.added.push(p);
            }
        }
    }

    // 4. Auto-purge, in the same batch.
    if let Some(keep) = opts.auto_purge {
        let (purge, purged) = purge_changes(cat, &report.added, keep)?;
        changes.extend(purge);
        report.purged = purged;
    }

    // 5. Data before pointers: pool files, then items, then announcements.
    // Small files several at a time: each waits on the network (S3) or on
    // its own fsync (the directory bucket), and those waits overlap. Large
    // ones one at a time, as each S3 multipart upload holds a few parts in
    // memory.
    let (large, small): (Vec<Upload>, Vec<Upload>) = actions
        .into_iter()
        .filter_map(|a| match a {
            PoolAction::Upload { key, path, mode } => Some(Upload {
                key,
                path,
                mode,
                raced: AtomicBool::new(false),
            }),
            PoolAction::Identical => None,
        })
        .partition(|u| std::fs::metadata(&u.path).map_or(true, |m| m.len() >= LARGE_FILE));
    let upload = |u: &Upload| {
        progress(&format!("uploading {}", u.key));
        match cat.backend.blobs.put_file(&u.key, &u.path, u.mode) {
            Ok(()) => Ok(()),
            // Someone created the key between our check and our upload:
            // the same bytes are what we wanted anyway (two CI jobs adding
            // one file at once both succeed).
            Err(StoreError::Exists(_)) => {
                u.raced.store(true, Ordering::SeqCst);
                created_meanwhile(cat, &u.key, &u.path)
            }
            Err(e) => bail!("uploading {}: {e}", u.path.display()),
        }
    };
    parallel(&small, UPLOAD_WORKERS, upload)?;
    parallel(&large, 1, upload)?;
    report.uploaded.extend(
        small
            .into_iter()
            .chain(large)
            .filter(|u| !u.raced.load(Ordering::SeqCst))
            .map(|u| u.key),
    );
    cat.backend.meta.apply(&changes).context("writing items")?;
    let mut messages: Vec<_> = report.added.iter().map(add_message).collect();
    messages.extend(report.purged.iter().map(super::delete_message));
    cat.announce(&config, messages)?;
    Ok(report)
}

fn add_message(p: &Package) -> serde_json::Value {
    json!({
        "action": "add",
        "type": if p.is_source() { "source" } else { "package" },
        "name": p.name,
        "version": p.version,
        "distribution": p.distribution,
        "component": p.component,
    })
}

/// Compares a pool key with the local file: absent → upload; identical
/// bytes → nothing to do; different bytes → `--overwrite` or an error.
fn pool_action(
    cat: &Catalog,
    key: String,
    path: PathBuf,
    sha: Option<String>,
    overwrite: bool,
) -> Result<PoolAction> {
    let blobs = &cat.backend.blobs;
    if blobs.head(&key)?.is_none() {
        return Ok(PoolAction::Upload {
            key,
            path,
            mode: PutMode::Create,
        });
    }
    let local = match sha {
        Some(s) => s,
        None => sha256_file(&path)?,
    };
    let stored = object_sha256(blobs.as_ref(), &key)?;
    if stored == local {
        return Ok(PoolAction::Identical);
    }
    if overwrite {
        return Ok(PoolAction::Upload {
            key,
            path,
            mode: PutMode::Overwrite,
        });
    }
    bail!(
        "{}: {key} already exists with different content (stored sha256 {stored}, this file {local}); pass --overwrite to replace it",
        path.display()
    )
}

/// A create-only upload found `key` already there: fine when it holds our
/// bytes, a conflict otherwise (nothing of ours was written).
fn created_meanwhile(cat: &Catalog, key: &str, path: &Path) -> Result<()> {
    let local = sha256_file(path)?;
    let stored = object_sha256(cat.backend.blobs.as_ref(), key)?;
    if stored == local {
        return Ok(());
    }
    bail!(
        "{}: another writer created {key} first, with different content (stored sha256 {stored}, this file {local}); pass --overwrite to replace it",
        path.display()
    )
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    crate::digest::sha256_of(f).with_context(|| format!("{}: cannot read", path.display()))
}

impl Catalog {
    /// The stored attributes of these packages' items, by item name.
    pub fn find_keys(
        &self,
        packages: &[Package],
    ) -> Result<std::collections::HashMap<String, crate::model::Attrs>> {
        let mut names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
        names.sort();
        names.dedup();
        let mut out = std::collections::HashMap::new();
        for item in self.find_items_by_names(&names, &Filter::default())? {
            out.insert(item.name, item.attrs);
        }
        Ok(out)
    }
}
