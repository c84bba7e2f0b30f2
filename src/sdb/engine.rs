//! SimpleDB's semantics on one SQLite file: domains of items with
//! multi-valued string attributes, SimpleDB's write operations and limits,
//! and Select evaluated by compiling the typed [`Select`] to SQL with bound
//! parameters. The embedded metadata store and `sdb-local` both use it, so
//! they cannot drift apart.
//!
//! Schema: `domains(id, name)`, `items(id, domain_id, name)` and
//! `attrs(item_id, name, value, domain_id)` clustered on
//! `(item_id, name, value)` (an item's attributes are read in one range) with
//! a second index on `(domain_id, name, value)` for lookups by value. An item
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

    /// For callers that visit every page anyway: the largest pages SimpleDB
    /// allows, whatever the query's `limit`.
    pub const STREAM: PageLimit = PageLimit {
        default_items: MAX_SELECT_LIMIT,
        max_items: MAX_SELECT_LIMIT,
        max_bytes: MAX_RESPONSE_BYTES,
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
CREATE INDEX IF NOT EXISTS attrs_by_value ON attrs(domain_id, name, value);
";

impl Engine {
    /// Opens (creating if needed) the SQLite file at `path`, in WAL mode so
    /// readers do not block the writer.
    pub fn open(path: &Path) -> SdbResult<Engine> {
        let conn = Connection::open(path)
            .map_err(|e| SdbError::internal(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Engine::setup(conn, Some(path.to_path_buf()))
    }

    /// A private database in memory (sdb-local's default, and tests).
    pub fn open_in_memory() -> SdbResult<Engine> {
        Engine::setup(Connection::open_in_memory()?, None)
    }

    fn setup(conn: Connection, path: Option<PathBuf>) -> SdbResult<Engine> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(SCHEMA)?;
        Ok(Engine {
            conn: Mutex::new(conn),
            path,
        })
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
            let mut w = Writer::new(c, d);
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
            let mut w = Writer::new(c, d);
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
            let mut w = Writer::new(c, domain_id(c, domain)?);
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
            let mut w = Writer::new(c, d);
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
            let mut w = Writer::new(c, domain_id(c, domain)?);
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
        let plan = Plan::new(domain, query, page)?;
        let after = next_token.map(|t| plan.decode_token(t)).transpose()?;
        let conn = self.lock();
        let d = domain_id(&conn, domain)?;
        plan.run(&conn, d, after.as_ref())
    }

    /// Runs a Select over every page, handing each item to `each` (the
    /// database is not locked while `each` runs). `Output::Count` yields one
    /// item with the total.
    pub fn select_each(
        &self,
        domain: &str,
        query: &Select,
        each: &mut dyn FnMut(Item) -> SdbResult<()>,
    ) -> SdbResult<()> {
        let mut token: Option<String> = None;
        let mut total: u64 = 0;
        loop {
            let page = self.select(domain, query, true, token.as_deref(), PageLimit::STREAM)?;
            for item in page.items {
                if query.output == Output::Count {
                    total += count_of(&item);
                } else {
                    each(item)?;
                }
            }
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if query.output == Output::Count {
            each(count_item(total))?;
        }
        Ok(())
    }
}

fn count_item(n: u64) -> Item {
    Item {
        name: "Domain".to_string(),
        attrs: Attrs::from([("Count".to_string(), vec![n.to_string()])]),
    }
}

fn count_of(item: &Item) -> u64 {
    item.attrs
        .get("Count")
        .and_then(|v| v.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
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
    // XML cannot carry these, so SimpleDB refuses them.
    if s.chars().any(|c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
    }) {
        return Err(SdbError::invalid_parameter(format!(
            "Value for parameter {what} is invalid: it contains a character XML cannot carry"
        )));
    }
    Ok(())
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

/// The write primitives, inside one transaction. Items touched are checked
/// at the end: emptied ones are removed, overfull ones fail the whole
/// transaction.
struct Writer<'c> {
    c: &'c Connection,
    domain: i64,
    /// Touched items: id -> name (for messages).
    touched: HashMap<i64, String>,
    /// Items created in this transaction (nothing to delete in them yet).
    fresh: HashSet<i64>,
}

impl<'c> Writer<'c> {
    fn new(c: &'c Connection, domain: i64) -> Writer<'c> {
        Writer {
            c,
            domain,
            touched: HashMap::new(),
            fresh: HashSet::new(),
        }
    }

    fn existing(&mut self, item: &str) -> SdbResult<Option<i64>> {
        let id = find_item(self.c, self.domain, item)?;
        if let Some(id) = id {
            self.touched.insert(id, item.to_string());
        }
        Ok(id)
    }

    fn ensure(&mut self, item: &str) -> SdbResult<i64> {
        if let Some(id) = self.existing(item)? {
            return Ok(id);
        }
        let mut st = self
            .c
            .prepare_cached("INSERT INTO items(domain_id, name) VALUES (?1, ?2)")?;
        st.execute(params![self.domain, item])?;
        let id = self.c.last_insert_rowid();
        self.fresh.insert(id);
        self.touched.insert(id, item.to_string());
        Ok(id)
    }

    fn insert(&mut self, id: i64, name: &str, value: &str) -> SdbResult<()> {
        let mut st = self.c.prepare_cached(
            "INSERT OR IGNORE INTO attrs(item_id, name, value, domain_id) VALUES (?1, ?2, ?3, ?4)",
        )?;
        st.execute(params![id, name, value, self.domain])?;
        // From now on the item has values a later change may need to delete.
        self.fresh.remove(&id);
        Ok(())
    }

    fn delete_name(&self, id: i64, name: &str) -> SdbResult<()> {
        if self.fresh.contains(&id) {
            return Ok(());
        }
        let mut st = self
            .c
            .prepare_cached("DELETE FROM attrs WHERE item_id = ?1 AND name = ?2")?;
        st.execute(params![id, name])?;
        Ok(())
    }

    fn delete_value(&self, id: i64, name: &str, value: &str) -> SdbResult<()> {
        let mut st = self
            .c
            .prepare_cached("DELETE FROM attrs WHERE item_id = ?1 AND name = ?2 AND value = ?3")?;
        st.execute(params![id, name, value])?;
        Ok(())
    }

    fn delete_item(&mut self, id: i64) -> SdbResult<()> {
        let mut st = self
            .c
            .prepare_cached("DELETE FROM attrs WHERE item_id = ?1")?;
        st.execute(params![id])?;
        let mut st = self.c.prepare_cached("DELETE FROM items WHERE id = ?1")?;
        st.execute(params![id])?;
        self.touched.remove(&id);
        self.fresh.remove(&id);
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
    /// `WHERE` text over `items i` and its parameters (?1 is the domain).
    filter: String,
    params: Vec<Value>,
    /// SQL of the sort value with `order by` an attribute, and the order.
    sort: Option<(String, Order)>,
    hash: String,
}

impl<'q> Plan<'q> {
    fn new(domain: &str, query: &'q Select, page: PageLimit) -> SdbResult<Plan<'q>> {
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
        let mut sql = SqlBuilder::new();
        let mut filter = String::from("i.domain_id = ?1");
        if let Some(e) = &query.filter {
            filter.push_str(" AND ");
            filter.push_str(&sql.item_pred(e));
            for pre in prefilters(e) {
                filter.push_str(" AND ");
                filter.push_str(&sql.prefilter(&pre));
            }
        }
        let sort = match &query.order_by {
            None | Some((Operand::ItemName, Order::Asc)) => None,
            Some((Operand::ItemName, Order::Desc)) => Some(("i.name".to_string(), Order::Desc)),
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
                let agg = if *order == Order::Asc { "min" } else { "max" };
                let p = sql.bind(a.as_str());
                let key = format!(
                    "(SELECT {agg}(s.value) FROM attrs s WHERE s.item_id = i.id AND s.name = {p})"
                );
                filter.push_str(&format!(" AND {key} IS NOT NULL"));
                Some((key, *order))
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
            filter,
            params: sql.params,
            sort,
            hash: hex::encode(&digest[..12]),
        })
    }

    fn decode_token(&self, token: &str) -> SdbResult<Cursor> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| SdbError::invalid_next_token())?;
        let cursor: Cursor =
            serde_json::from_slice(&bytes).map_err(|_| SdbError::invalid_next_token())?;
        if cursor.h != self.hash || cursor.k.is_some() != self.has_key() {
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

    /// The sort key is stored in tokens only when it is an attribute value.
    fn has_key(&self) -> bool {
        matches!(self.sort, Some((ref k, _)) if k != "i.name")
    }

    /// The full SQL of a page: item ids, names, and sort values, in order.
    fn page_sql(&self, after: Option<&Cursor>, params: &mut Vec<Value>) -> String {
        let key = match &self.sort {
            Some((k, _)) if self.has_key() => k.clone(),
            _ => "NULL".to_string(),
        };
        let desc = matches!(self.sort, Some((_, Order::Desc)));
        let mut sql = format!(
            "SELECT i.id, i.name, {key} FROM items i WHERE {}",
            self.filter
        );
        if let Some(c) = after {
            let cmp = if desc { "<" } else { ">" };
            params.push(Value::Text(c.n.clone()));
            let pn = format!("?{}", params.len());
            match &c.k {
                Some(k) if self.has_key() => {
                    params.push(Value::Text(k.clone()));
                    let pk = format!("?{}", params.len());
                    sql.push_str(&format!(" AND ({key}, i.name) {cmp} ({pk}, {pn})"));
                }
                _ => sql.push_str(&format!(" AND i.name {cmp} {pn}")),
            }
        }
        let dir = if desc { "DESC" } else { "ASC" };
        if self.has_key() {
            sql.push_str(&format!(" ORDER BY 3 {dir}, 2 {dir}"));
        } else {
            sql.push_str(&format!(" ORDER BY 2 {dir}"));
        }
        if let Some(n) = self.page_items {
            // One more than a page tells whether another page follows.
            sql.push_str(&format!(" LIMIT {}", n as u64 + 1));
        }
        sql
    }

    fn run(&self, c: &Connection, domain: i64, after: Option<&Cursor>) -> SdbResult<Page> {
        let mut params = self.params.clone();
        params[0] = Value::Integer(domain);
        if self.query.output == Output::Count && after.is_none() && self.page_items.is_none() {
            let sql = format!("SELECT count(*) FROM items i WHERE {}", self.filter);
            let n: i64 = c
                .prepare_cached(&sql)?
                .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
            return Ok(Page {
                items: vec![count_item(n as u64)],
                next_token: None,
            });
        }
        let sql = self.page_sql(after, &mut params);
        let mut st = c.prepare_cached(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        let mut found: Vec<(i64, String, Option<String>)> = Vec::new();
        while let Some(r) = rows.next()? {
            found.push((r.get(0)?, r.get(1)?, r.get(2)?));
        }
        drop(rows);
        drop(st);
        let limit = self.page_items.map(|n| n as usize).unwrap_or(usize::MAX);
        let mut more = found.len() > limit;
        found.truncate(limit);
        if self.query.output == Output::Count {
            let next_token = match (more, found.last()) {
                (true, Some((_, n, k))) => Some(self.encode_token(k.clone(), n.clone())),
                _ => None,
            };
            return Ok(Page {
                items: vec![count_item(found.len() as u64)],
                next_token,
            });
        }
        let mut items = Vec::with_capacity(found.len());
        let mut bytes = 0usize;
        let mut last: Option<(Option<String>, String)> = None;
        for (id, name, key) in found.iter() {
            let attrs = match &self.query.output {
                Output::ItemName => Attrs::new(),
                Output::All => read_attrs(c, *id)?,
                Output::Attrs(names) => {
                    let mut a = read_attrs(c, *id)?;
                    a.retain(|k, _| names.iter().any(|n| n == k));
                    a
                }
                Output::Count => unreachable!("counted above"),
            };
            let size = response_size(name, &attrs);
            if !items.is_empty() && bytes + size > self.max_bytes {
                more = true;
                break;
            }
            bytes += size;
            items.push(Item {
                name: name.clone(),
                attrs,
            });
            last = Some((key.clone(), name.clone()));
        }
        let next_token = match (more, last) {
            (true, Some((k, n))) => Some(self.encode_token(k, n)),
            _ => None,
        };
        Ok(Page { items, next_token })
    }
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

/// A condition every matching item must meet, derived from a top-level
/// conjunct, that SQLite can answer from the value index. Redundant with the
/// exact predicate; it only lets the planner start from few items.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prefilter {
    /// The item has a value of `attr` in `values`.
    AnyIn(String, Vec<String>),
    /// The item has a value of `attr` in `[lo, hi)` (`hi` absent: no bound).
    Range(String, String, Option<String>),
    /// The item has a value of `attr` in `[lo, hi]`.
    Between(String, String, String),
}

fn prefilters(e: &Expr) -> Vec<Prefilter> {
    let mut out = Vec::new();
    collect_prefilters(e, &mut out);
    out
}

fn collect_prefilters(e: &Expr, out: &mut Vec<Prefilter>) {
    let attr = |o: &Operand| match o {
        Operand::Attr(a) | Operand::Every(a) => Some(a.clone()),
        Operand::ItemName => None,
    };
    match e {
        Expr::And(a, b) | Expr::Intersection(a, b) => {
            collect_prefilters(a, out);
            collect_prefilters(b, out);
        }
        Expr::Cmp(o, CmpOp::Eq, v) => {
            if let Some(a) = attr(o) {
                out.push(Prefilter::AnyIn(a, vec![v.clone()]));
            }
        }
        Expr::In(o, vs) if !vs.is_empty() => {
            if let Some(a) = attr(o) {
                out.push(Prefilter::AnyIn(a, vs.clone()));
            }
        }
        Expr::Between(o, lo, hi) => {
            if let Some(a) = attr(o) {
                out.push(Prefilter::Between(a, lo.clone(), hi.clone()));
            }
        }
        Expr::Cmp(o, CmpOp::Like, pattern) => {
            let prefix = like_prefix(pattern);
            if let (Some(a), false) = (attr(o), prefix.is_empty()) {
                let hi = prefix_upper_bound(&prefix);
                out.push(Prefilter::Range(a, prefix, hi));
            }
        }
        _ => {}
    }
}

/// The literal text a `like` pattern starts with (before its first `%`).
pub fn like_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => break,
            '\\' => match chars.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// The least string above every string starting with `prefix`: its last
/// character incremented (UTF-8 byte order follows code point order).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
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
        // values in turn, or one NULL when the item has none.
        let mut joins = String::new();
        let mut map = HashMap::new();
        for name in names {
            let alias = self.alias("b");
            let p = self.bind(&name);
            joins.push_str(&format!(
                " LEFT JOIN attrs {alias} ON {alias}.item_id = i.id AND {alias}.name = {p}"
            ));
            map.insert(name, format!("{alias}.value"));
        }
        let cond = self.value_pred(e, &map);
        format!("EXISTS (SELECT 1 FROM (SELECT 1){joins} WHERE {cond})")
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
                let e1 = self.alias("e");
                let p1 = self.bind(a);
                let e2 = self.alias("e");
                let p2 = self.bind(a);
                let c = cond(self, &format!("{e2}.value"));
                format!(
                    "(EXISTS (SELECT 1 FROM attrs {e1} WHERE {e1}.item_id = i.id AND {e1}.name = {p1}) \
                     AND NOT EXISTS (SELECT 1 FROM attrs {e2} WHERE {e2}.item_id = i.id AND {e2}.name = {p2} AND NOT {c}))"
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

    fn prefilter(&mut self, pre: &Prefilter) -> String {
        let (attr, cond) = match pre {
            Prefilter::AnyIn(a, vs) => {
                let ps: Vec<String> = vs.iter().map(|v| self.bind(v)).collect();
                (a, format!("f.value IN ({})", ps.join(", ")))
            }
            Prefilter::Range(a, lo, hi) => {
                let lo = self.bind(lo);
                let hi = match hi {
                    Some(h) => format!(" AND f.value < {}", self.bind(h)),
                    None => String::new(),
                };
                (a, format!("f.value >= {lo}{hi}"))
            }
            Prefilter::Between(a, lo, hi) => {
                let lo = self.bind(lo);
                let hi = self.bind(hi);
                (a, format!("f.value >= {lo} AND f.value <= {hi}"))
            }
        };
        let p = self.bind(attr);
        format!(
            "i.id IN (SELECT f.item_id FROM attrs f WHERE f.domain_id = ?1 AND f.name = {p} AND {cond})"
        )
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
