//! The commands the window may call. Each is a few lines over the engine.

use dealthread_core::CoreError;
use dealthread_core::store::deals::{self, DealSummary};
use dealthread_core::store::timeline::{self, DealTimeline};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::error::CommandError;
use crate::state::AppState;

/// What the window needs to know at start.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AppStatus {
    pub db_path: String,
    pub demo_loaded: bool,
    /// Set when the database could not be opened; every other call fails too.
    pub open_error: Option<CommandError>,
}

#[tauri::command]
pub async fn app_status(state: State<'_, AppState>) -> Result<AppStatus, CommandError> {
    Ok(AppStatus {
        db_path: state.db_path.clone(),
        demo_loaded: state.demo_loaded,
        open_error: state.open_error().cloned(),
    })
}

#[tauri::command]
pub async fn list_deals(state: State<'_, AppState>) -> Result<Vec<DealSummary>, CommandError> {
    state.with_store(|store| deals::list(store.conn()))
}

#[tauri::command]
pub async fn deal_timeline(
    state: State<'_, AppState>,
    deal_id: String,
) -> Result<DealTimeline, CommandError> {
    state.with_store(|store| {
        timeline::deal_timeline(store.conn(), &deal_id)?
            .ok_or_else(|| CoreError::NotFound(format!("deal {deal_id}: no such deal")))
    })
}
