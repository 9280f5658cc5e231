//! The built desktop app driven through WebDriver: Debian's WebKitWebDriver
//! starts the real binary (with `TAURI_WEBVIEW_AUTOMATION=true`) and
//! fantoccini talks to it. Needs a display: the test command runs the suite
//! under Xvfb, and a missing display fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::{free_port, workspace_root};

/// The app binary under test: `$DEALTHREAD_APP`, or the workspace's debug
/// build (the test command builds it first).
pub fn app_binary() -> PathBuf {
    std::env::var_os("DEALTHREAD_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("debug").join("dealthread-app"))
}

/// A running app with a WebDriver session on it. Dropping it ends both.
pub struct AppSession {
    pub client: Client,
    driver: Child,
}

impl AppSession {
    /// Starts the app on the database at `db` (created, with the demo, when
    /// missing).
    pub async fn start(db: &Path) -> AppSession {
        assert!(
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some(),
            "no display: run the end-to-end tests through scripts/test.sh, which starts Xvfb"
        );
        let app = app_binary();
        assert!(
            app.is_file(),
            "{} is missing: build it first with `cargo build -p dealthread-app` (scripts/test.sh does)",
            app.display()
        );
        let port = free_port();
        let driver = Command::new("WebKitWebDriver")
            .arg(format!("--port={port}"))
            .arg("--host=127.0.0.1")
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env("DEALTHREAD_DB", db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting WebKitWebDriver (apt package webkit2gtk-driver)");
        let url = format!("http://127.0.0.1:{port}");
        wait_for_port(port, Duration::from_secs(20)).await;

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "webkitgtk:browserOptions".into(),
            serde_json::json!({ "binary": app, "args": [] }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("opening a WebDriver session on {}: {e}", app.display()));
        AppSession { client, driver }
    }

    /// Ends the session (closing the app) and the driver.
    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

async fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            start.elapsed() < limit,
            "WebKitWebDriver did not listen on port {port} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
