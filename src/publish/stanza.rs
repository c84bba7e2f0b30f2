//! Index stanzas, composed as the original composes them: a Packages stanza
//! is `Filename`, `MD5sum`, `SHA1`, `SHA256`, `Size`, then the stored control
//! text; a Sources stanza is `Directory`, `Package`, then the stored .dsc
//! text. Unlike the original, every stanza ends with exactly one blank line
//! whatever the stored text ends with.

use crate::model::{Package, Payload};

/// Appends the index stanza of `p` as published in `dist`.
pub fn write_stanza(p: &Package, dist: &str, out: &mut String) {
    let dir = p.pool_dir(dist);
    match &p.payload {
        Payload::Binary {
            filename,
            md5,
            sha1,
            sha256,
            size,
        } => {
            out.push_str(&format!(
                "Filename: {dir}/{filename}\nMD5sum: {md5}\nSHA1: {sha1}\nSHA256: {sha256}\nSize: {size}\n"
            ));
        }
        Payload::Source { .. } => {
            out.push_str(&format!("Directory: {dir}\nPackage: {}\n", p.name));
        }
    }
    out.push_str(p.control.trim_end_matches(['\n', '\r']));
    out.push_str("\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(control: &str) -> Package {
        Package {
            name: "hello".into(),
            version: "1.0".into(),
            distribution: "d".into(),
            component: "main".into(),
            architecture: "amd64".into(),
            payload: Payload::Binary {
                filename: "hello_1.0_amd64.deb".into(),
                md5: "m".into(),
                sha1: "s1".into(),
                sha256: "s2".into(),
                size: 7,
            },
            control: control.into(),
        }
    }

    #[test]
    fn one_blank_line_whatever_the_stored_text_ends_with() {
        for ending in ["", "\n", "\n\n", "\n\n\n"] {
            let mut s = String::new();
            write_stanza(
                &pkg(&format!("Package: hello\nVersion: 1.0{ending}")),
                "stable",
                &mut s,
            );
            assert_eq!(
                s,
                "Filename: pool/stable/h/hello/hello_1.0_amd64.deb\nMD5sum: m\nSHA1: s1\nSHA256: s2\nSize: 7\nPackage: hello\nVersion: 1.0\n\n"
            );
        }
    }
}
