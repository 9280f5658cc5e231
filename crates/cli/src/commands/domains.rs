//! `dealthread inbound-domain add|remove|list`: the domains where deal
//! aliases (`deal+42@in.example.com`) are received.

use std::path::Path;

use anyhow::bail;
use dealthread_core::dns;
use dealthread_core::store::settings;

use super::{Done, open_store};

pub fn add(db: &Path, input: &str) -> anyhow::Result<Done> {
    let domain = dns::normalize_domain(input).map_err(anyhow::Error::msg)?;
    let store = open_store(db)?;
    let mut domains = settings::inbound_domains(store.conn())?;
    domains.push(domain.clone());
    settings::set_inbound_domains(store.conn(), &domains)?;
    println!("added inbound domain {domain}; `dealthread doctor` checks its MX records");
    Ok(Done::Ok)
}

pub fn remove(db: &Path, input: &str) -> anyhow::Result<Done> {
    let domain = dns::normalize_domain(input).map_err(anyhow::Error::msg)?;
    let store = open_store(db)?;
    let mut domains = settings::inbound_domains(store.conn())?;
    let before = domains.len();
    domains.retain(|d| *d != domain);
    if domains.len() == before {
        bail!("{domain} is not an inbound domain");
    }
    settings::set_inbound_domains(store.conn(), &domains)?;
    println!("removed inbound domain {domain}");
    Ok(Done::Ok)
}

pub fn list(db: &Path) -> anyhow::Result<Done> {
    let store = open_store(db)?;
    let domains = settings::inbound_domains(store.conn())?;
    if domains.is_empty() {
        println!("no inbound domains; add one with `dealthread inbound-domain add in.example.com`");
    }
    for domain in domains {
        println!("{domain}");
    }
    Ok(Done::Ok)
}
