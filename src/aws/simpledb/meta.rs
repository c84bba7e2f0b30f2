//! The [`MetaStore`] on the SimpleDB client: changes planned into
//! SimpleDB calls, Selects fitted to its limits and merged.

use super::*;

/// One SimpleDB call of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    BatchPut(Vec<PutItem>),
    Put(PutItem),
    /// A pair without a value deletes an attribute, with one that value.
    DeleteAttrs {
        item: String,
        pairs: Vec<DeleteAttr>,
    },
    BatchDelete(Vec<String>),
}

/// Turns changes into SimpleDB calls, in order: runs of Puts become
/// BatchPutAttributes of at most 25 distinct items and 900 KB (an item seen
/// again starts a new batch, so later changes still win); each Put's
/// `remove` list and any pairs beyond 256 follow their batch; runs of
/// Deletes become BatchDeleteAttributes; AddValue is PutAttributes without
/// Replace and DeleteValue a DeleteAttributes of that value, so concurrent
/// writers of one multi-valued attribute both take effect.
pub fn plan(changes: &[Change]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut puts = PutBatcher::default();
    let mut deletes: Vec<String> = Vec::new();
    for change in changes {
        if !matches!(change, Change::Put { .. }) {
            puts.flush(&mut ops);
        }
        if !matches!(change, Change::Delete { .. }) {
            flush_deletes(&mut deletes, &mut ops);
        }
        match change {
            Change::Put {
                item,
                attrs,
                remove,
            } => puts.add(item, attrs, remove, &mut ops),
            Change::Delete { item } => {
                if !deletes.contains(item) {
                    if deletes.len() == MAX_BATCH_ITEMS {
                        flush_deletes(&mut deletes, &mut ops);
                    }
                    deletes.push(item.clone());
                }
            }
            Change::AddValue { item, attr, value } => ops.push(Op::Put(PutItem {
                item: item.clone(),
                pairs: vec![PutAttr {
                    name: attr.clone(),
                    value: value.clone(),
                    replace: false,
                }],
            })),
            Change::DeleteValue { item, attr, value } => ops.push(Op::DeleteAttrs {
                item: item.clone(),
                pairs: vec![DeleteAttr {
                    name: attr.clone(),
                    value: Some(value.clone()),
                }],
            }),
        }
    }
    puts.flush(&mut ops);
    flush_deletes(&mut deletes, &mut ops);
    ops
}

pub(super) fn flush_deletes(deletes: &mut Vec<String>, ops: &mut Vec<Op>) {
    if !deletes.is_empty() {
        ops.push(Op::BatchDelete(std::mem::take(deletes)));
    }
}

/// Collects Puts into batches; `after` holds the calls that must follow the
/// current batch (removals, overflow pairs).
#[derive(Default)]
pub(super) struct PutBatcher {
    batch: Vec<PutItem>,
    names: HashSet<String>,
    bytes: usize,
    after: Vec<Op>,
}

impl PutBatcher {
    fn add(&mut self, item: &str, attrs: &Attrs, remove: &[String], ops: &mut Vec<Op>) {
        // An attribute listed with no values is replaced by nothing: removed.
        let mut removals: Vec<DeleteAttr> = remove
            .iter()
            .filter(|r| attrs.get(*r).is_none_or(Vec::is_empty))
            .chain(attrs.iter().filter(|(_, v)| v.is_empty()).map(|(k, _)| k))
            .map(|r| DeleteAttr {
                name: r.clone(),
                value: None,
            })
            .collect();
        removals.sort_by(|a, b| a.name.cmp(&b.name));
        removals.dedup();
        let chunks = pair_chunks(attrs);
        let first_size: usize = chunks.first().map_or(0, |c| encoded_size(item, c));
        let needs_new_batch = self.batch.len() == MAX_BATCH_ITEMS
            || self.names.contains(item)
            || self.bytes + first_size > MAX_BATCH_BYTES;
        if needs_new_batch {
            self.flush(ops);
        }
        let mut chunks = chunks.into_iter();
        if let Some(first) = chunks.next() {
            self.batch.push(PutItem {
                item: item.to_string(),
                pairs: first,
            });
            self.bytes += first_size;
        }
        // Named even without pairs: its removals wait for this batch, so a
        // later write of the item must not join the batch and precede them.
        self.names.insert(item.to_string());
        for rest in chunks {
            self.after.push(Op::Put(PutItem {
                item: item.to_string(),
                pairs: rest,
            }));
        }
        for pairs in removals.chunks(MAX_PAIRS_PER_CALL) {
            self.after.push(Op::DeleteAttrs {
                item: item.to_string(),
                pairs: pairs.to_vec(),
            });
        }
        if !self.after.is_empty() && self.batch.is_empty() {
            // Removals only: nothing to batch, keep the order.
            ops.append(&mut self.after);
            self.names.clear();
        }
    }

    fn flush(&mut self, ops: &mut Vec<Op>) {
        if !self.batch.is_empty() {
            ops.push(Op::BatchPut(std::mem::take(&mut self.batch)));
        }
        ops.append(&mut self.after);
        self.names.clear();
        self.bytes = 0;
    }
}

/// An item's pairs in chunks of at most 256. Every attribute's first pair
/// replaces; an attribute continued in a later chunk must not replace again
/// (that would drop the values the earlier chunk wrote).
pub(super) fn pair_chunks(attrs: &Attrs) -> Vec<Vec<PutAttr>> {
    let pairs: Vec<PutAttr> = attrs
        .iter()
        .flat_map(|(name, values)| {
            values.iter().map(move |v| PutAttr {
                name: name.clone(),
                value: v.clone(),
                replace: true,
            })
        })
        .collect();
    let mut written: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for chunk in pairs.chunks(MAX_PAIRS_PER_CALL) {
        let chunk: Vec<PutAttr> = chunk
            .iter()
            .map(|p| PutAttr {
                replace: !written.contains(&p.name),
                ..p.clone()
            })
            .collect();
        written.extend(chunk.iter().map(|p| p.name.clone()));
        out.push(chunk);
    }
    out
}

/// The [`MetaStore`] on a SimpleDB domain.
#[derive(Debug)]
pub struct SimpleDbMeta {
    client: SimpleDb,
    domain: String,
}

impl SimpleDbMeta {
    pub fn new(ctx: &AwsContext, domain: &str) -> StoreResult<SimpleDbMeta> {
        Ok(SimpleDbMeta {
            client: SimpleDb::new(ctx)?,
            domain: domain.to_string(),
        })
    }

    /// The same store with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> SimpleDbMeta {
        self.client = self.client.with_retry(retry);
        self
    }

    pub fn client(&self) -> &SimpleDb {
        &self.client
    }

    fn run(&self, op: &Op) -> StoreResult<()> {
        let d = &self.domain;
        match op {
            Op::BatchPut(items) if items.len() == 1 => self.client.put_attributes(d, &items[0]),
            Op::BatchPut(items) => self.client.batch_put_attributes(d, items),
            Op::Put(item) => self.client.put_attributes(d, item),
            Op::DeleteAttrs { item, pairs } => self.client.delete_attributes(d, item, pairs),
            Op::BatchDelete(items) if items.len() == 1 => {
                self.client.delete_attributes(d, &items[0], &[])
            }
            Op::BatchDelete(items) => self.client.batch_delete_items(d, items),
        }
    }
}

impl MetaStore for SimpleDbMeta {
    fn describe(&self) -> String {
        format!("simpledb:{}", self.domain)
    }

    fn domain_exists(&self) -> StoreResult<bool> {
        Ok(self.client.domain_metadata(&self.domain)?.is_some())
    }

    fn create_domain(&self) -> StoreResult<()> {
        self.client.create_domain(&self.domain)
    }

    fn get(&self, item: &str) -> StoreResult<Option<Attrs>> {
        let attrs = self.client.get_attributes(&self.domain, item)?;
        Ok((!attrs.is_empty()).then_some(attrs))
    }

    /// A Select beyond SimpleDB's limits (20 comparisons per expression)
    /// runs as several within them ([`sdb::fit::split`]): their items are
    /// merged by name, their counts added.
    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let parts = sdb::fit::split(query)
            .map_err(|e| StoreError::Backend(format!("{}: {}", self.describe(), e.message)))?;
        if let [one] = parts.as_slice() {
            return self.select_within_limits(one, each);
        }
        if matches!(query.output, Output::Count) {
            let mut total: u64 = 0;
            for part in &parts {
                self.select_within_limits(part, &mut |item| {
                    total += count_of(&item);
                    Ok(())
                })?;
            }
            return each(Item {
                name: "Domain".to_string(),
                attrs: Attrs::from([("Count".to_string(), vec![total.to_string()])]),
            });
        }
        let mut seen: HashSet<String> = HashSet::new();
        for part in &parts {
            self.select_within_limits(part, &mut |item| {
                if seen.insert(item.name.clone()) {
                    each(item)
                } else {
                    Ok(())
                }
            })?;
        }
        Ok(())
    }

    fn put_if(
        &self,
        item: &str,
        attr: &str,
        expected: Option<&str>,
        value: &str,
    ) -> StoreResult<bool> {
        self.client
            .put_attribute_if(&self.domain, item, attr, expected, value)
    }

    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        for op in plan(changes) {
            self.run(&op)?;
        }
        Ok(())
    }
}

/// The `Count` of a count Select's answer.
pub(super) fn count_of(item: &Item) -> u64 {
    item.attrs
        .get("Count")
        .and_then(|v| v.first())
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or(0)
}

impl SimpleDbMeta {
    /// One Select within SimpleDB's limits, every page of it.
    fn select_within_limits(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // `limit` caps a page in SimpleDB, not the result; NextToken goes on
        // past it. The port promises a total, so count here.
        let wanted = query.limit.map(u64::from);
        let counting = matches!(query.output, Output::Count);
        let mut page_query = query.clone();
        // Without a limit SimpleDB pages by 100 items: ask for its maximum
        // so a large index costs one request per 2500 items, not per 100.
        // (A count without a limit already counts everything at once.)
        page_query.limit = match query.limit {
            Some(l) => Some(l.min(MAX_SELECT_LIMIT)),
            None if counting => None,
            None => Some(MAX_SELECT_LIMIT),
        };
        let mut expression = render(&self.domain, &page_query);
        let mut delivered: u64 = 0;
        let mut count: u64 = 0;
        let mut token: Option<String> = None;
        loop {
            let (items, next) = match self.client.select_page(
                &self.domain,
                &expression,
                token.as_deref(),
            )? {
                SelectPage::Items(items, next) => (items, next),
                // SimpleDB gave up on this page (5 s). A NextToken is
                // valid for any limit of the same query, so the same
                // position is asked again for half as many items; a
                // count turns into counted pages the same way.
                SelectPage::TimedOut(e) => {
                    page_query.limit = match page_query.limit {
                        None => Some(MAX_SELECT_LIMIT),
                        Some(l) if l > 1 => Some(l / 2),
                        Some(_) => {
                            return Err(StoreError::Backend(format!(
                                "{e} (even for one item per page)"
                            )))
                        }
                    };
                    tracing::debug!(limit = ?page_query.limit, "Select timed out; smaller pages");
                    expression = render(&self.domain, &page_query);
                    continue;
                }
            };
            for item in items {
                if counting {
                    // A count can stop early (5 s limit) and continue with
                    // NextToken: the pages' counts add up.
                    count += count_of(&item);
                    continue;
                }
                if wanted.is_some_and(|w| delivered >= w) {
                    return Ok(());
                }
                each(item)?;
                delivered += 1;
            }
            match next {
                Some(t) if wanted.is_none_or(|w| delivered < w) || counting => token = Some(t),
                _ => break,
            }
        }
        if counting {
            let total = wanted.map_or(count, |w| count.min(w));
            let mut attrs = Attrs::new();
            attrs.insert("Count".to_string(), vec![total.to_string()]);
            each(Item {
                name: "Domain".to_string(),
                attrs,
            })?;
        }
        Ok(())
    }
}
