//! The `dealthread` binary as users run it: output contracts, exit codes and
//! one-line errors that name the input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn dealthread(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dealthread"))
        .args(args)
        .env_remove("DEALTHREAD_DB")
        .env("DEALTHREAD_STORE_KEY", TEST_KEY)
        .output()
        .expect("running the dealthread binary")
}

/// The raw store's key for these runs (no keyring needed).
const TEST_KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = repo().join("tests/fixtures");
    for kind in std::fs::read_dir(&root).expect("tests/fixtures exists") {
        let kind = kind.expect("dir entry").path();
        if !kind.is_dir() {
            continue; // generate.py lives beside the kind folders
        }
        for file in std::fs::read_dir(&kind).expect("fixture kind folder") {
            let file = file.expect("dir entry").path();
            if file.extension().is_some_and(|e| e == "eml") {
                found.push(file);
            }
        }
    }
    found.sort();
    found
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The keys of the normalized document (DESIGN.md), and of its objects.
const DOCUMENT_KEYS: &[&str] = &[
    "envelope",
    "headers",
    "bodies",
    "attachments",
    "message_id",
    "in_reply_to",
    "references",
    "subject",
    "date",
    "from",
    "to",
    "cc",
    "reply_to",
    "list_id",
    "classification",
    "bounce",
    "auth",
    "latest_reply",
    "html_sanitized",
    "content_hash",
    "dedupe_key",
    "parse_warnings",
];

fn assert_keys(value: &Value, keys: &[&str], what: &str) {
    let object = value.as_object().unwrap_or_else(|| panic!("{what} is not an object: {value}"));
    for key in keys {
        assert!(object.contains_key(*key), "{what} lacks the key {key:?}: {value}");
    }
}

#[test]
fn parse_prints_every_key_of_the_document_for_every_fixture() {
    let files = fixtures();
    assert!(files.len() >= 15, "the fixture corpus went missing: {files:?}");
    for file in &files {
        let output = dealthread(&["parse", &file.display().to_string()]);
        assert!(output.status.success(), "{}: {}", file.display(), stderr(&output));
        let text = String::from_utf8(output.stdout).expect("JSON output is UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{}: one document per message", file.display());
        let doc: Value = serde_json::from_str(lines[0]).expect("each line is JSON");
        let name = file.display().to_string();
        assert_keys(&doc, DOCUMENT_KEYS, &name);
        assert_keys(&doc["envelope"], &["mail_from", "rcpt_to"], &format!("{name} envelope"));
        assert_keys(&doc["bodies"], &["text", "html"], &format!("{name} bodies"));
        assert_keys(
            &doc["classification"],
            &["kind", "reasons"],
            &format!("{name} classification"),
        );
        assert_keys(&doc["auth"], &["spf", "dkim", "dmarc", "arc"], &format!("{name} auth"));
        for attachment in doc["attachments"].as_array().expect("attachments is an array") {
            assert_keys(
                attachment,
                &["filename", "content_type", "size", "sha256", "content_id", "disposition"],
                &format!("{name} attachment"),
            );
        }
        if !doc["from"].is_null() {
            assert_keys(&doc["from"], &["name", "address"], &format!("{name} from"));
        }
        if !doc["bounce"].is_null() {
            assert_keys(&doc["bounce"], &["recipients", "action", "status", "diagnostic"], &name);
        }
    }
}

#[test]
fn bad_inputs_get_one_line_each_and_the_rest_is_still_parsed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, [0x89u8, b'P', b'N', b'G', 0, 0, 0, 13, 0xff, 0xfe]).expect("write");
    let empty = dir.path().join("empty.eml");
    std::fs::write(&empty, b"").expect("write");
    let missing = dir.path().join("missing.eml");
    let good = repo().join("tests/fixtures/clients/thunderbird-reply.eml");

    let args: Vec<String> =
        [&missing, &junk, &good, &empty].iter().map(|p| p.display().to_string()).collect();
    let args: Vec<&str> = std::iter::once("parse").chain(args.iter().map(String::as_str)).collect();
    let output = dealthread(&args);

    assert_eq!(output.status.code(), Some(1), "failures exit 1");
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "one line per bad input: {err}");
    assert!(lines[0].contains("missing.eml") && lines[0].contains("no such file"), "{err}");
    assert!(lines[1].contains("junk.bin") && lines[1].contains("not an email message"), "{err}");
    assert!(lines[2].contains("empty.eml") && lines[2].contains("empty"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    let docs = String::from_utf8_lossy(&output.stdout);
    assert_eq!(docs.lines().count(), 1, "the good file is still parsed");
    assert!(docs.contains("Volume discount"), "{docs}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(dealthread(&["parse"]).status.code(), Some(2));
    assert_eq!(dealthread(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(dealthread(&["timeline"]).status.code(), Some(2), "--deal is required");
}

fn import(db: &Path, paths: &[&Path]) -> Output {
    let mut args = vec!["--db".to_string(), db.display().to_string(), "import".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    dealthread(&args)
}

#[test]
fn import_then_timeline_and_reimport_adds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let demo = repo().join("crates/core/demo");
    let messages = std::fs::read_dir(&demo)
        .expect("the demo folder")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml")))
        .count();
    let first = import(&db, &[&demo]);
    assert!(first.status.success(), "{}", stderr(&first));
    let imported = format!("imported {messages} new");
    assert!(String::from_utf8_lossy(&first.stdout).contains(&imported), "{first:?}");
    let again = import(&db, &[&demo]);
    let present = format!("imported 0 new, {messages} already present");
    assert!(String::from_utf8_lossy(&again.stdout).contains(&present), "{again:?}");

    let db_arg = db.display().to_string();
    let output = dealthread(&["--db", &db_arg, "timeline", "--deal", "D-1001", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let timeline: Value = serde_json::from_slice(&output.stdout).expect("timeline JSON");
    let subjects: Vec<&str> = timeline["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        subjects,
        [
            "Renewal quote for 250 seats",
            "Re: Renewal quote for 250 seats",
            "Re: Renewal quote for 250 seats"
        ],
        "oldest first"
    );

    let unknown = dealthread(&["--db", &db_arg, "timeline", "--deal", "D-404"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("D-404"), "{}", stderr(&unknown));
}

#[test]
fn an_unreadable_file_named_on_the_command_line_is_kept_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("scan.eml");
    std::fs::write(&junk, b"\x00\x01\x02 not mail at all").expect("write");
    let output = import(&dir.path().join("k.db"), &[&junk]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("scan.eml"), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 unreadable"), "{output:?}");
}

#[test]
fn a_file_that_is_not_our_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("notes.txt");
    std::fs::write(&db, "shopping list").expect("write");
    let output = import(&db, &[&repo().join("crates/core/demo/01-quote.eml")]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("notes.txt") && err.contains("not a SQLite database"), "{err}");
    assert_eq!(std::fs::read_to_string(&db).expect("read"), "shopping list");
}

#[test]
fn search_prints_highlighted_snippets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("s.db");
    assert!(import(&db, &[&repo().join("crates/core/demo")]).status.success());
    let db_arg = db.display().to_string();
    let output = dealthread(&["--db", &db_arg, "search", "questionn"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("[questionnaire]") && text.contains("D-1002"), "{text}");
    let bad = dealthread(&["--db", &db_arg, "search", "x", "--kind", "spam"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--kind spam"), "{}", stderr(&bad));
}
