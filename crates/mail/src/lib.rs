//! `dealthread-mail`: understanding one message.
//!
//! Bytes in, values out. Nothing in this crate touches a file, a socket, a
//! database or the clock: callers pass in whatever time or configuration a
//! stage needs. That keeps every stage testable with pinned inputs and lets the
//! engine (`dealthread-core`) decide where IO happens.
//!
//! The stages follow the flow in DESIGN.md: [`parse`] turns raw MIME into the
//! parts we care about, [`classify`] tells normal mail from auto-replies,
//! bounces and list traffic, [`reply`] separates the new text from quoted
//! history, [`sanitize`] makes HTML safe to render, and [`identity`] derives
//! the content hash and dedupe key. [`read_message`] runs them all and returns
//! the normalized [`Document`].

pub mod attachments;
pub mod auth;
pub mod classify;
pub mod digest;
pub mod document;
pub mod error;
pub mod forward;
pub mod html_text;
pub mod identity;
mod mime;
pub mod parse;
pub mod redact;
pub mod reply;
pub mod sanitize;
pub mod thread;

pub use document::Document;
pub use error::{MailError, Result};

/// Settings that change how a message is read. They come from the user's
/// configuration; the defaults suit a team that has not configured anything.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// `authserv-id`s (RFC 8601 §2.5) whose Authentication-Results headers we
    /// trust: those stamped by the team's own inbound server. Results from any
    /// other id are kept but marked untrusted.
    pub trusted_authserv_ids: Vec<String>,
}

/// Reads one raw message into its normalized document.
///
/// Fails only when the bytes are not an email message at all (empty, binary,
/// no header fields); damaged but recognisable mail yields a document whose
/// `parse_warnings` say what was wrong.
pub fn read_message(raw: &[u8], options: &ReadOptions) -> Result<Document> {
    Ok(understand(parse::parse(raw)?, options))
}

/// Like [`read_message`], also returning the SHA-256 of `raw` itself, which
/// a store that keeps raw MIME content-addressed needs anyway: it is
/// computed alongside the attachments' digests (see [`digest`]), and by
/// itself when the bytes are not a message.
pub fn read_message_digested(raw: &[u8], options: &ReadOptions) -> (Result<Document>, [u8; 32]) {
    match parse::parse_digesting(raw) {
        Ok((parsed, raw_sha256)) => (Ok(understand(parsed, options)), raw_sha256),
        Err(e) => (Err(e), digest::sha256_each(&[raw])[0]),
    }
}

/// The decoded bytes of a message's attachments, in the order of its
/// document's `attachments`: for a store that keeps attachments inside the
/// raw message and takes them out when it needs them.
pub fn attachment_bytes(raw: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(parse::parse_keeping_attachments(raw)?.attachment_bytes)
}

fn understand(parsed: parse::Parsed, options: &ReadOptions) -> Document {
    let classification = classify::classify(&parsed);
    let bounce = classify::bounce_report(&parsed, &classification);
    let auth = auth::read_authentication_results(&parsed.headers, &options.trusted_authserv_ids);
    let latest_reply = if parsed.text_is_derived {
        reply::latest_reply_from_html(parsed.html.as_deref().unwrap_or_default())
    } else {
        reply::latest_reply(parsed.text.as_deref())
    };
    let inline: Vec<(String, String)> = parsed
        .attachments
        .iter()
        .filter_map(|a| Some((a.content_id.clone()?, a.sha256.clone())))
        .collect();
    let sanitized =
        parsed.html.as_deref().map(|html| sanitize::sanitize_html_with_inline(html, &inline));
    let content_hash = identity::content_hash(&parsed);
    let dedupe_key = identity::dedupe_key(parsed.message_id.as_deref(), &content_hash);
    document::assemble(
        parsed,
        document::Derived {
            classification,
            bounce,
            auth,
            latest_reply,
            sanitized,
            content_hash,
            dedupe_key,
        },
    )
}

/// Every `.eml` under the repository's `tests/fixtures`, for tests that
/// check a property of all of them.
#[cfg(test)]
pub(crate) fn fixture_paths() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("fixture folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|x| x == "eml") {
                found.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut found = Vec::new();
    walk(&root, &mut found);
    assert!(found.len() > 100, "fixtures under {}", root.display());
    found
}
