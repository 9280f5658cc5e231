//! Where mail comes from. Each source yields [`crate::ingest::RawMessage`]s;
//! the store does not care which path a message took.
//!
//! Configured sources (an IMAP mailbox, later a provider account) are rows
//! of the `sources` table holding JSON without secrets; the secret is in the
//! OS keyring under `source:<name>`, or for headless runs in an environment
//! variable whose name (never its value) the config holds.

pub mod accounts;
pub mod files;
pub mod imap;
pub mod provider;
pub mod tls;

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{CoreError, Result};
use crate::secrets;

/// Why a sync of a source stopped. Whether to try again depends on it: a
/// wrong password or certificate is not retried (no retry storm), a network
/// failure is, with backoff.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Protocol(String),
    /// The server asked us to slow down (HTTP 429) and said for how long.
    #[error("{message}")]
    RateLimited { message: String, retry_after: Duration },
    #[error("{0}")]
    Store(#[from] CoreError),
}

impl From<rusqlite::Error> for SourceError {
    fn from(error: rusqlite::Error) -> Self {
        SourceError::Store(error.into())
    }
}

impl SourceError {
    /// The kind of failure, for the app to branch on.
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            SourceError::Config(_) => ErrorCode::SourceConfig,
            SourceError::Auth(_) => ErrorCode::SourceAuth,
            SourceError::Tls(_) => ErrorCode::SourceTls,
            SourceError::Network(_) | SourceError::RateLimited { .. } => ErrorCode::SourceNetwork,
            SourceError::Protocol(_) => ErrorCode::SourceProtocol,
            SourceError::Store(error) => error.code(),
        }
    }

    /// Whether trying again later may succeed without the user changing
    /// anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SourceError::Network(_) | SourceError::Protocol(_) | SourceError::RateLimited { .. }
        )
    }
}

/// How often and how long to retry a sync that failed on the network.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 6, base: Duration::from_millis(500), max: Duration::from_secs(60) }
    }
}

impl Retry {
    /// Exponential backoff with full jitter: a random wait up to
    /// base * 2^attempt, capped, so many clients do not reconnect in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.max);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::random_range(millis / 4..=millis))
    }

    /// The wait before attempt `attempt + 1` after `error`: the backoff, or
    /// longer when the server said when to come back.
    pub fn wait_for(&self, error: &SourceError, attempt: u32) -> Duration {
        let backoff = self.delay(attempt);
        match error {
            SourceError::RateLimited { retry_after, .. } => backoff.max(*retry_after),
            _ => backoff,
        }
    }
}

/// Sleeps for `total`, waking early when `stop` says so.
pub fn sleep_unless(stop: &dyn Fn() -> bool, total: Duration) {
    let until = std::time::Instant::now() + total;
    while !stop() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50).min(total));
    }
}

/// The keyring account of a source's secret.
pub fn secret_account(name: &str) -> String {
    format!("source:{name}")
}

/// A source's secret: from the environment variable its config names, or
/// from the OS keyring.
pub fn secret(name: &str, secret_env: Option<&str>) -> std::result::Result<String, SourceError> {
    if let Some(var) = secret_env {
        return std::env::var(var).map_err(|_| {
            SourceError::Config(format!("{name}: the environment variable {var} is not set"))
        });
    }
    match secrets::get(&secret_account(name))? {
        Some(bytes) => String::from_utf8(bytes).map_err(|_| {
            SourceError::Config(format!("{name}: the secret in the keyring is not text"))
        }),
        None => Err(SourceError::Config(format!(
            "{name}: no secret (password, token or API key) in the keyring; add the source again to store it"
        ))),
    }
}

/// Saves a source's config (JSON, no secrets), replacing one of that name.
pub fn save(conn: &Connection, name: &str, kind: &str, config: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO sources (name, kind, config, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, config = excluded.config",
        params![name, kind, config, now],
    )?;
    Ok(())
}

/// Every configured source: (name, kind, config JSON).
pub fn list(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare("SELECT name, kind, config FROM sources ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A source as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub name: String,
    pub kind: String,
    pub last_sync_at: Option<i64>,
    pub last_error: Option<String>,
}

pub fn list_status(conn: &Connection) -> Result<Vec<SourceRow>> {
    let mut stmt =
        conn.prepare("SELECT name, kind, last_sync_at, last_error FROM sources ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(SourceRow {
            name: r.get(0)?,
            kind: r.get(1)?,
            last_sync_at: r.get(2)?,
            last_error: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Removes a source's configuration and sync state; its messages stay.
/// `false` when there was no such source.
pub fn remove(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM sources WHERE name = ?1", [name])? > 0)
}

pub fn config_of(conn: &Connection, name: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .query_row("SELECT kind, config FROM sources WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// Records how the last sync of a source ended (`None`: cleanly).
pub fn record_outcome(conn: &Connection, name: &str, error: Option<&str>, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE sources SET last_sync_at = ?1, last_error = ?2 WHERE name = ?3",
        params![now, error, name],
    )?;
    Ok(())
}

/// Reads a source's config JSON, naming the source when it does not parse.
pub fn parse_config<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| CoreError::Corrupt(format!("the configuration of source {name}: {e}")))
}
