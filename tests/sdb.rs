//! sdb-local end to end: the binary on a free port, driven by raw HTTP
//! requests and by boto3's SimpleDB client (tests/sdb_boto3.py). The boto3
//! tests print a message and pass when python3 or boto3 is missing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sdb-local, stopped when dropped.
struct LocalSdb {
    child: Child,
    port: u16,
    // Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl LocalSdb {
    fn start(args: &[&str]) -> LocalSdb {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdb-local"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sdb-local starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        LocalSdb {
            child,
            port,
            _stdout: stdout,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.0 request; returns the status and body.
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw[9..12].parse().unwrap();
        let body = raw.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (status, body.to_string())
    }

    /// A form-encoded POST of SimpleDB parameters.
    fn call(&self, params: &[(&str, &str)]) -> (u16, roxmltree::Document<'static>) {
        let form: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let (status, body) = self.http("POST", "/", &form.join("&"));
        let body: &'static str = Box::leak(body.into_boxed_str());
        let doc = roxmltree::Document::parse(body)
            .unwrap_or_else(|e| panic!("response is not XML ({e}): {body}"));
        (status, doc)
    }

    fn stats(&self) -> BTreeMap<String, u64> {
        let (status, body) = self.http("GET", "/__stats", "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for LocalSdb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    sdb::sigv2::encode(s)
}

/// Text of the first element called `tag`.
fn text<'a>(doc: &'a roxmltree::Document, tag: &str) -> Option<&'a str> {
    doc.descendants()
        .find(|n| n.has_tag_name(tag))
        .map(|n| n.text().unwrap_or(""))
}

fn texts<'a>(doc: &'a roxmltree::Document, tag: &str) -> Vec<&'a str> {
    doc.descendants()
        .filter(|n| n.has_tag_name(tag))
        .map(|n| n.text().unwrap_or(""))
        .collect()
}

/// The python3 that has boto3, or `None` (after saying why) to skip.
fn python_with_boto3() -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    match Command::new(&python)
        .args(["-c", "import boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Some(python),
        Ok(_) => {
            eprintln!("SKIPPED: {python} has no boto3 (pip install boto3 to run this test)");
            None
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot run {python} ({e})");
            None
        }
    }
}

/// Runs tests/sdb_boto3.py; panics with its output when it fails; returns
/// its standard output.
fn run_boto3(python: &str, server: &LocalSdb, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdb_boto3.py");
    let out = Command::new(python)
        .arg(script)
        .arg(server.endpoint())
        .args(args)
        .env_remove("AWS_PROFILE")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sdb_boto3.py {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

const NS: &str = "http://sdb.amazonaws.com/doc/2009-04-15/";

#[test]
fn raw_requests_get_simpledb_xml() {
    let sdb = LocalSdb::start(&[]);
    // GET with the query string works as POST does.
    let (status, body) = sdb.http("GET", "/?Action=CreateDomain&DomainName=raw-1", "");
    assert_eq!(status, 200, "{body}");
    let (status, doc) = sdb.call(&[("Action", "ListDomains")]);
    assert_eq!(status, 200);
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "ListDomainsResponse");
    assert_eq!(root.tag_name().namespace(), Some(NS));
    assert_eq!(texts(&doc, "DomainName"), ["raw-1"]);
    assert!(text(&doc, "RequestId").is_some_and(|r| r.len() == 36));
    assert!(text(&doc, "BoxUsage").is_some());

    let (status, doc) = sdb.call(&[
        ("Action", "PutAttributes"),
        ("DomainName", "raw-1"),
        ("ItemName", "i"),
        ("Attribute.1.Name", "a b"),
        ("Attribute.1.Value", "x&y <z> 'q'\r\n"),
        ("Attribute.2.Name", "a b"),
        ("Attribute.2.Value", "second"),
    ]);
    assert_eq!(status, 200, "{}", doc.input_text());
    let (_, doc) = sdb.call(&[
        ("Action", "GetAttributes"),
        ("DomainName", "raw-1"),
        ("ItemName", "i"),
    ]);
    assert_eq!(texts(&doc, "Value"), ["second", "x&y <z> 'q'\r\n"]);

    for (params, code, want_status) in [
        (vec![("DomainName", "raw-1")], "MissingAction", 400),
        (vec![("Action", "Frobnicate")], "InvalidAction", 400),
        (vec![("Action", "CreateDomain")], "MissingParameter", 400),
        (
            vec![("Action", "DomainMetadata"), ("DomainName", "nope-nope")],
            "NoSuchDomain",
            400,
        ),
        (
            vec![
                ("Action", "Select"),
                ("SelectExpression", "select * fro raw-1"),
            ],
            "InvalidQueryExpression",
            400,
        ),
        (
            vec![
                ("Action", "PutAttributes"),
                ("DomainName", "raw-1"),
                ("ItemName", "i"),
                ("Attribute.1.Name", "a"),
                ("Attribute.1.Value", "1"),
                ("Expected.Name", "a b"),
                ("Expected.Exists", "false"),
            ],
            "ConditionalCheckFailed",
            409,
        ),
    ] {
        let (status, doc) = sdb.call(&params);
        assert_eq!(status, want_status, "{params:?}: {}", doc.input_text());
        assert_eq!(doc.root_element().tag_name().name(), "Response");
        assert_eq!(text(&doc, "Code"), Some(code), "{params:?}");
        assert!(text(&doc, "Message").is_some_and(|m| !m.is_empty()));
        assert!(text(&doc, "RequestID").is_some());
        assert!(text(&doc, "BoxUsage").is_some());
    }

    let stats = sdb.stats();
    assert_eq!(stats["PutAttributes"], 2);
    assert_eq!(stats["CreateDomain"], 2);
    assert_eq!(stats["(none)"], 1);
    let (status, _) = sdb.http("POST", "/__stats/reset", "");
    assert_eq!(status, 200);
    assert!(sdb.stats().is_empty());
    assert_eq!(sdb.http("GET", "/__stats/other", "").0, 404);
}

#[test]
fn injected_failures_and_latency() {
    let sdb = LocalSdb::start(&["--fail-rate", "1", "--latency-ms", "0"]);
    for _ in 0..3 {
        let (status, doc) = sdb.call(&[("Action", "CreateDomain"), ("DomainName", "never")]);
        assert_eq!(status, 503);
        assert_eq!(text(&doc, "Code"), Some("ServiceUnavailable"));
    }
    assert_eq!(sdb.stats()["CreateDomain"], 3);
    drop(sdb);

    let sdb = LocalSdb::start(&["--latency-ms", "300"]);
    let t = Instant::now();
    let (status, _) = sdb.call(&[("Action", "ListDomains")]);
    assert_eq!(status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    let out = Command::new(env!("CARGO_BIN_EXE_sdb-local"))
        .args(["--fail-rate", "1.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--fail-rate 1.5"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn database_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sdb.sqlite");
    let db = db.to_str().unwrap();
    {
        let sdb = LocalSdb::start(&["--db", db]);
        sdb.call(&[("Action", "CreateDomain"), ("DomainName", "kept")]);
        let (status, _) = sdb.call(&[
            ("Action", "PutAttributes"),
            ("DomainName", "kept"),
            ("ItemName", "it"),
            ("Attribute.1.Name", "v"),
            ("Attribute.1.Value", "still here"),
        ]);
        assert_eq!(status, 200);
    }
    let sdb = LocalSdb::start(&["--db", db]);
    let (_, doc) = sdb.call(&[
        ("Action", "GetAttributes"),
        ("DomainName", "kept"),
        ("ItemName", "it"),
    ]);
    assert_eq!(texts(&doc, "Value"), ["still here"]);
}

#[test]
fn unsigned_requests_are_refused_when_keys_are_configured() {
    let sdb = LocalSdb::start(&["--access-key", "AKIDLOCAL", "--secret-key", "s3cret"]);
    let (status, doc) = sdb.call(&[("Action", "ListDomains"), ("AWSAccessKeyId", "AKIDLOCAL")]);
    assert_eq!(status, 403);
    assert_eq!(text(&doc, "Code"), Some("AuthFailure"));
    assert!(
        !doc.input_text().contains("s3cret"),
        "the secret never appears in answers"
    );
    let (status, doc) = sdb.call(&[
        ("Action", "ListDomains"),
        ("AWSAccessKeyId", "AKIDLOCAL"),
        ("SignatureVersion", "2"),
        ("SignatureMethod", "HmacSHA256"),
        ("Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ]);
    assert_eq!(status, 403);
    assert_eq!(text(&doc, "Code"), Some("SignatureDoesNotMatch"));
}

#[test]
fn boto3_drives_every_operation() {
    let Some(python) = python_with_boto3() else {
        return;
    };
    let sdb = LocalSdb::start(&[]);
    let out = run_boto3(&python, &sdb, &["all"]);
    assert!(out.contains("all checks passed"), "{out}");
    let stats = sdb.stats();
    for op in [
        "CreateDomain",
        "DeleteDomain",
        "ListDomains",
        "DomainMetadata",
        "PutAttributes",
        "BatchPutAttributes",
        "GetAttributes",
        "DeleteAttributes",
        "BatchDeleteAttributes",
        "Select",
    ] {
        assert!(
            stats.get(op).copied().unwrap_or(0) > 0,
            "{op} never called: {stats:?}"
        );
    }
}

#[test]
fn boto3_retries_through_injected_failures() {
    let Some(python) = python_with_boto3() else {
        return;
    };
    let sdb = LocalSdb::start(&["--fail-rate", "0.5"]);
    let out = run_boto3(&python, &sdb, &["faults"]);
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let operations = last["operations"].as_u64().unwrap();
    let requests: u64 = sdb.stats().values().sum();
    assert!(
        requests > operations,
        "{requests} requests for {operations} operations: nothing failed?"
    );
}

#[test]
fn boto3_signatures_are_verified() {
    let Some(python) = python_with_boto3() else {
        return;
    };
    let sdb = LocalSdb::start(&["--access-key", "AKIDLOCAL", "--secret-key", "s3cret"]);
    let out = run_boto3(&python, &sdb, &["auth", "AKIDLOCAL", "s3cret"]);
    assert!(out.contains("auth checks passed"), "{out}");
}

/// What AWS refuses beyond its documented limits, sdb-local refuses with
/// AWS's codes; `--lenient` lets it through.
#[test]
fn selects_and_requests_beyond_simpledb_limits_are_refused() {
    let server = LocalSdb::start(&[]);
    let (status, _) = server.call(&[("Action", "CreateDomain"), ("DomainName", "dom")]);
    assert_eq!(status, 200);
    let in_list = |n: usize| {
        let values: Vec<String> = (0..n).map(|i| format!("'v{i}'")).collect();
        format!("select * from dom where a in ({})", values.join(", "))
    };
    let select = |server: &LocalSdb, q: &str| {
        let (status, doc) = server.call(&[("Action", "Select"), ("SelectExpression", q)]);
        (status, text(&doc, "Code").map(str::to_string))
    };
    assert_eq!(select(&server, &in_list(20)), (200, None));
    assert_eq!(
        select(&server, &in_list(21)),
        (400, Some("InvalidNumberValueTests".to_string()))
    );
    let wide: Vec<String> = (0..21).map(|i| format!("a{i} is null")).collect();
    let wide = format!("select * from dom where {}", wide.join(" or "));
    assert_eq!(
        select(&server, &wide),
        (400, Some("InvalidNumberPredicates".to_string()))
    );
    let names: Vec<String> = (0..257).map(|i| format!("a{i}")).collect();
    let many = format!("select {} from dom", names.join(", "));
    assert_eq!(
        select(&server, &many),
        (400, Some("TooManyRequestedAttributes".to_string()))
    );
    // A batch request over 1 MB as sent (each value triples when encoded).
    let value = "é".repeat(250);
    let mut params: Vec<(String, String)> = vec![
        ("Action".into(), "BatchPutAttributes".into()),
        ("DomainName".into(), "dom".into()),
    ];
    for i in 1..=25 {
        params.push((format!("Item.{i}.ItemName"), format!("i{i}")));
        for j in 1..=100 {
            params.push((format!("Item.{i}.Attribute.{j}.Name"), format!("a{j}")));
            params.push((format!("Item.{i}.Attribute.{j}.Value"), value.clone()));
        }
    }
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, doc) = server.call(&refs);
    assert_eq!(status, 400);
    assert_eq!(text(&doc, "Code"), Some("InvalidParameterValue"));
    let (_, doc) = server.call(&[
        ("Action", "Select"),
        ("SelectExpression", "select count(*) from dom"),
    ]);
    assert_eq!(text(&doc, "Value"), Some("0"), "nothing was written");

    let lenient = LocalSdb::start(&["--lenient"]);
    lenient.call(&[("Action", "CreateDomain"), ("DomainName", "dom")]);
    assert_eq!(select(&lenient, &in_list(21)), (200, None));
    let (status, _) = lenient.call(&refs);
    assert_eq!(status, 200);
}
