//! What differs between two states of the repository: items added,
//! removed and changed (and in which attributes), and the configuration.
//! One comparison for `backup diff` and for restore's plan (what
//! `restore --dry-run` shows, and what a restore writes).
//!
//! Items are compared by their key (name, version, distribution,
//! component, architecture): a new version of a package is an added item,
//! and the old one, when it is gone, a removed one. Values are compared as
//! sets, since SimpleDB keeps no order of an attribute's values.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use super::crypt::Identities;
use super::pyjson::Style;
use super::restore::Input;
use super::stream::{KeySet, Scan, ScanError};
use super::validate::first;
use crate::catalog::{Catalog, Filter};
use crate::model::{Attrs, CONTROL_PREFIX};

/// The attributes that differ between `current` and `wanted`, and those
/// `current` has that `wanted` lacks (to remove when `wanted` is written
/// over `current`).
pub fn compare(current: &Attrs, wanted: &Attrs) -> (Vec<String>, Vec<String>) {
    let remove: Vec<String> = current
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .cloned()
        .collect();
    let mut changed: BTreeSet<String> = remove.iter().cloned().collect();
    for (k, v) in wanted {
        let same = current.get(k).is_some_and(|c| {
            c.len() == v.len() && c.iter().collect::<BTreeSet<_>>() == v.iter().collect()
        });
        if !same {
            changed.insert(k.clone());
        }
    }
    (changed.into_iter().collect(), remove)
}

/// Whether two items hold the same attributes and values (in any order).
pub fn same(a: &Attrs, b: &Attrs) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, v)| {
            b.get(k).is_some_and(|w| {
                w.len() == v.len() && v.iter().collect::<BTreeSet<_>>() == w.iter().collect()
            })
        })
}

/// What an attribute is about, for a reader: `digest` (the file's name,
/// size and checksums, a source's file list), `control` (the control
/// text's fragments), or the attribute's own name.
pub fn aspect(attr: &str) -> &str {
    match attr {
        "md5" | "sha1" | "sha256" | "size" | "filename" | "files" => "digest",
        a if a.starts_with(CONTROL_PREFIX) => "control",
        a => a,
    }
}

/// The aspects of a list of changed attributes, each once, in order.
pub fn aspects(attrs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in attrs {
        let s = aspect(a);
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// How an item differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Added,
    Removed,
    Changed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Changed => "changed",
        }
    }
}

/// One item that differs, as `backup diff` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemDiff {
    pub change: Kind,
    pub name: String,
    pub version: String,
    pub distribution: String,
    pub component: String,
    pub architecture: String,
    /// What changed (`version`, `digest`, `control`, or an attribute's
    /// name); empty unless changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aspects: Vec<String>,
    /// The attributes that differ; empty unless changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
}

impl ItemDiff {
    pub fn new(change: Kind, attrs: &Attrs, changed: Vec<String>) -> ItemDiff {
        ItemDiff {
            change,
            name: first(attrs, "name").into(),
            version: first(attrs, "version").into(),
            distribution: first(attrs, "distribution").into(),
            component: first(attrs, "component").into(),
            architecture: first(attrs, "architecture").into(),
            aspects: aspects(&changed),
            attributes: changed,
        }
    }

    /// `name version dist/comp/arch`
    pub fn describe(&self) -> String {
        format!(
            "{} {} {}/{}/{}",
            self.name, self.version, self.distribution, self.component, self.architecture
        )
    }

    /// Listing order: name, distribution, component, architecture, then
    /// Debian version (oldest first), as every listing is ordered.
    fn order(&self, other: &ItemDiff) -> std::cmp::Ordering {
        (
            &self.name,
            &self.distribution,
            &self.component,
            &self.architecture,
        )
            .cmp(&(
                &other.name,
                &other.distribution,
                &other.component,
                &other.architecture,
            ))
            .then_with(|| crate::debian::version::compare(&self.version, &other.version))
    }
}

/// One configuration attribute that differs: values only in B (`added`)
/// and only in A (`removed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigDiff {
    pub attribute: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl ConfigDiff {
    /// `dists: +"a" -"b"`
    pub fn line(&self) -> String {
        let mut parts: Vec<String> = self.added.iter().map(|v| format!("+{v:?}")).collect();
        parts.extend(self.removed.iter().map(|v| format!("-{v:?}")));
        format!("{}: {}", self.attribute, parts.join(" "))
    }
}

/// How configuration `b` differs from `a`, attribute by attribute.
pub fn config(a: &Attrs, b: &Attrs) -> Vec<ConfigDiff> {
    let (changed, _) = compare(a, b);
    changed
        .into_iter()
        .map(|attr| {
            let old: BTreeSet<&String> = a.get(&attr).into_iter().flatten().collect();
            let new: BTreeSet<&String> = b.get(&attr).into_iter().flatten().collect();
            ConfigDiff {
                added: new.difference(&old).map(|v| v.to_string()).collect(),
                removed: old.difference(&new).map(|v| v.to_string()).collect(),
                attribute: attr,
            }
        })
        .collect()
}

/// Counts of a comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged: u64,
}

/// Everything that differs from A to B.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub counts: Counts,
    pub packages: Vec<ItemDiff>,
    pub configuration: Vec<ConfigDiff>,
}

/// One package name's items: (item key, attributes).
pub type Group = (String, Vec<(String, Attrs)>);

/// `backup diff A B`: each side `live` (the current state), a backup file,
/// or a stored backup (as `backup list` shows it, or `latest`). Both are
/// validated as a restore validates them, then read side by side, one
/// package name at a time (a side not in name order, which `backup` never
/// writes, is sorted in memory).
pub fn between(cat: &Catalog, a: &str, b: &str, ids: Option<&Identities>) -> Result<Diff> {
    let (mut ia, na) = open_side(cat, a, ids)?;
    let (mut ib, nb) = open_side(cat, b, ids)?;
    let sa = validated(&mut ia, &na)?;
    let sb = validated(&mut ib, &nb)?;
    let mut d = Diff {
        configuration: config(&sa.metadata, &sb.metadata),
        a: na,
        b: nb,
        ..Diff::default()
    };
    std::thread::scope(|s| {
        let (ta, ra) = sync_channel(4);
        let (tb, rb) = sync_channel(4);
        s.spawn(move || send_groups(&mut ia, sa.sorted, &ta));
        s.spawn(move || send_groups(&mut ib, sb.sorted, &tb));
        merge(&mut ra.into_iter(), &mut rb.into_iter(), &mut d)
    })?;
    Ok(d)
}

/// A side of a diff as input, and its name.
fn open_side(cat: &Catalog, given: &str, ids: Option<&Identities>) -> Result<(Input, String)> {
    if given == "live" {
        let mut f = tempfile::tempfile().context("creating a temporary file")?;
        {
            let mut w = BufWriter::new(&mut f);
            super::dump(cat, &Filter::default(), Style::Compact, &mut w, &mut |_| {})?;
            w.flush()?;
        }
        return Ok((Input::File(f), "live".into()));
    }
    if Path::new(given).is_file() {
        let f = std::fs::File::open(given).with_context(|| format!("reading {given}"))?;
        return Ok((Input::File(f), given.to_string()));
    }
    super::check::open(cat, given, ids)
}

/// The first reading of a side: every item validated.
fn validated(input: &mut Input, name: &str) -> Result<Scan> {
    let mut keys = KeySet::new();
    match input.scan(Some(&mut keys), &mut |_| Ok(())) {
        Ok(s) => Ok(s),
        Err(ScanError::Invalid(p)) => {
            let more = match p.0.len() {
                1 => String::new(),
                n => format!(" (and {} more problems)", n - 1),
            };
            bail!("{name}: not a valid backup: {}{more}", p.0[0])
        }
        Err(ScanError::Stopped(e)) => Err(e),
    }
}

/// Reads a side again and sends its items one name at a time, in name
/// order.
fn send_groups(input: &mut Input, sorted: bool, tx: &SyncSender<Result<Group>>) {
    let mut cur: Option<Group> = None;
    let mut all: BTreeMap<String, Vec<(String, Attrs)>> = BTreeMap::new();
    let scanned = input.scan(None, &mut |item| {
        let name = item.get("name").to_string();
        let entry = (item.key, item.attrs);
        if !sorted {
            all.entry(name).or_default().push(entry);
            return Ok(());
        }
        match &mut cur {
            Some((n, v)) if *n == name => v.push(entry),
            _ => {
                if let Some(g) = cur.replace((name, vec![entry])) {
                    tx.send(Ok(g))
                        .map_err(|_| anyhow!("the comparison stopped"))?;
                }
            }
        }
        Ok(())
    });
    if let Err(e) = scanned {
        let _ = tx.send(Err(anyhow!("{e}")));
        return;
    }
    for g in cur.into_iter().chain(all) {
        if tx.send(Ok(g)).is_err() {
            return;
        }
    }
}

/// Compares two streams of one package name's items each, both in
/// strictly increasing name order (as backups are written), holding one
/// name's items of each side at a time.
pub fn merge(
    a: &mut dyn Iterator<Item = Result<Group>>,
    b: &mut dyn Iterator<Item = Result<Group>>,
    out: &mut Diff,
) -> Result<()> {
    let mut x = a.next().transpose()?;
    let mut y = b.next().transpose()?;
    loop {
        let order = match (&x, &y) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((n, _)), Some((m, _))) => n.cmp(m),
        };
        let (left, right) = match order {
            std::cmp::Ordering::Less => (x.take().map(|g| g.1), None),
            std::cmp::Ordering::Greater => (None, y.take().map(|g| g.1)),
            std::cmp::Ordering::Equal => (x.take().map(|g| g.1), y.take().map(|g| g.1)),
        };
        name_diff(left.unwrap_or_default(), right.unwrap_or_default(), out);
        if x.is_none() {
            x = a.next().transpose()?;
        }
        if y.is_none() {
            y = b.next().transpose()?;
        }
    }
    out.packages.sort_by(|p, q| p.order(q));
    Ok(())
}

/// The differences among one name's items.
fn name_diff(a: Vec<(String, Attrs)>, b: Vec<(String, Attrs)>, out: &mut Diff) {
    let mut left: BTreeMap<String, Attrs> = a.into_iter().collect();
    for (key, attrs) in b {
        match left.remove(&key) {
            None => {
                out.counts.added += 1;
                out.packages
                    .push(ItemDiff::new(Kind::Added, &attrs, vec![]));
            }
            Some(old) if same(&old, &attrs) => out.counts.unchanged += 1,
            Some(old) => {
                out.counts.changed += 1;
                let (changed, _) = compare(&old, &attrs);
                out.packages
                    .push(ItemDiff::new(Kind::Changed, &attrs, changed));
            }
        }
    }
    for attrs in left.values() {
        out.counts.removed += 1;
        out.packages
            .push(ItemDiff::new(Kind::Removed, attrs, vec![]));
    }
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
    fn compare_ignores_value_order_and_lists_removals() {
        let cur = attrs(&[
            ("files", &["a", "b"]),
            ("controltxt1", &["x"]),
            ("k", &["1"]),
        ]);
        let want = attrs(&[("files", &["b", "a"]), ("k", &["2"])]);
        let (changed, remove) = compare(&cur, &want);
        assert_eq!(changed, ["controltxt1", "k"]);
        assert_eq!(remove, ["controltxt1"]);
        assert!(same(
            &attrs(&[("files", &["a", "b"])]),
            &attrs(&[("files", &["b", "a"])])
        ));
        assert!(!same(&cur, &want));
        assert_eq!(aspects(&changed), ["control", "k"]);
        assert_eq!(
            aspects(&["size".into(), "sha256".into(), "controltxt0".into()]),
            ["digest", "control"]
        );
    }

    #[test]
    fn merge_pairs_names_and_keys() {
        let item = |n: &str, v: &str, size: &str| {
            (
                format!("{n}{v}"),
                attrs(&[("name", &[n]), ("version", &[v]), ("size", &[size])]),
            )
        };
        let a = vec![
            ("a".to_string(), vec![item("a", "1", "1")]),
            (
                "b".to_string(),
                vec![item("b", "1", "1"), item("b", "2", "1")],
            ),
        ];
        let b = vec![
            (
                "b".to_string(),
                vec![item("b", "2", "5"), item("b", "3", "1")],
            ),
            ("c".to_string(), vec![item("c", "1", "1")]),
        ];
        let mut d = Diff::default();
        merge(
            &mut a.into_iter().map(Ok),
            &mut b.into_iter().map(Ok),
            &mut d,
        )
        .unwrap();
        let got: Vec<(Kind, String)> = d
            .packages
            .iter()
            .map(|p| (p.change, p.describe()))
            .collect();
        assert_eq!(
            got,
            [
                (Kind::Removed, "a 1 //".to_string()),
                (Kind::Removed, "b 1 //".to_string()),
                (Kind::Changed, "b 2 //".to_string()),
                (Kind::Added, "b 3 //".to_string()),
                (Kind::Added, "c 1 //".to_string()),
            ]
        );
        assert_eq!(d.packages[2].aspects, ["digest"]);
        assert_eq!(
            d.counts,
            Counts {
                added: 2,
                removed: 2,
                changed: 1,
                unchanged: 0
            }
        );
    }
}
