//! `backup`: the state as JSON in the original's structure,
//! `{"metadata": {attr: [values]}, "packages": {name: {dist: {comp: {arch: [item...]}}}}}`,
//! written name by name so memory stays bounded by the largest package
//! rather than the repository.

use std::io::Write;

use anyhow::{bail, Context, Result};

use super::pyjson::{self, Style};
use crate::catalog::tree::{meta_json, package_tree};
use crate::catalog::{Catalog, Filter, NAMES_PER_QUERY};
use crate::model::{Item, META_ITEM};
use crate::select::{Operand, Order, Output};

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
    cat.backend.meta.select(&q, &mut |item| {
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
    let meta = cat
        .backend
        .meta
        .get(META_ITEM)
        .with_context(|| format!("reading configuration from {}", cat.backend.meta.describe()))?
        .unwrap_or_default();
    let mut w = TreeWriter {
        out,
        style,
        stats: DumpStats::default(),
        last_name: None,
    };
    w.start(&meta_json(&meta))?;
    if filter.names.len() <= NAMES_PER_QUERY {
        stream_sorted(cat, filter, &mut w, progress)?;
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

/// Items ordered by name from the store, written one name at a time. The
/// order is checked: output that silently split a name would be wrong.
fn stream_sorted(
    cat: &Catalog,
    filter: &Filter,
    w: &mut TreeWriter<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut q = filter.to_select();
    q.order_by = Some((Operand::Attr("name".into()), Order::Asc));
    let mut group: Vec<Item> = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let result = cat.backend.meta.select(&q, &mut |item| {
        if group.first().is_some_and(|g| name_of(g) != name_of(&item)) {
            if let Err(e) = w.package(&group) {
                let msg = e.to_string();
                failure = Some(e);
                return Err(crate::store::StoreError::Backend(msg));
            }
            progress(w.stats.items);
            group.clear();
        }
        group.push(item);
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result.with_context(|| format!("reading items from {}", cat.backend.meta.describe()))?;
    if !group.is_empty() {
        w.package(&group)?;
        progress(w.stats.items);
    }
    Ok(())
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
