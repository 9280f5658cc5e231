//! The demo workspace: a few made-up deals and their mail, shipped inside
//! the binary, so a new user sees a working timeline before configuring
//! anything. Loaded once, into an empty database only.

use dealthread_mail::ReadOptions;

use crate::entities::EntitiesFile;
use crate::error::Result;
use crate::ingest::{self, RawMessage};
use crate::store::{Store, messages, settings};

const ENTITIES: &str = include_str!("../demo/entities.json");

const MESSAGES: &[(&str, &[u8])] = &[
    ("01-quote.eml", include_bytes!("../demo/01-quote.eml")),
    ("02-reply-gmail.eml", include_bytes!("../demo/02-reply-gmail.eml")),
    ("03-po-attached.eml", include_bytes!("../demo/03-po-attached.eml")),
    ("04-pilot-proposal.eml", include_bytes!("../demo/04-pilot-proposal.eml")),
    ("05-auto-reply.eml", include_bytes!("../demo/05-auto-reply.eml")),
    ("06-reply-outlook.eml", include_bytes!("../demo/06-reply-outlook.eml")),
    ("07-signed-apple.eml", include_bytes!("../demo/07-signed-apple.eml")),
    // For the review queue: a stranger on free mail, and a contact on two
    // open deals writing without an alias.
    ("08-question-freemail.eml", include_bytes!("../demo/08-question-freemail.eml")),
    ("09-new-question-contact.eml", include_bytes!("../demo/09-new-question-contact.eml")),
];

/// Loads the demo into `store` if it holds no messages and no deals yet.
/// Returns whether it did.
pub fn load_if_empty(store: &mut Store) -> Result<bool> {
    let deals: i64 = store.conn().query_row("SELECT count(*) FROM deals", [], |r| r.get(0))?;
    if messages::count(store.conn())? > 0 || deals > 0 {
        return Ok(false);
    }
    let now = ingest::unix_now();
    // The demo team sells from acme-sales.example and receives deal aliases
    // on its inbound subdomain.
    settings::set_list(store.conn(), "team_domains", &["acme-sales.example".to_string()])?;
    settings::set_inbound_domains(store.conn(), &["inbound.acme-sales.example".to_string()])?;
    EntitiesFile::parse(ENTITIES, "demo entities")?.store(store.conn_mut(), now)?;
    let batch: Vec<RawMessage> = MESSAGES
        .iter()
        .map(|(name, bytes)| RawMessage {
            bytes: bytes.to_vec(),
            source: "demo".into(),
            locator: (*name).into(),
        })
        .collect();
    ingest::ingest_batch(store, &batch, &ReadOptions::default(), now)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{deals, timeline};

    #[test]
    fn the_demo_loads_once_with_deal_mail_and_a_review_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open_with_key(
            &dir.path().join("demo.db"),
            Some(crate::rawstore::StoreKey::from_bytes([7; 32])),
        )
        .expect("open");
        assert!(load_if_empty(&mut store).expect("load"));
        assert!(!load_if_empty(&mut store).expect("second load"), "must not load twice");
        let listed = deals::list(store.conn()).expect("deals");
        assert_eq!(listed.len(), 4);
        let total: i64 = listed.iter().map(|d| d.message_count).sum();
        assert_eq!(total, MESSAGES.len() as i64 - 2, "all but the two for review are on a deal");
        let review = crate::store::matches::review_queue(store.conn(), 10).expect("review");
        let statuses: Vec<_> = review.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(statuses, ["ambiguous", "unmatched"], "the review queue's demo: {review:?}");
        let offered: Vec<_> = review[0].suggestions.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(offered, ["D-1002", "D-1004"], "Jonas's two open deals, the active one first");
        let timeline = timeline::timeline(store.conn(), "D-1001").expect("timeline");
        let subjects: Vec<_> =
            timeline.iter().map(|m| m.subject.clone().unwrap_or_default()).collect();
        assert_eq!(subjects[0], "Renewal quote for 250 seats", "oldest first: {subjects:?}");
        assert!(timeline.iter().all(|m| m.parse_error.is_none()));
    }
}
