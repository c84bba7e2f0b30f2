//! `sdb-local`: SimpleDB's 2009-04-15 query API over HTTP, on the same
//! engine the embedded store uses. Requests are form-encoded (POST body or
//! GET query string), signed with Signature Version 2; responses are
//! SimpleDB's XML. For tests it can fail a fraction of requests with 503
//! ServiceUnavailable, add latency, count requests per operation
//! (`GET /__stats`, `POST /__stats/reset`) and log every request with its
//! arrival and answer times (`request_log`), so a benchmark can tell which
//! requests were in flight at once.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rand::Rng;
use tiny_http::{Header, Method, Request, Response};

use crate::engine::{Engine, PageLimit};
use crate::error::{SdbError, SdbResult};
use crate::fit;
use crate::item::Attrs;
use crate::item::{DeleteAttr, Expected, PutAttr};
use crate::limits::{DEFAULT_SELECT_LIMIT, MAX_BATCH_ITEMS, MAX_LIST_DOMAINS, MAX_REQUEST_BYTES};
use crate::parse::parse;
use crate::select::Output;
use crate::sigv2;

/// SimpleDB's XML namespace.
const NAMESPACE: &str = "http://sdb.amazonaws.com/doc/2009-04-15/";

/// What sdb-local reports as each request's machine usage.
const BOX_USAGE: &str = "0.0000219907";

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: String,
    /// 0 picks a free port.
    pub port: u16,
    /// The SQLite file; `None` keeps everything in memory.
    pub db: Option<PathBuf>,
    /// The fraction of requests answered 503 before anything is done.
    pub fail_rate: f64,
    /// What the injected failures answer: `ServiceUnavailable` (503),
    /// `RequestTimeout` (408) or `InternalError` (500).
    pub fail_code: String,
    /// Added to every request.
    pub latency: Duration,
    /// When set, requests must be signed with this key pair.
    pub credentials: Option<(String, String)>,
    /// Refuse what AWS refuses beyond its documented limits (Select
    /// comparisons, attributes and requested attributes; the 1 MB
    /// request). On by default.
    pub strict: bool,
    /// A Select page asking for more items than this (its `limit`, else
    /// 100; a count without a limit asks for all) answers 408
    /// RequestTimeout, as AWS does when a query runs past its 5 seconds.
    /// Smaller pages of the same query succeed, so a client that splits a
    /// timed-out page can be tested.
    pub select_timeout_items: Option<u32>,
    pub threads: usize,
    /// When set, one JSON line per request is appended to this file:
    /// `{"svc":"SimpleDB","op":ACTION,"t0":ARRIVED,"t1":ANSWERED}`
    /// (seconds since the Unix epoch), written before the answer is sent.
    pub request_log: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            bind: "127.0.0.1".to_string(),
            port: 0,
            db: None,
            fail_rate: 0.0,
            fail_code: "ServiceUnavailable".to_string(),
            latency: Duration::ZERO,
            credentials: None,
            strict: true,
            select_timeout_items: None,
            threads: 4,
            request_log: None,
        }
    }
}

struct State {
    engine: Engine,
    config: ServerConfig,
    stats: Mutex<BTreeMap<String, u64>>,
    request_log: Option<Mutex<std::fs::File>>,
}

/// A bound server, ready to serve.
pub struct Server {
    http: Arc<tiny_http::Server>,
    state: Arc<State>,
    addr: SocketAddr,
}

impl Server {
    /// Opens the database and binds the socket.
    pub fn bind(config: ServerConfig) -> Result<Server, String> {
        if !["ServiceUnavailable", "RequestTimeout", "InternalError"]
            .contains(&config.fail_code.as_str())
        {
            return Err(format!(
                "--fail-code {}: must be ServiceUnavailable, RequestTimeout or InternalError",
                config.fail_code
            ));
        }
        if !(0.0..=1.0).contains(&config.fail_rate) {
            return Err(format!(
                "--fail-rate {}: must be between 0 and 1",
                config.fail_rate
            ));
        }
        let engine = match &config.db {
            Some(path) => Engine::open(path),
            None => Engine::open_in_memory(),
        }
        .map_err(|e| e.message)?;
        let request_log = match &config.request_log {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            )),
            None => None,
        };
        let listen_error = |e: &dyn std::fmt::Display| {
            format!("cannot listen on {}:{}: {e}", config.bind, config.port)
        };
        let listener = std::net::TcpListener::bind((config.bind.as_str(), config.port))
            .map_err(|e| listen_error(&e))?;
        set_nodelay(&listener).map_err(|e| listen_error(&e))?;
        let http =
            tiny_http::Server::from_listener(listener, None).map_err(|e| listen_error(&e))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| "the server is not listening on an IP address".to_string())?;
        Ok(Server {
            http: Arc::new(http),
            state: Arc::new(State {
                engine,
                config,
                stats: Mutex::new(BTreeMap::new()),
                request_log,
            }),
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves on the configured number of threads; returns their handles
    /// (they run until the process ends).
    pub fn spawn(self) -> Vec<JoinHandle<()>> {
        (0..self.state.config.threads.max(1))
            .map(|_| {
                let http = Arc::clone(&self.http);
                let state = Arc::clone(&self.state);
                std::thread::spawn(move || {
                    while let Ok(request) = http.recv() {
                        handle(&state, request);
                    }
                })
            })
            .collect()
    }
}

/// Turns Nagle's algorithm off for the connections `listener` accepts
/// (Linux copies the option to them). tiny_http writes a response in
/// pieces; with Nagle on, a client's delayed ACK stalls every response
/// that spans several pieces by 40 ms.
#[cfg(unix)]
#[allow(unsafe_code)]
fn set_nodelay(listener: &std::net::TcpListener) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: the descriptor is the listener's open TCP socket; the
    // temporary stream only sets an option on it and, being ManuallyDrop,
    // never closes it.
    let socket = std::mem::ManuallyDrop::new(unsafe {
        std::net::TcpStream::from_raw_fd(listener.as_raw_fd())
    });
    socket.set_nodelay(true)
}

#[cfg(not(unix))]
fn set_nodelay(_listener: &std::net::TcpListener) -> std::io::Result<()> {
    Ok(())
}

fn handle(state: &State, mut request: Request) {
    let arrived = SystemTime::now();
    let (path, query) = match request.url().split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (request.url().to_string(), String::new()),
    };
    if path.starts_with("/__stats") {
        let response = stats_response(state, request.method(), &path);
        let _ = request.respond(response);
        return;
    }
    let mut body = String::new();
    if *request.method() == Method::Post {
        if let Err(e) = request.as_reader().read_to_string(&mut body) {
            let _ = request.respond(error_response(&SdbError::invalid_parameter(format!(
                "cannot read the request body: {e}"
            ))));
            return;
        }
    }
    if state.config.strict && query.len() + body.len() > MAX_REQUEST_BYTES {
        let _ = request.respond(error_response(&SdbError::invalid_parameter(format!(
            "the request is {} bytes, more than SimpleDB's limit of {MAX_REQUEST_BYTES}",
            query.len() + body.len()
        ))));
        return;
    }
    let mut params = parse_form(&query);
    params.extend(parse_form(&body));
    let action = params
        .get("Action")
        .cloned()
        .unwrap_or_else(|| "(none)".to_string());
    *state
        .stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(action.clone())
        .or_insert(0) += 1;

    let config = &state.config;
    if config.fail_rate > 0.0 && rand::thread_rng().gen_bool(config.fail_rate) {
        let _ = request.respond(error_response(&injected_failure(&config.fail_code)));
        return;
    }
    if !config.latency.is_zero() {
        std::thread::sleep(config.latency);
    }
    let host = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    let method = request.method().as_str().to_string();
    let result = authenticate(config, &method, &host, &path, &params)
        .and_then(|()| dispatch(state, &action, &Params(params)));
    let response = match result {
        Ok(body) => xml_response(200, body),
        Err(e) => {
            tracing::debug!("{action}: {e}");
            error_response(&e)
        }
    };
    log_request(state, &action, arrived);
    let _ = request.respond(response);
}

/// Appends one request's line to the request log, if there is one.
fn log_request(state: &State, action: &str, arrived: SystemTime) {
    let Some(log) = &state.request_log else {
        return;
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    };
    let line = serde_json::json!({
        "svc": "SimpleDB",
        "op": action,
        "t0": secs(arrived),
        "t1": secs(SystemTime::now()),
    });
    let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = writeln!(file, "{line}") {
        tracing::warn!("request log: {e}");
    }
}

fn stats_response(
    state: &State,
    method: &Method,
    path: &str,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut stats = state.stats.lock().unwrap_or_else(|p| p.into_inner());
    match (method, path) {
        (Method::Get, "/__stats") => {
            let json = serde_json::to_string(&*stats).expect("counts serialise");
            Response::from_string(json).with_header(header("Content-Type", "application/json"))
        }
        (Method::Post, "/__stats/reset") => {
            stats.clear();
            Response::from_string("{}").with_header(header("Content-Type", "application/json"))
        }
        _ => Response::from_string("not found").with_status_code(404),
    }
}

/// The error an injected failure answers.
fn injected_failure(code: &str) -> SdbError {
    match code {
        "RequestTimeout" => SdbError::new(
            "RequestTimeout",
            408,
            "A timeout occurred when attempting to query the domain",
        ),
        "InternalError" => {
            SdbError::internal("Request could not be executed due to an internal service error.")
        }
        _ => SdbError::service_unavailable(),
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte.
fn parse_form(s: &str) -> BTreeMap<String, String> {
    let decode = |t: &str| {
        percent_encoding::percent_decode_str(&t.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// Checks the SigV2 signature when the server has credentials; without
/// them any (or no) signature is accepted.
fn authenticate(
    config: &ServerConfig,
    method: &str,
    host: &str,
    path: &str,
    params: &BTreeMap<String, String>,
) -> SdbResult<()> {
    let Some((access, secret)) = &config.credentials else {
        return Ok(());
    };
    let auth_failure = |m: &str| SdbError::new("AuthFailure", 403, m.to_string());
    let given_key = params.get("AWSAccessKeyId").ok_or_else(|| {
        auth_failure("AWS was not able to authenticate the request: access credentials are missing")
    })?;
    if given_key != access {
        return Err(auth_failure(
            "AWS was not able to validate the provided access credentials",
        ));
    }
    let signature = params
        .get("Signature")
        .ok_or_else(|| auth_failure("The request must contain the parameter Signature"))?;
    let well_formed = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map(|b| b.len() == 32)
        .unwrap_or(false);
    if !well_formed {
        return Err(auth_failure(
            "The request signature is not a base64 HMAC-SHA256 value",
        ));
    }
    if params.get("SignatureVersion").map(String::as_str) != Some("2") {
        return Err(auth_failure("Only SignatureVersion 2 is supported"));
    }
    if params.get("SignatureMethod").map(String::as_str) != Some("HmacSHA256") {
        return Err(auth_failure("Only SignatureMethod HmacSHA256 is supported"));
    }
    let expected = sigv2::sign(secret, method, host, path, params);
    if &expected != signature {
        return Err(SdbError::new(
            "SignatureDoesNotMatch",
            403,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// The request's parameters.
struct Params(BTreeMap<String, String>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> SdbResult<&str> {
        self.get(name)
            .ok_or_else(|| SdbError::missing_parameter(name))
    }

    fn flag(&self, name: &str) -> SdbResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(SdbError::invalid_parameter(format!(
                "Value ({v}) for parameter {name} is invalid: it must be true or false"
            ))),
        }
    }

    /// The prefixes `"{prefix}.N."` present, in numeric order of `N`.
    fn members(&self, prefix: &str) -> SdbResult<Vec<String>> {
        let lead = format!("{prefix}.");
        let mut indices: Vec<u64> = Vec::new();
        for key in self.0.keys() {
            let Some(rest) = key.strip_prefix(&lead) else {
                continue;
            };
            let index = rest.split('.').next().unwrap_or_default();
            let n: u64 = index.parse().map_err(|_| {
                SdbError::invalid_parameter(format!("Parameter {key} has an invalid index"))
            })?;
            if !indices.contains(&n) {
                indices.push(n);
            }
        }
        indices.sort_unstable();
        Ok(indices.iter().map(|n| format!("{prefix}.{n}")).collect())
    }

    /// The indexed values `"{prefix}.N"` (e.g. `AttributeName.1`), in order.
    fn values(&self, prefix: &str) -> SdbResult<Vec<String>> {
        let lead = format!("{prefix}.");
        let mut out: Vec<(u64, String)> = Vec::new();
        for (key, value) in &self.0 {
            if let Some(index) = key.strip_prefix(&lead) {
                let n: u64 = index.parse().map_err(|_| {
                    SdbError::invalid_parameter(format!("Parameter {key} has an invalid index"))
                })?;
                out.push((n, value.clone()));
            }
        }
        out.sort();
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    fn put_attrs(&self, prefix: &str) -> SdbResult<Vec<PutAttr>> {
        self.members(prefix)?
            .into_iter()
            .map(|m| {
                Ok(PutAttr {
                    name: self.required(&format!("{m}.Name"))?.to_string(),
                    value: self.required(&format!("{m}.Value"))?.to_string(),
                    replace: self.flag(&format!("{m}.Replace"))?.unwrap_or(false),
                })
            })
            .collect()
    }

    fn delete_attrs(&self, prefix: &str) -> SdbResult<Vec<DeleteAttr>> {
        self.members(prefix)?
            .into_iter()
            .map(|m| {
                Ok(DeleteAttr {
                    name: self.required(&format!("{m}.Name"))?.to_string(),
                    value: self.get(&format!("{m}.Value")).map(str::to_string),
                })
            })
            .collect()
    }

    fn expected(&self) -> SdbResult<Option<Expected>> {
        let name = self.get("Expected.Name");
        let value = self.get("Expected.Value");
        let exists = self.flag("Expected.Exists")?;
        if name.is_none() && value.is_none() && exists.is_none() {
            return Ok(None);
        }
        Ok(Some(Expected {
            name: self.required("Expected.Name")?.to_string(),
            value: value.map(str::to_string),
            exists,
        }))
    }
}

/// Runs one operation; returns the XML body of its answer.
fn dispatch(state: &State, action: &str, p: &Params) -> SdbResult<String> {
    let engine = &state.engine;
    let mut result = String::new();
    match action {
        "CreateDomain" => engine.create_domain(p.required("DomainName")?)?,
        "DeleteDomain" => engine.delete_domain(p.required("DomainName")?)?,
        "ListDomains" => result = list_domains(engine, p)?,
        "DomainMetadata" => {
            let m = engine.domain_metadata(p.required("DomainName")?)?;
            result = format!(
                "<ItemCount>{}</ItemCount><ItemNamesSizeBytes>{}</ItemNamesSizeBytes>\
                 <AttributeNameCount>{}</AttributeNameCount><AttributeNamesSizeBytes>{}</AttributeNamesSizeBytes>\
                 <AttributeValueCount>{}</AttributeValueCount><AttributeValuesSizeBytes>{}</AttributeValuesSizeBytes>\
                 <Timestamp>{}</Timestamp>",
                m.item_count,
                m.item_names_size_bytes,
                m.attribute_name_count,
                m.attribute_names_size_bytes,
                m.attribute_value_count,
                m.attribute_values_size_bytes,
                m.timestamp
            );
        }
        "PutAttributes" => {
            let attrs = p.put_attrs("Attribute")?;
            engine.put_attributes(
                p.required("DomainName")?,
                p.required("ItemName")?,
                &attrs,
                p.expected()?.as_ref(),
            )?;
        }
        "BatchPutAttributes" => {
            let items = batch(p, |m| p.put_attrs(&format!("{m}.Attribute")))?;
            engine.batch_put(p.required("DomainName")?, &items)?;
        }
        "DeleteAttributes" => {
            let attrs = p.delete_attrs("Attribute")?;
            engine.delete_attributes(
                p.required("DomainName")?,
                p.required("ItemName")?,
                &attrs,
                p.expected()?.as_ref(),
            )?;
        }
        "BatchDeleteAttributes" => {
            let items = batch(p, |m| p.delete_attrs(&format!("{m}.Attribute")))?;
            engine.batch_delete(p.required("DomainName")?, &items)?;
        }
        "GetAttributes" => {
            let names = p.values("AttributeName")?;
            let attrs = engine.get(p.required("DomainName")?, p.required("ItemName")?, &names)?;
            result = attributes_xml(&attrs.unwrap_or_default());
        }
        "Select" => result = select(engine, p, &state.config)?,
        "(none)" => {
            return Err(SdbError::new(
                "MissingAction",
                400,
                "The request must contain the parameter Action",
            ))
        }
        other => {
            return Err(SdbError::new(
                "InvalidAction",
                400,
                format!("The action {other} is not valid for this web service"),
            ))
        }
    }
    let has_result = matches!(
        action,
        "ListDomains" | "DomainMetadata" | "GetAttributes" | "Select"
    );
    let request_id = request_id();
    let result = if has_result {
        format!("<{action}Result>{result}</{action}Result>")
    } else {
        String::new()
    };
    Ok(format!(
        "<?xml version=\"1.0\"?>\n<{action}Response xmlns=\"{NAMESPACE}\">{result}\
         <ResponseMetadata><RequestId>{request_id}</RequestId><BoxUsage>{BOX_USAGE}</BoxUsage></ResponseMetadata>\
         </{action}Response>"
    ))
}

/// `Item.N.ItemName` plus each item's attributes.
fn batch<T>(
    p: &Params,
    attrs: impl Fn(&str) -> SdbResult<Vec<T>>,
) -> SdbResult<Vec<(String, Vec<T>)>> {
    let members = p.members("Item")?;
    if members.len() > MAX_BATCH_ITEMS {
        return Err(SdbError::submitted_items_exceeded(MAX_BATCH_ITEMS));
    }
    members
        .iter()
        .map(|m| {
            let name = p.required(&format!("{m}.ItemName"))?.to_string();
            Ok((name, attrs(m)?))
        })
        .collect()
}

fn list_domains(engine: &Engine, p: &Params) -> SdbResult<String> {
    let max = match p.get("MaxNumberOfDomains") {
        None => MAX_LIST_DOMAINS,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_DOMAINS).contains(&n) => n,
            _ => {
                return Err(SdbError::invalid_parameter(format!(
                    "Value ({v}) for parameter MaxNumberOfDomains is invalid. MaxNumberOfDomains must be between 1 and {MAX_LIST_DOMAINS}"
                )))
            }
        },
    };
    let after = match p.get("NextToken") {
        None => None,
        Some(t) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(SdbError::invalid_next_token)?,
        ),
    };
    let domains: Vec<String> = engine
        .list_domains()?
        .into_iter()
        .filter(|d| after.as_ref().is_none_or(|a| d > a))
        .collect();
    let mut out = String::new();
    for d in domains.iter().take(max) {
        out.push_str(&format!("<DomainName>{}</DomainName>", xml_escape(d)));
    }
    if domains.len() > max {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&domains[max - 1]);
        out.push_str(&format!("<NextToken>{token}</NextToken>"));
    }
    Ok(out)
}

fn select(engine: &Engine, p: &Params, config: &ServerConfig) -> SdbResult<String> {
    let text = p.required("SelectExpression")?;
    let (domain, query) = parse(text)?;
    if config.strict {
        fit::check(&query)?;
    }
    if let Some(most) = config.select_timeout_items {
        let asked = match (query.limit, &query.output) {
            (Some(l), _) => l,
            (None, Output::Count) => u32::MAX,
            (None, _) => DEFAULT_SELECT_LIMIT,
        };
        if asked > most {
            return Err(SdbError::new(
                "RequestTimeout",
                408,
                format!(
                    "A timeout occurred when attempting to query domain {domain} \
                     with query expression {text}"
                ),
            ));
        }
    }
    let page = engine.select(
        &domain,
        &query,
        p.flag("ConsistentRead")?.unwrap_or(false),
        p.get("NextToken"),
        PageLimit::SIMPLEDB,
    )?;
    let mut out = String::new();
    for item in &page.items {
        out.push_str(&format!(
            "<Item><Name>{}</Name>{}</Item>",
            xml_escape(&item.name),
            attributes_xml(&item.attrs)
        ));
    }
    if let Some(t) = page.next_token {
        out.push_str(&format!("<NextToken>{t}</NextToken>"));
    }
    Ok(out)
}

fn attributes_xml(attrs: &Attrs) -> String {
    let mut out = String::new();
    for (name, values) in attrs {
        for v in values {
            out.push_str(&format!(
                "<Attribute><Name>{}</Name><Value>{}</Value></Attribute>",
                xml_escape(name),
                xml_escape(v)
            ));
        }
    }
    out
}

/// Escapes text for XML content. `\r` is written as a character reference
/// because XML parsers turn a literal one into `\n`.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

fn request_id() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn xml_response(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/xml"))
}

/// SimpleDB's error document, with the error's HTTP status.
fn error_body(e: &SdbError) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message>\
         <BoxUsage>{BOX_USAGE}</BoxUsage></Error></Errors><RequestID>{}</RequestID></Response>",
        e.code,
        xml_escape(&e.message),
        request_id()
    )
}

fn error_response(e: &SdbError) -> Response<std::io::Cursor<Vec<u8>>> {
    xml_response(e.status, error_body(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent() {
        let p = parse_form("A=1&B=a+b%2Bc&C=%E2%9C%93&D&=x");
        assert_eq!(p["A"], "1");
        assert_eq!(p["B"], "a b+c");
        assert_eq!(p["C"], "✓");
        assert_eq!(p["D"], "");
    }

    #[test]
    fn members_are_in_numeric_order() {
        let p = Params(parse_form(
            "Attribute.10.Name=j&Attribute.10.Value=10&Attribute.2.Name=b&Attribute.2.Value=2&Attribute.2.Replace=true",
        ));
        let attrs = p.put_attrs("Attribute").unwrap();
        assert_eq!(
            attrs,
            vec![
                PutAttr {
                    name: "b".into(),
                    value: "2".into(),
                    replace: true
                },
                PutAttr {
                    name: "j".into(),
                    value: "10".into(),
                    replace: false
                },
            ]
        );
        let p = Params(parse_form("Attribute.1.Name=a"));
        assert_eq!(
            p.put_attrs("Attribute").unwrap_err().code,
            "MissingParameter"
        );
        let p = Params(parse_form("Attribute.x.Name=a"));
        assert_eq!(
            p.put_attrs("Attribute").unwrap_err().code,
            "InvalidParameterValue"
        );
    }

    #[test]
    fn signatures_are_checked_when_keys_are_configured() {
        let config = ServerConfig {
            credentials: Some(("AKID".into(), "secret".into())),
            ..ServerConfig::default()
        };
        let mut params = BTreeMap::new();
        for (k, v) in [
            ("Action", "ListDomains"),
            ("AWSAccessKeyId", "AKID"),
            ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256"),
            ("Timestamp", "2026-01-01T00:00:00Z"),
        ] {
            params.insert(k.to_string(), v.to_string());
        }
        let sig = sigv2::sign("secret", "POST", "127.0.0.1:9", "/", &params);
        params.insert("Signature".into(), sig);
        authenticate(&config, "POST", "127.0.0.1:9", "/", &params).unwrap();
        let e = authenticate(&config, "GET", "127.0.0.1:9", "/", &params).unwrap_err();
        assert_eq!((e.code, e.status), ("SignatureDoesNotMatch", 403));
        let mut tampered = params.clone();
        tampered.insert("Action".into(), "DeleteDomain".into());
        let e = authenticate(&config, "POST", "127.0.0.1:9", "/", &tampered).unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        let mut other_key = params.clone();
        other_key.insert("AWSAccessKeyId".into(), "OTHER".into());
        assert_eq!(
            authenticate(&config, "POST", "127.0.0.1:9", "/", &other_key)
                .unwrap_err()
                .code,
            "AuthFailure"
        );
        let mut unsigned = params.clone();
        unsigned.remove("Signature");
        assert_eq!(
            authenticate(&config, "POST", "127.0.0.1:9", "/", &unsigned)
                .unwrap_err()
                .code,
            "AuthFailure"
        );
        let mut garbage = params.clone();
        garbage.insert("Signature".into(), "not base64!".into());
        assert_eq!(
            authenticate(&config, "POST", "127.0.0.1:9", "/", &garbage)
                .unwrap_err()
                .code,
            "AuthFailure"
        );
        // Without configured keys anything goes.
        authenticate(&ServerConfig::default(), "POST", "h", "/", &unsigned).unwrap();
    }

    #[test]
    fn xml_escaping_keeps_text_exact() {
        assert_eq!(
            xml_escape("a<b>&'\"\r\n"),
            "a&lt;b&gt;&amp;&apos;&quot;&#13;\n"
        );
        let body = error_body(&SdbError::invalid_query("bad <query> & 'quotes'"));
        let doc = roxmltree::Document::parse(&body).unwrap();
        let msg = doc
            .descendants()
            .find(|n| n.has_tag_name("Message"))
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(
            msg,
            "InvalidQueryExpression: bad <query> & 'quotes'"
                .split_once(": ")
                .unwrap()
                .1
        );
    }
}
