//! The `attachments` table: each message's attachments, named by the
//! SHA-256 of their bytes. The bytes are read from the message's raw MIME
//! while that is kept, then from a blob of their own that every message
//! carrying the same file shares (see [`crate::retention`]); and what
//! the reader does with them: inline images shown in place, a file saved
//! or handed to the system's viewer under a name that cannot become a path.

use std::path::{Path, PathBuf};

use base64::Engine;
use dealthread_mail::Document;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::Store;
use crate::error::{CoreError, Result};
use crate::rawstore::BlobKind;

/// Records a message's attachments; `stored` says whether their bytes are
/// kept.
pub fn insert_for(conn: &Connection, message: i64, doc: &Document, stored: bool) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO attachments (message_id, position, sha256, stored, filename,
             content_type, size, content_id, disposition, warning)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (position, a) in doc.attachments.iter().enumerate() {
        stmt.execute(params![
            message,
            position as i64,
            a.sha256,
            stored,
            a.filename,
            a.content_type,
            a.size as i64,
            a.content_id,
            a.disposition,
            a.warning,
        ])?;
    }
    Ok(())
}

/// How many messages carry the file with this digest.
pub fn carriers(conn: &Connection, sha256: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(DISTINCT message_id) FROM attachments WHERE sha256 = ?1",
        [sha256],
        |r| r.get(0),
    )?)
}

/// Inline images larger than this stay out of the reader.
pub const INLINE_IMAGE_MAX: u64 = 5 * 1024 * 1024;

/// Image types the reader shows by their own bytes, whatever the part's
/// header claims. SVG is not among them: it can carry script and links.
const SHOWN_IMAGES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// One stored attachment of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub sha256: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub content_id: Option<String>,
    /// Whether its bytes are kept (false for messages imported before
    /// version 4, which kept only the description).
    pub stored: bool,
    pub warning: Option<String>,
}

pub fn get(conn: &Connection, message_id: i64, position: u32) -> Result<Option<Stored>> {
    Ok(conn
        .query_row(
            "SELECT sha256, filename, content_type, size, content_id, stored, warning
               FROM attachments WHERE message_id = ?1 AND position = ?2",
            params![message_id, position],
            |r| {
                Ok(Stored {
                    sha256: r.get(0)?,
                    filename: r.get(1)?,
                    content_type: r.get(2)?,
                    size: r.get::<_, i64>(3)?.max(0) as u64,
                    content_id: r.get(4)?,
                    stored: r.get(5)?,
                    warning: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// An attachment's bytes: from its own blob once it has one, else taken
/// out of the message's raw MIME.
pub fn bytes(store: &Store, message_id: i64, position: u32) -> Result<(Stored, Vec<u8>)> {
    let Some(found) = get(store.conn(), message_id, position)? else {
        return Err(CoreError::NotFound(format!(
            "message {message_id}: it has no attachment {position}"
        )));
    };
    if !found.stored {
        return Err(CoreError::NotFound(format!(
            "{}: this copy of Dealthread did not keep the file (it was imported before version 4); import the message again to get it",
            found.filename.as_deref().unwrap_or("the attachment")
        )));
    }
    let bytes = kept_bytes(store, message_id, position, &found.sha256, &mut None)?;
    Ok((found, bytes))
}

/// The bytes of attachment `position` (recorded as `sha256`): its own blob
/// when it has one, else from the raw message, which `raw` holds once read
/// so that several attachments of one message parse it once.
fn kept_bytes(
    store: &Store,
    message_id: i64,
    position: u32,
    sha256: &str,
    raw: &mut Option<Vec<Vec<u8>>>,
) -> Result<Vec<u8>> {
    if store.raw().has(BlobKind::Attachment, sha256)? {
        return store.raw().get(BlobKind::Attachment, sha256);
    }
    let all = match raw {
        Some(all) => all,
        None => raw.insert(from_raw(store, message_id)?),
    };
    let bytes = recorded_in(all, position, sha256)
        .map_err(|why| CoreError::Corrupt(format!("message {message_id}, {why}")))?;
    Ok(bytes.to_vec())
}

/// Attachment `position` among `all` (a message's attachments taken out
/// of its raw MIME), if those are still the bytes recorded as `sha256`;
/// else why not.
pub fn recorded_in<'a>(
    all: &'a [Vec<u8>],
    position: u32,
    sha256: &str,
) -> std::result::Result<&'a [u8], String> {
    let bytes = all
        .get(position as usize)
        .ok_or_else(|| format!("attachment {position}: not in the raw message"))?;
    if hex::encode(Sha256::digest(bytes)) != sha256 {
        return Err(format!(
            "attachment {position}: the raw message holds different bytes than were recorded"
        ));
    }
    Ok(bytes)
}

/// Every attachment's bytes, in order, taken out of a message's raw MIME.
pub fn from_raw(store: &Store, message_id: i64) -> Result<Vec<Vec<u8>>> {
    let raw_sha256: String = store
        .conn()
        .query_row("SELECT raw_sha256 FROM messages WHERE id = ?1", [message_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| CoreError::NotFound(format!("message {message_id} is not stored")))?;
    let raw = store.raw().get(BlobKind::Message, &raw_sha256)?;
    dealthread_mail::attachment_bytes(&raw).map_err(|e| {
        CoreError::Corrupt(format!("message {message_id}: its raw MIME no longer reads: {e}"))
    })
}

/// The image type the bytes themselves show, among those the reader shows.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    let sniffed = match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        _ => return None,
    };
    SHOWN_IMAGES.contains(&sniffed).then_some(sniffed)
}

/// The `data:` URL of an attachment's bytes when they are an image the
/// reader shows and not too large.
pub fn shown_image(found: &Stored, bytes: &[u8]) -> Option<String> {
    if found.size > INLINE_IMAGE_MAX {
        return None;
    }
    image_type(bytes).map(|kind| data_url(kind, bytes))
}

pub fn data_url(kind: &str, bytes: &[u8]) -> String {
    format!("data:{kind};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Replaces the sanitizer's `attachment://localhost/SHA256` references
/// (its rewrite of `cid:`) with the images themselves, so the sandboxed
/// reader shows them without any request. A reference to anything that is
/// not a shown image type is emptied.
pub fn inline_images(store: &Store, message_id: i64, html: String) -> String {
    const PREFIX: &str = "attachment://localhost/";
    if !html.contains(PREFIX) {
        return html;
    }
    let positions: Vec<(u32, String)> = store
        .conn()
        .prepare_cached(
            "SELECT position, sha256 FROM attachments WHERE message_id = ?1 AND stored = 1",
        )
        .and_then(|mut stmt| {
            stmt.query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
        .unwrap_or_default();
    let mut html = html;
    let mut raw = None;
    for (position, sha256) in positions {
        let reference = format!("{PREFIX}{sha256}");
        if !html.contains(&reference) {
            continue;
        }
        let shown = get(store.conn(), message_id, position)
            .ok()
            .flatten()
            .zip(kept_bytes(store, message_id, position, &sha256, &mut raw).ok())
            .and_then(|(found, bytes)| shown_image(&found, &bytes))
            .unwrap_or_default();
        html = html.replace(&reference, &shown);
    }
    html
}

/// A file name made from an attachment's name that can only land inside
/// the folder it is joined to: no separators, no leading dot, no control
/// characters, no reserved Windows names, at most 120 characters.
pub fn safe_file_name(name: Option<&str>, content_type: &str) -> String {
    let base = name.unwrap_or_default().rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_control() || "<>:\"|?*".contains(c) { '_' } else { c })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim_end_matches(['.', ' ']);
    let stem = trimmed.split('.').next().unwrap_or_default().to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT")) && stem.len() == 4);
    let mut name: String = if trimmed.is_empty() || reserved {
        let extension = match content_type {
            "application/pdf" => ".pdf",
            "image/png" => ".png",
            "image/jpeg" => ".jpg",
            "text/plain" => ".txt",
            _ => "",
        };
        format!("attachment{extension}")
    } else {
        trimmed.to_string()
    };
    if name.chars().count() > 120 {
        name = name.chars().rev().take(120).collect::<Vec<_>>().into_iter().rev().collect();
    }
    name
}

/// Writes an attachment into `folder` under its safe name, never over an
/// existing file (`name (2).pdf` and so on). Returns the path written.
pub fn save_into(store: &Store, message_id: i64, position: u32, folder: &Path) -> Result<PathBuf> {
    let (found, bytes) = bytes(store, message_id, position)?;
    let name = safe_file_name(found.filename.as_deref(), &found.content_type);
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    std::fs::create_dir_all(folder).map_err(|e| CoreError::io(folder, e))?;
    for n in 1..1000 {
        let candidate = if n == 1 { name.clone() } else { format!("{stem} ({n}){extension}") };
        let path = folder.join(candidate);
        let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
        match created {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| {
                    let _ = std::fs::remove_file(&path);
                    CoreError::io(&path, e)
                })?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CoreError::io(&path, e)),
        }
    }
    Err(CoreError::InvalidInput(format!(
        "{}: a thousand files of that name are already in {}",
        name,
        folder.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_never_become_paths() {
        let cases = [
            (Some("../../.ssh/authorized_keys"), "authorized_keys"),
            (Some("C:\\Windows\\evil.exe"), "evil.exe"),
            (Some(".hidden"), "hidden"),
            (Some("CON.txt"), "attachment.txt"),
            (Some("quote\u{0}.pdf"), "quote_.pdf"),
            (Some("a|b?.pdf "), "a_b_.pdf"),
            (None, "attachment.pdf"),
            (Some(".."), "attachment.pdf"),
        ];
        for (name, expected) in cases {
            let content_type =
                if expected.ends_with(".txt") { "text/plain" } else { "application/pdf" };
            assert_eq!(safe_file_name(name, content_type), expected, "{name:?}");
        }
        let long = format!("{}.pdf", "x".repeat(300));
        let safe = safe_file_name(Some(&long), "application/pdf");
        assert_eq!(safe.chars().count(), 120);
        assert!(safe.ends_with(".pdf"));
    }

    #[test]
    fn images_are_known_by_their_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a"), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b"%PDF-1.7"), None);
    }
}
