//! Every digest repoman computes: the set a Release and an index stanza
//! list (MD5, SHA-1, SHA-256, SHA-512) of files and indices, and SHA-256
//! alone of objects, backups and item names.
//!
//! [`HashingReader`] computes the set while passing data through, so a
//! package file is hashed in the same pass that parses it.

use std::io::{self, Read, Write};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

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
    /// The digests of bytes in memory.
    pub fn of(bytes: &[u8]) -> Digests {
        let mut h = Hashers::new();
        // 1 MiB slices: each stays in the cache while all four hashers read it.
        for chunk in bytes.chunks(1 << 20) {
            h.update(chunk);
        }
        h.finish()
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

/// The four hashers and a byte count.
struct Hashers {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
    sha512: Sha512,
    size: u64,
}

impl Hashers {
    fn new() -> Hashers {
        Hashers {
            md5: Md5::new(),
            sha1: Sha1::new(),
            sha256: Sha256::new(),
            sha512: Sha512::new(),
            size: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.sha512.update(data);
        self.size += data.len() as u64;
    }

    fn finish(self) -> Digests {
        Digests {
            md5: hex::encode(self.md5.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
            size: self.size,
        }
    }
}

/// Wraps a reader; every byte read through it is hashed and counted.
pub struct HashingReader<R> {
    inner: R,
    hashers: Hashers,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hashers: Hashers::new(),
        }
    }

    /// Reads whatever is left, then returns the digests of everything read.
    pub fn finish(mut self) -> io::Result<Digests> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hashers.finish())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hashers.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that computes [`Digests`] of everything written to it (an
/// index streamed to its spool file).
pub struct DigestsWriter(Hashers);

impl Default for DigestsWriter {
    fn default() -> Self {
        DigestsWriter(Hashers::new())
    }
}

impl DigestsWriter {
    /// The digests and size of everything written.
    pub fn finish(self) -> Digests {
        self.0.finish()
    }
}

impl Write for DigestsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes a byte slice (a file already read into memory).
pub fn digest_bytes(data: &[u8]) -> Digests {
    Digests::of(data)
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A writer that only hashes what is written to it with SHA-256 (for
/// streaming an object or a file through).
#[derive(Default)]
pub struct Sha256Writer(Sha256);

impl Sha256Writer {
    /// The digest of everything written, as lowercase hex.
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

impl Write for Sha256Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of everything `r` yields, as lowercase hex.
pub fn sha256_of(mut r: impl Read) -> io::Result<String> {
    let mut w = Sha256Writer::default();
    io::copy(&mut r, &mut w)?;
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let d = digest_bytes(b"abc");
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.size, 3);
    }

    #[test]
    fn partial_reads_then_finish_cover_everything() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = HashingReader::new(&data[..]);
        let mut head = [0u8; 10];
        r.read_exact(&mut head).unwrap();
        assert_eq!(&head[..], &data[..10]);
        assert_eq!(r.finish().unwrap(), digest_bytes(&data));
    }
}
