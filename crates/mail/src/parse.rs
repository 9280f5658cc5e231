//! Raw MIME to the parts the rest of the pipeline reads, via mail-parser.
//!
//! mail-parser is tolerant by design (it reads what it can of damaged mail);
//! this module adds the two things it leaves to us: deciding whether bytes
//! are a message at all, and recording what looked wrong as warnings.

use std::collections::BTreeMap;

use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::document::{Attachment, Envelope, Mailbox};
use crate::error::{MailError, Result};

/// A message taken apart: the inputs of every later stage.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub envelope: Envelope,
    pub headers: BTreeMap<String, Vec<String>>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub subject: Option<String>,
    pub date: Option<String>,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub list_id: Option<String>,
    pub forwarded: Vec<crate::forward::Forwarded>,
    /// Per attachment, the digest the content hash uses: the exact bytes
    /// for base64 parts, line endings normalised for the others (their
    /// bytes change when a server rewrites CRLF as LF).
    pub attachment_digests: Vec<String>,
    /// The decoded bytes of each attachment, when asked for (see
    /// [`parse_keeping_attachments`]); empty otherwise.
    pub attachment_bytes: Vec<Vec<u8>>,
    /// True when the message had no text part and `text` was derived from
    /// its HTML.
    pub text_is_derived: bool,
    /// `type/subtype` of the top-level part, lower-cased.
    pub content_type: Option<String>,
    /// The `report-type` parameter of a multipart/report (RFC 6522).
    pub report_type: Option<String>,
    /// The body of a message/delivery-status part (RFC 3464), if any.
    pub delivery_status: Option<String>,
    pub warnings: Vec<String>,
}

impl Parsed {
    /// Every value of a header, by case-insensitive name.
    pub fn header_values(&self, name: &str) -> &[String] {
        self.headers.get(&name.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).first().map(String::as_str)
    }
}

/// Parses raw MIME. See [`crate::read_message`] for what counts as failure.
pub fn parse(raw: &[u8]) -> Result<Parsed> {
    parse_with(raw, false)
}

/// Like [`parse`], also keeping each attachment's decoded bytes.
pub fn parse_keeping_attachments(raw: &[u8]) -> Result<Parsed> {
    parse_with(raw, true)
}

/// Like [`parse`], also returning the SHA-256 of `raw`, hashed alongside
/// the attachments.
pub fn parse_digesting(raw: &[u8]) -> Result<(Parsed, [u8; 32])> {
    let message = read(raw)?;
    let mut raw_sha256 = [0; 32];
    let parsed = from_message_digesting(raw, &message, false, Some(&mut raw_sha256))?;
    Ok((parsed, raw_sha256))
}

fn parse_with(raw: &[u8], keep_attachments: bool) -> Result<Parsed> {
    from_message(raw, &read(raw)?, keep_attachments)
}

fn read(raw: &[u8]) -> Result<Message<'_>> {
    check_looks_like_message(raw)?;
    crate::mime::read(raw)
        .ok_or_else(|| MailError::NotAMessage("no header fields could be read".into()))
}

/// The parts of `message`, read from `raw`.
pub(crate) fn from_message(
    raw: &[u8],
    message: &Message<'_>,
    keep_attachments: bool,
) -> Result<Parsed> {
    from_message_digesting(raw, message, keep_attachments, None)
}

/// [`from_message`], writing the SHA-256 of `raw` to `raw_sha256` if given.
fn from_message_digesting(
    raw: &[u8],
    message: &Message<'_>,
    keep_attachments: bool,
    raw_sha256: Option<&mut [u8; 32]>,
) -> Result<Parsed> {
    if message.headers().is_empty() {
        return Err(MailError::NotAMessage("no header fields could be read".into()));
    }

    let mut parsed = Parsed { headers: collect_headers(message), ..Parsed::default() };
    let mut warnings = Vec::new();

    parsed.envelope = Envelope {
        // Only Return-Path carries the envelope sender (RFC 5321 §4.4); `<>`
        // is the null sender of bounces and auto-replies, kept as "".
        mail_from: parsed
            .header("return-path")
            .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string()),
        rcpt_to: envelope_recipients(&parsed.headers),
    };
    parsed.message_id = message.message_id().map(str::to_string).filter(|id| !id.is_empty());
    parsed.in_reply_to = message_ids(message.in_reply_to()).into_iter().next();
    parsed.references = message_ids(message.references());
    parsed.subject = message.subject().map(|s| clean_text(s, &mut warnings, "subject"));
    if parsed.subject.as_deref().is_some_and(|s| s.contains('\u{FFFD}'))
        && let Some(subject) = legacy_header_text(raw, message, "Subject")
    {
        warnings.push(
            "the Subject header holds 8-bit text that is not UTF-8; read as Windows-1252".into(),
        );
        parsed.subject = Some(subject);
    }
    let header_end = find_header_end(raw);
    if raw[..header_end].contains(&0) {
        warnings.push("the header contains NUL bytes".into());
    }
    parsed.date = match message.date() {
        Some(date) if date.is_valid() => Some(date.to_rfc3339()),
        Some(_) => {
            warnings.push("the Date header is not a valid date".into());
            None
        }
        None => None,
    };
    parsed.from = message.from().and_then(|a| mailboxes(a).into_iter().next());
    if parsed
        .from
        .as_ref()
        .is_some_and(|f| f.name.as_deref().is_some_and(|n| n.contains('\u{FFFD}')))
        && let Some(from) = legacy_header_text(raw, message, "From")
    {
        let header = format!("From: {from}\r\n\r\n");
        if let Some(reparsed) = MessageParser::default().parse(header.as_bytes()) {
            warnings.push(
                "the From header holds 8-bit text that is not UTF-8; read as Windows-1252".into(),
            );
            parsed.from = reparsed.from().and_then(|a| mailboxes(a).into_iter().next());
        }
    }
    parsed.to = message.to().map(mailboxes).unwrap_or_default();
    parsed.cc = message.cc().map(mailboxes).unwrap_or_default();
    parsed.reply_to = message.reply_to().map(mailboxes).unwrap_or_default();
    parsed.list_id = parsed.header("list-id").and_then(list_id);

    let root = message.root_part();
    if let Some(ct) = root.content_type() {
        parsed.content_type = Some(full_type(ct.ctype(), ct.subtype()));
        parsed.report_type = ct.attribute("report-type").map(str::to_ascii_lowercase);
    }

    let mut texts: Vec<&str> = message
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    let htmls: Vec<&str> = message
        .html_bodies()
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    // mail-parser files the text of a damaged multipart (no closing
    // boundary, say) as a nameless attachment. A mail client would show it
    // as the body, so we do too.
    let mut promoted: Option<usize> = None;
    if texts.is_empty() && htmls.is_empty() {
        promoted = message.attachments.iter().map(|&id| id as usize).find(|&id| {
            message.parts.get(id).is_some_and(|part| {
                matches!(part.body, PartType::Text(_))
                    && part.attachment_name().is_none()
                    && !part.content_disposition().is_some_and(|cd| cd.is_attachment())
            })
        });
        if let Some(PartType::Text(text)) =
            promoted.and_then(|id| message.parts.get(id)).map(|p| &p.body)
        {
            texts.push(text.as_ref());
        }
    }
    parsed.html =
        (!htmls.is_empty()).then(|| clean_text(&htmls.join("\n"), &mut warnings, "HTML body"));
    parsed.text = if !texts.is_empty() {
        Some(clean_text(&texts.join("\n"), &mut warnings, "text body"))
    } else if parsed.html.is_some() {
        // Only HTML was sent: derive the text a mail client would show.
        parsed.text_is_derived = true;
        parsed.html.as_deref().map(crate::html_text::html_to_text)
    } else {
        None
    };

    let header_only = find_header_end(raw) == raw.len();
    if header_only {
        warnings.push("the message has a header but no body".into());
    }
    for (index, part) in message.parts.iter().enumerate() {
        if part.is_encoding_problem && !(header_only && index == 0) {
            let ctype = part.content_type().map(|ct| full_type(ct.ctype(), ct.subtype()));
            warnings.push(format!(
                "part {index} ({}) is damaged: its boundary or transfer encoding is broken, so its content may be incomplete",
                ctype.as_deref().unwrap_or("text/plain")
            ));
        }
        if let Some(ct) = part.content_type()
            && full_type(ct.ctype(), ct.subtype()) == "message/delivery-status"
        {
            parsed.delivery_status = Some(String::from_utf8_lossy(part.contents()).into_owned());
        }
    }
    let attachment_parts: Vec<&MessagePart<'_>> = message
        .attachments
        .iter()
        .filter(|&&id| Some(id as usize) != promoted)
        .filter_map(|&id| message.parts.get(id as usize))
        .collect();
    // All of them hashed together, and the raw bytes too when asked for.
    let mut hashed: Vec<&[u8]> = raw_sha256.is_some().then_some(raw).into_iter().collect();
    hashed.extend(attachment_parts.iter().map(|part| part.contents()));
    let mut digests = crate::digest::sha256_each(&hashed).into_iter();
    if let Some(out) = raw_sha256 {
        *out = digests.next().unwrap_or_default();
    }
    parsed.attachments = attachment_parts
        .iter()
        .zip(digests)
        .map(|(part, digest)| attachment(part, &digest))
        .collect();
    parsed.attachment_digests = attachment_parts
        .iter()
        .zip(&parsed.attachments)
        .map(|(part, described)| match part.encoding {
            mail_parser::Encoding::Base64 => described.sha256.clone(),
            _ => crate::identity::line_neutral_digest(part.contents()),
        })
        .collect();
    if keep_attachments {
        parsed.attachment_bytes = attachment_parts.iter().map(|p| p.contents().to_vec()).collect();
    }
    parsed.forwarded = crate::forward::attached(message);
    if let Some(text) = &parsed.text {
        parsed.forwarded.extend(crate::forward::inline(text));
    }
    parsed.warnings = warnings;
    Ok(parsed)
}

/// Rejects input that is clearly not RFC 5322: empty, whitespace, binary, or
/// not starting with a header field. An mbox `From ` line is allowed.
/// A quick look at the first bytes: is this plausibly a message (a header
/// field first), not binary data or some other format? Sources use it to
/// tell a broken download from mail.
pub fn check_looks_like_message(raw: &[u8]) -> Result<()> {
    if raw.is_empty() {
        return Err(MailError::Empty);
    }
    let start = raw
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or_else(|| MailError::NotAMessage("the input holds only white space".into()))?;
    let head = &raw[start..raw.len().min(start + 4096)];
    let mut lines = head.split(|&b| b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    if first.contains(&0) || !is_header_field_line(first) {
        return Err(MailError::NotAMessage(
            "the first line is not a header field (binary data or not MIME)".into(),
        ));
    }
    Ok(())
}

/// Raw 8-bit bytes in a header break RFC 5322 §2.2 but are common; when
/// they are not UTF-8 they are most often Windows-1252 (a superset of
/// ISO-8859-1), which is how we read them.
fn legacy_header_text(raw: &[u8], message: &Message<'_>, name: &str) -> Option<String> {
    let header = message.headers().iter().find(|h| h.name().eq_ignore_ascii_case(name))?;
    let bytes = raw.get(header.offset_start() as usize..header.offset_end() as usize)?;
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
    Some(unfold(&text.replace('\0', "")))
}

/// Where the header section ends (the first empty line, `\n\n` or
/// `\r\n\r\n`), or the end. Stops there: scanning a whole CRLF message
/// for a `\n\n` it never holds was a tenth of an import's parsing.
fn find_header_end(raw: &[u8]) -> usize {
    let mut from = 0;
    while let Some(at) = raw[from..].iter().position(|&b| b == b'\n').map(|i| from + i) {
        let rest = &raw[at + 1..];
        if rest.starts_with(b"\n") {
            return at;
        }
        if rest.starts_with(b"\r\n") && at > 0 && raw[at - 1] == b'\r' {
            return at - 1;
        }
        from = at + 1;
    }
    raw.len()
}

/// `field-name ":"` per RFC 5322 §3.6.8: printable US-ASCII except colon.
fn is_header_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &line[..colon];
    // Tolerate the space some broken generators put before the colon.
    let name = name.strip_suffix(b" ").unwrap_or(name);
    !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')
}

fn collect_headers(message: &mail_parser::Message<'_>) -> BTreeMap<String, Vec<String>> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in message.headers_raw() {
        headers.entry(name.to_ascii_lowercase()).or_default().push(unfold(value));
    }
    headers
}

/// Undoes header folding (RFC 5322 §2.2.3) and trims.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for piece in value.split(['\r', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(piece);
    }
    out
}

fn envelope_recipients(headers: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut recipients: Vec<String> = Vec::new();
    for name in ["x-original-to", "delivered-to", "envelope-to", "x-envelope-to"] {
        for value in headers.get(name).into_iter().flatten() {
            for addr in value.split(',') {
                let addr = addr.trim().trim_matches(['<', '>']).trim();
                // The local part is case-sensitive (RFC 5321 §2.4); only the
                // domain is folded.
                let Some((local, domain)) = addr.rsplit_once('@') else { continue };
                let addr = format!("{local}@{}", domain.to_ascii_lowercase());
                if !local.is_empty() && !recipients.contains(&addr) {
                    recipients.push(addr);
                }
            }
        }
    }
    recipients
}

fn message_ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let address = addr.address.as_deref()?.trim();
            if address.is_empty() {
                return None;
            }
            let name =
                addr.name.as_deref().map(str::trim).filter(|n| !n.is_empty() && *n != address);
            Some(Mailbox { name: name.map(str::to_string), address: address.to_string() })
        })
        .collect()
}

/// `List-Id: Team News <news.example.com>` (RFC 2919) to `news.example.com`.
fn list_id(raw: &str) -> Option<String> {
    let id = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => &raw[start + 1..end],
        _ => raw,
    };
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

fn full_type(ctype: &str, subtype: Option<&str>) -> String {
    format!("{}/{}", ctype, subtype.unwrap_or("octet-stream")).to_ascii_lowercase()
}

/// NUL bytes cannot be stored or shown usefully; drop them and say so.
fn clean_text(text: &str, warnings: &mut Vec<String>, what: &str) -> String {
    if text.contains('\0') {
        warnings.push(format!("the {what} contained NUL bytes, which were removed"));
        text.replace('\0', "")
    } else {
        text.to_string()
    }
}

fn attachment(part: &MessagePart<'_>, sha256: &[u8; 32]) -> Attachment {
    let content_type = part
        .content_type()
        .map(|ct| full_type(ct.ctype(), ct.subtype()))
        .unwrap_or_else(|| "application/octet-stream".into());
    crate::attachments::describe(part, content_type, sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_while_digesting_reads_the_same_and_hashes_the_raw_bytes() {
        use sha2::{Digest, Sha256};
        for path in crate::fixture_paths() {
            let raw = std::fs::read(&path).expect("fixture");
            let name = path.display();
            let Ok((parsed, raw_sha256)) = parse_digesting(&raw) else {
                assert!(parse(&raw).is_err(), "{name}: only digesting failed");
                continue;
            };
            assert_eq!(raw_sha256, <[u8; 32]>::from(Sha256::digest(&raw)), "{name}");
            assert_eq!(
                format!("{parsed:?}"),
                format!("{:?}", parse(&raw).expect("parse")),
                "{name}"
            );
            let bytes = parse_keeping_attachments(&raw).expect("parse").attachment_bytes;
            for (attachment, bytes) in parsed.attachments.iter().zip(&bytes) {
                assert_eq!(attachment.sha256, hex::encode(Sha256::digest(bytes)), "{name}");
            }
        }
        let (read, digest) = crate::read_message_digested(b"\x00\x01\x02", &Default::default());
        assert!(read.is_err(), "three binary bytes are not a message");
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"\x00\x01\x02")));
    }

    #[test]
    fn rejects_empty_binary_and_headerless_input() {
        assert_eq!(parse(b"").err(), Some(MailError::Empty));
        assert!(matches!(parse(b"   \n\n").err(), Some(MailError::NotAMessage(_))));
        assert!(matches!(parse(b"\x89PNG\r\n\x1a\n\0\0\0").err(), Some(MailError::NotAMessage(_))));
        assert!(matches!(parse(b"hello there\nno headers").err(), Some(MailError::NotAMessage(_))));
    }

    #[test]
    fn the_header_ends_at_the_first_empty_line_of_either_kind() {
        assert_eq!(find_header_end(b"A: 1\r\nB: 2\r\n\r\nbody\n\nmore"), 10);
        assert_eq!(find_header_end(b"A: 1\nB: 2\n\nbody\r\n\r\nmore"), 9);
        assert_eq!(find_header_end(b"A: 1\r\n\nbody"), 5, "a bare LF after CRLF");
        assert_eq!(find_header_end(b"A: 1\n\r\nbody"), 11, "LF then CRLF is no empty line");
        assert_eq!(find_header_end(b"A: 1\r\nB: 2\r\n"), 12);
        assert_eq!(find_header_end(b"\r\n\r\nbody"), 0);
        assert_eq!(find_header_end(b""), 0);
    }

    proptest::proptest! {
        /// The scan that stops early finds what searching the whole
        /// message for both separators finds.
        #[test]
        fn the_header_end_is_the_earlier_of_both_separators(
            raw in proptest::collection::vec(proptest::sample::select(b"\r\nA:".to_vec()), 0..64)
        ) {
            let lf = raw.windows(2).position(|w| w == b"\n\n");
            let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
            let expected = lf.into_iter().chain(crlf).min().unwrap_or(raw.len());
            proptest::prop_assert_eq!(find_header_end(&raw), expected);
        }
    }

    #[test]
    fn reads_a_header_only_message() {
        let parsed = parse(b"Subject: just a header\r\n").expect("header-only mail is a message");
        assert_eq!(parsed.subject.as_deref(), Some("just a header"));
        assert_eq!(parsed.text, None);
    }

    #[test]
    fn unfolds_headers_and_reads_envelope_recipients() {
        let raw = b"Delivered-To: deal+42@in.example.com\r\nX-Original-To: <Deal+42@in.example.com>\r\nSubject: a\r\n long subject\r\n\r\nbody\r\n";
        let parsed = parse(raw).expect("valid message");
        assert_eq!(parsed.header("subject"), Some("a long subject"));
        assert_eq!(
            parsed.envelope.rcpt_to,
            vec!["Deal+42@in.example.com", "deal+42@in.example.com"]
        );
    }

    #[test]
    fn list_id_takes_the_bracketed_identifier() {
        assert_eq!(list_id("Sales news <News.Example.com>"), Some("news.example.com".into()));
        assert_eq!(list_id("  "), None);
    }
}
