//! Times reading items out of the embedded store (SQLite), the way publish,
//! backup and sdb-local read them, on N synthetic package items of about
//! 1 KB of control text each (15 attributes), spread over three
//! distributions.
//!
//!     cargo run --release --no-default-features --example bench_select -- 60000 [DIR]
//!
//!     ... -- 60000 DIR all,paged_all_by_name     (only the queries named)
//!
//! With DIR, the store is kept there and reused by the next run of the same
//! N (loading takes longer than reading). Prints one line per query:
//! `query=... items=... seconds=... items_per_s=...`, then the peak memory.

use std::path::PathBuf;
use std::time::Instant;

use repoman::catalog::{Catalog, Filter};
use repoman::model::Package;
use repoman::select::{CmpOp, Expr, Operand, Order, Output, Select};
use sdb::engine::{Engine, PageLimit};

mod common;

const DISTS: [&str; 3] = ["stable", "testing", "unstable"];

/// Package `i`: names repeat over the three distributions, so one name has
/// three items, as a package kept in stable, testing and unstable does.
fn package(i: usize) -> Package {
    let name = format!("bench-{:06}", i / DISTS.len());
    common::package(i, name, DISTS[i % DISTS.len()])
}

fn load(cat: &Catalog, n: usize) -> anyhow::Result<()> {
    cat.meta().create_domain()?;
    common::store(cat, n, package)?;
    Ok(())
}

/// Peak resident memory of this process, in MB (VmHWM).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) this process has used, from
/// /proc/self/stat: on a machine shared with other work, steadier than wall
/// time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the name), in
    // USER_HZ (100 on Linux).
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// Wall and CPU time since it was made.
struct Timer(Instant, f64);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now(), cpu_seconds())
    }

    fn report(&self, query: &str, items: usize) {
        let seconds = self.0.elapsed().as_secs_f64();
        println!(
            "query={query} items={items} seconds={seconds:.3} cpu_s={:.2} items_per_s={:.0}",
            cpu_seconds() - self.1,
            items as f64 / seconds.max(1e-9)
        );
    }
}

/// Streams a catalog filter's items (as publish and `query` do), counting
/// them and their attribute values without keeping them.
fn stream(cat: &Catalog, query: &str, filter: &Filter) -> anyhow::Result<usize> {
    let timer = Timer::start();
    let (mut items, mut values) = (0, 0);
    cat.meta().select(&filter.to_select(), &mut |item| {
        items += 1;
        values += item.attrs.values().map(Vec::len).sum::<usize>();
        Ok(())
    })?;
    timer.report(query, items);
    assert!(items == 0 || values >= items, "items come with attributes");
    Ok(items)
}

/// Follows every page of a Select with SimpleDB's page limits, as a
/// SimpleDB client of sdb-local does.
fn paged(engine: &Engine, domain: &str, query_name: &str, q: &Select) -> anyhow::Result<usize> {
    let timer = Timer::start();
    let (mut items, mut pages) = (0, 0);
    let mut token: Option<String> = None;
    loop {
        let page = engine.select(domain, q, true, token.as_deref(), PageLimit::SIMPLEDB)?;
        items += page.items.len();
        pages += 1;
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    timer.report(query_name, items);
    println!("query={query_name} pages={pages}");
    Ok(items)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(60_000);
    let keep = args.next().map(PathBuf::from);
    let only: Option<Vec<String>> = args
        .next()
        .map(|a| a.split(',').map(str::to_string).collect());
    let wanted = |q: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == q));
    let tmp = tempfile::tempdir()?;
    let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    let cat = Catalog::new(repoman::embedded::open(&dir, None)?);
    let have = if cat.meta().domain_exists()? {
        let mut q = Filter::default().to_select();
        q.output = Output::Count;
        let mut c = 0usize;
        cat.meta().select(&q, &mut |i| {
            c = i.attrs["Count"][0].parse().unwrap_or(0);
            Ok(())
        })?;
        c
    } else {
        0
    };
    if have != n {
        anyhow::ensure!(have == 0, "{} holds {have} items, not {n}", dir.display());
        let start = Instant::now();
        load(&cat, n)?;
        println!(
            "load items={n} seconds={:.2}",
            start.elapsed().as_secs_f64()
        );
    }

    if wanted("all") {
        assert_eq!(stream(&cat, "all", &Filter::default())?, n);
    }
    if wanted("one_dist") {
        let one_dist = Filter {
            dists: vec!["testing".into()],
            ..Filter::default()
        };
        stream(&cat, "one_dist", &one_dist)?;
    }
    if wanted("publish_index") {
        // The query publish makes for one Packages index.
        let publish_like = Filter {
            dists: vec!["testing".into()],
            comps: vec!["main".into()],
            archs: vec!["amd64".into(), "all".into()],
            ..Filter::default()
        };
        stream(&cat, "publish_index", &publish_like)?;
    }
    // Publish's filter matching every item, streamed, then as
    // Catalog::find (which publish calls) also parses and sorts them.
    let publish_all = Filter {
        dists: DISTS.iter().map(|d| d.to_string()).collect(),
        comps: vec!["main".into()],
        archs: vec!["amd64".into(), "all".into()],
        ..Filter::default()
    };
    if wanted("publish_all") {
        stream(&cat, "publish_all", &publish_all)?;
    }
    if wanted("one_name") {
        let one_name = Filter {
            names: vec![format!("bench-{:06}", n / DISTS.len() / 2)],
            ..Filter::default()
        };
        assert_eq!(stream(&cat, "one_name", &one_name)?, DISTS.len().min(n));
    }
    if wanted("name_range") {
        // One of backup's range queries: about 5,000 items by package name.
        let lo = n / DISTS.len() / 3;
        let name = |i: usize| format!("bench-{i:06}");
        let mut q = Filter::default().to_select();
        let range = Expr::Cmp(Operand::Attr("name".into()), CmpOp::Ge, name(lo)).and(Expr::Cmp(
            Operand::Attr("name".into()),
            CmpOp::Le,
            name(lo + 5000 / DISTS.len() - 1),
        ));
        q.filter = q.filter.map(|f| f.and(range));
        let timer = Timer::start();
        let mut count = 0;
        cat.meta().select(&q, &mut |_| {
            count += 1;
            Ok(())
        })?;
        timer.report("name_range", count);
    }
    if wanted("names_only") {
        // Backup's first pass: only the `name` of every item.
        let mut names = Filter::default().to_select();
        names.output = Output::Attrs(vec!["name".into()]);
        let timer = Timer::start();
        let mut count = 0;
        cat.meta().select(&names, &mut |_| {
            count += 1;
            Ok(())
        })?;
        timer.report("names_only", count);
    }

    // sdb-local: SimpleDB pages (2500 items, 1 MB), unordered and ordered.
    let meta = repoman::embedded::meta::SqliteMeta::open(&dir.join("repoman.sqlite"), "repoman")?;
    let name = Operand::Attr("name".into());
    let mut q = Select::all_where(Expr::IsNotNull(name.clone()));
    q.limit = Some(2500);
    if wanted("paged_all") {
        paged(meta.engine(), "repoman", "paged_all", &q)?;
    }
    q.order_by = Some((name, Order::Asc));
    if wanted("paged_all_by_name") {
        paged(meta.engine(), "repoman", "paged_all_by_name", &q)?;
    }
    // Last: freeing 60,000 packages disturbs the timing of what follows.
    if wanted("find_all") {
        let timer = Timer::start();
        let found = cat.find(&publish_all)?.len();
        timer.report("find_all", found);
    }
    println!("peak_rss_mb={:.0}", peak_rss_mb());
    Ok(())
}
