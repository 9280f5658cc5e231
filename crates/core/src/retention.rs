//! Retention of raw MIME: after the configured age (30 days by default),
//! a message's raw bytes are deleted while everything read from them stays:
//! the normalized document, the thread, the search index and the
//! attachments (stored apart, see the raw store).

use rusqlite::params;

use crate::error::Result;
use crate::rawstore::BlobKind;
use crate::store::{Store, settings};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub messages: usize,
    pub bytes_freed: u64,
}

/// Deletes the raw MIME of messages that arrived more than `days` (or the
/// configured number of days) before `now`.
///
/// The rows are marked first and committed, then the blobs deleted: a crash
/// in between leaves orphan blobs (harmless), never a row whose raw bytes
/// are missing without saying so.
pub fn purge_raw(store: &mut Store, days: Option<i64>, now: i64) -> Result<PurgeReport> {
    let days = match days {
        Some(days) => days,
        None => settings::raw_retention_days(store.conn())?,
    };
    let cutoff = now - days.max(0) * 86_400;
    let tx = store.conn_mut().transaction()?;
    let candidates: Vec<(i64, String)> = {
        let mut stmt = tx.prepare(
            "SELECT id, raw_sha256 FROM messages WHERE raw_purged_at IS NULL AND arrived_at < ?1",
        )?;
        stmt.query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (id, _) in &candidates {
        tx.execute("UPDATE messages SET raw_purged_at = ?1 WHERE id = ?2", params![now, id])?;
    }
    // Identical raw bytes may back a newer message that keeps them.
    let mut doomed = Vec::new();
    for (_, sha256) in &candidates {
        let still_needed: i64 = tx.query_row(
            "SELECT count(*) FROM messages WHERE raw_sha256 = ?1 AND raw_purged_at IS NULL",
            [sha256],
            |r| r.get(0),
        )?;
        if still_needed == 0 && !doomed.contains(sha256) {
            doomed.push(sha256.clone());
        }
    }
    tx.commit()?;
    let bytes_freed = store.raw().remove_all(BlobKind::Message, &doomed)?;
    Ok(PurgeReport { messages: candidates.len(), bytes_freed })
}
