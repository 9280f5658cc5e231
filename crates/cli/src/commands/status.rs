//! `dealthread status [--json]`: messages, threads, unmatched mail, the
//! outbox by state, and each source's last sync and completeness.

use std::path::Path;

use dealthread_core::crm::{self, outbox};
use dealthread_core::sources::accounts;
use dealthread_core::store::overview;

use super::{Done, open_store};

pub fn run(db: &Path, json: bool) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let overview = overview::overview(store.conn())?;
    let counts = outbox::counts(store.conn(), None)?;
    let sources = accounts::views(&store)?;
    let paused: Vec<(String, String)> = crm::accounts(store.conn())?
        .into_iter()
        .filter_map(|a| a.paused_reason.map(|r| (a.name, r)))
        .collect();
    if json {
        let value = serde_json::json!({
            "store": overview,
            "outbox": counts,
            "crm_paused": paused.iter().map(|(n, r)| serde_json::json!({"name": n, "reason": r})).collect::<Vec<_>>(),
            "sources": sources,
        });
        super::print_line(&serde_json::to_string_pretty(&value)?)?;
        return Ok(Done::Ok);
    }
    println!(
        "messages: {} in {} threads; {} unmatched, {} unreadable (kept), {} rebuilt from the provider's JSON",
        overview.messages,
        overview.threads,
        overview.unmatched,
        overview.unreadable,
        overview.rebuilt
    );
    println!(
        "outbox: {} pending, {} in flight, {} failed (retrying), {} dead, {} sent",
        counts.pending, counts.in_flight, counts.failed, counts.dead, counts.sent
    );
    for (name, reason) in &paused {
        println!("CRM {name}: paused: {reason}");
    }
    for source in &sources {
        let last = source.last_sync_at.map_or("never synced".to_string(), |at| {
            format!("last sync {}", super::format_time(at))
        });
        let mut line =
            format!("source {} ({}, {}): {last}", source.name, source.kind, source.target);
        match source.missing {
            Some(0) => line.push_str("; complete at the last check"),
            Some(n) => line.push_str(&format!("; {n} on the server missing locally")),
            None => {}
        }
        if source.skipped > 0 {
            line.push_str(&format!("; {} provider entries skipped", source.skipped));
        }
        if let Some(error) = &source.last_error {
            line.push_str(&format!("; last error: {error}"));
        }
        println!("{line}");
    }
    Ok(Done::Ok)
}
