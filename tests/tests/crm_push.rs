//! The outbox and the webhook adapter against a receiver that fails on
//! purpose: every activity arrives exactly once in effect through 30%
//! faults (including answers lost after the receiver committed), 429 is
//! waited out as asked, a refused signature pauses pushing, and a request
//! the receiver rejects is dead-lettered and can be replayed.

use std::time::{Duration, Instant};

use dealthread_core::Store;
use dealthread_core::crm::outbox::{self, Policy};
use dealthread_core::crm::webhook::{self, Webhook, WebhookConfig};
use dealthread_core::ingest;
use dealthread_core::rawstore::StoreKey;
use dealthread_core::sources::Retry;
use dealthread_mail::ReadOptions;
use dealthread_tests::corpus::{Rng, message};
use dealthread_tests::crm::Receiver;

const SECRET: &str = "whsec_test_4f1c2a";

/// A store holding `count` generated messages, and the webhook account.
fn store_with_mail(dir: &std::path::Path, count: usize) -> Store {
    let mut store = Store::open_with_key(&dir.join("c.db"), Some(StoreKey::from_bytes([3; 32])))
        .expect("open the store");
    let mut rng = Rng::new(77);
    let batch: Vec<ingest::RawMessage> = (0..count)
        .map(|i| ingest::RawMessage {
            bytes: message(&mut rng, i),
            source: "file".into(),
            locator: format!("m{i}"),
        })
        .collect();
    for chunk in batch.chunks(250) {
        ingest::ingest_batch(&mut store, chunk, &ReadOptions::default(), 1_800_000_000)
            .expect("ingest");
    }
    dealthread_core::crm::save(store.conn(), "hooks", webhook::KIND, "{}", 0).expect("account");
    store
}

fn adapter(receiver: &Receiver, timeout: Duration) -> Webhook {
    Webhook::new(&WebhookConfig::new("hooks", &receiver.url), SECRET)
        .and_then(|w| w.with_timeout(timeout))
        .expect("a webhook adapter")
}

fn quick() -> Policy {
    Policy {
        retry: Retry {
            attempts: 10,
            base: Duration::from_millis(5),
            max: Duration::from_millis(80),
        },
        until_empty: true,
        budget: Duration::from_secs(240),
    }
}

fn crm_worthy(store: &Store) -> Vec<(String, String)> {
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT dedupe_key, deal_id FROM messages
             WHERE deal_id IS NOT NULL AND kind = 'normal' AND parse_error IS NULL ORDER BY id",
        )
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

#[test]
fn a_thousand_activities_through_thirty_percent_faults_arrive_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_mail(dir.path(), 1100);
    let worthy = crm_worthy(&store);
    assert!(worthy.len() >= 1000, "the corpus gives enough CRM-worthy mail: {}", worthy.len());
    let receiver = Receiver::start(SECRET);
    receiver.faults(|f| {
        f.server_error_pct = 20;
        f.rate_limited_pct = 7;
        f.lost_answer_pct = 3;
        f.retry_after_secs = 0;
        f.stall_by = Duration::from_millis(700);
    });

    let queued = outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("enqueue");
    assert_eq!(queued, worthy.len());
    assert_eq!(outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("again"), 0);

    let report = outbox::push(
        store.conn(),
        "hooks",
        &adapter(&receiver, Duration::from_millis(300)),
        quick(),
        &|| false,
    )
    .expect("push");
    assert_eq!((report.sent, report.dead), (worthy.len(), 0), "{report:?}");
    assert!(report.retried > worthy.len() / 5, "the faults happened: {report:?}");

    let activities = receiver.activities();
    assert_eq!(activities.len(), worthy.len(), "exactly one activity per message");
    for (dedupe_key, deal_id) in &worthy {
        let key = format!("{dedupe_key}|hooks|create");
        let activity = activities.get(&key).unwrap_or_else(|| panic!("no activity for {key}"));
        assert_eq!(activity.body["data"]["deal_id"].as_str(), Some(deal_id.as_str()), "{key}");
        assert_eq!(activity.body["type"], "activity.create");
    }
    let resent = activities.values().filter(|a| a.deliveries > 1).count();
    assert!(resent > 0, "answers lost after the commit were re-sent with the same key");
    let counts = outbox::counts(store.conn(), Some("hooks")).expect("counts");
    assert_eq!(
        (counts.sent, counts.pending + counts.failed + counts.dead),
        (worthy.len() as i64, 0)
    );
}

#[test]
fn a_rate_limit_storm_is_waited_out_as_long_as_retry_after_asks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_mail(dir.path(), 20);
    let receiver = Receiver::start(SECRET);
    receiver.faults(|f| {
        f.storm = 3;
        f.retry_after_secs = 1;
    });
    let queued = outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("enqueue");
    let started = Instant::now();
    let report = outbox::push(
        store.conn(),
        "hooks",
        &adapter(&receiver, Duration::from_secs(2)),
        quick(),
        &|| false,
    )
    .expect("push");
    assert_eq!(report.sent, queued, "{report:?}");
    assert_eq!(receiver.statuses().iter().filter(|s| **s == 429).count(), 3);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());
}

#[test]
fn a_refused_signature_pauses_pushing_and_a_rejected_activity_is_dead_lettered_then_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_mail(dir.path(), 30);
    let receiver = Receiver::start("whsec_rotated_elsewhere");
    let queued = outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("enqueue");
    let webhook = adapter(&receiver, Duration::from_secs(2));

    let report = outbox::push(store.conn(), "hooks", &webhook, quick(), &|| false).expect("push");
    let paused = report.paused.expect("a 401 pauses the adapter");
    assert!(paused.contains("refused the signature") && paused.contains("HTTP 401"), "{paused}");
    assert_eq!((report.sent, receiver.statuses()), (0, vec![401]), "one request, then it stopped");
    let account = dealthread_core::crm::account(store.conn(), "hooks").expect("account");
    assert_eq!(account.and_then(|a| a.paused_reason), Some(paused));
    assert_eq!(outbox::counts(store.conn(), None).expect("counts").pending, queued as i64);

    // The receiver is fixed, but refuses one activity as invalid.
    receiver.set_secret(SECRET);
    let first = crm_worthy(&store).first().cloned().expect("a message");
    let rejected = format!("{}|hooks|create", first.0);
    receiver.faults(|f| {
        f.reject.insert(rejected.clone());
    });
    dealthread_core::crm::save(store.conn(), "hooks", webhook::KIND, "{}", 0).expect("unpause");
    let report = outbox::push(store.conn(), "hooks", &webhook, quick(), &|| false).expect("push");
    assert_eq!((report.sent, report.dead), (queued - 1, 1), "{report:?}");
    let dead: Vec<_> = outbox::unsent(store.conn()).expect("rows");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].state, "dead");
    let reason = dead[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains("HTTP 422") && reason.contains("not a known deal"), "{reason}");

    receiver.faults(|f| f.reject.clear());
    assert_eq!(outbox::replay(store.conn(), None, outbox::now_ms()).expect("replay"), 1);
    let report = outbox::push(store.conn(), "hooks", &webhook, quick(), &|| false).expect("push");
    assert_eq!(report.sent, 1);
    assert_eq!(receiver.activities().len(), queued);
}

#[test]
fn a_correction_sends_one_update_and_never_a_second_create() {
    use dealthread_core::matching::EntityKind;
    use dealthread_core::matching::corrections::{self, Scope};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = store_with_mail(dir.path(), 12);
    let receiver = Receiver::start(SECRET);
    let hook = adapter(&receiver, Duration::from_secs(2));
    outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("enqueue");
    outbox::push(store.conn(), "hooks", &hook, quick(), &|| false).expect("push");
    assert_eq!(receiver.activities().len(), 12);

    // Move a whole thread of six to another of the store's deals.
    let (first, target): (i64, String) = store
        .conn()
        .query_row("SELECT min(id), (SELECT max(deal_id) FROM messages) FROM messages", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("a message and a deal");
    let moved = corrections::move_to(
        store.conn_mut(),
        Scope::Thread(first),
        EntityKind::Deal,
        &target,
        "sam",
        0,
    )
    .expect("move");
    // A pending update is not queued twice by a second correction.
    corrections::mark_not_worthy(store.conn_mut(), Scope::Message(first), "sam", 0)
        .expect("ignore");
    let report = outbox::push(store.conn(), "hooks", &hook, quick(), &|| false).expect("push");
    assert_eq!(report.sent, moved.messages, "{report:?}");

    let activities = receiver.activities();
    let creates = activities.values().filter(|a| a.body["type"] == "activity.create").count();
    let updates: Vec<&serde_json::Value> = activities
        .values()
        .filter(|a| a.body["type"] == "activity.update")
        .map(|a| &a.body)
        .collect();
    assert_eq!(creates, 12, "still one create per message");
    assert_eq!(updates.len(), moved.messages);
    assert!(updates.iter().all(|u| u["data"]["deal_id"] == target.as_str()), "{updates:#?}");
    let ignored = updates.iter().filter(|u| u["data"]["crm_worthy"] == false).count();
    assert_eq!(ignored, 1, "the ignored message's update says so");
}
