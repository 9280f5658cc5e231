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

mod client;
mod rebuild;

use std::time::Duration;

use dealthread_mail::ReadOptions;
use reqwest::Url;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use self::client::{
    Client, Entry, EntryAttachment, EntryBodies, EntryEnvelope, HeaderValues, Reachable,
};
pub use self::rebuild::rebuild_mime;
use super::tls;
use super::{Retry, SourceError, sleep_unless};
use crate::error::{CoreError, Result};
use crate::ingest::{self, Checkpoint, Outcome, Pipeline, RawMessage};
use crate::store::Store;

pub const KIND: &str = "provider";

/// How a message rebuilt from the provider's JSON is marked in the store.
pub const REBUILT_FROM_JSON: &str = "provider-json";

/// Raw copies downloaded at once.
const DOWNLOADS: usize = 4;
/// A sync stops after this many pages even if the provider keeps sending
/// more; the next sync goes on from the cursor.
const MAX_PAGES_PER_SYNC: u64 = 10_000;

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
    for written in last.iter().flatten() {
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
    done.bytes += batch.iter().map(|m| m.size).sum::<u64>();
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
}
