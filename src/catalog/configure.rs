//! The repository configuration: setup, adding and removing distributions,
//! components and architectures, topic, origin and label, and checkup.
//!
//! List-valued settings change one value at a time (add or delete a single
//! attribute value of `meta`) rather than rewriting the item, so two
//! concurrent `repo add-distribution` calls both take effect.

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};

use super::Catalog;
use crate::model::{RepoConfig, IMPLIED_ARCHS, META_ITEM};
use crate::rules::{check_setting, Setting};
use crate::store::{BucketSetup, Change};

/// The three list-valued settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Dists,
    Comps,
    Archs,
}

impl ListKind {
    /// The attribute of `meta`, also the announcement's `type`.
    pub fn attr(self) -> &'static str {
        match self {
            ListKind::Dists => "dists",
            ListKind::Comps => "comps",
            ListKind::Archs => "archs",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            ListKind::Dists => "distribution",
            ListKind::Comps => "component",
            ListKind::Archs => "architecture",
        }
    }

    fn current(self, c: &RepoConfig) -> &[String] {
        match self {
            ListKind::Dists => &c.dists,
            ListKind::Comps => &c.comps,
            ListKind::Archs => &c.stored_archs,
        }
    }
}

/// Checks a configuration value's syntax: names end up in paths and URLs.
pub fn validate_name(kind: ListKind, name: &str) -> Result<()> {
    let setting = match kind {
        ListKind::Dists => Setting::Dists,
        ListKind::Comps => Setting::Comps,
        ListKind::Archs => Setting::Archs,
    };
    check_setting(setting, name).map_err(anyhow::Error::msg)?;
    if kind == ListKind::Archs && IMPLIED_ARCHS.contains(&name) {
        bail!("the {name:?} architecture always exists; it cannot be added or removed");
    }
    Ok(())
}

/// The names that `add` would actually add (new ones), after validation.
pub fn plan_add(config: &RepoConfig, kind: ListKind, names: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        validate_name(kind, n)?;
        if !kind.current(config).contains(n) && !out.contains(n) {
            out.push(n.clone());
        }
    }
    Ok(out)
}

/// The names that `rm` would remove, and whether that removes every one.
pub fn plan_rm(
    config: &RepoConfig,
    kind: ListKind,
    names: &[String],
) -> Result<(Vec<String>, bool)> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if kind == ListKind::Archs && IMPLIED_ARCHS.contains(&n.as_str()) {
            bail!("the {n:?} architecture always exists; it cannot be removed");
        }
        if !kind.current(config).contains(n) {
            bail!(
                "{} {n:?} is not configured (configured: {})",
                kind.noun(),
                kind.current(config).join(", ")
            );
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    let every = !out.is_empty() && out.len() == kind.current(config).len();
    Ok((out, every))
}

pub fn add_values(cat: &Catalog, kind: ListKind, names: &[String]) -> Result<()> {
    let (changes, messages) = value_changes(kind, names, "add");
    apply_and_announce(cat, &changes, messages)
}

pub fn rm_values(cat: &Catalog, kind: ListKind, names: &[String]) -> Result<()> {
    let (changes, messages) = value_changes(kind, names, "delete");
    apply_and_announce(cat, &changes, messages)
}

/// One attribute value added or deleted per name, and the announcements.
fn value_changes(kind: ListKind, names: &[String], action: &str) -> (Vec<Change>, Vec<Value>) {
    let changes = names
        .iter()
        .map(|n| {
            let (item, attr, value) = (META_ITEM.to_string(), kind.attr().to_string(), n.clone());
            if action == "add" {
                Change::AddValue { item, attr, value }
            } else {
                Change::DeleteValue { item, attr, value }
            }
        })
        .collect();
    let messages = names
        .iter()
        .map(|n| json!({"action": action, "type": kind.attr(), "name": n}))
        .collect();
    (changes, messages)
}

/// Applies the changes in one batch, then announces with the configuration
/// as it is afterwards.
fn apply_and_announce(cat: &Catalog, changes: &[Change], messages: Vec<Value>) -> Result<()> {
    cat.backend.meta.apply(changes)?;
    let config = cat.config()?;
    cat.announce(&config, messages)
}

/// The single-valued settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Single {
    Topic,
    Origin,
    Label,
}

impl Single {
    fn attr(self) -> &'static str {
        match self {
            Single::Topic => "topic_name",
            Single::Origin => "origin",
            Single::Label => "label",
        }
    }

    /// The announcement's `type`.
    fn kind(self) -> &'static str {
        match self {
            Single::Topic => "sns_topic",
            Single::Origin => "origin",
            Single::Label => "label",
        }
    }
}

/// Sets (or, with `None`, clears to the empty string, as the original does)
/// a single-valued setting.
pub fn set_single(cat: &Catalog, which: Single, value: Option<&str>) -> Result<()> {
    let before = cat.config()?;
    let (change, message) = single_change(&before, which, value);
    cat.backend.meta.apply(&[change])?;
    // A topic being removed is still told that it was removed.
    let announce_to = if which == Single::Topic {
        before
    } else {
        cat.config()?
    };
    cat.announce(&announce_to, vec![message])
}

fn single_change(before: &RepoConfig, which: Single, value: Option<&str>) -> (Change, Value) {
    let old = match which {
        Single::Topic => before.topic_name.clone(),
        Single::Origin => before.origin.clone(),
        Single::Label => before.label.clone(),
    };
    let mut attrs = crate::model::Attrs::new();
    attrs.insert(which.attr().into(), vec![value.unwrap_or("").to_string()]);
    let change = Change::Put {
        item: META_ITEM.into(),
        attrs,
        remove: vec![],
    };
    let (action, name) = match value {
        Some(v) => ("add", v.to_string()),
        None => ("delete", old.unwrap_or_default()),
    };
    (
        change,
        json!({"action": action, "type": which.kind(), "name": name}),
    )
}

/// `setup`: creates the state store and the bucket, then the configuration.
#[derive(Debug, Clone, Default)]
pub struct SetupRequest {
    pub dists: Vec<String>,
    pub comps: Vec<String>,
    pub archs: Vec<String>,
    pub topic: Option<String>,
    pub origin: Option<String>,
    pub label: Option<String>,
    pub bucket: BucketSetup,
}

pub fn setup(cat: &Catalog, req: &SetupRequest) -> Result<()> {
    for (kind, names) in [
        (ListKind::Dists, &req.dists),
        (ListKind::Comps, &req.comps),
        (ListKind::Archs, &req.archs),
    ] {
        for n in names {
            validate_name(kind, n)?;
        }
    }
    cat.backend
        .meta
        .create_domain()
        .context("creating the state store")?;
    cat.backend
        .blobs
        .setup(&req.bucket)
        .context("creating the bucket")?;
    // The whole configuration in one write.
    let config = cat.config()?;
    let (mut changes, mut messages) = (Vec::new(), Vec::new());
    for (kind, names) in [
        (ListKind::Dists, &req.dists),
        (ListKind::Comps, &req.comps),
        (ListKind::Archs, &req.archs),
    ] {
        let (c, m) = value_changes(kind, &plan_add(&config, kind, names)?, "add");
        changes.extend(c);
        messages.extend(m);
    }
    for (which, value) in [
        (Single::Topic, &req.topic),
        (Single::Origin, &req.origin),
        (Single::Label, &req.label),
    ] {
        if let Some(v) = value {
            let (c, m) = single_change(&config, which, Some(v));
            changes.push(c);
            messages.push(m);
        }
    }
    apply_and_announce(cat, &changes, messages)
}

/// `checkup`: what works and what does not. Writes nothing unless
/// `write_test` (the original's test_data round trip).
pub fn checkup(cat: &Catalog, write_test: bool) -> Result<Vec<(bool, String)>> {
    let mut out = Vec::new();
    let meta = &cat.backend.meta;
    match meta.domain_exists() {
        Ok(true) => out.push((true, format!("state store {} exists", meta.describe()))),
        Ok(false) => {
            out.push((
                false,
                format!("state store {} does not exist; run setup", meta.describe()),
            ));
            return Ok(out);
        }
        Err(e) => {
            out.push((false, format!("state store {}: {e}", meta.describe())));
            return Ok(out);
        }
    }
    let config = cat.config()?;
    for (kind, v) in [
        (ListKind::Dists, &config.dists),
        (ListKind::Comps, &config.comps),
        (ListKind::Archs, &config.stored_archs),
    ] {
        out.push((
            !v.is_empty(),
            format!(
                "{}s configured: {}",
                kind.noun(),
                super::add::list_or_none(v)
            ),
        ));
    }
    if write_test {
        let probe = format!("checkup-{}", std::process::id());
        let set = |value: &str| {
            let mut attrs = crate::model::Attrs::new();
            attrs.insert("test_data".into(), vec![value.to_string()]);
            meta.apply(&[Change::Put {
                item: META_ITEM.into(),
                attrs,
                remove: vec![],
            }])
        };
        match set(&probe).and_then(|_| set("")) {
            Ok(()) => out.push((true, "state store is writable".into())),
            Err(e) => out.push((false, format!("state store is not writable: {e}"))),
        }
    }
    match cat.backend.blobs.checkup() {
        Ok(notes) => {
            out.push((
                true,
                format!("bucket {} is accessible", cat.backend.blobs.describe()),
            ));
            out.extend(notes.into_iter().map(|n| (true, n)));
        }
        Err(e) => out.push((
            false,
            format!("bucket {}: {e}", cat.backend.blobs.describe()),
        )),
    }
    Ok(out)
}
