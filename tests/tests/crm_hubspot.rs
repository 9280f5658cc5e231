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
    // Small batches, so the faults land on many batch requests.
    config.batch_size = 10;
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
        f.lost_answer_pct = 12;
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
    assert!(server.batches() >= emails.len() / 10, "created in batches: {}", server.batches());
    assert!(server.lost_answers() > 0, "the dangerous case happened and was absorbed");
    assert!(
        server.searches() < emails.len(),
        "one search per batch, not per engagement: {}",
        server.searches()
    );
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

/// The engagement made for a message, by its create key.
fn engagement_of(
    server: &HubSpot,
    store: &Store,
    message: i64,
) -> dealthread_tests::hubspot::Email {
    let key: String = store
        .conn()
        .query_row(
            "SELECT dedupe_key || '|hs|create' FROM messages WHERE id = ?1",
            [message],
            |r| r.get(0),
        )
        .expect("the message");
    server
        .emails()
        .into_iter()
        .find(|e| e.properties["dealthread_key"] == key.as_str())
        .expect("an engagement for the message")
}

#[test]
fn a_correction_moves_the_engagement_and_ignoring_archives_it() {
    use dealthread_core::matching::EntityKind;
    use dealthread_core::matching::corrections::{self, Scope};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store_with_mail(dir.path(), 12);
    let extra = r#"{"deals": [{"id": "D-9000", "name": "Expansion", "stage": "Discovery"}]}"#;
    dealthread_core::entities::EntitiesFile::parse(extra, "extra")
        .expect("parse")
        .store(store.conn_mut(), 0)
        .expect("store");
    let server = HubSpot::start(TOKEN, &deals(&store), (100, Duration::from_secs(1)));
    let hubspot = adapter(&server, 2);
    let queued = outbox::enqueue_new(store.conn(), "hs", outbox::now_ms()).expect("enqueue");
    assert_eq!(queued, 12);
    outbox::push(store.conn(), "hs", &hubspot, quick(), &|| false).expect("push");
    assert_eq!(server.emails().len(), 12);

    let (moved, ignored): (i64, i64) = store
        .conn()
        .query_row("SELECT min(id), max(id) FROM messages", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("ids");
    let before = engagement_of(&server, &store, moved);
    corrections::move_to(
        store.conn_mut(),
        Scope::Message(moved),
        EntityKind::Deal,
        "D-9000",
        "sam",
        0,
    )
    .expect("move");
    corrections::mark_not_worthy(store.conn_mut(), Scope::Message(ignored), "sam", 0)
        .expect("ignore");
    assert_eq!(outbox::enqueue_new(store.conn(), "hs", outbox::now_ms()).expect("enqueue"), 0);
    let report = outbox::push(store.conn(), "hs", &hubspot, quick(), &|| false).expect("push");
    assert_eq!((report.sent, report.dead), (2, 0), "two updates: {report:?}");

    let emails = server.emails();
    assert_eq!(emails.len(), 12, "an update never creates a second engagement");
    let after = engagement_of(&server, &store, moved);
    assert_eq!(after.id, before.id);
    assert_eq!(after.deals, vec!["D-9000".to_string()], "the association moved");
    assert!(engagement_of(&server, &store, ignored).archived, "not CRM-worthy: archived");

    // Sharing less with D-9000 updates what the engagement holds.
    assert!(after.properties.get("hs_email_text").is_some_and(|t| !t.is_null()));
    dealthread_core::crm::sharing::set_level(
        store.conn(),
        EntityKind::Deal,
        "D-9000",
        Some(dealthread_core::crm::sharing::SharingLevel::Metadata),
        0,
    )
    .expect("sharing level");
    outbox::push(store.conn(), "hs", &hubspot, quick(), &|| false).expect("push");
    let shared = engagement_of(&server, &store, moved);
    assert!(
        shared.properties.get("hs_email_text").is_none(),
        "the text is gone: {:?}",
        shared.properties
    );
    assert!(shared.properties.get("hs_email_subject").is_none());
    assert_eq!(server.emails().len(), 12);

    // Undoing the move moves it back, again without a new engagement.
    corrections::undo(store.conn_mut(), Some(1), "sam", 0).expect("undo the move");
    outbox::push(store.conn(), "hs", &hubspot, quick(), &|| false).expect("push");
    assert_eq!(engagement_of(&server, &store, moved).deals, before.deals);
    assert_eq!(server.emails().len(), 12);
}

#[test]
fn the_entity_pull_lists_everything_once_then_only_what_changed() {
    use dealthread_core::matching::MatchStatus;
    use dealthread_core::store::matches;

    let server = HubSpot::start(TOKEN, &[], (100, Duration::from_secs(1)));
    server.put_record("companies", "501", serde_json::json!({"name": "Northwind", "domain": "northwind.example", "hs_additional_domains": "nw.example;bad domain"}), &[]);
    for n in 0..130 {
        server.put_record(
            "contacts",
            &format!("{}", 700 + n),
            serde_json::json!({"email": format!("person{n}@northwind.example"), "firstname": "Person", "lastname": format!("{n}"), "associatedcompanyid": "501"}),
            &[],
        );
    }
    server.put_record("deals", "901", serde_json::json!({"dealname": "Renewal", "dealstage": "contractsent", "amount": "48000", "closedate": "2026-12-18T00:00:00Z"}), &["700"]);
    let hubspot = adapter(&server, 2);

    let first = hubspot.pull(None).expect("the first pull");
    assert_eq!(first.entities.contacts.len(), 130, "every page was read");
    assert_eq!(first.entities.deals[0].contact_ids, vec!["700".to_string()]);
    assert_eq!(first.entities.deals[0].amount, Some(48000.0));
    assert_eq!(first.entities.companies[0].domains, vec!["northwind.example", "nw.example"]);
    assert_eq!(first.skipped.len(), 1, "{:?}", first.skipped);
    let checkpoint = first.checkpoint.expect("a checkpoint");

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store =
        Store::open_with_key(&dir.path().join("p.db"), Some(StoreKey::from_bytes([5; 32])))
            .expect("open the store");
    first.entities.store(store.conn_mut(), 0).expect("store");
    let mail = b"From: New Buyer <buyer@northwind.example>\r\nTo: sam@acme.example\r\nSubject: PO\r\nMessage-ID: <po1@nw>\r\nDate: Tue, 10 Nov 2026 10:00:00 +0000\r\n\r\nPO attached.\r\n";
    let batch =
        [ingest::RawMessage { bytes: mail.to_vec(), source: "file".into(), locator: "po".into() }];
    let id = match ingest::ingest_batch(&mut store, &batch, &ReadOptions::default(), 1_800_000_000)
        .expect("ingest")
        .remove(0)
    {
        ingest::Outcome::New { id } => id,
        other => panic!("{other:?}"),
    };
    let view = matches::view(store.conn(), id).expect("view").expect("row");
    assert_eq!(view.assignment.company_id.as_deref(), Some("501"), "the company's domain matched");

    // Later the buyer becomes a contact on a new deal; only that changed.
    server.put_record("contacts", "990", serde_json::json!({"email": "buyer@northwind.example", "firstname": "New", "lastname": "Buyer"}), &[]);
    server.put_record(
        "deals",
        "902",
        serde_json::json!({"dealname": "Add-on", "dealstage": "appointmentscheduled"}),
        &["990"],
    );
    let second = hubspot.pull(Some(checkpoint)).expect("the incremental pull");
    assert_eq!(
        second.entities.contacts.len(),
        1,
        "only the changed contact: {:?}",
        second.entities.contacts
    );
    let deal_ids: Vec<&str> = second.entities.deals.iter().map(|d| d.id.as_str()).collect();
    assert!(deal_ids.contains(&"902") && deal_ids.len() <= 2, "{deal_ids:?}");
    let add_on = second.entities.deals.iter().find(|d| d.id == "902").expect("the new deal");
    assert_eq!(add_on.contact_ids, vec!["990".to_string()], "contacts come from the batch read");
    assert!(second.checkpoint > Some(checkpoint));
    second.entities.store(store.conn_mut(), 0).expect("store");
    // The message was matched (to the company), so the new deal is not
    // forced on it; it stays where the rules put it.
    let view = matches::view(store.conn(), id).expect("view").expect("row");
    assert_eq!(view.status, MatchStatus::Matched);
}
