//! The outbox: which activities wait for which CRM, and the loop that
//! delivers them with retries, backoff and a dead-letter state.
//!
//! A row is marked in flight (committed) before its request goes out. If
//! the process dies there, the next run puts it back in the queue and sends
//! it again with the same idempotency key, so the CRM keeps one activity.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ts_rs::TS;

use crate::error::Result;
use crate::sources::Retry;

/// A row gives up after this many attempts...
pub const MAX_ATTEMPTS: i64 = 10;
/// ...or this long after it was queued.
pub const MAX_AGE_SECS: i64 = 24 * 3600;

/// What an adapter made of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        crm_object_id: Option<String>,
    },
    /// Worth trying again: a network failure, a timeout, 408, 409, 429, 5xx.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Trying again cannot help (a 4xx that says the request is wrong).
    Dead {
        reason: String,
    },
    /// The CRM refused the credentials: stop pushing to it altogether.
    Paused {
        reason: String,
    },
}

/// One queued activity, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: i64,
    pub operation: String,
    pub idempotency_key: String,
    pub attempts: i64,
    pub payload: serde_json::Value,
    /// For an update: the CRM's id for the activity, when the create
    /// recorded one, and the create's key to search for it otherwise.
    pub crm_object_id: Option<String>,
    pub create_key: Option<String>,
}

/// Delivers one item to one CRM.
pub trait Adapter {
    fn deliver(&self, item: &Item) -> Delivery;

    /// How many creates this adapter can deliver in one request; 1 when
    /// its CRM has no batch endpoint.
    fn batch_size(&self) -> usize {
        1
    }

    /// Delivers several items (creates, at most [`Adapter::batch_size`]),
    /// one outcome per item in the same order.
    fn deliver_batch(&self, items: &[Item]) -> Vec<Delivery> {
        items.iter().map(|item| self.deliver(item)).collect()
    }
}

/// Queues a `create` for every CRM-worthy message not queued for `crm`
/// yet: matched, readable, and neither internal, an auto-reply, a bounce,
/// list mail, a blocked sender nor marked by the rep. Returns how many.
pub fn enqueue_new(conn: &Connection, crm: &str, now_ms: i64) -> Result<usize> {
    let now = now_ms / 1000;
    Ok(conn.execute(
        "INSERT OR IGNORE INTO outbox
             (crm, message_id, operation, idempotency_key, next_attempt_ms, created_at, updated_at)
         SELECT ?1, m.id, 'create', m.dedupe_key || '|' || ?1 || '|create', ?2, ?3, ?3
         FROM messages m
         WHERE m.match_status = 'matched' AND m.crm_worthy = 1 AND m.kind = 'normal'
           AND m.parse_error IS NULL
           AND (m.deal_id IS NOT NULL OR m.contact_id IS NOT NULL OR m.company_id IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM outbox o
                           WHERE o.crm = ?1 AND o.message_id = m.id AND o.operation = 'create')",
        params![crm, now_ms, now],
    )?)
}

/// Queues an `update` for a message whose match changed after its
/// activity may have reached a CRM (its create was sent or is in flight),
/// so the CRM's associations follow the correction; a create still
/// waiting needs none, as it is built from the message when it goes. One
/// waiting update per message and CRM is enough: it too is built when it
/// goes. Returns how many were queued.
pub fn enqueue_update(conn: &Connection, message_id: i64, now_ms: i64) -> Result<usize> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO outbox
             (crm, message_id, operation, idempotency_key, next_attempt_ms, created_at, updated_at)
         SELECT c.crm, c.message_id, 'update',
                m.dedupe_key || '|' || c.crm || '|update|' ||
                    (1 + (SELECT count(*) FROM outbox u WHERE u.crm = c.crm
                            AND u.message_id = c.message_id AND u.operation = 'update')),
                ?2, ?2 / 1000, ?2 / 1000
           FROM outbox c JOIN messages m ON m.id = c.message_id
          WHERE c.message_id = ?1 AND c.operation = 'create' AND c.state IN ('sent', 'in_flight')
            AND NOT EXISTS (SELECT 1 FROM outbox u WHERE u.crm = c.crm AND u.message_id = c.message_id
                              AND u.operation = 'update' AND u.state = 'pending')",
        params![message_id, now_ms],
    )?)
}

/// Counts by state, as `outbox list`, `status` and the app show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export, rename = "OutboxCounts")]
pub struct Counts {
    /// Waiting for their first attempt.
    #[ts(type = "number")]
    pub pending: i64,
    #[ts(type = "number")]
    pub in_flight: i64,
    /// Failed at least once and waiting to be retried.
    #[ts(type = "number")]
    pub failed: i64,
    #[ts(type = "number")]
    pub dead: i64,
    #[ts(type = "number")]
    pub sent: i64,
    /// Held back by flood control: their sender's domain sent its hourly
    /// share already.
    #[ts(type = "number")]
    pub held: i64,
}

pub fn counts(conn: &Connection, crm: Option<&str>) -> Result<Counts> {
    let mut counts = Counts::default();
    let mut stmt = conn.prepare(
        "SELECT state, attempts > 0, held_reason IS NOT NULL, count(*) FROM outbox
          WHERE ?1 IS NULL OR crm = ?1
         GROUP BY state, attempts > 0, held_reason IS NOT NULL",
    )?;
    let rows = stmt.query_map([crm], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, bool>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (state, tried, held, n) = row?;
        match (state.as_str(), tried) {
            ("pending", _) if held => counts.held += n,
            ("pending", false) => counts.pending += n,
            ("pending", true) => counts.failed += n,
            ("in_flight", _) => counts.in_flight += n,
            ("dead", _) => counts.dead += n,
            ("sent", _) => counts.sent += n,
            _ => {}
        }
    }
    Ok(counts)
}

/// A row as `outbox list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export, rename = "OutboxRow")]
pub struct Row {
    #[ts(type = "number")]
    pub id: i64,
    pub crm: String,
    pub operation: String,
    pub state: String,
    #[ts(type = "number")]
    pub attempts: i64,
    pub subject: Option<String>,
    pub last_error: Option<String>,
    /// Why flood control holds it back, while it does.
    pub held_reason: Option<String>,
    #[ts(type = "number")]
    pub next_attempt_ms: i64,
}

/// Every row that is not sent yet, dead ones first.
pub fn unsent(conn: &Connection) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare(
        "SELECT o.id, o.crm, o.operation, o.state, o.attempts, m.subject, o.last_error,
                o.next_attempt_ms, o.held_reason
         FROM outbox o JOIN messages m ON m.id = o.message_id
         WHERE o.state != 'sent'
         ORDER BY o.state = 'dead' DESC, o.next_attempt_ms, o.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            crm: r.get(1)?,
            operation: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get(4)?,
            subject: r.get(5)?,
            last_error: r.get(6)?,
            next_attempt_ms: r.get(7)?,
            held_reason: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Makes failed rows due now (`id`, or all of them). Returns how many.
pub fn retry_now(conn: &Connection, id: Option<i64>, now_ms: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET next_attempt_ms = ?1 WHERE state = 'pending' AND (?2 IS NULL OR id = ?2)",
        params![now_ms, id],
    )?)
}

/// Puts dead-letter rows back in the queue with a fresh count of attempts
/// (`id`, or all of them), once their cause is fixed. Returns how many.
pub fn replay(conn: &Connection, id: Option<i64>, now_ms: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?1,
             created_at = ?2, updated_at = ?2
         WHERE state = 'dead' AND (?3 IS NULL OR id = ?3)",
        params![now_ms, now_ms / 1000, id],
    )?)
}

/// What one push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    /// Held back by flood control this pass (they wait in the outbox).
    pub held: usize,
    /// Set when the CRM refused the credentials and pushing stopped.
    pub paused: Option<String>,
}

/// How the push loop behaves.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub retry: Retry,
    /// Keep going until nothing is pending (sleeping until the next retry
    /// is due), rather than stopping when nothing is due now.
    pub until_empty: bool,
    /// Stop after this long even if work remains (it stays queued).
    pub budget: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retry: Retry {
                attempts: MAX_ATTEMPTS as u32,
                base: Duration::from_secs(2),
                max: Duration::from_secs(15 * 60),
            },
            until_empty: false,
            budget: Duration::from_secs(60),
        }
    }
}

/// Delivers what is due for `crm` through `adapter`, one at a time, in
/// queue order. `payload` builds the body of a row from its message.
pub fn push(
    conn: &Connection,
    crm: &str,
    adapter: &dyn Adapter,
    policy: Policy,
    stop: &dyn Fn() -> bool,
) -> Result<PushReport> {
    let started = std::time::Instant::now();
    let mut report = PushReport::default();
    // A row left in flight by a process that died: send it again (same key).
    conn.execute(
        "UPDATE outbox SET state = 'pending' WHERE crm = ?1 AND state = 'in_flight'",
        [crm],
    )?;
    let size = adapter.batch_size().max(1);
    'passes: while !stop() && started.elapsed() < policy.budget {
        let now = now_ms();
        let batch = take_batch(conn, crm, size, now, &mut report)?;
        if batch.is_empty() {
            let next: Option<i64> = conn.query_row(
                "SELECT min(next_attempt_ms) FROM outbox WHERE crm = ?1 AND state = 'pending'",
                [crm],
                |r| r.get(0),
            )?;
            match next {
                Some(at) if policy.until_empty => {
                    let wait = Duration::from_millis((at - now).clamp(1, 60_000) as u64);
                    crate::sources::sleep_unless(stop, wait);
                    continue;
                }
                _ => break,
            }
        }
        let deliveries = match batch.as_slice() {
            [one] => vec![adapter.deliver(one)],
            many => adapter.deliver_batch(many),
        };
        for (item, delivery) in batch.iter().zip(deliveries) {
            if record(conn, crm, item, delivery, &policy, &mut report)? {
                break 'passes;
            }
        }
    }
    Ok(report)
}

/// Takes up to `size` due items for one request and marks them in flight:
/// creates together, an update alone. Items flood control holds back are
/// rescheduled on the way.
fn take_batch(
    conn: &Connection,
    crm: &str,
    size: usize,
    now: i64,
    report: &mut PushReport,
) -> Result<Vec<Item>> {
    let mut batch: Vec<Item> = Vec::new();
    while batch.len() < size {
        let Some(item) = next_due(conn, crm, now, !batch.is_empty())? else { break };
        if let Some(held) = flood_hold(conn, crm, &item, now)? {
            conn.execute(
                "UPDATE outbox SET held_reason = ?1, next_attempt_ms = ?2 WHERE id = ?3",
                params![held.0, held.1, item.id],
            )?;
            report.held += 1;
            continue;
        }
        conn.execute(
            "UPDATE outbox SET state = 'in_flight', held_reason = NULL, updated_at = ?1 WHERE id = ?2",
            params![now / 1000, item.id],
        )?;
        let alone = item.operation != "create";
        batch.push(item);
        if alone {
            break;
        }
    }
    Ok(batch)
}

/// Records one delivery's outcome. Returns true when the CRM refused the
/// credentials and pushing must stop.
fn record(
    conn: &Connection,
    crm: &str,
    item: &Item,
    delivery: Delivery,
    policy: &Policy,
    report: &mut PushReport,
) -> Result<bool> {
    let now = now_ms();
    super::health::log_failure(conn, crm, item.id, &delivery, now / 1000)?;
    match delivery {
        Delivery::Sent { crm_object_id } => {
            conn.execute(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?1,
                     updated_at = ?1, last_error = NULL, crm_object_id = ?2 WHERE id = ?3",
                params![now / 1000, crm_object_id, item.id],
            )?;
            report.sent += 1;
        }
        Delivery::Retry { reason, after } => {
            let attempts = item.attempts + 1;
            let created: i64 =
                conn.query_row("SELECT created_at FROM outbox WHERE id = ?1", [item.id], |r| {
                    r.get(0)
                })?;
            if attempts >= MAX_ATTEMPTS || now / 1000 - created >= MAX_AGE_SECS {
                let why = format!("gave up after {attempts} attempts; the last: {reason}");
                dead(conn, item.id, attempts, &why, now)?;
                report.dead += 1;
            } else {
                let backoff = policy.retry.delay(attempts as u32 - 1);
                let wait = after.map_or(backoff, |after| after.max(backoff));
                conn.execute(
                    "UPDATE outbox SET state = 'pending', attempts = ?1, last_error = ?2,
                         next_attempt_ms = ?3, updated_at = ?4 WHERE id = ?5",
                    params![attempts, reason, now + wait.as_millis() as i64, now / 1000, item.id],
                )?;
                report.retried += 1;
            }
        }
        Delivery::Dead { reason } => {
            dead(conn, item.id, item.attempts + 1, &reason, now)?;
            report.dead += 1;
        }
        Delivery::Paused { reason } => {
            // Every item of the request goes back to wait for new credentials.
            conn.execute(
                "UPDATE outbox SET state = 'pending', last_error = ?1 WHERE crm = ?2 AND state = 'in_flight'",
                params![reason, crm],
            )?;
            super::pause(conn, crm, &reason)?;
            report.paused = Some(reason);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Activities a sender domain may create per hour in one CRM before the
/// rest waits (the `flood_limit_per_hour` setting).
pub const DEFAULT_FLOOD_LIMIT: i64 = 200;

pub fn flood_limit(conn: &Connection) -> Result<i64> {
    Ok(crate::store::settings::get(conn, "flood_limit_per_hour")?
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_FLOOD_LIMIT))
}

/// Flood control: when the item's sender domain has created its hourly
/// share of activities in this CRM already, why it waits and until when
/// (ms). Updates always go: they change no count in the CRM.
fn flood_hold(
    conn: &Connection,
    crm: &str,
    item: &Item,
    now_ms: i64,
) -> Result<Option<(String, i64)>> {
    if item.operation != "create" {
        return Ok(None);
    }
    let Some(domain) =
        item.payload["from"]["address"].as_str().and_then(crate::matching::addresses::domain_of)
    else {
        return Ok(None);
    };
    let limit = flood_limit(conn)?;
    let window_start = now_ms / 1000 - 3600;
    let (sent, oldest): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), min(o.sent_at) FROM outbox o JOIN messages m ON m.id = o.message_id
              WHERE o.crm = ?1 AND o.operation = 'create'
                AND ((o.state = 'sent' AND o.sent_at >= ?2) OR o.state = 'in_flight')
                AND lower(m.from_address) LIKE '%@' || ?3",
        )?
        .query_row(params![crm, window_start, domain], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if sent < limit {
        return Ok(None);
    }
    let until_ms = (oldest.unwrap_or(now_ms / 1000) + 3600) * 1000;
    let reason = format!(
        "held by flood control: {sent} activities from {domain} in the last hour (limit {limit}); goes at {}",
        httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + Duration::from_millis(until_ms.max(0) as u64)
        )
    );
    Ok(Some((reason, until_ms.max(now_ms + 1000))))
}

fn dead(conn: &Connection, id: i64, attempts: i64, reason: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET state = 'dead', attempts = ?1, last_error = ?2, updated_at = ?3
         WHERE id = ?4",
        params![attempts, reason, now / 1000, id],
    )?;
    Ok(())
}

/// The next due item; with `creates_only`, the next due create (to join a
/// batch of creates).
fn next_due(conn: &Connection, crm: &str, now: i64, creates_only: bool) -> Result<Option<Item>> {
    let row = conn
        .query_row(
            "SELECT o.id, o.operation, o.idempotency_key, o.attempts, o.message_id
             FROM outbox o
             WHERE o.crm = ?1 AND o.state = 'pending' AND o.next_attempt_ms <= ?2
               AND (?3 = 0 OR o.operation = 'create')
             ORDER BY o.next_attempt_ms, o.id LIMIT 1",
            params![crm, now, creates_only],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, operation, idempotency_key, attempts, message_id)) = row else {
        return Ok(None);
    };
    let payload = super::sharing::payload(conn, message_id)?;
    let (crm_object_id, create_key) = if operation == "update" {
        conn.query_row(
            "SELECT crm_object_id, idempotency_key FROM outbox
              WHERE crm = ?1 AND message_id = ?2 AND operation = 'create'",
            params![crm, message_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((None, None))
    } else {
        (None, None)
    };
    Ok(Some(Item { id, operation, idempotency_key, attempts, payload, crm_object_id, create_key }))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
