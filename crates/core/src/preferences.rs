//! The workspace's settings as one form: where deal aliases are received,
//! who the team is, whose mail never reaches the CRM, how long raw MIME is
//! kept, what leaves redacted, how much is shared by default, and the
//! flood limit. The app's settings page reads and saves it whole; the CLI
//! changes the same settings one at a time. No secret is among them.

use dealthread_mail::redact::RedactionRules;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::crm::{outbox, sharing};
use crate::error::{CoreError, Result};
use crate::matching::addresses::{AliasPattern, DEFAULT_ALIAS_PATTERN, parse_block_entry};
use crate::store::settings;

/// Raw MIME is kept at least a day and at most ten years.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Preferences {
    /// Where deal aliases such as `deal+42@in.example.com` are received.
    pub inbound_domains: Vec<String>,
    /// The team's own domains: mail among them is internal.
    pub team_domains: Vec<String>,
    /// The alias's local part, with `{kind}` and `{id}`.
    pub alias_pattern: String,
    /// Addresses and `@domains` never pushed nor offered as contacts.
    pub block_list: Vec<String>,
    #[ts(type = "number")]
    pub raw_retention_days: i64,
    pub redaction: RedactionRules,
    pub sharing_default: sharing::SharingLevel,
    /// Activities one sender domain may create per hour in one CRM.
    #[ts(type = "number")]
    pub flood_limit_per_hour: i64,
}

pub fn load(conn: &Connection) -> Result<Preferences> {
    Ok(Preferences {
        inbound_domains: settings::inbound_domains(conn)?,
        team_domains: settings::list(conn, "team_domains")?,
        alias_pattern: settings::get(conn, "alias_pattern")?
            .unwrap_or_else(|| DEFAULT_ALIAS_PATTERN.to_string()),
        block_list: settings::list(conn, "block_list")?,
        raw_retention_days: settings::raw_retention_days(conn)?,
        redaction: sharing::redaction_rules(conn)?,
        sharing_default: sharing::default_level(conn)?,
        flood_limit_per_hour: outbox::flood_limit(conn)?,
    })
}

/// Checks every field first, then saves them all in one transaction, so a
/// form with one bad field changes nothing. Returns what was saved, in
/// normal form (lower case, sorted, without repeats).
pub fn save(conn: &mut Connection, wanted: &Preferences) -> Result<Preferences> {
    let domains = |field: &str, list: &[String]| -> Result<Vec<String>> {
        list.iter()
            .map(|d| d.trim())
            .filter(|d| !d.is_empty())
            .map(|d| {
                crate::dns::normalize_domain(d)
                    .map_err(|e| CoreError::InvalidInput(format!("{field}: {e}")))
            })
            .collect()
    };
    let inbound = domains("inbound domains", &wanted.inbound_domains)?;
    let team = domains("team domains", &wanted.team_domains)?;
    let pattern = wanted.alias_pattern.trim();
    AliasPattern::parse(pattern)?;
    let block = wanted
        .block_list
        .iter()
        .filter(|b| !b.trim().is_empty())
        .map(|b| parse_block_entry(b))
        .collect::<Result<Vec<_>>>()?;
    if !RETENTION_DAYS.contains(&wanted.raw_retention_days) {
        return Err(CoreError::InvalidInput(format!(
            "raw MIME retention: {} days is outside {} to {} days",
            wanted.raw_retention_days,
            RETENTION_DAYS.start(),
            RETENTION_DAYS.end()
        )));
    }
    if wanted.flood_limit_per_hour < 1 {
        return Err(CoreError::InvalidInput(format!(
            "flood limit: {} activities per hour; it must be at least 1",
            wanted.flood_limit_per_hour
        )));
    }

    let tx = conn.transaction()?;
    settings::set_inbound_domains(&tx, &inbound)?;
    settings::set_list(&tx, "team_domains", &team)?;
    settings::set(&tx, "alias_pattern", pattern)?;
    settings::set_list(&tx, "block_list", &block)?;
    settings::set(&tx, "raw_retention_days", &wanted.raw_retention_days.to_string())?;
    sharing::set_redaction_rules(&tx, &wanted.redaction)?;
    sharing::set_default_level(&tx, wanted.sharing_default)?;
    settings::set(&tx, "flood_limit_per_hour", &wanted.flood_limit_per_hour.to_string())?;
    tx.commit()?;
    load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_in_normal_form_and_a_bad_field_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = crate::rawstore::StoreKey::from_bytes([3; 32]);
        let mut store =
            crate::Store::open_with_key(&dir.path().join("p.sqlite"), Some(key)).expect("store");
        let before = load(store.conn()).expect("load");
        assert_eq!(before.raw_retention_days, 30);
        assert_eq!(before.alias_pattern, DEFAULT_ALIAS_PATTERN);

        let mut wanted = before.clone();
        wanted.inbound_domains = vec![" In.Example.COM ".into(), "".into()];
        wanted.team_domains = vec!["seller.example".into(), "seller.example".into()];
        wanted.block_list = vec!["@Spam.Example".into()];
        wanted.raw_retention_days = 90;
        wanted.redaction.iban = false;
        wanted.sharing_default = sharing::SharingLevel::Metadata;
        wanted.flood_limit_per_hour = 50;
        let saved = save(store.conn_mut(), &wanted).expect("save");
        assert_eq!(saved.inbound_domains, vec!["in.example.com"]);
        assert_eq!(saved.team_domains, vec!["seller.example"]);
        assert_eq!(saved.block_list, vec!["@spam.example"]);
        assert_eq!(load(store.conn()).expect("reload"), saved);

        for bad in [
            Preferences { raw_retention_days: 0, ..saved.clone() },
            Preferences { block_list: vec!["not an address".into()], ..saved.clone() },
            Preferences { inbound_domains: vec!["in..example".into()], ..saved.clone() },
            Preferences { alias_pattern: "deals".into(), ..saved.clone() },
            Preferences { flood_limit_per_hour: 0, team_domains: vec![], ..saved.clone() },
        ] {
            let error = save(store.conn_mut(), &bad).expect_err("refused");
            assert!(!error.to_string().is_empty());
            assert_eq!(load(store.conn()).expect("reload"), saved, "{error}");
        }
    }
}
