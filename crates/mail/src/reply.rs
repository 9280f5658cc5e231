//! The latest reply: the new text a person wrote, without the quoted history
//! or the signature beneath it.
//!
//! Mail clients mark the start of quoted history in a handful of ways: an
//! attribution line ("On ... wrote:", localised), an Outlook header block
//! ("From: ... Sent: ..."), a dashed separator ("-----Original Message-----"),
//! or `>`-prefixed lines. We cut at the earliest such marker, and at a
//! signature delimiter ("-- ", RFC 3676 §4.3) or a "Sent from my ..." line.

/// Verbs that end an attribution line, in the languages our reps receive.
const ATTRIBUTION_VERBS: &[&str] = &[
    " wrote",      // en
    " schrieb",    // de
    " a écrit",    // fr
    " escribió",   // es
    " escreveu",   // pt
    " schreef",    // nl
    " ha scritto", // it
    " skrev",      // da, no, sv
    " kirjoitti",  // fi
    " pisze",      // pl
    " napisał",    // pl
    " написал",    // ru
    " пишет",      // ru
];

/// Openers of attribution lines that carry no digits or address (rare).
const ATTRIBUTION_OPENERS: &[&str] =
    &["On ", "Am ", "Le ", "El ", "Em ", "Op ", "Il ", "Den ", "W dniu ", "Dne "];

/// Labels of the first and second line of an Outlook-style header block.
pub(crate) const FROM_LABELS: &[&str] =
    &["From:", "Von:", "De :", "De:", "Da:", "Van:", "Fra:", "Från:", "Lähettäjä:", "Od:", "От:"];
pub(crate) const SENT_LABELS: &[&str] = &[
    "Sent:",
    "Date:",
    "Gesendet:",
    "Datum:",
    "Envoyé :",
    "Envoyé:",
    "Date :",
    "Enviado:",
    "Enviado el:",
    "Enviada em:",
    "Fecha:",
    "Inviato:",
    "Data:",
    "Verzonden:",
    "Sendt:",
    "Skickat:",
    "Lähetetty:",
    "Wysłano:",
    "Отправлено:",
    "Дата:",
];

/// Lines that clients append under a reply instead of a signature.
const SENT_FROM_PREFIXES: &[&str] = &[
    "Sent from my ",
    "Sent from Outlook",
    "Sent from Mail for",
    "Get Outlook for ",
    "Von meinem ",
    "Envoyé de mon ",
    "Envoyé depuis ",
    "Enviado desde mi ",
    "Enviado do meu ",
    "Verzonden vanaf mijn ",
    "Verstuurd vanaf mijn ",
    "Inviato da ",
    "Sendt fra min ",
    "Skickat från min ",
    "Lähetetty ",
    "Wysłane z ",
    "Отправлено с ",
];

const FORWARD_MARKERS: &[&str] = &[
    "Begin forwarded message:",
    "Anfang der weitergeleiteten Nachricht:",
    "Début du message réexpédié :",
    "Inicio del mensaje reenviado:",
];

/// Where clients start the quoted history in HTML, lower-cased. The cut is
/// made at the tag that carries the marker.
const HTML_QUOTE_MARKERS: &[&str] = &[
    "class=\"gmail_quote",                            // Gmail
    "id=\"divrplyfwdmsg\"",                           // Outlook on the web, Outlook mobile
    "id=\"appendonsend\"",                            // Outlook on the web
    "id=\"mail-editor-reference-message-container\"", // Outlook for iOS/Android
    "border-top:solid #e1e1e1 1.0pt",                 // Outlook desktop's reply header
    "border-top:solid #b5c4df 1.0pt",                 // older Outlook desktop
    "type=\"cite\"",                                  // Apple Mail, iOS Mail, Thunderbird
    "class=\"moz-cite-prefix\"",                      // Thunderbird's attribution line
    "class=\"yahoo_quoted\"",                         // Yahoo Mail
    "class=\"protonmail_quote\"",                     // Proton Mail
    "class=\"zmail_extra\"",                          // Zoho Mail
];

/// The latest reply of a message that has only HTML: the HTML is cut at the
/// first quote marker, turned into text, then read like a text reply (for
/// signatures and markers the HTML did not tag).
pub fn latest_reply_from_html(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let cut = HTML_QUOTE_MARKERS
        .iter()
        .filter_map(|marker| lower.find(marker))
        .min()
        .map(|at| lower[..at].rfind('<').unwrap_or(at))
        .unwrap_or(html.len());
    let text = crate::html_text::html_to_text(&html[..cut]);
    latest_reply(Some(&text))
}

/// Returns the new text of a reply, or `None` when nothing new was written
/// (an empty forward, for example) or there is no body at all.
pub fn latest_reply(text: Option<&str>) -> Option<String> {
    let text = text?;
    let lines: Vec<&str> = text.lines().collect();
    let cut = (0..lines.len()).find(|&i| starts_history(&lines, i)).unwrap_or(lines.len());
    let kept = trim_trailing_quote(&lines[..cut]);
    let reply = kept.join("\n");
    let reply = reply.trim();
    (!reply.is_empty()).then(|| reply.to_string())
}

fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim_end_matches('\r');
    let trimmed = line.trim();
    if line == "-- " || line == "--" || line == "—" {
        return true;
    }
    if SENT_FROM_PREFIXES.iter().any(|p| trimmed.starts_with(p)) && trimmed.len() < 80 {
        return true;
    }
    if FORWARD_MARKERS.iter().any(|m| trimmed.starts_with(m)) {
        return true;
    }
    if is_dashed_separator(trimmed) || (trimmed.len() >= 10 && trimmed.chars().all(|c| c == '_')) {
        return true;
    }
    if is_attribution(trimmed) || is_bare_attribution(lines, i) {
        return true;
    }
    if is_outlook_app_footer(trimmed) {
        return true;
    }
    // Gmail wraps long attributions over two lines.
    if let Some(next) = lines.get(i + 1)
        && !trimmed.is_empty()
        && !trimmed.ends_with(':')
        && is_attribution(&format!("{trimmed} {}", next.trim()))
        && trimmed
            .split_whitespace()
            .next()
            .is_some_and(|w| ATTRIBUTION_OPENERS.iter().any(|o| o.trim() == w))
    {
        return true;
    }
    is_outlook_header_block(lines, i)
}

/// `-----Original Message-----`, `---------- Forwarded message ---------`,
/// `-------- Original Message --------` and their translations.
pub(crate) fn is_dashed_separator(line: &str) -> bool {
    line.starts_with("-----")
        && line.ends_with("-----")
        && line.trim_matches('-').trim().chars().any(char::is_alphabetic)
}

fn is_attribution(line: &str) -> bool {
    if !line.ends_with(':') || line.chars().count() > 300 {
        return false;
    }
    let has_verb = ATTRIBUTION_VERBS.iter().any(|v| line.contains(v));
    let has_anchor = ATTRIBUTION_OPENERS.iter().any(|o| line.starts_with(o))
        || line.contains('@')
        || line.chars().any(|c| c.is_ascii_digit());
    has_verb && has_anchor
}

/// Gmail writes some languages' attributions without a verb (Russian:
/// "пн, 9 нояб. 2026 г. в 09:12, Имя <addr>:"). Such a line is taken as an
/// attribution only when quoted lines follow it.
fn is_bare_attribution(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let shaped = line.ends_with(':')
        && line.contains('@')
        && line.chars().any(|c| c.is_ascii_digit())
        && line.chars().count() <= 200;
    shaped
        && lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .is_some_and(|l| l.starts_with('>'))
}

/// "Get Outlook for iOS" and its translations, under replies from the app.
fn is_outlook_app_footer(line: &str) -> bool {
    line.chars().count() < 80
        && line.contains("Outlook")
        && (line.contains("iOS") || line.contains("Android"))
}

fn is_outlook_header_block(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim().trim_start_matches('*');
    if !FROM_LABELS.iter().any(|l| line.starts_with(l)) {
        return false;
    }
    lines
        .iter()
        .skip(i + 1)
        .take(3)
        .map(|l| l.trim().trim_start_matches('*'))
        .any(|l| SENT_LABELS.iter().any(|s| l.starts_with(s)))
}

/// Drops a `>`-quoted block at the end (bottom of a top-posted reply), while
/// keeping interleaved answers between quoted lines.
fn trim_trailing_quote<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut end = lines.len();
    while end > 0 {
        let line = lines[end - 1].trim();
        if line.is_empty() || line.starts_with('>') {
            end -= 1;
        } else {
            break;
        }
    }
    lines[..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::{latest_reply, latest_reply_from_html};

    fn reply(text: &str) -> String {
        latest_reply(Some(text)).unwrap_or_default()
    }

    #[test]
    fn gmail_attribution_wrapped_over_two_lines() {
        let text = "Sounds good, send the PO.\n\nOn Tue, 3 Mar 2026 at 10:02, Dana Reyes <\ndana@acme.test> wrote:\n> Here is the quote.\n";
        assert_eq!(reply(text), "Sounds good, send the PO.");
    }

    #[test]
    fn outlook_header_block_in_german() {
        let text = "Passt, danke!\n\nVon: Max Muster <max@x.de>\nGesendet: Dienstag, 3. März 2026 10:00\nAn: Dana\nBetreff: Angebot\n\nAlter Text";
        assert_eq!(reply(text), "Passt, danke!");
    }

    #[test]
    fn signature_and_sent_from_lines_are_cut() {
        assert_eq!(reply("Yes.\n-- \nDana Reyes\nVP Sales"), "Yes.");
        assert_eq!(reply("Yes.\n\nSent from my iPhone\n\n> old"), "Yes.");
    }

    #[test]
    fn interleaved_answers_are_kept() {
        let text =
            "> Can you do 50 seats?\nYes, at the same price.\n> And annual billing?\nAlso yes.\n";
        assert_eq!(
            reply(text),
            "> Can you do 50 seats?\nYes, at the same price.\n> And annual billing?\nAlso yes."
        );
    }

    #[test]
    fn html_only_replies_are_cut_at_the_clients_quote_markers() {
        let outlook = r#"<div>Approved, sign Monday.</div><div id="divRplyFwdMsg"><b>From:</b> Sam</div><div>old</div>"#;
        assert_eq!(latest_reply_from_html(outlook).as_deref(), Some("Approved, sign Monday."));
        let apple = r#"<div>Yes.</div><blockquote type="cite">Quote</blockquote>"#;
        assert_eq!(latest_reply_from_html(apple).as_deref(), Some("Yes."));
    }

    #[test]
    fn gmail_russian_attribution_without_a_verb() {
        let text = "Согласны.\n\nпн, 9 нояб. 2026 г. в 09:12, Sam Patel <sam@acme.example>:\n\n> Добрый день\n";
        assert_eq!(reply(text), "Согласны.");
    }

    #[test]
    fn dutch_apple_mail_and_localized_outlook_app_footer() {
        let text = "Akkoord.\n\nOutlook voor iOS downloaden\n\nOp 9 nov. 2026 om 09:12 heeft Sam <s@a.example> het volgende geschreven:\n\n> Hoi";
        assert_eq!(reply(text), "Akkoord.");
    }

    #[test]
    fn a_bare_forward_has_no_reply() {
        assert_eq!(
            latest_reply(Some("---------- Forwarded message ---------\nFrom: a@b.c\n")),
            None
        );
    }
}
