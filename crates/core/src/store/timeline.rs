//! A deal's timeline: the deal and its messages, oldest first.

use dealthread_mail::classify::MessageKind;
use dealthread_mail::document::Mailbox;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::deals::{self, Deal};
use crate::error::Result;

/// What the timeline screen and `dealthread timeline --json` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DealTimeline {
    pub deal: Deal,
    pub messages: Vec<TimelineMessage>,
}

/// The timeline of a deal, or `None` when there is no such deal.
pub fn deal_timeline(conn: &Connection, deal_id: &str) -> Result<Option<DealTimeline>> {
    let Some(deal) = deals::get(conn, deal_id)? else {
        return Ok(None);
    };
    Ok(Some(DealTimeline { deal, messages: timeline(conn, deal_id)? }))
}

/// A message as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimelineMessage {
    #[ts(type = "number")]
    pub id: i64,
    pub date: Option<String>,
    pub from: Option<Mailbox>,
    pub subject: Option<String>,
    /// The latest reply, or the whole text when no reply could be separated.
    pub body: Option<String>,
    /// `None` for input that could not be read as mail.
    pub kind: Option<MessageKind>,
    pub has_attachments: bool,
    pub parse_error: Option<String>,
}

/// A deal's messages, oldest first (by Date, then arrival).
pub fn timeline(conn: &Connection, deal_id: &str) -> Result<Vec<TimelineMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, date, from_name, from_address, subject, coalesce(latest_reply, text_body),
                kind, has_attachments, parse_error
         FROM messages WHERE deal_id = ?1 ORDER BY sort_time, id",
    )?;
    let rows = stmt.query_map([deal_id], |row| {
        let address: Option<String> = row.get(3)?;
        let kind: String = row.get(6)?;
        Ok(TimelineMessage {
            id: row.get(0)?,
            date: row.get(1)?,
            from: address.map(|address| Mailbox { name: row.get(2).ok().flatten(), address }),
            subject: row.get(4)?,
            body: row.get(5)?,
            kind: serde_json::from_value(serde_json::Value::String(kind)).ok(),
            has_attachments: row.get(7)?,
            parse_error: row.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
