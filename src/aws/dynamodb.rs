//! The [`MetaStore`] on a DynamoDB table, with SimpleDB's item model: one
//! DynamoDB item per SimpleDB item, keyed by the item name, the same
//! attribute names, one value as `S` and several as `SS` (both unordered,
//! as in SimpleDB), control text in the same `controltxtN` fragments. So a
//! backup is the same bytes from any store.
//!
//! Table design:
//! * partition key `~item` (the item name); no sort key;
//! * `~dca`: `["dist","comp","arch"]` (JSON) when the item has one value
//!   of each of `distribution`, `component` and `architecture`, `~` when it
//!   has several of one (rare; always read along), absent otherwise;
//! * a global secondary index `by-dca` (partition `~dca`, sort `~item`,
//!   every attribute projected) answers "the items of dist D, comp C, arch
//!   A" (publish, add, query, cp) with Query pages instead of Scans;
//! * `~name`: the `name` attribute when it has one value, `~` when several,
//!   and the index `by-name` (partition `~name`, sort `~item`) on it, for
//!   the lookups by package name (add, `query -p`, rm, cp);
//! * `~v`: a random version stamp every write sets, so read-modify-write
//!   changes (`AddValue`, `DeleteValue`) are conditional on it.
//!
//! The names starting with `~` are the store's own; a user attribute named
//! `~x` is stored as `~~x`. None of them appear in what `get` and `select`
//! return.
//!
//! Writes: a command's changes are one TransactWriteItems when they touch
//! at most 100 items (all-or-nothing), else ordered transactions of 100
//! (a prefix may be applied, as on SimpleDB; re-running converges).
//! Throttling, transaction conflicts and failed version checks are retried
//! with capped, jittered backoff; a version check that failed means another
//! writer came first, so the item is read again and the change recomputed:
//! two concurrent `repo add-distribution` both take effect. `put_if`
//! (publish's generations) is one UpdateItem with a condition on the
//! attribute's value; a failed condition is an answer, not retried.
//!
//! Reads: DynamoDB has no Select, so the typed [`Select`] picks the access
//! path (an index Query per package name or dist/comp/arch it pins, else
//! a Scan) and
//! `select::eval` decides the rest exactly as SimpleDB does. Index reads
//! are eventually consistent (DynamoDB offers nothing else on a global
//! index; the lag is normally well under a second); `get` and Scans read
//! consistently.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TableStatus, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

type HttpResponse = aws_sdk_dynamodb::config::http::HttpResponse;
use rand::Rng;

use super::{backoff, error_chain, AwsContext};
use crate::model::{Attrs, Item};
use crate::select::eval;
use crate::select::Select;
use crate::store::{Change, MetaStore, StoreError, StoreResult};

mod plan;

use plan::{
    check_name, chunks, dca_key, index_keys, package_names, pinned_names, stored_name, user_name,
    value_of, Pending,
};

/// The partition key: the item name.
pub const KEY: &str = "~item";
/// The index key, derived from the item's coordinates.
pub const DCA: &str = "~dca";
/// The version stamp of read-modify-write changes.
pub const VERSION: &str = "~v";
/// The index that answers dist/comp/arch queries.
pub const INDEX: &str = "by-dca";
/// The package name, for the index on it: the `name` attribute when it
/// has one value, `~` when several.
pub const NAME: &str = "~name";
/// The index that answers queries by package name (add, query -p, rm, cp).
pub const NAME_INDEX: &str = "by-name";
/// `~dca` of items with several values of a coordinate.
const IRREGULAR: &str = "~";

/// Most actions in one TransactWriteItems.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// Request bytes per transaction we aim under (DynamoDB allows 4 MB).
const MAX_TRANSACTION_BYTES: usize = 3 << 20;
/// Most keys per BatchGetItem.
const MAX_BATCH_GET: usize = 100;
/// Most index keys a Select may pin before a Scan is cheaper.
const MAX_QUERY_KEYS: usize = 64;
/// Single-item writes in flight at once (commands past one transaction).
const SINGLE_WRITES_IN_FLIGHT: usize = 16;
/// Index Queries (one per partition a Select names) in flight at once.
const QUERIES_IN_FLIGHT: usize = 16;
/// Attempts of one request or transaction before giving up.
const MAX_ATTEMPTS: u32 = 12;

/// The coordinates `~dca` is made of, in order.
const COORDINATES: [&str; 3] = ["distribution", "component", "architecture"];

/// The metadata store on one DynamoDB table.
#[derive(Debug)]
pub struct DynamoDbMeta {
    ctx: AwsContext,
    client: Client,
    table: String,
    retry_base: Duration,
}

impl DynamoDbMeta {
    pub fn new(ctx: &AwsContext, table: &str) -> DynamoDbMeta {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(ctx.sdk_config());
        if let Some(e) = ctx.endpoint("DynamoDB", ctx.overrides().dynamodb_endpoint.as_ref()) {
            conf = conf.endpoint_url(e);
        }
        DynamoDbMeta {
            ctx: ctx.clone(),
            client: Client::from_conf(conf.build()),
            table: table.to_string(),
            retry_base: Duration::from_millis(50),
        }
    }

    /// The same store with another first backoff delay (tests).
    pub fn with_retry_base(mut self, base: Duration) -> DynamoDbMeta {
        self.retry_base = base;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn fail(&self, what: &str, e: &(dyn std::error::Error + 'static)) -> StoreError {
        StoreError::Backend(format!("{}: {what}: {}", self.describe(), error_chain(e)))
    }

    /// Sends a request, retrying throttling and transient failures.
    fn call<T, E, F, Fut>(&self, what: &str, f: F) -> StoreResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.ctx.block_on(async {
            let mut attempt = 0;
            loop {
                tracing::debug!(target: "repoman::dynamodb", op = what, "request");
                match f().await {
                    Ok(v) => return Ok(v),
                    Err(e) if attempt + 1 < MAX_ATTEMPTS && transient(&e) => {
                        tokio::time::sleep(backoff(
                            attempt,
                            self.retry_base,
                            Duration::from_secs(5),
                        ))
                        .await;
                        attempt += 1;
                    }
                    Err(e) if e.code() == Some("ResourceNotFoundException") => {
                        return Err(StoreError::NotFound(format!(
                            "{} table `{}`",
                            self.describe(),
                            self.table
                        )))
                    }
                    Err(e) => return Err(self.fail(what, &e)),
                }
            }
        })
    }

    fn key(item: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(KEY.to_string(), AttributeValue::S(item.to_string()))])
    }

    /// Items by name, read consistently, `UnprocessedKeys` retried.
    fn batch_get(&self, names: &[String]) -> StoreResult<Vec<(String, Stored)>> {
        let mut out = Vec::new();
        for chunk in names.chunks(MAX_BATCH_GET) {
            let unique: BTreeSet<&String> = chunk.iter().collect();
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                unique.into_iter().map(|n| Self::key(n)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| self.fail("BatchGetItem", &e))?;
                let got = self.call("BatchGetItem", || {
                    self.client
                        .batch_get_item()
                        .request_items(&self.table, keys.clone())
                        .send()
                })?;
                for raw in got
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = Stored::from_raw(raw) {
                        out.push((s.name.clone(), s));
                    }
                }
                pending = got
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt + 1 >= MAX_ATTEMPTS {
                        return Err(StoreError::Backend(format!(
                            "{}: BatchGetItem left {} keys unprocessed after {MAX_ATTEMPTS} attempts",
                            self.describe(),
                            pending.len()
                        )));
                    }
                    std::thread::sleep(backoff(attempt, self.retry_base, Duration::from_secs(5)));
                    attempt += 1;
                }
            }
        }
        Ok(out)
    }

    /// Every item of one partition of an index (keyed on `attr`), page by
    /// page.
    fn query_index(
        &self,
        index: &str,
        attr: &str,
        key: &str,
        each: &mut dyn FnMut(Stored),
    ) -> StoreResult<()> {
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self.call("Query", || {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#k = :k")
                    .expression_attribute_names("#k", attr)
                    .expression_attribute_values(":k", AttributeValue::S(key.to_string()))
                    .set_exclusive_start_key(start.clone())
                    .send()
            })?;
            page.items()
                .iter()
                .filter_map(Stored::from_raw)
                .for_each(&mut *each);
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(()),
            }
        }
    }

    /// Every item of the table, page by page, read consistently.
    fn scan(&self, each: &mut dyn FnMut(Stored)) -> StoreResult<()> {
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self.call("Scan", || {
                self.client
                    .scan()
                    .table_name(&self.table)
                    .consistent_read(true)
                    .set_exclusive_start_key(start.clone())
                    .send()
            })?;
            page.items()
                .iter()
                .filter_map(Stored::from_raw)
                .for_each(&mut *each);
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(()),
            }
        }
    }

    /// Writes one chunk of merged changes, retrying until it applies: as
    /// one transaction when `atomic`, else item by item,
    /// [`SINGLE_WRITES_IN_FLIGHT`] at a time (the chunk's items are
    /// distinct, so their order does not matter).
    fn write(&self, chunk: &[(String, Pending)], atomic: bool) -> StoreResult<()> {
        let mut todo: Vec<usize> = (0..chunk.len()).collect();
        let mut attempt = 0;
        loop {
            // Items changed relative to what they hold are read first.
            let names: Vec<String> = todo
                .iter()
                .map(|&i| &chunk[i])
                .filter(|(_, p)| p.needs_read())
                .map(|(n, _)| n.clone())
                .collect();
            let current: HashMap<String, Stored> = if names.is_empty() {
                HashMap::new()
            } else {
                self.batch_get(&names)?.into_iter().collect()
            };
            let actions = todo
                .iter()
                .map(|&i| {
                    let (item, p) = &chunk[i];
                    let base = p.needs_read().then(|| current.get(item));
                    self.action(item, p, base)
                })
                .collect::<StoreResult<Vec<TransactWriteItem>>>()?;
            let outcome = if atomic {
                self.transact(actions)
            } else {
                match self.singles(actions) {
                    Ok(()) => Ok(()),
                    Err((again, Retry::Again(why))) => {
                        todo = again.into_iter().map(|k| todo[k]).collect();
                        Err(Retry::Again(why))
                    }
                    Err((_, fail)) => Err(fail),
                }
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Retry::Again(why)) if attempt + 1 < MAX_ATTEMPTS => {
                    tracing::debug!(target: "repoman::dynamodb", why, attempt, "write retried");
                    std::thread::sleep(backoff(attempt, self.retry_base, Duration::from_secs(5)));
                    attempt += 1;
                }
                Err(Retry::Again(why)) => {
                    return Err(StoreError::Backend(format!(
                    "{}: a write of {} item(s) did not apply after {MAX_ATTEMPTS} attempts ({why})",
                    self.describe(),
                    todo.len()
                )))
                }
                Err(Retry::Fail(e)) => return Err(e),
            }
        }
    }

    /// Sends each action as its own request, several at a time, each
    /// retried on throttling. On failure: the positions to write again
    /// (their version check failed: another writer came first), or why
    /// not.
    fn singles(&self, actions: Vec<TransactWriteItem>) -> Result<(), (Vec<usize>, Retry)> {
        let describe = self.describe();
        let base = self.retry_base;
        let results: Vec<Result<(), Retry>> = self.ctx.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            let mut results: Vec<Option<Result<(), Retry>>> = Vec::new();
            results.resize_with(actions.len(), || None);
            let mut queue = actions.into_iter().enumerate();
            loop {
                while set.len() < SINGLE_WRITES_IN_FLIGHT {
                    let Some((i, action)) = queue.next() else {
                        break;
                    };
                    let client = self.client.clone();
                    let describe = describe.clone();
                    set.spawn(async move { (i, single(&client, action, &describe, base).await) });
                }
                match set.join_next().await {
                    Some(Ok((i, r))) => results[i] = Some(r),
                    Some(Err(e)) => {
                        let fail = Retry::Fail(StoreError::Backend(format!(
                            "{describe}: a write task failed: {e}"
                        )));
                        return vec![Err(fail)];
                    }
                    None => break,
                }
            }
            results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
        });
        let mut again = Vec::new();
        let mut why = String::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(()) => {}
                Err(Retry::Again(w)) => {
                    again.push(i);
                    why = w;
                }
                Err(fail) => return Err((Vec::new(), fail)),
            }
        }
        if again.is_empty() {
            Ok(())
        } else {
            Err((again, Retry::Again(why)))
        }
    }

    /// Sends actions as one transaction (one plain write when alone).
    fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), Retry> {
        tracing::debug!(target: "repoman::dynamodb", op = "TransactWriteItems", "request");
        let result = self.ctx.block_on(
            self.client
                .transact_write_items()
                .set_transact_items(Some(actions))
                .send(),
        );
        let e = match result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if let Some(
            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c),
        ) = e.as_service_error()
        {
            let codes: Vec<&str> = c
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .filter(|c| *c != "None")
                .collect();
            let again = codes.iter().all(|c| {
                matches!(
                    *c,
                    "ConditionalCheckFailed"
                        | "TransactionConflict"
                        | "ThrottlingError"
                        | "ProvisionedThroughputExceeded"
                )
            });
            if again {
                return Err(Retry::Again(codes.join(",")));
            }
            let detail: Vec<String> = c
                .cancellation_reasons()
                .iter()
                .filter(|r| r.code() != Some("None"))
                .map(|r| {
                    format!(
                        "{}{}",
                        r.code().unwrap_or("?"),
                        r.message().map(|m| format!(" ({m})")).unwrap_or_default()
                    )
                })
                .collect();
            return Err(Retry::Fail(StoreError::Backend(format!(
                "{}: TransactWriteItems cancelled: {}",
                self.describe(),
                detail.join("; ")
            ))));
        }
        if transient(&e) {
            return Err(Retry::Again(e.code().unwrap_or("transient").to_string()));
        }
        if e.code() == Some("ResourceNotFoundException") {
            return Err(Retry::Fail(StoreError::NotFound(format!(
                "{} table `{}`",
                self.describe(),
                self.table
            ))));
        }
        Err(Retry::Fail(self.fail("TransactWriteItems", &e)))
    }

    /// The action that brings `item` to its pending state. `base` is the
    /// item as read (outer `Some`) for changes relative to it.
    fn action(
        &self,
        item: &str,
        p: &Pending,
        base: Option<Option<&Stored>>,
    ) -> StoreResult<TransactWriteItem> {
        let fail = |e: aws_sdk_dynamodb::error::BuildError| self.fail("building a write", &e);
        // The full final values of the attributes this change decides.
        let mut decided: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut removed: BTreeSet<String> = BTreeSet::new();
        for (a, v) in &p.known {
            match v {
                Some(vs) if !vs.is_empty() => {
                    decided.insert(a.clone(), vs.clone());
                }
                _ => {
                    removed.insert(a.clone());
                }
            }
        }
        let current = base.flatten();
        for (a, ops) in &p.deltas {
            let mut vs: BTreeSet<String> = current
                .and_then(|s| s.attrs.get(a))
                .map(|v| v.iter().cloned().collect())
                .unwrap_or_default();
            for (add, v) in ops {
                if *add {
                    vs.insert(v.clone());
                } else {
                    vs.remove(v);
                }
            }
            if vs.is_empty() {
                removed.insert(a.clone());
            } else {
                decided.insert(a.clone(), vs);
            }
        }
        for a in decided.keys().chain(removed.iter()) {
            check_name(a).map_err(|why| {
                StoreError::Backend(format!("{}: item {item:?}: {why}", self.describe()))
            })?;
        }
        // The coordinates after the change, where known.
        let coordinate = |c: &str| -> Option<Option<&BTreeSet<String>>> {
            if let Some(v) = decided.get(c) {
                return Some(Some(v));
            }
            if removed.contains(c) || p.deleted {
                return Some(None);
            }
            None
        };
        let touched = COORDINATES
            .iter()
            .any(|c| decided.contains_key(*c) || removed.contains(*c));
        let from_base = |c: &str| current.map(|s| s.attrs.get(c));
        let dca: Option<Option<String>> = if touched || p.deleted {
            let values: Vec<Option<Option<Vec<String>>>> = COORDINATES
                .iter()
                .map(|c| match coordinate(c) {
                    Some(v) => Some(v.map(|s| s.iter().cloned().collect())),
                    None => base.is_some().then(|| from_base(c).flatten().cloned()),
                })
                .collect();
            if values.iter().any(Option::is_none) {
                // A coordinate this change does not decide: read along.
                Some(Some(IRREGULAR.to_string()))
            } else {
                let values: Vec<Option<Vec<String>>> = values.into_iter().flatten().collect();
                Some(dca_key(&values))
            }
        } else {
            None
        };
        // `~name` follows `name`, which every change of it decides here.
        let name: Option<Option<String>> = match decided.get("name") {
            Some(vs) if vs.len() == 1 => Some(vs.iter().next().cloned()),
            Some(_) => Some(Some(IRREGULAR.to_string())),
            None if removed.contains("name") || p.deleted => Some(None),
            None => None,
        };
        let version = AttributeValue::S(format!("{:016x}", rand::thread_rng().gen::<u64>()));

        if p.deleted {
            if decided.is_empty() {
                let d = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(item)))
                    .build()
                    .map_err(fail)?;
                return Ok(TransactWriteItem::builder().delete(d).build());
            }
            let mut stored = Self::key(item);
            for (a, vs) in &decided {
                stored.insert(stored_name(a), value_of(vs));
            }
            if let Some(Some(k)) = dca {
                stored.insert(DCA.into(), AttributeValue::S(k));
            }
            if let Some(Some(n)) = name {
                stored.insert(NAME.into(), AttributeValue::S(n));
            }
            stored.insert(VERSION.into(), version);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(stored))
                .build()
                .map_err(fail)?;
            return Ok(TransactWriteItem::builder().put(put).build());
        }

        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        for (i, (a, vs)) in decided.iter().enumerate() {
            names.insert(format!("#s{i}"), stored_name(a));
            values.insert(format!(":s{i}"), value_of(vs));
            sets.push(format!("#s{i} = :s{i}"));
        }
        for (i, a) in removed.iter().enumerate() {
            names.insert(format!("#r{i}"), stored_name(a));
            removes.push(format!("#r{i}"));
        }
        names.insert("#ver".into(), VERSION.into());
        values.insert(":ver".into(), version);
        sets.push("#ver = :ver".into());
        match dca {
            Some(Some(k)) => {
                names.insert("#dca".into(), DCA.into());
                values.insert(":dca".into(), AttributeValue::S(k));
                sets.push("#dca = :dca".into());
            }
            Some(None) => {
                names.insert("#dca".into(), DCA.into());
                removes.push("#dca".into());
            }
            None => {}
        }
        match name {
            Some(Some(n)) => {
                names.insert("#name".into(), NAME.into());
                values.insert(":name".into(), AttributeValue::S(n));
                sets.push("#name = :name".into());
            }
            Some(None) => {
                names.insert("#name".into(), NAME.into());
                removes.push("#name".into());
            }
            None => {}
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(item)))
            .update_expression(expression);
        if let Some(current) = base {
            // Read-modify-write: only onto the version that was read.
            match current.and_then(|s| s.version.clone()) {
                Some(v) => {
                    values.insert(":old".into(), AttributeValue::S(v));
                    update = update.condition_expression("#ver = :old");
                }
                None => update = update.condition_expression("attribute_not_exists(#ver)"),
            }
        }
        let update = update
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(fail)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Creates the table and its index, and waits until they are active.
    fn create(&self) -> StoreResult<()> {
        let fail = |e: aws_sdk_dynamodb::error::BuildError| self.fail("CreateTable", &e);
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let index = |name: &str, hash: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash).map_err(fail)?)
                .key_schema(key(KEY, KeyType::Range).map_err(fail)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(fail)
        };
        let (by_dca, by_name) = (index(INDEX, DCA)?, index(NAME_INDEX, NAME)?);
        let mut attempt = 0;
        loop {
            tracing::debug!(target: "repoman::dynamodb", op = "CreateTable", "request");
            let created = self.ctx.block_on(
                self.client
                    .create_table()
                    .table_name(&self.table)
                    .billing_mode(BillingMode::PayPerRequest)
                    .attribute_definitions(attr(KEY).map_err(fail)?)
                    .attribute_definitions(attr(DCA).map_err(fail)?)
                    .attribute_definitions(attr(NAME).map_err(fail)?)
                    .key_schema(key(KEY, KeyType::Hash).map_err(fail)?)
                    .global_secondary_indexes(by_dca.clone())
                    .global_secondary_indexes(by_name.clone())
                    .send(),
            );
            match created {
                Ok(_) => break,
                Err(e) if e.code() == Some("ResourceInUseException") => break,
                Err(e) if attempt + 1 < MAX_ATTEMPTS && transient(&e) => {
                    std::thread::sleep(backoff(attempt, self.retry_base, Duration::from_secs(5)));
                    attempt += 1;
                }
                Err(e) => return Err(self.fail("CreateTable", &e)),
            }
        }
        for _ in 0..600 {
            if self.active()? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(StoreError::Backend(format!(
            "{}: the table did not become active within two minutes",
            self.describe()
        )))
    }

    /// Whether the table and its index are active.
    fn active(&self) -> StoreResult<bool> {
        let t = self.call("DescribeTable", || {
            self.client.describe_table().table_name(&self.table).send()
        })?;
        let Some(t) = t.table() else { return Ok(false) };
        let index_ok = [INDEX, NAME_INDEX].iter().all(|want| {
            t.global_secondary_indexes().iter().any(|i| {
                i.index_name() == Some(*want)
                    && i.index_status().is_none_or(|s| s.as_str() == "ACTIVE")
            })
        });
        Ok(t.table_status() == Some(&TableStatus::Active) && index_ok)
    }

    /// Every item of several partitions of an index. The Queries are
    /// independent, so they go out together ([`QUERIES_IN_FLIGHT`] at
    /// once), each partition collected, then handed on in the keys' order.
    fn partitions(
        &self,
        index: &str,
        attr: &str,
        keys: &[&str],
        each: &mut dyn FnMut(Stored),
    ) -> StoreResult<()> {
        let parts = crate::parallel::map(keys, QUERIES_IN_FLIGHT, |key| {
            let mut got = Vec::new();
            self.query_index(index, attr, key, &mut |s| got.push(s))
                .map(|()| got)
        });
        for part in parts {
            part?.into_iter().for_each(&mut *each);
        }
        Ok(())
    }

    /// The items a Select can match, by the cheapest path it allows.
    fn candidates(&self, q: &Select, each: &mut dyn FnMut(Stored)) -> StoreResult<()> {
        let filter = q.filter.as_ref();
        if let Some(names) = filter.and_then(pinned_names) {
            for (_, s) in self.batch_get(&names)? {
                each(s);
            }
            return Ok(());
        }
        // A few package names usually hold far fewer items than a
        // dist/comp/arch, so the name index goes first.
        if let Some(names) = filter.and_then(package_names) {
            let keys: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .chain([IRREGULAR])
                .collect();
            return self.partitions(NAME_INDEX, NAME, &keys, each);
        }
        if let Some(keys) = filter.and_then(index_keys) {
            let keys: Vec<&str> = keys.iter().map(String::as_str).chain([IRREGULAR]).collect();
            return self.partitions(INDEX, DCA, &keys, each);
        }
        self.scan(each)
    }
}

/// One action as its own request, retried on throttling and transient
/// failures; a failed version check is [`Retry::Again`].
async fn single(
    client: &Client,
    action: TransactWriteItem,
    describe: &str,
    base: Duration,
) -> Result<(), Retry> {
    let mut attempt = 0;
    loop {
        let result = if let Some(u) = action.update() {
            tracing::debug!(target: "repoman::dynamodb", op = "UpdateItem", "request");
            client
                .update_item()
                .table_name(u.table_name())
                .set_key(Some(u.key().clone()))
                .update_expression(u.update_expression())
                .set_condition_expression(u.condition_expression().map(str::to_string))
                .set_expression_attribute_names(u.expression_attribute_names().cloned())
                .set_expression_attribute_values(u.expression_attribute_values().cloned())
                .send()
                .await
                .map(|_| ())
                .map_err(failure)
        } else if let Some(p) = action.put() {
            tracing::debug!(target: "repoman::dynamodb", op = "PutItem", "request");
            client
                .put_item()
                .table_name(p.table_name())
                .set_item(Some(p.item().clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(failure)
        } else if let Some(d) = action.delete() {
            tracing::debug!(target: "repoman::dynamodb", op = "DeleteItem", "request");
            client
                .delete_item()
                .table_name(d.table_name())
                .set_key(Some(d.key().clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(failure)
        } else {
            return Ok(());
        };
        match result {
            Ok(()) => return Ok(()),
            Err((Some(code), _, _)) if code == "ConditionalCheckFailedException" => {
                return Err(Retry::Again(code))
            }
            Err((_, true, _)) if attempt + 1 < MAX_ATTEMPTS => {
                tokio::time::sleep(backoff(attempt, base, Duration::from_secs(5))).await;
                attempt += 1;
            }
            Err((_, _, text)) => {
                return Err(Retry::Fail(StoreError::Backend(format!(
                    "{describe}: {text}"
                ))))
            }
        }
    }
}

enum Retry {
    Again(String),
    Fail(StoreError),
}

/// How one request failed: its error code, whether another attempt is
/// worth it, and the message.
fn failure<E>(e: SdkError<E, HttpResponse>) -> (Option<String>, bool, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    (e.code().map(str::to_string), transient(&e), error_chain(&e))
}

/// Whether an error is worth another attempt.
fn transient<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match e.code() {
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "TransactionConflictException"
            | "TransactionInProgressException"
            | "InternalServerError"
            | "InternalFailure"
            | "ServiceUnavailable",
        ) => true,
        Some(_) => false,
        None => match e.raw_response().map(|r| r.status().as_u16()) {
            // An answer without a code to read: a refusal (4xx) stays one,
            // but throttling, timeouts and server errors pass.
            Some(status) => matches!(status, 408 | 429) || status >= 500,
            // No answer at all (timeout, connection).
            None => !format!("{e:?}").contains("ConstructionFailure"),
        },
    }
}

/// An item as stored: its name, user attributes and version stamp.
#[derive(Debug, Clone)]
struct Stored {
    name: String,
    attrs: Attrs,
    version: Option<String>,
}

impl Stored {
    fn from_raw(raw: &HashMap<String, AttributeValue>) -> Option<Stored> {
        let name = raw.get(KEY)?.as_s().ok()?.clone();
        let version = raw.get(VERSION).and_then(|v| v.as_s().ok()).cloned();
        let mut attrs = Attrs::new();
        for (k, v) in raw {
            let Some(a) = user_name(k) else { continue };
            let mut vs: Vec<String> = match v {
                AttributeValue::S(s) => vec![s.clone()],
                AttributeValue::Ss(ss) => ss.clone(),
                _ => continue,
            };
            vs.sort();
            vs.dedup();
            attrs.insert(a, vs);
        }
        Some(Stored {
            name,
            attrs,
            version,
        })
    }

    fn into_item(self) -> Item {
        Item {
            name: self.name,
            attrs: self.attrs,
        }
    }
}

impl MetaStore for DynamoDbMeta {
    fn describe(&self) -> String {
        format!("dynamodb:{}", self.table)
    }

    fn reads_name_ranges(&self) -> bool {
        false
    }

    fn domain_exists(&self) -> StoreResult<bool> {
        match self.call("DescribeTable", || {
            self.client.describe_table().table_name(&self.table).send()
        }) {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn create_domain(&self) -> StoreResult<()> {
        self.create()
    }

    fn get(&self, item: &str) -> StoreResult<Option<Attrs>> {
        let got = self.call("GetItem", || {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(item)))
                .consistent_read(true)
                .send()
        })?;
        Ok(got
            .item()
            .and_then(Stored::from_raw)
            .map(|s| s.attrs)
            .filter(|a| !a.is_empty()))
    }

    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        eval::check(query).map_err(|e| StoreError::Backend(format!("{}: {e}", self.describe())))?;
        // Only the matches are kept while pages arrive (the order needs
        // them all before the first goes out).
        let filter = query.filter.as_ref();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut found: Vec<Item> = Vec::new();
        self.candidates(query, &mut |s| {
            if !s.attrs.is_empty()
                && eval::matches(filter, &s.name, &s.attrs)
                && seen.insert(s.name.clone())
            {
                found.push(s.into_item());
            }
        })?;
        let result = eval::run(query, found)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", self.describe())))?;
        for item in result {
            each(item)?;
        }
        Ok(())
    }

    /// One UpdateItem conditional on the attribute's current value. The
    /// version stamp changes too, so a read-modify-write of the same item
    /// in flight ([`Change::AddValue`]) is recomputed rather than lost.
    fn put_if(
        &self,
        item: &str,
        attr: &str,
        expected: Option<&str>,
        value: &str,
    ) -> StoreResult<bool> {
        check_name(attr).map_err(|why| {
            StoreError::Backend(format!("{}: item {item:?}: {why}", self.describe()))
        })?;
        let version = format!("{:016x}", rand::thread_rng().gen::<u64>());
        let mut names = HashMap::from([
            ("#a".to_string(), stored_name(attr)),
            ("#ver".to_string(), VERSION.to_string()),
        ]);
        let mut values = HashMap::from([
            (":v".to_string(), AttributeValue::S(value.to_string())),
            (":ver".to_string(), AttributeValue::S(version)),
        ]);
        let mut sets = vec!["#a = :v", "#ver = :ver"];
        // The index keys follow the attributes they are made of: `~name`
        // is the one name; a coordinate changed alone leaves `~dca`
        // undecided without a read, so the item is read along with every
        // coordinate query (`select::eval` still decides).
        if attr == "name" {
            names.insert("#name".into(), NAME.into());
            sets.push("#name = :v");
        } else if COORDINATES.contains(&attr) {
            names.insert("#dca".into(), DCA.into());
            values.insert(":dca".into(), AttributeValue::S(IRREGULAR.into()));
            sets.push("#dca = :dca");
        }
        let condition = match expected {
            None => "attribute_not_exists(#a)",
            Some(e) => {
                values.insert(":e".into(), AttributeValue::S(e.to_string()));
                "#a = :e"
            }
        };
        let expression = format!("SET {}", sets.join(", "));
        let (client, table, expression) = (&self.client, &self.table, &expression);
        let (names, values) = (&names, &values);
        self.call("UpdateItem", || async move {
            let sent = client
                .update_item()
                .table_name(table)
                .set_key(Some(Self::key(item)))
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(true),
                // Another writer was first.
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        let chunks = chunks(changes);
        let atomic = chunks.len() == 1;
        for chunk in chunks {
            self.write(&chunk, atomic)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_types::body::SdkBody;

    /// A GetItem answered with `status` and, if any, an error code.
    fn answered(status: u16, code: Option<&str>) -> SdkError<GetItemError, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(GetItemError::generic(meta.build()), raw)
    }

    #[test]
    fn refusals_are_final_throttling_and_server_errors_are_retried() {
        assert!(transient(&answered(400, Some("ThrottlingException"))));
        assert!(!transient(&answered(400, Some("ValidationException"))));
        assert!(!transient(&answered(400, Some("AccessDeniedException"))));
        // An answer whose code cannot be read: its status decides.
        assert!(!transient(&answered(403, None)));
        assert!(!transient(&answered(400, None)));
        assert!(transient(&answered(429, None)));
        assert!(transient(&answered(503, None)));
    }
}
