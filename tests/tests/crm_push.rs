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
    // These tests are about faults, not flood control (tested on its own):
    // the corpus's few sender domains would otherwise be paced over hours.
    dealthread_core::store::settings::set(store.conn(), "flood_limit_per_hour", "1000000")
        .expect("no flood limit");
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

/// A store with hand-written messages: `(sender, deal, body)` each.
fn store_with(dir: &std::path::Path, mails: &[(&str, &str, &str)]) -> Store {
    let mut store = Store::open_with_key(&dir.join("s.db"), Some(StoreKey::from_bytes([8; 32])))
        .expect("open the store");
    let batch: Vec<ingest::RawMessage> = mails
        .iter()
        .enumerate()
        .map(|(i, (from, deal, body))| ingest::RawMessage {
            bytes: format!(
                "From: {from}\r\nTo: sam@acme.example\r\nCc: deal+{deal}@in.acme.example\r\nSubject: Order {i}\r\n\
                 Date: Tue, 10 Nov 2026 10:{:02}:00 +0000\r\nMessage-ID: <s{i}@test>\r\n\r\n{body}\r\n",
                i % 60
            )
            .into_bytes(),
            source: "file".into(),
            locator: format!("s{i}"),
        })
        .collect();
    ingest::ingest_batch(&mut store, &batch, &ReadOptions::default(), 1_800_000_000)
        .expect("ingest");
    dealthread_core::crm::save(store.conn(), "hooks", webhook::KIND, "{}", 0).expect("account");
    store
}

#[test]
fn each_deal_shares_what_its_level_allows_and_numbers_are_redacted() {
    use dealthread_core::crm::sharing::{self, SharingLevel};
    use dealthread_core::matching::EntityKind;

    let dir = tempfile::tempdir().expect("tempdir");
    let body = "Please charge card 4111 1111 1111 1111, order 1234567890123 stays.\r\n\r\n> old quoted text";
    let store = store_with(
        dir.path(),
        &[
            ("buyer@a.example", "D-1", body),
            ("buyer@b.example", "D-2", body),
            ("buyer@c.example", "D-3", body),
        ],
    );
    sharing::set_level(store.conn(), EntityKind::Deal, "D-1", Some(SharingLevel::Metadata), 0)
        .expect("level");
    sharing::set_level(store.conn(), EntityKind::Deal, "D-3", Some(SharingLevel::Full), 0)
        .expect("level");
    let receiver = Receiver::start(SECRET);
    outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("enqueue");
    outbox::push(
        store.conn(),
        "hooks",
        &adapter(&receiver, Duration::from_secs(2)),
        quick(),
        &|| false,
    )
    .expect("push");

    let sent: std::collections::HashMap<String, serde_json::Value> = receiver
        .activities()
        .into_values()
        .map(|a| {
            (
                a.body["data"]["deal_id"].as_str().unwrap_or_default().to_string(),
                a.body["data"].clone(),
            )
        })
        .collect();
    let metadata = &sent["D-1"];
    assert_eq!(metadata["sharing"], "metadata");
    assert!(
        metadata.get("subject").is_none() && metadata.get("latest_reply").is_none(),
        "{metadata:#}"
    );
    assert_eq!(metadata["from"]["address"], "buyer@a.example");

    let default = &sent["D-2"];
    assert_eq!(default["sharing"], "latest_reply", "the default level");
    assert_eq!(default["subject"], "Order 1");
    let reply = default["latest_reply"].as_str().expect("the latest reply");
    assert!(!reply.contains("4111 1111 1111 1111") && reply.contains("1234567890123"), "{reply}");
    assert!(default.get("text").is_none(), "no full body at the default level");

    let full = &sent["D-3"];
    let text = full["text"].as_str().expect("the full text");
    assert!(text.contains("old quoted text") && !text.contains("4111 1111 1111 1111"), "{text}");
    assert_eq!(full["redacted"], 1);
    assert!(full["attachments"].is_array());

    // Sharing less with D-2 later sends its activity again as an update.
    sharing::set_level(store.conn(), EntityKind::Deal, "D-2", Some(SharingLevel::Metadata), 0)
        .expect("level");
    outbox::push(
        store.conn(),
        "hooks",
        &adapter(&receiver, Duration::from_secs(2)),
        quick(),
        &|| false,
    )
    .expect("push");
    let updates: Vec<serde_json::Value> = receiver
        .activities()
        .into_values()
        .filter(|a| a.body["type"] == "activity.update")
        .map(|a| a.body["data"].clone())
        .collect();
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(
        (updates[0]["deal_id"].as_str(), updates[0]["sharing"].as_str()),
        (Some("D-2"), Some("metadata"))
    );
    assert!(updates[0].get("latest_reply").is_none());

    // The preview is exactly what was sent.
    let id: i64 = store
        .conn()
        .query_row("SELECT id FROM messages WHERE deal_id = 'D-3'", [], |r| r.get(0))
        .expect("id");
    assert_eq!(&sharing::payload(store.conn(), id).expect("preview"), full);
}

#[test]
fn flood_control_holds_a_noisy_domain_back_and_lets_the_others_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut mails: Vec<(String, &str, &str)> =
        (0..12).map(|i| (format!("bot{i}@noisy.example"), "D-1", "Automated order")).collect();
    mails.extend((0..3).map(|i| (format!("person{i}@quiet.example"), "D-2", "A question")));
    let refs: Vec<(&str, &str, &str)> =
        mails.iter().map(|(f, d, b)| (f.as_str(), *d, *b)).collect();
    let store = store_with(dir.path(), &refs);
    dealthread_core::store::settings::set(store.conn(), "flood_limit_per_hour", "5")
        .expect("limit");
    let receiver = Receiver::start(SECRET);
    outbox::enqueue_new(store.conn(), "hooks", outbox::now_ms()).expect("enqueue");
    let policy = Policy { until_empty: false, ..quick() };
    let report = outbox::push(
        store.conn(),
        "hooks",
        &adapter(&receiver, Duration::from_secs(2)),
        policy,
        &|| false,
    )
    .expect("push");
    assert_eq!((report.sent, report.held), (8, 7), "{report:?}");

    let from: Vec<String> = receiver
        .activities()
        .values()
        .map(|a| a.body["data"]["from"]["address"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(from.iter().filter(|a| a.ends_with("@noisy.example")).count(), 5);
    assert_eq!(
        from.iter().filter(|a| a.ends_with("@quiet.example")).count(),
        3,
        "others are not held"
    );
    let counts = outbox::counts(store.conn(), Some("hooks")).expect("counts");
    assert_eq!((counts.held, counts.pending, counts.sent), (7, 0, 8), "{counts:?}");
    let held = outbox::unsent(store.conn()).expect("rows");
    assert!(
        held.iter().all(|r| r
            .held_reason
            .as_deref()
            .is_some_and(|h| h.contains("5 activities from noisy.example"))),
        "{held:?}"
    );
    // A second pass within the hour sends nothing more from that domain.
    let again = outbox::push(
        store.conn(),
        "hooks",
        &adapter(&receiver, Duration::from_secs(2)),
        policy,
        &|| false,
    )
    .expect("push");
    assert_eq!(again.sent, 0, "{again:?}");
}
