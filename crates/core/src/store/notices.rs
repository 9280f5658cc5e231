//! What deserves a desktop notification: a customer's new reply filed on a
//! deal. Not the team's own mail, not auto-replies, bounces or lists, not
//! mail already read, not mail dated more than a day ago (an imported
//! archive is not news), and never anything stored before the app first
//! looked (a checkpoint in the settings).

use rusqlite::{Connection, params};

use super::settings;
use crate::error::Result;
use crate::matching::addresses::domain_of;

const CHECKPOINT: &str = "notified_through";
/// Mail dated longer ago than this is not news.
pub const RECENT_SECS: i64 = 24 * 3600;

/// One reply to tell the rep about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub message_id: i64,
    pub deal_id: String,
    pub deal_name: Option<String>,
    /// The sender's name, or address.
    pub from: String,
    pub subject: Option<String>,
}

/// The replies that arrived since the last call, oldest first, at most
/// `limit` (the rest are counted in the second value), and moves the
/// checkpoint past them. The first call only sets the checkpoint. `now`
/// is Unix seconds.
pub fn take_new_replies(conn: &Connection, limit: usize, now: i64) -> Result<(Vec<Notice>, usize)> {
    let newest: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| r.get(0))?;
    let Some(since) = settings::get(conn, CHECKPOINT)?.and_then(|v| v.parse::<i64>().ok()) else {
        settings::set(conn, CHECKPOINT, &newest.to_string())?;
        return Ok((Vec::new(), 0));
    };
    if newest <= since {
        return Ok((Vec::new(), 0));
    }
    let team = settings::list(conn, "team_domains")?;
    let mut stmt = conn.prepare(
        "SELECT m.id, m.deal_id, d.name, coalesce(m.from_name, m.from_address), m.from_address,
                m.subject
           FROM messages m LEFT JOIN deals d ON d.id = m.deal_id
          WHERE m.id > ?1 AND m.id <= ?2 AND m.deal_id IS NOT NULL AND m.kind = 'normal'
            AND m.match_status IS NOT 'internal' AND m.read_at IS NULL AND m.sort_time >= ?3
          ORDER BY m.id",
    )?;
    let rows = stmt.query_map(params![since, newest, now - RECENT_SECS], |r| {
        Ok((
            Notice {
                message_id: r.get(0)?,
                deal_id: r.get(1)?,
                deal_name: r.get(2)?,
                from: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                subject: r.get(5)?,
            },
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut notices = Vec::new();
    for row in rows {
        let (notice, address) = row?;
        let ours = address
            .as_deref()
            .and_then(domain_of)
            .is_some_and(|d| team.iter().any(|t| d == *t || d.ends_with(&format!(".{t}"))));
        if !ours {
            notices.push(notice);
        }
    }
    settings::set(conn, CHECKPOINT, &newest.to_string())?;
    let more = notices.len().saturating_sub(limit);
    notices.truncate(limit);
    Ok((notices, more))
}

/// The notification's title and body for what [`take_new_replies`] found:
/// one reply in full, or a summary of several.
pub fn describe(notices: &[Notice], more: usize) -> Option<(String, String)> {
    let deal = |n: &Notice| n.deal_name.clone().unwrap_or_else(|| format!("Deal {}", n.deal_id));
    match notices {
        [] => None,
        [one] if more == 0 => Some((
            format!("New reply on {}", deal(one)),
            format!("{}: {}", one.from, one.subject.as_deref().unwrap_or("(no subject)")),
        )),
        several => {
            let total = several.len() + more;
            let mut deals: Vec<String> = several.iter().map(deal).collect();
            deals.dedup();
            let shown: Vec<String> = deals.iter().take(3).cloned().collect();
            let rest = deals.len().saturating_sub(3);
            let mut body = shown.join(", ");
            if rest > 0 {
                body.push_str(&format!(" and {rest} more"));
            }
            Some((format!("{total} new replies on your deals"), body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(id: i64, deal: &str) -> Notice {
        Notice {
            message_id: id,
            deal_id: deal.into(),
            deal_name: Some(format!("{deal} renewal")),
            from: "Dana Reyes".into(),
            subject: Some("Re: quote".into()),
        }
    }

    #[test]
    fn one_reply_is_told_in_full_and_several_are_summed_up() {
        assert_eq!(describe(&[], 0), None);
        assert_eq!(
            describe(&[notice(1, "D-1")], 0),
            Some(("New reply on D-1 renewal".into(), "Dana Reyes: Re: quote".into()))
        );
        let (title, body) = describe(&[notice(1, "D-1"), notice(2, "D-2")], 3).expect("summary");
        assert_eq!(title, "5 new replies on your deals");
        assert_eq!(body, "D-1 renewal, D-2 renewal");
    }
}
