//! `dealthread sync --once` and `dealthread doctor`: the same engine code
//! the app's background task runs.

use std::io::IsTerminal;
use std::path::Path;

use dealthread_core::sources::imap::{self, Check, ImapSource, Retry};
use dealthread_core::sources::{self, SourceError};
use dealthread_core::{Store, ingest};
use dealthread_mail::ReadOptions;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Done, open_store};

fn imap_sources(store: &Store) -> anyhow::Result<Vec<ImapSource>> {
    let mut found = Vec::new();
    for (name, kind, _) in sources::list(store.conn())? {
        if kind == imap::KIND
            && let Some(source) = ImapSource::load(store, &name)?
        {
            found.push(source);
        }
    }
    Ok(found)
}

pub fn run(db: &Path, once: bool, check: bool, progress_lines: bool) -> anyhow::Result<Done> {
    let mut store = open_store(db)?;
    let configured = imap_sources(&store)?;
    if configured.is_empty() {
        anyhow::bail!("no sources configured; add one with `dealthread source add imap ...`");
    }
    if !once {
        return watch_all(db, configured);
    }
    let mut failed = false;
    for source in &configured {
        match sync_source(&mut store, source, check, progress_lines) {
            Ok(()) => {
                sources::record_outcome(store.conn(), &source.name, None, ingest::unix_now())?
            }
            Err(error) => {
                failed = true;
                eprintln!("dealthread: {error}");
                let text = error.to_string();
                sources::record_outcome(
                    store.conn(),
                    &source.name,
                    Some(&text),
                    ingest::unix_now(),
                )?;
            }
        }
    }
    Ok(if failed { Done::SomeFailed } else { Done::Ok })
}

/// Keeps every source in sync (IDLE, or polling) until interrupted; each
/// source on its own thread with its own connection to the store. Stopping
/// with Ctrl-C at any moment is safe: every batch commits with its
/// checkpoint.
fn watch_all(db: &Path, configured: Vec<ImapSource>) -> anyhow::Result<Done> {
    let handles: Vec<_> = configured
        .into_iter()
        .map(|source| {
            let db = db.to_path_buf();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut store = open_store(&db)?;
                let secret = sources::secret(&source.name, source.secret_env.as_deref())?;
                eprintln!("dealthread: watching {} (Ctrl-C stops)", source.name);
                imap::watch(
                    &mut store,
                    &source,
                    &secret,
                    &ReadOptions::default(),
                    imap::IDLE_RENEW,
                    std::time::Duration::from_secs(60),
                    &|| false,
                    &mut |report| {
                        for folder in report.folders.iter().filter(|f| f.fetched > 0) {
                            println!(
                                "{} {}: {} new, {} already stored",
                                source.name, folder.folder, folder.new, folder.duplicates
                            );
                        }
                    },
                    &mut |error, wait| {
                        eprintln!("dealthread: {error}; retrying in {:.1} s", wait.as_secs_f64())
                    },
                )
                .map_err(|e| anyhow::anyhow!("{e}"))
            })
        })
        .collect();
    let mut failed = false;
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                failed = true;
                eprintln!("dealthread: {error:#}");
            }
            Err(_) => failed = true,
        }
    }
    Ok(if failed { Done::SomeFailed } else { Done::Ok })
}

fn sync_source(
    store: &mut Store,
    source: &ImapSource,
    check: bool,
    progress_lines: bool,
) -> Result<(), SourceError> {
    let secret = sources::secret(&source.name, source.secret_env.as_deref())?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} messages, {msg} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let check = if check { Check::Always } else { Check::AfterInitial };
    let report = imap::sync_with_retry(
        store,
        source,
        &secret,
        &ReadOptions::default(),
        check,
        Retry::default(),
        &mut |p| {
            bar.set_prefix(format!("{} {}", source.name, p.folder));
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            bar.set_message(format!("{:.1} MB", p.bytes as f64 / 1e6));
            if progress_lines && p.done > 0 {
                let _ = super::print_line(&format!("committed {} {}", p.folder, p.done));
            }
        },
        &mut |error, wait| {
            bar.suspend(|| {
                eprintln!("dealthread: {error}; retrying in {:.1} s", wait.as_secs_f64())
            });
        },
    )?;
    bar.finish_and_clear();
    for folder in &report.folders {
        let mut line = format!(
            "{} {}: {} fetched, {} new, {} already stored",
            source.name, folder.folder, folder.fetched, folder.new, folder.duplicates
        );
        if folder.unreadable > 0 {
            line.push_str(&format!(", {} unreadable (kept)", folder.unreadable));
        }
        if folder.uid_validity_reset {
            line.push_str("; the server renumbered the folder (UIDVALIDITY changed), re-read it");
        }
        if let Some(ledger) = folder.ledger {
            line.push_str(&format!(
                "; checked: {} on the server, {} were missing locally, {} fetched",
                ledger.server_count, ledger.missing, ledger.healed
            ));
        }
        println!("{line}");
    }
    Ok(())
}

/// Connectivity, TLS and capabilities per source, and the ledger.
pub fn doctor(db: &Path) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let configured = imap_sources(&store)?;
    if configured.is_empty() {
        println!("no sources configured");
    }
    let mut failed = false;
    for source in &configured {
        println!("{} (IMAP {}@{}:{})", source.name, source.user, source.host, source.port);
        let outcome = sources::secret(&source.name, source.secret_env.as_deref())
            .and_then(|secret| imap::connect::connect(source, &secret));
        match outcome {
            Ok(mut connected) => {
                let tls = &connected.tls;
                match (&tls.protocol, &tls.cipher_suite) {
                    (Some(protocol), Some(suite)) => println!("  TLS: {protocol}, {suite}"),
                    _ => println!("  TLS: none (a server on this machine)"),
                }
                if let Some(fingerprint) = &tls.fingerprint {
                    let pinned = if source.pin_sha256.is_some() { " (pinned)" } else { "" };
                    println!("  certificate SHA-256: {fingerprint}{pinned}");
                }
                println!("  login: ok; capabilities: {}", connected.capabilities.join(" "));
                let _ = connected.session.logout();
            }
            Err(error) => {
                failed = true;
                println!("  problem: {error}");
            }
        }
        for ledger in imap::ledgers(&store, &source.name)? {
            let folder = &ledger.folder;
            match (ledger.server_count, ledger.missing, ledger.checked_at) {
                (Some(server), Some(0), Some(_)) => {
                    println!("  {folder}: complete at the last check ({server} on the server)")
                }
                (Some(server), Some(missing), Some(_)) => {
                    failed = true;
                    println!(
                        "  {folder}: {missing} messages on the server are missing locally (of {server}); \
                         `dealthread sync --once --check` fetches them"
                    )
                }
                _ => println!("  {folder}: not checked yet"),
            }
        }
    }
    Ok(if failed { Done::SomeFailed } else { Done::Ok })
}
