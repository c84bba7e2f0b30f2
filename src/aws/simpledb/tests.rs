use super::meta::*;
use super::*;

fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

fn put(item: &str, a: Attrs, remove: &[&str]) -> Change {
    Change::Put {
        item: item.into(),
        attrs: a,
        remove: remove.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn puts_batch_by_25_and_deletes_follow_in_order() {
    let mut changes: Vec<Change> = (0..60)
        .map(|i| put(&format!("i{i}"), attrs(&[("a", &["1"])]), &[]))
        .collect();
    changes.push(Change::Delete { item: "x".into() });
    changes.push(Change::Delete { item: "y".into() });
    let ops = plan(&changes);
    let sizes: Vec<usize> = ops
        .iter()
        .map(|o| match o {
            Op::BatchPut(v) => v.len(),
            Op::BatchDelete(v) => 100 + v.len(),
            _ => 1000,
        })
        .collect();
    assert_eq!(sizes, vec![25, 25, 10, 102]);
}

#[test]
fn a_repeated_item_starts_a_new_batch_and_removals_follow_their_batch() {
    let ops = plan(&[
        put("a", attrs(&[("x", &["1"])]), &["old", "x"]),
        put("a", attrs(&[("x", &["2"])]), &[]),
    ]);
    assert_eq!(
        ops,
        vec![
            Op::BatchPut(vec![PutItem {
                item: "a".into(),
                pairs: vec![PutAttr {
                    name: "x".into(),
                    value: "1".into(),
                    replace: true
                }]
            }]),
            Op::DeleteAttrs {
                item: "a".into(),
                pairs: vec![DeleteAttr {
                    name: "old".into(),
                    value: None
                }]
            },
            Op::BatchPut(vec![PutItem {
                item: "a".into(),
                pairs: vec![PutAttr {
                    name: "x".into(),
                    value: "2".into(),
                    replace: true
                }]
            }]),
        ]
    );
}

#[test]
fn add_and_delete_value_never_replace() {
    let ops = plan(&[
        Change::AddValue {
            item: "meta".into(),
            attr: "dists".into(),
            value: "sid".into(),
        },
        Change::DeleteValue {
            item: "meta".into(),
            attr: "dists".into(),
            value: "old".into(),
        },
    ]);
    assert_eq!(
        ops,
        vec![
            Op::Put(PutItem {
                item: "meta".into(),
                pairs: vec![PutAttr {
                    name: "dists".into(),
                    value: "sid".into(),
                    replace: false
                }]
            }),
            Op::DeleteAttrs {
                item: "meta".into(),
                pairs: vec![DeleteAttr {
                    name: "dists".into(),
                    value: Some("old".into())
                }]
            }
        ]
    );
}

#[test]
fn large_items_split_without_losing_values() {
    let values: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let mut a = Attrs::new();
    a.insert("many".into(), values.clone());
    let ops = plan(&[put("big", a, &[])]);
    assert_eq!(ops.len(), 2);
    let Op::BatchPut(first) = &ops[0] else {
        panic!()
    };
    let Op::Put(second) = &ops[1] else { panic!() };
    assert_eq!(first[0].pairs.len(), 256);
    assert!(first[0].pairs.iter().all(|p| p.replace));
    assert_eq!(second.pairs.len(), 44);
    assert!(second.pairs.iter().all(|p| !p.replace));
}

#[test]
fn batches_respect_the_byte_limit() {
    let big = "x".repeat(1000);
    let changes: Vec<Change> = (0..20)
        .map(|i| {
            let mut a = Attrs::new();
            for j in 0..100 {
                a.insert(format!("a{j:03}"), vec![big.clone()]);
            }
            put(&format!("i{i}"), a, &[])
        })
        .collect();
    for op in plan(&changes) {
        let Op::BatchPut(items) = op else { panic!() };
        let bytes: usize = items
            .iter()
            .flat_map(|i| i.pairs.iter())
            .map(|p| p.name.len() + p.value.len())
            .sum();
        assert!(bytes <= MAX_BATCH_BYTES);
    }
}

/// Values that triple when form-encoded: the batches are cut by what is
/// sent, not by the raw bytes.
#[test]
fn batches_fit_one_megabyte_as_sent() {
    let wide = "é\u{1}%".repeat(250);
    let changes: Vec<Change> = (0..25)
        .map(|i| {
            let mut a = Attrs::new();
            for j in 0..60 {
                a.insert(format!("a{j:03}"), vec![wide.clone()]);
            }
            put(&format!("i{i}"), a, &[])
        })
        .collect();
    let ops = plan(&changes);
    assert!(ops.len() > 1);
    for op in ops {
        let Op::BatchPut(items) = op else { panic!() };
        let raw: usize = items
            .iter()
            .flat_map(|i| i.pairs.iter())
            .map(|p| p.name.len() + p.value.len())
            .sum();
        let sent = sigv2::canonical_query(&batch_put_params("domain", &items)).len();
        assert!(sent <= MAX_BATCH_BYTES, "{sent} bytes sent ({raw} raw)");
        assert!(sent > raw);
    }
}

#[test]
fn errors_are_parsed_and_classified() {
    let body = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>NoSuchDomain</Code>\
                <Message>The specified domain does not exist.</Message></Error></Errors>\
                <RequestID>x</RequestID></Response>";
    let e = error_from_response(400, body);
    assert_eq!(e.code, "NoSuchDomain");
    assert!(!e.retryable);
    let e = error_from_response(
        503,
        "<Response><Errors><Error><Code>ServiceUnavailable</Code></Error></Errors></Response>",
    );
    assert!(e.retryable);
    let e = error_from_response(502, "bad gateway");
    assert_eq!(e.code, "HTTP 502");
    assert!(e.retryable);
    let e = error_from_response(
        400,
        "<Response><Errors><Error><Code>RequestThrottled</Code></Error></Errors></Response>",
    );
    assert!(e.retryable);
}

#[test]
fn base64_values_are_decoded() {
    let doc = roxmltree::Document::parse(
        "<A xmlns=\"http://sdb.amazonaws.com/doc/2009-04-15/\"><Attribute><Name>n</Name>\
         <Value encoding=\"base64\">AWI=</Value></Attribute></A>",
    )
    .unwrap();
    let a = elements(doc.root_element(), "Attribute").next().unwrap();
    assert_eq!(attribute_pair(a), ("n".to_string(), "\u{1}b".to_string()));
}

#[test]
fn simpledb_has_its_own_region_and_refuses_one_aws_does_not_serve() {
    use crate::aws::{AwsSettings, Overrides};
    let keys = crate::aws::StaticKeys {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: "secret".into(),
        session_token: None,
    };
    let o = Overrides {
        credentials: Some(keys),
        ..Overrides::default()
    };
    let settings = |region: &str, sdb: Option<&str>| AwsSettings {
        region: Some(region.into()),
        simpledb_region: sdb.map(str::to_string),
        ..AwsSettings::default()
    };
    if std::env::vars().any(|(k, _)| k.starts_with("AWS_ENDPOINT_URL")) {
        eprintln!("SKIPPED: an AWS_ENDPOINT_URL variable overrides every region");
        return;
    }
    let ctx = AwsContext::new(&settings("eu-central-1", None), &o).unwrap();
    let err = SimpleDb::new(&ctx).unwrap_err().to_string();
    assert!(err.contains("not offered in region eu-central-1"), "{err}");
    assert!(err.contains("--simpledb-region"), "{err}");
    let ctx = AwsContext::new(&settings("eu-central-1", Some("eu-west-1")), &o).unwrap();
    assert_eq!(ctx.region(), "eu-central-1");
    let client = SimpleDb::new(&ctx).unwrap();
    assert_eq!(client.endpoint(), "https://sdb.eu-west-1.amazonaws.com/");
}

#[test]
fn the_signature_covers_every_parameter_and_the_session_token() {
    use crate::aws::{AwsSettings, Overrides, StaticKeys};
    let o = Overrides {
        simpledb_endpoint: Some("http://127.0.0.1:8700/".into()),
        credentials: Some(StaticKeys {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
        }),
        ..Overrides::default()
    };
    let ctx = AwsContext::new(&AwsSettings::default(), &o).unwrap();
    let client = SimpleDb::new(&ctx).unwrap();
    let creds = Credentials::new("AKIDTEST", "secret", Some("token".into()), None, "t");
    let mut params = domain_params("d o'm");
    params.insert("ItemName".into(), "a&b=c".into());
    let body = client.signed_body("GetAttributes", &params, &creds);
    let mut got: BTreeMap<String, String> = body
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect();
    assert_eq!(got["SecurityToken"], "token");
    assert_eq!(got["AWSAccessKeyId"], "AKIDTEST");
    assert_eq!(got["SignatureVersion"], "2");
    assert_eq!(got["SignatureMethod"], "HmacSHA256");
    assert_eq!(got["Version"], API_VERSION);
    assert_eq!(got["Action"], "GetAttributes");
    assert_eq!(got["ItemName"], "a&b=c");
    assert!(!body.contains("secret"));
    let signature = got.remove("Signature").unwrap();
    // The host includes the port, as the Host header does.
    assert_eq!(
        signature,
        sigv2::sign("secret", "POST", "127.0.0.1:8700", "/", &got)
    );
}

mod plan_model {
    //! `plan` must do what the changes say: applying its calls with
    //! SimpleDB's semantics gives the state that applying the changes
    //! one by one gives, and every call is within SimpleDB's limits.
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::super::*;

    type State = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

    fn tidy(state: &mut State) {
        for attrs in state.values_mut() {
            attrs.retain(|_, v| !v.is_empty());
        }
        state.retain(|_, a| !a.is_empty());
    }

    fn by_changes(changes: &[Change]) -> State {
        let mut s = State::new();
        for c in changes {
            match c {
                Change::Put {
                    item,
                    attrs,
                    remove,
                } => {
                    let e = s.entry(item.clone()).or_default();
                    for (k, vs) in attrs {
                        e.insert(k.clone(), vs.iter().cloned().collect());
                    }
                    for r in remove {
                        if attrs.get(r).is_none_or(Vec::is_empty) {
                            e.remove(r);
                        }
                    }
                }
                Change::Delete { item } => {
                    s.remove(item);
                }
                Change::AddValue { item, attr, value } => {
                    s.entry(item.clone())
                        .or_default()
                        .entry(attr.clone())
                        .or_default()
                        .insert(value.clone());
                }
                Change::DeleteValue { item, attr, value } => {
                    if let Some(v) = s.get_mut(item).and_then(|a| a.get_mut(attr)) {
                        v.remove(value);
                    }
                }
            }
            tidy(&mut s);
        }
        s
    }

    fn put(s: &mut State, p: &PutItem) {
        let e = s.entry(p.item.clone()).or_default();
        for pair in p.pairs.iter().filter(|p| p.replace) {
            e.remove(&pair.name);
        }
        for pair in &p.pairs {
            e.entry(pair.name.clone())
                .or_default()
                .insert(pair.value.clone());
        }
    }

    fn by_ops(ops: &[Op]) -> State {
        let mut s = State::new();
        for op in ops {
            match op {
                Op::BatchPut(items) => {
                    assert!(items.len() <= MAX_BATCH_ITEMS);
                    let names: BTreeSet<&str> = items.iter().map(|i| i.item.as_str()).collect();
                    assert_eq!(names.len(), items.len(), "duplicate item in a batch");
                    for i in items {
                        assert!(!i.pairs.is_empty() && i.pairs.len() <= MAX_PAIRS_PER_CALL);
                        put(&mut s, i);
                    }
                }
                Op::Put(i) => {
                    assert!(!i.pairs.is_empty() && i.pairs.len() <= MAX_PAIRS_PER_CALL);
                    put(&mut s, i);
                }
                Op::DeleteAttrs { item, pairs } => {
                    assert!(!pairs.is_empty() && pairs.len() <= MAX_PAIRS_PER_CALL);
                    if let Some(a) = s.get_mut(item) {
                        for DeleteAttr { name, value } in pairs {
                            match value {
                                None => {
                                    a.remove(name);
                                }
                                Some(v) => {
                                    if let Some(vs) = a.get_mut(name) {
                                        vs.remove(v);
                                    }
                                }
                            }
                        }
                    }
                }
                Op::BatchDelete(items) => {
                    assert!(!items.is_empty() && items.len() <= MAX_BATCH_ITEMS);
                    let names: BTreeSet<&String> = items.iter().collect();
                    assert_eq!(names.len(), items.len());
                    for i in items {
                        s.remove(i);
                    }
                }
            }
            tidy(&mut s);
        }
        s
    }

    fn name(pool: usize) -> impl Strategy<Value = String> {
        (0..pool).prop_map(|i| format!("i{i}"))
    }

    fn attr() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["x", "y", "z", "w"]).prop_map(String::from)
    }

    fn value() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["1", "2", "3", "'", "%"]).prop_map(String::from)
    }

    fn change() -> impl Strategy<Value = Change> {
        let attrs = prop::collection::btree_map(attr(), prop::collection::vec(value(), 0..4), 0..4);
        prop_oneof![
            4 => (name(30), attrs, prop::collection::vec(attr(), 0..3))
                .prop_map(|(item, attrs, remove)| Change::Put { item, attrs, remove }),
            1 => name(30).prop_map(|item| Change::Delete { item }),
            1 => (name(30), attr(), value())
                .prop_map(|(item, attr, value)| Change::AddValue { item, attr, value }),
            1 => (name(30), attr(), value())
                .prop_map(|(item, attr, value)| Change::DeleteValue { item, attr, value }),
        ]
    }

    proptest! {
        #[test]
        fn plan_matches_the_changes(changes in prop::collection::vec(change(), 0..120)) {
            prop_assert_eq!(by_ops(&plan(&changes)), by_changes(&changes));
        }
    }
}

#[test]
fn regional_endpoints() {
    assert_eq!(regional_endpoint("us-east-1"), "https://sdb.amazonaws.com");
    assert_eq!(
        regional_endpoint("eu-west-1"),
        "https://sdb.eu-west-1.amazonaws.com"
    );
}
