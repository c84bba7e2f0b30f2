//! Index files (Packages, Sources): built once in memory, then hashed with
//! every algorithm a Release lists and gzipped, all from the same bytes.
//!
//! Hashing and compression run at once: gzip is the slow half, and runs on
//! every core (see [`gzip`]) while the four digests of the plain bytes are
//! computed beside it.

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

use super::stanza::write_stanza;
pub use crate::digest::{Algo, Digests};
use crate::model::Package;
use crate::parallel;

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

/// gzip level 6, as `gzip -6` and the Debian archive tools use.
///
/// Compressed the way pigz does it: slices of `GZIP_SLICE` bytes deflated
/// independently on every core, each primed with the 32 KiB before it (so
/// the output is within 0.05% of one stream's size) and each but the last
/// ending in a sync flush (an empty stored block, so the next slice starts
/// on a byte boundary), joined into one ordinary gzip member. The output
/// depends only on the input, not on the number of threads, and the header
/// carries no name and no time, so equal input gives equal bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 3 + 64);
    gzip_to(&mut &bytes[..], &mut out).expect("reading and writing memory cannot fail");
    out
}

/// [`gzip`] of everything `input` yields, streamed to `out`: a batch of
/// slices (a few per core) is read and compressed at a time, so memory
/// stays a few MB whatever the input's size. The bytes are those of
/// [`gzip`] of the whole input.
pub fn gzip_to(input: &mut dyn Read, out: &mut dyn Write) -> io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let batch = GZIP_SLICE * 4 * workers;
    // ID1 ID2, deflate, no flags, no mtime, no extra flags, unknown OS.
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
    let mut crc = flate2::Crc::new();
    // The 32 KiB before the batch, then the batch.
    let mut data: Vec<u8> = Vec::with_capacity(WINDOW + batch);
    let mut window = 0;
    let mut next = fill(input, batch)?;
    loop {
        data.extend_from_slice(&next);
        let full = next.len() == batch;
        next = if full {
            fill(input, batch)?
        } else {
            Vec::new()
        };
        let last_batch = next.is_empty();
        crc.update(&data[window..]);
        let mut slices: Vec<(usize, usize)> = (window..data.len())
            .step_by(GZIP_SLICE)
            .map(|start| (start, (start + GZIP_SLICE).min(data.len())))
            .collect();
        if slices.is_empty() {
            slices.push((window, window)); // an empty input is one empty final block
        }
        let last = slices.len() - 1;
        let numbered: Vec<(usize, (usize, usize))> = slices.into_iter().enumerate().collect();
        let deflated = parallel::map(&numbered, workers, |&(i, (start, end))| {
            deflate(
                &data[start.saturating_sub(WINDOW)..start],
                &data[start..end],
                last_batch && i == last,
            )
        });
        for d in deflated {
            out.write_all(&d)?;
        }
        if last_batch {
            break;
        }
        let keep = data.len().min(WINDOW);
        data.drain(..data.len() - keep);
        window = keep;
    }
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    Ok(())
}

/// Up to `n` bytes of `input`: fewer only at its end.
fn fill(input: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    input.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The size of the slices [`gzip`] compresses independently: small enough
/// that a 1 MB index keeps two cores busy.
const GZIP_SLICE: usize = 256 << 10;
/// deflate's window: how far back a match can reach.
const WINDOW: usize = 32 << 10;

/// Raw deflate of one slice, matches allowed into `window` (the bytes just
/// before it): the final block if `last`, else ending in a sync flush.
fn deflate(window: &[u8], input: &[u8], last: bool) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    if !window.is_empty() {
        c.set_dictionary(window)
            .expect("a raw deflate stream takes a dictionary before its first byte");
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(input.len() / 3 + 64);
    loop {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&input[consumed..], &mut out, flush)
            .expect("deflate of bytes in memory cannot fail");
        let all_in = c.total_in() as usize == input.len();
        // A flush is complete when it left output space unused; a finish
        // when the stream has ended.
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => all_in && out.len() < out.capacity(),
        };
        if done {
            return out;
        }
        out.reserve(out.capacity().max(64 << 10));
    }
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
    use md5::Md5;
    use sha1::Sha1;
    use sha2::{Digest, Sha256, Sha512};

    use super::*;
    use crate::model::Payload;

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

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    #[test]
    fn sliced_gzip_is_one_member_that_gzip_reads() {
        // Three slices and a bit, with a repeat that crosses slice borders.
        let data: Vec<u8> = b"Package: libfoo\nVersion: 1.2-3\nDescription: a \xc3\xa9 thing\n\n"
            .iter()
            .copied()
            .cycle()
            .take(3 * GZIP_SLICE + 4321)
            .collect();
        let gz = gzip(&data);
        // A single member: the plain decoder (which stops after one member)
        // reads it all.
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // And the standard tool agrees.
        if let Ok(mut child) = std::process::Command::new("gzip")
            .args(["-t", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
        {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(&gz).unwrap();
            assert!(
                child.wait().unwrap().success(),
                "gzip -t rejects our output"
            );
        }
    }

    #[test]
    fn slicing_costs_almost_no_compression() {
        // Text-like input: random words, as an index's descriptions.
        let words = [
            "libfoo", "Depends:", "amd64", "1.2-3", "the", "library", "\n",
        ];
        let mut x: u32 = 1;
        let mut data = Vec::new();
        while data.len() < 4 * GZIP_SLICE {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            data.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
            data.push(b' ');
        }
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        std::io::Write::write_all(&mut one, &data).unwrap();
        let one = one.finish().unwrap().len() as f64;
        let sliced = gzip(&data).len() as f64;
        assert!(
            sliced < one * 1.005,
            "sliced {sliced} bytes, one stream {one}"
        );
    }

    #[test]
    fn gzip_of_empty_input_is_valid() {
        assert_eq!(gunzip(&gzip(b"")), b"");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn gzip_round_trips(data in proptest::collection::vec(proptest::num::u8::ANY, 0..3000), repeat in 1usize..800) {
            // Repeating a random block makes inputs of up to ~2.4 slices.
            let input: Vec<u8> = data.iter().copied().cycle().take(data.len() * repeat).collect();
            proptest::prop_assert_eq!(gunzip(&gzip(&input)), input);
        }
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
