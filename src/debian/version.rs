//! Debian version syntax and ordering, identical to dpkg's
//! (`dpkg --compare-versions`), through the `debversion` crate.

use std::cmp::Ordering;
use std::str::FromStr;

pub use debversion::Version;

/// Parses a version, refusing anything that is not valid Debian syntax.
pub fn parse(text: &str) -> Result<Version, String> {
    Version::from_str(text).map_err(|e| format!("invalid Debian version {text:?}: {e}"))
}

/// Orders two version strings as dpkg does. Stored data may hold versions
/// that do not parse (written by other tools); those sort after every valid
/// version, by plain string order, so sorting never fails.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}
