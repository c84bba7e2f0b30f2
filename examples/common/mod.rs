//! What the benchmark examples share: synthetic packages shaped like
//! Debian's, and the allocator repoman-cli uses (src/main.rs), so that
//! figures match it.

use repoman::catalog::Catalog;
use repoman::model::{Package, Payload};
use repoman::store::Change;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A control paragraph of about 1 KB, shaped like a real one.
pub fn control(name: &str, version: &str, arch: &str, i: usize) -> String {
    format!(
        "Package: {name}\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: Benchmark Maintainers <bench-{m}@lists.example.org>\n\
         Installed-Size: {size}\n\
         Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0), libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0), libstdc++6 (>= 12), libbench-common-{m} (= {version})\n\
         Recommends: bench-data-{m}, ca-certificates\n\
         Section: utils\n\
         Priority: optional\n\
         Homepage: https://bench.example.org/projects/{name}\n\
         Description: synthetic package {i} for repoman's benchmarks\n \
         This package exists only to give the benchmarks realistic\n \
         control text: a long description of several lines, dependencies with\n \
         version constraints, and the usual fields that Debian packages carry.\n \
         .\n \
         It is never installed; its size, {size} kB, is made up, and so is its\n \
         maintainer. The text is long enough that one stanza of the Packages\n \
         index takes about one kilobyte, as in the Debian archive itself.\n\
         Description-md5: {md5:032x}\n",
        m = i % 97,
        size = 100 + (i * 37) % 5000,
        md5 = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
    )
}

/// Synthetic package `i`, named `name`, in `dist`/main. One package in ten
/// is architecture-independent, as in Debian.
pub fn package(i: usize, name: String, dist: &str) -> Package {
    let version = format!("{}.{}-{}", 1 + i % 5, i % 13, 1 + i % 3);
    let arch = if i.is_multiple_of(10) { "all" } else { "amd64" };
    Package {
        control: control(&name, &version, arch, i),
        payload: Payload::Binary {
            filename: format!("{name}_{version}_{arch}.deb"),
            md5: format!("{:032x}", i as u128 * 7919),
            sha1: format!("{:040x}", i as u128 * 104_729),
            sha256: format!("{:064x}", i as u128 * 1_299_709),
            size: 10_000 + (i as u64 * 13) % 900_000,
        },
        name,
        version,
        distribution: dist.into(),
        component: "main".into(),
        architecture: arch.into(),
    }
}

/// Writes packages `0..n` (made by `package`) into the store, 5,000 per
/// batch.
pub fn store(cat: &Catalog, n: usize, package: impl Fn(usize) -> Package) -> anyhow::Result<()> {
    for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
        let changes: Vec<Change> = chunk
            .iter()
            .map(|&i| {
                let p = package(i);
                Change::Put {
                    item: p.key(),
                    attrs: p.to_attrs().expect("fits"),
                    remove: vec![],
                }
            })
            .collect();
        cat.meta().apply(&changes)?;
    }
    Ok(())
}
