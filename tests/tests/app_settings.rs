//! End to end, in the built app: a rep connects HubSpot (the emulator) in
//! Settings, tests a wrong token and the right one, saves it, and the
//! background pusher delivers the demo's deal mail; the token is in the OS
//! keyring and nowhere in the database. The workspace preferences save as
//! a whole, and a form with one wrong field saves nothing. A rep imports a
//! picked .eml file: it lands on its deal, and picking it again adds nothing.

use std::path::Path;
use std::time::Duration;

use dealthread_tests::hubspot::HubSpot;
use dealthread_tests::webdriver::{
    AppSession, click, fill, testid, text, wait_for_text, wait_until,
};
use fantoccini::Locator;

const TOKEN: &str = "pat-na1-e2e-5be07c31";

fn setting(db: &Path, name: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(db).expect("the app's database");
    conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0)).ok()
}

/// Every byte the database keeps on disk (the file and its write-ahead log).
fn database_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).expect("the database file");
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

/// The team's HubSpot holds the demo workspace's deals, contacts and
/// companies, as HubSpot names their properties.
fn mirror_the_demo(hubspot: &HubSpot) {
    let path = dealthread_tests::workspace_root().join("crates/core/demo/entities.json");
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("the demo's entities")).expect("json");
    for company in demo["companies"].as_array().expect("companies") {
        let properties = serde_json::json!({
            "name": company["name"], "domain": company["domains"][0],
        });
        hubspot.put_record("companies", company["id"].as_str().expect("id"), properties, &[]);
    }
    for contact in demo["contacts"].as_array().expect("contacts") {
        let name = contact["name"].as_str().expect("name");
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        let properties = serde_json::json!({
            "email": contact["emails"][0], "firstname": first, "lastname": last,
            "associatedcompanyid": contact["company_id"],
        });
        hubspot.put_record("contacts", contact["id"].as_str().expect("id"), properties, &[]);
    }
    for deal in demo["deals"].as_array().expect("deals") {
        let contacts: Vec<&str> = deal["contact_ids"]
            .as_array()
            .expect("contact ids")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let properties = serde_json::json!({
            "dealname": deal["name"], "dealstage": deal["stage"],
            "amount": deal["amount"].to_string(), "closedate": deal["close_date"],
        });
        hubspot.put_record("deals", deal["id"].as_str().expect("id"), properties, &contacts);
    }
}

const QUOTE_REPLY: &str = "From: Priya Natarajan <priya@harbor-freight-co.example>\r\n\
To: Sam Ortiz <sam@acme-sales.example>\r\n\
Cc: deal+D-1003@in.e2e.example\r\n\
Subject: PO 7731 for the dock scanners\r\n\
Date: Thu, 26 Nov 2026 16:05:00 +0000\r\n\
Message-ID: <po7731.e2e@harbor-freight-co.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hi Sam,\r\n\r\nPurchase order 7731 is approved; paperwork follows.\r\n\r\nPriya\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_a_crm_set_preferences_and_import_a_file_from_settings() {
    let hubspot = HubSpot::start(TOKEN, &[], (100, Duration::from_secs(1)));
    mirror_the_demo(&hubspot);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("settings.db");
    let name = format!("hubspot-{}", std::process::id());
    let session = AppSession::start(&db).await;
    let client = &session.client;

    // Connect HubSpot: a wrong token is refused plainly, the right one passes.
    click(client, &testid("nav-settings")).await;
    wait_for_text(client, &testid("no-crms"), |t| t.contains("No CRM connected")).await;
    fill(client, &testid("crm-name"), &name).await;
    fill(client, &testid("crm-url"), &hubspot.url).await;
    fill(client, &testid("crm-secret"), "pat-na1-wrong").await;
    click(client, &testid("crm-test")).await;
    let refused = wait_for_text(client, &testid("crm-result"), |t| !t.is_empty()).await;
    assert!(refused.contains("refused the token"), "{refused}");
    fill(client, &testid("crm-secret"), TOKEN).await;
    click(client, &testid("crm-test")).await;
    let tested = wait_for_text(client, &testid("crm-result"), |t| t.contains("accepted")).await;
    assert!(tested.contains("can read your deals"), "{tested}");

    click(client, &testid("crm-save")).await;
    let saved = wait_for_text(client, &testid("crm-result"), |t| t.contains("Saved")).await;
    assert!(saved.contains("queued"), "{saved}");
    let row = text(client, &format!("[data-testid=crm-row][data-name='{name}']")).await;
    assert!(row.contains("HubSpot") && row.contains(&hubspot.url), "{row}");
    let secret = client.find(Locator::Css(&testid("crm-secret"))).await.expect("secret field");
    assert_eq!(secret.prop("value").await.expect("value"), Some(String::new()), "cleared");
    let account = dealthread_core::crm::secret_account(&name);
    let stored = dealthread_core::secrets::get(&account).expect("the keyring answers");
    assert_eq!(stored.as_deref(), Some(TOKEN.as_bytes()), "the token is in the OS keyring");
    let on_disk = database_bytes(&db);
    assert!(
        !on_disk.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token is nowhere in the database"
    );
    // The background pusher delivers the demo's deal mail to it.
    wait_until("HubSpot received the demo's activities", || !hubspot.emails().is_empty()).await;

    // Preferences save as a whole.
    fill(client, &testid("pref-inbound"), "In.E2E.example").await;
    fill(client, &testid("pref-retention"), "90").await;
    fill(client, &testid("pref-block"), "@Spam.example").await;
    click(client, &testid("prefs-save")).await;
    wait_for_text(client, &testid("prefs-result"), |t| t == "Saved.").await;
    assert_eq!(setting(&db, "inbound_domains").as_deref(), Some(r#"["in.e2e.example"]"#));
    assert_eq!(setting(&db, "raw_retention_days").as_deref(), Some("90"));
    assert_eq!(setting(&db, "block_list").as_deref(), Some(r#"["@spam.example"]"#));
    // One wrong field: named, and nothing saved.
    fill(client, &testid("pref-retention"), "45").await;
    fill(client, &testid("pref-block"), "not an address").await;
    click(client, &testid("prefs-save")).await;
    let refused = wait_for_text(client, &testid("prefs-result"), |t| t != "Saved.").await;
    assert!(
        refused.contains("block list entry") && refused.contains("not an address"),
        "{refused}"
    );
    assert_eq!(setting(&db, "raw_retention_days").as_deref(), Some("90"), "nothing saved");

    // Import a picked file; picking it again adds nothing.
    let eml = dir.path().join("PO 7731.eml");
    std::fs::write(&eml, QUOTE_REPLY).expect("write the file");
    let picker = client.find(Locator::Css(&testid("import-input"))).await.expect("picker");
    picker.send_keys(&eml.display().to_string()).await.expect("pick the file");
    let summary = wait_for_text(client, &testid("import-summary"), |t| t.contains("new")).await;
    assert!(summary.starts_with("1 new, 0 already here"), "{summary}");
    let conn = rusqlite::Connection::open(&db).expect("the app's database");
    let deal: Option<String> = conn
        .query_row(
            "SELECT deal_id FROM messages WHERE message_id = 'po7731.e2e@harbor-freight-co.example'",
            [],
            |r| r.get(0),
        )
        .expect("the imported message");
    assert_eq!(deal.as_deref(), Some("D-1003"), "filed by its deal alias");
    let picker = client.find(Locator::Css(&testid("import-input"))).await.expect("picker");
    picker.send_keys(&eml.display().to_string()).await.expect("pick it again");
    wait_for_text(client, &testid("import-summary"), |t| t.starts_with("0 new, 1 already here"))
        .await;

    session.finish().await;
    dealthread_core::secrets::delete(&account).expect("clean up the keyring");
}
