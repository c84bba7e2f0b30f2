//! `--auto-purge N`: after add or cp, keep only the N newest versions in each
//! name/dist/comp/arch that was touched.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{package_order, split_recent, Catalog, Filter};
use crate::model::Package;
use crate::store::Change;

/// The deletions that leave `keep` versions in every group `touched` belongs
/// to, counting the touched packages themselves (they may not be stored
/// yet). Returns the changes and the packages they remove.
pub fn purge_changes(
    cat: &Catalog,
    touched: &[Package],
    keep: usize,
) -> Result<(Vec<Change>, Vec<Package>)> {
    if touched.is_empty() {
        return Ok((vec![], vec![]));
    }
    let mut names: Vec<String> = touched.iter().map(|p| p.name.clone()).collect();
    names.sort();
    names.dedup();
    let group = |p: &Package| {
        (
            p.name.clone(),
            p.distribution.clone(),
            p.component.clone(),
            p.architecture.clone(),
        )
    };
    let groups: std::collections::BTreeSet<_> = touched.iter().map(group).collect();
    // Every version in the touched groups, stored or about to be, by key.
    let mut all: BTreeMap<String, Package> = BTreeMap::new();
    for p in cat.find_items_by_names(&names, &Filter::default())? {
        if let Ok(p) = Package::from_attrs(&p.attrs) {
            if groups.contains(&group(&p)) {
                all.insert(p.key(), p);
            }
        }
    }
    for p in touched {
        all.insert(p.key(), p.clone());
    }
    let mut list: Vec<Package> = all.into_values().collect();
    list.sort_by(package_order);
    let (_, older) = split_recent(list, keep);
    let changes = older
        .iter()
        .map(|p| Change::Delete { item: p.key() })
        .collect();
    Ok((changes, older))
}
