//! Global settings from config files and `REPOMAN_*` environment variables,
//! merged under the command line: flags override the environment, which
//! overrides config files; later files override earlier ones.
//!
//! File syntax (the original's, from configargparse): `key = value`, a bare
//! `key` for a true flag, `key = [a, b]` for lists, `#` comments. Keys are
//! the long flag names (`simpledb-domain`, or `simpledb_domain`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::args::GlobalArgs;

pub const DEFAULT_FILES: [&str; 2] = ["/etc/repoman/repoman.conf", "~/.repoman"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Flag,
    One(String),
    List(Vec<String>),
}

impl Value {
    fn one(&self) -> Option<String> {
        match self {
            Value::Flag => Some("true".into()),
            Value::One(s) => Some(s.clone()),
            Value::List(v) => v.first().cloned(),
        }
    }

    fn list(&self) -> Vec<String> {
        match self {
            Value::Flag => vec![],
            Value::One(s) => vec![s.clone()],
            Value::List(v) => v.clone(),
        }
    }

    fn flag(&self) -> bool {
        match self {
            Value::Flag => true,
            Value::One(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on"),
            Value::List(_) => false,
        }
    }
}

/// Parses one config file's text. `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[') && line.ends_with(']') && !line.contains('=')
        {
            continue;
        }
        let (key, value) = match line.split_once(['=', ':']) {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!(
                "{origin}:{}: cannot read {raw:?}: expected `key = value`",
                n + 1
            );
        }
        let value = match value {
            None => Value::Flag,
            Some(v) if v.starts_with('[') && v.ends_with(']') => Value::List(
                v[1..v.len() - 1]
                    .split(',')
                    .map(|s| unquote(s.trim()).to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            Some(v) => Value::One(unquote(v).to_string()),
        };
        out.insert(normalize(key), value);
    }
    Ok(out)
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
    key.trim_start_matches("--")
        .replace('_', "-")
        .to_ascii_lowercase()
}

pub fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// The environment variable for a key: `REPOMAN_<KEY>`; a few keep the
/// original's names too.
fn env_names(key: &str) -> Vec<String> {
    let mut v = vec![format!(
        "REPOMAN_{}",
        key.replace('-', "_").to_ascii_uppercase()
    )];
    if key == "aws-profile" {
        v.push("REPOMAN_AWS_CREDENTIAL_PROFILE".into());
    }
    v
}

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
    let mut merged = BTreeMap::new();
    for f in files.iter().filter(|f| f.is_file()) {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading config file {}", f.display()))?;
        merged.extend(parse(&text, &f.display().to_string())?);
    }
    for key in KEYS {
        for name in env_names(key) {
            if let Some(v) = env(&name) {
                let value = if v.starts_with('[') {
                    parse(&format!("k = {v}"), &name)?
                        .remove("k")
                        .unwrap_or(Value::Flag)
                } else {
                    Value::One(v)
                };
                merged.insert(key.to_string(), value);
                break;
            }
        }
    }
    Ok(apply(cli, &merged))
}

const KEYS: [&str; 16] = [
    "simpledb-domain",
    "s3-bucket",
    "local-dir",
    "aws-profile",
    "region",
    "simpledb-region",
    "aws-role",
    "log-config",
    "skip-checkup",
    "debug",
    "gpg-home",
    "gpg-signer",
    "gpg-pinentry-path",
    "gpg-passphrase",
    "gpg-key-file",
    "auto-purge",
];

fn apply(mut g: GlobalArgs, m: &BTreeMap<String, Value>) -> GlobalArgs {
    let one = |k: &str| m.get(k).and_then(Value::one);
    let path = |k: &str| one(k).map(|p| expand_home(&p));
    g.simpledb_domain = g.simpledb_domain.or_else(|| one("simpledb-domain"));
    g.s3_bucket = g.s3_bucket.or_else(|| one("s3-bucket"));
    g.local_dir = g.local_dir.or_else(|| path("local-dir"));
    g.aws_profile = g.aws_profile.or_else(|| one("aws-profile"));
    g.region = g.region.or_else(|| one("region"));
    g.simpledb_region = g.simpledb_region.or_else(|| one("simpledb-region"));
    g.aws_role = g.aws_role.or_else(|| one("aws-role"));
    g.log_config = g.log_config.or_else(|| path("log-config"));
    g.skip_checkup |= m.get("skip-checkup").is_some_and(Value::flag);
    g.debug |= m.get("debug").is_some_and(Value::flag);
    g.gpg_home = g.gpg_home.or_else(|| path("gpg-home"));
    if g.gpg_signer.is_empty() {
        g.gpg_signer = m.get("gpg-signer").map(Value::list).unwrap_or_default();
    }
    g.gpg_pinentry_path = g.gpg_pinentry_path.or_else(|| path("gpg-pinentry-path"));
    if g.gpg_passphrase.is_empty() {
        g.gpg_passphrase = m.get("gpg-passphrase").map(Value::list).unwrap_or_default();
    }
    g.gpg_key_file = g.gpg_key_file.or_else(|| path("gpg-key-file"));
    g.auto_purge = g
        .auto_purge
        .or_else(|| one("auto-purge").and_then(|v| v.parse().ok()));
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_original_syntax() {
        let m = parse(
            "# comment\nsimpledb-domain = repo\ns3_bucket: bkt\nskip-checkup\ngpg-signer = [AAAA, 'BBBB']\n",
            "t",
        )
        .unwrap();
        assert_eq!(m["simpledb-domain"], Value::One("repo".into()));
        assert_eq!(m["s3-bucket"], Value::One("bkt".into()));
        assert_eq!(m["skip-checkup"], Value::Flag);
        assert_eq!(
            m["gpg-signer"],
            Value::List(vec!["AAAA".into(), "BBBB".into()])
        );
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
