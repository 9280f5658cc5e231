//! Secrets live in the OS keyring (the Secret Service on Linux, through
//! keyring-core) and nowhere else: not in SQLite, not in config files, not in
//! logs. This module is the only place that reads or writes them.
//!
//! Headless runs without a keyring may name an environment variable that
//! holds a secret instead (DESIGN.md, `--secret-env`); only the variable's
//! name is ever stored.

use std::sync::OnceLock;

use keyring_core::{Entry, Error as KeyringError};

use crate::error::{CoreError, Result};

/// The keyring service every Dealthread secret is filed under.
pub const SERVICE: &str = "dealthread";

static OS_KEYRING: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Makes the OS keyring the store for this process (once).
fn use_os_keyring() -> Result<()> {
    OS_KEYRING
        .get_or_init(|| {
            zbus_secret_service_keyring_store::Store::new()
                .map(|store| keyring_core::set_default_store(store))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| CoreError::Keyring(format!("the system keyring is not available: {e}")))
}

fn entry(account: &str) -> Result<Entry> {
    use_os_keyring()?;
    Entry::new(SERVICE, account).map_err(|e| CoreError::Keyring(format!("{account}: {e}")))
}

/// The secret stored for `account`, or `None` when there is none.
pub fn get(account: &str) -> Result<Option<Vec<u8>>> {
    match entry(account)?.get_secret() {
        Ok(secret) => Ok(Some(secret)),
        Err(KeyringError::NoEntry) => Ok(None),
        Err(e) => Err(CoreError::Keyring(format!("reading {account}: {e}"))),
    }
}

/// Stores (or replaces) the secret for `account`.
pub fn set(account: &str, secret: &[u8]) -> Result<()> {
    entry(account)?
        .set_secret(secret)
        .map_err(|e| CoreError::Keyring(format!("storing {account}: {e}")))
}

/// Deletes the secret for `account`; deleting a missing one is no error.
pub fn delete(account: &str) -> Result<()> {
    match entry(account)?.delete_credential() {
        Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
        Err(e) => Err(CoreError::Keyring(format!("deleting {account}: {e}"))),
    }
}
