//! Building one index as a stream: packages come from the store in index
//! order, their stanzas go to a spool file and the four digests as they
//! are made, and the gzipped form is made from the spool file; so memory
//! holds a few MB of text and one package name's packages, whatever the
//! size of the index or the repository.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use anyhow::{Context as _, Result};

use super::index::{gzip_to, Digests};
use super::stanza::write_stanza;
use crate::catalog::{Catalog, Filter};
use crate::digest::DigestsWriter;
use crate::model::Package;
use crate::rules::check_package;

/// How much stanza text is handed to the writer thread at a time.
const CHUNK: usize = 1 << 20;

/// An index's plain form, spooled, with what was learnt building it.
pub struct Plain {
    pub spool: PathBuf,
    pub digests: Digests,
    /// How many stored packages break the rules (`rules::check_package`),
    /// and the first of them, described.
    pub invalid: usize,
    pub first_invalid: Option<String>,
    pub has_packages: bool,
}

/// Builds the index of the packages `filter` selects, as published in
/// `dist`, into the file `spool`.
pub fn plain(catalog: &Catalog, filter: &Filter, dist: &str, spool: &Path) -> Result<Plain> {
    let built = stream(spool, dist, &mut |each| {
        catalog.each_package_in_order(filter, each)
    })?;
    match built {
        Some(p) => Ok(p),
        // The store did not keep the order: sort in memory instead.
        None => stream(spool, dist, &mut |each| {
            for p in catalog.find(filter)? {
                each(p)?;
            }
            Ok(true)
        })
        .map(|p| p.expect("a sorted list is complete")),
    }
}

type Source<'a> = dyn FnMut(&mut dyn FnMut(Package) -> Result<()>) -> Result<bool> + 'a;

/// Writes the stanzas of the packages `source` hands out to `spool`,
/// hashed on a second thread as they are written. `None` when the source
/// says it was incomplete.
fn stream(spool: &Path, dist: &str, source: &mut Source<'_>) -> Result<Option<Plain>> {
    let file = File::create(spool).with_context(|| format!("creating {}", spool.display()))?;
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Vec<u8>>(2);
        let writer = s.spawn(move || -> io::Result<Digests> {
            let mut out = BufWriter::with_capacity(CHUNK, file);
            let mut digests = DigestsWriter::default();
            for chunk in rx {
                digests.write_all(&chunk)?;
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(digests.finish())
        });
        let mut text = String::with_capacity(CHUNK + (64 << 10));
        let (mut invalid, mut first_invalid, mut has_packages) = (0, None, false);
        let mut gone = false;
        let complete = source(&mut |p: Package| {
            has_packages = true;
            let problems = check_package(&p);
            if !problems.is_empty() {
                invalid += 1;
                first_invalid.get_or_insert_with(|| {
                    format!(
                        "{} {:?} {}/{}/{}: {}",
                        p.name,
                        p.version,
                        p.distribution,
                        p.component,
                        p.architecture,
                        problems.join("; ")
                    )
                });
            }
            write_stanza(&p, dist, &mut text);
            if text.len() >= CHUNK {
                let full = std::mem::replace(&mut text, String::with_capacity(CHUNK + (64 << 10)));
                // A closed channel means the writer failed: its error is
                // the one to report, after the join below.
                gone |= tx.send(full.into_bytes()).is_err();
            }
            Ok(())
        });
        if !text.is_empty() && !gone {
            let _ = tx.send(std::mem::take(&mut text).into_bytes());
        }
        drop(tx);
        let digests = writer
            .join()
            .expect("the writer thread does not panic")
            .with_context(|| format!("spooling an index to {}", spool.display()))?;
        Ok(complete?.then(|| Plain {
            spool: spool.to_path_buf(),
            digests,
            invalid,
            first_invalid,
            has_packages,
        }))
    })
}

/// Gzips the spool file `plain` into `gz`; returns the gzipped bytes'
/// digests.
pub fn gzipped(plain: &Path, gz: &Path) -> Result<Digests> {
    let fail = |what: &str| format!("{what} {}", gz.display());
    let mut input =
        BufReader::new(File::open(plain).with_context(|| fail("opening the source of"))?);
    let file = File::create(gz).with_context(|| fail("creating"))?;
    let mut out = Tee {
        file: BufWriter::with_capacity(CHUNK, file),
        digests: DigestsWriter::default(),
    };
    gzip_to(&mut input, &mut out).with_context(|| fail("writing"))?;
    out.file.flush().with_context(|| fail("writing"))?;
    Ok(out.digests.finish())
}

/// Writes to a file and hashes what it writes.
struct Tee {
    file: BufWriter<File>,
    digests: DigestsWriter,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.digests.write_all(&buf[..n])?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
