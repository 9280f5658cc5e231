//! Forward-only schema migrations, embedded in the binary.
//!
//! Each migration is an SQL file applied in its own transaction together
//! with the bump of `user_version`, so a crash leaves the database at the
//! old version or the new one, never between. A database whose version is
//! newer than this binary knows is refused, never altered.

use std::path::Path;

use rusqlite::{Connection, Transaction};

use super::APPLICATION_ID;
use crate::error::{CoreError, Result};

/// A step that SQL alone cannot do, run after its migration's SQL in the
/// same transaction.
type Backfill = fn(&Transaction<'_>) -> Result<()>;

/// In order; the version after applying `MIGRATIONS[i]` is `i + 1`.
const MIGRATIONS: &[(&str, &str, Option<Backfill>)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql"), None),
    (
        "0002_threads",
        include_str!("migrations/0002_threads.sql"),
        Some(super::messages::backfill_v2),
    ),
    ("0003_search", include_str!("migrations/0003_search.sql"), None),
    (
        "0004_attachments_settings",
        include_str!("migrations/0004_attachments_settings.sql"),
        Some(super::messages::backfill_v4),
    ),
    ("0005_read_state", include_str!("migrations/0005_read_state.sql"), None),
    ("0006_batch_search_index", include_str!("migrations/0006_batch_search_index.sql"), None),
    ("0007_search_by_deal", include_str!("migrations/0007_search_by_deal.sql"), None),
    ("0008_sources", include_str!("migrations/0008_sources.sql"), None),
    ("0009_provider", include_str!("migrations/0009_provider.sql"), None),
    ("0010_outbox", include_str!("migrations/0010_outbox.sql"), None),
    ("0011_matching", include_str!("migrations/0011_matching.sql"), None),
    ("0012_sharing", include_str!("migrations/0012_sharing.sql"), None),
    ("0013_push_failures", include_str!("migrations/0013_push_failures.sql"), None),
    (
        "0014_warnings",
        include_str!("migrations/0014_warnings.sql"),
        Some(super::messages::backfill_v14),
    ),
    ("0015_search_prefixes", include_str!("migrations/0015_search_prefixes.sql"), None),
];

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    apply_up_to(conn, path, latest_version())
}

/// Applies migrations up to `target` (tests start databases at old versions).
pub fn apply_up_to(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > latest_version() {
        return Err(CoreError::DatabaseTooNew {
            path: path.into(),
            found: current,
            supported: latest_version(),
        });
    }
    for (index, (name, sql, backfill)) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(current as usize)
        .take((target - current).max(0) as usize)
    {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| {
            CoreError::Corrupt(format!("migration {name} failed on {}: {e}", path.display()))
        })?;
        if let Some(backfill) = backfill {
            backfill(&tx)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_from_a_newer_dealthread_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        let mut conn = Connection::open(&path).expect("open");
        apply(&mut conn, &path).expect("migrate");
        conn.pragma_update(None, "user_version", latest_version() + 1).expect("bump");
        let error = apply(&mut conn, &path).expect_err("must refuse");
        assert!(matches!(error, CoreError::DatabaseTooNew { .. }), "{error}");
    }
}
