use std::io::Write;
use std::path::{Path, PathBuf};

use pgp::composed::{ArmorOptions, Deserializable, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

use super::gpg::*;
use super::key_file::*;
use super::pinentry::*;
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
    let s = KeyFileSigner::open(f.path(), &[Secret::new("pa"), Secret::new("pb")], &[]).unwrap();
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
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
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
