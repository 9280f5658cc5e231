//! The `attachments` table: each message's attachments, pointing at blobs
//! in the raw store that messages carrying the same file share.

use dealthread_mail::Document;
use rusqlite::{Connection, params};

use crate::error::Result;

/// Records a message's attachments; `stored` says whether their blobs were
/// written to the raw store.
pub fn insert_for(conn: &Connection, message: i64, doc: &Document, stored: bool) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO attachments (message_id, position, sha256, stored, filename,
             content_type, size, content_id, disposition, warning)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (position, a) in doc.attachments.iter().enumerate() {
        stmt.execute(params![
            message,
            position as i64,
            a.sha256,
            stored,
            a.filename,
            a.content_type,
            a.size as i64,
            a.content_id,
            a.disposition,
            a.warning,
        ])?;
    }
    Ok(())
}

/// How many messages carry the file with this digest.
pub fn carriers(conn: &Connection, sha256: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(DISTINCT message_id) FROM attachments WHERE sha256 = ?1",
        [sha256],
        |r| r.get(0),
    )?)
}
