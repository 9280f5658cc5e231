//! The `messages` and `message_sources` tables.

use dealthread_mail::Document;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// One message on its way into the store.
pub struct NewMessage<'a> {
    /// `None` when the input could not be read as mail (see `parse_error`).
    pub document: Option<&'a Document>,
    pub parse_error: Option<&'a str>,
    pub raw_sha256: &'a str,
    pub raw_size: u64,
    pub deal_id: Option<&'a str>,
    /// The Date header as Unix seconds, when present and plausible.
    pub date_unix: Option<i64>,
    pub arrived_at: i64,
    pub source: &'a str,
    pub locator: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// Already stored (same dedupe key); only provenance may have been added.
    Duplicate(i64),
}

impl NewMessage<'_> {
    fn dedupe_key(&self) -> String {
        match self.document {
            Some(doc) => doc.dedupe_key.clone(),
            None => format!("unreadable#{}", self.raw_sha256),
        }
    }
}

/// Inserts a message unless its dedupe key is already stored, and records
/// where this copy came from either way.
pub fn insert(conn: &Connection, m: &NewMessage<'_>) -> Result<Inserted> {
    let key = m.dedupe_key();
    let existing: Option<i64> = conn
        .query_row("SELECT id FROM messages WHERE dedupe_key = ?1", [&key], |r| r.get(0))
        .optional()?;
    let outcome = match existing {
        Some(id) => Inserted::Duplicate(id),
        None => {
            let doc = m.document;
            let json = doc.map(serde_json::to_string).transpose().map_err(|e| {
                crate::error::CoreError::InvalidInput(format!("document did not serialize: {e}"))
            })?;
            conn.execute(
                "INSERT INTO messages (dedupe_key, message_id, content_hash, raw_sha256, raw_size,
                     subject, from_name, from_address, date, sort_time, arrived_at, kind,
                     latest_reply, text_body, has_attachments, document, parse_error, deal_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                params![
                    key,
                    doc.and_then(|d| d.message_id.as_deref()),
                    doc.map_or(m.raw_sha256, |d| d.content_hash.as_str()),
                    m.raw_sha256,
                    m.raw_size as i64,
                    doc.and_then(|d| d.subject.as_deref()),
                    doc.and_then(|d| d.from.as_ref()).and_then(|f| f.name.as_deref()),
                    doc.and_then(|d| d.from.as_ref()).map(|f| f.address.as_str()),
                    doc.and_then(|d| d.date.as_deref()),
                    m.date_unix.unwrap_or(m.arrived_at),
                    m.arrived_at,
                    doc.map_or("unreadable", |d| d.classification.kind.as_str()),
                    doc.and_then(|d| d.latest_reply.as_deref()),
                    doc.and_then(|d| d.bodies.text.as_deref()),
                    doc.is_some_and(|d| !d.attachments.is_empty()),
                    json,
                    m.parse_error,
                    m.deal_id,
                ],
            )?;
            Inserted::New(conn.last_insert_rowid())
        }
    };
    let id = match outcome {
        Inserted::New(id) | Inserted::Duplicate(id) => id,
    };
    conn.execute(
        "INSERT INTO message_sources (message_id, source, locator, added_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT(source, locator) DO NOTHING",
        params![id, m.source, m.locator, m.arrived_at],
    )?;
    Ok(outcome)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?)
}
