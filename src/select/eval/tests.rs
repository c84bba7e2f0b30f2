use proptest::prelude::*;

use super::*;
use crate::embedded::meta::SqliteMeta;
use crate::store::{Change, MetaStore};

fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

fn attr(a: &str) -> Operand {
    Operand::Attr(a.into())
}

fn cmp(o: Operand, op: CmpOp, v: &str) -> Expr {
    Expr::Cmp(o, op, v.into())
}

#[test]
fn like_wildcards_escapes_and_literals() {
    assert!(like("abc", "a%"));
    assert!(like("abc", "%c"));
    assert!(like("abc", "%b%"));
    assert!(like("", "%"));
    assert!(!like("abc", "a"));
    assert!(like("a_c", "a_c"));
    assert!(!like("abc", "a_c"), "`_` is literal");
    assert!(like("50%", "50\\%"));
    assert!(!like("500", "50\\%"));
    assert!(like("a\\", "a\\"), "a trailing backslash is itself");
    assert!(like("it's", "it'%"));
    assert!(like("a*?[", "a*?["));
    assert!(!like("ABC", "a%"), "case-sensitive");
    assert!(like("aXbXc", "a%b%c"));
    assert!(!like("aXbX", "a%b%c"));
    assert_eq!(like_prefix("ab\\%c%d"), "ab%c");
    assert_eq!(like_prefix(&crate::select::escape_like("x%_'")), "x%_'");
}

#[test]
fn any_value_every_value_and_nulls() {
    let a = attrs(&[("k", &["x", "y"]), ("n", &["5"])]);
    assert!(matches(Some(&cmp(attr("k"), CmpOp::Eq, "y")), "i", &a));
    assert!(!matches(
        Some(&cmp(Operand::Every("k".into()), CmpOp::Eq, "y")),
        "i",
        &a
    ));
    assert!(matches(
        Some(&Expr::In(
            Operand::Every("k".into()),
            vec!["x".into(), "y".into()]
        )),
        "i",
        &a
    ));
    // One value per name in one predicate; intersection chooses again.
    let both = cmp(attr("k"), CmpOp::Eq, "x").and(cmp(attr("k"), CmpOp::Eq, "y"));
    assert!(!matches(Some(&both), "i", &a));
    let inter = Expr::Intersection(
        Box::new(cmp(attr("k"), CmpOp::Eq, "x")),
        Box::new(cmp(attr("k"), CmpOp::Eq, "y")),
    );
    assert!(matches(Some(&inter), "i", &a));
    // A missing attribute is NULL: neither `=` nor `!=` holds, `not` of
    // NULL is NULL, `is null` holds.
    for e in [
        cmp(attr("z"), CmpOp::Eq, "1"),
        cmp(attr("z"), CmpOp::Ne, "1"),
        Expr::Not(Box::new(cmp(attr("z"), CmpOp::Eq, "1"))),
        cmp(Operand::Every("z".into()), CmpOp::Ne, "1"),
    ] {
        assert!(!matches(Some(&e), "i", &a), "{e:?}");
    }
    assert!(matches(Some(&Expr::IsNull(attr("z"))), "i", &a));
    assert!(matches(
        Some(&cmp(attr("z"), CmpOp::Eq, "1").or(Expr::IsNotNull(attr("n")))),
        "i",
        &a
    ));
    assert!(!matches(Some(&Expr::In(attr("n"), vec![])), "i", &a));
    assert!(matches(
        Some(&cmp(Operand::ItemName, CmpOp::Like, "i%")),
        "i",
        &a
    ));
}

#[test]
fn ordering_limit_count_and_errors() {
    let items = vec![
        Item {
            name: "b".into(),
            attrs: attrs(&[("n", &["2", "9"])]),
        },
        Item {
            name: "a".into(),
            attrs: attrs(&[("n", &["5"])]),
        },
        Item {
            name: "c".into(),
            attrs: attrs(&[("m", &["1"])]),
        },
    ];
    let names = |q: &Select| -> Vec<String> {
        run(q, items.clone())
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    let mut q = Select {
        output: Output::ItemName,
        filter: None,
        order_by: None,
        limit: None,
    };
    assert_eq!(names(&q), ["a", "b", "c"]);
    q.filter = Some(Expr::IsNotNull(attr("n")));
    q.order_by = Some((attr("n"), Order::Asc));
    assert_eq!(names(&q), ["b", "a"]);
    q.order_by = Some((attr("n"), Order::Desc));
    assert_eq!(names(&q), ["b", "a"]);
    q.limit = Some(1);
    assert_eq!(names(&q), ["b"]);
    q.output = Output::Count;
    assert_eq!(run(&q, items.clone()).unwrap()[0].attrs["Count"], ["1"]);
    q.limit = Some(0);
    assert!(run(&q, items.clone()).unwrap_err().contains("limit 0"));
    q.limit = None;
    q.order_by = Some((attr("m"), Order::Asc));
    assert!(check(&q).unwrap_err().contains("sort attribute m"));
    q.order_by = Some((Operand::Every("n".into()), Order::Asc));
    assert!(check(&q).is_err());
}

// Random items and Selects: the evaluator and the SQLite engine (through
// the embedded MetaStore) give the same answers, errors included.

fn text() -> impl Strategy<Value = String> {
    // Few characters, so values collide, with every one that is special
    // somewhere: like's `%` and `\`, GLOB's `*?[`, `_`, quotes, non-ASCII.
    prop::collection::vec(
        prop::sample::select(vec![
            "a", "b", "c", "%", "_", "\\", "'", "*", "?", "[", "é", "A",
        ]),
        0..4,
    )
    .prop_map(|v| v.concat())
}

const NAMES: [&str; 3] = ["k", "n", "z"];

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        4 => prop::sample::select(NAMES.to_vec()).prop_map(|a| Operand::Attr(a.into())),
        2 => prop::sample::select(NAMES.to_vec()).prop_map(|a| Operand::Every(a.into())),
        1 => Just(Operand::ItemName),
    ]
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Like,
        CmpOp::NotLike,
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (operand(), op(), text()).prop_map(|(o, op, v)| Expr::Cmp(o, op, v)),
        (operand(), text(), text()).prop_map(|(o, a, b)| Expr::Between(o, a, b)),
        (operand(), prop::collection::vec(text(), 0..3)).prop_map(|(o, v)| Expr::In(o, v)),
        operand().prop_map(Expr::IsNull),
        operand().prop_map(Expr::IsNotNull),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Intersection(Box::new(a), Box::new(b))),
        ]
    })
}

fn select() -> impl Strategy<Value = Select> {
    let output = prop_oneof![
        Just(Output::All),
        Just(Output::ItemName),
        Just(Output::Count),
        Just(Output::Attrs(vec!["k".into(), "z".into()])),
    ];
    let order = prop::option::of((
        prop_oneof![
            3 => prop::sample::select(NAMES.to_vec()).prop_map(|a| Operand::Attr(a.into())),
            1 => Just(Operand::ItemName),
            1 => Just(Operand::Every("k".into())),
        ],
        prop::sample::select(vec![Order::Asc, Order::Desc]),
    ));
    let limit = prop::option::of(prop_oneof![Just(0u32), 1u32..6, Just(2501u32)]);
    (output, prop::option::of(expr()), order, limit).prop_map(
        |(output, filter, order_by, limit)| Select {
            output,
            filter,
            order_by,
            limit,
        },
    )
}

fn items() -> impl Strategy<Value = Vec<(String, Attrs)>> {
    let attrs = prop::collection::btree_map(
        prop::sample::select(NAMES.to_vec()).prop_map(String::from),
        prop::collection::btree_set(text(), 1..4).prop_map(|s| s.into_iter().collect()),
        0..3,
    );
    prop::collection::btree_map(text().prop_map(|n| format!("i{n}")), attrs, 0..8)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_evaluator_answers_as_the_sqlite_engine(items in items(), queries in prop::collection::vec(select(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMeta::open(&dir.path().join("s.sqlite"), "dom").unwrap();
        store.create_domain().unwrap();
        let changes: Vec<Change> = items
            .iter()
            .map(|(name, attrs)| Change::Put { item: name.clone(), attrs: attrs.clone(), remove: vec![] })
            .collect();
        store.apply(&changes).unwrap();
        let held: Vec<Item> = items
            .iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|(name, attrs)| Item { name: name.clone(), attrs: attrs.clone() })
            .collect();
        for q in queries {
            let ours = run(&q, held.clone());
            let theirs = store.select_all(&q);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{:?}", q),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{:?}: evaluator {:?}, engine {:?}", q, a, b),
            }
        }
    }
}
