//! The ports: the three kinds of storage the catalog needs, each with an
//! embedded implementation (`embedded`) and an AWS one (`aws`).
//!
//! * [`MetaStore`]: items with multi-valued string attributes, SimpleDB
//!   semantics (SQLite or SimpleDB).
//! * [`BlobStore`]: the bucket, with create-only and overwrite puts (a local
//!   directory or S3).
//! * [`Notifier`]: announcements of every mutation (a JSON-lines file or SNS).

use std::io::Write;
use std::path::Path;

use crate::model::{Attrs, Item};
use crate::select::Select;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create-only put or copy found the key already present.
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} not found")]
    NotFound(String),
    // The cause is part of the message and deliberately not a `source`:
    // error chains would print it twice.
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    /// Anything a backend reports (SQLite, SimpleDB, S3, SNS), already worded
    /// as one line.
    #[error("{0}")]
    Backend(String),
}

impl StoreError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            context: context.into(),
            cause: source,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One change to the metadata store. A batch of changes is applied by
/// [`MetaStore::apply`]: atomically on the embedded store, in batches of 25
/// on SimpleDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The item's attributes become `attrs` (each listed attribute's values
    /// are replaced), and the attributes named in `remove` are deleted: the
    /// leftovers of an earlier version of the item, e.g. surplus control-text
    /// fragments.
    Put {
        item: String,
        attrs: Attrs,
        remove: Vec<String>,
    },
    /// Delete the whole item.
    Delete { item: String },
    /// Add one value to an attribute, keeping its other values.
    AddValue {
        item: String,
        attr: String,
        value: String,
    },
    /// Remove one value of an attribute, keeping its other values.
    DeleteValue {
        item: String,
        attr: String,
        value: String,
    },
}

/// Items whose writes leave [`MetaStore::change_stamp`] as it is: publish's
/// bookkeeping (the generation it claims, the Release it recorded with the
/// stamp it read), none of which is part of what a publish or a backup
/// reads.
pub const UNSTAMPED_ITEMS: &[&str] = &[
    crate::publish::GENERATIONS_ITEM,
    crate::publish::changes::RECORD_ITEM,
];

/// Items with multi-valued string attributes, with SimpleDB semantics.
pub trait MetaStore: Send + Sync {
    /// Where the items live, for messages (`sqlite:/path`, `simpledb:domain`).
    fn describe(&self) -> String;
    fn domain_exists(&self) -> StoreResult<bool>;
    /// Creates the domain; succeeds if it exists already.
    fn create_domain(&self) -> StoreResult<()>;
    /// One item's attributes, or `None` when it has none.
    fn get(&self, item: &str) -> StoreResult<Option<Attrs>>;
    /// Runs a Select, handing every item to `each` as it arrives (so callers
    /// can keep memory bounded). `Output::Count` yields one item named
    /// `Domain` with attribute `Count`, as SimpleDB does.
    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()>;
    /// Applies changes in order. The embedded store applies them in one
    /// transaction; SimpleDB in batches (a failure part-way leaves a prefix
    /// applied, which re-running the same command converges from).
    fn apply(&self, changes: &[Change]) -> StoreResult<()>;

    /// Sets the single value of attribute `attr` of `item` to `value` if,
    /// atomically, its current value is `expected` (`None`: the attribute
    /// is absent). `Ok(false)` when it is not: another writer was first.
    /// Publish coordinates concurrent publishes with it (a generation per
    /// distribution). SQLite: one transaction; SimpleDB: PutAttributes
    /// with `Expected.Name/Value/Exists`; DynamoDB: a condition
    /// expression. A backend that cannot must say so rather than write
    /// unconditionally.
    fn put_if(
        &self,
        item: &str,
        attr: &str,
        expected: Option<&str>,
        value: &str,
    ) -> StoreResult<bool> {
        let _ = (item, attr, expected, value);
        Err(StoreError::Backend(format!(
            "{} does not support conditional writes",
            self.describe()
        )))
    }

    /// A stamp of the whole state that changes with every write (`None`:
    /// this store cannot tell, and callers read the state to know). Two
    /// equal stamps mean nothing was written in between, so what was read
    /// after the first is still the state; a write by any process, of any
    /// attribute, changes it, and it never takes an earlier value again.
    /// Writes only to the [`UNSTAMPED_ITEMS`] (publish's bookkeeping, which
    /// records stamps) leave it. The embedded store counts its writes;
    /// SimpleDB and DynamoDB have nothing of the kind, so they return
    /// `None`.
    fn change_stamp(&self) -> StoreResult<Option<String>> {
        Ok(None)
    }

    /// Whether a range of item names (`itemName() between a and b`) is a
    /// cheap read. DynamoDB keeps items by hash of their name, so a range
    /// is a scan of the whole table there and readers ask by name instead.
    fn reads_name_ranges(&self) -> bool {
        true
    }

    /// Convenience: a Select's items collected.
    fn select_all(&self, query: &Select) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        self.select(query, &mut |i| {
            out.push(i);
            Ok(())
        })?;
        Ok(out)
    }
}

/// How a put treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Fail with [`StoreError::Exists`] if the key exists (atomically: two
    /// concurrent creates cannot both succeed).
    Create,
    /// Replace whatever is there.
    Overwrite,
}

/// Server-side encryption of an object S3 stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// `AES256`: keys S3 manages (SSE-S3).
    Aes256,
    /// `aws:kms`: a KMS key, the account's `aws/s3` key when none is named.
    Kms { key_id: Option<String> },
}

impl Sse {
    /// The `x-amz-server-side-encryption` value.
    pub fn header(&self) -> &'static str {
        match self {
            Sse::Aes256 => "AES256",
            Sse::Kms { .. } => "aws:kms",
        }
    }
}

/// The storage classes a stored object may be put in (S3's names).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
    "REDUCED_REDUNDANCY",
];

/// How a put stores an object beyond its bytes: S3's server-side
/// encryption and storage class, and a cap on the upload's bandwidth.
/// Only S3 has the first two; a bucket without them refuses a put that
/// asks for them (see [`BlobStore::check_put_options`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    pub sse: Option<Sse>,
    /// One of [`STORAGE_CLASSES`].
    pub storage_class: Option<String>,
    /// Bytes per second an upload may use; `None`: no cap.
    pub rate_limit: Option<u64>,
}

impl PutOptions {
    /// The options of the settings `sse` (`aws:kms` or `AES256`),
    /// `kms_key_id` (only with `aws:kms`), `storage_class` and
    /// `rate_limit` (see [`crate::rate::parse_rate`]); a one-line error
    /// naming the setting otherwise.
    pub fn parse(
        sse: Option<&str>,
        kms_key_id: Option<&str>,
        storage_class: Option<&str>,
        rate_limit: Option<&str>,
    ) -> Result<PutOptions, String> {
        let key_id = match kms_key_id.map(str::trim) {
            None => None,
            Some(k) if k.is_empty() || k.len() > 2048 || !k.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(format!(
                    "backup-sse-kms-key-id {k:?}: not a KMS key id, ARN or alias (printable ASCII without spaces)"
                ))
            }
            Some(k) => Some(k.to_string()),
        };
        let sse = match sse.map(str::trim) {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("aws:kms") => Some(Sse::Kms {
                key_id: key_id.clone(),
            }),
            Some(s) if s.eq_ignore_ascii_case("AES256") => Some(Sse::Aes256),
            Some(s) => {
                return Err(format!(
                    "backup-sse {s:?}: not a server-side encryption S3 knows (aws:kms or AES256)"
                ))
            }
        };
        if key_id.is_some() && !matches!(sse, Some(Sse::Kms { .. })) {
            return Err("backup-sse-kms-key-id needs backup-sse aws:kms".into());
        }
        let storage_class = match storage_class.map(str::trim) {
            None => None,
            Some(c) => {
                let upper = c.to_ascii_uppercase();
                if !STORAGE_CLASSES.contains(&upper.as_str()) {
                    return Err(format!(
                        "backup-storage-class {c:?}: not a storage class (one of {})",
                        STORAGE_CLASSES.join(", ")
                    ));
                }
                Some(upper)
            }
        };
        let rate_limit = rate_limit
            .map(|r| crate::rate::parse_rate(r).map_err(|e| format!("backup-rate-limit {e}")))
            .transpose()?;
        Ok(PutOptions {
            sse,
            storage_class,
            rate_limit,
        })
    }

    /// Whether the options ask for something only S3 does (encryption or
    /// a storage class).
    pub fn server_side(&self) -> bool {
        self.sse.is_some() || self.storage_class.is_some()
    }
}

/// An object in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last modification, seconds since the Unix epoch, when known.
    pub modified: Option<i64>,
}

/// How `setup` creates the bucket (mirrors the original's flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketSetup {
    pub acl: Option<String>,
    pub region: Option<String>,
    pub enable_website: bool,
}

/// The bucket: package files under `pool/`, indices under `dists/`.
pub trait BlobStore: Send + Sync {
    /// For messages (`file:///path`, `s3://bucket`).
    fn describe(&self) -> String;
    /// The base URL an apt client uses to read the bucket.
    fn apt_url(&self) -> String;
    /// The directory holding the objects, for a bucket that is one (what
    /// `serve` serves); `None` for a remote bucket.
    fn local_root(&self) -> Option<&Path> {
        None
    }
    /// Creates the bucket (or directory); succeeds if it exists already.
    fn setup(&self, opts: &BucketSetup) -> StoreResult<()>;
    /// Checks access without leaving anything behind; returns notes for the
    /// user (e.g. whether versioning is on).
    fn checkup(&self) -> StoreResult<Vec<String>>;
    /// Uploads a file, streamed from disk.
    fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()>;
    /// Stores bytes (index files, backups).
    fn put_bytes(&self, key: &str, bytes: &[u8], mode: PutMode) -> StoreResult<()>;

    /// Whether this bucket can store objects as `opts` asks: a bucket
    /// without server-side encryption and storage classes (a directory)
    /// refuses them rather than silently storing the object without; a
    /// rate limit it has nothing to apply to is no problem.
    fn check_put_options(&self, opts: &PutOptions) -> StoreResult<()> {
        if opts.server_side() {
            return Err(StoreError::Backend(format!(
                "{} has no server-side encryption or storage classes: backup-sse, backup-sse-kms-key-id and backup-storage-class apply to an S3 bucket only",
                self.describe()
            )));
        }
        Ok(())
    }

    /// [`BlobStore::put_bytes`] with server-side options (S3 overrides it).
    fn put_bytes_with(
        &self,
        key: &str,
        bytes: &[u8],
        mode: PutMode,
        opts: &PutOptions,
    ) -> StoreResult<()> {
        self.check_put_options(opts)?;
        self.put_bytes(key, bytes, mode)
    }
    /// Streams an object into `out`; [`StoreError::NotFound`] if absent.
    fn read(&self, key: &str, out: &mut dyn Write) -> StoreResult<()>;
    /// Size of an object, or `None` if absent.
    fn head(&self, key: &str) -> StoreResult<Option<u64>>;
    /// Copies inside the bucket (server-side on S3).
    fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()>;
    /// Objects under a prefix, sorted by key.
    fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>>;
    /// Deletes an object. Package files are never deleted; only stored
    /// backups and stale Release signatures are.
    fn delete(&self, key: &str) -> StoreResult<()>;

    /// Starts replacing the whole tree under `prefix` (a distribution's
    /// `dists/DIST`) as one unit: returns the prefix to write the new tree
    /// under, which starts as a copy of the current one, or `None` when the
    /// bucket cannot switch a tree atomically (S3), and the caller writes
    /// in place. See [`BlobStore::commit_tree`].
    fn stage_tree(&self, prefix: &str) -> StoreResult<Option<String>> {
        let _ = prefix;
        Ok(None)
    }

    /// Makes the tree staged under `staged` the tree under `prefix` in one
    /// step, if `check` passes when no other commit of a tree beside it can
    /// run; the previous tree is removed.
    fn commit_tree(
        &self,
        prefix: &str,
        staged: &str,
        check: &dyn Fn() -> StoreResult<()>,
    ) -> StoreResult<()> {
        let _ = (prefix, staged, check);
        Err(StoreError::Backend(format!(
            "{} cannot switch trees",
            self.describe()
        )))
    }

    /// Convenience: a whole (small) object in memory, or `None` if absent.
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        match self.read(key, &mut buf) {
            Ok(()) => Ok(Some(buf)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Announcements of mutations (JSON message bodies as the original's).
pub trait Notifier: Send + Sync {
    /// Who is acting: the STS caller ARN, or `user@host` when embedded.
    fn caller(&self) -> StoreResult<String>;
    /// Sends messages to `topic` (a name or ARN, from the configuration).
    /// The embedded notifier logs every message whatever the topic.
    /// On failure the error names the messages that were not delivered.
    fn announce(&self, topic: Option<&str>, messages: &[serde_json::Value]) -> StoreResult<()>;
}

/// The three ports, as one value the catalog works on.
pub struct Backend {
    pub meta: Box<dyn MetaStore>,
    pub blobs: Box<dyn BlobStore>,
    pub notifier: Box<dyn Notifier>,
    /// A short name for backups (`backups/<name>/...`): the domain name, or
    /// `local` for the embedded store.
    pub name: String,
}
