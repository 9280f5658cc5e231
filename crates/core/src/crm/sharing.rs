//! What an activity shares with the CRM, and the payload built from it.
//!
//! Each deal or contact has a sharing level (the deal's wins; without
//! either, the default setting): only the metadata (who, when, ids), the
//! subject and the latest reply (the default), or everything (the bodies
//! and the attachments' names, types and sizes; never their bytes). Text
//! leaves redacted by the mail engine's rules (card numbers, IBANs, SSNs,
//! each confirmed by its check digits). [`payload`] is the exact body an
//! adapter sends, so the app's preview shows exactly that.

use dealthread_mail::redact::{RedactionRules, redact, redact_content};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{CoreError, Result};
use crate::matching::EntityKind;
use crate::store::settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SharingLevel {
    /// Sender, recipients, date and ids: no subject, no text.
    Metadata,
    /// Metadata, the subject and the latest reply (quoted history left out).
    LatestReply,
    /// Everything readable: subject, latest reply, the text and sanitized
    /// HTML bodies, and the attachments' metadata.
    Full,
}

impl SharingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SharingLevel::Metadata => "metadata",
            SharingLevel::LatestReply => "latest_reply",
            SharingLevel::Full => "full",
        }
    }

    pub fn parse(text: &str) -> Option<SharingLevel> {
        [SharingLevel::Metadata, SharingLevel::LatestReply, SharingLevel::Full]
            .into_iter()
            .find(|l| l.as_str() == text)
    }
}

pub fn default_level(conn: &Connection) -> Result<SharingLevel> {
    Ok(settings::get(conn, "sharing_default")?
        .as_deref()
        .and_then(SharingLevel::parse)
        .unwrap_or(SharingLevel::LatestReply))
}

pub fn set_default_level(conn: &Connection, level: SharingLevel) -> Result<()> {
    settings::set(conn, "sharing_default", level.as_str())
}

/// Sets (or with `None` clears) a deal's or contact's level.
pub fn set_level(
    conn: &Connection,
    kind: EntityKind,
    id: &str,
    level: Option<SharingLevel>,
    now: i64,
) -> Result<()> {
    if kind == EntityKind::Company {
        return Err(CoreError::InvalidInput(
            "sharing levels are set per deal or per contact".into(),
        ));
    }
    match level {
        Some(level) => conn.execute(
            "INSERT INTO sharing_levels (entity_kind, entity_id, level, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(entity_kind, entity_id) DO UPDATE SET level = excluded.level,
                 updated_at = excluded.updated_at",
            params![kind.as_str(), id, level.as_str(), now],
        )?,
        None => conn.execute(
            "DELETE FROM sharing_levels WHERE entity_kind = ?1 AND entity_id = ?2",
            params![kind.as_str(), id],
        )?,
    };
    // What was already pushed for this deal or contact now shares more or
    // less: each of those activities is updated in the CRM.
    let column = if kind == EntityKind::Deal { "deal_id" } else { "contact_id" };
    let ids: Vec<i64> = conn
        .prepare(&format!("SELECT id FROM messages WHERE {column} = ?1"))?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for message in ids {
        super::outbox::enqueue_update(conn, message, super::outbox::now_ms())?;
    }
    Ok(())
}

/// A deal's or contact's own level, if it has one.
pub fn level_of(
    conn: &Connection,
    kind: EntityKind,
    id: Option<&str>,
) -> Result<Option<SharingLevel>> {
    let Some(id) = id else { return Ok(None) };
    let level: Option<String> = conn
        .prepare_cached(
            "SELECT level FROM sharing_levels WHERE entity_kind = ?1 AND entity_id = ?2",
        )?
        .query_row(params![kind.as_str(), id], |r| r.get(0))
        .optional()?;
    Ok(level.as_deref().and_then(SharingLevel::parse))
}

/// The level for a message filed under this deal and contact.
pub fn level_for(
    conn: &Connection,
    deal_id: Option<&str>,
    contact_id: Option<&str>,
) -> Result<SharingLevel> {
    match level_of(conn, EntityKind::Deal, deal_id)? {
        Some(level) => Ok(level),
        None => match level_of(conn, EntityKind::Contact, contact_id)? {
            Some(level) => Ok(level),
            None => default_level(conn),
        },
    }
}

/// The redaction rules applied to what leaves (all on by default).
pub fn redaction_rules(conn: &Connection) -> Result<RedactionRules> {
    match settings::get(conn, "redaction_rules")? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| CoreError::Corrupt(format!("the redaction_rules setting: {e}"))),
        None => Ok(RedactionRules::default()),
    }
}

pub fn set_redaction_rules(conn: &Connection, rules: &RedactionRules) -> Result<()> {
    let json = serde_json::to_string(rules)
        .map_err(|e| CoreError::InvalidInput(format!("redaction rules: {e}")))?;
    settings::set(conn, "redaction_rules", &json)
}

/// A message's columns the payload is built from.
struct Stored {
    dedupe_key: String,
    message_id: Option<String>,
    subject: Option<String>,
    from_name: Option<String>,
    from_address: Option<String>,
    date: Option<String>,
    deal_id: Option<String>,
    contact_id: Option<String>,
    company_id: Option<String>,
    crm_worthy: bool,
    has_attachments: bool,
    latest_reply: Option<String>,
    document: Option<String>,
}

/// The activity body for a message, exactly as the adapters send it.
pub fn payload(conn: &Connection, message_id: i64) -> Result<serde_json::Value> {
    let stored = conn
        .prepare_cached(
            "SELECT dedupe_key, message_id, subject, from_name, from_address, date,
                    deal_id, contact_id, company_id, crm_worthy, has_attachments, latest_reply, document
               FROM messages WHERE id = ?1",
        )?
        .query_row([message_id], |r| {
            Ok(Stored {
                dedupe_key: r.get(0)?,
                message_id: r.get(1)?,
                subject: r.get(2)?,
                from_name: r.get(3)?,
                from_address: r.get(4)?,
                date: r.get(5)?,
                deal_id: r.get(6)?,
                contact_id: r.get(7)?,
                company_id: r.get(8)?,
                crm_worthy: r.get(9)?,
                has_attachments: r.get(10)?,
                latest_reply: r.get(11)?,
                document: r.get(12)?,
            })
        })
        .optional()?
        .ok_or_else(|| CoreError::NotFound(format!("message {message_id}: no such message")))?;
    let Stored {
        dedupe_key,
        message_id: message_id_header,
        subject,
        from_name,
        from_address,
        date,
        deal_id,
        contact_id,
        company_id,
        crm_worthy,
        has_attachments,
        latest_reply,
        document,
    } = stored;
    let level = level_for(conn, deal_id.as_deref(), contact_id.as_deref())?;
    let rules = redaction_rules(conn)?;
    let doc: serde_json::Value = document
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(serde_json::Value::Null);
    let list = |v: &serde_json::Value| if v.is_array() { v.clone() } else { serde_json::json!([]) };
    let mut data = serde_json::json!({
        "dedupe_key": dedupe_key,
        "message_id": message_id_header,
        "direction": "inbound",
        "sharing": level.as_str(),
        "from": {"name": from_name, "address": from_address},
        "to": list(&doc["to"]),
        "cc": list(&doc["cc"]),
        "date": date,
        "deal_id": deal_id,
        "contact_id": contact_id,
        "company_id": company_id,
        "crm_worthy": crm_worthy,
        "has_attachments": has_attachments,
    });
    if level == SharingLevel::Metadata {
        return Ok(data);
    }
    data["subject"] = serde_json::json!(subject.map(|s| redact(&s, &rules).0));
    if level == SharingLevel::LatestReply {
        data["latest_reply"] = serde_json::json!(latest_reply.map(|s| redact(&s, &rules).0));
        return Ok(data);
    }
    let content = redact_content(
        doc["bodies"]["text"].as_str(),
        doc["html_sanitized"].as_str(),
        latest_reply.as_deref(),
        &rules,
    );
    data["latest_reply"] = serde_json::json!(content.latest_reply);
    data["text"] = serde_json::json!(content.text);
    data["html"] = serde_json::json!(content.html);
    data["redacted"] = serde_json::json!(content.report.total());
    let attachments: Vec<serde_json::Value> = doc["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            serde_json::json!({
                "filename": a["filename"], "content_type": a["content_type"],
                "size": a["size"], "sha256": a["sha256"],
            })
        })
        .collect();
    data["attachments"] = serde_json::json!(attachments);
    Ok(data)
}
