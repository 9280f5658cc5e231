//! The app's background sync: one thread per configured source, running
//! the same engine loops as `dealthread sync` (IMAP IDLE or polling, the
//! provider's polling), each on its own connection to the store. What each
//! is doing goes to the window as `source-state` events; how each pass
//! ended is recorded on the source, so the settings show it after a
//! restart too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dealthread_core::sources::accounts::Configured;
use dealthread_core::sources::{self, SourceError, imap, provider};
use dealthread_core::{Store, ingest};
use dealthread_mail::ReadOptions;
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

/// The event the window listens to.
pub const EVENT: &str = "source-state";

/// What a source's background task is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Activity {
    /// Fetching: `done` messages committed of `total` (when known).
    Syncing,
    /// Up to date, waiting for new mail.
    Idle,
    /// A failure that will be retried after `retry_in_secs`.
    Retrying,
    /// Stopped on an error retrying cannot fix (a refused password or key,
    /// an untrusted certificate); `detail` says what to change.
    Stopped,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SourceState {
    pub name: String,
    pub activity: Activity,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number | null")]
    pub total: Option<u64>,
    #[ts(type = "number")]
    pub bytes: u64,
    /// The last pass's outcome in words, or the error.
    pub detail: Option<String>,
    #[ts(type = "number | null")]
    pub retry_in_secs: Option<u64>,
}

impl SourceState {
    fn new(name: &str, activity: Activity) -> SourceState {
        SourceState {
            name: name.to_string(),
            activity,
            done: 0,
            total: None,
            bytes: 0,
            detail: None,
            retry_in_secs: None,
        }
    }
}

struct Worker {
    stop: Arc<AtomicBool>,
}

/// The running tasks, and the last state of each for a window that asks.
pub struct Background {
    db: PathBuf,
    app: AppHandle,
    workers: Mutex<HashMap<String, Worker>>,
    states: Arc<Mutex<HashMap<String, SourceState>>>,
}

impl Background {
    pub fn new(app: AppHandle, db: PathBuf) -> Background {
        Background { db, app, workers: Mutex::default(), states: Arc::default() }
    }

    /// The last state of every source's task.
    pub fn states(&self) -> Vec<SourceState> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<SourceState> = states.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Starts (or restarts) the task of `source`.
    pub fn start(&self, source: Configured) {
        let name = source.name().to_string();
        self.stop(&name);
        let stop = Arc::new(AtomicBool::new(false));
        let reporter =
            Reporter { app: self.app.clone(), states: self.states.clone(), stop: stop.clone() };
        let db = self.db.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sync-{name}"))
            .spawn(move || run(&db, source, &reporter));
        match spawned {
            Ok(_) => {
                let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
                workers.insert(name, Worker { stop });
            }
            Err(error) => tracing::error!(source = %name, %error, "could not start the sync task"),
        }
    }

    /// Stops the task of `name`, if any; it ends at its next check.
    pub fn stop(&self, name: &str) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(worker) = workers.remove(name) {
            worker.stop.store(true, Ordering::SeqCst);
        }
        self.states.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

/// Pushes the outbox to every CRM connection, every `every`, for as long as
/// the app runs, and pulls the CRM's entities every [`PULL_EVERY`]. Closing or killing the app mid-request loses nothing: the
/// activity is sent again, with the same idempotency key, at the next start.
pub fn start_pusher(db: PathBuf, every: std::time::Duration) {
    let spawned = std::thread::Builder::new().name("crm-push".into()).spawn(move || {
        let mut store = match Store::open(&db) {
            Ok(store) => store,
            Err(error) => {
                tracing::error!(%error, "the CRM push could not open the store");
                return;
            }
        };
        let mut last_pull: Option<std::time::Instant> = None;
        loop {
            if last_pull.is_none_or(|at| at.elapsed() >= PULL_EVERY) {
                pull_once(&mut store);
                last_pull = Some(std::time::Instant::now());
            }
            if let Err(error) = push_once(&store) {
                tracing::warn!(%error, "CRM push failed");
            }
            std::thread::sleep(every);
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the CRM push");
    }
}

/// Applies raw MIME retention (Settings: how long raw mail is kept) a
/// minute after start, once the window and the first syncs are under way,
/// then every few hours: raw messages past their age are removed, their
/// attachments kept apart first.
pub fn start_retention(db: PathBuf) {
    let spawned = std::thread::Builder::new().name("retention".into()).spawn(move || {
        std::thread::sleep(RETENTION_FIRST);
        loop {
            let purged = Store::open(&db).and_then(|mut store| {
                dealthread_core::retention::purge_raw(&mut store, None, ingest::unix_now())
            });
            match purged {
                Ok(report) => {
                    if report.messages > 0 {
                        tracing::info!(
                            messages = report.messages,
                            bytes_freed = report.bytes_freed,
                            "removed raw MIME past its retention"
                        );
                    }
                    for line in &report.kept {
                        tracing::warn!("{line}");
                    }
                }
                Err(error) => tracing::warn!(%error, "raw MIME retention failed"),
            }
            std::thread::sleep(RETENTION_EVERY);
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start raw MIME retention");
    }
}

const RETENTION_FIRST: std::time::Duration = std::time::Duration::from_secs(60);
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// How often the CRM's deals, contacts and companies are pulled again.
const PULL_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Refreshes the entity cache from every CRM that offers it; a failure is
/// logged and tried again at the next pull.
fn pull_once(store: &mut Store) {
    use dealthread_core::crm;
    let accounts = match crm::accounts(store.conn()) {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::warn!(%error, "could not list the CRM connections");
            return;
        }
    };
    for account in accounts.iter().filter(|a| a.paused_reason.is_none()) {
        match crm::pull_entities(store, account) {
            Ok(Some(report)) => tracing::info!(crm = %account.name, deals = report.imported.deals,
                contacts = report.imported.contacts, companies = report.imported.companies,
                offered = report.imported.offered, "pulled CRM entities"),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(crm = %account.name, %error, "pulling CRM entities failed")
            }
        }
    }
}

fn push_once(store: &Store) -> Result<(), SourceError> {
    use dealthread_core::crm::{self, outbox};
    for account in crm::accounts(store.conn())? {
        if account.paused_reason.is_some() {
            continue;
        }
        let adapter = crm::adapter_for(&account)?;
        outbox::enqueue_new(store.conn(), &account.name, outbox::now_ms())?;
        let report = outbox::push(
            store.conn(),
            &account.name,
            adapter.as_ref(),
            outbox::Policy::default(),
            &|| false,
        )?;
        if report.sent + report.retried + report.dead > 0 {
            tracing::info!(crm = %account.name, sent = report.sent, retried = report.retried,
                dead = report.dead, "pushed to the CRM");
        }
    }
    Ok(())
}

/// Tells the window, and remembers, what a task is doing.
struct Reporter {
    app: AppHandle,
    states: Arc<Mutex<HashMap<String, SourceState>>>,
    stop: Arc<AtomicBool>,
}

impl Reporter {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn report(&self, state: SourceState) {
        if self.stopped() {
            return;
        }
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state.name.clone(), state.clone());
        if let Err(error) = self.app.emit(EVENT, state) {
            tracing::warn!(%error, "could not send a source-state event");
        }
    }
}

fn run(db: &std::path::Path, source: Configured, reporter: &Reporter) {
    let name = source.name().to_string();
    let outcome = Store::open(db)
        .map_err(SourceError::from)
        .and_then(|mut store| watch(&mut store, &source, reporter));
    if let Err(error) = outcome {
        tracing::warn!(source = %name, %error, "sync stopped");
        if let Ok(store) = Store::open(db) {
            let _ = sources::record_outcome(
                store.conn(),
                &name,
                Some(&error.to_string()),
                ingest::unix_now(),
            );
        }
        let mut state = SourceState::new(&name, Activity::Stopped);
        state.detail = Some(error.to_string());
        reporter.report(state);
    }
}

fn watch(store: &mut Store, source: &Configured, reporter: &Reporter) -> Result<(), SourceError> {
    let name = source.name().to_string();
    let secret = source.secret()?;
    reporter.report(SourceState::new(&name, Activity::Syncing));
    let options = ReadOptions::default();
    let stop = || reporter.stopped();
    // How each pass ended goes through a second connection: the engine
    // holds the first for the whole loop.
    let side = Store::open(store.path())?;
    let record = |error: Option<String>| {
        let _ = sources::record_outcome(side.conn(), &name, error.as_deref(), ingest::unix_now());
    };
    let on_retry = &mut |error: &SourceError, wait: std::time::Duration| {
        record(Some(error.to_string()));
        let mut state = SourceState::new(&name, Activity::Retrying);
        state.detail = Some(error.to_string());
        state.retry_in_secs = Some(wait.as_secs().max(1));
        reporter.report(state);
    };
    match source {
        Configured::Imap(imap_source) => imap::watch(
            store,
            imap_source,
            &secret,
            &options,
            imap::IDLE_RENEW,
            std::time::Duration::from_secs(60),
            &stop,
            &mut |report| {
                record(None);
                let new: usize = report.folders.iter().map(|f| f.new).sum();
                let missing: i64 =
                    report.folders.iter().filter_map(|f| f.ledger.map(|l| l.missing as i64)).sum();
                let mut state = SourceState::new(&name, Activity::Idle);
                state.detail = Some(if missing > 0 {
                    format!("{new} new; {missing} were missing locally and have been fetched")
                } else {
                    format!("{new} new")
                });
                reporter.report(state);
            },
            &mut |p| {
                let mut state = SourceState::new(&name, Activity::Syncing);
                state.done = p.done as u64;
                state.total = Some(p.total as u64);
                state.bytes = p.bytes;
                state.detail = Some(p.folder.clone());
                reporter.report(state);
            },
            on_retry,
        ),
        Configured::Provider(provider_source) => provider::watch(
            store,
            provider_source,
            &secret,
            &options,
            &stop,
            &mut |report| {
                record(None);
                let mut state = SourceState::new(&name, Activity::Idle);
                let mut detail =
                    format!("{} new, {} already stored", report.new, report.duplicates);
                if report.rebuilt > 0 {
                    detail.push_str(&format!(
                        ", {} rebuilt from the provider's JSON",
                        report.rebuilt
                    ));
                }
                if report.skipped > 0 {
                    detail.push_str(&format!(", {} entries skipped", report.skipped));
                }
                state.detail = Some(detail);
                reporter.report(state);
            },
            &mut |p| {
                let mut state = SourceState::new(&name, Activity::Syncing);
                state.done = p.messages as u64;
                state.bytes = p.bytes;
                reporter.report(state);
            },
            on_retry,
        ),
    }
}
