//! `dealthread outbox list|push|retry|replay`: the activities waiting for
//! the CRM. `sync --once` pushes too, through [`push_all`].

use std::path::Path;
use std::time::Duration;

use dealthread_core::Store;
use dealthread_core::crm::outbox::{self, Policy};
use dealthread_core::crm::{self, Account};

use super::{Done, open_store};

pub fn list(db: &Path) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let accounts = crm::accounts(store.conn())?;
    if accounts.is_empty() {
        println!("no CRM connections; add one with `dealthread crm add webhook ...`");
    }
    for account in &accounts {
        let c = outbox::counts(store.conn(), Some(&account.name))?;
        println!(
            "{}: {} pending, {} in flight, {} failed (retrying), {} dead, {} sent, {} held by flood control",
            account.name, c.pending, c.in_flight, c.failed, c.dead, c.sent, c.held
        );
        if let Some(reason) = &account.paused_reason {
            println!("  paused: {reason}");
        }
    }
    let now = outbox::now_ms();
    for row in outbox::unsent(store.conn())? {
        let subject = row.subject.as_deref().unwrap_or("(no subject)");
        let mut line = format!("#{} {} {} {:?}", row.id, row.crm, row.state, subject);
        if row.attempts > 0 {
            line.push_str(&format!(", {} attempts", row.attempts));
        }
        if row.state == "pending" && row.next_attempt_ms > now {
            line.push_str(&format!(", next in {} s", (row.next_attempt_ms - now) / 1000 + 1));
        }
        if let Some(held) = &row.held_reason {
            line.push_str(&format!(": {held}"));
        } else if let Some(error) = &row.last_error {
            line.push_str(&format!(": {error}"));
        }
        super::print_line(&line)?;
    }
    Ok(Done::Ok)
}

pub fn preview(db: &Path, message: i64) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let payload = dealthread_core::crm::sharing::payload(store.conn(), message)?;
    super::print_line(&serde_json::to_string_pretty(&payload)?)?;
    Ok(Done::Ok)
}

pub fn push(db: &Path, wait: Option<u64>) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let healthy = push_all(&store, wait.map(Duration::from_secs))?;
    Ok(if healthy { Done::Ok } else { Done::SomeFailed })
}

pub fn retry(db: &Path, id: Option<i64>) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let n = outbox::retry_now(store.conn(), id, outbox::now_ms())?;
    println!("{n} activities due now; `dealthread outbox push` sends them");
    Ok(Done::Ok)
}

pub fn replay(db: &Path, id: Option<i64>) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let n = outbox::replay(store.conn(), id, outbox::now_ms())?;
    println!("{n} dead-letter activities queued again");
    Ok(Done::Ok)
}

/// Queues what is new and pushes it to every CRM connection; with `wait`,
/// keeps going through backoffs until nothing is pending or the time is up.
/// `false` when a connection is paused or could not be used.
pub fn push_all(store: &Store, wait: Option<Duration>) -> anyhow::Result<bool> {
    let mut healthy = true;
    for account in crm::accounts(store.conn())? {
        if let Some(reason) = &account.paused_reason {
            healthy = false;
            eprintln!(
                "dealthread: {}: paused: {reason}; save the connection again to resume",
                account.name
            );
            continue;
        }
        match push_one(store, &account, wait) {
            Ok(report) => {
                let mut line = format!(
                    "{}: {} sent, {} to retry, {} dead-lettered",
                    account.name, report.sent, report.retried, report.dead
                );
                if report.held > 0 {
                    line.push_str(&format!(", {} held by flood control", report.held));
                }
                if let Some(reason) = report.paused {
                    healthy = false;
                    line.push_str(&format!("; paused: {reason}"));
                }
                println!("{line}");
            }
            Err(error) => {
                healthy = false;
                eprintln!("dealthread: {}: {error:#}", account.name);
            }
        }
    }
    Ok(healthy)
}

fn push_one(
    store: &Store,
    account: &Account,
    wait: Option<Duration>,
) -> anyhow::Result<outbox::PushReport> {
    let adapter = crm::adapter_for(account).map_err(|e| anyhow::anyhow!("{e}"))?;
    outbox::enqueue_new(store.conn(), &account.name, outbox::now_ms())?;
    let mut policy = Policy::default();
    if let Some(wait) = wait {
        policy.until_empty = true;
        policy.budget = wait;
    }
    Ok(outbox::push(store.conn(), &account.name, adapter.as_ref(), policy, &|| false)?)
}
