//! The rep's corrections: move a message or a whole thread to another deal,
//! contact or company, mark it as not CRM-worthy, split a thread that was
//! wrongly joined or merge two that belong together, and turn a correction
//! into a sender rule. Each runs in one transaction, is logged with who,
//! when and the state before it, and can be undone.
//!
//! A correction is pinned on the messages it touches (see [`Pin`]): the
//! rules never override it, re-sync and re-import leave it alone (a copy of
//! a stored message only adds provenance), and the thread is settled again
//! so replies follow a moved thread.

use std::collections::HashSet;

use dealthread_mail::thread::thread_keys;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{Assignment, EntityKind, Pin};
use crate::error::{CoreError, Result};
use crate::store::matches::{self, Rematch};
use crate::store::{corrections, entities, threads};

/// Who makes corrections on this machine, for the log: the OS user.
pub fn local_actor() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "local user".into())
}

/// How far a rule made from a correction reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Always {
    /// The message's sender address.
    Sender,
    /// The sender's domain and its subdomains.
    Domain,
}

/// "Always file mail like this message's there": a sender rule for its
/// sender's address or domain.
pub fn rule_from_message(
    conn: &mut Connection,
    message_id: i64,
    always: Always,
    kind: EntityKind,
    entity_id: &str,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let sender = matches::sender_of(conn, message_id)?.ok_or_else(|| {
        CoreError::InvalidInput(format!("message {message_id} names no sender to make a rule for"))
    })?;
    let pattern = match always {
        Always::Sender => sender,
        Always::Domain => format!("@{}", super::addresses::domain_of(&sender).unwrap_or_default()),
    };
    add_rule(conn, &pattern, kind, entity_id, actor, now)
}

/// Which messages a correction applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Message(i64),
    /// The whole thread of this message, and replies that join it later.
    Thread(i64),
}

/// A correction made: its log id and what it did, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Applied {
    #[ts(type = "number")]
    pub correction_id: i64,
    pub summary: String,
    #[ts(type = "number")]
    pub messages: usize,
}

/// What undo puts back.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Before {
    /// Each touched message's pin before the correction.
    #[serde(default)]
    pins: Vec<(i64, Option<Pin>)>,
    /// Each moved message's thread before the correction.
    #[serde(default)]
    threads: Vec<(i64, i64)>,
    /// Each moved Message-ID key's thread before the correction.
    #[serde(default)]
    keys: Vec<(String, Option<i64>)>,
    /// A sender rule made or removed: its id, the rule in effect before
    /// (kind, entity) if any, and the messages it was applied to.
    #[serde(default)]
    rule: Option<RuleBefore>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RuleBefore {
    id: i64,
    pattern: String,
    replaced: Option<(EntityKind, String)>,
    messages: Vec<i64>,
}

impl Before {
    fn messages(&self) -> HashSet<i64> {
        let mut ids: HashSet<i64> = self.pins.iter().map(|(id, _)| *id).collect();
        ids.extend(self.threads.iter().map(|(id, _)| *id));
        if let Some(rule) = &self.rule {
            ids.extend(&rule.messages);
        }
        ids
    }
}

/// Moves a message or a thread to an entity of the CRM cache.
pub fn move_to(
    conn: &mut Connection,
    scope: Scope,
    kind: EntityKind,
    entity_id: &str,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let tx = conn.transaction()?;
    if !entities::exists(&tx, kind, entity_id)? {
        return Err(CoreError::InvalidInput(format!(
            "{} {entity_id} is not in the CRM cache; import or pull the CRM's entities first",
            kind.as_str()
        )));
    }
    let correction_id = corrections::insert(&tx, "move", actor, now)?;
    let (ids, thread) = scoped(&tx, scope)?;
    let mut before = Before::default();
    let mut from = Vec::new();
    for &id in &ids {
        let view = matches::view(&tx, id)?.ok_or_else(|| no_message(id))?;
        if let Some((k, e)) = view.assignment.primary() {
            let label = format!("{} {e}", k.as_str());
            if !from.contains(&label) {
                from.push(label);
            }
        }
        let old = matches::pin_of(&tx, id)?;
        let target = target_for(&tx, kind, entity_id, &view.assignment)?;
        let pin = Pin {
            correction_id,
            actor: actor.to_string(),
            target: Some(target),
            ignored: old.as_ref().is_some_and(|p| p.ignored),
            whole_thread: matches!(scope, Scope::Thread(_)),
        };
        matches::set_pin(&tx, id, Some(&pin))?;
        before.pins.push((id, old));
    }
    matches::settle_thread(&tx, thread, None)?;
    let what = match scope {
        Scope::Message(id) => format!("message {id}"),
        Scope::Thread(_) => format!("thread {thread} ({} messages)", ids.len()),
    };
    let from = if from.is_empty() { "unmatched".to_string() } else { from.join(", ") };
    let summary = format!("moved {what} from {from} to {} {entity_id}", kind.as_str());
    finish(tx, correction_id, &summary, &before, ids.len())
}

/// The entities a message moved to `kind`/`id` is filed under: a deal keeps
/// the sender's contact and company for the CRM's associations; a contact
/// brings its company.
fn target_for(
    conn: &Connection,
    kind: EntityKind,
    id: &str,
    current: &Assignment,
) -> Result<Assignment> {
    let mut target = Assignment::of(kind, id);
    match kind {
        EntityKind::Deal => {
            target.contact_id.clone_from(&current.contact_id);
            target.company_id.clone_from(&current.company_id);
        }
        EntityKind::Contact => {
            target.company_id = entities::contact(conn, id)?.and_then(|c| c.company_id);
        }
        EntityKind::Company => {}
    }
    Ok(target)
}

/// Marks a message or thread as not CRM-worthy: it stays filed where it is
/// and is never pushed.
pub fn mark_not_worthy(
    conn: &mut Connection,
    scope: Scope,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let tx = conn.transaction()?;
    let correction_id = corrections::insert(&tx, "ignore", actor, now)?;
    let (ids, thread) = scoped(&tx, scope)?;
    let mut before = Before::default();
    for &id in &ids {
        let old = matches::pin_of(&tx, id)?;
        let pin = Pin {
            correction_id,
            actor: actor.to_string(),
            target: old.as_ref().and_then(|p| p.target.clone()),
            ignored: true,
            whole_thread: old.as_ref().is_some_and(|p| p.whole_thread)
                || matches!(scope, Scope::Thread(_)),
        };
        matches::set_pin(&tx, id, Some(&pin))?;
        before.pins.push((id, old));
    }
    matches::settle_thread(&tx, thread, None)?;
    let summary = match scope {
        Scope::Message(id) => format!("marked message {id} as not CRM-worthy"),
        Scope::Thread(_) => {
            format!("marked thread {thread} ({} messages) as not CRM-worthy", ids.len())
        }
    };
    finish(tx, correction_id, &summary, &before, ids.len())
}

/// Accepts the review queue's suggestion `rank` (1 is the first) for a
/// message: its whole thread moves there.
pub fn accept(
    conn: &mut Connection,
    message_id: i64,
    rank: usize,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let suggestions = matches::suggestions(conn, message_id)?;
    let Some(choice) = rank.checked_sub(1).and_then(|i| suggestions.get(i)) else {
        return Err(CoreError::InvalidInput(format!(
            "message {message_id} has {} suggestion(s); there is no number {rank}",
            suggestions.len()
        )));
    };
    let (kind, id) = (choice.kind, choice.id.clone());
    move_to(conn, Scope::Thread(message_id), kind, &id, actor, now)
}

/// Splits a wrongly joined thread: the message and the replies below it
/// start a thread of their own.
pub fn split(conn: &mut Connection, message_id: i64, actor: &str, now: i64) -> Result<Applied> {
    let tx = conn.transaction()?;
    let thread = threads::of_message(&tx, message_id)?.ok_or_else(|| no_message(message_id))?;
    let members = threads::members(&tx, thread)?;
    let own_key = |mid: &Option<String>| thread_keys(mid.as_deref(), None, &[]).into_iter().next();
    let start = members.iter().find(|m| m.0 == message_id).ok_or_else(|| no_message(message_id))?;
    // The message and, repeatedly, every message naming one already taken.
    let mut taken: HashSet<i64> = HashSet::from([message_id]);
    let mut names: HashSet<String> = own_key(&start.1).into_iter().collect();
    loop {
        let before = taken.len();
        for (id, mid, parents) in &members {
            let names_taken = parents
                .iter()
                .any(|p| thread_keys(Some(p), None, &[]).iter().any(|k| names.contains(k)));
            if !taken.contains(id) && names_taken {
                taken.insert(*id);
                names.extend(own_key(mid));
            }
        }
        if taken.len() == before {
            break;
        }
    }
    if taken.len() == members.len() {
        return Err(CoreError::InvalidInput(format!(
            "message {message_id} starts its thread: splitting there would move the whole thread"
        )));
    }
    let correction_id = corrections::insert(&tx, "split", actor, now)?;
    let new_thread = threads::create(&tx, now)?;
    let mut before = Before::default();
    for (id, mid, _) in members.iter().filter(|m| taken.contains(&m.0)) {
        threads::move_message(&tx, *id, new_thread)?;
        before.threads.push((*id, thread));
        if let Some(key) = own_key(mid) {
            let old = threads::move_key(&tx, &key, new_thread)?;
            before.keys.push((key, old));
        }
    }
    matches::settle_thread(&tx, thread, None)?;
    matches::settle_thread(&tx, new_thread, None)?;
    let summary = format!(
        "split message {message_id} and {} repl(ies) out of thread {thread} into thread {new_thread}",
        taken.len() - 1
    );
    finish(tx, correction_id, &summary, &before, taken.len())
}

/// Merges the thread of message `other` into the thread of message `into`.
pub fn merge(
    conn: &mut Connection,
    into: i64,
    other: i64,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let tx = conn.transaction()?;
    let target = threads::of_message(&tx, into)?.ok_or_else(|| no_message(into))?;
    let source = threads::of_message(&tx, other)?.ok_or_else(|| no_message(other))?;
    if target == source {
        return Err(CoreError::InvalidInput(format!(
            "messages {into} and {other} are already in the same thread ({target})"
        )));
    }
    let correction_id = corrections::insert(&tx, "merge", actor, now)?;
    let mut before = Before::default();
    for (id, _, _) in threads::members(&tx, source)? {
        threads::move_message(&tx, id, target)?;
        before.threads.push((id, source));
    }
    for key in threads::keys(&tx, source)? {
        let old = threads::move_key(&tx, &key, target)?;
        before.keys.push((key, old));
    }
    matches::settle_thread(&tx, target, None)?;
    let summary =
        format!("merged thread {source} ({} messages) into thread {target}", before.threads.len());
    let count = before.threads.len();
    finish(tx, correction_id, &summary, &before, count)
}

/// "Always file mail from this sender / domain under this entity": saves
/// the rule and applies it to the stored mail no correction pins.
/// `pattern` is an address or `@domain` (subdomains included).
pub fn add_rule(
    conn: &mut Connection,
    pattern: &str,
    kind: EntityKind,
    entity_id: &str,
    actor: &str,
    now: i64,
) -> Result<Applied> {
    let pattern = super::addresses::parse_block_entry(pattern).map_err(|_| {
        CoreError::InvalidInput(format!(
            "sender rule {pattern:?}: expected an address (jane@example.com) or @domain"
        ))
    })?;
    if let Some(domain) = pattern.strip_prefix('@').filter(|d| super::addresses::is_free_mail(d)) {
        return Err(CoreError::InvalidInput(format!(
            "{domain} is a free-mail domain shared by strangers: make the rule for the sender's address instead"
        )));
    }
    let tx = conn.transaction()?;
    if !entities::exists(&tx, kind, entity_id)? {
        return Err(CoreError::InvalidInput(format!(
            "{} {entity_id} is not in the CRM cache; import or pull the CRM's entities first",
            kind.as_str()
        )));
    }
    let replaced = entities::sender_rules(&tx)?
        .into_iter()
        .find(|r| r.pattern == pattern)
        .map(|r| (r.kind, r.entity_id));
    let correction_id = corrections::insert(&tx, "rule", actor, now)?;
    let rule_id = entities::add_sender_rule(&tx, &pattern, kind, entity_id, actor, now)?;
    let messages = matches::ids_from_sender(&tx, &pattern)?;
    let config = matches::config(&tx)?;
    let changed = matches::rematch(&tx, &messages, &config, Rematch::Apply)?;
    let summary = format!(
        "rule #{rule_id}: always file mail from {pattern} under {} {entity_id} ({changed} stored message(s) refiled)",
        kind.as_str()
    );
    let before = Before {
        rule: Some(RuleBefore { id: rule_id, pattern, replaced, messages }),
        ..Before::default()
    };
    finish(tx, correction_id, &summary, &before, changed)
}

/// Retires a sender rule; the mail it filed goes back to the other rules.
pub fn remove_rule(conn: &mut Connection, rule_id: i64, actor: &str, now: i64) -> Result<Applied> {
    let tx = conn.transaction()?;
    let Some(rule) = entities::sender_rules(&tx)?.into_iter().find(|r| r.id == rule_id) else {
        return Err(CoreError::InvalidInput(format!("there is no active sender rule #{rule_id}")));
    };
    let correction_id = corrections::insert(&tx, "rule", actor, now)?;
    entities::remove_sender_rule(&tx, rule_id, now)?;
    let messages = matches::ids_from_sender(&tx, &rule.pattern)?;
    let config = matches::config(&tx)?;
    let changed = matches::rematch(&tx, &messages, &config, Rematch::Apply)?;
    let summary = format!(
        "removed rule #{rule_id} ({} -> {} {}; {changed} stored message(s) refiled)",
        rule.pattern,
        rule.kind.as_str(),
        rule.entity_id
    );
    let before = Before {
        rule: Some(RuleBefore {
            id: rule_id,
            pattern: rule.pattern,
            replaced: Some((rule.kind, rule.entity_id)),
            messages,
        }),
        ..Before::default()
    };
    finish(tx, correction_id, &summary, &before, changed)
}

/// Undoes a correction (the newest one still in effect when `id` is
/// `None`). A correction that a later one builds on (same messages) must
/// wait until that one is undone.
pub fn undo(conn: &mut Connection, id: Option<i64>, actor: &str, now: i64) -> Result<Applied> {
    let tx = conn.transaction()?;
    let id = match id {
        Some(id) => id,
        None => corrections::last_active(&tx)?
            .ok_or_else(|| CoreError::InvalidInput("there is no correction to undo".into()))?,
    };
    let (view, before) = corrections::get(&tx, id)?
        .ok_or_else(|| CoreError::InvalidInput(format!("there is no correction #{id}")))?;
    if view.undone_at.is_some() {
        return Err(CoreError::InvalidInput(format!("correction #{id} is already undone")));
    }
    let before: Before = serde_json::from_str(&before).map_err(|e| {
        CoreError::Corrupt(format!("correction #{id}: its saved state is unreadable: {e}"))
    })?;
    let touched = before.messages();
    for (later, later_before) in corrections::active_after(&tx, id)? {
        let later_before: Before = serde_json::from_str(&later_before).unwrap_or_default();
        if later_before.messages().iter().any(|m| touched.contains(m)) {
            return Err(CoreError::InvalidInput(format!(
                "correction #{} changed the same messages after #{id}; undo it first",
                later.id
            )));
        }
    }
    let mut threads_to_settle: Vec<i64> = Vec::new();
    for (message, thread) in &before.threads {
        threads_to_settle.extend(threads::of_message(&tx, *message)?);
        threads::move_message(&tx, *message, *thread)?;
        threads_to_settle.push(*thread);
    }
    for (key, thread) in &before.keys {
        match thread {
            Some(thread) => {
                threads::move_key(&tx, key, *thread)?;
            }
            None => {
                tx.execute("DELETE FROM thread_keys WHERE key = ?1", [key])?;
            }
        }
    }
    for (message, pin) in &before.pins {
        matches::set_pin(&tx, *message, pin.as_ref())?;
        threads_to_settle.extend(threads::of_message(&tx, *message)?);
    }
    if let Some(rule) = &before.rule {
        match &rule.replaced {
            Some((kind, entity)) => {
                entities::add_sender_rule(&tx, &rule.pattern, *kind, entity, &view.actor, now)?;
            }
            None => {
                entities::remove_sender_rule(&tx, rule.id, now)?;
            }
        }
        // Mail that arrived since the rule was made was filed by it too.
        let config = matches::config(&tx)?;
        let refile = matches::ids_from_sender(&tx, &rule.pattern)?;
        matches::rematch(&tx, &refile, &config, Rematch::Apply)?;
    }
    threads_to_settle.sort_unstable();
    threads_to_settle.dedup();
    for thread in threads_to_settle {
        matches::settle_thread(&tx, thread, None)?;
    }
    corrections::mark_undone(&tx, id, actor, now)?;
    tx.commit()?;
    Ok(Applied {
        correction_id: id,
        summary: format!("undid #{id}: {}", view.summary),
        messages: touched.len(),
    })
}

/// The messages a scope covers and their thread.
fn scoped(conn: &Connection, scope: Scope) -> Result<(Vec<i64>, i64)> {
    let message = match scope {
        Scope::Message(id) | Scope::Thread(id) => id,
    };
    let thread = threads::of_message(conn, message)?.ok_or_else(|| no_message(message))?;
    let ids = match scope {
        Scope::Message(id) => vec![id],
        Scope::Thread(_) => threads::members(conn, thread)?.into_iter().map(|m| m.0).collect(),
    };
    Ok((ids, thread))
}

fn no_message(id: i64) -> CoreError {
    CoreError::InvalidInput(format!("there is no readable message {id}"))
}

fn finish(
    tx: rusqlite::Transaction<'_>,
    correction_id: i64,
    summary: &str,
    before: &Before,
    messages: usize,
) -> Result<Applied> {
    let json = serde_json::to_string(before)
        .map_err(|e| CoreError::InvalidInput(format!("a correction did not serialize: {e}")))?;
    corrections::set_before(&tx, correction_id, summary, &json)?;
    tx.commit()?;
    Ok(Applied { correction_id, summary: summary.to_string(), messages })
}
