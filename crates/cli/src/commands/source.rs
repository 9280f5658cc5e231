//! `dealthread source add imap|provider`, `source list`, `source remove`:
//! configure where mail comes from. A source's secret goes to the OS keyring
//! (or is read from an environment variable at each run), never to the
//! database.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, bail};
use dealthread_core::sources::accounts;
use dealthread_core::sources::imap::{Auth, ImapSource, Security, connect};
use dealthread_core::sources::provider::ProviderSource;
use dealthread_core::{ingest, secrets, sources};

use super::{Done, open_store};

pub struct ImapOptions {
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub tls: String,
    pub folders: Vec<String>,
    pub pin: Option<String>,
    pub xoauth2: bool,
    pub secret_env: Option<String>,
}

pub fn add_imap(db: &Path, o: ImapOptions) -> anyhow::Result<Done> {
    let security = match o.tls.as_str() {
        "implicit" => Security::Implicit,
        "starttls" => Security::StartTls,
        "none" => Security::None,
        other => bail!("--tls {other}: expected implicit, starttls or none"),
    };
    if let Some(pin) = &o.pin
        && connect::parse_pin(pin).is_none()
    {
        bail!("--pin {pin}: expected a SHA-256 fingerprint (64 hex digits, colons allowed)");
    }
    check_name(&o.name)?;
    let port = o.port.unwrap_or(if security == Security::Implicit { 993 } else { 143 });
    let folders = if o.folders.is_empty() { vec!["INBOX".to_string()] } else { o.folders };
    let source = ImapSource {
        name: o.name,
        host: o.host,
        port,
        security,
        user: o.user,
        auth: if o.xoauth2 { Auth::XOAuth2 } else { Auth::Password },
        folders,
        pin_sha256: o.pin,
        secret_env: o.secret_env,
        timeout_secs: dealthread_core::sources::imap::DEFAULT_TIMEOUT_SECS,
    };
    let store = open_store(db)?;
    if source.secret_env.is_none() {
        let what = if source.auth == Auth::XOAuth2 { "OAuth2 access token" } else { "password" };
        let secret = read_secret(what, &format!("{}@{}", source.user, source.host))?;
        secrets::set(&sources::secret_account(&source.name), secret.as_bytes())
            .context("storing the password in the OS keyring")?;
    }
    source.save(&store, ingest::unix_now())?;
    println!(
        "added IMAP source {} ({}@{}:{}, folders {}); run `dealthread sync --once` or `dealthread doctor`",
        source.name,
        source.user,
        source.host,
        source.port,
        source.folders.join(", ")
    );
    Ok(Done::Ok)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        bail!("--name {name:?}: a source name is one word");
    }
    Ok(())
}

pub struct ProviderOptions {
    pub name: String,
    pub url: String,
    pub pin: Option<String>,
    pub poll_secs: u64,
    pub page_size: u32,
    pub timeout_secs: u64,
    pub secret_env: Option<String>,
}

pub fn add_provider(db: &Path, o: ProviderOptions) -> anyhow::Result<Done> {
    check_name(&o.name)?;
    let mut source = ProviderSource::new(&o.name, &o.url);
    source.pin_sha256 = o.pin;
    source.poll_secs = o.poll_secs.max(1);
    source.page_size = o.page_size;
    source.timeout_secs = o.timeout_secs.max(1);
    source.secret_env = o.secret_env;
    source.url().map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open_store(db)?;
    if source.secret_env.is_none() {
        let secret = read_secret("API key", &source.base_url)?;
        secrets::set(&sources::secret_account(&source.name), secret.as_bytes())
            .context("storing the API key in the OS keyring")?;
    }
    source.save(&store, ingest::unix_now())?;
    println!(
        "added provider source {} ({}, polled every {} s); run `dealthread sync --once` or `dealthread doctor`",
        source.name, source.base_url, source.poll_secs
    );
    Ok(Done::Ok)
}

pub fn list(db: &Path) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let rows = sources::list_status(store.conn())?;
    if rows.is_empty() {
        println!("no sources configured");
    }
    for row in rows {
        let last = match row.last_sync_at {
            Some(at) => format!("last sync {}", super::format_time(at)),
            None => "never synced".to_string(),
        };
        let error = row.last_error.map(|e| format!("; last error: {e}")).unwrap_or_default();
        println!("{}\t{}\t{last}{error}", row.name, row.kind);
    }
    Ok(Done::Ok)
}

pub fn remove(db: &Path, name: &str) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    if !accounts::remove(&store, name).map_err(|e| anyhow::anyhow!("{e}"))? {
        bail!("no source named {name}");
    }
    println!("removed source {name}; its mail stays in the store");
    Ok(Done::Ok)
}

/// The secret: asked on the terminal, else one line of stdin.
pub fn read_secret(what: &str, of: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what} for {of} (not shown): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the secret from standard input")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        bail!("no {what} given on standard input");
    }
    Ok(secret)
}
