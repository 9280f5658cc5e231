//! Pushing activities to the CRM: the durable outbox and the adapters that
//! deliver from it.
//!
//! The outbox lives in SQLite. Each CRM-worthy message gets one row per CRM
//! and operation, keyed by dedupe key + CRM + operation; delivery is at
//! least once (a row is re-sent after a crash or a lost answer) and made
//! effectively once by that key, which every request carries.

pub mod connections;
pub mod health;
pub mod hubspot;
pub mod outbox;
pub mod sharing;
pub mod webhook;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{CoreError, Result};
use crate::store::settings;

/// The keyring account of a CRM connection's secret.
pub fn secret_account(name: &str) -> String {
    format!("crm:{name}")
}

/// Saves a CRM connection (config JSON without secrets), replacing one of
/// that name and clearing any pause.
pub fn save(conn: &Connection, name: &str, kind: &str, config: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO crm_accounts (name, kind, config, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, config = excluded.config,
             paused_reason = NULL",
        params![name, kind, config, now],
    )?;
    Ok(())
}

/// A CRM connection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub kind: String,
    pub config: String,
    /// Why pushing is paused (the CRM refused the credentials).
    pub paused_reason: Option<String>,
}

pub fn accounts(conn: &Connection) -> Result<Vec<Account>> {
    let mut stmt =
        conn.prepare("SELECT name, kind, config, paused_reason FROM crm_accounts ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        Ok(Account {
            name: r.get(0)?,
            kind: r.get(1)?,
            config: r.get(2)?,
            paused_reason: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn account(conn: &Connection, name: &str) -> Result<Option<Account>> {
    Ok(conn
        .query_row(
            "SELECT name, kind, config, paused_reason FROM crm_accounts WHERE name = ?1",
            [name],
            |r| {
                Ok(Account {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    config: r.get(2)?,
                    paused_reason: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Pauses pushing to `name` until its credentials are saved again.
pub fn pause(conn: &Connection, name: &str, reason: &str) -> Result<()> {
    conn.execute(
        "UPDATE crm_accounts SET paused_reason = ?1 WHERE name = ?2",
        params![reason, name],
    )?;
    Ok(())
}

pub fn parse_config<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| CoreError::Corrupt(format!("the configuration of CRM {name}: {e}")))
}

/// The adapter that delivers to `account`, with its secret from the
/// keyring (or the environment variable its config names).
pub fn adapter_for(
    account: &Account,
) -> std::result::Result<Box<dyn outbox::Adapter>, crate::sources::SourceError> {
    let secret = secret_for(account)?;
    if account.kind == hubspot::KIND {
        let config: hubspot::HubspotConfig = parse_config(&account.name, &account.config)?;
        return Ok(Box::new(hubspot::Hubspot::new(&config, &secret)?));
    }
    let config: webhook::WebhookConfig = parse_config(&account.name, &account.config)?;
    Ok(Box::new(webhook::Webhook::new(&config, &secret)?))
}

/// The account's secret, from the environment variable it names or the
/// OS keyring.
fn secret_for(account: &Account) -> std::result::Result<String, crate::sources::SourceError> {
    use crate::sources::SourceError;
    let secret_env = match account.kind.as_str() {
        webhook::KIND => {
            parse_config::<webhook::WebhookConfig>(&account.name, &account.config)?.secret_env
        }
        hubspot::KIND => {
            parse_config::<hubspot::HubspotConfig>(&account.name, &account.config)?.secret_env
        }
        other => {
            return Err(SourceError::Config(format!(
                "{}: CRM kind {other:?} is not supported by this version",
                account.name
            )));
        }
    };
    match &secret_env {
        Some(var) => std::env::var(var).map_err(|_| {
            SourceError::Config(format!(
                "{}: the environment variable {var} is not set",
                account.name
            ))
        }),
        None => crate::secrets::get(&secret_account(&account.name))?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                SourceError::Config(format!(
                    "{}: no secret in the keyring; add the connection again",
                    account.name
                ))
            }),
    }
}

/// What pulling a CRM's entities did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    pub imported: crate::entities::Imported,
    /// Records left out, each with the reason.
    pub skipped: Vec<String>,
}

/// Pulls the deals, contacts and companies changed since the last pull
/// from a CRM that offers them (HubSpot; a webhook has none: `None`), into
/// the local cache, then offers earlier unmatched mail that now matches.
pub fn pull_entities(
    store: &mut crate::Store,
    account: &Account,
) -> std::result::Result<Option<PullReport>, crate::sources::SourceError> {
    if account.kind != hubspot::KIND {
        return Ok(None);
    }
    let config: hubspot::HubspotConfig = parse_config(&account.name, &account.config)?;
    let client = hubspot::Hubspot::new(&config, &secret_for(account)?)?;
    let key = format!("crm_pull_checkpoint:{}", account.name);
    let since = settings::get(store.conn(), &key)?.and_then(|v| v.parse::<i64>().ok());
    let pulled = client.pull(since)?;
    let imported = pulled.entities.store(store.conn_mut(), crate::ingest::unix_now())?;
    if let Some(checkpoint) = pulled.checkpoint {
        settings::set(store.conn(), &key, &checkpoint.to_string())?;
    }
    Ok(Some(PullReport { imported, skipped: pulled.skipped }))
}
