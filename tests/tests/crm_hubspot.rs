//! The HubSpot adapter against an emulator of the API it uses: through 500s
//! and creates whose answer was lost after HubSpot committed them, every
//! activity ends up as exactly one email engagement on the right deal (the
//! search by `dealthread_key` finds the ones already made); the client's
//! token bucket keeps it under HubSpot's rate limit; a refused token pauses
//! the connection and an invalid association is dead-lettered.

use std::time::Duration;

use dealthread_core::Store;
use dealthread_core::crm::hubspot::{self, Hubspot, HubspotConfig};
use dealthread_core::crm::outbox::{self, Policy};
use dealthread_core::ingest;
use dealthread_core::rawstore::StoreKey;
use dealthread_core::sources::Retry;
use dealthread_mail::ReadOptions;
use dealthread_tests::corpus::{Rng, message};
use dealthread_tests::hubspot::HubSpot;

const TOKEN: &str = "pat-na1-test-0f3e";

fn store_with_mail(dir: &std::path::Path, count: usize) -> Store {
    let mut store = Store::open_with_key(&dir.join("h.db"), Some(StoreKey::from_bytes([4; 32])))
        .expect("open the store");
    let mut rng = Rng::new(91);
    let batch: Vec<ingest::RawMessage> = (0..count)
        .map(|i| ingest::RawMessage {
            bytes: message(&mut rng, i),
            source: "file".into(),
            locator: format!("h{i}"),
        })
        .collect();
    ingest::ingest_batch(&mut store, &batch, &ReadOptions::default(), 1_800_000_000)
        .expect("ingest");
    dealthread_core::crm::save(store.conn(), "hs", hubspot::KIND, "{}", 0).expect("account");
    store
}

fn deals(store: &Store) -> Vec<String> {
    let mut stmt = store.conn().prepare("SELECT id FROM deals").expect("prepare");
    stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("ids")
}

fn adapter(server: &HubSpot, timeout_secs: u64) -> Hubspot {
    let mut config = HubspotConfig::new("hs");
    config.base_url = server.url.clone();
    config.timeout_secs = timeout_secs;
    config.requests = 80;
    config.window_secs = 1;
    Hubspot::new(&config, TOKEN).expect("a HubSpot adapter")
}

fn quick() -> Policy {
    Policy {
        retry: Retry {
            attempts: 10,
            base: Duration::from_millis(5),
            max: Duration::from_millis(50),
        },
        until_empty: true,
        budget: Duration::from_secs(240),
    }
}

#[test]
fn every_activity_becomes_exactly_one_engagement_on_its_deal_through_faults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_mail(dir.path(), 220);
    let server = HubSpot::start(TOKEN, &deals(&store), (100, Duration::from_secs(1)));
    server.faults(|f| {
        f.server_error_pct = 20;
        f.lost_answer_pct = 6;
        f.stall_by = Duration::from_millis(1500);
    });
    let queued = outbox::enqueue_new(store.conn(), "hs", outbox::now_ms()).expect("enqueue");
    assert!(queued > 150, "{queued}");

    let report =
        outbox::push(store.conn(), "hs", &adapter(&server, 1), quick(), &|| false).expect("push");
    assert_eq!((report.sent, report.dead), (queued, 0), "{report:?}");

    let emails = server.emails();
    assert_eq!(emails.len(), queued, "one engagement per activity, none twice");
    let mut expected = std::collections::HashMap::new();
    let mut stmt = store
        .conn()
        .prepare("SELECT m.dedupe_key, m.deal_id, o.crm_object_id FROM outbox o JOIN messages m ON m.id = o.message_id")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
        })
        .expect("query");
    for row in rows {
        let (dedupe_key, deal, object_id) = row.expect("row");
        expected.insert(format!("{dedupe_key}|hs|create"), (deal, object_id));
    }
    for email in &emails {
        let key = email.properties["dealthread_key"].as_str().expect("the key property");
        let (deal, object_id) = expected.get(key).unwrap_or_else(|| panic!("unexpected {key}"));
        assert_eq!(&email.deals, &vec![deal.clone()], "{key}");
        assert_eq!(object_id.as_deref(), Some(email.id.as_str()), "the CRM's id is recorded");
        assert_eq!(email.properties["hs_email_direction"], "INCOMING_EMAIL");
    }
    assert!(server.searches() > emails.len(), "lost answers were resolved by searching");
    assert_eq!(server.rate_limited(), 0, "the token bucket kept under HubSpot's limit");
}

#[test]
fn a_refused_token_pauses_and_an_invalid_association_is_dead_lettered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_mail(dir.path(), 40);
    let mut known = deals(&store);
    let unknown = known.pop().expect("a deal HubSpot will not know");
    let server = HubSpot::start("pat-rotated", &known, (100, Duration::from_secs(1)));
    let queued = outbox::enqueue_new(store.conn(), "hs", outbox::now_ms()).expect("enqueue");

    let hubspot = adapter(&server, 2);
    let report = outbox::push(store.conn(), "hs", &hubspot, quick(), &|| false).expect("push");
    let paused = report.paused.expect("a 401 pauses the connection");
    assert!(paused.contains("refused the token") && paused.contains("401"), "{paused}");
    assert!(server.emails().is_empty());

    server.set_token(TOKEN);
    dealthread_core::crm::save(store.conn(), "hs", hubspot::KIND, "{}", 0).expect("unpause");
    let report = outbox::push(store.conn(), "hs", &hubspot, quick(), &|| false).expect("push");
    let on_unknown: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id WHERE m.deal_id = ?1",
            [&unknown],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(report.dead as i64, on_unknown, "{report:?}");
    assert_eq!(report.sent, queued - on_unknown as usize);
    let dead = outbox::unsent(store.conn()).expect("rows");
    assert!(
        dead.iter().all(|r| r.state == "dead"
            && r.last_error
                .as_deref()
                .is_some_and(|e| e.contains("HTTP 400") && e.contains("associations are invalid"))),
        "{dead:?}"
    );
}
