//! Reading a binary package (.deb): its control paragraph, checked, and the
//! MD5, SHA-1, SHA-256 and size of the whole file, in one streaming pass.
//!
//! A .deb is an ar archive: `debian-binary` ("2.0\n"), `control.tar[.gz|.xz|
//! .zst]`, `data.tar[.*]`, optionally with members named `_*` in between.
//! The file is read once through a hashing reader; the control member is
//! decompressed on the fly to find `./control`, the data member is only
//! passed through, so memory stays small whatever the package's size.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::control::{parse_paragraph, ControlError, Paragraph};
use super::names::{validate_architecture, validate_package_name};
use super::version;
use crate::digest::{Digests, HashingReader};

/// The largest control file accepted. Real ones are a few kilobytes; the
/// cap keeps a hostile package from making us hold much in memory.
const MAX_CONTROL_FILE: u64 = 1024 * 1024;
const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
const AR_HEADER_LEN: usize = 60;

/// What the repository needs to know about a binary package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebInfo {
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// The source package's name (the `Source` field without any
    /// "(version)"), when the control file has one.
    pub source: Option<String>,
    /// The control paragraph exactly as in the package, ending with exactly
    /// one '\n'.
    pub control: String,
    /// Lowercase hex digests of the whole file.
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    /// The file's size in bytes.
    pub size: u64,
}

/// A .deb that cannot be used, and why: displays as `<file>: <reason>`.
#[derive(Debug, Error)]
#[error("{}: {kind}", path.display())]
pub struct DebError {
    pub path: PathBuf,
    pub kind: DebErrorKind,
}

/// Why a .deb cannot be used.
#[derive(Debug, Error)]
pub enum DebErrorKind {
    #[error("cannot read: {0}")]
    Io(#[source] io::Error),
    #[error("not a Debian package (no ar header)")]
    NotAr,
    #[error("truncated archive")]
    Truncated,
    #[error("truncated archive (no {0} member)")]
    MissingMember(&'static str),
    #[error("not a Debian package ({0})")]
    NotDeb(String),
    #[error("{member} is corrupt: {reason}")]
    CorruptMember { member: String, reason: String },
    #[error("control file: {0}")]
    Control(#[source] ControlError),
    #[error("control file has no {0} field")]
    MissingField(&'static str),
    #[error("{0}")]
    Invalid(String),
}

impl From<io::Error> for DebErrorKind {
    /// End of file where more was promised means the file was cut short.
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            DebErrorKind::Truncated
        } else {
            DebErrorKind::Io(e)
        }
    }
}

/// Reads and checks a .deb; see the module documentation.
pub fn read_deb(path: &Path) -> Result<DebInfo, DebError> {
    read(path).map_err(|kind| DebError {
        path: path.to_path_buf(),
        kind,
    })
}

fn read(path: &Path) -> Result<DebInfo, DebErrorKind> {
    let file = File::open(path).map_err(DebErrorKind::Io)?;
    let mut reader = HashingReader::new(BufReader::with_capacity(1 << 16, file));
    let control = read_archive(&mut reader)?;
    let digests = reader.finish().map_err(DebErrorKind::Io)?;
    describe(&control, digests)
}

/// Walks the ar archive up to and through the data member and returns the
/// raw control file. The caller drains whatever follows.
fn read_archive<R: Read>(r: &mut R) -> Result<Vec<u8>, DebErrorKind> {
    read_magic(r)?;
    let first = next_member(r)?.ok_or(DebErrorKind::MissingMember("debian-binary"))?;
    if first.name != "debian-binary" {
        return Err(DebErrorKind::NotDeb(format!(
            "first member is {:?}, not \"debian-binary\"",
            first.name
        )));
    }
    check_format_version(r, &first)?;
    let mut control = None;
    loop {
        let Some(member) = next_member(r)? else {
            let missing = if control.is_none() {
                "control.tar"
            } else {
                "data.tar"
            };
            return Err(DebErrorKind::MissingMember(missing));
        };
        if member.name.starts_with('_') {
            skip_member(r, &member)?;
        } else if member.name.starts_with("control.tar") && control.is_none() {
            control = Some(read_control_member(r, &member)?);
        } else if member.name.starts_with("data.tar") && control.is_some() {
            // The data member is only hashed; nothing of it is kept.
            skip_member(r, &member)?;
            return Ok(control.unwrap_or_default());
        } else {
            return Err(DebErrorKind::NotDeb(format!(
                "unexpected member {:?}",
                member.name
            )));
        }
    }
}

/// Checks the global ar header. A short file that matches as far as it goes
/// was cut short; anything else is not an ar archive.
fn read_magic<R: Read>(r: &mut R) -> Result<(), DebErrorKind> {
    let mut magic = [0u8; 8];
    let n = read_up_to(r, &mut magic)?;
    if n == magic.len() && &magic == AR_MAGIC {
        Ok(())
    } else if n > 0 && n < magic.len() && magic[..n] == AR_MAGIC[..n] {
        Err(DebErrorKind::Truncated)
    } else {
        Err(DebErrorKind::NotAr)
    }
}

/// One ar member's header.
struct Member {
    name: String,
    size: u64,
}

impl Member {
    /// Members start at even offsets: odd-sized data is followed by '\n'.
    fn padding(&self) -> u64 {
        self.size % 2
    }
}

/// Reads the next member header; `None` at a clean end of the archive.
fn next_member<R: Read>(r: &mut R) -> Result<Option<Member>, DebErrorKind> {
    let mut header = [0u8; AR_HEADER_LEN];
    match read_up_to(r, &mut header)? {
        0 => return Ok(None),
        AR_HEADER_LEN => {}
        _ => return Err(DebErrorKind::Truncated),
    }
    let corrupt = || DebErrorKind::NotDeb("corrupt ar member header".to_string());
    if &header[58..60] != b"`\n" {
        return Err(corrupt());
    }
    let name = std::str::from_utf8(&header[..16]).map_err(|_| corrupt())?;
    // GNU ar ends names with '/'; dpkg accepts both spellings.
    let name = name.trim_end_matches(' ').trim_end_matches('/');
    let size = std::str::from_utf8(&header[48..58])
        .ok()
        .map(|s| s.trim_end_matches(' '))
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(corrupt)?;
    Ok(Some(Member {
        name: name.to_string(),
        size,
    }))
}

/// `debian-binary` holds the format version: "2.<minor>\n" is the only
/// format dpkg builds (and all it accepts besides ancient ones).
fn check_format_version<R: Read>(r: &mut R, member: &Member) -> Result<(), DebErrorKind> {
    let bad = || DebErrorKind::NotDeb("debian-binary is not \"2.0\"".to_string());
    if member.size > 16 {
        return Err(bad());
    }
    let mut content = vec![0u8; member.size as usize];
    r.read_exact(&mut content)?;
    copy_exact(r, member.padding())?;
    let text = std::str::from_utf8(&content).map_err(|_| bad())?;
    let minor = text
        .strip_prefix("2.")
        .and_then(|t| t.strip_suffix('\n'))
        .ok_or_else(bad)?;
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(())
}

fn skip_member<R: Read>(r: &mut R, member: &Member) -> Result<(), DebErrorKind> {
    copy_exact(r, member.size + member.padding())
}

/// Decompresses the control member on the fly and returns `./control`.
/// The member is always read to its end, so a cut-short file is reported as
/// truncated rather than as a decompression error.
fn read_control_member<R: Read>(r: &mut R, member: &Member) -> Result<Vec<u8>, DebErrorKind> {
    let mut data = r.by_ref().take(member.size);
    let found = extract_control(&mut data, &member.name);
    io::copy(&mut data, &mut io::sink()).map_err(DebErrorKind::from)?;
    if data.limit() > 0 {
        return Err(DebErrorKind::Truncated);
    }
    copy_exact(r, member.padding())?;
    found
}

/// The decompressor for a control member, chosen by its name as dpkg does.
fn decompressor<'a, R: Read + 'a>(
    data: R,
    member: &str,
) -> Result<Box<dyn Read + 'a>, DebErrorKind> {
    let reader: Box<dyn Read + 'a> = match member {
        "control.tar" => Box::new(data),
        "control.tar.gz" => Box::new(flate2::read::MultiGzDecoder::new(data)),
        "control.tar.xz" => Box::new(liblzma::read::XzDecoder::new_multi_decoder(data)),
        "control.tar.zst" => Box::new(zstd::stream::read::Decoder::new(data).map_err(|e| {
            DebErrorKind::CorruptMember {
                member: member.to_string(),
                reason: e.to_string(),
            }
        })?),
        other => {
            return Err(DebErrorKind::NotDeb(format!(
                "unsupported control member {other:?}"
            )))
        }
    };
    Ok(reader)
}

fn extract_control<R: Read>(data: R, member: &str) -> Result<Vec<u8>, DebErrorKind> {
    let mut tar = tar::Archive::new(decompressor(data, member)?);
    let control = find_control(&mut tar, member)?;
    // Decompress to the end, so the stream's own integrity check (gzip's
    // CRC, xz's and zstd's checksums) vouches for the control file too.
    io::copy(&mut tar.into_inner(), &mut io::sink()).map_err(|e| corrupt(member, e))?;
    Ok(control)
}

/// A decompression or tar error. Its text can quote damaged bytes, so
/// control characters are escaped to keep the message on one line.
fn corrupt(member: &str, e: io::Error) -> DebErrorKind {
    let reason = e
        .to_string()
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    DebErrorKind::CorruptMember {
        member: member.to_string(),
        reason,
    }
}

/// The `./control` (or `control`) entry of the control tarball.
fn find_control<R: Read>(tar: &mut tar::Archive<R>, member: &str) -> Result<Vec<u8>, DebErrorKind> {
    let corrupt = |e: io::Error| corrupt(member, e);
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?;
        if path != Path::new("./control") && path != Path::new("control") {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(DebErrorKind::NotDeb(
                "./control is not a regular file".to_string(),
            ));
        }
        if entry.size() > MAX_CONTROL_FILE {
            return Err(DebErrorKind::NotDeb(format!(
                "control file is larger than {MAX_CONTROL_FILE} bytes"
            )));
        }
        let mut control = Vec::new();
        entry
            .by_ref()
            .take(MAX_CONTROL_FILE)
            .read_to_end(&mut control)
            .map_err(corrupt)?;
        return Ok(control);
    }
    Err(DebErrorKind::NotDeb(format!(
        "{member} has no control file"
    )))
}

/// Reads exactly `n` bytes into the void (they are hashed on the way).
fn copy_exact<R: Read>(r: &mut R, n: u64) -> Result<(), DebErrorKind> {
    let copied = io::copy(&mut r.by_ref().take(n), &mut io::sink()).map_err(DebErrorKind::from)?;
    if copied < n {
        return Err(DebErrorKind::Truncated);
    }
    Ok(())
}

/// Fills `buf` as far as the input allows; returns how much was read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, DebErrorKind> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DebErrorKind::Io(e)),
        }
    }
    Ok(filled)
}

/// Parses and checks the control file, and assembles the description.
fn describe(control: &[u8], digests: Digests) -> Result<DebInfo, DebErrorKind> {
    let text = std::str::from_utf8(control)
        .map_err(|_| DebErrorKind::Invalid("control file is not valid UTF-8".to_string()))?;
    let paragraph = parse_paragraph(text).map_err(DebErrorKind::Control)?;
    if !text[paragraph.consumed()..].trim().is_empty() {
        return Err(DebErrorKind::Invalid(
            "control file has more than one paragraph".to_string(),
        ));
    }
    let package = required(&paragraph, "Package")?;
    let version = required(&paragraph, "Version")?;
    let architecture = required(&paragraph, "Architecture")?;
    validate_package_name(&package).map_err(DebErrorKind::Invalid)?;
    version::parse(&version).map_err(DebErrorKind::Invalid)?;
    validate_architecture(&architecture).map_err(DebErrorKind::Invalid)?;
    check_binary_architecture(&architecture)?;
    Ok(DebInfo {
        source: source_name(&paragraph)?,
        package,
        version,
        architecture,
        control: paragraph.text(),
        md5: digests.md5,
        sha1: digests.sha1,
        sha256: digests.sha256,
        size: digests.size,
    })
}

/// `source` names source items in the repository, and wildcards (`any`,
/// `linux-any`, `any-amd64`) belong in source packages only: dpkg-deb builds
/// such packages, but no machine can install them.
fn check_binary_architecture(arch: &str) -> Result<(), DebErrorKind> {
    let wildcard = arch == "any" || arch.starts_with("any-") || arch.ends_with("-any");
    if arch == "source" || wildcard {
        return Err(DebErrorKind::Invalid(format!(
            "architecture {arch:?} is not allowed in a binary package"
        )));
    }
    Ok(())
}

fn required(paragraph: &Paragraph, field: &'static str) -> Result<String, DebErrorKind> {
    match paragraph.get(field) {
        Some(value) if !value.is_empty() => Ok(value.to_string()),
        _ => Err(DebErrorKind::MissingField(field)),
    }
}

/// `Source: name` or `Source: name (version)` when the binary's version
/// differs from its source's.
fn source_name(paragraph: &Paragraph) -> Result<Option<String>, DebErrorKind> {
    let Some(value) = paragraph.get("Source") else {
        return Ok(None);
    };
    let name = value.split_whitespace().next().unwrap_or("");
    validate_package_name(name).map_err(|e| DebErrorKind::Invalid(format!("Source field: {e}")))?;
    Ok(Some(name.to_string()))
}
