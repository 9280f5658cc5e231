//! Takes the README's screenshots of the real app on a fresh demo
//! workspace, through WebDriver: the deal timeline, the review queue, the
//! correction picker, a message opened in the reader, the search palette,
//! sync health (pushing to a local webhook receiver that rejects one
//! activity) and the settings. Run by `scripts/screenshot.sh` (under Xvfb, with a
//! throwaway keyring): `screenshots OUT_DIR`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dealthread_core::crm::{self, webhook};

use dealthread_tests::crm::Receiver;
use dealthread_tests::webdriver::{AppSession, click, element, screenshot, wait_for_text};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};

const SECRET: &str = "whsec_screenshots_41aa";

async fn shoot(client: &Client, out: &Path, name: &str) {
    tokio::time::sleep(Duration::from_millis(600)).await;
    let png = screenshot(client).await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let path = out.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("saved {}", path.display());
}

async fn escape(client: &Client, css: &str) {
    if let Ok(element) = client.find(Locator::Css(css)).await {
        let _ = element.send_keys(&char::from(Key::Escape).to_string()).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs/screenshots".into()));
    std::fs::create_dir_all(&out).expect("the output folder");
    let work = tempfile::tempdir().expect("a work folder");
    let db = work.path().join("demo.db");
    let receiver = Receiver::start(SECRET);
    receiver.faults(|f| f.reject_next = 1);
    {
        let store = dealthread_core::Store::open(&db).expect("the store opens");
        let config = webhook::WebhookConfig::new("crm", &receiver.url);
        let json = serde_json::to_string(&config).expect("config json");
        crm::save(store.conn(), "crm", webhook::KIND, &json, 0).expect("save the connection");
        dealthread_core::secrets::set(&crm::secret_account("crm"), SECRET.as_bytes())
            .expect("the signing secret in the keyring");
    }
    let session = AppSession::start(&db).await;
    let client = &session.client;
    let _ = client.set_window_size(1280, 800).await;

    click(client, "[data-deal-id='D-1001']").await;
    element(client, "[data-testid=deal-side]").await;
    shoot(client, &out, "demo-timeline").await;

    // Dana's reply: HTML mail, shown in the sandboxed frame.
    let opens =
        client.find_all(Locator::Css("[data-testid=message-open]")).await.expect("messages");
    opens.get(1).expect("a second message").click().await.expect("open it");
    element(client, "[data-testid=reader-subject]").await;
    shoot(client, &out, "message-reader").await;
    click(client, "[data-testid=reader-close]").await;

    // The purchase order, previewed: its page drawn by the engine.
    click(client, "[data-testid=attachment-chip]").await;
    click(client, "[data-testid=attachment-preview]").await;
    element(client, "[data-testid=attachment-pages] img").await;
    // Let the page's image decode and the dialog settle before the shot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shoot(client, &out, "pdf-preview").await;
    click(client, "[data-testid=reader-close]").await;

    click(client, "[data-testid=nav-review]").await;
    element(client, "[data-testid=review-item]").await;
    shoot(client, &out, "review-queue").await;

    click(client, "[data-testid=review-move]").await;
    let search = element(client, "[data-testid=picker-search]").await;
    search.send_keys("blue").await.expect("type");
    shoot(client, &out, "correction-picker").await;
    escape(client, "[data-testid=entity-picker]").await;

    click(client, "[data-testid=open-palette]").await;
    let input = element(client, "[data-testid=palette-input]").await;
    input.send_keys("pilot").await.expect("type");
    element(client, "[data-testid=palette-message]").await;
    shoot(client, &out, "search-palette").await;
    escape(client, "[data-testid=palette]").await;

    click(client, "[data-testid=nav-health]").await;
    wait_for_text(client, "[data-testid=failure-row]", |t| !t.is_empty()).await;
    shoot(client, &out, "sync-health").await;

    click(client, "[data-testid=nav-settings]").await;
    element(client, "[data-testid=settings]").await;
    shoot(client, &out, "settings").await;
    session.finish().await;
    let _ = dealthread_core::secrets::delete(&crm::secret_account("crm"));
}
