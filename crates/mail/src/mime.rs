//! Raw bytes to mail-parser's [`Message`], with base64 attachments decoded
//! with SIMD instructions rather than by mail-parser.
//!
//! mail-parser decodes a base64 body one byte at a time while it looks for
//! the part's closing boundary; on an import of mail with PDFs that was the
//! largest single cost (an eighth of the CPU). So the message is first read
//! with the transfer encoding hidden from mail-parser: it then finds every
//! part's end with its plain scan and hands back the body as sent. A base64
//! attachment is then decoded with SIMD instructions, and any other encoded
//! part (text, HTML, quoted-printable files: small, and where charsets
//! live) by mail-parser's own decoding functions, from where the part's
//! body starts to its boundary, as its parser would.
//!
//! The result must be exactly what `MessageParser::default()` gives, so
//! anything out of the ordinary (a damaged part, base64 that mail-parser
//! would read leniently, an encoded attached message) is read again by
//! mail-parser as a whole. The tests compare both readings of every fixture
//! and of generated damaged mail.

use std::borrow::Cow;
use std::sync::LazyLock;

use mail_parser::decoders::charsets::DecoderFnc;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    Encoding, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType,
};

/// Reads `raw` as a message; `None` when no header field can be read.
pub(crate) fn read(raw: &[u8]) -> Option<Message<'_>> {
    read_undecoded(raw).or_else(|| MessageParser::default().parse(raw))
}

/// The parser that leaves bodies as sent. With any header parser set,
/// mail-parser reads only the headers named (the rest as raw text), so the
/// ones the pipeline reads are named here; Content-Transfer-Encoding is
/// read as a content type, a value mail-parser does not take for an
/// encoding.
static UNDECODED: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .with_date_headers()
        .with_address_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
        .header_text(HeaderName::Comments)
        .header_content_type(HeaderName::ContentTransferEncoding)
});

/// `None` when the message needs mail-parser's own reading.
fn read_undecoded(raw: &[u8]) -> Option<Message<'_>> {
    let mut message = UNDECODED.parse(raw)?;
    decode_bodies(&mut message, raw, b"")?;
    Some(message)
}

/// Decodes every encoded body of `message` (and of the messages attached
/// to it unencoded, whose parts point into the same `raw`). `around` is the
/// boundary of the multipart holding `message`, where its root part ends.
fn decode_bodies<'x>(message: &mut Message<'x>, raw: &'x [u8], around: &[u8]) -> Option<()> {
    // The boundary each part ends at: its multipart's, as mail-parser
    // decodes it, or for the root the one around the message.
    let mut boundaries: Vec<Option<String>> = vec![None; message.parts.len()];
    for part in &message.parts {
        if let PartType::Multipart(children) = &part.body {
            let boundary = part.content_type().and_then(|ct| ct.attribute("boundary"));
            for &child in children {
                *boundaries.get_mut(child as usize)? = boundary.map(str::to_string);
            }
        }
    }
    for (index, part) in message.parts.iter_mut().enumerate() {
        if part.is_encoding_problem {
            return None;
        }
        let boundary = match &boundaries[index] {
            Some(boundary) => boundary.as_bytes(),
            None if index == 0 => around,
            None => return None,
        };
        let encoding = transfer_encoding(&part.headers, raw);
        let charset = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .and_then(|name| charset_decoder(name.as_bytes()));
        match (&mut part.body, encoding) {
            (PartType::Message(inner), Encoding::None) => decode_bodies(inner, raw, boundary)?,
            // mail-parser ignores a multipart's transfer encoding too.
            (_, Encoding::None) | (PartType::Multipart(_), _) => {}
            (PartType::Message(_), _) => return None,
            (PartType::Binary(bytes) | PartType::InlineBinary(bytes), Encoding::Base64) => {
                *bytes = Cow::Owned(decode_base64(bytes)?);
                part.encoding = Encoding::Base64;
            }
            // Small parts, and where charsets live: decoded by mail-parser's
            // own functions, from where the body starts to its boundary.
            (body, encoding) => {
                let mut stream = MessageStream::new(raw.get(part.offset_body as usize..)?);
                let (end, decoded) = if encoding == Encoding::Base64 {
                    stream.decode_base64_mime(boundary)
                } else {
                    stream.decode_quoted_printable_mime(boundary)
                };
                if end == usize::MAX {
                    return None;
                }
                match body {
                    PartType::Text(text) | PartType::Html(text) => {
                        *text = as_text(decoded, charset);
                    }
                    PartType::Binary(bytes) | PartType::InlineBinary(bytes) => *bytes = decoded,
                    _ => return None,
                }
                part.encoding = encoding;
            }
        }
    }
    Some(())
}

/// Decoded bytes as text, the way mail-parser turns a text part's bytes
/// into text: by the part's charset if it names one it knows, else as
/// UTF-8 with bad sequences replaced.
fn as_text<'x>(bytes: Cow<'x, [u8]>, charset: Option<DecoderFnc>) -> Cow<'x, str> {
    match (bytes, charset) {
        (Cow::Owned(bytes), Some(decode)) => decode(&bytes).into(),
        (Cow::Owned(bytes), None) => String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            .into(),
        (Cow::Borrowed(bytes), Some(decode)) => decode(bytes).into(),
        (Cow::Borrowed(bytes), None) => String::from_utf8_lossy(bytes),
    }
}

/// The transfer encoding a part declares, read as mail-parser reads it
/// (unstructured text, RFC 2047 words decoded) from the header's bytes.
fn transfer_encoding(headers: &[mail_parser::Header<'_>], raw: &[u8]) -> Encoding {
    let value = headers
        .iter()
        .find(|h| h.name == HeaderName::ContentTransferEncoding)
        .and_then(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
        .map(|bytes| MessageStream::new(bytes).parse_unstructured());
    match value {
        Some(HeaderValue::Text(value)) if value.eq_ignore_ascii_case("base64") => Encoding::Base64,
        Some(HeaderValue::Text(value)) if value.eq_ignore_ascii_case("quoted-printable") => {
            Encoding::QuotedPrintable
        }
        _ => Encoding::None,
    }
}

/// Decodes base64 split into lines; `None` for anything mail-parser would
/// read in its own lenient way (white space inside a line, padding before
/// the end, a last group cut short).
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut joined = Vec::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        joined.extend_from_slice(trim_blanks(line));
        rest = next;
    }
    if joined.len() % 4 != 0 {
        return None;
    }
    // Strict base64: anything else left in the joined lines (white space
    // inside a line, padding before the end) is an error here, where
    // mail-parser reads it its own way. Not the "forgiving" decoder: it
    // drops white space and decodes a last group cut short, which
    // mail-parser does not.
    base64_simd::STANDARD.decode_to_vec(&joined).ok()
}

/// `line` without the spaces, tabs and carriage returns around it (the
/// white space mail-parser skips in base64; not `trim_ascii`, which also
/// takes form feeds).
fn trim_blanks(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    &line[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::from_message;
    use proptest::prelude::*;

    /// Both readings of `raw`, as the pipeline sees them.
    fn both(raw: &[u8]) -> (String, String) {
        let ours = read(raw).map(|m| format!("{:?}", from_message(raw, &m, true)));
        let theirs = MessageParser::default()
            .parse(raw)
            .map(|m| format!("{:?}", from_message(raw, &m, true)));
        (ours.unwrap_or_default(), theirs.unwrap_or_default())
    }

    #[test]
    fn every_fixture_reads_as_mail_parser_alone_reads_it() {
        for path in crate::fixture_paths() {
            let raw = std::fs::read(&path).expect("fixture");
            let (ours, theirs) = both(&raw);
            assert_eq!(ours, theirs, "{}", path.display());
        }
    }

    fn pdf_mail(base64_body: &str) -> Vec<u8> {
        format!(
            "From: buyer@acme.example\r\nSubject: PO\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
             PO attached, gr=C3=BC=C3=9Fe\r\n--b1\r\n\
             Content-Type: application/pdf; name=\"po.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {base64_body}\r\n--b1--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_well_formed_attachment_is_decoded_without_mail_parser() {
        let raw = pdf_mail("JVBERi0xLjQKJcfs\r\nj6IKMSAwIG9iago=");
        let message = read_undecoded(&raw).expect("read without falling back");
        let pdf = message.attachments().next().expect("the PDF");
        assert_eq!(pdf.contents(), b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n");
        assert_eq!(pdf.encoding, Encoding::Base64);
        let text = message.body_text(0).expect("the text");
        assert_eq!(text, "PO attached, gr\u{fc}\u{df}e");
    }

    #[test]
    fn an_attached_message_has_its_own_attachment_decoded_too() {
        let inner = String::from_utf8(pdf_mail("JVBERi0xLjQK")).expect("ascii");
        let raw = format!(
            "From: rep@seller.example\r\nSubject: Fwd: PO\r\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
             Content-Type: text/plain\r\n\r\nSee below.\r\n--outer\r\n\
             Content-Type: message/rfc822\r\n\r\n{inner}\r\n--outer--\r\n"
        );
        let message = read_undecoded(raw.as_bytes()).expect("read without falling back");
        let attached = message
            .attachments()
            .find_map(|part| match &part.body {
                PartType::Message(inner) => Some(inner),
                _ => None,
            })
            .expect("the attached message");
        let pdf = attached.attachments().next().expect("its PDF");
        assert_eq!(pdf.contents(), b"%PDF-1.4\n");
        let (ours, theirs) = both(raw.as_bytes());
        assert_eq!(ours, theirs);
    }

    #[test]
    fn base64_mail_parser_reads_its_own_way_falls_back_to_it() {
        for body in [
            "QUJD\r\nQQ",
            "QQ==QUJD",
            "QU JD",
            // White space inside a line, the whole still in groups of four.
            "QU JDQUJ",
            "QU\x0cJ",
            "QUJD\x0c",
            "QUJD -- not base64",
        ] {
            let raw = pdf_mail(body);
            assert!(read_undecoded(&raw).is_none(), "{body:?} read without mail-parser");
            let (ours, theirs) = both(&raw);
            assert_eq!(ours, theirs, "{body:?}");
        }
    }

    #[test]
    fn stray_low_bits_in_the_last_group_read_as_mail_parser_reads_them() {
        // "QR==" carries bits beyond the one byte it encodes ("A"): strict
        // base64 refuses it, so mail-parser reads it, and ignores them.
        let raw = pdf_mail("QUJD\r\nQR==");
        assert!(read_undecoded(&raw).is_none());
        let message = read(&raw).expect("a message");
        assert_eq!(message.attachments().next().map(|p| p.contents()), Some(&b"ABCA"[..]));
        let (ours, theirs) = both(&raw);
        assert_eq!(ours, theirs);
    }

    /// One MIME part of a generated message.
    fn part() -> impl Strategy<Value = String> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..200);
        let text = "[a-zA-Z =\u{e9}\u{fc}\r\n.-]{0,120}";
        let encoding =
            prop::sample::select(vec!["", "base64", "quoted-printable", "BASE64", "8bit"]);
        // Damage a base64 body the way broken mailers do (the four-character
        // ones keep the whole in groups of four).
        let damage = prop::sample::select(vec![
            "", " ", "=", "==", "\x0c", "-", "QQ", "*", "QU J", "\x0cQUJ", "QQ==",
        ]);
        prop_oneof![
            (bytes, 1usize..20, damage, 0usize..400, any::<bool>()).prop_map(
                |(data, groups, damage, at, crlf)| {
                    let encoded =
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &data);
                    let lines: Vec<String> = encoded
                        .as_bytes()
                        .chunks(groups * 4)
                        .map(|l| String::from_utf8_lossy(l).into_owned())
                        .collect();
                    let mut body = lines.join(if crlf { "\r\n" } else { "\n" });
                    let at = at.min(body.len());
                    if body.is_char_boundary(at) {
                        body.insert_str(at, damage);
                    }
                    format!(
                        "Content-Type: application/octet-stream; name=\"f.bin\"\r\n\
                         Content-Transfer-Encoding: base64\r\n\r\n{body}"
                    )
                }
            ),
            (
                text,
                encoding.clone(),
                prop::sample::select(vec!["utf-8", "iso-8859-1", "koi8-r"]),
                prop::sample::select(vec!["plain", "html"])
            )
                .prop_map(|(body, encoding, charset, subtype)| format!(
                    "Content-Type: text/{subtype}; charset={charset}\r\n\
                     Content-Transfer-Encoding: {encoding}\r\n\r\n{body}"
                )),
            // An attached message, itself encoded or with an encoded body.
            (encoding.clone(), encoding, "[A-Za-z0-9+/= \r\n]{0,80}").prop_map(
                |(encoding, inner, body)| format!(
                    "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n\
                     From: a@b.example\r\nSubject: inner\r\nContent-Transfer-Encoding: {inner}\r\n\r\n{body}"
                )
            ),
        ]
    }

    proptest! {
        /// Generated mail, well formed or damaged, reads the same both ways.
        #[test]
        fn generated_mail_reads_as_mail_parser_alone_reads_it(
            parts in proptest::collection::vec(part(), 0..4),
            closed in any::<bool>(),
        ) {
            let mut raw = String::from(
                "From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n",
            );
            for part in &parts {
                raw.push_str("--zz\r\n");
                raw.push_str(part);
                raw.push_str("\r\n");
            }
            if closed {
                raw.push_str("--zz--\r\n");
            }
            let (ours, theirs) = both(raw.as_bytes());
            prop_assert_eq!(ours, theirs);
            if let Some(single) = parts.first() {
                let alone = format!("From: a@b.example\r\n{single}");
                let (ours, theirs) = both(alone.as_bytes());
                prop_assert_eq!(ours, theirs);
            }
        }
    }
}
