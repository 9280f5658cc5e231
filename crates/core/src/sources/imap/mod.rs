//! IMAP: pull the team's inbound mailbox into the store.
//!
//! Per folder the sync keeps a checkpoint (UIDVALIDITY, the highest UID
//! stored, HIGHESTMODSEQ when the server offers CONDSTORE) that advances in
//! the same transaction as the messages it covers, so a kill at any point
//! loses nothing and the next run resumes. Messages are fetched with
//! `UID FETCH ... BODY.PEEK[]` (never marking mail as seen) in batches, and
//! each batch is parsed on the other cores while the next one downloads.
//!
//! A cursor alone can skip mail without anyone noticing. So after each
//! initial sync, and whenever asked, the sync compares the server's full UID
//! set with the UIDs stored (the ledger), fetches whatever is missing, and
//! records what it found, so "N on the server are missing locally" is shown
//! rather than a silent green.

pub mod connect;

use std::collections::BTreeSet;

use dealthread_mail::ReadOptions;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use self::connect::{Connected, Session, TlsDetails, imap_error};
pub use super::Retry;
use super::{SourceError, sleep_unless};
use crate::error::Result;
use crate::ingest::{self, Checkpoint, Outcome, Pipeline, RawMessage};
use crate::store::Store;

pub const KIND: &str = "imap";

/// Messages per `UID FETCH`, and per transaction.
const FETCH_BATCH: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Security {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain IMAP upgraded with STARTTLS (port 143).
    StartTls,
    /// No TLS: only to a server on this machine.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    Password,
    /// OAuth2 bearer token (Gmail, Microsoft 365) as the secret.
    XOAuth2,
}

/// An IMAP source's configuration. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImapSource {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    pub auth: Auth,
    pub folders: Vec<String>,
    /// SHA-256 of the server's certificate, for self-signed servers.
    pub pin_sha256: Option<String>,
    /// Read the secret from this environment variable instead of the keyring.
    pub secret_env: Option<String>,
    /// Seconds any network read or write may wait before the server counts
    /// as gone (default 30).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

fn default_timeout_secs() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

impl ImapSource {
    /// Every network read and write gives up after this long: a server
    /// that stops answering is an error, never a hang.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.max(1))
    }

    pub fn source_id(&self) -> String {
        format!("imap:{}", self.name)
    }

    pub fn load(store: &Store, name: &str) -> Result<Option<ImapSource>> {
        match super::config_of(store.conn(), name)? {
            Some((kind, json)) if kind == KIND => Ok(Some(super::parse_config(name, &json)?)),
            _ => Ok(None),
        }
    }

    pub fn save(&self, store: &Store, now: i64) -> Result<()> {
        let json = serde_json::to_string(self).map_err(|e| {
            crate::error::CoreError::InvalidInput(format!("source {}: {e}", self.name))
        })?;
        super::save(store.conn(), &self.name, KIND, &json, now)
    }
}

/// Progress of a sync, for a progress bar or an app event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub folder: String,
    pub done: usize,
    pub total: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderReport {
    pub folder: String,
    pub fetched: usize,
    pub new: usize,
    pub duplicates: usize,
    pub unreadable: usize,
    /// The server changed UIDVALIDITY: the folder was read again from the
    /// start (dedupe kept the store free of duplicates).
    pub uid_validity_reset: bool,
    /// From the completeness check, when it ran.
    pub ledger: Option<Ledger>,
}

/// What the completeness check found in a folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ledger {
    pub server_count: usize,
    /// On the server but not stored when the check began.
    pub missing: usize,
    /// Of those, fetched and stored by the check.
    pub healed: usize,
}

#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub folders: Vec<FolderReport>,
    pub tls: TlsDetails,
}

/// When the completeness check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// After a folder's initial sync (its first, or after a UIDVALIDITY
    /// reset), including one resumed after an interruption.
    AfterInitial,
    Always,
}

/// One pass over every configured folder: new mail, then (per `check`)
/// the completeness check. `secret` is the password or token.
pub fn sync_once(
    store: &mut Store,
    source: &ImapSource,
    secret: &str,
    options: &ReadOptions,
    check: Check,
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<SyncReport, SourceError> {
    let Connected { mut session, tls, .. } = connect::connect(source, secret)?;
    let folders = pass(store, &mut session, source, options, check, progress)?;
    let _ = session.logout(); // the work is stored; a failed goodbye changes nothing
    Ok(SyncReport { folders, tls })
}

/// Every configured folder, in order, over one session.
fn pass(
    store: &mut Store,
    session: &mut Session,
    source: &ImapSource,
    options: &ReadOptions,
    check: Check,
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<Vec<FolderReport>, SourceError> {
    source
        .folders
        .iter()
        .map(|folder| sync_folder(store, session, source, folder, options, check, progress))
        .collect()
}

/// How long one IDLE waits before it is re-issued: well inside the 30
/// minutes after which RFC 2177 lets a server drop an idle client.
pub const IDLE_RENEW: std::time::Duration = std::time::Duration::from_secs(25 * 60);

/// Keeps a source in sync until `stop` says so: a full pass, then IDLE on
/// the first folder (INBOX) so new mail is fetched as soon as the server
/// announces it, with a full pass after each announcement and at least
/// every `idle_renew`. Servers without IDLE are polled every `poll`.
/// Failures are retried with backoff; a refused login or certificate ends
/// the watch with its error.
#[allow(clippy::too_many_arguments)] // the loop's knobs and its three callbacks
pub fn watch(
    store: &mut Store,
    source: &ImapSource,
    secret: &str,
    options: &ReadOptions,
    idle_renew: std::time::Duration,
    poll: std::time::Duration,
    stop: &dyn Fn() -> bool,
    on_pass: &mut dyn FnMut(&SyncReport),
    progress: &mut dyn FnMut(&Progress),
    on_retry: &mut dyn FnMut(&SourceError, std::time::Duration),
) -> std::result::Result<(), SourceError> {
    let retry = Retry::default();
    let mut failures = 0;
    while !stop() {
        let watched = Watched { idle_renew, poll, stop };
        match watch_connection(store, source, secret, options, &watched, on_pass, progress) {
            Ok(()) => return Ok(()),
            Err(error) if error.is_retryable() => {
                let wait = retry.wait_for(&error, failures.min(retry.attempts));
                on_retry(&error, wait);
                sleep_unless(stop, wait);
                failures += 1;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The knobs of one watching connection.
struct Watched<'a> {
    idle_renew: std::time::Duration,
    poll: std::time::Duration,
    stop: &'a dyn Fn() -> bool,
}

fn watch_connection(
    store: &mut Store,
    source: &ImapSource,
    secret: &str,
    options: &ReadOptions,
    &Watched { idle_renew, poll, stop }: &Watched<'_>,
    on_pass: &mut dyn FnMut(&SyncReport),
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<(), SourceError> {
    let Connected { mut session, tls, capabilities } = connect::connect(source, secret)?;
    let can_idle = capabilities.iter().any(|c| c.eq_ignore_ascii_case("IDLE"));
    let watched = source.folders.first().cloned().unwrap_or_else(|| "INBOX".into());
    while !stop() {
        let folders = pass(store, &mut session, source, options, Check::AfterInitial, progress)?;
        on_pass(&SyncReport { folders, tls: tls.clone() });
        if can_idle {
            let mailbox = session
                .examine(&watched)
                .map_err(|e| imap_error(source, &format!("opening {watched}"), e))?;
            // Mail that arrived after the pass looked, and before IDLE began,
            // raises no IDLE event: EXAMINE already reported it. A UIDNEXT
            // other than the one the pass saw means exactly that: pass again.
            let seen: Option<i64> = store
                .conn()
                .query_row(
                    "SELECT uid_next FROM imap_folders WHERE source = ?1 AND folder = ?2",
                    params![source.name, watched],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            if mailbox.uid_next.is_some_and(|next| Some(i64::from(next)) != seen) {
                continue;
            }
            // IDLE in slices of a few seconds, so `stop` is noticed; new mail
            // ends a slice at once.
            let slice = idle_renew
                .min(std::time::Duration::from_secs(5))
                .max(std::time::Duration::from_millis(100));
            let started = std::time::Instant::now();
            loop {
                let outcome = session
                    .idle()
                    .timeout(slice)
                    .keepalive(false)
                    .wait_while(|response| {
                        !matches!(
                            response,
                            imap::types::UnsolicitedResponse::Exists(_)
                                | imap::types::UnsolicitedResponse::Recent(_)
                        )
                    })
                    .map_err(|e| imap_error(source, "waiting for new mail (IDLE)", e))?;
                if outcome == imap::extensions::idle::WaitOutcome::MailboxChanged
                    || stop()
                    || started.elapsed() >= idle_renew
                {
                    break;
                }
            }
        } else {
            sleep_unless(stop, poll);
        }
    }
    let _ = session.logout();
    Ok(())
}

/// [`sync_once`], reconnecting after network and protocol failures with
/// backoff and resuming from the checkpoint. A refused login or an
/// untrusted certificate stops at once: retrying cannot fix it.
#[allow(clippy::too_many_arguments)] // two callbacks: progress, and each retry
pub fn sync_with_retry(
    store: &mut Store,
    source: &ImapSource,
    secret: &str,
    options: &ReadOptions,
    check: Check,
    retry: Retry,
    progress: &mut dyn FnMut(&Progress),
    on_retry: &mut dyn FnMut(&SourceError, std::time::Duration),
) -> std::result::Result<SyncReport, SourceError> {
    let mut attempt = 0;
    loop {
        match sync_once(store, source, secret, options, check, progress) {
            Ok(report) => return Ok(report),
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

/// The checkpoint of a folder as stored.
#[derive(Debug, Clone, Copy)]
struct Stored {
    uid_validity: u32,
    last_uid: u32,
    /// Whether a completeness check has finished since the last reset.
    checked: bool,
}

fn sync_folder(
    store: &mut Store,
    session: &mut Session,
    source: &ImapSource,
    folder: &str,
    options: &ReadOptions,
    check: Check,
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<FolderReport, SourceError> {
    // EXAMINE is read-only: nothing on the server changes, \Seen included.
    let mailbox =
        session.examine(folder).map_err(|e| imap_error(source, &format!("opening {folder}"), e))?;
    let uid_validity = mailbox.uid_validity.ok_or_else(|| {
        SourceError::Protocol(format!("{}: {folder} has no UIDVALIDITY", source.name))
    })?;
    let stored = load_checkpoint(store, &source.name, folder)?;
    let mut report = FolderReport { folder: folder.to_string(), ..FolderReport::default() };
    let last_uid = match stored {
        Some(s) if s.uid_validity == uid_validity => s.last_uid,
        Some(_) => {
            report.uid_validity_reset = true;
            0
        }
        None => 0,
    };
    // Initial until a completeness check has finished: an initial sync that
    // was interrupted is checked when it resumes.
    let initial = match stored {
        Some(s) => s.uid_validity != uid_validity || !s.checked,
        None => true,
    };
    reset_checkpoint_if_needed(store, &source.name, folder, uid_validity, stored)?;
    store.conn().execute(
        "UPDATE imap_folders SET uid_next = ?1, highest_modseq = ?2 WHERE source = ?3 AND folder = ?4",
        params![mailbox.uid_next, mailbox.highest_mod_seq.map(|m| m as i64), source.name, folder],
    )?;

    // `n:*` also answers the highest UID when it is below n; filter.
    let mut new_uids: Vec<u32> = if mailbox.exists == 0 {
        Vec::new()
    } else {
        session
            .uid_search(format!("UID {}:*", last_uid.saturating_add(1)))
            .map_err(|e| imap_error(source, &format!("listing new mail in {folder}"), e))?
            .into_iter()
            .filter(|uid| *uid > last_uid)
            .collect()
    };
    new_uids.sort_unstable();
    let counts = fetch_uids(
        store,
        session,
        source,
        folder,
        uid_validity,
        &new_uids,
        true,
        options,
        progress,
    )?;
    report.fetched = new_uids.len();
    (report.new, report.duplicates, report.unreadable) = counts;

    if check == Check::Always || initial {
        let ledger = check_folder(store, session, source, folder, uid_validity, options, progress)?;
        report.new += ledger.1.0;
        report.duplicates += ledger.1.1;
        report.unreadable += ledger.1.2;
        report.ledger = Some(ledger.0);
    }
    Ok(report)
}

/// Compares the server's UIDs with the stored ones, fetches what is
/// missing, and records the ledger.
fn check_folder(
    store: &mut Store,
    session: &mut Session,
    source: &ImapSource,
    folder: &str,
    uid_validity: u32,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<(Ledger, (usize, usize, usize)), SourceError> {
    let on_server: BTreeSet<u32> = session
        .uid_search("ALL")
        .map_err(|e| imap_error(source, &format!("listing {folder}"), e))?
        .into_iter()
        .collect();
    let stored = stored_uids(store, &source.name, folder, uid_validity)?;
    let missing: Vec<u32> = on_server.difference(&stored).copied().collect();
    let counts = fetch_uids(
        store,
        session,
        source,
        folder,
        uid_validity,
        &missing,
        false,
        options,
        progress,
    )?;
    let still_missing = {
        let stored = stored_uids(store, &source.name, folder, uid_validity)?;
        on_server.difference(&stored).count()
    };
    let ledger = Ledger {
        server_count: on_server.len(),
        missing: missing.len(),
        healed: missing.len() - still_missing.min(missing.len()),
    };
    store.conn().execute(
        "UPDATE imap_folders SET server_count = ?1, missing = ?2, checked_at = ?3
         WHERE source = ?4 AND folder = ?5",
        params![
            ledger.server_count as i64,
            still_missing as i64,
            ingest::unix_now(),
            source.name,
            folder
        ],
    )?;
    Ok((ledger, counts))
}

/// Fetches `uids` in batches and stores them; with `advance`, each batch
/// moves the folder's checkpoint to its highest UID in the same transaction.
/// Returns (new, duplicates, unreadable).
#[allow(clippy::too_many_arguments)]
fn fetch_uids(
    store: &mut Store,
    session: &mut Session,
    source: &ImapSource,
    folder: &str,
    uid_validity: u32,
    uids: &[u32],
    advance: bool,
    options: &ReadOptions,
    progress: &mut dyn FnMut(&Progress),
) -> std::result::Result<(usize, usize, usize), SourceError> {
    let mut counts = (0, 0, 0);
    // Progress counts messages committed, not merely downloaded.
    let mut tally = |written: Option<ingest::Written>, state: &mut Progress| {
        if let Some((_, outcomes)) = written {
            state.done += outcomes.len();
            for outcome in outcomes {
                match outcome {
                    Outcome::New { .. } => counts.0 += 1,
                    Outcome::Duplicate { .. } => counts.1 += 1,
                    Outcome::Unreadable { .. } => counts.2 += 1,
                }
            }
        }
    };
    let mut pipeline = Pipeline::new(store, options);
    if uids.is_empty() {
        return Ok(counts);
    }
    let mut state =
        Progress { folder: folder.to_string(), total: uids.len(), ..Progress::default() };
    progress(&state);
    for chunk in uids.chunks(FETCH_BATCH) {
        let fetches = match session.uid_fetch(uid_set(chunk), "(UID RFC822.SIZE BODY.PEEK[])") {
            Ok(fetches) => fetches,
            Err(error) => {
                // Keep what was already downloaded, then report.
                for written in pipeline.finish(store)? {
                    tally(Some(written), &mut state);
                }
                progress(&state);
                return Err(imap_error(source, &format!("fetching from {folder}"), error));
            }
        };
        let mut batch = Vec::with_capacity(chunk.len());
        for fetch in fetches.iter() {
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue; // expunged meanwhile, or an answer without the body
            };
            state.bytes += body.len() as u64;
            batch.push(RawMessage {
                bytes: body.to_vec(),
                source: source.source_id(),
                locator: locator(folder, uid_validity, uid),
            });
        }
        let high = if advance { chunk.iter().max().copied() } else { None };
        let checkpoint = record_batch(source.name.clone(), folder.to_string(), uid_validity, high);
        let written = pipeline.push_with(store, batch, ingest::unix_now(), Some(checkpoint))?;
        if written.is_some() {
            tally(written, &mut state);
            progress(&state);
        }
    }
    for written in pipeline.finish(store)? {
        tally(Some(written), &mut state);
    }
    // Messages expunged meanwhile were never fetched: the pass is complete.
    state.done = state.total;
    progress(&state);
    Ok(counts)
}

/// The transaction-side work of a batch: map each UID to its message and,
/// when `advance_to` is set, move the checkpoint there.
fn record_batch(
    name: String,
    folder: String,
    uid_validity: u32,
    advance_to: Option<u32>,
) -> Checkpoint {
    Box::new(move |tx, batch, outcomes| {
        let mut put = tx.prepare_cached(
            "INSERT INTO imap_uids (source, folder, uid_validity, uid, message_id)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET message_id = excluded.message_id",
        )?;
        for (message, outcome) in batch.iter().zip(outcomes) {
            let id = match outcome {
                Outcome::New { id, .. }
                | Outcome::Duplicate { id }
                | Outcome::Unreadable { id, .. } => *id,
            };
            if let Some(uid) = uid_of(&message.locator) {
                put.execute(params![name, folder, uid_validity, uid, id])?;
            }
        }
        if let Some(high) = advance_to {
            tx.execute(
                "UPDATE imap_folders SET last_uid = max(last_uid, ?1) WHERE source = ?2 AND folder = ?3",
                params![high, name, folder],
            )?;
        }
        Ok(())
    })
}

fn load_checkpoint(store: &Store, name: &str, folder: &str) -> Result<Option<Stored>> {
    Ok(store
        .conn()
        .query_row(
            "SELECT uid_validity, last_uid, checked_at IS NOT NULL FROM imap_folders
             WHERE source = ?1 AND folder = ?2",
            params![name, folder],
            |r| Ok(Stored { uid_validity: r.get(0)?, last_uid: r.get(1)?, checked: r.get(2)? }),
        )
        .optional()?)
}

/// Creates the folder's row, or starts it over when UIDVALIDITY changed
/// (the old UIDs mean nothing now; the messages themselves stay).
fn reset_checkpoint_if_needed(
    store: &Store,
    name: &str,
    folder: &str,
    uid_validity: u32,
    stored: Option<Stored>,
) -> Result<()> {
    match stored {
        Some(s) if s.uid_validity == uid_validity => Ok(()),
        _ => {
            store.conn().execute(
                "DELETE FROM imap_uids WHERE source = ?1 AND folder = ?2",
                params![name, folder],
            )?;
            store.conn().execute(
                "INSERT INTO imap_folders (source, folder, uid_validity, last_uid) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT (source, folder) DO UPDATE SET uid_validity = excluded.uid_validity,
                     last_uid = 0, server_count = NULL, missing = NULL, checked_at = NULL",
                params![name, folder, uid_validity],
            )?;
            Ok(())
        }
    }
}

fn stored_uids(
    store: &Store,
    name: &str,
    folder: &str,
    uid_validity: u32,
) -> Result<BTreeSet<u32>> {
    let mut stmt = store.conn().prepare_cached(
        "SELECT uid FROM imap_uids WHERE source = ?1 AND folder = ?2 AND uid_validity = ?3",
    )?;
    let rows = stmt.query_map(params![name, folder, uid_validity], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `folder;uidvalidity;uid`: where a copy lives on the server.
fn locator(folder: &str, uid_validity: u32, uid: u32) -> String {
    format!("{folder};{uid_validity};{uid}")
}

fn uid_of(locator: &str) -> Option<u32> {
    locator.rsplit(';').next()?.parse().ok()
}

/// Sorted UIDs as a compact IMAP set: `1:5,7,9:12`.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    let mut parts = Vec::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
    }
    parts.join(",")
}

/// A folder's ledger as last recorded, for `doctor`, `status` and the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderLedger {
    pub folder: String,
    pub server_count: Option<i64>,
    /// On the server and not stored, after the last check's fetch.
    pub missing: Option<i64>,
    pub checked_at: Option<i64>,
}

pub fn ledgers(store: &Store, name: &str) -> Result<Vec<FolderLedger>> {
    let mut stmt = store.conn().prepare(
        "SELECT folder, server_count, missing, checked_at FROM imap_folders
         WHERE source = ?1 ORDER BY folder",
    )?;
    let rows = stmt.query_map([name], |r| {
        Ok(FolderLedger {
            folder: r.get(0)?,
            server_count: r.get(1)?,
            missing: r.get(2)?,
            checked_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact_ranges() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 9, 7, 8]), "1:3,5,7:9");
        assert_eq!(uid_set(&[4]), "4");
    }

    #[test]
    fn locators_carry_the_uid_even_when_folders_hold_semicolons() {
        let at = locator("Deals;2026", 77, 1234);
        assert_eq!(uid_of(&at), Some(1234));
    }
}
