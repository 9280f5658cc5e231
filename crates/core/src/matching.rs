//! Which deal a message belongs to.
//!
//! This first matcher knows one rule: a recipient alias `deal+{ID}@...`
//! (in the envelope, To, Cc, Delivered-To or X-Original-To) files the message
//! under deal ID. The full rule set (contacts, companies, thread inheritance,
//! corrections) replaces it in the matching issue.

use dealthread_mail::Document;

/// The deal named by a `deal+ID@` recipient alias, if any.
pub fn deal_from_alias(document: &Document) -> Option<String> {
    let recipients = document
        .envelope
        .rcpt_to
        .iter()
        .map(String::as_str)
        .chain(document.to.iter().chain(&document.cc).map(|m| m.address.as_str()));
    recipients.filter_map(alias_id).next()
}

fn alias_id(address: &str) -> Option<String> {
    let (local, _domain) = address.rsplit_once('@')?;
    let (tag, id) = local.split_once('+')?;
    if !tag.eq_ignore_ascii_case("deal") {
        return None;
    }
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::alias_id;

    #[test]
    fn reads_deal_aliases_and_rejects_lookalikes() {
        assert_eq!(alias_id("deal+D-1001@in.acme.test"), Some("D-1001".into()));
        assert_eq!(alias_id("DEAL+77@in.acme.test"), Some("77".into()));
        assert_eq!(alias_id("contact+77@in.acme.test"), None);
        assert_eq!(alias_id("deal+@in.acme.test"), None);
        assert_eq!(alias_id("deal+../../x@in.acme.test"), None);
    }
}
