use std::path::Path;

use dealthread_core::ingest::unix_now;
use dealthread_core::retention::purge_raw;

use super::{Done, open_store};

pub fn run(db: &Path, older_than_days: Option<i64>) -> anyhow::Result<Done> {
    let mut store = open_store(db)?;
    let report = purge_raw(&mut store, older_than_days, unix_now())?;
    println!(
        "removed the raw MIME of {} messages ({:.1} MB freed); their documents, threads and attachments stay",
        report.messages,
        report.bytes_freed as f64 / 1e6
    );
    for line in &report.kept {
        eprintln!("{line}");
    }
    Ok(if report.kept.is_empty() { Done::Ok } else { Done::SomeFailed })
}
