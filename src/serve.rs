//! `serve`: the directory bucket over HTTP, read-only, so apt on other hosts
//! can use the embedded repository without a separate web server.
//!
//! GET and HEAD only; one byte range (`Range: bytes=a-b`); conditional GET
//! with `If-Modified-Since`; the Content-Type the S3 bucket would give the
//! same key. Nothing outside the bucket is reachable: a request path is
//! decoded, must consist of plain segments, and is opened one component at
//! a time without following links. Names starting with `.` (temporary
//! files of an upload in progress) are never served. Directory listings are
//! off unless asked for.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use percent_encoding::percent_decode_str;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use crate::layout::content_type;

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

/// Binds `listen` and serves `root` on `opts.threads` worker threads.
pub fn serve(root: &Path, listen: &str, opts: &ServeOptions) -> io::Result<Serving> {
    if !root.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory (run setup)", root.display()),
        ));
    }
    let server = Server::http(listen)
        .map(Arc::new)
        .map_err(|e| io::Error::other(format!("cannot listen on {listen}: {e}")))?;
    let root = Arc::new(root.to_path_buf());
    let workers = (0..opts.threads.max(1))
        .map(|_| {
            let (server, root, opts) = (server.clone(), root.clone(), opts.clone());
            std::thread::spawn(move || {
                while let Ok(req) = server.recv() {
                    let _ = answer(&root, &opts, req);
                }
            })
        })
        .collect();
    Ok(Serving { server, workers })
}

fn answer(root: &Path, opts: &ServeOptions, req: Request) -> io::Result<()> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let allow = header("Allow", "GET, HEAD");
        return req.respond(plain(405, "method not allowed\n").with_header(allow));
    }
    let Some(segments) = request_segments(req.url()) else {
        return req.respond(plain(400, "bad request path\n"));
    };
    match open_beneath(root, &segments) {
        Ok(Found::File(file, meta)) => send_file(req, &segments, file, &meta),
        Ok(Found::Dir(dir)) if opts.listings => {
            let html = listing(&dir, req.url())?;
            req.respond(
                Response::from_string(html).with_header(header("Content-Type", "text/html")),
            )
        }
        Ok(Found::Dir(_)) | Err(_) => req.respond(plain(404, "not found\n")),
    }
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

enum Found {
    File(File, Metadata),
    Dir(PathBuf),
}

/// Opens `root/segments…`, refusing a symbolic link at every step: each
/// directory on the way is checked with `lstat`, and the final open uses
/// `O_NOFOLLOW`, so a link planted in the bucket leads nowhere.
fn open_beneath(root: &Path, segments: &[String]) -> io::Result<Found> {
    let refuse = || io::Error::new(io::ErrorKind::NotFound, "not a plain entry");
    let mut path = root.to_path_buf();
    for seg in segments {
        path.push(seg);
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            return Err(refuse());
        }
    }
    let meta = std::fs::symlink_metadata(&path)?;
    if meta.is_dir() {
        return Ok(Found::Dir(path));
    }
    if !meta.is_file() {
        return Err(refuse());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse());
    }
    Ok(Found::File(file, meta))
}

fn send_file(req: Request, segments: &[String], mut file: File, meta: &Metadata) -> io::Result<()> {
    let len = meta.len();
    let modified = meta.modified().ok();
    let key = segments.join("/");
    let mut headers = vec![
        header("Content-Type", content_type(&key)),
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

/// An HTML list of a directory's plain entries (no links, no dot files).
fn listing(dir: &Path, url: &str) -> io::Result<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let t = e.file_type()?;
        if name.starts_with('.') || t.is_symlink() {
            continue;
        }
        names.push(if t.is_dir() { format!("{name}/") } else { name });
    }
    names.sort();
    let title = html_escape(url.split('?').next().unwrap_or(url));
    let mut html = format!("<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n<h1>{title}</h1>\n<ul>\n");
    for n in names {
        let href = percent_encoding::utf8_percent_encode(&n, HREF).to_string();
        html.push_str(&format!(
            "<li><a href=\"{href}\">{}</a></li>\n",
            html_escape(&n)
        ));
    }
    html.push_str("</ul>\n</body></html>\n");
    Ok(html)
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
