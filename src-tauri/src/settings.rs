//! The settings page and the sync health page: the workspace's preferences,
//! CRM connections (their secrets to the OS keyring) and how pushing is
//! going. Each command is a few lines over the engine.

use dealthread_core::crm::connections::{self, CrmView, NewCrm};
use dealthread_core::crm::health::{self, PushHealth};
use dealthread_core::ingest::unix_now;
use dealthread_core::preferences::{self, Preferences};
use tauri::State;

use crate::error::CommandError;
use crate::state::AppState;

#[tauri::command]
pub async fn preferences(state: State<'_, AppState>) -> Result<Preferences, CommandError> {
    state.with_store(|store| preferences::load(store.conn()))
}

/// Saves the whole form, or nothing when a field is wrong.
#[tauri::command]
pub async fn save_preferences(
    state: State<'_, AppState>,
    wanted: Preferences,
) -> Result<Preferences, CommandError> {
    state.with_store(|store| preferences::save(store.conn_mut(), &wanted))
}

#[tauri::command]
pub async fn list_crms(state: State<'_, AppState>) -> Result<Vec<CrmView>, CommandError> {
    state.with_store(|store| connections::views(store.conn()))
}

/// Reaches the CRM with the form's settings; stores nothing.
#[tauri::command]
pub async fn test_crm(input: NewCrm) -> Result<String, CommandError> {
    crate::commands::blocking("the check", move || connections::test(&input)).await
}

/// Saves a CRM connection (its secret to the OS keyring); the background
/// pusher starts on its queue at its next pass. Returns how many activities
/// were queued.
#[tauri::command]
pub async fn add_crm(state: State<'_, AppState>, input: NewCrm) -> Result<usize, CommandError> {
    state.with_source_store(|store| connections::add(store.conn(), &input, unix_now()))
}

#[tauri::command]
pub async fn remove_crm(state: State<'_, AppState>, name: String) -> Result<bool, CommandError> {
    state.with_source_store(|store| connections::remove(store.conn(), &name))
}

/// Pushing over the last week: each connection, latency, failures by cause.
#[tauri::command]
pub async fn push_health(state: State<'_, AppState>) -> Result<PushHealth, CommandError> {
    state.with_store(|store| health::push_health(store.conn(), unix_now()))
}
