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
use std::io::Write;

use pgp::composed::{ArmorOptions, CleartextSignedMessage, DetachedSignature};
use pgp::packet::Signature;

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

mod gpg;
mod key_file;
mod pinentry;

pub use gpg::{GpgSigner, Passphrase};
pub use key_file::{public_keys_in_file, KeyFileSigner};
pub use pinentry::ask_pinentry;

#[cfg(test)]
pub(crate) mod tests;
