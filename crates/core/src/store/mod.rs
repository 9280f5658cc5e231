//! The local store: one SQLite database (WAL, foreign keys on) plus the raw
//! MIME files beside it. The single source of truth for the app and the CLI.
//!
//! Queries live in one module per table or aggregate: [`messages`], [`deals`],
//! [`threads`], [`search`], [`timeline`].

pub mod attachments;
mod checkpoint;
pub mod corrections;
pub mod deals;
pub mod entities;
pub mod matches;
pub mod messages;
pub mod migrate;
pub mod notices;
pub mod overview;
pub mod reading;
pub mod search;
pub mod settings;
pub mod threads;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{CoreError, Result};
use crate::rawstore::{RawStore, StoreKey};
use checkpoint::Checkpointer;

/// Written into the database header so we can tell our file from any other
/// SQLite database ("DTHD").
pub const APPLICATION_ID: i64 = 0x4454_4844;

pub struct Store {
    conn: Connection,
    path: PathBuf,
    raw: Arc<RawStore>,
    checkpointer: Checkpointer,
}

impl Store {
    /// Opens (or creates) the database at `path`, applying pending
    /// migrations. Refuses, untouched, a file that is not a Dealthread
    /// database or one written by a newer Dealthread. The raw store's key
    /// comes from the OS keyring (or `$DEALTHREAD_STORE_KEY`).
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with_key(path, None)
    }

    /// Like [`Store::open`], with the raw store's key given (tests).
    pub fn open_with_key(path: &Path, key: Option<StoreKey>) -> Result<Store> {
        check_header(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        check_application_id(&conn, path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // An import's batch touches a page or more of every index for each
        // message, at random once the indexes outgrow the cache: with
        // SQLite's defaults (2 MB of cache, a checkpoint every 4 MB of WAL)
        // the database wrote five times its own size over a 50,000-message
        // import, and read most of it back. A 16 MB cache and a checkpoint
        // every 40 MB of WAL keep a hot page in memory across batches and
        // copy it to the database once per checkpoint instead of once per
        // batch: a fifth less time in the kernel. The checkpoint runs on a
        // thread of its own (see [`checkpoint`]).
        conn.pragma_update(None, "cache_size", -16 * 1024)?;
        // Plans that never depend on a bound value (the query planner
        // stability guarantee). Without it, a cached statement whose plan
        // looked at a bound value (`thread_id = ?1` does, for its guess of
        // how many rows a term keeps) is compiled again at every use: the
        // statement cache clears its bindings on return, and SQLite expires
        // such a statement when they are cleared. That was 7% of an
        // import's CPU, on its serial writer. Nothing here needs a plan
        // that depends on a value: no statistics are kept, and no index can
        // serve a LIKE pattern we bind.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        migrate::apply(&mut conn, path)?;
        let key = match key {
            Some(key) => key,
            None => StoreKey::load_or_create(&settings::store_key_id(&conn)?)?,
        };
        let raw = Arc::new(RawStore::open(raw_path_for(path), &key)?);
        let checkpointer = Checkpointer::start(&mut conn, path)?;
        Ok(Store { conn, path: path.to_path_buf(), raw, checkpointer })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn raw(&self) -> &RawStore {
        &self.raw
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Has the WAL copied into the database now, on the checkpointing
    /// thread, without waiting for it.
    pub fn checkpoint_soon(&self) {
        self.checkpointer.request();
    }

    /// The raw store, for a thread that writes blobs while this store's
    /// connection writes rows (see [`crate::ingest::Pipeline`]).
    pub fn raw_shared(&self) -> Arc<RawStore> {
        Arc::clone(&self.raw)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.checkpointer.stop(&mut self.conn);
    }
}

/// `dealthread.db` keeps its raw MIME in `dealthread.raw.db` beside it.
fn raw_path_for(db: &Path) -> PathBuf {
    let stem = db.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    db.with_file_name(format!("{stem}.raw.db"))
}

/// A non-empty file that does not start with SQLite's magic is never opened:
/// SQLite would report "file is not a database" at best.
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CoreError::io(path, e)),
    };
    if path.is_dir() {
        return Err(CoreError::NotOurDatabase {
            path: path.into(),
            reason: "is a directory, not a database file".into(),
        });
    }
    let mut magic = [0u8; 16];
    let read = file.read(&mut magic).map_err(|e| CoreError::io(path, e))?;
    if read == 0 {
        return Ok(()); // an empty file: SQLite initialises it
    }
    if read < 16 || &magic != b"SQLite format 3\0" {
        return Err(CoreError::NotOurDatabase {
            path: path.into(),
            reason:
                "is not a SQLite database (corrupt, or another kind of file); it was left untouched"
                    .into(),
        });
    }
    Ok(())
}

fn check_application_id(conn: &Connection, path: &Path) -> Result<()> {
    let app_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let tables: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| {
            r.get(0)
        })?;
    if app_id == APPLICATION_ID || (app_id == 0 && tables == 0) {
        return Ok(());
    }
    Err(CoreError::NotOurDatabase {
        path: path.into(),
        reason: "is a SQLite database of another application; it was left untouched".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_file_that_is_not_a_database_and_leaves_it_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notes.db");
        std::fs::write(&path, b"these are my notes, not a database").expect("write");
        let error = Store::open_with_key(&path, Some(StoreKey::from_bytes([7; 32])))
            .err()
            .expect("must refuse");
        assert!(matches!(error, CoreError::NotOurDatabase { .. }), "{error}");
        assert_eq!(std::fs::read(&path).expect("read"), b"these are my notes, not a database");
    }

    #[test]
    fn refuses_another_applications_sqlite_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("other.db");
        let other = Connection::open(&path).expect("create");
        other.execute_batch("CREATE TABLE recipes (name TEXT);").expect("schema");
        drop(other);
        let error = Store::open_with_key(&path, Some(StoreKey::from_bytes([7; 32])))
            .err()
            .expect("must refuse");
        assert!(error.to_string().contains("another application"), "{error}");
    }

    #[test]
    fn a_cached_statement_is_not_compiled_again_at_each_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Store::open_with_key(&dir.path().join("d.db"), Some(StoreKey::from_bytes([7; 32])))
                .expect("open");
        let sql =
            "SELECT id FROM messages WHERE thread_id = ?1 AND parse_error IS NULL ORDER BY id";
        for thread_id in [0, 1, 2, 70_000, 1] {
            let mut stmt = store.conn().prepare_cached(sql).expect("prepare");
            let rows = stmt.query_map([thread_id], |r| r.get::<_, i64>(0)).expect("query");
            assert_eq!(rows.count(), 0);
        }
        let stmt = store.conn().prepare_cached(sql).expect("prepare");
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::Run), 5);
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn reopening_keeps_the_schema_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.db");
        drop(Store::open_with_key(&path, Some(StoreKey::from_bytes([7; 32]))).expect("first open"));
        let store =
            Store::open_with_key(&path, Some(StoreKey::from_bytes([7; 32]))).expect("second open");
        let version: i64 =
            store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
        assert_eq!(version, migrate::latest_version());
    }
}
