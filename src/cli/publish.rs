//! `publish`: writes the dists/ tree.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::{PublishArgs, PublishFormat};
use super::config::expand_home;
use super::Context;
use crate::publish::clients::Trust;
use crate::publish::sign::{ask_pinentry, GpgSigner, KeyFileSigner, Passphrase, Secret, Signer};
use crate::publish::{publish, sources_list_lines, Published, Request, Step};

pub fn run(ctx: &Context, args: &PublishArgs) -> Result<()> {
    let signer = signer(ctx)?;
    let bar = ctx.ui.progress(0, "publish");
    let progress = |step: Step| match step {
        Step::Build { dist, path } => bar.set_message(format!("{dist}: building {path}")),
        Step::Sign { dist } => bar.set_message(format!("{dist}: signing Release")),
        Step::Write { dist, done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("{dist}: writing"));
        }
    };
    let mut req = Request::new(args.dists.clone(), signer.as_deref());
    req.refresh = args.refresh;
    req.force = args.force;
    if let Some(r) = &ctx.settings.by_hash_retention {
        req.retention = crate::publish::release::parse_duration(r)
            .map_err(|e| anyhow::anyhow!("by-hash-retention: {e}"))?;
    }
    let result = publish(&ctx.catalog, &req, &progress);
    bar.finish_and_clear();
    let published = result?;
    let url = ctx.catalog.blobs().apt_url();
    if args.format == PublishFormat::Json {
        let out: Vec<serde_json::Value> = published.iter().map(as_json).collect();
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    for p in &published {
        eprintln!("{}", summary(p));
    }
    if published.is_empty() {
        return Ok(());
    }
    match &signer {
        // Signed: the deb822 stanzas with the key in Signed-By, which is
        // all a client needs.
        Some(_) => {
            let keys = super::client::public_keys(ctx, true)?.unwrap_or_default();
            let keys = String::from_utf8_lossy(&keys);
            let dists: Vec<String> = published.iter().map(|p| p.dist.clone()).collect();
            print!(
                "{}",
                super::client::stanzas(ctx, &dists, &[], None, Trust::Key(&keys))?
            );
            eprintln!(
                "apt clients: save the stanzas above as /etc/apt/sources.list.d/repoman.sources (`repoman-cli sources` prints them again)"
            );
        }
        None => {
            for p in &published {
                for line in sources_list_lines(&url, p, None) {
                    println!("{line}");
                }
            }
            eprintln!(
                "the Release files are not signed (no --gpg-signer or --gpg-key-file): apt reads them only with [trusted=yes]"
            );
        }
    }
    Ok(())
}

/// `--publish` on add, cp and rm: publishes `dists` after the change.
pub fn publish_after(ctx: &Context, dists: &[String]) -> Result<()> {
    run(
        ctx,
        &PublishArgs {
            dists: dists.to_vec(),
            refresh: false,
            force: false,
            format: PublishFormat::Text,
        },
    )
}

/// One line on what the publish of a distribution wrote.
fn summary(p: &Published) -> String {
    if !p.changed {
        return format!(
            "{}: nothing changed since its last publish, nothing written",
            p.dist
        );
    }
    let indices = match p.rewritten.len() {
        0 => "no index rewritten".to_string(),
        n => format!(
            "{n} {} rewritten: {}",
            if n == 1 { "index" } else { "indices" },
            p.rewritten.join(", ")
        ),
    };
    format!(
        "published {} ({} files written{}; {indices}{})",
        p.dist,
        p.files,
        if p.signed { ", signed" } else { "" },
        match p.pruned {
            0 => String::new(),
            n => format!("; {n} old by-hash files deleted"),
        }
    )
}

/// What `--format json` prints for a distribution.
fn as_json(p: &Published) -> serde_json::Value {
    serde_json::json!({
        "distribution": p.dist,
        "changed": p.changed,
        "signed": p.signed,
        "files_written": p.files,
        "indices_rewritten": p.rewritten,
        "by_hash_deleted": p.pruned,
    })
}

/// The signer the settings ask for: a key file (rPGP), gpg keys, or none.
/// Keys are checked here, before anything is built or written.
fn signer(ctx: &Context) -> Result<Option<Box<dyn Signer>>> {
    let s = &ctx.settings;
    let passphrases: Vec<Secret> = s.gpg_passphrase.iter().map(Secret::new).collect();
    if let Some(file) = &s.gpg_key_file {
        let file = expand_home(&file.to_string_lossy());
        return Ok(Some(Box::new(KeyFileSigner::open(
            &file,
            &passphrases,
            &s.gpg_signer,
        )?)));
    }
    if s.gpg_signer.is_empty() {
        if !passphrases.is_empty() {
            bail!("--gpg-passphrase given without --gpg-signer or --gpg-key-file");
        }
        return Ok(None);
    }
    if passphrases.len() > s.gpg_signer.len() {
        bail!(
            "{} --gpg-passphrase values for {} --gpg-signer keys: give one per signer, in the same order",
            passphrases.len(),
            s.gpg_signer.len()
        );
    }
    let tty = if ctx.ui.stdin_tty {
        std::env::var("GPG_TTY").ok().or_else(|| {
            std::fs::read_link("/proc/self/fd/0")
                .ok()
                .map(|p| p.display().to_string())
        })
    } else {
        None
    };
    let gpg = GpgSigner {
        program: PathBuf::from("gpg"),
        home: s
            .gpg_home
            .as_ref()
            .map(|h| expand_home(&h.to_string_lossy())),
        signers: Vec::new(),
        tty: tty.clone(),
    };
    gpg.check_keys_of(&s.gpg_signer)?;
    let mut signers = Vec::new();
    for (i, id) in s.gpg_signer.iter().enumerate() {
        let pass = match (passphrases.get(i), &s.gpg_pinentry_path) {
            (Some(p), _) => Passphrase::Given(p.clone()),
            (None, Some(pinentry)) if ctx.ui.stdin_tty => {
                Passphrase::Given(ask_pinentry(pinentry, id, tty.as_deref())?)
            }
            (None, _) if ctx.ui.stdin_tty => Passphrase::Agent,
            (None, _) => Passphrase::CacheOnly,
        };
        signers.push((id.clone(), pass));
    }
    Ok(Some(Box::new(GpgSigner { signers, ..gpg })))
}
