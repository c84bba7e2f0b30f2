//! The life of a repository through the `repoman-cli` binary, on moto (S3,
//! SNS, SQS, STS) and sdb-local (SimpleDB), configured only with the
//! standard settings: `AWS_ENDPOINT_URL_S3/_SNS/_STS/_SIMPLEDB`,
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `--simpledb-domain` and `--s3-bucket` (or `--state dynamodb:TABLE`, with
//! `AWS_ENDPOINT_URL_DYNAMODB`, for the same scenario on DynamoDB state,
//! and `--state URL` for migrations between stores). apt reads what was published
//! anonymously over HTTP, every announcement is read back from an SQS queue
//! subscribed to the topic, and sdb-local's `/__stats` counts requests.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use repoman::aws::S3Bucket;
use repoman::store::BlobStore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::support::{self, boto3, context, text};

/// What moto's STS answers to GetCallerIdentity for any key.
const CALLER: &str = "arn:aws:sts::123456789012:user/moto";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    manifest().join("fixtures/debian").join(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a scenario keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SimpleDb,
    DynamoDb,
}

/// repoman-cli as a user runs it: an empty environment but for `PATH`, a
/// `HOME` of its own (no `~/.repoman`, no `~/.aws`) and the standard AWS
/// settings.
struct Cli {
    moto_url: String,
    sdb_url: String,
    home: PathBuf,
    bucket: String,
    /// `--gpg-key-file` for publish.
    key_file: Option<PathBuf>,
    state: State,
}

impl Cli {
    /// `domain` names the state: a SimpleDB domain or DynamoDB table (as
    /// `state` says), or a whole store URL (`sqlite:PATH`, ...).
    fn command(&self, domain: &str, args: &[&str]) -> Command {
        let mut c = support::repoman_cli(&self.moto_url, Some(&self.sdb_url), &self.home);
        match self.state {
            _ if domain.contains(':') => c.args(["--state", domain]),
            State::SimpleDb => c.args(["--simpledb-domain", domain]),
            State::DynamoDb => c.arg("--state").arg(format!("dynamodb:{domain}")),
        };
        c.args(["--s3-bucket", &self.bucket]);
        if let Some(k) = &self.key_file {
            c.arg("--gpg-key-file").arg(k);
        }
        c.args(args);
        c
    }

    fn run(&self, domain: &str, args: &[&str]) -> Output {
        support::run_checked(&mut self.command(domain, args))
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, domain: &str, args: &[&str]) -> String {
        let out = self.run(domain, args);
        assert!(
            out.status.success(),
            "repoman-cli {args:?} failed: {}",
            text(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn spawn(&self, domain: &str, args: &[&str]) -> Child {
        self.command(domain, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// An SQS queue subscribed (raw delivery) to an SNS topic on moto.
struct Queue {
    moto_url: String,
    url: String,
}

impl Queue {
    fn subscribe(moto_url: &str, topic: &str) -> Queue {
        let url = boto3(
            moto_url,
            "import boto3,sys\n\
             sns=boto3.client('sns'); sqs=boto3.client('sqs')\n\
             t=sns.create_topic(Name=sys.argv[1])['TopicArn']\n\
             q=sqs.create_queue(QueueName=sys.argv[1])['QueueUrl']\n\
             a=sqs.get_queue_attributes(QueueUrl=q,AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
             sns.subscribe(TopicArn=t,Protocol='sqs',Endpoint=a,Attributes={'RawMessageDelivery':'true'})\n\
             print(q)",
            &[topic],
        );
        Queue {
            moto_url: moto_url.into(),
            url: url.trim().into(),
        }
    }

    /// Every message delivered so far, in the order sent, taken off the
    /// queue. (moto delivers SNS to SQS within the Publish call, so
    /// everything a finished command announced is there.)
    fn drain(&self) -> Vec<Value> {
        let out = boto3(
            &self.moto_url,
            "import boto3,sys,json\n\
             sqs=boto3.client('sqs'); out=[]\n\
             while True:\n\
             \x20   r=sqs.receive_message(QueueUrl=sys.argv[1],MaxNumberOfMessages=10,WaitTimeSeconds=0).get('Messages',[])\n\
             \x20   if not r: break\n\
             \x20   out += [json.loads(m['Body']) for m in r]\n\
             \x20   sqs.delete_message_batch(QueueUrl=sys.argv[1],Entries=[{'Id':str(i),'ReceiptHandle':m['ReceiptHandle']} for i,m in enumerate(r)])\n\
             print(json.dumps(out))",
            &[&self.url],
        );
        serde_json::from_str(out.trim()).unwrap()
    }
}

/// Compares announcements one by one, so a failure names the first
/// difference rather than dumping two long lists.
fn assert_messages(got: &[Value], want: &[Value]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "announcement #{i} differs");
    }
    assert_eq!(
        got.len(),
        want.len(),
        "announcement count; got {got:#?}\nwanted {want:#?}"
    );
}

/// A message as the CLI sends it: `fields` plus `caller`.
fn msg(mut fields: Value) -> Value {
    fields["caller"] = json!(CALLER);
    fields
}

/// A throwaway OpenPGP signing key: the armored secret for
/// `--gpg-key-file`, the binary public key for apt's `signed-by`.
struct SigningKey {
    home: PathBuf,
    secret: PathBuf,
    public: PathBuf,
}

impl SigningKey {
    fn new(dir: &Path) -> SigningKey {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "gpg {args:?}: {}", text(&out));
            out.stdout
        };
        gpg(&[
            "--quick-gen-key",
            "Repoman E2E <e2e@example.com>",
            "ed25519",
            "sign",
            "never",
        ]);
        let key = SigningKey {
            secret: dir.join("signing-key.asc"),
            public: dir.join("signing-key.gpg"),
            home: home.clone(),
        };
        std::fs::write(&key.secret, gpg(&["--armor", "--export-secret-keys"])).unwrap();
        std::fs::write(&key.public, gpg(&["--export"])).unwrap();
        key
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// Builds a .deb with the real dpkg-deb from fixed content and a fixed
/// `SOURCE_DATE_EPOCH`, so the same arguments always give the same bytes
/// (two runs of a scenario can then be compared byte for byte).
fn build_deb(dir: &Path, name: &str, version: &str, arch: &str, payload: &str) -> PathBuf {
    let tree = tempfile::tempdir().unwrap();
    let t = tree.path();
    std::fs::create_dir_all(t.join("DEBIAN")).unwrap();
    let doc = t.join("usr/share/doc").join(name);
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(doc.join("payload"), payload).unwrap();
    std::fs::write(
        t.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: Repoman Tests <tests@example.com>\nSection: misc\nPriority: optional\n\
             Description: {name}, built for the end-to-end test\n A package with one file.\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let out_file = dir.join(format!("{name}_{version}_{arch}.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(t)
        .arg(&out_file)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb: {}", text(&out));
    out_file
}

/// An apt client with its own state (nothing of the machine's apt is read
/// or written), reading `sources` lines.
struct Apt {
    dir: PathBuf,
}

impl Apt {
    fn new(dir: PathBuf, sources: &[String]) -> Apt {
        for sub in [
            "lists/partial",
            "cache/archives/partial",
            "download",
            "parts",
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("sources.list"), sources.join("\n") + "\n").unwrap();
        Apt { dir }
    }

    /// apt reading one deb822 `.sources` file and nothing else.
    fn deb822(dir: PathBuf, stanzas: &str) -> Apt {
        let apt = Apt::new(dir, &[]);
        std::fs::write(apt.dir.join("parts/repoman.sources"), stanzas).unwrap();
        apt
    }

    fn download_dir(&self) -> PathBuf {
        self.dir.join("download")
    }

    /// Runs apt-get, which must succeed without any warning or error line.
    fn run(&self, args: &[&str]) -> String {
        let d = &self.dir;
        let out = Command::new("apt-get")
            .args([
                format!(
                    "-o=Dir::Etc::SourceList={}",
                    d.join("sources.list").display()
                ),
                format!("-o=Dir::Etc::SourceParts={}", d.join("parts").display()),
                format!("-o=Dir::State::Lists={}", d.join("lists").display()),
                format!("-o=Dir::Cache={}", d.join("cache").display()),
                "-o=Debug::NoLocking=1".into(),
                "-o=APT::Sandbox::User=root".into(),
                "-o=APT::Architecture=amd64".into(),
                "-o=APT::Architectures::=amd64".into(),
            ])
            .args(args)
            .current_dir(self.download_dir())
            .output()
            .unwrap();
        let all = text(&out);
        assert!(out.status.success(), "apt-get {args:?}: {all}");
        let bad: Vec<&str> = all
            .lines()
            .filter(|l| l.starts_with("W:") || l.starts_with("E:") || l.starts_with("Err:"))
            .collect();
        assert!(bad.is_empty(), "apt-get {args:?} complained: {bad:#?}");
        all
    }
}

/// Every object under `dists/`, by key.
fn dists_tree(bucket: &S3Bucket) -> BTreeMap<String, Vec<u8>> {
    bucket
        .list("dists/")
        .unwrap()
        .into_iter()
        .map(|o| {
            let bytes = bucket.get(&o.key).unwrap().unwrap();
            (o.key, bytes)
        })
        .collect()
}

/// The tree without what must differ between two publishes of the same
/// state: signatures (`Release.gpg`, `InRelease`) and the Release `Date`.
fn comparable(tree: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    tree.iter()
        .filter(|(k, _)| !k.ends_with("/Release.gpg") && !k.ends_with("/InRelease"))
        .map(|(k, v)| {
            let v = if k.matches('/').count() == 2 && k.ends_with("/Release") {
                let t = String::from_utf8(v.clone()).unwrap();
                assert_eq!(
                    t.lines().filter(|l| l.starts_with("Date: ")).count(),
                    1,
                    "{k} has one Date"
                );
                t.lines()
                    .filter(|l| !l.starts_with("Date: "))
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

fn assert_same_tree(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let (ka, kb): (BTreeSet<&String>, BTreeSet<&String>) = (a.keys().collect(), b.keys().collect());
    assert_eq!(ka, kb, "{what}: the same files");
    for (k, v) in a {
        assert!(
            v == &b[k],
            "{what}: {k} differs:\n{}\n---\n{}",
            String::from_utf8_lossy(v),
            String::from_utf8_lossy(&b[k])
        );
    }
}

/// `(Package, Version)` of every stanza of an index.
fn stanzas(index: &[u8]) -> BTreeSet<(String, String)> {
    String::from_utf8_lossy(index)
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let field = |f: &str| {
                s.lines()
                    .find_map(|l| l.strip_prefix(&format!("{f}: ")))
                    .unwrap_or_else(|| panic!("no {f} in stanza {s}"))
                    .to_string()
            };
            (field("Package"), field("Version"))
        })
        .collect()
}

/// A binary package of the scenario and where its bytes came from.
#[derive(Debug, Clone)]
struct Deb {
    name: String,
    version: String,
    arch: String,
    path: PathBuf,
}

impl Deb {
    fn new(name: &str, version: &str, arch: &str, path: PathBuf) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            path,
        }
    }

    fn file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.name, self.version, self.arch)
    }
}

/// What one run of the scenario leaves behind, for comparing runs.
struct Outcome {
    /// `backup -f jsonc` of the original domain.
    backup: Vec<u8>,
    /// `dists/` after publishing from the restored domain, as
    /// [`comparable`] gives it.
    dists: BTreeMap<String, Vec<u8>>,
    /// SimpleDB requests sent, retries included.
    sdb_requests: u64,
}

/// What each distribution serves at the end: `(component, package)`.
type Serves = BTreeMap<&'static str, Vec<(&'static str, Deb)>>;

/// One run of the scenario: its servers, the CLI pointed at them, and the
/// announcements expected so far. Names (bucket, topic, domains) are fixed
/// so that two runs give byte-identical results.
struct Run {
    // Fields drop in order: the servers stop first, the signing key's
    // agent before its directory goes.
    moto: support::Moto,
    sdb: support::SdbLocal,
    key: SigningKey,
    work: tempfile::TempDir,
    cli: Cli,
    bucket: S3Bucket,
    queue: Queue,
    want: Vec<Value>,
}

const TOPIC: &str = "repoman-e2e-news";
const DOMAIN: &str = "repoman-e2e";
const RESTORED: &str = "repoman-e2e-restored";

impl Run {
    fn start(state: State, sdb_args: &[&str], moto: support::Moto) -> Run {
        let sdb = support::sdb_local(sdb_args);
        let work = tempfile::tempdir().unwrap();
        let key = SigningKey::new(work.path());
        let home = work.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let cli = Cli {
            moto_url: moto.url.clone(),
            sdb_url: sdb.url.clone(),
            home,
            bucket: "repoman-e2e".into(),
            key_file: Some(key.secret.clone()),
            state,
        };
        Run {
            bucket: S3Bucket::new(&context(&moto.url), &cli.bucket),
            queue: Queue::subscribe(&moto.url, TOPIC),
            want: Vec::new(),
            moto,
            sdb,
            key,
            work,
            cli,
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// An announcement the commands so far must have made.
    fn expect(&mut self, fields: Value) {
        self.want.push(msg(fields));
    }

    fn setup(&mut self) {
        self.cli.ok(
            DOMAIN,
            &[
                "setup",
                "-d",
                "testing",
                "-d",
                "stable",
                "-c",
                "main",
                "-c",
                "contrib",
                "-a",
                "amd64",
                "--sns-topic",
                TOPIC,
                "--origin",
                "Repoman E2E",
                "--label",
                "E2E",
                "--enable-website",
            ],
        );
        for (kind, name) in [
            ("dists", "testing"),
            ("dists", "stable"),
            ("comps", "main"),
            ("comps", "contrib"),
            ("archs", "amd64"),
            ("sns_topic", TOPIC),
            ("origin", "Repoman E2E"),
            ("label", "E2E"),
        ] {
            self.expect(json!({"action": "add", "type": kind, "name": name}));
        }
    }

    /// add: real Debian packages, packages built here (one with an epoch,
    /// two versions of one), the hello source package; then cp and rm.
    /// Returns what each distribution serves afterwards.
    fn add_cp_rm(&mut self) -> Serves {
        let built = self.dir("built");
        let mk = |name: &str, version: &str, arch: &str| {
            let path = build_deb(&built, name, version, arch, &format!("{name} {version}\n"));
            Deb::new(name, version, arch, path)
        };
        let hello = Deb::new(
            "hello",
            "2.10-3",
            "amd64",
            fixture("hello_2.10-3_amd64.deb"),
        );
        let sensible = Deb::new(
            "sensible-utils",
            "0.0.17+nmu1",
            "all",
            fixture("sensible-utils_0.0.17+nmu1_all.deb"),
        );
        let zstd = Deb::new(
            "libzstd1",
            "1.5.4+dfsg2-5",
            "amd64",
            fixture("libzstd1_1.5.4+dfsg2-5_amd64.deb"),
        );
        let (tool1, tool2) = (
            mk("e2e-tool", "1.0-1", "amd64"),
            mk("e2e-tool", "1.1-1", "amd64"),
        );
        let gone = mk("e2e-gone", "1.0-1", "all");
        let data = mk("e2e-data", "2:2.0-1", "all");

        let main_debs = [&hello, &sensible, &zstd, &tool1, &tool2, &gone];
        let mut args: Vec<String> = ["add", "-d", "testing", "-c", "main"]
            .map(String::from)
            .into();
        args.extend(main_debs.iter().map(|d| d.path.display().to_string()));
        args.push(fixture("hello_2.10-3.dsc").display().to_string());
        self.cli.ok(DOMAIN, &strs(&args));
        for d in main_debs {
            self.expect(json!({"action": "add", "type": "package", "name": d.name,
                "version": d.version, "distribution": "testing", "component": "main"}));
        }
        self.expect(json!({"action": "add", "type": "source", "name": "hello",
            "version": "2.10-3", "distribution": "testing", "component": "main"}));
        let data_arg = data.path.display().to_string();
        self.cli.ok(
            DOMAIN,
            &[
                "add", "-d", "testing", "-d", "stable", "-c", "contrib", &data_arg,
            ],
        );
        for dist in ["testing", "stable"] {
            self.expect(
                json!({"action": "add", "type": "package", "name": "e2e-data",
                "version": "2:2.0-1", "distribution": dist, "component": "contrib"}),
            );
        }

        // cp testing/main -> stable/main, for three names.
        self.cli.ok(
            DOMAIN,
            &[
                "cp",
                "--src-distribution",
                "testing",
                "--src-component",
                "main",
                "--dst-distribution",
                "stable",
                "-p",
                "hello",
                "-p",
                "e2e-tool",
                "-p",
                "e2e-gone",
                "-y",
            ],
        );
        // In listing order: name, architecture, version.
        for (name, version) in [
            ("e2e-gone", "1.0-1"),
            ("e2e-tool", "1.0-1"),
            ("e2e-tool", "1.1-1"),
            ("hello", "2.10-3"),
            ("hello", "2.10-3"),
        ] {
            self.expect(json!({"action": "copy", "type": "package", "name": name,
                "version": version, "src_distribution": "testing", "src_component": "main",
                "dst_distribution": "stable", "dst_component": "main"}));
        }

        // rm: a package from one distribution only, one version of another.
        self.cli
            .ok(DOMAIN, &["rm", "-d", "testing", "-p", "e2e-gone", "-y"]);
        self.cli.ok(
            DOMAIN,
            &["rm", "-d", "stable", "-p", "e2e-tool", "-v", "1.0-1", "-y"],
        );
        for (name, version, dist) in [
            ("e2e-gone", "1.0-1", "testing"),
            ("e2e-tool", "1.0-1", "stable"),
        ] {
            self.expect(json!({"action": "delete", "type": "package", "name": name,
                "version": version, "distribution": dist, "component": "main"}));
        }

        let main = |debs: &[&Deb]| {
            debs.iter()
                .map(|d| ("main", (*d).clone()))
                .collect::<Vec<_>>()
        };
        let mut testing = main(&[&hello, &sensible, &zstd, &tool1, &tool2]);
        testing.push(("contrib", data.clone()));
        let mut stable = main(&[&hello, &tool2, &gone]);
        stable.push(("contrib", data));
        BTreeMap::from([("testing", testing), ("stable", stable)])
    }

    /// Publishes every distribution from `domain`; returns `dists/`.
    fn publish(&mut self, domain: &str) -> BTreeMap<String, Vec<u8>> {
        self.cli.ok(domain, &["publish"]);
        for dist in publish_order(&self.cli, domain) {
            self.expect(json!({"action": "publish", "type": "dists", "name": dist}));
        }
        dists_tree(&self.bucket)
    }

    /// The `deb`/`deb-src` lines for one distribution, verified with the key.
    fn sources(&self, dist: &str) -> Vec<String> {
        let url = format!("{}/{}", self.moto.url, self.cli.bucket);
        let signed_by = format!("[signed-by={}]", self.key.public.display());
        vec![
            format!("deb {signed_by} {url} {dist} main contrib"),
            format!("deb-src {signed_by} {url} {dist} main contrib"),
        ]
    }

    /// apt, anonymous, over HTTP, verifying the signature: one client per
    /// distribution, set up with exactly the deb822 stanza `repoman-cli
    /// sources` prints (the key embedded), downloading every binary package
    /// it serves and, from stable (where it arrived by cp, read through
    /// one-line sources and a keyring file), the hello source package.
    fn apt_downloads_everything(&self, domain: &str, serves: &Serves) {
        let url = format!("{}/{}", self.moto.url, self.cli.bucket);
        for (dist, debs) in serves {
            let stanza = self.cli.ok(
                domain,
                &["sources", "-d", dist, "--url", &url, "-a", "amd64"],
            );
            assert!(stanza.contains("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----"));
            let apt = Apt::deb822(self.dir(&format!("apt-{dist}")), &stanza);
            apt.run(&["update"]);
            let mut args = vec!["download".to_string()];
            args.extend(
                debs.iter()
                    .map(|(_, d)| format!("{}={}", d.name, d.version)),
            );
            apt.run(&strs(&args));
            for (_, d) in debs {
                let got = std::fs::read(apt.download_dir().join(d.file_name().replace(':', "%3a")))
                    .unwrap_or_else(|e| panic!("{dist}: {} not downloaded: {e}", d.file_name()));
                assert!(
                    got == std::fs::read(&d.path).unwrap(),
                    "{dist}: {} differs from what was added",
                    d.file_name()
                );
            }
        }
        let apt = Apt::new(self.dir("apt-stable-src"), &self.sources("stable"));
        apt.run(&["update"]);
        apt.run(&["source", "--download-only", "hello"]);
        for f in [
            "hello_2.10-3.dsc",
            "hello_2.10.orig.tar.gz",
            "hello_2.10.orig.tar.gz.asc",
            "hello_2.10-3.debian.tar.xz",
        ] {
            assert!(
                std::fs::read(apt.download_dir().join(f)).unwrap()
                    == std::fs::read(fixture(f)).unwrap(),
                "{f} differs from the fixture"
            );
        }
    }

    /// backup to a file and to the bucket (the same bytes, gzipped);
    /// returns the file, its bytes and the bucket key.
    fn backup(&self, items: usize) -> (String, Vec<u8>, String) {
        let file = self.dir("backup.json").display().to_string();
        self.cli.ok(DOMAIN, &["backup", "-o", &file]);
        let bytes = std::fs::read(&file).unwrap();
        let key = self
            .cli
            .ok(DOMAIN, &["backup", "--to-bucket"])
            .trim()
            .to_string();
        assert!(
            key.starts_with(&format!("backups/{DOMAIN}/")) && key.ends_with(".json.gz"),
            "{key}"
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&self.bucket.get(&key).unwrap().unwrap()[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert!(unzipped == bytes, "the stored backup is the file's bytes");
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        let counted: usize = parsed["packages"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|d| d.as_object().unwrap().values())
            .flat_map(|c| c.as_object().unwrap().values())
            .flat_map(|a| a.as_object().unwrap().values())
            .map(|l| l.as_array().unwrap().len())
            .sum();
        assert_eq!(counted, items, "every package is in the backup");
        (file, bytes, key)
    }

    /// restore into a fresh domain from the bucket, then from the file
    /// (which changes nothing); the restored domain backs up to the same
    /// bytes.
    fn restore(&mut self, file: &str, bytes: &[u8], key: &str, items: usize) {
        self.cli
            .ok(RESTORED, &["restore", "--from-bucket", key, "-y"]);
        self.expect(json!({"action": "restore", "type": "backup", "name": key,
            "added": items, "changed": 0, "unchanged": 0, "pruned": 0}));
        self.cli.ok(RESTORED, &["restore", file, "-y"]);
        self.expect(json!({"action": "restore", "type": "backup", "name": file,
            "added": 0, "changed": 0, "unchanged": items, "pruned": 0}));
        let again = self.cli.ok(RESTORED, &["backup"]);
        assert!(
            again.trim_end().as_bytes() == bytes.trim_ascii_end(),
            "the restored domain backs up to the same bytes"
        );
    }
}

/// The indices of the first publish list exactly what each distribution
/// serves.
fn assert_indices(tree: &BTreeMap<String, Vec<u8>>, serves: &Serves) {
    for (dist, debs) in serves {
        for comp in ["main", "contrib"] {
            let packages = &tree[&format!("dists/{dist}/{comp}/binary-amd64/Packages")];
            let listed: BTreeSet<(String, String)> = debs
                .iter()
                .filter(|(c, _)| *c == comp)
                .map(|(_, d)| (d.name.clone(), d.version.clone()))
                .collect();
            assert_eq!(stanzas(packages), listed, "{dist}/{comp} Packages");
            // hello's source package is in main of both.
            let sources = stanzas(&tree[&format!("dists/{dist}/{comp}/source/Sources")]);
            let want: BTreeSet<(String, String)> = (comp == "main")
                .then(|| ("hello".to_string(), "2.10-3".to_string()))
                .into_iter()
                .collect();
            assert_eq!(sources, want, "{dist}/{comp} Sources");
        }
    }
}

/// The whole scenario on a moto of its own and an sdb-local started with
/// `sdb_args`, with the state in `state`.
fn scenario(state: State, sdb_args: &[&str], moto: support::Moto) -> Outcome {
    let mut run = Run::start(state, sdb_args, moto);
    run.setup();
    let serves = run.add_cp_rm();
    // Binary packages, plus hello's source package in two distributions.
    let items = serves.values().map(Vec::len).sum::<usize>() + 2;

    let first = run.publish(DOMAIN);
    assert_indices(&first, &serves);
    run.apt_downloads_everything(DOMAIN, &serves);

    let (file, backup, key) = run.backup(items);
    run.restore(&file, &backup, &key, items);

    // publish from the restored domain: the same tree but for the dates
    // and signatures, and apt still reads it (verifying the new InRelease).
    let second = run.publish(RESTORED);
    let dists = comparable(&second);
    assert_same_tree(&comparable(&first), &dists, "publish after restore");
    run.cli.ok(RESTORED, &["verify"]);
    Apt::new(run.dir("apt-after-restore"), &run.sources("testing")).run(&["update"]);

    assert_messages(&run.queue.drain(), &run.want);
    Outcome {
        backup,
        dists,
        sdb_requests: sdb_stats(&run.sdb.url).values().sum(),
    }
}

/// The distributions in the order `publish` takes them: the configuration's
/// (SimpleDB keeps no order of an attribute's values, so the order is read
/// back rather than assumed), which must be the two of the scenario.
fn publish_order(cli: &Cli, domain: &str) -> Vec<String> {
    let shown = cli.ok(domain, &["repo", "show-config"]);
    let dists: Vec<String> = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("Distributions: "))
        .unwrap_or_else(|| panic!("no distributions in {shown}"))
        .split(", ")
        .map(String::from)
        .collect();
    let mut sorted = dists.clone();
    sorted.sort();
    assert_eq!(sorted, ["stable", "testing"], "{shown}");
    dists
}

/// sdb-local's request counts by Action (`GET /__stats`).
fn sdb_stats(url: &str) -> BTreeMap<String, u64> {
    serde_json::from_str(&http(url, "GET", "/__stats")).unwrap()
}

fn sdb_stats_reset(url: &str) {
    http(url, "POST", "/__stats/reset");
}

/// A minimal HTTP/1.0 exchange; returns the body of a 200 answer.
fn http(url: &str, method: &str, path: &str) -> String {
    use std::io::Write;
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{head}"
    );
    body.to_string()
}

/// The scenario against a reliable sdb-local, run once per test process.
fn clean_run() -> &'static Outcome {
    static CLEAN: OnceLock<Outcome> = OnceLock::new();
    CLEAN.get_or_init(|| scenario(State::SimpleDb, &[], support::start_moto()))
}

/// Every step's checks are in [`scenario`]; this runs it against a
/// reliable sdb-local.
#[test]
fn e2e_setup_add_cp_rm_publish_apt_backup_restore_publish() {
    let o = clean_run();
    assert!(!o.backup.is_empty() && !o.dists.is_empty());
}

/// With a fifth of SimpleDB requests refused (503), retries make every
/// command succeed, and the end state is the same, byte for byte.
#[test]
fn e2e_with_simpledb_failing_a_fifth_of_requests_ends_in_the_same_state() {
    let flaky = scenario(
        State::SimpleDb,
        &["--fail-rate", "0.2"],
        support::start_moto(),
    );
    let clean = clean_run();
    assert!(
        flaky.backup == clean.backup,
        "backups differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&flaky.backup),
        String::from_utf8_lossy(&clean.backup)
    );
    assert_same_tree(&flaky.dists, &clean.dists, "flaky against clean");
    // The same commands: only retries can account for more requests.
    assert!(
        flaky.sdb_requests > clean.sdb_requests,
        "failures were injected and retried: {} requests against {}",
        flaky.sdb_requests,
        clean.sdb_requests
    );
}

/// Starts both commands, then waits on both: the two processes run at the
/// same moment.
fn race(cli: &Cli, domain: &str, a: &[&str], b: &[&str]) -> [Output; 2] {
    let first = cli.spawn(domain, a);
    let second = cli.spawn(domain, b);
    [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ]
}

/// The stored item of one package, as `query -f jsonc` prints it.
fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn stored_item(cli: &Cli, domain: &str, name: &str, version: &str) -> Value {
    let out = cli.ok(domain, &["query", "-p", name, "-v", version, "-f", "jsonc"]);
    let tree: Value = serde_json::from_str(&out).unwrap();
    let list = tree[name]["stable"]["main"]["amd64"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 1, "{out}");
    list[0].clone()
}

#[test]
fn racing_adds_of_one_file_name_have_one_winner_and_identical_ones_both_succeed() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::create_dir_all(w.join("home")).unwrap();
    let cli = Cli {
        moto_url: moto.url.clone(),
        sdb_url: sdb.url.clone(),
        home: w.join("home"),
        bucket: support::bucket_name("race"),
        key_file: None,
        state: State::SimpleDb,
    };
    let domain = "race";
    cli.ok(
        domain,
        &["setup", "-d", "stable", "-c", "main", "-a", "amd64"],
    );
    let bucket = S3Bucket::new(&context(&moto.url), &cli.bucket);
    let add = |path: &Path| {
        vec![
            "add".to_string(),
            "-d".into(),
            "stable".into(),
            "-c".into(),
            "main".into(),
            path.display().to_string(),
        ]
    };
    let (mut at_upload, mut at_check) = (0, 0);
    for round in 0..5 {
        let version = format!("1.{round}-1");
        let a = build_deb(
            &w.join(format!("a{round}")),
            "racer",
            &version,
            "amd64",
            "A\n",
        );
        let b = build_deb(
            &w.join(format!("b{round}")),
            "racer",
            &version,
            "amd64",
            "B\n",
        );
        let bytes = [std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()];
        assert_ne!(bytes[0], bytes[1]);
        let outs = race(&cli, domain, &strs(&add(&a)), &strs(&add(&b)));
        let winners: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one add succeeds:\n{}\n---\n{}",
            text(&outs[0]),
            text(&outs[1])
        );
        let (win, lose) = (winners[0], 1 - winners[0]);
        let key = format!("pool/stable/r/racer/racer_{version}_amd64.deb");
        assert_eq!(outs[lose].status.code(), Some(1), "round {round}");
        let loser = String::from_utf8_lossy(&outs[lose].stderr).to_string();
        assert!(
            loser.contains(&key) && loser.contains("different content"),
            "round {round}: the loser names the conflict: {loser}"
        );
        if loser.contains("another writer") {
            at_upload += 1;
        } else {
            at_check += 1;
        }
        assert!(
            bucket.get(&key).unwrap().unwrap() == bytes[win],
            "round {round}: the stored file is the winner's"
        );
        let item = stored_item(&cli, domain, "racer", &version);
        assert_eq!(
            item["sha256"],
            json!(sha256_hex(&bytes[win])),
            "round {round}"
        );
        assert_eq!(item["size"], json!(bytes[win].len().to_string()));
    }
    eprintln!(
        "racing adds: {at_upload} lost at the create-only upload, {at_check} at the check before it"
    );

    // The same bytes twice at once: both succeed, one file, one item.
    for round in 0..3 {
        let version = format!("2.{round}-1");
        let c = build_deb(
            &w.join(format!("c{round}")),
            "racer",
            &version,
            "amd64",
            "C\n",
        );
        let outs = race(&cli, domain, &strs(&add(&c)), &strs(&add(&c)));
        for o in &outs {
            assert!(o.status.success(), "round {round}: {}", text(o));
        }
        let bytes = std::fs::read(&c).unwrap();
        let key = format!("pool/stable/r/racer/racer_{version}_amd64.deb");
        assert!(bucket.get(&key).unwrap().unwrap() == bytes);
        let item = stored_item(&cli, domain, "racer", &version);
        assert_eq!(item["sha256"], json!(sha256_hex(&bytes)));
    }
}

/// A backup of `binaries` binary packages (amd64 and all, alternating) and
/// `sources` source packages in stable/main, with made-up checksums (a
/// restore does not read the pool).
fn generated_backup(binaries: usize, sources: usize) -> Value {
    let mut packages = serde_json::Map::new();
    let digest = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    for i in 0..binaries {
        let name = format!("pkg{i:04}");
        let arch = if i % 2 == 0 { "amd64" } else { "all" };
        let item = json!({
            "name": name, "version": "1.0-1", "distribution": "stable",
            "component": "main", "architecture": arch,
            "filename": format!("{name}_1.0-1_{arch}.deb"),
            "md5": &digest(&name)[..32], "sha1": &digest(&name)[..40], "sha256": digest(&name),
            "size": (1000 + i).to_string(),
            "controltxt0": format!(
                "Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\n\
                 Maintainer: Repoman Tests <tests@example.com>\n\
                 Description: generated package {i}\n For counting requests.\n"
            ),
        });
        packages.insert(name, json!({"stable": {"main": {arch: [item]}}}));
    }
    for i in 0..sources {
        let name = format!("src{i:04}");
        let item = json!({
            "name": name, "version": "1.0-1", "distribution": "stable",
            "component": "main", "architecture": "source",
            "files": [format!("{name}_1.0-1.dsc"), format!("{name}_1.0.orig.tar.gz")],
            "controltxt0": format!(
                "Format: 3.0 (quilt)\nSource: {name}\nBinary: {name}\nArchitecture: all\n\
                 Version: 1.0-1\nMaintainer: Repoman Tests <tests@example.com>\n\
                 Files:\n {} 100 {name}_1.0-1.dsc\n {} 200 {name}_1.0.orig.tar.gz\n",
                &digest(&format!("{name}.dsc"))[..32],
                &digest(&format!("{name}.orig"))[..32],
            ),
        });
        packages.insert(name, json!({"stable": {"main": {"source": [item]}}}));
    }
    json!({
        "metadata": {"archs": ["amd64"], "comps": ["main"], "dists": ["stable"],
                     "origin": ["Counting"], "label": ["Counting"]},
        "packages": packages,
    })
}

/// How many SimpleDB requests restore and publish send, from sdb-local's
/// `/__stats`:
///
/// - restore of N new items: ceil(N/25) BatchPutAttributes (25 items per
///   call, SimpleDB's maximum; these items are far below the 1 MB request
///   limit) plus 1 PutAttributes for the configuration item, written alone
///   and last so an interrupted restore is not mistaken for a finished one.
///   (Items go to the store 2000 at a time; below 2000 there is no chunk
///   boundary to leave a partial batch.)
/// - publish of one distribution: one Select per index, i.e. per component
///   (binary architectures + 1 for Sources), each reading pages of 2500
///   items (SimpleDB's maximum `limit`): at most ceil(N/2500) + (archs + 1)
///   Selects per dist/comp. (SimpleDB also ends a page at 1 MB of answer;
///   these items are well under 1 MB per 2500.)
#[test]
fn simpledb_requests_grow_with_batches_and_pages_not_with_items() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::create_dir_all(w.join("home")).unwrap();
    let cli = Cli {
        moto_url: moto.url.clone(),
        sdb_url: sdb.url.clone(),
        home: w.join("home"),
        bucket: support::bucket_name("counts"),
        key_file: None,
        state: State::SimpleDb,
    };
    let domain = "counts";
    // The bucket, for publish.
    cli.ok(
        "counts-setup",
        &["setup", "-d", "stable", "-c", "main", "-a", "amd64"],
    );

    let (binaries, sources) = (280, 20);
    let n = binaries + sources;
    let backup = generated_backup(binaries, sources);
    let file = w.join("generated.json");
    std::fs::write(&file, serde_json::to_vec(&backup).unwrap()).unwrap();

    sdb_stats_reset(&sdb.url);
    cli.ok(domain, &["restore", &file.display().to_string(), "-y"]);
    let stats = sdb_stats(&sdb.url);
    let count = |op: &str| stats.get(op).copied().unwrap_or(0) as usize;
    let writes = count("BatchPutAttributes") + count("PutAttributes");
    let batches = n.div_ceil(25);
    assert!(
        (batches..=batches + 1).contains(&writes),
        "restore of {n} items: {writes} put requests, expected {batches} batches + 1: {stats:?}"
    );
    let restored: Value = serde_json::from_str(&cli.ok(domain, &["backup"])).unwrap();
    assert_eq!(restored, backup, "the restore wrote every item");

    sdb_stats_reset(&sdb.url);
    cli.ok(domain, &["publish"]);
    let stats = sdb_stats(&sdb.url);
    let selects = stats.get("Select").copied().unwrap_or(0) as usize;
    // One Select per distribution (all its indices at once), paged.
    let bound = n.div_ceil(2500) + 1;
    assert!(
        (1..=bound).contains(&selects),
        "publish of {n} items in one dist/comp: {selects} Selects, at most {bound}: {stats:?}"
    );
    let bucket = S3Bucket::new(&context(&moto.url), &cli.bucket);
    let index = |path: &str| {
        stanzas(
            &bucket
                .get(&format!("dists/stable/main/{path}"))
                .unwrap()
                .unwrap(),
        )
        .len()
    };
    assert_eq!(index("binary-amd64/Packages"), binaries);
    assert_eq!(index("source/Sources"), sources);
}

/// The scenario with the state in DynamoDB (moto): every step's checks
/// pass, and the backup and the published indices are byte for byte those
/// of the SimpleDB run.
#[test]
fn e2e_on_dynamodb_state_ends_as_on_simpledb() {
    let dynamo = scenario(State::DynamoDb, &[], support::start_moto());
    let clean = clean_run();
    assert!(
        dynamo.backup == clean.backup,
        "backups differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&dynamo.backup),
        String::from_utf8_lossy(&clean.backup)
    );
    assert_same_tree(&dynamo.dists, &clean.dists, "DynamoDB against SimpleDB");
    assert_eq!(dynamo.sdb_requests, 0, "SimpleDB was not used");
}

/// With a fifth of DynamoDB requests throttled, retries make every command
/// succeed and the end state is the same, byte for byte.
#[test]
fn e2e_on_dynamodb_with_a_fifth_of_requests_throttled_ends_in_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("throttled");
    let moto = support::start_moto_with_env(&[
        ("MOTO_DYNAMODB_THROTTLE_RATE", "0.2"),
        ("MOTO_DYNAMODB_THROTTLE_LOG", log.to_str().unwrap()),
    ]);
    let flaky = scenario(State::DynamoDb, &[], moto);
    let clean = clean_run();
    assert!(flaky.backup == clean.backup, "backups differ");
    assert_same_tree(
        &flaky.dists,
        &clean.dists,
        "throttled DynamoDB against SimpleDB",
    );
    let throttled = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    assert!(
        throttled > 10,
        "throttling was injected: {throttled} requests"
    );
}

/// SimpleDB to DynamoDB: `migrate` copies the repository, says both sides
/// hold the same items, converges when run again, and a publish from
/// DynamoDB gives the indices SimpleDB gave. Then a round trip SQLite
/// (with an S3 bucket) -> DynamoDB -> SimpleDB keeps `backup` identical.
#[test]
fn migrate_simpledb_to_dynamodb_publishes_the_same_and_round_trips() {
    let moto = support::moto();
    let sdb = support::sdb_local(&[]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::create_dir_all(w.join("home")).unwrap();
    let key = SigningKey::new(w);
    let cli = Cli {
        moto_url: moto.url.clone(),
        sdb_url: sdb.url.clone(),
        home: w.join("home"),
        bucket: support::bucket_name("migrate"),
        key_file: Some(key.secret.clone()),
        state: State::SimpleDb,
    };
    let bucket = S3Bucket::new(&context(&moto.url), &cli.bucket);
    let setup = ["setup", "-d", "stable", "-c", "main", "-a", "amd64"];
    let debs = [
        fixture("hello_2.10-3_amd64.deb"),
        fixture("sensible-utils_0.0.17+nmu1_all.deb"),
        fixture("hello_2.10-3.dsc"),
    ];
    let debs: Vec<String> = debs.iter().map(|p| p.display().to_string()).collect();
    let mut add = vec!["add", "-d", "stable", "-c", "main"];
    add.extend(debs.iter().map(String::as_str));

    cli.ok("mig", &setup);
    cli.ok("mig", &add);
    cli.ok("mig", &["publish"]);
    let from_simpledb = comparable(&dists_tree(&bucket));
    let backup = cli.ok("mig", &["backup"]);

    let dry = cli.ok("mig", &["migrate", "--to", "dynamodb:mig-ddb", "--dry-run"]);
    assert!(
        // Four packages, the publish generations and the published
        // Release fingerprints.
        dry.contains("would copy 6 items") && dry.contains("6 to write"),
        "{dry}"
    );
    let out = cli.ok("mig", &["migrate", "--to", "dynamodb:mig-ddb"]);
    assert!(
        out.contains("migrated 6 items") && out.contains("both hold 6 items, digest "),
        "{out}"
    );
    let again = cli.ok("mig", &["migrate", "--to", "dynamodb:mig-ddb"]);
    assert!(
        // The four items, the publish generations and the published
        // Release fingerprints.
        again.contains("0 written, 0 deleted, 6 already identical"),
        "{again}"
    );

    cli.ok("dynamodb:mig-ddb", &["publish"]);
    assert_same_tree(
        &from_simpledb,
        &comparable(&dists_tree(&bucket)),
        "published from DynamoDB after the migration",
    );
    assert_eq!(cli.ok("dynamodb:mig-ddb", &["backup"]), backup);

    // SQLite state with the S3 bucket: its own setup and adds (the pool
    // files are already there, with the same bytes).
    let sqlite = format!("sqlite:{}", w.join("state/repo.sqlite").display());
    cli.ok(&sqlite, &setup);
    cli.ok(&sqlite, &add);
    let log = std::fs::read_to_string(w.join("state/announcements.jsonl")).unwrap();
    assert!(
        log.lines().count() >= 3 && log.contains("\"sensible-utils\""),
        "a local state with no topic logs its announcements: {log}"
    );
    assert_eq!(cli.ok(&sqlite, &["backup"]), backup);
    cli.ok(&sqlite, &["migrate", "--to", "dynamodb:round-trip"]);
    cli.ok(
        "dynamodb:round-trip",
        &["migrate", "--to", "simpledb:round-trip"],
    );
    for store in ["dynamodb:round-trip", "simpledb:round-trip"] {
        assert_eq!(cli.ok(store, &["backup"]), backup, "backup of {store}");
    }
}

/// `iam-policy` follows the state store: the DynamoDB table and its indexes
/// instead of the SimpleDB domain, nothing for a SQLite state.
#[test]
fn iam_policy_covers_the_dynamodb_table_and_its_indexes() {
    let work = tempfile::tempdir().unwrap();
    let policy = |args: &[&str]| -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_repoman-cli"))
            .args(args)
            .arg("iam-policy")
            .env_clear()
            .env("HOME", work.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let resources = |p: &Value| -> Vec<String> {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| match &s["Resource"] {
                Value::Array(a) => a.iter().map(|r| r.as_str().unwrap().to_string()).collect(),
                r => vec![r.as_str().unwrap().to_string()],
            })
            .collect()
    };
    let p = policy(&[
        "--state",
        "dynamodb:repo-table",
        "--bucket",
        "s3://apt.example.com",
        "--region",
        "eu-west-1",
    ]);
    let r = resources(&p);
    assert!(
        r.contains(&"arn:aws:dynamodb:eu-west-1:*:table/repo-table".to_string()),
        "{r:?}"
    );
    assert!(r.contains(&"arn:aws:dynamodb:eu-west-1:*:table/repo-table/index/*".to_string()));
    assert!(r.contains(&"arn:aws:s3:::apt.example.com/*".to_string()));
    assert!(!p.to_string().contains("sdb:"));
    let p = policy(&["--simpledb-domain", "dom", "--s3-bucket", "apt.example.com"]);
    assert!(resources(&p).iter().any(|r| r.ends_with(":domain/dom")));
    let p = policy(&[
        "--state",
        "sqlite:/tmp/x.sqlite",
        "--bucket",
        "s3://apt.example.com",
    ]);
    assert!(!p.to_string().contains("sdb:") && !p.to_string().contains("dynamodb:"));
}

/// Two writers of one multi-valued attribute on DynamoDB, interleaved
/// deterministically: A reads the item and is held before its conditional
/// write, B writes in the gap, then A goes on, finds B's version, reads
/// again and applies on top: both changes land.
#[test]
fn dynamodb_a_value_added_around_another_write_lands_with_it() {
    use repoman::aws::{AwsContext, AwsSettings, DynamoDbMeta, Overrides};
    use repoman::model::Attrs;
    use repoman::store::{Change, MetaStore};

    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let held = dir.path().join("release.held");
    let moto = support::start_moto_with_env(&[("MOTO_DYNAMODB_HOLD", release.to_str().unwrap())]);
    let ctx = AwsContext::new(
        &AwsSettings {
            region: Some("us-east-1".into()),
            ..AwsSettings::default()
        },
        &Overrides {
            dynamodb_endpoint: Some(moto.url.clone()),
            credentials: Some(support::keys()),
            ..Overrides::default()
        },
    )
    .unwrap();
    let store = || {
        DynamoDbMeta::new(&ctx, "race-table").with_retry_base(std::time::Duration::from_millis(5))
    };
    let dists = |v: &[&str]| {
        Attrs::from([(
            "dists".to_string(),
            v.iter().map(|s| s.to_string()).collect(),
        )])
    };
    let b = store();
    b.create_domain().unwrap();
    b.apply(&[Change::Put {
        item: "meta".into(),
        attrs: dists(&["stable"]),
        remove: vec![],
    }])
    .unwrap();

    let a = store();
    let writer = std::thread::spawn(move || {
        a.apply(&[Change::AddValue {
            item: "meta".into(),
            attr: "dists".into(),
            value: "testing".into(),
        }])
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !held.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never reached its write"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A has read `stable` and waits; B replaces the values meanwhile.
    b.apply(&[Change::Put {
        item: "meta".into(),
        attrs: dists(&["stable", "unstable"]),
        remove: vec![],
    }])
    .unwrap();
    assert_eq!(b.get("meta").unwrap(), Some(dists(&["stable", "unstable"])));
    std::fs::write(&release, "").unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(
        b.get("meta").unwrap(),
        Some(dists(&["stable", "testing", "unstable"])),
        "A's value went on top of B's write, which was not lost"
    );
}
