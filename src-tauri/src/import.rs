//! Importing files the rep drops on the window or picks: the same engine
//! as `dealthread import`, on its own connection so the window stays
//! responsive, with progress as `import-progress` events.

use std::path::{Path, PathBuf};

use dealthread_core::sources::files;
use dealthread_core::{CoreError, Store};
use dealthread_mail::ReadOptions;
use serde::Serialize;
use tauri::{AppHandle, Emitter, State};
use ts_rs::TS;

use crate::commands::blocking;
use crate::error::CommandError;
use crate::state::AppState;

/// The event the window listens to while an import runs.
pub const EVENT: &str = "import-progress";

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ImportProgress {
    #[ts(type = "number")]
    pub done: u64,
}

/// What an import did, each problem in one line naming its input.
#[derive(Debug, Clone, Default, Serialize, TS)]
#[ts(export)]
pub struct ImportSummary {
    #[ts(type = "number")]
    pub new: u64,
    #[ts(type = "number")]
    pub duplicates: u64,
    /// Kept as unreadable messages, shown on the sync health page.
    pub unreadable: Vec<String>,
    /// Inputs that could not be read at all.
    pub failed: Vec<String>,
    pub notes: Vec<String>,
}

/// Imports files and folders dropped on the window (their paths).
#[tauri::command]
pub async fn import_paths(
    app: AppHandle,
    state: State<'_, AppState>,
    paths: Vec<String>,
) -> Result<ImportSummary, CommandError> {
    let db = PathBuf::from(&state.db_path);
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    blocking("the import", move || import(&db, &paths, &app, None)).await
}

/// Imports one picked file sent as the request's body, its name in the
/// `x-file-name` header (URI-encoded). The bytes are written to a private
/// temporary folder under a name made safe, never to a path the name says.
#[tauri::command]
pub async fn import_upload(
    app: AppHandle,
    state: State<'_, AppState>,
    request: tauri::ipc::Request<'_>,
) -> Result<ImportSummary, CommandError> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(invalid("the file's bytes were not sent as the request body"));
    };
    let name = request
        .headers()
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
        .unwrap_or_default();
    let bytes = bytes.clone();
    let db = PathBuf::from(&state.db_path);
    blocking("the import", move || {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io(std::env::temp_dir(), e))?;
        let path = dir.path().join(safe_file_name(&name));
        std::fs::write(&path, &bytes).map_err(|e| CoreError::io(&path, e))?;
        import(&db, &[path], &app, Some((dir.path(), &name)))
    })
    .await
}

/// A file name that can only land inside the folder it is joined to.
fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let safe: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() { "upload.eml".to_string() } else { safe.to_string() }
}

fn invalid(message: &str) -> CommandError {
    CommandError { code: dealthread_core::ErrorCode::InvalidInput, message: message.to_string() }
}

/// Runs the import; `upload` names the temporary folder and the file's own
/// name, so lines about it say "quote.eml", not a temporary path.
fn import(
    db: &Path,
    paths: &[PathBuf],
    app: &AppHandle,
    upload: Option<(&Path, &str)>,
) -> dealthread_core::Result<ImportSummary> {
    let mut store = Store::open(db)?;
    let report = files::import(&mut store, paths, &ReadOptions::default(), &mut |p| {
        let _ = app.emit(EVENT, ImportProgress { done: p.done as u64 });
    })?;
    let shown = |line: String| match upload {
        Some((dir, name)) => {
            let prefix = format!("{}/", dir.display());
            let inner = line.replace(&prefix, "");
            inner.replacen(&safe_file_name(name), name, 1)
        }
        None => line,
    };
    Ok(ImportSummary {
        new: report.new as u64,
        duplicates: report.duplicates as u64,
        unreadable: report
            .unreadable
            .into_iter()
            .map(|(locator, error)| shown(format!("{locator}: {error}")))
            .collect(),
        failed: report.failed.into_iter().map(shown).collect(),
        notes: report.notes.into_iter().map(shown).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn picked_names_cannot_leave_the_folder() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("C:\\Users\\rep\\PO 1234.eml"), "PO_1234.eml");
        assert_eq!(safe_file_name(".."), "upload.eml");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name(""), "upload.eml");
        assert_eq!(safe_file_name("Angebot für Müller.mbox"), "Angebot_f_r_M_ller.mbox");
    }
}
