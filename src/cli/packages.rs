//! `add`, `query`, `rm` and `cp`.

use std::io::Write;

use anyhow::{bail, Result};

use super::args::{AddArgs, CpArgs, Format, QueryArgs, RmArgs};
use super::output::{confirmation_table, package_message, package_rows, render, HEADERS};
use super::Context;
use crate::backup::pyjson::{self, Style};
use crate::catalog::add::AddOptions;
use crate::catalog::copy::CopyRequest;
use crate::catalog::remove::RemoveRequest;
use crate::catalog::{add, copy, remove};

pub fn add(ctx: &Context, a: &AddArgs) -> Result<()> {
    let bar = ctx.ui.progress(a.files.len() as u64, "add");
    let opts = AddOptions {
        dists: a.dists.clone(),
        comps: a.comps.clone(),
        overwrite: a.overwrite,
        auto_purge: ctx.settings.auto_purge,
        verify_keyring: a
            .verify_signatures
            .clone()
            .or_else(|| ctx.settings.verify_keyring.clone()),
    };
    let report = add::add(&ctx.catalog, &a.files, &opts, &|msg| {
        if msg.starts_with("reading") {
            bar.inc(1);
        }
        bar.set_message(msg.to_string());
    })?;
    bar.finish_and_clear();
    for p in &report.added {
        eprintln!(
            "added {} {} to {}/{} ({})",
            p.name, p.version, p.distribution, p.component, p.architecture
        );
    }
    for p in &report.unchanged {
        eprintln!(
            "already present: {} {} in {}/{} ({})",
            p.name, p.version, p.distribution, p.component, p.architecture
        );
    }
    for p in &report.purged {
        eprintln!(
            "auto-purged {} {} from {}/{} ({})",
            p.name, p.version, p.distribution, p.component, p.architecture
        );
    }
    if a.publish {
        super::publish::publish_after(ctx, &a.dists)?;
    }
    Ok(())
}

pub fn query(ctx: &Context, a: &QueryArgs) -> Result<()> {
    let recent = if a.latest { Some(1) } else { a.recent };
    let filter = a.filter.to_filter(&a.dists, &a.comps);
    if matches!(a.format, Format::Json | Format::Jsonc | Format::Packages) {
        return query_streamed(ctx, a, &filter, recent);
    }
    // A table's columns are as wide as their widest cell: all rows first.
    let (packages, items) = ctx.catalog.query(&filter, a.query_hidden, recent)?;
    if packages.is_empty() {
        // The original's behaviour, relied on by scripts: a log line, exit 0.
        tracing::warn!("no packages found");
        return Ok(());
    }
    let text = render(a.format, &packages, &items);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// `query -f json|jsonc|packages`, printed one package name at a time as
/// the store yields them: memory does not grow with the result. The bytes
/// are those [`render`] makes of the whole result.
fn query_streamed(
    ctx: &Context,
    a: &QueryArgs,
    filter: &crate::catalog::Filter,
    recent: Option<usize>,
) -> Result<()> {
    let style = if a.format == Format::Json {
        Style::Indented
    } else {
        Style::Compact
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Items of names without a readable package are held until one with a
    // package comes: a listing of no package prints nothing at all.
    let mut held: Vec<crate::model::Item> = Vec::new();
    let mut started = false;
    ctx.catalog
        .query_each(filter, a.query_hidden, recent, &mut |packages, items| {
            if a.format == Format::Packages {
                started |= !packages.is_empty();
                for p in &packages {
                    out.write_all(package_message(p).as_bytes())?;
                }
                return Ok(());
            }
            held.extend(items);
            if !packages.is_empty() || started {
                json_names(&mut out, style, &mut held, &mut started)?;
            }
            Ok(())
        })?;
    if !started {
        tracing::warn!("no packages found");
        return Ok(());
    }
    if a.format != Format::Packages {
        json_names(&mut out, style, &mut held, &mut started)?;
        pyjson::close(&mut out, style, 0, b"}")?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes the entries of `items` (and empties it) into the top-level JSON
/// object, opening it first if `started` is not yet set.
fn json_names(
    out: &mut dyn Write,
    style: Style,
    items: &mut Vec<crate::model::Item>,
    started: &mut bool,
) -> std::io::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let tree = crate::catalog::tree::package_tree(items.iter());
    for (name, value) in tree.as_object().into_iter().flatten() {
        if !*started {
            out.write_all(b"{")?;
        }
        pyjson::separator(out, style, !*started, 1)?;
        pyjson::write_str(out, name)?;
        out.write_all(b": ")?;
        pyjson::write_value(out, value, style, 1)?;
        *started = true;
    }
    items.clear();
    Ok(())
}

pub fn rm(ctx: &Context, a: &RmArgs) -> Result<()> {
    let exclude_recent = if a.exclude_latest {
        Some(1)
    } else {
        a.exclude_recent
    };
    let plan = remove::plan(
        &ctx.catalog,
        &RemoveRequest {
            filter: a.filter.to_filter(&a.dists, &a.comps),
            hidden: a.rm_hidden,
            exclude_recent,
        },
    )?;
    if plan.targets.is_empty() {
        eprintln!("No packages to delete; try adjusting your filters.");
        return Ok(());
    }
    print!(
        "{}",
        confirmation_table(a.format, &HEADERS, &package_rows(&plan.targets))
    );
    eprintln!("Total packages to be deleted: {}", plan.targets.len());
    ctx.ui.confirm(&a.confirm, &plan.evil)?;
    remove::remove(&ctx.catalog, &plan.targets)?;
    eprintln!("deleted {} package(s)", plan.targets.len());
    if a.publish {
        let mut dists: Vec<String> = plan
            .targets
            .iter()
            .map(|p| p.distribution.clone())
            .collect();
        dists.sort();
        dists.dedup();
        super::publish::publish_after(ctx, &dists)?;
    }
    Ok(())
}

pub fn cp(ctx: &Context, a: &CpArgs) -> Result<()> {
    let req = CopyRequest {
        filter: a.filter.to_filter(&[], &[]),
        src_dist: a.src_distribution.clone(),
        src_comp: a.src_component.clone(),
        dst_dist: a.dst_distribution.clone(),
        dst_comp: a.dst_component.clone(),
        recent: if a.latest {
            Some(1)
        } else {
            a.recent.filter(|n| *n > 0)
        },
        promote: a.promote,
        overwrite: a.overwrite,
        auto_purge: ctx.settings.auto_purge,
    };
    let plan = copy::plan(&ctx.catalog, &req)?;
    if plan.actions.is_empty() {
        bail!("no copy actions were possible with that set of flags (nothing matched, or everything is already at the destination)");
    }
    let rows: Vec<Vec<String>> = plan
        .actions
        .iter()
        .map(|c| {
            vec![
                c.from.name.clone(),
                c.from.version.clone(),
                c.from.architecture.clone(),
                c.from.distribution.clone(),
                c.from.component.clone(),
                c.to.distribution.clone(),
                c.to.component.clone(),
            ]
        })
        .collect();
    eprintln!("We are about to do the following copy actions:");
    print!(
        "{}",
        confirmation_table(
            Format::Simple,
            &[
                "name",
                "version",
                "architecture",
                "src dist",
                "src comp",
                "dst dist",
                "dst comp"
            ],
            &rows
        )
    );
    ctx.ui.confirm(&a.confirm, &plan.evil)?;
    let copied = copy::copy(&ctx.catalog, &req, &plan)?;
    eprintln!("copied {} package(s)", copied.len());
    if a.publish {
        let dist = a
            .dst_distribution
            .clone()
            .unwrap_or_else(|| a.src_distribution.clone());
        super::publish::publish_after(ctx, &[dist])?;
    }
    Ok(())
}
