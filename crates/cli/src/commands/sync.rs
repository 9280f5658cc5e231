//! `dealthread sync --once` and `dealthread doctor`: the same engine code
//! the app's background task runs.

use std::io::IsTerminal;
use std::path::Path;

use dealthread_core::sources::accounts::Configured;
use dealthread_core::sources::imap::{self, Check, ImapSource, Retry};
use dealthread_core::sources::provider::{self, ProviderSource};
use dealthread_core::sources::{self, SourceError};
use dealthread_core::{Store, ingest};
use dealthread_mail::ReadOptions;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Done, open_store};

pub fn run(db: &Path, once: bool, check: bool, progress_lines: bool) -> anyhow::Result<Done> {
    let mut store = open_store(db)?;
    let configured = Configured::all(&store)?;
    let has_crm = !dealthread_core::crm::accounts(store.conn())?.is_empty();
    if configured.is_empty() && !has_crm {
        anyhow::bail!(
            "no sources configured; add one with `dealthread source add imap ...` or \
             `dealthread source add provider ...`"
        );
    }
    if !once {
        return watch_all(db, configured);
    }
    // The CRM's entities first, so the mail that follows matches against
    // today's deals and contacts.
    let mut failed = has_crm && !super::crm::pull_all(&mut store, None)?;
    for source in &configured {
        let outcome = match source {
            Configured::Imap(source) => sync_source(&mut store, source, check, progress_lines),
            Configured::Provider(source) => sync_provider(&mut store, source, progress_lines),
        };
        match outcome {
            Ok(()) => {
                sources::record_outcome(store.conn(), source.name(), None, ingest::unix_now())?
            }
            Err(error) => {
                failed = true;
                eprintln!("dealthread: {error}");
                let text = error.to_string();
                sources::record_outcome(
                    store.conn(),
                    source.name(),
                    Some(&text),
                    ingest::unix_now(),
                )?;
            }
        }
    }
    // Then the outbox: what arrived is pushed in the same pass.
    if has_crm && !super::outbox::push_all(&store, None)? {
        failed = true;
    }
    Ok(if failed { Done::SomeFailed } else { Done::Ok })
}

/// Keeps every source in sync (IDLE, or polling) until interrupted; each
/// source on its own thread with its own connection to the store. Stopping
/// with Ctrl-C at any moment is safe: every batch commits with its
/// checkpoint.
fn watch_all(db: &Path, configured: Vec<Configured>) -> anyhow::Result<Done> {
    let handles: Vec<_> = configured
        .into_iter()
        .map(|source| {
            let db = db.to_path_buf();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut store = open_store(&db)?;
                let secret = source.secret()?;
                eprintln!("dealthread: watching {} (Ctrl-C stops)", source.name());
                let source = match source {
                    Configured::Imap(source) => source,
                    Configured::Provider(source) => {
                        return watch_provider(&mut store, &source, &secret);
                    }
                };
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
                    &mut |_| {},
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

fn watch_provider(store: &mut Store, source: &ProviderSource, key: &str) -> anyhow::Result<()> {
    provider::watch(
        store,
        source,
        key,
        &ReadOptions::default(),
        &|| false,
        &mut |report| {
            if report.fetched > 0 {
                println!(
                    "{}: {} new, {} already stored",
                    source.name, report.new, report.duplicates
                );
            }
            for problem in &report.problems {
                eprintln!("dealthread: {}: {problem}", source.name);
            }
        },
        &mut |_| {},
        &mut |error, wait| {
            eprintln!("dealthread: {error}; retrying in {:.1} s", wait.as_secs_f64())
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn progress_bar(template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn sync_provider(
    store: &mut Store,
    source: &ProviderSource,
    progress_lines: bool,
) -> Result<(), SourceError> {
    let key = sources::secret(&source.name, source.secret_env.as_deref())?;
    // The provider does not say how much is waiting, so the bar counts up.
    let bar = progress_bar("{prefix} {spinner} {pos} messages in {msg} {elapsed}");
    bar.set_prefix(source.name.clone());
    let report = provider::sync_with_retry(
        store,
        source,
        &key,
        &ReadOptions::default(),
        Retry::default(),
        &mut |p| {
            bar.set_position(p.messages as u64);
            bar.set_message(format!("{} pages, {:.1} MB", p.pages, p.bytes as f64 / 1e6));
            if progress_lines && p.messages > 0 {
                let _ = super::print_line(&format!("committed {} {}", source.name, p.messages));
            }
        },
        &mut |error, wait| {
            bar.suspend(|| {
                eprintln!("dealthread: {error}; retrying in {:.1} s", wait.as_secs_f64())
            });
        },
    )?;
    bar.finish_and_clear();
    for problem in &report.problems {
        eprintln!("dealthread: {}: {problem}", source.name);
    }
    let mut line = format!(
        "{}: {} fetched in {} pages, {} new, {} already stored",
        source.name, report.fetched, report.pages, report.new, report.duplicates
    );
    if report.rebuilt > 0 {
        line.push_str(&format!(", {} rebuilt from the provider's JSON", report.rebuilt));
    }
    if report.unreadable > 0 {
        line.push_str(&format!(", {} unreadable (kept)", report.unreadable));
    }
    if report.skipped > 0 {
        line.push_str(&format!(", {} entries skipped (see `dealthread doctor`)", report.skipped));
    }
    println!("{line}");
    Ok(())
}

fn sync_source(
    store: &mut Store,
    source: &ImapSource,
    check: bool,
    progress_lines: bool,
) -> Result<(), SourceError> {
    let secret = sources::secret(&source.name, source.secret_env.as_deref())?;
    let bar = progress_bar("{prefix} [{bar:30}] {pos}/{len} messages, {msg} {elapsed}");
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
pub fn doctor(db: &Path, dns: Option<std::net::SocketAddr>) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let configured = Configured::all(&store)?;
    if configured.is_empty() {
        println!("no sources configured");
    }
    let mut failed = false;
    for source in &configured {
        let source = match source {
            Configured::Imap(source) => source,
            Configured::Provider(source) => {
                failed |= !doctor_provider(&store, source)?;
                continue;
            }
        };
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
    failed |= !doctor_domains(&store, dns)?;
    Ok(if failed { Done::SomeFailed } else { Done::Ok })
}

/// The provider's part of `dealthread doctor`; `false` when something is
/// wrong.
fn doctor_provider(store: &Store, source: &ProviderSource) -> anyhow::Result<bool> {
    println!("{} (provider {})", source.name, source.base_url);
    let status = provider::status(store, &source.name)?;
    let outcome = sources::secret(&source.name, source.secret_env.as_deref())
        .and_then(|key| provider::Client::new(source, &key))
        .and_then(|client| client.check(status.cursor.as_deref()));
    let mut healthy = true;
    match outcome {
        Ok(reachable) => {
            match &reachable.fingerprint {
                Some(fingerprint) => {
                    let pinned = if source.pin_sha256.is_some() { " (pinned)" } else { "" };
                    println!("  HTTPS: certificate SHA-256 {fingerprint}{pinned}");
                }
                None => println!("  HTTP: plain (a server on this machine)"),
            }
            let waiting = match reachable.waiting {
                0 => "nothing waiting".to_string(),
                n if n >= source.page_size as usize => format!("{n}+ messages waiting"),
                n => format!("{n} messages waiting"),
            };
            println!("  API key: accepted; {waiting}");
        }
        Err(error) => {
            healthy = false;
            println!("  problem: {error}");
        }
    }
    match (&status.cursor, status.updated_at) {
        (Some(cursor), Some(at)) => println!(
            "  cursor {cursor} after {} pages, last moved {}",
            status.pages,
            super::format_time(at)
        ),
        _ => println!("  not synced yet"),
    }
    if !status.skipped.is_empty() {
        healthy = false;
        println!("  {} entries could not be used and were skipped:", status.skipped.len());
        for (id, why) in &status.skipped {
            println!("    {id}: {why}");
        }
    }
    Ok(healthy)
}

/// The MX records of each inbound domain; `false` when one has none or
/// cannot be looked up.
fn doctor_domains(store: &Store, server: Option<std::net::SocketAddr>) -> anyhow::Result<bool> {
    let domains = dealthread_core::store::settings::inbound_domains(store.conn())?;
    if domains.is_empty() {
        println!(
            "inbound domains: none configured (`dealthread inbound-domain add in.example.com`)"
        );
        return Ok(true);
    }
    let mut healthy = true;
    for domain in &domains {
        match dealthread_core::dns::mx_records(domain, server) {
            Ok(records) => {
                let list: Vec<String> =
                    records.iter().map(|mx| format!("{} {}", mx.preference, mx.exchange)).collect();
                println!("inbound domain {domain}: MX {}", list.join(", "));
            }
            Err(error) => {
                healthy = false;
                println!("inbound domain {domain}: problem: {error}");
            }
        }
    }
    Ok(healthy)
}
