//! HTTP fetching for feed sources: conditional requests (ETag / Last-Modified), byte caps
//! applied to the decompressed body, Retry-After, capped redirects, timeouts, and bounded
//! concurrency overall and per host.
//!
//! One [`Fetcher`] (cheap to clone) is meant to be shared by every fetch of a sync run, so
//! the single `reqwest::Client` inside keeps connections alive across the feeds of a host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;
use url::Url;

/// How long to wait after a 429 that carries no (usable) Retry-After header.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);
/// Upper bound on any Retry-After, so a typo or hostile server cannot park a source forever.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 60 * 60);

const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
     application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8";

/// Knobs for [`Fetcher`]; the config's global settings map onto these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchLimits {
    /// Requests in flight overall.
    pub concurrency: usize,
    /// Requests in flight per `host:port`.
    pub per_host: usize,
    pub connect_timeout: Duration,
    /// Whole request: connecting, headers, redirects and reading the body.
    pub total_timeout: Duration,
    pub max_redirects: usize,
    /// Cap on the body after decompression.
    pub max_bytes: u64,
    pub user_agent: String,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            concurrency: 16,
            // 8 rather than the classic 4: feed hosts serve small static files, and many
            // sources often share one host (and the benchmark serves all from one).
            per_host: 8,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_redirects: 5,
            max_bytes: 16 * 1024 * 1024,
            user_agent: concat!(
                "echowatch/",
                env!("CARGO_PKG_VERSION"),
                " (+https://github.com/echowatch)"
            )
            .to_owned(),
        }
    }
}

/// Cache validators of a feed, stored exactly as the server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Result of a successful fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A 2xx response with its (decompressed) body.
    Fetched {
        body: Vec<u8>,
        /// The validators of this response (none carried over from the request).
        validators: Validators,
        /// URL after redirects.
        final_url: String,
        content_type: Option<String>,
        /// The `charset` parameter of `content_type`, as sent (unquoted): it decides how
        /// the body's bytes are read.
        charset: Option<String>,
    },
    /// 304: the feed is unchanged. Validators are those the 304 sent, else the ones we sent.
    NotModified { validators: Validators },
}

/// Why a fetch failed. Every message names the URL and is self-contained (the underlying
/// cause is folded into `detail`), so it can be stored as a source's "last error" as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("invalid feed URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {detail}")]
    Client { detail: String },
    #[error("{url}: timed out after {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url}: cannot connect: {detail}")]
    Connect { url: String, detail: String },
    #[error("{url}: HTTP status {code}")]
    Status { code: u16, url: String },
    #[error("{url}: body exceeds the cap of {limit} bytes (after decompression)")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: HTTP status {status}, server asks to wait until {}", until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))]
    RetryAfter {
        url: String,
        until: DateTime<Utc>,
        status: u16,
    },
    #[error("{url}: cannot read or decode the body: {detail}")]
    Decode { url: String, detail: String },
    #[error("{url}: {detail}")]
    Other { url: String, detail: String },
}

impl FetchError {
    /// The URL the failed fetch was for (None only for client construction errors).
    pub fn url(&self) -> Option<&str> {
        match self {
            FetchError::Client { .. } => None,
            FetchError::InvalidUrl { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::Connect { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::TooManyRedirects { url, .. }
            | FetchError::RetryAfter { url, .. }
            | FetchError::Decode { url, .. }
            | FetchError::Other { url, .. } => Some(url),
        }
    }

    /// When the server allows the next fetch, if it asked us to wait.
    pub fn retry_after(&self) -> Option<DateTime<Utc>> {
        match self {
            FetchError::RetryAfter { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// Shared HTTP fetcher: one connection pool, a global and a per-host concurrency bound.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    limits: FetchLimits,
    global: Semaphore,
    /// Keyed by `host:port`; entries live as long as the fetcher (one per distinct host).
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// Marker errors returned from the redirect policy, recognised again in [`classify`].
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("too many redirects")]
    TooMany,
    #[error("redirect to a non-http(s) URL")]
    Scheme,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, FetchError> {
        let mut limits = limits;
        // Zero permits would deadlock every fetch; treat 0 as 1.
        limits.concurrency = limits.concurrency.max(1);
        limits.per_host = limits.per_host.max(1);

        let max_redirects = limits.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the original URL plus every hop followed so far.
            if attempt.previous().len() > max_redirects {
                attempt.error(RedirectRefused::TooMany)
            } else if !matches!(attempt.url().scheme(), "http" | "https") {
                attempt.error(RedirectRefused::Scheme)
            } else {
                attempt.follow()
            }
        });
        let mut default_headers = HeaderMap::new();
        default_headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));

        let client = reqwest::Client::builder()
            .user_agent(limits.user_agent.as_str())
            .default_headers(default_headers)
            .connect_timeout(limits.connect_timeout)
            // Also enforced around the whole fetch below; this one covers reqwest internals.
            .timeout(limits.total_timeout)
            .redirect(policy)
            .referer(false)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| FetchError::Client {
                detail: error_chain(&e),
            })?;

        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                global: Semaphore::new(limits.concurrency),
                hosts: Mutex::new(HashMap::new()),
                limits,
            }),
        })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.inner.limits
    }

    /// Fetch `url` conditionally. Waits for a per-host and then a global slot; the total
    /// timeout starts once both are held, so queueing never counts against a source.
    pub async fn fetch(
        &self,
        url: &str,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let parsed = parse_url(url)?;
        let host = self.host_semaphore(&parsed);
        // Host first: a task waiting for a busy host must not sit on a global slot.
        let _host_permit = host.acquire().await.map_err(|_| closed(url))?;
        let _global_permit = self.inner.global.acquire().await.map_err(|_| closed(url))?;

        let limit = self.inner.limits.total_timeout;
        let started = Instant::now();
        let result =
            match tokio::time::timeout(limit, self.fetch_now(parsed, url, validators)).await {
                Ok(result) => result,
                Err(_) => Err(FetchError::Timeout {
                    url: url.to_owned(),
                    after: limit,
                }),
            };
        match &result {
            Ok(FetchOutcome::Fetched { body, .. }) => {
                tracing::debug!(url, bytes = body.len(), elapsed = ?started.elapsed(), "fetched")
            }
            Ok(FetchOutcome::NotModified { .. }) => {
                tracing::debug!(url, elapsed = ?started.elapsed(), "not modified")
            }
            Err(e) => tracing::debug!(url, error = %e, "fetch failed"),
        }
        result
    }

    fn host_semaphore(&self, url: &Url) -> Arc<Semaphore> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default()
        );
        // A poisoned map is still a valid map: nothing panics while holding the lock.
        let mut hosts = self
            .inner
            .hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        hosts
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.limits.per_host)))
            .clone()
    }

    async fn fetch_now(
        &self,
        parsed: Url,
        url: &str,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let limits = &self.inner.limits;
        let mut request = self.inner.client.get(parsed);
        // Sent back byte for byte; a value that cannot be a header (corrupt store) is dropped.
        if let Some(v) = validators.etag.as_deref().and_then(header_value) {
            request = request.header(header::IF_NONE_MATCH, v);
        }
        if let Some(v) = validators.last_modified.as_deref().and_then(header_value) {
            request = request.header(header::IF_MODIFIED_SINCE, v);
        }

        let mut response = request.send().await.map_err(|e| classify(e, url, limits))?;
        let status = response.status();
        let headers = response.headers();

        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified {
                validators: Validators {
                    etag: header_text(headers, &header::ETAG).or_else(|| validators.etag.clone()),
                    last_modified: header_text(headers, &header::LAST_MODIFIED)
                        .or_else(|| validators.last_modified.clone()),
                },
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let value = headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok());
            let now = Utc::now();
            let until = match value.and_then(|v| parse_retry_after(v, now)) {
                Some(until) => Some(until),
                // A 429 always means "slow down"; a bare 503 is just an outage.
                None if status == StatusCode::TOO_MANY_REQUESTS => {
                    Some(now + delta(DEFAULT_RETRY_AFTER))
                }
                None => None,
            };
            if let Some(until) = until {
                return Err(FetchError::RetryAfter {
                    url: url.to_owned(),
                    until,
                    status: status.as_u16(),
                });
            }
        }
        if status.is_redirection()
            && let Some(to) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        {
            // reqwest hands back a redirect it will not follow (to `file:`, `ftp:` …).
            return Err(FetchError::Other {
                url: url.to_owned(),
                detail: format!(
                    "HTTP status {} redirects to {:?}, not followed: only http and https",
                    status.as_u16(),
                    crate::parse::sanitize::line(to)
                ),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                code: status.as_u16(),
                url: url.to_owned(),
            });
        }

        let new_validators = Validators {
            etag: header_text(headers, &header::ETAG),
            last_modified: header_text(headers, &header::LAST_MODIFIED),
        };
        let content_type = header_text(headers, &header::CONTENT_TYPE);
        let charset = content_type.as_deref().and_then(charset_param);
        let final_url = response.url().to_string();

        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            limit: limits.max_bytes,
        };
        // Only known up front for identity bodies: reqwest drops the length when it decodes.
        let expected = response.content_length();
        if expected.is_some_and(|len| len > limits.max_bytes) {
            return Err(too_large());
        }
        let capacity = expected.unwrap_or(64 * 1024).min(limits.max_bytes);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        // Chunks arrive already decompressed, so the cap bites on inflated bytes and a
        // bomb is abandoned at the first chunk past the cap.
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                FetchError::Timeout {
                    url: url.to_owned(),
                    after: limits.total_timeout,
                }
            } else {
                FetchError::Decode {
                    url: url.to_owned(),
                    detail: error_chain(&e),
                }
            }
        })? {
            if (body.len() as u64).saturating_add(chunk.len() as u64) > limits.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }

        Ok(FetchOutcome::Fetched {
            body,
            validators: new_validators,
            final_url,
            content_type,
            charset,
        })
    }
}

/// The `charset` parameter of a media type (`text/xml; charset="koi8-r"` → `koi8-r`).
fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn parse_url(url: &str) -> Result<Url, FetchError> {
    let invalid = |reason: String| FetchError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(parsed)
}

fn closed(url: &str) -> FetchError {
    FetchError::Other {
        url: url.to_owned(),
        detail: "fetcher is shutting down".to_owned(),
    }
}

/// Map a reqwest error from `send` onto our kinds.
fn classify(e: reqwest::Error, url: &str, limits: &FetchLimits) -> FetchError {
    let url = url.to_owned();
    if e.is_redirect() {
        let refused = find_source::<RedirectRefused>(&e);
        return match refused {
            Some(RedirectRefused::TooMany) => FetchError::TooManyRedirects {
                url,
                limit: limits.max_redirects,
            },
            _ => FetchError::Other {
                url,
                detail: error_chain(&e),
            },
        };
    }
    if e.is_timeout() {
        let after = if e.is_connect() {
            limits.connect_timeout
        } else {
            limits.total_timeout
        };
        return FetchError::Timeout { url, after };
    }
    if e.is_connect() {
        return FetchError::Connect {
            url,
            detail: error_chain(&e),
        };
    }
    if e.is_builder() {
        return FetchError::InvalidUrl {
            url,
            reason: error_chain(&e),
        };
    }
    FetchError::Other {
        url,
        detail: error_chain(&e),
    }
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The causes under a reqwest error, most specific last, without reqwest's own
/// "error sending request for url (...)" preamble (our messages already name the URL).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = std::error::Error::source(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        current = err.source();
    }
    if parts.is_empty() {
        // No cause below it: reqwest's own message is all there is (minus the URL).
        let text = e.to_string();
        match e.url() {
            Some(u) => text.replace(&format!(" ({u})"), ""),
            None => text,
        }
    } else {
        parts.join(": ")
    }
}

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// A header's value as text, verbatim; absent, empty or non-UTF-8 values count as missing.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let value = headers.get(name)?;
    let text = std::str::from_utf8(value.as_bytes()).ok()?;
    (!text.trim().is_empty()).then(|| text.to_owned())
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Parse a Retry-After value (delta-seconds or HTTP-date) into an instant, clamped to
/// `[now, now + MAX_RETRY_AFTER]`. None when the value is neither form.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    let max = delta(MAX_RETRY_AFTER);
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time": cap it.
        let seconds = value.parse::<i64>().unwrap_or(i64::MAX);
        let wait = TimeDelta::try_seconds(seconds).unwrap_or(max).min(max);
        return Some(now + wait);
    }
    let date = parse_http_date(value)?;
    Some(date.clamp(now, now + max))
}

/// HTTP-date in its three RFC 9110 forms: IMF-fixdate, RFC 850 and asctime. The weekday
/// is redundant, so a wrong one is ignored rather than voiding the date.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    let (rest, formats): (&str, &[&str]) = match value.split_once(',') {
        Some((_, rest)) => (
            rest.trim(),
            &["%d %b %Y %H:%M:%S GMT", "%d-%b-%y %H:%M:%S GMT"],
        ),
        None => (
            value.split_once(' ').map_or("", |(_, r)| r.trim()),
            &["%b %e %H:%M:%S %Y"],
        ),
    };
    formats
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(rest, fmt).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
#[path = "../../tests/support/http_server.rs"]
mod test_http_server;

#[cfg(test)]
mod tests {
    use super::test_http_server::{
        DEFAULT_LAST_MODIFIED, Route, TestServer, etag_for, paths, sample_rss,
    };
    use super::*;
    use futures_util::future::join_all;

    const MIB: u64 = 1024 * 1024;

    fn limits() -> FetchLimits {
        FetchLimits {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(3),
            max_bytes: MIB,
            ..FetchLimits::default()
        }
    }

    fn fetcher() -> Fetcher {
        Fetcher::new(limits()).expect("fetcher")
    }

    fn none() -> Validators {
        Validators::default()
    }

    fn fetched(outcome: FetchOutcome) -> (Vec<u8>, Validators, String, Option<String>) {
        match outcome {
            FetchOutcome::Fetched {
                body,
                validators,
                final_url,
                content_type,
                ..
            } => (body, validators, final_url, content_type),
            other => panic!("expected Fetched, got {other:?}"),
        }
    }

    #[test]
    fn the_charset_parameter_is_found_in_any_spelling() {
        for (content_type, charset) in [
            (
                "application/rss+xml; charset=ISO-8859-2",
                Some("ISO-8859-2"),
            ),
            ("text/xml;charset=\"koi8-r\"", Some("koi8-r")),
            (
                "text/xml; foo=bar; CharSet = windows-1251 ",
                Some("windows-1251"),
            ),
            ("application/rss+xml", None),
            ("application/rss+xml; charset=", None),
            ("application/rss+xml; charset=\"\"", None),
        ] {
            assert_eq!(
                charset_param(content_type).as_deref(),
                charset,
                "{content_type}"
            );
        }
    }

    #[tokio::test]
    async fn ok_200_returns_body_and_validators() {
        let server = TestServer::start();
        server.add_standard_routes();
        let url = server.url(paths::OK);
        let (body, validators, final_url, content_type) =
            fetched(fetcher().fetch(&url, &none()).await.expect("fetch"));
        let expected = sample_rss("Standard", 3);
        assert_eq!(body, expected.as_bytes());
        assert_eq!(validators.etag, Some(etag_for(expected.as_bytes())));
        assert_eq!(
            validators.last_modified.as_deref(),
            Some(DEFAULT_LAST_MODIFIED)
        );
        assert_eq!(final_url, url);
        assert_eq!(
            content_type.as_deref(),
            Some("application/rss+xml; charset=utf-8")
        );
        let req = &server.requests_for(paths::OK)[0];
        assert!(req.if_none_match.is_none() && req.if_modified_since.is_none());
        assert!(
            req.user_agent
                .as_deref()
                .unwrap_or("")
                .starts_with("echowatch/")
        );
        let accept = req.accept_encoding.as_deref().unwrap_or("");
        for enc in ["gzip", "deflate", "br"] {
            assert!(
                accept.contains(enc),
                "accept-encoding {accept:?} lacks {enc}"
            );
        }
    }

    #[tokio::test]
    async fn etag_is_sent_back_verbatim_and_304_is_not_modified() {
        let server = TestServer::start();
        let weak = "W/\"abc def/123\"";
        server.add_route(
            "/e.xml",
            Route::feed("<rss/>")
                .with_etag(Some(weak))
                .with_last_modified(None),
        );
        let f = fetcher();
        let url = server.url("/e.xml");
        let (_, validators, _, _) = fetched(f.fetch(&url, &none()).await.expect("first"));
        assert_eq!(validators.etag.as_deref(), Some(weak));
        assert_eq!(validators.last_modified, None);

        let second = f.fetch(&url, &validators).await.expect("second");
        assert_eq!(second, FetchOutcome::NotModified { validators });
        let reqs = server.requests_for("/e.xml");
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1].if_none_match.as_deref(), Some(weak));
        assert_eq!(reqs[1].if_modified_since, None);
    }

    #[tokio::test]
    async fn last_modified_is_sent_back_and_304_keeps_validators() {
        let server = TestServer::start();
        server.add_standard_routes();
        let f = fetcher();
        let url = server.url(paths::LAST_MODIFIED_ONLY);
        let (_, validators, _, _) = fetched(f.fetch(&url, &none()).await.expect("first"));
        assert_eq!(validators.etag, None);
        assert_eq!(
            validators.last_modified.as_deref(),
            Some(DEFAULT_LAST_MODIFIED)
        );

        let second = f.fetch(&url, &validators).await.expect("second");
        assert_eq!(second, FetchOutcome::NotModified { validators });
        let reqs = server.requests_for(paths::LAST_MODIFIED_ONLY);
        assert_eq!(
            reqs[1].if_modified_since.as_deref(),
            Some(DEFAULT_LAST_MODIFIED)
        );
        assert_eq!(reqs[1].if_none_match, None);
    }

    #[tokio::test]
    async fn validators_are_updated_from_304_and_from_changed_content() {
        let server = TestServer::start();
        let f = fetcher();
        let url = server.url("/v.xml");
        server.add_route("/v.xml", Route::feed("<rss>1</rss>").with_etag(None));
        let (_, first, _, _) = fetched(f.fetch(&url, &none()).await.expect("first"));
        assert_eq!(first.etag, None);

        // Same Last-Modified, but the server now also sends an ETag with its 304.
        server.add_route(
            "/v.xml",
            Route::feed("<rss>1</rss>").with_etag(Some("\"v2\"")),
        );
        let updated = match f.fetch(&url, &first).await.expect("second") {
            FetchOutcome::NotModified { validators } => validators,
            other => panic!("expected 304, got {other:?}"),
        };
        assert_eq!(updated.etag.as_deref(), Some("\"v2\""));
        assert_eq!(updated.last_modified, first.last_modified);

        // New content: 200 with the new validators; an old Last-Modified is not carried over.
        server.add_route(
            "/v.xml",
            Route::feed("<rss>2</rss>")
                .with_etag(Some("\"v3\""))
                .with_last_modified(None),
        );
        let (body, third, _, _) = fetched(f.fetch(&url, &updated).await.expect("third"));
        assert_eq!(body, b"<rss>2</rss>");
        assert_eq!(
            third,
            Validators {
                etag: Some("\"v3\"".to_owned()),
                last_modified: None
            }
        );
    }

    #[tokio::test]
    async fn error_statuses_name_the_url() {
        let server = TestServer::start();
        server.add_standard_routes();
        let f = fetcher();
        for (path, code) in [
            (paths::NOT_FOUND, 404),
            (paths::SERVER_ERROR, 500),
            ("/no-such-route", 404),
        ] {
            let url = server.url(path);
            let err = f.fetch(&url, &none()).await.expect_err("must fail");
            assert_eq!(
                err,
                FetchError::Status {
                    code,
                    url: url.clone()
                }
            );
            assert!(err.to_string().contains(&url), "{err}");
        }
    }

    #[tokio::test]
    async fn hanging_server_times_out_within_total_timeout() {
        let server = TestServer::start();
        server.add_standard_routes();
        let total = Duration::from_millis(400);
        let f = Fetcher::new(FetchLimits {
            total_timeout: total,
            ..limits()
        })
        .expect("fetcher");
        for path in [paths::HANG, paths::HANG_BODY] {
            let started = Instant::now();
            let err = f.fetch(&server.url(path), &none()).await.expect_err("hang");
            let elapsed = started.elapsed();
            assert!(matches!(err, FetchError::Timeout { .. }), "{path}: {err:?}");
            assert!(
                elapsed >= total && elapsed < total * 3,
                "{path}: {elapsed:?}"
            );
        }
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_error() {
        // Bind then drop, so nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let url = format!("http://127.0.0.1:{port}/feed.xml");
        let err = fetcher().fetch(&url, &none()).await.expect_err("refused");
        assert!(matches!(err, FetchError::Connect { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
    }

    #[tokio::test]
    async fn gzip_and_deflate_bodies_are_decoded() {
        let server = TestServer::start();
        server.add_standard_routes();
        let f = fetcher();
        let (body, ..) = fetched(
            f.fetch(&server.url(paths::GZIP), &none())
                .await
                .expect("gzip"),
        );
        assert_eq!(body, sample_rss("Gzipped", 20).as_bytes());
        let (body, ..) = fetched(
            f.fetch(&server.url(paths::DEFLATE), &none())
                .await
                .expect("deflate"),
        );
        assert_eq!(body, sample_rss("Deflated", 5).as_bytes());
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_rejected() {
        let server = TestServer::start();
        let len = usize::try_from(MIB).expect("small") + 1;
        server.add_route(
            "/big",
            Route::Sized {
                len,
                chunked: false,
            },
        );
        server.add_route("/big-chunked", Route::Sized { len, chunked: true });
        server.add_route("/endless", Route::Endless);
        server.add_route(
            "/exact",
            Route::Sized {
                len: len - 1,
                chunked: true,
            },
        );
        let f = fetcher();
        for path in ["/big", "/big-chunked", "/endless"] {
            let url = server.url(path);
            let err = f.fetch(&url, &none()).await.expect_err("too large");
            assert_eq!(err, FetchError::TooLarge { url, limit: MIB }, "{path}");
        }
        // Exactly at the cap is fine.
        let (body, ..) = fetched(
            f.fetch(&server.url("/exact"), &none())
                .await
                .expect("exact"),
        );
        assert_eq!(body.len() as u64, MIB);
    }

    #[tokio::test]
    async fn gzip_bomb_is_stopped_at_the_decompressed_cap() {
        let server = TestServer::start();
        server.add_route("/bomb", Route::gzip_bomb(16 * MIB as usize));
        let compressed = match server.route("/bomb") {
            Some(Route::Encoded { body, .. }) => body.len() as u64,
            other => panic!("unexpected route {other:?}"),
        };
        assert!(
            compressed < MIB / 8,
            "bomb is {compressed} bytes compressed"
        );
        let url = server.url("/bomb");
        let err = fetcher().fetch(&url, &none()).await.expect_err("bomb");
        assert_eq!(err, FetchError::TooLarge { url, limit: MIB });
    }

    #[tokio::test]
    async fn redirects_are_followed_and_capped() {
        let server = TestServer::start();
        server.add_standard_routes();
        server.add_route("/to-ftp", Route::redirect("ftp://example.org/feed.xml"));
        let f = fetcher();
        let (_, _, final_url, _) = fetched(
            f.fetch(&server.url(paths::REDIRECT_OK), &none())
                .await
                .expect("redirect"),
        );
        assert_eq!(final_url, server.url(paths::OK));

        let url = server.url(paths::REDIRECT_LOOP);
        let err = f.fetch(&url, &none()).await.expect_err("loop");
        assert_eq!(err, FetchError::TooManyRedirects { url, limit: 5 });
        // The original request plus five followed hops, then it stops.
        assert_eq!(server.requests_for(paths::REDIRECT_LOOP).len(), 6);

        let err = f
            .fetch(&server.url("/to-ftp"), &none())
            .await
            .expect_err("ftp redirect");
        assert!(matches!(err, FetchError::Other { .. }), "{err:?}");
        // Not a bare "HTTP status 302": where it led, and why it was not followed.
        server.add_route("/to-file", Route::redirect("file:///etc/passwd"));
        let err = f
            .fetch(&server.url("/to-file"), &none())
            .await
            .expect_err("file redirect");
        let text = err.to_string();
        assert!(
            text.contains("302 redirects to \"file:///etc/passwd\", not followed"),
            "{text}"
        );
    }

    fn retry_until(err: FetchError) -> (DateTime<Utc>, u16) {
        match err {
            FetchError::RetryAfter { until, status, .. } => (until, status),
            other => panic!("expected RetryAfter, got {other:?}"),
        }
    }

    fn assert_near(actual: DateTime<Utc>, expected: DateTime<Utc>) {
        let off = (actual - expected).num_seconds().abs();
        assert!(off <= 5, "{actual} is {off}s from {expected}");
    }

    #[tokio::test]
    async fn retry_after_in_both_forms_and_defaults() {
        let server = TestServer::start();
        server.add_standard_routes();
        server.add_route(
            "/absurd",
            Route::too_many_requests(Some("99999999999999999999")),
        );
        server.add_route("/garbage", Route::too_many_requests(Some("soon")));
        server.add_route("/503-bare", Route::status(503));
        let f = fetcher();
        let now = Utc::now();
        let secs = |s: i64| TimeDelta::try_seconds(s).expect("small");

        let cases = [
            (paths::TOO_MANY_SECONDS, 429, secs(120)),
            (paths::TOO_MANY_DATE, 429, secs(3600)),
            (paths::TOO_MANY_BARE, 429, delta(DEFAULT_RETRY_AFTER)),
            ("/garbage", 429, delta(DEFAULT_RETRY_AFTER)),
            ("/absurd", 429, delta(MAX_RETRY_AFTER)),
            (paths::UNAVAILABLE, 503, secs(60)),
        ];
        for (path, code, wait) in cases {
            let err = f.fetch(&server.url(path), &none()).await.expect_err(path);
            assert!(err.to_string().contains(&server.url(path)), "{err}");
            let (until, status) = retry_until(err);
            assert_eq!(status, code, "{path}");
            assert_near(until, now + wait);
        }
        let url = server.url("/503-bare");
        let err = f.fetch(&url, &none()).await.expect_err("503");
        assert_eq!(err, FetchError::Status { code: 503, url });
    }

    #[test]
    fn retry_after_parsing() {
        let now = DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("date")
                .with_timezone(&Utc)
        };
        let cases = [
            ("0", Some(now)),
            (" 90 ", Some(at("2024-03-01T12:01:30Z"))),
            (
                "Fri, 01 Mar 2024 13:00:00 GMT",
                Some(at("2024-03-01T13:00:00Z")),
            ),
            (
                "Friday, 01-Mar-24 13:00:00 GMT",
                Some(at("2024-03-01T13:00:00Z")),
            ),
            ("Fri Mar  1 13:00:00 2024", Some(at("2024-03-01T13:00:00Z"))),
            // In the past: may fetch right away.
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(now)),
            // Far future: capped.
            (
                "Wed, 01 Mar 2124 13:00:00 GMT",
                Some(now + delta(MAX_RETRY_AFTER)),
            ),
            // Wrong weekday: the date still counts.
            (
                "Mon, 01 Mar 2024 13:00:00 GMT",
                Some(at("2024-03-01T13:00:00Z")),
            ),
            (
                "Monday, 01-Mar-24 13:00:00 GMT",
                Some(at("2024-03-01T13:00:00Z")),
            ),
            ("Mon Mar  1 13:00:00 2024", Some(at("2024-03-01T13:00:00Z"))),
            ("-5", None),
            ("", None),
            ("1.5", None),
            ("tomorrow", None),
            ("Fri, 99 Mar 2024 13:00:00 GMT", None),
            ("Fri,", None),
            ("\u{1b}[31m", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_accepted() {
        let f = fetcher();
        for url in [
            "ftp://example.org/feed.xml",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
            "http://",
            "",
            "exec:ls",
        ] {
            let err = f.fetch(url, &none()).await.expect_err(url);
            assert!(
                matches!(err, FetchError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn unsendable_validators_are_dropped_not_fatal() {
        let server = TestServer::start();
        server.add_feed("/a.xml", "<rss/>");
        let bad = Validators {
            etag: Some("\"a\"\r\nX-Injected: 1".to_owned()),
            last_modified: Some("\u{0}".to_owned()),
        };
        let outcome = fetcher().fetch(&server.url("/a.xml"), &bad).await;
        assert!(
            matches!(outcome, Ok(FetchOutcome::Fetched { .. })),
            "{outcome:?}"
        );
        let req = &server.requests_for("/a.xml")[0];
        assert_eq!(req.if_none_match, None);
        assert_eq!(req.if_modified_since, None);
    }

    #[test]
    fn bad_user_agent_is_a_client_error() {
        let err = Fetcher::new(FetchLimits {
            user_agent: "bad\nagent".to_owned(),
            ..FetchLimits::default()
        })
        .expect_err("bad agent");
        assert!(matches!(err, FetchError::Client { .. }), "{err:?}");
    }

    /// Fire `n` fetches at once at slow routes and return the server's peak in-flight count.
    async fn peak_in_flight(f: &Fetcher, server: &TestServer, urls: &[String]) -> usize {
        server.reset_max_in_flight();
        let none = Validators::default();
        let results = join_all(urls.iter().map(|u| f.fetch(u, &none))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        server.max_in_flight()
    }

    fn slow_feeds(server: &TestServer, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let path = format!("/slow/{i}.xml");
                server.add_route(
                    &path,
                    Route::feed(sample_rss("slow", 1)).with_delay(Duration::from_millis(120)),
                );
                path
            })
            .collect()
    }

    #[tokio::test]
    async fn per_host_bound_is_enforced() {
        let server = TestServer::start();
        let paths = slow_feeds(&server, 12);
        let f = Fetcher::new(FetchLimits {
            concurrency: 16,
            per_host: 3,
            ..limits()
        })
        .expect("fetcher");
        let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
        assert_eq!(peak_in_flight(&f, &server, &urls).await, 3);

        // Two host names for the same server: each gets its own bound.
        let f = Fetcher::new(FetchLimits {
            concurrency: 16,
            per_host: 2,
            ..limits()
        })
        .expect("fetcher");
        let urls: Vec<String> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i % 2 == 0 {
                    server.url(p)
                } else {
                    server.url_localhost(p)
                }
            })
            .collect();
        assert_eq!(peak_in_flight(&f, &server, &urls).await, 4);
    }

    #[tokio::test]
    async fn global_bound_is_enforced() {
        let server = TestServer::start();
        let paths = slow_feeds(&server, 8);
        let f = Fetcher::new(FetchLimits {
            concurrency: 2,
            per_host: 8,
            ..limits()
        })
        .expect("fetcher");
        let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
        assert_eq!(peak_in_flight(&f, &server, &urls).await, 2);
    }
}
