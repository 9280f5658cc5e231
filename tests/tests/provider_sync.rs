//! The provider source against the REST emulator: every fault switch of
//! the contract (429 with Retry-After, 500s, slow answers, bodies cut off,
//! expired raw copies, raw bodies that are not MIME, broken entries, a
//! replayed cursor, a revoked key), HTTPS with a pinned certificate, and
//! the same mail arriving by IMAP (a real Dovecot) and by the provider in
//! several interleavings.

use std::time::{Duration, Instant};

use dealthread_core::Store;
use dealthread_core::rawstore::StoreKey;
use dealthread_core::sources::imap::{self, Auth, Check, ImapSource, Security};
use dealthread_core::sources::provider::{self, ProviderSource, SyncReport};
use dealthread_core::sources::{Retry, SourceError};
use dealthread_mail::ReadOptions;
use dealthread_tests::corpus::{Rng, message};
use dealthread_tests::dovecot::{Dovecot, PASSWORD, USER};
use dealthread_tests::provider::{API_KEY, Provider};

fn messages(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count).map(|i| message(&mut rng, i + seed as usize * 100_000)).collect()
}

fn store(dir: &std::path::Path) -> Store {
    let store = Store::open_with_key(&dir.join("d.db"), Some(StoreKey::from_bytes([7; 32])))
        .expect("open the store");
    for (name, kind) in [("api", "provider"), ("inbound", "imap")] {
        store
            .conn()
            .execute(
                "INSERT INTO sources (name, kind, config, created_at) VALUES (?1, ?2, '{}', 0)",
                [name, kind],
            )
            .expect("source row");
    }
    store
}

fn source(server: &Provider) -> ProviderSource {
    let mut source = ProviderSource::new("api", &server.url);
    source.page_size = 50;
    source.timeout_secs = 2;
    source.pin_sha256 = server.fingerprint.clone();
    source
}

fn quick_retry() -> Retry {
    Retry { attempts: 6, base: Duration::from_millis(50), max: Duration::from_millis(400) }
}

fn sync(store: &mut Store, source: &ProviderSource) -> SyncReport {
    provider::sync_once(store, source, API_KEY, &ReadOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("sync failed: {e}"))
}

/// Syncs with retries, returning the report and every error retried.
fn sync_retrying(store: &mut Store, source: &ProviderSource) -> (SyncReport, Vec<SourceError>) {
    let mut retried = Vec::new();
    let report = provider::sync_with_retry(
        store,
        source,
        API_KEY,
        &ReadOptions::default(),
        quick_retry(),
        &mut |_| {},
        &mut |error, _| retried.push(clone_error(error)),
    )
    .unwrap_or_else(|e| panic!("sync failed after retries: {e}"));
    (report, retried)
}

fn clone_error(error: &SourceError) -> SourceError {
    match error {
        SourceError::RateLimited { message, retry_after } => {
            SourceError::RateLimited { message: message.clone(), retry_after: *retry_after }
        }
        SourceError::Network(m) => SourceError::Network(m.clone()),
        SourceError::Protocol(m) => SourceError::Protocol(m.clone()),
        other => SourceError::Config(other.to_string()),
    }
}

fn scalar(store: &Store, sql: &str) -> i64 {
    store.conn().query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The dedupe keys the fixtures have when read straight from their bytes.
fn expected_keys(mail: &[Vec<u8>]) -> std::collections::BTreeSet<String> {
    mail.iter()
        .map(|raw| {
            dealthread_mail::read_message(raw, &ReadOptions::default())
                .expect("fixtures are mail")
                .dedupe_key
        })
        .collect()
}

fn stored_keys(store: &Store) -> std::collections::BTreeSet<String> {
    let mut stmt = store.conn().prepare("SELECT dedupe_key FROM messages").expect("prepare");
    stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("keys")
}

#[test]
fn pages_are_read_once_each_and_only_new_mail_is_fetched_afterwards() {
    let mail = messages(120, 1);
    let server = Provider::start(&mail);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let source = source(&server);

    let mut last = provider::Progress::default();
    let report =
        provider::sync_once(&mut store, &source, API_KEY, &ReadOptions::default(), &mut |p| {
            last = p.clone()
        })
        .expect("initial sync");
    assert_eq!((report.pages, report.fetched, report.new), (3, 120, 120), "{report:?}");
    assert_eq!((last.pages, last.messages), (3, 120), "progress reached the end");
    assert!(last.bytes > 100_000, "progress counts bytes: {last:?}");
    assert_eq!(stored_keys(&store), expected_keys(&mail), "parsed locally, same as from the bytes");
    assert_eq!(
        scalar(&store, "SELECT count(*) FROM message_sources WHERE source = 'provider:api'"),
        120
    );
    assert_eq!(scalar(&store, "SELECT count(*) FROM messages WHERE rebuilt_from IS NOT NULL"), 0);
    let status = provider::status(&store, "api").expect("status");
    assert_eq!(status.cursor.as_deref(), Some("c120"));

    let before = server.served().len();
    let again = sync(&mut store, &source);
    assert_eq!((again.fetched, again.pages), (0, 0), "{again:?}");
    assert_eq!(server.served().len(), before + 1, "an up-to-date check is one request");

    server.add(&messages(7, 2));
    let more = sync(&mut store, &source);
    assert_eq!((more.fetched, more.new), (7, 7), "{more:?}");
    assert!(
        server.served().iter().any(|s| s.target.contains("after=c120")),
        "resumed at the cursor"
    );
}

#[test]
fn rate_limits_are_waited_out_as_long_as_retry_after_asks() {
    let mail = messages(30, 3);
    let server = Provider::start(&mail);
    server.faults(|f| {
        f.rate_limited = 2;
        f.retry_after_secs = 1;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());

    let started = Instant::now();
    let (report, retried) = sync_retrying(&mut store, &source(&server));
    assert_eq!(report.new, 30);
    assert_eq!(retried.len(), 2, "{retried:?}");
    for error in &retried {
        assert!(
            matches!(error, SourceError::RateLimited { retry_after, .. } if *retry_after == Duration::from_secs(1)),
            "{error}"
        );
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "waited {:?}", started.elapsed());
}

#[test]
fn server_errors_and_slow_answers_are_retried_with_backoff() {
    let mail = messages(60, 4);
    let server = Provider::start(&mail);
    server.faults(|f| f.server_errors = 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let source = source(&server);

    let (report, retried) = sync_retrying(&mut store, &source);
    assert_eq!(report.new, 60);
    assert_eq!(retried.len(), 3, "{retried:?}");
    assert!(retried.iter().all(|e| e.to_string().contains("HTTP 500")), "{retried:?}");

    server.add(&messages(5, 5));
    server.faults(|f| {
        f.slow = 1;
        f.slow_by = Duration::from_secs(4);
    });
    let (report, retried) = sync_retrying(&mut store, &source);
    assert_eq!(report.new, 5);
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert!(retried[0].to_string().contains("no answer within 2 s"), "{}", retried[0]);
}

#[test]
fn answers_cut_off_mid_body_are_fetched_again_and_never_stored_half() {
    let mail = messages(80, 6);
    let server = Provider::start(&mail);
    server.faults(|f| {
        f.truncated_pages = 1;
        f.truncated_raws = 1;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());

    let (report, retried) = sync_retrying(&mut store, &source(&server));
    assert_eq!(retried.len(), 2, "one page and one raw copy cut off: {retried:?}");
    assert_eq!(report.new, 80, "{report:?}");
    assert_eq!(stored_keys(&store), expected_keys(&mail), "no message stored from half a body");
}

#[test]
fn expired_or_broken_raw_copies_are_rebuilt_from_the_json_and_flagged() {
    let mail = messages(40, 7);
    let server = Provider::start(&mail);
    let (expired, not_mime) = (Provider::id(3), Provider::id(17));
    server.faults(|f| {
        f.expired.insert(expired.clone());
        f.not_mime.insert(not_mime.clone());
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());

    let report = sync(&mut store, &source(&server));
    assert_eq!((report.new, report.rebuilt, report.unreadable), (40, 2, 0), "{report:?}");
    assert!(
        report.problems.iter().any(|p| p.contains(&expired) && p.contains("expired")),
        "{report:?}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains(&not_mime) && p.contains("not MIME")),
        "{report:?}"
    );
    assert_eq!(
        stored_keys(&store),
        expected_keys(&mail),
        "a rebuilt message has the dedupe key of its original"
    );
    let flagged: Vec<String> = {
        let mut stmt = store
            .conn()
            .prepare(
                "SELECT s.locator FROM messages m JOIN message_sources s ON s.message_id = m.id
                 WHERE m.rebuilt_from = 'provider-json' ORDER BY s.locator",
            )
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    };
    assert_eq!(flagged, vec![expired, not_mime]);
}

#[test]
fn a_broken_entry_is_recorded_with_its_id_and_the_rest_of_the_page_goes_on() {
    let mail = messages(20, 8);
    let server = Provider::start(&mail);
    server.faults(|f| {
        f.broken_entries = vec![
            serde_json::json!({"id": "msg_broken_1", "headers": 42}),
            serde_json::json!({"received_at": "2026-11-20T09:00:00Z"}),
            serde_json::json!({"id": "msg_empty", "raw_url": "/v1/messages/msg_empty/raw"}),
        ]
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let source = source(&server);

    let report = sync(&mut store, &source);
    assert_eq!((report.new, report.skipped), (20, 3), "{report:?}");
    let status = provider::status(&store, "api").expect("status");
    assert_eq!(status.cursor.as_deref(), Some("c20"), "the cursor moved past the page");
    let ids: Vec<&str> = status.skipped.iter().map(|(id, _)| id.as_str()).collect();
    assert!(ids.contains(&"msg_broken_1") && ids.contains(&"msg_empty"), "{ids:?}");
    assert!(ids.iter().any(|id| id.starts_with("(no id)")), "{ids:?}");
    let (_, why) = status.skipped.iter().find(|(id, _)| id == "msg_empty").expect("recorded");
    assert!(why.contains("expired") && why.contains("neither"), "{why}");

    // A page of nothing but broken entries is recorded too, and the next
    // sync is not stuck on it.
    server.faults(|f| f.broken_entries = vec![serde_json::json!({"id": 7})]);
    let report = sync(&mut store, &source);
    assert_eq!((report.new, report.skipped), (0, 1), "{report:?}");
    let status = provider::status(&store, "api").expect("status");
    assert!(status.skipped.iter().any(|(id, _)| id == "7"), "{:?}", status.skipped);
    server.add(&messages(3, 13));
    assert_eq!(sync(&mut store, &source).new, 3);
}

#[test]
fn a_replayed_cursor_adds_no_duplicates() {
    let mail = messages(100, 9);
    let server = Provider::start(&mail[..50]);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let source = source(&server);
    sync(&mut store, &source);
    server.add(&mail[50..]);
    server.faults(|f| f.replay_once = true);

    let report = sync(&mut store, &source);
    assert_eq!((report.duplicates, report.new), (50, 50), "{report:?}");
    assert_eq!(scalar(&store, "SELECT count(*) FROM messages"), 100);
    assert_eq!(stored_keys(&store), expected_keys(&mail));
}

#[test]
fn a_refused_key_stops_the_source_without_retrying() {
    let server = Provider::start(&messages(10, 10));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let mut retried = 0;
    let error = provider::sync_with_retry(
        &mut store,
        &source(&server),
        "pk_revoked",
        &ReadOptions::default(),
        quick_retry(),
        &mut |_| {},
        &mut |_, _| retried += 1,
    )
    .expect_err("a refused key fails");
    assert!(matches!(error, SourceError::Auth(_)), "{error}");
    assert!(error.to_string().contains("HTTP 401") && error.to_string().contains("api"), "{error}");
    assert_eq!((retried, server.served().len()), (0, 1), "one request, no retry storm");
    assert_eq!(scalar(&store, "SELECT count(*) FROM messages"), 0);
}

#[test]
fn https_is_trusted_only_through_the_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Provider::start_tls(&messages(15, 11), dir.path());
    let mut store = store(dir.path());
    let pinned = source(&server);
    assert!(pinned.base_url.starts_with("https://"));
    assert_eq!(sync(&mut store, &pinned).new, 15);

    let mut unpinned = pinned.clone();
    unpinned.pin_sha256 = None;
    let error =
        provider::sync_once(&mut store, &unpinned, API_KEY, &ReadOptions::default(), &mut |_| {})
            .expect_err("a self-signed certificate is not trusted without a pin");
    assert!(matches!(error, SourceError::Tls(_)), "{error}");
    let fingerprint = server.fingerprint.clone().expect("TLS server").to_uppercase();
    assert!(
        error.to_string().replace(':', "").contains(&fingerprint),
        "names what to pin: {error}"
    );

    let mut wrong = pinned.clone();
    wrong.pin_sha256 = Some("ab".repeat(32));
    let error =
        provider::sync_once(&mut store, &wrong, API_KEY, &ReadOptions::default(), &mut |_| {})
            .expect_err("a certificate that does not match the pin");
    assert!(
        matches!(error, SourceError::Tls(_)) && error.to_string().contains("does not match"),
        "{error}"
    );
}

fn imap_source(server: &Dovecot) -> ImapSource {
    ImapSource {
        name: "inbound".into(),
        host: "127.0.0.1".into(),
        port: server.tls_port,
        security: Security::Implicit,
        user: USER.into(),
        auth: Auth::Password,
        folders: vec!["INBOX".into()],
        pin_sha256: Some(server.fingerprint.clone()),
        secret_env: None,
        timeout_secs: imap::DEFAULT_TIMEOUT_SECS,
    }
}

fn imap_sync(store: &mut Store, source: &ImapSource) {
    imap::sync_once(
        store,
        source,
        PASSWORD,
        &ReadOptions::default(),
        Check::AfterInitial,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("IMAP sync failed: {e}"));
}

/// Every message once, each with one IMAP and one provider record.
fn assert_one_message_two_paths(store: &Store, mail: &[Vec<u8>], how: &str) {
    assert_eq!(stored_keys(store), expected_keys(mail), "{how}");
    let lonely = scalar(
        store,
        "SELECT count(*) FROM messages m WHERE
            (SELECT count(*) FROM message_sources s WHERE s.message_id = m.id AND s.source LIKE 'imap:%') != 1
         OR (SELECT count(*) FROM message_sources s WHERE s.message_id = m.id AND s.source = 'provider:api') != 1",
    );
    assert_eq!(lonely, 0, "{how}: every message has exactly two provenance records");
}

#[test]
fn the_same_mail_by_imap_and_by_the_provider_is_one_message_whatever_the_order() {
    let mail = messages(90, 12);
    let mut dovecot = Dovecot::start();
    dovecot.deliver(&mail[..60]);
    let api = Provider::start(&mail[..60]);
    api.faults(|f| {
        f.expired.insert(Provider::id(5));
    });
    let (imap, provider) = (imap_source(&dovecot), source(&api));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("a")).expect("dir");
    let mut provider_first = store(&dir.path().join("a"));
    sync(&mut provider_first, &provider);
    imap_sync(&mut provider_first, &imap);

    std::fs::create_dir_all(dir.path().join("b")).expect("dir");
    let mut imap_first = store(&dir.path().join("b"));
    imap_sync(&mut imap_first, &imap);
    sync(&mut imap_first, &provider);

    // Interleaved: the rest arrives in two steps, each path ahead once.
    std::fs::create_dir_all(dir.path().join("c")).expect("dir");
    let mut interleaved = store(&dir.path().join("c"));
    imap_sync(&mut interleaved, &imap);
    sync(&mut interleaved, &provider);
    dovecot.deliver(&mail[60..75]);
    api.add(&mail[60..90]);
    sync(&mut interleaved, &provider);
    imap_sync(&mut interleaved, &imap);
    dovecot.deliver(&mail[75..]);
    imap_sync(&mut interleaved, &imap);
    sync(&mut interleaved, &provider);

    assert_one_message_two_paths(&provider_first, &mail[..60], "provider first");
    assert_one_message_two_paths(&imap_first, &mail[..60], "IMAP first");
    assert_one_message_two_paths(&interleaved, &mail, "interleaved");
}
