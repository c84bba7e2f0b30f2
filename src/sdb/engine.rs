//! SimpleDB's semantics on one SQLite file: domains of items with
//! multi-valued string attributes, SimpleDB's write operations and limits,
//! and Select evaluated by compiling the typed [`Select`] to SQL with bound
//! parameters. The embedded metadata store and `sdb-local` both use it, so
//! they cannot drift apart.
//!
//! Schema: `domains(id, name)`, `items(id, domain_id, name)` and
//! `attrs(item_id, name, value, domain_id)` clustered on
//! `(item_id, name, value)` (an item's attributes are read in one range) with
//! a second index on `(domain_id, name, value)` of the short values, for
//! lookups by value, and `long_names(domain_id, name)`: the attribute names
//! that have ever had a value too long for that index (noted by the writes
//! here; a file from before it existed gets it filled when opened). An item
//! exists while it has at least one attribute, as in SimpleDB.
//!
//! Select semantics (SimpleDB's):
//! * Comparisons are lexicographic on UTF-8 bytes (SQLite's BINARY collation).
//! * Within one predicate, every attribute name stands for ONE of its values:
//!   `a > '1' and a < '5'` needs a single value of `a` in that range, and an
//!   item lacking `a` is not considered (SQL NULL). An item matches when some
//!   choice of values satisfies the predicate.
//! * `every(a) op v`: `a` has a value and all its values satisfy `op v`.
//! * `p intersection q`: the item matches `p` and matches `q`, each with its
//!   own choice of values (so `k = 'x' intersection k = 'y'` finds items
//!   holding both values).
//! * `like`: `%` matches any run of characters, `\` makes the next character
//!   literal, and matching is case-sensitive (translated to SQLite GLOB).
//! * Without `order by`, items come in item-name order (byte order).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::error::{SdbError, SdbResult};
use crate::model::{Attrs, Item, MAX_PAIRS_PER_ITEM, MAX_VALUE_BYTES};
use crate::select::{render, CmpOp, Expr, Operand, Order, Output, Select};
use crate::store::Change;

/// Longest item or attribute name, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Most items in one BatchPutAttributes or BatchDeleteAttributes call.
pub const MAX_BATCH_ITEMS: usize = 25;
/// Most attributes submitted for one item in one call.
pub const MAX_SUBMITTED_ATTRIBUTES: usize = 256;
/// Items per Select page when the query has no `limit`.
pub const DEFAULT_SELECT_LIMIT: u32 = 100;
/// The largest `limit` SimpleDB accepts.
pub const MAX_SELECT_LIMIT: u32 = 2500;
/// SimpleDB truncates a Select response at 1 MB.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Most domains ListDomains returns per page.
pub const MAX_LIST_DOMAINS: usize = 100;

/// How large one Select page may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// Items per page when the query has no `limit`.
    pub default_items: u32,
    /// The largest `limit` accepted.
    pub max_items: u32,
    /// A page stops before its estimated response size passes this.
    pub max_bytes: usize,
}

impl PageLimit {
    /// SimpleDB's own limits.
    pub const SIMPLEDB: PageLimit = PageLimit {
        default_items: DEFAULT_SELECT_LIMIT,
        max_items: MAX_SELECT_LIMIT,
        max_bytes: MAX_RESPONSE_BYTES,
    };

    /// For callers that visit every page anyway: pages of 2500 items when
    /// the query has no `limit`, and no 1 MB cut.
    pub const STREAM: PageLimit = PageLimit {
        default_items: MAX_SELECT_LIMIT,
        max_items: MAX_SELECT_LIMIT,
        // No response to fit; this only bounds the memory of one page.
        max_bytes: 16 * MAX_RESPONSE_BYTES,
    };
}

impl Default for PageLimit {
    fn default() -> PageLimit {
        PageLimit::SIMPLEDB
    }
}

/// One page of a Select.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next_token: Option<String>,
}

/// DomainMetadata's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DomainMetadata {
    pub item_count: u64,
    pub item_names_size_bytes: u64,
    /// Distinct attribute names.
    pub attribute_name_count: u64,
    pub attribute_names_size_bytes: u64,
    /// Name-value pairs.
    pub attribute_value_count: u64,
    pub attribute_values_size_bytes: u64,
    /// Seconds since the Unix epoch when the figures were computed.
    pub timestamp: i64,
}

/// One attribute of PutAttributes / BatchPutAttributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutAttr {
    pub name: String,
    pub value: String,
    /// Replace every existing value of `name` (with all of this call's
    /// values of `name`).
    pub replace: bool,
}

/// One attribute of DeleteAttributes / BatchDeleteAttributes: a whole
/// attribute when `value` is `None`, else one name-value pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAttr {
    pub name: String,
    pub value: Option<String>,
}

/// A conditional write's `Expected` (SimpleDB's UpdateCondition).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expected {
    pub name: String,
    pub value: Option<String>,
    pub exists: Option<bool>,
}

/// Items with multi-valued string attributes in named domains, on SQLite.
pub struct Engine {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// The rest of recent paged Selects, so a page continues where the
    /// last one stopped instead of running the query again. Locked only
    /// while `conn` is.
    pages: Mutex<Vec<Remainder>>,
    /// A second, read-only connection to the file, opened on first use:
    /// [`Engine::select_each`] reads every other chunk of a long result on
    /// it, on its own thread, so a large read uses two cores.
    reader: Mutex<Option<Connection>>,
}

const SCHEMA: &str = "
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
DROP TRIGGER IF EXISTS attrs_insert_long;
DROP TRIGGER IF EXISTS attrs_update_long;
";

/// SQLite's page cache for the connection, in KiB (negative in the pragma).
const CACHE_KIB: i64 = -65536;

/// How much of the file SQLite reads through a memory map rather than
/// `pread` into its own page cache: the most SQLite allows on Linux
/// (2 GB). Reading a large store whole (publish, backup) then costs no
/// system call and no copy per page, whether or not the file fits the page
/// cache, and the pages live once, in the kernel's cache.
const MMAP_BYTES: i64 = 0x7fff_0000;

impl Engine {
    /// Opens (creating if needed) the SQLite file at `path`, in WAL mode so
    /// readers do not block the writer.
    pub fn open(path: &Path) -> SdbResult<Engine> {
        let opened = Connection::open(path)
            .map_err(SdbError::from)
            .and_then(|conn| {
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                Engine::setup(conn, Some(path.to_path_buf()))
            });
        opened.map_err(|e| SdbError {
            message: format!("cannot open {}: {}", path.display(), e.message),
            ..e
        })
    }

    /// A private database in memory (sdb-local's default, and tests).
    pub fn open_in_memory() -> SdbResult<Engine> {
        Engine::setup(Connection::open_in_memory()?, None)
    }

    fn setup(conn: Connection, path: Option<PathBuf>) -> SdbResult<Engine> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // Bulk loads touch index pages all over.
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        conn.set_prepared_statement_cache_capacity(64);
        create_schema(&conn)?;
        Ok(Engine {
            conn: Mutex::new(conn),
            path,
            pages: Mutex::new(Vec::new()),
            reader: Mutex::new(None),
        })
    }

    /// The read-only second connection, taken out of its slot (opened if
    /// needed) for the caller's thread; `None` for a database in memory
    /// (private to its one connection) or if the file cannot be opened
    /// again (then everything is read on the first). Give it back with
    /// [`Engine::return_reader`].
    fn take_reader(&self) -> Option<Connection> {
        let path = self.path.as_ref()?;
        let idle = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take();
        if idle.is_some() {
            return idle;
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let c = Connection::open_with_flags(path, flags).ok()?;
        c.busy_timeout(Duration::from_secs(10)).ok()?;
        c.pragma_update(None, "cache_size", CACHE_KIB).ok()?;
        c.pragma_update(None, "mmap_size", MMAP_BYTES).ok()?;
        Some(c)
    }

    fn return_reader(&self, c: Connection) {
        let mut slot = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(c);
        }
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one IMMEDIATE transaction (the write lock is taken up
    /// front, so concurrent writers wait instead of failing to upgrade).
    fn write<T>(&self, f: impl FnOnce(&Connection) -> SdbResult<T>) -> SdbResult<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Creates a domain; succeeds if it exists already (as SimpleDB does).
    pub fn create_domain(&self, domain: &str) -> SdbResult<()> {
        validate_domain_name(domain)?;
        self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO domains(name) VALUES (?1)",
                params![domain],
            )?;
            Ok(())
        })
    }

    /// Deletes a domain and everything in it; succeeds if it does not exist.
    pub fn delete_domain(&self, domain: &str) -> SdbResult<()> {
        self.write(|c| {
            if let Some(id) = find_domain(c, domain)? {
                c.execute("DELETE FROM attrs WHERE domain_id = ?1", params![id])?;
                c.execute("DELETE FROM long_names WHERE domain_id = ?1", params![id])?;
                c.execute("DELETE FROM items WHERE domain_id = ?1", params![id])?;
                c.execute("DELETE FROM domains WHERE id = ?1", params![id])?;
            }
            Ok(())
        })
    }

    /// Every domain, in name order.
    pub fn list_domains(&self) -> SdbResult<Vec<String>> {
        let conn = self.lock();
        let mut st = conn.prepare_cached("SELECT name FROM domains ORDER BY name")?;
        let names = st
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }

    pub fn domain_exists(&self, domain: &str) -> SdbResult<bool> {
        Ok(find_domain(&self.lock(), domain)?.is_some())
    }

    pub fn domain_metadata(&self, domain: &str) -> SdbResult<DomainMetadata> {
        let conn = self.lock();
        let d = domain_id(&conn, domain)?;
        let (item_count, item_names_size_bytes) = conn.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(name AS BLOB))), 0) FROM items WHERE domain_id = ?1",
            params![d],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        let (attribute_name_count, attribute_names_size_bytes) = conn.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(name AS BLOB))), 0)
             FROM (SELECT DISTINCT name FROM attrs WHERE domain_id = ?1)",
            params![d],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        let (attribute_value_count, attribute_values_size_bytes) = conn.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(value AS BLOB))), 0) FROM attrs WHERE domain_id = ?1",
            params![d],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        Ok(DomainMetadata {
            item_count: item_count as u64,
            item_names_size_bytes: item_names_size_bytes as u64,
            attribute_name_count: attribute_name_count as u64,
            attribute_names_size_bytes: attribute_names_size_bytes as u64,
            attribute_value_count: attribute_value_count as u64,
            attribute_values_size_bytes: attribute_values_size_bytes as u64,
            timestamp: chrono::Utc::now().timestamp(),
        })
    }

    /// An item's attributes (only those named in `attribute_names` unless it
    /// is empty), or `None` when there are none.
    pub fn get(
        &self,
        domain: &str,
        item: &str,
        attribute_names: &[String],
    ) -> SdbResult<Option<Attrs>> {
        let conn = self.lock();
        let d = domain_id(&conn, domain)?;
        let Some(id) = find_item(&conn, d, item)? else {
            return Ok(None);
        };
        let mut attrs = read_attrs(&conn, id)?;
        if !attribute_names.is_empty() {
            attrs.retain(|k, _| attribute_names.iter().any(|n| n == k));
        }
        Ok((!attrs.is_empty()).then_some(attrs))
    }

    /// Applies the store's changes in order, in one transaction: all of
    /// them or none.
    pub fn apply(&self, domain: &str, changes: &[Change]) -> SdbResult<()> {
        self.write(|c| {
            let d = domain_id(c, domain)?;
            let mut w = Writer::new(c, d)?;
            for change in changes {
                w.change(change)?;
            }
            w.finish()
        })
    }

    /// PutAttributes: adds the attributes (replacing every existing value of
    /// a name that has a `replace` attribute), after checking `expected`.
    pub fn put_attributes(
        &self,
        domain: &str,
        item: &str,
        attrs: &[PutAttr],
        expected: Option<&Expected>,
    ) -> SdbResult<()> {
        validate_put(item, attrs)?;
        self.write(|c| {
            let d = domain_id(c, domain)?;
            let mut w = Writer::new(c, d)?;
            if let Some(exp) = expected {
                check_expected(c, find_item(c, d, item)?, exp)?;
            }
            w.put(item, attrs)?;
            w.finish()
        })
    }

    /// BatchPutAttributes: up to 25 items, each as PutAttributes without
    /// a condition, in one transaction.
    pub fn batch_put(&self, domain: &str, items: &[(String, Vec<PutAttr>)]) -> SdbResult<()> {
        validate_batch(items.iter().map(|(i, _)| i.as_str()))?;
        for (item, attrs) in items {
            validate_put(item, attrs)?;
        }
        self.write(|c| {
            let mut w = Writer::new(c, domain_id(c, domain)?)?;
            for (item, attrs) in items {
                w.put(item, attrs)?;
            }
            w.finish()
        })
    }

    /// DeleteAttributes: the whole item when `attrs` is empty, else the named
    /// attributes or name-value pairs, after checking `expected`. Deleting
    /// what is not there succeeds.
    pub fn delete_attributes(
        &self,
        domain: &str,
        item: &str,
        attrs: &[DeleteAttr],
        expected: Option<&Expected>,
    ) -> SdbResult<()> {
        validate_delete(item, attrs)?;
        self.write(|c| {
            let d = domain_id(c, domain)?;
            let mut w = Writer::new(c, d)?;
            if let Some(exp) = expected {
                check_expected(c, find_item(c, d, item)?, exp)?;
            }
            w.delete(item, attrs)?;
            w.finish()
        })
    }

    /// BatchDeleteAttributes: up to 25 items, each as DeleteAttributes
    /// without a condition, in one transaction.
    pub fn batch_delete(&self, domain: &str, items: &[(String, Vec<DeleteAttr>)]) -> SdbResult<()> {
        validate_batch(items.iter().map(|(i, _)| i.as_str()))?;
        for (item, attrs) in items {
            validate_delete(item, attrs)?;
        }
        self.write(|c| {
            let mut w = Writer::new(c, domain_id(c, domain)?)?;
            for (item, attrs) in items {
                w.delete(item, attrs)?;
            }
            w.finish()
        })
    }

    /// One page of a Select. `next_token` continues an earlier page of the
    /// same query. `consistent` is accepted for SimpleDB's sake: reads here
    /// are always consistent. `Output::Count` gives one item `Domain` with
    /// attribute `Count` (the count of this page's stretch of items).
    pub fn select(
        &self,
        domain: &str,
        query: &Select,
        consistent: bool,
        next_token: Option<&str>,
        page: PageLimit,
    ) -> SdbResult<Page> {
        let _ = consistent;
        let conn = self.lock();
        let plan = Plan::new(domain, query, page, &long_names(&conn, domain)?)?;
        let after = next_token.map(|t| plan.decode_token(t)).transpose()?;
        let d = domain_id(&conn, domain)?;
        let Some(after) = after else {
            // A first page runs the query for one page only: many Selects
            // want no more.
            return plan.run(&conn, d, None);
        };
        // A later page: the rest of the result, kept from the previous page
        // when nothing was written since, else the query again from the
        // token's position (all of the rest, kept for the pages after).
        let version = data_version(&conn)?;
        let cached = self.take_remainder(d, &plan.hash, version, &after);
        let mut rest = match cached {
            Some(rest) => rest,
            None => Remainder {
                domain: d,
                hash: plan.hash.clone(),
                version,
                after: (after.k.clone(), after.n.clone()),
                matches: plan.matches(&conn, d, Some(&after), None)?.into(),
            },
        };
        let page = plan.page_of(&conn, &mut rest.matches)?;
        if let (Some(last), false) = (page.last.clone(), rest.matches.is_empty()) {
            rest.after = last;
            self.keep_remainder(rest);
        }
        Ok(page.page)
    }

    /// The kept rest of the Select `hash` on domain `domain` that continues
    /// after `after`, if nothing was written since it was kept.
    fn take_remainder(
        &self,
        domain: i64,
        hash: &str,
        version: (u64, i64),
        after: &Cursor,
    ) -> Option<Remainder> {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        // Anything written since makes every kept result stale.
        pages.retain(|r| r.version == version);
        let at = pages.iter().position(|r| {
            r.domain == domain && r.hash == hash && r.after.0 == after.k && r.after.1 == after.n
        })?;
        Some(pages.remove(at))
    }

    fn keep_remainder(&self, rest: Remainder) {
        if rest.matches.len() > MAX_KEPT_MATCHES {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.len() >= KEPT_RESULTS {
            pages.remove(0);
        }
        pages.push(rest);
    }

    /// Runs a Select to the end, handing each item to `each` (the database
    /// is not locked while `each` runs). The query's `limit` only sets a
    /// page size, so it does not cap the results; `Output::Count` yields one
    /// item with the total.
    ///
    /// Unlike following [`Engine::select`]'s pages, this runs the query once:
    /// one statement lists the matching items in order (ids and names only),
    /// then their attributes are read [`STREAM_CHUNK`] items per statement,
    /// each chunk in one pass over the attribute table's key; on a file,
    /// every other chunk is read on a second connection by a helper thread,
    /// so reading and the caller's work on the items share two cores. So
    /// the cost grows linearly with the result, and memory holds the list of
    /// matches plus a few chunks of items. Items deleted while the stream
    /// runs are left out; it is not a snapshot.
    pub fn select_each(
        &self,
        domain: &str,
        query: &Select,
        each: &mut dyn FnMut(Item) -> SdbResult<()>,
    ) -> SdbResult<()> {
        let plan = {
            let conn = self.lock();
            Plan::new(
                domain,
                query,
                PageLimit::STREAM,
                &long_names(&conn, domain)?,
            )?
        };
        if query.output == Output::Count {
            let n = {
                let conn = self.lock();
                plan.count(&conn, domain_id(&conn, domain)?)?
            };
            return each(count_item(n));
        }
        let found = {
            let conn = self.lock();
            plan.matches(&conn, domain_id(&conn, domain)?, None, None)?
        };
        let mut chunks = Vec::new();
        let mut rest = found.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(STREAM_CHUNK).collect::<Vec<Match>>());
        }
        let read_on_first = |chunk: &[Match]| {
            let conn = self.lock();
            plan.read_attrs(&conn, chunk.iter().map(|m| m.id))
        };
        let reader = if chunks.len() > 1 {
            self.take_reader()
        } else {
            None
        };
        let Some(second) = reader else {
            for chunk in chunks {
                let attrs = read_on_first(&chunk)?;
                hand_out(&plan, chunk, attrs, each)?;
            }
            return Ok(());
        };
        // Odd chunks are read on the second connection by a helper thread,
        // at most two ahead; even ones here, between handing out the others.
        let (result, second) = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let plan = &plan;
            let odd: Vec<Vec<i64>> = chunks
                .iter()
                .skip(1)
                .step_by(2)
                .map(|c| c.iter().map(|m| m.id).collect())
                .collect();
            let helper = s.spawn(move || {
                for ids in odd {
                    let read = plan.read_attrs(&second, ids.into_iter());
                    let failed = read.is_err();
                    if tx.send(read).is_err() || failed {
                        break; // nobody listens any more, or this was the last word
                    }
                }
                second
            });
            let hand_all = || -> SdbResult<()> {
                for (i, chunk) in chunks.into_iter().enumerate() {
                    let attrs = if i % 2 == 0 {
                        read_on_first(&chunk)?
                    } else {
                        rx.recv()
                            .map_err(|_| SdbError::internal("the reading thread stopped"))??
                    };
                    hand_out(plan, chunk, attrs, each)?;
                }
                Ok(())
            };
            let result = hand_all();
            drop(rx); // unblocks the helper if we stopped early
            (
                result,
                helper.join().expect("the reading thread does not panic"),
            )
        });
        self.return_reader(second);
        result
    }
}

/// Hands the items of one chunk to `each`, in order, with their attributes.
fn hand_out(
    plan: &Plan,
    chunk: Vec<Match>,
    mut attrs: HashMap<i64, Attrs>,
    each: &mut dyn FnMut(Item) -> SdbResult<()>,
) -> SdbResult<()> {
    for m in chunk {
        let item_attrs = attrs.remove(&m.id).unwrap_or_default();
        if item_attrs.is_empty() && plan.query.output == Output::All {
            // Deleted since the matches were listed.
            continue;
        }
        each(Item {
            name: m.name,
            attrs: item_attrs,
        })?;
    }
    Ok(())
}

/// Items whose attributes [`Engine::select_each`] reads with one statement.
pub const STREAM_CHUNK: usize = 1000;

fn count_item(n: u64) -> Item {
    Item {
        name: "Domain".to_string(),
        attrs: Attrs::from([("Count".to_string(), vec![n.to_string()])]),
    }
}

/// Creates the tables, indexes and triggers that do not exist yet, in one
/// transaction. A file made before `long_names` existed gets it filled from
/// its values, in the same transaction, so no reader ever sees it partial.
fn create_schema(conn: &Connection) -> SdbResult<()> {
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
fn long_names(c: &Connection, domain: &str) -> SdbResult<HashSet<String>> {
    let mut st = c.prepare_cached(
        "SELECT l.name FROM long_names l JOIN domains d ON d.id = l.domain_id WHERE d.name = ?1",
    )?;
    let names = st
        .query_map(params![domain], |r| r.get(0))?
        .collect::<Result<HashSet<String>, _>>()?;
    Ok(names)
}

/// How many value-index rows `pre` finds in `domain`, counting no further
/// than `cap`.
fn prefilter_rows(c: &Connection, domain: i64, pre: &Prefilter, cap: u64) -> SdbResult<u64> {
    let mut b = SqlBuilder::new();
    b.params[0] = Value::Integer(domain);
    let rows = b.prefilter_rows(pre);
    let sql = format!("SELECT count(*) FROM ({rows} LIMIT {cap})");
    let n: i64 = c
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(b.params), |r| r.get(0))?;
    Ok(n as u64)
}

/// Changes the connection can see: its own writes, and (SQLite's
/// `data_version`) commits by other connections to the same file.
fn data_version(c: &Connection) -> SdbResult<(u64, i64)> {
    let other: i64 = c.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    Ok((c.total_changes(), other))
}

/// How many paged Select results the engine keeps for their next page.
const KEPT_RESULTS: usize = 4;
/// A result longer than this is not kept (its pages run the query again).
const MAX_KEPT_MATCHES: usize = 1_000_000;

/// What remains of a paged Select after a page.
struct Remainder {
    domain: i64,
    /// The query's hash (as in its tokens).
    hash: String,
    /// [`data_version`] when it was computed.
    version: (u64, i64),
    /// The sort value and name of the last item handed out.
    after: (Option<String>, String),
    matches: std::collections::VecDeque<Match>,
}

/// SimpleDB's domain names: 3 to 255 characters of `a-z A-Z 0-9 _ - .`.
pub fn validate_domain_name(domain: &str) -> SdbResult<()> {
    let ok_chars = domain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if (3..=255).contains(&domain.len()) && ok_chars {
        Ok(())
    } else {
        Err(SdbError::invalid_parameter(format!(
            "Value ({domain}) for parameter DomainName is invalid: it must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
        )))
    }
}

fn validate_text(what: &str, s: &str, allow_empty: bool) -> SdbResult<()> {
    if s.is_empty() && !allow_empty {
        return Err(SdbError::invalid_parameter(format!(
            "{what} must not be empty"
        )));
    }
    if s.len() > MAX_NAME_BYTES.max(MAX_VALUE_BYTES) {
        return Err(SdbError::invalid_parameter(format!(
            "Value ({}...) for parameter {what} is invalid: it is {} bytes long, the limit is {MAX_VALUE_BYTES}",
            s.chars().take(32).collect::<String>(),
            s.len()
        )));
    }
    if has_non_xml_char(s) {
        return Err(SdbError::invalid_parameter(format!(
            "Value for parameter {what} is invalid: it contains a character XML cannot carry"
        )));
    }
    Ok(())
}

/// Whether `s` holds a character XML 1.0 cannot carry (SimpleDB refuses
/// them): a control character other than tab, newline and carriage return,
/// or U+FFFE / U+FFFF. One plain pass over the bytes, as this runs on every
/// value of a bulk load.
fn has_non_xml_char(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r' {
            return true;
        }
        // U+FFFE and U+FFFF are EF BF BE and EF BF BF.
        if c == 0xEF
            && i + 2 < b.len()
            && b[i + 1] == 0xBF
            && (b[i + 2] == 0xBE || b[i + 2] == 0xBF)
        {
            return true;
        }
        i += 1;
    }
    false
}

fn validate_item_name(item: &str) -> SdbResult<()> {
    validate_text("ItemName", item, false)
}

fn validate_pair(name: &str, value: Option<&str>) -> SdbResult<()> {
    validate_text("Name", name, false)?;
    if let Some(v) = value {
        validate_text("Value", v, true)?;
    }
    Ok(())
}

fn validate_put(item: &str, attrs: &[PutAttr]) -> SdbResult<()> {
    validate_item_name(item)?;
    if attrs.is_empty() {
        return Err(SdbError::missing_parameter("Attribute.1.Name"));
    }
    if attrs.len() > MAX_SUBMITTED_ATTRIBUTES {
        return Err(SdbError::submitted_attributes_exceeded(
            MAX_SUBMITTED_ATTRIBUTES,
        ));
    }
    for a in attrs {
        validate_pair(&a.name, Some(&a.value))?;
    }
    Ok(())
}

fn validate_delete(item: &str, attrs: &[DeleteAttr]) -> SdbResult<()> {
    validate_item_name(item)?;
    if attrs.len() > MAX_SUBMITTED_ATTRIBUTES {
        return Err(SdbError::submitted_attributes_exceeded(
            MAX_SUBMITTED_ATTRIBUTES,
        ));
    }
    for a in attrs {
        validate_pair(&a.name, a.value.as_deref())?;
    }
    Ok(())
}

fn validate_batch<'a>(items: impl ExactSizeIterator<Item = &'a str>) -> SdbResult<()> {
    if items.len() > MAX_BATCH_ITEMS {
        return Err(SdbError::submitted_items_exceeded(MAX_BATCH_ITEMS));
    }
    if items.len() == 0 {
        return Err(SdbError::missing_parameter("Item.1.ItemName"));
    }
    let mut seen = HashSet::new();
    for i in items {
        if !seen.insert(i) {
            return Err(SdbError::duplicate_item_name(i));
        }
    }
    Ok(())
}

fn find_domain(c: &Connection, domain: &str) -> SdbResult<Option<i64>> {
    let mut st = c.prepare_cached("SELECT id FROM domains WHERE name = ?1")?;
    Ok(st.query_row(params![domain], |r| r.get(0)).optional()?)
}

fn domain_id(c: &Connection, domain: &str) -> SdbResult<i64> {
    find_domain(c, domain)?.ok_or_else(|| SdbError::no_such_domain(domain))
}

fn find_item(c: &Connection, d: i64, item: &str) -> SdbResult<Option<i64>> {
    let mut st = c.prepare_cached("SELECT id FROM items WHERE domain_id = ?1 AND name = ?2")?;
    Ok(st.query_row(params![d, item], |r| r.get(0)).optional()?)
}

fn read_attrs(c: &Connection, item_id: i64) -> SdbResult<Attrs> {
    let mut st =
        c.prepare_cached("SELECT name, value FROM attrs WHERE item_id = ?1 ORDER BY name, value")?;
    let mut rows = st.query(params![item_id])?;
    let mut attrs = Attrs::new();
    while let Some(r) = rows.next()? {
        attrs.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    Ok(attrs)
}

fn values_of(c: &Connection, item_id: i64, name: &str) -> SdbResult<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT value FROM attrs WHERE item_id = ?1 AND name = ?2 ORDER BY value",
    )?;
    let values = st
        .query_map(params![item_id, name], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(values)
}

/// SimpleDB's conditional check: `exists = false` wants no value of the
/// attribute; a `value` wants exactly that one value.
fn check_expected(c: &Connection, item_id: Option<i64>, exp: &Expected) -> SdbResult<()> {
    if exp.name.is_empty() {
        return Err(SdbError::missing_parameter("Expected.Name"));
    }
    let values = match item_id {
        Some(id) => values_of(c, id, &exp.name)?,
        None => Vec::new(),
    };
    match (exp.exists.unwrap_or(true), &exp.value) {
        (false, Some(_)) => Err(SdbError::invalid_parameter(
            "Expected.Value must not be given when Expected.Exists is false",
        )),
        (true, None) => Err(SdbError::new(
            "IncompleteExpectedExpression",
            400,
            "If Expected.Exists is true (the default), Expected.Value must be given",
        )),
        (false, None) if values.is_empty() => Ok(()),
        (false, None) => Err(SdbError::conditional_check_failed(format!(
            "Conditional check failed. Attribute ({}) value exists",
            exp.name
        ))),
        (true, Some(_)) if values.is_empty() => Err(SdbError::attribute_does_not_exist(&exp.name)),
        (true, Some(_)) if values.len() > 1 => Err(SdbError::new(
            "MultiValuedAttribute",
            409,
            format!(
                "Attribute ({}) is multi-valued. Conditional check can only be performed on a single-valued attribute",
                exp.name
            ),
        )),
        (true, Some(want)) if &values[0] == want => Ok(()),
        (true, Some(want)) => Err(SdbError::conditional_check_failed(format!(
            "Conditional check failed. Attribute ({}) value is ({}) but was expected ({want})",
            exp.name, values[0]
        ))),
    }
}

/// The write primitives, inside one transaction, with their statements
/// prepared once. Items touched are checked at the end: emptied ones are
/// removed, overfull ones fail the whole transaction.
struct Writer<'c> {
    c: &'c Connection,
    domain: i64,
    find_item: rusqlite::Statement<'c>,
    insert_item: rusqlite::Statement<'c>,
    insert_value: rusqlite::Statement<'c>,
    delete_name_st: rusqlite::Statement<'c>,
    delete_value_st: rusqlite::Statement<'c>,
    note_long_st: rusqlite::Statement<'c>,
    /// Attribute names noted in `long_names` by this transaction.
    noted_long: HashSet<String>,
    /// Touched items: id -> name (for messages).
    touched: HashMap<i64, String>,
    /// Items created in this transaction that have no values yet (nothing
    /// to delete in them).
    fresh: HashSet<i64>,
    /// Items created in this transaction that only ever had values added,
    /// with how many: their pair count needs no query at the end.
    added_only: HashMap<i64, usize>,
}

impl<'c> Writer<'c> {
    fn new(c: &'c Connection, domain: i64) -> SdbResult<Writer<'c>> {
        Ok(Writer {
            c,
            domain,
            find_item: c.prepare("SELECT id FROM items WHERE domain_id = ?1 AND name = ?2")?,
            insert_item: c.prepare("INSERT INTO items(domain_id, name) VALUES (?1, ?2)")?,
            insert_value: c.prepare(
                "INSERT OR IGNORE INTO attrs(item_id, name, value, domain_id) VALUES (?1, ?2, ?3, ?4)",
            )?,
            delete_name_st: c.prepare("DELETE FROM attrs WHERE item_id = ?1 AND name = ?2")?,
            delete_value_st: c
                .prepare("DELETE FROM attrs WHERE item_id = ?1 AND name = ?2 AND value = ?3")?,
            note_long_st: c
                .prepare("INSERT OR IGNORE INTO long_names(domain_id, name) VALUES (?1, ?2)")?,
            noted_long: HashSet::new(),
            touched: HashMap::new(),
            fresh: HashSet::new(),
            added_only: HashMap::new(),
        })
    }

    fn existing(&mut self, item: &str) -> SdbResult<Option<i64>> {
        let id = self
            .find_item
            .query_row(params![self.domain, item], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.touched.insert(id, item.to_string());
        }
        Ok(id)
    }

    fn ensure(&mut self, item: &str) -> SdbResult<i64> {
        if let Some(id) = self.existing(item)? {
            return Ok(id);
        }
        self.insert_item.execute(params![self.domain, item])?;
        let id = self.c.last_insert_rowid();
        self.fresh.insert(id);
        self.added_only.insert(id, 0);
        self.touched.insert(id, item.to_string());
        Ok(id)
    }

    fn insert(&mut self, id: i64, name: &str, value: &str) -> SdbResult<()> {
        self.insert_value
            .execute(params![id, name, value, self.domain])?;
        // A value the value index leaves out: range queries on its name
        // must not start from that index. (Bytes first: most values are
        // shorter than the limit even in bytes.)
        if value.len() > INDEXED_VALUE_CHARS
            && !self.noted_long.contains(name)
            && value.chars().count() > INDEXED_VALUE_CHARS
        {
            self.note_long_st.execute(params![self.domain, name])?;
            self.noted_long.insert(name.to_string());
        }
        // From now on the item has values a later change may need to delete.
        self.fresh.remove(&id);
        if let Some(n) = self.added_only.get_mut(&id) {
            // An upper bound: a repeated pair is stored once.
            *n += 1;
        }
        Ok(())
    }

    fn delete_name(&mut self, id: i64, name: &str) -> SdbResult<()> {
        if !self.fresh.contains(&id) {
            self.delete_name_st.execute(params![id, name])?;
            self.added_only.remove(&id);
        }
        Ok(())
    }

    fn delete_value(&mut self, id: i64, name: &str, value: &str) -> SdbResult<()> {
        self.added_only.remove(&id);
        self.delete_value_st.execute(params![id, name, value])?;
        Ok(())
    }

    fn delete_item(&mut self, id: i64) -> SdbResult<()> {
        self.c
            .prepare_cached("DELETE FROM attrs WHERE item_id = ?1")?
            .execute(params![id])?;
        self.c
            .prepare_cached("DELETE FROM items WHERE id = ?1")?
            .execute(params![id])?;
        self.touched.remove(&id);
        self.fresh.remove(&id);
        self.added_only.remove(&id);
        Ok(())
    }

    fn change(&mut self, change: &Change) -> SdbResult<()> {
        match change {
            Change::Put {
                item,
                attrs,
                remove,
            } => {
                validate_item_name(item)?;
                for (name, values) in attrs {
                    validate_pair(name, None)?;
                    for v in values {
                        validate_text("Value", v, true)?;
                    }
                }
                let id = self.ensure(item)?;
                for name in attrs.keys().chain(remove.iter()) {
                    self.delete_name(id, name)?;
                }
                for (name, values) in attrs {
                    for v in values {
                        self.insert(id, name, v)?;
                    }
                }
            }
            Change::Delete { item } => {
                if let Some(id) = self.existing(item)? {
                    self.delete_item(id)?;
                }
            }
            Change::AddValue { item, attr, value } => {
                validate_item_name(item)?;
                validate_pair(attr, Some(value))?;
                let id = self.ensure(item)?;
                self.insert(id, attr, value)?;
            }
            Change::DeleteValue { item, attr, value } => {
                if let Some(id) = self.existing(item)? {
                    self.delete_value(id, attr, value)?;
                }
            }
        }
        Ok(())
    }

    fn put(&mut self, item: &str, attrs: &[PutAttr]) -> SdbResult<()> {
        let id = self.ensure(item)?;
        let replaced: HashSet<&str> = attrs
            .iter()
            .filter(|a| a.replace)
            .map(|a| a.name.as_str())
            .collect();
        for name in &replaced {
            self.delete_name(id, name)?;
        }
        for a in attrs {
            self.insert(id, &a.name, &a.value)?;
        }
        Ok(())
    }

    fn delete(&mut self, item: &str, attrs: &[DeleteAttr]) -> SdbResult<()> {
        let Some(id) = self.existing(item)? else {
            return Ok(());
        };
        if attrs.is_empty() {
            return self.delete_item(id);
        }
        for a in attrs {
            match &a.value {
                None => self.delete_name(id, &a.name)?,
                Some(v) => self.delete_value(id, &a.name, v)?,
            }
        }
        Ok(())
    }

    /// Removes emptied items and enforces the per-item pair limit.
    fn finish(self) -> SdbResult<()> {
        let mut count = self
            .c
            .prepare_cached("SELECT count(*) FROM attrs WHERE item_id = ?1")?;
        let mut drop_item = self.c.prepare_cached("DELETE FROM items WHERE id = ?1")?;
        for (id, name) in &self.touched {
            if let Some(&added) = self.added_only.get(id) {
                if (1..=MAX_PAIRS_PER_ITEM).contains(&added) {
                    continue;
                }
            }
            let n: i64 = count.query_row(params![id], |r| r.get(0))?;
            if n == 0 {
                drop_item.execute(params![id])?;
            } else if n as usize > MAX_PAIRS_PER_ITEM {
                return Err(SdbError::item_attributes_exceeded(name, MAX_PAIRS_PER_ITEM));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Select

/// Where a page starts: after this (sort key, item name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Hash of the query the token belongs to.
    h: String,
    /// The last item's sort value (with `order by` an attribute).
    k: Option<String>,
    /// The last item's name.
    n: String,
}

/// A Select compiled to SQL for one domain.
struct Plan<'q> {
    query: &'q Select,
    /// Items per page; `None` for an unlimited count.
    page_items: Option<u32>,
    max_bytes: usize,
    /// Conditions of the filter the value index answers.
    prefilters: Vec<Prefilter>,
    /// The direction pages run in.
    order: Order,
    /// With `order by` an attribute, its name (ties, and every other query,
    /// go by item name).
    key_attr: Option<String>,
    hash: String,
}

/// Where a statement starts looking for matching items.
#[derive(Debug, Clone, Copy)]
enum Drive<'p> {
    /// The domain's items in name order, so that a `LIMIT` stops early;
    /// every prefilter is a membership test that rejects items cheaply.
    Scan,
    /// The items one prefilter finds in the value index (then sorted).
    From(&'p Prefilter),
}

/// A plan's SQL for one [`Drive`]: the `WHERE` text over `items i`, the sort
/// value's SQL, and their parameters (?1 is the domain).
struct PlanSql {
    filter: String,
    key: Option<String>,
    params: Vec<Value>,
}

/// How many value-index rows a prefilter's count looks at, at most, when
/// choosing which one to start from.
const PREFILTER_PROBE_ROWS: u64 = 10_000;

impl<'q> Plan<'q> {
    /// `long` holds the domain's attribute names that may have values the
    /// value index leaves out (see [`long_names`]).
    fn new(
        domain: &str,
        query: &'q Select,
        page: PageLimit,
        long: &HashSet<String>,
    ) -> SdbResult<Plan<'q>> {
        let page_items = match (query.limit, &query.output) {
            (Some(n), _) if n == 0 || n > page.max_items => {
                return Err(SdbError::invalid_query(format!(
                    "The specified limit {n} is not valid: it must be between 1 and {}",
                    page.max_items
                )))
            }
            (Some(n), _) => Some(n),
            (None, Output::Count) => None,
            (None, _) => Some(page.default_items),
        };
        let (key_attr, order) = match &query.order_by {
            None => (None, Order::Asc),
            Some((Operand::ItemName, order)) => (None, *order),
            Some((Operand::Every(_), _)) => {
                return Err(SdbError::new(
                    "InvalidSortExpression",
                    400,
                    "The sort attribute must be an attribute name or itemName()",
                ))
            }
            Some((Operand::Attr(a), order)) => {
                if !query.filter.as_ref().is_some_and(|f| mentions(f, a)) {
                    return Err(SdbError::new(
                        "InvalidSortExpression",
                        400,
                        format!("The sort attribute {a} must be present in at least one of the predicates"),
                    ));
                }
                (Some(a.clone()), *order)
            }
        };
        let mut for_hash = query.clone();
        for_hash.output = Output::ItemName;
        for_hash.limit = None;
        let digest = Sha256::digest(render(domain, &for_hash).as_bytes());
        Ok(Plan {
            query,
            page_items,
            max_bytes: page.max_bytes,
            prefilters: query
                .filter
                .as_ref()
                .map(|e| prefilters(e, long))
                .unwrap_or_default(),
            order,
            key_attr,
            hash: hex::encode(&digest[..12]),
        })
    }

    /// The SQL of the filter and sort value, starting from `drive`, for
    /// domain `domain`.
    fn sql(&self, drive: Drive<'_>, domain: i64) -> PlanSql {
        let mut b = SqlBuilder::new();
        b.params[0] = Value::Integer(domain);
        let mut filter = match drive {
            Drive::Scan => {
                // The prefilters first: SQLite tests terms in this order,
                // and an index lookup is cheaper than the exact predicate.
                let mut f = String::from("i.domain_id = ?1");
                for pre in &self.prefilters {
                    f.push_str(" AND ");
                    f.push_str(&b.prefilter(pre));
                }
                f
            }
            // `+` keeps SQLite from walking the domain's name index: it
            // starts from the prefilter's items instead.
            Drive::From(pre) => format!("+i.domain_id = ?1 AND {}", b.prefilter(pre)),
        };
        if let Some(e) = &self.query.filter {
            filter.push_str(" AND ");
            filter.push_str(&b.item_pred(e));
        }
        let key = self.key_attr.as_ref().map(|a| {
            let agg = if self.order == Order::Asc {
                "min"
            } else {
                "max"
            };
            let p = b.bind(a);
            let key = format!(
                "(SELECT {agg}(s.value) FROM attrs s WHERE s.item_id = i.id AND s.name = {p})"
            );
            filter.push_str(&format!(" AND {key} IS NOT NULL"));
            key
        });
        PlanSql {
            filter,
            key,
            params: b.params,
        }
    }

    /// Where to start for the whole result: from the prefilter whose
    /// values in the index are fewest (each counted up to
    /// [`PREFILTER_PROBE_ROWS`]), else the whole domain. Starting from even
    /// an unselective prefilter costs about what scanning the domain does;
    /// a selective one saves nearly all of it.
    fn whole_result_drive(&self, c: &Connection, domain: i64) -> SdbResult<Drive<'_>> {
        let (first, rest) = match self.prefilters.split_first() {
            None => return Ok(Drive::Scan),
            Some((first, [])) => return Ok(Drive::From(first)),
            Some(split) => split,
        };
        let mut best = (
            prefilter_rows(c, domain, first, PREFILTER_PROBE_ROWS)?,
            first,
        );
        for pre in rest {
            let n = prefilter_rows(c, domain, pre, best.0)?;
            if n < best.0 {
                best = (n, pre);
            }
        }
        Ok(Drive::From(best.1))
    }

    fn decode_token(&self, token: &str) -> SdbResult<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| SdbError::invalid_next_token())?;
        let cursor: Cursor =
            serde_json::from_slice(&bytes).map_err(|_| SdbError::invalid_next_token())?;
        if cursor.h != self.hash || cursor.k.is_some() != self.key_attr.is_some() {
            return Err(SdbError::invalid_next_token());
        }
        Ok(cursor)
    }

    fn encode_token(&self, key: Option<String>, name: String) -> String {
        let cursor = Cursor {
            h: self.hash.clone(),
            k: key,
            n: name,
        };
        let json = serde_json::to_vec(&cursor).expect("a cursor serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// SQL listing the matching items' ids, names and sort values, in
    /// order, after `after`, at most `limit` of them.
    fn matches_sql(
        &self,
        plan: &PlanSql,
        after: Option<&Cursor>,
        params: &mut Vec<Value>,
        limit: Option<u64>,
    ) -> String {
        let key = plan.key.as_deref().unwrap_or("NULL");
        let desc = self.order == Order::Desc;
        let mut sql = format!(
            "SELECT i.id, i.name, {key} FROM items i WHERE {}",
            plan.filter
        );
        if let Some(c) = after {
            let cmp = if desc { "<" } else { ">" };
            params.push(Value::Text(c.n.clone()));
            let pn = format!("?{}", params.len());
            match &c.k {
                Some(k) => {
                    params.push(Value::Text(k.clone()));
                    let pk = format!("?{}", params.len());
                    sql.push_str(&format!(" AND ({key}, i.name) {cmp} ({pk}, {pn})"));
                }
                _ => sql.push_str(&format!(" AND i.name {cmp} {pn}")),
            }
        }
        let dir = if desc { "DESC" } else { "ASC" };
        if plan.key.is_some() {
            sql.push_str(&format!(" ORDER BY 3 {dir}, 2 {dir}"));
        } else {
            sql.push_str(&format!(" ORDER BY 2 {dir}"));
        }
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        sql
    }

    /// How many items match, with one statement.
    fn count(&self, c: &Connection, domain: i64) -> SdbResult<u64> {
        let plan = self.sql(self.whole_result_drive(c, domain)?, domain);
        let sql = format!("SELECT count(*) FROM items i WHERE {}", plan.filter);
        let n: i64 = c
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(plan.params), |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The matching items after `after`, in order, at most `limit` of them,
    /// with one statement: the whole result starts from the best prefilter,
    /// a limited one walks the domain in order and stops when it has them.
    fn matches(
        &self,
        c: &Connection,
        domain: i64,
        after: Option<&Cursor>,
        limit: Option<u64>,
    ) -> SdbResult<Vec<Match>> {
        let drive = match limit {
            Some(_) => Drive::Scan,
            None => self.whole_result_drive(c, domain)?,
        };
        let plan = self.sql(drive, domain);
        let mut params = plan.params.clone();
        let sql = self.matches_sql(&plan, after, &mut params, limit);
        let mut st = c.prepare_cached(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        let mut found = Vec::new();
        while let Some(r) = rows.next()? {
            found.push(Match {
                id: r.get(0)?,
                name: r.get(1)?,
                key: r.get(2)?,
            });
        }
        Ok(found)
    }

    /// The output attributes of the items `ids`, by item id.
    fn read_attrs(
        &self,
        c: &Connection,
        ids: impl Iterator<Item = i64>,
    ) -> SdbResult<HashMap<i64, Attrs>> {
        match &self.query.output {
            Output::All => read_many(c, ids, None),
            Output::Attrs(names) => read_many(c, ids, Some(names)),
            Output::ItemName | Output::Count => Ok(HashMap::new()),
        }
    }

    /// A page from the query run for one page after `after`.
    fn run(&self, c: &Connection, domain: i64, after: Option<&Cursor>) -> SdbResult<Page> {
        if self.query.output == Output::Count && after.is_none() && self.page_items.is_none() {
            return Ok(Page {
                items: vec![count_item(self.count(c, domain)?)],
                next_token: None,
            });
        }
        // One more than a page tells whether another page follows.
        let limit = self.page_items.map(|n| n as u64 + 1);
        let mut found = self.matches(c, domain, after, limit)?.into();
        Ok(self.page_of(c, &mut found)?.page)
    }

    /// The next page of the matches `rest`, which loses the items the page
    /// takes.
    fn page_of(
        &self,
        c: &Connection,
        rest: &mut std::collections::VecDeque<Match>,
    ) -> SdbResult<PageOut> {
        let limit = self
            .page_items
            .map(|n| n as usize)
            .unwrap_or(usize::MAX)
            .min(rest.len());
        let found: Vec<Match> = rest.drain(..limit).collect();
        let mut more = !rest.is_empty();
        if self.query.output == Output::Count {
            let last = found.last().map(|m| (m.key.clone(), m.name.clone()));
            return Ok(self.finish_page(vec![count_item(found.len() as u64)], more, last));
        }
        let mut items = Vec::with_capacity(found.len());
        let mut bytes = 0usize;
        let mut last: Option<(Option<String>, String)> = None;
        let mut left: Vec<Match> = Vec::new();
        // Attributes are read a chunk of items at a time, so a page the size
        // limit cuts short does not read the items it leaves out.
        let mut chunks = found.chunks(READ_CHUNK);
        'chunks: for chunk in chunks.by_ref() {
            let mut attrs = self.read_attrs(c, chunk.iter().map(|m| m.id))?;
            for (at, m) in chunk.iter().enumerate() {
                let attrs = attrs.remove(&m.id).unwrap_or_default();
                let size = response_size(&m.name, &attrs);
                if !items.is_empty() && bytes + size > self.max_bytes {
                    more = true;
                    left.extend_from_slice(&chunk[at..]);
                    break 'chunks;
                }
                bytes += size;
                last = Some((m.key.clone(), m.name.clone()));
                items.push(Item {
                    name: m.name.clone(),
                    attrs,
                });
            }
        }
        // What the size limit left out goes back in front of the rest.
        for chunk in chunks.rev() {
            for m in chunk.iter().rev() {
                rest.push_front(m.clone());
            }
        }
        for m in left.into_iter().rev() {
            rest.push_front(m);
        }
        Ok(self.finish_page(items, more, last))
    }

    fn finish_page(
        &self,
        items: Vec<Item>,
        more: bool,
        last: Option<(Option<String>, String)>,
    ) -> PageOut {
        let next_token = match (more, &last) {
            (true, Some((k, n))) => Some(self.encode_token(k.clone(), n.clone())),
            _ => None,
        };
        PageOut {
            page: Page { items, next_token },
            last: more.then_some(last).flatten(),
        }
    }
}

/// A page, and the position its token continues from.
struct PageOut {
    page: Page,
    last: Option<(Option<String>, String)>,
}

/// A matching item: its id, name and sort value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Match {
    id: i64,
    name: String,
    key: Option<String>,
}

/// Items whose attributes are read with one statement.
const READ_CHUNK: usize = 250;

/// The attributes of many items in one statement (optionally only those
/// named), by item id.
fn read_many(
    c: &Connection,
    ids: impl Iterator<Item = i64>,
    only: Option<&Vec<String>>,
) -> SdbResult<HashMap<i64, Attrs>> {
    let mut params: Vec<Value> = ids.map(Value::Integer).collect();
    let mut out: HashMap<i64, Attrs> = HashMap::with_capacity(params.len());
    if params.is_empty() {
        return Ok(out);
    }
    let id_list = (1..=params.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut sql = format!("SELECT item_id, name, value FROM attrs WHERE item_id IN ({id_list})");
    if let Some(names) = only {
        if names.is_empty() {
            return Ok(out);
        }
        let first = params.len() + 1;
        params.extend(names.iter().map(|n| Value::Text(n.clone())));
        let name_list = (first..=params.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",");
        sql.push_str(&format!(" AND name IN ({name_list})"));
    }
    sql.push_str(" ORDER BY item_id, name, value");
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
    // Rows come sorted by item and name: a new item or name is noticed by
    // comparing with the previous row, without a lookup per row.
    let mut current: Option<(i64, Attrs)> = None;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let name = r
            .get_ref(1)?
            .as_str()
            .map_err(|e| SdbError::internal(e.to_string()))?;
        let value: String = r.get(2)?;
        if current.as_ref().map(|c| c.0) != Some(id) {
            if let Some((done, attrs)) = current.take() {
                out.insert(done, attrs);
            }
            current = Some((id, Attrs::new()));
        }
        let attrs = &mut current.as_mut().expect("set above").1;
        match attrs.last_entry() {
            Some(mut e) if e.key() == name => e.get_mut().push(value),
            _ => {
                attrs.insert(name.to_string(), vec![value]);
            }
        }
    }
    if let Some((done, attrs)) = current {
        out.insert(done, attrs);
    }
    Ok(out)
}

/// Roughly the XML an item takes in a Select response.
fn response_size(name: &str, attrs: &Attrs) -> usize {
    let mut n = name.len() + 30;
    for (k, vs) in attrs {
        for v in vs {
            n += k.len() + v.len() + 60;
        }
    }
    n
}

/// Whether `e` has a predicate on attribute `a`.
fn mentions(e: &Expr, a: &str) -> bool {
    let is = |o: &Operand| matches!(o, Operand::Attr(x) | Operand::Every(x) if x == a);
    match e {
        Expr::Cmp(o, _, _)
        | Expr::Between(o, _, _)
        | Expr::In(o, _)
        | Expr::IsNull(o)
        | Expr::IsNotNull(o) => is(o),
        Expr::Not(x) => mentions(x, a),
        Expr::And(x, y) | Expr::Or(x, y) | Expr::Intersection(x, y) => {
            mentions(x, a) || mentions(y, a)
        }
    }
}

/// Values longer than this (in characters) are left out of the value index:
/// long values (control-text fragments) are never looked up by value, and
/// indexing them would double the file and slow every write.
const INDEXED_VALUE_CHARS: usize = 200;

/// A condition every matching item must meet, derived from a top-level
/// conjunct, that SQLite can answer from the value index: the item has a
/// value of attribute `name` meeting `test`. It is redundant with the exact
/// predicate; it only lets the planner start from few items.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefilter {
    name: String,
    test: ValueTest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ValueTest {
    /// One of these values.
    In(Vec<String>),
    /// Within the bounds (`<`, `<=`, `>`, `>=`, `between`, and those of
    /// one scope on one attribute together).
    Range {
        lo: Option<Bound>,
        hi: Option<Bound>,
    },
    /// A `like` pattern, as a GLOB pattern, and its literal prefix.
    Glob(String, String),
}

/// One end of a [`ValueTest::Range`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bound {
    value: String,
    inclusive: bool,
}

impl Bound {
    fn new(value: &str, inclusive: bool) -> Option<Bound> {
        Some(Bound {
            value: value.to_string(),
            inclusive,
        })
    }

    /// The tighter of two bounds: the larger lower bound (`upper` false)
    /// or the smaller upper bound; at the same value, the exclusive one.
    fn tighter(a: Option<Bound>, b: Option<Bound>, upper: bool) -> Option<Bound> {
        match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(match a.value.cmp(&b.value) {
                std::cmp::Ordering::Equal => Bound {
                    inclusive: a.inclusive && b.inclusive,
                    ..a
                },
                std::cmp::Ordering::Less if upper => a,
                std::cmp::Ordering::Greater if !upper => a,
                _ => b,
            }),
        }
    }
}

/// The prefilters of `e`. Equality and `in` are always answerable: the
/// values compared with are short, so a matching value is in the index.
/// Ranges and `like` are only for attributes not in `long` (the names that
/// may have values the index leaves out).
fn prefilters(e: &Expr, long: &HashSet<String>) -> Vec<Prefilter> {
    let mut found = Vec::new();
    collect_prefilters(e, long, 0, &mut 0, &mut found);
    // Ranges on one attribute in one scope bound the same value (within a
    // predicate an attribute stands for one of its values; `every` bounds
    // all of them), so `a >= 'x' and a <= 'y'` is one range of the index.
    let mut out: Vec<(usize, Prefilter)> = Vec::new();
    for (scope, pre) in found {
        let same = out.iter_mut().find(|(s, p)| {
            *s == scope
                && p.name == pre.name
                && matches!(p.test, ValueTest::Range { .. })
                && matches!(pre.test, ValueTest::Range { .. })
        });
        match (same, pre.test) {
            (
                Some((_, into)),
                ValueTest::Range {
                    lo: new_lo,
                    hi: new_hi,
                },
            ) => {
                if let ValueTest::Range { lo, hi } = &mut into.test {
                    *lo = Bound::tighter(lo.take(), new_lo, false);
                    *hi = Bound::tighter(hi.take(), new_hi, true);
                }
            }
            (_, test) => out.push((
                scope,
                Prefilter {
                    name: pre.name,
                    test,
                },
            )),
        }
    }
    out.into_iter().map(|(_, p)| p).collect()
}

/// Prefilters of `e`'s top-level conjuncts, with the scope each comes from
/// (each side of an `intersection` is a scope of its own).
fn collect_prefilters(
    e: &Expr,
    long: &HashSet<String>,
    scope: usize,
    scopes: &mut usize,
    out: &mut Vec<(usize, Prefilter)>,
) {
    let attr = |o: &Operand| match o {
        Operand::Attr(a) | Operand::Every(a) => Some(a.clone()),
        Operand::ItemName => None,
    };
    let all_short = |values: &[String]| {
        values
            .iter()
            .all(|v| v.chars().count() <= INDEXED_VALUE_CHARS)
    };
    let range = |lo: Option<Bound>, hi: Option<Bound>| ValueTest::Range { lo, hi };
    let test = match e {
        Expr::And(a, b) => {
            collect_prefilters(a, long, scope, scopes, out);
            collect_prefilters(b, long, scope, scopes, out);
            return;
        }
        Expr::Intersection(a, b) => {
            for side in [a, b] {
                *scopes += 1;
                collect_prefilters(side, long, *scopes, scopes, out);
            }
            return;
        }
        Expr::Cmp(o, CmpOp::Eq, v) if all_short(std::slice::from_ref(v)) => {
            attr(o).map(|a| (a, ValueTest::In(vec![v.clone()])))
        }
        Expr::In(o, vs) if !vs.is_empty() && all_short(vs) => {
            attr(o).map(|a| (a, ValueTest::In(vs.clone())))
        }
        Expr::Cmp(o, op @ (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge), v) => {
            let inclusive = matches!(op, CmpOp::Le | CmpOp::Ge);
            let bound = Bound::new(v, inclusive);
            let test = match op {
                CmpOp::Lt | CmpOp::Le => range(None, bound),
                _ => range(bound, None),
            };
            attr(o).map(|a| (a, test))
        }
        Expr::Between(o, lo, hi) => {
            attr(o).map(|a| (a, range(Bound::new(lo, true), Bound::new(hi, true))))
        }
        Expr::Cmp(o, CmpOp::Like, pattern) => attr(o).map(|a| {
            let test = ValueTest::Glob(like_to_glob(pattern), like_prefix(pattern));
            (a, test)
        }),
        _ => None,
    };
    if let Some((name, test)) = test {
        let needs_all_values = !matches!(test, ValueTest::In(_));
        if !(needs_all_values && long.contains(&name)) {
            out.push((scope, Prefilter { name, test }));
        }
    }
}

/// The literal text a `like` pattern's matches start with.
fn like_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => break,
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

/// Translates a SimpleDB `like` pattern to an SQLite GLOB pattern (which is
/// case-sensitive, unlike SQLite's LIKE): `%` becomes `*`, and `*`, `?`, `[`
/// are bracketed so they match themselves.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    let literal = |c: char, out: &mut String| match c {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(c);
            out.push(']');
        }
        c => out.push(c),
    };
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push('*'),
            '\\' => literal(chars.next().unwrap_or('\\'), &mut out),
            c => literal(c, &mut out),
        }
    }
    out
}

/// Builds SQL text and its parameter list together, so values only ever
/// travel as bound parameters.
struct SqlBuilder {
    params: Vec<Value>,
    aliases: usize,
}

impl SqlBuilder {
    fn new() -> SqlBuilder {
        // ?1 is the domain id, filled in when the plan runs.
        SqlBuilder {
            params: vec![Value::Null],
            aliases: 0,
        }
    }

    fn bind(&mut self, v: &str) -> String {
        self.params.push(Value::Text(v.to_string()));
        format!("?{}", self.params.len())
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    /// An item-level predicate over `items i`.
    fn item_pred(&mut self, e: &Expr) -> String {
        if let Expr::Intersection(a, b) = e {
            let a = self.item_pred(a);
            let b = self.item_pred(b);
            return format!("({a} AND {b})");
        }
        let mut names = Vec::new();
        scope_attrs(e, &mut names);
        if names.is_empty() {
            return self.value_pred(e, &HashMap::new());
        }
        // One binding per attribute name: a LEFT JOIN gives each of its
        // values in turn, or one NULL when the item has none. When the
        // predicate cannot hold without a value of the name, a plain join
        // does the same with less work (no NULL row, and the first such name
        // starts the scan).
        let mut tables: Vec<String> = Vec::new();
        let mut on: Vec<String> = Vec::new();
        let mut left_joins = String::new();
        let mut map = HashMap::new();
        for name in names {
            let alias = self.alias("b");
            let p = self.bind(&name);
            let cond = format!("{alias}.item_id = i.id AND {alias}.name = {p}");
            if nullness(e, &name).never_true {
                tables.push(format!("attrs {alias}"));
                on.push(cond);
            } else {
                left_joins.push_str(&format!(" LEFT JOIN attrs {alias} ON {cond}"));
            }
            map.insert(name, format!("{alias}.value"));
        }
        let cond = self.value_pred(e, &map);
        if tables.is_empty() {
            return format!("EXISTS (SELECT 1 FROM (SELECT 1){left_joins} WHERE {cond})");
        }
        format!(
            "EXISTS (SELECT 1 FROM {}{left_joins} WHERE {} AND {cond})",
            tables.join(", "),
            on.join(" AND ")
        )
    }

    /// A predicate over the bound values in `map` (attribute name -> column).
    fn value_pred(&mut self, e: &Expr, map: &HashMap<String, String>) -> String {
        match e {
            Expr::Cmp(o, op, v) => self.operand_pred(o, map, |s, col| s.cmp(col, *op, v)),
            Expr::Between(o, lo, hi) => self.operand_pred(o, map, |s, col| {
                let lo = s.bind(lo);
                let hi = s.bind(hi);
                format!("({col} >= {lo} AND {col} <= {hi})")
            }),
            Expr::In(o, vs) => self.operand_pred(o, map, |s, col| {
                if vs.is_empty() {
                    return "0".to_string();
                }
                let ps: Vec<String> = vs.iter().map(|v| s.bind(v)).collect();
                format!("{col} IN ({})", ps.join(", "))
            }),
            Expr::IsNull(o) => self.null_pred(o, map, true),
            Expr::IsNotNull(o) => self.null_pred(o, map, false),
            Expr::Not(x) => format!("(NOT {})", self.value_pred(x, map)),
            Expr::And(a, b) => {
                let a = self.value_pred(a, map);
                let b = self.value_pred(b, map);
                format!("({a} AND {b})")
            }
            Expr::Or(a, b) => {
                let a = self.value_pred(a, map);
                let b = self.value_pred(b, map);
                format!("({a} OR {b})")
            }
            Expr::Intersection(..) => self.item_pred(e),
        }
    }

    fn cmp(&mut self, col: &str, op: CmpOp, v: &str) -> String {
        let (sql_op, v) = match op {
            CmpOp::Eq => ("=", v.to_string()),
            CmpOp::Ne => ("<>", v.to_string()),
            CmpOp::Lt => ("<", v.to_string()),
            CmpOp::Le => ("<=", v.to_string()),
            CmpOp::Gt => (">", v.to_string()),
            CmpOp::Ge => (">=", v.to_string()),
            CmpOp::Like | CmpOp::NotLike => ("GLOB", like_to_glob(v)),
        };
        let p = self.bind(&v);
        if op == CmpOp::NotLike {
            format!("(NOT ({col} GLOB {p}))")
        } else {
            format!("({col} {sql_op} {p})")
        }
    }

    /// A condition on an operand: on its bound value, on the item name, or
    /// for `every(a)` on all of `a`'s values.
    fn operand_pred(
        &mut self,
        o: &Operand,
        map: &HashMap<String, String>,
        cond: impl Fn(&mut SqlBuilder, &str) -> String,
    ) -> String {
        match o {
            Operand::ItemName => cond(self, "i.name"),
            Operand::Attr(a) => {
                let col = map
                    .get(a)
                    .expect("every attribute of a scope is bound")
                    .clone();
                cond(self, &col)
            }
            Operand::Every(a) => {
                // One pass over the item's values of `a`: the smallest truth
                // value is 1 when all hold, and NULL (made 0) when there
                // are none. The condition is never NULL (values and bound
                // parameters never are).
                let e = self.alias("e");
                let p = self.bind(a);
                let c = cond(self, &format!("{e}.value"));
                format!(
                    "ifnull((SELECT min({c}) FROM attrs {e} WHERE {e}.item_id = i.id AND {e}.name = {p}), 0)"
                )
            }
        }
    }

    fn null_pred(&mut self, o: &Operand, map: &HashMap<String, String>, is_null: bool) -> String {
        match o {
            Operand::ItemName => (if is_null { "0" } else { "1" }).to_string(),
            Operand::Attr(a) => {
                let col = &map[a];
                format!("({col} IS {}NULL)", if is_null { "" } else { "NOT " })
            }
            Operand::Every(a) => {
                let e = self.alias("e");
                let p = self.bind(a);
                format!(
                    "({}EXISTS (SELECT 1 FROM attrs {e} WHERE {e}.item_id = i.id AND {e}.name = {p}))",
                    if is_null { "NOT " } else { "" }
                )
            }
        }
    }

    /// The value-index rows of a prefilter: a query of their item ids.
    fn prefilter_rows(&mut self, pre: &Prefilter) -> String {
        let test = match &pre.test {
            ValueTest::In(values) => {
                let ps: Vec<String> = values.iter().map(|v| self.bind(v)).collect();
                format!("f.value IN ({})", ps.join(", "))
            }
            ValueTest::Range { lo, hi } => {
                let mut terms = Vec::new();
                for (bound, strict, loose) in [(lo, ">", ">="), (hi, "<", "<=")] {
                    if let Some(b) = bound {
                        let op = if b.inclusive { loose } else { strict };
                        terms.push(format!("f.value {op} {}", self.bind(&b.value)));
                    }
                }
                terms.join(" AND ")
            }
            // The lower bound lets the index start at the prefix even where
            // SQLite does not derive a range from the GLOB itself.
            ValueTest::Glob(glob, prefix) => {
                format!(
                    "f.value GLOB {} AND f.value >= {}",
                    self.bind(glob),
                    self.bind(prefix)
                )
            }
        };
        let p = self.bind(&pre.name);
        // The length term lets SQLite use the partial value index.
        format!(
            "SELECT f.item_id FROM attrs f WHERE f.domain_id = ?1 AND f.name = {p} \
             AND {test} AND length(f.value) <= {INDEXED_VALUE_CHARS}"
        )
    }

    /// The items a prefilter finds, as a condition on `items i`.
    fn prefilter(&mut self, pre: &Prefilter) -> String {
        format!("i.id IN ({})", self.prefilter_rows(pre))
    }
}

/// What a predicate can be when attribute `a` has no value (SQL NULL in
/// its binding): whether it is then never TRUE, and whether it is never
/// FALSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Nullness {
    never_true: bool,
    never_false: bool,
}

/// [`Nullness`] of `e` with respect to `a`, conservatively: `false` where
/// it is not sure. A predicate that is never TRUE without a value of `a`
/// only matches items that have one, so `a` may be bound by a plain join.
fn nullness(e: &Expr, a: &str) -> Nullness {
    const UNKNOWN: Nullness = Nullness {
        never_true: false,
        never_false: false,
    };
    let is_a = |o: &Operand| matches!(o, Operand::Attr(x) if x == a);
    match e {
        // An empty list is FALSE whatever the value.
        Expr::In(_, vs) if vs.is_empty() => Nullness {
            never_true: true,
            never_false: false,
        },
        // A comparison with NULL is NULL.
        Expr::Cmp(o, _, _) | Expr::Between(o, _, _) | Expr::In(o, _) if is_a(o) => Nullness {
            never_true: true,
            never_false: true,
        },
        Expr::IsNull(o) if is_a(o) => Nullness {
            never_true: false,
            never_false: true,
        },
        Expr::IsNotNull(o) if is_a(o) => Nullness {
            never_true: true,
            never_false: false,
        },
        Expr::Not(x) => {
            let n = nullness(x, a);
            Nullness {
                never_true: n.never_false,
                never_false: n.never_true,
            }
        }
        Expr::And(x, y) => {
            let (x, y) = (nullness(x, a), nullness(y, a));
            Nullness {
                never_true: x.never_true || y.never_true,
                never_false: x.never_false && y.never_false,
            }
        }
        Expr::Or(x, y) => {
            let (x, y) = (nullness(x, a), nullness(y, a));
            Nullness {
                never_true: x.never_true && y.never_true,
                never_false: x.never_false || y.never_false,
            }
        }
        _ => UNKNOWN,
    }
}

/// The attribute names a scope binds (its plain `attr` operands, outside
/// nested intersections, which bind their own).
fn scope_attrs(e: &Expr, out: &mut Vec<String>) {
    let mut add = |o: &Operand| {
        if let Operand::Attr(a) = o {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
    };
    match e {
        Expr::Cmp(o, _, _)
        | Expr::Between(o, _, _)
        | Expr::In(o, _)
        | Expr::IsNull(o)
        | Expr::IsNotNull(o) => add(o),
        Expr::Not(x) => scope_attrs(x, out),
        Expr::And(a, b) | Expr::Or(a, b) => {
            scope_attrs(a, out);
            scope_attrs(b, out);
        }
        Expr::Intersection(..) => {}
    }
}

/// A Select's items as a map from item name (for tests and callers that
/// want random access).
pub fn by_name(items: Vec<Item>) -> BTreeMap<String, Attrs> {
    items.into_iter().map(|i| (i.name, i.attrs)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdb::select::parse;

    fn engine() -> Engine {
        let e = Engine::open_in_memory().unwrap();
        e.create_domain("dom").unwrap();
        e
    }

    fn put(e: &Engine, item: &str, pairs: &[(&str, &str)]) {
        let attrs: Vec<PutAttr> = pairs
            .iter()
            .map(|(n, v)| PutAttr {
                name: n.to_string(),
                value: v.to_string(),
                replace: false,
            })
            .collect();
        e.put_attributes("dom", item, &attrs, None).unwrap();
    }

    /// Item names a Select returns over all pages, in order.
    fn sel(e: &Engine, text: &str) -> Vec<String> {
        let (d, q) = parse(text).unwrap();
        let mut out = Vec::new();
        e.select_each(&d, &q, &mut |i| {
            out.push(i.name);
            Ok(())
        })
        .unwrap();
        out
    }

    fn sel_err(e: &Engine, text: &str) -> SdbError {
        let (d, q) = parse(text).unwrap();
        e.select(&d, &q, true, None, PageLimit::SIMPLEDB)
            .unwrap_err()
    }

    /// SimpleDB's sample data set (books and records), trimmed.
    fn books() -> Engine {
        let e = engine();
        put(
            &e,
            "0385333498",
            &[
                ("Title", "The Sirens of Titan"),
                ("Year", "1959"),
                ("Pages", "00336"),
                ("Keyword", "Book"),
                ("Keyword", "Paperback"),
                ("Rating", "*****"),
                ("Rating", "5 stars"),
                ("Rating", "Excellent"),
            ],
        );
        put(
            &e,
            "0802131786",
            &[
                ("Title", "Tropic of Cancer"),
                ("Year", "1934"),
                ("Pages", "00318"),
                ("Keyword", "Book"),
                ("Rating", "****"),
            ],
        );
        put(
            &e,
            "1579124585",
            &[
                ("Title", "The Right Stuff"),
                ("Year", "1979"),
                ("Pages", "00304"),
                ("Keyword", "Book"),
                ("Keyword", "Hardcover"),
                ("Keyword", "American"),
                ("Rating", "****"),
                ("Rating", "4 stars"),
            ],
        );
        put(
            &e,
            "B000T9886K",
            &[
                ("Title", "In Between"),
                ("Year", "2007"),
                ("Keyword", "CD"),
                ("Keyword", "Pop"),
                ("Rating", "4 stars"),
            ],
        );
        put(
            &e,
            "B00005JPLW",
            &[
                ("Title", "300"),
                ("Year", "2007"),
                ("Keyword", "DVD"),
                ("Keyword", "Action"),
                ("Keyword", "Frank Miller"),
                ("Rating", "***"),
                ("Rating", "3 stars"),
                ("Rating", "Not bad"),
            ],
        );
        put(
            &e,
            "B000SF3NGK",
            &[
                ("Title", "Heaven and Earth"),
                ("Year", "2008"),
                ("Keyword", "Cult"),
                ("Rating", "*****"),
            ],
        );
        e
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    fn names(v: &[&str]) -> Vec<String> {
        sorted(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn simpledb_documentation_examples() {
        let e = books();
        let q = |t: &str| sorted(sel(&e, &format!("select * from dom where {t}")));
        assert_eq!(q("Title = 'The Right Stuff'"), names(&["1579124585"]));
        assert_eq!(
            q("Year > '1985'"),
            names(&["B000T9886K", "B00005JPLW", "B000SF3NGK"])
        );
        assert_eq!(
            q("Rating like '****%'"),
            names(&["0385333498", "1579124585", "0802131786", "B000SF3NGK"])
        );
        assert_eq!(q("Pages < '00320'"), names(&["1579124585", "0802131786"]));
        assert_eq!(
            q("Year > '1975' and Year < '2008'"),
            names(&["1579124585", "B000T9886K", "B00005JPLW"])
        );
        assert_eq!(
            q("Year between '1975' and '2008'"),
            names(&["1579124585", "B000T9886K", "B00005JPLW", "B000SF3NGK"])
        );
        assert_eq!(
            q("Rating = '***' or Rating = '*****'"),
            names(&["0385333498", "B00005JPLW", "B000SF3NGK"])
        );
        assert_eq!(
            q("(Year > '1950' and Year < '1960') or Year like '193%' or Year = '2007'"),
            names(&["0385333498", "0802131786", "B000T9886K", "B00005JPLW"])
        );
        assert_eq!(
            q("Rating = '4 stars' or Rating = '****'"),
            names(&["1579124585", "0802131786", "B000T9886K"])
        );
        assert_eq!(
            q("Keyword = 'Book' and Keyword = 'Hardcover'"),
            names(&[]),
            "both comparisons apply to one value"
        );
        assert_eq!(
            q("Keyword = 'Book' intersection Keyword = 'Hardcover'"),
            names(&["1579124585"])
        );
        assert_eq!(q("every(Rating) = '****'"), names(&["0802131786"]));
        assert_eq!(
            q("Keyword = 'Book' and Rating = '****'"),
            names(&["0802131786", "1579124585"])
        );
        assert_eq!(
            q("Year < '1980' intersection every(Keyword) in ('Book', 'Paperback')"),
            names(&["0385333498", "0802131786"])
        );
    }

    #[test]
    fn one_value_per_attribute_in_a_predicate() {
        let e = engine();
        put(&e, "split", &[("y", "1970"), ("y", "2010")]);
        put(&e, "inside", &[("y", "1990")]);
        let q = |t: &str| sel(&e, &format!("select * from dom where {t}"));
        assert_eq!(q("y > '1980' and y < '2000'"), ["inside"]);
        assert_eq!(q("y > '1980' intersection y < '2000'"), ["inside", "split"]);
        // `!=` finds items with any other value; negation works per value too.
        assert_eq!(q("y != '1970'"), ["inside", "split"]);
        assert_eq!(q("not y = '1970'"), ["inside", "split"]);
        assert_eq!(q("not every(y) != '1970'"), ["split"]);
        assert_eq!(q("every(y) > '1980'"), ["inside"]);
    }

    #[test]
    fn missing_attributes_are_not_considered() {
        let e = engine();
        put(&e, "a", &[("x", "1")]);
        put(&e, "b", &[("y", "1")]);
        let q = |t: &str| sel(&e, &format!("select * from dom where {t}"));
        assert_eq!(q("x != '2'"), ["a"]);
        assert_eq!(q("not x = '2'"), ["a"]);
        assert_eq!(q("x is null"), ["b"]);
        assert_eq!(q("x is not null"), ["a"]);
        assert_eq!(q("every(x) is null"), ["b"]);
        assert_eq!(q("x is null or x = '1'"), ["a", "b"]);
        assert_eq!(q("every(x) = '1'"), ["a"]);
        assert_eq!(q("x = '1' or y = '1'"), ["a", "b"]);
        assert_eq!(q("x = '1' and y = '1'"), Vec::<String>::new());
        assert_eq!(q("itemName() is not null"), ["a", "b"]);
        assert_eq!(q("itemName() is null"), Vec::<String>::new());
    }

    #[test]
    fn like_is_case_sensitive_with_percent_and_backslash() {
        let e = engine();
        for (item, v) in [
            ("1", "hello"),
            ("2", "Hello"),
            ("3", "50% off"),
            ("4", "50 percent"),
            ("5", "a\\b"),
            ("6", "a*b?[c]"),
            ("7", "ünïcødé"),
            ("8", "it's"),
            ("9", "h_llo"),
        ] {
            put(&e, item, &[("v", v)]);
        }
        let q = |p: &str| {
            let text = format!(
                "select * from dom where v like {}",
                crate::select::quote_value(p)
            );
            sel(&e, &text)
        };
        assert_eq!(q("hel%"), ["1"]);
        assert_eq!(q("%ello"), ["1", "2"]);
        assert_eq!(q("%ll%"), ["1", "2", "9"]);
        assert_eq!(q("h%o"), ["1", "9"]);
        assert_eq!(q("h_llo"), ["9"], "_ is no wildcard");
        assert_eq!(q("50\\%%"), ["3"]);
        assert_eq!(q("50%"), ["3", "4"]);
        assert_eq!(q("a\\\\b"), ["5"]);
        assert_eq!(q("a*b?[c]"), ["6"]);
        assert_eq!(q("a*%"), ["6"]);
        assert_eq!(q("ünï%"), ["7"]);
        assert_eq!(q("%'s"), ["8"]);
        assert_eq!(q("%"), ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        let not_like = sel(&e, "select * from dom where v not like '%l%'");
        assert_eq!(not_like, ["3", "4", "5", "6", "7", "8"]);
        let by_name = sel(&e, "select * from dom where itemName() like '%'");
        assert_eq!(by_name.len(), 9);
    }

    #[test]
    fn comparisons_are_by_utf8_bytes() {
        let e = engine();
        for (item, v) in [
            ("a", "Z"),
            ("b", "a"),
            ("c", "é"),
            ("d", "\u{1F600}"),
            ("e", "10"),
            ("f", "9"),
        ] {
            put(&e, item, &[("v", v)]);
        }
        let q = |t: &str| sel(&e, &format!("select itemName() from dom where {t}"));
        assert_eq!(q("v > 'z'"), ["c", "d"]);
        assert_eq!(q("v < 'a'"), ["a", "e", "f"]);
        assert_eq!(q("v > '9'"), ["a", "b", "c", "d"]);
        assert_eq!(
            sel(&e, "select * from dom where v is not null order by v"),
            ["e", "f", "a", "b", "c", "d"]
        );
        assert_eq!(q("v in ('é', 'Z', 'nope')"), ["a", "c"]);
        assert_eq!(q("itemName() in ('a', 'f')"), ["a", "f"]);
        assert_eq!(q("itemName() between 'b' and 'd'"), ["b", "c", "d"]);
        assert_eq!(q("itemName() >= 'e'"), ["e", "f"]);
    }

    #[test]
    fn order_by_rules() {
        let e = engine();
        put(&e, "x", &[("n", "2"), ("n", "9")]);
        put(&e, "y", &[("n", "5")]);
        put(&e, "z", &[("m", "1")]);
        assert_eq!(
            sel(&e, "select * from dom where n > '0' order by n"),
            ["x", "y"]
        );
        assert_eq!(
            sel(&e, "select * from dom where n > '0' order by n desc"),
            ["x", "y"],
            "x sorts by its largest value descending"
        );
        assert_eq!(
            sel(&e, "select * from dom where n < '6' order by n desc"),
            ["x", "y"]
        );
        assert_eq!(
            sel(
                &e,
                "select * from dom where n is not null or m = '1' order by n asc"
            ),
            ["x", "y"],
            "items without the sort attribute are left out"
        );
        assert_eq!(
            sel(&e, "select * from dom order by itemName() desc"),
            ["z", "y", "x"]
        );
        let err = sel_err(&e, "select * from dom where m = '1' order by n");
        assert_eq!(err.code, "InvalidSortExpression");
        let err = sel_err(&e, "select * from dom order by n");
        assert_eq!(err.code, "InvalidSortExpression");
    }

    fn many(e: &Engine, n: usize) {
        let items: Vec<Change> = (0..n)
            .map(|i| Change::Put {
                item: format!("i{i:05}"),
                attrs: Attrs::from([
                    ("k".to_string(), vec![format!("{:05}", n - i)]),
                    ("odd".to_string(), vec![(i % 2).to_string()]),
                ]),
                remove: vec![],
            })
            .collect();
        e.apply("dom", &items).unwrap();
    }

    fn pages(e: &Engine, text: &str, limit: PageLimit) -> Vec<Vec<String>> {
        let (d, q) = parse(text).unwrap();
        let mut token: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let page = e.select(&d, &q, false, token.as_deref(), limit).unwrap();
            out.push(page.items.into_iter().map(|i| i.name).collect());
            match page.next_token {
                Some(t) => token = Some(t),
                None => return out,
            }
        }
    }

    #[test]
    fn paging_follows_limit_default_and_tokens() {
        let e = engine();
        many(&e, 2600);
        let p = pages(&e, "select * from dom", PageLimit::SIMPLEDB);
        assert_eq!(p.len(), 26, "100 per page by default");
        assert!(p.iter().all(|p| p.len() == 100));
        let all: Vec<String> = p.concat();
        assert_eq!(all.len(), 2600);
        assert!(all.windows(2).all(|w| w[0] < w[1]));

        let p = pages(
            &e,
            "select * from dom where odd = '1' limit 2500",
            PageLimit::SIMPLEDB,
        );
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), [1300]);

        let p = pages(
            &e,
            "select itemName() from dom where k > '00000' order by k desc limit 1000",
            PageLimit::SIMPLEDB,
        );
        assert_eq!(
            p.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 600]
        );
        assert_eq!(p[0][0], "i00000");
        assert_eq!(p[2][599], "i02599");

        let p = pages(
            &e,
            "select itemName() from dom order by itemName() desc limit 1000",
            PageLimit::SIMPLEDB,
        );
        assert_eq!(
            p.iter().map(Vec::len).collect::<Vec<_>>(),
            [1000, 1000, 600]
        );
        assert_eq!((p[0][0].as_str(), p[2][599].as_str()), ("i02599", "i00000"));
        assert!(p.concat().windows(2).all(|w| w[0] > w[1]));

        let p = pages(
            &e,
            "select count(*) from dom where odd = '0' limit 500",
            PageLimit::SIMPLEDB,
        );
        assert_eq!(p.len(), 3);
        let (_, q) = parse("select count(*) from dom where odd = '0'").unwrap();
        let page = e
            .select("dom", &q, false, None, PageLimit::SIMPLEDB)
            .unwrap();
        assert_eq!(page.items[0].attrs["Count"], ["1300"]);
        assert_eq!(page.next_token, None);
    }

    #[test]
    fn page_size_is_cut_at_one_megabyte() {
        let e = engine();
        let big = "x".repeat(1000);
        let changes: Vec<Change> = (0..300)
            .map(|i| Change::Put {
                item: format!("i{i:03}"),
                attrs: (0..5)
                    .map(|a| (format!("a{a}"), vec![big.clone()]))
                    .collect(),
                remove: vec![],
            })
            .collect();
        e.apply("dom", &changes).unwrap();
        let p = pages(&e, "select * from dom limit 2500", PageLimit::SIMPLEDB);
        assert!(p.len() >= 2, "{} pages", p.len());
        assert!(p[0].len() < 300 && p[0].len() > 100, "{}", p[0].len());
        // Every item once, in order: what a cut page leaves out comes next.
        let want: Vec<String> = (0..300).map(|i| format!("i{i:03}")).collect();
        assert_eq!(p.concat(), want);
        let p = pages(
            &e,
            "select * from dom where a0 is not null order by a0 limit 2500",
            PageLimit::SIMPLEDB,
        );
        assert!(p.len() >= 2, "{} pages", p.len());
        assert_eq!(p.concat(), want);
    }

    /// One page of `q` after `token`, as item names, and the next token.
    fn page_after(e: &Engine, q: &Select, token: Option<&str>) -> (Vec<String>, Option<String>) {
        let page = e
            .select("dom", q, false, token, PageLimit::SIMPLEDB)
            .unwrap();
        let names = page.items.into_iter().map(|i| i.name).collect();
        (names, page.next_token)
    }

    fn item_names(range: impl Iterator<Item = usize>) -> Vec<String> {
        range.map(|i| format!("i{i:05}")).collect()
    }

    #[test]
    fn later_pages_see_writes_made_between_pages() {
        let e = engine();
        many(&e, 50);
        // `k` runs opposite to the item names: i00049 has the smallest.
        let (_, q) = parse("select itemName() from dom where k > '' order by k limit 10").unwrap();
        let (p1, t1) = page_after(&e, &q, None);
        assert_eq!(p1, item_names((40..50).rev()));
        let (p2, t2) = page_after(&e, &q, t1.as_deref());
        assert_eq!(p2, item_names((30..40).rev()));
        // A token used again gives its page again.
        assert_eq!(page_after(&e, &q, t1.as_deref()), (p2, t2.clone()));
        // An item not handed out yet is deleted, another added in its range.
        e.delete_attributes("dom", "i00025", &[], None).unwrap();
        put(&e, "new", &[("k", "00024.5")]);
        let (p3, t3) = page_after(&e, &q, t2.as_deref());
        let mut want = item_names((26..30).rev());
        want.push("new".into());
        want.extend(item_names((20..25).rev()));
        assert_eq!(p3, want);
        let (p4, t4) = page_after(&e, &q, t3.as_deref());
        assert_eq!(p4, item_names((10..20).rev()));
        let (p5, t5) = page_after(&e, &q, t4.as_deref());
        assert_eq!(p5, item_names((0..10).rev()));
        assert_eq!(t5, None);
    }

    #[test]
    fn later_pages_see_writes_by_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sqlite");
        let e = Engine::open(&path).unwrap();
        e.create_domain("dom").unwrap();
        many(&e, 30);
        let other = Engine::open(&path).unwrap();
        let (_, q) = parse("select itemName() from dom limit 10").unwrap();
        let (p1, t1) = page_after(&e, &q, None);
        assert_eq!(p1, item_names(0..10));
        let (p2, t2) = page_after(&e, &q, t1.as_deref());
        assert_eq!(p2, item_names(10..20));
        // Kept from the second page's query, unless the write is noticed.
        other.delete_attributes("dom", "i00025", &[], None).unwrap();
        let (p3, t3) = page_after(&e, &q, t2.as_deref());
        assert_eq!(p3, item_names((20..30).filter(|&i| i != 25)));
        assert_eq!(t3, None);
    }

    #[test]
    fn bad_tokens_and_limits() {
        let e = engine();
        many(&e, 30);
        let (_, q) = parse("select * from dom limit 10").unwrap();
        let page = e
            .select("dom", &q, false, None, PageLimit::SIMPLEDB)
            .unwrap();
        let token = page.next_token.unwrap();
        let err = e
            .select("dom", &q, false, Some("garbage!"), PageLimit::SIMPLEDB)
            .unwrap_err();
        assert_eq!(err.code, "InvalidNextToken");
        let (_, other) = parse("select * from dom where odd = '1' limit 10").unwrap();
        let err = e
            .select("dom", &other, false, Some(&token), PageLimit::SIMPLEDB)
            .unwrap_err();
        assert_eq!(err.code, "InvalidNextToken");
        // The same query with another limit may continue.
        let (_, q5) = parse("select * from dom limit 5").unwrap();
        let page = e
            .select("dom", &q5, false, Some(&token), PageLimit::SIMPLEDB)
            .unwrap();
        assert_eq!(page.items[0].name, "i00010");
        for bad in ["select * from dom limit 0", "select * from dom limit 2501"] {
            assert_eq!(sel_err(&e, bad).code, "InvalidQueryExpression");
        }
        assert_eq!(sel_err(&e, "select * from nope").code, "NoSuchDomain");
    }

    #[test]
    fn output_lists_and_item_names() {
        let e = books();
        let (_, q) = parse("select Title, Year, Nope from dom where Year = '1934'").unwrap();
        let page = e
            .select("dom", &q, true, None, PageLimit::SIMPLEDB)
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(
            page.items[0].attrs,
            Attrs::from([
                ("Title".to_string(), vec!["Tropic of Cancer".to_string()]),
                ("Year".to_string(), vec!["1934".to_string()]),
            ])
        );
        let (_, q) = parse("select itemName() from dom where Year = '1934'").unwrap();
        let page = e
            .select("dom", &q, true, None, PageLimit::SIMPLEDB)
            .unwrap();
        assert!(page.items[0].attrs.is_empty());
        // Items with none of the listed attributes still come back, bare.
        let (_, q) = parse("select Nope from dom where Year = '1934'").unwrap();
        let page = e
            .select("dom", &q, true, None, PageLimit::SIMPLEDB)
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(page.items[0].attrs.is_empty());
    }

    fn pa(name: &str, value: &str, replace: bool) -> PutAttr {
        PutAttr {
            name: name.into(),
            value: value.into(),
            replace,
        }
    }

    fn get(e: &Engine, item: &str) -> Option<Attrs> {
        e.get("dom", item, &[]).unwrap()
    }

    fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn put_attributes_replace() {
        let e = engine();
        e.put_attributes(
            "dom",
            "i",
            &[
                pa("a", "1", false),
                pa("b", "2", false),
                pa("b", "3", false),
            ],
            None,
        )
        .unwrap();
        e.put_attributes("dom", "i", &[pa("b", "4", true)], None)
            .unwrap();
        assert_eq!(get(&e, "i"), Some(attrs(&[("a", &["1"]), ("b", &["4"])])));
        // Replace takes every value of the name given in the call.
        e.put_attributes(
            "dom",
            "i",
            &[pa("b", "5", true), pa("b", "6", false), pa("a", "1", false)],
            None,
        )
        .unwrap();
        assert_eq!(
            get(&e, "i"),
            Some(attrs(&[("a", &["1"]), ("b", &["5", "6"])]))
        );
        assert_eq!(
            e.get("dom", "i", &["b".to_string()]).unwrap(),
            Some(attrs(&[("b", &["5", "6"])]))
        );
        assert_eq!(e.get("dom", "i", &["zz".to_string()]).unwrap(), None);
    }

    #[test]
    fn conditional_writes() {
        let e = engine();
        let exp = |name: &str, value: Option<&str>, exists: Option<bool>| Expected {
            name: name.into(),
            value: value.map(Into::into),
            exists,
        };
        let put_if = |x: &Expected| e.put_attributes("dom", "i", &[pa("v", "1", true)], Some(x));
        put_if(&exp("v", None, Some(false))).unwrap();
        let err = put_if(&exp("v", None, Some(false))).unwrap_err();
        assert_eq!((err.code, err.status), ("ConditionalCheckFailed", 409));
        put_if(&exp("v", Some("1"), None)).unwrap();
        let err = put_if(&exp("v", Some("2"), Some(true))).unwrap_err();
        assert_eq!(err.code, "ConditionalCheckFailed");
        let err = put_if(&exp("w", Some("2"), None)).unwrap_err();
        assert_eq!((err.code, err.status), ("AttributeDoesNotExist", 404));
        e.put_attributes(
            "dom",
            "i",
            &[pa("m", "1", false), pa("m", "2", false)],
            None,
        )
        .unwrap();
        let err = put_if(&exp("m", Some("1"), None)).unwrap_err();
        assert_eq!(err.code, "MultiValuedAttribute");
        let err = put_if(&exp("v", None, None)).unwrap_err();
        assert_eq!(err.code, "IncompleteExpectedExpression");
        // A failed condition writes nothing.
        let err = e
            .delete_attributes("dom", "i", &[], Some(&exp("v", Some("9"), None)))
            .unwrap_err();
        assert_eq!(err.code, "ConditionalCheckFailed");
        assert!(get(&e, "i").is_some());
        e.delete_attributes("dom", "i", &[], Some(&exp("v", Some("1"), None)))
            .unwrap();
        assert_eq!(get(&e, "i"), None);
    }

    #[test]
    fn delete_attributes_forms() {
        let e = engine();
        let put_all = || {
            e.put_attributes(
                "dom",
                "i",
                &[
                    pa("a", "1", false),
                    pa("a", "2", false),
                    pa("b", "3", false),
                    pa("c", "4", false),
                ],
                None,
            )
            .unwrap()
        };
        put_all();
        let da = |n: &str, v: Option<&str>| DeleteAttr {
            name: n.into(),
            value: v.map(Into::into),
        };
        e.delete_attributes(
            "dom",
            "i",
            &[da("a", Some("1")), da("b", None), da("zz", None)],
            None,
        )
        .unwrap();
        assert_eq!(get(&e, "i"), Some(attrs(&[("a", &["2"]), ("c", &["4"])])));
        e.delete_attributes("dom", "i", &[], None).unwrap();
        assert_eq!(get(&e, "i"), None);
        e.delete_attributes("dom", "gone", &[], None).unwrap();
        put_all();
        e.batch_delete(
            "dom",
            &[
                ("i".to_string(), vec![da("a", None)]),
                ("nope".to_string(), vec![]),
            ],
        )
        .unwrap();
        assert_eq!(get(&e, "i"), Some(attrs(&[("b", &["3"]), ("c", &["4"])])));
        e.batch_delete("dom", &[("i".to_string(), vec![])]).unwrap();
        assert_eq!(get(&e, "i"), None);
    }

    #[test]
    fn batch_and_item_limits() {
        let e = engine();
        let item = |i: usize| (format!("i{i}"), vec![pa("a", "1", false)]);
        let err = e
            .batch_put("dom", &(0..26).map(item).collect::<Vec<_>>())
            .unwrap_err();
        assert_eq!(
            (err.code, err.status),
            ("NumberSubmittedItemsExceeded", 409)
        );
        let err = e.batch_put("dom", &[item(1), item(1)]).unwrap_err();
        assert_eq!(err.code, "DuplicateItemName");
        e.batch_put("dom", &(0..25).map(item).collect::<Vec<_>>())
            .unwrap();
        assert_eq!(e.domain_metadata("dom").unwrap().item_count, 25);

        let many: Vec<PutAttr> = (0..257).map(|i| pa("a", &i.to_string(), false)).collect();
        let err = e.put_attributes("dom", "big", &many, None).unwrap_err();
        assert_eq!(err.code, "NumberSubmittedAttributesExceeded");
        e.put_attributes("dom", "big", &many[..200], None).unwrap();
        let err = e
            .put_attributes("dom", "big", &many[200..], None)
            .unwrap_err();
        assert_eq!(
            (err.code, err.status),
            ("NumberItemAttributesExceeded", 409)
        );
        assert_eq!(get(&e, "big").unwrap()["a"].len(), 200);

        let long = "x".repeat(1025);
        let err = e
            .put_attributes("dom", "i", &[pa("a", &long, false)], None)
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
        let err = e
            .put_attributes("dom", "i", &[pa(&long, "v", false)], None)
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
        e.put_attributes("dom", "i", &[pa(&long[..1024], &long[..1024], false)], None)
            .unwrap();
        let err = e
            .put_attributes("dom", "", &[pa("a", "1", false)], None)
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
        let err = e
            .put_attributes("nope", "i", &[pa("a", "1", false)], None)
            .unwrap_err();
        assert_eq!(err.code, "NoSuchDomain");
    }

    #[test]
    fn domains_and_metadata() {
        let e = Engine::open_in_memory().unwrap();
        assert_eq!(
            e.create_domain("a b").unwrap_err().code,
            "InvalidParameterValue"
        );
        assert_eq!(
            e.create_domain("ab").unwrap_err().code,
            "InvalidParameterValue"
        );
        e.create_domain("zeta").unwrap();
        e.create_domain("alpha.1_-").unwrap();
        e.create_domain("zeta").unwrap();
        assert_eq!(e.list_domains().unwrap(), ["alpha.1_-", "zeta"]);
        e.put_attributes(
            "zeta",
            "item1",
            &[pa("ab", "xyz", false), pa("ab", "q", false)],
            None,
        )
        .unwrap();
        e.put_attributes(
            "zeta",
            "it2",
            &[pa("ab", "1", false), pa("cde", "22", false)],
            None,
        )
        .unwrap();
        let m = e.domain_metadata("zeta").unwrap();
        assert_eq!(
            (
                m.item_count,
                m.item_names_size_bytes,
                m.attribute_name_count,
                m.attribute_names_size_bytes,
                m.attribute_value_count,
                m.attribute_values_size_bytes
            ),
            (2, 8, 2, 5, 4, 7)
        );
        e.delete_domain("zeta").unwrap();
        e.delete_domain("zeta").unwrap();
        assert_eq!(e.list_domains().unwrap(), ["alpha.1_-"]);
        assert_eq!(e.domain_metadata("zeta").unwrap_err().code, "NoSuchDomain");
        // A new domain of the old name starts empty.
        e.create_domain("zeta").unwrap();
        assert_eq!(e.domain_metadata("zeta").unwrap().item_count, 0);
    }

    #[test]
    fn characters_xml_cannot_carry_are_refused() {
        for bad in ["a\u{0}b", "\u{1}", "x\u{1f}", "\u{fffe}", "end\u{ffff}"] {
            assert!(has_non_xml_char(bad), "{bad:?}");
            let e = engine()
                .put_attributes("dom", "i", &[pa("a", bad, false)], None)
                .unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue");
        }
        for good in ["", "tab\there\r\n", "\u{fffd}\u{10000}é", "\u{efbf}"] {
            assert!(!has_non_xml_char(good), "{good:?}");
        }
    }

    #[test]
    fn page_cache_and_memory_map_are_in_effect() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(&dir.path().join("e.sqlite")).unwrap();
        let conn = e.lock();
        let pragma = |name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(pragma("cache_size"), CACHE_KIB);
        assert_eq!(pragma("mmap_size"), MMAP_BYTES);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn predicates_without_a_value_bind_by_plain_join_only_when_that_is_exact() {
        let e = engine();
        put(&e, "has", &[("a", "x"), ("b", "1")]);
        put(&e, "other", &[("a", "y")]);
        put(&e, "none", &[("b", "2")]);
        let cases: [(&str, bool, &[&str]); 8] = [
            ("a = 'x'", true, &["has"]),
            ("not a = 'x'", true, &["other"]),
            ("a is not null", true, &["has", "other"]),
            ("a is null", false, &["none"]),
            ("a is null or a = 'x'", false, &["has", "none"]),
            // `none`: NULL and FALSE is FALSE, so the negation holds.
            ("not (a = 'x' and b = '1')", false, &["none", "other"]),
            ("a = 'x' or b = '2'", false, &["has", "none"]),
            ("not (a is null)", true, &["has", "other"]),
        ];
        for (pred, joins, want) in cases {
            let (_, q) = parse(&format!("select * from dom where {pred}")).unwrap();
            let filter = q.filter.as_ref().unwrap();
            assert_eq!(nullness(filter, "a").never_true, joins, "{pred}");
            assert_eq!(
                sel(&e, &format!("select * from dom where {pred}")),
                want,
                "{pred}"
            );
        }
        // Neither for a name the predicate does not bind, nor for an empty
        // list (which is FALSE, never NULL).
        let n = nullness(&Expr::In(Operand::Attr("a".into()), vec![]), "a");
        assert!(n.never_true && !n.never_false);
        let n = nullness(
            &Expr::Cmp(Operand::Every("a".into()), CmpOp::Eq, "x".into()),
            "a",
        );
        assert!(!n.never_true && !n.never_false);
    }

    #[test]
    fn every_needs_a_value_and_all_values_to_hold() {
        let e = engine();
        put(&e, "all", &[("k", "x"), ("k", "xy")]);
        put(&e, "some", &[("k", "x"), ("k", "z")]);
        put(&e, "none", &[("j", "x")]);
        assert_eq!(
            sel(&e, "select * from dom where every(k) like 'x%'"),
            ["all"]
        );
        assert_eq!(
            sel(&e, "select * from dom where not every(k) like 'x%'"),
            ["none", "some"]
        );
        assert_eq!(
            sel(&e, "select * from dom where every(k) in ('x', 'z', 'xy')"),
            ["all", "some"]
        );
    }

    /// A long value (left out of the value index) of every attribute the
    /// tests below compare.
    fn long_value() -> String {
        "n".repeat(INDEXED_VALUE_CHARS + 1)
    }

    /// Items `short` (value `n`) and `long` of attribute `a`, and what the
    /// range and `like` queries on `a` find.
    fn ranges_find_long_values(e: &Engine) {
        for text in [
            "select * from dom where a > 'm'",
            "select * from dom where a >= 'n' and a <= 'o'",
            "select * from dom where a between 'n' and 'nz'",
            "select * from dom where a like 'n%'",
            "select * from dom where every(a) < 'o'",
        ] {
            assert_eq!(sel(e, text), ["long", "short"], "{text}");
        }
        assert_eq!(
            sel(e, "select * from dom where a < 'n'"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn range_queries_find_values_too_long_for_the_value_index() {
        let e = engine();
        put(&e, "short", &[("a", "n")]);
        put(&e, "long", &[("a", &long_value())]);
        ranges_find_long_values(&e);
        assert!(long_names(&e.lock(), "dom").unwrap().contains("a"));
        // Still known after the long value is gone (it is only a hint).
        e.delete_attributes("dom", "long", &[], None).unwrap();
        assert!(long_names(&e.lock(), "dom").unwrap().contains("a"));
        e.delete_domain("dom").unwrap();
        e.create_domain("dom").unwrap();
        assert!(long_names(&e.lock(), "dom").unwrap().is_empty());
    }

    #[test]
    fn long_values_written_by_every_write_operation_are_noted() {
        let long = long_value();
        type Write = fn(&Engine);
        let writes: [(&str, Write); 4] = [
            (
                "apply",
                (|e: &Engine| {
                    e.apply(
                        "dom",
                        &[Change::AddValue {
                            item: "long".into(),
                            attr: "a".into(),
                            value: long_value(),
                        }],
                    )
                    .unwrap()
                }),
            ),
            (
                "put_attributes",
                (|e: &Engine| put(e, "long", &[("a", &long_value())])),
            ),
            (
                "batch_put",
                (|e: &Engine| {
                    e.batch_put(
                        "dom",
                        &[("long".into(), vec![pa("a", &long_value(), true)])],
                    )
                    .unwrap()
                }),
            ),
            (
                "put with replace",
                (|e: &Engine| {
                    put(e, "long", &[("a", "x")]);
                    e.put_attributes("dom", "long", &[pa("a", &long_value(), true)], None)
                        .unwrap()
                }),
            ),
        ];
        for (how, write) in writes {
            let e = engine();
            put(&e, "short", &[("a", "n")]);
            write(&e);
            assert_eq!(
                e.get("dom", "long", &[]).unwrap().unwrap()["a"],
                std::slice::from_ref(&long),
                "{how}"
            );
            ranges_find_long_values(&e);
        }
        // Short values, and long values of other names, note nothing more.
        let e = engine();
        put(
            &e,
            "x",
            &[("a", &"é".repeat(INDEXED_VALUE_CHARS)), ("b", &long)],
        );
        assert_eq!(
            long_names(&e.lock(), "dom").unwrap(),
            HashSet::from(["b".to_string()])
        );
    }

    #[test]
    fn a_file_from_before_long_names_gets_them_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            let schema = SCHEMA
                .split("CREATE TABLE IF NOT EXISTS long_names")
                .next()
                .unwrap();
            old.execute_batch(schema).unwrap();
            old.execute_batch(&format!(
                "INSERT INTO domains(id, name) VALUES (1, 'dom');
                 INSERT INTO items(id, domain_id, name) VALUES (1, 1, 'short'), (2, 1, 'long');
                 INSERT INTO attrs(item_id, name, value, domain_id)
                     VALUES (1, 'a', 'n', 1), (2, 'a', '{}', 1);",
                long_value()
            ))
            .unwrap();
        }
        {
            // An earlier version kept long_names with triggers, which cost
            // every insert a statement journal.
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE long_names(domain_id INTEGER NOT NULL, name TEXT NOT NULL,
                     PRIMARY KEY(domain_id, name)) WITHOUT ROWID;
                 CREATE TRIGGER attrs_insert_long AFTER INSERT ON attrs BEGIN SELECT 1; END;
                 CREATE TRIGGER attrs_update_long AFTER UPDATE ON attrs BEGIN SELECT 1; END;
                 DROP TABLE long_names;",
            )
            .unwrap();
        }
        let e = Engine::open(&path).unwrap();
        ranges_find_long_values(&e);
        let triggers: i64 = e
            .lock()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(triggers, 0);
        // Opening again leaves it be.
        drop(e);
        let e = Engine::open(&path).unwrap();
        assert_eq!(
            long_names(&e.lock(), "dom").unwrap(),
            HashSet::from(["a".to_string()])
        );
    }

    #[test]
    fn ranges_on_one_attribute_in_one_scope_are_one_prefilter() {
        let pre = |text: &str, long: &[&str]| {
            let (_, q) = parse(&format!("select * from dom where {text}")).unwrap();
            let long = long.iter().map(|s| s.to_string()).collect();
            prefilters(q.filter.as_ref().unwrap(), &long)
        };
        let bound = |v: &str, inclusive| Bound::new(v, inclusive);
        let range = |name: &str, lo, hi| Prefilter {
            name: name.into(),
            test: ValueTest::Range { lo, hi },
        };
        assert_eq!(
            pre("a >= 'm' and b = 'x' and every(a) < 'n'", &[]),
            [
                range("a", bound("m", true), bound("n", false)),
                Prefilter {
                    name: "b".into(),
                    test: ValueTest::In(vec!["x".into()])
                }
            ]
        );
        assert_eq!(
            pre(
                "a > 'm' and a >= 'm' and a between 'a' and 'p' and a <= 'o'",
                &[]
            ),
            [range("a", bound("m", false), bound("o", true))]
        );
        // Each side of an intersection binds its own value.
        assert_eq!(
            pre("a >= 'm' intersection a <= 'n'", &[]),
            [
                range("a", bound("m", true), None),
                range("a", None, bound("n", true))
            ]
        );
        // Not for names that may have values the index leaves out, nor
        // under `or` and `not`.
        assert_eq!(pre("a >= 'm' and a <= 'n'", &["a"]), []);
        assert_eq!(pre("a >= 'm' or b = 'x'", &[]), []);
        assert_eq!(pre("not a >= 'm'", &[]), []);

        let e = engine();
        put(&e, "apart", &[("a", "a"), ("a", "z")]);
        put(&e, "inside", &[("a", "mm")]);
        assert_eq!(
            sel(&e, "select * from dom where a >= 'm' intersection a <= 'n'"),
            ["apart", "inside"]
        );
        assert_eq!(
            sel(&e, "select * from dom where a >= 'm' and a <= 'n'"),
            ["inside"]
        );
    }

    #[test]
    fn like_prefixes() {
        assert_eq!(like_prefix("abc%"), "abc");
        assert_eq!(like_prefix("a\\%b%c"), "a%b");
        assert_eq!(like_prefix("%x"), "");
        assert_eq!(like_prefix("exact"), "exact");
    }

    #[test]
    fn a_file_streams_in_order_with_the_callback_free_to_use_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(&dir.path().join("e.sqlite")).unwrap();
        e.create_domain("dom").unwrap();
        // Six chunks of odd items, the last of three.
        let n = STREAM_CHUNK * 10 + 7;
        many(&e, n);
        let (_, q) = parse("select * from dom where odd = '1'").unwrap();
        let want: Vec<String> = (0..n)
            .filter(|i| i % 2 == 1)
            .map(|i| format!("i{i:05}"))
            .collect();
        for _ in 0..2 {
            let mut got = Vec::new();
            e.select_each("dom", &q, &mut |item| {
                // The engine is usable from the callback: a read, and a
                // whole Select of its own.
                let stored = e.get("dom", &item.name, &[]).unwrap().unwrap();
                assert_eq!(item.attrs, stored);
                if got.len() == STREAM_CHUNK {
                    assert_eq!(
                        sel(&e, "select * from dom where odd = '0'").len(),
                        n / 2 + 1
                    );
                }
                got.push(item.name);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, want);
        }
        // A callback that stops the stream stops it, with its error.
        let mut seen = 0;
        let err = e
            .select_each("dom", &q, &mut |_| {
                seen += 1;
                if seen == STREAM_CHUNK + 1 {
                    return Err(SdbError::internal("enough"));
                }
                Ok(())
            })
            .unwrap_err();
        assert_eq!((err.message.as_str(), seen), ("enough", STREAM_CHUNK + 1));
        // Items deleted meanwhile are left out, not handed over empty.
        let mut got = 0;
        e.select_each("dom", &q, &mut |item| {
            assert!(!item.attrs.is_empty(), "{}", item.name);
            if got == 0 {
                e.delete_attributes("dom", &format!("i{:05}", n - 2), &[], None)
                    .unwrap();
            }
            got += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want.len() - 1);
    }

    #[test]
    fn like_translation() {
        assert_eq!(like_to_glob("a%b"), "a*b");
        assert_eq!(like_to_glob("a\\%b*?["), "a%b[*][?][[]");
        assert_eq!(like_to_glob("\\\\%"), "\\*");
        assert_eq!(like_to_glob("end\\"), "end\\");
    }
}

/// The engine against a direct, naive evaluation of the same semantics on
/// random items and random queries.
#[cfg(test)]
mod model_tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const NAMES: [&str; 3] = ["a", "b", "c"];
    /// Longer than the value index holds (201 characters or more).
    const LONG: &str = "xyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy";
    const VALUES: [&str; 10] = ["", "x", "xy", "y%", "Y", "é", "a\\b", "*", "x*y", LONG];

    /// `like` by hand: `%` any run, `\` escapes, everything else literal.
    fn like(v: &str, pattern: &str) -> bool {
        let mut pieces: Vec<String> = vec![String::new()];
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => pieces.push(String::new()),
                '\\' => pieces
                    .last_mut()
                    .unwrap()
                    .push(chars.next().unwrap_or('\\')),
                c => pieces.last_mut().unwrap().push(c),
            }
        }
        if pieces.len() == 1 {
            return v == pieces[0];
        }
        let (first, last) = (&pieces[0], &pieces[pieces.len() - 1]);
        if !v.starts_with(first.as_str()) {
            return false;
        }
        let mut rest = &v[first.len()..];
        for middle in &pieces[1..pieces.len() - 1] {
            match rest.find(middle.as_str()) {
                Some(at) => rest = &rest[at + middle.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last.as_str())
    }

    fn cmp(v: &str, op: CmpOp, x: &str) -> bool {
        match op {
            CmpOp::Eq => v == x,
            CmpOp::Ne => v != x,
            CmpOp::Lt => v < x,
            CmpOp::Le => v <= x,
            CmpOp::Gt => v > x,
            CmpOp::Ge => v >= x,
            CmpOp::Like => like(v, x),
            CmpOp::NotLike => !like(v, x),
        }
    }

    /// A condition on one value.
    fn holds(e: &Expr, v: &str) -> bool {
        match e {
            Expr::Cmp(_, op, x) => cmp(v, *op, x),
            Expr::Between(_, lo, hi) => v >= lo.as_str() && v <= hi.as_str(),
            Expr::In(_, xs) => xs.iter().any(|x| x == v),
            _ => unreachable!("only value conditions"),
        }
    }

    fn matches(item: &Item, e: &Expr) -> bool {
        if let Expr::Intersection(a, b) = e {
            return matches(item, a) && matches(item, b);
        }
        let mut names = Vec::new();
        scope_attrs(e, &mut names);
        // Every choice of one value (or none) per attribute.
        let mut choices: Vec<BTreeMap<String, Option<String>>> = vec![BTreeMap::new()];
        for n in &names {
            let values: Vec<Option<String>> = match item.attrs.get(n) {
                Some(vs) if !vs.is_empty() => vs.iter().cloned().map(Some).collect(),
                _ => vec![None],
            };
            choices = choices
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(n.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        choices.iter().any(|c| eval(item, e, c) == Some(true))
    }

    /// SQL's three-valued logic: `None` is unknown.
    fn eval(item: &Item, e: &Expr, binding: &BTreeMap<String, Option<String>>) -> Option<bool> {
        let operand = |o: &Operand| -> Option<bool> {
            match o {
                Operand::ItemName => Some(holds(e, &item.name)),
                Operand::Attr(a) => binding[a].as_deref().map(|v| holds(e, v)),
                Operand::Every(a) => {
                    let vs = item.attrs.get(a).cloned().unwrap_or_default();
                    Some(!vs.is_empty() && vs.iter().all(|v| holds(e, v)))
                }
            }
        };
        match e {
            Expr::Cmp(o, _, _) | Expr::Between(o, _, _) | Expr::In(o, _) => operand(o),
            Expr::IsNull(o) | Expr::IsNotNull(o) => {
                let absent = match o {
                    Operand::ItemName => false,
                    Operand::Attr(a) => binding[a].is_none(),
                    Operand::Every(a) => item.attrs.get(a).map_or(true, |v| v.is_empty()),
                };
                Some(absent == matches!(e, Expr::IsNull(_)))
            }
            Expr::Not(x) => eval(item, x, binding).map(|b| !b),
            Expr::And(x, y) => match (eval(item, x, binding), eval(item, y, binding)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(x, y) => match (eval(item, x, binding), eval(item, y, binding)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::Intersection(..) => Some(matches(item, e)),
        }
    }

    fn items() -> impl Strategy<Value = Vec<Item>> {
        let attrs = prop::collection::btree_map(
            prop::sample::select(NAMES.to_vec()).prop_map(str::to_string),
            prop::collection::btree_set(prop::sample::select(VALUES.to_vec()), 1..4)
                .prop_map(|s| s.into_iter().map(str::to_string).collect::<Vec<_>>()),
            1..4,
        );
        prop::collection::vec(attrs, 1..12).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, attrs)| Item {
                    name: format!("{}{i}", ["p", "q", "x*"][i % 3]),
                    attrs,
                })
                .collect()
        })
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let name = prop::sample::select(NAMES.to_vec()).prop_map(str::to_string);
        let value = prop::sample::select(
            VALUES
                .iter()
                .chain(["x%", "%y", "%", "%\\%", "\\\\%", "*%", "q%"].iter())
                .copied()
                .collect::<Vec<_>>(),
        )
        .prop_map(str::to_string);
        let operand = prop_oneof![
            4 => name.clone().prop_map(Operand::Attr),
            2 => name.prop_map(Operand::Every),
            1 => Just(Operand::ItemName),
        ];
        let op = prop::sample::select(vec![
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
            CmpOp::Like,
            CmpOp::NotLike,
        ]);
        let leaf = prop_oneof![
            (operand.clone(), op, value.clone()).prop_map(|(o, op, v)| Expr::Cmp(o, op, v)),
            (operand.clone(), value.clone(), value.clone())
                .prop_map(|(o, a, b)| Expr::Between(o, a, b)),
            (operand.clone(), prop::collection::vec(value, 1..3)).prop_map(|(o, v)| Expr::In(o, v)),
            operand.clone().prop_map(Expr::IsNull),
            operand.prop_map(Expr::IsNotNull),
        ];
        leaf.prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
                (inner.clone(), inner)
                    .prop_map(|(a, b)| Expr::Intersection(Box::new(a), Box::new(b))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn engine_agrees_with_the_naive_evaluation(items in items(), e in expr()) {
            let engine = Engine::open_in_memory().unwrap();
            engine.create_domain("dom").unwrap();
            let changes: Vec<Change> = items
                .iter()
                .map(|i| Change::Put { item: i.name.clone(), attrs: i.attrs.clone(), remove: vec![] })
                .collect();
            engine.apply("dom", &changes).unwrap();
            let q = Select::all_where(e.clone());
            let mut got = Vec::new();
            engine.select_each("dom", &q, &mut |i| { got.push(i); Ok(()) }).unwrap();
            let want: Vec<&Item> = {
                let mut w: Vec<&Item> = items.iter().filter(|i| matches(i, &e)).collect();
                w.sort_by(|a, b| a.name.cmp(&b.name));
                w
            };
            prop_assert_eq!(
                got.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
                want.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
                "{}", crate::select::render("dom", &q)
            );
            // Items come back whole.
            for (g, w) in got.iter().zip(want) {
                prop_assert_eq!(&g.attrs, &w.attrs);
            }
            let names: BTreeSet<&str> = items.iter().map(|i| i.name.as_str()).collect();
            prop_assert_eq!(names.len(), items.len());
        }
    }

    #[test]
    fn the_naive_like_is_right() {
        assert!(like("x*y", "x*y"));
        assert!(like("x*y", "x%"));
        assert!(!like("xy", "x\\%"));
        assert!(like("x%", "x\\%"));
        assert!(like("a\\b", "a\\\\b"));
        assert!(like("", "%"));
        assert!(!like("ab", "%a"));
        assert!(like("aba", "%a"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("ab", "a%b%b"));
    }
}
