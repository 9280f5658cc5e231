//! Threading after Jamie Zawinski's algorithm ("message threading", 1997;
//! RFC 5256 §2.2 gives the same steps as REFERENCES), without its last step:
//! we never gather threads by subject alone.
//!
//! Two questions are answered here, both from Message-ID, In-Reply-To and
//! References only:
//! - [`thread_keys`]: which ids connect a message to others. The store joins
//!   every message sharing any such id into one thread, so a reply that
//!   arrives before its parent (or two replies to a parent we never saw)
//!   end up together, whatever the arrival order.
//! - [`build_tree`]: the reply tree of one thread, for display.

use std::collections::{BTreeMap, HashMap, HashSet};

/// The ids that tie a message into its thread: its own Message-ID, then its
/// References (oldest first) and In-Reply-To. Ids are compared as written
/// without their angle brackets (RFC 5322 §3.6.4 msg-id).
pub fn thread_keys(
    message_id: Option<&str>,
    in_reply_to: Option<&str>,
    references: &[String],
) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let all =
        message_id.into_iter().chain(references.iter().map(String::as_str)).chain(in_reply_to);
    for id in all {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
        if !id.is_empty() && !keys.iter().any(|k| k == id) {
            keys.push(id.to_string());
        }
    }
    keys
}

/// One message as the tree builder sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessage {
    /// The caller's id for the message (the store's row id).
    pub id: i64,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Sort key among siblings: Date, then arrival (the caller decides).
    pub sort_time: i64,
}

/// A message in the reply tree, with its depth (0 for a root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub id: i64,
    pub depth: usize,
}

#[derive(Default)]
struct Container {
    message: Option<usize>,
    parent: Option<String>,
    children: Vec<String>,
}

/// Orders one thread's messages as a reply tree, depth-first, siblings by
/// time. Missing parents (messages we never received) are skipped, their
/// children taking their place, as in JWZ's pruning of empty containers.
pub fn build_tree(messages: &[ThreadMessage]) -> Vec<Placed> {
    // JWZ step 1: one container per message id, real or referenced.
    let mut table: HashMap<String, Container> = HashMap::new();
    let mut anonymous = 0usize;
    for (index, message) in messages.iter().enumerate() {
        let own = match message.message_id.as_deref().map(clean_id).filter(|id| !id.is_empty()) {
            // A second message with the same id gets a key of its own
            // (JWZ 1A: "... a duplicate; give it a unique id").
            Some(id) if table.get(&id).is_some_and(|c| c.message.is_some()) => {
                anonymous += 1;
                format!("{id}\u{0}dup{anonymous}")
            }
            Some(id) => id,
            None => {
                anonymous += 1;
                format!("\u{0}anonymous{anonymous}")
            }
        };
        table.entry(own.clone()).or_default().message = Some(index);

        // 1B: link the References chain, parent to child, never creating a
        // loop and never overriding a link already made.
        let mut chain: Vec<String> =
            message.references.iter().map(|r| clean_id(r)).filter(|r| !r.is_empty()).collect();
        if let Some(reply) = message.in_reply_to.as_deref().map(clean_id).filter(|r| !r.is_empty())
            && chain.last() != Some(&reply)
        {
            chain.push(reply);
        }
        let mut previous: Option<String> = None;
        for id in &chain {
            table.entry(id.clone()).or_default();
            if let Some(parent) = &previous {
                link(&mut table, parent, id);
            }
            previous = Some(id.clone());
        }
        // 1C: the message's parent is the last reference, replacing any
        // parent guessed before (a message's own headers win).
        if let Some(parent) = previous.filter(|p| *p != own) {
            unlink(&mut table, &own);
            link(&mut table, &parent, &own);
        }
    }

    // Roots, then a depth-first walk; empty containers are passed through.
    let mut roots: Vec<&String> =
        table.iter().filter(|(_, c)| c.parent.is_none()).map(|(k, _)| k).collect();
    roots.sort();
    let mut placed = Vec::with_capacity(messages.len());
    let mut seen = HashSet::new();
    let mut top: Vec<(i64, i64, &String)> = roots
        .into_iter()
        .map(|r| (earliest(&table, messages, r), key_tiebreak(&table, messages, r), r))
        .collect();
    top.sort();
    for (_, _, root) in top {
        walk(&table, messages, root, 0, &mut placed, &mut seen);
    }
    placed
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string()
}

fn is_ancestor(table: &HashMap<String, Container>, maybe_ancestor: &str, of: &str) -> bool {
    let mut current = Some(of.to_string());
    let mut steps = 0;
    while let Some(id) = current {
        if id == maybe_ancestor {
            return true;
        }
        steps += 1;
        if steps > table.len() {
            return true; // a loop already: treat as related, link nothing
        }
        current = table.get(&id).and_then(|c| c.parent.clone());
    }
    false
}

fn link(table: &mut HashMap<String, Container>, parent: &str, child: &str) {
    let has_parent = table.get(child).is_some_and(|c| c.parent.is_some());
    if has_parent || parent == child || is_ancestor(table, child, parent) {
        return;
    }
    if let Some(c) = table.get_mut(child) {
        c.parent = Some(parent.to_string());
    }
    if let Some(p) = table.get_mut(parent) {
        p.children.push(child.to_string());
    }
}

fn unlink(table: &mut HashMap<String, Container>, child: &str) {
    let Some(parent) = table.get_mut(child).and_then(|c| c.parent.take()) else { return };
    if let Some(p) = table.get_mut(&parent) {
        p.children.retain(|c| c != child);
    }
}

/// The earliest sort time in a subtree, so threads and siblings are ordered
/// by when their conversation started.
fn earliest(table: &HashMap<String, Container>, messages: &[ThreadMessage], id: &str) -> i64 {
    let mut best = i64::MAX;
    let mut stack = vec![id.to_string()];
    let mut visited = HashSet::new();
    while let Some(id) = stack.pop() {
        if !visited.insert(id.clone()) {
            continue;
        }
        if let Some(c) = table.get(&id) {
            if let Some(m) = c.message {
                best = best.min(messages[m].sort_time);
            }
            stack.extend(c.children.iter().cloned());
        }
    }
    best
}

fn key_tiebreak(table: &HashMap<String, Container>, messages: &[ThreadMessage], id: &str) -> i64 {
    table.get(id).and_then(|c| c.message).map_or(i64::MAX, |m| messages[m].id)
}

fn walk(
    table: &HashMap<String, Container>,
    messages: &[ThreadMessage],
    id: &str,
    depth: usize,
    placed: &mut Vec<Placed>,
    seen: &mut HashSet<String>,
) {
    if !seen.insert(id.to_string()) {
        return;
    }
    let Some(container) = table.get(id) else { return };
    let child_depth = match container.message {
        Some(m) => {
            placed.push(Placed { id: messages[m].id, depth });
            depth + 1
        }
        None => depth, // a parent we never received: its children move up
    };
    let mut children: BTreeMap<(i64, i64, String), &String> = BTreeMap::new();
    for child in &container.children {
        let key =
            (earliest(table, messages, child), key_tiebreak(table, messages, child), child.clone());
        children.insert(key, child);
    }
    for child in children.values() {
        walk(table, messages, child, child_depth, placed, seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, own: &str, refs: &[&str], time: i64) -> ThreadMessage {
        ThreadMessage {
            id,
            message_id: Some(own.to_string()),
            in_reply_to: refs.last().map(|r| r.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
            sort_time: time,
        }
    }

    #[test]
    fn keys_hold_the_own_id_and_every_reference_once() {
        let keys = thread_keys(Some("<c@x>"), Some("<b@x>"), &["<a@x>".into(), "<b@x>".into()]);
        assert_eq!(keys, vec!["c@x", "a@x", "b@x"]);
    }

    #[test]
    fn a_reply_tree_is_walked_depth_first_by_time() {
        let messages = vec![
            msg(3, "c@x", &["a@x"], 30),
            msg(1, "a@x", &[], 10),
            msg(2, "b@x", &["a@x"], 20),
            msg(4, "d@x", &["a@x", "b@x"], 40),
        ];
        let tree: Vec<(i64, usize)> =
            build_tree(&messages).iter().map(|p| (p.id, p.depth)).collect();
        assert_eq!(tree, vec![(1, 0), (2, 1), (4, 2), (3, 1)]);
    }

    #[test]
    fn a_missing_parent_lets_its_children_move_up() {
        let messages = vec![msg(1, "b@x", &["a@x"], 20), msg(2, "c@x", &["a@x"], 30)];
        let tree: Vec<(i64, usize)> =
            build_tree(&messages).iter().map(|p| (p.id, p.depth)).collect();
        assert_eq!(tree, vec![(1, 0), (2, 0)]);
    }

    #[test]
    fn reference_loops_do_not_hang() {
        let messages = vec![msg(1, "a@x", &["b@x"], 10), msg(2, "b@x", &["a@x"], 20)];
        assert_eq!(build_tree(&messages).len(), 2);
    }

    #[test]
    fn reused_message_ids_keep_both_messages() {
        let messages = vec![msg(1, "same@x", &[], 10), msg(2, "same@x", &[], 20)];
        assert_eq!(build_tree(&messages).len(), 2);
    }
}
