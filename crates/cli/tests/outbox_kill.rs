//! `dealthread outbox push` killed with SIGKILL at twenty points while it
//! delivers through a faulty receiver, then run to the end: the receiver
//! holds exactly one activity per CRM-worthy message.

use std::process::{Command, Stdio};
use std::time::Duration;

use dealthread_tests::crm::Receiver;

const KEY: &str = "6666666666666666666666666666666666666666666666666666666666666666";
const SECRET: &str = "whsec_kill_test_93b1";

fn dealthread(db: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealthread"));
    command
        .arg("--db")
        .arg(db)
        .env("DEALTHREAD_STORE_KEY", KEY)
        .env("DEALTHREAD_TEST_WEBHOOK_SECRET", SECRET);
    command
}

fn scalar(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("the database opens after a kill");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

#[test]
fn a_push_killed_twenty_times_still_delivers_each_activity_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("o.db");
    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).expect("mail dir");
    let mut rng = dealthread_tests::corpus::Rng::new(55);
    for i in 0..300 {
        let raw = dealthread_tests::corpus::message(&mut rng, i);
        std::fs::write(mail.join(format!("{i:04}.eml")), raw).expect("write a message");
    }
    let imported = dealthread(&db).arg("import").arg(&mail).output().expect("import");
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));

    let receiver = Receiver::start(SECRET);
    receiver.faults(|f| {
        f.server_error_pct = 10;
        f.lost_answer_pct = 5;
        f.stall_by = Duration::from_millis(1500);
        f.delay = Duration::from_millis(8);
    });
    let added = dealthread(&db)
        .args(["crm", "add", "webhook", "--name", "hooks", "--url", &receiver.url])
        .args(["--timeout-secs", "1", "--secret-env", "DEALTHREAD_TEST_WEBHOOK_SECRET"])
        .output()
        .expect("crm add webhook");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    // This is a test of crashes, not of flood control: a backfill this size
    // from a handful of domains would otherwise be paced over hours.
    let unlimited = dealthread(&db)
        .args(["crm", "settings", "--flood-per-hour", "1000000"])
        .output()
        .expect("crm settings");
    assert!(unlimited.status.success(), "{}", String::from_utf8_lossy(&unlimited.stderr));
    let worthy = scalar(&db, "SELECT count(*) FROM outbox");
    assert!(worthy > 200, "activities queued: {worthy}");

    for round in 0..20u64 {
        let mut child = dealthread(&db)
            .args(["outbox", "push", "--wait", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the push");
        std::thread::sleep(Duration::from_millis(60 + (round * 37) % 140));
        child.kill().expect("SIGKILL the push");
        let _ = child.wait();
    }
    let sent_before = scalar(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'");
    assert!(sent_before < worthy, "the pushes were cut short: {sent_before} of {worthy}");

    let finish = dealthread(&db).args(["outbox", "push", "--wait", "120"]).output().expect("push");
    let stdout = String::from_utf8_lossy(&finish.stdout);
    assert!(finish.status.success(), "{stdout}{}", String::from_utf8_lossy(&finish.stderr));
    assert_eq!(receiver.activities().len() as i64, worthy, "exactly one activity per message");
    assert_eq!(scalar(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'"), worthy);

    let list = dealthread(&db).args(["outbox", "list"]).output().expect("list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&format!(
            "hooks: 0 pending, 0 in flight, 0 failed (retrying), 0 dead, {worthy} sent"
        )),
        "{listed}"
    );
    let status = dealthread(&db).args(["status", "--json"]).output().expect("status");
    let status: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("status --json is JSON");
    assert_eq!(status["outbox"]["sent"], worthy);
    assert_eq!(status["outbox"]["dead"], 0);
}
