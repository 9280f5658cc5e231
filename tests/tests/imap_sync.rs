//! IMAP sync against a real Dovecot (started per test from a temporary
//! folder): initial and incremental sync, UIDVALIDITY reset, a skipped UID
//! detected and healed, a server restart mid-sync, wrong credentials and a
//! certificate that does not match the pin.

use dealthread_core::Store;
use dealthread_core::rawstore::StoreKey;
use dealthread_core::sources::SourceError;
use dealthread_core::sources::imap::{self, Auth, Check, ImapSource, Retry, Security};
use dealthread_mail::ReadOptions;
use dealthread_tests::corpus::{Rng, message};
use dealthread_tests::dovecot::{Dovecot, PASSWORD, USER};

fn source(server: &Dovecot, security: Security) -> ImapSource {
    ImapSource {
        name: "inbound".into(),
        host: "127.0.0.1".into(),
        port: if security == Security::Implicit { server.tls_port } else { server.port },
        security,
        user: USER.into(),
        auth: Auth::Password,
        folders: vec!["INBOX".into()],
        pin_sha256: Some(server.fingerprint.clone()),
        secret_env: None,
        timeout_secs: imap::DEFAULT_TIMEOUT_SECS,
    }
}

fn messages(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count).map(|i| message(&mut rng, i + seed as usize * 100_000)).collect()
}

fn store(dir: &std::path::Path) -> Store {
    let mut store = Store::open_with_key(&dir.join("d.db"), Some(StoreKey::from_bytes([9; 32])))
        .expect("open the store");
    source_row(&mut store);
    store
}

fn source_row(store: &mut Store) {
    store
        .conn()
        .execute(
            "INSERT INTO sources (name, kind, config, created_at) VALUES ('inbound', 'imap', '{}', 0)",
            [],
        )
        .expect("source row");
}

fn sync(store: &mut Store, source: &ImapSource, check: Check) -> imap::SyncReport {
    imap::sync_once(store, source, PASSWORD, &ReadOptions::default(), check, &mut |_| {})
        .unwrap_or_else(|e| panic!("sync failed: {e}"))
}

fn count(store: &Store) -> i64 {
    dealthread_core::store::messages::count(store.conn()).expect("count")
}

#[test]
fn initial_then_incremental_sync_stores_every_message_once_and_marks_nothing_seen() {
    let mut server = Dovecot::start();
    server.deliver(&messages(1000, 1));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let tls = source(&server, Security::Implicit);

    let mut last = imap::Progress::default();
    let report = imap::sync_once(
        &mut store,
        &tls,
        PASSWORD,
        &ReadOptions::default(),
        Check::AfterInitial,
        &mut |p| last = p.clone(),
    )
    .expect("initial sync");
    let inbox = &report.folders[0];
    assert_eq!((inbox.fetched, inbox.new), (1000, 1000), "{inbox:?}");
    assert_eq!((last.done, last.total), (1000, 1000), "progress reached the end");
    assert!(last.bytes > 1_000_000, "progress counts bytes: {last:?}");
    let ledger = inbox.ledger.expect("an initial sync checks completeness");
    assert_eq!((ledger.server_count, ledger.missing), (1000, 0));
    assert_eq!(count(&store), 1000);
    assert!(report.tls.fingerprint.is_some() && report.tls.protocol.is_some());
    let seen = server.doveadm(&["search", "-u", USER, "mailbox", "INBOX", "SEEN"]);
    assert!(seen.stdout.is_empty(), "BODY.PEEK leaves mail unread on the server");
    let modseq: Option<i64> = store
        .conn()
        .query_row("SELECT highest_modseq FROM imap_folders WHERE folder = 'INBOX'", [], |r| {
            r.get(0)
        })
        .expect("the folder's checkpoint");
    assert!(modseq.is_some_and(|m| m > 0), "CONDSTORE enabled, HIGHESTMODSEQ kept: {modseq:?}");

    // Incremental, over STARTTLS this time: only the new mail.
    server.deliver(&messages(7, 2));
    let starttls = source(&server, Security::StartTls);
    let report = sync(&mut store, &starttls, Check::AfterInitial);
    assert_eq!((report.folders[0].fetched, report.folders[0].new), (7, 7));
    assert!(report.folders[0].ledger.is_none(), "no full check on an incremental pass");
    let report = sync(&mut store, &starttls, Check::AfterInitial);
    assert_eq!(report.folders[0].fetched, 0, "nothing new, nothing fetched");
    assert_eq!(count(&store), 1007);
}

#[test]
fn a_uidvalidity_change_rereads_the_folder_without_duplicates() {
    let mut server = Dovecot::start();
    server.deliver(&messages(40, 3));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let tls = source(&server, Security::Implicit);
    sync(&mut store, &tls, Check::AfterInitial);

    server.reset_uid_validity("INBOX", 4242);
    let report = sync(&mut store, &tls, Check::AfterInitial);
    let inbox = &report.folders[0];
    assert!(inbox.uid_validity_reset, "{inbox:?}");
    assert_eq!((inbox.fetched, inbox.new, inbox.duplicates), (40, 0, 40));
    assert_eq!(count(&store), 40);
    let provenance: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM imap_uids WHERE uid_validity = 4242", [], |r| r.get(0))
        .expect("uids");
    assert_eq!(provenance, 40, "the new UIDs are recorded");
}

#[test]
fn a_cursor_that_skipped_messages_is_caught_by_the_ledger_and_healed() {
    let mut server = Dovecot::start();
    server.deliver(&messages(10, 4));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let tls = source(&server, Security::Implicit);
    sync(&mut store, &tls, Check::AfterInitial);

    // Five more arrive, and a faulty cursor jumps past three of them.
    server.deliver(&messages(5, 5));
    store
        .conn()
        .execute("UPDATE imap_folders SET last_uid = last_uid + 3", [])
        .expect("skip the cursor ahead");
    let report = sync(&mut store, &tls, Check::AfterInitial);
    assert_eq!(report.folders[0].fetched, 2, "the cursor alone finds only two");
    assert_eq!(count(&store), 12);

    let report = sync(&mut store, &tls, Check::Always);
    let ledger = report.folders[0].ledger.expect("checked");
    assert_eq!((ledger.server_count, ledger.missing, ledger.healed), (15, 3, 3));
    assert_eq!(count(&store), 15);
    let missing: i64 = store
        .conn()
        .query_row("SELECT missing FROM imap_folders WHERE folder = 'INBOX'", [], |r| r.get(0))
        .expect("ledger row");
    assert_eq!(missing, 0, "the ledger records the folder as complete again");
}

#[test]
fn a_server_restart_mid_sync_is_survived_by_reconnecting() {
    let mut server = Dovecot::start();
    server.deliver(&messages(600, 6));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let tls = source(&server, Security::Implicit);
    let mut restarted = false;
    let mut retries = 0;
    let retry = Retry {
        attempts: 5,
        base: std::time::Duration::from_millis(100),
        max: std::time::Duration::from_secs(2),
    };
    let report = imap::sync_with_retry(
        &mut store,
        &tls,
        PASSWORD,
        &ReadOptions::default(),
        Check::AfterInitial,
        retry,
        &mut |p| {
            if p.done >= 200 && !restarted {
                restarted = true;
                server.restart();
            }
        },
        &mut |_, _| retries += 1,
    )
    .expect("the sync finishes after the restart");
    assert!(restarted && retries >= 1, "the restart happened mid-sync ({retries} retries)");
    assert_eq!(count(&store), 600);
    let ledger = report.folders[0].ledger.expect("the resumed initial sync is checked");
    assert_eq!((ledger.server_count, ledger.missing), (600, 0));
}

#[test]
fn wrong_credentials_and_a_wrong_pin_fail_at_once_with_a_clear_reason() {
    let server = Dovecot::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let tls = source(&server, Security::Implicit);

    let started = std::time::Instant::now();
    let mut retries = 0;
    let error = imap::sync_with_retry(
        &mut store,
        &tls,
        "not the password",
        &ReadOptions::default(),
        Check::AfterInitial,
        Retry::default(),
        &mut |_| {},
        &mut |_, _| retries += 1,
    )
    .expect_err("refused");
    assert!(matches!(error, SourceError::Auth(_)), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(retries, 0, "a refused login is not retried");
    assert!(error.to_string().contains("refused the login"), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    let mut pinned_wrong = tls.clone();
    pinned_wrong.pin_sha256 = Some("00".repeat(32));
    let error = imap::sync_once(
        &mut store,
        &pinned_wrong,
        PASSWORD,
        &ReadOptions::default(),
        Check::AfterInitial,
        &mut |_| {},
    )
    .expect_err("the pin does not match");
    assert!(matches!(error, SourceError::Tls(_)), "{error}");
    assert!(error.to_string().contains(&server.fingerprint), "names what it saw: {error}");

    let mut unpinned = tls;
    unpinned.pin_sha256 = None;
    let error = imap::sync_once(
        &mut store,
        &unpinned,
        PASSWORD,
        &ReadOptions::default(),
        Check::AfterInitial,
        &mut |_| {},
    )
    .expect_err("a self-signed certificate is not trusted without a pin");
    assert!(matches!(error, SourceError::Tls(_)), "{error}");
    assert!(error.to_string().contains("--pin"), "says how to pin it: {error}");
}

#[test]
fn idle_brings_a_delivered_message_into_the_store_within_two_seconds() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let mut server = Dovecot::start();
    server.deliver(&messages(3, 7));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("d.db");
    let mut store = store(dir.path());
    let tls = source(&server, Security::Implicit);
    let stop = Arc::new(AtomicBool::new(false));
    let passes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watcher = {
        let (stop, passes) = (stop.clone(), passes.clone());
        std::thread::spawn(move || {
            imap::watch(
                &mut store,
                &tls,
                PASSWORD,
                &ReadOptions::default(),
                Duration::from_secs(120),
                Duration::from_secs(60),
                &|| stop.load(Ordering::SeqCst),
                &mut |_| {
                    passes.fetch_add(1, Ordering::SeqCst);
                },
                &mut |_| {},
                &mut |_, _| {},
            )
        })
    };
    let reader = rusqlite::Connection::open(&db).expect("a second connection");
    let stored = || -> i64 {
        reader.query_row("SELECT count(*) FROM messages", [], |r| r.get(0)).unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while (stored() < 3 || passes.load(Ordering::SeqCst) == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stored(), 3, "the first pass stored the mailbox");
    std::thread::sleep(Duration::from_millis(300)); // the watcher is idling now

    let mut latencies = Vec::new();
    for round in 0..3 {
        server.deliver(&messages(1, 70 + round));
        let delivered = Instant::now();
        let want = 4 + round as i64;
        while stored() < want && delivered.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stored(), want, "round {round}: the message arrived");
        latencies.push(delivered.elapsed());
    }
    println!("delivery to store over IDLE: {latencies:?}");
    stop.store(true, Ordering::SeqCst);
    watcher.join().expect("the watcher thread").expect("the watch ended cleanly");
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(worst < Duration::from_secs(2), "delivery to store took {latencies:?}");
}

#[test]
fn a_message_moved_between_synced_folders_stays_one_message() {
    let mut server = Dovecot::start();
    let mail = messages(4, 8);
    server.deliver(&mail);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let mut both = source(&server, Security::Implicit);
    both.folders = vec!["INBOX".into(), "Deals".into()];
    sync(&mut store, &both, Check::AfterInitial);

    // The rep files two of them under Deals: moved on the server.
    let moved = server.doveadm(&["move", "-u", USER, "Deals", "mailbox", "INBOX", "UID", "1:2"]);
    assert!(moved.status.success(), "doveadm move: {}", String::from_utf8_lossy(&moved.stderr));
    let report = sync(&mut store, &both, Check::Always);
    let deals = report.folders.iter().find(|f| f.folder == "Deals").expect("Deals synced");
    assert_eq!((deals.fetched, deals.new, deals.duplicates), (2, 0, 2), "{deals:?}");
    assert_eq!(count(&store), 4, "still four messages");
}
