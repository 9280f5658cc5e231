//! The built desktop app driven through WebDriver: Debian's WebKitWebDriver
//! starts the real binary (with `TAURI_WEBVIEW_AUTOMATION=true`) and
//! fantoccini talks to it. Needs a display: the test command runs the suite
//! under Xvfb, and a missing display fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
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
        AppSession::start_with_env(db, &[]).await
    }

    /// Like [`AppSession::start`], with more environment for the app
    /// (`DEALTHREAD_DOWNLOADS`, a `PATH` with a stand-in opener).
    pub async fn start_with_env(db: &Path, env: &[(&str, &std::ffi::OsStr)]) -> AppSession {
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
            .envs(env.iter().copied())
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
        // Wait for the first load, so no click lands on a layout still moving.
        client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("[data-testid=shell][aria-busy=false]"))
            .await
            .unwrap_or_else(|e| panic!("the app never finished loading: {e}"));
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

/// How long a step may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(45);

/// A `[data-testid=...]` selector.
pub fn testid(id: &str) -> String {
    format!("[data-testid={id}]")
}

/// The element, once it is on screen.
pub async fn element(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Clicks the element, once it is on screen.
pub async fn click(client: &Client, css: &str) {
    click_element(client, &element(client, css).await, css).await;
}

/// Brings the element to the middle of its scroller, as a person would
/// before clicking, then clicks it. (Left to WebKitWebDriver, an element
/// at the bottom of a scrolled dialog was now and then refused.)
pub async fn click_element(client: &Client, target: &Element, what: &str) {
    let argument = serde_json::to_value(target).expect("the element as an argument");
    client
        .execute("arguments[0].scrollIntoView({ block: 'center' })", vec![argument])
        .await
        .unwrap_or_else(|e| panic!("scroll to {what}: {e:?}"));
    target.click().await.unwrap_or_else(|e| panic!("click {what}: {e:?}"));
}

/// Replaces a field's text, once it is on screen.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let field = element(client, css).await;
    field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
    field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// The element's text, once it is on screen.
pub async fn text(client: &Client, css: &str) -> String {
    element(client, css).await.text().await.unwrap_or_else(|e| panic!("the text of {css}: {e}"))
}

/// A PNG of the window. WebKitGTK takes it at the page's next paint, and
/// when WebKit paints without compositing (the app's choice on a machine
/// without a GPU, so under Xvfb) a still page does not paint again: the
/// snapshot then stalls for a minute. So while it is taken, an empty
/// one-pixel box changes its opacity every frame.
pub async fn screenshot(client: &Client) -> Result<Vec<u8>, fantoccini::error::CmdError> {
    let repaint = "const box = document.createElement('div'); \
                   box.dataset.repaint = ''; box.setAttribute('aria-hidden', 'true'); \
                   box.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none'; \
                   document.body.appendChild(box); let odd = false; \
                   (function frame() { if (!box.isConnected) return; \
                     odd = !odd; box.style.opacity = odd ? '0.99' : '1'; requestAnimationFrame(frame); })(); \
                   return null;";
    let _ = client.execute(repaint, vec![]).await;
    let png = client.screenshot().await;
    let _ = client
        .execute(
            "document.querySelectorAll('[data-repaint]').forEach((b) => b.remove()); return null;",
            vec![],
        )
        .await;
    png
}

/// Waits until the element's text satisfies `done`, returning the text.
pub async fn wait_for_text(client: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < WAIT {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    if let Ok(png) = screenshot(client).await {
        let _ = std::fs::write(crate::workspace_root().join("target").join("e2e-failure.png"), png);
    }
    panic!(
        "{css} never showed what was expected; last text: {last:?} (screen: target/e2e-failure.png)"
    );
}

/// How many elements match now.
pub async fn count(client: &Client, css: &str) -> usize {
    client.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0)
}

/// Waits until exactly `n` elements match.
pub async fn wait_count(client: &Client, css: &str, n: usize) {
    let started = Instant::now();
    loop {
        let now = count(client, css).await;
        if now == n {
            return;
        }
        assert!(started.elapsed() < WAIT, "{css}: {now} on screen, expected {n}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Waits until `done` holds (a condition outside the window: the database,
/// an emulator).
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < WAIT, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
