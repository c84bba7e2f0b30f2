//! Building a distribution's indices as a stream: its packages come from
//! the store once, in index order, each stanza goes to the spool file and
//! the four digests of every index that lists it as it is made, and the
//! gzipped form is made from the spool file; so memory holds a few MB of
//! text per index and one package name's packages, whatever the size of
//! the indices or the repository.

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

/// Builds every index of distribution `dist` in one pass over its
/// packages: `routes(p)` names the indices (positions in the result) that
/// list package `p`; index `i` is spooled to `spool/i`. One read of the
/// distribution instead of one query per index: the store matches and
/// reads each item once.
pub fn plains(
    catalog: &Catalog,
    dist: &str,
    count: usize,
    routes: &dyn Fn(&Package) -> Vec<usize>,
    spool: &Path,
) -> Result<Vec<Plain>> {
    let filter = Filter {
        dists: vec![dist.to_string()],
        ..Filter::default()
    };
    let built = stream(spool, dist, count, routes, &mut |each| {
        catalog.each_package_in_order(&filter, each)
    })?;
    match built {
        Some(p) => Ok(p),
        // The store did not keep the order: sort in memory instead.
        None => stream(spool, dist, count, routes, &mut |each| {
            for p in catalog.find(&filter)? {
                each(p)?;
            }
            Ok(true)
        })
        .map(|p| p.expect("a sorted list is complete")),
    }
}

type Source<'a> = dyn FnMut(&mut dyn FnMut(Package) -> Result<()>) -> Result<bool> + 'a;

/// One index being written: its text not yet handed to the writer thread,
/// and what was learnt of its packages.
#[derive(Default)]
struct Open {
    text: String,
    invalid: usize,
    first_invalid: Option<String>,
    has_packages: bool,
}

/// Writes the stanzas of the packages `source` hands out to the spool
/// files of the indices `routes` names, hashed on a second thread as they
/// are written. `None` when the source says it was incomplete.
fn stream(
    spool: &Path,
    dist: &str,
    count: usize,
    routes: &dyn Fn(&Package) -> Vec<usize>,
    source: &mut Source<'_>,
) -> Result<Option<Vec<Plain>>> {
    let paths: Vec<PathBuf> = (0..count).map(|i| spool.join(i.to_string())).collect();
    let mut files = Vec::new();
    for p in &paths {
        files.push(File::create(p).with_context(|| format!("creating {}", p.display()))?);
    }
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<(usize, Vec<u8>)>(4);
        let writer = s.spawn(move || -> io::Result<Vec<Digests>> {
            let mut outs: Vec<(BufWriter<File>, DigestsWriter)> = files
                .into_iter()
                .map(|f| {
                    (
                        BufWriter::with_capacity(64 << 10, f),
                        DigestsWriter::default(),
                    )
                })
                .collect();
            for (i, chunk) in rx {
                let (file, digests) = &mut outs[i];
                digests.write_all(&chunk)?;
                file.write_all(&chunk)?;
            }
            outs.into_iter()
                .map(|(mut f, d)| f.flush().map(|()| d.finish()))
                .collect()
        });
        let mut open: Vec<Open> = (0..count).map(|_| Open::default()).collect();
        // A closed channel means the writer failed: its error is the one
        // to report, after the join below.
        let mut gone = false;
        let complete = source(&mut |p: Package| {
            let to = routes(&p);
            if to.is_empty() {
                return Ok(());
            }
            let problems = check_package(&p);
            let mut stanza = String::new();
            write_stanza(&p, dist, &mut stanza);
            for i in to {
                let o = &mut open[i];
                o.has_packages = true;
                if !problems.is_empty() {
                    o.invalid += 1;
                    o.first_invalid.get_or_insert_with(|| {
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
                o.text.push_str(&stanza);
                if o.text.len() >= CHUNK && !gone {
                    let full = std::mem::take(&mut o.text);
                    gone = tx.send((i, full.into_bytes())).is_err();
                }
            }
            Ok(())
        });
        for (i, o) in open.iter_mut().enumerate() {
            if !o.text.is_empty() && !gone {
                gone = tx
                    .send((i, std::mem::take(&mut o.text).into_bytes()))
                    .is_err();
            }
        }
        drop(tx);
        let digests = writer
            .join()
            .expect("the writer thread does not panic")
            .with_context(|| format!("spooling index files to {}", spool.display()))?;
        if !complete? {
            return Ok(None);
        }
        Ok(Some(
            open.into_iter()
                .zip(digests)
                .zip(paths)
                .map(|((o, digests), spool)| Plain {
                    spool,
                    digests,
                    invalid: o.invalid,
                    first_invalid: o.first_invalid,
                    has_packages: o.has_packages,
                })
                .collect(),
        ))
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
