//! A MIME message made from the provider's JSON, for when its raw copy has
//! expired or is not MIME.

use base64::Engine;

use super::client::Entry;

/// Header fields the rebuilt message writes itself.
const OWN_FIELDS: [&str; 4] =
    ["content-type", "content-transfer-encoding", "mime-version", "x-dealthread-rebuilt"];

/// A MIME message made from the provider's JSON: its header fields as
/// given, the text and HTML bodies, and each attachment whose content came
/// along. Parsed like any other message, it gives the same document and
/// content hash as the original did, so dedupe still holds.
pub fn rebuild_mime(entry: &Entry, why: &str) -> std::result::Result<Vec<u8>, String> {
    let has_from = entry.headers.keys().any(|k| k.eq_ignore_ascii_case("from"));
    if entry.headers.is_empty() && entry.bodies.text.is_none() && entry.bodies.html.is_none() {
        return Err("the JSON has neither header fields nor bodies".into());
    }
    let mut out = String::new();
    for (name, values) in &entry.headers {
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !valid_name || OWN_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        for value in values.values() {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&one_line(value));
            out.push_str("\r\n");
        }
    }
    if !has_from && let Some(from) = entry.envelope.as_ref().and_then(|e| e.mail_from.as_deref()) {
        out.push_str(&format!("From: <{}>\r\n", one_line(from)));
    }
    out.push_str(&format!("X-Dealthread-Rebuilt: {}\r\n", one_line(why)));
    out.push_str("MIME-Version: 1.0\r\n");
    let mixed = boundary();
    let alternative = boundary();
    out.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n"));
    out.push_str(&format!("--{mixed}\r\n"));
    out.push_str(&format!(
        "Content-Type: multipart/alternative; boundary=\"{alternative}\"\r\n\r\n"
    ));
    for (kind, body) in [("plain", &entry.bodies.text), ("html", &entry.bodies.html)] {
        if let Some(body) = body {
            out.push_str(&format!("--{alternative}\r\n"));
            out.push_str(&format!("Content-Type: text/{kind}; charset=utf-8\r\n"));
            out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            push_base64(&mut out, body.as_bytes());
        }
    }
    out.push_str(&format!("--{alternative}--\r\n"));
    for attachment in &entry.attachments {
        let Some(content) = &attachment.content_base64 else { continue };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(content.trim()) else {
            continue;
        };
        let content_type = attachment
            .content_type
            .as_deref()
            .filter(|t| is_media_type(t))
            .unwrap_or("application/octet-stream");
        out.push_str(&format!("--{mixed}\r\nContent-Type: {content_type}\r\n"));
        let filename = attachment.filename.as_deref().map(one_line).unwrap_or_default();
        out.push_str(&format!("Content-Disposition: attachment{}\r\n", filename_param(&filename)));
        if let Some(cid) = &attachment.content_id {
            out.push_str(&format!("Content-ID: {}\r\n", one_line(cid)));
        }
        out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        push_base64(&mut out, &bytes);
    }
    out.push_str(&format!("--{mixed}--\r\n"));
    Ok(out.into_bytes())
}

/// A header value on one line: folding undone, stray line breaks removed,
/// so a value can never start a header field of its own.
fn one_line(value: &str) -> String {
    value
        .split(['\r', '\n'])
        .map(str::trim_start)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_media_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    matches!(value.split_once('/'), Some((a, b)) if token(a) && token(b))
}

/// `; filename="..."`, or RFC 2231 form for names that are not plain ASCII.
fn filename_param(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    if name.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        return format!("; filename=\"{name}\"");
    }
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("; filename*=utf-8''{encoded}")
}

fn boundary() -> String {
    format!("=_dealthread_{:016x}", rand::random::<u64>())
}

fn push_base64(out: &mut String, bytes: &[u8]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> Entry {
        serde_json::from_value(json).expect("an entry")
    }

    #[test]
    fn a_rebuilt_message_reads_like_the_original() {
        let original = b"From: Dana Buyer <dana@acme.test>\r\nTo: deal+7@in.dealthread.test\r\n\
Subject: Re: Quote Q-17\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\nMessage-ID: <r1@acme.test>\r\n\
\r\nWe accept the quote.\r\n";
        let parsed = dealthread_mail::parse::parse(original).expect("original parses");
        let rebuilt = rebuild_mime(
            &entry(serde_json::json!({
                "id": "m1",
                "headers": {
                    "From": ["Dana Buyer <dana@acme.test>"],
                    "To": "deal+7@in.dealthread.test",
                    "Subject": ["Re: Quote Q-17"],
                    "Date": ["Tue, 3 Nov 2026 10:00:00 +0000"],
                    "Message-ID": ["<r1@acme.test>"],
                    "Content-Type": ["text/plain"]
                },
                "bodies": {"text": "We accept the quote.\n"}
            })),
            "expired",
        )
        .expect("rebuilt");
        let again = dealthread_mail::parse::parse(&rebuilt).expect("rebuilt parses");
        assert_eq!(
            dealthread_mail::identity::content_hash(&parsed),
            dealthread_mail::identity::content_hash(&again),
            "{}",
            String::from_utf8_lossy(&rebuilt)
        );
    }

    #[test]
    fn header_values_cannot_inject_fields() {
        let rebuilt = rebuild_mime(
            &entry(serde_json::json!({
                "id": "m2",
                "headers": {"Subject": ["hello\r\nBcc: victim@x.test"], "Bad Name": ["x"]},
                "bodies": {"text": "hi"}
            })),
            "expired",
        )
        .expect("rebuilt");
        let text = String::from_utf8_lossy(&rebuilt);
        assert!(text.contains("Subject: hello Bcc: victim@x.test\r\n"), "{text}");
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(!text.contains("Bad Name"), "{text}");
    }

    #[test]
    fn an_entry_with_nothing_to_rebuild_is_refused() {
        let error = rebuild_mime(&entry(serde_json::json!({"id": "m3"})), "expired")
            .expect_err("nothing to rebuild");
        assert!(error.contains("neither"), "{error}");
    }
}
