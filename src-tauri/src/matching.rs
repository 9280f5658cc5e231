//! The review queue and the rep's corrections, as the window calls them.
//! Each command is a few lines over `dealthread_core::matching`.

use dealthread_core::CoreError;
use dealthread_core::ingest::unix_now;
use dealthread_core::matching::EntityKind;
use dealthread_core::matching::corrections::{self, Always, Applied, Scope, local_actor};
use dealthread_core::store::corrections::{self as log, CorrectionView};
use dealthread_core::store::entities::{self, EntityRef};
use dealthread_core::store::matches::{self, MatchView, ReviewItem};
use tauri::State;

use crate::error::CommandError;
use crate::state::AppState;

/// Ambiguous and unmatched mail, newest first, with ranked suggestions.
#[tauri::command]
pub async fn review_queue(state: State<'_, AppState>) -> Result<Vec<ReviewItem>, CommandError> {
    state.with_store(|store| matches::review_queue(store.conn(), 500))
}

/// A message's match, the rule that made it and why.
#[tauri::command]
pub async fn match_view(
    state: State<'_, AppState>,
    message_id: i64,
) -> Result<MatchView, CommandError> {
    state.with_store(|store| {
        matches::view(store.conn(), message_id)?
            .ok_or_else(|| CoreError::NotFound(format!("message {message_id}: no such message")))
    })
}

/// Deals, contacts and companies for the correction picker.
#[tauri::command]
pub async fn find_entities(
    state: State<'_, AppState>,
    text: String,
) -> Result<Vec<EntityRef>, CommandError> {
    state.with_store(|store| entities::find(store.conn(), text.trim(), 30))
}

fn scope(message_id: i64, whole_thread: bool) -> Scope {
    if whole_thread { Scope::Thread(message_id) } else { Scope::Message(message_id) }
}

/// Files a message (or its thread) under an entity; with `always`, also
/// makes the sender rule, and returns that (the later) correction.
#[tauri::command]
pub async fn move_match(
    state: State<'_, AppState>,
    message_id: i64,
    kind: EntityKind,
    entity_id: String,
    whole_thread: bool,
    always: Option<Always>,
) -> Result<Applied, CommandError> {
    let actor = local_actor();
    state.with_store(|store| {
        let now = unix_now();
        let moved = corrections::move_to(
            store.conn_mut(),
            scope(message_id, whole_thread),
            kind,
            &entity_id,
            &actor,
            now,
        )?;
        match always {
            Some(always) => corrections::rule_from_message(
                store.conn_mut(),
                message_id,
                always,
                kind,
                &entity_id,
                &actor,
                now,
            ),
            None => Ok(moved),
        }
    })
}

/// Accepts suggestion `rank` (1 = first) for the message's thread.
#[tauri::command]
pub async fn accept_suggestion(
    state: State<'_, AppState>,
    message_id: i64,
    rank: usize,
) -> Result<Applied, CommandError> {
    state.with_store(|store| {
        corrections::accept(store.conn_mut(), message_id, rank, &local_actor(), unix_now())
    })
}

/// Marks a message (or its thread) as not CRM-worthy.
#[tauri::command]
pub async fn ignore_match(
    state: State<'_, AppState>,
    message_id: i64,
    whole_thread: bool,
) -> Result<Applied, CommandError> {
    state.with_store(|store| {
        corrections::mark_not_worthy(
            store.conn_mut(),
            scope(message_id, whole_thread),
            &local_actor(),
            unix_now(),
        )
    })
}

#[tauri::command]
pub async fn split_thread(
    state: State<'_, AppState>,
    message_id: i64,
) -> Result<Applied, CommandError> {
    state.with_store(|store| {
        corrections::split(store.conn_mut(), message_id, &local_actor(), unix_now())
    })
}

#[tauri::command]
pub async fn merge_threads(
    state: State<'_, AppState>,
    message_id: i64,
    other_id: i64,
) -> Result<Applied, CommandError> {
    state.with_store(|store| {
        corrections::merge(store.conn_mut(), message_id, other_id, &local_actor(), unix_now())
    })
}

/// Undoes a correction, the newest when `id` is null.
#[tauri::command]
pub async fn undo_correction(
    state: State<'_, AppState>,
    id: Option<i64>,
) -> Result<Applied, CommandError> {
    state.with_store(|store| corrections::undo(store.conn_mut(), id, &local_actor(), unix_now()))
}

#[tauri::command]
pub async fn correction_log(
    state: State<'_, AppState>,
) -> Result<Vec<CorrectionView>, CommandError> {
    state.with_store(|store| log::list(store.conn(), 200))
}
