//! `dealthread-core`: the engine around the pure mail crate.
//!
//! IO lives here, at the edges: the SQLite store, the raw MIME files, the
//! sources that bring mail in. The desktop app and the `dealthread` CLI are
//! thin layers over this crate and share every behaviour through it.

pub mod crm;
pub mod demo;
pub mod dns;
pub mod entities;
pub mod error;
pub mod ingest;
pub mod matching;
pub mod paths;
pub mod preferences;
pub mod preview;
pub mod rawstore;
pub mod retention;
pub mod secrets;
pub mod sources;
pub mod store;

pub use error::{CoreError, ErrorCode, Result};
pub use store::Store;
