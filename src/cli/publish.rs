//! `publish`: writes the dists/ tree.

use anyhow::Result;
use clap::Args;

use super::Context;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Distribution to publish (repeatable; default: every configured one)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
}

pub fn run(_ctx: &Context, _args: &PublishArgs) -> Result<()> {
    anyhow::bail!("publish is not available yet")
}

/// `--publish` on add, cp and rm: publishes `dists` after the change.
pub fn publish_after(ctx: &Context, dists: &[String]) -> Result<()> {
    run(
        ctx,
        &PublishArgs {
            dists: dists.to_vec(),
        },
    )
}
