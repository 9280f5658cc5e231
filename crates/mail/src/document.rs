//! The normalized document: the JSON contract of DESIGN.md.
//!
//! Every key is always present; absent values serialize as `null`. The types
//! are exported to TypeScript (ts-rs) so the UI reads the same shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::auth::AuthResults;
use crate::classify::{BounceReport, Classification};
use crate::forward::Forwarded;
use crate::parse::Parsed;
use crate::sanitize::SanitizedHtml;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Document {
    pub envelope: Envelope,
    /// Header fields by lower-cased name, each with every occurrence in
    /// message order (unfolded). Arrays, because Received, DKIM-Signature and
    /// friends repeat.
    pub headers: BTreeMap<String, Vec<String>>,
    pub bodies: Bodies,
    pub attachments: Vec<Attachment>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub subject: Option<String>,
    /// RFC 3339, in the sender's own offset.
    pub date: Option<String>,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub list_id: Option<String>,
    /// Messages forwarded inside this one, attached or inline.
    pub forwarded: Vec<Forwarded>,
    pub classification: Classification,
    pub bounce: Option<BounceReport>,
    pub auth: AuthResults,
    pub latest_reply: Option<String>,
    pub html_sanitized: Option<String>,
    /// Remote images removed from `html_sanitized` (the UI offers to load them).
    pub remote_images_blocked: u32,
    /// Tracking pixels and beacons removed from `html_sanitized`.
    pub trackers_removed: u32,
    pub content_hash: String,
    pub dedupe_key: String,
    /// What was wrong with the message but did not stop it being read.
    pub parse_warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Envelope {
    pub mail_from: Option<String>,
    pub rcpt_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Bodies {
    pub text: Option<String>,
    pub html: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    #[ts(type = "number")]
    pub size: u64,
    pub sha256: String,
    pub content_id: Option<String>,
    pub disposition: Option<String>,
    /// The type the content's own bytes show, when recognisable.
    pub sniffed_type: Option<String>,
    /// Why opening this attachment is risky, if it is.
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

/// What the later stages computed from a [`Parsed`] message.
pub(crate) struct Derived {
    pub classification: Classification,
    pub bounce: Option<BounceReport>,
    pub auth: AuthResults,
    pub latest_reply: Option<String>,
    pub sanitized: Option<SanitizedHtml>,
    pub content_hash: String,
    pub dedupe_key: String,
}

pub(crate) fn assemble(parsed: Parsed, derived: Derived) -> Document {
    let (html_sanitized, remote_images_blocked, trackers_removed) = match derived.sanitized {
        Some(s) => (Some(s.html), s.remote_images_blocked, s.trackers_removed),
        None => (None, 0, 0),
    };
    Document {
        envelope: parsed.envelope,
        headers: parsed.headers,
        bodies: Bodies { text: parsed.text, html: parsed.html },
        attachments: parsed.attachments,
        message_id: parsed.message_id,
        in_reply_to: parsed.in_reply_to,
        references: parsed.references,
        subject: parsed.subject,
        date: parsed.date,
        from: parsed.from,
        to: parsed.to,
        cc: parsed.cc,
        reply_to: parsed.reply_to,
        list_id: parsed.list_id,
        forwarded: parsed.forwarded,
        classification: derived.classification,
        bounce: derived.bounce,
        auth: derived.auth,
        latest_reply: derived.latest_reply,
        html_sanitized,
        remote_images_blocked,
        trackers_removed,
        content_hash: derived.content_hash,
        dedupe_key: derived.dedupe_key,
        parse_warnings: parsed.warnings,
    }
}

impl Document {
    /// The Date header as Unix seconds, if there is one.
    pub fn date_unix(&self) -> Option<i64> {
        let date = mail_parser::DateTime::parse_rfc3339(self.date.as_deref()?)?;
        Some(date.to_timestamp())
    }
}
