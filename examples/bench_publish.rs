//! Times `publish` on N synthetic packages in the embedded store, beside
//! the floor: `gzip -6` and `sha256sum` over the same index bytes.
//!
//!     cargo run --release --no-default-features --example bench_publish -- 60000 [DIR]
//!
//! Prints one line of `key=value` figures (see scripts/bench-publish.sh).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use repoman::catalog::configure::{setup, SetupRequest};
use repoman::catalog::{Catalog, Filter};
use repoman::model::Package;
use repoman::publish::index::compress_and_hash;
use repoman::publish::{publish, Request};

mod common;

fn package(i: usize) -> Package {
    common::package(i, format!("bench-{i:06}"), "bench")
}

/// CPU seconds (user + system) used so far by this process, and by its
/// waited-for children, from /proc/self/stat. On a machine shared with
/// other work, CPU time is steadier than wall time.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = 100.0; // USER_HZ on Linux
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0) / tick;
    // utime, stime, cutime, cstime are fields 14-17 (11-14 after the name).
    (get(11) + get(12), get(13) + get(14))
}

/// Seconds `sh -c script` takes with `input` on stdin.
fn time_shell(script: &str, input: &[u8]) -> f64 {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sh runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input)
        .expect("writing to the pipe");
    assert!(child.wait().expect("waiting").success(), "{script} failed");
    start.elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let keep = args.next().map(PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());

    let cat = Catalog::new(repoman::embedded::open(&dir, None)?);
    setup(
        &cat,
        &SetupRequest {
            dists: vec!["bench".into()],
            comps: vec!["main".into()],
            archs: vec!["amd64".into()],
            ..SetupRequest::default()
        },
    )?;
    let start = Instant::now();
    common::store(&cat, n, package)?;
    let load = start.elapsed().as_secs_f64();

    let cpu_before = cpu_seconds().0;
    let start = Instant::now();
    // When the first file is written: everything before is preparation
    // (reading the store, building, hashing, gzipping, spooling).
    let first_write = std::sync::OnceLock::new();
    publish(&cat, &Request::new(vec![], None), &|step| {
        if let repoman::publish::Step::Write { .. } = step {
            first_write.get_or_init(|| start.elapsed().as_secs_f64());
        }
    })?;
    let total = start.elapsed().as_secs_f64();
    let publish_cpu = cpu_seconds().0 - cpu_before;
    let prepare = first_write.get().copied().unwrap_or(total);

    let index = cat
        .blobs()
        .get("dists/bench/main/binary-amd64/Packages")?
        .expect("published");
    let mb = index.len() as f64 / 1e6;
    // The share of reading the store: the same query publish makes for
    // the big index (its Sources query finds nothing here).
    let start = Instant::now();
    let packages = cat.find(&Filter {
        dists: vec!["bench".into()],
        comps: vec!["main".into()],
        archs: vec!["amd64".into(), "all".into()],
        ..Filter::default()
    })?;
    let read = start.elapsed().as_secs_f64();
    assert_eq!(packages.len(), n);
    drop(packages);
    let start = Instant::now();
    let _ = compress_and_hash(&index);
    let ours = start.elapsed().as_secs_f64();
    let children_before = cpu_seconds().1;
    let gzip = time_shell("gzip -6 -c > /dev/null", &index);
    let sha = time_shell("sha256sum > /dev/null", &index);
    let floor = gzip + sha;
    let floor_cpu = cpu_seconds().1 - children_before;
    println!(
        "items={n} index_mb={mb:.1} load_s={load:.2} publish_s={total:.2} prepare_s={prepare:.2} \
         write_s={:.2} store_read_s={read:.2} publish_mb_s={:.1} hash_gzip_s={ours:.2} \
         gzip6_s={gzip:.2} sha256sum_s={sha:.2} floor_s={floor:.2} ratio={:.2} ratio_without_read={:.2} \
         publish_cpu_s={publish_cpu:.2} floor_cpu_s={floor_cpu:.2}",
        total - prepare,
        mb / total,
        total / floor,
        (total - read) / floor
    );
    Ok(())
}
