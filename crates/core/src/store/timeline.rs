//! A deal's timeline: the deal and its messages, oldest first.

use dealthread_mail::classify::MessageKind;
use dealthread_mail::document::Mailbox;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::deals::{self, Deal};
use super::threads;
use crate::error::Result;
use crate::matching::Rule;

/// What the timeline screen and `dealthread timeline --json` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DealTimeline {
    pub deal: Deal,
    pub messages: Vec<TimelineMessage>,
    /// The deal's contacts from the CRM cache.
    pub contacts: Vec<super::entities::Contact>,
    /// The address that files mail under this deal (`deal+ID@inbound`),
    /// when an inbound domain is set.
    pub alias: Option<String>,
    /// What the deal's activities share with the CRM: its own level, if
    /// set, and the default otherwise.
    pub sharing_level: Option<crate::crm::sharing::SharingLevel>,
    pub default_sharing: crate::crm::sharing::SharingLevel,
    /// People writing on this deal who are not CRM contacts yet: offered to
    /// the rep, never created silently.
    pub contact_offers: Vec<super::matches::ContactOffer>,
}

/// A thread within a deal's timeline, its messages in reply-tree order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ThreadGroup {
    #[ts(type = "number")]
    pub thread_id: i64,
    pub subject: Option<String>,
    /// RFC 3339 date of the thread's newest message.
    pub last_activity: Option<String>,
    pub messages: Vec<ThreadEntry>,
}

/// A message and how deep it sits in its thread's reply tree (0 = root).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ThreadEntry {
    pub message: TimelineMessage,
    #[ts(type = "number")]
    pub depth: usize,
}

/// A deal's mail grouped by thread, threads by newest activity first.
pub fn deal_threads(conn: &Connection, deal_id: &str) -> Result<Vec<ThreadGroup>> {
    let thread_ids: Vec<i64> = {
        let mut stmt = conn.prepare_cached(
            "SELECT thread_id FROM messages WHERE deal_id = ?1 AND thread_id IS NOT NULL
             GROUP BY thread_id ORDER BY max(sort_time) DESC, thread_id",
        )?;
        stmt.query_map([deal_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let mut groups = Vec::with_capacity(thread_ids.len());
    for thread_id in thread_ids {
        // Only this deal's messages of the thread: a thread can span deals
        // until the rep corrects it.
        let entries: Vec<ThreadEntry> = thread(conn, thread_id)?
            .into_iter()
            .filter(|e| e.message.deal_id.as_deref() == Some(deal_id))
            .collect();
        let subject = entries.first().and_then(|e| e.message.subject.clone());
        let last_activity =
            entries.iter().filter_map(|e| e.message.date.clone()).max_by_key(|d| d.clone());
        groups.push(ThreadGroup { thread_id, subject, last_activity, messages: entries });
    }
    Ok(groups)
}

/// One thread's messages in reply-tree order.
pub fn thread(conn: &Connection, thread_id: i64) -> Result<Vec<ThreadEntry>> {
    let order = threads::tree(conn, thread_id)?;
    let mut by_id: std::collections::HashMap<i64, TimelineMessage> =
        select(conn, "WHERE thread_id = ?1", thread_id)?.into_iter().map(|m| (m.id, m)).collect();
    Ok(order
        .into_iter()
        .filter_map(|(id, depth)| by_id.remove(&id).map(|message| ThreadEntry { message, depth }))
        .collect())
}

/// The timeline of a deal, or `None` when there is no such deal.
pub fn deal_timeline(conn: &Connection, deal_id: &str) -> Result<Option<DealTimeline>> {
    let Some(deal) = deals::get(conn, deal_id)? else {
        return Ok(None);
    };
    let config = super::matches::config(conn)?;
    let alias = config.inbound_domains.first().map(|domain| {
        format!(
            "{}@{domain}",
            config.alias_pattern.render(crate::matching::EntityKind::Deal, deal_id)
        )
    });
    Ok(Some(DealTimeline {
        messages: timeline(conn, deal_id)?,
        contacts: super::entities::deal_contacts(conn, deal_id)?,
        alias,
        sharing_level: crate::crm::sharing::level_of(
            conn,
            crate::matching::EntityKind::Deal,
            Some(deal_id),
        )?,
        default_sharing: crate::crm::sharing::default_level(conn)?,
        contact_offers: super::matches::contact_offers(conn, &config, Some(deal_id))?,
        deal,
    }))
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
    #[ts(type = "number | null")]
    pub thread_id: Option<i64>,
    pub deal_id: Option<String>,
    pub read: bool,
    /// The rule that filed the message here, and why, in words.
    pub match_rule: Option<Rule>,
    pub match_reason: Option<String>,
    /// Why the message is never pushed to the CRM, if it is not.
    pub not_worthy_reason: Option<String>,
    /// Where its activity stands with the CRM: queued, retrying, sent or
    /// failed; `None` when nothing was queued.
    pub push_state: Option<String>,
    /// What looks wrong about it (a failed DMARC verdict, a spoofed-looking
    /// sender), in words.
    pub warnings: Vec<String>,
    /// Whether the whole text holds more than the latest reply (quoted
    /// history, a signature): the reader shows it.
    pub has_quoted: bool,
    /// Its attachments, inline images left out.
    pub attachments: Vec<AttachmentChip>,
}

/// An attachment as a chip on a timeline message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AttachmentChip {
    pub position: u32,
    pub name: Option<String>,
    pub content_type: String,
    #[ts(type = "number")]
    pub size: u64,
    /// Why opening it is risky, if it is.
    pub warning: Option<String>,
}

/// Reads the JSON array of `[position, name, type, size, warning]` the
/// timeline query builds.
fn chips(json: Option<String>) -> Vec<AttachmentChip> {
    let Some(rows) = json.and_then(|j| serde_json::from_str::<Vec<serde_json::Value>>(&j).ok())
    else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|row| {
            Some(AttachmentChip {
                position: u32::try_from(row[0].as_u64()?).ok()?,
                name: row[1].as_str().map(str::to_string),
                content_type: row[2].as_str()?.to_string(),
                size: row[3].as_u64()?,
                warning: row[4].as_str().map(str::to_string),
            })
        })
        .collect()
}

/// A deal's messages, oldest first (by Date, then arrival).
pub fn timeline(conn: &Connection, deal_id: &str) -> Result<Vec<TimelineMessage>> {
    select(conn, "WHERE deal_id = ?1 ORDER BY sort_time, id", deal_id)
}

/// Timeline rows matching `tail` (a WHERE clause with one parameter, and
/// any ORDER BY and LIMIT).
fn select(
    conn: &Connection,
    tail: &str,
    param: impl rusqlite::ToSql,
) -> Result<Vec<TimelineMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, date, from_name, from_address, subject, coalesce(latest_reply, text_body),
                kind, has_attachments, parse_error, thread_id, deal_id, read_at IS NOT NULL,
                match_rule, match_reason, not_worthy_reason,
                (SELECT CASE WHEN o.state = 'sent' THEN 'sent' WHEN o.state = 'dead' THEN 'failed'
                             WHEN o.attempts > 0 THEN 'retrying' ELSE 'queued' END
                   FROM outbox o WHERE o.message_id = messages.id ORDER BY o.id DESC LIMIT 1),
                warnings,
                latest_reply IS NOT NULL AND length(text_body) > length(latest_reply) + 2,
                CASE WHEN has_attachments THEN
                  (SELECT json_group_array(json_array(a.position, a.filename, a.content_type,
                                                      a.size, a.warning))
                     FROM attachments a WHERE a.message_id = messages.id
                      AND NOT (a.content_id IS NOT NULL AND a.disposition IS 'inline'))
                END
         FROM messages {tail}"
    ))?;
    let rows = stmt.query_map([param], |row| {
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
            thread_id: row.get(9)?,
            deal_id: row.get(10)?,
            read: row.get(11)?,
            match_rule: row.get::<_, Option<String>>(12)?.as_deref().and_then(Rule::parse),
            match_reason: row.get(13)?,
            not_worthy_reason: row.get(14)?,
            push_state: row.get(15)?,
            warnings: row
                .get::<_, Option<String>>(16)?
                .map(|w| w.lines().map(str::to_string).collect())
                .unwrap_or_default(),
            has_quoted: row.get::<_, Option<bool>>(17)?.unwrap_or(false),
            attachments: chips(row.get(18)?),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
