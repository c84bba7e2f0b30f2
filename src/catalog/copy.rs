//! `cp`: copies (or promotes) packages from one distribution/component to
//! another. Copies across distributions also copy the pool files, because
//! the pool is per distribution.

use anyhow::{bail, Result};
use serde_json::json;

use super::purge::purge_changes;
use super::{object_sha256, package_order, split_recent, Catalog, Filter};
use crate::debian::version;
use crate::model::Package;
use crate::store::{Change, PutMode, StoreError};

#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// Names, versions, archs, prefix matching; dists/comps are ignored.
    pub filter: Filter,
    pub src_dist: String,
    pub src_comp: String,
    pub dst_dist: Option<String>,
    pub dst_comp: Option<String>,
    /// `-l` / `-r N`: only the N newest source versions.
    pub recent: Option<usize>,
    pub promote: bool,
    pub overwrite: bool,
    pub auto_purge: Option<usize>,
}

/// One copy: the source package and its copy.
#[derive(Debug, Clone)]
pub struct CopyAction {
    pub from: Package,
    pub to: Package,
}

#[derive(Debug, Default)]
pub struct CopyPlan {
    pub actions: Vec<CopyAction>,
    pub evil: Vec<String>,
}

pub fn plan(cat: &Catalog, req: &CopyRequest) -> Result<CopyPlan> {
    let config = cat.config()?;
    let dst_dist = req.dst_dist.clone().unwrap_or_else(|| req.src_dist.clone());
    let dst_comp = req.dst_comp.clone().unwrap_or_else(|| req.src_comp.clone());
    if req.dst_dist.is_none() && req.dst_comp.is_none() {
        bail!("give --dst-distribution or --dst-component (or both): there is nothing to copy to");
    }
    if dst_dist == req.src_dist && dst_comp == req.src_comp {
        bail!(
            "source and destination are both {}/{}: there is nothing to copy",
            req.src_dist,
            req.src_comp
        );
    }
    super::add::check_targets(
        &config,
        &[req.src_dist.clone(), dst_dist.clone()],
        &[req.src_comp.clone(), dst_comp.clone()],
    )?;
    for a in &req.filter.archs {
        config.require_arch(a)?;
    }
    let mut evil = Vec::new();
    if req.filter.names.is_empty() && req.filter.versions.is_empty() {
        evil.push(
            "You are potentially copying up to an entire component's worth of packages!"
                .to_string(),
        );
    }
    let src_filter = Filter {
        dists: vec![req.src_dist.clone()],
        comps: vec![req.src_comp.clone()],
        ..req.filter.clone()
    };
    let mut sources = cat.find(&src_filter)?;
    if let Some(n) = req.recent {
        sources = split_recent(sources, n).0;
    }
    let mut names: Vec<String> = sources.iter().map(|p| p.name.clone()).collect();
    names.dedup();
    let dst_filter = Filter {
        dists: vec![dst_dist.clone()],
        comps: vec![dst_comp.clone()],
        ..Filter::default()
    };
    let mut existing: Vec<Package> = cat
        .find_items_by_names(&names, &dst_filter)?
        .into_iter()
        .filter_map(|i| Package::from_attrs(&i.attrs).ok())
        .collect();
    existing.sort_by(package_order);
    let mut actions = Vec::new();
    for from in sources {
        let to = from.moved(&dst_dist, &dst_comp);
        if existing.contains(&to) {
            continue; // already there
        }
        if req.promote {
            let newest = existing
                .iter()
                .filter(|e| e.name == to.name && e.architecture == to.architecture)
                .map(|e| e.version.as_str())
                .max_by(|a, b| version::compare(a, b));
            if newest.is_some_and(|v| version::compare(v, &to.version).is_ge()) {
                continue;
            }
        }
        actions.push(CopyAction { from, to });
    }
    if actions.len() > 10 {
        evil.push(format!(
            "You are about to copy {} packages, are you sure that's what you intend?",
            actions.len()
        ));
    }
    Ok(CopyPlan { actions, evil })
}

/// Copies pool files (across distributions), then writes the items in one
/// batch (with any auto-purge), then announces.
pub fn copy(cat: &Catalog, req: &CopyRequest, plan: &CopyPlan) -> Result<Vec<Package>> {
    let config = cat.config()?;
    let blobs = &cat.backend.blobs;
    // Decide every pool copy before making any.
    let mut copies = Vec::new();
    for a in plan
        .actions
        .iter()
        .filter(|a| a.from.distribution != a.to.distribution)
    {
        for file in a.from.files() {
            let from = format!("{}/{file}", a.from.pool_dir(&a.from.distribution));
            let to = format!("{}/{file}", a.to.pool_dir(&a.to.distribution));
            if blobs.head(&from)?.is_none() {
                bail!(
                    "{from}: missing from the bucket; cannot copy {} {} to {}",
                    a.from.name,
                    a.from.version,
                    a.to.distribution
                );
            }
            if blobs.head(&to)?.is_some() && !req.overwrite {
                if same_bytes(cat, &from, &to)? {
                    continue;
                }
                bail!(
                    "{to}: already exists with different content; pass --overwrite to replace it"
                );
            }
            copies.push((from, to));
        }
    }
    for (from, to) in copies {
        let mode = if req.overwrite {
            PutMode::Overwrite
        } else {
            PutMode::Create
        };
        match blobs.copy(&from, &to, mode) {
            Ok(()) | Err(StoreError::Exists(_)) => {}
            Err(e) => bail!("copying {from} to {to}: {e}"),
        }
    }
    let mut changes = Vec::new();
    let mut copied = Vec::new();
    for a in &plan.actions {
        changes.push(Change::Put {
            item: a.to.key(),
            attrs: a.to.to_attrs()?,
            remove: vec![],
        });
        copied.push(a.to.clone());
    }
    let mut purged = Vec::new();
    if let Some(keep) = req.auto_purge {
        let (p, list) = purge_changes(cat, &copied, keep)?;
        changes.extend(p);
        purged = list;
    }
    cat.backend.meta.apply(&changes)?;
    let mut messages: Vec<_> = plan
        .actions
        .iter()
        .map(|a| {
            json!({
                "action": "copy",
                "type": "package",
                "name": a.to.name,
                "version": a.to.version,
                "src_distribution": a.from.distribution,
                "src_component": a.from.component,
                "dst_distribution": a.to.distribution,
                "dst_component": a.to.component,
            })
        })
        .collect();
    messages.extend(purged.iter().map(super::delete_message));
    cat.announce(&config, messages)?;
    Ok(copied)
}

fn same_bytes(cat: &Catalog, a: &str, b: &str) -> Result<bool> {
    let blobs = cat.backend.blobs.as_ref();
    if blobs.head(a)? != blobs.head(b)? {
        return Ok(false);
    }
    Ok(object_sha256(blobs, a)? == object_sha256(blobs, b)?)
}
