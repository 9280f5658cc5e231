//! End to end: the built app pushes the demo workspace's deal mail to a
//! webhook CRM in the background; the sync health page shows the outbox's
//! counts, the latency from arrival to CRM and the failures by cause; and an
//! activity the receiver rejected is replayed from the app.

use std::time::{Duration, Instant};

use dealthread_core::crm::{self, webhook};
use dealthread_tests::crm::Receiver;
use dealthread_tests::webdriver::{AppSession, WAIT, click, testid, wait_for_text};

const SECRET: &str = "whsec_app_e2e_7d2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_pushed_in_the_background_and_a_dead_letter_is_replayed_from_the_app() {
    let receiver = Receiver::start(SECRET);
    receiver.faults(|f| f.reject_next = 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("outbox.db");
    let name = format!("hooks-{}", std::process::id());
    {
        // The CRM connection exists before the app starts; the demo loads
        // on the app's first start as usual.
        let store = dealthread_core::Store::open(&db).expect("the store opens");
        let config = webhook::WebhookConfig::new(&name, &receiver.url);
        let json = serde_json::to_string(&config).expect("config json");
        crm::save(store.conn(), &name, webhook::KIND, &json, 0).expect("save the connection");
        dealthread_core::secrets::set(&crm::secret_account(&name), SECRET.as_bytes())
            .expect("the signing secret in the keyring");
    }
    let session = AppSession::start(&db).await;
    let client = &session.client;
    click(client, &testid("nav-health")).await;

    wait_for_text(client, "[data-testid=outbox-dead]", |t| t == "1").await;
    // The push pass may still be going: wait until the app's count and the
    // receiver agree and nothing is pending.
    let started = Instant::now();
    let sent_before = loop {
        let received = receiver.activities().len();
        let shown = wait_for_text(client, "[data-testid=outbox-sent]", |_| true).await;
        let pending = wait_for_text(client, "[data-testid=outbox-pending]", |_| true).await;
        if shown == received.to_string() && pending == "0" && received >= 3 {
            break received;
        }
        assert!(started.elapsed() < WAIT, "sent shows {shown}, the CRM has {received}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let row = wait_for_text(client, "[data-testid=outbox-row]", |t| t.contains("HTTP 422")).await;
    assert!(row.contains("Dead letter") && row.contains("not a known deal"), "{row}");

    // The health page names the cause and the latest of it.
    let rejected = wait_for_text(client, "[data-testid=failure-row][data-cause=rejected]", |t| {
        t.contains("not a known deal")
    })
    .await;
    assert!(rejected.contains("Rejected by the CRM"), "{rejected}");
    // (The labels are upper case on screen.)
    let latency =
        wait_for_text(client, &testid("latency"), |t| t.to_lowercase().contains("median")).await;
    assert!(latency.to_lowercase().contains("95th percentile"), "{latency}");

    click(client, "[data-testid=outbox-row] button").await;
    wait_for_text(client, "[data-testid=outbox-dead]", |t| t == "0").await;
    let started = Instant::now();
    while receiver.activities().len() == sent_before && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(receiver.activities().len(), sent_before + 1, "the replayed activity arrived");

    session.finish().await;
    dealthread_core::secrets::delete(&crm::secret_account(&name)).expect("clean up the keyring");
}
