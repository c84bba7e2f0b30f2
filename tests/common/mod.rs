//! What the integration tests share: the binary, fixture paths, and a
//! repository in a temporary directory driven through `repoman-cli`.
//! Each test binary uses a different subset, hence the allow.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub mod faults;

pub const BIN: &str = env!("CARGO_BIN_EXE_repoman-cli");

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A real Debian package file in fixtures/debian.
pub fn real(name: &str) -> PathBuf {
    root().join("fixtures/debian").join(name)
}

/// The original's fixtures: `../shared/fixtures` beside the checkout when
/// present, else the copy committed in fixtures/original.
pub fn original(name: &str) -> PathBuf {
    let shared = root().join("../shared/fixtures").join(name);
    if shared.is_file() {
        return shared;
    }
    root().join("fixtures/original").join(name)
}

/// A command's stdout and stderr together, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir` with its bytes, by path.
pub fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

/// A repository in a temporary directory, driven through the binary.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        Repo {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `--local-dir` of this repository.
    pub fn local(&self) -> PathBuf {
        self.path().join("repo")
    }

    pub fn bucket(&self) -> PathBuf {
        self.local().join("bucket")
    }

    /// The binary with no inherited configuration: HOME is the temp dir, no
    /// REPOMAN_*, AWS_* or GNUPGHOME leaks in, and stdin is not a terminal.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("REPOMAN_") || k.starts_with("AWS_") || k == "GNUPGHOME" {
                c.env_remove(k);
            }
        }
        c.env("HOME", self.path())
            .env_remove("XDG_DATA_HOME")
            .arg("--local-dir")
            .arg(self.local())
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns its stdout and stderr.
    pub fn fail_out(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{args:?} unexpectedly succeeded: {}",
            text(&out)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fail(&self, args: &[&str]) -> String {
        self.fail_out(args).1
    }

    /// The announcements log, one JSON message per line.
    pub fn announcements(&self) -> Vec<Value> {
        std::fs::read_to_string(self.local().join("announcements.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
