//! The JSON shape the original prints for `query -f json` and `backup`:
//! `{name: {dist: {comp: {arch: [item, ...]}}}}`, each leaf list sorted
//! oldest to newest by Debian version, each item an object of its attributes
//! (a string when single-valued, a list when multi-valued). Keys are sorted,
//! so identical state always prints identical bytes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::debian::version;
use crate::model::{Attrs, Item};

/// An item's attributes as the original prints them.
pub fn item_json(attrs: &Attrs) -> Value {
    let mut m = Map::new();
    for (k, vs) in attrs {
        let v = match vs.as_slice() {
            [one] => Value::String(one.clone()),
            many => Value::Array(many.iter().cloned().map(Value::String).collect()),
        };
        m.insert(k.clone(), v);
    }
    Value::Object(m)
}

/// Every attribute as a list of strings (the backup's `metadata`).
pub fn meta_json(attrs: &Attrs) -> Value {
    let mut m = Map::new();
    for (k, vs) in attrs {
        m.insert(
            k.clone(),
            Value::Array(vs.iter().cloned().map(Value::String).collect()),
        );
    }
    Value::Object(m)
}

fn first<'a>(attrs: &'a Attrs, key: &str) -> &'a str {
    attrs
        .get(key)
        .and_then(|v| v.first())
        .map(String::as_str)
        .unwrap_or("")
}

/// name → dist → comp → arch → items.
type Tree<'a> =
    BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, Vec<&'a Attrs>>>>>;

/// Groups package items into the nested tree.
pub fn package_tree<'a>(items: impl IntoIterator<Item = &'a Item>) -> Value {
    let mut tree = Tree::new();
    for item in items {
        let a = &item.attrs;
        tree.entry(first(a, "name"))
            .or_default()
            .entry(first(a, "distribution"))
            .or_default()
            .entry(first(a, "component"))
            .or_default()
            .entry(first(a, "architecture"))
            .or_default()
            .push(a);
    }
    let mut names = Map::new();
    for (name, dists) in tree {
        let mut dm = Map::new();
        for (dist, comps) in dists {
            let mut cm = Map::new();
            for (comp, archs) in comps {
                let mut am = Map::new();
                for (arch, mut leaf) in archs {
                    leaf.sort_by(|x, y| version::compare(first(x, "version"), first(y, "version")));
                    am.insert(
                        arch.to_string(),
                        Value::Array(leaf.into_iter().map(item_json).collect()),
                    );
                }
                cm.insert(comp.to_string(), Value::Object(am));
            }
            dm.insert(dist.to_string(), Value::Object(cm));
        }
        names.insert(name.to_string(), Value::Object(dm));
    }
    Value::Object(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, version: &str, files: &[&str]) -> Item {
        let mut a = Attrs::new();
        for (k, v) in [
            ("name", name),
            ("version", version),
            ("distribution", "d"),
            ("component", "c"),
            ("architecture", "source"),
        ] {
            a.insert(k.into(), vec![v.into()]);
        }
        a.insert(
            "files".into(),
            files.iter().map(|s| s.to_string()).collect(),
        );
        Item {
            name: String::new(),
            attrs: a,
        }
    }

    #[test]
    fn leaves_are_sorted_by_debian_version_and_lists_stay_lists() {
        let items = [
            item("p", "1.10", &["a", "b"]),
            item("p", "1:0.1", &["x"]),
            item("p", "1.9", &["a", "b"]),
        ];
        let t = package_tree(&items);
        let leaf = t["p"]["d"]["c"]["source"].as_array().unwrap();
        let versions: Vec<&str> = leaf
            .iter()
            .map(|i| i["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["1.9", "1.10", "1:0.1"]);
        assert!(leaf[0]["files"].is_array());
        assert_eq!(leaf[2]["files"], "x");
    }
}
