//! Where mail comes from. Each source yields [`crate::ingest::RawMessage`]s;
//! the store does not care which path a message took.

pub mod files;
