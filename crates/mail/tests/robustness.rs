//! Arbitrary and mutated bytes through the whole pure pipeline: it must
//! return (a document or an error), never panic, and take bounded time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dealthread_mail::{ReadOptions, read_message};
use proptest::prelude::*;

/// Far above what a message takes (a millisecond per hundred kilobytes, even
/// in a debug build on a loaded machine), far below "endless" or quadratic:
/// two seconds, plus one per megabyte of input.
fn time_limit(len: usize) -> Duration {
    Duration::from_secs(2) + Duration::from_secs_f64(len as f64 / 1_000_000.0)
}

fn corpus() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut out = Vec::new();
    for kind in std::fs::read_dir(&root).expect("tests/fixtures exists").flatten() {
        for file in std::fs::read_dir(kind.path()).into_iter().flatten().flatten() {
            if file.path().extension().is_some_and(|e| e == "eml") {
                let bytes = std::fs::read(file.path()).expect("fixture reads");
                if bytes.len() < 64 * 1024 {
                    out.push(bytes);
                }
            }
        }
    }
    out.sort();
    out
}

fn read_within_limit(raw: &[u8]) {
    let start = Instant::now();
    let _ = read_message(raw, &ReadOptions::default());
    let took = start.elapsed();
    let limit = time_limit(raw.len());
    assert!(took < limit, "a {}-byte input took {took:?}, over {limit:?}", raw.len());
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Splice { from: usize, to: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        Just(b"\r\n--".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"=?UTF-8?B?".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=\"".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(vec![0u8; 3]),
        Just(vec![0xff, 0xfe, 0x80]),
        prop::collection::vec(any::<u8>(), 1..32),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), interesting).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), any::<usize>(), 1usize..256)
            .prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
    ]
}

fn apply(mut raw: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if raw.is_empty() {
            break;
        }
        let n = raw.len();
        match m {
            Mutation::Flip { at, byte } => raw[at % n] = *byte,
            Mutation::Truncate { at } => raw.truncate(at % n),
            Mutation::Insert { at, bytes } => {
                let at = at % n;
                raw.splice(at..at, bytes.iter().copied());
            }
            Mutation::Splice { from, to, len } => {
                let from = from % n;
                let piece: Vec<u8> = raw[from..(from + len).min(n)].to_vec();
                let to = to % raw.len();
                raw.splice(to..to, piece);
            }
        }
    }
    raw
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        read_within_limit(&raw);
    }

    #[test]
    fn header_like_garbage_never_panics(
        lines in prop::collection::vec("[ -~]{0,120}", 0..40),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut raw = lines.join("\r\n").into_bytes();
        raw.extend_from_slice(b"\r\n\r\n");
        raw.extend_from_slice(&body);
        read_within_limit(&raw);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let corpus = corpus();
        let raw = apply(pick.get(&corpus).clone(), &mutations);
        read_within_limit(&raw);
    }
}

#[test]
fn deeply_nested_multiparts_end() {
    let mut raw = String::from("From: a@x.example\r\nSubject: nest\r\n");
    for depth in 0..2000 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n--b{depth}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
    read_within_limit(raw.as_bytes());
}

#[test]
fn many_headers_and_a_ten_megabyte_line_end() {
    let mut raw = String::from("From: a@x.example\r\n");
    for i in 0..20_000 {
        raw.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    raw.push_str("Subject: big\r\n\r\n");
    raw.push_str(&"y".repeat(10 * 1024 * 1024));
    read_within_limit(raw.as_bytes());
}
