//! Raw bytes from any source into the store: read (pure), then write the
//! raw MIME durably while the batch's rows are inserted in one transaction,
//! which commits once the raw MIME is on disk.

use std::sync::atomic::{AtomicUsize, Ordering};

use dealthread_mail::{Document, ReadOptions};

use crate::error::{CoreError, Result};
use crate::rawstore::{BlobKind, SealedBlob, Sealer};
use crate::store::{Store, matches, messages};

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
    let read = read_batch(&store.raw().sealer(), batch, options)?;
    write_batch(store, batch, read, now, None)
}

/// Work a source commits in the same transaction as a batch's messages:
/// its checkpoint (an IMAP folder's last UID, a provider's cursor) and its
/// own records of what each message was. Durable first (DESIGN.md): the
/// checkpoint never runs ahead of the messages it covers.
pub type Checkpoint =
    Box<dyn FnOnce(&rusqlite::Transaction<'_>, &[RawMessage], &[Outcome]) -> Result<()> + Send>;

/// Ingests a stream of batches with reading and writing overlapped: while
/// one batch is written to the database (serial), the next is parsed,
/// compressed and sealed on the other cores. Sources push batches as they
/// arrive and get each batch's outcomes back one push later.
pub struct Pipeline {
    sealer: Sealer,
    options: ReadOptions,
    in_flight: Option<InFlight>,
}

struct InFlight {
    now: i64,
    checkpoint: Option<Checkpoint>,
    handle: std::thread::JoinHandle<(Vec<RawMessage>, Result<Vec<Read>>)>,
}

/// A batch written, with the outcome of each of its messages in order.
pub type Written = (Vec<RawMessage>, Vec<Outcome>);

impl Pipeline {
    pub fn new(store: &Store, options: &ReadOptions) -> Pipeline {
        Pipeline { sealer: store.raw().sealer(), options: options.clone(), in_flight: None }
    }

    /// Starts reading `batch`, then writes the batch pushed before it (if
    /// any) and returns that one's outcomes.
    pub fn push(
        &mut self,
        store: &mut Store,
        batch: Vec<RawMessage>,
        now: i64,
    ) -> Result<Option<Written>> {
        self.push_with(store, batch, now, None)
    }

    /// Like [`Pipeline::push`], with work to commit along with the batch.
    pub fn push_with(
        &mut self,
        store: &mut Store,
        batch: Vec<RawMessage>,
        now: i64,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Option<Written>> {
        let sealer = self.sealer.clone();
        let options = self.options.clone();
        let handle = std::thread::Builder::new()
            .name("ingest-read".into())
            .spawn(move || {
                let read = read_batch(&sealer, &batch, &options);
                (batch, read)
            })
            .map_err(|e| CoreError::Corrupt(format!("could not start a reader thread: {e}")))?;
        let previous = self.in_flight.replace(InFlight { now, checkpoint, handle });
        previous.map(|previous| previous.write(store)).transpose()
    }

    /// Writes the last batch pushed, if any.
    pub fn finish(&mut self, store: &mut Store) -> Result<Option<Written>> {
        self.in_flight.take().map(|last| last.write(store)).transpose()
    }
}

impl InFlight {
    fn write(self, store: &mut Store) -> Result<Written> {
        let (batch, read) = self
            .handle
            .join()
            .map_err(|_| CoreError::Corrupt("the thread reading messages stopped".into()))?;
        let outcomes = write_batch(store, &batch, read?, self.now, self.checkpoint)?;
        Ok((batch, outcomes))
    }
}

/// One message read: its document (or why it could not be read) and its
/// raw bytes, sealed for the raw store.
type Read = (dealthread_mail::Result<Document>, SealedBlob);

/// Writes the blobs and the rows at once, on two threads, and commits the
/// rows only once the blobs are durable: every blob is on disk before any
/// committed row refers to it (DESIGN.md, "durable first"). Overlapping the
/// two hides the raw store's writes and fsync behind the row inserts.
fn write_batch(
    store: &mut Store,
    batch: &[RawMessage],
    read: Vec<Read>,
    now: i64,
    checkpoint: Option<Checkpoint>,
) -> Result<Vec<Outcome>> {
    let (raw, conn) = store.raw_and_conn_mut();
    std::thread::scope(|scope| {
        let durable = std::thread::Builder::new()
            .name("ingest-blobs".into())
            .spawn_scoped(scope, || raw.put_all(read.iter().map(|(_, blob)| blob)))
            .map_err(|e| CoreError::Corrupt(format!("could not start the blob writer: {e}")))?;
        let tx = conn.transaction()?;
        let outcomes = insert_rows(&tx, batch, &read, now)?;
        if let Some(checkpoint) = checkpoint {
            checkpoint(&tx, batch, &outcomes)?;
        }
        durable
            .join()
            .map_err(|_| CoreError::Corrupt("the thread writing raw mail stopped".into()))??;
        tx.commit()?;
        Ok(outcomes)
    })
}

/// The rows of a batch, in the caller's transaction: each message (or the
/// error it was kept with), then the search index for all of them.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    batch: &[RawMessage],
    read: &[Read],
    now: i64,
) -> Result<Vec<Outcome>> {
    let indexed_up_to = messages::last_id(tx)?;
    let config = matches::config(tx)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (message, (read, raw)) in batch.iter().zip(read) {
        let (document, error): (Option<&Document>, Option<String>) = match read {
            Ok(doc) => (Some(doc), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let date_unix = document
            .and_then(Document::date_unix)
            .filter(|t| (EARLIEST_PLAUSIBLE_DATE..now + LATEST_PLAUSIBLE_SKEW).contains(t));
        let inserted = messages::insert(
            tx,
            &messages::NewMessage {
                document,
                parse_error: error.as_deref(),
                raw_sha256: &raw.sha256,
                raw_size: message.bytes.len() as u64,
                matching: Some(&config),
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
            (messages::Inserted::New(id), None) => Outcome::New { id },
        });
    }
    messages::index_new(tx, indexed_up_to)?;
    Ok(outcomes)
}

/// Reads every message of the batch and seals its raw bytes, on all cores:
/// parsing, compressing and sealing are independent per message; only the
/// writes that follow must be serial. Each worker takes the next message
/// not yet taken, so one with large attachments does not leave the others
/// idle. Results keep the batch's order.
fn read_batch(sealer: &Sealer, batch: &[RawMessage], options: &ReadOptions) -> Result<Vec<Read>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, Read)>> {
        let mut done = Vec::new();
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let Some(message) = batch.get(at) else { return Ok(done) };
            done.push((at, read_one(sealer, message, options)?));
        }
    };
    let mut read = std::thread::scope(|scope| {
        // This thread is a worker too.
        let mut helpers = Vec::new();
        for _ in 1..workers.min(batch.len()) {
            let helper = std::thread::Builder::new()
                .name("ingest-worker".into())
                .spawn_scoped(scope, work)
                .map_err(|e| CoreError::Corrupt(format!("could not start a worker: {e}")))?;
            helpers.push(helper);
        }
        let mut read = work()?;
        for helper in helpers {
            let done = helper
                .join()
                .map_err(|_| CoreError::Corrupt("a worker reading messages stopped".into()))??;
            read.extend(done);
        }
        Ok::<_, CoreError>(read)
    })?;
    read.sort_unstable_by_key(|(at, _)| *at);
    Ok(read.into_iter().map(|(_, one)| one).collect())
}

/// Reads one message and seals its raw bytes. Its attachments stay inside
/// the raw message until retention removes that (see [`crate::retention`]),
/// so an import writes each byte of mail once.
fn read_one(sealer: &Sealer, message: &RawMessage, options: &ReadOptions) -> Result<Read> {
    let read = dealthread_mail::read_message(&message.bytes, options);
    Ok((read, sealer.seal(BlobKind::Message, &message.bytes)?))
}

/// Seconds since the Unix epoch, for callers that want "now".
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
