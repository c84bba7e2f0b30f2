//! A reader that computes MD5, SHA-1 and SHA-256 and counts bytes while
//! passing data through, so a file is hashed in the same pass that parses it.

use std::io::{self, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Digests of some bytes, as lowercase hex, and their count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digests {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub size: u64,
}

/// Wraps a reader; every byte read through it is hashed and counted.
pub(crate) struct HashingReader<R> {
    inner: R,
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            md5: Md5::new(),
            sha1: Sha1::new(),
            sha256: Sha256::new(),
            size: 0,
        }
    }

    /// Reads whatever is left, then returns the digests of everything read.
    pub(crate) fn finish(mut self) -> io::Result<Digests> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(Digests {
            md5: hex::encode(self.md5.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            size: self.size,
        })
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.size += n as u64;
        Ok(n)
    }
}

/// Hashes a byte slice (a file already read into memory).
pub(crate) fn digest_bytes(data: &[u8]) -> Digests {
    let reader = HashingReader::new(data);
    // Reading from a slice cannot fail.
    reader.finish().expect("reading from memory")
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
