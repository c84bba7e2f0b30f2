//! The command line on the embedded backend: every command, the
//! confirmation rules, idempotent re-adds, and bad input that writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::{real, Repo, BIN};

impl Repo {
    fn setup(&self) {
        self.ok(&[
            "setup", "-d", "stable", "-d", "testing", "-c", "main", "-c", "contrib", "-a", "amd64",
            "-a", "i386",
        ]);
    }

    fn query_json(&self, extra: &[&str]) -> Value {
        let mut args = vec!["query", "-f", "jsonc"];
        args.extend_from_slice(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// Everything a command could change: items (hidden ones too), bucket
    /// files and their digests, announcements.
    fn snapshot(&self) -> String {
        use sha2::Digest;
        let items = self.run(&["query", "-H", "-f", "jsonc"]);
        let files: Vec<(PathBuf, String)> = common::files_under(&self.bucket())
            .into_iter()
            .map(|(p, bytes)| (p, hex::encode(sha2::Sha256::digest(bytes))))
            .collect();
        format!(
            "{}\n{files:?}\n{}",
            String::from_utf8_lossy(&items.stdout),
            std::fs::read_to_string(self.local().join("announcements.jsonl")).unwrap_or_default()
        )
    }
}

/// Builds a small .deb with dpkg-deb.
fn build_deb(dir: &Path, name: &str, version: &str, arch: &str) -> PathBuf {
    build_deb_with(dir, name, version, arch, "")
}

/// Builds a small .deb whose payload includes `extra`.
fn build_deb_with(dir: &Path, name: &str, version: &str, arch: &str, extra: &str) -> PathBuf {
    let tree = dir.join(format!("build-{name}-{version}-{arch}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join("usr/share/doc").join(name)).unwrap();
    std::fs::write(
        tree.join("usr/share/doc").join(name).join("README"),
        format!("{name} {version}\n{extra}"),
    )
    .unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Tests <t@example.com>\nDescription: test package {name}\n built for repoman's tests\n"
        ),
    )
    .unwrap();
    let file_version = version.split_once(':').map_or(version, |(_, v)| v);
    let out = dir.join(format!("{name}_{file_version}_{arch}.deb"));
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&tree)
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    out
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn versions(v: &Value, name: &str, dist: &str, comp: &str, arch: &str) -> Vec<String> {
    v[name][dist][comp][arch]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| i["version"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn setup_shows_config_and_announces_each_setting() {
    let r = Repo::new();
    r.setup();
    let cfg = r.ok(&["repo", "show-config"]);
    assert!(cfg.contains("Distributions: stable, testing"), "{cfg}");
    assert!(
        cfg.contains("Architectures: amd64, i386, all, source"),
        "{cfg}"
    );
    assert!(cfg.contains("Origin: repoman"), "{cfg}");
    let ann = r.announcements();
    assert_eq!(ann.len(), 6);
    assert_eq!(ann[0]["action"], "add");
    assert_eq!(ann[0]["type"], "dists");
    assert_eq!(ann[0]["name"], "stable");
    assert!(ann[0]["caller"].as_str().unwrap().contains('@'));
    assert!(r.local().join("bucket").is_dir());
}

#[test]
fn adds_real_debian_packages_and_lists_them_in_every_format() {
    let r = Repo::new();
    r.setup();
    let hello = real("hello_2.10-3_amd64.deb");
    r.ok(&[
        "add",
        "-d",
        "stable",
        "-c",
        "main",
        hello.to_str().unwrap(),
        real("sensible-utils_0.0.17+nmu1_all.deb").to_str().unwrap(),
        real("libzstd1_1.5.4+dfsg2-5_amd64.deb").to_str().unwrap(),
        real("hello_2.10-3.dsc").to_str().unwrap(),
    ]);
    // Pool files in place, byte for byte.
    let pool = r.local().join("bucket/pool/stable/h/hello");
    for f in [
        "hello_2.10-3_amd64.deb",
        "hello_2.10-3.dsc",
        "hello_2.10.orig.tar.gz",
        "hello_2.10-3.debian.tar.xz",
    ] {
        assert_eq!(sha256sum(&pool.join(f)), sha256sum(&real(f)), "{f}");
    }
    let v = r.query_json(&[]);
    let item = &v["hello"]["stable"]["main"]["amd64"][0];
    assert_eq!(item["sha256"], sha256sum(&hello));
    assert_eq!(
        item["size"],
        std::fs::metadata(&hello).unwrap().len().to_string()
    );
    assert_eq!(item["filename"], "hello_2.10-3_amd64.deb");
    let src = &v["hello"]["stable"]["main"]["source"][0];
    let files: Vec<&str> = src["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"hello_2.10-3.dsc") && files.contains(&"hello_2.10.orig.tar.gz"),
        "{files:?}"
    );
    assert_eq!(
        v["sensible-utils"]["stable"]["main"]["all"][0]["version"],
        "0.0.17+nmu1"
    );

    let table = r.ok(&["query"]);
    // The original prints a blank line before every table.
    assert!(table.starts_with("\nname "), "{table}");
    assert!(
        table.contains("libzstd1") && table.contains("1.5.4+dfsg2-5"),
        "{table}"
    );
    for fmt in ["plain", "grid", "pipe", "github", "psql", "rst", "html"] {
        let t = r.ok(&["query", "-f", fmt]);
        assert!(t.contains("sensible-utils"), "{fmt}: {t}");
    }
    let pretty: Value = serde_json::from_str(&r.ok(&["query", "-f", "json"])).unwrap();
    assert_eq!(pretty, v);
    let stanzas = r.ok(&["query", "-f", "packages", "-p", "hello"]);
    assert!(
        stanzas.contains("Filename: pool/stable/h/hello/hello_2.10-3_amd64.deb\n"),
        "{stanzas}"
    );
    assert!(
        stanzas.contains("Directory: pool/stable/h/hello\nPackage: hello\n"),
        "{stanzas}"
    );
    // Filters: -p, -w, -a, -v.
    let only = r.query_json(&["-p", "lib", "-w"]);
    assert_eq!(
        only.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["libzstd1"]
    );
    let src_only = r.query_json(&["-a", "source"]);
    assert_eq!(src_only.as_object().unwrap().len(), 1);
    // Nothing found: nothing printed, exit 0 (as the original).
    let out = r.run(&["query", "-v", "9.9"]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no packages found"));
    // One announcement per added item, typed.
    let ann = r.announcements();
    assert!(ann
        .iter()
        .any(|a| a["type"] == "source" && a["name"] == "hello"));
    assert_eq!(
        ann.iter()
            .filter(|a| a["action"] == "add" && a["type"] == "package")
            .count(),
        3
    );
}

#[test]
fn re_adding_identical_bytes_succeeds_and_writes_nothing() {
    let r = Repo::new();
    r.setup();
    let deb = build_deb(r.path(), "retry", "1.0", "amd64");
    r.ok(&["add", "-d", "stable", "-c", "main", deb.to_str().unwrap()]);
    let before = r.snapshot();
    r.ok(&["add", "-d", "stable", "-c", "main", deb.to_str().unwrap()]);
    assert_eq!(r.snapshot(), before);
    // A missing item is filled in from the identical pool file.
    r.ok(&[
        "add",
        "-d",
        "stable",
        "-c",
        "main",
        "-c",
        "contrib",
        deb.to_str().unwrap(),
    ]);
    assert_eq!(
        versions(&r.query_json(&[]), "retry", "stable", "contrib", "amd64"),
        ["1.0"]
    );
    // Different bytes under the same name need --overwrite.
    let changed = build_deb_with(
        &r.path().join("other"),
        "retry",
        "1.0",
        "amd64",
        "different bytes",
    );
    let before = r.snapshot();
    let err = r.fail(&[
        "add",
        "-d",
        "stable",
        "-c",
        "main",
        changed.to_str().unwrap(),
    ]);
    assert!(
        err.contains("--overwrite") && err.contains("retry_1.0_amd64.deb"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(r.snapshot(), before);
    r.ok(&[
        "add",
        "--overwrite",
        "-d",
        "stable",
        "-c",
        "main",
        changed.to_str().unwrap(),
    ]);
    let v = r.query_json(&["-d", "stable", "-c", "main"]);
    assert_eq!(
        v["retry"]["stable"]["main"]["amd64"][0]["sha256"],
        sha256sum(&changed)
    );
}

#[test]
fn bad_input_is_one_line_naming_the_input_and_writes_nothing() {
    let r = Repo::new();
    r.setup();
    let good = build_deb(r.path(), "good", "1.0", "all");
    let not_deb = r.path().join("notes.deb");
    std::fs::write(&not_deb, "this is not an ar archive").unwrap();
    let truncated = r.path().join("cut_1.0_all.deb");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let text = r.path().join("readme.txt");
    std::fs::write(&text, "hello").unwrap();
    let arm = build_deb(r.path(), "armonly", "1.0", "arm64");
    let bad_version = {
        let d = r.path().join("badver");
        std::fs::create_dir_all(d.join("DEBIAN")).unwrap();
        std::fs::write(d.join("DEBIAN/control"), "Package: badver\nVersion: 1.0 beta\nArchitecture: all\nMaintainer: t\nDescription: x\n").unwrap();
        let out = r.path().join("badver_1_all.deb");
        Command::new("dpkg-deb")
            .args(["--nocheck", "--root-owner-group", "--build"])
            .arg(&d)
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        out
    };
    // A .dsc whose listed file is missing.
    let dsc_dir = r.path().join("dsc");
    std::fs::create_dir_all(&dsc_dir).unwrap();
    std::fs::copy(real("hello_2.10-3.dsc"), dsc_dir.join("hello_2.10-3.dsc")).unwrap();
    let lone_dsc = dsc_dir.join("hello_2.10-3.dsc");

    let before = r.snapshot();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![not_deb.display().to_string()], "notes.deb"),
        (vec![truncated.display().to_string()], "cut_1.0_all.deb"),
        (vec![text.display().to_string()], "readme.txt"),
        (vec![arm.display().to_string()], "arm64"),
        (vec![bad_version.display().to_string()], "1.0 beta"),
        (
            vec![lone_dsc.display().to_string()],
            "hello_2.10.orig.tar.gz",
        ),
        // A good file first: still nothing is written when a later one is bad.
        (
            vec![good.display().to_string(), not_deb.display().to_string()],
            "notes.deb",
        ),
    ];
    for (files, needle) in cases {
        let mut args = vec!["add", "-d", "stable", "-c", "main"];
        args.extend(files.iter().map(String::as_str));
        let err = r.fail(&args);
        assert_eq!(err.trim().lines().count(), 1, "{files:?}: {err}");
        assert!(err.contains(needle), "{files:?}: {err}");
        assert_eq!(r.snapshot(), before, "{files:?} wrote something");
    }
    // Unknown distribution and component.
    let err = r.fail(&["add", "-d", "nope", "-c", "main", good.to_str().unwrap()]);
    assert!(err.contains("\"nope\""), "{err}");
    let err = r.fail(&["add", "-d", "stable", "-c", "nope", good.to_str().unwrap()]);
    assert!(err.contains("\"nope\""), "{err}");
    assert_eq!(r.snapshot(), before);
}

#[test]
fn rm_follows_the_confirmation_rules() {
    let r = Repo::new();
    r.setup();
    for v in ["1.0", "1.1", "2.0"] {
        let deb = build_deb(r.path(), "tool", v, "amd64");
        r.ok(&["add", "-d", "stable", "-c", "main", deb.to_str().unwrap()]);
    }
    let before = r.snapshot();
    // Without a terminal and without -y: an explanation, nothing removed.
    let err = r.fail(&["rm", "-p", "tool", "-v", "1.0"]);
    assert!(err.contains("-y"), "{err}");
    assert_eq!(r.snapshot(), before);
    // No filter at all is dangerous: -y alone is not enough.
    let err = r.fail(&["rm", "-y"]);
    assert!(err.contains("--i-fear-no-evil"), "{err}");
    assert_eq!(r.snapshot(), before);
    // Keep the newest, remove the rest.
    r.ok(&["rm", "-p", "tool", "--exclude-latest", "-y"]);
    assert_eq!(
        versions(&r.query_json(&[]), "tool", "stable", "main", "amd64"),
        ["2.0"]
    );
    let dels: Vec<Value> = r
        .announcements()
        .into_iter()
        .filter(|a| a["action"] == "delete")
        .collect();
    assert_eq!(dels.len(), 2);
    // Files stay in the bucket.
    assert!(r
        .local()
        .join("bucket/pool/stable/t/tool/tool_1.0_amd64.deb")
        .is_file());
    // The dangerous form goes through with both flags.
    r.ok(&["rm", "-y", "--i-fear-no-evil"]);
    assert_eq!(
        r.ok(&["query"]),
        "",
        "nothing left: nothing printed, exit 0"
    );
}

#[test]
fn cp_copies_across_distributions_and_promotes_only_newer_versions() {
    let r = Repo::new();
    r.setup();
    for v in ["1.0", "2.0"] {
        let deb = build_deb(r.path(), "app", v, "amd64");
        r.ok(&["add", "-d", "testing", "-c", "main", deb.to_str().unwrap()]);
    }
    r.ok(&[
        "cp",
        "--src-distribution",
        "testing",
        "--src-component",
        "main",
        "--dst-distribution",
        "stable",
        "-p",
        "app",
        "--latest",
        "-y",
    ]);
    let v = r.query_json(&[]);
    assert_eq!(versions(&v, "app", "stable", "main", "amd64"), ["2.0"]);
    assert!(r
        .local()
        .join("bucket/pool/stable/a/app/app_2.0_amd64.deb")
        .is_file());
    let copy = r
        .announcements()
        .into_iter()
        .find(|a| a["action"] == "copy")
        .unwrap();
    assert_eq!(copy["src_distribution"], "testing");
    assert_eq!(copy["dst_distribution"], "stable");
    // Promote: 1.0 is older than stable's 2.0, so nothing to do.
    let err = r.fail(&[
        "cp",
        "--src-distribution",
        "testing",
        "--src-component",
        "main",
        "--dst-distribution",
        "stable",
        "-p",
        "app",
        "--promote",
        "-y",
    ]);
    assert!(err.contains("no copy actions"), "{err}");
    // Within a distribution, to another component.
    r.ok(&[
        "cp",
        "--src-distribution",
        "testing",
        "--src-component",
        "main",
        "--dst-component",
        "contrib",
        "-p",
        "app",
        "-y",
    ]);
    assert_eq!(
        versions(&r.query_json(&[]), "app", "testing", "contrib", "amd64"),
        ["1.0", "2.0"]
    );
    // Source and destination must differ.
    r.fail(&[
        "cp",
        "--src-distribution",
        "testing",
        "--src-component",
        "main",
        "-p",
        "app",
        "-y",
    ]);
}

#[test]
fn auto_purge_keeps_the_newest_versions() {
    let r = Repo::new();
    r.setup();
    for v in ["1", "2", "3", "4"] {
        let deb = build_deb(r.path(), "purged", v, "i386");
        r.ok(&[
            "--auto-purge",
            "2",
            "add",
            "-d",
            "stable",
            "-c",
            "main",
            deb.to_str().unwrap(),
        ]);
    }
    assert_eq!(
        versions(&r.query_json(&[]), "purged", "stable", "main", "i386"),
        ["3", "4"]
    );
}

#[test]
fn removed_components_hide_packages_until_queried_with_h() {
    let r = Repo::new();
    r.setup();
    let deb = build_deb(r.path(), "hidden", "1.0", "all");
    r.ok(&[
        "add",
        "-d",
        "stable",
        "-c",
        "contrib",
        deb.to_str().unwrap(),
    ]);
    r.ok(&["repo", "rm-component", "contrib", "-y"]);
    assert_eq!(
        r.ok(&["query", "-p", "hidden"]),
        "",
        "hidden: not found, exit 0"
    );
    let v = r.query_json(&["-H", "-p", "hidden"]);
    assert_eq!(versions(&v, "hidden", "stable", "contrib", "all"), ["1.0"]);
    // Removing every distribution is dangerous.
    let err = r.fail(&["repo", "rm-distribution", "stable", "testing", "-y"]);
    assert!(err.contains("--i-fear-no-evil"), "{err}");
    // all and source cannot be added or removed.
    r.fail(&["repo", "add-architecture", "all", "-y"]);
    r.ok(&["repo", "add-architecture", "arm64", "-y"]);
    r.ok(&["repo", "add-origin", "Example Org", "-y"]);
    r.ok(&["repo", "add-label", "Example", "-y"]);
    let cfg = r.ok(&["repo", "show-config"]);
    assert!(
        cfg.contains("Origin: Example Org")
            && cfg.contains("Label: Example\n")
            && cfg.contains("arm64"),
        "{cfg}"
    );
}

#[test]
fn config_files_and_environment_select_the_backend() {
    let r = Repo::new();
    let conf = r.path().join("repoman.conf");
    let dir = r.path().join("from-config");
    std::fs::write(
        &conf,
        format!("# test config\nlocal-dir = {}\ndebug\n", dir.display()),
    )
    .unwrap();
    let run = |c: &mut Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new(BIN)
        .env("HOME", r.path())
        .arg("--config-file")
        .arg(&conf)
        .args(["setup", "-d", "a", "-c", "b", "-a", "amd64"]));
    assert!(dir.join("repoman.sqlite").is_file());
    let env_dir = r.path().join("from-env");
    run(Command::new(BIN)
        .env("HOME", r.path())
        .env("REPOMAN_LOCAL_DIR", &env_dir)
        .args(["setup", "-d", "a", "-c", "b", "-a", "amd64"]));
    assert!(env_dir.join("repoman.sqlite").is_file());
    // Nothing configured: the default data directory, and stderr says where.
    let out = Command::new(BIN)
        .env("HOME", r.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("REPOMAN_LOCAL_DIR")
        .args(["setup", "-d", "a", "-c", "b", "-a", "amd64"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&r.path().join(".local/share/repoman").display().to_string()),
        "{err}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_flag_definitions() {
    let r = Repo::new();
    let bash = r.ok(&["completions", "bash"]);
    assert!(bash.contains("--src-distribution"));
    let man = r.ok(&["man"]);
    assert!(man.contains(".TH") && man.contains("repoman-cli"));
}

/// Builds a .deb whose control paragraph carries `depends` as its Depends.
fn build_deb_with_depends(dir: &Path, name: &str, depends: &str) -> PathBuf {
    let tree = dir.join(format!("build-{name}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: Tests <t@example.com>\nDepends: {depends}\nDescription: large control text ✓\n"),
    )
    .unwrap();
    let out = dir.join(format!("{name}_1.0_all.deb"));
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    out
}

#[test]
fn large_control_text_is_packed_into_kilobyte_fragments() {
    let r = Repo::new();
    r.setup();
    // Like Debian bookworm's librust-winapi-dev: ~76 KB of control text,
    // 300 fragments of 256 characters, more than an item's 256 pairs.
    let depends: Vec<String> = (0..2000)
        .map(|i| format!("librust-winapi-{i:04}-dev (>= 0.3.9-~~)"))
        .collect();
    let deb = build_deb_with_depends(r.path(), "librust-big-dev", &depends.join(", "));
    r.ok(&["add", "-d", "stable", "-c", "main", deb.to_str().unwrap()]);
    let v = r.query_json(&[]);
    let item = v["librust-big-dev"]["stable"]["main"]["all"][0]
        .as_object()
        .unwrap();
    assert!(item.len() <= 256, "{} attributes", item.len());
    let frags: Vec<&str> = item
        .iter()
        .filter(|(k, _)| k.starts_with("controltxt"))
        .map(|(_, v)| v.as_str().unwrap())
        .collect();
    assert!(frags.len() > 1 && frags.iter().all(|f| f.len() <= 1024));
    let text: String = frags.concat();
    assert!(text.len() > 70_000 && text.contains("librust-winapi-1999-dev") && text.contains("✓"));

    // Text that cannot fit even in 1 KB fragments is refused, nothing written.
    let huge: Vec<String> = (0..9000)
        .map(|i| format!("librust-huge-{i:05}-dev (>= 1.0.0-~~)"))
        .collect();
    let deb = build_deb_with_depends(r.path(), "librust-huge-dev", &huge.join(", "));
    let before = r.snapshot();
    let err = r.fail(&["add", "-d", "stable", "-c", "main", deb.to_str().unwrap()]);
    assert!(
        err.contains("librust-huge-dev") && err.contains("fragments"),
        "{err}"
    );
    assert_eq!(r.snapshot(), before);
}

/// The binary with no inherited configuration and no `--local-dir`: what a
/// first-time user runs.
fn bare(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("REPOMAN_") || k.starts_with("AWS_") || k == "GNUPGHOME" {
            c.env_remove(k);
        }
    }
    c.env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::null());
    c
}

#[test]
fn before_setup_every_command_says_to_run_setup() {
    let r = Repo::new();
    for args in [
        &["query"][..],
        &["rm", "-p", "x", "-y"],
        &["publish"],
        &["backup"],
        &["verify"],
        &["repo", "show-config"],
        &["repo", "add-distribution", "x", "-y"],
    ] {
        let err = r.fail(args);
        assert!(
            err.contains("not set up") && err.contains("repoman-cli setup -d"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn the_default_store_notice_is_given_by_setup_only() {
    let r = Repo::new();
    let default_dir = r.path().join(".local/share/repoman").display().to_string();
    let out = bare(r.path())
        .args(["setup", "-d", "a", "-c", "b", "-a", "amd64"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&default_dir), "{err}");
    for args in [&["backup"][..], &["repo", "show-config"]] {
        let out = bare(r.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("no backend configured"), "{args:?}: {err}");
    }
}

#[test]
fn backup_clean_takes_the_confirmation_flags() {
    let r = Repo::new();
    r.setup();
    for _ in 0..3 {
        r.ok(&["backup", "--to-bucket"]);
        // Keys have a one-second resolution plus a sequence number; both sort.
    }
    let count = || r.ok(&["backup", "list"]).lines().count() - 2;
    assert_eq!(count(), 3);
    // Without -y and without a terminal: refused, nothing deleted.
    let err = r.fail(&["backup", "clean", "2"]);
    assert!(err.contains("-y"), "{err}");
    assert_eq!(count(), 3);
    r.ok(&["backup", "clean", "2", "-y"]);
    assert_eq!(count(), 2);
    r.ok(&["backup", "clean", "2", "--no-confirm"]);
    assert_eq!(count(), 2);
    // Deleting every backup is dangerous.
    let err = r.fail(&["backup", "clean", "0", "-y"]);
    assert!(err.contains("--i-fear-no-evil"), "{err}");
    assert_eq!(count(), 2);
    r.ok(&["backup", "clean", "0", "-y", "--i-fear-no-evil"]);
    assert_eq!(
        r.ok(&["backup", "list"]),
        "",
        "every backup deleted, none listed"
    );
}

#[test]
fn logs_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    let r = Repo::new();
    r.setup();
    // A query that finds nothing logs a warning.
    let out = r.run(&["--debug", "query", "-p", "nothing"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no packages found") && !err.contains('\u{1b}'),
        "{err:?}"
    );
    // On a terminal (script(1) gives the command one): colour, unless NO_COLOR.
    let on_tty = |no_color: Option<&str>| {
        let cmdline = format!(
            "{BIN} --local-dir {} --debug query -p nothing",
            r.local().display()
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmdline, "/dev/null"])
            .env("HOME", r.path())
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null());
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    let coloured = on_tty(None);
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    let plain = on_tty(Some("1"));
    assert!(
        !plain.contains("\u{1b}[") && plain.contains("no packages found"),
        "{plain:?}"
    );
}

#[test]
fn local_dir_that_is_a_file_is_one_cause_naming_it() {
    let r = Repo::new();
    let file = r.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = bare(r.path())
        .arg("--local-dir")
        .arg(&file)
        .arg("query")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches(&*file.display().to_string()).count(),
        1,
        "{err}"
    );
    assert!(err.contains("not a directory"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    // A file inside the path: the cause once.
    let out = bare(r.path())
        .arg("--local-dir")
        .arg(file.join("sub"))
        .arg("query")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn config_mistakes_are_one_line_errors_that_create_nothing() {
    let r = Repo::new();
    let conf = r.path().join("repoman.conf");
    let default_dir = r.path().join(".local/share/repoman");
    let cases: [(&[u8], &str); 6] = [
        (b"# typo\nlocl-dir = /tmp/x\n", ":2: unknown key `locl-dir`"),
        (b"local-dir = /tmp/x\n= oops\n", ":2: cannot read"),
        (b"local-dir = /tmp/x\0\n", ":1: a NUL byte"),
        (
            b"gpg-signer = [AAAA, BBBB\n",
            ":1: `gpg-signer`: unterminated list",
        ),
        (
            b"auto-purge = some\n",
            ":1: `auto-purge` expected a whole number",
        ),
        (b"debug = perhaps\n", ":1: `debug` expected true or false"),
    ];
    for (text, want) in cases {
        std::fs::write(&conf, text).unwrap();
        for home_conf in [false, true] {
            // As --config-file, and as ~/.repoman.
            let mut c = bare(r.path());
            if home_conf {
                std::fs::copy(&conf, r.path().join(".repoman")).unwrap();
            } else {
                let _ = std::fs::remove_file(r.path().join(".repoman"));
                c.arg("--config-file").arg(&conf);
            }
            let out = c
                .args(["setup", "-d", "a", "-c", "b", "-a", "amd64"])
                .output()
                .unwrap();
            assert!(!out.status.success(), "{want}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(want), "{want}: {err}");
            assert!(!default_dir.exists(), "{want}: created {default_dir:?}");
        }
    }
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(common::root().join("tests/golden").join(name)).unwrap()
}

/// tests/golden holds what apt-repoman 1.0.7's own output code prints for
/// tests/golden/dataset.json (see tests/golden/make.py).
#[test]
fn query_rm_and_cp_print_the_originals_bytes() {
    let r = Repo::new();
    let data = common::root().join("tests/golden/dataset.json");
    let data = data.to_str().unwrap();
    r.ok(&["restore", data]);
    const TABLES: [&str; 15] = [
        "simple",
        "plain",
        "grid",
        "fancy_grid",
        "pipe",
        "orgtbl",
        "jira",
        "psql",
        "rst",
        "mediawiki",
        "moinmoin",
        "html",
        "latex",
        "latex_booktabs",
        "textile",
    ];
    for fmt in TABLES.iter().chain(&["json", "jsonc", "packages"]) {
        assert_eq!(
            r.ok(&["query", "-f", fmt]),
            golden(&format!("query.{fmt}")),
            "query -f {fmt}"
        );
    }
    for fmt in TABLES {
        assert_eq!(
            r.ok(&["query", "-p", "intver", "-f", fmt]),
            golden(&format!("query-intver.{fmt}")),
            "query -p intver -f {fmt}"
        );
    }
    for fmt in ["simple", "grid", "psql"] {
        assert_eq!(
            r.ok(&["rm", "-p", "testdeb", "-d", "jessie", "-f", fmt, "-y"]),
            golden(&format!("rm.{fmt}")),
            "rm -f {fmt}"
        );
        r.ok(&["restore", data]);
    }
    assert_eq!(
        r.ok(&[
            "cp",
            "--src-distribution",
            "jessie",
            "--src-component",
            "main",
            "--dst-component",
            "nightly",
            "-p",
            "testdeb",
            "-y"
        ]),
        golden("cp.simple")
    );
}

#[test]
fn numbers_tabulate_would_rewrite_are_printed_as_they_are() {
    let r = Repo::new();
    r.setup();
    let deb = build_deb(r.path(), "floaty", "1.0", "all");
    r.ok(&["add", "-d", "stable", "-c", "main", deb.to_str().unwrap()]);
    // tabulate prints the version 1.0 as `1`; the data stays right, aligned
    // as tabulate aligns numbers (flush right).
    let t = r.ok(&["query", "-p", "floaty"]);
    assert!(t.ends_with("  1.0\n") && !t.contains(" 1\n"), "{t}");
}
