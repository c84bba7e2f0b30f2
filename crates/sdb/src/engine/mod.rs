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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::error::{SdbError, SdbResult};
use crate::item::{Attrs, DeleteAttr, DomainMetadata, Edit, Expected, Item, PutAttr};
use crate::limits::{
    DEFAULT_SELECT_LIMIT, MAX_BATCH_ITEMS, MAX_NAME_BYTES, MAX_PAIRS_PER_ITEM, MAX_RESPONSE_BYTES,
    MAX_SELECT_LIMIT, MAX_SUBMITTED_ATTRIBUTES, MAX_VALUE_BYTES,
};
use crate::select::{render, CmpOp, Expr, Operand, Order, Output, Select};

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

/// Items with multi-valued string attributes in named domains, on SQLite.
pub struct Engine {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// The rest of recent paged Selects, so a page continues where the
    /// last one stopped instead of running the query again. Locked only
    /// while `conn` is.
    pages: Mutex<Vec<Remainder>>,
    /// A second, read-only connection to the file, opened on first use:
    /// [`Engine::select_each`] reads on it, on a thread of its own, so a
    /// large read uses two cores and is one read transaction.
    reader: Mutex<Option<Connection>>,
    /// Items whose writes do not bump their domain's change stamp (see
    /// [`Engine::set_unstamped`]).
    unstamped: Vec<String>,
}

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
            unstamped: Vec::new(),
        })
    }

    /// Names items whose writes leave the change stamp as it is: a
    /// caller's bookkeeping about the rest of the data (e.g. a record of
    /// the stamp itself), which would otherwise change the stamp it
    /// records. Every other write bumps it.
    pub fn set_unstamped(&mut self, items: &[&str]) {
        self.unstamped = items.iter().map(|s| s.to_string()).collect();
    }

    /// The change stamp of `domain`, `EPOCH-N`: N counts the writes to the
    /// domain, bumped in the transaction of each (every put, delete,
    /// conditional put and batch, and the domain's creation and deletion)
    /// except writes only to the items named by [`Engine::set_unstamped`];
    /// EPOCH is drawn at random when the count starts. It never goes back
    /// and never repeats (a deleted domain's count is kept), so an equal
    /// stamp means nothing was written since. `None` until the first write
    /// counted (a file from before stamps, until its first write).
    pub fn change_stamp(&self, domain: &str) -> SdbResult<Option<String>> {
        let conn = self.lock();
        let stamp = conn
            .query_row(
                "SELECT epoch || '-' || version FROM stamps WHERE domain = ?1",
                params![domain],
                |r| r.get(0),
            )
            .optional()?;
        Ok(stamp)
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
        c.pragma_update(None, "cache_size", STREAM_CACHE_KIB).ok()?;
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
            let created = c.execute(
                "INSERT OR IGNORE INTO domains(name) VALUES (?1)",
                params![domain],
            )?;
            if created > 0 {
                c.execute(BUMP_STAMP_BY_NAME, params![domain])?;
            }
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
                c.execute(BUMP_STAMP_BY_NAME, params![domain])?;
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

    /// Applies the edits in order, in one transaction: all of them or none.
    pub fn apply<'a>(
        &self,
        domain: &str,
        edits: impl IntoIterator<Item = Edit<'a>>,
    ) -> SdbResult<()> {
        self.write(|c| {
            let d = domain_id(c, domain)?;
            let mut w = Writer::new(c, d, &self.unstamped)?;
            for edit in edits {
                w.edit(edit)?;
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
            let mut w = Writer::new(c, d, &self.unstamped)?;
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
            let mut w = Writer::new(c, domain_id(c, domain)?, &self.unstamped)?;
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
            let mut w = Writer::new(c, d, &self.unstamped)?;
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
            let mut w = Writer::new(c, domain_id(c, domain)?, &self.unstamped)?;
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
    /// Unlike following [`Engine::select`]'s pages, this runs the query once,
    /// and memory does not grow with the result. On a file, a thread of its
    /// own steps one statement listing the matching items in order (ids and
    /// names; a sorted result is sorted by SQLite, which spills to a
    /// temporary file past the page cache's size) on the second connection,
    /// and after every `STREAM_CHUNK` (1000) matches reads their attributes
    /// there too, in one pass over the attribute table's key, while the
    /// caller works on the chunk before: reading and the caller's work share
    /// two cores, and at most three chunks are held. The listing and the
    /// reads run in one read transaction: the stream is a snapshot of the
    /// domain as it was when it started, whatever is written meanwhile (by
    /// `each` too; WAL mode lets writers go on).
    ///
    /// A database in memory has one connection, which `each` may need: its
    /// matches are listed at once (memory that a database in memory already
    /// spends on its items many times over), then read a chunk at a time;
    /// items deleted meanwhile are left out, so there it is not a snapshot.
    pub fn select_each(
        &self,
        domain: &str,
        query: &Select,
        each: &mut dyn FnMut(Item) -> SdbResult<()>,
    ) -> SdbResult<()> {
        self.stream(domain, query, STREAM_CHUNK, each)
    }

    /// [`Engine::select_each`] in chunks of `chunk` items.
    fn stream(
        &self,
        domain: &str,
        query: &Select,
        chunk: usize,
        each: &mut dyn FnMut(Item) -> SdbResult<()>,
    ) -> SdbResult<()> {
        let (plan, d) = {
            let conn = self.lock();
            let plan = Plan::new(
                domain,
                query,
                PageLimit::STREAM,
                &long_names(&conn, domain)?,
            )?;
            (plan, domain_id(&conn, domain)?)
        };
        if query.output == Output::Count {
            let n = plan.count(&self.lock(), d)?;
            return each(count_item(n));
        }
        let Some(second) = self.take_reader() else {
            let mut found = plan.matches(&self.lock(), d, None, None)?.into_iter();
            loop {
                let listed: Vec<Match> = found.by_ref().take(chunk).collect();
                if listed.is_empty() {
                    return Ok(());
                }
                let attrs = plan.read_attrs(&self.lock(), listed.iter().map(|m| m.id))?;
                hand_out(&plan, listed, attrs, each)?;
            }
        };
        let (result, second) = std::thread::scope(|s| {
            // Room for one chunk in the channel: the reader is at most
            // two chunks ahead of the one being handed out.
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let plan = &plan;
            let reader = s.spawn(move || {
                let read = read_chunks(plan, &second, d, chunk, &tx);
                if let Err(e) = read {
                    // Nobody listens any more if the caller stopped.
                    let _ = tx.send(Err(e));
                }
                second
            });
            let mut hand_all = || -> SdbResult<()> {
                for read in &rx {
                    let (chunk, attrs) = read?;
                    hand_out(plan, chunk, attrs, each)?;
                }
                Ok(())
            };
            let result = hand_all();
            drop(rx); // stops the reader if we stopped early
            (
                result,
                reader.join().expect("the reading thread does not panic"),
            )
        });
        self.return_reader(second);
        result
    }
}

/// The page cache of the second connection, in KiB (negative in the
/// pragma). It also bounds the memory SQLite sorts a stream's matches in
/// before it spills the sort to a temporary file, so the stream's memory
/// does not grow with a sorted result. Its reads go by item, all over the
/// file, so a larger cache would hit little more often.
const STREAM_CACHE_KIB: i64 = -4096;

/// A chunk of matches with their attributes, or why the reading stopped.
type Chunk = SdbResult<(Vec<Match>, HashMap<i64, Attrs>)>;

/// Lists the matches of `plan` on `c` and reads their attributes there,
/// `chunk` items at a time, sending each chunk to `tx` as it is read.
/// Stops quietly when nobody receives any more.
fn read_chunks(
    plan: &Plan,
    c: &Connection,
    domain: i64,
    chunk: usize,
    tx: &std::sync::mpsc::SyncSender<Chunk>,
) -> SdbResult<()> {
    // One read transaction for the listing and every read: a snapshot.
    // (Dropped, it ends: nothing was written.)
    let _snapshot = rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Deferred)?;
    let mut listed: Vec<Match> = Vec::with_capacity(chunk);
    // Whether the chunk was received: the receiver is gone when the
    // caller stopped.
    let send = |listed: Vec<Match>| -> SdbResult<bool> {
        let attrs = plan.read_attrs(c, listed.iter().map(|m| m.id))?;
        Ok(tx.send(Ok((listed, attrs))).is_ok())
    };
    let mut gone = false;
    let listing = plan.each_match(c, domain, None, None, &mut |m| {
        // The sort value only ordered the statement's rows.
        listed.push(Match { key: None, ..m });
        if listed.len() == chunk {
            let full = std::mem::replace(&mut listed, Vec::with_capacity(chunk));
            if !send(full)? {
                gone = true;
                return Err(SdbError::internal("nobody receives the stream"));
            }
        }
        Ok(())
    });
    match listing {
        Err(_) if gone => Ok(()),
        Err(e) => Err(e),
        Ok(()) if listed.is_empty() => Ok(()),
        Ok(()) => send(listed).map(|_| ()),
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
            // Deleted since the matches were listed (in memory only).
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
const STREAM_CHUNK: usize = 1000;

fn count_item(n: u64) -> Item {
    Item {
        name: "Domain".to_string(),
        attrs: Attrs::from([("Count".to_string(), vec![n.to_string()])]),
    }
}

mod plan;
mod prefilter;
mod read;
mod schema;
mod sql;
mod validate;
mod write;

use plan::*;
use prefilter::*;
use read::*;
use schema::*;
use sql::*;
pub use validate::validate_domain_name;
use validate::*;
use write::*;

#[cfg(test)]
mod tests;
