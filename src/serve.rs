//! `serve`: the directory bucket over HTTP, read-only, so apt on other hosts
//! can use the embedded repository without a separate web server.
//!
//! GET and HEAD only; one byte range (`Range: bytes=a-b`); conditional GET
//! with `If-Modified-Since`; the Content-Type the S3 bucket would give the
//! same key. Nothing outside the bucket is reachable: a request path is
//! decoded, must consist of plain segments, and is opened through the
//! directory bucket's own rules (one component at a time, no link
//! followed, regular files only). Names starting with `.` (temporary files
//! of an upload in progress) are never served. Directory listings are off
//! unless asked for.

use std::collections::BTreeSet;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use percent_encoding::percent_decode_str;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use crate::embedded::bucket::DirBucket;
use crate::layout::content_type;
use crate::store::BlobStore;

/// How a bucket is served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Answer a request for a directory with an HTML list of its entries.
    pub listings: bool,
    /// Requests handled at once.
    pub threads: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listings: false,
            threads: 8,
        }
    }
}

/// A bound, running server; requests are answered until the process ends.
pub struct Serving {
    server: Arc<Server>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// The address the server listens on (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.server
            .server_addr()
            .to_ip()
            .expect("a TCP listener has an IP address")
    }

    /// Blocks until every worker has stopped (they stop on `unblock`).
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }

    /// Makes the workers return; for tests and a clean shutdown.
    pub fn stop(&self) {
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
    }
}

/// Binds `listen` and serves `bucket` on `opts.threads` worker threads.
pub fn serve(bucket: DirBucket, listen: &str, opts: &ServeOptions) -> io::Result<Serving> {
    if !bucket.root().is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory (run setup)", bucket.root().display()),
        ));
    }
    let server = Server::http(listen)
        .map(Arc::new)
        .map_err(|e| io::Error::other(format!("cannot listen on {listen}: {e}")))?;
    let bucket = Arc::new(bucket);
    let workers = (0..opts.threads.max(1))
        .map(|_| {
            let (server, bucket, opts) = (server.clone(), bucket.clone(), opts.clone());
            std::thread::spawn(move || {
                while let Ok(req) = server.recv() {
                    let _ = answer(&bucket, &opts, req);
                }
            })
        })
        .collect();
    Ok(Serving { server, workers })
}

fn answer(bucket: &DirBucket, opts: &ServeOptions, req: Request) -> io::Result<()> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let allow = header("Allow", "GET, HEAD");
        return req.respond(plain(405, "method not allowed\n").with_header(allow));
    }
    let Some(segments) = request_segments(req.url()) else {
        return req.respond(plain(400, "bad request path\n"));
    };
    let key = segments.join("/");
    if !key.is_empty() && !req.url().split('?').next().unwrap_or("").ends_with('/') {
        if let Ok(Some(file)) = bucket.open_file(&key) {
            let meta = file.metadata()?;
            return send_file(req, &key, file, &meta);
        }
    }
    if opts.listings {
        if let Some(html) = listing(bucket, &key, req.url()) {
            let html = Response::from_string(html);
            return req.respond(html.with_header(header("Content-Type", "text/html")));
        }
    }
    req.respond(plain(404, "not found\n"))
}

/// The decoded path segments of a request target, or `None` when a segment
/// could name something other than a plain entry below the root.
fn request_segments(url: &str) -> Option<Vec<String>> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_prefix('/')?;
    let mut out = Vec::new();
    for (i, raw) in path.split('/').enumerate() {
        let last = i == path.split('/').count() - 1;
        if raw.is_empty() && last {
            break; // a trailing slash: the directory itself
        }
        let seg = percent_decode_str(raw).decode_utf8().ok()?.into_owned();
        let plain = !seg.is_empty()
            && !seg.starts_with('.')
            && !seg.contains(['/', '\\', '\0'])
            && !seg.chars().any(char::is_control);
        if !plain {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

fn send_file(req: Request, key: &str, mut file: File, meta: &Metadata) -> io::Result<()> {
    let len = meta.len();
    let modified = meta.modified().ok();
    let mut headers = vec![
        header("Content-Type", content_type(key)),
        header("Accept-Ranges", "bytes"),
    ];
    if let Some(m) = modified {
        headers.push(header("Last-Modified", &httpdate::fmt_http_date(m)));
        if not_modified_since(&req, m) {
            let mut r = Response::empty(304);
            for h in headers {
                r.add_header(h);
            }
            return req.respond(r);
        }
    }
    let range = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .map(|h| h.value.as_str().to_string());
    let (status, start, count) = match range.as_deref().map(|r| parse_range(r, len)) {
        None | Some(RangeAnswer::Whole) => (200, 0, len),
        Some(RangeAnswer::Part(a, b)) => {
            headers.push(header("Content-Range", &format!("bytes {a}-{b}/{len}")));
            (206, a, b - a + 1)
        }
        Some(RangeAnswer::Unsatisfiable) => {
            let mut r = plain(416, "range not satisfiable\n");
            r.add_header(header("Content-Range", &format!("bytes */{len}")));
            return req.respond(r);
        }
    };
    file.seek(SeekFrom::Start(start))?;
    let body = file.take(count);
    let response = Response::new(
        StatusCode(status),
        headers,
        body,
        Some(count as usize),
        None,
    );
    req.respond(response)
}

/// Whether `If-Modified-Since` names a time at or after the file's (HTTP
/// dates have whole seconds, so the file's time is truncated to seconds).
fn not_modified_since(req: &Request, modified: SystemTime) -> bool {
    let Some(h) = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("If-Modified-Since"))
    else {
        return false;
    };
    let Ok(since) = httpdate::parse_http_date(h.value.as_str()) else {
        return false;
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    secs(modified) <= secs(since)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// No usable range: send the whole object (several ranges, other units).
    Whole,
    /// Inclusive first and last byte.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range as RFC 9110 defines it; anything else (several
/// ranges, other units, syntax errors) is answered with the whole object,
/// which the RFC allows.
fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) if n > 0 && len > 0 => RangeAnswer::Part(len.saturating_sub(n), len - 1),
        (true, _, Some(_)) => RangeAnswer::Unsatisfiable,
        (false, Some(first), _) if first >= len => RangeAnswer::Unsatisfiable,
        (false, Some(first), None) if b.is_empty() => RangeAnswer::Part(first, len - 1),
        (false, Some(first), Some(last)) if last >= first => {
            RangeAnswer::Part(first, last.min(len - 1))
        }
        _ => RangeAnswer::Whole,
    }
}

/// An HTML list of a directory's entries, from the bucket's own listing
/// (regular files and the directories holding them; no links, no
/// temporary files); `None` when nothing is there.
fn listing(bucket: &DirBucket, key: &str, url: &str) -> Option<String> {
    let prefix = if key.is_empty() {
        String::new()
    } else {
        format!("{key}/")
    };
    let objects = bucket.list(&prefix).ok()?;
    let names: BTreeSet<String> = objects
        .iter()
        .filter_map(|o| o.key.strip_prefix(&prefix))
        .map(|rest| match rest.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => rest.to_string(),
        })
        .collect();
    if names.is_empty() {
        return None;
    }
    let title = html_escape(url.split('?').next().unwrap_or(url));
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n<h1>{title}</h1>\n<ul>\n"
    );
    for n in names {
        let href = percent_encoding::utf8_percent_encode(&n, HREF).to_string();
        html.push_str(&format!(
            "<li><a href=\"{href}\">{}</a></li>\n",
            html_escape(&n)
        ));
    }
    html.push_str("</ul>\n</body></html>\n");
    Some(html)
}

const HREF: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'+');

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn plain(status: u16, text: &str) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_string(text)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_stay_below_the_root() {
        assert_eq!(
            request_segments("/dists/x/Release?a=b").unwrap(),
            ["dists", "x", "Release"]
        );
        assert_eq!(request_segments("/").unwrap(), Vec::<String>::new());
        assert_eq!(request_segments("/pool/").unwrap(), ["pool"]);
        assert_eq!(
            request_segments("/pool/a%2Bb_1.0.deb").unwrap(),
            ["pool", "a+b_1.0.deb"]
        );
        for bad in [
            "/../etc/passwd",
            "/pool/../../x",
            "/%2e%2e/x",
            "/pool/%2e%2e/x",
            "/pool%2f..%2fx",
            "/.tmp-abc",
            "/pool//x",
            "/a%00b",
            "/a%5cb",
            "/a%0ab",
            "relative",
            "/%ff",
        ] {
            assert_eq!(request_segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=90-200", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-200", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range("items=0-1", 100), Whole);
        assert_eq!(parse_range("bytes=a-b", 100), Whole);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
    }
}
