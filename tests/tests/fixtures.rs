//! The fixture corpus, read by the pure pipeline: every message's document is
//! checked as a snapshot beside it (`<name>.snap`), the facts in its
//! `<name>.expect.json` are asserted, and the same bytes with the other line
//! ending (LF vs CRLF) must read as the same message.

use std::path::Path;

use dealthread_mail::{Document, ReadOptions, read_message};
use dealthread_tests::fixtures::all_messages;
use serde_json::Value;

fn read(path: &Path) -> Document {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_message(&raw, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{} did not read: {e}", path.display()))
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Long strings (a 200 KB line, big bodies) are summarised in snapshots.
fn shorten(value: &mut Value) {
    match value {
        Value::String(s) if s.len() > 4000 => {
            *s = format!(
                "<{} bytes starting {:?}>",
                s.len(),
                s.chars().take(60).collect::<String>()
            );
        }
        Value::Array(items) => items.iter_mut().for_each(shorten),
        Value::Object(map) => map.values_mut().for_each(shorten),
        _ => {}
    }
}

#[test]
fn every_fixture_matches_its_snapshot() {
    let corpus = all_messages();
    assert!(corpus.len() >= 150, "the corpus holds {} messages, fewer than 150", corpus.len());
    for (kind, path) in &corpus {
        let mut value = serde_json::to_value(read(path)).expect("documents serialize");
        shorten(&mut value);
        let folder = path.parent().expect("fixtures live in a folder");
        let name = path.file_stem().expect("fixture file name").to_string_lossy().into_owned();
        insta::with_settings!({
            snapshot_path => folder,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("{kind}/{name}.eml"),
        }, {
            insta::assert_json_snapshot!(name, value);
        });
    }
}

#[test]
fn every_fixture_meets_its_expectations() {
    let mut checked = 0;
    let mut failures: Vec<String> = Vec::new();
    for (_, path) in all_messages() {
        let expect_path = path.with_extension("expect.json");
        let Ok(text) = std::fs::read_to_string(&expect_path) else { continue };
        let expect: Value = serde_json::from_str(&text).expect("expectations are JSON");
        let doc = read(&path);
        let name = path
            .strip_prefix(dealthread_tests::workspace_root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("{name}: {what}"));
            }
        };
        if let Some(kind) = expect["kind"].as_str() {
            let got = doc.classification.kind.as_str();
            check(
                got == kind,
                format!("kind {got}, expected {kind} ({:?})", doc.classification.reasons),
            );
        }
        if let Some(reply) = expect["latest_reply"].as_str() {
            let got = squash(doc.latest_reply.as_deref().unwrap_or_default());
            check(
                got == squash(reply),
                format!("latest reply {got:?}, expected {:?}", squash(reply)),
            );
        }
        if let Some(from) = expect["from"].as_str() {
            let got = doc.from.as_ref().map(|m| m.address.as_str());
            check(got == Some(from), format!("from {got:?}, expected {from}"));
        }
        if let Some(subject) = expect["subject"].as_str() {
            check(
                doc.subject.as_deref() == Some(subject),
                format!("subject {:?}, expected {subject}", doc.subject),
            );
        }
        if let Some(recipients) = expect["bounce_recipients"].as_array() {
            let want: Vec<&str> = recipients.iter().filter_map(Value::as_str).collect();
            match &doc.bounce {
                None => check(false, "no bounce report".into()),
                Some(bounce) => {
                    check(
                        bounce.recipients == want,
                        format!("bounce recipients {:?}, expected {want:?}", bounce.recipients),
                    );
                    check(
                        bounce.status.as_deref() == expect["bounce_status"].as_str(),
                        format!("bounce status {:?}", bounce.status),
                    );
                    check(
                        bounce.action.as_deref() == expect["bounce_action"].as_str(),
                        format!("bounce action {:?}", bounce.action),
                    );
                }
            }
        }
        if let Some(from) = expect["forwarded_from"].as_str() {
            match doc.forwarded.first() {
                None => check(false, "no forwarded message found".into()),
                Some(forwarded) => {
                    let got = forwarded.from.as_ref().map(|m| m.address.as_str());
                    check(got == Some(from), format!("forwarded from {got:?}, expected {from}"));
                    check(
                        forwarded.subject.as_deref() == expect["forwarded_subject"].as_str(),
                        format!("forwarded subject {:?}", forwarded.subject),
                    );
                }
            }
        }
        if let Some(filename) = expect["attachment_filename"].as_str() {
            match doc.attachments.iter().find(|a| a.filename.as_deref() == Some(filename)) {
                None => {
                    check(false, format!("no attachment named {filename}: {:?}", doc.attachments))
                }
                Some(attachment) => {
                    let warned = expect["attachment_warned"].as_bool().unwrap_or(false);
                    check(
                        attachment.warning.is_some() == warned,
                        format!(
                            "warning on {filename} is {:?}, expected one: {warned}",
                            attachment.warning
                        ),
                    );
                }
            }
        }
        if let Some(fragment) = expect["html_contains"].as_str() {
            let html = doc.html_sanitized.as_deref().unwrap_or_default();
            check(html.contains(fragment), format!("sanitized HTML lacks {fragment:?}: {html}"));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} expectations failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 140, "only {checked} fixtures have expectations");
}

#[test]
fn lf_and_crlf_copies_read_as_the_same_message() {
    for (_, path) in all_messages() {
        let raw = std::fs::read(&path).expect("fixture reads");
        let crlf = raw.windows(2).any(|w| w == b"\r\n");
        let other: Vec<u8> = if crlf {
            String::from_utf8_lossy(&raw).replace("\r\n", "\n").into_bytes()
        } else {
            let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
            for &b in &raw {
                if b == b'\n' {
                    out.push(b'\r');
                }
                out.push(b);
            }
            out
        };
        if String::from_utf8(raw.clone()).is_err() {
            continue; // raw 8-bit bytes: a lossy round trip would change them
        }
        let options = ReadOptions::default();
        let a = read_message(&raw, &options).expect("original reads");
        let b = read_message(&other, &options).expect("converted copy reads");
        let name = path.display();
        assert_eq!(a.classification, b.classification, "{name}");
        assert_eq!(a.subject, b.subject, "{name}");
        assert_eq!(a.from, b.from, "{name}");
        let norm = |s: &Option<String>| s.as_deref().map(|s| s.replace("\r\n", "\n"));
        assert_eq!(norm(&a.latest_reply), norm(&b.latest_reply), "{name}");
        assert_eq!(a.dedupe_key, b.dedupe_key, "{name}: line endings changed the dedupe key");
    }
}
