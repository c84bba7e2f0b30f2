//! A JSON value that keeps what `serde_json::Value` would hide from a
//! validator: duplicate object keys (JSON allows them; a backup with two
//! entries for one package name would silently lose one) and key order.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum JValue {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<JValue>),
    /// Entries in file order, duplicates kept.
    Object(Vec<(String, JValue)>),
}

impl JValue {
    /// What kind of value this is, for messages ("found a number").
    pub fn kind(&self) -> &'static str {
        match self {
            JValue::Null => "null",
            JValue::Bool(_) => "a boolean",
            JValue::Number(_) => "a number",
            JValue::String(_) => "a string",
            JValue::Array(_) => "a list",
            JValue::Object(_) => "an object",
        }
    }
}

/// Written back as it was read: keys in order, duplicates kept.
impl Serialize for JValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JValue::Null => s.serialize_unit(),
            JValue::Bool(b) => s.serialize_bool(*b),
            JValue::Number(n) => s.serialize_f64(*n),
            JValue::String(t) => s.serialize_str(t),
            JValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            JValue::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for JValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JValue, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = JValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JValue, E> {
        Ok(JValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<JValue, E> {
        Ok(JValue::Number(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JValue, E> {
        Ok(JValue::Number(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<JValue, E> {
        Ok(JValue::Number(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<JValue, E> {
        Ok(JValue::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<JValue, E> {
        Ok(JValue::String(v))
    }

    fn visit_unit<E>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }

    fn visit_none<E>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JValue, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(JValue::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JValue, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = map.next_entry::<String, JValue>()? {
            v.push((k, x));
        }
        Ok(JValue::Object(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_and_order_are_kept() {
        let v: JValue = serde_json::from_str(r#"{"b": 1, "a": [true, null], "b": "x"}"#).unwrap();
        let JValue::Object(entries) = v else {
            panic!("not an object")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(entries[2].1, JValue::String("x".into()));
        assert_eq!(
            entries[1].1,
            JValue::Array(vec![JValue::Bool(true), JValue::Null])
        );
    }
}
