//! Attachments: what they claim to be, what their bytes say they are, and
//! whether opening one is risky.
//!
//! The declared Content-Type and the filename are the sender's word; the
//! first bytes of the content (sniffed with `infer`) are the file's. A PO
//! named `.pdf` whose bytes are a Windows executable is exactly the kind of
//! attachment a rep must be warned about before opening.

use mail_parser::{MessagePart, MimeHeaders};

use crate::document::Attachment;

/// Extensions that run code when opened on a rep's laptop.
const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe", "com", "scr", "pif", "bat", "cmd", "msi", "msp", "dll", "cpl", "js", "jse", "vbs",
    "vbe", "wsf", "wsh", "hta", "ps1", "psm1", "jar", "lnk", "reg", "app", "dmg", "pkg", "sh",
    "command", "appimage", "deb", "rpm", "apk", "iso", "img", "vhd", "xll", "one",
];

/// Office formats whose macros run when the rep clicks "enable content".
const MACRO_EXTENSIONS: &[&str] = &["docm", "xlsm", "pptm", "dotm", "xltm", "xlam", "ppam"];

/// MIME types `infer` reports for content that runs code.
const EXECUTABLE_TYPES: &[&str] = &[
    "application/vnd.microsoft.portable-executable",
    "application/x-executable",
    "application/x-mach-binary",
    "application/x-msdownload",
    "application/x-elf",
    "application/x-sharedlib",
    "application/java-archive",
    "application/vnd.android.package-archive",
    "application/x-shellscript",
];

/// Describes an attachment whose contents' SHA-256 is `sha256`.
pub(crate) fn describe(
    part: &MessagePart<'_>,
    content_type: String,
    sha256: &[u8; 32],
) -> Attachment {
    let contents = part.contents();
    let filename = part.attachment_name().map(str::to_string);
    let sniffed_type = sniff(contents);
    let warning = assess(filename.as_deref(), &content_type, sniffed_type.as_deref());
    Attachment {
        filename,
        content_type,
        size: contents.len() as u64,
        sha256: hex::encode(sha256),
        content_id: part.content_id().map(|id| id.trim_matches(['<', '>']).to_string()),
        disposition: part.content_disposition().map(|cd| cd.ctype().to_ascii_lowercase()),
        sniffed_type,
        warning,
    }
}

/// The content's own type by its magic bytes, or a script by its shebang.
fn sniff(contents: &[u8]) -> Option<String> {
    if let Some(kind) = infer::get(contents) {
        return Some(kind.mime_type().to_string());
    }
    contents.starts_with(b"#!").then(|| "application/x-shellscript".to_string())
}

fn extension(filename: &str) -> Option<String> {
    let (_, ext) = filename.rsplit_once('.')?;
    Some(ext.trim().to_ascii_lowercase())
}

/// A human sentence when the attachment deserves a warning.
fn assess(filename: Option<&str>, declared: &str, sniffed: Option<&str>) -> Option<String> {
    let ext = filename.and_then(extension);
    let sniffed_executable = sniffed.is_some_and(|s| EXECUTABLE_TYPES.contains(&s));
    let named_executable = ext.as_deref().is_some_and(|e| EXECUTABLE_EXTENSIONS.contains(&e));
    if sniffed_executable && !named_executable {
        return Some(format!(
            "declared as {declared}{} but the content is a program ({}); do not open it",
            filename.map(|f| format!(" named \"{f}\"")).unwrap_or_default(),
            sniffed.unwrap_or_default()
        ));
    }
    if named_executable || sniffed_executable {
        return Some("a program or script: opening it runs code on this computer".into());
    }
    if ext.as_deref().is_some_and(|e| MACRO_EXTENSIONS.contains(&e)) {
        return Some("an Office file that can carry macros; do not enable content".into());
    }
    // Double extensions such as "invoice.pdf.exe" are caught above; a
    // declared PDF whose bytes are no PDF is suspicious on its own.
    if let Some(sniffed) = sniffed
        && declared == "application/pdf"
        && sniffed != "application/pdf"
    {
        return Some(format!("declared as a PDF but the content is {sniffed}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pdf_that_is_really_a_windows_program_is_flagged() {
        let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
        exe.resize(512, 0);
        exe[0x3c] = 0x80;
        exe.resize(0x80, 0);
        exe.extend_from_slice(b"PE\0\0");
        exe.resize(600, 0);
        let sniffed = sniff(&exe);
        let warning = assess(Some("PO-4411.pdf"), "application/pdf", sniffed.as_deref());
        assert!(
            warning.as_deref().is_some_and(|w| w.contains("program")),
            "{sniffed:?} {warning:?}"
        );
    }

    #[test]
    fn ordinary_documents_get_no_warning() {
        assert_eq!(assess(Some("quote.pdf"), "application/pdf", Some("application/pdf")), None);
        assert_eq!(assess(Some("logo.png"), "image/png", Some("image/png")), None);
        assert_eq!(assess(None, "text/calendar", None), None);
    }

    #[test]
    fn scripts_and_macro_documents_are_flagged_by_name() {
        assert!(assess(Some("setup.vbs"), "text/plain", None).is_some());
        assert!(assess(Some("Q3 forecast.xlsm"), "application/octet-stream", None).is_some());
    }
}
