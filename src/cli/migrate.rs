//! `migrate --to URL`: copies the whole state to another store and checks
//! that both hold the same items (see `crate::migrate`).

use anyhow::{Context as _, Result};
use clap::Args;
use serde_json::json;

use super::backend::open_state_url;
use super::Context;
use crate::migrate;
use crate::store_url::StateUrl;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy the state to: sqlite:PATH, simpledb:DOMAIN or dynamodb:TABLE
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Say what would be written, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Context, a: &MigrateArgs) -> Result<()> {
    let to = StateUrl::parse(&a.to).map_err(anyhow::Error::msg)?;
    let target = open_state_url(&ctx.settings, &to)?;
    let source = ctx.catalog.meta();
    let mut last = 0;
    let m = migrate::migrate(source, target.as_ref(), a.dry_run, &mut |done, total| {
        if done * 10 / total.max(1) != last {
            last = done * 10 / total.max(1);
            eprintln!("migrate: {done} of {total} changes written");
        }
    })?;
    let from = source.describe();
    let into = target.describe();
    if a.dry_run {
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
                "digest": digest,
            })],
        )
        .context("the state was migrated")
}
