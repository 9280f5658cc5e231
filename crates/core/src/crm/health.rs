//! How pushing to the CRMs has been going: every failed attempt logged
//! with its cause, the time from a message's arrival to its CRM write, and
//! each connection's counts. The app's sync health page and `status` read
//! it; nothing here changes what is pushed.

use rusqlite::{Connection, params};
use serde::Serialize;
use ts_rs::TS;

use super::outbox::{self, Counts, Delivery};
use crate::error::Result;

/// Failures are kept this long.
pub const KEEP_SECS: i64 = 30 * 24 * 3600;
/// The window the health page summarizes.
pub const WINDOW_SECS: i64 = 7 * 24 * 3600;

/// Why a delivery attempt failed, in the terms a sales-ops admin acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, rename = "FailureCause")]
pub enum Cause {
    /// HTTP 429: the CRM's rate limit; waits and retries.
    RateLimited,
    /// HTTP 5xx or 409: the CRM's side; retried.
    ServerError,
    /// No answer in time (or HTTP 408).
    Timeout,
    /// The CRM could not be reached: DNS, refused or reset connections, TLS.
    Network,
    /// The CRM refused the activity itself (another 4xx): dead-lettered.
    Rejected,
    /// The CRM refused the credentials: pushing pauses.
    Auth,
}

impl Cause {
    /// The cause of a failed delivery; `None` for one that was sent. The
    /// adapters put the HTTP status in their reasons as `HTTP nnn`.
    pub fn of(delivery: &Delivery) -> Option<Cause> {
        let reason = match delivery {
            Delivery::Sent { .. } => return None,
            Delivery::Paused { .. } => return Some(Cause::Auth),
            Delivery::Dead { reason } | Delivery::Retry { reason, .. } => reason,
        };
        let retried = matches!(delivery, Delivery::Retry { .. });
        Some(match http_status(reason) {
            Some(429) => Cause::RateLimited,
            Some(408) => Cause::Timeout,
            Some(401 | 403) => Cause::Auth,
            Some(409 | 500..=599) => Cause::ServerError,
            Some(_) => Cause::Rejected,
            None if !retried => Cause::Rejected,
            None if reason.contains("no answer") => Cause::Timeout,
            None => Cause::Network,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cause::RateLimited => "rate_limited",
            Cause::ServerError => "server_error",
            Cause::Timeout => "timeout",
            Cause::Network => "network",
            Cause::Rejected => "rejected",
            Cause::Auth => "auth",
        }
    }

    fn parse(text: &str) -> Option<Cause> {
        [
            Cause::RateLimited,
            Cause::ServerError,
            Cause::Timeout,
            Cause::Network,
            Cause::Rejected,
            Cause::Auth,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// The first `HTTP nnn` in a reason.
fn http_status(reason: &str) -> Option<u16> {
    reason.match_indices("HTTP ").find_map(|(at, _)| {
        let digits = reason.get(at + 5..at + 8)?;
        digits.parse::<u16>().ok().filter(|s| (100..600).contains(s))
    })
}

/// Logs one failed attempt (a sent one logs nothing) and forgets those
/// older than [`KEEP_SECS`].
pub fn log_failure(
    conn: &Connection,
    crm: &str,
    outbox_id: i64,
    delivery: &Delivery,
    now: i64,
) -> Result<()> {
    let Some(cause) = Cause::of(delivery) else { return Ok(()) };
    let detail = match delivery {
        Delivery::Retry { reason, .. }
        | Delivery::Dead { reason }
        | Delivery::Paused { reason } => reason.as_str(),
        Delivery::Sent { .. } => "",
    };
    conn.prepare_cached(
        "INSERT INTO push_failures (crm, outbox_id, at, cause, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![crm, outbox_id, now, cause.as_str(), detail])?;
    conn.prepare_cached("DELETE FROM push_failures WHERE at < ?1")?.execute([now - KEEP_SECS])?;
    Ok(())
}

/// Failures of one cause within the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct CauseCount {
    pub cause: Cause,
    #[ts(type = "number")]
    pub count: i64,
    /// Unix seconds of the latest, and what it said.
    #[ts(type = "number")]
    pub last_at: i64,
    pub last_detail: String,
}

/// Seconds from a message's arrival to its activity's CRM write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Latency {
    #[ts(type = "number")]
    pub activities: i64,
    #[ts(type = "number")]
    pub p50_secs: i64,
    #[ts(type = "number")]
    pub p95_secs: i64,
    #[ts(type = "number")]
    pub max_secs: i64,
}

/// One CRM connection as the health page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct ConnectionHealth {
    pub name: String,
    pub kind: String,
    pub paused_reason: Option<String>,
    pub counts: Counts,
    /// Unix seconds of its latest CRM write.
    #[ts(type = "number | null")]
    pub last_sent_at: Option<i64>,
}

/// Pushing at a glance, over the last [`WINDOW_SECS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct PushHealth {
    pub connections: Vec<ConnectionHealth>,
    /// `None` until something was sent in the window.
    pub latency: Option<Latency>,
    /// Most frequent first.
    pub failures: Vec<CauseCount>,
}

pub fn push_health(conn: &Connection, now: i64) -> Result<PushHealth> {
    let since = now - WINDOW_SECS;
    let mut connections = Vec::new();
    for account in super::accounts(conn)? {
        let last_sent_at = conn.query_row(
            "SELECT max(sent_at) FROM outbox WHERE crm = ?1 AND state = 'sent'",
            [&account.name],
            |r| r.get(0),
        )?;
        connections.push(ConnectionHealth {
            counts: outbox::counts(conn, Some(&account.name))?,
            name: account.name,
            kind: account.kind,
            paused_reason: account.paused_reason,
            last_sent_at,
        });
    }

    let mut stmt = conn.prepare(
        "SELECT max(0, o.sent_at - m.arrived_at) AS wait FROM outbox o
           JOIN messages m ON m.id = o.message_id
          WHERE o.state = 'sent' AND o.operation = 'create' AND o.sent_at >= ?1
          ORDER BY wait",
    )?;
    let waits: Vec<i64> =
        stmt.query_map([since], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let latency = (!waits.is_empty()).then(|| Latency {
        activities: waits.len() as i64,
        p50_secs: percentile(&waits, 50),
        p95_secs: percentile(&waits, 95),
        max_secs: waits[waits.len() - 1],
    });

    let mut stmt = conn.prepare(
        "SELECT cause, count(*), max(at),
                (SELECT detail FROM push_failures l WHERE l.cause = f.cause AND l.at >= ?1
                  ORDER BY l.at DESC, l.id DESC LIMIT 1)
           FROM push_failures f WHERE at >= ?1
          GROUP BY cause ORDER BY count(*) DESC, cause",
    )?;
    let failures = stmt
        .query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .filter_map(|row| match row {
            Ok((cause, count, last_at, last_detail)) => Cause::parse(&cause)
                .map(|cause| Ok(CauseCount { cause, count, last_at, last_detail })),
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<_>>()?;
    Ok(PushHealth { connections, latency, failures })
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> i64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn retry(reason: &str) -> Delivery {
        Delivery::Retry { reason: reason.into(), after: Some(Duration::from_secs(1)) }
    }

    #[test]
    fn causes_follow_the_status_the_adapters_report() {
        let cases = [
            (retry("HTTP 429: slow down"), Cause::RateLimited),
            (retry("HubSpot answered HTTP 503 to create: busy"), Cause::ServerError),
            (retry("HTTP 409"), Cause::ServerError),
            (retry("HTTP 408"), Cause::Timeout),
            (retry("no answer within 10 s"), Cause::Timeout),
            (retry("error sending request: connection reset by peer"), Cause::Network),
            (Delivery::Dead { reason: "HTTP 422: no such deal".into() }, Cause::Rejected),
            (
                Delivery::Dead { reason: "the activity could not be written".into() },
                Cause::Rejected,
            ),
            (Delivery::Paused { reason: "refused the token".into() }, Cause::Auth),
        ];
        for (delivery, cause) in cases {
            assert_eq!(Cause::of(&delivery), Some(cause), "{delivery:?}");
        }
        assert_eq!(Cause::of(&Delivery::Sent { crm_object_id: None }), None);
        assert_eq!(http_status("HTTP 4"), None);
        assert_eq!(http_status("got HTTP 9999"), None);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), 10);
        assert_eq!(percentile(&values, 95), 19);
        assert_eq!(percentile(&[7], 95), 7);
    }
}
