//! Moving the repository state from one store to another (SQLite,
//! SimpleDB, DynamoDB, in any direction): every item, packages and the
//! configuration, copied exactly, then both sides compared.
//!
//! * Idempotent and resumable: the target is read first and only what
//!   differs is written (an item that is already identical costs nothing),
//!   so a run killed part-way is finished by running it again.
//! * Exact: an item's attributes that the source lacks are removed on the
//!   target, and items the source lacks are deleted from it; at the end
//!   both hold the same items.
//! * Data before pointers: package items first, the configuration item
//!   (`meta`) last, so a target that has its configuration has everything.
//! * Verified: the item count and a digest of every item in canonical form
//!   (item-name order, attributes and values sorted) on both sides.
//!
//! [`export`] imports a SimpleDB domain export from S3 the same way, after
//! checking it as a whole.

pub mod export;

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::model::{Attrs, Item, META_ITEM};
use crate::select::{Output, Select};
use crate::store::{Change, MetaStore};

/// Changes written per apply (bounds memory and makes progress visible).
const CHUNK: usize = 2000;

/// What a migration did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// Items in the source.
    pub items: usize,
    /// Items written: absent on the target or different there.
    pub written: usize,
    /// Items the target held that the source does not, deleted.
    pub deleted: usize,
    /// Items already identical.
    pub unchanged: usize,
    /// The digest both sides share after the copy (none on a dry run).
    pub digest: Option<String>,
}

/// Every item of a store, by name.
pub fn read_all(store: &dyn MetaStore) -> Result<BTreeMap<String, Attrs>> {
    let everything = Select {
        output: Output::All,
        filter: None,
        order_by: None,
        limit: None,
    };
    let mut out = BTreeMap::new();
    store
        .select(&everything, &mut |i: Item| {
            out.insert(i.name, i.attrs);
            Ok(())
        })
        .with_context(|| format!("reading {}", store.describe()))?;
    Ok(out)
}

/// The count and digest of items in canonical form: one JSON line per
/// item (see [`canonical_line`]), in item-name order.
pub fn digest(items: &BTreeMap<String, Attrs>) -> (usize, String) {
    let mut h = Sha256::new();
    for (name, attrs) in items {
        h.update(canonical_line(name, attrs).as_bytes());
        h.update(b"\n");
    }
    (items.len(), hex::encode(h.finalize()))
}

/// An item in canonical form: `[name, {attr: [values...]}]`, attributes
/// and values sorted.
pub fn canonical_line(name: &str, attrs: &Attrs) -> String {
    let canonical: BTreeMap<&String, Vec<&String>> = attrs
        .iter()
        .map(|(k, vs)| {
            let mut vs: Vec<&String> = vs.iter().collect();
            vs.sort();
            (k, vs)
        })
        .collect();
    serde_json::to_string(&(name, canonical)).expect("strings serialise")
}

/// The write that makes the target's item `name` (`there`, when it has
/// one) hold exactly `attrs`, or `None` when it already does.
pub fn item_change(name: &str, attrs: &Attrs, there: Option<&Attrs>) -> Option<Change> {
    if there.is_some_and(|t| same(t, attrs)) {
        return None;
    }
    let remove: Vec<String> = there
        .map(|t| {
            t.keys()
                .filter(|k| !attrs.contains_key(*k))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Some(Change::Put {
        item: name.to_string(),
        attrs: attrs.clone(),
        remove,
    })
}

/// Applies changes in chunks of `CHUNK`, telling `progress` how many
/// went so far.
pub fn write(
    target: &dyn MetaStore,
    changes: &[Change],
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let mut done = 0;
    for chunk in changes.chunks(CHUNK) {
        target
            .apply(chunk)
            .with_context(|| format!("writing to {}", target.describe()))?;
        done += chunk.len();
        progress(done);
    }
    Ok(())
}

/// The changes that make `target` hold exactly `source`: package items
/// first, `meta` last, deletions of extra items before both.
pub fn plan(
    source: &BTreeMap<String, Attrs>,
    target: &BTreeMap<String, Attrs>,
) -> (Vec<Change>, Migration) {
    let mut m = Migration {
        items: source.len(),
        ..Migration::default()
    };
    let mut changes = Vec::new();
    for name in target.keys().filter(|n| !source.contains_key(*n)) {
        changes.push(Change::Delete { item: name.clone() });
        m.deleted += 1;
    }
    let mut meta = None;
    for (name, attrs) in source {
        let Some(change) = item_change(name, attrs, target.get(name)) else {
            m.unchanged += 1;
            continue;
        };
        m.written += 1;
        if name == META_ITEM {
            meta = Some(change);
        } else {
            changes.push(change);
        }
    }
    changes.extend(meta);
    (changes, m)
}

/// Attributes equal as sets of values.
fn same(a: &Attrs, b: &Attrs) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, va)| {
            b.get(k).is_some_and(|vb| {
                let mut x = va.clone();
                let mut y = vb.clone();
                x.sort();
                y.sort();
                x.dedup();
                y.dedup();
                x == y
            })
        })
}

/// Copies everything in `source` to `target` (creating its domain or
/// table), then checks both hold the same items. `progress` is told how
/// many changes were written so far.
pub fn migrate(
    source: &dyn MetaStore,
    target: &dyn MetaStore,
    dry_run: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Migration> {
    if source.describe() == target.describe() {
        bail!(
            "{} is the configured store itself: nothing to migrate",
            target.describe()
        );
    }
    let from = read_all(source)?;
    if from.is_empty() {
        bail!(
            "{} holds no items: nothing to migrate (is it the right store?)",
            source.describe()
        );
    }
    let exists = target
        .domain_exists()
        .with_context(|| format!("checking {}", target.describe()))?;
    let to = if exists {
        read_all(target)?
    } else {
        BTreeMap::new()
    };
    let (changes, mut m) = plan(&from, &to);
    if dry_run {
        return Ok(m);
    }
    if !exists {
        target
            .create_domain()
            .with_context(|| format!("creating {}", target.describe()))?;
    }
    write(target, &changes, &mut |done| progress(done, changes.len()))?;
    // Both sides read again: the source may have changed meanwhile, and
    // the target is checked as stored, not as sent.
    let (n_from, d_from) = digest(&read_all(source)?);
    let (n_to, d_to) = digest(&read_all(target)?);
    if (n_from, &d_from) != (n_to, &d_to) {
        bail!(
            "after the copy {} holds {n_from} items (digest {d_from}) and {} holds {n_to} (digest {d_to}): the source changed meanwhile, or a write was lost; run migrate again",
            source.describe(),
            target.describe()
        );
    }
    m.digest = Some(d_to);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::meta::SqliteMeta;

    fn store(dir: &std::path::Path, name: &str) -> SqliteMeta {
        SqliteMeta::open(&dir.join(format!("{name}.sqlite")), "repo").unwrap()
    }

    fn put(item: &str, pairs: &[(&str, &[&str])]) -> Change {
        Change::Put {
            item: item.into(),
            attrs: pairs
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
            remove: vec![],
        }
    }

    #[test]
    fn copies_exactly_then_converges_with_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (store(dir.path(), "a"), store(dir.path(), "b"));
        a.create_domain().unwrap();
        a.apply(&[
            put("meta", &[("dists", &["stable", "testing"])]),
            put("p1", &[("name", &["x"]), ("extra", &["1"])]),
            put("p2", &[("name", &["y"])]),
        ])
        .unwrap();
        // The target holds a stale item and a stale attribute already.
        b.create_domain().unwrap();
        b.apply(&[
            put("p1", &[("name", &["x"]), ("old", &["o"])]),
            put("gone", &[("name", &["z"])]),
        ])
        .unwrap();
        let (changes, m) = plan(&read_all(&a).unwrap(), &read_all(&b).unwrap());
        assert!(matches!(changes.last(), Some(Change::Put { item, .. }) if item == "meta"));
        assert!(matches!(&changes[0], Change::Delete { item } if item == "gone"));
        assert_eq!((m.items, m.written, m.deleted, m.unchanged), (3, 3, 1, 0));

        let dry = migrate(&a, &b, true, &mut |_, _| {}).unwrap();
        assert_eq!(dry.digest, None);
        assert!(
            read_all(&b).unwrap().contains_key("gone"),
            "a dry run writes nothing"
        );

        let m = migrate(&a, &b, false, &mut |_, _| {}).unwrap();
        assert_eq!(read_all(&a).unwrap(), read_all(&b).unwrap());
        assert_eq!(m.digest, Some(digest(&read_all(&a).unwrap()).1));
        let again = migrate(&a, &b, false, &mut |_, _| {}).unwrap();
        assert_eq!((again.written, again.deleted, again.unchanged), (0, 0, 3));
    }

    #[test]
    fn the_digest_ignores_value_order_and_sees_any_difference() {
        let one = |v: &[&str]| {
            BTreeMap::from([(
                "i".to_string(),
                Attrs::from([("k".to_string(), v.iter().map(|s| s.to_string()).collect())]),
            )])
        };
        assert_eq!(digest(&one(&["a", "b"])), digest(&one(&["b", "a"])));
        assert_ne!(digest(&one(&["a", "b"])), digest(&one(&["a", "c"])));
        assert_ne!(digest(&one(&["ab"])), digest(&one(&["a", "b"])));
    }

    #[test]
    fn an_empty_source_or_the_same_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (store(dir.path(), "a"), store(dir.path(), "b"));
        a.create_domain().unwrap();
        let e = migrate(&a, &b, false, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("holds no items"), "{e}");
        let e = migrate(&a, &a, false, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("itself"), "{e}");
    }
}
