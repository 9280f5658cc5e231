//! Attachments from the reader: previewed (images by their own bytes,
//! PDFs drawn page by page in Rust), saved to Downloads, or handed to the
//! system's viewer. Names are made safe before they touch the disk; a
//! dangerous type needs the rep's confirmation first.

use dealthread_core::preview::{self, Preview};
use dealthread_core::store::attachments;
use dealthread_core::{CoreError, paths};
use tauri::State;

use crate::commands::blocking;
use crate::error::CommandError;
use crate::state::AppState;

/// An image, or the first pages of a PDF drawn as images; `null` for a
/// type with no preview. The store is free while a PDF is drawn.
#[tauri::command]
pub async fn attachment_preview(
    state: State<'_, AppState>,
    message_id: i64,
    position: u32,
) -> Result<Option<Preview>, CommandError> {
    let (found, bytes) =
        state.with_store(|store| attachments::bytes(store, message_id, position))?;
    blocking("the preview", move || preview::of(&found, bytes)).await
}

/// Saves an attachment to the Downloads folder; returns where.
#[tauri::command]
pub async fn save_attachment(
    state: State<'_, AppState>,
    message_id: i64,
    position: u32,
) -> Result<String, CommandError> {
    state.with_store(|store| {
        let path = attachments::save_into(store, message_id, position, &paths::downloads())?;
        Ok(path.display().to_string())
    })
}

/// Opens an attachment with the system's viewer, from a private folder.
/// One with a warning opens only with `confirmed`.
#[tauri::command]
pub async fn open_attachment(
    state: State<'_, AppState>,
    message_id: i64,
    position: u32,
    confirmed: bool,
) -> Result<String, CommandError> {
    state.with_store(|store| {
        let found = attachments::get(store.conn(), message_id, position)?.ok_or_else(|| {
            CoreError::NotFound(format!("message {message_id}: it has no attachment {position}"))
        })?;
        if let Some(warning) = found.warning.filter(|_| !confirmed) {
            return Err(CoreError::InvalidInput(format!(
                "{}: {warning}; confirm to open it anyway",
                found.filename.as_deref().unwrap_or("this attachment")
            )));
        }
        let folder =
            paths::private_scratch().map_err(|e| CoreError::io(std::env::temp_dir(), e))?;
        let path = attachments::save_into(store, message_id, position, &folder)?;
        paths::open_with_system(&path).map_err(|e| CoreError::io(&path, e))?;
        Ok(path.display().to_string())
    })
}
