//! Full-text search over messages (SQLite FTS5): subject, participants,
//! latest reply, full text and attachment names, with filters.
//!
//! The rep's words become an FTS5 query of quoted terms, so punctuation in
//! an address or an order number is never read as query syntax; the last
//! word is a prefix ("quot" finds "quote") unless the text ends in a space.

use dealthread_mail::classify::MessageKind;
use dealthread_mail::document::Mailbox;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Result;

/// A search: words, and filters that all must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SearchQuery {
    pub text: String,
    pub deal_id: Option<String>,
    /// Part of the sender's address or name.
    pub from: Option<String>,
    /// Unix seconds, inclusive.
    #[ts(type = "number | null")]
    pub after: Option<i64>,
    /// Unix seconds, exclusive.
    #[ts(type = "number | null")]
    pub before: Option<i64>,
    pub has_attachment: Option<bool>,
    pub kind: Option<MessageKind>,
    pub limit: Option<u32>,
}

/// A piece of a snippet; `highlight` marks the words that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SnippetPart {
    pub text: String,
    pub highlight: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SearchHit {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number | null")]
    pub thread_id: Option<i64>,
    pub deal_id: Option<String>,
    pub date: Option<String>,
    pub from: Option<Mailbox>,
    pub subject: Option<String>,
    pub snippet: Vec<SnippetPart>,
}

const HIGHLIGHT_START: char = '\u{E000}';
const HIGHLIGHT_END: char = '\u{E001}';

/// Runs a search, best matches first. An empty text matches nothing.
pub fn search(conn: &Connection, query: &SearchQuery) -> Result<Vec<SearchHit>> {
    let Some(fts) = fts_query(&query.text) else {
        return Ok(Vec::new());
    };
    // Two steps: rank and filter first, which touches only the index and
    // the few columns filters need; then build snippets for the rows
    // returned. snippet() over every match before the LIMIT cost 100 ms at
    // 100,000 messages.
    let mut rank = conn.prepare_cached(
        "SELECT m.id
         FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
         WHERE messages_fts MATCH ?1
           AND (?2 IS NULL OR m.deal_id = ?2)
           AND (?3 IS NULL OR instr(lower(coalesce(m.from_address, '') || ' ' || coalesce(m.from_name, '')), lower(?3)) > 0)
           AND (?4 IS NULL OR m.sort_time >= ?4)
           AND (?5 IS NULL OR m.sort_time < ?5)
           AND (?6 IS NULL OR m.has_attachments = ?6)
           AND (?7 IS NULL OR m.kind = ?7)
         ORDER BY bm25(messages_fts, 6.0, 3.0, 2.0, 1.0, 2.0), m.sort_time DESC
         LIMIT ?8",
    )?;
    let ids: Vec<i64> = rank
        .query_map(
            params![
                fts,
                query.deal_id,
                query.from.as_deref().filter(|f| !f.is_empty()),
                query.after,
                query.before,
                query.has_attachment,
                query.kind.map(MessageKind::as_str),
                query.limit.unwrap_or(50).min(500),
            ],
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;

    let mut detail = conn.prepare_cached(
        "SELECT m.id, m.thread_id, m.deal_id, m.date, m.from_name, m.from_address, m.subject,
                snippet(messages_fts, -1, char(57344), char(57345), '…', 16)
         FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
         WHERE messages_fts MATCH ?1 AND messages_fts.rowid = ?2",
    )?;
    let mut hits = Vec::with_capacity(ids.len());
    for id in ids {
        let hit = detail.query_row(params![fts, id], |row| {
            let address: Option<String> = row.get(5)?;
            let snippet: String = row.get(7)?;
            Ok(SearchHit {
                id: row.get(0)?,
                thread_id: row.get(1)?,
                deal_id: row.get(2)?,
                date: row.get(3)?,
                from: address.map(|address| Mailbox { name: row.get(4).ok().flatten(), address }),
                subject: row.get(6)?,
                snippet: snippet_parts(&snippet),
            })
        })?;
        hits.push(hit);
    }
    Ok(hits)
}

/// Quoted terms, the last one a prefix. `None` when there is nothing to find.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    let mut query = words.join(" ");
    if query.is_empty() {
        return None;
    }
    if !text.ends_with(char::is_whitespace) {
        query.push('*');
    }
    Some(query)
}

fn snippet_parts(snippet: &str) -> Vec<SnippetPart> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut highlight = false;
    for c in snippet.chars() {
        if c == HIGHLIGHT_START || c == HIGHLIGHT_END {
            if !current.is_empty() {
                parts.push(SnippetPart { text: std::mem::take(&mut current), highlight });
            }
            highlight = c == HIGHLIGHT_START;
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        parts.push(SnippetPart { text: current, highlight });
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_and_the_last_one_is_a_prefix() {
        assert_eq!(fts_query("renewal quo").as_deref(), Some("\"renewal\" \"quo\"*"));
        assert_eq!(fts_query("PO-7781 ").as_deref(), Some("\"PO-7781\""));
        assert_eq!(
            fts_query("dana@northwind.example").as_deref(),
            Some("\"dana@northwind.example\"*")
        );
        assert_eq!(fts_query("  \"\" -- "), None);
    }

    #[test]
    fn snippets_split_into_highlighted_parts() {
        let parts = snippet_parts("the \u{E000}quote\u{E001} is fine");
        assert_eq!(parts.len(), 3);
        assert!(parts[1].highlight && parts[1].text == "quote");
    }
}
