//! Index files (Packages, Sources): built once in memory, then hashed with
//! every algorithm a Release lists and gzipped, all from the same bytes.
//!
//! Hashing and compression run on two threads at once: gzip is the slow
//! half, so the four digests of the plain bytes cost almost nothing extra.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::stanza::write_stanza;
use crate::model::Package;

/// The digest algorithms a Release lists, strongest last, with the names
/// used both as Release section titles and as `by-hash/<name>/` directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub const ALL: [Algo; 4] = [Algo::Md5, Algo::Sha1, Algo::Sha256, Algo::Sha512];

    /// `MD5Sum`, `SHA1`, `SHA256`, `SHA512`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "MD5Sum",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
            Algo::Sha512 => "SHA512",
        }
    }
}

/// The digests (lowercase hex) and size of some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
    pub size: u64,
}

impl Digests {
    pub fn of(bytes: &[u8]) -> Digests {
        // One pass per algorithm over 1 MiB slices: each slice stays in the
        // cache while all four hashers read it.
        let (mut m, mut s1, mut s2, mut s5) =
            (Md5::new(), Sha1::new(), Sha256::new(), Sha512::new());
        for chunk in bytes.chunks(1 << 20) {
            m.update(chunk);
            s1.update(chunk);
            s2.update(chunk);
            s5.update(chunk);
        }
        Digests {
            md5: hex::encode(m.finalize()),
            sha1: hex::encode(s1.finalize()),
            sha256: hex::encode(s2.finalize()),
            sha512: hex::encode(s5.finalize()),
            size: bytes.len() as u64,
        }
    }

    pub fn get(&self, algo: Algo) -> &str {
        match algo {
            Algo::Md5 => &self.md5,
            Algo::Sha1 => &self.sha1,
            Algo::Sha256 => &self.sha256,
            Algo::Sha512 => &self.sha512,
        }
    }
}

/// The text of an index: the stanzas of `packages` (already in index
/// order) as published in `dist`.
pub fn index_text(packages: &[Package], dist: &str) -> Vec<u8> {
    let approx: usize = packages.iter().map(|p| p.control.len() + 320).sum();
    let mut out = String::with_capacity(approx);
    for p in packages {
        write_stanza(p, dist, &mut out);
    }
    out.into_bytes()
}

/// An index's plain and gzipped bytes with their digests.
#[derive(Debug, Clone)]
pub struct Compressed {
    pub plain: Digests,
    pub gz: Vec<u8>,
    pub gz_digests: Digests,
}

/// gzip level 6, as `gzip -6` and the Debian archive tools use. The header
/// carries no name and no time, so equal input gives equal bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::new(6),
    );
    enc.write_all(bytes)
        .and_then(|_| enc.finish())
        .expect("compressing into memory cannot fail")
}

/// Hashes and gzips `bytes`, the two in parallel.
pub fn compress_and_hash(bytes: &[u8]) -> Compressed {
    let (plain, gz) = std::thread::scope(|s| {
        let gz = s.spawn(|| gzip(bytes));
        let plain = Digests::of(bytes);
        (plain, gz.join().expect("the gzip thread does not panic"))
    });
    let gz_digests = Digests::of(&gz);
    Compressed {
        plain,
        gz,
        gz_digests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Payload;
    use std::io::Read;

    #[test]
    fn known_digests_of_empty_input() {
        let d = Digests::of(b"");
        assert_eq!(d.md5, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(d.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            d.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(d.sha512.starts_with("cf83e1357eefb8bdf1542850d66d8007"));
        assert_eq!(d.size, 0);
    }

    #[test]
    fn digests_do_not_depend_on_chunking() {
        let data: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i % 251) as u8).collect();
        let d = Digests::of(&data);
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&data)));
        assert_eq!(d.sha512, hex::encode(Sha512::digest(&data)));
        assert_eq!(d.md5, hex::encode(Md5::digest(&data)));
        assert_eq!(d.sha1, hex::encode(Sha1::digest(&data)));
    }

    #[test]
    fn gzip_round_trips_and_is_deterministic() {
        let data = b"Package: a\nVersion: 1\n\n".repeat(1000);
        let c = compress_and_hash(&data);
        assert_eq!(c.gz, gzip(&data));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&c.gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(c.plain, Digests::of(&data));
        assert_eq!(c.gz_digests, Digests::of(&c.gz));
    }

    #[test]
    fn index_text_keeps_the_given_order() {
        let p = |name: &str| Package {
            name: name.into(),
            version: "1".into(),
            distribution: "d".into(),
            component: "c".into(),
            architecture: "all".into(),
            payload: Payload::Binary {
                filename: format!("{name}_1_all.deb"),
                md5: "m".into(),
                sha1: "s".into(),
                sha256: "t".into(),
                size: 1,
            },
            control: format!("Package: {name}\nVersion: 1\n"),
        };
        let text = String::from_utf8(index_text(&[p("b"), p("a")], "d")).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("Package: "))
            .collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(text.matches("\n\n").count(), 2);
    }
}
