//! A Select compiled to a plan: which statement finds the matches, how
//! pages continue (tokens, kept remainders), and the 1 MB cut.

use std::collections::{HashMap, HashSet};

use rusqlite::types::Value;
use rusqlite::Connection;

use super::*;

/// Changes the connection can see: its own writes, and (SQLite's
/// `data_version`) commits by other connections to the same file.
pub(super) fn data_version(c: &Connection) -> SdbResult<(u64, i64)> {
    let other: i64 = c.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    Ok((c.total_changes(), other))
}

/// How many paged Select results the engine keeps for their next page.
pub(super) const KEPT_RESULTS: usize = 4;
/// A result longer than this is not kept (its pages run the query again).
pub(super) const MAX_KEPT_MATCHES: usize = 1_000_000;

/// What remains of a paged Select after a page.
pub(super) struct Remainder {
    pub(super) domain: i64,
    /// The query's hash (as in its tokens).
    pub(super) hash: String,
    /// [`data_version`] when it was computed.
    pub(super) version: (u64, i64),
    /// The sort value and name of the last item handed out.
    pub(super) after: (Option<String>, String),
    pub(super) matches: std::collections::VecDeque<Match>,
}

/// Where a page starts: after this (sort key, item name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Cursor {
    /// Hash of the query the token belongs to.
    pub(super) h: String,
    /// The last item's sort value (with `order by` an attribute).
    pub(super) k: Option<String>,
    /// The last item's name.
    pub(super) n: String,
}

/// A Select compiled to SQL for one domain.
pub(super) struct Plan<'q> {
    pub(super) query: &'q Select,
    /// Items per page; `None` for an unlimited count.
    pub(super) page_items: Option<u32>,
    pub(super) max_bytes: usize,
    /// Conditions of the filter the value index answers.
    pub(super) prefilters: Vec<Prefilter>,
    /// The direction pages run in.
    pub(super) order: Order,
    /// With `order by` an attribute, its name (ties, and every other query,
    /// go by item name).
    pub(super) key_attr: Option<String>,
    pub(super) hash: String,
}

/// Where a statement starts looking for matching items.
#[derive(Debug, Clone, Copy)]
pub(super) enum Drive<'p> {
    /// The domain's items in name order, so that a `LIMIT` stops early;
    /// every prefilter is a membership test that rejects items cheaply.
    Scan,
    /// The items one prefilter finds in the value index (then sorted).
    From(&'p Prefilter),
}

/// A plan's SQL for one [`Drive`]: the `WHERE` text over `items i`, the sort
/// value's SQL, and their parameters (?1 is the domain).
pub(super) struct PlanSql {
    pub(super) filter: String,
    pub(super) key: Option<String>,
    pub(super) params: Vec<Value>,
}

/// How many value-index rows a prefilter's count looks at, at most, when
/// choosing which one to start from.
pub(super) const PREFILTER_PROBE_ROWS: u64 = 10_000;

impl<'q> Plan<'q> {
    /// `long` holds the domain's attribute names that may have values the
    /// value index leaves out (see [`long_names`]).
    pub(super) fn new(
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
    pub(super) fn sql(&self, drive: Drive<'_>, domain: i64) -> PlanSql {
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
    pub(super) fn whole_result_drive(&self, c: &Connection, domain: i64) -> SdbResult<Drive<'_>> {
        let (first, rest) = match self.prefilters.split_first() {
            None => return Ok(Drive::Scan),
            Some((first, [])) => return Ok(Drive::From(first)),
            Some(split) => split,
        };
        let mut best = (
            count_prefilter_rows(c, domain, first, PREFILTER_PROBE_ROWS)?,
            first,
        );
        for pre in rest {
            let n = count_prefilter_rows(c, domain, pre, best.0)?;
            if n < best.0 {
                best = (n, pre);
            }
        }
        Ok(Drive::From(best.1))
    }

    pub(super) fn decode_token(&self, token: &str) -> SdbResult<Cursor> {
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

    pub(super) fn encode_token(&self, key: Option<String>, name: String) -> String {
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
    pub(super) fn matches_sql(
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
    pub(super) fn count(&self, c: &Connection, domain: i64) -> SdbResult<u64> {
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
    pub(super) fn matches(
        &self,
        c: &Connection,
        domain: i64,
        after: Option<&Cursor>,
        limit: Option<u64>,
    ) -> SdbResult<Vec<Match>> {
        let mut found = Vec::new();
        self.each_match(c, domain, after, limit, &mut |m| {
            found.push(m);
            Ok(())
        })?;
        Ok(found)
    }

    /// [`Plan::matches`], handing each match to `each` as the statement
    /// yields it. `each` may read on `c` meanwhile: those reads are part of
    /// the statement's read transaction, so they see what it sees.
    pub(super) fn each_match(
        &self,
        c: &Connection,
        domain: i64,
        after: Option<&Cursor>,
        limit: Option<u64>,
        each: &mut dyn FnMut(Match) -> SdbResult<()>,
    ) -> SdbResult<()> {
        let drive = match limit {
            Some(_) => Drive::Scan,
            None => self.whole_result_drive(c, domain)?,
        };
        let plan = self.sql(drive, domain);
        let mut params = plan.params.clone();
        let sql = self.matches_sql(&plan, after, &mut params, limit);
        let mut st = c.prepare_cached(&sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(r) = rows.next()? {
            each(Match {
                id: r.get(0)?,
                name: r.get(1)?,
                key: r.get(2)?,
            })?;
        }
        Ok(())
    }

    /// The output attributes of the items `ids`, by item id.
    pub(super) fn read_attrs(
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
    pub(super) fn run(
        &self,
        c: &Connection,
        domain: i64,
        after: Option<&Cursor>,
    ) -> SdbResult<Page> {
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
    pub(super) fn page_of(
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

    pub(super) fn finish_page(
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
pub(super) struct PageOut {
    pub(super) page: Page,
    pub(super) last: Option<(Option<String>, String)>,
}

/// A matching item: its id, name and sort value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Match {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) key: Option<String>,
}
