//! The write primitives of one transaction.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension};

use super::*;

/// The write primitives, inside one transaction, with their statements
/// prepared once. Items touched are checked at the end: emptied ones are
/// removed, overfull ones fail the whole transaction.
pub(super) struct Writer<'c> {
    pub(super) c: &'c Connection,
    pub(super) domain: i64,
    pub(super) find_item: rusqlite::Statement<'c>,
    pub(super) insert_item: rusqlite::Statement<'c>,
    pub(super) insert_value: rusqlite::Statement<'c>,
    pub(super) delete_name_st: rusqlite::Statement<'c>,
    pub(super) delete_value_st: rusqlite::Statement<'c>,
    pub(super) note_long_st: rusqlite::Statement<'c>,
    /// Attribute names noted in `long_names` by this transaction.
    pub(super) noted_long: HashSet<String>,
    /// Touched items: id -> name (for messages).
    pub(super) touched: HashMap<i64, String>,
    /// Items created in this transaction that have no values yet (nothing
    /// to delete in them).
    pub(super) fresh: HashSet<i64>,
    /// Items created in this transaction that only ever had values added,
    /// with how many: their pair count needs no query at the end.
    pub(super) added_only: HashMap<i64, usize>,
    /// Items whose writes leave the domain's change stamp as it is.
    pub(super) unstamped: &'c [String],
    /// Whether this transaction wrote an item that bumps the stamp.
    pub(super) stamped: bool,
}

impl<'c> Writer<'c> {
    pub(super) fn new(
        c: &'c Connection,
        domain: i64,
        unstamped: &'c [String],
    ) -> SdbResult<Writer<'c>> {
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
            unstamped,
            stamped: false,
        })
    }

    pub(super) fn existing(&mut self, item: &str) -> SdbResult<Option<i64>> {
        // Every write names its item here first (even one that finds
        // nothing to change: counted all the same).
        if !self.stamped && !self.unstamped.iter().any(|u| u == item) {
            self.stamped = true;
        }
        let id = self
            .find_item
            .query_row(params![self.domain, item], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.touched.insert(id, item.to_string());
        }
        Ok(id)
    }

    pub(super) fn ensure(&mut self, item: &str) -> SdbResult<i64> {
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

    pub(super) fn insert(&mut self, id: i64, name: &str, value: &str) -> SdbResult<()> {
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

    pub(super) fn delete_name(&mut self, id: i64, name: &str) -> SdbResult<()> {
        if !self.fresh.contains(&id) {
            self.delete_name_st.execute(params![id, name])?;
            self.added_only.remove(&id);
        }
        Ok(())
    }

    pub(super) fn delete_value(&mut self, id: i64, name: &str, value: &str) -> SdbResult<()> {
        self.added_only.remove(&id);
        self.delete_value_st.execute(params![id, name, value])?;
        Ok(())
    }

    pub(super) fn delete_item(&mut self, id: i64) -> SdbResult<()> {
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

    pub(super) fn edit(&mut self, edit: Edit<'_>) -> SdbResult<()> {
        match edit {
            Edit::Put {
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
            Edit::Delete { item } => {
                if let Some(id) = self.existing(item)? {
                    self.delete_item(id)?;
                }
            }
            Edit::AddValue { item, attr, value } => {
                validate_item_name(item)?;
                validate_pair(attr, Some(value))?;
                let id = self.ensure(item)?;
                self.insert(id, attr, value)?;
            }
            Edit::DeleteValue { item, attr, value } => {
                if let Some(id) = self.existing(item)? {
                    self.delete_value(id, attr, value)?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn put(&mut self, item: &str, attrs: &[PutAttr]) -> SdbResult<()> {
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

    pub(super) fn delete(&mut self, item: &str, attrs: &[DeleteAttr]) -> SdbResult<()> {
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

    /// Removes emptied items, enforces the per-item pair limit and bumps
    /// the domain's change stamp, all in the transaction of the writes.
    pub(super) fn finish(self) -> SdbResult<()> {
        if self.stamped {
            self.c
                .prepare_cached(BUMP_STAMP)?
                .execute(params![self.domain])?;
        }
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
