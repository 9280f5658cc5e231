//! The `deals` table: the local copy of the CRM's deals.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Result;

/// A deal as the CRM describes it (the entities file of DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Deal {
    pub id: String,
    pub name: Option<String>,
    pub stage: Option<String>,
    pub amount: Option<f64>,
    pub owner: Option<String>,
    pub close_date: Option<String>,
}

/// A row of the deal list: the deal and its mail activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DealSummary {
    pub deal: Deal,
    #[ts(type = "number")]
    pub message_count: i64,
    #[ts(type = "number")]
    pub unread_count: i64,
    /// RFC 3339 date of the newest message, if any.
    pub last_activity: Option<String>,
}

/// Inserts or replaces a deal's CRM fields.
pub fn upsert(conn: &Connection, deal: &Deal, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO deals (id, name, stage, amount, owner, close_date, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, stage = excluded.stage,
             amount = excluded.amount, owner = excluded.owner,
             close_date = excluded.close_date, updated_at = excluded.updated_at",
        params![deal.id, deal.name, deal.stage, deal.amount, deal.owner, deal.close_date, now],
    )?;
    Ok(())
}

/// Makes sure a deal row exists for an id seen in mail before the CRM told
/// us about it; its fields stay empty until the entities are imported.
pub fn ensure(conn: &Connection, id: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO deals (id, updated_at) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
        params![id, now],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Deal>> {
    Ok(conn
        .query_row(
            "SELECT id, name, stage, amount, owner, close_date FROM deals WHERE id = ?1",
            [id],
            row_to_deal,
        )
        .optional()?)
}

/// Every deal with its message count and last activity, most recent first.
pub fn list(conn: &Connection) -> Result<Vec<DealSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.name, d.stage, d.amount, d.owner, d.close_date,
                count(m.id), max(m.sort_time), count(m.id) FILTER (WHERE m.read_at IS NULL),
                (SELECT date FROM messages WHERE deal_id = d.id ORDER BY sort_time DESC, id DESC LIMIT 1)
         FROM deals d LEFT JOIN messages m ON m.deal_id = d.id
         GROUP BY d.id
         ORDER BY max(m.sort_time) IS NULL, max(m.sort_time) DESC, d.name, d.id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(DealSummary {
            deal: row_to_deal(row)?,
            message_count: row.get(6)?,
            unread_count: row.get(8)?,
            last_activity: row.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn row_to_deal(row: &rusqlite::Row<'_>) -> rusqlite::Result<Deal> {
    Ok(Deal {
        id: row.get(0)?,
        name: row.get(1)?,
        stage: row.get(2)?,
        amount: row.get(3)?,
        owner: row.get(4)?,
        close_date: row.get(5)?,
    })
}

/// Whether a deal in this stage is still open. CRMs name their closing
/// stages `closedwon` / `Closed Lost` / `won`; anything else (or no stage
/// yet) counts as open.
pub fn is_open_stage(stage: Option<&str>) -> bool {
    let Some(stage) = stage else { return true };
    let folded: String =
        stage.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    !(folded.starts_with("closed") || folded == "won" || folded == "lost")
}
