//! The CRM entities file of DESIGN.md: deals, contacts and companies from
//! any CRM, as JSON, into the local cache the matcher reads.

use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::matching::addresses::domain_of;
use crate::store::deals::{self, Deal};
use crate::store::entities::{self, Company, Contact};
use crate::store::matches::{self, Rematch};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesFile {
    #[serde(default)]
    pub deals: Vec<DealEntry>,
    #[serde(default)]
    pub contacts: Vec<ContactEntry>,
    #[serde(default)]
    pub companies: Vec<CompanyEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DealEntry {
    pub id: String,
    pub name: Option<String>,
    pub stage: Option<String>,
    pub amount: Option<f64>,
    pub owner: Option<String>,
    pub close_date: Option<String>,
    #[serde(default)]
    pub contact_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContactEntry {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompanyEntry {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub domains: Vec<String>,
}

/// What an import stored, and what it changed for earlier mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub deals: usize,
    pub contacts: usize,
    pub companies: usize,
    /// Unmatched messages that now match and are offered for re-linking.
    pub offered: usize,
}

impl EntitiesFile {
    /// Parses and checks the file's text; `origin` names it in the error.
    pub fn parse(text: &str, origin: &str) -> Result<EntitiesFile> {
        let file: EntitiesFile = serde_json::from_str(text).map_err(|e| {
            CoreError::InvalidInput(format!("{origin}: not a valid entities file: {e}"))
        })?;
        file.check().map_err(|why| CoreError::InvalidInput(format!("{origin}: {why}")))?;
        Ok(file)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let ids = self
            .deals
            .iter()
            .map(|d| ("deal", &d.id))
            .chain(self.contacts.iter().map(|c| ("contact", &c.id)))
            .chain(self.companies.iter().map(|c| ("company", &c.id)));
        for (kind, id) in ids {
            if id.trim().is_empty() {
                return Err(format!("a {kind} has an empty id"));
            }
        }
        for contact in &self.contacts {
            if let Some(bad) = contact.emails.iter().find(|e| domain_of(e).is_none()) {
                return Err(format!("contact {}: {bad:?} is not a mail address", contact.id));
            }
        }
        for company in &self.companies {
            if let Some(bad) =
                company.domains.iter().find(|d| !d.trim_start_matches('@').contains('.'))
            {
                return Err(format!("company {}: {bad:?} is not a domain", company.id));
            }
        }
        Ok(())
    }

    /// Stores everything in one transaction, then offers earlier unmatched
    /// mail that now matches for re-linking.
    pub fn store(&self, conn: &mut rusqlite::Connection, now: i64) -> Result<Imported> {
        let tx = conn.transaction()?;
        for c in &self.companies {
            let company =
                Company { id: c.id.clone(), name: c.name.clone(), domains: c.domains.clone() };
            entities::upsert_company(&tx, &company, now)?;
        }
        for c in &self.contacts {
            let contact = Contact {
                id: c.id.clone(),
                name: c.name.clone(),
                emails: c.emails.clone(),
                company_id: c.company_id.clone(),
            };
            entities::upsert_contact(&tx, &contact, now)?;
        }
        for entry in &self.deals {
            let deal = Deal {
                id: entry.id.clone(),
                name: entry.name.clone(),
                stage: entry.stage.clone(),
                amount: entry.amount,
                owner: entry.owner.clone(),
                close_date: entry.close_date.clone(),
            };
            deals::upsert(&tx, &deal, now)?;
            entities::set_deal_contacts(&tx, &entry.id, &entry.contact_ids, now)?;
        }
        let config = matches::config(&tx)?;
        let open = matches::open_ids(&tx)?;
        let offered = matches::rematch(&tx, &open, &config, Rematch::Offer)?;
        tx.commit()?;
        Ok(Imported {
            deals: self.deals.len(),
            contacts: self.contacts.len(),
            companies: self.companies.len(),
            offered,
        })
    }
}
