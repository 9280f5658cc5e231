use std::path::Path;

use anyhow::Context;
use dealthread_core::entities::EntitiesFile;
use dealthread_core::ingest::unix_now;

use dealthread_core::crm::connections::{self, CrmConfig};
use dealthread_core::crm::sharing::{self, SharingLevel};
use dealthread_core::crm::{self, outbox, webhook};
use dealthread_core::matching::EntityKind;

use super::{Done, open_store};

pub fn import_entities(db: &Path, file: &Path) -> anyhow::Result<Done> {
    let text = std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?;
    let entities = EntitiesFile::parse(&text, &file.display().to_string())?;
    let mut store = open_store(db)?;
    let imported = entities.store(store.conn_mut(), unix_now())?;
    println!(
        "imported {} deals, {} contacts and {} companies",
        imported.deals, imported.contacts, imported.companies
    );
    if imported.offered > 0 {
        println!(
            "{} earlier unmatched messages now match and wait in the review queue: dealthread match list",
            imported.offered
        );
    }
    Ok(Done::Ok)
}

pub fn pull(db: &Path, name: Option<&str>) -> anyhow::Result<Done> {
    let mut store = open_store(db)?;
    let accounts = crm::accounts(store.conn())?;
    if let Some(name) = name.filter(|n| !accounts.iter().any(|a| a.name == *n)) {
        anyhow::bail!("there is no CRM connection named {name}");
    }
    Ok(if pull_all(&mut store, name)? { Done::Ok } else { Done::SomeFailed })
}

/// Pulls entities from every connection that offers them (or `only`);
/// prints what each brought. Returns false when one failed.
pub fn pull_all(store: &mut dealthread_core::Store, only: Option<&str>) -> anyhow::Result<bool> {
    let mut healthy = true;
    for account in crm::accounts(store.conn())? {
        if only.is_some_and(|n| n != account.name) {
            continue;
        }
        match crm::pull_entities(store, &account) {
            Ok(Some(report)) => {
                let i = report.imported;
                let mut line = format!(
                    "{}: pulled {} deals, {} contacts, {} companies",
                    account.name, i.deals, i.contacts, i.companies
                );
                if i.offered > 0 {
                    line.push_str(&format!(
                        "; {} unmatched messages now match (see `dealthread match list`)",
                        i.offered
                    ));
                }
                println!("{line}");
                for why in &report.skipped {
                    eprintln!("dealthread: {}: skipped {why}", account.name);
                }
            }
            Ok(None) if only.is_some() => {
                println!("{}: a {} connection has no entities to pull", account.name, account.kind)
            }
            Ok(None) => {}
            Err(error) => {
                healthy = false;
                eprintln!("dealthread: {}: pulling entities: {error}", account.name);
            }
        }
    }
    Ok(healthy)
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct ShareTarget {
    #[arg(long, value_name = "ID")]
    deal: Option<String>,
    #[arg(long, value_name = "ID")]
    contact: Option<String>,
    /// The level for deals and contacts without one of their own.
    #[arg(long)]
    default: bool,
}

pub fn share(db: &Path, target: &ShareTarget, level: &str) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let parsed = match level {
        "clear" => None,
        other => Some(SharingLevel::parse(other).ok_or_else(|| {
            anyhow::anyhow!(
                "sharing level {other:?}: expected metadata, latest_reply, full or clear"
            )
        })?),
    };
    let (kind, id) = match (&target.deal, &target.contact) {
        (Some(id), _) => (EntityKind::Deal, id),
        (_, Some(id)) => (EntityKind::Contact, id),
        _ => {
            let level =
                parsed.ok_or_else(|| anyhow::anyhow!("the default level cannot be cleared"))?;
            sharing::set_default_level(store.conn(), level)?;
            println!(
                "deals and contacts without a level of their own now share: {}",
                level.as_str()
            );
            return Ok(Done::Ok);
        }
    };
    if !dealthread_core::store::entities::exists(store.conn(), kind, id)? {
        anyhow::bail!("{} {id} is not in the CRM cache", kind.as_str());
    }
    sharing::set_level(store.conn(), kind, id, parsed, unix_now())?;
    match parsed {
        Some(level) => println!("{} {id} now shares: {}", kind.as_str(), level.as_str()),
        None => println!("{} {id} uses the default level again", kind.as_str()),
    }
    Ok(Done::Ok)
}

#[derive(clap::Args)]
pub struct CrmSettings {
    /// Activities one sender domain may create per hour in each CRM; the
    /// rest waits in the outbox.
    #[arg(long, value_name = "N")]
    flood_per_hour: Option<u32>,
    /// Which numbers to redact before anything leaves: a comma-separated
    /// list of card, iban, ssn, or none.
    #[arg(long, value_name = "KINDS")]
    redact: Option<String>,
}

pub fn settings(db: &Path, args: &CrmSettings) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let conn = store.conn();
    if let Some(n) = args.flood_per_hour {
        if n == 0 {
            anyhow::bail!("--flood-per-hour must be at least 1");
        }
        dealthread_core::store::settings::set(conn, "flood_limit_per_hour", &n.to_string())?;
    }
    if let Some(kinds) = &args.redact {
        let mut rules = dealthread_mail::redact::RedactionRules {
            us_ssn: false,
            payment_card: false,
            iban: false,
        };
        for kind in kinds.split(',').map(str::trim).filter(|k| !k.is_empty() && *k != "none") {
            match kind {
                "card" => rules.payment_card = true,
                "iban" => rules.iban = true,
                "ssn" => rules.us_ssn = true,
                other => anyhow::bail!("--redact: {other:?} is not one of card, iban, ssn, none"),
            }
        }
        sharing::set_redaction_rules(conn, &rules)?;
    }
    let rules = sharing::redaction_rules(conn)?;
    let redacted: Vec<&str> =
        [(rules.payment_card, "card"), (rules.iban, "iban"), (rules.us_ssn, "ssn")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
    println!("default sharing level: {}", sharing::default_level(conn)?.as_str());
    println!(
        "redacted before sending: {}",
        if redacted.is_empty() { "nothing".into() } else { redacted.join(", ") }
    );
    println!("flood limit: {} activities per sender domain per hour", outbox::flood_limit(conn)?);
    Ok(Done::Ok)
}

pub fn add_webhook(
    db: &Path,
    name: &str,
    url: &str,
    pin: Option<String>,
    timeout_secs: u64,
    secret_env: Option<String>,
) -> anyhow::Result<Done> {
    let mut config = webhook::WebhookConfig::new(name, url);
    config.pin_sha256 = pin;
    config.timeout_secs = timeout_secs.max(1);
    config.secret_env = secret_env;
    let queued = add(db, CrmConfig::Webhook(config), "signing secret", url)?;
    println!(
        "added webhook {name} ({url}); {queued} activities queued; `dealthread sync --once` or \
         `dealthread outbox push` sends them"
    );
    Ok(Done::Ok)
}

pub fn add_hubspot(db: &Path, config: crm::hubspot::HubspotConfig) -> anyhow::Result<Done> {
    let (name, base_url) = (config.name.clone(), config.base_url.clone());
    let queued = add(db, CrmConfig::Hubspot(config), "HubSpot private-app token", &base_url)?;
    println!("added HubSpot connection {name} ({base_url}); {queued} activities queued");
    Ok(Done::Ok)
}

/// Checks the flags, asks for the secret unless an environment variable
/// holds it, and saves as the app does (the secret to the keyring first).
fn add(db: &Path, config: CrmConfig, secret_is: &str, target: &str) -> anyhow::Result<usize> {
    config.check().map_err(|e| anyhow::anyhow!("--name/--url: {e}"))?;
    let store = open_store(db)?;
    let secret = match config.secret_env() {
        Some(_) => None,
        None => Some(super::source::read_secret(secret_is, target)?),
    };
    connections::save(store.conn(), &config, secret.as_deref(), unix_now())
        .map_err(|e| anyhow::anyhow!("{e}"))
}
