//! What kind of message this is: normal correspondence, an automatic reply
//! (RFC 3834), a bounce (RFC 3464 delivery status notification) or list mail
//! (RFC 2369/2919). The kind decides whether the message may become a CRM
//! activity, so every decision carries the reasons that led to it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::parse::Parsed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MessageKind {
    Normal,
    AutoReply,
    Bounce,
    List,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Normal => "normal",
            MessageKind::AutoReply => "auto_reply",
            MessageKind::Bounce => "bounce",
            MessageKind::List => "list",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Classification {
    pub kind: MessageKind,
    /// Each signal that was seen, e.g. `Auto-Submitted: auto-replied`.
    pub reasons: Vec<String>,
}

/// A delivery status notification, read per RFC 3464 §2.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BounceReport {
    pub recipients: Vec<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// Subjects that auto-responders put on their replies, lower-cased prefixes.
/// Weak signals: they only count when nothing stronger says otherwise.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "absence du bureau",
    "respuesta automática",
    "fuera de la oficina",
    "resposta automática",
    "automatisch antwoord",
    "afwezig",
    "risposta automatica",
    "fuori sede",
    "automatisk svar",
    "automatiskt svar",
    "autosvar",
    "frånvarande",
    "poissa",
    "automaattinen vastaus",
    "odpowiedź automatyczna",
    "автоматический ответ",
];

pub fn classify(message: &Parsed) -> Classification {
    let mut bounce_reasons = Vec::new();
    let mut auto_reasons = Vec::new();
    let mut list_reasons = Vec::new();

    // Bounces first: a DSN is also "automatic", but it means something else.
    if message.content_type.as_deref() == Some("multipart/report")
        && message.report_type.as_deref() == Some("delivery-status")
    {
        bounce_reasons.push("Content-Type: multipart/report; report-type=delivery-status".into());
    }
    if let Some(from) = &message.from {
        let local = from.address.split('@').next().unwrap_or_default().to_ascii_lowercase();
        if local == "mailer-daemon" || local == "postmaster" {
            bounce_reasons.push(format!("From: {}", from.address));
        }
    }
    // A null return path (Return-Path: <>) is no bounce signal by itself:
    // RFC 3834 §3.3 asks auto-responders to send from the null sender too.

    // RFC 3834 §5: Auto-Submitted with any value but "no".
    if let Some(value) = message.header("auto-submitted") {
        let token = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if token != "no" && !token.is_empty() {
            auto_reasons.push(format!("Auto-Submitted: {token}"));
        }
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if message.header(name).is_some() {
            auto_reasons.push(format!("{name} present"));
        }
    }
    if let Some(value) = message.header("x-auto-response-suppress") {
        // Exchange stamps this on its own automatic messages (OOF, DR, NDR...).
        let value = value.to_ascii_lowercase();
        if value.contains("oof") || value.contains("autoreply") || value == "all" {
            auto_reasons.push(format!("X-Auto-Response-Suppress: {value}"));
        }
    }
    if let Some(value) = message.header("precedence") {
        let value = value.trim().to_ascii_lowercase();
        match value.as_str() {
            "auto_reply" | "bulk" | "junk" => auto_reasons.push(format!("Precedence: {value}")),
            "list" => list_reasons.push("Precedence: list".into()),
            _ => {}
        }
    }
    if let Some(subject) = &message.subject {
        let subject = subject.trim().to_lowercase();
        if let Some(prefix) = AUTO_REPLY_SUBJECTS.iter().find(|p| subject.starts_with(**p)) {
            auto_reasons.push(format!("subject starts with \"{prefix}\""));
        }
    }

    if let Some(id) = &message.list_id {
        list_reasons.push(format!("List-Id: {id}"));
    }
    if message.header("list-unsubscribe").is_some() {
        list_reasons.push("List-Unsubscribe present".into());
    }

    let (kind, reasons) = if !bounce_reasons.is_empty() {
        (MessageKind::Bounce, bounce_reasons)
    } else if !auto_reasons.is_empty() {
        (MessageKind::AutoReply, auto_reasons)
    } else if !list_reasons.is_empty() {
        (MessageKind::List, list_reasons)
    } else {
        (MessageKind::Normal, Vec::new())
    };
    Classification { kind, reasons }
}

/// Reads a bounce: the per-recipient fields of a message/delivery-status
/// part (RFC 3464 §2.3) when there is one, else what the text of a
/// non-standard bounce (Gmail's, Exchange's NDR, older MTAs') says.
/// Recipients are listed in order; action, status and diagnostic come from
/// the first recipient that has them.
pub fn bounce_report(message: &Parsed, classification: &Classification) -> Option<BounceReport> {
    match message.delivery_status.as_deref() {
        Some(status) => Some(delivery_status_report(status)),
        None if classification.kind == MessageKind::Bounce => Some(text_bounce_report(message)),
        None => None,
    }
}

/// Phrases of non-standard bounces that mean the failure is permanent.
const PERMANENT_FAILURE_PHRASES: &[&str] = &[
    "failed permanently",
    "couldn't be delivered",
    "could not be delivered",
    "delivery has failed",
    "undeliverable",
    "user unknown",
    "does not exist",
    "address rejected",
    "mailbox unavailable",
    "no such user",
];

fn text_bounce_report(message: &Parsed) -> BounceReport {
    let text = message.text.as_deref().unwrap_or_default();
    let own: Vec<String> =
        message.to.iter().chain(&message.from).map(|m| m.address.to_ascii_lowercase()).collect();
    let mut report =
        BounceReport { recipients: Vec::new(), action: None, status: None, diagnostic: None };
    for word in text.split(|c: char| c.is_whitespace() || "<>()[],;:\"'".contains(c)) {
        let word = word.trim_end_matches('.');
        let looks_like_address = word.contains('@')
            && word.rsplit_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if looks_like_address
            && !own.contains(&word.to_ascii_lowercase())
            && !report.recipients.iter().any(|r| r.eq_ignore_ascii_case(word))
        {
            report.recipients.push(word.to_string());
        }
    }
    // Enhanced status codes (RFC 3463): class.subject.detail, e.g. 5.1.1.
    for line in text.lines() {
        let code = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit() && c != '.'))
            .find(|w| {
                let parts: Vec<&str> = w.split('.').collect();
                parts.len() == 3
                    && matches!(parts[0], "4" | "5")
                    && parts[1..].iter().all(|p| {
                        !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit())
                    })
            });
        if let Some(code) = code {
            report.status = Some(code.to_string());
            report.diagnostic = Some(line.trim().to_string());
            break;
        }
    }
    let lower = text.to_lowercase();
    let permanent = report.status.as_deref().is_some_and(|s| s.starts_with('5'))
        || PERMANENT_FAILURE_PHRASES.iter().any(|p| lower.contains(p));
    let transient = report.status.as_deref().is_some_and(|s| s.starts_with('4'));
    report.action = if transient {
        Some("delayed".into())
    } else if permanent {
        Some("failed".into())
    } else {
        None
    };
    report
}

fn delivery_status_report(status: &str) -> BounceReport {
    let mut report =
        BounceReport { recipients: Vec::new(), action: None, status: None, diagnostic: None };
    for line in unfold_fields(status) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" | "original-recipient" => {
                // `rfc822; someone@example.com` (address-type; address)
                let address = value.split_once(';').map_or(value, |(_, a)| a).trim();
                let address = address.trim_matches(['<', '>']).to_string();
                if !address.is_empty() && !report.recipients.contains(&address) {
                    report.recipients.push(address);
                }
            }
            "action" if report.action.is_none() => report.action = Some(value.to_ascii_lowercase()),
            "status" if report.status.is_none() => report.status = Some(value.to_string()),
            "diagnostic-code" if report.diagnostic.is_none() => {
                let diagnostic = value.split_once(';').map_or(value, |(_, d)| d).trim();
                report.diagnostic = Some(diagnostic.to_string());
            }
            _ => {}
        }
    }
    report
}

/// The delivery-status body is header-like: fields may be folded.
fn unfold_fields(text: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if !line.trim().is_empty() {
            fields.push(line.trim_end().to_string());
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn kind_of(raw: &str) -> Classification {
        classify(&parse(raw.as_bytes()).expect("test message parses"))
    }

    #[test]
    fn an_out_of_office_from_the_null_sender_is_an_auto_reply_not_a_bounce() {
        let c = kind_of(
            "Return-Path: <>\r\nFrom: a@x.com\r\nAuto-Submitted: auto-replied\r\nSubject: Away\r\n\r\nback Monday",
        );
        assert_eq!(c.kind, MessageKind::AutoReply, "reasons: {:?}", c.reasons);
    }

    #[test]
    fn auto_submitted_no_is_normal_mail() {
        let c = kind_of("From: a@x.com\r\nAuto-Submitted: no\r\nSubject: hi\r\n\r\nbody");
        assert_eq!(c.kind, MessageKind::Normal, "reasons: {:?}", c.reasons);
    }

    #[test]
    fn auto_replied_header_wins_over_list_headers() {
        let c = kind_of(
            "From: a@x.com\r\nAuto-Submitted: auto-replied\r\nList-Id: <l.x.com>\r\nSubject: hi\r\n\r\nbody",
        );
        assert_eq!(c.kind, MessageKind::AutoReply);
        assert_eq!(c.reasons, vec!["Auto-Submitted: auto-replied"]);
    }

    #[test]
    fn a_gmail_style_bounce_without_a_dsn_part_is_read_from_its_text() {
        let raw = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nTo: sam@acme.example\r\nSubject: Delivery Status Notification (Failure)\r\n\r\nAddress not found\r\n\r\nYour message wasn't delivered to j.doe@gone.example because the address couldn't be found.\r\n\r\nThe response was:\r\n\r\n550 5.1.1 The email account that you tried to reach does not exist.\r\n";
        let parsed = parse(raw.as_bytes()).expect("parses");
        let c = classify(&parsed);
        assert_eq!(c.kind, MessageKind::Bounce);
        let report = bounce_report(&parsed, &c).expect("a bounce report");
        assert_eq!(report.recipients, vec!["j.doe@gone.example"]);
        assert_eq!(report.status.as_deref(), Some("5.1.1"));
        assert_eq!(report.action.as_deref(), Some("failed"));
    }

    #[test]
    fn localized_out_of_office_subject_is_an_auto_reply() {
        let c = kind_of("From: a@x.de\r\nSubject: Abwesenheitsnotiz: Angebot\r\n\r\nbin weg");
        assert_eq!(c.kind, MessageKind::AutoReply);
    }
}
