//! End to end: in the built app's settings, a rep adds the team's provider
//! account (the REST emulator), tests the connection, saves it, and watches
//! the background sync bring the mail in. The API key ends up in the OS
//! keyring and nowhere in the database; a wrong key is reported plainly.

use std::time::{Duration, Instant};

use dealthread_tests::provider::{API_KEY, Provider};
use dealthread_tests::webdriver::AppSession;
use fantoccini::{Client, Locator};

const WAIT: Duration = Duration::from_secs(30);

async fn fill(client: &Client, testid: &str, text: &str) {
    let field = client
        .find(Locator::Css(&format!("[data-testid={testid}]")))
        .await
        .unwrap_or_else(|e| panic!("field {testid}: {e}"));
    field.clear().await.unwrap_or_else(|e| panic!("clear {testid}: {e}"));
    field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {testid}: {e}"));
}

async fn click(client: &Client, testid: &str) {
    client
        .find(Locator::Css(&format!("[data-testid={testid}]")))
        .await
        .unwrap_or_else(|e| panic!("button {testid}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {testid}: {e}"));
}

/// Waits until the element's text satisfies `done`, returning the text.
async fn wait_for_text(client: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < WAIT {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed what was expected; last text: {last:?}");
}

fn mail(count: usize) -> Vec<Vec<u8>> {
    let mut rng = dealthread_tests::corpus::Rng::new(41);
    (0..count).map(|i| dealthread_tests::corpus::message(&mut rng, i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_source_added_in_settings_syncs_in_the_background() {
    let server = Provider::start(&mail(12));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("settings.db");
    let name = format!("inbound-{}", std::process::id());
    let session = AppSession::start(&db).await;
    let client = &session.client;

    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=nav-settings]"))
        .await
        .expect("the sidebar never rendered");
    click(client, "nav-settings").await;
    wait_for_text(client, "[data-testid=no-sources]", |t| t.contains("No sources yet")).await;

    fill(client, "field-name", &name).await;
    fill(client, "field-url", &server.url).await;
    fill(client, "field-key", "pk_wrong").await;
    click(client, "test-connection").await;
    let refused = wait_for_text(client, "[data-testid=form-result]", |t| !t.is_empty()).await;
    assert!(refused.contains("refused the API key"), "a wrong key is reported: {refused}");

    fill(client, "field-key", API_KEY).await;
    click(client, "test-connection").await;
    let tested =
        wait_for_text(client, "[data-testid=form-result]", |t| t.contains("accepted")).await;
    assert!(tested.contains("12 messages waiting"), "{tested}");

    click(client, "save-source").await;
    let row = format!("[data-testid=source-row][data-name='{name}']");
    let state = wait_for_text(client, &format!("{row} [data-testid=source-state]"), |t| {
        t.starts_with("Up to date")
    })
    .await;
    assert!(state.contains("12 new"), "the background sync fetched the mail: {state}");
    let facts = wait_for_text(client, &format!("{row} [data-testid=source-facts]"), |t| {
        !t.contains("never")
    })
    .await;
    assert!(facts.contains("Last sync"), "{facts}");
    // Kept for a person reviewing the screen; nothing asserts on pixels.
    if let Ok(png) = client.screenshot().await {
        let shot = dealthread_tests::workspace_root().join("target").join("e2e-settings.png");
        let _ = std::fs::write(shot, png);
    }
    let key_field = client.find(Locator::Css("[data-testid=field-key]")).await.expect("key field");
    assert_eq!(key_field.prop("value").await.expect("value"), Some(String::new()), "key cleared");

    let conn = rusqlite::Connection::open(&db).expect("the app's database");
    let from_provider: i64 = conn
        .query_row(
            "SELECT count(*) FROM message_sources WHERE source = ?1",
            [format!("provider:{name}")],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(from_provider, 12);
    let leaked: i64 = conn
        .query_row(
            "SELECT count(*) FROM sources WHERE config LIKE ?1",
            [format!("%{API_KEY}%")],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(leaked, 0, "the API key is not in the database");
    let account = dealthread_core::sources::secret_account(&name);
    let stored = dealthread_core::secrets::get(&account).expect("the keyring answers");
    assert_eq!(stored.as_deref(), Some(API_KEY.as_bytes()), "the key is in the OS keyring");

    session.finish().await;
    dealthread_core::secrets::delete(&account).expect("clean up the test's keyring entry");
}
