//! Incremental backups stored in an S3 bucket on moto, with the state in
//! an embedded store: every point of a chain restores to the full backup
//! taken at that point.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::support::{self, ACCESS_KEY, SECRET_KEY};
use repoman::aws::{AwsContext, AwsSettings, Overrides, S3Bucket, StaticKeys};
use repoman::backup::stored::{self, Contents};
use repoman::store::{BlobStore, BucketSetup, Change, PutMode, PutOptions, StoreError};

#[allow(dead_code)]
#[path = "../common/faults.rs"]
mod faults;

/// repoman-cli with its state in the embedded store at `state` and the
/// bucket on moto.
pub(super) fn cli(moto: &str, state: &Path, bucket: &str, args: &[&str]) -> Output {
    cli_as(moto, state, bucket, (ACCESS_KEY, SECRET_KEY), args)
}

/// [`cli`] with the access keys of another principal.
fn cli_as(moto: &str, state: &Path, bucket: &str, keys: (&str, &str), args: &[&str]) -> Output {
    let url = format!("sqlite:{}", state.display());
    cli_url_as(moto, &url, state.parent().unwrap(), bucket, keys, args)
}

/// [`cli_as`] with the state at `state_url` (a DynamoDB table on moto too).
fn cli_url_as(
    moto: &str,
    state_url: &str,
    home: &Path,
    bucket: &str,
    keys: (&str, &str),
    args: &[&str],
) -> Output {
    cli_sdb_as(moto, "", state_url, home, bucket, keys, args)
}

/// [`cli_url_as`] with SimpleDB at `sdb` (sdb-local).
fn cli_sdb_as(
    moto: &str,
    sdb: &str,
    state_url: &str,
    home: &Path,
    bucket: &str,
    keys: (&str, &str),
    args: &[&str],
) -> Output {
    let sdb = (!sdb.is_empty()).then_some(sdb);
    let out = support::repoman_cli(moto, sdb, home)
        .args(["--state", state_url])
        .args(["--s3-bucket", bucket])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .output()
        .unwrap();
    assert!(
        !support::text(&out).contains(keys.1),
        "the secret reached the output of {args:?}"
    );
    out
}

/// [`cli`], which must succeed; its standard output.
pub(super) fn ok(moto: &str, state: &Path, bucket: &str, args: &[&str]) -> String {
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

/// The original's backup fixture restored into a fresh embedded state.
fn restore_fixture(moto: &str, state: &Path, bucket: &str) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/repoman-1.0.7-backup.json");
    ok(moto, state, bucket, &["restore", fixture.to_str().unwrap()]);
}

/// Runs a boto3 snippet that prints `k=v` lines; returns them.
fn head(moto: &str, bucket: &str, key: &str) -> std::collections::BTreeMap<String, String> {
    let out = support::boto3(
        moto,
        "import sys, boto3\n\
         h = boto3.client('s3').head_object(Bucket=sys.argv[1], Key=sys.argv[2])\n\
         for k in ('ServerSideEncryption', 'SSEKMSKeyId', 'StorageClass'):\n\
         \x20   print(k + '=' + str(h.get(k)))\n",
        &[bucket, key],
    );
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sidecar_of(key: &str) -> String {
    let stem = key.strip_suffix(".age").unwrap_or(key);
    stem.strip_suffix(".json.gz").unwrap().to_string() + ".info"
}

#[test]
fn stored_backups_carry_the_server_side_encryption_and_storage_class_asked_for() {
    let moto = support::moto();
    let name = support::bucket_name("sse");
    let bucket = S3Bucket::new(&support::context(&moto.url), &name);
    bucket.setup(&BucketSetup::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.sqlite");
    restore_fixture(&moto.url, &state, &name);
    let run = |args: &[&str]| ok(&moto.url, &state, &name, args);

    let kms = run(&[
        "backup",
        "--to-bucket",
        "--sse",
        "aws:kms",
        "--sse-kms-key-id",
        "alias/repoman-backups",
        "--storage-class",
        "standard_ia",
        "--rate-limit",
        "1k",
    ]);
    let kms = kms.trim();
    let h = head(&moto.url, &name, kms);
    assert_eq!(h["ServerSideEncryption"], "aws:kms", "{h:?}");
    assert_eq!(h["SSEKMSKeyId"], "alias/repoman-backups", "{h:?}");
    assert_eq!(h["StorageClass"], "STANDARD_IA", "{h:?}");
    // The sidecar is encrypted alike and stays in the standard class.
    let h = head(&moto.url, &name, &sidecar_of(kms));
    assert_eq!(h["ServerSideEncryption"], "aws:kms", "{h:?}");
    assert_eq!(h["StorageClass"], "None", "{h:?}");
    // The paced upload (2.6 kB at 1 KiB/s: three pieces, two waits)
    // stored exactly the bytes of a plain one.
    let plain = run(&["backup", "--to-bucket"]);
    let plain = plain.trim();
    let read = |k: &str| stored::fetch(&bucket, k).unwrap();
    let gunzip = |gz: Vec<u8>| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        out
    };
    assert_eq!(gunzip(read(kms)), gunzip(read(plain)));
    assert_eq!(
        head(&moto.url, &name, plain)["ServerSideEncryption"],
        "None"
    );

    // Settings from the environment, as every setting; AES256 and an
    // increment.
    let out = Command::new(env!("CARGO_BIN_EXE_repoman-cli"))
        .arg("--state")
        .arg(format!("sqlite:{}", state.display()))
        .args([
            "--s3-bucket",
            &name,
            "backup",
            "--to-bucket",
            "--incremental",
        ])
        .env_clear()
        .env("HOME", work.path())
        .env("AWS_ENDPOINT_URL_S3", &moto.url)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("REPOMAN_BACKUP_SSE", "AES256")
        .env("REPOMAN_BACKUP_STORAGE_CLASS", "ONEZONE_IA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inc = String::from_utf8(out.stdout).unwrap();
    let h = head(&moto.url, &name, inc.trim());
    assert_eq!(h["ServerSideEncryption"], "AES256", "{h:?}");
    assert_eq!(h["StorageClass"], "ONEZONE_IA", "{h:?}");
}

/// IAM users made on `moto` (with its root keys, before auth is on):
/// `backup` with the policy given, `admin` with every right; their keys.
fn iam_users(moto: &str, backup_policy: &str) -> ((String, String), (String, String)) {
    let out = support::boto3(
        moto,
        "import json, sys, boto3\n\
         iam = boto3.client('iam')\n\
         admin = json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]})\n\
         for user, policy in (('backup', sys.argv[1]), ('admin', admin)):\n\
         \x20   iam.create_user(UserName=user)\n\
         \x20   iam.put_user_policy(UserName=user, PolicyName='p', PolicyDocument=policy)\n\
         \x20   k = iam.create_access_key(UserName=user)['AccessKey']\n\
         \x20   print(k['AccessKeyId'], k['SecretAccessKey'])\n",
        &[backup_policy],
    );
    let mut lines = out.lines().map(|l| {
        let (k, s) = l.split_once(' ').unwrap();
        (k.to_string(), s.to_string())
    });
    (lines.next().unwrap(), lines.next().unwrap())
}

/// Every request to `moto` from now on is authenticated and authorised.
fn enforce_iam(moto: &str) {
    support::boto3(
        moto,
        "import sys, urllib.request\n\
         urllib.request.urlopen(urllib.request.Request(sys.argv[1] + '/moto-api/reset-auth', data=b'0', method='POST', headers={'Content-Type': 'application/octet-stream'})).read()\n",
        &[moto],
    );
}

fn bucket_as(moto: &str, name: &str, keys: &(String, String)) -> S3Bucket {
    let ctx = AwsContext::new(
        &AwsSettings {
            region: Some("us-east-1".into()),
            ..AwsSettings::default()
        },
        &Overrides {
            s3_endpoint: Some(moto.into()),
            credentials: Some(StaticKeys {
                access_key_id: keys.0.clone(),
                secret_access_key: keys.1.clone(),
                session_token: None,
            }),
            ..Overrides::default()
        },
    )
    .unwrap();
    S3Bucket::new(&ctx, name)
}

#[test]
fn a_backup_only_principal_creates_backups_but_can_neither_overwrite_nor_delete_them() {
    // Auth is one switch for the whole server: a moto of its own.
    let moto = support::start_moto_with_env(&[("MOTO_IAM_LIKE_AWS", "1")]);
    let name = support::bucket_name("wo");
    S3Bucket::new(&support::context(&moto.url), &name)
        .setup(&BucketSetup::default())
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state.sqlite");
    restore_fixture(&moto.url, &state, &name);
    let policy = ok(&moto.url, &state, &name, &["iam-policy", "--backup-only"]);
    assert!(
        policy.contains(&format!("arn:aws:s3:::{name}/backups/local/*")),
        "{policy}"
    );
    let (backup, admin) = iam_users(&moto.url, &policy);
    enforce_iam(&moto.url);
    let as_backup = |args: &[&str]| cli_as(&moto.url, &state, &name, (&backup.0, &backup.1), args);
    let one_line_error = |out: &Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} succeeded: {err}");
        // (clean lists its plan on stderr first.)
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("repoman-cli: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{what}: {err}");
        assert_eq!(err.lines().last(), Some(errors[0]), "{what}: {err}");
        assert!(errors[0].contains("AccessDenied"), "{what}: {err}");
    };

    // The unattended job: a full backup and an increment on it.
    let out = as_backup(&["backup", "--to-bucket"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = as_backup(&["backup", "--to-bucket", "--incremental", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let out = as_backup(&["backup", "--to-bucket", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_backup(&["backup", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("backups/local/")
            .count(),
        3
    );

    // It cannot clean (delete) backups...
    one_line_error(&as_backup(&["backup", "clean", "1", "-y"]), "backup clean");
    // ...nor anything else than create under backups/<name>/.
    let b = bucket_as(&moto.url, &name, &backup);
    let admin_bucket = bucket_as(&moto.url, &name, &admin);
    let original = admin_bucket.get(&first).unwrap().unwrap();
    let e = b.delete(&first).unwrap_err().to_string();
    assert!(e.contains("AccessDenied"), "{e}");
    match b.put_bytes(&first, b"replaced", PutMode::Create) {
        Err(StoreError::Exists(_)) => {}
        other => panic!("a conditional overwrite was not refused: {other:?}"),
    }
    let e = b
        .put_bytes(&first, b"replaced", PutMode::Overwrite)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("AccessDenied"),
        "an unconditional put was let through: {e}"
    );
    let e = b
        .put_bytes("pool/x/evil.deb", b"x", PutMode::Create)
        .unwrap_err()
        .to_string();
    assert!(e.contains("AccessDenied"), "{e}");
    let e = b
        .put_bytes("backups/other/x.json.gz", b"x", PutMode::Create)
        .unwrap_err()
        .to_string();
    assert!(e.contains("AccessDenied"), "{e}");
    // Two backups in the same second: the second takes the next name.
    let when = chrono::Utc::now() + chrono::Duration::days(1);
    let gz = stored::gzip(b"{\"metadata\": {}, \"packages\": {}}\n").unwrap();
    let keys: Vec<String> = (0..2)
        .map(|_| {
            stored::store(
                &b,
                "local",
                &gz,
                false,
                Contents::default(),
                when,
                &PutOptions::default(),
            )
            .unwrap()
        })
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert!(keys[1].ends_with("-1.json.gz"), "{keys:?}");

    // Every earlier backup is still there, byte for byte, and the admin
    // may clean.
    assert_eq!(admin_bucket.get(&first).unwrap().unwrap(), original);
    assert!(admin_bucket.get(&sidecar_of(&first)).unwrap().is_some());
    let out = cli_as(
        &moto.url,
        &state,
        &name,
        (&admin.0, &admin.1),
        &["backup", "clean", "1", "-y"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_backup_only_principal_reads_a_dynamodb_state_and_cannot_write_it() {
    let moto = support::start_moto_with_env(&[("MOTO_IAM_LIKE_AWS", "1")]);
    let name = support::bucket_name("woddb");
    S3Bucket::new(&support::context(&moto.url), &name)
        .setup(&BucketSetup::default())
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let state = "dynamodb:repoman-wo";
    let root = (ACCESS_KEY, SECRET_KEY);
    let run = |keys: (&str, &str), args: &[&str]| {
        cli_url_as(&moto.url, state, work.path(), &name, keys, args)
    };
    let must = |out: Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    must(run(
        root,
        &["setup", "-d", "stable", "-c", "main", "-a", "amd64"],
    ));
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/repoman-1.0.7-backup.json");
    must(run(root, &["restore", "-y", fixture.to_str().unwrap()]));
    let want = must(run(root, &["backup"]));
    let policy = must(run(root, &["iam-policy", "--backup-only"]));
    assert!(
        policy.contains("table/repoman-wo") && policy.contains("backups/repoman-wo/*"),
        "{policy}"
    );
    let (backup, admin) = iam_users(&moto.url, &policy);
    enforce_iam(&moto.url);
    let as_backup = |args: &[&str]| run((&backup.0, &backup.1), args);

    // The policy's reads are all a backup needs, full and incremental.
    let key = must(as_backup(&["backup", "--to-bucket", "-q"]));
    assert!(key.is_empty());
    must(as_backup(&["backup", "--to-bucket", "--incremental", "-q"]));
    assert_eq!(must(as_backup(&["backup"])), want);
    // Nothing in the state can be changed with it. (moto answers the
    // denied DynamoDB write in a form the SDK reads no error code from, so
    // repoman retries it as a transient failure before giving up; AWS
    // answers AccessDeniedException.)
    let out = as_backup(&["repo", "add-origin", "Elsewhere", "-y"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let errors = err.lines().filter(|l| l.starts_with("repoman-cli: error:"));
    assert_eq!(errors.count(), 1, "{err}");
    assert_eq!(must(run((&admin.0, &admin.1), &["backup"])), want);
}

/// On SimpleDB (sdb-local, consistent reads), a backup that another
/// writer changes between its queries is detected and made again; the
/// stored backup is the whole state after the change.
#[test]
fn a_simpledb_backup_changed_under_it_is_made_again_never_torn() {
    use repoman::aws::SimpleDbMeta;
    use repoman::backup::dump::{dump_in_ranges, StateChanged};
    use repoman::backup::Style;
    use repoman::catalog::{Catalog, Filter};
    use repoman::store::Backend;

    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let name = support::bucket_name("torn");
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = cli_sdb_as(
            &moto.url,
            &sdb.url,
            "simpledb:torn",
            work.path(),
            &name,
            (ACCESS_KEY, SECRET_KEY),
            args,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/original/repoman-1.0.7-backup.json");
    run(&["restore", "-y", fixture.to_str().unwrap()]);

    let ctx = AwsContext::new(
        &AwsSettings {
            region: Some("us-east-1".into()),
            ..AwsSettings::default()
        },
        &Overrides {
            s3_endpoint: Some(moto.url.clone()),
            simpledb_endpoint: Some(sdb.url.clone()),
            credentials: Some(support::keys()),
            ..Overrides::default()
        },
    )
    .unwrap();
    let catalog = |writer: Box<dyn Fn(usize) -> Vec<Change> + Send + Sync>| {
        let meta = SimpleDbMeta::new(&ctx, "torn").unwrap();
        Catalog::new(Backend {
            meta: Box::new(faults::ChangingMeta::new(Box::new(meta), writer)),
            blobs: Box::new(S3Bucket::new(&ctx, &name)),
            notifier: Box::new(repoman::aws::SnsNotifier::new(&ctx)),
            name: "torn".into(),
        })
    };
    let plain = catalog(Box::new(|_| vec![]));
    let mut items = plain
        .meta()
        .select_all(&Filter::default().to_select())
        .unwrap();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    let target = items[items.len() / 2].name.clone();
    let overwrite = move |value: &str| Change::Put {
        item: target.clone(),
        attrs: [("sha256".to_string(), vec![value.to_string()])].into(),
        remove: vec![],
    };
    let before = run(&["backup"]);

    // Changed between the ranges of one dump (select 0 is the survey).
    let first = overwrite.clone();
    let cat = catalog(Box::new(move |n| {
        if n == 2 {
            vec![first(&"cd".repeat(32))]
        } else {
            vec![]
        }
    }));
    let mut torn = Vec::new();
    let e = dump_in_ranges(
        &cat,
        &Filter::default(),
        Style::Compact,
        &mut torn,
        &mut |_| {},
        1,
    )
    .unwrap_err();
    assert!(e.downcast_ref::<StateChanged>().is_some(), "{e:#}");

    // Stored: retried, and the stored backup is the state after it.
    let again = overwrite.clone();
    let cat = catalog(Box::new(move |n| {
        if n == 1 {
            vec![again(&"ef".repeat(32))]
        } else {
            vec![]
        }
    }));
    let (key, _) = stored::save(
        &cat,
        &Filter::default(),
        Style::Compact,
        &[],
        &PutOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let after = run(&["backup"]);
    assert_ne!(before, after);
    assert!(after.contains(&"ef".repeat(32)));
    let fresh = work.path().join("fresh.sqlite");
    ok(
        &moto.url,
        &fresh,
        &name,
        &["restore", "--from-bucket", &key],
    );
    assert_eq!(ok(&moto.url, &fresh, &name, &["backup"]), after);
}
