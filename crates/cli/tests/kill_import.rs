//! Durability: `dealthread import` killed with SIGKILL mid-import leaves a
//! database that opens, holds every message it reported as committed, and
//! finishes on the next run without duplicates.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const MESSAGES: usize = 3000;
const KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn count(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("the database opens after the kill");
    conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).expect("count")
}

#[test]
fn an_import_killed_mid_way_loses_nothing_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail = dir.path().join("maildir");
    std::fs::create_dir_all(mail.join("new")).expect("maildir new/");
    dealthread_tests::corpus::write_corpus(&mail.join("cur"), MESSAGES, 9).expect("corpus");
    let db = dir.path().join("k.db");

    let mut kills = 0;
    for round in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dealthread"))
            .arg("--db")
            .arg(&db)
            .arg("import")
            .arg("--progress-lines")
            .env("DEALTHREAD_STORE_KEY", KEY)
            .arg(&mail)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dealthread import");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reported = 0i64;
        // Kill after a different number of batches each round.
        let kill_after = 2 + round * 2;
        let mut batches = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("stdout line");
            if let Some(n) = line.strip_prefix("committed ") {
                reported = n.parse().expect("a count");
                batches += 1;
                if batches == kill_after {
                    child.kill().expect("SIGKILL the import");
                    kills += 1;
                    break;
                }
            }
        }
        let _ = child.wait();
        let stored = count(&db);
        assert!(
            stored >= reported,
            "round {round}: {reported} were reported committed but only {stored} are stored"
        );
    }
    assert_eq!(kills, 3, "the import finished before it could be killed; use more messages");

    let finish = Command::new(env!("CARGO_BIN_EXE_dealthread"))
        .arg("--db")
        .arg(&db)
        .arg("import")
        .arg(&mail)
        .env("DEALTHREAD_STORE_KEY", KEY)
        .output()
        .expect("finish the import");
    assert!(finish.status.success(), "{}", String::from_utf8_lossy(&finish.stderr));
    assert_eq!(count(&db), MESSAGES as i64, "every message once, no duplicates");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let check: String =
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity check");
    assert_eq!(check, "ok");
}
