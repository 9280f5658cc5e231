//! The Dealthread desktop app: a thin Tauri shell over `dealthread-core`.
//!
//! Commands parse their input, call the engine and return its result; the
//! engine owns every behaviour. The window reads only the local store, so the
//! app starts and works without a network.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod attachments;
mod background;
mod commands;
mod error;
mod import;
mod matching;
mod notify;
mod painting;
mod settings;
mod state;

fn main() {
    let painting = painting::apply();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if painting == painting::Painting::Software {
        tracing::info!("no GPU render node: WebKit paints without compositing");
    }

    let app = tauri::Builder::default()
        .setup(|app| {
            use tauri::Manager;
            let db = dealthread_core::paths::default_db();
            let state = state::AppState::open(&db);
            background::start_pusher(db.clone(), std::time::Duration::from_secs(5));
            notify::start(db.clone(), std::time::Duration::from_secs(5));
            background::start_retention(db.clone());
            let background = background::Background::new(app.handle().clone(), db);
            for source in state.sources() {
                background.start(source);
            }
            app.manage(state);
            app.manage(background);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::list_deals,
            commands::deal_timeline,
            commands::list_sources,
            commands::source_states,
            commands::test_provider_source,
            commands::test_imap_source,
            commands::add_provider_source,
            commands::add_imap_source,
            commands::remove_source,
            commands::outbox_view,
            commands::outbox_retry,
            commands::outbox_replay,
            commands::activity_preview,
            commands::set_sharing_level,
            commands::open_message,
            commands::trust_sender_images,
            commands::palette_search,
            matching::review_queue,
            matching::match_view,
            matching::find_entities,
            matching::move_match,
            matching::accept_suggestion,
            matching::ignore_match,
            matching::split_thread,
            matching::merge_threads,
            matching::undo_correction,
            matching::correction_log,
            settings::preferences,
            settings::save_preferences,
            settings::list_crms,
            settings::test_crm,
            settings::add_crm,
            settings::remove_crm,
            settings::push_health,
            import::import_paths,
            attachments::attachment_preview,
            attachments::save_attachment,
            attachments::open_attachment,
            import::import_upload,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"));
    if let Err(error) = app {
        eprintln!("dealthread-app: could not start: {error}");
        std::process::exit(1);
    }
}
