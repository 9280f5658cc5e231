//! The inbound provider's REST API (DESIGN.md): a laptop cannot receive
//! webhooks, so Dealthread polls.
//!
//! Pages come from `GET /v1/messages?after=CURSOR&limit=N`. For each entry
//! the raw MIME is downloaded and parsed here, so a message reads exactly as
//! it does from IMAP and deduplicates against it. When the provider's raw
//! copy has expired (or what it returns is not MIME), the message is rebuilt
//! from the provider's JSON and flagged as such. The cursor advances in the
//! same transaction as the page it covers: a crash re-reads at most one page,
//! and dedupe absorbs it.
//!
//! HTTP answers map to what the sync does next: 401/403 stop the source
//! (retrying cannot fix a revoked key), 429 waits as long as `Retry-After`
//! says, 408, 5xx, timeouts and dropped connections are retried with
//! backoff. An entry the page cannot describe is recorded with its id and
//! skipped; the rest of the page goes on.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use dealthread_mail::ReadOptions;
use reqwest::Url;
use reqwest::blocking::{Client as Http, Response};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::tls::{self, Seen};
use super::{Retry, SourceError, sleep_unless};
use crate::error::{CoreError, Result};
use crate::ingest::{self, Checkpoint, Outcome, Pipeline, RawMessage};
use crate::store::Store;

pub const KIND: &str = "provider";

/// How a message rebuilt from the provider's JSON is marked in the store.
pub const REBUILT_FROM_JSON: &str = "provider-json";

/// A raw copy larger than this is not downloaded; the JSON is used.
const MAX_RAW_BYTES: u64 = 64 * 1024 * 1024;
/// A page larger than this is refused as broken.
const MAX_PAGE_BYTES: u64 = 256 * 1024 * 1024;
/// Raw copies downloaded at once.
const DOWNLOADS: usize = 4;
/// A sync stops after this many pages even if the provider keeps sending
/// more; the next sync goes on from the cursor.
const MAX_PAGES_PER_SYNC: u64 = 10_000;
/// The longest `Retry-After` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// A provider account's configuration. Holds no secret: the API key is in
/// the OS keyring under `source:<name>` (or in `secret_env`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSource {
    pub name: String,
    /// The API's base, e.g. `https://api.inbound.example/`. HTTPS, or HTTP
    /// to a server on this machine only.
    pub base_url: String,
    /// Seconds between polls when nothing is wrong.
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u64,
    /// Messages asked for per page.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds before a request that gets no answer is given up and retried.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// SHA-256 fingerprint of a self-signed server's certificate.
    #[serde(default)]
    pub pin_sha256: Option<String>,
    /// For headless runs: the environment variable holding the API key.
    #[serde(default)]
    pub secret_env: Option<String>,
}

fn default_poll_secs() -> u64 {
    60
}
fn default_page_size() -> u32 {
    100
}
fn default_timeout_secs() -> u64 {
    30
}

impl ProviderSource {
    pub fn new(name: &str, base_url: &str) -> ProviderSource {
        ProviderSource {
            name: name.into(),
            base_url: base_url.into(),
            poll_secs: default_poll_secs(),
            page_size: default_page_size(),
            timeout_secs: default_timeout_secs(),
            pin_sha256: None,
            secret_env: None,
        }
    }

    /// The base URL, checked: HTTPS, or plain HTTP to this machine only.
    pub fn url(&self) -> std::result::Result<Url, SourceError> {
        let mut url = Url::parse(&self.base_url).map_err(|e| {
            SourceError::Config(format!("{}: {:?} is not a URL: {e}", self.name, self.base_url))
        })?;
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
        match url.scheme() {
            "https" => {}
            "http" if tls::is_loopback(&host) => {}
            "http" => {
                return Err(SourceError::Config(format!(
                    "{}: {} is plain HTTP; the API key and mail must travel over HTTPS \
                     (plain HTTP is allowed only to a server on this machine)",
                    self.name, self.base_url
                )));
            }
            other => {
                return Err(SourceError::Config(format!(
                    "{}: {}: expected an https:// URL, not {other}://",
                    self.name, self.base_url
                )));
            }
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        if self.page_size == 0 || self.page_size > 1000 {
            return Err(SourceError::Config(format!(
                "{}: page size {} is out of range (1 to 1000)",
                self.name, self.page_size
            )));
        }
        if let Some(pin) = &self.pin_sha256
            && tls::parse_pin(pin).is_none()
        {
            return Err(SourceError::Config(format!(
                "{}: the pin must be a SHA-256 fingerprint (64 hex digits)",
                self.name
            )));
        }
        Ok(url)
    }

    pub fn load(store: &Store, name: &str) -> Result<Option<ProviderSource>> {
        match super::config_of(store.conn(), name)? {
            Some((kind, json)) if kind == KIND => Ok(Some(super::parse_config(name, &json)?)),
            _ => Ok(None),
        }
    }

    pub fn save(&self, store: &Store, now: i64) -> Result<()> {
        let json = serde_json::to_string(self)
            .map_err(|e| CoreError::InvalidInput(format!("source {}: {e}", self.name)))?;
        super::save(store.conn(), &self.name, KIND, &json, now)
    }
}

/// One page as the API sends it. Entries stay loose JSON until each is
/// read on its own, so one bad entry does not sink the page.
#[derive(Debug, Deserialize)]
struct Page {
    messages: Vec<serde_json::Value>,
    next_cursor: Option<String>,
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
    fn values(&self) -> &[String] {
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

    fn name(&self) -> &str {
        &self.source.name
    }

    /// One page of messages after `cursor`.
    fn page(&self, cursor: Option<&str>) -> std::result::Result<Page, SourceError> {
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
    fn raw(&self, entry: &Entry) -> std::result::Result<Option<Vec<u8>>, SourceError> {
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

/// Progress of a sync, for a progress bar or an app event: what is
/// committed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub pages: u64,
    pub messages: usize,
    pub bytes: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pages: u64,
    pub fetched: usize,
    pub new: usize,
    pub duplicates: usize,
    /// Messages rebuilt from the provider's JSON (the raw copy had expired
    /// or was not MIME).
    pub rebuilt: usize,
    /// Kept with their error (unreadable even when rebuilt).
    pub unreadable: usize,
    /// Entries that could not be used at all, recorded and skipped.
    pub skipped: usize,
    /// One line per problem, naming the provider's message id.
    pub problems: Vec<String>,
}

/// Where a provider source stands, for `dealthread doctor` and the app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub cursor: Option<String>,
    pub pages: i64,
    pub updated_at: Option<i64>,
    /// (provider id, why) of each skipped entry.
    pub skipped: Vec<(String, String)>,
}

pub fn status(store: &Store, name: &str) -> Result<Status> {
    let conn = store.conn();
    let mut status = conn
        .query_row(
            "SELECT cursor, pages, updated_at FROM provider_cursors WHERE source = ?1",
            [name],
            |r| {
                Ok(Status {
                    cursor: Some(r.get(0)?),
                    pages: r.get(1)?,
                    updated_at: Some(r.get(2)?),
                    skipped: Vec::new(),
                })
            },
        )
        .optional()?
        .unwrap_or_default();
    let mut stmt = conn.prepare(
        "SELECT provider_id, error FROM provider_skipped WHERE source = ?1 ORDER BY seen_at, provider_id",
    )?;
    status.skipped =
        stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    Ok(status)
}

fn stored_cursor(store: &Store, name: &str) -> Result<Option<String>> {
    Ok(store
        .conn()
        .query_row("SELECT cursor FROM provider_cursors WHERE source = ?1", [name], |r| r.get(0))
        .optional()?)
}

/// One entry made ready for the store.
enum Ready {
    Message { raw: RawMessage, rebuilt: Option<String> },
    Skipped { id: String, error: String, entry: String },
}

/// Reads every page after the stored cursor into the store.
pub fn sync_once(
    store: &mut Store,
    source: &ProviderSource,
    key: &str,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<SyncReport, SourceError> {
    let mut report = SyncReport::default();
    sync_into(store, source, key, options, progress, &mut report)?;
    Ok(report)
}

/// [`sync_once`], counting into `report`, which keeps what was written
/// even when the sync then fails.
fn sync_into(
    store: &mut Store,
    source: &ProviderSource,
    key: &str,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&Progress),
    report: &mut SyncReport,
) -> std::result::Result<(), SourceError> {
    let client = Client::new(source, key)?;
    let mut cursor = stored_cursor(store, &source.name)?;
    let mut pipeline = Pipeline::new(store, options);
    let mut done = Progress::default();
    let mut unmoved = 0;
    let outcome = (|| -> std::result::Result<(), SourceError> {
        while report.pages < MAX_PAGES_PER_SYNC {
            let page = client.page(cursor.as_deref())?;
            if page.messages.is_empty() {
                break;
            }
            let Some(next) = page.next_cursor.clone().filter(|c| !c.is_empty()) else {
                return Err(SourceError::Protocol(format!(
                    "{}: a page of {} messages came without next_cursor, so the sync cannot go on \
                     past it",
                    source.name,
                    page.messages.len()
                )));
            };
            let ready = prepare(&client, page.messages)?;
            report.pages += 1;
            let (batch, checkpoint) = checkpoint(&source.name, &next, ready, report);
            if let Some(written) =
                pipeline.push_with(store, batch, ingest::unix_now(), Some(checkpoint))?
            {
                count(report, &mut done, &written);
                progress(&done);
            }
            // A server may re-send a page (dedupe absorbs it); one that
            // keeps answering the same cursor would loop, so stop there.
            if cursor.as_deref() == Some(next.as_str()) {
                unmoved += 1;
                if unmoved >= 2 {
                    break;
                }
            } else {
                unmoved = 0;
            }
            cursor = Some(next);
        }
        Ok(())
    })();
    // Whatever happened, what was downloaded is written with its cursor.
    let last = pipeline.finish(store);
    if let Ok(Some(written)) = &last {
        count(report, &mut done, written);
        progress(&done);
    }
    outcome?;
    last?;
    Ok(())
}

/// Counts a page once it is committed, so progress never runs ahead of
/// what a crash would keep.
fn count(report: &mut SyncReport, done: &mut Progress, (batch, outcomes): &ingest::Written) {
    done.pages += 1;
    done.messages += batch.len();
    done.bytes += batch.iter().map(|m| m.bytes.len() as u64).sum::<u64>();
    for outcome in outcomes {
        report.fetched += 1;
        match outcome {
            Outcome::New { .. } => report.new += 1,
            Outcome::Duplicate { .. } => report.duplicates += 1,
            Outcome::Unreadable { .. } => report.unreadable += 1,
        }
    }
}

/// The page's messages and the work committed with them: the cursor, the
/// skipped entries, and the "rebuilt" mark on messages made from JSON.
fn checkpoint(
    name: &str,
    next: &str,
    ready: Vec<Ready>,
    report: &mut SyncReport,
) -> (Vec<RawMessage>, Checkpoint) {
    let mut batch = Vec::new();
    let mut rebuilt = Vec::new();
    let mut skipped = Vec::new();
    for item in ready {
        match item {
            Ready::Message { raw, rebuilt: why } => {
                if let Some(why) = why {
                    report.rebuilt += 1;
                    report.problems.push(why);
                    rebuilt.push(batch.len());
                }
                batch.push(raw);
            }
            Ready::Skipped { id, error, entry } => {
                report.skipped += 1;
                report.problems.push(format!("message {id}: {error}; skipped"));
                skipped.push((id, error, entry));
            }
        }
    }
    let name = name.to_string();
    let next = next.to_string();
    let checkpoint: Checkpoint = Box::new(move |tx, _batch, outcomes| {
        let now = ingest::unix_now();
        tx.execute(
            "INSERT INTO provider_cursors (source, cursor, pages, updated_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT(source) DO UPDATE SET cursor = excluded.cursor,
                 pages = pages + 1, updated_at = excluded.updated_at",
            params![name, next, now],
        )?;
        for (id, error, entry) in &skipped {
            tx.execute(
                "INSERT INTO provider_skipped (source, provider_id, error, entry, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(source, provider_id) DO UPDATE SET error = excluded.error,
                     entry = excluded.entry, seen_at = excluded.seen_at",
                params![name, id, error, entry, now],
            )?;
        }
        for &at in &rebuilt {
            if let Some(Outcome::New { id, .. } | Outcome::Unreadable { id, .. }) = outcomes.get(at)
            {
                tx.execute(
                    "UPDATE messages SET rebuilt_from = ?1 WHERE id = ?2",
                    params![REBUILT_FROM_JSON, id],
                )?;
            }
        }
        Ok(())
    });
    (batch, checkpoint)
}

/// Reads each entry and downloads its raw copy, a few at a time, keeping
/// the page's order.
fn prepare(
    client: &Client,
    entries: Vec<serde_json::Value>,
) -> std::result::Result<Vec<Ready>, SourceError> {
    let chunk = entries.len().div_ceil(DOWNLOADS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|value| prepare_one(client, value)).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ready = Vec::with_capacity(entries.len());
        for handle in handles {
            let part = handle.join().map_err(|_| {
                SourceError::Protocol(format!("{}: a download thread stopped", client.name()))
            })?;
            for item in part {
                ready.push(item?);
            }
        }
        Ok(ready)
    })
}

fn prepare_one(
    client: &Client,
    value: &serde_json::Value,
) -> std::result::Result<Ready, SourceError> {
    let entry: Entry = match serde_json::from_value(value.clone()) {
        Ok(entry) => entry,
        Err(e) => {
            let id = value
                .get("id")
                .and_then(|v| {
                    v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string()))
                })
                .unwrap_or_else(|| format!("(no id) #{:016x}", short_tag(value)));
            return Ok(Ready::Skipped {
                id,
                error: format!("the entry does not describe a message ({e})"),
                entry: value.to_string(),
            });
        }
    };
    if entry.id.trim_matches('.').is_empty() {
        return Ok(Ready::Skipped {
            id: format!("{:?}", entry.id),
            error: "the entry's id is empty or only dots".into(),
            entry: value.to_string(),
        });
    }
    let locator = entry.id.clone();
    let source = format!("{KIND}:{}", client.name());
    let why = match client.raw(&entry)? {
        Some(bytes) => match dealthread_mail::parse::check_looks_like_message(&bytes) {
            Ok(()) => {
                return Ok(Ready::Message {
                    raw: RawMessage { bytes, source, locator },
                    rebuilt: None,
                });
            }
            Err(e) => format!("the raw copy is not MIME ({e})"),
        },
        None => "the provider's raw copy has expired".to_string(),
    };
    match rebuild_mime(&entry, &why) {
        Ok(bytes) => Ok(Ready::Message {
            raw: RawMessage { bytes, source, locator },
            rebuilt: Some(format!("message {}: {why}; rebuilt from the provider's JSON", entry.id)),
        }),
        Err(error) => Ok(Ready::Skipped {
            id: entry.id.clone(),
            error: format!("{why}, and {error}"),
            entry: value.to_string(),
        }),
    }
}

/// A short stable tag for an entry without an id.
fn short_tag(value: &serde_json::Value) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.to_string().as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap_or_default())
}

/// Header fields the rebuilt message writes itself.
const OWN_FIELDS: [&str; 4] =
    ["content-type", "content-transfer-encoding", "mime-version", "x-dealthread-rebuilt"];

/// A MIME message made from the provider's JSON: its header fields as
/// given, the text and HTML bodies, and each attachment whose content came
/// along. Parsed like any other message, it gives the same document and
/// content hash as the original did, so dedupe still holds.
pub fn rebuild_mime(entry: &Entry, why: &str) -> std::result::Result<Vec<u8>, String> {
    let has_from = entry.headers.keys().any(|k| k.eq_ignore_ascii_case("from"));
    if entry.headers.is_empty() && entry.bodies.text.is_none() && entry.bodies.html.is_none() {
        return Err("the JSON has neither header fields nor bodies".into());
    }
    let mut out = String::new();
    for (name, values) in &entry.headers {
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !valid_name || OWN_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        for value in values.values() {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&one_line(value));
            out.push_str("\r\n");
        }
    }
    if !has_from && let Some(from) = entry.envelope.as_ref().and_then(|e| e.mail_from.as_deref()) {
        out.push_str(&format!("From: <{}>\r\n", one_line(from)));
    }
    out.push_str(&format!("X-Dealthread-Rebuilt: {}\r\n", one_line(why)));
    out.push_str("MIME-Version: 1.0\r\n");
    let mixed = boundary();
    let alternative = boundary();
    out.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n"));
    out.push_str(&format!("--{mixed}\r\n"));
    out.push_str(&format!(
        "Content-Type: multipart/alternative; boundary=\"{alternative}\"\r\n\r\n"
    ));
    for (kind, body) in [("plain", &entry.bodies.text), ("html", &entry.bodies.html)] {
        if let Some(body) = body {
            out.push_str(&format!("--{alternative}\r\n"));
            out.push_str(&format!("Content-Type: text/{kind}; charset=utf-8\r\n"));
            out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            push_base64(&mut out, body.as_bytes());
        }
    }
    out.push_str(&format!("--{alternative}--\r\n"));
    for attachment in &entry.attachments {
        let Some(content) = &attachment.content_base64 else { continue };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(content.trim()) else {
            continue;
        };
        let content_type = attachment
            .content_type
            .as_deref()
            .filter(|t| is_media_type(t))
            .unwrap_or("application/octet-stream");
        out.push_str(&format!("--{mixed}\r\nContent-Type: {content_type}\r\n"));
        let filename = attachment.filename.as_deref().map(one_line).unwrap_or_default();
        out.push_str(&format!("Content-Disposition: attachment{}\r\n", filename_param(&filename)));
        if let Some(cid) = &attachment.content_id {
            out.push_str(&format!("Content-ID: {}\r\n", one_line(cid)));
        }
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        push_base64(&mut out, &bytes);
    }
    out.push_str(&format!("--{mixed}--\r\n"));
    Ok(out.into_bytes())
}

/// A header value on one line: folding undone, stray line breaks removed,
/// so a value can never start a header field of its own.
fn one_line(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim_start)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_media_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(value.split_once('/'), Some((a, b)) if token(a) && token(b))
}

/// `; filename="..."`, or RFC 2231 form for names that are not plain ASCII.
fn filename_param(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    if name.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        return format!("; filename=\"{name}\"");
    }
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("; filename*=utf-8''{encoded}")
}

fn boundary() -> String {
    format!("=_dealthread_{:016x}", rand::random::<u64>())
}

fn push_base64(out: &mut String, bytes: &[u8]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push_str("\r\n");
    }
}

/// [`sync_once`], retried after network failures, 5xx and 429 with backoff
/// (at least as long as `Retry-After` asks), resuming from the cursor. A
/// refused key stops at once.
pub fn sync_with_retry(
    store: &mut Store,
    source: &ProviderSource,
    key: &str,
    options: &ReadOptions,
    retry: Retry,
    progress: &mut dyn FnMut(&Progress),
    on_retry: &mut dyn FnMut(&SourceError, Duration),
) -> std::result::Result<SyncReport, SourceError> {
    let mut attempt = 0;
    // Pages written before a failure stay written, and counted; the next
    // attempt starts after them.
    let mut report = SyncReport::default();
    loop {
        match sync_into(store, source, key, options, progress, &mut report) {
            Ok(()) => return Ok(report),
            Err(error) if error.is_retryable() && attempt + 1 < retry.attempts => {
                let wait = retry.wait_for(&error, attempt);
                on_retry(&error, wait);
                std::thread::sleep(wait);
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Polls until `stop`: a sync, then the source's interval; failures back
/// off with jitter (429 as long as asked); a refused key ends the loop with
/// its error.
#[allow(clippy::too_many_arguments)] // the loop's knobs and its callbacks
pub fn watch(
    store: &mut Store,
    source: &ProviderSource,
    key: &str,
    options: &ReadOptions,
    stop: &dyn Fn() -> bool,
    on_pass: &mut dyn FnMut(&SyncReport),
    progress: &mut dyn FnMut(&Progress),
    on_retry: &mut dyn FnMut(&SourceError, Duration),
) -> std::result::Result<(), SourceError> {
    let retry = Retry::default();
    let poll = Duration::from_secs(source.poll_secs.max(1));
    let mut failures = 0;
    while !stop() {
        match sync_once(store, source, key, options, progress) {
            Ok(report) => {
                failures = 0;
                on_pass(&report);
                sleep_unless(stop, poll);
            }
            Err(error) if error.is_retryable() => {
                let wait = retry.wait_for(&error, failures);
                on_retry(&error, wait);
                sleep_unless(stop, wait);
                failures = (failures + 1).min(retry.attempts);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> Entry {
        serde_json::from_value(json).expect("an entry")
    }

    #[test]
    fn a_rebuilt_message_reads_like_the_original() {
        let original = b"From: Dana Buyer <dana@acme.test>\r\nTo: deal+7@in.dealthread.test\r\n\
Subject: Re: Quote Q-17\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\nMessage-ID: <r1@acme.test>\r\n\
\r\nWe accept the quote.\r\n";
        let parsed = dealthread_mail::parse::parse(original).expect("original parses");
        let rebuilt = rebuild_mime(
            &entry(serde_json::json!({
                "id": "m1",
                "headers": {
                    "From": ["Dana Buyer <dana@acme.test>"],
                    "To": "deal+7@in.dealthread.test",
                    "Subject": ["Re: Quote Q-17"],
                    "Date": ["Tue, 3 Nov 2026 10:00:00 +0000"],
                    "Message-ID": ["<r1@acme.test>"],
                    "Content-Type": ["text/plain"]
                },
                "bodies": {"text": "We accept the quote.\n"}
            })),
            "expired",
        )
        .expect("rebuilt");
        let again = dealthread_mail::parse::parse(&rebuilt).expect("rebuilt parses");
        assert_eq!(
            dealthread_mail::identity::content_hash(&parsed),
            dealthread_mail::identity::content_hash(&again),
            "{}",
            String::from_utf8_lossy(&rebuilt)
        );
    }

    #[test]
    fn header_values_cannot_inject_fields() {
        let rebuilt = rebuild_mime(
            &entry(serde_json::json!({
                "id": "m2",
                "headers": {"Subject": ["hello\r\nBcc: victim@x.test"], "Bad Name": ["x"]},
                "bodies": {"text": "hi"}
            })),
            "expired",
        )
        .expect("rebuilt");
        let text = String::from_utf8_lossy(&rebuilt);
        assert!(text.contains("Subject: hello Bcc: victim@x.test\r\n"), "{text}");
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(!text.contains("Bad Name"), "{text}");
    }

    #[test]
    fn an_entry_with_nothing_to_rebuild_is_refused() {
        let error = rebuild_mime(&entry(serde_json::json!({"id": "m3"})), "expired")
            .expect_err("nothing to rebuild");
        assert!(error.contains("neither"), "{error}");
    }

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
    fn only_https_or_loopback_http_is_accepted() {
        let ok = ["https://api.inbound.test", "http://127.0.0.1:8080/api", "http://localhost:1"];
        for url in ok {
            assert!(ProviderSource::new("p", url).url().is_ok(), "{url}");
        }
        for url in ["http://api.inbound.test", "ftp://x.test", "not a url"] {
            let error = ProviderSource::new("p", url).url().expect_err(url);
            assert!(matches!(error, SourceError::Config(_)), "{url}: {error}");
        }
        let base = ProviderSource::new("p", "https://x.test/api").url().expect("url");
        assert_eq!(
            base.join("v1/messages").expect("join").as_str(),
            "https://x.test/api/v1/messages"
        );
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert_eq!(encode_segment("../../admin?x=1"), "..%2F..%2Fadmin%3Fx%3D1");
    }
}
