//! `verify`: the bucket checked against the state, as deb-s3's `verify`
//! and reprepro's `checkpool` do. Every package file an item refers to must
//! exist with the recorded size and sha256 (`--fast`: size only); a source
//! package's files are checked against the Checksums-Sha256 of its stored
//! .dsc text. Every published Packages and Sources index must hold exactly
//! what a publish would write now, and every file a Release lists must have
//! the size and sha256 it lists. InRelease and Release.gpg must say what
//! Release says (InRelease: the same text, hence the same files), with
//! signatures that verify against the configured signing key. Every item
//! and the configuration are checked against the rules every stored value
//! follows (`rules`), all of them, not only up to the first bad one.

use std::collections::BTreeMap;
use std::io::Read;

use std::path::Path;

use anyhow::{bail, Context, Result};
use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey, SignedSecretKey,
};
use pgp::packet::Signature;

use super::validate::describe;
use crate::catalog::{object_sha256, Catalog, Filter};
use crate::debian::control::parse_paragraph;
use crate::model::{Package, Payload};
use crate::publish::index::index_text;
use crate::rules::{check_config, check_package};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    /// Sizes only, no checksums (no file is read).
    pub fast: bool,
    /// Only these distributions (all when empty); each must be configured.
    pub dists: Vec<String>,
    /// The public keys Release signatures must verify with (the configured
    /// signer's); empty when none is configured, and then only the
    /// signatures' form and content are checked.
    pub keys: Vec<SignedPublicKey>,
}

/// The public halves of the configured signing keys: those of an armored
/// key file (secret or public keys), or those gpg exports for key ids.
pub fn public_keys(
    key_file: Option<&Path>,
    gpg_ids: &[String],
    gpg_home: Option<&Path>,
) -> Result<Vec<SignedPublicKey>> {
    let mut out = Vec::new();
    let mut read_armored = |text: &str, from: &str| -> Result<()> {
        let starts: Vec<usize> = text
            .match_indices("-----BEGIN PGP ")
            .map(|(i, _)| i)
            .collect();
        for (n, &i) in starts.iter().enumerate() {
            let armored = &text[i..starts.get(n + 1).copied().unwrap_or(text.len())];
            if armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
                let (keys, _) = SignedSecretKey::from_armor_many(armored.as_bytes())
                    .with_context(|| format!("{from}: not an armored OpenPGP key"))?;
                for k in keys {
                    out.push(SignedPublicKey::from(
                        k.with_context(|| format!("{from}: unreadable key"))?,
                    ));
                }
            } else {
                let (keys, _) = SignedPublicKey::from_armor_many(armored.as_bytes())
                    .with_context(|| format!("{from}: not an armored OpenPGP key"))?;
                for k in keys {
                    out.push(k.with_context(|| format!("{from}: unreadable key"))?);
                }
            }
        }
        Ok(())
    };
    if let Some(file) = key_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        read_armored(&text, &file.display().to_string())?;
    } else if !gpg_ids.is_empty() {
        let mut gpg = std::process::Command::new("gpg");
        if let Some(home) = gpg_home {
            gpg.arg("--homedir").arg(home);
        }
        let exported = gpg
            .args(["--batch", "--quiet", "--armor", "--export", "--"])
            .args(gpg_ids)
            .stdin(std::process::Stdio::null())
            .output()
            .context("running gpg --export for the signing keys")?;
        let text = String::from_utf8_lossy(&exported.stdout).into_owned();
        if !exported.status.success() || text.trim().is_empty() {
            anyhow::bail!(
                "gpg --export {} gave no public key: {}",
                gpg_ids.join(" "),
                String::from_utf8_lossy(&exported.stderr).trim()
            );
        }
        read_armored(&text, "gpg --export")?;
    }
    Ok(out)
}

/// What was checked and what was wrong.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub items: usize,
    pub files: usize,
    pub indices: usize,
    /// One line each.
    pub problems: Vec<String>,
}

/// What the state says one pool file must be.
#[derive(Debug, Clone)]
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
    /// The packages that refer to it.
    owners: Vec<String>,
}

/// `name -> (sha256, size)` from a .dsc text's Checksums-Sha256 (triples
/// of digest, size, name; lines may be wrapped anywhere).
pub fn dsc_checksums(text: &str) -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    let Ok(p) = parse_paragraph(text) else {
        return out;
    };
    let Some(v) = p.get("Checksums-Sha256") else {
        return out;
    };
    let tokens: Vec<&str> = v.split_whitespace().collect();
    if !tokens.len().is_multiple_of(3) {
        return out;
    }
    for t in tokens.chunks(3) {
        if let Ok(size) = t[1].parse() {
            out.insert(t[2].to_string(), (t[0].to_lowercase(), size));
        }
    }
    out
}

/// The pool files of `p` and what each must be.
fn expectations(p: &Package) -> Vec<(String, Option<u64>, Option<String>)> {
    let dir = p.pool_dir(&p.distribution);
    match &p.payload {
        Payload::Binary {
            filename,
            sha256,
            size,
            ..
        } => vec![(
            format!("{dir}/{filename}"),
            Some(*size),
            Some(sha256.to_lowercase()),
        )],
        Payload::Source { files } => {
            let sums = dsc_checksums(&p.control);
            files
                .iter()
                .map(|f| {
                    let known = sums.get(f);
                    (
                        format!("{dir}/{f}"),
                        known.map(|(_, s)| *s),
                        known.map(|(h, _)| h.clone()),
                    )
                })
                .collect()
        }
    }
}

/// Checks the bucket against the state. `progress(done, total)`.
pub fn verify(
    cat: &Catalog,
    req: &VerifyRequest,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let config = cat.config()?;
    for d in &req.dists {
        if !config.has_dist(d) {
            bail!(
                "unknown distribution {d:?} (configured: {}); nothing was verified",
                config.dists.join(", ")
            );
        }
    }
    for e in check_config(&config) {
        report.problems.push(format!("configuration: {e}"));
    }
    let filter = Filter {
        dists: req.dists.clone(),
        ..Filter::default()
    };
    // Every item, hidden ones too: their files are part of the repository.
    let mut files: BTreeMap<String, Expected> = BTreeMap::new();
    for item in cat.find_items(&filter)? {
        report.items += 1;
        let p = match Package::from_attrs(&item.attrs) {
            Ok(p) => p,
            Err(e) => {
                report.problems.push(format!(
                    "item {}: not a readable package ({}): {e}",
                    item.name,
                    describe(&item.attrs)
                ));
                continue;
            }
        };
        let who = format!(
            "{} {:?} {}/{}/{}",
            p.name, p.version, p.distribution, p.component, p.architecture
        );
        let invalid = check_package(&p);
        if !invalid.is_empty() {
            report.problems.push(format!(
                "item {}: {who}: cannot be published: {}",
                item.name,
                invalid.join("; ")
            ));
            continue;
        }
        for (key, size, sha256) in expectations(&p) {
            let e = files.entry(key.clone()).or_insert_with(|| Expected {
                size,
                sha256: sha256.clone(),
                owners: Vec::new(),
            });
            let conflict = (size.is_some() && e.size.is_some() && size != e.size)
                || (sha256.is_some() && e.sha256.is_some() && sha256 != e.sha256);
            if conflict {
                report.problems.push(format!(
                    "conflict: {key}: {who} records a different size or sha256 than {}",
                    e.owners.join(", ")
                ));
            }
            e.size = e.size.or(size);
            e.sha256 = e.sha256.clone().or(sha256);
            e.owners.push(who.clone());
        }
    }
    let dists: Vec<String> = if req.dists.is_empty() {
        config.dists.clone()
    } else {
        req.dists.clone()
    };
    let index_count = dists.len() * config.comps.len() * (config.binary_archs().len() + 1);
    let total = (files.len() + index_count) as u64;
    let mut done = 0u64;
    for (key, e) in &files {
        check_file(cat, key, e, req.fast, &mut report.problems)?;
        report.files += 1;
        done += 1;
        progress(done, total);
    }
    for dist in &dists {
        for comp in &config.comps {
            let mut dirs: Vec<(String, &str, Vec<String>)> = config
                .binary_archs()
                .into_iter()
                .map(|a| {
                    (
                        format!("binary-{a}"),
                        "Packages",
                        vec![a, "all".to_string()],
                    )
                })
                .collect();
            dirs.push(("source".into(), "Sources", vec!["source".into()]));
            for (sub, name, archs) in dirs {
                let dir = format!("dists/{dist}/{comp}/{sub}");
                check_index(cat, dist, comp, &archs, &dir, name, &mut report.problems)?;
                report.indices += 1;
                done += 1;
                progress(done, total);
            }
        }
        check_release(cat, dist, &req.keys, &mut report.problems)?;
    }
    Ok(report)
}

/// The files a Release lists in its SHA256 section must have the listed
/// size and digest: a mismatch means a client would see a hash sum
/// mismatch (an interrupted or concurrent publish, or a damaged file).
fn check_release(
    cat: &Catalog,
    dist: &str,
    keys: &[SignedPublicKey],
    problems: &mut Vec<String>,
) -> Result<()> {
    let blobs = cat.blobs();
    let key = format!("dists/{dist}/Release");
    let Some(raw) = blobs.get(&key)? else {
        problems.push(format!("release: {key}: not published (run publish)"));
        return Ok(());
    };
    let text = String::from_utf8_lossy(&raw);
    check_signatures(cat, dist, &text, keys, problems)?;
    let listed = match parse_paragraph(&text) {
        Ok(p) => p.get("SHA256").unwrap_or_default().to_string(),
        Err(e) => {
            problems.push(format!("release: {key}: unreadable: {e}"));
            return Ok(());
        }
    };
    for line in listed.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [digest, size, path] = parts[..] else {
            continue;
        };
        let file = format!("dists/{dist}/{path}");
        let Some(bytes) = blobs.get(&file)? else {
            problems.push(format!("release: {key} lists {path}, which is missing"));
            continue;
        };
        let got = crate::digest::sha256_hex(&bytes);
        if size.parse::<u64>().ok() != Some(bytes.len() as u64) || got != digest.to_lowercase() {
            problems.push(format!(
                "release: {key} lists {path} with {size} bytes and sha256 {digest}; the file has {} bytes and sha256 {got}",
                bytes.len()
            ));
        }
    }
    Ok(())
}

/// The files a Release text lists (its SHA256 section), by path.
fn listed_files(release: &str) -> BTreeMap<String, String> {
    let Ok(p) = parse_paragraph(release) else {
        return BTreeMap::new();
    };
    p.get("SHA256")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            match parts[..] {
                [digest, size, path] => Some((path.to_string(), format!("{digest} {size}"))),
                _ => None,
            }
        })
        .collect()
}

/// Whether every signature verifies with one of `keys` (primary or
/// subkey) over `data`.
fn verifies(sigs: &[Signature], keys: &[SignedPublicKey], data: &[u8]) -> bool {
    !sigs.is_empty()
        && sigs.iter().all(|s| {
            keys.iter().any(|k| {
                s.verify(&k.primary_key, data).is_ok()
                    || k.public_subkeys
                        .iter()
                        .any(|sk| s.verify(&sk.key, data).is_ok())
            })
        })
}

/// InRelease and Release.gpg against Release, as apt reads them: apt
/// prefers InRelease, whose text must be Release's; Release.gpg must be a
/// signature of Release's bytes; with keys configured, both must verify.
fn check_signatures(
    cat: &Catalog,
    dist: &str,
    release: &str,
    keys: &[SignedPublicKey],
    problems: &mut Vec<String>,
) -> Result<()> {
    let blobs = cat.blobs();
    let base = format!("dists/{dist}");
    let inrelease = blobs.get(&format!("{base}/InRelease"))?;
    let detached = blobs.get(&format!("{base}/Release.gpg"))?;
    if let Some(raw) = &inrelease {
        let text = String::from_utf8_lossy(raw);
        match CleartextSignedMessage::from_string(&text) {
            Err(e) => problems.push(format!(
                "signature: {base}/InRelease is not a clear-signed message: {e}"
            )),
            Ok((msg, _)) => {
                let body = msg.signed_text();
                // The clear-signing convention: CRLF line ends, no final one.
                let want = release.trim_end_matches('\n').replace('\n', "\r\n");
                if body != want {
                    let (ours, theirs) = (
                        listed_files(release),
                        listed_files(&body.replace("\r\n", "\n")),
                    );
                    if ours != theirs {
                        let only = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
                            a.iter()
                                .filter(|(k, v)| b.get(*k) != Some(v))
                                .map(|(k, _)| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        problems.push(format!(
                            "signature: {base}/InRelease lists other files than Release (differing in InRelease: [{}]; in Release: [{}])",
                            only(&theirs, &ours),
                            only(&ours, &theirs)
                        ));
                    } else {
                        problems.push(format!(
                            "signature: {base}/InRelease signs a different text than Release"
                        ));
                    }
                } else if !keys.is_empty() && !verifies(msg.signatures(), keys, body.as_bytes()) {
                    problems.push(format!(
                        "signature: {base}/InRelease does not verify with the configured signing key"
                    ));
                }
            }
        }
    }
    if let Some(raw) = &detached {
        let sigs: Result<Vec<Signature>, _> = DetachedSignature::from_armor_many(&raw[..])
            .and_then(|(iter, _)| iter.map(|d| d.map(|d| d.signature)).collect());
        match sigs {
            Ok(sigs) if !sigs.is_empty() => {
                if !keys.is_empty() && !verifies(&sigs, keys, release.as_bytes()) {
                    problems.push(format!(
                        "signature: {base}/Release.gpg does not verify Release with the configured signing key"
                    ));
                }
            }
            _ => problems.push(format!(
                "signature: {base}/Release.gpg is not an armored OpenPGP signature"
            )),
        }
    }
    if !keys.is_empty() && (inrelease.is_none() || detached.is_none()) {
        problems.push(format!(
            "signature: {base} lacks InRelease or Release.gpg while a signing key is configured"
        ));
    }
    Ok(())
}

fn check_file(
    cat: &Catalog,
    key: &str,
    e: &Expected,
    fast: bool,
    problems: &mut Vec<String>,
) -> Result<()> {
    let blobs = cat.blobs();
    let owners = e.owners.join(", ");
    let Some(size) = blobs
        .head(key)
        .with_context(|| format!("checking {key} in {}", blobs.describe()))?
    else {
        problems.push(format!("missing: {key} ({owners})"));
        return Ok(());
    };
    if let Some(want) = e.size {
        if size != want {
            problems.push(format!(
                "size: {key} is {size} bytes, the state says {want} ({owners})"
            ));
            return Ok(());
        }
    }
    if fast {
        return Ok(());
    }
    if let Some(want) = &e.sha256 {
        let got = object_sha256(blobs, key).with_context(|| format!("reading {key}"))?;
        if &got != want {
            problems.push(format!(
                "sha256: {key} has sha256 {got}, the state says {want} ({owners})"
            ));
        }
    }
    Ok(())
}

/// The index a publish would write now for `dist`/`comp` and `archs`:
/// the same query and the same index builder `publish` uses.
pub fn expected_index(cat: &Catalog, dist: &str, comp: &str, archs: &[String]) -> Result<String> {
    let packages = cat.find(&Filter {
        dists: vec![dist.to_string()],
        comps: vec![comp.to_string()],
        archs: archs.to_vec(),
        ..Filter::default()
    })?;
    Ok(String::from_utf8(index_text(&packages, dist))?)
}

/// The `Package` field of each stanza, for a readable difference.
fn stanza_names(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Package: "))
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Where two index texts first differ, in words.
fn first_difference(published: &str, expected: &str) -> String {
    let (a, b) = (stanza_names(published), stanza_names(expected));
    let pa: Vec<&str> = published.split("\n\n").collect();
    let pb: Vec<&str> = expected.split("\n\n").collect();
    let at = pa.iter().zip(&pb).position(|(x, y)| x != y);
    let detail = match at {
        Some(i) => format!(
            "first difference in stanza {} ({} published, {} expected)",
            i + 1,
            a.get(i).map_or("none", String::as_str),
            b.get(i).map_or("none", String::as_str)
        ),
        None => "one is a prefix of the other".to_string(),
    };
    format!(
        "{} stanzas published, {} expected; {detail}",
        a.len(),
        b.len()
    )
}

fn check_index(
    cat: &Catalog,
    dist: &str,
    comp: &str,
    archs: &[String],
    dir: &str,
    name: &str,
    problems: &mut Vec<String>,
) -> Result<()> {
    let blobs = cat.blobs();
    let expected = expected_index(cat, dist, comp, archs)?;
    let plain_key = format!("{dir}/{name}");
    let gz_key = format!("{plain_key}.gz");
    let plain = blobs.get(&plain_key)?;
    let gz = blobs.get(&gz_key)?;
    if plain.is_none() && gz.is_none() {
        problems.push(format!("index: {plain_key}: not published (run publish)"));
        return Ok(());
    }
    if let Some(bytes) = plain {
        compare_index(&plain_key, &bytes, &expected, problems);
    }
    if let Some(bytes) = gz {
        let mut text = Vec::new();
        match flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut text) {
            Ok(_) => compare_index(&gz_key, &text, &expected, problems),
            Err(e) => problems.push(format!("index: {gz_key}: not valid gzip: {e}")),
        }
    }
    Ok(())
}

fn compare_index(key: &str, bytes: &[u8], expected: &str, problems: &mut Vec<String>) {
    if bytes == expected.as_bytes() {
        return;
    }
    let published = String::from_utf8_lossy(bytes);
    problems.push(format!(
        "index: {key}: differs from what publish would write now ({})",
        first_difference(&published, expected)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsc_checksums_read_wrapped_triples() {
        let text =
            "Source: a\nVersion: 1\nChecksums-Sha256: AB 53764\n a_1.orig.tar.gz\n cd 10 a_1.dsc\n";
        let sums = dsc_checksums(text);
        assert_eq!(sums["a_1.orig.tar.gz"], ("ab".to_string(), 53764));
        assert_eq!(sums["a_1.dsc"], ("cd".to_string(), 10));
        assert!(dsc_checksums("Source: a\n").is_empty());
    }

    #[test]
    fn differences_name_the_stanza() {
        let a = "Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n\n";
        let b = "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n\n";
        assert_eq!(
            first_difference(a, b),
            "2 stanzas published, 2 expected; first difference in stanza 2 (b published, b expected)"
        );
    }
}
