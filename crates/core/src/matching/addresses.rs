//! What an address says on its own: a recipient alias naming a CRM entity,
//! an `X-Correlation-ID`, a free-mail or team domain, a robot or a blocked
//! sender. Pure functions over strings.

use serde::{Deserialize, Serialize};

use super::EntityKind;
use crate::error::{CoreError, Result};

/// How a recipient alias is written: a local part with `{kind}` and `{id}`
/// placeholders, `{kind}+{id}` by default (`deal+42@in.example.com`).
/// `{kind}` is `deal`, `contact` or `company`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasPattern {
    prefix: String,
    separator: String,
    suffix: String,
}

pub const DEFAULT_ALIAS_PATTERN: &str = "{kind}+{id}";

impl Default for AliasPattern {
    fn default() -> Self {
        AliasPattern { prefix: String::new(), separator: "+".into(), suffix: String::new() }
    }
}

impl AliasPattern {
    /// Reads a pattern such as `{kind}+{id}` or `crm.{kind}.{id}`: `{kind}`
    /// must come first, then a non-empty separator, then `{id}`.
    pub fn parse(pattern: &str) -> Result<AliasPattern> {
        let bad = |why: &str| CoreError::InvalidInput(format!("alias pattern {pattern:?}: {why}"));
        let (prefix, rest) = pattern.split_once("{kind}").ok_or_else(|| bad("no {kind}"))?;
        let (separator, suffix) =
            rest.split_once("{id}").ok_or_else(|| bad("no {id} after {kind}"))?;
        let allowed =
            |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._=".contains(&b));
        if separator.is_empty() {
            return Err(bad("{kind} and {id} need a separator between them, such as +"));
        }
        if !allowed(prefix) || !allowed(separator) || !allowed(suffix) {
            return Err(bad("only letters, digits and + - . _ = may surround the placeholders"));
        }
        if pattern.contains('@') {
            return Err(bad("the pattern is the part before @; inbound domains are set apart"));
        }
        Ok(AliasPattern {
            prefix: prefix.to_ascii_lowercase(),
            separator: separator.to_ascii_lowercase(),
            suffix: suffix.to_ascii_lowercase(),
        })
    }

    pub fn render(&self, kind: EntityKind, id: &str) -> String {
        format!("{}{}{}{}{}", self.prefix, kind.as_str(), self.separator, id, self.suffix)
    }

    /// The entity an alias address names, if it is one. `domains` limits
    /// which domains count (subdomains included); empty means any.
    pub fn read(&self, address: &str, domains: &[String]) -> Option<(EntityKind, String)> {
        let (local, domain) = address.trim().rsplit_once('@')?;
        if !domains.is_empty() && !domains.iter().any(|d| domain_within(domain, d)) {
            return None;
        }
        let lower = local.to_ascii_lowercase();
        let rest = lower.strip_prefix(&self.prefix)?;
        let (kind, tail) = rest.split_once(&self.separator)?;
        let kind = EntityKind::parse(kind)?;
        if !tail.ends_with(&self.suffix) {
            return None;
        }
        // The id keeps its case (CRM ids may be case-sensitive); lower-casing
        // ASCII keeps byte offsets, so the original is sliced at the same place.
        let start = local.len() - tail.len();
        let id = &local[start..local.len() - self.suffix.len()];
        valid_id(id).then(|| (kind, id.to_string()))
    }
}

/// CRM ids are short tokens; anything else in an alias is a lookalike.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An `X-Correlation-ID` the team's own tools set on what they send:
/// `deal:ID`, `contact:ID` or `company:ID`. Anything else names nothing.
pub fn read_correlation(value: &str) -> Option<(EntityKind, String)> {
    let (kind, id) = value.trim().trim_matches(['<', '>']).split_once(':')?;
    let kind = EntityKind::parse(&kind.to_ascii_lowercase())?;
    let id = id.trim();
    valid_id(id).then(|| (kind, id.to_string()))
}

/// The lower-cased domain of an address.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.trim().rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// Whether `domain` is `parent` or one of its subdomains.
pub fn domain_within(domain: &str, parent: &str) -> bool {
    let domain = domain.trim_end_matches('.');
    let parent = parent.trim_start_matches('.').trim_end_matches('.');
    domain.eq_ignore_ascii_case(parent)
        || (domain.len() > parent.len()
            && domain[domain.len() - parent.len()..].eq_ignore_ascii_case(parent)
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.')
}

/// `domain` and each parent of it with at least two labels, most specific
/// first: `eu.mail.acme.com`, `mail.acme.com`, `acme.com`.
pub fn domain_and_parents(domain: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(domain);
    std::iter::from_fn(move || {
        let current = rest?;
        rest = current.split_once('.').map(|(_, parent)| parent).filter(|p| p.contains('.'));
        Some(current)
    })
}

/// Mailbox providers anyone can sign up to: their domain says nothing about
/// a sender's company.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "orange.fr",
    "free.fr",
    "t-online.de",
    "libero.it",
    "comcast.net",
    "btinternet.com",
];

/// Brands whose free mail also lives under country domains
/// (`yahoo.co.uk`, `hotmail.fr`, `outlook.de`).
const FREE_MAIL_BRANDS: &[&str] = &["yahoo", "hotmail", "outlook", "live", "gmx", "yandex"];

pub fn is_free_mail(domain: &str) -> bool {
    let domain = domain.to_ascii_lowercase();
    FREE_MAIL.contains(&domain.as_str())
        || domain
            .split_once('.')
            .is_some_and(|(brand, rest)| FREE_MAIL_BRANDS.contains(&brand) && rest.len() <= 6)
}

/// Local parts robots send from: never people, never contacts.
const ROBOT_LOCAL_PARTS: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "mailer-daemon",
    "postmaster",
    "bounce",
    "bounces",
    "notifications",
    "notification",
    "newsletter",
    "news",
    "marketing",
    "automated",
    "alerts",
];

/// Why a sender is never a contact and never pushed, if it is one of those:
/// a robot address or an entry of the block list (an address, or `@domain`
/// covering its subdomains too).
pub fn blocked_because(address: &str, block_list: &[String]) -> Option<String> {
    let lower = address.trim().to_ascii_lowercase();
    let (local, domain) = lower.rsplit_once('@')?;
    for entry in block_list {
        let entry = entry.trim().to_ascii_lowercase();
        let hit = match entry.strip_prefix('@') {
            Some(blocked) => domain_within(domain, blocked),
            None => entry == lower,
        };
        if hit {
            return Some(format!("{address} is on the block list ({entry})"));
        }
    }
    let base = local.split('+').next().unwrap_or(local);
    let robot = ROBOT_LOCAL_PARTS.contains(&base)
        || base.starts_with("noreply")
        || base.starts_with("no-reply")
        || base.starts_with("bounce-");
    robot.then(|| format!("{address} is an automated sender"))
}

/// Checks a block-list entry before it is saved.
pub fn parse_block_entry(entry: &str) -> Result<String> {
    let entry = entry.trim().to_ascii_lowercase();
    let ok = match entry.strip_prefix('@') {
        Some(domain) => domain.contains('.') && !domain.contains('@'),
        None => entry.matches('@').count() == 1 && domain_of(&entry).is_some(),
    };
    if ok {
        Ok(entry)
    } else {
        Err(CoreError::InvalidInput(format!(
            "block list entry {entry:?}: expected an address (sales@example.com) or @domain"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aliases_in_the_default_pattern_and_rejects_lookalikes() {
        let p = AliasPattern::default();
        let any: &[String] = &[];
        assert_eq!(
            p.read("deal+D-1001@in.acme.test", any),
            Some((EntityKind::Deal, "D-1001".into()))
        );
        assert_eq!(p.read("DEAL+77@in.acme.test", any), Some((EntityKind::Deal, "77".into())));
        assert_eq!(
            p.read("contact+c9@in.acme.test", any),
            Some((EntityKind::Contact, "c9".into()))
        );
        assert_eq!(p.read("deals+77@in.acme.test", any), None);
        assert_eq!(p.read("deal+@in.acme.test", any), None);
        assert_eq!(p.read("deal+../../x@in.acme.test", any), None);
        assert_eq!(p.read("jane@in.acme.test", any), None);
    }

    #[test]
    fn aliases_count_only_on_the_inbound_domains_when_set() {
        let p = AliasPattern::default();
        let domains = vec!["in.acme.test".to_string()];
        assert!(p.read("deal+1@in.acme.test", &domains).is_some());
        assert!(p.read("deal+1@eu.in.acme.test", &domains).is_some());
        assert!(p.read("deal+1@evil-in.acme.test.example", &domains).is_none());
        assert!(p.read("deal+1@gmail.com", &domains).is_none());
    }

    #[test]
    fn other_alias_patterns() {
        let p = AliasPattern::parse("crm.{kind}.{id}").expect("valid pattern");
        assert_eq!(p.read("crm.deal.42@in.acme.test", &[]), Some((EntityKind::Deal, "42".into())));
        assert_eq!(p.read("deal+42@in.acme.test", &[]), None);
        assert_eq!(p.render(EntityKind::Deal, "42"), "crm.deal.42");
        let p = AliasPattern::parse("{kind}-{id}-crm").expect("valid pattern");
        assert_eq!(p.read("deal-A7-crm@x.test", &[]), Some((EntityKind::Deal, "A7".into())));
        assert!(AliasPattern::parse("{id}+{kind}").is_err());
        assert!(AliasPattern::parse("{kind}{id}").is_err());
        assert!(AliasPattern::parse("{kind}+{id}@x.test").is_err());
    }

    #[test]
    fn correlation_ids() {
        assert_eq!(read_correlation("deal:D-1"), Some((EntityKind::Deal, "D-1".into())));
        assert_eq!(
            read_correlation(" <Company:acme> "),
            Some((EntityKind::Company, "acme".into()))
        );
        assert_eq!(read_correlation("3f2a-77"), None);
        assert_eq!(read_correlation("ticket:9"), None);
    }

    #[test]
    fn domains_and_free_mail() {
        assert!(domain_within("eu.acme.com", "acme.com"));
        assert!(domain_within("ACME.com", "acme.com"));
        assert!(!domain_within("notacme.com", "acme.com"));
        let parents: Vec<&str> = domain_and_parents("eu.mail.acme.com").collect();
        assert_eq!(parents, ["eu.mail.acme.com", "mail.acme.com", "acme.com"]);
        assert!(
            is_free_mail("gmail.com") && is_free_mail("yahoo.co.uk") && is_free_mail("hotmail.fr")
        );
        assert!(!is_free_mail("acme.com") && !is_free_mail("outlookconsulting.com"));
    }

    #[test]
    fn robots_and_block_list() {
        let list = vec!["@news.vendor.test".to_string(), "spam@x.test".to_string()];
        assert!(blocked_because("no-reply@acme.com", &[]).is_some());
        assert!(blocked_because("MAILER-DAEMON@mx.acme.com", &[]).is_some());
        assert!(blocked_because("promo@mail.news.vendor.test", &list).is_some());
        assert!(blocked_because("spam@x.test", &list).is_some());
        assert!(blocked_because("jane@acme.com", &list).is_none());
        assert!(parse_block_entry("@acme.com").is_ok());
        assert!(parse_block_entry("acme").is_err());
    }
}
