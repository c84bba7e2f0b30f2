//! Publishing: the dists/ tree apt clients read.
//!
//! A publish happens in two halves so that nothing is written unless
//! everything can be:
//!
//! 1. **Prepare** (no writes to the bucket): for every distribution, build
//!    each index once (one Select per index, so memory stays bounded by the
//!    largest index), hash it with every algorithm and gzip it from the same
//!    bytes, and spool plain and gzipped bytes to a local temporary
//!    directory. Then compose the Release texts and sign them all. A missing
//!    key or a wrong passphrase stops here.
//! 2. **Write**, data before pointers, per distribution: every index under
//!    its `by-hash/<Algo>/<digest>` names and its usual name, then the leaf
//!    Release files, then `Release`, `Release.gpg` and `InRelease` last. An
//!    apt client reading meanwhile sees the old or the new Release, and both
//!    sets of indices exist under their by-hash names, so it never sees a
//!    hash sum mismatch. by-hash files from earlier publishes are kept: the
//!    bucket only ever grows (see docs/publishing.md).

pub mod index;
pub mod release;
pub mod sign;
pub mod stanza;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::catalog::{Catalog, Filter};
use crate::model::RepoConfig;
use crate::store::{BlobStore, PutMode};
use index::{compress_and_hash, index_text, Algo, Digests};
use release::{leaf_release, top_release, Listed, ReleaseInfo};
use sign::{Signatures, Signer};

/// What to publish and how.
pub struct Request<'a> {
    /// Distributions to publish; empty means every configured one.
    pub dists: Vec<String>,
    /// Signs the Release files; `None` publishes an unsigned repository.
    pub signer: Option<&'a dyn Signer>,
    /// The Release `Date`.
    pub now: DateTime<Utc>,
    /// How many files are written at once.
    pub workers: usize,
}

impl Request<'_> {
    pub fn new(dists: Vec<String>, signer: Option<&dyn Signer>) -> Request<'_> {
        Request {
            dists,
            signer,
            now: Utc::now(),
            workers: 8,
        }
    }
}

/// Where a publish is, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Building an index (path relative to `dists/<dist>/`).
    Build {
        dist: String,
        path: String,
    },
    Sign {
        dist: String,
    },
    /// `done` of `total` files of `dist` written.
    Write {
        dist: String,
        done: usize,
        total: usize,
    },
}

/// One distribution, published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub dist: String,
    pub comps: Vec<String>,
    /// Whether any component has source packages (worth a deb-src line).
    pub has_sources: bool,
    pub signed: bool,
    /// Files written (by-hash names that already existed are not rewritten).
    pub files: usize,
}

/// One index file (plain or gzipped), spooled locally until written.
#[derive(Debug)]
struct IndexFile {
    /// Its directory in the bucket, e.g. `dists/d/main/binary-amd64`.
    dir: String,
    /// `Packages`, `Packages.gz`, `Sources`, `Sources.gz`.
    name: String,
    spool: PathBuf,
    digests: Digests,
}

impl IndexFile {
    fn by_hash_key(&self, algo: Algo) -> String {
        format!(
            "{}/by-hash/{}/{}",
            self.dir,
            algo.name(),
            self.digests.get(algo)
        )
    }
}

/// Everything one distribution's publish writes, ready before any write.
struct DistPlan {
    dist: String,
    indices: Vec<IndexFile>,
    leaves: Vec<(String, Vec<u8>)>,
    release: String,
    signatures: Option<Signatures>,
    has_sources: bool,
}

impl DistPlan {
    fn total_files(&self) -> usize {
        // Each index: four by-hash names and its own name.
        let pointers = if self.signatures.is_some() { 3 } else { 1 };
        self.indices.len() * (Algo::ALL.len() + 1) + self.leaves.len() + pointers
    }
}

/// Publishes the requested distributions of `catalog`'s repository.
pub fn publish(
    catalog: &Catalog,
    req: &Request<'_>,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<Vec<Published>> {
    let config = catalog.config()?;
    let dists = chosen_dists(&config, &req.dists)?;
    let spool = tempfile::Builder::new()
        .prefix("repoman-publish-")
        .tempdir()
        .context("creating a temporary directory for index files")?;
    let mut plans = Vec::new();
    for dist in &dists {
        plans.push(prepare(
            catalog,
            &config,
            dist,
            req.now,
            spool.path(),
            progress,
        )?);
    }
    if let Some(signer) = req.signer {
        for plan in &mut plans {
            progress(Step::Sign {
                dist: plan.dist.clone(),
            });
            plan.signatures = Some(
                signer
                    .sign(&plan.release)
                    .with_context(|| format!("signing the Release of {}", plan.dist))?,
            );
        }
    }
    let blobs = catalog.backend.blobs.as_ref();
    let mut out = Vec::new();
    for plan in &plans {
        let files = write_dist(blobs, plan, req.workers.max(1), progress)?;
        catalog.announce(
            &config,
            vec![json!({"action": "publish", "type": "dists", "name": plan.dist})],
        )?;
        out.push(Published {
            dist: plan.dist.clone(),
            comps: config.comps.clone(),
            has_sources: plan.has_sources,
            signed: plan.signatures.is_some(),
            files,
        });
    }
    Ok(out)
}

/// The distributions to publish: the requested ones, each of which must be
/// configured, or every configured one.
fn chosen_dists(config: &RepoConfig, requested: &[String]) -> Result<Vec<String>> {
    if config.dists.is_empty() {
        bail!("the repository has no distributions configured (run setup first)");
    }
    if requested.is_empty() {
        return Ok(config.dists.clone());
    }
    let mut out: Vec<String> = Vec::new();
    for d in requested {
        if !config.has_dist(d) {
            bail!(
                "unknown distribution {d:?} (configured: {}); nothing was published",
                config.dists.join(", ")
            );
        }
        if !out.contains(d) {
            out.push(d.clone());
        }
    }
    Ok(out)
}

/// Builds, hashes and spools every index of `dist`, and composes its
/// Release text.
fn prepare(
    catalog: &Catalog,
    config: &RepoConfig,
    dist: &str,
    now: DateTime<Utc>,
    spool: &std::path::Path,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<DistPlan> {
    let (origin, label) = (config.origin(), config.label());
    let mut indices = Vec::new();
    let mut leaves = Vec::new();
    let mut listed = Vec::new();
    let mut has_sources = false;
    for comp in &config.comps {
        // Binary architectures list their own packages and every `all` one.
        let mut dirs: Vec<(String, &str, Vec<String>)> = config
            .binary_archs()
            .into_iter()
            .map(|a| {
                (
                    format!("binary-{a}"),
                    "Packages",
                    vec![a.clone(), "all".to_string()],
                )
            })
            .collect();
        dirs.push(("source".into(), "Sources", vec!["source".into()]));
        for (sub, name, archs) in dirs {
            let rel_dir = format!("{comp}/{sub}");
            progress(Step::Build {
                dist: dist.to_string(),
                path: format!("{rel_dir}/{name}"),
            });
            let packages = catalog
                .find(&Filter {
                    dists: vec![dist.to_string()],
                    comps: vec![comp.clone()],
                    archs: archs.clone(),
                    ..Filter::default()
                })
                .with_context(|| format!("reading the packages of {dist}/{rel_dir}"))?;
            if sub == "source" && !packages.is_empty() {
                has_sources = true;
            }
            let raw = index_text(&packages, dist);
            drop(packages);
            let c = compress_and_hash(&raw);
            let dir = format!("dists/{dist}/{rel_dir}");
            for (file, bytes, digests) in [
                (name.to_string(), &raw, c.plain),
                (format!("{name}.gz"), &c.gz, c.gz_digests),
            ] {
                let local = spool.join(format!("{}-{}", indices.len(), digests.sha256));
                std::fs::write(&local, bytes)
                    .with_context(|| format!("spooling {dir}/{file} to {}", local.display()))?;
                listed.push(Listed {
                    path: format!("{rel_dir}/{file}"),
                    digests: digests.clone(),
                });
                indices.push(IndexFile {
                    dir: dir.clone(),
                    name: file,
                    spool: local,
                    digests,
                });
            }
            let arch = sub.strip_prefix("binary-").unwrap_or("source");
            let leaf = leaf_release(dist, comp, arch, origin, label).into_bytes();
            listed.push(Listed {
                path: format!("{rel_dir}/Release"),
                digests: Digests::of(&leaf),
            });
            leaves.push((format!("{dir}/Release"), leaf));
        }
    }
    let info = ReleaseInfo {
        origin: origin.to_string(),
        label: label.to_string(),
        dist: dist.to_string(),
        date: now,
        archs: config.binary_archs(),
        comps: config.comps.clone(),
    };
    Ok(DistPlan {
        dist: dist.to_string(),
        indices,
        leaves,
        release: top_release(&info, &listed),
        signatures: None,
        has_sources,
    })
}

/// Counts files written, shared by the writer threads.
struct Tally<'a> {
    done: AtomicUsize,
    total: usize,
    dist: &'a str,
    progress: &'a (dyn Fn(Step) + Sync),
}

impl Tally<'_> {
    fn one(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        (self.progress)(Step::Write {
            dist: self.dist.to_string(),
            done,
            total: self.total,
        });
    }

    fn written(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

/// Writes one distribution's files in order: indices (by-hash names
/// first), leaf Releases, then Release, Release.gpg and InRelease.
fn write_dist(
    blobs: &dyn BlobStore,
    plan: &DistPlan,
    workers: usize,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<usize> {
    let tally = Tally {
        done: AtomicUsize::new(0),
        total: plan.total_files(),
        dist: &plan.dist,
        progress,
    };
    let failed = |stage: &str, e: anyhow::Error| {
        anyhow!(
            "publish of {} failed after writing {} of {} files ({stage}): {}",
            plan.dist,
            tally.written(),
            tally.total,
            one_line(&e)
        )
    };
    let skipped = AtomicUsize::new(0);
    parallel(&plan.indices, workers, |f| {
        write_index(blobs, f, &tally, &skipped)
    })
    .map_err(|e| failed("Release not updated", e))?;
    parallel(&plan.leaves, workers, |(key, bytes)| {
        blobs.put_bytes(key, bytes, PutMode::Overwrite)?;
        tally.one();
        Ok(())
    })
    .map_err(|e| failed("Release not updated", e))?;
    let base = format!("dists/{}", plan.dist);
    blobs
        .put_bytes(
            &format!("{base}/Release"),
            plan.release.as_bytes(),
            PutMode::Overwrite,
        )
        .map_err(|e| failed("Release not updated", e.into()))?;
    tally.one();
    match &plan.signatures {
        Some(sigs) => {
            for (name, bytes) in [
                ("Release.gpg", &sigs.release_gpg),
                ("InRelease", &sigs.inrelease),
            ] {
                blobs
                    .put_bytes(&format!("{base}/{name}"), bytes, PutMode::Overwrite)
                    .map_err(|e| failed("Release written, signatures not updated", e.into()))?;
                tally.one();
            }
        }
        None => {
            // A signature left from a signed publish would describe the old
            // Release; apt prefers InRelease, so it goes last.
            for name in ["Release.gpg", "InRelease"] {
                let key = format!("{base}/{name}");
                let stale = blobs
                    .head(&key)
                    .and_then(|h| match h {
                        Some(_) => blobs.delete(&key),
                        None => Ok(()),
                    })
                    .map_err(|e| failed("Release written, stale signature not removed", e.into()));
                stale?;
            }
        }
    }
    Ok(tally.written() - skipped.load(Ordering::SeqCst))
}

/// One index under its by-hash names, then its own name. The strongest
/// by-hash name is uploaded; the others are copies (server-side on S3). A
/// by-hash name that exists already holds the same bytes, so it is kept.
fn write_index(
    blobs: &dyn BlobStore,
    f: &IndexFile,
    tally: &Tally<'_>,
    skipped: &AtomicUsize,
) -> Result<()> {
    let first = f.by_hash_key(Algo::Sha512);
    if blobs.head(&first)? == Some(f.digests.size) {
        skipped.fetch_add(1, Ordering::SeqCst);
    } else {
        blobs.put_file(&first, &f.spool, PutMode::Overwrite)?;
    }
    tally.one();
    for algo in [Algo::Sha256, Algo::Sha1, Algo::Md5] {
        let key = f.by_hash_key(algo);
        if blobs.head(&key)? == Some(f.digests.size) {
            skipped.fetch_add(1, Ordering::SeqCst);
        } else {
            blobs.copy(&first, &key, PutMode::Overwrite)?;
        }
        tally.one();
    }
    blobs.copy(&first, &format!("{}/{}", f.dir, f.name), PutMode::Overwrite)?;
    tally.one();
    Ok(())
}

/// Runs `job` on every item with up to `workers` threads; stops taking new
/// items after the first failure and returns it.
fn parallel<T: Sync>(
    items: &[T],
    workers: usize,
    job: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.min(items.len()) {
            s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    if let Err(e) = job(item) {
                        stop.store(true, Ordering::SeqCst);
                        first_error
                            .lock()
                            .expect("no thread panics holding this lock")
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("no thread panicked") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// An error and its causes on one line, each cause once (store errors
/// already quote their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The sources.list lines for a published distribution. `key` is the file
/// apt should verify with (`signed-by`), or `None` for an unsigned
/// repository (`trusted=yes`).
pub fn sources_list_lines(url: &str, p: &Published, key: Option<&str>) -> Vec<String> {
    let opts = match key {
        Some(k) if p.signed => format!("[signed-by={k}]"),
        _ => "[trusted=yes]".to_string(),
    };
    let comps = p.comps.join(" ");
    let mut lines = vec![format!("deb {opts} {url} {} {comps}", p.dist)];
    if p.has_sources {
        lines.push(format!("deb-src {opts} {url} {} {comps}", p.dist));
    }
    lines
}
