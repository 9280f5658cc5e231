//! End to end: the review queue and corrections in the real app. The demo
//! workspace leaves two messages for review: Jonas, a contact on two open
//! deals, and a stranger on free mail. The rep accepts a suggestion with
//! Enter, undoes it from the toast, files the stranger's thread through the
//! picker, undoes that with Ctrl+Z, marks Jonas's as not CRM-worthy with
//! `e`, and finds the deal's inbound address and contacts beside its
//! timeline. Each step is checked in the database the app writes.

use std::path::Path;
use std::time::{Duration, Instant};

use dealthread_tests::webdriver::{AppSession, WAIT, click, text, wait_count, wait_until};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};

/// The deal a demo message (by Message-ID) is filed under, and whether it
/// is pushed, read from the app's own database.
fn filed(db: &Path, message_id: &str) -> (Option<String>, bool) {
    let conn = rusqlite::Connection::open(db).expect("open the app's database");
    conn.query_row(
        "SELECT deal_id, crm_worthy FROM messages WHERE message_id = ?1",
        [message_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("the demo message")
}

async fn keys(client: &Client, css: &str, keys: &str) {
    client.find(Locator::Css(css)).await.expect(css).send_keys(keys).await.expect("send keys");
}

const JONAS: &str = "b7c1e2f4a9d04c1e@bluebird-logistics.example";
const MAYA: &str = "CAJ=mo40seats@mail.gmail.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_the_review_queue_and_undo_corrections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("review.db");
    let session = AppSession::start(&db).await;
    let client = &session.client;

    assert_eq!(
        text(client, "[data-testid=review-count]").await,
        "2",
        "the sidebar counts the queue"
    );
    click(client, "[data-testid=nav-review]").await;
    wait_count(client, "[data-testid=review-item]", 2).await;
    let first = text(client, "[data-testid=review-item]").await;
    assert!(first.contains("Second warehouse") && first.contains("Several deals fit"), "{first}");
    assert!(first.contains("1 Deal D-1002") && first.contains("2 Deal D-1004"), "ranked: {first}");
    assert!(first.contains("contact with 2 open deals"), "the rule says why: {first}");

    // Enter accepts the first suggestion for Jonas's message.
    keys(client, "[data-testid=review-list]", &char::from(Key::Enter).to_string()).await;
    wait_until("Jonas filed on D-1002", || filed(&db, JONAS).0.as_deref() == Some("D-1002")).await;
    wait_count(client, "[data-testid=review-item]", 1).await;
    let toast = text(client, "[data-testid=undo-summary]").await;
    assert!(toast.contains("to deal D-1002"), "{toast}");
    click(client, "[data-testid=undo-button]").await;
    wait_until("the accept undone", || filed(&db, JONAS).0.is_none()).await;
    wait_count(client, "[data-testid=review-item]", 2).await;

    // j to Maya's message, m for the picker, search, Enter.
    keys(client, "[data-testid=review-list]", "j").await;
    keys(client, "[data-testid=review-list]", "m").await;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=entity-picker]"))
        .await
        .expect("picker");
    keys(client, "[data-testid=picker-search]", "Northwind").await;
    wait_until_text(client, "[data-testid=picker-result]", "D-1001").await;
    keys(client, "[data-testid=picker-search]", &char::from(Key::Enter).to_string()).await;
    wait_until("Maya filed on D-1001", || filed(&db, MAYA).0.as_deref() == Some("D-1001")).await;
    wait_count(client, "[data-testid=review-item]", 1).await;

    // Ctrl+Z undoes it from anywhere but a text field.
    let undo = format!("{}z{}", char::from(Key::Control), char::from(Key::Null));
    keys(client, "[data-testid=review-list]", &undo).await;
    wait_until("Ctrl+Z undid the move", || filed(&db, MAYA).0.is_none()).await;
    wait_count(client, "[data-testid=review-item]", 2).await;

    // e marks the selected thread (Jonas's, first again) as not CRM-worthy:
    // it leaves the queue.
    keys(client, "[data-testid=review-list]", "e").await;
    wait_until("Jonas's message marked", || !filed(&db, JONAS).1).await;
    wait_count(client, "[data-testid=review-item]", 1).await;

    // The deal's side panel: its inbound address and its contacts.
    click(client, "[data-deal-id='D-1001']").await;
    let alias = text(client, "[data-testid=deal-alias]").await;
    assert_eq!(alias, "deal+D-1001@inbound.acme-sales.example");
    assert!(text(client, "[data-testid=deal-contacts]").await.contains("Dana Reyes"));
    let rule = text(client, "[data-testid=match-rule]").await;
    assert_eq!(rule, "Deal alias", "each message says which rule filed it");
    session.finish().await;
}

async fn wait_until_text(client: &Client, css: &str, needle: &str) {
    let started = Instant::now();
    loop {
        if let Ok(all) = client.find_all(Locator::Css(css)).await {
            for element in all {
                if element.text().await.unwrap_or_default().contains(needle) {
                    return;
                }
            }
        }
        assert!(started.elapsed() < WAIT, "no {css} showed {needle:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
