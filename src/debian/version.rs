//! Debian version syntax and ordering, identical to dpkg's.
//!
//! This follows dpkg's own C code (`parseversion` and `verrevcmp` in
//! lib/dpkg/) rather than a regular expression, because the ordering of a
//! repository's versions must be exactly what apt and dpkg will compute, and
//! the acceptance rules must be exactly what `dpkg-deb --build` enforces.
//! `tests/debian.rs` checks both against the real `dpkg --compare-versions`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed Debian version: `[epoch:]upstream_version[-debian_revision]`.
///
/// Equality and ordering are dpkg's: `1.0`, `0:1.0` and `1.0-0` are equal.
#[derive(Debug, Clone)]
pub struct Version {
    /// The epoch, when the text had one (`Some(0)` for an explicit `0:`).
    pub epoch: Option<u32>,
    /// Everything between the epoch and the last hyphen.
    pub upstream_version: String,
    /// What follows the last hyphen, when there is one.
    pub debian_revision: Option<String>,
}

/// How strictly to apply dpkg's syntax rules. dpkg reports some problems as
/// errors and some as warnings; new packages must have neither, while
/// `dpkg --compare-versions` compares versions that only have warnings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strictness {
    Strict,
    Lax,
}

/// Parses a version as dpkg does for a new package's control file: anything
/// dpkg would reject or warn about is an error.
pub fn parse(text: &str) -> Result<Version, String> {
    parse_with(text, Strictness::Strict)
        .map_err(|e| format!("invalid Debian version {text:?}: {e}"))
}

/// Orders two version strings as `dpkg --compare-versions` does. Versions
/// with only minor syntax problems (a leading letter, an odd character) are
/// still compared the way dpkg compares them. Stored data may hold text that
/// is no version at all (written by other tools); such text sorts after every
/// version, by plain string order, so sorting never fails.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (
        parse_with(a, Strictness::Lax),
        parse_with(b, Strictness::Lax),
    ) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse(text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(epoch) = self.epoch {
            write!(f, "{epoch}:")?;
        }
        f.write_str(&self.upstream_version)?;
        if let Some(revision) = &self.debian_revision {
            write!(f, "-{revision}")?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .unwrap_or(0)
            .cmp(&other.epoch.unwrap_or(0))
            .then_with(|| verrevcmp(&self.upstream_version, &other.upstream_version))
            .then_with(|| {
                verrevcmp(
                    self.debian_revision.as_deref().unwrap_or(""),
                    other.debian_revision.as_deref().unwrap_or(""),
                )
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// dpkg's `c_isblank`: the only characters it trims and calls "spaces".
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// dpkg's `parseversion`, step by step, with its messages.
fn parse_with(text: &str, strictness: Strictness) -> Result<Version, &'static str> {
    let text = text.trim_matches(is_blank);
    if text.is_empty() {
        return Err("version string is empty");
    }
    if text.contains(is_blank) {
        return Err("version string has embedded spaces");
    }
    let (epoch, rest) = match text.split_once(':') {
        Some((epoch, rest)) => {
            let epoch = parse_epoch(epoch)?;
            if rest.is_empty() {
                return Err("nothing after colon in version number");
            }
            (Some(epoch), rest)
        }
        None => (None, text),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err("revision number is empty"),
        Some((upstream, revision)) => (upstream, Some(revision)),
        None => (rest, None),
    };
    if upstream.is_empty() {
        return Err("version number is empty");
    }
    if strictness == Strictness::Strict {
        check_characters(upstream, revision.unwrap_or(""))?;
    }
    Ok(Version {
        epoch,
        upstream_version: upstream.to_string(),
        debian_revision: revision.map(str::to_string),
    })
}

/// The epoch as C's `strtol` reads it (leading white space and a sign are
/// accepted), then checked the way dpkg checks it.
fn parse_epoch(text: &str) -> Result<u32, &'static str> {
    let unsigned = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match unsigned.as_bytes().first() {
        Some(b'-') => (true, &unsigned[1..]),
        Some(b'+') => (false, &unsigned[1..]),
        _ => (false, unsigned),
    };
    if digits.is_empty() || !digits.as_bytes()[0].is_ascii_digit() {
        return Err("epoch in version is empty");
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("epoch in version is not number");
    }
    let magnitude = digits.trim_start_matches('0');
    let too_big = magnitude.len() > 10
        || (!magnitude.is_empty()
            && magnitude
                .parse::<u64>()
                .map_or(true, |v| v > i32::MAX as u64));
    if negative && !magnitude.is_empty() {
        return Err("epoch in version is negative");
    }
    if too_big {
        return Err("epoch in version is too big");
    }
    Ok(magnitude.parse::<u32>().unwrap_or(0))
}

/// The checks dpkg reports as warnings, which `dpkg-deb --build` refuses.
fn check_characters(upstream: &str, revision: &str) -> Result<(), &'static str> {
    if !upstream.as_bytes()[0].is_ascii_digit() {
        return Err("version number does not start with digit");
    }
    let upstream_ok = |b: u8| b.is_ascii_alphanumeric() || b".-+~:".contains(&b);
    if !upstream.bytes().all(upstream_ok) {
        return Err("invalid character in version number");
    }
    let revision_ok = |b: u8| b.is_ascii_alphanumeric() || b".+~".contains(&b);
    if !revision.bytes().all(revision_ok) {
        return Err("invalid character in revision number");
    }
    Ok(())
}

/// dpkg's `order`: the weight of one byte in a non-digit run. The end of the
/// string weighs 0, so `~` sorts before it and everything else after it.
/// dpkg reads bytes as C `char` (signed on the platforms it ships for), so
/// bytes above 0x7f weigh the same as their unsigned value.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => (c as i8) as i32 + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit runs (compared byte by byte by
/// `order`) and digit runs (compared as numbers of any length).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_dpkg_on_classic_cases() {
        let less = [
            ("1.0~rc1", "1.0"),
            ("1.0", "1.0+b1"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0b"),
            ("1.9", "1.10"),
            ("1:0.1", "2:0.0"),
            ("9.9", "1:0"),
            ("1.0-1", "1.0-2"),
            ("1.0-9", "1.0-10"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0-0~", "1.0"),
            ("1.0", "1.0.0"),
        ];
        for (a, b) in less {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [
            ("1.0", "1.0-0"),
            ("0:1.0", "1.0"),
            ("00:1.0", "1.0"),
            ("1.001", "1.1"),
        ] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} = {b}");
        }
    }

    #[test]
    fn long_digit_runs_compare_as_numbers() {
        let big = "123456789012345678901234567890";
        let bigger = "123456789012345678901234567891";
        assert_eq!(compare(big, bigger), Ordering::Less);
        assert_eq!(compare(&format!("0{big}"), big), Ordering::Equal);
    }

    #[test]
    fn strict_parse_refuses_what_dpkg_deb_refuses() {
        for bad in [
            "",
            " ",
            "1.0 beta",
            ":1.0",
            "a:1.0",
            "1:",
            "1.0-",
            "-1",
            "1.0_1",
            "a1.0",
            "1.0-1_2",
            "-1:1.0",
            "2147483648:1.0",
            "1.0-a-",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        let v = parse("1:2.0-3+b1").unwrap();
        assert_eq!(v.epoch, Some(1));
        assert_eq!(v.upstream_version, "2.0");
        assert_eq!(v.debian_revision.as_deref(), Some("3+b1"));
        assert_eq!(v.to_string(), "1:2.0-3+b1");
        let v = parse("1:2:3-4-5").unwrap();
        assert_eq!(v.upstream_version, "2:3-4");
        assert_eq!(v.debian_revision.as_deref(), Some("5"));
        assert_eq!(parse("2147483647:1").unwrap().epoch, Some(i32::MAX as u32));
    }

    #[test]
    fn error_names_the_value() {
        let err = parse("1.0 beta").unwrap_err();
        assert!(err.contains("\"1.0 beta\""), "{err}");
        assert!(err.contains("embedded spaces"), "{err}");
    }

    #[test]
    fn unparsable_text_sorts_after_versions() {
        assert_eq!(compare("1.0", "not a version"), Ordering::Less);
        assert_eq!(compare("a b", "1.0"), Ordering::Greater);
        assert_eq!(compare("a b", "c d"), Ordering::Less);
        // Only a warning for dpkg, so still compared as a version.
        assert_eq!(compare("a1.0", "b1.0"), Ordering::Less);
    }
}
