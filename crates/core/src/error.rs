//! The engine's errors. Each carries a stable [`ErrorCode`] so the UI can
//! tell a corrupt database from a missing file without matching on text.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    // `error`, not `source`: the message already holds it, and an error
    // chain would print it twice.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    // Not a `#[source]`: the description already carries SQLite's detail,
    // and error chains would print it twice.
    #[error("{}", describe_sqlite(.0))]
    Database(rusqlite::Error),
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
    #[error("{0}")]
    Keyring(String),
}

impl From<rusqlite::Error> for CoreError {
    fn from(error: rusqlite::Error) -> Self {
        CoreError::Database(error)
    }
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io { path: path.into(), error: source }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::NotFound
            }
            CoreError::Io { error, .. } if error.kind() == std::io::ErrorKind::StorageFull => {
                ErrorCode::DiskFull
            }
            CoreError::Io { .. } => ErrorCode::Io,
            CoreError::Database(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DiskFull =>
            {
                ErrorCode::DiskFull
            }
            CoreError::Database(_) => ErrorCode::Database,
            CoreError::NotOurDatabase { .. } => ErrorCode::NotOurDatabase,
            CoreError::DatabaseTooNew { .. } => ErrorCode::DatabaseTooNew,
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::InvalidInput(_) => ErrorCode::InvalidInput,
            CoreError::Corrupt(_) => ErrorCode::Corrupt,
            CoreError::Keyring(_) => ErrorCode::Keyring,
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
    /// The OS keyring is missing, locked, or refused.
    Keyring,
    /// A source's settings are wrong (a bad URL, pin or name).
    SourceConfig,
    /// A server refused the password, token or API key.
    SourceAuth,
    /// A server's certificate is not trusted or does not match its pin.
    SourceTls,
    /// A server could not be reached, timed out or asked to wait.
    SourceNetwork,
    /// A server answered something that breaks its protocol.
    SourceProtocol,
}

pub type Result<T> = std::result::Result<T, CoreError>;

/// SQLite's errors in words a rep can act on; the detail stays for support.
fn describe_sqlite(error: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as Code;
    let rusqlite::Error::SqliteFailure(failure, detail) = error else {
        return format!("database error: {error}");
    };
    let what = match failure.code {
        Code::DiskFull => "the disk is full: the database could not grow",
        Code::SystemIoFailure => "could not write the database file: is the disk full or failing?",
        Code::DatabaseCorrupt | Code::NotADatabase => "the database file is damaged",
        Code::DatabaseBusy | Code::DatabaseLocked => {
            "the database is busy: is another Dealthread writing to it?"
        }
        Code::ReadOnly | Code::CannotOpen | Code::PermissionDenied => {
            "the database file cannot be written: check its permissions"
        }
        _ => return format!("database error: {}", detail.as_deref().unwrap_or("unknown")),
    };
    format!("{what} (SQLite error {})", failure.extended_code)
}
