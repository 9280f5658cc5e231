//! Mail HTML made safe to render, with ammonia and an allow-list.
//!
//! What goes: scripts, event handlers, forms, frames, objects, external CSS,
//! `javascript:`/`data:` URLs, and every remote image (blocked and counted, so
//! the UI can offer "load images"); known tracking beacons are counted apart.
//! What stays: the tables, inline formatting and a vetted set of CSS
//! properties that ordinary business mail uses for its layout. `cid:` images
//! stay as `cid:` references for the viewer to resolve from local attachments.

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

pub fn sanitize_html(html: &str) -> SanitizedHtml {
    let remote = Arc::new(AtomicU32::new(0));
    let trackers = Arc::new(AtomicU32::new(0));
    let (remote_seen, trackers_seen) = (Arc::clone(&remote), Arc::clone(&trackers));

    let mut builder = ammonia::Builder::default();
    builder
        .add_generic_attributes(LAYOUT_ATTRIBUTES.iter().copied())
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect::<HashSet<_>>())
        .url_schemes(["http", "https", "mailto", "tel", "cid"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .attribute_filter(move |element, attribute, value| {
            filter_attribute(element, attribute, value, &remote_seen, &trackers_seen)
        });
    let html = builder.clean(html).to_string();
    SanitizedHtml {
        html,
        remote_images_blocked: remote.load(Ordering::Relaxed),
        trackers_removed: trackers.load(Ordering::Relaxed),
    }
}

fn filter_attribute<'u>(
    element: &str,
    attribute: &str,
    value: &'u str,
    remote: &AtomicU32,
    trackers: &AtomicU32,
) -> Option<Cow<'u, str>> {
    let lower = value.trim().to_ascii_lowercase();
    match (element, attribute) {
        ("img", "src") | ("img", "srcset") => {
            if lower.starts_with("cid:") {
                Some(Cow::Borrowed(value))
            } else {
                if TRACKER_PATTERNS.iter().any(|p| lower.contains(p)) {
                    trackers.fetch_add(1, Ordering::Relaxed);
                } else if attribute == "src" {
                    remote.fetch_add(1, Ordering::Relaxed);
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
            r#"<img src="https://cdn.example.com/logo.png"><img src="https://x.list-manage.com/track/open.php?u=1" width="1" height="1"><img src="cid:logo@x">"#,
        );
        assert_eq!((s.remote_images_blocked, s.trackers_removed), (1, 1));
        assert!(s.html.contains(r#"src="cid:logo@x""#), "{}", s.html);
        assert!(!s.html.contains("cdn.example.com"), "{}", s.html);
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
    fn links_open_outside_without_referrer() {
        let s = sanitize_html(r#"<a href="https://acme.test/quote">quote</a>"#);
        assert!(s.html.contains(r#"rel="noopener noreferrer""#), "{}", s.html);
        assert!(s.html.contains(r#"target="_blank""#), "{}", s.html);
    }
}
