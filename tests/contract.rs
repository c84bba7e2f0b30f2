//! One contract for every metadata store: the same operations and edge
//! cases against SQLite (the embedded store), SimpleDB (sdb-local) and
//! DynamoDB (moto's server), each expected to give the same answers, and a
//! workload run on all of them at once whose results are compared.
#![cfg(feature = "aws")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use repoman::aws::{AwsContext, AwsSettings, DynamoDbMeta, Overrides, SimpleDbMeta, StaticKeys};
use repoman::catalog::Filter;
use repoman::embedded::meta::SqliteMeta;
use repoman::model::{join_control_text, split_control_text, Attrs, Item};
use repoman::select::{CmpOp, Expr, Operand, Order, Output, Select};
use repoman::store::{Change, MetaStore, StoreError};

// ---- the servers -------------------------------------------------------

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server shared by the tests running at the same time.
fn shared(slot: &'static Mutex<Weak<Server>>, start: fn() -> Server) -> Arc<Server> {
    let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(x) = s.upgrade() {
        return x;
    }
    let x = Arc::new(start());
    *s = Arc::downgrade(&x);
    x
}

fn moto() -> Arc<Server> {
    static MOTO: Mutex<Weak<Server>> = Mutex::new(Weak::new());
    shared(&MOTO, || {
        let port = free_port().to_string();
        let venv = root().join(".venv/bin/python3");
        let python = if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        };
        let child = Command::new(python)
            .arg(root().join("tests/aws/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (pip install 'moto[server]')");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "moto never came up");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    })
}

fn sdb_local() -> Arc<Server> {
    static SDB: Mutex<Weak<Server>> = Mutex::new(Weak::new());
    shared(&SDB, || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdb-local"))
            .args(["--port", "0"])
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
        Server { child, url }
    })
}

fn context(url: &str) -> AwsContext {
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        ..AwsSettings::default()
    };
    let o = Overrides {
        simpledb_endpoint: Some(url.into()),
        dynamodb_endpoint: Some(url.into()),
        credentials: Some(StaticKeys {
            access_key_id: "testing".into(),
            secret_access_key: "testing-secret".into(),
            session_token: None,
        }),
        ..Overrides::default()
    };
    AwsContext::new(&settings, &o).unwrap()
}

fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("contract-{tag}-{}-{n}", std::process::id())
}

// ---- the stores --------------------------------------------------------

/// A fresh, empty store and what keeps it alive.
struct Fixture {
    store: Box<dyn MetaStore>,
    _guard: Box<dyn std::any::Any>,
}

impl std::ops::Deref for Fixture {
    type Target = dyn MetaStore;
    fn deref(&self) -> &(dyn MetaStore + 'static) {
        self.store.as_ref()
    }
}

fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMeta::open(&dir.path().join("state.sqlite"), "contract").unwrap();
    store.create_domain().unwrap();
    Fixture {
        store: Box::new(store),
        _guard: Box::new(dir),
    }
}

fn simpledb() -> Fixture {
    let server = sdb_local();
    let store = SimpleDbMeta::new(&context(&server.url), &unique("sdb")).unwrap();
    assert!(!store.domain_exists().unwrap());
    store.create_domain().unwrap();
    Fixture {
        store: Box::new(store),
        _guard: Box::new(server),
    }
}

fn dynamodb() -> Fixture {
    let server = moto();
    let store = DynamoDbMeta::new(&context(&server.url), &unique("ddb"))
        .with_retry_base(Duration::from_millis(5));
    assert!(!store.domain_exists().unwrap());
    store.create_domain().unwrap();
    assert!(store.domain_exists().unwrap());
    // Creating again is fine.
    store.create_domain().unwrap();
    Fixture {
        store: Box::new(store),
        _guard: Box::new(server),
    }
}

// ---- helpers -----------------------------------------------------------

fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

fn put(item: &str, pairs: &[(&str, &[&str])]) -> Change {
    Change::Put {
        item: item.into(),
        attrs: attrs(pairs),
        remove: vec![],
    }
}

fn add(item: &str, attr: &str, value: &str) -> Change {
    Change::AddValue {
        item: item.into(),
        attr: attr.into(),
        value: value.into(),
    }
}

fn del(item: &str, attr: &str, value: &str) -> Change {
    Change::DeleteValue {
        item: item.into(),
        attr: attr.into(),
        value: value.into(),
    }
}

fn all(filter: Option<Expr>) -> Select {
    Select {
        output: Output::All,
        filter,
        order_by: None,
        limit: None,
    }
}

fn names(store: &dyn MetaStore, q: &Select) -> Vec<String> {
    store
        .select_all(q)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect()
}

fn count(store: &dyn MetaStore, filter: Option<Expr>, limit: Option<u32>) -> usize {
    let got = store
        .select_all(&Select {
            output: Output::Count,
            filter,
            order_by: None,
            limit,
        })
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name, "Domain");
    got[0].attrs["Count"][0].parse().unwrap()
}

fn eq(a: &str, v: &str) -> Expr {
    Expr::Cmp(Operand::Attr(a.into()), CmpOp::Eq, v.into())
}

// ---- the contract ------------------------------------------------------

fn multi_valued_attributes(s: &dyn MetaStore) {
    s.apply(&[put("a", &[("k", &["y", "x", "z"]), ("one", &["1"])])])
        .unwrap();
    // Values come back sorted, duplicates never stored.
    assert_eq!(
        s.get("a").unwrap(),
        Some(attrs(&[("k", &["x", "y", "z"]), ("one", &["1"])]))
    );
    assert_eq!(names(s, &all(Some(eq("k", "y")))), ["a"]);
    // A put replaces the listed attribute's values and keeps the others.
    s.apply(&[put("a", &[("k", &["w"])])]).unwrap();
    assert_eq!(
        s.get("a").unwrap(),
        Some(attrs(&[("k", &["w"]), ("one", &["1"])]))
    );
    // ... and removes the named ones.
    s.apply(&[Change::Put {
        item: "a".into(),
        attrs: attrs(&[("k", &["v", "u"])]),
        remove: vec!["one".into(), "absent".into()],
    }])
    .unwrap();
    assert_eq!(s.get("a").unwrap(), Some(attrs(&[("k", &["u", "v"])])));
    // Two puts of one item in one apply: the second wins.
    s.apply(&[put("b", &[("k", &["1"])]), put("b", &[("k", &["2"])])])
        .unwrap();
    assert_eq!(s.get("b").unwrap(), Some(attrs(&[("k", &["2"])])));
}

fn every_and_any(s: &dyn MetaStore) {
    s.apply(&[
        put("both", &[("k", &["x", "y"])]),
        put("x", &[("k", &["x"])]),
        put("none", &[("j", &["x"])]),
    ])
    .unwrap();
    let every = |op: CmpOp, v: &str| all(Some(Expr::Cmp(Operand::Every("k".into()), op, v.into())));
    assert_eq!(names(s, &all(Some(eq("k", "x")))), ["both", "x"]);
    assert_eq!(names(s, &every(CmpOp::Eq, "x")), ["x"]);
    assert_eq!(names(s, &every(CmpOp::Ne, "y")), ["x"]);
    assert_eq!(
        names(
            s,
            &all(Some(Expr::every_in("k", &["x".into(), "y".into()])))
        ),
        ["both", "x"]
    );
    // One value per name within a predicate; intersection picks again.
    assert!(names(s, &all(Some(eq("k", "x").and(eq("k", "y"))))).is_empty());
    assert_eq!(
        names(
            s,
            &all(Some(Expr::Intersection(
                Box::new(eq("k", "x")),
                Box::new(eq("k", "y"))
            )))
        ),
        ["both"]
    );
    assert_eq!(
        names(s, &all(Some(Expr::IsNull(Operand::Attr("k".into()))))),
        ["none"]
    );
    // A missing attribute is neither equal nor unequal.
    assert_eq!(
        names(
            s,
            &all(Some(Expr::Cmp(
                Operand::Attr("k".into()),
                CmpOp::Ne,
                "q".into()
            )))
        ),
        ["both", "x"]
    );
}

fn prefixes_with_wildcards_and_quotes(s: &dyn MetaStore) {
    let values = [
        "a%b", "a%bc", "axb", "a_b", "a_bc", "aXb", "it's", "it'sx", "its", "a\\b", "a\\bc", "ab",
        "a*b", "a?b", "a[b", "é%",
    ];
    let changes: Vec<Change> = values
        .iter()
        .enumerate()
        .map(|(i, v)| put(&format!("i{i:02}"), &[("name", &[v])]))
        .collect();
    s.apply(&changes).unwrap();
    for prefix in values {
        let want: BTreeSet<&str> = values
            .iter()
            .copied()
            .filter(|v| v.starts_with(prefix))
            .collect();
        let got: BTreeSet<String> = s
            .select_all(&all(Some(Expr::starts_with("name", prefix))))
            .unwrap()
            .into_iter()
            .map(|i| i.attrs["name"][0].clone())
            .collect();
        let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(got, want, "prefix {prefix:?}");
        // Equality is exact too.
        assert_eq!(
            s.select_all(&all(Some(eq("name", prefix)))).unwrap().len(),
            1,
            "{prefix:?}"
        );
    }
}

fn paging_over_many_items(s: &dyn MetaStore) {
    let n = 2700;
    let changes: Vec<Change> = (0..n)
        .map(|i| {
            put(
                &format!("item{i:05}"),
                &[("name", &["pkg"]), ("n", &[&(i % 7).to_string()])],
            )
        })
        .collect();
    s.apply(&changes).unwrap();
    let got = names(s, &all(Some(eq("name", "pkg"))));
    assert_eq!(got.len(), n);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "item-name order");
    assert_eq!(count(s, Some(eq("name", "pkg")), None), n);
    assert_eq!(
        count(s, Some(eq("n", "3")), None),
        (0..n).filter(|i| i % 7 == 3).count()
    );
    assert_eq!(count(s, None, Some(2600)), 2600);
    let limited = names(
        s,
        &Select {
            limit: Some(2600),
            ..all(None)
        },
    );
    assert_eq!(limited, got[..2600]);
    // Ordered by an attribute, descending: its largest value first, ties
    // by item name, descending too.
    let ordered = names(
        s,
        &Select {
            output: Output::ItemName,
            filter: Some(Expr::IsNotNull(Operand::Attr("n".into()))),
            order_by: Some((Operand::Attr("n".into()), Order::Desc)),
            limit: Some(3),
        },
    );
    assert_eq!(ordered, ["item02694", "item02687", "item02680"]);
}

fn large_control_text(s: &dyn MetaStore) {
    // 76 KB of control text, as some real packages have, in the
    // fragments the model makes of it.
    let text: String = (0..1900)
        .map(|i| format!(" line {i:05} of a long description é\n"))
        .collect();
    let frags = split_control_text(&text, 240).unwrap();
    let mut a = attrs(&[("name", &["big"])]);
    for (k, v) in &frags {
        a.insert(k.clone(), vec![v.clone()]);
    }
    s.apply(&[Change::Put {
        item: "big".into(),
        attrs: a.clone(),
        remove: vec![],
    }])
    .unwrap();
    let got = s.get("big").unwrap().unwrap();
    assert_eq!(got, a);
    assert_eq!(join_control_text(&got), text);
    let selected = s.select_all(&all(Some(eq("name", "big")))).unwrap();
    assert_eq!(selected[0].attrs, a);
}

fn deletes_of_absent_items(s: &dyn MetaStore) {
    s.apply(&[
        Change::Delete {
            item: "never".into(),
        },
        del("never", "k", "v"),
    ])
    .unwrap();
    assert_eq!(s.get("never").unwrap(), None);
    assert_eq!(count(s, None, None), 0);
    s.apply(&[
        put("a", &[("k", &["v"])]),
        Change::Delete { item: "a".into() },
    ])
    .unwrap();
    assert_eq!(s.get("a").unwrap(), None);
    s.apply(&[Change::Delete { item: "a".into() }]).unwrap();
    // A delete then a put in one apply: the put's attributes only.
    s.apply(&[put("b", &[("k", &["1"]), ("j", &["2"])])])
        .unwrap();
    s.apply(&[
        Change::Delete { item: "b".into() },
        put("b", &[("k", &["3"])]),
    ])
    .unwrap();
    assert_eq!(s.get("b").unwrap(), Some(attrs(&[("k", &["3"])])));
}

fn add_and_delete_values(s: &dyn MetaStore) {
    // Adding to an absent item creates it.
    s.apply(&[add("m", "dists", "stable")]).unwrap();
    assert_eq!(s.get("m").unwrap(), Some(attrs(&[("dists", &["stable"])])));
    s.apply(&[add("m", "dists", "testing"), add("m", "dists", "stable")])
        .unwrap();
    assert_eq!(
        s.get("m").unwrap(),
        Some(attrs(&[("dists", &["stable", "testing"])]))
    );
    s.apply(&[del("m", "dists", "stable"), del("m", "dists", "absent")])
        .unwrap();
    assert_eq!(s.get("m").unwrap(), Some(attrs(&[("dists", &["testing"])])));
    s.apply(&[add("m", "comps", "main")]).unwrap();
    // The last value of the last attribute gone: the item is gone.
    s.apply(&[del("m", "dists", "testing"), del("m", "comps", "main")])
        .unwrap();
    assert_eq!(s.get("m").unwrap(), None);
    assert_eq!(count(s, None, None), 0);
    assert!(names(s, &all(None)).is_empty());
}

fn concurrent_value_additions_all_land(s: &dyn MetaStore) {
    s.apply(&[put("meta", &[("dists", &["base"])])]).unwrap();
    std::thread::scope(|scope| {
        for t in 0..3 {
            scope.spawn(move || {
                for i in 0..8 {
                    s.apply(&[add("meta", "dists", &format!("d{t}-{i}"))])
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(s.get("meta").unwrap().unwrap()["dists"].len(), 1 + 3 * 8);
}

fn queries_by_coordinates(s: &dyn MetaStore) {
    let pkg = |item: &str, d: &[&str], c: &str, a: &str| {
        put(
            item,
            &[
                ("name", &["p"]),
                ("distribution", d),
                ("component", &[c]),
                ("architecture", &[a]),
            ],
        )
    };
    s.apply(&[
        pkg("s-main-amd64", &["stable"], "main", "amd64"),
        pkg("s-main-all", &["stable"], "main", "all"),
        pkg("s-contrib-amd64", &["stable"], "contrib", "amd64"),
        pkg("t-main-amd64", &["testing"], "main", "amd64"),
        pkg("both-main-amd64", &["stable", "testing"], "main", "amd64"),
    ])
    .unwrap();
    let filter = |d: &str, archs: &[&str]| Filter {
        dists: vec![d.into()],
        comps: vec!["main".into()],
        archs: archs.iter().map(|a| a.to_string()).collect(),
        ..Filter::default()
    };
    let found = |f: &Filter| names(s, &f.to_select());
    assert_eq!(
        found(&filter("stable", &["amd64", "all"])),
        ["s-main-all", "s-main-amd64"]
    );
    // `= ` (any value) finds the item with two distributions; `every` not.
    assert_eq!(
        names(
            s,
            &all(Some(
                eq("distribution", "testing")
                    .and(eq("component", "main"))
                    .and(eq("architecture", "amd64"))
            ))
        ),
        ["both-main-amd64", "t-main-amd64"]
    );
    // A coordinate changed alone, then by a value added: still found
    // where it now is, and no longer where it was.
    s.apply(&[put("s-main-all", &[("distribution", &["testing"])])])
        .unwrap();
    assert_eq!(found(&filter("testing", &["all"])), ["s-main-all"]);
    assert!(found(&filter("stable", &["all"])).is_empty());
    s.apply(&[add("s-main-amd64", "component", "contrib")])
        .unwrap();
    assert_eq!(
        names(
            s,
            &all(Some(
                eq("distribution", "stable")
                    .and(eq("component", "contrib"))
                    .and(eq("architecture", "amd64"))
            ))
        ),
        ["s-contrib-amd64", "s-main-amd64"]
    );
    s.apply(&[Change::Put {
        item: "s-contrib-amd64".into(),
        attrs: Attrs::new(),
        remove: vec!["architecture".into()],
    }])
    .unwrap();
    assert!(found(&Filter {
        dists: vec!["stable".into()],
        comps: vec!["contrib".into()],
        archs: vec!["amd64".into()],
        ..Filter::default()
    })
    .is_empty());
    // By package name, one value or several.
    s.apply(&[put("two-names", &[("name", &["p", "q"])])])
        .unwrap();
    assert_eq!(names(s, &all(Some(eq("name", "q")))), ["two-names"]);
    assert_eq!(
        names(
            s,
            &Filter {
                names: vec!["p".into()],
                ..Filter::default()
            }
            .to_select()
        )
        .len(),
        5
    );
    s.apply(&[put("two-names", &[("name", &["q"])])]).unwrap();
    assert_eq!(
        names(
            s,
            &Filter {
                names: vec!["q".into()],
                ..Filter::default()
            }
            .to_select()
        ),
        ["two-names"]
    );
    // By item name.
    assert_eq!(
        names(
            s,
            &all(Some(Expr::In(
                Operand::ItemName,
                vec!["t-main-amd64".into(), "nope".into(), "s-main-all".into()]
            )))
        ),
        ["s-main-all", "t-main-amd64"]
    );
}

fn projections_and_refused_queries(s: &dyn MetaStore) {
    s.apply(&[
        put("a", &[("k", &["1"]), ("j", &["2"])]),
        put("b", &[("j", &["3"])]),
    ])
    .unwrap();
    let q = |output: Output| Select {
        output,
        filter: Some(Expr::IsNotNull(Operand::Attr("j".into()))),
        order_by: None,
        limit: None,
    };
    let got = s.select_all(&q(Output::Attrs(vec!["k".into()]))).unwrap();
    assert_eq!(
        got,
        [
            Item {
                name: "a".into(),
                attrs: attrs(&[("k", &["1"])])
            },
            Item {
                name: "b".into(),
                attrs: Attrs::new()
            }
        ]
    );
    // A limit past one page (SimpleDB's 2500) is a total like any other.
    assert_eq!(
        s.select_all(&Select {
            limit: Some(5000),
            ..all(None)
        })
        .unwrap()
        .len(),
        2
    );
    let got = s.select_all(&q(Output::ItemName)).unwrap();
    assert!(got.iter().all(|i| i.attrs.is_empty()) && got.len() == 2);
    for bad in [
        Select {
            limit: Some(0),
            ..all(None)
        },
        Select {
            order_by: Some((Operand::Attr("k".into()), Order::Asc)),
            ..all(Some(eq("j", "2")))
        },
    ] {
        let e = s.select_all(&bad).unwrap_err();
        assert!(matches!(e, StoreError::Backend(_)), "{bad:?}: {e}");
        assert!(!e.to_string().contains('\n'));
    }
}

/// `put_if`: a compare-and-set of one attribute's single value, what
/// publish's per-distribution generations rely on.
fn conditional_puts(s: &dyn MetaStore) {
    // First claim of an absent attribute (the item is absent too).
    assert!(s.put_if("gen", "stable", None, "1").unwrap());
    assert_eq!(s.get("gen").unwrap(), Some(attrs(&[("stable", &["1"])])));
    // Absent expected, but present: refused, nothing changed.
    assert!(!s.put_if("gen", "stable", None, "9").unwrap());
    // A wrong expected value: refused, nothing changed.
    assert!(!s.put_if("gen", "stable", Some("0"), "2").unwrap());
    assert_eq!(s.get("gen").unwrap(), Some(attrs(&[("stable", &["1"])])));
    // The right one: accepted, the value replaced (not added).
    assert!(s.put_if("gen", "stable", Some("1"), "2").unwrap());
    assert_eq!(s.get("gen").unwrap(), Some(attrs(&[("stable", &["2"])])));
    // Other attributes of the item are left alone.
    s.apply(&[add("gen", "testing", "7")]).unwrap();
    assert!(s.put_if("gen", "stable", Some("2"), "3").unwrap());
    assert_eq!(
        s.get("gen").unwrap(),
        Some(attrs(&[("stable", &["3"]), ("testing", &["7"])]))
    );
    // An expectation on an absent item or attribute is a failed
    // condition like any other, and creates nothing.
    assert!(!s.put_if("other", "stable", Some("1"), "2").unwrap());
    assert_eq!(s.get("other").unwrap(), None);
    assert!(!s.put_if("gen", "unstable", Some("1"), "2").unwrap());
    assert_eq!(s.get("gen").unwrap().unwrap().get("unstable"), None);
    // Set through put_if, a package-shaped item is still found by the
    // queries that read the attribute (the DynamoDB index keys follow).
    s.apply(&[put(
        "pkg",
        &[
            ("name", &["old"]),
            ("distribution", &["stable"]),
            ("component", &["main"]),
            ("architecture", &["amd64"]),
        ],
    )])
    .unwrap();
    assert!(s.put_if("pkg", "name", Some("old"), "new").unwrap());
    assert!(s
        .put_if("pkg", "distribution", Some("stable"), "testing")
        .unwrap());
    let q = all(Some(Expr::And(
        Box::new(eq("name", "new")),
        Box::new(Expr::And(
            Box::new(eq("distribution", "testing")),
            Box::new(Expr::And(
                Box::new(eq("component", "main")),
                Box::new(eq("architecture", "amd64")),
            )),
        )),
    )));
    assert_eq!(names(s, &q), ["pkg"]);
    assert!(names(s, &all(Some(eq("name", "old")))).is_empty());
}

/// Claimers racing for the same generation, all expecting the same
/// value: exactly one wins, whatever the interleaving, and its value is
/// what the store holds.
fn racing_conditional_puts_one_wins(s: &dyn MetaStore) {
    for (round, expected) in [(0, None), (1, Some("base"))] {
        let item = format!("race{round}");
        if let Some(e) = expected {
            s.apply(&[put(&item, &[("gen", &[e])])]).unwrap();
        }
        let barrier = std::sync::Barrier::new(4);
        let won: Vec<(String, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (barrier, item) = (&barrier, &item);
                    scope.spawn(move || {
                        let mine = format!("claim-{t}");
                        barrier.wait();
                        let ok = s.put_if(item, "gen", expected, &mine).unwrap();
                        (mine, ok)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<&String> = won.iter().filter(|(_, ok)| *ok).map(|(v, _)| v).collect();
        assert_eq!(winners.len(), 1, "round {round}: {won:?}");
        assert_eq!(
            s.get(&item).unwrap(),
            Some(attrs(&[("gen", &[winners[0].as_str()])]))
        );
    }
}

/// The change stamp: a store that has one changes it with every kind of
/// write, to a value it never had, and keeps it through reads and a failed
/// conditional put; writes only to publish's bookkeeping items leave it. A
/// store without one (SimpleDB, DynamoDB) says `None`, always.
fn change_stamps(s: &dyn MetaStore) {
    let Some(first) = s.change_stamp().unwrap() else {
        s.apply(&[put("a", &[("k", &["1"])])]).unwrap();
        assert_eq!(s.change_stamp().unwrap(), None);
        return;
    };
    let mut seen = vec![first];
    let mut changes = |what: &str, write: &dyn Fn()| {
        write();
        let now = s.change_stamp().unwrap().expect("a stamp");
        assert!(!seen.contains(&now), "{what}: stamp {now} seen before");
        seen.push(now);
    };
    changes("put", &|| s.apply(&[put("a", &[("k", &["1"])])]).unwrap());
    changes("control text only", &|| {
        s.apply(&[put("a", &[("control", &["Description: x"])])])
            .unwrap()
    });
    changes("add value", &|| s.apply(&[add("a", "k", "2")]).unwrap());
    changes("delete value", &|| s.apply(&[del("a", "k", "2")]).unwrap());
    changes("put_if", &|| {
        assert!(s.put_if("a", "g", None, "1").unwrap())
    });
    changes("delete", &|| {
        s.apply(&[Change::Delete { item: "a".into() }]).unwrap()
    });
    s.apply(&[put("b", &[("k", &["1"])])]).unwrap();
    let last = s.change_stamp().unwrap();
    let stays_at = |what: &str| assert_eq!(s.change_stamp().unwrap(), last, "{what}");
    s.get("b").unwrap();
    names(s, &all(None));
    count(s, None, None);
    stays_at("reads");
    assert!(!s.put_if("b", "k", Some("9"), "2").unwrap());
    stays_at("a failed put_if");
    for item in repoman::store::UNSTAMPED_ITEMS {
        assert!(s.put_if(item, "stable", None, "1").unwrap());
        s.apply(&[put(item, &[("stable", &["2"])])]).unwrap();
    }
    stays_at("writes to the bookkeeping items");
}

/// A command of up to 100 items is all-or-nothing where the store has
/// transactions (SQLite, DynamoDB; SimpleDB writes in batches).
fn a_failed_small_apply_writes_nothing(s: &dyn MetaStore) {
    let big: Vec<String> = (0..300)
        .map(|i| format!("{i:04}{}", "x".repeat(1500)))
        .collect();
    let mut huge = Attrs::new();
    huge.insert("v".into(), big);
    let changes = vec![
        put("first", &[("k", &["1"])]),
        Change::Put {
            item: "too-big".into(),
            attrs: huge,
            remove: vec![],
        },
        put("last", &[("k", &["2"])]),
    ];
    let e = s.apply(&changes).unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
    for item in ["first", "too-big", "last"] {
        assert_eq!(s.get(item).unwrap(), None, "{item} was written");
    }
}

mod atomic {
    use super::*;

    #[test]
    fn sqlite_apply_is_all_or_nothing() {
        a_failed_small_apply_writes_nothing(&*sqlite());
    }

    #[test]
    fn dynamodb_apply_is_all_or_nothing() {
        a_failed_small_apply_writes_nothing(&*dynamodb());
    }
}

macro_rules! contract {
    ($store:ident: $($case:ident),* $(,)?) => {
        mod $store {
            $(
                #[test]
                fn $case() {
                    let s = super::$store();
                    super::$case(&*s);
                }
            )*
        }
    };
}

macro_rules! every_store {
    ($($store:ident),*) => {
        $(
            contract!($store:
                multi_valued_attributes,
                every_and_any,
                prefixes_with_wildcards_and_quotes,
                paging_over_many_items,
                large_control_text,
                deletes_of_absent_items,
                add_and_delete_values,
                concurrent_value_additions_all_land,
                queries_by_coordinates,
                projections_and_refused_queries,
                conditional_puts,
                racing_conditional_puts_one_wins,
                change_stamps,
            );
        )*
    };
}

every_store!(sqlite, simpledb, dynamodb);

/// One workload on the three stores at once: every answer compared.
#[test]
fn every_store_answers_a_workload_alike() {
    let stores = [sqlite(), simpledb(), dynamodb()];
    let values = ["a", "b", "a%", "b_", "'q", "é"];
    let mut changes = Vec::new();
    for i in 0..60usize {
        let pick = |k: usize| values[(i * 7 + k * 3) % values.len()];
        let item = format!("w{:02}", i % 40);
        changes.push(match i % 5 {
            0 | 1 => put(&item, &[("k", &[pick(0), pick(1)]), ("j", &[pick(2)])]),
            2 => add(&item, "k", pick(3)),
            3 => del(&format!("w{:02}", (i + 3) % 40), "k", pick(4)),
            _ => Change::Delete {
                item: format!("w{:02}", (i * 3) % 40),
            },
        });
    }
    for s in &stores {
        s.apply(&changes).unwrap();
    }
    let mut queries = vec![all(None)];
    for v in values {
        queries.push(all(Some(eq("k", v))));
        queries.push(all(Some(Expr::starts_with("k", v))));
        queries.push(all(Some(Expr::Cmp(
            Operand::Every("k".into()),
            CmpOp::Gt,
            v.into(),
        ))));
        queries.push(Select {
            output: Output::Count,
            ..all(Some(Expr::Not(Box::new(eq("j", v)))))
        });
        queries.push(Select {
            output: Output::ItemName,
            filter: Some(Expr::Cmp(Operand::Attr("k".into()), CmpOp::Le, v.into())),
            order_by: Some((Operand::Attr("k".into()), Order::Desc)),
            limit: Some(5),
        });
    }
    for q in &queries {
        let answers: Vec<Vec<Item>> = stores.iter().map(|s| s.select_all(q).unwrap()).collect();
        assert_eq!(answers[0], answers[1], "SQLite and SimpleDB: {q:?}");
        assert_eq!(answers[0], answers[2], "SQLite and DynamoDB: {q:?}");
    }
    let everything: Vec<BTreeMap<String, Attrs>> = stores
        .iter()
        .map(|s| {
            s.select_all(&all(None))
                .unwrap()
                .into_iter()
                .map(|i| (i.name, i.attrs))
                .collect()
        })
        .collect();
    assert!(!everything[0].is_empty());
    for (name, a) in &everything[0] {
        for s in &stores {
            assert_eq!(s.get(name).unwrap().as_ref(), Some(a), "{name}");
        }
    }
}
