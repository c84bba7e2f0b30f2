use super::*;

#[test]
fn paging_follows_limit_default_and_tokens() {
    let e = engine();
    many(&e, 2600);
    let p = pages(&e, "select * from dom", PageLimit::SIMPLEDB);
    assert_eq!(p.len(), 26, "100 per page by default");
    assert!(p.iter().all(|p| p.len() == 100));
    let all: Vec<String> = p.concat();
    assert_eq!(all.len(), 2600);
    assert!(all.windows(2).all(|w| w[0] < w[1]));

    let p = pages(
        &e,
        "select * from dom where odd = '1' limit 2500",
        PageLimit::SIMPLEDB,
    );
    assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), [1300]);

    let p = pages(
        &e,
        "select itemName() from dom where k > '00000' order by k desc limit 1000",
        PageLimit::SIMPLEDB,
    );
    assert_eq!(
        p.iter().map(Vec::len).collect::<Vec<_>>(),
        [1000, 1000, 600]
    );
    assert_eq!(p[0][0], "i00000");
    assert_eq!(p[2][599], "i02599");

    let p = pages(
        &e,
        "select itemName() from dom order by itemName() desc limit 1000",
        PageLimit::SIMPLEDB,
    );
    assert_eq!(
        p.iter().map(Vec::len).collect::<Vec<_>>(),
        [1000, 1000, 600]
    );
    assert_eq!((p[0][0].as_str(), p[2][599].as_str()), ("i02599", "i00000"));
    assert!(p.concat().windows(2).all(|w| w[0] > w[1]));

    let p = pages(
        &e,
        "select count(*) from dom where odd = '0' limit 500",
        PageLimit::SIMPLEDB,
    );
    assert_eq!(p.len(), 3);
    let (_, q) = parse("select count(*) from dom where odd = '0'").unwrap();
    let page = e
        .select("dom", &q, false, None, PageLimit::SIMPLEDB)
        .unwrap();
    assert_eq!(page.items[0].attrs["Count"], ["1300"]);
    assert_eq!(page.next_token, None);
}

#[test]
fn page_size_is_cut_at_one_megabyte() {
    let e = engine();
    let big = "x".repeat(1000);
    let items: Vec<Item> = (0..300)
        .map(|i| Item {
            name: format!("i{i:03}"),
            attrs: (0..5)
                .map(|a| (format!("a{a}"), vec![big.clone()]))
                .collect(),
        })
        .collect();
    put_items(&e, &items);
    let p = pages(&e, "select * from dom limit 2500", PageLimit::SIMPLEDB);
    assert!(p.len() >= 2, "{} pages", p.len());
    assert!(p[0].len() < 300 && p[0].len() > 100, "{}", p[0].len());
    // Every item once, in order: what a cut page leaves out comes next.
    let want: Vec<String> = (0..300).map(|i| format!("i{i:03}")).collect();
    assert_eq!(p.concat(), want);
    let p = pages(
        &e,
        "select * from dom where a0 is not null order by a0 limit 2500",
        PageLimit::SIMPLEDB,
    );
    assert!(p.len() >= 2, "{} pages", p.len());
    assert_eq!(p.concat(), want);
}

#[test]
fn later_pages_see_writes_made_between_pages() {
    let e = engine();
    many(&e, 50);
    // `k` runs opposite to the item names: i00049 has the smallest.
    let (_, q) = parse("select itemName() from dom where k > '' order by k limit 10").unwrap();
    let (p1, t1) = page_after(&e, &q, None);
    assert_eq!(p1, item_names((40..50).rev()));
    let (p2, t2) = page_after(&e, &q, t1.as_deref());
    assert_eq!(p2, item_names((30..40).rev()));
    // A token used again gives its page again.
    assert_eq!(page_after(&e, &q, t1.as_deref()), (p2, t2.clone()));
    // An item not handed out yet is deleted, another added in its range.
    e.delete_attributes("dom", "i00025", &[], None).unwrap();
    put(&e, "new", &[("k", "00024.5")]);
    let (p3, t3) = page_after(&e, &q, t2.as_deref());
    let mut want = item_names((26..30).rev());
    want.push("new".into());
    want.extend(item_names((20..25).rev()));
    assert_eq!(p3, want);
    let (p4, t4) = page_after(&e, &q, t3.as_deref());
    assert_eq!(p4, item_names((10..20).rev()));
    let (p5, t5) = page_after(&e, &q, t4.as_deref());
    assert_eq!(p5, item_names((0..10).rev()));
    assert_eq!(t5, None);
}

#[test]
fn later_pages_see_writes_by_another_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.sqlite");
    let e = Engine::open(&path).unwrap();
    e.create_domain("dom").unwrap();
    many(&e, 30);
    let other = Engine::open(&path).unwrap();
    let (_, q) = parse("select itemName() from dom limit 10").unwrap();
    let (p1, t1) = page_after(&e, &q, None);
    assert_eq!(p1, item_names(0..10));
    let (p2, t2) = page_after(&e, &q, t1.as_deref());
    assert_eq!(p2, item_names(10..20));
    // Kept from the second page's query, unless the write is noticed.
    other.delete_attributes("dom", "i00025", &[], None).unwrap();
    let (p3, t3) = page_after(&e, &q, t2.as_deref());
    assert_eq!(p3, item_names((20..30).filter(|&i| i != 25)));
    assert_eq!(t3, None);
}

#[test]
fn bad_tokens_and_limits() {
    let e = engine();
    many(&e, 30);
    let (_, q) = parse("select * from dom limit 10").unwrap();
    let page = e
        .select("dom", &q, false, None, PageLimit::SIMPLEDB)
        .unwrap();
    let token = page.next_token.unwrap();
    let err = e
        .select("dom", &q, false, Some("garbage!"), PageLimit::SIMPLEDB)
        .unwrap_err();
    assert_eq!(err.code, "InvalidNextToken");
    let (_, other) = parse("select * from dom where odd = '1' limit 10").unwrap();
    let err = e
        .select("dom", &other, false, Some(&token), PageLimit::SIMPLEDB)
        .unwrap_err();
    assert_eq!(err.code, "InvalidNextToken");
    // The same query with another limit may continue.
    let (_, q5) = parse("select * from dom limit 5").unwrap();
    let page = e
        .select("dom", &q5, false, Some(&token), PageLimit::SIMPLEDB)
        .unwrap();
    assert_eq!(page.items[0].name, "i00010");
    for bad in ["select * from dom limit 0", "select * from dom limit 2501"] {
        assert_eq!(sel_err(&e, bad).code, "InvalidQueryExpression");
    }
    assert_eq!(sel_err(&e, "select * from nope").code, "NoSuchDomain");
}

#[test]
fn output_lists_and_item_names() {
    let e = books();
    let (_, q) = parse("select Title, Year, Nope from dom where Year = '1934'").unwrap();
    let page = e
        .select("dom", &q, true, None, PageLimit::SIMPLEDB)
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        page.items[0].attrs,
        Attrs::from([
            ("Title".to_string(), vec!["Tropic of Cancer".to_string()]),
            ("Year".to_string(), vec!["1934".to_string()]),
        ])
    );
    let (_, q) = parse("select itemName() from dom where Year = '1934'").unwrap();
    let page = e
        .select("dom", &q, true, None, PageLimit::SIMPLEDB)
        .unwrap();
    assert!(page.items[0].attrs.is_empty());
    // Items with none of the listed attributes still come back, bare.
    let (_, q) = parse("select Nope from dom where Year = '1934'").unwrap();
    let page = e
        .select("dom", &q, true, None, PageLimit::SIMPLEDB)
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].attrs.is_empty());
}

#[test]
fn a_file_streams_in_order_with_the_callback_free_to_use_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(&dir.path().join("e.sqlite")).unwrap();
    e.create_domain("dom").unwrap();
    // Six chunks of odd items, the last of three.
    let n = STREAM_CHUNK * 10 + 7;
    many(&e, n);
    let (_, q) = parse("select * from dom where odd = '1'").unwrap();
    let want: Vec<String> = (0..n)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("i{i:05}"))
        .collect();
    for _ in 0..2 {
        let mut got = Vec::new();
        e.select_each("dom", &q, &mut |item| {
            // The engine is usable from the callback: a read, and a
            // whole Select of its own.
            let stored = e.get("dom", &item.name, &[]).unwrap().unwrap();
            assert_eq!(item.attrs, stored);
            if got.len() == STREAM_CHUNK {
                assert_eq!(
                    sel(&e, "select * from dom where odd = '0'").len(),
                    n / 2 + 1
                );
            }
            got.push(item.name);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want);
    }
    // A callback that stops the stream stops it, with its error.
    let mut seen = 0;
    let err = e
        .select_each("dom", &q, &mut |_| {
            seen += 1;
            if seen == STREAM_CHUNK + 1 {
                return Err(SdbError::internal("enough"));
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!((err.message.as_str(), seen), ("enough", STREAM_CHUNK + 1));
    // The stream is a snapshot of when it started: items deleted, changed
    // or added meanwhile (chunks ahead, not read yet) come as they were.
    let last = format!("i{:05}", n - 2);
    let before = e.get("dom", &last, &[]).unwrap().unwrap();
    let mut got = Vec::new();
    e.select_each("dom", &q, &mut |item| {
        if got.is_empty() {
            e.delete_attributes("dom", &last, &[], None).unwrap();
            put(&e, &format!("i{:05}", n - 4), &[("extra", "1")]);
            put(&e, "z-new", &[("odd", "1")]);
        }
        if item.name == last {
            assert_eq!(item.attrs, before);
        }
        assert!(!item.attrs.contains_key("extra"), "{}", item.name);
        got.push(item.name);
        Ok(())
    })
    .unwrap();
    assert_eq!(got, want);
    // The next stream sees those writes.
    let mut now = want.clone();
    now.retain(|i| *i != last);
    now.push("z-new".into());
    assert_eq!(sel(&e, "select * from dom where odd = '1'"), now);
}

/// Items with multi-valued attributes, written in an order unlike their
/// names': `k` has one to three values (some shared, so sort values tie),
/// `t` two, and every fifth item has no `k`.
fn mixed(e: &Engine, n: usize) {
    let mut items: Vec<Item> = (0..n)
        .map(|i| {
            let mut attrs = Attrs::from([(
                "t".to_string(),
                vec![format!("a{}", i % 7), format!("b{}", i % 4)],
            )]);
            if i % 5 != 0 {
                let k = (0..1 + i % 3)
                    .map(|j| format!("{:03}", (i * 37 + j * 101) % 211))
                    .collect::<std::collections::BTreeSet<_>>();
                attrs.insert("k".to_string(), k.into_iter().collect());
            }
            Item {
                name: format!("i{:05}", (i * 7919) % n),
                attrs,
            }
        })
        .collect();
    items.rotate_left(n / 3);
    put_items(e, &items);
}

/// Every item a Select gives over all of [`Engine::select`]'s pages.
fn all_pages(e: &Engine, text: &str) -> Vec<Item> {
    let (d, q) = parse(text).unwrap();
    let mut token: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let page = e
            .select(&d, &q, true, token.as_deref(), PageLimit::SIMPLEDB)
            .unwrap();
        out.extend(page.items);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

#[test]
fn a_stream_of_many_chunks_gives_what_the_pages_give() {
    let dir = tempfile::tempdir().unwrap();
    let file = Engine::open(&dir.path().join("e.sqlite")).unwrap();
    file.create_domain("dom").unwrap();
    let memory = engine();
    let n = 601;
    for e in [&file, &memory] {
        mixed(e, n);
    }
    for text in [
        "select * from dom",
        "select * from dom where t = 'a3'",
        "select * from dom where k > '050' and t in ('b1', 'b2')",
        "select * from dom where k is not null order by k",
        "select * from dom where k > '' order by k desc",
        "select k from dom where t like 'a%' order by itemName() desc",
        "select itemName() from dom where every(k) < '150' order by k limit 7",
        "select t, nope from dom where t = 'b0' limit 3",
    ] {
        let want = all_pages(&memory, text);
        assert!(want.len() > 40, "{text}: {}", want.len());
        if text.starts_with("select *") {
            assert!(want.iter().all(|i| i.attrs["t"].len() == 2), "{text}");
        }
        let (d, q) = parse(text).unwrap();
        for (e, chunk) in [(&file, 1), (&file, 7), (&file, STREAM_CHUNK), (&memory, 7)] {
            let mut got = Vec::new();
            e.stream(&d, &q, chunk, &mut |i| {
                got.push(i);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, want, "{text}, chunks of {chunk}");
        }
        // A stream stopped early stops cleanly, with the caller's error.
        let mut seen = 0;
        let err = file
            .stream(&d, &q, 7, &mut |_| {
                seen += 1;
                if seen == 20 {
                    return Err(SdbError::internal("enough"));
                }
                Ok(())
            })
            .unwrap_err();
        assert_eq!((err.message.as_str(), seen), ("enough", 20), "{text}");
    }
    // A count is one item however many chunks the items take.
    let (d, q) = parse("select count(*) from dom where t = 'a3'").unwrap();
    let mut got = Vec::new();
    file.stream(&d, &q, 7, &mut |i| {
        got.push(i);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        got,
        all_pages(&memory, "select count(*) from dom where t = 'a3'")
    );
}
