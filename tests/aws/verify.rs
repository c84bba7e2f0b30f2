//! `backup verify` against backups stored in S3 (moto), the state in an
//! embedded store: a chain verifies; one flipped byte in a stored object
//! fails verify with a line naming it, and a restore refuses it.

use std::path::Path;

use super::backups::{cli, ok};
use super::support;
use repoman::aws::S3Bucket;
use repoman::store::{BlobStore, BucketSetup, PutMode};

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
