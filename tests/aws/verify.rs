//! `backup verify` against backups stored in S3 (moto), the state in an
//! embedded store: a chain verifies; one flipped byte in a stored object
//! fails verify with a line naming it, and a restore refuses it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::support::{self, ACCESS_KEY, SECRET_KEY};
use repoman::aws::S3Bucket;
use repoman::store::{BlobStore, BucketSetup, PutMode};

fn cli(moto: &str, state: &Path, bucket: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_repoman-cli"))
        .arg("--state")
        .arg(format!("sqlite:{}", state.display()))
        .args(["--s3-bucket", bucket])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", state.parent().unwrap())
        .env("AWS_ENDPOINT_URL_S3", moto)
        .env("AWS_ENDPOINT_URL_STS", moto)
        .env("AWS_ENDPOINT_URL_SNS", moto)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(moto: &str, state: &Path, bucket: &str, args: &[&str]) -> String {
    let out = cli(moto, state, bucket, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(moto: &str, state: &Path, bucket: &str, args: &[&str]) -> String {
    let out = cli(moto, state, bucket, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_flipped_byte_in_s3_fails_verify_and_restore_refuses_it() {
    let moto = support::moto();
    let name = support::bucket_name("verify");
    let bucket = S3Bucket::new(&support::context(&moto.url), &name);
    bucket.setup(&BucketSetup::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.sqlite");
    let run = |args: &[&str]| ok(&moto.url, &state, &name, args);

    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/repoman-1.0.7-backup.json");
    run(&["restore", fixture.to_str().unwrap()]);
    let full = run(&["backup", "--to-bucket"]).trim().to_string();
    run(&["rm", "-p", "apt-transport-s3", "-y"]);
    let inc = run(&["backup", "--to-bucket", "--incremental"])
        .trim()
        .to_string();
    assert_eq!(run(&["backup", "verify"]).trim(), inc);
    assert_eq!(run(&["backup", "verify", &full]).trim(), full);

    let mut bytes = bucket.get(&full).unwrap().unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 1;
    bucket.put_bytes(&full, &bytes, PutMode::Overwrite).unwrap();
    for given in ["latest", full.as_str()] {
        let err = fails(&moto.url, &state, &name, &["backup", "verify", given]);
        assert!(
            err.contains(&full) && err.contains("does not match its sidecar"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let fresh = work.path().join("fresh.sqlite");
    let err = fails(
        &moto.url,
        &fresh,
        &name,
        &["restore", "-y", "--from-bucket", &full],
    );
    assert!(err.contains("does not match its sidecar"), "{err}");
    let err = fails(
        &moto.url,
        &fresh,
        &name,
        &["restore", "-y", "--from-bucket", "latest"],
    );
    assert!(err.contains("does not match its sidecar"), "{err}");
}
