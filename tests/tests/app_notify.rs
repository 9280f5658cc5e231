//! End to end: desktop notifications. The test owns the session bus's
//! notification service (`org.freedesktop.Notifications`, the interface
//! every Linux desktop's notification daemon serves) and records what the
//! built app asks it to show. The demo workspace notifies nothing; a
//! customer's new reply on a deal notifies once, naming the deal and the
//! sender; an auto-reply and the team's own mail notify nothing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dealthread_core::ingest::{self, RawMessage};
use dealthread_mail::ReadOptions;
use dealthread_tests::webdriver::{AppSession, wait_until};

#[derive(Clone, Default)]
struct Recorder {
    shown: Arc<Mutex<Vec<(String, String)>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        shown.push((summary, body));
        shown.len() as u32
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("dealthread-tests".into(), "Dealthread".into(), "1".into(), "1.2".into())
    }
}

fn mail(from: &str, subject: &str, extra: &str, id: &str) -> Vec<u8> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    format!(
        "From: {from}\r\nTo: Sam Patel <sam.patel@acme-sales.example>\r\n\
         Cc: deal+D-1001@inbound.acme-sales.example\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{id}>\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
         Sounds good, see you Monday.\r\n"
    )
    .into_bytes()
}

fn deliver(db: &Path, raw: Vec<u8>, name: &str) {
    let mut store = dealthread_core::Store::open(db).expect("the store opens");
    let batch = [RawMessage { bytes: raw, source: "file".into(), locator: name.into() }];
    ingest::ingest_batch(&mut store, &batch, &ReadOptions::default(), ingest::unix_now())
        .expect("ingest");
}

fn checkpoint_set(db: &Path) -> bool {
    let conn = rusqlite::Connection::open(db).expect("the app's database");
    conn.query_row("SELECT count(*) FROM settings WHERE name = 'notified_through'", [], |r| {
        r.get::<_, i64>(0)
    })
    .is_ok_and(|n| n == 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_reply_on_a_deal_notifies_once_and_nothing_else_does() {
    let recorder = Recorder::default();
    let shown = recorder.shown.clone();
    let _service = zbus::blocking::connection::Builder::session()
        .and_then(|b| b.name("org.freedesktop.Notifications"))
        .and_then(|b| b.serve_at("/org/freedesktop/Notifications", recorder))
        .and_then(|b| b.build())
        .expect("serving org.freedesktop.Notifications on the test's session bus");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("notify.db");
    let session = AppSession::start(&db).await;
    wait_until("the app's first look for new replies", || checkpoint_set(&db)).await;

    deliver(
        &db,
        mail(
            "Jonas Berg <jonas@bluebird-logistics.example>",
            "Automatic reply: away",
            "Auto-Submitted: auto-replied\r\n",
            "oof-77@bluebird-logistics.example",
        ),
        "oof.eml",
    );
    deliver(
        &db,
        mail(
            "Ana Lima <ana.lima@acme-sales.example>",
            "Internal: pricing call",
            "",
            "internal-5@acme-sales.example",
        ),
        "internal.eml",
    );
    deliver(
        &db,
        mail(
            "Dana Reyes <dana.reyes@northwind.example>",
            "Re: Renewal quote for 250 seats",
            "",
            "dana-monday@northwind.example",
        ),
        "dana.eml",
    );
    let count = || shown.lock().map(|s| s.len()).unwrap_or(0);
    wait_until("a notification", || count() >= 1).await;
    // Two more checks pass: nothing else is told.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let shown = shown.lock().expect("recorded").clone();
    assert_eq!(shown.len(), 1, "only the customer's reply notifies: {shown:?}");
    let (title, body) = &shown[0];
    assert_eq!(title, "New reply on Northwind Traders: 250-seat renewal");
    assert_eq!(body, "Dana Reyes: Re: Renewal quote for 250 seats");
    session.finish().await;
}
