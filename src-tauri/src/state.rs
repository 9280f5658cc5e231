//! What the app holds while it runs: the store, or why it could not open.

use std::path::Path;
use std::sync::Mutex;

use dealthread_core::{CoreError, Store, demo};

use crate::error::CommandError;

pub struct AppState {
    store: Result<Mutex<Store>, CommandError>,
    pub db_path: String,
    pub demo_loaded: bool,
}

impl AppState {
    /// Opens the store and, on a first start with an empty database, loads
    /// the demo workspace. A store that cannot open is kept as an error the
    /// window shows, rather than a crash.
    pub fn open(path: &Path) -> AppState {
        let opened = Store::open(path).and_then(|mut store| {
            let loaded = demo::load_if_empty(&mut store)?;
            Ok::<_, CoreError>((store, loaded))
        });
        let db_path = path.display().to_string();
        match opened {
            Ok((store, demo_loaded)) => {
                tracing::info!(db = %db_path, demo_loaded, "store opened");
                AppState { store: Ok(Mutex::new(store)), db_path, demo_loaded }
            }
            Err(error) => {
                tracing::error!(db = %db_path, %error, "store did not open");
                AppState { store: Err(CommandError::from(error)), db_path, demo_loaded: false }
            }
        }
    }

    /// Runs `f` with the store.
    pub fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> dealthread_core::Result<T>,
    ) -> Result<T, CommandError> {
        let store = self.store.as_ref().map_err(Clone::clone)?;
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back), so a poisoned lock is safe to reuse.
        let mut guard = store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard).map_err(CommandError::from)
    }

    /// Like [`AppState::with_store`], for work that fails as a source does.
    pub fn with_source_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, dealthread_core::sources::SourceError>,
    ) -> Result<T, CommandError> {
        let store = self.store.as_ref().map_err(Clone::clone)?;
        let mut guard = store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard).map_err(CommandError::from)
    }

    /// Every configured source, for the background tasks to start with.
    pub fn sources(&self) -> Vec<dealthread_core::sources::accounts::Configured> {
        self.with_store(|store| dealthread_core::sources::accounts::Configured::all(store))
            .unwrap_or_else(|error| {
                tracing::error!(message = %error.message, "could not read the configured sources");
                Vec::new()
            })
    }

    pub fn open_error(&self) -> Option<&CommandError> {
        self.store.as_ref().err()
    }
}
