//! The matcher's evaluation: a labelled set of 340 generated messages
//! across 20 deals, each with the answer a careful rep would give, run
//! through the real ingest into a real SQLite store. Prints precision and
//! recall, and holds the matcher to its targets: precision 1.0 on alias
//! and correlation matches, above 0.98 overall, and every message that
//! needs the rep listed in the review queue.

use std::collections::HashSet;
use std::io::Write;

use dealthread_core::Store;
use dealthread_core::entities::EntitiesFile;
use dealthread_core::ingest::{Outcome, RawMessage, ingest_batch};
use dealthread_core::matching::{EntityKind, MatchStatus, Rule};
use dealthread_core::rawstore::StoreKey;
use dealthread_core::store::{matches, settings};
use dealthread_mail::ReadOptions;

const NOW: i64 = 1_795_000_000;
const DEALS: usize = 20;
const COMPANIES: usize = 10;

/// What the rep would say about a message.
#[derive(Debug, Clone, PartialEq)]
enum Truth {
    /// Filed under this entity (and pushed, unless `muted`).
    Entity { kind: EntityKind, id: String, muted: bool },
    /// Needs the rep: one of several open deals (the right one among the
    /// suggestions), or nobody the CRM knows.
    Review { among: Vec<String> },
    /// Team-only mail.
    Internal,
    /// A robot or a newsletter: never pushed, never reviewed.
    Noise,
}

struct Case {
    raw: Vec<u8>,
    label: &'static str,
    truth: Truth,
}

/// A small deterministic generator (a 64-bit LCG), so the set is the same
/// on every run and every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

fn deal(i: usize) -> String {
    format!("D-{i:02}")
}
fn company_of_deal(i: usize) -> usize {
    i % COMPANIES
}
fn domain(company: usize) -> String {
    format!("client{company:02}.example")
}
/// Deals 17..20 are closed.
fn open(i: usize) -> bool {
    i < 17
}

fn entities() -> String {
    let mut deals = Vec::new();
    let mut contacts = Vec::new();
    for i in 0..DEALS {
        let stage = if open(i) {
            "Negotiation"
        } else if i % 2 == 0 {
            "closedwon"
        } else {
            "Closed Lost"
        };
        let mut ids = vec![format!("\"P-{i:02}\"")];
        // Multi-deal contacts M-k sit on two open deals: k and k + 5.
        if i < 10 {
            ids.push(format!("\"M-{:02}\"", i % 5));
        }
        deals.push(format!(
            r#"{{"id": "{}", "name": "Deal {i}", "stage": "{stage}", "contact_ids": [{}]}}"#,
            deal(i),
            ids.join(", ")
        ));
        contacts.push(format!(
            r#"{{"id": "P-{i:02}", "name": "Primary {i}", "emails": ["buyer{i:02}@{}"], "company_id": "CO-{:02}"}}"#,
            domain(company_of_deal(i)),
            company_of_deal(i)
        ));
    }
    for k in 0..5 {
        contacts.push(format!(
            r#"{{"id": "M-{k:02}", "name": "Multi {k}", "emails": ["multi{k}@{}"], "company_id": "CO-{:02}"}}"#,
            domain(k),
            k
        ));
    }
    let companies: Vec<String> = (0..COMPANIES)
        .map(|c| {
            format!(r#"{{"id": "CO-{c:02}", "name": "Client {c}", "domains": ["{}"]}}"#, domain(c))
        })
        .collect();
    format!(
        r#"{{"deals": [{}], "contacts": [{}], "companies": [{}]}}"#,
        deals.join(","),
        contacts.join(","),
        companies.join(",")
    )
}

struct Writer {
    n: usize,
}

impl Writer {
    /// One message; `extra` are further header lines.
    fn mail(&mut self, from: &str, to: &str, extra: &[String], body: &str) -> (Vec<u8>, String) {
        self.n += 1;
        let id = format!("eval{:04}@mail.example", self.n);
        let mut m = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: Quote follow-up {}\r\nDate: Tue, 10 Nov 2026 {:02}:{:02}:00 +0000\r\nMessage-ID: <{id}>\r\n",
            self.n,
            8 + self.n / 60 % 10,
            self.n % 60
        );
        for line in extra {
            m.push_str(line);
            m.push_str("\r\n");
        }
        m.push_str(&format!("\r\n{body}\r\n"));
        (m.into_bytes(), id)
    }
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x5eed_dea1);
    let mut w = Writer { n: 0 };
    let mut out = Vec::new();
    let alias_fields = ["To", "Cc", "Delivered-To", "X-Original-To"];
    let team = "Sam Patel <sam@acme.example>";
    let entity = |i: usize, muted| Truth::Entity { kind: EntityKind::Deal, id: deal(i), muted };

    // Aliases in every recipient field, from people the CRM may not know.
    for n in 0..60 {
        let i = rng.below(DEALS);
        let field = alias_fields[n % alias_fields.len()];
        let alias = format!("deal+{}@in.acme.example", deal(i));
        let from = format!("person{n}@gmail.com");
        let (raw, _) = if field == "To" {
            w.mail(&from, &alias, &[], "Please see the attached PO.")
        } else {
            w.mail(&from, team, &[format!("{field}: {alias}")], "Following up on the quote.")
        };
        out.push(Case { raw, label: "alias", truth: entity(i, false) });
    }
    // Correlation ids set by the team's quoting tool.
    for n in 0..20 {
        let i = rng.below(DEALS);
        let (raw, _) = w.mail(
            &format!("Procurement <proc{n}@{}>", domain(rng.below(COMPANIES))),
            team,
            &[format!("X-Correlation-ID: deal:{}", deal(i))],
            "Our approval is attached.",
        );
        out.push(Case { raw, label: "correlation", truth: entity(i, false) });
    }
    // Threads: a root on a deal alias, then two replies from free-mail
    // senders nobody knows. Replies come before roots for half of them.
    for n in 0..20 {
        let i = rng.below(DEALS);
        let (root, root_id) = w.mail(
            team,
            &format!("someone{n}@hotmail.com"),
            &[format!("Cc: deal+{}@in.acme.example", deal(i))],
            "Here is the quote.",
        );
        let (r1, r1_id) = w.mail(
            &format!("someone{n}@hotmail.com"),
            team,
            &[format!("In-Reply-To: <{root_id}>"), format!("References: <{root_id}>")],
            "Thanks, looking at it.",
        );
        let (r2, _) = w.mail(
            &format!("colleague{n}@yahoo.com"),
            team,
            &[format!("In-Reply-To: <{r1_id}>"), format!("References: <{root_id}> <{r1_id}>")],
            "Adding my colleague.",
        );
        let root = Case { raw: root, label: "alias", truth: entity(i, false) };
        let replies = [r1, r2].map(|raw| Case { raw, label: "thread", truth: entity(i, false) });
        if n % 2 == 0 {
            out.push(root);
            out.extend(replies);
        } else {
            out.extend(replies);
            out.push(root);
        }
    }
    // A contact answering on another deal's thread: the thread wins over
    // the contact's own deal (rule 3 before rule 4).
    for _ in 0..10 {
        let (i, j) = (rng.below(17), rng.below(17));
        let buyer = format!("buyer{i:02}@{}", domain(company_of_deal(i)));
        let (root, root_id) = w.mail(
            team,
            &buyer,
            &[format!("Cc: deal+{}@in.acme.example", deal(j))],
            "The add-on quote.",
        );
        let (reply, _) = w.mail(
            &buyer,
            team,
            &[format!("In-Reply-To: <{root_id}>"), format!("References: <{root_id}>")],
            "Approved.",
        );
        out.push(Case { raw: reply, label: "thread-over-contact", truth: entity(j, false) });
        out.push(Case { raw: root, label: "alias", truth: entity(j, false) });
    }
    // Primary contacts writing fresh mail: their one open deal. Contacts of
    // closed deals have no open deal and are matched to themselves.
    for _ in 0..60 {
        let i = rng.below(DEALS);
        let (raw, _) = w.mail(
            &format!("buyer{i:02}@{}", domain(company_of_deal(i))),
            team,
            &[],
            "Quick question.",
        );
        let truth = if open(i) {
            entity(i, false)
        } else {
            Truth::Entity { kind: EntityKind::Contact, id: format!("P-{i:02}"), muted: false }
        };
        out.push(Case { raw, label: "contact", truth });
    }
    // Reply-To naming a primary contact, From an assistant.
    for n in 0..10 {
        let i = rng.below(17);
        let (raw, _) = w.mail(
            &format!("assistant{n}@assist.example"),
            team,
            &[format!("Reply-To: buyer{i:02}@{}", domain(company_of_deal(i)))],
            "On behalf of my manager.",
        );
        out.push(Case { raw, label: "reply-to", truth: entity(i, false) });
    }
    // Contacts on two open deals: the rep decides.
    for _ in 0..20 {
        let k = rng.below(5);
        let (raw, _) = w.mail(&format!("multi{k}@{}", domain(k)), team, &[], "About our projects.");
        out.push(Case {
            raw,
            label: "multi-deal",
            truth: Truth::Review { among: vec![deal(k), deal(k + 5)] },
        });
    }
    // New people at a known company.
    for n in 0..30 {
        let c = rng.below(COMPANIES);
        let sub = if n % 3 == 0 { "eu." } else { "" };
        let (raw, _) =
            w.mail(&format!("newperson{n}@{sub}{}", domain(c)), team, &[], "Introducing myself.");
        out.push(Case {
            raw,
            label: "company",
            truth: Truth::Entity {
                kind: EntityKind::Company,
                id: format!("CO-{c:02}"),
                muted: false,
            },
        });
    }
    // Strangers on free mail, and alias lookalikes that must not match.
    for n in 0..20 {
        let (raw, _) =
            w.mail(&format!("stranger{n}@gmail.com"), team, &[], "Do you sell to schools?");
        out.push(Case { raw, label: "unknown", truth: Truth::Review { among: vec![] } });
    }
    for n in 0..5 {
        let i = rng.below(DEALS);
        let extra = match n % 2 {
            0 => vec![format!("Cc: deal+{}@in.acme.example.attacker.example", deal(i))],
            _ => vec![format!("Reply-To: deal+{}@in.acme.example", deal(i))],
        };
        let (raw, _) = w.mail(&format!("deal+{}@outlook.com", deal(i)), team, &extra, "Hello.");
        out.push(Case { raw, label: "lookalike", truth: Truth::Review { among: vec![] } });
    }
    // Team-only mail.
    for n in 0..15 {
        let (raw, _) = w.mail(team, &format!("rep{n}@acme.example"), &[], "Can you cover my call?");
        out.push(Case { raw, label: "internal", truth: Truth::Internal });
    }
    // Out-of-office answers from contacts on an alias thread: filed, muted.
    for _ in 0..10 {
        let i = rng.below(17);
        let (raw, _) = w.mail(
            &format!("buyer{i:02}@{}", domain(company_of_deal(i))),
            &format!("deal+{}@in.acme.example", deal(i)),
            &["Auto-Submitted: auto-replied".into()],
            "I am out of the office until Monday.",
        );
        out.push(Case { raw, label: "auto-reply", truth: entity(i, true) });
    }
    // Robots and newsletters.
    for n in 0..10 {
        let (from, extra) = match n % 3 {
            0 => ("no-reply@billing.vendor.example".to_string(), vec![]),
            1 => (
                format!("news@letters{n}.example"),
                vec![format!("List-Id: <weekly.letters{n}.example>")],
            ),
            _ => ("notifications@saas.example".to_string(), vec![]),
        };
        let (raw, _) = w.mail(&from, team, &extra, "Your weekly digest.");
        out.push(Case { raw, label: "noise", truth: Truth::Noise });
    }
    out
}

#[test]
fn the_matcher_meets_its_targets_on_the_labelled_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store =
        Store::open_with_key(&dir.path().join("eval.db"), Some(StoreKey::from_bytes([3; 32])))
            .expect("the store opens");
    settings::set_list(store.conn(), "team_domains", &["acme.example".into()]).expect("team");
    settings::set_inbound_domains(store.conn(), &["in.acme.example".into()]).expect("inbound");
    EntitiesFile::parse(&entities(), "eval entities")
        .expect("parse")
        .store(store.conn_mut(), NOW)
        .expect("store");

    let cases = cases();
    assert!(cases.len() >= 300, "the set has {} messages", cases.len());
    let batch: Vec<RawMessage> = cases
        .iter()
        .enumerate()
        .map(|(n, c)| RawMessage {
            bytes: c.raw.clone(),
            source: "eval".into(),
            locator: n.to_string(),
        })
        .collect();
    let mut ids = Vec::new();
    for chunk in batch.chunks(25) {
        for outcome in
            ingest_batch(&mut store, chunk, &ReadOptions::default(), NOW).expect("ingest")
        {
            match outcome {
                Outcome::New { id } => ids.push(id),
                other => panic!("every generated message is new and readable: {other:?}"),
            }
        }
    }
    let review: HashSet<i64> = matches::review_queue(store.conn(), 10_000)
        .expect("queue")
        .iter()
        .map(|i| i.message_id)
        .collect();

    let (mut predicted, mut correct, mut expected) = (0usize, 0usize, 0usize);
    let (mut strong_predicted, mut strong_correct) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (case, id) in cases.iter().zip(&ids) {
        let v = matches::view(store.conn(), *id).expect("view").expect("stored");
        let guess = (v.status == MatchStatus::Matched)
            .then(|| v.assignment.primary().map(|(k, e)| (k, e.to_string())))
            .flatten();
        let right = match &case.truth {
            Truth::Entity { kind, id, muted } => {
                expected += 1;
                let ok = guess.as_ref() == Some(&(*kind, id.clone())) && v.crm_worthy != *muted;
                if !ok {
                    failures.push(format!(
                        "{} message {id:?}: wanted {kind:?} {id}, got {v:?}",
                        case.label
                    ));
                }
                guess.as_ref() == Some(&(*kind, id.clone()))
            }
            Truth::Review { among } => {
                let offered: Vec<&str> = v.suggestions.iter().map(|s| s.id.as_str()).collect();
                let listed =
                    review.contains(id) && among.iter().all(|d| offered.contains(&d.as_str()));
                if !listed {
                    failures.push(format!(
                        "{} message should wait for review offering {among:?}: {v:?}",
                        case.label
                    ));
                }
                guess.is_none()
            }
            Truth::Internal => {
                v.status == MatchStatus::Internal && !v.crm_worthy && !review.contains(id)
            }
            Truth::Noise => !v.crm_worthy && !review.contains(id),
        };
        if guess.is_some() {
            predicted += 1;
            correct += usize::from(right);
            if matches!(v.rule, Some(Rule::Alias | Rule::Correlation)) {
                strong_predicted += 1;
                strong_correct += usize::from(right);
            }
        }
        if !right && !matches!(case.truth, Truth::Entity { .. } | Truth::Review { .. }) {
            failures.push(format!("{} message: {v:?}", case.label));
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = ratio(correct, predicted);
    let strong = ratio(strong_correct, strong_predicted);
    let recall = ratio(correct, expected);
    // Straight to stderr: the test harness captures print! but not this,
    // so the figures show in the test command's output on every run.
    let _ = writeln!(
        std::io::stderr(),
        "matcher evaluation: {} messages, {DEALS} deals; precision {precision:.3} ({correct}/{predicted}), \
         alias+correlation precision {strong:.3} ({strong_correct}/{strong_predicted}), \
         recall {recall:.3} ({correct}/{expected}), review queue {} messages",
        cases.len(),
        review.len()
    );
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(strong, 1.0, "alias and correlation matches must all be right");
    assert!(precision > 0.98, "precision {precision}");
}
