//! The `messages` and `message_sources` tables.

use dealthread_mail::Document;
use dealthread_mail::document::Mailbox;
use dealthread_mail::thread::thread_keys;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{attachments, threads};
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
    /// Whether the attachments' blobs were written to the raw store.
    pub attachments_stored: bool,
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
                     latest_reply, text_body, has_attachments, document, parse_error, deal_id,
                 participants, attachment_names)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                         ?19, ?20)",
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
                    doc.map(participants),
                    doc.map(attachment_names),
                ],
            )?;
            let id = conn.last_insert_rowid();
            file_in_thread(conn, id, doc, m.arrived_at)?;
            if let Some(doc) = doc {
                attachments::insert_for(conn, id, doc, m.attachments_stored)?;
            }
            Inserted::New(id)
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

/// Threads the new message and flags a Message-ID that another message
/// already uses.
fn file_in_thread(conn: &Connection, id: i64, doc: Option<&Document>, now: i64) -> Result<()> {
    let keys = doc.map_or_else(Vec::new, |d| {
        thread_keys(d.message_id.as_deref(), d.in_reply_to.as_deref(), &d.references)
    });
    threads::assign(conn, id, &keys, now)?;
    if let Some(message_id) = doc.and_then(|d| d.message_id.as_deref()) {
        conn.execute(
            "UPDATE messages SET message_id_reused = 1
             WHERE message_id = ?1 AND (SELECT count(*) FROM messages WHERE message_id = ?1) > 1",
            [message_id],
        )?;
    }
    Ok(())
}

fn mailbox_text(m: &Mailbox) -> String {
    match &m.name {
        Some(name) => format!("{name} <{}>", m.address),
        None => m.address.clone(),
    }
}

/// "Name <address>, ..." of everyone on the message, for search.
fn participants(doc: &Document) -> String {
    let all = doc.from.iter().chain(&doc.to).chain(&doc.cc).chain(&doc.reply_to);
    all.map(mailbox_text).collect::<Vec<_>>().join(", ")
}

fn attachment_names(doc: &Document) -> String {
    doc.attachments.iter().filter_map(|a| a.filename.as_deref()).collect::<Vec<_>>().join(" ")
}

/// Migration 2: threads and search fields for the messages stored before.
pub(super) fn backfill_v2(tx: &Transaction<'_>) -> Result<()> {
    let rows: Vec<(i64, Option<String>, i64)> = {
        let mut stmt = tx.prepare("SELECT id, document, arrived_at FROM messages ORDER BY id")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (id, json, arrived_at) in rows {
        let doc: Option<Document> = json.and_then(|j| serde_json::from_str(&j).ok());
        if let Some(doc) = &doc {
            tx.execute(
                "UPDATE messages SET participants = ?1, attachment_names = ?2 WHERE id = ?3",
                params![participants(doc), attachment_names(doc), id],
            )?;
        }
        file_in_thread(tx, id, doc.as_ref(), arrived_at)?;
    }
    Ok(())
}

/// Migration 4: attachment rows for the messages stored before (their
/// blobs were not kept apart then).
pub(super) fn backfill_v4(tx: &Transaction<'_>) -> Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt =
            tx.prepare("SELECT id, document FROM messages WHERE document IS NOT NULL ORDER BY id")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
    };
    for (id, json) in rows {
        if let Ok(doc) = serde_json::from_str::<Document>(&json) {
            attachments::insert_for(tx, id, &doc, false)?;
        }
    }
    Ok(())
}

/// Marks messages as read (already read ones keep their first read time).
pub fn mark_read(conn: &Connection, ids: &[i64], now: i64) -> Result<usize> {
    let mut stmt =
        conn.prepare_cached("UPDATE messages SET read_at = ?1 WHERE id = ?2 AND read_at IS NULL")?;
    let mut changed = 0;
    for id in ids {
        changed += stmt.execute(params![now, id])?;
    }
    Ok(changed)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?)
}
