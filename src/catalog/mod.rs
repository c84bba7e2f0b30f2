//! The catalog: repository operations over the three ports, with no AWS or
//! SQLite types in sight. Each command computes its whole plan first (what
//! to upload, which items to put or delete, what to announce), then writes
//! data before pointers: pool files, then items, then announcements.

use std::cmp::Ordering;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::debian::version;
use crate::model::{Item, Package, RepoConfig, META_ITEM};
use crate::select::{Expr, Operand, Select};
use crate::store::{Backend, BlobStore, MetaStore, StoreResult};

pub mod add;
pub mod configure;
pub mod copy;
pub mod purge;
pub mod remove;
pub mod tree;

/// Filters of `query`, `rm`, `cp` and `backup`: several values of one filter
/// are ORed, different filters ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub names: Vec<String>,
    /// `-w`: names are prefixes.
    pub name_prefix: bool,
    pub dists: Vec<String>,
    pub comps: Vec<String>,
    pub archs: Vec<String>,
    pub versions: Vec<String>,
}

impl Filter {
    /// The typed Select for this filter: package items only (they have a
    /// `name`; `meta` does not).
    pub fn to_select(&self) -> Select {
        let mut e = Expr::IsNotNull(Operand::Attr("name".into()));
        if !self.names.is_empty() {
            e = e.and(if self.name_prefix {
                self.names
                    .iter()
                    .map(|n| Expr::starts_with("name", n))
                    .reduce(Expr::or)
                    .expect("names is not empty")
            } else {
                Expr::every_in("name", &self.names)
            });
        }
        for (attr, values) in [
            ("distribution", &self.dists),
            ("component", &self.comps),
            ("architecture", &self.archs),
            ("version", &self.versions),
        ] {
            if !values.is_empty() {
                e = e.and(Expr::every_in(attr, values));
            }
        }
        Select::all_where(e)
    }
}

/// Orders packages as every listing does: name, distribution, component,
/// architecture, then Debian version (oldest first).
pub fn package_order(a: &Package, b: &Package) -> Ordering {
    (&a.name, &a.distribution, &a.component, &a.architecture)
        .cmp(&(&b.name, &b.distribution, &b.component, &b.architecture))
        .then_with(|| version::compare(&a.version, &b.version))
}

/// How many names one Select may compare against.
pub const NAMES_PER_QUERY: usize = 20;

/// Splits packages into the `n` newest of each name/dist/comp/arch and the
/// older rest. Input in [`package_order`]; output keeps that order.
pub fn split_recent(packages: Vec<Package>, n: usize) -> (Vec<Package>, Vec<Package>) {
    let (mut newest, mut older) = (Vec::new(), Vec::new());
    let mut group: Vec<Package> = Vec::new();
    let flush = |group: &mut Vec<Package>, newest: &mut Vec<Package>, older: &mut Vec<Package>| {
        let cut = group.len().saturating_sub(n);
        let mut g = std::mem::take(group);
        newest.extend(g.split_off(cut));
        older.extend(g);
    };
    for p in packages {
        let same = group.last().is_some_and(|q| {
            (&q.name, &q.distribution, &q.component, &q.architecture)
                == (&p.name, &p.distribution, &p.component, &p.architecture)
        });
        if !same {
            flush(&mut group, &mut newest, &mut older);
        }
        group.push(p);
    }
    flush(&mut group, &mut newest, &mut older);
    (newest, older)
}

/// A placeholder store while [`Catalog::replace_meta`] swaps the real one.
#[cfg(test)]
struct Unset;

#[cfg(test)]
impl MetaStore for Unset {
    fn describe(&self) -> String {
        "unset".into()
    }
    fn domain_exists(&self) -> StoreResult<bool> {
        unreachable!()
    }
    fn create_domain(&self) -> StoreResult<()> {
        unreachable!()
    }
    fn get(&self, _: &str) -> StoreResult<Option<crate::model::Attrs>> {
        unreachable!()
    }
    fn select(&self, _: &Select, _: &mut dyn FnMut(Item) -> StoreResult<()>) -> StoreResult<()> {
        unreachable!()
    }
    fn apply(&self, _: &[crate::store::Change]) -> StoreResult<()> {
        unreachable!()
    }
}

/// An item's (first) package name, `""` without one.
fn name_of(item: &Item) -> &str {
    item.attrs
        .get("name")
        .and_then(|v| v.first())
        .map_or("", String::as_str)
}

/// The sha256 (lowercase hex) of an object in the bucket, streamed.
pub fn object_sha256(blobs: &dyn BlobStore, key: &str) -> Result<String> {
    let mut h = crate::digest::Sha256Writer::default();
    blobs.read(key, &mut h)?;
    Ok(h.finish())
}

/// The announcement of a removed package.
pub fn delete_message(p: &Package) -> Value {
    serde_json::json!({
        "action": "delete",
        "type": "package",
        "name": p.name,
        "version": p.version,
        "distribution": p.distribution,
        "component": p.component,
    })
}

/// A repository: the backend plus what is read once per command. The
/// backend is the catalog's own: other layers reach the ports through
/// [`Catalog::meta`] and [`Catalog::blobs`], and commands through the
/// catalog's, publish's and backup's operations.
pub struct Catalog {
    backend: Backend,
    caller: OnceLock<String>,
}

impl Catalog {
    pub fn new(backend: Backend) -> Catalog {
        Catalog {
            backend,
            caller: OnceLock::new(),
        }
    }

    /// The state store (for the publish and backup layers).
    pub fn meta(&self) -> &dyn MetaStore {
        self.backend.meta.as_ref()
    }

    /// The bucket.
    pub fn blobs(&self) -> &dyn BlobStore {
        self.backend.blobs.as_ref()
    }

    /// The backend's short name: backups live under `backups/<name>/`.
    pub fn backend_name(&self) -> &str {
        &self.backend.name
    }

    /// Swaps the bucket for a wrapper around it (tests record or fail
    /// writes this way).
    #[cfg(test)]
    pub(crate) fn replace_blobs(&mut self, blobs: Box<dyn BlobStore>) {
        self.backend.blobs = blobs;
    }

    /// Swaps the state store for a wrapper around it (tests change what
    /// it answers this way).
    #[cfg(test)]
    pub(crate) fn replace_meta(
        &mut self,
        f: impl FnOnce(Box<dyn MetaStore>) -> Box<dyn MetaStore>,
    ) {
        let meta = std::mem::replace(&mut self.backend.meta, Box::new(Unset));
        self.backend.meta = f(meta);
    }

    /// The configuration in the `meta` item (empty if there is none yet).
    pub fn config(&self) -> Result<RepoConfig> {
        Ok(self
            .config_attrs()?
            .map(|a| RepoConfig::from_attrs(&a))
            .unwrap_or_default())
    }

    /// The raw attributes of the `meta` item, if there is one. A store with
    /// no domain at all is a repository nobody has set up: that error says
    /// what to run, whichever store it is.
    pub fn config_attrs(&self) -> Result<Option<crate::model::Attrs>> {
        let meta = &self.backend.meta;
        match meta.get(META_ITEM) {
            Ok(Some(attrs)) => Ok(Some(attrs)),
            Ok(None) => match meta.domain_exists() {
                Ok(false) => Err(self.not_set_up()),
                _ => Ok(None),
            },
            Err(e) => {
                if matches!(meta.domain_exists(), Ok(false)) {
                    return Err(self.not_set_up());
                }
                Err(anyhow::Error::new(e)
                    .context(format!("reading configuration from {}", meta.describe())))
            }
        }
    }

    /// The error of every command but `setup` on a store without a domain.
    pub fn not_set_up(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "the repository in {} is not set up yet: run `repoman-cli setup -d DIST -c COMP -a ARCH` (with the same store settings) first",
            self.backend.meta.describe()
        )
    }

    /// Packages matching `filter`, in [`package_order`]. Items that are not
    /// readable packages are skipped with a warning.
    pub fn find(&self, filter: &Filter) -> Result<Vec<Package>> {
        let mut out = Vec::new();
        // Each item becomes a package as it arrives: its attributes are
        // dropped at once, and the conversion overlaps the store's reading
        // of the next items.
        self.each_item(filter, &mut |item| {
            match Package::from_owned_attrs(item.attrs) {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!("skipping item {}: {e}", item.name),
            }
            Ok(())
        })?;
        out.sort_by(package_order);
        Ok(out)
    }

    /// Packages matching `filter` handed to `each` in [`package_order`],
    /// holding at most one name's packages at a time (see
    /// [`Catalog::each_name`]). Items that are not readable packages are
    /// skipped with a warning. Returns `false`, having handed out some, if
    /// the store did not return them in name order: the caller starts
    /// again from [`Catalog::find`].
    pub fn each_package_in_order(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(Package) -> Result<()>,
    ) -> Result<bool> {
        self.each_name(filter, &mut |items| {
            let mut group = Vec::with_capacity(items.len());
            for item in items {
                match Package::from_owned_attrs(item.attrs) {
                    Ok(p) => group.push(p),
                    Err(e) => tracing::warn!("skipping item {}: {e}", item.name),
                }
            }
            group.sort_by(package_order);
            group.into_iter().try_for_each(&mut *each)
        })
    }

    /// The items matching `filter`, handed to `each` one package name at a
    /// time, names in ascending order: the store returns them by name
    /// (`order by name`), so memory holds one name's items, not the result.
    /// Returns `false`, having handed out some groups, if the store did not
    /// return them in name order (a backend that ignores the order).
    pub fn each_name(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(Vec<Item>) -> Result<()>,
    ) -> Result<bool> {
        let unordered = filter.to_select();
        let split = sdb::fit::split(&unordered).is_ok_and(|parts| parts.len() > 1);
        if filter.names.len() > NAMES_PER_QUERY || split {
            // Queried in chunks (SimpleDB's limit of 20 values per
            // predicate), each in order but not all together: sorted here.
            let mut items = self.find_items(filter)?;
            items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
            let mut group: Vec<Item> = Vec::new();
            for item in items {
                if group.last().is_some_and(|g| name_of(g) != name_of(&item)) {
                    each(std::mem::take(&mut group))?;
                }
                group.push(item);
            }
            if !group.is_empty() {
                each(group)?;
            }
            return Ok(true);
        }
        let mut query = unordered;
        query.order_by = Some((Operand::Attr("name".into()), crate::select::Order::Asc));
        let mut group: Vec<Item> = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        let mut in_order = true;
        let stop = |why: &str| crate::store::StoreError::Backend(why.to_string());
        let read = self.backend.meta.select(&query, &mut |item| {
            let order = group.last().map(|last| name_of(&item).cmp(name_of(last)));
            if order == Some(Ordering::Less) {
                in_order = false;
                return Err(stop("out of name order"));
            }
            if order == Some(Ordering::Greater) {
                if let Err(e) = each(std::mem::take(&mut group)) {
                    failure = Some(e);
                    return Err(stop("stopped by the caller"));
                }
            }
            group.push(item);
            Ok(())
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if !in_order {
            return Ok(false);
        }
        read?;
        if !group.is_empty() {
            each(group)?;
        }
        Ok(true)
    }

    /// `query`: the packages `filter` selects among the served
    /// distributions, components and architectures (all of them with
    /// `hidden`), only the `recent` newest of each when given, handed to
    /// `each` one package name at a time, names in order: the packages in
    /// [`package_order`] and their raw items (same set, for JSON). Memory
    /// holds one name's items, not the result.
    pub fn query_each(
        &self,
        filter: &Filter,
        hidden: bool,
        recent: Option<usize>,
        each: &mut dyn FnMut(Vec<Package>, Vec<Item>) -> Result<()>,
    ) -> Result<()> {
        let f = remove::scope(&self.config()?, filter, hidden)?;
        let complete = self.each_name(&f, &mut |mut items| {
            let mut packages: Vec<Package> = items
                .iter()
                .filter_map(|i| Package::from_attrs(&i.attrs).ok())
                .collect();
            packages.sort_by(package_order);
            if let Some(n) = recent.filter(|n| *n > 0) {
                packages = split_recent(packages, n).0;
                let keep: std::collections::HashSet<String> =
                    packages.iter().map(|p| p.key()).collect();
                items.retain(|i| keep.contains(&i.name));
            }
            each(packages, items)
        })?;
        if !complete {
            anyhow::bail!(
                "{} returned the packages out of name order; the listing is incomplete",
                self.meta().describe()
            );
        }
        Ok(())
    }

    /// [`Catalog::query_each`], collected.
    pub fn query(
        &self,
        filter: &Filter,
        hidden: bool,
        recent: Option<usize>,
    ) -> Result<(Vec<Package>, Vec<Item>)> {
        let (mut packages, mut items) = (Vec::new(), Vec::new());
        self.query_each(filter, hidden, recent, &mut |p, i| {
            packages.extend(p);
            items.extend(i);
            Ok(())
        })?;
        Ok((packages, items))
    }

    /// Raw items matching `filter`.
    pub fn find_items(&self, filter: &Filter) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        self.each_item(filter, &mut |item| {
            out.push(item);
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands every item matching `filter` to `each` as the store yields
    /// it. Long name lists are queried in chunks: SimpleDB allows 20
    /// comparisons per predicate.
    fn each_item(
        &self,
        filter: &Filter,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> Result<()> {
        if filter.names.len() <= NAMES_PER_QUERY {
            return Ok(self.backend.meta.select(&filter.to_select(), each)?);
        }
        for chunk in filter.names.chunks(NAMES_PER_QUERY) {
            let f = Filter {
                names: chunk.to_vec(),
                ..filter.clone()
            };
            self.backend.meta.select(&f.to_select(), each)?;
        }
        Ok(())
    }

    /// Items of the named packages (none for no names), further restricted
    /// by `filter`'s other fields.
    pub fn find_items_by_names(&self, names: &[String], filter: &Filter) -> Result<Vec<Item>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.find_items(&Filter {
            names: names.to_vec(),
            ..filter.clone()
        })
    }

    /// Who is acting, for announcements.
    pub fn caller(&self) -> Result<&str> {
        if let Some(c) = self.caller.get() {
            return Ok(c);
        }
        let c = self.backend.notifier.caller()?;
        Ok(self.caller.get_or_init(|| c))
    }

    /// Announces messages (each gets `caller`) to the configured topic.
    pub fn announce(&self, config: &RepoConfig, mut messages: Vec<Value>) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let caller = self.caller()?.to_string();
        for m in &mut messages {
            if let Value::Object(map) = m {
                map.insert("caller".into(), Value::String(caller.clone()));
            }
        }
        self.backend
            .notifier
            .announce(config.topic_name.as_deref(), &messages)
            .context("announcing changes")?;
        Ok(())
    }
}
