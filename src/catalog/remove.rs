//! `rm`: removes package items. Package files stay in the bucket, so a
//! removal can be undone by adding the same file again.

use anyhow::{bail, Result};

use super::{delete_message, split_recent, Catalog, Filter};
use crate::model::{Package, RepoConfig};
use crate::store::Change;

/// What to remove, as the flags say it.
#[derive(Debug, Clone, Default)]
pub struct RemoveRequest {
    pub filter: Filter,
    /// `-H`: also packages hidden by a removed dist/comp/arch.
    pub hidden: bool,
    /// `-l` is `Some(1)`; `-r N`. Positive N keeps the N newest of each
    /// package; negative N removes the N newest (the original's meaning).
    pub exclude_recent: Option<i64>,
}

/// The packages a removal would delete, and the reasons it is dangerous.
#[derive(Debug, Default)]
pub struct RemovePlan {
    pub targets: Vec<Package>,
    pub evil: Vec<String>,
}

pub const EVERY_PACKAGE: &str =
    "***  YOU ARE POTENTIALLY DELETING EVERY PACKAGE IN THIS ENTIRE REPOSITORY!!!  ***";

pub fn plan(cat: &Catalog, req: &RemoveRequest) -> Result<RemovePlan> {
    let config = cat.config()?;
    let f = &req.filter;
    let mut evil = Vec::new();
    if f.names.is_empty() && f.versions.is_empty() && req.exclude_recent.is_none() {
        evil.push("You are potentially deleting a full component or distribution!".to_string());
    }
    if f.names.is_empty()
        && f.versions.is_empty()
        && f.dists.is_empty()
        && f.comps.is_empty()
        && req.exclude_recent.is_none()
    {
        evil.push(EVERY_PACKAGE.to_string());
    }
    let found = cat.find(&scope(&config, f, req.hidden)?)?;
    let targets = match req.exclude_recent {
        None => found,
        Some(n) if n >= 0 => split_recent(found, n.max(1) as usize).1,
        Some(n) => {
            evil.push(format!(
                "A NEGATIVE --exclude-recent removes the {} MOST RECENT versions of each package matching your filter.",
                -n
            ));
            split_recent(found, (-n) as usize).0
        }
    };
    if targets.len() > 9 {
        evil.push(format!(
            "*** You are about to delete {} packages, which seems like a lot. Are you sure?",
            targets.len()
        ));
    }
    Ok(RemovePlan { targets, evil })
}

/// Restricts a filter to what the configuration serves (unless `hidden`),
/// refusing names that are not configured.
pub fn scope(config: &RepoConfig, f: &Filter, hidden: bool) -> Result<Filter> {
    if hidden {
        return Ok(f.clone());
    }
    let served = f
        .dists
        .iter()
        .try_for_each(|d| config.require_dist(d))
        .and_then(|()| f.comps.iter().try_for_each(|c| config.require_comp(c)))
        .and_then(|()| f.archs.iter().try_for_each(|a| config.require_arch(a)));
    if let Err(e) = served {
        bail!("{e}; use -H for hidden packages");
    }
    let or =
        |given: &Vec<String>, all: Vec<String>| if given.is_empty() { all } else { given.clone() };
    Ok(Filter {
        dists: or(&f.dists, config.dists.clone()),
        comps: or(&f.comps, config.comps.clone()),
        archs: or(&f.archs, config.archs()),
        ..f.clone()
    })
}

/// Deletes the items of `targets` in one batch and announces each.
pub fn remove(cat: &Catalog, targets: &[Package]) -> Result<()> {
    let config = cat.config()?;
    let changes: Vec<Change> = targets
        .iter()
        .map(|p| Change::Delete { item: p.key() })
        .collect();
    cat.backend.meta.apply(&changes)?;
    cat.announce(&config, targets.iter().map(delete_message).collect())
}
