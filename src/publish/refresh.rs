//! `publish --refresh`: the published Release of a distribution, re-dated
//! (and its `Valid-Until` moved on) and re-signed, without reading the
//! state or rebuilding an index.
//!
//! The Release in the bucket is hostile input like any other: its listing
//! must name exactly the files the configuration publishes, with digests
//! of the right form, and every listed file must be in the bucket with the
//! listed size (each index also under its SHA512 by-hash name), or nothing
//! is written and a full publish is needed.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};

use super::index::{Algo, Digests};
use super::release::{top_release, Listed, ReleaseInfo};
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
    let mut found: BTreeMap<String, [Option<String>; 4]> = BTreeMap::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut algo: Option<usize> = None;
    for line in text.lines() {
        let Some(entry) = line.strip_prefix(' ') else {
            algo = Algo::ALL
                .iter()
                .position(|a| line.trim_end() == format!("{}:", a.name()));
            continue;
        };
        let Some(i) = algo else {
            return Err(stale(format!("unexpected line {line:?}")));
        };
        let f: Vec<&str> = entry.split_whitespace().collect();
        let [digest, size, path] = f[..] else {
            return Err(stale(format!("malformed line {line:?}")));
        };
        let want = [32, 40, 64, 128][i];
        if digest.len() != want || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(stale(format!("malformed digest in {line:?}")));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| stale(format!("malformed size in {line:?}")))?;
        if *sizes.entry(path.to_string()).or_insert(size) != size {
            return Err(stale(format!("two sizes for {path}")));
        }
        found.entry(path.to_string()).or_default()[i] = Some(digest.to_ascii_lowercase());
    }
    let mut expected: Vec<String> = Vec::new();
    for spec in IndexSpec::all(config) {
        let dir = spec.rel_dir();
        expected.push(format!("{dir}/{}", spec.name));
        expected.push(format!("{dir}/{}.gz", spec.name));
        expected.push(format!("{dir}/Release"));
    }
    expected.sort();
    let listed_paths: Vec<&String> = found.keys().collect();
    if listed_paths != expected.iter().collect::<Vec<_>>() {
        return Err(stale(
            "it does not list exactly the indices the configuration publishes (the \
             configuration changed since)"
                .into(),
        ));
    }
    let mut listed = Vec::new();
    for (path, d) in found {
        let [Some(md5), Some(sha1), Some(sha256), Some(sha512)] = d else {
            return Err(stale(format!("{path} lacks a digest")));
        };
        let digests = Digests {
            md5,
            sha1,
            sha256,
            sha512,
            size: sizes[&path],
        };
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
        listed.push(Listed { path, digests });
    }
    Ok((top_release(info, &listed), old, listed))
}
