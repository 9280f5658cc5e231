//! Raw bytes from any source into the store: read (pure), write the raw MIME
//! durably, then insert the whole batch in one transaction.

use dealthread_mail::{Document, ReadOptions};

use crate::error::{CoreError, Result};
use crate::matching;
use crate::rawstore::{BlobKind, RawStore};
use crate::store::{Store, deals, messages};

/// One message as a source delivered it.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub bytes: Vec<u8>,
    /// `file`, `demo`, later `imap:<account>` or `provider:<account>`.
    pub source: String,
    /// Where in that source: a path, `path#3` in an mbox, a UID.
    pub locator: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    New {
        id: i64,
        deal_id: Option<String>,
    },
    Duplicate {
        id: i64,
    },
    /// Kept with its error, so nothing is lost and the user can see it.
    Unreadable {
        id: i64,
        error: String,
    },
}

/// Dates before this (1990-01-01) are treated as absurd: sort by arrival.
const EARLIEST_PLAUSIBLE_DATE: i64 = 631_152_000;
/// Dates more than two days ahead of arrival are absurd too.
const LATEST_PLAUSIBLE_SKEW: i64 = 2 * 24 * 3600;

/// Ingests a batch; `now` is the arrival time (Unix seconds) to record.
pub fn ingest_batch(
    store: &mut Store,
    batch: &[RawMessage],
    options: &ReadOptions,
    now: i64,
) -> Result<Vec<Outcome>> {
    let prepared = prepare(store.raw(), batch, options)?;
    // Durable first: every blob is on disk before any row refers to it.
    store.raw().sync()?;

    let tx = store.conn_mut().transaction()?;
    let mut outcomes = Vec::with_capacity(prepared.len());
    for (message, read, raw_sha256) in &prepared {
        let (document, error): (Option<&Document>, Option<String>) = match read {
            Ok(doc) => (Some(doc), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let deal_id = document.and_then(matching::deal_from_alias);
        if let Some(id) = &deal_id {
            deals::ensure(&tx, id, now)?;
        }
        let date_unix = document
            .and_then(Document::date_unix)
            .filter(|t| (EARLIEST_PLAUSIBLE_DATE..now + LATEST_PLAUSIBLE_SKEW).contains(t));
        let inserted = messages::insert(
            &tx,
            &messages::NewMessage {
                document,
                parse_error: error.as_deref(),
                raw_sha256,
                raw_size: message.bytes.len() as u64,
                deal_id: deal_id.as_deref(),
                date_unix,
                arrived_at: now,
                source: &message.source,
                locator: &message.locator,
                attachments_stored: true,
            },
        )?;
        outcomes.push(match (inserted, error) {
            (messages::Inserted::Duplicate(id), _) => Outcome::Duplicate { id },
            (messages::Inserted::New(id), Some(error)) => Outcome::Unreadable { id, error },
            (messages::Inserted::New(id), None) => Outcome::New { id, deal_id },
        });
    }
    tx.commit()?;
    Ok(outcomes)
}

/// A message read and its blobs written (not yet synced).
type Prepared<'a> = (&'a RawMessage, dealthread_mail::Result<Document>, String);

/// Reads every message of the batch and writes its blobs, on all cores:
/// parsing, compressing and sealing are independent per message; only the
/// inserts that follow must be serial. Results keep the batch's order.
fn prepare<'a>(
    raw: &RawStore,
    batch: &'a [RawMessage],
    options: &ReadOptions,
) -> Result<Vec<Prepared<'a>>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    if workers == 1 || batch.len() < 8 {
        return batch.iter().map(|m| prepare_one(raw, m, options)).collect();
    }
    let chunk = batch.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|m| prepare_one(raw, m, options)).collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut prepared = Vec::with_capacity(batch.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| CoreError::Corrupt("a worker reading messages stopped".into()))??;
            prepared.extend(part);
        }
        Ok(prepared)
    })
}

fn prepare_one<'a>(
    raw: &RawStore,
    message: &'a RawMessage,
    options: &ReadOptions,
) -> Result<Prepared<'a>> {
    let read = dealthread_mail::read_message_with_attachments(&message.bytes, options);
    let raw_sha256 = raw.put(BlobKind::Message, &message.bytes)?;
    let read = match read {
        Ok(read) => {
            for bytes in &read.attachment_bytes {
                raw.put(BlobKind::Attachment, bytes)?;
            }
            Ok(read.document)
        }
        Err(e) => Err(e),
    };
    Ok((message, read, raw_sha256))
}

/// Seconds since the Unix epoch, for callers that want "now".
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
