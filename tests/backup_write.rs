//! Writing backups: a backup the state changes under is detected and made
//! again (never stored torn), `-q` for cron, the exit status of a backup
//! that could not be written, and put options a directory bucket cannot
//! honour.

use std::time::Duration;

use repoman::backup::dump::{dump_in_ranges, retrying, StateChanged};
use repoman::backup::{stored, Style};
use repoman::catalog::{Catalog, Filter};
use repoman::model::{Attrs, Item};
use repoman::store::{Change, PutOptions};

mod common;
use common::faults::ChangingMeta;
use common::{original, text, Repo};

/// A repository holding the original's backup fixture.
fn repo() -> Repo {
    let r = Repo::new();
    r.ok(&[
        "restore",
        original("repoman-1.0.7-backup.json").to_str().unwrap(),
    ]);
    r
}

fn packages(cat: &Catalog) -> Vec<Item> {
    let mut items = cat
        .meta()
        .select_all(&Filter::default().to_select())
        .unwrap();
    items.sort_by(|a, b| (&a.attrs["name"], &a.name).cmp(&(&b.attrs["name"], &b.name)));
    items
}

/// The repository's catalog with `writer` changing the state before the
/// selects it picks.
fn changing(r: &Repo, writer: impl Fn(usize) -> Vec<Change> + Send + Sync + 'static) -> Catalog {
    let mut backend = repoman::embedded::open(&r.local(), None).unwrap();
    backend.meta = Box::new(ChangingMeta::new(backend.meta, writer));
    Catalog::new(backend)
}

/// Replaces one attribute of an item in place (its key stays: the change
/// `add --overwrite` makes), which no item count notices.
fn overwrite(item: &Item, attr: &str, value: &str) -> Change {
    let mut attrs = Attrs::new();
    attrs.insert(attr.into(), vec![value.into()]);
    Change::Put {
        item: item.name.clone(),
        attrs,
        remove: vec![],
    }
}

fn backup_of(cat: &Catalog) -> Vec<u8> {
    let mut out = Vec::new();
    repoman::backup::dump(
        cat,
        &Filter::default(),
        Style::Compact,
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    out
}

/// A backup of `cat` (one package name per range) that a writer changes
/// under it: the error, which says so. What it wrote is no document (its
/// closing brackets are missing).
fn torn_dump(cat: &Catalog) -> anyhow::Error {
    let mut torn = Vec::new();
    let e = dump_in_ranges(
        cat,
        &Filter::default(),
        Style::Compact,
        &mut torn,
        &mut |_| {},
        1,
    )
    .unwrap_err();
    assert!(e.downcast_ref::<StateChanged>().is_some(), "{e:#}");
    assert!(serde_json::from_slice::<serde_json::Value>(&torn).is_err());
    e
}

/// The same backup made again as the command makes it (retried while the
/// state changes): how many attempts it took, and the backup.
fn retried_dump(cat: &Catalog) -> (usize, Vec<u8>) {
    let mut attempts = 0;
    let mut out = Vec::new();
    retrying(3, Duration::ZERO, &mut || {
        attempts += 1;
        out.clear();
        dump_in_ranges(
            cat,
            &Filter::default(),
            Style::Compact,
            &mut out,
            &mut |_| {},
            1,
        )
    })
    .unwrap();
    (attempts, out)
}

#[test]
fn a_change_between_pages_is_detected_and_the_backup_made_again() {
    let r = repo();
    let plain = r.catalog_plain();
    let items = packages(&plain);
    assert!(items.len() >= 3, "the fixture has several items");
    let before = backup_of(&plain);
    // One range per package name; the writer changes the last package
    // while the first range is read (select 0 is the survey, 1 the first
    // range), in place: every name keeps its item count.
    let last = items.last().unwrap().clone();
    let cat = changing(&r, move |n| {
        if n == 1 {
            vec![overwrite(&last, "sha256", &"ab".repeat(32))]
        } else {
            vec![]
        }
    });
    torn_dump(&cat);

    // Made again, the backup is the state after the change, whole.
    let (attempts, out) = retried_dump(&cat);
    assert_eq!(attempts, 1, "the writer is done: the next try is clean");
    let after = backup_of(&plain);
    assert_ne!(before, after);
    assert_eq!(out, after);
}

#[test]
fn a_change_of_control_text_alone_is_detected_by_the_change_stamp() {
    let r = repo();
    let plain = r.catalog_plain();
    assert!(plain.meta().change_stamp().unwrap().is_some());
    let items = packages(&plain);
    let before = backup_of(&plain);
    // The first fragment of the last package's control text gets a field
    // more, while the first range is read: no name, count, digest or size
    // changes, only the text.
    let last = items.last().unwrap().clone();
    let fragment = last
        .attrs
        .keys()
        .filter(|k| k.starts_with(repoman::model::CONTROL_PREFIX))
        .min()
        .expect("a control text")
        .clone();
    let text = last.attrs[&fragment][0].replacen('\n', "\nX-Edited: yes\n", 1);
    let cat = changing(&r, move |n| {
        if n == 1 {
            vec![overwrite(&last, &fragment, &text)]
        } else {
            vec![]
        }
    });
    let e = torn_dump(&cat);
    assert!(e.to_string().contains("change stamp"), "{e:#}");
    // Made again, it is the state after the change.
    let (attempts, out) = retried_dump(&cat);
    assert_eq!(attempts, 1);
    let after = backup_of(&plain);
    assert_ne!(before, after);
    assert!(String::from_utf8_lossy(&after).contains("X-Edited: yes"));
    assert_eq!(out, after);
}

#[test]
fn a_stored_backup_retries_a_changed_state_and_stores_the_whole_new_one() {
    let r = repo();
    let plain = r.catalog_plain();
    let first = packages(&plain)[0].clone();
    // Changed during the first read of the items only.
    let cat = changing(&r, move |n| {
        if n == 1 {
            vec![overwrite(&first, "size", "4242")]
        } else {
            vec![]
        }
    });
    let (key, _) = stored::save(
        &cat,
        &Filter::default(),
        Style::Compact,
        &[],
        &PutOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let (gz, _) = stored::load(&plain, &key, None).unwrap();
    let mut stored_bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gz[..]),
        &mut stored_bytes,
    )
    .unwrap();
    assert_eq!(stored_bytes, backup_of(&plain));
    assert!(String::from_utf8_lossy(&stored_bytes).contains("\"4242\""));
    assert_eq!(stored::stored(&plain).unwrap().len(), 1);
}

#[test]
fn a_state_that_keeps_changing_fails_the_backup_and_stores_nothing() {
    let r = repo();
    let plain = r.catalog_plain();
    let first = packages(&plain)[0].clone();
    let cat = changing(&r, move |n| vec![overwrite(&first, "size", &n.to_string())]);
    let e = stored::save(
        &cat,
        &Filter::default(),
        Style::Compact,
        &[],
        &PutOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("the state changed while the backup was being read")
            && msg.contains("3 times in a row")
            && msg.contains("no backup was written"),
        "{msg}"
    );
    assert!(stored::stored(&plain).unwrap().is_empty());
    let written = std::fs::read_dir(r.bucket().join("backups/local")).map_or(0, |d| d.count());
    assert_eq!(written, 0, "nothing was stored");
}

#[test]
fn quiet_backups_print_nothing_and_a_failed_write_exits_non_zero() {
    let r = repo();
    let out = r.run(&["backup", "--to-bucket", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    let stored = std::fs::read_dir(r.bucket().join("backups/local"))
        .unwrap()
        .count();
    assert_eq!(stored, 2, "the backup and its sidecar");
    let out = r.run(&["backup", "--to-bucket", "--incremental", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    // Without -q the key is printed and a summary said.
    let key = r.ok(&["backup", "--to-bucket"]);
    assert!(key.starts_with("backups/local/"), "{key}");

    // The backups directory cannot be written: non-zero, one line.
    let broken = Repo::new();
    broken.ok(&[
        "restore",
        original("repoman-1.0.7-backup.json").to_str().unwrap(),
    ]);
    std::fs::create_dir_all(broken.bucket()).unwrap();
    std::fs::write(broken.bucket().join("backups"), b"not a directory").unwrap();
    for args in [
        &["backup", "--to-bucket", "-q"][..],
        &["backup", "--to-bucket"][..],
    ] {
        let (stdout, stderr) = broken.fail_out(args);
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("repoman-cli: error: "), "{stderr}");
    }
    // -o to a directory that does not exist: non-zero too.
    let missing = broken.path().join("nowhere/backup.json");
    broken.fail(&["backup", "-q", "-o", missing.to_str().unwrap()]);
}

#[test]
fn server_side_options_are_refused_on_a_directory_bucket_and_garbage_anywhere() {
    let r = repo();
    for (args, why) in [
        (
            &["backup", "--to-bucket", "--sse", "aws:kms"][..],
            "apply to an S3 bucket only",
        ),
        (
            &["backup", "--to-bucket", "--storage-class", "STANDARD_IA"][..],
            "apply to an S3 bucket only",
        ),
        (
            &["backup", "--to-bucket", "--sse", "rot13"][..],
            "backup-sse \"rot13\"",
        ),
        (
            &["backup", "--to-bucket", "--rate-limit", "fast"][..],
            "backup-rate-limit \"fast\"",
        ),
        (
            &["backup", "--to-bucket", "--storage-class", "COLD"][..],
            "backup-storage-class \"COLD\"",
        ),
        (
            &["backup", "--to-bucket", "--sse-kms-key-id", "k"][..],
            "needs backup-sse aws:kms",
        ),
        // Checked on every backup, stored or not.
        (
            &["backup", "--rate-limit", "2x"][..],
            "backup-rate-limit \"2x\"",
        ),
    ] {
        let e = r.fail(args);
        assert!(e.contains(why) && e.lines().count() == 1, "{args:?}: {e}");
    }
    assert!(!r.bucket().join("backups").exists(), "nothing was written");
    // A rate limit has nothing to cap on a directory: accepted.
    r.ok(&["backup", "--to-bucket", "-q", "--rate-limit", "1M"]);
    // Settings come from the environment too.
    let out = r
        .cmd()
        .args(["backup", "--to-bucket"])
        .env("REPOMAN_BACKUP_STORAGE_CLASS", "GLACIER")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("apply to an S3 bucket only"));
}

trait Plain {
    fn catalog_plain(&self) -> Catalog;
}

impl Plain for Repo {
    fn catalog_plain(&self) -> Catalog {
        Catalog::new(repoman::embedded::open(&self.local(), None).unwrap())
    }
}

/// `repoman-cli ARGS` run on a terminal (a pty from util-linux's
/// `script`); what the terminal showed, and whether it succeeded.
fn on_a_terminal(r: &Repo, args: &str) -> (bool, String) {
    let cmd = format!("{} --local-dir {} {args}", common::BIN, r.local().display());
    let mut c = std::process::Command::new("script");
    for (k, _) in std::env::vars() {
        if k.starts_with("REPOMAN_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    let out = c
        .args(["-qec", &cmd, "/dev/null"])
        .env("HOME", r.path())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_terminal_shows_progress_unless_quiet() {
    let r = repo();
    let (ok, shown) = on_a_terminal(&r, "backup --to-bucket");
    assert!(ok, "{shown}");
    assert!(
        shown.contains("backup [") && shown.contains("/27"),
        "{shown:?}"
    );
    assert!(shown.contains("backups/local/"), "{shown:?}");
    let (ok, shown) = on_a_terminal(&r, "backup --to-bucket -q");
    assert!(ok, "{shown}");
    assert_eq!(shown, "", "-q shows nothing, even on a terminal");
}

#[test]
fn a_configuration_changed_during_a_backup_is_detected_too() {
    let r = repo();
    let cat = changing(&r, |n| {
        if n == 1 {
            let mut attrs = Attrs::new();
            attrs.insert("origin".into(), vec!["Elsewhere".into()]);
            vec![Change::Put {
                item: repoman::model::META_ITEM.into(),
                attrs,
                remove: vec![],
            }]
        } else {
            vec![]
        }
    });
    let e = torn_dump(&cat);
    assert!(format!("{e:#}").contains("configuration"), "{e:#}");
}

#[test]
fn a_backup_of_many_overlapping_name_prefixes_is_not_mistaken_for_a_changed_state() {
    // More names than one query compares (read name by name, collected),
    // prefixes that match the same items more than once.
    let r = repo();
    let mut args = vec!["backup", "-w"];
    for p in [
        "t",
        "te",
        "tes",
        "test",
        "testd",
        "testde",
        "testdeb",
        "h",
        "ha",
        "has",
        "hash",
        "hashi",
        "hashicorp",
        "a",
        "ap",
        "apt",
        "apt-",
        "apt-t",
        "apt-tr",
        "x",
        "y",
        "z",
    ] {
        args.extend(["-p", p]);
    }
    let out = r.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), r.ok(&["backup"]));
}
