//! The data model against real data written by apt-repoman 1.0.7: a raw
//! SimpleDB Select dump and the backup file the original made from it.

use std::path::PathBuf;

use repoman::model::{item_key, join_control_text, split_control_text, Attrs, Package};
use serde_json::Value;

/// fixtures/original/ holds copies of the shared fixtures.
fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/original")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn attrs_of_dump_item(item: &Value) -> Attrs {
    let mut a = Attrs::new();
    for pair in item["Attributes"].as_array().unwrap() {
        a.entry(pair["Name"].as_str().unwrap().to_string())
            .or_default()
            .push(pair["Value"].as_str().unwrap().to_string());
    }
    a
}

#[test]
fn item_names_recomputed_from_attributes_equal_the_stored_ones() {
    let dump = fixture("repoman-1.0.7-select-dump.json");
    let mut checked = 0;
    for item in dump["Items"].as_array().unwrap() {
        let name = item["Name"].as_str().unwrap();
        if name == "meta" {
            continue;
        }
        let a = attrs_of_dump_item(item);
        let one = |k: &str| a[k][0].as_str();
        let key = item_key(
            one("name"),
            one("version"),
            one("distribution"),
            one("component"),
            one("architecture"),
        );
        assert_eq!(key, name);
        // The typed view agrees too.
        assert_eq!(Package::from_attrs(&a).unwrap().key(), name);
        checked += 1;
    }
    assert_eq!(checked, 27);
}

#[test]
fn control_text_reassembles_and_refragments_identically() {
    let dump = fixture("repoman-1.0.7-select-dump.json");
    let mut multi = 0;
    for item in dump["Items"].as_array().unwrap() {
        if item["Name"] == "meta" {
            continue;
        }
        let a = attrs_of_dump_item(item);
        let text = join_control_text(&a);
        assert!(
            text.contains("Version: ") || text.contains("Format: "),
            "{text}"
        );
        // Splitting the reassembled text again gives the original's exact
        // fragments: same names, same values.
        let frags = split_control_text(&text, 200).unwrap();
        let stored: Vec<(String, String)> = a
            .iter()
            .filter(|(k, _)| k.starts_with("controltxt"))
            .map(|(k, v)| (k.clone(), v[0].clone()))
            .collect();
        assert_eq!(frags, stored);
        if frags.len() > 1 {
            multi += 1;
        }
    }
    assert!(
        multi >= 1,
        "the fixture has a source package in six fragments"
    );
}

#[test]
fn backup_fixture_items_round_trip_through_the_typed_model() {
    let backup = fixture("repoman-1.0.7-backup.json");
    let mut n = 0;
    for (name, dists) in backup["packages"].as_object().unwrap() {
        for (dist, comps) in dists.as_object().unwrap() {
            for (comp, archs) in comps.as_object().unwrap() {
                for (arch, items) in archs.as_object().unwrap() {
                    for item in items.as_array().unwrap() {
                        let mut a = Attrs::new();
                        for (k, v) in item.as_object().unwrap() {
                            let values = match v {
                                Value::String(s) => vec![s.clone()],
                                Value::Array(vs) => {
                                    vs.iter().map(|x| x.as_str().unwrap().to_string()).collect()
                                }
                                other => panic!("unexpected {other}"),
                            };
                            a.insert(k.clone(), values);
                        }
                        let p = Package::from_attrs(&a).unwrap();
                        assert_eq!(
                            (&p.name, &p.distribution, &p.component, &p.architecture),
                            (name, dist, comp, arch)
                        );
                        // Writing the typed package back gives the same attributes.
                        assert_eq!(p.to_attrs().unwrap(), a);
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 27);
}
