//! Retention of raw MIME: after the configured age (30 days by default),
//! a message's raw bytes are deleted while everything read from them stays:
//! the normalized document, the thread, the search index and the
//! attachments.
//!
//! Until then a message's attachments are read from its raw MIME, so an
//! import writes each byte of mail once. Before the raw MIME goes, each
//! attachment is given a blob of its own, which every message carrying the
//! same file shares.

use rusqlite::params;

use crate::error::{CoreError, Result};
use crate::rawstore::{BlobKind, SealedBlob};
use crate::store::{Store, attachments, settings};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub messages: usize,
    pub bytes_freed: u64,
    /// Messages whose raw MIME was kept because their attachments could not
    /// be taken out of it first: one line each, naming the message.
    pub kept: Vec<String>,
}

/// Messages whose attachments are taken out and stored per write.
const CHUNK: usize = 64;

/// Deletes the raw MIME of messages that arrived more than `days` (or the
/// configured number of days) before `now`.
///
/// Attachments are stored apart first, durably; then the rows are marked
/// and committed; then the raw blobs are deleted. A crash between any two
/// steps leaves orphan blobs (harmless), never a row whose bytes are gone
/// without saying so.
pub fn purge_raw(store: &mut Store, days: Option<i64>, now: i64) -> Result<PurgeReport> {
    let days = match days {
        Some(days) => days,
        None => settings::raw_retention_days(store.conn())?,
    };
    let cutoff = now - days.max(0) * 86_400;
    let candidates: Vec<(i64, String)> = {
        let mut stmt = store.conn().prepare(
            "SELECT id, raw_sha256 FROM messages WHERE raw_purged_at IS NULL AND arrived_at < ?1",
        )?;
        stmt.query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut report = PurgeReport::default();
    let mut purged = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(CHUNK) {
        let mut blobs = Vec::new();
        for (id, sha256) in chunk {
            match attachment_blobs(store, *id) {
                Ok(mut own) => {
                    blobs.append(&mut own);
                    purged.push((*id, sha256.clone()));
                }
                Err(e) => report.kept.push(format!("message {id}: raw MIME kept: {e}")),
            }
        }
        store.raw().put_all(&blobs)?;
    }

    let tx = store.conn_mut().transaction()?;
    for (id, _) in &purged {
        tx.execute("UPDATE messages SET raw_purged_at = ?1 WHERE id = ?2", params![now, id])?;
    }
    // Identical raw bytes may back a newer message that keeps them.
    let mut doomed = Vec::new();
    for (_, sha256) in &purged {
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
    report.messages = purged.len();
    report.bytes_freed = store.raw().remove_all(BlobKind::Message, &doomed)?;
    Ok(report)
}

/// Sealed blobs for the attachments of a message that have none yet, taken
/// out of its raw MIME.
fn attachment_blobs(store: &Store, message_id: i64) -> Result<Vec<SealedBlob>> {
    let recorded: Vec<(u32, String)> = store
        .conn()
        .prepare_cached(
            "SELECT position, sha256 FROM attachments
              WHERE message_id = ?1 AND stored ORDER BY position",
        )?
        .query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut missing = Vec::new();
    for (position, sha256) in recorded {
        if !store.raw().has(BlobKind::Attachment, &sha256)? {
            missing.push((position, sha256));
        }
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let all = attachments::from_raw(store, message_id)?;
    let sealer = store.raw().sealer();
    let mut blobs = Vec::with_capacity(missing.len());
    for (position, sha256) in missing {
        let bytes =
            attachments::recorded_in(&all, position, &sha256).map_err(CoreError::Corrupt)?;
        // Checked against `sha256` just now, so not hashed again to seal.
        blobs.push(sealer.seal_digested(BlobKind::Attachment, bytes, sha256)?);
    }
    Ok(blobs)
}
