//! The engine's errors. Each carries a stable [`ErrorCode`] so the UI can
//! tell a corrupt database from a missing file without matching on text.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{}: {reason}", path.display())]
    NotOurDatabase { path: PathBuf, reason: String },
    #[error(
        "{}: the database is at schema version {found}, newer than this Dealthread understands ({supported}); update Dealthread (the database was left untouched)",
        path.display()
    )]
    DatabaseTooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io { path: path.into(), source }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::NotFound
            }
            CoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ErrorCode::DiskFull
            }
            CoreError::Io { .. } => ErrorCode::Io,
            CoreError::Database(_) => ErrorCode::Database,
            CoreError::NotOurDatabase { .. } => ErrorCode::NotOurDatabase,
            CoreError::DatabaseTooNew { .. } => ErrorCode::DatabaseTooNew,
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::InvalidInput(_) => ErrorCode::InvalidInput,
            CoreError::Corrupt(_) => ErrorCode::Corrupt,
        }
    }
}

/// What kind of failure reached the user; exported to TypeScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    Io,
    DiskFull,
    NotFound,
    Database,
    NotOurDatabase,
    DatabaseTooNew,
    InvalidInput,
    Corrupt,
}

pub type Result<T> = std::result::Result<T, CoreError>;
