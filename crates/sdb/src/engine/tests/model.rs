use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const NAMES: [&str; 3] = ["a", "b", "c"];
/// Longer than the value index holds (201 characters or more).
const LONG: &str = "xyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy";
const VALUES: [&str; 10] = ["", "x", "xy", "y%", "Y", "é", "a\\b", "*", "x*y", LONG];

/// `like` by hand: `%` any run, `\` escapes, everything else literal.
fn like(v: &str, pattern: &str) -> bool {
    let mut pieces: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => pieces.push(String::new()),
            '\\' => pieces
                .last_mut()
                .unwrap()
                .push(chars.next().unwrap_or('\\')),
            c => pieces.last_mut().unwrap().push(c),
        }
    }
    if pieces.len() == 1 {
        return v == pieces[0];
    }
    let (first, last) = (&pieces[0], &pieces[pieces.len() - 1]);
    if !v.starts_with(first.as_str()) {
        return false;
    }
    let mut rest = &v[first.len()..];
    for middle in &pieces[1..pieces.len() - 1] {
        match rest.find(middle.as_str()) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last.as_str())
}

fn cmp(v: &str, op: CmpOp, x: &str) -> bool {
    match op {
        CmpOp::Eq => v == x,
        CmpOp::Ne => v != x,
        CmpOp::Lt => v < x,
        CmpOp::Le => v <= x,
        CmpOp::Gt => v > x,
        CmpOp::Ge => v >= x,
        CmpOp::Like => like(v, x),
        CmpOp::NotLike => !like(v, x),
    }
}

/// A condition on one value.
fn holds(e: &Expr, v: &str) -> bool {
    match e {
        Expr::Cmp(_, op, x) => cmp(v, *op, x),
        Expr::Between(_, lo, hi) => v >= lo.as_str() && v <= hi.as_str(),
        Expr::In(_, xs) => xs.iter().any(|x| x == v),
        _ => unreachable!("only value conditions"),
    }
}

fn matches(item: &Item, e: &Expr) -> bool {
    if let Expr::Intersection(a, b) = e {
        return matches(item, a) && matches(item, b);
    }
    let names: Vec<String> = e.scope_attrs().into_iter().map(str::to_string).collect();
    // Every choice of one value (or none) per attribute.
    let mut choices: Vec<BTreeMap<String, Option<String>>> = vec![BTreeMap::new()];
    for n in &names {
        let values: Vec<Option<String>> = match item.attrs.get(n) {
            Some(vs) if !vs.is_empty() => vs.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        choices = choices
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(n.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    choices.iter().any(|c| eval(item, e, c) == Some(true))
}

/// SQL's three-valued logic: `None` is unknown.
fn eval(item: &Item, e: &Expr, binding: &BTreeMap<String, Option<String>>) -> Option<bool> {
    let operand = |o: &Operand| -> Option<bool> {
        match o {
            Operand::ItemName => Some(holds(e, &item.name)),
            Operand::Attr(a) => binding[a].as_deref().map(|v| holds(e, v)),
            Operand::Every(a) => {
                let vs = item.attrs.get(a).cloned().unwrap_or_default();
                Some(!vs.is_empty() && vs.iter().all(|v| holds(e, v)))
            }
        }
    };
    match e {
        Expr::Cmp(o, _, _) | Expr::Between(o, _, _) | Expr::In(o, _) => operand(o),
        Expr::IsNull(o) | Expr::IsNotNull(o) => {
            let absent = match o {
                Operand::ItemName => false,
                Operand::Attr(a) => binding[a].is_none(),
                Operand::Every(a) => item.attrs.get(a).is_none_or(|v| v.is_empty()),
            };
            Some(absent == matches!(e, Expr::IsNull(_)))
        }
        Expr::Not(x) => eval(item, x, binding).map(|b| !b),
        Expr::And(x, y) => match (eval(item, x, binding), eval(item, y, binding)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(x, y) => match (eval(item, x, binding), eval(item, y, binding)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::Intersection(..) => Some(matches(item, e)),
    }
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    let attrs = prop::collection::btree_map(
        prop::sample::select(NAMES.to_vec()).prop_map(str::to_string),
        prop::collection::btree_set(prop::sample::select(VALUES.to_vec()), 1..4)
            .prop_map(|s| s.into_iter().map(str::to_string).collect::<Vec<_>>()),
        1..4,
    );
    prop::collection::vec(attrs, 1..12).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, attrs)| Item {
                name: format!("{}{i}", ["p", "q", "x*"][i % 3]),
                attrs,
            })
            .collect()
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let name = prop::sample::select(NAMES.to_vec()).prop_map(str::to_string);
    let value = prop::sample::select(
        VALUES
            .iter()
            .chain(["x%", "%y", "%", "%\\%", "\\\\%", "*%", "q%"].iter())
            .copied()
            .collect::<Vec<_>>(),
    )
    .prop_map(str::to_string);
    let operand = prop_oneof![
        4 => name.clone().prop_map(Operand::Attr),
        2 => name.prop_map(Operand::Every),
        1 => Just(Operand::ItemName),
    ];
    let op = prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::Like,
        CmpOp::NotLike,
    ]);
    let leaf = prop_oneof![
        (operand.clone(), op, value.clone()).prop_map(|(o, op, v)| Expr::Cmp(o, op, v)),
        (operand.clone(), value.clone(), value.clone())
            .prop_map(|(o, a, b)| Expr::Between(o, a, b)),
        (operand.clone(), prop::collection::vec(value, 1..3)).prop_map(|(o, v)| Expr::In(o, v)),
        operand.clone().prop_map(Expr::IsNull),
        operand.prop_map(Expr::IsNotNull),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn engine_agrees_with_the_naive_evaluation(items in items(), e in expr()) {
        let engine = Engine::open_in_memory().unwrap();
        engine.create_domain("dom").unwrap();
        put_items(&engine, &items);
        let q = Select::all_where(e.clone());
        let mut got = Vec::new();
        engine.select_each("dom", &q, &mut |i| { got.push(i); Ok(()) }).unwrap();
        // On a file the matches are read in chunks as they are listed:
        // chunks of two items give several here.
        let dir = tempfile::tempdir().unwrap();
        let file = Engine::open(&dir.path().join("e.sqlite")).unwrap();
        file.create_domain("dom").unwrap();
        put_items(&file, &items);
        let mut streamed = Vec::new();
        file.stream("dom", &q, 2, &mut |i| { streamed.push(i); Ok(()) }).unwrap();
        prop_assert_eq!(&streamed, &got);
        let want: Vec<&Item> = {
            let mut w: Vec<&Item> = items.iter().filter(|i| matches(i, &e)).collect();
            w.sort_by(|a, b| a.name.cmp(&b.name));
            w
        };
        prop_assert_eq!(
            got.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            want.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            "{}", crate::select::render("dom", &q)
        );
        // Items come back whole.
        for (g, w) in got.iter().zip(want) {
            prop_assert_eq!(&g.attrs, &w.attrs);
        }
        let names: BTreeSet<&str> = items.iter().map(|i| i.name.as_str()).collect();
        prop_assert_eq!(names.len(), items.len());
    }
}

#[test]
fn the_naive_like_is_right() {
    assert!(like("x*y", "x*y"));
    assert!(like("x*y", "x%"));
    assert!(!like("xy", "x\\%"));
    assert!(like("x%", "x\\%"));
    assert!(like("a\\b", "a\\\\b"));
    assert!(like("", "%"));
    assert!(!like("ab", "%a"));
    assert!(like("aba", "%a"));
    assert!(like("aXbXc", "a%b%c"));
    assert!(!like("ab", "a%b%b"));
}
