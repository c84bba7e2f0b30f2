//! Release files: the top-level `dists/<dist>/Release` that lists every
//! index with its size and digests, and the small per-directory ("leaf")
//! Release files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::index::{Algo, Digests};

/// What the top-level Release says about the distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    pub origin: String,
    pub label: String,
    /// The codename: the directory under `dists/`.
    pub dist: String,
    /// The `Suite` field (the codename unless configured otherwise).
    pub suite: String,
    pub date: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
    /// Binary architectures only (never `all`, never `source`).
    pub archs: Vec<String>,
    pub comps: Vec<String>,
}

/// One file listed in a Release: its path relative to `dists/<dist>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub digests: Digests,
}

/// A duration as settings write it: a whole number and a unit, `s`, `m`,
/// `h` or `d` (`90s`, `36h`, `7d`); a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("{text:?} is not a duration like 90s, 30m, 36h or 7d");
    if text == "0" {
        return Ok(chrono::Duration::zero());
    }
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86400),
        _ => None,
    }
    .filter(|s| *s <= 100 * 366 * 86400)
    .ok_or_else(bad)?;
    Ok(chrono::Duration::seconds(secs))
}

/// `Sat, 21 Nov 2026 22:43:00 UTC`: RFC 2822 in UTC, as apt reads it.
pub fn release_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// The top-level Release text. Files are listed in path order under each
/// of MD5Sum, SHA1, SHA256 and SHA512; apt verifies with the strongest.
pub fn top_release(info: &ReleaseInfo, files: &[Listed]) -> String {
    let mut files: Vec<&Listed> = files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: {}\n",
        info.origin,
        info.label,
        info.suite,
        info.dist,
        release_date(info.date),
    );
    if let Some(t) = info.valid_until {
        let _ = writeln!(out, "Valid-Until: {}", release_date(t));
    }
    if info.not_automatic {
        out.push_str("NotAutomatic: yes\n");
    }
    if info.but_automatic_upgrades {
        out.push_str("ButAutomaticUpgrades: yes\n");
    }
    let _ = write!(
        out,
        "Architectures: {}\nComponents: {}\nAcquire-By-Hash: yes\n",
        info.archs.join(" "),
        info.comps.join(" "),
    );
    let width = files
        .iter()
        .map(|f| f.digests.size.to_string().len())
        .max()
        .unwrap_or(1);
    for algo in Algo::ALL {
        let _ = writeln!(out, "{}:", algo.name());
        for f in &files {
            let _ = writeln!(
                out,
                " {} {:>width$} {}",
                f.digests.get(algo),
                f.digests.size,
                f.path
            );
        }
    }
    out
}

/// The value of field `name` of a Release text (first line of it).
pub fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
}

/// Reads a `Date`/`Valid-Until` value as [`release_date`] writes it.
pub fn parse_release_date(text: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%a, %d %b %Y %H:%M:%S UTC")
        .ok()
        .map(|t| t.and_utc())
}

/// The files a Release text lists, checked for form: each under all four
/// digest sections, with digests of the right length and one size. The
/// text is hostile input (it comes from the bucket); the error says what
/// is wrong with it. Sorted by path.
pub fn parse_listing(text: &str) -> Result<Vec<Listed>, String> {
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
            return Err(format!("unexpected line {line:?}"));
        };
        let f: Vec<&str> = entry.split_whitespace().collect();
        let [digest, size, path] = f[..] else {
            return Err(format!("malformed line {line:?}"));
        };
        let want = [32, 40, 64, 128][i];
        if digest.len() != want || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("malformed digest in {line:?}"));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| format!("malformed size in {line:?}"))?;
        if *sizes.entry(path.to_string()).or_insert(size) != size {
            return Err(format!("two sizes for {path}"));
        }
        found.entry(path.to_string()).or_default()[i] = Some(digest.to_ascii_lowercase());
    }
    let mut out = Vec::new();
    for (path, d) in found {
        let [Some(md5), Some(sha1), Some(sha256), Some(sha512)] = d else {
            return Err(format!("{path} lacks a digest"));
        };
        let size = sizes[&path];
        out.push(Listed {
            path,
            digests: Digests {
                md5,
                sha1,
                sha256,
                sha512,
                size,
            },
        });
    }
    Ok(out)
}

/// A leaf Release (`<comp>/binary-<arch>/Release`, `<comp>/source/Release`):
/// the original's fields plus `Acquire-By-Hash`, as the Debian archive
/// writes them.
pub fn leaf_release(dist: &str, comp: &str, arch: &str, origin: &str, label: &str) -> String {
    format!(
        "Archive: {dist}\nComponent: {comp}\nOrigin: {origin}\nLabel: {label}\nArchitecture: {arch}\nAcquire-By-Hash: yes\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn info() -> ReleaseInfo {
        ReleaseInfo {
            origin: "Acme".into(),
            label: "Acme Tools".into(),
            dist: "xenial".into(),
            suite: "xenial".into(),
            date: Utc.with_ymd_and_hms(2026, 11, 21, 22, 43, 0).unwrap(),
            valid_until: None,
            not_automatic: false,
            but_automatic_upgrades: false,
            archs: vec!["amd64".into(), "arm64".into()],
            comps: vec!["main".into(), "extra".into()],
        }
    }

    fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("36h"), Ok(chrono::Duration::hours(36)));
        assert_eq!(parse_duration("7d"), Ok(chrono::Duration::days(7)));
        assert_eq!(parse_duration("90s"), Ok(chrono::Duration::seconds(90)));
        assert_eq!(parse_duration("0"), Ok(chrono::Duration::zero()));
        for bad in ["", "h", "7", "-1d", "1.5h", "7w", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_is_rfc2822_utc() {
        assert_eq!(release_date(info().date), "Sat, 21 Nov 2026 22:43:00 UTC");
    }

    #[test]
    fn header_fields() {
        let text = top_release(&info(), &[]);
        assert_eq!(field(&text, "Origin"), Some("Acme"));
        assert_eq!(field(&text, "Label"), Some("Acme Tools"));
        assert_eq!(field(&text, "Suite"), Some("xenial"));
        assert_eq!(field(&text, "Codename"), Some("xenial"));
        assert_eq!(field(&text, "Architectures"), Some("amd64 arm64"));
        assert_eq!(field(&text, "Components"), Some("main extra"));
        assert_eq!(field(&text, "Acquire-By-Hash"), Some("yes"));
        assert_eq!(field(&text, "Date"), Some("Sat, 21 Nov 2026 22:43:00 UTC"));
    }

    #[test]
    fn freshness_fields_when_configured() {
        let plain = top_release(&info(), &[]);
        for f in ["Valid-Until", "NotAutomatic", "ButAutomaticUpgrades"] {
            assert_eq!(field(&plain, f), None, "{f}");
        }
        let i = ReleaseInfo {
            suite: "stable".into(),
            valid_until: Some(info().date + chrono::Duration::days(7)),
            not_automatic: true,
            but_automatic_upgrades: true,
            ..info()
        };
        let text = top_release(&i, &[]);
        assert_eq!(field(&text, "Suite"), Some("stable"));
        assert_eq!(field(&text, "Codename"), Some("xenial"));
        assert_eq!(
            field(&text, "Valid-Until"),
            Some("Sat, 28 Nov 2026 22:43:00 UTC")
        );
        assert_eq!(field(&text, "NotAutomatic"), Some("yes"));
        assert_eq!(field(&text, "ButAutomaticUpgrades"), Some("yes"));
    }

    #[test]
    fn every_file_under_every_algorithm_sorted_by_path() {
        let files = vec![
            Listed {
                path: "main/source/Sources".into(),
                digests: Digests::of(b"x"),
            },
            Listed {
                path: "main/binary-amd64/Packages".into(),
                digests: Digests::of(&[b'y'; 1234]),
            },
        ];
        let text = top_release(&info(), &files);
        for algo in Algo::ALL {
            let section: Vec<&str> = text
                .split(&format!("\n{}:\n", algo.name()))
                .nth(1)
                .unwrap()
                .lines()
                .take_while(|l| l.starts_with(' '))
                .collect();
            assert_eq!(section.len(), 2, "{}", algo.name());
            let first: Vec<&str> = section[0].split_whitespace().collect();
            assert_eq!(
                first,
                [
                    files[1].digests.get(algo),
                    "1234",
                    "main/binary-amd64/Packages"
                ]
            );
            let second: Vec<&str> = section[1].split_whitespace().collect();
            assert_eq!(second[1..], ["1", "main/source/Sources"]);
        }
    }

    #[test]
    fn leaf_release_names_its_directory() {
        let t = leaf_release("xenial", "main", "amd64", "Acme", "Acme Tools");
        assert_eq!(field(&t, "Archive"), Some("xenial"));
        assert_eq!(field(&t, "Component"), Some("main"));
        assert_eq!(field(&t, "Architecture"), Some("amd64"));
        assert_eq!(field(&t, "Label"), Some("Acme Tools"));
        assert_eq!(field(&t, "Origin"), Some("Acme"));
    }
}
