//! `dealthread sync --once` against a real Dovecot, killed with SIGKILL
//! mid-sync three times and restarted: the store ends up holding exactly
//! the mailbox, every message once.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use dealthread_tests::dovecot::{Dovecot, PASSWORD, USER};

const MESSAGES: usize = 1500;
const KEY: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn dealthread(db: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealthread"));
    command
        .arg("--db")
        .arg(db)
        .env("DEALTHREAD_STORE_KEY", KEY)
        .env("DEALTHREAD_TEST_IMAP_PASSWORD", PASSWORD);
    command
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("the database opens after the kill");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

#[test]
fn a_sync_killed_mid_way_resumes_to_exactly_the_mailbox() {
    let mut server = Dovecot::start();
    let mut rng = dealthread_tests::corpus::Rng::new(21);
    let mail: Vec<Vec<u8>> =
        (0..MESSAGES).map(|i| dealthread_tests::corpus::message(&mut rng, i)).collect();
    server.deliver(&mail);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("s.db");

    let added = dealthread(&db)
        .args(["source", "add", "imap", "--name", "inbound", "--host", "127.0.0.1"])
        .args(["--port", &server.tls_port.to_string(), "--user", USER])
        .args(["--pin", &server.fingerprint, "--secret-env", "DEALTHREAD_TEST_IMAP_PASSWORD"])
        .output()
        .expect("source add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    let mut kills = 0;
    for round in 0..3 {
        let mut child = dealthread(&db)
            .args(["sync", "--once", "--progress-lines"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dealthread sync");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reported = 0i64;
        let kill_after = 1 + round;
        let mut batches = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("stdout line");
            if let Some(rest) = line.strip_prefix("committed INBOX ") {
                reported = rest.parse().expect("a count");
                batches += 1;
                if batches == kill_after {
                    child.kill().expect("SIGKILL the sync");
                    kills += 1;
                    break;
                }
            }
        }
        let _ = child.wait();
        let stored = count(&db, "SELECT count(*) FROM messages");
        assert!(stored >= reported, "round {round}: {reported} reported, {stored} stored");
    }
    assert_eq!(kills, 3, "the sync finished before it could be killed");

    let finish = dealthread(&db).args(["sync", "--once"]).output().expect("finish the sync");
    let stdout = String::from_utf8_lossy(&finish.stdout);
    assert!(finish.status.success(), "{stdout}{}", String::from_utf8_lossy(&finish.stderr));
    assert!(stdout.contains("1500 on the server, 0 were missing"), "checked complete: {stdout}");
    assert_eq!(count(&db, "SELECT count(*) FROM messages"), MESSAGES as i64, "no duplicates");
    assert_eq!(count(&db, "SELECT count(*) FROM imap_uids"), MESSAGES as i64);
    assert_eq!(
        count(&db, "SELECT count(DISTINCT message_id) FROM imap_uids"),
        MESSAGES as i64,
        "each UID is its own message"
    );

    let doctor = dealthread(&db).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{report}");
    assert!(report.contains("login: ok") && report.contains("IDLE"), "{report}");
    assert!(report.contains("INBOX: complete"), "{report}");
}
