//! `dealthread match ...`: the review queue, the rep's corrections, sender
//! rules, and the matcher's settings.

use std::path::Path;

use anyhow::bail;
use clap::{Args, Subcommand};
use dealthread_core::Store;
use dealthread_core::ingest::unix_now;
use dealthread_core::matching::addresses::{AliasPattern, parse_block_entry};
use dealthread_core::matching::corrections::{self, Applied, Scope};
use dealthread_core::matching::{EntityKind, Suggestion};
use dealthread_core::store::{corrections as log, entities, matches, settings};

use super::{Done, format_time, open_store, print_line};

#[derive(Subcommand)]
pub enum MatchCommand {
    /// The review queue: ambiguous and unmatched messages with suggestions.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// A message's match, the rule that made it and why.
    Show {
        message: i64,
        #[arg(long)]
        json: bool,
    },
    /// Accept a suggestion (1 = the first) for a message's whole thread.
    Accept {
        message: i64,
        #[arg(default_value_t = 1)]
        suggestion: usize,
    },
    /// File a message (or its thread) under another deal, contact or company.
    Move {
        message: i64,
        #[command(flatten)]
        target: Target,
        /// Move the whole thread; later replies follow.
        #[arg(long)]
        thread: bool,
        /// Also always file this sender's mail (or their domain's) there.
        #[arg(long, value_name = "sender|domain")]
        always: Option<Always>,
    },
    /// Mark a message (or its thread) as not CRM-worthy: it is never pushed.
    Ignore {
        message: i64,
        #[arg(long)]
        thread: bool,
    },
    /// Split a wrongly joined thread at a message (with the replies below it).
    Split { message: i64 },
    /// Merge the thread of OTHER into the thread of MESSAGE.
    Merge { message: i64, other: i64 },
    /// Undo a correction (the newest one when no id is given).
    Undo { correction: Option<i64> },
    /// The log of corrections: who, when, from what to what.
    Log {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// "Always file mail from this sender / domain under ...".
    Rule {
        #[command(subcommand)]
        command: RuleCommand,
    },
    /// Senders on matched deals who are not CRM contacts yet.
    Contacts {
        #[arg(long)]
        json: bool,
    },
    /// Deals, contacts and companies whose id, name, address or domain contains TEXT.
    Find { text: String },
    /// Show or change the team's domains, the alias pattern and the block list.
    Settings(SettingsArgs),
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    #[arg(long, value_name = "ID")]
    deal: Option<String>,
    #[arg(long, value_name = "ID")]
    contact: Option<String>,
    #[arg(long, value_name = "ID")]
    company: Option<String>,
}

impl Target {
    fn entity(&self) -> (EntityKind, &str) {
        match (&self.deal, &self.contact, &self.company) {
            (Some(id), _, _) => (EntityKind::Deal, id),
            (_, Some(id), _) => (EntityKind::Contact, id),
            (_, _, Some(id)) => (EntityKind::Company, id),
            // clap requires exactly one of the three.
            _ => (EntityKind::Deal, ""),
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Always {
    Sender,
    Domain,
}

#[derive(Subcommand)]
pub enum RuleCommand {
    Add {
        /// An address, or @domain (its subdomains too).
        #[arg(long, value_name = "ADDRESS|@DOMAIN")]
        sender: String,
        #[command(flatten)]
        target: Target,
    },
    List,
    Remove {
        id: i64,
    },
}

#[derive(Args)]
pub struct SettingsArgs {
    /// The alias pattern, e.g. `{kind}+{id}` (the default) or `crm.{kind}.{id}`.
    #[arg(long, value_name = "PATTERN")]
    alias_pattern: Option<String>,
    /// A domain of the team's own (mail only among them is internal); repeatable.
    #[arg(long, value_name = "DOMAIN")]
    add_team_domain: Vec<String>,
    #[arg(long, value_name = "DOMAIN")]
    remove_team_domain: Vec<String>,
    /// An address or @domain whose mail is never pushed nor made a contact; repeatable.
    #[arg(long, value_name = "ENTRY")]
    block: Vec<String>,
    #[arg(long, value_name = "ENTRY")]
    unblock: Vec<String>,
}

pub fn run(db: &Path, command: MatchCommand) -> anyhow::Result<Done> {
    let mut store = open_store(db)?;
    let now = unix_now();
    let who = corrections::local_actor();
    match command {
        MatchCommand::List { limit, json } => return list(&store, limit, json),
        MatchCommand::Show { message, json } => return show(&store, message, json),
        MatchCommand::Log { limit, json } => return show_log(&store, limit, json),
        MatchCommand::Settings(args) => return change_settings(&store, args),
        _ => {}
    }
    let conn = store.conn_mut();
    let applied = match command {
        MatchCommand::Accept { message, suggestion } => {
            corrections::accept(conn, message, suggestion, &who, now)?
        }
        MatchCommand::Move { message, target, thread, always } => {
            let (kind, id) = target.entity();
            let scope = if thread { Scope::Thread(message) } else { Scope::Message(message) };
            let moved = corrections::move_to(conn, scope, kind, id, &who, now)?;
            match always {
                Some(always) => {
                    report(&moved)?;
                    let always = match always {
                        Always::Sender => corrections::Always::Sender,
                        Always::Domain => corrections::Always::Domain,
                    };
                    corrections::rule_from_message(conn, message, always, kind, id, &who, now)?
                }
                None => moved,
            }
        }
        MatchCommand::Ignore { message, thread } => {
            let scope = if thread { Scope::Thread(message) } else { Scope::Message(message) };
            corrections::mark_not_worthy(conn, scope, &who, now)?
        }
        MatchCommand::Split { message } => corrections::split(conn, message, &who, now)?,
        MatchCommand::Merge { message, other } => {
            corrections::merge(conn, message, other, &who, now)?
        }
        MatchCommand::Undo { correction } => {
            let undone = corrections::undo(conn, correction, &who, now)?;
            print_line(&undone.summary)?;
            return Ok(Done::Ok);
        }
        MatchCommand::Rule { command: RuleCommand::Add { sender, target } } => {
            let (kind, id) = target.entity();
            corrections::add_rule(conn, &sender, kind, id, &who, now)?
        }
        MatchCommand::Rule { command: RuleCommand::List } => {
            for r in entities::sender_rules(conn)? {
                print_line(&format!(
                    "#{:<4} {:<32} -> {} {}  (by {}, {})",
                    r.id,
                    r.pattern,
                    r.kind.as_str(),
                    r.entity_id,
                    r.created_by,
                    format_time(r.created_at)
                ))?;
            }
            return Ok(Done::Ok);
        }
        MatchCommand::Rule { command: RuleCommand::Remove { id } } => {
            corrections::remove_rule(conn, id, &who, now)?
        }
        MatchCommand::Contacts { json } => {
            let config = matches::config(conn)?;
            let offers = matches::contact_offers(conn, &config, None)?;
            if json {
                print_line(&serde_json::to_string_pretty(&offers)?)?;
            } else if offers.is_empty() {
                println!("every sender on a matched deal is a CRM contact");
            }
            for o in offers.iter().filter(|_| !json) {
                print_line(&format!(
                    "{:<40} {:<24} on deal {} ({} messages)",
                    o.address,
                    o.name.as_deref().unwrap_or("-"),
                    o.deal_id,
                    o.messages
                ))?;
            }
            return Ok(Done::Ok);
        }
        MatchCommand::Find { text } => {
            for e in entities::find(conn, &text, 50)? {
                print_line(&format!(
                    "{:<8} {:<16} {}  {}",
                    e.kind.as_str(),
                    e.id,
                    e.name.as_deref().unwrap_or("-"),
                    e.detail.as_deref().unwrap_or("")
                ))?;
            }
            return Ok(Done::Ok);
        }
        MatchCommand::List { .. }
        | MatchCommand::Show { .. }
        | MatchCommand::Log { .. }
        | MatchCommand::Settings(_) => {
            return Ok(Done::Ok);
        }
    };
    report(&applied)?;
    Ok(Done::Ok)
}

fn report(applied: &Applied) -> anyhow::Result<()> {
    print_line(&format!(
        "correction #{}: {} (undo with `dealthread match undo {}`)",
        applied.correction_id, applied.summary, applied.correction_id
    ))
}

fn suggestion_lines(suggestions: &[Suggestion]) -> Vec<String> {
    suggestions
        .iter()
        .enumerate()
        .map(|(i, s)| format!("    {}. {} {}: {}", i + 1, s.kind.as_str(), s.id, s.reason))
        .collect()
}

fn list(store: &Store, limit: u32, json: bool) -> anyhow::Result<Done> {
    let queue = matches::review_queue(store.conn(), limit)?;
    if json {
        print_line(&serde_json::to_string_pretty(&queue)?)?;
        return Ok(Done::Ok);
    }
    if queue.is_empty() {
        println!("the review queue is empty");
    }
    for item in &queue {
        print_line(&format!(
            "{:>6}  {:<9} {}  {}  {}",
            item.message_id,
            item.status.as_str(),
            item.date.as_deref().unwrap_or("-"),
            item.from_address.as_deref().unwrap_or("-"),
            item.subject.as_deref().unwrap_or("(no subject)")
        ))?;
        print_line(&format!("        {}", item.reason))?;
        for line in suggestion_lines(&item.suggestions) {
            print_line(&line)?;
        }
    }
    Ok(Done::Ok)
}

fn show(store: &Store, message: i64, json: bool) -> anyhow::Result<Done> {
    let Some(view) = matches::view(store.conn(), message)? else {
        bail!("there is no message {message}");
    };
    if json {
        print_line(&serde_json::to_string_pretty(&view)?)?;
        return Ok(Done::Ok);
    }
    let filed = [
        view.assignment.deal_id.as_ref().map(|d| format!("deal {d}")),
        view.assignment.contact_id.as_ref().map(|c| format!("contact {c}")),
        view.assignment.company_id.as_ref().map(|c| format!("company {c}")),
    ];
    let filed: Vec<String> = filed.into_iter().flatten().collect();
    println!("message {message}: {}", view.status.as_str());
    println!(
        "  filed under: {}",
        if filed.is_empty() { "nothing".into() } else { filed.join(", ") }
    );
    println!("  rule: {}", view.rule.map_or("none", |r| r.as_str()));
    println!("  why: {}", view.reason);
    match &view.not_worthy_reason {
        Some(why) => println!("  pushed to the CRM: no ({why})"),
        None if view.crm_worthy => println!("  pushed to the CRM: yes"),
        None => println!("  pushed to the CRM: no"),
    }
    for line in suggestion_lines(&view.suggestions) {
        println!("{line}");
    }
    Ok(Done::Ok)
}

fn show_log(store: &Store, limit: u32, json: bool) -> anyhow::Result<Done> {
    let entries = log::list(store.conn(), limit)?;
    if json {
        print_line(&serde_json::to_string_pretty(&entries)?)?;
        return Ok(Done::Ok);
    }
    for e in &entries {
        let undone = e
            .undone_at
            .map(|t| {
                format!(
                    "  [undone {} by {}]",
                    format_time(t),
                    e.undone_by.as_deref().unwrap_or("?")
                )
            })
            .unwrap_or_default();
        print_line(&format!(
            "#{:<5} {}  {:<10} {}{undone}",
            e.id,
            format_time(e.created_at),
            e.actor,
            e.summary
        ))?;
    }
    Ok(Done::Ok)
}

fn change_settings(store: &Store, args: SettingsArgs) -> anyhow::Result<Done> {
    let conn = store.conn();
    if let Some(pattern) = &args.alias_pattern {
        AliasPattern::parse(pattern)?;
        settings::set(conn, "alias_pattern", pattern)?;
    }
    let mut team = settings::list(conn, "team_domains")?;
    for domain in &args.add_team_domain {
        team.push(dealthread_core::dns::normalize_domain(domain).map_err(anyhow::Error::msg)?);
    }
    team.retain(|d| !args.remove_team_domain.iter().any(|r| r.eq_ignore_ascii_case(d)));
    settings::set_list(conn, "team_domains", &team)?;
    let mut block = settings::list(conn, "block_list")?;
    for entry in &args.block {
        block.push(parse_block_entry(entry)?);
    }
    block.retain(|b| !args.unblock.iter().any(|u| u.trim().eq_ignore_ascii_case(b)));
    settings::set_list(conn, "block_list", &block)?;

    let config = matches::config(conn)?;
    let show =
        |list: &[String]| if list.is_empty() { "(none)".to_string() } else { list.join(", ") };
    println!(
        "alias pattern: {}@<inbound domain>",
        settings::get(conn, "alias_pattern")?
            .unwrap_or_else(|| dealthread_core::matching::addresses::DEFAULT_ALIAS_PATTERN.into())
    );
    println!("inbound domains: {}", show(&config.inbound_domains));
    println!("team domains: {}", show(&config.team_domains));
    println!("block list: {}", show(&config.block_list));
    Ok(Done::Ok)
}
