//! Global settings from config files and `REPOMAN_*` environment variables,
//! merged under the command line: flags override the environment, which
//! overrides config files; later files override earlier ones.
//!
//! Every setting is defined once, in the `settings!` table of
//! `cli::args`: that one line makes the clap flag, the config-file key and
//! the `REPOMAN_<KEY>` environment variable.
//!
//! File syntax (the original's, from configargparse): `key = value`,
//! `key: value` or `key value`, a bare `key` for a true flag, `key = [a, b]`
//! for lists, `#` and `;` comments (also after a value, behind a space),
//! `[section]` and `---` lines ignored. Keys are the long flag names
//! (`simpledb-domain`, also `--simpledb-domain` or `simpledb_domain`).
//! Unlike the original, which ignores keys it does not know, anything that
//! is not a known setting is an error naming file, line and key: a typo must
//! never fall back to another repository.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

use super::args::GlobalArgs;

pub const DEFAULT_FILES: [&str; 2] = ["/etc/repoman/repoman.conf", "~/.repoman"];

/// Defines the global settings: the struct of clap flags and, from the same
/// lines, the key table and the code that fills a field from a file or the
/// environment. Each line: doc comment, clap attributes, `field: Type =
/// "key"`.
macro_rules! settings {
    ($( $(#[$attr:meta])* $field:ident : $ty:ty = $key:literal, )*) => {
        /// Flags every command accepts; each is also a config-file key and a
        /// `REPOMAN_<KEY>` environment variable (see `cli::config`).
        #[derive(Debug, clap::Args, Default, Clone)]
        pub struct GlobalArgs {
            $( $(#[$attr])* pub $field: $ty, )*
        }

        impl GlobalArgs {
            /// Every setting's key (= long flag name), in the table's order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Sets the setting `key` from a file or the environment, unless
            /// the command line set it already.
            pub fn fill(
                &mut self,
                key: &str,
                value: &$crate::cli::config::Value,
            ) -> std::result::Result<(), String> {
                match key {
                    $( $key => $crate::cli::config::Fill::fill(&mut self.$field, value), )*
                    _ => Err(format!("unknown key `{key}`")),
                }
            }
        }
    };
}
pub(crate) use settings;

/// A value as a config file or the environment gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A bare `key`.
    Flag,
    One(String),
    List(Vec<String>),
}

/// How a field of [`GlobalArgs`] takes a value; a value it cannot take is
/// an error, never ignored.
pub trait Fill {
    fn fill(&mut self, v: &Value) -> Result<(), String>;
}

fn one(v: &Value) -> Result<String, String> {
    match v {
        Value::One(s) => Ok(s.clone()),
        Value::Flag => Err("needs a value".into()),
        Value::List(_) => Err("takes one value, not a list".into()),
    }
}

impl Fill for Option<String> {
    fn fill(&mut self, v: &Value) -> Result<(), String> {
        let s = one(v)?;
        self.get_or_insert(s);
        Ok(())
    }
}

impl Fill for Option<PathBuf> {
    fn fill(&mut self, v: &Value) -> Result<(), String> {
        let s = one(v)?;
        self.get_or_insert_with(|| expand_home(&s));
        Ok(())
    }
}

impl Fill for Option<usize> {
    fn fill(&mut self, v: &Value) -> Result<(), String> {
        let s = one(v)?;
        let n = s
            .parse()
            .map_err(|_| format!("expected a whole number, not {s:?}"))?;
        self.get_or_insert(n);
        Ok(())
    }
}

impl Fill for Vec<String> {
    fn fill(&mut self, v: &Value) -> Result<(), String> {
        if self.is_empty() {
            *self = match v {
                Value::Flag => return Err("needs a value".into()),
                Value::One(s) => vec![s.clone()],
                Value::List(l) => l.clone(),
            };
        }
        Ok(())
    }
}

impl Fill for bool {
    /// configargparse's words for a flag.
    fn fill(&mut self, v: &Value) -> Result<(), String> {
        let on = match v {
            Value::Flag => true,
            Value::One(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => true,
                "false" | "no" | "0" | "off" => false,
                _ => return Err(format!("expected true or false, not {s:?}")),
            },
            Value::List(_) => return Err("is a flag, not a list".into()),
        };
        *self |= on;
        Ok(())
    }
}

/// One setting read from a file: key (normalized), value, line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    pub line: usize,
}

/// Parses one config file's bytes. `origin` names it in errors, which are
/// one line: `FILE:LINE: reason`.
pub fn parse(bytes: &[u8], origin: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let at = format!("{origin}:{}", n + 1);
        if raw.contains(&0) {
            bail!("{at}: a NUL byte: not a config file");
        }
        let raw = std::str::from_utf8(raw).map_err(|_| anyhow!("{at}: not UTF-8 text"))?;
        if let Some(e) = parse_line(raw).map_err(|why| anyhow!("{at}: {why}"))? {
            out.push(Entry { line: n + 1, ..e });
        }
    }
    Ok(out)
}

/// configargparse's line grammar: `key`, or `key` then `:`, `=` or white
/// space then a value; a comment (`#`, `;`) behind white space ends either.
fn parse_line(raw: &str) -> Result<Option<Entry>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with(['#', ';', '[']) || line.starts_with("---") {
        return Ok(None);
    }
    let end = line
        .find(|c: char| matches!(c, ':' | '=' | ';' | '#') || c.is_whitespace())
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    if key.is_empty() {
        return Err(format!("cannot read {raw:?}: expected `key = value`"));
    }
    let key = normalize(key);
    let entry = |value| {
        Ok(Some(Entry {
            key: key.clone(),
            value,
            line: 0,
        }))
    };
    let spaced = rest.starts_with(char::is_whitespace);
    let rest = rest.trim_start();
    if rest.is_empty() || spaced && rest.starts_with(['#', ';']) {
        return entry(Value::Flag);
    }
    let value = match rest.strip_prefix([':', '=']) {
        Some(v) => v.trim_start(),
        None if spaced => rest,
        None => return Err(format!("cannot read {raw:?}: expected `key = value`")),
    };
    let value = strip_comment(value);
    if value.is_empty() {
        return Err(format!(
            "`{key}` has no value (write `{key}` alone for a flag)"
        ));
    }
    if let Some(list) = value.strip_prefix('[') {
        let Some(list) = list.strip_suffix(']') else {
            return Err(format!(
                "`{key}`: unterminated list {value:?} (missing `]`)"
            ));
        };
        return entry(Value::List(
            list.split(',')
                .map(|s| unquote(s.trim()).to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ));
    }
    entry(Value::One(unquote(value).to_string()))
}

/// A value without a trailing ` # comment` or ` ; comment`.
fn strip_comment(v: &str) -> &str {
    let b = v.as_bytes();
    for i in 1..b.len() {
        if matches!(b[i], b'#' | b';') && b[i - 1].is_ascii_whitespace() {
            return v[..i].trim_end();
        }
    }
    v.trim_end()
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

fn normalize(key: &str) -> String {
    key.trim_start_matches("--").replace('_', "-")
}

pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// The environment variables for a key: `REPOMAN_<KEY>`; `aws-profile`
/// also answers to the original's `REPOMAN_AWS_CREDENTIAL_PROFILE`.
pub fn env_names(key: &str) -> Vec<String> {
    let mut v = vec![format!(
        "REPOMAN_{}",
        key.replace('-', "_").to_ascii_uppercase()
    )];
    if key == "aws-profile" {
        v.push("REPOMAN_AWS_CREDENTIAL_PROFILE".into());
    }
    v
}

/// The key that names the extra config file: a flag and an environment
/// variable, not something a config file can set.
const CONFIG_FILE: &str = "config-file";

/// Merges config files and environment under the command-line flags.
pub fn resolve(
    cli: GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
    default_files: &[&str],
) -> Result<GlobalArgs> {
    let mut files: Vec<PathBuf> = default_files.iter().map(|f| expand_home(f)).collect();
    let explicit = cli
        .config_file
        .clone()
        .or_else(|| env("REPOMAN_CONFIG_FILE").map(PathBuf::from));
    if let Some(f) = &explicit {
        if !f.is_file() {
            bail!("config file {}: not found", f.display());
        }
        files.push(f.clone());
    }
    // key → (value, where it came from); later sources replace earlier ones.
    let mut merged: Vec<(String, Value, String)> = Vec::new();
    let mut set = |key: String, value: Value, origin: String| {
        merged.retain(|(k, _, _)| *k != key);
        merged.push((key, value, origin));
    };
    for f in files.iter().filter(|f| f.is_file()) {
        let bytes =
            std::fs::read(f).with_context(|| format!("reading config file {}", f.display()))?;
        let name = f.display().to_string();
        for e in parse(&bytes, &name)? {
            let at = format!("{name}:{}", e.line);
            if e.key == CONFIG_FILE {
                bail!(
                    "{at}: `{CONFIG_FILE}` can only be given as a flag or in REPOMAN_CONFIG_FILE"
                );
            }
            if !GlobalArgs::KEYS.contains(&e.key.as_str()) {
                bail!(
                    "{at}: unknown key `{}` (known keys: {})",
                    e.key,
                    GlobalArgs::KEYS
                        .iter()
                        .filter(|k| **k != CONFIG_FILE)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            set(e.key, e.value, at);
        }
    }
    for key in GlobalArgs::KEYS.iter().filter(|k| **k != CONFIG_FILE) {
        for name in env_names(key) {
            if let Some(v) = env(&name) {
                let value = if v.starts_with('[') {
                    parse_line(&format!("{key} = {v}"))
                        .map_err(|why| anyhow!("{name}: {why}"))?
                        .map_or(Value::Flag, |e| e.value)
                } else {
                    Value::One(v)
                };
                set(key.to_string(), value, name);
                break;
            }
        }
    }
    let mut g = cli;
    for (key, value, origin) in &merged {
        g.fill(key, value)
            .map_err(|why| anyhow!("{origin}: `{key}` {why}"))?;
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn map(text: &str) -> std::collections::BTreeMap<String, Value> {
        parse(text.as_bytes(), "t")
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn parses_the_original_syntax() {
        let m = map(
            "# comment\nsimpledb-domain = repo\ns3_bucket: bkt\nskip-checkup\ngpg-signer = [AAAA, 'BBBB']\n\
             [section]\n---\nregion us-west-2  # where\n--aws-role=arn ; why\ndebug # on\n",
        );
        assert_eq!(m["simpledb-domain"], Value::One("repo".into()));
        assert_eq!(m["s3-bucket"], Value::One("bkt".into()));
        assert_eq!(m["skip-checkup"], Value::Flag);
        assert_eq!(
            m["gpg-signer"],
            Value::List(vec!["AAAA".into(), "BBBB".into()])
        );
        assert_eq!(m["region"], Value::One("us-west-2".into()));
        assert_eq!(m["aws-role"], Value::One("arn".into()));
        assert_eq!(m["debug"], Value::Flag);
    }

    #[test]
    fn unreadable_lines_name_file_line_and_key() {
        for (text, want) in [
            ("region = a\n= x\n", "t:2: cannot read"),
            ("region =\n", "t:1: `region` has no value"),
            (
                "gpg-signer = [a, b\n",
                "t:1: `gpg-signer`: unterminated list",
            ),
            ("region = a\nregion#x\n", "t:2: cannot read"),
            ("debug\nregion = a\0b\n", "t:2: a NUL byte"),
        ] {
            let err = parse(text.as_bytes(), "t").unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        let err = parse(b"region = \xff\n", "t").unwrap_err().to_string();
        assert!(err.starts_with("t:1: not UTF-8"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.conf");
        let run = |text: &str| {
            std::fs::write(&f, text).unwrap();
            resolve(GlobalArgs::default(), &|_| None, &[f.to_str().unwrap()])
        };
        let at = f.display().to_string();
        let err = run("debug\nlocl-dir = /x\n").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{at}:2: unknown key `locl-dir`")),
            "{err}"
        );
        let err = run("auto-purge = many\n").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{at}:1: `auto-purge` expected a whole number")),
            "{err}"
        );
        let err = run("debug = maybe\n").unwrap_err().to_string();
        assert!(err.contains(":1: `debug` expected true or false"), "{err}");
        let err = run("region\n").unwrap_err().to_string();
        assert!(err.contains(":1: `region` needs a value"), "{err}");
        let err = run("config-file = /y\n").unwrap_err().to_string();
        assert!(err.contains(":1: `config-file` can only"), "{err}");
        let g = run("debug = false\nauto-purge = 3\n").unwrap();
        assert!(!g.debug);
        assert_eq!(g.auto_purge, Some(3));
        // The environment is as strict.
        let err = resolve(
            GlobalArgs::default(),
            &|k| (k == "REPOMAN_GPG_SIGNER").then(|| "[a, b".to_string()),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("REPOMAN_GPG_SIGNER: `gpg-signer`: unterminated"),
            "{err}"
        );
    }

    #[test]
    fn every_flag_has_a_key_and_every_key_a_flag() {
        let cmd = crate::cli::args::Cli::command();
        let mut flags: Vec<String> = cmd
            .get_arguments()
            .filter(|a| a.is_global_set())
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        flags.sort();
        let mut keys: Vec<String> = GlobalArgs::KEYS.iter().map(|k| k.to_string()).collect();
        keys.sort();
        assert_eq!(flags, keys);
        // Each key reaches its field through a file as through the flag.
        for key in GlobalArgs::KEYS {
            let (value, arg) = if ["skip-checkup", "debug"].contains(key) {
                (Value::Flag, vec![format!("--{key}")])
            } else if *key == "auto-purge" {
                (Value::One("7".into()), vec![format!("--{key}"), "7".into()])
            } else {
                (
                    Value::One("/v".into()),
                    vec![format!("--{key}"), "/v".into()],
                )
            };
            let mut from_key = GlobalArgs::default();
            from_key.fill(key, &value).unwrap();
            let from_flag = <crate::cli::args::Cli as clap::Parser>::try_parse_from(
                ["repoman-cli"]
                    .into_iter()
                    .map(String::from)
                    .chain(arg)
                    .chain(["man".to_string()]),
            )
            .unwrap()
            .global;
            assert_eq!(format!("{from_key:?}"), format!("{from_flag:?}"), "{key}");
        }
    }

    #[test]
    fn flags_override_env_override_files() {
        let dir = tempfile::tempdir().unwrap();
        let f1 = dir.path().join("a.conf");
        let f2 = dir.path().join("b.conf");
        std::fs::write(
            &f1,
            "simpledb-domain = one\ns3-bucket = file-bucket\nregion = r1\n",
        )
        .unwrap();
        std::fs::write(&f2, "simpledb-domain = two\n").unwrap();
        let env = |k: &str| (k == "REPOMAN_S3_BUCKET").then(|| "env-bucket".to_string());
        let files = [f1.to_str().unwrap(), f2.to_str().unwrap()];
        let g = resolve(GlobalArgs::default(), &env, &files).unwrap();
        assert_eq!(g.simpledb_domain.as_deref(), Some("two"));
        assert_eq!(g.s3_bucket.as_deref(), Some("env-bucket"));
        assert_eq!(g.region.as_deref(), Some("r1"));
        let cli = GlobalArgs {
            s3_bucket: Some("flag-bucket".into()),
            ..Default::default()
        };
        let g = resolve(cli, &env, &files).unwrap();
        assert_eq!(g.s3_bucket.as_deref(), Some("flag-bucket"));
    }

    #[test]
    fn missing_explicit_config_file_is_an_error() {
        let cli = GlobalArgs {
            config_file: Some("/nonexistent/x.conf".into()),
            ..Default::default()
        };
        let err = resolve(cli, &|_| None, &[]).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/x.conf"), "{err}");
    }
}
