//! `dealthread source add imap`: configure a mailbox; its secret goes to
//! the OS keyring (or is read from an environment variable at each run).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, bail};
use dealthread_core::sources::imap::{Auth, ImapSource, Security, connect};
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
    if o.name.is_empty() || o.name.contains(char::is_whitespace) {
        bail!("--name {:?}: a source name is one word", o.name);
    }
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
    };
    let store = open_store(db)?;
    if source.secret_env.is_none() {
        let secret = read_secret(&source)?;
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

/// The password or token: asked on the terminal, else one line of stdin.
fn read_secret(source: &ImapSource) -> anyhow::Result<String> {
    let what = if source.auth == Auth::XOAuth2 { "OAuth2 access token" } else { "password" };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what} for {}@{} (not shown): ", source.user, source.host);
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the secret from standard input")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        bail!("no {what} given on standard input");
    }
    Ok(secret)
}
