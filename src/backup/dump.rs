//! `backup`: the state as JSON in the original's structure,
//! `{"metadata": {attr: [values]}, "packages": {name: {dist: {comp: {arch: [item...]}}}}}`,
//! written name by name so memory stays bounded by the largest package
//! rather than the repository.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::pyjson::{self, Style};
use crate::catalog::tree::{meta_json, package_tree};
use crate::catalog::{Catalog, Filter, NAMES_PER_QUERY};
use crate::model::Item;
use crate::select::{CmpOp, Expr, Operand, Output};

/// What a dump wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpStats {
    pub items: u64,
    pub names: u64,
}

/// How many package items match `filter` (for a progress bar's total).
pub fn count_items(cat: &Catalog, filter: &Filter) -> Result<u64> {
    let mut q = filter.to_select();
    q.output = Output::Count;
    let mut total = 0;
    cat.meta().select(&q, &mut |item| {
        if let Some(n) = item.attrs.get("Count").and_then(|v| v.first()) {
            total += n.parse::<u64>().unwrap_or(0);
        }
        Ok(())
    })?;
    Ok(total)
}

/// Writes the backup of the items matching `filter` (no configuration
/// scope: hidden packages are part of the state) to `out`, followed by a
/// newline as the original's `print` does. `progress` gets the number of
/// items written so far.
pub fn dump(
    cat: &Catalog,
    filter: &Filter,
    style: Style,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpStats> {
    dump_in_ranges(cat, filter, style, out, progress, RANGE_ITEMS)
}

/// [`dump`] reading about `range_items` items per query (the output does
/// not depend on it).
///
/// The state is read in several queries, so a writer working meanwhile
/// could leave a backup that is half before and half after its change.
/// That is detected, never written as if whole: on a store with a change
/// stamp ([`MetaStore::change_stamp`](crate::store::MetaStore::change_stamp),
/// the embedded one) the stamp read before anything and after everything
/// must be the same, which catches any write, the control text included;
/// on one without, a light query (item names and the attributes of
/// [`FINGERPRINT_ATTRS`]) is made before and after the items are read, and
/// the two, the items read and the configuration read before and after
/// must all agree. Otherwise the dump fails with [`StateChanged`] before
/// writing its closing brackets (so even a dump to standard output is no
/// valid document). [`retrying`] runs it again.
pub fn dump_in_ranges(
    cat: &Catalog,
    filter: &Filter,
    style: Style,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
    range_items: u64,
) -> Result<DumpStats> {
    let store = cat.meta();
    let stamp = store
        .change_stamp()
        .with_context(|| format!("reading the change stamp of {}", store.describe()))?;
    let meta = cat.config_attrs()?.unwrap_or_default();
    let mut w = TreeWriter {
        out,
        style,
        stats: DumpStats::default(),
        last_name: None,
    };
    w.start(&meta_json(&meta))?;
    if filter.names.len() <= NAMES_PER_QUERY {
        let survey_after = stamp.is_none();
        stream_sorted(
            cat,
            filter,
            &mut w,
            progress,
            range_items.max(1),
            survey_after,
        )?;
    } else {
        // More names than one Select may compare: collect, then group.
        let mut items = cat.find_items(filter)?;
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items.dedup_by(|a, b| a.name == b.name);
        items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        let mut read = Fingerprint::default();
        for group in items.chunk_by(|a, b| name_of(a) == name_of(b)) {
            group.iter().for_each(|i| read.add(i));
            w.package(group)?;
            progress(w.stats.items);
        }
        let mut again = cat.find_items(filter)?;
        again.sort_by(|a, b| a.name.cmp(&b.name));
        again.dedup_by(|a, b| a.name == b.name);
        let mut after = Fingerprint::default();
        again.iter().for_each(|i| after.add(i));
        if read != after {
            return Err(StateChanged(format!(
                "{} item(s) read, {} there after reading",
                read.items, after.items
            ))
            .into());
        }
    }
    if cat.config_attrs()?.unwrap_or_default() != meta {
        return Err(StateChanged("the configuration changed".into()).into());
    }
    if let Some(before) = stamp {
        let after = store
            .change_stamp()
            .with_context(|| format!("reading the change stamp of {}", store.describe()))?;
        if after.as_ref() != Some(&before) {
            return Err(StateChanged(format!(
                "change stamp {before} when the backup started, {} at its end",
                after.as_deref().unwrap_or("none")
            ))
            .into());
        }
    }
    w.finish()?;
    Ok(w.stats)
}

/// The attributes besides the item name that the check for changes made
/// during a backup compares: everything an `add`, `add --overwrite`, `cp`,
/// `rm` or restore of a package changes except the control text (the
/// bulk of an item, left out so the check stays a light query).
pub const FINGERPRINT_ATTRS: &[&str] = &["name", "filename", "sha256", "size", "files"];

/// The state changed while a backup was being read: the backup would
/// have been torn, so it was stopped (and [`retrying`] runs it again).
#[derive(Debug, thiserror::Error)]
#[error("the state changed while the backup was being read ({0})")]
pub struct StateChanged(pub String);

/// How often a backup is tried when the state keeps changing under it.
pub const ATTEMPTS: u32 = 3;

/// Runs `attempt` (a whole backup, from the start) until it is not stopped
/// by a [`StateChanged`], at most `attempts` times, pausing `pause` times
/// the attempt number in between (to let a writer finish); any other error
/// ends it at once.
pub fn retrying<T>(
    attempts: u32,
    pause: std::time::Duration,
    attempt: &mut dyn FnMut() -> Result<T>,
) -> Result<T> {
    let mut n = 1;
    loop {
        match attempt() {
            Err(e) if e.downcast_ref::<StateChanged>().is_some() => {
                if n >= attempts {
                    bail!(
                        "{e}, {n} times in a row: no backup was written; run it again when the writes are done"
                    );
                }
                tracing::warn!("{e}; reading it again");
                std::thread::sleep(pause * n);
                n += 1;
            }
            other => return other,
        }
    }
}

/// An order-independent digest of items (name and
/// [`FINGERPRINT_ATTRS`], values as sets): their count and the wrapping
/// sum of each one's SHA-256 (the first 16 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fingerprint {
    items: u64,
    sum: u128,
}

impl Fingerprint {
    fn add(&mut self, item: &Item) {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(item.name.as_bytes());
        for attr in FINGERPRINT_ATTRS {
            let mut values: Vec<&String> = item.attrs.get(*attr).into_iter().flatten().collect();
            values.sort();
            h.update([0]);
            h.update(attr.as_bytes());
            for v in values {
                h.update([1]);
                h.update(v.as_bytes());
            }
        }
        let d = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        self.items += 1;
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
    }
}

/// The fingerprint of the items `filter` selects and how many items each
/// package name has, from one light query.
fn survey(cat: &Catalog, filter: &Filter) -> Result<(Fingerprint, BTreeMap<String, u64>)> {
    let store = cat.meta();
    let mut q = filter.to_select();
    q.output = Output::Attrs(FINGERPRINT_ATTRS.iter().map(|a| a.to_string()).collect());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut print = Fingerprint::default();
    store
        .select(&q, &mut |item| {
            print.add(&item);
            *counts.entry(name_of(&item).to_string()).or_default() += 1;
            Ok(())
        })
        .with_context(|| format!("reading package names from {}", store.describe()))?;
    Ok((print, counts))
}

fn name_of(item: &Item) -> &str {
    super::validate::first(&item.attrs, "name")
}

/// The pause before the second try of a backup the state changed under
/// (twice that before the third).
pub const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Items per range query: the most a backup holds in memory at once
/// (besides the list of names).
pub const RANGE_ITEMS: u64 = 5000;

/// Writes the items in name order without holding them all: first the
/// package names and how many items each has (a light query, which also
/// fingerprints the items), then the items of consecutive name ranges of
/// about [`RANGE_ITEMS`] items each, one query per range (`name >= first
/// and name <= last`), grouped by name in memory, then the light query
/// again. Every name's item count is checked against the first pass and
/// the items read and the second pass against the first's fingerprint, so
/// a store that compares names differently, or a change made meanwhile,
/// stops the backup instead of silently dropping, repeating or mixing
/// items. (Ordering the query by name would do the same in one pass, but
/// both SimpleDB and the SQLite engine re-sort the whole result for every
/// page.) The light query after is left out (`survey_after` false) where
/// the caller compares change stamps instead.
fn stream_sorted(
    cat: &Catalog,
    filter: &Filter,
    w: &mut TreeWriter<'_>,
    progress: &mut dyn FnMut(u64),
    range_items: u64,
    survey_after: bool,
) -> Result<()> {
    let store = cat.meta();
    let (before, counts) = survey(cat, filter)?;
    let mut read = Fingerprint::default();
    for range in ranges(&counts, range_items) {
        let (lo, hi) = (range[0].0, range[range.len() - 1].0);
        let mut q = filter.to_select();
        let bounds = Expr::Cmp(Operand::Attr("name".into()), CmpOp::Ge, lo.clone()).and(Expr::Cmp(
            Operand::Attr("name".into()),
            CmpOp::Le,
            hi.clone(),
        ));
        q.filter = Some(match q.filter.take() {
            Some(f) => f.and(bounds),
            None => bounds,
        });
        let mut groups: HashMap<String, Vec<Item>> = range
            .iter()
            .map(|(n, c)| ((*n).clone(), Vec::with_capacity(**c as usize)))
            .collect();
        store
            .select(&q, &mut |item| {
                if let Some(g) = groups.get_mut(name_of(&item)) {
                    g.push(item);
                }
                Ok(())
            })
            .with_context(|| format!("reading items from {}", store.describe()))?;
        for (name, count) in range {
            let items = groups.remove(name.as_str()).unwrap_or_default();
            if items.len() as u64 != *count {
                return Err(StateChanged(format!(
                    "package {name:?} had {count} item(s) when the backup started and {} later",
                    items.len()
                ))
                .into());
            }
            items.iter().for_each(|i| read.add(i));
            w.package(&items)?;
            progress(w.stats.items);
        }
    }
    if read != before {
        return Err(StateChanged("items changed while they were read".into()).into());
    }
    if !survey_after {
        return Ok(());
    }
    let (after, _) = survey(cat, filter)?;
    if after != before {
        return Err(StateChanged(format!(
            "{} item(s) when the backup started, {} different ones at its end",
            before.items, after.items
        ))
        .into());
    }
    Ok(())
}

/// Consecutive runs of names holding about `per_range` items each.
fn ranges(counts: &BTreeMap<String, u64>, per_range: u64) -> Vec<Vec<(&String, &u64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut n = 0;
    for entry in counts {
        cur.push(entry);
        n += entry.1;
        if n >= per_range {
            out.push(std::mem::take(&mut cur));
            n = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Writes the document's frame and one `"name": {...}` entry at a time.
struct TreeWriter<'a> {
    out: &'a mut dyn Write,
    style: Style,
    stats: DumpStats,
    last_name: Option<String>,
}

impl TreeWriter<'_> {
    fn start(&mut self, metadata: &serde_json::Value) -> Result<()> {
        self.out.write_all(b"{")?;
        pyjson::separator(self.out, self.style, true, 1)?;
        self.out.write_all(b"\"metadata\": ")?;
        pyjson::write_value(self.out, metadata, self.style, 1)?;
        pyjson::separator(self.out, self.style, false, 1)?;
        self.out.write_all(b"\"packages\": {")?;
        Ok(())
    }

    /// One package name's items (all with that name).
    fn package(&mut self, items: &[Item]) -> Result<()> {
        let Some(first) = items.first() else {
            return Ok(());
        };
        let name = name_of(first).to_string();
        if let Some(last) = &self.last_name {
            if *last >= name {
                bail!(
                    "{} returned package {name:?} out of order (after {last:?}); the backup would be wrong, so it was stopped",
                    "the state store"
                );
            }
        }
        let tree = package_tree(items);
        let subtree = &tree[name.as_str()];
        pyjson::separator(self.out, self.style, self.last_name.is_none(), 2)?;
        pyjson::write_str(self.out, &name)?;
        self.out.write_all(b": ")?;
        pyjson::write_value(self.out, subtree, self.style, 2)?;
        self.stats.items += items.len() as u64;
        self.stats.names += 1;
        self.last_name = Some(name);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if self.last_name.is_some() {
            pyjson::close(self.out, self.style, 1, b"}")?;
        } else {
            self.out.write_all(b"}")?;
        }
        pyjson::close(self.out, self.style, 0, b"}")?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(())
    }
}

/// [`dump`] into the file `path`, atomically: through a temporary file in
/// the same directory, synced, then renamed over `path`. A reader sees the
/// old file or the whole new one; a failure leaves no partial file behind.
pub fn dump_to_file(
    cat: &Catalog,
    filter: &Filter,
    style: Style,
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpStats> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-backup-")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let stats = retrying(ATTEMPTS, RETRY_PAUSE, &mut || {
        let file = tmp.as_file_mut();
        file.set_len(0)
            .and_then(|()| std::io::Seek::rewind(file))
            .with_context(|| format!("writing {}", path.display()))?;
        let mut w = BufWriter::new(file);
        let stats = dump(cat, filter, style, &mut w, &mut *progress)?;
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(stats)
    })?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("moving the backup into place at {}", path.display()))?;
    // The rename itself is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(stats)
}
