//! Stored backups encrypted to age recipients (the age v1 format), so the
//! standard `age -d -i KEY` reads them when repoman itself is gone. The
//! stored object is `age(gzip(json))`; the identity (secret key) is read
//! from a file and never passed to another process or printed.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// How every age v1 file starts.
pub const MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Whether `data` is an age file.
pub fn is_encrypted(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// The recipients to encrypt to, from `--encrypt-to` / `backup-recipients`
/// (X25519 public keys, `age1…`).
pub fn recipients(given: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    given
        .iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r.trim())
                .map_err(|e| anyhow::anyhow!("--encrypt-to {r:?}: not an age recipient ({e})"))
        })
        .collect()
}

/// `plain` encrypted to every recipient.
pub fn encrypt(to: &[age::x25519::Recipient], plain: &[u8]) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_recipients(to.iter().map(|r| r as &dyn age::Recipient))
        .context("no recipient to encrypt to")?;
    let mut out = Vec::with_capacity(plain.len() + 256);
    let mut w = enc.wrap_output(&mut out)?;
    w.write_all(plain)?;
    w.finish()?;
    Ok(out)
}

/// The identities of an identity file (`age-keygen` output).
pub struct Identities {
    ids: Vec<Box<dyn age::Identity>>,
    file: String,
}

impl Identities {
    pub fn read(path: &Path) -> Result<Identities> {
        let file = path.display().to_string();
        let raw = std::fs::read(path).with_context(|| format!("reading identity file {file}"))?;
        let ids = age::IdentityFile::from_buffer(&raw[..])
            .and_then(|f| f.into_identities().map_err(std::io::Error::other))
            .map_err(|_| anyhow::anyhow!("{file}: not an age identity file"))?;
        if ids.is_empty() {
            bail!("{file}: holds no age identity");
        }
        Ok(Identities { ids, file })
    }
}

/// The plain bytes of `data` (returned as is when not encrypted); `what`
/// names it in errors.
pub fn decrypt(ids: Option<&Identities>, data: &[u8], what: &str) -> Result<Vec<u8>> {
    if !is_encrypted(data) {
        return Ok(data.to_vec());
    }
    let Some(ids) = ids else {
        bail!("{what} is encrypted: give the identity file to read it (--identity FILE)");
    };
    let dec = age::Decryptor::new(data).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let mut r = dec
        .decrypt(ids.ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| anyhow::anyhow!("{what}: cannot be decrypted with {}: {e}", ids.file))?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| anyhow::anyhow!("{what}: damaged encrypted data: {e}"))?;
    Ok(out)
}

/// Decrypts the age file `from` into `to`, streaming; `what` names it in
/// errors.
pub fn decrypt_stream(
    ids: Option<&Identities>,
    from: impl Read,
    to: &mut dyn Write,
    what: &str,
) -> Result<()> {
    let Some(ids) = ids else {
        bail!("{what} is encrypted: give the identity file to read it (--identity FILE)");
    };
    let dec = age::Decryptor::new_buffered(std::io::BufReader::new(from))
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    let mut r = dec
        .decrypt(ids.ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| anyhow::anyhow!("{what}: cannot be decrypted with {}: {e}", ids.file))?;
    std::io::copy(&mut r, to)
        .map_err(|e| anyhow::anyhow!("{what}: damaged encrypted data: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_and_wrong_or_missing_identities_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let file = dir.path().join("key.txt");
        std::fs::write(&file, key.to_string().expose_secret()).unwrap();
        let wrong = dir.path().join("wrong.txt");
        std::fs::write(&wrong, other.to_string().expose_secret()).unwrap();

        let to = recipients(&[key.to_public().to_string()]).unwrap();
        let sealed = encrypt(&to, b"plain").unwrap();
        assert!(is_encrypted(&sealed));
        let ids = Identities::read(&file).unwrap();
        assert_eq!(decrypt(Some(&ids), &sealed, "x").unwrap(), b"plain");
        assert_eq!(decrypt(None, b"plain", "x").unwrap(), b"plain");
        let e = decrypt(None, &sealed, "x").unwrap_err().to_string();
        assert!(e.contains("--identity"), "{e}");
        let e = decrypt(Some(&Identities::read(&wrong).unwrap()), &sealed, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be decrypted"), "{e}");
        let mut flipped = sealed.clone();
        let n = flipped.len() - 5;
        flipped[n] ^= 1;
        assert!(decrypt(Some(&ids), &flipped, "x").is_err());
        assert!(recipients(&["age1nope".into()]).is_err());
        std::fs::write(&wrong, "not a key").unwrap();
        assert!(Identities::read(&wrong).is_err());
    }
}
