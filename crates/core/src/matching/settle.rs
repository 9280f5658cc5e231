//! Thread inheritance and corrections over a whole thread: the final
//! decision for each of its messages, whatever order they arrived in.

use serde::{Deserialize, Serialize};

use super::{Assignment, Decision, MatchStatus, Rule};

/// A correction pinned on a message: it wins over every rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub correction_id: i64,
    pub actor: String,
    /// Moved to these entities; `None` when the pin only marks it.
    pub target: Option<Assignment>,
    /// Marked as not CRM-worthy by the rep.
    #[serde(default)]
    pub ignored: bool,
    /// Whether the rep moved the whole thread: then later replies follow it.
    #[serde(default)]
    pub whole_thread: bool,
}

/// One message of a thread, as [`settle`] needs it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub sort_time: i64,
    pub own: Decision,
    pub pin: Option<Pin>,
}

/// The final decision for each message of a thread (same order): rules 1–3
/// and a message's correction stand; otherwise the message inherits from
/// the thread's anchor, the message with the strongest rule of its own
/// (earliest first among equals; the anchor itself keeps its own
/// decision); otherwise its own decision stands. It is
/// a function of the thread's messages, not of their arrival order.
pub fn settle(members: &[Member]) -> Vec<Decision> {
    let anchor_key = |m: &Member| -> Option<(u8, i64, i64)> {
        if let Some(pin) = &m.pin
            && pin.whole_thread
            && pin.target.is_some()
            && !pin.ignored
        {
            return Some((0, m.sort_time, m.id));
        }
        if m.own.status != MatchStatus::Matched {
            return None;
        }
        m.own.rule.and_then(Rule::anchor_rank).map(|rank| (rank, m.sort_time, m.id))
    };
    let mut ranked: Vec<(u8, i64, i64, usize)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| anchor_key(m).map(|(r, t, id)| (r, t, id, i)))
        .collect();
    ranked.sort_unstable();
    members
        .iter()
        .map(|m| {
            // The best anchor keeps its own decision; everyone else follows it.
            let anchor = ranked.first().map(|a| &members[a.3]).filter(|a| a.id != m.id);
            resolve(m, anchor)
        })
        .collect()
}

fn resolve(m: &Member, anchor: Option<&Member>) -> Decision {
    let mut decision = match &m.pin {
        Some(pin) if pin.target.is_some() => {
            let target = pin.target.clone().unwrap_or_default();
            Decision::matched(
                Rule::Correction,
                format!("moved by {} (correction #{})", pin.actor, pin.correction_id),
                target,
            )
        }
        _ => inherit(m, anchor),
    };
    decision.not_worthy = m.own.not_worthy.clone();
    if let Some(pin) = m.pin.as_ref().filter(|p| p.ignored) {
        decision.not_worthy = Some(format!(
            "marked not CRM-worthy by {} (correction #{})",
            pin.actor, pin.correction_id
        ));
    }
    decision
}

fn inherit(m: &Member, anchor: Option<&Member>) -> Decision {
    let own = &m.own;
    let stands = own.status == MatchStatus::Internal || own.rule.is_some_and(Rule::outranks_thread);
    let Some(anchor) = anchor.filter(|_| !stands) else {
        return own.clone();
    };
    let from = match &anchor.pin {
        Some(pin) if pin.whole_thread => pin.target.clone().unwrap_or_default(),
        _ => anchor.own.assignment.clone(),
    };
    let mut assignment = from.clone();
    // The message's own sender stays its contact when the rules found one.
    if own.assignment.contact_id.is_some() && from.deal_id.is_some() {
        assignment.contact_id.clone_from(&own.assignment.contact_id);
        assignment.company_id.clone_from(&own.assignment.company_id);
    }
    let why = match &anchor.pin {
        Some(pin) if pin.whole_thread => {
            format!("the rep moved the thread (correction #{})", pin.correction_id)
        }
        _ => anchor.own.reason.clone(),
    };
    Decision::matched(
        Rule::Thread,
        format!("in the thread of message {}: {why}", anchor.id),
        assignment,
    )
}
