//! A full disk while importing: the import stops with one clear line, and
//! nothing half-written is visible. RLIMIT_FSIZE (`ulimit -f`, with SIGXFSZ
//! ignored) makes writes past the limit fail as they would on a full disk,
//! without needing a small file system.

use std::process::Command;

const KEY: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn an_import_that_runs_out_of_space_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail = dir.path().join("maildir");
    dealthread_tests::corpus::write_maildir(&mail, 1500, 3, None).expect("corpus");
    // One message with an attachment bigger than the limit, in the first
    // batch: its blob cannot be written at all, before the database fills.
    let big = dealthread_tests::corpus::big_attachment_message(3 * 1024 * 1024, 4);
    std::fs::write(mail.join("cur").join("00-big:2,"), big).expect("big message");
    let db = dir.path().join("full.db");

    let output = Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 2048; exec "$0" --db "$1" import "$2""#)
        .arg(env!("CARGO_BIN_EXE_dealthread"))
        .arg(&db)
        .arg(&mail)
        .env("DEALTHREAD_STORE_KEY", KEY)
        .output()
        .expect("run the import under a file size limit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(
        lines[0].contains("full") || lines[0].contains("too large"),
        "the line says what went wrong: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Without the limit the store opens intact, and every row's raw bytes
    // are there and whole.
    let key = dealthread_core::rawstore::StoreKey::from_bytes([0x22; 32]);
    let store = dealthread_core::Store::open_with_key(&db, Some(key)).expect("the store opens");
    let check: String =
        store.conn().query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(check, "ok");
    let shas: Vec<String> = store
        .conn()
        .prepare("SELECT raw_sha256 FROM messages")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for sha in &shas {
        store
            .raw()
            .get(dealthread_core::rawstore::BlobKind::Message, sha)
            .unwrap_or_else(|e| panic!("a stored row's raw MIME is not whole: {e}"));
    }
    let raw_check: String = rusqlite_check(&dir.path().join("full.raw.db"));
    assert_eq!(raw_check, "ok", "the raw store is whole");
}

fn rusqlite_check(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open the raw store");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check")
}
