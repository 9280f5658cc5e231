//! The store at a glance, for `dealthread status`.

use rusqlite::Connection;
use serde::Serialize;

use crate::error::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overview {
    pub messages: i64,
    pub threads: i64,
    /// Readable, CRM-worthy kind, and on no deal yet.
    pub unmatched: i64,
    /// Kept with the reason they could not be read.
    pub unreadable: i64,
    /// Rebuilt from the provider's JSON because the raw MIME had expired.
    pub rebuilt: i64,
}

pub fn overview(conn: &Connection) -> Result<Overview> {
    Ok(conn.query_row(
        "SELECT (SELECT count(*) FROM messages),
                (SELECT count(*) FROM threads),
                (SELECT count(*) FROM messages
                  WHERE deal_id IS NULL AND kind = 'normal' AND parse_error IS NULL),
                (SELECT count(*) FROM messages WHERE parse_error IS NOT NULL),
                (SELECT count(*) FROM messages WHERE rebuilt_from IS NOT NULL)",
        [],
        |r| {
            Ok(Overview {
                messages: r.get(0)?,
                threads: r.get(1)?,
                unmatched: r.get(2)?,
                unreadable: r.get(3)?,
                rebuilt: r.get(4)?,
            })
        },
    )?)
}
