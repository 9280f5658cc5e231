//! The store against real SQLite files: threading whatever the arrival
//! order, dedupe across sources, reused Message-IDs, migrations from every
//! earlier version, and search.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dealthread_core::Store;
use dealthread_core::ingest::{Outcome, RawMessage, ingest_batch};
use dealthread_core::rawstore::StoreKey;
use dealthread_core::store::search::{SearchQuery, search};
use dealthread_core::store::{attachments, messages, migrate, threads};
use dealthread_mail::ReadOptions;
use rusqlite::Connection;

const NOW: i64 = 1_795_000_000; // 2026-11-18

fn open(path: &Path) -> Store {
    Store::open_with_key(path, Some(StoreKey::from_bytes([42; 32]))).expect("the store opens")
}

/// A message with the given ids; `refs` and `irt` are the References and
/// In-Reply-To headers; `minute` orders the Date headers.
fn mail(id: &str, refs: &[&str], irt: Option<&str>, minute: u32, subject: &str) -> Vec<u8> {
    let mut m = format!(
        "From: person-{id}@customer.example\r\nTo: sam@acme.example\r\nSubject: {subject}\r\nDate: Mon, 9 Nov 2026 10:{minute:02}:00 +0000\r\nMessage-ID: <{id}@x.example>\r\n"
    );
    if !refs.is_empty() {
        let refs: Vec<String> = refs.iter().map(|r| format!("<{r}@x.example>")).collect();
        m.push_str(&format!("References: {}\r\n", refs.join(" ")));
    }
    if let Some(irt) = irt {
        m.push_str(&format!("In-Reply-To: <{irt}@x.example>\r\n"));
    }
    m.push_str(&format!("\r\nMessage {id}.\r\n"));
    m.into_bytes()
}

fn ingest(store: &mut Store, name: &str, raw: Vec<u8>, source: &str) -> Outcome {
    let batch = [RawMessage { bytes: raw, source: source.into(), locator: name.into() }];
    ingest_batch(store, &batch, &ReadOptions::default(), NOW).expect("ingest").remove(0)
}

/// Which Message-IDs share a thread: the partition, independent of row ids.
fn partition(conn: &Connection) -> BTreeSet<BTreeSet<String>> {
    let mut by_thread: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT thread_id, message_id FROM messages").expect("prepare");
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).expect("query");
    for row in rows {
        let (thread, id) = row.expect("row");
        by_thread.entry(thread).or_default().insert(id);
    }
    by_thread.into_values().collect()
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            out.push(p);
        }
    }
    out
}

#[test]
fn a_thread_is_the_same_whatever_order_its_messages_arrive_in() {
    // a: the quote. b: its reply. r2 names only b (no References), r3 only a:
    // arriving before a and b they start threads of their own, which must
    // merge when b arrives. e replies through a parent (x) we never see.
    let thread = [
        ("a", mail("a", &[], None, 1, "Quote")),
        ("b", mail("b", &["a"], Some("a"), 2, "Re: Quote")),
        ("r2", mail("r2", &[], Some("b"), 3, "Re: Quote")),
        ("r3", mail("r3", &[], Some("a"), 4, "Re: Quote")),
        ("e", mail("e", &["a", "x"], Some("x"), 5, "Re: Quote")),
    ];
    // Same subject, no references: never threaded with the others.
    let stranger = mail("s", &[], None, 6, "Re: Quote");

    let expected: BTreeSet<BTreeSet<String>> = [
        thread.iter().map(|(id, _)| format!("{id}@x.example")).collect(),
        BTreeSet::from(["s@x.example".to_string()]),
    ]
    .into_iter()
    .collect();
    let mut trees = BTreeSet::new();
    let orders = permutations(thread.len());
    assert_eq!(orders.len(), 120);
    for order in orders {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(&dir.path().join("t.db"));
        for (n, &i) in order.iter().enumerate() {
            if n == 2 {
                ingest(&mut store, "s", stranger.clone(), "file");
            }
            ingest(&mut store, thread[i].0, thread[i].1.clone(), "file");
        }
        assert_eq!(partition(store.conn()), expected, "arrival order {order:?}");

        let thread_id =
            threads::thread_of_key(store.conn(), "a@x.example").expect("lookup").expect("a seen");
        let tree: Vec<(String, usize)> = threads::tree(store.conn(), thread_id)
            .expect("tree")
            .into_iter()
            .map(|(row, depth)| {
                let id: String = store
                    .conn()
                    .query_row("SELECT message_id FROM messages WHERE id = ?1", [row], |r| r.get(0))
                    .expect("message id");
                (id, depth)
            })
            .collect();
        trees.insert(tree);
    }
    assert_eq!(trees.len(), 1, "the reply tree differs between arrival orders: {trees:?}");
    let tree = trees.into_iter().next().unwrap_or_default();
    let shape: Vec<(&str, usize)> =
        tree.iter().map(|(id, d)| (id.trim_end_matches("@x.example"), *d)).collect();
    assert_eq!(shape, vec![("a", 0), ("b", 1), ("r2", 2), ("r3", 1), ("e", 1)]);
}

#[test]
fn the_same_message_from_two_sources_is_one_message_with_two_provenances() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    let raw = mail("once", &[], None, 1, "Hello");
    let mut via_provider =
        b"Received: from mx2 by provider; Mon, 9 Nov 2026 10:01:00 +0000\r\n".to_vec();
    via_provider.extend_from_slice(&raw);
    assert!(matches!(ingest(&mut store, "INBOX/1", raw.clone(), "imap:team"), Outcome::New { .. }));
    assert!(matches!(
        ingest(&mut store, "msg_77", via_provider, "provider:team"),
        Outcome::Duplicate { .. }
    ));
    assert!(matches!(ingest(&mut store, "INBOX/1", raw, "imap:team"), Outcome::Duplicate { .. }));
    assert_eq!(messages::count(store.conn()).expect("count"), 1);
    let sources: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM message_sources", [], |r| r.get(0))
        .expect("sources");
    assert_eq!(sources, 2, "re-reading the same source adds no provenance");
}

#[test]
fn two_messages_reusing_one_message_id_are_both_kept_and_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    ingest(&mut store, "1", mail("dup", &[], None, 1, "First"), "file");
    ingest(&mut store, "2", mail("dup", &[], None, 2, "Second, other content"), "file");
    let flagged: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM messages WHERE message_id_reused = 1", [], |r| r.get(0))
        .expect("flags");
    assert_eq!(messages::count(store.conn()).expect("count"), 2);
    assert_eq!(flagged, 2);
}

/// Creates a database at `version` holding one message, as a user's would
/// be: the message written by version 1's SQL, then upgraded to `version`.
fn database_at(version: i64, path: &Path) {
    let mut conn = Connection::open(path).expect("create");
    migrate::apply_up_to(&mut conn, path, 1).expect("version 1");
    // It failed DMARC: version 14 works its warning out from the document.
    let mut raw =
        b"Authentication-Results: mx.acme.example; dmarc=fail header.from=customer.example\r\n"
            .to_vec();
    raw.extend(mail("old", &[], None, 1, "Renewal quote from the old days"));
    let doc = dealthread_mail::read_message(&raw, &ReadOptions::default()).expect("reads");
    let json = serde_json::to_string(&doc).expect("json");
    conn.execute(
        "INSERT INTO messages (dedupe_key, message_id, content_hash, raw_sha256, raw_size, subject,
             from_address, date, sort_time, arrived_at, kind, latest_reply, text_body, document)
         VALUES (?1, 'old@x.example', ?2, ?2, 10, ?3, 'person-old@customer.example', ?4, ?5, ?5,
                 'normal', 'Message old.', 'Message old.', ?6)",
        rusqlite::params![doc.dedupe_key, doc.content_hash, doc.subject, doc.date, NOW, json],
    )
    .expect("insert at version 1");
    migrate::apply_up_to(&mut conn, path, version).expect("upgrade to the old version");
}

#[test]
fn databases_from_every_earlier_version_migrate_with_their_data() {
    for version in 1..migrate::latest_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("v{version}.db"));
        database_at(version, &path);
        let store = Store::open_with_key(&path, Some(StoreKey::from_bytes([42; 32])))
            .unwrap_or_else(|e| panic!("migrating from v{version}: {e}"));
        let thread: Option<i64> = store
            .conn()
            .query_row(
                "SELECT thread_id FROM messages WHERE message_id = 'old@x.example'",
                [],
                |r| r.get(0),
            )
            .expect("row survives");
        assert!(thread.is_some(), "v{version}: the old message was not threaded");
        let hits =
            search(store.conn(), &SearchQuery { text: "renewal".into(), ..Default::default() })
                .expect("search");
        assert_eq!(hits.len(), 1, "v{version}: the old message is not searchable");
        let by_sender =
            search(store.conn(), &SearchQuery { text: "person-old".into(), ..Default::default() })
                .expect("search");
        assert_eq!(by_sender.len(), 1, "v{version}: participants were not backfilled");
        let warnings: Option<String> = store
            .conn()
            .query_row(
                "SELECT warnings FROM messages WHERE message_id = 'old@x.example'",
                [],
                |r| r.get(0),
            )
            .expect("warnings");
        assert!(
            warnings.is_some_and(|w| w.contains("failed DMARC")),
            "v{version}: the warning was not backfilled"
        );
    }
}

#[test]
fn search_finds_by_prefix_filters_and_highlights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    dealthread_core::demo::load_if_empty(&mut store).expect("demo");

    let hits =
        search(store.conn(), &SearchQuery { text: "CFO whether".into(), ..Default::default() })
            .expect("search");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        hits[0].from.as_ref().map(|m| m.address.as_str()),
        Some("dana.reyes@northwind.example")
    );
    assert!(
        hits[0].snippet.iter().any(|p| p.highlight && p.text == "CFO"),
        "{:?}",
        hits[0].snippet
    );

    let prefix =
        search(store.conn(), &SearchQuery { text: "questionn".into(), ..Default::default() })
            .expect("search");
    assert_eq!(prefix.len(), 1, "a prefix finds 'questionnaire': {prefix:?}");

    let on_deal =
        SearchQuery { text: "pilot".into(), deal_id: Some("D-1001".into()), ..Default::default() };
    assert!(
        search(store.conn(), &on_deal).expect("search").is_empty(),
        "the filter excludes other deals"
    );

    // Within a deal, through the deal's token in the index; the token
    // follows the message when it moves and never matches the rep's words.
    let pilot = search(store.conn(), &SearchQuery { text: "pilot".into(), ..Default::default() })
        .expect("search");
    let first = pilot.first().expect("the demo mentions a pilot");
    let home = first.deal_id.clone().expect("on a deal");
    let in_home = SearchQuery { text: "pilot".into(), deal_id: Some(home), ..Default::default() };
    assert!(search(store.conn(), &in_home).expect("search").iter().any(|h| h.id == first.id));
    store
        .conn()
        .execute("UPDATE messages SET deal_id = 'D-1001' WHERE id = ?1", [first.id])
        .expect("move the message");
    assert!(!search(store.conn(), &in_home).expect("search").iter().any(|h| h.id == first.id));
    let moved = search(store.conn(), &on_deal).expect("search");
    assert_eq!(moved.iter().map(|h| h.id).collect::<Vec<_>>(), vec![first.id], "{moved:?}");
    let tag = SearchQuery { text: "zdeal".into(), ..Default::default() };
    assert!(search(store.conn(), &tag).expect("search").is_empty(), "tags are not text");

    let with_files = SearchQuery {
        text: "PO-NW-20931".into(),
        has_attachment: Some(true),
        ..Default::default()
    };
    assert_eq!(
        search(store.conn(), &with_files).expect("search").len(),
        1,
        "attachment names are searched"
    );

    let auto = SearchQuery {
        text: "office".into(),
        kind: Some(dealthread_mail::classify::MessageKind::AutoReply),
        ..Default::default()
    };
    assert_eq!(search(store.conn(), &auto).expect("search").len(), 1);

    // "order" is in one subject and in another message's body only.
    let ranked = search(store.conn(), &SearchQuery { text: "order ".into(), ..Default::default() })
        .expect("search");
    let subjects: Vec<&str> = ranked.iter().filter_map(|h| h.subject.as_deref()).collect();
    assert_eq!(subjects.first(), Some(&"Signed order form: platform expansion"), "{subjects:?}");
    assert!(
        subjects.contains(&"Re: Renewal quote for 250 seats"),
        "body matches are found too: {subjects:?}"
    );
}

#[test]
fn retention_purges_old_raw_mime_and_keeps_everything_read_from_it() {
    use dealthread_core::rawstore::BlobKind;
    use dealthread_core::retention::purge_raw;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    let day = 86_400;
    let old = {
        let mut raw = mail("old", &[], None, 1, "Renewal quote, last quarter").to_vec();
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
        raw.splice(at..at, b"\r\nMIME-Version: 1.0".iter().copied());
        raw
    };
    let batch = [RawMessage { bytes: old, source: "file".into(), locator: "old".into() }];
    ingest_batch(&mut store, &batch, &ReadOptions::default(), NOW - 40 * day).expect("old mail");
    let batch = [RawMessage {
        bytes: mail("new", &[], None, 2, "Fresh"),
        source: "file".into(),
        locator: "new".into(),
    }];
    ingest_batch(&mut store, &batch, &ReadOptions::default(), NOW - 5 * day).expect("new mail");

    let raw_of = |store: &Store, id: &str| -> String {
        store
            .conn()
            .query_row("SELECT raw_sha256 FROM messages WHERE message_id = ?1", [id], |r| r.get(0))
            .expect("raw sha")
    };
    let (old_sha, new_sha) = (raw_of(&store, "old@x.example"), raw_of(&store, "new@x.example"));
    let report = purge_raw(&mut store, None, NOW).expect("purge");
    assert_eq!(report.messages, 1, "only mail older than the default 30 days");
    assert!(report.bytes_freed > 0);
    assert!(store.raw().get(BlobKind::Message, &old_sha).is_err(), "old raw MIME is gone");
    assert!(store.raw().get(BlobKind::Message, &new_sha).is_ok(), "recent raw MIME stays");
    let hits = search(store.conn(), &SearchQuery { text: "renewal".into(), ..Default::default() })
        .expect("search");
    assert_eq!(hits.len(), 1, "the purged message is still searchable");
    let purged_at: Option<i64> = store
        .conn()
        .query_row(
            "SELECT raw_purged_at FROM messages WHERE message_id = 'old@x.example'",
            [],
            |r| r.get(0),
        )
        .expect("marker");
    assert_eq!(purged_at, Some(NOW));
    assert_eq!(
        purge_raw(&mut store, None, NOW).expect("again").messages,
        0,
        "purging twice is a no-op"
    );
}

#[test]
fn attachments_outlive_raw_retention_and_are_stored_once() {
    use dealthread_core::rawstore::BlobKind;
    use dealthread_core::retention::purge_raw;

    let with_pdf = |id: &str| {
        format!(
            "From: buyer@customer.example\r\nSubject: PO {id}\r\nMessage-ID: <{id}@x.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPO attached.\r\n\
             --b\r\nContent-Type: application/pdf; name=po.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--b--\r\n"
        )
        .into_bytes()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    let batch = [
        RawMessage { bytes: with_pdf("po1"), source: "file".into(), locator: "1".into() },
        RawMessage { bytes: with_pdf("po2"), source: "file".into(), locator: "2".into() },
    ];
    ingest_batch(&mut store, &batch, &ReadOptions::default(), NOW - 60 * 86_400).expect("ingest");
    let sha: String = store
        .conn()
        .query_row("SELECT DISTINCT sha256 FROM attachments", [], |r| r.get(0))
        .expect("one distinct attachment");
    assert_eq!(attachments::carriers(store.conn(), &sha).expect("count"), 2);
    let ids: Vec<i64> = store
        .conn()
        .prepare("SELECT id FROM messages ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("ids");
    let pdf = b"%PDF-1.4\n%%EOF\n".to_vec();
    let attachment_blobs = || -> i64 {
        Connection::open(dir.path().join("t.raw.db"))
            .and_then(|raw| {
                raw.query_row("SELECT count(*) FROM blobs WHERE kind = 1", [], |r| r.get(0))
            })
            .expect("count blobs")
    };

    // While the raw MIME is kept, the file is read from it: written once.
    assert_eq!(attachment_blobs(), 0);
    for id in &ids {
        assert_eq!(attachments::bytes(&store, *id, 0).expect("from the raw message").1, pdf);
    }

    // Retention gives the file one blob, shared by both messages.
    let report = purge_raw(&mut store, None, NOW).expect("purge");
    assert_eq!((report.messages, report.kept.len()), (2, 0));
    assert_eq!(attachment_blobs(), 1);
    assert_eq!(store.raw().get(BlobKind::Attachment, &sha).expect("its own blob"), pdf);
    for id in &ids {
        assert_eq!(attachments::bytes(&store, *id, 0).expect("after the purge").1, pdf);
    }
}

#[test]
fn an_inline_image_is_shown_from_the_raw_message_and_after_retention_from_its_own_blob() {
    use dealthread_core::retention::purge_raw;
    use dealthread_core::store::reading;

    // A 1x1 PNG, shown twice in one message.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let raw = format!(
        "From: ana@customer.example\r\nSubject: Logo\r\nMessage-ID: <logo@x.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\n\
Content-Type: text/html\r\n\r\n<p><img src=\"cid:a@x\"><img src=\"cid:b@x\"></p>\r\n--r\r\n\
Content-Type: image/png\r\nContent-ID: <a@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--r\r\n\
Content-Type: image/png\r\nContent-ID: <b@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--r--\r\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    let batch =
        [RawMessage { bytes: raw.into_bytes(), source: "file".into(), locator: "1".into() }];
    let outcomes = ingest_batch(&mut store, &batch, &ReadOptions::default(), NOW - 60 * 86_400)
        .expect("ingest");
    let Outcome::New { id } = outcomes[0] else { panic!("{outcomes:?}") };
    let shown = |store: &Store| {
        let view = reading::open(store, id, false, NOW).expect("open").expect("found");
        view.html.expect("html").matches(&format!("data:image/png;base64,{png}")).count()
    };
    assert_eq!(shown(&store), 2, "both images, from the raw message");
    purge_raw(&mut store, None, NOW).expect("purge");
    assert_eq!(shown(&store), 2, "both images, from their shared blob");
}

#[test]
fn retention_keeps_a_raw_message_whose_attachments_cannot_be_taken_out() {
    use dealthread_core::retention::purge_raw;

    let raw = b"From: buyer@customer.example\r\nSubject: PO\r\nMessage-ID: <po@x.example>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nPO attached.\r\n--b\r\n\
Content-Type: application/pdf; name=po.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjQKJSVFT0YK\r\n--b--\r\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    let batch = [RawMessage { bytes: raw.to_vec(), source: "file".into(), locator: "1".into() }];
    ingest_batch(&mut store, &batch, &ReadOptions::default(), NOW - 60 * 86_400).expect("ingest");
    // The recorded digest no longer matches what the raw message holds.
    store
        .conn()
        .execute("UPDATE attachments SET sha256 = ?1", [&"0".repeat(64)])
        .expect("damage the record");

    let report = purge_raw(&mut store, None, NOW).expect("purge");
    assert_eq!(report.messages, 0);
    assert_eq!(report.kept.len(), 1, "{:?}", report.kept);
    assert!(report.kept[0].contains("different bytes"), "{}", report.kept[0]);
    let purged: Option<i64> = store
        .conn()
        .query_row("SELECT raw_purged_at FROM messages", [], |r| r.get(0))
        .expect("row");
    assert_eq!(purged, None, "the raw MIME stays when its attachment could not be saved");
}

#[test]
fn the_ui_queries_group_by_thread_count_unread_and_list_unmatched() {
    use dealthread_core::store::deals;
    use dealthread_core::store::matches::review_queue;
    use dealthread_core::store::timeline::{deal_threads, thread};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(&dir.path().join("t.db"));
    dealthread_core::demo::load_if_empty(&mut store).expect("demo");

    // Bluebird: the proposal and its reply are one thread; the auto-reply
    // names no parent and stands alone. Newest activity first.
    let groups = deal_threads(store.conn(), "D-1002").expect("threads");
    let shape: Vec<(Option<&str>, usize)> =
        groups.iter().map(|g| (g.subject.as_deref(), g.messages.len())).collect();
    assert_eq!(
        shape,
        vec![
            (Some("Pilot proposal for Bluebird"), 2),
            (Some("Automatic reply: Pilot proposal for Bluebird"), 1)
        ]
    );

    // Northwind: the PO reply names a parent we never received, so it sits
    // under the message before that one.
    let northwind = deal_threads(store.conn(), "D-1001").expect("threads");
    assert_eq!(northwind.len(), 1);
    let depths: Vec<usize> = thread(store.conn(), northwind[0].thread_id)
        .expect("thread")
        .iter()
        .map(|e| e.depth)
        .collect();
    assert_eq!(depths, vec![0, 1, 2]);

    let unread = |store: &Store, id: &str| {
        deals::list(store.conn())
            .expect("deals")
            .into_iter()
            .find(|d| d.deal.id == id)
            .map(|d| d.unread_count)
    };
    assert_eq!(unread(&store, "D-1001"), Some(3));
    let first = northwind[0].messages[0].message.id;
    assert_eq!(messages::mark_read(store.conn(), &[first, first], NOW).expect("mark"), 1);
    assert_eq!(unread(&store, "D-1001"), Some(2));

    let demo_review = review_queue(store.conn(), 10).expect("review").len();
    ingest(&mut store, "stray", mail("stray", &[], None, 9, "Question about pricing"), "file");
    let review = review_queue(store.conn(), 10).expect("review");
    assert_eq!(review.len(), demo_review + 1);
    let stray = review.iter().find(|r| r.subject.as_deref() == Some("Question about pricing"));
    assert!(
        stray.is_some_and(|s| s.reason.contains("person-stray@customer.example")),
        "{review:?}"
    );
}
