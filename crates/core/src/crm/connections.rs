//! CRM connections as people manage them, from the CLI or the app's
//! settings: the form that adds one (its secret goes to the OS keyring
//! before the config is saved), "test connection", removal, and the list.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::outbox::{self, Adapter, Delivery, Item};
use super::{hubspot, secret_account, webhook};
use crate::error::Result;
use crate::secrets;
use crate::sources::SourceError;

/// Which CRM a connection pushes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CrmKind {
    Hubspot,
    Webhook,
}

/// The settings form for a CRM connection.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct NewCrm {
    pub name: String,
    pub kind: CrmKind,
    /// HubSpot's API base (empty: `https://api.hubapi.com/`), or the
    /// webhook's URL.
    pub url: String,
    /// HubSpot's private-app token, or the webhook's signing secret. Goes
    /// to the OS keyring; never stored elsewhere, never shown again.
    pub secret: String,
    pub pin_sha256: Option<String>,
}

/// A connection's settings as stored (never its secret). The app's form
/// and the CLI's flags both end here, and both save through [`save`].
#[derive(Debug, Clone)]
pub enum CrmConfig {
    Hubspot(hubspot::HubspotConfig),
    Webhook(webhook::WebhookConfig),
}

impl CrmConfig {
    pub fn name(&self) -> &str {
        match self {
            CrmConfig::Hubspot(config) => &config.name,
            CrmConfig::Webhook(config) => &config.name,
        }
    }

    /// The environment variable that holds the secret, when one is named.
    pub fn secret_env(&self) -> Option<&str> {
        match self {
            CrmConfig::Hubspot(config) => config.secret_env.as_deref(),
            CrmConfig::Webhook(config) => config.secret_env.as_deref(),
        }
    }

    /// The name is one word of at most 64 characters, and the URL is one
    /// Dealthread will send to (HTTPS, or HTTP to this machine).
    pub fn check(&self) -> std::result::Result<(), SourceError> {
        let name = self.name();
        if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 64 {
            return Err(SourceError::Config(format!(
                "{name:?}: a CRM connection's name is one word of at most 64 characters"
            )));
        }
        match self {
            CrmConfig::Hubspot(config) => config.checked_url().map(drop),
            CrmConfig::Webhook(config) => config.checked_url().map(drop),
        }
    }
}

impl NewCrm {
    fn check(&self) -> std::result::Result<CrmConfig, SourceError> {
        let name = self.name.trim();
        if self.secret.trim().is_empty() {
            let what = match self.kind {
                CrmKind::Hubspot => "the token",
                CrmKind::Webhook => "the signing secret",
            };
            return Err(SourceError::Config(format!("{name}: {what} is empty")));
        }
        let pin = self.pin_sha256.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let config = match self.kind {
            CrmKind::Hubspot => {
                let mut config = hubspot::HubspotConfig::new(name);
                if !self.url.trim().is_empty() {
                    config.base_url = self.url.trim().to_string();
                }
                config.pin_sha256 = pin.map(str::to_string);
                CrmConfig::Hubspot(config)
            }
            CrmKind::Webhook => {
                let mut config = webhook::WebhookConfig::new(name, self.url.trim());
                config.pin_sha256 = pin.map(str::to_string);
                CrmConfig::Webhook(config)
            }
        };
        config.check()?;
        Ok(config)
    }
}

/// "Test connection": HubSpot reads one deal with the token; a webhook
/// receives a signed `activity.test` event (its own idempotency key, no
/// activity data). Stores nothing.
pub fn test(input: &NewCrm) -> std::result::Result<String, SourceError> {
    match input.check()? {
        CrmConfig::Hubspot(config) => hubspot::Hubspot::new(&config, input.secret.trim())?.check(),
        CrmConfig::Webhook(config) => {
            let hook = webhook::Webhook::new(&config, &input.secret)?;
            let probe = Item {
                id: 0,
                operation: "test".into(),
                idempotency_key: format!("connection-test-{}", outbox::now_ms()),
                attempts: 0,
                payload: serde_json::json!({}),
                crm_object_id: None,
                create_key: None,
            };
            match hook.deliver(&probe) {
                Delivery::Sent { .. } => {
                    Ok(format!("{} accepted a signed test event.", config.url))
                }
                Delivery::Paused { reason } => Err(SourceError::Auth(reason)),
                Delivery::Retry { reason, .. } => Err(SourceError::Network(reason)),
                Delivery::Dead { reason } => Err(SourceError::Protocol(format!(
                    "{} was reached but refused the test event: {reason}",
                    config.url
                ))),
            }
        }
    }
}

/// Adds (or replaces) a connection from the settings form.
pub fn add(conn: &Connection, input: &NewCrm, now: i64) -> std::result::Result<usize, SourceError> {
    save(conn, &input.check()?, Some(input.secret.trim()), now)
}

/// Saves a connection: its secret to the keyring first, then the config,
/// so a saved connection always has its secret. Without a secret the
/// config must name the environment variable that holds one. Queues every
/// CRM-worthy message for it; returns how many.
pub fn save(
    conn: &Connection,
    config: &CrmConfig,
    secret: Option<&str>,
    now: i64,
) -> std::result::Result<usize, SourceError> {
    config.check()?;
    let name = config.name();
    let (kind, json) = match config {
        CrmConfig::Hubspot(config) => (hubspot::KIND, serde_json::to_string(config)),
        CrmConfig::Webhook(config) => (webhook::KIND, serde_json::to_string(config)),
    };
    let json = json.map_err(|e| SourceError::Config(format!("{name}: {e}")))?;
    match secret {
        Some(secret) => secrets::set(&secret_account(name), secret.as_bytes())?,
        None if config.secret_env().is_some() => {}
        None => {
            return Err(SourceError::Config(format!(
                "{name}: no secret given, and no environment variable named to hold one"
            )));
        }
    }
    super::save(conn, name, kind, &json, now)?;
    Ok(outbox::enqueue_new(conn, name, now * 1000)?)
}

/// Removes a connection, its queue and its secret; what was sent stays in
/// the CRM. `false` when there was no such connection.
pub fn remove(conn: &Connection, name: &str) -> std::result::Result<bool, SourceError> {
    let removed = conn.execute("DELETE FROM crm_accounts WHERE name = ?1", [name])? > 0;
    if removed {
        conn.execute("DELETE FROM push_failures WHERE crm = ?1", [name])?;
        secrets::delete(&secret_account(name))?;
    }
    Ok(removed)
}

/// A connection as the settings list shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct CrmView {
    pub name: String,
    pub kind: CrmKind,
    /// Where it pushes: HubSpot's base URL or the webhook's URL.
    pub target: String,
    pub paused_reason: Option<String>,
}

pub fn views(conn: &Connection) -> Result<Vec<CrmView>> {
    let mut views = Vec::new();
    for account in super::accounts(conn)? {
        let (kind, target) = if account.kind == hubspot::KIND {
            let config: hubspot::HubspotConfig =
                super::parse_config(&account.name, &account.config)?;
            (CrmKind::Hubspot, config.base_url)
        } else {
            let config: webhook::WebhookConfig =
                super::parse_config(&account.name, &account.config)?;
            (CrmKind::Webhook, config.url)
        };
        views.push(CrmView {
            name: account.name,
            kind,
            target,
            paused_reason: account.paused_reason,
        });
    }
    Ok(views)
}
