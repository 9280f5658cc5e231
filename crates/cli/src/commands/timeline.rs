use std::path::Path;

use anyhow::bail;
use dealthread_core::store::timeline;

use super::{Done, open_store, print_line};

pub fn run(db: &Path, deal_id: &str, json: bool) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let Some(timeline) = timeline::deal_timeline(store.conn(), deal_id)? else {
        bail!("deal {deal_id}: no such deal in {}", db.display());
    };
    if json {
        print_line(&serde_json::to_string_pretty(&timeline)?)?;
        return Ok(Done::Ok);
    }
    let timeline::DealTimeline { deal, messages, .. } = timeline;
    print_line(&format!("{} {}", deal.id, deal.name.as_deref().unwrap_or("(no name yet)")))?;
    for message in &messages {
        let from = message.from.as_ref().map_or_else(
            || "(unknown sender)".to_string(),
            |m| match &m.name {
                Some(name) => format!("{name} <{}>", m.address),
                None => m.address.clone(),
            },
        );
        print_line("")?;
        print_line(&format!(
            "{}  {}  {}",
            message.date.as_deref().unwrap_or("(no date)"),
            from,
            message.subject.as_deref().unwrap_or("(no subject)")
        ))?;
        if let Some(error) = &message.parse_error {
            print_line(&format!("    [unreadable: {error}]"))?;
        }
        for line in message.body.as_deref().unwrap_or_default().lines() {
            print_line(&format!("    {line}"))?;
        }
    }
    Ok(Done::Ok)
}
