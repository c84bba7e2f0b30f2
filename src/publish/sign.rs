//! Signing a Release: `InRelease` (the Release text clear-signed) and
//! `Release.gpg` (detached armored signatures over the Release bytes), one
//! signature per signer in each.
//!
//! Two signers exist:
//! * [`GpgSigner`] runs the `gpg` binary against a keyring (GnuPG 2.1+ keeps
//!   secret keys in the agent, which the original's `secring.gpg` reader
//!   could not use). Passphrases go to gpg on a pipe (`--passphrase-fd 0`),
//!   never on its command line or in its environment.
//! * [`KeyFileSigner`] reads an armored secret key file with rPGP and signs
//!   without GnuPG at all.
//!
//! Both are exercised before anything is written: a missing key or a wrong
//! passphrase fails the publish with nothing changed.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::Signature;
use pgp::types::{KeyDetails, Password, SigningKey};

/// A passphrase. It prints as `***` so it cannot reach a log or an error
/// by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key {signer} is not in the keyring at {home}")]
    NoSuchKey { signer: String, home: String },
    #[error("signing with key {signer} failed: {reason}")]
    Failed { signer: String, reason: String },
    #[error("cannot run gpg ({program}): {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("{0}")]
    Usage(String),
}

/// A Release's signatures, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    /// The clear-signed Release (`InRelease`).
    pub inrelease: Vec<u8>,
    /// Detached armored signatures over the Release bytes (`Release.gpg`).
    pub release_gpg: Vec<u8>,
}

pub trait Signer: Send + Sync {
    /// The keys that sign, for messages (never a secret).
    fn describe(&self) -> String;
    /// Signs a Release text.
    fn sign(&self, release: &str) -> Result<Signatures, SignError>;
}

/// Where a passphrase for gpg comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passphrase {
    /// Given (`--gpg-passphrase`): sent through a pipe in loopback mode.
    Given(Secret),
    /// Ask the person at the terminal: gpg-agent's own pinentry.
    Agent,
    /// No terminal and no passphrase: the agent may answer from its cache,
    /// but must not start a pinentry that nobody can answer.
    CacheOnly,
}

/// Signs with the `gpg` binary.
#[derive(Debug, Clone)]
pub struct GpgSigner {
    pub program: PathBuf,
    /// `--homedir`; `None` lets gpg choose (GNUPGHOME or ~/.gnupg).
    pub home: Option<PathBuf>,
    /// Key ids, fingerprints or user ids, with their passphrase sources.
    pub signers: Vec<(String, Passphrase)>,
    /// The terminal gpg-agent's pinentry should use (GPG_TTY), if any.
    pub tty: Option<String>,
}

impl GpgSigner {
    fn home_text(&self) -> String {
        match &self.home {
            Some(h) => h.display().to_string(),
            None => std::env::var("GNUPGHOME").unwrap_or_else(|_| "~/.gnupg".into()),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        if let Some(h) = &self.home {
            c.arg("--homedir").arg(h);
        }
        c.args(["--batch", "--yes", "--quiet"]);
        if let Some(tty) = &self.tty {
            c.env("GPG_TTY", tty);
        }
        c.stderr(Stdio::piped()).stdout(Stdio::piped());
        c
    }

    /// Fails unless every one of `ids` has a secret key in the keyring.
    pub fn check_keys_of(&self, ids: &[String]) -> Result<(), SignError> {
        for signer in ids {
            let mut c = self.command();
            c.args(["--list-secret-keys", "--with-colons", "--"])
                .arg(signer)
                .stdin(Stdio::null());
            let out = c.output().map_err(|e| self.spawn_error(e))?;
            if !out.status.success() {
                return Err(SignError::NoSuchKey {
                    signer: signer.clone(),
                    home: self.home_text(),
                });
            }
        }
        Ok(())
    }

    /// The public keys of `ids`, as `gpg --export` writes them (armored or
    /// binary). Needs no passphrase.
    pub fn export_public(&self, ids: &[String], armor: bool) -> Result<Vec<u8>, SignError> {
        self.check_keys_of(ids)?;
        let mut c = self.command();
        if armor {
            c.arg("--armor");
        }
        c.args(["--export-options", "export-minimal", "--export", "--"])
            .args(ids)
            .stdin(Stdio::null());
        let out = c.output().map_err(|e| self.spawn_error(e))?;
        if !out.status.success() || out.stdout.is_empty() {
            return Err(SignError::Failed {
                signer: ids.join(", "),
                reason: gpg_reason(
                    &String::from_utf8_lossy(&out.stderr),
                    &Passphrase::CacheOnly,
                ),
            });
        }
        Ok(out.stdout)
    }

    /// Makes gpg-agent forget any cached passphrase of `signer`'s keys, so
    /// that a given passphrase is really checked: with one cached, gpg in
    /// loopback mode signs whatever passphrase it is handed. Best effort:
    /// without gpg-connect-agent the cache stays as it is.
    fn forget_cached(&self, signer: &str) {
        let mut list = self.command();
        list.args([
            "--list-secret-keys",
            "--with-keygrip",
            "--with-colons",
            "--",
        ])
        .arg(signer)
        .stdin(Stdio::null());
        let Ok(out) = list.output() else { return };
        let listing = String::from_utf8_lossy(&out.stdout);
        for grip in listing
            .lines()
            .filter(|l| l.starts_with("grp:"))
            .filter_map(|l| l.split(':').nth(9))
            .filter(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_hexdigit()))
        {
            // Beside the gpg in use, or on PATH when gpg is found there.
            let bare = self
                .program
                .parent()
                .map_or(true, |p| p.as_os_str().is_empty());
            let mut c = if bare {
                Command::new("gpg-connect-agent")
            } else {
                Command::new(self.program.with_file_name("gpg-connect-agent"))
            };
            if let Some(h) = &self.home {
                c.arg("--homedir").arg(h);
            }
            let _ = c
                .arg(format!("CLEAR_PASSPHRASE --mode=normal {grip}"))
                .arg("/bye")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    fn spawn_error(&self, source: std::io::Error) -> SignError {
        SignError::Spawn {
            program: self.program.display().to_string(),
            source,
        }
    }

    /// Runs gpg on `file` with one signer's key; `mode` is the operation
    /// (`--clearsign`, or `--detach-sign --armor`).
    fn run(
        &self,
        signer: &str,
        pass: &Passphrase,
        mode: &[&str],
        file: &Path,
    ) -> Result<Vec<u8>, SignError> {
        let mut c = self.command();
        match pass {
            Passphrase::Given(_) => {
                c.args(["--pinentry-mode", "loopback", "--passphrase-fd", "0"]);
                c.stdin(Stdio::piped());
            }
            Passphrase::Agent => {
                c.stdin(Stdio::null());
            }
            Passphrase::CacheOnly => {
                c.args(["--pinentry-mode", "error"]);
                c.stdin(Stdio::null());
            }
        }
        c.args(["--local-user", signer])
            .args(mode)
            .args(["--output", "-", "--"])
            .arg(file);
        let mut child = c.spawn().map_err(|e| self.spawn_error(e))?;
        if let (Passphrase::Given(secret), Some(mut stdin)) = (pass, child.stdin.take()) {
            // gpg reads one line; a closed pipe afterwards is its business.
            let _ = stdin.write_all(format!("{}\n", secret.expose()).as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| self.spawn_error(e))?;
        if !out.status.success() || out.stdout.is_empty() {
            return Err(SignError::Failed {
                signer: signer.to_string(),
                // The temporary file's name means nothing to the reader.
                reason: gpg_reason(&String::from_utf8_lossy(&out.stderr), pass)
                    .replace(&format!("{}: ", file.display()), ""),
            });
        }
        Ok(out.stdout)
    }
}

/// gpg's most telling stderr line, with a hint when a passphrase is what
/// is missing.
fn gpg_reason(stderr: &str, pass: &Passphrase) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("failed") || l.contains("rror"))
        .or(lines.last())
        .copied()
        .unwrap_or("gpg failed without a message");
    let mut reason = line.to_string();
    let lower = stderr.to_ascii_lowercase();
    if matches!(pass, Passphrase::CacheOnly)
        && (lower.contains("pinentry") || lower.contains("passphrase") || lower.contains("ioctl"))
    {
        reason
            .push_str(" (the key needs a passphrase: pass --gpg-passphrase, or run on a terminal)");
    }
    reason
}

impl Signer for GpgSigner {
    fn describe(&self) -> String {
        let ids: Vec<&str> = self.signers.iter().map(|(s, _)| s.as_str()).collect();
        format!("gpg key(s) {} in {}", ids.join(", "), self.home_text())
    }

    fn sign(&self, release: &str) -> Result<Signatures, SignError> {
        let mut file = tempfile::NamedTempFile::new().map_err(|e| SignError::Failed {
            signer: self.describe(),
            reason: format!("creating a temporary file: {e}"),
        })?;
        file.write_all(release.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|e| SignError::Failed {
                signer: self.describe(),
                reason: format!("writing a temporary file: {e}"),
            })?;
        let mut clear = Vec::new();
        let mut detached = Vec::new();
        for (signer, pass) in &self.signers {
            if matches!(pass, Passphrase::Given(_)) {
                self.forget_cached(signer);
            }
            clear.push(self.run(signer, pass, &["--clearsign"], file.path())?);
            detached.push(self.run(signer, pass, &["--detach-sign", "--armor"], file.path())?);
        }
        if clear.len() == 1 {
            return Ok(Signatures {
                inrelease: clear.remove(0),
                release_gpg: detached.remove(0),
            });
        }
        merge(release, &clear, &detached).map_err(|reason| SignError::Failed {
            signer: self.describe(),
            reason,
        })
    }
}

/// Combines per-signer outputs into one clear-signed message and one armor
/// block of detached signatures. gpg can sign with several keys in one run
/// only if one passphrase opens them all; signing per key and merging lets
/// each key have its own.
fn merge(release: &str, clear: &[Vec<u8>], detached: &[Vec<u8>]) -> Result<Signatures, String> {
    let mut clear_sigs = Vec::new();
    for c in clear {
        let text = String::from_utf8_lossy(c);
        let (msg, _) = CleartextSignedMessage::from_string(&text)
            .map_err(|e| format!("reading gpg's clear-signed output: {e}"))?;
        clear_sigs.extend(msg.signatures().iter().cloned());
    }
    let mut detached_sigs = Vec::new();
    for d in detached {
        for sig in DetachedSignature::from_armor_many(&d[..])
            .map_err(|e| format!("reading gpg's signature: {e}"))?
            .0
        {
            detached_sigs.push(sig.map_err(|e| format!("reading gpg's signature: {e}"))?);
        }
    }
    Ok(Signatures {
        inrelease: clearsign_with(release, clear_sigs)?,
        release_gpg: armor_detached(&detached_sigs)?,
    })
}

/// The clear-signed form of `release` carrying `sigs`. The final line break
/// is left out of the signed text, as gpg does, so the body reads exactly
/// like the Release file.
fn clearsign_with(release: &str, sigs: Vec<Signature>) -> Result<Vec<u8>, String> {
    let body = release.strip_suffix('\n').unwrap_or(release);
    CleartextSignedMessage::new_many(body, |_| Ok(sigs))
        .and_then(|m| m.to_armored_bytes(ArmorOptions::default()))
        .map_err(|e| format!("writing the clear-signed message: {e}"))
}

/// One armor block holding every detached signature.
fn armor_detached(sigs: &[DetachedSignature]) -> Result<Vec<u8>, String> {
    struct All<'a>(&'a [DetachedSignature]);
    impl pgp::ser::Serialize for All<'_> {
        fn to_writer<W: Write>(&self, w: &mut W) -> pgp::errors::Result<()> {
            for s in self.0 {
                s.to_writer(w)?;
            }
            Ok(())
        }
        fn write_len(&self) -> usize {
            self.0.iter().map(|s| s.write_len()).sum()
        }
    }
    let mut out = Vec::new();
    pgp::armor::write(
        &All(sigs),
        pgp::armor::BlockType::Signature,
        &mut out,
        None,
        true,
    )
    .map_err(|e| format!("armoring signatures: {e}"))?;
    Ok(out)
}

/// Which part of a transferable secret key makes signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Primary,
    Subkey(usize),
}

/// One key from a key file, with the part that signs and its passphrase.
struct FileKey {
    key: SignedSecretKey,
    part: Part,
    pw: Password,
}

impl FileKey {
    /// The primary key if its self-signature allows signing, else the
    /// first subkey bound for signing (keys made with a certify-only
    /// primary), else the primary anyway.
    fn new(key: SignedSecretKey, pw: Password) -> FileKey {
        let primary_signs = key
            .details
            .users
            .iter()
            .flat_map(|u| u.signatures.iter())
            .chain(key.details.direct_signatures.iter())
            .any(|s| s.key_flags().sign());
        let sub = key
            .secret_subkeys
            .iter()
            .position(|k| k.signatures.iter().any(|s| s.key_flags().sign()));
        let part = match (primary_signs, sub) {
            (false, Some(i)) => Part::Subkey(i),
            _ => Part::Primary,
        };
        FileKey { key, part, pw }
    }

    // rPGP signs with `&impl SigningKey`, which it implements for
    // `Box<&dyn SigningKey>` but not for `&dyn SigningKey`.
    #[allow(clippy::redundant_allocation)]
    fn signing(&self) -> Box<&dyn SigningKey> {
        match self.part {
            Part::Primary => Box::new(&self.key.primary_key),
            Part::Subkey(i) => Box::new(&self.key.secret_subkeys[i].key),
        }
    }

    /// Whether the passphrase opens the signing key.
    fn unlocks(&self) -> bool {
        let r = match self.part {
            Part::Primary => self.key.primary_key.unlock(&self.pw, |_, _| Ok(())),
            Part::Subkey(i) => self.key.secret_subkeys[i]
                .key
                .unlock(&self.pw, |_, _| Ok(())),
        };
        matches!(r, Ok(Ok(())))
    }

    fn is_protected(&self) -> bool {
        match self.part {
            Part::Primary => self.key.primary_key.secret_params().is_encrypted(),
            Part::Subkey(i) => self.key.secret_subkeys[i]
                .key
                .secret_params()
                .is_encrypted(),
        }
    }

    /// The primary key's fingerprint: what people call the key by.
    fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.primary_key.fingerprint().as_bytes())
    }
}

/// Signs with secret keys from an armored key file, through rPGP.
pub struct KeyFileSigner {
    path: String,
    keys: Vec<FileKey>,
}

impl fmt::Debug for KeyFileSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFileSigner")
            .field("path", &self.path)
            .field("keys", &self.fingerprints())
            .finish()
    }
}

impl KeyFileSigner {
    /// Reads the secret keys in `path` and unlocks each with its passphrase
    /// (the i-th passphrase for the i-th key; none means unprotected). With
    /// `select` non-empty, only keys whose fingerprint or key id ends with
    /// one of those ids are used, and every id must match a key.
    pub fn open(
        path: &Path,
        passphrases: &[Secret],
        select: &[String],
    ) -> Result<KeyFileSigner, SignError> {
        let shown = path.display().to_string();
        let err = |reason: String| SignError::KeyFile {
            path: shown.clone(),
            reason,
        };
        let keys = read_secret_keys(path, select)?;
        if passphrases.len() > keys.len() {
            return Err(err(format!(
                "{} passphrases given for {} key(s)",
                passphrases.len(),
                keys.len()
            )));
        }
        let mut out = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let given = passphrases.get(i);
            let pw = given
                .map(|s| Password::from(s.expose()))
                .unwrap_or_else(Password::empty);
            let k = FileKey::new(key, pw);
            if !k.unlocks() {
                return Err(err(if k.is_protected() && given.is_none() {
                    format!(
                        "key {} is protected by a passphrase: pass --gpg-passphrase",
                        k.fingerprint()
                    )
                } else {
                    format!("wrong passphrase for key {}", k.fingerprint())
                }));
            }
            out.push(k);
        }
        Ok(KeyFileSigner {
            path: shown,
            keys: out,
        })
    }

    fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(FileKey::fingerprint).collect()
    }
}

/// The secret keys in an armored key file, those named by `select` when it
/// is not empty (every id must name a key).
fn read_secret_keys(path: &Path, select: &[String]) -> Result<Vec<SignedSecretKey>, SignError> {
    let shown = path.display().to_string();
    let err = |reason: String| SignError::KeyFile {
        path: shown.clone(),
        reason,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| err(format!("cannot read it: {e}")))?;
    let mut keys = Vec::new();
    // One armor block may hold several keys (`gpg --export-secret-keys
    // --armor A B`), and a file may hold several blocks.
    let text = String::from_utf8_lossy(&bytes);
    for block in armor_blocks(&text) {
        let (iter, _) = SignedSecretKey::from_armor_many(block.as_bytes())
            .map_err(|e| err(format!("not an armored OpenPGP secret key: {e}")))?;
        for k in iter {
            keys.push(k.map_err(|e| err(format!("not a readable secret key: {e}")))?);
        }
    }
    if keys.is_empty() {
        return Err(err("holds no secret key".into()));
    }
    if !select.is_empty() {
        for id in select {
            if !keys.iter().any(|k| key_matches(k, id)) {
                return Err(err(format!("holds no key {id}")));
            }
        }
        keys.retain(|k| select.iter().any(|id| key_matches(k, id)));
    }
    Ok(keys)
}

/// The public halves of the keys in an armored secret key file (those named
/// by `select` when it is not empty), armored or binary, as apt's
/// `Signed-By` takes them. Needs no passphrase.
pub fn public_keys_in_file(
    path: &Path,
    select: &[String],
    armor: bool,
) -> Result<Vec<u8>, SignError> {
    let keys = read_secret_keys(path, select)?;
    let err = |reason: String| SignError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let mut out = Vec::new();
    for k in keys {
        let public = pgp::composed::SignedPublicKey::from(k);
        if armor {
            public
                .to_armored_writer(&mut out, ArmorOptions::default())
                .map_err(|e| err(format!("cannot write its public key: {e}")))?;
        } else {
            use pgp::ser::Serialize;
            public
                .to_writer(&mut out)
                .map_err(|e| err(format!("cannot write its public key: {e}")))?;
        }
    }
    Ok(out)
}

/// The text split before each armor header line; text with no armor
/// header is one block (for the parser to reject with its own reason).
fn armor_blocks(text: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN PGP ";
    let starts: Vec<usize> = text.match_indices(BEGIN).map(|(i, _)| i).collect();
    if starts.is_empty() {
        return vec![text];
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &i)| &text[i..starts.get(n + 1).copied().unwrap_or(text.len())])
        .collect()
}

/// Whether `id` (a fingerprint or key id, with or without `0x`, any case)
/// names `key` or one of its subkeys.
fn key_matches(key: &SignedSecretKey, id: &str) -> bool {
    let id = id.trim().trim_start_matches("0x").to_ascii_uppercase();
    let fprs = std::iter::once(key.primary_key.fingerprint())
        .chain(key.secret_subkeys.iter().map(|s| s.key.fingerprint()));
    id.len() >= 8
        && fprs
            .map(|f| hex::encode_upper(f.as_bytes()))
            .any(|f| f.ends_with(&id))
}

impl Signer for KeyFileSigner {
    fn describe(&self) -> String {
        format!(
            "key(s) {} from {}",
            self.fingerprints().join(", "),
            self.path
        )
    }

    fn sign(&self, release: &str) -> Result<Signatures, SignError> {
        let fail = |e: pgp::errors::Error| SignError::Failed {
            signer: self.describe(),
            reason: e.to_string(),
        };
        let mut rng = rand::thread_rng();
        let mut detached = Vec::new();
        for k in &self.keys {
            detached.push(
                DetachedSignature::sign_binary_data(
                    &mut rng,
                    &k.signing(),
                    &k.pw,
                    HashAlgorithm::Sha512,
                    release.as_bytes(),
                )
                .map_err(fail)?,
            );
        }
        // rPGP hands the closure the text exactly as a verifier will hash
        // it (line endings normalized); each key signs that in text mode.
        let body = release.strip_suffix('\n').unwrap_or(release);
        let clear = CleartextSignedMessage::new_many(body, |canonical| {
            let mut sigs = Vec::new();
            for k in &self.keys {
                sigs.push(
                    DetachedSignature::sign_text_data(
                        &mut rng,
                        &k.signing(),
                        &k.pw,
                        HashAlgorithm::Sha512,
                        canonical.as_bytes(),
                    )?
                    .signature,
                );
            }
            Ok(sigs)
        })
        .and_then(|m| m.to_armored_bytes(ArmorOptions::default()))
        .map_err(fail)?;
        Ok(Signatures {
            inrelease: clear,
            release_gpg: armor_detached(&detached).map_err(|reason| SignError::Failed {
                signer: self.describe(),
                reason,
            })?,
        })
    }
}

/// Asks for a passphrase through a pinentry program (the Assuan protocol's
/// GETPIN), as the original did with `--gpg-pinentry-path`.
pub fn ask_pinentry(program: &Path, signer: &str, tty: Option<&str>) -> Result<Secret, SignError> {
    let fail = |reason: String| SignError::Failed {
        signer: signer.to_string(),
        reason: format!("pinentry {}: {reason}", program.display()),
    };
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut commands = Vec::new();
    if let Some(t) = tty {
        commands.push(format!("OPTION ttyname={t}"));
        if let Ok(term) = std::env::var("TERM") {
            commands.push(format!("OPTION ttytype={term}"));
        }
    }
    commands.push(format!(
        "SETDESC {}",
        assuan_escape(&format!(
            "repoman needs the passphrase of key \"{signer}\" to sign Release files"
        ))
    ));
    commands.push("SETPROMPT Passphrase:".into());
    let result = (|| -> Result<Secret, String> {
        expect_ok(&mut reader)?;
        for cmd in &commands {
            writeln!(stdin, "{cmd}").map_err(|e| e.to_string())?;
            expect_ok(&mut reader)?;
        }
        writeln!(stdin, "GETPIN").map_err(|e| e.to_string())?;
        let mut pin = String::new();
        loop {
            let line = read_line(&mut reader)?;
            if let Some(data) = line.strip_prefix("D ") {
                pin.push_str(&assuan_unescape(data));
            } else if line.starts_with("OK") {
                break;
            } else if line.starts_with("ERR") {
                return Err("no passphrase entered (cancelled)".into());
            }
        }
        let _ = writeln!(stdin, "BYE");
        Ok(Secret::new(pin))
    })();
    drop(stdin);
    let _ = child.wait();
    result.map_err(fail)
}

fn read_line(r: &mut impl std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Err("it exited unexpectedly".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn expect_ok(r: &mut impl std::io::BufRead) -> Result<(), String> {
    loop {
        let line = read_line(r)?;
        if line.starts_with("OK") {
            return Ok(());
        }
        if line.starts_with("ERR") {
            // Never echo the line: it could carry user input.
            return Err("it reported an error".into());
        }
        // Comments (`#`) and status lines (`S`) are skipped.
    }
}

fn assuan_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

fn assuan_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        let p = Passphrase::Given(s);
        assert!(!format!("{p:?}").contains("hunter2"));
        let g = GpgSigner {
            program: "gpg".into(),
            home: None,
            signers: vec![("ABCD".into(), p)],
            tty: None,
        };
        assert!(!format!("{g:?}").contains("hunter2"));
    }

    #[test]
    fn assuan_escapes_round_trip() {
        for s in ["plain", "100% sure", "a\nb", "%%", "ü %0A"] {
            assert_eq!(assuan_unescape(&assuan_escape(s)), s);
        }
        assert_eq!(assuan_unescape("a%25b%0A"), "a%b\n");
        assert_eq!(assuan_unescape("trailing%2"), "trailing%2");
    }

    pub(crate) fn generate(pass: Option<&str>, primary_signs: bool) -> SignedSecretKey {
        use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder};
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(primary_signs)
            .can_encrypt(EncryptionCaps::None)
            .passphrase(pass.map(String::from))
            .primary_user_id("Test <t@example.com>".into());
        if !primary_signs {
            let mut sub = SubkeyParamsBuilder::default();
            sub.key_type(KeyType::Ed25519Legacy)
                .can_sign(true)
                .can_encrypt(EncryptionCaps::None)
                .passphrase(pass.map(String::from));
            params.subkeys(vec![sub.build().unwrap()]);
        }
        params
            .build()
            .unwrap()
            .generate(rand::thread_rng())
            .unwrap()
    }

    fn key_file(keys: &[&SignedSecretKey]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for k in keys {
            f.write_all(
                k.to_armored_string(ArmorOptions::default())
                    .unwrap()
                    .as_bytes(),
            )
            .unwrap();
        }
        f
    }

    fn public(k: &SignedSecretKey) -> pgp::composed::SignedPublicKey {
        pgp::composed::SignedPublicKey::from(k.clone())
    }

    /// Every signature in `sigs` verifies against one of `keys` (primary or
    /// subkey) over `data`.
    fn verifies(sigs: &[Signature], keys: &[pgp::composed::SignedPublicKey], data: &[u8]) -> bool {
        sigs.iter().all(|s| {
            keys.iter().any(|k| {
                s.verify(&k.primary_key, data).is_ok()
                    || k.public_subkeys
                        .iter()
                        .any(|sk| s.verify(&sk.key, data).is_ok())
            })
        })
    }

    fn check(sigs: &Signatures, release: &str, keys: &[pgp::composed::SignedPublicKey], n: usize) {
        let text = String::from_utf8(sigs.inrelease.clone()).unwrap();
        let (msg, _) = CleartextSignedMessage::from_string(&text).unwrap();
        assert_eq!(msg.signatures().len(), n);
        // The body reads exactly like the Release (CRLF-normalized, no final
        // line break: the clear-signing convention).
        assert_eq!(
            msg.signed_text(),
            release.trim_end_matches('\n').replace('\n', "\r\n")
        );
        assert!(verifies(
            msg.signatures(),
            keys,
            msg.signed_text().as_bytes()
        ));
        let (iter, _) = DetachedSignature::from_armor_many(&sigs.release_gpg[..]).unwrap();
        let detached: Vec<Signature> = iter.map(|d| d.unwrap().signature).collect();
        assert_eq!(detached.len(), n);
        assert!(verifies(&detached, keys, release.as_bytes()));
        assert!(!verifies(&detached, keys, b"Origin: tampered\n"));
    }

    const RELEASE: &str = "Origin: a\nLabel: b\n-dash line\nMD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\n";

    #[test]
    fn key_file_signatures_verify() {
        let k = generate(None, true);
        let f = key_file(&[&k]);
        let s = KeyFileSigner::open(f.path(), &[], &[]).unwrap();
        check(&s.sign(RELEASE).unwrap(), RELEASE, &[public(&k)], 1);
    }

    #[test]
    fn key_file_uses_a_signing_subkey_and_several_keys() {
        let a = generate(Some("pa"), false);
        let b = generate(Some("pb"), true);
        let f = key_file(&[&a, &b]);
        let s =
            KeyFileSigner::open(f.path(), &[Secret::new("pa"), Secret::new("pb")], &[]).unwrap();
        assert_eq!(s.keys[0].part, Part::Subkey(0));
        assert_eq!(s.keys[1].part, Part::Primary);
        check(
            &s.sign(RELEASE).unwrap(),
            RELEASE,
            &[public(&a), public(&b)],
            2,
        );
        // Selecting one key by the end of its fingerprint.
        let fpr = hex::encode(b.primary_key.fingerprint().as_bytes());
        let one =
            KeyFileSigner::open(f.path(), &[Secret::new("pb")], &[fpr[24..].to_string()]).unwrap();
        check(&one.sign(RELEASE).unwrap(), RELEASE, &[public(&b)], 1);
        let err = KeyFileSigner::open(f.path(), &[], &["DEADBEEFDEADBEEF".into()]).unwrap_err();
        assert!(
            err.to_string().contains("holds no key DEADBEEFDEADBEEF"),
            "{err}"
        );
    }

    #[test]
    fn key_file_passphrase_errors_name_the_key_not_the_secret() {
        let k = generate(Some("right horse"), true);
        let f = key_file(&[&k]);
        let fpr = hex::encode_upper(k.primary_key.fingerprint().as_bytes());
        let missing = KeyFileSigner::open(f.path(), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("protected by a passphrase") && missing.contains(&fpr),
            "{missing}"
        );
        let wrong = KeyFileSigner::open(f.path(), &[Secret::new("battery staple")], &[])
            .unwrap_err()
            .to_string();
        assert!(
            wrong.contains("wrong passphrase") && !wrong.contains("battery"),
            "{wrong}"
        );
        assert!(!wrong.contains('\n'));
        assert!(KeyFileSigner::open(f.path(), &[Secret::new("right horse")], &[]).is_ok());
    }

    #[test]
    fn unreadable_key_files_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent.asc");
        let e = KeyFileSigner::open(&absent, &[], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("key file {}: cannot read it", absent.display())),
            "{e}"
        );
        let junk = dir.path().join("junk.asc");
        std::fs::write(&junk, "not a key\n").unwrap();
        let e = KeyFileSigner::open(&junk, &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("junk.asc") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn merged_gpg_style_outputs_carry_every_signature() {
        // Per-signer clear-signed messages shaped like gpg's (no final line
        // break in the signed text), merged into one.
        let a = generate(None, true);
        let b = generate(None, true);
        let body = RELEASE.strip_suffix('\n').unwrap();
        let clear: Vec<Vec<u8>> = [&a, &b]
            .iter()
            .map(|k| {
                CleartextSignedMessage::sign(
                    rand::thread_rng(),
                    body,
                    &k.primary_key,
                    &Password::empty(),
                )
                .unwrap()
                .to_armored_bytes(ArmorOptions::default())
                .unwrap()
            })
            .collect();
        let detached: Vec<Vec<u8>> = [&a, &b]
            .iter()
            .map(|k| {
                DetachedSignature::sign_binary_data(
                    rand::thread_rng(),
                    &k.primary_key,
                    &Password::empty(),
                    HashAlgorithm::Sha256,
                    RELEASE.as_bytes(),
                )
                .unwrap()
                .to_armored_bytes(ArmorOptions::default())
                .unwrap()
            })
            .collect();
        let merged = merge(RELEASE, &clear, &detached).unwrap();
        check(&merged, RELEASE, &[public(&a), public(&b)], 2);
    }

    /// A pinentry speaking the Assuan protocol, answering GETPIN with
    /// `answer` (an Assuan response line).
    fn pinentry(dir: &Path, answer: &str) -> PathBuf {
        let path = dir.join("pinentry-test");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho 'OK Pleased to meet you'\nwhile read -r cmd rest; do\n  case \"$cmd\" in\n    GETPIN) printf '%s\\n' '{answer}'; [ \"${{answer#D }}\" != '{answer}' ] && echo OK;;\n    BYE) echo 'OK closing connection'; exit 0;;\n    *) echo OK;;\n  esac\ndone\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    /// `ask_pinentry`, retried while another test thread's fork still
    /// holds the just-written script open ("Text file busy").
    fn ask(p: &Path) -> Result<Secret, SignError> {
        for _ in 0..20 {
            match ask_pinentry(p, "ABCD1234", None) {
                Err(e) if e.to_string().contains("Text file busy") => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                r => return r,
            }
        }
        ask_pinentry(p, "ABCD1234", None)
    }

    #[test]
    fn pinentry_answers_are_read_and_unescaped() {
        let dir = tempfile::tempdir().unwrap();
        let p = pinentry(dir.path(), "D s3cr%25et word");
        let got = ask(&p).unwrap();
        assert_eq!(got.expose(), "s3cr%et word");
        let cancel = pinentry(dir.path(), "ERR 83886179 Operation cancelled");
        let e = ask(&cancel).unwrap_err().to_string();
        assert!(e.contains("ABCD1234") && e.contains("cancelled"), "{e}");
        let absent = ask_pinentry(&dir.path().join("nope"), "K", None).unwrap_err();
        assert!(absent.to_string().contains("cannot run it"), "{absent}");
    }

    #[test]
    fn gpg_reason_picks_the_failure_line_and_hints() {
        let stderr = "gpg: using key X\ngpg: signing failed: Inappropriate ioctl for device\n";
        assert_eq!(
            gpg_reason(stderr, &Passphrase::Given(Secret::new("x"))),
            "gpg: signing failed: Inappropriate ioctl for device"
        );
        assert!(gpg_reason(stderr, &Passphrase::CacheOnly).contains("--gpg-passphrase"));
    }
}
