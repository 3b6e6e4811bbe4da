//! The commands on the mailbox list: CREATE (with RFC 6154 CREATE-SPECIAL-USE), DELETE,
//! RENAME (INBOX's special case included), SUBSCRIBE, UNSUBSCRIBE, LIST with RFC 5258
//! LIST-EXTENDED selection and return options, RFC 5819 LIST-STATUS and RFC 6154 SPECIAL-USE,
//! and LSUB. The hierarchy separator is `.` (Maildir++).

use std::collections::BTreeSet;

use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use torsion_mailstore::store::{FolderError, MailboxInfo, SpecialUse};

use super::response::Out;
use super::session::Session;
use crate::proto::extended::{ListExtended, ListReturn, ListSelect};

/// A LIST or LSUB, whichever syntax it came in.
#[derive(Debug)]
pub(super) struct ListRequest {
    /// Selection options.
    pub select: ListSelect,
    /// Return options.
    pub returns: ListReturn,
    /// Patterns with the reference prepended, as UTF-8.
    pub patterns: Vec<String>,
    /// LSUB rather than LIST.
    pub lsub: bool,
    /// The LIST-EXTENDED syntax was used (or IMAP4rev2 is on): `\NonExistent`, CHILDINFO.
    pub extended: bool,
}

impl Session {
    fn folder_result(&self, tag: &str, what: &str, result: Result<(), FolderError>, out: &mut Out) {
        match result {
            Ok(()) => out.ok(tag, &format!("{what} completed")),
            Err(FolderError::Exists) => out.no_code(tag, "ALREADYEXISTS", "Mailbox already exists"),
            Err(FolderError::NotFound) => out.no_code(tag, "NONEXISTENT", "No such mailbox"),
            Err(FolderError::InvalidName) => out.no_code(tag, "CANNOT", "Invalid mailbox name"),
            Err(FolderError::Inbox) => {
                out.no_code(tag, "CANNOT", "INBOX cannot be changed that way")
            }
            Err(FolderError::Io(e)) => {
                tracing::warn!("{what}: {e}");
                out.no_code(tag, "SERVERBUG", "The mail store failed");
            }
        }
    }

    pub(super) fn create(&mut self, tag: &str, mailbox: &Mailbox<'_>, out: &mut Out) {
        let (Some(addr), Some(name)) = (self.account().cloned(), self.mailbox_name(mailbox)) else {
            return out.no_code(tag, "CANNOT", "Invalid mailbox name");
        };
        // RFC 9051 §6.3.4: a trailing separator only says the name may have children.
        let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
        let result = self.config.store.create(&addr, &name, None);
        self.folder_result(tag, "CREATE", result, out);
    }

    /// CREATE with `(USE (…))` (RFC 6154 §3): one special use per mailbox here, and only the
    /// uses RFC 6154 defines (`NO [USEATTR]` otherwise, nothing created).
    pub(super) fn create_with_use(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        uses: &[String],
        out: &mut Out,
    ) {
        let (Some(addr), Some(name)) = (self.account().cloned(), self.mailbox_name(mailbox)) else {
            return out.no_code(tag, "CANNOT", "Invalid mailbox name");
        };
        let use_ = match uses {
            [] => None,
            [one] => match SpecialUse::parse(one) {
                Some(u) => Some(u),
                None => return out.no_code(tag, "USEATTR", &format!("Unknown special use {one}")),
            },
            _ => return out.no_code(tag, "USEATTR", "At most one special use per mailbox"),
        };
        let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
        let result = self.config.store.create(&addr, &name, use_);
        self.folder_result(tag, "CREATE", result, out);
    }

    pub(super) fn delete(&mut self, tag: &str, mailbox: &Mailbox<'_>, out: &mut Out) {
        let (Some(addr), Some(name)) = (self.account().cloned(), self.mailbox_name(mailbox)) else {
            return out.no_code(tag, "NONEXISTENT", "No such mailbox");
        };
        let result = self.config.store.delete(&addr, &name);
        self.folder_result(tag, "DELETE", result, out);
    }

    pub(super) fn rename(
        &mut self,
        tag: &str,
        from: &Mailbox<'_>,
        to: &Mailbox<'_>,
        out: &mut Out,
    ) {
        let (Some(addr), Some(from), Some(to)) = (
            self.account().cloned(),
            self.mailbox_name(from),
            self.mailbox_name(to),
        ) else {
            return out.no_code(tag, "CANNOT", "Invalid mailbox name");
        };
        let result = self.config.store.rename(&addr, &from, &to);
        self.folder_result(tag, "RENAME", result, out);
    }

    pub(super) fn subscribe(&mut self, tag: &str, mailbox: &Mailbox<'_>, on: bool, out: &mut Out) {
        let what = if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
        let (Some(addr), Some(name)) = (self.account().cloned(), self.mailbox_name(mailbox)) else {
            return out.no_code(tag, "CANNOT", "Invalid mailbox name");
        };
        // RFC 9051 §6.3.7: subscribing to a mailbox that does not exist is refused.
        if on && name != "INBOX" && self.config.store.mailbox(&addr, &name).is_err() {
            return out.no_code(tag, "NONEXISTENT", "No such mailbox");
        }
        match self.config.store.set_subscribed(&addr, &name, on) {
            Ok(()) => out.ok(tag, &format!("{what} completed")),
            Err(e) => {
                tracing::warn!("{what}: {e}");
                out.no_code(tag, "SERVERBUG", "The mail store failed");
            }
        }
    }

    /// LIST / LSUB in the RFC 3501 syntax.
    pub(super) fn list(
        &mut self,
        tag: &str,
        reference: &Mailbox<'_>,
        wildcard: &ListMailbox<'_>,
        lsub: bool,
        out: &mut Out,
    ) {
        let command = if lsub { "LSUB" } else { "LIST" };
        let reference = match reference {
            Mailbox::Inbox => Some("INBOX".to_owned()),
            Mailbox::Other(other) => self.wire_name(other.as_ref()),
        };
        let pattern = match wildcard {
            ListMailbox::Token(t) => self.wire_name(t.as_ref()),
            ListMailbox::String(s) => self.wire_name(s.as_ref()),
        };
        let (Some(reference), Some(pattern)) = (reference, pattern) else {
            return out.ok(tag, &format!("{command} completed"));
        };
        // An empty pattern asks for the separator and the root (RFC 9051 §6.3.9).
        if pattern.is_empty() && !lsub {
            out.untagged("LIST (\\Noselect) \".\" \"\"");
            return out.ok(tag, "LIST completed");
        }
        let request = ListRequest {
            select: ListSelect {
                subscribed: lsub,
                ..ListSelect::default()
            },
            returns: ListReturn {
                subscribed: self.rev2 && !lsub,
                ..ListReturn::default()
            },
            patterns: vec![format!("{reference}{pattern}")],
            lsub,
            extended: false,
        };
        self.list_mailboxes(tag, &request, out);
    }

    /// LIST in the RFC 5258 syntax (selection options, several patterns, RETURN).
    pub(super) fn list_extended(&mut self, list: &ListExtended, out: &mut Out) {
        let tag = list.tag.as_str();
        let Some(reference) = self.wire_name(&list.reference) else {
            return out.ok(tag, "LIST completed");
        };
        let patterns: Vec<String> = list
            .patterns
            .iter()
            .filter_map(|p| self.wire_name(p))
            .map(|p| format!("{reference}{p}"))
            .collect();
        let request = ListRequest {
            select: list.select,
            returns: list.returns.clone(),
            patterns,
            lsub: false,
            extended: true,
        };
        self.list_mailboxes(tag, &request, out);
    }

    /// The LIST engine (RFC 5258 §3): which names are selected, their attributes, CHILDINFO
    /// for RECURSIVEMATCH, and a STATUS after each selectable one when asked (RFC 5819).
    fn list_mailboxes(&mut self, tag: &str, request: &ListRequest, out: &mut Out) {
        let command = if request.lsub { "LSUB" } else { "LIST" };
        let Some(addr) = self.account().cloned() else {
            return;
        };
        let boxes = match self.config.store.mailboxes(&addr) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("{command}: {e}");
                return out.no_code(tag, "SERVERBUG", "The mail store failed");
            }
        };
        let subs = self.config.store.subscriptions(&addr).unwrap_or_default();
        let listing = Listing::new(&boxes, &subs);
        let extended = request.extended || self.rev2;
        let matches = |name: &str| request.patterns.iter().any(|p| wildcard_matches(p, name));
        // Does this name satisfy the selection options (the patterns aside)?
        let criteria = |name: &str| -> bool {
            let info = listing.info(name);
            if request.select.subscribed && !listing.subscribed(name) {
                return false;
            }
            if request.select.special_use && info.and_then(|i| i.special_use).is_none() {
                return false;
            }
            request.select.subscribed || info.is_some()
        };
        let childinfo_name = if request.select.subscribed {
            "SUBSCRIBED"
        } else {
            "SPECIAL-USE"
        };
        for name in &listing.names {
            if !matches(name) {
                continue;
            }
            let info = listing.info(name);
            let selected = criteria(name);
            // RFC 5258 §3.5: a parent whose descendants meet the selection but not the pattern.
            let childinfo = request.select.recursive_match
                && listing
                    .descendants(name)
                    .any(|d| criteria(d) && !matches(d));
            // RFC 3501 §6.3.8: a name that only exists as a level above real mailboxes is
            // listed (\Noselect) when the pattern matches it but not them.
            let implied = !request.select.subscribed
                && !request.select.special_use
                && info.is_none()
                && listing.descendants(name).any(|d| listing.info(d).is_some());
            if !(selected || childinfo || implied) {
                continue;
            }
            let has_children = listing.descendants(name).any(|d| listing.info(d).is_some());
            let mut attrs: Vec<&str> = Vec::new();
            if info.is_none() {
                attrs.push(if extended && !implied {
                    "\\NonExistent"
                } else {
                    "\\Noselect"
                });
            }
            if has_children {
                attrs.push("\\HasChildren");
            } else if info.is_some() {
                attrs.push("\\HasNoChildren");
            }
            if request.returns.subscribed && listing.subscribed(name) {
                attrs.push("\\Subscribed");
            }
            if let Some(use_) = info.and_then(|i| i.special_use) {
                attrs.push(use_.attribute());
            }
            let mut line = format!("{command} ({}) \".\" {}", attrs.join(" "), self.shown(name));
            if childinfo {
                line.push_str(&format!(" (\"CHILDINFO\" (\"{childinfo_name}\"))"));
            }
            out.untagged(&line);
            if let (Some(items), Some(_)) = (&request.returns.status, info) {
                // RFC 5819 §2: a mailbox whose status cannot be had is listed without it.
                if let Ok(status) = self.status_line(&addr, name, items, out) {
                    out.untagged(&status);
                }
            }
        }
        out.ok(tag, &format!("{command} completed"));
    }
}

/// The names a LIST looks at: every mailbox, every subscribed name, and the levels above them
/// (INBOX first, then in order).
struct Listing<'a> {
    names: Vec<String>,
    boxes: &'a [MailboxInfo],
    subs: &'a [String],
}

impl<'a> Listing<'a> {
    fn new(boxes: &'a [MailboxInfo], subs: &'a [String]) -> Self {
        let mut set = BTreeSet::new();
        for name in boxes
            .iter()
            .map(|b| b.name.as_str())
            .chain(subs.iter().map(String::as_str))
        {
            let mut at = 0;
            while let Some(dot) = name[at..].find('.') {
                set.insert(name[..at + dot].to_owned());
                at += dot + 1;
            }
            set.insert(name.to_owned());
        }
        let mut names: Vec<String> = Vec::with_capacity(set.len());
        if let Some(inbox) = set.take("INBOX") {
            names.push(inbox);
        }
        names.extend(set);
        Listing { names, boxes, subs }
    }

    fn info(&self, name: &str) -> Option<&'a MailboxInfo> {
        self.boxes.iter().find(|b| b.name == name)
    }

    fn subscribed(&self, name: &str) -> bool {
        self.subs
            .iter()
            .any(|s| s == name || (name == "INBOX" && s.eq_ignore_ascii_case("INBOX")))
    }

    fn descendants<'n>(&'n self, name: &'n str) -> impl Iterator<Item = &'n str> + 'n {
        self.names
            .iter()
            .filter(move |n| {
                n.len() > name.len() + 1 && n.starts_with(name) && n.as_bytes()[name.len()] == b'.'
            })
            .map(String::as_str)
    }
}

/// IMAP LIST matching: `*` matches anything, `%` anything but the separator `.`; INBOX
/// matches case-insensitively (RFC 9051 §6.3.9).
pub fn wildcard_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '.')
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let pattern = if name == "INBOX" {
        pattern.to_ascii_uppercase()
    } else {
        pattern.to_owned()
    };
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Patterns are short, but `*` backtracking is bounded anyway by the name's length.
    p.len() <= 256 && go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_matches("*", "Archive.2026"));
        assert!(wildcard_matches("%", "Archive"));
        assert!(!wildcard_matches("%", "Archive.2026"));
        assert!(wildcard_matches("Archive.%", "Archive.2026"));
        assert!(wildcard_matches("inbox", "INBOX"));
        assert!(wildcard_matches("In%", "INBOX"));
        assert!(!wildcard_matches("arch*", "Archive"));
        assert!(wildcard_matches("A*6", "Archive.2026"));
    }
}
