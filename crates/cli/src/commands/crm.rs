use std::path::Path;

use anyhow::Context;
use dealthread_core::entities::EntitiesFile;
use dealthread_core::ingest::unix_now;

use super::{Done, open_store};

pub fn import_entities(db: &Path, file: &Path) -> anyhow::Result<Done> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let entities = EntitiesFile::parse(&text, &file.display().to_string())?;
    let store = open_store(db)?;
    let deals = entities.store_deals(store.conn(), unix_now())?;
    println!(
        "imported {deals} deals; read {} contacts and {} companies",
        entities.contacts.len(),
        entities.companies.len()
    );
    Ok(Done::Ok)
}
