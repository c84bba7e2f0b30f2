//! The AWS backends against real servers: moto (S3, SNS, STS, with boto3
//! for the SQS side) and sdb-local (SimpleDB).
#![cfg(feature = "aws")]

use std::io::Write;
use std::sync::{Arc, Barrier};

use repoman::aws::{AwsContext, AwsSettings, Overrides, S3Bucket, SnsNotifier, StaticKeys};
use repoman::store::{BlobStore, BucketSetup, Notifier, PutMode, StoreError};
use sha2::{Digest, Sha256};

mod support {
    use std::io::{BufRead, BufReader};
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex, Weak};
    use std::time::{Duration, Instant};

    use super::*;

    pub const ACCESS_KEY: &str = "testing";
    /// Distinctive, so a test can look for it in error text.
    pub const SECRET_KEY: &str = "sEcReT-4e1f9a-do-not-print";

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// A moto server on a free loopback port, killed when the last test
    /// holding it is done.
    pub struct Moto {
        child: Child,
        pub url: String,
    }

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    static MOTO: Mutex<Weak<Moto>> = Mutex::new(Weak::new());

    /// The shared moto server (started on first use; tests running at the
    /// same time share one, each uses its own buckets and topics).
    pub fn moto() -> Arc<Moto> {
        let mut slot = MOTO.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = slot.upgrade() {
            return m;
        }
        let m = Arc::new(start_moto());
        *slot = Arc::downgrade(&m);
        m
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A moto server of its own, for a test whose bucket and topic names
    /// must not depend on what else runs (killed when dropped).
    pub fn start_moto() -> Moto {
        start_moto_with_env(&[])
    }

    /// [`start_moto`] with environment variables for the script (faults).
    pub fn start_moto_with_env(env: &[(&str, &str)]) -> Moto {
        let port = free_port().to_string();
        // moto's own server, with conditional writes made atomic as on S3
        // (see the script).
        let mut cmd = Command::new(python());
        cmd.arg(root().join("tests/aws/moto_server.py"));
        cmd.envs(env.iter().copied());
        let child = cmd
            .args(["-H", "127.0.0.1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (pip install 'moto[server]')");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_for_port(&port);
        moto
    }

    fn wait_for_port(port: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(
                Instant::now() < deadline,
                "server on port {port} never came up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn python() -> PathBuf {
        let venv = root().join(".venv/bin/python3");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        }
    }

    /// Runs a boto3 snippet against `endpoint`; returns its stdout.
    pub fn boto3(endpoint: &str, script: &str, args: &[&str]) -> String {
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "boto3 snippet failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// repoman-cli in an empty environment but for `PATH`, `HOME` and the
    /// AWS settings of the test servers: S3, SNS, STS and DynamoDB on moto,
    /// SimpleDB on `sdb` (without one its endpoint stays unset), region
    /// us-east-1. Standard input is empty.
    pub fn repoman_cli(moto: &str, sdb: Option<&str>, home: &std::path::Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_repoman-cli"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("AWS_ENDPOINT_URL_S3", moto)
            .env("AWS_ENDPOINT_URL_SNS", moto)
            .env("AWS_ENDPOINT_URL_STS", moto)
            .env("AWS_ENDPOINT_URL_DYNAMODB", moto)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null());
        if let Some(sdb) = sdb {
            c.env("AWS_ENDPOINT_URL_SIMPLEDB", sdb);
        }
        c
    }

    /// Runs `c`, checking the secret key reached neither output.
    pub fn run_checked(c: &mut Command) -> std::process::Output {
        let out = c.output().expect("repoman-cli runs");
        assert!(
            !text(&out).contains(SECRET_KEY),
            "the secret key reached the output of {c:?}"
        );
        out
    }

    /// Standard output and error, as one text.
    pub fn text(out: &std::process::Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn keys() -> StaticKeys {
        StaticKeys {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            session_token: None,
        }
    }

    /// A context whose every endpoint is `url`.
    pub fn context(url: &str) -> AwsContext {
        let settings = AwsSettings {
            region: Some("us-east-1".into()),
            ..AwsSettings::default()
        };
        let o = Overrides {
            s3_endpoint: Some(url.into()),
            sns_endpoint: Some(url.into()),
            sts_endpoint: Some(url.into()),
            simpledb_endpoint: Some(url.into()),
            credentials: Some(keys()),
            ..Overrides::default()
        };
        AwsContext::new(&settings, &o).unwrap()
    }

    /// A fresh bucket name (moto validates names like AWS).
    pub fn bucket_name(tag: &str) -> String {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("repoman-{tag}-{}-{n}", std::process::id())
    }

    /// A created bucket on the shared moto.
    pub fn bucket(moto: &Moto, tag: &str) -> S3Bucket {
        let b = S3Bucket::new(&context(&moto.url), &bucket_name(tag));
        b.setup(&BucketSetup::default()).unwrap();
        b
    }

    /// sdb-local on a free port, killed on drop.
    pub struct SdbLocal {
        child: Child,
        pub url: String,
    }

    impl Drop for SdbLocal {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// sdb-local checking signatures with the test key pair.
    impl SdbLocal {
        /// sdb-local's request counts by Action (`GET /__stats`).
        pub fn stats(&self) -> std::collections::BTreeMap<String, u64> {
            use std::io::Read;
            let addr = self.url.trim_start_matches("http://").trim_end_matches('/');
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /__stats HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
            let mut raw = String::new();
            s.read_to_string(&mut raw).unwrap();
            serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap()
        }
    }

    pub fn sdb_local(extra: &[&str]) -> SdbLocal {
        let mut args = vec!["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY];
        args.extend_from_slice(extra);
        spawn_sdb_local(&args)
    }

    /// sdb-local accepting any credentials (e.g. assumed-role keys).
    pub fn sdb_local_any_key() -> SdbLocal {
        spawn_sdb_local(&[])
    }

    fn spawn_sdb_local(args: &[&str]) -> SdbLocal {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdb-local"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sdb-local starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from sdb-local: {line:?}"))
            .to_string();
        SdbLocal { child, url }
    }
}

use support::*;

#[path = "aws/e2e.rs"]
mod e2e;

#[path = "aws/export.rs"]
mod export;

#[path = "aws/objects.rs"]
mod objects;

#[path = "aws/backups.rs"]
mod backups;

#[path = "aws/publish.rs"]
mod publish;

#[path = "aws/verify.rs"]
mod verify;

fn sha256_of(store: &dyn BlobStore, key: &str) -> String {
    struct H(Sha256);
    impl Write for H {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = H(Sha256::new());
    store.read(key, &mut h).unwrap();
    hex::encode(h.0.finalize())
}

/// A file of `len` bytes whose content depends on `seed` (not all zeros,
/// so a part in the wrong place would show).
fn generated_file(len: usize, seed: u8) -> (tempfile::NamedTempFile, String) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let mut h = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0;
    let mut n: u32 = seed as u32;
    while written < len {
        for chunk in block.chunks_mut(4) {
            n = n.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let b = n.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let take = block.len().min(len - written);
        f.write_all(&block[..take]).unwrap();
        h.update(&block[..take]);
        written += take;
    }
    f.flush().unwrap();
    (f, hex::encode(h.finalize()))
}

#[test]
fn s3_put_get_head_list_copy_delete() {
    let moto = moto();
    let b = bucket(&moto, "basic");
    assert_eq!(b.describe(), format!("s3://{}", b.bucket()));
    assert_eq!(b.apt_url(), format!("{}/{}", moto.url, b.bucket()));

    b.put_bytes("dists/x/Release", b"Origin: x\n", PutMode::Create)
        .unwrap();
    let (file, _) = generated_file(3000, 1);
    b.put_file(
        "pool/x/h/hello/hello_1_amd64.deb",
        file.path(),
        PutMode::Create,
    )
    .unwrap();
    assert_eq!(b.get("dists/x/Release").unwrap().unwrap(), b"Origin: x\n");
    assert_eq!(
        b.get("pool/x/h/hello/hello_1_amd64.deb").unwrap().unwrap(),
        std::fs::read(file.path()).unwrap()
    );
    assert_eq!(b.head("dists/x/Release").unwrap(), Some(10));
    assert_eq!(b.head("dists/x/missing").unwrap(), None);
    assert!(matches!(
        b.read("dists/x/missing", &mut Vec::new()),
        Err(StoreError::NotFound(_))
    ));

    b.copy(
        "pool/x/h/hello/hello_1_amd64.deb",
        "pool/y/h/hello/hello_1_amd64.deb",
        PutMode::Create,
    )
    .unwrap();
    let keys: Vec<String> = b
        .list("pool/")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            "pool/x/h/hello/hello_1_amd64.deb",
            "pool/y/h/hello/hello_1_amd64.deb"
        ]
    );
    let listed = b.list("").unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|o| o.modified.is_some()));
    assert_eq!(listed[0].size, 10);

    // Copying onto an existing key: refused in create mode, done in overwrite.
    assert!(matches!(
        b.copy(
            "dists/x/Release",
            "pool/y/h/hello/hello_1_amd64.deb",
            PutMode::Create
        ),
        Err(StoreError::Exists(_))
    ));
    b.copy(
        "dists/x/Release",
        "pool/y/h/hello/hello_1_amd64.deb",
        PutMode::Overwrite,
    )
    .unwrap();
    assert_eq!(
        b.head("pool/y/h/hello/hello_1_amd64.deb").unwrap(),
        Some(10)
    );
    assert!(matches!(
        b.copy("nope", "elsewhere", PutMode::Overwrite),
        Err(StoreError::NotFound(_))
    ));

    b.delete("dists/x/Release").unwrap();
    assert_eq!(b.head("dists/x/Release").unwrap(), None);

    // Content types follow the key.
    let types = python_content_types(&moto.url, b.bucket());
    assert!(
        types.contains("pool/x/h/hello/hello_1_amd64.deb application/vnd.debian.binary-package"),
        "{types}"
    );
}

fn python_content_types(endpoint: &str, bucket: &str) -> String {
    boto3(
        endpoint,
        "import boto3,sys\n\
         s3=boto3.client('s3')\n\
         for o in s3.list_objects_v2(Bucket=sys.argv[1]).get('Contents',[]):\n\
         \x20   print(o['Key'], s3.head_object(Bucket=sys.argv[1],Key=o['Key'])['ContentType'])\n",
        &[bucket],
    )
}

#[test]
fn s3_create_only_refuses_an_existing_key_and_keeps_its_bytes() {
    let moto = moto();
    let b = bucket(&moto, "create");
    b.put_bytes("pool/a", b"first", PutMode::Create).unwrap();
    let again = b.put_bytes("pool/a", b"second", PutMode::Create);
    assert!(
        matches!(again, Err(StoreError::Exists(ref k)) if k.ends_with("pool/a")),
        "{again:?}"
    );
    let (file, _) = generated_file(100, 2);
    assert!(matches!(
        b.put_file("pool/a", file.path(), PutMode::Create),
        Err(StoreError::Exists(_))
    ));
    assert_eq!(b.get("pool/a").unwrap().unwrap(), b"first");
    b.put_bytes("pool/a", b"third", PutMode::Overwrite).unwrap();
    assert_eq!(b.get("pool/a").unwrap().unwrap(), b"third");
}

#[test]
fn s3_multipart_upload_of_100_mb_is_create_only() {
    let moto = moto();
    let b = bucket(&moto, "multipart");
    let (file, digest) = generated_file(100 * 1024 * 1024 + 12345, 3);
    b.put_file("pool/big.deb", file.path(), PutMode::Create)
        .unwrap();
    assert_eq!(
        b.head("pool/big.deb").unwrap(),
        Some(100 * 1024 * 1024 + 12345)
    );
    assert_eq!(sha256_of(&b, "pool/big.deb"), digest);
    let (other, _) = generated_file(70 * 1024 * 1024, 4);
    assert!(matches!(
        b.put_file("pool/big.deb", other.path(), PutMode::Create),
        Err(StoreError::Exists(_))
    ));
    assert_eq!(sha256_of(&b, "pool/big.deb"), digest);
    // Nothing is left half-uploaded.
    let pending = boto3(
        &moto.url,
        "import boto3,sys\n\
         print(len(boto3.client('s3').list_multipart_uploads(Bucket=sys.argv[1]).get('Uploads',[])))",
        &[b.bucket()],
    );
    assert_eq!(pending.trim(), "0");
}

/// Two threads create one key at once: exactly one wins, the other gets
/// `Exists`, and the stored bytes are the winner's.
fn race(b: Arc<S3Bucket>, key: &str, files: [(tempfile::NamedTempFile, String); 2]) {
    let barrier = Arc::new(Barrier::new(2));
    let digests: Vec<String> = files.iter().map(|f| f.1.clone()).collect();
    let handles: Vec<_> = files
        .into_iter()
        .map(|(file, _)| {
            let b = b.clone();
            let barrier = barrier.clone();
            let key = key.to_string();
            std::thread::spawn(move || {
                barrier.wait();
                let r = b.put_file(&key, file.path(), PutMode::Create);
                drop(file);
                r
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {results:?}");
    let loser = 1 - winners[0];
    assert!(
        matches!(results[loser], Err(StoreError::Exists(_))),
        "{results:?}"
    );
    assert_eq!(sha256_of(b.as_ref(), key), digests[winners[0]]);
}

#[test]
fn s3_racing_creates_have_exactly_one_winner() {
    let moto = moto();
    let b = Arc::new(bucket(&moto, "race"));
    for round in 0..5u8 {
        let files = [
            generated_file(200_000, round),
            generated_file(200_001, round + 100),
        ];
        race(b.clone(), &format!("pool/race{round}"), files);
    }
}

#[test]
fn s3_conditional_multipart_completion_refuses_an_existing_key() {
    let moto = moto();
    let name = bucket(&moto, "mpcond").bucket().to_string();
    // Without the HEAD shortcut, only the conditional requests stand
    // between a second writer and the first writer's object.
    let b = S3Bucket::new(&context(&moto.url), &name)
        .with_multipart(6 << 20, 5 << 20)
        .with_create_precheck(false);
    let (first, digest) = generated_file(12 << 20, 7);
    let (second, _) = generated_file(11 << 20, 8);
    b.put_file("pool/mp", first.path(), PutMode::Create)
        .unwrap();
    let again = b.put_file("pool/mp", second.path(), PutMode::Create);
    assert!(matches!(again, Err(StoreError::Exists(_))), "{again:?}");
    assert_eq!(sha256_of(&b, "pool/mp"), digest);
    let pending = boto3(
        &moto.url,
        "import boto3,sys\n\
         print(len(boto3.client('s3').list_multipart_uploads(Bucket=sys.argv[1]).get('Uploads',[])))",
        &[&name],
    );
    assert_eq!(pending.trim(), "0", "the refused upload was aborted");
    // A multipart upload carries the same Cache-Control as a single put.
    let cache = boto3(
        &moto.url,
        "import boto3,sys\n\
         print(boto3.client('s3').head_object(Bucket=sys.argv[1],Key='pool/mp')['CacheControl'])",
        &[&name],
    );
    assert_eq!(cache.trim(), repoman::layout::CACHE_IMMUTABLE);

    // (CopyObject's If-None-Match is enforced by S3 but ignored by moto
    // 5.2, so copies are checked with the HEAD shortcut on, in
    // s3_put_get_head_list_copy_delete.)
}

/// S3 answers 409 ConditionalRequestConflict to a conditional write racing
/// another operation on the key (moto_server.py does so once for keys
/// named `conflict-once`): the write is tried again and lands, never
/// reported as "exists" with nothing stored.
#[test]
fn s3_conflicts_are_retried_and_only_412_means_exists() {
    let moto = moto();
    let name = bucket(&moto, "conflict").bucket().to_string();
    let b = S3Bucket::new(&context(&moto.url), &name).with_multipart(6 << 20, 5 << 20);
    b.put_bytes("pool/conflict-once-bytes", b"bytes", PutMode::Create)
        .unwrap();
    assert_eq!(
        b.get("pool/conflict-once-bytes").unwrap().unwrap(),
        b"bytes"
    );
    let (small, small_digest) = generated_file(1000, 3);
    b.put_file("pool/conflict-once-file", small.path(), PutMode::Create)
        .unwrap();
    assert_eq!(sha256_of(&b, "pool/conflict-once-file"), small_digest);
    b.copy(
        "pool/conflict-once-file",
        "pool/conflict-once-copy",
        PutMode::Create,
    )
    .unwrap();
    assert_eq!(sha256_of(&b, "pool/conflict-once-copy"), small_digest);
    let (big, big_digest) = generated_file(12 << 20, 9);
    b.put_file("pool/conflict-once-multipart", big.path(), PutMode::Create)
        .unwrap();
    assert_eq!(sha256_of(&b, "pool/conflict-once-multipart"), big_digest);
    let pending = boto3(
        &moto.url,
        "import boto3,sys\n\
         print(len(boto3.client('s3').list_multipart_uploads(Bucket=sys.argv[1]).get('Uploads',[])))",
        &[&name],
    );
    assert_eq!(pending.trim(), "0", "the conflicted upload was aborted");
    // Once the key exists, the same create is refused (412), not retried.
    let again = b.put_bytes("pool/conflict-once-bytes", b"other", PutMode::Create);
    assert!(matches!(again, Err(StoreError::Exists(_))), "{again:?}");
    assert_eq!(
        b.get("pool/conflict-once-bytes").unwrap().unwrap(),
        b"bytes"
    );
}

/// A bucket lives in one region: setup creates it through that region's
/// endpoint whatever --region says (S3 refuses another location
/// constraint), and later connections find its region with HeadBucket.
#[test]
fn s3_bucket_in_another_region_is_set_up_and_located_there() {
    let moto = moto();
    let name = bucket_name("elsewhere");
    let settings = AwsSettings {
        region: Some("eu-central-1".into()),
        ..AwsSettings::default()
    };
    let o = Overrides {
        s3_endpoint: Some(moto.url.clone()),
        credentials: Some(keys()),
        ..Overrides::default()
    };
    let ctx = AwsContext::new(&settings, &o).unwrap();
    S3Bucket::new(&ctx, &name)
        .setup(&BucketSetup {
            region: Some("eu-west-1".into()),
            ..BucketSetup::default()
        })
        .unwrap();
    let location = boto3(
        &moto.url,
        "import boto3,sys\n\
         print(boto3.client('s3').get_bucket_location(Bucket=sys.argv[1])['LocationConstraint'])",
        &[&name],
    );
    assert_eq!(location.trim(), "eu-west-1");
    // A connection configured for us-east-1 finds the bucket's region.
    let b = S3Bucket::new(&context(&moto.url), &name).locate();
    assert_eq!(b.region(), "eu-west-1");
    b.put_bytes("pool/x", b"x", PutMode::Create).unwrap();
    assert_eq!(b.get("pool/x").unwrap().unwrap(), b"x");
    // An absent bucket stays where it was configured.
    let absent = S3Bucket::new(&context(&moto.url), &bucket_name("absent")).locate();
    assert_eq!(absent.region(), "us-east-1");
}

fn anonymous_get(url: &str) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.unwrap();
        let status = r.status().as_u16();
        (status, r.bytes().await.unwrap().to_vec())
    })
}

#[test]
fn s3_setup_with_website_serves_objects_anonymously() {
    let moto = moto();
    let ctx = context(&moto.url);

    let private = S3Bucket::new(&ctx, &bucket_name("private"));
    private.setup(&BucketSetup::default()).unwrap();
    private
        .put_bytes("dists/x/Release", b"private", PutMode::Create)
        .unwrap();
    let (status, _) = anonymous_get(&format!("{}/dists/x/Release", private.apt_url()));
    assert_eq!(status, 403, "a private bucket is not readable anonymously");

    let public = S3Bucket::new(&ctx, &bucket_name("website"));
    let opts = BucketSetup {
        acl: None,
        region: None,
        enable_website: true,
    };
    public.setup(&opts).unwrap();
    // Set up again: the bucket exists and is ours, which is fine.
    public.setup(&opts).unwrap();
    public
        .put_bytes("dists/x/Release", b"Origin: public\n", PutMode::Create)
        .unwrap();
    let (status, body) = anonymous_get(&format!("{}/dists/x/Release", public.apt_url()));
    assert_eq!(status, 200);
    assert_eq!(body, b"Origin: public\n");

    let policy = boto3(
        &moto.url,
        "import boto3,sys\n\
         s3=boto3.client('s3')\n\
         print(s3.get_bucket_policy(Bucket=sys.argv[1])['Policy'])\n\
         print(s3.get_bucket_website(Bucket=sys.argv[1])['IndexDocument']['Suffix'])",
        &[public.bucket()],
    );
    assert!(policy.contains("s3:GetObject"), "{policy}");
    assert!(policy.contains("index.html"), "{policy}");
}

#[test]
fn s3_checkup_leaves_no_objects_and_reports_versioning() {
    let moto = moto();
    let b = bucket(&moto, "checkup");
    let notes = b.checkup().unwrap();
    assert!(notes.iter().any(|n| n.contains("not enabled")), "{notes:?}");
    assert!(b.list("").unwrap().is_empty());

    boto3(
        &moto.url,
        "import boto3,sys\n\
         boto3.client('s3').put_bucket_versioning(Bucket=sys.argv[1],VersioningConfiguration={'Status':'Enabled'})",
        &[b.bucket()],
    );
    let notes = b.checkup().unwrap();
    assert!(notes.iter().any(|n| n.contains("is enabled")), "{notes:?}");
    let versions = boto3(
        &moto.url,
        "import boto3,sys\n\
         r=boto3.client('s3').list_object_versions(Bucket=sys.argv[1])\n\
         print(len(r.get('Versions',[]))+len(r.get('DeleteMarkers',[])))",
        &[b.bucket()],
    );
    assert_eq!(versions.trim(), "0", "checkup left versions behind");

    let missing = S3Bucket::new(&context(&moto.url), &bucket_name("absent"));
    let err = missing.checkup().unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn sns_announce_reaches_a_subscribed_queue_and_caller_is_the_sts_arn() {
    let moto = moto();
    let ctx = context(&moto.url);
    let n = SnsNotifier::new(&ctx);
    assert_eq!(n.caller().unwrap(), "arn:aws:sts::123456789012:user/moto");

    let topic = format!("repoman-news-{}", std::process::id());
    let queue_url = boto3(
        &moto.url,
        "import boto3,sys\n\
         sns=boto3.client('sns'); sqs=boto3.client('sqs')\n\
         t=sns.create_topic(Name=sys.argv[1])['TopicArn']\n\
         q=sqs.create_queue(QueueName=sys.argv[1])['QueueUrl']\n\
         a=sqs.get_queue_attributes(QueueUrl=q,AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         sns.subscribe(TopicArn=t,Protocol='sqs',Endpoint=a)\n\
         print(q)",
        &[&topic],
    );
    let messages = vec![
        serde_json::json!({"action": "add", "type": "package", "name": "hello", "caller": "me"}),
        serde_json::json!({"action": "delete", "type": "dists", "name": "sid", "caller": "me"}),
    ];
    n.announce(Some(&topic), &messages[..1]).unwrap();
    n.announce(None, &messages).unwrap();
    // An ARN is used as it is, and reaches the same topic.
    let arn = n.topic_arn(&topic).unwrap();
    assert!(arn.starts_with("arn:aws:sns:us-east-1:") && arn.ends_with(&topic));
    n.announce(Some(&arn), &messages[1..]).unwrap();

    let received = boto3(
        &moto.url,
        "import boto3,sys,json\n\
         sqs=boto3.client('sqs'); out=[]\n\
         for _ in range(10):\n\
         \x20   r=sqs.receive_message(QueueUrl=sys.argv[1],MaxNumberOfMessages=10,WaitTimeSeconds=1)\n\
         \x20   out += [json.loads(m['Body']) for m in r.get('Messages',[])]\n\
         \x20   if len(out) >= 2: break\n\
         print(json.dumps([[m['Subject'], m['Message']] for m in out]))",
        &[queue_url.trim()],
    );
    let got: Vec<(String, String)> = serde_json::from_str(received.trim()).unwrap();
    assert_eq!(got.len(), 2, "{received}");
    for (subject, _) in &got {
        assert_eq!(subject, "Repoman notification");
    }
    let mut bodies: Vec<serde_json::Value> = got
        .iter()
        .map(|(_, m)| serde_json::from_str(m).unwrap())
        .collect();
    bodies.sort_by_key(|v| v["action"].as_str().unwrap().to_string());
    assert_eq!(bodies, messages);
    // Compact JSON, as the original sends it.
    assert!(got
        .iter()
        .all(|(_, m)| !m.contains(": ") && !m.contains('\n')));
}

/// A topic in another region than the repository's: its ARN names the
/// region, and the messages are published there.
#[test]
fn sns_topic_in_another_region_is_reached_through_its_arn() {
    let moto = moto();
    let n = SnsNotifier::new(&context(&moto.url));
    let topic = format!("repoman-eu-news-{}", std::process::id());
    let out = boto3(
        &moto.url,
        "import boto3,sys\n\
         sns=boto3.client('sns',region_name='eu-west-1'); sqs=boto3.client('sqs',region_name='eu-west-1')\n\
         t=sns.create_topic(Name=sys.argv[1])['TopicArn']\n\
         q=sqs.create_queue(QueueName=sys.argv[1])['QueueUrl']\n\
         a=sqs.get_queue_attributes(QueueUrl=q,AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         sns.subscribe(TopicArn=t,Protocol='sqs',Endpoint=a,Attributes={'RawMessageDelivery':'true'})\n\
         print(t); print(q)",
        &[&topic],
    );
    let mut lines = out.lines();
    let (arn, queue) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(arn.starts_with("arn:aws:sns:eu-west-1:"), "{arn}");
    let message = serde_json::json!({"action": "add", "type": "package", "name": "hello"});
    n.announce(Some(arn), std::slice::from_ref(&message))
        .unwrap();
    let received = boto3(
        &moto.url,
        "import boto3,sys,json\n\
         sqs=boto3.client('sqs',region_name='eu-west-1'); out=[]\n\
         for _ in range(5):\n\
         \x20   r=sqs.receive_message(QueueUrl=sys.argv[1],MaxNumberOfMessages=10,WaitTimeSeconds=1)\n\
         \x20   out += [json.loads(m['Body']) for m in r.get('Messages',[])]\n\
         \x20   if out: break\n\
         print(json.dumps(out))",
        &[queue],
    );
    let got: Vec<serde_json::Value> = serde_json::from_str(received.trim()).unwrap();
    assert_eq!(got, vec![message]);
}

#[test]
fn sns_failed_announcements_list_the_undelivered_messages() {
    let moto = moto();
    let n = SnsNotifier::new(&context(&moto.url));
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic-here";
    let messages = vec![
        serde_json::json!({"action": "add", "name": "one"}),
        serde_json::json!({"action": "add", "name": "two"}),
    ];
    let err = n
        .announce(Some(missing), &messages)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 of 2"), "{err}");
    assert!(err.contains(r#"{"action":"add","name":"one"}"#), "{err}");
    assert!(err.contains(r#"{"action":"add","name":"two"}"#), "{err}");
    assert!(!err.contains(SECRET_KEY));
    assert!(!err.contains('\n'));
}

#[test]
fn errors_never_carry_the_secret() {
    let moto = moto();
    let b = S3Bucket::new(&context(&moto.url), &bucket_name("nobucket"));
    let e = b
        .put_bytes("k", b"v", PutMode::Create)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("S3 PutObject s3://"), "{e}");
    assert!(!e.contains(SECRET_KEY));
    // An endpoint that refuses connections.
    let dead = S3Bucket::new(&context("http://127.0.0.1:9"), "repoman-dead");
    let e = dead.head("k").unwrap_err().to_string();
    assert!(!e.contains(SECRET_KEY) && !e.contains('\n'), "{e}");
    assert!(e.starts_with("S3 HeadObject s3://repoman-dead/k: "), "{e}");
    assert!(e.len() < 600, "a short line, not a dump: {e}");
}

mod simpledb {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use repoman::aws::simpledb::RetryPolicy;
    use repoman::aws::SimpleDbMeta;
    use repoman::model::Attrs;
    use repoman::select::{CmpOp, Expr, Operand, Output, Select};
    use repoman::store::{Change, MetaStore};

    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn put(item: &str, a: Attrs) -> Change {
        Change::Put {
            item: item.into(),
            attrs: a,
            remove: vec![],
        }
    }

    fn store(server: &SdbLocal, domain: &str) -> SimpleDbMeta {
        let m = SimpleDbMeta::new(&context(&server.url), domain).unwrap();
        m.create_domain().unwrap();
        m
    }

    fn names(store: &dyn MetaStore, q: &Select) -> BTreeSet<String> {
        store
            .select_all(q)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    }

    fn select(output: Output, filter: Option<Expr>, limit: Option<u32>) -> Select {
        Select {
            output,
            filter,
            order_by: None,
            limit,
        }
    }

    fn eq(attr: &str, v: &str) -> Expr {
        Expr::Cmp(Operand::Attr(attr.into()), CmpOp::Eq, v.into())
    }

    #[test]
    fn sdb_every_metastore_method() {
        let server = sdb_local(&[]);
        let m = SimpleDbMeta::new(&context(&server.url), "repo").unwrap();
        assert_eq!(m.describe(), "simpledb:repo");
        assert!(!m.domain_exists().unwrap());
        m.create_domain().unwrap();
        assert!(m.domain_exists().unwrap());
        m.create_domain().unwrap();
        assert!(m
            .client()
            .list_domains()
            .unwrap()
            .contains(&"repo".to_string()));

        m.apply(&[
            put(
                "meta",
                attrs(&[("dists", &["bookworm", "trixie"]), ("origin", &["o"])]),
            ),
            put(
                "p1",
                attrs(&[
                    ("name", &["hello"]),
                    ("distribution", &["bookworm"]),
                    ("controltxt0", &["a"]),
                    ("controltxt1", &["b"]),
                ]),
            ),
            put(
                "p2",
                attrs(&[("name", &["world"]), ("distribution", &["trixie"])]),
            ),
        ])
        .unwrap();
        assert_eq!(
            m.get("meta").unwrap().unwrap(),
            attrs(&[("dists", &["bookworm", "trixie"]), ("origin", &["o"])])
        );
        assert_eq!(m.get("absent").unwrap(), None);

        // Replace: listed attributes are replaced, `remove` names deleted.
        m.apply(&[Change::Put {
            item: "p1".into(),
            attrs: attrs(&[("controltxt0", &["ab"])]),
            remove: vec!["controltxt1".into()],
        }])
        .unwrap();
        assert_eq!(
            m.get("p1").unwrap().unwrap(),
            attrs(&[
                ("name", &["hello"]),
                ("distribution", &["bookworm"]),
                ("controltxt0", &["ab"]),
            ])
        );

        let all = select(
            Output::All,
            Some(Expr::IsNotNull(Operand::Attr("name".into()))),
            None,
        );
        let items = m.select_all(&all).unwrap();
        assert_eq!(items.len(), 2);
        let p2 = items.iter().find(|i| i.name == "p2").unwrap();
        assert_eq!(p2.attrs["distribution"], vec!["trixie"]);
        assert_eq!(
            names(
                &m,
                &select(Output::ItemName, Some(eq("distribution", "bookworm")), None)
            ),
            BTreeSet::from(["p1".to_string()])
        );
        let count = m.select_all(&select(Output::Count, None, None)).unwrap();
        assert_eq!(count.len(), 1);
        assert_eq!(count[0].name, "Domain");
        assert_eq!(count[0].attrs["Count"], vec!["3"]);
        let some = m
            .select_all(&select(
                Output::Attrs(vec!["name".into()]),
                Some(eq("name", "world")),
                None,
            ))
            .unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].attrs, attrs(&[("name", &["world"])]));

        // Values added and removed one at a time keep the others.
        m.apply(&[Change::AddValue {
            item: "meta".into(),
            attr: "dists".into(),
            value: "sid".into(),
        }])
        .unwrap();
        m.apply(&[Change::DeleteValue {
            item: "meta".into(),
            attr: "dists".into(),
            value: "bookworm".into(),
        }])
        .unwrap();
        let mut dists = m.get("meta").unwrap().unwrap()["dists"].clone();
        dists.sort();
        assert_eq!(dists, vec!["sid", "trixie"]);

        let meta = m.client().domain_metadata("repo").unwrap().unwrap();
        assert_eq!(meta.item_count, 3);
        assert_eq!(m.client().domain_metadata("nope").unwrap(), None);
        m.apply(&[Change::Delete { item: "p2".into() }]).unwrap();
        assert_eq!(m.get("p2").unwrap(), None);
        // An error on the caller's side stops the stream and comes back.
        let mut seen = 0;
        let r = m.select(&all, &mut |_| {
            seen += 1;
            Err(StoreError::Backend("stop".into()))
        });
        assert!(matches!(r, Err(StoreError::Backend(ref s)) if s == "stop"));
        assert_eq!(seen, 1);
    }

    /// `put_if`, as publish uses it, behaves the same on SimpleDB and on
    /// the embedded SQLite store: a write whose expectation does not hold
    /// changes nothing and says so.
    #[test]
    fn conditional_puts_agree_on_simpledb_and_sqlite() {
        let server = sdb_local(&[]);
        let dir = tempfile::tempdir().unwrap();
        let sqlite =
            repoman::embedded::meta::SqliteMeta::open(&dir.path().join("s.sqlite"), "repo")
                .unwrap();
        sqlite.create_domain().unwrap();
        let simpledb = store(&server, "repo");
        for m in [&simpledb as &dyn MetaStore, &sqlite] {
            assert!(m.put_if("gen", "stable", None, "1").unwrap());
            assert!(
                !m.put_if("gen", "stable", None, "1").unwrap(),
                "{}",
                m.describe()
            );
            assert!(!m.put_if("gen", "stable", Some("0"), "2").unwrap());
            assert!(m.put_if("gen", "stable", Some("1"), "2").unwrap());
            assert!(m.put_if("gen", "stable", Some("2"), "2").unwrap());
            assert!(m.put_if("gen", "testing", None, "7").unwrap());
            assert_eq!(
                m.get("gen").unwrap().unwrap(),
                attrs(&[("stable", &["2"]), ("testing", &["7"])]),
                "{}",
                m.describe()
            );
        }
    }

    #[test]
    fn sdb_concurrent_add_value_both_take_effect() {
        let server = sdb_local(&[]);
        let ctx = context(&server.url);
        let a = Arc::new(store(&server, "repo"));
        let b = Arc::new(SimpleDbMeta::new(&ctx, "repo").unwrap());
        a.apply(&[put("meta", attrs(&[("dists", &["base"])]))])
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [(a.clone(), "one"), (b.clone(), "two")]
            .into_iter()
            .map(|(s, v)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..10 {
                        s.apply(&[Change::AddValue {
                            item: "meta".into(),
                            attr: "dists".into(),
                            value: format!("{v}{i}"),
                        }])
                        .unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let dists = &a.get("meta").unwrap().unwrap()["dists"];
        assert_eq!(dists.len(), 21, "{dists:?}");
    }

    #[test]
    fn sdb_select_pages_over_2500_items() {
        let server = sdb_local(&[]);
        let m = store(&server, "many");
        let n = 2700;
        let changes: Vec<Change> = (0..n)
            .map(|i| {
                put(
                    &format!("item{i:05}"),
                    attrs(&[("name", &["pkg"]), ("n", &[&i.to_string()])]),
                )
            })
            .collect();
        m.apply(&changes).unwrap();
        let filter = Some(eq("name", "pkg"));
        let all = m
            .select_all(&select(Output::All, filter.clone(), None))
            .unwrap();
        assert_eq!(all.len(), n);
        let distinct: BTreeSet<&str> = all.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(distinct.len(), n);
        assert!(all.iter().all(|i| i.attrs["n"].len() == 1));
        let count = m
            .select_all(&select(Output::Count, filter.clone(), None))
            .unwrap();
        assert_eq!(count[0].attrs["Count"], vec![n.to_string()]);
        // `limit` is a total, across pages.
        assert_eq!(
            m.select_all(&select(Output::ItemName, filter.clone(), Some(2600)))
                .unwrap()
                .len(),
            2600
        );
        assert_eq!(
            m.select_all(&select(Output::ItemName, filter, Some(10)))
                .unwrap()
                .len(),
            10
        );
        // And they go in batches: deleting them all is one more apply.
        let deletes: Vec<Change> = all
            .iter()
            .map(|i| Change::Delete {
                item: i.name.clone(),
            })
            .collect();
        m.apply(&deletes).unwrap();
        let count = m.select_all(&select(Output::Count, None, None)).unwrap();
        assert_eq!(count[0].attrs["Count"], vec!["0"]);
    }

    #[test]
    fn sdb_hostile_values_match_only_themselves() {
        let server = sdb_local(&[]);
        let m = store(&server, "hostile");
        let values = [
            "'",
            "''",
            "`",
            "%",
            "\\",
            "a'b",
            "a%b",
            "a\\b",
            "ab",
            "a_b",
            "' or 1=1 or '",
            "100%",
            "\\%",
            "x`y",
            "plain",
        ];
        let changes: Vec<Change> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                put(
                    &format!("i{i}"),
                    attrs(&[("name", &[v]), ("we`ird'attr", &[v])]),
                )
            })
            .collect();
        m.apply(&changes).unwrap();
        for (i, v) in values.iter().enumerate() {
            let want = BTreeSet::from([format!("i{i}")]);
            assert_eq!(
                names(&m, &Select::all_where(eq("name", v))),
                want,
                "name = {v:?}"
            );
            assert_eq!(
                names(&m, &Select::all_where(eq("we`ird'attr", v))),
                want,
                "odd attribute = {v:?}"
            );
            let prefixed: BTreeSet<String> = values
                .iter()
                .enumerate()
                .filter(|(_, w)| w.starts_with(v))
                .map(|(j, _)| format!("i{j}"))
                .collect();
            assert_eq!(
                names(&m, &Select::all_where(Expr::starts_with("name", v))),
                prefixed,
                "prefix {v:?}"
            );
        }
        let got = m.get("i0").unwrap().unwrap();
        assert_eq!(got["we`ird'attr"], vec!["'"]);
    }

    /// Throttling is retried patiently; a request that timed out only a few
    /// times (sdb-local's /__stats counts what reached it).
    #[test]
    fn sdb_request_timeouts_are_retried_only_a_few_times() {
        use repoman::aws::simpledb::TIMEOUT_ATTEMPTS;
        let server = sdb_local(&["--fail-rate", "1", "--fail-code", "RequestTimeout"]);
        let m = SimpleDbMeta::new(&context(&server.url), "timeouts")
            .unwrap()
            .with_retry(RetryPolicy {
                max_attempts: 10,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(5),
            });
        let err = m.create_domain().unwrap_err().to_string();
        assert!(err.contains("RequestTimeout"), "{err}");
        let stats = server.stats();
        assert_eq!(
            stats.get("CreateDomain"),
            Some(&u64::from(TIMEOUT_ATTEMPTS)),
            "{stats:?}"
        );
    }

    /// A Select SimpleDB gives up on (its 5 seconds; sdb-local answers 408
    /// to pages asking for more than 300 items) is resumed from the same
    /// position with smaller pages: every kind of Select still answers in
    /// full, and one that times out even for one item is a clear error.
    #[test]
    fn sdb_selects_that_time_out_continue_with_smaller_pages() {
        let server = sdb_local(&["--select-timeout-items", "300"]);
        let m = SimpleDbMeta::new(&context(&server.url), "slow").unwrap();
        m.create_domain().unwrap();
        let changes: Vec<Change> = (0..2700)
            .map(|i| {
                put(
                    &format!("item{i:04}"),
                    attrs(&[
                        ("name", &[if i % 3 == 0 { "a" } else { "b" }]),
                        ("i", &[&format!("{i:04}")]),
                    ]),
                )
            })
            .collect();
        m.apply(&changes).unwrap();
        let all = names(&m, &select(Output::ItemName, None, None));
        assert_eq!(all.len(), 2700);
        let a = names(&m, &select(Output::ItemName, Some(eq("name", "a")), None));
        assert_eq!(a.len(), 900);
        assert!(a.iter().all(|n| n[4..].parse::<u32>().unwrap() % 3 == 0));
        let limited = m
            .select_all(&select(Output::All, None, Some(1000)))
            .unwrap();
        assert_eq!(limited.len(), 1000);
        let count = |filter| {
            let got = m.select_all(&select(Output::Count, filter, None)).unwrap();
            got[0].attrs["Count"][0].parse::<u64>().unwrap()
        };
        assert_eq!(count(None), 2700);
        assert_eq!(count(Some(eq("name", "b"))), 1800);
        // The timed-out pages reached the server and were answered again
        // in smaller ones.
        let selects = server.stats()["Select"];
        assert!(selects > 2700 / 300, "{selects} Selects");

        let hopeless = sdb_local(&["--select-timeout-items", "0"]);
        let h = SimpleDbMeta::new(&context(&hopeless.url), "slow").unwrap();
        h.create_domain().unwrap();
        h.apply(&changes[..3]).unwrap();
        let e = h
            .select_all(&select(Output::ItemName, None, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("SimpleDB Select on domain slow: RequestTimeout")
                && e.ends_with("(even for one item per page)"),
            "{e}"
        );
    }

    #[test]
    fn sdb_retries_converge_when_the_server_fails_often() {
        let server = sdb_local(&["--fail-rate", "0.3"]);
        let ctx = context(&server.url);
        let m = SimpleDbMeta::new(&ctx, "flaky")
            .unwrap()
            .with_retry(RetryPolicy {
                max_attempts: 30,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(100),
            });
        m.create_domain().unwrap();
        let changes: Vec<Change> = (0..300)
            .map(|i| {
                put(
                    &format!("item{i:03}"),
                    attrs(&[("name", &["pkg"]), ("i", &[&i.to_string()])]),
                )
            })
            .collect();
        m.apply(&changes).unwrap();
        for i in (0..300).step_by(37) {
            let a = m.get(&format!("item{i:03}")).unwrap().unwrap();
            assert_eq!(a["i"], vec![i.to_string()]);
        }
        assert_eq!(
            m.select_all(&select(Output::ItemName, Some(eq("name", "pkg")), None))
                .unwrap()
                .len(),
            300
        );
    }

    #[test]
    fn sdb_errors_are_one_line_and_never_carry_the_secret() {
        let server = sdb_local(&[]);
        let m = SimpleDbMeta::new(&context(&server.url), "missing").unwrap();
        let e = m.get("x").unwrap_err().to_string();
        assert!(
            e.starts_with("SimpleDB GetAttributes on domain missing: NoSuchDomain"),
            "{e}"
        );
        let e = m
            .select_all(&Select::all_where(eq("name", SECRET_KEY)))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("SimpleDB Select on domain missing: "), "{e}");
        let quick = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let dead = SimpleDbMeta::new(&context("http://127.0.0.1:9"), "d")
            .unwrap()
            .with_retry(quick);
        let e2 = dead.create_domain().unwrap_err().to_string();
        assert!(
            e2.starts_with("SimpleDB CreateDomain on domain d: ConnectionError: ")
                && e2.to_lowercase().contains("refused"),
            "{e2}"
        );
        // A wrong secret: the server refuses the signature, and neither
        // secret shows in the message.
        let settings = AwsSettings {
            region: Some("us-east-1".into()),
            ..AwsSettings::default()
        };
        let wrong = Overrides {
            simpledb_endpoint: Some(server.url.clone()),
            credentials: Some(StaticKeys {
                secret_access_key: "wrong-secret-0b5e".into(),
                ..keys()
            }),
            ..Overrides::default()
        };
        let bad = SimpleDbMeta::new(&AwsContext::new(&settings, &wrong).unwrap(), "d").unwrap();
        let e3 = bad.create_domain().unwrap_err().to_string();
        assert!(
            e3.starts_with("SimpleDB CreateDomain on domain d: SignatureDoesNotMatch"),
            "{e3}"
        );
        assert!(!e3.contains("wrong-secret-0b5e"), "{e3}");
        for text in [&e, &e2, &e3] {
            assert!(!text.contains(SECRET_KEY), "{text}");
            assert!(!text.contains('\n'), "{text}");
            assert!(!text.contains("Signature="), "{text}");
        }
    }
}

/// The whole stack as a user runs it: repoman-cli configured only through
/// the standard `AWS_ENDPOINT_URL_*` variables, SimpleDB on sdb-local, S3,
/// SNS and STS on moto, and apt reading the published bucket over HTTP.
#[test]
fn cli_through_standard_endpoint_variables_serves_apt_from_the_bucket() {
    use std::process::Command;

    let moto = moto();
    let sdb = sdb_local(&[]);
    let home = tempfile::tempdir().unwrap();
    let bucket = bucket_name("cli");
    let topic = format!("repoman-cli-news-{}", std::process::id());
    let queue_url = boto3(
        &moto.url,
        "import boto3,sys\n\
         sns=boto3.client('sns'); sqs=boto3.client('sqs')\n\
         t=sns.create_topic(Name=sys.argv[1])['TopicArn']\n\
         q=sqs.create_queue(QueueName=sys.argv[1])['QueueUrl']\n\
         a=sqs.get_queue_attributes(QueueUrl=q,AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         sns.subscribe(TopicArn=t,Protocol='sqs',Endpoint=a,Attributes={'RawMessageDelivery':'true'})\n\
         print(q)",
        &[&topic],
    );
    let cli = |args: &[&str]| {
        let out = run_checked(
            repoman_cli(&moto.url, Some(&sdb.url), home.path())
                .args(["--simpledb-domain", "clidomain", "--s3-bucket", &bucket])
                .args(args),
        );
        assert!(out.status.success(), "repoman-cli {args:?}: {}", text(&out));
        text(&out)
    };
    cli(&[
        "setup",
        "-d",
        "bookworm",
        "-c",
        "main",
        "-a",
        "amd64",
        "--sns-topic",
        &topic,
        "--enable-website",
    ]);
    let deb = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/debian/hello_2.10-3_amd64.deb");
    cli(&[
        "add",
        "-d",
        "bookworm",
        "-c",
        "main",
        "--publish",
        deb.to_str().unwrap(),
    ]);

    // apt, anonymous, against the bucket's URL.
    let t = home.path();
    std::fs::create_dir_all(t.join("lists/partial")).unwrap();
    std::fs::create_dir_all(t.join("cache/archives/partial")).unwrap();
    std::fs::write(
        t.join("sources.list"),
        format!("deb [trusted=yes] {}/{bucket} bookworm main\n", moto.url),
    )
    .unwrap();
    let apt = |args: &[&str]| {
        let out = Command::new("apt-get")
            .args([
                format!(
                    "-o=Dir::Etc::SourceList={}",
                    t.join("sources.list").display()
                ),
                "-o=Dir::Etc::SourceParts=/dev/null".into(),
                format!("-o=Dir::State::Lists={}", t.join("lists").display()),
                format!("-o=Dir::Cache={}", t.join("cache").display()),
                "-o=Debug::NoLocking=1".into(),
                "-o=APT::Sandbox::User=root".into(),
            ])
            .args(args)
            .current_dir(t)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "apt-get {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    apt(&["update"]);
    apt(&["download", "hello"]);
    assert_eq!(
        std::fs::read(t.join("hello_2.10-3_amd64.deb")).unwrap(),
        std::fs::read(&deb).unwrap()
    );

    // The announcements arrived, with the STS caller.
    let received = boto3(
        &moto.url,
        "import boto3,sys,json\n\
         sqs=boto3.client('sqs'); out=[]\n\
         for _ in range(5):\n\
         \x20   r=sqs.receive_message(QueueUrl=sys.argv[1],MaxNumberOfMessages=10,WaitTimeSeconds=1)\n\
         \x20   out += [json.loads(m['Body']) for m in r.get('Messages',[])]\n\
         print(json.dumps(out))",
        &[queue_url.trim()],
    );
    let messages: Vec<serde_json::Value> = serde_json::from_str(received.trim()).unwrap();
    let add = messages
        .iter()
        .find(|m| m["action"] == "add" && m["type"] == "package")
        .unwrap_or_else(|| panic!("no package announcement in {received}"));
    assert_eq!(add["name"], "hello");
    assert_eq!(add["caller"], "arn:aws:sts::123456789012:user/moto");
}

#[test]
fn an_assumed_role_signs_for_sts_and_simpledb() {
    let moto = moto();
    let sdb = sdb_local_any_key();
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/repoman-deployer".into()),
        ..AwsSettings::default()
    };
    let o = Overrides {
        s3_endpoint: Some(moto.url.clone()),
        sns_endpoint: Some(moto.url.clone()),
        sts_endpoint: Some(moto.url.clone()),
        simpledb_endpoint: Some(sdb.url.clone()),
        credentials: Some(keys()),
        ..Overrides::default()
    };
    let ctx = AwsContext::new(&settings, &o).unwrap();
    let caller = SnsNotifier::new(&ctx).caller().unwrap();
    assert!(
        caller.starts_with("arn:aws:sts::123456789012:assumed-role/repoman-deployer/repoman-"),
        "{caller}"
    );
    let m = repoman::aws::SimpleDbMeta::new(&ctx, "roles").unwrap();
    use repoman::store::MetaStore;
    m.create_domain().unwrap();
    assert!(m.domain_exists().unwrap());
}

/// A repository wider than SimpleDB's 20 comparisons per Select (30
/// distributions, 25 architectures) works end to end on sdb-local, which
/// refuses any Select beyond the limits as AWS does: every query repoman
/// builds is split to fit.
#[test]
fn thirty_distributions_and_twenty_five_architectures_on_strict_sdb_local() {
    let moto = moto();
    let sdb = sdb_local(&[]);
    let home = tempfile::tempdir().unwrap();
    let bucket = bucket_name("wide");
    let cli = |args: &[&str]| {
        let out = run_checked(
            repoman_cli(&moto.url, Some(&sdb.url), home.path())
                .args(["--simpledb-domain", "widedomain", "--s3-bucket", &bucket])
                .args(args),
        );
        assert!(out.status.success(), "repoman-cli {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dists: Vec<String> = (0..30).map(|i| format!("dist{i:02}")).collect();
    let archs = [
        "amd64",
        "arm64",
        "armel",
        "armhf",
        "i386",
        "mips64el",
        "ppc64el",
        "riscv64",
        "s390x",
        "alpha",
        "hppa",
        "ia64",
        "m68k",
        "powerpc",
        "ppc64",
        "sh4",
        "sparc64",
        "x32",
        "loong64",
        "arc",
        "mipsel",
        "mips64",
        "or1k",
        "sparc",
        "hurd-i386",
    ];
    assert_eq!(archs.len(), 25);
    let mut setup = vec!["setup", "-c", "main"];
    for d in &dists {
        setup.extend(["-d", d.as_str()]);
    }
    for a in &archs {
        setup.extend(["-a", a]);
    }
    cli(&setup);
    let deb = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/debian/hello_2.10-3_amd64.deb");
    let deb = deb.to_str().unwrap();
    cli(&[
        "add", "-d", "dist00", "-d", "dist07", "-d", "dist29", "-c", "main", deb,
    ]);
    let listed = |args: &[&str]| -> Vec<String> {
        let mut q = vec!["query", "-f", "json"];
        q.extend(args);
        let v: serde_json::Value = serde_json::from_str(&cli(&q)).unwrap();
        // The tree is name → distribution → component → architecture.
        let mut d: Vec<String> = v
            .as_object()
            .unwrap()
            .values()
            .flat_map(|dists| dists.as_object().unwrap().keys().cloned())
            .collect();
        d.sort();
        d
    };
    // Plain `query` tests every configured distribution and architecture.
    assert_eq!(listed(&[]), ["dist00", "dist07", "dist29"]);
    cli(&[
        "cp",
        "--src-distribution",
        "dist07",
        "--src-component",
        "main",
        "--dst-distribution",
        "dist15",
        "-p",
        "hello",
        "-y",
    ]);
    assert_eq!(listed(&[]), ["dist00", "dist07", "dist15", "dist29"]);
    cli(&["rm", "-p", "hello", "-d", "dist00", "-y"]);
    assert_eq!(listed(&["-p", "hello"]), ["dist07", "dist15", "dist29"]);
    let backup = cli(&["backup"]);
    assert!(backup.contains("dist15"), "{backup}");
    cli(&["publish"]);
    let b = S3Bucket::new(&context(&moto.url), &bucket);
    for (dist, has) in [("dist15", true), ("dist00", false)] {
        let packages = b
            .get(&format!("dists/{dist}/main/binary-amd64/Packages"))
            .unwrap()
            .unwrap_or_else(|| panic!("{dist} is published"));
        let text = String::from_utf8(packages).unwrap();
        assert_eq!(text.contains("Package: hello"), has, "{dist}: {text}");
    }
    assert!(b
        .get("dists/dist29/main/binary-hurd-i386/Packages")
        .unwrap()
        .is_some());
}

/// Bucket, topic and SimpleDB in three regions, none of them --region:
/// setup creates the bucket where --s3-region says, announcements reach
/// the topic in the region its ARN names, and a SimpleDB region AWS does
/// not serve is refused at once.
#[test]
fn cli_with_bucket_topic_and_simpledb_in_different_regions() {
    let moto = moto();
    let sdb = sdb_local(&[]);
    let home = tempfile::tempdir().unwrap();
    let bucket = bucket_name("regions");
    let topic = format!("repoman-regions-{}", std::process::id());
    let out = boto3(
        &moto.url,
        "import boto3,sys\n\
         sns=boto3.client('sns',region_name='ap-southeast-2'); sqs=boto3.client('sqs',region_name='ap-southeast-2')\n\
         t=sns.create_topic(Name=sys.argv[1])['TopicArn']\n\
         q=sqs.create_queue(QueueName=sys.argv[1])['QueueUrl']\n\
         a=sqs.get_queue_attributes(QueueUrl=q,AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         sns.subscribe(TopicArn=t,Protocol='sqs',Endpoint=a,Attributes={'RawMessageDelivery':'true'})\n\
         print(t); print(q)",
        &[&topic],
    );
    let mut lines = out.lines();
    let (arn, queue) = (lines.next().unwrap(), lines.next().unwrap());
    // SimpleDB in us-west-2 (sdb-local stands in for it), the rest in
    // eu-central-1 unless said otherwise.
    let run = |args: &[&str], simpledb: bool| {
        let sdb_url = simpledb.then_some(sdb.url.as_str());
        let mut c = repoman_cli(&moto.url, sdb_url, home.path());
        c.env_remove("AWS_REGION")
            .args(["--simpledb-domain", "regions", "--s3-bucket", &bucket])
            .args(["--region", "eu-central-1"]);
        if simpledb {
            c.args(["--simpledb-region", "us-west-2"]);
        }
        run_checked(c.args(args))
    };
    let ok = |args: &[&str]| {
        let out = run(args, true);
        assert!(
            out.status.success(),
            "repoman-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&[
        "setup",
        "-d",
        "bookworm",
        "-c",
        "main",
        "-a",
        "amd64",
        "--s3-region",
        "eu-west-1",
        "--sns-topic",
        arn,
    ]);
    let location = boto3(
        &moto.url,
        "import boto3,sys\n\
         print(boto3.client('s3').get_bucket_location(Bucket=sys.argv[1])['LocationConstraint'])",
        &[&bucket],
    );
    assert_eq!(location.trim(), "eu-west-1");
    let deb = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/debian/hello_2.10-3_amd64.deb");
    ok(&["add", "-d", "bookworm", "-c", "main", deb.to_str().unwrap()]);
    let received = boto3(
        &moto.url,
        "import boto3,sys,json\n\
         sqs=boto3.client('sqs',region_name='ap-southeast-2'); out=[]\n\
         for _ in range(5):\n\
         \x20   r=sqs.receive_message(QueueUrl=sys.argv[1],MaxNumberOfMessages=10,WaitTimeSeconds=1)\n\
         \x20   out += [json.loads(m['Body']) for m in r.get('Messages',[])]\n\
         \x20   if any(m.get('action') == 'add' for m in out): break\n\
         print(json.dumps(out))",
        &[queue],
    );
    assert!(received.contains("\"hello\""), "{received}");

    // Without an endpoint, SimpleDB in a region AWS does not serve it in
    // is refused before any request.
    let out = run(&["--simpledb-region", "eu-central-1", "query"], false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not offered in region eu-central-1"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
