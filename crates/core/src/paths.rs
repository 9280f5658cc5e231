//! Where Dealthread keeps its files by default: the OS data folder
//! (`~/.local/share/dealthread` on Linux). `DEALTHREAD_DB` overrides the
//! database path for the app and the CLI alike; the CLI's `--db` wins over both.

use std::path::PathBuf;

pub const DB_ENV: &str = "DEALTHREAD_DB";

pub fn default_db() -> PathBuf {
    if let Some(path) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("dealthread").join("dealthread.db")
}
