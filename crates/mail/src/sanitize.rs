//! Mail HTML made safe to render, with ammonia and an allow-list.
//!
//! What goes: scripts, event handlers, forms, frames, objects, external CSS,
//! `javascript:`/`data:` URLs, and every remote image (blocked and counted, so
//! the UI can offer "load images"); known tracking beacons are counted apart.
//! What stays: the tables, inline formatting and a vetted set of CSS
//! properties that ordinary business mail uses for its layout. `cid:` images
//! (RFC 2392) become `attachment://localhost/<sha256>` references that the
//! viewer resolves from the local attachment store; an unknown `cid:` goes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The result of [`sanitize_html`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizedHtml {
    pub html: String,
    pub remote_images_blocked: u32,
    pub trackers_removed: u32,
}

/// Attributes allowed on any element, beyond ammonia's defaults: the legacy
/// presentational attributes that HTML mail still leans on.
const LAYOUT_ATTRIBUTES: &[&str] = &[
    "style",
    "align",
    "valign",
    "bgcolor",
    "width",
    "height",
    "border",
    "cellpadding",
    "cellspacing",
    "color",
    "face",
    "size",
    "dir",
];

/// CSS properties that cannot fetch anything or escape the message's box.
/// Notably absent: `background`, `background-image`, `list-style-image`,
/// `content`, `position`, `behavior`, any property that takes a `url()`.
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-indent",
    "text-transform",
    "line-height",
    "letter-spacing",
    "white-space",
    "vertical-align",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "border-spacing",
    "border-radius",
    "width",
    "max-width",
    "min-width",
    "height",
    "display",
    "direction",
    "table-layout",
    "word-break",
    "overflow-wrap",
];

/// URL fragments of open-tracking beacons used by common sending tools.
const TRACKER_PATTERNS: &[&str] = &[
    "/track/open",
    "/open.gif",
    "/o.gif",
    "/pixel",
    "/beacon",
    "/wf/open",
    "list-manage.com/track",
    "mandrillapp.com/track",
    "hubspotlinks.com",
    "hs-analytics",
    "t.sidekickopen",
    "mailtrack.io",
    "google-analytics.com/collect",
    "mixpanel.com/track",
    "sendgrid.net/wf",
    "mailchimp.com/track",
];

/// The URL under which the viewer serves a stored attachment.
pub fn attachment_url(sha256: &str) -> String {
    format!("attachment://localhost/{sha256}")
}

/// Sanitizes HTML that has no inline images to resolve.
pub fn sanitize_html(html: &str) -> SanitizedHtml {
    sanitize_html_with_inline(html, &[])
}

/// Sanitizes HTML, resolving `cid:` references against `inline`, the
/// message's (content_id, sha256) pairs.
pub fn sanitize_html_with_inline(html: &str, inline: &[(String, String)]) -> SanitizedHtml {
    sanitize_html_with(html, inline, false)
}

/// Like [`sanitize_html_with_inline`]; with `remote_images`, the rep asked
/// to see this message's (or sender's) images: `https:` images stay.
/// Tracking beacons and everything else that fetches still go.
pub fn sanitize_html_with(
    html: &str,
    inline: &[(String, String)],
    remote_images: bool,
) -> SanitizedHtml {
    let inline: Arc<Vec<(String, String)>> = Arc::new(inline.to_vec());
    let pixels = Arc::new(tracking_pixel_sources(html));
    let remote = Arc::new(AtomicU32::new(0));
    let trackers = Arc::new(AtomicU32::new(0));
    let (remote_seen, trackers_seen) = (Arc::clone(&remote), Arc::clone(&trackers));

    let mut builder = ammonia::Builder::default();
    builder
        .add_generic_attributes(LAYOUT_ATTRIBUTES.iter().copied())
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect::<HashSet<_>>())
        .url_schemes(["http", "https", "mailto", "tel", "cid", "attachment"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| {
            let seen = Seen {
                pixels: &pixels,
                inline: &inline,
                remote: &remote_seen,
                trackers: &trackers_seen,
                remote_images,
            };
            filter_attribute(element, attribute, value, &seen)
        });
    let html = builder.clean(html).to_string();
    SanitizedHtml {
        html,
        remote_images_blocked: remote.load(Ordering::Relaxed),
        trackers_removed: trackers.load(Ordering::Relaxed),
    }
}

/// What the attribute filter knows and counts.
struct Seen<'a> {
    /// `src` values of images that are tracking pixels by their shape.
    pixels: &'a HashSet<String>,
    /// (content_id, sha256) of the message's inline parts.
    inline: &'a [(String, String)],
    remote: &'a AtomicU32,
    trackers: &'a AtomicU32,
    /// Whether `https:` images may stay (the rep asked to load them).
    remote_images: bool,
}

fn filter_attribute<'u>(
    element: &str,
    attribute: &str,
    value: &'u str,
    seen: &Seen<'_>,
) -> Option<Cow<'u, str>> {
    let lower = value.trim().to_ascii_lowercase();
    match (element, attribute) {
        ("img", "src") | ("img", "srcset") => {
            if let Some(cid) = value.trim().get(4..).filter(|_| lower.starts_with("cid:")) {
                let cid = cid.trim_matches(['<', '>']);
                seen.inline
                    .iter()
                    .find(|(id, _)| id.eq_ignore_ascii_case(cid))
                    .map(|(_, sha256)| Cow::Owned(attachment_url(sha256)))
            } else if lower.starts_with("attachment:") {
                None // only we write these, from cid: references
            } else {
                if TRACKER_PATTERNS.iter().any(|p| lower.contains(p))
                    || seen.pixels.contains(value.trim())
                {
                    seen.trackers.fetch_add(1, Ordering::Relaxed);
                } else if seen.remote_images && attribute == "src" && lower.starts_with("https://")
                {
                    return Some(Cow::Borrowed(value));
                } else if attribute == "src" {
                    seen.remote.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
        }
        // Belt and braces: the property allow-list already drops url(), but
        // a value that smuggles one in is refused whole.
        (_, "style") if lower.contains("url(") || lower.contains("expression(") => None,
        (_, "background") => None,
        _ => Some(Cow::Borrowed(value)),
    }
}

/// The `src` of every `<img>` that is 1x1 or smaller, or hidden: open
/// beacons whatever host they come from. A light scan of the tags suffices:
/// every remote image is blocked anyway, this only tells the two apart.
fn tracking_pixel_sources(html: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    let lower = html.to_ascii_lowercase();
    let mut rest = 0;
    while let Some(start) = lower[rest..].find("<img").map(|i| i + rest) {
        let end = lower[start..].find('>').map_or(lower.len(), |i| start + i);
        let tag = &html[start..end];
        let attrs = attributes(tag);
        let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let tiny = |v: Option<&str>| {
            v.and_then(|v| v.trim().trim_end_matches("px").parse::<f32>().ok())
                .is_some_and(|n| n <= 1.0)
        };
        let style = get("style").unwrap_or_default().to_ascii_lowercase().replace(' ', "");
        let hidden = style.contains("display:none")
            || style.contains("visibility:hidden")
            || style.contains("opacity:0")
            || style.contains("width:1px")
            || style.contains("height:1px")
            || style.contains("width:0")
            || style.contains("height:0");
        if (tiny(get("width")) || tiny(get("height")) || hidden)
            && let Some(src) = get("src")
        {
            found.insert(src.trim().to_string());
        }
        rest = end.min(lower.len());
        if rest == start {
            break;
        }
    }
    found
}

/// `name="value"`, `name='value'` and `name=value` pairs of one tag.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes = tag.as_bytes();
    let mut i = tag.find(char::is_whitespace).unwrap_or(tag.len());
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let name = tag[name_start..i].to_ascii_lowercase();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            let (value_start, value_end) = match bytes.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let close = tag[i + 1..].find(q as char).map_or(tag.len(), |j| i + 1 + j);
                    (i + 1, close)
                }
                _ => {
                    let end = tag[i..].find(char::is_whitespace).map_or(tag.len(), |j| i + j);
                    (i, end)
                }
            };
            out.push((name, tag[value_start..value_end].to_string()));
            i = value_end + 1;
        } else if !name.is_empty() {
            out.push((name, String::new()));
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize_html;

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let s = sanitize_html(
            r#"<p onclick="steal()">Hi<script>alert(1)</script> <a href="javascript:alert(1)">x</a></p>"#,
        );
        assert!(!s.html.contains("script"), "{}", s.html);
        assert!(!s.html.contains("onclick"), "{}", s.html);
        assert!(!s.html.contains("javascript"), "{}", s.html);
    }

    #[test]
    fn remote_images_are_blocked_and_trackers_counted_apart() {
        let s = sanitize_html(
            r#"<img src="https://cdn.example.com/logo.png"><img src="https://x.list-manage.com/track/open.php?u=1" width="1" height="1">"#,
        );
        assert_eq!((s.remote_images_blocked, s.trackers_removed), (1, 1));
        assert!(!s.html.contains("cdn.example.com"), "{}", s.html);
    }

    #[test]
    fn loading_images_keeps_https_images_but_never_beacons_or_plain_http() {
        let html = r#"<img src="https://cdn.example.com/logo.png"><img src="http://cdn.example.com/a.png"><img src="https://x.list-manage.com/track/open.php?u=1" width="1" height="1">"#;
        let s = super::sanitize_html_with(html, &[], true);
        assert!(s.html.contains("https://cdn.example.com/logo.png"), "{}", s.html);
        assert!(!s.html.contains("http://cdn.example.com"), "{}", s.html);
        assert!(!s.html.contains("list-manage"), "{}", s.html);
        assert_eq!((s.remote_images_blocked, s.trackers_removed), (1, 1));
    }

    #[test]
    fn table_layout_and_safe_styles_survive_but_url_styles_do_not() {
        let s = sanitize_html(
            r#"<table width="600" cellpadding="4"><tr><td style="color: #333; background: url(https://evil/x)">Quote</td></tr></table>"#,
        );
        assert!(s.html.contains(r#"width="600""#), "{}", s.html);
        assert!(!s.html.contains("evil"), "{}", s.html);
    }

    #[test]
    fn cid_images_point_at_local_attachments_and_unknown_ones_go() {
        let inline = [("logo@x".to_string(), "ab12".to_string())];
        let s = super::sanitize_html_with_inline(
            r#"<img src="cid:logo@x"><img src="cid:missing@x"><img src="attachment://localhost/forged">"#,
            &inline,
        );
        assert!(s.html.contains(r#"src="attachment://localhost/ab12""#), "{}", s.html);
        assert_eq!(s.html.matches("src=").count(), 1, "{}", s.html);
    }

    #[test]
    fn pixels_are_trackers_by_shape_whatever_their_host() {
        let s = sanitize_html(
            r#"<img width=1 height=1 src="https://news.example/i/77.gif"><img style="display: none" src='https://x.example/a.png'><img src="https://x.example/photo.jpg" width="600">"#,
        );
        assert_eq!((s.trackers_removed, s.remote_images_blocked), (2, 1));
    }

    #[test]
    fn links_open_outside_without_referrer() {
        let s = sanitize_html(r#"<a href="https://acme.test/quote">quote</a>"#);
        assert!(s.html.contains(r#"rel="noopener noreferrer""#), "{}", s.html);
        assert!(s.html.contains(r#"target="_blank""#), "{}", s.html);
    }
}
