//! What apt clients need: `serve` (the directory bucket over HTTP),
//! `key export` (the public signing keys) and `sources` (deb822 stanzas).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use super::args::{KeyCommand, ServeArgs, SourcesArgs};
use super::config::expand_home;
use super::Context;
use crate::embedded::bucket::DirBucket;
use crate::model::IMPLIED_ARCHS;
use crate::publish::clients::{sources_stanza, Suite, Trust};
use crate::publish::sign::{public_keys_in_file, GpgSigner};
use crate::serve::{serve, ServeOptions};

/// `serve`: blocks, answering requests until the process is stopped.
pub fn run_serve(ctx: &Context, args: &ServeArgs) -> Result<()> {
    let blobs = &ctx.catalog.blobs();
    let Some(root) = blobs.local_root() else {
        bail!(
            "serve needs a directory bucket; {} is served by its own endpoint",
            blobs.describe()
        );
    };
    let opts = ServeOptions {
        listings: args.listings,
        threads: args.threads,
    };
    let serving = serve(DirBucket::new(root), &args.listen, &opts)
        .with_context(|| format!("serving {}", root.display()))?;
    eprintln!(
        "serving {} read-only at http://{}/ (stop with Ctrl-C); clients: repoman-cli sources --url http://HOST:{}/",
        root.display(),
        serving.addr(),
        serving.addr().port()
    );
    serving.wait();
    Ok(())
}

/// The public keys that sign, armored or binary; `None` when the settings
/// name no signing key.
pub fn public_keys(ctx: &Context, armor: bool) -> Result<Option<Vec<u8>>> {
    let s = &ctx.settings;
    if let Some(file) = &s.gpg_key_file {
        let file = expand_home(&file.to_string_lossy());
        return Ok(Some(public_keys_in_file(&file, &s.gpg_signer, armor)?));
    }
    if s.gpg_signer.is_empty() {
        return Ok(None);
    }
    let gpg = GpgSigner {
        program: PathBuf::from("gpg"),
        home: s
            .gpg_home
            .as_ref()
            .map(|h| expand_home(&h.to_string_lossy())),
        signers: Vec::new(),
        tty: None,
    };
    Ok(Some(gpg.export_public(&s.gpg_signer, armor)?))
}

pub fn run_key(ctx: &Context, command: &KeyCommand) -> Result<()> {
    let KeyCommand::Export(args) = command;
    let Some(keys) = public_keys(ctx, !args.binary)? else {
        bail!("no signing key is configured (set --gpg-signer or --gpg-key-file)");
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &keys).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().write_all(&keys)?,
    }
    Ok(())
}

pub fn run_sources(ctx: &Context, args: &SourcesArgs) -> Result<()> {
    let key = match &args.key_path {
        Some(_) => None,
        None => public_keys(ctx, true)?.map(|k| String::from_utf8_lossy(&k).into_owned()),
    };
    let trust = match (&args.key_path, &key) {
        (Some(p), _) => Trust::KeyPath(p),
        (None, Some(k)) => Trust::Key(k),
        (None, None) => Trust::Unsigned,
    };
    print!(
        "{}",
        stanzas(ctx, &args.dists, &args.archs, args.url.as_deref(), trust)?
    );
    Ok(())
}

/// The deb822 stanzas of `dists` (every configured one when empty), joined
/// by blank lines.
pub fn stanzas(
    ctx: &Context,
    dists: &[String],
    archs: &[String],
    url: Option<&str>,
    trust: Trust,
) -> Result<String> {
    let config = ctx.catalog.config()?;
    for d in dists {
        if !config.dists.contains(d) {
            bail!("distribution {d} is not served by this repository");
        }
    }
    let served: Vec<String> = config
        .stored_archs
        .iter()
        .filter(|a| !IMPLIED_ARCHS.contains(&a.as_str()))
        .cloned()
        .collect();
    for a in archs {
        if !served.contains(a) {
            bail!("architecture {a} is not served by this repository");
        }
    }
    let archs = if archs.is_empty() { &served[..] } else { archs };
    let url = url
        .map(str::to_string)
        .unwrap_or_else(|| ctx.catalog.blobs().apt_url());
    let chosen = if dists.is_empty() {
        &config.dists[..]
    } else {
        dists
    };
    let out: Vec<String> = chosen
        .iter()
        .map(|dist| {
            sources_stanza(
                &Suite {
                    url: &url,
                    dist,
                    comps: &config.comps,
                    archs,
                    with_sources: true,
                },
                trust,
            )
        })
        .collect();
    Ok(out.join("\n"))
}
