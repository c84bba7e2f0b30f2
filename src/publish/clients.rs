//! What an apt client needs to use the repository, as current apt wants it:
//! a deb822 `.sources` stanza per distribution, with the signing key either
//! embedded in `Signed-By` (apt 2.3+) or named by path.

/// How a client trusts the repository's Release files.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// The armored public key(s), embedded in the stanza.
    Key(&'a str),
    /// A keyring file on the client.
    KeyPath(&'a str),
    /// The Release files are not signed: `Trusted: yes`.
    Unsigned,
}

/// One distribution as a client sees it.
#[derive(Debug, Clone)]
pub struct Suite<'a> {
    pub url: &'a str,
    pub dist: &'a str,
    pub comps: &'a [String],
    /// Binary architectures (no `all`/`source`); empty leaves the client's own.
    pub archs: &'a [String],
    /// Whether a `deb-src` type is worth listing.
    pub with_sources: bool,
}

/// A deb822 stanza (ends with a newline; stanzas are joined by a blank line).
pub fn sources_stanza(s: &Suite, trust: Trust) -> String {
    let mut out = String::new();
    let types = if s.with_sources { "deb deb-src" } else { "deb" };
    out.push_str(&format!("Types: {types}\n"));
    out.push_str(&format!("URIs: {}\n", s.url));
    out.push_str(&format!("Suites: {}\n", s.dist));
    out.push_str(&format!("Components: {}\n", s.comps.join(" ")));
    if !s.archs.is_empty() {
        out.push_str(&format!("Architectures: {}\n", s.archs.join(" ")));
    }
    match trust {
        Trust::Key(armored) => {
            // A multi-line field: every line indented, empty lines as ` .`.
            out.push_str("Signed-By:\n");
            for line in armored.trim_end().lines() {
                let line = line.trim_end();
                if line.is_empty() {
                    out.push_str(" .\n");
                } else {
                    out.push_str(&format!(" {line}\n"));
                }
            }
        }
        Trust::KeyPath(path) => out.push_str(&format!("Signed-By: {path}\n")),
        Trust::Unsigned => out.push_str("Trusted: yes\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite<'a>(comps: &'a [String], archs: &'a [String]) -> Suite<'a> {
        Suite {
            url: "http://repo.example/apt",
            dist: "bookworm",
            comps,
            archs,
            with_sources: true,
        }
    }

    #[test]
    fn an_embedded_key_is_a_folded_field() {
        let comps = ["main".to_string(), "extra".to_string()];
        let archs = ["amd64".to_string()];
        let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBG\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_eq!(
            sources_stanza(&suite(&comps, &archs), Trust::Key(key)),
            "Types: deb deb-src\nURIs: http://repo.example/apt\nSuites: bookworm\n\
             Components: main extra\nArchitectures: amd64\nSigned-By:\n \
             -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBG\n =abcd\n \
             -----END PGP PUBLIC KEY BLOCK-----\n"
        );
    }

    #[test]
    fn unsigned_and_key_path_variants() {
        let comps = ["main".to_string()];
        let s = sources_stanza(&suite(&comps, &[]), Trust::Unsigned);
        assert!(s.ends_with("Components: main\nTrusted: yes\n"), "{s}");
        assert!(!s.contains("Architectures"));
        let s = sources_stanza(&suite(&comps, &[]), Trust::KeyPath("/k.asc"));
        assert!(s.ends_with("Signed-By: /k.asc\n"), "{s}");
    }
}
