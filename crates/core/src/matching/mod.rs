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
mod rules;
mod settle;

pub use rules::decide;
pub use settle::{Member, Pin, settle};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use self::addresses::{AliasPattern, domain_of};
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
