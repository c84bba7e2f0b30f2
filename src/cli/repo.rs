//! `setup`, `checkup` and `repo ...`.

use anyhow::{bail, Result};

use super::args::{CheckupArgs, ConfirmArgs, DistValueArgs, RepoCommand, SetupArgs};
use super::Context;
use crate::catalog::configure::{self, ListKind, SetupRequest, Single};
use crate::publish::freshness::{self, set as set_release_setting, Field};
use crate::store::BucketSetup;

pub fn setup(ctx: &Context, a: &SetupArgs) -> Result<()> {
    if let Some(notice) = super::backend::default_notice(&ctx.settings) {
        eprintln!("repoman-cli: {notice}");
    }
    let acl = if a.enable_website {
        "public-read"
    } else {
        a.s3_acl.as_str()
    };
    configure::setup(
        &ctx.catalog,
        &SetupRequest {
            dists: a.dists.clone(),
            comps: a.comps.clone(),
            archs: a.archs.clone(),
            topic: a.sns_topic.clone(),
            origin: a.origin.clone(),
            label: a.label.clone(),
            bucket: BucketSetup {
                acl: Some(acl.to_string()),
                region: a.s3_region.clone(),
                enable_website: a.enable_website,
            },
        },
    )?;
    show_config(ctx)
}

pub fn checkup(ctx: &Context, a: &CheckupArgs) -> Result<()> {
    let results = configure::checkup(&ctx.catalog, a.write_test)?;
    let mut failed = 0;
    for (ok, msg) in &results {
        println!("{} {msg}", if *ok { "ok  " } else { "FAIL" });
        failed += usize::from(!ok);
    }
    if failed > 0 {
        bail!("checkup found {failed} problem(s)");
    }
    Ok(())
}

pub fn run(ctx: &Context, cmd: RepoCommand) -> Result<()> {
    match cmd {
        RepoCommand::AddDistribution(a) => add(ctx, ListKind::Dists, &a.names, &a.confirm),
        RepoCommand::AddComponent(a) => add(ctx, ListKind::Comps, &a.names, &a.confirm),
        RepoCommand::AddArchitecture(a) => add(ctx, ListKind::Archs, &a.names, &a.confirm),
        RepoCommand::RmDistribution(a) => rm(ctx, ListKind::Dists, &a.names, &a.confirm),
        RepoCommand::RmComponent(a) => rm(ctx, ListKind::Comps, &a.names, &a.confirm),
        RepoCommand::RmArchitecture(a) => rm(ctx, ListKind::Archs, &a.names, &a.confirm),
        RepoCommand::AddTopic(a) => single(ctx, Single::Topic, Some(&a.value), &a.confirm),
        RepoCommand::RmTopic(a) => single(ctx, Single::Topic, None, &a.confirm),
        RepoCommand::AddOrigin(a) => single(ctx, Single::Origin, Some(&a.value), &a.confirm),
        RepoCommand::AddLabel(a) => single(ctx, Single::Label, Some(&a.value), &a.confirm),
        RepoCommand::SetValidFor(a) => release_setting(ctx, Field::ValidFor, &a),
        RepoCommand::SetSuite(a) => release_setting(ctx, Field::Suite, &a),
        RepoCommand::SetNotAutomatic(a) => release_setting(ctx, Field::NotAutomatic, &a),
        RepoCommand::SetButAutomaticUpgrades(a) => {
            release_setting(ctx, Field::ButAutomaticUpgrades, &a)
        }
        RepoCommand::ShowConfig => show_config(ctx),
    }
}

fn release_setting(ctx: &Context, field: Field, a: &DistValueArgs) -> Result<()> {
    let attr = field.attr(&a.dist);
    match &a.value {
        Some(v) => eprintln!("Setting {attr} to {v:?} (Release files of the next publish)"),
        None => eprintln!("Removing {attr} (Release files of the next publish)"),
    }
    ctx.ui.confirm(&a.confirm, &[])?;
    set_release_setting(&ctx.catalog, field, &a.dist, a.value.as_deref())?;
    show_config(ctx)
}

fn add(ctx: &Context, kind: ListKind, names: &[String], confirm: &ConfirmArgs) -> Result<()> {
    let new = configure::plan_add(&ctx.catalog.config()?, kind, names)?;
    if new.is_empty() {
        eprintln!(
            "nothing to do: every {} named is already configured",
            kind.noun()
        );
        return show_config(ctx);
    }
    eprintln!("Adding {}(s): {}", kind.noun(), new.join(", "));
    ctx.ui.confirm(confirm, &[])?;
    configure::add_values(&ctx.catalog, kind, &new)?;
    show_config(ctx)
}

fn rm(ctx: &Context, kind: ListKind, names: &[String], confirm: &ConfirmArgs) -> Result<()> {
    let (gone, every) = configure::plan_rm(&ctx.catalog.config()?, kind, names)?;
    eprintln!("Removing {}(s): {}", kind.noun(), gone.join(", "));
    let evil = if every {
        vec![format!(
            "You are about to delete EVERY {} this repo serves",
            kind.noun()
        )]
    } else {
        vec![]
    };
    ctx.ui.confirm(confirm, &evil)?;
    configure::rm_values(&ctx.catalog, kind, &gone)?;
    eprintln!(
        "Removing a {0} hides its packages from queries, cp, rm and publish; their items and files stay (use -H to see them).",
        kind.noun()
    );
    show_config(ctx)
}

fn single(ctx: &Context, which: Single, value: Option<&str>, confirm: &ConfirmArgs) -> Result<()> {
    match (which, value) {
        (Single::Topic, Some(v)) => eprintln!("Setting SNS topic {v:?} for announcements"),
        (Single::Topic, None) => eprintln!("Disabling SNS announcements"),
        (Single::Origin, Some(v)) => eprintln!("Setting repository origin {v:?}"),
        (Single::Label, Some(v)) => eprintln!("Setting repository label {v:?}"),
        _ => {}
    }
    ctx.ui.confirm(confirm, &[])?;
    configure::set_single(&ctx.catalog, which, value)?;
    show_config(ctx)
}

pub fn show_config(ctx: &Context) -> Result<()> {
    let c = ctx.catalog.config()?;
    println!("Current repo configuration:");
    println!("\tState store: {}", ctx.catalog.meta().describe());
    println!("\tBucket: {}", ctx.catalog.blobs().describe());
    println!(
        "\tSNS Notification topic: {}",
        c.topic_name.as_deref().unwrap_or("---None configured---")
    );
    println!("\tDistributions: {}", c.dists.join(", "));
    println!("\tComponents: {}", c.comps.join(", "));
    println!("\tArchitectures: {}", c.archs().join(", "));
    println!("\tOrigin: {}", c.origin());
    println!("\tLabel: {}", c.label());
    let attrs = ctx.catalog.config_attrs()?.unwrap_or_default();
    for d in &c.dists {
        let o = match freshness::options(&attrs, d) {
            Ok(o) => o,
            Err(e) => {
                println!("\tRelease of {d}: {e}");
                continue;
            }
        };
        let mut parts = Vec::new();
        if let Some(v) = &o.valid_for {
            parts.push(format!("valid for {}s", v.num_seconds()));
        }
        if let Some(s) = &o.suite {
            parts.push(format!("suite {s}"));
        }
        if o.not_automatic {
            parts.push("NotAutomatic".into());
        }
        if o.but_automatic_upgrades {
            parts.push("ButAutomaticUpgrades".into());
        }
        if !parts.is_empty() {
            println!("\tRelease of {d}: {}", parts.join(", "));
        }
    }
    Ok(())
}
