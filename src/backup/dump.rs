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
pub fn dump_in_ranges(
    cat: &Catalog,
    filter: &Filter,
    style: Style,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
    range_items: u64,
) -> Result<DumpStats> {
    let meta = cat.config_attrs()?.unwrap_or_default();
    let mut w = TreeWriter {
        out,
        style,
        stats: DumpStats::default(),
        last_name: None,
    };
    w.start(&meta_json(&meta))?;
    if filter.names.len() <= NAMES_PER_QUERY {
        stream_sorted(cat, filter, &mut w, progress, range_items.max(1))?;
    } else {
        // More names than one Select may compare: collect, then group.
        let mut items = cat.find_items(filter)?;
        items.sort_by(|a, b| a.name.cmp(&b.name));
        items.dedup_by(|a, b| a.name == b.name);
        items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        for group in items.chunk_by(|a, b| name_of(a) == name_of(b)) {
            w.package(group)?;
            progress(w.stats.items);
        }
    }
    w.finish()?;
    Ok(w.stats)
}

fn name_of(item: &Item) -> &str {
    super::validate::first(&item.attrs, "name")
}

/// Items per range query: the most a backup holds in memory at once
/// (besides the list of names).
pub const RANGE_ITEMS: u64 = 5000;

/// Writes the items in name order without holding them all: first the
/// package names and how many items each has (a light query), then the
/// items of consecutive name ranges of about [`RANGE_ITEMS`] items each,
/// one query per range (`name >= first and name <= last`), grouped by name
/// in memory. Every name's item count is checked against the first pass, so
/// a store that compares names differently, or a change made meanwhile,
/// stops the backup instead of silently dropping or repeating items.
/// (Ordering the query by name would do the same in one pass, but both
/// SimpleDB and the SQLite engine re-sort the whole result for every page.)
fn stream_sorted(
    cat: &Catalog,
    filter: &Filter,
    w: &mut TreeWriter<'_>,
    progress: &mut dyn FnMut(u64),
    range_items: u64,
) -> Result<()> {
    let store = cat.meta();
    let mut names_query = filter.to_select();
    names_query.output = Output::Attrs(vec!["name".into()]);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    store
        .select(&names_query, &mut |item| {
            *counts.entry(name_of(&item).to_string()).or_default() += 1;
            Ok(())
        })
        .with_context(|| format!("reading package names from {}", store.describe()))?;
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
                bail!(
                    "package {name:?} had {count} item(s) when the backup started and {} now: the state changed while the backup was being made; run it again",
                    items.len()
                );
            }
            w.package(&items)?;
            progress(w.stats.items);
        }
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
    let stats = {
        let mut w = BufWriter::new(tmp.as_file_mut());
        let stats = dump(cat, filter, style, &mut w, progress)?;
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        stats
    };
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
