//! `dealthread match ...` as a rep runs it: the review queue, a correction
//! that sticks through a re-import, the log, undo, sender rules and the
//! errors that name what is wrong.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const TEST_KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn dealthread(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dealthread"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("DEALTHREAD_DB")
        .env("DEALTHREAD_STORE_KEY", TEST_KEY)
        .env("USER", "sam")
        .output()
        .expect("running the dealthread binary")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = dealthread(db, args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(db: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(db, args)).expect("the output is JSON")
}

fn write_mail(dir: &Path, name: &str, from: &str, extra: &str) -> String {
    let path = dir.join(name);
    let text = format!(
        "From: {from}\r\nTo: sam@acme.example\r\n{extra}Subject: {name}\r\nDate: Tue, 10 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{name}@test>\r\n\r\nHello from {name}.\r\n"
    );
    std::fs::write(&path, text).expect("write the message");
    path.display().to_string()
}

#[test]
fn review_correct_log_and_undo_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let entities = dir.path().join("entities.json");
    std::fs::write(
        &entities,
        r#"{"deals": [{"id": "D-1", "name": "Renewal", "stage": "Open", "contact_ids": ["C-1"]},
                      {"id": "D-2", "name": "Pilot", "stage": "Open", "contact_ids": ["C-1"]}],
            "contacts": [{"id": "C-1", "name": "Dana", "emails": ["dana@northwind.example"], "company_id": null}]}"#,
    )
    .expect("write entities");
    ok(
        &db,
        &["match", "settings", "--add-team-domain", "acme.example", "--block", "@spam.example"],
    );
    assert!(
        ok(&db, &["crm", "import-entities", &entities.display().to_string()])
            .contains("2 deals, 1 contacts")
    );

    let stranger = write_mail(dir.path(), "m1.eml", "Zed <zed@gmail.com>", "");
    let dana = write_mail(dir.path(), "m2.eml", "Dana <dana@northwind.example>", "");
    ok(&db, &["import", &stranger, &dana]);

    // Both wait for review: one unknown, one with two open deals offered.
    let queue = json(&db, &["match", "list", "--json"]);
    let items = queue.as_array().expect("a list");
    assert_eq!(items.len(), 2, "{queue:#}");
    let ambiguous = items.iter().find(|i| i["status"] == "ambiguous").expect("Dana's message");
    let dana_id = ambiguous["message_id"].as_i64().expect("id");
    assert_eq!(ambiguous["suggestions"].as_array().map(Vec::len), Some(2));
    let text = ok(&db, &["match", "list"]);
    assert!(text.contains("1. deal D-") && text.contains("free-mail"), "{text}");

    // Accept the second suggestion; the message leaves the queue.
    let chosen = ambiguous["suggestions"][1]["id"].as_str().expect("deal id").to_string();
    assert!(ok(&db, &["match", "accept", &dana_id.to_string(), "2"]).contains("correction #1"));
    let shown = json(&db, &["match", "show", &dana_id.to_string(), "--json"]);
    assert_eq!(shown["assignment"]["deal_id"], chosen.as_str());
    assert_eq!(shown["rule"], "correction");

    // A re-import of the same file changes nothing.
    ok(&db, &["import", &dana]);
    let shown = json(&db, &["match", "show", &dana_id.to_string(), "--json"]);
    assert_eq!(
        shown["assignment"]["deal_id"],
        chosen.as_str(),
        "the correction survives re-import"
    );

    // Move the stranger with a rule for the address; new mail follows it.
    let stranger_id =
        items.iter().find(|i| i["status"] == "unmatched").expect("stranger")["message_id"]
            .as_i64()
            .expect("id");
    let out = ok(
        &db,
        &["match", "move", &stranger_id.to_string(), "--deal", "D-1", "--always", "sender"],
    );
    assert!(out.contains("always file mail from zed@gmail.com under deal D-1"), "{out}");
    let later = write_mail(dir.path(), "m3.eml", "Zed <zed@gmail.com>", "");
    ok(&db, &["import", &later]);
    assert!(ok(&db, &["match", "list"]).contains("the review queue is empty"));
    assert!(ok(&db, &["match", "rule", "list"]).contains("zed@gmail.com"));

    let log = json(&db, &["match", "log", "--json"]);
    assert_eq!(log.as_array().map(Vec::len), Some(3), "{log:#}");
    assert!(log.as_array().into_iter().flatten().all(|e| e["actor"] == "sam"), "{log:#}");

    // Undo the rule, then the move: the stranger is back in the queue.
    assert!(ok(&db, &["match", "undo"]).contains("undid #3"));
    assert!(ok(&db, &["match", "undo", "2"]).contains("undid #2"));
    let queue = json(&db, &["match", "list", "--json"]);
    assert_eq!(
        queue.as_array().map(Vec::len),
        Some(2),
        "both of Zed's messages wait again: {queue:#}"
    );

    // Errors name the problem; usage errors exit 2.
    let out = dealthread(&db, &["match", "move", &stranger_id.to_string(), "--deal", "D-404"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deal D-404 is not in the CRM cache"));
    let out = dealthread(&db, &["match", "move", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dealthread(&db, &["match", "settings", "--alias-pattern", "{id}"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("alias pattern"), "names the setting");
}
