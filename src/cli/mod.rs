//! The command-line layer: parse flags, merge config, open the backend, run
//! one catalog operation, print. Errors become one line on stderr and a
//! non-zero exit status here, and nowhere else.

pub mod args;
pub mod backend;
pub mod backup;
pub mod client;
pub mod config;
pub mod migrate;
pub mod output;
pub mod packages;
pub mod publish;
pub mod repo;
pub mod tabulate;
pub mod ui;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser};

use crate::catalog::Catalog;
use args::{Cli, Command, GlobalArgs};
use ui::Ui;

/// What every command handler gets.
pub struct Context {
    pub catalog: Catalog,
    /// Global settings after merging config files and environment.
    pub settings: GlobalArgs,
    pub ui: Ui,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("repoman-cli: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line: `outer: inner: root`.
pub fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

fn run(cli: Cli) -> Result<()> {
    // Commands that need no repository.
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "repoman-cli",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    let settings = config::resolve(
        cli.global,
        &|k| std::env::var(k).ok(),
        &config::DEFAULT_FILES,
    )?;
    // `backup -q`: errors only, so not even a warning that was recovered from.
    let quiet = matches!(&cli.command, Command::Backup(a) if a.quiet);
    init_logging(settings.debug, quiet);
    if let Command::IamPolicy(a) = &cli.command {
        return backend::print_iam_policy(&settings, a.backup_only);
    }
    let backend = backend::open(&settings)?;
    let ctx = Context {
        catalog: Catalog::new(backend),
        settings,
        ui: Ui::detect(),
    };
    dispatch(&ctx, cli.command)
}

fn dispatch(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Setup(a) => repo::setup(ctx, &a),
        Command::Checkup(a) => repo::checkup(ctx, &a),
        Command::Repo { command } => repo::run(ctx, command),
        Command::Add(a) => packages::add(ctx, &a),
        Command::Query(a) => packages::query(ctx, &a),
        Command::Rm(a) => packages::rm(ctx, &a),
        Command::Cp(a) => packages::cp(ctx, &a),
        Command::Publish(a) => publish::run(ctx, &a),
        Command::Backup(a) => backup::run_backup(ctx, &a),
        Command::Restore(a) => backup::run_restore(ctx, &a),
        Command::Verify(a) => backup::run_verify(ctx, &a),
        Command::Migrate(a) => migrate::run(ctx, &a),
        Command::Serve(a) => client::run_serve(ctx, &a),
        Command::Key { command } => client::run_key(ctx, &command),
        Command::Sources(a) => client::run_sources(ctx, &a),
        Command::IamPolicy(_) | Command::Completions { .. } | Command::Man => Ok(()),
    }
}

/// `--debug` or `RUST_LOG`; warnings and above otherwise. Logs go to stderr
/// so stdout stays clean for JSON and tables.
fn init_logging(debug: bool, quiet: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // Colour only for a person at a terminal, and never against NO_COLOR
    // (https://no-color.org: set and not empty).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let filter = if debug {
        EnvFilter::new("repoman=debug,info")
    } else if quiet {
        EnvFilter::new("error")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,repoman=info"))
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(colour)
        .without_time()
        .try_init();
}
