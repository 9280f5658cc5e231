use std::path::Path;

use anyhow::{Context, bail};
use dealthread_core::store::search::{SearchQuery, search};
use dealthread_mail::classify::MessageKind;

use super::{Done, open_store, print_line};

pub struct Options {
    pub words: Vec<String>,
    pub deal: Option<String>,
    pub from: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub has_attachment: bool,
    pub kind: Option<String>,
    pub limit: u32,
    pub json: bool,
}

pub fn run(db: &Path, options: Options) -> anyhow::Result<Done> {
    let kind = options
        .kind
        .as_deref()
        .map(|k| {
            serde_json::from_value::<MessageKind>(serde_json::Value::String(k.to_string()))
                .with_context(|| format!("--kind {k}: expected normal, auto_reply, bounce or list"))
        })
        .transpose()?;
    let query = SearchQuery {
        text: options.words.join(" "),
        deal_id: options.deal,
        from: options.from,
        after: options.after.as_deref().map(|d| day_start(d, "--after")).transpose()?,
        before: options.before.as_deref().map(|d| day_start(d, "--before")).transpose()?,
        has_attachment: options.has_attachment.then_some(true),
        kind,
        limit: Some(options.limit),
    };
    let store = open_store(db)?;
    let hits = search(store.conn(), &query)?;
    if options.json {
        print_line(&serde_json::to_string_pretty(&hits)?)?;
        return Ok(Done::Ok);
    }
    if hits.is_empty() {
        eprintln!("no messages match");
    }
    for hit in &hits {
        let from = hit
            .from
            .as_ref()
            .map_or("(unknown sender)", |m| m.name.as_deref().unwrap_or(&m.address));
        print_line(&format!(
            "{}  {}  {}  [{}]",
            hit.date.as_deref().unwrap_or("(no date)"),
            from,
            hit.subject.as_deref().unwrap_or("(no subject)"),
            hit.deal_id.as_deref().unwrap_or("unmatched")
        ))?;
        let snippet: String = hit
            .snippet
            .iter()
            .map(|p| if p.highlight { format!("[{}]", p.text) } else { p.text.clone() })
            .collect();
        print_line(&format!("    {}", snippet.split_whitespace().collect::<Vec<_>>().join(" ")))?;
    }
    Ok(Done::Ok)
}

/// `YYYY-MM-DD` as the Unix time of that day's start, UTC.
fn day_start(text: &str, flag: &str) -> anyhow::Result<i64> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else { bail!("{flag} {text}: expected a date as YYYY-MM-DD") };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>()) else {
        bail!("{flag} {text}: expected a date as YYYY-MM-DD");
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("{flag} {text}: no such date");
    }
    // Days from the civil date (H. Hinnant's algorithm), proleptic Gregorian.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::day_start;

    #[test]
    fn days_are_utc_midnights() {
        assert_eq!(day_start("1970-01-01", "--after").ok(), Some(0));
        assert_eq!(day_start("2026-11-26", "--after").ok(), Some(1_795_651_200));
        assert!(day_start("2026-13-01", "--after").is_err());
        assert!(day_start("yesterday", "--after").is_err());
    }
}
