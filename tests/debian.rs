//! The Debian formats layer against real Debian packages and the real dpkg
//! tools: fields and digests of .debs (checked with dpkg-deb, md5sum,
//! sha1sum, sha256sum, stat), .dsc verification, refusal of damaged input,
//! and version ordering checked against `dpkg --compare-versions`.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};

use repoman::debian::deb::{read_deb, DebInfo};
use repoman::debian::dsc::read_dsc;
use repoman::debian::version;

mod tools {
    //! Running the real tools the tests compare against.
    use std::path::{Path, PathBuf};
    use std::process::Command;

    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/debian")
            .join(name)
    }

    /// Runs a command, which must succeed, and returns its stdout.
    pub fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// The digest a coreutils tool (md5sum, sha1sum, sha256sum) prints.
    pub fn digest(tool: &str, file: &Path) -> String {
        let out = run(Command::new(tool).arg(file));
        out.split_whitespace().next().expect("digest").to_string()
    }

    pub fn stat_size(file: &Path) -> u64 {
        run(Command::new("stat").args(["-c", "%s"]).arg(file))
            .trim()
            .parse()
            .expect("size")
    }

    /// A field as `dpkg-deb --field` prints it (empty when absent).
    pub fn deb_field(deb: &Path, field: &str) -> String {
        run(Command::new("dpkg-deb").arg("--field").arg(deb).arg(field))
            .trim_end()
            .to_string()
    }

    /// The package's control file exactly, as `dpkg-deb --info deb control`
    /// prints it.
    pub fn deb_control(deb: &Path) -> String {
        run(Command::new("dpkg-deb")
            .arg("--info")
            .arg(deb)
            .arg("control"))
    }

    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/build-debs.sh")
    }

    /// Builds packages with fixtures/build-debs.sh; returns their paths.
    pub fn build_debs(
        out: &Path,
        nocheck: bool,
        compressions: &str,
        fields: &[&str],
    ) -> Vec<PathBuf> {
        let mut cmd = Command::new(script());
        if nocheck {
            cmd.arg("--nocheck");
        }
        cmd.arg(out).args(fields).env("COMPRESSIONS", compressions);
        run(&mut cmd).lines().map(PathBuf::from).collect()
    }

    /// Builds a source package with dpkg-source; returns the .dsc path.
    pub fn build_source(out: &Path, source: &str, version: &str) -> PathBuf {
        let out = run(Command::new(script())
            .arg("--source")
            .arg(out)
            .arg(format!("Source={source}"))
            .arg(format!("Version={version}")));
        PathBuf::from(out.trim())
    }
}

use tools::*;

/// Every field and digest of a .deb, compared with what the tools say.
fn assert_matches_tools(deb: &Path, info: &DebInfo) {
    assert_eq!(info.package, deb_field(deb, "Package"), "{}", deb.display());
    assert_eq!(info.version, deb_field(deb, "Version"));
    assert_eq!(info.architecture, deb_field(deb, "Architecture"));
    let source = deb_field(deb, "Source");
    let source = source.split_whitespace().next().map(str::to_string);
    assert_eq!(info.source, source);
    let mut control = deb_control(deb);
    while control.ends_with("\n\n") {
        control.pop();
    }
    assert_eq!(info.control, control);
    assert!(info.control.ends_with('\n') && !info.control.ends_with("\n\n"));
    assert_eq!(info.md5, digest("md5sum", deb));
    assert_eq!(info.sha1, digest("sha1sum", deb));
    assert_eq!(info.sha256, digest("sha256sum", deb));
    assert_eq!(info.size, stat_size(deb));
}

#[test]
fn real_debian_packages_read_like_dpkg_deb_and_coreutils_see_them() {
    let expected = [
        ("hello_2.10-3_amd64.deb", "hello", "2.10-3", "amd64", None),
        (
            "sensible-utils_0.0.17+nmu1_all.deb",
            "sensible-utils",
            "0.0.17+nmu1",
            "all",
            None,
        ),
        (
            "libzstd1_1.5.4+dfsg2-5_amd64.deb",
            "libzstd1",
            "1.5.4+dfsg2-5",
            "amd64",
            Some("libzstd"),
        ),
    ];
    for (file, package, version, arch, source) in expected {
        let path = fixture(file);
        let info = read_deb(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.package, package);
        assert_eq!(info.version, version);
        assert_eq!(info.architecture, arch);
        assert_eq!(info.source.as_deref(), source);
        assert!(info.control.starts_with(&format!("Package: {package}\n")));
        assert_matches_tools(&path, &info);
    }
}

#[test]
fn built_packages_read_back_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let debs = build_debs(
        dir.path(),
        false,
        "gzip xz zstd none",
        &[
            "Package=repoman-test",
            "Version=2:1.5~rc1-0+deb12u1",
            "Architecture=amd64",
            "Source=repoman-src (1.5~rc1-0)",
            "Depends=libc6 (>= 2.34), libzstd1",
        ],
    );
    assert_eq!(debs.len(), 4);
    for deb in &debs {
        let info = read_deb(deb).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.package, "repoman-test");
        assert_eq!(info.version, "2:1.5~rc1-0+deb12u1");
        assert_eq!(info.source.as_deref(), Some("repoman-src"));
        assert!(info
            .control
            .contains("\nDepends: libc6 (>= 2.34), libzstd1\n"));
        assert_matches_tools(deb, &info);
    }
    // Each compression really was used: the control member's name says so.
    let members: Vec<String> = debs
        .iter()
        .map(|d| run(std::process::Command::new("ar").arg("t").arg(d)))
        .collect();
    for (members, suffix) in members.iter().zip([
        "control.tar.gz",
        "control.tar.xz",
        "control.tar.zst",
        "control.tar\n",
    ]) {
        assert!(members.contains(suffix), "{members}");
    }
}

/// Asserts `result` is an error whose one-line message names `path` and
/// contains `needle`.
fn assert_refused<T: std::fmt::Debug, E: std::fmt::Display>(
    result: Result<T, E>,
    path: &Path,
    needle: &str,
) {
    let message = result.expect_err("must be refused").to_string();
    assert!(
        message.starts_with(&format!("{}: ", path.display())),
        "message does not name {}: {message}",
        path.display()
    );
    assert!(
        message.contains(needle),
        "expected {needle:?} in: {message}"
    );
    assert!(!message.contains('\n'), "not one line: {message}");
}

#[test]
fn every_truncation_of_a_package_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let deb = &build_debs(dir.path(), false, "gzip", &[])[0];
    let bytes = fs::read(deb).unwrap();
    let cut = dir.path().join("cut.deb");
    fs::write(&cut, b"").unwrap();
    assert_refused(read_deb(&cut), &cut, "not a Debian package (no ar header)");
    for len in 1..bytes.len() {
        // A fresh file each time: rewriting one in place makes ext4 flush.
        let cut = dir.path().join(format!("cut{len}.deb"));
        fs::write(&cut, &bytes[..len]).unwrap();
        assert_refused(read_deb(&cut), &cut, "truncated archive");
        fs::remove_file(&cut).unwrap();
    }
    // The real package too, at a few offsets inside each member.
    let real = fs::read(fixture("libzstd1_1.5.4+dfsg2-5_amd64.deb")).unwrap();
    for len in [
        4,
        8,
        40,
        68,
        72,
        100,
        132,
        1000,
        3000,
        real.len() / 2,
        real.len() - 1,
    ] {
        fs::write(&cut, &real[..len]).unwrap();
        assert_refused(read_deb(&cut), &cut, "truncated archive");
    }
}

#[test]
fn every_damaged_byte_of_a_compressed_control_member_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    // gzip does not check its header's time and OS bytes (the first ten);
    // xz checks every byte. zstd as dpkg writes it has no checksum, and a
    // plain tar has none, so they cannot be held to this.
    for (compression, unchecked_prefix) in [("gzip", 10), ("xz", 0)] {
        let deb = &build_debs(dir.path(), false, compression, &[])[0];
        let bytes = fs::read(deb).unwrap();
        // The control member follows the global header (8 bytes) and the
        // debian-binary member (60-byte header, 4 bytes of data).
        let header = &bytes[72..132];
        let size: usize = std::str::from_utf8(&header[48..58])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(header.starts_with(b"control.tar"));
        for offset in 132 + unchecked_prefix..132 + size {
            let mut copy = bytes.clone();
            copy[offset] ^= 0x55;
            // A fresh file each time: rewriting one in place makes ext4 flush.
            let damaged = dir
                .path()
                .join(format!("damaged-{compression}-{offset}.deb"));
            fs::write(&damaged, &copy).unwrap();
            let result = read_deb(&damaged);
            assert!(
                result.is_err(),
                "{compression}: damage at {offset} went unnoticed"
            );
            assert_refused(result, &damaged, "");
            fs::remove_file(&damaged).unwrap();
        }
    }
}

#[test]
fn files_that_are_not_packages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("hello.deb");
    fs::write(&text, "Package: hello\n").unwrap();
    assert_refused(
        read_deb(&text),
        &text,
        "not a Debian package (no ar header)",
    );
    let tarball = fixture("hello_2.10.orig.tar.gz");
    assert_refused(read_deb(&tarball), &tarball, "no ar header");
    let missing = dir.path().join("absent.deb");
    assert_refused(read_deb(&missing), &missing, "cannot read");

    // An ar archive, but not a Debian package.
    let member = dir.path().join("member.txt");
    fs::write(&member, "x").unwrap();
    let archive = dir.path().join("lib.deb");
    run(std::process::Command::new("ar")
        .arg("rc")
        .arg(&archive)
        .arg(&member));
    assert_refused(
        read_deb(&archive),
        &archive,
        "first member is \"member.txt\"",
    );
}

#[test]
fn packages_with_bad_control_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 9] = [
        (&["Version="], "control file has no Version field"),
        (&["Package="], "control file has no Package field"),
        (&["Architecture="], "control file has no Architecture field"),
        (&["Version=1.0 beta"], "invalid Debian version \"1.0 beta\""),
        (&["Version=1.0_1"], "invalid Debian version \"1.0_1\""),
        (&["Package=Foo_Bar"], "invalid package name \"Foo_Bar\""),
        (&["Architecture=AMD64"], "invalid architecture \"AMD64\""),
        (
            &["Architecture=source"],
            "architecture \"source\" is not allowed",
        ),
        (
            &["Architecture=linux-any"],
            "architecture \"linux-any\" is not allowed",
        ),
    ];
    for (i, (fields, needle)) in cases.iter().enumerate() {
        let out = dir.path().join(i.to_string());
        for deb in build_debs(&out, true, "gzip zstd", fields) {
            assert_refused(read_deb(&deb), &deb, needle);
        }
    }
}

/// The control paragraph and ar layout of a package, written by hand so a
/// test can put anything in the data member.
fn write_deb_with_data(path: &Path, data_len: u64) {
    use std::io::Write;
    let control = b"Package: big\nVersion: 1.0\nArchitecture: all\nDescription: big\n";
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        Default::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(control.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "./control", &control[..])
        .unwrap();
    let control_tar = tar.into_inner().unwrap().finish().unwrap();
    let member = |name: &str, size: u64| {
        format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
            0, 0, 0, 100644
        )
    };
    let mut f = fs::File::create(path).unwrap();
    f.write_all(b"!<arch>\n").unwrap();
    f.write_all(member("debian-binary", 4).as_bytes()).unwrap();
    f.write_all(b"2.0\n").unwrap();
    f.write_all(member("control.tar.gz", control_tar.len() as u64).as_bytes())
        .unwrap();
    f.write_all(&control_tar).unwrap();
    if control_tar.len() % 2 == 1 {
        f.write_all(b"\n").unwrap();
    }
    f.write_all(member("data.tar", data_len).as_bytes())
        .unwrap();
    // The data itself is a hole: zeros that cost no disk space.
    let end = f.metadata().unwrap().len() + data_len;
    f.set_len(end).unwrap();
}

/// The process's peak resident set size, in kB, since the last reset.
fn peak_rss_kb() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Reads the package named by `REPOMAN_BIG_DEB` and prints how much the
/// peak RSS grew; run in a child process by the test below, so no other
/// test's allocations are counted.
#[test]
#[ignore = "run by a_large_package_is_read_in_small_memory"]
fn read_big_deb_and_report_memory() {
    let Some(deb) = std::env::var_os("REPOMAN_BIG_DEB") else {
        return;
    };
    // Reset the peak so it measures only what follows (Linux clear_refs).
    fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss_kb();
    let info = read_deb(Path::new(&deb)).unwrap_or_else(|e| panic!("{e}"));
    let grown_kb = peak_rss_kb().saturating_sub(before);
    println!(
        "package={} size={} grown_kb={grown_kb}",
        info.package, info.size
    );
}

#[test]
fn a_large_package_is_read_in_small_memory() {
    const DATA: u64 = 96 << 20;
    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join("big_1.0_all.deb");
    write_deb_with_data(&deb, DATA);
    let out = run(std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "read_big_deb_and_report_memory",
            "--ignored",
            "--nocapture",
        ])
        .env("REPOMAN_BIG_DEB", &deb));
    let report = out
        .lines()
        .find(|l| l.starts_with("package="))
        .unwrap_or_else(|| panic!("no report in: {out}"));
    let size = fs::metadata(&deb).unwrap().len();
    assert!(
        report.starts_with(&format!("package=big size={size} ")),
        "{report}"
    );
    let grown_kb: u64 = report.rsplit('=').next().unwrap().parse().unwrap();
    assert!(
        grown_kb < 16 * 1024,
        "reading a {} MB package grew the peak RSS by {grown_kb} kB",
        DATA >> 20
    );
}

#[test]
fn the_real_signed_source_package_verifies() {
    let dsc = fixture("hello_2.10-3.dsc");
    let info = read_dsc(&dsc).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.source, "hello");
    assert_eq!(info.version, "2.10-3");
    let listed = [
        "hello_2.10.orig.tar.gz",
        "hello_2.10.orig.tar.gz.asc",
        "hello_2.10-3.debian.tar.xz",
    ];
    let names: Vec<_> = info.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, listed);
    for file in &info.files {
        let path = fixture(&file.name);
        assert_eq!(file.size, stat_size(&path));
        assert_eq!(file.md5.as_deref(), Some(digest("md5sum", &path).as_str()));
        assert_eq!(
            file.sha1.as_deref(),
            Some(digest("sha1sum", &path).as_str())
        );
        assert_eq!(
            file.sha256.as_deref(),
            Some(digest("sha256sum", &path).as_str())
        );
    }
    assert_eq!(info.file_names()[0], "hello_2.10-3.dsc");
    assert_eq!(info.dsc_file.name, "hello_2.10-3.dsc");
    assert_eq!(info.dsc_file.size, stat_size(&dsc));
    assert_eq!(info.dsc_file.md5, Some(digest("md5sum", &dsc)));
    assert_eq!(info.dsc_file.sha1, Some(digest("sha1sum", &dsc)));
    assert_eq!(info.dsc_file.sha256, Some(digest("sha256sum", &dsc)));
    assert_eq!(&info.file_names()[1..], listed);
    assert_eq!(info.paths()[0], dsc);
    assert_eq!(info.paths()[3], fixture("hello_2.10-3.debian.tar.xz"));

    // The stored text: the signed paragraph, without armor, with the .dsc
    // listed last in each checksum field (as apt-repoman stored it).
    let size = stat_size(&dsc);
    let control = &info.control;
    assert!(
        control.starts_with("Format: 3.0 (quilt)\nSource: hello\n"),
        "{control}"
    );
    assert!(!control.contains("PGP"), "{control}");
    assert!(control.ends_with('\n') && !control.ends_with("\n\n"));
    for (field, tool) in [
        ("Checksums-Sha1", "sha1sum"),
        ("Checksums-Sha256", "sha256sum"),
        ("Files", "md5sum"),
    ] {
        let own = format!(" {} {size} hello_2.10-3.dsc", digest(tool, &dsc));
        let block = field_block(control, field);
        assert_eq!(
            block.lines().last(),
            Some(own.as_str()),
            "{field} in {control}"
        );
        assert_eq!(
            block.lines().count(),
            5,
            "{field}: the three files and the .dsc"
        );
    }
    // Everything else is the signed text unchanged.
    let original = fs::read_to_string(&dsc).unwrap();
    let without_own: String = control
        .lines()
        .filter(|l| !l.ends_with(" hello_2.10-3.dsc"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(original.contains(&without_own), "{without_own}");
}

/// The lines of one field (its first line and its continuation lines).
fn field_block(text: &str, field: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(' ') {
            if inside {
                out.push_str(line);
                out.push('\n');
            }
        } else {
            inside = line.starts_with(&format!("{field}:"));
            if inside {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn a_source_package_built_by_dpkg_source_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let dsc = build_source(dir.path(), "repoman-src", "1:2.0~beta1-3");
    let info = read_dsc(&dsc).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.source, "repoman-src");
    assert_eq!(info.version, "1:2.0~beta1-3");
    assert_eq!(
        info.file_names(),
        [
            "repoman-src_2.0~beta1-3.dsc",
            "repoman-src_2.0~beta1.orig.tar.gz",
            "repoman-src_2.0~beta1-3.debian.tar.xz"
        ]
    );
    for path in info.paths() {
        assert!(path.is_file(), "{}", path.display());
    }
}

/// A copy of the hello source package in a fresh directory.
fn hello_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "hello_2.10-3.dsc",
        "hello_2.10.orig.tar.gz",
        "hello_2.10.orig.tar.gz.asc",
        "hello_2.10-3.debian.tar.xz",
    ] {
        fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    let dsc = dir.path().join("hello_2.10-3.dsc");
    (dir, dsc)
}

#[test]
fn source_packages_with_missing_or_damaged_files_are_refused() {
    let (dir, dsc) = hello_copy();
    fs::remove_file(dir.path().join("hello_2.10.orig.tar.gz.asc")).unwrap();
    assert_refused(
        read_dsc(&dsc),
        &dsc,
        "hello_2.10.orig.tar.gz.asc is missing",
    );

    let (dir, dsc) = hello_copy();
    fs::write(dir.path().join("hello_2.10.orig.tar.gz"), b"twelve bytes").unwrap();
    assert_refused(
        read_dsc(&dsc),
        &dsc,
        "hello_2.10.orig.tar.gz is 12 bytes, the .dsc says 725946",
    );

    // Same size, different content: the digests give it away.
    let (dir, dsc) = hello_copy();
    let tarball = dir.path().join("hello_2.10-3.debian.tar.xz");
    let mut bytes = fs::read(&tarball).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&tarball, &bytes).unwrap();
    let actual = digest("md5sum", &tarball);
    assert_refused(
        read_dsc(&dsc),
        &dsc,
        &format!("hello_2.10-3.debian.tar.xz has md5 {actual}, the .dsc says 27ab798c1d8d9048ffc8127e9b8dbfca"),
    );

    // Only the SHA-256 listed is wrong (the signature is not verified, so
    // editing the signed text is possible; the digests still must match).
    let (_dir, dsc) = hello_copy();
    let good = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
    let bad = "41e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";
    let text = fs::read_to_string(&dsc).unwrap().replace(good, bad);
    fs::write(&dsc, text).unwrap();
    assert_refused(
        read_dsc(&dsc),
        &dsc,
        &format!("hello_2.10.orig.tar.gz has sha256 {good}, the .dsc says {bad}"),
    );
}

/// Writes an unsigned .dsc listing `name` with `content`'s real digests.
fn dsc_listing(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let file = dir.join("content");
    fs::write(&file, content).unwrap();
    let (md5, sha1, sha256) = (
        digest("md5sum", &file),
        digest("sha1sum", &file),
        digest("sha256sum", &file),
    );
    let size = content.len();
    let dsc = dir.join("xy_1.0.dsc");
    fs::write(
        &dsc,
        format!(
            "Format: 3.0 (native)\nSource: xy\nVersion: 1.0\n\
             Checksums-Sha1:\n {sha1} {size} {name}\nChecksums-Sha256:\n {sha256} {size} {name}\n\
             Files:\n {md5} {size} {name}\n"
        ),
    )
    .unwrap();
    dsc
}

#[test]
fn file_names_that_leave_the_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("inner");
    fs::create_dir(&inner).unwrap();
    // A real file at each place the names point to, with the listed digests:
    // only the name check stands between the .dsc and these files.
    let content = b"secret";
    fs::write(dir.path().join("x_1.0.tar.xz"), content).unwrap();
    fs::create_dir(inner.join("sub")).unwrap();
    fs::write(inner.join("sub/x_1.0.tar.xz"), content).unwrap();
    for name in [
        "../x_1.0.tar.xz",
        "sub/x_1.0.tar.xz",
        "/etc/hostname",
        "..",
        "sub\\x",
    ] {
        let dsc = dsc_listing(&inner, name, content);
        assert_refused(read_dsc(&dsc), &dsc, "invalid file name");
    }
    // The same file under a plain name is accepted.
    fs::write(inner.join("x_1.0.tar.xz"), content).unwrap();
    let dsc = dsc_listing(&inner, "x_1.0.tar.xz", content);
    let info = read_dsc(&dsc).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.file_names(), ["xy_1.0.dsc", "x_1.0.tar.xz"]);
}

#[test]
fn malformed_source_descriptions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        ("Source: xy\nVersion: 1.0\n", "has no Files field"),
        ("Version: 1.0\nFiles:\n 00 1 a\n", "has no Source field"),
        (
            "Source: X\nVersion: 1.0\nFiles:\n",
            "invalid package name \"X\"",
        ),
        (
            "Source: xy\nVersion: 1 0\nFiles:\n",
            "invalid Debian version \"1 0\"",
        ),
        (
            "Source: xy\nVersion: 1.0\nFiles:\n nothex 1 a\n",
            "is not a md5 digest",
        ),
        (
            "Source: xy\nVersion: 1.0\nFiles:\n d41d8cd98f00b204e9800998ecf8427e x a\n",
            "\"x\" is not a size",
        ),
        (
            "Source: xy\nVersion: 1.0\nFiles:\n d41d8cd98f00b204e9800998ecf8427e 0 a\n\
             Checksums-Sha1:\n da39a3ee5e6b4b0d3255bfef95601890afd80709 0 b\n",
            "b is not listed in Files",
        ),
        ("Source: xy\nVersion: 1.0\nbogus line\n", "line 3"),
        (
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSource: xy\nVersion: 1.0\n",
            "no signature block",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let dsc = write(&format!("case{i}.dsc"), text);
        assert_refused(read_dsc(&dsc), &dsc, needle);
    }
}

mod oracle {
    //! Version ordering checked against `dpkg --compare-versions`.
    //!
    //! A seeded generator makes a few thousand versions (epochs, tildes,
    //! letters, digit runs with leading zeros, '+', '.', '-', and some with
    //! characters dpkg only warns about). They are sorted with our order and
    //! every adjacent pair is checked with dpkg (one dpkg call each, run in
    //! two batched shells). Because dpkg's order is a total order, agreement
    //! on all adjacent pairs means dpkg sorts the whole list identically;
    //! then random non-adjacent pairs are checked against the ranks that
    //! implies. Strict parsing is checked against dpkg's warnings.
    use std::collections::HashSet;
    use std::io::Write;
    use std::process::{Command, Stdio};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
        items[rng.gen_range(0..items.len())]
    }

    fn digits(rng: &mut StdRng) -> String {
        let mut s = String::new();
        if rng.gen_bool(0.15) {
            s.push('0');
        }
        for _ in 0..rng.gen_range(1..=3) {
            s.push(char::from(b'0' + rng.gen_range(0..10)));
        }
        s
    }

    /// A version dpkg can compare (it may warn about its syntax).
    pub fn version(rng: &mut StdRng) -> String {
        let mut v = String::new();
        let epoch = rng.gen_bool(0.25);
        if epoch {
            v.push_str(pick(rng, &["0", "1", "2", "10", "01"]));
            v.push(':');
        }
        let lax = rng.gen_bool(0.05);
        if lax {
            v.push_str(pick(rng, &["a", "z", "_", "A"]));
        }
        v.push_str(&digits(rng));
        let revision = rng.gen_bool(0.5);
        for _ in 0..rng.gen_range(0..6) {
            match rng.gen_range(0..10) {
                0..=2 => v.push_str(&digits(rng)),
                3..=4 => v.push_str(pick(rng, &["a", "b", "z", "A", "Z", "rc", "beta"])),
                5..=7 => v.push_str(pick(rng, &[".", "+", "~", "~~", ".0"])),
                8 if revision => v.push('-'),
                8 if epoch => v.push(':'),
                _ if lax => v.push_str(pick(rng, &["_", "%", "@"])),
                _ => v.push_str(&digits(rng)),
            }
        }
        if revision {
            v.push('-');
            for _ in 0..rng.gen_range(1..4) {
                match rng.gen_range(0..4) {
                    0 | 1 => v.push_str(&digits(rng)),
                    2 => v.push_str(pick(rng, &["a", "ubuntu", "deb", "Z"])),
                    _ => v.push_str(pick(rng, &[".", "+", "~", "+b"])),
                }
            }
            if v.ends_with(['.', '+', '~']) && rng.gen_bool(0.5) {
                v.push('1');
            }
        }
        v
    }

    /// A close neighbour of `v`, so near-equal versions are well covered.
    pub fn mutate(rng: &mut StdRng, v: &str) -> String {
        match rng.gen_range(0..7) {
            0 => format!("{v}~"),
            1 => format!("{v}+b1"),
            2 => format!("{v}.0"),
            3 => format!("0:{v}").replacen("0:0:", "0:", 1),
            4 => v.replacen('1', "01", 1),
            5 => v.replacen('.', "~", 1),
            _ => v.replacen(|c: char| c.is_ascii_digit(), "9", 1),
        }
    }

    /// What dpkg said about one comparison.
    pub struct Verdict {
        pub holds: bool,
        pub output: String,
    }

    /// Runs `dpkg --compare-versions a op b` for each triple, batched in two
    /// shells running side by side.
    pub fn dpkg_compare(checks: &[(String, &'static str, String)]) -> Vec<Verdict> {
        let halves: Vec<_> = checks.chunks(checks.len().div_ceil(2)).collect();
        let children: Vec<_> = halves
            .iter()
            .map(|half| {
                let mut script = String::new();
                for (a, op, b) in half.iter() {
                    assert!(!a.contains('\'') && !b.contains('\''));
                    script.push_str(&format!(
                        "dpkg --compare-versions '{a}' {op} '{b}' 2>&1; echo \"@@ $?\"\n"
                    ));
                }
                let mut child = Command::new("sh")
                    .arg("-s")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("sh");
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(script.as_bytes())
                    .unwrap();
                child
            })
            .collect();
        let mut verdicts = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            let mut output = String::new();
            for line in text.lines() {
                if let Some(code) = line.strip_prefix("@@ ") {
                    verdicts.push(Verdict {
                        holds: code == "0",
                        output: std::mem::take(&mut output),
                    });
                } else {
                    output.push_str(line);
                    output.push('\n');
                }
            }
        }
        assert_eq!(verdicts.len(), checks.len());
        verdicts
    }

    /// The versions dpkg warned about, from its messages.
    pub fn warned(verdicts: &[Verdict]) -> HashSet<String> {
        let mut set = HashSet::new();
        for v in verdicts {
            for line in v.output.lines() {
                if let Some(rest) = line.strip_prefix("dpkg: warning: version '") {
                    if let Some((version, _)) = rest.split_once("' has bad syntax") {
                        set.insert(version.to_string());
                    }
                }
            }
        }
        set
    }

    pub fn rng() -> StdRng {
        StdRng::seed_from_u64(0x5eed_de6b)
    }
}

#[test]
fn version_order_is_dpkgs() {
    use rand::Rng;
    let mut rng = oracle::rng();
    let mut versions: Vec<String> = [
        "2.10-3",
        "1.5.4+dfsg2-5",
        "0.0.17+nmu1",
        "1:0.0.0-test",
        "3:1.1.0-test2",
        "0.15-tcc01",
        "1.0~rc1",
        "1.0",
        "1.0-0",
        "0:1.0",
        "1.0+b1",
        "1.0~",
        "1.0~~",
        "1.0-0~",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..1200 {
        versions.push(oracle::version(&mut rng));
    }
    for i in 0..800 {
        let base = versions[14 + i].clone();
        versions.push(oracle::mutate(&mut rng, &base));
    }
    versions.sort_by(|a, b| version::compare(a, b));

    let checks: Vec<_> = versions
        .windows(2)
        .map(|w| {
            let op = match version::compare(&w[0], &w[1]) {
                Ordering::Less => "lt",
                Ordering::Equal => "eq",
                Ordering::Greater => "gt",
            };
            (w[0].clone(), op, w[1].clone())
        })
        .collect();
    let verdicts = oracle::dpkg_compare(&checks);
    let disagreements: Vec<String> = checks
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.holds)
        .map(|((a, op, b), v)| {
            format!(
                "we say {a:?} {op} {b:?}, dpkg disagrees {}",
                v.output.trim()
            )
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} disagreements with dpkg:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );

    // dpkg agrees the list is sorted; the ranks it implies decide every pair.
    let mut ranks = vec![0usize; versions.len()];
    for i in 1..versions.len() {
        ranks[i] = ranks[i - 1] + usize::from(checks[i - 1].1 == "lt");
    }
    for _ in 0..100_000 {
        let (i, j) = (
            rng.gen_range(0..versions.len()),
            rng.gen_range(0..versions.len()),
        );
        assert_eq!(
            version::compare(&versions[i], &versions[j]),
            ranks[i].cmp(&ranks[j]),
            "{:?} vs {:?}",
            versions[i],
            versions[j]
        );
    }

    // Strict parsing accepts exactly what dpkg neither rejects nor warns about.
    let warned = oracle::warned(&verdicts);
    assert!(
        !warned.is_empty(),
        "the corpus should include versions dpkg warns about"
    );
    for v in &versions {
        assert_eq!(
            version::parse(v).is_ok(),
            !warned.contains(v),
            "strict parse of {v:?} vs dpkg's warnings"
        );
    }
}

#[test]
fn versions_dpkg_cannot_compare_are_the_ones_we_cannot_parse() {
    let cases = [
        "1.0 beta",
        ":1.0",
        "a:1.0",
        "1:",
        "1.0-",
        "-1",
        "-1:1.0",
        "2147483648:1.0",
        "1.0-a-",
        "x:y",
        "1:-1",
        " 1.0 ",
        "\t1.0",
        "+1:1.0",
        "00:1",
        "1:2:3-4-5",
        "2147483647:1",
        "1.0-1_2",
        "1..0",
        "1~-~",
    ];
    let checks: Vec<_> = cases
        .iter()
        .map(|v| (v.to_string(), "eq", v.to_string()))
        .collect();
    let verdicts = oracle::dpkg_compare(&checks);
    for (v, verdict) in cases.iter().zip(&verdicts) {
        let dpkg_error = verdict.output.contains("dpkg: error:");
        let dpkg_warning = verdict.output.contains("dpkg: warning:");
        // dpkg compares what it only warns about: so do we. What we cannot
        // parse sorts after every version, even the greatest epoch's.
        let ours_comparable = version::compare(v, "2147483647:999999") == Ordering::Less;
        assert_eq!(
            ours_comparable, !dpkg_error,
            "{v:?}: dpkg said {}",
            verdict.output
        );
        assert_eq!(
            version::parse(v).is_ok(),
            !dpkg_error && !dpkg_warning,
            "{v:?}: dpkg said {}",
            verdict.output
        );
    }
}
