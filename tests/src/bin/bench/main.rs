//! `bench`: Dealthread's benchmarks, each side by side with its named peer
//! in one run, reported as a ratio. Run through `scripts/bench.sh`, which
//! builds in release mode.
//!
//!     bench mail [--messages N]          parse+classify+reply+sanitize vs Python's email
//!     bench store [--messages 10000,50000] [--search-messages 100000] [--rounds 5]
//!                                        import vs notmuch and mu; search and timeline latency
//!     bench imap [--messages N]          initial IMAP sync vs mbsync; incremental check
//!     bench app [--messages 50000]       the release app: start, a 2,000-message timeline, scrolling
//!     bench corpus DIR [--messages N]    write the generated maildir (for profiling)
//!     bench mail-one FILE                (internal) read one file, print peak memory

mod app;
mod imap;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use dealthread_mail::{ReadOptions, read_message};
use dealthread_tests::corpus;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mail") => bench_mail(&args[1..]),
        Some("store") => store::run(&args[1..]),
        Some("corpus") => write_corpus(&args[1..]),
        Some("imap") => imap::run(&args[1..]),
        Some("app") => app::run(&args[1..]),
        Some("mail-one") => mail_one(args.get(1).map(PathBuf::from)),
        _ => Err(
            "usage: bench mail [--messages N] | bench store [--messages N,N] [--search-messages N] [--rounds N] | bench imap [--messages N] | bench app [--messages N] [--deal-messages N] [--rounds N]"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn flag(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} takes a whole number")),
    }
}

/// Writes the store benchmark's maildir, so a profiler can replay one import.
fn write_corpus(args: &[String]) -> Result<(), String> {
    let dir = args.first().filter(|a| !a.starts_with("--")).ok_or("usage: bench corpus DIR")?;
    let count = flag(args, "--messages", 10_000)?;
    let generated = corpus::write_maildir(Path::new(dir), count, count as u64, None)
        .map_err(|e| format!("{dir}: {e}"))?;
    println!("wrote {count} messages ({:.0} MB) to {dir}", generated.bytes as f64 / 1e6);
    Ok(())
}

fn bench_mail(args: &[String]) -> Result<(), String> {
    let count = flag(args, "--messages", 5000)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let generated =
        corpus::write_corpus(dir.path(), count, 42).map_err(|e| format!("generating: {e}"))?;
    println!(
        "corpus: {} generated messages, {:.1} MB (replies, HTML, PDFs, forwards, legacy charsets)",
        generated.files,
        generated.bytes as f64 / 1e6
    );

    // Load first: both sides are timed on bytes in memory, not on the disk.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let raws: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let options = ReadOptions::default();
    let mut best = f64::MAX;
    let mut failures = 0;
    for _ in 0..3 {
        let start = Instant::now();
        failures = 0;
        for raw in &raws {
            match read_message(raw, &options) {
                Ok(doc) => std::hint::black_box(doc),
                Err(_) => {
                    failures += 1;
                    continue;
                }
            };
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let rust_rate = raws.len() as f64 / best;
    println!(
        "dealthread-mail (parse+classify+latest reply+sanitize+hashes): {:>8.0} msg/s  {:>7.1} MB/s  ({failures} unreadable)",
        rust_rate,
        generated.bytes as f64 / 1e6 / best
    );

    let script = dealthread_tests::workspace_root().join("scripts/bench/python_email_parse.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .map_err(|e| format!("running python3: {e}"))?;
    if !output.status.success() {
        return Err(format!("the Python peer failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let peer: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("Python peer output: {e}"))?;
    let seconds = peer["seconds"].as_f64().ok_or("Python peer gave no time")?;
    let python_rate = raws.len() as f64 / seconds;
    println!(
        "python3 email (parse+decode bodies and attachments):           {:>8.0} msg/s  {:>7.1} MB/s",
        python_rate,
        generated.bytes as f64 / 1e6 / seconds
    );
    println!(
        "ratio: dealthread-mail is {:.1}x Python's throughput (target: at least 10x)",
        rust_rate / python_rate
    );

    // Peak memory for one message with a 25 MB attachment, in a fresh process.
    let big = dir.path().join("big.eml");
    std::fs::write(&big, corpus::big_attachment_message(25 * 1024 * 1024, 7))
        .map_err(|e| e.to_string())?;
    let size = std::fs::metadata(&big).map_err(|e| e.to_string())?.len();
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(me).arg("mail-one").arg(&big).output().map_err(|e| e.to_string())?;
    let report = String::from_utf8_lossy(&output.stdout);
    let peak_kb: u64 = report.trim().parse().map_err(|_| format!("mail-one said: {report}"))?;
    let peak = peak_kb * 1024;
    println!(
        "25 MB attachment: message {:.1} MB, peak memory {:.1} MB = {:.2}x the message (target: under 4x)",
        size as f64 / 1e6,
        peak as f64 / 1e6,
        peak as f64 / size as f64
    );
    Ok(())
}

/// Reads one message and prints the process's peak resident memory in KiB
/// (VmHWM), so the parent can compare it with the message's size.
fn mail_one(path: Option<PathBuf>) -> Result<(), String> {
    let path = path.ok_or("mail-one needs a FILE")?;
    let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc = read_message(&raw, &ReadOptions::default()).map_err(|e| e.to_string())?;
    std::hint::black_box(&doc);
    println!("{}", peak_rss_kb(Path::new("/proc/self/status"))?);
    Ok(())
}

fn peak_rss_kb(status: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(status).map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_string())
}
