//! The `corrections` table: the log of the rep's corrections, each with the
//! state before it (JSON) so it can be undone.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CorrectionView {
    #[ts(type = "number")]
    pub id: i64,
    /// move | ignore | split | merge | rule
    pub action: String,
    /// From what to what, in words.
    pub summary: String,
    pub actor: String,
    #[ts(type = "number")]
    pub created_at: i64,
    #[ts(type = "number | null")]
    pub undone_at: Option<i64>,
    pub undone_by: Option<String>,
}

/// Starts a log entry; the caller fills in the before state with
/// [`set_before`] once it has made the change.
pub fn insert(conn: &Connection, action: &str, actor: &str, now: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO corrections (action, summary, actor, created_at, before)
         VALUES (?1, '', ?2, ?3, '{}')",
        params![action, actor, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn set_before(conn: &Connection, id: i64, summary: &str, before: &str) -> Result<()> {
    conn.execute(
        "UPDATE corrections SET summary = ?2, before = ?3 WHERE id = ?1",
        params![id, summary, before],
    )?;
    Ok(())
}

pub fn mark_undone(conn: &Connection, id: i64, actor: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE corrections SET undone_at = ?2, undone_by = ?3 WHERE id = ?1",
        params![id, now, actor],
    )?;
    Ok(())
}

/// A correction and its before state.
pub fn get(conn: &Connection, id: i64) -> Result<Option<(CorrectionView, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, action, summary, actor, created_at, undone_at, undone_by, before
               FROM corrections WHERE id = ?1",
            [id],
            |r| Ok((view(r)?, r.get(7)?)),
        )
        .optional()?)
}

/// The corrections still in effect made after `id`, newest first.
pub fn active_after(conn: &Connection, id: i64) -> Result<Vec<(CorrectionView, String)>> {
    let mut stmt = conn.prepare(
        "SELECT id, action, summary, actor, created_at, undone_at, undone_by, before
           FROM corrections WHERE id > ?1 AND undone_at IS NULL ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([id], |r| Ok((view(r)?, r.get(7)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The newest correction still in effect.
pub fn last_active(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM corrections WHERE undone_at IS NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// The log, newest first.
pub fn list(conn: &Connection, limit: u32) -> Result<Vec<CorrectionView>> {
    let mut stmt = conn.prepare(
        "SELECT id, action, summary, actor, created_at, undone_at, undone_by
           FROM corrections ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], view)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn view(r: &rusqlite::Row<'_>) -> rusqlite::Result<CorrectionView> {
    Ok(CorrectionView {
        id: r.get(0)?,
        action: r.get(1)?,
        summary: r.get(2)?,
        actor: r.get(3)?,
        created_at: r.get(4)?,
        undone_at: r.get(5)?,
        undone_by: r.get(6)?,
    })
}
