//! The commands the window may call. Each is a few lines over the engine.

use dealthread_core::CoreError;
use dealthread_core::store::deals::{self, DealSummary};
use dealthread_core::store::timeline::{self, DealTimeline};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use dealthread_core::ingest;
use dealthread_core::sources::accounts::{self, Configured, NewImap, NewProvider, SourceView};

use crate::background::{Background, SourceState};
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

/// Every configured source with how it stands.
#[tauri::command]
pub async fn list_sources(state: State<'_, AppState>) -> Result<Vec<SourceView>, CommandError> {
    state.with_store(|store| accounts::views(store))
}

/// What each source's background task is doing right now.
#[tauri::command]
pub async fn source_states(
    background: State<'_, Background>,
) -> Result<Vec<SourceState>, CommandError> {
    Ok(background.states())
}

/// Reaches the provider with the form's settings; stores nothing.
#[tauri::command]
pub async fn test_provider_source(input: NewProvider) -> Result<String, CommandError> {
    blocking("the check", move || accounts::test_provider(&input)).await
}

/// Logs in to the IMAP server with the form's settings; stores nothing.
#[tauri::command]
pub async fn test_imap_source(input: NewImap) -> Result<String, CommandError> {
    blocking("the check", move || accounts::test_imap(&input)).await
}

/// Saves a provider source (its key to the OS keyring) and starts syncing it.
#[tauri::command]
pub async fn add_provider_source(
    state: State<'_, AppState>,
    background: State<'_, Background>,
    input: NewProvider,
) -> Result<(), CommandError> {
    let source = state
        .with_source_store(|store| accounts::add_provider(store, &input, ingest::unix_now()))?;
    background.start(Configured::Provider(source));
    Ok(())
}

/// Saves an IMAP source (its password to the OS keyring) and starts syncing it.
#[tauri::command]
pub async fn add_imap_source(
    state: State<'_, AppState>,
    background: State<'_, Background>,
    input: NewImap,
) -> Result<(), CommandError> {
    let source =
        state.with_source_store(|store| accounts::add_imap(store, &input, ingest::unix_now()))?;
    background.start(Configured::Imap(source));
    Ok(())
}

/// Stops a source's sync and removes it and its secret; its mail stays.
#[tauri::command]
pub async fn remove_source(
    state: State<'_, AppState>,
    background: State<'_, Background>,
    name: String,
) -> Result<(), CommandError> {
    background.stop(&name);
    let removed = state.with_source_store(|store| accounts::remove(store, &name))?;
    if removed {
        Ok(())
    } else {
        Err(CoreError::NotFound(format!("source {name}: no such source")).into())
    }
}

/// Runs slow work (the network, an import, drawing a preview) off the
/// async runtime's threads; `what` names it if it dies.
pub async fn blocking<T: Send + 'static, E: Into<CommandError> + Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, CommandError> {
    match tauri::async_runtime::spawn_blocking(work).await {
        Ok(outcome) => outcome.map_err(Into::into),
        Err(error) => Err(CommandError {
            code: dealthread_core::ErrorCode::Io,
            message: format!("{what} stopped unexpectedly: {error}"),
        }),
    }
}

/// The outbox at a glance: counts by state, and every activity not sent yet
/// with its reason.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct OutboxView {
    pub counts: dealthread_core::crm::outbox::Counts,
    pub unsent: Vec<dealthread_core::crm::outbox::Row>,
    /// CRM connections that are paused, with why.
    pub paused: Vec<(String, String)>,
}

#[tauri::command]
pub async fn outbox_view(state: State<'_, AppState>) -> Result<OutboxView, CommandError> {
    use dealthread_core::crm::{self, outbox};
    state.with_store(|store| {
        let paused = crm::accounts(store.conn())?
            .into_iter()
            .filter_map(|a| a.paused_reason.map(|r| (a.name, r)))
            .collect();
        Ok(OutboxView {
            counts: outbox::counts(store.conn(), None)?,
            unsent: outbox::unsent(store.conn())?,
            paused,
        })
    })
}

/// Makes a failed activity (or all, without `id`) due now.
#[tauri::command]
pub async fn outbox_retry(
    state: State<'_, AppState>,
    id: Option<i64>,
) -> Result<usize, CommandError> {
    use dealthread_core::crm::outbox;
    state.with_store(|store| outbox::retry_now(store.conn(), id, outbox::now_ms()))
}

/// Puts a dead-letter activity (or all, without `id`) back in the queue.
#[tauri::command]
pub async fn outbox_replay(
    state: State<'_, AppState>,
    id: Option<i64>,
) -> Result<usize, CommandError> {
    use dealthread_core::crm::outbox;
    state.with_store(|store| outbox::replay(store.conn(), id, outbox::now_ms()))
}

/// Exactly what the CRM would receive for a message (its sharing level and
/// the redaction rules applied).
#[tauri::command]
pub async fn activity_preview(
    state: State<'_, AppState>,
    message_id: i64,
) -> Result<serde_json::Value, CommandError> {
    state.with_store(|store| dealthread_core::crm::sharing::payload(store.conn(), message_id))
}

/// Sets a deal's or contact's sharing level; `null` falls back to the default.
#[tauri::command]
pub async fn set_sharing_level(
    state: State<'_, AppState>,
    kind: dealthread_core::matching::EntityKind,
    id: String,
    level: Option<dealthread_core::crm::sharing::SharingLevel>,
) -> Result<(), CommandError> {
    state.with_store(|store| {
        dealthread_core::crm::sharing::set_level(store.conn(), kind, &id, level, ingest::unix_now())
    })
}

/// Opens a message for reading (and marks it read); `load_images` when the
/// rep asked to see its remote images.
#[tauri::command]
pub async fn open_message(
    state: State<'_, AppState>,
    message_id: i64,
    load_images: bool,
) -> Result<dealthread_core::store::reading::MessageView, CommandError> {
    use dealthread_core::store::reading;
    state.with_store(|store| {
        reading::open(store, message_id, load_images, ingest::unix_now())?
            .ok_or_else(|| CoreError::NotFound(format!("message {message_id}: no such message")))
    })
}

/// Always loads this sender's remote images from now on.
#[tauri::command]
pub async fn trust_sender_images(
    state: State<'_, AppState>,
    address: String,
) -> Result<(), CommandError> {
    state.with_store(|store| {
        dealthread_core::store::reading::trust_images_from(store.conn(), &address)
    })
}

/// What the command palette shows for the rep's words: matching deals, and
/// matching mail with highlighted snippets.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct PaletteResults {
    pub deals: Vec<dealthread_core::store::entities::EntityRef>,
    pub messages: Vec<dealthread_core::store::search::SearchHit>,
}

#[tauri::command]
pub async fn palette_search(
    state: State<'_, AppState>,
    query: dealthread_core::store::search::SearchQuery,
) -> Result<PaletteResults, CommandError> {
    use dealthread_core::matching::EntityKind;
    use dealthread_core::store::{entities, search};
    state.with_store(|store| {
        let deals = if query.text.trim().is_empty() {
            Vec::new()
        } else {
            entities::find(store.conn(), query.text.trim(), 20)?
                .into_iter()
                .filter(|e| e.kind == EntityKind::Deal)
                .take(6)
                .collect()
        };
        let messages = search::search(store.conn(), &query)?;
        Ok(PaletteResults { deals, messages })
    })
}
