//! `migrate --from-export`: a real repository built on sdb-local, its
//! domain written into a moto bucket in the layout of a SimpleDB v2 domain
//! export (several data files, both manifests), imported through the
//! binary into fresh state; and hostile exports, each refused with nothing
//! written.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use repoman::aws::{S3Bucket, SimpleDbMeta};
use repoman::embedded::meta::SqliteMeta;
use repoman::select::{Output as SelectOutput, Select};
use repoman::store::{BlobStore, MetaStore, PutMode};
use serde_json::{json, Value};

use super::support::{self, context, text, Moto, SdbLocal};

struct Env<'a> {
    moto: &'a Moto,
    sdb: &'a SdbLocal,
    home: PathBuf,
    bucket: String,
}

impl Env<'_> {
    /// repoman-cli with `state` (`simpledb:D`, `sqlite:PATH`, ...) and the
    /// repository's bucket, in an empty environment but for AWS settings.
    fn run(&self, state: &str, args: &[&str]) -> Output {
        support::run_checked(
            support::repoman_cli(&self.moto.url, Some(&self.sdb.url), &self.home)
                .args([
                    "--state",
                    state,
                    "--bucket",
                    &format!("s3://{}", self.bucket),
                ])
                .args(args),
        )
    }

    fn ok(&self, state: &str, args: &[&str]) -> String {
        let out = self.run(state, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/debian")
        .join(name)
        .display()
        .to_string()
}

/// Every item of a store in the export's item form, by name.
fn export_items(store: &dyn MetaStore) -> Vec<Value> {
    let all = Select {
        output: SelectOutput::All,
        filter: None,
        order_by: None,
        limit: None,
    };
    store
        .select_all(&all)
        .unwrap()
        .into_iter()
        .map(|i| {
            let attributes: Vec<Value> = i
                .attrs
                .iter()
                .map(|(n, vs)| json!({"name": n, "values": vs}))
                .collect();
            json!({"itemName": i.name, "attributes": attributes})
        })
        .collect()
}

const DIR: &str = "AWSSimpleDB/0123abcd/repo-dom";

fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

/// Writes `items` as an export of domain `repo-dom` in `files` data files,
/// with both manifests, as AWS lays it out.
fn write_export(bucket: &S3Bucket, items: &[Value], files: usize) {
    let put = |key: &str, bytes: &[u8]| bucket.put_bytes(key, bytes, PutMode::Overwrite).unwrap();
    put(&format!("{DIR}/_started"), b"");
    let per = items.len().div_ceil(files);
    let mut manifest = Vec::new();
    for (i, chunk) in items.chunks(per).enumerate() {
        let key = format!("{DIR}/data/dataFile_{}_{}.json", i + 1, i + 2);
        let bytes = serde_json::to_vec(chunk).unwrap();
        put(&key, &bytes);
        manifest.push(json!({
            "md5Checksum": md5_b64(&bytes),
            "dataFileS3Key": key,
            "dataFileItemCount": chunk.len(),
        }));
    }
    put(
        &format!("{DIR}/manifest-file.json"),
        &serde_json::to_vec(&manifest).unwrap(),
    );
    put(
        &format!("{DIR}/manifest-summary.json"),
        &serde_json::to_vec(&json!({
            "version": "2025-11-01",
            "exportArn": "arn:aws::sdb:us-east-1:111122223333:domain/repo-dom/export/0123abcd",
            "requestedAt": "2026-11-01T00:00:00Z",
            "s3BucketName": "ignored",
            "s3ExportPrefix": DIR,
            "domainName": "repo-dom",
            "itemsCount": items.len(),
            "exportDataCutoffTime": "2026-11-01T00:00:00Z",
            "s3SseAlgorithm": null,
            "s3SseKmsKeyId": null,
            "s3BucketOwner": "111122223333"
        }))
        .unwrap(),
    );
}

/// A repository on sdb-local (setup, three packages, publish): its items
/// in export form and its backup.
fn source(env: &Env) -> (Vec<Value>, String) {
    let state = "simpledb:repo-dom";
    env.ok(
        state,
        &["setup", "-d", "stable", "-c", "main", "-a", "amd64"],
    );
    let (deb, all, dsc) = (
        fixture("hello_2.10-3_amd64.deb"),
        fixture("sensible-utils_0.0.17+nmu1_all.deb"),
        fixture("hello_2.10-3.dsc"),
    );
    env.ok(
        state,
        &["add", "-d", "stable", "-c", "main", &deb, &all, &dsc],
    );
    env.ok(state, &["publish"]);
    let backup = env.ok(state, &["backup"]);
    let store = SimpleDbMeta::new(&context(&env.sdb.url), "repo-dom").unwrap();
    let items = export_items(&store);
    assert!(
        items.iter().any(|i| i["itemName"] == "publish-generations"),
        "the domain holds publish's counters too"
    );
    (items, backup)
}

/// Items in the fresh SQLite state at `path` (none when never created).
fn items_in(path: &Path) -> usize {
    if !path.exists() {
        return 0;
    }
    let s = SqliteMeta::open(path, repoman::store_url::DEFAULT_SQLITE_DOMAIN).unwrap();
    if !s.domain_exists().unwrap() {
        return 0;
    }
    s.select_all(&Select {
        output: SelectOutput::All,
        filter: None,
        order_by: None,
        limit: None,
    })
    .unwrap()
    .len()
}

/// The export of a real repository imports into fresh SQLite state (and
/// into DynamoDB) with `backup` identical to the source's, from the
/// export's directory or its parent; a second run writes nothing.
#[test]
fn an_export_of_a_real_repository_imports_with_the_same_backup() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("home")).unwrap();
    let env = Env {
        moto: &moto,
        sdb: &sdb,
        home: work.path().join("home"),
        bucket: support::bucket_name("export-repo"),
    };
    let (items, backup) = source(&env);
    let exports = support::bucket(&moto, "export");
    write_export(&exports, &items, 3);
    assert!(exports.list(&format!("{DIR}/data/")).unwrap().len() == 3);

    let sqlite = work.path().join("imported/state.sqlite");
    let state = format!("sqlite:{}", sqlite.display());
    let url = format!(
        "s3://{}/{DIR}",
        exports.describe().trim_start_matches("s3://")
    );
    let dry = env.ok(&state, &["migrate", "--from-export", &url, "--dry-run"]);
    assert!(dry.contains("would import 4 items"), "{dry}");
    assert_eq!(items_in(&sqlite), 0, "a dry run writes nothing");

    let parent = format!(
        "s3://{}/AWSSimpleDB",
        exports.describe().trim_start_matches("s3://")
    );
    let out = env.run(&state, &["migrate", "--from-export", &parent]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("imported 4 items") && said.contains("4 written, 0 deleted"),
        "{said}"
    );
    assert!(
        said.contains("\"publish-generations\" (publish's counters) is not imported"),
        "{said}"
    );
    assert_eq!(
        env.ok(&state, &["backup"]),
        backup,
        "backup after the import"
    );
    let again = env.ok(&state, &["migrate", "--from-export", &url]);
    assert!(
        again.contains("0 written, 0 deleted, 4 already identical"),
        "{again}"
    );

    env.ok(
        "dynamodb:export-import",
        &["migrate", "--from-export", &url],
    );
    assert_eq!(env.ok("dynamodb:export-import", &["backup"]), backup);
}

/// Hostile exports: each refused on one line naming the key and the
/// reason, and nothing is written.
#[test]
fn hostile_exports_are_refused_with_nothing_written() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("home")).unwrap();
    let env = Env {
        moto: &moto,
        sdb: &sdb,
        home: work.path().join("home"),
        bucket: support::bucket_name("export-bad"),
    };
    let (items, _) = source(&env);
    let first_file = format!("{DIR}/data/dataFile_1_2.json");
    let manifest_key = format!("{DIR}/manifest-file.json");
    let package = |items: &[Value]| {
        items
            .iter()
            .position(|i| {
                i["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["name"] == "filename")
            })
            .unwrap()
    };
    let set_attr = |items: &mut [Value], attr: &str, f: &dyn Fn(&str) -> String| {
        let i = package(items);
        for a in items[i]["attributes"].as_array_mut().unwrap() {
            let name = a["name"].as_str().unwrap().to_string();
            // The first control-text fragment, however wide its number.
            let first_fragment = attr == "controltxt0"
                && name
                    .strip_prefix("controltxt")
                    .is_some_and(|n| n.chars().all(|c| c == '0'));
            if name == attr || first_fragment {
                let v = a["values"][0].as_str().unwrap().to_string();
                a["values"] = json!([f(&v)]);
            }
        }
    };
    type Tweak<'a> = Box<dyn Fn(&S3Bucket) + 'a>;
    let cases: Vec<(&str, Tweak, Vec<String>)> = vec![
        (
            "md5 mismatch",
            Box::new(|b: &S3Bucket| {
                let mut bytes = b.get(&first_file).unwrap().unwrap();
                bytes.insert(1, b' ');
                b.put_bytes(&first_file, &bytes, PutMode::Overwrite)
                    .unwrap();
            }),
            vec![
                first_file.clone(),
                "does not match manifest-file.json".into(),
            ],
        ),
        (
            "missing summary",
            Box::new(|b: &S3Bucket| b.delete(&format!("{DIR}/manifest-summary.json")).unwrap()),
            vec![
                format!("{DIR}/manifest-summary.json"),
                "the export is incomplete".into(),
            ],
        ),
        (
            "a data file outside the prefix",
            Box::new(|b: &S3Bucket| {
                let mut m: Value =
                    serde_json::from_slice(&b.get(&manifest_key).unwrap().unwrap()).unwrap();
                let bytes = b.get(&first_file).unwrap().unwrap();
                b.put_bytes("elsewhere/dataFile_1_2.json", &bytes, PutMode::Overwrite)
                    .unwrap();
                m[0]["dataFileS3Key"] = json!("elsewhere/dataFile_1_2.json");
                b.put_bytes(
                    &manifest_key,
                    &serde_json::to_vec(&m).unwrap(),
                    PutMode::Overwrite,
                )
                .unwrap();
            }),
            vec![
                manifest_key.clone(),
                "\"elsewhere/dataFile_1_2.json\" is not a file under the export's".into(),
            ],
        ),
        (
            "a count mismatch",
            Box::new(|b: &S3Bucket| {
                let mut m: Value =
                    serde_json::from_slice(&b.get(&manifest_key).unwrap().unwrap()).unwrap();
                let n = m[0]["dataFileItemCount"].as_u64().unwrap();
                m[0]["dataFileItemCount"] = json!(n + 1);
                b.put_bytes(
                    &manifest_key,
                    &serde_json::to_vec(&m).unwrap(),
                    PutMode::Overwrite,
                )
                .unwrap();
            }),
            vec![
                format!("{DIR}/manifest-summary.json"),
                "itemsCount is 6, but manifest-file.json lists 7 items".into(),
            ],
        ),
        (
            "a data file's count mismatch, the manifests agreeing",
            Box::new(|b: &S3Bucket| {
                for (key, path) in [
                    (manifest_key.clone(), "/0/dataFileItemCount"),
                    (format!("{DIR}/manifest-summary.json"), "/itemsCount"),
                ] {
                    let mut m: Value =
                        serde_json::from_slice(&b.get(&key).unwrap().unwrap()).unwrap();
                    let v = m.pointer_mut(path).unwrap();
                    *v = json!(v.as_u64().unwrap() + 1);
                    b.put_bytes(&key, &serde_json::to_vec(&m).unwrap(), PutMode::Overwrite)
                        .unwrap();
                }
            }),
            vec![first_file.clone(), "manifest-file.json says".into()],
        ),
    ];
    let mut n = 0;
    let mut refused = |what: &str, exports: &S3Bucket, want: &[String]| {
        n += 1;
        let sqlite = work.path().join(format!("target-{n}/state.sqlite"));
        let state = format!("sqlite:{}", sqlite.display());
        let url = format!(
            "s3://{}/{DIR}",
            exports.describe().trim_start_matches("s3://")
        );
        let out = env.run(&state, &["migrate", "--from-export", &url]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{what}: accepted: {}", text(&out));
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("repoman-cli: error: "), "{what}: {err}");
        for w in want {
            assert!(last.contains(w.as_str()), "{what}: {w:?} not in {last}");
        }
        assert!(last.contains("nothing was written"), "{what}: {last}");
        assert_eq!(items_in(&sqlite), 0, "{what}: something was written");
    };
    for (what, tweak, want) in &cases {
        let exports = support::bucket(&moto, "hostile");
        write_export(&exports, &items, 2);
        tweak(&exports);
        refused(what, &exports, want);
    }

    // Items that break the package rules, in a consistent export.
    let mut bad = items.clone();
    set_attr(&mut bad, "filename", &|_| "../../escape.deb".into());
    let exports = support::bucket(&moto, "hostile");
    write_export(&exports, &bad, 2);
    refused(
        "a ../ file name",
        &exports,
        &["filename: \"../../escape.deb\" is not a file name".into()],
    );

    let mut bad = items.clone();
    set_attr(&mut bad, "controltxt0", &|t| {
        format!("{t}\n\nPackage: evil\nVersion: 6.6.6\n")
    });
    let exports = support::bucket(&moto, "hostile");
    write_export(&exports, &bad, 2);
    refused(
        "a newline injected into control text",
        &exports,
        &["control text".into()],
    );
}
