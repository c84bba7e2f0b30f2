//! `backup`, `restore` and `verify`: flags in, one operation of
//! `crate::backup`, results out.

use std::io::{BufWriter, Write};

use super::args::{
    BackupArgs, BackupCommand, BackupFormat, ConfirmArgs, Format, RestoreArgs, VerifyArgs,
};
use super::output::render_table;
use super::Context;
use crate::backup::published::Recovered;
use crate::backup::restore::{self, RestorePlan};
use crate::backup::verify::{self, VerifyRequest};
use crate::backup::{self as bk, crypt, parse_backup, stored, Backup, RestoreRequest, Style};
use crate::store::PutOptions;
use anyhow::{bail, Context as _, Result};

pub fn run_backup(ctx: &Context, args: &BackupArgs) -> Result<()> {
    match &args.command {
        Some(BackupCommand::List) => return list_backups(ctx),
        Some(BackupCommand::Clean { keep, confirm }) => return clean_backups(ctx, *keep, confirm),
        None => {}
    }
    let f = args.filter.to_filter(&args.dists, &args.comps);
    if args.incremental && f != crate::catalog::Filter::default() {
        bail!("--incremental backs up the whole state: it takes no filters");
    }
    let style = match args.format {
        BackupFormat::Json => Style::Indented,
        BackupFormat::Jsonc => Style::Compact,
    };
    // Checked on every backup (a typo in a config file shows at once), used
    // by the stored ones.
    let opts = put_options(&ctx.settings)?;
    if args.to_bucket {
        ctx.catalog.blobs().check_put_options(&opts)?;
    }
    // -q: errors only (the exit status tells cron whether the backup was
    // completely written); else a progress bar on a terminal.
    let say = |line: String| {
        if !args.quiet {
            eprintln!("{line}");
        }
    };
    let bar = if args.quiet || !ctx.ui.stderr_tty {
        indicatif::ProgressBar::hidden()
    } else {
        ctx.ui
            .progress(bk::count_items(&ctx.catalog, &f)?, "backup")
    };
    // Once every item is read, a stored backup is compressed and uploaded
    // (maybe slowly, with a rate limit): say so rather than seem stuck.
    let total = bar.length().unwrap_or(0);
    let mut progress = |n: u64| {
        bar.set_position(n);
        if args.to_bucket && n >= total {
            bar.set_message("storing in the bucket");
        }
    };
    if let Some(path) = &args.output {
        let stats = bk::dump::dump_to_file(&ctx.catalog, &f, style, path, &mut progress)?;
        bar.finish_and_clear();
        say(format!(
            "backed up {} items of {} packages to {}",
            stats.items,
            stats.names,
            path.display()
        ));
    } else if args.incremental {
        let saved = stored::save_incremental(
            &ctx.catalog,
            &recipients(ctx)?,
            identities(ctx)?.as_ref(),
            &opts,
            &mut progress,
        )?;
        bar.finish_and_clear();
        if !args.quiet {
            println!("{}", saved.key);
        }
        say(format!(
            "stored an increment on {}: {} items of {} changed packages, {} removed, to {} in {}",
            saved.base,
            saved.contents.items,
            saved.contents.names,
            saved.contents.removed.unwrap_or(0),
            saved.key,
            ctx.catalog.blobs().describe()
        ));
    } else if args.to_bucket {
        let (key, stats) = stored::save(
            &ctx.catalog,
            &f,
            style,
            &recipients(ctx)?,
            &opts,
            &mut progress,
        )?;
        bar.finish_and_clear();
        if !args.quiet {
            println!("{key}");
        }
        say(format!(
            "backed up {} items of {} packages to {key} in {}",
            stats.items,
            stats.names,
            ctx.catalog.blobs().describe()
        ));
    } else {
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        bk::dump(&ctx.catalog, &f, style, &mut out, &mut progress)?;
        out.flush()?;
        bar.finish_and_clear();
    }
    Ok(())
}

/// How stored backups are put: server-side encryption, storage class and
/// upload rate from the settings, validated.
pub(super) fn put_options(settings: &super::args::GlobalArgs) -> Result<PutOptions> {
    PutOptions::parse(
        settings.backup_sse.as_deref(),
        settings.backup_sse_kms_key_id.as_deref(),
        settings.backup_storage_class.as_deref(),
        settings.backup_rate_limit.as_deref(),
    )
    .map_err(anyhow::Error::msg)
}

/// The age recipients stored backups are encrypted to.
fn recipients(ctx: &Context) -> Result<Vec<age::x25519::Recipient>> {
    crypt::recipients(&ctx.settings.backup_recipients)
}

/// The age identities that decrypt stored backups, when given.
fn identities(ctx: &Context) -> Result<Option<crypt::Identities>> {
    ctx.settings
        .backup_identity
        .as_ref()
        .map(|f| crypt::Identities::read(&super::config::expand_home(&f.to_string_lossy())))
        .transpose()
}

fn list_backups(ctx: &Context) -> Result<()> {
    let all = stored::stored(&ctx.catalog)?;
    if all.is_empty() {
        eprintln!("no backups stored under {}", stored::location(&ctx.catalog));
        return Ok(());
    }
    let name = |key: &str| key.rsplit('/').next().unwrap_or(key).to_string();
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|s| {
            let info = s.info.as_ref();
            vec![
                info.map_or_else(|| s.timestamp.clone(), |i| i.created.clone()),
                s.size.to_string(),
                info.map_or("?".to_string(), |i| i.items.to_string()),
                info.and_then(|i| i.removed)
                    .map_or("-".to_string(), |n| n.to_string()),
                s.kind().to_string(),
                s.base().map_or("-".to_string(), name),
                s.key.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        render_table(
            Format::Simple,
            &["date", "size", "items", "removed", "kind", "base", "key"],
            &rows
        )
    );
    Ok(())
}

fn clean_backups(ctx: &Context, keep: usize, confirm: &ConfirmArgs) -> Result<()> {
    let doomed = stored::cleanable(&ctx.catalog, keep)?;
    if doomed.is_empty() {
        eprintln!("no stored backups to delete: keeping the newest {keep}");
        return Ok(());
    }
    // Standard output lists what was deleted; the plan goes to stderr.
    for s in &doomed {
        eprintln!("to delete: {}", s.key);
    }
    eprintln!("Total backups to be deleted: {}", doomed.len());
    let evil = if keep == 0 {
        vec!["You are about to delete EVERY stored backup".to_string()]
    } else {
        vec![]
    };
    ctx.ui.confirm(confirm, &evil)?;
    let deleted = stored::remove(&ctx.catalog, &doomed)?;
    for k in &deleted {
        println!("deleted {k}");
    }
    eprintln!(
        "deleted {} backup(s), kept the newest {keep}",
        deleted.len()
    );
    Ok(())
}

/// The backup to restore and the name it is announced under.
fn read_source(ctx: &Context, args: &RestoreArgs) -> Result<(Backup, String, Option<Recovered>)> {
    if args.from_published {
        let (rec, name) = bk::recover_published(&ctx.catalog, &args.dists)?;
        return Ok((rec.backup.clone(), name, Some(rec)));
    }
    // Files and standard input are validated as they are read, never held
    // whole in memory.
    let (parsed, name) = if let Some(given) = &args.from_bucket {
        let (raw, name) = stored::load(&ctx.catalog, given, identities(ctx)?.as_ref())?;
        (parse_backup(&raw), name)
    } else {
        let file = args.file.as_ref().expect("clap requires a source");
        if file.as_os_str() == "-" {
            (
                bk::stream::parse_backup_from(std::io::stdin().lock()),
                "-".to_string(),
            )
        } else {
            let f =
                std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
            (bk::stream::parse_backup_from(f), file.display().to_string())
        }
    };
    match parsed {
        Ok(backup) => Ok((backup, name, None)),
        Err(problems) => {
            for line in problems.lines() {
                eprintln!("{name}: {line}");
            }
            bail!(
                "{name}: not a valid backup ({} problem(s), listed above); nothing was written",
                problems.0.len()
            )
        }
    }
}

pub fn run_restore(ctx: &Context, args: &RestoreArgs) -> Result<()> {
    let (backup, source, recovered) = read_source(ctx, args)?;
    if let Some(rec) = &recovered {
        report_recovery(rec);
    }
    for path in &backup.repacked {
        eprintln!("{path}: control text re-split into larger fragments to fit SimpleDB's limits");
    }
    let req = RestoreRequest {
        filter: args.filter.to_filter(&args.dists, &args.comps),
        prune: args.prune,
        source,
        // A recovery from dists/ carries the configuration only when the
        // store has none.
        allow_missing_config: args.allow_missing_config || args.from_published,
    };
    let plan = restore::plan(&ctx.catalog, &backup, &req)?;
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    let unrecovered = recovered.as_ref().map_or(0, |r| r.problems.len());
    if args.dry_run {
        print_plan(&plan);
        return finish_recovery(unrecovered);
    }
    if !plan.pruned.is_empty() {
        let rows: Vec<Vec<String>> = plan
            .pruned
            .iter()
            .map(|i| vec![bk::validate::describe(&i.attrs)])
            .collect();
        println!("{}", render_table(Format::Simple, &["to delete"], &rows));
        eprintln!("Total packages to be deleted: {}", plan.pruned.len());
        ctx.ui.confirm(&args.confirm, &plan.evil)?;
    }
    let bar = ctx.ui.progress(0, "restore");
    let report = restore::apply(&ctx.catalog, &plan, &req, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    eprintln!(
        "restored from {}: {} added, {} changed, {} unchanged, {} pruned; configuration {}",
        req.source,
        report.added,
        report.changed,
        report.unchanged,
        report.pruned,
        if report.config_changed {
            "restored"
        } else {
            "unchanged"
        }
    );
    finish_recovery(unrecovered)
}

fn report_recovery(rec: &Recovered) {
    eprintln!(
        "read {} published index(es): {} package item(s) recovered",
        rec.indices.len(),
        rec.backup.items.len()
    );
    for p in &rec.problems {
        eprintln!("not recovered: {p}");
    }
    if !rec.unreferenced.is_empty() {
        eprintln!(
            "{} pool file(s) are not referenced by any published index (added but never published, or removed): their items cannot be recovered from the indices:",
            rec.unreferenced.len()
        );
        for k in &rec.unreferenced {
            eprintln!("  {k}");
        }
    }
}

/// A recovery that could not read every stanza did not fully succeed.
fn finish_recovery(unrecovered: usize) -> Result<()> {
    if unrecovered > 0 {
        bail!("{unrecovered} published stanza(s) or file(s) could not be recovered (listed above)");
    }
    Ok(())
}

fn print_plan(plan: &RestorePlan) {
    let mut out = std::io::stdout().lock();
    let mut lines = Vec::new();
    for w in &plan.added {
        lines.push(format!("new: {}", w.describe));
    }
    for w in &plan.changed {
        lines.push(format!("changed: {}: {}", w.describe, w.changed.join(", ")));
    }
    for i in &plan.pruned {
        lines.push(format!("prune: {}", bk::validate::describe(&i.attrs)));
    }
    for d in &plan.config_diff {
        lines.push(format!("configuration: {d}"));
    }
    lines.push(format!(
        "{} new, {} changed, {} unchanged, {} to prune, configuration {} (dry run: nothing was written)",
        plan.added.len(),
        plan.changed.len(),
        plan.unchanged,
        plan.pruned.len(),
        if plan.meta.is_some() {
            "changed"
        } else {
            "unchanged"
        }
    ));
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
}

pub fn run_verify(ctx: &Context, args: &VerifyArgs) -> Result<()> {
    let bar = ctx.ui.progress(0, "verify");
    let report = verify::verify(
        &ctx.catalog,
        &VerifyRequest {
            fast: args.fast,
            dists: args.dists.clone(),
            keys: verify::public_keys(
                ctx.settings
                    .gpg_key_file
                    .as_ref()
                    .map(|f| super::config::expand_home(&f.to_string_lossy()))
                    .as_deref(),
                &ctx.settings.gpg_signer,
                ctx.settings
                    .gpg_home
                    .as_ref()
                    .map(|h| super::config::expand_home(&h.to_string_lossy()))
                    .as_deref(),
            )?,
        },
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
    bar.finish_and_clear();
    {
        let mut out = std::io::stdout().lock();
        for p in &report.problems {
            writeln!(out, "{p}")?;
        }
    }
    eprintln!(
        "verified {} items, {} pool files ({}), {} indices: {} problem(s)",
        report.items,
        report.files,
        if args.fast {
            "sizes only"
        } else {
            "sizes and sha256"
        },
        report.indices,
        report.problems.len()
    );
    if !report.problems.is_empty() {
        bail!(
            "verify found {} problem(s) (listed on standard output)",
            report.problems.len()
        );
    }
    Ok(())
}
