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
    #[error("{url}: HTTP status {status}, server asks to wait until {until}")]
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
        let result = match tokio::time::timeout(limit, self.fetch_now(parsed, url, validators))
            .await
        {
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
            let value = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok());
            let now = Utc::now();
            let until = match value.and_then(|v| parse_retry_after(v, now)) {
                Some(until) => Some(until),
                // A 429 always means "slow down"; a bare 503 is just an outage.
                None if status == StatusCode::TOO_MANY_REQUESTS => Some(now + delta(DEFAULT_RETRY_AFTER)),
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
        })
    }
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

/// HTTP-date in its three RFC 9110 forms: IMF-fixdate, RFC 850 and asctime.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(value, fmt).ok())
        .map(|naive| naive.and_utc())
}
