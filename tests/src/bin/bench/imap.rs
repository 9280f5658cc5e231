//! `bench imap`: the initial sync of a generated mailbox from a private
//! Dovecot, Dealthread (`dealthread sync --once`: fetch, parse, thread,
//! index, encrypt) against mbsync (isync: fetch and write files), on the
//! same folder in one run; then the incremental check with nothing new.

use std::process::Command;
use std::time::Instant;

use dealthread_core::Store;
use dealthread_core::sources::imap::{self, Auth, Check, ImapSource, Security};
use dealthread_mail::ReadOptions;
use dealthread_tests::dovecot::{Dovecot, PASSWORD, USER};
use dealthread_tests::{corpus, workspace_root};

use super::flag;
use super::store::timed;

pub fn run(args: &[String]) -> Result<(), String> {
    let count = flag(args, "--messages", 10_000)?;
    let cli = workspace_root().join("target/release/dealthread");
    if !cli.is_file() {
        return Err(format!("{} is missing: run through scripts/bench.sh", cli.display()));
    }
    let mut server = Dovecot::start();
    let mut rng = corpus::Rng::new(count as u64);
    let mail: Vec<Vec<u8>> = (0..count).map(|i| corpus::message(&mut rng, i)).collect();
    let bytes: usize = mail.iter().map(Vec::len).sum();
    server.deliver(&mail);
    drop(mail);
    println!(
        "\ninitial sync of {count} messages ({:.0} MB) from Dovecot over TLS on 127.0.0.1",
        bytes as f64 / 1e6
    );

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("dealthread.db");
    let add = Command::new(&cli)
        .arg("--db")
        .arg(&db)
        .args(["source", "add", "imap", "--name", "bench", "--host", "127.0.0.1"])
        .args(["--port", &server.tls_port.to_string(), "--user", USER])
        .args(["--pin", &server.fingerprint, "--secret-env", "BENCH_IMAP_PASSWORD"])
        .output()
        .map_err(|e| e.to_string())?;
    if !add.status.success() {
        return Err(String::from_utf8_lossy(&add.stderr).into_owned());
    }
    // The first pass of the folder (and its completeness check) from a
    // cold store, as a rep's first sync.
    let mut sync = Command::new(&cli);
    sync.arg("--db").arg(&db).args(["sync", "--once"]).env("BENCH_IMAP_PASSWORD", PASSWORD);
    let (dt_secs, dt_kb) = timed(&mut sync)?;

    let near = dir.path().join("mbsync");
    std::fs::create_dir_all(&near).map_err(|e| e.to_string())?;
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount bench\nHost localhost\nPort {port}\nUser {USER}\nPass \"{PASSWORD}\"\n\
             SSLType IMAPS\nCertificateFile {cert}\n\n\
             IMAPStore far\nAccount bench\n\n\
             MaildirStore near\nPath {near}/\nInbox {near}/INBOX\n\n\
             Channel bench\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Near\nSync Pull\n\
             SyncState *\n",
            port = server.tls_port,
            cert = server.root().join("tls/cert.pem").display(),
            near = near.display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let (mb_secs, mb_kb) = timed(Command::new("mbsync").arg("-q").arg("-c").arg(&config).arg("-a"))
        .map_err(|e| format!("{e} (is isync installed?)"))?;
    let rate = |secs: f64| count as f64 / secs;
    println!(
        "  dealthread sync   {dt_secs:6.2} s  {:7.0} msg/s  peak {:6.1} MB",
        rate(dt_secs),
        dt_kb as f64 / 1024.0
    );
    println!(
        "  mbsync            {mb_secs:6.2} s  {:7.0} msg/s  peak {:6.1} MB",
        rate(mb_secs),
        mb_kb as f64 / 1024.0
    );
    println!(
        "  ratio: Dealthread takes {:.2}x mbsync's wall time (target <= 1.5x; it also parses, threads, indexes and encrypts)",
        dt_secs / mb_secs
    );

    // Nothing new: connect, log in, open the folder, ask for UIDs past the
    // checkpoint. In process, so the figure is the sync's, not a process start.
    let key =
        dealthread_core::rawstore::StoreKey::load_or_create("bench").map_err(|e| e.to_string())?;
    let mut store = Store::open_with_key(&db, Some(key)).map_err(|e| e.to_string())?;
    let source = ImapSource {
        name: "bench".into(),
        host: "127.0.0.1".into(),
        port: server.tls_port,
        security: Security::Implicit,
        user: USER.into(),
        auth: Auth::Password,
        folders: vec!["INBOX".into()],
        pin_sha256: Some(server.fingerprint.clone()),
        secret_env: None,
        timeout_secs: imap::DEFAULT_TIMEOUT_SECS,
    };
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let report = imap::sync_once(
            &mut store,
            &source,
            PASSWORD,
            &ReadOptions::default(),
            Check::AfterInitial,
            &mut |_| {},
        )
        .map_err(|e| e.to_string())?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if report.folders.iter().any(|f| f.fetched > 0) {
            return Err("the incremental check found new mail where there was none".into());
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "  incremental check with nothing new (TLS connect, login, EXAMINE, UID SEARCH): p50 {:.1} ms, max {:.1} ms (target < 50 ms)",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    Ok(())
}
