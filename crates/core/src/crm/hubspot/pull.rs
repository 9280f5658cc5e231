//! The entity pull: HubSpot's deals, contacts and companies into the local
//! cache the matcher reads, as an [`EntitiesFile`] so every CRM lands the
//! same way.
//!
//! The first pull lists every record (`GET /crm/v3/objects/{type}`, deals
//! with their contacts). Later pulls ask only for what changed since the
//! last one (`POST /crm/v3/objects/{type}/search` on the last-modified
//! date, `GTE` so a change in the same millisecond is not missed; storing
//! twice is harmless) and read the changed deals' contacts in batches
//! (`POST /crm/v4/associations/deals/contacts/batch/read`), since search
//! answers carry no associations.

use std::time::Duration;

use super::Hubspot;
use crate::crm::outbox::Delivery;
use crate::entities::{CompanyEntry, ContactEntry, DealEntry, EntitiesFile};
use crate::matching::addresses::domain_of;
use crate::sources::SourceError;

const DEAL_PROPERTIES: &[&str] =
    &["dealname", "dealstage", "amount", "closedate", "hubspot_owner_id", "hs_lastmodifieddate"];
const CONTACT_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "hs_additional_emails",
    "associatedcompanyid",
    "lastmodifieddate",
];
const COMPANY_PROPERTIES: &[&str] =
    &["name", "domain", "hs_additional_domains", "hs_lastmodifieddate"];
/// Records per page (HubSpot's maximum for lists and search).
const PAGE: usize = 100;
/// Attempts per request before the pull gives up (it resumes next time).
const ATTEMPTS: u32 = 5;

/// What a pull brought.
#[derive(Debug, Default)]
pub struct Pulled {
    pub entities: EntitiesFile,
    /// The newest modification time seen (ms), the next pull's start.
    pub checkpoint: Option<i64>,
    /// Records left out, each with why (an address that is not one...).
    pub skipped: Vec<String>,
}

struct Record {
    id: String,
    properties: serde_json::Value,
    contacts: Vec<String>,
}

impl Hubspot {
    /// Pulls every record changed since `since_ms` (everything when `None`).
    pub fn pull(&self, since_ms: Option<i64>) -> Result<Pulled, SourceError> {
        let mut pulled = Pulled { checkpoint: since_ms, ..Pulled::default() };
        let companies =
            self.records("companies", COMPANY_PROPERTIES, "hs_lastmodifieddate", since_ms)?;
        let contacts =
            self.records("contacts", CONTACT_PROPERTIES, "lastmodifieddate", since_ms)?;
        let mut deals = self.records("deals", DEAL_PROPERTIES, "hs_lastmodifieddate", since_ms)?;
        if since_ms.is_some() {
            self.deal_contacts(&mut deals)?;
        }
        for (list, stamp) in [
            (&companies, "hs_lastmodifieddate"),
            (&contacts, "lastmodifieddate"),
            (&deals, "hs_lastmodifieddate"),
        ] {
            let newest =
                list.iter().filter_map(|r| text(&r.properties, stamp)?.parse::<i64>().ok()).max();
            pulled.checkpoint = pulled.checkpoint.max(newest);
        }
        for record in companies {
            let p = &record.properties;
            let mut domains: Vec<String> =
                text(p, "domain").into_iter().map(str::to_string).collect();
            domains.extend(split_list(text(p, "hs_additional_domains")));
            domains.retain(|d| {
                let ok = d.contains('.') && !d.contains('@') && !d.contains(' ');
                if !ok {
                    pulled.skipped.push(format!("company {}: {d:?} is not a domain", record.id));
                }
                ok
            });
            pulled.entities.companies.push(CompanyEntry {
                id: record.id,
                name: text(p, "name").map(str::to_string),
                domains,
            });
        }
        for record in contacts {
            let p = &record.properties;
            let mut emails: Vec<String> =
                text(p, "email").into_iter().map(str::to_string).collect();
            emails.extend(split_list(text(p, "hs_additional_emails")));
            emails.retain(|e| {
                let ok = domain_of(e).is_some() && e.matches('@').count() == 1;
                if !ok {
                    pulled
                        .skipped
                        .push(format!("contact {}: {e:?} is not a mail address", record.id));
                }
                ok
            });
            let name = [text(p, "firstname"), text(p, "lastname")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            pulled.entities.contacts.push(ContactEntry {
                id: record.id,
                name: (!name.is_empty()).then_some(name),
                emails,
                company_id: text(p, "associatedcompanyid").map(str::to_string),
            });
        }
        for record in deals {
            let p = &record.properties;
            pulled.entities.deals.push(DealEntry {
                id: record.id,
                name: text(p, "dealname").map(str::to_string),
                stage: text(p, "dealstage").map(str::to_string),
                amount: text(p, "amount").and_then(|a| a.parse().ok()),
                owner: text(p, "hubspot_owner_id").map(str::to_string),
                close_date: text(p, "closedate").map(|d| d.chars().take(10).collect()),
                contact_ids: record.contacts,
            });
        }
        Ok(pulled)
    }

    /// Every record of a type (`since_ms` = `None`), or those changed since.
    fn records(
        &self,
        kind: &str,
        properties: &[&str],
        stamp: &str,
        since_ms: Option<i64>,
    ) -> Result<Vec<Record>, SourceError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let answer = match since_ms {
                None => {
                    let mut path = format!(
                        "crm/v3/objects/{kind}?limit={PAGE}&properties={}",
                        properties.join(",")
                    );
                    if kind == "deals" {
                        path.push_str("&associations=contacts");
                    }
                    if let Some(after) = &after {
                        path.push_str(&format!("&after={}", query_value(after)));
                    }
                    self.patiently(reqwest::Method::GET, &path, None)?
                }
                Some(since) => {
                    let body = serde_json::json!({
                        "filterGroups": [{"filters": [{"propertyName": stamp, "operator": "GTE", "value": since.to_string()}]}],
                        "sorts": [{"propertyName": stamp, "direction": "ASCENDING"}],
                        "properties": properties,
                        "limit": PAGE,
                        "after": after.clone().unwrap_or_else(|| "0".into()),
                    });
                    self.patiently(
                        reqwest::Method::POST,
                        &format!("crm/v3/objects/{kind}/search"),
                        Some(&body),
                    )?
                }
            };
            for result in answer["results"].as_array().into_iter().flatten() {
                let Some(id) = id_text(&result["id"]) else { continue };
                let contacts = result["associations"]["contacts"]["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| id_text(&c["id"]))
                    .collect();
                out.push(Record { id, properties: result["properties"].clone(), contacts });
            }
            match answer["paging"]["next"]["after"].as_str() {
                Some(next) if Some(next) != after.as_deref() => after = Some(next.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Fills in the contacts of deals a search returned.
    fn deal_contacts(&self, deals: &mut [Record]) -> Result<(), SourceError> {
        for chunk in deals.chunks_mut(PAGE) {
            let inputs: Vec<serde_json::Value> =
                chunk.iter().map(|d| serde_json::json!({"id": d.id})).collect();
            let body = serde_json::json!({"inputs": inputs});
            let answer = self.patiently(
                reqwest::Method::POST,
                "crm/v4/associations/deals/contacts/batch/read",
                Some(&body),
            )?;
            for result in answer["results"].as_array().into_iter().flatten() {
                let Some(from) = id_text(&result["from"]["id"]) else { continue };
                let contacts: Vec<String> = result["to"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| id_text(&t["toObjectId"]))
                    .collect();
                if let Some(deal) = chunk.iter_mut().find(|d| d.id == from) {
                    deal.contacts = contacts;
                }
            }
        }
        Ok(())
    }

    /// "Test connection": one read of the deals with the token, storing
    /// nothing.
    pub fn check(&self) -> Result<String, SourceError> {
        let body = self.patiently(reqwest::Method::GET, "crm/v3/objects/deals?limit=1", None)?;
        let seen = if body["results"].as_array().is_some_and(|r| !r.is_empty()) {
            "it can read your deals"
        } else {
            "it can read deals (none yet)"
        };
        Ok(format!("Connected to {}; the token was accepted and {seen}.", self.base))
    }

    /// A request retried through 429s, 5xx and network errors a few times;
    /// the answer's body when HubSpot says 200.
    fn patiently(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, SourceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match self.request(method.clone(), path, body) {
                Ok(answer) if answer.status == 200 || answer.status == 207 => {
                    return Ok(answer.body);
                }
                Ok(answer) => self.refusal(&answer, &format!("reading {path}")),
                Err(outcome) => outcome,
            };
            match outcome {
                Delivery::Retry { after, .. } if attempt < ATTEMPTS => {
                    std::thread::sleep(
                        after.unwrap_or(Duration::from_millis(500 * u64::from(attempt))),
                    );
                }
                Delivery::Retry { reason, .. } => return Err(SourceError::Network(reason)),
                Delivery::Paused { reason } => return Err(SourceError::Auth(reason)),
                Delivery::Dead { reason } => return Err(SourceError::Protocol(reason)),
                Delivery::Sent { .. } => {
                    return Err(SourceError::Protocol(format!("{path}: no answer")));
                }
            }
        }
    }
}

/// A property as text; HubSpot sends every property value as a string,
/// empty or null when unset.
fn text<'a>(properties: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    properties[name].as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn id_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// HubSpot's multi-value text properties separate values with `;`.
fn split_list(value: Option<&str>) -> impl Iterator<Item = String> + '_ {
    value
        .into_iter()
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A cursor as a query value: unreserved characters kept, the rest
/// percent-encoded (RFC 3986 §2.3).
fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
