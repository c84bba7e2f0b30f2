//! What every stored package and configuration value must satisfy, however
//! it arrives: `add` (from a .deb or .dsc), `restore` (from a file, the
//! bucket or the published indices), and `publish` and `verify` (re-checking
//! what is stored, which an older version or another tool may have
//! written). One set of rules, so no path into a signed index is laxer than
//! another.
//!
//! A package that passes can be published without changing the shape of
//! an index: its names and version are Debian syntax, its files stay in its
//! pool directory, its control text is exactly one paragraph that agrees
//! with its attributes and does not repeat the fields publish writes itself.

use crate::debian::control::parse_paragraph;
use crate::debian::names::{validate_architecture, validate_file_name, validate_package_name};
use crate::debian::version;
use crate::model::{Package, Payload, RepoConfig, IMPLIED_ARCHS};

/// The three list-valued settings of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Dists,
    Comps,
    Archs,
}

impl Setting {
    pub const ALL: [Setting; 3] = [Setting::Dists, Setting::Comps, Setting::Archs];

    /// The attribute of `meta`.
    pub fn attr(self) -> &'static str {
        match self {
            Setting::Dists => "dists",
            Setting::Comps => "comps",
            Setting::Archs => "archs",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Setting::Dists => "distribution",
            Setting::Comps => "component",
            Setting::Archs => "architecture",
        }
    }
}

/// A distribution, component or architecture name as `repo add-*` accepts
/// it: such names become directories under `dists/` and `pool/`, so only
/// letters, digits, `-`, `_`, `.`, `+`, not starting with `.`.
pub fn check_setting(kind: Setting, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
        && !name.starts_with('.');
    if !ok {
        return Err(format!(
            "{} {name:?} is not a valid name (letters, digits, - _ . + only)",
            kind.noun()
        ));
    }
    if kind == Setting::Archs {
        validate_architecture(name)?;
    }
    Ok(())
}

/// Every problem of a configuration's names; `require_lists` also asks
/// that distributions, components and architectures are all present.
pub fn check_config(config: &RepoConfig) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, names) in [
        (Setting::Dists, &config.dists),
        (Setting::Comps, &config.comps),
        (Setting::Archs, &config.stored_archs),
    ] {
        for name in names {
            if kind == Setting::Archs && IMPLIED_ARCHS.contains(&name.as_str()) {
                continue;
            }
            if let Err(e) = check_setting(kind, name) {
                out.push(e);
            }
        }
    }
    out
}

/// The fields publish writes before a package's control text; the text
/// must not carry them too.
const BINARY_INDEX_FIELDS: [&str; 5] = ["Filename", "MD5sum", "SHA1", "SHA256", "Size"];
const SOURCE_INDEX_FIELDS: [&str; 2] = ["Directory", "Package"];

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every problem of a package, each a short sentence (the caller says
/// which package or item it is). Empty when the package is valid.
pub fn check_package(p: &Package) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |r: Result<(), String>| {
        if let Err(e) = r {
            out.push(e);
        }
    };
    check(validate_package_name(&p.name));
    check(version::parse(&p.version).map(|_| ()));
    check(check_setting(Setting::Dists, &p.distribution));
    check(check_setting(Setting::Comps, &p.component));
    check(validate_architecture(&p.architecture));
    match &p.payload {
        Payload::Binary {
            filename,
            md5,
            sha1,
            sha256,
            ..
        } => {
            if p.architecture == "source" {
                out.push("a binary package cannot have architecture \"source\"".into());
            }
            if let Err(e) = validate_file_name(filename) {
                out.push(format!("filename: {e}"));
            }
            for (what, value, len) in [("md5", md5, 32), ("sha1", sha1, 40), ("sha256", sha256, 64)]
            {
                if !is_lower_hex(value, len) {
                    out.push(format!(
                        "{what} {value:?} is not {len} lowercase hexadecimal digits"
                    ));
                }
            }
        }
        Payload::Source { files } => {
            if p.architecture != "source" {
                out.push(format!(
                    "a source package has architecture \"source\", not {:?}",
                    p.architecture
                ));
            }
            if files.is_empty() {
                out.push("a source package lists no files".into());
            }
            for (i, f) in files.iter().enumerate() {
                if let Err(e) = validate_file_name(f) {
                    out.push(format!("files: {e}"));
                } else if files[..i].contains(f) {
                    out.push(format!("files: {f:?} is listed twice"));
                }
            }
        }
    }
    out.extend(check_control(p));
    out
}

/// The control text: one paragraph, nothing before or after it, agreeing
/// with the package's attributes.
fn check_control(p: &Package) -> Vec<String> {
    let text = &p.control;
    let paragraph = match parse_paragraph(text) {
        Ok(paragraph) => paragraph,
        Err(e) => return vec![format!("control text is not a paragraph: {e}")],
    };
    // Exactly the paragraph: no leading blank line (it would end the stanza
    // publish starts), and nothing after it (another stanza).
    if paragraph.text().trim_end_matches('\n') != text.trim_end_matches(['\n', '\r']) {
        return vec![
            "control text is more than one paragraph (a blank line inside or around it)".into(),
        ];
    }
    let mut out = Vec::new();
    let (own_fields, agree): (&[&str], Vec<(&str, &str)>) = match p.payload {
        Payload::Binary { .. } => (
            &BINARY_INDEX_FIELDS,
            vec![
                ("Package", p.name.as_str()),
                ("Version", &p.version),
                ("Architecture", &p.architecture),
            ],
        ),
        Payload::Source { .. } => (
            &SOURCE_INDEX_FIELDS,
            vec![("Source", p.name.as_str()), ("Version", &p.version)],
        ),
    };
    for field in own_fields {
        if paragraph.get(field).is_some() {
            out.push(format!(
                "control text has a {field} field, which publish writes itself"
            ));
        }
    }
    for (field, want) in agree {
        match paragraph.get(field) {
            Some(v) if v == want => {}
            Some(v) => out.push(format!(
                "control text says {field}: {v:?}, the item says {want:?}"
            )),
            None => out.push(format!("control text has no {field} field")),
        }
    }
    if let Payload::Source { files } = &p.payload {
        // Triples of digest, size and name (a re-folded text may wrap
        // them anywhere).
        let tokens: Vec<&str> = paragraph
            .get("Files")
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let listed: Vec<&str> = tokens.chunks(3).filter_map(|t| t.get(2).copied()).collect();
        let mut a: Vec<&str> = files.iter().map(String::as_str).collect();
        let mut b = listed.clone();
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            out.push(format!(
                "the files {:?} differ from those the control text's Files field lists {:?}",
                files, listed
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binary() -> Package {
        Package {
            name: "hello".into(),
            version: "1.0-1".into(),
            distribution: "stable".into(),
            component: "main".into(),
            architecture: "amd64".into(),
            payload: Payload::Binary {
                filename: "hello_1.0-1_amd64.deb".into(),
                md5: "0".repeat(32),
                sha1: "a".repeat(40),
                sha256: "f".repeat(64),
                size: 3,
            },
            control:
                "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDescription: hi\n there\n"
                    .into(),
        }
    }

    fn source() -> Package {
        Package {
            architecture: "source".into(),
            payload: Payload::Source {
                files: vec!["hello_1.0-1.dsc".into(), "hello_1.0.tar.gz".into()],
            },
            control: format!(
                "Source: hello\nVersion: 1.0-1\nFiles:\n {} 1 hello_1.0.tar.gz\n {} 2 hello_1.0-1.dsc\n",
                "1".repeat(32),
                "2".repeat(32)
            ),
            ..binary()
        }
    }

    #[test]
    fn valid_packages_pass() {
        assert_eq!(check_package(&binary()), Vec::<String>::new());
        assert_eq!(check_package(&source()), Vec::<String>::new());
    }

    /// Each change makes an otherwise valid package invalid.
    #[test]
    fn every_attribute_is_checked() {
        type Edit = fn(&mut Package);
        let edits: Vec<(&str, Edit)> = vec![
            ("name", |p| p.name = "../x".into()),
            ("version", |p| p.version = "1.0\nPackage: evil".into()),
            ("distribution", |p| {
                p.distribution = "stable/main/binary-amd64".into()
            }),
            ("distribution", |p| p.distribution = "../../x".into()),
            ("component", |p| p.component = "..".into()),
            ("architecture", |p| p.architecture = "amd64\n".into()),
            ("filename newline", |p| {
                p.payload = Payload::Binary {
                    filename: "x.deb\nPackage: evil".into(),
                    md5: "0".repeat(32),
                    sha1: "a".repeat(40),
                    sha256: "f".repeat(64),
                    size: 3,
                }
            }),
            ("filename dots", |p| {
                if let Payload::Binary { filename, .. } = &mut p.payload {
                    *filename = "..".into()
                }
            }),
            ("md5", |p| {
                if let Payload::Binary { md5, .. } = &mut p.payload {
                    *md5 = "0".repeat(31)
                }
            }),
            ("sha256", |p| {
                if let Payload::Binary { sha256, .. } = &mut p.payload {
                    *sha256 = "G".repeat(64)
                }
            }),
            ("extra stanza", |p| {
                p.control.push_str("\nPackage: evil\nVersion: 6.6.6\n")
            }),
            ("leading blank line", |p| p.control.insert(0, '\n')),
            ("whitespace line", |p| p.control.push_str(" \nPackage: x\n")),
            ("control disagrees", |p| {
                p.control = p.control.replace("Version: 1.0-1", "Version: 2.0")
            }),
            ("control field of the index", |p| {
                p.control.push_str("Filename: pool/x\n")
            }),
            ("binary named source", |p| p.architecture = "source".into()),
        ];
        for (what, edit) in edits {
            let mut p = binary();
            edit(&mut p);
            assert!(!check_package(&p).is_empty(), "{what} passed");
        }
        let source_edits: Vec<(&str, Edit)> = vec![
            ("files ../", |p| {
                p.payload = Payload::Source {
                    files: vec!["hello_1.0-1.dsc".into(), "../hello_1.0.tar.gz".into()],
                }
            }),
            ("files not listed in the text", |p| {
                p.payload = Payload::Source {
                    files: vec!["hello_1.0-1.dsc".into(), "other.tar.gz".into()],
                }
            }),
            ("Package field", |p| p.control.push_str("Package: evil\n")),
            ("wrong arch", |p| p.architecture = "amd64".into()),
        ];
        for (what, edit) in source_edits {
            let mut p = source();
            edit(&mut p);
            assert!(!check_package(&p).is_empty(), "{what} passed");
        }
    }

    #[test]
    fn settings_are_names_repo_add_accepts() {
        for good in ["stable", "bookworm-backports", "main", "non-free", "v1.2+x"] {
            assert!(check_setting(Setting::Dists, good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "stable/main/binary-amd64",
            "a b",
            "a\n",
        ] {
            for kind in Setting::ALL {
                assert!(check_setting(kind, bad).is_err(), "{bad}");
            }
        }
        assert!(check_setting(Setting::Archs, "Amd64").is_err());
    }

    proptest! {
        /// Whatever control text passes publishes as exactly one stanza
        /// with the package's own name and version.
        #[test]
        fn a_valid_package_is_one_stanza(extra in "[A-Za-z: \n.-]{0,40}") {
            let mut p = binary();
            p.control.push_str(&extra);
            if check_package(&p).is_empty() {
                let mut index = String::new();
                crate::publish::stanza::write_stanza(&p, "stable", &mut index);
                let stanzas: Vec<&str> = index.trim_end().split("\n\n").collect();
                prop_assert_eq!(stanzas.len(), 1);
                let para = parse_paragraph(stanzas[0]).unwrap();
                prop_assert_eq!(para.get("Package"), Some("hello"));
                prop_assert_eq!(para.get("Version"), Some("1.0-1"));
            }
        }
    }
}
