//! The content hash and dedupe key of a message.
//!
//! The same message reaches us by several paths (IMAP, the provider, a file
//! the rep dropped in) with different trace headers and, sometimes, different
//! line endings. The hash therefore covers only what the sender wrote:
//! originator, recipients, date, subject, body text and attachment contents,
//! normalised for line endings and trailing white space.

use sha2::{Digest, Sha256};

use crate::parse::Parsed;

/// Hex SHA-256 over the significant parts of a message.
pub fn content_hash(message: &Parsed) -> String {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &str| {
        hasher.update(name.as_bytes());
        hasher.update([0x1f]);
        hasher.update(value.as_bytes());
        hasher.update([0x1e]);
    };
    field(
        "from",
        &message.from.as_ref().map(|m| m.address.to_ascii_lowercase()).unwrap_or_default(),
    );
    let mut recipients: Vec<String> =
        message.to.iter().chain(&message.cc).map(|m| m.address.to_ascii_lowercase()).collect();
    recipients.sort();
    field("rcpt", &recipients.join(","));
    field("date", message.date.as_deref().unwrap_or_default());
    field("subject", message.subject.as_deref().unwrap_or_default().trim());
    let body = message.text.as_deref().or(message.html.as_deref()).unwrap_or_default();
    field("body", &normalize_body(body));
    for digest in &message.attachment_digests {
        field("attachment", digest);
    }
    hex::encode(hasher.finalize())
}

/// `<message-id>#<16 hex of the content hash>`: readable in logs, unique per
/// content, so two different messages that reuse one Message-ID stay two.
pub fn dedupe_key(message_id: Option<&str>, content_hash: &str) -> String {
    let short = &content_hash[..content_hash.len().min(16)];
    match message_id.map(str::trim).filter(|id| !id.is_empty()) {
        Some(id) => format!("{id}#{short}"),
        None => format!("no-message-id#{}", &content_hash[..content_hash.len().min(32)]),
    }
}

/// SHA-256 of bytes with CRLF read as LF.
pub(crate) fn line_neutral_digest(bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    let mut rest = bytes;
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        hasher.update(&rest[..at]);
        rest = &rest[at + 1..];
    }
    hasher.update(rest);
    hex::encode(hasher.finalize())
}

fn normalize_body(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn trace_headers_and_line_endings_do_not_change_the_key() {
        let lf = "Message-ID: <a@x>\nFrom: a@x.com\nSubject: Quote\n\nLine one\nLine two\n";
        let crlf = "Received: from mx by mx2; Tue, 3 Mar 2026 10:00:00 +0000\r\nDelivered-To: deal+1@in.x\r\nMessage-ID: <a@x>\r\nFrom: a@x.com\r\nSubject: Quote\r\n\r\nLine one  \r\nLine two\r\n";
        let (a, b) = (parse(lf.as_bytes()).expect("lf"), parse(crlf.as_bytes()).expect("crlf"));
        assert_eq!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn a_reused_message_id_with_other_content_gets_another_key() {
        let a = parse(b"Message-ID: <same@x>\nFrom: a@x.com\n\nfirst").expect("a");
        let b = parse(b"Message-ID: <same@x>\nFrom: a@x.com\n\nsecond").expect("b");
        assert_ne!(
            dedupe_key(Some("same@x"), &content_hash(&a)),
            dedupe_key(Some("same@x"), &content_hash(&b))
        );
    }
}
