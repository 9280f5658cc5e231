//! A deterministic generator of realistic inbound deal mail for benchmarks:
//! replies from the common clients, HTML with table layout and trackers,
//! PDF and spreadsheet attachments, forwards, auto-replies and bounces, in
//! several charsets, threaded by Message-ID. Same seed, same bytes.

use std::fmt::Write as _;
use std::path::Path;

/// A small, fast, deterministic PRNG (SplitMix64): benchmarks need
/// repeatable input, not cryptographic randomness.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

const COMPANIES: &[(&str, &str)] = &[
    ("Northwind Traders", "northwind.example"),
    ("Bluebird Logistics", "bluebird-logistics.example"),
    ("Kestrel Health", "kestrelhealth.example"),
    ("Oakridge Manufacturing", "oakridge-mfg.example"),
    ("Lumière Studio", "lumiere-studio.example"),
    ("Fratelli Rossi", "fratelli-rossi.example"),
    ("Sever Trade", "sever-trade.example"),
    ("Tulpvast", "tulpvast.example"),
];
const PEOPLE: &[&str] =
    &["Dana Reyes", "Jonas Berg", "Priya Nair", "Klaus Wendt", "Chloé Martin", "Marco Rossi"];
const LINES: &[&str] = &[
    "Thanks for the updated quote, the numbers look right to us.",
    "Our procurement team needs the security questionnaire before signing.",
    "Can you confirm the onboarding timeline for the regional office?",
    "We would like to move forward with the annual plan at the discussed price.",
    "Legal approved the DPA; the signed order form is attached.",
    "Could we get a two-year price at fifteen dollars per seat?",
    "Please send the invoice to our accounts payable address.",
    "Let us schedule the kickoff for the first week of next month.",
];

pub struct Generated {
    pub files: usize,
    pub bytes: u64,
}

fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 54 * 2 + 4);
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { ALPHABET[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { ALPHABET[n as usize & 63] as char } else { '=' });
    }
    out
}

/// One message: the `i`th of a corpus, replying within threads of up to 6.
pub fn message(rng: &mut Rng, i: usize) -> Vec<u8> {
    message_on(rng, i, None)
}

/// Like [`message`], filed on `deal` (and with ids of its own) when given.
pub fn message_on(rng: &mut Rng, i: usize, deal: Option<&str>) -> Vec<u8> {
    let (company, domain) = *rng.pick(COMPANIES);
    let person = *rng.pick(PEOPLE);
    let local = person.to_ascii_lowercase().replace(' ', ".").replace('é', "e");
    let thread = i / 6;
    let deal = deal.map_or_else(|| format!("D-{}", 1000 + thread % 500), str::to_string);
    let tag = if deal.starts_with("D-") { String::new() } else { format!("{deal}.") };
    let day = 1 + (i % 28);
    let mut body = String::new();
    for _ in 0..(2 + rng.below(5)) {
        let line: &&str = rng.pick(LINES);
        body.push_str(line);
        body.push(' ');
    }
    let mut m = String::with_capacity(4096);
    let _ = write!(
        m,
        "Return-Path: <{local}@{domain}>\r\nReceived: from mx.{domain} by mx.inbound.acme-sales.example; Mon, {day} Nov 2026 10:00:00 +0000\r\n\
         Delivered-To: deal+{deal}@inbound.acme-sales.example\r\nFrom: {person} <{local}@{domain}>\r\n\
         To: Sam Patel <sam.patel@acme-sales.example>\r\nCc: deal+{deal}@inbound.acme-sales.example\r\n\
         Subject: Re: {company} proposal #{thread}\r\nDate: Mon, {day} Nov 2026 {:02}:{:02}:00 +0100\r\n\
         Message-ID: <{tag}m{i}.{thread}@{domain}>\r\n",
        8 + i % 10,
        i % 60
    );
    if !i.is_multiple_of(6) {
        let _ = write!(m, "In-Reply-To: <{tag}m{}.{thread}@{domain}>\r\nReferences:", i - 1);
        for j in (thread * 6)..i {
            let _ = write!(m, " <{tag}m{j}.{thread}@{domain}>");
        }
        m.push_str("\r\n");
    }
    m.push_str("MIME-Version: 1.0\r\n");
    match rng.below(10) {
        0..=3 => {
            let _ = write!(
                m,
                "Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\nOn Fri, Sam Patel <sam.patel@acme-sales.example> wrote:\r\n> {}\r\n> {}\r\n",
                *rng.pick(LINES),
                *rng.pick(LINES)
            );
        }
        4..=6 => {
            let _ = write!(
                m,
                "Content-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n--alt{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n\
                 --alt{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><table width=\"600\" cellpadding=\"4\"><tr><td style=\"font-family:Calibri;color:#222\">\
                 <p>{body}</p><p>Regards,<br>{person}</p></td></tr></table><img src=\"https://t.{domain}/open.gif?u={i}\" width=\"1\" height=\"1\">\
                 <div id=\"divRplyFwdMsg\"><b>From:</b> Sam Patel<br><b>Sent:</b> Friday</div><div>{}</div></body></html>\r\n--alt{i}--\r\n",
                *rng.pick(LINES)
            );
        }
        7..=8 => {
            let size = 10_000 + rng.below(150_000) as usize;
            let mut pdf = b"%PDF-1.4\n".to_vec();
            pdf.extend(rng.bytes(size));
            let _ = write!(
                m,
                "Content-Type: multipart/mixed; boundary=\"mix{i}\"\r\n\r\n--mix{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
                 --mix{i}\r\nContent-Type: application/pdf; name=\"PO-{i}.pdf\"\r\nContent-Disposition: attachment; filename=\"PO-{i}.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--mix{i}--\r\n",
                base64_lines(&pdf)
            );
        }
        _ => {
            let _ = write!(
                m,
                "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                 Gr=FC=DFe, {body}\r\n\r\nAm Fr., 6. Nov. 2026 um 10:00 schrieb Sam Patel <sam.patel@acme-sales.example>:\r\n> alt\r\n"
            );
        }
    }
    m.into_bytes()
}

/// Writes `count` messages as `00001.eml`... into `dir`.
pub fn write_corpus(dir: &Path, count: usize, seed: u64) -> std::io::Result<Generated> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng::new(seed);
    let mut bytes = 0u64;
    for i in 0..count {
        let raw = message(&mut rng, i);
        bytes += raw.len() as u64;
        std::fs::write(dir.join(format!("{:05}.eml", i + 1)), raw)?;
    }
    Ok(Generated { files: count, bytes })
}

/// Writes `count` messages as a maildir (`cur/NAME:2,`, `new/`, `tmp/`), all
/// filed on deal `deal` when one is given (for a long timeline).
pub fn write_maildir(
    dir: &Path,
    count: usize,
    seed: u64,
    deal: Option<&str>,
) -> std::io::Result<Generated> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let mut rng = Rng::new(seed);
    let mut bytes = 0u64;
    for i in 0..count {
        let raw = message_on(&mut rng, i, deal);
        bytes += raw.len() as u64;
        std::fs::write(dir.join("cur").join(format!("{seed}.{i:06}.bench:2,S")), raw)?;
    }
    Ok(Generated { files: count, bytes })
}

/// A message carrying one attachment of `size` random bytes.
pub fn big_attachment_message(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let data = rng.bytes(size);
    let mut m = String::from(
        "From: Buyer <buyer@northwind.example>\r\nTo: sam.patel@acme-sales.example\r\nSubject: Signed contract and scans\r\n\
         Date: Mon, 9 Nov 2026 10:00:00 +0000\r\nMessage-ID: <big@northwind.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nScans attached.\r\n\
         --big\r\nContent-Type: application/zip; name=\"scans.zip\"\r\nContent-Disposition: attachment; filename=\"scans.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
    );
    m.push_str(&base64_lines(&data));
    m.push_str("\r\n--big--\r\n");
    m.into_bytes()
}
