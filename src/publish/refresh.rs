//! `publish --refresh`: the published Release of a distribution, re-dated
//! (and its `Valid-Until` moved on) and re-signed, without reading the
//! state or rebuilding an index.
//!
//! The Release in the bucket is hostile input like any other: its listing
//! must name exactly the files the configuration publishes, with digests
//! of the right form, and every listed file must be in the bucket with the
//! listed size (each index also under its SHA512 by-hash name), or nothing
//! is written and a full publish is needed.

use anyhow::{anyhow, Result};

use super::release::{parse_listing, top_release, Listed, ReleaseInfo};
use super::IndexSpec;
use crate::model::RepoConfig;
use crate::store::BlobStore;

/// The listing of the published Release of `info.dist`, checked, and the
/// new Release text. Returns (new text, old bytes, listing).
pub fn recompose(
    blobs: &dyn BlobStore,
    config: &RepoConfig,
    info: &ReleaseInfo,
) -> Result<(String, Vec<u8>, Vec<Listed>)> {
    let dist = &info.dist;
    let key = format!("dists/{dist}/Release");
    let old = blobs.get(&key)?.ok_or_else(|| {
        anyhow!("{dist} has never been published; run publish without --refresh first")
    })?;
    let stale =
        |why: String| anyhow!("{key} cannot be refreshed: {why}; run publish without --refresh");
    let text = std::str::from_utf8(&old).map_err(|_| stale("it is not UTF-8".into()))?;
    let listing = parse_listing(text).map_err(stale)?;
    let mut expected: Vec<String> = Vec::new();
    for spec in IndexSpec::all(config) {
        let dir = spec.rel_dir();
        expected.push(format!("{dir}/{}", spec.name));
        expected.push(format!("{dir}/{}.gz", spec.name));
        expected.push(format!("{dir}/Release"));
    }
    expected.sort();
    let listed_paths: Vec<&String> = listing.iter().map(|l| &l.path).collect();
    if listed_paths != expected.iter().collect::<Vec<_>>() {
        return Err(stale(
            "it does not list exactly the indices the configuration publishes (the \
             configuration changed since)"
                .into(),
        ));
    }
    for Listed { path, digests } in &listing {
        let mut must_exist = vec![format!("dists/{dist}/{path}")];
        if let Some((dir, name)) = path.rsplit_once('/') {
            if name != "Release" {
                must_exist.push(format!(
                    "dists/{dist}/{dir}/by-hash/SHA512/{}",
                    digests.sha512
                ));
            }
        }
        for k in must_exist {
            if blobs.head(&k)? != Some(digests.size) {
                return Err(stale(format!(
                    "{k} is missing or not the size the Release lists"
                )));
            }
        }
    }
    Ok((top_release(info, &listing), old, listing))
}
