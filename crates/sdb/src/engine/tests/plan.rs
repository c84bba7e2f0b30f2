use std::collections::HashSet;

use super::*;

#[test]
fn range_queries_find_values_too_long_for_the_value_index() {
    let e = engine();
    put(&e, "short", &[("a", "n")]);
    put(&e, "long", &[("a", &long_value())]);
    ranges_find_long_values(&e);
    assert!(long_names(&e.lock(), "dom").unwrap().contains("a"));
    // Still known after the long value is gone (it is only a hint).
    e.delete_attributes("dom", "long", &[], None).unwrap();
    assert!(long_names(&e.lock(), "dom").unwrap().contains("a"));
    e.delete_domain("dom").unwrap();
    e.create_domain("dom").unwrap();
    assert!(long_names(&e.lock(), "dom").unwrap().is_empty());
}

#[test]
fn long_values_written_by_every_write_operation_are_noted() {
    let long = long_value();
    type Write = fn(&Engine);
    let writes: [(&str, Write); 4] = [
        (
            "apply",
            (|e: &Engine| {
                e.apply(
                    "dom",
                    [Edit::AddValue {
                        item: "long",
                        attr: "a",
                        value: &long_value(),
                    }],
                )
                .unwrap()
            }),
        ),
        (
            "put_attributes",
            (|e: &Engine| put(e, "long", &[("a", &long_value())])),
        ),
        (
            "batch_put",
            (|e: &Engine| {
                e.batch_put(
                    "dom",
                    &[("long".into(), vec![pa("a", &long_value(), true)])],
                )
                .unwrap()
            }),
        ),
        (
            "put with replace",
            (|e: &Engine| {
                put(e, "long", &[("a", "x")]);
                e.put_attributes("dom", "long", &[pa("a", &long_value(), true)], None)
                    .unwrap()
            }),
        ),
    ];
    for (how, write) in writes {
        let e = engine();
        put(&e, "short", &[("a", "n")]);
        write(&e);
        assert_eq!(
            e.get("dom", "long", &[]).unwrap().unwrap()["a"],
            std::slice::from_ref(&long),
            "{how}"
        );
        ranges_find_long_values(&e);
    }
    // Short values, and long values of other names, note nothing more.
    let e = engine();
    put(
        &e,
        "x",
        &[("a", &"é".repeat(INDEXED_VALUE_CHARS)), ("b", &long)],
    );
    assert_eq!(
        long_names(&e.lock(), "dom").unwrap(),
        HashSet::from(["b".to_string()])
    );
}

#[test]
fn a_file_from_before_long_names_gets_them_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let old = Connection::open(&path).unwrap();
        let schema = SCHEMA
            .split("CREATE TABLE IF NOT EXISTS long_names")
            .next()
            .unwrap();
        old.execute_batch(schema).unwrap();
        old.execute_batch(&format!(
            "INSERT INTO domains(id, name) VALUES (1, 'dom');
             INSERT INTO items(id, domain_id, name) VALUES (1, 1, 'short'), (2, 1, 'long');
             INSERT INTO attrs(item_id, name, value, domain_id)
                 VALUES (1, 'a', 'n', 1), (2, 'a', '{}', 1);",
            long_value()
        ))
        .unwrap();
    }
    {
        // An earlier version kept long_names with triggers, which cost
        // every insert a statement journal.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE long_names(domain_id INTEGER NOT NULL, name TEXT NOT NULL,
                 PRIMARY KEY(domain_id, name)) WITHOUT ROWID;
             CREATE TRIGGER attrs_insert_long AFTER INSERT ON attrs BEGIN SELECT 1; END;
             CREATE TRIGGER attrs_update_long AFTER UPDATE ON attrs BEGIN SELECT 1; END;
             DROP TABLE long_names;",
        )
        .unwrap();
    }
    let e = Engine::open(&path).unwrap();
    ranges_find_long_values(&e);
    let triggers: i64 = e
        .lock()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 0);
    // Opening again leaves it be.
    drop(e);
    let e = Engine::open(&path).unwrap();
    assert_eq!(
        long_names(&e.lock(), "dom").unwrap(),
        HashSet::from(["a".to_string()])
    );
}

#[test]
fn ranges_on_one_attribute_in_one_scope_are_one_prefilter() {
    let pre = |text: &str, long: &[&str]| {
        let (_, q) = parse(&format!("select * from dom where {text}")).unwrap();
        let long = long.iter().map(|s| s.to_string()).collect();
        prefilters(q.filter.as_ref().unwrap(), &long)
    };
    let bound = |v: &str, inclusive| Bound::new(v, inclusive);
    let range = |name: &str, lo, hi| Prefilter {
        name: name.into(),
        test: ValueTest::Range { lo, hi },
    };
    assert_eq!(
        pre("a >= 'm' and b = 'x' and every(a) < 'n'", &[]),
        [
            range("a", bound("m", true), bound("n", false)),
            Prefilter {
                name: "b".into(),
                test: ValueTest::In(vec!["x".into()])
            }
        ]
    );
    assert_eq!(
        pre(
            "a > 'm' and a >= 'm' and a between 'a' and 'p' and a <= 'o'",
            &[]
        ),
        [range("a", bound("m", false), bound("o", true))]
    );
    // Each side of an intersection binds its own value.
    assert_eq!(
        pre("a >= 'm' intersection a <= 'n'", &[]),
        [
            range("a", bound("m", true), None),
            range("a", None, bound("n", true))
        ]
    );
    // Not for names that may have values the index leaves out, nor
    // under `or` and `not`.
    assert_eq!(pre("a >= 'm' and a <= 'n'", &["a"]), []);
    assert_eq!(pre("a >= 'm' or b = 'x'", &[]), []);
    assert_eq!(pre("not a >= 'm'", &[]), []);

    let e = engine();
    put(&e, "apart", &[("a", "a"), ("a", "z")]);
    put(&e, "inside", &[("a", "mm")]);
    assert_eq!(
        sel(&e, "select * from dom where a >= 'm' intersection a <= 'n'"),
        ["apart", "inside"]
    );
    assert_eq!(
        sel(&e, "select * from dom where a >= 'm' and a <= 'n'"),
        ["inside"]
    );
}

#[test]
fn like_prefixes() {
    assert_eq!(like_prefix("abc%"), "abc");
    assert_eq!(like_prefix("a\\%b%c"), "a%b");
    assert_eq!(like_prefix("%x"), "");
    assert_eq!(like_prefix("exact"), "exact");
}

#[test]
fn like_translation() {
    assert_eq!(like_to_glob("a%b"), "a*b");
    assert_eq!(like_to_glob("a\\%b*?["), "a%b[*][?][[]");
    assert_eq!(like_to_glob("\\\\%"), "\\*");
    assert_eq!(like_to_glob("end\\"), "end\\");
}
