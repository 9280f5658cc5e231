//! Errors as the window sees them: a code it can branch on and a message it
//! can show. Never a bare string.

use dealthread_core::{CoreError, ErrorCode};
use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl From<CoreError> for CommandError {
    fn from(error: CoreError) -> Self {
        CommandError { code: error.code(), message: error.to_string() }
    }
}

impl From<dealthread_core::sources::SourceError> for CommandError {
    fn from(error: dealthread_core::sources::SourceError) -> Self {
        CommandError { code: error.code(), message: error.to_string() }
    }
}
