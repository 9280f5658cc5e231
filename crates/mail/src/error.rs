//! Errors of the pure mail stages.

/// Why a byte string could not be read as a message at all.
///
/// Anything short of these produces a document with `parse_warnings`
/// instead: a damaged message is still worth keeping and showing.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MailError {
    #[error("the input is empty (0 bytes)")]
    Empty,
    #[error("not an email message: {0}")]
    NotAMessage(String),
}

pub type Result<T> = std::result::Result<T, MailError>;
