//! The CRM entities file of DESIGN.md: deals, contacts and companies from
//! any CRM, as JSON. This slice stores the deals; contacts and companies are
//! read and validated so a file that works now keeps working later.

use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::store::deals::{self, Deal};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesFile {
    #[serde(default)]
    pub deals: Vec<DealEntry>,
    #[serde(default)]
    pub contacts: Vec<serde_json::Value>,
    #[serde(default)]
    pub companies: Vec<serde_json::Value>,
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

impl EntitiesFile {
    /// Parses the file's text; `origin` names it in the error.
    pub fn parse(text: &str, origin: &str) -> Result<EntitiesFile> {
        serde_json::from_str(text).map_err(|e| {
            CoreError::InvalidInput(format!("{origin}: not a valid entities file: {e}"))
        })
    }

    /// Stores the deals; returns how many.
    pub fn store_deals(&self, conn: &rusqlite::Connection, now: i64) -> Result<usize> {
        for entry in &self.deals {
            let deal = Deal {
                id: entry.id.clone(),
                name: entry.name.clone(),
                stage: entry.stage.clone(),
                amount: entry.amount,
                owner: entry.owner.clone(),
                close_date: entry.close_date.clone(),
            };
            deals::upsert(conn, &deal, now)?;
        }
        Ok(self.deals.len())
    }
}
