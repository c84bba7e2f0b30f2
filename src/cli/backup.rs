//! `backup`, `restore` and `verify`: flags in, one operation of
//! `crate::backup`, results out.

use std::io::{BufWriter, Write};

use super::args::{
    BackupArgs, BackupCommand, BackupDiffArgs, BackupFormat, ConfirmArgs, Format, RestoreArgs,
    VerifyArgs,
};
use super::output::render_table;
use super::Context;
use crate::backup::published::Recovered;
use crate::backup::restore::{self, RestorePlan};
use crate::backup::stream::ScanError;
use crate::backup::verify::{self, VerifyRequest};
use crate::backup::{self as bk, check, crypt, diff, stored, Input, RestoreRequest, Style};
use crate::store::PutOptions;
use anyhow::{bail, Context as _, Result};

pub fn run_backup(ctx: &Context, args: &BackupArgs) -> Result<()> {
    match &args.command {
        Some(BackupCommand::List) => return list_backups(ctx),
        Some(BackupCommand::Clean { keep, confirm }) => return clean_backups(ctx, *keep, confirm),
        Some(BackupCommand::Diff(d)) => return diff_backups(ctx, d),
        Some(BackupCommand::Verify { name }) => return verify_backup(ctx, name),
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

/// `backup diff A B`: a table (or the JSON shape of `diff::Diff`) on
/// standard output, the counts on standard error.
fn diff_backups(ctx: &Context, args: &BackupDiffArgs) -> Result<()> {
    let d = diff::between(&ctx.catalog, &args.a, &args.b, identities(ctx)?.as_ref())?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&d)?),
        Format::Jsonc => println!("{}", serde_json::to_string(&d)?),
        Format::Packages => bail!(
            "backup diff: -f packages is not a diff format (use a table format, json or jsonc)"
        ),
        table => {
            let mut rows: Vec<Vec<String>> = d
                .packages
                .iter()
                .map(|p| {
                    let what = if p.attributes.is_empty() {
                        String::new()
                    } else {
                        format!("{} ({})", p.aspects.join(", "), p.attributes.join(", "))
                    };
                    vec![
                        p.change.as_str().to_string(),
                        p.name.clone(),
                        p.version.clone(),
                        format!("{}/{}/{}", p.distribution, p.component, p.architecture),
                        what,
                    ]
                })
                .collect();
            rows.extend(d.configuration.iter().map(|c| {
                let line = c.line();
                let values = line.split_once(": ").map_or("", |x| x.1).to_string();
                vec![
                    "configuration".into(),
                    c.attribute.clone(),
                    String::new(),
                    String::new(),
                    values,
                ]
            }));
            if !rows.is_empty() {
                print!(
                    "{}",
                    render_table(
                        table,
                        &["change", "package", "version", "where", "what"],
                        &rows
                    )
                );
            }
        }
    }
    eprintln!(
        "{} -> {}: {} added, {} removed, {} changed, {} unchanged; {} configuration attribute(s) changed",
        d.a,
        d.b,
        d.counts.added,
        d.counts.removed,
        d.counts.changed,
        d.counts.unchanged,
        d.configuration.len()
    );
    Ok(())
}

/// `backup verify [NAME|latest]`: the key on standard output when the
/// backup would restore; an error naming it and the problem otherwise.
fn verify_backup(ctx: &Context, name: &str) -> Result<()> {
    let v = check::verify(&ctx.catalog, name, identities(ctx)?.as_ref())?;
    println!("{}", v.key);
    eprintln!(
        "{}: verified: {} stored object(s) (full backup{}) match their recorded size and sha256, {} items valid",
        v.key,
        v.chain.len(),
        match v.chain.len() {
            1 => String::new(),
            n => format!(" and {} increment(s)", n - 1),
        },
        v.items
    );
    Ok(())
}

/// The backup to restore, the name it is announced under, and what a
/// recovery from the published indices found.
fn read_source(ctx: &Context, args: &RestoreArgs) -> Result<(Input, String, Option<Recovered>)> {
    if args.from_published {
        let (mut rec, name) = bk::recover_published(&ctx.catalog, &args.dists)?;
        report_recovery(&rec);
        let backup = std::mem::take(&mut rec.backup);
        return Ok((Input::Items(backup), name, Some(rec)));
    }
    // A file is read twice (validated, then replayed); what cannot be read
    // twice is spooled to a temporary file. Neither is ever held whole in
    // memory.
    if let Some(given) = &args.from_bucket {
        let (input, name) = check::open(&ctx.catalog, given, identities(ctx)?.as_ref())?;
        return Ok((input, name, None));
    }
    let file = args.file.as_ref().expect("clap requires a source");
    if file.as_os_str() == "-" {
        return Ok((
            Input::spool(std::io::stdin().lock())?,
            "-".to_string(),
            None,
        ));
    }
    let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    Ok((Input::File(f), file.display().to_string(), None))
}

/// The first pass over a backup, its problems listed on standard error.
fn check_backup(input: &mut Input, req: &RestoreRequest) -> Result<restore::Checked> {
    match restore::check(input, req) {
        Ok(c) => Ok(c),
        Err(ScanError::Invalid(problems)) => {
            let name = &req.source;
            for line in problems.lines() {
                eprintln!("{name}: {line}");
            }
            bail!(
                "{name}: not a valid backup ({} problem(s), listed above); nothing was written",
                problems.0.len()
            )
        }
        Err(ScanError::Stopped(e)) => Err(e),
    }
}

pub fn run_restore(ctx: &Context, args: &RestoreArgs) -> Result<()> {
    let (mut input, source, recovered) = read_source(ctx, args)?;
    let req = RestoreRequest {
        filter: args.filter.to_filter(&args.dists, &args.comps),
        prune: args.prune,
        source,
        // A recovery from dists/ carries the configuration only when the
        // store has none.
        allow_missing_config: args.allow_missing_config || args.from_published,
    };
    let backup = check_backup(&mut input, &req)?;
    for path in &backup.repacked {
        eprintln!("{path}: control text re-split into larger fragments to fit SimpleDB's limits");
    }
    let plan = restore::plan(&ctx.catalog, &backup, &req)?;
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    let unrecovered = recovered.as_ref().map_or(0, |r| r.problems.len());
    if args.dry_run {
        dry_run(ctx, &mut input, &backup, &plan, &req)?;
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
    let report = restore::apply(
        &ctx.catalog,
        &mut input,
        &backup,
        &plan,
        &req,
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    )?;
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

/// `restore --dry-run`: what the restore would change, one line each as
/// the replay finds it (new and changed items with the attributes and
/// aspects that differ, then pruned items and configuration changes),
/// then the counts. Nothing is written.
fn dry_run(
    ctx: &Context,
    input: &mut Input,
    backup: &restore::Checked,
    plan: &RestorePlan,
    req: &RestoreRequest,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (mut added, mut changed, mut unchanged) = (0, 0, 0);
    restore::replay(&ctx.catalog, input, backup, plan, req, &mut |c| {
        for w in &c.added {
            writeln!(out, "new: {}", w.describe)?;
        }
        for w in &c.changed {
            writeln!(
                out,
                "changed: {}: {} ({})",
                w.describe,
                w.changed.join(", "),
                diff::aspects(&w.changed).join(", ")
            )?;
        }
        added += c.added.len();
        changed += c.changed.len();
        unchanged += c.unchanged;
        Ok(())
    })?;
    for i in &plan.pruned {
        writeln!(out, "prune: {}", bk::validate::describe(&i.attrs))?;
    }
    for d in &plan.config_diff {
        writeln!(out, "configuration: {}", d.line())?;
    }
    writeln!(
        out,
        "{added} new, {changed} changed, {unchanged} unchanged, {} to prune, configuration {} (dry run: nothing was written)",
        plan.pruned.len(),
        if plan.meta.is_some() {
            "changed"
        } else {
            "unchanged"
        }
    )?;
    Ok(())
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
