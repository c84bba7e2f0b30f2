//! Incremental backups: a full backup followed by increments, each naming
//! the backup it is based on.
//!
//! An increment is its own small JSON document (gzipped in the bucket):
//!
//! ```json
//! {"format": "repoman-increment-1", "base": "backups/local/20260102T030405Z.json.gz",
//!  "base_sha256": "…", "metadata": {…}, "packages": {name: {dist: {comp: {arch: [item…]}}}},
//!  "removed": [name…]}
//! ```
//!
//! The unit of change is the package name: `packages` holds the whole
//! subtree (exactly as a full backup writes it) of every name whose items
//! were added, changed or partly removed since the base, and `removed` the
//! names that have no items any more. `metadata` is the whole configuration
//! (a handful of values). Replaying a chain therefore rebuilds the full
//! backup at its last point, byte for byte.

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use super::pyjson::{self, Style};

/// The `format` value of an increment.
pub const FORMAT: &str = "repoman-increment-1";

/// The state a backup describes: the configuration and each package name's
/// subtree, in name order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub metadata: Value,
    pub packages: Map<String, Value>,
}

impl State {
    /// The state a full backup document (plain JSON) holds. Only the shape
    /// is checked here; restore validates every item of the merged result.
    pub fn from_full(json: &[u8]) -> Result<State> {
        let doc: Value = serde_json::from_slice(json).context("not valid JSON")?;
        let Value::Object(mut top) = doc else {
            bail!("not a JSON object");
        };
        let metadata = top.shift_remove("metadata").context("no \"metadata\"")?;
        let Some(Value::Object(packages)) = top.shift_remove("packages") else {
            bail!("no \"packages\" object");
        };
        Ok(State { metadata, packages })
    }

    /// The full backup document of this state, as `backup` writes it.
    pub fn render(&self, style: Style) -> Vec<u8> {
        let mut doc = Map::new();
        doc.insert("metadata".into(), self.metadata.clone());
        doc.insert("packages".into(), Value::Object(self.packages.clone()));
        let mut out = Vec::new();
        pyjson::write_value(&mut out, &Value::Object(doc), style, 0).expect("writing to memory");
        out.push(b'\n');
        out
    }

    /// Applies an increment document (plain JSON).
    pub fn apply(&mut self, json: &[u8]) -> Result<()> {
        let inc = Increment::parse(json)?;
        for name in &inc.removed {
            if self.packages.shift_remove(name).is_none() {
                bail!("removes package {name:?}, which its base does not have");
            }
        }
        for (name, subtree) in inc.packages {
            self.packages.insert(name, subtree);
        }
        // Names stay in order, as a full backup writes them.
        self.packages.sort_keys();
        self.metadata = inc.metadata;
        Ok(())
    }
}

/// An increment, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Increment {
    pub base: String,
    pub base_sha256: String,
    pub metadata: Value,
    pub packages: Map<String, Value>,
    pub removed: Vec<String>,
}

impl Increment {
    /// What changed from `base` to `now`.
    pub fn between(base: &State, now: &State, base_key: &str, base_sha256: &str) -> Increment {
        let packages = now
            .packages
            .iter()
            .filter(|(name, subtree)| base.packages.get(*name) != Some(*subtree))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        let removed = base
            .packages
            .keys()
            .filter(|n| !now.packages.contains_key(*n))
            .cloned()
            .collect();
        Increment {
            base: base_key.to_string(),
            base_sha256: base_sha256.to_string(),
            metadata: now.metadata.clone(),
            packages,
            removed,
        }
    }

    /// How many items the increment carries.
    pub fn items(&self) -> u64 {
        fn count(v: &Value) -> u64 {
            match v {
                Value::Object(m) => m.values().map(count).sum(),
                Value::Array(a) => a.len() as u64,
                _ => 0,
            }
        }
        self.packages.values().map(count).sum()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut doc = Map::new();
        doc.insert("format".into(), FORMAT.into());
        doc.insert("base".into(), self.base.clone().into());
        doc.insert("base_sha256".into(), self.base_sha256.clone().into());
        doc.insert("metadata".into(), self.metadata.clone());
        doc.insert("packages".into(), Value::Object(self.packages.clone()));
        doc.insert(
            "removed".into(),
            Value::Array(self.removed.iter().cloned().map(Value::from).collect()),
        );
        let mut out = pyjson::to_string(&Value::Object(doc), Style::Compact).into_bytes();
        out.push(b'\n');
        out
    }

    pub fn parse(json: &[u8]) -> Result<Increment> {
        let doc: Value = serde_json::from_slice(json).context("not valid JSON")?;
        let Value::Object(mut top) = doc else {
            bail!("not a JSON object");
        };
        if top.shift_remove("format").as_ref().and_then(Value::as_str) != Some(FORMAT) {
            bail!("not an increment (\"format\" is not {FORMAT:?})");
        }
        let string = |top: &mut Map<String, Value>, k: &str| -> Result<String> {
            match top.shift_remove(k) {
                Some(Value::String(s)) => Ok(s),
                _ => bail!("{k:?} is missing or not a string"),
            }
        };
        let base = string(&mut top, "base")?;
        let base_sha256 = string(&mut top, "base_sha256")?;
        let metadata = top.shift_remove("metadata").context("no \"metadata\"")?;
        let Some(Value::Object(packages)) = top.shift_remove("packages") else {
            bail!("no \"packages\" object");
        };
        let Some(Value::Array(removed)) = top.shift_remove("removed") else {
            bail!("no \"removed\" list");
        };
        let removed = removed
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => bail!("\"removed\" holds a value that is not a name"),
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(k) = top.keys().next() {
            bail!("unexpected key {k:?}");
        }
        if let Some(n) = removed.iter().find(|n| packages.contains_key(*n)) {
            bail!("package {n:?} is both changed and removed");
        }
        Ok(Increment {
            base,
            base_sha256,
            metadata,
            packages,
            removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(v: Value) -> State {
        State::from_full(&serde_json::to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn an_increment_carries_only_what_changed_and_replays_exactly() {
        let a = state(json!({"metadata": {"dists": ["s"]}, "packages": {
            "a": {"s": {"m": {"amd64": [{"v": "1"}]}}},
            "b": {"s": {"m": {"amd64": [{"v": "1"}]}}},
            "c": {"s": {"m": {"amd64": [{"v": "1"}]}}}}}));
        let b = state(json!({"metadata": {"dists": ["s", "t"]}, "packages": {
            "a": {"s": {"m": {"amd64": [{"v": "1"}]}}},
            "aa": {"s": {"m": {"i386": [{"v": "3"}, {"v": "4"}]}}},
            "c": {"s": {"m": {"amd64": [{"v": "2"}]}}}}}));
        let inc = Increment::between(&a, &b, "k", "00");
        assert_eq!(
            inc.packages.keys().collect::<Vec<_>>(),
            [&"aa".to_string(), &"c".to_string()]
        );
        assert_eq!(inc.removed, ["b"]);
        assert_eq!(inc.items(), 3);
        let json = inc.to_json();
        assert_eq!(Increment::parse(&json).unwrap(), inc);
        let mut replayed = a.clone();
        replayed.apply(&json).unwrap();
        assert_eq!(replayed.render(Style::Compact), b.render(Style::Compact));
        assert_eq!(replayed.render(Style::Indented), b.render(Style::Indented));
    }

    #[test]
    fn malformed_increments_are_refused() {
        let base = state(json!({"metadata": {}, "packages": {"a": {}}}));
        for (bad, why) in [
            (json!({"metadata": {}, "packages": {}}), "not an increment"),
            (
                json!({"format": FORMAT, "base": "k", "base_sha256": "0", "metadata": {}, "packages": {}, "removed": ["zz"]}),
                "does not have",
            ),
            (
                json!({"format": FORMAT, "base": "k", "base_sha256": "0", "metadata": {}, "packages": {"a": {}}, "removed": ["a"]}),
                "both changed and removed",
            ),
            (
                json!({"format": FORMAT, "base": "k", "base_sha256": "0", "metadata": {}, "packages": {}, "removed": [], "x": 1}),
                "unexpected key",
            ),
        ] {
            let e = base
                .clone()
                .apply(&serde_json::to_vec(&bad).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
