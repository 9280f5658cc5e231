//! The CRM entity cache beside `deals`: contacts with their addresses,
//! companies with their domains, which contacts are on which deal, and the
//! rep's sender rules. [`SqlDirectory`] answers the matcher from them.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::deals;
use crate::error::Result;
use crate::matching::addresses::{domain_and_parents, domain_of};
use crate::matching::{ContactHit, Directory, EntityKind, OpenDeal, SenderRule};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Contact {
    pub id: String,
    pub name: Option<String>,
    pub emails: Vec<String>,
    pub company_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Company {
    pub id: String,
    pub name: Option<String>,
    pub domains: Vec<String>,
}

/// Inserts or replaces a contact and its addresses (lower-cased).
pub fn upsert_contact(conn: &Connection, contact: &Contact, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO contacts (id, name, company_id, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, company_id = excluded.company_id,
             updated_at = excluded.updated_at",
    )?
    .execute(params![contact.id, contact.name, contact.company_id, now])?;
    conn.prepare_cached("DELETE FROM contact_emails WHERE contact_id = ?1")?
        .execute([&contact.id])?;
    let mut add = conn.prepare_cached(
        "INSERT INTO contact_emails (address, contact_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for email in &contact.emails {
        add.execute(params![email.trim().to_ascii_lowercase(), contact.id])?;
    }
    Ok(())
}

/// Inserts or replaces a company and its domains (lower-cased).
pub fn upsert_company(conn: &Connection, company: &Company, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO companies (id, name, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
    )?
    .execute(params![company.id, company.name, now])?;
    conn.prepare_cached("DELETE FROM company_domains WHERE company_id = ?1")?
        .execute([&company.id])?;
    let mut add = conn.prepare_cached(
        "INSERT INTO company_domains (domain, company_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for domain in &company.domains {
        let domain = domain.trim().trim_start_matches('@').trim_matches('.').to_ascii_lowercase();
        add.execute(params![domain, company.id])?;
    }
    Ok(())
}

/// Replaces the contacts on a deal; contacts not yet known get an empty row
/// that a later pull fills.
pub fn set_deal_contacts(
    conn: &Connection,
    deal_id: &str,
    contact_ids: &[String],
    now: i64,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM deal_contacts WHERE deal_id = ?1")?.execute([deal_id])?;
    for contact in contact_ids {
        conn.prepare_cached(
            "INSERT INTO contacts (id, updated_at) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
        )?
        .execute(params![contact, now])?;
        conn.prepare_cached(
            "INSERT INTO deal_contacts (deal_id, contact_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?
        .execute(params![deal_id, contact])?;
    }
    Ok(())
}

pub fn contact(conn: &Connection, id: &str) -> Result<Option<Contact>> {
    let row = conn
        .query_row("SELECT id, name, company_id FROM contacts WHERE id = ?1", [id], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((id, name, company_id)) = row else { return Ok(None) };
    let emails = conn
        .prepare_cached(
            "SELECT address FROM contact_emails WHERE contact_id = ?1 ORDER BY address",
        )?
        .query_map([&id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(Contact { id, name, emails, company_id }))
}

/// The contacts on a deal, by name.
pub fn deal_contacts(conn: &Connection, deal_id: &str) -> Result<Vec<Contact>> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT dc.contact_id FROM deal_contacts dc JOIN contacts c ON c.id = dc.contact_id
              WHERE dc.deal_id = ?1 ORDER BY c.name, c.id",
        )?
        .query_map([deal_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut contacts = Vec::with_capacity(ids.len());
    for id in ids {
        contacts.extend(contact(conn, &id)?);
    }
    Ok(contacts)
}

pub fn company(conn: &Connection, id: &str) -> Result<Option<Company>> {
    let row = conn
        .query_row("SELECT id, name FROM companies WHERE id = ?1", [id], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((id, name)) = row else { return Ok(None) };
    let domains = conn
        .prepare_cached("SELECT domain FROM company_domains WHERE company_id = ?1 ORDER BY domain")?
        .query_map([&id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(Company { id, name, domains }))
}

/// Whether an entity of this kind and id is in the cache.
pub fn exists(conn: &Connection, kind: EntityKind, id: &str) -> Result<bool> {
    let sql = match kind {
        EntityKind::Deal => "SELECT EXISTS (SELECT 1 FROM deals WHERE id = ?1)",
        EntityKind::Contact => "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?1)",
        EntityKind::Company => "SELECT EXISTS (SELECT 1 FROM companies WHERE id = ?1)",
    };
    Ok(conn.prepare_cached(sql)?.query_row([id], |r| r.get(0))?)
}

/// A cached entity as the correction picker lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub id: String,
    pub name: Option<String>,
    /// Stage for a deal, the first address for a contact, the first domain
    /// for a company.
    pub detail: Option<String>,
}

/// Entities whose id or name contains `text` (case-insensitive), deals first.
pub fn find(conn: &Connection, text: &str, limit: u32) -> Result<Vec<EntityRef>> {
    let pattern = format!("%{}%", text.replace(['%', '_'], ""));
    let mut stmt = conn.prepare_cached(
        "SELECT 'deal', id, name, stage FROM deals WHERE id LIKE ?1 OR name LIKE ?1
         UNION ALL
         SELECT 'contact', c.id, c.name, (SELECT min(address) FROM contact_emails e WHERE e.contact_id = c.id)
           FROM contacts c
          WHERE c.id LIKE ?1 OR c.name LIKE ?1
             OR EXISTS (SELECT 1 FROM contact_emails e WHERE e.contact_id = c.id AND e.address LIKE ?1)
         UNION ALL
         SELECT 'company', c.id, c.name, (SELECT min(domain) FROM company_domains d WHERE d.company_id = c.id)
           FROM companies c
          WHERE c.id LIKE ?1 OR c.name LIKE ?1
             OR EXISTS (SELECT 1 FROM company_domains d WHERE d.company_id = c.id AND d.domain LIKE ?1)
         LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![pattern, limit], |r| {
        let kind: String = r.get(0)?;
        Ok(EntityRef {
            kind: EntityKind::parse(&kind).unwrap_or(EntityKind::Deal),
            id: r.get(1)?,
            name: r.get(2)?,
            detail: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A sender rule as listed to the rep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SenderRuleView {
    #[ts(type = "number")]
    pub id: i64,
    pub pattern: String,
    pub kind: EntityKind,
    pub entity_id: String,
    pub created_by: String,
    #[ts(type = "number")]
    pub created_at: i64,
}

/// Saves "always file mail from `pattern` under this entity", replacing an
/// earlier rule for the same pattern; returns its id.
pub fn add_sender_rule(
    conn: &Connection,
    pattern: &str,
    kind: EntityKind,
    entity_id: &str,
    actor: &str,
    now: i64,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO sender_rules (pattern, entity_kind, entity_id, created_at, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(pattern) DO UPDATE SET entity_kind = excluded.entity_kind,
             entity_id = excluded.entity_id, created_at = excluded.created_at,
             created_by = excluded.created_by, removed_at = NULL",
        params![pattern, kind.as_str(), entity_id, now, actor],
    )?;
    Ok(conn.query_row("SELECT id FROM sender_rules WHERE pattern = ?1", [pattern], |r| r.get(0))?)
}

/// Retires a rule (kept for the log); returns whether it was active.
pub fn remove_sender_rule(conn: &Connection, id: i64, now: i64) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE sender_rules SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
        params![id, now],
    )?;
    Ok(changed > 0)
}

pub fn sender_rules(conn: &Connection) -> Result<Vec<SenderRuleView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, pattern, entity_kind, entity_id, created_by, created_at
           FROM sender_rules WHERE removed_at IS NULL ORDER BY pattern",
    )?;
    let rows = stmt.query_map([], |r| {
        let kind: String = r.get(2)?;
        Ok(SenderRuleView {
            id: r.get(0)?,
            pattern: r.get(1)?,
            kind: EntityKind::parse(&kind).unwrap_or(EntityKind::Deal),
            entity_id: r.get(3)?,
            created_by: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The matcher's view of the cache.
pub struct SqlDirectory<'c> {
    conn: &'c Connection,
}

impl<'c> SqlDirectory<'c> {
    pub fn new(conn: &'c Connection) -> SqlDirectory<'c> {
        SqlDirectory { conn }
    }
}

impl Directory for SqlDirectory<'_> {
    fn sender_rule(&self, address: &str) -> Result<Option<SenderRule>> {
        let mut lookup = self.conn.prepare_cached(
            "SELECT id, pattern, entity_kind, entity_id FROM sender_rules
              WHERE pattern = ?1 AND removed_at IS NULL",
        )?;
        let domain = domain_of(address).unwrap_or_default();
        let patterns = std::iter::once(address.to_ascii_lowercase())
            .chain(domain_and_parents(&domain).map(|d| format!("@{d}")));
        for pattern in patterns {
            let found = lookup
                .query_row([&pattern], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                    ))
                })
                .optional()?;
            if let Some((id, pattern, kind, entity_id)) = found
                && let Some(kind) = EntityKind::parse(&kind)
            {
                return Ok(Some(SenderRule { id, pattern, kind, entity_id }));
            }
        }
        Ok(None)
    }

    fn contacts_by_email(&self, address: &str) -> Result<Vec<ContactHit>> {
        let mut contacts: Vec<ContactHit> = self
            .conn
            .prepare_cached(
                "SELECT c.id, c.name, c.company_id FROM contact_emails e
                   JOIN contacts c ON c.id = e.contact_id
                  WHERE e.address = ?1 ORDER BY c.id",
            )?
            .query_map([address.to_ascii_lowercase()], |r| {
                Ok(ContactHit {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    company_id: r.get(2)?,
                    open_deals: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        // Ranked for the review queue: the deal with the latest mail first,
        // then the nearest close date.
        let mut deals_of = self.conn.prepare_cached(
            "SELECT d.id, d.name, d.stage FROM deal_contacts dc JOIN deals d ON d.id = dc.deal_id
              WHERE dc.contact_id = ?1
              ORDER BY (SELECT max(sort_time) FROM messages m WHERE m.deal_id = d.id) DESC NULLS LAST,
                       d.close_date NULLS LAST, d.id",
        )?;
        for contact in &mut contacts {
            let rows = deals_of.query_map([&contact.id], |r| {
                Ok((OpenDeal { id: r.get(0)?, name: r.get(1)? }, r.get::<_, Option<String>>(2)?))
            })?;
            for row in rows {
                let (deal, stage) = row?;
                if deals::is_open_stage(stage.as_deref()) {
                    contact.open_deals.push(deal);
                }
            }
        }
        Ok(contacts)
    }

    fn company_by_domain(&self, domain: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT c.id, c.name FROM company_domains d JOIN companies c ON c.id = d.company_id
                  WHERE d.domain = ?1 ORDER BY c.id LIMIT 1",
            )?
            .query_row([domain], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}
