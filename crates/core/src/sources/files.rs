//! Files the rep drops in: single `.eml` messages, mbox files and maildir
//! folders (including Maildir++ subfolders).

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use dealthread_mail::ReadOptions;
use mail_parser::mailbox::mbox::MessageIterator as MboxIterator;

use crate::error::{CoreError, Result};
use crate::ingest::{self, Outcome, RawMessage};
use crate::store::Store;

/// Messages per transaction: large enough to amortise the commit, small
/// enough that an interrupted import redoes little. Each commit rewrites the
/// index pages its messages touched and flushes a segment of the search
/// index, so 512 imports about 7% faster than 256; it holds about 30 MB more
/// at the peak (measured on 10,000 generated messages).
const BATCH: usize = 512;
/// A batch is also cut at this many bytes of mail, so a folder of large
/// messages does not hold gigabytes in memory (three batches are in flight).
const BATCH_BYTES: usize = 16 << 20;

/// One input the user named, once classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Message(PathBuf),
    Mbox(PathBuf),
    Maildir(PathBuf),
}

/// What an import did, for the CLI and the app to report.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    pub new: usize,
    pub duplicates: usize,
    /// Inputs kept as unreadable messages: (locator, error).
    pub unreadable: Vec<(String, String)>,
    /// Inputs that could not be read at all: one line each, naming the input.
    pub failed: Vec<String>,
    /// Files passed over on purpose (not mail by name), one line per folder.
    pub notes: Vec<String>,
}

/// Progress after each batch: messages done so far.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: usize,
}

/// Extensions a folder walk takes as mail; files without an extension
/// (MH folders, many exports) are taken too.
const MAIL_EXTENSIONS: &[&str] = &["eml", "mbox", "mbx", "mail", "msg822"];

/// Classifies each path; paths that do not exist are reported, not fatal.
/// A file named explicitly is always an input; inside a folder, files that
/// are not mail by name are skipped and counted in one line per folder.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut inputs = Vec::new();
    let mut failed = Vec::new();
    let mut notes = Vec::new();
    for path in paths {
        match fs::metadata(path) {
            Err(e) => failed.push(format!("{}: {}", path.display(), describe_io(&e))),
            Ok(meta) if meta.is_dir() => {
                let mut skipped = Vec::new();
                discover_dir(path, &mut inputs, &mut failed, &mut skipped);
                if let Some(first) = skipped.first() {
                    notes.push(format!(
                        "{}: skipped {} file(s) that are not .eml, mbox or maildir mail (first: {})",
                        path.display(),
                        skipped.len(),
                        first.display()
                    ));
                }
            }
            Ok(_) => inputs.push(classify_file(path)),
        }
    }
    Discovery { inputs, failed, notes }
}

/// The inputs found under the paths a user named.
#[derive(Debug, Default)]
pub struct Discovery {
    pub inputs: Vec<Input>,
    /// Paths that could not be read, one line each.
    pub failed: Vec<String>,
    /// What was passed over on purpose, one line each.
    pub notes: Vec<String>,
}

fn is_mail_by_name(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        None => true,
        Some(ext) => MAIL_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(ext)),
    }
}

fn describe_io(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

fn discover_dir(
    dir: &Path,
    inputs: &mut Vec<Input>,
    failed: &mut Vec<String>,
    skipped: &mut Vec<PathBuf>,
) {
    if is_maildir(dir) {
        inputs.push(Input::Maildir(dir.to_path_buf()));
    }
    let mut entries = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>(),
        Err(e) => {
            failed.push(format!("{}: {}", dir.display(), describe_io(&e)));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            // Maildir++ keeps subfolders as `.Name` maildirs; other hidden
            // folders, and a maildir's own cur/new/tmp, are not inputs.
            if is_maildir(dir) && matches!(name.as_str(), "cur" | "new" | "tmp") {
                continue;
            }
            if name.starts_with('.') && !is_maildir(&path) {
                continue;
            }
            discover_dir(&path, inputs, failed, skipped);
        } else if !name.starts_with('.') && !is_maildir(dir) {
            if is_mail_by_name(&path) {
                inputs.push(classify_file(&path));
            } else {
                skipped.push(path);
            }
        }
    }
}

/// An mbox starts with a `From ` separator line; anything else is taken as
/// one message (and reported if it is not one).
fn classify_file(path: &Path) -> Input {
    use std::io::Read;
    let mut head = [0u8; 5];
    let is_mbox = fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head == b"From ")
        .unwrap_or(false);
    if is_mbox { Input::Mbox(path.to_path_buf()) } else { Input::Message(path.to_path_buf()) }
}

/// Imports every input into the store, reporting progress after each batch.
/// A bad input is reported and skipped; the rest of the batch goes on.
pub fn import(
    store: &mut Store,
    paths: &[PathBuf],
    options: &ReadOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let Discovery { inputs, failed, notes } = discover(paths);
    let mut report = ImportReport { failed, notes, ..ImportReport::default() };
    let mut batch: Vec<RawMessage> = Vec::with_capacity(BATCH);
    let mut batch_bytes = 0usize;
    let mut pipeline = ingest::Pipeline::new(store, options);
    let mut done = 0usize;
    let mut count = |written: Option<ingest::Written>, report: &mut ImportReport| {
        let Some((batch, outcomes)) = written else { return };
        for (message, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Outcome::New { .. } => report.new += 1,
                Outcome::Duplicate { .. } => report.duplicates += 1,
                Outcome::Unreadable { error, .. } => {
                    report.unreadable.push((message.locator.clone(), error))
                }
            }
        }
        done += batch.len();
        progress(Progress { done });
    };

    for input in &inputs {
        // A failure to store (disk full, database) stops the import; only a
        // failure to read this input is booked against it and skipped. The
        // two are told apart by where they happened, not by their kind: both
        // can be I/O errors.
        let mut store_error: Option<CoreError> = None;
        let read = for_each_message(input, &mut |message| {
            batch_bytes += message.bytes.len();
            batch.push(message);
            if batch.len() >= BATCH || batch_bytes >= BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                batch_bytes = 0;
                match pipeline.push(store, full, ingest::unix_now()) {
                    Ok(written) => count(written, &mut report),
                    Err(error) => {
                        store_error = Some(error);
                        return Err(CoreError::InvalidInput("storing failed".into()));
                    }
                }
            }
            Ok(())
        });
        if let Some(error) = store_error {
            return Err(error);
        }
        if let Err(error) = read {
            report.failed.push(error.to_string());
        }
    }
    if !batch.is_empty() {
        let written = pipeline.push(store, batch, ingest::unix_now())?;
        count(written, &mut report);
    }
    for written in pipeline.finish(store)? {
        count(Some(written), &mut report);
    }
    Ok(report)
}

/// Reads the messages of one input in order.
pub fn for_each_message(
    input: &Input,
    each: &mut dyn FnMut(RawMessage) -> Result<()>,
) -> Result<()> {
    match input {
        Input::Message(path) => {
            let bytes = fs::read(path).map_err(|e| CoreError::io(path, e))?;
            each(RawMessage { bytes, source: "file".into(), locator: path.display().to_string() })
        }
        Input::Mbox(path) => {
            let file = fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
            for (index, message) in MboxIterator::new(BufReader::new(file)).enumerate() {
                let message = message.map_err(|e| CoreError::io(path, e))?;
                each(RawMessage {
                    bytes: message.unwrap_contents(),
                    source: "file".into(),
                    locator: format!("{}#{}", path.display(), index + 1),
                })?;
            }
            Ok(())
        }
        Input::Maildir(dir) => {
            for sub in ["cur", "new"] {
                let folder = dir.join(sub);
                let mut files: Vec<PathBuf> = fs::read_dir(&folder)
                    .map_err(|e| CoreError::io(&folder, e))?
                    .filter_map(|e| e.ok())
                    // The listing says what each entry is; only a link
                    // costs a stat to see where it leads.
                    .filter(|e| {
                        e.file_type()
                            .is_ok_and(|t| t.is_file() || (t.is_symlink() && e.path().is_file()))
                    })
                    .map(|e| e.path())
                    .collect();
                files.sort();
                for path in files {
                    let bytes = fs::read(&path).map_err(|e| CoreError::io(&path, e))?;
                    each(RawMessage {
                        bytes,
                        source: "file".into(),
                        locator: path.display().to_string(),
                    })?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maildir_yields_its_files_and_links_to_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("box");
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(maildir.join(sub)).expect("maildir");
        }
        let cur = maildir.join("cur");
        fs::write(cur.join("1.eml"), b"Subject: one\r\n\r\nbody\r\n").expect("file");
        let elsewhere = dir.path().join("kept-elsewhere.eml");
        fs::write(&elsewhere, b"Subject: two\r\n\r\nbody\r\n").expect("file");
        std::os::unix::fs::symlink(&elsewhere, cur.join("2.eml")).expect("link to a file");
        std::os::unix::fs::symlink(dir.path(), cur.join("3.eml")).expect("link to a folder");
        std::os::unix::fs::symlink(dir.path().join("gone"), cur.join("4.eml")).expect("dangling");
        fs::create_dir(cur.join("5.eml")).expect("folder");

        let mut seen = Vec::new();
        for_each_message(&Input::Maildir(maildir), &mut |m| {
            seen.push((m.locator, m.bytes));
            Ok(())
        })
        .expect("read the maildir");
        let names: Vec<&str> = seen.iter().filter_map(|(l, _)| l.rsplit('/').next()).collect();
        assert_eq!(names, ["1.eml", "2.eml"]);
        assert_eq!(seen[1].1, b"Subject: two\r\n\r\nbody\r\n");
    }
}
