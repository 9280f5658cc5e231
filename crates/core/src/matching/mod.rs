//! Which CRM deal, contact or company a message belongs to, and why.
//!
//! The rules, in order; the first that applies decides and is recorded with
//! the match as its reason:
//! 1. a recipient alias (`deal+{id}@`, `contact+{id}@`) in the envelope, To,
//!    Cc, Delivered-To or X-Original-To;
//! 2. an `X-Correlation-ID` header set by the team's own tools;
//!    (mail only between the team's own addresses is internal here)
//! 3. a sender rule the rep made from a correction;
//! 4. thread inheritance: a reply joins the entity of its thread;
//! 5. From or Reply-To is a known contact: one open deal files it there,
//!    several send it to the review queue with those deals ranked;
//! 6. the sender's domain is a company's (free-mail domains never are);
//!
//! otherwise the message is unmatched and waits in the review queue. A
//! correction by the rep wins over every rule.
//!
//! [`decide`] applies the rules that look at one message alone;
//! [`settle`] adds thread inheritance and corrections over a whole thread,
//! so the outcome does not depend on the order the thread's mail arrived.
//! Both are pure; the store reads and writes around them
//! ([`crate::store::matches`]).

pub mod addresses;
pub mod corrections;

use dealthread_mail::Document;
use dealthread_mail::classify::MessageKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use self::addresses::{AliasPattern, blocked_because, domain_and_parents, domain_of, is_free_mail};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum EntityKind {
    Deal,
    Contact,
    Company,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Deal => "deal",
            EntityKind::Contact => "contact",
            EntityKind::Company => "company",
        }
    }

    pub fn parse(text: &str) -> Option<EntityKind> {
        match text {
            "deal" => Some(EntityKind::Deal),
            "contact" => Some(EntityKind::Contact),
            "company" => Some(EntityKind::Company),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MatchStatus {
    Matched,
    /// Several entities fit equally: the rep chooses among the suggestions.
    Ambiguous,
    Unmatched,
    /// Only the team's own addresses: not CRM-worthy by default.
    Internal,
}

impl MatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Matched => "matched",
            MatchStatus::Ambiguous => "ambiguous",
            MatchStatus::Unmatched => "unmatched",
            MatchStatus::Internal => "internal",
        }
    }

    pub fn parse(text: &str) -> Option<MatchStatus> {
        [
            MatchStatus::Matched,
            MatchStatus::Ambiguous,
            MatchStatus::Unmatched,
            MatchStatus::Internal,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Rule {
    Alias,
    Correlation,
    SenderRule,
    Thread,
    Contact,
    Company,
    Correction,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Alias => "alias",
            Rule::Correlation => "correlation",
            Rule::SenderRule => "sender_rule",
            Rule::Thread => "thread",
            Rule::Contact => "contact",
            Rule::Company => "company",
            Rule::Correction => "correction",
        }
    }

    pub fn parse(text: &str) -> Option<Rule> {
        [
            Rule::Alias,
            Rule::Correlation,
            Rule::SenderRule,
            Rule::Thread,
            Rule::Contact,
            Rule::Company,
            Rule::Correction,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// Rules a message carries by itself, which thread inheritance does not
    /// override (they come before it in the order).
    fn outranks_thread(self) -> bool {
        matches!(self, Rule::Alias | Rule::Correlation | Rule::SenderRule | Rule::Correction)
    }

    /// Which message a thread inherits from: the lowest wins.
    fn anchor_rank(self) -> Option<u8> {
        match self {
            Rule::Correction => Some(0),
            Rule::Alias => Some(1),
            Rule::Correlation => Some(2),
            Rule::SenderRule => Some(3),
            Rule::Contact => Some(4),
            Rule::Company => Some(5),
            Rule::Thread => None,
        }
    }
}

/// The entities a message is filed under.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Assignment {
    pub deal_id: Option<String>,
    pub contact_id: Option<String>,
    pub company_id: Option<String>,
}

impl Assignment {
    pub fn of(kind: EntityKind, id: &str) -> Assignment {
        let mut a = Assignment::default();
        *a.slot(kind) = Some(id.to_string());
        a
    }

    fn slot(&mut self, kind: EntityKind) -> &mut Option<String> {
        match kind {
            EntityKind::Deal => &mut self.deal_id,
            EntityKind::Contact => &mut self.contact_id,
            EntityKind::Company => &mut self.company_id,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.deal_id.is_none() && self.contact_id.is_none() && self.company_id.is_none()
    }

    /// The most specific entity: the deal, else the contact, else the company.
    pub fn primary(&self) -> Option<(EntityKind, &str)> {
        None.or_else(|| self.deal_id.as_deref().map(|id| (EntityKind::Deal, id)))
            .or_else(|| self.contact_id.as_deref().map(|id| (EntityKind::Contact, id)))
            .or_else(|| self.company_id.as_deref().map(|id| (EntityKind::Company, id)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Suggestion {
    pub kind: EntityKind,
    pub id: String,
    pub reason: String,
}

/// What the rules decided for a message, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub status: MatchStatus,
    pub rule: Option<Rule>,
    pub reason: String,
    #[serde(flatten)]
    pub assignment: Assignment,
    /// Ranked, best first; for the review queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    /// Why the message is never pushed to the CRM, if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_worthy: Option<String>,
}

impl Decision {
    fn matched(rule: Rule, reason: String, assignment: Assignment) -> Decision {
        Decision {
            status: MatchStatus::Matched,
            rule: Some(rule),
            reason,
            assignment,
            suggestions: Vec::new(),
            not_worthy: None,
        }
    }

    fn ambiguous(rule: Rule, reason: String, suggestions: Vec<Suggestion>) -> Decision {
        Decision {
            status: MatchStatus::Ambiguous,
            rule: Some(rule),
            reason,
            assignment: Assignment::default(),
            suggestions,
            not_worthy: None,
        }
    }

    pub fn unmatched(reason: String) -> Decision {
        Decision {
            status: MatchStatus::Unmatched,
            rule: None,
            reason,
            assignment: Assignment::default(),
            suggestions: Vec::new(),
            not_worthy: None,
        }
    }
}

/// The settings the rules read (none of them secret).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where aliases are received; empty accepts an alias on any domain.
    pub inbound_domains: Vec<String>,
    /// The team's own domains: mail only among them is internal, and a
    /// teammate forwarding customer mail is looked through.
    pub team_domains: Vec<String>,
    pub alias_pattern: AliasPattern,
    pub block_list: Vec<String>,
}

impl Config {
    fn is_team(&self, address: &str) -> bool {
        domain_of(address)
            .is_some_and(|d| self.team_domains.iter().any(|t| addresses::domain_within(&d, t)))
    }

    fn is_inbound(&self, address: &str) -> bool {
        domain_of(address)
            .is_some_and(|d| self.inbound_domains.iter().any(|t| addresses::domain_within(&d, t)))
    }
}

/// A known contact with one of the addresses a message came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactHit {
    pub id: String,
    pub name: Option<String>,
    pub company_id: Option<String>,
    /// The contact's deals that are not closed, most recently active first.
    pub open_deals: Vec<OpenDeal>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenDeal {
    pub id: String,
    pub name: Option<String>,
}

/// A rep's "always file mail from this sender / domain under ...".
#[derive(Debug, Clone, PartialEq)]
pub struct SenderRule {
    pub id: i64,
    pub pattern: String,
    pub kind: EntityKind,
    pub entity_id: String,
}

/// The local CRM cache, as the rules ask it.
pub trait Directory {
    /// The most specific rule for this address: the address itself, then
    /// its domain, then each parent domain.
    fn sender_rule(&self, address: &str) -> Result<Option<SenderRule>>;
    fn contacts_by_email(&self, address: &str) -> Result<Vec<ContactHit>>;
    /// The company owning this exact domain, if one does.
    fn company_by_domain(&self, domain: &str) -> Result<Option<(String, Option<String>)>>;
}

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

/// A correction pinned on a message: it wins over every rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub correction_id: i64,
    pub actor: String,
    /// Moved to these entities; `None` when the pin only marks it.
    pub target: Option<Assignment>,
    /// Marked as not CRM-worthy by the rep.
    #[serde(default)]
    pub ignored: bool,
    /// Whether the rep moved the whole thread: then later replies follow it.
    #[serde(default)]
    pub whole_thread: bool,
}

/// One message of a thread, as [`settle`] needs it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub sort_time: i64,
    pub own: Decision,
    pub pin: Option<Pin>,
}

/// The final decision for each message of a thread (same order): rules 1–3
/// and a message's correction stand; otherwise the message inherits from
/// the thread's anchor, the message with the strongest rule of its own
/// (earliest first among equals; the anchor itself keeps its own
/// decision); otherwise its own decision stands. It is
/// a function of the thread's messages, not of their arrival order.
pub fn settle(members: &[Member]) -> Vec<Decision> {
    let anchor_key = |m: &Member| -> Option<(u8, i64, i64)> {
        if let Some(pin) = &m.pin
            && pin.whole_thread
            && pin.target.is_some()
            && !pin.ignored
        {
            return Some((0, m.sort_time, m.id));
        }
        if m.own.status != MatchStatus::Matched {
            return None;
        }
        m.own.rule.and_then(Rule::anchor_rank).map(|rank| (rank, m.sort_time, m.id))
    };
    let mut ranked: Vec<(u8, i64, i64, usize)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| anchor_key(m).map(|(r, t, id)| (r, t, id, i)))
        .collect();
    ranked.sort_unstable();
    members
        .iter()
        .map(|m| {
            // The best anchor keeps its own decision; everyone else follows it.
            let anchor = ranked.first().map(|a| &members[a.3]).filter(|a| a.id != m.id);
            resolve(m, anchor)
        })
        .collect()
}

fn resolve(m: &Member, anchor: Option<&Member>) -> Decision {
    let mut decision = match &m.pin {
        Some(pin) if pin.target.is_some() => {
            let target = pin.target.clone().unwrap_or_default();
            Decision::matched(
                Rule::Correction,
                format!("moved by {} (correction #{})", pin.actor, pin.correction_id),
                target,
            )
        }
        _ => inherit(m, anchor),
    };
    decision.not_worthy = m.own.not_worthy.clone();
    if let Some(pin) = m.pin.as_ref().filter(|p| p.ignored) {
        decision.not_worthy = Some(format!(
            "marked not CRM-worthy by {} (correction #{})",
            pin.actor, pin.correction_id
        ));
    }
    decision
}

fn inherit(m: &Member, anchor: Option<&Member>) -> Decision {
    let own = &m.own;
    let stands = own.status == MatchStatus::Internal || own.rule.is_some_and(Rule::outranks_thread);
    let Some(anchor) = anchor.filter(|_| !stands) else {
        return own.clone();
    };
    let from = match &anchor.pin {
        Some(pin) if pin.whole_thread => pin.target.clone().unwrap_or_default(),
        _ => anchor.own.assignment.clone(),
    };
    let mut assignment = from.clone();
    // The message's own sender stays its contact when the rules found one.
    if own.assignment.contact_id.is_some() && from.deal_id.is_some() {
        assignment.contact_id.clone_from(&own.assignment.contact_id);
        assignment.company_id.clone_from(&own.assignment.company_id);
    }
    let why = match &anchor.pin {
        Some(pin) if pin.whole_thread => {
            format!("the rep moved the thread (correction #{})", pin.correction_id)
        }
        _ => anchor.own.reason.clone(),
    };
    Decision::matched(
        Rule::Thread,
        format!("in the thread of message {}: {why}", anchor.id),
        assignment,
    )
}
