//! The matcher against a real SQLite store: each rule and their order,
//! free-mail domains, contacts on several deals, thread inheritance in any
//! arrival order, and the rep's corrections (surviving re-import, becoming
//! rules, undone).

use std::path::Path;

use dealthread_core::Store;
use dealthread_core::entities::EntitiesFile;
use dealthread_core::ingest::{Outcome, RawMessage, ingest_batch};
use dealthread_core::matching::corrections::{self, Scope};
use dealthread_core::matching::{EntityKind, MatchStatus, Rule};
use dealthread_core::rawstore::StoreKey;
use dealthread_core::store::matches::{self, MatchView};
use dealthread_core::store::{corrections as log, settings};
use dealthread_mail::ReadOptions;

const NOW: i64 = 1_795_000_000; // 2026-11-18

const ENTITIES: &str = r#"{
  "deals": [
    {"id": "D-1", "name": "Northwind renewal", "stage": "Negotiation", "contact_ids": ["C-dana"]},
    {"id": "D-2", "name": "Bluebird pilot", "stage": "Proposal", "contact_ids": ["C-jonas", "C-multi"]},
    {"id": "D-3", "name": "Bluebird expansion", "stage": "Discovery", "contact_ids": ["C-multi"]},
    {"id": "D-4", "name": "Old Bluebird deal", "stage": "closedwon", "contact_ids": ["C-jonas"]},
    {"id": "D-9", "name": "Kestrel platform", "stage": "Qualified", "contact_ids": []}
  ],
  "contacts": [
    {"id": "C-dana", "name": "Dana Reyes", "emails": ["dana@northwind.example"], "company_id": "CO-nw"},
    {"id": "C-jonas", "name": "Jonas Berg", "emails": ["Jonas@bluebird.example"], "company_id": "CO-bb"},
    {"id": "C-multi", "name": "Mia Chen", "emails": ["mia@bluebird.example", "mia.chen@gmail.com"], "company_id": "CO-bb"},
    {"id": "C-solo", "name": "Lee Park", "emails": ["lee@kestrel.example"], "company_id": "CO-ks"}
  ],
  "companies": [
    {"id": "CO-nw", "name": "Northwind", "domains": ["northwind.example"]},
    {"id": "CO-bb", "name": "Bluebird", "domains": ["bluebird.example"]},
    {"id": "CO-ks", "name": "Kestrel", "domains": ["kestrel.example"]},
    {"id": "CO-gm", "name": "Someone registering gmail", "domains": ["gmail.com"]}
  ]
}"#;

/// A message built header by header.
#[derive(Clone)]
struct Mail {
    id: String,
    headers: Vec<(String, String)>,
    minute: u32,
    body: String,
}

fn mail(id: &str, from: &str, to: &str) -> Mail {
    Mail {
        id: id.into(),
        headers: vec![("From".into(), from.into()), ("To".into(), to.into())],
        minute: 0,
        body: format!("Message {id}."),
    }
}

impl Mail {
    fn header(mut self, name: &str, value: &str) -> Mail {
        self.headers.push((name.into(), value.into()));
        self
    }
    fn reply_to(self, parent: &str, root: &str) -> Mail {
        let refs =
            if parent == root { format!("<{root}@m>") } else { format!("<{root}@m> <{parent}@m>") };
        self.header("References", &refs).header("In-Reply-To", &format!("<{parent}@m>"))
    }
    fn at(mut self, minute: u32) -> Mail {
        self.minute = minute;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut m = String::new();
        for (name, value) in &self.headers {
            m.push_str(&format!("{name}: {value}\r\n"));
        }
        m.push_str(&format!(
            "Subject: About {}\r\nDate: Mon, 9 Nov 2026 10:{:02}:00 +0000\r\nMessage-ID: <{}@m>\r\n\r\n{}\r\n",
            self.id, self.minute, self.id, self.body
        ));
        m.into_bytes()
    }
}

fn open(path: &Path) -> Store {
    Store::open_with_key(path, Some(StoreKey::from_bytes([7; 32]))).expect("the store opens")
}

fn workspace(dir: &Path) -> Store {
    let mut store = open(&dir.join("t.db"));
    settings::set_list(store.conn(), "team_domains", &["acme.example".into()]).expect("team");
    settings::set_inbound_domains(store.conn(), &["in.acme.example".into()]).expect("inbound");
    EntitiesFile::parse(ENTITIES, "test entities")
        .expect("entities parse")
        .store(store.conn_mut(), NOW)
        .expect("entities stored");
    store
}

fn ingest(store: &mut Store, m: &Mail) -> i64 {
    let batch = [RawMessage { bytes: m.bytes(), source: "test".into(), locator: m.id.clone() }];
    match ingest_batch(store, &batch, &ReadOptions::default(), NOW).expect("ingest").remove(0) {
        Outcome::New { id } | Outcome::Duplicate { id } => id,
        Outcome::Unreadable { error, .. } => panic!("{} was unreadable: {error}", m.id),
    }
}

fn id_of(store: &Store, m: &Mail) -> i64 {
    store
        .conn()
        .query_row("SELECT id FROM messages WHERE message_id = ?1", [format!("{}@m", m.id)], |r| {
            r.get(0)
        })
        .expect("the message is stored")
}

fn view(store: &Store, id: i64) -> MatchView {
    matches::view(store.conn(), id).expect("view").expect("the message exists")
}

fn deal(store: &Store, id: i64) -> Option<String> {
    view(store, id).assignment.deal_id
}

const DANA: &str = "Dana Reyes <dana@northwind.example>";
const SAM: &str = "Sam Patel <sam@acme.example>";

#[test]
fn each_rule_decides_in_its_order_and_records_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());

    // 1. An alias beats the sender's own deal (Dana's one open deal is D-1).
    let alias = ingest(
        &mut store,
        &mail("a1", DANA, "sam@acme.example").header("Cc", "deal+D-9@in.acme.example"),
    );
    let v = view(&store, alias);
    assert_eq!(
        (v.status, v.rule, v.assignment.deal_id.as_deref()),
        (MatchStatus::Matched, Some(Rule::Alias), Some("D-9"))
    );
    assert!(
        v.reason.contains("Cc: deal+D-9@in.acme.example"),
        "reason names the alias: {}",
        v.reason
    );
    assert_eq!(
        v.assignment.contact_id.as_deref(),
        Some("C-dana"),
        "the sender's contact rides along"
    );

    // Delivered-To and X-Original-To count too; an alias on a foreign domain does not.
    let delivered = ingest(
        &mut store,
        &mail("a2", DANA, SAM).header("Delivered-To", "deal+D-2@in.acme.example"),
    );
    assert_eq!(deal(&store, delivered).as_deref(), Some("D-2"));
    let original = ingest(
        &mut store,
        &mail("a3", DANA, SAM).header("X-Original-To", "deal+D-3@in.acme.example"),
    );
    assert_eq!(deal(&store, original).as_deref(), Some("D-3"));
    let foreign = ingest(&mut store, &mail("a4", DANA, "deal+D-9@elsewhere.example"));
    assert_eq!(view(&store, foreign).rule, Some(Rule::Contact), "a lookalike alias is ignored");

    // 2. A correlation id beats the contact rule.
    let corr = ingest(&mut store, &mail("c1", DANA, SAM).header("X-Correlation-ID", "deal:D-3"));
    let v = view(&store, corr);
    assert_eq!((v.rule, v.assignment.deal_id.as_deref()), (Some(Rule::Correlation), Some("D-3")));

    // 4. A contact with one open deal (the closed one does not count).
    let jonas = ingest(&mut store, &mail("k1", "jonas@bluebird.example", SAM));
    let v = view(&store, jonas);
    assert_eq!((v.rule, v.assignment.deal_id.as_deref()), (Some(Rule::Contact), Some("D-2")));
    assert_eq!(v.assignment.company_id.as_deref(), Some("CO-bb"));

    // Reply-To counts when From is unknown.
    let via_reply_to = ingest(
        &mut store,
        &mail("k2", "assistant@elsewhere.example", SAM).header("Reply-To", DANA),
    );
    assert_eq!(deal(&store, via_reply_to).as_deref(), Some("D-1"));

    // A contact with no open deal is matched to the contact itself.
    let solo = ingest(&mut store, &mail("k3", "lee@kestrel.example", SAM));
    let v = view(&store, solo);
    assert_eq!(
        (v.rule, v.assignment.contact_id.as_deref(), v.assignment.deal_id),
        (Some(Rule::Contact), Some("C-solo"), None)
    );

    // 5. An unknown sender at a company's domain (or a subdomain of it).
    let colleague = ingest(&mut store, &mail("d1", "ops@eu.northwind.example", SAM));
    let v = view(&store, colleague);
    assert_eq!((v.rule, v.assignment.company_id.as_deref()), (Some(Rule::Company), Some("CO-nw")));

    // Free mail never matches a company, even one that lists the domain.
    let free = ingest(&mut store, &mail("f1", "stranger@gmail.com", SAM));
    let v = view(&store, free);
    assert_eq!((v.status, v.rule), (MatchStatus::Unmatched, None));
    assert!(v.reason.contains("free-mail"), "says why: {}", v.reason);

    // Team-only mail is internal and never pushed.
    let internal = ingest(&mut store, &mail("i1", SAM, "ana@acme.example"));
    let v = view(&store, internal);
    assert_eq!((v.status, v.crm_worthy), (MatchStatus::Internal, false));

    // A teammate forwarding customer mail is looked through.
    let mut fwd = mail("w1", SAM, "ana@acme.example");
    fwd.body = "FYI\r\n\r\n---------- Forwarded message ---------\r\nFrom: Dana Reyes <dana@northwind.example>\r\nDate: Mon, 9 Nov 2026 at 09:00\r\nSubject: Seats\r\nTo: Sam <sam@acme.example>\r\n\r\nCan we add 20 seats?".into();
    let forwarded = ingest(&mut store, &fwd);
    assert_eq!(deal(&store, forwarded).as_deref(), Some("D-1"), "{:?}", view(&store, forwarded));

    let queue = matches::review_queue(store.conn(), 100).expect("queue");
    let ids: Vec<i64> = queue.iter().map(|i| i.message_id).collect();
    assert_eq!(ids, vec![free], "only the unmatched message waits for review");
}

#[test]
fn a_contact_on_several_open_deals_goes_to_review_with_ranked_suggestions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    // D-3 has the more recent mail, so it ranks first.
    ingest(&mut store, &mail("r0", "jonas@bluebird.example", SAM).at(1));
    ingest(
        &mut store,
        &mail("r1", SAM, "x@y.example").header("Cc", "deal+D-3@in.acme.example").at(5),
    );

    let mia = ingest(&mut store, &mail("m1", "Mia <mia.chen@gmail.com>", SAM).at(9));
    let v = view(&store, mia);
    assert_eq!(
        (v.status, v.assignment.deal_id.clone()),
        (MatchStatus::Ambiguous, None),
        "never filed silently"
    );
    let ranked: Vec<&str> = v.suggestions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ranked, ["D-3", "D-2"], "ranked by latest activity: {:?}", v.suggestions);
    let queue = matches::review_queue(store.conn(), 10).expect("queue");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].suggestions.len(), 2);

    let applied = corrections::accept(store.conn_mut(), mia, 2, "rep", NOW).expect("accept");
    let v = view(&store, mia);
    assert_eq!((v.rule, v.assignment.deal_id.as_deref()), (Some(Rule::Correction), Some("D-2")));
    assert_eq!(v.assignment.contact_id.as_deref(), None, "an ambiguous match named no contact");
    assert!(applied.summary.contains("to deal D-2"), "{}", applied.summary);
    assert!(matches::review_queue(store.conn(), 10).expect("queue").is_empty());
    assert!(
        corrections::accept(store.conn_mut(), mia, 7, "rep", NOW).is_err(),
        "no seventh suggestion"
    );
}

/// Every order of a four-message thread ends the same: the alias message
/// anchors the thread, the unknown sender's replies inherit its deal.
#[test]
fn thread_inheritance_is_the_same_in_every_arrival_order() {
    let root =
        mail("t1", SAM, "dana@northwind.example").header("Cc", "deal+D-9@in.acme.example").at(1);
    let r1 = mail("t2", "newperson@northwind.example", SAM).reply_to("t1", "t1").at(2);
    let r2 = mail("t3", "stranger@gmail.com", SAM).reply_to("t2", "t1").at(3);
    let r3 = mail("t4", DANA, SAM).reply_to("t3", "t1").at(4);
    let all = [root, r1, r2, r3];
    for order in permutations(all.len()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = workspace(dir.path());
        for &i in &order {
            ingest(&mut store, &all[i]);
        }
        for m in &all {
            let v = view(&store, id_of(&store, m));
            assert_eq!(
                v.assignment.deal_id.as_deref(),
                Some("D-9"),
                "order {order:?}, {}: {v:?}",
                m.id
            );
            assert!(v.status == MatchStatus::Matched, "order {order:?}, {}: {v:?}", m.id);
        }
        let dana = view(&store, id_of(&store, &all[3]));
        assert_eq!(dana.rule, Some(Rule::Thread), "the thread outranks Dana's own deal");
        assert_eq!(
            dana.assignment.contact_id.as_deref(),
            Some("C-dana"),
            "and keeps her as the contact"
        );
    }
}

#[test]
fn corrections_win_survive_reimport_and_undo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    let root = mail("p1", DANA, SAM).at(1);
    let reply = mail("p2", SAM, DANA).reply_to("p1", "p1").at(2);
    let root_id = ingest(&mut store, &root);
    let reply_id = ingest(&mut store, &reply);
    assert_eq!(deal(&store, root_id).as_deref(), Some("D-1"));
    assert_eq!(
        deal(&store, reply_id).as_deref(),
        Some("D-1"),
        "the rep's reply to Dana is on her deal"
    );

    // Move the whole thread to D-9: both messages, and a later reply.
    let moved = corrections::move_to(
        store.conn_mut(),
        Scope::Thread(root_id),
        EntityKind::Deal,
        "D-9",
        "sam",
        NOW,
    )
    .expect("move");
    assert_eq!(moved.messages, 2);
    assert_eq!(deal(&store, root_id).as_deref(), Some("D-9"));
    let late = ingest(&mut store, &mail("p3", DANA, SAM).reply_to("p2", "p1").at(3));
    assert_eq!(
        deal(&store, late).as_deref(),
        Some("D-9"),
        "a later reply follows the moved thread"
    );

    // Re-importing the same messages changes nothing.
    ingest(&mut store, &root);
    ingest(&mut store, &reply);
    assert_eq!(deal(&store, root_id).as_deref(), Some("D-9"));
    assert_eq!(view(&store, root_id).rule, Some(Rule::Correction));

    // Not CRM-worthy, then undo it, then undo the move.
    corrections::mark_not_worthy(store.conn_mut(), Scope::Message(root_id), "sam", NOW)
        .expect("ignore");
    let v = view(&store, root_id);
    assert!(
        !v.crm_worthy && v.not_worthy_reason.as_deref().is_some_and(|r| r.contains("by sam")),
        "{v:?}"
    );
    assert_eq!(v.assignment.deal_id.as_deref(), Some("D-9"), "it stays filed");
    let err = corrections::undo(store.conn_mut(), Some(moved.correction_id), "sam", NOW)
        .expect_err("order");
    assert!(err.to_string().contains("undo it first"), "{err}");
    corrections::undo(store.conn_mut(), None, "sam", NOW).expect("undo ignore");
    assert!(view(&store, root_id).crm_worthy);
    corrections::undo(store.conn_mut(), None, "sam", NOW).expect("undo move");
    assert_eq!(deal(&store, root_id).as_deref(), Some("D-1"), "back to the rules' answer");
    assert_eq!(
        deal(&store, late).as_deref(),
        Some("D-1"),
        "the late reply follows the thread back"
    );
    let entries = log::list(store.conn(), 10).expect("log");
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.undone_at.is_some() && e.actor == "sam"), "{entries:?}");
    assert!(corrections::undo(store.conn_mut(), None, "sam", NOW).is_err(), "nothing left to undo");
}

#[test]
fn a_sender_rule_refiles_stored_mail_and_files_new_mail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    let before = ingest(&mut store, &mail("s1", "buyer@procure.example", SAM));
    assert_eq!(view(&store, before).status, MatchStatus::Unmatched);

    let made = corrections::add_rule(
        store.conn_mut(),
        "@procure.example",
        EntityKind::Deal,
        "D-9",
        "sam",
        NOW,
    )
    .expect("rule");
    assert_eq!(made.messages, 1, "{}", made.summary);
    let v = view(&store, before);
    assert_eq!((v.rule, v.assignment.deal_id.as_deref()), (Some(Rule::SenderRule), Some("D-9")));
    let after = ingest(&mut store, &mail("s2", "ap@eu.procure.example", SAM));
    assert_eq!(deal(&store, after).as_deref(), Some("D-9"), "subdomains follow the rule");
    assert!(
        corrections::add_rule(store.conn_mut(), "procure", EntityKind::Deal, "D-9", "sam", NOW)
            .is_err()
    );
    assert!(
        corrections::add_rule(
            store.conn_mut(),
            "@x.example",
            EntityKind::Deal,
            "D-404",
            "sam",
            NOW
        )
        .is_err()
    );

    corrections::undo(store.conn_mut(), None, "sam", NOW).expect("undo");
    assert_eq!(view(&store, before).status, MatchStatus::Unmatched, "the rule is gone");
    assert_eq!(view(&store, after).status, MatchStatus::Unmatched);
}

#[test]
fn split_and_merge_threads_and_undo_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    let a =
        ingest(&mut store, &mail("x1", DANA, SAM).header("Cc", "deal+D-1@in.acme.example").at(1));
    let b = ingest(&mut store, &mail("x2", "stranger@gmail.com", SAM).reply_to("x1", "x1").at(2));
    let c = ingest(&mut store, &mail("x3", "stranger@gmail.com", SAM).reply_to("x2", "x1").at(3));
    assert_eq!(deal(&store, c).as_deref(), Some("D-1"));

    let split = corrections::split(store.conn_mut(), b, "sam", NOW).expect("split");
    assert_eq!(split.messages, 2, "{}", split.summary);
    assert_ne!(view(&store, a).thread_id, view(&store, b).thread_id);
    assert_eq!(view(&store, b).thread_id, view(&store, c).thread_id, "the reply below goes along");
    assert_eq!(view(&store, c).status, MatchStatus::Unmatched, "no longer inherits the deal");
    assert!(
        corrections::split(store.conn_mut(), a, "sam", NOW).is_err(),
        "the first message cannot split off"
    );

    let other = ingest(&mut store, &mail("y1", "stranger@gmail.com", SAM).at(9));
    corrections::merge(store.conn_mut(), a, other, "sam", NOW).expect("merge");
    assert_eq!(deal(&store, other).as_deref(), Some("D-1"), "merged into the deal's thread");
    corrections::undo(store.conn_mut(), None, "sam", NOW).expect("undo merge");
    assert_eq!(view(&store, other).status, MatchStatus::Unmatched);
    corrections::undo(store.conn_mut(), None, "sam", NOW).expect("undo split");
    assert_eq!(view(&store, a).thread_id, view(&store, c).thread_id);
    assert_eq!(deal(&store, c).as_deref(), Some("D-1"));
}

#[test]
fn new_crm_entities_offer_earlier_unmatched_mail_for_relinking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    let early = ingest(&mut store, &mail("n1", "cfo@newco.example", SAM));
    assert_eq!(view(&store, early).status, MatchStatus::Unmatched);
    let more = r#"{"deals": [{"id": "D-20", "name": "NewCo", "stage": "Discovery", "contact_ids": ["C-cfo"]}],
                   "contacts": [{"id": "C-cfo", "name": "Ola", "emails": ["cfo@newco.example"], "company_id": null}]}"#;
    let imported = EntitiesFile::parse(more, "more")
        .expect("parse")
        .store(store.conn_mut(), NOW)
        .expect("store");
    assert_eq!(imported.offered, 1);
    let v = view(&store, early);
    assert_eq!(v.status, MatchStatus::Unmatched, "offered, not applied");
    assert_eq!(v.suggestions.first().map(|s| s.id.as_str()), Some("D-20"), "{v:?}");
    assert!(v.suggestions[0].reason.starts_with("new in the CRM"), "{:?}", v.suggestions);
    corrections::accept(store.conn_mut(), early, 1, "sam", NOW).expect("accept");
    assert_eq!(deal(&store, early).as_deref(), Some("D-20"));
}

#[test]
fn robots_lists_and_auto_replies_are_matched_but_never_pushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    settings::set_list(store.conn(), "block_list", &["@promo.example".into()]).expect("block");
    let ooo = ingest(
        &mut store,
        &mail("o1", DANA, SAM)
            .header("Auto-Submitted", "auto-replied")
            .header("Cc", "deal+D-1@in.acme.example"),
    );
    let v = view(&store, ooo);
    assert_eq!(v.assignment.deal_id.as_deref(), Some("D-1"));
    assert_eq!((v.crm_worthy, v.not_worthy_reason.as_deref()), (false, Some("auto-reply")));
    let promo =
        ingest(&mut store, &mail("o2", "deals@mail.promo.example", "deal+D-1@in.acme.example"));
    let v = view(&store, promo);
    assert!(
        !v.crm_worthy && v.not_worthy_reason.as_deref().is_some_and(|r| r.contains("block list")),
        "{v:?}"
    );
    let robot = ingest(&mut store, &mail("o3", "no-reply@vendor.example", SAM));
    assert!(!view(&store, robot).crm_worthy);
    let list = ingest(
        &mut store,
        &mail("o4", "someone@vendor.example", SAM).header("List-Id", "<news.vendor.example>"),
    );
    assert!(!view(&store, list).crm_worthy);
    assert!(
        matches::review_queue(store.conn(), 10).expect("queue").is_empty(),
        "none of them waits for review"
    );
    let config = matches::config(store.conn()).expect("config");
    let offers = matches::contact_offers(store.conn(), &config, None).expect("offers");
    assert!(offers.is_empty(), "robots are never offered as contacts: {offers:?}");
}

#[test]
fn an_unknown_sender_on_a_matched_deal_is_offered_as_a_contact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = workspace(dir.path());
    ingest(&mut store, &mail("u1", "Ravi <ravi@northwind.example>", "deal+D-1@in.acme.example"));
    ingest(&mut store, &mail("u2", DANA, "deal+D-1@in.acme.example"));
    let config = matches::config(store.conn()).expect("config");
    let offers = matches::contact_offers(store.conn(), &config, None).expect("offers");
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(
        (offers[0].address.as_str(), offers[0].deal_id.as_str()),
        ("ravi@northwind.example", "D-1")
    );
    // One deal's own offers: the same one for D-1, none for another deal.
    let own = matches::contact_offers(store.conn(), &config, Some("D-1")).expect("D-1's offers");
    assert_eq!(own, offers);
    let other = matches::contact_offers(store.conn(), &config, Some("D-2")).expect("D-2's offers");
    assert!(other.is_empty(), "{other:?}");
    let contacts: i64 =
        store.conn().query_row("SELECT count(*) FROM contacts", [], |r| r.get(0)).expect("count");
    assert_eq!(contacts, 4, "nothing was created silently");
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            out.push(p);
        }
    }
    out
}
