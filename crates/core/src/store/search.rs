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

/// The indexed columns holding text, as an FTS5 column filter list.
const TEXT_COLUMNS: &str = "subject participants latest_reply text_body attachment_names";

/// How many of the newest matches are ranked by relevance.
const RECENT_WINDOW: usize = 500;

const HIGHLIGHT_START: char = '\u{E000}';
const HIGHLIGHT_END: char = '\u{E001}';

/// Runs a search, best matches first. An empty text matches nothing.
pub fn search(conn: &Connection, query: &SearchQuery) -> Result<Vec<SearchHit>> {
    let Some(mut fts) = fts_query(&query.text) else {
        return Ok(Vec::new());
    };
    // The rep's words look only at what a rep wrote or read, never at tags.
    fts = format!("{{{TEXT_COLUMNS}}} : ({fts})");
    if let Some(deal_id) = &query.deal_id {
        // The deal's token (migration 7): FTS5 intersects it with the words.
        fts = format!("({fts}) AND search_tags : \"zdeal{}\"", hex::encode(deal_id.as_bytes()));
    }
    // Ranking every match by bm25 cost over 100 ms at 100,000 messages for
    // common words. FTS5 walks matches newest first and stops early, so we
    // take the most recent RECENT_WINDOW matches that pass the filters and
    // rank those by relevance: the best matches among recent mail, which
    // is what a rep between calls is after. Then the returned rows are read
    // by key and their snippets built here (FTS5's snippet() would re-run
    // the match for every row).
    let mut rank = conn.prepare_cached(
        "SELECT m.id, bm25(messages_fts, 6.0, 3.0, 2.0, 1.0, 2.0, 0.0), m.sort_time
         FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
         WHERE messages_fts MATCH ?1
           AND (?2 IS NULL OR m.deal_id = ?2)
           AND (?3 IS NULL OR instr(lower(coalesce(m.from_address, '') || ' ' || coalesce(m.from_name, '')), lower(?3)) > 0)
           AND (?4 IS NULL OR m.sort_time >= ?4)
           AND (?5 IS NULL OR m.sort_time < ?5)
           AND (?6 IS NULL OR m.has_attachments = ?6)
           AND (?7 IS NULL OR m.kind = ?7)
         ORDER BY messages_fts.rowid DESC
         LIMIT ?8",
    )?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500) as usize;
    let mut window: Vec<(i64, f64, i64)> = rank
        .query_map(
            params![
                fts,
                query.deal_id,
                query.from.as_deref().filter(|f| !f.is_empty()),
                query.after,
                query.before,
                query.has_attachment,
                query.kind.map(MessageKind::as_str),
                (limit * 10).max(RECENT_WINDOW) as i64,
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    // bm25 is lower for better matches; ties go to the newer message.
    window.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)));
    let ids: Vec<i64> = window.into_iter().take(limit).map(|(id, _, _)| id).collect();

    let terms = query_terms(&query.text);
    let mut detail = conn.prepare_cached(
        "SELECT id, thread_id, deal_id, date, from_name, from_address, subject,
                coalesce(latest_reply, text_body, ''), participants, attachment_names
         FROM messages WHERE id = ?1",
    )?;
    let mut hits = Vec::with_capacity(ids.len());
    for id in ids {
        let hit = detail.query_row([id], |row| {
            let address: Option<String> = row.get(5)?;
            let subject: Option<String> = row.get(6)?;
            let candidates: [Option<String>; 4] =
                [row.get(7)?, subject.clone(), row.get(8)?, row.get(9)?];
            let snippet = candidates
                .iter()
                .flatten()
                .find_map(|text| snippet(text, &terms))
                .unwrap_or_default();
            Ok(SearchHit {
                id: row.get(0)?,
                thread_id: row.get(1)?,
                deal_id: row.get(2)?,
                date: row.get(3)?,
                from: address.map(|address| Mailbox { name: row.get(4).ok().flatten(), address }),
                subject,
                snippet,
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

/// The query's words, lower-cased, and whether the last one is a prefix.
fn query_terms(text: &str) -> (Vec<String>, bool) {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    (words, !text.ends_with(char::is_whitespace))
}

/// Up to ~16 words around the first matching word of `text`, the matching
/// words highlighted; `None` when no word matches. Built here rather than
/// by FTS5's snippet(), which must re-run the match for every hit.
fn snippet(text: &str, (terms, last_is_prefix): &(Vec<String>, bool)) -> Option<Vec<SnippetPart>> {
    const CONTEXT: usize = 8;
    let words: Vec<&str> = text.split_whitespace().collect();
    let matches = |word: &str| {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        terms.iter().enumerate().any(|(i, t)| {
            bare == *t || (*last_is_prefix && i + 1 == terms.len() && bare.starts_with(t.as_str()))
        })
    };
    let first = words.iter().position(|w| matches(w))?;
    let start = first.saturating_sub(CONTEXT);
    let end = (first + CONTEXT + 1).min(words.len());
    let mut marked = String::new();
    if start > 0 {
        marked.push('…');
    }
    for (i, word) in words[start..end].iter().enumerate() {
        if i > 0 {
            marked.push(' ');
        }
        if matches(word) {
            // Highlight the word, not the punctuation around it.
            let core_start = word.find(char::is_alphanumeric).unwrap_or(0);
            let core_end = word
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_alphanumeric())
                .map_or(word.len(), |(i, c)| i + c.len_utf8());
            marked.push_str(&word[..core_start]);
            marked.push(HIGHLIGHT_START);
            marked.push_str(&word[core_start..core_end]);
            marked.push(HIGHLIGHT_END);
            marked.push_str(&word[core_end..]);
        } else {
            marked.push_str(word);
        }
    }
    if end < words.len() {
        marked.push('…');
    }
    Some(snippet_parts(&marked))
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
    fn snippets_highlight_the_word_not_its_punctuation() {
        let parts = snippet("Can you send the questionnaire? Thanks", &query_terms("questionn"))
            .expect("a match");
        let highlighted: Vec<&str> =
            parts.iter().filter(|p| p.highlight).map(|p| p.text.as_str()).collect();
        assert_eq!(highlighted, vec!["questionnaire"]);
        assert!(snippet("nothing here", &query_terms("quote ")).is_none());
    }

    #[test]
    fn snippets_split_into_highlighted_parts() {
        let parts = snippet_parts("the \u{E000}quote\u{E001} is fine");
        assert_eq!(parts.len(), 3);
        assert!(parts[1].highlight && parts[1].text == "quote");
    }
}
