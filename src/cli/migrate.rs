//! `migrate --to URL`: copies the whole state to another store and checks
//! that both hold the same items (see `crate::migrate`).
//! `migrate --from-export s3://BUCKET/PREFIX`: imports a SimpleDB domain
//! export into the configured state, checked as a whole first (see
//! `crate::migrate::export`).

use anyhow::{bail, Context as _, Result};
use serde_json::json;

use super::args::MigrateArgs;
use super::backend::{open_bucket_url, open_state_url};
use super::Context;
use crate::backup::validate::SHOWN_PROBLEMS;
use crate::migrate::{self, export, Migration};
use crate::store_url::{BucketUrl, StateUrl};

pub fn run(ctx: &Context, a: &MigrateArgs) -> Result<()> {
    match (&a.to, &a.from_export) {
        (_, Some(url)) => from_export(ctx, url, a.dry_run),
        (Some(to), None) => to_store(ctx, to, a.dry_run),
        (None, None) => bail!("migrate needs --to URL or --from-export s3://BUCKET/PREFIX"),
    }
}

fn to_store(ctx: &Context, to: &str, dry_run: bool) -> Result<()> {
    let to = StateUrl::parse(to).map_err(anyhow::Error::msg)?;
    let target = open_state_url(&ctx.settings, &to)?;
    let source = ctx.catalog.meta();
    let mut last = 0;
    let m = migrate::migrate(source, target.as_ref(), dry_run, &mut |done, total| {
        if done * 10 / total.max(1) != last {
            last = done * 10 / total.max(1);
            eprintln!("migrate: {done} of {total} changes written");
        }
    })?;
    let from = source.describe();
    let into = target.describe();
    if dry_run {
        println!(
            "would copy {} items from {from} to {into}: {} to write, {} to delete, {} already identical",
            m.items, m.written, m.deleted, m.unchanged
        );
        return Ok(());
    }
    let digest = m.digest.clone().unwrap_or_default();
    println!(
        "migrated {} items from {from} to {into}: {} written, {} deleted, {} already identical; both hold {} items, digest {digest}",
        m.items, m.written, m.deleted, m.unchanged, m.items
    );
    announce(ctx, &into, &from, &m)
}

fn from_export(ctx: &Context, url: &str, dry_run: bool) -> Result<()> {
    let (bucket, prefix) = export::parse_url(url).map_err(anyhow::Error::msg)?;
    let bucket = BucketUrl::parse(&bucket).map_err(anyhow::Error::msg)?;
    let blobs = open_bucket_url(&ctx.settings, &bucket)?;
    let checked = match export::check(blobs.as_ref(), &prefix) {
        Ok(c) => c,
        Err(e) => {
            if let Some(r) = e.downcast_ref::<export::Refusal>() {
                for line in r.problems.iter().take(SHOWN_PROBLEMS) {
                    eprintln!("{line}");
                }
                let rest = r.problems.len().saturating_sub(SHOWN_PROBLEMS) + r.more;
                if rest > 0 {
                    eprintln!("... and {rest} more problems");
                }
            }
            return Err(e);
        }
    };
    for note in &checked.notes {
        eprintln!("note: {note}");
    }
    let target = ctx.catalog.meta();
    let into = target.describe();
    let m = export::import(&checked, target, dry_run, &mut |done, files| {
        eprintln!("migrate: {done} of {files} data files written");
    })?;
    let from = &checked.source;
    if dry_run {
        println!(
            "would import {} items from {from} (domain {}) into {into}: {} to write, {} to delete, {} already identical",
            m.items, checked.domain, m.written, m.deleted, m.unchanged
        );
        return Ok(());
    }
    println!(
        "imported {} items from {from} (domain {}) into {into}: {} written, {} deleted, {} already identical; {into} holds {} items, digest {}",
        m.items,
        checked.domain,
        m.written,
        m.deleted,
        m.unchanged,
        m.items,
        m.digest.as_deref().unwrap_or_default()
    );
    announce(ctx, &into, from, &m)
}

/// One `migrate` message: where the state went, from where, what changed.
fn announce(ctx: &Context, into: &str, from: &str, m: &Migration) -> Result<()> {
    let config = ctx.catalog.config()?;
    ctx.catalog
        .announce(
            &config,
            vec![json!({
                "action": "migrate",
                "type": "state",
                "name": into,
                "source": from,
                "items": m.items,
                "written": m.written,
                "deleted": m.deleted,
                "digest": m.digest.clone().unwrap_or_default(),
            })],
        )
        .context("the state was migrated")
}
