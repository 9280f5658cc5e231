//! Authentication-Results (RFC 8601) and ARC-Authentication-Results
//! (RFC 8617) read into spf/dkim/dmarc/arc verdicts.
//!
//! Anyone can write these headers into a message before sending it, so a
//! result only counts when it was stamped by a server we trust, named by its
//! authserv-id (RFC 8601 §5: "MUST ignore ... headers ... from an
//! authserv-id they do not recognise"). Results from other ids are kept for
//! display, marked untrusted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AuthResults {
    pub spf: Option<String>,
    /// The first DKIM result; all of them are in `dkim_results`.
    pub dkim: Option<String>,
    pub dmarc: Option<String>,
    pub arc: Option<String>,
    pub dkim_results: Vec<DkimResult>,
    /// The authserv-id the verdicts above came from.
    pub authserv_id: Option<String>,
    /// Whether that authserv-id is one the team configured as its own.
    pub trusted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DkimResult {
    pub result: String,
    /// The signing domain (`header.d`), or the identity (`header.i`).
    pub domain: Option<String>,
}

/// Picks the Authentication-Results header to believe and reads it.
///
/// With trusted ids configured, the first (topmost, i.e. most recently added)
/// header from one of them is used. Without, the topmost header is used and
/// reported as untrusted, which the UI shows as such.
pub fn read_authentication_results(
    headers: &BTreeMap<String, Vec<String>>,
    trusted_ids: &[String],
) -> AuthResults {
    let stamped = headers.get("authentication-results").map(Vec::as_slice).unwrap_or(&[]);
    let parsed: Vec<Stamp> = stamped.iter().filter_map(|h| parse_header(h)).collect();
    let is_trusted = |id: &str| trusted_ids.iter().any(|t| t.eq_ignore_ascii_case(id));
    let chosen = parsed
        .iter()
        .find(|stamp| is_trusted(&stamp.authserv_id))
        .or_else(|| if trusted_ids.is_empty() { parsed.first() } else { None });

    let mut results = AuthResults::default();
    if let Some(stamp) = chosen {
        results.authserv_id = Some(stamp.authserv_id.clone());
        results.trusted = is_trusted(&stamp.authserv_id);
        for verdict in &stamp.verdicts {
            let result = Some(verdict.result.clone());
            match verdict.method.as_str() {
                "spf" if results.spf.is_none() => results.spf = result,
                "dmarc" if results.dmarc.is_none() => results.dmarc = result,
                "arc" if results.arc.is_none() => results.arc = result,
                "dkim" => {
                    let domain = verdict
                        .property("header.d")
                        .or_else(|| verdict.property("header.i"))
                        .map(|v| v.trim_start_matches('@').to_ascii_lowercase());
                    results
                        .dkim_results
                        .push(DkimResult { result: verdict.result.clone(), domain });
                }
                _ => {}
            }
        }
        results.dkim = results.dkim_results.first().map(|d| d.result.clone());
    }
    // ARC results are also carried in ARC-Authentication-Results (RFC 8617 §4.1.1),
    // prefixed by `i=N;`.
    if results.arc.is_none()
        && let Some(aar) = headers.get("arc-authentication-results").and_then(|v| v.first())
    {
        let without_instance = aar.split_once(';').map_or(aar.as_str(), |(_, rest)| rest);
        if let Some(stamp) = parse_header(without_instance) {
            results.arc =
                stamp.verdicts.iter().find(|v| v.method == "arc").map(|v| v.result.clone());
        }
    }
    results
}

/// One Authentication-Results header: who stamped it, and what it says.
struct Stamp {
    authserv_id: String,
    verdicts: Vec<Verdict>,
}

/// `method=result` with its `ptype.property=value` pairs.
struct Verdict {
    method: String,
    result: String,
    properties: Vec<(String, String)>,
}

impl Verdict {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `authserv-id [version] ; method=result [reason=..] [ptype.prop=value]... ; ...`
fn parse_header(value: &str) -> Option<Stamp> {
    let value = strip_comments(value);
    let mut statements = value.split(';');
    let id = statements.next()?.split_whitespace().next()?.to_ascii_lowercase();
    let mut verdicts = Vec::new();
    for statement in statements {
        let mut tokens = statement.split_whitespace();
        let Some((method, result)) = tokens.next().and_then(|t| t.split_once('=')) else {
            continue; // "none", or garbage: nothing to read
        };
        let method = method.split('/').next().unwrap_or(method).to_ascii_lowercase();
        let properties = tokens
            .filter_map(|t| t.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_string()))
            .collect();
        verdicts.push(Verdict { method, result: result.to_ascii_lowercase(), properties });
    }
    Some(Stamp { authserv_id: id, verdicts })
}

/// Removes RFC 5322 comments, which may nest: `(a (b) c)`.
fn strip_comments(value: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if depth > 0 => {
                chars.next();
            }
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "authentication-results".to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        )])
    }

    #[test]
    fn reads_every_dkim_result_from_the_trusted_server() {
        let h = headers(&[
            "mx.evil.example; dmarc=pass",
            "mx.ours.example; spf=pass smtp.mailfrom=b.com; dkim=pass (good) header.d=b.com; dkim=fail header.i=@c.com; dmarc=fail header.from=b.com",
        ]);
        let r = read_authentication_results(&h, &["mx.ours.example".to_string()]);
        assert!(r.trusted);
        assert_eq!(
            r.dmarc.as_deref(),
            Some("fail"),
            "must ignore the forged pass from the untrusted id"
        );
        assert_eq!(r.dkim_results.len(), 2);
        assert_eq!(r.dkim_results[1].domain.as_deref(), Some("c.com"));
    }

    #[test]
    fn without_configuration_the_topmost_header_is_used_but_untrusted() {
        let r = read_authentication_results(&headers(&["mx.a; spf=softfail"]), &[]);
        assert_eq!(r.spf.as_deref(), Some("softfail"));
        assert!(!r.trusted);
    }
}
