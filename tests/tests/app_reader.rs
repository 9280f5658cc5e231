//! End to end, the reader's attachments in the built app: an inline `cid:`
//! image is shown from the local attachment store (no request, the frame's
//! CSP still allows only `data:`); a PDF is saved to Downloads under its
//! own name (and beside it, never over it, the second time); an attachment
//! named to climb out of the folder lands inside it; a Windows program asks
//! for confirmation before it is handed to the system's opener, which here
//! is a stand-in script that records what it was given.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use dealthread_core::ingest::{self, RawMessage};
use dealthread_mail::ReadOptions;
use dealthread_tests::webdriver::{
    AppSession, WAIT, click, click_element, testid, text, wait_count, wait_for_text, wait_until,
};
use fantoccini::Locator;

/// A 2x2 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x16, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x08, 0x19, 0x18, 0xfe, 0x03, 0x00, 0x23, 0xf6, 0x04, 0xfc, 0x6d, 0x41, 0x75, 0x42, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
/// A one-page A4 document (the demo's purchase order).
const PDF: &[u8] = include_bytes!("../../crates/core/demo/PO-NW-20931.pdf");
const EXE: &[u8] =
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00 not really a program";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A revised quote as a mail client writes it: an HTML body with the
/// sender's logo inline, the quote as a PDF, and two files no rep should
/// trust blindly.
fn message() -> Vec<u8> {
    format!(
        "From: Dana Reyes <dana.reyes@northwind.example>\r\n\
To: Sam Patel <sam.patel@acme-sales.example>\r\n\
Cc: deal+D-1001@inbound.acme-sales.example\r\n\
Subject: Revised quote with our logo\r\n\
Date: Thu, 26 Nov 2026 09:12:00 +0000\r\n\
Message-ID: <revised-quote-logo@northwind.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/related; boundary=\"rel\"\r\n\
\r\n\
--rel\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Sam, the revised quote is attached.</p><p><img src=\"cid:logo.7f3a@northwind.example\" alt=\"Northwind logo\" id=\"logo\"></p>\r\n\
--rel\r\n\
Content-Type: image/png\r\n\
Content-ID: <logo.7f3a@northwind.example>\r\n\
Content-Disposition: inline; filename=\"logo.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{png}\r\n\
--rel--\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"Quote NW-250 rev2.pdf\"\r\n\
Content-Disposition: attachment; filename=\"Quote NW-250 rev2.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{pdf}\r\n\
--outer\r\n\
Content-Type: text/plain; name=\"notes.txt\"\r\n\
Content-Disposition: attachment; filename=\"../../.config/autostart/notes.txt\"\r\n\
\r\n\
Call Dana on Monday.\r\n\
--outer\r\n\
Content-Type: application/octet-stream; name=\"invoice.exe\"\r\n\
Content-Disposition: attachment; filename=\"invoice.exe\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{exe}\r\n\
--outer--\r\n",
        png = b64(PNG),
        pdf = b64(PDF),
        exe = b64(EXE),
    )
    .into_bytes()
}

async fn attachment_button(client: &fantoccini::Client, name: &str, action: &str) {
    let rows = client.find_all(Locator::Css(&testid("attachment"))).await.expect("attachments");
    for row in rows {
        if row.text().await.unwrap_or_default().contains(name) {
            let button = row.find(Locator::Css(&testid(action))).await.expect(action);
            click_element(client, &button, action).await;
            return;
        }
    }
    panic!("no attachment named {name}");
}

/// Waits until an image has decoded to `width` pixels across.
async fn wait_decoded(
    client: &fantoccini::Client,
    image: &fantoccini::elements::Element,
    width: u32,
    what: &str,
) {
    let started = std::time::Instant::now();
    loop {
        let element = serde_json::to_value(image).expect("the element as an argument");
        let natural = client
            .execute("return arguments[0].naturalWidth", vec![element])
            .await
            .expect("naturalWidth");
        if natural == serde_json::json!(width) {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what} never decoded to {width} px (naturalWidth {natural})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into()).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_shown_saved_and_opened_with_care() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("reader.db");
    let downloads = dir.path().join("Downloads");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    // The stand-in for the desktop's opener: records the path it was given
    // (written aside and renamed, so the test never reads a half-written record).
    let opened = dir.path().join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{0}.part' && mv '{0}.part' '{0}'\n",
            opened.display()
        ),
    )
    .expect("opener");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    {
        let mut store = dealthread_core::Store::open(&db).expect("the store opens");
        dealthread_core::demo::load_if_empty(&mut store).expect("the demo");
        let batch =
            [RawMessage { bytes: message(), source: "file".into(), locator: "revised.eml".into() }];
        ingest::ingest_batch(&mut store, &batch, &ReadOptions::default(), ingest::unix_now())
            .expect("ingest");
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let session = AppSession::start_with_env(
        &db,
        &[("DEALTHREAD_DOWNLOADS", downloads.as_os_str()), ("PATH", path.as_ref())],
    )
    .await;
    let client = &session.client;

    click(client, "[data-deal-id='D-1001']").await;
    wait_for_text(client, &testid("timeline"), |t| t.contains("Revised quote with our logo")).await;
    let chips = client.find_all(Locator::Css(&testid("attachment-chip"))).await.expect("chips");
    let mut chip_texts = Vec::new();
    for chip in &chips {
        chip_texts.push(chip.text().await.unwrap_or_default());
    }
    assert!(
        chip_texts.iter().any(|c| c.contains("Quote NW-250 rev2.pdf"))
            && chip_texts.iter().any(|c| c.contains("⚠") && c.contains("invoice.exe"))
            && !chip_texts.iter().any(|c| c.contains("logo.png")),
        "the files are chips, the risky one marked, the inline logo not: {chip_texts:?}"
    );
    let quote_chip = chips.into_iter().next().expect("a chip");
    quote_chip.click().await.expect("open the reader from a chip");
    wait_for_text(client, &testid("reader-subject"), |t| t.contains("Revised quote")).await;

    // The inline logo, from local bytes, inside the sandboxed frame.
    let frame = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&testid("message-frame")))
        .await
        .expect("the frame");
    frame.enter_frame().await.expect("into the frame");
    let logo = client.wait().at_most(WAIT).for_element(Locator::Css("img")).await.expect("logo");
    let src = logo.attr("src").await.expect("src").unwrap_or_default();
    assert!(src.starts_with("data:image/png;base64,"), "{src}");
    wait_decoded(client, &logo, 2, "the logo").await;
    client.enter_parent_frame().await.expect("back out of the frame");
    wait_count(client, &testid("attachment"), 3).await;

    // A PDF is previewed as its pages drawn by the engine: the page gets
    // images, and no PDF engine runs in it.
    attachment_button(client, "Quote NW-250 rev2.pdf", "attachment-preview").await;
    let page = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("{} img", testid("attachment-pages"))))
        .await
        .expect("the drawn page");
    let alt = page.attr("alt").await.expect("alt").unwrap_or_default();
    assert_eq!(alt, "Page 1 of 1 of Quote NW-250 rev2.pdf");
    let src = page.attr("src").await.expect("src").unwrap_or_default();
    assert!(
        src.starts_with("data:image/png;base64,"),
        "the page is a PNG: {}",
        &src[..40.min(src.len())]
    );
    wait_decoded(client, &page, 1200, "the PDF's first page").await;
    attachment_button(client, "Quote NW-250 rev2.pdf", "attachment-preview").await;
    wait_count(client, &testid("attachment-pages"), 0).await;

    // Save: to Downloads, under its own name, never over an earlier copy.
    attachment_button(client, "Quote NW-250 rev2.pdf", "attachment-save").await;
    let saved = wait_for_text(client, &testid("attachment-result"), |t| t.contains("Saved")).await;
    assert!(saved.contains("Quote NW-250 rev2.pdf"), "{saved}");
    attachment_button(client, "Quote NW-250 rev2.pdf", "attachment-save").await;
    wait_for_text(client, &testid("attachment-result"), |t| t.contains("rev2 (2).pdf")).await;
    assert_eq!(
        std::fs::read(downloads.join("Quote NW-250 rev2.pdf")).expect("the saved PDF"),
        PDF,
        "the bytes saved are the attachment's"
    );
    // A name that climbs out of the folder lands inside it.
    attachment_button(client, "notes.txt", "attachment-save").await;
    wait_for_text(client, &testid("attachment-result"), |t| t.contains("notes.txt")).await;
    assert_eq!(
        files_in(&downloads),
        vec!["Quote NW-250 rev2 (2).pdf", "Quote NW-250 rev2.pdf", "notes.txt"]
    );

    // A program asks first; Cancel opens nothing; confirmed, it goes to the
    // opener from a private folder.
    attachment_button(client, "invoice.exe", "attachment-open").await;
    let confirm = text(client, &testid("attachment-confirm")).await;
    assert!(confirm.contains("⚠"), "{confirm}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!opened.exists(), "nothing opened before the rep confirmed");
    click(client, &testid("attachment-open-anyway")).await;
    wait_until("the opener was called", || opened.exists()).await;
    let handed = std::fs::read_to_string(&opened).expect("the opener's record");
    assert!(
        handed.ends_with("/invoice.exe") && !handed.starts_with(&downloads.display().to_string()),
        "{handed}"
    );
    assert_eq!(std::fs::read(&handed).expect("the opened copy"), EXE);
    {
        use std::os::unix::fs::PermissionsExt;
        let folder = Path::new(&handed).parent().expect("its folder");
        let mode = std::fs::metadata(folder).expect("the folder").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the opened copy's folder is private: {mode:o}");
    }
    session.finish().await;
}
