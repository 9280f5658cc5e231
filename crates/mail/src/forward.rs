//! Forwarded messages inside a message: attached as message/rfc822 parts
//! (RFC 2046 §5.2.1), or pasted inline under a "Forwarded message" banner.
//! Reps forward customer threads to the deal alias all the time; the
//! original sender and date matter more than the forwarder's.

use mail_parser::{Message, PartType};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::document::Mailbox;
use crate::reply::{FROM_LABELS, SENT_LABELS, is_dashed_separator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ForwardOrigin {
    /// A message/rfc822 part.
    Attached,
    /// A block of text under a "Forwarded message" banner.
    Inline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Forwarded {
    pub origin: ForwardOrigin,
    pub from: Option<Mailbox>,
    pub subject: Option<String>,
    /// RFC 3339 for attached messages; as written for inline ones, whose
    /// dates are localised prose ("Tue, Nov 17, 2026 at 3:10 PM").
    pub date: Option<String>,
    pub message_id: Option<String>,
    pub text: Option<String>,
}

const SUBJECT_LABELS: &[&str] = &[
    "Subject:",
    "Betreff:",
    "Objet :",
    "Objet:",
    "Asunto:",
    "Assunto:",
    "Onderwerp:",
    "Oggetto:",
    "Emne:",
    "Ämne:",
    "Aihe:",
    "Temat:",
    "Тема:",
];

/// Banner words of inline forwards, lower-cased, in the languages we read.
const BANNER_WORDS: &[&str] = &[
    "forwarded message",
    "weitergeleitete nachricht",
    "message transféré",
    "mensaje reenviado",
    "mensagem encaminhada",
    "doorgestuurd bericht",
    "messaggio inoltrato",
    "videresendt",
    "vidarebefordrat",
    "välitetty viesti",
    "przekazana wiadomość",
    "пересланное сообщение",
    "forwarded message:",
    "begin forwarded message",
    "anfang der weitergeleiteten nachricht",
    "début du message réexpédié",
    "inicio del mensaje reenviado",
];

/// Messages attached as message/rfc822 parts, outermost first.
pub(crate) fn attached(message: &Message<'_>) -> Vec<Forwarded> {
    message
        .parts
        .iter()
        .filter_map(|part| match &part.body {
            PartType::Message(inner) => Some(inner),
            _ => None,
        })
        .map(|inner| Forwarded {
            origin: ForwardOrigin::Attached,
            from: inner.from().and_then(|a| a.first()).and_then(|addr| {
                Some(Mailbox {
                    name: addr.name.as_deref().map(str::to_string),
                    address: addr.address.as_deref()?.to_string(),
                })
            }),
            subject: inner.subject().map(str::to_string),
            date: inner.date().filter(|d| d.is_valid()).map(|d| d.to_rfc3339()),
            message_id: inner.message_id().map(str::to_string),
            text: inner.body_text(0).map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        })
        .collect()
}

/// Forwards pasted inline in a text body.
pub(crate) fn inline(text: &str) -> Vec<Forwarded> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_banner(lines[i].trim()) {
            i += 1;
            continue;
        }
        let mut forwarded = Forwarded {
            origin: ForwardOrigin::Inline,
            from: None,
            subject: None,
            date: None,
            message_id: None,
            text: None,
        };
        i += 1;
        // The pasted header block, up to the first empty line.
        while i < lines.len() && !lines[i].trim().is_empty() {
            let line = lines[i].trim().trim_start_matches('*');
            if let Some(value) = after_label(line, FROM_LABELS) {
                forwarded.from = parse_mailbox(value);
            } else if let Some(value) = after_label(line, SENT_LABELS) {
                forwarded.date = Some(value.to_string());
            } else if let Some(value) = after_label(line, SUBJECT_LABELS) {
                forwarded.subject = Some(value.to_string());
            }
            i += 1;
        }
        let start = i;
        while i < lines.len() && !is_banner(lines[i].trim()) {
            i += 1;
        }
        let body = lines[start..i].join("\n");
        forwarded.text = Some(body.trim().to_string()).filter(|t| !t.is_empty());
        found.push(forwarded);
    }
    found
}

fn is_banner(line: &str) -> bool {
    // The shape first: almost no line has it, and it needs no lower-casing.
    if !(is_dashed_separator(line) || line.ends_with(':')) {
        return false;
    }
    let lower = line.to_lowercase();
    BANNER_WORDS.iter().any(|w| lower.contains(w))
}

fn after_label<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|l| line.strip_prefix(l)).map(|v| v.trim_start_matches('*').trim())
}

/// `Name <address>`, `"Name" <address>`, `address` or `Name [mailto:address]`.
fn parse_mailbox(value: &str) -> Option<Mailbox> {
    let value = value.trim();
    let (name, address) = match (value.rfind(['<', '[']), value.rfind(['>', ']'])) {
        (Some(start), Some(end)) if start < end => {
            let inner = value[start + 1..end].trim_start_matches("mailto:");
            (value[..start].trim().trim_matches('"').trim(), inner.trim())
        }
        _ => ("", value),
    };
    address.contains('@').then(|| Mailbox {
        name: (!name.is_empty()).then(|| name.to_string()),
        address: address.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_gmail_inline_forward() {
        let text = "FYI\n\n---------- Forwarded message ---------\nFrom: Procurement <procurement@northwind.example>\nDate: Tue, Nov 17, 2026 at 3:10 PM\nSubject: Requirements\nTo: Sam <sam@acme.example>\n\nPlease complete the vendor form.\n";
        let found = inline(text);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(
            f.from.as_ref().map(|m| m.address.as_str()),
            Some("procurement@northwind.example")
        );
        assert_eq!(f.subject.as_deref(), Some("Requirements"));
        assert_eq!(f.date.as_deref(), Some("Tue, Nov 17, 2026 at 3:10 PM"));
        assert_eq!(f.text.as_deref(), Some("Please complete the vendor form."));
    }

    #[test]
    fn reads_a_german_outlook_forward_with_mailto_brackets() {
        let text = "-----Weitergeleitete Nachricht-----\nVon: Max Muster [mailto:max@kunde.example]\nGesendet: Montag, 2. November 2026 09:00\nBetreff: Bestellung\n\nAnbei.";
        let found = inline(text);
        assert_eq!(found[0].from.as_ref().map(|m| m.name.clone()), Some(Some("Max Muster".into())));
        assert_eq!(found[0].subject.as_deref(), Some("Bestellung"));
    }

    #[test]
    fn an_ordinary_reply_has_no_inline_forward() {
        assert!(inline("Thanks!\n\nOn Mon, Sam wrote:\n> hi").is_empty());
    }
}
