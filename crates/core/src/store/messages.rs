//! The `messages` and `message_sources` tables.

use dealthread_mail::Document;
use dealthread_mail::document::Mailbox;
use dealthread_mail::thread::thread_keys;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{attachments, deals, matches, threads};
use crate::error::Result;
use crate::matching::{Config, Decision, MatchStatus, Member, Rule};

/// One message on its way into the store.
pub struct NewMessage<'a> {
    /// `None` when the input could not be read as mail (see `parse_error`).
    pub document: Option<&'a Document>,
    /// The document as stored ([`document_json`]), made where the document
    /// was read so the serial writer does not spend its time on it.
    pub document_json: Option<&'a str>,
    pub parse_error: Option<&'a str>,
    pub raw_sha256: &'a str,
    pub raw_size: u64,
    /// The matcher's settings; `None` leaves the message unmatched (tests
    /// of the store alone).
    pub matching: Option<&'a Config>,
    /// The Date header as Unix seconds, when present and plausible.
    pub date_unix: Option<i64>,
    pub arrived_at: i64,
    pub source: &'a str,
    pub locator: &'a str,
    /// Whether the attachments' bytes are kept (in the raw message, and
    /// apart once retention removes that).
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
/// where this copy came from either way. The caller indexes what it
/// inserted for search with [`index_new`] once the batch is in.
pub fn insert(conn: &Connection, m: &NewMessage<'_>) -> Result<Inserted> {
    let key = m.dedupe_key();
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM messages WHERE dedupe_key = ?1")?
        .query_row([&key], |r| r.get(0))
        .optional()?;
    let outcome = match existing {
        Some(id) => Inserted::Duplicate(id),
        None => {
            let doc = m.document;
            let serialized;
            let json = match (doc, m.document_json) {
                (Some(doc), None) => {
                    serialized = document_json(doc)?;
                    Some(serialized.as_str())
                }
                (_, json) => json,
            };
            // Thread and Message-ID reuse are settled before the row is
            // written: updating a row afterwards rewrites all of it.
            let thread_id = threads::assign(conn, &thread_keys_of(doc), m.arrived_at)?;
            let sort_time = m.date_unix.unwrap_or(m.arrived_at);
            let (own, decision) = match (doc, m.matching) {
                (Some(doc), Some(config)) => {
                    let own = matches::decide(conn, doc, config)?;
                    // Ids only grow, so the new row ranks after every stored one.
                    let member = Member { id: i64::MAX, sort_time, own: own.clone(), pin: None };
                    let decision = matches::settle_thread(conn, thread_id, Some(member))?
                        .unwrap_or_else(|| own.clone());
                    (Some(own), decision)
                }
                (Some(_), None) => (None, Decision::unmatched("not matched yet".into())),
                (None, _) => (None, Decision::unmatched("the message could not be read".into())),
            };
            if let Some(deal) = &decision.assignment.deal_id {
                deals::ensure(conn, deal, m.arrived_at)?;
            }
            let own_json = own.as_ref().map(matches::own_json).transpose()?;
            let message_id = doc.and_then(|d| d.message_id.as_deref());
            let reused = match message_id {
                Some(message_id) => flag_reuse(conn, message_id)?,
                None => false,
            };
            conn.prepare_cached(
                "INSERT INTO messages (dedupe_key, message_id, content_hash, raw_sha256, raw_size,
                     subject, from_name, from_address, date, sort_time, arrived_at, kind,
                     latest_reply, text_body, has_attachments, document, parse_error, deal_id,
                     participants, attachment_names, thread_id, message_id_reused,
                     contact_id, company_id, match_status, match_rule, match_reason,
                     crm_worthy, not_worthy_reason, own_match, warnings)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                         ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
            )?
            .execute(params![
                    key,
                    message_id,
                    doc.map_or(m.raw_sha256, |d| d.content_hash.as_str()),
                    m.raw_sha256,
                    m.raw_size as i64,
                    doc.and_then(|d| d.subject.as_deref()),
                    doc.and_then(|d| d.from.as_ref()).and_then(|f| f.name.as_deref()),
                    doc.and_then(|d| d.from.as_ref()).map(|f| f.address.as_str()),
                    doc.and_then(|d| d.date.as_deref()),
                    sort_time,
                    m.arrived_at,
                    doc.map_or("unreadable", |d| d.classification.kind.as_str()),
                    doc.and_then(|d| d.latest_reply.as_deref()),
                    doc.and_then(|d| d.bodies.text.as_deref()),
                    doc.is_some_and(|d| !d.attachments.is_empty()),
                    json,
                    m.parse_error,
                    decision.assignment.deal_id,
                    doc.map(participants),
                    doc.map(attachment_names),
                    thread_id,
                    reused,
                    decision.assignment.contact_id,
                    decision.assignment.company_id,
                    decision.status.as_str(),
                    decision.rule.map(Rule::as_str),
                    decision.reason,
                    decision.not_worthy.is_none() && decision.status != MatchStatus::Internal,
                    decision.not_worthy,
                    own_json,
                    doc.and_then(super::reading::warnings_text),
                ])?;
            let id = conn.last_insert_rowid();
            if !decision.suggestions.is_empty() {
                matches::write_suggestions(conn, id, &decision.suggestions)?;
            }
            if let Some(doc) = doc {
                attachments::insert_for(conn, id, doc, m.attachments_stored)?;
            }
            Inserted::New(id)
        }
    };
    let id = match outcome {
        Inserted::New(id) | Inserted::Duplicate(id) => id,
    };
    conn.prepare_cached(
        "INSERT INTO message_sources (message_id, source, locator, added_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT(source, locator) DO NOTHING",
    )?
    .execute(params![id, m.source, m.locator, m.arrived_at])?;
    Ok(outcome)
}

/// A document as the `document` column holds it.
pub fn document_json(doc: &Document) -> Result<String> {
    serde_json::to_string(doc).map_err(|e| {
        crate::error::CoreError::InvalidInput(format!("document did not serialize: {e}"))
    })
}

fn thread_keys_of(doc: Option<&Document>) -> Vec<String> {
    doc.map_or_else(Vec::new, |d| {
        thread_keys(d.message_id.as_deref(), d.in_reply_to.as_deref(), &d.references)
    })
}

/// Whether a message about to be stored reuses a Message-ID already
/// stored (on a message with another dedupe key); if so, flags those too.
fn flag_reuse(conn: &Connection, message_id: &str) -> Result<bool> {
    let taken: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE message_id = ?1)")?
        .query_row([message_id], |r| r.get(0))?;
    if taken {
        conn.prepare_cached(
            "UPDATE messages SET message_id_reused = 1
             WHERE message_id = ?1 AND message_id_reused = 0",
        )?
        .execute([message_id])?;
    }
    Ok(taken)
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
        let thread_id = threads::assign(tx, &thread_keys_of(doc.as_ref()), arrived_at)?;
        let reused = match doc.as_ref().and_then(|d| d.message_id.as_deref()) {
            Some(message_id) => {
                let others: i64 = tx.query_row(
                    "SELECT count(*) FROM messages WHERE message_id = ?1 AND id < ?2",
                    params![message_id, id],
                    |r| r.get(0),
                )?;
                others > 0 && flag_reuse(tx, message_id)?
            }
            None => false,
        };
        tx.execute(
            "UPDATE messages SET thread_id = ?1, message_id_reused = message_id_reused OR ?2
             WHERE id = ?3",
            params![thread_id, reused, id],
        )?;
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

/// Version 14: each stored message's warnings.
pub(super) fn backfill_v14(tx: &Transaction<'_>) -> Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt =
            tx.prepare("SELECT id, document FROM messages WHERE document IS NOT NULL ORDER BY id")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
    };
    let mut update = tx.prepare("UPDATE messages SET warnings = ?1 WHERE id = ?2")?;
    for (id, json) in rows {
        if let Ok(doc) = serde_json::from_str::<Document>(&json)
            && let Some(text) = super::reading::warnings_text(&doc)
        {
            update.execute(params![text, id])?;
        }
    }
    Ok(())
}

/// The highest message row id so far (0 when empty): take it before a
/// batch of inserts and pass it to [`index_new`] after.
pub fn last_id(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| r.get(0))?)
}

/// Adds the messages inserted after `after_id` to the search index, in one
/// statement (see migration 6 for why not row by row).
pub fn index_new(conn: &Connection, after_id: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO messages_fts
             (rowid, subject, participants, latest_reply, text_body, attachment_names, search_tags)
         SELECT id, subject, participants, latest_reply, text_body, attachment_names, search_tags
         FROM messages WHERE id > ?1 ORDER BY id",
    )?
    .execute([after_id])?;
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
