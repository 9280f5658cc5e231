use std::path::Path;

use dealthread_core::store::deals;

use super::{Done, open_store, print_line};

pub fn run(db: &Path, json: bool) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let list = deals::list(store.conn())?;
    if json {
        print_line(&serde_json::to_string_pretty(&list)?)?;
        return Ok(Done::Ok);
    }
    for summary in &list {
        print_line(&format!(
            "{:<10} {:>4} messages  last {}  {}",
            summary.deal.id,
            summary.message_count,
            summary.last_activity.as_deref().unwrap_or("-"),
            summary.deal.name.as_deref().unwrap_or("(no name yet)")
        ))?;
    }
    Ok(Done::Ok)
}
