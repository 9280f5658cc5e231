//! Copies the write-ahead log back into the database on a thread of its own.
//!
//! SQLite's own automatic checkpoint runs inside the commit that crossed the
//! threshold: that commit copies every page of the WAL into the database and
//! syncs it before it returns. On an import that was a stall of about 90 ms
//! every few seconds on the one thread that writes rows, while the threads
//! reading ahead ran out of work. Here the commit only signals, and a second
//! connection to the same file runs a passive checkpoint, which never blocks
//! the writer (it copies what was committed before it started and leaves the
//! rest for next time).

use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};

use crate::error::{CoreError, Result};

/// Checkpoint once the WAL holds this many pages (40 MB at 4 KB a page).
/// An import's batches rewrite the same index pages; the fewer checkpoints,
/// the fewer times each hot page is copied to the database.
pub const WAL_PAGES: c_int = 10_000;

/// The checkpointing thread of one [`super::Store`]. It stops when the
/// store's connection drops its WAL hook (see [`Checkpointer::stop`]).
pub struct Checkpointer {
    thread: Option<JoinHandle<()>>,
    /// For [`Checkpointer::request`]; the hook holds the other sender.
    signal: Option<SyncSender<()>>,
    done: Arc<AtomicUsize>,
}

impl Checkpointer {
    /// Opens a second connection to `path` and has `conn`'s commits signal
    /// it once the WAL is long enough. Should the thread be gone, a commit
    /// checkpoints by itself, as SQLite would: the WAL never grows unbounded.
    pub fn start(conn: &mut Connection, path: &Path) -> Result<Checkpointer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let own = Connection::open_with_flags(path, flags)?;
        // Reads the schema, so the connection has the WAL open before it
        // is first asked to checkpoint it.
        own.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))?;
        let (signal, signals) = mpsc::sync_channel::<()>(1);
        let done = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || run(own, signals, &counted))
            .map_err(|e| CoreError::Corrupt(format!("could not start the checkpointer: {e}")))?;
        let hook_signal = signal.clone();
        conn.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
            if pages < WAL_PAGES {
                return Ok(());
            }
            match hook_signal.try_send(()) {
                // Full: a checkpoint is already due; it will see this commit.
                Ok(()) | Err(TrySendError::Full(())) => Ok(()),
                Err(TrySendError::Disconnected(())) => wal.checkpoint(),
            }
        }))?;
        Ok(Checkpointer { thread: Some(thread), signal: Some(signal), done })
    }

    /// Asks for a checkpoint now, whatever the WAL's length: at the end of
    /// an import, the thread copies the WAL while the last batches are
    /// written, and closing the store has only those left to copy.
    pub fn request(&self) {
        if let Some(signal) = &self.signal {
            // Full: a checkpoint is already due. Gone: closing copies it all.
            let _ = signal.try_send(());
        }
    }

    /// Checkpoints the thread has run so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Drops both senders (this one and, by removing `conn`'s hook, the
    /// hook's) and waits for the thread to close its connection, so `conn`
    /// closes last and removes the WAL as SQLite does when its last
    /// connection closes.
    pub fn stop(&mut self, conn: &mut Connection) {
        type NoHook = fn(&mut Wal, c_int) -> rusqlite::Result<()>;
        self.signal = None;
        if let Err(error) = conn.wal_hook(None::<NoHook>) {
            tracing::warn!(%error, "could not remove the checkpoint hook");
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(()) => tracing::debug!(checkpoints = self.done(), "checkpointer stopped"),
                Err(_) => tracing::warn!("the checkpointing thread stopped on a panic"),
            }
        }
    }
}

fn run(conn: Connection, signals: Receiver<()>, done: &AtomicUsize) {
    while signals.recv().is_ok() {
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok((in_wal, copied)) => {
                done.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(in_wal, copied, "checkpointed the WAL");
            }
            // Left for the next signal, or for the last connection to close.
            Err(error) => tracing::warn!(%error, "could not checkpoint the WAL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::WAL_PAGES;
    use crate::rawstore::StoreKey;
    use crate::store::Store;

    fn open(dir: &tempfile::TempDir) -> Store {
        Store::open_with_key(&dir.path().join("d.db"), Some(StoreKey::from_bytes([7; 32])))
            .expect("open")
    }

    /// A store in `dir` whose WAL holds one small write.
    fn open_with_a_row(dir: &tempfile::TempDir) -> Store {
        let store = open(dir);
        store
            .conn()
            .execute_batch("CREATE TABLE scratch (n INTEGER); INSERT INTO scratch VALUES (1)")
            .expect("write");
        store
    }

    #[test]
    fn a_long_wal_is_copied_into_the_database_by_the_checkpointing_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir);
        let db = dir.path().join("d.db");
        store.conn().execute_batch("CREATE TABLE scratch (b BLOB)").expect("table");
        // One commit longer than the threshold: its pages go to the WAL.
        let bytes = i64::from(WAL_PAGES + 500) * 4096;
        store.conn().execute("INSERT INTO scratch VALUES (zeroblob(?1))", [bytes]).expect("insert");
        // The thread copies the pages into the database file; SQLite's own
        // checkpoint inside the commit (which the hook replaces) would have
        // grown the file too, but not counted.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let size = std::fs::metadata(&db).expect("size").len();
            if size >= bytes as u64 && store.checkpointer.done() == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "database file at {size} bytes after {} checkpoints",
                store.checkpointer.done()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_short_wal_is_checkpointed_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_with_a_row(&dir);
        assert_eq!(store.checkpointer.done(), 0, "a few pages are below the threshold");
        store.checkpoint_soon();
        let deadline = Instant::now() + Duration::from_secs(30);
        while store.checkpointer.done() == 0 {
            assert!(Instant::now() < deadline, "no checkpoint ran when asked");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn closing_the_store_removes_the_wal_as_the_last_connection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_with_a_row(&dir);
        assert!(dir.path().join("d.db-wal").exists(), "a write in WAL mode makes a WAL");
        drop(store);
        assert!(!dir.path().join("d.db-wal").exists(), "the WAL outlived the store");
        let reopened = open(&dir);
        let n: i64 =
            reopened.conn().query_row("SELECT n FROM scratch", [], |r| r.get(0)).expect("read");
        assert_eq!(n, 1);
    }
}
