//! The embedded metadata store: one SimpleDB-style domain in a SQLite file,
//! on the same engine `sdb-local` serves, so embedded mode and SimpleDB
//! answer the same queries the same way.
//!
//! `select` streams the whole result; a query's `limit` caps it, as on
//! every store (SimpleDB's client follows NextToken up to the limit).

use std::path::{Path, PathBuf};

use crate::model::{Attrs, Item};
use sdb::engine::{validate_domain_name, Engine};
use sdb::error::SdbError;
use sdb::item::{Edit, Expected, PutAttr};
use sdb::limits::MAX_SELECT_LIMIT;

use crate::select::{Output, Select};
use crate::store::{Change, MetaStore, StoreError, StoreResult, UNSTAMPED_ITEMS};

/// One domain of a SQLite file, as a [`MetaStore`].
pub struct SqliteMeta {
    engine: Engine,
    domain: String,
    path: PathBuf,
}

impl SqliteMeta {
    /// Opens (creating the file and its directories if needed) the store at
    /// `path`, holding its items in `domain`. The domain itself is created by
    /// [`MetaStore::create_domain`].
    pub fn open(path: &Path, domain: &str) -> StoreResult<SqliteMeta> {
        validate_domain_name(domain)
            .map_err(|e| StoreError::Backend(format!("domain `{domain}`: {}", e.message)))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            super::ensure_dir(dir)?;
        }
        let mut engine = Engine::open(path).map_err(|e| {
            StoreError::Backend(format!("sqlite:{}: {}", path.display(), e.message))
        })?;
        engine.set_unstamped(UNSTAMPED_ITEMS);
        Ok(SqliteMeta {
            engine,
            domain: domain.to_string(),
            path: path.to_path_buf(),
        })
    }

    /// The engine underneath (for tools that want SimpleDB's operations).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Words an engine error as one line naming this store.
    fn err(&self, e: SdbError) -> StoreError {
        if e.code == "NoSuchDomain" {
            return StoreError::NotFound(format!("{} domain `{}`", self.describe(), self.domain));
        }
        StoreError::Backend(format!("{}: {}", self.describe(), e.message))
    }
}

impl MetaStore for SqliteMeta {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn domain_exists(&self) -> StoreResult<bool> {
        self.engine
            .domain_exists(&self.domain)
            .map_err(|e| self.err(e))
    }

    fn create_domain(&self) -> StoreResult<()> {
        self.engine
            .create_domain(&self.domain)
            .map_err(|e| self.err(e))
    }

    fn get(&self, item: &str) -> StoreResult<Option<Attrs>> {
        self.engine
            .get(&self.domain, item, &[])
            .map_err(|e| self.err(e))
    }

    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // The callback's own errors travel through the engine's loop in a
        // side slot, so they come back unchanged. `limit` caps the result
        // (as on every store); the engine's stream has no cap of its own.
        let cap = query.limit.map_or(u64::MAX, u64::from);
        let mut delivered: u64 = 0;
        let mut failure: Option<StoreError> = None;
        let mut full = false;
        // The engine checks a limit as SimpleDB checks a page's; a total
        // past one page is fine here.
        let mut checked = query.clone();
        checked.limit = query.limit.map(|n| n.min(MAX_SELECT_LIMIT));
        let result = self
            .engine
            .select_each(&self.domain, &checked, &mut |mut item| {
                if query.output == Output::Count {
                    if let Some(n) = item.attrs.get_mut("Count").and_then(|v| v.first_mut()) {
                        let counted: u64 = n.parse().unwrap_or(0);
                        *n = counted.min(cap).to_string();
                    }
                }
                if delivered >= cap {
                    full = true;
                    return Err(SdbError::internal("the limit is reached"));
                }
                delivered += 1;
                each(item).map_err(|e| {
                    failure = Some(e);
                    SdbError::internal("stopped by the caller")
                })
            });
        match (result, failure) {
            (_, Some(e)) => Err(e),
            (Err(_), None) if full => Ok(()),
            (Err(e), None) => Err(self.err(e)),
            (Ok(()), None) => Ok(()),
        }
    }

    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.engine
            .apply(&self.domain, changes.iter().map(edit))
            .map_err(|e| self.err(e))
    }

    fn change_stamp(&self) -> StoreResult<Option<String>> {
        // The engine's count of writes to the domain, bumped in each
        // write's own transaction (none yet: a file from before stamps,
        // which cannot tell until its first write).
        self.engine
            .change_stamp(&self.domain)
            .map_err(|e| self.err(e))
    }

    fn put_if(
        &self,
        item: &str,
        attr: &str,
        expected: Option<&str>,
        value: &str,
    ) -> StoreResult<bool> {
        let put = [PutAttr {
            name: attr.to_string(),
            value: value.to_string(),
            replace: true,
        }];
        let cond = Expected {
            name: attr.to_string(),
            value: expected.map(str::to_string),
            exists: expected.is_none().then_some(false),
        };
        match self
            .engine
            .put_attributes(&self.domain, item, &put, Some(&cond))
        {
            Ok(()) => Ok(true),
            // An expected value of an absent attribute is
            // AttributeDoesNotExist: the condition failed all the same.
            Err(e) if matches!(e.code, "ConditionalCheckFailed" | "AttributeDoesNotExist") => {
                Ok(false)
            }
            Err(e) => Err(self.err(e)),
        }
    }
}

/// The engine's form of a store change.
fn edit(change: &Change) -> Edit<'_> {
    match change {
        Change::Put {
            item,
            attrs,
            remove,
        } => Edit::Put {
            item,
            attrs,
            remove,
        },
        Change::Delete { item } => Edit::Delete { item },
        Change::AddValue { item, attr, value } => Edit::AddValue { item, attr, value },
        Change::DeleteValue { item, attr, value } => Edit::DeleteValue { item, attr, value },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::catalog::Filter;
    use crate::select::{CmpOp, Expr, Operand, Order, Output};

    fn store() -> (tempfile::TempDir, SqliteMeta) {
        let dir = tempfile::tempdir().unwrap();
        let m = SqliteMeta::open(&dir.path().join("sub/dir/meta.sqlite"), "repo").unwrap();
        m.create_domain().unwrap();
        (dir, m)
    }

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

    fn names(m: &SqliteMeta, q: &Select) -> BTreeSet<String> {
        m.select_all(q)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn open_creates_directories_and_describes_itself() {
        let (dir, m) = store();
        assert!(dir.path().join("sub/dir/meta.sqlite").exists());
        assert_eq!(
            m.describe(),
            format!(
                "sqlite:{}",
                dir.path().join("sub/dir/meta.sqlite").display()
            )
        );
        assert!(m.domain_exists().unwrap());
        // Creating again is fine.
        m.create_domain().unwrap();
    }

    #[test]
    fn bad_domain_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = SqliteMeta::open(&dir.path().join("m.sqlite"), "a b")
            .err()
            .unwrap();
        assert!(e.to_string().contains("a b"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.sqlite");
        std::fs::write(&path, "this is not a database, just some text".repeat(200)).unwrap();
        let e = SqliteMeta::open(&path, "repo").err().unwrap();
        let msg = e.to_string();
        assert!(
            msg.contains("junk.sqlite") && msg.contains("not a database"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn missing_domain_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let m = SqliteMeta::open(&dir.path().join("m.sqlite"), "repo").unwrap();
        assert!(!m.domain_exists().unwrap());
        assert!(matches!(m.get("x"), Err(StoreError::NotFound(_))));
        assert!(matches!(
            m.apply(&[put("x", &[("a", &["1"])])]),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn put_get_delete() {
        let (_d, m) = store();
        assert_eq!(m.get("a").unwrap(), None);
        m.apply(&[put("a", &[("x", &["1"]), ("y", &["2", "3"])])])
            .unwrap();
        assert_eq!(
            m.get("a").unwrap(),
            Some(attrs(&[("x", &["1"]), ("y", &["2", "3"])]))
        );
        m.apply(&[Change::Delete { item: "a".into() }]).unwrap();
        assert_eq!(m.get("a").unwrap(), None);
        // Deleting what is not there is fine.
        m.apply(&[Change::Delete { item: "a".into() }]).unwrap();
    }

    #[test]
    fn put_replaces_listed_attributes_and_removes_named_ones() {
        let (_d, m) = store();
        m.apply(&[put(
            "a",
            &[("x", &["1", "2"]), ("keep", &["k"]), ("old", &["o"])],
        )])
        .unwrap();
        m.apply(&[Change::Put {
            item: "a".into(),
            attrs: attrs(&[("x", &["3"])]),
            remove: vec!["old".into(), "absent".into()],
        }])
        .unwrap();
        assert_eq!(
            m.get("a").unwrap(),
            Some(attrs(&[("keep", &["k"]), ("x", &["3"])]))
        );
        // Two puts of one item in one batch: the second replaces the first.
        m.apply(&[put("b", &[("x", &["1"])]), put("b", &[("x", &["2"])])])
            .unwrap();
        assert_eq!(m.get("b").unwrap(), Some(attrs(&[("x", &["2"])])));
    }

    #[test]
    fn multi_valued_attributes_add_and_delete_values() {
        let (_d, m) = store();
        let add = |v: &str| Change::AddValue {
            item: "a".into(),
            attr: "tag".into(),
            value: v.into(),
        };
        m.apply(&[add("1"), add("2"), add("2"), add("3")]).unwrap();
        assert_eq!(
            m.get("a").unwrap(),
            Some(attrs(&[("tag", &["1", "2", "3"])]))
        );
        m.apply(&[Change::DeleteValue {
            item: "a".into(),
            attr: "tag".into(),
            value: "2".into(),
        }])
        .unwrap();
        assert_eq!(m.get("a").unwrap(), Some(attrs(&[("tag", &["1", "3"])])));
        // Removing the last values removes the item.
        for v in ["1", "3"] {
            m.apply(&[Change::DeleteValue {
                item: "a".into(),
                attr: "tag".into(),
                value: v.into(),
            }])
            .unwrap();
        }
        assert_eq!(m.get("a").unwrap(), None);
        assert!(names(&m, &Select::all_where(is_not_null("tag"))).is_empty());
    }

    fn is_not_null(a: &str) -> Expr {
        Expr::IsNotNull(Operand::Attr(a.into()))
    }

    #[test]
    fn apply_is_atomic() {
        let (_d, m) = store();
        m.apply(&[put("a", &[("x", &["1"])])]).unwrap();
        let too_long = "v".repeat(1025);
        let e = m
            .apply(&[
                put("a", &[("x", &["2"])]),
                put("b", &[("x", &[too_long.as_str()])]),
            ])
            .unwrap_err();
        assert!(e.to_string().contains("1025 bytes"), "{e}");
        assert_eq!(m.get("a").unwrap(), Some(attrs(&[("x", &["1"])])));
        assert_eq!(m.get("b").unwrap(), None);
    }

    #[test]
    fn item_pair_limit_is_enforced() {
        let (_d, m) = store();
        let values: Vec<String> = (0..257).map(|i| format!("{i:03}")).collect();
        let mut a = Attrs::new();
        a.insert("v".into(), values.clone());
        let e = m
            .apply(&[Change::Put {
                item: "big".into(),
                attrs: a.clone(),
                remove: vec![],
            }])
            .unwrap_err();
        assert!(e.to_string().contains("256"), "{e}");
        a.insert("v".into(), values[..256].to_vec());
        m.apply(&[Change::Put {
            item: "big".into(),
            attrs: a,
            remove: vec![],
        }])
        .unwrap();
        assert_eq!(m.get("big").unwrap().unwrap()["v"].len(), 256);
    }

    /// A small catalog: packages over two distributions plus the meta item.
    fn catalog() -> (tempfile::TempDir, SqliteMeta) {
        let (d, m) = store();
        let pkg = |item: &str, name: &str, ver: &str, dist: &str, comp: &str, arch: &str| {
            put(
                item,
                &[
                    ("name", &[name]),
                    ("version", &[ver]),
                    ("distribution", &[dist]),
                    ("component", &[comp]),
                    ("architecture", &[arch]),
                ],
            )
        };
        m.apply(&[
            put("meta", &[("dists", &["bookworm", "trixie"])]),
            pkg("p1", "hello", "2.10-3", "bookworm", "main", "amd64"),
            pkg("p2", "hello", "2.10-4", "trixie", "main", "amd64"),
            pkg("p3", "hello-doc", "2.10-3", "bookworm", "main", "all"),
            pkg("p4", "libzstd1", "1.5.4", "bookworm", "contrib", "amd64"),
            pkg("p5", "h%llo", "1", "bookworm", "main", "amd64"),
            pkg("p6", "it's", "1", "bookworm", "main", "amd64"),
            pkg("p7", "back`tick\\x", "1", "trixie", "main", "arm64"),
            pkg("p8", "ünïcødé", "1", "trixie", "main", "arm64"),
            pkg("p9", "HELLO", "1", "bookworm", "main", "amd64"),
        ])
        .unwrap();
        (d, m)
    }

    fn filter_names(m: &SqliteMeta, f: Filter) -> BTreeSet<String> {
        names(m, &f.to_select())
    }

    #[test]
    fn catalog_filters() {
        let (_d, m) = catalog();
        let all = set(&["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]);
        assert_eq!(
            filter_names(&m, Filter::default()),
            all,
            "meta is not a package"
        );
        let f = |names: &[&str], prefix: bool| Filter {
            names: names.iter().map(|s| s.to_string()).collect(),
            name_prefix: prefix,
            ..Filter::default()
        };
        assert_eq!(filter_names(&m, f(&["hello"], false)), set(&["p1", "p2"]));
        assert_eq!(
            filter_names(&m, f(&["hello", "libzstd1"], false)),
            set(&["p1", "p2", "p4"])
        );
        assert_eq!(
            filter_names(&m, f(&["hello"], true)),
            set(&["p1", "p2", "p3"]),
            "prefix match is case-sensitive"
        );
        assert_eq!(
            filter_names(&m, f(&["hel", "lib"], true)),
            set(&["p1", "p2", "p3", "p4"])
        );
        let by = |dists: &[&str], comps: &[&str], archs: &[&str], vers: &[&str]| Filter {
            dists: dists.iter().map(|s| s.to_string()).collect(),
            comps: comps.iter().map(|s| s.to_string()).collect(),
            archs: archs.iter().map(|s| s.to_string()).collect(),
            versions: vers.iter().map(|s| s.to_string()).collect(),
            ..Filter::default()
        };
        assert_eq!(
            filter_names(&m, by(&["trixie"], &[], &[], &[])),
            set(&["p2", "p7", "p8"])
        );
        assert_eq!(
            filter_names(&m, by(&["bookworm"], &["contrib"], &[], &[])),
            set(&["p4"])
        );
        assert_eq!(
            filter_names(
                &m,
                by(&["bookworm", "trixie"], &["main"], &["all", "arm64"], &[])
            ),
            set(&["p3", "p7", "p8"])
        );
        assert_eq!(
            filter_names(&m, by(&[], &[], &[], &["2.10-3"])),
            set(&["p1", "p3"])
        );
        let mut both = f(&["hello"], true);
        both.dists = vec!["bookworm".into()];
        both.archs = vec!["amd64".into()];
        assert_eq!(filter_names(&m, both), set(&["p1"]));
    }

    #[test]
    fn hostile_values_match_exactly_themselves() {
        let (_d, m) = catalog();
        for (name, item) in [
            ("h%llo", "p5"),
            ("it's", "p6"),
            ("back`tick\\x", "p7"),
            ("ünïcødé", "p8"),
        ] {
            let exact = Filter {
                names: vec![name.into()],
                ..Filter::default()
            };
            assert_eq!(filter_names(&m, exact), set(&[item]), "exact {name}");
            let prefix = Filter {
                names: vec![name.into()],
                name_prefix: true,
                ..Filter::default()
            };
            assert_eq!(filter_names(&m, prefix), set(&[item]), "prefix {name}");
        }
        // `%` in a prefix is literal: "h%" must not match "hello".
        let prefix = Filter {
            names: vec!["h%".into()],
            name_prefix: true,
            ..Filter::default()
        };
        assert_eq!(filter_names(&m, prefix), set(&["p5"]));
        // GLOB's own wildcards are literal too.
        for pattern in ["h*", "h?llo", "[h]ello", "ünï"] {
            let prefix = Filter {
                names: vec![pattern.into()],
                name_prefix: true,
                ..Filter::default()
            };
            let expect: BTreeSet<String> = if pattern == "ünï" {
                set(&["p8"])
            } else {
                set(&[])
            };
            assert_eq!(filter_names(&m, prefix), expect, "{pattern}");
        }
    }

    #[test]
    fn select_streams_everything_and_counts() {
        let (_d, m) = store();
        let changes: Vec<Change> = (0..6000)
            .map(|i| put(&format!("item{i:05}"), &[("n", &[&format!("{}", i % 3)])]))
            .collect();
        m.apply(&changes).unwrap();
        let q = Select::all_where(Expr::Cmp(Operand::Attr("n".into()), CmpOp::Eq, "1".into()));
        let got = m.select_all(&q).unwrap();
        assert_eq!(got.len(), 2000);
        assert!(got.windows(2).all(|w| w[0].name < w[1].name));
        let count = Select {
            output: Output::Count,
            filter: q.filter.clone(),
            order_by: None,
            limit: None,
        };
        let c = m.select_all(&count).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "Domain");
        assert_eq!(c[0].attrs["Count"], vec!["2000".to_string()]);
        // A limit caps the count, as it caps the items.
        let c = m
            .select_all(&Select {
                limit: Some(7),
                ..count
            })
            .unwrap();
        assert_eq!(c[0].attrs["Count"], vec!["7".to_string()]);
        // A descending order over an attribute, streamed.
        let q = Select {
            output: Output::ItemName,
            filter: Some(Expr::IsNotNull(Operand::Attr("n".into()))),
            order_by: Some((Operand::Attr("n".into()), Order::Desc)),
            limit: Some(10),
        };
        let got = m.select_all(&q).unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(got[0].name, "item05999");
        let all = m.select_all(&Select { limit: None, ..q }).unwrap();
        assert_eq!(all.len(), 6000);
        assert!(all[1999].name.as_str() > "item05990" || all[1999].name.ends_with('2'));
    }

    #[test]
    fn callback_errors_come_back_unchanged() {
        let (_d, m) = catalog();
        let e = m
            .select(&Filter::default().to_select(), &mut |_| {
                Err(StoreError::Exists("stop".into()))
            })
            .unwrap_err();
        assert!(matches!(e, StoreError::Exists(ref s) if s == "stop"), "{e}");
    }

    /// 60,000 package-like items in one apply, then a select of one
    /// distribution. Run with `--ignored --nocapture` for the timings.
    #[test]
    #[ignore]
    fn large_catalog_timing() {
        let (_d, m) = store();
        let dists = ["bookworm", "trixie", "sid"];
        let changes: Vec<Change> = (0..60_000)
            .map(|i| {
                let mut a = Attrs::new();
                let mut one = |k: &str, v: String| {
                    a.insert(k.to_string(), vec![v]);
                };
                one("name", format!("package-{}", i / 3));
                one("version", format!("1.{}-1", i % 7));
                one("distribution", dists[i % 3].to_string());
                one("component", "main".into());
                one("architecture", "amd64".into());
                one("filename", format!("pool/main/p/package-{i}.deb"));
                one("size", format!("{}", 1000 + i));
                one("md5", format!("{:032x}", i));
                one("sha1", format!("{:040x}", i));
                one("sha256", format!("{:064x}", i));
                for f in 0..5 {
                    one(&format!("controltxt{f}"), "x".repeat(256));
                }
                Change::Put {
                    item: format!("{:064x}", i * 7919),
                    attrs: a,
                    remove: vec![],
                }
            })
            .collect();
        let t = std::time::Instant::now();
        m.apply(&changes).unwrap();
        eprintln!("apply of 60000 items x 15 attributes: {:?}", t.elapsed());
        let f = Filter {
            dists: vec!["trixie".into()],
            ..Filter::default()
        };
        let t = std::time::Instant::now();
        let n = m.select_all(&f.to_select()).unwrap().len();
        eprintln!("select of one distribution ({n} items): {:?}", t.elapsed());
        assert_eq!(n, 20_000);
        let mut q = f.to_select();
        q.output = Output::ItemName;
        let t = std::time::Instant::now();
        let n = m.select_all(&q).unwrap().len();
        eprintln!(
            "select itemName() of one distribution ({n} items): {:?}",
            t.elapsed()
        );
        q.output = Output::Count;
        let t = std::time::Instant::now();
        let n = m.select_all(&q).unwrap().len();
        eprintln!("count of one distribution ({n} items): {:?}", t.elapsed());
        let f = Filter {
            names: vec!["package-77".into()],
            ..Filter::default()
        };
        let t = std::time::Instant::now();
        let n = m.select_all(&f.to_select()).unwrap().len();
        eprintln!("select of one name ({n} items): {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let n = m.select_all(&Filter::default().to_select()).unwrap().len();
        eprintln!("select of everything ({n} items): {:?}", t.elapsed());
        let meta = std::fs::metadata(m.path.clone()).unwrap().len();
        eprintln!("database size: {} MB", meta / 1_000_000);
    }
}
