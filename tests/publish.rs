//! `publish` end to end: the binary builds a repository from real Debian
//! packages, and a real apt client (`apt-get update`, `download`, `source`)
//! reads it with isolated state, as a `file:` URI and over HTTP, signed with
//! gpg keys, a passphrase-protected key, or a key file, and unsigned. The
//! apt tests are skipped (and pass) when apt-get is not installed.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{root, text, Repo};

fn real(name: &str) -> String {
    common::real(name).display().to_string()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether the apt tests can run; prints why not.
fn apt_available() -> bool {
    for tool in ["apt-get", "gpg", "dpkg-deb", "python3"] {
        if !have(tool) {
            eprintln!("skipping: {tool} is not installed");
            return false;
        }
    }
    true
}

impl Repo {
    fn setup(&self, comps: &[&str]) {
        let mut args = vec!["setup", "-d", "stable", "-a", "amd64", "-a", "arm64"];
        for c in comps {
            args.extend(["-c", c]);
        }
        args.extend(["--origin", "Acme", "--label", "Acme Tools"]);
        self.ok(&args);
    }

    fn add(&self, files: &[String]) {
        let mut args = vec!["add", "-d", "stable", "-c", "main"];
        args.extend(files.iter().map(String::as_str));
        self.ok(&args);
    }

    /// Every file under dists/ with its bytes.
    fn dists(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        common::files_under(&self.bucket().join("dists"))
    }
}

/// The real .debs in fixtures/ plus two built here with dpkg-deb (an epoch
/// version for amd64, and an `all` package).
fn debs(work: &Path) -> Vec<String> {
    let mut v = vec![
        real("hello_2.10-3_amd64.deb"),
        real("sensible-utils_0.0.17+nmu1_all.deb"),
        real("libzstd1_1.5.4+dfsg2-5_amd64.deb"),
    ];
    for fields in [
        [
            "Package=rmtest-epoch",
            "Version=2:1.5-1",
            "Architecture=amd64",
        ],
        ["Package=rmtest-doc", "Version=0.1", "Architecture=all"],
    ] {
        let out = Command::new(root().join("fixtures/build-debs.sh"))
            .arg(work)
            .args(fields)
            .env("COMPRESSIONS", "xz")
            .output()
            .unwrap();
        assert!(out.status.success(), "build-debs.sh: {}", text(&out));
        v.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
    }
    v
}

/// Binary package names in `debs`, for `apt-get download`.
const NAMES: [&str; 5] = [
    "hello",
    "sensible-utils",
    "libzstd1",
    "rmtest-epoch",
    "rmtest-doc",
];

/// A throwaway GnuPG home with one signing key. The agent it starts is
/// stopped on drop.
struct Keyring {
    home: PathBuf,
    fpr: String,
}

impl Keyring {
    fn new(parent: &Path, passphrase: &str) -> Keyring {
        let home = parent.join(format!("gnupg-{}", rand_suffix()));
        std::fs::create_dir_all(&home).unwrap();
        // gpg warns about a home others can read.
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let mut k = Keyring {
            home,
            fpr: String::new(),
        };
        let out = k
            .gpg()
            .args(["--passphrase", passphrase, "--pinentry-mode", "loopback"])
            .args([
                "--quick-gen-key",
                "Test <t@example.com>",
                "rsa3072",
                "sign",
                "never",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg key generation: {}", text(&out));
        let list = k
            .gpg()
            .args(["--list-secret-keys", "--with-colons"])
            .output()
            .unwrap();
        k.fpr = String::from_utf8_lossy(&list.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').nth(8))
            .unwrap()
            .to_string();
        k
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&self.home).arg("--batch");
        c
    }

    fn home(&self) -> &str {
        self.home.to_str().unwrap()
    }

    /// The public key, binary, as apt's signed-by wants it.
    fn export_public(&self, to: &Path) -> String {
        let out = self.gpg().args(["--export", &self.fpr]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty());
        std::fs::write(to, out.stdout).unwrap();
        to.display().to_string()
    }

    /// The secret key, armored, protected by `passphrase` as it is.
    fn export_secret(&self, passphrase: &str, to: &Path) -> String {
        let out = self
            .gpg()
            .args(["--pinentry-mode", "loopback", "--passphrase", passphrase])
            .args(["--armor", "--export-secret-keys", &self.fpr])
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{}",
            text(&out)
        );
        std::fs::write(to, out.stdout).unwrap();
        to.display().to_string()
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{}", N.fetch_add(1, Ordering::SeqCst))
}

/// apt with all of its state in one directory.
struct Apt {
    dir: tempfile::TempDir,
}

impl Apt {
    fn new(sources: &str) -> Apt {
        let dir = tempfile::tempdir().unwrap();
        for d in ["lists/partial", "cache/archives/partial", "out", "parts"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("sources.list"), sources).unwrap();
        Apt { dir }
    }

    fn run(&self, args: &[&str]) -> String {
        let d = self.dir.path().display();
        let opts = [
            format!("Dir::Etc::SourceList={d}/sources.list"),
            format!("Dir::Etc::SourceParts={d}/parts"),
            format!("Dir::State::Lists={d}/lists"),
            format!("Dir::Cache={d}/cache"),
            "Debug::NoLocking=1".into(),
            "APT::Sandbox::User=root".into(),
            "Dir::Etc::Trusted=/dev/null".into(),
            "Dir::Etc::TrustedParts=/dev/null".into(),
            "APT::Architecture=amd64".into(),
            // Some apt configurations turn the date checks off.
            "Acquire::Check-Valid-Until=true".into(),
            "Acquire::Check-Date=true".into(),
        ];
        let mut c = Command::new("apt-get");
        for o in &opts {
            c.arg("-o").arg(o);
        }
        let out = c
            .args(args)
            .current_dir(self.dir.path().join("out"))
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "apt-get {args:?} failed:\n{t}");
        let bad: Vec<&str> = t
            .lines()
            .filter(|l| l.starts_with("W:") || l.starts_with("E:") || l.starts_with("Err:"))
            .collect();
        assert!(bad.is_empty(), "apt-get {args:?} complained:\n{t}");
        t
    }

    /// Like `run`, but expected to fail; returns the output.
    fn run_failing(&self, args: &[&str]) -> String {
        let d = self.dir.path().display();
        let out = Command::new("apt-get")
            .args(["-o", &format!("Dir::Etc::SourceList={d}/sources.list")])
            .args(["-o", &format!("Dir::Etc::SourceParts={d}/parts")])
            .args(["-o", &format!("Dir::State::Lists={d}/lists")])
            .args(["-o", &format!("Dir::Cache={d}/cache")])
            .args(["-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"])
            .args(["-o", "APT::Architecture=amd64"])
            .args(["-o", "Acquire::Check-Valid-Until=true"])
            .args(["-o", "Acquire::Check-Date=true"])
            .args(args)
            .current_dir(self.dir.path().join("out"))
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "apt-get {args:?} unexpectedly succeeded"
        );
        text(&out)
    }

    fn update(&self) -> String {
        self.run(&["update"])
    }

    /// Downloads each binary package and checks the file arrived.
    fn download(&self, names: &[&str]) {
        let mut args = vec!["download"];
        args.extend_from_slice(names);
        self.run(&args);
        let got: Vec<String> = std::fs::read_dir(self.dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for n in names {
            assert!(
                got.iter()
                    .any(|f| f.starts_with(&format!("{n}_")) && f.ends_with(".deb")),
                "{n} not downloaded: {got:?}"
            );
        }
    }

    fn source(&self, name: &str) {
        self.run(&["source", "--download-only", name]);
        let dsc = std::fs::read_dir(self.dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .any(|f| f.starts_with(&format!("{name}_")) && f.ends_with(".dsc"));
        assert!(dsc, "no .dsc of {name} downloaded");
    }
}

/// `python3 -m http.server` on a free local port, stopped on drop.
struct Http {
    child: Child,
    port: u16,
}

impl Http {
    fn serve(dir: &Path) -> Http {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "http.server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Http { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the published repository with apt through `file:` and HTTP:
/// update, download every binary package, fetch the source package.
fn apt_reads(repo: &Repo, options: &str, binaries: &[&str], source: Option<&str>) {
    let http = Http::serve(&repo.bucket());
    for url in [format!("file:{}", repo.bucket().display()), http.url()] {
        let mut sources = format!("deb {options} {url} stable main\n");
        if source.is_some() {
            sources.push_str(&format!("deb-src {options} {url} stable main\n"));
        }
        let apt = Apt::new(&sources);
        apt.update();
        apt.download(binaries);
        if let Some(s) = source {
            apt.source(s);
        }
    }
}

#[test]
fn unsigned_publish_is_read_by_apt_with_trusted_yes() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    let mut files = debs(r.path());
    files.push(real("hello_2.10-3.dsc"));
    r.add(&files);
    let stdout = r.ok(&["publish"]);
    let url = format!("file:{}", r.bucket().display());
    // The printed sources.list lines are the ones that work.
    assert_eq!(
        stdout,
        format!("deb [trusted=yes] {url} stable main\ndeb-src [trusted=yes] {url} stable main\n")
    );
    let apt = Apt::new(&stdout);
    apt.update();
    apt.download(&NAMES);
    apt.source("hello");
    apt_reads(&r, "[trusted=yes]", &NAMES, Some("hello"));
}

#[test]
fn signed_publish_is_verified_by_apt_over_file_and_http() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    let mut files = debs(r.path());
    files.push(real("hello_2.10-3.dsc"));
    r.add(&files);
    let keys = Keyring::new(r.path(), "");
    let stdout = r.ok(&[
        "--gpg-home",
        keys.home(),
        "--gpg-signer",
        &keys.fpr,
        "publish",
    ]);
    // The closing hint is a deb822 stanza carrying the key itself.
    assert!(stdout.starts_with("Types: deb deb-src\n"), "{stdout}");
    assert!(stdout.contains("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let dists = r.bucket().join("dists/stable");
    for f in ["Release", "Release.gpg", "InRelease"] {
        assert!(dists.join(f).is_file(), "{f} missing");
    }
    let key = keys.export_public(&r.path().join("key.gpg"));
    apt_reads(&r, &format!("[signed-by={key}]"), &NAMES, Some("hello"));
    // The wrong key is refused: the signature really is checked.
    let other = Keyring::new(r.path(), "");
    let wrong = other.export_public(&r.path().join("other.gpg"));
    let apt = Apt::new(&format!(
        "deb [signed-by={wrong}] file:{} stable main\n",
        r.bucket().display()
    ));
    let out = apt.run_failing(&["update", "-o", "APT::Update::Error-Mode=any"]);
    assert!(
        out.contains("NO_PUBKEY") || out.contains("not signed"),
        "{out}"
    );
}

#[test]
fn passphrase_protected_key_signs_and_a_wrong_passphrase_changes_nothing() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    r.add(&[real("sensible-utils_0.0.17+nmu1_all.deb")]);
    let keys = Keyring::new(r.path(), "correct horse");
    let before = r.dists();
    let err = r.fail(&[
        "--gpg-home",
        keys.home(),
        "--gpg-signer",
        &keys.fpr,
        "--gpg-passphrase",
        "battery staple",
        "publish",
    ]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("Bad passphrase") && err.contains(&keys.fpr),
        "{err}"
    );
    assert!(!err.contains("battery"), "the passphrase leaked: {err}");
    assert_eq!(r.dists(), before, "a failed signing changed dists/");
    // A key missing from the keyring is refused the same way.
    let err = r.fail(&[
        "--gpg-home",
        keys.home(),
        "--gpg-signer",
        "0xDEADBEEFDEADBEEF",
        "publish",
    ]);
    assert!(
        err.contains("0xDEADBEEFDEADBEEF") && err.contains("not in the keyring"),
        "{err}"
    );
    assert_eq!(r.dists(), before);
    // Without a terminal and without the passphrase: refused, with a hint.
    let err = r.fail(&[
        "--gpg-home",
        keys.home(),
        "--gpg-signer",
        &keys.fpr,
        "publish",
    ]);
    assert!(err.contains("--gpg-passphrase"), "{err}");
    assert_eq!(r.dists(), before);
    r.ok(&[
        "--gpg-home",
        keys.home(),
        "--gpg-signer",
        &keys.fpr,
        "--gpg-passphrase",
        "correct horse",
        "publish",
    ]);
    let key = keys.export_public(&r.path().join("key.gpg"));
    apt_reads(
        &r,
        &format!("[signed-by={key}]"),
        &["hello", "sensible-utils"],
        None,
    );
}

#[test]
fn key_file_signatures_are_verified_by_apt() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb"), real("hello_2.10-3.dsc")]);
    let keys = Keyring::new(r.path(), "key file pass");
    let file = keys.export_secret("key file pass", &r.path().join("secret.asc"));
    // Stop the agent: the key file is signed with no GnuPG at all.
    drop(Keyring {
        home: keys.home.clone(),
        fpr: keys.fpr.clone(),
    });
    let before = r.dists();
    let err = r.fail(&[
        "--gpg-key-file",
        &file,
        "--gpg-passphrase",
        "nope",
        "publish",
    ]);
    assert!(
        err.contains("wrong passphrase") && !err.contains("nope"),
        "{err}"
    );
    assert_eq!(r.dists(), before);
    let missing = r.path().join("absent.asc");
    let err = r.fail(&["--gpg-key-file", missing.to_str().unwrap(), "publish"]);
    assert!(
        err.contains("absent.asc") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    r.ok(&[
        "--gpg-key-file",
        &file,
        "--gpg-passphrase",
        "key file pass",
        "publish",
    ]);
    let key = keys.export_public(&r.path().join("key.gpg"));
    apt_reads(&r, &format!("[signed-by={key}]"), &["hello"], Some("hello"));
}

/// apt reads the repository as it was: hello, and no libzstd1.
fn apt_sees_only_hello(r: &Repo, http: &Http) {
    for url in [format!("file:{}", r.bucket().display()), http.url()] {
        let apt = Apt::new(&format!("deb [trusted=yes] {url} stable main\n"));
        apt.update();
        apt.download(&["hello"]);
        let out = apt.run_failing(&["download", "libzstd1"]);
        assert!(out.contains("libzstd1"), "{out}");
    }
}

/// Every file the Release of `dists` lists has the size and SHA256 listed:
/// what a client without by-hash support reads.
fn plain_indices_match_release(dists: &Path) {
    use sha2::Digest;
    let release = std::fs::read_to_string(dists.join("Release")).unwrap();
    let section = release.split("SHA256:\n").nth(1).unwrap();
    let mut checked = 0;
    for line in section.lines().take_while(|l| l.starts_with(' ')) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [digest, size, path] = parts[..] else {
            panic!("{line}")
        };
        if path.ends_with("/Release") {
            continue; // leaf Releases: where this test plants its obstacle
        }
        let bytes = std::fs::read(dists.join(path)).unwrap();
        assert_eq!(bytes.len().to_string(), size, "{path}");
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), digest, "{path}");
        checked += 1;
    }
    assert!(checked > 0);
}

fn assert_failed_before_release(err: &str) {
    assert!(
        err.contains("publish of stable failed after writing ")
            && err.contains("files (Release not updated)"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn a_publish_that_fails_part_way_leaves_apt_reading_the_previous_state() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    let dists = r.bucket().join("dists/stable");
    let release = std::fs::read(dists.join("Release")).unwrap();
    let packages = || std::fs::read_to_string(dists.join("main/binary-amd64/Packages")).unwrap();
    let http = Http::serve(&r.bucket());
    r.add(&[real("libzstd1_1.5.4+dfsg2-5_amd64.deb")]);

    // 1. A new component whose directory cannot be created (a file is in
    // the way): the publish stops while writing by-hash files, before any
    // index is replaced under its usual name.
    r.ok(&["repo", "add-component", "-y", "zextra"]);
    std::fs::write(dists.join("zextra"), "in the way").unwrap();
    assert_failed_before_release(&r.fail(&["publish"]));
    assert_eq!(std::fs::read(dists.join("Release")).unwrap(), release);
    assert!(!packages().contains("Package: libzstd1\n"));
    apt_sees_only_hello(&r, &http);
    std::fs::remove_file(dists.join("zextra")).unwrap();

    // 2. A leaf Release that cannot be replaced (a directory is in its
    // place): the publish stops after every new index is written, just
    // before Release, as a kill there would. The distribution's tree is
    // switched as one unit, so the plain indices are still the ones the
    // old Release lists: no client sees a hash sum mismatch.
    let leaf = dists.join("main/binary-amd64/Release");
    std::fs::remove_file(&leaf).unwrap();
    std::fs::create_dir_all(leaf.join("in-the-way")).unwrap();
    assert_failed_before_release(&r.fail(&["publish"]));
    assert_eq!(std::fs::read(dists.join("Release")).unwrap(), release);
    assert!(!packages().contains("Package: libzstd1\n"));
    plain_indices_match_release(&dists);
    apt_sees_only_hello(&r, &http);

    // Once the obstacle is gone, the next publish brings the new state.
    std::fs::remove_dir_all(&leaf).unwrap();
    r.ok(&["publish"]);
    let apt = Apt::new(&format!(
        "deb [trusted=yes] {} stable main zextra\n",
        http.url()
    ));
    apt.update();
    apt.download(&["hello", "libzstd1"]);
}

#[test]
fn add_with_publish_publishes_and_announces() {
    let r = Repo::new();
    r.setup(&["main"]);
    r.ok(&[
        "add",
        "--publish",
        "-d",
        "stable",
        "-c",
        "main",
        &real("hello_2.10-3_amd64.deb"),
    ]);
    let packages =
        std::fs::read_to_string(r.bucket().join("dists/stable/main/binary-amd64/Packages"))
            .unwrap();
    assert!(packages.contains("Package: hello\n"));
    let log = std::fs::read_to_string(r.path().join("repo/announcements.jsonl")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(r#""action":"publish""#) && l.contains(r#""name":"stable""#)),
        "{log}"
    );
}

#[test]
fn unknown_distribution_is_an_error_and_writes_nothing() {
    let r = Repo::new();
    r.setup(&["main"]);
    let err = r.fail(&["publish", "-d", "stable", "-d", "bogus"]);
    assert!(
        err.contains("bogus") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    assert!(r.dists().is_empty());
}

/// Every path under `dir`, relative, with directories and links included.
fn every_name(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn republishing_leaves_only_what_publish_keeps() {
    let r = Repo::new();
    r.setup(&["main", "extra"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    let first = every_name(&r.bucket());
    for _ in 0..3 {
        r.ok(&["publish"]);
        assert_eq!(
            every_name(&r.bucket()),
            first,
            "an unchanged publish adds nothing"
        );
    }
    assert!(!first.iter().any(|n| n.contains(".tmp-")), "{first:?}");
}

#[test]
fn publish_and_backup_refuse_links_planted_in_the_bucket() {
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    let outside = r.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, r.bucket().join("dists")).unwrap();
    let err = r.fail(&["publish"]);
    assert!(err.contains("does not follow links"), "{err}");
    std::os::unix::fs::symlink(&outside, r.bucket().join("backups")).unwrap();
    let err = r.fail(&["backup", "--to-bucket"]);
    assert!(err.contains("does not follow links"), "{err}");
    assert!(
        every_name(&outside).is_empty(),
        "{:?}",
        every_name(&outside)
    );
}

#[test]
fn verify_checks_inrelease_and_release_gpg_as_apt_reads_them() {
    if !have("gpg") {
        eprintln!("skipping: gpg is not installed");
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    let keys = Keyring::new(r.path(), "pw");
    let file = keys.export_secret("pw", &r.path().join("secret.asc"));
    let signed = |args: &[&str]| {
        let mut a = vec!["--gpg-key-file", file.as_str(), "--gpg-passphrase", "pw"];
        a.extend(args);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| r.cmd().args(args).output().unwrap();
    let out = run(signed(&["publish"]));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(signed(&["verify"]));
    assert!(out.status.success(), "{}", text(&out));

    let dists = r.bucket().join("dists/stable");
    let old_inrelease = std::fs::read(dists.join("InRelease")).unwrap();
    let old_gpg = std::fs::read(dists.join("Release.gpg")).unwrap();
    r.add(&[real("libzstd1_1.5.4+dfsg2-5_amd64.deb")]);
    assert!(run(signed(&["publish"])).status.success());
    let new_inrelease = std::fs::read(dists.join("InRelease")).unwrap();
    let new_gpg = std::fs::read(dists.join("Release.gpg")).unwrap();

    // An InRelease of the previous publish: apt would read its file list.
    std::fs::write(dists.join("InRelease"), &old_inrelease).unwrap();
    let out = run(signed(&["verify"]));
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("InRelease lists other files than Release")
            && stdout.contains("main/binary-amd64/Packages"),
        "{stdout}"
    );
    std::fs::write(dists.join("InRelease"), &new_inrelease).unwrap();

    // A Release.gpg of the previous publish does not sign this Release.
    std::fs::write(dists.join("Release.gpg"), &old_gpg).unwrap();
    let out = run(signed(&["verify"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success()
            && stdout
                .contains("Release.gpg does not verify Release with the configured signing key"),
        "{stdout}"
    );
    std::fs::write(dists.join("Release.gpg"), &new_gpg).unwrap();

    // Signatures by a key other than the configured one.
    let other = Keyring::new(r.path(), "other");
    let other_file = other.export_secret("other", &r.path().join("other.asc"));
    let out = run(vec!["--gpg-key-file".into(), other_file, "verify".into()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success()
            && stdout.contains("InRelease does not verify with the configured signing key")
            && stdout.contains("Release.gpg does not verify"),
        "{stdout}"
    );
    // A malformed InRelease.
    std::fs::write(dists.join("InRelease"), b"Origin: forged\n").unwrap();
    let out = run(signed(&["verify"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("InRelease is not a clear-signed message")
    );
    std::fs::write(dists.join("InRelease"), &new_inrelease).unwrap();
    assert!(run(signed(&["verify"])).status.success());
}

#[test]
fn verify_and_restore_refuse_an_unknown_distribution() {
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    let err = r.fail(&["verify", "-d", "nosuch"]);
    assert!(err.contains("unknown distribution \"nosuch\""), "{err}");
    let backup = r.path().join("b.json");
    std::fs::write(&backup, r.ok(&["backup"])).unwrap();
    let before = std::fs::read_to_string(r.local().join("announcements.jsonl")).unwrap();
    let err = r.fail(&["restore", "-y", "-d", "nosuch", backup.to_str().unwrap()]);
    assert!(err.contains("unknown distribution(s) \"nosuch\""), "{err}");
    let after = std::fs::read_to_string(r.local().join("announcements.jsonl")).unwrap();
    assert_eq!(before, after, "nothing is announced");
    r.ok(&["restore", "-y", "-d", "stable", backup.to_str().unwrap()]);
}

/// The bucket of one publish, held at its first upload (once it has read
/// the state and built every index) until the test lets it go on.
struct PausedAtFirstUpload {
    inner: Box<dyn repoman::store::BlobStore>,
    reached: std::sync::mpsc::Sender<()>,
    resume: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// Whether the bucket switches a distribution's tree as one unit (the
    /// directory bucket), or is written in place (as S3 is).
    atomic: bool,
}

impl repoman::store::BlobStore for PausedAtFirstUpload {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn apt_url(&self) -> String {
        self.inner.apt_url()
    }
    fn setup(&self, o: &repoman::store::BucketSetup) -> repoman::store::StoreResult<()> {
        self.inner.setup(o)
    }
    fn checkup(&self) -> repoman::store::StoreResult<Vec<String>> {
        self.inner.checkup()
    }
    fn put_file(
        &self,
        key: &str,
        path: &Path,
        mode: repoman::store::PutMode,
    ) -> repoman::store::StoreResult<()> {
        let held = self.resume.lock().unwrap().take();
        if let Some(resume) = held {
            self.reached.send(()).unwrap();
            resume.recv().unwrap();
        }
        self.inner.put_file(key, path, mode)
    }
    fn put_bytes(
        &self,
        key: &str,
        bytes: &[u8],
        mode: repoman::store::PutMode,
    ) -> repoman::store::StoreResult<()> {
        self.inner.put_bytes(key, bytes, mode)
    }
    fn read(&self, key: &str, out: &mut dyn std::io::Write) -> repoman::store::StoreResult<()> {
        self.inner.read(key, out)
    }
    fn head(&self, key: &str) -> repoman::store::StoreResult<Option<u64>> {
        self.inner.head(key)
    }
    fn copy(
        &self,
        from: &str,
        to: &str,
        mode: repoman::store::PutMode,
    ) -> repoman::store::StoreResult<()> {
        self.inner.copy(from, to, mode)
    }
    fn list(&self, prefix: &str) -> repoman::store::StoreResult<Vec<repoman::store::ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> repoman::store::StoreResult<()> {
        self.inner.delete(key)
    }
    fn stage_tree(&self, prefix: &str) -> repoman::store::StoreResult<Option<String>> {
        match self.atomic {
            true => self.inner.stage_tree(prefix),
            false => Ok(None),
        }
    }
    fn commit_tree(
        &self,
        prefix: &str,
        staged: &str,
        check: &dyn Fn() -> repoman::store::StoreResult<()>,
    ) -> repoman::store::StoreResult<()> {
        self.inner.commit_tree(prefix, staged, check)
    }
}

#[test]
fn a_later_publish_wins_over_an_earlier_one_that_writes_last() {
    for atomic in [true, false] {
        a_later_publish_wins(atomic);
    }
}

fn a_later_publish_wins(atomic: bool) {
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    // Publish A reads the state (hello only), then is held.
    let backend = repoman::embedded::open(&r.local(), None).unwrap();
    let (reached_tx, reached) = std::sync::mpsc::channel();
    let (resume, resume_rx) = std::sync::mpsc::channel();
    let blobs = PausedAtFirstUpload {
        inner: backend.blobs,
        reached: reached_tx,
        resume: std::sync::Mutex::new(Some(resume_rx)),
        atomic,
    };
    let cat = repoman::catalog::Catalog::new(repoman::store::Backend {
        blobs: Box::new(blobs),
        ..backend
    });
    let a = std::thread::spawn(move || {
        repoman::publish::publish(&cat, &repoman::publish::Request::new(vec![], None), &|_| {})
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
    });
    reached.recv_timeout(Duration::from_secs(120)).unwrap();
    // A package is added, and publish B reads and writes everything.
    r.add(&[real("libzstd1_1.5.4+dfsg2-5_amd64.deb")]);
    r.ok(&["publish"]);
    let dists = r.bucket().join("dists/stable");
    let release_b = std::fs::read(dists.join("Release")).unwrap();
    let packages_b = std::fs::read(dists.join("main/binary-amd64/Packages")).unwrap();
    // A goes on: it must not replace B's newer indices or Release.
    resume.send(()).unwrap();
    let err = a.join().unwrap().unwrap_err();
    assert!(
        err.contains("a later publish of stable") && err.contains("replaced no index"),
        "{err}"
    );
    assert_eq!(std::fs::read(dists.join("Release")).unwrap(), release_b);
    assert_eq!(
        std::fs::read(dists.join("main/binary-amd64/Packages")).unwrap(),
        packages_b
    );
    assert!(String::from_utf8_lossy(&packages_b).contains("Package: libzstd1\n"));
    // The published tree is consistent with the state.
    r.ok(&["verify"]);
    // And the next publish is an ordinary one.
    r.ok(&["publish"]);
}

#[test]
fn source_signatures_are_checked_and_verified_on_request() {
    if !have("gpg") {
        eprintln!("skipping: gpg is not installed");
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    let work = r.path().join("src");
    std::fs::create_dir_all(&work).unwrap();
    for f in [
        "hello_2.10-3.dsc",
        "hello_2.10.orig.tar.gz",
        "hello_2.10.orig.tar.gz.asc",
        "hello_2.10-3.debian.tar.xz",
    ] {
        std::fs::copy(common::real(f), work.join(f)).unwrap();
    }
    let dsc = work.join("hello_2.10-3.dsc");
    let signed = std::fs::read_to_string(&dsc).unwrap();
    let body_start = signed.find("\n\n").unwrap() + 2;
    let body_end = signed.find("\n-----BEGIN PGP SIGNATURE-----").unwrap() + 1;
    let body = signed[body_start..body_end].to_string();
    let add = |extra: &[&str]| {
        let mut args = vec!["add", "-d", "stable", "-c", "main"];
        args.extend(extra);
        args.push(dsc.to_str().unwrap());
        r.run(&args)
    };

    // A signature block that is no signature: refused, signed or not.
    let start = signed.find("-----BEGIN PGP SIGNATURE-----").unwrap();
    let garbled = format!(
        "{}-----BEGIN PGP SIGNATURE-----\n\nnot a signature at all\n-----END PGP SIGNATURE-----\n",
        &signed[..start]
    );
    std::fs::write(&dsc, &garbled).unwrap();
    let out = add(&[]);
    assert!(
        !out.status.success() && text(&out).contains("PGP signature block is malformed"),
        "{}",
        text(&out)
    );

    // With --verify-signatures: the Debian maintainer's key is not in
    // our keyring; an unsigned .dsc is refused; ours verifies.
    let keys = Keyring::new(r.path(), "pw");
    let keyring = keys.export_public(&r.path().join("trusted.gpg"));
    std::fs::write(&dsc, &signed).unwrap();
    let out = add(&["--verify-signatures", &keyring]);
    assert!(
        !out.status.success() && text(&out).contains("no signature verifies with a key of"),
        "{}",
        text(&out)
    );
    std::fs::write(&dsc, &body).unwrap();
    let out = add(&["--verify-signatures", &keyring]);
    assert!(
        !out.status.success() && text(&out).contains("is not signed"),
        "{}",
        text(&out)
    );
    // Nothing was added (a query finding nothing exits 0, as the original).
    let out = r.run(&["query"]);
    assert!(
        out.status.success() && text(&out).contains("no packages found"),
        "{}",
        text(&out)
    );
    let out = keys
        .gpg()
        .args(["--pinentry-mode", "loopback", "--passphrase", "pw"])
        .args(["--local-user", &keys.fpr, "--clearsign", "--output", "-"])
        .arg(&dsc)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&dsc, &out.stdout).unwrap();
    let out = add(&["--verify-signatures", &keyring]);
    assert!(out.status.success(), "{}", text(&out));
    // The config key does the same.
    std::fs::write(&dsc, &signed).unwrap();
    let conf = r.path().join("repoman.conf");
    std::fs::write(&conf, format!("verify-keyring = {keyring}\n")).unwrap();
    let out = r
        .cmd()
        .args(["--config-file", conf.to_str().unwrap()])
        .args([
            "add",
            "-d",
            "stable",
            "-c",
            "main",
            "--overwrite",
            dsc.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && text(&out).contains("no signature verifies"),
        "{}",
        text(&out)
    );
}

impl Apt {
    /// apt reading exactly one deb822 `.sources` file (and no sources.list).
    fn deb822(stanzas: &str) -> Apt {
        let apt = Apt::new("");
        std::fs::write(apt.dir.path().join("parts/repoman.sources"), stanzas).unwrap();
        apt
    }
}

/// `repoman-cli serve` on a free port, stopped on drop.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(r: &Repo, extra: &[&str]) -> Served {
        let mut child = r
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line says where it listens.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stderr.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Served {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// `curl` of a path as written (no normalisation): status, headers, body.
    fn get(&self, path: &str, args: &[&str]) -> (u16, String, Vec<u8>) {
        let out = Command::new("curl")
            .args(["-s", "--path-as-is", "-D", "-"])
            .args(args)
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap();
        let raw = out.stdout;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head.to_ascii_lowercase(), raw[split..].to_vec())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_is_read_by_apt_and_never_leaves_the_bucket() {
    if !apt_available() || !have("curl") {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    let mut files = debs(r.path());
    files.push(real("hello_2.10-3.dsc"));
    r.add(&files);
    r.ok(&["publish"]);
    // A link planted in the bucket, and a secret beside it.
    std::fs::write(r.path().join("secret"), "private").unwrap();
    std::os::unix::fs::symlink(r.path().join("secret"), r.bucket().join("dists/leak")).unwrap();
    std::os::unix::fs::symlink(r.path(), r.bucket().join("up")).unwrap();
    let s = Served::start(&r, &[]);

    let apt = Apt::new(&format!(
        "deb [trusted=yes] {u} stable main\ndeb-src [trusted=yes] {u} stable main\n",
        u = s.url
    ));
    apt.update();
    apt.download(&NAMES);
    apt.source("hello");

    let release = std::fs::read(r.bucket().join("dists/stable/Release")).unwrap();
    let (status, head, body) = s.get("/dists/stable/Release", &[]);
    assert_eq!((status, body.as_slice()), (200, release.as_slice()));
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(head.contains("last-modified:"), "{head}");
    let (status, head, body) = s.get("/dists/stable/Release", &["-I"]);
    assert_eq!(status, 200);
    assert!(
        head.contains(&format!("content-length: {}", release.len())),
        "{head}"
    );
    // (curl -I prints the headers again as its output; no Release text.)
    assert!(!String::from_utf8_lossy(&body).contains("Origin:"));
    // Ranges: a middle slice, a suffix, one past the end.
    let (status, head, body) = s.get("/dists/stable/Release", &["-r", "5-14"]);
    assert_eq!((status, body.as_slice()), (206, &release[5..15]));
    assert!(head.contains(&format!("content-range: bytes 5-14/{}", release.len())));
    let (status, _, body) = s.get("/dists/stable/Release", &["-r", "-7"]);
    assert_eq!(
        (status, body.as_slice()),
        (206, &release[release.len() - 7..])
    );
    let past = format!("{}-", release.len());
    assert_eq!(s.get("/dists/stable/Release", &["-r", &past]).0, 416);
    // Conditional GET.
    let later = "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT";
    let (status, _, body) = s.get("/dists/stable/Release", &["-H", later]);
    assert_eq!((status, body.len()), (304, 0));
    let earlier = "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT";
    assert_eq!(s.get("/dists/stable/Release", &["-H", earlier]).0, 200);
    // The content type of a package.
    let (_, head, _) = s.get("/pool/stable/h/hello/", &[]);
    assert!(
        !head.contains("text/html"),
        "no listing unless asked: {head}"
    );
    let deb = std::fs::read_dir(r.bucket().join("pool/stable/h/hello"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".deb"))
        .unwrap();
    let (status, head, _) = s.get(&format!("/pool/stable/h/hello/{deb}"), &["-I"]);
    assert_eq!(status, 200);
    assert!(
        head.contains("application/vnd.debian.binary-package"),
        "{head}"
    );
    // Nothing outside the bucket, whatever the spelling.
    for path in [
        "/../secret",
        "/dists/../../secret",
        "/%2e%2e/secret",
        "/dists/%2e%2e/%2e%2e/secret",
        "/dists%2f..%2f..%2fsecret",
        "/dists/leak",
        "/up/secret",
        "/up/repo/repoman.sqlite",
    ] {
        let (status, _, body) = s.get(path, &[]);
        assert!(matches!(status, 400 | 404), "{path}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("private"),
            "{path}"
        );
    }
    // Directories are not listed; writes are refused.
    assert_eq!(s.get("/dists/", &[]).0, 404);
    assert_eq!(
        s.get("/dists/stable/Release", &["-X", "PUT", "-d", "x"]).0,
        405
    );
    assert_eq!(s.get("/dists/stable/Release", &["-X", "DELETE"]).0, 405);
    drop(s);

    let s = Served::start(&r, &["--listings"]);
    let (status, head, body) = s.get("/dists/stable/", &[]);
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200);
    assert!(head.contains("text/html"));
    assert!(
        body.contains("href=\"Release\"") && body.contains("href=\"main/\""),
        "{body}"
    );
    assert!(!s.get("/dists/", &[]).2.windows(4).any(|w| w == b"leak"));
}

#[test]
fn serve_refuses_a_remote_bucket_and_a_missing_one() {
    let r = Repo::new();
    let err = r.fail(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(
        err.contains("not a directory") || err.contains("setup"),
        "{err}"
    );
}

#[test]
fn sources_stanza_is_all_apt_needs() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    let mut files = debs(r.path());
    files.push(real("hello_2.10-3.dsc"));
    r.add(&files);

    // Unsigned: Trusted: yes.
    r.ok(&["publish"]);
    let unsigned = r.ok(&["sources"]);
    assert!(unsigned.contains("\nTrusted: yes\n"), "{unsigned}");
    let apt = Apt::deb822(&unsigned);
    apt.update();
    apt.download(&NAMES);
    apt.source("hello");

    // Signed: the stanza publish prints, fed to apt as it is, with no other
    // trusted key; and the exported key file named by path.
    let keys = Keyring::new(r.path(), "");
    let signing = ["--gpg-home", keys.home(), "--gpg-signer", &keys.fpr];
    let stanza = r.ok(&[&signing[..], &["publish"]].concat());
    assert_eq!(
        stanza,
        r.ok(&[&signing[..], &["sources", "-d", "stable"]].concat())
    );
    assert!(stanza.contains("Architectures: amd64 arm64\n"), "{stanza}");
    let apt = Apt::deb822(&stanza);
    apt.update();
    apt.download(&NAMES);
    apt.source("hello");

    let key = r.path().join("exported.gpg");
    r.ok(&[
        &signing[..],
        &["key", "export", "--binary", "-o", key.to_str().unwrap()],
    ]
    .concat());
    let by_path = r.ok(&[
        &signing[..],
        &[
            "sources",
            "--key-path",
            key.to_str().unwrap(),
            "-a",
            "amd64",
        ],
    ]
    .concat());
    assert!(by_path.contains(&format!("Signed-By: {}\n", key.display())));
    assert!(by_path.contains("Architectures: amd64\n"), "{by_path}");
    let apt = Apt::deb822(&by_path);
    apt.update();
    apt.download(&NAMES);

    // A stanza with another key is refused by apt: the key really is used.
    let other = Keyring::new(r.path(), "");
    let armored = r.ok(&[
        "--gpg-home",
        other.home(),
        "--gpg-signer",
        &other.fpr,
        "key",
        "export",
    ]);
    assert!(armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let wrong = r.ok(&[
        "--gpg-home",
        other.home(),
        "--gpg-signer",
        &other.fpr,
        "sources",
    ]);
    let apt = Apt::deb822(&wrong);
    let out = apt.run_failing(&["update", "-o", "APT::Update::Error-Mode=any"]);
    assert!(
        out.contains("NO_PUBKEY") || out.contains("not signed"),
        "{out}"
    );

    // Unknown names are errors, not empty output.
    assert!(r.fail(&["sources", "-d", "nosuch"]).contains("nosuch"));
    assert!(r.fail(&["sources", "-a", "s390x"]).contains("s390x"));
    assert!(r.fail(&["key", "export"]).contains("no signing key"));
}

/// The by-hash keys under dists/stable that its Release names (its leaf
/// Release files are listed too, but never by hash).
fn named_by_hash(r: &Repo) -> Vec<String> {
    let release = std::fs::read_to_string(r.bucket().join("dists/stable/Release")).unwrap();
    let mut out = Vec::new();
    let mut algo = "";
    for line in release.lines() {
        match line.strip_prefix(' ') {
            None => algo = line.trim_end_matches(':'),
            Some(entry) => {
                let f: Vec<&str> = entry.split_whitespace().collect();
                let (dir, name) = f[2].rsplit_once('/').unwrap();
                if name != "Release" {
                    out.push(format!("{dir}/by-hash/{algo}/{}", f[0]));
                }
            }
        }
    }
    out.sort();
    out
}

fn by_hash_files(r: &Repo) -> Vec<String> {
    let mut out: Vec<String> = every_name(&r.bucket().join("dists/stable"))
        .into_iter()
        .filter(|n| n.contains("/by-hash/") && n.matches('/').count() == 4)
        .collect();
    out.sort();
    out
}

#[test]
fn a_zero_by_hash_retention_keeps_only_current_files_and_apt_updates() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    let first = by_hash_files(&r);
    let apt = Apt::new(&format!(
        "deb [trusted=yes] file:{} stable main\n",
        r.bucket().display()
    ));
    apt.update();
    r.add(&debs(r.path()));
    let out = r.run(&["--by-hash-retention", "0", "publish"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("old by-hash files deleted"),
        "{}",
        text(&out)
    );
    assert_eq!(by_hash_files(&r), named_by_hash(&r));
    assert!(first.iter().any(|f| !by_hash_files(&r).contains(f)));
    apt.update();
    apt.download(&NAMES);
}

#[test]
fn the_default_retention_keeps_the_previous_generation_for_clients_mid_update() {
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    let first = named_by_hash(&r);
    r.add(&[real("sensible-utils_0.0.17+nmu1_all.deb")]);
    r.ok(&["publish"]);
    let second = named_by_hash(&r);
    assert_ne!(first, second);
    let now = by_hash_files(&r);
    for f in first.iter().chain(&second) {
        assert!(now.contains(f), "{f} was deleted: {now:?}");
    }
    let record =
        std::fs::read_to_string(r.bucket().join("dists/stable/by-hash-superseded")).unwrap();
    assert!(!record.is_empty());
}

fn release_field(r: &Repo, name: &str) -> Option<String> {
    std::fs::read_to_string(r.bucket().join("dists/stable/Release"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(String::from))
}

#[test]
fn release_settings_are_accepted_by_apt_and_refresh_re_signs() {
    if !apt_available() {
        return;
    }
    let r = Repo::new();
    r.setup(&["main"]);
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    for args in [
        ["set-suite", "stable", "production"],
        ["set-not-automatic", "stable", "yes"],
        ["set-but-automatic-upgrades", "stable", "yes"],
        ["set-valid-for", "stable", "7d"],
    ] {
        r.ok(&["repo", args[0], args[1], args[2], "-y"]);
    }
    let err = r.fail(&["repo", "set-valid-for", "stable", "soon", "-y"]);
    assert!(err.contains("valid_for:stable"), "{err}");
    let err = r.fail(&["repo", "set-suite", "nowhere", "x", "-y"]);
    assert!(err.contains("nowhere"), "{err}");
    let keys = Keyring::new(r.path(), "pw");
    let file = keys.export_secret("pw", &r.path().join("secret.asc"));
    let signed = |extra: &[&str]| {
        let mut args = vec!["--gpg-key-file", &file, "--gpg-passphrase", "pw", "publish"];
        args.extend_from_slice(extra);
        r.ok(&args);
    };
    signed(&[]);
    assert_eq!(release_field(&r, "Suite").as_deref(), Some("production"));
    assert_eq!(release_field(&r, "Codename").as_deref(), Some("stable"));
    assert_eq!(release_field(&r, "NotAutomatic").as_deref(), Some("yes"));
    assert_eq!(
        release_field(&r, "ButAutomaticUpgrades").as_deref(),
        Some("yes")
    );
    assert!(release_field(&r, "Valid-Until").is_some());
    // Clients name the codename (the directory); apt takes a Release whose
    // Suite differs as long as its Codename matches.
    let key = keys.export_public(&r.path().join("key.gpg"));
    let sources = format!(
        "deb [signed-by={key}] file:{} stable main\n",
        r.bucket().display()
    );
    let apt = Apt::new(&sources);
    apt.update();
    apt.download(&["hello"]);

    // A Release valid for one second expires; apt refuses it, and a
    // refresh (no index rebuilt) makes it acceptable again.
    r.ok(&["repo", "set-valid-for", "stable", "1s", "-y"]);
    signed(&[]);
    let before: BTreeMap<PathBuf, Vec<u8>> = r
        .dists()
        .into_iter()
        .filter(|(p, _)| {
            !p.ends_with("Release") && !p.ends_with("InRelease") && !p.ends_with("Release.gpg")
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let expired = Apt::new(&sources);
    let out = expired.run_failing(&["update"]);
    assert!(out.contains("expired"), "{out}");
    r.ok(&["repo", "set-valid-for", "stable", "1h", "-y"]);
    let date = release_field(&r, "Date");
    signed(&["--refresh"]);
    assert_ne!(release_field(&r, "Date"), date);
    let after: BTreeMap<PathBuf, Vec<u8>> = r
        .dists()
        .into_iter()
        .filter(|(p, _)| before.contains_key(p))
        .collect();
    assert_eq!(after, before, "a refresh rebuilds no index");
    expired.update();
    expired.download(&["hello"]);
}

#[test]
fn refresh_refuses_a_release_that_does_not_match_the_bucket() {
    let r = Repo::new();
    r.setup(&["main"]);
    let err = r.fail(&["publish", "--refresh"]);
    assert!(err.contains("never been published"), "{err}");
    r.add(&[real("hello_2.10-3_amd64.deb")]);
    r.ok(&["publish"]);
    let packages = r.bucket().join("dists/stable/main/binary-amd64/Packages");
    std::fs::write(&packages, b"Package: evil\n").unwrap();
    let release = std::fs::read(r.bucket().join("dists/stable/Release")).unwrap();
    let err = r.fail(&["publish", "--refresh"]);
    assert!(err.contains("not the size the Release lists"), "{err}");
    assert_eq!(
        std::fs::read(r.bucket().join("dists/stable/Release")).unwrap(),
        release
    );
    r.ok(&["repo", "add-component", "extra", "-y"]);
    let err = r.fail(&["publish", "--refresh"]);
    assert!(err.contains("configuration changed"), "{err}");
}

/// Every file under dists/ with its inode and modification time: a file a
/// publish wrote (a new file renamed into place) has a new inode, and one
/// it kept the same (the staged tree starts as hard links of the old one).
fn dists_identity(r: &Repo) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let dists = r.bucket().join("dists");
    every_name(&dists)
        .into_iter()
        .filter_map(|n| {
            let m = std::fs::metadata(dists.join(&n)).unwrap();
            m.is_file().then(|| (n, (m.ino(), m.modified().unwrap())))
        })
        .collect()
}

/// The files whose identity differs between `a` and `b`, and those only
/// in one of them.
fn rewritten(
    a: &BTreeMap<String, (u64, std::time::SystemTime)>,
    b: &BTreeMap<String, (u64, std::time::SystemTime)>,
) -> Vec<String> {
    let mut out: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(a.keys().filter(|k| !b.contains_key(*k)).cloned());
    out.sort();
    out
}

#[test]
fn publish_writes_only_what_changed_and_apt_follows() {
    let r = Repo::new();
    r.setup(&["main", "extra"]);
    let files = debs(r.path());
    // hello and libzstd1 (amd64) now, rmtest-epoch (amd64) later.
    r.add(&[files[0].clone(), files[2].clone()]);
    r.ok(&["publish"]);
    let first = dists_identity(&r);
    let out = r.run(&["publish"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("stable: nothing changed since its last publish, nothing written"),
        "{}",
        text(&out)
    );
    assert_eq!(rewritten(&first, &dists_identity(&r)), Vec::<String>::new());
    let json: serde_json::Value = serde_json::from_str(&r.ok(&["publish", "-f", "json"])).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"distribution": "stable", "changed": false, "signed": false,
            "files_written": 0, "indices_rewritten": [], "by_hash_deleted": 0}])
    );
    assert_eq!(rewritten(&first, &dists_identity(&r)), Vec::<String>::new());

    // One package more in main/binary-amd64: only that index (both forms,
    // every by-hash name), the retention record and Release change.
    r.add(&[files[3].clone()]);
    let json: serde_json::Value = serde_json::from_str(&r.ok(&["publish", "-f", "json"])).unwrap();
    assert_eq!(
        json[0]["indices_rewritten"],
        serde_json::json!(["main/binary-amd64/Packages"])
    );
    assert_eq!(json[0]["changed"], true);
    let second = dists_identity(&r);
    let changed = rewritten(&first, &second);
    let outside: Vec<&String> = changed
        .iter()
        .filter(|k| !k.starts_with("stable/main/binary-amd64/"))
        .collect();
    assert_eq!(
        outside,
        ["stable/Release", "stable/by-hash-superseded"],
        "{changed:#?}"
    );
    let inside = changed.len() - outside.len();
    assert_eq!(inside, 10, "{changed:#?}");
    if apt_available() {
        let apt = Apt::new(&format!(
            "deb [trusted=yes] file:{} stable main extra\n",
            r.bucket().display()
        ));
        apt.update();
        apt.download(&["hello", "libzstd1", "rmtest-epoch"]);
    }

    // --force writes every file the Release names again, by-hash names
    // included (those of the first Release, kept for the retention
    // window, are no longer named).
    r.ok(&["publish", "--force"]);
    let forced = rewritten(&second, &dists_identity(&r));
    let named: Vec<String> = named_by_hash(&r)
        .into_iter()
        .map(|k| format!("stable/{k}"))
        .collect();
    for k in second.keys() {
        if !k.contains("/by-hash/") || named.contains(k) {
            assert!(forced.contains(k), "{k} not rewritten by --force");
        }
    }
    assert!(r
        .fail(&["publish", "--force", "--refresh"])
        .contains("cannot be used with"));
}
