//! Raw bytes from any source into the store: read (pure) and keep the raw
//! MIME durably, then insert the batch's rows in one transaction.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dealthread_mail::{Document, ReadOptions};

use crate::error::{CoreError, Result};
use crate::rawstore::{BlobKind, RawStore, SealedBlob, Sealer};
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

/// A message once its raw MIME is in the raw store: where it came from and
/// how large it was. Its bytes are no longer held in memory by then, so a
/// batch waiting to be written costs only its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub source: String,
    pub locator: String,
    /// Bytes of raw MIME.
    pub size: u64,
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
    let mut pipeline = Pipeline::new(store, options);
    // The pipeline owns what it reads on its own threads.
    pipeline.push(store, batch.to_vec(), now)?;
    Ok(pipeline.finish(store)?.into_iter().flat_map(|(_, outcomes)| outcomes).collect())
}

/// Work a source commits in the same transaction as a batch's messages:
/// its checkpoint (an IMAP folder's last UID, a provider's cursor) and its
/// own records of what each message was. Durable first (DESIGN.md): the
/// checkpoint never runs ahead of the messages it covers.
pub type Checkpoint =
    Box<dyn FnOnce(&rusqlite::Transaction<'_>, &[Kept], &[Outcome]) -> Result<()> + Send>;

/// Ingests a stream of batches in two overlapped stages. A batch is first
/// read: parsed, compressed and sealed on every core, its raw MIME then
/// written to the raw store and synced, all on threads of its own. Then its
/// rows are written to the database in one transaction (serial, on the
/// caller's thread). Rows therefore commit only after the raw MIME they
/// refer to is on disk (DESIGN.md, "durable first"), and the raw store's
/// writes and syncs never hold up the rows.
///
/// Up to [`READ_AHEAD`] batches are read while one is written, so a core
/// the writer leaves idle (waiting on the disk, or between batches) always
/// has reading to do. Sources push batches as they arrive and get each
/// batch's outcomes back once it is written, in order.
pub struct Pipeline {
    raw: Arc<RawStore>,
    options: ReadOptions,
    in_flight: VecDeque<InFlight>,
}

/// How many batches are read ahead of the one being written. One left a
/// core idle a fifth of the time at 50,000 messages; each more holds one
/// more batch in memory while it is read, and its documents until written.
pub const READ_AHEAD: usize = 2;

struct InFlight {
    now: i64,
    checkpoint: Option<Checkpoint>,
    handle: std::thread::JoinHandle<(Vec<Kept>, Result<Vec<Read>>)>,
}

/// A batch written, with the outcome of each of its messages in order.
pub type Written = (Vec<Kept>, Vec<Outcome>);

impl Pipeline {
    pub fn new(store: &Store, options: &ReadOptions) -> Pipeline {
        Pipeline { raw: store.raw_shared(), options: options.clone(), in_flight: VecDeque::new() }
    }

    /// Starts reading `batch`, then writes the oldest batch still unwritten
    /// once [`READ_AHEAD`] are being read, and returns that one's outcomes.
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
        let raw = Arc::clone(&self.raw);
        let options = self.options.clone();
        let handle = std::thread::Builder::new()
            .name("ingest-read".into())
            .spawn(move || read_and_keep(&raw, batch, &options))
            .map_err(|e| CoreError::Corrupt(format!("could not start a reader thread: {e}")))?;
        self.in_flight.push_back(InFlight { now, checkpoint, handle });
        if self.in_flight.len() <= READ_AHEAD {
            return Ok(None);
        }
        self.in_flight.pop_front().map(|oldest| oldest.write(store)).transpose()
    }

    /// Writes every batch still unwritten, oldest first. On an error, the
    /// batches before it are written and the ones after it are not.
    pub fn finish(&mut self, store: &mut Store) -> Result<Vec<Written>> {
        // The WAL so far is copied back while these batches are written;
        // otherwise closing the store copies all of it (up to 40 MB), on
        // one core, with nothing else left to do: 2% of a 10,000-message
        // import.
        store.checkpoint_soon();
        let mut written = Vec::with_capacity(self.in_flight.len());
        while let Some(oldest) = self.in_flight.pop_front() {
            written.push(oldest.write(store)?);
        }
        Ok(written)
    }
}

impl InFlight {
    fn write(self, store: &mut Store) -> Result<Written> {
        let (batch, read) = self
            .handle
            .join()
            .map_err(|_| CoreError::Corrupt("the thread reading messages stopped".into()))?;
        let tx = store.conn_mut().transaction()?;
        let read = read?;
        let outcomes = insert_rows(&tx, &batch, &read, self.now)?;
        if let Some(checkpoint) = self.checkpoint {
            checkpoint(&tx, &batch, &outcomes)?;
        }
        tx.commit()?;
        free_elsewhere(read);
        Ok((batch, outcomes))
    }
}

/// Frees a written batch's documents on a thread of their own. The reading
/// threads allocated them, and glibc frees a block under the lock of the
/// arena it came from: freed by the writer, they had it wait on those locks
/// while the readers allocated, the most frequent reason it left its core
/// (`perf record -e sched:sched_switch`).
fn free_elsewhere<T: Send + 'static>(value: T) {
    // Should no thread start, the value is freed here as it is dropped.
    let _ = std::thread::Builder::new().name("ingest-free".into()).spawn(move || drop(value));
}

/// One message read, its raw MIME kept: the document (or why it could not
/// be read), the document as stored, and the raw MIME's digest.
struct Read {
    document: dealthread_mail::Result<Document>,
    json: Option<String>,
    raw_sha256: String,
}

/// Reads a batch and writes its raw MIME to the raw store, durably. The raw
/// bytes are let go as soon as they are sealed, the sealed ones once they
/// are on disk.
fn read_and_keep(
    raw: &RawStore,
    batch: Vec<RawMessage>,
    options: &ReadOptions,
) -> (Vec<Kept>, Result<Vec<Read>>) {
    let read = read_batch(&raw.sealer(), &batch, options);
    let kept = batch
        .into_iter()
        .map(|m| Kept { source: m.source, locator: m.locator, size: m.bytes.len() as u64 })
        .collect();
    let read = read.and_then(|read| {
        raw.put_all(read.iter().map(|(_, blob)| blob))?;
        Ok(read.into_iter().map(|(read, _)| read).collect())
    });
    (kept, read)
}

/// The rows of a batch, in the caller's transaction: each message (or the
/// error it was kept with), then the search index for all of them.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    batch: &[Kept],
    read: &[Read],
    now: i64,
) -> Result<Vec<Outcome>> {
    let indexed_up_to = messages::last_id(tx)?;
    let config = matches::config(tx)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (message, read) in batch.iter().zip(read) {
        let (document, error): (Option<&Document>, Option<String>) = match &read.document {
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
                document_json: read.json.as_deref(),
                parse_error: error.as_deref(),
                raw_sha256: &read.raw_sha256,
                raw_size: message.size,
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
/// parsing, serializing, compressing and sealing are independent per
/// message; only the writes that follow must be serial. Each worker takes
/// the next message not yet taken, so one with large attachments does not
/// leave the others idle. Results keep the batch's order.
fn read_batch(
    sealer: &Sealer,
    batch: &[RawMessage],
    options: &ReadOptions,
) -> Result<Vec<(Read, SealedBlob)>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, (Read, SealedBlob))>> {
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
fn read_one(
    sealer: &Sealer,
    message: &RawMessage,
    options: &ReadOptions,
) -> Result<(Read, SealedBlob)> {
    // The raw MIME's digest, its address in the raw store, is computed as the
    // message is read, alongside its attachments' (two at a time).
    let (document, raw_sha256) = dealthread_mail::read_message_digested(&message.bytes, options);
    let json = document.as_ref().ok().map(messages::document_json).transpose()?;
    let blob = sealer.seal_digested(BlobKind::Message, &message.bytes, hex::encode(raw_sha256))?;
    Ok((Read { document, json, raw_sha256: blob.sha256.clone() }, blob))
}

/// Seconds since the Unix epoch, for callers that want "now".
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
