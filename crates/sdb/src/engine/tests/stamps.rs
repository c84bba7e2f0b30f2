//! The change stamp: bumped by every write, in its transaction.

use super::*;

fn attr(name: &str, value: &str) -> PutAttr {
    PutAttr {
        name: name.into(),
        value: value.into(),
        replace: true,
    }
}

/// The count of the domain's stamp (0 when there is none yet), and its
/// epoch.
fn count(e: &Engine) -> (u64, String) {
    match e.change_stamp("dom").unwrap() {
        None => (0, String::new()),
        Some(s) => {
            let (epoch, n) = s.rsplit_once('-').unwrap();
            (n.parse().unwrap(), epoch.to_string())
        }
    }
}

/// Runs `write` and checks the stamp went up by exactly one.
fn bumps(e: &Engine, what: &str, write: impl FnOnce(&Engine)) {
    let before = count(e).0;
    write(e);
    assert_eq!(count(e).0, before + 1, "{what}");
}

fn stays(e: &Engine, what: &str, f: impl FnOnce(&Engine)) {
    let before = e.change_stamp("dom").unwrap();
    f(e);
    assert_eq!(e.change_stamp("dom").unwrap(), before, "{what}");
}

#[test]
fn every_write_bumps_the_stamp_and_nothing_else_does() {
    let mut e = Engine::open_in_memory().unwrap();
    e.set_unstamped(&["book"]);
    assert_eq!(e.change_stamp("dom").unwrap(), None);
    bumps(&e, "create", |e| e.create_domain("dom").unwrap());
    stays(&e, "create again", |e| e.create_domain("dom").unwrap());
    bumps(&e, "put", |e| put(e, "a", &[("k", "1")]));
    bumps(&e, "batch put", |e| {
        e.batch_put("dom", &[("b".into(), vec![attr("k", "2")])])
            .unwrap()
    });
    let cond = |v: &str| Expected {
        name: "k".into(),
        value: Some(v.into()),
        exists: None,
    };
    bumps(&e, "conditional put", |e| {
        e.put_attributes("dom", "a", &[attr("k", "3")], Some(&cond("1")))
            .unwrap()
    });
    stays(&e, "failed conditional put", |e| {
        assert!(e
            .put_attributes("dom", "a", &[attr("k", "4")], Some(&cond("1")))
            .is_err())
    });
    stays(&e, "reads", |e| {
        e.get("dom", "a", &[]).unwrap();
        sel(e, "select * from dom");
        sel(e, "select count(*) from dom");
    });
    let attrs = Attrs::from([("t".to_string(), vec!["text".to_string()])]);
    bumps(&e, "apply", |e| {
        e.apply(
            "dom",
            [
                Edit::Put {
                    item: "a",
                    attrs: &attrs,
                    remove: &[],
                },
                Edit::AddValue {
                    item: "a",
                    attr: "v",
                    value: "x",
                },
            ],
        )
        .unwrap()
    });
    bumps(&e, "delete a value", |e| {
        e.apply(
            "dom",
            [Edit::DeleteValue {
                item: "a",
                attr: "v",
                value: "x",
            }],
        )
        .unwrap()
    });
    bumps(&e, "delete", |e| {
        e.delete_attributes("dom", "a", &[], None).unwrap()
    });
    bumps(&e, "batch delete", |e| {
        e.batch_delete("dom", &[("b".into(), vec![])]).unwrap()
    });
    stays(&e, "a write only to an unstamped item", |e| {
        put(e, "book", &[("k", "1")]);
        e.apply("dom", [Edit::Delete { item: "book" }]).unwrap();
    });
    bumps(&e, "a write to an unstamped item and another", |e| {
        e.batch_put(
            "dom",
            &[
                ("book".into(), vec![attr("k", "2")]),
                ("c".into(), vec![attr("k", "2")]),
            ],
        )
        .unwrap()
    });
    // Deleted and created again, the domain goes on counting.
    let (before, epoch) = count(&e);
    e.delete_domain("dom").unwrap();
    e.create_domain("dom").unwrap();
    assert_eq!(count(&e), (before + 2, epoch.clone()));
    // Another store's count starts from another epoch.
    let other = Engine::open_in_memory().unwrap();
    other.create_domain("dom").unwrap();
    assert_ne!(count(&other).1, epoch);
}

#[test]
fn a_file_from_before_stamps_opens_and_counts_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let e = Engine::open(&path).unwrap();
        e.create_domain("dom").unwrap();
        put(&e, "a", &[("k", "1")]);
        e.lock().execute_batch("DROP TABLE stamps").unwrap();
    }
    let e = Engine::open(&path).unwrap();
    assert_eq!(e.change_stamp("dom").unwrap(), None);
    assert_eq!(sel(&e, "select * from dom"), ["a"]);
    bumps(&e, "put", |e| put(e, "b", &[("k", "2")]));
    let stamp = e.change_stamp("dom").unwrap();
    drop(e);
    // Kept in the file.
    assert_eq!(
        Engine::open(&path).unwrap().change_stamp("dom").unwrap(),
        stamp
    );
}
