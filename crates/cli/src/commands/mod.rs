//! One module per command; each is a few lines over the engine.

pub mod crm;
pub mod deals;
pub mod domains;
pub mod import;
pub mod matching;
pub mod outbox;
pub mod parse;
pub mod purge;
pub mod search;
pub mod source;
pub mod status;
pub mod sync;
pub mod timeline;

use std::path::Path;

use anyhow::Context;
use dealthread_core::Store;

/// How a command ended when it did not fail outright.
pub enum Done {
    Ok,
    /// Some inputs failed (each already reported on stderr); the rest went on.
    SomeFailed,
}

pub fn open_store(db: &Path) -> anyhow::Result<Store> {
    Store::open(db).with_context(|| "cannot open the database".to_string())
}

/// Writes a line to stdout, ending quietly when the reader went away
/// (`dealthread parse big.mbox | head`).
pub fn print_line(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// A Unix time for people: `Thu, 26 Nov 2026 22:12:57 GMT`.
pub fn format_time(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    httpdate::fmt_http_date(at)
}
