//! Publishing: the dists/ tree apt clients read.
//!
//! A publish happens in two halves so that nothing is written unless
//! everything can be:
//!
//! 1. **Prepare** (no writes to the bucket): for every distribution, read
//!    its packages once (one Select, in name order) and stream each stanza
//!    into the spool file and digests of every index listing it
//!    (`build`), so memory does not grow with the repository; gzip each
//!    index that differs from the published one from its spool file
//!    (`changes`: an unchanged index is neither gzipped nor written). Then
//!    compose the Release texts and sign them all. A missing key or a
//!    wrong passphrase stops here.
//! 2. **Write**, data before pointers, per distribution: every index under
//!    its `by-hash/<Algo>/<digest>` names, then (one parallel burst) its
//!    usual name and the leaf Release files, then `Release`, `Release.gpg`
//!    and `InRelease` last. An apt client reading meanwhile sees the old or
//!    the new Release, and both sets of indices exist under their by-hash
//!    names, so it never sees a hash sum mismatch. On a bucket that can
//!    switch a tree atomically (a local directory) all of it is written to
//!    a staged copy of `dists/DIST` that replaces it in one step, so even a
//!    client without by-hash support, or a publish killed part-way, never
//!    leaves plain indices that Release does not describe.
//!
//! A distribution whose state did not change since its published Release
//! was built (the store's change stamp says so, see [`changes`]) skips
//! prepare's read entirely and writes nothing.
//!
//! Concurrent publishes of one distribution are ordered by a generation
//! recorded in the state: the one that started last wins (see
//! docs/publishing.md). by-hash files a replaced Release named are kept for
//! a retention window, then deleted by a later publish (`retention`).

pub mod build;
pub mod changes;
pub mod clients;
pub mod freshness;
pub mod index;
pub mod refresh;
pub mod release;
pub mod retention;
pub mod sign;
pub mod stanza;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{anyhow, bail, Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::catalog::Catalog;
use crate::model::RepoConfig;
use crate::parallel::parallel;
use crate::rules::check_config;
use crate::store::{BlobStore, MetaStore, PutMode, StoreError};
use index::{Algo, Digests};
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
    /// How long by-hash files of a replaced Release stay.
    pub retention: chrono::Duration,
    /// Only re-date and re-sign the published Release files.
    pub refresh: bool,
    /// Write every file again, even those the published tree already has
    /// (see [`changes`]).
    pub force: bool,
}

impl Request<'_> {
    pub fn new(dists: Vec<String>, signer: Option<&dyn Signer>) -> Request<'_> {
        Request {
            dists,
            signer,
            now: Utc::now(),
            workers: 32,
            retention: retention::default_window(),
            refresh: false,
            force: false,
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
    /// Old by-hash files deleted (past the retention window).
    pub pruned: usize,
    /// Whether anything was written: `false` when the published tree
    /// already said everything this publish would.
    pub changed: bool,
    /// The indices written (paths below `dists/DIST/`, e.g.
    /// `main/binary-amd64/Packages`; each with its `.gz`).
    pub rewritten: Vec<String>,
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
    /// The by-hash paths (below `dists/DIST/`) the new Release names.
    current: BTreeSet<String>,
    /// The published Release this plan re-dates (a refresh) or keeps files
    /// of (a publish of what changed), which must still be the published
    /// one when it is replaced.
    based_on: Option<Vec<u8>>,
    /// The indices this plan writes (paths below `dists/DIST/`).
    rewritten: Vec<String>,
    /// Nothing differs from the published tree: nothing is written.
    unchanged: bool,
    /// What to record once the Release is in place ([`changes::record`]);
    /// `None` records nothing.
    record: Option<changes::Record>,
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
    // Read before anything of the state: a write after it changes it, so
    // a recorded stamp equal to a later one means what was read after it
    // is still the state.
    let stamp = catalog.meta().change_stamp()?;
    let attrs = catalog.config_attrs()?.unwrap_or_default();
    let config = RepoConfig::from_attrs(&attrs);
    let dists = chosen_dists(&config, &req.dists)?;
    let mut infos = Vec::new();
    for dist in &dists {
        let o = freshness::options(&attrs, dist)?;
        infos.push(ReleaseInfo {
            origin: config.origin().to_string(),
            label: config.label().to_string(),
            dist: dist.clone(),
            suite: o.suite.unwrap_or_else(|| dist.clone()),
            date: req.now,
            valid_until: o.valid_for.map(|d| req.now + d),
            not_automatic: o.not_automatic,
            but_automatic_upgrades: o.but_automatic_upgrades,
            archs: config.binary_archs(),
            comps: config.comps.clone(),
        });
    }
    let spool = tempfile::Builder::new()
        .prefix("repoman-publish-")
        .tempdir()
        .context("creating a temporary directory for index files")?;
    let meta = catalog.meta();
    let signer_id = req.signer.map(|s| s.describe());
    // Claimed before anything is read: a publish that claims later reads a
    // state at least as new, and wins.
    // A refresh claims nothing: it re-dates what the current generation
    // published, and stops if any publish starts meanwhile.
    // Distributions are independent: each claims its generation, is
    // prepared, and later written on a thread of its own (a few at a time),
    // so their round trips to a remote store overlap.
    let generations = each_dist(dists.iter().collect(), |dist| {
        Ok(match generation(meta, dist)? {
            (Some(_), n) if req.refresh => n,
            read => claim_generation(meta, dist, read)?,
        })
    })
    .into_iter()
    .collect::<Result<Vec<u64>>>()?;
    let config = &config;
    let signer_id = signer_id.as_deref();
    let numbered: Vec<(usize, ReleaseInfo)> = infos.into_iter().enumerate().collect();
    let mut plans = each_dist(numbered, |(n, info)| {
        if req.refresh {
            return refreshed(meta, catalog.blobs(), config, info, signer_id);
        }
        let previous = match req.force {
            true => None,
            false => changes::previous(meta, catalog.blobs(), &info.dist, signer_id)?,
        };
        if let Some(p) = previous
            .as_ref()
            .filter(|p| stamp.is_some() && p.stamp == stamp)
        {
            // Nothing was written to the state since the published Release
            // was built from it: its packages need not be read.
            if let Some(listed) = p.untouched(&info, req.signer.is_some()) {
                return Ok(untouched(&info.dist, p, &listed));
            }
        }
        let dir = spool.path().join(n.to_string());
        std::fs::create_dir(&dir)
            .with_context(|| format!("creating {} for index files", dir.display()))?;
        let mut plan = prepare(
            catalog,
            config,
            info,
            previous,
            req.signer.is_some(),
            &dir,
            progress,
        )?;
        // Nothing to write: the published Release also stands for this
        // stamp (so the next publish need not read the packages).
        let kept = match (&plan.based_on, plan.unchanged) {
            (Some(old), true) => stamp.as_ref().map(|_| old.as_slice()),
            (_, true) => None,
            (_, false) => Some(plan.release.as_bytes()),
        };
        plan.record = kept.map(|release| changes::Record {
            fingerprint: changes::fingerprint(release, signer_id),
            stamp: stamp.clone(),
        });
        Ok(plan)
    })
    .into_iter()
    .collect::<Result<Vec<DistPlan>>>()?;
    if let Some(signer) = req.signer {
        for plan in plans.iter_mut().filter(|p| !p.unchanged) {
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
    let blobs = catalog.blobs();
    let jobs: Vec<(&DistPlan, u64)> = plans.iter().zip(generations).collect();
    // Per distribution: `None` when nothing was written, else the files
    // written and by-hash files pruned.
    let written = each_dist(jobs, |(plan, generation)| {
        let based_on_current = || -> Result<()> {
            match &plan.based_on {
                Some(old)
                    if blobs.get(&format!("dists/{}/Release", plan.dist))?.as_ref()
                        != Some(old) =>
                {
                    bail!(
                        "publish of {} stopped: its Release changed while this publish {} it \
                         (another publish finished meanwhile); this publish replaced nothing, \
                         run it again",
                        plan.dist,
                        if req.refresh {
                            "refreshed"
                        } else {
                            "compared against"
                        }
                    )
                }
                _ => Ok(()),
            }
        };
        if plan.unchanged {
            // Nothing written; the Release compared must still be the
            // published one for "nothing changed" to be true.
            based_on_current()?;
            if let Some(record) = &plan.record {
                changes::record(meta, &plan.dist, record)?;
            }
            return Ok(None);
        }
        // Both checks at once: one round trip each.
        let latest = || {
            std::thread::scope(|s| {
                let based = s.spawn(based_on_current);
                let mine = still_latest(meta, &plan.dist, generation);
                let based = based
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                mine.and(based)
            })
        };
        let written = write_dist(blobs, plan, req, &latest, progress)?;
        if let Some(record) = &plan.record {
            changes::record(meta, &plan.dist, record)?;
        }
        Ok(Some(written))
    });
    // Announced in the distributions' order, each one that was written (a
    // failed one is reported after them).
    let mut out = Vec::new();
    let mut failed = None;
    for (plan, result) in plans.iter().zip(written) {
        let published = Published {
            dist: plan.dist.clone(),
            comps: config.comps.clone(),
            has_sources: plan.has_sources,
            signed: req.signer.is_some(),
            files: 0,
            pruned: 0,
            changed: false,
            rewritten: Vec::new(),
        };
        match result {
            Err(e) => {
                failed.get_or_insert(e);
            }
            Ok(None) => out.push(published),
            Ok(Some((files, pruned))) => {
                catalog.announce(
                    config,
                    vec![json!({"action": "publish", "type": "dists", "name": plan.dist})],
                )?;
                out.push(Published {
                    signed: plan.signatures.is_some(),
                    files,
                    pruned,
                    changed: true,
                    rewritten: plan.rewritten.clone(),
                    ..published
                });
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Distributions prepared or written at once.
const DIST_THREADS: usize = 4;

/// `job` of every distribution, up to [`DIST_THREADS`] at once, each on a
/// thread of its own; the results in the distributions' order.
fn each_dist<T: Send, R: Send>(
    dists: Vec<T>,
    job: impl Fn(T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    let job = &job;
    let mut out = Vec::new();
    let mut rest = dists.into_iter().peekable();
    while rest.peek().is_some() {
        let group: Vec<T> = rest.by_ref().take(DIST_THREADS).collect();
        std::thread::scope(|s| {
            let running: Vec<_> = group.into_iter().map(|d| s.spawn(move || job(d))).collect();
            out.extend(running.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }));
        });
    }
    out
}

/// The distributions to publish: the requested ones, each of which must be
/// configured, or every configured one.
fn chosen_dists(config: &RepoConfig, requested: &[String]) -> Result<Vec<String>> {
    if config.dists.is_empty() {
        bail!("the repository has no distributions configured (run setup first)");
    }
    let invalid = check_config(config);
    if !invalid.is_empty() {
        bail!(
            "the stored configuration is invalid: {}; nothing was published",
            invalid.join("; ")
        );
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

/// One index of a distribution: where it goes and what it lists.
struct IndexSpec {
    comp: String,
    /// `binary-<arch>` or `source`.
    sub: String,
    /// `Packages` or `Sources`.
    name: &'static str,
    /// The architectures whose packages it lists.
    archs: Vec<String>,
}

impl IndexSpec {
    /// Every index of a distribution: per component, each binary
    /// architecture (its own packages and every `all` one), then source.
    fn all(config: &RepoConfig) -> Vec<IndexSpec> {
        let mut out = Vec::new();
        for comp in &config.comps {
            for a in config.binary_archs() {
                out.push(IndexSpec {
                    comp: comp.clone(),
                    sub: format!("binary-{a}"),
                    name: "Packages",
                    archs: vec![a, "all".to_string()],
                });
            }
            out.push(IndexSpec {
                comp: comp.clone(),
                sub: "source".into(),
                name: "Sources",
                archs: vec!["source".into()],
            });
        }
        out
    }

    fn rel_dir(&self) -> String {
        format!("{}/{}", self.comp, self.sub)
    }
}

/// An index built and spooled, with its gzipped form's digests.
struct Built {
    plain: build::Plain,
    /// The gzipped form's spool file, or `None` when the index is
    /// unchanged and its published files stay.
    gz: Option<PathBuf>,
    gz_digests: Digests,
}

/// Builds, hashes and spools every index of `dist` in one read of its
/// packages (`build`), gzips those that differ from the `previous`
/// published ones, and composes its Release text; `unchanged` when
/// nothing differs at all.
fn prepare(
    catalog: &Catalog,
    config: &RepoConfig,
    info: ReleaseInfo,
    previous: Option<changes::Previous>,
    signed: bool,
    spool: &std::path::Path,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<DistPlan> {
    let dist = info.dist.as_str();
    let mut plan = DistPlan {
        dist: dist.to_string(),
        indices: Vec::new(),
        leaves: Vec::new(),
        release: String::new(),
        signatures: None,
        has_sources: false,
        current: BTreeSet::new(),
        based_on: None,
        rewritten: Vec::new(),
        unchanged: false,
        record: None,
    };
    let previous = previous.as_ref();
    let mut listed = Vec::new();
    let specs = IndexSpec::all(config);
    progress(Step::Build {
        dist: dist.to_string(),
        path: format!("{} indices", specs.len()),
    });
    // Which indices list a package of a component and architecture.
    let mut routes: std::collections::HashMap<(&str, &str), Vec<usize>> =
        std::collections::HashMap::new();
    for (i, spec) in specs.iter().enumerate() {
        for arch in &spec.archs {
            routes.entry((&spec.comp, arch)).or_default().push(i);
        }
    }
    let route = |p: &crate::model::Package| {
        routes
            .get(&(p.component.as_str(), p.architecture.as_str()))
            .cloned()
            .unwrap_or_default()
    };
    // Re-checked as they are read: what the store holds may have been
    // written by an older version or another tool.
    let plains = build::plains(catalog, dist, specs.len(), &route, spool)
        .with_context(|| format!("reading the packages of {dist}"))?;
    for (i, (spec, plain)) in specs.iter().zip(plains).enumerate() {
        if let Some(first) = &plain.first_invalid {
            bail!(
                "{} stored package(s) of dists/{dist}/{} cannot be published (first: {first}); \
                 nothing was published (`repoman-cli verify` lists them all)",
                plain.invalid,
                spec.rel_dir()
            );
        }
        let path = format!("{}/{}", spec.rel_dir(), spec.name);
        let (gz, gz_digests) = match previous.and_then(|p| p.unchanged_index(&path, &plain.digests))
        {
            Some(published) => (None, published),
            None => {
                let to = spool.join(format!("{i}.gz"));
                let digests = build::gzipped(&plain.spool, &to)?;
                (Some(to), digests)
            }
        };
        let built = Built {
            plain,
            gz,
            gz_digests,
        };
        add_index(&mut plan, &mut listed, config, previous, spec, built);
    }
    plan.release = top_release(&info, &listed);
    plan.current = by_hash_paths(&listed);
    if let Some(p) = previous {
        plan.unchanged = plan.indices.is_empty()
            && plan.leaves.is_empty()
            && p.release_unchanged(&info, &listed)
            && p.signatures_in_place(signed);
        plan.based_on = Some(p.bytes.clone());
    }
    Ok(plan)
}

/// The by-hash paths (below `dists/DIST/`) of the indices a Release lists.
fn by_hash_paths(listed: &[Listed]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in listed {
        if let Some((dir, name)) = l.path.rsplit_once('/') {
            if name != "Release" {
                for a in Algo::ALL {
                    out.insert(format!("{dir}/by-hash/{}/{}", a.name(), l.digests.get(a)));
                }
            }
        }
    }
    out
}

/// The plan of a refresh: the published Release re-dated, nothing else.
/// Its fingerprint is recorded only if the one it re-dates was this
/// repository's own (recorded) Release: a refresh re-signs the listing it
/// finds, and only a recorded listing may be reused by a later publish.
fn refreshed(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    config: &RepoConfig,
    info: ReleaseInfo,
    signer: Option<&str>,
) -> Result<DistPlan> {
    let (release, old, listed) = refresh::recompose(blobs, config, &info)?;
    // The re-dated Release lists what the old one did: it stands for the
    // state the old one was built from, and keeps its stamp.
    let record = changes::recorded(meta, &info.dist)?
        .filter(|r| r.fingerprint == changes::fingerprint(&old, signer))
        .map(|r| changes::Record {
            fingerprint: changes::fingerprint(release.as_bytes(), signer),
            stamp: r.stamp,
        });
    Ok(DistPlan {
        dist: info.dist.clone(),
        indices: Vec::new(),
        leaves: Vec::new(),
        release,
        signatures: None,
        has_sources: listed
            .iter()
            .any(|l| l.path.ends_with("/source/Sources") && l.digests.size > 0),
        current: by_hash_paths(&listed),
        based_on: Some(old),
        rewritten: Vec::new(),
        unchanged: false,
        record,
    })
}

/// The plan of a distribution whose state did not change since its
/// published Release (`previous`, listing `listed`) was built: nothing to
/// read or write.
fn untouched(dist: &str, previous: &changes::Previous, listed: &[Listed]) -> DistPlan {
    DistPlan {
        dist: dist.to_string(),
        indices: Vec::new(),
        leaves: Vec::new(),
        release: String::from_utf8_lossy(&previous.bytes).into_owned(),
        signatures: None,
        has_sources: listed
            .iter()
            .any(|l| l.path.ends_with("/source/Sources") && l.digests.size > 0),
        current: by_hash_paths(listed),
        based_on: Some(previous.bytes.clone()),
        rewritten: Vec::new(),
        unchanged: true,
        record: None,
    }
}

/// Records a built index (plain and gzipped), with its leaf Release, in
/// the plan (unless unchanged) and the Release listing.
fn add_index(
    plan: &mut DistPlan,
    listed: &mut Vec<Listed>,
    config: &RepoConfig,
    previous: Option<&changes::Previous>,
    spec: &IndexSpec,
    built: Built,
) {
    let rel_dir = spec.rel_dir();
    let dir = format!("dists/{}/{rel_dir}", plan.dist);
    if spec.sub == "source" && built.plain.has_packages {
        plan.has_sources = true;
    }
    let files = [
        (
            spec.name.to_string(),
            built.plain.spool,
            built.plain.digests,
        ),
        (
            format!("{}.gz", spec.name),
            built.gz.clone().unwrap_or_default(),
            built.gz_digests,
        ),
    ];
    for (file, spool, digests) in files {
        listed.push(Listed {
            path: format!("{rel_dir}/{file}"),
            digests: digests.clone(),
        });
        // An unchanged index is in the bucket already.
        if built.gz.is_some() {
            plan.indices.push(IndexFile {
                dir: dir.clone(),
                name: file,
                spool,
                digests,
            });
        }
    }
    if built.gz.is_some() {
        plan.rewritten.push(format!("{rel_dir}/{}", spec.name));
    }
    let arch = spec.sub.strip_prefix("binary-").unwrap_or("source");
    let leaf = leaf_release(
        &plan.dist,
        &spec.comp,
        arch,
        config.origin(),
        config.label(),
    )
    .into_bytes();
    let path = format!("{rel_dir}/Release");
    let digests = Digests::of(&leaf);
    if !previous.is_some_and(|p| p.unchanged_file(&path, &digests)) {
        plan.leaves.push((format!("{dir}/Release"), leaf));
    }
    listed.push(Listed { path, digests });
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

/// Indices up to this size go up from the spool under all four by-hash
/// names at once; a larger one goes up once, under its SHA-512 name, and
/// is copied (server-side on S3) to the other three, sending its bytes once
/// at the cost of one more round trip.
const UPLOAD_EVERY_NAME_UP_TO: u64 = 1024 * 1024;

/// Writes one distribution's files, data before pointers, in as few
/// rounds as the order allows:
///
/// 1. every by-hash name of every index at once, each a create-only put
///    (see [`put_data`]), beside the reads that decide retention and
///    whether a stale signature is there;
/// 2. the generation check, then the usual names of the indices, the leaf
///    Releases and the retention record in one burst;
/// 3. the check again, then Release (and its signatures);
/// 4. stale signatures and expired by-hash files deleted, all at once.
fn write_dist(
    blobs: &dyn BlobStore,
    plan: &DistPlan,
    req: &Request<'_>,
    latest: &(dyn Fn() -> Result<()> + Sync),
    progress: &(dyn Fn(Step) + Sync),
) -> Result<(usize, usize)> {
    let workers = req.workers.max(1);
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
    // A bucket that can switch a tree atomically (a local directory) gets
    // the whole new tree beside the old one, then one switch; on S3 the
    // files are written in place, in the order below.
    let home = format!("dists/{}", plan.dist);
    let staged = blobs
        .stage_tree(&home)
        .map_err(|e| failed("Release not updated", e.into()))?;
    let base = staged.clone().unwrap_or_else(|| home.clone());
    let at = |key: &str| format!("{base}{}", &key[home.len()..]);
    let in_place = |check: &dyn Fn() -> Result<()>| match staged {
        None => check(),
        Some(_) => Ok(()),
    };
    let sha512 = |f: &IndexFile| at(&f.by_hash_key(Algo::Sha512));
    // Round 1: the by-hash names. Small indices go up under every name at
    // once; a large one under its SHA-512 name, copied to the others next.
    let direct: Vec<(&IndexFile, Algo)> = plan
        .indices
        .iter()
        .flat_map(|f| {
            let algos: &[Algo] = match f.digests.size <= UPLOAD_EVERY_NAME_UP_TO {
                true => &Algo::ALL,
                false => &[Algo::Sha512],
            };
            algos.iter().map(move |a| (f, *a))
        })
        .collect();
    let copies: Vec<(&IndexFile, Algo)> = plan
        .indices
        .iter()
        .filter(|f| f.digests.size > UPLOAD_EVERY_NAME_UP_TO)
        .flat_map(|f| {
            [Algo::Sha256, Algo::Sha1, Algo::Md5]
                .into_iter()
                .map(move |a| (f, a))
        })
        .collect();
    // Beside them, the reads: what retention prunes (the Release being
    // replaced, the record, the listing) and, for an unsigned publish, the
    // signatures a signed one left, which would describe the old Release.
    let (reads, data) = std::thread::scope(|s| {
        let reads = s.spawn(|| -> Result<(retention::Pruning, Vec<String>)> {
            let stale = s.spawn(|| -> Result<Vec<String>> {
                if plan.signatures.is_some() {
                    return Ok(Vec::new());
                }
                let mut present = Vec::new();
                for name in ["Release.gpg", "InRelease"] {
                    let key = format!("{base}/{name}");
                    if blobs.head(&key)?.is_some() {
                        present.push(key);
                    }
                }
                Ok(present)
            });
            let pruning =
                retention::plan(blobs, &home, &base, &plan.current, req.now, req.retention);
            let stale = stale
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((pruning?, stale?))
        });
        let data = parallel(&direct, workers, |(f, algo)| {
            let key = at(&f.by_hash_key(*algo));
            put_data(req.force, &skipped, |mode| {
                blobs.put_file(&key, &f.spool, mode)
            })?;
            tally.one();
            Ok(())
        })
        .and_then(|()| {
            parallel(&copies, workers, |(f, algo)| {
                let key = at(&f.by_hash_key(*algo));
                put_data(req.force, &skipped, |mode| {
                    blobs.copy(&sha512(f), &key, mode)
                })?;
                tally.one();
                Ok(())
            })
        });
        let reads = reads
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (reads, data)
    });
    data.map_err(|e| failed("Release not updated", e))?;
    let (pruning, stale) = reads.map_err(|e| failed("Release not updated", e))?;
    // Round 2: the usual names, after every by-hash name is in place. They
    // (indices and leaf Releases) go in one burst right before Release: in
    // place (S3), that burst is the only time a client without by-hash
    // support can see an index Release does not describe yet. A publish
    // that started later has the newer state: this one stops before
    // replacing anything a client reads. The retention record goes with
    // them (nobody reads it but the next publish).
    in_place(latest)?;
    enum Plain<'a> {
        Index(&'a IndexFile),
        Leaf(&'a (String, Vec<u8>)),
        Record,
    }
    let plain: Vec<Plain> = plan
        .indices
        .iter()
        .map(Plain::Index)
        .chain(plan.leaves.iter().map(Plain::Leaf))
        .chain([Plain::Record])
        .collect();
    parallel(&plain, workers, |p| {
        match p {
            Plain::Index(f) => {
                let to = at(&format!("{}/{}", f.dir, f.name));
                blobs.copy(&sha512(f), &to, PutMode::Overwrite)?
            }
            Plain::Leaf((key, bytes)) => blobs.put_bytes(&at(key), bytes, PutMode::Overwrite)?,
            Plain::Record => return pruning.write_record(blobs),
        }
        tally.one();
        Ok(())
    })
    .map_err(|e| failed("Release not updated", e))?;
    // Round 3: the pointers, right after the check.
    in_place(latest)?;
    blobs
        .put_bytes(
            &format!("{base}/Release"),
            plan.release.as_bytes(),
            PutMode::Overwrite,
        )
        .map_err(|e| failed("Release not updated", e.into()))?;
    tally.one();
    if let Some(sigs) = &plan.signatures {
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
    // Round 4: what the new Release no longer needs, all at once.
    let (removed, pruned) = std::thread::scope(|s| {
        let pruned = s.spawn(|| pruning.delete(blobs, workers));
        let removed = parallel(&stale, workers, |key| match blobs.delete(key) {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        });
        let pruned = pruned
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (removed, pruned)
    });
    removed.map_err(|e| failed("Release written, stale signature not removed", e))?;
    let pruned =
        pruned.map_err(|e| failed("Release written, old by-hash files not all deleted", e))?;
    if let Some(staged) = &staged {
        // The check runs where no other switch beside it can, so the
        // switch happens only while this publish is still the latest.
        let check = || latest().map_err(|e| StoreError::Backend(one_line(&e)));
        blobs
            .commit_tree(&home, staged, &check)
            .map_err(|e| match e {
                StoreError::Backend(msg) if msg.starts_with("publish of ") => anyhow!(msg),
                e => failed("Release not updated", e.into()),
            })?;
    }
    Ok((tally.written() - skipped.load(Ordering::SeqCst), pruned))
}

/// The item holding each distribution's publish generation (one attribute
/// per distribution). It has no `name`, so no package query sees it.
pub const GENERATIONS_ITEM: &str = "publish-generations";

/// The current publish generation of `dist` (0 before the first).
fn generation(meta: &dyn MetaStore, dist: &str) -> Result<(Option<String>, u64)> {
    let text = meta
        .get(GENERATIONS_ITEM)?
        .and_then(|a| a.get(dist).and_then(|v| v.first().cloned()));
    let n = match &text {
        None => 0,
        Some(t) => t.parse().map_err(|_| {
            anyhow!("the publish generation of {dist} in {GENERATIONS_ITEM} is not a number: {t:?}")
        })?,
    };
    Ok((text, n))
}

/// Takes the next publish generation of `dist` (a conditional write, so
/// two publishes never get the same one), starting from `read`, the
/// generation just read: the conditional write is what decides, so a value
/// read a moment ago costs at most one more try.
fn claim_generation(meta: &dyn MetaStore, dist: &str, read: (Option<String>, u64)) -> Result<u64> {
    let mut read = read;
    for _ in 0..50 {
        let (text, n) = read;
        let next = n + 1;
        if meta
            .put_if(GENERATIONS_ITEM, dist, text.as_deref(), &next.to_string())
            .with_context(|| format!("recording the publish of {dist} in {}", meta.describe()))?
        {
            return Ok(next);
        }
        read = generation(meta, dist)?;
    }
    bail!("publish of {dist}: too many publishes at once, could not record this one; try again")
}

/// Fails when a publish of `dist` started after the one holding
/// `mine`: that one read a newer state, so its indices must stay.
fn still_latest(meta: &dyn MetaStore, dist: &str, mine: u64) -> Result<()> {
    let text = mine.to_string();
    // A conditional write of the same value: as consistent as the claim.
    if meta.put_if(GENERATIONS_ITEM, dist, Some(&text), &text)? {
        return Ok(());
    }
    let (_, now) = generation(meta, dist)?;
    bail!(
        "publish of {dist} stopped: a later publish of {dist} (number {now}, this one is {mine}) \
         read a newer state and publishes it; this publish replaced no index and no Release"
    )
}

/// Writes a by-hash object with `put`, create-only unless `force`: its
/// name is its content's digest, so an object already under that name
/// (the put answers [`StoreError::Exists`]: 412 on S3) holds these bytes,
/// and is counted as skipped. One request either way, no HEAD first.
fn put_data(
    force: bool,
    skipped: &AtomicUsize,
    put: impl FnOnce(PutMode) -> crate::store::StoreResult<()>,
) -> Result<()> {
    let mode = match force {
        true => PutMode::Overwrite,
        false => PutMode::Create,
    };
    match put(mode) {
        Ok(()) => Ok(()),
        Err(StoreError::Exists(_)) => {
            skipped.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        Err(e) => Err(e.into()),
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
