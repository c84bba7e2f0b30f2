//! `restore --from-published`: when the state store is lost and no backup
//! exists, the published indices still describe every published package.
//! Each Packages stanza is `Filename`, `MD5sum`, `SHA1`, `SHA256`, `Size`
//! and then the stored control text; each Sources stanza is `Directory`,
//! `Package` and then the stored .dsc text. Stripping the publisher's
//! fields gives the items back (the distribution and component come from
//! the index's path, the architecture from the stanza); the configuration
//! comes from the Release files. What cannot be recovered is reported:
//! unparsable stanzas, and pool files no index references (packages added
//! but never published, or removed since).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::validate::{decompress, parse_backup, Backup};
use crate::catalog::tree::{meta_json, package_tree};
use crate::debian::control::{parse_paragraph, Paragraph};
use crate::model::{pool_dir, Attrs, Item, Package, Payload};
use crate::store::BlobStore;

/// The fields a Packages stanza has before the stored control text.
pub const PACKAGES_PREFIX: [&str; 5] = ["Filename", "MD5sum", "SHA1", "SHA256", "Size"];
/// The fields a Sources stanza has before the stored .dsc text.
pub const SOURCES_PREFIX: [&str; 2] = ["Directory", "Package"];

/// What was recovered from the published tree.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// The items (and configuration, when asked for), validated as any
    /// backup is.
    pub backup: Backup,
    /// The index files read.
    pub indices: Vec<String>,
    /// Pool files of the recovered distributions that no index references.
    pub unreferenced: Vec<String>,
    /// What could not be recovered, one line each.
    pub problems: Vec<String>,
}

/// One index file found under dists/.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexFile {
    dist: String,
    comp: String,
    /// `binary-<arch>` or `source`.
    sub: String,
    key: String,
}

/// `dists/<dist>/<comp...>/binary-<arch>/Packages[.gz]` or
/// `.../source/Sources[.gz]`: (dist, comp, sub, plain name).
fn classify(key: &str) -> Option<(String, String, String, String)> {
    let rest = key.strip_prefix("dists/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 4 {
        return None;
    }
    let file = parts[parts.len() - 1];
    let sub = parts[parts.len() - 2];
    let plain = file.strip_suffix(".gz").unwrap_or(file);
    let ok = (sub.starts_with("binary-") && sub.len() > 7 && plain == "Packages")
        || (sub == "source" && plain == "Sources");
    if !ok {
        return None;
    }
    let comp = parts[1..parts.len() - 2].join("/");
    Some((
        parts[0].to_string(),
        comp,
        sub.to_string(),
        plain.to_string(),
    ))
}

/// Paragraphs of an index, each with its position (1-based) for messages;
/// unparsable ones as errors.
fn paragraphs(text: &str) -> Vec<(usize, Result<Paragraph, String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut n = 0;
    while !rest.trim().is_empty() {
        n += 1;
        match parse_paragraph(rest) {
            Ok(p) => {
                let used = p.consumed().max(1);
                rest = &rest[used.min(rest.len())..];
                out.push((n, Ok(p)));
            }
            Err(e) => {
                out.push((n, Err(e.to_string())));
                // Skip to the next blank line.
                let start = rest.len() - rest.trim_start_matches(['\n', '\r', ' ', '\t']).len();
                rest = match rest[start..].find("\n\n") {
                    Some(i) => &rest[start + i + 2..],
                    None => "",
                };
            }
        }
    }
    out
}

/// The stored text: every field after the publisher's leading ones.
fn stored_text(p: &Paragraph, prefix: &[&str]) -> String {
    let mut leading = true;
    let mut text = String::new();
    for (name, raw) in p.raw_fields() {
        if leading && prefix.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            continue;
        }
        leading = false;
        text.push_str(raw);
    }
    text
}

fn field(p: &Paragraph, name: &str) -> Result<String, String> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("no {name} field"))
}

/// A binary package from a Packages stanza of `dist`/`comp`.
fn binary_package(p: &Paragraph, dist: &str, comp: &str) -> Result<Package, String> {
    let filename_path = field(p, "Filename")?;
    let name = field(p, "Package")?;
    let filename = filename_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let expected = format!("{}/{filename}", pool_dir(dist, &name));
    if filename_path != expected {
        return Err(format!(
            "Filename {filename_path} is not where this repository keeps it ({expected})"
        ));
    }
    let size = field(p, "Size")?;
    Ok(Package {
        name,
        version: field(p, "Version")?,
        distribution: dist.to_string(),
        component: comp.to_string(),
        architecture: field(p, "Architecture")?,
        payload: Payload::Binary {
            filename,
            md5: field(p, "MD5sum")?,
            sha1: field(p, "SHA1")?,
            sha256: field(p, "SHA256")?,
            size: size
                .parse()
                .map_err(|_| format!("Size {size:?} is not a number"))?,
        },
        control: stored_text(p, &PACKAGES_PREFIX),
    })
}

/// The file names a .dsc text lists in `Files` (groups of md5, size, name;
/// lines may be wrapped anywhere), the .dsc first as `add` stores them.
fn source_files(dsc: &Paragraph, name: &str, version: &str) -> Result<Vec<String>, String> {
    let listed = dsc.get("Files").ok_or("no Files field in the .dsc text")?;
    let tokens: Vec<&str> = listed.split_whitespace().collect();
    if tokens.is_empty() || !tokens.len().is_multiple_of(3) {
        return Err("the Files field is not md5/size/name triples".into());
    }
    let names: Vec<String> = tokens.chunks(3).map(|t| t[2].to_string()).collect();
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    let dsc_name = names
        .iter()
        .find(|n| n.ends_with(".dsc"))
        .cloned()
        .unwrap_or_else(|| format!("{name}_{upstream}.dsc"));
    Ok(std::iter::once(dsc_name.clone())
        .chain(names.into_iter().filter(|n| *n != dsc_name))
        .collect())
}

/// A source package from a Sources stanza of `dist`/`comp`.
fn source_package(p: &Paragraph, dist: &str, comp: &str) -> Result<Package, String> {
    let name = field(p, "Package")?;
    let directory = field(p, "Directory")?;
    if directory != pool_dir(dist, &name) {
        return Err(format!(
            "Directory {directory} is not where this repository keeps it ({})",
            pool_dir(dist, &name)
        ));
    }
    let control = stored_text(p, &SOURCES_PREFIX);
    let dsc = parse_paragraph(&control).map_err(|e| format!(".dsc text: {e}"))?;
    let version = field(&dsc, "Version")?;
    let files = source_files(&dsc, &name, &version)?;
    Ok(Package {
        name,
        version,
        distribution: dist.to_string(),
        component: comp.to_string(),
        architecture: "source".into(),
        payload: Payload::Source { files },
        control,
    })
}

/// Reads an index, gunzipping `.gz`.
fn read_index(blobs: &dyn BlobStore, key: &str) -> Result<String> {
    let raw = blobs
        .get(key)?
        .with_context(|| format!("{key} disappeared while reading"))?;
    let bytes = decompress(&raw).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{key}: not UTF-8: {e}"))
}

/// The configuration a distribution's Release describes.
#[derive(Debug, Default)]
struct ReleaseInfo {
    comps: Vec<String>,
    archs: Vec<String>,
    origin: Option<String>,
    label: Option<String>,
}

fn read_release(blobs: &dyn BlobStore, dist: &str) -> Result<Option<ReleaseInfo>> {
    let key = format!("dists/{dist}/Release");
    let Some(raw) = blobs.get(&key)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let p = parse_paragraph(&text).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
    let words = |f: &str| -> Vec<String> {
        p.get(f)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    Ok(Some(ReleaseInfo {
        comps: words("Components"),
        archs: words("Architectures")
            .into_iter()
            .filter(|a| a != "source")
            .collect(),
        origin: p.get("Origin").map(str::to_string),
        label: p.get("Label").map(str::to_string),
    }))
}

fn push_unique(v: &mut Vec<String>, x: &str) {
    if !v.iter().any(|y| y == x) {
        v.push(x.to_string());
    }
}

/// Rebuilds a backup from the published tree of `dists` (every published
/// distribution when empty). The configuration is recovered too when
/// `with_config` (the state has none).
pub fn recover(blobs: &dyn BlobStore, dists: &[String], with_config: bool) -> Result<Recovered> {
    let keys: Vec<String> = blobs
        .list("dists/")
        .with_context(|| format!("listing dists/ in {}", blobs.describe()))?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut published: Vec<String> = Vec::new();
    for k in &keys {
        if let Some(d) = k.strip_prefix("dists/").and_then(|r| r.split('/').next()) {
            if k.matches('/').count() >= 2 {
                push_unique(&mut published, d);
            }
        }
    }
    let wanted: Vec<String> = if dists.is_empty() {
        published.clone()
    } else {
        for d in dists {
            if !published.contains(d) {
                bail!(
                    "distribution {d:?} is not published in {} (published: {})",
                    blobs.describe(),
                    published.join(", ")
                );
            }
        }
        dists.to_vec()
    };
    if wanted.is_empty() {
        bail!("nothing is published in {} (no dists/)", blobs.describe());
    }
    let mut rec = Recovered::default();
    // Plain and .gz: read one per index, the plain one when both exist.
    let mut indices: BTreeMap<(String, String, String), IndexFile> = BTreeMap::new();
    for k in &keys {
        if let Some((dist, comp, sub, _)) = classify(k) {
            if !wanted.contains(&dist) {
                continue;
            }
            let entry = IndexFile {
                dist: dist.clone(),
                comp: comp.clone(),
                sub: sub.clone(),
                key: k.clone(),
            };
            indices
                .entry((dist, comp, sub))
                .and_modify(|e| {
                    if e.key.ends_with(".gz") {
                        *e = entry.clone();
                    }
                })
                .or_insert(entry);
        }
    }
    let mut items: BTreeMap<String, (Attrs, String)> = BTreeMap::new();
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for idx in indices.values() {
        rec.indices.push(idx.key.clone());
        let text = match read_index(blobs, &idx.key) {
            Ok(t) => t,
            Err(e) => {
                rec.problems.push(format!("{e:#}"));
                continue;
            }
        };
        for (n, para) in paragraphs(&text) {
            let at = format!("{} stanza {n}", idx.key);
            let pkg = para.and_then(|p| {
                if idx.sub == "source" {
                    source_package(&p, &idx.dist, &idx.comp)
                } else {
                    binary_package(&p, &idx.dist, &idx.comp)
                }
            });
            let pkg = match pkg {
                Ok(p) => p,
                Err(e) => {
                    rec.problems.push(format!("{at}: {e}"));
                    continue;
                }
            };
            if let Some(arch) = idx.sub.strip_prefix("binary-") {
                if pkg.architecture != arch && pkg.architecture != "all" {
                    rec.problems.push(format!(
                        "{at}: {} {} has architecture {} in the {arch} index; recovered as {}",
                        pkg.name, pkg.version, pkg.architecture, pkg.architecture
                    ));
                }
            }
            for f in pkg.files() {
                referenced.insert(format!("{}/{f}", pkg.pool_dir(&idx.dist)));
            }
            let attrs = match pkg.to_attrs() {
                Ok(a) => a,
                Err(e) => {
                    rec.problems.push(format!("{at}: {e}"));
                    continue;
                }
            };
            match items.get(&pkg.key()) {
                // `all` packages appear in every architecture's index.
                Some((a, _)) if *a == attrs => {}
                Some((_, first)) => rec.problems.push(format!(
                    "{at}: {} {} differs from the same package in {first}; the first is kept",
                    pkg.name, pkg.version
                )),
                None => {
                    items.insert(pkg.key(), (attrs, at));
                }
            }
        }
    }
    for d in &wanted {
        let pre = format!("pool/{d}/");
        for o in blobs.list(&pre)? {
            if !referenced.contains(&o.key) {
                rec.unreferenced.push(o.key);
            }
        }
    }
    let metadata = if with_config {
        recover_config(blobs, &wanted, &mut rec)?
    } else {
        Attrs::new()
    };
    let list: Vec<Item> = items
        .into_iter()
        .map(|(name, (attrs, _))| Item { name, attrs })
        .collect();
    // The same validation a backup file gets.
    let doc = json!({"metadata": meta_json(&metadata), "packages": package_tree(&list)});
    rec.backup = parse_backup(doc.to_string().as_bytes())
        .map_err(|p| anyhow::anyhow!("the recovered items are not valid: {p}"))?;
    Ok(rec)
}

/// dists from dists/*, components and architectures from the Release
/// files, Origin and Label from the first Release.
fn recover_config(blobs: &dyn BlobStore, dists: &[String], rec: &mut Recovered) -> Result<Attrs> {
    let (mut comps, mut archs) = (Vec::new(), Vec::new());
    let (mut origin, mut label) = (None, None);
    for d in dists {
        match read_release(blobs, d)? {
            Some(r) => {
                for c in &r.comps {
                    push_unique(&mut comps, c);
                }
                for a in &r.archs {
                    push_unique(&mut archs, a);
                }
                origin = origin.or(r.origin);
                label = label.or(r.label);
            }
            None => rec.problems.push(format!(
                "dists/{d}/Release: missing; the components and architectures of {d} are not recovered"
            )),
        }
    }
    let mut meta = Attrs::new();
    meta.insert("dists".into(), dists.to_vec());
    if !comps.is_empty() {
        meta.insert("comps".into(), comps);
    }
    if !archs.is_empty() {
        meta.insert("archs".into(), archs);
    }
    if let Some(o) = origin {
        meta.insert("origin".into(), vec![o]);
    }
    if let Some(l) = label {
        meta.insert("label".into(), vec![l]);
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_are_classified() {
        assert_eq!(
            classify("dists/stable/main/binary-amd64/Packages.gz"),
            Some((
                "stable".into(),
                "main".into(),
                "binary-amd64".into(),
                "Packages".into()
            ))
        );
        assert_eq!(
            classify("dists/s/updates/main/source/Sources").map(|c| c.1),
            Some("updates/main".into())
        );
        for no in [
            "dists/stable/Release",
            "dists/stable/main/binary-amd64/Release",
            "dists/stable/main/binary-amd64/by-hash/SHA256/abc",
            "dists/stable/main/source/Packages",
            "pool/stable/main/binary-amd64/Packages",
        ] {
            assert_eq!(classify(no), None, "{no}");
        }
    }

    #[test]
    fn stanzas_give_back_the_stored_text() {
        let stanza =
            "Filename: pool/d/h/hello/hello_1_amd64.deb\nMD5sum: m\nSHA1: s\nSHA256: t\nSize: 3\n\
                      Package: hello\nVersion: 1\nArchitecture: amd64\nDescription: x\n y\n\n";
        let ps = paragraphs(stanza);
        assert_eq!(ps.len(), 1);
        let p = binary_package(ps[0].1.as_ref().unwrap(), "d", "main").unwrap();
        assert_eq!(
            p.control,
            "Package: hello\nVersion: 1\nArchitecture: amd64\nDescription: x\n y\n"
        );
        assert_eq!(p.files(), ["hello_1_amd64.deb"]);
        let wrong = binary_package(ps[0].1.as_ref().unwrap(), "e", "main").unwrap_err();
        assert!(
            wrong.contains("not where this repository keeps it"),
            "{wrong}"
        );
    }

    #[test]
    fn source_files_come_from_wrapped_files_fields() {
        let dsc = "Format: 3.0 (quilt)\nSource: a\nVersion: 1:1.0-1\nFiles: 8d 53764\n a_1.0.orig.tar.gz\n 76 41920 a_1.0-1.debian.tar.xz\n ec 1986 a_1.0-1.dsc\n";
        let p = parse_paragraph(dsc).unwrap();
        assert_eq!(
            source_files(&p, "a", "1:1.0-1").unwrap(),
            ["a_1.0-1.dsc", "a_1.0.orig.tar.gz", "a_1.0-1.debian.tar.xz"]
        );
        let p = parse_paragraph("Source: a\nVersion: 1:1.0-1\nFiles: 8d 5 a_1.0.tar.gz\n").unwrap();
        assert_eq!(
            source_files(&p, "a", "1:1.0-1").unwrap(),
            ["a_1.0-1.dsc", "a_1.0.tar.gz"]
        );
    }

    #[test]
    fn a_bad_stanza_does_not_hide_the_next() {
        let text = "Package: a\n bad: x\nnot a field\n\nPackage: b\nVersion: 1\n\n";
        let ps = paragraphs(text);
        assert_eq!(ps.len(), 2);
        assert!(ps[0].1.is_err());
        assert_eq!(ps[1].1.as_ref().unwrap().get("Package"), Some("b"));
    }
}
