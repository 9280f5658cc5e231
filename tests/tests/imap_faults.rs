//! IMAP faults a real server will not show on demand, from a scripted
//! server on 127.0.0.1: silence, garbage instead of a greeting, nonsense in
//! the middle of a session. Each must end in a clear error, never a panic
//! or a hang (every read has a timeout). And the SASL messages of
//! AUTHENTICATE PLAIN and XOAUTH2 are checked byte for byte.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use dealthread_core::Store;
use dealthread_core::rawstore::StoreKey;
use dealthread_core::sources::SourceError;
use dealthread_core::sources::imap::{self, Auth, Check, ImapSource, Security};
use dealthread_mail::ReadOptions;
use dealthread_tests::fake_imap::{FakeImap, tag};

const GREETING: &[u8] = b"* OK [CAPABILITY IMAP4rev1] ready\r\n";

fn source(server: &FakeImap, auth: Auth) -> ImapSource {
    ImapSource {
        name: "scripted".into(),
        host: "127.0.0.1".into(),
        port: server.port,
        security: Security::None,
        user: "deals@in.acme.test".into(),
        auth,
        folders: vec!["INBOX".into()],
        pin_sha256: None,
        secret_env: None,
        timeout_secs: 1,
    }
}

/// A server that logs anyone in with `mechanism` (checking the SASL
/// message with `accept`), then answers EXAMINE with `examine`.
fn server(mechanism: &'static str, accept: fn(&[u8]) -> bool, examine: &'static [u8]) -> FakeImap {
    let authenticating = Arc::new(Mutex::new(None::<String>));
    FakeImap::start(
        Some(GREETING),
        Box::new(move |line| {
            let mut pending = authenticating.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(auth_tag) = pending.take() {
                let decoded = base64::engine::general_purpose::STANDARD.decode(line.trim());
                return Some(if decoded.is_ok_and(|d| accept(&d)) {
                    format!("{auth_tag} OK logged in\r\n").into_bytes()
                } else {
                    format!("{auth_tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                        .into_bytes()
                });
            }
            let tag = tag(line).to_string();
            let command = line.split(' ').nth(1).unwrap_or_default().to_ascii_uppercase();
            Some(match command.as_str() {
                "CAPABILITY" => {
                    format!("* CAPABILITY IMAP4rev1 AUTH={mechanism}\r\n{tag} OK done\r\n")
                        .into_bytes()
                }
                "AUTHENTICATE" => {
                    *pending = Some(tag);
                    b"+ \r\n".to_vec()
                }
                "EXAMINE" => {
                    let mut reply = examine.to_vec();
                    reply.extend_from_slice(format!("{tag} OK [READ-ONLY] done\r\n").as_bytes());
                    reply
                }
                "LOGOUT" => format!("* BYE bye\r\n{tag} OK done\r\n").into_bytes(),
                _ => format!("{tag} BAD unknown\r\n").into_bytes(),
            })
        }),
    )
}

fn store(dir: &std::path::Path) -> Store {
    let store = Store::open_with_key(&dir.join("f.db"), Some(StoreKey::from_bytes([5; 32])))
        .expect("open the store");
    store
        .conn()
        .execute(
            "INSERT INTO sources (name, kind, config, created_at) VALUES ('scripted', 'imap', '{}', 0)",
            [],
        )
        .expect("source row");
    store
}

fn connect_error(source: &ImapSource, secret: &str) -> (SourceError, Duration) {
    let started = Instant::now();
    let outcome = imap::connect::connect(source, secret);
    let error = match outcome {
        Ok(_) => panic!("{}: connecting should have failed", source.name),
        Err(error) => error,
    };
    (error, started.elapsed())
}

#[test]
fn a_silent_server_is_an_error_after_the_timeout_not_a_hang() {
    let server = FakeImap::start(None, Box::new(|_| None));
    let (error, took) = connect_error(&source(&server, Auth::Password), "pw");
    assert!(matches!(error, SourceError::Network(_)), "{error}");
    assert!(error.to_string().contains("greeting"), "{error}");
    assert!(took < Duration::from_secs(5), "gave up after {took:?}");
}

#[test]
fn garbage_instead_of_a_greeting_is_an_error_not_a_panic() {
    let server = FakeImap::start(
        Some(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not imap at all\r\n"),
        Box::new(|_| None),
    );
    let (error, took) = connect_error(&source(&server, Auth::Password), "pw");
    assert!(matches!(error, SourceError::Protocol(_)), "{error}");
    assert!(error.to_string().contains("did not greet like an IMAP server"), "{error}");
    assert!(took < Duration::from_secs(5), "gave up after {took:?}");
}

#[test]
fn nonsense_in_the_middle_of_a_session_is_an_error_not_a_panic() {
    let server = server("PLAIN", |_| true, b"* 3 EXISTS\r\n* OK [UIDVALIDITY ((( ] \x00\xff\r\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store(dir.path());
    let started = Instant::now();
    let error = imap::sync_once(
        &mut store,
        &source(&server, Auth::Password),
        "pw",
        &ReadOptions::default(),
        Check::AfterInitial,
        &mut |_| {},
    )
    .expect_err("a broken EXAMINE answer fails the sync");
    assert!(error.to_string().contains("INBOX"), "names what it was doing: {error}");
    assert!(error.is_retryable(), "a server fault is retried later: {error}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn authenticate_plain_sends_the_rfc_4616_message_and_a_refusal_is_an_auth_error() {
    let server = server("PLAIN", |sasl| sasl == b"\0deals@in.acme.test\0s3cret: \"x\"", b"");
    let source = source(&server, Auth::Password);
    let connected = imap::connect::connect(&source, "s3cret: \"x\"")
        .unwrap_or_else(|e| panic!("PLAIN login: {e}; {:?}", server.received()));
    drop(connected);
    assert!(
        server.received().iter().any(|l| l.ends_with("AUTHENTICATE PLAIN")),
        "{:?}",
        server.received()
    );
    let (error, _) = connect_error(&source, "wrong");
    assert!(matches!(error, SourceError::Auth(_)), "{error}");
    assert!(error.to_string().contains("refused the login"), "{error}");
}

#[test]
fn xoauth2_sends_the_user_and_bearer_token() {
    let server = server(
        "XOAUTH2",
        |sasl| sasl == b"user=deals@in.acme.test\x01auth=Bearer ya29.token\x01\x01",
        b"",
    );
    let source = source(&server, Auth::XOAuth2);
    imap::connect::connect(&source, "ya29.token").expect("XOAUTH2 login");
    let (error, _) = connect_error(&source, "expired-token");
    assert!(matches!(error, SourceError::Auth(_)), "{error}");
}
