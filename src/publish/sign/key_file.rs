//! Signing with secret keys from an armored key file, through rPGP.

use std::fmt;
use std::io::Read;
use std::path::Path;

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password, SigningKey};

use super::*;

/// Which part of a transferable secret key makes signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Primary,
    Subkey(usize),
}

/// One key from a key file, with the part that signs and its passphrase.
pub(super) struct FileKey {
    pub(super) key: SignedSecretKey,
    pub(super) part: Part,
    pub(super) pw: Password,
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
    pub(super) path: String,
    pub(super) keys: Vec<FileKey>,
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
    let err = |reason: String| SignError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let mut out = Vec::new();
    for k in read_secret_keys(path, select)? {
        let public = pgp::composed::SignedPublicKey::from(k);
        let written = if armor {
            public.to_armored_writer(&mut out, ArmorOptions::default())
        } else {
            pgp::ser::Serialize::to_writer(&public, &mut out)
        };
        written.map_err(|e| err(format!("cannot write its public key: {e}")))?;
    }
    Ok(out)
}

/// The text split before each armor header line; text with no armor
/// header is one block (for the parser to reject with its own reason).
pub(super) fn armor_blocks(text: &str) -> Vec<&str> {
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
pub(super) fn key_matches(key: &SignedSecretKey, id: &str) -> bool {
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
