//! The repository's data model, identical to apt-repoman 1.0.7's so that a
//! SimpleDB domain (or a backup file) written by either tool reads the same
//! in the other.
//!
//! * Every package item is named by the SHA-256 of
//!   `name + version + distribution + component + architecture`.
//! * Control text is stored in `controltxtN` fragments: 256 characters each,
//!   with `N` zero-padded to the width of the fragment count. Readers sort the
//!   attribute names and concatenate the values.
//! * The item `meta` holds the configuration.

/// Name of the item that holds the repository configuration.
pub const META_ITEM: &str = "meta";

/// Prefix of the attributes that carry control-text fragments.
pub const CONTROL_PREFIX: &str = "controltxt";

/// SimpleDB limits that shape how items are stored.
pub use sdb::limits::{MAX_PAIRS_PER_ITEM, MAX_VALUE_BYTES};
/// The original's fragment size, in characters (not bytes): 256 characters of
/// up to 4 bytes each always fit in one 1024-byte value.
pub const FRAGMENT_CHARS: usize = 256;

/// Items and their attributes, as SimpleDB has them.
pub use sdb::item::{Attrs, Item};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("missing attribute `{0}`")]
    Missing(&'static str),
    #[error("attribute `{0}` has {1} values, expected one")]
    NotSingle(String, usize),
    #[error("attribute `{0}` is not a number: {1:?}")]
    NotANumber(&'static str, String),
    #[error("control text of {chars} characters needs {needed} fragments but only {available} attribute slots are free (SimpleDB allows {MAX_PAIRS_PER_ITEM} per item)")]
    ControlTooLarge {
        chars: usize,
        needed: usize,
        available: usize,
    },
}

/// The item name of a package: lowercase hex SHA-256 of the five coordinates
/// concatenated with no separator. (The original encodes as ASCII; every
/// valid Debian name and version is ASCII, so UTF-8 gives the same bytes.)
pub fn item_key(name: &str, version: &str, dist: &str, comp: &str, arch: &str) -> String {
    crate::digest::sha256_hex([name, version, dist, comp, arch].concat().as_bytes())
}

/// The attribute name of fragment `index` out of `count`.
pub fn fragment_name(index: usize, count: usize) -> String {
    let width = count.to_string().len();
    format!("{CONTROL_PREFIX}{index:0width$}")
}

/// Splits control text into fragments the way the original does: 256
/// characters each. When that would need more than `available` attributes
/// (real packages exist with 76 KB of control text), fragments are packed up
/// to 1024 bytes at character boundaries instead; the original's readers
/// still concatenate them correctly. Returns `(attribute name, value)` pairs.
pub fn split_control_text(
    text: &str,
    available: usize,
) -> Result<Vec<(String, String)>, ModelError> {
    let by_chars = chunk_by_chars(text, FRAGMENT_CHARS);
    let frags = if by_chars.len() <= available {
        by_chars
    } else {
        let packed = chunk_by_bytes(text, MAX_VALUE_BYTES);
        if packed.len() > available {
            return Err(ModelError::ControlTooLarge {
                chars: text.chars().count(),
                needed: packed.len(),
                available,
            });
        }
        packed
    };
    let count = frags.len();
    Ok(frags
        .into_iter()
        .enumerate()
        .map(|(i, f)| (fragment_name(i, count), f))
        .collect())
}

fn chunk_by_chars(text: &str, chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut n = 0;
    for c in text.chars() {
        cur.push(c);
        n += 1;
        if n == chars {
            out.push(std::mem::take(&mut cur));
            n = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn chunk_by_bytes(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// Reassembles control text: sort the `controltxt*` attribute names and
/// concatenate their values, as every reader of the original does.
pub fn join_control_text(attrs: &Attrs) -> String {
    // BTreeMap iterates in sorted order already.
    attrs
        .iter()
        .filter(|(k, _)| k.starts_with(CONTROL_PREFIX))
        .flat_map(|(_, v)| v.iter())
        .map(String::as_str)
        .collect()
}

/// What a package item describes beyond its coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A binary package: one .deb file.
    Binary {
        filename: String,
        md5: String,
        sha1: String,
        sha256: String,
        size: u64,
    },
    /// A source package: the .dsc and the files it lists (base names).
    Source { files: Vec<String> },
}

/// A typed view of one package item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub distribution: String,
    pub component: String,
    pub architecture: String,
    pub payload: Payload,
    /// The control paragraph (binary) or .dsc paragraph (source).
    pub control: String,
}

impl Package {
    pub fn key(&self) -> String {
        item_key(
            &self.name,
            &self.version,
            &self.distribution,
            &self.component,
            &self.architecture,
        )
    }

    pub fn is_source(&self) -> bool {
        matches!(self.payload, Payload::Source { .. })
    }

    /// The files this package has in the pool (base names).
    pub fn files(&self) -> Vec<&str> {
        match &self.payload {
            Payload::Binary { filename, .. } => vec![filename.as_str()],
            Payload::Source { files } => files.iter().map(String::as_str).collect(),
        }
    }

    /// The pool directory of this package in `dist`:
    /// `pool/<dist>/<first character of name>/<name>`.
    pub fn pool_dir(&self, dist: &str) -> String {
        pool_dir(dist, &self.name)
    }

    /// The same package placed in another distribution / component.
    pub fn moved(&self, dist: &str, comp: &str) -> Package {
        Package {
            distribution: dist.to_string(),
            component: comp.to_string(),
            ..self.clone()
        }
    }

    /// Reads a package item. Unknown attributes are ignored.
    pub fn from_attrs(attrs: &Attrs) -> Result<Package, ModelError> {
        Package::from_owned_attrs(attrs.clone())
    }

    /// [`Package::from_attrs`], moving the values out of `attrs` instead of
    /// copying them (publish reads tens of thousands of items this way).
    pub fn from_owned_attrs(mut attrs: Attrs) -> Result<Package, ModelError> {
        let a = &mut attrs;
        let payload = match a.remove("files") {
            Some(files) => Payload::Source { files },
            None => Payload::Binary {
                filename: take_single(a, "filename")?,
                md5: take_single(a, "md5")?,
                sha1: take_single(a, "sha1")?,
                sha256: take_single(a, "sha256")?,
                size: {
                    let size = take_single(a, "size")?;
                    match size.parse() {
                        Ok(n) if size.bytes().all(|b| b.is_ascii_digit()) => n,
                        _ => return Err(ModelError::NotANumber("size", size)),
                    }
                },
            },
        };
        Ok(Package {
            name: take_single(a, "name")?,
            version: take_single(a, "version")?,
            distribution: take_single(a, "distribution")?,
            component: take_single(a, "component")?,
            architecture: take_single(a, "architecture")?,
            payload,
            control: join_control_text(a),
        })
    }

    /// The attributes to store for this package, control text fragmented.
    pub fn to_attrs(&self) -> Result<Attrs, ModelError> {
        let mut a = Attrs::new();
        let mut put = |k: &str, v: &str| {
            a.insert(k.to_string(), vec![v.to_string()]);
        };
        put("name", &self.name);
        put("version", &self.version);
        put("distribution", &self.distribution);
        put("component", &self.component);
        put("architecture", &self.architecture);
        match &self.payload {
            Payload::Binary {
                filename,
                md5,
                sha1,
                sha256,
                size,
            } => {
                put("filename", filename);
                put("md5", md5);
                put("sha1", sha1);
                put("sha256", sha256);
                put("size", &size.to_string());
            }
            Payload::Source { files } => {
                a.insert("files".to_string(), files.clone());
            }
        }
        let used: usize = a.values().map(Vec::len).sum();
        for (k, v) in split_control_text(&self.control, MAX_PAIRS_PER_ITEM - used)? {
            a.insert(k, vec![v]);
        }
        Ok(a)
    }
}

/// `pool/<dist>/<first character of name>/<name>`
pub fn pool_dir(dist: &str, name: &str) -> String {
    let first: String = name.chars().take(1).collect();
    format!("pool/{dist}/{first}/{name}")
}

/// Moves the one value of `key` out of `attrs`; a missing or multi-valued
/// attribute is left in place.
fn take_single(attrs: &mut Attrs, key: &'static str) -> Result<String, ModelError> {
    match attrs.get(key).map(Vec::len) {
        None | Some(0) => Err(ModelError::Missing(key)),
        Some(1) => Ok(attrs
            .remove(key)
            .and_then(|mut v| v.pop())
            .expect("one value")),
        Some(n) => Err(ModelError::NotSingle(key.to_string(), n)),
    }
}

/// The repository configuration held by the `meta` item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoConfig {
    pub dists: Vec<String>,
    pub comps: Vec<String>,
    /// Architectures as stored; `all` and `source` are implied (see `archs`).
    pub stored_archs: Vec<String>,
    pub origin: Option<String>,
    pub label: Option<String>,
    pub topic_name: Option<String>,
}

/// The architectures that always exist, stored or not.
pub const IMPLIED_ARCHS: [&str; 2] = ["all", "source"];

impl RepoConfig {
    pub fn from_attrs(attrs: &Attrs) -> RepoConfig {
        let list = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        let first = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.first())
                .filter(|s| !s.is_empty())
                .cloned()
        };
        RepoConfig {
            dists: list("dists"),
            comps: list("comps"),
            stored_archs: list("archs"),
            origin: first("origin"),
            label: first("label"),
            topic_name: first("topic_name"),
        }
    }

    /// Every architecture, with `all` and `source` implied.
    pub fn archs(&self) -> Vec<String> {
        let mut v = self.stored_archs.clone();
        for a in IMPLIED_ARCHS {
            if !v.iter().any(|x| x == a) {
                v.push(a.to_string());
            }
        }
        v
    }

    /// Binary architectures that get their own Packages index (not `all`,
    /// not `source`).
    pub fn binary_archs(&self) -> Vec<String> {
        self.stored_archs
            .iter()
            .filter(|a| !IMPLIED_ARCHS.contains(&a.as_str()))
            .cloned()
            .collect()
    }

    pub fn origin(&self) -> &str {
        self.origin.as_deref().unwrap_or("repoman")
    }

    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or("repoman")
    }

    pub fn has_dist(&self, d: &str) -> bool {
        self.dists.iter().any(|x| x == d)
    }

    pub fn has_comp(&self, c: &str) -> bool {
        self.comps.iter().any(|x| x == c)
    }

    pub fn has_arch(&self, a: &str) -> bool {
        IMPLIED_ARCHS.contains(&a) || self.stored_archs.iter().any(|x| x == a)
    }

    /// `Ok` when the repository serves distribution `d`.
    pub fn require_dist(&self, d: &str) -> Result<(), NotServed> {
        NotServed::check("distribution", d, self.has_dist(d), &self.dists)
    }

    /// `Ok` when the repository serves component `c`.
    pub fn require_comp(&self, c: &str) -> Result<(), NotServed> {
        NotServed::check("component", c, self.has_comp(c), &self.comps)
    }

    /// `Ok` when the repository serves architecture `a` (`all` and `source`
    /// always are).
    pub fn require_arch(&self, a: &str) -> Result<(), NotServed> {
        NotServed::check("architecture", a, self.has_arch(a), &self.archs())
    }
}

/// A distribution, component or architecture the repository does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?} is not served by this repository (configured: {configured})")]
pub struct NotServed {
    /// `distribution`, `component` or `architecture`.
    pub kind: &'static str,
    pub name: String,
    /// The configured names, or a hint when there are none.
    pub configured: String,
}

impl NotServed {
    fn check(
        kind: &'static str,
        name: &str,
        served: bool,
        all: &[String],
    ) -> Result<(), NotServed> {
        if served {
            return Ok(());
        }
        let configured = if all.is_empty() {
            "none; run setup first".to_string()
        } else {
            all.join(", ")
        };
        Err(NotServed {
            kind,
            name: name.to_string(),
            configured,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_key_is_sha256_of_concatenation() {
        // sha256("abcdefghi") computed independently.
        let k = item_key("abc", "def", "g", "h", "i");
        assert_eq!(
            k,
            "19cc02f26df43cc571bc9ed7b0c4d29224a3ec229529221725ef76d021c8326f"
        );
        assert_eq!(k, item_key("a", "bcdefg", "h", "i", ""));
    }

    #[test]
    fn fragment_names_are_zero_padded_to_count_width() {
        assert_eq!(fragment_name(0, 1), "controltxt0");
        assert_eq!(fragment_name(3, 9), "controltxt3");
        assert_eq!(fragment_name(3, 10), "controltxt03");
        assert_eq!(fragment_name(42, 100), "controltxt042");
    }

    #[test]
    fn multibyte_text_round_trips_through_fragments() {
        let text: String = "Description: ünïcödé ✓ 日本語\n".repeat(40);
        assert!(text.chars().count() > 256);
        let frags = split_control_text(&text, 200).unwrap();
        assert!(frags.len() > 1);
        for (_, f) in &frags {
            assert!(f.chars().count() <= FRAGMENT_CHARS);
            assert!(f.len() <= MAX_VALUE_BYTES);
        }
        let attrs: Attrs = frags.into_iter().map(|(k, v)| (k, vec![v])).collect();
        assert_eq!(join_control_text(&attrs), text);
    }

    #[test]
    fn large_text_is_packed_into_kilobyte_fragments() {
        let text: String = "Depends: librust-winapi-i686-pc-windows-gnu-dev ✓\n".repeat(1600);
        let chars = text.chars().count();
        assert!(chars / FRAGMENT_CHARS > 240);
        let frags = split_control_text(&text, 240).unwrap();
        assert!(frags.len() <= 240);
        assert!(frags.iter().all(|(_, f)| f.len() <= MAX_VALUE_BYTES));
        let attrs: Attrs = frags.into_iter().map(|(k, v)| (k, vec![v])).collect();
        assert_eq!(join_control_text(&attrs), text);
    }

    #[test]
    fn text_that_cannot_fit_is_refused() {
        let text = "x".repeat(MAX_VALUE_BYTES * 10 + 1);
        let err = split_control_text(&text, 10).unwrap_err();
        assert!(matches!(
            err,
            ModelError::ControlTooLarge { needed: 11, .. }
        ));
    }

    #[test]
    fn config_implies_all_and_source() {
        let mut a = Attrs::new();
        a.insert("archs".into(), vec!["amd64".into()]);
        let c = RepoConfig::from_attrs(&a);
        assert_eq!(c.archs(), vec!["amd64", "all", "source"]);
        assert_eq!(c.binary_archs(), vec!["amd64"]);
        assert_eq!(c.origin(), "repoman");
        assert!(c.has_arch("source"));
    }
}
