//! Reading a backup as a stream: the JSON is validated while it is read,
//! one item at a time, and each valid item is handed on as it is checked,
//! so memory never holds the document (a 230 MB backup used to become a
//! tree several times its size before the first check) and, with
//! [`scan`], not even the items. The checks and messages are `validate`'s.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::jvalue::JValue;
use super::validate::{
    metadata, package_item, seg, Backup, BackupItem, Checker, Problem, Problems, GZIP_MAGIC,
};
use crate::model::Attrs;

/// The item names (SHA-256 item keys, as 32 bytes) of a backup's items,
/// each with its index in its list: what the duplicate check and
/// `restore --prune` need to know of every item, in 32 bytes instead of the
/// item.
pub type KeySet = HashMap<[u8; 32], u32>;

/// An item key (64 hex digits) as the 32 bytes [`KeySet`] holds.
pub fn key_bytes(key: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if hex::decode_to_slice(key, &mut out).is_err() {
        // Not an item key of ours: keyed by its digest instead.
        use sha2::Digest;
        out = sha2::Sha256::digest(key.as_bytes()).into();
    }
    out
}

/// What a scan found besides the items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The `meta` item's attributes (empty when the backup has none).
    pub metadata: Attrs,
    /// Items whose control text was re-fragmented (their paths).
    pub repacked: Vec<String>,
    /// Package names came in strictly increasing order (as `backup`
    /// writes them).
    pub sorted: bool,
}

/// Why a scan stopped.
#[derive(Debug)]
pub enum ScanError {
    /// The backup is not valid: every problem found.
    Invalid(Problems),
    /// The receiver of the items failed.
    Stopped(anyhow::Error),
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ScanError::Invalid(p) => write!(f, "{p}"),
            ScanError::Stopped(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for ScanError {}

/// Reads, decompresses (gzip is recognised by its magic bytes) and
/// validates a backup from `input`, streaming, and collects its items.
pub fn parse_backup_from(input: impl Read) -> Result<Backup, Problems> {
    let mut items = Vec::new();
    let mut keys = KeySet::new();
    match scan(input, Some(&mut keys), &mut |i| {
        items.push(i);
        Ok(())
    }) {
        Ok(s) => Ok(Backup {
            metadata: s.metadata,
            items,
            repacked: s.repacked,
        }),
        Err(ScanError::Invalid(p)) => Err(p),
        Err(ScanError::Stopped(e)) => Err(Problems(vec![Problem {
            path: "input".into(),
            message: format!("{e:#}"),
        }])),
    }
}

/// Reads, decompresses and validates a backup from `input`, streaming,
/// handing each valid item to `each` as soon as it is checked (in file
/// order; on an invalid backup some items may have been handed on before
/// the problem was found, so a receiver that writes must wait for `Ok`).
/// `keys` receives every item's key and catches duplicates; without it
/// (a second read of input already checked) duplicates are not looked for.
pub fn scan(
    input: impl Read,
    keys: Option<&mut KeySet>,
    each: &mut dyn FnMut(BackupItem) -> anyhow::Result<()>,
) -> Result<Scan, ScanError> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let gzip = reader
        .fill_buf()
        .map(|b| b.starts_with(&GZIP_MAGIC))
        .unwrap_or(false);
    let source: Box<dyn Read> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    let mut state = State {
        c: Checker::new(),
        scan: Scan {
            sorted: true,
            ..Scan::default()
        },
        keys,
        each,
        stopped: None,
        last_name: None,
    };
    let mut de = serde_json::Deserializer::from_reader(source);
    let parsed = de
        .deserialize_any(Top { st: &mut state })
        .and_then(|()| de.end());
    if let Some(e) = state.stopped {
        return Err(ScanError::Stopped(e));
    }
    if let Err(e) = parsed {
        return Err(ScanError::Invalid(Problems(vec![Problem {
            path: "input".into(),
            message: json_error(&e, gzip),
        }])));
    }
    if state.c.problems.is_empty() {
        Ok(state.scan)
    } else {
        Err(ScanError::Invalid(Problems(state.c.problems)))
    }
}

/// A reading error in words: broken gzip, bytes that are not UTF-8, or
/// JSON syntax, with its position.
fn json_error(e: &serde_json::Error, gzip: bool) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    if e.is_io() && gzip {
        return format!("not valid gzip: {msg}");
    }
    if msg.contains("unicode") || msg.contains("UTF-8") {
        return format!(
            "not UTF-8 (invalid byte at line {}, column {})",
            e.line(),
            e.column()
        );
    }
    format!(
        "not valid JSON: {msg} (line {}, column {})",
        e.line(),
        e.column()
    )
}

struct State<'a> {
    c: Checker,
    scan: Scan,
    /// Every item's key and its index in its list.
    keys: Option<&'a mut KeySet>,
    each: &'a mut dyn FnMut(BackupItem) -> anyhow::Result<()>,
    /// The receiver's error, which stopped the reading.
    stopped: Option<anyhow::Error>,
    last_name: Option<String>,
}

/// What a value that is not the expected object or list is, after reading
/// past it.
struct Kind;

impl<'de> Visitor<'de> for Kind {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok("a boolean")
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok("a number")
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok("a number")
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok("a number")
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok("a string")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok("null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok("a list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok("an object")
    }
}

/// Forwards every value kind but the wanted one to [`Kind`], reporting
/// `expected {what}, found {kind}` at `path`.
macro_rules! wrong_kinds {
    ($($method:ident($($arg:ty)?)),*) => {
        $(
            fn $method<E: serde::de::Error>(self, $(v: $arg)?) -> Result<(), E> {
                let kind = Kind.$method::<E>($(v as $arg)?)?;
                self.wrong(kind);
                Ok(())
            }
        )*
    };
}

/// The top-level object: `metadata` and `packages`.
struct Top<'a, 'b> {
    st: &'b mut State<'a>,
}

impl Top<'_, '_> {
    fn wrong(self, kind: &str) {
        self.st.c.add(
            "input",
            format!("expected an object with keys \"metadata\" and \"packages\", found {kind}"),
        );
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a backup object")
    }
    wrong_kinds!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_unit()
    );
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let kind = Kind.visit_seq(seq)?;
        self.wrong(kind);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                self.st.c.add(
                    &seg("input", &key),
                    "duplicate key (JSON readers keep only one)",
                );
            }
            match key.as_str() {
                "metadata" => {
                    let v: JValue = map.next_value()?;
                    if let Some(m) = metadata(&mut self.st.c, &v) {
                        self.st.scan.metadata = m;
                    }
                }
                "packages" => map.next_value_seed(Level {
                    st: &mut *self.st,
                    path: "packages".into(),
                    place: Vec::new(),
                })?,
                other => {
                    map.next_value::<IgnoredAny>()?;
                    self.st.c.add(
                        &seg("input", other),
                        "unexpected key (a backup has exactly the keys \"metadata\" and \"packages\")",
                    );
                }
            }
        }
        for key in ["metadata", "packages"] {
            if !keys.contains(key) {
                self.st.c.add(
                    key,
                    "missing (a backup has exactly the keys \"metadata\" and \"packages\")",
                );
            }
        }
        Ok(())
    }
}

/// One level of `packages`: names, distributions, components,
/// architectures (objects), then a list of items.
struct Level<'a, 'b> {
    st: &'b mut State<'a>,
    path: String,
    /// The keys above: name, distribution, component, architecture.
    place: Vec<String>,
}

impl Level<'_, '_> {
    fn what(&self) -> &'static str {
        match self.place.len() {
            0 => "an object keyed by package name",
            1 => "an object keyed by distribution",
            2 => "an object keyed by component",
            3 => "an object keyed by architecture",
            _ => "a list of items",
        }
    }

    fn wrong(self, kind: &str) {
        let what = self.what();
        self.st
            .c
            .add(&self.path, format!("expected {what}, found {kind}"));
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what())
    }
    wrong_kinds!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_unit()
    );
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.place.len() == 4 {
            let kind = Kind.visit_map(map)?;
            self.wrong(kind);
            return Ok(());
        }
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = seg(&self.path, &key);
            if !keys.insert(key.clone()) {
                self.st
                    .c
                    .add(&path, "duplicate key (JSON readers keep only one)");
            }
            if self.place.is_empty() {
                let st = &mut *self.st;
                if st.last_name.as_ref().is_some_and(|l| *l >= key) {
                    st.scan.sorted = false;
                }
                st.last_name = Some(key.clone());
            }
            let mut place = self.place.clone();
            place.push(key);
            map.next_value_seed(Level {
                st: &mut *self.st,
                path,
                place,
            })?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.place.len() != 4 {
            let kind = Kind.visit_seq(seq)?;
            self.wrong(kind);
            return Ok(());
        }
        let place: [&str; 4] = [0, 1, 2, 3].map(|i| self.place[i].as_str());
        let mut i = 0u32;
        while let Some(v) = seq.next_element::<JValue>()? {
            let ip = format!("{}[{i}]", self.path);
            let st = &mut *self.st;
            if let Some(item) = package_item(&mut st.c, &ip, &v, place, &mut st.scan.repacked) {
                // Two items of one key are in one list (their place is
                // their key's), or in lists of the same path (a repeated
                // key, reported as such).
                let first =
                    st.keys
                        .as_mut()
                        .and_then(|keys| match keys.entry(key_bytes(&item.key)) {
                            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                e.insert(i);
                                None
                            }
                        });
                match first {
                    Some(j) => st.c.add(
                        &ip,
                        format!(
                            "the same package (name, version, distribution, component, architecture) as {}[{j}]",
                            self.path
                        ),
                    ),
                    None => {
                        if let Err(e) = (st.each)(item) {
                            st.stopped = Some(e);
                            return Err(serde::de::Error::custom("stopped"));
                        }
                    }
                }
            }
            i += 1;
        }
        Ok(())
    }
}
