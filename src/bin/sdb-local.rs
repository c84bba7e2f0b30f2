//! sdb-local: a local SimpleDB (2009-04-15 query API) on SQLite, for tests
//! and offline work. Prints `listening on http://HOST:PORT` once ready.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use sdb::server::{Server, ServerConfig};

// The same allocator as repoman-cli (see src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A local SimpleDB server on SQLite.
#[derive(Debug, Parser)]
#[command(name = "sdb-local", version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// SQLite file to keep the domains in (default: in memory).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Fraction of requests answered 503 ServiceUnavailable before doing
    /// anything (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    fail_rate: f64,
    /// What those requests are answered: ServiceUnavailable (503),
    /// RequestTimeout (408) or InternalError (500).
    #[arg(long, default_value = "ServiceUnavailable", value_name = "CODE")]
    fail_code: String,
    /// Delay added to every request, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "N")]
    latency_ms: u64,
    /// Access key id requests must be signed with (SigV2). Without a key
    /// pair, any credentials are accepted.
    #[arg(long, env = "SDB_LOCAL_ACCESS_KEY", requires = "secret_key")]
    access_key: Option<String>,
    /// Secret key of --access-key.
    #[arg(
        long,
        env = "SDB_LOCAL_SECRET_KEY",
        hide_env_values = true,
        requires = "access_key"
    )]
    secret_key: Option<String>,
    /// Accept what AWS refuses beyond its documented limits (Select
    /// comparisons and attributes, requests over 1 MB).
    #[arg(long)]
    lenient: bool,
    /// Answer 408 RequestTimeout to a Select page asking for more than N
    /// items (a count without a limit asks for all), as AWS does to a
    /// query that runs past 5 seconds; smaller pages succeed.
    #[arg(long, value_name = "N")]
    select_timeout_items: Option<u32>,
    /// Request-handling threads (with --latency-ms, the most requests
    /// whose delays overlap).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Append one JSON line per request to this file: operation, arrival
    /// and answer times (for benchmarks).
    #[arg(long, value_name = "PATH")]
    request_log: Option<PathBuf>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SDB_LOCAL_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        bind: args.bind,
        port: args.port,
        db: args.db,
        fail_rate: args.fail_rate,
        fail_code: args.fail_code,
        latency: Duration::from_millis(args.latency_ms),
        credentials: args.access_key.zip(args.secret_key),
        strict: !args.lenient,
        select_timeout_items: args.select_timeout_items,
        threads: args.threads,
        request_log: args.request_log,
    };
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sdb-local: {e}");
            std::process::exit(1);
        }
    };
    let addr = server.addr();
    let handles = server.spawn();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
    drop(out);
    for h in handles {
        let _ = h.join();
    }
}
