//! Publish on S3 (moto): every by-hash name is written with one create-only
//! PutObject (`If-None-Match: *`). A name already in the bucket is answered
//! 412, which means "written before, keep it", never an error, and no HEAD
//! asks first.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use repoman::aws::S3Bucket;
use repoman::catalog::Catalog;
use repoman::embedded::{log::JsonlLog, meta::SqliteMeta};
use repoman::layout::is_by_hash;
use repoman::publish::{publish, Request};
use repoman::store::{
    Backend, BlobStore, BucketSetup, ObjectInfo, PutMode, StoreError, StoreResult,
};

use super::support::{self, text};

/// What a [`Watched`] bucket was asked.
#[derive(Default)]
struct Seen {
    heads: Mutex<Vec<String>>,
    /// Key, and whether S3 answered that it exists (412).
    creates: Mutex<Vec<(String, bool)>>,
}

/// The S3 bucket, noting every HEAD and every create-only write with
/// what S3 answered it.
struct Watched {
    inner: S3Bucket,
    seen: Arc<Seen>,
}

impl Watched {
    fn create(&self, key: &str, mode: PutMode, r: StoreResult<()>) -> StoreResult<()> {
        if mode == PutMode::Create {
            let exists = matches!(r, Err(StoreError::Exists(_)));
            self.seen
                .creates
                .lock()
                .unwrap()
                .push((key.to_string(), exists));
        }
        r
    }
}

impl BlobStore for Watched {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn apt_url(&self) -> String {
        self.inner.apt_url()
    }
    fn setup(&self, o: &BucketSetup) -> StoreResult<()> {
        self.inner.setup(o)
    }
    fn checkup(&self) -> StoreResult<Vec<String>> {
        self.inner.checkup()
    }
    fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()> {
        self.create(key, mode, self.inner.put_file(key, path, mode))
    }
    fn put_bytes(&self, key: &str, bytes: &[u8], mode: PutMode) -> StoreResult<()> {
        self.create(key, mode, self.inner.put_bytes(key, bytes, mode))
    }
    fn read(&self, key: &str, out: &mut dyn std::io::Write) -> StoreResult<()> {
        self.inner.read(key, out)
    }
    fn head(&self, key: &str) -> StoreResult<Option<u64>> {
        self.seen.heads.lock().unwrap().push(key.to_string());
        self.inner.head(key)
    }
    fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
        self.create(to, mode, self.inner.copy(from, to, mode))
    }
    fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.inner.delete(key)
    }
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/debian")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn publish_writes_by_hash_names_create_only_and_takes_412_as_present() {
    let moto = support::moto();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.sqlite");
    // The distribution's name makes moto answer each first conditional
    // write of its keys 409 ConditionalRequestConflict, as S3 does when
    // another write of the key is in flight: retried, not an error.
    let dist = "conflict-once";
    let bucket = support::bucket_name("pubcreate");
    let cli = |args: &[&str]| {
        let out = support::run_checked(
            support::repoman_cli(&moto.url, None, tmp.path())
                .arg("--state")
                .arg(format!("sqlite:{}", state.display()))
                .args(["--bucket", &format!("s3://{bucket}")])
                .args(args),
        );
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    cli(&["setup", "-d", dist, "-c", "main", "-a", "amd64"]);
    cli(&[
        "add",
        "-d",
        dist,
        "-c",
        "main",
        &fixture("hello_2.10-3_amd64.deb"),
        &fixture("hello_2.10-3.dsc"),
    ]);

    // The state the commands above wrote, the bucket watched.
    let catalog = || {
        let seen = Arc::new(Seen::default());
        let blobs = Watched {
            inner: S3Bucket::new(&support::context(&moto.url), &bucket),
            seen: seen.clone(),
        };
        let cat = Catalog::new(Backend {
            meta: Box::new(SqliteMeta::open(&state, "repoman").unwrap()),
            blobs: Box::new(blobs),
            notifier: Box::new(JsonlLog::new(tmp.path().join("announcements.jsonl"))),
            name: "local".into(),
        });
        (cat, seen)
    };
    let s3 = S3Bucket::new(&support::context(&moto.url), &bucket);
    let by_hash_keys = |s3: &S3Bucket| -> Vec<String> {
        let mut keys: Vec<String> = s3
            .list(&format!("dists/{dist}/"))
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .filter(|k| is_by_hash(k))
            .collect();
        keys.sort();
        keys
    };

    // First publish: every by-hash name is new, each created once.
    let (cat, w) = catalog();
    let first = publish(&cat, &Request::new(vec![], None), &|_| {}).unwrap();
    let created = by_hash_keys(&s3);
    assert_eq!(created.len(), 4 * 4, "{created:#?}"); // 2 indices x 2 forms x 4 names
    let mut made: Vec<String> = w
        .creates
        .lock()
        .unwrap()
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    made.sort();
    assert_eq!(made, created);
    assert!(w.creates.lock().unwrap().iter().all(|(_, exists)| !exists));
    assert!(first[0].files >= 16, "{first:?}");

    // Without the Release, the next publish rebuilds every index: the same
    // bytes, so each by-hash name is refused (412) and kept, with no HEAD.
    s3.delete(&format!("dists/{dist}/Release")).unwrap();
    let (cat, w) = catalog();
    let again = publish(&cat, &Request::new(vec![], None), &|_| {}).unwrap();
    let heads = w.heads.lock().unwrap().clone();
    assert!(
        heads.iter().all(|k| !is_by_hash(k)),
        "by-hash names were asked for: {heads:#?}"
    );
    let creates = w.creates.lock().unwrap().clone();
    assert_eq!(creates.len(), 16, "{creates:#?}");
    assert!(
        creates.iter().all(|(k, exists)| *exists && is_by_hash(k)),
        "{creates:#?}"
    );
    assert_eq!(by_hash_keys(&s3), created);
    // Counted as not written: the plain names, leaf Releases and Release.
    assert_eq!(again[0].files, first[0].files - 16, "{again:?}");
    // The plain names hold what their by-hash names hold.
    let plain = s3
        .get(&format!("dists/{dist}/main/binary-amd64/Packages"))
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&plain).contains("Package: hello\n"));
    let release =
        String::from_utf8(s3.get(&format!("dists/{dist}/Release")).unwrap().unwrap()).unwrap();
    let sha256 = hex_sha256(&plain);
    assert!(release.contains(&sha256), "{release}");
    assert!(s3
        .head(&format!(
            "dists/{dist}/main/binary-amd64/by-hash/SHA256/{sha256}"
        ))
        .unwrap()
        .is_some());
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
