//! Publishing only what changed: what a publish may keep of the tree its
//! predecessor published.
//!
//! On a store with a change stamp ([`MetaStore::change_stamp`], the
//! embedded one), the record also holds the stamp read before the state
//! that Release was built from. When the stamp is still that one, nothing
//! was written to the state since (by any process), so a publish reads no
//! package at all: it keeps the published tree if that is still its own
//! (the fingerprint), whole in the bucket, and need not be re-dated
//! ([`Previous::untouched`]).
//!
//! Otherwise a publish reads the state and builds every index (the state
//! may have been changed by anything that writes it, the original tool
//! included, so only its contents tell), but an index whose bytes equal
//! the ones the published Release lists is not gzipped or written again,
//! and when nothing at all differs (indices, leaf Releases, the Release's
//! fields but its `Date`, the signatures) nothing is written.
//!
//! The published Release is hostile input: anyone who can write the bucket
//! can change it, and a publish must never sign digests it did not compute.
//! So each publish records in the state (item [`RECORD_ITEM`], one
//! attribute per distribution) a fingerprint of the Release it wrote and of
//! who signed it. Only a Release whose fingerprint matches the record is
//! reused; otherwise (a first publish, a Release changed or written by
//! another tool, another signing key) everything is written, as `--force`
//! does. Of a reused index, every name (plain, gzipped, and each by-hash
//! name) must be in the bucket with the listed size, or it is written
//! again; the bytes of an object replaced in the bucket with others of the
//! same size are not read back (apt refuses them by their digests; `publish
//! --force` rewrites every object).

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::index::{Algo, Digests};
use super::release::{field, parse_listing, parse_release_date, top_release, Listed, ReleaseInfo};
use crate::model::Attrs;
use crate::store::{BlobStore, Change, MetaStore};

/// The item recording the fingerprint of each distribution's published
/// Release (one attribute per distribution). It has no `name`, so no
/// package query, backup or restore sees it.
pub const RECORD_ITEM: &str = "published-releases";

/// The fingerprint of a Release as published: its bytes and its signer
/// (`None`: unsigned).
pub fn fingerprint(release: &[u8], signer: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(release);
    h.update(b"\0");
    h.update(signer.unwrap_or("unsigned").as_bytes());
    hex::encode(h.finalize())
}

/// What is recorded of a distribution's published Release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its [`fingerprint`].
    pub fingerprint: String,
    /// The store's change stamp read before the state it lists was read
    /// (`None`: the store has none).
    pub stamp: Option<String>,
}

impl Record {
    /// Stored as the fingerprint, then a space and the stamp if any.
    fn to_value(&self) -> String {
        match &self.stamp {
            Some(s) => format!("{} {s}", self.fingerprint),
            None => self.fingerprint.clone(),
        }
    }

    fn from_value(v: &str) -> Record {
        match v.split_once(' ') {
            Some((f, s)) => Record {
                fingerprint: f.to_string(),
                stamp: Some(s.to_string()),
            },
            None => Record {
                fingerprint: v.to_string(),
                stamp: None,
            },
        }
    }
}

/// The record of `dist`'s published Release.
pub fn recorded(meta: &dyn MetaStore, dist: &str) -> Result<Option<Record>> {
    Ok(meta
        .get(RECORD_ITEM)
        .with_context(|| format!("reading {RECORD_ITEM} from {}", meta.describe()))?
        .and_then(|a| {
            a.get(dist)
                .and_then(|v| v.first().map(|v| Record::from_value(v)))
        }))
}

/// Records the Release just published for `dist` (after it is in place: a
/// publish killed before leaves the old record, which then matches
/// nothing, and the next publish writes everything).
pub fn record(meta: &dyn MetaStore, dist: &str, record: &Record) -> Result<()> {
    let mut attrs = Attrs::new();
    attrs.insert(dist.to_string(), vec![record.to_value()]);
    meta.apply(&[Change::Put {
        item: RECORD_ITEM.into(),
        attrs,
        remove: vec![],
    }])
    .with_context(|| format!("recording the published Release of {dist}"))
}

/// The published tree of a distribution, as far as a publish may reuse it.
#[derive(Debug)]
pub struct Previous {
    /// The published Release's bytes.
    pub bytes: Vec<u8>,
    /// The change stamp recorded with it.
    pub stamp: Option<String>,
    text: String,
    date: DateTime<Utc>,
    /// Listed files by path below `dists/DIST/`.
    listed: BTreeMap<String, Digests>,
    /// Objects under `dists/DIST/` (path below it) and their sizes.
    present: BTreeMap<String, u64>,
}

/// The published Release of `dist` if a publish may reuse what it lists:
/// it is the one the last publish wrote with this `signer` (its
/// fingerprint is the recorded one) and it is well formed.
pub fn previous(
    meta: &dyn MetaStore,
    blobs: &dyn BlobStore,
    dist: &str,
    signer: Option<&str>,
) -> Result<Option<Previous>> {
    let Some(Record {
        fingerprint: recorded,
        stamp,
    }) = recorded(meta, dist)?
    else {
        return Ok(None);
    };
    let home = format!("dists/{dist}/");
    let Some(bytes) = blobs.get(&format!("{home}Release"))? else {
        return Ok(None);
    };
    if fingerprint(&bytes, signer) != recorded {
        return Ok(None);
    }
    let Ok(text) = String::from_utf8(bytes.clone()) else {
        return Ok(None);
    };
    let (Ok(listing), Some(date)) = (
        parse_listing(&text),
        field(&text, "Date").and_then(parse_release_date),
    ) else {
        return Ok(None);
    };
    let present = blobs
        .list(&home)
        .with_context(|| format!("listing {home}"))?
        .into_iter()
        .filter_map(|o| Some((o.key.strip_prefix(&home)?.to_string(), o.size)))
        .collect();
    Ok(Some(Previous {
        bytes,
        stamp,
        text,
        date,
        listed: listing.into_iter().map(|l| (l.path, l.digests)).collect(),
        present,
    }))
}

impl Previous {
    fn has(&self, path: &str, size: u64) -> bool {
        self.present.get(path) == Some(&size)
    }

    /// The digests of the gzipped form of the index at `path` (e.g.
    /// `main/binary-amd64/Packages`) when the published one has exactly the
    /// digests `plain`, and both forms are in the bucket under their own and
    /// every by-hash name with the listed sizes: then neither is written.
    pub fn unchanged_index(&self, path: &str, plain: &Digests) -> Option<Digests> {
        if self.listed.get(path) != Some(plain) {
            return None;
        }
        let gz_path = format!("{path}.gz");
        let gz = self.listed.get(&gz_path)?;
        let (dir, _) = path.rsplit_once('/')?;
        for (p, d) in [(path, plain), (gz_path.as_str(), gz)] {
            if !self.has(p, d.size) {
                return None;
            }
            for a in Algo::ALL {
                if !self.has(&format!("{dir}/by-hash/{}/{}", a.name(), d.get(a)), d.size) {
                    return None;
                }
            }
        }
        Some(gz.clone())
    }

    /// Whether a small file (a leaf Release) at `path` is published with
    /// exactly `digests`.
    pub fn unchanged_file(&self, path: &str, digests: &Digests) -> bool {
        self.listed.get(path) == Some(digests) && self.has(path, digests.size)
    }

    /// Whether the Release for `info` listing `listed` says what the
    /// published one says but for its `Date` (and a `Valid-Until` as far
    /// from it), and the published one need not be re-dated: without
    /// `Valid-Until`, never; with it, while more than half of its validity
    /// is left.
    pub fn release_unchanged(&self, info: &ReleaseInfo, listed: &[Listed]) -> bool {
        let valid_for = info.valid_until.map(|t| t - info.date);
        let same = ReleaseInfo {
            date: self.date,
            valid_until: valid_for.map(|d| self.date + d),
            ..info.clone()
        };
        if top_release(&same, listed) != self.text {
            return false;
        }
        match valid_for {
            None => true,
            Some(d) => self.date + d - info.date > d / 2,
        }
    }

    /// The published listing, when the published tree may stay as it is
    /// without reading the state (the caller knows the state did not
    /// change since it was built): every file it lists is in the bucket
    /// with the listed size, under its own and (an index) every by-hash
    /// name, the Release need not be re-dated or changed for `info`
    /// ([`Previous::release_unchanged`]) and the signature files are in
    /// place.
    pub fn untouched(&self, info: &ReleaseInfo, signed: bool) -> Option<Vec<Listed>> {
        let listed: Vec<Listed> = self
            .listed
            .iter()
            .map(|(path, digests)| Listed {
                path: path.clone(),
                digests: digests.clone(),
            })
            .collect();
        for l in &listed {
            if !self.has(&l.path, l.digests.size) {
                return None;
            }
            let (dir, name) = l.path.rsplit_once('/')?;
            if name != "Release" {
                for a in Algo::ALL {
                    let by_hash = format!("{dir}/by-hash/{}/{}", a.name(), l.digests.get(a));
                    if !self.has(&by_hash, l.digests.size) {
                        return None;
                    }
                }
            }
        }
        (self.release_unchanged(info, &listed) && self.signatures_in_place(signed))
            .then_some(listed)
    }

    /// Whether the signature files are what a publish (`signed` or not)
    /// leaves: both present, or neither.
    pub fn signatures_in_place(&self, signed: bool) -> bool {
        ["Release.gpg", "InRelease"]
            .iter()
            .all(|n| self.present.contains_key(*n) == signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_its_stamp_and_reads_one_without() {
        let with = Record {
            fingerprint: fingerprint(b"R", None),
            stamp: Some("42".into()),
        };
        assert_eq!(Record::from_value(&with.to_value()), with);
        let without = Record {
            stamp: None,
            ..with.clone()
        };
        assert_eq!(Record::from_value(&without.to_value()), without);
    }

    #[test]
    fn fingerprint_covers_bytes_and_signer() {
        let a = fingerprint(b"Release", None);
        assert_eq!(a, fingerprint(b"Release", None));
        assert_ne!(a, fingerprint(b"Release ", None));
        assert_ne!(a, fingerprint(b"Release", Some("key A")));
        assert_ne!(
            fingerprint(b"Release", Some("key A")),
            fingerprint(b"Release", Some("key B"))
        );
    }
}
