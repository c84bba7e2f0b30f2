//! Publish on the embedded backend (SQLite and a directory bucket): index
//! contents, Release contents, by-hash copies, write order and failures.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use proptest::prelude::*;

use super::index::{Algo, Digests};
use super::sign::{KeyFileSigner, Secret};
use super::*;
use crate::catalog::configure::{setup, SetupRequest};
use crate::embedded::bucket::DirBucket;
use crate::model::{Package, Payload};
use crate::store::{BucketSetup, Change, ObjectInfo, StoreError, StoreResult};

struct Repo {
    dir: tempfile::TempDir,
    cat: Catalog,
}

fn repo_with(dists: &[&str], comps: &[&str], archs: &[&str], label: Option<&str>) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::new(crate::embedded::open(dir.path(), None).unwrap());
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    setup(
        &cat,
        &SetupRequest {
            dists: v(dists),
            comps: v(comps),
            archs: v(archs),
            origin: Some("Acme".into()),
            label: label.map(String::from),
            ..SetupRequest::default()
        },
    )
    .unwrap();
    Repo { dir, cat }
}

fn repo() -> Repo {
    repo_with(
        &["xenial"],
        &["main", "extra"],
        &["amd64", "arm64"],
        Some("Acme Tools"),
    )
}

impl Repo {
    fn put(&self, pkgs: &[Package]) {
        let changes: Vec<Change> = pkgs
            .iter()
            .map(|p| Change::Put {
                item: p.key(),
                attrs: p.to_attrs().unwrap(),
                remove: vec![],
            })
            .collect();
        self.cat.meta().apply(&changes).unwrap();
    }

    fn publish(&self, dists: &[&str]) -> Result<Vec<Published>> {
        self.publish_signed(dists, None)
    }

    fn publish_signed(
        &self,
        dists: &[&str],
        signer: Option<&dyn Signer>,
    ) -> Result<Vec<Published>> {
        self.publish_with(&Request {
            dists: dists.iter().map(|d| d.to_string()).collect(),
            signer,
            now: Utc.with_ymd_and_hms(2026, 11, 21, 22, 43, 0).unwrap(),
            workers: 4,
            retention: retention::default_window(),
            refresh: false,
            force: false,
        })
    }

    fn publish_with(&self, req: &Request<'_>) -> Result<Vec<Published>> {
        publish(&self.cat, req, &|_| {})
    }

    /// Every by-hash key under dists/.
    fn by_hash(&self) -> std::collections::BTreeSet<String> {
        self.tree()
            .into_keys()
            .filter(|k| k.contains("/by-hash/"))
            .collect()
    }

    /// The by-hash keys the current Release of `dist` names.
    fn named(&self, dist: &str) -> std::collections::BTreeSet<String> {
        retention::named_by(&self.text(&format!("dists/{dist}/Release")))
            .into_iter()
            .map(|p| format!("dists/{dist}/{p}"))
            .collect()
    }

    fn bucket(&self) -> std::path::PathBuf {
        self.dir.path().join("bucket")
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.cat.blobs().get(key).unwrap()
    }

    fn text(&self, key: &str) -> String {
        String::from_utf8(self.get(key).unwrap_or_else(|| panic!("{key} missing"))).unwrap()
    }

    /// Every file under dists/, with its bytes.
    fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        self.cat
            .blobs()
            .list("dists/")
            .unwrap()
            .into_iter()
            .map(|o| (o.key.clone(), self.get(&o.key).unwrap()))
            .collect()
    }
}

fn bin(name: &str, version: &str, comp: &str, arch: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        distribution: "xenial".into(),
        component: comp.into(),
        architecture: arch.into(),
        payload: Payload::Binary {
            filename: format!("{name}_{version}_{arch}.deb"),
            md5: "0".repeat(32),
            sha1: "1".repeat(40),
            sha256: "2".repeat(64),
            size: 1234,
        },
        control: format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: T <t@example.com>\nDescription: test\n"
        ),
    }
}

fn src(name: &str, version: &str, comp: &str) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        distribution: "xenial".into(),
        component: comp.into(),
        architecture: "source".into(),
        payload: Payload::Source {
            files: vec![format!("{name}_{version}.dsc")],
        },
        control: format!(
            "Format: 3.0 (native)\nSource: {name}\nVersion: {version}\nFiles:\n {} 1 {name}_{version}.dsc\n",
            "3".repeat(32)
        ),
    }
}

/// (Package, Version, Architecture) of each stanza, in order.
fn stanzas(text: &str) -> Vec<(String, String, String)> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let f = |k: &str| {
                s.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                    .unwrap_or("")
                    .to_string()
            };
            (f("Package"), f("Version"), f("Architecture"))
        })
        .collect()
}

/// A Release's listed files: (algo name, digest, size, path).
type Listing = Vec<(String, String, u64, String)>;

/// The Release's fields and its listed files.
fn parse_release(text: &str) -> (BTreeMap<String, String>, Listing) {
    let mut fields = BTreeMap::new();
    let mut files = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "{line}");
            files.push((
                section.clone(),
                parts[0].to_string(),
                parts[1].parse().unwrap(),
                parts[2].to_string(),
            ));
        } else {
            let (k, v) = line.split_once(':').unwrap();
            section = k.to_string();
            if !v.trim().is_empty() {
                fields.insert(k.to_string(), v.trim().to_string());
            }
        }
    }
    (fields, files)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn release_has_its_fields_and_lists_every_index_with_its_digests() {
    let r = repo();
    r.put(&[
        bin("hello", "1.0", "main", "amd64"),
        src("hello", "1.0", "main"),
    ]);
    r.publish(&[]).unwrap();
    let (fields, files) = parse_release(&r.text("dists/xenial/Release"));
    assert_eq!(fields["Origin"], "Acme");
    assert_eq!(fields["Label"], "Acme Tools");
    assert_eq!(fields["Suite"], "xenial");
    assert_eq!(fields["Codename"], "xenial");
    assert_eq!(fields["Date"], "Sat, 21 Nov 2026 22:43:00 UTC");
    assert_eq!(fields["Architectures"], "amd64 arm64");
    let config = r.cat.config().unwrap();
    assert_eq!(fields["Components"], config.comps.join(" "));
    assert_eq!(fields["Acquire-By-Hash"], "yes");
    let mut expected = Vec::new();
    for comp in &config.comps {
        for sub in ["binary-amd64", "binary-arm64"] {
            for f in ["Packages", "Packages.gz", "Release"] {
                expected.push(format!("{comp}/{sub}/{f}"));
            }
        }
        for f in ["Sources", "Sources.gz", "Release"] {
            expected.push(format!("{comp}/source/{f}"));
        }
    }
    expected.sort();
    for algo in Algo::ALL {
        let listed: Vec<&(String, String, u64, String)> =
            files.iter().filter(|f| f.0 == algo.name()).collect();
        let paths: Vec<String> = listed.iter().map(|f| f.3.clone()).collect();
        assert_eq!(paths, expected, "{}", algo.name());
        for (_, digest, size, path) in listed {
            let bytes = r.get(&format!("dists/xenial/{path}")).unwrap();
            let d = Digests::of(&bytes);
            assert_eq!(*size, bytes.len() as u64, "{path}");
            assert_eq!(digest, d.get(algo), "{path} {}", algo.name());
        }
    }
    // Leaf Releases describe their own directory.
    let leaf = r.text("dists/xenial/extra/binary-arm64/Release");
    assert!(leaf.contains("Archive: xenial\n") && leaf.contains("Component: extra\n"));
    assert!(leaf.contains("Architecture: arm64\n") && leaf.contains("Label: Acme Tools\n"));
    assert!(r
        .text("dists/xenial/main/source/Release")
        .contains("Architecture: source\n"));
}

#[test]
fn label_defaults_independently_of_origin() {
    let r = repo_with(&["xenial"], &["main"], &["amd64"], None);
    r.publish(&[]).unwrap();
    let (fields, _) = parse_release(&r.text("dists/xenial/Release"));
    assert_eq!(fields["Origin"], "Acme");
    assert_eq!(fields["Label"], "repoman");
}

#[test]
fn architecture_all_is_in_every_binary_index_and_sources_apart() {
    let r = repo();
    r.put(&[
        bin("tool", "1", "main", "amd64"),
        bin("tool", "1", "main", "arm64"),
        bin("docs", "2", "main", "all"),
        bin("other", "3", "extra", "all"),
        src("tool", "1", "main"),
    ]);
    r.publish(&["xenial"]).unwrap();
    let names = |key: &str| -> Vec<(String, String)> {
        stanzas(&r.text(key))
            .into_iter()
            .map(|(n, _, a)| (n, a))
            .collect()
    };
    let pair = |n: &str, a: &str| (n.to_string(), a.to_string());
    assert_eq!(
        names("dists/xenial/main/binary-amd64/Packages"),
        [pair("docs", "all"), pair("tool", "amd64")]
    );
    assert_eq!(
        names("dists/xenial/main/binary-arm64/Packages"),
        [pair("docs", "all"), pair("tool", "arm64")]
    );
    assert_eq!(
        names("dists/xenial/extra/binary-amd64/Packages"),
        [pair("other", "all")]
    );
    let sources = r.text("dists/xenial/main/source/Sources");
    assert!(sources.starts_with("Directory: pool/xenial/t/tool\nPackage: tool\n"));
    assert_eq!(stanzas(&sources).len(), 1);
    assert_eq!(r.text("dists/xenial/extra/source/Sources"), "");
    let packages = r.text("dists/xenial/main/binary-amd64/Packages");
    assert!(packages.contains("Filename: pool/xenial/t/tool/tool_1_amd64.deb\n"));
    // The gzipped index holds the same bytes.
    for key in [
        "dists/xenial/main/binary-amd64/Packages",
        "dists/xenial/main/source/Sources",
        "dists/xenial/extra/source/Sources",
    ] {
        assert_eq!(
            gunzip(&r.get(&format!("{key}.gz")).unwrap()),
            r.get(key).unwrap()
        );
    }
}

#[test]
fn stanzas_are_ordered_by_name_then_debian_version() {
    let r = repo();
    r.put(&[
        bin("bb", "1.10", "main", "amd64"),
        bin("aa", "1:0.1", "main", "amd64"),
        bin("aa", "1.10", "main", "amd64"),
        bin("aa", "1.9", "main", "amd64"),
        bin("aa", "1.9~rc1", "main", "amd64"),
    ]);
    r.publish(&[]).unwrap();
    let order: Vec<(String, String)> = stanzas(&r.text("dists/xenial/main/binary-amd64/Packages"))
        .into_iter()
        .map(|(n, v, _)| (n, v))
        .collect();
    let want: Vec<(String, String)> = [
        ("aa", "1.9~rc1"),
        ("aa", "1.9"),
        ("aa", "1.10"),
        ("aa", "1:0.1"),
        ("bb", "1.10"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    assert_eq!(order, want);
}

#[test]
fn by_hash_files_equal_their_index() {
    let r = repo();
    r.put(&[
        bin("hello", "1.0", "main", "amd64"),
        src("hello", "1.0", "main"),
    ]);
    r.publish(&[]).unwrap();
    let (_, files) = parse_release(&r.text("dists/xenial/Release"));
    let mut checked = 0;
    for (algo, digest, _, path) in &files {
        if path.ends_with("/Release") {
            continue;
        }
        let dir = &path[..path.rfind('/').unwrap()];
        let by_hash = r
            .get(&format!("dists/xenial/{dir}/by-hash/{algo}/{digest}"))
            .unwrap_or_else(|| panic!("no by-hash copy of {path} for {algo}"));
        assert_eq!(by_hash, r.get(&format!("dists/xenial/{path}")).unwrap());
        checked += 1;
    }
    // 2 comps x (2 binary archs + source) x 2 files x 4 algorithms
    assert_eq!(checked, 48);
}

#[test]
fn hidden_distributions_components_and_architectures_are_not_published() {
    let r = repo();
    let mut hidden_dist = bin("ghost", "1", "main", "amd64");
    hidden_dist.distribution = "trusty".into();
    r.put(&[
        bin("seen", "1", "main", "amd64"),
        bin("hidden-comp", "1", "contrib", "amd64"),
        bin("hidden-arch", "1", "main", "i386"),
        hidden_dist,
    ]);
    r.publish(&[]).unwrap();
    let all: String = r
        .tree()
        .into_iter()
        .filter(|(k, _)| k.ends_with("/Packages"))
        .map(|(_, v)| String::from_utf8(v).unwrap())
        .collect();
    assert!(all.contains("Package: seen\n"));
    for name in ["ghost", "hidden-comp", "hidden-arch"] {
        assert!(!all.contains(&format!("Package: {name}\n")), "{name}");
    }
    assert!(r.cat.blobs().list("dists/trusty/").unwrap().is_empty());
    assert!(r
        .cat
        .blobs()
        .list("dists/xenial/contrib/")
        .unwrap()
        .is_empty());
}

#[test]
fn unknown_distribution_is_refused_before_anything_is_written() {
    let r = repo();
    let e = r.publish(&["xenial", "bionic"]).unwrap_err().to_string();
    assert!(e.contains("unknown distribution \"bionic\""), "{e}");
    assert!(r.tree().is_empty());
}

#[test]
fn announces_each_published_distribution() {
    let r = repo_with(&["a", "b"], &["main"], &["amd64"], None);
    let out = r.publish(&[]).unwrap();
    assert_eq!(
        out.iter().map(|p| p.dist.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let log = std::fs::read_to_string(r.dir.path().join("announcements.jsonl")).unwrap();
    let msgs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|m: &serde_json::Value| m["action"] == "publish")
        .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["type"], "dists");
    assert_eq!(msgs[0]["name"], "a");
    assert_eq!(msgs[1]["name"], "b");
    assert!(msgs[0]["caller"].is_string());
}

#[test]
fn republishing_keeps_old_by_hash_files_and_rewrites_only_what_changed() {
    let r = repo_with(&["xenial"], &["main"], &["amd64"], None);
    r.put(&[bin("one", "1", "main", "amd64")]);
    let first = r.publish(&[]).unwrap()[0].files;
    let old_release = r.text("dists/xenial/Release");
    // Forced, with the same indices: every name but the by-hash ones,
    // which are there already, is written again.
    let again = r
        .publish_with(&Request {
            force: true,
            ..at(0)
        })
        .unwrap()[0]
        .files;
    assert_eq!(again, first);
    let same = Request {
        now: at(0).now + chrono::Duration::seconds(1),
        ..at(0)
    };
    let kept = r.publish_with(&same).unwrap();
    assert!(!kept[0].changed);
    assert_eq!(kept[0].files, 0);
    r.put(&[bin("two", "1", "main", "amd64")]);
    r.publish(&[]).unwrap();
    // Both the old and the new Packages are reachable by hash.
    let (_, old_files) = parse_release(&old_release);
    for (algo, digest, _, path) in old_files.iter().filter(|f| f.3.ends_with("Packages")) {
        let dir = &path[..path.rfind('/').unwrap()];
        let old = r
            .get(&format!("dists/xenial/{dir}/by-hash/{algo}/{digest}"))
            .unwrap();
        assert!(String::from_utf8(old).unwrap().contains("Package: one\n"));
        assert!(!r.text(&format!("dists/xenial/{path}")).is_empty());
    }
    assert!(r
        .text("dists/xenial/main/binary-amd64/Packages")
        .contains("Package: two\n"));
}

fn at(hours: i64) -> Request<'static> {
    Request {
        dists: vec![],
        signer: None,
        now: Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap() + chrono::Duration::hours(hours),
        workers: 4,
        retention: retention::default_window(),
        refresh: false,
        force: false,
    }
}

#[test]
fn a_zero_retention_keeps_only_what_the_current_release_names() {
    let r = repo_with(&["xenial"], &["main"], &["amd64"], None);
    r.put(&[bin("one", "1", "main", "amd64")]);
    r.publish_with(&at(0)).unwrap();
    let first = r.by_hash();
    r.put(&[bin("two", "1", "main", "amd64")]);
    let zero = Request {
        retention: chrono::Duration::zero(),
        ..at(1)
    };
    let p = r.publish_with(&zero).unwrap();
    assert_eq!(r.by_hash(), r.named("xenial"));
    // Packages and Packages.gz changed, four names each; Sources did not.
    assert_eq!(p[0].pruned, 8);
    assert_eq!(first.difference(&r.by_hash()).count(), 8);
    assert_eq!(r.text(&format!("dists/xenial/{}", retention::RECORD)), "");
}

#[test]
fn by_hash_files_of_a_replaced_release_stay_for_the_window() {
    let r = repo_with(&["xenial"], &["main"], &["amd64"], None);
    r.put(&[bin("one", "1", "main", "amd64")]);
    r.publish_with(&at(0)).unwrap();
    let first = r.named("xenial");
    r.put(&[bin("two", "1", "main", "amd64")]);
    // A client that read the first Release still finds every index.
    r.publish_with(&at(1)).unwrap();
    let second = r.named("xenial");
    assert!(r.by_hash().is_superset(&first));
    assert!(r.by_hash().is_superset(&second));
    let record = r.text(&format!("dists/xenial/{}", retention::RECORD));
    assert_eq!(record.lines().count(), 8, "{record}");
    // Within 36 hours of being replaced they stay; after, they go (at the
    // next publish that writes: one with nothing to write prunes nothing).
    assert_eq!(r.publish_with(&at(37)).unwrap()[0].pruned, 0);
    let forced = |h| Request {
        force: true,
        ..at(h)
    };
    assert_eq!(r.publish_with(&forced(36)).unwrap()[0].pruned, 0);
    assert_eq!(r.publish_with(&forced(37)).unwrap()[0].pruned, 8);
    assert_eq!(r.by_hash(), second);
    // A publish that sees by-hash files nobody recorded (written by an
    // older version, or by a publish in progress) keeps them a window.
    let stray = "dists/xenial/main/binary-amd64/by-hash/SHA512/00";
    r.cat
        .blobs()
        .put_bytes(stray, b"x", PutMode::Create)
        .unwrap();
    let zero = |h| Request {
        retention: chrono::Duration::zero(),
        ..forced(h)
    };
    assert_eq!(r.publish_with(&zero(38)).unwrap()[0].pruned, 0);
    assert!(r.get(stray).is_some());
    assert_eq!(r.publish_with(&zero(39)).unwrap()[0].pruned, 1);
    assert_eq!(r.by_hash(), second);
}

#[test]
fn a_broken_retention_record_stops_the_publish_before_release() {
    let r = repo_with(&["xenial"], &["main"], &["amd64"], None);
    r.publish_with(&at(0)).unwrap();
    let release = r.text("dists/xenial/Release");
    r.cat
        .blobs()
        .put_bytes(
            &format!("dists/xenial/{}", retention::RECORD),
            b"soon ../../pool\n",
            PutMode::Overwrite,
        )
        .unwrap();
    let forced = Request {
        force: true,
        ..at(1)
    };
    let e = r.publish_with(&forced).unwrap_err().to_string();
    assert!(e.contains("by-hash-superseded line 1"), "{e}");
    assert_eq!(r.text("dists/xenial/Release"), release);
}

/// The directory bucket, recording every write and failing the n-th one
/// when asked (a fault at a chosen point of a publish).
struct Recording {
    inner: DirBucket,
    log: Arc<Mutex<Vec<String>>>,
    fail_at: Option<usize>,
}

impl Recording {
    fn record(&self, key: &str) -> StoreResult<()> {
        let mut log = self.log.lock().unwrap();
        if self.fail_at == Some(log.len()) {
            return Err(StoreError::Backend(format!(
                "injected failure writing {key}"
            )));
        }
        log.push(key.to_string());
        Ok(())
    }
}

impl BlobStore for Recording {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn apt_url(&self) -> String {
        self.inner.apt_url()
    }
    fn setup(&self, o: &BucketSetup) -> StoreResult<()> {
        self.inner.setup(o)
    }
    fn checkup(&self) -> StoreResult<Vec<String>> {
        self.inner.checkup()
    }
    fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()> {
        self.record(key)?;
        self.inner.put_file(key, path, mode)
    }
    fn put_bytes(&self, key: &str, bytes: &[u8], mode: PutMode) -> StoreResult<()> {
        self.record(key)?;
        self.inner.put_bytes(key, bytes, mode)
    }
    fn read(&self, key: &str, out: &mut dyn std::io::Write) -> StoreResult<()> {
        self.inner.read(key, out)
    }
    fn head(&self, key: &str) -> StoreResult<Option<u64>> {
        self.inner.head(key)
    }
    fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
        self.record(to)?;
        self.inner.copy(from, to, mode)
    }
    fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.record(&format!("delete {key}"))?;
        self.inner.delete(key)
    }
}

fn recording(r: &mut Repo, fail_at: Option<usize>) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    r.cat.replace_blobs(Box::new(Recording {
        inner: DirBucket::new(r.bucket()),
        log: log.clone(),
        fail_at,
    }));
    log
}

fn test_signer() -> KeyFileSigner {
    let key = super::sign::tests::generate(Some("pw"), true);
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(
        &mut f,
        key.to_armored_string(pgp::composed::ArmorOptions::default())
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    KeyFileSigner::open(f.path(), &[Secret::new("pw")], &[]).unwrap()
}

#[test]
fn data_before_pointers_and_inrelease_last() {
    let mut r = repo();
    r.put(&[
        bin("hello", "1.0", "main", "amd64"),
        src("hello", "1.0", "main"),
    ]);
    let log = recording(&mut r, None);
    let signer = test_signer();
    r.publish_signed(&[], Some(&signer)).unwrap();
    // The retention record is bookkeeping no client reads.
    let log: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|k| !k.ends_with(retention::RECORD))
        .cloned()
        .collect();
    // Leaf Releases go in one burst with the plain index names (data a
    // client reads only through the top Release), so in any order with
    // them.
    let rank = |k: &str| {
        if k.ends_with("/InRelease") {
            3
        } else if k.ends_with("/Release.gpg") {
            2
        } else if k == "dists/xenial/Release" {
            1
        } else {
            0
        }
    };
    let ranks: Vec<u8> = log.iter().map(|k| rank(k)).collect();
    let mut sorted = ranks.clone();
    sorted.sort();
    assert_eq!(ranks, sorted, "{log:#?}");
    assert_eq!(log.last().unwrap(), "dists/xenial/InRelease");
    // Within each index, its by-hash copies come before its own name.
    for (i, k) in log.iter().enumerate() {
        if k.ends_with("/Packages") || k.ends_with(".gz") || k.ends_with("/Sources") {
            let dir = &k[..k.rfind('/').unwrap()];
            let copies = log[..i]
                .iter()
                .filter(|e| e.starts_with(&format!("{dir}/by-hash/")))
                .count();
            assert!(copies >= 4, "{k} written before its by-hash copies");
        }
    }
}

#[test]
fn a_failure_part_way_leaves_the_previous_release_in_effect() {
    let mut r = repo();
    r.put(&[bin("old", "1", "main", "amd64")]);
    r.publish(&[]).unwrap();
    let before = r.tree();
    r.put(&[bin("new", "1", "main", "amd64")]);
    // Fail the 7th write: indices are still being written.
    recording(&mut r, Some(6));
    let e = r.publish(&[]).unwrap_err().to_string();
    // Files already in place (unchanged indices by hash) count as written.
    let counts = e
        .strip_prefix("publish of xenial failed after writing ")
        .and_then(|rest| rest.split_once(" files (Release not updated): injected failure"))
        .map(|(counts, _)| counts.to_string())
        .unwrap_or_else(|| panic!("unexpected error: {e}"));
    let (done, total) = counts.split_once(" of ").unwrap();
    let (done, total): (usize, usize) = (done.parse().unwrap(), total.parse().unwrap());
    assert!(done >= 6 && done < total, "{e}");
    let after = r.tree();
    assert_eq!(
        after["dists/xenial/Release"],
        before["dists/xenial/Release"]
    );
    // Whatever the old Release lists is still there, byte for byte, by hash.
    let (_, files) =
        parse_release(&String::from_utf8(before["dists/xenial/Release"].clone()).unwrap());
    for (algo, digest, _, path) in files.iter().filter(|f| !f.3.ends_with("/Release")) {
        let dir = &path[..path.rfind('/').unwrap()];
        let key = format!("dists/xenial/{dir}/by-hash/{algo}/{digest}");
        assert_eq!(
            after[&key],
            before[&format!("dists/xenial/{path}")],
            "{key}"
        );
    }
}

#[test]
fn signing_failure_writes_nothing() {
    struct Refuses;
    impl Signer for Refuses {
        fn describe(&self) -> String {
            "a key that cannot sign".into()
        }
        fn sign(&self, _: &str) -> Result<Signatures, super::sign::SignError> {
            Err(super::sign::SignError::Failed {
                signer: "K".into(),
                reason: "Bad passphrase".into(),
            })
        }
    }
    let r = repo();
    r.put(&[bin("hello", "1.0", "main", "amd64")]);
    let e = r.publish_signed(&[], Some(&Refuses)).unwrap_err();
    assert!(format!("{e:#}").contains("Bad passphrase"));
    assert!(r.tree().is_empty());
}

#[test]
fn unsigned_publish_removes_stale_signatures() {
    let r = repo();
    let signer = test_signer();
    r.publish_signed(&[], Some(&signer)).unwrap();
    assert!(r.get("dists/xenial/InRelease").is_some());
    assert!(r.get("dists/xenial/Release.gpg").is_some());
    r.publish(&[]).unwrap();
    assert!(r.get("dists/xenial/InRelease").is_none());
    assert!(r.get("dists/xenial/Release.gpg").is_none());
    assert!(r.get("dists/xenial/Release").is_some());
}

#[test]
fn sources_list_lines_follow_signing_and_sources() {
    let p = Published {
        dist: "xenial".into(),
        comps: vec!["main".into(), "extra".into()],
        has_sources: true,
        signed: true,
        files: 1,
        pruned: 0,
        changed: true,
        rewritten: vec![],
    };
    assert_eq!(
        sources_list_lines("file:/b", &p, Some("/k.gpg")),
        [
            "deb [signed-by=/k.gpg] file:/b xenial main extra",
            "deb-src [signed-by=/k.gpg] file:/b xenial main extra"
        ]
    );
    let unsigned = Published {
        signed: false,
        has_sources: false,
        ..p
    };
    assert_eq!(
        sources_list_lines("file:/b", &unsigned, Some("/k.gpg")),
        ["deb [trusted=yes] file:/b xenial main extra"]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Each binary architecture's Packages holds exactly that architecture's
    /// packages and the `all` ones, ordered by name then Debian version.
    #[test]
    fn every_binary_index_holds_its_arch_and_all(
        pkgs in proptest::collection::vec(
            // No leading zeros: `05` and `5` are one version to dpkg but two
            // items, whose order in an index is the store's, not the input's.
            ("[a-d]{2,3}", "(0|[1-9][0-9]?)(\\.(0|[1-9][0-9]?))?", prop::sample::select(vec!["amd64", "arm64", "all"])),
            0..25,
        )
    ) {
        let r = repo_with(&["xenial"], &["main"], &["amd64", "arm64"], None);
        let pkgs: Vec<Package> = pkgs.iter().map(|(n, v, a)| bin(n, v, "main", a)).collect();
        r.put(&pkgs);
        r.publish(&[]).unwrap();
        for arch in ["amd64", "arm64"] {
            let got = stanzas(&r.text(&format!("dists/xenial/main/binary-{arch}/Packages")));
            let mut want: Vec<&Package> = pkgs
                .iter()
                .filter(|p| p.architecture == arch || p.architecture == "all")
                .collect();
            want.sort_by(|a, b| crate::catalog::package_order(a, b));
            want.dedup_by(|a, b| a.key() == b.key());
            let want: Vec<(String, String, String)> = want
                .iter()
                .map(|p| (p.name.clone(), p.version.clone(), p.architecture.clone()))
                .collect();
            prop_assert_eq!(&got, &want);
            for w in got.windows(2) {
                prop_assert!(w[0].0 <= w[1].0);
            }
        }
    }
}

/// Every write `f` makes to `r`'s bucket.
fn writes_of(r: &mut Repo, f: impl FnOnce(&Repo)) -> Vec<String> {
    let log = recording(r, None);
    f(r);
    let out = log.lock().unwrap().clone();
    out
}

#[test]
fn an_unchanged_publish_writes_nothing() {
    let mut r = repo();
    r.put(&[
        bin("hello", "1.0", "main", "amd64"),
        bin("doc", "1", "extra", "all"),
        src("hello", "1.0", "main"),
    ]);
    let signer = test_signer();
    r.publish_signed(&[], Some(&signer)).unwrap();
    let before = r.tree();
    let mut out = Vec::new();
    let writes = writes_of(&mut r, |r| {
        out = r.publish_signed(&[], Some(&signer)).unwrap();
    });
    assert_eq!(writes, Vec::<String>::new());
    assert!(!out[0].changed && out[0].files == 0 && out[0].rewritten.is_empty());
    assert!(out[0].signed && out[0].has_sources);
    assert_eq!(r.tree(), before);
}

#[test]
fn one_change_rewrites_only_its_index_and_the_release() {
    // 3 components x (3 architectures + source): 12 indices.
    let mut r = repo_with(
        &["xenial"],
        &["main", "extra", "more"],
        &["amd64", "arm64", "i386"],
        None,
    );
    let mut pkgs = Vec::new();
    for comp in ["main", "extra", "more"] {
        for arch in ["amd64", "arm64", "i386", "all"] {
            pkgs.push(bin(&format!("p-{comp}-{arch}"), "1", comp, arch));
        }
        pkgs.push(src(&format!("s-{comp}"), "1", comp));
    }
    r.put(&pkgs);
    r.publish(&[]).unwrap();
    let before = r.tree();
    r.put(&[bin("p-extra-arm64", "2", "extra", "arm64")]);
    let mut out = Vec::new();
    let writes = writes_of(&mut r, |r| out = r.publish(&[]).unwrap());
    assert_eq!(out[0].rewritten, ["extra/binary-arm64/Packages"]);
    assert!(out[0].changed);
    let dir = "dists/xenial/extra/binary-arm64/";
    let other: Vec<&String> = writes
        .iter()
        .filter(|k| !k.starts_with(dir))
        .filter(|k| *k != "dists/xenial/Release" && !k.ends_with(retention::RECORD))
        .collect();
    assert!(other.is_empty(), "{other:#?}");
    // Packages and Packages.gz: four by-hash names and their own each.
    assert_eq!(writes.iter().filter(|k| k.starts_with(dir)).count(), 10);
    assert_eq!(out[0].files, 11);
    let after = r.tree();
    for (k, v) in &before {
        if !k.starts_with(dir) && !k.ends_with("/Release") && !k.ends_with(retention::RECORD) {
            assert_eq!(after.get(k), Some(v), "{k}");
        }
    }
    assert!(r
        .text(&format!("{dir}Packages"))
        .contains("Package: p-extra-arm64\nVersion: 2\n"));
    plain_and_by_hash_match_release(&r);
    // `all` packages are in every binary index of their component.
    r.put(&[bin("p-more-all", "2", "more", "all")]);
    let out = r.publish(&[]).unwrap();
    assert_eq!(
        out[0].rewritten,
        [
            "more/binary-amd64/Packages",
            "more/binary-arm64/Packages",
            "more/binary-i386/Packages"
        ]
    );
    plain_and_by_hash_match_release(&r);
}

/// Every file the Release of xenial lists is in the bucket under its name
/// and each by-hash name with the listed digests.
fn plain_and_by_hash_match_release(r: &Repo) {
    let (_, files) = parse_release(&r.text("dists/xenial/Release"));
    for (algo, digest, size, path) in &files {
        let bytes = r.get(&format!("dists/xenial/{path}")).unwrap();
        let d = Digests::of(&bytes);
        let a = Algo::ALL.into_iter().find(|a| a.name() == algo).unwrap();
        assert_eq!((d.get(a), d.size), (digest.as_str(), *size), "{path}");
        if !path.ends_with("/Release") {
            let dir = &path[..path.rfind('/').unwrap()];
            let by_hash = r.get(&format!("dists/xenial/{dir}/by-hash/{algo}/{digest}"));
            assert_eq!(by_hash.as_ref(), Some(&bytes), "{path} by {algo}");
        }
    }
}

#[test]
fn force_rewrites_every_file() {
    let mut r = repo();
    r.put(&[bin("hello", "1.0", "main", "amd64")]);
    let first = r.publish(&[]).unwrap()[0].files;
    let forced = Request {
        force: true,
        ..at(0)
    };
    let mut out = Vec::new();
    let writes = writes_of(&mut r, |r| out = r.publish_with(&forced).unwrap());
    assert_eq!(out[0].files, first);
    assert_eq!(out[0].rewritten.len(), 6);
    // Every index's five names, every leaf, Release, the retention record.
    assert_eq!(writes.len(), 6 * 2 * 5 + 6 + 1 + 1, "{writes:#?}");
}

#[test]
fn a_release_changed_in_the_bucket_is_not_reused() {
    let mut r = repo();
    r.put(&[bin("hello", "1.0", "main", "amd64")]);
    r.publish(&[]).unwrap();
    // Whoever changed it may have changed what it lists: nothing of it is
    // trusted, every index is built and written again.
    let key = "dists/xenial/Release";
    let tampered = r.text(key).replace("Label: ", "Label: x");
    r.cat
        .blobs()
        .put_bytes(key, tampered.as_bytes(), PutMode::Overwrite)
        .unwrap();
    let out = r.publish(&[]).unwrap();
    assert_eq!(out[0].rewritten.len(), 6);
    assert!(!r.text(key).contains("Label: x"));
    // Then it is this publish's own again: the next writes nothing.
    let writes = writes_of(&mut r, |r| {
        r.publish(&[]).unwrap();
    });
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn a_missing_file_is_written_again() {
    let r = repo();
    r.put(&[bin("hello", "1.0", "main", "amd64")]);
    r.publish(&[]).unwrap();
    let (_, files) = parse_release(&r.text("dists/xenial/Release"));
    let (algo, digest, _, path) = files
        .iter()
        .find(|f| f.0 == "SHA256" && f.3 == "extra/binary-arm64/Packages.gz")
        .unwrap();
    let gone = format!("dists/xenial/extra/binary-arm64/by-hash/{algo}/{digest}");
    assert!(path.ends_with(".gz"));
    r.cat.blobs().delete(&gone).unwrap();
    let out = r.publish(&[]).unwrap();
    assert_eq!(out[0].rewritten, ["extra/binary-arm64/Packages"]);
    assert!(r.get(&gone).is_some());
    plain_and_by_hash_match_release(&r);
}

#[test]
fn a_valid_until_release_is_re_dated_once_half_its_validity_is_gone() {
    let r = repo_with(&["xenial"], &["main"], &["amd64"], None);
    r.put(&[bin("hello", "1.0", "main", "amd64")]);
    freshness::set(&r.cat, freshness::Field::ValidFor, "xenial", Some("2d")).unwrap();
    r.publish_with(&at(0)).unwrap();
    let release = r.text("dists/xenial/Release");
    let out = r.publish_with(&at(23)).unwrap();
    assert!(!out[0].changed);
    assert_eq!(r.text("dists/xenial/Release"), release);
    // Past half of the 2 days: a new Date and Valid-Until, no index.
    let out = r.publish_with(&at(25)).unwrap();
    assert!(out[0].changed && out[0].rewritten.is_empty());
    let (fields, _) = parse_release(&r.text("dists/xenial/Release"));
    assert_eq!(fields["Valid-Until"], "Tue, 24 Nov 2026 01:00:00 UTC");
    // A changed setting changes the Release at once.
    freshness::set(&r.cat, freshness::Field::ValidFor, "xenial", Some("3d")).unwrap();
    let out = r.publish_with(&at(26)).unwrap();
    assert!(out[0].changed);
    let (fields, _) = parse_release(&r.text("dists/xenial/Release"));
    assert_eq!(fields["Valid-Until"], "Wed, 25 Nov 2026 02:00:00 UTC");
}

/// What a [`Hooked`] store does with a Select: the store it wraps, the
/// query, and where its items go.
type SelectHook = dyn Fn(
        &dyn MetaStore,
        &crate::select::Select,
        &mut dyn FnMut(crate::model::Item) -> StoreResult<()>,
    ) -> StoreResult<()>
    + Send
    + Sync;

/// The state store with its Selects answered by a hook; everything else
/// goes to the store as it is.
struct Hooked(Box<dyn MetaStore>, Box<SelectHook>);

impl MetaStore for Hooked {
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn domain_exists(&self) -> StoreResult<bool> {
        self.0.domain_exists()
    }
    fn create_domain(&self) -> StoreResult<()> {
        self.0.create_domain()
    }
    fn get(&self, item: &str) -> StoreResult<Option<crate::model::Attrs>> {
        self.0.get(item)
    }
    fn select(
        &self,
        query: &crate::select::Select,
        each: &mut dyn FnMut(crate::model::Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        (self.1)(self.0.as_ref(), query, each)
    }
    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        self.0.apply(changes)
    }
    fn put_if(
        &self,
        item: &str,
        attr: &str,
        expected: Option<&str>,
        value: &str,
    ) -> StoreResult<bool> {
        self.0.put_if(item, attr, expected, value)
    }
    fn change_stamp(&self) -> StoreResult<Option<String>> {
        self.0.change_stamp()
    }
    fn reads_name_ranges(&self) -> bool {
        self.0.reads_name_ranges()
    }
}

#[test]
fn a_store_that_ignores_the_order_still_gives_sorted_indices() {
    let mut r = repo();
    let mut pkgs = Vec::new();
    for (i, name) in ["zeta", "alpha", "mid", "beta", "omega"].iter().enumerate() {
        pkgs.push(bin(name, "1.0", "main", "amd64"));
        pkgs.push(bin(name, &format!("1.{i}0"), "main", "all"));
    }
    r.put(&pkgs);
    r.publish(&[]).unwrap();
    let sorted = r.text("dists/xenial/main/binary-amd64/Packages");
    // A backend that ignores `order by`: every Select answered in reverse
    // item-name order.
    r.cat.replace_meta(|m| {
        Box::new(Hooked(
            m,
            Box::new(|store, query, each| {
                let mut items = store.select_all(query)?;
                items.sort_by(|a, b| b.name.cmp(&a.name));
                items.into_iter().try_for_each(each)
            }),
        ))
    });
    let forced = Request {
        force: true,
        ..at(0)
    };
    r.publish_with(&forced).unwrap();
    assert_eq!(r.text("dists/xenial/main/binary-amd64/Packages"), sorted);
    let names: Vec<String> = stanzas(&sorted).into_iter().map(|s| s.0).collect();
    let mut want = names.clone();
    want.sort();
    assert_eq!(names, want);
    assert_eq!(names.len(), 10);
}

/// Wraps `r`'s state store so that it counts its Selects; the count.
fn counting(r: &mut Repo) -> Arc<std::sync::atomic::AtomicUsize> {
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    r.cat.replace_meta(|m| {
        Box::new(Hooked(
            m,
            Box::new(move |store, query, each| {
                count.fetch_add(1, Ordering::SeqCst);
                store.select(query, each)
            }),
        ))
    });
    n
}

#[test]
fn an_unchanged_state_is_not_read_again() {
    let mut r = repo();
    let hello = bin("hello", "1.0", "main", "amd64");
    r.put(&[hello.clone(), src("hello", "1.0", "main")]);
    let signer = test_signer();
    r.publish_signed(&[], Some(&signer)).unwrap();
    let selects = counting(&mut r);
    let before = r.tree();
    let mut out = Vec::new();
    let writes = writes_of(&mut r, |r| {
        out = r.publish_signed(&[], Some(&signer)).unwrap();
    });
    assert_eq!(selects.load(Ordering::SeqCst), 0, "the packages were read");
    assert_eq!(writes, Vec::<String>::new());
    assert!(!out[0].changed && out[0].signed && out[0].has_sources);
    assert_eq!(r.tree(), before);
    // A write that changes no index: read, nothing written, and the
    // published Release now stands for the new state.
    r.put(&[hello]);
    let writes = writes_of(&mut r, |r| {
        out = r.publish_signed(&[], Some(&signer)).unwrap();
    });
    assert!(
        selects.load(Ordering::SeqCst) > 0,
        "a changed state was not read"
    );
    assert!(writes.is_empty() && !out[0].changed, "{writes:?}");
    selects.store(0, Ordering::SeqCst);
    r.publish_signed(&[], Some(&signer)).unwrap();
    assert_eq!(selects.load(Ordering::SeqCst), 0);
    // Another signer, --force, or a missing file: read and written again.
    let out = r.publish(&[]).unwrap();
    assert!(out[0].changed && selects.load(Ordering::SeqCst) > 0);
    selects.store(0, Ordering::SeqCst);
    let forced = Request {
        force: true,
        ..at(0)
    };
    assert_eq!(r.publish_with(&forced).unwrap()[0].rewritten.len(), 6);
    assert!(selects.load(Ordering::SeqCst) > 0);
    selects.store(0, Ordering::SeqCst);
    let gone = "dists/xenial/main/binary-amd64/Packages";
    std::fs::remove_file(r.bucket().join(gone)).unwrap();
    let out = r.publish_with(&at(0)).unwrap();
    assert!(out[0].changed && selects.load(Ordering::SeqCst) > 0);
    assert!(r.get(gone).is_some());
}

#[test]
fn a_write_by_another_process_makes_publish_read_again() {
    let mut r = repo();
    let hello = bin("hello", "1.0", "main", "amd64");
    r.put(std::slice::from_ref(&hello));
    r.publish(&[]).unwrap();
    let selects = counting(&mut r);
    // Another process, on its own connection to the file, changes only the
    // control text of a package.
    let other = Catalog::new(crate::embedded::open(r.dir.path(), None).unwrap());
    let edited = Package {
        control: hello
            .control
            .replace("Description: test", "Description: edited"),
        ..hello
    };
    other
        .meta()
        .apply(&[Change::Put {
            item: edited.key(),
            attrs: edited.to_attrs().unwrap(),
            remove: vec![],
        }])
        .unwrap();
    let out = r.publish(&[]).unwrap();
    assert!(selects.load(Ordering::SeqCst) > 0);
    assert_eq!(out[0].rewritten, ["main/binary-amd64/Packages"]);
    assert!(r
        .text("dists/xenial/main/binary-amd64/Packages")
        .contains("Description: edited"));
    plain_and_by_hash_match_release(&r);
}

#[test]
fn a_refresh_keeps_the_state_it_re_dates() {
    let mut r = repo();
    r.put(&[bin("hello", "1.0", "main", "amd64")]);
    r.publish_with(&at(0)).unwrap();
    let refresh = Request {
        refresh: true,
        ..at(1)
    };
    r.publish_with(&refresh).unwrap();
    let selects = counting(&mut r);
    let out = r.publish_with(&at(2)).unwrap();
    assert!(!out[0].changed);
    assert_eq!(selects.load(Ordering::SeqCst), 0);
}
