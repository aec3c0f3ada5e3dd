//! A real HTTP server on 127.0.0.1 for tests and benchmarks (axum on its own thread and
//! runtime, so it works from plain `#[test]`s, `#[tokio::test]`s and benches alike).
//!
//! Use from an integration test or bench with
//! `#[path = "support/http_server.rs"] mod http_server;` (adjust the path for benches), then
//! ```ignore
//! let server = http_server::TestServer::start();
//! server.add_feed("/a.xml", "<rss>...</rss>");          // 200 + ETag + Last-Modified, 304s
//! server.add_standard_routes();                         // the error catalogue, see `paths`
//! let url = server.url("/a.xml");
//! // ... run the code under test ...
//! assert!(server.requests_for("/a.xml")[1].if_none_match.is_some());
//! ```
//! Routes can be added or replaced at any time while the server runs. Every request is
//! recorded (method, path, conditional headers, user agent, accept-encoding), and the
//! peak number of requests in flight is tracked, for asserting concurrency bounds.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use futures_util::StreamExt;

/// Last-Modified given to feeds added without an explicit one.
pub const DEFAULT_LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// Paths installed by [`TestServer::add_standard_routes`].
pub mod paths {
    /// 200 RSS with ETag and Last-Modified; 304 on either validator.
    pub const OK: &str = "/ok.xml";
    /// 200 RSS with only an ETag.
    pub const ETAG_ONLY: &str = "/etag-only.xml";
    /// 200 RSS with only a Last-Modified.
    pub const LAST_MODIFIED_ONLY: &str = "/lm-only.xml";
    pub const NOT_FOUND: &str = "/404";
    pub const SERVER_ERROR: &str = "/500";
    /// Never sends a response.
    pub const HANG: &str = "/hang";
    /// Sends headers and a first chunk, then stalls the body forever.
    pub const HANG_BODY: &str = "/hang-body";
    /// RSS sent gzip-encoded (when the client accepts gzip).
    pub const GZIP: &str = "/gzip.xml";
    /// RSS sent deflate-encoded (zlib) regardless of Accept-Encoding.
    pub const DEFLATE: &str = "/deflate.xml";
    /// [`super::STANDARD_OVERSIZED`] bytes with a Content-Length.
    pub const OVERSIZED: &str = "/big.xml";
    /// The same size, chunked (no Content-Length), so only counting while reading catches it.
    pub const OVERSIZED_CHUNKED: &str = "/big-chunked.xml";
    /// A chunked body that never ends.
    pub const ENDLESS: &str = "/endless.xml";
    /// A small gzip body inflating to [`super::STANDARD_BOMB`] bytes.
    pub const GZIP_BOMB: &str = "/bomb.xml";
    /// Redirects to itself.
    pub const REDIRECT_LOOP: &str = "/loop";
    /// Redirects once to [`OK`].
    pub const REDIRECT_OK: &str = "/moved";
    /// 200 with XML that no parser accepts.
    pub const MALFORMED: &str = "/malformed.xml";
    /// 429 with `Retry-After: 120`.
    pub const TOO_MANY_SECONDS: &str = "/429-seconds";
    /// 429 with `Retry-After:` an HTTP-date about an hour ahead (computed per request).
    pub const TOO_MANY_DATE: &str = "/429-date";
    /// 429 without Retry-After.
    pub const TOO_MANY_BARE: &str = "/429-bare";
    /// 503 with `Retry-After: 60`.
    pub const UNAVAILABLE: &str = "/503";
}

/// Size of the standard oversized bodies: just over the fetcher's default 16 MiB cap.
pub const STANDARD_OVERSIZED: usize = 16 * 1024 * 1024 + 1;
/// Inflated size of the standard gzip bomb (compressed it is about 32 KiB).
pub const STANDARD_BOMB: usize = 32 * 1024 * 1024;

/// What the server does for one path.
#[derive(Clone, Debug)]
pub enum Route {
    /// 200 with `body`; answers 304 when If-None-Match matches `etag` (weak comparison,
    /// `*` allowed) or, without If-None-Match, when If-Modified-Since is not older than
    /// `last_modified`. The 304 carries the current ETag and Last-Modified.
    Feed {
        body: Bytes,
        content_type: String,
        etag: Option<String>,
        last_modified: Option<String>,
        /// Pre-compressed body served when the client accepts gzip.
        gzip: Option<Bytes>,
        /// Wait this long before answering (to make concurrency observable).
        delay: Duration,
    },
    /// Any status with extra headers and a body: 404, 500, 429 + Retry-After, ...
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// 429 whose Retry-After is an HTTP-date `ahead` in the future, computed per request.
    RetryAfterDate { code: u16, ahead: Duration },
    /// Redirect (301/302/307/308) to `to` (absolute, or a path on this server).
    Redirect { to: String, code: u16 },
    /// Never answers.
    Hang,
    /// Sends headers and `first` bytes, then stalls the body forever.
    HangBody { first: usize },
    /// `len` bytes of XML-ish filler; `chunked` drops the Content-Length.
    Sized { len: usize, chunked: bool },
    /// A chunked body that never ends.
    Endless,
    /// A body already encoded with `encoding`, sent with that Content-Encoding whatever
    /// the client accepts (this is how the gzip bomb and deflate bodies are served).
    Encoded {
        encoding: String,
        content_type: String,
        body: Bytes,
    },
}

impl Route {
    /// A feed with an ETag derived from the body and [`DEFAULT_LAST_MODIFIED`].
    pub fn feed(body: impl Into<Bytes>) -> Route {
        let body = body.into();
        Route::Feed {
            etag: Some(etag_for(&body)),
            body,
            content_type: "application/rss+xml; charset=utf-8".to_owned(),
            last_modified: Some(DEFAULT_LAST_MODIFIED.to_owned()),
            gzip: None,
            delay: Duration::ZERO,
        }
    }

    /// Replace (or remove, with None) the ETag of a `Feed` route.
    pub fn with_etag(mut self, value: Option<&str>) -> Route {
        if let Route::Feed { etag, .. } = &mut self {
            *etag = value.map(str::to_owned);
        }
        self
    }

    /// Replace (or remove, with None) the Last-Modified of a `Feed` route.
    pub fn with_last_modified(mut self, value: Option<&str>) -> Route {
        if let Route::Feed { last_modified, .. } = &mut self {
            *last_modified = value.map(str::to_owned);
        }
        self
    }

    pub fn with_content_type(mut self, value: &str) -> Route {
        if let Route::Feed { content_type, .. } | Route::Encoded { content_type, .. } = &mut self {
            *content_type = value.to_owned();
        }
        self
    }

    /// Serve a `Feed` route gzip-encoded to clients that accept gzip.
    pub fn gzipped(mut self) -> Route {
        if let Route::Feed { body, gzip, .. } = &mut self {
            *gzip = Some(gzip_bytes(body));
        }
        self
    }

    /// Delay a `Feed` route's answer.
    pub fn with_delay(mut self, value: Duration) -> Route {
        if let Route::Feed { delay, .. } = &mut self {
            *delay = value;
        }
        self
    }

    pub fn status(code: u16) -> Route {
        Route::Status {
            code,
            headers: Vec::new(),
            body: Bytes::from(format!("status {code}\n")),
        }
    }

    pub fn status_with_headers(code: u16, headers: &[(&str, &str)]) -> Route {
        Route::Status {
            code,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Bytes::from(format!("status {code}\n")),
        }
    }

    /// 429 with a literal Retry-After value (None: no header).
    pub fn too_many_requests(retry_after: Option<&str>) -> Route {
        match retry_after {
            Some(v) => Route::status_with_headers(429, &[("retry-after", v)]),
            None => Route::status(429),
        }
    }

    pub fn redirect(to: &str) -> Route {
        Route::Redirect {
            to: to.to_owned(),
            code: 302,
        }
    }

    /// Zeros inflating to `inflated` bytes, gzip-compressed (about 1/1000 the size);
    /// compressed in pieces so building it never holds the inflated bytes.
    pub fn gzip_bomb(inflated: usize) -> Route {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 64 * 1024];
        let mut left = inflated;
        while left > 0 {
            let n = left.min(zeros.len());
            enc.write_all(&zeros[..n]).expect("gzip into memory");
            left -= n;
        }
        Route::Encoded {
            encoding: "gzip".to_owned(),
            content_type: "application/rss+xml".to_owned(),
            body: Bytes::from(enc.finish().expect("gzip into memory")),
        }
    }

    /// `body` zlib-compressed, served as `Content-Encoding: deflate`.
    pub fn deflated(body: impl Into<Bytes>) -> Route {
        let body = body.into();
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&body).expect("deflate into memory");
        Route::Encoded {
            encoding: "deflate".to_owned(),
            content_type: "application/rss+xml".to_owned(),
            body: Bytes::from(enc.finish().expect("deflate into memory")),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/a.xml?x=1`.
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub user_agent: Option<String>,
    pub accept_encoding: Option<String>,
    pub host: Option<String>,
}

struct Shared {
    routes: RwLock<HashMap<String, Route>>,
    requests: Mutex<Vec<RecordedRequest>>,
    record: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running server; it stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Bind 127.0.0.1:0 and serve on a background thread with its own 2-worker runtime.
    pub fn start() -> TestServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            routes: RwLock::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            record: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("test-http-server".to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let serve = axum::serve(listener, app);
                    // Not graceful: hanging routes would never finish. Dropping the runtime
                    // afterwards cancels every connection task.
                    tokio::select! {
                        _ = serve => {}
                        _ = rx => {}
                    }
                });
            })
            .expect("spawn server thread");
        TestServer {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same server under the name `localhost`: a second host for per-host limits.
    pub fn url_localhost(&self, path: &str) -> String {
        format!("http://localhost:{}{}", self.addr.port(), path)
    }

    /// Add or replace a route. `path` may include a query string (matched exactly first).
    pub fn add_route(&self, path: &str, route: Route) {
        self.shared
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned(), route);
    }

    /// Add or replace a feed: 200 with ETag (from the body) and Last-Modified, honouring
    /// conditional requests. Replacing it with a different body changes the ETag.
    pub fn add_feed(&self, path: &str, body: impl Into<Bytes>) {
        self.add_route(path, Route::feed(body));
    }

    pub fn remove_route(&self, path: &str) {
        self.shared
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
    }

    pub fn route(&self, path: &str) -> Option<Route> {
        self.shared
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .cloned()
    }

    /// Install the catalogue in [`paths`].
    pub fn add_standard_routes(&self) {
        use paths::*;
        let rss = sample_rss("Standard", 3);
        self.add_feed(OK, rss.clone());
        self.add_route(ETAG_ONLY, Route::feed(rss.clone()).with_last_modified(None));
        self.add_route(LAST_MODIFIED_ONLY, Route::feed(rss.clone()).with_etag(None));
        self.add_route(NOT_FOUND, Route::status(404));
        self.add_route(SERVER_ERROR, Route::status(500));
        self.add_route(HANG, Route::Hang);
        self.add_route(HANG_BODY, Route::HangBody { first: 100 });
        self.add_route(GZIP, Route::feed(sample_rss("Gzipped", 20)).gzipped());
        self.add_route(DEFLATE, Route::deflated(sample_rss("Deflated", 5)));
        self.add_route(
            OVERSIZED,
            Route::Sized {
                len: STANDARD_OVERSIZED,
                chunked: false,
            },
        );
        self.add_route(
            OVERSIZED_CHUNKED,
            Route::Sized {
                len: STANDARD_OVERSIZED,
                chunked: true,
            },
        );
        self.add_route(ENDLESS, Route::Endless);
        self.add_route(GZIP_BOMB, Route::gzip_bomb(STANDARD_BOMB));
        self.add_route(REDIRECT_LOOP, Route::redirect(REDIRECT_LOOP));
        self.add_route(REDIRECT_OK, Route::redirect(OK));
        self.add_route(MALFORMED, Route::feed(MALFORMED_XML));
        self.add_route(TOO_MANY_SECONDS, Route::too_many_requests(Some("120")));
        self.add_route(
            TOO_MANY_DATE,
            Route::RetryAfterDate {
                code: 429,
                ahead: Duration::from_secs(3600),
            },
        );
        self.add_route(TOO_MANY_BARE, Route::too_many_requests(None));
        self.add_route(
            UNAVAILABLE,
            Route::status_with_headers(503, &[("retry-after", "60")]),
        );
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests whose path (without query) or path-and-query equals `path`.
    pub fn requests_for(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path || r.path.split('?').next() == Some(path))
            .collect()
    }

    pub fn request_count(&self) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Turn request recording off (e.g. in a long benchmark) or back on.
    pub fn set_recording(&self, on: bool) {
        self.shared.record.store(on, Ordering::SeqCst);
    }

    /// Highest number of requests being handled at once since start or the last reset.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn reset_max_in_flight(&self) {
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub const MALFORMED_XML: &str =
    "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Broken & <item><title>unclosed";

/// A small valid RSS 2.0 document with `items` items, for routes and tests.
pub fn sample_rss(title: &str, items: usize) -> String {
    let mut s = String::with_capacity(300 + items * 300);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>");
    s.push_str(&format!(
        "<title>{title}</title><link>https://example.org/</link><description>test feed</description>"
    ));
    for i in 0..items {
        s.push_str(&format!(
            "<item><title>{title} item {i}</title><link>https://example.org/{title}/{i}</link>\
             <guid>https://example.org/{title}/{i}</guid>\
             <pubDate>Wed, 21 Oct 2015 07:{:02}:00 GMT</pubDate>\
             <description>Body of item {i} of {title}.</description></item>",
            i % 60
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// A strong ETag from the body's hash.
pub fn etag_for(body: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

pub fn gzip_bytes(body: &[u8]) -> Bytes {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(body).expect("gzip into memory");
    Bytes::from(enc.finish().expect("gzip into memory"))
}

/// Decrements the in-flight counter even when the client hangs up mid-handler.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&shared.in_flight);

    let headers = req.headers();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let if_none_match = header_string(headers, header::IF_NONE_MATCH);
    let if_modified_since = header_string(headers, header::IF_MODIFIED_SINCE);
    let accept_encoding = header_string(headers, header::ACCEPT_ENCODING);
    if shared.record.load(Ordering::SeqCst) {
        let record = RecordedRequest {
            method: req.method().to_string(),
            path: path_and_query.clone(),
            if_none_match: if_none_match.clone(),
            if_modified_since: if_modified_since.clone(),
            user_agent: header_string(headers, header::USER_AGENT),
            accept_encoding: accept_encoding.clone(),
            host: header_string(headers, header::HOST),
        };
        shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }

    let route = {
        let routes = shared.routes.read().unwrap_or_else(|p| p.into_inner());
        routes
            .get(&path_and_query)
            .or_else(|| routes.get(req.uri().path()))
            .cloned()
    };
    let Some(route) = route else {
        return response(StatusCode::NOT_FOUND, &[], Body::from("no such route\n"));
    };

    match route {
        Route::Feed {
            body,
            content_type,
            etag,
            last_modified,
            gzip,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut validators: Vec<(&str, String)> = Vec::new();
            if let Some(e) = &etag {
                validators.push(("etag", e.clone()));
            }
            if let Some(lm) = &last_modified {
                validators.push(("last-modified", lm.clone()));
            }
            let not_modified = match (&if_none_match, &if_modified_since) {
                // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
                (Some(inm), _) => etag.as_deref().is_some_and(|e| etag_matches(inm, e)),
                (None, Some(ims)) => last_modified
                    .as_deref()
                    .is_some_and(|lm| not_modified_since(ims, lm)),
                (None, None) => false,
            };
            if not_modified {
                return response(StatusCode::NOT_MODIFIED, &validators, Body::empty());
            }
            validators.push(("content-type", content_type));
            let accepts_gzip = accept_encoding
                .as_deref()
                .is_some_and(|a| a.contains("gzip"));
            match gzip {
                Some(gz) if accepts_gzip => {
                    validators.push(("content-encoding", "gzip".to_owned()));
                    response(StatusCode::OK, &validators, Body::from(gz))
                }
                _ => response(StatusCode::OK, &validators, Body::from(body)),
            }
        }
        Route::Status {
            code,
            headers,
            body,
        } => {
            let headers: Vec<(&str, String)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            response(status(code), &headers, Body::from(body))
        }
        Route::RetryAfterDate { code, ahead } => {
            let when = chrono::Utc::now()
                + chrono::TimeDelta::from_std(ahead).unwrap_or(chrono::TimeDelta::zero());
            let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            response(
                status(code),
                &[("retry-after", date)],
                Body::from("slow down\n"),
            )
        }
        Route::Redirect { to, code } => {
            response(status(code), &[("location", to)], Body::from("moved\n"))
        }
        Route::Hang => {
            // The task is dropped when the client hangs up or the server stops.
            std::future::pending::<()>().await;
            response(StatusCode::OK, &[], Body::empty())
        }
        Route::HangBody { first } => {
            let first = Bytes::from(vec![b' '; first]);
            let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(first) })
                .chain(futures_util::stream::pending());
            response(
                StatusCode::OK,
                &[("content-type", "application/rss+xml".to_owned())],
                Body::from_stream(stream),
            )
        }
        Route::Sized { len, chunked } => {
            let ct = ("content-type", "application/rss+xml".to_owned());
            if chunked {
                let piece = Bytes::from(vec![b'x'; 64 * 1024]);
                let pieces = len.div_ceil(piece.len());
                let stream = futures_util::stream::iter((0..pieces).map(move |i| {
                    let n = (len - i * piece.len()).min(piece.len());
                    Ok::<_, Infallible>(piece.slice(..n))
                }));
                response(StatusCode::OK, &[ct], Body::from_stream(stream))
            } else {
                response(StatusCode::OK, &[ct], Body::from(vec![b'x'; len]))
            }
        }
        Route::Endless => {
            let piece = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream =
                futures_util::stream::repeat_with(move || Ok::<_, Infallible>(piece.clone()));
            response(
                StatusCode::OK,
                &[("content-type", "application/rss+xml".to_owned())],
                Body::from_stream(stream),
            )
        }
        Route::Encoded {
            encoding,
            content_type,
            body,
        } => response(
            StatusCode::OK,
            &[
                ("content-encoding", encoding),
                ("content-type", content_type),
            ],
            Body::from(body),
        ),
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn response(code: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = code;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

/// Weak comparison of an If-None-Match list against the current ETag.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let current = strip(etag);
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == current)
}

/// True when the resource (last modified at `last_modified`) is not newer than `since`.
fn not_modified_since(since: &str, last_modified: &str) -> bool {
    if since == last_modified {
        return true;
    }
    match (
        chrono::DateTime::parse_from_rfc2822(since),
        chrono::DateTime::parse_from_rfc2822(last_modified),
    ) {
        (Ok(s), Ok(lm)) => lm <= s,
        _ => false,
    }
}
