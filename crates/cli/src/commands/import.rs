use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use dealthread_core::sources::files;
use dealthread_mail::ReadOptions;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Done, open_store};

pub fn run(db: &Path, paths: &[PathBuf], progress_lines: bool) -> anyhow::Result<Done> {
    let mut store = open_store(db)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} importing: {pos} messages ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = files::import(&mut store, paths, &ReadOptions::default(), &mut |p| {
        bar.set_position(p.done as u64);
        if progress_lines {
            // Called after the batch's transaction committed.
            let _ = super::print_line(&format!("committed {}", p.done));
        }
    })?;
    bar.finish_and_clear();

    for line in &report.failed {
        eprintln!("dealthread: {line}");
    }
    for line in &report.notes {
        eprintln!("dealthread: note: {line}");
    }
    for (locator, error) in &report.unreadable {
        eprintln!("dealthread: {locator}: {error} (kept as an unreadable message)");
    }
    println!(
        "imported {} new, {} already present, {} unreadable, {} failed",
        report.new,
        report.duplicates,
        report.unreadable.len(),
        report.failed.len()
    );
    let failed = !report.failed.is_empty() || !report.unreadable.is_empty();
    Ok(if failed { Done::SomeFailed } else { Done::Ok })
}
