//! The SQLite schema and connection settings, and the names of the
//! attributes with values too long for the value index.

use std::collections::HashSet;

use rusqlite::{params, Connection, TransactionBehavior};

use super::*;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS domains(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS items(
    id INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    UNIQUE(domain_id, name)
);
CREATE TABLE IF NOT EXISTS attrs(
    item_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    domain_id INTEGER NOT NULL,
    PRIMARY KEY(item_id, name, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attrs_by_short_value ON attrs(domain_id, name, value)
    WHERE length(value) <= 200;
CREATE TABLE IF NOT EXISTS long_names(
    domain_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY(domain_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stamps(
    domain TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
DROP TRIGGER IF EXISTS attrs_insert_long;
DROP TRIGGER IF EXISTS attrs_update_long;
";

/// Bumps the change stamp of the domain with id `?1` (see
/// [`Engine::change_stamp`]). Keyed by the domain's name, and kept when the
/// domain is deleted, so a domain deleted and created again never counts
/// from the start. Its epoch, random, is drawn when the row is made: a
/// stamp copied out of another file (a record of one, say) never equals
/// this file's.
pub(super) const BUMP_STAMP: &str = "INSERT INTO stamps(domain, epoch, version) \
     SELECT name, lower(hex(randomblob(8))), 1 FROM domains WHERE id = ?1 \
     ON CONFLICT(domain) DO UPDATE SET version = version + 1";

/// Bumps the change stamp of the domain named `?1`.
pub(super) const BUMP_STAMP_BY_NAME: &str = "INSERT INTO stamps(domain, epoch, version) \
     VALUES (?1, lower(hex(randomblob(8))), 1) \
     ON CONFLICT(domain) DO UPDATE SET version = version + 1";

/// SQLite's page cache for the connection, in KiB (negative in the pragma):
/// what bounds the memory a read of the whole store takes (two connections
/// read it), whatever the store's size.
pub(super) const CACHE_KIB: i64 = -16384;

/// How much of the file SQLite reads through a memory map: none. Every
/// mapped page a read touches stays resident in the process, so reading a
/// large store whole (publish, query, backup) took as much memory as the
/// file; through `pread` it takes the page cache above (the copies cost
/// a few percent of such a read).
pub(super) const MMAP_BYTES: i64 = 0;

/// Creates the tables, indexes and triggers that do not exist yet, in one
/// transaction. A file made before `long_names` existed gets it filled from
/// its values, in the same transaction, so no reader ever sees it partial.
pub(super) fn create_schema(conn: &Connection) -> SdbResult<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let had_long_names: bool = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'long_names'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    tx.execute_batch(SCHEMA)?;
    if !had_long_names {
        tx.execute(
            &format!(
                "INSERT OR IGNORE INTO long_names(domain_id, name) \
                 SELECT DISTINCT domain_id, name FROM attrs WHERE length(value) > {INDEXED_VALUE_CHARS}"
            ),
            [],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The attribute names of `domain` that have had a value longer than
/// [`INDEXED_VALUE_CHARS`] (none when the domain does not exist).
pub(super) fn long_names(c: &Connection, domain: &str) -> SdbResult<HashSet<String>> {
    let mut st = c.prepare_cached(
        "SELECT l.name FROM long_names l JOIN domains d ON d.id = l.domain_id WHERE d.name = ?1",
    )?;
    let names = st
        .query_map(params![domain], |r| r.get(0))?
        .collect::<Result<HashSet<String>, _>>()?;
    Ok(names)
}
