//! Times a full `publish` of N synthetic packages in the embedded store
//! against `publish --refresh` of the same, unchanged distribution (the
//! published Release re-dated and re-signed, no index rebuilt). Both sign
//! with a generated key file; each is run five times and the median kept.
//!
//!     cargo run --release --no-default-features --example bench_refresh -- 2000
//!
//! Prints a table: operation, median seconds, runs.

use std::time::Instant;

use repoman::catalog::configure::{setup, SetupRequest};
use repoman::catalog::Catalog;
use repoman::publish::sign::KeyFileSigner;
use repoman::publish::{publish, Request};

mod common;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2_000);
    let tmp = tempfile::tempdir()?;
    let cat = Catalog::new(repoman::embedded::open(tmp.path(), None)?);
    setup(
        &cat,
        &SetupRequest {
            dists: vec!["bench".into()],
            comps: vec!["main".into()],
            archs: vec!["amd64".into()],
            ..SetupRequest::default()
        },
    )?;
    common::store(&cat, n, |i| {
        common::package(i, format!("bench-{i:06}"), "bench")
    })?;
    let key = tmp.path().join("key.asc");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "export GNUPGHOME=$(mktemp -d) && gpg --batch --pinentry-mode loopback --passphrase '' \
             --quick-gen-key 'Bench <b@example.com>' ed25519 sign never 2>/dev/null && \
             gpg --armor --export-secret-keys > {} && gpgconf --kill gpg-agent",
            key.display()
        ))
        .status()?;
    anyhow::ensure!(status.success(), "gpg could not make a key");
    let signer = KeyFileSigner::open(&key, &[], &[])?;
    let mut rows = Vec::new();
    for refresh in [false, true] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let mut req = Request::new(vec![], Some(&signer));
            req.refresh = refresh;
            let start = Instant::now();
            publish(&cat, &req, &|_| {})?;
            times.push(start.elapsed().as_secs_f64());
        }
        let name = if refresh {
            "publish --refresh"
        } else {
            "publish"
        };
        rows.push((name, median(times.clone()), times));
    }
    println!(
        "packages: {n}; machine: {} cores",
        std::thread::available_parallelism()?
    );
    println!("| operation | median s | runs |");
    println!("|---|---|---|");
    for (name, m, times) in rows {
        let runs: Vec<String> = times.iter().map(|t| format!("{t:.3}")).collect();
        println!("| {name} | {m:.3} | {} |", runs.join(", "));
    }
    Ok(())
}
