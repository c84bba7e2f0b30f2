//! Signing with the `gpg` binary: one run per key, passphrases on a pipe.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature};

use super::*;

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
                .is_none_or(|p| p.as_os_str().is_empty());
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
pub(super) fn gpg_reason(stderr: &str, pass: &Passphrase) -> String {
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
pub(super) fn merge(
    release: &str,
    clear: &[Vec<u8>],
    detached: &[Vec<u8>],
) -> Result<Signatures, String> {
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
