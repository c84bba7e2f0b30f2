//! Incremental backups stored in an S3 bucket on moto, with the state in
//! an embedded store: every point of a chain restores to the full backup
//! taken at that point.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::support::{self, ACCESS_KEY, SECRET_KEY};
use repoman::aws::S3Bucket;
use repoman::store::{BlobStore, BucketSetup};

fn cli(moto: &str, state: &Path, bucket: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_repoman-cli"))
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
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(SECRET_KEY),
        "the secret reached the output of {args:?}"
    );
    out
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

#[test]
fn an_incremental_chain_in_s3_restores_every_point_byte_for_byte() {
    let moto = support::moto();
    let name = support::bucket_name("chain");
    let bucket = S3Bucket::new(&support::context(&moto.url), &name);
    bucket.setup(&BucketSetup::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.sqlite");
    let run = |args: &[&str]| ok(&moto.url, &state, &name, args);

    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/repoman-1.0.7-backup.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    let mut want = Vec::new();
    let mut keys = Vec::new();
    for step in 0..5 {
        match step {
            0 => {}
            1 => {
                doc["packages"]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("apt-transport-s3");
            }
            2 => {
                doc["packages"]["testdeb"]["xenial"]["nightly"]["all"]
                    .as_array_mut()
                    .unwrap()
                    .remove(1);
            }
            3 => doc["metadata"]["origin"] = serde_json::json!(["Elsewhere"]),
            _ => {
                doc["packages"]["testdeb"]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("jessie");
            }
        }
        let file = work.path().join("state.json");
        std::fs::write(&file, doc.to_string()).unwrap();
        run(&[
            "restore",
            "--prune",
            "-y",
            "--i-fear-no-evil",
            file.to_str().unwrap(),
        ]);
        want.push(run(&["backup"]));
        let args: &[&str] = if step == 0 {
            &["backup", "--to-bucket"]
        } else {
            &["backup", "--to-bucket", "--incremental"]
        };
        keys.push(run(args).trim().to_string());
    }
    // Data and sidecar of each are in the bucket.
    for k in &keys {
        assert!(bucket.get(k).unwrap().is_some(), "{k}");
        let info = k.strip_suffix(".json.gz").unwrap().to_string() + ".info";
        assert!(bucket.get(&info).unwrap().is_some(), "{info}");
    }
    let list = run(&["backup", "list"]);
    assert_eq!(
        list.lines().filter(|l| l.contains("incremental")).count(),
        4,
        "{list}"
    );

    for (i, (key, want)) in keys.iter().zip(&want).enumerate() {
        let fresh = work.path().join(format!("fresh-{i}.sqlite"));
        let fresh_run = |args: &[&str]| ok(&moto.url, &fresh, &name, args);
        fresh_run(&["restore", "--from-bucket", key]);
        assert_eq!(fresh_run(&["backup"]), *want, "{key}");
    }
}
