//! End to end: the built app, on a fresh database, shows the demo workspace's
//! deals (with unread counts and filters) and a deal's timeline grouped by
//! thread; selecting another deal shows its timeline, with the quoted
//! history one click away, attachment chips, and a thread split and merged
//! again from the timeline.

use std::time::Duration;

use dealthread_tests::webdriver::{
    AppSession, click, count, fill, testid, text, wait_count, wait_for_text,
};
use fantoccini::Locator;

const WAIT: Duration = Duration::from_secs(30);

async fn texts(session: &AppSession, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in session.client.find_all(Locator::Css(css)).await.expect("find_all") {
        out.push(element.text().await.expect("element text"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_workspace_timeline_is_on_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = AppSession::start(&dir.path().join("e2e.db")).await;
    let client = &session.client;

    // The deal list: the demo's four deals, most recent activity first.
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=deal-item]"))
        .await
        .expect("the deal list never rendered");
    let deals = texts(&session, "[data-testid=deal-item] .deal-name").await;
    assert_eq!(
        deals,
        vec![
            "Bluebird Logistics: pilot",
            "Kestrel Health: platform expansion",
            "Northwind Traders: 250-seat renewal",
            "Bluebird Logistics: EU rollout"
        ],
        "the demo deals should be listed by last activity, the one without mail last"
    );

    // The first deal's timeline, oldest message first, latest reply shown.
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=timeline-message]"))
        .await
        .expect("the timeline never rendered");
    let title = client.find(Locator::Css("[data-testid=deal-title]")).await.expect("deal title");
    assert_eq!(title.text().await.expect("title text"), "Bluebird Logistics: pilot");
    // Two threads, the one with the newest message first: the proposal and
    // its Outlook reply, then the out-of-office (it names no parent).
    let subjects = texts(&session, "[data-testid=message-subject]").await;
    assert_eq!(subjects.len(), 3, "three messages on the Bluebird deal: {subjects:?}");
    assert_eq!(count(client, &testid("thread-head")).await, 2, "{subjects:?}");
    assert!(subjects[0].starts_with("Pilot proposal for Bluebird"), "oldest first: {subjects:?}");
    assert!(subjects[2].contains("Auto-reply"), "the out-of-office reply is badged: {subjects:?}");
    let bodies = texts(&session, "[data-testid=message-body]").await;
    assert!(
        bodies[1].contains("we need SSO from day one") && !bodies[1].contains("Following our call"),
        "the Outlook reply shows its latest reply without the quoted proposal: {:?}",
        bodies[1]
    );

    // Selecting another deal replaces the timeline.
    client
        .find(Locator::Css("[data-deal-id='D-1001']"))
        .await
        .expect("the Northwind deal in the list")
        .click()
        .await
        .expect("click the Northwind deal");
    let started = std::time::Instant::now();
    loop {
        let title = client.find(Locator::Css("[data-testid=deal-title]")).await;
        if let Ok(title) = title
            && title.text().await.unwrap_or_default() == "Northwind Traders: 250-seat renewal"
        {
            break;
        }
        assert!(started.elapsed() < WAIT, "the Northwind timeline never replaced Bluebird's");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let froms = texts(&session, "[data-testid=message-from]").await;
    assert_eq!(froms, vec!["Sam Patel", "Dana Reyes", "Dana Reyes"]);
    let bodies = texts(&session, "[data-testid=message-body]").await;
    assert!(bodies[1].contains("2-year pricing"), "Dana's Gmail reply: {:?}", bodies[1]);
    assert!(!bodies[1].contains("wrote:"), "quoted history is cut: {:?}", bodies[1]);
    // ...and one click away.
    assert_eq!(count(client, &testid("thread-head")).await, 1, "one thread");
    let messages =
        client.find_all(Locator::Css(&testid("timeline-message"))).await.expect("messages");
    let gmail_reply = messages.get(1).expect("Dana's reply");
    gmail_reply
        .find(Locator::Css(&testid("show-quoted")))
        .await
        .expect("Dana's reply has quoted history")
        .click()
        .await
        .expect("show it");
    let quoted = text(client, &testid("message-quoted")).await;
    assert!(quoted.contains("wrote:") && quoted.contains("2-year pricing"), "{quoted}");
    let chip = text(client, &testid("attachment-chip")).await;
    assert!(chip.contains("PO-NW-20931.pdf"), "the PO is a chip on its message: {chip}");

    // Split the thread at the PO, then merge the two halves again.
    let po = "[data-testid=timeline-message]:has([data-testid=attachment-chip])";
    click(client, &format!("{po} {}", testid("message-split"))).await;
    wait_count(client, &testid("thread-head"), 2).await;
    let toast = text(client, &testid("undo-summary")).await;
    assert!(toast.to_lowercase().contains("split"), "{toast}");
    click(client, &format!("[data-testid=thread-head] {}", testid("thread-merge"))).await;
    click(client, &testid("merge-choice")).await;
    wait_count(client, &testid("thread-head"), 1).await;

    // The sidebar: unread counts, and filters by name and stage.
    let unread = texts(&session, "[data-deal-id='D-1003'] [data-testid=deal-unread]").await;
    assert_eq!(unread, vec!["1"], "Kestrel's one message is unread");
    // Reading it clears its marker on the timeline and the count beside the deal.
    click(client, "[data-deal-id='D-1003']").await;
    wait_count(client, "[data-testid=timeline-message].unread", 1).await;
    click(client, &testid("message-open")).await;
    wait_count(client, "[data-testid=timeline-message].unread", 0).await;
    click(client, &testid("reader-close")).await;
    wait_count(client, "[data-deal-id='D-1003'] [data-testid=deal-unread]", 0).await;
    fill(client, &testid("deal-filter"), "bluebird").await;
    wait_count(client, &testid("deal-item"), 2).await;
    let stage = client.find(Locator::Css(&testid("deal-stage-filter"))).await.expect("stages");
    stage.select_by_value("Discovery").await.expect("pick a stage");
    wait_count(client, &testid("deal-item"), 1).await;
    wait_for_text(client, &testid("deal-item"), |t| t.contains("EU rollout")).await;

    session.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_palette_finds_mail_with_highlights_and_opens_it() {
    use fantoccini::key::Key;

    let dir = tempfile::tempdir().expect("tempdir");
    let session = AppSession::start(&dir.path().join("palette.db")).await;
    let client = &session.client;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=deal-item]"))
        .await
        .expect("the deal list never rendered");
    let body = client.find(Locator::Css("body")).await.expect("body");
    body.send_keys(&format!("{}k{}", char::from(Key::Control), char::from(Key::Null)))
        .await
        .expect("Ctrl+K");
    let input = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=palette-input]"))
        .await
        .expect("Ctrl+K opens the palette");
    input.send_keys("sso from:jonas").await.expect("type a query");
    let hit = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=palette-message] mark"))
        .await
        .expect("a highlighted match");
    assert_eq!(hit.text().await.expect("mark text").to_lowercase(), "sso");
    assert_eq!(
        texts(&session, "[data-testid=palette-message]").await.len(),
        1,
        "from: narrows to Jonas"
    );
    input.send_keys(&char::from(Key::Enter).to_string()).await.expect("Enter");
    let subject = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=reader-subject]"))
        .await
        .expect("Enter opens the message");
    assert_eq!(subject.text().await.expect("subject"), "RE: Pilot proposal for Bluebird");
    let title = client.find(Locator::Css("[data-testid=deal-title]")).await.expect("deal title");
    assert_eq!(
        title.text().await.expect("title"),
        "Bluebird Logistics: pilot",
        "and shows its deal"
    );
    session.finish().await;
}
