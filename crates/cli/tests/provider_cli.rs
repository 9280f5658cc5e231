//! The provider source through the CLI: `dealthread sync --once` killed
//! with SIGKILL mid-page and restarted ends with exactly the provider's
//! messages; and the life of a source whose API key lives in the OS keyring
//! (add, list, doctor, sync, remove).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use dealthread_tests::provider::{API_KEY, Provider};

const KEY: &str = "4444444444444444444444444444444444444444444444444444444444444444";

fn dealthread(db: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealthread"));
    command
        .arg("--db")
        .arg(db)
        .env("DEALTHREAD_STORE_KEY", KEY)
        .env("DEALTHREAD_TEST_PROVIDER_KEY", API_KEY);
    command
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("the database opens after the kill");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

fn mail(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = dealthread_tests::corpus::Rng::new(seed);
    (0..count).map(|i| dealthread_tests::corpus::message(&mut rng, i)).collect()
}

#[test]
fn a_sync_killed_mid_page_resumes_to_exactly_the_providers_messages() {
    const MESSAGES: usize = 400;
    let server = Provider::start(&mail(MESSAGES, 31));
    // Slow raw downloads, so each kill lands while a page is in flight.
    server.faults(|f| f.raw_delay = Duration::from_millis(15));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("p.db");
    let added = dealthread(&db)
        .args(["source", "add", "provider", "--name", "api", "--url", &server.url])
        .args(["--page-size", "40", "--secret-env", "DEALTHREAD_TEST_PROVIDER_KEY"])
        .output()
        .expect("source add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    for round in 0..3 {
        let mut child = dealthread(&db)
            .args(["sync", "--once", "--progress-lines"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dealthread sync");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reported = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("stdout line");
            if let Some(rest) = line.strip_prefix("committed api ") {
                reported = Some(rest.parse::<i64>().expect("a count"));
                // Give the next page a moment to be half downloaded.
                std::thread::sleep(Duration::from_millis(100 + 50 * round));
                child.kill().expect("SIGKILL the sync");
                break;
            }
        }
        let _ = child.wait();
        let reported = reported.expect("a page was committed before the kill");
        let stored = count(&db, "SELECT count(*) FROM messages");
        assert!(stored >= reported, "round {round}: {reported} reported, {stored} stored");
        assert!(stored < MESSAGES as i64, "round {round}: the sync finished before the kill");
    }

    server.faults(|f| f.raw_delay = Duration::ZERO);
    let finish = dealthread(&db).args(["sync", "--once"]).output().expect("finish the sync");
    let stdout = String::from_utf8_lossy(&finish.stdout);
    assert!(finish.status.success(), "{stdout}{}", String::from_utf8_lossy(&finish.stderr));
    assert_eq!(count(&db, "SELECT count(*) FROM messages"), MESSAGES as i64, "no duplicates");
    assert_eq!(
        count(&db, "SELECT count(*) FROM message_sources WHERE source = 'provider:api'"),
        MESSAGES as i64,
        "one provenance record per provider message"
    );
    assert_eq!(count(&db, "SELECT cursor = 'c400' FROM provider_cursors"), 1);
}

#[test]
fn a_source_with_its_key_in_the_keyring_is_added_checked_synced_and_removed() {
    let server = Provider::start(&mail(12, 32));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("k.db");
    let name = format!("api-{}", std::process::id());

    let mut add = dealthread(&db)
        .args(["source", "add", "provider", "--name", &name, "--url", &server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("source add");
    add.stdin.take().expect("stdin").write_all(format!("{API_KEY}\n").as_bytes()).expect("key");
    let added = add.wait_with_output().expect("source add ends");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let config = count(&db, "SELECT count(*) FROM sources WHERE config LIKE '%pk_test%'");
    assert_eq!(config, 0, "the key is not in the database");

    let doctor = dealthread(&db).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{report}");
    assert!(report.contains("API key: accepted; 12 messages waiting"), "{report}");

    let sync = dealthread(&db).args(["sync", "--once"]).output().expect("sync");
    let stdout = String::from_utf8_lossy(&sync.stdout);
    assert!(sync.status.success(), "{stdout}{}", String::from_utf8_lossy(&sync.stderr));
    assert!(stdout.contains(&format!("{name}: 12 fetched in 1 pages, 12 new")), "{stdout}");

    let status = dealthread(&db).arg("status").output().expect("status");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("messages: 12 in"), "{status}");
    assert!(
        status.contains(&format!("source {name} (provider, {}): last sync", server.url)),
        "{status}"
    );

    let list = dealthread(&db).args(["source", "list"]).output().expect("list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains(&name) && listed.contains("provider\tlast sync"), "{listed}");

    let removed = dealthread(&db).args(["source", "remove", &name]).output().expect("remove");
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let account = dealthread_core::sources::secret_account(&name);
    assert_eq!(dealthread_core::secrets::get(&account).expect("keyring"), None, "key removed");
    assert_eq!(count(&db, "SELECT count(*) FROM messages"), 12, "the mail stays");
}
