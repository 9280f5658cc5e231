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
const FROM_LABELS: &[&str] =
    &["From:", "Von:", "De :", "De:", "Da:", "Van:", "Fra:", "Från:", "Lähettäjä:", "Od:", "От:"];
const SENT_LABELS: &[&str] = &[
    "Sent:",
    "Date:",
    "Gesendet:",
    "Datum:",
    "Envoyé :",
    "Envoyé:",
    "Date :",
    "Enviado:",
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

/// Returns the new text of a reply, or `None` when nothing new was written
/// (an empty forward, for example) or there is no body at all.
pub fn latest_reply(text: Option<&str>, _html: Option<&str>) -> Option<String> {
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
    if is_attribution(trimmed) {
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
fn is_dashed_separator(line: &str) -> bool {
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
    use super::latest_reply;

    fn reply(text: &str) -> String {
        latest_reply(Some(text), None).unwrap_or_default()
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
    fn a_bare_forward_has_no_reply() {
        assert_eq!(
            latest_reply(Some("---------- Forwarded message ---------\nFrom: a@b.c\n"), None),
            None
        );
    }
}
