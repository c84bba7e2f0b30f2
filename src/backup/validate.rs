//! Reading and validating a backup file as a whole, before anything is
//! written: every problem is collected with its JSON path, and a file with
//! any problem is refused entirely. (The original checked only the two
//! top-level keys and wrote items until the first bad one.)

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;

use super::jvalue::JValue;
use crate::model::{
    item_key, split_control_text, Attrs, Package, CONTROL_PREFIX, IMPLIED_ARCHS,
    MAX_PAIRS_PER_ITEM, MAX_VALUE_BYTES,
};
use crate::rules::{check_package, check_setting, Setting};

/// How many problems an error message lists; the rest are counted.
pub const SHOWN_PROBLEMS: usize = 50;

/// The attributes that place an item in the tree, in tree order.
pub const COORDINATES: [&str; 5] = [
    "name",
    "distribution",
    "component",
    "architecture",
    "version",
];

/// What a binary package item needs besides its coordinates.
pub const BINARY_ATTRS: [&str; 5] = ["filename", "md5", "sha1", "sha256", "size"];

/// One problem in a backup: where (a JSON path such as
/// `packages.hello.stable.main.amd64[2].sha256`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The problems one per line, at most [`SHOWN_PROBLEMS`] of them, then
    /// how many more there are.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .take(SHOWN_PROBLEMS)
            .map(|p| p.to_string())
            .collect();
        if self.0.len() > SHOWN_PROBLEMS {
            out.push(format!(
                "... and {} more problems",
                self.0.len() - SHOWN_PROBLEMS
            ));
        }
        out
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.lines().join("\n"))
    }
}

impl std::error::Error for Problems {}

/// One package item of a valid backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupItem {
    /// Where it is in the file, for messages.
    pub path: String,
    /// Its item name, recomputed from its attributes.
    pub key: String,
    pub attrs: Attrs,
}

impl BackupItem {
    /// The first value of an attribute ("" when absent).
    pub fn get(&self, attr: &str) -> &str {
        first(&self.attrs, attr)
    }

    /// `name version dist/comp/arch`, for listings.
    pub fn describe(&self) -> String {
        describe(&self.attrs)
    }
}

/// The first value of an attribute ("" when absent).
pub fn first<'a>(attrs: &'a Attrs, attr: &str) -> &'a str {
    attrs
        .get(attr)
        .and_then(|v| v.first())
        .map(String::as_str)
        .unwrap_or("")
}

/// `name version dist/comp/arch` of a package item.
pub fn describe(attrs: &Attrs) -> String {
    format!(
        "{} {} {}/{}/{}",
        first(attrs, "name"),
        first(attrs, "version"),
        first(attrs, "distribution"),
        first(attrs, "component"),
        first(attrs, "architecture")
    )
}

/// A valid backup: the configuration and the package items, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backup {
    /// The `meta` item's attributes (empty when the backup has none).
    pub metadata: Attrs,
    pub items: Vec<BackupItem>,
    /// Items whose control text had to be re-fragmented to fit SimpleDB's
    /// limits (into fragments of up to 1024 bytes).
    pub repacked: Vec<String>,
}

/// Decompresses gzip input (recognised by its magic bytes), checks UTF-8,
/// parses and validates, streaming (see [`super::stream`]). Nothing about
/// the input is trusted.
pub fn parse_backup(raw: &[u8]) -> Result<Backup, Problems> {
    super::stream::parse_backup_from(raw)
}

/// gzip's magic number.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The input, gunzipped when it starts with gzip's magic bytes.
pub fn decompress(raw: &[u8]) -> Result<Vec<u8>, String> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|e| format!("not valid gzip: {e}"))?;
    Ok(out)
}

/// A path segment: plain when it is a simple word, quoted otherwise, so
/// every path can be read back unambiguously.
pub(crate) fn seg(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-~:.".contains(c));
    if plain {
        format!("{parent}.{key}")
    } else {
        format!(
            "{parent}[{}]",
            serde_json::to_string(key).expect("strings serialize")
        )
    }
}

pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
}

impl Checker {
    pub(super) fn new() -> Checker {
        Checker {
            problems: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// The entries of an object, reporting duplicate keys; `None` (and a
    /// problem) when `v` is not an object.
    fn object<'a>(
        &mut self,
        path: &str,
        v: &'a JValue,
        what: &str,
    ) -> Option<&'a [(String, JValue)]> {
        match v {
            JValue::Object(entries) => {
                let mut seen = BTreeSet::new();
                for (k, _) in entries {
                    if !seen.insert(k.as_str()) {
                        self.add(&seg(path, k), "duplicate key (JSON readers keep only one)");
                    }
                }
                Some(entries)
            }
            other => {
                self.add(path, format!("expected {what}, found {}", other.kind()));
                None
            }
        }
    }

    /// An attribute's values: a string or a non-empty list of strings,
    /// without repeats (SimpleDB keeps a set of values per attribute).
    fn values(&mut self, path: &str, v: &JValue, allow_empty: bool) -> Option<Vec<String>> {
        match v {
            JValue::String(s) => Some(vec![s.clone()]),
            JValue::Array(xs) => {
                if xs.is_empty() && !allow_empty {
                    self.add(path, "empty list: an attribute needs at least one value");
                    return None;
                }
                let mut out = Vec::with_capacity(xs.len());
                let mut ok = true;
                for (i, x) in xs.iter().enumerate() {
                    match x {
                        JValue::String(s) if out.contains(s) => {
                            self.add(
                                &format!("{path}[{i}]"),
                                "repeated value (an attribute holds each value once)",
                            );
                            ok = false;
                        }
                        JValue::String(s) => out.push(s.clone()),
                        other => {
                            self.add(
                                &format!("{path}[{i}]"),
                                format!("expected a string, found {}", other.kind()),
                            );
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }
            other => {
                self.add(
                    path,
                    format!(
                        "expected a string or a list of strings, found {}",
                        other.kind()
                    ),
                );
                None
            }
        }
    }

    /// The attributes of an object (an item or the metadata), each value
    /// list checked; `None` when any attribute is unusable.
    fn attrs(
        &mut self,
        path: &str,
        entries: &[(String, JValue)],
        allow_empty: bool,
    ) -> Option<Attrs> {
        let mut attrs = Attrs::new();
        let mut ok = true;
        for (k, v) in entries {
            let p = seg(path, k);
            if k.is_empty() {
                self.add(&p, "empty attribute name");
                ok = false;
                continue;
            }
            if k.len() > MAX_VALUE_BYTES {
                self.add(
                    &p,
                    format!(
                        "attribute name of {} bytes exceeds SimpleDB's {MAX_VALUE_BYTES}-byte limit",
                        k.len()
                    ),
                );
                ok = false;
            }
            match self.values(&p, v, allow_empty) {
                Some(vs) if vs.is_empty() => {}
                Some(vs) => {
                    attrs.insert(k.clone(), vs);
                }
                None => ok = false,
            }
        }
        ok.then_some(attrs)
    }

    /// Values longer than SimpleDB allows; control-text fragments are
    /// checked separately since they can be re-packed.
    fn value_sizes(&mut self, path: &str, attrs: &Attrs, skip_control: bool) -> bool {
        let mut ok = true;
        for (k, vs) in attrs {
            if skip_control && k.starts_with(CONTROL_PREFIX) {
                continue;
            }
            for v in vs {
                if v.len() > MAX_VALUE_BYTES {
                    self.add(
                        &seg(path, k),
                        format!(
                            "value of {} bytes exceeds SimpleDB's {MAX_VALUE_BYTES}-byte limit",
                            v.len()
                        ),
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    fn pair_count(&mut self, path: &str, attrs: &Attrs) -> bool {
        let pairs: usize = attrs.values().map(Vec::len).sum();
        if pairs > MAX_PAIRS_PER_ITEM {
            self.add(
                path,
                format!("{pairs} attribute values exceed SimpleDB's limit of {MAX_PAIRS_PER_ITEM} per item"),
            );
            return false;
        }
        true
    }

    /// A single-valued attribute, or a problem.
    fn single<'a>(&mut self, path: &str, attrs: &'a Attrs, attr: &str) -> Option<&'a str> {
        let p = seg(path, attr);
        match attrs.get(attr).map(Vec::as_slice) {
            None => {
                self.add(&p, "missing");
                None
            }
            Some([v]) => Some(v.as_str()),
            Some(vs) => {
                self.add(&p, format!("expected one value, found {}", vs.len()));
                None
            }
        }
    }
}

pub(super) fn metadata(c: &mut Checker, v: &JValue) -> Option<Attrs> {
    let entries = c.object("metadata", v, "an object of string lists")?;
    let attrs = c.attrs("metadata", entries, true)?;
    let sizes = c.value_sizes("metadata", &attrs, false);
    let pairs = c.pair_count("metadata", &attrs);
    let mut names = true;
    for kind in Setting::ALL {
        for (i, v) in attrs.get(kind.attr()).into_iter().flatten().enumerate() {
            if kind == Setting::Archs && IMPLIED_ARCHS.contains(&v.as_str()) {
                continue;
            }
            if let Err(e) = check_setting(kind, v) {
                c.add(&format!("metadata.{}[{i}]", kind.attr()), e);
                names = false;
            }
        }
    }
    (sizes && pairs && names).then_some(attrs)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One package item: shape, required attributes, place in the tree, limits.
pub(super) fn package_item(
    c: &mut Checker,
    path: &str,
    v: &JValue,
    place: [&str; 4],
    repacked: &mut Vec<String>,
) -> Option<BackupItem> {
    let entries = c.object(path, v, "an item (an object of attributes)")?;
    let mut attrs = c.attrs(path, entries, false)?;
    let before = c.problems.len();
    let mut coords = Vec::new();
    for attr in COORDINATES {
        if let Some(v) = c.single(path, &attrs, attr) {
            if v.is_empty() {
                c.add(&seg(path, attr), "empty");
            }
            coords.push(v.to_string());
        }
    }
    if coords.len() == COORDINATES.len() {
        for (i, level) in ["name", "distribution", "component", "architecture"]
            .iter()
            .enumerate()
        {
            if coords[i] != place[i] {
                c.add(
                    &seg(path, level),
                    format!(
                        "{:?} does not match the item's place in the tree ({:?})",
                        coords[i], place[i]
                    ),
                );
            }
        }
    }
    if place[3] == "source" {
        if !attrs.contains_key("files") {
            c.add(
                &seg(path, "files"),
                "missing (a source item lists its files)",
            );
        }
    } else {
        binary_attrs(c, path, &attrs);
    }
    c.value_sizes(path, &attrs, true);
    let was_repacked = fit_control_text(c, path, &mut attrs)?;
    if c.problems.len() > before || coords.len() != COORDINATES.len() {
        return None;
    }
    if !c.pair_count(path, &attrs) {
        return None;
    }
    // The rules every stored package follows, however it arrives.
    match Package::from_attrs(&attrs) {
        Ok(p) => {
            let problems = check_package(&p);
            if !problems.is_empty() {
                for e in problems {
                    c.add(path, e);
                }
                return None;
            }
        }
        Err(e) => {
            c.add(path, format!("not a package: {e}"));
            return None;
        }
    }
    if was_repacked {
        repacked.push(path.to_string());
    }
    let [name, dist, comp, arch, version] = [0, 1, 2, 3, 4].map(|i| coords[i].as_str());
    Some(BackupItem {
        path: path.to_string(),
        key: item_key(name, version, dist, comp, arch),
        attrs,
    })
}

fn binary_attrs(c: &mut Checker, path: &str, attrs: &Attrs) {
    if attrs.contains_key("files") {
        c.add(
            &seg(path, "files"),
            "a binary item (architecture other than \"source\") cannot have a files attribute",
        );
    }
    for attr in BINARY_ATTRS {
        let Some(v) = c.single(path, attrs, attr) else {
            continue;
        };
        let p = seg(path, attr);
        let bad = match attr {
            "size" => (v.is_empty()
                || !v.bytes().all(|b| b.is_ascii_digit())
                || v.parse::<u64>().is_err())
            .then_some("not a decimal byte count"),
            "md5" => (!is_hex(v, 32)).then_some("not 32 hexadecimal digits"),
            "sha1" => (!is_hex(v, 40)).then_some("not 40 hexadecimal digits"),
            "sha256" => (!is_hex(v, 64)).then_some("not 64 hexadecimal digits"),
            _ => (v.is_empty() || v.contains('/')).then_some("not a file name"),
        };
        if let Some(msg) = bad {
            c.add(&p, format!("{v:?} is {msg}"));
        }
    }
}

/// Control text whose fragments exceed a value's 1024 bytes, or that makes
/// the item exceed 256 pairs, is re-split with `split_control_text` (which
/// packs up to 1024 bytes per fragment when 256 characters each would not
/// fit); text that cannot fit either way is a problem. Returns whether it
/// re-split; `None` on a problem.
fn fit_control_text(c: &mut Checker, path: &str, attrs: &mut Attrs) -> Option<bool> {
    let pairs: usize = attrs.values().map(Vec::len).sum();
    let control: Vec<&String> = attrs
        .keys()
        .filter(|k| k.starts_with(CONTROL_PREFIX))
        .collect();
    let multi = control
        .iter()
        .find(|k| attrs[k.as_str()].len() > 1)
        .cloned();
    if let Some(k) = multi {
        c.add(
            &seg(path, k),
            "a control-text fragment has one value, found a list",
        );
        return None;
    }
    let oversize = control
        .iter()
        .any(|k| attrs[k.as_str()][0].len() > MAX_VALUE_BYTES);
    if !oversize && pairs <= MAX_PAIRS_PER_ITEM {
        return Some(false);
    }
    let others = pairs - control.len();
    if others >= MAX_PAIRS_PER_ITEM {
        // No room for any control text: the pair count says so.
        return Some(false);
    }
    let text = crate::model::join_control_text(attrs);
    let names: Vec<String> = control.into_iter().cloned().collect();
    match split_control_text(&text, MAX_PAIRS_PER_ITEM.saturating_sub(others)) {
        Ok(frags) => {
            for k in names {
                attrs.remove(&k);
            }
            for (k, v) in frags {
                attrs.insert(k, vec![v]);
            }
            Some(true)
        }
        Err(e) => {
            c.add(path, format!("control text cannot be stored: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binary(name: &str, version: &str) -> serde_json::Value {
        json!({
            "name": name, "version": version, "distribution": "stable",
            "component": "main", "architecture": "amd64",
            "filename": format!("{name}_{version}_amd64.deb"),
            "md5": "0".repeat(32), "sha1": "1".repeat(40), "sha256": "2".repeat(64),
            "size": "42",
            "controltxt0": format!("Package: {name}\nVersion: {version}\nArchitecture: amd64\n")
        })
    }

    fn doc(items: Vec<serde_json::Value>) -> serde_json::Value {
        json!({
            "metadata": {"dists": ["stable"], "comps": ["main"], "archs": ["amd64"]},
            "packages": {"hello": {"stable": {"main": {"amd64": items}}}}
        })
    }

    fn problems(v: &serde_json::Value) -> Vec<String> {
        match parse_backup(v.to_string().as_bytes()) {
            Ok(_) => vec![],
            Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_valid_backup_parses_with_recomputed_keys() {
        let b = parse_backup(doc(vec![binary("hello", "1.0")]).to_string().as_bytes()).unwrap();
        assert_eq!(b.items.len(), 1);
        assert_eq!(
            b.items[0].key,
            item_key("hello", "1.0", "stable", "main", "amd64")
        );
        assert_eq!(b.metadata["dists"], ["stable"]);
        assert!(b.repacked.is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut a = binary("hello", "1.0");
        a.as_object_mut().unwrap().remove("sha256");
        let mut b = binary("hello", "2.0");
        b["size"] = json!(42);
        b["distribution"] = json!("unstable");
        let mut d = doc(vec![a, b]);
        d["extra"] = json!(1);
        let p = problems(&d);
        assert!(
            p.contains(&"packages.hello.stable.main.amd64[0].sha256: missing".to_string()),
            "{p:?}"
        );
        assert!(p.iter().any(|l| l.starts_with("packages.hello.stable.main.amd64[1].size: expected a string or a list of strings, found a number")), "{p:?}");
        assert!(
            p.iter()
                .any(|l| l.starts_with("input.extra: unexpected key")),
            "{p:?}"
        );
    }

    #[test]
    fn misplaced_items_and_duplicates_are_refused() {
        let mut d = doc(vec![binary("hello", "1.0"), binary("hello", "1.0")]);
        d["packages"]["other"] = json!({"stable": {"main": {"amd64": [binary("hello", "3")]}}});
        let p = problems(&d);
        assert!(
            p.iter()
                .any(|l| l.starts_with("packages.hello.stable.main.amd64[1]: the same package")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l
                .starts_with("packages.other.stable.main.amd64[0].name: \"hello\" does not match")),
            "{p:?}"
        );
    }

    #[test]
    fn string_and_list_forms_are_both_accepted() {
        let mut a = binary("hello", "1.0");
        a["md5"] = json!(["0".repeat(32)]);
        let b = parse_backup(doc(vec![a]).to_string().as_bytes()).unwrap();
        assert_eq!(b.items[0].attrs["md5"], ["0".repeat(32)]);
    }

    #[test]
    fn source_items_need_files_and_binaries_their_checksums() {
        let d = json!({"metadata": {}, "packages": {"s": {"d": {"c": {
            "source": [{"name": "s", "version": "1", "distribution": "d", "component": "c", "architecture": "source"}],
            "amd64": [{"name": "s", "version": "1", "distribution": "d", "component": "c", "architecture": "amd64",
                       "filename": "a/b", "md5": "xyz", "sha1": "1", "sha256": "2", "size": "-1", "files": "x"}]
        }}}}});
        let p = problems(&d);
        for want in [
            "packages.s.d.c.source[0].files: missing",
            "packages.s.d.c.amd64[0].files: a binary item",
            "packages.s.d.c.amd64[0].md5: \"xyz\" is not 32",
            "packages.s.d.c.amd64[0].size: \"-1\" is not a decimal",
            "packages.s.d.c.amd64[0].filename: \"a/b\" is not a file name",
        ] {
            assert!(p.iter().any(|l| l.starts_with(want)), "{want} not in {p:?}");
        }
    }

    #[test]
    fn oversize_control_text_is_repacked_other_values_are_refused() {
        let mut a = binary("hello", "1.0");
        let text: String = "Package: hello\nVersion: 1.0\nArchitecture: amd64\nDescription: x\n"
            .to_string()
            + &" ✓ ünïcödé\n".repeat(300);
        a["controltxt0"] = json!(text);
        let b = parse_backup(doc(vec![a.clone()]).to_string().as_bytes()).unwrap();
        assert_eq!(b.repacked.len(), 1);
        let attrs = &b.items[0].attrs;
        assert!(attrs
            .iter()
            .all(|(_, v)| v.iter().all(|s| s.len() <= MAX_VALUE_BYTES)));
        assert_eq!(crate::model::join_control_text(attrs), text);

        a["filename"] = json!("x".repeat(2000));
        let p = problems(&doc(vec![a]));
        assert!(
            p.iter()
                .any(|l| l.contains("filename: value of 2000 bytes exceeds")),
            "{p:?}"
        );
    }

    #[test]
    fn too_many_attributes_are_refused() {
        let mut a = binary("hello", "1.0");
        for i in 0..300 {
            a[format!("x{i}")] = json!("v");
        }
        let p = problems(&doc(vec![a]));
        assert!(
            p.iter()
                .any(|l| l.contains("exceed SimpleDB's limit of 256")),
            "{p:?}"
        );
    }

    #[test]
    fn bad_input_is_one_problem_at_input() {
        for (raw, want) in [
            (&b"{\"metadata\": {"[..], "input: not valid JSON"),
            (
                &b"{\"metadata\": {}, \"packages\": {\"\xff\": {}}}"[..],
                "input: not UTF-8",
            ),
            (&b"[]"[..], "input: expected an object"),
            (&b"\x1f\x8bnot gzip"[..], "input: not valid gzip"),
        ] {
            let p = parse_backup(raw).unwrap_err();
            assert_eq!(p.0.len(), 1, "{p}");
            assert!(p.0[0].to_string().starts_with(want), "{p}");
        }
    }

    #[test]
    fn gzip_input_is_recognised() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(doc(vec![binary("hello", "1.0")]).to_string().as_bytes())
            .unwrap();
        let b = parse_backup(&gz.finish().unwrap()).unwrap();
        assert_eq!(b.items.len(), 1);
    }

    #[test]
    fn duplicate_keys_and_repeated_values_are_refused() {
        let raw = br#"{"metadata": {"dists": ["a", "a"]}, "packages": {}, "packages": {}}"#;
        let p: Vec<String> = parse_backup(raw)
            .unwrap_err()
            .0
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert!(
            p.iter()
                .any(|l| l.starts_with("input.packages: duplicate key")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("metadata.dists[1]: repeated value")),
            "{p:?}"
        );
    }

    #[test]
    fn the_problem_list_is_capped() {
        let items: Vec<_> = (0..80).map(|i| json!({"name": format!("n{i}")})).collect();
        let p = parse_backup(doc(items).to_string().as_bytes()).unwrap_err();
        assert!(p.0.len() > SHOWN_PROBLEMS);
        let lines = p.lines();
        assert_eq!(lines.len(), SHOWN_PROBLEMS + 1);
        assert!(lines.last().unwrap().contains("more problems"));
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let d = json!({"metadata": {}, "packages": {"a b": {"d": []}}});
        let p = problems(&d);
        assert_eq!(
            p,
            ["packages[\"a b\"].d: expected an object keyed by component, found a list"]
        );
    }
}
