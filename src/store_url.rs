//! Stores named by URL, as restic and object_store name theirs: where the
//! state lives (`sqlite:PATH`, `simpledb:DOMAIN`, `dynamodb:TABLE`) and
//! where the files live (`file:DIR`, `s3://BUCKET`), any state with any
//! bucket. [`resolve`] turns the global settings (the URLs, or the
//! original's shorthands `--simpledb-domain`, `--s3-bucket`, `--local-dir`)
//! into one [`Layout`]; `cli::backend` opens its parts.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the repository state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateUrl {
    /// A SQLite file, holding the state in the named domain.
    Sqlite { path: PathBuf, domain: String },
    /// A SimpleDB domain.
    SimpleDb(String),
    /// A DynamoDB table.
    DynamoDb(String),
}

/// Where the package files and indices live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketUrl {
    Dir(PathBuf),
    S3(String),
}

/// The domain inside a SQLite file when none is named.
pub const DEFAULT_SQLITE_DOMAIN: &str = "repoman";

/// The SQLite file inside a `--local-dir`.
pub const SQLITE_FILE: &str = "repoman.sqlite";
/// The announcement log inside a `--local-dir` (or beside a SQLite file).
pub const LOG_FILE: &str = "announcements.jsonl";

impl StateUrl {
    /// Parses `sqlite:PATH`, `simpledb:DOMAIN` or `dynamodb:TABLE`.
    pub fn parse(s: &str) -> Result<StateUrl, String> {
        let bad = |why: &str| format!("state URL {s:?}: {why}");
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| bad("expected sqlite:PATH, simpledb:DOMAIN or dynamodb:TABLE"))?;
        match scheme {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(bad("no file path"));
                }
                Ok(StateUrl::Sqlite {
                    path: PathBuf::from(path),
                    domain: DEFAULT_SQLITE_DOMAIN.into(),
                })
            }
            "simpledb" => {
                // SimpleDB's own rule: 3-255 of a-z A-Z 0-9 _ - .
                check_name(rest, 3, 255, |c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
                })
                .map_err(|w| bad(&w))?;
                Ok(StateUrl::SimpleDb(rest.into()))
            }
            "dynamodb" => {
                // DynamoDB's table name rule: 3-255 of a-z A-Z 0-9 _ - .
                check_name(rest, 3, 255, |c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
                })
                .map_err(|w| bad(&w))?;
                Ok(StateUrl::DynamoDb(rest.into()))
            }
            _ => Err(bad(&format!(
                "unknown scheme `{scheme}` (sqlite, simpledb or dynamodb)"
            ))),
        }
    }

    /// Whether the state is on this machine.
    pub fn is_local(&self) -> bool {
        matches!(self, StateUrl::Sqlite { .. })
    }

    /// The short name backups are stored under (`backups/<name>/`): the
    /// domain or table, or `local` for a SQLite file.
    pub fn backup_name(&self) -> String {
        match self {
            StateUrl::Sqlite { .. } => "local".into(),
            StateUrl::SimpleDb(d) | StateUrl::DynamoDb(d) => d.clone(),
        }
    }
}

impl fmt::Display for StateUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateUrl::Sqlite { path, .. } => write!(f, "sqlite:{}", path.display()),
            StateUrl::SimpleDb(d) => write!(f, "simpledb:{d}"),
            StateUrl::DynamoDb(t) => write!(f, "dynamodb:{t}"),
        }
    }
}

impl BucketUrl {
    /// Parses `file:DIR` (also `file://DIR`) or `s3://BUCKET`.
    pub fn parse(s: &str) -> Result<BucketUrl, String> {
        let bad = |why: &str| format!("bucket URL {s:?}: {why}");
        if let Some(name) = s.strip_prefix("s3://") {
            let name = name.strip_suffix('/').unwrap_or(name);
            // S3's rule for new buckets, loosely: 3-63 of a-z 0-9 . -
            // (older buckets may hold capitals and underscores).
            check_name(name, 3, 255, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
            })
            .map_err(|w| bad(&w))?;
            return Ok(BucketUrl::S3(name.into()));
        }
        if let Some(rest) = s.strip_prefix("file:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("no directory"));
            }
            return Ok(BucketUrl::Dir(PathBuf::from(path)));
        }
        Err(bad("expected file:DIR or s3://BUCKET"))
    }
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketUrl::Dir(d) => write!(f, "file:{}", d.display()),
            BucketUrl::S3(b) => write!(f, "s3://{b}"),
        }
    }
}

fn check_name(s: &str, min: usize, max: usize, ok: impl Fn(char) -> bool) -> Result<(), String> {
    if s.len() < min || s.len() > max {
        return Err(format!("the name must be {min} to {max} characters"));
    }
    if let Some(c) = s.chars().find(|c| !ok(*c)) {
        return Err(format!("{c:?} is not allowed in the name"));
    }
    Ok(())
}

/// The settings that choose the stores (flags, config keys, `REPOMAN_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    pub state: Option<String>,
    pub bucket: Option<String>,
    pub simpledb_domain: Option<String>,
    pub s3_bucket: Option<String>,
    pub local_dir: Option<PathBuf>,
}

/// The stores a command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub state: StateUrl,
    pub bucket: BucketUrl,
    /// The JSON-lines announcement log, for a local state. Announcements go
    /// to the configured SNS topic when there is one (and AWS is in use),
    /// else here; with neither they are not sent anywhere.
    pub log: Option<PathBuf>,
    /// Whether nothing was configured and the default directory is used.
    pub defaulted: bool,
}

impl Layout {
    /// The embedded layout of a directory: SQLite in it, `DIR/bucket`,
    /// the log in it.
    pub fn local(dir: &Path, domain: Option<&str>) -> Layout {
        Layout {
            state: StateUrl::Sqlite {
                path: dir.join(SQLITE_FILE),
                domain: domain.unwrap_or(DEFAULT_SQLITE_DOMAIN).into(),
            },
            bucket: BucketUrl::Dir(dir.join("bucket")),
            log: Some(dir.join(LOG_FILE)),
            defaulted: false,
        }
    }

    /// Whether any part needs AWS.
    pub fn uses_aws(&self) -> bool {
        !self.state.is_local() || matches!(self.bucket, BucketUrl::S3(_))
    }
}

/// Turns the settings into a layout. `default_dir` is the embedded
/// repository used when nothing is configured. Settings that name two
/// different stores for one role are an error, in one line.
pub fn resolve(s: &StoreSettings, default_dir: &Path) -> Result<Layout, String> {
    let set = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(str::to_string);
    let (state, bucket, domain, s3) = (
        set(&s.state),
        set(&s.bucket),
        set(&s.simpledb_domain),
        set(&s.s3_bucket),
    );
    let local = s.local_dir.clone().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = &local {
        for (other, flag) in [
            (&state, "--state"),
            (&bucket, "--bucket"),
            (&s3, "--s3-bucket"),
        ] {
            if let Some(v) = other {
                return Err(format!(
                    "conflicting settings: --local-dir {} already names the state and the bucket, and {flag} {v} names another; keep one",
                    dir.display()
                ));
            }
        }
        // The original's meaning: --simpledb-domain names the domain inside
        // the SQLite file.
        return Ok(Layout::local(dir, domain.as_deref()));
    }
    if let (Some(url), Some(d)) = (&state, &domain) {
        return Err(format!(
            "conflicting settings: --state {url} and --simpledb-domain {d} name two state stores; keep one"
        ));
    }
    if let (Some(url), Some(b)) = (&bucket, &s3) {
        return Err(format!(
            "conflicting settings: --bucket {url} and --s3-bucket {b} name two buckets; keep one"
        ));
    }
    let state = match (state, domain) {
        (Some(url), _) => Some(StateUrl::parse(&url)?),
        (None, Some(d)) => Some(StateUrl::parse(&format!("simpledb:{d}"))?),
        (None, None) => None,
    };
    let bucket = match (bucket, s3) {
        (Some(url), _) => Some(BucketUrl::parse(&url)?),
        (None, Some(b)) => Some(BucketUrl::parse(&format!("s3://{b}"))?),
        (None, None) => None,
    };
    match (state, bucket) {
        (None, None) => Ok(Layout {
            defaulted: true,
            ..Layout::local(default_dir, None)
        }),
        (Some(state), Some(bucket)) => {
            let log = local_log(&state);
            Ok(Layout {
                state,
                bucket,
                log,
                defaulted: false,
            })
        }
        // A SQLite file alone: the bucket beside it, as in a local dir.
        (Some(state @ StateUrl::Sqlite { .. }), None) => {
            let StateUrl::Sqlite { path, .. } = &state else {
                unreachable!("matched above")
            };
            let bucket = BucketUrl::Dir(parent(path).join("bucket"));
            let log = local_log(&state);
            Ok(Layout {
                state,
                bucket,
                log,
                defaulted: false,
            })
        }
        (Some(state), None) => Err(format!(
            "{state} has no bucket: set --bucket (s3://BUCKET or file:DIR){}",
            if matches!(state, StateUrl::SimpleDb(_)) && s.state.is_none() {
                " or --s3-bucket"
            } else {
                ""
            }
        )),
        (None, Some(bucket)) => Err(format!(
            "{bucket} has no state store: set --state (sqlite:PATH, simpledb:DOMAIN or dynamodb:TABLE){}",
            if matches!(bucket, BucketUrl::S3(_)) && s.bucket.is_none() {
                " or --simpledb-domain"
            } else {
                ""
            }
        )),
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The announcement log of a local state: beside its SQLite file.
fn local_log(state: &StateUrl) -> Option<PathBuf> {
    match state {
        StateUrl::Sqlite { path, .. } => Some(parent(path).join(LOG_FILE)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> StoreSettings {
        let mut s = StoreSettings::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "state" => s.state = v,
                "bucket" => s.bucket = v,
                "simpledb-domain" => s.simpledb_domain = v,
                "s3-bucket" => s.s3_bucket = v,
                "local-dir" => s.local_dir = v.map(PathBuf::from),
                _ => panic!("{k}"),
            }
        }
        s
    }

    fn layout(pairs: &[(&str, &str)]) -> Result<Layout, String> {
        resolve(&settings(pairs), Path::new("/default"))
    }

    #[test]
    fn urls_parse_and_print_back() {
        for s in [
            "sqlite:/var/lib/repo/state.sqlite",
            "simpledb:my-repo",
            "dynamodb:my.repo_1",
        ] {
            assert_eq!(StateUrl::parse(s).unwrap().to_string(), s);
        }
        for s in ["file:/srv/apt", "s3://apt.example.com"] {
            assert_eq!(BucketUrl::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            StateUrl::parse("sqlite://rel/x.sqlite")
                .unwrap()
                .to_string(),
            "sqlite:rel/x.sqlite"
        );
        assert_eq!(
            BucketUrl::parse("s3://b-1/").unwrap(),
            BucketUrl::S3("b-1".into())
        );
    }

    #[test]
    fn bad_urls_are_one_line_errors_naming_the_input() {
        for s in [
            "postgres:x",
            "dynamodb:",
            "dynamodb:a b c",
            "simpledb:ab",
            "sqlite:",
            "nothing",
        ] {
            let e = StateUrl::parse(s).unwrap_err();
            assert!(e.contains(&format!("{s:?}")) && !e.contains('\n'), "{e}");
        }
        for s in ["http://x", "s3://", "s3://a/b", "file:", "bucket"] {
            let e = BucketUrl::parse(s).unwrap_err();
            assert!(e.contains(&format!("{s:?}")) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn the_original_flags_are_shorthands() {
        let l = layout(&[("simpledb-domain", "repo"), ("s3-bucket", "apt")]).unwrap();
        assert_eq!(
            l,
            layout(&[("state", "simpledb:repo"), ("bucket", "s3://apt")]).unwrap()
        );
        assert_eq!(l.log, None);
        assert!(l.uses_aws());

        let l = layout(&[("local-dir", "/r")]).unwrap();
        assert_eq!(
            l.state,
            StateUrl::Sqlite {
                path: "/r/repoman.sqlite".into(),
                domain: "repoman".into()
            }
        );
        assert_eq!(l.bucket, BucketUrl::Dir("/r/bucket".into()));
        assert_eq!(l.log, Some("/r/announcements.jsonl".into()));
        assert!(!l.uses_aws() && !l.defaulted);
        // The same as naming the file alone.
        let by_url = layout(&[("state", "sqlite:/r/repoman.sqlite")]).unwrap();
        assert_eq!(by_url, l);
        // --simpledb-domain names the domain inside the file, as before.
        let l = layout(&[("local-dir", "/r"), ("simpledb-domain", "d1")]).unwrap();
        assert!(matches!(l.state, StateUrl::Sqlite { ref domain, .. } if domain == "d1"));
    }

    #[test]
    fn any_state_with_any_bucket() {
        let l = layout(&[("state", "sqlite:/s/x.sqlite"), ("bucket", "s3://apt")]).unwrap();
        assert_eq!(l.log, Some("/s/announcements.jsonl".into()));
        assert!(l.uses_aws());
        let l = layout(&[("state", "dynamodb:tbl"), ("bucket", "file:/b")]).unwrap();
        assert_eq!(l.state.backup_name(), "tbl");
        assert_eq!(l.log, None);
        let l = layout(&[("state", "dynamodb:tbl"), ("s3-bucket", "apt")]).unwrap();
        assert_eq!(l.bucket, BucketUrl::S3("apt".into()));
    }

    #[test]
    fn nothing_configured_is_the_default_directory() {
        let l = layout(&[]).unwrap();
        assert!(l.defaulted);
        assert_eq!(l.bucket, BucketUrl::Dir("/default/bucket".into()));
    }

    #[test]
    fn conflicts_and_halves_are_one_line_errors() {
        for (pairs, words) in [
            (
                &[("local-dir", "/r"), ("state", "dynamodb:t")][..],
                &["--local-dir", "--state"][..],
            ),
            (
                &[("local-dir", "/r"), ("s3-bucket", "b12")],
                &["--s3-bucket"],
            ),
            (&[("local-dir", "/r"), ("bucket", "file:/x")], &["--bucket"]),
            (
                &[("state", "dynamodb:t1"), ("simpledb-domain", "d12")],
                &["--state", "--simpledb-domain"],
            ),
            (
                &[("bucket", "s3://b12"), ("s3-bucket", "b13")],
                &["--bucket", "--s3-bucket"],
            ),
            (&[("simpledb-domain", "d12")], &["--s3-bucket", "--bucket"]),
            (&[("s3-bucket", "b12")], &["--simpledb-domain", "--state"]),
            (&[("state", "dynamodb:t12")], &["--bucket"]),
            (&[("bucket", "s3://b12")], &["--state"]),
        ] {
            let e = layout(pairs).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
            for w in words {
                assert!(e.contains(w), "{pairs:?}: {e}");
            }
        }
    }
}
