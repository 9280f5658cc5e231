//! Previews of attachments for the reader. Images are shown as they are;
//! PDFs are drawn page by page by hayro, a rasterizer written in safe
//! Rust, so no PDF engine runs inside the web page and the page receives
//! only PNG images. A broken or hostile file costs an error message and
//! nothing more: drawing runs on a thread of its own, a panic in it is
//! caught, and it has a time limit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::{LoadPdfError, Pdf};
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{PixmapSettings, RenderCache, RenderSettings};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{CoreError, Result};
use crate::store::attachments::{self, Stored};

/// How many pages of a PDF the preview draws; the rest are a click on
/// *Open* away.
pub const PDF_PAGES_SHOWN: usize = 3;
/// PDFs larger than this are not drawn in the app.
pub const PDF_MAX: u64 = 25 * 1024 * 1024;
/// A page is drawn this wide, in pixels (about twice the dialog's width
/// at 100 %, so text stays sharp on a high-density screen)...
const PAGE_WIDTH: f32 = 1200.0;
/// ...and never taller than this, whatever its proportions.
const PAGE_HEIGHT_MAX: f32 = 4000.0;
/// Drawing a preview that takes longer than this is given up.
const DRAW_LIMIT: Duration = Duration::from_secs(20);

/// What the reader shows for an attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Preview {
    /// The image, or the first pages of a PDF, as `data:` URLs.
    pub pages: Vec<String>,
    /// How many pages the file has: more than `pages` when only the first
    /// ones were drawn.
    pub total_pages: u32,
}

/// The preview of a stored attachment from its bytes: `None` when its type
/// has none (only images and PDFs do), an error naming the file when it is
/// a PDF that cannot be drawn. Drawing a PDF takes a moment: call it off
/// any thread that must stay responsive, and without holding the store.
pub fn of(found: &Stored, bytes: Vec<u8>) -> Result<Option<Preview>> {
    let name = found.filename.as_deref().unwrap_or("the attachment");
    if attachments::image_type(&bytes).is_some() {
        return Ok(attachments::shown_image(found, &bytes)
            .map(|url| Preview { pages: vec![url], total_pages: 1 }));
    }
    if !is_pdf(&bytes) {
        return Ok(None);
    }
    if found.size > PDF_MAX {
        return Err(cannot_preview(name, "it is larger than 25 MB"));
    }
    pdf(bytes).map(Some).map_err(|reason| cannot_preview(name, &reason))
}

/// Whether the bytes are a PDF: the header may follow up to 1 KiB of junk,
/// as readers have always tolerated.
pub fn is_pdf(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)].windows(5).any(|w| w == b"%PDF-")
}

/// Draws the first pages of a PDF off the calling thread, within the time
/// limit. The error says, in a rep's words, why it could not be drawn.
pub fn pdf(bytes: Vec<u8>) -> std::result::Result<Preview, String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("pdf-preview".into())
        .spawn(move || {
            let drawn = catch_unwind(AssertUnwindSafe(|| draw(bytes)));
            // The receiver is gone only after the time limit; nobody is
            // left to tell.
            let _ = sender.send(drawn);
        })
        .map_err(|e| format!("no thread to draw it on ({e})"))?;
    match receiver.recv_timeout(DRAW_LIMIT) {
        Ok(Ok(drawn)) => drawn,
        Ok(Err(_panic)) => Err("the PDF reader failed on this file".into()),
        // The thread cannot be stopped from outside; it ends on its own
        // and its result is dropped.
        Err(_) => Err(format!("drawing it took longer than {} seconds", DRAW_LIMIT.as_secs())),
    }
}

fn draw(bytes: Vec<u8>) -> std::result::Result<Preview, String> {
    let pdf = Pdf::new(Arc::new(bytes)).map_err(|e| match e {
        LoadPdfError::Decryption(_) => "it is password-protected".to_string(),
        LoadPdfError::Invalid => "it is not a readable PDF".to_string(),
    })?;
    let pages = pdf.pages();
    if pages.is_empty() {
        return Err("it has no pages".into());
    }
    let cache = RenderCache::new();
    let interpreter = InterpreterSettings::default();
    let drawn = pages
        .iter()
        .take(PDF_PAGES_SHOWN)
        .enumerate()
        .map(|(index, page)| {
            let (width, height) = page.render_dimensions();
            if !(width >= 1.0 && height >= 1.0) {
                return Err(format!("page {} has no size", index + 1));
            }
            let scale = (PAGE_WIDTH / width).min(PAGE_HEIGHT_MAX / height);
            let settings = PixmapSettings { x_scale: scale, y_scale: scale, bg_color: WHITE };
            let pixmap =
                hayro::render(page, &cache, &interpreter, &RenderSettings::default(), &settings);
            let png = pixmap
                .into_png()
                .map_err(|e| format!("page {} could not be encoded ({e})", index + 1))?;
            Ok(attachments::data_url("image/png", &png))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Preview { pages: drawn, total_pages: u32::try_from(pages.len()).unwrap_or(u32::MAX) })
}

fn cannot_preview(name: &str, reason: &str) -> CoreError {
    CoreError::InvalidInput(format!(
        "{name}: cannot be previewed: {reason}; Save or Open it to read it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use hayro::vello_cpu::Pixmap;

    const PO: &[u8] = include_bytes!("../demo/PO-NW-20931.pdf");

    fn decode(url: &str) -> Pixmap {
        let encoded = url.strip_prefix("data:image/png;base64,").expect("a PNG data URL");
        let png = base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64");
        Pixmap::from_png(std::io::Cursor::new(png)).expect("a PNG")
    }

    #[test]
    fn the_demo_purchase_order_is_drawn_as_a_page_with_ink_on_it() {
        let preview = pdf(PO.to_vec()).expect("the PO draws");
        assert_eq!(preview.total_pages, 1);
        assert_eq!(preview.pages.len(), 1);
        let page = decode(&preview.pages[0]);
        // A4 at the drawn width keeps its proportions.
        assert_eq!(page.width(), 1200);
        assert_eq!(page.height(), (842.0_f32 * 1200.0 / 595.0) as u16);
        let pixels = page.data();
        let dark = pixels.iter().filter(|p| p.r < 100 && p.g < 100 && p.b < 100).count();
        let white = pixels.iter().filter(|p| p.r > 240 && p.g > 240 && p.b > 240).count();
        // Text and rules are drawn on a white page, and the title band is blue.
        assert!(dark > 5_000, "text should leave ink: {dark} dark pixels");
        assert!(white > pixels.len() / 2, "the page is mostly white: {white}");
        let band = page.sample(600, 20);
        assert!(band.b > band.r + 60, "the title band is blue: {band:?}");
    }

    #[test]
    fn only_the_first_pages_of_a_long_pdf_are_drawn() {
        let long = pdf_with_pages(7);
        let preview = pdf(long).expect("draws");
        assert_eq!(preview.total_pages, 7);
        assert_eq!(preview.pages.len(), PDF_PAGES_SHOWN);
    }

    #[test]
    fn broken_pdfs_give_a_reason_and_never_a_panic() {
        assert_eq!(pdf(pdf_with_pages(0)).expect_err("an empty page tree"), "it has no pages");
        let no_page_tree =
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
        assert_eq!(
            pdf(no_page_tree.to_vec()).expect_err("no page tree"),
            "it is not a readable PDF"
        );
        assert!(pdf(b"%PDF-1.7\n\x00\xff garbage".to_vec()).is_err());
        // Every prefix of a real file: truncated downloads are common.
        for cut in (0..PO.len()).step_by(97) {
            let _ = pdf(PO[..cut].to_vec());
        }
        // A page that claims an absurd size is refused or drawn within the
        // limits, never allocated as stated.
        let huge = String::from_utf8_lossy(PO).replace("[0 0 595 842]", "[0 0 9e30 1]");
        if let Ok(preview) = pdf(huge.into_bytes()) {
            let page = decode(&preview.pages[0]);
            assert!(page.width() <= 1200 && page.height() <= 4000);
        }
    }

    #[test]
    fn the_pdf_header_is_found_after_leading_junk_but_not_far_away() {
        assert!(is_pdf(b"%PDF-1.4\n"));
        assert!(is_pdf(&[b"\r\n\r\n".as_slice(), b"%PDF-1.7"].concat()));
        assert!(!is_pdf(&[vec![b' '; 2000], b"%PDF-1.7".to_vec()].concat()));
        assert!(!is_pdf(b"MZ\x90\x00"));
    }

    /// A PDF of `count` blank-but-numbered pages, with a correct xref.
    fn pdf_with_pages(count: usize) -> Vec<u8> {
        let mut objects = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {count} >>",
                (0..count).map(|i| format!("{} 0 R", 3 + i)).collect::<Vec<_>>().join(" ")
            ),
        ];
        for _ in 0..count {
            objects.push("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 400] >>".into());
        }
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}
