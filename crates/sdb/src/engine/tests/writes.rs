use super::*;

#[test]
fn put_attributes_replace() {
    let e = engine();
    e.put_attributes(
        "dom",
        "i",
        &[
            pa("a", "1", false),
            pa("b", "2", false),
            pa("b", "3", false),
        ],
        None,
    )
    .unwrap();
    e.put_attributes("dom", "i", &[pa("b", "4", true)], None)
        .unwrap();
    assert_eq!(get(&e, "i"), Some(attrs(&[("a", &["1"]), ("b", &["4"])])));
    // Replace takes every value of the name given in the call.
    e.put_attributes(
        "dom",
        "i",
        &[pa("b", "5", true), pa("b", "6", false), pa("a", "1", false)],
        None,
    )
    .unwrap();
    assert_eq!(
        get(&e, "i"),
        Some(attrs(&[("a", &["1"]), ("b", &["5", "6"])]))
    );
    assert_eq!(
        e.get("dom", "i", &["b".to_string()]).unwrap(),
        Some(attrs(&[("b", &["5", "6"])]))
    );
    assert_eq!(e.get("dom", "i", &["zz".to_string()]).unwrap(), None);
}

#[test]
fn conditional_writes() {
    let e = engine();
    let exp = |name: &str, value: Option<&str>, exists: Option<bool>| Expected {
        name: name.into(),
        value: value.map(Into::into),
        exists,
    };
    let put_if = |x: &Expected| e.put_attributes("dom", "i", &[pa("v", "1", true)], Some(x));
    put_if(&exp("v", None, Some(false))).unwrap();
    let err = put_if(&exp("v", None, Some(false))).unwrap_err();
    assert_eq!((err.code, err.status), ("ConditionalCheckFailed", 409));
    put_if(&exp("v", Some("1"), None)).unwrap();
    let err = put_if(&exp("v", Some("2"), Some(true))).unwrap_err();
    assert_eq!(err.code, "ConditionalCheckFailed");
    let err = put_if(&exp("w", Some("2"), None)).unwrap_err();
    assert_eq!((err.code, err.status), ("AttributeDoesNotExist", 404));
    e.put_attributes(
        "dom",
        "i",
        &[pa("m", "1", false), pa("m", "2", false)],
        None,
    )
    .unwrap();
    let err = put_if(&exp("m", Some("1"), None)).unwrap_err();
    assert_eq!(err.code, "MultiValuedAttribute");
    let err = put_if(&exp("v", None, None)).unwrap_err();
    assert_eq!(err.code, "IncompleteExpectedExpression");
    // A failed condition writes nothing.
    let err = e
        .delete_attributes("dom", "i", &[], Some(&exp("v", Some("9"), None)))
        .unwrap_err();
    assert_eq!(err.code, "ConditionalCheckFailed");
    assert!(get(&e, "i").is_some());
    e.delete_attributes("dom", "i", &[], Some(&exp("v", Some("1"), None)))
        .unwrap();
    assert_eq!(get(&e, "i"), None);
}

#[test]
fn delete_attributes_forms() {
    let e = engine();
    let put_all = || {
        e.put_attributes(
            "dom",
            "i",
            &[
                pa("a", "1", false),
                pa("a", "2", false),
                pa("b", "3", false),
                pa("c", "4", false),
            ],
            None,
        )
        .unwrap()
    };
    put_all();
    let da = |n: &str, v: Option<&str>| DeleteAttr {
        name: n.into(),
        value: v.map(Into::into),
    };
    e.delete_attributes(
        "dom",
        "i",
        &[da("a", Some("1")), da("b", None), da("zz", None)],
        None,
    )
    .unwrap();
    assert_eq!(get(&e, "i"), Some(attrs(&[("a", &["2"]), ("c", &["4"])])));
    e.delete_attributes("dom", "i", &[], None).unwrap();
    assert_eq!(get(&e, "i"), None);
    e.delete_attributes("dom", "gone", &[], None).unwrap();
    put_all();
    e.batch_delete(
        "dom",
        &[
            ("i".to_string(), vec![da("a", None)]),
            ("nope".to_string(), vec![]),
        ],
    )
    .unwrap();
    assert_eq!(get(&e, "i"), Some(attrs(&[("b", &["3"]), ("c", &["4"])])));
    e.batch_delete("dom", &[("i".to_string(), vec![])]).unwrap();
    assert_eq!(get(&e, "i"), None);
}

#[test]
fn batch_and_item_limits() {
    let e = engine();
    let item = |i: usize| (format!("i{i}"), vec![pa("a", "1", false)]);
    let err = e
        .batch_put("dom", &(0..26).map(item).collect::<Vec<_>>())
        .unwrap_err();
    assert_eq!(
        (err.code, err.status),
        ("NumberSubmittedItemsExceeded", 409)
    );
    let err = e.batch_put("dom", &[item(1), item(1)]).unwrap_err();
    assert_eq!(err.code, "DuplicateItemName");
    e.batch_put("dom", &(0..25).map(item).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(e.domain_metadata("dom").unwrap().item_count, 25);

    let many: Vec<PutAttr> = (0..257).map(|i| pa("a", &i.to_string(), false)).collect();
    let err = e.put_attributes("dom", "big", &many, None).unwrap_err();
    assert_eq!(err.code, "NumberSubmittedAttributesExceeded");
    e.put_attributes("dom", "big", &many[..200], None).unwrap();
    let err = e
        .put_attributes("dom", "big", &many[200..], None)
        .unwrap_err();
    assert_eq!(
        (err.code, err.status),
        ("NumberItemAttributesExceeded", 409)
    );
    assert_eq!(get(&e, "big").unwrap()["a"].len(), 200);

    let long = "x".repeat(1025);
    let err = e
        .put_attributes("dom", "i", &[pa("a", &long, false)], None)
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameterValue");
    let err = e
        .put_attributes("dom", "i", &[pa(&long, "v", false)], None)
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameterValue");
    e.put_attributes("dom", "i", &[pa(&long[..1024], &long[..1024], false)], None)
        .unwrap();
    let err = e
        .put_attributes("dom", "", &[pa("a", "1", false)], None)
        .unwrap_err();
    assert_eq!(err.code, "InvalidParameterValue");
    let err = e
        .put_attributes("nope", "i", &[pa("a", "1", false)], None)
        .unwrap_err();
    assert_eq!(err.code, "NoSuchDomain");
}

#[test]
fn domains_and_metadata() {
    let e = Engine::open_in_memory().unwrap();
    assert_eq!(
        e.create_domain("a b").unwrap_err().code,
        "InvalidParameterValue"
    );
    assert_eq!(
        e.create_domain("ab").unwrap_err().code,
        "InvalidParameterValue"
    );
    e.create_domain("zeta").unwrap();
    e.create_domain("alpha.1_-").unwrap();
    e.create_domain("zeta").unwrap();
    assert_eq!(e.list_domains().unwrap(), ["alpha.1_-", "zeta"]);
    e.put_attributes(
        "zeta",
        "item1",
        &[pa("ab", "xyz", false), pa("ab", "q", false)],
        None,
    )
    .unwrap();
    e.put_attributes(
        "zeta",
        "it2",
        &[pa("ab", "1", false), pa("cde", "22", false)],
        None,
    )
    .unwrap();
    let m = e.domain_metadata("zeta").unwrap();
    assert_eq!(
        (
            m.item_count,
            m.item_names_size_bytes,
            m.attribute_name_count,
            m.attribute_names_size_bytes,
            m.attribute_value_count,
            m.attribute_values_size_bytes
        ),
        (2, 8, 2, 5, 4, 7)
    );
    e.delete_domain("zeta").unwrap();
    e.delete_domain("zeta").unwrap();
    assert_eq!(e.list_domains().unwrap(), ["alpha.1_-"]);
    assert_eq!(e.domain_metadata("zeta").unwrap_err().code, "NoSuchDomain");
    // A new domain of the old name starts empty.
    e.create_domain("zeta").unwrap();
    assert_eq!(e.domain_metadata("zeta").unwrap().item_count, 0);
}

#[test]
fn characters_xml_cannot_carry_are_refused() {
    for bad in ["a\u{0}b", "\u{1}", "x\u{1f}", "\u{fffe}", "end\u{ffff}"] {
        assert!(has_non_xml_char(bad), "{bad:?}");
        let e = engine()
            .put_attributes("dom", "i", &[pa("a", bad, false)], None)
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue");
    }
    for good in ["", "tab\there\r\n", "\u{fffd}\u{10000}é", "\u{efbf}"] {
        assert!(!has_non_xml_char(good), "{good:?}");
    }
}

#[test]
fn page_cache_and_memory_map_are_in_effect() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&dir.path().join("e.sqlite")).unwrap();
    let conn = e.lock();
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(pragma("cache_size"), CACHE_KIB);
    assert_eq!(pragma("mmap_size"), MMAP_BYTES);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}
