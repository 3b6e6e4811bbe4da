//! CONDSTORE and QRESYNC (RFC 7162): turning them on, the MODSEQ a session reports, and
//! which UIDs have vanished.
//!
//! Every change to a mailbox raises its HIGHESTMODSEQ (flag changes, new messages, and
//! expunges — the store bumps it for those too), so "nothing happened since MODSEQ n" is
//! exact. `VANISHED (EARLIER)` names the UIDs the store remembers as expunged after the
//! client's MODSEQ (its tombstones, the last 10,000 expunges), within the range asked about;
//! when the client's MODSEQ is older than what the store remembers, every UID below UIDNEXT
//! not in the mailbox within that range — RFC 7162 §3.2.6 counts that as compliant (if
//! discouraged), and a client ignores UIDs it does not know. When the client's MODSEQ is
//! current, nothing is sent at all.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use torsion_mailstore::Message;

use super::response::Out;
use super::search::compress_ranges;
use super::session::Session;

impl Session {
    /// A CONDSTORE-enabling command was seen (RFC 7162 §3.1): from now on untagged FETCH
    /// responses carry MODSEQ, and a mailbox selected before this learns its HIGHESTMODSEQ
    /// now (§3.1.2.1: the client must have it before it sees any MODSEQ).
    pub(super) fn enable_condstore(&mut self, out: &mut Out) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(sel) = &self.selected {
            out.untagged(&format!(
                "OK [HIGHESTMODSEQ {}] Highest",
                sel.highest_modseq
            ));
        }
    }

    /// `* VANISHED (EARLIER) …` for the UIDs of `within` (all below UIDNEXT if `None`)
    /// expunged after MODSEQ `since` (see the module docs).
    pub(super) fn vanished_earlier(&self, since: u64, within: Option<&SequenceSet>, out: &mut Out) {
        let Some(sel) = &self.selected else {
            return;
        };
        if since >= sel.highest_modseq {
            return;
        }
        let absent = vanished(within, &sel.messages, sel.uid_next);
        let gone = match sel.mailbox.vanished_since(since) {
            Ok(Some(expunged)) => only(&absent, &expunged),
            Ok(None) => absent,
            Err(e) => {
                tracing::warn!(mailbox = sel.name, "VANISHED (EARLIER): {e}");
                absent
            }
        };
        if !gone.is_empty() {
            out.untagged(&format!("VANISHED (EARLIER) {}", compress_ranges(&gone)));
        }
    }
}

/// The UIDs of `uids` (ascending) that fall in `ranges` (ascending, disjoint), as ranges.
fn only(ranges: &[(u32, u32)], uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut r = ranges.iter().peekable();
    for &uid in uids {
        while r.peek().is_some_and(|&&(_, hi)| hi < uid) {
            r.next();
        }
        let Some(&&(lo, _)) = r.peek() else { break };
        if uid < lo {
            continue;
        }
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == uid => *hi = uid,
            _ => out.push((uid, uid)),
        }
    }
    out
}

/// The UID ranges of `within` (everything if `None`) below `uid_next` that no message of
/// `messages` (ascending UIDs) holds, merged and ascending. Never enumerates a range.
pub fn vanished(
    within: Option<&SequenceSet>,
    messages: &[Message],
    uid_next: u32,
) -> Vec<(u32, u32)> {
    let top = uid_next.saturating_sub(1);
    if top == 0 {
        return Vec::new();
    }
    let mut ranges: Vec<(u32, u32)> = match within {
        None => vec![(1, top)],
        Some(set) => set
            .0
            .as_ref()
            .iter()
            .map(|seq| {
                let value = |s: &SeqOrUid| match s {
                    SeqOrUid::Value(v) => v.get(),
                    SeqOrUid::Asterisk => top,
                };
                let (a, b) = match seq {
                    Sequence::Single(s) => (value(s), value(s)),
                    Sequence::Range(a, b) => (value(a), value(b)),
                };
                (a.min(b), a.max(b).min(top))
            })
            .filter(|(a, b)| a <= b)
            .collect(),
    };
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mut out = Vec::new();
    for (a, b) in merged {
        let start = messages.partition_point(|m| m.uid < a);
        let mut next = a;
        for m in messages[start..].iter().take_while(|m| m.uid <= b) {
            if m.uid > next {
                out.push((next, m.uid - 1));
            }
            next = m.uid + 1;
        }
        if next <= b {
            out.push((next, b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::selected::tests::{msgs, set};

    #[test]
    fn remembered_expunges_are_cut_to_the_range() {
        assert_eq!(
            only(&[(1, 1), (4, 6), (8, 9)], &[1, 2, 5, 6, 9, 12]),
            [(1, 1), (5, 6), (9, 9)]
        );
        assert!(only(&[], &[1, 2]).is_empty());
        assert!(only(&[(3, 4)], &[]).is_empty());
    }

    #[test]
    fn vanished_uids_are_the_gaps_below_uidnext() {
        let m = msgs(&[2, 3, 7]);
        assert_eq!(vanished(None, &m, 10), [(1, 1), (4, 6), (8, 9)]);
        assert_eq!(vanished(Some(&set("3:8")), &m, 10), [(4, 6), (8, 8)]);
        assert_eq!(vanished(Some(&set("1:*")), &m, 8), [(1, 1), (4, 6)]);
        assert_eq!(vanished(Some(&set("5,1:2,4")), &m, 10), [(1, 1), (4, 5)]);
        // Huge ranges cost nothing.
        assert_eq!(
            vanished(Some(&set("1:4294967295")), &m, 4_000_000_000),
            [(1, 1), (4, 6), (8, 3_999_999_999)]
        );
        assert!(vanished(None, &[], 1).is_empty());
        assert!(vanished(Some(&set("2:3")), &m, 10).is_empty());
    }
}
