//! The `settings` table: non-secret settings (secrets live in the keyring).

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

pub fn get(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0))
        .optional()?)
}

pub fn set(conn: &Connection, name: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

/// The id under which this store's key is filed in the keyring; made on
/// first use, so a database moved to another folder finds its key again.
pub fn store_key_id(conn: &Connection) -> Result<String> {
    if let Some(id) = get(conn, "store_key_id")? {
        return Ok(id);
    }
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    let id = hex::encode(bytes);
    set(conn, "store_key_id", &id)?;
    Ok(id)
}

/// Days raw MIME is kept before retention deletes it (normalized data stays).
pub fn raw_retention_days(conn: &Connection) -> Result<i64> {
    Ok(get(conn, "raw_retention_days")?.and_then(|v| v.parse().ok()).unwrap_or(30))
}

/// The team's inbound domains (`in.example.com`): where deal aliases such as
/// `deal+42@in.example.com` are received. `doctor` checks their MX records.
pub fn inbound_domains(conn: &Connection) -> Result<Vec<String>> {
    list(conn, "inbound_domains")
}

/// Replaces the inbound domains; each must already be normalized
/// ([`crate::dns::normalize_domain`]).
pub fn set_inbound_domains(conn: &Connection, domains: &[String]) -> Result<()> {
    set_list(conn, "inbound_domains", domains)
}

/// A setting holding a list of strings (JSON), empty when unset.
pub fn list(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let Some(json) = get(conn, name)? else { return Ok(Vec::new()) };
    serde_json::from_str(&json)
        .map_err(|e| crate::error::CoreError::Corrupt(format!("the {name} setting: {e}")))
}

/// Replaces a list setting, kept sorted and without repeats.
pub fn set_list(conn: &Connection, name: &str, values: &[String]) -> Result<()> {
    let mut values = values.to_vec();
    values.sort();
    values.dedup();
    let json = serde_json::to_string(&values)
        .map_err(|e| crate::error::CoreError::InvalidInput(format!("{name}: {e}")))?;
    set(conn, name, &json)
}
