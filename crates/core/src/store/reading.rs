//! A message opened for reading: its sanitized HTML (remote images loaded
//! only when the rep asked, for this message or for its sender), its text,
//! its attachments with their warnings, and what looks wrong about it.

use dealthread_mail::Document;
use dealthread_mail::document::{Attachment, Mailbox};
use dealthread_mail::sanitize::sanitize_html_with;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{messages, settings};
use crate::error::{CoreError, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MessageView {
    #[ts(type = "number")]
    pub id: i64,
    pub subject: Option<String>,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub date: Option<String>,
    /// Sanitized: no script, no handler, nothing that fetches unless
    /// `images_loaded`. Shown in a sandboxed frame under its own CSP.
    pub html: Option<String>,
    pub text: Option<String>,
    pub latest_reply: Option<String>,
    pub remote_images_blocked: u32,
    pub trackers_removed: u32,
    pub images_loaded: bool,
    /// Whether the rep trusts this sender's images always.
    pub sender_images_trusted: bool,
    pub attachments: Vec<Attachment>,
    /// Things the rep should know before trusting the message.
    pub warnings: Vec<String>,
    pub parse_error: Option<String>,
}

/// Opens a message (and marks it read). `load_images`: the rep asked to
/// see this message's remote images.
pub fn open(
    store: &super::Store,
    id: i64,
    load_images: bool,
    now: i64,
) -> Result<Option<MessageView>> {
    let conn = store.conn();
    let row = conn
        .query_row(
            "SELECT document, parse_error, subject, date FROM messages WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            },
        )
        .optional()?;
    let Some((document, parse_error, subject, date)) = row else { return Ok(None) };
    messages::mark_read(conn, &[id], now)?;
    let Some(json) = document else {
        return Ok(Some(MessageView {
            id,
            subject,
            from: None,
            to: Vec::new(),
            cc: Vec::new(),
            date,
            html: None,
            text: None,
            latest_reply: None,
            remote_images_blocked: 0,
            trackers_removed: 0,
            images_loaded: false,
            sender_images_trusted: false,
            attachments: Vec::new(),
            warnings: Vec::new(),
            parse_error,
        }));
    };
    let doc: Document = serde_json::from_str(&json).map_err(|e| {
        CoreError::Corrupt(format!("message {id}: its stored document is unreadable: {e}"))
    })?;
    let sender = doc.from.as_ref().map(|f| f.address.to_ascii_lowercase());
    let trusted = match &sender {
        Some(sender) => settings::list(conn, "images_trusted_senders")?.contains(sender),
        None => false,
    };
    let images_loaded = load_images || trusted;
    let (html, blocked, trackers) = match (&doc.bodies.html, images_loaded) {
        (Some(original), true) => {
            let inline: Vec<(String, String)> = doc
                .attachments
                .iter()
                .filter_map(|a| Some((a.content_id.clone()?, a.sha256.clone())))
                .collect();
            let s = sanitize_html_with(original, &inline, true);
            (Some(s.html), s.remote_images_blocked, s.trackers_removed)
        }
        _ => (doc.html_sanitized.clone(), doc.remote_images_blocked, doc.trackers_removed),
    };
    let html = html.map(|html| super::attachments::inline_images(store, id, html));
    Ok(Some(MessageView {
        id,
        warnings: warnings(&doc),
        subject: doc.subject,
        from: doc.from,
        to: doc.to,
        cc: doc.cc,
        date: doc.date,
        html,
        text: doc.bodies.text,
        latest_reply: doc.latest_reply,
        remote_images_blocked: blocked,
        trackers_removed: trackers,
        images_loaded,
        sender_images_trusted: trusted,
        attachments: doc.attachments,
        parse_error,
    }))
}

/// Always load this sender's images from now on.
pub fn trust_images_from(conn: &Connection, address: &str) -> Result<()> {
    let mut trusted = settings::list(conn, "images_trusted_senders")?;
    trusted.push(address.trim().to_ascii_lowercase());
    settings::set_list(conn, "images_trusted_senders", &trusted)
}

/// [`warnings`] one per line, `None` when there is none: as the
/// `messages.warnings` column keeps them.
pub(crate) fn warnings_text(doc: &Document) -> Option<String> {
    let all = warnings(doc);
    (!all.is_empty()).then(|| all.join("\n"))
}

/// What looks wrong: a failed DMARC verdict, a display name that shows
/// another address than the sender's, a reply-to on another domain.
fn warnings(doc: &Document) -> Vec<String> {
    let mut out = Vec::new();
    if doc.auth.dmarc.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("fail")) {
        out.push("This message failed DMARC: the sender's domain did not vouch for it, so it may be forged.".into());
    }
    if let Some(from) = &doc.from {
        let shown = from.name.as_deref().unwrap_or_default().to_ascii_lowercase();
        if shown.contains('@') && !shown.contains(&from.address.to_ascii_lowercase()) {
            out.push(format!(
                "The sender's name shows an address, but the mail came from {}.",
                from.address
            ));
        }
        let domain = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        if let Some(reply) = doc.reply_to.first()
            && domain(&reply.address) != domain(&from.address)
        {
            out.push(format!("Replies go to {}, not to the sender's domain.", reply.address));
        }
    }
    out
}
