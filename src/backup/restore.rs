//! `restore`: replays a backup into the state store, in two passes over
//! the input so that memory stays bounded whatever the backup's size.
//!
//! 1. [`check`] reads and validates every item (`stream::scan`) and keeps
//!    only what the plan needs: the configuration, each item's key (32
//!    bytes), the distributions and places seen, and a digest of each
//!    chunk of the items to restore. Any problem: nothing is written.
//! 2. [`plan`]: the configuration change, the items to prune (the store's
//!    items within the filter whose key the backup lacks, read as names
//!    and coordinates only) and notes.
//! 3. [`replay`] reads the input again, chunk by chunk; a chunk whose
//!    digest is not the first pass's stops the restore before it is
//!    written, so what is written is what was validated. Each chunk's
//!    current items are read from the store (a name range when the backup
//!    is in name order, as `backup` writes it, else, and on DynamoDB, by
//!    item name) and
//!    compared ([`super::diff`]): [`apply`] writes the new and changed
//!    ones with replace semantics (one `apply` per chunk: one transaction
//!    on the embedded store), a dry run lists them. Then pruned items are
//!    deleted and the `meta` item is written last.
//!
//! Re-running a restore that was interrupted converges: what was written is
//! now unchanged, the rest is written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::diff;
use super::stream::{self, key_bytes, KeySet, Scan, ScanError};
use super::validate::{describe, first, Backup, BackupItem, COORDINATES};
use crate::catalog::{Catalog, Filter, NAMES_PER_QUERY};
use crate::model::{Attrs, Item, RepoConfig, META_ITEM};
use crate::rules::Setting;
use crate::select::{CmpOp, Expr, Operand, Output, Select};
use crate::store::Change;

/// Items compared and written per step (one `apply`: one transaction on the
/// embedded store; a progress step): the most items a restore holds.
pub const CHUNK: usize = 2000;

/// What to restore and how.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// Restore only the backup's items matching this (`-p -w -v -a -d -c`);
    /// pruning is limited to it as well.
    pub filter: Filter,
    /// Delete items (within the filter) that the backup does not have.
    pub prune: bool,
    /// Where the backup came from (file path, bucket key), for the
    /// announcement.
    pub source: String,
    /// Restore a backup whose metadata lacks distributions, components or
    /// architectures, keeping the current configuration. Without it such
    /// a backup is refused: it is most likely not what was meant.
    pub allow_missing_config: bool,
}

/// The configuration lists a backup's metadata lacks.
pub fn missing_config(backup: &Backup) -> Vec<&'static str> {
    missing_lists(&backup.metadata)
}

/// The configuration lists `metadata` lacks.
pub fn missing_lists(metadata: &Attrs) -> Vec<&'static str> {
    Setting::ALL
        .iter()
        .map(|k| k.attr())
        .filter(|a| !metadata.contains_key(*a))
        .collect()
}

impl RestoreRequest {
    /// Whether this restores the whole backup (no filter at all).
    pub fn is_full(&self) -> bool {
        let f = &self.filter;
        f.names.is_empty()
            && f.dists.is_empty()
            && f.comps.is_empty()
            && f.archs.is_empty()
            && f.versions.is_empty()
    }
}

/// Whether a package item's attributes match a filter, as the store's
/// Select for [`Filter::to_select`] decides (the same evaluator).
pub fn matches(f: &Filter, attrs: &Attrs) -> bool {
    crate::select::eval::matches(f.to_select().filter.as_ref(), "", attrs)
}

/// A backup to restore, read twice: once to validate it, once to replay
/// it.
pub enum Input {
    /// A backup file (or a spooled copy), read from its start each time.
    File(std::fs::File),
    /// Items already validated and in memory (`--from-published`).
    Items(Backup),
}

impl Input {
    /// Input that cannot be read twice (standard input, a download),
    /// copied to an anonymous temporary file first.
    pub fn spool(mut from: impl Read) -> Result<Input> {
        let mut f = tempfile::tempfile().context("creating a temporary file")?;
        std::io::copy(&mut from, &mut f).context("reading the backup")?;
        Ok(Input::File(f))
    }

    /// Reads the whole input: see [`stream::scan`].
    pub fn scan(
        &mut self,
        keys: Option<&mut KeySet>,
        each: &mut dyn FnMut(BackupItem) -> Result<()>,
    ) -> Result<Scan, ScanError> {
        match self {
            Input::File(f) => {
                f.seek(SeekFrom::Start(0))
                    .map_err(|e| ScanError::Stopped(e.into()))?;
                stream::scan(&*f, keys, each)
            }
            Input::Items(b) => {
                let mut keys = keys;
                let mut sorted = true;
                let mut last: Option<&str> = None;
                for item in &b.items {
                    if let Some(k) = keys.as_mut() {
                        k.insert(key_bytes(&item.key), 0);
                    }
                    let name = item.get("name");
                    sorted &= last.is_none_or(|l| l <= name);
                    last = Some(name);
                    each(item.clone()).map_err(ScanError::Stopped)?;
                }
                Ok(Scan {
                    metadata: b.metadata.clone(),
                    repacked: b.repacked.clone(),
                    sorted,
                })
            }
        }
    }
}

/// A digest of each run of [`CHUNK`] items: the first pass records them,
/// the second compares before it writes.
#[derive(Default)]
struct ChunkDigest {
    sha: Sha256,
    n: usize,
}

impl ChunkDigest {
    /// Adds an item; the chunk's digest when this completes one.
    fn add(&mut self, item: &BackupItem) -> Option<[u8; 32]> {
        let mut field = |s: &str| {
            self.sha.update((s.len() as u64).to_le_bytes());
            self.sha.update(s.as_bytes());
        };
        field(&item.key);
        for (k, vs) in &item.attrs {
            field(k);
            for v in vs {
                field(v);
            }
            field("");
        }
        self.n += 1;
        (self.n == CHUNK).then(|| self.take())
    }

    fn take(&mut self) -> [u8; 32] {
        self.n = 0;
        self.sha.finalize_reset().into()
    }

    /// The last, partial chunk's digest.
    fn finish(&mut self) -> Option<[u8; 32]> {
        (self.n > 0).then(|| self.take())
    }
}

/// What the first pass keeps of a valid backup: what the plan needs, not
/// the items.
#[derive(Debug, Default)]
pub struct Checked {
    /// The `meta` item's attributes (empty when the backup has none).
    pub metadata: Attrs,
    /// Items whose control text was re-fragmented (their paths).
    pub repacked: Vec<String>,
    /// How many items the backup has, and how many the filter selects.
    pub items: u64,
    pub selected: u64,
    keys: KeySet,
    dists: BTreeSet<String>,
    /// How many selected items each (distribution, component,
    /// architecture) has.
    places: BTreeMap<(String, String, String), u64>,
    chunks: Vec<[u8; 32]>,
    sorted: bool,
}

/// The first pass: reads and validates the whole input.
pub fn check(input: &mut Input, req: &RestoreRequest) -> Result<Checked, ScanError> {
    let select = req.filter.to_select();
    let mut c = Checked::default();
    let mut digest = ChunkDigest::default();
    let mut keys = KeySet::new();
    let scan = input.scan(Some(&mut keys), &mut |item| {
        c.items += 1;
        let (d, comp, a) = (
            item.get("distribution"),
            item.get("component"),
            item.get("architecture"),
        );
        if !c.dists.contains(d) {
            c.dists.insert(d.to_string());
        }
        if crate::select::eval::matches(select.filter.as_ref(), "", &item.attrs) {
            c.selected += 1;
            *c.places
                .entry((d.to_string(), comp.to_string(), a.to_string()))
                .or_default() += 1;
            c.chunks.extend(digest.add(&item));
        }
        Ok(())
    })?;
    c.chunks.extend(digest.finish());
    c.keys = keys;
    c.metadata = scan.metadata;
    c.repacked = scan.repacked;
    c.sorted = scan.sorted;
    Ok(c)
}

/// One item to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    pub key: String,
    /// `name version dist/comp/arch`
    pub describe: String,
    pub attrs: Attrs,
    /// Attributes the current item has and the backup's does not.
    pub remove: Vec<String>,
    /// Names of the attributes that differ (for `--dry-run`); empty for a
    /// new item.
    pub changed: Vec<String>,
}

impl ItemWrite {
    fn change(&self) -> Change {
        Change::Put {
            item: self.key.clone(),
            attrs: self.attrs.clone(),
            remove: self.remove.clone(),
        }
    }
}

/// Everything a restore would do besides the items' writes, which
/// [`replay`] finds a chunk at a time.
#[derive(Debug, Clone, Default)]
pub struct RestorePlan {
    /// Current items to delete (`--prune`): their names and coordinates.
    pub pruned: Vec<Item>,
    /// The configuration write, when it differs.
    pub meta: Option<ItemWrite>,
    /// How the configuration would change, one entry per attribute.
    pub config_diff: Vec<diff::ConfigDiff>,
    /// Things the user should know (hidden items, configuration kept).
    pub notes: Vec<String>,
    /// Dangerous aspects that need `--i-fear-no-evil` (see `Ui::confirm`).
    pub evil: Vec<String>,
    /// The store has no domain yet (a restore into a new store).
    pub create_domain: bool,
}

/// The item writes of one chunk (or, collected, of a whole restore).
#[derive(Debug, Clone, Default)]
pub struct ChunkPlan {
    pub added: Vec<ItemWrite>,
    pub changed: Vec<ItemWrite>,
    pub unchanged: usize,
}

impl ChunkPlan {
    /// Whether nothing is to be written.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty()
    }
}

/// Counts of what a restore did, as announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    pub added: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub config_changed: bool,
}

/// Hands every current item matching `filter` to `each`, with the given
/// output (names longer than one Select may compare are queried in
/// groups).
fn each_current(
    cat: &Catalog,
    filter: &Filter,
    output: Output,
    each: &mut dyn FnMut(Item) -> crate::store::StoreResult<()>,
) -> Result<()> {
    let groups: Vec<Filter> = if filter.names.len() <= NAMES_PER_QUERY {
        vec![filter.clone()]
    } else {
        filter
            .names
            .chunks(NAMES_PER_QUERY)
            .map(|c| Filter {
                names: c.to_vec(),
                ..filter.clone()
            })
            .collect()
    };
    for f in groups {
        let mut q = f.to_select();
        q.output = output.clone();
        cat.meta()
            .select(&q, each)
            .with_context(|| format!("reading the current items from {}", cat.meta().describe()))?;
    }
    Ok(())
}

/// Plans a restore of a checked backup against the current state (all but
/// the item writes, which [`replay`] finds).
pub fn plan(cat: &Catalog, backup: &Checked, req: &RestoreRequest) -> Result<RestorePlan> {
    let missing = missing_lists(&backup.metadata);
    if !missing.is_empty() && !req.allow_missing_config {
        bail!(
            "{}: the backup's metadata has no {}; nothing was written (restore its items \
             and keep the current configuration with --allow-missing-config)",
            req.source,
            missing.join(", ")
        );
    }
    let meta = cat.meta();
    let mut p = RestorePlan {
        create_domain: !meta
            .domain_exists()
            .with_context(|| format!("opening {}", meta.describe()))?,
        ..RestorePlan::default()
    };
    if req.prune && !p.create_domain {
        let mut gone = Vec::new();
        let coords = Output::Attrs(COORDINATES.iter().map(|s| s.to_string()).collect());
        each_current(cat, &req.filter, coords, &mut |item| {
            if !backup.keys.contains_key(&key_bytes(&item.name)) {
                gone.push(item);
            }
            Ok(())
        })?;
        gone.sort_by_cached_key(|i| describe(&i.attrs));
        p.pruned = gone;
        if p.pruned.len() > 9 {
            p.evil.push(format!(
                "*** You are about to delete {} packages, which seems like a lot. Are you sure?",
                p.pruned.len()
            ));
        }
    }
    let current_meta = if p.create_domain {
        None
    } else {
        meta.get(META_ITEM)
            .with_context(|| format!("reading configuration from {}", meta.describe()))?
    };
    unknown_dists(backup, req, current_meta.as_ref())?;
    plan_meta(&mut p, backup, req, current_meta.as_ref());
    let config = match (&p.meta, &current_meta) {
        (Some(w), _) => RepoConfig::from_attrs(&w.attrs),
        (None, Some(m)) => RepoConfig::from_attrs(m),
        (None, None) => RepoConfig::default(),
    };
    hidden_notes(&mut p, &config, &backup.places);
    Ok(p)
}

/// A distribution asked for with `-d` must be one the backup or the
/// current configuration knows: a typo restores nothing, and says so.
fn unknown_dists(backup: &Checked, req: &RestoreRequest, current: Option<&Attrs>) -> Result<()> {
    let known = |d: &String| {
        [Some(&backup.metadata), current]
            .into_iter()
            .flatten()
            .any(|m| m.get("dists").is_some_and(|v| v.contains(d)))
            || backup.dists.contains(d)
    };
    let unknown: Vec<&String> = req.filter.dists.iter().filter(|d| !known(d)).collect();
    if !unknown.is_empty() {
        bail!(
            "{}: unknown distribution(s) {} (neither in the backup nor configured); nothing was written",
            req.source,
            unknown.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The configuration: replaced by the backup's on a full restore, or when
/// there is none yet; kept on a partial restore, and when the backup's
/// lacks a list (restored with `allow_missing_config`).
fn plan_meta(p: &mut RestorePlan, backup: &Checked, req: &RestoreRequest, current: Option<&Attrs>) {
    if backup.metadata.is_empty() {
        p.notes
            .push("the backup has no configuration; the current configuration is kept".into());
        return;
    }
    let missing = missing_lists(&backup.metadata);
    if !missing.is_empty() {
        p.notes.push(format!(
            "the backup's configuration has no {}; the current configuration is kept",
            missing.join(", ")
        ));
        return;
    }
    if !req.is_full() && current.is_some() {
        p.notes
            .push("a partial restore (with filters) keeps the current configuration".into());
        return;
    }
    let empty = Attrs::new();
    let cur = current.unwrap_or(&empty);
    let (changed, remove) = diff::compare(cur, &backup.metadata);
    if changed.is_empty() {
        return;
    }
    p.config_diff = diff::config(cur, &backup.metadata);
    p.meta = Some(ItemWrite {
        key: META_ITEM.into(),
        describe: META_ITEM.into(),
        attrs: backup.metadata.clone(),
        remove,
        changed,
    });
}

/// Restored items the resulting configuration does not serve are hidden
/// from queries and publishing: say so, and how to show them.
fn hidden_notes(
    p: &mut RestorePlan,
    config: &RepoConfig,
    places: &BTreeMap<(String, String, String), u64>,
) {
    let mut dists = BTreeSet::new();
    let mut comps = BTreeSet::new();
    let mut archs = BTreeSet::new();
    let mut hidden = 0;
    for ((d, c, a), n) in places {
        let mut h = false;
        if !config.has_dist(d) {
            dists.insert(d.to_string());
            h = true;
        }
        if !config.has_comp(c) {
            comps.insert(c.to_string());
            h = true;
        }
        if !config.has_arch(a) {
            archs.insert(a.to_string());
            h = true;
        }
        if h {
            hidden += n;
        }
    }
    if hidden == 0 {
        return;
    }
    let mut why = Vec::new();
    for (what, set) in [
        ("distributions", dists),
        ("components", comps),
        ("architectures", archs),
    ] {
        if !set.is_empty() {
            why.push(format!(
                "{what} {}",
                set.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    p.notes.push(format!(
        "{hidden} restored package(s) are hidden because the configuration does not serve {} (see them with -H; serve them with `repo add-...`)",
        why.join("; ")
    ));
}

/// The second pass: reads the input again and hands each chunk's writes
/// to `each`, after checking the chunk is what [`check`] validated and
/// comparing it with the store's current items.
pub fn replay(
    cat: &Catalog,
    input: &mut Input,
    backup: &Checked,
    plan: &RestorePlan,
    req: &RestoreRequest,
    each: &mut dyn FnMut(ChunkPlan) -> Result<()>,
) -> Result<()> {
    let select = req.filter.to_select();
    let mut digest = ChunkDigest::default();
    let mut chunk: Vec<BackupItem> = Vec::with_capacity(CHUNK);
    let mut n = 0;
    let by_range = backup.sorted && cat.meta().reads_name_ranges();
    let mut step = |chunk: &mut Vec<BackupItem>, d: [u8; 32], n: &mut usize| -> Result<()> {
        if backup.chunks.get(*n) != Some(&d) {
            bail!(
                "{}: the backup changed while it was being restored (read again, it is not what was checked); run the restore again",
                req.source
            );
        }
        *n += 1;
        let items = std::mem::take(chunk);
        let current = if plan.create_domain {
            HashMap::new()
        } else {
            current_items(cat, &items, by_range)?
        };
        each(compare_chunk(items, current))
    };
    let scanned = input.scan(None, &mut |item| {
        if !crate::select::eval::matches(select.filter.as_ref(), "", &item.attrs) {
            return Ok(());
        }
        let full = digest.add(&item);
        chunk.push(item);
        match full {
            Some(d) => step(&mut chunk, d, &mut n),
            None => Ok(()),
        }
    });
    match scanned {
        Ok(_) => {}
        Err(ScanError::Stopped(e)) => return Err(e),
        Err(ScanError::Invalid(p)) => bail!(
            "{}: the backup changed while it was being restored and is no longer valid ({p}); run the restore again",
            req.source
        ),
    }
    if let Some(d) = digest.finish() {
        step(&mut chunk, d, &mut n)?;
    }
    if n != backup.chunks.len() {
        bail!(
            "{}: the backup changed while it was being restored (it holds fewer items than were checked); run the restore again",
            req.source
        );
    }
    Ok(())
}

/// The store's current items of a chunk's keys: those of the chunk's name
/// range when the backup is in name order (one query, as `backup` reads),
/// else by item name.
fn current_items(
    cat: &Catalog,
    chunk: &[BackupItem],
    by_range: bool,
) -> Result<HashMap<String, Attrs>> {
    let (Some(lo), Some(hi)) = (chunk.first(), chunk.last()) else {
        return Ok(HashMap::new());
    };
    let wanted: HashSet<&str> = chunk.iter().map(|i| i.key.as_str()).collect();
    let q = if by_range {
        let name = || Operand::Attr("name".into());
        Select::all_where(
            Expr::Cmp(name(), CmpOp::Ge, lo.get("name").to_string()).and(Expr::Cmp(
                name(),
                CmpOp::Le,
                hi.get("name").to_string(),
            )),
        )
    } else {
        Select::all_where(Expr::In(
            Operand::ItemName,
            chunk.iter().map(|i| i.key.clone()).collect(),
        ))
    };
    let mut out = HashMap::new();
    let meta = cat.meta();
    meta.select(&q, &mut |item| {
        if wanted.contains(item.name.as_str()) {
            out.insert(item.name, item.attrs);
        }
        Ok(())
    })
    .with_context(|| format!("reading the current items from {}", meta.describe()))?;
    Ok(out)
}

/// A chunk's items compared with their current versions.
fn compare_chunk(items: Vec<BackupItem>, mut current: HashMap<String, Attrs>) -> ChunkPlan {
    let mut p = ChunkPlan::default();
    for item in items {
        match current.remove(&item.key) {
            None => p.added.push(ItemWrite {
                describe: item.describe(),
                key: item.key,
                attrs: item.attrs,
                remove: Vec::new(),
                // Every attribute is new: not listed, as a dry run shows
                // new items whole.
                changed: Vec::new(),
            }),
            Some(cur) if diff::same(&cur, &item.attrs) => p.unchanged += 1,
            Some(cur) => {
                let (changed, remove) = diff::compare(&cur, &item.attrs);
                p.changed.push(ItemWrite {
                    describe: item.describe(),
                    key: item.key,
                    attrs: item.attrs,
                    remove,
                    changed,
                });
            }
        }
    }
    p
}

/// Every item write of a restore, collected (for a listing of a small
/// backup; a restore itself goes chunk by chunk).
pub fn item_writes(
    cat: &Catalog,
    input: &mut Input,
    backup: &Checked,
    plan: &RestorePlan,
    req: &RestoreRequest,
) -> Result<ChunkPlan> {
    let mut all = ChunkPlan::default();
    replay(cat, input, backup, plan, req, &mut |c| {
        all.added.extend(c.added);
        all.changed.extend(c.changed);
        all.unchanged += c.unchanged;
        Ok(())
    })?;
    Ok(all)
}

/// Carries out a restore: item writes chunk by chunk, then deletions, then
/// the configuration, then the announcements. `progress(done, total)`
/// after each chunk.
pub fn apply(
    cat: &Catalog,
    input: &mut Input,
    backup: &Checked,
    plan: &RestorePlan,
    req: &RestoreRequest,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RestoreReport> {
    let store = cat.meta();
    let total = backup.selected + plan.pruned.len() as u64 + u64::from(plan.meta.is_some());
    let mut done = 0u64;
    if plan.create_domain {
        store
            .create_domain()
            .with_context(|| format!("creating {}", store.describe()))?;
    }
    let mut report = RestoreReport {
        pruned: plan.pruned.len(),
        config_changed: plan.meta.is_some(),
        ..RestoreReport::default()
    };
    replay(cat, input, backup, plan, req, &mut |c| {
        let changes: Vec<Change> = c
            .added
            .iter()
            .chain(&c.changed)
            .map(|w| w.change())
            .collect();
        if !changes.is_empty() {
            store
                .apply(&changes)
                .with_context(|| format!("writing items to {}", store.describe()))?;
        }
        report.added += c.added.len();
        report.changed += c.changed.len();
        report.unchanged += c.unchanged;
        done += (c.added.len() + c.changed.len() + c.unchanged) as u64;
        progress(done, total);
        Ok(())
    })?;
    for chunk in plan.pruned.chunks(CHUNK) {
        let changes: Vec<Change> = chunk
            .iter()
            .map(|i| Change::Delete {
                item: i.name.clone(),
            })
            .collect();
        store
            .apply(&changes)
            .with_context(|| format!("deleting items from {}", store.describe()))?;
        done += changes.len() as u64;
        progress(done, total);
    }
    if let Some(m) = &plan.meta {
        store
            .apply(&[m.change()])
            .with_context(|| format!("writing the configuration to {}", store.describe()))?;
        done += 1;
        progress(done, total);
    }
    announce(cat, plan, req, &report)?;
    Ok(report)
}

/// One summary message, and the usual delete message per pruned item.
fn announce(
    cat: &Catalog,
    plan: &RestorePlan,
    req: &RestoreRequest,
    r: &RestoreReport,
) -> Result<()> {
    let mut messages = vec![json!({
        "action": "restore",
        "type": "backup",
        "name": req.source,
        "added": r.added,
        "changed": r.changed,
        "unchanged": r.unchanged,
        "pruned": r.pruned,
    })];
    // A pruned item is read as its coordinates: the delete message of
    // `catalog::delete_message`, from them.
    for item in &plan.pruned {
        messages.push(json!({
            "action": "delete",
            "type": "package",
            "name": first(&item.attrs, "name"),
            "version": first(&item.attrs, "version"),
            "distribution": first(&item.attrs, "distribution"),
            "component": first(&item.attrs, "component"),
        }));
    }
    let config = cat.config()?;
    cat.announce(&config, messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn filters_match_like_the_store() {
        let a = attrs(&[
            ("name", &["hello"]),
            ("version", &["1.0"]),
            ("distribution", &["stable"]),
            ("component", &["main"]),
            ("architecture", &["amd64"]),
        ]);
        let f = |names: &[&str], prefix: bool, dists: &[&str]| Filter {
            names: names.iter().map(|s| s.to_string()).collect(),
            name_prefix: prefix,
            dists: dists.iter().map(|s| s.to_string()).collect(),
            ..Filter::default()
        };
        assert!(matches(&Filter::default(), &a));
        assert!(matches(&f(&["hello", "x"], false, &[]), &a));
        assert!(!matches(&f(&["hel"], false, &[]), &a));
        assert!(matches(&f(&["hel"], true, &[]), &a));
        assert!(matches(&f(&[], false, &["stable"]), &a));
        assert!(!matches(&f(&["hello"], false, &["testing"]), &a));
        assert!(!matches(&Filter::default(), &attrs(&[("dists", &["x"])])));
    }
}
