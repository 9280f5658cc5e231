//! The rules that read one message alone: aliases, correlation ids,
//! internal mail, sender rules, contacts and companies, and what makes a
//! message never CRM-worthy. Pure: the CRM cache is asked through
//! [`Directory`].

use dealthread_mail::Document;
use dealthread_mail::classify::MessageKind;

use super::addresses::{self, blocked_because, domain_and_parents, domain_of, is_free_mail};
use super::{
    Assignment, Config, ContactHit, Decision, Directory, EntityKind, MatchStatus, OpenDeal, Rule,
    Suggestion,
};
use crate::error::Result;

/// Applies the rules that read one message alone (all but thread
/// inheritance and corrections).
pub fn decide(doc: &Document, config: &Config, dir: &dyn Directory) -> Result<Decision> {
    let mut decision = own_rules(doc, config, dir)?;
    if decision.not_worthy.is_none() {
        decision.not_worthy = not_worthy(doc, config);
    }
    Ok(decision)
}

fn own_rules(doc: &Document, config: &Config, dir: &dyn Directory) -> Result<Decision> {
    let person = person_of(doc, config);
    if let Some(decision) = by_alias(doc, config, dir, person.as_deref())? {
        return Ok(decision);
    }
    if let Some(decision) = by_correlation(doc, dir, person.as_deref())? {
        return Ok(decision);
    }
    let Some(person) = person else {
        if is_internal(doc, config) {
            return Ok(Decision {
                status: MatchStatus::Internal,
                rule: None,
                reason: "mail between the team's own addresses only".into(),
                assignment: Assignment::default(),
                suggestions: Vec::new(),
                not_worthy: Some("internal mail".into()),
            });
        }
        return Ok(Decision::unmatched("the message names no sender".into()));
    };
    if let Some(rule) = dir.sender_rule(&person)? {
        let reason = format!(
            "rule #{}: mail from {} is filed under this {}",
            rule.id,
            rule.pattern,
            rule.kind.as_str()
        );
        let mut assignment = Assignment::of(rule.kind, &rule.entity_id);
        if rule.kind == EntityKind::Deal {
            add_sender_contact(&mut assignment, dir, &person)?;
        }
        return Ok(Decision::matched(Rule::SenderRule, reason, assignment));
    }
    if let Some(decision) = by_contact(doc, dir, &person)? {
        return Ok(decision);
    }
    by_company(dir, &person)
}

/// The person a message is about, for the contact and company rules: From;
/// for the team's own mail, the original sender of customer mail a
/// teammate forwarded, else the first customer among the recipients; for
/// a bounce, the recipient that bounced.
fn person_of(doc: &Document, config: &Config) -> Option<String> {
    if doc.classification.kind == MessageKind::Bounce
        && let Some(to) = doc.bounce.as_ref().and_then(|b| b.recipients.first())
    {
        return Some(to.to_ascii_lowercase());
    }
    let from = doc.from.as_ref().map(|f| f.address.to_ascii_lowercase())?;
    if config.is_team(&from) {
        let original = doc
            .forwarded
            .iter()
            .filter_map(|f| f.from.as_ref())
            .map(|f| f.address.to_ascii_lowercase())
            .find(|a| !config.is_team(a));
        if let Some(original) = original {
            return Some(original);
        }
        // The team's own mail to a customer (copied to the inbound
        // mailbox): the customer is the person it is about.
        return doc
            .to
            .iter()
            .chain(&doc.cc)
            .map(|m| m.address.to_ascii_lowercase())
            .find(|a| !config.is_team(a) && !config.is_inbound(a));
    }
    Some(from)
}

/// Every recipient address with the field it came from.
fn recipients(doc: &Document) -> impl Iterator<Item = (&'static str, &str)> {
    let header = |name: &'static str| {
        doc.headers.get(name).into_iter().flatten().flat_map(move |v| {
            v.split(',')
                .map(move |a| (name, a.trim().trim_start_matches('<').trim_end_matches('>')))
        })
    };
    doc.envelope
        .rcpt_to
        .iter()
        .map(|a| ("envelope", a.as_str()))
        .chain(doc.to.iter().map(|m| ("To", m.address.as_str())))
        .chain(doc.cc.iter().map(|m| ("Cc", m.address.as_str())))
        .chain(header("delivered-to").map(|(_, a)| ("Delivered-To", a)))
        .chain(header("x-original-to").map(|(_, a)| ("X-Original-To", a)))
}

fn by_alias(
    doc: &Document,
    config: &Config,
    dir: &dyn Directory,
    person: Option<&str>,
) -> Result<Option<Decision>> {
    let mut found: Vec<(EntityKind, String, String)> = Vec::new();
    for (field, address) in recipients(doc) {
        if let Some((kind, id)) = config.alias_pattern.read(address, &config.inbound_domains)
            && !found.iter().any(|(k, i, _)| *k == kind && *i == id)
        {
            found.push((kind, id, format!("{field}: {address}")));
        }
    }
    let decision = match found.len() {
        0 => return Ok(None),
        1 => {
            let (kind, id, reason) = found.remove(0);
            let mut assignment = Assignment::of(kind, &id);
            if kind == EntityKind::Deal
                && let Some(person) = person
            {
                add_sender_contact(&mut assignment, dir, person)?;
            }
            Decision::matched(Rule::Alias, format!("alias {reason}"), assignment)
        }
        n => {
            let suggestions = found
                .into_iter()
                .map(|(kind, id, reason)| Suggestion {
                    kind,
                    id,
                    reason: format!("alias {reason}"),
                })
                .collect();
            Decision::ambiguous(
                Rule::Alias,
                format!("{n} different aliases among the recipients"),
                suggestions,
            )
        }
    };
    Ok(Some(decision))
}

fn by_correlation(
    doc: &Document,
    dir: &dyn Directory,
    person: Option<&str>,
) -> Result<Option<Decision>> {
    let values = doc.headers.get("x-correlation-id").into_iter().flatten();
    for value in values {
        if let Some((kind, id)) = addresses::read_correlation(value) {
            let mut assignment = Assignment::of(kind, &id);
            if kind == EntityKind::Deal
                && let Some(person) = person
            {
                add_sender_contact(&mut assignment, dir, person)?;
            }
            let reason = format!("X-Correlation-ID: {}", value.trim());
            return Ok(Some(Decision::matched(Rule::Correlation, reason, assignment)));
        }
    }
    Ok(None)
}

/// Names the sender's contact (and company) beside a deal, for the CRM's
/// associations, when the address belongs to exactly one contact.
fn add_sender_contact(
    assignment: &mut Assignment,
    dir: &dyn Directory,
    person: &str,
) -> Result<()> {
    if let [contact] = dir.contacts_by_email(person)?.as_slice() {
        assignment.contact_id = Some(contact.id.clone());
        assignment.company_id.clone_from(&contact.company_id);
    }
    Ok(())
}

fn by_contact(doc: &Document, dir: &dyn Directory, person: &str) -> Result<Option<Decision>> {
    let mut addresses = vec![person.to_string()];
    for reply_to in &doc.reply_to {
        let address = reply_to.address.to_ascii_lowercase();
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    for (i, address) in addresses.iter().enumerate() {
        let field = if i == 0 { "From" } else { "Reply-To" };
        let contacts = dir.contacts_by_email(address)?;
        if contacts.is_empty() {
            continue;
        }
        let mut deals: Vec<(&OpenDeal, &ContactHit)> = Vec::new();
        for contact in &contacts {
            for deal in &contact.open_deals {
                if !deals.iter().any(|(d, _)| d.id == deal.id) {
                    deals.push((deal, contact));
                }
            }
        }
        let who = |c: &ContactHit| match &c.name {
            Some(name) => format!("{name} ({})", c.id),
            None => c.id.clone(),
        };
        let decision = match (deals.as_slice(), contacts.as_slice()) {
            ([(deal, contact)], _) => Decision::matched(
                Rule::Contact,
                format!(
                    "{field} {address} is contact {}, whose one open deal this is",
                    who(contact)
                ),
                Assignment {
                    deal_id: Some(deal.id.clone()),
                    contact_id: Some(contact.id.clone()),
                    company_id: contact.company_id.clone(),
                },
            ),
            ([], [contact]) => Decision::matched(
                Rule::Contact,
                format!("{field} {address} is contact {}, who has no open deal", who(contact)),
                Assignment {
                    deal_id: None,
                    contact_id: Some(contact.id.clone()),
                    company_id: contact.company_id.clone(),
                },
            ),
            ([], several) => {
                let suggestions = several
                    .iter()
                    .map(|c| Suggestion {
                        kind: EntityKind::Contact,
                        id: c.id.clone(),
                        reason: format!("{address} is contact {}", who(c)),
                    })
                    .collect();
                Decision::ambiguous(
                    Rule::Contact,
                    format!("{field} {address} belongs to {} contacts", several.len()),
                    suggestions,
                )
            }
            (several, _) => {
                let suggestions = several
                    .iter()
                    .map(|(deal, contact)| Suggestion {
                        kind: EntityKind::Deal,
                        id: deal.id.clone(),
                        reason: format!(
                            "open deal {} of contact {}",
                            deal.name.as_deref().unwrap_or(&deal.id),
                            who(contact)
                        ),
                    })
                    .collect();
                Decision::ambiguous(
                    Rule::Contact,
                    format!("{field} {address} is a contact with {} open deals", several.len()),
                    suggestions,
                )
            }
        };
        return Ok(Some(decision));
    }
    Ok(None)
}

fn by_company(dir: &dyn Directory, person: &str) -> Result<Decision> {
    let Some(domain) = domain_of(person) else {
        return Ok(Decision::unmatched(format!("{person} is not a mail address")));
    };
    if is_free_mail(&domain) {
        return Ok(Decision::unmatched(format!(
            "{person} is not a known contact, and {domain} is a free-mail domain"
        )));
    }
    for candidate in domain_and_parents(&domain) {
        if let Some((id, name)) = dir.company_by_domain(candidate)? {
            let reason = format!(
                "the sender's domain {domain} is company {}",
                name.as_deref().map_or_else(|| id.clone(), |n| format!("{n} ({id})"))
            );
            return Ok(Decision::matched(
                Rule::Company,
                reason,
                Assignment::of(EntityKind::Company, &id),
            ));
        }
    }
    Ok(Decision::unmatched(format!(
        "{person} is not a known contact and {domain} is no known company's domain"
    )))
}

/// Whether every address on the message is the team's own (the inbound
/// mailbox aside).
fn is_internal(doc: &Document, config: &Config) -> bool {
    if config.team_domains.is_empty() {
        return false;
    }
    let mut people = doc
        .from
        .iter()
        .chain(&doc.to)
        .chain(&doc.cc)
        .chain(&doc.reply_to)
        .map(|m| m.address.as_str())
        .filter(|a| !config.is_inbound(a))
        .peekable();
    people.peek().is_some() && people.all(|a| config.is_team(a))
}

/// Why a message is never pushed as an activity, if it is not.
fn not_worthy(doc: &Document, config: &Config) -> Option<String> {
    match doc.classification.kind {
        MessageKind::AutoReply => return Some("auto-reply".into()),
        MessageKind::Bounce => return Some("bounce".into()),
        MessageKind::List => return Some("mailing-list mail".into()),
        MessageKind::Normal => {}
    }
    if doc.list_id.is_some() {
        return Some("mailing-list mail".into());
    }
    let from = doc.from.as_ref()?;
    blocked_because(&from.address, &config.block_list)
}
