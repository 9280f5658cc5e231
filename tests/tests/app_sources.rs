//! End to end: in the built app's settings, a rep adds the team's provider
//! account (the REST emulator), tests the connection, saves it, and watches
//! the background sync bring the mail in. The API key ends up in the OS
//! keyring and nowhere in the database; a wrong key is reported plainly.

use dealthread_tests::provider::{API_KEY, Provider};
use dealthread_tests::webdriver::{AppSession, click, fill, screenshot, testid, wait_for_text};
use fantoccini::Locator;

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

    click(client, &testid("nav-settings")).await;
    wait_for_text(client, &testid("no-sources-configured"), |t| t.contains("No sources yet")).await;

    fill(client, &testid("field-name"), &name).await;
    fill(client, &testid("field-url"), &server.url).await;
    fill(client, &testid("field-key"), "pk_wrong").await;
    click(client, &testid("test-connection")).await;
    let refused = wait_for_text(client, "[data-testid=form-result]", |t| !t.is_empty()).await;
    assert!(refused.contains("refused the API key"), "a wrong key is reported: {refused}");

    fill(client, &testid("field-key"), API_KEY).await;
    click(client, &testid("test-connection")).await;
    let tested =
        wait_for_text(client, "[data-testid=form-result]", |t| t.contains("accepted")).await;
    assert!(tested.contains("12 messages waiting"), "{tested}");

    click(client, &testid("save-source")).await;
    wait_for_text(client, &testid("form-result"), |t| t.contains("Saved")).await;
    let key_field = client.find(Locator::Css("[data-testid=field-key]")).await.expect("key field");
    assert_eq!(key_field.prop("value").await.expect("value"), Some(String::new()), "key cleared");

    // How it syncs is on the sync health page.
    click(client, &testid("nav-health")).await;
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
    if let Ok(png) = screenshot(client).await {
        let shot = dealthread_tests::workspace_root().join("target").join("e2e-sync-health.png");
        let _ = std::fs::write(shot, png);
    }
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
