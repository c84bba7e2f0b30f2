use super::*;

#[test]
fn simpledb_documentation_examples() {
    let e = books();
    let q = |t: &str| sorted(sel(&e, &format!("select * from dom where {t}")));
    assert_eq!(q("Title = 'The Right Stuff'"), names(&["1579124585"]));
    assert_eq!(
        q("Year > '1985'"),
        names(&["B000T9886K", "B00005JPLW", "B000SF3NGK"])
    );
    assert_eq!(
        q("Rating like '****%'"),
        names(&["0385333498", "1579124585", "0802131786", "B000SF3NGK"])
    );
    assert_eq!(q("Pages < '00320'"), names(&["1579124585", "0802131786"]));
    assert_eq!(
        q("Year > '1975' and Year < '2008'"),
        names(&["1579124585", "B000T9886K", "B00005JPLW"])
    );
    assert_eq!(
        q("Year between '1975' and '2008'"),
        names(&["1579124585", "B000T9886K", "B00005JPLW", "B000SF3NGK"])
    );
    assert_eq!(
        q("Rating = '***' or Rating = '*****'"),
        names(&["0385333498", "B00005JPLW", "B000SF3NGK"])
    );
    assert_eq!(
        q("(Year > '1950' and Year < '1960') or Year like '193%' or Year = '2007'"),
        names(&["0385333498", "0802131786", "B000T9886K", "B00005JPLW"])
    );
    assert_eq!(
        q("Rating = '4 stars' or Rating = '****'"),
        names(&["1579124585", "0802131786", "B000T9886K"])
    );
    assert_eq!(
        q("Keyword = 'Book' and Keyword = 'Hardcover'"),
        names(&[]),
        "both comparisons apply to one value"
    );
    assert_eq!(
        q("Keyword = 'Book' intersection Keyword = 'Hardcover'"),
        names(&["1579124585"])
    );
    assert_eq!(q("every(Rating) = '****'"), names(&["0802131786"]));
    assert_eq!(
        q("Keyword = 'Book' and Rating = '****'"),
        names(&["0802131786", "1579124585"])
    );
    assert_eq!(
        q("Year < '1980' intersection every(Keyword) in ('Book', 'Paperback')"),
        names(&["0385333498", "0802131786"])
    );
}

#[test]
fn one_value_per_attribute_in_a_predicate() {
    let e = engine();
    put(&e, "split", &[("y", "1970"), ("y", "2010")]);
    put(&e, "inside", &[("y", "1990")]);
    let q = |t: &str| sel(&e, &format!("select * from dom where {t}"));
    assert_eq!(q("y > '1980' and y < '2000'"), ["inside"]);
    assert_eq!(q("y > '1980' intersection y < '2000'"), ["inside", "split"]);
    // `!=` finds items with any other value; negation works per value too.
    assert_eq!(q("y != '1970'"), ["inside", "split"]);
    assert_eq!(q("not y = '1970'"), ["inside", "split"]);
    assert_eq!(q("not every(y) != '1970'"), ["split"]);
    assert_eq!(q("every(y) > '1980'"), ["inside"]);
}

#[test]
fn missing_attributes_are_not_considered() {
    let e = engine();
    put(&e, "a", &[("x", "1")]);
    put(&e, "b", &[("y", "1")]);
    let q = |t: &str| sel(&e, &format!("select * from dom where {t}"));
    assert_eq!(q("x != '2'"), ["a"]);
    assert_eq!(q("not x = '2'"), ["a"]);
    assert_eq!(q("x is null"), ["b"]);
    assert_eq!(q("x is not null"), ["a"]);
    assert_eq!(q("every(x) is null"), ["b"]);
    assert_eq!(q("x is null or x = '1'"), ["a", "b"]);
    assert_eq!(q("every(x) = '1'"), ["a"]);
    assert_eq!(q("x = '1' or y = '1'"), ["a", "b"]);
    assert_eq!(q("x = '1' and y = '1'"), Vec::<String>::new());
    assert_eq!(q("itemName() is not null"), ["a", "b"]);
    assert_eq!(q("itemName() is null"), Vec::<String>::new());
}

#[test]
fn like_is_case_sensitive_with_percent_and_backslash() {
    let e = engine();
    for (item, v) in [
        ("1", "hello"),
        ("2", "Hello"),
        ("3", "50% off"),
        ("4", "50 percent"),
        ("5", "a\\b"),
        ("6", "a*b?[c]"),
        ("7", "ünïcødé"),
        ("8", "it's"),
        ("9", "h_llo"),
    ] {
        put(&e, item, &[("v", v)]);
    }
    let q = |p: &str| {
        let text = format!(
            "select * from dom where v like {}",
            crate::select::quote_value(p)
        );
        sel(&e, &text)
    };
    assert_eq!(q("hel%"), ["1"]);
    assert_eq!(q("%ello"), ["1", "2"]);
    assert_eq!(q("%ll%"), ["1", "2", "9"]);
    assert_eq!(q("h%o"), ["1", "9"]);
    assert_eq!(q("h_llo"), ["9"], "_ is no wildcard");
    assert_eq!(q("50\\%%"), ["3"]);
    assert_eq!(q("50%"), ["3", "4"]);
    assert_eq!(q("a\\\\b"), ["5"]);
    assert_eq!(q("a*b?[c]"), ["6"]);
    assert_eq!(q("a*%"), ["6"]);
    assert_eq!(q("ünï%"), ["7"]);
    assert_eq!(q("%'s"), ["8"]);
    assert_eq!(q("%"), ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let not_like = sel(&e, "select * from dom where v not like '%l%'");
    assert_eq!(not_like, ["3", "4", "5", "6", "7", "8"]);
    let by_name = sel(&e, "select * from dom where itemName() like '%'");
    assert_eq!(by_name.len(), 9);
}

#[test]
fn comparisons_are_by_utf8_bytes() {
    let e = engine();
    for (item, v) in [
        ("a", "Z"),
        ("b", "a"),
        ("c", "é"),
        ("d", "\u{1F600}"),
        ("e", "10"),
        ("f", "9"),
    ] {
        put(&e, item, &[("v", v)]);
    }
    let q = |t: &str| sel(&e, &format!("select itemName() from dom where {t}"));
    assert_eq!(q("v > 'z'"), ["c", "d"]);
    assert_eq!(q("v < 'a'"), ["a", "e", "f"]);
    assert_eq!(q("v > '9'"), ["a", "b", "c", "d"]);
    assert_eq!(
        sel(&e, "select * from dom where v is not null order by v"),
        ["e", "f", "a", "b", "c", "d"]
    );
    assert_eq!(q("v in ('é', 'Z', 'nope')"), ["a", "c"]);
    assert_eq!(q("itemName() in ('a', 'f')"), ["a", "f"]);
    assert_eq!(q("itemName() between 'b' and 'd'"), ["b", "c", "d"]);
    assert_eq!(q("itemName() >= 'e'"), ["e", "f"]);
}

#[test]
fn order_by_rules() {
    let e = engine();
    put(&e, "x", &[("n", "2"), ("n", "9")]);
    put(&e, "y", &[("n", "5")]);
    put(&e, "z", &[("m", "1")]);
    assert_eq!(
        sel(&e, "select * from dom where n > '0' order by n"),
        ["x", "y"]
    );
    assert_eq!(
        sel(&e, "select * from dom where n > '0' order by n desc"),
        ["x", "y"],
        "x sorts by its largest value descending"
    );
    assert_eq!(
        sel(&e, "select * from dom where n < '6' order by n desc"),
        ["x", "y"]
    );
    assert_eq!(
        sel(
            &e,
            "select * from dom where n is not null or m = '1' order by n asc"
        ),
        ["x", "y"],
        "items without the sort attribute are left out"
    );
    assert_eq!(
        sel(&e, "select * from dom order by itemName() desc"),
        ["z", "y", "x"]
    );
    let err = sel_err(&e, "select * from dom where m = '1' order by n");
    assert_eq!(err.code, "InvalidSortExpression");
    let err = sel_err(&e, "select * from dom order by n");
    assert_eq!(err.code, "InvalidSortExpression");
}

#[test]
fn predicates_without_a_value_bind_by_plain_join_only_when_that_is_exact() {
    let e = engine();
    put(&e, "has", &[("a", "x"), ("b", "1")]);
    put(&e, "other", &[("a", "y")]);
    put(&e, "none", &[("b", "2")]);
    let cases: [(&str, bool, &[&str]); 8] = [
        ("a = 'x'", true, &["has"]),
        ("not a = 'x'", true, &["other"]),
        ("a is not null", true, &["has", "other"]),
        ("a is null", false, &["none"]),
        ("a is null or a = 'x'", false, &["has", "none"]),
        // `none`: NULL and FALSE is FALSE, so the negation holds.
        ("not (a = 'x' and b = '1')", false, &["none", "other"]),
        ("a = 'x' or b = '2'", false, &["has", "none"]),
        ("not (a is null)", true, &["has", "other"]),
    ];
    for (pred, joins, want) in cases {
        let (_, q) = parse(&format!("select * from dom where {pred}")).unwrap();
        let filter = q.filter.as_ref().unwrap();
        assert_eq!(nullness(filter, "a").never_true, joins, "{pred}");
        assert_eq!(
            sel(&e, &format!("select * from dom where {pred}")),
            want,
            "{pred}"
        );
    }
    // Neither for a name the predicate does not bind, nor for an empty
    // list (which is FALSE, never NULL).
    let n = nullness(&Expr::In(Operand::Attr("a".into()), vec![]), "a");
    assert!(n.never_true && !n.never_false);
    let n = nullness(
        &Expr::Cmp(Operand::Every("a".into()), CmpOp::Eq, "x".into()),
        "a",
    );
    assert!(!n.never_true && !n.never_false);
}

#[test]
fn every_needs_a_value_and_all_values_to_hold() {
    let e = engine();
    put(&e, "all", &[("k", "x"), ("k", "xy")]);
    put(&e, "some", &[("k", "x"), ("k", "z")]);
    put(&e, "none", &[("j", "x")]);
    assert_eq!(
        sel(&e, "select * from dom where every(k) like 'x%'"),
        ["all"]
    );
    assert_eq!(
        sel(&e, "select * from dom where not every(k) like 'x%'"),
        ["none", "some"]
    );
    assert_eq!(
        sel(&e, "select * from dom where every(k) in ('x', 'z', 'xy')"),
        ["all", "some"]
    );
}
