use super::*;
use crate::parse::parse;

fn engine() -> Engine {
    let e = Engine::open_in_memory().unwrap();
    e.create_domain("dom").unwrap();
    e
}

fn put(e: &Engine, item: &str, pairs: &[(&str, &str)]) {
    let attrs: Vec<PutAttr> = pairs
        .iter()
        .map(|(n, v)| PutAttr {
            name: n.to_string(),
            value: v.to_string(),
            replace: false,
        })
        .collect();
    e.put_attributes("dom", item, &attrs, None).unwrap();
}

/// Item names a Select returns over all pages, in order.
fn sel(e: &Engine, text: &str) -> Vec<String> {
    let (d, q) = parse(text).unwrap();
    let mut out = Vec::new();
    e.select_each(&d, &q, &mut |i| {
        out.push(i.name);
        Ok(())
    })
    .unwrap();
    out
}

fn sel_err(e: &Engine, text: &str) -> SdbError {
    let (d, q) = parse(text).unwrap();
    e.select(&d, &q, true, None, PageLimit::SIMPLEDB)
        .unwrap_err()
}

/// SimpleDB's sample data set (books and records), trimmed.
fn books() -> Engine {
    let e = engine();
    put(
        &e,
        "0385333498",
        &[
            ("Title", "The Sirens of Titan"),
            ("Year", "1959"),
            ("Pages", "00336"),
            ("Keyword", "Book"),
            ("Keyword", "Paperback"),
            ("Rating", "*****"),
            ("Rating", "5 stars"),
            ("Rating", "Excellent"),
        ],
    );
    put(
        &e,
        "0802131786",
        &[
            ("Title", "Tropic of Cancer"),
            ("Year", "1934"),
            ("Pages", "00318"),
            ("Keyword", "Book"),
            ("Rating", "****"),
        ],
    );
    put(
        &e,
        "1579124585",
        &[
            ("Title", "The Right Stuff"),
            ("Year", "1979"),
            ("Pages", "00304"),
            ("Keyword", "Book"),
            ("Keyword", "Hardcover"),
            ("Keyword", "American"),
            ("Rating", "****"),
            ("Rating", "4 stars"),
        ],
    );
    put(
        &e,
        "B000T9886K",
        &[
            ("Title", "In Between"),
            ("Year", "2007"),
            ("Keyword", "CD"),
            ("Keyword", "Pop"),
            ("Rating", "4 stars"),
        ],
    );
    put(
        &e,
        "B00005JPLW",
        &[
            ("Title", "300"),
            ("Year", "2007"),
            ("Keyword", "DVD"),
            ("Keyword", "Action"),
            ("Keyword", "Frank Miller"),
            ("Rating", "***"),
            ("Rating", "3 stars"),
            ("Rating", "Not bad"),
        ],
    );
    put(
        &e,
        "B000SF3NGK",
        &[
            ("Title", "Heaven and Earth"),
            ("Year", "2008"),
            ("Keyword", "Cult"),
            ("Rating", "*****"),
        ],
    );
    e
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn names(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| s.to_string()).collect())
}

fn many(e: &Engine, n: usize) {
    let items: Vec<Item> = (0..n)
        .map(|i| Item {
            name: format!("i{i:05}"),
            attrs: Attrs::from([
                ("k".to_string(), vec![format!("{:05}", n - i)]),
                ("odd".to_string(), vec![(i % 2).to_string()]),
            ]),
        })
        .collect();
    put_items(e, &items);
}

/// Writes whole items with [`Engine::apply`].
fn put_items(e: &Engine, items: &[Item]) {
    let edits = items.iter().map(|i| Edit::Put {
        item: &i.name,
        attrs: &i.attrs,
        remove: &[],
    });
    e.apply("dom", edits).unwrap();
}

fn pages(e: &Engine, text: &str, limit: PageLimit) -> Vec<Vec<String>> {
    let (d, q) = parse(text).unwrap();
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let page = e.select(&d, &q, false, token.as_deref(), limit).unwrap();
        out.push(page.items.into_iter().map(|i| i.name).collect());
        match page.next_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

/// One page of `q` after `token`, as item names, and the next token.
fn page_after(e: &Engine, q: &Select, token: Option<&str>) -> (Vec<String>, Option<String>) {
    let page = e
        .select("dom", q, false, token, PageLimit::SIMPLEDB)
        .unwrap();
    let names = page.items.into_iter().map(|i| i.name).collect();
    (names, page.next_token)
}

fn item_names(range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("i{i:05}")).collect()
}

fn pa(name: &str, value: &str, replace: bool) -> PutAttr {
    PutAttr {
        name: name.into(),
        value: value.into(),
        replace,
    }
}

fn get(e: &Engine, item: &str) -> Option<Attrs> {
    e.get("dom", item, &[]).unwrap()
}

fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

/// A long value (left out of the value index) of every attribute the
/// tests below compare.
fn long_value() -> String {
    "n".repeat(INDEXED_VALUE_CHARS + 1)
}

/// Items `short` (value `n`) and `long` of attribute `a`, and what the
/// range and `like` queries on `a` find.
fn ranges_find_long_values(e: &Engine) {
    for text in [
        "select * from dom where a > 'm'",
        "select * from dom where a >= 'n' and a <= 'o'",
        "select * from dom where a between 'n' and 'nz'",
        "select * from dom where a like 'n%'",
        "select * from dom where every(a) < 'o'",
    ] {
        assert_eq!(sel(e, text), ["long", "short"], "{text}");
    }
    assert_eq!(
        sel(e, "select * from dom where a < 'n'"),
        Vec::<String>::new()
    );
}

mod model;
mod paging;
mod plan;
mod select;
mod stamps;
mod writes;
