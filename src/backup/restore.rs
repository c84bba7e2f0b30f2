//! `restore`: replays a validated backup into the state store.
//!
//! The whole plan is computed against the current state before anything
//! is written: which items are new, which differ (and in which attributes),
//! which are unchanged (not written at all), which would be pruned, and how
//! the configuration differs. Then items are written with replace semantics
//! in chunks (each chunk one `apply`: one transaction on the embedded
//! store), pruned items are deleted, and the `meta` item is written last.
//! Re-running a restore that was interrupted converges: what was written is
//! now unchanged, the rest is written.

use std::collections::{BTreeSet, HashMap};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::validate::{describe, first, Backup, BackupItem};
use crate::catalog::{delete_message, Catalog, Filter};
use crate::model::{Attrs, Item, Package, RepoConfig, META_ITEM};
use crate::rules::Setting;
use crate::store::Change;

/// Items written per `apply` (one transaction on the embedded store; a
/// progress step).
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
    Setting::ALL
        .iter()
        .map(|k| k.attr())
        .filter(|a| !backup.metadata.contains_key(*a))
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

/// Everything a restore would do.
#[derive(Debug, Clone, Default)]
pub struct RestorePlan {
    pub added: Vec<ItemWrite>,
    pub changed: Vec<ItemWrite>,
    pub unchanged: usize,
    /// Current items to delete (`--prune`).
    pub pruned: Vec<Item>,
    /// The configuration write, when it differs.
    pub meta: Option<ItemWrite>,
    /// How the configuration would change, one line per attribute.
    pub config_diff: Vec<String>,
    /// Things the user should know (hidden items, configuration kept).
    pub notes: Vec<String>,
    /// Dangerous aspects that need `--i-fear-no-evil` (see `Ui::confirm`).
    pub evil: Vec<String>,
    /// The store has no domain yet (a restore into a new store).
    pub create_domain: bool,
}

impl RestorePlan {
    /// Whether the restore would write anything.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.pruned.is_empty()
            && self.meta.is_none()
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

/// Values compared as sets: SimpleDB does not keep the order of an
/// attribute's values, so a different order is not a change.
fn normalized(attrs: &Attrs) -> Vec<(&String, BTreeSet<&String>)> {
    attrs.iter().map(|(k, v)| (k, v.iter().collect())).collect()
}

/// The attributes that differ between `current` and `wanted`, and those
/// `current` has that `wanted` lacks.
fn diff(current: &Attrs, wanted: &Attrs) -> (Vec<String>, Vec<String>) {
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

/// Plans a restore of `backup` against the current state.
pub fn plan(cat: &Catalog, backup: &Backup, req: &RestoreRequest) -> Result<RestorePlan> {
    let missing = missing_config(backup);
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
    let mut current: HashMap<String, Attrs> = if p.create_domain {
        HashMap::new()
    } else {
        cat.find_items(&req.filter)
            .with_context(|| format!("reading the current items from {}", meta.describe()))?
            .into_iter()
            .map(|i| (i.name, i.attrs))
            .collect()
    };
    let mut restored: Vec<&BackupItem> = Vec::new();
    for item in backup
        .items
        .iter()
        .filter(|i| matches(&req.filter, &i.attrs))
    {
        restored.push(item);
        match current.remove(&item.key) {
            None => p.added.push(ItemWrite {
                key: item.key.clone(),
                describe: item.describe(),
                attrs: item.attrs.clone(),
                remove: Vec::new(),
                // Every attribute is new: not listed, as a dry run shows
                // new items whole (a copy of every name cost 0.5 KB an item).
                changed: Vec::new(),
            }),
            Some(cur) if normalized(&cur) == normalized(&item.attrs) => p.unchanged += 1,
            Some(cur) => {
                let (changed, remove) = diff(&cur, &item.attrs);
                p.changed.push(ItemWrite {
                    key: item.key.clone(),
                    describe: item.describe(),
                    attrs: item.attrs.clone(),
                    remove,
                    changed,
                });
            }
        }
    }
    if req.prune {
        let mut gone: Vec<Item> = current
            .into_iter()
            .map(|(name, attrs)| Item { name, attrs })
            .collect();
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
    hidden_notes(&mut p, &config, &restored);
    Ok(p)
}

/// A distribution asked for with `-d` must be one the backup or the
/// current configuration knows: a typo restores nothing, and says so.
fn unknown_dists(backup: &Backup, req: &RestoreRequest, current: Option<&Attrs>) -> Result<()> {
    let known = |d: &String| {
        [Some(&backup.metadata), current]
            .into_iter()
            .flatten()
            .any(|m| m.get("dists").is_some_and(|v| v.contains(d)))
            || backup.items.iter().any(|i| i.get("distribution") == d)
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
fn plan_meta(p: &mut RestorePlan, backup: &Backup, req: &RestoreRequest, current: Option<&Attrs>) {
    if backup.metadata.is_empty() {
        p.notes
            .push("the backup has no configuration; the current configuration is kept".into());
        return;
    }
    let missing = missing_config(backup);
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
    let (changed, remove) = diff(cur, &backup.metadata);
    if changed.is_empty() {
        return;
    }
    for attr in &changed {
        let old: BTreeSet<&String> = cur.get(attr).into_iter().flatten().collect();
        let new: BTreeSet<&String> = backup.metadata.get(attr).into_iter().flatten().collect();
        let mut parts: Vec<String> = new.difference(&old).map(|v| format!("+{v:?}")).collect();
        parts.extend(old.difference(&new).map(|v| format!("-{v:?}")));
        p.config_diff.push(format!("{attr}: {}", parts.join(" ")));
    }
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
fn hidden_notes(p: &mut RestorePlan, config: &RepoConfig, restored: &[&BackupItem]) {
    let mut dists = BTreeSet::new();
    let mut comps = BTreeSet::new();
    let mut archs = BTreeSet::new();
    let mut hidden = 0;
    for item in restored {
        let (d, c, a) = (
            item.get("distribution"),
            item.get("component"),
            item.get("architecture"),
        );
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
        hidden += usize::from(h);
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

/// Carries out a plan: item writes in chunks, then deletions, then the
/// configuration, then the announcements. `progress(done, total)` after
/// each chunk.
pub fn apply(
    cat: &Catalog,
    plan: &RestorePlan,
    req: &RestoreRequest,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RestoreReport> {
    let store = cat.meta();
    let writes: Vec<&ItemWrite> = plan.added.iter().chain(&plan.changed).collect();
    let total = (writes.len() + plan.pruned.len() + usize::from(plan.meta.is_some())) as u64;
    let mut done = 0u64;
    if plan.create_domain {
        store
            .create_domain()
            .with_context(|| format!("creating {}", store.describe()))?;
    }
    for chunk in writes.chunks(CHUNK) {
        let changes: Vec<Change> = chunk.iter().map(|w| w.change()).collect();
        store
            .apply(&changes)
            .with_context(|| format!("writing items to {}", store.describe()))?;
        done += changes.len() as u64;
        progress(done, total);
    }
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
    let report = RestoreReport {
        added: plan.added.len(),
        changed: plan.changed.len(),
        unchanged: plan.unchanged,
        pruned: plan.pruned.len(),
        config_changed: plan.meta.is_some(),
    };
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
    for item in &plan.pruned {
        messages.push(match Package::from_attrs(&item.attrs) {
            Ok(p) => delete_message(&p),
            // Not a readable package: announce what it has.
            Err(_) => json!({
                "action": "delete",
                "type": "package",
                "name": first(&item.attrs, "name"),
                "version": first(&item.attrs, "version"),
                "distribution": first(&item.attrs, "distribution"),
                "component": first(&item.attrs, "component"),
            }),
        });
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

    #[test]
    fn diff_ignores_value_order_and_lists_removals() {
        let cur = attrs(&[
            ("files", &["a", "b"]),
            ("controltxt1", &["x"]),
            ("k", &["1"]),
        ]);
        let want = attrs(&[("files", &["b", "a"]), ("k", &["2"])]);
        let (changed, remove) = diff(&cur, &want);
        assert_eq!(changed, ["controltxt1", "k"]);
        assert_eq!(remove, ["controltxt1"]);
        assert_eq!(normalized(&cur).len(), 3);
        assert_eq!(
            normalized(&attrs(&[("files", &["a", "b"])])),
            normalized(&attrs(&[("files", &["b", "a"])]))
        );
    }
}
