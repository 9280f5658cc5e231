//! `bench store`: importing a maildir, against notmuch and mu indexing the
//! same one (both also index full text; notmuch threads too), then search
//! and timeline latency over a large store, and size on disk per message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use dealthread_core::Store;
use dealthread_core::sources::files;
use dealthread_core::store::search::{SearchQuery, search};
use dealthread_core::store::timeline;
use dealthread_mail::ReadOptions;
use dealthread_tests::{corpus, workspace_root};

use super::flag;

pub fn run(args: &[String]) -> Result<(), String> {
    let sizes: Vec<usize> = match args.iter().position(|a| a == "--messages") {
        Some(i) => args
            .get(i + 1)
            .ok_or("--messages takes a list such as 10000,50000")?
            .split(',')
            .map(|n| n.trim().parse().map_err(|_| format!("--messages: {n} is not a number")))
            .collect::<Result<_, _>>()?,
        None => vec![10_000, 50_000],
    };
    let search_messages = flag(args, "--search-messages", 100_000)?;
    let rounds = flag(args, "--rounds", 5)?.max(1);
    let cli = workspace_root().join("target/release/dealthread");
    if !cli.is_file() {
        return Err(format!("{} is missing: run through scripts/bench.sh", cli.display()));
    }
    for n in sizes.into_iter().filter(|&n| n > 0) {
        import_round(&cli, n, rounds)?;
    }
    if search_messages > 0 {
        latency_round(search_messages)?;
    }
    Ok(())
}

/// Wall seconds and peak resident KiB of a command, by GNU time.
pub(crate) fn timed(command: &mut Command) -> Result<(f64, u64), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    // Each run starts with nothing left to write back. Otherwise a run pays
    // for the writes of whatever came just before it (the corpus, or the
    // previous tool's database) as the kernel flushes them meanwhile.
    Command::new("sync").status().map_err(|e| format!("sync: {e}"))?;
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-f").arg("TIMED %e %M").arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    let output = wrapped.output().map_err(|e| format!("{program}: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let reason = stderr.lines().filter(|l| !l.starts_with("TIMED ")).collect::<Vec<_>>();
        return Err(format!("{program} failed: {}", reason.join("; ")));
    }
    let line = stderr.lines().rev().find(|l| l.starts_with("TIMED ")).ok_or("no timing")?;
    let mut parts = line.split_whitespace().skip(1);
    let secs = parts.next().and_then(|s| s.parse().ok()).ok_or("bad time")?;
    let kb = parts.next().and_then(|s| s.parse().ok()).ok_or("bad memory")?;
    Ok((secs, kb))
}

fn du(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| du(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.len()
    }
}

/// One tool's runs of an import: wall seconds of each, and the highest peak.
#[derive(Default)]
struct Runs {
    secs: Vec<f64>,
    peak_kb: u64,
}

impl Runs {
    fn add(&mut self, (secs, kb): (f64, u64)) {
        self.secs.push(secs);
        self.peak_kb = self.peak_kb.max(kb);
    }

    fn median(&self) -> f64 {
        let mut sorted = self.secs.clone();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, 0.5)
    }

    fn line(&self, name: &str, n: usize) -> String {
        let fastest = self.secs.iter().copied().fold(f64::INFINITY, f64::min);
        let slowest = self.secs.iter().copied().fold(0.0, f64::max);
        // Each run in the order it ran, so a slow one can be matched to
        // the round and to the tool that ran just before it.
        let runs: Vec<String> = self.secs.iter().map(|s| format!("{s:.2}")).collect();
        format!(
            "  {name:<18} {:>7.2} s  {:>7.0} msg/s  (runs {fastest:.2}-{slowest:.2} s)  peak {:>6.1} MB\n  {:<18} runs in order: {}",
            self.median(),
            n as f64 / self.median().max(1e-9),
            self.peak_kb as f64 / 1024.0,
            "",
            runs.join(", ")
        )
    }
}

/// Imports the same generated maildir `rounds` times with each tool, the
/// tools taking turns so a slow spell of the machine falls on all of them,
/// and compares the medians: one run each swung by a third here, and three
/// each still moved a ratio by a tenth from one bench to the next.
fn import_round(cli: &Path, n: usize, rounds: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mail = dir.path().join("mail");
    let generated = corpus::write_maildir(&mail, n, n as u64, None).map_err(|e| e.to_string())?;
    println!(
        "\nimport of {n} generated messages ({:.0} MB maildir: threads, HTML, PDFs, legacy charsets), median of {rounds} runs each",
        generated.bytes as f64 / 1e6
    );
    let db = dir.path().join("dealthread.db");
    let stored_files =
        ["dealthread.db", "dealthread.db-wal", "dealthread.raw.db", "dealthread.raw.packs"];
    let config = dir.path().join("notmuch-config");
    std::fs::write(
        &config,
        format!(
            "[database]\npath={}\n[user]\nprimary_email=bench@example.com\n[new]\ntags=new\n[maildir]\nsynchronize_flags=false\n",
            mail.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let muhome = dir.path().join("mu");
    let (mut dealthread, mut notmuch, mut mu) = (Runs::default(), Runs::default(), Runs::default());
    let mut stored = 0;
    for round in 0..rounds {
        // Each run starts from nothing: no database of its own from before.
        let scratch = [
            "dealthread.db-shm",
            "dealthread.raw.db-journal",
            "dealthread.raw.db-wal",
            "dealthread.raw.db-shm",
        ];
        for name in stored_files.iter().chain(&scratch) {
            remove(&dir.path().join(name))?;
        }
        remove(&mail.join(".notmuch"))?;
        remove(&muhome)?;
        // The tools take turns in a rotating order, so no tool always runs
        // right after the same other one: a run just after another tool's
        // was 3% to 6% slower here than one after its own.
        for tool in (0..3).map(|t| (t + round) % 3) {
            match tool {
                0 => {
                    dealthread.add(timed(
                        Command::new(cli).arg("--db").arg(&db).arg("import").arg(&mail),
                    )?);
                    stored = stored_files.iter().map(|name| du(&dir.path().join(name))).sum();
                }
                1 => notmuch.add(timed(
                    Command::new("notmuch")
                        .arg("new")
                        .arg("--quiet")
                        .env("NOTMUCH_CONFIG", &config)
                        .env("HOME", dir.path()),
                )?),
                _ => {
                    let init = Command::new("mu")
                        .arg("init")
                        .arg(format!("--muhome={}", muhome.display()))
                        .arg(format!("--maildir={}", mail.display()))
                        .arg("--my-address=bench@example.com")
                        .env("HOME", dir.path())
                        .output()
                        .map_err(|e| format!("mu init: {e}"))?;
                    if !init.status.success() {
                        return Err(format!(
                            "mu init failed: {}",
                            String::from_utf8_lossy(&init.stderr)
                        ));
                    }
                    mu.add(timed(
                        Command::new("mu")
                            .arg("index")
                            .arg("--quiet")
                            .arg(format!("--muhome={}", muhome.display()))
                            .env("HOME", dir.path()),
                    )?);
                }
            }
        }
    }

    println!("{}", dealthread.line("dealthread import", n));
    println!("{}", notmuch.line("notmuch new", n));
    println!("{}", mu.line("mu index", n));
    println!(
        "  ratio of medians: {:.2}x notmuch (target >= 3x), {:.2}x mu (target >= 2x); peak memory target < 200 MB",
        notmuch.median() / dealthread.median(),
        mu.median() / dealthread.median()
    );
    println!(
        "  size: {:.1} KB stored per message for {:.1} KB of raw mail ({:.2}x; raw MIME, normalized data, threads and full-text index)",
        stored as f64 / n as f64 / 1024.0,
        generated.bytes as f64 / n as f64 / 1024.0,
        stored as f64 / generated.bytes as f64
    );
    Ok(())
}

/// Removes a file or a folder, if it is there.
fn remove(path: &Path) -> Result<(), String> {
    let removed = match std::fs::symlink_metadata(path) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    removed.map_err(|e| format!("{}: {e}", path.display()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}

fn latency_round(n: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mail = dir.path().join("mail");
    let big = dir.path().join("big-deal");
    corpus::write_maildir(&mail, n, 77, None).map_err(|e| e.to_string())?;
    corpus::write_maildir(&big, 2000, 78, Some("BIG")).map_err(|e| e.to_string())?;
    let mut store = Store::open(&dir.path().join("d.db")).map_err(|e| e.to_string())?; // key from $DEALTHREAD_STORE_KEY
    let paths: Vec<PathBuf> = vec![mail, big];
    let start = Instant::now();
    files::import(&mut store, &paths, &ReadOptions::default(), &mut |_| {})
        .map_err(|e| e.to_string())?;
    println!(
        "\nsearch and timeline over {} messages (imported in {:.1} s)",
        n + 2000,
        start.elapsed().as_secs_f64()
    );

    let queries: Vec<SearchQuery> = vec![
        SearchQuery { text: "security questionnaire".into(), ..Default::default() },
        SearchQuery { text: "invoice".into(), ..Default::default() },
        SearchQuery { text: "quot".into(), ..Default::default() },
        SearchQuery { text: "dana".into(), ..Default::default() },
        SearchQuery {
            text: "kickoff".into(),
            from: Some("northwind".into()),
            ..Default::default()
        },
        SearchQuery { text: "pric".into(), deal_id: Some("D-1042".into()), ..Default::default() },
        SearchQuery { text: "PO".into(), has_attachment: Some(true), ..Default::default() },
        SearchQuery { text: "legal approved DPA".into(), ..Default::default() },
        SearchQuery { text: "onboarding timeline regional".into(), ..Default::default() },
        SearchQuery { text: "Grüße".into(), ..Default::default() },
    ];
    let mut latencies = Vec::new();
    let mut slowest: Vec<(f64, &str)> = Vec::new();
    for query in &queries {
        let mut own = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let hits = search(store.conn(), query).map_err(|e| e.to_string())?;
            own.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(hits);
        }
        own.sort_by(f64::total_cmp);
        slowest.push((percentile(&own, 0.95), query.text.as_str()));
        latencies.extend(own);
    }
    latencies.sort_by(f64::total_cmp);
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "  search: {} typical queries x 20, p50 {:.2} ms, p95 {:.2} ms (target p95 < 20 ms)",
        queries.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95)
    );
    let worst: Vec<String> =
        slowest.iter().take(3).map(|(ms, text)| format!("\"{text}\" {ms:.1} ms")).collect();
    println!("  slowest queries (p95): {}", worst.join(", "));

    let mut timings = Vec::new();
    let mut size = 0;
    for _ in 0..30 {
        let t = Instant::now();
        let found = timeline::deal_timeline(store.conn(), "BIG").map_err(|e| e.to_string())?;
        timings.push(t.elapsed().as_secs_f64() * 1000.0);
        size = found.map_or(0, |t| t.messages.len());
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "  timeline of a deal with {size} messages: p50 {:.2} ms, p95 {:.2} ms (target < 30 ms)",
        percentile(&timings, 0.5),
        percentile(&timings, 0.95)
    );
    Ok(())
}
