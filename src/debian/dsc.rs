//! Reading a source package description (.dsc), plain or PGP clear-signed,
//! and verifying every file it lists (present beside it, right size, right
//! MD5/SHA-1/SHA-256) before anything is uploaded.
//!
//! The text stored for a source package is the .dsc paragraph in which
//! `Files`, `Checksums-Sha1` and `Checksums-Sha256` each end with a line for
//! the .dsc itself: apt downloads only the files a Sources stanza lists, so
//! the .dsc must be among them. apt-repoman 1.0.7 (through pydpkg) stores
//! the same; its backups show the .dsc line last in each of those fields.
//! (pydpkg also re-folded long lines the way e-mail headers are folded; the
//! original line layout is kept here, which apt reads identically.)

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::control::{parse_paragraph, ControlError, Paragraph};
use super::names::{validate_file_name, validate_package_name};
use super::version;
use crate::digest::{digest_bytes, Digests, HashingReader};
use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};

/// A .dsc is a few kilobytes; anything much larger is not one.
const MAX_DSC: u64 = 1024 * 1024;

const SIGNED_HEADER: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_HEADER: &str = "-----BEGIN PGP SIGNATURE-----";

/// One file a .dsc lists, with the checksums it gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DscFile {
    pub name: String,
    pub size: u64,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

/// A verified source package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DscInfo {
    pub source: String,
    pub version: String,
    /// The .dsc file itself.
    pub path: PathBuf,
    /// The files the .dsc lists (not the .dsc), in `Files` order.
    pub files: Vec<DscFile>,
    /// The .dsc itself: its base name, size and digests, as listed in
    /// `control` (so an upload can check it is still the same file).
    pub dsc_file: DscFile,
    /// The text to store: see the module documentation. Ends with one '\n'.
    pub control: String,
}

impl DscInfo {
    /// Base names of every file of the source package, the .dsc first.
    pub fn file_names(&self) -> Vec<String> {
        std::iter::once(self.dsc_file.name.clone())
            .chain(self.files.iter().map(|f| f.name.clone()))
            .collect()
    }

    /// Paths of every file of the source package (beside the .dsc), the
    /// .dsc first.
    pub fn paths(&self) -> Vec<PathBuf> {
        let dir = directory_of(&self.path);
        std::iter::once(self.path.clone())
            .chain(self.files.iter().map(|f| dir.join(&f.name)))
            .collect()
    }
}

/// A .dsc that cannot be used, and why: displays as `<file>: <reason>`.
#[derive(Debug, Error)]
#[error("{}: {kind}", path.display())]
pub struct DscError {
    pub path: PathBuf,
    pub kind: DscErrorKind,
}

/// Why a .dsc cannot be used.
#[derive(Debug, Error)]
pub enum DscErrorKind {
    #[error("cannot read: {0}")]
    Io(#[source] io::Error),
    #[error("is larger than {MAX_DSC} bytes, too large for a .dsc")]
    TooLarge,
    #[error("is not valid UTF-8")]
    NotUtf8,
    #[error("PGP signed message has no signature block")]
    UnterminatedSignature,
    #[error("PGP signature block is malformed: {0}")]
    BadSignature(String),
    #[error("is not signed, and signatures are verified (--verify-signatures)")]
    Unsigned,
    #[error("no signature verifies with a key of {0}")]
    UnknownKey(String),
    #[error("{0}")]
    Control(#[source] ControlError),
    #[error("has no {0} field")]
    MissingField(&'static str),
    #[error("{field}: {reason}")]
    BadList { field: &'static str, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is missing")]
    MissingFile(String),
    #[error("cannot read {name}: {error}")]
    FileIo {
        name: String,
        #[source]
        error: io::Error,
    },
    #[error("{name} is {actual} bytes, the .dsc says {listed}")]
    WrongSize {
        name: String,
        actual: u64,
        listed: u64,
    },
    #[error("{name} has {algorithm} {actual}, the .dsc says {listed}")]
    WrongChecksum {
        name: String,
        algorithm: &'static str,
        actual: String,
        listed: String,
    },
}

/// Public keys .dsc signatures must verify with (`--verify-signatures`).
pub struct Keyring {
    /// Where they came from, for messages.
    pub source: String,
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads a keyring file: binary (`gpg --export`) or armored keys.
    pub fn open(path: &Path) -> Result<Keyring, DscError> {
        let err = |reason: String| DscError {
            path: path.to_path_buf(),
            kind: DscErrorKind::Invalid(reason),
        };
        let bytes = std::fs::read(path).map_err(|e| DscError {
            path: path.to_path_buf(),
            kind: DscErrorKind::Io(e),
        })?;
        let parsed: Result<Vec<SignedPublicKey>, _> = if bytes.starts_with(b"-----BEGIN PGP") {
            SignedPublicKey::from_armor_many(&bytes[..])
                .and_then(|(keys, _)| keys.collect::<Result<Vec<_>, _>>())
        } else {
            SignedPublicKey::from_bytes_many(&bytes[..]).and_then(|keys| keys.collect())
        };
        let keys = parsed.map_err(|e| err(format!("not an OpenPGP keyring: {e}")))?;
        if keys.is_empty() {
            return Err(err("holds no public key".into()));
        }
        Ok(Keyring {
            source: path.display().to_string(),
            keys,
        })
    }

    /// Whether one of `sigs` verifies `data` with one of the keys (primary
    /// or subkey).
    fn verifies(&self, sigs: &[pgp::packet::Signature], data: &[u8]) -> bool {
        sigs.iter().any(|s| {
            self.keys.iter().any(|k| {
                s.verify(&k.primary_key, data).is_ok()
                    || k.public_subkeys
                        .iter()
                        .any(|sk| s.verify(&sk.key, data).is_ok())
            })
        })
    }
}

/// Reads a .dsc and verifies the files it lists; see the module docs.
pub fn read_dsc(path: &Path) -> Result<DscInfo, DscError> {
    read_dsc_verified(path, None)
}

/// [`read_dsc`], and with `keyring` the .dsc must be clear-signed with a
/// signature that verifies with one of its keys.
pub fn read_dsc_verified(path: &Path, keyring: Option<&Keyring>) -> Result<DscInfo, DscError> {
    read(path, keyring).map_err(|kind| DscError {
        path: path.to_path_buf(),
        kind,
    })
}

fn read(path: &Path, keyring: Option<&Keyring>) -> Result<DscInfo, DscErrorKind> {
    // One read: the bytes parsed are the bytes hashed for the .dsc line.
    let bytes = read_limited(path)?;
    let dsc_digests = digest_bytes(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| DscErrorKind::NotUtf8)?;
    let body = strip_signature(&text)?;
    let signed = body.len() != text.len() || body != text;
    if signed {
        // The signature block must be a real one, whether or not it is
        // verified: a malformed block means a damaged or forged upload.
        let (msg, _) = CleartextSignedMessage::from_string(&text)
            .map_err(|e| DscErrorKind::BadSignature(e.to_string()))?;
        if msg.signatures().is_empty() {
            return Err(DscErrorKind::BadSignature("it holds no signature".into()));
        }
        if let Some(keyring) = keyring {
            if !keyring.verifies(msg.signatures(), msg.signed_text().as_bytes()) {
                return Err(DscErrorKind::UnknownKey(keyring.source.clone()));
            }
        }
    } else if keyring.is_some() {
        return Err(DscErrorKind::Unsigned);
    }
    let paragraph = parse_paragraph(&body).map_err(DscErrorKind::Control)?;
    let source = required(&paragraph, "Source")?;
    let version = required(&paragraph, "Version")?;
    validate_package_name(&source).map_err(DscErrorKind::Invalid)?;
    version::parse(&version).map_err(DscErrorKind::Invalid)?;
    let dsc_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = listed_files(&paragraph, &dsc_name)?;
    let dir = directory_of(path);
    for file in &files {
        verify(&dir, file)?;
    }
    Ok(DscInfo {
        source,
        version,
        path: path.to_path_buf(),
        files,
        control: stored_text(&paragraph, &dsc_name, &dsc_digests),
        dsc_file: DscFile {
            name: dsc_name,
            size: dsc_digests.size,
            md5: Some(dsc_digests.md5),
            sha1: Some(dsc_digests.sha1),
            sha256: Some(dsc_digests.sha256),
        },
    })
}

fn read_limited(path: &Path) -> Result<Vec<u8>, DscErrorKind> {
    let file = File::open(path).map_err(DscErrorKind::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_DSC + 1)
        .read_to_end(&mut bytes)
        .map_err(DscErrorKind::Io)?;
    if bytes.len() as u64 > MAX_DSC {
        return Err(DscErrorKind::TooLarge);
    }
    Ok(bytes)
}

/// The directory a path's file is in ("." for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The signed text of a clear-signed message (RFC 4880 §7): after the
/// armor header lines and the blank line that ends them, up to the
/// signature, with dash-escaping undone. Unsigned text is returned as is.
/// The signature itself is not verified.
fn strip_signature(text: &str) -> Result<String, DscErrorKind> {
    let mut lines = text.split_inclusive('\n');
    let first_content = text.lines().find(|l| !l.trim().is_empty());
    if first_content.map(str::trim_end) != Some(SIGNED_HEADER) {
        return Ok(text.to_string());
    }
    // Skip to the armor header block, then past it.
    for line in lines.by_ref() {
        if line.trim_end() == SIGNED_HEADER {
            break;
        }
    }
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
    }
    let mut body = String::new();
    for line in lines {
        if line.trim_end() == SIGNATURE_HEADER {
            return Ok(body);
        }
        body.push_str(line.strip_prefix("- ").unwrap_or(line));
    }
    Err(DscErrorKind::UnterminatedSignature)
}

fn required(paragraph: &Paragraph, field: &'static str) -> Result<String, DscErrorKind> {
    match paragraph.get(field) {
        Some(value) if !value.is_empty() => Ok(value.to_string()),
        _ => Err(DscErrorKind::MissingField(field)),
    }
}

/// A checksum field: its name, the algorithm's name and its hex length.
struct ListField {
    field: &'static str,
    algorithm: &'static str,
    hex_len: usize,
}

const FILES: ListField = ListField {
    field: "Files",
    algorithm: "md5",
    hex_len: 32,
};
const SHA1: ListField = ListField {
    field: "Checksums-Sha1",
    algorithm: "sha1",
    hex_len: 40,
};
const SHA256: ListField = ListField {
    field: "Checksums-Sha256",
    algorithm: "sha256",
    hex_len: 64,
};

/// One line of a checksum field: digest, size, name.
struct Entry {
    digest: String,
    size: u64,
    name: String,
}

/// Parses `Files` (required) and the checksum fields into one list, in
/// `Files` order, checking that every field lists the same files with the
/// same sizes.
fn listed_files(paragraph: &Paragraph, dsc_name: &str) -> Result<Vec<DscFile>, DscErrorKind> {
    let md5 =
        parse_list(paragraph, &FILES, dsc_name)?.ok_or(DscErrorKind::MissingField("Files"))?;
    let mut files: Vec<DscFile> = md5
        .into_iter()
        .map(|e| DscFile {
            name: e.name,
            size: e.size,
            md5: Some(e.digest),
            sha1: None,
            sha256: None,
        })
        .collect();
    for list in [&SHA1, &SHA256] {
        let Some(entries) = parse_list(paragraph, list, dsc_name)? else {
            continue;
        };
        if entries.len() != files.len() {
            return Err(bad_list(list, "does not list the same files as Files"));
        }
        for entry in entries {
            let Some(file) = files.iter_mut().find(|f| f.name == entry.name) else {
                return Err(bad_list(
                    list,
                    &format!("{} is not listed in Files", entry.name),
                ));
            };
            if file.size != entry.size {
                return Err(bad_list(
                    list,
                    &format!(
                        "{} is {} bytes here but {} in Files",
                        entry.name, entry.size, file.size
                    ),
                ));
            }
            let slot = if list.algorithm == "sha1" {
                &mut file.sha1
            } else {
                &mut file.sha256
            };
            *slot = Some(entry.digest);
        }
    }
    Ok(files)
}

fn bad_list(list: &ListField, reason: &str) -> DscErrorKind {
    DscErrorKind::BadList {
        field: list.field,
        reason: reason.to_string(),
    }
}

/// Parses one checksum field, when present.
fn parse_list(
    paragraph: &Paragraph,
    list: &ListField,
    dsc_name: &str,
) -> Result<Option<Vec<Entry>>, DscErrorKind> {
    let Some(value) = paragraph.get(list.field) else {
        return Ok(None);
    };
    let mut entries: Vec<Entry> = Vec::new();
    for line in value.lines().filter(|l| !l.trim().is_empty()) {
        let entry = parse_entry(line, list)?;
        if entry.name == dsc_name {
            return Err(bad_list(list, "lists the .dsc itself"));
        }
        if entries.iter().any(|e| e.name == entry.name) {
            return Err(bad_list(list, &format!("{} is listed twice", entry.name)));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(bad_list(list, "lists no files"));
    }
    Ok(Some(entries))
}

fn parse_entry(line: &str, list: &ListField) -> Result<Entry, DscErrorKind> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [digest, size, name] = parts[..] else {
        return Err(bad_list(
            list,
            &format!(
                "expected \"<{}> <size> <name>\", found {line:?}",
                list.algorithm
            ),
        ));
    };
    if digest.len() != list.hex_len || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_list(
            list,
            &format!("{digest:?} is not a {} digest", list.algorithm),
        ));
    }
    let size = size
        .parse::<u64>()
        .ok()
        .filter(|_| size.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad_list(list, &format!("{size:?} is not a size")))?;
    validate_file_name(name).map_err(|e| bad_list(list, &e))?;
    Ok(Entry {
        digest: digest.to_ascii_lowercase(),
        size,
        name: name.to_string(),
    })
}

/// Streams one listed file through the hashes and compares everything.
fn verify(dir: &Path, file: &DscFile) -> Result<(), DscErrorKind> {
    let io_error = |error: io::Error| DscErrorKind::FileIo {
        name: file.name.clone(),
        error,
    };
    let handle = match File::open(dir.join(&file.name)) {
        Ok(handle) => handle,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DscErrorKind::MissingFile(file.name.clone()))
        }
        Err(e) => return Err(io_error(e)),
    };
    if !handle.metadata().map_err(io_error)?.is_file() {
        return Err(DscErrorKind::Invalid(format!(
            "{} is not a regular file",
            file.name
        )));
    }
    let digests = HashingReader::new(BufReader::with_capacity(1 << 16, handle))
        .finish()
        .map_err(io_error)?;
    if digests.size != file.size {
        return Err(DscErrorKind::WrongSize {
            name: file.name.clone(),
            actual: digests.size,
            listed: file.size,
        });
    }
    let checks = [
        ("md5", &file.md5, &digests.md5),
        ("sha1", &file.sha1, &digests.sha1),
        ("sha256", &file.sha256, &digests.sha256),
    ];
    for (algorithm, listed, actual) in checks {
        if let Some(listed) = listed {
            if listed != actual {
                return Err(DscErrorKind::WrongChecksum {
                    name: file.name.clone(),
                    algorithm,
                    actual: actual.clone(),
                    listed: listed.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The paragraph as written, with a line for the .dsc itself appended to
/// each checksum field.
fn stored_text(paragraph: &Paragraph, dsc_name: &str, dsc: &Digests) -> String {
    let mut text = String::new();
    for (name, raw) in paragraph.raw_fields() {
        text.push_str(raw);
        let digest = if name.eq_ignore_ascii_case(FILES.field) {
            Some(&dsc.md5)
        } else if name.eq_ignore_ascii_case(SHA1.field) {
            Some(&dsc.sha1)
        } else if name.eq_ignore_ascii_case(SHA256.field) {
            Some(&dsc.sha256)
        } else {
            None
        };
        if let Some(digest) = digest {
            text.push_str(&format!(" {digest} {} {dsc_name}\n", dsc.size));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_text_is_unchanged() {
        let text = "Source: x\nVersion: 1\n";
        assert_eq!(strip_signature(text).unwrap(), text);
    }

    #[test]
    fn clear_signed_text_is_unwrapped_and_unescaped() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSource: x\n\
                    - -----not armor\nVersion: 1\n\n-----BEGIN PGP SIGNATURE-----\n\nabc\n\
                    -----END PGP SIGNATURE-----\n";
        assert_eq!(
            strip_signature(text).unwrap(),
            "Source: x\n-----not armor\nVersion: 1\n\n"
        );
    }

    #[test]
    fn signed_text_without_signature_is_refused() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSource: x\n";
        assert!(matches!(
            strip_signature(text),
            Err(DscErrorKind::UnterminatedSignature)
        ));
    }

    #[test]
    fn dsc_line_goes_last_in_each_checksum_field() {
        let body = "Source: s\nVersion: 1\nChecksums-Sha1:\n aa 1 s_1.tar.gz\n\
                    Checksums-Sha256:\n bb 1 s_1.tar.gz\nFiles:\n cc 1 s_1.tar.gz\n";
        let p = parse_paragraph(body).unwrap();
        let d = Digests {
            md5: "m".into(),
            sha1: "s1".into(),
            sha256: "s2".into(),
            sha512: "s5".into(),
            size: 9,
        };
        assert_eq!(
            stored_text(&p, "s_1.dsc", &d),
            "Source: s\nVersion: 1\nChecksums-Sha1:\n aa 1 s_1.tar.gz\n s1 9 s_1.dsc\n\
             Checksums-Sha256:\n bb 1 s_1.tar.gz\n s2 9 s_1.dsc\nFiles:\n cc 1 s_1.tar.gz\n m 9 s_1.dsc\n"
        );
    }

    #[test]
    fn directory_of_bare_names_is_current_directory() {
        assert_eq!(directory_of(Path::new("x.dsc")), PathBuf::from("."));
        assert_eq!(directory_of(Path::new("/a/b/x.dsc")), PathBuf::from("/a/b"));
    }
}
