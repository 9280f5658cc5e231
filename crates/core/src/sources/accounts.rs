//! Sources as people manage them, from the CLI or the app's settings: every
//! configured source of either kind, the form that adds one (its secret goes
//! to the OS keyring before the config is saved), "test connection", and how
//! each source stands.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::imap::{self, Auth, ImapSource, Security};
use super::provider::{self, ProviderSource};
use super::{SourceError, secret_account};
use crate::error::Result;
use crate::secrets;
use crate::store::Store;

/// A configured source of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Configured {
    Imap(ImapSource),
    Provider(ProviderSource),
}

impl Configured {
    pub fn name(&self) -> &str {
        match self {
            Configured::Imap(source) => &source.name,
            Configured::Provider(source) => &source.name,
        }
    }

    /// Its password, token or API key, from the keyring (or the
    /// environment variable its config names).
    pub fn secret(&self) -> std::result::Result<String, SourceError> {
        match self {
            Configured::Imap(s) => super::secret(&s.name, s.secret_env.as_deref()),
            Configured::Provider(s) => super::secret(&s.name, s.secret_env.as_deref()),
        }
    }

    /// Every source in the store, in name order. Rows of a kind this build
    /// does not know are left out.
    pub fn all(store: &Store) -> Result<Vec<Configured>> {
        let mut found = Vec::new();
        for (name, kind, _) in super::list(store.conn())? {
            if kind == imap::KIND
                && let Some(source) = ImapSource::load(store, &name)?
            {
                found.push(Configured::Imap(source));
            } else if kind == provider::KIND
                && let Some(source) = ProviderSource::load(store, &name)?
            {
                found.push(Configured::Provider(source));
            }
        }
        Ok(found)
    }
}

/// How a source stands, for the settings and sync health screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct SourceView {
    pub name: String,
    /// `imap` or `provider`.
    pub kind: String,
    /// Where it reads from, in words: `user@host:993 (INBOX)`, or the URL.
    pub target: String,
    /// Unix seconds of the last sync that ended, cleanly or not.
    #[ts(type = "number | null")]
    pub last_sync_at: Option<i64>,
    /// Why the last sync failed; `None` after a clean one.
    pub last_error: Option<String>,
    /// IMAP: messages on the server found missing locally at the last
    /// completeness check (summed over folders); `None` before any check.
    #[ts(type = "number | null")]
    pub missing: Option<i64>,
    /// Provider: entries that could not be used and were skipped.
    #[ts(type = "number")]
    pub skipped: i64,
}

pub fn views(store: &Store) -> Result<Vec<SourceView>> {
    let rows = super::list_status(store.conn())?;
    let mut views = Vec::new();
    for source in Configured::all(store)? {
        let row = rows.iter().find(|r| r.name == source.name());
        let mut view = SourceView {
            name: source.name().to_string(),
            kind: String::new(),
            target: String::new(),
            last_sync_at: row.and_then(|r| r.last_sync_at),
            last_error: row.and_then(|r| r.last_error.clone()),
            missing: None,
            skipped: 0,
        };
        match &source {
            Configured::Imap(s) => {
                view.kind = imap::KIND.into();
                view.target =
                    format!("{}@{}:{} ({})", s.user, s.host, s.port, s.folders.join(", "));
                let ledgers = imap::ledgers(store, &s.name)?;
                view.missing = ledgers
                    .iter()
                    .filter_map(|l| l.missing)
                    .fold(None, |sum, n| Some(sum.unwrap_or(0) + n));
            }
            Configured::Provider(s) => {
                view.kind = provider::KIND.into();
                view.target = s.base_url.clone();
                view.skipped = provider::status(store, &s.name)?.skipped.len() as i64;
            }
        }
        views.push(view);
    }
    Ok(views)
}

/// The settings form for a provider account.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct NewProvider {
    pub name: String,
    pub base_url: String,
    /// Goes to the OS keyring; never stored elsewhere, never shown again.
    pub api_key: String,
    pub pin_sha256: Option<String>,
    #[ts(type = "number | null")]
    pub poll_secs: Option<u64>,
}

impl NewProvider {
    fn source(&self) -> std::result::Result<ProviderSource, SourceError> {
        check_name(&self.name)?;
        let mut source = ProviderSource::new(self.name.trim(), self.base_url.trim());
        source.pin_sha256 = self.pin_sha256.clone().filter(|p| !p.trim().is_empty());
        if let Some(poll) = self.poll_secs {
            source.poll_secs = poll.max(1);
        }
        source.url()?;
        if self.api_key.trim().is_empty() {
            return Err(SourceError::Config(format!("{}: the API key is empty", source.name)));
        }
        Ok(source)
    }
}

/// The settings form for an IMAP mailbox.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct NewImap {
    pub name: String,
    pub host: String,
    /// Default: 993 for implicit TLS, 143 otherwise.
    pub port: Option<u16>,
    pub security: Security,
    pub user: String,
    /// The password, or an OAuth2 access token with `xoauth2`. Goes to the
    /// OS keyring; never stored elsewhere, never shown again.
    pub secret: String,
    /// Folders to sync; empty means INBOX.
    pub folders: Vec<String>,
    pub pin_sha256: Option<String>,
    pub xoauth2: bool,
}

impl NewImap {
    fn source(&self) -> std::result::Result<ImapSource, SourceError> {
        check_name(&self.name)?;
        let name = self.name.trim().to_string();
        let pin = self.pin_sha256.clone().filter(|p| !p.trim().is_empty());
        if let Some(pin) = &pin
            && imap::connect::parse_pin(pin).is_none()
        {
            return Err(SourceError::Config(format!(
                "{name}: the pin must be a SHA-256 fingerprint (64 hex digits)"
            )));
        }
        if self.host.trim().is_empty() || self.user.trim().is_empty() {
            return Err(SourceError::Config(format!("{name}: the host and user are required")));
        }
        if self.secret.is_empty() {
            return Err(SourceError::Config(format!("{name}: the password is empty")));
        }
        let folders: Vec<String> =
            self.folders.iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
        Ok(ImapSource {
            port: self.port.unwrap_or(if self.security == Security::Implicit { 993 } else { 143 }),
            host: self.host.trim().to_string(),
            security: self.security,
            user: self.user.trim().to_string(),
            auth: if self.xoauth2 { Auth::XOAuth2 } else { Auth::Password },
            folders: if folders.is_empty() { vec!["INBOX".into()] } else { folders },
            pin_sha256: pin,
            secret_env: None,
            timeout_secs: imap::DEFAULT_TIMEOUT_SECS,
            name,
        })
    }
}

fn check_name(name: &str) -> std::result::Result<(), SourceError> {
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 64 {
        return Err(SourceError::Config(format!(
            "{name:?}: a source name is one word of at most 64 characters"
        )));
    }
    Ok(())
}

/// "Test connection" for a provider form: reaches the API with the key
/// and says what it found, storing nothing.
pub fn test_provider(input: &NewProvider) -> std::result::Result<String, SourceError> {
    let source = input.source()?;
    let client = provider::Client::new(&source, input.api_key.trim())?;
    let reachable = client.check(None)?;
    let channel = match &reachable.fingerprint {
        Some(fingerprint) => format!("over HTTPS (certificate SHA-256 {fingerprint})"),
        None => "over plain HTTP on this machine".to_string(),
    };
    let waiting = match reachable.waiting {
        0 => "no messages waiting".to_string(),
        n if n >= source.page_size as usize => format!("{n}+ messages waiting"),
        n => format!("{n} messages waiting"),
    };
    Ok(format!("Connected {channel}; the API key was accepted; {waiting}."))
}

/// "Test connection" for an IMAP form: logs in and says what the server
/// offers, storing nothing.
pub fn test_imap(input: &NewImap) -> std::result::Result<String, SourceError> {
    let source = input.source()?;
    let mut connected = imap::connect::connect(&source, &input.secret)?;
    let _ = connected.session.logout();
    let channel = match (&connected.tls.protocol, &connected.tls.fingerprint) {
        (Some(protocol), Some(fingerprint)) => {
            format!("over {protocol} (certificate SHA-256 {fingerprint})")
        }
        _ => "without TLS (a server on this machine)".to_string(),
    };
    let idle = if connected.capabilities.iter().any(|c| c.eq_ignore_ascii_case("IDLE")) {
        "new mail is pushed (IDLE)"
    } else {
        "the server has no IDLE, so it will be polled"
    };
    Ok(format!("Logged in {channel}; {idle}."))
}

/// Adds (or replaces) a provider source: the key to the keyring first,
/// then the config, so a saved source always has its secret.
pub fn add_provider(
    store: &Store,
    input: &NewProvider,
    now: i64,
) -> std::result::Result<ProviderSource, SourceError> {
    let source = input.source()?;
    secrets::set(&secret_account(&source.name), input.api_key.trim().as_bytes())?;
    source.save(store, now)?;
    Ok(source)
}

/// Adds (or replaces) an IMAP source, the password to the keyring first.
pub fn add_imap(
    store: &Store,
    input: &NewImap,
    now: i64,
) -> std::result::Result<ImapSource, SourceError> {
    let source = input.source()?;
    secrets::set(&secret_account(&source.name), input.secret.as_bytes())?;
    source.save(store, now)?;
    Ok(source)
}

/// Removes a source and its secret; its mail stays. `false` when there was
/// no such source.
pub fn remove(store: &Store, name: &str) -> std::result::Result<bool, SourceError> {
    let removed = super::remove(store.conn(), name)?;
    if removed {
        secrets::delete(&secret_account(name))?;
    }
    Ok(removed)
}
