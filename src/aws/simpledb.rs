//! A SimpleDB client (API version 2009-04-15) and the [`MetaStore`] on it.
//!
//! SimpleDB speaks the AWS query protocol: an HTTP POST whose form-encoded
//! body carries `Action`, the operation's parameters and a Signature
//! Version 2 (HmacSHA256) signature; answers are XML. No maintained SDK
//! covers it, so this module is the client: signing with
//! [`sdb::sigv2`], credentials from the SDK configuration's provider,
//! retries with capped exponential backoff and full jitter on throttling,
//! 5xx and transport failures (never on other 4xx), and one-line errors that
//! never carry a key, secret, token or signature.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use base64::Engine;

use sdb::item::{DeleteAttr, DomainMetadata, PutAttr};
use sdb::limits::MAX_SUBMITTED_ATTRIBUTES as MAX_PAIRS_PER_CALL;
pub use sdb::limits::{API_VERSION, MAX_BATCH_ITEMS, MAX_SELECT_LIMIT};
use sdb::sigv2;

use super::{backoff, error_chain, redact, AwsContext};
use crate::model::{Attrs, Item};
use crate::select::{render, Output, Select};
use crate::store::{Change, MetaStore, StoreError, StoreResult};

/// A BatchPutAttributes request's item data as sent (form-encoded, with its
/// parameter names): SimpleDB refuses requests over 1 MB; this leaves 8 KiB
/// for the common parameters, the signature and a session token.
pub const MAX_BATCH_BYTES: usize = sdb::limits::MAX_REQUEST_BYTES - 8 * 1024;
/// The most one pair's parameter names take as sent:
/// `&Item.25.Attribute.256.Name=`, `&...Value=`, `&...Replace=true`.
const PAIR_PARAM_BYTES: usize = 96;
/// The same for an item's `&Item.25.ItemName=`.
const ITEM_PARAM_BYTES: usize = 20;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// One item's pairs, for PutAttributes or one entry of BatchPutAttributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutItem {
    pub item: String,
    pub pairs: Vec<PutAttr>,
}

/// A failed call, before it is worded as a [`StoreError`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct CallError {
    code: String,
    message: String,
    retryable: bool,
}

/// The SimpleDB client.
pub struct SimpleDb {
    ctx: AwsContext,
    http: reqwest::Client,
    endpoint: reqwest::Url,
    /// The `Host` value the signature covers (`host[:port]`).
    sign_host: String,
    provider: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<Credentials>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for SimpleDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleDb")
            .field("endpoint", &self.endpoint.as_str())
            .field("retry", &self.retry)
            .finish()
    }
}

/// The regions AWS offers SimpleDB in.
pub const SIMPLEDB_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

/// The endpoint of AWS's own SimpleDB in `region`.
pub fn regional_endpoint(region: &str) -> String {
    if region == "us-east-1" {
        "https://sdb.amazonaws.com".to_string()
    } else {
        format!("https://sdb.{region}.amazonaws.com")
    }
}

impl SimpleDb {
    /// A client for the context's SimpleDB region, or for the endpoint set
    /// by `Overrides::simpledb_endpoint`, `AWS_ENDPOINT_URL_SIMPLEDB` or
    /// `AWS_ENDPOINT_URL` (in that order). A region AWS offers no SimpleDB
    /// in is refused here, rather than retried as DNS failures later.
    pub fn new(ctx: &AwsContext) -> StoreResult<SimpleDb> {
        let endpoint = match ctx.endpoint("SimpleDB", ctx.overrides().simpledb_endpoint.as_ref()) {
            Some(e) => e,
            None => {
                let region = ctx.simpledb_region();
                if !SIMPLEDB_REGIONS.contains(&region) {
                    return Err(StoreError::Backend(format!(
                        "SimpleDB is not offered in region {region}; it exists in {} (set --simpledb-region)",
                        SIMPLEDB_REGIONS.join(", ")
                    )));
                }
                regional_endpoint(region)
            }
        };
        let url = reqwest::Url::parse(&endpoint).map_err(|e| {
            StoreError::Backend(format!("SimpleDB endpoint {endpoint:?} is not a URL: {e}"))
        })?;
        let host = url.host_str().ok_or_else(|| {
            StoreError::Backend(format!("SimpleDB endpoint {endpoint:?} has no host"))
        })?;
        let sign_host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| StoreError::Backend(format!("SimpleDB HTTP client: {e}")))?;
        Ok(SimpleDb {
            ctx: ctx.clone(),
            http,
            endpoint: url,
            sign_host,
            provider: ctx.sdk_config().credentials_provider(),
            cached: Mutex::new(None),
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> SimpleDb {
        self.retry = retry;
        self
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    pub fn create_domain(&self, domain: &str) -> StoreResult<()> {
        self.run("CreateDomain", domain, domain_params(domain))
            .map(drop)
    }

    /// Every domain's name, following NextToken.
    pub fn list_domains(&self) -> StoreResult<Vec<String>> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut p = BTreeMap::new();
            p.insert("MaxNumberOfDomains".to_string(), "100".to_string());
            if let Some(t) = token.take() {
                p.insert("NextToken".to_string(), t);
            }
            let body = self.run("ListDomains", "-", p)?;
            let doc = parse("ListDomains", "-", &body)?;
            names.extend(children_text(doc.root_element(), "DomainName"));
            token = first_text(doc.root_element(), "NextToken");
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// The domain's metadata, or `None` when the domain does not exist.
    pub fn domain_metadata(&self, domain: &str) -> StoreResult<Option<DomainMetadata>> {
        let body = match self.call("DomainMetadata", domain_params(domain)) {
            Ok(b) => b,
            Err(e) if e.code == "NoSuchDomain" => return Ok(None),
            Err(e) => return Err(self.word("DomainMetadata", domain, e)),
        };
        let doc = parse("DomainMetadata", domain, &body)?;
        let num = |tag: &'static str| {
            first_text(doc.root_element(), tag)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0)
        };
        Ok(Some(DomainMetadata {
            item_count: num("ItemCount"),
            attribute_name_count: num("AttributeNameCount"),
            attribute_value_count: num("AttributeValueCount"),
            ..DomainMetadata::default()
        }))
    }

    /// PutAttributes of one item.
    pub fn put_attributes(&self, domain: &str, item: &PutItem) -> StoreResult<()> {
        let mut p = domain_params(domain);
        p.insert("ItemName".to_string(), item.item.clone());
        put_pairs(&mut p, "", &item.pairs);
        self.run("PutAttributes", domain, p).map(drop)
    }

    /// PutAttributes of one replaced value under a condition on `attr`
    /// (`Expected.Value`, or `Expected.Exists=false` when `expected`
    /// is `None`); `Ok(false)` when SimpleDB answers ConditionalCheckFailed.
    pub fn put_attribute_if(
        &self,
        domain: &str,
        item: &str,
        attr: &str,
        expected: Option<&str>,
        value: &str,
    ) -> StoreResult<bool> {
        let mut p = domain_params(domain);
        p.insert("ItemName".to_string(), item.to_string());
        p.insert("Attribute.1.Name".to_string(), attr.to_string());
        p.insert("Attribute.1.Value".to_string(), value.to_string());
        p.insert("Attribute.1.Replace".to_string(), "true".to_string());
        p.insert("Expected.Name".to_string(), attr.to_string());
        match expected {
            Some(v) => p.insert("Expected.Value".to_string(), v.to_string()),
            None => p.insert("Expected.Exists".to_string(), "false".to_string()),
        };
        match self.call("PutAttributes", p) {
            Ok(_) => Ok(true),
            Err(e) if e.code == "ConditionalCheckFailed" => Ok(false),
            Err(e) => Err(self.word("PutAttributes", domain, e)),
        }
    }

    /// BatchPutAttributes of at most [`MAX_BATCH_ITEMS`] items.
    pub fn batch_put_attributes(&self, domain: &str, items: &[PutItem]) -> StoreResult<()> {
        self.run(
            "BatchPutAttributes",
            domain,
            batch_put_params(domain, items),
        )
        .map(drop)
    }

    /// GetAttributes with ConsistentRead: the item's attributes (empty when
    /// the item does not exist).
    pub fn get_attributes(&self, domain: &str, item: &str) -> StoreResult<Attrs> {
        let mut p = domain_params(domain);
        p.insert("ItemName".to_string(), item.to_string());
        p.insert("ConsistentRead".to_string(), "true".to_string());
        let body = self.run("GetAttributes", domain, p)?;
        let doc = parse("GetAttributes", domain, &body)?;
        let mut attrs = Attrs::new();
        for a in elements(doc.root_element(), "Attribute") {
            let (name, value) = attribute_pair(a);
            attrs.entry(name).or_default().push(value);
        }
        Ok(attrs)
    }

    /// DeleteAttributes: each pair without a value deletes the attribute,
    /// each with one that value; no pairs deletes the item.
    pub fn delete_attributes(
        &self,
        domain: &str,
        item: &str,
        pairs: &[DeleteAttr],
    ) -> StoreResult<()> {
        let mut p = domain_params(domain);
        p.insert("ItemName".to_string(), item.to_string());
        for (i, DeleteAttr { name, value }) in pairs.iter().enumerate() {
            p.insert(format!("Attribute.{}.Name", i + 1), name.clone());
            if let Some(v) = value {
                p.insert(format!("Attribute.{}.Value", i + 1), v.clone());
            }
        }
        self.run("DeleteAttributes", domain, p).map(drop)
    }

    /// BatchDeleteAttributes of whole items (at most [`MAX_BATCH_ITEMS`]).
    pub fn batch_delete_items(&self, domain: &str, items: &[String]) -> StoreResult<()> {
        let mut p = domain_params(domain);
        for (i, item) in items.iter().enumerate() {
            p.insert(format!("Item.{}.ItemName", i + 1), item.clone());
        }
        self.run("BatchDeleteAttributes", domain, p).map(drop)
    }

    /// One page of a Select (ConsistentRead): its items and the NextToken.
    /// `domain` is only for messages (the expression names the domain).
    pub fn select_page(
        &self,
        domain: &str,
        expression: &str,
        next_token: Option<&str>,
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        let mut p = BTreeMap::new();
        p.insert("SelectExpression".to_string(), expression.to_string());
        p.insert("ConsistentRead".to_string(), "true".to_string());
        if let Some(t) = next_token {
            p.insert("NextToken".to_string(), t.to_string());
        }
        let body = self.run("Select", domain, p)?;
        let doc = parse("Select", domain, &body)?;
        let mut items = Vec::new();
        for node in elements(doc.root_element(), "Item") {
            let mut name = String::new();
            let mut attrs = Attrs::new();
            for child in node.children().filter(|c| c.is_element()) {
                match child.tag_name().name() {
                    "Name" => name = decoded_text(child),
                    "Attribute" => {
                        let (n, v) = attribute_pair(child);
                        attrs.entry(n).or_default().push(v);
                    }
                    _ => {}
                }
            }
            items.push(Item { name, attrs });
        }
        Ok((items, first_text(doc.root_element(), "NextToken")))
    }

    /// A call, worded as a [`StoreError`] when it fails.
    fn run(&self, op: &str, domain: &str, params: BTreeMap<String, String>) -> StoreResult<String> {
        self.call(op, params).map_err(|e| self.word(op, domain, e))
    }

    fn word(&self, op: &str, domain: &str, e: CallError) -> StoreError {
        let secrets = self.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        StoreError::Backend(format!(
            "SimpleDB {op} on domain {domain}: {}: {}",
            redact(&e.code, &secrets),
            redact(&e.message, &secrets)
        ))
    }

    /// What must never appear in a message: the cached credentials' parts.
    fn secrets(&self) -> Vec<String> {
        let guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Some(c) => {
                let mut v = vec![
                    c.access_key_id().to_string(),
                    c.secret_access_key().to_string(),
                ];
                if let Some(t) = c.session_token() {
                    v.push(t.to_string());
                }
                v
            }
            None => Vec::new(),
        }
    }

    /// Sends one operation, retrying what is worth retrying. A request
    /// that timed out is tried [`TIMEOUT_ATTEMPTS`] times at most: unlike
    /// throttling, it is likely to time out again.
    fn call(&self, op: &str, params: BTreeMap<String, String>) -> Result<String, CallError> {
        self.ctx.block_on(async {
            let mut attempt = 0;
            let mut timeouts = 0;
            loop {
                let result = self.attempt(op, &params).await;
                if matches!(&result, Err(e) if e.code == "RequestTimeout") {
                    timeouts += 1;
                    if timeouts >= TIMEOUT_ATTEMPTS {
                        return result;
                    }
                }
                match result {
                    Err(e) if e.retryable && attempt + 1 < self.retry.max_attempts => {
                        let delay = backoff(attempt, self.retry.base_delay, self.retry.max_delay);
                        tracing::debug!(op, code = %e.code, ?delay, "SimpleDB call failed; retrying");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        })
    }

    async fn attempt(
        &self,
        op: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<String, CallError> {
        let creds = self.credentials().await?;
        let body = self.signed_body(op, params, &creds);
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let text = response.text().await.map_err(transport_error)?;
        if status.is_success() {
            return Ok(text);
        }
        Err(error_from_response(status.as_u16(), &text))
    }

    /// The form body: every parameter plus the authentication ones, and the
    /// signature over all of them.
    fn signed_body(
        &self,
        op: &str,
        params: &BTreeMap<String, String>,
        creds: &Credentials,
    ) -> String {
        let mut p = params.clone();
        p.insert("Action".to_string(), op.to_string());
        p.insert("Version".to_string(), API_VERSION.to_string());
        p.insert(
            "AWSAccessKeyId".to_string(),
            creds.access_key_id().to_string(),
        );
        p.insert("SignatureVersion".to_string(), "2".to_string());
        p.insert("SignatureMethod".to_string(), "HmacSHA256".to_string());
        p.insert(
            "Timestamp".to_string(),
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
        );
        if let Some(token) = creds.session_token() {
            p.insert("SecurityToken".to_string(), token.to_string());
        }
        let path = self.endpoint.path();
        let signature = sigv2::sign(creds.secret_access_key(), "POST", &self.sign_host, path, &p);
        format!(
            "{}&Signature={}",
            sigv2::canonical_query(&p),
            sigv2::encode(&signature)
        )
    }

    /// The provider's credentials, cached until five minutes before they
    /// expire (static keys never do).
    async fn credentials(&self) -> Result<Credentials, CallError> {
        {
            let guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = &*guard {
                let fresh = c
                    .expiry()
                    .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300));
                if fresh {
                    return Ok(c.clone());
                }
            }
        }
        let provider = self.provider.as_ref().ok_or_else(|| CallError {
            code: "NoCredentials".to_string(),
            message: "no AWS credentials are configured".to_string(),
            retryable: false,
        })?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| CallError {
                code: "NoCredentials".to_string(),
                message: format!("could not load AWS credentials: {}", error_chain(&e)),
                retryable: false,
            })?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(creds.clone());
        Ok(creds)
    }
}

fn domain_params(domain: &str) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("DomainName".to_string(), domain.to_string());
    p
}

/// BatchPutAttributes' parameters for `items`.
fn batch_put_params(domain: &str, items: &[PutItem]) -> BTreeMap<String, String> {
    let mut p = domain_params(domain);
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("Item.{}.", i + 1);
        p.insert(format!("{prefix}ItemName"), item.item.clone());
        put_pairs(&mut p, &prefix, &item.pairs);
    }
    p
}

/// An upper bound of what an item and its pairs add to a batch request as
/// sent (the count SimpleDB's 1 MB limit applies to).
fn encoded_size(item: &str, pairs: &[PutAttr]) -> usize {
    ITEM_PARAM_BYTES
        + sigv2::encoded_len(item)
        + pairs
            .iter()
            .map(|p| PAIR_PARAM_BYTES + sigv2::encoded_len(&p.name) + sigv2::encoded_len(&p.value))
            .sum::<usize>()
}

fn put_pairs(p: &mut BTreeMap<String, String>, prefix: &str, pairs: &[PutAttr]) {
    for (i, pair) in pairs.iter().enumerate() {
        let a = format!("{prefix}Attribute.{}.", i + 1);
        p.insert(format!("{a}Name"), pair.name.clone());
        p.insert(format!("{a}Value"), pair.value.clone());
        if pair.replace {
            p.insert(format!("{a}Replace"), "true".to_string());
        }
    }
}

fn transport_error(e: reqwest::Error) -> CallError {
    // Whatever went wrong on the way (connect, timeout, reset), the request
    // may be sent again: every SimpleDB write we make is idempotent.
    let kind = if e.is_timeout() {
        "Timeout"
    } else if e.is_connect() {
        "ConnectionError"
    } else {
        "TransportError"
    };
    // The causes say what actually failed ("connection refused"); the URL
    // is left out (it is the endpoint, which the caller knows).
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    CallError {
        code: kind.to_string(),
        message,
        retryable: true,
    }
}

/// Codes SimpleDB (and AWS in general) use for "slow down / try again".
/// Tries of a request SimpleDB answers RequestTimeout.
pub const TIMEOUT_ATTEMPTS: u32 = 3;

const RETRYABLE_CODES: &[&str] = &[
    "ServiceUnavailable",
    "RequestThrottled",
    "Throttling",
    "ThrottlingException",
    "SlowDown",
    "InternalError",
    "RequestTimeout",
];

fn error_from_response(status: u16, body: &str) -> CallError {
    let parsed = roxmltree::Document::parse(body).ok().and_then(|doc| {
        let err = elements(doc.root_element(), "Error").next()?;
        let code = first_text(err, "Code").unwrap_or_default();
        let message = first_text(err, "Message").unwrap_or_default();
        Some((code, message))
    });
    let (code, message) = match parsed {
        Some((c, m)) if !c.is_empty() => (c, m),
        _ => (
            format!("HTTP {status}"),
            body.chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string(),
        ),
    };
    let retryable = status >= 500 || RETRYABLE_CODES.contains(&code.as_str());
    CallError {
        code,
        message,
        retryable,
    }
}

fn parse<'a>(op: &str, domain: &str, body: &'a str) -> StoreResult<roxmltree::Document<'a>> {
    roxmltree::Document::parse(body).map_err(|e| {
        StoreError::Backend(format!(
            "SimpleDB {op} on domain {domain}: MalformedResponse: {e}"
        ))
    })
}

/// Descendant elements with a local name (namespaces ignored).
fn elements<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.descendants()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn first_text(node: roxmltree::Node, name: &'static str) -> Option<String> {
    elements(node, name).next().map(decoded_text)
}

fn children_text(node: roxmltree::Node, name: &'static str) -> Vec<String> {
    elements(node, name).map(decoded_text).collect()
}

/// An element's text; SimpleDB marks names and values that XML cannot carry
/// with `encoding="base64"`.
fn decoded_text(node: roxmltree::Node) -> String {
    let text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    if node.attribute("encoding") == Some("base64") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text.trim()) {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

fn attribute_pair(node: roxmltree::Node) -> (String, String) {
    let mut name = String::new();
    let mut value = String::new();
    for c in node.children().filter(|c| c.is_element()) {
        match c.tag_name().name() {
            "Name" => name = decoded_text(c),
            "Value" => value = decoded_text(c),
            _ => {}
        }
    }
    (name, value)
}

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

fn flush_deletes(deletes: &mut Vec<String>, ops: &mut Vec<Op>) {
    if !deletes.is_empty() {
        ops.push(Op::BatchDelete(std::mem::take(deletes)));
    }
}

/// Collects Puts into batches; `after` holds the calls that must follow the
/// current batch (removals, overflow pairs).
#[derive(Default)]
struct PutBatcher {
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
fn pair_chunks(attrs: &Attrs) -> Vec<Vec<PutAttr>> {
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
fn count_of(item: &Item) -> u64 {
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
        let expression = render(&self.domain, &page_query);
        let mut delivered: u64 = 0;
        let mut count: u64 = 0;
        let mut token: Option<String> = None;
        loop {
            let (items, next) =
                self.client
                    .select_page(&self.domain, &expression, token.as_deref())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn put(item: &str, a: Attrs, remove: &[&str]) -> Change {
        Change::Put {
            item: item.into(),
            attrs: a,
            remove: remove.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn puts_batch_by_25_and_deletes_follow_in_order() {
        let mut changes: Vec<Change> = (0..60)
            .map(|i| put(&format!("i{i}"), attrs(&[("a", &["1"])]), &[]))
            .collect();
        changes.push(Change::Delete { item: "x".into() });
        changes.push(Change::Delete { item: "y".into() });
        let ops = plan(&changes);
        let sizes: Vec<usize> = ops
            .iter()
            .map(|o| match o {
                Op::BatchPut(v) => v.len(),
                Op::BatchDelete(v) => 100 + v.len(),
                _ => 1000,
            })
            .collect();
        assert_eq!(sizes, vec![25, 25, 10, 102]);
    }

    #[test]
    fn a_repeated_item_starts_a_new_batch_and_removals_follow_their_batch() {
        let ops = plan(&[
            put("a", attrs(&[("x", &["1"])]), &["old", "x"]),
            put("a", attrs(&[("x", &["2"])]), &[]),
        ]);
        assert_eq!(
            ops,
            vec![
                Op::BatchPut(vec![PutItem {
                    item: "a".into(),
                    pairs: vec![PutAttr {
                        name: "x".into(),
                        value: "1".into(),
                        replace: true
                    }]
                }]),
                Op::DeleteAttrs {
                    item: "a".into(),
                    pairs: vec![DeleteAttr {
                        name: "old".into(),
                        value: None
                    }]
                },
                Op::BatchPut(vec![PutItem {
                    item: "a".into(),
                    pairs: vec![PutAttr {
                        name: "x".into(),
                        value: "2".into(),
                        replace: true
                    }]
                }]),
            ]
        );
    }

    #[test]
    fn add_and_delete_value_never_replace() {
        let ops = plan(&[
            Change::AddValue {
                item: "meta".into(),
                attr: "dists".into(),
                value: "sid".into(),
            },
            Change::DeleteValue {
                item: "meta".into(),
                attr: "dists".into(),
                value: "old".into(),
            },
        ]);
        assert_eq!(
            ops,
            vec![
                Op::Put(PutItem {
                    item: "meta".into(),
                    pairs: vec![PutAttr {
                        name: "dists".into(),
                        value: "sid".into(),
                        replace: false
                    }]
                }),
                Op::DeleteAttrs {
                    item: "meta".into(),
                    pairs: vec![DeleteAttr {
                        name: "dists".into(),
                        value: Some("old".into())
                    }]
                }
            ]
        );
    }

    #[test]
    fn large_items_split_without_losing_values() {
        let values: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
        let mut a = Attrs::new();
        a.insert("many".into(), values.clone());
        let ops = plan(&[put("big", a, &[])]);
        assert_eq!(ops.len(), 2);
        let Op::BatchPut(first) = &ops[0] else {
            panic!()
        };
        let Op::Put(second) = &ops[1] else { panic!() };
        assert_eq!(first[0].pairs.len(), 256);
        assert!(first[0].pairs.iter().all(|p| p.replace));
        assert_eq!(second.pairs.len(), 44);
        assert!(second.pairs.iter().all(|p| !p.replace));
    }

    #[test]
    fn batches_respect_the_byte_limit() {
        let big = "x".repeat(1000);
        let changes: Vec<Change> = (0..20)
            .map(|i| {
                let mut a = Attrs::new();
                for j in 0..100 {
                    a.insert(format!("a{j:03}"), vec![big.clone()]);
                }
                put(&format!("i{i}"), a, &[])
            })
            .collect();
        for op in plan(&changes) {
            let Op::BatchPut(items) = op else { panic!() };
            let bytes: usize = items
                .iter()
                .flat_map(|i| i.pairs.iter())
                .map(|p| p.name.len() + p.value.len())
                .sum();
            assert!(bytes <= MAX_BATCH_BYTES);
        }
    }

    /// Values that triple when form-encoded: the batches are cut by what is
    /// sent, not by the raw bytes.
    #[test]
    fn batches_fit_one_megabyte_as_sent() {
        let wide = "é\u{1}%".repeat(250);
        let changes: Vec<Change> = (0..25)
            .map(|i| {
                let mut a = Attrs::new();
                for j in 0..60 {
                    a.insert(format!("a{j:03}"), vec![wide.clone()]);
                }
                put(&format!("i{i}"), a, &[])
            })
            .collect();
        let ops = plan(&changes);
        assert!(ops.len() > 1);
        for op in ops {
            let Op::BatchPut(items) = op else { panic!() };
            let raw: usize = items
                .iter()
                .flat_map(|i| i.pairs.iter())
                .map(|p| p.name.len() + p.value.len())
                .sum();
            let sent = sigv2::canonical_query(&batch_put_params("domain", &items)).len();
            assert!(sent <= MAX_BATCH_BYTES, "{sent} bytes sent ({raw} raw)");
            assert!(sent > raw);
        }
    }

    #[test]
    fn errors_are_parsed_and_classified() {
        let body = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>NoSuchDomain</Code>\
                    <Message>The specified domain does not exist.</Message></Error></Errors>\
                    <RequestID>x</RequestID></Response>";
        let e = error_from_response(400, body);
        assert_eq!(e.code, "NoSuchDomain");
        assert!(!e.retryable);
        let e = error_from_response(
            503,
            "<Response><Errors><Error><Code>ServiceUnavailable</Code></Error></Errors></Response>",
        );
        assert!(e.retryable);
        let e = error_from_response(502, "bad gateway");
        assert_eq!(e.code, "HTTP 502");
        assert!(e.retryable);
        let e = error_from_response(
            400,
            "<Response><Errors><Error><Code>RequestThrottled</Code></Error></Errors></Response>",
        );
        assert!(e.retryable);
    }

    #[test]
    fn base64_values_are_decoded() {
        let doc = roxmltree::Document::parse(
            "<A xmlns=\"http://sdb.amazonaws.com/doc/2009-04-15/\"><Attribute><Name>n</Name>\
             <Value encoding=\"base64\">AWI=</Value></Attribute></A>",
        )
        .unwrap();
        let a = elements(doc.root_element(), "Attribute").next().unwrap();
        assert_eq!(attribute_pair(a), ("n".to_string(), "\u{1}b".to_string()));
    }

    #[test]
    fn simpledb_has_its_own_region_and_refuses_one_aws_does_not_serve() {
        use crate::aws::{AwsSettings, Overrides};
        let keys = crate::aws::StaticKeys {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        };
        let o = Overrides {
            credentials: Some(keys),
            ..Overrides::default()
        };
        let settings = |region: &str, sdb: Option<&str>| AwsSettings {
            region: Some(region.into()),
            simpledb_region: sdb.map(str::to_string),
            ..AwsSettings::default()
        };
        if std::env::vars().any(|(k, _)| k.starts_with("AWS_ENDPOINT_URL")) {
            eprintln!("SKIPPED: an AWS_ENDPOINT_URL variable overrides every region");
            return;
        }
        let ctx = AwsContext::new(&settings("eu-central-1", None), &o).unwrap();
        let err = SimpleDb::new(&ctx).unwrap_err().to_string();
        assert!(err.contains("not offered in region eu-central-1"), "{err}");
        assert!(err.contains("--simpledb-region"), "{err}");
        let ctx = AwsContext::new(&settings("eu-central-1", Some("eu-west-1")), &o).unwrap();
        assert_eq!(ctx.region(), "eu-central-1");
        let client = SimpleDb::new(&ctx).unwrap();
        assert_eq!(client.endpoint(), "https://sdb.eu-west-1.amazonaws.com/");
    }

    #[test]
    fn the_signature_covers_every_parameter_and_the_session_token() {
        use crate::aws::{AwsSettings, Overrides, StaticKeys};
        let o = Overrides {
            simpledb_endpoint: Some("http://127.0.0.1:8700/".into()),
            credentials: Some(StaticKeys {
                access_key_id: "AKIDTEST".into(),
                secret_access_key: "secret".into(),
                session_token: Some("token".into()),
            }),
            ..Overrides::default()
        };
        let ctx = AwsContext::new(&AwsSettings::default(), &o).unwrap();
        let client = SimpleDb::new(&ctx).unwrap();
        let creds = Credentials::new("AKIDTEST", "secret", Some("token".into()), None, "t");
        let mut params = domain_params("d o'm");
        params.insert("ItemName".into(), "a&b=c".into());
        let body = client.signed_body("GetAttributes", &params, &creds);
        let mut got: BTreeMap<String, String> = body
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let dec = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                };
                (dec(k), dec(v))
            })
            .collect();
        assert_eq!(got["SecurityToken"], "token");
        assert_eq!(got["AWSAccessKeyId"], "AKIDTEST");
        assert_eq!(got["SignatureVersion"], "2");
        assert_eq!(got["SignatureMethod"], "HmacSHA256");
        assert_eq!(got["Version"], API_VERSION);
        assert_eq!(got["Action"], "GetAttributes");
        assert_eq!(got["ItemName"], "a&b=c");
        assert!(!body.contains("secret"));
        let signature = got.remove("Signature").unwrap();
        // The host includes the port, as the Host header does.
        assert_eq!(
            signature,
            sigv2::sign("secret", "POST", "127.0.0.1:8700", "/", &got)
        );
    }

    mod plan_model {
        //! `plan` must do what the changes say: applying its calls with
        //! SimpleDB's semantics gives the state that applying the changes
        //! one by one gives, and every call is within SimpleDB's limits.
        use std::collections::{BTreeMap, BTreeSet};

        use proptest::prelude::*;

        use super::super::*;

        type State = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

        fn tidy(state: &mut State) {
            for attrs in state.values_mut() {
                attrs.retain(|_, v| !v.is_empty());
            }
            state.retain(|_, a| !a.is_empty());
        }

        fn by_changes(changes: &[Change]) -> State {
            let mut s = State::new();
            for c in changes {
                match c {
                    Change::Put {
                        item,
                        attrs,
                        remove,
                    } => {
                        let e = s.entry(item.clone()).or_default();
                        for (k, vs) in attrs {
                            e.insert(k.clone(), vs.iter().cloned().collect());
                        }
                        for r in remove {
                            if attrs.get(r).is_none_or(Vec::is_empty) {
                                e.remove(r);
                            }
                        }
                    }
                    Change::Delete { item } => {
                        s.remove(item);
                    }
                    Change::AddValue { item, attr, value } => {
                        s.entry(item.clone())
                            .or_default()
                            .entry(attr.clone())
                            .or_default()
                            .insert(value.clone());
                    }
                    Change::DeleteValue { item, attr, value } => {
                        if let Some(v) = s.get_mut(item).and_then(|a| a.get_mut(attr)) {
                            v.remove(value);
                        }
                    }
                }
                tidy(&mut s);
            }
            s
        }

        fn put(s: &mut State, p: &PutItem) {
            let e = s.entry(p.item.clone()).or_default();
            for pair in p.pairs.iter().filter(|p| p.replace) {
                e.remove(&pair.name);
            }
            for pair in &p.pairs {
                e.entry(pair.name.clone())
                    .or_default()
                    .insert(pair.value.clone());
            }
        }

        fn by_ops(ops: &[Op]) -> State {
            let mut s = State::new();
            for op in ops {
                match op {
                    Op::BatchPut(items) => {
                        assert!(items.len() <= MAX_BATCH_ITEMS);
                        let names: BTreeSet<&str> = items.iter().map(|i| i.item.as_str()).collect();
                        assert_eq!(names.len(), items.len(), "duplicate item in a batch");
                        for i in items {
                            assert!(!i.pairs.is_empty() && i.pairs.len() <= MAX_PAIRS_PER_CALL);
                            put(&mut s, i);
                        }
                    }
                    Op::Put(i) => {
                        assert!(!i.pairs.is_empty() && i.pairs.len() <= MAX_PAIRS_PER_CALL);
                        put(&mut s, i);
                    }
                    Op::DeleteAttrs { item, pairs } => {
                        assert!(!pairs.is_empty() && pairs.len() <= MAX_PAIRS_PER_CALL);
                        if let Some(a) = s.get_mut(item) {
                            for DeleteAttr { name, value } in pairs {
                                match value {
                                    None => {
                                        a.remove(name);
                                    }
                                    Some(v) => {
                                        if let Some(vs) = a.get_mut(name) {
                                            vs.remove(v);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Op::BatchDelete(items) => {
                        assert!(!items.is_empty() && items.len() <= MAX_BATCH_ITEMS);
                        let names: BTreeSet<&String> = items.iter().collect();
                        assert_eq!(names.len(), items.len());
                        for i in items {
                            s.remove(i);
                        }
                    }
                }
                tidy(&mut s);
            }
            s
        }

        fn name(pool: usize) -> impl Strategy<Value = String> {
            (0..pool).prop_map(|i| format!("i{i}"))
        }

        fn attr() -> impl Strategy<Value = String> {
            prop::sample::select(vec!["x", "y", "z", "w"]).prop_map(String::from)
        }

        fn value() -> impl Strategy<Value = String> {
            prop::sample::select(vec!["1", "2", "3", "'", "%"]).prop_map(String::from)
        }

        fn change() -> impl Strategy<Value = Change> {
            let attrs =
                prop::collection::btree_map(attr(), prop::collection::vec(value(), 0..4), 0..4);
            prop_oneof![
                4 => (name(30), attrs, prop::collection::vec(attr(), 0..3))
                    .prop_map(|(item, attrs, remove)| Change::Put { item, attrs, remove }),
                1 => name(30).prop_map(|item| Change::Delete { item }),
                1 => (name(30), attr(), value())
                    .prop_map(|(item, attr, value)| Change::AddValue { item, attr, value }),
                1 => (name(30), attr(), value())
                    .prop_map(|(item, attr, value)| Change::DeleteValue { item, attr, value }),
            ]
        }

        proptest! {
            #[test]
            fn plan_matches_the_changes(changes in prop::collection::vec(change(), 0..120)) {
                prop_assert_eq!(by_ops(&plan(&changes)), by_changes(&changes));
            }
        }
    }

    #[test]
    fn regional_endpoints() {
        assert_eq!(regional_endpoint("us-east-1"), "https://sdb.amazonaws.com");
        assert_eq!(
            regional_endpoint("eu-west-1"),
            "https://sdb.eu-west-1.amazonaws.com"
        );
    }
}
