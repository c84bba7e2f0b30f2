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
            // An expected value of an absent attribute is
            // AttributeDoesNotExist: the condition failed all the same.
            Err(e) if matches!(&*e.code, "ConditionalCheckFailed" | "AttributeDoesNotExist") => {
                Ok(false)
            }
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

    /// One page of a Select (ConsistentRead): its items and the NextToken,
    /// or [`SelectPage::TimedOut`] when SimpleDB gave up on the query (its
    /// 5-second limit) — tried once, since the caller's answer is a smaller
    /// page rather than the same request again. `domain` is only for
    /// messages (the expression names the domain).
    pub fn select_page(
        &self,
        domain: &str,
        expression: &str,
        next_token: Option<&str>,
    ) -> StoreResult<SelectPage> {
        let mut p = BTreeMap::new();
        p.insert("SelectExpression".to_string(), expression.to_string());
        p.insert("ConsistentRead".to_string(), "true".to_string());
        if let Some(t) = next_token {
            p.insert("NextToken".to_string(), t.to_string());
        }
        let body = match self.call_with("Select", p, 1) {
            Ok(body) => body,
            Err(e) if is_timeout(&e.code) => {
                return Ok(SelectPage::TimedOut(self.word("Select", domain, e)))
            }
            Err(e) => return Err(self.word("Select", domain, e)),
        };
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
        Ok(SelectPage::Items(
            items,
            first_text(doc.root_element(), "NextToken"),
        ))
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
        self.call_with(op, params, TIMEOUT_ATTEMPTS)
    }

    /// [`Self::call`], giving up after `timeout_attempts` timeouts.
    fn call_with(
        &self,
        op: &str,
        params: BTreeMap<String, String>,
        timeout_attempts: u32,
    ) -> Result<String, CallError> {
        self.ctx.block_on(async {
            let mut attempt = 0;
            let mut timeouts = 0;
            loop {
                let result = self.attempt(op, &params).await;
                if matches!(&result, Err(e) if is_timeout(&e.code)) {
                    timeouts += 1;
                    if timeouts >= timeout_attempts {
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

/// Tries of a request SimpleDB answers RequestTimeout.
pub const TIMEOUT_ATTEMPTS: u32 = 3;

/// A request that ran out of time: `RequestTimeout` is SimpleDB's code
/// (408); `QueryTimeout` is the name older documentation gives a Select's.
fn is_timeout(code: &str) -> bool {
    matches!(code, "RequestTimeout" | "QueryTimeout")
}

/// One answer to a Select request.
#[derive(Debug)]
pub enum SelectPage {
    /// Its items and the NextToken to continue with, if any.
    Items(Vec<Item>, Option<String>),
    /// SimpleDB stopped the query before answering (worded for a message).
    TimedOut(StoreError),
}

/// Codes SimpleDB (and AWS in general) use for "slow down / try again".
const RETRYABLE_CODES: &[&str] = &[
    "ServiceUnavailable",
    "RequestThrottled",
    "Throttling",
    "ThrottlingException",
    "SlowDown",
    "InternalError",
    "RequestTimeout",
    "QueryTimeout",
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

mod meta;
pub use meta::{plan, Op, SimpleDbMeta};

#[cfg(test)]
mod tests;
