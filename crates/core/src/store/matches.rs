//! Each message's match as stored: the columns the timeline and the outbox
//! read (`deal_id`, `contact_id`, `company_id`, `match_*`, `crm_worthy`),
//! the rules' own decision beside them (`own_match`), a correction's pin,
//! and the review queue's suggestions.

use dealthread_mail::Document;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::entities::SqlDirectory;
use super::{deals, settings};
use crate::error::{CoreError, Result};
use crate::matching::addresses::AliasPattern;
use crate::matching::{
    self, Assignment, Config, Decision, EntityKind, MatchStatus, Member, Pin, Rule, Suggestion,
};

/// The matcher's settings as saved.
pub fn config(conn: &Connection) -> Result<Config> {
    let alias_pattern = match settings::get(conn, "alias_pattern")? {
        Some(pattern) => AliasPattern::parse(&pattern)?,
        None => AliasPattern::default(),
    };
    Ok(Config {
        inbound_domains: settings::inbound_domains(conn)?,
        team_domains: settings::list(conn, "team_domains")?,
        alias_pattern,
        block_list: settings::list(conn, "block_list")?,
    })
}

/// The rules' decision for a document, from the cache in this database.
pub fn decide(conn: &Connection, doc: &Document, config: &Config) -> Result<Decision> {
    matching::decide(doc, config, &SqlDirectory::new(conn))
}

pub fn own_json(decision: &Decision) -> Result<String> {
    serde_json::to_string(decision)
        .map_err(|e| CoreError::InvalidInput(format!("a match did not serialize: {e}")))
}

/// Settles a thread (see [`matching::settle`]) and writes every message
/// whose match changed. `incoming` is a message about to be inserted into
/// it (its id must be above every stored one); its decision is returned
/// for the caller to insert with the row.
pub fn settle_thread(
    conn: &Connection,
    thread_id: i64,
    incoming: Option<Member>,
) -> Result<Option<Decision>> {
    let (mut members, current) = load_thread(conn, thread_id)?;
    if members.is_empty() {
        return Ok(incoming.map(|m| matching::settle(std::slice::from_ref(&m)).remove(0)));
    }
    let with_incoming = incoming.is_some();
    members.extend(incoming);
    let mut settled = matching::settle(&members);
    for ((member, now), decision) in members.iter().zip(&current).zip(&settled) {
        if !same_outcome(now, decision) {
            write(conn, member.id, decision)?;
            let worthy = |d: &Decision| d.not_worthy.is_none() && d.status != MatchStatus::Internal;
            if now.assignment != decision.assignment || worthy(now) != worthy(decision) {
                crate::crm::outbox::enqueue_update(conn, member.id, crate::crm::outbox::now_ms())?;
            }
        }
    }
    Ok(if with_incoming { settled.pop() } else { None })
}

/// Whether two decisions file a message the same way (suggestions aside:
/// they change only with the rules' own decision, see [`rematch`]).
fn same_outcome(a: &Decision, b: &Decision) -> bool {
    a.status == b.status
        && a.rule == b.rule
        && a.reason == b.reason
        && a.assignment == b.assignment
        && a.not_worthy == b.not_worthy
}

/// A thread's messages with the match each holds now (suggestions left out).
fn load_thread(conn: &Connection, thread_id: i64) -> Result<(Vec<Member>, Vec<Decision>)> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, sort_time, own_match, pin, match_status, match_rule, match_reason,
                deal_id, contact_id, company_id, not_worthy_reason
           FROM messages WHERE thread_id = ?1 AND parse_error IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([thread_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            stored_decision(r, 4)?,
        ))
    })?;
    let mut members = Vec::new();
    let mut current = Vec::new();
    for row in rows {
        let (id, sort_time, own, pin, now) = row?;
        // Rows stored before matching kept its result only in the columns.
        let own = match own {
            Some(json) => parse_json(&json, id, "own_match")?,
            None => now.clone(),
        };
        let pin = pin.map(|json| parse_json(&json, id, "pin")).transpose()?;
        members.push(Member { id, sort_time, own, pin });
        current.push(now);
    }
    Ok((members, current))
}

fn parse_json<T: serde::de::DeserializeOwned>(json: &str, id: i64, column: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| CoreError::Corrupt(format!("message {id}: its {column} is unreadable: {e}")))
}

/// The decision held in a row's columns, from `at`: status, rule, reason,
/// deal, contact, company, not_worthy_reason.
fn stored_decision(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Decision> {
    let status: String = r.get(at)?;
    let rule: Option<String> = r.get(at + 1)?;
    Ok(Decision {
        status: MatchStatus::parse(&status).unwrap_or(MatchStatus::Unmatched),
        rule: rule.as_deref().and_then(Rule::parse),
        reason: r.get::<_, Option<String>>(at + 2)?.unwrap_or_default(),
        assignment: Assignment {
            deal_id: r.get(at + 3)?,
            contact_id: r.get(at + 4)?,
            company_id: r.get(at + 5)?,
        },
        suggestions: Vec::new(),
        not_worthy: r.get(at + 6)?,
    })
}

/// Writes a message's final match (and replaces its suggestions).
fn write(conn: &Connection, id: i64, d: &Decision) -> Result<()> {
    if let Some(deal) = &d.assignment.deal_id {
        deals::ensure(conn, deal, crate::ingest::unix_now())?;
    }
    conn.prepare_cached(
        "UPDATE messages SET match_status = ?2, match_rule = ?3, match_reason = ?4, deal_id = ?5,
                contact_id = ?6, company_id = ?7, crm_worthy = ?8, not_worthy_reason = ?9
          WHERE id = ?1",
    )?
    .execute(params![
        id,
        d.status.as_str(),
        d.rule.map(Rule::as_str),
        d.reason,
        d.assignment.deal_id,
        d.assignment.contact_id,
        d.assignment.company_id,
        d.not_worthy.is_none() && d.status != MatchStatus::Internal,
        d.not_worthy,
    ])?;
    write_suggestions(conn, id, &d.suggestions)
}

/// Replaces a message's suggestions.
pub fn write_suggestions(conn: &Connection, id: i64, suggestions: &[Suggestion]) -> Result<()> {
    conn.prepare_cached("DELETE FROM match_suggestions WHERE message_id = ?1")?.execute([id])?;
    let mut add = conn.prepare_cached(
        "INSERT INTO match_suggestions (message_id, rank, entity_kind, entity_id, reason)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (rank, s) in suggestions.iter().enumerate() {
        add.execute(params![id, rank as i64 + 1, s.kind.as_str(), s.id, s.reason])?;
    }
    Ok(())
}

/// Sets (or clears) a message's pin; the caller settles its thread.
pub fn set_pin(conn: &Connection, id: i64, pin: Option<&Pin>) -> Result<()> {
    let json = pin
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| CoreError::InvalidInput(format!("a correction did not serialize: {e}")))?;
    conn.prepare_cached("UPDATE messages SET pin = ?2 WHERE id = ?1")?
        .execute(params![id, json])?;
    Ok(())
}

pub fn pin_of(conn: &Connection, id: i64) -> Result<Option<Pin>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT pin FROM messages WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten();
    json.map(|j| parse_json(&j, id, "pin")).transpose()
}

/// How the rules' decision is refreshed when the CRM cache or the rules
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rematch {
    /// The new decision replaces the old (a new sender rule).
    Apply,
    /// An unmatched message that now matches keeps waiting in the review
    /// queue with the match offered for re-linking (a new deal or contact
    /// in the CRM): the rep confirms it.
    Offer,
}

/// Runs the rules again on these messages, then settles their threads.
/// Returns how many changed (or, with [`Rematch::Offer`], how many got an
/// offer).
pub fn rematch(conn: &Connection, ids: &[i64], config: &Config, mode: Rematch) -> Result<usize> {
    let mut threads = Vec::new();
    let mut changed = 0;
    let mut read = conn.prepare_cached(
        "SELECT document, own_match, thread_id FROM messages
          WHERE id = ?1 AND document IS NOT NULL AND parse_error IS NULL",
    )?;
    for &id in ids {
        let Some((document, own, thread)) = read
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let doc: Document = parse_json(&document, id, "document")?;
        let old: Option<Decision> = own.map(|j| parse_json(&j, id, "own_match")).transpose()?;
        let mut new = decide(conn, &doc, config)?;
        if mode == Rematch::Offer {
            let was_open = old.as_ref().is_none_or(|o| o.status == MatchStatus::Unmatched);
            if !(was_open && new.status == MatchStatus::Matched) {
                continue;
            }
            let Some((kind, entity)) = new.assignment.primary() else { continue };
            let offer = Suggestion {
                kind,
                id: entity.to_string(),
                reason: format!("new in the CRM since this arrived: {}", new.reason),
            };
            let mut kept = old.unwrap_or_else(|| Decision::unmatched(String::new()));
            if kept.suggestions.contains(&offer) {
                continue;
            }
            kept.suggestions.insert(0, offer);
            new = kept;
        } else if old.as_ref() == Some(&new) {
            continue;
        }
        conn.prepare_cached("UPDATE messages SET own_match = ?2 WHERE id = ?1")?
            .execute(params![id, own_json(&new)?])?;
        changed += 1;
        threads.extend(thread);
    }
    threads.sort_unstable();
    threads.dedup();
    for thread in threads {
        settle_thread(conn, thread, None)?;
        // A thread settled without change keeps its old suggestions; the
        // offers live in `own_match`, so copy them for unchanged rows too.
        copy_own_suggestions(conn, thread)?;
    }
    Ok(changed)
}

fn copy_own_suggestions(conn: &Connection, thread: i64) -> Result<()> {
    let (members, current) = load_thread(conn, thread)?;
    for (member, now) in members.iter().zip(&current) {
        if now.status != MatchStatus::Matched && member.pin.is_none() {
            write_suggestions(conn, member.id, &member.own.suggestions)?;
        }
    }
    Ok(())
}

/// Messages the rules left for the rep, with the ids [`rematch`] takes.
pub fn open_ids(conn: &Connection) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM messages WHERE match_status IN ('unmatched', 'ambiguous')
            AND parse_error IS NULL AND pin IS NULL ORDER BY id",
    )?;
    Ok(stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

/// Messages from a sender (an address, or `@domain` with its subdomains)
/// that no correction pins, for [`rematch`] after a new sender rule.
pub fn ids_from_sender(conn: &Connection, pattern: &str) -> Result<Vec<i64>> {
    let (sql, value) = match pattern.strip_prefix('@') {
        Some(domain) => (
            "SELECT id FROM messages WHERE pin IS NULL AND parse_error IS NULL
               AND (lower(from_address) LIKE '%@' || ?1 OR lower(from_address) LIKE '%.' || ?1)",
            domain.to_string(),
        ),
        None => (
            "SELECT id FROM messages WHERE pin IS NULL AND parse_error IS NULL
               AND lower(from_address) = ?1",
            pattern.to_string(),
        ),
    };
    let mut stmt = conn.prepare(sql)?;
    Ok(stmt.query_map([value], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

/// A message's sender, lower-cased, for a rule made from a correction.
pub fn sender_of(conn: &Connection, id: i64) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT lower(from_address) FROM messages WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// A message's match as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MatchView {
    #[ts(type = "number")]
    pub message_id: i64,
    #[ts(type = "number | null")]
    pub thread_id: Option<i64>,
    pub status: MatchStatus,
    pub rule: Option<Rule>,
    pub reason: String,
    pub assignment: Assignment,
    pub crm_worthy: bool,
    pub not_worthy_reason: Option<String>,
    pub suggestions: Vec<Suggestion>,
    /// Set when a correction decides this message.
    #[ts(type = "number | null")]
    pub correction_id: Option<i64>,
}

pub fn view(conn: &Connection, id: i64) -> Result<Option<MatchView>> {
    let row = conn
        .prepare_cached(
            "SELECT thread_id, crm_worthy, pin, match_status, match_rule, match_reason,
                    deal_id, contact_id, company_id, not_worthy_reason
               FROM messages WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, Option<String>>(2)?,
                stored_decision(r, 3)?,
            ))
        })
        .optional()?;
    let Some((thread_id, crm_worthy, pin, decision)) = row else { return Ok(None) };
    let pin: Option<Pin> = pin.map(|j| parse_json(&j, id, "pin")).transpose()?;
    Ok(Some(MatchView {
        message_id: id,
        thread_id,
        status: decision.status,
        rule: decision.rule,
        reason: decision.reason,
        assignment: decision.assignment,
        crm_worthy,
        not_worthy_reason: decision.not_worthy,
        suggestions: suggestions(conn, id)?,
        correction_id: pin.map(|p| p.correction_id),
    }))
}

pub fn suggestions(conn: &Connection, id: i64) -> Result<Vec<Suggestion>> {
    let mut stmt = conn.prepare_cached(
        "SELECT entity_kind, entity_id, reason FROM match_suggestions WHERE message_id = ?1 ORDER BY rank",
    )?;
    let rows = stmt.query_map([id], |r| {
        let kind: String = r.get(0)?;
        Ok(Suggestion {
            kind: EntityKind::parse(&kind).unwrap_or(EntityKind::Deal),
            id: r.get(1)?,
            reason: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One message waiting for the rep in the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReviewItem {
    #[ts(type = "number")]
    pub message_id: i64,
    #[ts(type = "number | null")]
    pub thread_id: Option<i64>,
    pub date: Option<String>,
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub snippet: Option<String>,
    pub status: MatchStatus,
    pub reason: String,
    pub suggestions: Vec<Suggestion>,
}

/// Ambiguous and unmatched CRM-worthy messages, newest first.
pub fn review_queue(conn: &Connection, limit: u32) -> Result<Vec<ReviewItem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, thread_id, date, from_name, from_address, subject,
                substr(coalesce(latest_reply, text_body, ''), 1, 240), match_status, match_reason
           FROM messages
          WHERE match_status IN ('ambiguous', 'unmatched') AND crm_worthy = 1 AND parse_error IS NULL
          ORDER BY sort_time DESC, id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        let status: String = r.get(7)?;
        Ok(ReviewItem {
            message_id: r.get(0)?,
            thread_id: r.get(1)?,
            date: r.get(2)?,
            from_name: r.get(3)?,
            from_address: r.get(4)?,
            subject: r.get(5)?,
            snippet: r
                .get::<_, Option<String>>(6)?
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            status: MatchStatus::parse(&status).unwrap_or(MatchStatus::Unmatched),
            reason: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            suggestions: Vec::new(),
        })
    })?;
    let mut items: Vec<ReviewItem> = rows.collect::<rusqlite::Result<_>>()?;
    for item in &mut items {
        item.suggestions = suggestions(conn, item.message_id)?;
    }
    Ok(items)
}

/// A sender on a matched deal who is not a CRM contact yet: offered to the
/// rep as a new contact, never created silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ContactOffer {
    pub address: String,
    pub name: Option<String>,
    pub deal_id: String,
    #[ts(type = "number")]
    pub messages: i64,
}

/// The senders to offer as contacts, on every deal or on one (`deal_id`).
/// A deal's timeline asks for its own only, and through the index on
/// `deal_id` alone (the `+` keeps SQLite off the match-status index, which
/// would walk every matched message): taken together, 300 ms of a
/// 2,000-message timeline over 100,000 messages became a few.
pub fn contact_offers(
    conn: &Connection,
    config: &Config,
    deal_id: Option<&str>,
) -> Result<Vec<ContactOffer>> {
    let scope = if deal_id.is_some() {
        "m.deal_id = ?1 AND +m.crm_worthy = 1 AND +m.match_status = 'matched'"
    } else {
        "m.deal_id IS NOT NULL AND m.crm_worthy = 1 AND m.match_status = 'matched'"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT lower(m.from_address), max(m.from_name), m.deal_id, count(*)
           FROM messages m
          WHERE {scope} AND m.contact_id IS NULL AND m.from_address IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM contact_emails e WHERE e.address = lower(m.from_address))
          GROUP BY lower(m.from_address), m.deal_id
          ORDER BY m.deal_id, lower(m.from_address)"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(deal_id), |r| {
        Ok(ContactOffer {
            address: r.get(0)?,
            name: r.get(1)?,
            deal_id: r.get(2)?,
            messages: r.get(3)?,
        })
    })?;
    let offers: Vec<ContactOffer> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(offers
        .into_iter()
        .filter(|o| {
            let team = crate::matching::addresses::domain_of(&o.address).is_some_and(|d| {
                config.team_domains.iter().any(|t| crate::matching::addresses::domain_within(&d, t))
            });
            !team
                && crate::matching::addresses::blocked_because(&o.address, &config.block_list)
                    .is_none()
        })
        .collect())
}
