//! Per-distribution Release settings: `Valid-Until` (how long a Release
//! stays valid), a `Suite` name other than the codename, `NotAutomatic`
//! and `ButAutomaticUpgrades`.
//!
//! Each is one attribute of the configuration item `meta`, named
//! `<setting>:<dist>` (`valid_for:stable` = `7d`), so the original's
//! readers, which read only the attributes they know, are unaffected, and
//! a backup carries them like any other attribute. What the store holds is
//! re-checked whenever a Release is composed.

use anyhow::{bail, Result};
use chrono::Duration;

use super::release::parse_duration;
use crate::catalog::Catalog;
use crate::model::{Attrs, META_ITEM};
use crate::rules::{check_setting, Setting};
use crate::store::Change;

/// One per-distribution Release setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ValidFor,
    Suite,
    NotAutomatic,
    ButAutomaticUpgrades,
}

impl Field {
    fn prefix(self) -> &'static str {
        match self {
            Field::ValidFor => "valid_for",
            Field::Suite => "suite",
            Field::NotAutomatic => "not_automatic",
            Field::ButAutomaticUpgrades => "but_automatic_upgrades",
        }
    }

    /// The attribute of `meta` holding this setting for `dist`.
    pub fn attr(self, dist: &str) -> String {
        format!("{}:{dist}", self.prefix())
    }

    /// Checks a value as given on the command line or found in the store.
    fn check(self, value: &str) -> Result<(), String> {
        match self {
            Field::ValidFor => match parse_duration(value)? {
                d if d.num_seconds() <= 0 => Err("a Release must stay valid for 1s or more".into()),
                _ => Ok(()),
            },
            Field::Suite => check_setting(Setting::Dists, value),
            Field::NotAutomatic | Field::ButAutomaticUpgrades => match value {
                "yes" | "no" => Ok(()),
                _ => Err(format!("{value:?} is neither yes nor no")),
            },
        }
    }
}

/// A distribution's Release settings, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub valid_for: Option<Duration>,
    pub suite: Option<String>,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
}

/// The Release settings of `dist` as the configuration `attrs` holds them.
pub fn options(attrs: &Attrs, dist: &str) -> Result<Options> {
    let get = |f: Field| -> Result<Option<String>> {
        let attr = f.attr(dist);
        match attrs.get(&attr).and_then(|v| v.first()) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => match f.check(v) {
                Ok(()) => Ok(Some(v.clone())),
                Err(e) => bail!("the stored setting {attr} of {META_ITEM} is invalid: {e}"),
            },
        }
    };
    Ok(Options {
        valid_for: get(Field::ValidFor)?.map(|v| parse_duration(&v).expect("checked above")),
        suite: get(Field::Suite)?,
        not_automatic: get(Field::NotAutomatic)?.as_deref() == Some("yes"),
        but_automatic_upgrades: get(Field::ButAutomaticUpgrades)?.as_deref() == Some("yes"),
    })
}

/// Sets (or, with `None`, removes) a Release setting of `dist`, which must
/// be configured.
pub fn set(cat: &Catalog, field: Field, dist: &str, value: Option<&str>) -> Result<()> {
    let config = cat.config()?;
    config.require_dist(dist)?;
    let attr = field.attr(dist);
    let change = match value {
        Some(v) => {
            field.check(v).map_err(|e| anyhow::anyhow!("{attr}: {e}"))?;
            let mut attrs = Attrs::new();
            attrs.insert(attr, vec![v.to_string()]);
            Change::Put {
                item: META_ITEM.into(),
                attrs,
                remove: vec![],
            }
        }
        None => Change::Put {
            item: META_ITEM.into(),
            attrs: Attrs::new(),
            remove: vec![attr],
        },
    };
    cat.meta().apply(&[change])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect()
    }

    #[test]
    fn options_are_read_per_distribution_and_checked() {
        let a = attrs(&[
            ("valid_for:stable", "7d"),
            ("suite:stable", "production"),
            ("not_automatic:stable", "yes"),
            ("but_automatic_upgrades:stable", "no"),
            ("valid_for:other", "1h"),
        ]);
        let o = options(&a, "stable").unwrap();
        assert_eq!(o.valid_for, Some(Duration::days(7)));
        assert_eq!(o.suite.as_deref(), Some("production"));
        assert!(o.not_automatic && !o.but_automatic_upgrades);
        assert_eq!(options(&a, "none").unwrap(), Options::default());
        for (k, v) in [
            ("valid_for:stable", "soon"),
            ("valid_for:stable", "0"),
            ("suite:stable", "a b"),
            ("suite:stable", "../x"),
            ("not_automatic:stable", "maybe"),
        ] {
            let e = options(&attrs(&[(k, v)]), "stable")
                .unwrap_err()
                .to_string();
            assert!(e.contains(k), "{e}");
        }
    }
}
