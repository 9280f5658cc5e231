//! Plain text from HTML, as a mail client shows it.
//!
//! mail-parser's `html_to_text` breaks lines at `<br>` and `</p>` only, so
//! the one-`<div>`-per-line HTML that Outlook on the web and Gmail write
//! comes out as one run-on line ("Best,</div><div>Dana" reads "Best,Dana").
//! We mark the ends of the other block elements as line breaks first.

/// Closing tags (and `<hr>`) after which a line ends.
const BLOCK_ENDS: &[&str] = &[
    "</div",
    "</li",
    "</tr",
    "</h1",
    "</h2",
    "</h3",
    "</h4",
    "</h5",
    "</h6",
    "</blockquote",
    "</table",
    "<hr",
];

pub fn html_to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut marked = String::with_capacity(html.len() + html.len() / 16);
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = lower[at..].find('<') {
        let start = at + offset;
        let rest = &lower[start..];
        let is_block_end = BLOCK_ENDS.iter().any(|tag| {
            rest.starts_with(tag)
                && rest[tag.len()..]
                    .starts_with(|c: char| c == '>' || c == '/' || c.is_ascii_whitespace())
        });
        let Some(close) = rest.find('>') else { break };
        at = start + close + 1;
        if is_block_end {
            marked.push_str(&html[copied..at]);
            marked.push_str("<br>");
            copied = at;
        }
    }
    marked.push_str(&html[copied..]);
    tidy(&mail_parser::decoders::html::html_to_text(&marked))
}

/// Trailing spaces off every line, at most one empty line in a row, no
/// empty lines at either end.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line.trim_start_matches(' '));
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn divs_and_list_items_end_lines() {
        let html = "<div>Best,</div><div>Dana</div><ul><li>one</li><li>two</li></ul>";
        assert_eq!(html_to_text(html), "Best,\nDana\none\ntwo");
    }

    #[test]
    fn paragraphs_and_breaks_keep_one_empty_line_at_most() {
        assert_eq!(html_to_text("<p>Hi</p><p><br></p><p><br></p><p>Bye</p>"), "Hi\n\nBye");
    }

    #[test]
    fn unclosed_tags_end_the_scan() {
        // A raw "<" is invalid HTML; mail-parser reads it as a tag opening.
        // What matters is that an unclosed tag ends the scan.
        assert_eq!(html_to_text("a < b and <div"), "a");
        assert_eq!(html_to_text("<div>x</div"), "x");
    }
}
