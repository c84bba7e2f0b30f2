//! What the DynamoDB store writes and reads, decided without the network:
//! attribute names as stored, `~dca` keys, a command's changes merged per
//! item into chunks, and the index keys a Select pins.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{COORDINATES, IRREGULAR, MAX_QUERY_KEYS, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_ITEMS};
use crate::select::{CmpOp, Expr, Operand};
use crate::store::Change;

/// How an attribute name is stored: the store's own names start with `~`,
/// so a user's leading `~` is doubled.
pub(super) fn stored_name(a: &str) -> String {
    if a.starts_with('~') {
        format!("~{a}")
    } else {
        a.to_string()
    }
}

/// The user's name of a stored attribute, or `None` for the store's own.
pub(super) fn user_name(stored: &str) -> Option<String> {
    match stored.strip_prefix('~') {
        Some(rest) if rest.starts_with('~') => Some(rest.to_string()),
        Some(_) => None,
        None => Some(stored.to_string()),
    }
}

pub(super) fn check_name(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("an attribute name must not be empty".into());
    }
    if a.len() > 1024 {
        return Err(format!(
            "attribute name of {} bytes (at most 1024, as on SimpleDB)",
            a.len()
        ));
    }
    Ok(())
}

pub(super) fn value_of(vs: &BTreeSet<String>) -> AttributeValue {
    if vs.len() == 1 {
        AttributeValue::S(vs.iter().next().expect("one value").clone())
    } else {
        AttributeValue::Ss(vs.iter().cloned().collect())
    }
}

/// `~dca` for the coordinates' values: the key when each has one value,
/// [`IRREGULAR`] when one has several, none when one is missing.
pub(super) fn dca_key(values: &[Option<Vec<String>>]) -> Option<String> {
    let mut single = Vec::new();
    let mut irregular = false;
    for v in values {
        match v.as_deref() {
            None | Some([]) => return None,
            Some([one]) => single.push(one.clone()),
            Some(_) => irregular = true,
        }
    }
    Some(if irregular {
        IRREGULAR.to_string()
    } else {
        serde_json::to_string(&single).expect("strings serialise")
    })
}

/// What one command does to one item, merged: a delete first (then the
/// item starts empty), attributes whose final values it decides (`None`:
/// removed), and value additions and removals on what the item holds.
#[derive(Debug, Clone, Default)]
pub(super) struct Pending {
    pub(super) deleted: bool,
    pub(super) known: BTreeMap<String, Option<BTreeSet<String>>>,
    pub(super) deltas: BTreeMap<String, Vec<(bool, String)>>,
}

impl Pending {
    pub(super) fn needs_read(&self) -> bool {
        !self.deltas.is_empty()
    }

    pub(super) fn apply(&mut self, c: &Change) {
        match c {
            Change::Put { attrs, remove, .. } => {
                for r in remove {
                    self.deltas.remove(r);
                    self.known.insert(r.clone(), None);
                }
                for (a, vs) in attrs {
                    self.deltas.remove(a);
                    self.known
                        .insert(a.clone(), Some(vs.iter().cloned().collect()));
                }
            }
            Change::Delete { .. } => {
                *self = Pending {
                    deleted: true,
                    ..Pending::default()
                }
            }
            Change::AddValue { attr, value, .. } | Change::DeleteValue { attr, value, .. } => {
                let add = matches!(c, Change::AddValue { .. });
                if self.deleted || self.known.contains_key(attr) {
                    let set = self
                        .known
                        .entry(attr.clone())
                        .or_insert(None)
                        .get_or_insert_with(BTreeSet::new);
                    if add {
                        set.insert(value.clone());
                    } else {
                        set.remove(value);
                    }
                } else {
                    self.deltas
                        .entry(attr.clone())
                        .or_default()
                        .push((add, value.clone()));
                }
            }
        }
    }

    /// Roughly the bytes of the write.
    pub(super) fn size(&self, item: &str) -> usize {
        let known: usize = self
            .known
            .iter()
            .map(|(a, v)| a.len() + v.iter().flatten().map(|x| x.len() + 3).sum::<usize>())
            .sum();
        let deltas: usize = self
            .deltas
            .iter()
            .map(|(a, v)| a.len() + v.iter().map(|x| x.1.len() + 3).sum::<usize>())
            .sum();
        item.len() + known + deltas + 100
    }
}

fn item_of(c: &Change) -> &str {
    match c {
        Change::Put { item, .. }
        | Change::Delete { item }
        | Change::AddValue { item, .. }
        | Change::DeleteValue { item, .. } => item,
    }
}

/// Changes in order, merged per item into chunks of at most 100 items and
/// [`MAX_TRANSACTION_BYTES`]: a change to an item of an earlier chunk goes
/// into the current one, so chunks applied in order keep the changes'
/// order.
pub(super) fn chunks(changes: &[Change]) -> Vec<Vec<(String, Pending)>> {
    let mut out: Vec<Vec<(String, Pending)>> = Vec::new();
    let mut cur: Vec<(String, Pending)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut bytes = 0;
    for c in changes {
        let item = item_of(c);
        if let Some(&i) = at.get(item) {
            let before = cur[i].1.size(item);
            cur[i].1.apply(c);
            bytes = bytes + cur[i].1.size(item) - before.min(cur[i].1.size(item));
            continue;
        }
        let mut p = Pending::default();
        p.apply(c);
        let size = p.size(item);
        if cur.len() == MAX_TRANSACTION_ITEMS
            || (!cur.is_empty() && bytes + size > MAX_TRANSACTION_BYTES)
        {
            out.push(std::mem::take(&mut cur));
            at.clear();
            bytes = 0;
        }
        at.insert(item.to_string(), cur.len());
        cur.push((item.to_string(), p));
        bytes += size;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The values a top-level conjunct pins an attribute to (`a = v`,
/// `a in (..)`, with or without `every`), intersected over conjuncts.
pub(super) fn pinned(e: &Expr, attr: &str) -> Option<BTreeSet<String>> {
    let is = |o: &Operand| matches!(o, Operand::Attr(a) | Operand::Every(a) if a == attr);
    match e {
        Expr::Cmp(o, CmpOp::Eq, v) if is(o) => Some(BTreeSet::from([v.clone()])),
        Expr::In(o, vs) if is(o) => Some(vs.iter().cloned().collect()),
        Expr::And(a, b) | Expr::Intersection(a, b) => match (pinned(a, attr), pinned(b, attr)) {
            (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
            (x, None) | (None, x) => x,
        },
        _ => None,
    }
}

/// The package names a Select pins (`name = v`, `every(name) in (..)`),
/// when they are few.
pub(super) fn package_names(e: &Expr) -> Option<Vec<String>> {
    pinned(e, "name")
        .filter(|n| n.len() <= MAX_QUERY_KEYS)
        .map(|n| n.into_iter().collect())
}

/// Item names a Select pins with `itemName() = v` or `in (..)`.
pub(super) fn pinned_names(e: &Expr) -> Option<Vec<String>> {
    fn walk(e: &Expr) -> Option<BTreeSet<String>> {
        match e {
            Expr::Cmp(Operand::ItemName, CmpOp::Eq, v) => Some(BTreeSet::from([v.clone()])),
            Expr::In(Operand::ItemName, vs) => Some(vs.iter().cloned().collect()),
            Expr::And(a, b) | Expr::Intersection(a, b) => match (walk(a), walk(b)) {
                (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
                (x, None) | (None, x) => x,
            },
            _ => None,
        }
    }
    walk(e).map(|s| s.into_iter().collect())
}

/// The index keys a Select pins: one per combination of the pinned
/// distributions, components and architectures, when all three are pinned
/// and the combinations are few.
pub(super) fn index_keys(e: &Expr) -> Option<Vec<String>> {
    let sets: Vec<BTreeSet<String>> = COORDINATES
        .iter()
        .map(|c| pinned(e, c))
        .collect::<Option<_>>()?;
    let n: usize = sets.iter().map(BTreeSet::len).product();
    if n > MAX_QUERY_KEYS {
        return None;
    }
    let mut keys = Vec::with_capacity(n);
    for d in &sets[0] {
        for c in &sets[1] {
            for a in &sets[2] {
                keys.push(serde_json::to_string(&[d, c, a]).expect("strings serialise"));
            }
        }
    }
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::super::{DCA, KEY, NAME, VERSION};
    use super::*;
    use crate::model::Attrs;

    fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn names_of_the_store_never_meet_the_users() {
        for a in ["name", "~", "~x", "~~y", "a~"] {
            assert_eq!(user_name(&stored_name(a)).as_deref(), Some(a));
        }
        for own in [KEY, DCA, NAME, VERSION] {
            assert_eq!(user_name(own), None);
        }
    }

    #[test]
    fn the_index_key_is_pinned_by_every_coordinate() {
        let f = crate::catalog::Filter {
            dists: vec!["stable".into()],
            comps: vec!["main".into()],
            archs: vec!["amd64".into(), "all".into()],
            ..Default::default()
        }
        .to_select()
        .filter
        .unwrap();
        assert_eq!(
            index_keys(&f).unwrap(),
            [r#"["stable","main","all"]"#, r#"["stable","main","amd64"]"#]
        );
        let partial = crate::catalog::Filter {
            dists: vec!["stable".into()],
            ..Default::default()
        }
        .to_select()
        .filter
        .unwrap();
        assert_eq!(index_keys(&partial), None);
        assert_eq!(
            dca_key(&[
                Some(vec!["a|b".into()]),
                Some(vec!["c".into()]),
                Some(vec!["d".into()])
            ]),
            Some(r#"["a|b","c","d"]"#.into())
        );
        assert_eq!(
            dca_key(&[
                Some(vec!["a".into(), "b".into()]),
                Some(vec!["c".into()]),
                Some(vec!["d".into()])
            ]),
            Some(IRREGULAR.into())
        );
        assert_eq!(
            dca_key(&[None, Some(vec!["c".into()]), Some(vec!["d".into()])]),
            None
        );
    }

    #[test]
    fn changes_merge_per_item_in_chunks_of_100_in_order() {
        let put = |i: usize| Change::Put {
            item: format!("i{i}"),
            attrs: attrs(&[("n", &["1"])]),
            remove: vec![],
        };
        let mut changes: Vec<Change> = (0..150).map(put).collect();
        changes.push(Change::AddValue {
            item: "i0".into(),
            attr: "n".into(),
            value: "2".into(),
        });
        let c = chunks(&changes);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [100, 51]);
        // i0 again, after i149: in the second chunk, relative to the store.
        assert_eq!(c[1][50].0, "i0");
        assert!(c[1][50].1.needs_read());
        // Within a chunk, a put then an added value is one decided write.
        let c = chunks(&[
            put(1),
            Change::AddValue {
                item: "i1".into(),
                attr: "n".into(),
                value: "2".into(),
            },
        ]);
        assert_eq!(c.len(), 1);
        assert!(!c[0][0].1.needs_read());
        assert_eq!(
            c[0][0].1.known["n"],
            Some(BTreeSet::from(["1".to_string(), "2".to_string()]))
        );
        // A delete then a put replaces the item.
        let c = chunks(&[Change::Delete { item: "i1".into() }, put(1)]);
        assert!(c[0][0].1.deleted);
    }
}
