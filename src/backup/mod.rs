//! Backup, restore and verify.
//!
//! * [`dump`](mod@dump): the state as JSON in the original's structure, streamed name
//!   by name, byte-compatible with the original's `json.dumps`.
//! * [`validate`]: a backup read and checked as a whole before anything is
//!   written; every problem reported with its JSON path.
//! * [`stream`]: the reading itself, one item at a time, never the whole
//!   document in memory.
//! * [`restore`]: two passes over the input: validate and keep what the plan
//!   needs (keys, configuration, chunk digests), then replay chunk by chunk
//!   against the store's current items; deletions, the `meta` item last, one
//!   announcement.
//! * [`diff`](mod@diff): what differs between two states (items and
//!   configuration), for `backup diff` and restore's plan.
//! * [`published`]: a backup rebuilt from the published dists/ indices and
//!   the pool, for when the state is lost and no backup exists.
//! * [`verify`]: the bucket checked against the state.
//! * [`stored`]: backups kept in the bucket under `backups/`.
//! * [`check`]: stored backups read as a restore reads them (downloaded
//!   and checked against their sidecars, decrypted, chains replayed), and
//!   `backup verify`.

pub mod chain;
pub mod check;
pub mod crypt;
pub mod diff;
pub mod dump;
pub mod jvalue;
pub mod published;
pub mod pyjson;
pub mod restore;
pub mod stored;
pub mod stream;
pub mod validate;
pub mod verify;

pub use dump::{count_items, dump, DumpStats};
pub use pyjson::Style;
pub use restore::{Input, RestorePlan, RestoreReport, RestoreRequest};
pub use validate::{parse_backup, Backup, BackupItem, Problem, Problems};

/// `restore --from-published`: a backup rebuilt from the catalog's published
/// indices and pool, and the name it is announced under. The configuration
/// is rebuilt too when the store has none.
pub fn recover_published(
    cat: &crate::catalog::Catalog,
    dists: &[String],
) -> anyhow::Result<(published::Recovered, String)> {
    let meta = cat.meta();
    let meta_missing = !meta.domain_exists()? || meta.get(crate::model::META_ITEM)?.is_none();
    let rec = published::recover(cat.blobs(), dists, meta_missing)?;
    Ok((rec, format!("published:{}", cat.blobs().describe())))
}
