//! `backup`, `restore` and `verify`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::args::{ConfirmArgs, FilterArgs};
use super::Context;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    #[arg(short = 'c', long = "component")]
    pub comps: Vec<String>,
    /// Include packages hidden by removed distributions, components or architectures
    #[arg(short = 'H', long)]
    pub query_hidden: bool,
    /// json (indented) or jsonc (compact, the default)
    #[arg(short = 'f', long, default_value = "jsonc")]
    pub format: String,
    /// Write to FILE (atomically) instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Store the backup in the repository's bucket under backups/
    #[arg(long)]
    pub to_bucket: bool,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// List backups stored in the bucket
    List,
    /// Delete stored backups but the newest N
    Clean { keep: usize },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup file (gzip detected), or - for stdin
    pub file: Option<PathBuf>,
    /// Restore a backup stored in the bucket (a key from `backup list`)
    #[arg(long, value_name = "KEY")]
    pub from_bucket: Option<String>,
    /// Rebuild items from the published dists/ tree and pool
    #[arg(long)]
    pub from_published: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    #[arg(short = 'c', long = "component")]
    pub comps: Vec<String>,
    /// Show what would change and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete items absent from the backup
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check sizes only, not checksums
    #[arg(long)]
    pub fast: bool,
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
}

pub fn run_backup(_ctx: &Context, _args: &BackupArgs) -> Result<()> {
    anyhow::bail!("backup is not available yet")
}

pub fn run_restore(_ctx: &Context, _args: &RestoreArgs) -> Result<()> {
    anyhow::bail!("restore is not available yet")
}

pub fn run_verify(_ctx: &Context, _args: &VerifyArgs) -> Result<()> {
    anyhow::bail!("verify is not available yet")
}
