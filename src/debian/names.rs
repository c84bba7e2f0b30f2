//! Checks for the names that end up in object keys and index files: package
//! names, architectures and the base names of uploaded files. A name that
//! passes can be joined into a pool path without leaving its directory.

/// The longest file name most file systems (and this tool) accept, in bytes.
const MAX_FILE_NAME: usize = 255;

/// A package (or source package) name, as Debian policy §5.6.1 defines it:
/// at least two characters of `a-z`, `0-9`, `+`, `-`, `.`, starting with a
/// letter or digit.
pub fn validate_package_name(name: &str) -> Result<(), String> {
    let rule = "a package name is at least two characters of a-z, 0-9, '+', '-', '.', \
                starting with a letter or digit";
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(b);
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if bytes.len() >= 2 && first_ok && bytes.iter().all(allowed) {
        Ok(())
    } else {
        Err(format!("invalid package name {name:?}: {rule}"))
    }
}

/// An architecture name such as `amd64`, `all`, `arm64` or
/// `kfreebsd-amd64`: `a-z`, `0-9` and `-`, not starting with `-`.
pub fn validate_architecture(arch: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if !arch.is_empty() && !arch.starts_with('-') && arch.bytes().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "invalid architecture {arch:?}: an architecture is a-z, 0-9 and '-', \
             not starting with '-'"
        ))
    }
}

/// A plain base name for a file in a pool directory: not empty, not `.` or
/// `..`, no `/` or `\`, no NUL or other control character, at most 255
/// bytes. Such a name can never address anything outside its directory.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it names a directory")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.len() > MAX_FILE_NAME {
        Some("it is longer than 255 bytes")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(format!(
            "invalid file name {name:?}: {why}; a file name must be a plain base name"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn package_names() {
        for good in [
            "hello",
            "libzstd1",
            "g++",
            "0ad",
            "sensible-utils",
            "x.y+z-1",
            "ab",
        ] {
            assert!(validate_package_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a", "Hello", "-foo", ".foo", "+foo", "foo_bar", "foo bar", "fö", "a/b",
        ] {
            let err = validate_package_name(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("a-z"), "the message states the rule: {err}");
        }
    }

    #[test]
    fn architectures() {
        for good in ["amd64", "all", "arm64", "kfreebsd-amd64", "source", "i386"] {
            assert!(validate_architecture(good).is_ok(), "{good}");
        }
        for bad in ["", "AMD64", "amd_64", "-amd64", "amd64 ", "x/y", "../x"] {
            let err = validate_architecture(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn file_names() {
        for good in [
            "hello_2.10-3_amd64.deb",
            "testdeb_1:0.0.0-test_all.deb",
            "hello_2.10.orig.tar.gz.asc",
            "..hidden",
            "a..b",
        ] {
            assert!(validate_file_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(256);
        for bad in [
            "", ".", "..", "../x", "a/b", "/abs", "a\\b", "a\0b", "a\nb", "a\x7fb", &long,
        ] {
            let err = validate_file_name(bad).unwrap_err();
            assert!(err.contains("invalid file name"), "{err}");
        }
    }

    proptest! {
        /// Whatever passes, joined to a directory, stays a direct child of it.
        #[test]
        fn valid_file_names_stay_in_their_directory(name in "\\PC{0,12}|[./\\\\a]{0,6}") {
            if validate_file_name(&name).is_ok() {
                let dir = std::path::Path::new("/pool/d/h/hello");
                let joined = dir.join(&name);
                prop_assert_eq!(joined.parent(), Some(dir));
                prop_assert_eq!(joined.file_name().and_then(|n| n.to_str()), Some(name.as_str()));
            }
        }

    }
}
