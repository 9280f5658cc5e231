//! The `threads` and `thread_keys` tables: threads as connected components
//! of Message-IDs (see `dealthread_mail::thread`).
//!
//! Each message's keys (its own id and every id it references) are looked
//! up; the threads they already belong to are merged into the oldest one,
//! and the keys recorded under it. Arrival order therefore changes thread
//! row ids but never which messages share a thread.

use dealthread_mail::thread::{self, ThreadMessage};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// References beyond this many (oldest dropped) are ignored: real threads
/// stay far below it, and it bounds the work a hostile header can cause.
const MAX_KEYS: usize = 200;

/// Finds (or starts) the thread of a message with these keys, merging the
/// threads the keys join, and returns its id; the caller stores it on the
/// message.
pub fn assign(conn: &Connection, keys: &[String], now: i64) -> Result<i64> {
    let keys: Vec<&String> = match keys.split_first() {
        Some((own, refs)) if keys.len() > MAX_KEYS => {
            std::iter::once(own).chain(refs[refs.len() - (MAX_KEYS - 1)..].iter()).collect()
        }
        _ => keys.iter().collect(),
    };
    // One cached lookup per key (a message has a handful), rather than an
    // IN list whose varying length would churn the statement cache.
    let mut existing: Vec<i64> = Vec::new();
    {
        let mut lookup = conn.prepare_cached("SELECT thread_id FROM thread_keys WHERE key = ?1")?;
        for key in &keys {
            if let Some(thread) = lookup.query_row([key], |r| r.get(0)).optional()? {
                existing.push(thread);
            }
        }
    }
    existing.sort_unstable();
    existing.dedup();
    let target = if existing.is_empty() {
        conn.prepare_cached("INSERT INTO threads (created_at) VALUES (?1)")?.execute([now])?;
        conn.last_insert_rowid()
    } else {
        let target = existing.remove(0);
        // Merges are common in an import (replies arrive before their
        // parents): the statements stay prepared.
        for other in existing {
            conn.prepare_cached("UPDATE messages SET thread_id = ?1 WHERE thread_id = ?2")?
                .execute([target, other])?;
            conn.prepare_cached("UPDATE thread_keys SET thread_id = ?1 WHERE thread_id = ?2")?
                .execute([target, other])?;
            conn.prepare_cached("DELETE FROM threads WHERE id = ?1")?.execute([other])?;
        }
        target
    };
    let mut put = conn.prepare_cached(
        "INSERT INTO thread_keys (key, thread_id) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET thread_id = excluded.thread_id",
    )?;
    for key in keys {
        put.execute(params![key, target])?;
    }
    Ok(target)
}

/// One thread's messages as a reply tree: (row id, depth), depth-first.
pub fn tree(conn: &Connection, thread_id: i64) -> Result<Vec<(i64, usize)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, message_id, document, sort_time FROM messages WHERE thread_id = ?1 ORDER BY sort_time, id",
    )?;
    let rows = stmt.query_map([thread_id], |row| {
        let document: Option<String> = row.get(2)?;
        let parsed = document.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok());
        let in_reply_to =
            parsed.as_ref().and_then(|d| d["in_reply_to"].as_str().map(str::to_string));
        let references = parsed
            .as_ref()
            .and_then(|d| d["references"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        Ok(ThreadMessage {
            id: row.get(0)?,
            message_id: row.get(1)?,
            in_reply_to,
            references,
            sort_time: row.get(3)?,
        })
    })?;
    let messages: Vec<ThreadMessage> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(thread::build_tree(&messages).into_iter().map(|p| (p.id, p.depth)).collect())
}

/// The thread a Message-ID belongs to, if it has been seen.
pub fn thread_of_key(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT thread_id FROM thread_keys WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// The thread a message is in.
pub fn of_message(conn: &Connection, message_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT thread_id FROM messages WHERE id = ?1")?
        .query_row([message_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// A message of a thread: its row id, its own Message-ID, and the ids it
/// names as parents (References, In-Reply-To).
pub type Member = (i64, Option<String>, Vec<String>);

/// The readable messages of a thread, oldest first.
pub fn members(conn: &Connection, thread_id: i64) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, message_id, json_extract(document, '$.in_reply_to'),
                json_extract(document, '$.references')
           FROM messages WHERE thread_id = ?1 AND parse_error IS NULL ORDER BY sort_time, id",
    )?;
    let rows = stmt.query_map([thread_id], |r| {
        let in_reply_to: Option<String> = r.get(2)?;
        let references: Option<String> = r.get(3)?;
        let mut parents: Vec<String> =
            references.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default();
        parents.extend(in_reply_to);
        Ok((r.get(0)?, r.get(1)?, parents))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Starts an empty thread.
pub fn create(conn: &Connection, now: i64) -> Result<i64> {
    conn.prepare_cached("INSERT INTO threads (created_at) VALUES (?1)")?.execute([now])?;
    Ok(conn.last_insert_rowid())
}

/// Puts a message in a thread, with its own Message-ID's key.
pub fn move_message(conn: &Connection, message_id: i64, thread_id: i64) -> Result<()> {
    conn.prepare_cached("UPDATE messages SET thread_id = ?2 WHERE id = ?1")?
        .execute(params![message_id, thread_id])?;
    Ok(())
}

/// Points a Message-ID's key at a thread; returns the thread it was in.
pub fn move_key(conn: &Connection, key: &str, thread_id: i64) -> Result<Option<i64>> {
    let before: Option<i64> = conn
        .prepare_cached("SELECT thread_id FROM thread_keys WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    conn.prepare_cached(
        "INSERT INTO thread_keys (key, thread_id) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET thread_id = excluded.thread_id",
    )?
    .execute(params![key, thread_id])?;
    Ok(before)
}

/// Every key recorded under a thread.
pub fn keys(conn: &Connection, thread_id: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT key FROM thread_keys WHERE thread_id = ?1")?;
    Ok(stmt.query_map([thread_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}
