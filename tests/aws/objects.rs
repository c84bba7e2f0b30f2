//! Every kind of object repoman writes to S3, read back from moto with its
//! Content-Type and Cache-Control, however it was written (PutObject, multipart, CopyObject
//! from a by-hash twin or another distribution's pool), and the
//! not-set-up error on SimpleDB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::support::{self, boto3, text};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/debian")
        .join(name)
}

/// repoman-cli against moto and sdb-local with the standard AWS settings.
fn cli(moto: &str, sdb: &str, home: &Path, domain: &str, bucket: &str, args: &[&str]) -> Output {
    support::run_checked(
        support::repoman_cli(moto, Some(sdb), home)
            .args(["--simpledb-domain", domain, "--s3-bucket", bucket])
            .args(args),
    )
}

/// An armored secret key for `--gpg-key-file`, made by gpg.
fn signing_key(dir: &Path) -> PathBuf {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
        out.stdout
    };
    gpg(&[
        "--quick-gen-key",
        "Repoman Types <t@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let secret = dir.join("key.asc");
    std::fs::write(&secret, gpg(&["--armor", "--export-secret-keys"])).unwrap();
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .status();
    secret
}

/// What each kind of object must be served as, by its key (and, for a
/// by-hash name, by the index it is a copy of).
fn expected(key: &str, bytes_are_gzip: bool) -> (&'static str, &'static str) {
    let name = key.rsplit('/').next().unwrap();
    if key.contains("/by-hash/") {
        return if bytes_are_gzip {
            ("by-hash gzip index", "application/gzip")
        } else {
            ("by-hash plain index", "text/plain")
        };
    }
    match name {
        "Packages" | "Sources" => ("plain index", "text/plain"),
        "Packages.gz" | "Sources.gz" => ("gzip index", "application/gzip"),
        "Release" => ("Release", "text/plain"),
        "InRelease" => ("InRelease", "text/plain"),
        "Release.gpg" => ("Release.gpg", "text/plain"),
        n if n.ends_with(".deb") => ("pool .deb", "application/vnd.debian.binary-package"),
        n if n.ends_with(".dsc") => ("pool .dsc", "text/plain"),
        n if n.ends_with(".tar.gz") => ("pool tarball (gzip)", "application/gzip"),
        n if key.starts_with("backups/") && n.ends_with(".json.gz") => {
            ("backup", "application/gzip")
        }
        n if key.starts_with("backups/") && n.ends_with(".info") => {
            ("backup sidecar", "application/json")
        }
        _ => ("other", "binary/octet-stream"),
    }
}

/// The Cache-Control each kind must carry: immutable for names whose bytes
/// never change, the configured short policy for the names a publish
/// replaces, never-cached for the rest.
fn expected_cache(key: &str, kind: &str) -> &'static str {
    match kind {
        _ if key.starts_with("pool/") || kind.starts_with("by-hash ") => {
            "public, max-age=31536000, immutable"
        }
        "plain index" | "gzip index" | "Release" | "InRelease" | "Release.gpg" => SHORT_CACHE,
        _ => "no-store",
    }
}

const SHORT_CACHE: &str = "public, max-age=15";

#[test]
fn every_object_kind_carries_its_content_type_and_cache_control() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key = signing_key(work.path());
    let bucket = support::bucket_name("types");
    let run = |args: &[&str]| {
        let mut all = vec![
            "--gpg-key-file",
            key.to_str().unwrap(),
            "--cache-control-indices",
            SHORT_CACHE,
        ];
        all.extend_from_slice(args);
        let out = cli(&moto.url, &sdb.url, &home, "types", &bucket, &all);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    run(&[
        "setup", "-d", "stable", "-d", "testing", "-c", "main", "-a", "amd64",
    ]);
    run(&[
        "add",
        "-d",
        "stable",
        "-c",
        "main",
        fixture("hello_2.10-3_amd64.deb").to_str().unwrap(),
        fixture("hello_2.10-3.dsc").to_str().unwrap(),
    ]);
    // Pool files copied to another distribution with CopyObject.
    run(&[
        "cp",
        "--src-distribution",
        "stable",
        "--src-component",
        "main",
        "--dst-distribution",
        "testing",
        "-p",
        "hello",
        "-y",
    ]);
    // Twice: the second publish copies the plain names from by-hash names
    // that exist already.
    run(&["publish"]);
    run(&["publish"]);
    run(&["backup", "--to-bucket"]);

    let listing = boto3(
        &moto.url,
        r#"
import sys, boto3
s3 = boto3.client("s3")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1]):
    for o in page.get("Contents", []):
        if o["Size"] > 0:
            h = s3.get_object(Bucket=sys.argv[1], Key=o["Key"], Range="bytes=0-1")
            gz = h["Body"].read() == b"\x1f\x8b"
        else:
            h, gz = s3.head_object(Bucket=sys.argv[1], Key=o["Key"]), False
        print(o["Key"], h["ContentType"], int(gz), h.get("CacheControl", "-"), sep="\t")
"#,
        &[&bucket],
    );
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (key, got, gz, cache) = (f[0], f[1], f[2] == "1", f[3]);
        let (kind, want) = expected(key, gz);
        *seen.entry(kind).or_default() += 1;
        if got != want {
            wrong.push(format!("{key}: {got}, want {want}"));
        }
        if cache != expected_cache(key, kind) {
            wrong.push(format!(
                "{key}: Cache-Control {cache}, want {}",
                expected_cache(key, kind)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for kind in [
        "pool .deb",
        "pool .dsc",
        "pool tarball (gzip)",
        "plain index",
        "gzip index",
        "by-hash plain index",
        "by-hash gzip index",
        "Release",
        "InRelease",
        "Release.gpg",
        "backup",
        "backup sidecar",
    ] {
        assert!(seen.contains_key(kind), "no {kind} written: {seen:?}");
    }
    assert!(
        seen["pool .deb"] >= 2,
        "the copy to testing is a second .deb: {seen:?}"
    );
}

#[test]
fn simpledb_before_setup_says_to_run_setup() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let home = tempfile::tempdir().unwrap();
    let bucket = support::bucket_name("unset");
    for args in [&["query"][..], &["backup"], &["repo", "show-config"]] {
        let out = cli(
            &moto.url,
            &sdb.url,
            home.path(),
            "never-set-up",
            &bucket,
            args,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains("simpledb:never-set-up is not set up")
                && err.contains("repoman-cli setup -d"),
            "{args:?}: {err}"
        );
    }
}

/// by-hash retention and `publish --refresh` on S3: with a zero window
/// only the files the current Release names stay; a refresh re-dates the
/// Release and leaves every index as it was.
#[test]
fn s3_retention_keeps_only_current_by_hash_files_and_refresh_re_dates() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bucket = support::bucket_name("retain");
    let run = |args: &[&str]| {
        let out = cli(&moto.url, &sdb.url, &home, "retain", &bucket, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    run(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    let add = |f: &str| {
        run(&[
            "add",
            "-d",
            "stable",
            "-c",
            "main",
            fixture(f).to_str().unwrap(),
        ]);
    };
    add("hello_2.10-3_amd64.deb");
    run(&["publish"]);
    add("sensible-utils_0.0.17+nmu1_all.deb");
    run(&["--by-hash-retention", "0", "publish"]);
    let script = r#"
import sys, boto3
s3 = boto3.client("s3")
b = sys.argv[1]
rel = s3.get_object(Bucket=b, Key="dists/stable/Release")["Body"].read().decode()
named, algo = set(), None
for line in rel.splitlines():
    if not line.startswith(" "):
        algo = line.rstrip(":")
        continue
    digest, _, path = line.split()
    d, name = path.rsplit("/", 1)
    if name != "Release":
        named.add(f"dists/stable/{d}/by-hash/{algo}/{digest}")
keys = set()
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix="dists/"):
    for o in page.get("Contents", []):
        keys.add(o["Key"])
byhash = {k for k in keys if "/by-hash/" in k}
print(len(named), int(byhash == named))
for l in rel.splitlines():
    if l.startswith("Date: "):
        print(l)
plain = s3.get_object(Bucket=b, Key="dists/stable/main/binary-amd64/Packages")
print(plain["ETag"])
"#;
    let first = boto3(&moto.url, script, &[&bucket]);
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(
        lines[0], "16 1",
        "by-hash keys differ from the Release's: {first}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run(&["publish", "--refresh"]);
    let second = boto3(&moto.url, script, &[&bucket]);
    let after: Vec<&str> = second.lines().collect();
    assert_eq!(after[0], "16 1", "{second}");
    assert_ne!(after[1], lines[1], "the Date moves on");
    assert_eq!(after[2], lines[2], "the index is not rewritten");
}
