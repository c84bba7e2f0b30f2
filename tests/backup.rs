//! Backup, restore and verify: round trips (a property over generated
//! repositories, on the embedded SQLite store), the original's backup file,
//! corrupt input that writes nothing, interrupted restores that converge,
//! --dry-run, --prune, recovery from the published tree, and verify finding
//! damaged pool files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use sha2::Digest as _;

use repoman::backup::dump::dump_in_ranges;
use repoman::backup::restore::{self, RestoreRequest};
use repoman::backup::{parse_backup, Input, Style};
use repoman::catalog::{Catalog, Filter};
use repoman::model::{Attrs, Package, Payload, META_ITEM};
use repoman::store::Change;

mod common;
use common::faults::FailingMeta;
use common::{original, real, Repo};

impl Repo {
    /// The whole state, as a backup.
    fn backup(&self) -> String {
        self.ok(&["backup"])
    }

    fn catalog(&self) -> Catalog {
        Catalog::new(repoman::embedded::open(&self.local(), None).unwrap())
    }

    fn restore_fixture(&self) {
        self.ok(&[
            "restore",
            original("repoman-1.0.7-backup.json").to_str().unwrap(),
        ]);
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }
}

/// A backup document with every attribute's values as a sorted set, for
/// comparisons that SimpleDB's unordered values must not fail.
fn normalized(doc: &Value) -> Value {
    match doc {
        Value::Array(a) if a.iter().all(Value::is_string) => {
            let set: BTreeSet<&str> = a.iter().map(|v| v.as_str().unwrap()).collect();
            if set.len() == 1 {
                Value::String(set.into_iter().next().unwrap().to_string())
            } else {
                Value::Array(set.into_iter().map(|s| Value::String(s.into())).collect())
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> =
                m.iter().map(|(k, v)| (k, normalized(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        v => v.clone(),
    }
}

// ---------------------------------------------------------------------------
// Library level: the round trip as a property over generated repositories.

mod generated {
    use super::*;
    use proptest::prelude::*;

    /// A description of multibyte characters, often longer than one
    /// 256-character fragment, as continuation lines.
    fn description() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop::sample::select(vec![
                'a', 'Z', ' ', '\n', ':', 'ü', '✓', '日', '😀', '"', '\\',
            ]),
            0..900,
        )
        .prop_map(|cs| {
            let text: String = cs.into_iter().collect();
            text.split('\n').map(|l| format!(" {l}.\n")).collect()
        })
    }

    prop_compose! {
        fn package()(
            name in "[a-z0-9][a-z0-9+.-]{1,6}",
            version in "(1:)?[0-9]{1,2}\\.[0-9]{1,2}(-[0-9])?",
            dist in prop::sample::select(vec!["stable", "testing", "xenial"]),
            comp in prop::sample::select(vec!["main", "contrib", "non-free"]),
            arch in prop::sample::select(vec!["amd64", "i386", "all", "source"]),
            files in proptest::collection::btree_set("[a-z]{1,5}\\.(tar\\.gz|dsc|diff)", 1..4),
            size in 0u64..10_000_000,
            digest in "[0-9a-f]{64}",
            description in description(),
        ) -> Package {
            // The control text agrees with the item, as every stored one must.
            let (payload, control) = if arch == "source" {
                let files: Vec<String> = files.into_iter().collect();
                let listed: String = files.iter().map(|f| format!(" {} 1 {f}\n", &digest[..32])).collect();
                let control = format!("Source: {name}\nVersion: {version}\nFiles:\n{listed}Description: x\n{description}");
                (Payload::Source { files }, control)
            } else {
                let control = format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\nDescription: x\n{description}");
                (
                Payload::Binary {
                    filename: format!("{name}_{version}_{arch}.deb"),
                    md5: digest[..32].to_string(),
                    sha1: digest[..40].to_string(),
                    sha256: digest.clone(),
                    size,
                }, control)
            };
            Package {
                name,
                version,
                distribution: dist.to_string(),
                component: comp.to_string(),
                architecture: arch.to_string(),
                payload,
                control,
            }
        }
    }

    fn config() -> impl Strategy<Value = Attrs> {
        (
            proptest::collection::btree_set(
                prop::sample::select(vec!["stable", "testing", "xenial"]),
                1..3,
            ),
            proptest::collection::btree_set(prop::sample::select(vec!["main", "contrib"]), 1..2),
            proptest::option::of("[A-Za-z. ]{1,12}"),
        )
            .prop_map(|(dists, comps, origin)| {
                let mut a = Attrs::new();
                let list = |s: BTreeSet<&str>| s.into_iter().map(String::from).collect::<Vec<_>>();
                if !dists.is_empty() {
                    a.insert("dists".into(), list(dists));
                }
                if !comps.is_empty() {
                    a.insert("comps".into(), list(comps));
                }
                a.insert("archs".into(), vec!["amd64".into(), "i386".into()]);
                if let Some(o) = origin {
                    a.insert("origin".into(), vec![o]);
                }
                a
            })
    }

    fn store(dir: &Path) -> Catalog {
        let backend = repoman::embedded::open(dir, None).unwrap();
        backend.meta.create_domain().unwrap();
        Catalog::new(backend)
    }

    fn dump_bytes(cat: &Catalog, style: Style, range_items: u64) -> Vec<u8> {
        let mut out = Vec::new();
        dump_in_ranges(
            cat,
            &Filter::default(),
            style,
            &mut out,
            &mut |_| {},
            range_items,
        )
        .unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// backup, restore into an empty store, backup again: identical
        /// bytes, in both formats.
        #[test]
        fn round_trip_is_byte_identical(
            packages in proptest::collection::vec(package(), 0..25),
            meta in config(),
            indented in any::<bool>(),
            range_items in 1u64..8,
        ) {
            let style = if indented { Style::Indented } else { Style::Compact };
            let tmp = tempfile::tempdir().unwrap();
            let a = store(&tmp.path().join("a"));
            let mut changes: Vec<Change> = Vec::new();
            let mut keys = BTreeSet::new();
            for p in &packages {
                if keys.insert(p.key()) {
                    changes.push(Change::Put { item: p.key(), attrs: p.to_attrs().unwrap(), remove: vec![] });
                }
            }
            changes.push(Change::Put { item: META_ITEM.into(), attrs: meta, remove: vec![] });
            a.meta().apply(&changes).unwrap();
            // Reading the store in small name ranges changes nothing.
            let first = dump_bytes(&a, style, 5000);
            prop_assert_eq!(&dump_bytes(&a, style, range_items), &first);

            let backup = parse_backup(&first).unwrap();
            prop_assert_eq!(backup.items.len(), keys.len());
            let b = Catalog::new(repoman::embedded::open(&tmp.path().join("b"), None).unwrap());
            let req = RestoreRequest { source: "test".into(), ..RestoreRequest::default() };
            let mut input = Input::spool(&first[..]).unwrap();
            let checked = restore::check(&mut input, &req).unwrap();
            let plan = restore::plan(&b, &checked, &req).unwrap();
            let writes = restore::item_writes(&b, &mut input, &checked, &plan, &req).unwrap();
            prop_assert_eq!(writes.added.len(), keys.len());
            restore::apply(&b, &mut input, &checked, &plan, &req, &mut |_, _| {}).unwrap();
            let second = dump_bytes(&b, style, range_items);
            prop_assert_eq!(String::from_utf8(first).unwrap(), String::from_utf8(second).unwrap());

            // A second restore of the same backup changes nothing.
            let plan = restore::plan(&b, &checked, &req).unwrap();
            let again = restore::item_writes(&b, &mut input, &checked, &plan, &req).unwrap();
            prop_assert!(again.is_noop() && plan.meta.is_none() && plan.pruned.is_empty());
            prop_assert_eq!(again.unchanged, keys.len());
        }
    }

    #[test]
    fn restore_replaces_attributes_and_removes_leftovers() {
        let tmp = tempfile::tempdir().unwrap();
        let cat = store(tmp.path());
        let head = "Package: hello\nVersion: 1.0\nArchitecture: amd64\n";
        let long: String = format!("{head}Description: x\n{}", " ✓ long\n".repeat(40));
        let p = Package {
            name: "hello".into(),
            version: "1.0".into(),
            distribution: "stable".into(),
            component: "main".into(),
            architecture: "amd64".into(),
            payload: Payload::Binary {
                filename: "hello_1.0_amd64.deb".into(),
                md5: "0".repeat(32),
                sha1: "1".repeat(40),
                sha256: "2".repeat(64),
                size: 5,
            },
            control: long,
        };
        let mut attrs = p.to_attrs().unwrap();
        let fragments = attrs.keys().filter(|k| k.starts_with("controltxt")).count();
        assert!(fragments > 1);
        attrs.insert("stray".into(), vec!["x".into()]);
        cat.meta()
            .apply(&[Change::Put {
                item: p.key(),
                attrs,
                remove: vec![],
            }])
            .unwrap();
        // The backup has short control text: one fragment, no `stray`.
        let short = Package {
            control: head.into(),
            ..p.clone()
        };
        let doc = serde_json::json!({
            "metadata": {"dists": ["stable"], "comps": ["main"], "archs": ["amd64"]},
            "packages": {"hello": {"stable": {"main": {"amd64": [repoman::catalog::tree::item_json(&short.to_attrs().unwrap())]}}}}
        });
        let backup = parse_backup(doc.to_string().as_bytes()).unwrap();
        let req = RestoreRequest {
            source: "t".into(),
            ..RestoreRequest::default()
        };
        let mut input = Input::Items(backup);
        let checked = restore::check(&mut input, &req).unwrap();
        let plan = restore::plan(&cat, &checked, &req).unwrap();
        let writes = restore::item_writes(&cat, &mut input, &checked, &plan, &req).unwrap();
        assert_eq!(writes.changed.len(), 1);
        assert!(writes.changed[0].remove.contains(&"stray".to_string()));
        assert!(writes.changed[0]
            .remove
            .contains(&"controltxt1".to_string()));
        restore::apply(&cat, &mut input, &checked, &plan, &req, &mut |_, _| {}).unwrap();
        let now = cat.meta().get(&p.key()).unwrap().unwrap();
        assert_eq!(now, short.to_attrs().unwrap());
    }
}

// ---------------------------------------------------------------------------
// The original's backup file.

#[test]
fn the_original_backup_restores_and_queries_like_the_original() {
    let r = Repo::new();
    r.restore_fixture();

    // Item names recomputed on restore equal the names in the original's
    // domain.
    let dump: Value = serde_json::from_str(
        &std::fs::read_to_string(original("repoman-1.0.7-select-dump.json")).unwrap(),
    )
    .unwrap();
    let want: BTreeSet<String> = dump["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap().to_string())
        .collect();
    let cat = r.catalog();
    let mut got: BTreeSet<String> = cat
        .find_items(&Filter::default())
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert!(cat.meta().get(META_ITEM).unwrap().is_some());
    got.insert(META_ITEM.into());
    assert_eq!(got, want);
    assert_eq!(want.len(), 28);

    // `release` is no longer configured: hidden unless -H.
    let visible: Value = serde_json::from_str(&r.ok(&["query", "-f", "jsonc"])).unwrap();
    let hidden: Value = serde_json::from_str(&r.ok(&["query", "-H", "-f", "jsonc"])).unwrap();
    assert!(visible["testdeb"]["xenial"].get("release").is_none());
    assert_eq!(
        hidden["testdeb"]["xenial"]["release"]["all"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert!(visible["testdeb"]["xenial"].get("main").is_some());
    let src = &hidden["apt-transport-s3"]["xenial"]["main"]["source"][0];
    assert_eq!(src["files"].as_array().unwrap().len(), 3);

    // The restore was announced once, with its counts.
    let ann = r.announcements();
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0]["action"], "restore");
    assert_eq!(ann[0]["type"], "backup");
    assert_eq!(ann[0]["added"], 27);
    assert_eq!(ann[0]["changed"], 0);
    assert_eq!(ann[0]["pruned"], 0);
    assert!(ann[0]["name"]
        .as_str()
        .unwrap()
        .ends_with("repoman-1.0.7-backup.json"));
    assert!(ann[0]["caller"].is_string());
}

#[test]
fn a_backup_of_the_restored_original_has_the_same_items_and_attributes() {
    let r = Repo::new();
    r.restore_fixture();
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(original("repoman-1.0.7-backup.json")).unwrap(),
    )
    .unwrap();
    for format in ["json", "jsonc"] {
        let ours: Value = serde_json::from_str(&r.ok(&["backup", "-f", format])).unwrap();
        assert_eq!(normalized(&ours), normalized(&fixture), "{format}");
    }
    // The indented form is laid out as the original's json.dumps(indent=2):
    // the same lines, only attribute order within an item may differ.
    let ours = r.ok(&["backup", "-f", "json"]);
    let theirs = std::fs::read_to_string(original("repoman-1.0.7-backup.json")).unwrap();
    let sorted = |s: &str| {
        let mut v: Vec<String> = s
            .lines()
            .map(|l| l.trim_end_matches(',').to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&ours), sorted(&theirs));
}

// ---------------------------------------------------------------------------
// Corrupt input writes nothing.

#[test]
fn corrupt_backups_are_refused_whole_and_leave_the_store_untouched() {
    let r = Repo::new();
    r.restore_fixture();
    let before = r.backup();
    let announced = r.announcements().len();
    let good = std::fs::read_to_string(original("repoman-1.0.7-backup.json")).unwrap();
    let doc: Value = serde_json::from_str(&good).unwrap();
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        d.to_string().into_bytes()
    };
    let leaf = "packages.testdeb.xenial.main.all";
    let cases: Vec<(&str, Vec<u8>, Vec<String>)> = vec![
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            vec!["input: not valid JSON".into()],
        ),
        (
            "wrong type",
            edit(&|d| {
                d["packages"]["testdeb"]["xenial"]["main"]["all"][2]["size"] = Value::from(910)
            }),
            vec![format!(
                "{leaf}[2].size: expected a string or a list of strings, found a number"
            )],
        ),
        (
            "missing keys",
            edit(&|d| {
                let item = d["packages"]["testdeb"]["xenial"]["main"]["all"][1]
                    .as_object_mut()
                    .unwrap();
                item.remove("sha256");
                item.remove("version");
            }),
            vec![
                format!("{leaf}[1].sha256: missing"),
                format!("{leaf}[1].version: missing"),
            ],
        ),
        (
            "extra top-level key",
            edit(&|d| d["comment"] = Value::from("x")),
            vec!["input.comment: unexpected key".into()],
        ),
        (
            "missing top-level key",
            edit(&|d| {
                d.as_object_mut().unwrap().remove("metadata");
            }),
            vec!["metadata: missing".into()],
        ),
        (
            "misplaced item",
            edit(&|d| {
                let item = d["packages"]["testdeb"]["xenial"]["main"]["all"][0].clone();
                d["packages"]["testdeb"]["jessie"]["main"]["all"]
                    .as_array_mut()
                    .unwrap()
                    .push(item);
            }),
            vec![
                "packages.testdeb.jessie.main.all[1].distribution: \"xenial\" does not match"
                    .into(),
            ],
        ),
        (
            "oversize value",
            edit(&|d| {
                d["packages"]["testdeb"]["xenial"]["main"]["all"][3]["filename"] =
                    Value::from("x".repeat(1500))
            }),
            vec![format!("{leaf}[3].filename: value of 1500 bytes exceeds")],
        ),
        (
            "too many attributes",
            edit(&|d| {
                let item = d["packages"]["testdeb"]["xenial"]["main"]["all"][4]
                    .as_object_mut()
                    .unwrap();
                for i in 0..260 {
                    item.insert(format!("extra{i}"), Value::from("v"));
                }
            }),
            vec![format!("{leaf}[4]: 2")],
        ),
        (
            "non-UTF-8",
            {
                let mut b = good.clone().into_bytes();
                let at = good.find("Nathan Mehl").unwrap();
                b[at] = 0xff;
                b
            },
            vec!["input: not UTF-8".into()],
        ),
        (
            "metadata not string lists",
            edit(&|d| d["metadata"]["dists"] = serde_json::json!([1, "x"])),
            vec!["metadata.dists[0]: expected a string, found a number".into()],
        ),
    ];
    for (what, bytes, wants) in cases {
        let path = r.write(&format!("{}.json", what.replace(' ', "-")), &bytes);
        let (_, err) = r.fail_out(&["restore", &path]);
        for want in &wants {
            assert!(
                err.contains(want.as_str()),
                "{what}: {want:?} not in:\n{err}"
            );
        }
        assert!(err.contains("nothing was written"), "{what}: {err}");
        assert_eq!(r.backup(), before, "{what} changed the store");
        assert_eq!(r.announcements().len(), announced, "{what} announced");
    }
}

#[test]
fn many_problems_are_all_counted_and_the_list_is_capped() {
    let r = Repo::new();
    let items: Vec<Value> = (0..120)
        .map(|i| serde_json::json!({"name": "p", "version": format!("{i}")}))
        .collect();
    let doc =
        serde_json::json!({"metadata": {}, "packages": {"p": {"d": {"c": {"amd64": items}}}}});
    let path = r.write("many.json", doc.to_string().as_bytes());
    let (_, err) = r.fail_out(&["restore", &path]);
    let listed = err
        .lines()
        .filter(|l| l.contains("packages.p.d.c.amd64["))
        .count();
    assert_eq!(listed, 50, "{err}");
    assert!(err.contains("more problems"), "{err}");
    // Per item: distribution, component, architecture and the five
    // binary attributes are missing.
    assert!(err.contains("not a valid backup (960 problem(s)"), "{err}");
    assert!(!r.catalog().meta().domain_exists().unwrap());
}

// ---------------------------------------------------------------------------
// Interrupted restores converge; --dry-run; --prune; filters.

#[test]
fn a_restore_stopped_part_way_converges_when_run_again() {
    let clean = Repo::new();
    clean.restore_fixture();
    let want = clean.backup();

    let r = Repo::new();
    let fixture = original("repoman-1.0.7-backup.json");
    // The store stops accepting writes after 10 items, as if the process
    // were killed there.
    let mut backend = repoman::embedded::open(&r.local(), None).unwrap();
    backend.meta = Box::new(FailingMeta::after(backend.meta, 10));
    let failing = Catalog::new(backend);
    let req = RestoreRequest {
        source: fixture.display().to_string(),
        ..RestoreRequest::default()
    };
    let mut input = Input::File(std::fs::File::open(&fixture).unwrap());
    let checked = restore::check(&mut input, &req).unwrap();
    let plan = restore::plan(&failing, &checked, &req).unwrap();
    assert!(restore::apply(&failing, &mut input, &checked, &plan, &req, &mut |_, _| {}).is_err());
    drop(failing);
    let cat = r.catalog();
    assert_eq!(cat.find_items(&Filter::default()).unwrap().len(), 10);
    // The configuration goes last: not written yet.
    assert!(cat.meta().get(META_ITEM).unwrap().is_none());
    assert!(r.announcements().is_empty());

    let plan = r.ok(&["restore", "--dry-run", fixture.to_str().unwrap()]);
    assert!(
        plan.contains("17 new, 0 changed, 10 unchanged, 0 to prune, configuration changed"),
        "{plan}"
    );
    r.restore_fixture();
    assert_eq!(r.backup(), want);
    let ann = r.announcements();
    assert_eq!(
        (ann[0]["added"].as_u64(), ann[0]["unchanged"].as_u64()),
        (Some(17), Some(10))
    );
}

/// `hello_item` as package `name` of `version`.
fn item_named(name: &str, version: &str) -> Value {
    let mut i = hello_item();
    i["name"] = name.into();
    i["version"] = version.into();
    i["filename"] = format!("{name}_{version}_amd64.deb").into();
    i["controltxt0"] =
        format!("Package: {name}\nVersion: {version}\nArchitecture: amd64\nDescription: hi\n")
            .into();
    i
}

#[test]
fn a_large_restore_goes_in_chunks_whether_or_not_the_backup_is_in_name_order() {
    let n = restore::CHUNK * 2 + 500;
    let items: Vec<Value> = (0..n)
        .map(|i| item_named(&format!("p{i:05}"), "1.0"))
        .collect();
    for reversed in [false, true] {
        let r = Repo::new();
        // Before: the first 1000 items, 10 of them with another size, and
        // 5 the backup lacks.
        let mut before: Vec<Value> = items[..1000].to_vec();
        for i in before.iter_mut().take(10) {
            i["size"] = "4".into();
        }
        before.extend((0..5).map(|i| item_named(&format!("zz{i}"), "1.0")));
        let path = r.write("before.json", backup_of(&before).to_string().as_bytes());
        r.ok(&["restore", &path]);
        let mut order = items.clone();
        if reversed {
            order.reverse();
        }
        let path = r.write("all.json", backup_of(&order).to_string().as_bytes());
        let dry = r.ok(&["restore", "--dry-run", "--prune", &path]);
        assert!(
            dry.contains(&format!(
                "{} new, 10 changed, 990 unchanged, 5 to prune",
                n - 1000
            )),
            "{dry}"
        );
        assert!(
            dry.contains("changed: p00003 1.0 stable/main/amd64: size (digest)"),
            "{dry}"
        );
        r.ok(&["restore", "--prune", "-y", &path]);
        let fresh = Repo::new();
        fresh.ok(&["restore", &path]);
        assert_eq!(r.backup(), fresh.backup(), "reversed: {reversed}");
    }
}

#[test]
fn a_backup_changed_between_its_two_readings_is_not_written() {
    let r = Repo::new();
    let items: Vec<Value> = (0..10)
        .map(|i| item_named(&format!("p{i}"), "1.0"))
        .collect();
    let path = r.write("b.json", backup_of(&items).to_string().as_bytes());
    let req = RestoreRequest {
        source: path.clone(),
        ..RestoreRequest::default()
    };
    let cat = r.catalog();
    let mut input = Input::File(std::fs::File::open(&path).unwrap());
    let checked = restore::check(&mut input, &req).unwrap();
    let plan = restore::plan(&cat, &checked, &req).unwrap();
    // Another valid backup takes its place, in the same file.
    let mut other = items.clone();
    other[3]["size"] = "9".into();
    std::fs::write(&path, backup_of(&other).to_string()).unwrap();
    let e = restore::apply(&cat, &mut input, &checked, &plan, &req, &mut |_, _| {}).unwrap_err();
    assert!(
        format!("{e:#}").contains("changed while it was being restored"),
        "{e:#}"
    );
    assert!(cat.find_items(&Filter::default()).unwrap().is_empty());
    assert!(cat.meta().get(META_ITEM).unwrap().is_none());
    assert!(r.announcements().is_empty());
}

#[test]
fn dry_run_reports_changes_and_writes_nothing() {
    let r = Repo::new();
    r.restore_fixture();
    let fixture = original("repoman-1.0.7-backup.json");
    // Diverge from the backup: remove one package, change another, drop
    // a distribution from the configuration.
    r.ok(&["rm", "-p", "hashicorp-consul-template", "-a", "i386", "-y"]);
    let cat = r.catalog();
    let victim = cat
        .find(&Filter {
            names: vec!["testdeb".into()],
            dists: vec!["jessie".into()],
            archs: vec!["amd64".into()],
            ..Filter::default()
        })
        .unwrap()
        .remove(0);
    cat.meta()
        .apply(&[Change::Put {
            item: victim.key(),
            attrs: [("size".to_string(), vec!["1".to_string()])]
                .into_iter()
                .collect(),
            remove: vec![],
        }])
        .unwrap();
    r.ok(&["repo", "rm-distribution", "jessie", "-y"]);
    let before = r.backup();
    let announced = r.announcements().len();

    let out = r.ok(&["restore", "--dry-run", fixture.to_str().unwrap()]);
    assert!(
        out.contains("new: hashicorp-consul-template 0.15-tcc01 xenial/main/i386"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "changed: testdeb {} jessie/main/amd64: size",
            victim.version
        )),
        "{out}"
    );
    assert!(out.contains("configuration: dists: +\"jessie\""), "{out}");
    assert!(
        out.contains("1 new, 1 changed, 25 unchanged, 0 to prune, configuration changed"),
        "{out}"
    );
    assert_eq!(r.backup(), before);
    assert_eq!(r.announcements().len(), announced);

    r.restore_fixture();
    let fresh = Repo::new();
    fresh.restore_fixture();
    assert_eq!(r.backup(), fresh.backup());
}

#[test]
fn prune_deletes_what_the_backup_lacks_with_confirmation() {
    let r = Repo::new();
    r.restore_fixture();
    let small = r.path().join("small.json");
    r.ok(&[
        "backup",
        "-p",
        "testdeb",
        "-d",
        "jessie",
        "-o",
        small.to_str().unwrap(),
    ]);
    let small = small.to_str().unwrap();
    // 25 deletions: needs -y and --i-fear-no-evil without a terminal.
    let before = r.backup();
    let (out, err) = r.fail_out(&["restore", "--prune", small]);
    assert!(out.contains("apt-transport-s3"), "{out}");
    assert!(err.contains("dangerous"), "{err}");
    r.fail_out(&["restore", "--prune", "-y", small]);
    assert_eq!(r.backup(), before);

    // Within a filter only that filter's items are pruned.
    let dry = r.ok(&[
        "restore",
        "--prune",
        "--dry-run",
        "-p",
        "apt-transport-s3",
        small,
    ]);
    assert!(
        dry.contains("0 new, 0 changed, 0 unchanged, 2 to prune"),
        "{dry}"
    );
    r.ok(&["restore", "--prune", "-y", "-p", "apt-transport-s3", small]);
    let ann = r.announcements();
    let deletes: Vec<&Value> = ann.iter().filter(|m| m["action"] == "delete").collect();
    assert_eq!(deletes.len(), 2);
    assert!(deletes
        .iter()
        .all(|m| m["name"] == "apt-transport-s3" && m["caller"].is_string()));
    let last_restore = ann.iter().rev().find(|m| m["action"] == "restore").unwrap();
    assert_eq!(last_restore["pruned"], 2);

    r.ok(&["restore", "--prune", "-y", "--i-fear-no-evil", small]);
    let left = r.catalog().find_items(&Filter::default()).unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(
        normalized(&serde_json::from_str(&r.backup()).unwrap()),
        normalized(
            &serde_json::from_str(&std::fs::read_to_string(r.path().join("small.json")).unwrap())
                .unwrap()
        )
    );
}

#[test]
fn filters_restore_a_subset_and_keep_the_configuration() {
    let r = Repo::new();
    r.ok(&["setup", "-d", "jessie", "-c", "main", "-a", "amd64"]);
    let fixture = original("repoman-1.0.7-backup.json");
    let out = r.run(&[
        "restore",
        "-d",
        "jessie",
        "-a",
        "amd64",
        fixture.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keeps the current configuration"), "{err}");
    let items = r.catalog().find(&Filter::default()).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0].distribution.as_str(),
            items[0].architecture.as_str()
        ),
        ("jessie", "amd64")
    );
    let show = r.ok(&["repo", "show-config"]);
    assert!(!show.contains("xenial"), "{show}");
}

// ---------------------------------------------------------------------------
// Where backups go.

#[test]
fn backups_are_written_atomically_and_kept_in_the_bucket() {
    let r = Repo::new();
    r.restore_fixture();
    let stdout = r.backup();
    let file = r.path().join("out/b.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    r.ok(&["backup", "-o", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stdout);
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);

    // Byte-identical output for identical state.
    assert_eq!(r.backup(), stdout);

    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(r.ok(&["backup", "--to-bucket"]).trim().to_string());
    }
    for k in &keys {
        assert!(
            k.starts_with("backups/local/") && k.ends_with(".json.gz"),
            "{k}"
        );
        let bytes = std::fs::read(r.bucket().join(k)).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    }
    let list = r.ok(&["backup", "list"]);
    assert_eq!(list.lines().count(), 2 + 3, "{list}");
    assert!(
        list.lines()
            .skip(2)
            .all(|l| l.split_whitespace().nth(2) == Some("27")),
        "{list}"
    );

    // Restore from the bucket into another repository sharing the bucket.
    let other = Repo::new();
    std::fs::create_dir_all(other.local()).unwrap();
    copy_dir(&r.bucket(), &other.bucket());
    other.ok(&["restore", "--from-bucket", &keys[1]]);
    assert_eq!(other.backup(), stdout);
    assert_eq!(other.announcements()[0]["name"], keys[1].as_str());

    let cleaned = r.ok(&["backup", "clean", "1", "-y"]);
    assert_eq!(cleaned.lines().count(), 2, "{cleaned}");
    let list = r.ok(&["backup", "list"]);
    assert!(
        list.contains(&keys[2]) && !list.contains(&keys[0]),
        "{list}"
    );
    // Package files are never touched.
    assert!(r.bucket().join("backups").is_dir());
}

#[test]
fn stdin_and_gzip_input_are_accepted() {
    let r = Repo::new();
    r.restore_fixture();
    let want = r.backup();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(want.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let other = Repo::new();
    let mut child = other
        .cmd()
        .args(["restore", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&gz).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(other.backup(), want);
}

#[test]
fn backup_takes_the_query_filters() {
    let r = Repo::new();
    r.restore_fixture();
    let doc: Value = serde_json::from_str(&r.ok(&[
        "backup", "-p", "test", "-w", "-d", "xenial", "-c", "release", "-a", "amd64",
    ]))
    .unwrap();
    let names: Vec<&String> = doc["packages"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["testdeb"]);
    let dists: Vec<&String> = doc["packages"]["testdeb"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(dists, ["xenial"]);
    assert_eq!(
        doc["packages"]["testdeb"]["xenial"]["release"]["amd64"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        doc["metadata"]["origin"],
        serde_json::json!(["climate.com"])
    );
    let v: Value = serde_json::from_str(&r.ok(&["backup", "-v", "1.1.0-test"])).unwrap();
    assert!(v["packages"].as_object().unwrap().is_empty());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// verify and --from-published on real packages.

/// A repository with the real Debian packages and the hello source.
fn real_repo() -> Repo {
    let r = Repo::new();
    r.ok(&[
        "setup", "-d", "stable", "-d", "testing", "-c", "main", "-c", "contrib", "-a", "amd64",
        "-a", "i386",
    ]);
    let mut args: Vec<String> = vec![
        "add".into(),
        "-d".into(),
        "stable".into(),
        "-c".into(),
        "main".into(),
    ];
    for f in [
        "hello_2.10-3_amd64.deb",
        "sensible-utils_0.0.17+nmu1_all.deb",
        "libzstd1_1.5.4+dfsg2-5_amd64.deb",
        "hello_2.10-3.dsc",
    ] {
        args.push(real(f).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    r.ok(&args);
    r.ok(&[
        "add",
        "-d",
        "testing",
        "-c",
        "contrib",
        real("sensible-utils_0.0.17+nmu1_all.deb").to_str().unwrap(),
    ]);
    r
}

/// The metadata store is lost (its WAL files too).
fn lose_state(r: &Repo) {
    for e in std::fs::read_dir(r.local()).unwrap().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with("repoman.sqlite")
        {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}

/// Publishes every distribution (unsigned).
fn publish(r: &Repo) {
    r.ok(&["publish"]);
    assert!(r.bucket().join("dists/stable/Release").is_file());
}

#[test]
fn verify_finds_deleted_and_corrupted_pool_files() {
    let r = real_repo();
    publish(&r);
    let out = r.run(&["verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0 problem(s)"), "{err}");

    let deleted = "pool/stable/h/hello/hello_2.10-3_amd64.deb";
    std::fs::remove_file(r.bucket().join(deleted)).unwrap();
    // Same size, different bytes: only the checksum can tell.
    let corrupted = "pool/stable/l/libzstd1/libzstd1_1.5.4+dfsg2-5_amd64.deb";
    let mut bytes = std::fs::read(r.bucket().join(corrupted)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(r.bucket().join(corrupted), &bytes).unwrap();
    // A source file cut short: its .dsc says how big it must be.
    let orig = "pool/stable/h/hello/hello_2.10.orig.tar.gz";
    let b = std::fs::read(r.bucket().join(orig)).unwrap();
    std::fs::write(r.bucket().join(orig), &b[..100]).unwrap();

    let (stdout, stderr) = r.fail_out(&["verify"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("missing: {deleted}"))),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("sha256: {corrupted}"))),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("size: {orig} is 100 bytes"))),
        "{stdout}"
    );
    assert!(stderr.contains("3 problem(s)"), "{stderr}");

    // --fast checks sizes only: the same-size corruption goes unseen.
    let (fast, _) = r.fail_out(&["verify", "--fast"]);
    assert_eq!(fast.lines().count(), 2, "{fast}");
    assert!(!fast.contains(corrupted));
    // -d limits the check.
    let out = r.run(&["verify", "-d", "testing"]);
    assert!(out.status.success());
}

#[test]
fn verify_finds_stale_indices() {
    let r = real_repo();
    publish(&r);
    r.ok(&["rm", "-p", "libzstd1", "-y"]);
    let (stdout, _) = r.fail_out(&["verify"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for l in &lines {
        assert!(
            l.starts_with("index: dists/stable/main/binary-amd64/Packages"),
            "{l}"
        );
        assert!(
            l.contains("differs from what publish would write now"),
            "{l}"
        );
    }
    // An index changed behind the Release's back: clients would see a hash
    // sum mismatch.
    let i386 = r
        .bucket()
        .join("dists/testing/contrib/binary-i386/Packages");
    let mut text = std::fs::read(&i386).unwrap();
    text.extend_from_slice(b"Package: intruder\n\n");
    std::fs::write(&i386, text).unwrap();
    let (stdout, _) = r.fail_out(&["verify", "-d", "testing"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("index: dists/testing/contrib/binary-i386/Packages: differs"),
        "{stdout}"
    );
    assert!(
        lines[1]
            .starts_with("release: dists/testing/Release lists contrib/binary-i386/Packages with"),
        "{stdout}"
    );
}

#[test]
fn from_published_recovers_the_items_and_the_configuration() {
    let r = real_repo();
    r.ok(&["repo", "add-origin", "Example", "-y"]);
    publish(&r);
    let want = r.backup();
    // Added after the publish: only its pool files remain to tell.
    r.ok(&[
        "add",
        "-d",
        "testing",
        "-c",
        "main",
        real("libzstd1_1.5.4+dfsg2-5_amd64.deb").to_str().unwrap(),
    ]);

    // Only the gzipped form of some indices is read.
    for plain in [
        "dists/testing/contrib/binary-amd64/Packages",
        "dists/stable/main/source/Sources",
    ] {
        std::fs::remove_file(r.bucket().join(plain)).unwrap();
    }
    lose_state(&r);
    let dry = r.ok(&["restore", "--from-published", "--dry-run"]);
    assert!(dry.contains("5 new, 0 changed, 0 unchanged"), "{dry}");
    let out = r.run(&["restore", "--from-published"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pool/testing/l/libzstd1/libzstd1_1.5.4+dfsg2-5_amd64.deb"),
        "{err}"
    );

    let got: Value = serde_json::from_str(&r.backup()).unwrap();
    let want: Value = serde_json::from_str(&want).unwrap();
    assert_eq!(got["packages"], want["packages"]);
    for k in ["dists", "comps", "archs", "origin"] {
        let set = |v: &Value| {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(set(&got["metadata"]), set(&want["metadata"]), "{k}");
    }
    let ann = r.announcements();
    let last = ann.last().unwrap();
    assert_eq!(last["action"], "restore");
    assert!(last["name"].as_str().unwrap().starts_with("published:"));
    assert_eq!(last["added"], 5);
}

#[test]
fn from_published_reports_unreadable_stanzas_and_exits_non_zero() {
    let r = real_repo();
    publish(&r);
    let packages = r.bucket().join("dists/stable/main/binary-i386/Packages");
    let text = std::fs::read_to_string(&packages).unwrap();
    std::fs::write(&packages, format!("{text}Package: broken\nVersion: 1\n\n")).unwrap();
    lose_state(&r);
    let (_, err) = r.fail_out(&["restore", "--from-published", "-d", "stable"]);
    assert!(
        err.contains("dists/stable/main/binary-i386/Packages stanza 2: no Filename field"),
        "{err}"
    );
    // What could be recovered was restored.
    assert_eq!(r.catalog().find_items(&Filter::default()).unwrap().len(), 4);
}

#[test]
fn oversize_control_text_is_re_split_to_fit_and_empty_repositories_back_up() {
    let r = Repo::new();
    r.ok(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    assert_eq!(
        r.backup(),
        "{\"metadata\": {\"archs\": [\"amd64\"], \"comps\": [\"main\"], \"dists\": [\"stable\"]}, \"packages\": {}}\n"
    );
    // One fragment of 3,000 bytes (the original's readers concatenate any
    // fragments): too big for one SimpleDB value, so it is re-split.
    let text = format!(
        "Package: big\nVersion: 1\nArchitecture: amd64\nDescription: {}\n",
        "✓".repeat(990)
    );
    let item = serde_json::json!({
        "name": "big", "version": "1", "distribution": "stable", "component": "main",
        "architecture": "amd64", "filename": "big_1_amd64.deb", "md5": "0".repeat(32),
        "sha1": "1".repeat(40), "sha256": "2".repeat(64), "size": "3", "controltxt0": text,
    });
    let doc = serde_json::json!({"metadata": {"dists": ["stable"], "comps": ["main"], "archs": ["amd64"]},
                                 "packages": {"big": {"stable": {"main": {"amd64": [item]}}}}});
    let path = r.write("big.json", doc.to_string().as_bytes());
    let out = r.run(&["restore", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("packages.big.stable.main.amd64[0]: control text re-split"));
    let attrs = r
        .catalog()
        .find_items(&Filter::default())
        .unwrap()
        .remove(0)
        .attrs;
    let fragments: Vec<&String> = attrs
        .keys()
        .filter(|k| k.starts_with("controltxt"))
        .collect();
    assert!(fragments.len() > 1, "{fragments:?}");
    assert!(attrs.values().flatten().all(|v| v.len() <= 1024));
    assert_eq!(repoman::model::join_control_text(&attrs), text);
    let p = Package::from_attrs(&attrs).unwrap();
    assert_eq!(p.control, text);
}

// ---------------------------------------------------------------------------
// Every restored value follows the rules an added one follows.

/// A valid binary item of `hello` in stable/main/amd64, as a backup has it.
fn hello_item() -> Value {
    serde_json::json!({
        "name": "hello", "version": "1.0", "distribution": "stable", "component": "main",
        "architecture": "amd64", "filename": "hello_1.0_amd64.deb", "md5": "0".repeat(32),
        "sha1": "1".repeat(40), "sha256": "2".repeat(64), "size": "3",
        "controltxt0": "Package: hello\nVersion: 1.0\nArchitecture: amd64\nDescription: hi\n",
    })
}

/// A backup of `items`, each placed in the tree by its own attributes.
fn backup_of(items: &[Value]) -> Value {
    let mut packages = serde_json::Map::new();
    for i in items {
        let s = |k: &str| i[k].as_str().unwrap().to_string();
        let slot = packages
            .entry(s("name"))
            .or_insert(serde_json::json!({}))
            .as_object_mut()
            .unwrap()
            .entry(s("distribution"))
            .or_insert(serde_json::json!({}))
            .as_object_mut()
            .unwrap()
            .entry(s("component"))
            .or_insert(serde_json::json!({}))
            .as_object_mut()
            .unwrap()
            .entry(s("architecture"))
            .or_insert(serde_json::json!([]));
        slot.as_array_mut().unwrap().push(i.clone());
    }
    serde_json::json!({
        "metadata": {"dists": ["stable"], "comps": ["main"], "archs": ["amd64"]},
        "packages": packages,
    })
}

/// Backups that each break one rule `add` enforces (the injections seen:
/// a stanza or fields smuggled into an index, names leaving their
/// directory, configuration names that address other distributions).
fn hostile_backups() -> Vec<(&'static str, Value)> {
    let with = |k: &str, v: Value| {
        let mut i = hello_item();
        i[k] = v;
        backup_of(&[i])
    };
    let placed = |k: &str, v: &str| {
        let mut i = hello_item();
        i[k] = serde_json::json!(v);
        if k == "name" {
            i["controltxt0"] =
                serde_json::json!(format!("Package: {v}\nVersion: 1.0\nArchitecture: amd64\n"));
        }
        backup_of(&[i])
    };
    let config = |k: &str, v: &str| {
        let mut d = backup_of(&[hello_item()]);
        d["metadata"][k] = serde_json::json!([v]);
        d
    };
    let mut source = hello_item();
    let o = source.as_object_mut().unwrap();
    for k in ["filename", "md5", "sha1", "sha256", "size"] {
        o.remove(k);
    }
    o.insert("architecture".into(), "source".into());
    o.insert(
        "files".into(),
        serde_json::json!(["hello_1.0.dsc", "../../x"]),
    );
    o.insert(
        "controltxt0".into(),
        format!(
            "Source: hello\nVersion: 1.0\nFiles:\n {0} 1 hello_1.0.dsc\n {0} 1 ../../x\n",
            "0".repeat(32)
        )
        .into(),
    );
    vec![
        (
            "filename with a newline",
            with("filename", "x.deb\nPackage: evil\nVersion: 6.6.6".into()),
        ),
        (
            "control text with a second stanza",
            with(
                "controltxt0",
                "Package: hello\nVersion: 1.0\nArchitecture: amd64\n\nPackage: evil\nVersion: 6\n"
                    .into(),
            ),
        ),
        (
            "control text naming another package",
            with(
                "controltxt0",
                "Package: openssl\nVersion: 1.0\nArchitecture: amd64\n".into(),
            ),
        ),
        ("filename ..", with("filename", "..".into())),
        (
            "version with a newline",
            placed("version", "1.0\nFilename: x"),
        ),
        ("name with ../", placed("name", "../../hello")),
        ("distribution with ../", placed("distribution", "../x")),
        ("component with /", placed("component", "main/binary-amd64")),
        (
            "architecture with a space",
            placed("architecture", "amd 64"),
        ),
        (
            "digest of the wrong alphabet",
            with("sha256", "Z".repeat(64).into()),
        ),
        ("size that is no number", with("size", "1e3".into())),
        ("source files with ../", backup_of(&[source])),
        (
            "dists naming another Release",
            config("dists", "stable/main/binary-amd64"),
        ),
        ("dists leaving dists/", config("dists", "../../x")),
        ("comps with ..", config("comps", "..")),
        ("archs with /", config("archs", "amd64/../x")),
    ]
}

#[test]
fn restore_refuses_what_add_refuses_from_every_source() {
    let r = Repo::new();
    r.ok(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    let before = r.backup();
    for (what, doc) in hostile_backups() {
        let raw = doc.to_string();
        let path = r.write("bad.json", raw.as_bytes());
        let err = r.fail(&["restore", "-y", &path]);
        assert!(err.contains("not a valid backup"), "{what}: {err}");
        // Standard input and a backup stored in the bucket: the same rules.
        let mut child = r
            .cmd()
            .args(["restore", "-y", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(raw.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{what}: stdin restore succeeded");
        let stored = r.bucket().join("backups/local/20260101T000000Z.json.gz");
        std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
        std::fs::write(&stored, raw.as_bytes()).unwrap();
        let err = r.fail(&["restore", "-y", "--from-bucket", "20260101T000000Z"]);
        assert!(err.contains("not a valid backup"), "{what}: {err}");
        assert_eq!(r.backup(), before, "{what}: something was written");
    }
    // The untouched item restores: the rules refuse the hostile values only.
    let good = r.write(
        "good.json",
        backup_of(&[hello_item()]).to_string().as_bytes(),
    );
    r.ok(&["restore", "-y", &good]);
}

#[test]
fn restore_from_published_refuses_an_index_that_breaks_the_rules() {
    let r = Repo::new();
    r.ok(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    r.ok(&[
        "add",
        "-d",
        "stable",
        "-c",
        "main",
        real("hello_2.10-3_amd64.deb").to_str().unwrap(),
    ]);
    r.ok(&["publish"]);
    let packages = r.bucket().join("dists/stable/main/binary-amd64/Packages");
    let text = std::fs::read_to_string(&packages).unwrap();
    // A stanza whose control text claims another version than its own
    // file name says: recovered, it would not be one paragraph any more.
    let evil = text.replace("Version: 2.10-3\n", "Version: 2.10-3 evil\n");
    assert_ne!(evil, text);
    std::fs::write(&packages, evil).unwrap();
    std::fs::remove_file(
        r.bucket()
            .join("dists/stable/main/binary-amd64/Packages.gz"),
    )
    .unwrap();
    lose_state(&r);
    let err = r.fail(&["restore", "-y", "--from-published"]);
    assert!(err.contains("invalid Debian version"), "{err}");
    let cat = r.catalog();
    assert!(
        !cat.meta().domain_exists().unwrap()
            || cat.find_items(&Filter::default()).unwrap().is_empty()
    );
}

#[test]
fn a_backup_without_configuration_lists_needs_to_be_asked_for() {
    let r = Repo::new();
    r.ok(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    let mut doc = backup_of(&[hello_item()]);
    doc["metadata"] = serde_json::json!({"dists": ["stable"]});
    let path = r.write("partial.json", doc.to_string().as_bytes());
    let err = r.fail(&["restore", "-y", &path]);
    assert!(
        err.contains("no comps, archs") && err.contains("--allow-missing-config"),
        "{err}"
    );
    assert!(r
        .catalog()
        .find_items(&Filter::default())
        .unwrap()
        .is_empty());
    r.ok(&["restore", "-y", "--allow-missing-config", &path]);
    let cat = r.catalog();
    assert_eq!(cat.find_items(&Filter::default()).unwrap().len(), 1);
    // The configuration is kept whole, not replaced by the partial one.
    let config = cat.config().unwrap();
    assert_eq!(config.comps, ["main"]);
    assert_eq!(config.stored_archs, ["amd64"]);
}

#[test]
fn publish_rechecks_what_is_stored_and_verify_reports_every_bad_item() {
    let r = Repo::new();
    r.ok(&["setup", "-d", "stable", "-c", "main", "-a", "amd64"]);
    r.ok(&[
        "add",
        "-d",
        "stable",
        "-c",
        "main",
        real("hello_2.10-3_amd64.deb").to_str().unwrap(),
    ]);
    // Items written by another tool, straight into the store.
    let cat = r.catalog();
    let put = |name: &str, filename: &str, control: &str| {
        let p = Package {
            name: name.into(),
            version: "1.0".into(),
            distribution: "stable".into(),
            component: "main".into(),
            architecture: "amd64".into(),
            payload: Payload::Binary {
                filename: filename.into(),
                md5: "0".repeat(32),
                sha1: "1".repeat(40),
                sha256: "2".repeat(64),
                size: 3,
            },
            control: control.into(),
        };
        cat.meta()
            .apply(&[Change::Put {
                item: p.key(),
                attrs: p.to_attrs().unwrap(),
                remove: vec![],
            }])
            .unwrap();
    };
    put(
        "evil",
        "evil.deb\nPackage: openssl",
        "Package: evil\nVersion: 1.0\nArchitecture: amd64\n",
    );
    put(
        "stanza",
        "stanza.deb",
        "Package: stanza\nVersion: 1.0\nArchitecture: amd64\n\nPackage: openssl\nVersion: 9\n",
    );
    let err = r.fail(&["publish"]);
    assert!(
        err.contains("2 stored package(s)") && err.contains("cannot be published"),
        "{err}"
    );
    assert!(!r.bucket().join("dists/stable/Release").exists());
    let (out, _) = r.fail_out(&["verify"]);
    for name in ["evil", "stanza"] {
        assert!(
            out.lines().any(|l| l.contains(&format!(
                ": {name} \"1.0\" stable/main/amd64: cannot be published"
            ))),
            "{name} not reported: {out}"
        );
    }
    // A configuration another tool stored: its names are checked too.
    cat.meta()
        .apply(&[Change::AddValue {
            item: META_ITEM.into(),
            attr: "dists".into(),
            value: "../../x".into(),
        }])
        .unwrap();
    let err = r.fail(&["publish"]);
    assert!(err.contains("the stored configuration is invalid"), "{err}");
    assert!(!r.path().join("x").exists() && !r.local().join("x").exists());
}

// ---------------------------------------------------------------------------
// Incremental backups: chains that replay to the full backup of each point.

/// The original's fixture changed step by step: a package name removed,
/// one item of a name removed, the name added back with a new
/// distribution configured, the label changed, nothing changed.
fn chain_steps() -> Vec<Value> {
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(original("repoman-1.0.7-backup.json")).unwrap())
            .unwrap();
    let mut steps = vec![doc.clone()];
    let consul = doc["packages"]
        .as_object_mut()
        .unwrap()
        .shift_remove("hashicorp-consul-template")
        .unwrap();
    steps.push(doc.clone());
    doc["packages"]["testdeb"]["xenial"]["main"]["all"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    steps.push(doc.clone());
    doc["packages"]
        .as_object_mut()
        .unwrap()
        .insert("hashicorp-consul-template".into(), consul);
    doc["metadata"]["dists"]
        .as_array_mut()
        .unwrap()
        .push("stretch".into());
    steps.push(doc.clone());
    doc["metadata"]["label"] = serde_json::json!(["changed"]);
    steps.push(doc.clone());
    steps.push(doc);
    steps
}

/// Makes the state equal `doc`, and returns `backup`'s output for it.
fn set_state(r: &Repo, doc: &Value) -> String {
    let file = r.write("state.json", doc.to_string().as_bytes());
    r.ok(&["restore", "--prune", "-y", "--i-fear-no-evil", &file]);
    r.backup()
}

#[test]
fn an_incremental_chain_restores_every_point_byte_for_byte() {
    let r = Repo::new();
    let mut want = Vec::new();
    let mut keys = Vec::new();
    for (i, doc) in chain_steps().iter().enumerate() {
        want.push(set_state(&r, doc));
        let args: &[&str] = if i == 0 {
            &["backup", "--to-bucket"]
        } else {
            &["backup", "--to-bucket", "--incremental"]
        };
        keys.push(r.ok(args).trim().to_string());
    }
    // Each increment holds only what changed.
    let list = r.ok(&["backup", "list"]);
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let cols: Vec<(&str, &str, &str, &str)> =
        rows.iter().map(|c| (c[2], c[3], c[4], c[5])).collect();
    let base = |k: &String| k.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        cols,
        [
            ("27", "-", "full", "-"),
            ("0", "1", "incremental", base(&keys[0]).as_str()),
            ("22", "0", "incremental", base(&keys[1]).as_str()),
            ("2", "0", "incremental", base(&keys[2]).as_str()),
            ("0", "0", "incremental", base(&keys[3]).as_str()),
            ("0", "0", "incremental", base(&keys[4]).as_str()),
        ],
        "{list}"
    );

    // The replayed chain is the full backup of that point, byte for byte.
    let cat = r.catalog();
    for (key, want) in keys.iter().zip(&want) {
        let (bytes, k) = repoman::backup::stored::load(&cat, key, None).unwrap();
        assert_eq!(&k, key);
        let json = repoman::backup::validate::decompress(&bytes).unwrap();
        assert_eq!(String::from_utf8(json).unwrap(), *want, "{key}");
    }

    // Restored through the binary, into a fresh store, at every point, and
    // then stepping back and forth in one store.
    let other = Repo::new();
    copy_dir(&r.bucket(), &other.bucket());
    for (key, want) in keys.iter().zip(&want) {
        let fresh = Repo::new();
        copy_dir(&r.bucket(), &fresh.bucket());
        fresh.ok(&["restore", "--from-bucket", key]);
        assert_eq!(fresh.backup(), *want, "{key}");
        other.ok(&["restore", "--from-bucket", key, "--prune", "-y"]);
        assert_eq!(other.backup(), *want, "{key}");
    }
    other.ok(&["restore", "--from-bucket", &keys[1], "--prune", "-y"]);
    other.ok(&["restore", "--from-bucket", "latest", "--prune", "-y"]);
    assert_eq!(other.backup(), want[5]);
    let ann = other.announcements();
    let last = ann.iter().rev().find(|m| m["action"] == "restore").unwrap();
    assert_eq!(last["name"], keys[5].as_str());
}

#[test]
fn an_increment_without_its_sidecar_is_no_restore_point_and_no_base() {
    let r = Repo::new();
    let steps = chain_steps();
    set_state(&r, &steps[0]);
    let full = r.ok(&["backup", "--to-bucket"]).trim().to_string();
    set_state(&r, &steps[1]);
    let crashed = r
        .ok(&["backup", "--to-bucket", "--incremental"])
        .trim()
        .to_string();
    // As if the process died between the data and its sidecar.
    let sidecar = r
        .bucket()
        .join(crashed.strip_suffix(".json.gz").unwrap().to_string() + ".info");
    std::fs::remove_file(sidecar).unwrap();
    let list = r.ok(&["backup", "list"]);
    assert!(
        list.lines().last().unwrap().contains("incomplete"),
        "{list}"
    );

    let want = set_state(&r, &steps[2]);
    let next = r
        .ok(&["backup", "--to-bucket", "--incremental"])
        .trim()
        .to_string();
    let list = r.ok(&["backup", "list"]);
    let row = list.lines().find(|l| l.contains(&next)).unwrap();
    assert!(row.contains(full.rsplit('/').next().unwrap()), "{list}");

    let other = Repo::new();
    copy_dir(&r.bucket(), &other.bucket());
    other.ok(&["restore", "--from-bucket", "latest"]);
    assert_eq!(other.backup(), want);
}

#[test]
fn an_increment_on_a_replaced_base_is_refused_and_nothing_is_written() {
    let r = Repo::new();
    let steps = chain_steps();
    set_state(&r, &steps[0]);
    let full = r.ok(&["backup", "--to-bucket"]).trim().to_string();
    set_state(&r, &steps[1]);
    let inc = r
        .ok(&["backup", "--to-bucket", "--incremental"])
        .trim()
        .to_string();
    // The increment is an object of its own format, not a full backup.
    let raw = std::fs::read(r.bucket().join(&inc)).unwrap();
    let doc: Value =
        serde_json::from_slice(&repoman::backup::validate::decompress(&raw).unwrap()).unwrap();
    assert_eq!(doc["format"], "repoman-increment-1");
    assert_eq!(doc["base"], full.as_str());
    assert_eq!(
        doc["removed"],
        serde_json::json!(["hashicorp-consul-template"])
    );

    // A base replaced together with its sidecar (what a sidecar check
    // alone would accept) breaks the chain.
    let other = Repo::new();
    copy_dir(&r.bucket(), &other.bucket());
    let stem = full.strip_suffix(".json.gz").unwrap().to_string();
    let fake = repoman::backup::stored::gzip(b"{\"metadata\": {}, \"packages\": {}}\n").unwrap();
    let mut info: Value = serde_json::from_slice(
        &std::fs::read(other.bucket().join(format!("{stem}.info"))).unwrap(),
    )
    .unwrap();
    info["sha256"] = hex::encode(sha2::Sha256::digest(&fake)).into();
    info["size"] = fake.len().into();
    std::fs::write(other.bucket().join(&full), &fake).unwrap();
    std::fs::write(
        other.bucket().join(format!("{stem}.info")),
        info.to_string(),
    )
    .unwrap();
    let err = other.fail(&["restore", "--from-bucket", &inc]);
    assert!(err.contains("its base is not the stored"), "{err}");
    assert!(!other.catalog().meta().domain_exists().unwrap());
    assert!(other.announcements().is_empty());
}

/// How many items a backup document holds.
fn item_count(doc: &Value) -> u64 {
    match doc {
        Value::Object(m) => m.values().map(item_count).sum(),
        Value::Array(a) => a.len() as u64,
        _ => 0,
    }
}

/// Flips one byte in the middle of a stored object.
fn flip_byte(r: &Repo, key: &str) {
    let path = r.bucket().join(key);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
}

#[test]
fn backup_verify_checks_digests_chains_and_items_and_restore_refuses_what_it_refuses() {
    let r = Repo::new();
    let mut keys = Vec::new();
    for (i, doc) in chain_steps().iter().take(4).enumerate() {
        set_state(&r, doc);
        let args: &[&str] = if i == 0 {
            &["backup", "--to-bucket"]
        } else {
            &["backup", "--to-bucket", "--incremental"]
        };
        keys.push(r.ok(args).trim().to_string());
    }
    // A good chain of several increments verifies at every point.
    for key in &keys {
        assert_eq!(r.ok(&["backup", "verify", key]).trim(), key);
    }
    assert_eq!(r.ok(&["backup", "verify"]).trim(), keys[3]);

    // One flipped byte in a stored increment: verify names the object and
    // the problem on one line; restore refuses and writes nothing.
    let broken = Repo::new();
    copy_dir(&r.bucket(), &broken.bucket());
    flip_byte(&broken, &keys[2]);
    let err = broken.fail(&["backup", "verify", "latest"]);
    assert!(
        err.contains(&keys[2]) && err.contains("does not match its sidecar"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    broken.ok(&["backup", "verify", &keys[1]]);
    let err = broken.fail(&["restore", "-y", "--from-bucket", "latest"]);
    assert!(err.contains("does not match its sidecar"), "{err}");
    assert!(!broken.catalog().meta().domain_exists().unwrap());
    assert!(broken.announcements().is_empty());

    // The same in a full backup, which a restore downloads as a stream.
    let broken = Repo::new();
    copy_dir(&r.bucket(), &broken.bucket());
    flip_byte(&broken, &keys[0]);
    let err = broken.fail(&["backup", "verify", &keys[0]]);
    assert!(
        err.contains(&keys[0]) && err.contains("does not match its sidecar"),
        "{err}"
    );
    broken.fail(&["backup", "verify", &keys[3]]);
    let err = broken.fail(&["restore", "-y", "--from-bucket", &keys[0]]);
    assert!(err.contains("does not match its sidecar"), "{err}");
    assert!(!broken.catalog().meta().domain_exists().unwrap());

    // A missing link of the chain.
    let gap = Repo::new();
    copy_dir(&r.bucket(), &gap.bucket());
    let stem = keys[1].strip_suffix(".json.gz").unwrap();
    std::fs::remove_file(gap.bucket().join(&keys[1])).unwrap();
    std::fs::remove_file(gap.bucket().join(format!("{stem}.info"))).unwrap();
    let err = gap.fail(&["backup", "verify", &keys[3]]);
    assert!(err.contains(&keys[1]) && err.contains("missing"), "{err}");
    gap.ok(&["backup", "verify", &keys[0]]);

    // Digests that match, but an item restore would refuse.
    let bad = Repo::new();
    let mut item = hello_item();
    item["filename"] = "../../etc/passwd".into();
    let gz = repoman::backup::stored::gzip(backup_of(&[item]).to_string().as_bytes()).unwrap();
    let cat = bad.catalog();
    let key = repoman::backup::stored::store(
        cat.blobs(),
        cat.backend_name(),
        &gz,
        false,
        repoman::backup::stored::Contents {
            items: 1,
            names: 1,
            ..Default::default()
        },
        chrono::Utc::now(),
        &repoman::store::PutOptions::default(),
    )
    .unwrap();
    let err = bad.fail(&["backup", "verify"]);
    assert!(
        err.contains(&key) && err.contains("not a valid backup: packages.hello"),
        "{err}"
    );
    bad.fail(&["restore", "-y", "--from-bucket", "latest"]);
    assert!(!bad.catalog().meta().domain_exists().unwrap());
}

#[test]
fn backup_diff_compares_stored_backups_files_and_live() {
    let r = Repo::new();
    let steps = chain_steps();
    set_state(&r, &steps[0]);
    let full = r.ok(&["backup", "--to-bucket"]).trim().to_string();
    let second = r.write("second.json", set_state(&r, &steps[2]).as_bytes());
    let third = r.write("third.json", set_state(&r, &steps[3]).as_bytes());

    // A stored backup against a file: two packages' items removed.
    let d: Value =
        serde_json::from_str(&r.ok(&["backup", "diff", &full, &second, "-f", "json"])).unwrap();
    let removed = item_count(&steps[0]["packages"]) - item_count(&steps[2]["packages"]);
    assert_eq!(
        d["counts"],
        serde_json::json!({"added": 0, "removed": removed, "changed": 0,
                           "unchanged": item_count(&steps[2]["packages"])})
    );
    let rows = d["packages"].as_array().unwrap();
    assert_eq!(rows.len() as u64, removed);
    assert!(rows.iter().all(|p| p["change"] == "removed"), "{d}");
    let names: BTreeSet<&str> = rows.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["hashicorp-consul-template", "testdeb"])
    );
    assert_eq!(d["configuration"], serde_json::json!([]));

    // Two files: a package back, a distribution added, as a table.
    let out = r.ok(&["backup", "diff", &second, &third]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("added") && l.contains("hashicorp-consul-template")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("configuration") && l.contains("+\"stretch\"")),
        "{out}"
    );

    // A file against the live state, one item's size changed.
    let cat = r.catalog();
    let victim = cat
        .find(&Filter {
            names: vec!["testdeb".into()],
            dists: vec!["jessie".into()],
            archs: vec!["amd64".into()],
            ..Filter::default()
        })
        .unwrap()
        .remove(0);
    let mut attrs = cat.meta().get(&victim.key()).unwrap().unwrap();
    attrs.insert("size".into(), vec!["1".into()]);
    cat.meta()
        .apply(&[Change::Put {
            item: victim.key(),
            attrs,
            remove: vec![],
        }])
        .unwrap();
    let d: Value =
        serde_json::from_str(&r.ok(&["backup", "diff", &third, "live", "-f", "jsonc"])).unwrap();
    assert_eq!(d["counts"]["changed"], 1);
    assert_eq!(d["counts"]["added"].as_u64(), Some(0));
    let row = &d["packages"][0];
    assert_eq!(
        (
            &row["change"],
            &row["name"],
            &row["aspects"],
            &row["attributes"]
        ),
        (
            &serde_json::json!("changed"),
            &serde_json::json!("testdeb"),
            &serde_json::json!(["digest"]),
            &serde_json::json!(["size"])
        )
    );
    assert_eq!(d["b"], "live");
    // Nothing differs from itself; an invalid side is named.
    let out = r.run(&["backup", "diff", "live", "live"]);
    assert!(out.status.success() && out.stdout.is_empty());
    let bad = r.write("bad.json", b"{\"metadata\": {}}");
    let err = r.fail(&["backup", "diff", &bad, "live"]);
    assert!(err.contains("bad.json: not a valid backup"), "{err}");
}

#[test]
fn clean_keeps_the_newest_points_and_the_bases_they_need() {
    let r = Repo::new();
    let steps = chain_steps();
    let mut keys = Vec::new();
    let mut want = Vec::new();
    for (i, doc) in steps.iter().take(5).enumerate() {
        want.push(set_state(&r, doc));
        // full, inc, inc, full, inc
        let args: &[&str] = if i == 0 || i == 3 {
            &["backup", "--to-bucket"]
        } else {
            &["backup", "--to-bucket", "--incremental"]
        };
        keys.push(r.ok(args).trim().to_string());
    }
    // Keeping 3 points keeps 2..4, and 2 needs 1 and 0.
    let out = r.ok(&["backup", "clean", "3", "-y"]);
    assert!(out.trim().is_empty(), "{out}");
    // Keeping 2 points (3 and 4) frees the first chain, newest first.
    let out = r.ok(&["backup", "clean", "2", "-y"]);
    let deleted: Vec<&str> = out
        .lines()
        .map(|l| l.trim_start_matches("deleted "))
        .collect();
    assert_eq!(deleted, [&keys[2], &keys[1], &keys[0]]);
    for (key, want) in keys.iter().zip(&want).skip(3) {
        let fresh = Repo::new();
        copy_dir(&r.bucket(), &fresh.bucket());
        fresh.ok(&["restore", "--from-bucket", key]);
        assert_eq!(fresh.backup(), *want, "{key}");
    }
    // Keeping 1 keeps the increment and its base.
    let out = r.ok(&["backup", "clean", "1", "-y"]);
    assert!(out.trim().is_empty(), "{out}");
}

#[test]
fn incremental_needs_a_base_and_takes_no_filters() {
    let r = Repo::new();
    r.restore_fixture();
    let err = r.fail(&["backup", "--to-bucket", "--incremental"]);
    assert!(err.contains("make a full one first"), "{err}");
    let err = r.fail(&["backup", "--incremental"]);
    assert!(err.contains("--to-bucket"), "{err}");
    r.ok(&["backup", "--to-bucket"]);
    let err = r.fail(&["backup", "--to-bucket", "--incremental", "-p", "testdeb"]);
    assert!(err.contains("takes no filters"), "{err}");
    assert!(!r
        .bucket()
        .join("backups/local")
        .read_dir()
        .unwrap()
        .any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with("Z-1.json.gz")));
}

// ---------------------------------------------------------------------------
// Encrypted backups: age's own tool reads them.

/// A key pair made by `age-keygen`: the identity file and the recipient.
fn age_key(dir: &Path, name: &str) -> (String, String) {
    let file = dir.join(name);
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&file)
        .output()
        .expect("age-keygen (Debian package age) is installed");
    assert!(out.status.success());
    let public = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(&file)
        .output()
        .unwrap();
    (
        file.display().to_string(),
        String::from_utf8(public.stdout).unwrap().trim().to_string(),
    )
}

#[test]
fn encrypted_backups_decrypt_with_age_and_restore_only_with_the_identity() {
    let r = Repo::new();
    let steps = chain_steps();
    let want0 = set_state(&r, &steps[0]);
    let (identity, recipient) = age_key(r.path(), "key.txt");
    let (wrong, _) = age_key(r.path(), "wrong.txt");
    let secret = std::fs::read_to_string(&identity).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();

    let key = r
        .ok(&["backup", "--to-bucket", "--encrypt-to", &recipient])
        .trim()
        .to_string();
    assert!(key.ends_with(".json.gz.age"), "{key}");
    let stored = std::fs::read(r.bucket().join(&key)).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    // The standard tool decrypts it into the plain gzipped JSON.
    let out = std::process::Command::new("age")
        .args(["-d", "-i", &identity])
        .arg(r.bucket().join(&key))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = repoman::backup::validate::decompress(&out.stdout).unwrap();
    assert_eq!(&out.stdout[..2], &[0x1f, 0x8b]);
    assert_eq!(String::from_utf8(json).unwrap(), want0);

    // An increment on the encrypted base needs the identity to read it.
    let want1 = set_state(&r, &steps[1]);
    let err = r.fail(&[
        "backup",
        "--to-bucket",
        "--incremental",
        "--encrypt-to",
        &recipient,
    ]);
    assert!(err.contains("--identity"), "{err}");
    let inc = r
        .ok(&[
            "backup",
            "--to-bucket",
            "--incremental",
            "--encrypt-to",
            &recipient,
            "--identity",
            &identity,
        ])
        .trim()
        .to_string();
    assert!(inc.ends_with(".json.gz.age"), "{inc}");

    let other = Repo::new();
    copy_dir(&r.bucket(), &other.bucket());
    for (args, why) in [
        (vec!["restore", "--from-bucket", "latest"], "--identity"),
        (
            vec!["restore", "--from-bucket", "latest", "--identity", &wrong],
            "cannot be decrypted",
        ),
    ] {
        let (out, err) = other.fail_out(&args);
        assert!(err.contains(why), "{err}");
        assert!(!out.contains(&secret) && !err.contains(&secret));
        assert!(!other.catalog().meta().domain_exists().unwrap());
    }
    // By timestamp (the stem), by key, and latest.
    let stem = key
        .rsplit('/')
        .next()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    other.ok(&["restore", "--from-bucket", &stem, "--identity", &identity]);
    assert_eq!(other.backup(), want0);
    other.ok(&[
        "restore",
        "--from-bucket",
        "latest",
        "--identity",
        &identity,
        "--prune",
        "-y",
    ]);
    assert_eq!(other.backup(), want1);
    let list = other.ok(&["backup", "list"]);
    assert!(
        list.contains(&inc) && list.contains("incremental"),
        "{list}"
    );
}
