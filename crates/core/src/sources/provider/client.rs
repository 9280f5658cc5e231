//! The provider's HTTP API as the sync sees it: the page and entry wire
//! types, and a client whose every unsuccessful answer is mapped to what
//! the sync does next (stop, wait, retry, or fall back to the JSON).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client as Http, Response};
use serde::Deserialize;

use super::ProviderSource;
use crate::sources::SourceError;
use crate::sources::tls::{self, Seen};

/// A raw copy larger than this is not downloaded; the JSON is used.
const MAX_RAW_BYTES: u64 = 64 * 1024 * 1024;
/// A page larger than this is refused as broken.
const MAX_PAGE_BYTES: u64 = 256 * 1024 * 1024;
/// The longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// One page as the API sends it. Entries stay loose JSON until each is
/// read on its own, so one bad entry does not sink the page.
#[derive(Debug, Deserialize)]
pub(super) struct Page {
    pub(super) messages: Vec<serde_json::Value>,
    pub(super) next_cursor: Option<String>,
}

/// One message of a page.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub id: String,
    #[serde(default)]
    pub received_at: Option<String>,
    #[serde(default)]
    pub envelope: Option<EntryEnvelope>,
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    #[serde(default)]
    pub bodies: EntryBodies,
    #[serde(default)]
    pub attachments: Vec<EntryAttachment>,
    #[serde(default)]
    pub raw_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EntryEnvelope {
    #[serde(default)]
    pub mail_from: Option<String>,
    #[serde(default)]
    pub rcpt_to: Vec<String>,
}

/// A header's values: the API may send one string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

impl HeaderValues {
    pub(super) fn values(&self) -> &[String] {
        match self {
            HeaderValues::One(value) => std::slice::from_ref(value),
            HeaderValues::Many(values) => values,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EntryBodies {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EntryAttachment {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_id: Option<String>,
    /// The decoded content, base64. Without it the attachment cannot be
    /// rebuilt and is named in the message's warnings instead.
    #[serde(default)]
    pub content_base64: Option<String>,
}

/// What the HTTPS connection looked like, for `dealthread doctor`.
#[derive(Debug, Clone, Default)]
pub struct Reachable {
    /// The server certificate's SHA-256 fingerprint (none over plain HTTP).
    pub fingerprint: Option<String>,
    /// Messages in the first page after the stored cursor.
    pub waiting: usize,
}

/// A client for one provider account.
#[derive(Clone)]
pub struct Client {
    http: Http,
    base: Url,
    key: String,
    source: Arc<ProviderSource>,
    seen: Seen,
}

impl Client {
    pub fn new(source: &ProviderSource, key: &str) -> std::result::Result<Client, SourceError> {
        let base = source.url()?;
        let timeout = Duration::from_secs(source.timeout_secs.max(1));
        let (http, seen) = tls::http_client(&source.name, source.pin_sha256.as_deref(), timeout)?;
        Ok(Client { http, base, key: key.to_string(), source: Arc::new(source.clone()), seen })
    }

    pub(super) fn name(&self) -> &str {
        &self.source.name
    }

    /// One page of messages after `cursor`.
    pub(super) fn page(&self, cursor: Option<&str>) -> std::result::Result<Page, SourceError> {
        let mut url = self.endpoint("v1/messages")?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(cursor) = cursor {
                query.append_pair("after", cursor);
            }
            query.append_pair("limit", &self.source.page_size.to_string());
        }
        let what = match cursor {
            Some(cursor) => format!("the page after cursor {cursor}"),
            None => "the first page".to_string(),
        };
        let response = self.get(&url, true, &what)?;
        let body = self.read_body(response, MAX_PAGE_BYTES, &what)?;
        serde_json::from_slice(&body).map_err(|e| {
            // Almost always a transfer cut short; fetched again next attempt.
            SourceError::Protocol(format!(
                "{}: {what} is not the JSON the API promises ({e}); it will be fetched again",
                self.name()
            ))
        })
    }

    /// An entry's raw MIME; `None` when the provider no longer has it
    /// (404 or 410) or it is too large to download.
    pub(super) fn raw(&self, entry: &Entry) -> std::result::Result<Option<Vec<u8>>, SourceError> {
        let (url, with_key) = self.raw_url(entry)?;
        let what = format!("the raw MIME of message {}", entry.id);
        let response = self.send(&url, with_key, &what)?;
        match response.status().as_u16() {
            404 | 410 => return Ok(None),
            _ if !response.status().is_success() => return Err(self.refusal(response, &what)),
            _ => {}
        }
        if response.content_length().is_some_and(|n| n > MAX_RAW_BYTES) {
            return Ok(None);
        }
        let body = self.read_body(response, MAX_RAW_BYTES, &what)?;
        Ok(Some(body))
    }

    /// Where an entry's raw copy is. A `raw_url` on the API's own origin
    /// is fetched with the key; one elsewhere (a pre-signed download link)
    /// must be HTTPS and never sees the key.
    fn raw_url(&self, entry: &Entry) -> std::result::Result<(Url, bool), SourceError> {
        let default = || self.endpoint(&format!("v1/messages/{}/raw", encode_segment(&entry.id)));
        let Some(given) = entry.raw_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok((default()?, true));
        };
        let url = self.base.join(given).map_err(|e| {
            SourceError::Protocol(format!(
                "{}: message {}: raw_url {given:?} is not a URL: {e}",
                self.name(),
                entry.id
            ))
        })?;
        if url.origin() == self.base.origin() {
            Ok((url, true))
        } else if url.scheme() == "https" {
            Ok((url, false))
        } else {
            Ok((default()?, true))
        }
    }

    fn endpoint(&self, path: &str) -> std::result::Result<Url, SourceError> {
        self.base
            .join(path)
            .map_err(|e| SourceError::Config(format!("{}: {path}: {e}", self.name())))
    }

    /// A GET, failing only when the answer never came.
    fn send(
        &self,
        url: &Url,
        with_key: bool,
        what: &str,
    ) -> std::result::Result<Response, SourceError> {
        let mut request = self.http.get(url.clone());
        if with_key {
            request = request.bearer_auth(&self.key);
        }
        request.send().map_err(|e| self.transport_error(&e, what))
    }

    /// A GET whose unsuccessful answer is mapped to what the sync should
    /// do next.
    fn get(
        &self,
        url: &Url,
        with_key: bool,
        what: &str,
    ) -> std::result::Result<Response, SourceError> {
        let response = self.send(url, with_key, what)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.refusal(response, what))
        }
    }

    fn refusal(&self, response: Response, what: &str) -> SourceError {
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let excerpt = excerpt(response);
        let name = self.name();
        match code {
            401 | 403 => SourceError::Auth(format!(
                "{name}: the provider refused the API key (HTTP {code}{excerpt}); \
                 the source is stopped until a new key is stored"
            )),
            429 => {
                let retry_after = retry_after.unwrap_or(Duration::from_secs(30));
                SourceError::RateLimited {
                    message: format!(
                        "{name}: the provider is rate limiting (HTTP 429) {what}; \
                         it asked to wait {} s",
                        retry_after.as_secs()
                    ),
                    retry_after,
                }
            }
            408 | 500..=599 => SourceError::Network(format!(
                "{name}: {what}: the provider answered HTTP {code}{excerpt}"
            )),
            _ => SourceError::Config(format!(
                "{name}: {what}: the provider answered HTTP {code}{excerpt}"
            )),
        }
    }

    fn read_body(
        &self,
        response: Response,
        limit: u64,
        what: &str,
    ) -> std::result::Result<Vec<u8>, SourceError> {
        let mut body = Vec::new();
        response.take(limit + 1).read_to_end(&mut body).map_err(|e| {
            SourceError::Network(format!("{}: {what} was cut off: {e}", self.name()))
        })?;
        if body.len() as u64 > limit {
            return Err(SourceError::Protocol(format!(
                "{}: {what} is larger than {} MB",
                self.name(),
                limit / 1_000_000
            )));
        }
        Ok(body)
    }

    fn transport_error(&self, error: &reqwest::Error, what: &str) -> SourceError {
        let mut detail = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(inner) = cause {
            detail.push_str(": ");
            detail.push_str(&inner.to_string());
            cause = inner.source();
        }
        let name = self.name();
        if detail.contains("certificate") || detail.contains("pin") {
            return tls::failure(name, self.source.pin_sha256.as_deref(), &detail, &self.seen);
        }
        if error.is_timeout() {
            return SourceError::Network(format!(
                "{name}: {what}: no answer within {} s",
                self.source.timeout_secs
            ));
        }
        SourceError::Network(format!("{name}: {what}: {detail}"))
    }

    /// Checks that the API answers and accepts the key, without storing
    /// anything: for `dealthread doctor` and the app's "test connection".
    pub fn check(&self, cursor: Option<&str>) -> std::result::Result<Reachable, SourceError> {
        let page = self.page(cursor)?;
        Ok(Reachable {
            fingerprint: tls::seen_fingerprint(&self.seen),
            waiting: page.messages.len(),
        })
    }
}

fn excerpt(response: Response) -> String {
    let mut text = String::new();
    let _ = response.take(2048).read_to_string(&mut text);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else {
        let short: String = text.chars().take(200).collect();
        format!(": {short}")
    }
}

/// `Retry-After` as seconds or as an HTTP date, capped.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(std::time::SystemTime::now()).unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A path segment with everything but unreserved characters escaped, so an
/// id can never climb out of its URL path.
fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        let soon = std::time::SystemTime::now() + Duration::from_secs(120);
        let wait = parse_retry_after(&httpdate::fmt_http_date(soon)).expect("a date");
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert_eq!(encode_segment("../../admin?x=1"), "..%2F..%2Fadmin%3Fx%3D1");
    }
}
