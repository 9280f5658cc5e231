//! Redaction of sensitive numbers before content leaves for the CRM.
//!
//! Candidates are found by pattern and then confirmed by their own check
//! digits, so an order number that happens to have 16 digits is left alone:
//! payment cards must pass the Luhn check (ISO/IEC 7812-1 Annex B), IBANs the
//! mod-97 check (ISO 13616-1 §7), and US SSNs the SSA's rules for issued
//! numbers (no area 000, 666 or 900-999, no group 00, no serial 0000).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Which kinds of number to redact. All on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RedactionRules {
    pub us_ssn: bool,
    pub payment_card: bool,
    pub iban: bool,
}

impl Default for RedactionRules {
    fn default() -> Self {
        RedactionRules { us_ssn: true, payment_card: true, iban: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RedactionKind {
    UsSsn,
    PaymentCard,
    Iban,
}

/// How many of each kind were redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RedactionReport {
    pub us_ssn: u32,
    pub payment_card: u32,
    pub iban: u32,
}

impl RedactionReport {
    pub fn total(&self) -> u32 {
        self.us_ssn + self.payment_card + self.iban
    }

    fn count(&mut self, kind: RedactionKind) {
        match kind {
            RedactionKind::UsSsn => self.us_ssn += 1,
            RedactionKind::PaymentCard => self.payment_card += 1,
            RedactionKind::Iban => self.iban += 1,
        }
    }

    fn add(&mut self, other: &RedactionReport) {
        self.us_ssn += other.us_ssn;
        self.payment_card += other.payment_card;
        self.iban += other.iban;
    }
}

/// The shareable parts of a message, redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RedactedContent {
    pub text: Option<String>,
    pub html: Option<String>,
    pub latest_reply: Option<String>,
    pub report: RedactionReport,
}

// SSNs written with separators only: nine bare digits are too often
// something else (order numbers, phone numbers).
static SSN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{3})[- ](\d{2})[- ](\d{4})\b").expect("SSN pattern compiles")
});
// 13 to 19 digits, optionally grouped by single spaces or hyphens.
static CARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").expect("card pattern compiles"));
// Country code, check digits, then 11 to 30 alphanumerics, optionally in
// groups of four separated by a space (the printed form).
static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b").expect("IBAN pattern compiles")
});

/// Redacts `text`; returns the new text and what was redacted.
pub fn redact(text: &str, rules: &RedactionRules) -> (String, RedactionReport) {
    let mut report = RedactionReport::default();
    let mut out = text.to_string();
    if rules.iban {
        out = replace_checked(&out, &IBAN, RedactionKind::Iban, &mut report);
    }
    if rules.payment_card {
        out = replace_checked(&out, &CARD, RedactionKind::PaymentCard, &mut report);
    }
    if rules.us_ssn {
        out = replace_checked(&out, &SSN, RedactionKind::UsSsn, &mut report);
    }
    (out, report)
}

/// Redacts the text, HTML and latest reply of a message together.
pub fn redact_content(
    text: Option<&str>,
    html: Option<&str>,
    latest_reply: Option<&str>,
    rules: &RedactionRules,
) -> RedactedContent {
    let mut report = RedactionReport::default();
    let mut apply = |value: Option<&str>| {
        value.map(|v| {
            let (redacted, found) = redact(v, rules);
            report.add(&found);
            redacted
        })
    };
    let text = apply(text);
    let html = apply(html);
    // The latest reply is a part of the text: its redactions are already
    // counted there, so they are applied but not counted twice.
    let latest_reply = latest_reply.map(|v| redact(v, rules).0);
    RedactedContent { text, html, latest_reply, report }
}

fn replace_checked(
    text: &str,
    pattern: &Regex,
    kind: RedactionKind,
    report: &mut RedactionReport,
) -> String {
    pattern
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let found = &caps[0];
            let valid = match kind {
                RedactionKind::UsSsn => is_issued_ssn(&caps[1], &caps[2], &caps[3]),
                RedactionKind::PaymentCard => is_card_number(found),
                RedactionKind::Iban => is_iban(found),
            };
            if !valid {
                return found.to_string();
            }
            report.count(kind);
            match kind {
                RedactionKind::UsSsn => "[redacted SSN]".to_string(),
                RedactionKind::Iban => "[redacted IBAN]".to_string(),
                RedactionKind::PaymentCard => {
                    let digits: String = found.chars().filter(char::is_ascii_digit).collect();
                    format!("[redacted card ending {}]", &digits[digits.len() - 4..])
                }
            }
        })
        .into_owned()
}

fn is_issued_ssn(area: &str, group: &str, serial: &str) -> bool {
    let area: u32 = area.parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != "00" && serial != "0000"
}

/// Luhn check over the digits, plus a length any card scheme issues.
fn is_card_number(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616 mod-97: move the first four characters to the end, turn letters
/// into numbers (A=10 ... Z=35), and the remainder mod 97 must be 1.
fn is_iban(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut remainder: u32 = 0;
    for c in rearranged {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> RedactionRules {
        RedactionRules::default()
    }

    #[test]
    fn luhn_valid_cards_are_redacted_and_other_long_numbers_are_not() {
        let (out, report) = redact("Card 4111 1111 1111 1111, PO 1234567890123456.", &all());
        assert_eq!(out, "Card [redacted card ending 1111], PO 1234567890123456.");
        assert_eq!(report.payment_card, 1);
    }

    #[test]
    fn ibans_are_checked_by_mod_97() {
        let (out, report) =
            redact("Pay to DE89 3704 0044 0532 0130 00, not DE00 3704 0044 0532 0130 00.", &all());
        assert_eq!(out, "Pay to [redacted IBAN], not DE00 3704 0044 0532 0130 00.");
        assert_eq!(report.iban, 1);
        assert!(is_iban("GB82WEST12345698765432"));
    }

    #[test]
    fn only_issuable_ssns_are_redacted() {
        let (out, report) = redact("SSN 123-45-6789; ref 000-12-3456; 666-12-3456", &all());
        assert_eq!(out, "SSN [redacted SSN]; ref 000-12-3456; 666-12-3456");
        assert_eq!(report.us_ssn, 1);
    }

    #[test]
    fn rules_can_be_switched_off() {
        let rules = RedactionRules { payment_card: false, ..RedactionRules::default() };
        let (out, report) = redact("4111-1111-1111-1111", &rules);
        assert_eq!(out, "4111-1111-1111-1111");
        assert_eq!(report.total(), 0);
    }

    #[test]
    fn content_is_redacted_everywhere_and_counted_once() {
        let text = "Card: 5500 0000 0000 0004\n\nOn Mon, Sam wrote:\n> hi";
        let redacted = redact_content(
            Some(text),
            Some("<p>Card: 5500 0000 0000 0004</p>"),
            Some("Card: 5500 0000 0000 0004"),
            &all(),
        );
        assert_eq!(redacted.report.payment_card, 2, "text and HTML each hold one");
        assert_eq!(redacted.latest_reply.as_deref(), Some("Card: [redacted card ending 0004]"));
        assert!(!redacted.html.unwrap_or_default().contains("5500"));
    }
}
