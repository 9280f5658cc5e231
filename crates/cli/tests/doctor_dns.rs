//! `dealthread doctor` reports the MX records of the inbound domains, asked
//! of a DNS server the test runs on 127.0.0.1, and fails on a domain with
//! no MX or no existence.

use std::process::Command;

use dealthread_tests::dns::{DnsServer, Zone};

fn dealthread(db: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dealthread"));
    command.arg("--db").arg(db).env(
        "DEALTHREAD_STORE_KEY",
        "5555555555555555555555555555555555555555555555555555555555555555",
    );
    command
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("dealthread runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn doctor_shows_each_inbound_domains_mx_and_flags_the_broken_ones() {
    let zone: Zone = [
        (
            "in.acme.test".to_string(),
            vec![(20, "mx2.acme.test".into()), (10, "mx1.acme.test".into())],
        ),
        ("nomx.acme.test".to_string(), vec![]),
    ]
    .into_iter()
    .collect();
    let dns = DnsServer::start(zone);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("d.db");

    for domain in ["In.Acme.test.", "nomx.acme.test", "gone.acme.test"] {
        let (ok, text) = run(dealthread(&db).args(["inbound-domain", "add", domain]));
        assert!(ok, "{text}");
    }
    let (ok, text) = run(dealthread(&db).args(["inbound-domain", "add", "not a domain"]));
    assert!(!ok && text.contains("is not a domain name"), "{text}");
    let (_, listed) = run(dealthread(&db).args(["inbound-domain", "list"]));
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        ["gone.acme.test", "in.acme.test", "nomx.acme.test"]
    );

    let dns_arg = dns.addr.to_string();
    let (ok, report) = run(dealthread(&db).args(["doctor", "--dns", &dns_arg]));
    assert!(!ok, "a domain without MX fails the check: {report}");
    assert!(
        report.contains("inbound domain in.acme.test: MX 10 mx1.acme.test, 20 mx2.acme.test"),
        "{report}"
    );
    assert!(
        report.contains("nomx.acme.test: problem: nomx.acme.test: the domain has no MX records"),
        "{report}"
    );
    assert!(
        report.contains("gone.acme.test: problem: gone.acme.test: the domain does not exist"),
        "{report}"
    );

    for domain in ["nomx.acme.test", "gone.acme.test"] {
        let (ok, text) = run(dealthread(&db).args(["inbound-domain", "remove", domain]));
        assert!(ok, "{text}");
    }
    let (ok, report) = run(dealthread(&db).args(["doctor", "--dns", &dns_arg]));
    assert!(ok, "every domain has its MX now: {report}");
}
